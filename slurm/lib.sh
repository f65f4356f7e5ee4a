# Shell functions the batch scripts in slurm/ share; sourced, never run. A batch script runs from
# Slurm's spool directory, so it finds this file through T2S_HOME (the trace2skill checkout; default:
# the directory sbatch was run from).

# Fails the batch job with a message (exit 2: bad usage or input, as t2s itself).
t2s_die() {
  echo "t2s batch script: $*" >&2
  exit 2
}

# Checks the binary, and names the batch script (the copy Slurm runs; argument: the script's $0)
# and this file for the run archive, which keeps their text.
t2s_prepare() {
  export T2S=${T2S:-$T2S_HOME/build/t2s}
  [ -x "$T2S" ] || t2s_die "$T2S is not an executable t2s (build it, or set T2S or T2S_HOME)"
  T2S_BATCH_SCRIPT=$(readlink -f "$1"):$(readlink -f "${BASH_SOURCE[0]}")
  export T2S_BATCH_SCRIPT
}

# The launcher of MPI steps: `srun --mpi=pmix` (Debian's Open MPI has no PMI2), or mpirun where Slurm
# has no PMIx plugin. T2S_LAUNCHER=srun|mpirun forces one.
t2s_launcher() {
  local choice=${T2S_LAUNCHER:-}
  if [ -z "$choice" ]; then
    if srun --mpi=list 2>&1 | grep -qw pmix; then choice=srun; else choice=mpirun; fi
  fi
  case "$choice" in
    srun) echo "srun --mpi=pmix" ;;
    mpirun) echo "mpirun" ;;
    *) t2s_die "T2S_LAUNCHER=$choice: use srun or mpirun" ;;
  esac
}

# The model server's URL, when T2S_ENDPOINT_FILE names the endpoint file slurm/llm-server.sbatch
# writes once its server answers: waited for (T2S_ENDPOINT_WAIT seconds at most, default 3600) and
# put in t2s_endpoint. Runs in the batch shell itself, so USR1 meanwhile requeues at once.
t2s_endpoint=
t2s_wait_endpoint() {
  local file=${T2S_ENDPOINT_FILE:-} waited=0 limit=${T2S_ENDPOINT_WAIT:-3600}
  [ -n "$file" ] || return 0
  while [ ! -s "$file" ]; do
    [ "$t2s_interrupted" -eq 0 ] || t2s_requeue
    [ "$waited" -lt "$limit" ] || t2s_die "no model endpoint in $file after ${limit} s (is the server job running? see its output)"
    [ $((waited % 60)) -ne 0 ] || echo "t2s batch script: waiting for the model endpoint in $file"
    sleep 1
    waited=$((waited + 1))
  done
  read -r t2s_endpoint < "$file"
  case "$t2s_endpoint" in
    http://* | https://*) echo "t2s batch script: model endpoint $t2s_endpoint (from $file)" ;;
    *) t2s_die "$file does not hold an http(s) URL" ;;
  esac
}

# USR1 (`--signal=B:USR1@N` before the time limit, or `scancel --signal=USR1 --batch`) is passed on
# to the running step: t2s finishes the items in flight, writes its checkpoint and exits 75.
t2s_interrupted=0
t2s_trapped=0
t2s_step=
t2s_on_usr1() {
  t2s_interrupted=1
  t2s_trapped=1
  echo "t2s batch script: USR1 received; the run finishes its items in flight, checkpoints and stops"
  if [ -n "$t2s_step" ]; then kill -USR1 "$t2s_step" 2>/dev/null || true; fi
}
trap t2s_on_usr1 USR1

# Requeues this job (the restart resumes from the checkpoint) and ends the script.
t2s_requeue() {
  echo "t2s batch script: requeueing job $SLURM_JOB_ID (this was restart ${SLURM_RESTART_COUNT:-0})"
  scontrol requeue "$SLURM_JOB_ID" || t2s_die "scontrol requeue $SLURM_JOB_ID failed (was the job submitted with --requeue?)"
  exit 0
}

# Runs `t2s ARGS...` as the job's MPI step and returns its exit status. The step runs in the
# background so that the USR1 trap can run while it works; `wait` returns early when a trap ran, so
# it is repeated then (bash keeps the step's status when it ended meanwhile). Exit 75 (interrupted)
# requeues the job.
t2s_run_step() {
  local launcher status
  launcher=$(t2s_launcher) || exit 2
  [ "$t2s_interrupted" -eq 0 ] || t2s_requeue
  # shellcheck disable=SC2086  # the launcher is a command and its options
  $launcher "$T2S" "$@" &
  t2s_step=$!
  while :; do
    t2s_trapped=0
    status=0
    wait "$t2s_step" || status=$?
    [ "$t2s_trapped" -eq 1 ] || break
  done
  t2s_step=
  if [ "$status" -eq 75 ]; then t2s_requeue; fi
  return "$status"
}

# Runs `t2s COMMAND JOB ARGS...` as the job's MPI step, with the model server of T2S_ENDPOINT_FILE
# when there is one (its URL overrides llm.base_url), and returns its exit status.
t2s_run_job() {
  local command=$1 job=$2
  shift 2
  t2s_wait_endpoint
  if [ -n "$t2s_endpoint" ]; then set -- "$@" --set "llm.base_url=$t2s_endpoint"; fi
  t2s_run_step "$command" "$job" "$@"
}
