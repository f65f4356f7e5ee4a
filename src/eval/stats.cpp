#include "t2s/eval/stats.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <utility>

#include "t2s/core/error.hpp"

namespace t2s::eval {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

using UnitKey = std::pair<std::string, int>;  // (task id, attempt); std::map keeps them in task order
using Scores = std::map<UnitKey, std::optional<double>>;

std::string describe(const UnitKey& key, const std::string& condition) {
  std::string text = "task '" + key.first + "' attempt " + std::to_string(key.second);
  return condition.empty() ? text : condition + ": " + text;
}

// The units by (task, attempt), checked. Keyed so that results never depend on the input order.
Scores index_units(const std::vector<Unit>& units, const std::string& condition) {
  Scores scores;
  for (const auto& unit : units) {
    UnitKey key{unit.task_id, unit.attempt};
    if (unit.score && !(*unit.score >= 0 && *unit.score <= 1))  // also rejects NaN
      throw InputError("eval: " + describe(key, condition) + " has score " + std::to_string(*unit.score) +
                       ", outside [0, 1]");
    if (!scores.emplace(key, unit.score).second)
      throw InputError("eval: " + describe(key, condition) + " is given twice");
  }
  return scores;
}

void check_options(const BootstrapOptions& options) {
  if (options.resamples < 1)
    throw InputError("eval: bootstrap resamples must be at least 1, got " + std::to_string(options.resamples));
  if (!(options.confidence > 0 && options.confidence < 1))
    throw InputError("eval: confidence must be between 0 and 1, got " + std::to_string(options.confidence));
}

bool passed(double score) { return score >= 1; }

double mean(const std::vector<double>& values) {
  if (values.empty()) return kNaN;
  double sum = 0;
  for (double v : values) sum += v;
  return sum / static_cast<double>(values.size());
}

// Uniform in [0, n): rejects the few lowest draws that would make some indices more likely.
std::uint64_t uniform_index(std::mt19937_64& rng, std::uint64_t n) {
  const std::uint64_t threshold = (0 - n) % n;  // 2^64 mod n
  for (;;) {
    const std::uint64_t draw = rng();
    if (draw >= threshold) return draw % n;
  }
}

// The mean of `values` (one per task) over `resamples` resamples of the tasks with replacement,
// sorted. Empty when there are no values.
std::vector<double> bootstrap_means(const std::vector<double>& values, const BootstrapOptions& options) {
  std::vector<double> means;
  if (values.empty()) return means;
  std::mt19937_64 rng(options.seed);
  means.reserve(static_cast<std::size_t>(options.resamples));
  for (int r = 0; r < options.resamples; ++r) {
    double sum = 0;
    for (std::size_t i = 0; i < values.size(); ++i) sum += values[uniform_index(rng, values.size())];
    means.push_back(sum / static_cast<double>(values.size()));
  }
  std::sort(means.begin(), means.end());
  return means;
}

// Quantile q of sorted values, interpolating linearly between order statistics (numpy's default).
double quantile(const std::vector<double>& sorted, double q) {
  const double position = q * static_cast<double>(sorted.size() - 1);
  const auto below = static_cast<std::size_t>(std::floor(position));
  const std::size_t above = std::min(below + 1, sorted.size() - 1);
  return sorted[below] + (position - static_cast<double>(below)) * (sorted[above] - sorted[below]);
}

Interval percentile_interval(const std::vector<double>& sorted, double confidence) {
  Interval interval;
  interval.confidence = confidence;
  if (sorted.empty()) return interval;
  const double tail = (1 - confidence) / 2;
  interval.low = quantile(sorted, tail);
  interval.high = quantile(sorted, 1 - tail);
  return interval;
}

// Two-sided: twice the smaller share of resampled differences on either side of 0, with the usual
// +1 so that a finite number of resamples never claims p = 0.
double bootstrap_p_value(const std::vector<double>& sorted) {
  if (sorted.empty()) return kNaN;
  const auto at_most_zero = std::upper_bound(sorted.begin(), sorted.end(), 0.0) - sorted.begin();
  const auto at_least_zero = sorted.end() - std::lower_bound(sorted.begin(), sorted.end(), 0.0);
  const double smaller = static_cast<double>(std::min(at_most_zero, at_least_zero));
  return std::min(1.0, 2 * (smaller + 1) / (static_cast<double>(sorted.size()) + 1));
}

}  // namespace

RateSummary summarize(const std::vector<Unit>& units, const BootstrapOptions& options) {
  check_options(options);
  RateSummary summary;
  std::map<std::string, std::pair<double, std::size_t>> per_task;  // sum of scores, attempts scored
  for (const auto& [key, score] : index_units(units, "")) {
    ++summary.units;
    auto& [sum, scored] = per_task[key.first];
    if (!score) {
      ++summary.missing;
      continue;
    }
    ++(passed(*score) ? summary.passed : summary.failed);
    sum += *score;
    ++scored;
  }
  std::vector<double> task_means;
  for (const auto& [task, totals] : per_task) {
    if (totals.second == 0) {
      ++summary.tasks_all_missing;
      continue;
    }
    task_means.push_back(totals.first / static_cast<double>(totals.second));
  }
  summary.tasks = task_means.size();
  summary.rate = mean(task_means);
  summary.interval = percentile_interval(bootstrap_means(task_means, options), options.confidence);
  return summary;
}

PairedComparison compare(const std::vector<Unit>& a, const std::vector<Unit>& b, const BootstrapOptions& options) {
  check_options(options);
  const Scores scores_a = index_units(a, "condition A");
  const Scores scores_b = index_units(b, "condition B");
  PairedComparison result;

  struct TaskTotals {
    double sum_a = 0, sum_b = 0;
    std::size_t pairs = 0;
  };
  std::map<std::string, TaskTotals> per_task;
  for (const auto& [key, score_a] : scores_a) {
    const auto found = scores_b.find(key);
    const bool paired = score_a && found != scores_b.end() && found->second;
    if (!paired) continue;
    const double score_b = *found->second;
    ++result.pairs;
    const bool pass_a = passed(*score_a), pass_b = passed(score_b);
    ++(pass_a ? (pass_b ? result.both : result.a_only) : (pass_b ? result.b_only : result.neither));
    auto& totals = per_task[key.first];
    totals.sum_a += *score_a;
    totals.sum_b += score_b;
    ++totals.pairs;
  }
  // Every (task, attempt) given for either condition, minus the pairs.
  std::size_t keys = scores_a.size();
  for (const auto& entry : scores_b) keys += scores_a.count(entry.first) ? 0 : 1;
  result.excluded = keys - result.pairs;

  std::vector<double> means_a, means_b, differences;
  for (const auto& [task, totals] : per_task) {
    const double n = static_cast<double>(totals.pairs);
    means_a.push_back(totals.sum_a / n);
    means_b.push_back(totals.sum_b / n);
    differences.push_back((totals.sum_b - totals.sum_a) / n);
  }
  result.tasks = per_task.size();
  result.rate_a = mean(means_a);
  result.rate_b = mean(means_b);
  result.difference = mean(differences);
  const std::vector<double> resampled = bootstrap_means(differences, options);
  result.difference_interval = percentile_interval(resampled, options.confidence);
  result.bootstrap_p = bootstrap_p_value(resampled);
  result.mcnemar_p = mcnemar_exact_p(result.a_only, result.b_only);
  return result;
}

double mcnemar_exact_p(std::uint64_t b, std::uint64_t c) {
  const std::uint64_t n = b + c;
  const std::uint64_t k = std::min(b, c);
  if (2 * k == n) return 1;  // covers n = 0; P[X <= n/2] >= 1/2
  // P[X = k] is the largest term of the tail (k < n/2); it comes from lgamma, the smaller ones by the
  // ratio P[X = i - 1] / P[X = i] = i / (n - i + 1), so nothing overflows at any count.
  const double nd = static_cast<double>(n), kd = static_cast<double>(k);
  double term = std::exp(std::lgamma(nd + 1) - std::lgamma(kd + 1) - std::lgamma(nd - kd + 1) - nd * std::log(2.0));
  double tail = 0;
  for (std::uint64_t i = k;; --i) {
    tail += term;
    if (i == 0 || term <= tail * 1e-17) break;  // later terms only get smaller
    term *= static_cast<double>(i) / static_cast<double>(n - i + 1);
  }
  return std::min(1.0, 2 * tail);
}

}  // namespace t2s::eval
