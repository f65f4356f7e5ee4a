#include "t2s/store/llm_recording.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "chunk_stream.hpp"
#include "t2s/core/error.hpp"
#include "t2s/core/files.hpp"
#include "t2s/core/version.hpp"
#include "t2s/store/hdf5.hpp"

namespace t2s::store {

namespace fs = std::filesystem;

namespace {
constexpr const char* kFormat = "trace2skill/llm-recordings";
constexpr std::int64_t kVersion = 1;
constexpr std::size_t kTextChunk = std::size_t{1} << 20;
constexpr std::size_t kIndexChunk = 1024;
constexpr const char* kSuffix = ".llm.h5";
constexpr std::size_t kRollRows = 512;
constexpr auto kRollAge = std::chrono::minutes(2);

bool is_recording_file(const fs::path& path) {
  const std::string name = path.filename().string();
  return name.size() > std::strlen(kSuffix) && name.ends_with(kSuffix);
}
}  // namespace

struct RecordingStore::ReadFile {
  fs::path path;
  h5::Handle file, text;
};

struct RecordingStore::Writer {
  fs::path path, partial;
  h5::Handle file, group, string_type, key_type;
  std::optional<h5::AppendableDataset> key, stage, offset, request_length, response_length, text;
  std::unique_ptr<ChunkStreamWriter> blob;
  std::vector<std::array<char, 64>> keys;
  std::vector<std::string> stages;
  std::vector<std::uint64_t> offsets, request_lengths, response_lengths;
  std::size_t rows = 0;
  bool closed = false;
  std::chrono::steady_clock::time_point opened = std::chrono::steady_clock::now();

  explicit Writer(fs::path target) : path(std::move(target)) {
    if (fs::exists(path)) throw InputError(path.string() + ": recordings exist already and are never overwritten");
    partial = path;
    partial += ".partial";
    if (path.has_parent_path()) fs::create_directories(path.parent_path());
    file = h5::create_file(partial);
    h5::write_attribute(file, "format", kFormat);
    h5::write_attribute(file, "format_version", kVersion);
    h5::write_attribute(file, "created_by", std::string("t2s ") + version());
    group = h5::create_group(file, "llm");
    string_type = h5::utf8_string_type();
    key_type = h5::fixed_string_type(64);
    key.emplace(group, "key", key_type, key_type, 64, kIndexChunk, 1);
    stage.emplace(group, "stage", string_type, string_type, sizeof(char*), kIndexChunk, 1);
    offset.emplace(group, "offset", H5T_STD_U64LE, H5T_NATIVE_UINT64, 8, kIndexChunk, 1);
    request_length.emplace(group, "request_length", H5T_STD_U64LE, H5T_NATIVE_UINT64, 8, kIndexChunk, 1);
    response_length.emplace(group, "response_length", H5T_STD_U64LE, H5T_NATIVE_UINT64, 8, kIndexChunk, 1);
    text.emplace(group, "text", H5T_STD_U8LE, H5T_NATIVE_UINT8, 1, kTextChunk, 6);
    blob = std::make_unique<ChunkStreamWriter>(*text, 1, kTextChunk, 6, nullptr);
  }

  ~Writer() {
    if (closed) return;
    blob.reset();
    file.reset();
    std::error_code ec;
    fs::remove(partial, ec);
  }

  void add(const std::string& k, const std::string& stage_name, const std::string& request, const std::string& response) {
    std::array<char, 64> fixed{};
    std::memcpy(fixed.data(), k.data(), std::min<std::size_t>(64, k.size()));
    keys.push_back(fixed);
    stages.push_back(stage_name);
    offsets.push_back(blob->total());
    request_lengths.push_back(request.size());
    response_lengths.push_back(response.size());
    blob->append(request);
    blob->append(response);
    ++rows;
    if (keys.size() == kIndexChunk) flush();
  }

  void flush() {
    if (keys.empty()) return;
    key->append(keys.data(), keys.size());
    std::vector<const char*> pointers;
    for (const auto& s : stages) pointers.push_back(s.c_str());
    stage->append(pointers.data(), pointers.size());
    offset->append(offsets.data(), offsets.size());
    request_length->append(request_lengths.data(), request_lengths.size());
    response_length->append(response_lengths.data(), response_lengths.size());
    keys.clear();
    stages.clear();
    offsets.clear();
    request_lengths.clear();
    response_lengths.clear();
  }

  void close() {
    if (closed) return;
    flush();
    blob->finish();
    blob.reset();
    h5::write_attribute(group, "count", static_cast<std::int64_t>(rows));
    key.reset();
    stage.reset();
    offset.reset();
    request_length.reset();
    response_length.reset();
    text.reset();
    group.reset();
    file.reset();
    commit_output(partial, path);
    closed = true;
  }
};

RecordingStore::RecordingStore(const std::vector<fs::path>& read_paths, std::optional<fs::path> write_file) {
  h5::silence_error_printing();
  // The recordings of one group laid out as above (/llm of a recording file, or /llm/<name> of a run
  // archive) go into the index.
  const auto index_group = [&](h5::Handle file, hid_t group, const fs::path& where) {
    auto read = std::make_unique<ReadFile>();
    read->path = where;
    read->file = std::move(file);
    const auto count = static_cast<std::uint64_t>(h5::read_int_attribute(group, "count"));
    std::vector<std::array<char, 64>> keys(count);
    std::vector<std::uint64_t> offsets(count), requests(count), responses(count);
    auto key_type = h5::fixed_string_type(64);
    h5::read_range(h5::open_dataset(group, "key"), key_type, 0, count, keys.data());
    h5::read_range(h5::open_dataset(group, "offset"), H5T_NATIVE_UINT64, 0, count, offsets.data());
    h5::read_range(h5::open_dataset(group, "request_length"), H5T_NATIVE_UINT64, 0, count, requests.data());
    h5::read_range(h5::open_dataset(group, "response_length"), H5T_NATIVE_UINT64, 0, count, responses.data());
    read->text = h5::open_dataset(group, "text");
    const std::size_t index = files_.size();
    for (std::uint64_t row = 0; row < count; ++row)
      index_.emplace(std::string(keys[row].data(), 64), Location{index, offsets[row], requests[row], responses[row]});
    files_.push_back(std::move(read));
  };
  std::vector<fs::path> paths, archives;
  for (const auto& path : read_paths) {
    std::error_code ec;
    if (fs::is_regular_file(path, ec)) {
      archives.push_back(path);
      continue;
    }
    if (!fs::is_directory(path, ec)) continue;
    for (const auto& entry : fs::directory_iterator(path))
      if (entry.is_regular_file() && is_recording_file(entry.path()) && !(write_file && fs::equivalent(entry.path(), *write_file, ec)))
        paths.push_back(entry.path());
  }
  std::sort(paths.begin(), paths.end());  // the same merged index whatever the directory order
  for (const auto& path : paths) {
    h5::Handle file = h5::open_file(path);
    std::string format;
    try {
      format = h5::read_string_attribute(file, "format");
    } catch (const Error&) {
    }
    if (format != kFormat) throw InputError(path.string() + ": not an LLM recording file");
    if (h5::read_int_attribute(file, "format_version") > kVersion)
      throw InputError(path.string() + ": LLM recording format is newer than this t2s understands");
    h5::Handle group(h5::check(H5Gopen2(file, "llm", H5P_DEFAULT), path.string() + ": /llm"), H5Gclose);
    index_group(std::move(file), group, path);
  }
  // A run archive holds the recordings of its run under /llm/<file name>, one group per file.
  for (const auto& path : archives) {
    h5::Handle file = h5::open_file(path);
    std::string format;
    try {
      format = h5::read_string_attribute(file, "format");
    } catch (const Error&) {
    }
    if (format != "trace2skill/run")
      throw InputError(path.string() + ": expected a directory of *" + kSuffix + " recording files or a run archive (run.h5)");
    if (H5Lexists(file, "llm", H5P_DEFAULT) <= 0)
      throw InputError(path.string() + ": holds no LLM recordings (no /llm group; was the run recorded?)");
    h5::Handle llm(h5::check(H5Gopen2(file, "llm", H5P_DEFAULT), path.string() + ": /llm"), H5Gclose);
    H5G_info_t info{};
    h5::check(H5Gget_info(llm, &info), path.string() + ": /llm");
    std::vector<std::string> names;
    for (hsize_t i = 0; i < info.nlinks; ++i) {
      const ssize_t size = H5Lget_name_by_idx(llm, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
      std::string name(static_cast<std::size_t>(std::max<ssize_t>(size, 0)), '\0');
      H5Lget_name_by_idx(llm, ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size() + 1, H5P_DEFAULT);
      names.push_back(name);
    }
    for (const auto& name : names) {
      h5::Handle group(h5::check(H5Gopen2(llm, name.c_str(), H5P_DEFAULT), path.string() + ": /llm/" + name), H5Gclose);
      h5::Handle again = h5::open_file(path);  // each indexed group keeps its own file handle open
      index_group(std::move(again), group, path.string() + ":/llm/" + name);
    }
  }
  if (write_file) {
    const std::string name = write_file->filename().string();
    if (!is_recording_file(*write_file)) throw InputError(write_file->string() + ": a recording file must be named *" + kSuffix);
    write_base_ = write_file->parent_path() / name.substr(0, name.size() - std::strlen(kSuffix));
    writer_ = std::make_unique<Writer>(*write_file);
  }
}

RecordingStore::~RecordingStore() {
  try {
    close();
  } catch (...) {
  }
}

std::optional<std::string> RecordingStore::find(const std::string& key) {
  if (auto it = written_.find(key); it != written_.end()) return it->second;
  auto it = index_.find(key);
  if (it == index_.end()) return std::nullopt;
  const Location& where = it->second;
  std::string response(where.response_length, '\0');
  h5::read_range(files_[where.file]->text, H5T_NATIVE_UINT8, where.offset + where.request_length, where.response_length,
                 response.data());
  return response;
}

void RecordingStore::store(const std::string& key, const std::string& stage, const std::string& request,
                           const std::string& response) {
  if (key.size() != 64) throw Error("LLM recording: a request key must be 64 hex digits");
  if (write_base_.empty() || !writer_) throw Error("LLM recording: this store was opened without a file to write");
  if (written_.count(key) != 0 || index_.count(key) != 0) return;  // answered before: the first answer stands
  if (writer_->closed || writer_->rows >= kRollRows || std::chrono::steady_clock::now() - writer_->opened >= kRollAge) {
    close();
    const fs::path next = write_base_.string() + "." + std::to_string(written_files_.size()) + kSuffix;
    writer_ = std::make_unique<Writer>(next);
  }
  writer_->add(key, stage, request, response);
  written_.emplace(key, response);
  ++recorded_;
}

void RecordingStore::close() {
  if (writer_ && !writer_->closed) {
    writer_->close();
    written_files_.push_back(writer_->path);
  }
}

}  // namespace t2s::store
