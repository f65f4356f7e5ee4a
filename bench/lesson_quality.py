#!/usr/bin/python3
"""Judges the lessons of `t2s evolve` runs on a real corpus (issue 17, bench/README.md "Lessons on real
corpora"). Needs h5py (Debian: python3-h5py, run as /usr/bin/python3). Three subcommands:

  split INPUT --format openai|taubench --out-a A --out-b B
      Splits a corpus's TASKS into two disjoint halves: a record goes to half A when the first byte of
      SHA-256(task id as UTF-8 text) is even, to half B when it is odd. The task id is the record's
      `task_id` written as text (tau-bench's integer 35 is "35", as `t2s ingest` stores it); a record
      without one is hashed by its own JSON text (its own task). JSONL lines are copied byte for byte;
      a tau-bench JSON list stays a JSON list.

  measure --name NAME --store TRAJ.h5 --run RUN.h5 [--half-a TRAJ_A.h5 RUN_A.h5 --half-b TRAJ_B.h5 RUN_B.h5]
      Prints one JSON document with the figures of one corpus (below).

  report MEASURE.json...
      Prints the Markdown table (one row per corpus) and every lesson quoted verbatim with its figures.

Figures (lessons = the run's /lessons rows placed in SKILL.md or in a references file; "dropped" rows
are counted apart and left out of every share):
  - tasks: distinct /trajectories/task_id of the store (a trajectory without a task id is its own task);
    mixed tasks: tasks with at least one successful and one failed trajectory.
  - spread: a lesson's support tasks are the distinct tasks of its support trajectories; it is spread
    when they are >= 3 and >= 5% of the corpus's tasks.
  - entity-keyed: a lesson's key tokens are the Markdown code spans in its text (`book_reservation`,
    `'price'`, `reverse=True`, a templated symptom line). A token that is a tool name or a tool-call
    argument name (a key of the JSON arguments object, at any depth) used anywhere in the corpus is
    procedural. Any other token that occurs as a whole word (case-sensitive; not preceded or followed
    by a letter, digit or underscore; a token in quotes is also looked up without them) in the
    user/task text of the lesson's support tasks (the content of every `user` message of every
    trajectory of those tasks, and their task instruction) makes the lesson entity-keyed: an id copied
    from the task, a function name from a prompt, an item name, an English word from free text. The
    offending tokens are printed per lesson. Tokens that are neither procedural nor found in the task
    text, and hold no space (a symptom line is a message, not an identifier), are listed as
    "unclassified" with where they do occur; the rule does not count them (e.g. a word of a free-text
    argument the agent wrote itself, such as a transfer summary, or an id that only a tool returned).
  - replication (given both halves): a lesson of half A is found again when half B has a lesson with
    the same key (/lessons/key, when both runs have that column and the key is not empty) or, without
    keys, the same text once the numbers outside code spans (counts, percentages, decimals) are removed
    and spaces collapsed.
    Reported A->B, B->A and their mean, over each half's lessons (SKILL.md and references). The goal
    (>= 0.5) applies when the corpus has at least 10 mixed tasks; otherwise it is marked n/a.
"""
import argparse
import hashlib
import json
import re
import sys
from collections import defaultdict

MIN_TASKS, MIN_TASK_SHARE, MIN_MIXED = 3, 0.05, 10
CODE_SPAN = re.compile(r"`([^`]+)`")
NUMBER = re.compile(r"[-+]?\d[\d,]*(?:\.\d+)?\s*%?")


# ------------------------------------------------------------------------------------------- split

def half_of(task_id, fallback_text):
    key = str(task_id) if task_id not in (None, "") else fallback_text
    return "a" if hashlib.sha256(key.encode("utf-8")).digest()[0] % 2 == 0 else "b"


def split(args):
    counts = {"a": [0, set()], "b": [0, set()]}
    if args.format == "taubench":
        with open(args.input, encoding="utf-8") as f:
            records = json.load(f)
        halves = {"a": [], "b": []}
        for r in records:
            h = half_of(r.get("task_id"), json.dumps(r, sort_keys=True))
            halves[h].append(r)
            counts[h][0] += 1
            counts[h][1].add(str(r.get("task_id")))
        for h, path in (("a", args.out_a), ("b", args.out_b)):
            with open(path, "w", encoding="utf-8") as f:
                json.dump(halves[h], f)
    else:
        with open(args.input, "rb") as f, open(args.out_a, "wb") as fa, open(args.out_b, "wb") as fb:
            for line in f:
                if not line.strip():
                    continue
                r = json.loads(line)
                h = half_of(r.get("task_id"), line.decode("utf-8").strip())
                (fa if h == "a" else fb).write(line if line.endswith(b"\n") else line + b"\n")
                counts[h][0] += 1
                counts[h][1].add(str(r.get("task_id")))
    for h in "ab":
        print(f"half {h.upper()}: {counts[h][0]} trajectories, {len(counts[h][1])} tasks")


# ------------------------------------------------------------------------------------------- read

def text_of(content):
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return "\n".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
    return ""


def argument_names(value, into):
    if isinstance(value, dict):
        for k, v in value.items():
            into.add(k)
            argument_names(v, into)
    elif isinstance(value, list):
        for v in value:
            argument_names(v, into)


def read_store(path):
    """Per trajectory id: task, success; per task: its user/task text and other text (for 'unclassified');
    the corpus's tool names and argument names."""
    import h5py
    with h5py.File(path, "r") as f:
        t = f["trajectories"]
        ids = [x.decode() for x in t["id"][:]]
        task_ids = t["task_id"].asstr()[:]
        success = t["success"][:]
        offsets, lengths = t["offset"][:], t["length"][:]
        blob = t["text"][:].tobytes()
    trajectories, task_text, task_other = {}, defaultdict(list), defaultdict(list)
    tools, arg_names = set(), set()
    outcomes = defaultdict(set)
    for row, tid in enumerate(ids):
        task = task_ids[row] or tid
        trajectories[tid] = {"task": task, "success": int(success[row])}
        if success[row] >= 0:
            outcomes[task].add(int(success[row]))
        record = json.loads(blob[offsets[row]:offsets[row] + lengths[row]])
        instruction = (record.get("task") or {}).get("instruction")
        if isinstance(instruction, str):
            task_text[task].append(instruction)
        for m in record.get("messages", []):
            content = text_of(m.get("content"))
            if m.get("role") == "user":
                task_text[task].append(content)
            elif content:
                task_other[task].append((m.get("role", "?"), content))
            for call in m.get("tool_calls") or []:
                fn = call.get("function") or {}
                name = fn.get("name") or ""
                tools.add(name)
                raw = fn.get("arguments")
                try:
                    parsed = json.loads(raw) if isinstance(raw, str) else raw
                except ValueError:
                    parsed = None
                argument_names(parsed, arg_names)
                task_other[task].append((f"arguments of {name}", raw if isinstance(raw, str) else json.dumps(raw)))
    tasks = sorted(set(t["task"] for t in trajectories.values()))
    mixed = sorted(task for task, o in outcomes.items() if o == {0, 1})
    return {"trajectories": trajectories, "tasks": tasks, "mixed": mixed, "task_text": task_text,
            "task_other": task_other, "tools": tools, "arg_names": arg_names,
            "successes": int(sum(1 for t in trajectories.values() if t["success"] == 1)),
            "failures": int(sum(1 for t in trajectories.values() if t["success"] == 0))}


def read_run(path):
    import h5py
    with h5py.File(path, "r") as f:
        g = f["lessons"]
        n = len(g["id"])
        col = lambda name: g[name].asstr()[:] if name in g else [""] * n
        ids = f["trajectories/id"].asstr()[:] if "trajectories" in f else None
        lessons = []
        for i, placement, support, text, key, kind in zip(col("id"), col("placement"), col("support"), col("text"),
                                                          col("key"), col("kind")):
            members = json.loads(support) if support else []
            members = [ids[m] if isinstance(m, int) else m for m in members]
            lessons.append({"id": i, "placement": placement, "support": members, "text": text, "key": key, "kind": kind})
        has_key = "key" in g
        validation = f["skill/validation"].asstr()[0] if "skill" in f and "validation" in f["skill"] else ""
        valid = bool(f["skill"].attrs.get("valid", 0)) if "skill" in f else False
        provenance = f["provenance"].attrs
        version = provenance["version"] if "version" in provenance else ""
        revision = provenance["git_revision"] if "git_revision" in provenance else ""
    return {"lessons": lessons, "has_key": has_key, "valid": valid, "validation": validation,
            "version": version.decode() if isinstance(version, bytes) else str(version),
            "revision": revision.decode() if isinstance(revision, bytes) else str(revision)}


# ------------------------------------------------------------------------------------------- rules

def whole_word(token, text):
    return re.search(r"(?<![A-Za-z0-9_])" + re.escape(token) + r"(?![A-Za-z0-9_])", text) is not None


def unquoted(token):
    if len(token) >= 2 and token[0] == token[-1] and token[0] in "'\"":
        return token[1:-1]
    return token


def normalized(text):
    """The text with the numbers outside code spans removed and whitespace collapsed."""
    parts = re.split(r"(`[^`]*`)", text)
    out = "".join(p if p.startswith("`") else NUMBER.sub("", p) for p in parts)
    return " ".join(out.split())


def classify(lesson, store):
    tasks = sorted({store["trajectories"][m]["task"] for m in lesson["support"] if m in store["trajectories"]})
    text = "\n".join(s for task in tasks for s in store["task_text"].get(task, []))
    procedural, entity, unclassified = [], [], []
    for token in dict.fromkeys(CODE_SPAN.findall(lesson["text"])):
        bare = unquoted(token.strip())
        if token in store["tools"] or bare in store["tools"] or bare in store["arg_names"]:
            procedural.append(token)
        elif whole_word(token, text) or (bare != token and bare and whole_word(bare, text)):
            entity.append(token)
        elif not any(c.isspace() for c in bare):  # a message (a symptom line) is not an identifier
            seen = sorted({role for task in tasks for role, content in store["task_other"].get(task, [])
                           if whole_word(bare, content)})
            unclassified.append({"token": token, "seen_in": seen})
    return tasks, procedural, entity, unclassified


def lesson_figures(run, store):
    out, n_tasks = [], len(store["tasks"])
    for lesson in run["lessons"]:
        tasks, procedural, entity, unclassified = classify(lesson, store)
        missing = sum(1 for m in lesson["support"] if m not in store["trajectories"])
        share = len(tasks) / n_tasks if n_tasks else 0.0
        out.append({
            "id": lesson["id"], "kind": lesson["kind"], "placement": lesson["placement"], "text": lesson["text"],
            "key": lesson["key"], "support": len(lesson["support"]), "support_missing": missing,
            "tasks": len(tasks), "task_share": share,
            "spread": len(tasks) >= MIN_TASKS and share >= MIN_TASK_SHARE,
            "procedural_tokens": procedural, "entity_tokens": entity, "unclassified_tokens": unclassified,
            "entity_keyed": bool(entity),
            "match": lesson["key"] if run["has_key"] and lesson["key"] else normalized(lesson["text"]),
        })
    return out


def summary(name, store, run):
    lessons = lesson_figures(run, store)
    kept = [l for l in lessons if l["placement"] != "dropped"]
    share = lambda pred: (sum(1 for l in kept if pred(l)) / len(kept)) if kept else None
    return {
        "name": name, "trajectories": len(store["trajectories"]), "successes": store["successes"],
        "failures": store["failures"], "tasks": len(store["tasks"]), "mixed_tasks": len(store["mixed"]),
        "lessons_skill": sum(1 for l in kept if l["placement"] == "SKILL.md"),
        "lessons_references": sum(1 for l in kept if l["placement"] != "SKILL.md"),
        "lessons_dropped": len(lessons) - len(kept),
        "share_spread": share(lambda l: l["spread"]), "share_entity": share(lambda l: l["entity_keyed"]),
        "share_unclassified": share(lambda l: not l["entity_keyed"] and bool(l["unclassified_tokens"])),
        "skill_valid": run["valid"], "has_key": run["has_key"], "version": run["version"],
        "revision": run["revision"], "lessons": lessons,
    }


def found_again(mine, theirs):
    other = {l["match"] for l in theirs if l["placement"] != "dropped"}
    kept = [l for l in mine if l["placement"] != "dropped"]
    for l in kept:
        l["found_again"] = l["match"] in other
    return (sum(l["found_again"] for l in kept) / len(kept)) if kept else None


def measure(args):
    store, run = read_store(args.store), read_run(args.run)
    result = summary(args.name, store, run)
    result["note"] = args.note
    if args.half_a and args.half_b:
        halves = {}
        for h, (store_path, run_path) in (("a", args.half_a), ("b", args.half_b)):
            hs, hr = read_store(store_path), read_run(run_path)
            halves[h] = (summary(f"{args.name}, half {h.upper()}", hs, hr), hs)
        a, b = halves["a"][0], halves["b"][0]
        overlap = set(halves["a"][1]["tasks"]) & set(halves["b"][1]["tasks"])
        by_key = a["has_key"] and b["has_key"]
        if not by_key:  # compare texts on both sides, whatever one run has
            for l in a["lessons"] + b["lessons"]:
                l["match"] = normalized(l["text"])
        ab, ba = found_again(a["lessons"], b["lessons"]), found_again(b["lessons"], a["lessons"])
        mean = None if ab is None or ba is None else (ab + ba) / 2
        if ab is not None and ba is None:
            mean = ab
        elif ba is not None and ab is None:
            mean = ba
        result["replication"] = {
            "by": "key" if by_key else "text without numbers", "a_to_b": ab, "b_to_a": ba, "mean": mean,
            "applies": result["mixed_tasks"] >= MIN_MIXED, "shared_tasks": len(overlap),
            "half_a": {k: v for k, v in a.items()}, "half_b": {k: v for k, v in b.items()},
        }
    json.dump(result, sys.stdout, indent=1)
    print()


# ------------------------------------------------------------------------------------------- report

def pct(x):
    return "–" if x is None else f"{100 * x:.0f}%"


def replication_cell(r, note=""):
    if r is None:
        return note or "not run"
    if r["a_to_b"] is None and r["b_to_a"] is None:
        figure = "no lessons in either half"
    else:
        figure = f"{pct(r['mean'])} (A→B {pct(r['a_to_b'])}, B→A {pct(r['b_to_a'])})"
    if not r["applies"]:
        return f"n/a (fewer than {MIN_MIXED} mixed tasks; measured {figure})"
    return figure


def half_cell(r, h):
    s = r[f"half_{h}"]
    return f"{s['trajectories']} traj., {s['tasks']} tasks, {s['mixed_tasks']} mixed, {s['lessons_skill']}/{s['lessons_references']} lessons"


def lesson_line(l, with_found=False):
    where = "SKILL.md" if l["placement"] == "SKILL.md" else ("dropped" if l["placement"] == "dropped" else "refs")
    marks = [f"{where}", f"{l['support']} runs", f"{l['tasks']} tasks ({100 * l['task_share']:.1f}%)",
             "spread" if l["spread"] else "NOT spread"]
    if l["entity_tokens"]:
        marks.append("ENTITY: " + ", ".join(f"`{t}`" for t in l["entity_tokens"]))
    if l["unclassified_tokens"]:
        marks.append("unclassified: " + ", ".join(
            f"`{u['token']}`" + (f" (in {'; '.join(u['seen_in'])})" if u["seen_in"] else "") for u in l["unclassified_tokens"]))
    if with_found and "found_again" in l:
        marks.append("found again" if l["found_again"] else "not found again")
    text = l["text"].strip()
    text = text[2:] if text.startswith("- ") else text
    return f"- [{'; '.join(marks)}] {text}"


def report(args):
    results = [json.load(open(p, encoding="utf-8")) for p in args.measures]
    print("| corpus | trajectories (pass/fail) | tasks | mixed tasks | lessons SKILL.md / references "
          "| spread ≥3 tasks & ≥5% (goal 100%) | entity-keyed (goal 0) | replication (goal ≥ 50%) "
          "| not entity-keyed, with unclassified tokens |")
    print("|---|---:|---:|---:|---:|---:|---:|---|---:|")
    for r in results:
        print(f"| {r['name']} | {r['trajectories']} ({r['successes']}/{r['failures']}) | {r['tasks']} | {r['mixed_tasks']} "
              f"| {r['lessons_skill']} / {r['lessons_references']} | {pct(r['share_spread'])} | {pct(r['share_entity'])} "
              f"| {replication_cell(r.get('replication'), r.get('note'))} | {pct(r.get('share_unclassified'))} |")
    print()
    print("Halves (split by SHA-256 of the task id, first byte even → A, odd → B):")
    print()
    print("| corpus | half A | half B | tasks in both | matched by |")
    print("|---|---|---|---:|---|")
    for r in results:
        rep = r.get("replication")
        if rep:
            print(f"| {r['name']} | {half_cell(rep, 'a')} | {half_cell(rep, 'b')} | {rep['shared_tasks']} | {rep['by']} |")
    for r in results:
        print()
        print(f"### {r['name']}: lessons of the whole corpus ({r['lessons_skill']} in SKILL.md, "
              f"{r['lessons_references']} in references{', %d dropped' % r['lessons_dropped'] if r['lessons_dropped'] else ''})")
        print()
        if not r["lessons"]:
            print("(no lessons)")
        for l in r["lessons"]:
            print(lesson_line(l))
        rep = r.get("replication")
        if rep and args.halves:
            for h in "ab":
                s = rep[f"half_{h}"]
                print()
                print(f"#### {s['name']}: {s['lessons_skill']} in SKILL.md, {s['lessons_references']} in references")
                print()
                if not s["lessons"]:
                    print("(no lessons)")
                for l in s["lessons"]:
                    print(lesson_line(l, with_found=True))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("split")
    s.add_argument("input")
    s.add_argument("--format", choices=["openai", "taubench"], required=True)
    s.add_argument("--out-a", required=True)
    s.add_argument("--out-b", required=True)
    m = sub.add_parser("measure")
    m.add_argument("--name", required=True)
    m.add_argument("--store", required=True)
    m.add_argument("--run", required=True)
    m.add_argument("--half-a", nargs=2, metavar=("STORE", "RUN"))
    m.add_argument("--half-b", nargs=2, metavar=("STORE", "RUN"))
    m.add_argument("--note", default="", help="shown instead of the replication when the halves were not run")
    r = sub.add_parser("report")
    r.add_argument("measures", nargs="+")
    r.add_argument("--halves", action="store_true", help="also list each half's lessons, marked found again or not")
    args = p.parse_args()
    {"split": split, "measure": measure, "report": report}[args.command](args)


if __name__ == "__main__":
    main()
