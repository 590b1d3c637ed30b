#!/usr/bin/env python3
"""Passkey retrieval (issue 14 item 6), built the way llama.cpp's passkey
example builds it: an instruction, filler text repeated to the target length,
one line with a random 5-digit key at a random depth of the filler, then the
question "What is the pass key?" whose answer the model must complete.

The script starts `hive-host serve` once per configuration (so the model loads
once and the server's prefix cache reuses the filler before the key), sends
every prompt to /v1/completions (greedy, 8 tokens) and counts the answers that
contain the key. Standard library only.

  python3 scripts/bench/passkey.py --model M [--lengths 2048,4096,8192] [--keys 20]
      [--seed 1] [--skip 0] [--kv-dtype f16] [--rope-scaling yarn --rope-scale 2 --yarn-orig-ctx 8192]
      [--threads 2] [--hive build/cpu/bin/hive-host] [--json out.json]

Prints one line per length: accuracy, keys found / keys asked, prompt tokens,
seconds. Exit status 0 when every request ran (accuracy is a measurement, not a
pass/fail), 1 on an error.
"""
import argparse
import json
import os
import random
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

INTRO = ("Below is a long stretch of unimportant text. One important fact is hidden somewhere inside it. "
         "Read carefully and remember that fact: you will be asked about it at the end.")
FILLER = "The river runs down to the sea. Birds sing in the morning. The road goes on and on. Clouds drift over the hills. "
KEY_LINE = "Important: the pass key is {key}. Keep it in mind. The pass key is {key}. "
QUESTION = "What is the pass key? The pass key is"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(port, path, body, timeout=3600):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def wait_ready(port, proc, timeout=300):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"hive-host serve exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.5)
    raise RuntimeError("hive-host serve did not become ready")


def build_prompt(n_junk, depth, key):
    junk = [FILLER] * n_junk
    junk.insert(depth, KEY_LINE.format(key=key))
    return INTRO + "\n\n" + "".join(junk) + "\n\n" + QUESTION


def n_tokens(port, text):
    return post(port, "/tokenize", {"prompt": text, "add_special": True})["count"]


def junk_for_length(port, length):
    """The most filler blocks whose prompt (with a key line) fits in `length` tokens."""
    per = n_tokens(port, FILLER * 64) / 64.0
    base = n_tokens(port, build_prompt(0, 0, 12345))
    n = max(1, int((length - base) / per))
    while n > 1 and n_tokens(port, build_prompt(n, 0, 12345)) > length:
        n -= max(1, n // 100)
    return n


def run(args):
    lengths = [int(x) for x in args.lengths.split(",")]
    rng = random.Random(args.seed)
    port = free_port()
    ctx = max(lengths) + 64
    cmd = [args.hive, "serve", "--model", args.model, "--port", str(port), "--ctx", str(ctx), "--parallel", "1",
           "--threads", str(args.threads), "--kv-dtype", args.kv_dtype]
    for flag in ("rope_scaling", "rope_scale", "yarn_orig_ctx"):
        v = getattr(args, flag)
        if v:
            cmd += ["--" + flag.replace("_", "-"), str(v)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    results = []
    try:
        wait_ready(port, proc)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=30) as r:
            base = json.loads(r.read())["data"][0]["id"]
        for length in lengths:
            n_junk = junk_for_length(port, length)
            found, t0, toks = 0, time.time(), []
            misses = []
            for i in range(args.skip + args.keys):
                key = rng.randint(10000, 99999)
                depth = rng.randint(0, n_junk)
                if i < args.skip:  # asked by an earlier run with the same seed
                    continue
                prompt = build_prompt(n_junk, depth, key)
                r = post(port, "/v1/completions", {"model": base, "prompt": prompt, "max_tokens": 8,
                                                     "temperature": 0})
                text = r["choices"][0]["text"]
                toks.append(r["usage"]["prompt_tokens"])
                if str(key) in text:
                    found += 1
                else:
                    misses.append({"key": key, "depth": round(depth / n_junk, 3), "answer": text})
                print(f"  key {i - args.skip + 1}/{args.keys} at depth {depth / n_junk:.3f}: "
                      f"{'found' if str(key) in text else 'missed'} ({time.time() - t0:.0f} s)", file=sys.stderr,
                      flush=True)
            row = {"length": length, "prompt_tokens_min": min(toks), "prompt_tokens_max": max(toks), "keys": args.keys,
                   "found": found, "accuracy": found / args.keys, "seconds": round(time.time() - t0, 1),
                   "kv_dtype": args.kv_dtype, "rope_scaling": args.rope_scaling or "model",
                   "rope_scale": args.rope_scale, "misses": misses}
            results.append(row)
            print(f"length {length:6d}  kv {args.kv_dtype:5s}  rope {row['rope_scaling']}"
                  f"{' x' + str(args.rope_scale) if args.rope_scale else ''}  accuracy {row['accuracy']:.2f}"
                  f" ({found}/{args.keys})  prompt {min(toks)}-{max(toks)} tokens  {row['seconds']} s", flush=True)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"model": os.path.basename(args.model), "seed": args.seed, "results": results}, f, indent=1)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--hive", default=os.path.join(ROOT, "build", "cpu", "bin", "hive-host"))
    ap.add_argument("--lengths", default="2048,4096,8192")
    ap.add_argument("--keys", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--skip", type=int, default=0,
                    help="draw and skip the first N keys of each length (continue an earlier run's sequence)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--kv-dtype", default="f16")
    ap.add_argument("--rope-scaling", default="")
    ap.add_argument("--rope-scale", type=float, default=0)
    ap.add_argument("--yarn-orig-ctx", type=int, default=0)
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    try:
        return run(args)
    except (RuntimeError, urllib.error.URLError, OSError, KeyError) as e:
        print(f"passkey: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
