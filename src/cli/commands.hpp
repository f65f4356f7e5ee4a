// cli: the `t2s` command line. Each command registers itself on the CLI11 app and runs in its
// callback; errors are thrown as t2s::Error / InputError and turned into one message and an exit
// status by main().
#pragma once

#include <CLI/CLI.hpp>

#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "t2s/core/error.hpp"
#include "t2s/core/interrupt.hpp"
#include "t2s/mpi/comm.hpp"

namespace t2s::cli {

struct Context {
  mpi::Comm comm = mpi::Comm::single();
  // Rank 0 speaks for the job; other ranks stay quiet.
  std::ostream& out() const { return comm.is_main() ? std::cout : null_stream(); }
  std::ostream& err() const { return comm.is_main() ? std::cerr : null_stream(); }
  static std::ostream& null_stream();
  // The MPI commands (evolve, rollout, eval) refuse to run as fewer or more ranks than the Slurm
  // step's tasks (a job that would silently run on one rank of many fails at once instead), and
  // take SIGUSR1 as a request to checkpoint and stop (core/interrupt).
  void begin_resumable_job() const {
    if (const auto why = mpi::slurm_world_mismatch(comm.size())) throw InputError(*why);
    watch_for_stop_requests();
  }
};

// Versions of the libraries t2s runs with (for --version and for run provenance).
nlohmann::json library_versions();

void add_ingest_command(CLI::App& app, Context& context);
void add_inspect_command(CLI::App& app, Context& context);
void add_export_command(CLI::App& app, Context& context);
void add_synth_command(CLI::App& app, Context& context);
void add_skill_command(CLI::App& app, Context& context);
void add_llm_command(CLI::App& app, Context& context);
void add_score_command(CLI::App& app, Context& context);
void add_summarize_command(CLI::App& app, Context& context);
void add_evolve_command(CLI::App& app, Context& context, const std::string& command_line);
void add_rollout_command(CLI::App& app, Context& context, const std::string& command_line);
void add_eval_command(CLI::App& app, Context& context, const std::string& command_line);

}  // namespace t2s::cli
