// pipeline/output_lock: one run at a time in an output directory, whatever the launcher and the rank
// count. Rank 0 holds an exclusive lock on OUTPUT/.t2s-lock for the whole run; the kernel drops it
// when the process ends, so a crashed or killed run leaves nothing to clean up.
#pragma once

#include <filesystem>

#include "t2s/core/files.hpp"
#include "t2s/mpi/comm.hpp"

namespace t2s::pipeline {

// Creates `output` and takes its lock on rank 0; every rank throws the same InputError (naming the
// directory and the run that holds it) when another run has it.
DirectoryLock lock_output(const std::filesystem::path& output, const mpi::Comm& comm);

}  // namespace t2s::pipeline
