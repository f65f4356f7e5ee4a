// Tests of consolidate/merge: the deterministic merge operator (grouping, support unions, conflicts,
// order rules, idempotence, associativity of support unions), checked against the real skill engine.

#include <gtest/gtest.h>

#include <algorithm>

#include "helpers.hpp"
#include "t2s/consolidate/merge.hpp"

using namespace t2s::test;
using t2s::consolidate::merge_deterministic;
using t2s::consolidate::MergeOptions;
using t2s::consolidate::MergeReport;
using t2s::skill::Patch;

namespace {

const std::string kRecalc =
    "- After writing formulas, recalculate the workbook with LibreOffice and read every value back before you save the "
    "answer.";
// The same words plus "final": Jaccard 17/18 = 0.94.
const std::string kRecalcVariant =
    "After writing formulas recalculate the workbook with LibreOffice and read every value back before you save the "
    "final answer";
// The same words with "not": never one edit with the above, however similar.
const std::string kRecalcNegated =
    "- After writing formulas, do not recalculate the workbook with LibreOffice and read every value back before you "
    "save the answer.";

std::vector<Patch> five_children() {
  return {
      make_patch({append("## Formulas", "- Recalculate after writing formulas.", {"t01"}),
                  append("## Formatting", "- Keep the fonts of the template.", {"t02"})},
                 40),
      make_patch({append("## Formulas", "* recalculate  AFTER writing **formulas**", {"t03"}),
                  append("## Formulas", kRecalc, {"t04"})},
                 60),
      make_patch({append("## Formulas", kRecalcVariant, {"t05", "t06"}),
                  append("## Formulas", kRecalcNegated, {"t07"})},
                 50),
      make_patch({append("## Formatting", "- keep the fonts of the template", {"t02", "t08"}),
                  add_section("## Pitfalls", "- Merged cells hide values: unmerge before reading.", {"t09"}, "## Charts")},
                 10),
      make_patch({append("Formulas", "- Recalculate after writing formulas!", {"t10"}),
                  append("## Formulas", "1. Recalculate after writing formulas.", {"t01", "t11"})},
                 0),
  };
}

}  // namespace

TEST(MergeDeterministic, GroupsEqualAndNearEqualEditsAcrossFiveChildren) {
  const auto children = five_children();
  for (const auto& child : children) ASSERT_TRUE(applies(child));
  MergeReport report;
  const Patch merged = merge_deterministic(children, {}, &report);
  ASSERT_EQ(merged.edits.size(), 6u) << ::testing::PrintToString(report.notes);
  // In the order of each group's first member.
  EXPECT_EQ(merged.edits[0].content, "1. Recalculate after writing formulas.");  // support 2: its text wins
  EXPECT_EQ(merged.edits[0].support, (Ids{"t01", "t03", "t11"}));
  EXPECT_EQ(merged.edits[1].content, "- keep the fonts of the template");
  EXPECT_EQ(merged.edits[1].support, (Ids{"t02", "t08"}));
  EXPECT_EQ(merged.edits[2].content, kRecalcVariant);
  EXPECT_EQ(merged.edits[2].support, (Ids{"t04", "t05", "t06"}));
  EXPECT_EQ(merged.edits[3].content, kRecalcNegated);
  EXPECT_EQ(merged.edits[3].support, (Ids{"t07"}));
  EXPECT_EQ(merged.edits[4].op, t2s::skill::Op::add_section);
  // "Formulas" (any level) is not placed like "## Formulas": its own edit.
  EXPECT_EQ(merged.edits[5].target_section, "Formulas");
  EXPECT_EQ(merged.edits[5].support, (Ids{"t10"}));
  EXPECT_EQ(report.edits_in, 10u);
  EXPECT_EQ(report.edits_out, 6u);
  EXPECT_EQ(report.grouped, 4u);
  EXPECT_EQ(report.conflicts, 0u);
  EXPECT_EQ(merged.origin.population, 60u);
  EXPECT_EQ(merged.sha256.size(), 64u);
  EXPECT_TRUE(applies(merged));
}

TEST(MergeDeterministic, TheThresholdIsInclusive) {
  // 9 shared words of 10 (Jaccard 0.9): one edit; of 11 (0.82): two.
  const std::string base = "alpha bravo charlie delta echo foxtrot golf hotel india";
  const std::vector<Patch> at = {make_patch({append("## Formulas", base, {"a"})}),
                                 make_patch({append("## Formulas", base + " juliet", {"b"})})};
  EXPECT_EQ(merge_deterministic(at).edits.size(), 1u);
  const std::vector<Patch> below = {make_patch({append("## Formulas", base, {"a"})}),
                                    make_patch({append("## Formulas", base + " juliet kilo", {"b"})})};
  EXPECT_EQ(merge_deterministic(below).edits.size(), 2u);
  MergeOptions strict;
  strict.near_equal = 0.95;
  EXPECT_EQ(merge_deterministic(at, strict).edits.size(), 2u);
}

TEST(MergeDeterministic, ConflictsAreWonByTheLargerSupport) {
  const std::string fonts = "- Never change column widths or fonts unless the task asks.";
  const std::vector<Patch> children = {
      make_patch({replace(fonts, "- Keep column widths and fonts as they are.", {"a"}),
                  delete_section("## Checking the answer", {"b"})}),
      make_patch({replace(fonts, "- Change fonts only when the task names them.", {"c", "d"}),
                  append("## Checking the answer", "- Compare types too: 3 is not \"3\".", {"e", "f", "g"})}),
      make_patch({add_section("## Pitfalls", "- Hidden sheets still count.", {"h"}),
                  add_section("## pitfalls", "- Merged cells hide values.", {"i", "j"})}),
  };
  for (const auto& child : children) ASSERT_TRUE(applies(child)) << "each child applies alone";
  MergeReport report;
  const Patch merged = merge_deterministic(children, {}, &report);
  ASSERT_EQ(merged.edits.size(), 3u) << ::testing::PrintToString(report.notes);
  EXPECT_EQ(merged.edits[0].content, "- Change fonts only when the task names them.");
  EXPECT_EQ(merged.edits[1].op, t2s::skill::Op::append_to_section);
  EXPECT_EQ(merged.edits[2].content, "- Merged cells hide values.");
  EXPECT_EQ(report.conflicts, 3u);
  ASSERT_EQ(report.notes.size(), 3u);
  EXPECT_NE(report.notes[0].find("p2.e1 (support 2)"), std::string::npos) << report.notes[0];
  EXPECT_NE(report.notes[0].find("lost a conflict"), std::string::npos) << report.notes[0];
  EXPECT_TRUE(applies(merged));

  // Equal support: the earlier edit wins.
  const std::vector<Patch> tie = {make_patch({replace(fonts, "- First.", {"a"})}),
                                  make_patch({replace(fonts, "- Second.", {"b"})})};
  const auto tied = merge_deterministic(tie);
  ASSERT_EQ(tied.edits.size(), 1u);
  EXPECT_EQ(tied.edits[0].content, "- First.");
}

TEST(MergeDeterministic, TheFrozenSkillRevealsOverlapsTheFieldsDoNotShow) {
  // Two replacements whose anchors share a line without either containing the other, and a new
  // reference whose only link loses: only the engine can tell.
  const std::vector<Patch> children = {
      make_patch({replace("from the cell above when you append rows.\n- Never change", "from the row above.\n- Do not change",
                          {"a", "b", "c"}),
                  create("references/pivots.md", "# Pivot tables\n\nRefresh them after editing.\n", {"d"}),
                  append("## Formatting", "- Pivot tables: see [pivots](references/pivots.md).", {"d"})}),
      make_patch({replace("- Never change column widths or fonts", "- Keep column widths and fonts", {"e"}),
                  delete_section("## Formatting", {"f", "g", "h", "i"})}),
  };
  ASSERT_TRUE(applies(children[0]));
  ASSERT_TRUE(applies(make_patch({children[1].edits[0]})));
  MergeReport blind_report;
  const auto blind = merge_deterministic(children, {}, &blind_report);
  EXPECT_FALSE(applies(blind));

  MergeOptions options;
  options.skill = &spreadsheet_skill();
  MergeReport report;
  const auto merged = merge_deterministic(children, options, &report);
  EXPECT_TRUE(applies(merged)) << ::testing::PrintToString(report.notes);
  ASSERT_EQ(merged.edits.size(), 1u) << ::testing::PrintToString(report.notes);
  EXPECT_EQ(merged.edits[0].op, t2s::skill::Op::delete_section);
  EXPECT_GE(report.conflicts + report.refused, 4u);
  bool named_create = false;
  for (const auto& note : report.notes)
    named_create = named_create || (note.find("create references/pivots.md") != std::string::npos &&
                                    note.find("not linked from SKILL.md") != std::string::npos);
  EXPECT_TRUE(named_create) << ::testing::PrintToString(report.notes);
}

TEST(MergeDeterministic, OrderDecidesOnlyPositionsAndTies) {
  const Patch a = make_patch({append("## Formulas", "- Keep formulas as formulas.", {"a"}),
                              append("## Formatting", "- Copy formats.", {"b"})});
  const Patch b = make_patch({append("## Formatting", "- copy formats", {"c"}),
                              append("## Formulas", "keep formulas as formulas", {"d"})});
  const Patch ab = merge_deterministic(std::vector<Patch>{a, b});
  const Patch ba = merge_deterministic(std::vector<Patch>{b, a});
  ASSERT_EQ(ab.edits.size(), 2u);
  ASSERT_EQ(ba.edits.size(), 2u);
  EXPECT_EQ(ab.edits[0].content, "- Keep formulas as formulas.");  // tie: the first in input order
  EXPECT_EQ(ba.edits[0].content, "- copy formats");
  EXPECT_EQ(ba.edits[1].content, "keep formulas as formulas");
  EXPECT_EQ(supports(ab), supports(ba));
  // A pure function: the same inputs give the same bytes.
  EXPECT_EQ(merge_deterministic(std::vector<Patch>{a, b}).sha256, ab.sha256);
}

TEST(MergeDeterministic, MergingAMergedPatchWithNothingChangesNothing) {
  MergeOptions options;
  options.skill = &spreadsheet_skill();
  auto children = five_children();
  children[0].changelog = {"Recalculate formulas.", "Keep fonts."};
  children[3].changelog = {"recalculate formulas"};
  const Patch merged = merge_deterministic(children, options);
  EXPECT_EQ(merged.changelog, (std::vector<std::string>{"Recalculate formulas.", "Keep fonts."}));
  const auto json = t2s::skill::patch_json(merged).dump();
  EXPECT_EQ(t2s::skill::patch_json(merge_deterministic(std::vector<Patch>{merged}, options)).dump(), json);
  EXPECT_EQ(t2s::skill::patch_json(merge_deterministic(std::vector<Patch>{merged, Patch{}}, options)).dump(), json);
  EXPECT_EQ(t2s::skill::patch_json(merge_deterministic(std::vector<Patch>{Patch{}, merged}, options)).dump(), json);
}

TEST(MergeDeterministic, SupportUnionsAreTheSameInATwoLevelTreeAndInOneFlatMerge) {
  // 9 children, fan-in 3: each group of variants is spread over the tree's subtrees.
  std::vector<Patch> children;
  const std::vector<std::string> formulas = {"- Recalculate after writing formulas.", "recalculate after writing formulas",
                                             "* Recalculate, after writing formulas"};
  for (int i = 0; i < 9; ++i) {
    const std::string t = "t" + std::to_string(i);
    std::vector<t2s::skill::Edit> edits{append("## Formulas", formulas[i % 3], {t, "u" + std::to_string(i % 2)})};
    if (i % 4 == 0) edits.push_back(append("## Charts", "- Charts are lost on save.", {t}));
    if (i % 3 == 1) edits.push_back(replace("- Copy number formats from the cell above when you append rows.",
                                            "- Copy number formats from the row above.", {t, "v"}));
    children.push_back(make_patch(std::move(edits), 9));
  }
  MergeOptions options;
  options.skill = &spreadsheet_skill();
  const Patch flat = merge_deterministic(children, options);
  std::vector<Patch> level1;
  for (std::size_t i = 0; i < children.size(); i += 3)
    level1.push_back(merge_deterministic(std::span<const Patch>(children).subspan(i, 3), options));
  const Patch tree = merge_deterministic(level1, options);
  EXPECT_EQ(supports(tree), supports(flat));
  ASSERT_EQ(flat.edits.size(), 3u);
  EXPECT_EQ(flat.edits[0].support,
            (Ids{"t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8", "u0", "u1"}));
  EXPECT_EQ(flat.edits[1].support, (Ids{"t0", "t4", "t8"}));
  EXPECT_EQ(flat.edits[2].support, (Ids{"t1", "t4", "t7", "v"}));
  EXPECT_TRUE(applies(tree));
  EXPECT_TRUE(applies(flat));
}

TEST(MergeDeterministic, OriginsKeepTheLargestPopulationAndWhatChildrenAgreeOn) {
  std::vector<Patch> children = {make_patch({append("## Formulas", "- a", {"a"})}, 10, "qwen"),
                                 make_patch({append("## Formulas", "- b", {"b"})}, 30, "qwen"),
                                 make_patch({}, 50, "other")};
  children[0].origin.prompt_hash = "p1";
  children[1].origin.prompt_hash = "p2";
  const auto merged = merge_deterministic(children);
  EXPECT_EQ(merged.origin.population, 50u);
  EXPECT_EQ(merged.origin.model, "qwen");  // the empty child does not count
  EXPECT_EQ(merged.origin.prompt_hash, "");
  EXPECT_TRUE(merged.origin.merge_path.empty());
  EXPECT_TRUE(merge_deterministic(std::vector<Patch>{}).edits.empty());
}

TEST(MergeDeterministic, EqualDeletionsAndCreatesAreOneEdit) {
  const std::vector<Patch> children = {
      make_patch({delete_section("## Formatting", {"a"}), create("references/pivots.md", "# Pivots\n\nRefresh.\n", {"a"}),
                  append("## Workflow", "- See [pivots](references/pivots.md).", {"a"})}),
      make_patch({delete_section("Formatting", {"b"}), create("references/pivots.md", "# Pivots\n\nrefresh\n", {"b"}),
                  append("## Workflow", "- see [pivots](references/pivots.md)", {"b", "c"})}),
  };
  MergeOptions options;
  options.skill = &spreadsheet_skill();
  MergeReport report;
  const auto merged = merge_deterministic(children, options, &report);
  // The two deletions name the section differently ("## Formatting", "Formatting"): one loses a conflict.
  ASSERT_EQ(merged.edits.size(), 3u) << ::testing::PrintToString(report.notes);
  EXPECT_EQ(merged.edits[0].support, (Ids{"a"}));
  EXPECT_EQ(merged.edits[1].support, (Ids{"a", "b"}));
  EXPECT_EQ(merged.edits[2].support, (Ids{"a", "b", "c"}));
  EXPECT_EQ(merged.edits[2].content, "- see [pivots](references/pivots.md)");
  EXPECT_TRUE(applies(merged));
}
