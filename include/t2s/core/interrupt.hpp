// core/interrupt: a request from outside to stop early and resume later. Slurm sends SIGUSR1 before
// a job's time limit (`--signal=B:USR1@N`; slurm/lib.sh passes it on to every rank). The long
// commands (evolve, rollout, eval) stop starting new items, finish the ones in flight, write their
// checkpoint and end with Interrupted (exit status 75); rerunning the same command resumes there.
#pragma once

#include <string>

#include "t2s/core/error.hpp"

namespace t2s {

// Installs the SIGUSR1 handler: from then on the signal only sets the stop request.
void watch_for_stop_requests();
bool stop_requested() noexcept;
void request_stop() noexcept;  // what the signal does

// The run stopped on request with its work checkpointed: exit status 75 (EX_TEMPFAIL), so a batch
// script can tell "requeue me" from success and failure. Thrown by every rank together.
class Interrupted : public Error {
 public:
  using Error::Error;
  ExitStatus status() const noexcept override { return ExitStatus::interrupted; }
};

}  // namespace t2s
