// `t2s llm ping` through the real binary, against the scripted server over real HTTP.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "testutil/run_command.hpp"
#include "testutil/scripted_server.hpp"

using t2s::test::ScriptedServer;

namespace {

t2s::test::CommandResult ping(const ScriptedServer& server, const std::string& extra = "") {
  return t2s::test::run_command(std::string(T2S_BINARY) + " llm ping --base-url " + server.base_url() + " --timeout 5 " + extra);
}

}  // namespace

TEST(LlmPing, SaysWhatWorks) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  ScriptedServer server(R"({"models": ["served-model"], "rules": [
      {"match": {"has_tools": true}, "respond": {"tool_calls": [{"name": "add", "arguments": {"a": 2, "b": 3}}]}},
      {"match": {"has_response_format": true}, "json": {"answer": 5}},
      {"respond": {"content": "pong"}}]})");
  const auto result = ping(server);
  EXPECT_EQ(result.status, 0) << result.output;
  EXPECT_NE(result.output.find("model served-model"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("ok    models: 1 model(s): served-model"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("ok    chat: replied \"pong\", latency"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("ok    structured output: schema-valid reply {\"answer\":5}"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("ok    tool calling: called add("), std::string::npos) << result.output;
}

TEST(LlmPing, ReportsAServerThatIgnoresSchemasAndTools) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  ScriptedServer server(R"({"rules": [{"match": {"has_response_format": true}, "fault": {"kind": "ignore_response_format"}},
                                      {"respond": {"content": "I cannot use tools."}}]})");
  const auto result = ping(server, "--json");
  ASSERT_EQ(result.status, 0) << result.output;  // chat works, so the endpoint is usable
  const auto report = nlohmann::json::parse(result.output.substr(result.output.find('{')));
  EXPECT_TRUE(report["checks"]["chat"]["ok"].get<bool>());
  EXPECT_FALSE(report["checks"]["structured output"]["ok"].get<bool>());
  EXPECT_NE(report["checks"]["structured output"]["detail"].get<std::string>().find("after a repair round"), std::string::npos);
  EXPECT_FALSE(report["checks"]["tool calling"]["ok"].get<bool>());
  EXPECT_EQ(report["api_key"], "none");
}

TEST(LlmPing, AnUnreachableEndpointFailsWithTheReasonAndTheKeyStaysSecret) {
  const auto result = t2s::test::run_command(
      "T2S_API_KEY=sk-secret-abcdefghijklmnopqrstuvwxyz " + std::string(T2S_BINARY) +
      " llm ping --base-url http://127.0.0.1:9/v1 --model m --timeout 2");
  EXPECT_EQ(result.status, 1) << result.output;
  EXPECT_NE(result.output.find("Couldn't connect"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("API key: environment variable T2S_API_KEY"), std::string::npos) << result.output;
  EXPECT_EQ(result.output.find("sk-secret"), std::string::npos) << result.output;
}

// Without --model, the model comes from the list; when the list fails, its reason is the message.
TEST(LlmPing, AnUnreachableEndpointWithoutAModelSaysWhyTheListFailed) {
  const auto result = t2s::test::run_command("env -u T2S_MODEL " + std::string(T2S_BINARY) +
                                             " llm ping --base-url http://127.0.0.1:9/v1 --timeout 2");
  EXPECT_EQ(result.status, 1) << result.output;
  EXPECT_NE(result.output.find("the model list failed ("), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("Couldn't connect"), std::string::npos) << result.output;
}

TEST(LlmPing, NoEndpointIsABadUsageError) {
  const auto result = t2s::test::run_command("env -u T2S_BASE_URL " + std::string(T2S_BINARY) + " llm ping");
  EXPECT_EQ(result.status, 2) << result.output;
  EXPECT_NE(result.output.find("T2S_BASE_URL"), std::string::npos) << result.output;
}

TEST(LlmPing, AServerThatEchoesTheKeyNeverGetsItPrinted) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  const std::string key = "sk-echoed-abcdefghijklmnopqrstuvwxyz";
  ScriptedServer server(nlohmann::json{{"rules", {{{"fault", {{"kind", "status"}, {"status", 401},
                                                               {"message", "bad key " + key}}}}}}}
                            .dump());
  const auto result = t2s::test::run_command("T2S_API_KEY=" + key + " " + std::string(T2S_BINARY) + " llm ping --base-url " +
                                             server.base_url() + " --model m --timeout 5 --json");
  EXPECT_EQ(result.status, 1) << result.output;
  EXPECT_NE(result.output.find("HTTP 401: bad key [REDACTED:api-key]"), std::string::npos) << result.output;
  EXPECT_EQ(result.output.find("sk-echoed"), std::string::npos) << result.output;
}
