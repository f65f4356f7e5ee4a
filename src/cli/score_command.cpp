#include <iomanip>

#include "commands.hpp"
#include "t2s/benchmarks/spreadsheetbench.hpp"
#include "t2s/benchmarks/wikitq.hpp"
#include "t2s/core/error.hpp"

namespace t2s::cli {

namespace {

namespace fs = std::filesystem;

struct ScoreArgs {
  std::string benchmark, data, predictions;
  bool json = false;
};

// One line per prediction (id, verdict, answers), then the totals; --json gives the same as one
// document. Ids the dataset does not have are reported and left out of the accuracy, as the
// official evaluator does.
void score_wikitq(const ScoreArgs& args, std::ostream& out) {
  if (!fs::is_regular_file(args.predictions)) throw InputError("score wikitq: " + args.predictions + ": not a file of predictions");
  const auto questions = benchmarks::wikitq::read_questions(args.data);
  const auto score = benchmarks::wikitq::score_predictions(questions, args.predictions);
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

// One line per task (id, hard / soft / failed / missing, cases passed) with the reason of each failed
// case below it, then the averages over every task of the dataset; --json gives the same as one
// document. Tasks without any output count as failures.
void score_spreadsheetbench(const ScoreArgs& args, std::ostream& out) {
  namespace sb = benchmarks::spreadsheetbench;
  if (!fs::is_directory(args.predictions))
    throw InputError("score spreadsheetbench: " + args.predictions + ": not a directory of <case>_<id>_output.xlsx files");
  const auto entries = sb::read_dataset(args.data);
  const sb::Score score = sb::score_outputs(entries, args.predictions);
  const auto status = [](const sb::TaskVerdict& v) { return v.missing() ? "missing" : v.hard() ? "passed" : v.passed() > 0 ? "partial" : "failed"; };
  if (args.json) {
    nlohmann::json tasks = nlohmann::json::array();
    for (const auto& v : score.tasks) {
      nlohmann::json cases = nlohmann::json::array();
      for (const auto& c : v.cases)
        cases.push_back({{"case", c.number}, {"output", c.output_name}, {"passed", c.passed}, {"missing", c.missing}, {"reason", c.reason}});
      tasks.push_back({{"id", v.id}, {"status", status(v)}, {"soft", v.soft()}, {"hard", v.hard() ? 1 : 0}, {"cases", cases}});
    }
    out << nlohmann::json{{"benchmark", "spreadsheetbench"}, {"tasks", score.tasks.size()}, {"missing", score.missing},
                          {"soft", score.soft}, {"hard", score.hard}, {"verdicts", tasks}}
               .dump(1)
        << "\n";
    return;
  }
  for (const auto& v : score.tasks) {
    out << v.id << '\t' << status(v) << '\t' << v.passed() << '/' << v.cases.size() << '\n';
    if (v.hard() || v.missing()) continue;
    for (const auto& c : v.cases)
      if (!c.passed) out << "  case " << c.number << ": " << c.reason << '\n';
  }
  out << "tasks: " << score.tasks.size() << ", soft: " << std::fixed << std::setprecision(4) << score.soft
      << ", hard: " << score.hard << ", missing: " << score.missing << " (" << args.data << ")\n";
}

void run_score(const ScoreArgs& args, Context& context) {
  if (!context.comm.is_main()) return;
  if (args.benchmark == "wikitq") score_wikitq(args, context.out());
  else if (args.benchmark == "spreadsheetbench") score_spreadsheetbench(args, context.out());
  else throw InputError("score: unknown benchmark \"" + args.benchmark + "\" (known: spreadsheetbench, wikitq)");
}

}  // namespace

void add_score_command(CLI::App& app, Context& context) {
  auto args = std::make_shared<ScoreArgs>();
  auto* command = app.add_subcommand("score", "Score predictions or output files with a benchmark's checker.");
  command->add_option("benchmark", args->benchmark, "The benchmark: wikitq, spreadsheetbench")->required();
  command->add_option("data", args->data,
                      "The dataset directory (wikitq: the official layout, data/ and tagged/data/; spreadsheetbench: "
                      "dataset.json and spreadsheet/)")
      ->required()
      ->check(CLI::ExistingDirectory);
  command->add_option("predictions", args->predictions,
                      "wikitq: the predictions file (id TAB answer TAB answer…); spreadsheetbench: the directory of "
                      "<case>_<id>_output.xlsx files")
      ->required()
      ->check(CLI::ExistingPath);
  command->add_flag("--json", args->json, "One JSON document: totals and per-question (per-task) verdicts");
  command->callback([args, &context] { run_score(*args, context); });
}

}  // namespace t2s::cli
