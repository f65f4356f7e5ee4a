// analyze/stratified: is a feature of a run associated with its success *within* strata (tasks)?
// A feature that only hard tasks show looks like a cause of failure when runs are pooled; comparing
// runs of the same task removes that confounding. The evidence of one feature is a multiset of 2×2
// tables, one per stratum (how many strata had each table): integer counts, so sums over shards and
// ranks are exact and the result does not depend on the order they arrive in.
//
// - associate(): the exact conditional test of no association given every stratum's margins (the
//   convolution of the strata's hypergeometric distributions; Mantel–Haenszel's chi-square with
//   continuity correction when that distribution is too wide to enumerate), with the
//   Mantel–Haenszel odds ratio and risk difference as the effect, and the pooled counts of the
//   informative strata for people to read.
// - benjamini_hochberg(): q-values controlling the false discovery rate over many features.
//
// Only informative strata count: at least one run with and one without the feature, at least one
// success and one failure. The others carry no information about the association (their exact
// distribution is a point) and contribute nothing to any statistic here.
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <vector>

namespace t2s::analyze {

// One stratum: n runs, m of them succeeded, k of them have the feature, a of those succeeded.
struct Table {
  std::uint32_t n = 0, m = 0, k = 0, a = 0;
  auto operator<=>(const Table&) const = default;
  bool informative() const { return n >= 2 && m > 0 && m < n && k > 0 && k < n; }
  bool valid() const { return m <= n && k <= n && a <= k && a <= m && k + m <= n + a; }
};

// table → number of strata that had it
using TableCounts = std::map<Table, std::uint64_t>;

struct Association {
  double p_value = 1.0;         // two-sided, of the null "no association within strata"
  bool exact = true;            // false: Mantel–Haenszel chi-square (distribution too wide)
  double odds_ratio = 1.0;      // Mantel–Haenszel; +inf when no stratum opposes the feature
  double risk_difference = 0.0; // Mantel–Haenszel: P(success | feature) − P(success | no feature)
  std::uint64_t strata = 0;     // informative strata
  // pooled over the informative strata
  std::uint64_t with_runs = 0, with_successes = 0, without_runs = 0, without_successes = 0;
};

// Tables that are not valid are a programming error (std::invalid_argument).
Association associate(const TableCounts& tables);

// The two-sided exact test is done when the sum of the strata's ranges is at most this.
constexpr std::uint64_t kMaxExactRange = 1000;

// q-values (Benjamini–Hochberg step-up), in the order of `p_values`.
std::vector<double> benjamini_hochberg(const std::vector<double>& p_values);

}  // namespace t2s::analyze
