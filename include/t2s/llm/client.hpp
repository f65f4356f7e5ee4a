// llm/client: an OpenAI-compatible chat client that keeps a server saturated and survives faults.
//
// One curl multi loop per process (per rank): callers submit many requests, each with a callback,
// and run() drives them all, at most `max_in_flight` at a time over reused keep-alive connections,
// calling back as they finish; a callback may submit follow-ups (the next turn of an agent). The
// loop is single-threaded: callbacks run on the thread that called run().
//
// Work that blocks (an agent's tool call) belongs on other threads, not in a callback: such a thread
// takes a Hold (run() keeps going while one is alive, even with nothing in flight) and hands its
// result back with post(), which runs a function on the loop thread and wakes the loop at once.
// post() and releasing a Hold are the only thread-safe entry points; submit() and hold() belong to
// the loop thread (take the Hold there, then hand it to the worker).
//
// Every request ends exactly once, as succeeded or failed with its reason. Transport errors and
// 408/429/5xx answers are retried (llm/retry), structured output is validated against its schema
// with one repair round (llm/schema), answers are repaired to valid UTF-8, and every exchange can be
// recorded or replayed (llm/recorder). The API key is sent as a bearer token and is never printed,
// logged or recorded; outgoing message text passes the secret redactor first (trace/redact).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "t2s/llm/recorder.hpp"
#include "t2s/llm/retry.hpp"
#include "t2s/trace/redact.hpp"

namespace t2s::llm {

// The API key. It can be read back only through reveal(); nothing formats it.
class ApiKey {
 public:
  ApiKey() = default;
  // From the environment variable `variable` (when set and non-empty), else from the first line of
  // `file` (when given; InputError when it cannot be read), else none.
  static ApiKey load(const std::string& variable, const std::string& file);
  static ApiKey of(std::string value) { ApiKey key; key.value_ = std::move(value); return key; }
  bool empty() const { return value_.empty(); }
  const std::string& reveal() const { return value_; }
  std::string where() const { return source_; }  // "environment variable X", "key file F" or "none"

 private:
  std::string value_, source_ = "none";
};

struct Endpoint {
  std::string base_url;  // e.g. "http://gpu-node-3:8000/v1" (requests go to base_url + "/chat/completions")
  std::string model;     // the default "model" of every request body
  ApiKey key;
  // The base URL for messages: a password in it is redacted.
  std::string display_url() const;
  // Base URL and model from the given values, else from T2S_BASE_URL / T2S_MODEL; InputError naming
  // what is missing when neither has them.
  static Endpoint resolve(std::string base_url, std::string model, ApiKey key);
};

struct Timeouts {
  double connect_s = 10.0;  // TCP (and TLS) connection set-up
  double total_s = 600.0;   // one attempt, start to last byte
  // An attempt that receives nothing for this long is abandoned. Without streaming, nothing arrives
  // until the model has finished, so this must exceed the longest generation.
  double stall_s = 300.0;
};

struct ClientOptions {
  std::size_t max_in_flight = 64;     // requests on the wire at once
  // Connections to the server; 0: as many as max_in_flight. With fewer, requests wait inside curl
  // for a connection, and that wait counts against their total timeout.
  std::size_t max_connections = 0;
  std::size_t max_response_bytes = std::size_t{64} << 20;
  Timeouts timeouts;
  RetryPolicy retry;
  std::uint64_t seed = 0;             // of the backoff jitter, so a rerun waits the same
  RecordMode record_mode = RecordMode::off;
  Recorder* recorder = nullptr;       // required unless record_mode is off
  const trace::Redactor* redactor = nullptr;  // applied to every outgoing message; none: sent as is
};

struct Usage {
  std::int64_t prompt_tokens = 0, completion_tokens = 0, total_tokens = 0;
};

struct ChatRequest {
  // An OpenAI chat completion body: messages, and any of tools, tool_choice, temperature, top_p,
  // max_tokens, seed, stop, response_format... "model" defaults to the endpoint's.
  nlohmann::json body;
  std::string stage = "default";  // accounting bucket ("analyze.success", "merge", "ping", ...)
};

struct ChatResult {
  bool ok = false;
  std::string error;             // why it failed, when !ok
  nlohmann::json message;        // choices[0].message, content repaired to valid UTF-8
  std::string content;           // its text content ("" when none)
  nlohmann::json structured;     // the parsed, schema-valid content (requests with a JSON schema)
  std::string finish_reason;
  Usage usage;                   // summed over attempts that returned usage (incl. a repair round)
  int attempts = 0;              // HTTP attempts, replays and the repair round included
  bool repaired = false;         // structured output passed only after the repair round
  bool replayed = false;         // answered from a recording, without a network call
  long http_status = 0;          // of the last attempt (0: no HTTP answer)
  double latency_s = 0.0;        // from submit to completion
  std::string key;               // request key (llm/recorder)
  std::size_t redactions = 0;    // secrets replaced in the outgoing messages
};

// Per-stage sums (and "total").
struct StageTotals {
  std::int64_t requests = 0, succeeded = 0, failed = 0, attempts = 0, retries = 0, replayed = 0, repaired = 0,
               redactions = 0;
  Usage usage;
  double latency_s = 0.0, max_latency_s = 0.0;
  nlohmann::json to_json() const;
};

class Client {
  struct Impl;

 public:
  Client(Endpoint endpoint, ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  using Callback = std::function<void(ChatResult&&)>;
  // Queues a request; `on_done` is called once from run(). Throws InputError for a body that is not
  // an object with messages, or a response_format schema the validator cannot check.
  void submit(ChatRequest request, Callback on_done);
  // Runs until every submitted request (and every follow-up submitted from a callback) has ended,
  // every posted function has run and no Hold is alive. Callbacks should not throw: an exception from one leaves run() at once (that request has
  // ended; the others stay queued, and calling run() again finishes them).
  void run();
  // Thread-safe. Queues `fn` to run on the loop thread inside run(), in the order posted, and wakes
  // the loop (an eventfd). run() does not return while posted functions are waiting; posted with no
  // run() in progress, they run in the next one. `fn` may submit requests; an exception from it
  // leaves run() like one from a callback (the functions posted after it stay queued).
  void post(std::function<void()> fn);

  // While a Hold is alive, run() does not return even when no request is in flight or queued: the
  // holder promises more work (a post or a submit). Take it on the loop thread (or before run());
  // release it on destruction or with release(), from any thread, after posting the follow-up.
  // Movable. The Client must outlive its Holds.
  class Hold {
   public:
    Hold() = default;
    Hold(Hold&& other) noexcept : impl_(std::exchange(other.impl_, nullptr)) {}
    Hold& operator=(Hold&& other) noexcept;
    Hold(const Hold&) = delete;
    Hold& operator=(const Hold&) = delete;
    ~Hold() { release(); }
    void release();
    bool held() const { return impl_ != nullptr; }

   private:
    friend class Client;
    Impl* impl_ = nullptr;
  };
  [[nodiscard]] Hold hold();

  // Convenience: submits all, runs, and returns the results in the order given.
  std::vector<ChatResult> run_all(std::vector<ChatRequest> requests);

  // GET base_url + path (e.g. "/models") with the same connect and total timeouts and retries
  // (Retry-After honoured); the parsed JSON body.
  // Throws Error with the reason when it fails.
  nlohmann::json get(const std::string& path);

  const std::map<std::string, StageTotals>& totals() const;
  const Endpoint& endpoint() const;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace t2s::llm
