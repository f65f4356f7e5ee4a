// pipeline/llm_runtime: a job's [llm] settings and one rank's model access (client, recordings,
// tool threads), shared by every job that calls a model (evolve, rollout, eval).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "t2s/core/config.hpp"
#include "t2s/core/thread_pool.hpp"
#include "t2s/llm/client.hpp"
#include "t2s/mpi/comm.hpp"
#include "t2s/store/llm_recording.hpp"
#include "t2s/trace/redact.hpp"

namespace t2s::pipeline {

// [llm]: where the model is and how it is called. The endpoint and the key are not part of what a
// checkpoint is for (a model server may move between attempts); the model is.
struct LlmSettings {
  std::string base_url, model;            // else T2S_BASE_URL / T2S_MODEL
  std::string api_key_env = "T2S_API_KEY", api_key_file;
  std::size_t max_in_flight = 16;         // analyses (and requests) in flight per rank
  std::string record = "auto";            // off | record | replay | auto (llm/recorder)
  std::vector<std::filesystem::path> replay_from;  // more recordings: directories or run.h5 files
  double timeout_s = 600.0;               // one attempt of one request
  int max_attempts = 6;                   // per request, retries included
  std::uint64_t seed = 0;                 // of the retry jitter

  // Reads the [llm] table; InputError naming the key for a bad value.
  static LlmSettings from_config(const Config& config);
};

// One rank's model access: the client, its recordings (PARTS/llm, one file series per rank and
// attempt, never overwritten) and the threads tool calls run on.
struct LlmRuntime {
  trace::Redactor redactor;  // secrets never reach the model or the recordings
  llm::Endpoint endpoint;
  llm::RecordMode mode = llm::RecordMode::off;
  std::unique_ptr<store::RecordingStore> recorder;
  std::unique_ptr<llm::Client> client;
  std::unique_ptr<ThreadPool> pool;

  LlmRuntime(const LlmSettings& settings, const std::filesystem::path& parts, const mpi::Comm& comm, unsigned tool_threads);
  // Ends the model access once every request has ended, in the one safe order: the tool threads
  // are joined (a worker may still be inside Hold::release(), which touches the client), then the
  // client goes, then the recordings are closed (on disk before rank 0 archives them). Whatever
  // uses the client (analysts, mergers) must be gone first.
  void release();
};

}  // namespace t2s::pipeline
