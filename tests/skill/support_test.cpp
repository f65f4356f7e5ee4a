// Support sets (skill/support) and how a run's positional support reaches the provenance sidecar.
#include <gtest/gtest.h>

#include "t2s/core/error.hpp"
#include "t2s/skill/patch.hpp"
#include "t2s/skill/provenance.hpp"
#include "t2s/skill/support.hpp"

namespace {

using namespace t2s::skill;
using nlohmann::json;

std::string error_of(const std::string& text) {
  try {
    Support::from_json(json::parse(text), "support");
  } catch (const t2s::InputError& e) {
    return e.what();
  }
  return "";
}

TEST(Support, IdsAndPositionsAreSortedDistinctSetsThatRoundTripThroughJson) {
  const Support ids = Support::from_json(json::parse(R"(["t3", "t1", "t3", "t2"])"), "s");
  EXPECT_FALSE(ids.by_position());
  EXPECT_EQ(ids.ids(), (std::vector<std::string>{"t1", "t2", "t3"}));
  EXPECT_EQ(ids.to_json(), json::parse(R"(["t1", "t2", "t3"])"));

  const Support positions = Support::from_json(json::parse("[9, 2, 9, 4294967295, 0]"), "s");
  EXPECT_TRUE(positions.by_position());
  EXPECT_EQ(positions.positions(), (std::vector<std::uint32_t>{0, 2, 9, 4294967295u}));
  EXPECT_EQ(positions.size(), 4u);
  EXPECT_EQ(positions.member_text(1), "#2");
  EXPECT_EQ(Support::from_json(positions.to_json(), "s"), positions);
  EXPECT_TRUE(Support::from_json(json::array(), "s").empty());
}

TEST(Support, UnionKeepsOneKindAndRefusesToMixThem) {
  EXPECT_EQ((Support{"a", "c"} | Support{"b", "c"}), (Support{"a", "b", "c"}));
  EXPECT_EQ((Support::of_positions({5, 1}) | Support::of_positions({3, 5})), Support::of_positions({1, 3, 5}));
  EXPECT_EQ((Support() | Support::of_positions({7})), Support::of_positions({7}));
  Support mixed{"a"};
  EXPECT_THROW(mixed |= Support::of_positions({1}), t2s::Error);
}

TEST(Support, BadListsAreRefusedNamingTheMember) {
  EXPECT_EQ(error_of(R"("t1")"), "support: must be a list of trajectory ids, not string");
  EXPECT_EQ(error_of(R"(["t1", 2])"), "support[1]: must be a string, not number");
  EXPECT_EQ(error_of(R"(["t1", ""])"), "support[1]: empty trajectory id");
  EXPECT_NE(error_of(R"([1, "t2"])").find("support[1]: must be a trajectory position"), std::string::npos);
  EXPECT_NE(error_of("[1, -2]").find("support[1]: must be a trajectory position"), std::string::npos);
  EXPECT_NE(error_of("[4294967296]").find("support[0]: must be a trajectory position"), std::string::npos);
  EXPECT_NE(error_of("[1.5]").find("support[0]"), std::string::npos);
}

TEST(Support, PatchesCarryPositionsAsIntegers) {
  const Patch patch = read_patch(
      R"({"edits": [{"file": "SKILL.md", "op": "append_to_section", "target_section": "## A", "content": "- x",
                     "support": [12, 3, 12]}]})",
      "p.json");
  EXPECT_EQ(patch.edits[0].support, Support::of_positions({3, 12}));
  EXPECT_EQ(patch_json(patch)["edits"][0]["support"], json::parse("[3, 12]"));
}

TEST(Support, NamePositionsListsTheFirstIdsAndCountsTheRest) {
  Provenance provenance;
  Block big;
  big.file = "SKILL.md";
  big.first_line = big.last_line = 3;
  big.support = Support::of_positions({40, 10, 30, 20});
  Block small = big;
  small.support = Support::of_positions({5});
  Block named = big;
  named.support = Support{"kept-as-is"};
  provenance.blocks = {big, small, named};
  std::vector<std::uint32_t> asked;
  name_positions(provenance, [&](std::uint32_t p) { asked.push_back(p); return "id-" + std::to_string(p); }, 3);

  EXPECT_EQ(provenance.blocks[0].support, (Support{"id-10", "id-20", "id-30"}));  // the first three, in id order
  EXPECT_EQ(provenance.blocks[0].unlisted, 1u);
  EXPECT_EQ(provenance.blocks[0].prevalence(), 4u);
  EXPECT_EQ(provenance.blocks[1].support, (Support{"id-5"}));
  EXPECT_EQ(provenance.blocks[1].unlisted, 0u);
  EXPECT_EQ(provenance.blocks[2].support, (Support{"kept-as-is"}));
  EXPECT_EQ(asked, (std::vector<std::uint32_t>{10, 20, 30, 5}));  // the fourth member's id is never needed

  // the count survives the sidecar: written as prevalence and unlisted, read back
  const json written = block_json(provenance.blocks[0]);
  EXPECT_EQ(written["prevalence"], 4);
  EXPECT_EQ(written["unlisted"], 1);
  EXPECT_FALSE(block_json(provenance.blocks[1]).contains("unlisted"));
  EXPECT_NE(describe(provenance.blocks[0]).find("support 4 [id-10, id-20, id-30, …]"), std::string::npos)
      << describe(provenance.blocks[0]);
}

}  // namespace
