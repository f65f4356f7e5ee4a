#include "t2s/pipeline/llm_runtime.hpp"

#include <cstdlib>

#include "t2s/core/error.hpp"

namespace t2s::pipeline {

namespace fs = std::filesystem;

LlmSettings LlmSettings::from_config(const Config& config) {
  const auto positive = [&](const char* key, std::uint64_t fallback) {
    const auto value = config.integer(key);
    if (!value) return fallback;
    if (*value < 1) throw InputError(config.name() + ": " + key + ": must be at least 1");
    return static_cast<std::uint64_t>(*value);
  };
  LlmSettings llm;
  llm.base_url = config.string("llm.base_url").value_or("");
  llm.model = config.string("llm.model").value_or("");
  llm.api_key_env = config.string("llm.api_key_env").value_or(llm.api_key_env);
  llm.api_key_file = config.string("llm.api_key_file").value_or("");
  llm.max_in_flight = static_cast<std::size_t>(std::min<std::uint64_t>(positive("llm.max_in_flight", llm.max_in_flight), 4096));
  llm.record = config.string("llm.record").value_or(llm.record);
  (void)llm::parse_record_mode(llm.record == "automatic" ? "auto" : llm.record);  // InputError naming the value
  if (const auto paths = config.strings("llm.replay_from"))
    for (const auto& path : *paths) llm.replay_from.emplace_back(path);
  if (const auto timeout = config.number("llm.timeout_s")) {
    if (!(*timeout > 0)) throw InputError(config.name() + ": llm.timeout_s: must be more than 0");
    llm.timeout_s = *timeout;
  }
  llm.max_attempts = static_cast<int>(std::min<std::uint64_t>(positive("llm.max_attempts", static_cast<std::uint64_t>(llm.max_attempts)), 100));
  if (const auto seed = config.integer("llm.seed")) llm.seed = static_cast<std::uint64_t>(*seed);

  return llm;
}

LlmRuntime::LlmRuntime(const LlmSettings& settings, const fs::path& parts, const mpi::Comm& comm, unsigned tool_threads) {
  const LlmSettings& s = settings;
  mode = llm::parse_record_mode(s.record == "automatic" ? "auto" : s.record);
  std::string base_url = s.base_url;
  // Replaying needs no server; the model still counts (it is part of every request's key).
  if (base_url.empty() && mode == llm::RecordMode::replay && !std::getenv("T2S_BASE_URL")) base_url = "http://replay.invalid/v1";
  endpoint = llm::Endpoint::resolve(base_url, s.model, llm::ApiKey::load(s.api_key_env, s.api_key_file));
  llm::ClientOptions options;
  options.max_in_flight = s.max_in_flight;
  options.timeouts.total_s = s.timeout_s;
  options.timeouts.stall_s = s.timeout_s;
  options.retry.max_attempts = s.max_attempts;
  options.seed = s.seed + static_cast<std::uint64_t>(comm.rank());
  options.record_mode = mode;
  options.redactor = &redactor;
  if (mode != llm::RecordMode::off) {
    std::vector<fs::path> read = {parts / "llm"};
    read.insert(read.end(), s.replay_from.begin(), s.replay_from.end());
    std::optional<fs::path> write;
    if (mode != llm::RecordMode::replay) {
      // A new file series per attempt: recordings are never overwritten.
      const std::string stem = "rank-" + std::to_string(comm.rank()) + "-of-" + std::to_string(comm.size()) + ".a";
      for (int attempt = 0;; ++attempt) {
        const fs::path candidate = parts / "llm" / (stem + std::to_string(attempt) + ".llm.h5");
        fs::path partial = candidate;
        partial += ".partial";
        if (!fs::exists(candidate) && !fs::exists(partial)) {
          write = candidate;
          break;
        }
      }
    }
    recorder = std::make_unique<store::RecordingStore>(read, write);
    options.recorder = recorder.get();
  }
  client = std::make_unique<llm::Client>(endpoint, options);
  pool = std::make_unique<ThreadPool>(tool_threads);
}

void LlmRuntime::release() {
  pool.reset();
  client.reset();
  if (recorder) recorder->close();
}

}  // namespace t2s::pipeline
