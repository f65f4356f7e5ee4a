// llm/recorder: record and replay of model exchanges, keyed by the request.
//
// Every request is keyed by the SHA-256 of its canonical JSON (the body as sent: model, messages,
// tools, sampling parameters, seed, response_format), so an identical request finds the identical
// answer on any machine. The client asks the recorder before it calls the network (replay, auto)
// and hands it every successful answer (record, auto). Where recordings live (memory for tests,
// one HDF5 file per rank in the run archive) is the recorder's business.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace t2s::llm {

enum class RecordMode {
  off,     // always call the server, keep nothing
  record,  // always call the server, keep every successful answer
  replay,  // never call the server; a request without a recording is an error that names it
  automatic,  // replay what is recorded, call and record the rest
};
RecordMode parse_record_mode(std::string_view text);  // "off", "record", "replay", "auto"; InputError otherwise
std::string_view to_string(RecordMode mode);

// The key of a request body: SHA-256 (hex) of its canonical JSON, with whole-valued numbers
// written as integers (a temperature of 1 and of 1.0 is the same request).
std::string request_key(const nlohmann::json& body);

class Recorder {
 public:
  virtual ~Recorder() = default;
  // The recorded response body for `key`, if any.
  virtual std::optional<std::string> find(const std::string& key) = 0;
  // Keeps a successful exchange: `stage` as the request gave it, `request` the body sent,
  // `response` the body received. Throwing fails the request with the reason.
  virtual void store(const std::string& key, const std::string& stage, const std::string& request,
                     const std::string& response) = 0;
};

// Recordings in memory: for tests and for single-process tools.
class MemoryRecorder : public Recorder {
 public:
  std::optional<std::string> find(const std::string& key) override;
  void store(const std::string& key, const std::string& stage, const std::string& request,
             const std::string& response) override;
  std::size_t size() const { return responses_.size(); }

 private:
  std::map<std::string, std::string> responses_;
};

}  // namespace t2s::llm
