#include <gtest/gtest.h>

#include "skill_test_util.hpp"
#include "t2s/skill/markdown.hpp"
#include "t2s/skill/validate.hpp"

namespace {

using namespace t2s::skill;

const std::string kBody = "\n# Demo\n\nUse it.\n";

SkillDir skill_with(const std::string& frontmatter, const std::string& body = kBody) {
  SkillDir skill;
  skill.files["SKILL.md"] = {"---\n" + frontmatter + "---\n" + body, false};
  return skill;
}

const std::string kValid = "name: demo\ndescription: Does demo things. Use it for demos.\n";

// "rule@file:line: message" for each problem: compact to compare.
std::vector<std::string> compact(const std::vector<Problem>& problems) {
  std::vector<std::string> out;
  for (const auto& p : problems) out.push_back(p.rule + "@" + p.file + ":" + std::to_string(p.line) + ": " + p.message);
  return out;
}

// The errors: what makes a skill invalid.
std::vector<std::string> problems_of(const SkillDir& skill, const std::string& name = "demo") {
  return compact(validate_skill(skill, name));
}

// The warnings: sizes over the budgets, which never make a skill invalid.
std::vector<std::string> warnings_of(const SkillDir& skill, const std::string& name = "demo", const Budgets& budgets = {}) {
  const auto validation = check_skill(skill, name, budgets);
  for (const auto& w : validation.warnings) EXPECT_EQ(w.severity, Severity::warning) << w.message;
  return compact(validation.warnings);
}

// Whether some problem has this rule and its message contains `text`.
bool has(const std::vector<std::string>& problems, const std::string& rule, const std::string& text) {
  return std::any_of(problems.begin(), problems.end(), [&](const std::string& p) {
    return p.starts_with(rule + "@") && p.find(text) != std::string::npos;
  });
}

TEST(Validate, TheTestSkillsAreValid) {
  for (const char* name : {"spreadsheet-edit", "table-qa"})
    EXPECT_EQ(problems_of(t2s::test::test_skill(name), name), std::vector<std::string>{}) << name;
  EXPECT_EQ(problems_of(skill_with(kValid)), std::vector<std::string>{});
}

TEST(Validate, SkillMdAndFrontmatter) {
  EXPECT_TRUE(has(problems_of(SkillDir{}), "skill-md", "missing"));
  SkillDir no_frontmatter;
  no_frontmatter.files["SKILL.md"] = {"# Demo\n", false};
  EXPECT_TRUE(has(problems_of(no_frontmatter), "frontmatter", "must start with YAML frontmatter"));
  EXPECT_TRUE(has(problems_of(skill_with("name: demo\ndescription: [x\n")), "frontmatter", "SKILL.md:4: frontmatter is not valid YAML"));
  const auto unknown = problems_of(skill_with(kValid + "version: 2\n"));
  EXPECT_TRUE(has(unknown, "frontmatter-key", "SKILL.md:4: unknown key 'version'"));
  SkillDir bad_utf8 = skill_with(kValid, "\n# Demo \xff\n");
  EXPECT_TRUE(has(problems_of(bad_utf8), "utf8", "SKILL.md:6: not valid UTF-8"));
}

// Lines separated by CR alone are one line to the engine but many to a renderer: a 900-line body
// would slip under the body limit, and headings past the engine's checks.
TEST(Validate, ALoneCarriageReturnIsFlagged) {
  std::string body = "\n# Demo\n";
  for (int i = 0; i < 900; ++i) body += "line\r";
  auto skill = skill_with(kValid, body + "\n");
  skill.files["references/r.md"] = {"# R\r\n\r\nCRLF is fine.\r\n", false};
  skill.files["SKILL.md"].bytes += "See references/r.md.\n";
  EXPECT_EQ(problems_of(skill), std::vector<std::string>{"line-ending@SKILL.md:7: a carriage return without a line feed: "
                                                         "renderers break the line there, trace2skill does not "
                                                         "(end lines with \\n or \\r\\n)"});
  skill.files["references/r.md"].bytes += "\r";
  EXPECT_TRUE(has(problems_of(skill), "line-ending", "references/r.md:4"));
}

TEST(Validate, Name) {
  EXPECT_TRUE(has(problems_of(skill_with("description: d\n")), "name", "SKILL.md:1: name is missing"));
  EXPECT_TRUE(has(problems_of(skill_with("name: [a]\ndescription: d\n")), "name", "must be a string, not a list"));
  EXPECT_TRUE(has(problems_of(skill_with("name: \"\"\ndescription: d\n"), ""), "name", "0 characters"));
  const std::string long_name(65, 'a');
  EXPECT_TRUE(has(problems_of(skill_with("name: " + long_name + "\ndescription: d\n"), long_name), "name", "65 characters"));
  EXPECT_TRUE(has(problems_of(skill_with("name: Demo\ndescription: d\n"), "Demo"), "name", "lowercase letters"));
  EXPECT_TRUE(has(problems_of(skill_with("name: demo_x\ndescription: d\n"), "demo_x"), "name", "lowercase letters"));
  EXPECT_TRUE(has(problems_of(skill_with("name: -demo\ndescription: d\n"), "-demo"), "name", "starts or ends with a hyphen"));
  EXPECT_TRUE(has(problems_of(skill_with("name: demo-\ndescription: d\n"), "demo-"), "name", "starts or ends with a hyphen"));
  EXPECT_TRUE(has(problems_of(skill_with("name: de--mo\ndescription: d\n"), "de--mo"), "name", "consecutive hyphens"));
  EXPECT_TRUE(has(problems_of(skill_with(kValid), "other"), "name", "SKILL.md:2: name 'demo' differs from the directory name 'other'"));
  EXPECT_EQ(problems_of(skill_with("name: a1-b2\ndescription: d\n"), "a1-b2"), std::vector<std::string>{});
}

TEST(Validate, DescriptionAndOptionalFields) {
  EXPECT_TRUE(has(problems_of(skill_with("name: demo\n")), "description", "description is missing"));
  EXPECT_TRUE(has(problems_of(skill_with("name: demo\ndescription: \"\"\n")), "description", "0 characters"));
  const std::string long_text(1025, 'x');
  EXPECT_TRUE(has(problems_of(skill_with("name: demo\ndescription: " + long_text + "\n")), "description", "1025 characters"));
  // 1024 characters that take more bytes are fine: characters are counted, not bytes.
  std::string accents;
  for (int i = 0; i < 1024; ++i) accents += "\xC3\xA9";
  EXPECT_EQ(problems_of(skill_with("name: demo\ndescription: " + accents + "\n")), std::vector<std::string>{});
  EXPECT_TRUE(has(problems_of(skill_with("name: demo\ndescription: Use <skill> tags\n")), "description", "XML tag"));
  EXPECT_TRUE(has(problems_of(skill_with("name: demo\ndescription: ends </b>\n")), "description", "XML tag"));
  EXPECT_EQ(problems_of(skill_with("name: demo\ndescription: if a < b and c > d\n")), std::vector<std::string>{});

  EXPECT_TRUE(has(problems_of(skill_with(kValid + "license: [MIT]\n")), "license", "must be a string"));
  EXPECT_TRUE(has(problems_of(skill_with(kValid + "compatibility: " + std::string(501, 'c') + "\n")), "compatibility", "501 characters"));
  EXPECT_TRUE(has(problems_of(skill_with(kValid + "compatibility: {a: b}\n")), "compatibility", "must be a string"));
  EXPECT_TRUE(has(problems_of(skill_with(kValid + "metadata: [a]\n")), "metadata", "mapping of strings"));
  EXPECT_TRUE(has(problems_of(skill_with(kValid + "metadata:\n  a: b\n  tags: [x]\n")), "metadata", "SKILL.md:6: metadata.tags must be a string, not a list"));
  EXPECT_TRUE(has(problems_of(skill_with(kValid + "allowed-tools: {Bash: yes}\n")), "allowed-tools", "string of tool names"));
  EXPECT_EQ(problems_of(skill_with(kValid + "allowed-tools: [Bash, Read]\nlicense: MIT\nmetadata:\n  v: 1\n")),
            std::vector<std::string>{});
}

// The specification recommends a body under 500 lines: a longer one is a warning, not an error.
TEST(Validate, BodyUnder500LinesIsAWarning) {
  std::string body;
  for (int i = 0; i < 499; ++i) body += "line\n";
  const Budgets unlimited{{0, 0, 0}, {0, 0, 0}, OverflowPolicy::refuse};
  EXPECT_EQ(warnings_of(skill_with(kValid, body), "demo", unlimited), std::vector<std::string>{});
  const auto longer = skill_with(kValid, body + "one more\n");
  EXPECT_EQ(problems_of(longer), std::vector<std::string>{});
  EXPECT_EQ(warnings_of(longer, "demo", unlimited),
            std::vector<std::string>{"body-lines@SKILL.md:504: the body has 500 lines; the specification recommends "
                                     "fewer than 500 (move material to references/)"});
  EXPECT_TRUE(check_skill(longer, "demo", unlimited).valid());
}
TEST(Validate, LinksReferencesAndOrphans) {
  auto skill = skill_with(kValid,
                          "\n# Demo\n\nSee [a](references/a.md), [gone](references/gone.md), [abs](/etc/passwd),\n"
                          "[up](../other/SKILL.md), [web](https://example.com), [top](#demo), [dir](scripts/),\n"
                          "[sidecar](.trace2skill/provenance.json).\n");
  skill.files["references/a.md"] = {"# A\n\nBack to [the skill](../SKILL.md); [b](b.md).\n", false};
  skill.files["references/b.md"] = {"# B, reachable only through a.md\n", false};
  skill.files["references/deep/c.md"] = {"# C\n", false};
  skill.files["scripts/run.py"] = {"print(1)\n", true};
  skill.files[".trace2skill/provenance.json"] = {"{}", false};
  const auto problems = problems_of(skill);
  EXPECT_TRUE(has(problems, "link", "SKILL.md:8: link 'references/gone.md' points to references/gone.md, which does not exist"));
  EXPECT_TRUE(has(problems, "link", "link '/etc/passwd' is absolute"));
  EXPECT_TRUE(has(problems, "link", "link '../other/SKILL.md' leaves the skill directory"));
  EXPECT_TRUE(has(problems, "link", "link '.trace2skill/provenance.json' points to"));
  EXPECT_TRUE(has(problems, "orphan-reference", "references/b.md:0: not mentioned in SKILL.md"));
  EXPECT_TRUE(has(problems, "reference-depth", "references/deep/c.md:0"));
  EXPECT_FALSE(has(problems, "orphan-reference", "references/a.md"));
  EXPECT_FALSE(has(problems, "link", "https://"));
  EXPECT_FALSE(has(problems, "link", "scripts/"));
  EXPECT_FALSE(has(problems, "link", "../SKILL.md"));
  EXPECT_EQ(problems.size(), 6u) << ::testing::PrintToString(problems);
}

// A link is a mention whatever the name (no false orphan); a name outside [A-Za-z0-9._-] is its
// own problem: an agent opens references by name, through a shell more often than not.
TEST(Validate, ReferenceNames) {
  auto skill = skill_with(kValid, "\n# Demo\n\nSee [n](references/my%20notes.md), [c](<references/caf\xC3\xA9.md>), "
                                  "and `references/ok.md`.\n");
  skill.files["references/my notes.md"] = {"# Notes\n", false};
  skill.files["references/caf\xC3\xA9.md"] = {"# Caf\xC3\xA9\n", false};
  skill.files["references/ok.md"] = {"# OK\n", false};
  const auto problems = problems_of(skill);
  EXPECT_EQ(problems, (std::vector<std::string>{
                          "reference-name@references/caf\xC3\xA9.md:0: reference names are letters, digits, '.', '_' and '-', "
                          "starting with a letter or digit, ending in .md",
                          "reference-name@references/my notes.md:0: reference names are letters, digits, '.', '_' and '-', "
                          "starting with a letter or digit, ending in .md"}));
}

TEST(Validate, BudgetsAreWarnings) {
  std::string body = "\n# Demo\n\n";
  for (int i = 0; i < 100; ++i) body += "A line of guidance that takes some room in the prompt.\n";
  Budgets budgets;
  budgets.skill_md = {50, 4000, 1000};
  const auto skill = skill_with(kValid, body);
  const auto warnings = warnings_of(skill, "demo", budgets);
  EXPECT_TRUE(has(warnings, "budget", "SKILL.md has 107 lines, budget 50"));
  EXPECT_TRUE(has(warnings, "budget", "bytes, budget 4000"));
  EXPECT_TRUE(has(warnings, "budget", "tokens (approximate), budget 1000"));
  EXPECT_EQ(warnings.size(), 3u);
  EXPECT_EQ(problems_of(skill), std::vector<std::string>{});
  auto with_reference = skill_with(kValid, "\n# Demo\n\nSee references/r.md.\n");
  with_reference.files["references/r.md"] = {std::string(100, 'x') + "\n", false};
  budgets.reference = {0, 50, 0};
  EXPECT_EQ(warnings_of(with_reference, "demo", budgets),
            std::vector<std::string>{"budget@references/r.md:0: references/r.md has 101 bytes, budget 50"});
}

// Someone else's skill far over the recommended sizes (a 700-line SKILL.md of ~9,000 tokens) is
// valid: every size is a warning. A specification error beside them still makes it invalid, and
// errors and warnings stay apart.
TEST(Validate, AnOverBudgetForeignSkillIsValidWithWarnings) {
  std::string body = "\n# Long\n\n## Steps\n\n";
  for (int i = 0; body.size() < 36000 || i < 695; ++i)
    body += "- Step " + std::to_string(i) + ": check the input, then write the result where the user asked.\n";
  const auto skill = skill_with("name: long-skill\ndescription: A long hand-written skill. Use it in tests.\n", body);
  ASSERT_GT(split_lines(*skill.text("SKILL.md")).size(), 700u);
  const auto validation = check_skill(skill, "long-skill");
  EXPECT_TRUE(validation.valid()) << format_problems(validation.errors, "long-skill");
  const auto warnings = compact(validation.warnings);
  ASSERT_EQ(warnings.size(), 3u) << ::testing::PrintToString(warnings);
  EXPECT_TRUE(has(warnings, "body-lines", "SKILL.md:504: the body has"));
  EXPECT_TRUE(has(warnings, "budget", "lines, budget 500"));
  EXPECT_TRUE(has(warnings, "budget", "tokens (approximate), budget 5000"));
  EXPECT_TRUE(validate_skill(skill, "long-skill").empty());

  const auto misnamed = check_skill(skill, "other-name");
  EXPECT_FALSE(misnamed.valid());
  EXPECT_EQ(compact(misnamed.errors),
            std::vector<std::string>{"name@SKILL.md:2: name 'long-skill' differs from the directory name 'other-name'"});
  EXPECT_EQ(misnamed.warnings.size(), 3u);
  for (const auto& error : misnamed.errors) EXPECT_EQ(error.severity, Severity::error);
  const auto text = format_problems(misnamed.warnings, "skills/other-name");
  EXPECT_NE(text.find("skills/other-name/SKILL.md: warning: [budget] SKILL.md has "), std::string::npos) << text;
  EXPECT_EQ(format_problems(misnamed.errors, "skills/other-name").find("warning"), std::string::npos);
  EXPECT_EQ(problems_json(misnamed.warnings)[0]["severity"], "warning");
  EXPECT_EQ(problems_json(misnamed.errors)[0]["severity"], "error");
}

// `n` lines of text ("- item 0\n" ...).
std::string items(int n, int from = 0) {
  std::string text;
  for (int i = from; i < from + n; ++i) text += "- item " + std::to_string(i) + "\n";
  return text;
}

// With a baseline, a file that fit its budget must still fit it, while a file that started over
// budget is held on what was added: in every measure, by at most its budget.
TEST(Budget, OverrunsRelativeToABaseline) {
  Budgets budgets;
  budgets.skill_md = {100, 0, 0};
  const std::string head = "---\nname: demo\ndescription: d\n---\n";
  const std::string fits = head + items(90), long_file = head + items(300);

  // No baseline, or a baseline within budget: the whole file is held to the budget.
  auto found = file_overruns("SKILL.md", head + items(97), budgets, &fits);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].used, 101u);
  EXPECT_EQ(found[0].allowed, 100u);
  EXPECT_FALSE(found[0].before.has_value());
  EXPECT_EQ(found[0].message(), "SKILL.md has 101 lines, budget 100");
  EXPECT_EQ(file_overruns("SKILL.md", head + items(97), budgets).size(), 1u);
  EXPECT_TRUE(file_overruns("SKILL.md", head + items(96), budgets, &fits).empty());

  // A baseline over budget (304 lines): it may keep them and grow by up to 100 more.
  EXPECT_TRUE(file_overruns("SKILL.md", long_file, budgets, &long_file).empty());
  EXPECT_TRUE(file_overruns("SKILL.md", head + items(400), budgets, &long_file).empty());
  EXPECT_TRUE(file_overruns("SKILL.md", head + items(150), budgets, &long_file).empty()) << "shrinking passes";
  found = file_overruns("SKILL.md", head + items(401), budgets, &long_file);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].before, 304u);
  EXPECT_EQ(found[0].allowed, 404u);
  EXPECT_EQ(found[0].message(),
            "SKILL.md grew from 304 to 405 lines, more than its budget of 100 (a file over budget at the start may grow "
            "by its budget)");
  // Without the baseline the same file is simply over budget.
  EXPECT_EQ(file_overruns("SKILL.md", head + items(401), budgets)[0].message(), "SKILL.md has 405 lines, budget 100");

  // Over budget in one measure (tokens) is over budget: every measure is then held on its growth.
  Budgets tokens = budgets;
  tokens.skill_md = {100, 0, 200};
  const std::string wordy = head + std::string(1200, 'w') + "\n" + items(90);
  EXPECT_TRUE(file_overruns("SKILL.md", wordy + items(60, 90), tokens, &wordy).empty());
  const std::string small = head + items(10);
  found = file_overruns("SKILL.md", wordy + items(60, 90), tokens, &small);
  EXPECT_EQ(found.size(), 2u) << "against a baseline within budget, the same text breaks both limits";

  // The specification's body rule, relative the same way, names the first line past the limit.
  Budgets unlimited{{0, 0, 0}, {0, 0, 0}, OverflowPolicy::refuse};
  const std::string long_body = head + items(600);
  EXPECT_TRUE(file_overruns("SKILL.md", head + items(1099), unlimited, &long_body).empty());
  found = file_overruns("SKILL.md", head + items(1100), unlimited, &long_body);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_TRUE(found[0].body());
  EXPECT_EQ(found[0].line, 1104u) << "the 1100th line of the body";
  EXPECT_EQ(found[0].message(), "the body grew from 600 to 1100 lines: a body already over the specification's 500 "
                                "lines may grow by fewer than 500 (move material to references/)");

  // A new file (no version at the start) is held to its budget; the reference budget for references.
  budgets.reference = {0, 0, 10};
  SkillDir before, after;
  before.files["SKILL.md"] = {long_file, false};
  after.files["SKILL.md"] = {head + items(310), false};
  after.files["references/new.md"] = {std::string(41, 'x'), false};
  after.files["scripts/run.sh"] = {std::string(1000, 'x'), true};
  const auto all = overruns(after, budgets, &before);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].file, "references/new.md");
  EXPECT_EQ(all[0].message(), "references/new.md has 11 tokens (approximate), budget 10");
  EXPECT_EQ(overruns(after, budgets).size(), 2u);
}

TEST(Validate, ReportsAreSortedAndMachineReadable) {
  auto skill = skill_with("name: Demo\n");
  skill.files["references/z.md"] = {"# Z\n", false};
  const auto problems = validate_skill(skill, "demo");
  ASSERT_GE(problems.size(), 3u);
  for (std::size_t i = 1; i < problems.size(); ++i)
    EXPECT_LE(std::tie(problems[i - 1].file, problems[i - 1].line), std::tie(problems[i].file, problems[i].line));
  const auto text = format_problems(problems, "skills/demo");
  EXPECT_NE(text.find("skills/demo/SKILL.md:1: [description] description is missing (required)\n"), std::string::npos) << text;
  EXPECT_NE(text.find("skills/demo/references/z.md: [orphan-reference]"), std::string::npos) << text;
  const auto json = problems_json(problems);
  EXPECT_EQ(json.size(), problems.size());
  EXPECT_EQ(json[0]["file"], "SKILL.md");
  EXPECT_TRUE(json[0]["line"].is_number());
  EXPECT_TRUE(json[0]["rule"].is_string());
}

}  // namespace
