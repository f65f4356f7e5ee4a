#include "t2s/llm/recorder.hpp"

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

std::string request_key(const nlohmann::json& body) {
  std::string canonical;
  append_canonical_json(canonical, body);
  return to_hex(Sha256().update(canonical).finish());
}

std::optional<std::string> MemoryRecorder::find(const std::string& key) {
  auto it = responses_.find(key);
  if (it == responses_.end()) return std::nullopt;
  return it->second;
}

void MemoryRecorder::store(const std::string& key, const std::string&, const std::string& response) {
  responses_[key] = response;
}

}  // namespace t2s::llm
