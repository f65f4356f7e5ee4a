#!/usr/bin/env bash
# The model-server scripts against a real, throwaway Slurm of two nodes on this host
# (tests/slurm/slurm-cluster.sh), the scripted OpenAI-compatible server standing in for vLLM:
# - slurm/llm-server.sbatch writes its endpoint file only once the server answers, and removes it
#   when it is cancelled (here by a job that waits for the analysis jobs: the documented pattern);
# - slurm/evolve.sbatch jobs submitted with --dependency=after:SERVER (one with 2 ranks, and a
#   2-task array) wait for that file and run `t2s evolve` with the LLM analysts against the server;
# - an analysis job whose endpoint never appears fails after T2S_ENDPOINT_WAIT, saying so; a server
#   that exits, or never answers, fails its job and writes no endpoint; one that dies after it
#   answered fails its job and takes its endpoint file away;
# - slurm/evolve-with-server.sbatch runs server and run as one heterogeneous job on the two nodes.
# Exit 77 (ctest: skipped) when Slurm cannot be started here.
# Usage: server_test.sh SOURCE_DIR T2S_BINARY
set -euo pipefail
source_dir=$(cd "$1" && pwd)
t2s=$2
# shellcheck source=harness.sh
source "$source_dir/tests/slurm/harness.sh"
start_test_cluster server-test --nodes 2
export T2S=$t2s T2S_HOME=$source_dir

# wait_for SECONDS WHAT COMMAND...: until COMMAND succeeds.
wait_for() {
  local limit=$1 what=$2
  shift 2
  for _ in $(seq $((limit * 5))); do "$@" && return 0; sleep 0.2; done
  fail "$what: not within $limit s"
}
# The job (or every task of an array) has left the queue.
job_done() { [ -z "$(squeue -h -j "$1" -o %A 2>/dev/null)" ]; }
# JobState=... ExitCode=... of the job (one line per array task).
job_states() { scontrol show job "$1" | grep -o 'JobState=[A-Z_]*\| ExitCode=[0-9:]*' | paste -d '' - -; }
job_succeeded() {
  local states
  states=$(job_states "$1")
  [ -n "$states" ] && ! grep -qv '^JobState=COMPLETED ExitCode=0:0$' <<< "$states"
}
listening() { (: <>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

"$t2s" synth -o corpus --trajectories 30 --seed 5 > /dev/null
"$t2s" ingest corpus/trajectories.jsonl -o store.h5 > /dev/null
printf '[evolve]\ntrajectories = "store.h5"\noutput = "out"\nskill_name = "sheet-lessons"\nanalyst = "llm"\n[analyze.llm]\nmax_turns = 4\n[llm]\nmodel = "scripted-model"\n' > job.toml
# The analysts' script, and an answer to the health check's "pong" request (`t2s llm ping`).
/usr/bin/python3 - "$source_dir/tests/llm_server/scripts/evolve_analysts.json" script.json <<'PY'
import json, sys
script = json.load(open(sys.argv[1]))
script["rules"].insert(0, {"name": "ping", "match": {"last_user_contains": "Reply with the single word: pong"},
                           "respond": {"content": "pong"}})
json.dump(script, open(sys.argv[2], "w"))
PY
scripted() { echo "/usr/bin/python3 $source_dir/tests/llm_server/scripted_server.py --script $work/script.json --port {port} --quiet $*"; }
# Outside Slurm's accounting, the request log is the server's record: "rule" per request.
count_requests() { /usr/bin/python3 -c "import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(sum(1 for r in rows if (r['rule'] == 'ping') == (sys.argv[2] == 'ping') and r['status'] == 200))" "$@"; }

# 1. The server job: the scripted server starts 4 s late, as a model loads.
endpoint=$work/endpoint
server=$(T2S_ENDPOINT_FILE=$endpoint T2S_SERVER_COMMAND="sleep 4 && exec $(scripted --port-file "$work/server.port" --log "$work/requests.jsonl")" \
  sbatch --parsable "$source_dir/slurm/llm-server.sbatch")
# Analysis jobs, submitted at once: they start with the server job and wait for its endpoint.
analysis=$(T2S_ENDPOINT_FILE=$endpoint sbatch --parsable --dependency="after:$server" --nodes=1 --ntasks=2 \
  "$source_dir/slurm/evolve.sbatch" job.toml --set evolve.output=out-single)
# evolve.sbatch gives every array task the same arguments: a T2S wrapper gives each its own output.
# shellcheck disable=SC2016  # $@ and $SLURM_ARRAY_TASK_ID are the wrapper's
printf '#!/bin/sh\nexec %s "$@" --set "evolve.output=out-array-$SLURM_ARRAY_TASK_ID"\n' "$t2s" > t2s-array
chmod +x t2s-array
array=$(T2S=$work/t2s-array T2S_ENDPOINT_FILE=$endpoint sbatch --parsable --dependency="after:$server" --array=0-1 \
  --nodes=1 --ntasks=1 --output='array-%a.out' "$source_dir/slurm/evolve.sbatch" job.toml)
# When both are done (afterany: however they end), a job cancels the server.
canceller=$(sbatch --parsable --dependency="afterany:$analysis:$array" --output=canceller.out --wrap="scancel $server")
# Failures, meanwhile: an endpoint that never appears, a server that exits, one that never answers.
never=$(T2S_ENDPOINT_FILE=$work/never T2S_ENDPOINT_WAIT=3 sbatch --parsable --nodes=1 --ntasks=1 \
  "$source_dir/slurm/evolve.sbatch" job.toml --set evolve.output=out-never)
exits=$(T2S_ENDPOINT_FILE=$work/exits T2S_SERVER_COMMAND='echo "no such model" >&2; exit 3' \
  sbatch --parsable "$source_dir/slurm/llm-server.sbatch")
dies=$(T2S_ENDPOINT_FILE=$work/dies T2S_SERVER_COMMAND="timeout 10 $(scripted)" \
  sbatch --parsable "$source_dir/slurm/llm-server.sbatch")
silent=$(T2S_ENDPOINT_FILE=$work/silent T2S_SERVER_COMMAND='sleep 60 # {port}' T2S_SERVER_START_TIMEOUT=3 \
  sbatch --parsable "$source_dir/slurm/llm-server.sbatch")

server_out=t2s-llm-server-$server.out
wait_for 60 "the server job starting its server" grep -qs "t2s server: starting" "$server_out"
# Until the scripted server listens (its port file), there is no endpoint file. The endpoint is
# looked at before the port file: an endpoint seen there was written before the server listened.
checks=0
for _ in $(seq 300); do
  published=0
  if [ -e "$endpoint" ]; then published=1; fi
  if [ -e server.port ]; then break; fi
  [ "$published" -eq 0 ] || fail "the endpoint file exists before the server listens: $(cat "$endpoint")"
  checks=$((checks + 1))
  sleep 0.1
done
[ -e server.port ] || fail "the scripted server never listened: $(cat "$server_out")"
[ "$checks" -ge 5 ] || fail "the scripted server listened too soon to check anything ($checks check(s))"
echo "no endpoint file while the server loads: ok ($checks checks)"
wait_for 60 "the endpoint file" test -s "$endpoint"
port=$(cat server.port)
url=$(cat "$endpoint")
[ "$url" = "http://$(hostname):$port/v1" ] || fail "the endpoint file says '$url', the server listens on port $port"
[ ! server.port -nt "$endpoint" ] || fail "the endpoint file was written before the server listened"
"$t2s" llm ping --base-url "$url" --timeout 5 > /dev/null || fail "the published endpoint $url does not answer"
echo "the endpoint is written once the server answers: ok ($url)"

wait_for 150 "the analysis jobs to end" job_done "$analysis"
wait_for 150 "the array's tasks to end" job_done "$array"
job_succeeded "$analysis" || fail "analysis job: $(job_states "$analysis"): $(cat "t2s-$analysis.out")"
job_succeeded "$array" || fail "array: $(job_states "$array"): $(cat array-*.out)"
for out in "t2s-$analysis.out" array-0.out array-1.out; do
  grep -q "model endpoint $url (from $endpoint)" "$out" || fail "$out does not take the endpoint: $(cat "$out")"
  grep -q "Analyses: .*(of 30)" "$out" || fail "$out analysed no trajectories: $(cat "$out")"
done
grep -q "on 2 rank(s)" "t2s-$analysis.out" || fail "the analysis job did not run 2 ranks: $(cat "t2s-$analysis.out")"
for skill in out-single out-array-0 out-array-1; do
  "$t2s" skill validate "$skill/skill/sheet-lessons" > /dev/null || fail "$skill: no valid skill"
done
echo "an analysis job and a 2-task array waited for the endpoint and ran against the server: ok"

wait_for 60 "the canceller to stop the server" job_done "$server"
job_states "$server" | grep -q JobState=CANCELLED || fail "server job: $(job_states "$server")"
[ ! -e "$endpoint" ] || fail "the endpoint file outlives the cancelled server job"
grep -q "removed the endpoint file $endpoint" "$server_out" || fail "the server job's output: $(cat "$server_out")"
! listening "$port" || fail "the scripted server still listens on $port after the job was cancelled"
job_succeeded "$canceller" || fail "the canceller job: $(job_states "$canceller"): $(cat canceller.out)"
# The log is complete now that the server is stopped: the health checks, and the three runs' requests.
pings=$(count_requests requests.jsonl ping)
analyst=$(count_requests requests.jsonl analysts)
[ "$pings" -ge 1 ] || fail "no health check reached the server"
[ "$analyst" -ge 90 ] || fail "$analyst analyst requests reached the server; 3 runs of 30 trajectories send at least 90"
echo "cancelling the server removes the endpoint: ok ($pings health check(s), $analyst analyst requests served)"

wait_for 30 "the job without an endpoint to give up" job_done "$never"
job_states "$never" | grep -q 'JobState=FAILED.*ExitCode=2:0' || fail "job without an endpoint: $(job_states "$never")"
grep -q "no model endpoint in $work/never after 3 s" "t2s-$never.out" || fail "its output: $(cat "t2s-$never.out")"
[ ! -e out-never ] || fail "the job without an endpoint ran t2s"
wait_for 30 "the failing server jobs to end" job_done "$exits"
wait_for 30 "the failing server jobs to end" job_done "$silent"
job_states "$exits" | grep -q JobState=FAILED || fail "a server that exits: $(job_states "$exits")"
grep -q "the model server exited (status 3) before it answered" "t2s-llm-server-$exits.out" || fail "its output: $(cat "t2s-llm-server-$exits.out")"
job_states "$silent" | grep -q JobState=FAILED || fail "a server that never answers: $(job_states "$silent")"
grep -q "did not answer at .* within 3 s (T2S_SERVER_START_TIMEOUT)" "t2s-llm-server-$silent.out" || fail "its output: $(cat "t2s-llm-server-$silent.out")"
if [ -e "$work/exits" ] || [ -e "$work/silent" ]; then fail "a server that never answered published an endpoint"; fi
wait_for 60 "the server that dies to end" job_done "$dies"
job_states "$dies" | grep -q JobState=FAILED || fail "a server that dies: $(job_states "$dies")"
grep -q "endpoint http://.* written to $work/dies" "t2s-llm-server-$dies.out" || fail "the server that dies never answered: $(cat "t2s-llm-server-$dies.out")"
grep -q "the model server stopped by itself (status 124)" "t2s-llm-server-$dies.out" || fail "its output: $(cat "t2s-llm-server-$dies.out")"
[ ! -e "$work/dies" ] || fail "a server that died left its endpoint file behind"
echo "no endpoint, a server that exits, a server that never answers, one that dies: each fails its job, saying why: ok"

# 2. The heterogeneous job: the server on one node, the 2 ranks on the other; its endpoint file is
# published while it runs and removed when the run ends.
het=$(T2S_ENDPOINT_FILE=$work/het-endpoint T2S_SERVER_COMMAND="$(scripted --log "$work/requests-het.jsonl")" \
  sbatch --parsable --wait "$source_dir/slurm/evolve-with-server.sbatch" job.toml --set evolve.output=out-het) \
  || fail "the heterogeneous job failed: $(cat t2s-*.out | tail -30)"
het=${het%%;*}
het_out=t2s-$het.out
grep -q "on 2 rank(s)" "$het_out" || fail "the heterogeneous job did not run 2 ranks: $(cat "$het_out")"
nodes=$(sed -n 's/.*model server on \([^,]*\), 2 rank(s) on \([^,]*\),.*/\1 \2/p' "$het_out")
if [ -z "$nodes" ] || [ "${nodes% *}" = "${nodes#* }" ]; then fail "server and ranks are not on two nodes: $(head -3 "$het_out")"; fi
grep -q "endpoint http://$(hostname):[0-9]*/v1 written to $work/het-endpoint" "$het_out" || fail "no endpoint published: $(cat "$het_out")"
[ ! -e "$work/het-endpoint" ] || fail "the heterogeneous job left its endpoint file behind"
"$t2s" skill validate out-het/skill/sheet-lessons > /dev/null || fail "the heterogeneous job wrote no valid skill"
het_analyst=$(count_requests requests-het.jsonl analysts)
[ "$het_analyst" -ge 30 ] || fail "$het_analyst analyst requests reached the heterogeneous job's server"
echo "server and run as one heterogeneous job (nodes $nodes): ok ($het_analyst analyst requests)"
