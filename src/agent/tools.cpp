#include "t2s/agent/tools.hpp"

#include "t2s/core/error.hpp"
#include "t2s/core/text.hpp"

namespace t2s::agent {

using nlohmann::json;

std::string format_command_result(const CommandResult& result) {
  std::string text = result.describe();
  if (result.disk_quota_exceeded)
    text += "\nthe sandbox holds " + format_bytes(result.disk_bytes) + ", more than its quota: delete files before writing more";
  if (!result.stdout_text.empty()) text += "\nstdout:\n" + repair_utf8(result.stdout_text);
  if (!result.stderr_text.empty()) text += (text.back() == '\n' ? "" : "\n") + std::string("stderr:\n") + repair_utf8(result.stderr_text);
  if (result.stdout_text.empty() && result.stderr_text.empty()) text += "\n(no output)";
  return text;
}

Tool bash_tool(std::shared_ptr<const Sandbox> sandbox, CommandLimits limits) {
  Tool tool;
  tool.name = "bash";
  tool.description =
      "Run a bash command in the task's working directory (no network; limits on time, memory and disk). "
      "Returns how it ended, its stdout and its stderr.";
  tool.parameters = {{"type", "object"},
                     {"properties", {{"command", {{"type", "string"}, {"description", "the bash command line"}}}}},
                     {"required", {"command"}},
                     {"additionalProperties", false}};
  tool.handler = [sandbox = std::move(sandbox), limits](const json& arguments) {
    return ToolResult{format_command_result(sandbox->run_bash(arguments["command"].get<std::string>(), limits))};
  };
  return tool;
}

Tool read_file_tool(std::shared_ptr<const Sandbox> sandbox, std::size_t max_bytes) {
  Tool tool;
  tool.name = "read_file";
  tool.description = "Read a file of the working directory (a relative path).";
  tool.parameters = {{"type", "object"},
                     {"properties", {{"path", {{"type", "string"}, {"description", "relative path of the file"}}}}},
                     {"required", {"path"}},
                     {"additionalProperties", false}};
  tool.handler = [sandbox = std::move(sandbox), max_bytes](const json& arguments) {
    const std::string path = arguments["path"].get<std::string>();
    const FileContent file = sandbox->read_file(path, max_bytes);
    std::string text = repair_utf8(file.bytes);
    if (file.truncated)
      text += "\n[only the first " + std::to_string(file.bytes.size()) + " of " + std::to_string(file.size) + " bytes are shown]";
    return ToolResult{std::move(text)};
  };
  return tool;
}

Tool write_file_tool(std::shared_ptr<const Sandbox> sandbox, std::size_t max_bytes) {
  Tool tool;
  tool.name = "write_file";
  tool.description = "Create or replace a file of the working directory (a relative path; parent directories are created).";
  tool.parameters = {{"type", "object"},
                     {"properties", {{"path", {{"type", "string"}, {"description", "relative path of the file"}}},
                                     {"content", {{"type", "string"}, {"description", "the complete new content"}}}}},
                     {"required", {"path", "content"}},
                     {"additionalProperties", false}};
  tool.handler = [sandbox = std::move(sandbox), max_bytes](const json& arguments) {
    const std::string path = arguments["path"].get<std::string>();
    const std::string content = arguments["content"].get<std::string>();
    if (content.size() > max_bytes)
      throw InputError("the content is " + std::to_string(content.size()) + " bytes; write_file takes at most " + std::to_string(max_bytes));
    sandbox->write_file(path, content);
    return ToolResult{"wrote " + std::to_string(content.size()) + " bytes to " + path};
  };
  return tool;
}

Tool evaluate_tool(std::shared_ptr<const Sandbox> sandbox, std::shared_ptr<const Checker> checker) {
  Tool tool;
  tool.name = "evaluate";
  tool.description =
      "Check a candidate answer (\"answer\") or an output file of the working directory (\"file\") with the task's "
      "checker. Passing ends the work; otherwise the checker's feedback is returned.";
  tool.parameters = {{"type", "object"},
                     {"properties", {{"answer", {{"type", json::array({"string", "number"})}, {"description", "the candidate answer"}}},
                                     {"file", {{"type", "string"}, {"description", "relative path of an output file to check"}}}}},
                     {"minProperties", 1},
                     {"maxProperties", 1},
                     {"additionalProperties", false}};
  tool.handler = [sandbox = std::move(sandbox), checker = std::move(checker)](const json& arguments) {
    Verdict verdict;
    if (arguments.contains("file")) {
      verdict = checker->check_file(*sandbox, arguments["file"].get<std::string>());
    } else {
      const json& answer = arguments["answer"];
      verdict = checker->check(answer.is_string() ? answer.get<std::string>() : answer.dump());
    }
    ToolResult result;
    result.done = verdict.passed;
    result.passed = verdict.passed;
    char score[32];
    std::snprintf(score, sizeof score, "%.3g", verdict.score);
    result.text = (verdict.passed ? "PASSED: " : "FAILED (score " + std::string(score) + "): ") + verdict.feedback;
    return result;
  };
  return tool;
}

}  // namespace t2s::agent
