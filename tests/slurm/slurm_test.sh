#!/usr/bin/env bash
# The Slurm scripts against a real, throwaway single-host Slurm (tests/slurm/slurm-cluster.sh):
# - slurm/evolve.sbatch submitted with `sbatch --wait` runs `t2s evolve` as 2 MPI ranks through
#   `srun --mpi=pmix`, writes a valid skill and an archive that records the Slurm job; a job that
#   fails makes `sbatch --wait` fail;
# - requeue: USR1 to the batch shell (what --signal=B:USR1@N does before the time limit) stops an
#   LLM-analyst evolve with its work checkpointed, the job requeues itself, and the restart ends
#   with the same skill as an uninterrupted run, having asked the model the same questions and
#   analysed every trajectory once.
# Exit 77 (ctest: skipped) when Slurm cannot be started here.
# Usage: slurm_test.sh SOURCE_DIR T2S_BINARY
set -euo pipefail
source_dir=$1
t2s=$2
# shellcheck source=harness.sh
source "$source_dir/tests/slurm/harness.sh"
start_test_cluster slurm-test
"$t2s" synth -o corpus --trajectories 2000 --seed 7 > /dev/null
"$t2s" ingest corpus/trajectories.jsonl -o store.h5 > /dev/null
printf '[evolve]\ntrajectories = "store.h5"\noutput = "out"\nskill_name = "synth-skill"\n' > job.toml

# One evolve run: 2 tasks, 2 ranks.
submitted=$(sbatch --parsable --wait --ntasks=2 --export=ALL,T2S="$t2s",T2S_HOME="$source_dir" "$source_dir/slurm/evolve.sbatch" job.toml) \
  || fail "sbatch --wait failed: $(cat t2s-*.out)"
job_id=${submitted%%;*}
grep -q "on 2 rank(s)" "t2s-$job_id.out" || fail "not 2 ranks: $(cat "t2s-$job_id.out")"
"$t2s" skill validate out/skill/synth-skill > /dev/null || fail "the skill is not valid"
recorded=$(h5attr out/run.h5 slurm_job_id)
[ "$recorded" = "$job_id" ] || fail "run.h5 records Slurm job '$recorded', not $job_id"
script=$(h5attr out/run.h5 batch_script)
case "$script" in *"#SBATCH --requeue"*"==> $source_dir/slurm/lib.sh <=="*"srun --mpi=pmix"*) ;;
  *) fail "run.h5 does not hold the batch script and lib.sh: $script" ;; esac
echo "evolve as Slurm job $job_id: ok (${SECONDS} s)"

# A failing run fails the batch job, and sbatch --wait says so.
if sbatch --wait --ntasks=2 --export=ALL,T2S="$t2s",T2S_HOME="$source_dir" "$source_dir/slurm/evolve.sbatch" missing.toml > /dev/null 2>&1; then
  fail "sbatch --wait succeeded for a job file that does not exist"
fi
grep -q "cannot open the job file" t2s-*.out || fail "the failing job's output does not say why"
echo "a failing run fails the batch job: ok (${SECONDS} s)"

# Requeue. The scripted model server answers each request after 60 ms, so the run takes several
# seconds; each run gets its own server, whose request log is complete once it has stopped.
"$t2s" synth -o llm-corpus --trajectories 120 --seed 5 > /dev/null
"$t2s" ingest llm-corpus/trajectories.jsonl -o llm-store.h5 > /dev/null
server_pid=
start_server() {  # NAME: a scripted server logging to NAME.requests; its URL in $url
  rm -f "$1.port"
  /usr/bin/python3 "$source_dir/tests/llm_server/scripted_server.py" --script "$source_dir/tests/llm_server/scripts/evolve_analysts.json" \
    --port 0 --port-file "$1.port" --log "$1.requests" --latency-ms 60 --quiet &
  server_pid=$!
  for _ in $(seq 100); do [ -s "$1.port" ] && break; sleep 0.1; done
  url="http://127.0.0.1:$(cat "$1.port")/v1"
}
stop_server() { kill "$server_pid"; wait "$server_pid" || true; }
llm_job() {  # NAME URL: an LLM-analyst evolve job file
  printf '[evolve]\ntrajectories = "llm-store.h5"\noutput = "%s"\nskill_name = "sheet-lessons"\nanalyst = "llm"\ncheckpoint_seconds = 0.2\n[analyze.llm]\nmax_turns = 4\n[llm]\nbase_url = "%s"\nmodel = "scripted-model"\nmax_in_flight = 6\n' "$1" "$2" > "$1.toml"
}

# The uninterrupted run, launched with mpirun inside the allocation (the fallback launcher).
start_server whole
llm_job whole "$url"
sbatch --wait --ntasks=2 --export=ALL,T2S="$t2s",T2S_HOME="$source_dir",T2S_LAUNCHER=mpirun --output=whole.out \
  "$source_dir/slurm/evolve.sbatch" whole.toml > /dev/null || fail "the uninterrupted LLM evolve failed: $(cat whole.out)"
stop_server

start_server requeued
llm_job requeued "$url"
job_id=$(sbatch --parsable --ntasks=2 --export=ALL,T2S="$t2s",T2S_HOME="$source_dir" --output=requeued.out \
  "$source_dir/slurm/evolve.sbatch" requeued.toml)
# USR1 once some analyses are checkpointed (what Slurm sends N seconds before the time limit).
for _ in $(seq 300); do
  [ "$(find requeued/parts -maxdepth 1 -name '*.h5' 2>/dev/null | wc -l)" -ge 2 ] && break
  sleep 0.1
done
echo "USR1 at ${SECONDS} s"
scancel --batch --signal=USR1 "$job_id"
# The job requeues itself: it ends (COMPLETING), then waits pending (Reason=BeginTime: Slurm holds a
# requeued job for about two minutes before it may start again), released here sooner.
for _ in $(seq 300); do
  [ "$(job_field "$job_id" Restarts)/$(job_field "$job_id" Reason)" = 1/BeginTime ] && break
  sleep 0.1
done
[ "$(job_field "$job_id" Restarts)/$(job_field "$job_id" Reason)" = 1/BeginTime ] ||
  fail "the job did not requeue itself: $(scontrol show job "$job_id") $(cat requeued.out)"
echo "requeued at ${SECONDS} s"
# Released only once the node is done with the first part: slurmd refuses to launch a job it is
# still killing ("already killed"), and the job would fail (the hold exists for this).
for _ in $(seq 300); do [ "$(sinfo -h -o %T)" = idle ] && break; sleep 0.1; done
sleep 2
scontrol update JobId="$job_id" StartTime=now
for _ in $(seq 1200); do
  case "$(job_field "$job_id" JobState)" in COMPLETED | FAILED | CANCELLED | TIMEOUT | OUT_OF_MEMORY | NODE_FAIL) break ;; esac
  sleep 0.1
done
echo "finished at ${SECONDS} s"
stop_server
[ "$(job_field "$job_id" JobState)" = COMPLETED ] || fail "the requeued job did not complete: $(scontrol show job "$job_id") $(cat requeued.out)"
grep -q "t2s: interrupted: stopped on request during the analysis" requeued.out || fail "the run did not stop on USR1: $(cat requeued.out)"
grep -q "requeueing job $job_id" requeued.out || fail "no requeue in the output: $(cat requeued.out)"
grep -q "restart 1" requeued.out || fail "the output does not show the restart: $(cat requeued.out)"
diff -r whole/skill requeued/skill > /dev/null || fail "the requeued run's skill differs from the uninterrupted run's"
# The model was asked the same questions: every distinct request of the uninterrupted run, and no
# other. (Raw counts can differ by timing: trajectories with the same content make the same request,
# which is answered from the recording once one is recorded, but sent twice when both are in flight.)
same=$(/usr/bin/python3 -c "
import json, sys
def distinct(path):
    return {json.dumps(json.loads(line)['body'], sort_keys=True) for line in open(path)}
a, b = distinct(sys.argv[1]), distinct(sys.argv[2])
print('yes' if a == b else '%d distinct requests only uninterrupted, %d only requeued' % (len(a - b), len(b - a)))" whole.requests requeued.requests)
[ "$same" = yes ] || fail "the requeued run asked the model other questions than the uninterrupted run: $same"
# No analysis was done twice: the restart took what the first part finished from the checkpoint.
analyses=$(/usr/bin/python3 -c "
import h5py, sys
ids = [x.decode() for x in h5py.File(sys.argv[1], 'r')['analysis']['id'][:]]
print(len(ids), len(set(ids)))" requeued/run.h5)
[ "$analyses" = "120 120" ] || fail "run.h5 holds $analyses analyses (rows, distinct ids), not 120 once each"
resumed=$(sed -n 's/.*analysed 120\/120 .*(\([0-9]*\) from the checkpoint).*/\1/p' requeued.out | tail -1)
[ -n "$resumed" ] && [ "$resumed" -gt 0 ] || fail "the restart resumed nothing: $(cat requeued.out)"
restarts=$(h5attr requeued/run.h5 slurm_restart_count)
[ "$restarts" = 1 ] || fail "run.h5 records restart count '$restarts', not 1"
echo "USR1, requeue and resume as Slurm job $job_id (same skill and model requests; $resumed analyses from the checkpoint): ok (${SECONDS} s)"
