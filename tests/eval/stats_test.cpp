// eval statistics: McNemar's exact test against values computed independently, the bootstrap over
// tasks (determinism, coverage, width against theory, clustering), missing units, paired counts.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>

#include "t2s/core/error.hpp"
#include "t2s/eval/stats.hpp"

namespace t2s::eval {
namespace {

// `tasks` tasks ("t0", "t1", ...) of `attempts` attempts each, scored by score_of(task, attempt).
std::vector<Unit> make_units(int tasks, int attempts, const std::function<std::optional<double>(int, int)>& score_of,
                             const std::string& prefix = "t") {
  std::vector<Unit> units;
  for (int t = 0; t < tasks; ++t)
    for (int a = 0; a < attempts; ++a) units.push_back({prefix + std::to_string(t), a, score_of(t, a)});
  return units;
}

double width(const Interval& interval) { return interval.high - interval.low; }

// ------------------------------------------------------------------------------------ McNemar

// Expected values: python3, exact rationals:
//   from math import comb; from fractions import Fraction
//   p = lambda b, c: float(min(1, 2 * Fraction(sum(comb(b + c, i) for i in range(min(b, c) + 1)), 2 ** (b + c))))
TEST(McNemar, MatchesExactBinomialValues) {
  // lgamma of large arguments carries an absolute error of about one ulp (7e-12 at n = 6200), which
  // becomes the relative error of the p-value: far below anything a p-value is read for.
  const auto expect_p = [](std::uint64_t b, std::uint64_t c, double expected) {
    EXPECT_NEAR(mcnemar_exact_p(b, c), expected, 1e-10 * expected) << "b=" << b << " c=" << c;
  };
  expect_p(1, 9, 0.021484375);  // 2 * 11 / 1024
  expect_p(9, 1, 0.021484375);  // symmetric
  expect_p(4, 6, 0.75390625);
  expect_p(0, 20, 1.9073486328125e-06);  // 2 / 2^20
  expect_p(400, 460, 0.04416954819458901);
  expect_p(3000, 3200, 0.011488253770871206);
}

TEST(McNemar, NoEvidenceGivesOne) {
  EXPECT_EQ(mcnemar_exact_p(0, 0), 1.0);  // no discordant pairs
  EXPECT_EQ(mcnemar_exact_p(5, 5), 1.0);  // 2 * P[X <= 5] = 2 * 638/1024 > 1, capped
  EXPECT_EQ(mcnemar_exact_p(0, 1), 1.0);
}

TEST(McNemar, StableForLargeCounts) {
  // Normal approximation with continuity correction (python3: math.erfc((300 - 1) / sqrt(200300) / sqrt(2)))
  // is within about 1e-3 of the exact value at this size.
  EXPECT_NEAR(mcnemar_exact_p(100000, 100300), 0.5040803252394103, 2e-3);
  // 2 / 2^2000 underflows: zero, never NaN or infinity.
  const double tiny = mcnemar_exact_p(0, 2000);
  EXPECT_FALSE(std::isnan(tiny));
  EXPECT_GE(tiny, 0.0);
  EXPECT_LT(tiny, 1e-300);
}

// ------------------------------------------------------------------------------------ one condition

TEST(Summarize, MissingUnitsAreLeftOutAndCounted) {
  const std::vector<Unit> units = {
      {"t1", 0, 1.0}, {"t1", 1, std::nullopt},           // t1: 1 (the missing attempt is no failure)
      {"t2", 0, 0.0}, {"t2", 1, 0.0},                    // t2: 0
      {"t3", 0, std::nullopt}, {"t3", 1, std::nullopt},  // t3: left out
      {"t4", 0, 1.0}, {"t4", 1, 0.0},                    // t4: 0.5
  };
  const RateSummary s = summarize(units);
  EXPECT_EQ(s.units, 8u);
  EXPECT_EQ(s.passed, 2u);
  EXPECT_EQ(s.failed, 3u);
  EXPECT_EQ(s.missing, 3u);
  EXPECT_EQ(s.tasks, 3u);
  EXPECT_EQ(s.tasks_all_missing, 1u);
  EXPECT_DOUBLE_EQ(s.rate, 0.5);  // (1 + 0 + 0.5) / 3
}

TEST(Summarize, SoftScoresCountInTheRateButDoNotPass) {
  const RateSummary s = summarize({{"t1", 0, 0.25}, {"t2", 0, 1.0}, {"t3", 0, 0.75}});
  EXPECT_EQ(s.passed, 1u);
  EXPECT_EQ(s.failed, 2u);
  EXPECT_DOUBLE_EQ(s.rate, 2.0 / 3.0);
}

TEST(Summarize, AllMissingHasNoRate) {
  const RateSummary s = summarize(make_units(3, 2, [](int, int) { return std::nullopt; }));
  EXPECT_EQ(s.tasks, 0u);
  EXPECT_EQ(s.tasks_all_missing, 3u);
  EXPECT_EQ(s.missing, 6u);
  EXPECT_TRUE(std::isnan(s.rate));
  EXPECT_TRUE(std::isnan(s.interval.low));
  EXPECT_TRUE(std::isnan(s.interval.high));
}

TEST(Summarize, AllPassGivesTheDegenerateInterval) {
  const RateSummary pass = summarize(make_units(20, 3, [](int, int) { return 1.0; }));
  EXPECT_EQ(pass.rate, 1.0);
  EXPECT_EQ(pass.interval.low, 1.0);
  EXPECT_EQ(pass.interval.high, 1.0);
  const RateSummary fail = summarize(make_units(20, 3, [](int, int) { return 0.0; }));
  EXPECT_EQ(fail.interval.low, 0.0);
  EXPECT_EQ(fail.interval.high, 0.0);
}

// A benchmark of 50 tasks with a spread of per-task difficulty, 3 attempts each.
std::vector<Unit> mixed_units(int tasks = 50) {
  return make_units(tasks, 3, [](int t, int a) { return (t * 7 + a * 3) % 10 < 4 + t % 3 ? 1.0 : 0.0; });
}

TEST(Bootstrap, DeterministicForASeedAndIndependentOfInputOrder) {
  // Soft scores, so that resampled means take many values and a new seed moves the interval ends.
  const auto units = make_units(60, 2, [](int t, int a) { return ((t * 37 + a * 11) % 100) / 100.0; });
  BootstrapOptions options;
  options.seed = 42;
  const RateSummary first = summarize(units, options), again = summarize(units, options);
  EXPECT_EQ(first.interval.low, again.interval.low);
  EXPECT_EQ(first.interval.high, again.interval.high);

  auto shuffled = units;
  std::reverse(shuffled.begin(), shuffled.end());
  std::rotate(shuffled.begin(), shuffled.begin() + 17, shuffled.end());
  const RateSummary reordered = summarize(shuffled, options);
  EXPECT_EQ(reordered.interval.low, first.interval.low);
  EXPECT_EQ(reordered.interval.high, first.interval.high);

  options.seed = 43;
  const RateSummary other = summarize(units, options);
  EXPECT_TRUE(other.interval.low != first.interval.low || other.interval.high != first.interval.high);
  EXPECT_NEAR(other.interval.low, first.interval.low, 0.02);  // 10,000 resamples: little Monte Carlo noise
  EXPECT_NEAR(other.interval.high, first.interval.high, 0.02);
}

TEST(Bootstrap, IntervalContainsTheEstimateAndGrowsWithConfidence) {
  const auto units = mixed_units();
  const RateSummary s95 = summarize(units);
  EXPECT_LT(s95.interval.low, s95.rate);
  EXPECT_GT(s95.interval.high, s95.rate);
  EXPECT_EQ(s95.interval.confidence, 0.95);
  BootstrapOptions options;
  options.confidence = 0.5;
  const RateSummary s50 = summarize(units, options);
  EXPECT_LT(width(s50.interval), 0.6 * width(s95.interval));  // normal theory: 0.674 / 1.96 = 0.34
  EXPECT_EQ(s50.interval.confidence, 0.5);
}

TEST(Bootstrap, WidthMatchesTheBinomialStandardError) {
  // 100 tasks, half passed: standard error sqrt(0.25 / 100) = 0.05, so the 95% interval spans about
  // 2 * 1.96 * 0.05 = 0.196.
  const RateSummary s = summarize(make_units(100, 1, [](int t, int) { return t % 2 ? 1.0 : 0.0; }));
  EXPECT_DOUBLE_EQ(s.rate, 0.5);
  EXPECT_NEAR(width(s.interval), 0.196, 0.02);
}

TEST(Bootstrap, ShrinksAsOneOverSqrtOfTheTasks) {
  const auto units = mixed_units(30);
  std::vector<Unit> replicated;  // the same 30 tasks, four times over under new ids
  for (int r = 0; r < 4; ++r)
    for (auto unit : units) {
      unit.task_id += "#" + std::to_string(r);
      replicated.push_back(unit);
    }
  const RateSummary base = summarize(units), large = summarize(replicated);
  EXPECT_DOUBLE_EQ(large.rate, base.rate);
  const double ratio = width(base.interval) / width(large.interval);
  EXPECT_GT(ratio, 1.7);  // sqrt(4) = 2
  EXPECT_LT(ratio, 2.3);
}

TEST(Bootstrap, ResamplesTasksNotAttempts) {
  // Two attempts that always agree carry the information of one: resampling tasks gives an interval
  // sqrt(2) wider than pretending the 80 attempts were independent tasks.
  const auto pass = [](int t, int) -> std::optional<double> { return t % 2 ? 1.0 : 0.0; };
  const RateSummary clustered = summarize(make_units(40, 2, pass));
  std::vector<Unit> independent;
  for (const auto& unit : make_units(40, 2, pass))
    independent.push_back({unit.task_id + "/" + std::to_string(unit.attempt), 0, unit.score});
  const RateSummary per_unit = summarize(independent);
  EXPECT_DOUBLE_EQ(clustered.rate, per_unit.rate);
  const double ratio = width(clustered.interval) / width(per_unit.interval);
  EXPECT_GT(ratio, 1.25);
  EXPECT_LT(ratio, 1.6);
}

TEST(Summarize, RejectsBadInput) {
  EXPECT_THROW(summarize({{"t1", 0, 1.5}}), InputError);
  EXPECT_THROW(summarize({{"t1", 0, -0.1}}), InputError);
  EXPECT_THROW(summarize({{"t1", 0, std::nan("")}}), InputError);
  try {
    summarize({{"t1", 0, 1.0}, {"t2", 0, 1.0}, {"t1", 0, 0.0}});
    FAIL() << "a unit given twice was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("task 't1' attempt 0"), std::string::npos) << e.what();
  }
  BootstrapOptions options;
  options.resamples = 0;
  EXPECT_THROW(summarize({{"t1", 0, 1.0}}, options), InputError);
  options = {};
  options.confidence = 1;
  EXPECT_THROW(summarize({{"t1", 0, 1.0}}, options), InputError);
}

// ------------------------------------------------------------------------------------ comparisons

TEST(Compare, CountsPairsAndExcludesMissingOrUnmatchedUnits) {
  const std::vector<Unit> a = {{"t0", 0, 1.0}, {"t1", 0, 1.0}, {"t2", 0, 0.0},
                               {"t3", 0, 0.0}, {"t4", 0, std::nullopt}, {"t5", 0, 1.0}};
  const std::vector<Unit> b = {{"t0", 0, 1.0}, {"t1", 0, 0.0}, {"t2", 0, 1.0},
                               {"t3", 0, 0.0}, {"t4", 0, 1.0}, {"t5", 0, std::nullopt}, {"t6", 0, 1.0}};
  const PairedComparison c = compare(a, b);
  EXPECT_EQ(c.pairs, 4u);
  EXPECT_EQ(c.both, 1u);     // t0
  EXPECT_EQ(c.a_only, 1u);   // t1
  EXPECT_EQ(c.b_only, 1u);   // t2
  EXPECT_EQ(c.neither, 1u);  // t3
  EXPECT_EQ(c.excluded, 3u);  // t4 missing in A, t5 missing in B, t6 only in B
  EXPECT_EQ(c.tasks, 4u);
  EXPECT_DOUBLE_EQ(c.rate_a, 0.5);
  EXPECT_DOUBLE_EQ(c.rate_b, 0.5);
  EXPECT_DOUBLE_EQ(c.difference, 0.0);
  EXPECT_EQ(c.mcnemar_p, 1.0);
}

TEST(Compare, RatesAreOnThePairedAttemptsOnly) {
  // A's second attempt of t0 failed, but B's is missing: only attempt 0 of t0 is compared.
  const std::vector<Unit> a = {{"t0", 0, 1.0}, {"t0", 1, 0.0}, {"t1", 0, 0.0}};
  const std::vector<Unit> b = {{"t0", 0, 1.0}, {"t0", 1, std::nullopt}, {"t1", 0, 0.5}};
  const PairedComparison c = compare(a, b);
  EXPECT_EQ(c.pairs, 2u);
  EXPECT_EQ(c.excluded, 1u);
  EXPECT_DOUBLE_EQ(c.rate_a, 0.5);   // (1 + 0) / 2
  EXPECT_DOUBLE_EQ(c.rate_b, 0.75);  // (1 + 0.5) / 2
  EXPECT_DOUBLE_EQ(c.difference, 0.25);
  EXPECT_EQ(c.neither, 1u);  // 0.5 is not a pass
}

TEST(Compare, ClearImprovementIsSignificantByBothTests) {
  // B fixes 30 of the 50 tasks A fails and breaks none.
  const auto a = make_units(50, 1, [](int t, int) { return t < 10 ? 1.0 : 0.0; });
  const auto b = make_units(50, 1, [](int t, int) { return t < 40 ? 1.0 : 0.0; });
  const PairedComparison c = compare(a, b);
  EXPECT_EQ(c.b_only, 30u);
  EXPECT_EQ(c.a_only, 0u);
  EXPECT_DOUBLE_EQ(c.difference, 0.6);
  EXPECT_GT(c.difference_interval.low, 0.4);
  EXPECT_LT(c.difference_interval.high, 0.8);
  EXPECT_LE(c.difference_interval.low, c.difference);
  EXPECT_GE(c.difference_interval.high, c.difference);
  EXPECT_DOUBLE_EQ(c.mcnemar_p, std::ldexp(2.0, -30));   // 2 * 0.5^30
  EXPECT_DOUBLE_EQ(c.bootstrap_p, 2.0 / 10'001);          // no resample reaches 0: the floor
  // The reverse comparison mirrors it.
  const PairedComparison reverse = compare(b, a);
  EXPECT_DOUBLE_EQ(reverse.difference, -0.6);
  EXPECT_EQ(reverse.a_only, 30u);
  EXPECT_DOUBLE_EQ(reverse.mcnemar_p, c.mcnemar_p);
  EXPECT_DOUBLE_EQ(reverse.bootstrap_p, c.bootstrap_p);
}

TEST(Compare, IdenticalConditionsShowNoDifference) {
  const auto units = mixed_units();
  const PairedComparison c = compare(units, units);
  EXPECT_EQ(c.a_only + c.b_only, 0u);
  EXPECT_EQ(c.difference, 0.0);
  EXPECT_EQ(c.difference_interval.low, 0.0);
  EXPECT_EQ(c.difference_interval.high, 0.0);
  EXPECT_EQ(c.bootstrap_p, 1.0);
  EXPECT_EQ(c.mcnemar_p, 1.0);
}

TEST(Compare, NoiseIsNotSignificant) {
  // B breaks 3 of A's passes and fixes 5 of its failures.
  const auto a = make_units(50, 1, [](int t, int) { return t < 25 ? 1.0 : 0.0; });
  const auto b = make_units(50, 1, [](int t, int) { return t >= 3 && t < 30 ? 1.0 : 0.0; });
  const PairedComparison c = compare(a, b);
  EXPECT_EQ(c.a_only, 3u);
  EXPECT_EQ(c.b_only, 5u);
  EXPECT_DOUBLE_EQ(c.difference, 0.04);
  EXPECT_LT(c.difference_interval.low, 0.0);
  EXPECT_GT(c.difference_interval.high, 0.0);
  EXPECT_GT(c.bootstrap_p, 0.3);
  EXPECT_NEAR(c.mcnemar_p, 0.7265625, 1e-12);  // python3: 2 * sum(comb(8, i) for i in range(4)) / 2**8
}

TEST(Compare, PairedBootstrapResamplesTasks) {
  // B is better on half of the tasks, on both (agreeing) attempts: the interval over tasks is about
  // sqrt(2) wider than one over 2 x 40 independent units.
  const auto a = make_units(40, 2, [](int, int) { return 0.0; });
  const auto b = make_units(40, 2, [](int t, int) { return t % 2 ? 1.0 : 0.0; });
  const auto split = [](std::vector<Unit> units) {
    for (auto& unit : units) unit = {unit.task_id + "/" + std::to_string(unit.attempt), 0, unit.score};
    return units;
  };
  const PairedComparison clustered = compare(a, b), per_unit = compare(split(a), split(b));
  EXPECT_EQ(clustered.b_only, per_unit.b_only);
  EXPECT_DOUBLE_EQ(clustered.mcnemar_p, per_unit.mcnemar_p);  // McNemar cannot see the clustering
  const double ratio = width(clustered.difference_interval) / width(per_unit.difference_interval);
  EXPECT_GT(ratio, 1.25);
  EXPECT_LT(ratio, 1.6);
}

TEST(Compare, NothingInCommon) {
  const auto a = make_units(5, 1, [](int, int) { return 1.0; });
  const auto b = make_units(5, 1, [](int, int) { return std::nullopt; });
  const PairedComparison c = compare(a, b);
  EXPECT_EQ(c.pairs, 0u);
  EXPECT_EQ(c.excluded, 5u);
  EXPECT_TRUE(std::isnan(c.difference));
  EXPECT_TRUE(std::isnan(c.difference_interval.low));
  EXPECT_TRUE(std::isnan(c.bootstrap_p));
  EXPECT_EQ(c.mcnemar_p, 1.0);
}

TEST(Compare, NamesTheConditionOfABadUnit) {
  try {
    compare({{"t1", 0, 1.0}}, {{"t1", 0, 2.0}});
    FAIL() << "a score of 2 was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("condition B"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace t2s::eval
