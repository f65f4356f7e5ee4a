#include "t2s/store/ingest.hpp"

#include <algorithm>
#include <deque>
#include <fstream>
#include <future>
#include <variant>

#include "t2s/core/canonical_json.hpp"
#include "t2s/core/error.hpp"
#include "t2s/core/text.hpp"
#include "t2s/core/thread_pool.hpp"

namespace t2s::store {

namespace fs = std::filesystem;

IngestCounts& IngestCounts::operator+=(const IngestCounts& other) {
  read += other.read;
  accepted += other.accepted;
  duplicates += other.duplicates;
  quarantined += other.quarantined;
  return *this;
}

namespace {

// The quarantine file is created on the first bad record only.
class Quarantine {
 public:
  explicit Quarantine(fs::path path) : path_(std::move(path)) {}
  void write(const trace::BadRecord& bad) {
    if (!out_.is_open()) {
      out_.open(path_, std::ios::binary | std::ios::trunc);
      if (!out_) throw Error(path_.string() + ": cannot create the quarantine file");
      used_ = true;
    }
    nlohmann::json entry = {{"file", bad.where.file}, {"byte_offset", bad.where.byte_offset}, {"reason", bad.reason}};
    switch (bad.where.unit) {
      case trace::RecordLocation::Unit::line: entry["line"] = bad.where.number; break;
      case trace::RecordLocation::Unit::index: entry["index"] = bad.where.number; break;
      case trace::RecordLocation::Unit::file: break;
    }
    // The raw bytes go in as text when they are valid UTF-8, else repaired with the exact bytes
    // beside them in base64, so nothing is lost.
    if (find_invalid_utf8(bad.raw) == std::string::npos) {
      entry["raw"] = bad.raw;
    } else {
      entry["raw"] = repair_utf8(bad.raw);
      entry["raw_base64"] = base64(bad.raw);
    }
    if (bad.raw_truncated) entry["raw_truncated"] = true;
    std::string line = canonical_json(entry);
    line.push_back('\n');
    out_.write(line.data(), static_cast<std::streamsize>(line.size()));
    if (!out_) throw Error(path_.string() + ": write failed");
  }
  bool used() const { return used_; }
  void close() {
    if (out_.is_open()) out_.close();
  }

 private:
  fs::path path_;
  std::ofstream out_;
  bool used_ = false;
};

// Applies parsed records in input order: accepted (new id), duplicate, or quarantined.
class Accounting {
 public:
  Accounting(TrajectoryStoreWriter& writer, Quarantine& quarantine, const IngestOptions& options,
             IngestSummary& summary)
      : writer_(writer), quarantine_(quarantine), options_(options), summary_(summary) {}

  void start(InputSummary& input) { input_ = &input; }

  void accept(const StoreEntry& entry) {
    ++input_->counts.read;
    if (!writer_.add(entry)) {
      ++input_->counts.duplicates;
      return;
    }
    ++input_->counts.accepted;
    if (entry.success < 0) ++summary_.unlabelled;
    else if (entry.success > 0) ++summary_.successes;
    else ++summary_.failures;
  }

  void reject(const trace::BadRecord& bad) {
    ++input_->counts.read;
    const std::string message = bad.where.to_string() + ": " + bad.reason;
    if (options_.strict) throw InputError(message + " (--strict: nothing was written)");
    ++input_->counts.quarantined;
    quarantine_.write(bad);
    if (options_.warn) options_.warn(message);
  }

 private:
  TrajectoryStoreWriter& writer_;
  Quarantine& quarantine_;
  const IngestOptions& options_;
  IngestSummary& summary_;
  InputSummary* input_ = nullptr;
};

// Parses framed records on the pool, a batch at a time, and hands the results to the accounting in
// the order they were framed: the store comes out the same whatever the thread timing.
class ParallelParser {
 public:
  ParallelParser(ThreadPool& pool, trace::Format format, const trace::ReaderOptions& options, Accounting& accounting)
      : pool_(pool), format_(format), options_(options), accounting_(accounting) {}

  void add(trace::RawRecord&& raw) {
    batch_bytes_ += raw.text.size();
    batch_.push_back(std::move(raw));
    if (batch_bytes_ >= kBatchBytes || batch_.size() >= kBatchRecords) submit();
  }

  void finish() {
    submit();
    while (!in_flight_.empty()) apply_oldest();
  }

 private:
  static constexpr std::size_t kBatchBytes = std::size_t{256} << 10, kBatchRecords = 64;
  using Parsed = std::vector<std::variant<StoreEntry, trace::BadRecord>>;

  void submit() {
    if (batch_.empty()) return;
    in_flight_.push_back(pool_.submit([batch = std::move(batch_), format = format_, options = &options_]() mutable {
      Parsed parsed;
      parsed.reserve(batch.size());
      thread_local trace::Trajectory scratch;  // its storage is reused record after record
      for (auto& raw : batch) {
        if (auto bad = trace::parse_record(format, std::move(raw), *options, scratch))
          parsed.emplace_back(std::move(*bad));
        else
          parsed.emplace_back(StoreEntry::from(scratch));
      }
      return parsed;
    }));
    batch_ = {};
    batch_bytes_ = 0;
    // Bounds memory. Kept shallow on purpose: every page first touched costs a fault (10-17 us on
    // these VMs), and deeper queues only added faults, not overlap.
    while (in_flight_.size() > 3 * pool_.size()) apply_oldest();
  }

  void apply_oldest() {
    const Parsed parsed = in_flight_.front().get();
    in_flight_.pop_front();
    for (const auto& result : parsed) {
      if (const auto* entry = std::get_if<StoreEntry>(&result)) accounting_.accept(*entry);
      else accounting_.reject(std::get<trace::BadRecord>(result));
    }
  }

  ThreadPool& pool_;
  trace::Format format_;
  const trace::ReaderOptions& options_;
  Accounting& accounting_;
  std::vector<trace::RawRecord> batch_;
  std::size_t batch_bytes_ = 0;
  std::deque<std::future<Parsed>> in_flight_;
};

// True when the file holds nothing but white space (and perhaps a UTF-8 byte order mark).
bool is_blank_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in.is_open()) throw InputError(file.string() + ": cannot open");
  char buffer[4096];
  bool start = true;
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    std::streamsize i = 0;
    if (start && in.gcount() >= 3 && std::string_view(buffer, 3) == "\xEF\xBB\xBF") i = 3;
    start = false;
    for (; i < in.gcount(); ++i)
      if (buffer[i] != ' ' && buffer[i] != '\n' && buffer[i] != '\r' && buffer[i] != '\t') return false;
  }
  if (in.bad()) throw InputError(file.string() + ": read error");
  return true;
}

bool same_file(const fs::path& a, const fs::path& b) {
  std::error_code ec;
  return fs::weakly_canonical(a, ec) == fs::weakly_canonical(b, ec);
}

// The inputs without the files this ingest writes: a directory input may contain the output store
// and its quarantine file from an earlier run, and reading those back would feed the quarantine
// into itself.
std::vector<fs::path> inputs_without_outputs(const std::vector<fs::path>& files, const std::vector<fs::path>& outputs) {
  std::vector<fs::path> kept;
  for (const auto& file : files)
    if (std::none_of(outputs.begin(), outputs.end(), [&](const fs::path& output) { return same_file(file, output); }))
      kept.push_back(file);
  return kept;
}

void ingest_store(const fs::path& file, const trace::ReaderOptions& options, Accounting& accounting) {
  TrajectoryStore store(file);
  constexpr std::uint64_t kBatch = 4096;
  for (std::uint64_t first = 0; first < store.size(); first += kBatch) {
    std::vector<std::uint64_t> rows(std::min(kBatch, store.size() - first));
    for (std::size_t i = 0; i < rows.size(); ++i) rows[i] = first + i;
    for (const auto& row : store.rows(rows)) {
      trace::Trajectory trajectory = store.trajectory(row);
      trace::apply_overrides(trajectory, options);
      accounting.accept(StoreEntry::from(trajectory));
    }
  }
}

}  // namespace

IngestSummary ingest(const std::vector<fs::path>& inputs, const IngestOptions& options) {
  IngestSummary summary;
  summary.output = options.output;
  const fs::path quarantine_path =
      options.quarantine.empty() ? fs::path(options.output.string() + ".quarantine.jsonl") : options.quarantine;
  const fs::path partial_path = fs::path(options.output.string() + ".partial");
  for (const auto& input : inputs)
    for (const auto& written : {options.output, quarantine_path})
      if (same_file(input, written))
        throw InputError(input.string() + ": is also where this ingest writes; choose another output or quarantine file");
  const auto files = inputs_without_outputs(trace::expand_inputs(inputs), {options.output, partial_path, quarantine_path});
  if (const auto parent = options.output.parent_path(); !parent.empty()) {
    std::error_code ec;
    fs::create_directories(parent, ec);
    if (ec) throw Error(parent.string() + ": cannot create the output directory: " + ec.message());
  }

  // One pool parses records and compresses the store's chunks; this thread frames and writes.
  ThreadPool pool(options.store.compression_threads);
  TrajectoryStoreWriter writer(options.output, options.store, &pool);
  Quarantine quarantine(quarantine_path);
  Accounting accounting(writer, quarantine, options, summary);
  summary.inputs.reserve(files.size());
  for (const auto& file : files) {
    std::error_code ec;
    InputSummary& input = summary.inputs.emplace_back();
    input.file = file;
    input.bytes = fs::file_size(file, ec);
    summary.input_bytes += input.bytes;
    if (is_blank_file(file)) {
      const std::string message = file.string() + ": empty file, no records";
      if (options.strict) throw InputError(message + " (--strict: nothing was written)");
      if (options.warn) options.warn(message);
      input.format = options.format.value_or(trace::Format::openai_jsonl);
      continue;
    }
    input.format = options.format ? *options.format : trace::detect_format(file);
    accounting.start(input);
    trace::ReaderOptions reader = options.reader;
    if (!reader.warn) reader.warn = options.warn;
    if (input.format == trace::Format::t2s_store) {
      ingest_store(file, reader, accounting);
    } else {
      ParallelParser parser(pool, input.format, reader, accounting);
      trace::frame_records(file, input.format, reader, [&](trace::RawRecord&& raw) { parser.add(std::move(raw)); });
      parser.finish();
    }
    summary.total += input.counts;
  }
  summary.text_bytes = writer.text_bytes();
  writer.commit();
  quarantine.close();
  if (quarantine.used()) {
    summary.quarantine = quarantine_path;
  } else {
    std::error_code ec;
    fs::remove(quarantine_path, ec);  // a stale one from an earlier run would mislead
  }
  std::error_code ec;
  summary.output_bytes = fs::file_size(options.output, ec);
  return summary;
}

std::vector<std::string> label_warnings(const std::string& store, std::uint64_t successes, std::uint64_t failures,
                                        std::uint64_t unlabelled) {
  std::vector<std::string> warnings;
  const std::uint64_t labelled = successes + failures, total = labelled + unlabelled;
  if (total == 0) return warnings;
  const std::string how =
      "add a top-level \"success\" (true/false) or \"reward\" (0 to 1) to each record, or an \"outcome\" "
      "object (README: Labels)";
  if (labelled == 0) {
    warnings.push_back(store + " has no outcome labels: " + std::to_string(unlabelled) + " of " + std::to_string(total) +
                       " trajectories are unlabelled; the stats, success and error analysts need labels; " + how);
    return warnings;
  }
  if (unlabelled > 0)
    warnings.push_back(store + ": " + std::to_string(unlabelled) + " of " + std::to_string(total) +
                       " trajectories are unlabelled; the analysts skip them; " + how);
  if (failures == 0)
    warnings.push_back(store + " has only one outcome: all " + std::to_string(labelled) +
                       " labelled trajectories succeeded, none failed; the stats analyst needs both outcomes and "
                       "the error analysts need failures");
  else if (successes == 0)
    warnings.push_back(store + " has only one outcome: all " + std::to_string(labelled) +
                       " labelled trajectories failed, none succeeded; the stats analyst needs both outcomes and "
                       "the success analysts need successes");
  return warnings;
}

}  // namespace t2s::store
