#include <iomanip>

#include "commands.hpp"
#include "t2s/benchmarks/wikitq.hpp"
#include "t2s/core/error.hpp"

namespace t2s::cli {

namespace {

struct ScoreArgs {
  std::string benchmark, data, predictions;
  bool json = false;
};

// One line per prediction (id, verdict, answers), then the totals; --json gives the same as one
// document. Ids the dataset does not have are reported and left out of the accuracy, as the
// official evaluator does.
void run_score(const ScoreArgs& args, Context& context) {
  if (!context.comm.is_main()) return;
  if (args.benchmark != "wikitq")
    throw InputError("score: unknown benchmark \"" + args.benchmark + "\" (known: wikitq)");
  const auto questions = benchmarks::wikitq::read_questions(args.data);
  const auto score = benchmarks::wikitq::score_predictions(questions, args.predictions);
  std::ostream& out = context.out();
  if (args.json) {
    nlohmann::json verdicts = nlohmann::json::array();
    for (const auto& v : score.verdicts)
      verdicts.push_back({{"id", v.id}, {"known", v.known}, {"correct", v.correct}, {"predicted", v.predicted}});
    out << nlohmann::json{{"benchmark", "wikitq"}, {"questions", questions.size()}, {"examples", score.examples},
                          {"correct", score.correct}, {"unknown", score.unknown}, {"accuracy", score.accuracy()},
                          {"verdicts", verdicts}}
               .dump(1)
        << "\n";
    return;
  }
  for (const auto& v : score.verdicts) {
    out << v.id << '\t' << (!v.known ? "unknown-id" : v.correct ? "correct" : "wrong");
    for (const auto& answer : v.predicted) out << '\t' << answer;
    out << '\n';
  }
  out << "examples: " << score.examples << ", correct: " << score.correct << ", accuracy: " << std::fixed
      << std::setprecision(4) << score.accuracy() << " (" << questions.size() << " questions in " << args.data << ")\n";
  if (score.unknown > 0) out << "unknown ids (not scored): " << score.unknown << "\n";
}

}  // namespace

void add_score_command(CLI::App& app, Context& context) {
  auto args = std::make_shared<ScoreArgs>();
  auto* command = app.add_subcommand("score", "Score a predictions file with a benchmark's checker.");
  command->add_option("benchmark", args->benchmark, "The benchmark: wikitq")->required();
  command->add_option("data", args->data, "The dataset directory (wikitq: the official layout, data/ and tagged/data/)")
      ->required()
      ->check(CLI::ExistingDirectory);
  command->add_option("predictions", args->predictions, "The predictions (wikitq: id TAB answer TAB answer…)")
      ->required()
      ->check(CLI::ExistingFile);
  command->add_flag("--json", args->json, "One JSON document: totals and per-question verdicts");
  command->callback([args, &context] { run_score(*args, context); });
}

}  // namespace t2s::cli
