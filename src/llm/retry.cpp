#include "t2s/llm/retry.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <ctime>
#include <iomanip>
#include <sstream>

namespace t2s::llm {

bool is_retryable_status(long http_status) {
  return http_status == 408 || http_status == 429 || (http_status >= 500 && http_status <= 599);
}

double backoff_delay(const RetryPolicy& policy, int attempt, std::optional<double> retry_after_s, std::mt19937_64& rng) {
  const double exponent = std::min(attempt - 1, 60);
  const double cap = std::min(policy.max_delay_s, policy.base_delay_s * std::pow(2.0, exponent));
  double delay = std::uniform_real_distribution<double>(0.0, std::max(cap, 0.0))(rng);
  if (retry_after_s) delay = std::max(delay, *retry_after_s);
  return delay;
}

std::optional<double> parse_retry_after(const std::string& value, double now_epoch_s) {
  std::size_t begin = 0, end = value.size();
  while (begin < end && std::isspace(static_cast<unsigned char>(value[begin]))) ++begin;
  while (end > begin && std::isspace(static_cast<unsigned char>(value[end - 1]))) --end;
  const std::string text = value.substr(begin, end - begin);
  if (text.empty()) return std::nullopt;
  if (std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); })) {
    if (text.size() > 9) return std::nullopt;  // more than 30 years: not a real answer
    return std::stod(text);
  }
  std::tm tm{};
  std::istringstream in(text);
  in.imbue(std::locale::classic());
  in >> std::get_time(&tm, "%a, %d %b %Y %H:%M:%S GMT");
  if (in.fail()) return std::nullopt;
  const double when = static_cast<double>(timegm(&tm));
  return std::max(0.0, when - now_epoch_s);
}

}  // namespace t2s::llm
