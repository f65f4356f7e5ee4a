// skill/validate: checks a skill directory against the Agent Skills specification and its budgets.
//
// What the specification requires is an error: any error makes the skill invalid. What it only
// recommends (sizes: the body-lines rule and the budgets) is a warning: reported, never making a
// skill invalid, so someone else's long skill still validates. trace2skill holds what it writes to
// the budgets in skill/apply (see skill/budget), not here.
//
// Rules (each problem names its rule):
// - skill-md: SKILL.md exists.               - utf8: SKILL.md and references are valid UTF-8.
// - line-ending: no carriage return without a line feed in SKILL.md or references (CommonMark breaks
//   the line there, skill/markdown does not: a renderer would see headings the engine never checked).
// - frontmatter: SKILL.md starts with a closed YAML frontmatter block holding a mapping.
// - frontmatter-key: only name, description, license, compatibility, metadata, allowed-tools.
// - name: 1–64 characters of a-z, 0-9 and '-', no '-' at either end, no "--", equal to the
//   directory's name.
// - description: 1–1024 characters, no XML tags (`<tag>`, `</tag>`).
// - license: a string. compatibility: 1–500 characters. metadata: a mapping of strings to
//   strings. allowed-tools: a string (space-separated) or a list of strings.
// - body-lines (warning): the SKILL.md body (after the frontmatter) has fewer than 500 lines.
// - link: every relative link in SKILL.md and the references resolves to a file or directory of
//   the skill; none is absolute or leaves the skill (external links and #anchors are not checked).
// - reference-depth: reference files sit directly in references/ (one level deep).
// - reference-name: a reference is named [A-Za-z0-9][A-Za-z0-9._-]*.md (skill/paths).
// - orphan-reference: every references/*.md is mentioned in SKILL.md (skill/markdown file_mentions:
//   a link to it, or its path written plainly), as references are reached from SKILL.md, never only
//   through another reference.
// - budget (warning): SKILL.md and each reference within their budgets (skill/budget).
// The .trace2skill/ sidecar is not part of the skill and is not checked.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "t2s/skill/budget.hpp"
#include "t2s/skill/skill_dir.hpp"

namespace t2s::skill {

enum class Severity { error, warning };
std::string_view severity_name(Severity severity);  // "error", "warning"

struct Problem {
  std::string file;      // path in the skill
  std::size_t line = 0;  // 1-based; 0 when the problem is about the whole file
  std::string rule;
  std::string message;
  Severity severity = Severity::error;
};

struct Validation {
  std::vector<Problem> errors;    // what the specification requires: any makes the skill invalid
  std::vector<Problem> warnings;  // what it recommends (sizes): reported only
  bool valid() const { return errors.empty(); }
};

// The errors and warnings of `skill`, whose directory is named `name`, each sorted by file and line.
Validation check_skill(const SkillDir& skill, std::string_view name, const Budgets& budgets = {});

// The errors of `skill` (check_skill(...).errors). Empty: valid.
std::vector<Problem> validate_skill(const SkillDir& skill, std::string_view name);

// An overrun (skill/budget) as a problem: rule "body-lines" or "budget".
Problem budget_problem(const Overrun& overrun, Severity severity);

// Why the link `target`, written in the skill file `from_file`, does not hold in `skill`: it is
// absolute, leaves the skill, or points to a file or directory the skill does not have (the
// .trace2skill/ sidecar counts as absent). Nothing for a good local link, an external link or an
// anchor. The validator's link rule, and apply's check of the links a patch writes.
std::optional<std::string> link_problem(const SkillDir& skill, std::string_view from_file, std::string_view target);

// "SKILL.md:3: [name] ..." (the severity is not written).
std::string format_problem(const Problem& problem);
// "DIR/SKILL.md:3: [name] ..." one line per problem; "DIR/SKILL.md: warning: [budget] ..." for a warning.
std::string format_problems(const std::vector<Problem>& problems, std::string_view dir);
// [{file, line, rule, message, severity}...]
nlohmann::json problems_json(const std::vector<Problem>& problems);

}  // namespace t2s::skill
