#include <iomanip>

#include "commands.hpp"
#include <fstream>
#include <set>

#include "t2s/benchmarks/generic.hpp"
#include "t2s/benchmarks/spreadsheetbench.hpp"
#include "t2s/benchmarks/wikitq.hpp"
#include "t2s/core/error.hpp"

namespace t2s::cli {

namespace {

namespace fs = std::filesystem;

struct ScoreArgs {
  std::string benchmark, data, predictions, match;
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

// Predictions JSONL ({"id", "answer"} per line) against a tasks JSONL, with the generic adapter's
// checker. Every line is accounted for: scored, unknown id, or invalid (with the reason); tasks
// without a prediction are counted as missing.
void score_generic(const ScoreArgs& args, std::ostream& out) {
  if (!fs::is_regular_file(args.data)) throw InputError("score generic: " + args.data + ": not a tasks JSONL file");
  nlohmann::json options = nlohmann::json::object();
  if (!args.match.empty()) options["checker"] = {{"kind", args.match}};
  const auto benchmark = benchmarks::generic::open(args.data, options, "score generic");
  std::map<std::string, const benchmarks::Task*> tasks;
  for (const auto& task : benchmark->tasks()) tasks[task.id] = &task;
  const agent::Sandbox scratch(fs::temp_directory_path() / "t2s-score", {}, {});  // answers only: nothing runs here
  std::ifstream in(args.predictions, std::ios::binary);
  if (!in) throw InputError("score generic: " + args.predictions + ": cannot be read");
  nlohmann::json verdicts = nlohmann::json::array();
  std::size_t examples = 0, correct = 0, unknown = 0, invalid = 0;
  double score_sum = 0;
  std::set<std::string> seen;
  std::string line;
  for (std::size_t number = 1; std::getline(in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const auto record = nlohmann::json::parse(line, nullptr, false);
    if (record.is_discarded() || !record.is_object() || !record.contains("id") || !record.contains("answer")) {
      ++invalid;
      verdicts.push_back({{"line", number}, {"invalid", "not a JSON object with \"id\" and \"answer\""}});
      continue;
    }
    const std::string id = record["id"].is_string() ? record["id"].get<std::string>() : record["id"].dump();
    const auto it = tasks.find(id);
    if (it == tasks.end() || !seen.insert(id).second) {
      ++(it == tasks.end() ? unknown : invalid);
      verdicts.push_back({{"line", number}, {"id", id}, {it == tasks.end() ? "unknown" : "invalid", it == tasks.end() ? "not a task id" : "a second prediction for this id"}});
      continue;
    }
    std::string answer;
    if (record["answer"].is_string()) answer = record["answer"].get<std::string>();
    else if (record["answer"].is_array())
      for (const auto& value : record["answer"]) answer += (answer.empty() ? "" : " | ") + (value.is_string() ? value.get<std::string>() : value.dump());
    else answer = record["answer"].dump();
    const agent::Verdict verdict = benchmark->check(*it->second, answer, scratch);
    ++examples;
    correct += verdict.passed;
    score_sum += verdict.score;
    verdicts.push_back({{"line", number}, {"id", id}, {"correct", verdict.passed}, {"score", verdict.score}, {"feedback", verdict.feedback}});
  }
  const std::size_t missing = tasks.size() - seen.size();
  const double accuracy = tasks.empty() ? 0.0 : static_cast<double>(correct) / static_cast<double>(tasks.size());
  if (args.json) {
    out << nlohmann::json{{"benchmark", benchmark->name()}, {"tasks", tasks.size()}, {"examples", examples}, {"correct", correct},
                          {"missing", missing}, {"unknown", unknown}, {"invalid", invalid}, {"accuracy", accuracy},
                          {"mean_score", tasks.empty() ? 0.0 : score_sum / static_cast<double>(tasks.size())}, {"verdicts", verdicts}}
               .dump(1)
        << "\n";
    return;
  }
  for (const auto& v : verdicts) {
    if (v.contains("correct")) out << v["id"].get<std::string>() << '\t' << (v["correct"].get<bool>() ? "correct" : "wrong") << '\t' << v["feedback"].get<std::string>() << '\n';
    else out << args.predictions << ":" << v["line"].get<std::size_t>() << '\t' << (v.contains("unknown") ? "unknown id" : "invalid") << '\t' << (v.contains("unknown") ? v["unknown"] : v["invalid"]).get<std::string>() << '\n';
  }
  out << "tasks: " << tasks.size() << ", correct: " << correct << ", accuracy: " << std::fixed << std::setprecision(4) << accuracy
      << " (missing predictions count as wrong: " << missing << "; unknown ids: " << unknown << "; invalid lines: " << invalid << ")\n";
}

void run_score(const ScoreArgs& args, Context& context) {
  if (!context.comm.is_main()) return;
  if (args.benchmark != "generic" && !args.match.empty()) throw InputError("score: --match is for the generic benchmark only");
  if (args.benchmark == "wikitq") score_wikitq(args, context.out());
  else if (args.benchmark == "spreadsheetbench") score_spreadsheetbench(args, context.out());
  else if (args.benchmark == "generic") score_generic(args, context.out());
  else throw InputError("score: unknown benchmark \"" + args.benchmark + "\" (known: generic, spreadsheetbench, wikitq)");

}

}  // namespace

void add_score_command(CLI::App& app, Context& context) {
  auto args = std::make_shared<ScoreArgs>();
  auto* command = app.add_subcommand("score", "Score predictions or output files with a benchmark's checker.");
  command->add_option("benchmark", args->benchmark, "The benchmark: wikitq, spreadsheetbench, generic")->required();
  command->add_option("data", args->data,
                      "The dataset directory (wikitq: the official layout, data/ and tagged/data/; spreadsheetbench: "
                      "dataset.json and spreadsheet/; generic: the tasks JSONL file)")
      ->required()
      ->check(CLI::ExistingPath);
  command->add_option("predictions", args->predictions,
                      "wikitq: the predictions file (id TAB answer TAB answer…); spreadsheetbench: the directory of "
                      "<case>_<id>_output.xlsx files; generic: a JSONL file of {\"id\", \"answer\"}")
      ->required()
      ->check(CLI::ExistingPath);
  command->add_option("--match", args->match, "generic: exact, normalised (the default) or numeric");
  command->add_flag("--json", args->json, "One JSON document: totals and per-question (per-task) verdicts");
  command->callback([args, &context] { run_score(*args, context); });
}

}  // namespace t2s::cli
