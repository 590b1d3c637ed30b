#!/usr/bin/env python3
"""Writes examples/experts/<name>/draft-corpus.txt for the json and sql example experts: the answers
they were trained on (scripts/expert_data.py, the trainer's seeds), each once, in first-seen order, one
per line. Each package names its file (training.decoding.draft_corpus), and `--draft lookup` drafts from
it beside the prompt and the text so far (docs/SPECULATIVE.md). scripts/expert_pack.py writes the same
files when it packs. Standard library only; deterministic.

Usage: python3 scripts/make-draft-corpus.py [--check]   (--check: exit 1 when a committed file differs)
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from expert_data import draft_corpus  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    check = "--check" in sys.argv[1:]
    bad = 0
    for name in ("json", "sql"):
        path = os.path.join(ROOT, "examples", "experts", name, "draft-corpus.txt")
        text = draft_corpus(name)
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
