#include "t2s/eval/report.hpp"

#include <cmath>
#include <cstdio>
#include <string_view>

#include "t2s/core/error.hpp"
#include "t2s/core/text.hpp"

namespace t2s::eval {
namespace {

using std::string;

constexpr std::string_view kDash = "\u2014";  // shown where there is no number

// ------------------------------------------------------------------------------------ numbers

string fixed(double value, int decimals) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
  return buffer;
}

// "40.0%" of a rate in [0, 1].
string percent(double rate) { return std::isnan(rate) ? string(kDash) : fixed(100 * rate, 1) + "%"; }

// "+12.0" percentage points, "0.0" when it rounds to zero (never "-0.0").
string signed_points(double difference) {
  string text = fixed(100 * difference, 1);
  if (text == "-0.0" || text == "0.0") return "0.0";
  return text[0] == '-' ? text : "+" + text;
}

string p_value(double p) {
  if (std::isnan(p)) return string(kDash);
  return p < 0.001 ? "< 0.001" : fixed(p, 3);
}

// "p = 0.003", "p < 0.001".
string p_clause(double p) {
  const string value = p_value(p);
  return value[0] == '<' ? "p " + value : "p = " + value;
}

string confidence_label(double confidence) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%g%%", 100 * confidence);
  return buffer;
}

// "33.1 to 47.0": an interval of rates in percent; `show` formats one end.
template <typename Format>
string interval_text(const Interval& interval, Format show, std::string_view separator) {
  if (std::isnan(interval.low)) return string(kDash);
  return show(interval.low) + string(separator) + show(interval.high);
}

// The level every interval header names: the first row's (they normally all share the options).
double report_confidence(const EvalReport& report) {
  if (!report.conditions.empty()) return report.conditions.front().summary.interval.confidence;
  if (!report.comparisons.empty()) return report.comparisons.front().stats.difference_interval.confidence;
  return 0.95;
}

// An interval's cell, naming its level when it differs from the column's.
template <typename Format>
string interval_cell(const Interval& interval, double column_confidence, Format show) {
  string text = interval_text(interval, show, " to ");
  if (!std::isnan(interval.low) && interval.confidence != column_confidence)
    text += " (" + confidence_label(interval.confidence) + ")";
  return text;
}

string rate_number(double rate) { return fixed(100 * rate, 1); }

// ------------------------------------------------------------------------------------ content

enum class Direction { none, better, worse, unclear };

// Whether B is better than A: the interval of B - A decides, so that the verdict agrees with the
// numbers printed next to it.
Direction direction_of(const PairedComparison& stats) {
  if (stats.pairs == 0 || std::isnan(stats.difference_interval.low)) return Direction::none;
  if (stats.difference_interval.low > 0) return Direction::better;
  if (stats.difference_interval.high < 0) return Direction::worse;
  return Direction::unclear;
}

std::string_view direction_class(Direction direction) {
  switch (direction) {
    case Direction::better: return "better";
    case Direction::worse: return "worse";
    case Direction::unclear: return "unclear";
    case Direction::none: break;
  }
  return "none";
}

// A mark before each verdict: it lets a reader scan them, and keeps a name from starting a
// Markdown line (where "1. " or "# " would make it a list or a heading).
std::string_view direction_mark(Direction direction) {
  switch (direction) {
    case Direction::better: return "\u25B2";   // up triangle
    case Direction::worse: return "\u25BC";    // down triangle
    case Direction::unclear: return "\u2248";  // almost equal
    case Direction::none: break;
  }
  return "\u2013";
}

// A table as plain text cells; each renderer escapes them for its format.
struct Table {
  std::vector<string> headers;
  std::vector<bool> numeric;  // per column: right-aligned
  std::vector<std::vector<string>> rows;
};

Table condition_table(const EvalReport& report) {
  const string level = confidence_label(report_confidence(report));
  Table table{{"condition", "model", "skill", "tasks", "attempts", "passed", "failed", "missing", "pass rate",
               level + " CI"},
              {false, false, false, true, true, true, true, true, true, true},
              {}};
  for (const auto& c : report.conditions) {
    const RateSummary& s = c.summary;
    table.rows.push_back({c.name, c.model, c.skill.empty() ? "none" : c.skill, std::to_string(s.tasks),
                          std::to_string(s.units), std::to_string(s.passed), std::to_string(s.failed),
                          std::to_string(s.missing), percent(s.rate),
                          interval_cell(s.interval, report_confidence(report), rate_number)});
  }
  return table;
}

Table comparison_table(const EvalReport& report) {
  const string level = confidence_label(report_confidence(report));
  Table table{{"A", "B", "tasks", "pairs", "A only", "B only", "both", "neither", "excluded", "A rate", "B rate",
               "B \u2212 A (points)", level + " CI", "McNemar p", "bootstrap p"},
              {false, false, true, true, true, true, true, true, true, true, true, true, true, true, true},
              {}};
  for (const auto& c : report.comparisons) {
    const PairedComparison& s = c.stats;
    const bool any = s.pairs > 0;
    table.rows.push_back({c.a, c.b, std::to_string(s.tasks), std::to_string(s.pairs), std::to_string(s.a_only),
                          std::to_string(s.b_only), std::to_string(s.both), std::to_string(s.neither),
                          std::to_string(s.excluded), percent(s.rate_a), percent(s.rate_b),
                          any ? signed_points(s.difference) : string(kDash),
                          interval_cell(s.difference_interval, report_confidence(report), signed_points),
                          any ? p_value(s.mcnemar_p) : string(kDash), p_value(s.bootstrap_p)});
  }
  return table;
}

// Conditions with tasks left out of their rate, one sentence each.
std::vector<string> missing_notes(const EvalReport& report) {
  std::vector<string> notes;
  for (const auto& c : report.conditions) {
    const std::size_t left_out = c.summary.tasks_all_missing;
    if (left_out == 0) continue;
    notes.push_back(c.name + ": " + std::to_string(left_out) + (left_out == 1 ? " task" : " tasks") +
                    " had every attempt missing (infrastructure errors) and " + (left_out == 1 ? "is" : "are") +
                    " left out of its rate.");
  }
  return notes;
}

// Provenance as (key, value text) pairs, in the object's key order.
std::vector<std::pair<string, string>> provenance_entries(const nlohmann::json& provenance) {
  if (provenance.is_null()) return {};
  if (!provenance.is_object())
    throw InputError(string("eval report: provenance must be a JSON object, got ") + provenance.type_name());
  std::vector<std::pair<string, string>> entries;
  for (const auto& [key, value] : provenance.items())
    entries.emplace_back(key, value.is_string() ? value.get<string>()
                                                : value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  return entries;
}

const char* const kHowToRead[] = {
    "Pass rate: the mean over tasks of each task's mean score over its completed attempts. Missing attempts "
    "(infrastructure errors: the model server failed, the sandbox could not start) are left out and counted, "
    "never scored as failures.",
    "Intervals: percentile bootstrap that resamples tasks, each with all its attempts (attempts of one task are "
    "not independent).",
    "Comparisons use only the attempts both conditions completed; \"excluded\" counts the others. "
    "B \u2212 A is the difference of pass rates in percentage points; A only / B only count the attempts only "
    "that condition passed.",
    "McNemar p: exact test on the discordant pairs (A only, B only); it treats attempts as independent, so trust "
    "it with one attempt per task and pass/fail scores. Bootstrap p: paired bootstrap over tasks; prefer it with "
    "several attempts per task or soft scores.",
};

// ------------------------------------------------------------------------------------ Markdown

string markdown_table(const Table& table) {
  const auto row = [](const std::vector<string>& cells) {
    string line = "|";
    for (const auto& cell : cells) line.append(" ").append(escape_markdown(cell)).append(" |");
    return line + "\n";
  };
  string text = row(table.headers) + "|";
  for (bool numeric : table.numeric) text += numeric ? "---:|" : "---|";
  text += "\n";
  for (const auto& cells : table.rows) text += row(cells);
  return text;
}

// ------------------------------------------------------------------------------------ HTML

string html_table(const Table& table) {
  string html = "<table>\n<thead><tr>";
  for (std::size_t i = 0; i < table.headers.size(); ++i)
    html += string(table.numeric[i] ? "<th class=\"num\">" : "<th>") + escape_html(table.headers[i]) + "</th>";
  html += "</tr></thead>\n<tbody>\n";
  for (const auto& cells : table.rows) {
    html += "<tr>";
    for (std::size_t i = 0; i < cells.size(); ++i)
      html += string(table.numeric[i] ? "<td class=\"num\">" : "<td>") + escape_html(cells[i]) + "</td>";
    html += "</tr>\n";
  }
  return html + "</tbody>\n</table>\n";
}

// `style`: presentation attributes. Colours are attributes rather than page CSS so that the chart
// looks the same when saved on its own.
string svg_line(std::string_view css_class, std::string_view style, double x1, double y1, double x2, double y2) {
  return "<line class=\"" + string(css_class) + "\" " + string(style) + " x1=\"" + fixed(x1, 2) + "\" y1=\"" +
         fixed(y1, 2) + "\" x2=\"" + fixed(x2, 2) + "\" y2=\"" + fixed(y2, 2) + "\"/>";
}

string svg_text(std::string_view css_class, double x, double y, std::string_view anchor, std::string_view text) {
  return "<text class=\"" + string(css_class) + "\" x=\"" + fixed(x, 2) + "\" y=\"" + fixed(y, 2) +
         "\" text-anchor=\"" + string(anchor) + "\">" + escape_html(text) + "</text>";
}

// A horizontal bar per condition (its pass rate), a whisker from the interval's low to its high
// end, and an axis from 0 to 100%. Conditions without a rate get a label and "no data".
string svg_chart(const EvalReport& report) {
  constexpr double kLabelRight = 220, kPlotLeft = 230, kPlotWidth = 500, kRow = 28, kTop = 10, kWidth = 900;
  constexpr std::string_view kInk = "stroke=\"#1d3557\" stroke-width=\"2\"";
  const auto x_of = [&](double rate) { return kPlotLeft + kPlotWidth * rate; };
  const double axis_y = kTop + kRow * static_cast<double>(report.conditions.size()) + 4, height = axis_y + 30;
  const string size = "width=\"" + fixed(kWidth, 0) + "\" height=\"" + fixed(height, 0) + "\" viewBox=\"0 0 " +
                      fixed(kWidth, 0) + " " + fixed(height, 0) + "\"";
  string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" " + size +
               " font-family=\"sans-serif\" font-size=\"12\" role=\"img\""
               " aria-label=\"Pass rate of each condition with its confidence interval\">\n";
  for (int tick = 0; tick <= 100; tick += 10) {
    const double x = x_of(tick / 100.0);
    svg += svg_line("grid", "stroke=\"#e3e3e3\"", x, kTop, x, axis_y + 5) +
           svg_text("tick", x, axis_y + 18, "middle", std::to_string(tick) + "%") + "\n";
  }
  svg += svg_line("axis", "stroke=\"#888\"", x_of(0), axis_y, x_of(1), axis_y) + "\n";
  for (std::size_t i = 0; i < report.conditions.size(); ++i) {
    const auto& c = report.conditions[i];
    const RateSummary& s = c.summary;
    const double y = kTop + kRow * static_cast<double>(i), middle = y + kRow / 2;
    svg += "<g><title>" + escape_html(c.name) + "</title>" +
           svg_text("label", kLabelRight, middle + 4, "end", abbreviate(c.name, 32));
    string value = "no data";
    if (!std::isnan(s.rate)) {
      svg += "<rect class=\"bar\" fill=\"#7aa6d6\" x=\"" + fixed(x_of(0), 2) + "\" y=\"" + fixed(y + 6, 2) +
             "\" width=\"" + fixed(kPlotWidth * s.rate, 2) + "\" height=\"" + fixed(kRow - 12, 2) + "\"/>";
      value = percent(s.rate);
    }
    if (!std::isnan(s.rate) && !std::isnan(s.interval.low)) {
      const double low = x_of(s.interval.low), high = x_of(s.interval.high);
      svg += svg_line("whisker", kInk, low, middle, high, middle) +
             svg_line("cap", kInk, low, middle - 6, low, middle + 6) +
             svg_line("cap", kInk, high, middle - 6, high, middle + 6);
      value += " (" + interval_text(s.interval, rate_number, "\u2013") + ")";
    }
    svg += svg_text("value", kPlotLeft + kPlotWidth + 10, middle + 4, "start", value) + "</g>\n";
  }
  return svg + "</svg>\n";
}

constexpr std::string_view kStyle = R"(body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px;
  padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.92em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } .num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.provenance th { background: none; font-weight: 600; }
ul.verdicts { list-style: none; padding-left: 0; } ul.verdicts li { margin: 0.3em 0; }
.mark { display: inline-block; width: 1.4em; }
.better .mark { color: #1a7f37; } .worse .mark { color: #c62828; } .unclear .mark { color: #777; }
.notes, .help { color: #555; font-size: 0.9em; }
svg.chart { max-width: 100%; height: auto; }
)";

}  // namespace

std::string escape_html(std::string_view text) {
  const string valid = repair_utf8(text);
  string out;
  out.reserve(valid.size());
  for (char ch : valid) {
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += ch;
    }
  }
  return out;
}

std::string escape_markdown(std::string_view text) {
  const string valid = repair_utf8(text);
  constexpr std::string_view kSpecial = "|\\`*_[]<>~&";
  string out;
  out.reserve(valid.size());
  for (std::size_t i = 0; i < valid.size(); ++i) {
    const char ch = valid[i];
    if (ch == '\r' || ch == '\n') {
      if (ch == '\r' && i + 1 < valid.size() && valid[i + 1] == '\n') ++i;  // CRLF is one break
      out += ' ';
      continue;
    }
    // "<" followed by a space starts no tag or autolink: "p < 0.001" stays readable.
    const bool plain_less_than = ch == '<' && (i + 1 == valid.size() || valid[i + 1] == ' ');
    if (kSpecial.find(ch) != std::string_view::npos && !plain_less_than) out += '\\';
    out += ch;
  }
  return out;
}

std::string verdict(const ComparisonResult& comparison) {
  const PairedComparison& s = comparison.stats;
  const Direction direction = direction_of(s);
  if (direction == Direction::none)
    return comparison.b + " and " + comparison.a + " have no attempt that both completed: nothing to compare";
  const string numbers = signed_points(s.difference) + " points (" + confidence_label(s.difference_interval.confidence) +
                         " CI " + interval_text(s.difference_interval, signed_points, " to ") + "), McNemar " +
                         p_clause(s.mcnemar_p);
  switch (direction) {
    case Direction::better: return comparison.b + " beats " + comparison.a + " by " + numbers;
    case Direction::worse: return comparison.b + " is worse than " + comparison.a + ": " + numbers;
    default: return comparison.b + " does not differ clearly from " + comparison.a + ": " + numbers;
  }
}

std::string render_markdown(const EvalReport& report) {
  string md = "# Evaluation report\n\n";
  for (const auto& [key, value] : provenance_entries(report.provenance))
    md += "- **" + escape_markdown(key) + ":** " + escape_markdown(value) + "\n";

  md += "\n## Pass rates\n\n" + markdown_table(condition_table(report));
  const auto notes = missing_notes(report);
  if (!notes.empty()) md += "\n";
  for (const auto& note : notes) md += "- Note: " + escape_markdown(note) + "\n";

  md += "\n## Comparisons (B against A)\n\n";
  if (report.comparisons.empty()) {
    md += "No comparisons.\n";
  } else {
    for (const auto& c : report.comparisons)
      md += "- " + string(direction_mark(direction_of(c.stats))) + " " + escape_markdown(verdict(c)) + "\n";
    md += "\n" + markdown_table(comparison_table(report));
  }

  md += "\n## How to read this report\n\n";
  for (const char* line : kHowToRead) md += "- " + escape_markdown(line) + "\n";
  return md;
}

std::string render_html(const EvalReport& report) {
  string html =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<title>Evaluation report</title>\n<style>\n" + string(kStyle) + "</style>\n</head>\n<body>\n"
      "<h1>Evaluation report</h1>\n";
  const auto provenance = provenance_entries(report.provenance);
  if (!provenance.empty()) {
    html += "<table class=\"provenance\">\n";
    for (const auto& [key, value] : provenance)
      html += "<tr><th>" + escape_html(key) + "</th><td>" + escape_html(value) + "</td></tr>\n";
    html += "</table>\n";
  }

  html += "<h2>Pass rates</h2>\n" + svg_chart(report) + html_table(condition_table(report));
  const auto notes = missing_notes(report);
  if (!notes.empty()) {
    html += "<ul class=\"notes\">\n";
    for (const auto& note : notes) html += "<li>" + escape_html(note) + "</li>\n";
    html += "</ul>\n";
  }

  html += "<h2>Comparisons (B against A)</h2>\n";
  if (report.comparisons.empty()) {
    html += "<p>No comparisons.</p>\n";
  } else {
    html += "<ul class=\"verdicts\">\n";
    for (const auto& c : report.comparisons) {
      const Direction direction = direction_of(c.stats);
      html += "<li class=\"" + string(direction_class(direction)) + "\"><span class=\"mark\">" +
              string(direction_mark(direction)) + "</span>" + escape_html(verdict(c)) + "</li>\n";
    }
    html += "</ul>\n" + html_table(comparison_table(report));
  }

  html += "<h2>How to read this report</h2>\n<ul class=\"help\">\n";
  for (const char* line : kHowToRead) html += "<li>" + escape_html(line) + "</li>\n";
  return html + "</ul>\n</body>\n</html>\n";
}

}  // namespace t2s::eval
