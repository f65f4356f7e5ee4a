// consolidate (private): the LLM merge prompt (instructions, input layout) and the answer schema.
// The text is the project's own; its hash goes into the provenance of every block a merge writes,
// so any change to it is a new prompt_hash.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "t2s/skill/patch.hpp"
#include "t2s/skill/skill_dir.hpp"

namespace t2s::consolidate::detail {

// Limits on an answer, in the schema and checked again on the answer (servers may ignore schemas).
inline constexpr std::size_t kMaxTextBytes = 64 * 1024;  // any text field of an edit
inline constexpr std::size_t kMaxReasoningBytes = 16 * 1024;
inline constexpr std::size_t kMaxChangelogEntries = 200;

// The system message: what a merge is and the rules the program enforces.
std::string_view merge_instructions();

// The answer schema; edits are at most `max_edits` (the number of input edits).
nlohmann::json merge_answer_schema(std::size_t max_edits);

// SHA-256 (hex) of the instructions, the layout of the user message and the schema.
std::string merge_prompt_hash();

// The user message: the frozen skill (SKILL.md, the names of its references) and every child
// edit as one JSON line with its id "p<i>.e<j>" and support count.
std::string merge_user_message(const std::string& skill_md, const std::vector<std::string>& references,
                               const std::vector<skill::Patch>& children);

}  // namespace t2s::consolidate::detail
