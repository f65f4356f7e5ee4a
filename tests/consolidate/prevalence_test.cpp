// Tests of consolidate/prevalence: the promotion threshold at its edges, rare edits moved to a
// references file linked from SKILL.md (created or appended to), drop mode, and every result
// applied and validated by the real skill engine.

#include <gtest/gtest.h>

#include "helpers.hpp"
#include "t2s/consolidate/prevalence.hpp"
#include "t2s/core/error.hpp"
#include "t2s/skill/validate.hpp"

using namespace t2s::test;
using t2s::consolidate::apply_prevalence;
using t2s::consolidate::PrevalenceDecision;
using t2s::consolidate::PrevalencePolicy;
using t2s::skill::Op;
using t2s::skill::Patch;
using Action = PrevalenceDecision::Action;

namespace {

Ids ids(std::size_t n, const std::string& prefix = "t") {
  Ids out;
  for (std::size_t i = 0; i < n; ++i) out.push_back(prefix + std::to_string(100 + i));
  return out;
}

// Applies `patch` to `skill` and checks the output with the validator as well.
::testing::AssertionResult applies_and_validates(const Patch& patch, const t2s::skill::SkillDir& skill = spreadsheet_skill()) {
  const auto result = t2s::skill::apply_patch(skill, "spreadsheet-edit", patch);
  if (!result.ok) return ::testing::AssertionFailure() << t2s::skill::format_apply_result(result, patch);
  const auto problems = t2s::skill::validate_skill(result.skill, "spreadsheet-edit");
  if (!problems.empty()) return ::testing::AssertionFailure() << t2s::skill::format_problems(problems, "out");
  return ::testing::AssertionSuccess();
}

std::string output_file(const Patch& patch, const std::string& file, const t2s::skill::SkillDir& skill = spreadsheet_skill()) {
  const auto result = t2s::skill::apply_patch(skill, "spreadsheet-edit", patch);
  const auto* text = result.skill.text(file);
  return text != nullptr ? *text : std::string();
}

}  // namespace

TEST(Prevalence, ThePromotionThresholdIsInclusiveAndNeedsBoth) {
  struct Case {
    std::uint64_t population;
    std::size_t support;
    bool promoted;
  };
  // min_fraction 0.03, min_support 2.
  for (const auto& c : {Case{100, 3, true}, Case{100, 2, false}, Case{50, 2, true}, Case{66, 2, true}, Case{67, 2, false},
                        Case{10, 1, false}, Case{1, 1, false}, Case{2, 2, true}, Case{1000, 30, true}, Case{1000, 29, false}}) {
    PrevalencePolicy policy;
    policy.population = c.population;
    policy.rare = PrevalencePolicy::Rare::drop;
    const Patch root = make_patch({append("## Formulas", "- Keep formulas as formulas.", ids(c.support))});
    std::vector<PrevalenceDecision> decisions;
    const auto out = apply_prevalence(root, spreadsheet_skill(), policy, &decisions);
    ASSERT_EQ(decisions.size(), 1u);
    EXPECT_EQ(decisions[0].promoted, c.promoted) << c.support << " of " << c.population << ": " << decisions[0].reason;
    EXPECT_EQ(out.edits.size(), c.promoted ? 1u : 0u);
    EXPECT_EQ(decisions[0].action, c.promoted ? Action::kept : Action::dropped);
  }
  // min_support alone: 5 of 5 is 100%, but below 6 trajectories.
  PrevalencePolicy policy;
  policy.population = 5;
  policy.min_support = 6;
  std::vector<PrevalenceDecision> decisions;
  apply_prevalence(make_patch({append("## Formulas", "- x", ids(5))}), spreadsheet_skill(), policy, &decisions);
  EXPECT_FALSE(decisions.at(0).promoted);
}

TEST(Prevalence, ThePopulationComesFromThePolicyOrTheRootAndMustBeKnown) {
  const Patch root = make_patch({append("## Formulas", "- x", ids(2))}, 50);
  std::vector<PrevalenceDecision> decisions;
  apply_prevalence(root, spreadsheet_skill(), {}, &decisions);
  EXPECT_TRUE(decisions.at(0).promoted) << decisions[0].reason;  // 2 of 50
  PrevalencePolicy policy;
  policy.population = 100;
  apply_prevalence(root, spreadsheet_skill(), policy, &decisions);
  EXPECT_FALSE(decisions.at(0).promoted) << decisions[0].reason;  // 2 of 100
  EXPECT_THROW(apply_prevalence(make_patch({append("## Formulas", "- x", ids(2))}), spreadsheet_skill(), {}),
               t2s::InputError);
  policy.references_file = "notes/rare.md";
  EXPECT_THROW(apply_prevalence(root, spreadsheet_skill(), policy), t2s::InputError);
  policy.references_file = "references/../SKILL.md";
  EXPECT_THROW(apply_prevalence(root, spreadsheet_skill(), policy), t2s::InputError);
}

TEST(Prevalence, RareEditsMoveToANewReferencesFileThatSkillMdLinks) {
  const Patch root = make_patch(
      {append("## Formulas", "- Keep formulas as formulas when you copy them down.", ids(5)),
       append("## Formulas",
              "- Pivot caches go stale: see [formula pitfalls](references/formulas.md) and run "
              "[recalc](scripts/recalc.py).",
              ids(1, "a")),
       add_section("## Pivot tables", "Pivot tables survive a save.\n\n### Refreshing\n\n- Refresh them after editing.",
                   ids(2, "b"), "## Charts"),
       delete_section("## Charts", ids(1, "c")),
       replace("- Never change column widths or fonts unless the task asks.",
               "- Never change column widths, fonts or colours unless the task asks.", ids(1, "d")),
       replace("description: Edit .xlsx workbooks", "description: Edit Excel workbooks", ids(1, "e"))},
      100);
  std::vector<PrevalenceDecision> decisions;
  const Patch out = apply_prevalence(root, spreadsheet_skill(), {}, &decisions);
  ASSERT_EQ(decisions.size(), 6u);
  EXPECT_EQ(decisions[0].action, Action::kept);
  EXPECT_TRUE(decisions[0].promoted);
  EXPECT_EQ(decisions[1].action, Action::moved);
  EXPECT_EQ(decisions[2].action, Action::moved);
  EXPECT_EQ(decisions[3].action, Action::dropped);  // a rare removal: nothing to move
  EXPECT_NE(decisions[3].reason.find("only removes"), std::string::npos) << decisions[3].reason;
  EXPECT_EQ(decisions[4].action, Action::moved);
  EXPECT_EQ(decisions[5].action, Action::dropped);  // the frontmatter is not a lesson
  for (const auto& d : decisions) EXPECT_FALSE(d.reason.empty());

  ASSERT_EQ(out.edits.size(), 3u);
  EXPECT_EQ(out.edits[0].content, root.edits[0].content);
  EXPECT_EQ(out.edits[0].support, root.edits[0].support);
  EXPECT_EQ(out.edits[1].op, Op::create);
  EXPECT_EQ(out.edits[1].file, "references/observed-rarely.md");
  EXPECT_EQ(out.edits[1].support, (Ids{"a100", "b100", "b101", "d100"}));  // the union of what it holds
  EXPECT_EQ(out.edits[2].file, "SKILL.md");
  EXPECT_EQ(out.edits[2].op, Op::add_section);
  EXPECT_NE(out.edits[2].content.find("(references/observed-rarely.md)"), std::string::npos);
  EXPECT_TRUE(applies_and_validates(out));

  const auto rare = output_file(out, "references/observed-rarely.md");
  EXPECT_NE(rare.find("**Under \"Formulas\"** (seen in 1 of 100 trajectories)"), std::string::npos) << rare;
  EXPECT_NE(rare.find("[formula pitfalls](formulas.md)"), std::string::npos) << rare;  // links still hold
  EXPECT_NE(rare.find("[recalc](../scripts/recalc.py)"), std::string::npos) << rare;
  EXPECT_NE(rare.find("**Section \"Pivot tables\"** (seen in 2 of 100 trajectories)"), std::string::npos) << rare;
  EXPECT_NE(rare.find("**Refreshing**"), std::string::npos) << rare;  // a heading no more
  EXPECT_EQ(rare.find("### Refreshing"), std::string::npos) << rare;
  EXPECT_NE(rare.find("**In place of \"- Never change column widths or fonts unless the task asks.\"**"),
            std::string::npos)
      << rare;
  const auto skill_md = output_file(out, "SKILL.md");
  EXPECT_NE(skill_md.find("## Rarely observed"), std::string::npos);
  EXPECT_EQ(skill_md.find("Pivot"), std::string::npos) << "rare material stays out of SKILL.md";
}

TEST(Prevalence, AnExistingReferencesFileIsAppendedToEntryByEntry) {
  auto skill = spreadsheet_skill();
  auto& md = skill.files.at("SKILL.md").bytes;
  const std::string intro = "Work on a copy of the input workbook and write the answer to the path the task names.\n";
  md.replace(md.find(intro), intro.size(), intro + "\nSome lessons are [observed rarely](references/observed-rarely.md).\n");
  skill.files["references/observed-rarely.md"] = {"# Observed rarely\n\n**Earlier** (seen in 1 of 40 trajectories)\n\n- Old.\n", false};
  ASSERT_TRUE(applies_and_validates(Patch{}, skill));

  PrevalencePolicy policy;
  policy.population = 100;
  const Patch root = make_patch({append("## Formulas", "- Rare one.", ids(1, "a")),
                                 append("## Formatting", "- Rare two.", ids(2, "b")),
                                 append("## Formatting", "- Common.", ids(4, "c"))});
  std::vector<PrevalenceDecision> decisions;
  const Patch out = apply_prevalence(root, skill, policy, &decisions);
  ASSERT_EQ(out.edits.size(), 3u);
  EXPECT_EQ(out.edits[0].content, "- Common.");
  for (std::size_t i = 1; i < 3; ++i) {
    EXPECT_EQ(out.edits[i].file, "references/observed-rarely.md");
    EXPECT_EQ(out.edits[i].op, Op::append_to_section);
    EXPECT_EQ(out.edits[i].target_section, "# Observed rarely");
  }
  EXPECT_EQ(out.edits[1].support, (Ids{"a100"}));  // each entry keeps its own support
  EXPECT_EQ(out.edits[2].support, (Ids{"b100", "b101"}));
  EXPECT_TRUE(applies_and_validates(out, skill));
  const auto rare = output_file(out, "references/observed-rarely.md", skill);
  EXPECT_LT(rare.find("- Old."), rare.find("- Rare one."));
  EXPECT_LT(rare.find("- Rare one."), rare.find("- Rare two."));
}

TEST(Prevalence, DropModeLeavesRareEditsOut) {
  PrevalencePolicy policy;
  policy.population = 100;
  policy.rare = PrevalencePolicy::Rare::drop;
  const Patch root = make_patch({append("## Formulas", "- Rare.", ids(1)), append("## Formulas", "- Common.", ids(3)),
                                 add_section("## Pivot tables", "- Rare too.", ids(2))});
  std::vector<PrevalenceDecision> decisions;
  const Patch out = apply_prevalence(root, spreadsheet_skill(), policy, &decisions);
  ASSERT_EQ(out.edits.size(), 1u);
  EXPECT_EQ(out.edits[0].content, "- Common.");
  EXPECT_EQ(decisions[0].action, Action::dropped);
  EXPECT_EQ(decisions[2].action, Action::dropped);
  EXPECT_TRUE(applies_and_validates(out));
}

TEST(Prevalence, AReferenceOnlyRareEditsLinkedStaysLinkedOrGoesWithThem) {
  const Patch root = make_patch({create("references/pivots.md", "# Pivot tables\n\n- Refresh them after editing.\n", ids(1)),
                                 append("## Charts", "- Pivot tables: read [pivots](references/pivots.md).", ids(1)),
                                 append("## Formulas", "- Common.", ids(3, "c"))},
                                100);
  ASSERT_TRUE(applies_and_validates(root));
  std::vector<PrevalenceDecision> decisions;
  const Patch kept = apply_prevalence(root, spreadsheet_skill(), {}, &decisions);
  EXPECT_EQ(decisions[0].action, Action::kept);  // a reference file: read on demand
  EXPECT_EQ(decisions[1].action, Action::moved);
  EXPECT_TRUE(applies_and_validates(kept));
  ASSERT_FALSE(kept.edits.empty());
  const auto& pointer = kept.edits.back();
  EXPECT_EQ(pointer.file, "SKILL.md");
  EXPECT_NE(pointer.content.find("(references/pivots.md)"), std::string::npos) << pointer.content;
  EXPECT_NE(output_file(kept, "references/observed-rarely.md").find("[pivots](pivots.md)"), std::string::npos);

  PrevalencePolicy drop;
  drop.rare = PrevalencePolicy::Rare::drop;
  const Patch dropped = apply_prevalence(root, spreadsheet_skill(), drop, &decisions);
  ASSERT_EQ(dropped.edits.size(), 1u);
  EXPECT_EQ(dropped.edits[0].content, "- Common.");
  EXPECT_EQ(decisions[0].action, Action::dropped);
  EXPECT_NE(decisions[0].reason.find("only rare edits linked"), std::string::npos) << decisions[0].reason;
  EXPECT_TRUE(applies_and_validates(dropped));
}

TEST(Prevalence, APromotedEditThatNeededARareOneIsDemotedWithTheReason) {
  // A common deletion of a reference needs its rare unlinking edit, which moves out of SKILL.md.
  const Patch root = make_patch({make_edit(Op::delete_file, "references/charts.md", {}, {}, {}, ids(5)),
                                 replace("Charts are lost when openpyxl saves a workbook; read [chart notes](references/charts.md) before touching a sheet that has one.",
                                         "Charts are lost when openpyxl saves a workbook.", ids(1))},
                                100);
  ASSERT_TRUE(applies_and_validates(root));
  std::vector<PrevalenceDecision> decisions;
  const Patch out = apply_prevalence(root, spreadsheet_skill(), {}, &decisions);
  ASSERT_EQ(decisions.size(), 2u);
  EXPECT_EQ(decisions[1].action, Action::moved);
  EXPECT_EQ(decisions[0].action, Action::dropped);
  EXPECT_FALSE(decisions[0].promoted);
  EXPECT_NE(decisions[0].reason.find("then dropped"), std::string::npos) << decisions[0].reason;
  EXPECT_TRUE(applies_and_validates(out));
}

TEST(Prevalence, TheReferencesFileKeepsItsBudgetByDroppingTheLeastSupported) {
  PrevalencePolicy policy;
  policy.population = 1000;
  policy.reference_budget = {11, 0, 0};  // the header (3 lines) and two entries (4 lines each)
  const Patch root = make_patch({append("## Formulas", "- Seen twice.", ids(2, "a")),
                                 append("## Formulas", "- Seen once.", ids(1, "b")),
                                 append("## Formatting", "- Seen three times.", ids(3, "c")),
                                 append("## Charts", "- Also seen once.", ids(1, "d"))});
  std::vector<PrevalenceDecision> decisions;
  const Patch out = apply_prevalence(root, spreadsheet_skill(), policy, &decisions);
  EXPECT_EQ(decisions[0].action, Action::moved);
  EXPECT_EQ(decisions[1].action, Action::dropped);  // support 1, next
  EXPECT_EQ(decisions[2].action, Action::moved);
  EXPECT_EQ(decisions[3].action, Action::dropped);  // support 1: the later one goes first
  EXPECT_NE(decisions[3].reason.find("would exceed its budget (19 lines, budget 11)"), std::string::npos)
      << decisions[3].reason;
  EXPECT_NE(decisions[1].reason.find("would exceed its budget (15 lines"), std::string::npos) << decisions[1].reason;
  t2s::skill::ApplyOptions options;
  options.budgets.reference = policy.reference_budget;
  const auto result = t2s::skill::apply_patch(spreadsheet_skill(), "spreadsheet-edit", out, options);
  EXPECT_TRUE(result.ok) << t2s::skill::format_apply_result(result, out);
  EXPECT_EQ(t2s::skill::split_lines(*result.skill.text("references/observed-rarely.md")).size(), 11u);
}
