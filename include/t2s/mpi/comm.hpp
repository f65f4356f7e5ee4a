// mpi/comm: the one place that knows MPI. A small value class over a Boost.MPI communicator that
// can also stand for a single process without MPI, plus typed collectives for small summaries.
//
// Boost.MPI collectives on serialized types run Boost's own tree of point-to-point messages: fine
// for counts and summaries, not for large payloads (see FACTS.md).
#pragma once

#include <boost/mpi/collectives.hpp>
#include <boost/mpi/communicator.hpp>
#include <boost/mpi/environment.hpp>
#include <boost/mpi/nonblocking.hpp>
#include <boost/serialization/string.hpp>

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

namespace t2s::mpi {

class Comm {
 public:
  // A communicator of one process, no MPI involved.
  static Comm single() { return Comm(); }
  explicit Comm(boost::mpi::communicator communicator) : comm_(std::move(communicator)) {}

  int rank() const { return comm_ ? comm_->rank() : 0; }
  int size() const { return comm_ ? comm_->size() : 1; }
  bool is_main() const { return rank() == 0; }
  bool uses_mpi() const { return comm_.has_value(); }

  void barrier() const {
    if (comm_) comm_->barrier();
  }

  // Every rank's value, in rank order, on `root` (empty elsewhere).
  template <typename T>
  std::vector<T> gather(const T& value, int root = 0) const {
    if (!comm_) return {value};
    std::vector<T> values;
    boost::mpi::gather(*comm_, value, values, root);
    return values;
  }

  template <typename T>
  void broadcast(T& value, int root = 0) const {
    if (comm_) boost::mpi::broadcast(*comm_, value, root);
  }

  template <typename T>
  T all_sum(const T& value) const {
    if (!comm_) return value;
    T total{};
    boost::mpi::all_reduce(*comm_, value, total, std::plus<T>());
    return total;
  }

  // A collective: true on every rank when `value` is true on any.
  bool any(bool value) const { return all_sum(value ? 1 : 0) > 0; }

  template <typename T>
  T all_max(const T& value) const {
    if (!comm_) return value;
    T result{};
    boost::mpi::all_reduce(*comm_, value, result, boost::mpi::maximum<T>());
    return result;
  }

  // Every rank's value, in rank order, on every rank.
  template <typename T>
  std::vector<T> all_gather(const T& value) const {
    if (!comm_) return {value};
    std::vector<T> values;
    boost::mpi::all_gather(*comm_, value, values);
    return values;
  }

  // Point-to-point, for payloads too big for the collectives (the merge tree's patches). Messages
  // between two ranks with one tag arrive in the order they were sent.
  class Outbox;
  std::string receive(int source, int tag) const {
    std::string payload;
    if (comm_) comm_->recv(source, tag, payload);
    return payload;
  }

  // A message with `tag` from any rank, when one has arrived: (source, payload). Never blocks.
  std::optional<std::pair<int, std::string>> try_receive_any(int tag) const {
    if (!comm_) return std::nullopt;
    const auto status = comm_->iprobe(boost::mpi::any_source, tag);
    if (!status) return std::nullopt;
    std::string payload;
    comm_->recv(status->source(), tag, payload);
    return std::pair{status->source(), std::move(payload)};
  }
  // Folds every rank's value in rank order with `merge(accumulator, value)`; result on `root`.
  template <typename T, typename Merge>
  std::optional<T> fold(const T& value, Merge merge, int root = 0) const {
    auto values = gather(value, root);
    if (rank() != root) return std::nullopt;
    T result = std::move(values.front());
    for (std::size_t i = 1; i < values.size(); ++i) merge(result, values[i]);
    return result;
  }

 private:
  Comm() = default;
  std::optional<boost::mpi::communicator> comm_;
};

// Nonblocking sends whose payloads are kept alive until wait_all(): post every send of a step
// first, then receive, then wait, and no two ranks can block each other.
class Comm::Outbox {
 public:
  explicit Outbox(const Comm& comm) : comm_(comm) {}
  ~Outbox() { wait_all(); }
  Outbox(const Outbox&) = delete;
  Outbox& operator=(const Outbox&) = delete;

  void send(int dest, int tag, std::string payload) {
    if (!comm_.comm_) return;
    payloads_.push_back(std::move(payload));
    requests_.push_back(comm_.comm_->isend(dest, tag, payloads_.back()));
  }
  // Forgets the sends that have completed, oldest first (for a long-lived outbox).
  void reap() {
    while (!requests_.empty() && requests_.front().test()) {
      requests_.erase(requests_.begin());
      payloads_.pop_front();
    }
  }
  void wait_all() {
    if (!requests_.empty()) boost::mpi::wait_all(requests_.begin(), requests_.end());
    requests_.clear();
    payloads_.clear();
  }

 private:
  const Comm& comm_;
  std::deque<std::string> payloads_;  // stable addresses while the sends are in flight
  std::vector<boost::mpi::request> requests_;
};

// Starts MPI when this process was started by an MPI launcher (mpirun, mpiexec, srun --mpi=pmix),
// and runs as a single rank otherwise, so every command works the same without a launcher.
class Session {
 public:
  Session(int& argc, char**& argv);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  Comm world() const;
  static bool started_by_launcher();

 private:
  std::unique_ptr<boost::mpi::environment> environment_;
};

// Under Slurm (SLURM_NTASKS set), the reason a world of `size` ranks is not the job's: e.g. a batch
// script that ran `t2s evolve` without srun, or `mpirun -n 2` in an allocation of 4 tasks. nullopt
// when the sizes agree or Slurm is not involved. For the MPI commands (evolve, rollout, eval).
std::optional<std::string> slurm_world_mismatch(int size);

// The contiguous share [first, first+count) of `total` items owned by `rank` of `ranks`: sizes
// differ by at most one, lower ranks take the larger shares.
std::pair<std::uint64_t, std::uint64_t> shard_range(std::uint64_t total, int rank, int ranks);

}  // namespace t2s::mpi
