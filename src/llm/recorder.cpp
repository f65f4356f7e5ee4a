#include "t2s/llm/recorder.hpp"

#include <cmath>

#include "t2s/core/canonical_json.hpp"
#include "t2s/core/error.hpp"
#include "t2s/core/sha256.hpp"

namespace t2s::llm {

RecordMode parse_record_mode(std::string_view text) {
  if (text == "off") return RecordMode::off;
  if (text == "record") return RecordMode::record;
  if (text == "replay") return RecordMode::replay;
  if (text == "auto") return RecordMode::automatic;
  throw InputError("unknown record mode \"" + std::string(text) + "\" (expected off, record, replay or auto)");
}

std::string_view to_string(RecordMode mode) {
  switch (mode) {
    case RecordMode::off: return "off";
    case RecordMode::record: return "record";
    case RecordMode::replay: return "replay";
    case RecordMode::automatic: return "auto";
  }
  return "off";
}

namespace {

nlohmann::json with_whole_numbers_as_integers(const nlohmann::json& value) {
  if (value.is_number_float()) {
    const double d = value.get<double>();
    if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 9.0e15) return static_cast<std::int64_t>(d);
    return value;
  }
  if (value.is_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& item : value) out.push_back(with_whole_numbers_as_integers(item));
    return out;
  }
  if (value.is_object()) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [key, item] : value.items()) out[key] = with_whole_numbers_as_integers(item);
    return out;
  }
  return value;
}

}  // namespace

std::string request_key(const nlohmann::json& body) {
  std::string canonical;
  append_canonical_json(canonical, with_whole_numbers_as_integers(body));
  return to_hex(Sha256().update(canonical).finish());
}

std::optional<std::string> MemoryRecorder::find(const std::string& key) {
  auto it = responses_.find(key);
  if (it == responses_.end()) return std::nullopt;
  return it->second;
}

void MemoryRecorder::store(const std::string& key, const std::string&, const std::string&, const std::string& response) {
  responses_.emplace(key, response);  // the first answer stands, as in the HDF5 recordings
}

}  // namespace t2s::llm
