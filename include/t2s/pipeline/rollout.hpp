// pipeline/rollout: `t2s rollout JOB.toml` (DESIGN §9): the agent on a benchmark's tasks, every
// attempt checked by the benchmark's checker and stored as a trajectory with that verdict.
//
// The agent is a ReAct loop over OpenAI tool calling (agent/tool_loop) in a fresh sandbox per
// attempt holding the task's files and, when the job has a skill, the skill's files under skill/
// (its SKILL.md body is in the system prompt). Tools: bash, read_file, write_file; never the
// checker. Attempts (task × attempt number, with its own seed) are spread over the ranks in
// contiguous shares; every rank runs its attempts concurrently on one LLM client and writes each
// finished attempt (result and trajectory) to its checkpoint in OUTPUT/parts/ at most
// checkpoint_seconds later. A rerun of the same job redoes only what the checkpoint lacks, and
// attempts that ended in an infrastructure error (the model server failed, the sandbox could not
// start, the checker could not run) are tried again: they are missing results, not failures.
//
// Output directory:
//   OUTPUT/trajectories.h5   every finished attempt, outcome = the checker's verdict (t2s evolve reads it)
//   OUTPUT/results.jsonl     one line per attempt: task_id, attempt, seed, status, score, ...
//   OUTPUT/parts/            checkpoint segments and the model recordings (parts/llm)
#pragma once

#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "t2s/agent/sandbox.hpp"
#include "t2s/core/config.hpp"
#include "t2s/llm/client.hpp"
#include "t2s/mpi/comm.hpp"
#include "t2s/pipeline/llm_runtime.hpp"

namespace t2s::pipeline {

// [agent]: how the agent works.
struct AgentSettings {
  int max_turns = 20;               // model turns per attempt
  double temperature = 0.0;
  int max_tokens = 4096;            // per model turn
  agent::CommandLimits limits;      // of every bash command
  std::uint64_t disk_bytes = std::uint64_t{256} << 20;  // sandbox quota
  std::filesystem::path sandbox_root;  // "": /tmp/t2s-sandboxes
  // Reads the table (null: the defaults); InputError naming `where.key`.
  static AgentSettings from_json(const nlohmann::json& table, const std::string& where);
};

struct RolloutJob {
  nlohmann::json benchmark;          // [benchmark] (benchmarks::open_benchmark)
  std::filesystem::path output;
  std::filesystem::path skill;       // "": the agent works without a skill
  std::string model;                 // "": the endpoint's (LlmSettings / T2S_MODEL)
  int attempts = 1;                  // per task
  std::vector<std::uint64_t> seeds;  // attempt i sends seeds[i] (default: i)
  std::vector<std::string> task_ids; // only these tasks (empty: all); the evolve loop's split
  std::string source = "t2s-rollout";
  unsigned tool_threads = 4;
  double checkpoint_seconds = 5.0;
  bool fail_when_all_errors = true;  // false: report them and return (an evaluation carries on)
  AgentSettings agent;
  LlmSettings llm;
  std::string job_text, job_name, effective;  // provenance; effective: what the checkpoint is for

  // Reads [rollout] (or `table`: eval's settings are read the same way), [benchmark], [agent] and
  // [llm]; unknown keys are refused ([rollout]'s here; another table's by its reader).
  static RolloutJob from_config(const Config& config, const std::string& table = "rollout");
  std::uint64_t seed_of(int attempt) const {
    return attempt < static_cast<int>(seeds.size()) ? seeds[static_cast<std::size_t>(attempt)] : static_cast<std::uint64_t>(attempt);
  }
};

// What one attempt came to. status: passed, failed (the checker's verdict), or error (an
// infrastructure error: no verdict, counted as missing).
struct AttemptResult {
  std::string task_id;
  int attempt = 0;
  std::uint64_t seed = 0;
  std::string status, reason;  // reason: the checker's feedback, or what went wrong
  double score = 0.0;
  std::string loop_status;     // finished, budget_exhausted, failed
  int turns = 0, tool_calls = 0;
  llm::Usage usage;
  double wall_s = 0.0;
  std::string trajectory_id;   // "" for an error

  nlohmann::json to_json() const;
  static AttemptResult from_json(const nlohmann::json& j);
};

struct RolloutSummary {
  std::string benchmark, model;
  std::uint64_t tasks = 0, attempts = 0, passed = 0, failed = 0, errors = 0, resumed = 0, stored = 0;
  std::int64_t tokens = 0;
  std::vector<AttemptResult> results;  // rank 0: every attempt, by task id and attempt
  std::filesystem::path trajectories;
};

// Runs the job on every rank of `comm`; rank 0 writes the outputs and reports to `out`. Throws
// InputError for a bad job or a checkpoint of another job, Error when every attempt failed for an
// infrastructure reason (nothing to learn from: fix the cause and rerun).
RolloutSummary run_rollout(const RolloutJob& job, const mpi::Comm& comm, std::ostream& out, const std::string& command_line);

}  // namespace t2s::pipeline
