// analyze/stratified: exact conditional and Mantel–Haenszel tests over 2×2 tables (see the header).
#include "t2s/analyze/stratified.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>

#include <boost/math/distributions/hypergeometric.hpp>

namespace t2s::analyze {
namespace {

// P(a = lo + i) for i in [0, hi - lo]: the hypergeometric distribution of successes among the k runs
// with the feature, given the margins (Boost.Math: k draws from n runs of which m succeeded).
std::vector<double> hypergeometric(const Table& t, std::uint32_t& lo) {
  lo = t.k + t.m > t.n ? t.k + t.m - t.n : 0;
  const std::uint32_t hi = std::min(t.k, t.m);
  const boost::math::hypergeometric_distribution<double> distribution(t.m, t.k, t.n);
  std::vector<double> p(hi - lo + 1);
  for (std::uint32_t a = lo; a <= hi; ++a) p[a - lo] = boost::math::pdf(distribution, a);
  return p;
}

// dist := dist * y (convolution), in place: from the top down, each entry is read before it is
// overwritten and only adds to entries above it (a stratum at a time, no allocation per stratum).
void convolve_into(std::vector<double>& dist, const std::vector<double>& y) {
  const std::size_t n = dist.size();
  dist.resize(n + y.size() - 1, 0.0);
  for (std::size_t i = n; i-- > 0;) {
    const double x = dist[i];
    dist[i] = x * y[0];
    if (x == 0.0) continue;
    for (std::size_t j = 1; j < y.size(); ++j) dist[i + j] += x * y[j];
  }
}

}  // namespace

Association associate(const TableCounts& tables) {
  Association out;
  double expected = 0, variance = 0, observed = 0;
  double or_num = 0, or_den = 0, rd_num = 0, rd_den = 0;
  std::uint64_t range = 0;
  for (const auto& [t, count] : tables) {
    if (!t.valid()) throw std::invalid_argument("analyze::associate: inconsistent 2x2 table");
    if (!t.informative() || count == 0) continue;
    const double c = static_cast<double>(count);
    const double n = t.n, m = t.m, k = t.k, a = t.a;
    const double b = k - a, s0 = m - a, f0 = n - k - s0;  // with/failed, without/succeeded, without/failed
    out.strata += count;
    out.with_runs += count * t.k;
    out.with_successes += count * t.a;
    out.without_runs += count * (t.n - t.k);
    out.without_successes += count * (t.m - t.a);
    observed += c * a;
    expected += c * k * m / n;
    variance += c * k * (n - k) * m * (n - m) / (n * n * (n - 1));
    or_num += c * a * f0 / n;
    or_den += c * b * s0 / n;
    rd_num += c * (a * (n - k) - s0 * k) / n;
    rd_den += c * k * (n - k) / n;
    range += count * (std::min(t.k, t.m) - (t.k + t.m > t.n ? t.k + t.m - t.n : 0));
  }
  if (out.strata == 0) return out;
  out.odds_ratio = or_den > 0 ? or_num / or_den : std::numeric_limits<double>::infinity();
  if (or_num == 0 && or_den == 0) out.odds_ratio = 1.0;
  out.risk_difference = rd_den > 0 ? rd_num / rd_den : 0.0;

  if (range <= kMaxExactRange) {
    // the distribution of the total of a over the strata, given all margins
    std::vector<double> dist{1.0};
    dist.reserve(range + 1);
    std::uint64_t offset = 0;
    for (const auto& [t, count] : tables) {
      if (!t.informative()) continue;
      std::uint32_t lo = 0;
      const auto p = hypergeometric(t, lo);
      for (std::uint64_t i = 0; i < count; ++i) {
        convolve_into(dist, p);
        offset += lo;
      }
    }
    const auto at = static_cast<std::size_t>(std::llround(observed) - static_cast<long long>(offset));
    double below = 0, above = 0;
    for (std::size_t i = 0; i < dist.size(); ++i) {
      if (i <= at) below += dist[i];
      if (i >= at) above += dist[i];
    }
    out.p_value = std::min(1.0, 2.0 * std::min(below, above));
    out.exact = true;
  } else {
    const double deviation = std::max(0.0, std::abs(observed - expected) - 0.5);
    const double z = variance > 0 ? deviation / std::sqrt(variance) : 0.0;
    out.p_value = std::min(1.0, std::erfc(z / std::sqrt(2.0)));
    out.exact = false;
  }
  return out;
}

std::vector<double> benjamini_hochberg(const std::vector<double>& p_values) {
  const std::size_t n = p_values.size();
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) { return p_values[x] < p_values[y]; });
  std::vector<double> q(n);
  double running = 1.0;
  for (std::size_t r = n; r-- > 0;) {
    running = std::min(running, p_values[order[r]] * static_cast<double>(n) / static_cast<double>(r + 1));
    q[order[r]] = std::min(1.0, running);
  }
  return q;
}

}  // namespace t2s::analyze
