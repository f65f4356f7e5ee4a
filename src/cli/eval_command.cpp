#include "commands.hpp"
#include "t2s/core/config.hpp"
#include "t2s/pipeline/eval.hpp"

namespace t2s::cli {

void add_eval_command(CLI::App& app, Context& context, const std::string& command_line) {
  struct Args {
    std::string job;
    std::vector<std::string> sets;
  };
  auto args = std::make_shared<Args>();
  auto* command = app.add_subcommand(
      "eval",
      "Compare conditions (no skill, skills, models) on the same benchmark tasks, attempts and seeds: pass rates with "
      "bootstrap intervals, paired tests, eval.h5 and a Markdown/HTML report (MPI). Rerunning the same job resumes it.");
  command->add_option("job", args->job, "The job file (TOML) with [eval], [[eval.conditions]], [benchmark], [agent], [llm]")->required();
  command->add_option("--set", args->sets, "key.path=value: override a job file value (repeatable)");
  command->callback([args, &context, command_line] {
    context.begin_resumable_job();
    Config config = Config::load(args->job);
    for (const auto& assignment : args->sets) config.set(assignment);
    pipeline::run_eval(pipeline::EvalJob::from_config(config), context.comm, context.out(), command_line);
  });
}

}  // namespace t2s::cli
