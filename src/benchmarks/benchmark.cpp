#include "t2s/benchmarks/benchmark.hpp"

#include <algorithm>
#include <cctype>

#include "t2s/benchmarks/generic.hpp"
#include "t2s/benchmarks/spreadsheetbench.hpp"
#include "t2s/benchmarks/wikitq.hpp"
#include "t2s/core/error.hpp"

namespace t2s::benchmarks {

using nlohmann::json;

std::string final_answer(const std::string& message) {
  // The last "ANSWER:" in any case, also as Markdown ("**Answer:** 42"); else the whole message.
  std::string lower = message;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string answer = message;
  if (const auto at = lower.rfind("answer:"); at != std::string::npos) {
    answer = message.substr(at + 7);
    answer = answer.substr(0, answer.find('\n'));
  }
  constexpr const char* kDecoration = " \t\r\n`*_";
  const auto first = answer.find_first_not_of(kDecoration);
  if (first == std::string::npos) return "";
  const auto last = answer.find_last_not_of(kDecoration);
  return answer.substr(first, last - first + 1);
}

namespace {

// The first `limit` tasks of another benchmark (a smoke run, a quick evaluation).
class FirstTasks final : public Benchmark {
 public:
  FirstTasks(std::unique_ptr<Benchmark> all, std::size_t limit) : all_(std::move(all)) {
    const auto& tasks = all_->tasks();
    tasks_.assign(tasks.begin(), tasks.begin() + static_cast<std::ptrdiff_t>(std::min(limit, tasks.size())));
  }
  std::string name() const override { return all_->name(); }
  const std::vector<Task>& tasks() const override { return tasks_; }
  agent::Verdict check(const Task& task, const std::string& answer, const agent::Sandbox& sandbox) const override {
    return all_->check(task, answer, sandbox);
  }

 private:
  std::unique_ptr<Benchmark> all_;
  std::vector<Task> tasks_;
};

}  // namespace

std::unique_ptr<Benchmark> open_benchmark(const json& config, const std::string& where) {
  if (!config.is_object()) throw InputError(where + ": missing (a [benchmark] table with kind and data)");
  const auto text = [&](const char* key, const std::string& fallback) {
    if (!config.contains(key)) return fallback;
    if (!config.at(key).is_string()) throw InputError(where + "." + key + ": must be a string");
    return config.at(key).get<std::string>();
  };
  const std::string kind = text("kind", "");
  const std::filesystem::path data = text("data", "");
  if (kind.empty()) throw InputError(where + ".kind: missing (wikitq, spreadsheetbench or generic)");
  if (data.empty()) throw InputError(where + ".data: missing (the dataset directory, or the tasks JSONL file)");
  std::size_t limit = 0;
  if (config.contains("limit")) {
    if (!config.at("limit").is_number_integer() || config.at("limit").get<std::int64_t>() < 0)
      throw InputError(where + ".limit: must be a whole number, 0 or more");
    limit = config.at("limit").get<std::size_t>();
  }
  json rest = config;
  for (const char* key : {"kind", "data", "limit"}) rest.erase(key);

  std::unique_ptr<Benchmark> benchmark;
  if (kind == "wikitq") {
    const std::string split = text("split", "pristine-unseen-tables");
    rest.erase("split");
    if (!rest.empty()) throw InputError(where + "." + rest.begin().key() + ": unknown key for wikitq (data, split, limit)");
    benchmark = wikitq::open(data, split);
  } else if (kind == "spreadsheetbench") {
    benchmark = spreadsheetbench::open(data, rest, where);
  } else if (kind == "generic") {
    benchmark = generic::open(data, rest, where);
  } else {
    throw InputError(where + ".kind: unknown benchmark \"" + kind + "\" (wikitq, spreadsheetbench or generic)");
  }
  if (benchmark->tasks().empty()) throw InputError(where + ": " + data.string() + " holds no tasks");
  if (limit > 0 && limit < benchmark->tasks().size()) return std::make_unique<FirstTasks>(std::move(benchmark), limit);
  return benchmark;
}

}  // namespace t2s::benchmarks
