#!/usr/bin/env bash
# Evolve benchmark (stats analysts, no LLM): planted-pattern recovery on `t2s synth` corpora, and
# stats throughput and peak memory per rank as the corpus grows. See bench/README.md.
#
#   bench/evolve_bench.sh                 recovery on 4 corpora; scaling at 10k, 100k, 1M trajectories
#   SCALING="10000 100000" bench/evolve_bench.sh
#
# Environment (all optional):
#   T2S=path        the t2s binary (default build/t2s); not built here
#   RANKS=2         MPI ranks of every evolve run
#   SCALING="..."   corpus sizes of the scaling runs ("" to skip)
#   REPEATS=2       export and 1-rank evolve runs per size, alternated; the fastest of each is reported
#   BENCH_DIR=/tmp  where the scratch directory is made; removed at the end unless KEEP=1
#   RESULTS=path    Markdown report (default bench/results/evolve-<date>.md)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
T2S=${T2S:-$ROOT/build/t2s}
RANKS=${RANKS:-2}
SCALING=${SCALING-10000 100000 1000000}
PYTHON=/usr/bin/python3
RESULTS=${RESULTS:-$ROOT/bench/results/evolve-$(date +%F).md}
SCRATCH=$(mktemp -d "${BENCH_DIR:-/tmp}/t2s-evolve-bench.XXXXXX")
[[ ${KEEP:-0} == 1 ]] || trap 'rm -rf "$SCRATCH"' EXIT
MPIRUN="$ROOT/scripts/mpirun"

# corpus NAME N SEED [synth options...]: synth + ingest into $SCRATCH/NAME
corpus() {
  local name=$1 n=$2 seed=$3
  shift 3
  "$T2S" synth -o "$SCRATCH/$name" --trajectories "$n" --seed "$seed" "$@" >/dev/null
  "$T2S" ingest "$SCRATCH/$name/trajectories.jsonl" -o "$SCRATCH/$name/trajectories.h5" >/dev/null
}

# evolve NAME [block]: runs the stats evolve job on $SCRATCH/NAME with every rank under /usr/bin/time
# (block: the job's default unless given); prints the peak RSS of each rank (kB), one per line, to
# $SCRATCH/NAME/rss
evolve() {
  local name=$1 block=${2:-}
  cat >"$SCRATCH/$name/job.toml" <<TOML
[evolve]
trajectories = "$SCRATCH/$name/trajectories.h5"
output = "$SCRATCH/$name/run"
skill_name = "bench-skill"
${block:+block = $block}
checkpoint_every = 8
TOML
  "$MPIRUN" -n "$RANKS" /usr/bin/time -f "rss_kb %M" "$T2S" evolve "$SCRATCH/$name/job.toml" \
    >"$SCRATCH/$name/evolve.log" 2>"$SCRATCH/$name/time.log"
  grep -o 'rss_kb [0-9]*' "$SCRATCH/$name/time.log" | awk '{print $2}' >"$SCRATCH/$name/rss"
}

{
  echo "# Evolve benchmark, $(date +%F)"
  echo
  echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GB", $2/1e6}' /proc/meminfo); $RANKS MPI ranks; $("$T2S" --version | head -1)."
  echo
  echo "## Planted-pattern recovery (stats analysts)"
  echo
  echo "A lesson recovers a pattern when the Jaccard similarity of its support set and the planted"
  echo "trajectories is at least 0.9; reported lessons are those the prevalence policy put in SKILL.md."
  echo
  echo "A pattern with a literal (a key, a regular expression) counts only when the lesson's text keeps"
  echo "it verbatim; literal recall is over those patterns alone."
  echo
  echo "| corpus | trajectories | planted | reported | recall | precision | literal recall | max support error |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|"
} >"$RESULTS"

recovery() {
  local name=$1 n=$2 seed=$3
  shift 3
  corpus "$name" "$n" "$seed" "$@"
  evolve "$name" 64
  "$PYTHON" "$ROOT/bench/score_lessons.py" "$SCRATCH/$name/run/run.h5" "$SCRATCH/$name/truth.jsonl" >"$SCRATCH/$name/score.json"
  "$PYTHON" - "$SCRATCH/$name/score.json" "$name ${*:-(defaults)}" "$n" >>"$RESULTS" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
literal = r.get("literal_recall")
literal = "–" if literal is None else f"{literal:.3f}"
print(f"| {sys.argv[2]} | {sys.argv[3]} | {r['planted']} | {r['reported']} | {r['recall']:.3f} | {r['precision']:.3f} | {literal} | {100 * r['max_support_error']:.1f}% |")
for name in r.get("missed", []):
    print(f"|   missed: {name} | | | | | | | |")
if "unmatched" in r["patterns"]:
    for text in r["patterns"]["unmatched"]:
        print(f"|   unmatched: {text.replace('|', '/')} | | | | | | | |")
PY
  echo "recovery $name: $(tail -1 "$RESULTS")"
}

recovery seed1 2000 1
recovery seed2 5000 2
recovery noisy 5000 3 --noise 0.7
recovery rare 5000 4 --rate active-sheet-edit=0.04 --rate text-numbers=0.05 --rate recalculate-before-readback=0.1

if [[ -n $SCALING ]]; then
  {
    echo
    echo "## Stats throughput and peak memory per rank"
    echo
    echo "Throughput: trajectories / (time to mine the lessons + time to analyse every unit) / ranks."
    echo "Peak memory: the largest resident set of any rank, after the analysis (mining + unit"
    echo "patches: what grows with the trajectories read) and for the whole run (GNU time: the merge"
    echo "tree and the archive hold every support set, which grows with the corpus by nature)."
    echo
    echo "Against one read pass: the whole stats evolve at one rank (wall time) over \`t2s export\` of the"
    echo "same store (wall time: read, inflate and write every record), in the same run, alternated, the"
    echo "fastest of ${REPEATS:-2} runs of each (target: at most 3x). The evolve uses the threads its rank may"
    echo "use (\`evolve.threads = 0\`: both cores here); \`t2s export\` reads on one thread."
    echo
    echo "| trajectories | store | mine (s) | analyse (s) | merge (s) | trajectories/s per rank | peak RSS per rank, analysis | peak RSS per rank, whole run | export (s) | evolve at 1 rank (s) | ratio |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  } >>"$RESULTS"
  for n in $SCALING; do
    corpus "scale$n" "$n" 9
    evolve "scale$n"
    # one read pass against the whole stats evolve at one rank, same store, same run: alternated,
    # REPEATS times each, the fastest of each (a shared machine's noise only ever adds time)
    sync
    sed "s#$SCRATCH/scale$n/run#$SCRATCH/scale$n/run1#" "$SCRATCH/scale$n/job.toml" >"$SCRATCH/scale$n/job1.toml"
    export_s="" evolve1_s=""
    for _ in $(seq "${REPEATS:-2}"); do
      e=$( { /usr/bin/time -f "%e" "$T2S" export "$SCRATCH/scale$n/trajectories.h5" -o "$SCRATCH/scale$n/export.jsonl" >/dev/null; } 2>&1 | tail -1)
      rm -f "$SCRATCH/scale$n/export.jsonl"
      rm -rf "$SCRATCH/scale$n/run1"
      v=$( { /usr/bin/time -f "%e" "$T2S" evolve "$SCRATCH/scale$n/job1.toml" >/dev/null; } 2>&1 | tail -1)
      export_s=$("$PYTHON" -c "import sys; print(min(float(x) for x in sys.argv[1:]))" $export_s "$e")
      evolve1_s=$("$PYTHON" -c "import sys; print(min(float(x) for x in sys.argv[1:]))" $evolve1_s "$v")
    done
    "$PYTHON" - "$SCRATCH/scale$n/run/run.h5" "$SCRATCH/scale$n/rss" "$n" "$RANKS" \
      "$(du -h "$SCRATCH/scale$n/trajectories.h5" | cut -f1)" "$export_s" "$evolve1_s" >>"$RESULTS" <<'PY'
import json, sys
import h5py
with h5py.File(sys.argv[1], "r") as f:
    m = json.loads(f["metrics/json"].asstr()[0])
rss = max(int(x) for x in open(sys.argv[2]).read().split())
n, ranks = int(sys.argv[3]), int(sys.argv[4])
export_s, evolve1_s = float(sys.argv[6]), float(sys.argv[7])
rate = n / (m["mine_s"] + m["analyse_s"]) / ranks
print(f"| {n} | {sys.argv[5]} | {m['mine_s']:.1f} | {m['analyse_s']:.1f} | {m['consolidate_s']:.1f} | {rate:,.0f} | "
      f"{m['peak_rss_mb_after_analyse']:.0f} MB | {rss / 1024:.0f} MB | {export_s:.1f} | {evolve1_s:.1f} | {evolve1_s / export_s:.1f}x |")
PY
    echo "scaling $n: $(tail -1 "$RESULTS")"
    rm -rf "$SCRATCH/scale$n"
  done
fi
echo "report: $RESULTS"
