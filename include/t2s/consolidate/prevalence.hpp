// consolidate/prevalence: what of the root patch goes into SKILL.md (preloaded into every agent's
// prompt) and what is kept out of it, decided by counted support, never guessed (DESIGN §1, §6).
//
// An edit of SKILL.md is promoted when its support is at least `min_support` trajectories and at
// least `min_fraction` of the population (support / population >= min_fraction); the population
// is the policy's, else the root patch's origin.population (neither: InputError). Other edits are
// rare:
// - Rare edits that add text (insert_after, insert_before, append_to_section, add_section, and
//   replace_in_section with content) are moved, with mode `references`, into one references file:
//   each becomes an entry saying where it would have gone and how many trajectories back it,
//   followed by its content (headings in it turned into bold lines, so entries never collide;
//   local links re-relativised to read from references/). The file is created with one edit
//   (support: the union of the moved edits'), or, when the skill has it already, appended to with
//   one edit per entry (each keeping its own support). A SKILL.md edit links the file (an
//   add_section at the end of SKILL.md, or an append to that section when the skill has it); it
//   also links every reference the patch keeps that only rare edits mentioned, so none becomes an
//   orphan. An entry whose links would not resolve from references/ is dropped instead, and so are
//   the least supported entries when the file would exceed `reference_budget`.
// - Rare edits that only remove (delete_section, replace_in_section with no content) are dropped:
//   there is nothing to move, and the skill keeps its text.
// - With mode `drop`, every rare edit is dropped, and so are creates of references that only
//   dropped edits linked.
// Edits of reference files are not preloaded and stay as they are, except that a delete_file is
// judged like a SKILL.md edit (a rare one is dropped, and the file stays).
// The result is checked with skill::apply_patch on `skill`: a promoted edit the engine then refuses
// (its partner was rare) is demoted in turn, and the decision says why.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "t2s/skill/budget.hpp"
#include "t2s/skill/patch.hpp"
#include "t2s/skill/skill_dir.hpp"

namespace t2s::consolidate {

struct PrevalencePolicy {
  std::uint64_t population = 0;   // trajectories the support sets are drawn from; 0: the root's origin.population
  double min_fraction = 0.03;     // support/population at or above → stays in SKILL.md
  std::uint64_t min_support = 2;  // and at least this many trajectories
  enum class Rare { references, drop } rare = Rare::references;
  std::string references_file = "references/observed-rarely.md";
  // The references file stays within this budget: the entries with the least support are dropped
  // (ties: the later) until it fits.
  skill::Limits reference_budget = skill::Budgets{}.reference;
};

struct PrevalenceDecision {
  std::size_t edit;  // index in the root patch
  bool promoted;     // stays in the patch as it is
  std::string reason;
  enum class Action { kept, moved, dropped } action = Action::kept;
};

// Splits the root patch: promoted edits stay as they are; rare edits are moved into one
// references file (created, or appended to when it exists in the skill) with a SKILL.md edit that
// links it, or dropped; each decision is reported (one per root edit, in order). Support sets are
// kept on every edit. Throws InputError when the population is unknown or the references file is
// not a references/NAME.md path.
skill::Patch apply_prevalence(const skill::Patch& root, const skill::SkillDir& skill, const PrevalencePolicy& policy,
                              std::vector<PrevalenceDecision>* decisions = nullptr);

}  // namespace t2s::consolidate
