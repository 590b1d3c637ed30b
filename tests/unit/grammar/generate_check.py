#!/usr/bin/env python3
"""Structured output on SmolLM2: sampled outputs (temperature 1, different seeds) under a JSON Schema,
"any JSON object", the SQL expert's PostgreSQL grammar and a GBNF list grammar, each checked by an
independent validator, never by Hive's grammar: jsonschema for JSON, pglast (PostgreSQL's parser) for SQL,
Python's re for the list. Run by run_generate.sh (pinned venv: scripts/grammar-venv.sh).
"Any JSON object" samples with min-p 0.05 and a repetition penalty of 1.2 on top of temperature 1: a
free-form object from a 135M model otherwise rambles or repeats keys past any token budget (the grammar
allows both), and an output cut at max_tokens cannot be validated as a whole."""
import argparse
import json
import os
import re
import subprocess
import sys
import time

import jsonschema
import pglast


def generate(a, extra, prompt, seed, max_tokens):
    cmd = [a.host_bin, "generate", "--model", a.model, "--chat", "--prompt", prompt, "--temperature", "1",
           "--top-k", "0", "--top-p", "1", "--min-p", "0", "--seed", str(seed), "--max-tokens", str(max_tokens),
           "--threads", str(a.threads), "--verbose"] + extra
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise RuntimeError(f"hive-host exit {p.returncode}: {p.stderr[-2000:]}")
    m = re.search(r"finish: (\w+)", p.stderr)
    out = p.stdout[:-1] if p.stdout.endswith("\n") else p.stdout  # generate ends with a newline
    return out, m.group(1) if m else "?"


def check_verb(a, schema_path):
    """`grammar check`: exit 0 when every input is accepted, 1 when one is rejected, 2 when the grammar does
    not compile; --json is machine-readable and says where an input was rejected."""
    import tempfile
    good = '{"id":7,"customer":"Ann","status":"new","items":[{"sku":"ABC-123","qty":2}]}'
    bad = '{"id":7,"customer":"Ann","status":"lost","items":[]}'
    failures = 0
    with tempfile.TemporaryDirectory() as d:
        paths = []
        for name, text in (("good.json", good), ("bad.json", bad)):
            paths.append(os.path.join(d, name))
            with open(paths[-1], "w") as f:
                f.write(text + "\n")
        base = [a.host_bin, "grammar", "check", "--model", a.model]
        runs = [
            (base + ["--json-schema", schema_path, "--input", paths[0]], 0),
            (base + ["--json-schema", schema_path, "--input", paths[0], "--input", paths[1], "--json"], 1),
            (base + ["--json-schema", '{"type":"object","not":{}}', "--json"], 2),
            (base + ["--grammar", "root ::= [0-9]+ \"x\"", "--input", paths[0]], 1),
        ]
        for cmd, want in runs:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
            if p.returncode != want:
                failures += 1
                print(f"FAIL grammar check exit {p.returncode}, want {want}: {' '.join(cmd[2:])}\n{p.stderr}")
            elif "--json" in cmd:
                r = json.loads(p.stdout)
                if want == 1 and (r["inputs"][0]["accepted"] is not True or r["inputs"][1]["accepted"] is not False
                                  or r["inputs"][1]["reject_byte"] != bad.index('"lost"') + 1):
                    failures += 1
                    print(f"FAIL grammar check --json: {p.stdout}")
                if want == 2 and ("'not'" not in r["error"] or r["compiled"]):
                    failures += 1
                    print(f"FAIL grammar check --json error: {p.stdout}")
    print(f"grammar check: exit codes and --json {'ok' if not failures else 'FAILED'}")
    return failures


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host-bin", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--root", required=True)
    ap.add_argument("-n", type=int, default=int(os.environ.get("HIVE_GRAMMAR_SAMPLES", "6")))
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    order_schema = os.path.join(here, "data", "order.schema.json")
    schema = json.load(open(order_schema))
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    list_re = re.compile(r"- [A-Za-z]{1,12}( [A-Za-z]{1,12}){0,3}(\n- [A-Za-z]{1,12}( [A-Za-z]{1,12}){0,3}){2,4}")
    sql_expert = os.path.join(a.root, "examples", "experts", "sql.expert")

    def check_schema(out):
        validator.validate(json.loads(out))

    def check_any_object(out):
        if not isinstance(json.loads(out), dict):
            raise ValueError("not an object")

    def check_sql(out):
        pglast.parse_sql(out)

    def check_list(out):
        if not list_re.fullmatch(out):
            raise ValueError("not a list")

    failures = check_verb(a, order_schema)
    cases = [
        ("json-schema", ["--json-schema", order_schema], "Write one shop order as JSON.", 192, check_schema),
        ("any-json", ["--json", "--min-p", "0.05", "--repeat-penalty", "1.2"], "Describe your favourite city as a JSON object.", 256,
         check_any_object),
        ("sql", ["--expert", sql_expert],
         "Schema: users(id, name, age, city); orders(id, user_id, product, amount)\nQuestion: Which users spent the most?",
         64, check_sql),
        ("gbnf-list", ["--grammar-file", os.path.join(here, "data", "list.gbnf")], "List some fruits.", 96, check_list),
    ]
    for name, extra, prompt, max_tokens, check in cases:
        ok = truncated = 0
        t0 = time.time()
        for seed in range(1, a.n + 1):
            out, finish = generate(a, extra, prompt, seed, max_tokens)
            if finish == "length":  # ran out of tokens before the grammar completed: not a sentence yet
                truncated += 1
                print(f"  {name} seed {seed}: truncated at max_tokens: {out!r}")
                continue
            try:
                check(out)
                ok += 1
            except Exception as e:  # noqa: BLE001 — any validator error is a failure
                failures += 1
                print(f"FAIL {name} seed {seed}: {e}\n  output: {out!r}")
        print(f"{name}: {ok}/{a.n} valid, {truncated} truncated at max_tokens, {a.n - ok - truncated} invalid "
              f"({time.time() - t0:.1f}s)")
        if truncated * 2 > a.n:
            failures += 1
            print(f"FAIL {name}: most outputs did not complete within {max_tokens} tokens")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
