// pipeline/provenance: what a run records about where it ran, shared by every run archive.
#pragma once

#include <nlohmann/json.hpp>

namespace t2s::pipeline {

// Under Slurm: slurm_job_id, slurm_array_job_id, slurm_array_task_id, slurm_job_nodelist (those that
// are set), and batch_script, the text of the file T2S_BATCH_SCRIPT names (slurm/evolve.sbatch
// sets it to the copy of itself Slurm runs; at most 60 KiB, an HDF5 attribute's room). Empty
// outside Slurm.
nlohmann::json slurm_provenance();

}  // namespace t2s::pipeline
