#include <iostream>

#include "commands.hpp"
#include "t2s/pipeline/sweep.hpp"

namespace t2s::cli {

void add_summarize_command(CLI::App& app, Context& context) {
  auto dir = std::make_shared<std::string>();
  auto* command = app.add_subcommand(
      "summarize",
      "Gather the runs of a sweep (slurm/sweep) into one table, failures included: SWEEP/summary.md and "
      "SWEEP/summary.tsv. Runs still queued or running are listed as such, so it may be run at any time.");
  command->add_option("sweep", *dir, "The sweep directory")->required();
  command->callback([dir, &context] {
    const auto sweep = pipeline::read_sweep(*dir);
    if (!context.comm.is_main()) return;
    pipeline::write_sweep_summary(sweep);
    context.out() << pipeline::render_sweep_markdown(sweep);
  });
}

}  // namespace t2s::cli
