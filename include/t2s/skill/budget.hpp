// skill/budget: size limits per file of a skill, and what happens when SKILL.md overflows.
//
// Every file is measured in lines, bytes and approximate tokens (one token per 4 bytes, rounded
// up: the usual rule of thumb for English text; no tokenizer is involved). SKILL.md is preloaded
// into the agent's prompt, so it gets a tight budget; references are read on demand. A limit of 0
// means "no limit". Independently of any budget, the specification's own rule holds: the SKILL.md
// body stays under 500 lines.
//
// Overflow policy when a patch makes SKILL.md exceed its budget:
// - refuse: the patch is not applied; the validator names the limit that was exceeded.
// - move_to_references: the least supported level-2 sections move out, one at a time, until
//   SKILL.md fits. "Support" is the largest support set among the section's provenance blocks;
//   sections without provenance (hand-written material) never move. Ties move the later section
//   first. A moved section becomes references/<slug of its title>.md (its heading as "# Title"),
//   its local links rewritten to point from references/ to the same files ("scripts/run.sh" →
//   "../scripts/run.sh", "references/x.md" → "x.md"), and SKILL.md keeps the heading with one line:
//   "See [Title](references/slug.md)." That line also links every reference that only the moved
//   section mentioned (", which refers to [x.md](references/x.md)"), so none becomes an orphan.
//   When nothing more can move and SKILL.md still does not fit, the patch is refused.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "t2s/skill/markdown.hpp"
#include "t2s/skill/skill_dir.hpp"

namespace t2s::skill {

struct Provenance;

inline constexpr std::size_t kMaxBodyLines = 500;  // the specification: body "under 500 lines"

struct Limits {
  std::size_t lines = 0, bytes = 0, tokens = 0;  // 0: no limit
};

enum class OverflowPolicy { refuse, move_to_references };

struct Budgets {
  Limits skill_md{500, 0, 5000};    // the specification's guidance: < 500 lines, about 5,000 tokens
  Limits reference{2000, 0, 20000};
  OverflowPolicy overflow = OverflowPolicy::refuse;
};

struct Usage {
  std::size_t lines = 0, bytes = 0, tokens = 0;
};

std::size_t approximate_tokens(std::string_view text);
Usage measure(std::string_view text);

// One line per limit `text` exceeds ("412 lines, budget 400"); empty when it fits.
std::vector<std::string> over_budget(std::string_view text, const Limits& limits);

// Whether SKILL.md breaks its budget or the body-length rule.
bool skill_md_overflows(std::string_view skill_md, const Limits& limits);

// Applies the move_to_references policy to `skill` (moving provenance blocks along with their
// lines). Returns one note per moved section ("moved '## Charts' (support 2) to
// references/charts.md"). Stops when SKILL.md fits or nothing more may move.
std::vector<std::string> move_overflow(SkillDir& skill, Provenance& provenance, const Limits& skill_md);

// Line `line` of `doc` (text written for SKILL.md) as it reads from references/: every local link
// re-relativised ("scripts/x.sh" becomes "../scripts/x.sh", "references/y.md" becomes "y.md"), so it
// still points to the same file. `links` are find_links(doc). Used for sections moved by
// move_overflow and for material moved to references/ by the prevalence policy (consolidate).
std::string relinked_for_references(const Document& doc, std::size_t line, const std::vector<Link>& links);

}  // namespace t2s::skill
