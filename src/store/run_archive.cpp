#include "t2s/store/run_archive.hpp"

#include <numeric>
#include <optional>

#include "t2s/core/error.hpp"
#include "t2s/core/files.hpp"
#include "t2s/core/version.hpp"
#include "t2s/store/hdf5.hpp"

namespace t2s::store {

namespace fs = std::filesystem;

namespace {
// 2: /analysis patch, tokens, calls; /merge merge, reason; /llm. 3: /trajectories/id, supports as positions.
constexpr std::int64_t kVersion = 3;

template <typename Row>
void write_text_column(hid_t group, const std::string& name, const std::vector<Row>& rows, std::string Row::*field) {
  std::vector<const char*> pointers;
  pointers.reserve(rows.size());
  for (const auto& r : rows) pointers.push_back((r.*field).c_str());
  h5::Handle type = h5::utf8_string_type();
  h5::write_dataset(group, name, type, type, pointers.data(), pointers.size(), 1);
}

template <typename Row, typename Int>
void write_int_column(hid_t group, const std::string& name, const std::vector<Row>& rows, Int Row::*field) {
  std::vector<std::int64_t> values;
  values.reserve(rows.size());
  for (const auto& r : rows) values.push_back(static_cast<std::int64_t>(r.*field));
  h5::write_dataset(group, name, H5T_STD_I64LE, H5T_NATIVE_INT64, values.data(), values.size(), 1);
}

void write_text(hid_t group, const std::string& name, const std::string& text) {
  const char* pointer = text.c_str();
  h5::Handle type = h5::utf8_string_type();
  h5::write_dataset(group, name, type, type, &pointer, 1, 0);
}

std::uint64_t rows_of(hid_t dataset) {
  h5::Handle space(H5Dget_space(dataset), H5Sclose);
  return static_cast<std::uint64_t>(H5Sget_simple_extent_npoints(space));
}

std::vector<std::string> read_text_column(hid_t group, const std::string& name) {
  h5::Handle dataset = h5::open_dataset(group, name);
  std::vector<std::uint64_t> rows(rows_of(dataset));
  std::iota(rows.begin(), rows.end(), std::uint64_t{0});
  return h5::read_string_points(dataset, rows);
}

std::vector<std::int64_t> read_int_column(hid_t group, const std::string& name) {
  h5::Handle dataset = h5::open_dataset(group, name);
  std::vector<std::int64_t> values(rows_of(dataset));
  h5::read_range(dataset, H5T_NATIVE_INT64, 0, values.size(), values.data());
  return values;
}

// A column that archives of an older format version lack: `fallback` for every row then.
std::vector<std::string> read_text_column_or(hid_t group, const std::string& name, std::size_t rows, const std::string& fallback) {
  if (H5Lexists(group, name.c_str(), H5P_DEFAULT) <= 0) return std::vector<std::string>(rows, fallback);
  return read_text_column(group, name);
}
std::vector<std::int64_t> read_int_column_or(hid_t group, const std::string& name, std::size_t rows) {
  if (H5Lexists(group, name.c_str(), H5P_DEFAULT) <= 0) return std::vector<std::int64_t>(rows, 0);
  return read_int_column(group, name);
}

h5::Handle open_group(hid_t parent, const std::string& name) {
  return h5::Handle(h5::check(H5Gopen2(parent, name.c_str(), H5P_DEFAULT), "no group " + name), H5Gclose);
}
}  // namespace

// Appendable columns of one group: text columns and integer columns of a row type.
template <typename Row>
struct AppendableTable {
  std::vector<std::pair<std::string Row::*, h5::AppendableDataset>> texts;
  std::vector<std::pair<std::int64_t Row::*, h5::AppendableDataset>> ints;

  void append(const std::vector<Row>& rows) {
    std::vector<const char*> pointers(rows.size());
    for (auto& [field, dataset] : texts) {
      for (std::size_t i = 0; i < rows.size(); ++i) pointers[i] = (rows[i].*field).c_str();
      dataset.append(pointers.data(), pointers.size());
    }
    std::vector<std::int64_t> values(rows.size());
    for (auto& [field, dataset] : ints) {
      for (std::size_t i = 0; i < rows.size(); ++i) values[i] = rows[i].*field;
      dataset.append(values.data(), values.size());
    }
  }
};

struct RunArchiveWriter::Impl {
  fs::path path, partial;
  h5::Handle file, string_type;
  std::optional<AppendableTable<RunArchive::Analysis>> analysis;
  std::optional<AppendableTable<RunArchive::Node>> merge;
  std::optional<h5::AppendableDataset> trajectory_ids;
  std::uint64_t analysis_rows = 0;
  bool finished = false;

  void close() {  // the datasets; the file is closed (checked) by finish(), or dropped on failure
    analysis.reset();
    merge.reset();
    trajectory_ids.reset();
  }
};

RunArchiveWriter::RunArchiveWriter(fs::path path) : impl_(std::make_unique<Impl>()) {
  Impl& w = *impl_;
  w.path = resolve_output(path, false).path;
  w.partial = w.path;
  w.partial += ".partial";
  if (w.path.has_parent_path()) fs::create_directories(w.path.parent_path());
  w.file = h5::create_file(w.partial);
  w.string_type = h5::utf8_string_type();
  const auto text_column = [&](hid_t group, const char* name) {
    return h5::AppendableDataset(group, name, w.string_type, w.string_type, sizeof(char*), 1024, 1);
  };
  const auto int_column = [&](hid_t group, const char* name) {
    return h5::AppendableDataset(group, name, H5T_STD_I64LE, H5T_NATIVE_INT64, 8, 1024, 1);
  };
  h5::Handle trajectories = h5::create_group(w.file, "trajectories");
  w.trajectory_ids.emplace(text_column(trajectories, "id"));
  using A = RunArchive::Analysis;
  h5::Handle analysis = h5::create_group(w.file, "analysis");
  w.analysis.emplace();
  for (auto [name, field] : {std::pair{"id", &A::id}, {"analyst", &A::analyst}, {"status", &A::status},
                             {"reason", &A::reason}, {"unit", &A::unit}, {"lessons", &A::lessons}, {"patch", &A::patch}})
    w.analysis->texts.emplace_back(field, text_column(analysis, name));
  for (auto [name, field] : {std::pair{"tokens", &A::tokens}, {"calls", &A::calls}})
    w.analysis->ints.emplace_back(field, int_column(analysis, name));
  using N = RunArchive::Node;
  h5::Handle merge = h5::create_group(w.file, "merge");
  w.merge.emplace();
  for (auto [name, field] : {std::pair{"node", &N::node}, {"status", &N::status}, {"merge", &N::merge},
                             {"reason", &N::reason}, {"patch", &N::patch}})
    w.merge->texts.emplace_back(field, text_column(merge, name));
  for (auto [name, field] : {std::pair{"level", &N::level}, {"index", &N::index}, {"first_child", &N::first_child},
                             {"last_child", &N::last_child}})
    w.merge->ints.emplace_back(field, int_column(merge, name));
}

RunArchiveWriter::~RunArchiveWriter() {
  if (impl_->finished) return;
  impl_->close();
  impl_->file.reset();
  std::error_code ec;
  fs::remove(impl_->partial, ec);
}

void RunArchiveWriter::append_analysis(const std::vector<RunArchive::Analysis>& rows) {
  impl_->analysis->append(rows);
  impl_->analysis_rows += rows.size();
}

void RunArchiveWriter::append_trajectory_ids(const std::vector<std::string>& ids) {
  std::vector<const char*> pointers;
  pointers.reserve(ids.size());
  for (const auto& id : ids) pointers.push_back(id.c_str());
  impl_->trajectory_ids->append(pointers.data(), pointers.size());
}

void RunArchiveWriter::append_merge(const std::vector<RunArchive::Node>& rows) { impl_->merge->append(rows); }

std::uint64_t RunArchiveWriter::analysis_rows() const { return impl_->analysis_rows; }

void RunArchiveWriter::add_recordings(const std::vector<fs::path>& files) {
  if (files.empty()) return;
  if (H5Lexists(impl_->file, "llm", H5P_DEFAULT) <= 0) h5::create_group(impl_->file, "llm");
  for (const auto& path : files) {
    h5::Handle source = h5::open_file(path);
    const std::string target = "llm/" + path.filename().string();
    h5::check(H5Ocopy(source, "llm", impl_->file, target.c_str(), H5P_DEFAULT, H5P_DEFAULT),
              path.string() + ": copying its recordings into the run archive");
  }
}

void RunArchiveWriter::finish(const RunArchive& a) {
  append_trajectory_ids(a.trajectory_ids);
  append_analysis(a.analysis);
  append_merge(a.merge);
  {
    const hid_t file = impl_->file;
    h5::write_attribute(file, "format", kRunArchiveFormat);
    h5::write_attribute(file, "format_version", kVersion);
    h5::write_attribute(file, "created_by", std::string("t2s ") + version());

    h5::Handle provenance = h5::create_group(file, "provenance");
    for (const auto& [key, value] : a.provenance.items()) {
      if (value.is_string()) h5::write_attribute(provenance, key, value.get<std::string>());
      else if (value.is_number_integer()) h5::write_attribute(provenance, key, value.get<std::int64_t>());
      else h5::write_attribute(provenance, key, value.dump());
    }
    write_text(provenance, "job", a.job_text);
    write_text(provenance, "libraries", a.libraries.dump());

    h5::Handle lessons = h5::create_group(file, "lessons");
    using L = RunArchive::Lesson;
    for (auto field : {std::pair{"id", &L::id}, {"kind", &L::kind}, {"placement", &L::placement}, {"text", &L::text},
                       {"support", &L::support}, {"merge_path", &L::merge_path}, {"key", &L::key}})
      write_text_column(lessons, field.first, a.lessons, field.second);
    write_int_column(lessons, "support_count", a.lessons, &L::support_count);
    write_int_column(lessons, "population", a.lessons, &L::population);

    h5::Handle skill = h5::create_group(file, "skill");
    h5::write_attribute(skill, "name", a.skill_name);
    h5::write_attribute(skill, "valid", std::int64_t{a.skill_valid ? 1 : 0});
    struct File {
      std::string path, bytes;
    };
    std::vector<File> files;
    for (const auto& [p, b] : a.skill_files) files.push_back({p, b});
    write_text_column(skill, "path", files, &File::path);
    // file bytes as one uint8 blob (a file may hold anything, NUL included)
    std::vector<std::uint64_t> offsets, lengths;
    std::string blob;
    for (const auto& f : files) {
      offsets.push_back(blob.size());
      lengths.push_back(f.bytes.size());
      blob += f.bytes;
    }
    h5::write_dataset(skill, "offset", H5T_STD_U64LE, H5T_NATIVE_UINT64, offsets.data(), offsets.size(), 1);
    h5::write_dataset(skill, "length", H5T_STD_U64LE, H5T_NATIVE_UINT64, lengths.data(), lengths.size(), 1);
    h5::write_dataset(skill, "bytes", H5T_STD_U8LE, H5T_NATIVE_UINT8, blob.data(), blob.size(), 6);
    write_text(skill, "validation", a.validation);

    h5::Handle metrics = h5::create_group(file, "metrics");
    write_text(metrics, "json", a.metrics.dump());
  }
  impl_->close();
  impl_->file.close(impl_->partial.string());
  commit_output(impl_->partial, impl_->path);
  impl_->finished = true;
}

void write_run_archive(const fs::path& path, const RunArchive& archive) {
  RunArchiveWriter writer(path);
  writer.finish(archive);
}

bool is_run_archive(const fs::path& path) {
  try {
    h5::Handle file = h5::open_file(path);
    return h5::read_string_attribute(file, "format") == kRunArchiveFormat;
  } catch (const std::exception&) {
    return false;
  }
}

std::vector<std::string> read_trajectory_ids(const fs::path& path, std::span<const std::uint64_t> positions) {
  try {
    h5::Handle file = h5::open_file(path);
    if (H5Lexists(file, "trajectories", H5P_DEFAULT) <= 0) return {};
    h5::Handle dataset = h5::open_dataset(open_group(file, "trajectories"), "id");
    const auto rows = rows_of(dataset);
    for (const auto p : positions)
      if (p >= rows) throw InputError("/trajectories/id has " + std::to_string(rows) + " rows, not a position " + std::to_string(p));
    return h5::read_string_points(dataset, positions);
  } catch (const InputError& e) {
    throw InputError(path.string() + ": " + e.what());
  }
}

RunArchive read_run_archive(const fs::path& path, bool with_analysis) {
  RunArchive a;
  try {
    h5::Handle file = h5::open_file(path);
    if (h5::read_string_attribute(file, "format") != kRunArchiveFormat) throw InputError("not a run archive");
    h5::Handle provenance = open_group(file, "provenance");
    for (const char* key : {"command", "version", "git_revision", "hosts", "started", "finished", "slurm_job_id", "analyst",
                            "mode", "merge", "model", "base_url", "record_mode", "analyst_prompt_hash", "merge_prompt_hash"})
      if (H5Aexists(provenance, key) > 0) a.provenance[key] = h5::read_string_attribute(provenance, key);
    if (H5Aexists(provenance, "ranks") > 0) a.provenance["ranks"] = h5::read_int_attribute(provenance, "ranks");
    a.job_text = read_text_column(provenance, "job").at(0);

    if (with_analysis) {
      h5::Handle analysis = open_group(file, "analysis");
      const auto ids = read_text_column(analysis, "id"), analysts = read_text_column(analysis, "analyst"),
                 statuses = read_text_column(analysis, "status"), reasons = read_text_column(analysis, "reason"),
                 units = read_text_column(analysis, "unit"), lessons = read_text_column(analysis, "lessons"),
                 patches = read_text_column_or(analysis, "patch", ids.size(), "");
      const auto tokens = read_int_column_or(analysis, "tokens", ids.size()),
                 calls = read_int_column_or(analysis, "calls", ids.size());
      for (std::size_t i = 0; i < ids.size(); ++i)
        a.analysis.push_back({ids[i], analysts[i], statuses[i], reasons[i], units[i], lessons[i], patches[i], tokens[i], calls[i]});
      if (H5Lexists(file, "trajectories", H5P_DEFAULT) > 0) a.trajectory_ids = read_text_column(open_group(file, "trajectories"), "id");
    }

    h5::Handle merge = open_group(file, "merge");
    const auto nodes = read_text_column(merge, "node"), statuses = read_text_column(merge, "status"),
               patches = read_text_column(merge, "patch"),
               merge_kinds = read_text_column_or(merge, "merge", nodes.size(), "deterministic"),
               merge_reasons = read_text_column_or(merge, "reason", nodes.size(), "");
    const auto levels = read_int_column(merge, "level"), indices = read_int_column(merge, "index"),
               firsts = read_int_column(merge, "first_child"), lasts = read_int_column(merge, "last_child");
    for (std::size_t i = 0; i < nodes.size(); ++i)
      a.merge.push_back({nodes[i], statuses[i], merge_kinds[i], merge_reasons[i], patches[i], levels[i], indices[i], firsts[i], lasts[i]});

    h5::Handle lessons = open_group(file, "lessons");
    const auto ids = read_text_column(lessons, "id"), kinds = read_text_column(lessons, "kind"),
               placements = read_text_column(lessons, "placement"), texts = read_text_column(lessons, "text"),
               supports = read_text_column(lessons, "support"), paths = read_text_column(lessons, "merge_path");
    const auto counts = read_int_column(lessons, "support_count"), populations = read_int_column(lessons, "population");
    const auto keys = read_text_column_or(lessons, "key", ids.size(), "");  // archives before the key have none
    for (std::size_t i = 0; i < ids.size(); ++i)
      a.lessons.push_back({ids[i], kinds[i], placements[i], texts[i], supports[i], paths[i],
                           static_cast<std::uint64_t>(counts[i]), static_cast<std::uint64_t>(populations[i]), keys.at(i)});

    h5::Handle skill = open_group(file, "skill");
    a.skill_name = h5::read_string_attribute(skill, "name");
    a.skill_valid = h5::read_int_attribute(skill, "valid") != 0;
    const auto file_paths = read_text_column(skill, "path");
    std::vector<std::uint64_t> offsets(file_paths.size()), lengths(file_paths.size());
    h5::read_range(h5::open_dataset(skill, "offset"), H5T_NATIVE_UINT64, 0, offsets.size(), offsets.data());
    h5::read_range(h5::open_dataset(skill, "length"), H5T_NATIVE_UINT64, 0, lengths.size(), lengths.data());
    h5::Handle blob = h5::open_dataset(skill, "bytes");
    std::string bytes(rows_of(blob), '\0');
    h5::read_range(blob, H5T_NATIVE_UINT8, 0, bytes.size(), bytes.data());
    for (std::size_t i = 0; i < file_paths.size(); ++i) {
      if (offsets[i] > bytes.size() || lengths[i] > bytes.size() - offsets[i]) throw InputError("/skill: file " + file_paths[i] + " lies outside /skill/bytes");
      a.skill_files.emplace_back(file_paths[i], bytes.substr(offsets[i], lengths[i]));
    }
    a.validation = read_text_column(skill, "validation").at(0);
    a.metrics = nlohmann::json::parse(read_text_column(open_group(file, "metrics"), "json").at(0));
  } catch (const InputError& e) {
    throw InputError(path.string() + ": " + e.what());
  } catch (const std::exception& e) {
    throw InputError(path.string() + ": cannot read this run archive: " + e.what());
  }
  return a;
}

}  // namespace t2s::store
