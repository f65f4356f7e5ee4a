// eval reports: verdict wording, table contents, escaping of input text in Markdown and HTML, the
// SVG chart's geometry (parsed back out), and reports with no comparisons or no data.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <regex>

#include "t2s/core/error.hpp"
#include "t2s/eval/report.hpp"

namespace t2s::eval {
namespace {

RateSummary rate_summary(double rate, double low, double high, std::size_t tasks = 50) {
  RateSummary s;
  s.units = 3 * tasks;
  s.tasks = tasks;
  s.passed = static_cast<std::size_t>(std::lround(rate * static_cast<double>(s.units)));
  s.failed = s.units - s.passed;
  s.rate = rate;
  s.interval = {low, high, 0.95};
  return s;
}

PairedComparison paired(double difference, double low, double high, double mcnemar_p) {
  PairedComparison c;
  c.pairs = 150;
  c.tasks = 50;
  c.a_only = 6;
  c.b_only = 24;
  c.both = 54;
  c.neither = 66;
  c.rate_a = 0.4;
  c.rate_b = 0.4 + difference;
  c.difference = difference;
  c.difference_interval = {low, high, 0.95};
  c.mcnemar_p = mcnemar_p;
  c.bootstrap_p = 0.004;
  return c;
}

EvalReport sample_report() {
  EvalReport report;
  report.provenance = {{"benchmark", "wikitq"}, {"split", "pristine-unseen-tables"}, {"job", "eval-qwen"},
                       {"date", "2025-01-31"}, {"t2s_version", "0.1.0"}, {"seeds", {1, 2, 3}}};
  report.conditions = {{"no-skill", "qwen-7b", "", rate_summary(0.4, 0.331, 0.47)},
                       {"skill-v2", "qwen-7b", "skills/wikitq-v2", rate_summary(0.52, 0.45, 0.6)}};
  report.comparisons = {{"no-skill", "skill-v2", paired(0.12, 0.04, 0.20, 0.003)}};
  return report;
}

// Pipes that separate Markdown table cells (not escaped by a backslash).
int cell_separators(const std::string& line) {
  int count = 0;
  for (std::size_t i = 0; i < line.size(); ++i) {
    if (line[i] != '|') continue;
    std::size_t backslashes = 0;
    while (backslashes < i && line[i - 1 - backslashes] == '\\') ++backslashes;
    if (backslashes % 2 == 0) ++count;
  }
  return count;
}

std::vector<std::string> lines_starting_with(const std::string& text, const std::string& prefix) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(start, end - start);
    if (line.rfind(prefix, 0) == 0) lines.push_back(line);
    start = end + 1;
  }
  return lines;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// ------------------------------------------------------------------------------------ verdicts

TEST(Verdict, SaysWhoWinsByHowMuchAndHowSure) {
  const EvalReport report = sample_report();
  EXPECT_EQ(verdict(report.comparisons[0]),
            "skill-v2 beats no-skill by +12.0 points (95% CI +4.0 to +20.0), McNemar p = 0.003");
  EXPECT_EQ(verdict({"no-skill", "skill-v1", paired(-0.08, -0.14, -0.02, 0.0004)}),
            "skill-v1 is worse than no-skill: -8.0 points (95% CI -14.0 to -2.0), McNemar p < 0.001");
  EXPECT_EQ(verdict({"no-skill", "skill-v3", paired(0.03, -0.02, 0.08, 0.41)}),
            "skill-v3 does not differ clearly from no-skill: +3.0 points (95% CI -2.0 to +8.0), McNemar p = 0.410");
  EXPECT_EQ(verdict({"no-skill", "skill-v4", PairedComparison{}}),
            "skill-v4 and no-skill have no attempt that both completed: nothing to compare");
}

// ------------------------------------------------------------------------------------ Markdown

TEST(Markdown, TablesAndVerdicts) {
  const std::string md = render_markdown(sample_report());
  EXPECT_TRUE(contains(md, "- **benchmark:** wikitq\n")) << md;
  EXPECT_TRUE(contains(md, "- **seeds:** \\[1,2,3\\]\n")) << md;  // non-string values as JSON, escaped
  EXPECT_TRUE(contains(md, "| no-skill | qwen-7b | none | 50 | 150 | 60 | 90 | 0 | 40.0% | 33.1 to 47.0 |")) << md;
  EXPECT_TRUE(contains(md, "| skill-v2 | qwen-7b | skills/wikitq-v2 | 50 |")) << md;
  EXPECT_TRUE(contains(md, "| no-skill | skill-v2 | 50 | 150 | 6 | 24 | 54 | 66 | 0 | 40.0% | 52.0% | +12.0 | "
                           "+4.0 to +20.0 | 0.003 | 0.004 |"))
      << md;
  EXPECT_TRUE(contains(md, "- \u25B2 skill-v2 beats no-skill by +12.0 points")) << md;
  // Every row of a table has as many cells as its header.
  for (const auto& line : lines_starting_with(md, "|")) EXPECT_GE(cell_separators(line), 11) << line;
}

TEST(Markdown, EscapesNamesInTables) {
  EvalReport report = sample_report();
  report.conditions[0].name = "a|b\nc";
  report.conditions[0].skill = "path\\|with*stars_";
  report.comparisons[0].a = "a|b\nc";
  const std::string md = render_markdown(report);
  EXPECT_TRUE(contains(md, "| a\\|b c | qwen-7b | path\\\\\\|with\\*stars\\_ |")) << md;
  const auto rows = lines_starting_with(md, "|");
  ASSERT_EQ(rows.size(), 4u + 3u);  // header, rule, 2 conditions; header, rule, 1 comparison
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(cell_separators(rows[i]), 11) << rows[i];
  for (std::size_t i = 4; i < 7; ++i) EXPECT_EQ(cell_separators(rows[i]), 16) << rows[i];
  EXPECT_TRUE(contains(md, "beats a\\|b c by")) << md;
}

TEST(Markdown, EscapeFunction) {
  EXPECT_EQ(escape_markdown("plain name-v2.1"), "plain name-v2.1");
  EXPECT_EQ(escape_markdown("a|b"), "a\\|b");
  EXPECT_EQ(escape_markdown("a\\|b"), "a\\\\\\|b");  // the backslash cannot eat the escape
  EXPECT_EQ(escape_markdown("one\r\ntwo\nthree"), "one two three");
  EXPECT_EQ(escape_markdown("<b>*x*</b> [l](u) `c` ~s~ &amp;"),
            "\\<b\\>\\*x\\*\\</b\\> \\[l\\](u) \\`c\\` \\~s\\~ \\&amp;");
  EXPECT_EQ(escape_markdown("p < 0.001 <"), "p < 0.001 <");  // no tag can start there
  EXPECT_EQ(escape_markdown("<1@x.org> <!-- c -->"), "\\<1@x.org\\> \\<!-- c --\\>");
  EXPECT_EQ(escape_markdown("bad \xff byte"), "bad \uFFFD byte");
}

TEST(Markdown, NoComparisons) {
  EvalReport report = sample_report();
  report.comparisons.clear();
  const std::string md = render_markdown(report);
  EXPECT_TRUE(contains(md, "No comparisons.")) << md;
  EXPECT_FALSE(contains(md, "McNemar p |")) << md;
  EXPECT_EQ(lines_starting_with(md, "|").size(), 4u);  // the conditions table only
}

TEST(Markdown, ConditionWithEveryTaskMissing) {
  EvalReport report = sample_report();
  RateSummary none;
  none.units = 9;
  none.missing = 9;
  none.tasks_all_missing = 3;
  report.conditions.push_back({"broken-server", "qwen-72b", "skills/wikitq-v2", none});
  const std::string md = render_markdown(report);
  EXPECT_TRUE(contains(md, "| broken-server | qwen-72b | skills/wikitq-v2 | 0 | 9 | 0 | 0 | 9 | \u2014 | \u2014 |"))
      << md;
  EXPECT_TRUE(contains(md, "broken-server: 3 tasks had every attempt missing")) << md;
}

// ------------------------------------------------------------------------------------ HTML

TEST(Html, SelfContainedWithTheSameTables) {
  const std::string html = render_html(sample_report());
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_TRUE(contains(html, "<meta charset=\"utf-8\">"));
  EXPECT_TRUE(contains(html, "<style>"));
  for (const char* external : {"<script", "src=", "href=", "url(", "@import", "<link"})
    EXPECT_FALSE(contains(html, external)) << external;
  EXPECT_TRUE(contains(html, "<tr><th>benchmark</th><td>wikitq</td></tr>")) << html;
  EXPECT_TRUE(contains(html, "<td>no-skill</td><td>qwen-7b</td><td>none</td><td class=\"num\">50</td>")) << html;
  EXPECT_TRUE(contains(html, "<td class=\"num\">+12.0</td><td class=\"num\">+4.0 to +20.0</td>")) << html;
  EXPECT_TRUE(contains(html, "<li class=\"better\"><span class=\"mark\">\u25B2</span>skill-v2 beats no-skill by "
                             "+12.0 points (95% CI +4.0 to +20.0), McNemar p = 0.003</li>"))
      << html;
}

TEST(Html, EscapesInputText) {
  EvalReport report = sample_report();
  report.conditions[0].name = "<script>alert(1)</script>";
  report.conditions[0].model = "m\"odel' & co";
  report.comparisons[0].a = "<script>alert(1)</script>";
  report.provenance["<img onerror=x>"] = "</td>";
  const std::string html = render_html(report);
  EXPECT_FALSE(contains(html, "<script")) << html;
  EXPECT_FALSE(contains(html, "<img")) << html;
  EXPECT_TRUE(contains(html, "<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>")) << html;
  EXPECT_TRUE(contains(html, "<title>&lt;script&gt;alert(1)&lt;/script&gt;</title>")) << html;  // SVG tooltip
  EXPECT_TRUE(contains(html, "<td>m&quot;odel&#39; &amp; co</td>")) << html;
  EXPECT_TRUE(contains(html, "beats &lt;script&gt;alert(1)&lt;/script&gt; by")) << html;
  EXPECT_TRUE(contains(html, "<th>&lt;img onerror=x&gt;</th><td>&lt;/td&gt;</td>")) << html;
  EXPECT_EQ(escape_html("a&b<c>\"d'"), "a&amp;b&lt;c&gt;&quot;d&#39;");
}

struct Svg {
  std::vector<std::map<std::string, double>> bars, whiskers;
  std::vector<std::string> tick_labels;
};

// The chart's bars, whiskers (with their numeric attributes) and axis labels.
Svg parse_svg(const std::string& html) {
  const auto begin = html.find("<svg"), end = html.find("</svg>");
  EXPECT_NE(begin, std::string::npos);
  EXPECT_NE(end, std::string::npos);
  const std::string svg = html.substr(begin, end - begin);
  const auto attributes = [](const std::string& element) {
    std::map<std::string, double> values;
    static const std::regex number_attribute(R"re(([a-z0-9]+)="(-?[0-9.]+)")re");
    for (std::sregex_iterator it(element.begin(), element.end(), number_attribute), stop; it != stop; ++it)
      values[(*it)[1]] = std::stod((*it)[2]);
    return values;
  };
  Svg parsed;
  static const std::regex bar(R"re(<rect class="bar"[^>]*>)re"), whisker(R"re(<line class="whisker"[^>]*>)re"),
      tick(R"re(<text class="tick"[^>]*>([^<]*)</text>)re");
  for (std::sregex_iterator it(svg.begin(), svg.end(), bar), stop; it != stop; ++it)
    parsed.bars.push_back(attributes(it->str()));
  for (std::sregex_iterator it(svg.begin(), svg.end(), whisker), stop; it != stop; ++it)
    parsed.whiskers.push_back(attributes(it->str()));
  for (std::sregex_iterator it(svg.begin(), svg.end(), tick), stop; it != stop; ++it)
    parsed.tick_labels.push_back((*it)[1]);
  return parsed;
}

TEST(Html, ChartHasABarAndWhiskerPerCondition) {
  const EvalReport report = sample_report();
  const Svg svg = parse_svg(render_html(report));
  ASSERT_EQ(svg.bars.size(), 2u);
  ASSERT_EQ(svg.whiskers.size(), 2u);
  // The axis runs from x = 230 (0%) to x = 730 (100%).
  ASSERT_EQ(svg.tick_labels.size(), 11u);
  EXPECT_EQ(svg.tick_labels.front(), "0%");
  EXPECT_EQ(svg.tick_labels[5], "50%");
  EXPECT_EQ(svg.tick_labels.back(), "100%");
  for (std::size_t i = 0; i < 2; ++i) {
    const RateSummary& s = report.conditions[i].summary;
    EXPECT_DOUBLE_EQ(svg.bars[i].at("x"), 230);
    EXPECT_NEAR(svg.bars[i].at("width"), 500 * s.rate, 0.01);
    EXPECT_NEAR(svg.whiskers[i].at("x1"), 230 + 500 * s.interval.low, 0.01);
    EXPECT_NEAR(svg.whiskers[i].at("x2"), 230 + 500 * s.interval.high, 0.01);
    // The whisker crosses its own bar.
    EXPECT_GT(svg.whiskers[i].at("y1"), svg.bars[i].at("y"));
    EXPECT_LT(svg.whiskers[i].at("y1"), svg.bars[i].at("y") + svg.bars[i].at("height"));
  }
  EXPECT_LT(svg.bars[0].at("y"), svg.bars[1].at("y"));  // in the conditions' order, top down
}

TEST(Html, NoComparisonsAndAConditionWithoutData) {
  EvalReport report = sample_report();
  report.comparisons.clear();
  RateSummary none;
  none.units = 4;
  none.missing = 4;
  none.tasks_all_missing = 2;
  report.conditions.push_back({"broken-server", "qwen-72b", "", none});
  const std::string html = render_html(report);
  EXPECT_TRUE(contains(html, "<p>No comparisons.</p>")) << html;
  EXPECT_FALSE(contains(html, "McNemar p</th>")) << html;
  EXPECT_TRUE(contains(html, "no data</text>")) << html;
  EXPECT_TRUE(contains(html, "broken-server: 2 tasks had every attempt missing")) << html;
  const Svg svg = parse_svg(html);
  EXPECT_EQ(svg.bars.size(), 2u);  // none for the condition without a rate
  EXPECT_EQ(svg.whiskers.size(), 2u);
  for (const auto& bar : svg.bars) EXPECT_FALSE(std::isnan(bar.at("width")));
}

// ------------------------------------------------------------------------------------ whole path

TEST(Report, FromComputedStatistics) {
  // 40 tasks, 2 attempts: the skill fixes 16 tasks the baseline fails.
  std::vector<Unit> baseline, skill;
  for (int t = 0; t < 40; ++t)
    for (int a = 0; a < 2; ++a) {
      baseline.push_back({"t" + std::to_string(t), a, t < 12 ? 1.0 : 0.0});
      skill.push_back({"t" + std::to_string(t), a, t < 28 ? 1.0 : 0.0});
    }
  skill.back().score.reset();  // one infrastructure error
  EvalReport report;
  report.conditions = {{"no-skill", "m", "", summarize(baseline)}, {"skill", "m", "s", summarize(skill)}};
  report.comparisons = {{"no-skill", "skill", compare(baseline, skill)}};
  const std::string md = render_markdown(report);
  EXPECT_TRUE(contains(md, "skill beats no-skill by +40.0 points (95% CI +")) << md;
  EXPECT_TRUE(contains(md, "| skill | m | s | 40 | 80 | 56 | 23 | 1 | 70.0% |")) << md;
  EXPECT_TRUE(contains(md, "| no-skill | skill | 40 | 79 | 0 | 32 | 24 | 23 | 1 |")) << md;
  EXPECT_EQ(parse_svg(render_html(report)).bars.size(), 2u);
}

TEST(Report, ProvenanceMustBeAnObject) {
  EvalReport report = sample_report();
  report.provenance = nlohmann::json::array({"wikitq"});
  EXPECT_THROW(render_markdown(report), InputError);
  EXPECT_THROW(render_html(report), InputError);
  report.provenance = nullptr;
  EXPECT_FALSE(contains(render_markdown(report), "**benchmark")) << render_markdown(report);
}

}  // namespace
}  // namespace t2s::eval
