#include <sstream>

#include "commands.hpp"
#include "t2s/core/config.hpp"
#include "t2s/core/error.hpp"
#include "t2s/pipeline/evolve.hpp"
#include "t2s/pipeline/loop.hpp"

namespace t2s::cli {

namespace {

struct EvolveArgs {
  std::string job;
  std::vector<std::string> sets;
};

// Every rank reads the job file itself: it is small, and reading it on each rank keeps a path that
// is missing on one node an error of that node, reported there.
void run_evolve_command(const EvolveArgs& args, Context& context, const std::string& command_line) {
  context.begin_resumable_job();
  Config config = Config::load(args.job);
  for (const auto& assignment : args.sets) config.set(assignment);
  if (pipeline::LoopJob::configured(config)) {  // rollouts -> evolve -> held-out evaluation
    pipeline::run_loop(pipeline::LoopJob::from_config(config), context.comm, context.out(), command_line, library_versions());
    return;
  }
  const auto job = pipeline::EvolveJob::from_config(config);
  pipeline::run_evolve(job, context.comm, context.out(), command_line, library_versions());
}

}  // namespace

void add_evolve_command(CLI::App& app, Context& context, const std::string& command_line) {
  auto args = std::make_shared<EvolveArgs>();
  auto* command = app.add_subcommand(
      "evolve",
      "Analyse a trajectory store, merge the patches in a k-ary tree, and write a validated skill and a run archive "
      "(MPI: run under mpirun/srun for more ranks). With a [loop] table: rollouts on an evolving split, then the evolve, "
      "then the before/after evaluation on the held-out split. Rerunning the same job resumes it.");
  command->add_option("job", args->job, "The job file (TOML), e.g. jobs/demo.toml")->required();
  command->add_option("--set", args->sets, "key.path=value: override a job file value (repeatable)");
  command->callback([args, &context, command_line] { run_evolve_command(*args, context, command_line); });
}

}  // namespace t2s::cli
