// pipeline/output_lock: see the header.
#include "t2s/pipeline/output_lock.hpp"

#include "t2s/core/error.hpp"

namespace t2s::pipeline {

DirectoryLock lock_output(const std::filesystem::path& output, const mpi::Comm& comm) {
  DirectoryLock lock;
  std::string refusal;
  if (comm.is_main()) {
    try {
      std::filesystem::create_directories(output);
      std::string holder;
      lock = DirectoryLock::try_lock(output, holder);
      if (!lock.held())
        refusal = output.string() + ": another run is writing into this directory (" + holder +
                  "); wait for it to end, stop it, or use another output directory";
    } catch (const std::exception& e) {
      refusal = e.what();
    }
  }
  comm.broadcast(refusal);  // every rank stops alike
  if (!refusal.empty()) throw InputError(refusal);
  return lock;
}

}  // namespace t2s::pipeline
