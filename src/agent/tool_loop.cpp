#include "t2s/agent/tool_loop.hpp"

#include <chrono>
#include <memory>
#include <set>

#include "t2s/core/error.hpp"
#include "t2s/core/text.hpp"
#include "t2s/llm/schema.hpp"

namespace t2s::agent {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

json tool_schemas(const std::vector<Tool>& tools) {
  json list = json::array();
  for (const auto& tool : tools)
    list.push_back({{"type", "function"},
                    {"function", {{"name", tool.name}, {"description", tool.description}, {"parameters", tool.parameters}}}});
  return list;
}

const char* to_string(LoopStatus status) {
  switch (status) {
    case LoopStatus::finished: return "finished";
    case LoopStatus::passed: return "passed";
    case LoopStatus::budget_exhausted: return "budget_exhausted";
    case LoopStatus::failed: return "failed";
  }
  return "?";
}

namespace {

bool valid_tool_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') return false;
  return true;
}

// A tool call as the model sent it, made safe to echo back: every call has an id and string arguments.
struct Call {
  std::string id, name, arguments;
  std::string problem;  // set when the call itself is malformed
};

// What one turn's tool calls produced (built on a worker, applied on the loop thread).
struct TurnResult {
  std::vector<json> messages;
  int calls = 0;
  bool done = false, passed = false;
  std::string answer;
  std::optional<std::string> failure;
};

class Loop : public std::enable_shared_from_this<Loop> {
 public:
  Loop(llm::Client& client, ThreadPool& pool, LoopConfig config, std::function<void(LoopOutcome)> on_done)
      : client_(client), pool_(pool), config_(std::move(config)), on_done_(std::move(on_done)), start_(Clock::now()) {
    if (config_.max_turns < 1) throw InputError("tool loop: max_turns must be at least 1");
    if (config_.max_tool_calls_per_turn < 1) throw InputError("tool loop: max_tool_calls_per_turn must be at least 1");
    if (!config_.request.is_object()) throw InputError("tool loop: request must be a JSON object of body fields");
    for (const char* key : {"messages", "tools"})
      if (config_.request.contains(key)) throw InputError(std::string("tool loop: request must not hold \"") + key + "\" (the loop sets it)");
    std::set<std::string> names;
    tools_json_ = json::array();
    for (std::size_t i = 0; i < config_.tools.size(); ++i) {
      const Tool& tool = config_.tools[i];
      const std::string where = "tool loop: tools[" + std::to_string(i) + "]";
      if (!valid_tool_name(tool.name)) throw InputError(where + ".name \"" + abbreviate(tool.name, 64) + "\": use 1-64 of [A-Za-z0-9_-]");
      if (!names.insert(tool.name).second) throw InputError(where + ".name \"" + tool.name + "\": used twice");
      if (!tool.handler) throw InputError(where + " (" + tool.name + "): no handler");
      try {
        schemas_.emplace_back(tool.parameters);
      } catch (const InputError& e) {
        throw InputError(where + " (" + tool.name + ").parameters: " + e.what());
      }
    }
    tools_json_ = tool_schemas(config_.tools);
    if (!config_.system_prompt.empty()) outcome_.transcript.push_back({{"role", "system"}, {"content", config_.system_prompt}});
    outcome_.transcript.push_back({{"role", "user"}, {"content", config_.user_message}});
  }

  // ---- on the loop thread ----

  void submit_turn() {
    if (outcome_.turns >= config_.max_turns) {
      finish(LoopStatus::budget_exhausted, "the turn budget of " + std::to_string(config_.max_turns) + " model requests is used up");
      return;
    }
    if (config_.max_total_tokens > 0 && outcome_.usage.total_tokens >= config_.max_total_tokens) {
      finish(LoopStatus::budget_exhausted, "the token budget of " + std::to_string(config_.max_total_tokens) + " is used up (" +
                                               std::to_string(outcome_.usage.total_tokens) + " tokens)");
      return;
    }
    llm::ChatRequest request;
    request.body = config_.request;
    request.body["messages"] = outcome_.transcript;
    if (!tools_json_.empty()) request.body["tools"] = tools_json_;
    request.stage = config_.stage;
    try {
      client_.submit(std::move(request), [self = shared_from_this()](llm::ChatResult&& result) { self->on_model(std::move(result)); });
    } catch (const std::exception& e) {
      finish(LoopStatus::failed, std::string("the request could not be made: ") + e.what());
    }
  }

 private:
  void on_model(llm::ChatResult&& result) {
    ++outcome_.turns;
    outcome_.usage.prompt_tokens += result.usage.prompt_tokens;
    outcome_.usage.completion_tokens += result.usage.completion_tokens;
    outcome_.usage.total_tokens += result.usage.total_tokens;
    if (!result.ok) {
      finish(LoopStatus::failed, "the model request of turn " + std::to_string(outcome_.turns) + " failed: " + result.error);
      return;
    }
    try {
      std::vector<Call> calls = read_calls(result.message);
      json message = {{"role", "assistant"}, {"content", result.message.contains("content") && result.message["content"].is_string()
                                                             ? json(result.content)
                                                             : json(nullptr)}};
      if (!calls.empty()) {
        json list = json::array();
        for (const Call& call : calls)
          list.push_back({{"id", call.id}, {"type", "function"}, {"function", {{"name", call.name}, {"arguments", call.arguments}}}});
        message["tool_calls"] = std::move(list);
      }
      outcome_.transcript.push_back(std::move(message));
      if (calls.empty()) {
        std::optional<std::string> next = config_.on_answer ? config_.on_answer(result.content) : std::nullopt;
        if (!next) {
          finish(LoopStatus::finished, "", result.content);
          return;
        }
        outcome_.transcript.push_back({{"role", "user"}, {"content", *next}});
        submit_turn();
        return;
      }
      // Tools may block for seconds: they run on the pool, and the hold keeps run() going meanwhile.
      pool_.submit([self = shared_from_this(), calls = std::move(calls), hold = client_.hold()]() mutable {
        auto turn = std::make_shared<TurnResult>();
        try {
          *turn = self->run_calls(calls);
        } catch (const std::exception& e) {
          turn->failure = std::string("tool loop: ") + e.what();
        }
        self->client_.post([self, turn] { self->after_tools(std::move(*turn)); });
        hold.release();  // after the post, so run() cannot return in between
      });
    } catch (const std::exception& e) {
      finish(LoopStatus::failed, std::string("tool loop: ") + e.what());
    }
  }

  void after_tools(TurnResult turn) {
    for (json& message : turn.messages) outcome_.transcript.push_back(std::move(message));
    outcome_.tool_calls += turn.calls;
    if (turn.failure) finish(LoopStatus::failed, *turn.failure);
    else if (turn.done) finish(turn.passed ? LoopStatus::passed : LoopStatus::finished, "", turn.answer);
    else submit_turn();
  }

  void finish(LoopStatus status, std::string reason, std::string answer = {}) {
    if (finished_) return;
    finished_ = true;
    outcome_.status = status;
    outcome_.reason = std::move(reason);
    outcome_.answer = std::move(answer);
    outcome_.wall_s = std::chrono::duration<double>(Clock::now() - start_).count();
    if (on_done_) on_done_(std::move(outcome_));
  }

  // The model's tool calls, each with an id and its arguments as text, whatever shape they came in.
  std::vector<Call> read_calls(const json& message) const {
    std::vector<Call> calls;
    const auto list = message.find("tool_calls");
    if (list == message.end() || list->is_null()) return calls;
    if (!list->is_array()) {
      calls.push_back({fallback_id(0), "", "", "tool_calls must be a list of calls"});
      return calls;
    }
    std::set<std::string> ids;
    for (std::size_t i = 0; i < list->size(); ++i) {
      const json& entry = (*list)[i];
      Call call;
      if (entry.is_object() && entry.contains("id") && entry["id"].is_string() && !entry["id"].get<std::string>().empty())
        call.id = entry["id"].get<std::string>();
      if (call.id.empty() || !ids.insert(call.id).second) call.id = fallback_id(i);
      ids.insert(call.id);
      const json* function = entry.is_object() && entry.contains("function") && entry["function"].is_object() ? &entry["function"] : nullptr;
      if (function == nullptr) {
        call.problem = "a tool call needs a \"function\" with a name and arguments";
      } else {
        if (function->contains("name") && (*function)["name"].is_string()) call.name = (*function)["name"].get<std::string>();
        else call.problem = "the tool call has no function name";
        if (function->contains("arguments")) {
          const json& arguments = (*function)["arguments"];
          call.arguments = arguments.is_string() ? arguments.get<std::string>() : arguments.dump(-1, ' ', false, json::error_handler_t::replace);
        }
      }
      calls.push_back(std::move(call));
    }
    return calls;
  }

  std::string fallback_id(std::size_t i) const { return "call_t" + std::to_string(outcome_.turns) + "_" + std::to_string(i); }

  // ---- on a worker thread: touches only config_, schemas_ (read-only) and its own data ----

  TurnResult run_calls(const std::vector<Call>& calls) const {
    TurnResult turn;
    for (std::size_t i = 0; i < calls.size(); ++i) {
      const Call& call = calls[i];
      std::string text;
      if (turn.done || turn.failure) {
        text = "not executed: the loop ended at an earlier call of this turn";
      } else if (i >= config_.max_tool_calls_per_turn) {
        text = "not executed: at most " + std::to_string(config_.max_tool_calls_per_turn) + " tool calls are run per turn";
      } else {
        text = run_one(call, turn);
      }
      if (text.size() > config_.max_tool_result_bytes) {
        const std::size_t total = text.size();
        text = abbreviate(text, config_.max_tool_result_bytes) + "\n[tool result truncated: " + std::to_string(total) + " bytes in all]";
      }
      turn.messages.push_back({{"role", "tool"}, {"tool_call_id", call.id}, {"content", repair_utf8(text)}});
      ++turn.calls;
    }
    return turn;
  }

  std::string run_one(const Call& call, TurnResult& turn) const {
    if (!call.problem.empty()) return "error: " + call.problem;
    std::size_t index = 0;
    while (index < config_.tools.size() && config_.tools[index].name != call.name) ++index;
    if (index == config_.tools.size()) {
      std::string names;
      for (const Tool& tool : config_.tools) names += (names.empty() ? "" : ", ") + tool.name;
      return "error: there is no tool \"" + abbreviate(call.name, 64) + "\"; the tools are: " + (names.empty() ? "(none)" : names);
    }
    const Tool& tool = config_.tools[index];
    json arguments;
    const std::string text = std::string(trim_view(call.arguments));
    try {
      arguments = text.empty() ? json::object() : json::parse(text);
    } catch (const json::exception& e) {
      return "error: the arguments of " + tool.name + " are not valid JSON (" + abbreviate(e.what(), 200) + "): " + abbreviate(call.arguments, 200);
    }
    if (!arguments.is_object()) return "error: the arguments of " + tool.name + " must be a JSON object, not " + arguments.type_name();
    const auto violations = schemas_[index].validate(arguments);
    if (!violations.empty()) return "error: invalid arguments for " + tool.name + ": " + llm::describe(violations);
    try {
      ToolResult result = tool.handler(arguments);
      if (result.done) {
        turn.done = true;
        turn.passed = result.passed;
        turn.answer = result.text;
      }
      return std::move(result.text);
    } catch (const InputError& e) {
      return std::string("error: ") + e.what();
    } catch (const std::exception& e) {
      turn.failure = "tool " + tool.name + " failed: " + e.what();
      return "error: the tool failed";
    }
  }

  static std::string_view trim_view(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
  }

  llm::Client& client_;
  ThreadPool& pool_;
  const LoopConfig config_;
  std::function<void(LoopOutcome)> on_done_;
  std::vector<llm::JsonSchema> schemas_;
  json tools_json_;
  LoopOutcome outcome_;
  bool finished_ = false;
  Clock::time_point start_;
};

}  // namespace

void start_tool_loop(llm::Client& client, ThreadPool& pool, LoopConfig config, std::function<void(LoopOutcome)> on_done) {
  auto loop = std::make_shared<Loop>(client, pool, std::move(config), std::move(on_done));
  loop->submit_turn();
}

LoopOutcome run_tool_loop(llm::Client& client, ThreadPool& pool, LoopConfig config) {
  std::optional<LoopOutcome> outcome;
  start_tool_loop(client, pool, std::move(config), [&outcome](LoopOutcome o) { outcome = std::move(o); });
  client.run();
  if (!outcome) throw Error("tool loop: the client stopped before the loop ended");
  return std::move(*outcome);
}

}  // namespace t2s::agent
