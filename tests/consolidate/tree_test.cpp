#include <gtest/gtest.h>

#include "t2s/consolidate/tree.hpp"
#include "t2s/core/error.hpp"

namespace t2s::consolidate {
namespace {

// Every node of every level has children that tile the level below, in order.
void expect_tiling(const MergeTree& tree) {
  for (std::size_t level = 1; level <= tree.levels(); ++level) {
    std::uint64_t next = 0;
    for (std::uint64_t i = 0; i < tree.nodes(level); ++i) {
      const auto [first, last] = tree.children(level, i);
      EXPECT_EQ(first, next) << MergeTree::node_name(level, i);
      EXPECT_LT(first, last);
      next = last;
    }
    EXPECT_EQ(next, tree.nodes(level - 1)) << "level " << level;
  }
  EXPECT_EQ(tree.nodes(tree.levels()), 1u);
}

TEST(MergeTree, KAryLevelsOverTheLeaves) {
  const MergeTree tree(1000, {5, 0});
  EXPECT_EQ(tree.levels(), 5u);  // 1000 → 200 → 40 → 8 → 2 → 1
  EXPECT_EQ(tree.nodes(1), 200u);
  EXPECT_EQ(tree.nodes(4), 2u);
  EXPECT_EQ(tree.children(1, 3), std::make_pair(std::uint64_t{15}, std::uint64_t{20}));
  EXPECT_EQ(tree.children(4, 1), std::make_pair(std::uint64_t{5}, std::uint64_t{8}));
  EXPECT_EQ(tree.first_leaf(3, 1), 125u);
  expect_tiling(tree);
  for (std::uint64_t n : {1u, 2u, 5u, 6u, 24u, 25u, 26u, 127u}) expect_tiling(MergeTree(n, {5, 0}));
}

TEST(MergeTree, ALevelLimitMergesTheRestAtOnce) {
  const MergeTree tree(1000, {5, 2});
  EXPECT_EQ(tree.levels(), 2u);
  EXPECT_EQ(tree.children(2, 0), std::make_pair(std::uint64_t{0}, std::uint64_t{200}));
  expect_tiling(tree);
}

TEST(MergeTree, OneLeafIsStillMergedAndNoLeafIsNoTree) {
  const MergeTree one(1, {5, 0});
  EXPECT_EQ(one.levels(), 1u);
  EXPECT_EQ(one.children(1, 0), std::make_pair(std::uint64_t{0}, std::uint64_t{1}));
  EXPECT_EQ(MergeTree(0, {5, 0}).levels(), 0u);
  EXPECT_THROW(MergeTree(10, {1, 0}), InputError);
}

TEST(MergeTree, PathsToTheRoot) {
  const MergeTree tree(30, {5, 0});  // 30 → 6 → 2 → 1
  EXPECT_EQ(tree.path_to_root(1, 5), (std::vector<std::string>{"L3/0", "L2/1", "L1/5"}));
  EXPECT_EQ(tree.path_to_root(0, 29), (std::vector<std::string>{"L3/0", "L2/1", "L1/5", "L0/29"}));
}

}  // namespace
}  // namespace t2s::consolidate
