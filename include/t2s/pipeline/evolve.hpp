// pipeline/evolve: `t2s evolve JOB.toml` (DESIGN §1–2): analyse every trajectory of a store, merge
// the patches in the k-ary tree, apply the prevalence policy, apply the result to the frozen skill,
// validate it, and archive the run.
//
// Every rank runs run_evolve. With the stats analyst, trajectories are cut into analysis units
// (blocks of `block` rows of the store, in storage order: each rank reads its share of the store
// front to back), ranks take contiguous ranges of units, and every unit's patch is a leaf of the
// merge tree. With the LLM analysts (success, error, or llm = both), ranks take contiguous ranges
// of the id-sorted trajectories, analyse them concurrently on one LLM client per rank, and the
// accepted patches, in id order, are the leaves. A node is computed by the rank that owns its first
// leaf, and children held elsewhere are sent there. Everything a rank completes goes to its own
// checkpoint files in OUTPUT/parts/ (store/run_log) as it completes; a rerun of the same job reads
// them and redoes nothing they hold. The result depends only on the trajectories, the job and
// the merge function: never on the rank count or on timing.
//
// Output directory:
//   OUTPUT/skill/<name>/   the evolved skill (with its .trace2skill/provenance.json)
//   OUTPUT/run.h5          the run archive (store/run_archive)
//   OUTPUT/parts/          checkpoint segments
#pragma once

#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <string>
#include <vector>

#include "t2s/analyze/llm_analysts.hpp"
#include "t2s/analyze/stats.hpp"
#include "t2s/consolidate/merge.hpp"
#include "t2s/consolidate/prevalence.hpp"
#include "t2s/consolidate/tree.hpp"
#include "t2s/core/config.hpp"
#include "t2s/mpi/comm.hpp"
#include "t2s/pipeline/llm_runtime.hpp"

namespace t2s::pipeline {

struct EvolveJob {
  std::filesystem::path trajectories;  // the trajectory store
  std::filesystem::path output;        // the run directory
  std::filesystem::path skill;         // the starting skill; empty: a new one is drafted
  std::string skill_name;              // of the drafted skill (default "evolved-skill")
  std::string description;             // of the drafted skill
  std::string analyst = "stats";         // stats | success | error | llm (success and error)
  std::uint64_t block = 4096;           // trajectories per stats analysis unit (few units: a cheap merge)
  std::uint64_t checkpoint_every = 8;   // stats units between checkpoint flushes
  double checkpoint_seconds = 5.0;      // LLM analyses: at most this long between flushes
  unsigned tool_threads = 4;            // error analysts' tool calls run on this many threads per rank
  unsigned threads = 0;                 // stats analyst: feature extraction threads per rank (0: one per core it may use)
  std::string mode = "tree";            // tree | sequential (the online-editing baseline)
  consolidate::TreeShape tree;
  consolidate::MergeOptions merge;
  std::string merge_kind = "deterministic";  // | llm (falls back to deterministic per node)
  consolidate::LlmMergeOptions llm_merge;
  analyze::AnalystOptions analysts;     // [analyze.llm]
  LlmSettings llm;
  consolidate::PrevalencePolicy prevalence;  // population is filled in by the run
  analyze::StatsOptions stats;
  std::string job_text, job_name;      // for provenance
  std::string effective;               // every value in force (--set included): what the checkpoint is for
  nlohmann::json provenance = nlohmann::json::object();  // more keys for the archive's /provenance (the loop's split)

  // Reads [evolve], [consolidate], [prevalence], [analyze.stats], [analyze.llm] and [llm]; unknown
  // keys are refused.
  static EvolveJob from_config(const Config& config);
  bool uses_llm() const { return analyst != "stats" || merge_kind == "llm"; }
};

struct EvolveSummary {
  std::uint64_t trajectories = 0, analysed = 0, resumed_units = 0, computed_units = 0;
  // LLM analyses by status (stats: every trajectory is ok)
  std::uint64_t analysis_ok = 0, analysis_empty = 0, analysis_dropped = 0, analysis_failed = 0, analysis_skipped = 0;
  std::uint64_t accepted_patches = 0;
  std::int64_t tokens = 0;
  std::uint64_t merge_fallbacks = 0;
  std::uint64_t merge_levels = 0, merge_nodes = 0, resumed_nodes = 0;
  std::size_t lessons = 0, promoted = 0, moved = 0, dropped = 0;
  std::filesystem::path skill_dir, archive;
  bool valid = false;
};

// Runs the job on every rank of `comm`; rank 0 prints progress and the final report to `out`.
// Returns the summary (complete on rank 0). Throws InputError for a bad job or input, Error when
// the work fails (e.g. the result would not be a valid skill: nothing is written then).
// `command_line` and `libraries` (name → version) go into the archive's provenance.
EvolveSummary run_evolve(const EvolveJob& job, const mpi::Comm& comm, std::ostream& out,
                         const std::string& command_line, const nlohmann::json& libraries = nlohmann::json::object());

}  // namespace t2s::pipeline
