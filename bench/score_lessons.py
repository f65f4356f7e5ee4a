#!/usr/bin/python3
"""Scores the lessons of an evolve run (run.h5, read with h5py) against the planted truth of a
`t2s synth` corpus (truth.jsonl). A lesson recovers a planted pattern when the Jaccard similarity of
its support set and the pattern's trajectories is at least 0.9. Only lessons the prevalence policy
put in SKILL.md count as reported.

Prints one JSON object: recall, precision, per-pattern planted/support counts and relative error,
and the reported lessons that match nothing."""
import json
import sys

import h5py


def main(run_path, truth_path):
    planted = {}
    for line in open(truth_path, encoding="utf-8"):
        row = json.loads(line)
        for pattern in row["planted"]:
            planted.setdefault(pattern, set()).add(row["id"])
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
    matched_lessons, patterns = 0, {}
    for lesson in reported:
        best, best_j = None, 0.0
        for name, ids in planted.items():
            both = len(ids & lesson["support"])
            j = both / len(ids | lesson["support"])
            if j > best_j:
                best, best_j = name, j
        if best_j >= 0.9:
            matched_lessons += 1
            n = len(planted[best])
            patterns[best] = {"planted": n, "support": len(lesson["support"]), "jaccard": round(best_j, 4),
                              "error": round(abs(len(lesson["support"]) - n) / n, 4)}
        else:
            patterns.setdefault("unmatched", []).append(lesson["text"][:120])
    recovered = [p for p in planted if p in patterns]
    result = {
        "planted": len(planted), "reported": len(reported), "lessons": len(lessons),
        "recall": len(recovered) / len(planted) if planted else 1.0,
        "precision": matched_lessons / len(reported) if reported else 1.0,
        "max_support_error": max((v["error"] for k, v in patterns.items() if k != "unmatched"), default=0.0),
        "patterns": patterns, "ranks": ranks, "metrics": metrics,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
