// store/trajectory_store: trajectories.h5, the HDF5 trajectory store of DESIGN §4.
//
// Layout (readable with h5py; documented in README.md):
//   /                     attrs format="trace2skill/trajectories", format_version=1, created_by
//   /trajectories         attr count
//     id                  S64      content id (hex SHA-256), one row per trajectory, in ingest order
//     source, benchmark, task_id, model   variable-length UTF-8 strings
//     attempt             int64
//     success             int8     1 success, 0 failure, -1 unlabelled
//     reward              float64
//     n_messages          uint32
//     offset, length      uint64   where the trajectory's canonical JSON sits in `text`
//     text                uint8    all canonical JSON records back to back; chunked, deflate
//     id_order            uint64   row numbers sorted by id: rank r of N shards this list
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "t2s/core/thread_pool.hpp"
#include "t2s/store/hdf5.hpp"
#include "t2s/trace/trajectory.hpp"

namespace t2s::store {

inline constexpr const char* kTrajectoryStoreFormat = "trace2skill/trajectories";
inline constexpr std::int64_t kTrajectoryStoreVersion = 1;

struct StoreWriteOptions {
  int compression_level = 6;                  // deflate level, 0 = uncompressed
  std::size_t chunk_bytes = std::size_t{1} << 20;  // chunk size of the text blob
  unsigned compression_threads = 0;           // 0 = one per core (ignored when given a pool)
};

// What the store keeps of one trajectory: its index columns and its canonical record. Made from a
// trajectory on any thread; the trajectory itself is not needed afterwards.
struct StoreEntry {
  std::string id, json;  // trace::canonical_record
  std::string source, benchmark, task_id, model;
  std::int64_t attempt = 0;
  std::int8_t success = -1;  // 1 success, 0 failure, -1 unlabelled
  double reward = 0.0;
  std::uint32_t n_messages = 0;

  static StoreEntry from(const trace::Trajectory& trajectory);
};

// Writes a new store. The file is built under "<path>.partial" and renamed into place by commit(),
// so a crash never leaves a half-written store under the final name.
class TrajectoryStoreWriter {
 public:
  // Compresses on `pool` when given (shared with the caller's other work), else on its own threads.
  explicit TrajectoryStoreWriter(std::filesystem::path path, StoreWriteOptions options = {},
                                 ThreadPool* pool = nullptr);
  ~TrajectoryStoreWriter();
  TrajectoryStoreWriter(const TrajectoryStoreWriter&) = delete;
  TrajectoryStoreWriter& operator=(const TrajectoryStoreWriter&) = delete;

  // Adds one trajectory. Returns false, and stores nothing, when a trajectory with the same id is
  // already in the store.
  bool add(const StoreEntry& entry);
  bool add(const trace::Trajectory& trajectory) { return add(StoreEntry::from(trajectory)); }

  std::uint64_t size() const;
  std::uint64_t text_bytes() const;

  // Writes the id order and root attributes (plus `attributes`), closes and renames the file.
  void commit(const std::vector<std::pair<std::string, std::string>>& attributes = {});

 private:
  void open_datasets(ThreadPool* pool);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One row of the index columns.
struct IndexRow {
  std::uint64_t row = 0;
  std::string id, source, benchmark, task_id, model;
  std::int64_t attempt = 0;
  std::int8_t success = -1;
  double reward = 0.0;
  std::uint32_t n_messages = 0;
  std::uint64_t offset = 0, length = 0;
};

// Consecutive rows of a store and their canonical JSON records, read in one piece of the text blob.
struct RecordBatch {
  std::vector<IndexRow> rows;
  std::string text;              // the records of `rows`, back to back
  std::uint64_t text_begin = 0;  // the blob offset of text[0]
  std::string_view record(std::size_t i) const {
    return std::string_view(text).substr(rows[i].offset - text_begin, rows[i].length);
  }
};

// Reads a store. Every method reads only what it is asked for.
class TrajectoryStore {
 public:
  explicit TrajectoryStore(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return path_; }
  std::uint64_t size() const { return size_; }
  std::string created_by() const;
  std::uint64_t stored_text_bytes() const;  // bytes the compressed blob takes in the file

  // Row numbers at positions [first, first+count) of the id-sorted order.
  std::vector<std::uint64_t> id_order(std::uint64_t first, std::uint64_t count) const;
  // Index rows, in the order of `rows`.
  std::vector<IndexRow> rows(std::span<const std::uint64_t> rows) const;
  // Just the ids of `rows`, in their order (a tenth of the reading of rows()).
  std::vector<std::string> ids(std::span<const std::uint64_t> rows) const;
  // Two index columns of every row, read whole (what the stats analyst plans its tests from):
  // success (-1 unlabelled, 0, 1) and task_id.
  std::vector<std::int8_t> success_column() const;
  std::vector<std::string> task_id_column() const;
  // The canonical JSON record of a row, and the trajectory parsed from it.
  std::string record_json(const IndexRow& row) const;
  trace::Trajectory trajectory(const IndexRow& row) const;

  // Calls f(batch) for rows [first, first+count) in storage order, a batch of consecutive rows with
  // their canonical JSON records at a time. Rows are stored back to back, so the text blob is read in
  // large contiguous pieces and each chunk is inflated once: the fast way through many rows (reading
  // rows one by one in id order inflates a chunk per row). Each batch owns its text, so it can be
  // handed to another thread while the next one is read.
  void for_each_batch(std::uint64_t first, std::uint64_t count, const std::function<void(RecordBatch&&)>& f) const;

 private:
  std::filesystem::path path_;
  h5::Handle file_, group_, text_;
  std::uint64_t size_ = 0;
};

}  // namespace t2s::store
