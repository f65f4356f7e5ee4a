// The within-strata association tests against values worked out by hand.
#include <gtest/gtest.h>

#include <cmath>

#include "t2s/analyze/stratified.hpp"

namespace t2s::analyze {
namespace {

TEST(Associate, OneTableIsFishersExactTest) {
  // 10 runs, 5 passed, 5 had the feature and all of them passed: P = 1 / C(10,5) per tail
  const auto a = associate({{Table{10, 5, 5, 5}, 1}});
  EXPECT_TRUE(a.exact);
  EXPECT_NEAR(a.p_value, 2.0 / 252.0, 1e-12);
  EXPECT_EQ(a.strata, 1u);
  EXPECT_EQ(a.with_runs, 5u);
  EXPECT_EQ(a.with_successes, 5u);
  EXPECT_EQ(a.without_successes, 0u);
  EXPECT_DOUBLE_EQ(a.risk_difference, 1.0);
  EXPECT_TRUE(std::isinf(a.odds_ratio));
}

TEST(Associate, StrataWithoutContrastCarryNoEvidence) {
  // all runs failed, or all had the feature, or one run: nothing to compare
  const auto a = associate({{Table{4, 0, 2, 0}, 7}, {Table{4, 2, 4, 2}, 3}, {Table{1, 1, 1, 1}, 50}});
  EXPECT_EQ(a.strata, 0u);
  EXPECT_DOUBLE_EQ(a.p_value, 1.0);
}

TEST(Associate, OppositeStrataCancel) {
  // in one task the feature goes with success, in another equally with failure: no association
  const auto a = associate({{Table{4, 2, 2, 2}, 5}, {Table{4, 2, 2, 0}, 5}});
  EXPECT_EQ(a.strata, 10u);
  EXPECT_DOUBLE_EQ(a.risk_difference, 0.0);
  EXPECT_GT(a.p_value, 0.99);
}

TEST(Associate, ManySmallStrataAddUp) {
  // 12 tasks of 4 runs: the two with the feature pass, the two without fail. Each alone says little
  // (p = 1/3); together the exact p is 2 * (1/6)^12.
  const auto a = associate({{Table{4, 2, 2, 2}, 12}});
  EXPECT_TRUE(a.exact);
  EXPECT_NEAR(a.p_value / (2 * std::pow(1.0 / 6.0, 12)), 1.0, 1e-6);
  EXPECT_DOUBLE_EQ(a.risk_difference, 1.0);
}

TEST(Associate, WideDistributionsUseTheMantelHaenszelTest) {
  const auto a = associate({{Table{40, 20, 20, 14}, 300}});
  EXPECT_FALSE(a.exact);
  EXPECT_LT(a.p_value, 1e-20);
  EXPECT_NEAR(a.risk_difference, 0.4, 1e-12);  // 14/20 − 6/20
  const auto none = associate({{Table{40, 20, 20, 10}, 300}});
  EXPECT_GT(none.p_value, 0.9);
}

TEST(Associate, InconsistentTablesAreRefused) {
  EXPECT_THROW(associate({{Table{4, 2, 2, 3}, 1}}), std::invalid_argument);
}

TEST(BenjaminiHochberg, StepUpQValues) {
  const auto q = benjamini_hochberg({0.01, 0.04, 0.03, 0.5});
  ASSERT_EQ(q.size(), 4u);
  EXPECT_NEAR(q[0], 0.04, 1e-12);
  EXPECT_NEAR(q[1], 0.04 * 4 / 3, 1e-12);
  EXPECT_NEAR(q[2], 0.04 * 4 / 3, 1e-12);  // monotone: never above the next larger p's q
  EXPECT_NEAR(q[3], 0.5, 1e-12);
  EXPECT_TRUE(benjamini_hochberg({}).empty());
}

}  // namespace
}  // namespace t2s::analyze
