// store/eval_archive: eval.h5, everything `t2s eval` found, with its provenance (readable with h5py).
//
// Layout (one row per element, columns as one-dimensional datasets):
//   /                 attrs format="trace2skill/eval", format_version=1, created_by
//   /provenance       attrs command, version, git_revision, ranks, started, finished, benchmark,
//                     slurm ids when under Slurm, ...; dataset job (the job file's text)
//   /conditions       name, model, skill, skill_sha256 (strings); tasks, units, passed, failed,
//                     missing, tasks_all_missing (int64); rate, low, high (float64)
//   /results          condition, task_id, status ("passed" | "failed" | "error"), reason,
//                     trajectory_id (strings); attempt, seed (int64); score (float64, NaN for an error)
//   /comparisons      a, b (strings); pairs, a_only, b_only, both, neither, excluded (int64);
//                     rate_a, rate_b, difference, low, high, mcnemar_p, bootstrap_p (float64)
//   /report           dataset markdown: the Markdown report
// Written under "<path>.partial" and renamed into place.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace t2s::store {

inline constexpr const char* kEvalFormat = "trace2skill/eval";

struct EvalArchive {
  struct Condition {
    std::string name, model, skill, skill_sha256;
    std::int64_t tasks = 0, units = 0, passed = 0, failed = 0, missing = 0, tasks_all_missing = 0;
    double rate = 0, low = 0, high = 0;
  };
  struct Result {
    std::string condition, task_id, status, reason, trajectory_id;
    std::int64_t attempt = 0, seed = 0;
    double score = 0;
  };
  struct Comparison {
    std::string a, b;
    std::int64_t pairs = 0, a_only = 0, b_only = 0, both = 0, neither = 0, excluded = 0;
    double rate_a = 0, rate_b = 0, difference = 0, low = 0, high = 0, mcnemar_p = 0, bootstrap_p = 0;
  };
  nlohmann::json provenance = nlohmann::json::object();  // string and integer values → attributes
  std::string job_text, report_markdown;
  std::vector<Condition> conditions;
  std::vector<Result> results;
  std::vector<Comparison> comparisons;
};

void write_eval_archive(const std::filesystem::path& path, const EvalArchive& archive);

}  // namespace t2s::store
