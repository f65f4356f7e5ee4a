// store/hdf5: a thin RAII layer over the HDF5 C API, the only place that calls it directly.
// Failures throw t2s::Error naming the file, the object and HDF5's own explanation.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace t2s::store::h5 {

// An owned HDF5 identifier, closed with the right H5?close on destruction.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  ~Handle() { reset(); }
  Handle(Handle&& other) noexcept : id_(other.id_), closer_(other.closer_) { other.id_ = H5I_INVALID_HID; }
  Handle& operator=(Handle&& other) noexcept {
    if (this != &other) {
      reset();
      id_ = other.id_;
      closer_ = other.closer_;
      other.id_ = H5I_INVALID_HID;
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  hid_t get() const { return id_; }
  operator hid_t() const { return id_; }
  void reset() {
    if (id_ >= 0 && closer_ != nullptr) closer_(id_);
    id_ = H5I_INVALID_HID;
  }
  // Closes now and throws (naming `what`) when closing fails: a file's last metadata and cached data
  // are written at its close, so a full disk can surface only here (reset() cannot report it).
  void close(std::string_view what);

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer closer_ = nullptr;
};

// Throws t2s::Error("<what>: <HDF5 error stack>") when `status` is negative.
hid_t check(hid_t status, std::string_view what);

// Turns off HDF5's own printing of error stacks (we report them in our exceptions). Idempotent.
void silence_error_printing();

Handle create_file(const std::filesystem::path& path);     // truncates
Handle open_file(const std::filesystem::path& path);  // read-only
Handle create_group(hid_t parent, const std::string& name);
Handle open_dataset(hid_t parent, const std::string& name);

// Data types.
Handle utf8_string_type();                // variable-length UTF-8 string
Handle fixed_string_type(std::size_t n);  // fixed-length ASCII string, null-padded

// Attributes hold small metadata only (see FACTS.md: big text belongs in datasets).
void write_attribute(hid_t object, const std::string& name, std::string_view value);
void write_attribute(hid_t object, const std::string& name, std::int64_t value);
std::string read_string_attribute(hid_t object, const std::string& name);
std::int64_t read_int_attribute(hid_t object, const std::string& name);

// A one-dimensional, chunked, extendible dataset (optionally deflate-compressed) written by
// appending. `memory_type` describes the elements handed to append().
class AppendableDataset {
 public:
  AppendableDataset(hid_t parent, const std::string& name, hid_t file_type, hid_t memory_type,
                    std::size_t element_size, hsize_t chunk_elements, int deflate_level);
  void append(const void* elements, std::size_t count);
  // Writes one already-compressed, whole chunk with H5Dwrite_chunk (extends the dataset first).
  void write_compressed_chunk(std::uint64_t chunk_index, std::span<const std::uint8_t> bytes,
                              std::uint64_t logical_end);
  std::uint64_t size() const { return size_; }
  hid_t id() const { return dataset_; }

 private:
  Handle dataset_;
  hid_t memory_type_;
  std::size_t element_size_;
  hsize_t chunk_elements_;
  std::uint64_t size_ = 0;
};

// Writes a complete one-dimensional dataset in one call (chunked and compressed when large).
void write_dataset(hid_t parent, const std::string& name, hid_t file_type, hid_t memory_type,
                   const void* elements, std::size_t count, int deflate_level);

// Reads elements [first, first+count) of a one-dimensional dataset into `out`.
void read_range(hid_t dataset, hid_t memory_type, std::uint64_t first, std::uint64_t count, void* out);
// Reads the listed elements (any order; duplicates allowed) into `out`, in the order given.
void read_points(hid_t dataset, hid_t memory_type, std::span<const std::uint64_t> indices, void* out);

// Variable-length strings, read by points.
std::vector<std::string> read_string_points(hid_t dataset, std::span<const std::uint64_t> indices);

}  // namespace t2s::store::h5
