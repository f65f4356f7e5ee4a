// Tests of agent/tool_loop and agent/tools over real HTTP: the scripted server plays the model (its
// answers are test fixtures, not a model's output), the tools run real commands in a Sandbox.

#include "t2s/agent/tool_loop.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "t2s/agent/tools.hpp"
#include "t2s/core/error.hpp"
#include "testutil/scripted_server.hpp"
#include "testutil/temp_dir.hpp"

using namespace t2s::agent;
using nlohmann::json;
using t2s::test::ScriptedServer;
using Clock = std::chrono::steady_clock;

namespace {

t2s::llm::Client client_for(const ScriptedServer& server) {
  t2s::llm::ClientOptions options;
  options.retry.base_delay_s = 0.01;
  options.retry.max_attempts = 2;
  options.timeouts.total_s = 20;
  return t2s::llm::Client(t2s::llm::Endpoint::resolve(server.base_url(), "scripted-model", {}), options);
}

json call(const std::string& id, const std::string& name, const json& arguments) {
  return {{"id", id}, {"name", name}, {"arguments", arguments}};
}

// A scripted answer with these tool calls (a vector, so that one call is still a list).
json respond_calls(const std::vector<json>& calls) {
  json list = json::array();
  for (const json& c : calls) list.push_back(c);
  return {{"tool_calls", list}};
}

// A tool that records nothing and answers `text` after `delay`.
Tool sleeping_tool(const std::string& name, std::chrono::milliseconds delay, std::function<std::string(const json&)> text) {
  Tool tool;
  tool.name = name;
  tool.description = "test tool";
  tool.parameters = {{"type", "object"}, {"properties", {{"n", {{"type", "integer"}}}}}, {"additionalProperties", false}};
  tool.handler = [delay, text = std::move(text)](const json& arguments) {
    std::this_thread::sleep_for(delay);
    return ToolResult{text(arguments)};
  };
  return tool;
}

}  // namespace

TEST(ToolLoop, AnAnalystRunsCodeGetsFeedbackOnAWrongAnswerAndThenPasses) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  json script = {{"rules", json::array({
      {{"match", {{"last_tool_contains", "PASSED"}}}, {"respond", {{"content", "not expected: a pass ends the loop"}}}},
      {{"match", {{"last_tool_contains", "FAILED"}}}, {"respond", respond_calls({call("c3", "evaluate", {{"answer", "42"}})})}},
      {{"match", {{"last_role", "tool"}, {"last_tool_contains", "stdout:\n42"}}},
       {"respond", respond_calls({call("c2", "evaluate", {{"answer", "41"}})})}},
      {{"match", {{"last_role", "user"}}},
       {"respond", respond_calls({call("c1", "bash", {{"command", "python3 -c 'print(6*7)' > out.txt; cat out.txt"}})})}},
  })}};
  ScriptedServer server(script);
  auto client = client_for(server);
  t2s::ThreadPool pool(2);
  t2s::test::TempDir temp;
  auto sandbox = std::make_shared<const Sandbox>(temp.path(), SandboxContents{{{"task.md", "compute six times seven"}}, {}});
  auto checker = std::make_shared<const Checker>(Checker::from_json({{"kind", "numeric"}, {"gold", 42}}));

  LoopConfig config;
  config.system_prompt = "You reproduce failures and check fixes.";
  config.user_message = "The agent answered 41. Find the right answer and check it.";
  config.tools = {bash_tool(sandbox), read_file_tool(sandbox), write_file_tool(sandbox), evaluate_tool(sandbox, checker)};
  config.stage = "analyze.error";
  const LoopOutcome out = run_tool_loop(client, pool, config);

  ASSERT_EQ(out.status, LoopStatus::passed) << out.reason << "\n" << out.transcript.dump(2);
  EXPECT_EQ(out.turns, 3);
  EXPECT_EQ(out.tool_calls, 3);
  EXPECT_EQ(out.answer, "PASSED: correct (numeric match)");
  const json& t = out.transcript;
  ASSERT_EQ(t.size(), 8u);  // system, user, then (assistant with a call, tool result) x 3
  EXPECT_EQ(t[0]["role"], "system");
  EXPECT_EQ(t[2]["tool_calls"][0]["function"]["name"], "bash");
  EXPECT_EQ(t[3]["role"], "tool");
  EXPECT_EQ(t[3]["tool_call_id"], "c1");
  EXPECT_EQ(t[3]["content"], "exit code 0\nstdout:\n42\n");  // python really ran in the sandbox
  const std::string feedback = t[5]["content"];
  EXPECT_EQ(feedback.rfind("FAILED (score 0): wrong", 0), 0u) << feedback;
  EXPECT_EQ(feedback.find("42"), std::string::npos) << feedback;  // the gold is not revealed
  EXPECT_EQ(t[7]["content"], "PASSED: correct (numeric match)");
  EXPECT_EQ(sandbox->read_file("out.txt", 10).bytes, "42\n");

  // What the server saw: three requests with the four tools and the growing conversation.
  const json requests = server.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[0]["body"]["tools"].size(), 4u);
  EXPECT_EQ(requests[0]["body"]["tools"][3]["function"]["name"], "evaluate");
  EXPECT_EQ(requests[2]["body"]["messages"].size(), 6u);
  const auto& totals = client.totals().at("analyze.error");
  EXPECT_EQ(totals.requests, 3);
  EXPECT_EQ(out.usage.total_tokens, totals.usage.total_tokens);
  EXPECT_GT(out.usage.total_tokens, 0);
}

TEST(ToolLoop, TheTurnBudgetEndsALoopThatNeverStops) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  ScriptedServer server(json{{"rules", {{{"respond", respond_calls({call("c", "bash", {{"command", "echo again"}})})}}}}});
  auto client = client_for(server);
  t2s::ThreadPool pool(1);
  t2s::test::TempDir temp;
  auto sandbox = std::make_shared<const Sandbox>(temp.path());
  LoopConfig config;
  config.user_message = "go";
  config.tools = {bash_tool(sandbox)};
  config.max_turns = 3;
  const LoopOutcome out = run_tool_loop(client, pool, config);
  EXPECT_EQ(out.status, LoopStatus::budget_exhausted);
  EXPECT_NE(out.reason.find("turn budget of 3"), std::string::npos) << out.reason;
  EXPECT_EQ(out.turns, 3);
  EXPECT_EQ(out.tool_calls, 3);  // the last turn's calls ran too
  EXPECT_EQ(server.stats()["requests"], 3);
  EXPECT_EQ(out.transcript.back()["content"], "exit code 0\nstdout:\nagain\n");

  // A token budget ends it as well.
  config.max_turns = 50;
  config.max_total_tokens = 1;
  const LoopOutcome tokens = run_tool_loop(client, pool, config);
  EXPECT_EQ(tokens.status, LoopStatus::budget_exhausted);
  EXPECT_NE(tokens.reason.find("token budget of 1"), std::string::npos) << tokens.reason;
  EXPECT_EQ(tokens.turns, 1);
}

TEST(ToolLoop, MalformedCallsUnknownToolsAndBadPathsGoBackToTheModel) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  json script = {{"rules", json::array({
      {{"match", {{"last_role", "tool"}}}, {"respond", {{"content", "I give up"}}}},
      {{"respond", respond_calls({call("a", "bash", "{\"command\": \"echo hi\""),  // cut-off JSON
                                  call("b", "bash", {{"command", 5}}),
                                  call("c", "rm_rf", {{"path", "/"}}),
                                  call("d", "read_file", {{"path", "../../etc/passwd"}}),
                                  call("e", "bash", "[1, 2]"),
                                  call("f", "read_file", {{"path", "missing.txt"}})})}},
  })}};
  ScriptedServer server(script);
  auto client = client_for(server);
  t2s::ThreadPool pool(1);
  t2s::test::TempDir temp;
  auto sandbox = std::make_shared<const Sandbox>(temp.path());
  LoopConfig config;
  config.user_message = "go";
  config.tools = {bash_tool(sandbox), read_file_tool(sandbox)};
  const LoopOutcome out = run_tool_loop(client, pool, config);
  ASSERT_EQ(out.status, LoopStatus::finished) << out.reason;
  EXPECT_EQ(out.answer, "I give up");
  EXPECT_EQ(out.tool_calls, 6);
  const json& t = out.transcript;
  ASSERT_EQ(t.size(), 9u);
  auto result = [&](std::size_t i) { return t[1 + i]["content"].get<std::string>(); };  // user, assistant, results
  EXPECT_NE(result(1).find("error: the arguments of bash are not valid JSON"), std::string::npos) << result(1);
  EXPECT_NE(result(2).find("error: invalid arguments for bash: /command"), std::string::npos) << result(2);
  EXPECT_NE(result(3).find("error: there is no tool \"rm_rf\"; the tools are: bash, read_file"), std::string::npos) << result(3);
  EXPECT_NE(result(4).find("\"..\" components are not allowed"), std::string::npos) << result(4);
  EXPECT_NE(result(5).find("must be a JSON object, not array"), std::string::npos) << result(5);
  EXPECT_NE(result(6).find("no such file"), std::string::npos) << result(6);
  for (std::size_t i = 1; i <= 6; ++i) EXPECT_EQ(t[1 + i]["tool_call_id"], std::string(1, static_cast<char>('a' + i - 1)));

  // Past the per-turn cap, calls are answered without being run.
  config.max_tool_calls_per_turn = 2;
  const LoopOutcome capped = run_tool_loop(client, pool, config);
  EXPECT_EQ(capped.status, LoopStatus::finished);
  EXPECT_NE(capped.transcript[4]["content"].get<std::string>().find("not executed: at most 2 tool calls"), std::string::npos);
}

TEST(ToolLoop, AnAnswerWithoutToolCallsCanBeSentBackAndAPassEndsTheLoop) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  json script = {{"rules", json::array({
      {{"match", {{"last_user_contains", "Call evaluate"}}},
       {"respond", respond_calls({call("e1", "evaluate", {{"answer", 7}}), call("e2", "bash", {{"command", "touch never"}})})}},
      {{"respond", {{"content", "The answer is 7."}}}},
  })}};
  ScriptedServer server(script);
  auto client = client_for(server);
  t2s::ThreadPool pool(1);
  t2s::test::TempDir temp;
  auto sandbox = std::make_shared<const Sandbox>(temp.path());
  auto checker = std::make_shared<const Checker>(Checker::from_json({{"kind", "numeric"}, {"gold", "7"}}));
  LoopConfig config;
  config.user_message = "What is 3 + 4?";
  config.tools = {bash_tool(sandbox), evaluate_tool(sandbox, checker)};
  int asked = 0;
  config.on_answer = [&](const std::string& answer) -> std::optional<std::string> {
    ++asked;
    EXPECT_EQ(answer, "The answer is 7.");
    return "Call evaluate with your answer.";
  };
  const LoopOutcome out = run_tool_loop(client, pool, config);
  ASSERT_EQ(out.status, LoopStatus::passed) << out.reason;
  EXPECT_EQ(asked, 1);
  EXPECT_EQ(out.turns, 2);
  // The call after the passing one is answered, not run.
  EXPECT_EQ(out.transcript.back()["tool_call_id"], "e2");
  EXPECT_NE(out.transcript.back()["content"].get<std::string>().find("not executed"), std::string::npos);
  EXPECT_THROW(sandbox->read_file("never", 10), t2s::InputError);
}

TEST(ToolLoop, FailuresOfOursEndTheLoopWithTheReasonAndModelErrorsDoNot) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  ScriptedServer server(json{{"rules", json::array({
      {{"match", {{"last_user_contains", "http"}}}, {"fault", {{"kind", "status"}, {"status", 400}, {"message", "context too long"}}}},
      {{"match", {{"last_role", "tool"}, {"last_tool_contains", "error: bad input"}}}, {"respond", {{"content", "noted"}}}},
      {{"match", {{"last_user_contains", "picky"}}}, {"respond", respond_calls({call("p", "picky", json::object())})}},
      {{"respond", respond_calls({call("b", "broken", json::object())})}},
  })}});
  auto client = client_for(server);
  t2s::ThreadPool pool(1);
  Tool broken = sleeping_tool("broken", std::chrono::milliseconds(0), [](const json&) -> std::string { throw t2s::Error("disk on fire"); });
  Tool picky = sleeping_tool("picky", std::chrono::milliseconds(0), [](const json&) -> std::string { throw t2s::InputError("bad input"); });
  LoopConfig config;
  config.tools = {broken, picky};

  config.user_message = "http";
  const LoopOutcome http = run_tool_loop(client, pool, config);
  EXPECT_EQ(http.status, LoopStatus::failed);
  EXPECT_NE(http.reason.find("HTTP 400: context too long"), std::string::npos) << http.reason;

  config.user_message = "break";
  const LoopOutcome ours = run_tool_loop(client, pool, config);
  EXPECT_EQ(ours.status, LoopStatus::failed);
  EXPECT_EQ(ours.reason, "tool broken failed: disk on fire");

  config.user_message = "picky";
  const LoopOutcome theirs = run_tool_loop(client, pool, config);
  EXPECT_EQ(theirs.status, LoopStatus::finished) << theirs.reason;
  EXPECT_EQ(theirs.transcript[2]["content"], "error: bad input");

  LoopConfig bad = config;
  bad.tools.push_back(broken);
  EXPECT_THROW(run_tool_loop(client, pool, bad), t2s::InputError);  // a name used twice
  bad = config;
  bad.tools[0].parameters = {{"type", "object"}, {"if", json::object()}};
  EXPECT_THROW(run_tool_loop(client, pool, bad), t2s::InputError);  // a schema we cannot check
  bad = config;
  bad.request = {{"messages", json::array()}};
  EXPECT_THROW(run_tool_loop(client, pool, bad), t2s::InputError);
}

TEST(ToolLoop, TwentyFourLoopsShareOneClientAndASlowToolDoesNotHoldTheOthersUp) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  t2s::test::ScriptedServerOptions server_options;
  server_options.latency_ms = 50;
  ScriptedServer server(json{{"rules", json::array({
      {{"match", {{"last_tool_contains", "slept"}}}, {"respond", {{"content", "slow done"}}}},
      {{"match", {{"last_tool_contains", "step 3 done"}}}, {"respond", {{"content", "quick done"}}}},
      {{"match", {{"last_tool_contains", "step 2 done"}}}, {"respond", respond_calls({call("s3", "step", {{"n", 3}})})}},
      {{"match", {{"last_tool_contains", "step 1 done"}}}, {"respond", respond_calls({call("s2", "step", {{"n", 2}})})}},
      {{"match", {{"last_role", "user"}, {"last_user_contains", "slow loop"}}}, {"respond", respond_calls({call("w", "slow", json::object())})}},
      {{"match", {{"last_role", "user"}}}, {"respond", respond_calls({call("s1", "step", {{"n", 1}})})}},
  })}},
                        server_options);
  auto client = client_for(server);
  t2s::ThreadPool pool(6);

  std::mutex mutex;
  double tool_seconds = 0;  // the tools' summed run time
  Clock::time_point slow_tool_end;
  auto timed = [&](Tool tool) {
    auto inner = tool.handler;
    tool.handler = [&, inner](const json& arguments) {
      const auto begin = Clock::now();
      ToolResult result = inner(arguments);
      const auto end = Clock::now();
      std::lock_guard lock(mutex);
      tool_seconds += std::chrono::duration<double>(end - begin).count();
      if (result.text == "slept") slow_tool_end = end;
      return result;
    };
    return tool;
  };
  const std::vector<Tool> tools = {
      timed(sleeping_tool("step", std::chrono::milliseconds(50), [](const json& a) { return "step " + std::to_string(a.value("n", 0)) + " done"; })),
      timed(sleeping_tool("slow", std::chrono::milliseconds(4000), [](const json&) { return std::string("slept"); }))};

  const int quick_loops = 23;
  std::vector<LoopOutcome> outcomes(quick_loops + 1);
  std::vector<Clock::time_point> ended(quick_loops + 1);
  const auto start = Clock::now();
  for (int i = 0; i <= quick_loops; ++i) {
    LoopConfig config;
    config.user_message = i == 0 ? "slow loop" : "quick loop " + std::to_string(i);
    config.tools = tools;
    start_tool_loop(client, pool, config, [&, i](LoopOutcome o) {
      outcomes[i] = std::move(o);
      ended[i] = Clock::now();
    });
  }
  client.run();
  const double wall = std::chrono::duration<double>(Clock::now() - start).count();

  ASSERT_EQ(outcomes[0].status, LoopStatus::finished) << outcomes[0].reason;
  EXPECT_EQ(outcomes[0].answer, "slow done");
  for (int i = 1; i <= quick_loops; ++i) {
    ASSERT_EQ(outcomes[i].status, LoopStatus::finished) << i << ": " << outcomes[i].reason;
    EXPECT_EQ(outcomes[i].answer, "quick done");
    EXPECT_EQ(outcomes[i].turns, 4);
    // Every quick loop made its four requests and three tool calls while the slow tool was running.
    EXPECT_LT(ended[i], slow_tool_end) << "quick loop " << i << " waited for the slow tool";
  }
  // Serially: 4 s + 69 x 50 ms of tools and 94 requests of 50 ms, about 12 s. Together: the slow tool.
  const double serial = tool_seconds + 94 * 0.05;
  EXPECT_GT(serial, 11.0);
  EXPECT_LT(wall, 7.5);
  EXPECT_LT(wall, serial * 0.7);
  EXPECT_GE(server.stats()["max_in_flight_observed"].get<int>(), 5);  // requests of different loops overlapped
  EXPECT_EQ(server.stats()["requests"], 2 + quick_loops * 4);
}
