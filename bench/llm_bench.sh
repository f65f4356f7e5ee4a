#!/usr/bin/env bash
# LLM client benchmark: saturation of a server with fixed latency and a concurrency cap, client CPU
# per request, memory with many requests in flight, and accounting under injected faults. The server
# is the scripted OpenAI-compatible server of tests/llm_server (real HTTP on loopback); the client is
# the product's, driven by build/llm_client_bench. See bench/README.md.
#
#   scripts/build && bench/llm_bench.sh            # about a minute
# Settings (environment): LATENCY_MS (50), CAP (64), IN_FLIGHT (CAP·5/4, over all ranks), N (2000),
# N_SEQ (100), N_MEM (1000), FAULT_RATE (0.2), RESULTS (bench/results/llm-<date>.md).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bench_bin=${BENCH_BIN:-$root/build/llm_client_bench}
python=${PYTHON:-/usr/bin/python3}
latency_ms=${LATENCY_MS:-50}
cap=${CAP:-64}
# A few more requests in flight than the server's cap keep it busy: when a slot frees, the next
# request is already queued there instead of one client round trip away.
in_flight=${IN_FLIGHT:-$((cap * 5 / 4))}
n=${N:-2000}
n_seq=${N_SEQ:-100}
n_mem=${N_MEM:-1000}
fault_rate=${FAULT_RATE:-0.2}
results=${RESULTS:-$root/bench/results/llm-$(date -u +%F).md}
[ -x "$bench_bin" ] || { echo "llm_bench: $bench_bin is missing; run scripts/build first" >&2; exit 2; }

work=$(mktemp -d /tmp/t2s-llm-bench.XXXXXX)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# start_server SCRIPT_JSON LATENCY CAP: (re)starts the scripted server; sets $url.
start_server() {
  [ -n "$server_pid" ] && { kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null || true; }
  echo "$1" > "$work/script.json"
  rm -f "$work/port"
  "$python" "$root/tests/llm_server/scripted_server.py" --script "$work/script.json" --port-file "$work/port" \
    --latency-ms "$2" --max-concurrent "$3" --quiet &
  server_pid=$!
  for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
  [ -s "$work/port" ] || { echo "llm_bench: the scripted server did not start" >&2; exit 1; }
  url="http://127.0.0.1:$(cat "$work/port")/v1"
}

run() { "$@" 2>&1 | tail -n 1; }
field() { "$python" -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }
calc() { "$python" -c "print($1)"; }

echo_script='{"rules": [{"echo": true}]}'
start_server "$echo_script" "$latency_ms" "$cap"
echo "== one request at a time ($n_seq requests, latency $latency_ms ms)"
seq_json=$(run "$bench_bin" --base-url "$url" --requests "$n_seq" --in-flight 1)
echo "$seq_json"
echo "== saturation, 1 rank ($n requests, server cap $cap, $in_flight in flight)"
one_json=$(run "$bench_bin" --base-url "$url" --requests "$n" --in-flight "$in_flight")
echo "$one_json"
echo "== saturation, 2 ranks ($n requests, server cap $cap, $((in_flight / 2)) in flight per rank)"
two_json=$(run "$root/scripts/mpirun" -n 2 "$bench_bin" --base-url "$url" --requests "$n" --in-flight $((in_flight / 2)))
echo "$two_json"

start_server "$echo_script" 1000 "$n_mem"
echo "== memory: $n_mem requests in flight (latency 1 s)"
mem_json=$(run "$bench_bin" --base-url "$url" --requests "$n_mem" --in-flight "$n_mem")
echo "$mem_json"

fault_script=$(cat <<EOF
{"rules": [{"echo": true}],
 "random_faults": {"rate": $fault_rate, "seed": 2026, "kinds": [
   {"kind": "status", "status": 500}, {"kind": "status", "status": 503}, {"kind": "rate_limit", "retry_after": 0},
   {"kind": "reset"}, {"kind": "truncated"}, {"kind": "invalid_json"}, {"kind": "stall", "seconds": 3}]}}
EOF
)
start_server "$fault_script" "$latency_ms" "$cap"
echo "== faults: $n requests, $(calc "int($fault_rate*100)")% of answers faulty, 3 attempts each, 1 s timeout"
fault_status=0
fault_json=$(run "$bench_bin" --base-url "$url" --requests "$n" --in-flight "$cap" --max-attempts 3 --total-timeout 1) || fault_status=$?
echo "$fault_json"

ideal=$(calc "-(-$n // $cap) * $latency_ms / 1000")
seq_per_s=$(calc "$n_seq / $(field "$seq_json" wall_s)")
one_wall=$(field "$one_json" wall_s)
two_wall=$(field "$two_json" wall_s)
eff1=$(calc "round($ideal / $one_wall, 3)")
eff2=$(calc "round($ideal / $two_wall, 3)")
speed1=$(calc "round($n / $one_wall / $seq_per_s, 1)")
speed2=$(calc "round($n / $two_wall / $seq_per_s, 1)")
accounted=$(calc "$(field "$fault_json" succeeded) + $(field "$fault_json" failed) == $n and $(field "$fault_json" failed_without_reason) == 0")
pass() { [ "$1" = "True" ] && echo PASS || echo FAIL; }

mkdir -p "$(dirname "$results")"
{
  echo "# LLM client benchmark, $(date -u '+%F %H:%M') UTC"
  echo
  echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GB", $2/1048576}' /proc/meminfo). t2s at $(git -C "$root" rev-parse --short HEAD)."
  echo "Scripted server (tests/llm_server): latency $latency_ms ms, at most $cap requests processed at once."
  echo
  echo "| run | requests | wall s | ideal s | efficiency | speed-up vs 1 at a time | client CPU µs/request | peak RSS MB |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|"
  echo "| 1 at a time | $n_seq | $(calc "round($(field "$seq_json" wall_s),3)") | $(calc "$n_seq*$latency_ms/1000") | | 1.0 | $(calc "round($(field "$seq_json" client_cpu_us_per_request))") | $(calc "round($(field "$seq_json" peak_rss_mb),1)") |"
  echo "| 1 rank, $in_flight in flight | $n | $(calc "round($one_wall,3)") | $ideal | $eff1 | $speed1 | $(calc "round($(field "$one_json" client_cpu_us_per_request))") | $(calc "round($(field "$one_json" peak_rss_mb),1)") |"
  echo "| 2 ranks, $((in_flight / 2)) in flight each | $n | $(calc "round($two_wall,3)") | $ideal | $eff2 | $speed2 | $(calc "round($(field "$two_json" client_cpu_us_per_request))") | $(calc "round($(field "$two_json" peak_rss_mb),1)") |"
  echo "| $n_mem in flight, 1 s latency | $n_mem | $(calc "round($(field "$mem_json" wall_s),3)") | 1.0 | | | $(calc "round($(field "$mem_json" client_cpu_us_per_request))") | $(calc "round($(field "$mem_json" peak_rss_mb),1)") |"
  echo
  echo "Faults ($(calc "int($fault_rate*100)")% of answers: 500, 503, 429, reset, truncated, invalid JSON, 3 s stall; 3 attempts, 1 s timeout):"
  echo "$(field "$fault_json" succeeded) succeeded, $(field "$fault_json" failed) failed, $(field "$fault_json" failed_without_reason) failed without a reason, $(field "$fault_json" attempts) attempts; reasons on rank 0: $(field "$fault_json" rank0_failure_reasons)"
  echo
  echo "| target | measured | |"
  echo "|---|---|---|"
  echo "| efficiency ≥ 0.9, 1 rank | $eff1 | $(pass "$(calc "$eff1 >= 0.9")") |"
  echo "| efficiency ≥ 0.9, 2 ranks | $eff2 | $(pass "$(calc "$eff2 >= 0.9")") |"
  echo "| every request accounted for under faults | $(field "$fault_json" succeeded) + $(field "$fault_json" failed) of $n | $(pass "$accounted") |"
} > "$results"
echo
cat "$results"
echo "== report written to $results"
[ "$fault_status" -eq 0 ]
