// consolidate (private): the last steps of every merge, deterministic or LLM: equal edits grouped,
// conflicts resolved by support, then (with a frozen skill) what the skill engine refuses removed.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "t2s/consolidate/merge.hpp"
#include "t2s/skill/patch.hpp"
#include "t2s/skill/skill_dir.hpp"

namespace t2s::consolidate::detail {

struct Candidate {
  skill::Edit edit;
  std::string label;  // how reports name it ("p2.e5", "edits[3]")
};

// Equal and near-equal candidates at the same place become one (see consolidate/merge.hpp), in the
// order of each group's first member, with the union of their supports; groupings are noted.
std::vector<Candidate> group(const std::vector<Candidate>& inputs, double near_equal, MergeReport& report);

// Why `a` and `b` cannot be in one patch, from their fields alone; nothing when they can.
std::optional<std::string> conflict_between(const skill::Edit& a, const skill::Edit& b);

// Keeps, in order, the candidates that survive: conflicts resolved greedily by support (largest
// first, ties: earlier), then, when `skill` is given, the edits skill::apply_patch refuses removed
// one at a time (smallest support first, ties: later). Everything removed is noted in `report`.
std::vector<Candidate> resolve(std::vector<Candidate> candidates, const skill::SkillDir* skill, MergeReport& report);

// The skill's name from its SKILL.md frontmatter, "skill" when it has none.
std::string skill_name(const skill::SkillDir& skill);

// The patch's sha256: of its canonical JSON (a merged patch was never read from text).
std::string patch_digest(const skill::Patch& patch);

// The largest population among `children`.
std::uint64_t max_population(std::span<const skill::Patch> children);

}  // namespace t2s::consolidate::detail
