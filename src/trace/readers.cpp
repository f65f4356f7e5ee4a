#include "t2s/trace/readers.hpp"

#include <algorithm>
#include <array>
#include <fstream>
#include <iterator>

#include "json_input.hpp"
#include "t2s/core/canonical_json.hpp"
#include "t2s/core/error.hpp"
#include "t2s/core/text.hpp"

namespace t2s::trace {

namespace fs = std::filesystem;
using detail::RecordError;
using simdjson::dom::element;

// --------------------------------------------------------------------------------------- formats

namespace {
struct FormatName {
  Format format;
  std::string_view name;
};
constexpr std::array<FormatName, 4> kFormats = {{{Format::openai_jsonl, "openai"},
                                                 {Format::taubench, "taubench"},
                                                 {Format::atif, "atif"},
                                                 {Format::t2s_store, "t2s"}}};
constexpr std::string_view kHdf5Signature = "\x89HDF\r\n\x1a\n";
}  // namespace

std::string_view format_name(Format format) {
  for (const auto& entry : kFormats)
    if (entry.format == format) return entry.name;
  return "unknown";
}

std::optional<Format> parse_format(std::string_view name) {
  for (const auto& entry : kFormats)
    if (entry.name == name) return entry.format;
  return std::nullopt;
}

std::string known_format_names() {
  std::string names;
  for (const auto& entry : kFormats) names += (names.empty() ? "" : ", ") + std::string(entry.name);
  return names;
}

Format detect_format(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw InputError(file.string() + ": cannot open");
  std::string head(4096, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<std::size_t>(in.gcount()));
  if (head.starts_with(kHdf5Signature)) return Format::t2s_store;
  const auto first = head.find_first_not_of(" \t\r\n", head.starts_with("\xEF\xBB\xBF") ? 3 : 0);
  if (first == std::string::npos)
    throw InputError(file.string() + ": empty file, cannot tell its format (name it with --format)");
  if (head[first] == '[') return Format::taubench;
  if (head[first] == '{') {
    // One object per line is OpenAI JSONL; a single (usually pretty-printed) ATIF document starts
    // with its schema_version.
    if (head.find("\"schema_version\"") != std::string::npos && head.find("ATIF-") != std::string::npos)
      return Format::atif;
    return Format::openai_jsonl;
  }
  throw InputError(file.string() + ": not a recognised trajectory format (expected JSON Lines, a JSON "
                   "array, an ATIF trajectory.json or an HDF5 store; name it with --format)");
}

std::vector<fs::path> expand_inputs(const std::vector<fs::path>& inputs) {
  std::vector<fs::path> files;
  for (const auto& input : inputs) {
    std::error_code ec;
    if (!fs::exists(input, ec)) throw InputError(input.string() + ": no such file or directory");
    if (!fs::is_directory(input, ec)) {
      files.push_back(input);
      continue;
    }
    std::vector<fs::path> found;
    for (const auto& entry : fs::recursive_directory_iterator(input, fs::directory_options::skip_permission_denied)) {
      if (!entry.is_regular_file()) continue;
      const auto& path = entry.path();
      const auto extension = path.extension();
      if (extension == ".jsonl" || extension == ".h5" || path.filename() == "trajectory.json")
        found.push_back(path);
    }
    if (found.empty())
      throw InputError(input.string() + ": directory holds no *.jsonl, *.h5 or trajectory.json files");
    std::sort(found.begin(), found.end());
    files.insert(files.end(), found.begin(), found.end());
  }
  return files;
}

void apply_overrides(Trajectory& t, const ReaderOptions& options) {
  if (!options.source.empty()) t.source = options.source;
  if (!options.benchmark.empty()) t.benchmark = options.benchmark;
  if (!options.model.empty()) t.model = options.model;
}

std::string RecordLocation::to_string() const {
  switch (unit) {
    case Unit::line: return file + ":" + std::to_string(number);
    case Unit::index: return file + "[" + std::to_string(number) + "]";
    case Unit::file: break;
  }
  return file;
}

// --------------------------------------------------------------------------------- record mapping

namespace {

// Our own ids are derived from content; a foreign "id" is kept in meta.
bool looks_like_our_id(std::string_view id) {
  return id.size() == 64 && std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// `reward_given` (when not null) is set when the object names its reward rather than taking the
// default of its verdict.
Outcome parse_outcome(element e, std::string_view path, bool* reward_given = nullptr) {
  Outcome outcome;
  if (reward_given != nullptr) *reward_given = false;
  if (e.is_null()) return outcome;
  const auto object = detail::expect_object(e, path);
  auto success = detail::field(object, "success");
  if (!success) throw RecordError("field \"" + std::string(path) + ".success\" is missing");
  bool value = false;
  if (success->get_bool().get(value) != simdjson::SUCCESS)
    throw RecordError("field \"" + std::string(path) + ".success\": expected a boolean, got " +
                      std::string(detail::type_name(success->type())));
  outcome.labelled = true;
  outcome.success = value;
  outcome.reward = value ? 1.0 : 0.0;
  for (auto [key, member] : object) {
    const std::string where = std::string(path) + "." + std::string(key);
    if (key == "reward") {
      if (member.is_null()) continue;
      outcome.reward = detail::expect_number(member, where);
      if (reward_given != nullptr) *reward_given = true;
    } else if (key == "detail") {
      outcome.detail = detail::to_json(member);
    } else if (key != "success") {
      throw RecordError("field \"" + where + "\": unknown outcome field (expected success, reward, detail)");
    }
  }
  return outcome;
}

// ----------------------------------------------------------------------------- top-level labels
//
// The label fields users write at the top level of an OpenAI JSONL record, instead of (or beside)
// an `outcome` object. The names and the rules are the README's ("Labels"): a verdict field says
// pass or fail; a reward field is a number from 0 to 1 that means success exactly at 1, the rule
// the tau-bench and Harbor readers apply to their rewards. A field of a label name whose value is
// of no label shape is an error, not a guess; so are labels of one record that disagree.

enum class LabelKind { verdict, reward };

std::optional<LabelKind> label_field(std::string_view key) {
  if (key == "reward" || key == "score") return LabelKind::reward;
  if (key.starts_with("is_")) key.remove_prefix(3);
  for (std::string_view name : {"success", "succeeded", "passed", "resolved", "solved", "correct"})
    if (key == name) return LabelKind::verdict;
  return std::nullopt;
}

// A verdict written as a word, in any case; nullopt when the word is none of these.
std::optional<bool> verdict_word(std::string_view word) {
  std::string lower(word.substr(0, 16));
  if (word.size() > lower.size()) return std::nullopt;
  for (char& c : lower) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  for (std::string_view yes : {"true", "yes", "pass", "passed", "success", "correct", "resolved", "solved"})
    if (lower == yes) return true;
  for (std::string_view no : {"false", "no", "fail", "failed", "failure", "incorrect", "unresolved", "unsolved"})
    if (lower == no) return false;
  return std::nullopt;
}

// One label a record carries: a top-level field, or its outcome object's success or reward.
struct Label {
  std::string field;  // "success", "outcome.reward"
  std::string shown;  // the value as written, for messages
  std::optional<bool> verdict;
  std::optional<double> reward;
  bool verdict_from_reward = false;  // the verdict is the reward's (success only at 1)
};

std::string shown_value(element value) { return abbreviate(detail::to_json(value).dump(), 40); }

// Reads the top-level label field `key`; nullopt when it is null (no label, like "outcome": null).
std::optional<Label> read_label(std::string_view key, LabelKind kind, element value) {
  if (value.is_null()) return std::nullopt;
  Label label{std::string(key), shown_value(value), std::nullopt, std::nullopt, false};
  if (kind == LabelKind::reward) {
    double reward = 0;
    if (!value.is_number() || value.get_double().get(reward) != simdjson::SUCCESS)
      throw RecordError("field \"" + label.field + "\": expected a number from 0 to 1, got " +
                        std::string(detail::type_name(value.type())) + " " + label.shown);
    if (!(reward >= 0.0 && reward <= 1.0))
      throw RecordError("field \"" + label.field + "\": " + label.shown + " is outside 0 to 1 (a top-level " +
                        label.field + " is read on a 0-1 scale, success at 1; write other scales as "
                        "\"outcome\": {\"success\": ..., \"reward\": ...})");
    label.reward = reward;
    label.verdict = reward >= 1.0;
    label.verdict_from_reward = true;
    return label;
  }
  bool flag = false;
  double number = 0;
  std::string_view word;
  if (value.get_bool().get(flag) == simdjson::SUCCESS) {
    label.verdict = flag;
  } else if (value.is_number() && value.get_double().get(number) == simdjson::SUCCESS && (number == 0 || number == 1)) {
    label.verdict = number == 1;
  } else if (value.get_string().get(word) == simdjson::SUCCESS && verdict_word(word)) {
    label.verdict = verdict_word(word);
  } else {
    throw RecordError("field \"" + label.field + "\": a label field holds true/false, 0/1 or a verdict word such as "
                      "\"pass\"/\"fail\", not " + std::string(detail::type_name(value.type())) + " " + label.shown +
                      " (rename the field if it is no label)");
  }
  return label;
}

std::string describe(const Label& label) { return "\"" + label.field + "\": " + label.shown; }

// Sets the trajectory's outcome from its top-level labels and its outcome object (already in
// `t.outcome`), which must all agree: one verdict, and one reward where rewards are given.
void apply_labels(std::vector<Label>& labels, Trajectory& t, bool outcome_reward_given) {
  if (t.outcome.labelled) {  // first, so that messages name it first
    std::vector<Label> object;
    object.push_back({"outcome.success", t.outcome.success ? "true" : "false", t.outcome.success, std::nullopt, false});
    if (outcome_reward_given)
      object.push_back({"outcome.reward", abbreviate(nlohmann::json(t.outcome.reward).dump(), 40), std::nullopt,
                        t.outcome.reward, false});
    labels.insert(labels.begin(), std::make_move_iterator(object.begin()), std::make_move_iterator(object.end()));
  }
  const Label* verdict = nullptr;
  const Label* reward = nullptr;
  for (const Label& label : labels) {
    if (label.verdict) {
      if (verdict == nullptr) {
        verdict = &label;
      } else if (*label.verdict != *verdict->verdict) {
        const bool by_reward = label.verdict_from_reward || verdict->verdict_from_reward;
        throw RecordError("conflicting labels: " + describe(*verdict) + " says " +
                          (*verdict->verdict ? "success" : "failure") + " but " + describe(label) + " says " +
                          (*label.verdict ? "success" : "failure") +
                          (by_reward ? " (a reward or score means success only at 1)" : "") +
                          "; the labels of a record must agree");
      }
    }
    if (label.reward) {
      if (reward == nullptr)
        reward = &label;
      else if (*label.reward != *reward->reward)
        throw RecordError("conflicting labels: " + describe(*reward) + " and " + describe(label) +
                          " are different rewards; the labels of a record must agree");
    }
  }
  t.outcome.labelled = true;
  t.outcome.success = *verdict->verdict;  // every label kind gives a verdict
  t.outcome.reward = reward != nullptr ? *reward->reward : (t.outcome.success ? 1.0 : 0.0);
}

Task parse_task(element e, std::string_view path) {
  Task task;
  if (e.is_null()) return task;
  const auto object = detail::expect_object(e, path);
  for (auto [key_view, value] : object) {
    const std::string key(key_view);
    const std::string where = std::string(path) + "." + key;
    if (key == "instruction") {
      if (!value.is_null()) task.instruction = detail::expect_string(value, where);
    } else if (key == "files") {
      std::size_t i = 0;
      for (auto file : detail::expect_array(value, where))
        task.files.push_back(detail::expect_string(file, where + "[" + std::to_string(i++) + "]"));
    } else if (key == "gold") {
      task.gold = detail::to_json(value);
    } else {
      throw RecordError("field \"" + where + "\": unknown task field (expected instruction, files, gold)");
    }
  }
  return task;
}

// An OpenAI chat JSONL record: {"messages": [...]} plus optional metadata (see README), parsed into
// `t`. Every field of `t` is set: it may hold the previous record (its messages' storage is reused).
void parse_openai_record(element root, Trajectory& t) {
  const auto object = detail::expect_object(root, "record");
  t.source = "openai-chat";
  t.benchmark.clear();
  t.task_id.clear();
  t.model.clear();
  t.attempt = 0;
  t.outcome = {};
  t.task = {};
  t.meta = nullptr;
  bool has_messages = false, outcome_reward_given = false;
  std::vector<Label> labels;  // top-level label fields; allocates only when there are some
  nlohmann::json unknown = nlohmann::json::object();
  for (auto [key, value] : object) {
    if (key == "messages") {
      detail::parse_messages(value, "messages", t.messages);
      has_messages = true;
    } else if (key == "source") {
      t.source = detail::expect_string(value, key);
    } else if (key == "benchmark") {
      t.benchmark = detail::expect_string(value, key);
    } else if (key == "task_id") {
      t.task_id = detail::expect_id(value, key);
    } else if (key == "model") {
      t.model = detail::expect_string(value, key);
    } else if (key == "attempt") {
      t.attempt = detail::expect_integer(value, key);
    } else if (key == "outcome") {
      t.outcome = parse_outcome(value, key, &outcome_reward_given);
    } else if (key == "task") {
      t.task = parse_task(value, key);
    } else if (key == "meta") {
      if (!value.is_null()) {
        detail::expect_object(value, key);
        nlohmann::json meta = detail::to_json(value);
        for (auto& [meta_key, meta_value] : meta.items()) t.meta[meta_key] = std::move(meta_value);
      }
    } else if (key == "id" && value.is_string() && looks_like_our_id(value.get_string().value_unsafe())) {
      continue;  // our own content id from `t2s export`: derived again from the content
    } else if (auto kind = label_field(key)) {
      if (auto label = read_label(key, *kind, value)) labels.push_back(std::move(*label));
    } else {
      unknown[std::string(key)] = detail::to_json(value);
    }
  }
  if (!has_messages) throw RecordError("field \"messages\" is missing");
  if (!labels.empty()) apply_labels(labels, t, outcome_reward_given);
  for (auto& [key, value] : unknown.items()) {
    if (t.meta.contains(key))
      throw RecordError("top-level field \"" + key + "\" collides with meta." + key);
    t.meta[key] = std::move(value);
  }
}

// A tau-bench result: {task_id, trial, reward, info{task{instruction, actions, outputs, ...},
// reward_info, ...}, traj}. A trajectory succeeds when it earns the full reward.
Trajectory parse_taubench_record(element root) {
  const auto object = detail::expect_object(root, "record");
  Trajectory t;
  t.source = "tau-bench";
  t.benchmark = "tau-bench";
  auto task_id = detail::field(object, "task_id");
  if (!task_id) throw RecordError("field \"task_id\" is missing");
  t.task_id = detail::expect_id(*task_id, "task_id");
  auto reward = detail::field(object, "reward");
  if (!reward) throw RecordError("field \"reward\" is missing");
  t.outcome.labelled = true;
  t.outcome.reward = detail::expect_number(*reward, "reward");
  t.outcome.success = t.outcome.reward >= 1.0;
  auto traj = detail::field(object, "traj");
  if (!traj) throw RecordError("field \"traj\" is missing");
  t.messages = detail::parse_messages(*traj, "traj");
  if (auto trial = detail::field(object, "trial")) t.attempt = detail::expect_integer(*trial, "trial");

  for (auto [key_view, value] : object) {
    const std::string key(key_view);
    if (key == "task_id" || key == "reward" || key == "traj" || key == "trial") continue;
    if (key != "info") {
      t.meta[key] = detail::to_json(value);
      continue;
    }
    detail::expect_object(value, "info");
    nlohmann::json info = detail::to_json(value);
    if (auto task = info.find("task"); task != info.end() && task->is_object()) {
      if (auto instruction = task->find("instruction"); instruction != task->end()) {
        if (!instruction->is_string()) throw RecordError("field \"info.task.instruction\": expected a string");
        t.task.instruction = instruction->get<std::string>();
        task->erase(instruction);
      }
      // The reference actions and outputs are the gold answer; the rest (user id, ...) is meta.
      nlohmann::json gold = nlohmann::json::object();
      for (const char* key_name : {"actions", "outputs"})
        if (auto part = task->find(key_name); part != task->end()) {
          gold[key_name] = std::move(*part);
          task->erase(part);
        }
      if (!gold.empty()) t.task.gold = std::move(gold);
      if (task->empty()) info.erase("task");
    }
    if (auto reward_info = info.find("reward_info"); reward_info != info.end()) {
      t.outcome.detail = std::move(*reward_info);
      info.erase(reward_info);
    }
    if (!info.empty()) t.meta["info"] = std::move(info);
  }
  return t;
}

// One ATIF trajectory.json: steps become OpenAI messages (agent tool calls and their observations
// become assistant tool_calls and tool messages); the outcome comes from the trial's result.json.
Trajectory parse_atif_document(element root, const fs::path& file, simdjson::dom::parser& side_parser) {
  const auto object = detail::expect_object(root, "trajectory");
  Trajectory t;
  t.source = "harbor";
  auto steps = detail::field(object, "steps");
  if (!steps) throw RecordError("field \"steps\" is missing");
  nlohmann::json atif = nlohmann::json::object();
  for (auto [key_view, value] : object)
    if (key_view != "steps") atif[std::string(key_view)] = detail::to_json(value);
  if (auto agent = atif.find("agent"); agent != atif.end() && agent->is_object())
    if (auto model = agent->find("model_name"); model != agent->end() && model->is_string())
      t.model = model->get<std::string>();

  std::size_t i = 0;
  for (auto step_element : detail::expect_array(*steps, "steps")) {
    const std::string path = "steps[" + std::to_string(i++) + "]";
    const auto step = detail::expect_object(step_element, path);
    auto source = detail::field(step, "source");
    if (!source) throw RecordError("field \"" + path + ".source\" is missing");
    const std::string source_name = detail::expect_string(*source, path + ".source");
    Message message;
    if (source_name == "agent") message.role = "assistant";
    else if (source_name == "user" || source_name == "system") message.role = source_name;
    else
      throw RecordError("field \"" + path + ".source\": unknown step source \"" +
                        abbreviate(source_name, 40) + "\" (expected system, user or agent)");
    std::vector<Message> observations;
    for (auto [key_view, value] : step) {
      const std::string key(key_view);
      if (key == "source") continue;
      if (key == "message") {
        if (!value.is_string() && !value.is_array())
          throw RecordError("field \"" + path + ".message\": expected a string or content parts");
        message.content = detail::to_json(value);
      } else if (key == "tool_calls") {
        if (value.is_null()) continue;
        std::size_t k = 0;
        for (auto call_element : detail::expect_array(value, path + ".tool_calls")) {
          const std::string call_path = path + ".tool_calls[" + std::to_string(k++) + "]";
          const auto call = detail::expect_object(call_element, call_path);
          ToolCall tool_call;
          if (auto id = detail::optional_string(call, "tool_call_id", call_path)) tool_call.id = *id;
          auto name = detail::optional_string(call, "function_name", call_path);
          if (!name) throw RecordError("field \"" + call_path + ".function_name\" is missing");
          tool_call.name = *name;
          if (auto arguments = detail::field(call, "arguments")) tool_call.arguments = canonical_json(detail::to_json(*arguments));
          message.tool_calls.push_back(std::move(tool_call));
        }
      } else if (key == "observation") {
        if (value.is_null()) continue;
        const auto observation = detail::expect_object(value, path + ".observation");
        auto results = detail::field(observation, "results");
        if (!results) continue;
        std::size_t k = 0;
        for (auto result_element : detail::expect_array(*results, path + ".observation.results")) {
          const std::string result_path = path + ".observation.results[" + std::to_string(k++) + "]";
          const auto result = detail::expect_object(result_element, result_path);
          Message observed;
          auto call_id = detail::optional_string(result, "source_call_id", result_path);
          // An observation answering a tool call is a tool message; any other is environment
          // feedback to the agent, i.e. a user message.
          observed.role = call_id ? "tool" : "user";
          if (call_id) observed.tool_call_id = *call_id;
          if (auto content = detail::field(result, "content")) observed.content = detail::to_json(*content);
          for (auto [result_key, result_value] : result)
            if (result_key != "source_call_id" && result_key != "content")
              observed.extra[std::string(result_key)] = detail::to_json(result_value);
          observations.push_back(std::move(observed));
        }
      } else {
        message.extra[key] = detail::to_json(value);  // step_id, timestamp, metrics, ...
      }
    }
    if (t.task.instruction.empty() && message.role == "user") t.task.instruction = message.text();
    t.messages.push_back(std::move(message));
    for (auto& observed : observations) t.messages.push_back(std::move(observed));
  }
  if (t.messages.empty()) throw RecordError("field \"steps\" is empty: a trajectory needs steps");
  t.meta["atif"] = std::move(atif);

  // Harbor keeps the verdict beside the trajectory: <trial>/result.json, trajectory in <trial>/agent/.
  const fs::path directory = file.parent_path();
  for (const fs::path& candidate : {directory / "result.json", directory.parent_path() / "result.json"}) {
    std::error_code ec;
    if (!fs::is_regular_file(candidate, ec)) continue;
    element result;
    if (side_parser.load(candidate.string()).get(result) != simdjson::SUCCESS)
      throw RecordError(candidate.string() + ": cannot parse the trial's result.json");
    simdjson::dom::object result_object;
    if (result.get_object().get(result_object) != simdjson::SUCCESS) break;
    if (auto name = detail::optional_string(result_object, "task_name", "result")) t.task_id = *name;
    if (auto dataset = detail::optional_string(result_object, "source", "result")) t.benchmark = *dataset;
    if (auto trial = detail::optional_string(result_object, "trial_name", "result")) t.meta["trial_name"] = *trial;
    double reward = 0;
    if (result.at_pointer("/verifier_result/rewards/reward").get(reward) == simdjson::SUCCESS) {
      t.outcome.labelled = true;
      t.outcome.reward = reward;
      t.outcome.success = reward >= 1.0;
    }
    if (auto exception = detail::field(result_object, "exception_info"); exception && !exception->is_null())
      t.outcome.detail = nlohmann::json{{"exception_info", detail::to_json(*exception)}};
    break;
  }
  return t;
}

constexpr std::size_t kMaxRawBytes = std::size_t{1} << 20;  // what a bad record keeps of itself

std::string oversize_reason(std::uint64_t length, std::size_t limit) {
  return "record of " + format_bytes(length) + " exceeds the limit of " + format_bytes(limit) +
         " (raise it with --max-record-mb)";
}

// A framed record: its bytes, with room for simdjson's padding so it parses in place.
RawRecord raw_record(RecordLocation where, std::string_view text) {
  RawRecord raw;
  raw.where = std::move(where);
  raw.text.reserve(text.size() + simdjson::SIMDJSON_PADDING);
  raw.text.assign(text);
  return raw;
}

RawRecord framing_failure(RecordLocation where, std::string reason, std::string_view text, bool truncated) {
  RawRecord raw = raw_record(std::move(where), text.substr(0, kMaxRawBytes));
  raw.framing_error = std::move(reason);
  raw.text_truncated = truncated || text.size() > kMaxRawBytes;
  return raw;
}

void frame_openai_jsonl(detail::InputFile& input, const ReaderOptions& options, const RawRecordHandler& handle) {
  detail::InputFile::Line line;
  while (input.next_line(line, options.max_record_bytes)) {
    RecordLocation where{input.name(), RecordLocation::Unit::line, line.number, line.offset};
    if (line.oversized)
      handle(framing_failure(where, oversize_reason(line.length, options.max_record_bytes), line.text, true));
    else if (line.text.find_first_not_of(" \t") != std::string_view::npos)  // blank lines are no records
      handle(raw_record(where, line.text));
  }
}

void frame_taubench(detail::InputFile& input, const ReaderOptions& options, const RawRecordHandler& handle) {
  detail::ArrayStreamer stream(input);
  detail::ArrayStreamer::Element element;
  for (std::uint64_t elements = 0;; ++elements) {
    try {
      if (!stream.next(element, options.max_record_bytes)) break;
    } catch (const RecordError& e) {
      if (!stream.started()) throw InputError(input.name() + ": not a tau-bench results file: " + e.what());
      if (stream.ended_without_close()) {  // every element was read: nothing is lost
        if (options.warn) options.warn(input.name() + ": " + e.what());
        break;
      }
      // The array itself is broken: nothing after this point can be located reliably, so the rest
      // of the file is quarantined as one piece.
      RecordLocation where{input.name(), RecordLocation::Unit::index, elements, input.position()};
      std::string rest;
      for (int c = input.get(); c != EOF && rest.size() < kMaxRawBytes; c = input.get()) rest.push_back(static_cast<char>(c));
      const bool cut = input.peek() != EOF;
      handle(framing_failure(where, std::string(e.what()) + "; the rest of the file is quarantined unread", rest, cut));
      break;
    }
    RecordLocation where{input.name(), RecordLocation::Unit::index, element.index, element.offset};
    if (element.oversized)
      handle(framing_failure(where, oversize_reason(element.length, options.max_record_bytes), element.text, true));
    else if (element.truncated)
      handle(framing_failure(where, "the file ends inside this record (truncated file?)", element.text, false));
    else
      handle(raw_record(where, element.text));
  }
}

void frame_atif(const fs::path& file, const ReaderOptions& options, const RawRecordHandler& handle) {
  RecordLocation where{file.string(), RecordLocation::Unit::file, 0, 0};
  std::error_code ec;
  const auto size = fs::file_size(file, ec);
  if (ec) throw InputError(file.string() + ": cannot read: " + ec.message());
  if (size > options.max_record_bytes) {
    handle(framing_failure(where, oversize_reason(size, options.max_record_bytes), "", true));
    return;
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) throw InputError(file.string() + ": cannot open");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw Error(file.string() + ": read error");
  handle(raw_record(where, text));
}

}  // namespace

void frame_records(const fs::path& file, Format format, const ReaderOptions& options, const RawRecordHandler& handle) {
  switch (format) {
    case Format::openai_jsonl: {
      detail::InputFile input(file);
      return frame_openai_jsonl(input, options, handle);
    }
    case Format::taubench: {
      detail::InputFile input(file);
      return frame_taubench(input, options, handle);
    }
    case Format::atif: return frame_atif(file, options, handle);
    case Format::t2s_store: break;
  }
  throw InputError(file.string() + ": format \"" + std::string(format_name(format)) +
                   "\" is read by the store module, not by the trace readers");
}

std::optional<BadRecord> parse_record(Format format, RawRecord&& raw, const ReaderOptions& options, Trajectory& out) {
  auto bad = [&](std::string reason) {
    const bool cut = raw.text_truncated || raw.text.size() > kMaxRawBytes;
    if (raw.text.size() > kMaxRawBytes) raw.text.resize(kMaxRawBytes);
    return BadRecord{std::move(raw.where), std::move(reason), std::move(raw.text), cut};
  };
  if (!raw.framing_error.empty()) return bad(std::move(raw.framing_error));
  thread_local simdjson::dom::parser parser;  // reuses its buffers record after record
  if (raw.text.capacity() < raw.text.size() + simdjson::SIMDJSON_PADDING)
    raw.text.reserve(raw.text.size() + simdjson::SIMDJSON_PADDING);
  element root;
  if (auto error = parser.parse(simdjson::padded_string_view(raw.text, raw.text.capacity())).get(root);
      error != simdjson::SUCCESS)
    return bad(detail::describe_parse_error(error, raw.text));
  try {
    switch (format) {
      case Format::openai_jsonl: parse_openai_record(root, out); break;
      case Format::taubench: out = parse_taubench_record(root); break;
      case Format::atif: {
        thread_local simdjson::dom::parser side_parser;  // for the trial's result.json
        out = parse_atif_document(root, raw.where.file, side_parser);
        break;
      }
      case Format::t2s_store: return bad("the t2s store format has no text records");
    }
  } catch (const RecordError& e) {
    return bad(e.what());
  }
  apply_overrides(out, options);
  return std::nullopt;
}

std::variant<Trajectory, BadRecord> parse_record(Format format, RawRecord&& raw, const ReaderOptions& options) {
  Trajectory trajectory;
  if (auto bad = parse_record(format, std::move(raw), options, trajectory)) return std::move(*bad);
  return trajectory;
}

Trajectory parse_openai_record(std::string_view json, const std::string& where) {
  RawRecord raw = raw_record({where, RecordLocation::Unit::file, 0, 0}, json);
  auto parsed = parse_record(Format::openai_jsonl, std::move(raw), {});
  if (auto* bad = std::get_if<BadRecord>(&parsed)) throw InputError(where + ": " + bad->reason);
  return std::move(std::get<Trajectory>(parsed));
}

void read_file(const fs::path& file, Format format, const ReaderOptions& options, RecordSink& sink) {
  frame_records(file, format, options, [&](RawRecord&& raw) {
    const RecordLocation where = raw.where;
    auto parsed = parse_record(format, std::move(raw), options);
    if (auto* trajectory = std::get_if<Trajectory>(&parsed))
      sink.accept(std::move(*trajectory), where);
    else
      sink.reject(std::move(std::get<BadRecord>(parsed)));
  });
}

}  // namespace t2s::trace
