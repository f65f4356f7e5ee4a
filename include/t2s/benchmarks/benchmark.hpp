// benchmarks/benchmark: what rollouts and evaluations need from a benchmark: its tasks (what the
// agent is asked and the files its sandbox starts with) and a checker for what the agent produced
// (its final answer and the files it left in the sandbox).
//
// Adapters: wikitq (WikiTableQuestions, official layout), spreadsheetbench (dataset.json and its
// workbooks), generic (tasks JSONL: id, instruction, files, answer; exact / normalised / numeric
// matching or an external checker command). open_benchmark() picks one from a job's [benchmark].
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "t2s/agent/checker.hpp"
#include "t2s/agent/sandbox.hpp"

namespace t2s::benchmarks {

struct Task {
  std::string id;                  // unique within the benchmark
  std::string instruction;         // what the agent is asked, including how to give its answer
  agent::SandboxContents files;    // what the agent's sandbox starts with (never the gold)
  std::vector<std::string> files_listed;  // the names of those files, for the trajectory's task record
  nlohmann::json gold;             // the reference, as recorded with the trajectory (null: not given)
};

class Benchmark {
 public:
  virtual ~Benchmark() = default;
  // "wikitq", "spreadsheetbench", or the generic adapter's name (its `name` key, else the file stem).
  virtual std::string name() const = 0;
  // Every task, ordered by id; the same list on every call and every rank.
  virtual const std::vector<Task>& tasks() const = 0;
  // Judges an attempt: `answer` is the agent's final answer text (the last assistant message),
  // `sandbox` its working directory after the run (files it wrote are read from there through the
  // sandbox, never by a path the model chose). Const and thread-safe: many attempts are checked at
  // once. The feedback never quotes the gold answer. Error when the checker itself cannot run.
  virtual agent::Verdict check(const Task& task, const std::string& answer, const agent::Sandbox& sandbox) const = 0;
};

// How an agent gives its answer (every adapter's instruction ends with this): a last line
// "ANSWER: <answer>", several values separated by " | ".
inline constexpr const char* kAnswerInstruction =
    "When you are done, end your final message with one line of the form `ANSWER: <your answer>` "
    "(several values: `ANSWER: value 1 | value 2`).";

// The answer in an agent's final message: the text after the last "ANSWER:" (any case, to the end of
// that line), else the whole message; trimmed of whitespace and Markdown emphasis (`*_).
std::string final_answer(const std::string& message);

// From a job's [benchmark] table (`where` names it in errors):
//   kind      "wikitq" | "spreadsheetbench" | "generic" (required)
//   data      the dataset directory (wikitq, spreadsheetbench) or the tasks JSONL file (generic)
//   split     wikitq: the data/<split>.tsv file of the questions (default "pristine-unseen-tables")
//   limit     the first N tasks by id (0, the default: all)
//   name      generic: the benchmark's name (default: the file's stem)
//   checker   generic: an agent::CheckerConfig table without `gold` (default kind "normalised")
// InputError naming the key or the file for anything unusable.
std::unique_ptr<Benchmark> open_benchmark(const nlohmann::json& config, const std::string& where = "benchmark");

}  // namespace t2s::benchmarks
