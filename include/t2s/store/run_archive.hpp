// store/run_archive: run.h5, the archived record of an evolve run (DESIGN §4): everything needed to
// audit it and replay it. Written once by rank 0 at the end of a run (under ".partial", renamed),
// from the run's checkpoint (store/run_log). Readable with h5py; every table is columns of equal
// length, text as variable-length UTF-8 strings.
//   /                 attrs format = "trace2skill/run", format_version = 3, created_by
//   /provenance       attrs command, version, git_revision, ranks, hosts, started, finished,
//                     slurm_job_id, slurm_array_job_id, slurm_array_task_id; datasets job (the job
//                     file's text), libraries (JSON)
//   /trajectories     id: the run's trajectory ids in id order. Support sets in this archive (the
//                     patches of /analysis and /merge, /lessons support) name trajectories by
//                     position in it (skill/support.hpp): position p is /trajectories/id[p]
//   /analysis         per trajectory: id, analyst, status (ok / empty / dropped / failed /
//                     skipped), reason, unit (the analysis it was part of: "unit/12" for stats, its
//                     id for LLM analysts), lessons (JSON list of the lessons of the final patch it
//                     supports), patch (an LLM analyst's patch, JSON; "" for stats), tokens, calls
//   /merge            per tree node: node ("L2/0"), level, index, first_child, last_child, status
//                     (ok, or fallback: an LLM merge replaced by the deterministic one), merge
//                     (deterministic / llm), reason, patch (JSON)
//   /lessons          per lesson of the final patch: id, kind, placement (SKILL.md, references/…,
//                     dropped), support_count, population, text, support (JSON list of positions),
//                     merge_path (JSON list), key (the stats analyst's feature it rests on, e.g.
//                     "before:describe_sheet<update_cells": stable across corpora, unlike its
//                     text's counts; "" for other lessons and in archives written before it)
//   /skill            attrs name, valid; datasets path (per file), offset, length (uint64: where the
//                     file sits in bytes), bytes (uint8, deflated: the files written, back to back),
//                     validation (JSON)
//   /metrics          dataset json (per-stage timings and counts)
//   /llm/<file>       the run's recorded model exchanges, one group per recording file, each laid out
//                     as /llm of store/llm_recording (a run archive replays like a recording directory)
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace t2s::store {

inline constexpr const char* kRunArchiveFormat = "trace2skill/run";

struct RunArchive {
  nlohmann::json provenance = nlohmann::json::object();  // string and integer values → attributes
  std::string job_text;
  nlohmann::json libraries = nlohmann::json::object();

  struct Analysis {
    std::string id, analyst, status, reason, unit, lessons, patch;
    std::int64_t tokens = 0, calls = 0;
  };
  std::vector<Analysis> analysis;

  struct Node {
    std::string node, status, merge, reason, patch;
    std::int64_t level = 0, index = 0, first_child = 0, last_child = 0;
  };
  std::vector<Node> merge;

  struct Lesson {
    std::string id, kind, placement, text, support, merge_path;
    std::uint64_t support_count = 0, population = 0;
    std::string key;
  };
  std::vector<Lesson> lessons;
  std::vector<std::string> trajectory_ids;  // in id order; read only with the analysis rows

  std::string skill_name;
  bool skill_valid = false;
  std::vector<std::pair<std::string, std::string>> skill_files;  // path, bytes
  std::string validation;                                        // JSON
  nlohmann::json metrics = nlohmann::json::object();
};

// Writes run.h5 under "<path>.partial" and renames it in finish(). The per-trajectory analysis rows
// and the merge-tree nodes are appended in batches (a run may have millions of trajectories, and
// every node holds its support sets), everything else comes with finish(); the `analysis` and
// `merge` rows of the archive given to finish() are appended too.
class RunArchiveWriter {
 public:
  explicit RunArchiveWriter(std::filesystem::path path);
  ~RunArchiveWriter();  // without finish(), the partial file is removed
  RunArchiveWriter(const RunArchiveWriter&) = delete;
  RunArchiveWriter& operator=(const RunArchiveWriter&) = delete;

  void append_analysis(const std::vector<RunArchive::Analysis>& rows);
  void append_merge(const std::vector<RunArchive::Node>& rows);
  std::uint64_t analysis_rows() const;
  // Appends to /trajectories/id (the ids in id order, in batches).
  void append_trajectory_ids(const std::vector<std::string>& ids);
  // Copies the /llm group of every recording file (store/llm_recording) to /llm/<file name>.
  void add_recordings(const std::vector<std::filesystem::path>& files);
  void finish(const RunArchive& archive);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

void write_run_archive(const std::filesystem::path& path, const RunArchive& archive);

// Whether `path` is an HDF5 file whose format attribute says run archive.
bool is_run_archive(const std::filesystem::path& path);
// Reads everything but the per-trajectory /analysis rows and /trajectories/id unless `with_analysis`.
RunArchive read_run_archive(const std::filesystem::path& path, bool with_analysis = false);
// The ids at `positions` of /trajectories/id (for support sets); empty for archives older than
// format 3, whose support sets hold ids.
std::vector<std::string> read_trajectory_ids(const std::filesystem::path& path, std::span<const std::uint64_t> positions);

}  // namespace t2s::store
