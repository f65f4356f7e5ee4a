// eval/report: the report of `t2s eval`, rendered as Markdown (for a terminal, a pull request or a
// notebook) and as one self-contained HTML page (inline CSS and an inline SVG chart, no scripts, no
// external resources). Both show the same tables: one row per condition (pass rate with its
// interval) and one per comparison, with a one-line plain-language verdict per comparison.
//
// Every text that comes from the input (names, models, skill paths, provenance) is escaped for the
// output format, so a condition called `<script>` or `a|b` is shown as written and breaks nothing.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "t2s/eval/stats.hpp"

namespace t2s::eval {

struct ConditionResult {
  std::string name;   // unique within the report, e.g. "no-skill", "skill-v2@qwen-72b"
  std::string model;
  std::string skill;  // the skill's path or label; empty: no skill
  RateSummary summary;
};

// Condition `a` against condition `b` (names as in ConditionResult); the difference is B - A.
struct ComparisonResult {
  std::string a, b;
  PairedComparison stats;
};

struct EvalReport {
  // Where the numbers come from (benchmark, split, job name, date, t2s version, ...): a JSON object
  // whose keys are printed in order; null for none. InputError for anything else.
  nlohmann::json provenance;
  std::vector<ConditionResult> conditions;
  std::vector<ComparisonResult> comparisons;
};

// E.g. "skill-v2 beats no-skill by +12.0 points (95% CI +4.0 to +20.0), McNemar p = 0.003".
// "beats" / "is worse than" when the interval of the difference excludes 0, else "does not differ
// clearly from". Plain text: the renderers escape it.
std::string verdict(const ComparisonResult& comparison);

std::string render_markdown(const EvalReport& report);
std::string render_html(const EvalReport& report);

// `text` safe as HTML element content or a quoted attribute value (& < > " ' escaped); invalid
// UTF-8 is replaced by U+FFFD.
std::string escape_html(std::string_view text);
// `text` safe inside a Markdown table cell or a line of text: one line (line breaks become spaces),
// with the characters Markdown gives a meaning (| \ ` * _ [ ] < > ~ &) backslash-escaped, except a
// "<" before a space (no tag starts so: "p < 0.001" stays as it is); invalid UTF-8 is replaced by
// U+FFFD.
std::string escape_markdown(std::string_view text);

}  // namespace t2s::eval
