// consolidate (private): what makes two edits "the same" (see consolidate/merge.hpp): where an
// edit acts, and what its content says once Markdown and punctuation noise are taken out.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "t2s/skill/patch.hpp"

namespace t2s::consolidate::detail {

// Content as compared: ASCII lowercased, list and quote markers at line starts removed, "n't" read
// as " not", other ASCII punctuation read as a space, whitespace collapsed and trimmed.
std::string normalized_content(std::string_view text);

// The distinct words of a normalized text, sorted.
std::vector<std::string> words_of(std::string_view normalized);

// |a ∩ b| / |a ∪ b| of two sorted word sets; 1 when both are empty.
double jaccard(const std::vector<std::string>& a, const std::vector<std::string>& b);

// Whether a word that only one of the two sets holds is a negation ("not", "never", "avoid", ...).
bool negation_differs(const std::vector<std::string>& a, const std::vector<std::string>& b);

// An anchor text as compared: "\r\n" read as "\n", surrounding whitespace trimmed.
std::string anchor_key(std::string_view text);

// A section name ("## Formulas", "Formulas") as "<level>|<title>", whitespace runs in the title
// collapsed; "" for an empty name. `fold_case`: the title lowercased (ASCII).
std::string section_key(std::string_view spec, bool fold_case = false);

// Whether two section names can name the same section: equal titles, and equal levels unless one
// gives none.
bool same_section(std::string_view a, std::string_view b);

// Where an edit acts: file, op and its anchors, normalized (add_section: its new heading, case folded).
std::string place_key(const skill::Edit& edit);

// The text anchor of an insert (target_text) or a replace (old_text); "" for other ops.
const std::string& text_anchor(const skill::Edit& edit);

// "append_to_section SKILL.md \"## Formulas\"": an edit for people, in reports.
std::string describe_edit(const skill::Edit& edit);

// The id of input edit `edit` of child `patch` (0-based) in reports and prompts: "p<patch+1>.e<edit+1>".
std::string edit_id(std::size_t patch, std::size_t edit);

}  // namespace t2s::consolidate::detail
