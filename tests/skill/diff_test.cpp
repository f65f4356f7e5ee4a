#include <gtest/gtest.h>

#include "skill_test_util.hpp"
#include "t2s/skill/apply.hpp"
#include "t2s/skill/diff.hpp"
#include "t2s/skill/markdown.hpp"

namespace {

using namespace t2s::skill;

std::vector<std::string> lines(const std::string& text) { return split_lines(text); }

// Applies hunks to `a` the way patch(1) does, to check that a diff is correct.
std::vector<std::string> patched(const std::vector<std::string>& a, const std::vector<Hunk>& hunks) {
  std::vector<std::string> out;
  std::size_t cursor = 0;
  for (const auto& hunk : hunks) {
    while (cursor < hunk.old_first) out.push_back(a[cursor++]);
    for (const auto& line : hunk.lines) {
      if (line[0] != '+') EXPECT_EQ(line.substr(1), a[cursor++]);
      if (line[0] != '-') out.push_back(line.substr(1));
    }
  }
  while (cursor < a.size()) out.push_back(a[cursor++]);
  return out;
}

TEST(Diff, HunksWithContext) {
  EXPECT_TRUE(diff_lines(lines("a\nb\n"), lines("a\nb\n")).empty());
  const auto hunks = diff_lines(lines("1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n15\n16\n"),
                                lines("1\n2\n3\n4\n5\nfive and a half\n6\n7\n8\n9\n10\n11\n12\n13\n14\n16\n"));
  ASSERT_EQ(hunks.size(), 2u);
  EXPECT_EQ(hunks[0].old_first, 2u);
  EXPECT_EQ(hunks[0].old_count, 6u);
  EXPECT_EQ(hunks[0].new_count, 7u);
  EXPECT_EQ(hunks[0].lines[3], "+five and a half\n");
  EXPECT_EQ(hunks[1].lines.back(), " 16\n");
  // Changes 6 lines apart (2 * context) share one hunk.
  EXPECT_EQ(diff_lines(lines("a\n1\n2\n3\n4\n5\n6\nb\n"), lines("A\n1\n2\n3\n4\n5\n6\nB\n")).size(), 1u);
}

TEST(Diff, EveryDiffRebuildsItsTarget) {
  std::uint64_t state = 7;
  const auto next = [&] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  for (int round = 0; round < 300; ++round) {
    std::vector<std::string> a, b;
    for (auto n = next() % 40; n > 0; --n) a.push_back(std::to_string(next() % 6) + "\n");
    for (auto n = next() % 40; n > 0; --n) b.push_back(std::to_string(next() % 6) + "\n");
    EXPECT_EQ(patched(a, diff_lines(a, b, next() % 4)), b);
  }
}

TEST(Diff, SkillDirectoriesWithProvenance) {
  const auto a = t2s::test::test_skill("table-qa");
  Patch patch;
  patch.sha256 = "p";
  Edit append;
  append.file = "SKILL.md";
  append.op = Op::append_to_section;
  append.target_section = "## Pitfalls";
  append.content = "- Ignore rows marked as totals.";
  append.support = {"traj-1", "traj-2"};
  Edit create;
  create.file = "references/totals.md";
  create.op = Op::create;
  create.content = "# Totals\n\nRows named Total or Sum are not data.";
  Edit link = append;
  link.target_section = "## Answering";
  link.content = "See [totals](references/totals.md).";
  patch.edits = {append, create, link};
  const auto result = apply_patch(a, "table-qa", patch);
  ASSERT_TRUE(result.ok) << format_apply_result(result, patch);
  auto b = result.skill;
  b.files.erase("references/answer-format.md");
  b.files["assets/logo.png"] = {std::string("\x89PNG\0\x01", 6), false};

  const auto diff = diff_skills(a, b);
  // One hunk for both SKILL.md changes, then the provenance of each block it adds.
  EXPECT_NE(diff.find("--- a/SKILL.md\n+++ b/SKILL.md\n@@ -24,7 +24,10 @@\n \n \"Which team"), std::string::npos) << diff;
  EXPECT_NE(diff.find("+- Ignore rows marked as totals.\n"
                      "# provenance: SKILL.md:27 append_to_section (edits[2]) in ### Example: support 2 [traj-1, traj-2]\n"
                      "# provenance: SKILL.md:33 append_to_section (edits[0]) in ## Pitfalls: support 2 [traj-1, traj-2]\n"),
            std::string::npos) << diff;
  EXPECT_NE(diff.find("--- /dev/null\n+++ b/references/totals.md\n@@ -0,0 +1,3 @@\n+# Totals\n+\n+Rows named Total or Sum are "
                      "not data.\n\\ No newline at end of file\n# provenance: references/totals.md:1-3 create (edits[1])"),
            std::string::npos) << diff;
  EXPECT_NE(diff.find("--- a/references/answer-format.md\n+++ /dev/null\n@@ -1,5 +0,0 @@\n-# Answer format\n"),
            std::string::npos) << diff;
  EXPECT_NE(diff.find("Binary files /dev/null and b/assets/logo.png differ\n"), std::string::npos) << diff;
  EXPECT_EQ(diff.find(".trace2skill"), std::string::npos) << "the sidecar is not diffed";
  EXPECT_EQ(diff_skills(a, b, {.context = 3, .provenance = false}).find("# provenance"), std::string::npos);
  EXPECT_EQ(diff_skills(a, a), "");
}

}  // namespace
