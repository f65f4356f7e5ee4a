#include "commands.hpp"
#include "t2s/core/config.hpp"
#include "t2s/pipeline/rollout.hpp"

namespace t2s::cli {

void add_rollout_command(CLI::App& app, Context& context, const std::string& command_line) {
  struct Args {
    std::string job;
    std::vector<std::string> sets;
  };
  auto args = std::make_shared<Args>();
  auto* command = app.add_subcommand(
      "rollout",
      "Run the agent on a benchmark's tasks, check every attempt and store the trajectories with their verdicts "
      "(MPI: attempts are spread over the ranks). Rerunning the same job resumes it.");
  command->add_option("job", args->job, "The job file (TOML) with [rollout], [benchmark], [agent] and [llm]")->required();
  command->add_option("--set", args->sets, "key.path=value: override a job file value (repeatable)");
  command->callback([args, &context, command_line] {
    context.begin_resumable_job();
    Config config = Config::load(args->job);
    for (const auto& assignment : args->sets) config.set(assignment);
    pipeline::run_rollout(pipeline::RolloutJob::from_config(config), context.comm, context.out(), command_line);
  });
}

}  // namespace t2s::cli
