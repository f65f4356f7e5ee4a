// pipeline/provenance: what a run records about where it ran, shared by every run archive.
#pragma once

#include <nlohmann/json.hpp>

namespace t2s::pipeline {

// Under Slurm: slurm_job_id, slurm_array_job_id, slurm_array_task_id, slurm_job_nodelist,
// slurm_restart_count (those that are set), and batch_script, the text of the files
// T2S_BATCH_SCRIPT names, separated by ':' (the slurm/ scripts set it to the copy of the batch
// script Slurm runs and slurm/lib.sh; at most 60 KiB, an HDF5 attribute's room). Empty outside
// Slurm.
nlohmann::json slurm_provenance();

}  // namespace t2s::pipeline
