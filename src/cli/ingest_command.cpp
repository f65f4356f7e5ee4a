#include <malloc.h>

#include <chrono>

#include "commands.hpp"
#include "t2s/core/config.hpp"
#include "t2s/core/error.hpp"
#include "t2s/core/text.hpp"
#include "t2s/store/ingest.hpp"

namespace t2s::cli {

namespace {

struct IngestArgs {
  std::string job;
  std::vector<std::string> sets;
  std::vector<std::string> inputs;
  std::string output, quarantine, format = "auto", source, benchmark, model;
  bool strict = false, json = false;
  double max_record_mb = 256;
  int compression_level = 6;
  std::size_t max_messages = 20;
};

nlohmann::json summary_json(const store::IngestSummary& s, const std::vector<std::string>& label_warnings,
                            double seconds) {
  nlohmann::json inputs = nlohmann::json::array();
  for (const auto& input : s.inputs)
    inputs.push_back({{"file", input.file.string()},
                      {"format", trace::format_name(input.format)},
                      {"bytes", input.bytes},
                      {"read", input.counts.read},
                      {"accepted", input.counts.accepted},
                      {"duplicates", input.counts.duplicates},
                      {"quarantined", input.counts.quarantined}});
  return {{"inputs", inputs},
          {"read", s.total.read},
          {"accepted", s.total.accepted},
          {"duplicates", s.total.duplicates},
          {"quarantined", s.total.quarantined},
          {"successes", s.successes},
          {"failures", s.failures},
          {"unlabelled", s.unlabelled},
          {"label_warnings", label_warnings},
          {"input_bytes", s.input_bytes},
          {"output", s.output.string()},
          {"output_bytes", s.output_bytes},
          {"quarantine", s.quarantine.empty() ? nlohmann::json(nullptr) : nlohmann::json(s.quarantine.string())},
          {"seconds", seconds}};
}

// A job file's [ingest] table (plus --set overrides) fills in what the command line left out.
void apply_job(IngestArgs& args, const CLI::App& command) {
  if (args.job.empty()) {
    if (!args.sets.empty()) throw InputError("--set needs --job");
    return;
  }
  Config job = Config::load(args.job);
  for (const auto& assignment : args.sets) job.set(assignment);
  auto take = [&](const char* option, auto& target, auto value) {
    if (value && command.count(option) == 0) target = *value;
  };
  take("inputs", args.inputs, job.strings("ingest.inputs"));
  take("--output", args.output, job.string("ingest.output"));
  take("--format", args.format, job.string("ingest.format"));
  take("--quarantine", args.quarantine, job.string("ingest.quarantine"));
  take("--strict", args.strict, job.boolean("ingest.strict"));
  take("--source", args.source, job.string("ingest.source"));
  take("--benchmark", args.benchmark, job.string("ingest.benchmark"));
  take("--model", args.model, job.string("ingest.model"));
  take("--max-record-mb", args.max_record_mb, job.number("ingest.max_record_mb"));
  if (auto level = job.integer("ingest.compression_level"); level && command.count("--compression-level") == 0)
    args.compression_level = static_cast<int>(*level);
  job.reject_unread("ingest");
}

void check_ranges(const IngestArgs& args) {
  const std::string origin = args.job.empty() ? std::string("--") : args.job + ": ingest.";
  if (args.compression_level < 0 || args.compression_level > 9)
    throw InputError(origin + "compression_level must be 0-9, not " + std::to_string(args.compression_level));
  // simdjson parses documents of up to 4 GiB.
  if (!(args.max_record_mb > 0 && args.max_record_mb <= 4096))
    throw InputError(origin + "max_record_mb must be above 0 and at most 4096");
}

void run_ingest(IngestArgs args, const CLI::App& command, Context& context) {
  // Ingest streams: buffers are freed and allocated again all the time. Keeping freed memory in the
  // heap instead of returning it to the kernel (and faulting it back in) saves a few percent of
  // ingest time; peak memory stays the same. Only here: other commands keep glibc's defaults.
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  mallopt(M_TOP_PAD, 16 << 20);
  mallopt(M_MMAP_THRESHOLD, 16 << 20);
  if (!context.comm.is_main()) return;  // ingest is serial: rank 0 does it
  apply_job(args, command);
  check_ranges(args);
  if (args.inputs.empty()) throw InputError("ingest: no inputs (give files or directories, or ingest.inputs in --job)");
  if (args.output.empty()) throw InputError("ingest: no output (give -o OUT.h5, or ingest.output in --job)");
  store::IngestOptions options;
  if (args.format != "auto") {
    options.format = trace::parse_format(args.format);
    if (!options.format)
      throw InputError("--format " + args.format + ": unknown format (expected auto, " +
                       trace::known_format_names() + ")");
  }
  options.output = args.output;
  options.quarantine = args.quarantine;
  options.strict = args.strict;
  options.reader.source = args.source;
  options.reader.benchmark = args.benchmark;
  options.reader.model = args.model;
  options.reader.max_record_bytes = static_cast<std::size_t>(args.max_record_mb * 1024 * 1024);
  options.store.compression_level = args.compression_level;
  std::size_t problems = 0;
  options.warn = [&](const std::string& message) {
    if (++problems <= args.max_messages) context.err() << "warning: " << message << "\n";
  };
  const auto json_text = [](const nlohmann::json& value) {  // file names need not be UTF-8
    return value.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
  };
  std::vector<std::filesystem::path> inputs(args.inputs.begin(), args.inputs.end());

  const auto start = std::chrono::steady_clock::now();
  const auto summary = store::ingest(inputs, options);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  if (problems > args.max_messages)
    context.err() << "warning: ... and " << problems - args.max_messages << " more problems"
                  << (summary.quarantine.empty() ? "" : " (bad records are in " + summary.quarantine.string() + ")")
                  << "\n";
  // Not counted against --max-messages: a store evolve cannot learn from must not pass unnoticed.
  const auto labels =
      store::label_warnings(summary.output.string(), summary.successes, summary.failures, summary.unlabelled);
  const auto warn_labels = [&] {
    context.out().flush();  // after the summary, as the last thing a user sees
    for (const auto& warning : labels) context.err() << "warning: " << warning << "\n";
  };
  if (args.json) {
    context.out() << json_text(summary_json(summary, labels, seconds)) << "\n";
    warn_labels();
    return;
  }
  auto& out = context.out();
  for (const auto& input : summary.inputs)
    out << input.file.string() << " (" << trace::format_name(input.format) << "): " << input.counts.read
        << " read, " << input.counts.accepted << " accepted, " << input.counts.duplicates << " duplicates, "
        << input.counts.quarantined << " quarantined\n";
  const auto& total = summary.total;
  out << "total: " << total.read << " read = " << total.accepted << " accepted + " << total.duplicates
      << " duplicates + " << total.quarantined << " quarantined\n";
  char rate[64];
  std::snprintf(rate, sizeof rate, "%.1f s, %.1f MB/s", seconds,
                seconds > 0 ? static_cast<double>(summary.input_bytes) / 1e6 / seconds : 0.0);
  out << "wrote " << summary.output.string() << ": " << total.accepted << " trajectories (" << summary.successes
      << " success, " << summary.failures << " failure, " << summary.unlabelled << " unlabelled), "
      << format_bytes(summary.input_bytes) << " in, " << format_bytes(summary.output_bytes) << " stored (" << rate
      << ")\n";
  if (!summary.quarantine.empty())
    out << "quarantined records: " << summary.quarantine.string() << "\n";
  warn_labels();
}

}  // namespace

void add_ingest_command(CLI::App& app, Context& context) {
  auto args = std::make_shared<IngestArgs>();
  auto* command = app.add_subcommand("ingest", "Read trajectory files into a trajectory store (HDF5).");
  command->add_option("inputs", args->inputs, "Input files or directories (OpenAI JSONL, tau-bench JSON, "
                                              "ATIF trajectory.json, t2s stores)")
      ->check(CLI::ExistingPath);
  command->add_option("-o,--output", args->output, "The store to write (replaced if it exists)");
  command->add_option("--job", args->job, "A job file (TOML) whose [ingest] table sets these options")
      ->check(CLI::ExistingFile);
  command->add_option("--set", args->sets, "key.path=value: override a job file value (repeatable)");
  command->add_option("--format", args->format, "auto (default), " + trace::known_format_names());
  command->add_option("--quarantine", args->quarantine, "Where bad records go (default: OUTPUT.quarantine.jsonl)");
  command->add_flag("--strict", args->strict, "Fail on the first bad record instead of quarantining it");
  command->add_option("--source", args->source, "Set the source of every trajectory");
  command->add_option("--benchmark", args->benchmark, "Set the benchmark of every trajectory");
  command->add_option("--model", args->model, "Set the model of every trajectory");
  command->add_option("--max-record-mb", args->max_record_mb, "Records larger than this are quarantined")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  command->add_option("--compression-level", args->compression_level, "Deflate level of the store, 0-9")
      ->capture_default_str()
      ->check(CLI::Range(0, 9));
  command->add_option("--max-messages", args->max_messages, "Problems printed before the rest are only counted")
      ->capture_default_str();
  command->add_flag("--json", args->json, "Print the summary as JSON");
  command->callback([args, command, &context] { run_ingest(*args, *command, context); });
}

}  // namespace t2s::cli
