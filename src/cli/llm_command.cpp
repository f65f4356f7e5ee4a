// `t2s llm ping`: checks an OpenAI-compatible endpoint and says plainly what works.
#include <algorithm>

#include "commands.hpp"
#include "t2s/core/error.hpp"
#include "t2s/core/text.hpp"
#include "t2s/llm/client.hpp"

namespace t2s::cli {

namespace {

using nlohmann::json;

struct PingArgs {
  std::string base_url, model, key_env = "T2S_API_KEY", key_file;
  double timeout_s = 60;
  bool json = false;
};

struct Check {
  std::string name;
  bool ok = false;
  std::string detail;
};

llm::ChatResult ask(llm::Client& client, json body, const std::string& stage) {
  std::vector<llm::ChatRequest> one;
  one.push_back({std::move(body), stage});
  return std::move(client.run_all(std::move(one)).front());
}

void run_ping(const PingArgs& args, Context& context) {
  if (!context.comm.is_main()) return;
  llm::ClientOptions options;
  options.max_in_flight = 1;
  options.retry.max_attempts = 2;
  options.retry.deadline_s = args.timeout_s * 3;
  options.timeouts.total_s = args.timeout_s;
  options.timeouts.stall_s = args.timeout_s;
  llm::Endpoint endpoint = llm::Endpoint::resolve(args.base_url, args.model, llm::ApiKey::load(args.key_env, args.key_file));
  std::vector<Check> checks;
  json report = {{"base_url", endpoint.display_url()}, {"api_key", endpoint.key.where()}};

  // 1. The model list (also picks the model when none was named).
  std::vector<std::string> models;
  std::string listing_error;  // why the list could not be had (e.g. connection refused)
  {
    llm::Client lister(endpoint, options);
    Check check{"models", false, ""};
    try {
      const json listing = lister.get("/models");
      if (listing.contains("data") && listing["data"].is_array())
        for (const auto& m : listing["data"])
          if (m.is_object() && m.contains("id") && m["id"].is_string()) models.push_back(m["id"].get<std::string>());
      check.ok = !models.empty();
      check.detail = check.ok ? std::to_string(models.size()) + " model(s): " + models.front() +
                                    (models.size() > 1 ? ", ..." : "")
                              : "the answer lists no models";
    } catch (const Error& e) {
      check.detail = listing_error = e.what();
    }
    checks.push_back(check);
  }
  if (endpoint.model.empty()) {
    if (models.empty())
      throw Error(listing_error.empty() ? "no model named (--model or T2S_MODEL) and the endpoint lists none"
                                        : "the model list failed (" + listing_error + ") and no model is named (--model or T2S_MODEL)");
    endpoint.model = models.front();
  }
  report["model"] = endpoint.model;
  llm::Client client(endpoint, options);

  // 2. A small request, three times: latency.
  {
    Check check{"chat", false, ""};
    std::vector<double> latencies;
    for (int i = 0; i < 3; ++i) {
      const auto r = ask(client, {{"messages", {{{"role", "user"}, {"content", "Reply with the single word: pong"}}}},
                                  {"max_tokens", 16}, {"temperature", 0}}, "ping");
      if (!r.ok) {
        check.detail = r.error;
        break;
      }
      latencies.push_back(r.latency_s);
      check.detail = "replied \"" + abbreviate(r.content, 40) + "\"";
    }
    if (latencies.size() == 3) {
      std::sort(latencies.begin(), latencies.end());
      check.ok = true;
      check.detail += ", latency " + std::to_string(static_cast<int>(latencies[1] * 1000)) + " ms (median of 3)";
      report["latency_ms"] = latencies[1] * 1000;
    }
    checks.push_back(check);
  }

  // 3. Structured output: does the server honour a JSON schema?
  {
    const json schema = {{"type", "object"},
                         {"properties", {{"answer", {{"type", "integer"}}}}},
                         {"required", {"answer"}},
                         {"additionalProperties", false}};
    const auto r = ask(client,
                       {{"messages", {{{"role", "user"}, {"content", "What is 2 + 3? Reply as JSON: {\"answer\": <integer>}."}}}},
                        {"temperature", 0},
                        {"response_format", {{"type", "json_schema"}, {"json_schema", {{"name", "answer"}, {"schema", schema}}}}}},
                       "ping");
    Check check{"structured output", r.ok, ""};
    if (!r.ok) check.detail = r.error;
    else if (r.repaired) check.detail = "valid only after a repair round: the server may ignore response_format";
    else check.detail = "schema-valid reply " + r.structured.dump();
    checks.push_back(check);
  }

  // 4. Tool calling.
  {
    const json tool = {{"type", "function"},
                       {"function",
                        {{"name", "add"},
                         {"description", "Adds two integers."},
                         {"parameters",
                          {{"type", "object"},
                           {"properties", {{"a", {{"type", "integer"}}}, {"b", {{"type", "integer"}}}}},
                           {"required", {"a", "b"}}}}}}};
    const auto r = ask(client, {{"messages", {{{"role", "user"}, {"content", "Use the add tool to add 2 and 3."}}}},
                                {"temperature", 0}, {"tools", {tool}}},
                       "ping");
    Check check{"tool calling", false, ""};
    if (!r.ok) {
      check.detail = r.error;
    } else if (r.message.contains("tool_calls") && r.message["tool_calls"].is_array() && !r.message["tool_calls"].empty()) {
      const json& call = r.message["tool_calls"][0];
      const std::string name = call.value("/function/name"_json_pointer, std::string());
      const std::string arguments = call.value("/function/arguments"_json_pointer, std::string());
      check.ok = name == "add" && json::accept(arguments);
      check.detail = check.ok ? "called add(" + arguments + ")" : "called \"" + abbreviate(name, 40) + "\" with " + abbreviate(arguments, 60);
    } else {
      check.detail = "no tool call in the reply (\"" + abbreviate(r.content, 60) + "\")";
    }
    checks.push_back(check);
  }

  bool chat_works = false;
  for (const auto& c : checks) {
    report["checks"][c.name] = {{"ok", c.ok}, {"detail", c.detail}};
    if (c.name == "chat") chat_works = c.ok;
  }
  if (args.json) {
    context.out() << report.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
  } else {
    context.out() << "endpoint " << endpoint.display_url() << ", model " << endpoint.model << ", API key: " << endpoint.key.where() << "\n";
    for (const auto& c : checks) context.out() << "  " << (c.ok ? "ok  " : "FAIL") << "  " << c.name << ": " << c.detail << "\n";
  }
  if (!chat_works) throw Error("the endpoint does not answer chat requests");
}

}  // namespace

void add_llm_command(CLI::App& app, Context& context) {
  auto* llm = app.add_subcommand("llm", "Work with the LLM endpoint.");
  llm->require_subcommand(1);
  auto args = std::make_shared<PingArgs>();
  auto* ping = llm->add_subcommand(
      "ping", "Check an OpenAI-compatible endpoint: models, latency, structured output, tool calling.");
  ping->add_option("--base-url", args->base_url, "Endpoint, e.g. http://gpu-node:8000/v1 (default: $T2S_BASE_URL)");
  ping->add_option("--model", args->model, "Model (default: $T2S_MODEL, else the first the endpoint lists)");
  ping->add_option("--api-key-env", args->key_env, "Environment variable holding the API key")->capture_default_str();
  ping->add_option("--api-key-file", args->key_file, "File whose first line is the API key");
  ping->add_option("--timeout", args->timeout_s, "Seconds per request")->capture_default_str()->check(CLI::PositiveNumber);
  ping->add_flag("--json", args->json, "Print the report as JSON");
  ping->callback([args, &context] { run_ping(*args, context); });
}

}  // namespace t2s::cli
