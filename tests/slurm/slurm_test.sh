#!/usr/bin/env bash
# The Slurm scripts against a real, throwaway single-host Slurm (tests/slurm/slurm-cluster.sh):
# slurm/evolve.sbatch submitted with `sbatch --wait` runs `t2s evolve` as 2 MPI ranks through
# `srun --mpi=pmix`, writes a valid skill and an archive that records the Slurm job; a job that
# fails makes `sbatch --wait` fail. Exit 77 (ctest: skipped) when Slurm cannot be started here.
# Usage: slurm_test.sh SOURCE_DIR T2S_BINARY
set -euo pipefail
source_dir=$1
t2s=$2
work=$(mktemp -d /tmp/t2s-slurm-test.XXXXXX)
cluster=$work/cluster
cleanup() { "$source_dir/tests/slurm/slurm-cluster.sh" stop "$cluster" || true; rm -rf "$work"; }
trap cleanup EXIT
status=0
"$source_dir/tests/slurm/slurm-cluster.sh" start "$cluster" > /dev/null || status=$?
if [ "$status" -eq 3 ]; then echo "SKIPPED: Slurm cannot be started here (see above)"; exit 77; fi
[ "$status" -eq 0 ] || exit "$status"
export SLURM_CONF=$cluster/slurm.conf
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi

fail() { echo "FAIL: $*" >&2; exit 1; }
cd "$work"
"$t2s" synth -o corpus --trajectories 2000 --seed 7 > /dev/null
"$t2s" ingest corpus/trajectories.jsonl -o store.h5 > /dev/null
printf '[evolve]\ntrajectories = "store.h5"\noutput = "out"\nskill_name = "synth-skill"\n' > job.toml

# One evolve run: 2 tasks, 2 ranks.
submitted=$(sbatch --parsable --wait --ntasks=2 --export=ALL,T2S="$t2s",T2S_HOME="$source_dir" "$source_dir/slurm/evolve.sbatch" job.toml) \
  || fail "sbatch --wait failed: $(cat t2s-*.out)"
job_id=${submitted%%;*}
grep -q "on 2 rank(s)" "t2s-$job_id.out" || fail "not 2 ranks: $(cat "t2s-$job_id.out")"
"$t2s" skill validate out/skill/synth-skill > /dev/null || fail "the skill is not valid"
recorded=$(/usr/bin/python3 -c "import h5py, sys; print(h5py.File(sys.argv[1], 'r')['provenance'].attrs['slurm_job_id'])" out/run.h5)
[ "$recorded" = "$job_id" ] || fail "run.h5 records Slurm job '$recorded', not $job_id"
script=$(/usr/bin/python3 -c "import h5py, sys; print(h5py.File(sys.argv[1], 'r')['provenance'].attrs['batch_script'])" out/run.h5)
case "$script" in *"srun --mpi=pmix"*) ;; *) fail "run.h5 does not hold the batch script: $script" ;; esac
echo "evolve as Slurm job $job_id: ok"

# A failing run fails the batch job, and sbatch --wait says so.
if sbatch --wait --ntasks=2 --export=ALL,T2S="$t2s",T2S_HOME="$source_dir" "$source_dir/slurm/evolve.sbatch" missing.toml > /dev/null 2>&1; then
  fail "sbatch --wait succeeded for a job file that does not exist"
fi
grep -q "cannot open the job file" t2s-*.out || fail "the failing job's output does not say why"
echo "a failing run fails the batch job: ok"
