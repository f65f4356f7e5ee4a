#include "t2s/llm/client.hpp"

#include <curl/curl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>

#include "t2s/core/error.hpp"
#include "t2s/core/text.hpp"
#include "t2s/llm/schema.hpp"

namespace t2s::llm {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// ------------------------------------------------------------------------------------ endpoint

namespace {
// The built-in detectors, for what the client itself prints (URLs, error text).
const trace::Redactor& builtin_redactor() {
  static const trace::Redactor redactor;
  return redactor;
}
}  // namespace

ApiKey ApiKey::load(const std::string& variable, const std::string& file) {
  ApiKey key;
  if (!variable.empty()) {
    if (const char* value = std::getenv(variable.c_str()); value != nullptr && *value != '\0') {
      key.value_ = value;
      key.source_ = "environment variable " + variable;
      return key;
    }
  }
  if (!file.empty()) {
    std::ifstream in(file);
    if (!in) throw InputError("API key file " + file + ": cannot be read");
    std::getline(in, key.value_);
    while (!key.value_.empty() && (key.value_.back() == '\r' || key.value_.back() == ' ')) key.value_.pop_back();
    if (key.value_.empty()) throw InputError("API key file " + file + ": the first line is empty");
    key.source_ = "key file " + file;
  }
  return key;
}

std::string Endpoint::display_url() const {
  std::string url = base_url;
  builtin_redactor().redact(url);
  return url;
}

Endpoint Endpoint::resolve(std::string base_url, std::string model, ApiKey key) {
  auto from_env = [](std::string& value, const char* variable) {
    if (value.empty())
      if (const char* v = std::getenv(variable)) value = v;
  };
  from_env(base_url, "T2S_BASE_URL");
  from_env(model, "T2S_MODEL");
  if (base_url.empty()) throw InputError("no LLM endpoint: set llm.base_url in the job file or T2S_BASE_URL");
  if (base_url.rfind("http://", 0) != 0 && base_url.rfind("https://", 0) != 0)
    throw InputError("LLM base URL \"" + abbreviate(Endpoint{base_url, "", {}}.display_url(), 80) +
                     "\" must start with http:// or https://");
  while (!base_url.empty() && base_url.back() == '/') base_url.pop_back();
  return Endpoint{std::move(base_url), std::move(model), std::move(key)};
}

// ------------------------------------------------------------------------------------- totals

json StageTotals::to_json() const {
  return {{"requests", requests},
          {"succeeded", succeeded},
          {"failed", failed},
          {"attempts", attempts},
          {"retries", retries},
          {"replayed", replayed},
          {"repaired", repaired},
          {"redactions", redactions},
          {"prompt_tokens", usage.prompt_tokens},
          {"completion_tokens", usage.completion_tokens},
          {"total_tokens", usage.total_tokens},
          {"latency_s", latency_s},
          {"max_latency_s", max_latency_s}};
}

// ------------------------------------------------------------------------------------- client

namespace {

struct CurlGlobal {
  CurlGlobal() {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) throw Error("libcurl could not be initialised");
  }
  ~CurlGlobal() { curl_global_cleanup(); }
};

void ensure_curl() { static CurlGlobal global; }

bool iequals_prefix(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(text[i])) != prefix[i]) return false;
  return true;
}

double epoch_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// The schema a request asks for, when it uses response_format {"type": "json_schema", ...}.
std::optional<JsonSchema> requested_schema(const json& body) {
  auto format = body.find("response_format");
  if (format == body.end() || !format->is_object() || format->value("type", "") != "json_schema") return std::nullopt;
  auto spec = format->find("json_schema");
  if (spec == format->end() || !spec->is_object() || !spec->contains("schema"))
    throw InputError("response_format of type json_schema needs json_schema.schema");
  return JsonSchema((*spec)["schema"]);
}

// Model output is often fenced ("```json ... ```") even when asked for bare JSON.
std::string_view strip_code_fence(std::string_view text) {
  auto trim = [](std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
  };
  text = trim(text);
  if (text.rfind("```", 0) != 0 || text.size() < 6 || text.substr(text.size() - 3) != "```") return text;
  text.remove_suffix(3);
  const std::size_t newline = text.find('\n');
  return newline == std::string_view::npos ? std::string_view() : trim(text.substr(newline + 1));
}

std::size_t redact_messages(json& messages, const trace::Redactor& redactor) {
  std::size_t count = 0;
  auto scrub = [&](json& value) {
    if (!value.is_string()) return;
    std::string text = value.get<std::string>();
    if (const std::size_t n = redactor.redact(text)) {
      count += n;
      value = std::move(text);
    }
  };
  for (auto& message : messages) {
    if (!message.is_object()) continue;
    if (auto content = message.find("content"); content != message.end()) {
      if (content->is_array()) {
        for (auto& part : *content)
          if (part.is_object() && part.contains("text")) scrub(part["text"]);
      } else {
        scrub(*content);
      }
    }
    if (auto calls = message.find("tool_calls"); calls != message.end() && calls->is_array())
      for (auto& call : *calls)
        if (call.is_object() && call.contains("function") && call["function"].is_object() &&
            call["function"].contains("arguments"))
          scrub(call["function"]["arguments"]);
  }
  return count;
}

}  // namespace

struct Client::Impl {
  struct Transfer {
    json body;               // as sent (model filled in, secrets redacted)
    std::string body_text;   // its serialisation, the POST body
    std::string key;         // request_key(body)
    std::string stage;
    Callback on_done;
    std::optional<JsonSchema> schema;
    bool repair_round = false;
    Clock::time_point submitted, deadline;
    ChatResult result;       // accumulates across attempts (and the repair round)
    int network_attempts = 0;  // of the current round (the first request, or the repair)
    int retries = 0;
    // the attempt on the wire
    CURL* easy = nullptr;
    curl_slist* headers = nullptr;
    std::string response;
    std::optional<double> retry_after;
    bool too_large = false, stalled = false;  // stalled: abandoned by abandon_stalled
    std::size_t max_response_bytes = 0;
    curl_off_t last_bytes = -1;               // sent + received, at the last progress
    Clock::time_point last_progress;
    char error_buffer[CURL_ERROR_SIZE] = {};
  };
  using TransferPtr = std::unique_ptr<Transfer>;

  Endpoint endpoint;
  ClientOptions options;
  CURLM* multi = nullptr;
  std::vector<CURL*> idle_handles;
  std::deque<TransferPtr> ready;
  std::multimap<Clock::time_point, TransferPtr> waiting;  // backing off until their time
  std::map<CURL*, TransferPtr> active;
  std::map<std::string, StageTotals> totals;
  std::mt19937_64 rng;

  Impl(Endpoint e, ClientOptions o) : endpoint(std::move(e)), options(o), rng(o.seed) {
    if (options.record_mode != RecordMode::off && options.recorder == nullptr)
      throw InputError("record mode \"" + std::string(to_string(options.record_mode)) + "\" needs a recording store");
    if (options.max_in_flight == 0) throw InputError("llm: max_in_flight must be at least 1");
    ensure_curl();
    multi = curl_multi_init();
    if (multi == nullptr) throw Error("libcurl: cannot create a multi handle");
    const long connections = static_cast<long>(options.max_connections > 0 ? options.max_connections : options.max_in_flight);
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, connections);
    curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, connections);
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, connections);
    // Event-driven: libcurl says which sockets to watch and when its next timeout is, and epoll
    // reports only the sockets that are ready, so the cost of a wake-up does not grow with the
    // number of requests in flight (polling every socket on every wake-up did).
    epoll = epoll_create1(EPOLL_CLOEXEC);
    if (epoll < 0) throw Error("llm client: epoll_create1 failed");
    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(multi, CURLMOPT_TIMERDATA, this);
    wakeup = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wakeup < 0) throw Error("llm client: eventfd failed");
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = wakeup;
    if (epoll_ctl(epoll, EPOLL_CTL_ADD, wakeup, &event) != 0) throw Error("llm client: cannot watch the eventfd");
  }

  ~Impl() {
    for (auto& [easy, transfer] : active) {
      curl_multi_remove_handle(multi, easy);
      curl_slist_free_all(transfer->headers);
      curl_easy_cleanup(easy);
    }
    for (CURL* easy : idle_handles) curl_easy_cleanup(easy);
    if (multi != nullptr) curl_multi_cleanup(multi);
    if (epoll >= 0) ::close(epoll);
    if (wakeup >= 0) ::close(wakeup);
  }

  int epoll = -1;
  std::optional<Clock::time_point> curl_timer;  // when libcurl wants to be called without an event

  // Work handed in from other threads (post, Hold): the only state shared across threads.
  int wakeup = -1;                         // an eventfd in the epoll set; written to wake the loop
  std::mutex posted_mutex;
  std::deque<std::function<void()>> posted;
  std::atomic<std::int64_t> holds{0};

  void wake() {
    const std::uint64_t one = 1;
    // Can only fail when the counter would overflow, and then the loop is awake anyway.
    [[maybe_unused]] const ssize_t n = ::write(wakeup, &one, sizeof one);
  }

  void post(std::function<void()> fn) {
    {
      std::lock_guard lock(posted_mutex);
      posted.push_back(std::move(fn));
    }
    wake();
  }

  bool posted_waiting() {
    std::lock_guard lock(posted_mutex);
    return !posted.empty();
  }

  // Runs what was posted so far, in order. When one throws, the rest stay queued.
  void run_posted() {
    std::deque<std::function<void()>> batch;
    {
      std::lock_guard lock(posted_mutex);
      batch.swap(posted);
    }
    while (!batch.empty()) {
      std::function<void()> fn = std::move(batch.front());
      batch.pop_front();
      try {
        fn();
      } catch (...) {
        std::lock_guard lock(posted_mutex);
        posted.insert(posted.begin(), std::make_move_iterator(batch.begin()), std::make_move_iterator(batch.end()));
        throw;
      }
    }
  }

  bool outside_work() { return holds.load() > 0 || posted_waiting(); }

  static int on_socket(CURL*, curl_socket_t socket, int what, void* user, void*) {
    auto* self = static_cast<Impl*>(user);
    if (what == CURL_POLL_REMOVE) {
      epoll_ctl(self->epoll, EPOLL_CTL_DEL, socket, nullptr);  // may be closed already: nothing to do
      return 0;
    }
    epoll_event event{};
    event.data.fd = socket;
    event.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0u) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u);
    if (epoll_ctl(self->epoll, EPOLL_CTL_MOD, socket, &event) != 0) epoll_ctl(self->epoll, EPOLL_CTL_ADD, socket, &event);
    return 0;
  }

  static int on_timer(CURLM*, long timeout_ms, void* user) {
    auto* self = static_cast<Impl*>(user);
    if (timeout_ms < 0) self->curl_timer.reset();
    else self->curl_timer = Clock::now() + std::chrono::milliseconds(timeout_ms);
    return 0;
  }

  // ---- curl callbacks ----
  static std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
    auto* t = static_cast<Transfer*>(user);
    const std::size_t bytes = size * count;
    if (t->response.size() + bytes > t->max_response_bytes) {
      t->too_large = true;
      return 0;  // aborts the transfer with CURLE_WRITE_ERROR
    }
    t->response.append(data, bytes);
    return bytes;
  }

  // Records when bytes last moved, for our own stall detection (abandon_stalled): libcurl's
  // low-speed limit averages over a window that still counts the request body long after it was
  // sent, so a silent server would be noticed seconds late.
  static int on_progress(void* user, curl_off_t, curl_off_t received, curl_off_t, curl_off_t sent) {
    auto* t = static_cast<Transfer*>(user);
    if (received + sent != t->last_bytes) {
      t->last_bytes = received + sent;
      t->last_progress = Clock::now();
    }
    return 0;
  }

  static std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
    auto* t = static_cast<Transfer*>(user);
    const std::string_view line(data, size * count);
    if (iequals_prefix(line, "retry-after:")) t->retry_after = parse_retry_after(std::string(line.substr(12)), epoch_now());
    return size * count;
  }

  // ---- submitting ----
  void submit(ChatRequest request, Callback on_done) {
    json& body = request.body;
    if (!body.is_object()) throw InputError("llm request: the body must be a JSON object");
    if (!body.contains("messages") || !body["messages"].is_array() || body["messages"].empty())
      throw InputError("llm request: the body needs a non-empty \"messages\" array");
    if (!body.contains("model")) {
      if (endpoint.model.empty()) throw InputError("llm request: no model (set llm.model or T2S_MODEL)");
      body["model"] = endpoint.model;
    }
    auto t = std::make_unique<Transfer>();
    t->schema = requested_schema(body);
    if (options.redactor != nullptr) t->result.redactions = redact_messages(body["messages"], *options.redactor);
    t->stage = std::move(request.stage);
    t->on_done = std::move(on_done);
    t->submitted = Clock::now();
    t->deadline = t->submitted + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.retry.deadline_s));
    set_body(*t, std::move(body));
    t->result.key = t->key;
    ready.push_back(std::move(t));
  }

  static void set_body(Transfer& t, json body) {
    t.body = std::move(body);
    try {
      t.body_text = t.body.dump();
    } catch (const json::type_error&) {
      // Invalid UTF-8 in a caller's text is replaced rather than refused (it cannot be sent as
      // JSON), and the key is taken from what is sent.
      t.body_text = t.body.dump(-1, ' ', false, json::error_handler_t::replace);
      t.body = json::parse(t.body_text);
    }
    t.key = request_key(t.body);
  }

  // ---- the loop ----
  void run() {
    int running = 0;
    epoll_event events[256];
    auto last_sweep = Clock::now();
    while (!ready.empty() || !waiting.empty() || !active.empty() || outside_work()) {
      run_posted();
      auto now = Clock::now();
      while (!waiting.empty() && waiting.begin()->first <= now) {
        ready.push_back(std::move(waiting.begin()->second));
        waiting.erase(waiting.begin());
      }
      while (active.size() < options.max_in_flight && !ready.empty()) {
        TransferPtr t = std::move(ready.front());
        ready.pop_front();
        start(std::move(t));
      }
      if (active.empty() && ready.empty() && waiting.empty() && !outside_work()) break;
      // Sleep until a socket is ready, libcurl's timer, the next retry, or the stall sweep.
      auto wake = now + std::chrono::seconds(1);
      if (curl_timer) wake = std::min(wake, *curl_timer);
      if (!waiting.empty()) wake = std::min(wake, waiting.begin()->first);
      const auto wait_ms = std::chrono::ceil<std::chrono::milliseconds>(wake - now).count();
      const int n = epoll_wait(epoll, events, 256, static_cast<int>(std::max<std::int64_t>(0, wait_ms)));
      for (int i = 0; i < n; ++i) {
        if (events[i].data.fd == wakeup) {
          std::uint64_t count = 0;
          [[maybe_unused]] const ssize_t r = ::read(wakeup, &count, sizeof count);  // reset; posted work runs at the top
          continue;
        }
        int mask = 0;
        if (events[i].events & EPOLLIN) mask |= CURL_CSELECT_IN;
        if (events[i].events & EPOLLOUT) mask |= CURL_CSELECT_OUT;
        if (events[i].events & (EPOLLERR | EPOLLHUP)) mask |= CURL_CSELECT_ERR;
        curl_multi_socket_action(multi, events[i].data.fd, mask, &running);
      }
      now = Clock::now();
      if (curl_timer && *curl_timer <= now) {
        curl_timer.reset();
        curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
      }
      int queued = 0;
      while (CURLMsg* message = curl_multi_info_read(multi, &queued)) {
        if (message->msg != CURLMSG_DONE) continue;
        finish_attempt(message->easy_handle, message->data.result);
      }
      if (now - last_sweep >= std::chrono::seconds(1)) {
        last_sweep = now;
        abandon_stalled(now);
      }
    }
  }

  // An attempt that has sent and received nothing for stall_s is abandoned (and retried).
  void abandon_stalled(Clock::time_point now) {
    std::vector<CURL*> stalled;
    for (const auto& [easy, t] : active)
      if (std::chrono::duration<double>(now - t->last_progress).count() >= options.timeouts.stall_s) stalled.push_back(easy);
    for (CURL* easy : stalled) {
      active.at(easy)->stalled = true;
      finish_attempt(easy, CURLE_OPERATION_TIMEDOUT);
    }
  }

  // Answers from a recording when the mode allows, else puts the request on the wire.
  void start(TransferPtr t) {
    const double left_s = std::chrono::duration<double>(t->deadline - Clock::now()).count();
    if (left_s <= 0) {
      std::string why = "deadline of " + std::to_string(static_cast<int>(options.retry.deadline_s)) +
                        " s reached before attempt " + std::to_string(t->network_attempts + 1);
      fail(std::move(t), std::move(why));
      return;
    }
    if (options.record_mode == RecordMode::replay || options.record_mode == RecordMode::automatic) {
      std::optional<std::string> recorded;
      try {
        recorded = options.recorder->find(t->key);
      } catch (const std::exception& e) {
        std::string why = std::string("reading the recording failed: ") + e.what();
        fail(std::move(t), std::move(why));
        return;
      }
      if (recorded) {
        t->result.replayed = true;
        ++t->result.attempts;
        handle_answer(std::move(t), 200, std::move(*recorded), /*from_recording=*/true);
        return;
      }
      if (options.record_mode == RecordMode::replay) {
        std::string reason = "replay: no recording of request " + t->key + " (stage " + t->stage + ", " + describe_request(*t) + ")";
        fail(std::move(t), std::move(reason));
        return;
      }
    }
    CURL* easy = nullptr;
    if (!idle_handles.empty()) {
      easy = idle_handles.back();
      idle_handles.pop_back();
      curl_easy_reset(easy);
    } else {
      easy = curl_easy_init();
      if (easy == nullptr) {
        fail(std::move(t), "libcurl: cannot create a transfer");
        return;
      }
    }
    t->easy = easy;
    t->response.clear();
    t->retry_after.reset();
    t->too_large = false;
    t->stalled = false;
    t->last_bytes = -1;
    t->last_progress = Clock::now();
    t->error_buffer[0] = '\0';
    t->headers = curl_slist_append(nullptr, "Content-Type: application/json");
    t->headers = curl_slist_append(t->headers, "Expect:");
    if (!endpoint.key.empty())
      t->headers = curl_slist_append(t->headers, ("Authorization: Bearer " + endpoint.key.reveal()).c_str());
    const std::string url = endpoint.base_url + "/chat/completions";
    const auto& to = options.timeouts;
    curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, t->body_text.data());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(t->body_text.size()));
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(to.connect_s * 1000));
    // An attempt never runs past the request's deadline.
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, std::max(1L, static_cast<long>(std::min(to.total_s, left_s) * 1000)));
    curl_easy_setopt(easy, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(easy, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(easy, CURLOPT_XFERINFODATA, t.get());
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, t.get());
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, t.get());
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, t->error_buffer);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, t.get());
    t->max_response_bytes = options.max_response_bytes;
    ++t->result.attempts;
    ++t->network_attempts;
    if (curl_multi_add_handle(multi, easy) != CURLM_OK) {
      release_handle(*t);
      fail(std::move(t), "libcurl: cannot start a transfer");
      return;
    }
    active.emplace(easy, std::move(t));
  }

  void release_handle(Transfer& t) {
    curl_slist_free_all(t.headers);
    t.headers = nullptr;
    idle_handles.push_back(t.easy);
    t.easy = nullptr;
  }

  void finish_attempt(CURL* easy, CURLcode code) {
    auto it = active.find(easy);
    if (it == active.end()) return;
    TransferPtr t = std::move(it->second);
    active.erase(it);
    curl_multi_remove_handle(multi, easy);
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    release_handle(*t);
    t->result.http_status = status;
    if (t->too_large) {
      fail(std::move(t), "the response is larger than " + format_bytes(options.max_response_bytes));
      return;
    }
    if (t->stalled) {
      const std::string why = "stalled: nothing received for " + std::to_string(static_cast<int>(options.timeouts.stall_s)) + " s";
      retry_or_fail(std::move(t), why);
      return;
    }
    if (code != CURLE_OK) {
      const std::string detail = t->error_buffer[0] != '\0' ? t->error_buffer : curl_easy_strerror(code);
      retry_or_fail(std::move(t), "transport error: " + detail);
      return;
    }
    std::string body = std::move(t->response);
    handle_answer(std::move(t), status, std::move(body), false);
  }

  // A recorded answer that cannot be used will not improve by retrying: it fails the request.
  void retry_or_fail_answer(TransferPtr t, bool from_recording, std::string reason) {
    if (from_recording) fail(std::move(t), "the recorded answer is unusable: " + reason);
    else retry_or_fail(std::move(t), std::move(reason));
  }

  void handle_answer(TransferPtr t, long status, std::string body, bool from_recording) {
    if (status != 200) {
      std::string message = "HTTP " + std::to_string(status);
      try {
        const json error = json::parse(repair_utf8(body));
        if (error.contains("error")) {
          const json& e = error["error"];
          message += ": " + abbreviate(e.is_object() ? e.value("message", e.dump()) : e.dump(), 300);
        }
      } catch (const json::exception&) {
        if (!body.empty()) message += ": " + abbreviate(repair_utf8(body), 300);
      }
      if (is_retryable_status(status)) retry_or_fail_answer(std::move(t), from_recording, message);
      else fail(std::move(t), message);
      return;
    }
    // Model output is untrusted: invalid UTF-8 is replaced, never a reason to crash.
    if (find_invalid_utf8(body) != std::string_view::npos) body = repair_utf8(body);
    json response;
    try {
      response = json::parse(body);
    } catch (const json::exception& e) {
      retry_or_fail_answer(std::move(t), from_recording, std::string("the response is not valid JSON (") + e.what() + ")");
      return;
    }
    const json* message = nullptr;
    if (response.is_object() && response.contains("choices") && response["choices"].is_array() &&
        !response["choices"].empty() && response["choices"][0].is_object() && response["choices"][0].contains("message") &&
        response["choices"][0]["message"].is_object())
      message = &response["choices"][0]["message"];
    if (message == nullptr) {
      retry_or_fail_answer(std::move(t), from_recording, "the response has no choices[0].message");
      return;
    }
    if (auto usage = response.find("usage"); usage != response.end() && usage->is_object()) {
      t->result.usage.prompt_tokens += usage->value("prompt_tokens", std::int64_t{0});
      t->result.usage.completion_tokens += usage->value("completion_tokens", std::int64_t{0});
      t->result.usage.total_tokens += usage->value("total_tokens", std::int64_t{0});
    }
    if (!from_recording && (options.record_mode == RecordMode::record || options.record_mode == RecordMode::automatic)) {
      try {
        options.recorder->store(t->key, t->stage, t->body_text, body);
      } catch (const std::exception& e) {
        std::string why = std::string("recording the answer failed: ") + e.what();
        fail(std::move(t), std::move(why));
        return;
      }
    }
    t->result.message = *message;
    const json& content = (*message).contains("content") ? (*message)["content"] : json();
    t->result.content = content.is_string() ? content.get<std::string>() : std::string();
    t->result.finish_reason = response["choices"][0].value("finish_reason", "");
    if (t->schema) {
      std::string problem;
      try {
        t->result.structured = json::parse(strip_code_fence(t->result.content));
        const auto violations = t->schema->validate(t->result.structured);
        if (!violations.empty()) problem = describe(violations);
      } catch (const json::exception&) {
        problem = "the reply is not JSON";
      }
      if (!problem.empty()) {
        t->result.structured = nullptr;
        if (!t->repair_round) {
          start_repair(std::move(t), problem);
          return;
        }
        fail(std::move(t), "structured output does not match the schema after a repair round: " + problem);
        return;
      }
      if (t->repair_round) t->result.repaired = true;
    }
    t->result.ok = true;
    complete(std::move(t));
  }

  // One repair round: the invalid answer goes back with what is wrong with it.
  void start_repair(TransferPtr t, const std::string& problem) {
    json body = t->body;
    body["messages"].push_back({{"role", "assistant"}, {"content", t->result.content}});
    body["messages"].push_back(
        {{"role", "user"},
         {"content", "Your reply does not match the required JSON schema: " + problem +
                         ". Reply again with only the JSON value, matching the schema exactly."}});
    set_body(*t, std::move(body));
    t->repair_round = true;
    t->network_attempts = 0;
    ready.push_back(std::move(t));
  }

  void retry_or_fail(TransferPtr t, const std::string& reason) {
    if (t->network_attempts >= options.retry.max_attempts) {
      std::string why = "gave up after " + std::to_string(t->network_attempts) + " attempts: " + reason;
      fail(std::move(t), std::move(why));
      return;
    }
    const double delay = backoff_delay(options.retry, t->network_attempts, t->retry_after, rng);
    const auto when = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(delay));
    if (when > t->deadline) {
      std::string why = "deadline of " + std::to_string(static_cast<int>(options.retry.deadline_s)) + " s reached after " +
                        std::to_string(t->network_attempts) + " attempts: " + reason;
      fail(std::move(t), std::move(why));
      return;
    }
    ++t->retries;
    waiting.emplace(when, std::move(t));
  }

  void fail(TransferPtr t, std::string reason) {
    t->result.ok = false;
    t->result.error = scrub(std::move(reason));
    complete(std::move(t));
  }

  void complete(TransferPtr t) {
    ChatResult& r = t->result;
    r.latency_s = std::chrono::duration<double>(Clock::now() - t->submitted).count();
    for (const std::string& bucket : {t->stage, std::string("total")}) {
      StageTotals& s = totals[bucket];
      ++s.requests;
      ++(r.ok ? s.succeeded : s.failed);
      s.attempts += r.attempts;
      s.retries += t->retries;
      s.replayed += r.replayed;
      s.repaired += r.repaired;
      s.redactions += static_cast<std::int64_t>(r.redactions);
      s.usage.prompt_tokens += r.usage.prompt_tokens;
      s.usage.completion_tokens += r.usage.completion_tokens;
      s.usage.total_tokens += r.usage.total_tokens;
      s.latency_s += r.latency_s;
      s.max_latency_s = std::max(s.max_latency_s, r.latency_s);
    }
    Callback callback = std::move(t->on_done);
    ChatResult result = std::move(t->result);
    t.reset();
    if (callback) callback(std::move(result));
  }

  // Error text can quote a server's answer or a URL: the key and other secrets never stay in it.
  std::string scrub(std::string text) const {
    if (!endpoint.key.empty())
      for (std::size_t at = text.find(endpoint.key.reveal()); at != std::string::npos; at = text.find(endpoint.key.reveal(), at))
        text.replace(at, endpoint.key.reveal().size(), "[REDACTED:api-key]");
    builtin_redactor().redact(text);
    return text;
  }

  static std::string describe_request(const Transfer& t) {
    const json& messages = t.body["messages"];
    const json& last = messages.back();
    std::string text = last.is_object() && last.contains("content") && last["content"].is_string()
                           ? last["content"].get<std::string>()
                           : last.dump();
    return "last message \"" + abbreviate(text, 60) + "\"";
  }
};

Client::Client(Endpoint endpoint, ClientOptions options)
    : impl_(std::make_unique<Impl>(std::move(endpoint), options)) {}
Client::~Client() = default;

void Client::submit(ChatRequest request, Callback on_done) { impl_->submit(std::move(request), std::move(on_done)); }
void Client::run() { impl_->run(); }

std::vector<ChatResult> Client::run_all(std::vector<ChatRequest> requests) {
  std::vector<ChatResult> results(requests.size());
  for (std::size_t i = 0; i < requests.size(); ++i)
    submit(std::move(requests[i]), [&results, i](ChatResult&& r) { results[i] = std::move(r); });
  run();
  return results;
}

void Client::post(std::function<void()> fn) { impl_->post(std::move(fn)); }

Client::Hold Client::hold() {
  impl_->holds.fetch_add(1);
  Hold hold;
  hold.impl_ = impl_.get();
  return hold;
}

void Client::Hold::release() {
  if (Impl* impl = std::exchange(impl_, nullptr)) {
    impl->holds.fetch_sub(1);
    impl->wake();  // a loop with nothing else to do re-checks whether it may return
  }
}

Client::Hold& Client::Hold::operator=(Hold&& other) noexcept {
  if (this != &other) {
    release();
    impl_ = std::exchange(other.impl_, nullptr);
  }
  return *this;
}

const std::map<std::string, StageTotals>& Client::totals() const { return impl_->totals; }
const Endpoint& Client::endpoint() const { return impl_->endpoint; }

json Client::get(const std::string& path) {
  ensure_curl();
  const auto& o = impl_->options;
  std::string last_error;
  for (int attempt = 1; attempt <= o.retry.max_attempts; ++attempt) {
    CURL* easy = curl_easy_init();
    if (easy == nullptr) throw Error("libcurl: cannot create a transfer");
    std::string body;
    char error_buffer[CURL_ERROR_SIZE] = {};
    curl_slist* headers = nullptr;
    if (!impl_->endpoint.key.empty())
      headers = curl_slist_append(headers, ("Authorization: Bearer " + impl_->endpoint.key.reveal()).c_str());
    const std::string url = impl_->endpoint.base_url + path;
    curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(o.timeouts.connect_s * 1000));
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(o.timeouts.total_s * 1000));
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, error_buffer);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, +[](char* data, std::size_t size, std::size_t n, void* user) {
      auto* out = static_cast<std::string*>(user);
      if (out->size() > (std::size_t{16} << 20)) return std::size_t{0};
      out->append(data, size * n);
      return size * n;
    });
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &body);
    std::optional<double> retry_after;
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, +[](char* data, std::size_t size, std::size_t n, void* user) {
      const std::string_view line(data, size * n);
      if (iequals_prefix(line, "retry-after:"))
        *static_cast<std::optional<double>*>(user) = parse_retry_after(std::string(line.substr(12)), epoch_now());
      return size * n;
    });
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, &retry_after);
    const CURLcode code = curl_easy_perform(easy);
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(easy);
    curl_slist_free_all(headers);
    if (code != CURLE_OK) {
      last_error = std::string("transport error: ") + (error_buffer[0] ? error_buffer : curl_easy_strerror(code));
    } else if (status == 200) {
      try {
        return json::parse(repair_utf8(body));
      } catch (const json::exception& e) {
        last_error = std::string("the response is not valid JSON (") + e.what() + ")";
      }
    } else {
      last_error = "HTTP " + std::to_string(status) + ": " + abbreviate(repair_utf8(body), 200);
      if (!is_retryable_status(status)) break;
    }
    if (attempt < o.retry.max_attempts) {
      const double delay = backoff_delay(o.retry, attempt, retry_after, impl_->rng);
      std::this_thread::sleep_for(std::chrono::duration<double>(delay));
    }
  }
  throw Error(impl_->scrub("GET " + impl_->endpoint.base_url + path + " failed: " + last_error));
}

}  // namespace t2s::llm
