// Tests of llm/client, always over real HTTP on loopback against the scripted server
// (tests/llm_server): retries, timeouts, structured output, UTF-8 repair, record/replay, the
// in-flight cap, connection reuse, redaction and the API key.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <thread>

#include "t2s/core/error.hpp"
#include "t2s/core/text.hpp"
#include "t2s/llm/client.hpp"
#include "t2s/store/llm_recording.hpp"
#include "testutil/scripted_server.hpp"
#include "testutil/temp_dir.hpp"

using nlohmann::json;
using namespace t2s::llm;
using t2s::test::ScriptedServer;
using t2s::test::ScriptedServerOptions;

namespace {

// Short waits, so fault tests stay fast.
ClientOptions fast_options() {
  ClientOptions o;
  o.retry.base_delay_s = 0.01;
  o.retry.max_delay_s = 0.05;
  o.retry.max_attempts = 4;
  o.timeouts.total_s = 5;
  o.timeouts.stall_s = 5;
  return o;
}

Client client_for(const ScriptedServer& server, ClientOptions options = fast_options(), std::string key = "") {
  return Client(Endpoint::resolve(server.base_url(), "scripted-model", ApiKey::of(std::move(key))), options);
}

ChatRequest ask(const std::string& text, const std::string& stage = "test") {
  return {{{"messages", {{{"role", "user"}, {"content", text}}}}}, stage};
}

ChatResult one(Client& client, ChatRequest request) {
  std::vector<ChatRequest> requests;
  requests.push_back(std::move(request));
  return std::move(client.run_all(std::move(requests)).front());
}

const json kAnswerSchema = {{"type", "object"},
                            {"properties", {{"answer", {{"type", "integer"}}}}},
                            {"required", {"answer"}},
                            {"additionalProperties", false}};

ChatRequest numbered(int i) {
  ChatRequest r = ask("question " + std::to_string(i));
  r.body["seed"] = i;
  r.body["temperature"] = 0.7;
  return r;
}

ChatRequest structured(const std::string& text) {
  ChatRequest r = ask(text);
  r.body["response_format"] = {{"type", "json_schema"}, {"json_schema", {{"name", "answer"}, {"schema", kAnswerSchema}}}};
  return r;
}

}  // namespace

TEST(Client, AnswersCarryContentUsageAndStageTotals) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  ScriptedServer server(R"({"api_key": "sk-test-abcdefghijklmnopqrstuvwxyz",
                            "rules": [{"match": {"last_user_contains": "hello"},
                                       "respond": {"content": "hi there", "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}}}]})");
  Client client = client_for(server, fast_options(), "sk-test-abcdefghijklmnopqrstuvwxyz");
  const ChatResult r = one(client, ask("hello", "analyze.success"));
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.content, "hi there");
  EXPECT_EQ(r.finish_reason, "stop");
  EXPECT_EQ(r.usage.total_tokens, 10);
  EXPECT_EQ(r.attempts, 1);
  EXPECT_EQ(r.key.size(), 64u);
  EXPECT_EQ(client.totals().at("analyze.success").usage.prompt_tokens, 7);
  EXPECT_EQ(client.totals().at("total").succeeded, 1);
  const json sent = server.requests().at(0);
  EXPECT_EQ(sent["body"]["model"], "scripted-model");
  EXPECT_EQ(sent["headers"]["authorization"], "Bearer sk-test-abcdefghijklmnopqrstuvwxyz");
}

TEST(Client, AWrongKeyFailsWithoutRetryAndTheKeyIsNeverInTheReason) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  // A server that quotes the key it was sent back in its error message.
  const std::string key = "sk-wrong-abcdefghijklmnopqrstuvwxyz";
  ScriptedServer server(json{{"rules", {{{"fault", {{"kind", "status"}, {"status", 401},
                                                    {"message", "invalid API key " + key + " (and Bearer " + key + ")"}}}}}}}
                            .dump());
  Client client = client_for(server, fast_options(), key);
  const ChatResult r = one(client, ask("hello"));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.attempts, 1);
  EXPECT_NE(r.error.find("HTTP 401: invalid API key [REDACTED:api-key]"), std::string::npos) << r.error;
  EXPECT_EQ(r.error.find("sk-wrong"), std::string::npos) << r.error;
  EXPECT_EQ(server.requests().at(0)["headers"]["authorization"], "Bearer " + key);  // it was sent, though
}

TEST(Client, AStalledAnswerIsAbandonedAfterTheStallTimeout) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  ScriptedServer server(R"({"rules": [{"fault": {"kind": "stall", "seconds": 6, "times": 1}}, {"respond": {"content": "ok"}}]})");
  ClientOptions options = fast_options();
  options.timeouts.total_s = 30;
  options.timeouts.stall_s = 1;
  Client client = client_for(server, options);
  const ChatResult r = one(client, ask("q"));
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.attempts, 2);
  EXPECT_LT(r.latency_s, 4.0);
}

TEST(Client, RetryAfterAsAnHttpDateIsHonoured) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  ScriptedServer server(R"({"rules": [{"fault": {"kind": "rate_limit", "retry_after": 2, "retry_after_format": "date", "times": 1}},
                                      {"respond": {"content": "ok"}}]})");
  Client client = client_for(server);
  const ChatResult r = one(client, ask("q"));
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.attempts, 2);
  EXPECT_GE(r.latency_s, 0.9);  // a date has one-second resolution: 1-2 s, never the 10 ms backoff
}

TEST(Client, TheDeadlineAlsoBoundsAnAttemptInProgress) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  ScriptedServer server(R"({"rules": [{"fault": {"kind": "stall", "seconds": 10}}]})");
  ClientOptions options = fast_options();
  options.timeouts.total_s = 8;
  options.retry.deadline_s = 1;
  Client client = client_for(server, options);
  const ChatResult r = one(client, ask("q"));
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("deadline"), std::string::npos) << r.error;
  EXPECT_LT(r.latency_s, 2.5);
}

TEST(Client, RateLimitIsRetriedAfterRetryAfter) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  ScriptedServer server(R"({"rules": [{"fault": {"kind": "rate_limit", "retry_after": 1, "times": 1}},
                                      {"respond": {"content": "ok"}}]})");
  Client client = client_for(server);
  const ChatResult r = one(client, ask("q"));
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.attempts, 2);
  EXPECT_GE(r.latency_s, 0.95);  // waited for Retry-After, not for the 10 ms backoff
  EXPECT_EQ(client.totals().at("total").retries, 1);
}

TEST(Client, ServerErrorsAndBrokenAnswersAreRetried) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  for (const char* fault : {R"({"kind": "status", "status": 500})", R"({"kind": "status", "status": 503})",
                            R"({"kind": "status", "status": 408})", R"({"kind": "reset"})",
                            R"({"kind": "truncated"})", R"({"kind": "invalid_json"})"}) {
    json f = json::parse(fault);
    f["times"] = 2;
    ScriptedServer server(json{{"rules", {{{"fault", f}}, {{"respond", {{"content", "ok"}}}}}}}.dump());
    Client client = client_for(server);
    const ChatResult r = one(client, ask("q"));
    EXPECT_TRUE(r.ok) << fault << ": " << r.error;
    EXPECT_EQ(r.attempts, 3) << fault;
    EXPECT_EQ(r.content, "ok") << fault;
  }
}

TEST(Client, ClientErrorsAreNotRetried) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  ScriptedServer server(R"({"rules": [{"fault": {"kind": "status", "status": 400, "message": "context length exceeded"}}]})");
  Client client = client_for(server);
  const ChatResult r = one(client, ask("q"));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.attempts, 1);
  EXPECT_EQ(r.http_status, 400);
  EXPECT_NE(r.error.find("context length exceeded"), std::string::npos) << r.error;
}

TEST(Client, PersistentFailureGivesUpWithTheLastReason) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  ScriptedServer server(R"({"rules": [{"fault": {"kind": "status", "status": 503}}]})");
  ClientOptions options = fast_options();
  options.retry.max_attempts = 3;
  Client client = client_for(server, options);
  const ChatResult r = one(client, ask("q"));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.attempts, 3);
  EXPECT_NE(r.error.find("gave up after 3 attempts"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("HTTP 503"), std::string::npos) << r.error;
  EXPECT_EQ(server.stats()["requests"], 3);
}

TEST(Client, AnAttemptPastTheTotalTimeoutIsAbandonedAndRetried) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  ScriptedServer server(R"({"rules": [{"fault": {"kind": "stall", "seconds": 5, "times": 1}}, {"respond": {"content": "ok"}}]})");
  ClientOptions options = fast_options();
  options.timeouts.total_s = 0.5;
  Client client = client_for(server, options);
  const ChatResult r = one(client, ask("q"));
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.attempts, 2);
  EXPECT_LT(r.latency_s, 3.0);
}

TEST(Client, TheDeadlineEndsRetrying) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  ScriptedServer server(R"({"rules": [{"fault": {"kind": "rate_limit", "retry_after": 30}}]})");
  ClientOptions options = fast_options();
  options.retry.deadline_s = 2;
  Client client = client_for(server, options);
  const ChatResult r = one(client, ask("q"));
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("deadline"), std::string::npos) << r.error;
  EXPECT_LT(r.latency_s, 1.0);  // gave up at once instead of sleeping past the deadline
}

TEST(Client, InvalidUtf8FromTheModelIsRepaired) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  ScriptedServer server(R"({"rules": [{"fault": {"kind": "invalid_utf8"}}]})");
  Client client = client_for(server);
  const ChatResult r = one(client, ask("q"));
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_NE(r.content.find("\xEF\xBF\xBD"), std::string::npos);  // U+FFFD
  EXPECT_EQ(t2s::find_invalid_utf8(r.content), std::string_view::npos);
}

TEST(Client, StructuredOutputIsValidatedAndRepairedOnce) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  ScriptedServer server(R"({"rules": [
      {"match": {"message_contains": "prose"}, "fault": {"kind": "ignore_response_format"}},
      {"match": {"last_user_contains": "good"}, "json": {"answer": 5}},
      {"match": {"last_user_contains": "does not match the required JSON schema"}, "json": {"answer": 6}},
      {"match": {"last_user_contains": "fixable"}, "respond": {"content": "{\"answer\": \"six\"}"}},
      {"match": {"last_user_contains": "fenced"}, "respond": {"content": "```json\n{\"answer\": 7}\n```"}}]})");
  Client client = client_for(server);
  std::vector<ChatRequest> requests;
  for (const char* text : {"good", "fixable", "fenced", "prose"}) requests.push_back(structured(text));
  const auto results = client.run_all(std::move(requests));
  ASSERT_TRUE(results[0].ok) << results[0].error;
  EXPECT_EQ(results[0].structured["answer"], 5);
  EXPECT_FALSE(results[0].repaired);
  ASSERT_TRUE(results[1].ok) << results[1].error;
  EXPECT_TRUE(results[1].repaired);
  EXPECT_EQ(results[1].structured["answer"], 6);
  EXPECT_EQ(results[1].attempts, 2);
  ASSERT_TRUE(results[2].ok) << results[2].error;
  EXPECT_EQ(results[2].structured["answer"], 7);
  EXPECT_FALSE(results[3].ok);
  EXPECT_NE(results[3].error.find("after a repair round"), std::string::npos) << results[3].error;
  EXPECT_EQ(results[3].attempts, 2);
  // The repair request carried the violation back to the model.
  bool saw_repair = false;
  for (const auto& sent : server.requests()) {
    const std::string body = sent["body"].dump();
    saw_repair = saw_repair || body.find("/answer: expected integer, got a string") != std::string::npos;
  }
  EXPECT_TRUE(saw_repair);
}

TEST(Client, AnUncheckableSchemaIsRefusedAtSubmit) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  ScriptedServer server(R"({"default": {"content": "x"}})");
  Client client = client_for(server);
  ChatRequest r = ask("q");
  r.body["response_format"] = {{"type", "json_schema"}, {"json_schema", {{"schema", {{"if", json::object()}}}}}};
  EXPECT_THROW(client.submit(std::move(r), [](ChatResult&&) {}), t2s::InputError);
  EXPECT_THROW(client.submit({{{"messages", json::array()}}, "x"}, [](ChatResult&&) {}), t2s::InputError);
}

TEST(Client, RecordedExchangesReplayWithoutANetworkCall) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  MemoryRecorder recorder;
  std::vector<std::string> live;
  {
    ScriptedServer server(R"({"rules": [{"echo": true}]})");
    ClientOptions options = fast_options();
    options.record_mode = RecordMode::record;
    options.recorder = &recorder;
    Client client = client_for(server, options);
    std::vector<ChatRequest> requests;
    for (int i = 0; i < 5; ++i) requests.push_back(numbered(i));
    for (const auto& r : client.run_all(std::move(requests))) {
      ASSERT_TRUE(r.ok) << r.error;
      live.push_back(r.content);
    }
    EXPECT_EQ(recorder.size(), 5u);
  }
  // The server is gone: a replay must not need it.
  ClientOptions options = fast_options();
  options.record_mode = RecordMode::replay;
  options.recorder = &recorder;
  Client client(Endpoint::resolve("http://127.0.0.1:9/v1", "scripted-model", {}), options);
  std::vector<ChatRequest> requests;
  for (int i = 0; i < 5; ++i) requests.push_back(numbered(i));
  requests.push_back(ask("never recorded"));
  const auto results = client.run_all(std::move(requests));
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(results[i].ok) << results[i].error;
    EXPECT_TRUE(results[i].replayed);
    EXPECT_EQ(results[i].content, live[i]);
  }
  EXPECT_FALSE(results[5].ok);
  EXPECT_NE(results[5].error.find("replay: no recording of request " + results[5].key), std::string::npos) << results[5].error;
  EXPECT_NE(results[5].error.find("never recorded"), std::string::npos) << results[5].error;
  EXPECT_EQ(client.totals().at("total").replayed, 5);
}

TEST(Client, AutoModeCallsOnlyForWhatIsNotRecorded) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  ScriptedServer server(R"({"rules": [{"echo": true}]})");
  MemoryRecorder recorder;
  ClientOptions options = fast_options();
  options.record_mode = RecordMode::automatic;
  options.recorder = &recorder;
  Client client = client_for(server, options);
  one(client, ask("a"));
  one(client, ask("a"));
  one(client, ask("b"));
  EXPECT_EQ(server.stats()["requests"], 2);
  EXPECT_EQ(recorder.size(), 2u);
}

TEST(Client, NeverMoreThanTheCapInFlightAndConnectionsAreReused) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  ScriptedServerOptions server_options;
  server_options.latency_ms = 100;
  ScriptedServer server(R"({"rules": [{"echo": true}]})", server_options);
  ClientOptions options = fast_options();
  options.max_in_flight = 4;
  Client client = client_for(server, options);
  std::vector<ChatRequest> requests;
  for (int i = 0; i < 12; ++i) requests.push_back(ask("q" + std::to_string(i)));
  const auto start = std::chrono::steady_clock::now();
  for (const auto& r : client.run_all(std::move(requests))) EXPECT_TRUE(r.ok) << r.error;
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const json stats = server.stats();
  EXPECT_EQ(stats["max_in_flight_observed"], 4);
  EXPECT_LE(stats["connections_opened"].get<int>(), 4);  // keep-alive: three waves over four connections
  EXPECT_GE(wall, 0.29);                                   // 12 requests, 4 at a time, 100 ms each
}

TEST(Client, CallbacksCanSubmitTheNextTurn) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  ScriptedServer server(R"({"rules": [{"echo": true}]})");
  Client client = client_for(server);
  std::vector<std::string> seen;
  std::function<void(ChatResult&&)> next = [&](ChatResult&& r) {
    ASSERT_TRUE(r.ok) << r.error;
    seen.push_back(r.content);
    if (seen.size() < 3) client.submit(ask("turn " + std::to_string(seen.size() + 1)), next);
  };
  client.submit(ask("turn 1"), next);
  client.run();
  EXPECT_EQ(seen, (std::vector<std::string>{"turn 1", "turn 2", "turn 3"}));
}

TEST(Client, PostedWorkRunsOnTheLoopThreadPromptlyAndAHoldKeepsRunGoing) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  ScriptedServer server(R"({"rules": [{"echo": true}]})");
  Client client = client_for(server);
  using Clock = std::chrono::steady_clock;
  std::vector<std::string> seen;
  std::thread::id posted_on;
  Clock::time_point posted_at, ran_at;
  // A worker thread that holds the loop open, then hands a follow-up request back after 1.3 s:
  // longer than the loop's 1 s idle sleep, so only the wake-up makes the posted function run at once.
  std::thread worker;
  client.submit(ask("first"), [&](ChatResult&& r) {
    seen.push_back(r.content);
    worker = std::thread([&client, &posted_at, &ran_at, &posted_on, &seen, hold = client.hold()]() mutable {
      std::this_thread::sleep_for(std::chrono::milliseconds(1300));
      posted_at = Clock::now();
      client.post([&] {
        ran_at = Clock::now();
        posted_on = std::this_thread::get_id();
        client.submit(ask("second"), [&](ChatResult&& r2) { seen.push_back(r2.content); });
      });
      hold.release();
    });
  });
  const auto start = Clock::now();
  client.run();
  const double wall = std::chrono::duration<double>(Clock::now() - start).count();
  worker.join();
  EXPECT_EQ(seen, (std::vector<std::string>{"first", "second"}));  // run() waited for the held work
  EXPECT_EQ(posted_on, std::this_thread::get_id());
  EXPECT_GE(wall, 1.3);
  EXPECT_LT(std::chrono::duration<double>(ran_at - posted_at).count(), 0.25);  // woken, not the 1 s sleep

  // Without holds or posts run() returns at once; a post made outside run() waits for the next one.
  int ran = 0;
  client.post([&] { ++ran; });
  EXPECT_EQ(ran, 0);
  client.run();
  EXPECT_EQ(ran, 1);
  Client::Hold h = client.hold();
  Client::Hold moved = std::move(h);
  EXPECT_FALSE(h.held());
  EXPECT_TRUE(moved.held());
  moved.release();
  const auto again = Clock::now();
  client.run();
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - again).count(), 0.1);
}

TEST(Client, APostedFunctionThatThrowsLeavesRunAndTheRestStayQueued) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  ScriptedServer server(R"({"rules": [{"echo": true}]})");
  Client client = client_for(server);
  std::vector<int> order;
  client.post([&] { order.push_back(1); });
  client.post([&] { throw t2s::Error("posted failure"); });
  client.post([&] { order.push_back(3); });
  EXPECT_THROW(client.run(), t2s::Error);
  EXPECT_EQ(order, (std::vector<int>{1}));
  client.run();
  EXPECT_EQ(order, (std::vector<int>{1, 3}));
}

TEST(Client, SecretsAreRedactedBeforeTheyLeave) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  ScriptedServer server(R"({"rules": [{"echo": true}]})");
  t2s::trace::Redactor redactor;
  ClientOptions options = fast_options();
  options.redactor = &redactor;
  Client client = client_for(server, options);
  const ChatResult r = one(client, ask("my key is sk-proj-abcdefghijklmnopqrstuvwxyz0123 and db postgres://u:hunter2@db/x"));
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.redactions, 2u);
  const std::string sent = server.requests().dump();
  EXPECT_EQ(sent.find("sk-proj-abc"), std::string::npos);
  EXPECT_EQ(sent.find("hunter2"), std::string::npos);
  EXPECT_EQ(client.totals().at("total").redactions, 2);
}

TEST(Client, EveryRequestEndsOnceUnderRandomFaults) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  ScriptedServer server(R"({"rules": [{"echo": true}],
                            "random_faults": {"rate": 0.2, "seed": 11,
                                              "kinds": [{"kind": "status", "status": 500}, {"kind": "reset"},
                                                        {"kind": "truncated"}, {"kind": "invalid_json"},
                                                        {"kind": "rate_limit", "retry_after": 0}]}})");
  ClientOptions options = fast_options();
  options.max_in_flight = 16;
  options.retry.max_attempts = 2;  // so that some requests do fail
  Client client = client_for(server, options);
  std::size_t ended = 0, ok = 0, failed = 0;
  std::vector<int> calls(300, 0);
  for (int i = 0; i < 300; ++i)
    client.submit(ask("r" + std::to_string(i)), [&, i](ChatResult&& r) {
      ++ended;
      ++calls[i];
      if (r.ok) {
        ++ok;
        EXPECT_EQ(r.content, "r" + std::to_string(i));
      } else {
        ++failed;
        EXPECT_FALSE(r.error.empty());
      }
    });
  client.run();
  EXPECT_EQ(ended, 300u);
  EXPECT_EQ(ok + failed, 300u);
  EXPECT_GT(failed, 0u);   // with 2 attempts and 20% faults, about 4% fail
  EXPECT_GT(ok, 250u);
  for (int n : calls) EXPECT_EQ(n, 1);
  EXPECT_EQ(client.totals().at("total").failed, static_cast<std::int64_t>(failed));
}

TEST(Client, ModelsAreListed) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  ScriptedServer server(R"({"models": ["m1", "m2"], "default": {"content": "x"}})");
  Client client = client_for(server);
  const json models = client.get("/models");
  ASSERT_EQ(models["data"].size(), 2u);
  EXPECT_EQ(models["data"][1]["id"], "m2");
}

TEST(Client, ExchangesRecordedToHdf5ReplayInALaterRun) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  t2s::test::TempDir temp;
  std::vector<std::string> live;
  {
    ScriptedServer server(R"({"rules": [{"echo": true}]})");
    t2s::store::RecordingStore recordings({temp.path()}, temp.path() / "rank0.llm.h5");
    ClientOptions options = fast_options();
    options.record_mode = RecordMode::record;
    options.recorder = &recordings;
    Client client = client_for(server, options);
    std::vector<ChatRequest> requests;
    for (int i = 0; i < 20; ++i) requests.push_back(numbered(i));
    for (const auto& r : client.run_all(std::move(requests))) live.push_back(r.content);
    recordings.close();
  }
  t2s::store::RecordingStore recordings({temp.path()}, std::nullopt);
  ClientOptions options = fast_options();
  options.record_mode = RecordMode::replay;
  options.recorder = &recordings;
  Client client(Endpoint::resolve("http://127.0.0.1:9/v1", "scripted-model", {}), options);
  std::vector<ChatRequest> requests;
  for (int i = 0; i < 20; ++i) requests.push_back(numbered(i));
  const auto results = client.run_all(std::move(requests));
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(results[i].ok) << results[i].error;
    EXPECT_TRUE(results[i].replayed);
    EXPECT_EQ(results[i].content, live[i]);
  }
}

TEST(Client, RecordingFailuresFailTheRequestNotTheRun) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  struct BrokenRecorder : Recorder {
    std::optional<std::string> find(const std::string&) override { return std::nullopt; }
    void store(const std::string&, const std::string&, const std::string&, const std::string&) override {
      throw t2s::Error("disk full");
    }
  } recorder;
  ScriptedServer server(R"({"rules": [{"echo": true}]})");
  ClientOptions options = fast_options();
  options.record_mode = RecordMode::record;
  options.recorder = &recorder;
  Client client = client_for(server, options);
  std::vector<ChatRequest> requests;
  for (int i = 0; i < 3; ++i) requests.push_back(numbered(i));
  for (const auto& r : client.run_all(std::move(requests))) {
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.error.find("recording the answer failed: disk full"), std::string::npos) << r.error;
  }
}

TEST(Client, AnUnusableRecordingFailsAtOnce) {
  MemoryRecorder recorder;
  const ChatRequest request = numbered(1);
  json body = request.body;
  body["model"] = "scripted-model";
  recorder.store(request_key(body), "test", body.dump(), R"({"no": "choices"})");
  ClientOptions options = fast_options();
  options.record_mode = RecordMode::replay;
  options.recorder = &recorder;
  Client client(Endpoint::resolve("http://127.0.0.1:9/v1", "scripted-model", {}), options);
  const ChatResult r = one(client, numbered(1));
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("the recorded answer is unusable: the response has no choices[0].message"), std::string::npos)
      << r.error;
  EXPECT_EQ(r.attempts, 1);
}

TEST(Client, ARepairRoundReplaysToo) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  MemoryRecorder recorder;
  {
    ScriptedServer server(R"({"rules": [
        {"match": {"last_user_contains": "does not match the required JSON schema"}, "json": {"answer": 6}},
        {"respond": {"content": "{\"answer\": \"six\"}"}}]})");
    ClientOptions options = fast_options();
    options.record_mode = RecordMode::record;
    options.recorder = &recorder;
    Client client = client_for(server, options);
    const ChatResult live = one(client, structured("fixable"));
    ASSERT_TRUE(live.ok && live.repaired) << live.error;
    EXPECT_EQ(recorder.size(), 2u);  // the first answer and the repaired one
  }
  ClientOptions options = fast_options();
  options.record_mode = RecordMode::replay;
  options.recorder = &recorder;
  Client client(Endpoint::resolve("http://127.0.0.1:9/v1", "scripted-model", {}), options);
  const ChatResult replayed = one(client, structured("fixable"));
  ASSERT_TRUE(replayed.ok) << replayed.error;
  EXPECT_TRUE(replayed.repaired);
  EXPECT_EQ(replayed.structured["answer"], 6);
}

TEST(Client, ToolCallArgumentsAreRedactedToo) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  ScriptedServer server(R"({"rules": [{"respond": {"content": "ok"}}]})");
  t2s::trace::Redactor redactor;
  ClientOptions options = fast_options();
  options.redactor = &redactor;
  Client client = client_for(server, options);
  ChatRequest request = ask("what happened?");
  request.body["messages"].insert(request.body["messages"].begin(),
      json{{"role", "assistant"}, {"content", nullptr},
           {"tool_calls", {{{"id", "c1"}, {"type", "function"},
                            {"function", {{"name", "bash"}, {"arguments", R"({"cmd": "export KEY=ghp_0123456789abcdefghijABCDEFGHIJ0123"})"}}}}}}});
  const ChatResult r = one(client, std::move(request));
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.redactions, 1u);
  EXPECT_EQ(server.requests().dump().find("ghp_0123"), std::string::npos);
}

TEST(RequestKey, WholeNumbersAreTheSameRequestAndKeyOrderDoesNotMatter) {
  EXPECT_EQ(request_key(json::parse(R"({"temperature": 1, "messages": []})")),
            request_key(json::parse(R"({"messages": [], "temperature": 1.0})")));
  EXPECT_NE(request_key(json::parse(R"({"temperature": 1})")), request_key(json::parse(R"({"temperature": 1.5})")));
}
