// trace/readers: streaming readers for external trajectory formats (DESIGN §4).
//
// Every record a reader meets goes to the sink exactly once: as a trajectory (accepted) or as a bad
// record with its location and reason (to be quarantined). Readers stream: memory use is bounded by
// the largest record, never by the size of the file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "t2s/trace/trajectory.hpp"

namespace t2s::trace {

enum class Format {
  openai_jsonl,  // one trajectory per line: {"messages": [...], optional metadata}
  taubench,      // tau-bench results: a JSON array of {task_id, trial, reward, info, traj}
  atif,          // Harbor's Agent Trajectory Interchange Format: one trajectory.json per run
  t2s_store,     // a trajectory store written by `t2s ingest` (read by the store module)
};

std::string_view format_name(Format format);                  // "openai", "taubench", ...
std::optional<Format> parse_format(std::string_view name);    // inverse of format_name
std::string known_format_names();                             // "openai, taubench, atif, t2s"

// Looks at the first bytes of a file (and its name) to tell its format; throws InputError naming
// the file when it matches none.
Format detect_format(const std::filesystem::path& file);

// Expands the command-line inputs: files stay as given, directories are walked (sorted, so the order
// is the same everywhere) for *.jsonl, *.h5 and ATIF trajectory.json files.
std::vector<std::filesystem::path> expand_inputs(const std::vector<std::filesystem::path>& inputs);

// Where a record was found: "file.jsonl:17" (line), "file.json[3]" (array index), or the file.
struct RecordLocation {
  enum class Unit { line, index, file };
  std::string file;
  Unit unit = Unit::file;
  std::uint64_t number = 0;       // 1-based line, or 0-based array index
  std::uint64_t byte_offset = 0;  // where the record starts in the file
  std::string to_string() const;
};

struct BadRecord {
  RecordLocation where;
  std::string reason;
  std::string raw;  // the record's bytes as read (possibly cut short for huge records)
  bool raw_truncated = false;
};

class RecordSink {
 public:
  virtual ~RecordSink() = default;
  virtual void accept(Trajectory&& trajectory, const RecordLocation& where) = 0;
  virtual void reject(BadRecord&& bad) = 0;
};

struct ReaderOptions {
  // Applied to every trajectory read, overriding what the file says (when not empty).
  std::string source, benchmark, model;
  // A record larger than this is rejected without being held in memory.
  std::size_t max_record_bytes = std::size_t{256} << 20;
  // Problems that lose no record (a JSON array missing only its closing bracket) are reported here.
  std::function<void(const std::string&)> warn;
};

// Sets source, benchmark and model from the options where they are not empty.
void apply_overrides(Trajectory& trajectory, const ReaderOptions& options);

// Reading is two steps so that the second can run in parallel: framing finds each record's bytes
// (sequential and cheap), parsing turns one record into a trajectory (thread-safe).

// A framed record. Framing alone can already find it bad (too large, cut off by the end of the
// file, a broken array): then `framing_error` says why.
struct RawRecord {
  RecordLocation where;
  std::string text;
  std::string framing_error;
  bool text_truncated = false;  // `text` holds only the first bytes of the record
};
using RawRecordHandler = std::function<void(RawRecord&&)>;

// Frames every record of one file (any format but t2s_store), in file order. Throws InputError when
// the file as a whole cannot be read (missing, unreadable, not the format at all).
void frame_records(const std::filesystem::path& file, Format format, const ReaderOptions& options,
                   const RawRecordHandler& handle);

// Parses one framed record into a trajectory (options' overrides applied) or a bad record.
std::variant<Trajectory, BadRecord> parse_record(Format format, RawRecord&& raw, const ReaderOptions& options);
// The same into `out`, whose storage is reused (a worker parses record after record into one
// scratch trajectory); nullopt on success. After a bad record `out` holds nothing meaningful.
std::optional<BadRecord> parse_record(Format format, RawRecord&& raw, const ReaderOptions& options,
                                      Trajectory& out);

// Both steps, one record at a time, into the sink.
void read_file(const std::filesystem::path& file, Format format, const ReaderOptions& options,
               RecordSink& sink);

// Parses one OpenAI chat record (a line of OpenAI JSONL, or a canonical record from the store).
// Throws InputError("<where>: <reason>") when it is not a valid trajectory.
Trajectory parse_openai_record(std::string_view json, const std::string& where);

}  // namespace t2s::trace
