// analyze/llm_analysts: the success and error analysts (see the header).
#include "t2s/analyze/llm_analysts.hpp"

#include <algorithm>
#include <chrono>
#include <optional>

#include "t2s/agent/checker.hpp"
#include "t2s/agent/limits_config.hpp"
#include "t2s/agent/tool_loop.hpp"
#include "t2s/agent/tools.hpp"
#include "t2s/core/canonical_json.hpp"
#include "t2s/core/error.hpp"
#include "t2s/core/sha256.hpp"
#include "t2s/core/text.hpp"
#include "t2s/skill/paths.hpp"

namespace t2s::analyze {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kMaxTextBytes = 16 * 1024;  // any text field of an analyst's edit

// The prompts are the project's own; their hash goes into the provenance of every block they write.
constexpr std::string_view kSuccessInstructions = R"(You study one successful run of an AI agent to improve the skill the agent was given.

The user message holds the skill as it is now (frozen: every analyst sees this same version), the task, and the run's transcript.
1. Find the lean winning path: the few steps that produced the correct result, without the detours.
2. Extract at most MAX_LESSONS lessons from it that would help on other tasks of the same kind: procedures, checks and habits, not facts about this one task (no file names, cell addresses or values from it). Leave out what the skill already says.
3. Write each lesson as one edit of the skill. Prefer a short bullet appended to the section it belongs to; add a section only when none fits.
An empty "edits" list is a good answer when the run teaches nothing new.

)";

constexpr std::string_view kErrorLoopInstructions = R"(You are an error analyst. An AI agent failed a task; find out why and prove a fix.

Your working directory holds:
- task.md: the task the agent was given, and which input and output files are available;
- trajectory.md: the agent's run (messages, tool calls and their results); trajectory.json: the same as JSON;
- inputs/: the task's input files, when there are any;
- outputs/: the files the agent produced in its run, when they were kept.

1. Read the run and find the root cause of the failure: the first wrong step, not its symptoms.
2. Reproduce it where you can: run code with the bash tool (there is no network).
3. Produce the correct result with a minimal fix of the agent's approach and check it with the evaluate tool, which runs the task's checker on your answer. Its feedback never reveals the expected answer.
4. When evaluate says PASSED you are done. When it fails, revise and check again.)";

constexpr std::string_view kErrorPatchRequest = R"(Your fix passed the checker. Now turn what you found into at most MAX_LESSONS lessons for the skill shown at the start, so that an agent following the skill avoids this failure on other tasks of the same kind: the root cause and the procedure that prevents it, not this task's values or file names. Leave out what the skill already says. An empty "edits" list is a good answer when the failure teaches nothing general.

)";

constexpr std::string_view kErrorLogOnlyInstructions = R"(You are an error analyst. An AI agent failed a task; you have the transcript of its run but cannot re-run anything.

The user message holds the skill as it is now (frozen: every analyst sees this same version), the task, the checker's verdict and the run's transcript.
1. Find the root cause of the failure: the first wrong step, not its symptoms. Use the checker's feedback and the tool outputs as evidence; do not guess beyond them.
2. Turn it into at most MAX_LESSONS lessons that would prevent this failure on other tasks of the same kind: the procedure or check that was missing, not this task's values or file names. Leave out what the skill already says.
3. Write each lesson as one edit of the skill. Prefer a short bullet appended to the section it belongs to; add a section only when none fits.
An empty "edits" list is a good answer when the failure teaches nothing general (for example, an infrastructure error).

)";

constexpr std::string_view kAnswerFormat = R"(
Answer with one JSON object and nothing else:
{"reasoning": "the root cause or the winning path, in a few sentences", "winning_path": ["step", "..."], "edits": [{"file": "SKILL.md", "op": "append_to_section", "target_section": "## Section", "target_text": null, "old_text": null, "after_section": null, "content": "- The lesson."}], "changelog": ["one line per edit"]}
Write null for the fields an op does not use; "winning_path" only for a successful run.)";

constexpr std::string_view kNudge =
    "You have not passed the checker yet. Call the evaluate tool with your corrected answer (or keep investigating "
    "with bash first).";

std::string with_lessons(std::string_view text, std::size_t max_lessons) {
  std::string out(text);
  const std::string mark = "MAX_LESSONS";
  for (auto at = out.find(mark); at != std::string::npos; at = out.find(mark, at))
    out.replace(at, mark.size(), std::to_string(max_lessons));
  return out;
}

json answer_schema(std::size_t max_lessons) {
  return {{"type", "object"},
          {"properties",
           {{"reasoning", {{"type", "string"}, {"maxLength", kMaxTextBytes}}},
            {"winning_path", {{"type", "array"}, {"items", {{"type", "string"}, {"maxLength", 1024}}}, {"maxItems", 32}}},
            {"edits", {{"type", "array"}, {"items", skill::edit_schema(kMaxTextBytes)}, {"maxItems", std::max<std::size_t>(max_lessons, 1)}}},
            {"changelog", {{"type", "array"}, {"items", {{"type", "string"}, {"maxLength", 1024}}}, {"maxItems", 32}}}}},
          {"required", json::array({"edits"})}};
}

json response_format(std::size_t max_lessons) {
  return {{"type", "json_schema"}, {"json_schema", {{"name", "skill_patch"}, {"schema", answer_schema(max_lessons)}}}};
}

std::string frozen_skill_text(const skill::SkillDir& skill) {
  std::string out = "# The skill (frozen)\n\n## SKILL.md\n\n";
  const std::string text = skill.text(skill::kSkillMd) ? repair_utf8(*skill.text(skill::kSkillMd)) : "";
  const auto fence = markdown_fence(text);
  out += fence + "markdown\n" + text + (text.ends_with('\n') || text.empty() ? "" : "\n") + fence + "\n\nReference files: ";
  std::string names;
  for (const auto& entry : skill.files)
    if (skill::is_reference(entry.first)) names += (names.empty() ? "" : ", ") + entry.first;
  return out + (names.empty() ? "none" : names) + "\n";
}

// Head and tail of a long text, with what was cut in between.
std::string cut_middle(const std::string& text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  const std::size_t keep = max_bytes / 2;
  return repair_utf8(std::string_view(text).substr(0, keep)) + "\n[... " + std::to_string(text.size() - 2 * keep) +
         " bytes cut ...]\n" + repair_utf8(std::string_view(text).substr(text.size() - keep));
}

std::string outcome_text(const trace::Outcome& o) {
  if (!o.labelled) return "not labelled";
  std::string out = o.success ? "success" : "failure";
  char reward[32];
  std::snprintf(reward, sizeof reward, "%g", o.reward);
  out += " (reward " + std::string(reward) + ")";
  if (!o.detail.is_null())
    out += "; checker feedback: " +
           cut_middle(o.detail.is_string() ? o.detail.get<std::string>() : o.detail.dump(-1, ' ', false, json::error_handler_t::replace), 4096);
  return out;
}

std::string task_text(const trace::Trajectory& t) {
  std::string out = "# Task\n\n";
  if (!t.benchmark.empty()) out += "Benchmark: " + t.benchmark + "\n";
  if (!t.task_id.empty()) out += "Task id: " + t.task_id + "\n";
  out += "\n" + (t.task.instruction.empty() ? std::string("(no instruction recorded; see the first user message)")
                                            : cut_middle(repair_utf8(t.task.instruction), 8192)) +
         "\n";
  return out;
}

// The gold answer a checker can judge, if the task has one: task.gold itself (string, number, list)
// or its "answer" member.
std::optional<json> gold_answer(const trace::Task& task) {
  const json& gold = task.gold;
  if (gold.is_object()) {
    const auto it = gold.find("answer");
    if (it != gold.end() && (it->is_string() || it->is_number() || it->is_array())) return *it;
    return std::nullopt;
  }
  if (gold.is_string() || gold.is_number() || gold.is_array()) return gold;
  return std::nullopt;
}

bool all_numbers(const json& value) {
  if (value.is_number()) return true;
  if (!value.is_array() || value.empty()) return false;
  return std::all_of(value.begin(), value.end(), [](const json& v) { return v.is_number(); });
}

// `root`/`name` when `name` is a relative path that stays beneath `root` (and root is set).
std::optional<fs::path> beneath(const fs::path& root, const std::string& name) {
  const fs::path relative = fs::path(name).lexically_normal();
  if (root.empty() || relative.empty() || relative == "." || !relative.is_relative() || *relative.begin() == ".." ||
      name.find('\0') != std::string::npos)
    return std::nullopt;
  return root / relative;
}

}  // namespace

// ------------------------------------------------------------------------------------ options

AnalystOptions AnalystOptions::from_json(const json& table, const std::string& where) {
  AnalystOptions o;
  if (table.is_null()) return o;
  if (!table.is_object()) throw InputError(where + ": must be a table");
  for (const auto& [key, value] : table.items()) {
    const std::string name = where + "." + key;
    const auto number = [&](double lo, double hi) {
      if (!value.is_number()) throw InputError(name + ": must be a number");
      const double v = value.get<double>();
      if (!(v >= lo && v <= hi)) throw InputError(name + ": must be between " + std::to_string(lo) + " and " + std::to_string(hi));
      return v;
    };
    const auto text = [&] {
      if (!value.is_string()) throw InputError(name + ": must be a string");
      return value.get<std::string>();
    };
    if (key == "model") o.model = text();
    else if (key == "temperature") o.temperature = number(0, 2);
    else if (key == "max_tokens") o.max_tokens = static_cast<int>(number(16, 1e6));
    else if (key == "max_lessons") o.max_lessons = static_cast<std::size_t>(number(1, 20));
    else if (key == "transcript_bytes") o.transcript_bytes = static_cast<std::size_t>(number(1024, 1e8));
    else if (key == "max_turns") o.max_turns = static_cast<int>(number(1, 1000));
    else if (agent::read_sandbox_limit(key, value, name, o.limits, o.disk_bytes)) continue;
    else if (key == "sandbox_root") o.sandbox_root = text();
    else if (key == "task_files") o.task_files = text();
    else if (key == "agent_outputs") o.agent_outputs = text();
    else if (key == "checker") {
      if (!value.is_object()) throw InputError(name + ": must be a table");
      for (const auto& [k, v] : value.items()) {
        if (k == "kind" && v.is_string()) continue;
        if ((k == "rel_tol" || k == "abs_tol") && v.is_number() && v.get<double>() >= 0) continue;
        throw InputError(name + "." + k + ": unknown key or bad value (kind = \"exact\"/\"normalised\"/\"numeric\", rel_tol, abs_tol)");
      }
      o.checker = value;
      // Check it now, with a stand-in gold, so a bad kind is reported before any analysis runs.
      json probe = value;
      probe["gold"] = "1";
      (void)agent::CheckerConfig::from_json(probe, name);
    } else throw InputError(name + ": unknown key");
  }
  return o;
}

json AnalystOptions::to_json() const {
  return {{"model", model}, {"temperature", temperature}, {"max_tokens", max_tokens}, {"max_lessons", max_lessons},
          {"transcript_bytes", transcript_bytes}, {"max_turns", max_turns}, {"wall_s", limits.wall_s},
          {"cpu_s", limits.cpu_s}, {"memory_bytes", limits.memory_bytes}, {"file_bytes", limits.file_bytes},
          {"disk_bytes", disk_bytes}, {"processes", limits.processes}, {"task_files", task_files.string()},
          {"agent_outputs", agent_outputs.string()}, {"checker", checker}};
}

// --------------------------------------------------------------------------------- transcript

std::string analyst_for(const trace::Trajectory& t) {
  if (!t.outcome.labelled) return "";
  return t.outcome.success ? "success" : "error";
}

std::string render_transcript(const trace::Trajectory& t, std::size_t max_bytes) {
  const std::size_t per_message = std::max<std::size_t>(2048, max_bytes / 8);
  std::vector<std::string> parts;
  for (std::size_t i = 0; i < t.messages.size(); ++i) {
    const auto& m = t.messages[i];
    std::string part = "### " + std::to_string(i + 1) + ". " + m.role;
    if (!m.name.empty()) part += " (" + repair_utf8(m.name) + ")";
    if (!m.tool_call_id.empty()) part += ", result of " + repair_utf8(m.tool_call_id);
    part += "\n\n";
    const std::string text = m.text();
    if (!text.empty()) part += cut_middle(repair_utf8(text), per_message) + "\n";
    for (const auto& call : m.tool_calls)
      part += "Tool call " + repair_utf8(call.id) + " `" + repair_utf8(call.name) + "`: " +
              cut_middle(repair_utf8(call.arguments), per_message) + "\n";
    parts.push_back(std::move(part) + "\n");
  }
  std::string out = "# Transcript (" + std::to_string(t.messages.size()) + " messages; outcome: " + outcome_text(t.outcome) + ")\n\n";
  std::size_t total = 0;
  for (const auto& p : parts) total += p.size();
  if (total <= max_bytes) {
    for (const auto& p : parts) out += p;
    return out;
  }
  // Too long: the first messages up to half the budget, then the last ones up to the rest.
  std::size_t head = 0, used = 0;
  while (head < parts.size() && used + parts[head].size() <= max_bytes / 2) used += parts[head++].size();
  std::size_t tail = parts.size();
  while (tail > head && used + parts[tail - 1].size() <= max_bytes) used += parts[--tail].size();
  for (std::size_t i = 0; i < head; ++i) out += parts[i];
  out += "[... messages " + std::to_string(head + 1) + " to " + std::to_string(tail) + " left out for length ...]\n\n";
  for (std::size_t i = tail; i < parts.size(); ++i) out += parts[i];
  return out;
}

// ------------------------------------------------------------------------------------ analysts

struct LlmAnalysts::Impl : std::enable_shared_from_this<LlmAnalysts::Impl> {
  llm::Client& client;
  ThreadPool& pool;
  const skill::SkillDir& skill;
  AnalystOptions options;
  std::string skill_text, success_system, log_only_system, loop_system, patch_request, prompt_hash;

  Impl(llm::Client& c, ThreadPool& p, const skill::SkillDir& s, AnalystOptions o)
      : client(c), pool(p), skill(s), options(std::move(o)) {
    skill_text = frozen_skill_text(skill);
    const std::string rules = std::string(skill::edit_rules_prompt());
    const std::string format = std::string(kAnswerFormat);
    success_system = with_lessons(kSuccessInstructions, options.max_lessons) + rules + format;
    log_only_system = with_lessons(kErrorLogOnlyInstructions, options.max_lessons) + rules + format;
    loop_system = std::string(kErrorLoopInstructions);
    patch_request = with_lessons(kErrorPatchRequest, options.max_lessons) + rules + format;
    prompt_hash = to_hex(sha256(success_system + '\0' + log_only_system + '\0' + loop_system + '\0' + patch_request +
                                '\0' + std::string(kNudge) + '\0' + canonical_json(answer_schema(options.max_lessons))));
  }

  std::string model() const { return options.model.empty() ? client.endpoint().model : options.model; }

  json body(json messages) const {
    json b = {{"messages", std::move(messages)},
              {"temperature", options.temperature},
              {"max_tokens", options.max_tokens},
              {"response_format", response_format(options.max_lessons)}};
    if (!options.model.empty()) b["model"] = options.model;
    return b;
  }

  // The structured answer as a patch supported by `id` alone. Never throws.
  void read_answer(Analysis& a, const std::string& id, const json& answer) const {
    const auto edits = answer.is_object() ? answer.find("edits") : json::const_iterator{};
    if (!answer.is_object() || edits == answer.end() || !edits->is_array()) {
      a.status = "failed";
      a.reason = "the answer has no \"edits\" list";
      return;
    }
    for (std::size_t k = 0; k < edits->size(); ++k) {
      const std::string label = "edits[" + std::to_string(k) + "]";
      if (a.patch.edits.size() >= options.max_lessons) {
        a.notes.push_back(label + " dropped: more than " + std::to_string(options.max_lessons) + " lessons");
        continue;
      }
      skill::Edit edit;
      try {
        edit = skill::read_model_edit((*edits)[k], kMaxTextBytes);
      } catch (const std::exception& e) {
        a.notes.push_back(label + " dropped: " + e.what());
        continue;
      }
      edit.support = {id};  // the program's, whatever the model wrote
      a.patch.edits.push_back(std::move(edit));
    }
    std::string reasoning;
    if (const auto r = answer.find("reasoning"); r != answer.end() && r->is_string()) reasoning = r->get<std::string>();
    if (const auto w = answer.find("winning_path"); w != answer.end() && w->is_array()) {
      std::string path;
      for (const auto& step : *w)
        if (step.is_string()) path += (path.empty() ? "" : " → ") + step.get<std::string>();
      if (!path.empty()) reasoning += (reasoning.empty() ? "" : "\nWinning path: ") + path;
    }
    a.patch.reasoning = abbreviate(repair_utf8(reasoning), kMaxTextBytes);
    if (const auto c = answer.find("changelog"); c != answer.end() && c->is_array())
      for (const auto& entry : *c)
        if (entry.is_string() && a.patch.changelog.size() < 32) a.patch.changelog.push_back(abbreviate(repair_utf8(entry.get<std::string>()), 1024));
    a.patch.origin.model = model();
    a.patch.origin.prompt_hash = prompt_hash;
    if (!a.patch.edits.empty()) {
      a.status = "ok";
    } else if (!edits->empty()) {
      a.status = "failed";
      a.reason = "no usable edit in the answer: " + a.notes.front().get<std::string>();
    } else {
      a.status = "empty";
      a.reason = "the analyst found nothing new to teach";
    }
  }

  // One structured call; `a` carries what was spent before it.
  // `extra`: more body fields (the tools of a conversation that used them).
  void structured_call(json messages, const std::string& stage, const std::string& id, std::shared_ptr<Analysis> a,
                       Clock::time_point start, std::function<void(Analysis&&)> on_done, json extra = json::object()) {
    json request = body(std::move(messages));
    request.update(extra);
    client.submit({std::move(request), stage},
                  [self = shared_from_this(), id, a, start, on_done = std::move(on_done)](llm::ChatResult&& r) {
                    a->calls += r.attempts > 0 ? 1 : 0;
                    a->usage.prompt_tokens += r.usage.prompt_tokens;
                    a->usage.completion_tokens += r.usage.completion_tokens;
                    a->usage.total_tokens += r.usage.total_tokens;
                    if (!r.ok) {
                      a->status = "failed";
                      a->reason = "the LLM call failed: " + r.error;
                    } else {
                      self->read_answer(*a, id, r.structured);
                    }
                    a->wall_s = std::chrono::duration<double>(Clock::now() - start).count();
                    on_done(std::move(*a));
                  });
  }

  std::string user_message(const trace::Trajectory& t) const {
    return skill_text + "\n" + task_text(t) + "\n" + render_transcript(t, options.transcript_bytes);
  }

  void success(const std::string& id, const trace::Trajectory& t, std::function<void(Analysis&&)> on_done) {
    auto a = std::make_shared<Analysis>();
    a->analyst = "success";
    structured_call(json::array({{{"role", "system"}, {"content", success_system}}, {{"role", "user"}, {"content", user_message(t)}}}),
                    "analyze.success", id, a, Clock::now(), std::move(on_done));
  }

  void log_only(const std::string& id, const trace::Trajectory& t, std::function<void(Analysis&&)> on_done) {
    auto a = std::make_shared<Analysis>();
    a->analyst = "error/log-only";
    structured_call(json::array({{{"role", "system"}, {"content", log_only_system}}, {{"role", "user"}, {"content", user_message(t)}}}),
                    "analyze.error", id, a, Clock::now(), std::move(on_done));
  }

  // The sandbox's files: the task, the transcript (Markdown and JSON), the task's input files and
  // the files the agent produced. Names come from trajectories, so only relative paths that stay
  // beneath their directory are looked up.
  agent::SandboxContents sandbox_contents(const trace::Trajectory& t) const {
    agent::SandboxContents contents;
    std::string task = task_text(t) + "\n## Input files\n\n";
    if (t.task.files.empty()) task += "none\n";
    for (const auto& name : t.task.files) {
      std::string where = "not available";
      std::error_code error;  // a name the file system refuses (too long, unreadable) is just not available
      if (const auto source = beneath(options.task_files, name); source && fs::is_regular_file(*source, error)) {
        const fs::path relative = fs::path(name).lexically_normal();
        try {
          agent::Sandbox::check_name("inputs/" + relative.generic_string());
          contents.copies.emplace_back("inputs/" + relative.generic_string(), *source);
          where = "inputs/" + relative.generic_string();
        } catch (const InputError&) {
        }
      }
      task += "- " + repair_utf8(name) + ": " + where + "\n";
    }
    task += "\n## The agent's output files\n\n";
    std::error_code error;
    const json* outputs = t.meta.is_object() && t.meta.contains("outputs") ? &t.meta.at("outputs") : nullptr;
    if (outputs == nullptr || !outputs->is_string()) {
      task += "none kept\n";
    } else if (const auto source = beneath(options.agent_outputs, outputs->get<std::string>());
               source && fs::is_directory(fs::symlink_status(*source, error))) {
      contents.copies.emplace_back("outputs", *source);
      task += "outputs/ (the agent's " + repair_utf8(outputs->get<std::string>()) + ")\n";
    } else {
      task += repair_utf8(outputs->get<std::string>()) + ": not available\n";
    }
    contents.files["task.md"] = task;
    contents.files["trajectory.md"] = render_transcript(t, std::size_t{4} << 20);
    // The gold answer stays out: the checker holds it, and the analyst must earn a pass.
    trace::Trajectory without_gold = t;
    without_gold.task.gold = nullptr;
    contents.files["trajectory.json"] = trace::canonical_record(without_gold).json;
    return contents;
  }

  void error(const std::string& id, const trace::Trajectory& t, std::function<void(Analysis&&)> on_done) {
    const auto gold = gold_answer(t.task);
    if (!gold) return log_only(id, t, std::move(on_done));
    const auto start = Clock::now();
    auto a = std::make_shared<Analysis>();
    a->analyst = "error";
    std::shared_ptr<agent::Sandbox> sandbox;
    std::shared_ptr<agent::Checker> checker;
    agent::LoopConfig loop;
    try {
      json config = options.checker;
      if (!config.contains("kind")) config["kind"] = all_numbers(*gold) ? "numeric" : "normalised";
      config["gold"] = *gold;
      checker = std::make_shared<agent::Checker>(agent::CheckerConfig::from_json(config, "the task's checker"));
    } catch (const std::exception& e) {
      a->status = "failed";
      a->reason = std::string("the task's gold answer cannot be checked: ") + e.what();
      on_done(std::move(*a));
      return;
    }
    try {
      agent::SandboxOptions sandbox_options;
      sandbox_options.disk_bytes = options.disk_bytes;
      // One directory per trajectory, at a path that does not change between runs: commands print
      // it (pwd, tracebacks), and a replay must send the same requests.
      sandbox_options.prefix = "t2s-error-" + id.substr(0, 24);
      sandbox_options.unique_suffix = false;
      const fs::path root = options.sandbox_root.empty() ? fs::path("/tmp/t2s-sandboxes") : options.sandbox_root;
      sandbox = std::make_shared<agent::Sandbox>(root, sandbox_contents(t), sandbox_options);
    } catch (const std::exception& e) {
      a->status = "failed";
      a->reason = std::string("the sandbox could not be set up: ") + e.what();
      on_done(std::move(*a));
      return;
    }
    loop.system_prompt = loop_system;
    loop.user_message = skill_text + "\n" + task_text(t) + "\nThe run ended as: " + outcome_text(t.outcome) +
                        "\n\nStart by reading task.md and trajectory.md in your working directory.";
    loop.tools = {agent::bash_tool(sandbox, options.limits), agent::read_file_tool(sandbox), agent::write_file_tool(sandbox),
                  agent::evaluate_tool(sandbox, checker)};
    // The patch request continues the conversation: it declares the same tools (a transcript with
    // tool calls but no tools is refused by some servers) and forbids calling them.
    json tools = {{"tools", agent::tool_schemas(loop.tools)}, {"tool_choice", "none"}};
    loop.max_turns = options.max_turns;
    loop.request = {{"temperature", options.temperature}, {"max_tokens", options.max_tokens}};
    if (!options.model.empty()) loop.request["model"] = options.model;
    loop.stage = "analyze.error";
    loop.on_answer = [](const std::string&) -> std::optional<std::string> { return std::string(kNudge); };
    agent::start_tool_loop(
        client, pool, std::move(loop),
        [self = shared_from_this(), id, a, start, sandbox, tools = std::move(tools),
         on_done = std::move(on_done)](agent::LoopOutcome outcome) mutable {
          sandbox.reset();  // the working directory goes as soon as the loop is over
          a->calls += outcome.turns;
          a->tool_calls += outcome.tool_calls;
          a->usage = outcome.usage;
          if (outcome.status != agent::LoopStatus::passed) {
            a->status = outcome.status == agent::LoopStatus::failed ? "failed" : "dropped";
            a->reason = outcome.status == agent::LoopStatus::failed
                            ? "the tool loop failed: " + outcome.reason
                            : "no passing fix after " + std::to_string(outcome.turns) + " turn(s)" +
                                  (outcome.reason.empty() ? "" : ": " + outcome.reason);
            a->wall_s = std::chrono::duration<double>(Clock::now() - start).count();
            on_done(std::move(*a));
            return;
          }
          json messages = std::move(outcome.transcript);
          messages.push_back({{"role", "user"}, {"content", self->patch_request}});
          self->structured_call(std::move(messages), "analyze.error", id, a, start, std::move(on_done), std::move(tools));
        });
  }
};

LlmAnalysts::LlmAnalysts(llm::Client& client, ThreadPool& pool, const skill::SkillDir& frozen_skill, AnalystOptions options)
    : impl_(std::make_shared<Impl>(client, pool, frozen_skill, std::move(options))) {}

LlmAnalysts::~LlmAnalysts() = default;

std::string LlmAnalysts::prompt_hash() const { return impl_->prompt_hash; }

void LlmAnalysts::submit(const std::string& id, const trace::Trajectory& t, std::function<void(Analysis&&)> on_done) {
  const std::string analyst = analyst_for(t);
  if (analyst == "success") return impl_->success(id, t, std::move(on_done));
  if (analyst == "error") return impl_->error(id, t, std::move(on_done));
  Analysis skipped;
  skipped.analyst = "none";
  skipped.status = "skipped";
  skipped.reason = "the trajectory has no outcome label, so no analyst applies";
  on_done(std::move(skipped));
}

}  // namespace t2s::analyze
