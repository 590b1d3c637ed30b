#!/usr/bin/env python3
"""grammar-vs-peers.py — structured-output cost: compile time per schema and mask time per token.

Corpus: every draft-7 schema of the JSON-Schema-Test-Suite (Debian json-schema-test-suite) that Hive
compiles, with its valid instances (compact JSON, members in the schema's order), plus the schemas under
tests/unit/grammar/data. Each schema goes through `hive-host grammar check --json` (the model's tokenizer
splits each instance; the mask is computed before every token, as generation does).

Reports compile time p50 / p99 and mask time per token p50 / p99 / max, for Hive. Peers (XGrammar,
llama.cpp's grammar engine, issue 13 item 6) are not wired in yet: the table leaves their columns empty.

Usage: python3 scripts/bench/grammar-vs-peers.py --host build/cpu/bin/hive-host --model M [--json]
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile

SUITE = "/usr/share/json-schema-test-suite/tests/draft7"


def schema_order(schema):
    """Property names in the order the schema lists them (properties first, then required)."""
    out = []

    def walk(s, key):
        if isinstance(s, dict):
            v = s.get(key)
            if key == "properties" and isinstance(v, dict):
                out.extend(k for k in v if k not in out)
            if key == "required" and isinstance(v, list):
                out.extend(k for k in v if isinstance(k, str) and k not in out)
            for c in s.values():
                walk(c, key)
        elif isinstance(s, list):
            for c in s:
                walk(c, key)

    walk(schema, "properties")
    walk(schema, "required")
    return out


def canonical(v, order):
    if isinstance(v, dict):
        keys = sorted(v, key=lambda k: (order.index(k) if k in order else len(order)))
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + canonical(v[k], order) for k in keys) + "}"
    if isinstance(v, list):
        return "[" + ",".join(canonical(x, order) for x in v) + "]"
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"))


def corpus(root):
    items = []
    for f in sorted(glob.glob(os.path.join(SUITE, "*.json"))):
        for g in json.load(open(f)):
            valid = [t["data"] for t in g["tests"] if t["valid"]]
            items.append((f"{os.path.basename(f)}: {g['description']}", g["schema"], valid))
    for f in sorted(glob.glob(os.path.join(root, "tests", "unit", "grammar", "data", "*.schema.json"))):
        items.append((os.path.basename(f), json.load(open(f)), []))
    return items


def pct(v, p):
    if not v:
        return float("nan")
    v = sorted(v)
    return v[min(len(v) - 1, int(p * (len(v) - 1) + 0.5))]


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default=os.path.join(root, "build", "cpu", "bin", "hive-host"))
    ap.add_argument("--model", default=os.path.expanduser("~/.cache/hive/models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    compile_ms, mask_us, refused, schemas, instances = [], [], 0, 0, 0
    with tempfile.TemporaryDirectory() as d:
        for i, (name, schema, valid) in enumerate(corpus(root)):
            sp = os.path.join(d, f"s{i}.json")
            with open(sp, "w") as f:
                json.dump(schema, f)
            order = schema_order(schema)
            inputs = []
            for k, v in enumerate(valid):
                ip = os.path.join(d, f"s{i}_{k}.json")
                with open(ip, "w") as f:
                    f.write(canonical(v, order))
                inputs += ["--input", ip]
            p = subprocess.run([a.host, "grammar", "check", "--json-schema", sp, "--model", a.model, "--json"] + inputs,
                               capture_output=True, text=True, env=dict(os.environ, HIVE_LOG="error"))
            if p.returncode == 2:
                refused += 1
                continue
            r = json.loads(p.stdout)
            schemas += 1
            compile_ms.append(r["compile_ms"])
            for inp in r["inputs"]:
                if inp["accepted"]:
                    instances += 1
                    mask_us.extend(inp["mask_us_each"])
    res = {"engine": "hive", "schemas": schemas, "refused": refused, "instances": instances, "tokens": len(mask_us),
           "compile_ms_p50": pct(compile_ms, 0.5), "compile_ms_p99": pct(compile_ms, 0.99),
           "mask_us_p50": pct(mask_us, 0.5), "mask_us_p99": pct(mask_us, 0.99), "mask_us_max": max(mask_us or [0])}
    if a.json:
        print(json.dumps(res))
        return
    print("| engine | vocab | schemas (refused) | masks | mask p50 / p99 / max | compile p50 / p99 |")
    print("|---|---|---|---|---|---|")
    print(f"| Hive | SmolLM2 49k | {schemas} ({refused}) | {len(mask_us)} | {res['mask_us_p50']:.1f} us / "
          f"{res['mask_us_p99']:.0f} us / {res['mask_us_max'] / 1000:.1f} ms | {res['compile_ms_p50']:.2f} ms / "
          f"{res['compile_ms_p99']:.2f} ms |")
    print("| XGrammar | | | | not run (needs the pinned xgrammar venv) | |")
    print("| llama.cpp grammar | | | | not run | |")


if __name__ == "__main__":
    sys.exit(main())
