// skill/budget: size limits per file of a skill, and what happens when SKILL.md overflows.
//
// Every file is measured in lines, bytes and approximate tokens (one token per 4 bytes, rounded
// up: the usual rule of thumb for English text; no tokenizer is involved). SKILL.md is preloaded
// into the agent's prompt, so it gets a tight budget; references are read on demand. A limit of 0
// means "no limit". Besides the budgets, SKILL.md is held to the specification's body length: its
// body (after the frontmatter) under 500 lines.
//
// The Agent Skills specification recommends these sizes; it does not require them. So the budgets
// are a gate on what trace2skill writes, never a reason to call someone else's skill invalid:
// skill/validate reports a file over budget as a warning, and skill/apply holds its output to the
// budgets relative to the skill it started from (overruns with a baseline):
// - a file that fits its budgets at the start (or is new) must fit them at the end: the gate for
//   every skill trace2skill drafts or wrote before;
// - a file that exceeds any of its limits at the start (a hand-written SKILL.md of 700 lines) may
//   keep what it had, and is held on what the run adds: in each measure it may grow by at most the
//   limit (the body: by fewer than 500 lines). A run that only shrinks it, or leaves it alone, passes.
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
#include <optional>
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

// One limit a file of a skill exceeds.
struct Overrun {
  std::string file;
  std::string measure;      // "lines", "bytes", "tokens (approximate)", or "body lines" (SKILL.md)
  std::size_t used = 0;     // what the file uses
  std::size_t allowed = 0;  // what it may use (body lines: at most this many)
  std::size_t limit = 0;    // the budget (body lines: kMaxBodyLines - 1)
  // What the file used at the start, when it started over budget and is held on its growth.
  std::optional<std::size_t> before;
  std::size_t line = 0;  // body lines: the first line past what is allowed (1-based); else 0

  bool body() const { return measure == "body lines"; }
  // "SKILL.md has 812 lines, budget 500"; "SKILL.md grew from 700 to 1250 lines, more than its
  // budget of 500 (a file over budget at the start may grow by its budget)"; for the body, the
  // specification's rule in words.
  std::string message() const;
};

// Every limit `text`, the file `path` of a skill, exceeds: SKILL.md its budget and the body rule,
// any other file the reference budget. With `before` (the same file at the start of the run;
// nullptr for a new file) the limits are relative to it, as described above.
std::vector<Overrun> file_overruns(std::string_view path, std::string_view text, const Budgets& budgets,
                                   const std::string* before = nullptr);

// file_overruns of SKILL.md and of every other Markdown file of `skill` (skill/paths
// is_markdown_file), in path order. With `baseline` (the skill a run started from), each file is
// measured against its version there: what the run adds is what the budgets hold.
std::vector<Overrun> overruns(const SkillDir& skill, const Budgets& budgets, const SkillDir* baseline = nullptr);

// Applies the move_to_references policy to `skill` (moving provenance blocks along with their
// lines), until SKILL.md has no overrun relative to `baseline` (nullptr: absolute). Returns one note
// per moved section ("moved '## Charts' (support 2) to references/charts.md"). Stops when SKILL.md
// fits or nothing more may move.
std::vector<std::string> move_overflow(SkillDir& skill, Provenance& provenance, const Budgets& budgets,
                                       const SkillDir* baseline = nullptr);

// Line `line` of `doc` (text written for SKILL.md) as it reads from references/: every local link
// re-relativised ("scripts/x.sh" becomes "../scripts/x.sh", "references/y.md" becomes "y.md"), so it
// still points to the same file. `links` are find_links(doc). Used for sections moved by
// move_overflow and for material moved to references/ by the prevalence policy (consolidate).
std::string relinked_for_references(const Document& doc, std::size_t line, const std::vector<Link>& links);

}  // namespace t2s::skill
