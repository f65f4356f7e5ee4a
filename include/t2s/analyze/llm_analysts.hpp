// analyze/llm_analysts: the LLM analysts of DESIGN §8. Each studies one trajectory against the
// frozen skill and proposes a patch; every edit of it is supported by that trajectory alone.
//
//   success  one structured call: the lean winning path and at most `max_lessons` lessons that
//            generalise beyond the task.
//   error    agentic, when the trajectory has a gold answer: a tool loop (agent/tool_loop) in a fresh
//            sandbox holding the transcript, the task and its input files, with bash, read_file,
//            write_file and `evaluate` (the task's checker on a candidate answer). The analyst
//            reproduces the failure and re-checks a fix until it passes or the turn budget ends; a
//            fix that passes is then turned into a patch by one structured call on the same
//            conversation. Analyses that never pass are dropped. Without a gold answer: one
//            log-only structured call ("error/log-only").
//
// Model output is untrusted: edits are read by skill::read_patch's rules, a file a patch may not
// touch drops its edit, edits beyond max_lessons are dropped, and the program (never the model)
// sets every support set to {the trajectory's id}. Whether the edits apply to the frozen skill is
// the consolidation's check (merge_deterministic with the skill), as for every patch.
//
// Analysts run concurrently on one llm::Client (its loop thread); tool calls run on a ThreadPool.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "t2s/agent/sandbox.hpp"
#include "t2s/core/thread_pool.hpp"
#include "t2s/llm/client.hpp"
#include "t2s/skill/patch.hpp"
#include "t2s/skill/skill_dir.hpp"
#include "t2s/trace/trajectory.hpp"

namespace t2s::analyze {

struct AnalystOptions {
  std::string model;                 // "": the endpoint's
  double temperature = 0.0;
  int max_tokens = 4096;             // per call
  std::size_t max_lessons = 3;       // edits per patch
  std::size_t transcript_bytes = std::size_t{48} << 10;  // of the rendered transcript in a prompt
  // error analyst
  int max_turns = 12;                // model turns of the tool loop
  agent::CommandLimits limits;       // of every bash command
  std::uint64_t disk_bytes = std::uint64_t{256} << 20;  // sandbox quota
  // Where sandboxes are made ("": /tmp/t2s-sandboxes), one per trajectory named by its id: the path a
  // model sees is the same on every run, so keep it when replaying.
  std::filesystem::path sandbox_root;
  std::filesystem::path task_files;    // where a task's relative file names are looked up; "": none copied
  // Where the files each agent run produced are kept: a trajectory whose meta.outputs names a
  // directory relative to this gets a copy of it as outputs/ in its sandbox. "": none copied.
  std::filesystem::path agent_outputs;
  nlohmann::json checker = nlohmann::json::object();  // kind / rel_tol / abs_tol for the gold answer

  // Reads the [analyze.llm] table (null: the defaults); InputError naming `where.key`.
  static AnalystOptions from_json(const nlohmann::json& table, const std::string& where);
  nlohmann::json to_json() const;
};

// What one analysis came to. status: ok (a patch with at least one edit), empty (nothing worth
// teaching), dropped (the error analyst never reached a passing fix), failed (a call failed after
// retries, or the answer was unusable), skipped (no analyst for it: an unlabelled trajectory).
struct Analysis {
  std::string analyst;  // success | error | error/log-only
  std::string status, reason;
  skill::Patch patch;
  llm::Usage usage;
  int calls = 0;        // model requests
  int tool_calls = 0;
  double wall_s = 0.0;
  nlohmann::json notes = nlohmann::json::array();  // what was dropped from the answer, and why
};

// The analyst that studies `t`: "success", "error", or "" (unlabelled: skipped).
std::string analyst_for(const trace::Trajectory& t);

// The trajectory as Markdown for a prompt: task, outcome and every message (tool calls and
// results included), long messages cut in the middle and, past `max_bytes`, middle messages left out
// (the start and the end of a run say the most).
std::string render_transcript(const trace::Trajectory& t, std::size_t max_bytes);

class LlmAnalysts {
 public:
  // `client`, `pool` and `frozen_skill` must outlive every analysis submitted.
  LlmAnalysts(llm::Client& client, ThreadPool& pool, const skill::SkillDir& frozen_skill, AnalystOptions options);
  ~LlmAnalysts();
  LlmAnalysts(const LlmAnalysts&) = delete;
  LlmAnalysts& operator=(const LlmAnalysts&) = delete;

  // Starts the analysis of `t` (id `id`) by analyst_for(t); `on_done` runs once on the client's loop
  // thread (at once for a skipped one). Call on the loop thread or before client.run().
  void submit(const std::string& id, const trace::Trajectory& t, std::function<void(Analysis&&)> on_done);

  // SHA-256 (hex) over every prompt and answer schema, for provenance.
  std::string prompt_hash() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace t2s::analyze
