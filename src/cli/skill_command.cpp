// `t2s skill validate | apply | diff`: the skill engine on the command line. Serial: rank 0 works.
// Exit status: validate 0 valid (budget overruns are warnings) / 1 not valid; apply 0 written / 1 not
// applied (the input is never modified, nothing is written); diff 0; all of them 2 for bad usage or
// unreadable input.
#include "commands.hpp"
#include "t2s/core/error.hpp"
#include "t2s/skill/apply.hpp"
#include "t2s/skill/diff.hpp"
#include "t2s/skill/validate.hpp"

namespace t2s::cli {

namespace {

// "1 problem", "3 problems".
std::string count(std::size_t n, const std::string& noun) { return std::to_string(n) + " " + noun + (n == 1 ? "" : "s"); }

std::string json_text(const nlohmann::json& value) {
  return value.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";  // file names need not be UTF-8
}

struct ValidateArgs {
  std::string dir;
  bool json = false;
};

void run_validate(const ValidateArgs& args, Context& context) {
  if (!context.comm.is_main()) return;
  const auto dir = skill::without_trailing_separators(args.dir).string();  // "skills/pdf/" prints as "skills/pdf"
  const auto skill = skill::load_skill_dir(dir);
  const auto result = skill::check_skill(skill, skill::directory_name(dir));
  const auto& errors = result.errors;
  const auto& warnings = result.warnings;
  if (args.json) {
    context.out() << json_text({{"dir", dir},
                                {"valid", result.valid()},
                                {"errors", skill::problems_json(errors)},
                                {"warnings", skill::problems_json(warnings)}});
  } else {
    context.out() << skill::format_problems(errors, dir) << skill::format_problems(warnings, dir);
    if (result.valid())
      context.out() << dir << ": valid"
                    << (warnings.empty() ? "" : " (" + count(warnings.size(), "warning") +
                                                    ": sizes the specification recommends, not requires)")
                    << "\n";
  }
  if (!result.valid())
    throw Error(dir + ": not a valid skill (" + count(errors.size(), "error") +
                (warnings.empty() ? "" : ", " + count(warnings.size(), "warning")) + ")");
}

struct ApplyArgs {
  std::string dir, patch, output, overflow = "refuse";
  bool partial = false, json = false;
};

void run_apply(const ApplyArgs& args, Context& context) {
  if (!context.comm.is_main()) return;
  const auto patch = skill::load_patch(args.patch);
  skill::ApplyOptions options;
  options.partial = args.partial;
  options.budgets.overflow = args.overflow == "move" ? skill::OverflowPolicy::move_to_references : skill::OverflowPolicy::refuse;
  const auto result = skill::apply_patch_to_directory(args.dir, patch, args.output, options);
  context.out() << (args.json ? json_text(skill::apply_result_json(result, patch)) : skill::format_apply_result(result, patch));
  const auto total = patch.edits.size();
  if (result.ok) {
    if (!args.json)
      context.out() << "wrote " << args.output << ": " << result.applied() << " of " << total << " edits applied\n";
    return;
  }
  if (result.failed() > 0 && !args.partial)
    throw Error(args.patch + ": not applied (" + std::to_string(result.failed()) + " of " + std::to_string(total) +
                " edits failed); " + args.output + " was not written");
  throw Error(args.patch + ": the result is not a valid skill (" + count(result.problems.size(), "problem") + "); " +
              args.output + " was not written");
}

struct DiffArgs {
  std::string a, b;
  bool no_provenance = false;
};

void run_diff(const DiffArgs& args, Context& context) {
  if (!context.comm.is_main()) return;
  skill::DiffOptions options;
  options.provenance = !args.no_provenance;
  context.out() << skill::diff_skills(skill::load_skill_dir(args.a), skill::load_skill_dir(args.b), options);
}

}  // namespace

void add_skill_command(CLI::App& app, Context& context) {
  auto* skill = app.add_subcommand("skill", "Validate, patch and compare skill directories.");
  skill->require_subcommand(1);

  auto validate_args = std::make_shared<ValidateArgs>();
  auto* validate = skill->add_subcommand(
      "validate", "Check a skill directory against the Agent Skills specification (exit status 0 valid, 1 not "
                  "valid); files over the budgets (the sizes the specification recommends) are warnings.");
  validate->add_option("dir", validate_args->dir, "The skill directory")->required()->check(CLI::ExistingDirectory);
  validate->add_flag("--json", validate_args->json, "Print the errors and warnings as JSON");
  validate->callback([validate_args, &context] { run_validate(*validate_args, context); });

  auto apply_args = std::make_shared<ApplyArgs>();
  auto* apply = skill->add_subcommand(
      "apply", "Apply a patch (JSON) to a skill and write the result to a new directory, atomically; "
               "the input is never modified.");
  apply->add_option("dir", apply_args->dir, "The skill directory")->required()->check(CLI::ExistingDirectory);
  apply->add_option("patch", apply_args->patch, "The patch (JSON)")->required()->check(CLI::ExistingFile);
  apply->add_option("-o,--output", apply_args->output,
                    "The directory to write, named like the skill; if it exists, it must be empty or an "
                    "unchanged earlier output of this command, which is replaced")
      ->required();
  apply->add_flag("--partial", apply_args->partial, "Skip the edits that fail and apply the rest");
  apply->add_option("--overflow", apply_args->overflow,
                    "When SKILL.md exceeds its budget: refuse (default) or move the least supported "
                    "sections to references/")
      ->check(CLI::IsMember({"refuse", "move"}));
  apply->add_flag("--json", apply_args->json, "Print the result as JSON");
  apply->callback([apply_args, &context] { run_apply(*apply_args, context); });

  auto diff_args = std::make_shared<DiffArgs>();
  auto* diff = skill->add_subcommand(
      "diff", "Show what changed between two skill directories (unified diff), with the provenance of "
              "each changed block.");
  diff->add_option("a", diff_args->a, "The old skill directory")->required()->check(CLI::ExistingDirectory);
  diff->add_option("b", diff_args->b, "The new skill directory")->required()->check(CLI::ExistingDirectory);
  diff->add_flag("--no-provenance", diff_args->no_provenance, "A plain unified diff");
  diff->callback([diff_args, &context] { run_diff(*diff_args, context); });
}

}  // namespace t2s::cli
