#include <fstream>

#include "commands.hpp"
#include "t2s/core/error.hpp"
#include "t2s/core/files.hpp"
#include "t2s/store/trajectory_store.hpp"

namespace t2s::cli {

namespace {

struct ExportArgs {
  std::string file, output;
};

// Writes every trajectory, in store order, as one OpenAI chat JSONL line: the canonical record with
// its content id in front. `t2s ingest` of the result gives the same ids and content.
void run_export(const ExportArgs& args, Context& context) {
  if (!context.comm.is_main()) return;  // serial: rank 0 writes the file
  const store::TrajectoryStore trajectory_store(args.file);
  // a regular file is written beside itself and renamed into place; a stream (/dev/stdout, a FIFO,
  // /dev/null) is written in place: renaming over it would replace the device with a file
  const Output output = resolve_output(args.output, true);
  std::filesystem::path written = output.path;
  if (!output.stream) written += ".partial";
  std::ofstream out(written, std::ios::binary | (output.stream ? std::ios::out : std::ios::trunc));
  if (!out) throw Error(args.output + ": cannot create");
  struct RemoveUnlessDone {  // a failed export leaves no half-written file behind
    std::filesystem::path path;
    bool done = false;
    ~RemoveUnlessDone() {
      std::error_code ec;
      if (!done && !path.empty()) std::filesystem::remove(path, ec);
    }
  } cleanup{output.stream ? std::filesystem::path() : written};
  constexpr std::uint64_t kBatch = 4096;
  std::string line;
  for (std::uint64_t first = 0; first < trajectory_store.size(); first += kBatch) {
    std::vector<std::uint64_t> rows(std::min(kBatch, trajectory_store.size() - first));
    for (std::size_t i = 0; i < rows.size(); ++i) rows[i] = first + i;
    for (const auto& row : trajectory_store.rows(rows)) {
      const std::string record = trajectory_store.record_json(row);
      line.assign("{\"id\":\"").append(row.id).append("\",").append(record, 1).push_back('\n');
      out.write(line.data(), static_cast<std::streamsize>(line.size()));
    }
  }
  out.close();
  if (!out) throw Error(args.output + ": write failed");
  if (!output.stream) commit_output(written, output.path);
  cleanup.done = true;
  // (to stderr when the records went to a stream: it may be this process's stdout)
  (output.stream ? context.err() : context.out()) << "wrote " << args.output << ": " << trajectory_store.size() << " trajectories\n";
}

}  // namespace

void add_export_command(CLI::App& app, Context& context) {
  auto args = std::make_shared<ExportArgs>();
  auto* command = app.add_subcommand("export", "Write a trajectory store out as OpenAI chat JSONL.");
  command->add_option("file", args->file, "A trajectory store")->required()->check(CLI::ExistingFile);
  command->add_option("-o,--output", args->output, "The JSONL file to write")->required();
  command->callback([args, &context] { run_export(*args, context); });
}

}  // namespace t2s::cli
