#!/usr/bin/env python3
"""Counts for README.md: summarize.py corpus.jsonl expected.jsonl"""
import collections
import json
import sys


def main(corpus, expected):
    by_type, by_cat = collections.Counter(), collections.defaultdict(collections.Counter)
    exprs = set()
    n = 0
    with open(corpus, encoding="utf-8") as c, open(expected, encoding="utf-8") as e:
        for cl, el in zip(c, e):
            ci, ei = json.loads(cl), json.loads(el)
            assert ci.get("id") == ei.get("id"), (ci.get("id"), ei.get("id"))
            n += 1
            exprs.add(ci["expr"])
            key = f"ok {ei['type']}" if ei["ok"] else ei["stage"]
            by_type[key] += 1
            by_cat[ci["id"].split(".")[0]]["ok" if ei["ok"] else ei["stage"]] += 1
    print(f"{len(exprs)} expressions, {n} lines\n")
    print("| outcome | lines |\n| --- | ---: |")
    for k, v in sorted(by_type.items(), key=lambda kv: (not kv[0].startswith("ok"), kv[0])):
        print(f"| {k} | {v} |")
    stages = ["ok", "parse", "eval", "input", "internal", "crash", "timeout"]
    used = [s for s in stages if any(c[s] for c in by_cat.values())]
    print("\n| category | " + " | ".join(used) + " |\n| --- |" + " ---: |" * len(used))
    for cat in sorted(by_cat):
        print(f"| {cat} | " + " | ".join(str(by_cat[cat][s]) for s in used) + " |")


if __name__ == "__main__":
    main(*sys.argv[1:3])
