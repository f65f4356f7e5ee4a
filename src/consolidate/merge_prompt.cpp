#include "merge_prompt.hpp"

#include <algorithm>

#include "t2s/core/canonical_json.hpp"
#include "t2s/core/sha256.hpp"
#include "normalize.hpp"
#include "t2s/core/text.hpp"

namespace t2s::consolidate::detail {

namespace {

using nlohmann::json;

constexpr std::string_view kInstructionsHead = R"(You consolidate what analysts learned about an agent skill.

Each analyst studied agent trajectories against the same frozen version of the skill (shown in the user message) and proposed a patch: a list of edits to the skill's files. Every input edit has an id such as "p2.e5" (patch 2, edit 5) and a support count: how many trajectories back it. Merge all candidate patches into ONE patch that will be applied to the frozen skill.

How to merge:
1. Deduplicate. Edits that teach the same thing, even in different words, become a single edit. Keep the clearest wording.
2. Resolve conflicts. When edits contradict each other, or change the same text in different ways, keep one outcome: prefer the edit with the larger support count; with similar support, prefer the one that fits the rest of the skill.
3. Keep what recurs. A lesson several trajectories back matters more than one seen once. Drop an edit only when it duplicates, contradicts or is covered by a better supported edit.
4. Prefer general over specific. Word each lesson so it helps on other tasks of the same kind: replace file names, values and ids from one task with the general rule they illustrate. Never invent a lesson that no input edit states.
5. Cite sources. Every output edit lists in "sources" the ids of all the input edits it comes from (for example ["p1.e2", "p3.e1"]). The program computes support from these ids; do not write a support field.

)";

constexpr std::string_view kInstructionsTail = R"(Answer with one JSON object and nothing else:
{"reasoning": "what you merged and why, in a few sentences",
 "edits": [{"file": "SKILL.md", "op": "append_to_section", "target_section": "## Section", "target_text": null, "old_text": null, "after_section": null, "content": "- The lesson.", "sources": ["p1.e1", "p2.e3"]}],
 "changelog": ["one line per change"]}
Write null for the fields an op does not use.)";

// How the user message is laid out; part of the prompt hash.
constexpr std::string_view kLayout =
    "layout 1: '# Frozen skill', '## SKILL.md' in a fence, 'Reference files: ...', "
    "'# Candidate patches (K)', per patch '## pI' with its reasoning and one JSON line per edit "
    "{id, support_count, file, op, fields given}";

}  // namespace

std::string_view merge_instructions() {
  static const std::string text =
      std::string(kInstructionsHead) + std::string(skill::edit_rules_prompt()) + "\n" + std::string(kInstructionsTail);
  return text;
}

json merge_answer_schema(std::size_t max_edits) {
  json edit = skill::edit_schema(kMaxTextBytes);
  edit["properties"]["sources"] = {{"type", "array"},
                                   {"items", {{"type", "string"}, {"maxLength", 64}}},
                                   {"maxItems", std::max<std::size_t>(max_edits, 1)}};
  edit["required"].push_back("sources");
  return {{"type", "object"},
          {"properties",
           {{"reasoning", {{"type", "string"}, {"maxLength", kMaxReasoningBytes}}},
            {"edits", {{"type", "array"}, {"items", edit}, {"maxItems", std::max<std::size_t>(max_edits, 1)}}},
            {"changelog",
             {{"type", "array"},
              {"items", {{"type", "string"}, {"maxLength", 1024}}},
              {"maxItems", kMaxChangelogEntries}}}}},
          {"required", json::array({"edits"})}};
}

std::string merge_prompt_hash() {
  std::string text(merge_instructions());
  text += "\n";
  text += kLayout;
  text += "\n";
  text += canonical_json(merge_answer_schema(0));
  return to_hex(sha256(text));
}

std::string merge_user_message(const std::string& skill_md, const std::vector<std::string>& references,
                               const std::vector<skill::Patch>& children) {
  std::string out = "# Frozen skill\n\n## SKILL.md\n\n";
  const auto text = repair_utf8(skill_md);
  const auto fence = markdown_fence(text);
  out += fence + "markdown\n" + text;
  if (!text.empty() && text.back() != '\n') out += '\n';
  out += fence + "\n\nReference files: ";
  if (references.empty()) out += "none";
  for (std::size_t i = 0; i < references.size(); ++i) out += (i == 0 ? "" : ", ") + references[i];
  out += "\n\n# Candidate patches (" + std::to_string(children.size()) + ")\n";
  for (std::size_t p = 0; p < children.size(); ++p) {
    const auto& child = children[p];
    out += "\n## p" + std::to_string(p + 1) + "\n\n";
    if (!child.reasoning.empty()) out += "Analyst's reasoning: " + abbreviate(repair_utf8(child.reasoning), 600) + "\n\n";
    if (child.edits.empty()) {
      out += "(no edits)\n";
      continue;
    }
    std::string lines;
    for (std::size_t e = 0; e < child.edits.size(); ++e) {
      const auto& edit = child.edits[e];
      json item = {{"id", edit_id(p, e)},
                   {"support_count", edit.support.size()},
                   {"file", edit.file},
                   {"op", skill::op_name(edit.op)}};
      for (const auto& [key, value] : {std::pair{"target_section", &edit.target_section},
                                       std::pair{"target_text", &edit.target_text},
                                       std::pair{"old_text", &edit.old_text},
                                       std::pair{"after_section", &edit.after_section},
                                       std::pair{"content", &edit.content}})
        if (!value->empty()) item[key] = *value;
      // Keys in a fixed, readable order (id first), not nlohmann's sorted order.
      const auto dump = [](const json& value) { return value.dump(-1, ' ', false, json::error_handler_t::replace); };
      std::string line = "{\"id\":" + dump(item["id"]) + ",\"support_count\":" + dump(item["support_count"]);
      for (const char* key : {"file", "op", "target_section", "target_text", "old_text", "after_section", "content"})
        if (item.contains(key)) line += ",\"" + std::string(key) + "\":" + dump(item[key]);
      lines += line + "}\n";
    }
    const auto edit_fence = markdown_fence(lines);
    out += edit_fence + "json\n" + lines + edit_fence + "\n";
  }
  return out;
}

}  // namespace t2s::consolidate::detail
