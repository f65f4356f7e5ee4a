#include "t2s/skill/patch.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "t2s/core/error.hpp"
#include "t2s/core/sha256.hpp"
#include "t2s/core/text.hpp"
#include "t2s/skill/paths.hpp"
#include "json_fields.hpp"

namespace t2s::skill {

namespace {

using nlohmann::json;

constexpr std::pair<std::string_view, Op> kOps[] = {
    {"insert_after", Op::insert_after},     {"insert_before", Op::insert_before},
    {"append_to_section", Op::append_to_section}, {"replace_in_section", Op::replace_in_section},
    {"add_section", Op::add_section},       {"delete_section", Op::delete_section},
    {"create", Op::create},                 {"delete_file", Op::delete_file},
    // aliases of the published format
    {"create_file", Op::create},            {"createFile", Op::create},
    {"deleteFile", Op::delete_file},
};

Edit read_edit(const json& value, const std::string& path) {
  if (!value.is_object()) throw InputError(path + ": an edit must be an object, not " + std::string(value.type_name()));
  const JsonFields fields(value, path);
  Edit edit;
  edit.file = fields.string("file");
  if (edit.file.empty()) fields.fail("file", "missing (every edit names the file it changes)");
  const auto op = fields.string("op");
  if (op.empty()) fields.fail("op", "missing");
  const auto parsed = parse_op(op);
  if (!parsed)
    fields.fail("op", "unknown op \"" + op +
                          "\" (expected insert_after, insert_before, append_to_section, replace_in_section, "
                          "add_section, delete_section, create or delete_file)");
  edit.op = *parsed;
  edit.target_section = fields.string("target_section");
  edit.target_text = fields.string("target_text");
  edit.content = fields.string("content");
  edit.old_text = fields.string("old_text");
  edit.after_section = fields.string("after_section");
  if (const auto* support = fields.find("support")) edit.support = Support::from_json(*support, path + ".support");
  return edit;
}

}  // namespace

PatchOrigin read_origin(const json& value, const std::string& path) {
  if (!value.is_object()) throw InputError(path + ": must be an object, not " + std::string(value.type_name()));
  const JsonFields fields(value, path);
  PatchOrigin origin;
  origin.model = fields.string("model");
  origin.model_hash = fields.string("model_hash");
  origin.prompt_hash = fields.string("prompt_hash");
  origin.merge_path = fields.strings("merge_path");
  origin.population = fields.unsigned_integer("population");
  return origin;
}

json origin_json(const PatchOrigin& origin) {
  return {{"model", origin.model},
          {"model_hash", origin.model_hash},
          {"prompt_hash", origin.prompt_hash},
          {"merge_path", origin.merge_path},
          {"population", origin.population}};
}

bool is_empty(const PatchOrigin& origin) {
  return origin.model.empty() && origin.model_hash.empty() && origin.prompt_hash.empty() &&
         origin.merge_path.empty() && origin.population == 0;
}

namespace {

json text_or_null(const std::string& text) { return text.empty() ? json(nullptr) : json(text); }

}  // namespace

std::string_view op_name(Op op) {
  for (const auto& [name, value] : kOps)
    if (value == op) return name;  // the canonical name comes first
  return "?";
}

std::optional<Op> parse_op(std::string_view name) {
  for (const auto& [known, op] : kOps)
    if (known == name) return op;
  return std::nullopt;
}

Patch read_patch(std::string_view text, std::string_view where) {
  const std::string origin(where);
  json root;
  try {
    root = json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    std::string message = e.what();
    if (const auto bracket = message.find("] "); message.starts_with("[json.exception") && bracket != std::string::npos)
      message.erase(0, bracket + 2);
    throw InputError(origin + ": not valid JSON: " + message);
  }
  if (!root.is_object()) throw InputError(origin + ": a patch must be a JSON object with an \"edits\" list");
  const JsonFields fields(root, origin);
  Patch patch;
  patch.reasoning = fields.string("reasoning");
  const auto* edits = fields.find("edits");
  if (edits == nullptr) fields.fail("edits", "missing (a patch is {\"edits\": [...]})");
  if (!edits->is_array()) fields.fail("edits", "must be a list, not " + std::string(edits->type_name()));
  for (std::size_t i = 0; i < edits->size(); ++i)
    patch.edits.push_back(read_edit((*edits)[i], origin + ": edits[" + std::to_string(i) + "]"));
  patch.changelog = fields.strings(fields.find("changelog") != nullptr ? "changelog" : "changelog_entries");
  if (const auto* value = fields.find("origin")) patch.origin = read_origin(*value, origin + ": origin");
  patch.sha256 = to_hex(sha256(text));
  return patch;
}

Patch load_patch(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw InputError(file.string() + ": cannot open the patch");
  std::stringstream buffer;
  buffer << in.rdbuf();
  return read_patch(buffer.str(), file.string());
}

json patch_json(const Patch& patch) {
  json edits = json::array();
  for (const auto& edit : patch.edits)
    edits.push_back({{"file", edit.file},
                     {"op", op_name(edit.op)},
                     {"target_section", text_or_null(edit.target_section)},
                     {"target_text", text_or_null(edit.target_text)},
                     {"content", text_or_null(edit.content)},
                     {"old_text", text_or_null(edit.old_text)},
                     {"after_section", text_or_null(edit.after_section)},
                     {"support", edit.support.to_json()}});
  json result = {{"reasoning", patch.reasoning}, {"edits", edits}, {"changelog", patch.changelog}};
  if (!is_empty(patch.origin)) result["origin"] = origin_json(patch.origin);
  return result;
}

}  // namespace t2s::skill

namespace t2s::skill {

Edit read_model_edit(const nlohmann::json& fields, std::size_t max_text_bytes) {
  using nlohmann::json;
  if (!fields.is_object()) throw InputError("not an object");
  json known = json::object();
  for (const char* key : {"file", "op", "target_section", "target_text", "old_text", "after_section", "content"})
    if (const auto value = fields.find(key); value != fields.end()) known[key] = *value;
  const auto text = json{{"edits", json::array({known})}}.dump(-1, ' ', false, json::error_handler_t::replace);
  Edit edit = read_patch(text, "answer").edits.at(0);
  if (const auto problem = edit_path_problem(edit.file))
    throw InputError("file \"" + abbreviate(edit.file, 80) + "\": " + *problem);
  for (const auto* field : {&edit.target_section, &edit.target_text, &edit.old_text, &edit.after_section, &edit.content})
    if (field->size() > max_text_bytes)
      throw InputError("a text field is longer than " + std::to_string(max_text_bytes) + " bytes");
  return edit;
}

std::string_view edit_rules_prompt() {
  return R"(Rules the program enforces (an edit that breaks one is discarded):
- Only SKILL.md and references/NAME.md may be edited. Never touch scripts/ or licence files.
- Ops: insert_after and insert_before put "content" on new lines after / before the line holding "target_text" (searched within "target_section" when given); append_to_section adds "content" at the end of "target_section"; replace_in_section turns "old_text" into "content" (within "target_section" when given); add_section adds the heading "target_section" (with its level, like "## Pitfalls") and "content" as its body, after the section "after_section" or at the end of the file; delete_section removes "target_section"; create makes a new file references/NAME.md with "content" and needs a SKILL.md edit that links it; delete_file removes a reference file.
- Copy anchors ("target_text", "old_text") and section names exactly from the frozen skill; an anchor must occur exactly once where it is searched. An edit cannot anchor on text that another edit adds.
- No two edits may change overlapping lines. A heading may be added only once and never duplicate an existing one.
- Keep SKILL.md short: the agent reads all of it on every task.
)";
}

nlohmann::json edit_schema(std::size_t max_text_bytes) {
  using nlohmann::json;
  const json text = {{"type", json::array({"string", "null"})}, {"maxLength", max_text_bytes}};
  json ops = json::array();
  for (auto op : {Op::insert_after, Op::insert_before, Op::append_to_section, Op::replace_in_section, Op::add_section,
                  Op::delete_section, Op::create, Op::delete_file})
    ops.push_back(std::string(op_name(op)));
  return {{"type", "object"},
          {"properties",
           {{"file", {{"type", "string"}, {"maxLength", 512}}},
            {"op", {{"type", "string"}, {"enum", ops}}},
            {"target_section", text},
            {"target_text", text},
            {"old_text", text},
            {"after_section", text},
            {"content", text}}},
          {"required", json::array({"file", "op"})}};
}

}  // namespace t2s::skill
