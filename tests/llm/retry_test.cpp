// Tests of llm/retry: which answers are retried, the backoff with full jitter, Retry-After.

#include <gtest/gtest.h>

#include "t2s/llm/retry.hpp"

using namespace t2s::llm;

TEST(Retry, RetryableStatuses) {
  for (long s : {408L, 429L, 500L, 502L, 503L, 504L, 599L}) EXPECT_TRUE(is_retryable_status(s)) << s;
  for (long s : {200L, 400L, 401L, 403L, 404L, 422L, 600L}) EXPECT_FALSE(is_retryable_status(s)) << s;
}

TEST(Retry, BackoffIsFullJitterUnderAGrowingCap) {
  RetryPolicy policy;
  policy.base_delay_s = 0.5;
  policy.max_delay_s = 4.0;
  std::mt19937_64 rng(1);
  for (int attempt = 1; attempt <= 8; ++attempt) {
    const double cap = std::min(4.0, 0.5 * (1 << (attempt - 1)));
    double low = 1e9, high = 0;
    for (int i = 0; i < 2000; ++i) {
      const double d = backoff_delay(policy, attempt, std::nullopt, rng);
      ASSERT_GE(d, 0.0);
      ASSERT_LE(d, cap);
      low = std::min(low, d);
      high = std::max(high, d);
    }
    EXPECT_LT(low, 0.05 * cap) << attempt;   // full jitter reaches down to zero
    EXPECT_GT(high, 0.95 * cap) << attempt;  // and up to the cap
  }
}

TEST(Retry, RetryAfterIsAFloorAndTheSeedMakesItRepeatable) {
  RetryPolicy policy;
  std::mt19937_64 a(7), b(7);
  for (int i = 0; i < 10; ++i) {
    const double x = backoff_delay(policy, 3, 5.0, a);
    EXPECT_GE(x, 5.0);
    EXPECT_EQ(x, backoff_delay(policy, 3, 5.0, b));
  }
}

TEST(Retry, ParsesRetryAfterSecondsAndDates) {
  EXPECT_EQ(parse_retry_after(" 120\r\n", 0), 120.0);
  EXPECT_EQ(parse_retry_after("0", 0), 0.0);
  // Wed, 21 Oct 2015 07:28:00 GMT = 1445412480
  EXPECT_EQ(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412480.0 - 30), 30.0);
  EXPECT_EQ(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412480.0 + 30), 0.0);  // past: now
  EXPECT_FALSE(parse_retry_after("soon", 0));
  EXPECT_FALSE(parse_retry_after("", 0));
  EXPECT_FALSE(parse_retry_after("-5", 0));
}
