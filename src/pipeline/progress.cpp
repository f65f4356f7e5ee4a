#include "progress.hpp"

#include <cstdio>
#include <ostream>
#include <sstream>
#include <thread>

namespace t2s::pipeline::detail {

namespace {

constexpr int kProgressTag = 98;
constexpr double kSendInterval_s = 1.0;

double seconds(std::chrono::steady_clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::string duration_text(double s) {
  const auto total = static_cast<long long>(s + 0.5);
  char text[48];
  if (total >= 3600) std::snprintf(text, sizeof text, "%lldh%02lldm", total / 3600, total % 3600 / 60);
  else if (total >= 60) std::snprintf(text, sizeof text, "%lldm%02llds", total / 60, total % 60);
  else std::snprintf(text, sizeof text, "%llds", total);
  return text;
}

}  // namespace

std::string ProgressCounts::encode() const {
  std::ostringstream text;
  text << done << ' ' << ok << ' ' << empty << ' ' << dropped << ' ' << failed << ' ' << skipped << ' ' << resumed << ' '
       << tokens;
  return text.str();
}

ProgressCounts ProgressCounts::decode(const std::string& text) {
  ProgressCounts c;
  std::istringstream in(text);
  in >> c.done >> c.ok >> c.empty >> c.dropped >> c.failed >> c.skipped >> c.resumed >> c.tokens;
  return c;
}

ProgressCounts& ProgressCounts::operator+=(const ProgressCounts& o) {
  done += o.done, ok += o.ok, empty += o.empty, dropped += o.dropped, failed += o.failed, skipped += o.skipped;
  resumed += o.resumed, tokens += o.tokens;
  return *this;
}

Progress::Progress(const mpi::Comm& comm, std::ostream& out, std::uint64_t total, double interval_s)
    : comm_(comm), out_(out), total_(total), interval_s_(interval_s), start_(std::chrono::steady_clock::now()),
      last_sent_(start_), last_printed_(start_), latest_(static_cast<std::size_t>(comm.size())),
      finished_(static_cast<std::size_t>(comm.size()), false), outbox_(comm) {}

ProgressCounts Progress::total_counts() const {
  ProgressCounts all;
  for (const auto& c : latest_) all += c;
  return all;
}

void Progress::drain() {
  while (auto message = comm_.try_receive_any(kProgressTag)) {
    const auto source = static_cast<std::size_t>(message->first);
    const std::string& text = message->second;
    if (text.starts_with("final ")) {
      latest_[source] = ProgressCounts::decode(text.substr(6));
      finished_[source] = true;
    } else {
      latest_[source] = ProgressCounts::decode(text);
    }
  }
}

std::string Progress::line(const ProgressCounts& all) const {
  const double elapsed = seconds(std::chrono::steady_clock::now() - start_);
  char head[160];
  std::snprintf(head, sizeof head, "analysed %llu/%llu (%.1f%%): %llu ok, %llu empty, %llu dropped, %llu failed",
                static_cast<unsigned long long>(all.done), static_cast<unsigned long long>(total_),
                total_ ? 100.0 * static_cast<double>(all.done) / static_cast<double>(total_) : 100.0,
                static_cast<unsigned long long>(all.ok), static_cast<unsigned long long>(all.empty),
                static_cast<unsigned long long>(all.dropped), static_cast<unsigned long long>(all.failed));
  std::string text = head;
  if (all.skipped) text += ", " + std::to_string(all.skipped) + " skipped";
  if (all.resumed) text += " (" + std::to_string(all.resumed) + " from the checkpoint)";
  char rate[64];
  std::snprintf(rate, sizeof rate, " | %.0f tokens/s", elapsed > 0 ? static_cast<double>(all.tokens) / elapsed : 0.0);
  text += rate;
  const std::uint64_t fresh = all.done - all.resumed;  // the rate of this attempt, not of the checkpoint
  if (all.done < total_ && fresh > 0 && elapsed > 0)
    text += " | ETA " + duration_text(static_cast<double>(total_ - all.done) * elapsed / static_cast<double>(fresh));
  return text;
}

void Progress::update(const ProgressCounts& mine) {
  const auto now = std::chrono::steady_clock::now();
  if (!comm_.is_main()) {
    if (seconds(now - last_sent_) < kSendInterval_s) return;
    last_sent_ = now;
    outbox_.reap();  // what rank 0 has taken need not be kept
    outbox_.send(0, kProgressTag, mine.encode());
    return;
  }
  latest_[0] = mine;
  drain();
  if (seconds(now - last_printed_) < interval_s_) return;
  last_printed_ = now;
  out_ << "[evolve] " << line(total_counts()) << std::endl;
}

ProgressCounts Progress::finish(const ProgressCounts& mine) {
  if (!comm_.is_main()) {
    outbox_.send(0, kProgressTag, "final " + mine.encode());
    outbox_.wait_all();
    return mine;
  }
  latest_[0] = mine;
  finished_[0] = true;
  for (;;) {
    drain();
    bool all = true;
    for (bool f : finished_) all = all && f;
    if (all) break;
    if (seconds(std::chrono::steady_clock::now() - last_printed_) >= interval_s_) {
      last_printed_ = std::chrono::steady_clock::now();
      out_ << "[evolve] " << line(total_counts()) << std::endl;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const ProgressCounts all = total_counts();
  out_ << "[evolve] " << line(all) << std::endl;
  return all;
}

}  // namespace t2s::pipeline::detail
