// skill/apply: applies a patch to a skill, deterministically, or explains why it cannot.
//
// Every edit of a patch is resolved against the ORIGINAL files (never against the output of an
// earlier edit of the same patch), so the result does not depend on edit order except where two
// edits insert at the same point: they land in patch order. Consequently an edit cannot anchor on
// text or a section that another edit of the same patch creates.
//
// Naming a section (`target_section`, `after_section`): "## Formulas" names the level-2 heading
// titled "Formulas" ("##Formulas" is read the same way); a bare "Formulas" names a heading with
// that title at any level. Titles match exactly. No match, or more than one, is an error (never a
// guess). A section's extent runs from its heading to the next heading of the same or a higher
// level, subsections included. Anchor texts (`target_text`, `old_text`) match exactly (line
// endings compared as "\n") and must occur exactly once in their scope: the named section's
// extent, or the whole file when no section is given.
//
// Ops (content is a block of lines; one trailing newline in it is ignored; new lines take the
// file's line ending):
// - insert_after / insert_before: content goes on its own lines right after the line where
//   `target_text` ends / right before the line where it starts.
// - append_to_section: content goes after the last non-blank line of the section's extent, so
//   after its last subsection (as in the published tooling; to add to the section's own text
//   before its subsections, anchor with insert_after). A blank line separates it, except when the
//   section ends with a list item or table row and content starts with the same kind of line (so
//   bullets join the list), and a blank line follows it when a heading comes right after.
//   Several appends to one section are allowed and land in patch order.
// - replace_in_section: `old_text` becomes `content` (which may be empty: the text is removed;
//   whole lines removed leave no empty line). It may rename headings but not add or remove them.
// - add_section: `target_section` is the new heading ("## Pitfalls"; a level is required) and
//   `content` its body; it goes after the extent of `after_section`, or at the end of the file.
//   A blank line separates it from what precedes and from a heading that follows.
// - delete_section: removes the heading and its whole extent (at the end of the file, the blank
//   lines before it too).
// - create: a new file (SKILL.md or references/NAME.md) with `content` as its exact bytes.
// - delete_file: removes references/NAME.md (SKILL.md cannot be deleted).
// Where content lands decides what it is. Inside a code block it is code (its '#' lines are not
// headings: replace_in_section may rewrite a comment there), and it may hold no code fence line,
// which would close the block and turn what follows into text and headings nobody declared;
// append_to_section and add_section never land in code (only a block never closed reaches there).
// Elsewhere, content may hold deeper headings (subsections), but never a heading that would take
// over the lines that follow it, nor (when a section is named) one at or above the named section's
// level; and content must not leave a code fence open. Lines landing in the frontmatter are text.
//
// Checks, each reported with its reason, per edit:
// - the path (skill/paths: absolute, `..`, backslashes, control characters, protected, not
//   editable); an edit of a file that does not exist (unknown file), a create of one that does;
// - required fields per op; text fields without NUL or other control characters (tabs and newlines
//   are fine, "\r" only as part of "\r\n": a lone CR is a line break to renderers, not to the engine);
// - links the patch writes, checked in the output by the validator's rule (skill/validate
//   link_problem): absolute, escaping the skill, or to a file that does not exist;
// - anchors: not found, or found more than once;
// - conflicts: each edit touches a range of original lines (the anchor it needs and the lines it
//   replaces or deletes; whole files for create/delete_file). Two edits conflict when the lines one
//   replaces or deletes overlap the lines the other touches, or when one inserts strictly inside
//   lines the other replaces. Both are reported. Pure insertions never conflict with each other.
// - pairing: creating references/X.md needs SKILL.md to mention it after the patch; deleting it
//   needs every mention (in SKILL.md and other references) gone; a mention is what the validator's
//   orphan rule counts (skill/markdown file_mentions: a link, or the path written plainly);
// - frontmatter: name, license, compatibility and allowed-tools (the skill's identity and its
//   permissions) are fixed; description and metadata may change;
// - left behind: a section emptied by the patch, or a heading duplicated by it (same level and
//   title in one file), is blamed on the edits responsible;
// - structure: the output is parsed again, and every line must keep its role (code, heading or
//   other text): a copied line the one it had, a new line the one it got where its edit put it. So
//   the output's headings are exactly the original ones, less those removed, plus those the edits
//   wrote, and no text turns into code or back. A break (an unbalanced fence, a frontmatter closed
//   early) is blamed on the edit that wrote the line, or for a copied line the nearest edit above.
//
// Atomic (default): any failed check fails the whole patch; the result lists every failed edit
// and why, the others as not applied. Partial: failed edits are skipped (and whatever depends on
// them fails in turn) and the rest is applied. Either way the output is then held to the validator
// (skill/validate: its errors) and to the budgets relative to the input (skill/budget overruns with
// the input as baseline): a file that fit its budgets must still fit them, and a file that was over
// budget already (a long hand-written SKILL.md) may grow by at most its budget. So a patch can deepen
// someone else's long skill, while every skill trace2skill drafts stays within the budgets. A skill
// that does not pass is not written. The input's own overruns that the output keeps are warnings.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "t2s/skill/budget.hpp"
#include "t2s/skill/patch.hpp"
#include "t2s/skill/skill_dir.hpp"
#include "t2s/skill/validate.hpp"

namespace t2s::skill {

struct ApplyOptions {
  bool partial = false;  // skip failing edits instead of refusing the patch
  Budgets budgets;
};

// applied: in the output. failed: refused, with its reason. not_applied: fine by itself, but the
// patch was refused (another edit failed in atomic mode, or the output is not a valid skill).
enum class EditStatus { applied, failed, not_applied };
std::string_view status_name(EditStatus status);

struct EditResult {
  EditStatus status = EditStatus::not_applied;
  std::string reason;  // why it failed
};

struct ApplyResult {
  bool ok = false;                   // the output skill is complete and valid
  std::vector<EditResult> edits;     // one per edit of the patch
  std::vector<std::string> moves;    // budget moves made (move_to_references)
  std::vector<Problem> problems;     // why the output is refused: validation errors, budget overruns
  std::vector<Problem> warnings;     // budgets the output exceeds within what it may (over at the start)
  SkillDir skill;                    // the output, provenance sidecar included (meaningful when ok)

  std::size_t applied() const;
  std::size_t failed() const;
};

// Applies `patch` to `skill`, whose directory is named `name` (the name the output is validated
// against). Never throws for anything the patch contains; throws InputError for a malformed
// provenance sidecar in `skill`.
ApplyResult apply_patch(const SkillDir& skill, const std::string& name, const Patch& patch,
                        const ApplyOptions& options = {});

// Loads `input`, applies `patch` and, when the result is ok, writes it to `output` atomically
// (skill/skill_dir), marked as an output (kOutputMarkerPath). `input` is never modified; on failure
// nothing is written. An existing `output` must be empty or an unchanged earlier output (its marker
// matches every file it holds), which is replaced: re-running a command overwrites its own result,
// while anything else there (a project, a .git, a hand-written or hand-edited skill) is refused with
// InputError before the patch is applied, as are outputs inside the input or around it.
ApplyResult apply_patch_to_directory(const std::filesystem::path& input, const Patch& patch,
                                     const std::filesystem::path& output, const ApplyOptions& options = {});

// One line per edit ("edits[1] failed: insert_after SKILL.md: ..."), then moves, problems ("problem:
// SKILL.md:3: [name] ...") and warnings ("warning: SKILL.md: [budget] ...").
std::string format_apply_result(const ApplyResult& result, const Patch& patch);
nlohmann::json apply_result_json(const ApplyResult& result, const Patch& patch);

}  // namespace t2s::skill
