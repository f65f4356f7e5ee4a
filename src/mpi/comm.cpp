#include "t2s/mpi/comm.hpp"

#include <cstdlib>

namespace t2s::mpi {

bool Session::started_by_launcher() {
  // Open MPI's mpirun sets OMPI_COMM_WORLD_SIZE; PMIx launchers (srun --mpi=pmix, prterun) set
  // PMIX_RANK; PMI-1/2 launchers set PMI_RANK.
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"})
    if (std::getenv(name) != nullptr) return true;
  return false;
}

Session::Session(int& argc, char**& argv) {
  if (started_by_launcher())
    environment_ = std::make_unique<boost::mpi::environment>(argc, argv, boost::mpi::threading::funneled);
}

Session::~Session() = default;

Comm Session::world() const {
  if (!environment_) return Comm::single();
  return Comm(boost::mpi::communicator());
}

std::optional<std::string> slurm_world_mismatch(int size) {
  const char* ntasks = std::getenv("SLURM_NTASKS");
  if (ntasks == nullptr || *ntasks == '\0') return std::nullopt;
  char* end = nullptr;
  const long tasks = std::strtol(ntasks, &end, 10);
  if (*end != '\0' || tasks < 1) return "SLURM_NTASKS is \"" + std::string(ntasks) + "\", not a number of tasks";
  if (tasks == size) return std::nullopt;
  return "this Slurm job step has " + std::to_string(tasks) + " task(s) (SLURM_NTASKS) but t2s runs as " + std::to_string(size) +
         " MPI rank(s); launch it with `srun --mpi=pmix` (or mpirun without -n) so that every task is a rank";
}

std::pair<std::uint64_t, std::uint64_t> shard_range(std::uint64_t total, int rank, int ranks) {
  const auto r = static_cast<std::uint64_t>(rank), n = static_cast<std::uint64_t>(ranks);
  const std::uint64_t base = total / n, extra = total % n;
  const std::uint64_t first = r * base + std::min(r, extra);
  return {first, base + (r < extra ? 1 : 0)};
}

}  // namespace t2s::mpi
