#include "t2s/store/eval_archive.hpp"

#include "t2s/core/error.hpp"
#include "t2s/core/files.hpp"
#include "t2s/core/version.hpp"
#include "t2s/store/hdf5.hpp"

namespace t2s::store {

namespace fs = std::filesystem;

namespace {

// One column of a table of rows: a field of every row, written as a dataset.
template <typename Row>
void text_column(hid_t group, const std::string& name, const std::vector<Row>& rows, std::string Row::*field) {
  std::vector<const char*> pointers;
  for (const auto& r : rows) pointers.push_back((r.*field).c_str());
  h5::Handle type = h5::utf8_string_type();
  h5::write_dataset(group, name, type, type, pointers.data(), pointers.size(), 1);
}
template <typename Row>
void int_column(hid_t group, const std::string& name, const std::vector<Row>& rows, std::int64_t Row::*field) {
  std::vector<std::int64_t> values;
  for (const auto& r : rows) values.push_back(r.*field);
  h5::write_dataset(group, name, H5T_STD_I64LE, H5T_NATIVE_INT64, values.data(), values.size(), 1);
}
template <typename Row>
void real_column(hid_t group, const std::string& name, const std::vector<Row>& rows, double Row::*field) {
  std::vector<double> values;
  for (const auto& r : rows) values.push_back(r.*field);
  h5::write_dataset(group, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, values.data(), values.size(), 1);
}
void text(hid_t group, const std::string& name, const std::string& value) {
  const char* pointer = value.c_str();
  h5::Handle type = h5::utf8_string_type();
  h5::write_dataset(group, name, type, type, &pointer, 1, 0);
}

}  // namespace

void write_eval_archive(const fs::path& target, const EvalArchive& a) {
  const fs::path path = resolve_output(target, false).path;
  fs::path partial = path;
  partial += ".partial";
  {
    h5::Handle file = h5::create_file(partial);
    h5::write_attribute(file, "format", kEvalFormat);
    h5::write_attribute(file, "format_version", std::int64_t{1});
    h5::write_attribute(file, "created_by", std::string("t2s ") + version() + " (" + git_revision() + ")");

    h5::Handle provenance = h5::create_group(file, "provenance");
    for (const auto& [key, value] : a.provenance.items()) {
      if (value.is_string()) h5::write_attribute(provenance, key, value.get<std::string>());
      else if (value.is_number_integer()) h5::write_attribute(provenance, key, value.get<std::int64_t>());
      else h5::write_attribute(provenance, key, value.dump());
    }
    text(provenance, "job", a.job_text);

    using C = EvalArchive::Condition;
    h5::Handle conditions = h5::create_group(file, "conditions");
    for (auto [name, field] : {std::pair{"name", &C::name}, {"model", &C::model}, {"skill", &C::skill}, {"skill_sha256", &C::skill_sha256}})
      text_column(conditions, name, a.conditions, field);
    for (auto [name, field] : {std::pair{"tasks", &C::tasks}, {"units", &C::units}, {"passed", &C::passed}, {"failed", &C::failed},
                               {"missing", &C::missing}, {"tasks_all_missing", &C::tasks_all_missing}})
      int_column(conditions, name, a.conditions, field);
    for (auto [name, field] : {std::pair{"rate", &C::rate}, {"low", &C::low}, {"high", &C::high}})
      real_column(conditions, name, a.conditions, field);

    using R = EvalArchive::Result;
    h5::Handle results = h5::create_group(file, "results");
    for (auto [name, field] : {std::pair{"condition", &R::condition}, {"task_id", &R::task_id}, {"status", &R::status},
                               {"reason", &R::reason}, {"trajectory_id", &R::trajectory_id}})
      text_column(results, name, a.results, field);
    int_column(results, "attempt", a.results, &R::attempt);
    int_column(results, "seed", a.results, &R::seed);
    real_column(results, "score", a.results, &R::score);

    using P = EvalArchive::Comparison;
    h5::Handle comparisons = h5::create_group(file, "comparisons");
    text_column(comparisons, "a", a.comparisons, &P::a);
    text_column(comparisons, "b", a.comparisons, &P::b);
    for (auto [name, field] : {std::pair{"pairs", &P::pairs}, {"a_only", &P::a_only}, {"b_only", &P::b_only}, {"both", &P::both},
                               {"neither", &P::neither}, {"excluded", &P::excluded}})
      int_column(comparisons, name, a.comparisons, field);
    for (auto [name, field] : {std::pair{"rate_a", &P::rate_a}, {"rate_b", &P::rate_b}, {"difference", &P::difference},
                               {"low", &P::low}, {"high", &P::high}, {"mcnemar_p", &P::mcnemar_p}, {"bootstrap_p", &P::bootstrap_p}})
      real_column(comparisons, name, a.comparisons, field);

    h5::Handle report = h5::create_group(file, "report");
    text(report, "markdown", a.report_markdown);
  }
  commit_output(partial, path);
}

}  // namespace t2s::store
