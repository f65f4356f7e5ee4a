#include "commands.hpp"
#include "t2s/core/error.hpp"
#include "t2s/synth/synth.hpp"

namespace t2s::cli {

namespace {

struct SynthArgs {
  std::string output;
  synth::Options options;
  std::vector<std::string> rates;  // "pattern=rate"
  bool json = false;
};

void run_synth(SynthArgs args, Context& context) {
  if (!context.comm.is_main()) return;
  for (const auto& entry : args.rates) {
    const auto equals = entry.find('=');
    if (equals == std::string::npos) throw InputError("--rate " + entry + ": expected PATTERN=RATE");
    try {
      args.options.rates[entry.substr(0, equals)] = std::stod(entry.substr(equals + 1));
    } catch (const std::exception&) {
      throw InputError("--rate " + entry + ": the rate is not a number");
    }
  }
  const auto truth = synth::write_corpus(args.options, args.output);
  if (args.json) {
    context.out() << truth.dump(2) << "\n";
    return;
  }
  auto& out = context.out();
  out << "wrote " << args.output << "/trajectories.jsonl: " << truth["trajectories"] << " synthetic trajectories ("
      << truth["successes"] << " success, " << truth["failures"] << " failure), seed " << args.options.seed << "\n"
      << "planted truth in " << args.output << "/truth.json and truth.jsonl:\n";
  for (const auto& pattern : truth["patterns"]) {
    out << "  " << pattern["kind"].get<std::string>() << "  " << pattern["id"].get<std::string>() << ": "
        << pattern["count"] << " trajectories";
    if (pattern.contains("condition"))
      out << " (of " << pattern["updaters"] << " that call " << pattern["condition"].get<std::string>() << ")";
    out << "\n";
  }
}

}  // namespace

void add_synth_command(CLI::App& app, Context& context) {
  auto args = std::make_shared<SynthArgs>();
  auto* command = app.add_subcommand(
      "synth", "Make a synthetic corpus with planted, known failure modes and winning habits.");
  command->add_option("-o,--output", args->output, "Directory to write the corpus into")->required();
  command->add_option("--trajectories", args->options.trajectories, "How many trajectories")->capture_default_str();
  command->add_option("--attempts", args->options.attempts, "Attempts per task")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  command->add_option("--seed", args->options.seed, "Random seed (same seed, same corpus)")->capture_default_str();
  command->add_option("--noise", args->options.noise, "Chance of an unrelated, recovered-from error")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  command->add_option("--updaters", args->options.updaters,
                      "Share of tasks that ask for a totals row, written with the update_cells tool (the runs the "
                      "conditional habit lookup-before-update is about)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  command->add_option("--rate", args->rates,
                      "PATTERN=RATE: how often to plant a pattern (repeatable); for a conditional habit, the share of "
                      "the runs its condition applies to");
  command->add_flag("--json", args->json, "Print the planted truth as JSON");
  command->callback([args, &context] { run_synth(*args, context); });
}

}  // namespace t2s::cli
