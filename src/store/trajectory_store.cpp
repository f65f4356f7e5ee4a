#include "t2s/store/trajectory_store.hpp"

#include "t2s/core/files.hpp"

#include <numeric>

#include "chunk_stream.hpp"


#include <algorithm>
#include <cstring>
#include <deque>
#include <future>

#include "t2s/core/error.hpp"
#include "t2s/core/text.hpp"
#include "t2s/core/version.hpp"
#include "t2s/trace/readers.hpp"

namespace t2s::store {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t kIndexBatch = 1 << 14;  // index rows buffered before an append
constexpr hsize_t kIndexChunk = 1 << 14;
// The id column streams through the compression pool, which holds a few of its chunks at once:
// 256 KiB chunks keep that under 2 MB, where 1 MiB ones made a big ingest's peak memory 4 MB higher
// than a small one's.
constexpr hsize_t kIdChunk = 1 << 12;

// ---- content ids: a compact open-addressing set over the rows' digests ----------------------

// Duplicates are found on the first 128 bits of the SHA-256 id: a false match among even a billion
// trajectories has odds below 1e-20, and it halves what the index holds per row.
using IdKey = std::array<std::uint8_t, 16>;

IdKey key_from_hex(const std::string& hex) {
  auto nibble = [](char c) { return static_cast<std::uint8_t>(c <= '9' ? c - '0' : c - 'a' + 10); };
  IdKey key{};
  for (std::size_t i = 0; i < key.size(); ++i)
    key[i] = static_cast<std::uint8_t>(nibble(hex[2 * i]) << 4 | nibble(hex[2 * i + 1]));
  return key;
}

// Remembers every row's id key and finds duplicates in O(1), in about 24 bytes per row: keys live in
// fixed-size blocks (growing never copies them), the open-addressing table holds 4-byte row numbers.
class IdIndex {
 public:
  // Returns false when `key` is already present; otherwise records it as the next row.
  bool insert(const IdKey& key) {
    if ((size_ + 1) * 4 > slots_.size() * 3) grow();  // load factor at most 3/4
    const std::size_t slot = find_slot(key);
    if (slots_[slot] != kEmpty) return false;
    if (size_ == kEmpty) throw Error("trajectory store: more than 4 billion trajectories in one store");
    if (size_ % kBlock == 0) blocks_.push_back(std::make_unique<IdKey[]>(kBlock));
    blocks_.back()[size_ % kBlock] = key;
    slots_[slot] = static_cast<std::uint32_t>(size_++);
    return true;
  }
  std::size_t size() const { return size_; }

  // Row numbers sorted by id (hex order equals byte order).
  std::vector<std::uint64_t> sorted_rows() const {
    std::vector<std::uint64_t> rows(size_);
    for (std::size_t i = 0; i < rows.size(); ++i) rows[i] = i;
    std::sort(rows.begin(), rows.end(), [&](auto a, auto b) { return at(a) < at(b); });
    return rows;
  }

 private:
  static constexpr std::uint32_t kEmpty = ~std::uint32_t{0};
  static constexpr std::size_t kBlock = 1 << 14;
  const IdKey& at(std::size_t row) const { return blocks_[row / kBlock][row % kBlock]; }
  std::size_t find_slot(const IdKey& key) const {
    std::uint64_t hash;
    std::memcpy(&hash, key.data(), sizeof hash);  // SHA-256 bytes are already uniform
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t slot = hash & mask;; slot = (slot + 1) & mask)
      if (slots_[slot] == kEmpty || at(slots_[slot]) == key) return slot;
  }
  void grow() {
    slots_.assign(std::max<std::size_t>(1024, slots_.size() * 2), kEmpty);
    for (std::size_t row = 0; row < size_; ++row) slots_[find_slot(at(row))] = static_cast<std::uint32_t>(row);
  }
  std::vector<std::uint32_t> slots_;
  std::vector<std::unique_ptr<IdKey[]>> blocks_;
  std::size_t size_ = 0;
};

// Index columns buffered in memory for one batch, then appended.
struct IndexBatch {
  std::vector<std::string> source, benchmark, task_id, model;
  std::vector<std::int64_t> attempt;
  std::vector<std::int8_t> success;
  std::vector<double> reward;
  std::vector<std::uint32_t> n_messages;
  std::vector<std::uint64_t> offset, length;

  std::size_t size() const { return attempt.size(); }
  // Keeps the capacity: batch after batch reuses the same memory instead of fragmenting the heap.
  void clear() {
    for (auto* strings : {&source, &benchmark, &task_id, &model}) strings->clear();
    attempt.clear();
    success.clear();
    reward.clear();
    n_messages.clear();
    offset.clear();
    length.clear();
  }
};

std::vector<const char*> c_strings(const std::vector<std::string>& strings) {
  std::vector<const char*> pointers;
  pointers.reserve(strings.size());
  for (const auto& s : strings) pointers.push_back(s.c_str());
  return pointers;
}

}  // namespace

// ================================================================================== writer

struct TrajectoryStoreWriter::Impl {
  fs::path path, partial;
  StoreWriteOptions options;
  std::unique_ptr<ThreadPool> own_pool;  // when the caller gave none
  h5::Handle file, group, string_type, id_type;
  std::optional<h5::AppendableDataset> id, source, benchmark, task_id, model, attempt, success,
      reward, n_messages, offset, length, text;
  std::unique_ptr<ChunkStreamWriter> blob, ids_stream;  // the text and id columns
  IdIndex ids;
  IndexBatch batch;
  bool committed = false;

  void flush_batch() {
    if (batch.size() == 0) return;
    for (auto [column, values] : {std::pair{&source, &batch.source}, {&benchmark, &batch.benchmark},
                                  {&task_id, &batch.task_id}, {&model, &batch.model}}) {
      auto pointers = c_strings(*values);
      (*column)->append(pointers.data(), pointers.size());
    }
    attempt->append(batch.attempt.data(), batch.size());
    success->append(batch.success.data(), batch.size());
    reward->append(batch.reward.data(), batch.size());
    n_messages->append(batch.n_messages.data(), batch.size());
    offset->append(batch.offset.data(), batch.size());
    length->append(batch.length.data(), batch.size());
    batch.clear();
  }
};

TrajectoryStoreWriter::TrajectoryStoreWriter(fs::path path, StoreWriteOptions options, ThreadPool* pool)
    : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.path = resolve_output(path, false).path;  // a store is a file: a device or FIFO there is refused
  s.partial = s.path;
  s.partial += ".partial";
  s.options = options;
  s.file = h5::create_file(s.partial);
  try {
    open_datasets(pool);
  } catch (...) {
    s.file.reset();
    std::error_code ec;
    fs::remove(s.partial, ec);  // a half-made file is never left behind
    throw;
  }
}

void TrajectoryStoreWriter::open_datasets(ThreadPool* pool) {
  Impl& s = *impl_;
  const StoreWriteOptions& options = s.options;
  s.group = h5::create_group(s.file, "trajectories");
  s.string_type = h5::utf8_string_type();
  s.id_type = h5::fixed_string_type(64);
  // The index columns are small and compress well even at level 1, where HDF5's zlib is fastest.
  const int index_level = std::min(options.compression_level, 1);
  auto column = [&](const char* name, hid_t file_type, hid_t memory_type, std::size_t size) {
    return h5::AppendableDataset(s.group, name, file_type, memory_type, size, kIndexChunk, index_level);
  };
  s.id.emplace(s.group, "id", s.id_type, s.id_type, 64, kIdChunk, index_level);
  s.source.emplace(column("source", s.string_type, s.string_type, sizeof(char*)));
  s.benchmark.emplace(column("benchmark", s.string_type, s.string_type, sizeof(char*)));
  s.task_id.emplace(column("task_id", s.string_type, s.string_type, sizeof(char*)));
  s.model.emplace(column("model", s.string_type, s.string_type, sizeof(char*)));
  s.attempt.emplace(column("attempt", H5T_STD_I64LE, H5T_NATIVE_INT64, 8));
  s.success.emplace(column("success", H5T_STD_I8LE, H5T_NATIVE_INT8, 1));
  s.reward.emplace(column("reward", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 8));
  s.n_messages.emplace(column("n_messages", H5T_STD_U32LE, H5T_NATIVE_UINT32, 4));
  s.offset.emplace(column("offset", H5T_STD_U64LE, H5T_NATIVE_UINT64, 8));
  s.length.emplace(column("length", H5T_STD_U64LE, H5T_NATIVE_UINT64, 8));
  s.text.emplace(s.group, "text", H5T_STD_U8LE, H5T_NATIVE_UINT8, 1, options.chunk_bytes, options.compression_level);
  if (pool == nullptr) {
    s.own_pool = std::make_unique<ThreadPool>(options.compression_threads);
    pool = s.own_pool.get();
  }
  s.blob = std::make_unique<ChunkStreamWriter>(*s.text, 1, options.chunk_bytes, options.compression_level, pool);
  s.ids_stream = std::make_unique<ChunkStreamWriter>(*s.id, 64, kIdChunk, index_level, pool);
}

TrajectoryStoreWriter::~TrajectoryStoreWriter() {
  if (impl_->committed) return;
  impl_->blob.reset();
  impl_->ids_stream.reset();
  impl_->file.reset();
  std::error_code ec;
  fs::remove(impl_->partial, ec);
}

StoreEntry StoreEntry::from(const trace::Trajectory& t) {
  auto record = trace::canonical_record(t);
  StoreEntry entry;
  entry.id = std::move(record.id);
  entry.json = std::move(record.json);
  entry.source = t.source;
  entry.benchmark = t.benchmark;
  entry.task_id = t.task_id;
  entry.model = t.model;
  entry.attempt = t.attempt;
  entry.success = t.outcome.labelled ? (t.outcome.success ? 1 : 0) : -1;
  entry.reward = t.outcome.labelled ? t.outcome.reward : 0.0;
  entry.n_messages = static_cast<std::uint32_t>(t.messages.size());
  return entry;
}

bool TrajectoryStoreWriter::add(const StoreEntry& entry) {
  Impl& s = *impl_;
  if (entry.id.size() != 64) throw Error("trajectory store: an id must be 64 hex digits, got \"" + abbreviate(entry.id, 80) + "\"");
  if (!s.ids.insert(key_from_hex(entry.id))) return false;
  IndexBatch& b = s.batch;
  s.ids_stream->append(entry.id);
  b.source.push_back(entry.source);
  b.benchmark.push_back(entry.benchmark);
  b.task_id.push_back(entry.task_id);
  b.model.push_back(entry.model);
  b.attempt.push_back(entry.attempt);
  b.success.push_back(entry.success);
  b.reward.push_back(entry.reward);
  b.n_messages.push_back(entry.n_messages);
  b.offset.push_back(s.blob->total());
  b.length.push_back(entry.json.size());
  s.blob->append(entry.json);
  if (b.size() == kIndexBatch) s.flush_batch();
  return true;
}

std::uint64_t TrajectoryStoreWriter::size() const { return impl_->ids.size(); }
std::uint64_t TrajectoryStoreWriter::text_bytes() const { return impl_->blob->total(); }

void TrajectoryStoreWriter::commit(const std::vector<std::pair<std::string, std::string>>& attributes) {
  Impl& s = *impl_;
  s.flush_batch();
  s.blob->finish();
  s.blob.reset();
  s.ids_stream->finish();
  s.ids_stream.reset();
  const auto order = s.ids.sorted_rows();
  h5::write_dataset(s.group, "id_order", H5T_STD_U64LE, H5T_NATIVE_UINT64, order.data(), order.size(),
                    s.options.compression_level);
  h5::write_attribute(s.group, "count", static_cast<std::int64_t>(order.size()));
  h5::write_attribute(s.file, "format", kTrajectoryStoreFormat);
  h5::write_attribute(s.file, "format_version", kTrajectoryStoreVersion);
  h5::write_attribute(s.file, "created_by", std::string("t2s ") + version() + " (git " + git_revision() + ")");
  for (const auto& [name, value] : attributes) h5::write_attribute(s.file, name, value);
  for (auto* column : {&s.id, &s.source, &s.benchmark, &s.task_id, &s.model, &s.attempt, &s.success,
                       &s.reward, &s.n_messages, &s.offset, &s.length, &s.text})
    column->reset();
  s.own_pool.reset();
  s.group.reset();
  h5::check(H5Fflush(s.file, H5F_SCOPE_GLOBAL), s.partial.string() + ": flush");
  s.file.close(s.partial.string());
  commit_output(s.partial, s.path);
  s.committed = true;
}

// ================================================================================== reader

TrajectoryStore::TrajectoryStore(const fs::path& path) : path_(path) {
  file_ = h5::open_file(path);
  const std::string name = path.string();
  std::string format;
  try {
    format = h5::read_string_attribute(file_, "format");
  } catch (const Error&) {
    throw InputError(name + ": HDF5 file without a trace2skill format attribute (not a trajectory store)");
  }
  if (format != kTrajectoryStoreFormat)
    throw InputError(name + ": holds \"" + format + "\", not a trajectory store");
  const auto version = h5::read_int_attribute(file_, "format_version");
  if (version > kTrajectoryStoreVersion)
    throw InputError(name + ": trajectory store format version " + std::to_string(version) +
                     " is newer than this t2s understands (" + std::to_string(kTrajectoryStoreVersion) + ")");
  group_ = h5::Handle(h5::check(H5Gopen2(file_, "trajectories", H5P_DEFAULT), name + ": /trajectories"), H5Gclose);
  size_ = static_cast<std::uint64_t>(h5::read_int_attribute(group_, "count"));
  // A larger chunk cache keeps sequential reads of the text blob from re-inflating chunks.
  h5::Handle dapl(h5::check(H5Pcreate(H5P_DATASET_ACCESS), "H5Pcreate"), H5Pclose);
  h5::check(H5Pset_chunk_cache(dapl, 521, std::size_t{64} << 20, 1.0), "H5Pset_chunk_cache");
  text_ = h5::Handle(h5::check(H5Dopen2(group_, "text", dapl), name + ": /trajectories/text"), H5Dclose);
}

std::string TrajectoryStore::created_by() const { return h5::read_string_attribute(file_, "created_by"); }

std::uint64_t TrajectoryStore::stored_text_bytes() const { return H5Dget_storage_size(text_); }

std::vector<std::uint64_t> TrajectoryStore::id_order(std::uint64_t first, std::uint64_t count) const {
  if (first + count > size_) throw Error(path_.string() + ": id_order range past the end of the store");
  std::vector<std::uint64_t> rows(count);
  auto dataset = h5::open_dataset(group_, "id_order");
  h5::read_range(dataset, H5T_NATIVE_UINT64, first, count, rows.data());
  return rows;
}

std::vector<IndexRow> TrajectoryStore::rows(std::span<const std::uint64_t> row_numbers) const {
  const std::size_t n = row_numbers.size();
  std::vector<IndexRow> out(n);
  if (n == 0) return out;
  for (auto row : row_numbers)
    if (row >= size_) throw Error(path_.string() + ": row " + std::to_string(row) + " past the end of the store");
  auto read_numbers = [&](const char* name, hid_t type, auto member) {
    using Value = std::remove_reference_t<decltype(out[0].*member)>;
    std::vector<Value> values(n);
    h5::read_points(h5::open_dataset(group_, name), type, row_numbers, values.data());
    for (std::size_t i = 0; i < n; ++i) out[i].*member = values[i];
  };
  read_numbers("attempt", H5T_NATIVE_INT64, &IndexRow::attempt);
  read_numbers("success", H5T_NATIVE_INT8, &IndexRow::success);
  read_numbers("reward", H5T_NATIVE_DOUBLE, &IndexRow::reward);
  read_numbers("n_messages", H5T_NATIVE_UINT32, &IndexRow::n_messages);
  read_numbers("offset", H5T_NATIVE_UINT64, &IndexRow::offset);
  read_numbers("length", H5T_NATIVE_UINT64, &IndexRow::length);
  {
    auto ids_read = ids(row_numbers);
    for (std::size_t i = 0; i < n; ++i) out[i].id = std::move(ids_read[i]);
  }
  for (auto [name, member] : {std::pair{"source", &IndexRow::source}, {"benchmark", &IndexRow::benchmark},
                              {"task_id", &IndexRow::task_id}, {"model", &IndexRow::model}}) {
    auto values = h5::read_string_points(h5::open_dataset(group_, name), row_numbers);
    for (std::size_t i = 0; i < n; ++i) out[i].*member = std::move(values[i]);
  }
  for (std::size_t i = 0; i < n; ++i) out[i].row = row_numbers[i];
  return out;
}

std::vector<std::string> TrajectoryStore::ids(std::span<const std::uint64_t> row_numbers) const {
  for (auto row : row_numbers)
    if (row >= size_) throw Error(path_.string() + ": row " + std::to_string(row) + " past the end of the store");
  std::vector<std::array<char, 64>> raw(row_numbers.size());
  h5::read_points(h5::open_dataset(group_, "id"), h5::fixed_string_type(64), row_numbers, raw.data());
  std::vector<std::string> out;
  out.reserve(raw.size());
  for (const auto& id : raw) out.emplace_back(id.data(), id.size());
  return out;
}

std::vector<std::int8_t> TrajectoryStore::success_column() const {
  std::vector<std::int8_t> values(size_);
  if (size_ > 0) h5::read_range(h5::open_dataset(group_, "success"), H5T_NATIVE_INT8, 0, size_, values.data());
  return values;
}

std::vector<std::string> TrajectoryStore::task_id_column() const {
  std::vector<std::uint64_t> all(size_);
  std::iota(all.begin(), all.end(), 0);
  return h5::read_string_points(h5::open_dataset(group_, "task_id"), all);
}

std::string TrajectoryStore::record_json(const IndexRow& row) const {
  std::string json(row.length, '\0');
  h5::read_range(text_, H5T_NATIVE_UINT8, row.offset, row.length, json.data());
  return json;
}

trace::Trajectory TrajectoryStore::trajectory(const IndexRow& row) const {
  return trace::parse_openai_record(record_json(row), path_.string() + " row " + std::to_string(row.row));
}

void TrajectoryStore::for_each_batch(std::uint64_t first, std::uint64_t count, const std::function<void(RecordBatch&&)>& f) const {
  if (first > size_ || count > size_ - first) throw Error(path_.string() + ": rows past the end of the store");
  // The index columns in large batches (each column chunk is inflated once), the text in small ones.
  constexpr std::uint64_t kIndexRows = 1 << 16, kTextRows = 1024;
  std::vector<std::uint64_t> numbers;
  for (std::uint64_t at = first; at < first + count; at += kIndexRows) {
    numbers.resize(std::min(kIndexRows, first + count - at));
    std::iota(numbers.begin(), numbers.end(), at);
    auto index = rows(numbers);
    for (std::size_t from = 0; from < index.size(); from += kTextRows) {
      RecordBatch batch;
      const auto begin_row = index.begin() + static_cast<std::ptrdiff_t>(from);
      batch.rows.assign(std::make_move_iterator(begin_row),
                        std::make_move_iterator(begin_row + static_cast<std::ptrdiff_t>(std::min<std::size_t>(kTextRows, index.size() - from))));
      batch.text_begin = batch.rows.front().offset;
      const std::uint64_t end = batch.rows.back().offset + batch.rows.back().length;
      for (const auto& row : batch.rows)
        if (row.offset < batch.text_begin || row.offset + row.length > end)
          throw Error(path_.string() + ": row " + std::to_string(row.row) + " lies outside its batch of the text blob");
      batch.text.resize(end - batch.text_begin);
      h5::read_range(text_, H5T_NATIVE_UINT8, batch.text_begin, batch.text.size(), batch.text.data());
      f(std::move(batch));
    }
  }
}

}  // namespace t2s::store
