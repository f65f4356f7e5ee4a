#include "t2s/store/run_log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <numeric>

#include "t2s/core/error.hpp"
#include "t2s/core/files.hpp"
#include "t2s/core/version.hpp"
#include "t2s/store/hdf5.hpp"

namespace t2s::store {

namespace fs = std::filesystem;

namespace {
constexpr const char* kFormat = "trace2skill/run-log";
constexpr std::int64_t kVersion = 1;

// "<stem>.<seq>.h5" → seq, or -1 when `name` is not a segment of `stem`.
long long segment_seq(const std::string& name, const std::string& stem) {
  if (!name.starts_with(stem + ".") || !name.ends_with(".h5")) return -1;
  const std::string middle = name.substr(stem.size() + 1, name.size() - stem.size() - 4);
  if (middle.empty() || middle.size() > 12 || !std::all_of(middle.begin(), middle.end(), ::isdigit)) return -1;
  return std::stoll(middle);
}

// fsync(2) of a file or directory: a segment that survives a crash of the node is whole.
void sync_to_disk(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(path.string() + ": cannot open to sync: " + std::strerror(errno));
  const int status = ::fsync(fd);
  ::close(fd);
  if (status != 0) throw Error(path.string() + ": cannot sync to disk: " + std::strerror(errno));
}

void write_strings(hid_t group, const std::string& name, const std::vector<RunRecord>& records,
                   std::string RunRecord::*field) {
  std::vector<const char*> pointers;
  pointers.reserve(records.size());
  for (const auto& r : records) pointers.push_back((r.*field).c_str());
  h5::Handle type = h5::utf8_string_type();
  h5::write_dataset(group, name, type, type, pointers.data(), pointers.size(), 1);
}
}  // namespace

RunLogWriter::RunLogWriter(fs::path directory, std::string stem) : directory_(std::move(directory)), stem_(std::move(stem)) {
  fs::create_directories(directory_);
  for (const auto& entry : fs::directory_iterator(directory_)) {
    const long long seq = segment_seq(entry.path().filename().string(), stem_);
    if (seq >= 0) next_seq_ = std::max<std::uint64_t>(next_seq_, static_cast<std::uint64_t>(seq) + 1);
  }
}

RunLogWriter::~RunLogWriter() {
  try {
    flush();
  } catch (...) {  // a destructor must not throw; callers that care call flush()
  }
}

void RunLogWriter::add(std::string kind, std::string key, std::string json) {
  buffer_.push_back({std::move(kind), std::move(key), std::move(json)});
}

void RunLogWriter::flush() {
  if (buffer_.empty()) return;
  const fs::path path = directory_ / (stem_ + "." + std::to_string(next_seq_) + ".h5");
  fs::path partial = path;
  partial += ".partial";
  try {
    h5::Handle file = h5::create_file(partial);
    h5::write_attribute(file, "format", kFormat);
    h5::write_attribute(file, "format_version", kVersion);
    h5::write_attribute(file, "created_by", std::string("t2s ") + version());
    h5::Handle group = h5::create_group(file, "records");
    write_strings(group, "kind", buffer_, &RunRecord::kind);
    write_strings(group, "key", buffer_, &RunRecord::key);
    std::vector<std::uint64_t> offsets, lengths;
    std::string text;
    for (const auto& r : buffer_) {
      offsets.push_back(text.size());
      lengths.push_back(r.json.size());
      text += r.json;
    }
    h5::write_dataset(group, "offset", H5T_STD_U64LE, H5T_NATIVE_UINT64, offsets.data(), offsets.size(), 1);
    h5::write_dataset(group, "length", H5T_STD_U64LE, H5T_NATIVE_UINT64, lengths.data(), lengths.size(), 1);
    // deflate level 1: a checkpoint is working data, written often and read once; level 6 took most of
    // a stats analysis's time for a few percent of size
    h5::write_dataset(group, "text", H5T_STD_U8LE, H5T_NATIVE_UINT8, text.data(), text.size(), 1);
    group.close(partial.string());
    h5::check(H5Fflush(file, H5F_SCOPE_GLOBAL), partial.string() + ": flush");
    file.close(partial.string());  // every write checked before the segment can be named complete
    sync_to_disk(partial);
  } catch (...) {
    std::error_code ec;
    fs::remove(partial, ec);  // a segment that was not written whole never gets its name
    throw;
  }  // the data reaches the disk before the name says the segment is complete
  commit_output(partial, path);
  sync_to_disk(directory_);
  ++next_seq_;
  buffer_.clear();
}

std::vector<RunRecord> read_run_log(const fs::path& directory) {
  std::vector<RunRecord> records;
  visit_run_log(directory, [&](RunRecord&& r) { records.push_back(std::move(r)); });
  return records;
}

void visit_run_log(const fs::path& directory, const std::function<void(RunRecord&&)>& visit) {
  if (!fs::is_directory(directory)) return;
  std::vector<fs::path> segments;
  for (const auto& entry : fs::directory_iterator(directory)) {
    const std::string name = entry.path().filename().string();
    if (name.ends_with(".h5") && name.find(".partial") == std::string::npos) segments.push_back(entry.path());
  }
  // name order, with sequence numbers compared as numbers ("r0.10.h5" after "r0.9.h5")
  const auto order_key = [](const fs::path& p) {
    std::string name = p.filename().string();
    const auto dot = name.rfind('.', name.size() - 4);
    const std::string stem = dot == std::string::npos ? name : name.substr(0, dot);
    const long long seq = segment_seq(name, stem);
    return std::make_pair(stem, seq);
  };
  std::sort(segments.begin(), segments.end(), [&](const fs::path& a, const fs::path& b) { return order_key(a) < order_key(b); });
  for (const auto& path : segments) {
    std::vector<RunRecord> records;
    try {
      h5::Handle file = h5::open_file(path);
      if (h5::read_string_attribute(file, "format") != kFormat) throw Error("not a run log segment");
      h5::Handle group(h5::check(H5Gopen2(file, "records", H5P_DEFAULT), "records"), H5Gclose);
      h5::Handle offset = h5::open_dataset(group, "offset");
      h5::Handle space(H5Dget_space(offset), H5Sclose);
      const auto n = static_cast<std::uint64_t>(H5Sget_simple_extent_npoints(space));
      std::vector<std::uint64_t> rows(n);
      std::iota(rows.begin(), rows.end(), std::uint64_t{0});
      const auto kinds = h5::read_string_points(h5::open_dataset(group, "kind"), rows);
      const auto keys = h5::read_string_points(h5::open_dataset(group, "key"), rows);
      std::vector<std::uint64_t> offsets(n), lengths(n);
      h5::read_range(offset, H5T_NATIVE_UINT64, 0, n, offsets.data());
      h5::read_range(h5::open_dataset(group, "length"), H5T_NATIVE_UINT64, 0, n, lengths.data());
      const std::uint64_t total = n == 0 ? 0 : offsets.back() + lengths.back();
      std::string text(total, '\0');
      h5::read_range(h5::open_dataset(group, "text"), H5T_NATIVE_UINT8, 0, total, text.data());
      for (std::uint64_t i = 0; i < n; ++i) records.push_back({kinds[i], keys[i], text.substr(offsets[i], lengths[i])});
    } catch (const std::exception& e) {
      throw Error(path.string() + ": cannot read this checkpoint segment (" + e.what() +
                  "); remove it and rerun: its records are redone");
    }
    for (auto& r : records) visit(std::move(r));
  }
}

}  // namespace t2s::store
