#include "t2s/core/interrupt.hpp"

#include <atomic>
#include <csignal>

namespace t2s {

namespace {
// Lock-free, so the handler may set it (async-signal-safe).
std::atomic<bool> stop_flag{false};
static_assert(std::atomic<bool>::is_always_lock_free);

extern "C" void on_stop_signal(int) { stop_flag.store(true, std::memory_order_relaxed); }
}  // namespace

void watch_for_stop_requests() {
  struct sigaction action = {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // a read or poll under way goes on; the loops look at the flag
  sigaction(SIGUSR1, &action, nullptr);
}

bool stop_requested() noexcept { return stop_flag.load(std::memory_order_relaxed); }

void request_stop() noexcept { stop_flag.store(true, std::memory_order_relaxed); }

}  // namespace t2s
