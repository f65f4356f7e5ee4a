#include "t2s/benchmarks/generic.hpp"

#include <algorithm>
#include <fstream>
#include <set>

#include "t2s/core/error.hpp"

namespace t2s::benchmarks::generic {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string shell_quote(const std::string& text) {
  std::string quoted = "'";
  for (const char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
  return text;
}

class Generic final : public Benchmark {
 public:
  Generic(const fs::path& file, const json& options, const std::string& where) : name_(file.stem().string()) {
    if (!options.is_null() && !options.is_object()) throw InputError(where + ": must be a table");
    checker_ = {{"kind", "normalised"}};
    if (options.is_object())
      for (const auto& [key, value] : options.items()) {
        if (key == "name" && value.is_string() && !value.get<std::string>().empty()) name_ = value.get<std::string>();
        else if (key == "answer_file" && value.is_string()) {
          answer_file_ = value.get<std::string>();
          try {
            agent::Sandbox::check_name(answer_file_);
          } catch (const InputError& e) {
            throw InputError(where + ".answer_file: " + e.what());
          }
        } else if (key == "checker" && value.is_object()) {
          if (value.contains("gold")) throw InputError(where + ".checker.gold: the gold answers come from the tasks file");
          checker_ = value;
        } else throw InputError(where + "." + key + ": unknown key or wrong type (name, answer_file, checker)");
      }
    // A bad checker is reported now, before any rollout.
    json probe = checker_;
    probe["gold"] = "1";
    (void)agent::CheckerConfig::from_json(probe, where + ".checker");
    read_tasks(file);
  }

  std::string name() const override { return name_; }
  const std::vector<Task>& tasks() const override { return tasks_; }

  agent::Verdict check(const Task& task, const std::string& answer, const agent::Sandbox& sandbox) const override {
    json config = checker_;
    if (!task.gold.is_null()) config["gold"] = task.gold;
    else if (config.value("kind", "") != "command") {
      agent::Verdict verdict;
      verdict.feedback = "the task has no answer to check against";
      return verdict;
    }
    if (config.contains("command"))
      config["command"] = replace_all(config["command"].get<std::string>(), "{task_id}", shell_quote(task.id));
    const agent::Checker checker(agent::CheckerConfig::from_json(config, "the checker of task " + task.id));
    if (!answer_file_.empty()) return checker.check_file(sandbox, answer_file_);
    return checker.check(final_answer(answer));
  }

 private:
  void read_tasks(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw InputError(file.string() + ": cannot be read");
    const fs::path base = file.parent_path();
    std::set<std::string> ids;
    std::string line;
    for (std::size_t number = 1; std::getline(in, line); ++number) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      const std::string at = file.string() + ":" + std::to_string(number);
      const json record = json::parse(line, nullptr, false);
      if (record.is_discarded() || !record.is_object()) throw InputError(at + ": not a JSON object");
      Task task;
      try {
        task.id = record.at("id").is_string() ? record.at("id").get<std::string>() : record.at("id").dump();
        task.instruction = record.at("instruction").get<std::string>();
      } catch (const json::exception&) {
        throw InputError(at + ": needs \"id\" and a string \"instruction\"");
      }
      if (task.id.empty() || !ids.insert(task.id).second) throw InputError(at + ": empty or duplicate id \"" + task.id + "\"");
      if (record.contains("answer")) task.gold = record.at("answer");
      // Every gold is checked now: a task that cannot be judged would fail every attempt later.
      if (checker_.value("kind", "") != "command") {
        if (task.gold.is_null()) throw InputError(at + ": no \"answer\" (the " + checker_.value("kind", "") + " checker needs one)");
        json probe = checker_;
        probe["gold"] = task.gold;
        try {
          (void)agent::Checker(agent::CheckerConfig::from_json(probe, "answer"));
        } catch (const InputError& e) {
          throw InputError(at + ": " + e.what());
        }
      }
      const auto add_file = [&](const std::string& name, const std::string& path) {
        try {
          agent::Sandbox::check_name(name);
        } catch (const InputError& e) {
          throw InputError(at + ": file \"" + name + "\": " + e.what());
        }
        const fs::path source = fs::path(path).is_absolute() ? fs::path(path) : base / path;
        std::error_code error;
        const auto status = fs::status(source, error);
        if (error) throw InputError(at + ": file " + source.string() + ": " + error.message());
        if (!fs::is_regular_file(status)) throw InputError(at + ": file " + source.string() + " is not a regular file");
        for (const auto& [existing, path] : task.files.copies)
          if (existing == name) throw InputError(at + ": two files named \"" + name + "\" in the sandbox");
        task.files.copies.emplace_back(name, source);
        task.files_listed.push_back(name);
      };
      if (record.contains("files")) {
        const json& files = record.at("files");
        if (files.is_array()) {
          for (const auto& f : files) {
            if (!f.is_string()) throw InputError(at + ": \"files\" must hold strings");
            const fs::path p = f.get<std::string>();
            add_file(p.is_absolute() ? p.filename().string() : p.generic_string(), p.string());
          }
        } else if (files.is_object()) {
          for (const auto& [name, path] : files.items()) {
            if (!path.is_string()) throw InputError(at + ": \"files\" must map names to paths");
            add_file(name, path.get<std::string>());
          }
        } else {
          throw InputError(at + ": \"files\" must be a list of paths or an object of name: path");
        }
      }
      task.instruction += "\n\n";
      if (!task.files_listed.empty()) {
        task.instruction += "Files in your working directory:";
        for (const auto& name : task.files_listed) task.instruction += " " + name;
        task.instruction += "\n\n";
      }
      task.instruction += answer_file_.empty() ? std::string(kAnswerInstruction)
                                               : "Write your result to the file " + answer_file_ + " in your working directory.";
      tasks_.push_back(std::move(task));
    }
    if (tasks_.empty()) throw InputError(file.string() + ": no tasks");
    std::sort(tasks_.begin(), tasks_.end(), [](const Task& a, const Task& b) { return a.id < b.id; });
  }

  std::string name_;
  json checker_;
  std::string answer_file_;
  std::vector<Task> tasks_;
};

}  // namespace

std::unique_ptr<Benchmark> open(const fs::path& tasks_jsonl, const json& options, const std::string& where) {
  return std::make_unique<Generic>(tasks_jsonl, options, where);
}

}  // namespace t2s::benchmarks::generic
