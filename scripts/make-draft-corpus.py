#!/usr/bin/env python3
"""Writes examples/experts/<name>/draft-corpus.txt for the json and sql example experts: the answers
they were trained on (scripts/expert_data.py, the trainer's seeds), each once, in first-seen order, one
per line. `--draft lookup --draft-corpus FILE` drafts from such a file when the prompt and the text so
far offer nothing (docs/SPECULATIVE.md). Standard library only; deterministic.

Usage: python3 scripts/make-draft-corpus.py [--check]   (--check: exit 1 when a committed file differs)
"""
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from expert_data import TRAIN_SETS, gen_json, gen_sql  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GENERATORS = {"json": gen_json, "sql": gen_sql}


def corpus(name):
    t = TRAIN_SETS[name]
    seen, lines = set(), []
    for _, answer in GENERATORS[name](random.Random(t["seed"]), t["n_train"]):
        if answer not in seen:
            seen.add(answer)
            lines.append(answer)
    return "".join(a + "\n" for a in lines)


def main():
    check = "--check" in sys.argv[1:]
    bad = 0
    for name in GENERATORS:
        path = os.path.join(ROOT, "examples", "experts", name, "draft-corpus.txt")
        text = corpus(name)
        if check:
            with open(path, encoding="utf-8") as f:
                if f.read() != text:
                    print(f"{path}: differs from what this script makes", file=sys.stderr)
                    bad = 1
            continue
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        print(f"{os.path.relpath(path, ROOT)}: {text.count(chr(10))} answers, {len(text)} bytes")
    return bad


if __name__ == "__main__":
    sys.exit(main())
