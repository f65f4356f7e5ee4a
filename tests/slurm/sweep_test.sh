#!/usr/bin/env bash
# slurm/sweep against a real, throwaway single-host Slurm (tests/slurm/slurm-cluster.sh): a manifest
# of three evolve runs (one of which fails: its store does not exist) becomes a job array throttled
# to 2 at once, each run in its own directory, and the summary job, which waits for all of them
# (afterany), writes one table with every run, the failure included. A bad manifest is refused before
# anything is submitted. Exit 77 (ctest: skipped) when Slurm cannot be started here.
# Usage: sweep_test.sh SOURCE_DIR T2S_BINARY
set -euo pipefail
source_dir=$1
t2s=$2
# shellcheck source=harness.sh
source "$source_dir/tests/slurm/harness.sh"
start_test_cluster sweep-test
export T2S=$t2s
for seed in 1 2; do
  "$t2s" synth -o "corpus-$seed" --trajectories 600 --seed "$seed" > /dev/null
  "$t2s" ingest "corpus-$seed/trajectories.jsonl" -o "store-$seed.h5" > /dev/null
done
mkdir jobs
printf '[evolve]\ntrajectories = "store-1.h5"\noutput = "unused"\nskill_name = "sheet-skill"\n' > jobs/evolve.toml

# A bad manifest: nothing is submitted, and the message names the line.
printf 'alpha jobs/evolve.toml\nalpha jobs/evolve.toml\n' > twice.txt
if "$source_dir/slurm/sweep" twice.txt bad-sweep > out.txt 2>&1; then fail "a manifest with a name used twice was submitted"; fi
grep -q "twice.txt:2: the run name alpha is used twice" out.txt || fail "the refusal does not name the line: $(cat out.txt)"
printf 'alpha jobs/nowhere.toml\n' > nowhere.txt
if "$source_dir/slurm/sweep" nowhere.txt bad-sweep > out.txt 2>&1; then fail "a manifest with a missing job file was submitted"; fi
grep -q "nowhere.txt:1: the job file jobs/nowhere.toml cannot be read" out.txt || fail "the refusal does not name the file: $(cat out.txt)"
seq 1 1001 | sed 's|.*|run-& jobs/evolve.toml|' > huge.txt  # more than MaxArraySize (1001) allows
if "$source_dir/slurm/sweep" huge.txt bad-sweep > out.txt 2>&1; then fail "a manifest larger than an array may be was submitted"; fi
grep -q "huge.txt: 1001 runs, but this Slurm takes arrays of at most 1000 tasks" out.txt || fail "the refusal does not say why: $(cat out.txt)"
[ -z "$(squeue -h)" ] || fail "a refused sweep left jobs: $(squeue)"
echo "a bad manifest is refused before anything is submitted: ok (${SECONDS} s)"

cat > manifest.txt <<'MANIFEST'
# three runs: two stores, and one whose store does not exist

alpha   jobs/evolve.toml
beta    jobs/evolve.toml --set evolve.trajectories=store-2.h5 --set evolve.skill_name=beta-skill
broken  jobs/evolve.toml --set evolve.trajectories=missing.h5
MANIFEST
"$source_dir/slurm/sweep" manifest.txt sweep --throttle 2 --ntasks=2 > submitted.txt || fail "slurm/sweep failed: $(cat submitted.txt)"
# shellcheck disable=SC1091
source sweep/jobs
[ "$(job_field "$array_job_id" ArrayTaskThrottle)" = 2 ] || fail "the array is not throttled to 2: $(scontrol show job "$array_job_id")"
[ "$(job_field "$summary_job_id" Dependency)" = "afterany:${array_job_id}_*(unfulfilled)" ] ||
  [ "$(job_field "$summary_job_id" JobState)" != PENDING ] ||
  fail "the summary job does not wait for the array: $(scontrol show job "$summary_job_id")"
for _ in $(seq 1800); do
  case "$(job_field "$summary_job_id" JobState)" in COMPLETED | FAILED | CANCELLED | TIMEOUT) break ;; esac
  sleep 0.1
done
[ "$(job_field "$summary_job_id" JobState)" = COMPLETED ] ||
  fail "the summary job did not complete: $(scontrol show job "$summary_job_id") $(cat sweep/logs/*.out)"

grep -q "3 run(s): 2 ok, 1 failed, 0 unfinished, 0 not started." sweep/summary.md || fail "summary.md: $(cat sweep/summary.md)"
row() { awk -F'\t' -v name="$1" '$2 == name' sweep/summary.tsv; }
[ "$(row alpha | cut -f1,3,4)" = "$(printf '0\tok\t0')" ] || fail "alpha's row: $(row alpha)"
[ "$(row beta | cut -f1,3,4)" = "$(printf '1\tok\t0')" ] || fail "beta's row: $(row beta)"
[ "$(row broken | cut -f1,3,4)" = "$(printf '2\tfailed\t2')" ] || fail "broken's row: $(row broken)"
row broken | cut -f8 | grep -q "missing.h5" || fail "broken's row does not say why: $(row broken)"
row alpha | cut -f8 | grep -q "skill sheet-skill: " || fail "alpha's row has not its headline: $(row alpha)"
row beta | cut -f8 | grep -q "skill beta-skill: .* from 600 trajectories" || fail "beta's row has not its headline: $(row beta)"
"$t2s" skill validate sweep/runs/alpha/skill/sheet-skill > /dev/null || fail "alpha's skill is not valid"
"$t2s" skill validate sweep/runs/beta/skill/beta-skill > /dev/null || fail "beta's skill is not valid"
[ ! -e unused ] || fail "a run wrote to the job file's output instead of its run directory"
[ "$(h5attr sweep/runs/beta/run.h5 slurm_array_job_id)" = "$array_job_id" ] || fail "beta's run.h5 does not record the array job"
[ "$(h5attr sweep/runs/beta/run.h5 slurm_array_task_id)" = 1 ] || fail "beta's run.h5 does not record its array task"
echo "a sweep of 3 runs (1 failing) and its summary table: ok (${SECONDS} s)"
