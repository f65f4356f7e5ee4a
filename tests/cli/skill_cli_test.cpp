// `t2s skill validate | apply | diff`, run as the real binary on real directories.
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "../skill/skill_test_util.hpp"
#include "testutil/run_command.hpp"
#include "testutil/temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
using t2s::test::CommandResult;

CommandResult t2s_run(const std::string& arguments) { return t2s::test::run_command(std::string(T2S_BINARY) + " " + arguments); }
// stdout only (stderr discarded), for JSON output.
CommandResult t2s_stdout(const std::string& arguments) {
  return t2s::test::run_command("(" + std::string(T2S_BINARY) + " " + arguments + " 2>/dev/null)");
}

bool contains(const CommandResult& result, const std::string& text) { return result.output.find(text) != std::string::npos; }

class SkillCli : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return (temp_ / name).string(); }
  std::string write(const std::string& name, const std::string& text) const { return temp_.write(name, text).string(); }
  static std::string skill(const std::string& name) { return t2s::test::test_skill_path(name).string(); }
  static std::string golden_patch(const std::string& name) {
    return (t2s::test::skill_data() / "golden" / name / "patch.json").string();
  }

  t2s::test::TempDir temp_;
};

TEST_F(SkillCli, HelpForEveryCommand) {
  for (const char* command : {"skill --help", "skill validate --help", "skill apply --help", "skill diff --help"}) {
    const auto help = t2s_run(command);
    EXPECT_EQ(help.status, 0) << command;
    EXPECT_TRUE(contains(help, "Usage")) << command;
  }
  EXPECT_EQ(t2s_run("skill").status, 2);
  EXPECT_EQ(t2s_run("skill frobnicate").status, 2);
}

TEST_F(SkillCli, ValidateExitsZeroForAValidSkillAndOneWithEveryProblemOtherwise) {
  const auto valid = t2s_run("skill validate " + skill("spreadsheet-edit"));
  EXPECT_EQ(valid.status, 0) << valid.output;
  EXPECT_TRUE(contains(valid, "spreadsheet-edit: valid"));

  write("bad-skill/SKILL.md", "---\nname: Bad_Skill\ndescription: Uses <b>tags</b>.\nversion: 3\n---\n# Bad\n\nSee [x](references/x.md).\n");
  write("bad-skill/references/orphan.md", "# Orphan\n");
  const auto dir = path("bad-skill");
  const auto invalid = t2s_run("skill validate " + dir);
  EXPECT_EQ(invalid.status, 1) << invalid.output;
  for (const auto& line : {dir + "/SKILL.md:2: [name] name 'Bad_Skill' may only hold lowercase letters a-z, digits and hyphens",
                           dir + "/SKILL.md:2: [name] name 'Bad_Skill' differs from the directory name 'bad-skill'",
                           dir + "/SKILL.md:3: [description] description contains an XML tag",
                           dir + "/SKILL.md:4: [frontmatter-key] unknown key 'version'",
                           dir + "/SKILL.md:8: [link] link 'references/x.md' points to references/x.md, which does not exist",
                           dir + "/references/orphan.md: [orphan-reference]",
                           "t2s: error: " + dir + ": not a valid skill (6 errors)"})
    EXPECT_TRUE(contains(invalid, line)) << line << "\n" << invalid.output;
  EXPECT_FALSE(contains(invalid, "warning")) << invalid.output;

  const auto json = t2s_stdout("skill validate --json " + dir);
  EXPECT_EQ(json.status, 1);
  const auto report = nlohmann::json::parse(json.output);
  EXPECT_EQ(report["valid"], false);
  EXPECT_EQ(report["errors"].size(), 6u);
  EXPECT_EQ(report["errors"][0]["rule"], "name");
  EXPECT_EQ(report["errors"][0]["line"], 2);
  EXPECT_EQ(report["errors"][0]["severity"], "error");
  EXPECT_EQ(report["warnings"], nlohmann::json::array());
  const auto table_qa = nlohmann::json::parse(t2s_stdout("skill validate --json " + skill("table-qa")).output);
  EXPECT_EQ(table_qa["valid"], true);
  EXPECT_EQ(table_qa["errors"].size(), 0u);
  EXPECT_EQ(table_qa["warnings"].size(), 0u);

  const auto missing = t2s_run("skill validate " + path("nope"));
  EXPECT_EQ(missing.status, 2);
  EXPECT_TRUE(contains(missing, "nope"));
}

// Someone else's skill over the sizes the specification recommends (a SKILL.md of 711 lines and
// ~11,000 tokens, a reference of 2,101 lines): valid, exit 0, every size reported as a warning.
// With a specification error beside them it is invalid, and the two kinds stay apart.
TEST_F(SkillCli, ValidateReportsBudgetOverrunsAsWarnings) {
  std::string body = "\n# Long\n\nRead references/notes.md for the details.\n\n## Steps\n\n";
  for (int i = 0; i < 700; ++i) body += "- Step " + std::to_string(i) + ": check the input, then write the result where asked.\n";
  std::string notes = "# Notes\n";
  for (int i = 0; i < 2100; ++i) notes += "- note " + std::to_string(i) + "\n";
  write("long-skill/SKILL.md", "---\nname: long-skill\ndescription: A long hand-written skill. Use it in tests.\n---\n" + body);
  write("long-skill/references/notes.md", notes);
  const auto dir = path("long-skill");
  const auto valid = t2s_run("skill validate " + dir);
  EXPECT_EQ(valid.status, 0) << valid.output;
  for (const auto& line : {dir + "/SKILL.md: warning: [budget] SKILL.md has 711 lines, budget 500\n",
                           dir + "/SKILL.md: warning: [budget] SKILL.md has ",
                           dir + "/SKILL.md:504: warning: [body-lines] the body has 707 lines; the specification "
                                 "recommends fewer than 500 (move material to references/)\n",
                           dir + "/references/notes.md: warning: [budget] references/notes.md has 2101 lines, budget 2000\n",
                           dir + ": valid (4 warnings: sizes the specification recommends, not requires)\n"})
    EXPECT_TRUE(contains(valid, line)) << line << "\n" << valid.output;
  EXPECT_TRUE(contains(valid, "tokens (approximate), budget 5000\n")) << valid.output;

  const auto json_run = t2s_stdout("skill validate --json " + dir);
  EXPECT_EQ(json_run.status, 0) << json_run.output;
  const auto report = nlohmann::json::parse(json_run.output);
  EXPECT_EQ(report["valid"], true);
  EXPECT_EQ(report["errors"].size(), 0u);
  ASSERT_EQ(report["warnings"].size(), 4u);
  for (const auto& warning : report["warnings"]) EXPECT_EQ(warning["severity"], "warning") << warning.dump();
  EXPECT_EQ(report["warnings"][3]["file"], "references/notes.md");

  // The same skill in a directory of another name: one error, the warnings still warnings.
  write("misnamed/SKILL.md", t2s::test::read_text(dir + "/SKILL.md"));
  write("misnamed/references/notes.md", notes);
  const auto invalid = t2s_run("skill validate " + path("misnamed"));
  EXPECT_EQ(invalid.status, 1) << invalid.output;
  EXPECT_TRUE(contains(invalid, path("misnamed") + "/SKILL.md:2: [name] name 'long-skill' differs")) << invalid.output;
  EXPECT_TRUE(contains(invalid, path("misnamed") + "/SKILL.md: warning: [budget] SKILL.md has 711 lines")) << invalid.output;
  EXPECT_TRUE(contains(invalid, "t2s: error: " + path("misnamed") + ": not a valid skill (1 error, 4 warnings)"))
      << invalid.output;
  const auto invalid_json = nlohmann::json::parse(t2s_stdout("skill validate --json " + path("misnamed")).output);
  EXPECT_EQ(invalid_json["valid"], false);
  EXPECT_EQ(invalid_json["errors"].size(), 1u);
  EXPECT_EQ(invalid_json["warnings"].size(), 4u);
}

// `skill apply` on that skill: a small patch deepens it (the budgets hold what the patch adds), a
// patch adding more than the budget is refused, or moved to references/ with --overflow move.
TEST_F(SkillCli, ApplyDeepensAnOverBudgetSkillWithinTheBudget) {
  std::string body = "\n# Long\n\n## Steps\n\n";
  for (int i = 0; i < 700; ++i) body += "- Step " + std::to_string(i) + ": check the input, then write the result where asked.\n";
  write("in/long-skill/SKILL.md", "---\nname: long-skill\ndescription: A long hand-written skill. Use it in tests.\n---\n" + body);
  const auto input = path("in/long-skill");
  const auto before = t2s::test::snapshot(input);
  const auto small = write("small.json", R"({"edits": [{"file": "SKILL.md", "op": "add_section", "target_section": "## Pitfalls",
      "content": "- Check the sheet name before writing.\n", "support": ["t1", "t2"]}]})");
  const auto out = path("out/long-skill");
  const auto applied = t2s_run("skill apply " + input + " " + small + " -o " + out);
  ASSERT_EQ(applied.status, 0) << applied.output;
  EXPECT_TRUE(contains(applied, "warning: SKILL.md: [budget] SKILL.md has 713 lines, budget 500 (the file was over budget "
                                "before the patch; what the patch added fits the budget)\n")) << applied.output;
  EXPECT_TRUE(contains(applied, "wrote " + out + ": 1 of 1 edits applied")) << applied.output;
  EXPECT_TRUE(t2s::test::read_text(out + "/SKILL.md").ends_with("\n\n## Pitfalls\n\n- Check the sheet name before writing.\n"));
  EXPECT_EQ(t2s_run("skill validate " + out).status, 0);

  std::string lines;
  for (int i = 0; i < 600; ++i) lines += "- Extra step " + std::to_string(i) + ": check the input, then write the result.\\n";
  const auto big = write("big.json", R"({"edits": [{"file": "SKILL.md", "op": "add_section", "target_section": "## More",
      "content": ")" + lines + R"(", "support": ["t3"]}]})");
  const auto refused = t2s_run("skill apply " + input + " " + big + " -o " + path("refused/long-skill"));
  EXPECT_EQ(refused.status, 1) << refused.output;
  EXPECT_TRUE(contains(refused, "problem: SKILL.md: [budget] SKILL.md grew from 709 to 1312 lines, more than its budget of 500"))
      << refused.output;
  EXPECT_TRUE(contains(refused, "the result is not a valid skill")) << refused.output;
  EXPECT_FALSE(fs::exists(path("refused/long-skill")));

  const auto moved = t2s_stdout("skill apply --overflow move --json " + input + " " + big + " -o " + path("moved/long-skill"));
  ASSERT_EQ(moved.status, 0) << moved.output;
  const auto result = nlohmann::json::parse(moved.output);
  EXPECT_EQ(result["moves"], nlohmann::json::array({"moved '## More' (support 1) to references/more.md"}));
  EXPECT_EQ(result["problems"].size(), 0u);
  EXPECT_EQ(result["warnings"].size(), 3u);
  EXPECT_TRUE(fs::exists(path("moved/long-skill/references/more.md")));
  EXPECT_EQ(t2s::test::snapshot(input), before);
}

TEST_F(SkillCli, ApplyWritesAValidatedSkillWithProvenanceAndDiffExplainsIt) {
  const auto input = skill("spreadsheet-edit");
  const auto before = t2s::test::snapshot(input);
  const auto out = path("runs/spreadsheet-edit");
  const auto applied = t2s_run("skill apply " + input + " " + golden_patch("op-create-reference") + " -o " + out);
  ASSERT_EQ(applied.status, 0) << applied.output;
  EXPECT_TRUE(contains(applied, "edits[0] applied: create references/dates.md\n"));
  EXPECT_TRUE(contains(applied, "wrote " + out + ": 2 of 2 edits applied\n"));
  EXPECT_TRUE(fs::exists(out + "/references/dates.md"));
  EXPECT_TRUE(fs::exists(out + "/.trace2skill/provenance.json"));
  EXPECT_EQ(t2s::test::snapshot(input), before);
  EXPECT_EQ(t2s_run("skill validate " + out).status, 0);

  const auto diff = t2s_run("skill diff " + input + " " + out);
  EXPECT_EQ(diff.status, 0);
  EXPECT_TRUE(contains(diff, "+- Dates and times: see [date handling](references/dates.md).\n \n ## Charts\n \n"
                             "# provenance: SKILL.md:40 append_to_section (edits[1]) in ## Formatting: support 0\n"))
      << diff.output;
  EXPECT_TRUE(contains(diff, "--- /dev/null\n+++ b/references/dates.md\n"));
  const auto plain = t2s_run("skill diff --no-provenance " + input + " " + out);
  EXPECT_FALSE(contains(plain, "# provenance"));
  EXPECT_EQ(t2s_run("skill diff " + input + " " + input).output, "");

  const auto json = t2s_stdout("skill apply --json " + input + " " + golden_patch("op-replace") + " -o " + out);
  ASSERT_EQ(json.status, 0) << json.output;
  const auto result = nlohmann::json::parse(json.output);
  EXPECT_EQ(result["ok"], true);
  EXPECT_EQ(result["edits"][0]["status"], "applied");
  EXPECT_FALSE(fs::exists(out + "/references/dates.md")) << "the previous output is replaced as a whole";
}

TEST_F(SkillCli, AFailedApplyExitsOneAndWritesNothing) {
  const auto input = skill("spreadsheet-edit");
  const auto out = path("spreadsheet-edit");
  const auto failed = t2s_run("skill apply " + input + " " + golden_patch("reject-conflict-overlap") + " -o " + out);
  EXPECT_EQ(failed.status, 1) << failed.output;
  EXPECT_TRUE(contains(failed, "edits[0] failed: replace_in_section SKILL.md \"## Formatting\": conflicts with edits[1]"));
  EXPECT_TRUE(contains(failed, "t2s: error: " + golden_patch("reject-conflict-overlap") +
                                   ": not applied (2 of 2 edits failed); " + out + " was not written"));
  EXPECT_FALSE(fs::exists(out));

  const auto invalid = t2s_run("skill apply " + input + " " + golden_patch("reject-invalid-result") + " -o " + out);
  EXPECT_EQ(invalid.status, 1);
  EXPECT_TRUE(contains(invalid, "problem: SKILL.md:3: [description] description contains an XML tag"));
  EXPECT_TRUE(contains(invalid, "the result is not a valid skill (1 problem)"));
  EXPECT_FALSE(fs::exists(out));

  const auto partial = t2s_run("skill apply --partial " + input + " " + golden_patch("op-partial") + " -o " + out);
  EXPECT_EQ(partial.status, 0) << partial.output;
  EXPECT_TRUE(contains(partial, "edits[1] failed: insert_after SKILL.md at \"a line that is not there\""));
  EXPECT_TRUE(contains(partial, ": 2 of 3 edits applied"));
}

TEST_F(SkillCli, BadInputExitsTwo) {
  const auto input = skill("table-qa");
  const auto bad_json = t2s_run("skill apply " + input + " " + write("p.json", "{\"edits\": [") + " -o " + path("table-qa"));
  EXPECT_EQ(bad_json.status, 2);
  EXPECT_TRUE(contains(bad_json, "p.json: not valid JSON")) << bad_json.output;
  const auto bad_op = t2s_run("skill apply " + input + " " + write("op.json", R"({"edits": [{"file": "SKILL.md", "op": "nuke"}]})") +
                              " -o " + path("table-qa"));
  EXPECT_EQ(bad_op.status, 2);
  EXPECT_TRUE(contains(bad_op, "op.json: edits[0].op: unknown op \"nuke\""));
  const auto in_place = t2s_run("skill apply " + input + " " + golden_patch("op-append-twice") + " -o " + input);
  EXPECT_EQ(in_place.status, 2);
  EXPECT_TRUE(contains(in_place, "is the input directory"));
  EXPECT_EQ(t2s_run("skill apply " + input + " " + golden_patch("op-append-twice")).status, 2);  // no -o
  EXPECT_EQ(t2s_run("skill apply --overflow shrink " + input + " " + golden_patch("op-append-twice") + " -o " + path("x")).status, 2);
  EXPECT_EQ(t2s_run("skill diff " + input + " " + path("missing")).status, 2);
}

// -o never deletes what the command did not write: a project with a SKILL.md is refused (exit 2)
// and left alone, while re-running the same command replaces its own earlier output.
TEST_F(SkillCli, ApplyReplacesOnlyItsOwnOutput) {
  const auto input = skill("table-qa");
  const auto empty = write("empty.json", "{\"edits\": []}");
  write("proj/table-qa/.git/HEAD", "ref: refs/heads/main\n");
  write("proj/table-qa/src/main.c", "int main(void) { return 0; }\n");
  write("proj/table-qa/SKILL.md", t2s::test::read_text(t2s::test::test_skill_path("table-qa") / "SKILL.md"));
  const auto before = t2s::test::snapshot(path("proj/table-qa"));
  const auto refused = t2s_run("skill apply " + input + " " + empty + " -o " + path("proj/table-qa"));
  EXPECT_EQ(refused.status, 2) << refused.output;
  EXPECT_TRUE(contains(refused, "is not an unchanged output of t2s skill apply (refusing to replace it")) << refused.output;
  EXPECT_EQ(t2s::test::snapshot(path("proj/table-qa")), before);

  const auto out = path("out/table-qa");
  EXPECT_EQ(t2s_run("skill apply " + input + " " + empty + " -o " + out).status, 0);
  const auto again = t2s_run("skill apply " + input + " " + golden_patch("op-append-joins-list") + " -o " + out);
  EXPECT_EQ(again.status, 1) << again.output;  // that patch is for the other skill: nothing is written
  EXPECT_EQ(t2s_run("skill apply " + input + " " + empty + " -o " + out).status, 0) << "the same command again";
}

// Unreadable files and directories are bad input, named in the message. Root reads everything, so
// as root the binary runs without the capabilities that bypass file permissions.
TEST_F(SkillCli, UnreadableInputExitsTwo) {
  std::string prefix;
  if (::geteuid() == 0) {
    if (t2s::test::run_command("setpriv --bounding-set=-dac_override,-dac_read_search true").status != 0)
      GTEST_SKIP() << "running as root without setpriv: permissions cannot be tested";
    prefix = "setpriv --bounding-set=-dac_override,-dac_read_search ";
  }
  const auto dir = path("demo");
  write("demo/SKILL.md", "---\nname: demo\ndescription: A demo skill. Use it in tests.\n---\n# Demo\n");
  write("demo/references/locked.md", "# Locked\n");
  fs::permissions(dir + "/references/locked.md", fs::perms::none);
  const auto run = [&](const std::string& arguments) {
    return t2s::test::run_command(prefix + T2S_BINARY + " " + arguments);
  };
  const auto file = run("skill validate " + dir);
  EXPECT_EQ(file.status, 2) << file.output;
  EXPECT_TRUE(contains(file, dir + "/references/locked.md: cannot read: Permission denied")) << file.output;
  fs::permissions(dir + "/references/locked.md", fs::perms::owner_read | fs::perms::owner_write);
  fs::permissions(dir + "/references", fs::perms::none);
  const auto listing = run("skill apply " + dir + " " + write("empty.json", "{\"edits\": []}") + " -o " + path("out/demo"));
  EXPECT_EQ(listing.status, 2) << listing.output;
  EXPECT_TRUE(contains(listing, dir + "/references: cannot read: Permission denied")) << listing.output;
  fs::permissions(dir + "/references", fs::perms::owner_all);
}

}  // namespace

// `t2s inspect` on a skill directory shows its files and the provenance of what a patch wrote.
TEST_F(SkillCli, InspectShowsFilesValidityAndProvenance) {
  const auto out = path("spreadsheet-edit");
  ASSERT_EQ(t2s_run("skill apply " + skill("spreadsheet-edit") + " " + golden_patch("op-append-joins-list") + " -o " + out).status, 0);
  const auto text = t2s_run("inspect " + out);
  EXPECT_EQ(text.status, 0) << text.output;
  EXPECT_TRUE(contains(text, "skill spreadsheet-edit: valid")) << text.output;
  EXPECT_TRUE(contains(text, "scripts/recalc.py  protected")) << text.output;
  EXPECT_TRUE(contains(text, "SKILL.md  editable")) << text.output;
  EXPECT_TRUE(contains(text, "provenance (1 blocks):")) << text.output;
  EXPECT_TRUE(contains(text, "append_to_section (edits[0]) in ## Formatting: support 3")) << text.output;

  const auto json_run = t2s_stdout("inspect --json " + out);
  ASSERT_EQ(json_run.status, 0) << json_run.output;
  const auto report = nlohmann::json::parse(json_run.output);
  EXPECT_TRUE(report["valid"].get<bool>());
  ASSERT_EQ(report["provenance"].size(), 1u);
  EXPECT_EQ(report["provenance"][0]["prevalence"], 3);
  EXPECT_EQ(report["provenance"][0]["file"], "SKILL.md");

  const auto plain = t2s_run("inspect " + skill("table-qa"));
  EXPECT_EQ(plain.status, 0) << plain.output;
  EXPECT_TRUE(contains(plain, "provenance: none")) << plain.output;
}

// A licence in references/ is protected (apply refuses to edit it), and a trailing slash on the
// directory does not double the separator in messages.
TEST_F(SkillCli, InspectLabelsProtectedFilesAndNamesTheDirectoryOnce) {
  write("ins/demo/SKILL.md", "---\nname: demo\ndescription: A demo skill. Use it in tests.\n---\n# Demo\n\nSee references/LICENSE.md.\n");
  write("ins/demo/references/LICENSE.md", "MIT\n");
  write("ins/demo/references/orphan.md", "# Orphan\n");
  const auto text = t2s_run("inspect " + path("ins/demo") + "/");
  EXPECT_EQ(text.status, 0) << text.output;
  EXPECT_TRUE(contains(text, "references/LICENSE.md  protected")) << text.output;
  EXPECT_TRUE(contains(text, path("ins/demo") + "/references/orphan.md: [orphan-reference]")) << text.output;
  EXPECT_FALSE(contains(text, "//")) << text.output;
}
