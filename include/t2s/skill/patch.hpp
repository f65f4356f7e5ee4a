// skill/patch: the JSON patch format (DESIGN §5): the published Trace2Skill edit format, read as
// is, plus support sets and an optional origin.
//
//   {"reasoning": "…",
//    "edits": [{"file": "SKILL.md", "op": "append_to_section", "target_section": "## Formulas",
//               "target_text": null, "old_text": null, "after_section": null,
//               "content": "- Recalculate after writing formulas.", "support": ["<trajectory id>"]}],
//    "changelog": ["…"],                      (the published "changelog_entries" is read too)
//    "origin": {"model": "…", "model_hash": "…", "prompt_hash": "…",
//               "merge_path": ["L2/0", "L1/3"], "population": 128}}
//
// Ops: insert_after, insert_before, append_to_section, replace_in_section, add_section,
// delete_section, create, delete_file; the published aliases create_file, createFile and
// deleteFile are accepted. Text fields may be null, empty or absent (all mean "not given").
// `support` is a set (skill/support.hpp): trajectory ids, or positions in a run's store (integers). Unknown keys are ignored, as the
// published tooling does. What each op does is documented in skill/apply.hpp.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "t2s/skill/support.hpp"

namespace t2s::skill {

enum class Op { insert_after, insert_before, append_to_section, replace_in_section, add_section, delete_section, create, delete_file };

std::string_view op_name(Op op);
// An op name or one of the published aliases.
std::optional<Op> parse_op(std::string_view name);

struct Edit {
  std::string file;
  Op op = Op::append_to_section;
  std::string target_section, target_text, content, old_text, after_section;
  Support support;  // the trajectories behind the edit (skill/support.hpp)
};

// Where a patch came from, copied into the provenance of every block it writes.
struct PatchOrigin {
  std::string model, model_hash, prompt_hash;
  std::vector<std::string> merge_path;  // merge-tree nodes, root first
  std::uint64_t population = 0;         // trajectories the support sets are drawn from; 0: unknown
};

struct Patch {
  std::string reasoning;
  std::vector<Edit> edits;
  std::vector<std::string> changelog;
  PatchOrigin origin;
  std::string sha256;  // of the text it was read from (hex)
};

// Reads a patch from JSON text; `where` names it in messages ("patch.json"). Throws InputError
// naming the field (`where: edits[2].op: ...`) on anything malformed; never crashes or hangs.
Patch read_patch(std::string_view text, std::string_view where);
Patch load_patch(const std::filesystem::path& file);

// The patch as JSON in the same format (canonical op names, null for fields not given).
nlohmann::json patch_json(const Patch& patch);

// An `origin` object (also used by the provenance sidecar); `path` names it in messages.
PatchOrigin read_origin(const nlohmann::json& value, const std::string& path);
nlohmann::json origin_json(const PatchOrigin& origin);
bool is_empty(const PatchOrigin& origin);

// JSON schema of one edit as a model writes it (structured output): file, op and the text fields,
// each text at most `max_text_bytes`; no support (the program computes it).
nlohmann::json edit_schema(std::size_t max_text_bytes);

// One edit as a model wrote it (a JSON object of edit fields), read by read_patch's rules; what the
// model wrote as support (or anything else) is not read: the support is left empty for the program
// to set. InputError saying why it cannot be used: a malformed field, a file a patch may not touch,
// a text field longer than `max_text_bytes`.
Edit read_model_edit(const nlohmann::json& fields, std::size_t max_text_bytes);

// The rules above, as a prompt tells a model that writes edits (one paragraph per rule).
std::string_view edit_rules_prompt();

}  // namespace t2s::skill
