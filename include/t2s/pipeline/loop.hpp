// pipeline/loop: `t2s evolve JOB.toml` with a [loop] table: the whole Trace2Skill loop in one job.
//
//   1. split the benchmark's tasks into an evolving and a held-out split (by a hash of each task id
//      and split_seed: the same split on every machine and rerun), written to OUTPUT/split.json and
//      recorded in run.h5 and eval.h5; the two are checked disjoint before anything runs
//   2. rollouts of the agent with the starting skill ([evolve] skill; none: no skill) on the
//      evolving split only           → OUTPUT/rollouts/ (trajectories.h5 with the checker's verdicts)
//   3. analyse + consolidate those trajectories as any evolve job does → OUTPUT/skill/<name>, run.h5
//   4. evaluate the starting skill ("before") against the evolved one ("after") on the held-out
//      split only                    → OUTPUT/eval/ (eval.h5, report.md, report.html)
// Every step resumes from its own checkpoint, so rerunning the job after a kill redoes nothing done.
//
// [loop] keys: held_out (fraction of tasks, default 0.5), split_seed (0), attempts, seeds,
// eval_attempts, eval_seeds (default: as attempts, seeds), resamples, confidence, tool_threads,
// checkpoint_seconds. [benchmark], [agent] and [llm] as for `t2s rollout`.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "t2s/pipeline/eval.hpp"
#include "t2s/pipeline/evolve.hpp"
#include "t2s/pipeline/rollout.hpp"

namespace t2s::pipeline {

struct TaskSplit {
  std::vector<std::string> evolving, held_out;  // task ids, sorted; disjoint
};

// Task `id` is held out when the first 8 bytes of SHA-256(seed, id), as a fraction of 2^64, fall
// below `held_out`. InputError when either side would be empty.
TaskSplit split_tasks(const std::vector<std::string>& ids, double held_out, std::uint64_t seed);

struct LoopJob {
  RolloutJob rollout;  // on the evolving split
  EvolveJob evolve;    // on the rollouts' trajectories
  EvalJob eval;        // before vs after, on the held-out split
  double held_out = 0.5;
  std::uint64_t split_seed = 0;

  static bool configured(const Config& config) { return config.has("loop"); }
  static LoopJob from_config(Config config);
};

EvolveSummary run_loop(LoopJob job, const mpi::Comm& comm, std::ostream& out, const std::string& command_line,
                       const nlohmann::json& libraries);

}  // namespace t2s::pipeline
