// pipeline/sweep: a sweep's directory, as slurm/sweep makes it and its array tasks fill it, read back
// into one table of every run, failures included (`t2s summarize`).
//
//   SWEEP/manifest        one run per line, "NAME JOB.toml [ARGS...]" (the checked copy slurm/sweep
//                         wrote; the array task with index I runs line I, counting from 0)
//   SWEEP/runs/NAME/      the run's output directory: summary.json once it succeeded
//                         (pipeline/run_summary), and status.json, which the array task writes when
//                         it starts and again when the run ends (job ids, restart, times, exit status)
//   SWEEP/logs/I.out      the array task's output
//   SWEEP/summary.md, summary.tsv   the table (written by write_sweep_summary)
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace t2s::pipeline {

struct SweepRun {
  std::size_t index = 0;             // the manifest line, from 0 (= SLURM_ARRAY_TASK_ID)
  std::string name, job;
  std::string state;                 // ok | failed | unfinished (started, no end recorded) | not started
  std::optional<int> exit_status;
  std::string job_id;                // "" before it started
  int restarts = 0;
  std::optional<double> wall_s;      // of its last start
  std::string result;                // the run's headline, or what went wrong
  std::filesystem::path run_dir, log;
};

struct Sweep {
  std::filesystem::path dir;
  std::vector<SweepRun> runs;
  std::size_t count(const std::string& state) const;
};

// InputError naming the file when the manifest is missing or malformed, or a status.json is not one.
Sweep read_sweep(const std::filesystem::path& dir);
std::string render_sweep_markdown(const Sweep& sweep);
std::string render_sweep_tsv(const Sweep& sweep);
// Writes SWEEP/summary.md and SWEEP/summary.tsv (each whole or not at all).
void write_sweep_summary(const Sweep& sweep);

}  // namespace t2s::pipeline
