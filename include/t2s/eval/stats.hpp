// eval/stats: the statistics of `t2s eval`, which runs several conditions (no skill, skill A,
// skill B, possibly several models) on the same benchmark tasks and attempts and compares them.
//
// A unit is one (task, attempt). Its outcome in a condition is a score in [0, 1] (1: passed; soft
// checkers give fractions) or missing: an infrastructure error (the model server failed, the
// sandbox could not start) that says nothing about the skill, so it is left out, never counted as
// a failure.
//
// Attempts of one task are not independent (an easy task is passed by most attempts), so every
// bootstrap here resamples TASKS, each carrying all of its attempts; a task's score is the mean
// over its non-missing attempts and a rate is the mean over tasks.
//
// Two tests for "is B different from A", on the units both conditions completed:
// - McNemar's exact test: a binomial test on the discordant pairs (A passed and B did not, or the
//   reverse; pass = score 1). Exact at any sample size, but it treats every pair as independent, so
//   with several correlated attempts per task its p-value is too small. Prefer it with one attempt
//   per task and pass/fail scores, and when there are few discordant pairs.
// - The paired bootstrap: the B - A difference of rates recomputed on resampled tasks. It respects
//   the clustering of attempts within tasks and uses soft scores as they are, but it is an
//   approximation that needs a fair number of tasks (some 20 or more), and its p-value cannot go
//   below about 2 / (resamples + 1). Prefer it with several attempts per task or soft scores.
//
// Everything is deterministic: results depend only on the units (not their order) and the seed.
// The generator is std::mt19937_64, whose output the standard specifies, with our own mapping to
// an index (standard distributions differ between library implementations).
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace t2s::eval {

// One (task, attempt) outcome of one condition.
struct Unit {
  std::string task_id;
  int attempt = 0;
  std::optional<double> score;  // in [0, 1]; empty: missing (infrastructure error)
};

struct BootstrapOptions {
  int resamples = 10'000;
  double confidence = 0.95;  // of the intervals, in (0, 1)
  std::uint64_t seed = 0;
};

// A bootstrap percentile interval; NaN ends when there was nothing to resample.
struct Interval {
  double low = std::numeric_limits<double>::quiet_NaN();
  double high = std::numeric_limits<double>::quiet_NaN();
  double confidence = 0.95;
};

// One condition on its own.
struct RateSummary {
  std::size_t units = 0;    // every (task, attempt) given
  std::size_t passed = 0;   // score 1
  std::size_t failed = 0;   // score below 1 (soft scores included)
  std::size_t missing = 0;
  std::size_t tasks = 0;              // tasks with a non-missing attempt: the ones the rate averages
  std::size_t tasks_all_missing = 0;  // tasks left out of the rate
  double rate = std::numeric_limits<double>::quiet_NaN();  // mean over tasks of the mean score
  Interval interval;                                       // bootstrap over tasks
};

// A versus B on the units both completed (a unit missing in either, or given for one only, is
// excluded and counted).
struct PairedComparison {
  std::size_t pairs = 0;
  std::size_t a_only = 0;   // A passed, B did not
  std::size_t b_only = 0;   // B passed, A did not
  std::size_t both = 0;
  std::size_t neither = 0;
  std::size_t excluded = 0;  // (task, attempt)s given for either condition that form no pair
  std::size_t tasks = 0;     // tasks with at least one pair
  // Rates on the paired units only (mean over tasks of the mean paired score); NaN without pairs.
  double rate_a = std::numeric_limits<double>::quiet_NaN();
  double rate_b = std::numeric_limits<double>::quiet_NaN();
  double difference = std::numeric_limits<double>::quiet_NaN();  // rate_b - rate_a
  Interval difference_interval;                                   // paired bootstrap over tasks
  double mcnemar_p = 1;                                            // exact, two-sided
  double bootstrap_p = std::numeric_limits<double>::quiet_NaN();  // two-sided; NaN without pairs
};

// InputError for a score outside [0, 1] or a (task, attempt) given twice, naming the unit; and for
// options out of range.
RateSummary summarize(const std::vector<Unit>& units, const BootstrapOptions& options = {});
PairedComparison compare(const std::vector<Unit>& a, const std::vector<Unit>& b, const BootstrapOptions& options = {});

// McNemar's exact two-sided p-value for b and c discordant pairs: min(1, 2 P[X <= min(b, c)]) with
// X ~ Binomial(b + c, 1/2); 1 when b + c = 0. Computed in log space, accurate for large counts.
double mcnemar_exact_p(std::uint64_t b, std::uint64_t c);

}  // namespace t2s::eval
