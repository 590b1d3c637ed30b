#!/usr/bin/env python3
"""repack-example-experts.py — apply manifest/package changes to examples/experts without retraining.

For each expert folder: merges expert_pack.PACKAGE_DECODING into training.decoding of manifest.json,
writes expert_pack.EXTRA_FILES, rebuilds <name>.expert (deterministic tar.gz) and updates expert_bytes in
golden.json. Adapters and golden outputs are untouched. Standard library only.

Usage: python3 scripts/repack-example-experts.py [--out examples/experts]
"""
import argparse
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import expert_pack  # noqa: E402


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(here, "..", "examples", "experts"))
    a = ap.parse_args()
    out = os.path.abspath(a.out)
    golden_path = os.path.join(out, "golden.json")
    sizes = {}
    for name in sorted(os.listdir(out)):
        d = os.path.join(out, name)
        mf = os.path.join(d, "manifest.json")
        if not os.path.isfile(mf):
            continue
        with open(mf) as f:
            m = json.load(f)
        m.setdefault("training", {}).setdefault("decoding", {}).update(expert_pack.PACKAGE_DECODING.get(name, {}))
        with open(mf, "w") as f:
            json.dump(m, f, indent=2)
            f.write("\n")
        expert_pack.write_extra_files(name, d)
        size = expert_pack.pack(d, os.path.join(out, f"{name}.expert"))
        sizes[name] = size
        print(f"{name}.expert: {size} bytes")
    if os.path.exists(golden_path):
        # edit the sizes in place: the file's own layout (written by train-example-experts.py) is kept
        with open(golden_path) as f:
            text = f.read()
        lines = text.split("\n")
        for name, size in sizes.items():
            start = next((i for i, l in enumerate(lines) if l.strip() == f'"expert_file": "{name}.expert",'), None)
            if start is None:
                continue
            for i in range(start, len(lines)):
                if lines[i].lstrip().startswith('"expert_bytes":'):
                    lines[i] = re.sub(r"\d+", str(size), lines[i], count=1)
                    break
        text = "\n".join(lines)
        with open(golden_path, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
