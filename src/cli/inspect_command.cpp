#include <filesystem>
#include <map>

#include "commands.hpp"
#include "t2s/core/error.hpp"
#include "t2s/core/text.hpp"
#include "t2s/skill/budget.hpp"
#include "t2s/skill/paths.hpp"
#include "t2s/skill/provenance.hpp"
#include "t2s/skill/skill_dir.hpp"
#include "t2s/skill/validate.hpp"
#include "t2s/store/ingest.hpp"
#include "t2s/store/run_archive.hpp"
#include "t2s/store/summary.hpp"

namespace t2s::cli {

namespace {

struct InspectArgs {
  std::string file;
  bool json = false;
};

using nlohmann::json;

// A skill directory: its files with their sizes, whether it validates, and the provenance of every
// block the system wrote (support, prevalence, merge path, model and prompt hashes).
void inspect_skill(const InspectArgs& args, Context& context) {
  if (!context.comm.is_main()) return;
  const auto where = skill::without_trailing_separators(args.file).string();  // "skills/pdf/" prints as "skills/pdf"
  const skill::SkillDir dir = skill::load_skill_dir(where);
  const std::string name = skill::directory_name(where);
  const auto problems = skill::validate_skill(dir, name);
  const auto provenance = skill::read_provenance(dir);
  json report = {{"skill", name}, {"valid", problems.empty()}, {"problems", skill::problems_json(problems)}};
  report["files"] = json::array();
  for (const auto& [path, file] : dir.files) {
    const auto usage = skill::measure(file.bytes);
    // Protected before editable: a licence in references/ is never edited.
    const std::string role = skill::is_sidecar(path)      ? "sidecar"
                             : skill::is_protected(path)  ? "protected"
                             : skill::is_editable(path)   ? "editable"
                                                          : "carried";
    std::size_t blocks = 0;
    for (const auto& block : provenance.blocks) blocks += block.file == path;
    report["files"].push_back({{"path", path}, {"role", role}, {"lines", usage.lines}, {"bytes", usage.bytes},
                               {"tokens", usage.tokens}, {"blocks", blocks}});
  }
  report["provenance"] = json::array();
  for (const auto& block : provenance.blocks) report["provenance"].push_back(skill::block_json(block));
  if (args.json) {
    context.out() << report.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
    return;
  }
  auto& out = context.out();
  out << "skill " << name << ": " << (problems.empty() ? "valid" : std::to_string(problems.size()) + " problem(s)") << "\n";
  if (!problems.empty()) out << skill::format_problems(problems, where);
  out << "files:\n";
  for (const auto& f : report["files"])
    out << "  " << f["path"].get<std::string>() << "  " << f["role"].get<std::string>() << ", " << f["lines"] << " lines, "
        << format_bytes(f["bytes"].get<std::uint64_t>()) << ", ~" << f["tokens"] << " tokens"
        << (f["blocks"].get<std::size_t>() > 0 ? ", " + std::to_string(f["blocks"].get<std::size_t>()) + " block(s) with provenance" : "")
        << "\n";
  if (provenance.blocks.empty()) {
    out << "provenance: none (no block of this skill was written by trace2skill)\n";
    return;
  }
  out << "provenance (" << provenance.blocks.size() << " blocks):\n";
  for (const auto& block : provenance.blocks) out << "  " << skill::describe(block) << "\n";
}

// A lesson's support set as ids: archives since format 3 hold positions into /trajectories/id.
json support_ids(const std::string& support, const std::vector<std::string>& ids_in_order) {
  json members = json::parse(support);
  for (auto& member : members)
    if (member.is_number_unsigned()) {
      const auto position = member.get<std::uint64_t>();
      if (position >= ids_in_order.size()) throw InputError("/lessons: support names position " + std::to_string(position) +
                                                             " beyond /trajectories/id");
      member = ids_in_order[position];
    }
  return members;
}

// A run archive: what the run was, the lessons of its skill with their prevalence and sources, the
// merge tree and the analyses.
void inspect_run(const InspectArgs& args, Context& context) {
  if (!context.comm.is_main()) return;
  const auto archive = store::read_run_archive(args.file, true);
  std::map<std::string, std::size_t> statuses;
  for (const auto& a : archive.analysis) ++statuses[a.status];
  std::size_t levels = 0, fallbacks = 0;
  std::int64_t tokens = 0;
  for (const auto& node : archive.merge) {
    levels = std::max<std::size_t>(levels, static_cast<std::size_t>(node.level));
    fallbacks += node.status == "fallback";
  }
  for (const auto& a : archive.analysis) tokens += a.tokens;
  json lessons = json::array();
  for (const auto& l : archive.lessons)
    lessons.push_back({{"id", l.id}, {"kind", l.kind}, {"key", l.key}, {"placement", l.placement}, {"support_count", l.support_count},
                       {"population", l.population}, {"text", l.text}, {"support", support_ids(l.support, archive.trajectory_ids)},
                       {"merge_path", json::parse(l.merge_path)}});
  json report = {{"run", args.file}, {"provenance", archive.provenance}, {"analysis", statuses},
                 {"merge", {{"levels", levels}, {"nodes", archive.merge.size()}, {"fallbacks", fallbacks}}},
                 {"analysis_tokens", tokens},
                 {"skill", {{"name", archive.skill_name}, {"valid", archive.skill_valid}, {"files", archive.skill_files.size()}}},
                 {"lessons", lessons}, {"metrics", archive.metrics}};
  if (args.json) {
    context.out() << report.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
    return;
  }
  auto& out = context.out();
  const auto text = [&](const char* key) {
    return archive.provenance.contains(key) ? archive.provenance[key].dump() : std::string("?");
  };
  out << "run " << args.file << ": " << archive.analysis.size() << " trajectories analysed on " << text("ranks")
      << " rank(s), started " << text("started") << ", t2s " << text("version") << " (git " << text("git_revision") << ")\n";
  const auto value = [&](const char* key) {
    return archive.provenance.contains(key) ? archive.provenance[key].get<std::string>() : std::string();
  };
  out << "analyses";
  if (!value("analyst").empty()) out << " (" << value("analyst") << (value("model").empty() ? "" : ", model " + value("model")) << ")";
  out << ":";
  for (const auto& [status, count] : statuses) out << " " << count << " " << status;
  if (tokens > 0) out << "; " << tokens << " tokens";
  out << "\nmerge tree: " << archive.merge.size() << " node(s) on " << levels << " level(s)";
  if (!value("merge").empty()) out << ", " << value("merge") << " merge";
  if (fallbacks > 0) out << " (" << fallbacks << " fell back to the deterministic merge)";
  out << "\n";
  out << "skill " << archive.skill_name << ": " << (archive.skill_valid ? "valid" : "NOT valid") << ", "
      << archive.skill_files.size() << " file(s)\n";
  out << "lessons (" << archive.lessons.size() << "), by support:\n";
  for (const auto& l : lessons) {
    const auto support = l["support"];
    const double share = l["population"].get<double>() > 0 ? 100.0 * l["support_count"].get<double>() / l["population"].get<double>() : 0.0;
    char percent[16];
    std::snprintf(percent, sizeof percent, "%.1f%%", share);
    out << "  " << l["id"].get<std::string>() << "  " << l["support_count"] << "/" << l["population"] << " (" << percent
        << ") -> " << l["placement"].get<std::string>() << "\n    " << l["text"].get<std::string>() << "\n    sources:";
    for (std::size_t i = 0; i < support.size() && i < 3; ++i) out << " " << support[i].get<std::string>().substr(0, 12);
    if (support.size() > 3) out << " … and " << support.size() - 3 << " more";
    out << "\n";
  }
}

// Every rank summarises its contiguous shard of the id order; the summaries are folded on rank 0
// in rank order. Counts merge exactly, so the report is the same at any rank count.
void run_inspect(const InspectArgs& args, Context& context) {
  if (std::filesystem::is_directory(args.file)) return inspect_skill(args, context);
  if (store::is_run_archive(args.file)) return inspect_run(args, context);
  const store::TrajectoryStore trajectory_store(args.file);
  const auto [first, count] = mpi::shard_range(trajectory_store.size(), context.comm.rank(), context.comm.size());
  const auto mine = store::summarize(trajectory_store, first, count);
  const auto total = context.comm.fold(mine, [](store::StoreSummary& into, const store::StoreSummary& other) {
    into.merge(other);
  });
  if (!total) return;
  auto report = store::report(*total, trajectory_store);
  // What the labels lack for evolve's analysts, the same lines `t2s ingest` warned with.
  const auto labels = store::label_warnings(args.file, total->successes, total->failures, total->unlabelled);
  report["label_warnings"] = labels;
  if (args.json) {
    context.out() << report.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return;
  }
  context.out() << store::format_report(report);
  for (const auto& warning : labels) context.out() << "warning: " << warning << "\n";
}

}  // namespace

void add_inspect_command(CLI::App& app, Context& context) {
  auto args = std::make_shared<InspectArgs>();
  auto* command = app.add_subcommand(
      "inspect", "Summarise a trajectory store (sharded under MPI), a run archive (run.h5: lessons, prevalence, sources), or a skill directory and its provenance.");
  command->add_option("path", args->file, "A trajectory store written by `t2s ingest`, a run.h5 written by `t2s evolve`, or a skill directory")
      ->required()
      ->check(CLI::ExistingPath);
  command->add_flag("--json", args->json, "Print the summary as JSON");
  command->callback([args, &context] { run_inspect(*args, context); });
}

}  // namespace t2s::cli
