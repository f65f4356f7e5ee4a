#!/usr/bin/env bash
# Lessons on real corpora (issue 17): are the stats analyst's lessons spread over tasks, procedural
# rather than keyed on entity values, and found again on tasks they were not mined from? See
# bench/README.md "Lessons on real corpora" for the rules.
#
# For each real corpus in $DATA (tau-bench airline; LATS programming; ADaPT TextCraft and ALFWorld;
# an absent one is skipped with a message, and nothing is copied into the repository):
#   1. `t2s ingest` it and `t2s evolve` it with the stats analyst (no LLM) on $RANKS MPI ranks;
#   2. split its TASKS into two disjoint halves (half A: the first byte of SHA-256 of the task id is
#      even; half B: odd), write each half as its own input file (same format), ingest and evolve
#      each half alone;
#   3. bench/lesson_quality.py measures the lessons: placement, support tasks and their share,
#      entity-keyed tokens, and the share of each half's lessons found again in the other half.
#
#   bench/lessons_bench.sh
#   KEEP=1 BENCH_DIR=/tmp SET="prevalence.min_fraction=0.05" bench/lessons_bench.sh
#
# Environment (all optional):
#   T2S=path        the t2s binary (default build/t2s); not built here
#   PYTHON=path     a Python with h5py (default /usr/bin/python3)
#   DATA=dir        the real data (default ../shared/data, relative to the repository root)
#   RANKS=2         MPI ranks of every evolve run (scripts/mpirun)
#   SET="k=v ..."   extra `--set key=value` for every evolve run (whitespace-separated)
#   BENCH_DIR=/tmp  where the scratch directory is made; removed at the end unless KEEP=1
#   RESULTS=path    Markdown report (default bench/results/lessons-<date>.md)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
T2S=${T2S:-$ROOT/build/t2s}
PYTHON=${PYTHON:-/usr/bin/python3}
DATA=${DATA:-$ROOT/../shared/data}
RANKS=${RANKS:-2}
SET=${SET:-}
RESULTS=${RESULTS:-$ROOT/bench/results/lessons-$(date +%F).md}
SCRATCH=$(mktemp -d "${BENCH_DIR:-/tmp}/t2s-lessons-bench.XXXXXX")
[[ ${KEEP:-0} == 1 ]] || trap 'rm -rf "$SCRATCH"' EXIT
MPIRUN="$ROOT/scripts/mpirun"
QUALITY="$ROOT/bench/lesson_quality.py"

[[ -x $T2S ]] || { echo "no t2s binary at $T2S (build it first: scripts/build)" >&2; exit 2; }
sets=()
for kv in $SET; do sets+=(--set "$kv"); done

# evolve DIR NAME DESCRIPTION: the stats evolve job on DIR/trajectories.h5 → DIR/run; returns t2s's status
# (its stderr is in DIR/evolve.err)
evolve() {
  local dir=$1 name=$2 description=$3
  cat >"$dir/job.toml" <<TOML
[evolve]
trajectories = "$dir/trajectories.h5"
output = "$dir/run"
skill_name = "$name"
description = "$description"
analyst = "stats"
TOML
  "$MPIRUN" -n "$RANKS" "$T2S" evolve "$dir/job.toml" ${sets[@]+"${sets[@]}"} >"$dir/evolve.log" 2>"$dir/evolve.err"
}

# ingest DIR FORMAT INPUT [options...]: INPUT → DIR/trajectories.h5
ingest() {
  local dir=$1 format=$2 input=$3
  shift 3
  mkdir -p "$dir"
  "$T2S" ingest "$input" --format "$format" "$@" -o "$dir/trajectories.h5" >"$dir/ingest.log" 2>&1
}

# why FILE: t2s's error line in an evolve's stderr (mpirun adds its own lines), else the last line
why() { grep -m1 '^t2s: ' "$1" || tail -1 "$1"; }

failures=()
measures=()

# corpus LABEL SKILL_NAME FORMAT INPUT [ingest options...]
corpus() {
  local label=$1 name=$2 format=$3 input=$4
  shift 4
  if [[ ! -f $input ]]; then
    echo "skip $label: $input is not there (see ../shared/data/README.md)"
    return
  fi
  local dir="$SCRATCH/$name" ext=jsonl description
  [[ $format == taubench ]] && ext=json
  description="Lessons the stats analyst mined from the $label trajectories (bench/lessons_bench.sh)."
  ingest "$dir/whole" "$format" "$input" "$@"
  if ! evolve "$dir/whole" "$name" "$description"; then
    failures+=("$label, whole corpus: \`t2s evolve\` failed: $(why "$dir/whole/evolve.err")")
    echo "$label: evolve failed: $(why "$dir/whole/evolve.err")" >&2
    return
  fi
  # the split-half replication
  mkdir -p "$dir/a" "$dir/b"
  "$PYTHON" "$QUALITY" split "$input" --format "$format" --out-a "$dir/a/input.$ext" --out-b "$dir/b/input.$ext" \
    >"$dir/split.log"
  local halves=() note="" h
  for h in a b; do
    ingest "$dir/$h" "$format" "$dir/$h/input.$ext" "$@"
    if ! evolve "$dir/$h" "$name" "$description"; then
      failures+=("$label, half ${h^^}: \`t2s evolve\` failed: $(why "$dir/$h/evolve.err")")
      echo "$label: half ${h^^}: evolve failed: $(why "$dir/$h/evolve.err")" >&2
      halves=()
      note="not measured: half ${h^^}'s evolve failed (see Failures)"
      break
    fi
    halves+=(--half-"$h" "$dir/$h/trajectories.h5" "$dir/$h/run/run.h5")
  done
  "$PYTHON" "$QUALITY" measure --name "$label" --store "$dir/whole/trajectories.h5" --run "$dir/whole/run/run.h5" \
    ${halves[@]+"${halves[@]}"} --note "$note" >"$dir/measure.json"
  measures+=("$dir/measure.json")
  echo "$label: $(paste -sd ";" "$dir/split.log")"
}

corpus "tau-bench airline" tau-bench-airline taubench "$DATA/taubench-airline/gpt-4o-airline.json" --model gpt-4o
corpus "LATS programming" lats-programming openai "$DATA/real-dev/lats.jsonl"
corpus "ADaPT TextCraft" adapt-textcraft openai "$DATA/real-dev/textcraft.jsonl"
corpus "ADaPT ALFWorld" adapt-alfworld openai "$DATA/real-dev/alfworld.jsonl"

{
  echo "# Lessons on real corpora, $(date +%F)"
  echo
  echo "Machine: $(nproc) cores; $RANKS MPI ranks; $("$T2S" --version | head -1); data: $(realpath -m --relative-to="$ROOT" "$DATA")."
  echo "Evolve: \`analyst = \"stats\"\`, every other setting at its default${SET:+; --set $SET}."
  echo
  echo "Rules (bench/README.md, \"Lessons on real corpora\"): a lesson is *spread* when its support covers"
  echo "at least 3 distinct tasks and at least 5% of the corpus's tasks; *entity-keyed* when one of its"
  echo "code-span tokens is neither a tool name nor a tool-call argument name of the corpus and occurs as"
  echo "a whole word in the user messages or task instruction of its support tasks; *found again* when"
  echo "the other half has a lesson with the same key (or, without keys, the same text with the numbers"
  echo "removed). Halves: SHA-256 of the task id, first byte even → A, odd → B. Replication's goal"
  echo "applies to corpora with at least 10 tasks that have both outcomes."
  echo
  if ((${#measures[@]})); then
    "$PYTHON" "$QUALITY" report --halves "${measures[@]}"
  else
    echo "No corpus was measured."
  fi
  if ((${#failures[@]})); then
    echo
    echo "## Failures"
    echo
    printf -- '- %s\n' "${failures[@]}"
  fi
} >"$RESULTS"
echo "report: $RESULTS"
[[ ${KEEP:-0} != 1 ]] || echo "scratch kept: $SCRATCH (stores, job files, runs, logs, measure.json per corpus)"
((${#failures[@]} == 0)) || { echo "${#failures[@]} evolve run(s) failed (listed in the report)" >&2; exit 1; }
