#include "t2s/store/hdf5.hpp"

#include <algorithm>
#include <mutex>

#include "t2s/core/error.hpp"

namespace t2s::store::h5 {

namespace {

herr_t collect_error(unsigned depth, const H5E_error2_t* entry, void* data) {
  auto* text = static_cast<std::string*>(data);
  if (depth > 2) return 0;  // the innermost few frames say what went wrong; the rest is noise
  if (!text->empty()) text->append("; ");
  // HDF5 appends ", name = ..., tent_flags = ..." and a newline to some descriptions: keep the gist.
  std::string description = entry->desc != nullptr ? entry->desc : "unknown HDF5 error";
  description = description.substr(0, std::min(description.find(" time ="), description.find('\n')));
  while (!description.empty() && (description.back() == ':' || description.back() == ',' || description.back() == ' '))
    description.pop_back();
  text->append(description);
  return 0;
}

std::string error_stack_text() {
  std::string text;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collect_error, &text);
  H5Eclear2(H5E_DEFAULT);
  return text.empty() ? "HDF5 reported no detail" : text;
}

}  // namespace

void silence_error_printing() {
  static std::once_flag once;
  std::call_once(once, [] { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); });
}

void Handle::close(std::string_view what) {
  const hid_t id = id_;
  id_ = H5I_INVALID_HID;
  if (id >= 0 && closer_ != nullptr && closer_(id) < 0)
    throw Error(std::string(what) + ": could not be written completely (is the disk full?)");
}

hid_t check(hid_t status, std::string_view what) {
  if (status < 0) throw Error(std::string(what) + ": " + error_stack_text());
  return status;
}

Handle create_file(const std::filesystem::path& path) {
  silence_error_printing();
  // libver v18 lets large attributes and compact groups work; readers need HDF5 >= 1.8 (h5py has it).
  Handle fapl(check(H5Pcreate(H5P_FILE_ACCESS), "H5Pcreate"), H5Pclose);
  check(H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST), "H5Pset_libver_bounds");
  // Files are written front to back: a small metadata cache does, and memory then stays flat as
  // the file grows (the adaptive default may grow to 32 MiB).
  H5AC_cache_config_t cache{};
  cache.version = H5AC__CURR_CACHE_CONFIG_VERSION;
  check(H5Pget_mdc_config(fapl, &cache), "H5Pget_mdc_config");
  cache.set_initial_size = true;
  cache.initial_size = std::size_t{1} << 20;
  cache.min_size = std::size_t{1} << 20;
  cache.max_size = std::size_t{4} << 20;
  check(H5Pset_mdc_config(fapl, &cache), "H5Pset_mdc_config");
  return Handle(check(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl),
                      path.string() + ": cannot create HDF5 file"),
                H5Fclose);
}

Handle open_file(const std::filesystem::path& path) {
  silence_error_printing();
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw InputError(path.string() + ": no such file");
  if (H5Fis_hdf5(path.c_str()) <= 0) throw InputError(path.string() + ": not an HDF5 file");
  return Handle(check(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT),
                      path.string() + ": cannot open HDF5 file"),
                H5Fclose);
}

Handle create_group(hid_t parent, const std::string& name) {
  return Handle(check(H5Gcreate2(parent, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                      "cannot create group " + name),
                H5Gclose);
}

Handle open_dataset(hid_t parent, const std::string& name) {
  return Handle(check(H5Dopen2(parent, name.c_str(), H5P_DEFAULT), "cannot open dataset " + name), H5Dclose);
}

Handle utf8_string_type() {
  Handle type(check(H5Tcopy(H5T_C_S1), "H5Tcopy"), H5Tclose);
  check(H5Tset_size(type, H5T_VARIABLE), "H5Tset_size");
  check(H5Tset_cset(type, H5T_CSET_UTF8), "H5Tset_cset");
  return type;
}

Handle fixed_string_type(std::size_t n) {
  Handle type(check(H5Tcopy(H5T_C_S1), "H5Tcopy"), H5Tclose);
  check(H5Tset_size(type, n), "H5Tset_size");
  check(H5Tset_strpad(type, H5T_STR_NULLPAD), "H5Tset_strpad");
  return type;
}

void write_attribute(hid_t object, const std::string& name, std::string_view value) {
  // Variable-length UTF-8, so that h5py reads it as str.
  Handle type = utf8_string_type();
  Handle space(check(H5Screate(H5S_SCALAR), "H5Screate"), H5Sclose);
  if (H5Aexists(object, name.c_str()) > 0) check(H5Adelete(object, name.c_str()), "H5Adelete " + name);
  Handle attribute(check(H5Acreate2(object, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT),
                         "cannot create attribute " + name),
                   H5Aclose);
  const std::string text(value);
  const char* pointer = text.c_str();
  check(H5Awrite(attribute, type, &pointer), "cannot write attribute " + name);
}

void write_attribute(hid_t object, const std::string& name, std::int64_t value) {
  Handle space(check(H5Screate(H5S_SCALAR), "H5Screate"), H5Sclose);
  if (H5Aexists(object, name.c_str()) > 0) check(H5Adelete(object, name.c_str()), "H5Adelete " + name);
  Handle attribute(check(H5Acreate2(object, name.c_str(), H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT),
                         "cannot create attribute " + name),
                   H5Aclose);
  check(H5Awrite(attribute, H5T_NATIVE_INT64, &value), "cannot write attribute " + name);
}

std::string read_string_attribute(hid_t object, const std::string& name) {
  Handle attribute(check(H5Aopen(object, name.c_str(), H5P_DEFAULT), "missing attribute " + name), H5Aclose);
  Handle type(check(H5Aget_type(attribute), "H5Aget_type"), H5Tclose);
  if (H5Tget_class(type) != H5T_STRING) throw Error("attribute " + name + " is not a string");
  if (H5Tis_variable_str(type) > 0) {
    Handle memory = utf8_string_type();
    char* text = nullptr;
    check(H5Aread(attribute, memory, &text), "cannot read attribute " + name);
    std::string value = text != nullptr ? text : "";
    H5free_memory(text);
    return value;
  }
  std::string value(H5Tget_size(type), '\0');
  check(H5Aread(attribute, type, value.data()), "cannot read attribute " + name);
  value.resize(value.find('\0') == std::string::npos ? value.size() : value.find('\0'));
  return value;
}

std::int64_t read_int_attribute(hid_t object, const std::string& name) {
  Handle attribute(check(H5Aopen(object, name.c_str(), H5P_DEFAULT), "missing attribute " + name), H5Aclose);
  std::int64_t value = 0;
  check(H5Aread(attribute, H5T_NATIVE_INT64, &value), "cannot read attribute " + name);
  return value;
}

namespace {

// Chunked layout with deflate (and shuffle for multi-byte numbers, where it helps), no fill for
// fixed-size types: every element is written before the file is closed. (HDF5 insists on filling
// variable-length types.)
Handle chunked_creation_list(hid_t file_type, hsize_t chunk_elements, int deflate_level) {
  Handle dcpl(check(H5Pcreate(H5P_DATASET_CREATE), "H5Pcreate"), H5Pclose);
  check(H5Pset_chunk(dcpl, 1, &chunk_elements), "H5Pset_chunk");
  const bool variable = H5Tis_variable_str(file_type) > 0;
  if (!variable) check(H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER), "H5Pset_fill_time");
  if (deflate_level > 0) {
    if (!variable && H5Tget_class(file_type) != H5T_STRING && H5Tget_size(file_type) > 1)
      check(H5Pset_shuffle(dcpl), "H5Pset_shuffle");
    check(H5Pset_deflate(dcpl, static_cast<unsigned>(deflate_level)), "H5Pset_deflate");
  }
  return dcpl;
}

Handle file_space(hid_t dataset) { return Handle(check(H5Dget_space(dataset), "H5Dget_space"), H5Sclose); }

}  // namespace

AppendableDataset::AppendableDataset(hid_t parent, const std::string& name, hid_t file_type,
                                     hid_t memory_type, std::size_t element_size,
                                     hsize_t chunk_elements, int deflate_level)
    : memory_type_(memory_type), element_size_(element_size), chunk_elements_(chunk_elements) {
  const hsize_t initial = 0, unlimited = H5S_UNLIMITED;
  Handle space(check(H5Screate_simple(1, &initial, &unlimited), "H5Screate_simple"), H5Sclose);
  Handle dcpl = chunked_creation_list(file_type, chunk_elements_, deflate_level);
  // Appends come in whole chunks, so caching chunks only holds memory.
  Handle dapl(check(H5Pcreate(H5P_DATASET_ACCESS), "H5Pcreate"), H5Pclose);
  check(H5Pset_chunk_cache(dapl, 0, 0, H5D_CHUNK_CACHE_W0_DEFAULT), "H5Pset_chunk_cache");
  dataset_ = Handle(check(H5Dcreate2(parent, name.c_str(), file_type, space, H5P_DEFAULT, dcpl, dapl),
                          "cannot create dataset " + name),
                    H5Dclose);
}

void AppendableDataset::append(const void* elements, std::size_t count) {
  if (count == 0) return;
  const hsize_t start = size_, length = count, new_size = size_ + count;
  check(H5Dset_extent(dataset_, &new_size), "H5Dset_extent");
  Handle space = file_space(dataset_);
  check(H5Sselect_hyperslab(space, H5S_SELECT_SET, &start, nullptr, &length, nullptr), "H5Sselect_hyperslab");
  Handle memory(check(H5Screate_simple(1, &length, nullptr), "H5Screate_simple"), H5Sclose);
  check(H5Dwrite(dataset_, memory_type_, memory, space, H5P_DEFAULT, elements), "H5Dwrite");
  size_ = new_size;
}

void AppendableDataset::write_compressed_chunk(std::uint64_t chunk_index, std::span<const std::uint8_t> bytes,
                                               std::uint64_t logical_end) {
  const hsize_t new_size = std::max<std::uint64_t>(size_, logical_end);
  if (new_size != size_) check(H5Dset_extent(dataset_, &new_size), "H5Dset_extent");
  size_ = new_size;
  const hsize_t offset = chunk_index * chunk_elements_;
  check(H5Dwrite_chunk(dataset_, H5P_DEFAULT, 0, &offset, bytes.size(), bytes.data()), "H5Dwrite_chunk");
}

void write_dataset(hid_t parent, const std::string& name, hid_t file_type, hid_t memory_type,
                   const void* elements, std::size_t count, int deflate_level) {
  const hsize_t length = count;
  Handle space(check(H5Screate_simple(1, &length, nullptr), "H5Screate_simple"), H5Sclose);
  Handle dcpl(check(H5Pcreate(H5P_DATASET_CREATE), "H5Pcreate"), H5Pclose);
  if (count >= 1024) dcpl = chunked_creation_list(file_type, std::min<hsize_t>(count, 1 << 16), deflate_level);
  Handle dataset(check(H5Dcreate2(parent, name.c_str(), file_type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT),
                       "cannot create dataset " + name),
                 H5Dclose);
  if (count > 0) check(H5Dwrite(dataset, memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, elements), "H5Dwrite " + name);
}

void read_range(hid_t dataset, hid_t memory_type, std::uint64_t first, std::uint64_t count, void* out) {
  if (count == 0) return;
  const hsize_t start = first, length = count;
  Handle space = file_space(dataset);
  check(H5Sselect_hyperslab(space, H5S_SELECT_SET, &start, nullptr, &length, nullptr), "H5Sselect_hyperslab");
  Handle memory(check(H5Screate_simple(1, &length, nullptr), "H5Screate_simple"), H5Sclose);
  check(H5Dread(dataset, memory_type, memory, space, H5P_DEFAULT, out), "H5Dread");
}

void read_points(hid_t dataset, hid_t memory_type, std::span<const std::uint64_t> indices, void* out) {
  if (indices.empty()) return;
  const hsize_t length = indices.size();
  Handle space = file_space(dataset);
  bool contiguous = true;  // a run of consecutive rows: a hyperslab, far cheaper than listed points
  for (std::size_t i = 1; i < indices.size() && contiguous; ++i) contiguous = indices[i] == indices[0] + i;
  if (contiguous) {
    const hsize_t start = indices[0];
    check(H5Sselect_hyperslab(space, H5S_SELECT_SET, &start, nullptr, &length, nullptr), "H5Sselect_hyperslab");
  } else {
    std::vector<hsize_t> coordinates(indices.begin(), indices.end());
    check(H5Sselect_elements(space, H5S_SELECT_SET, coordinates.size(), coordinates.data()), "H5Sselect_elements");
  }
  Handle memory(check(H5Screate_simple(1, &length, nullptr), "H5Screate_simple"), H5Sclose);
  check(H5Dread(dataset, memory_type, memory, space, H5P_DEFAULT, out), "H5Dread");
}

namespace {
std::vector<std::string> take_strings(std::vector<char*>& raw) {
  std::vector<std::string> strings;
  strings.reserve(raw.size());
  for (char* text : raw) {
    strings.emplace_back(text != nullptr ? text : "");
    H5free_memory(text);
  }
  return strings;
}
}  // namespace

std::vector<std::string> read_string_points(hid_t dataset, std::span<const std::uint64_t> indices) {
  std::vector<char*> raw(indices.size(), nullptr);
  Handle type = utf8_string_type();
  read_points(dataset, type, indices, raw.data());
  return take_strings(raw);
}

}  // namespace t2s::store::h5
