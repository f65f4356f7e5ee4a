// pipeline (private): the progress of the LLM analysis phase across ranks (DESIGN §2).
//
// Every rank counts its own analyses. Ranks other than 0 send their counts to rank 0 at most every
// second or so (nonblocking, from the completion callbacks: MPI is never waited on in between), and
// rank 0 prints one line for all ranks every `interval_s`:
//   [evolve] analysed 1200/5000 (24.0%): 1100 ok, 30 empty, 40 dropped, 30 failed | 8,400 tokens/s | ETA 3m10s
// finish() is collective: ranks send their last counts, rank 0 takes them all (so no message is left
// unreceived) and prints the last line.
#pragma once

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <string>

#include "t2s/mpi/comm.hpp"

namespace t2s::pipeline::detail {

struct ProgressCounts {
  std::uint64_t done = 0, ok = 0, empty = 0, dropped = 0, failed = 0, skipped = 0, resumed = 0;
  std::int64_t tokens = 0;
  std::string encode() const;
  static ProgressCounts decode(const std::string& text);
  ProgressCounts& operator+=(const ProgressCounts& other);
};

class Progress {
 public:
  Progress(const mpi::Comm& comm, std::ostream& out, std::uint64_t total, double interval_s = 5.0);
  // This rank's counts so far; call as they change (cheap when nothing is due).
  void update(const ProgressCounts& mine);
  // Collective. Returns the totals on rank 0 (this rank's counts elsewhere).
  ProgressCounts finish(const ProgressCounts& mine);
  // "analysed 1200/5000 (24.0%): ..." for the totals given.
  std::string line(const ProgressCounts& all) const;

 private:
  void drain();
  ProgressCounts total_counts() const;

  const mpi::Comm& comm_;
  std::ostream& out_;
  std::uint64_t total_;
  double interval_s_;
  std::chrono::steady_clock::time_point start_, last_sent_, last_printed_;
  std::vector<ProgressCounts> latest_;  // rank 0: the last counts of every rank
  std::vector<bool> finished_;
  mpi::Comm::Outbox outbox_;
};

}  // namespace t2s::pipeline::detail
