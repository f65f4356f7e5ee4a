// llm/retry: which failures are worth another attempt, and how long to wait before it.
//
// Pure functions, so the policy is tested without a network: 408, 429 and 5xx answers and transport
// errors (refused, reset, timed out, truncated) are retried; other 4xx answers are not, since the same
// request would fail the same way. Waits grow exponentially with full jitter (uniform in [0, cap]),
// so that many clients throttled together do not retry together; a server's Retry-After is a floor.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string>

namespace t2s::llm {

struct RetryPolicy {
  int max_attempts = 6;          // HTTP attempts per request, the first included
  double base_delay_s = 0.5;     // cap of the first wait; doubles with every attempt
  double max_delay_s = 30.0;     // no wait is longer (unless the server's Retry-After says so)
  double deadline_s = 1800.0;    // a request gives up this long after it was submitted
};

bool is_retryable_status(long http_status);

// The wait before attempt `attempt` + 1 (attempt counts from 1): uniform in [0, min(max, base·2^(attempt-1))],
// and never below `retry_after_s` when the server sent one.
double backoff_delay(const RetryPolicy& policy, int attempt, std::optional<double> retry_after_s, std::mt19937_64& rng);

// A Retry-After header value: delay seconds ("120") or an HTTP date ("Wed, 21 Oct 2015 07:28:00 GMT",
// relative to `now_epoch_s`). nullopt when it is neither.
std::optional<double> parse_retry_after(const std::string& value, double now_epoch_s);

}  // namespace t2s::llm
