// agent/checker: judges a candidate answer (or the bytes of an output file) against a task's gold.
//
// Four kinds, chosen by configuration (a struct, or JSON/TOML values through from_json):
//   exact       byte-equal after trimming ASCII whitespace at both ends
//   normalised  equal as token lists: case, whitespace and punctuation do not count, numbers are
//               compared as numbers within the tolerance ("The total: 1,000.0" = "the TOTAL 1000")
//   numeric     a number or a list of numbers ("[1, 2.5; 3]"), each within the tolerance:
//               |a - b| <= max(abs_tol, rel_tol * max(|a|, |b|)); the score is the fraction right
//   command     an external checker: `command` runs (bash) in a fresh sandbox of its own holding the
//               checker's files and the candidate (written as `candidate_name`; "{candidate}" in the
//               command is replaced by that name, also in $T2S_CANDIDATE); exit 0 = pass; its output
//               is the feedback. The model's sandbox never holds the checker or its gold files.
// Feedback says what is wrong without quoting the gold answer, so it can go back to a model.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "t2s/agent/sandbox.hpp"

namespace t2s::agent {

enum class CheckKind { exact, normalised, numeric, command };

const char* to_string(CheckKind kind);

struct CheckerConfig {
  CheckKind kind = CheckKind::exact;
  std::string gold;            // exact, normalised, numeric
  double rel_tol = 1e-6;       // numeric, and numbers inside normalised answers
  double abs_tol = 1e-9;
  // command:
  std::string command;
  std::string candidate_name = "candidate";
  SandboxContents files;                 // the checker's own files (scripts, gold)
  std::filesystem::path sandbox_root;    // where its sandboxes are made; empty: the temporary directory
  SandboxOptions sandbox;
  CommandLimits limits;
  std::size_t feedback_bytes = 4096;     // of the command's output kept as feedback

  // Keys: kind (required: "exact", "normalised"/"normalized", "numeric", "command"), gold (string,
  // number or array of them), rel_tol, abs_tol, command, candidate_name, files {name: text},
  // copies {name: path}, sandbox_root, disk_bytes, feedback_bytes, limits {wall_s, cpu_s,
  // memory_bytes, file_bytes, processes, output_bytes}. InputError naming `where.key` for an unknown
  // key, a wrong type or a bad value.
  static CheckerConfig from_json(const nlohmann::json& config, const std::string& where = "checker");
};

struct Verdict {
  bool passed = false;
  double score = 0.0;     // 0..1
  std::string feedback;   // why (for a model: never the gold answer itself)
};

class Checker {
 public:
  // InputError for an unusable configuration (numeric gold that is not numbers, no command, ...).
  explicit Checker(CheckerConfig config);
  static Checker from_json(const nlohmann::json& config, const std::string& where = "checker") {
    return Checker(CheckerConfig::from_json(config, where));
  }

  // `candidate`: the answer text, or the bytes of an output file. Thread-safe (const).
  // Error when a command checker's sandbox cannot be set up.
  Verdict check(std::string_view candidate) const;
  // The file `name` of `sandbox` (at most 64 MiB) as the candidate; a missing or escaping file is
  // a failed verdict saying so.
  Verdict check_file(const Sandbox& sandbox, const std::string& name) const;

  const CheckerConfig& config() const { return config_; }

 private:
  Verdict check_command(std::string_view candidate) const;

  CheckerConfig config_;
  std::vector<double> gold_numbers_;  // numeric
};

}  // namespace t2s::agent
