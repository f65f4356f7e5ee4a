// agent/tool_loop: an agentic loop over llm::Client with OpenAI tool calling — the core of the
// `error` analyst (reproduce a failure, write a fix, check it until it passes) and of rollouts.
//
// A loop sends the conversation (system prompt, user message, then every turn) with the tools'
// JSON schemas, executes the tool calls the model returns, appends their results as `tool`
// messages and asks again, until the model answers without tool calls (finished), a tool says the
// loop is done (e.g. `evaluate` passed: passed), or the turn or token budget is used up
// (budget_exhausted). A failed request or a tool that fails for a reason of ours (an Error that is
// not an InputError) ends it as failed with the reason.
//
// Model output is untrusted: unknown tool names, arguments that are not JSON or break the tool's
// schema, tool calls without ids, too many calls in one turn, and InputErrors thrown by a handler
// all become `tool` messages that tell the model what was wrong, never a crash.
//
// Concurrency: many loops share one Client (one curl loop per process). Model turns are submitted
// on the client's loop thread; tool calls run on a ThreadPool, under a Client::Hold, so a tool that
// takes seconds never stalls other loops' requests; the next turn is handed back with
// Client::post(). The calls of one turn run one after another, in order, so a transcript does not
// depend on thread timing. Ready-made tools (bash, read_file, write_file, evaluate): agent/tools.hpp.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "t2s/core/thread_pool.hpp"
#include "t2s/llm/client.hpp"

namespace t2s::agent {

struct ToolResult {
  std::string text;     // the content of the `tool` message
  bool done = false;    // end the loop after this call
  bool passed = false;  // with done: the loop ends as passed (else as finished)
};

struct Tool {
  std::string name;         // [A-Za-z0-9_-]{1,64}, unique within a loop
  std::string description;
  nlohmann::json parameters = {{"type", "object"}, {"properties", nlohmann::json::object()}};  // JSON schema of the arguments
  // Runs on a worker thread with arguments that are a JSON object valid under `parameters`. An
  // InputError goes back to the model as the tool's result; any other exception fails the loop.
  std::function<ToolResult(const nlohmann::json& arguments)> handler;
};

// The request body's "tools" list for these tools (OpenAI function tools).
nlohmann::json tool_schemas(const std::vector<Tool>& tools);

enum class LoopStatus { finished, passed, budget_exhausted, failed };
const char* to_string(LoopStatus status);

struct LoopConfig {
  std::string system_prompt;  // may be empty (then no system message)
  std::string user_message;
  std::vector<Tool> tools;
  int max_turns = 20;                      // model requests
  std::int64_t max_total_tokens = 0;       // summed usage; 0: no limit
  nlohmann::json request = nlohmann::json::object();  // more body fields: temperature, seed, max_tokens, tool_choice, model
  std::string stage = "agent";             // the client's accounting bucket
  std::size_t max_tool_calls_per_turn = 8; // more are answered "not executed"
  std::size_t max_tool_result_bytes = std::size_t{16} << 10;
  // When the model answers without tool calls: nullopt ends the loop (finished, with the answer);
  // a text goes back as a user message and the loop goes on (e.g. "Call evaluate with your
  // answer."). Runs on the client's loop thread: keep it quick. Default: end.
  std::function<std::optional<std::string>(const std::string& answer)> on_answer;
};

struct LoopOutcome {
  LoopStatus status = LoopStatus::failed;
  std::string reason;       // failed / budget_exhausted: why
  std::string answer;       // finished: the model's last answer; passed: the result of the tool that passed
  nlohmann::json transcript = nlohmann::json::array();  // OpenAI messages, the system prompt first
  llm::Usage usage;         // summed over the loop's requests
  int turns = 0;            // model answers received
  int tool_calls = 0;       // tool calls answered (executed or refused)
  double wall_s = 0.0;
};

// Starts a loop: validates `config` (InputError: duplicate or bad tool names, an uncheckable schema,
// max_turns < 1, a request with its own messages or tools) and submits the first turn. Call it on
// the client's loop thread (from a callback or a posted function) or before client.run().
// `on_done` runs once, on the loop thread. The client and the pool must outlive the loop; run()
// does not return before `on_done` has run.
void start_tool_loop(llm::Client& client, ThreadPool& pool, LoopConfig config, std::function<void(LoopOutcome)> on_done);

// One loop to its end: start_tool_loop, then client.run().
LoopOutcome run_tool_loop(llm::Client& client, ThreadPool& pool, LoopConfig config);

}  // namespace t2s::agent
