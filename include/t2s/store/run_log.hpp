// store/run_log: the checkpoint of a run. Every rank writes the results it completes (analyses,
// merge-tree nodes, decisions) as records to its own files in the run's parts/ directory; a rerun
// reads them all back and does not redo what they hold.
//
// A record is (kind, key, JSON text). A flush writes the buffered records as one new segment file,
// "<stem>.<seq>.h5", built under ".partial" and renamed: a kill loses at most the records not yet
// flushed (they are redone), never a half-written file. Segments are never rewritten. Layout:
//   /records/kind, /records/key   variable-length UTF-8 strings, one row per record
//   /records/offset, /records/length   uint64: where the record's JSON sits in /records/text
//   /records/text   uint8, deflated: the JSON texts back to back
//   root attributes: format = "trace2skill/run-log", format_version = 1, created_by
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace t2s::store {

struct RunRecord {
  std::string kind, key, json;
};

class RunLogWriter {
 public:
  // Segments go to `directory` (created when missing) as "<stem>.<seq>.h5", seq counting on from
  // the segments with this stem already there.
  RunLogWriter(std::filesystem::path directory, std::string stem);
  ~RunLogWriter();  // flushes; errors there are swallowed (call flush() to see them)
  RunLogWriter(const RunLogWriter&) = delete;
  RunLogWriter& operator=(const RunLogWriter&) = delete;

  void add(std::string kind, std::string key, std::string json);
  // Writes the buffered records as a new segment (nothing when none are buffered).
  void flush();
  std::size_t buffered() const { return buffer_.size(); }

 private:
  std::filesystem::path directory_;
  std::string stem_;
  std::uint64_t next_seq_ = 0;
  std::vector<RunRecord> buffer_;
};

// Every record of every committed segment in `directory` (none when it does not exist), segments
// in name order, records in file order. Throws Error naming a segment that cannot be read.
std::vector<RunRecord> read_run_log(const std::filesystem::path& directory);

// The same records, one segment at a time (memory holds one segment, not the whole run).
void visit_run_log(const std::filesystem::path& directory, const std::function<void(RunRecord&&)>& visit);

}  // namespace t2s::store
