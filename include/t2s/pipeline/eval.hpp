// pipeline/eval: `t2s eval JOB.toml` (DESIGN §9): conditions (no skill, skill A, skill B, … for one
// or several models) run on the same tasks with the same attempts and seeds, then compared, paired.
//
// Each condition is a rollout (pipeline/rollout) into OUTPUT/conditions/<name>/, so an evaluation
// spreads its attempts over the ranks, resumes after a kill, and keeps every trajectory. Then rank 0
// scores it with eval/stats: per condition the pass rate with a bootstrap interval over tasks, per
// comparison McNemar's exact test and the paired bootstrap. Infrastructure errors are missing
// results, not failures. A cross-model evaluation (skill authored from model X's trajectories,
// used by model Y) is conditions with their own `model` (and `base_url`).
//
// Output directory:
//   OUTPUT/eval.h5       every result, the summaries and comparisons, provenance (store/eval_archive)
//   OUTPUT/report.md     the report; OUTPUT/report.html the same, self-contained, with a chart
//   OUTPUT/conditions/   one rollout per condition (trajectories.h5, results.jsonl, parts/)
#pragma once

#include <filesystem>
#include <iosfwd>
#include <string>
#include <utility>
#include <vector>

#include "t2s/eval/report.hpp"
#include "t2s/pipeline/rollout.hpp"

namespace t2s::pipeline {

struct EvalCondition {
  std::string name;                // [A-Za-z0-9._-]+, unique: also its directory name
  std::filesystem::path skill;     // "": no skill
  std::string model, base_url;     // "": the job's
};

struct EvalJob {
  RolloutJob rollout;              // what every condition shares: benchmark, tasks, attempts, seeds, agent, llm
  std::filesystem::path output;
  std::vector<EvalCondition> conditions;
  std::vector<std::pair<std::string, std::string>> comparisons;  // (A, B): B - A; default: each against the first
  eval::BootstrapOptions bootstrap;
  nlohmann::json provenance = nlohmann::json::object();  // more keys for the report and eval.h5 (the loop's split)

  // Reads [eval] (output, conditions, compare, attempts, seeds, resamples, confidence, bootstrap_seed,
  // tool_threads, checkpoint_seconds), [benchmark], [agent] and [llm]; unknown keys are refused.
  static EvalJob from_config(const Config& config);
};

struct EvalSummary {
  eval::EvalReport report;  // rank 0
  std::filesystem::path archive, markdown, html;
};

EvalSummary run_eval(const EvalJob& job, const mpi::Comm& comm, std::ostream& out, const std::string& command_line);

}  // namespace t2s::pipeline
