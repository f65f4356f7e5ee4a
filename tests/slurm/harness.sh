# Shared by the Slurm test scripts (sourced, never run): a throwaway Slurm for one test, and the
# helpers the tests read jobs and archives with. Needs source_dir set.

fail() { echo "FAIL: $*" >&2; exit 1; }
# A field of `scontrol show job` (the first, for an array).
job_field() { scontrol show job "$1" -o | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1; }
# An attribute of /provenance of a run or eval archive.
h5attr() { /usr/bin/python3 -c "import h5py, sys; print(h5py.File(sys.argv[1], 'r')['provenance'].attrs[sys.argv[2]])" "$1" "$2"; }

# start_test_cluster NAME [--nodes N]: makes the work directory $work (the current directory from
# then on) and starts a cluster in $work/cluster (tests/slurm/slurm-cluster.sh) for this script,
# exported as SLURM_CONF. At exit its jobs are cancelled and its daemons stopped; the work directory
# goes, except after a failure (job outputs and logs stay for a look). Exit 77 (ctest: skipped)
# when Slurm cannot be started here.
start_test_cluster() {
  work=$(mktemp -d "/tmp/t2s-$1.XXXXXX")
  shift
  cluster=$work/cluster
  trap stop_test_cluster EXIT
  local status=0
  "$source_dir/tests/slurm/slurm-cluster.sh" start "$cluster" "$@" > /dev/null || status=$?
  if [ "$status" -eq 3 ]; then echo "SKIPPED: Slurm cannot be started here (see above)"; exit 77; fi
  [ "$status" -eq 0 ] || exit "$status"
  export SLURM_CONF=$cluster/slurm.conf
  if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
  cd "$work"
}

stop_test_cluster() {
  local status=$?
  # The jobs first (a model server is a process of its job), then the daemons.
  if [ -f "$cluster/slurm.conf" ]; then
    export SLURM_CONF=$cluster/slurm.conf
    squeue -h -o %A 2> /dev/null | xargs -r scancel 2> /dev/null || true
    for _ in $(seq 100); do [ -z "$(squeue -h -o %A 2> /dev/null)" ] && break; sleep 0.2; done
  fi
  "$source_dir/tests/slurm/slurm-cluster.sh" stop "$cluster" || true
  cd /
  if [ "$status" -eq 0 ] || [ "$status" -eq 77 ]; then rm -rf "$work"; else echo "kept for a look: $work" >&2; fi
}
