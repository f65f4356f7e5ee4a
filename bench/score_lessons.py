#!/usr/bin/python3
"""Scores the lessons of an evolve run (run.h5, read with h5py) against the planted truth of a
`t2s synth` corpus: truth.jsonl, and truth.json beside it when it is there (kinds and literals).

A lesson recovers a planted pattern when the Jaccard similarity of its support set and the pattern's
target set is at least 0.9. The target set of a failure mode is the trajectories it was planted in;
that of a habit, plain or conditional, is those of them that succeeded (an analyst's habit support
is the successful runs that show it; without truth.json every pattern is scored on all its planted
runs). A pattern with a literal (a quoted key, a regular expression) is recovered only when the
matching lesson's text contains the literal verbatim. Only lessons the prevalence policy put in
SKILL.md count as reported; precision counts the reported lessons whose support matches a pattern,
literal or not.

Prints one JSON object: recall, precision, literal recall, per-pattern target/support counts and
relative error, the patterns missed, and the reported lessons that match nothing."""
import json
import os
import sys

import h5py


def main(run_path, truth_path):
    planted, succeeded = {}, set()
    for line in open(truth_path, encoding="utf-8"):
        row = json.loads(line)
        if row["success"]:
            succeeded.add(row["id"])
        for pattern in row["planted"]:
            planted.setdefault(pattern, set()).add(row["id"])
    summary = os.path.join(os.path.dirname(os.path.abspath(truth_path)), "truth.json")
    catalogue = {}
    if os.path.exists(summary):
        with open(summary, encoding="utf-8") as f:
            catalogue = {p["id"]: p for p in json.load(f)["patterns"]}
    kind = lambda name: catalogue.get(name, {}).get("kind", "failure")
    literal = lambda name: catalogue.get(name, {}).get("literal")
    targets = {}
    for name, members in planted.items():
        target = members & succeeded if kind(name) in ("habit", "conditional-habit") else members
        if target:  # a habit none of whose runs succeeded cannot be recovered
            targets[name] = target

    with h5py.File(run_path, "r") as f:
        g = f["lessons"]
        # support sets are positions into /trajectories/id (run.h5 format 3; earlier formats hold ids)
        ids = f["trajectories/id"].asstr()[:] if "trajectories" in f else None
        named = lambda members: {ids[m] if isinstance(m, int) else m for m in members}
        lessons = [
            {"id": i, "placement": p, "support": named(json.loads(s)), "text": t}
            for i, p, s, t in zip(g["id"].asstr()[:], g["placement"].asstr()[:], g["support"].asstr()[:],
                                  g["text"].asstr()[:])
        ]
        metrics = json.loads(f["metrics/json"].asstr()[0])
        ranks = int(f["provenance"].attrs["ranks"])
    reported = [lesson for lesson in lessons if lesson["placement"] == "SKILL.md"]

    # Per pattern, its best reported lesson: one that keeps the literal first, then the closest support.
    matched_lessons, best, unmatched = 0, {}, []
    for lesson in reported:
        name, best_j = None, 0.0
        for candidate, target in targets.items():
            j = len(target & lesson["support"]) / len(target | lesson["support"])
            if j > best_j:
                name, best_j = candidate, j
        if best_j < 0.9:
            unmatched.append(lesson["text"][:120])
            continue
        matched_lessons += 1
        kept = literal(name) is None or literal(name) in lesson["text"]
        if name not in best or (kept, best_j) > best[name][0]:
            best[name] = ((kept, best_j), lesson)

    patterns = {}
    for name, ((kept, j), lesson) in best.items():
        n = len(targets[name])
        patterns[name] = {"planted": n, "support": len(lesson["support"]), "jaccard": round(j, 4),
                          "error": round(abs(len(lesson["support"]) - n) / n, 4),
                          "kind": kind(name), "planted_runs": len(planted[name])}
        if literal(name) is not None:
            patterns[name].update({"literal": literal(name), "literal_kept": kept})
    if unmatched:
        patterns["unmatched"] = unmatched
    recovered = [p for p in targets if p in best and best[p][0][0]]
    with_literal = [p for p in targets if literal(p) is not None]
    result = {
        "planted": len(targets), "reported": len(reported), "lessons": len(lessons),
        "recall": len(recovered) / len(targets) if targets else 1.0,
        "precision": matched_lessons / len(reported) if reported else 1.0,
        "max_support_error": max((v["error"] for k, v in patterns.items() if k != "unmatched"), default=0.0),
        # support alone, literals or not (the recall of earlier versions of this script)
        "recall_by_support": len([p for p in targets if p in best]) / len(targets) if targets else 1.0,
        "literals": len(with_literal),
        "literal_recall": len([p for p in with_literal if p in recovered]) / len(with_literal) if with_literal else 1.0,
        "missed": sorted(p for p in targets if p not in recovered),
        "patterns": patterns, "ranks": ranks, "metrics": metrics,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
