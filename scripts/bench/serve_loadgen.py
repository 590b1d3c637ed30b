#!/usr/bin/env python3
"""Load generator for serve-vs-llamacpp.sh: N concurrent streaming /v1/completions requests
against an OpenAI-compatible server, each with a prompt of 128-512 tokens (random words, a
seeded mix) and exactly --new tokens (ignore_eos, understood by Hive and llama-server).

Usage: serve_loadgen.py --url http://127.0.0.1:PORT --clients N [--new 128] [--requests R]
                        [--model ID] [--experts-field hive|llama --n-experts 8] [--seed S]
Each of the N client threads sends R requests (default 1) one after another. With
--n-experts K, request i uses expert i % K: Hive gets "model": "lora-<k>", the directory name (serve's
catalog names), llama-server gets "lora": [{"id": k, "scale": 1.0}].
Prints one JSON line: generated tok/s (all tokens / wall time), TTFT p50/p99 and inter-token
latency p50/p99 in ms, request count and errors. stdlib only.
"""
import argparse
import http.client
import json
import random
import threading
import time
import urllib.parse

WORDS = ("the of and to in is was for on that with as by at from his her an they which one you were all we "
         "can her has there been if more when will would who so no river mountain city garden music table "
         "window history science market engine letter summer winter morning evening story doctor").split()


def pct(v, q):
    if not v:
        return 0.0
    v = sorted(v)
    return v[min(len(v) - 1, int(round(q / 100.0 * (len(v) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--clients", type=int, required=True)
    ap.add_argument("--requests", type=int, default=1)
    ap.add_argument("--new", type=int, default=128)
    ap.add_argument("--model", default="base")
    ap.add_argument("--experts-field", choices=["hive", "llama"], default="hive")
    ap.add_argument("--n-experts", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    u = urllib.parse.urlparse(a.url)
    lock = threading.Lock()
    ttft, itl, tokens, errors = [], [], [0], []

    def one(i, rng):
        words = rng.randint(100, 400)  # about 1.3 tokens per word: 128-512 tokens
        body = {"model": a.model, "prompt": " ".join(rng.choice(WORDS) for _ in range(words)), "max_tokens": a.new,
                "temperature": 0, "stream": True, "ignore_eos": True}
        if a.n_experts:
            k = i % a.n_experts
            if a.experts_field == "hive":
                body["model"] = "lora-%d" % k
            else:
                body["lora"] = [{"id": j, "scale": 1.0 if j == k else 0.0} for j in range(a.n_experts)]
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
        t0 = time.time()
        c.request("POST", "/v1/completions", body=json.dumps(body), headers={"Content-Type": "application/json"})
        r = c.getresponse()
        if r.status != 200:
            with lock:
                errors.append("HTTP %d %s" % (r.status, r.read()[:200]))
            return
        first, last, n, buf = None, None, 0, b""
        while True:
            chunk = r.read1(65536)
            if not chunk:
                break
            buf += chunk
            while b"\n\n" in buf:
                ev, buf = buf.split(b"\n\n", 1)
                ev = ev.strip()
                if not ev.startswith(b"data:") or ev == b"data: [DONE]":
                    continue
                d = json.loads(ev[5:])
                if not d.get("choices"):
                    continue
                now = time.time()
                n += 1  # one event per token on both servers
                with lock:
                    if first is None:
                        first = now
                        ttft.append((now - t0) * 1e3)
                    else:
                        itl.append((now - last) * 1e3)
                last = now
        c.close()
        with lock:
            if n:  # ignore_eos: a finished stream generated exactly --new tokens (event counts vary by server)
                tokens[0] += a.new

    def client(ci):
        rng = random.Random(a.seed * 100003 + ci)
        for k in range(a.requests):
            try:
                one(ci * a.requests + k, rng)
            except OSError as e:
                with lock:
                    errors.append(str(e))

    t0 = time.time()
    th = [threading.Thread(target=client, args=(i,)) for i in range(a.clients)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    wall = time.time() - t0
    print(json.dumps({"clients": a.clients, "requests": a.clients * a.requests, "errors": len(errors),
                      "error_sample": errors[:3], "generated_tokens": tokens[0], "wall_s": round(wall, 2),
                      "tok_s": round(tokens[0] / wall, 2), "ttft_p50_ms": round(pct(ttft, 50), 1),
                      "ttft_p99_ms": round(pct(ttft, 99), 1), "itl_p50_ms": round(pct(itl, 50), 2),
                      "itl_p99_ms": round(pct(itl, 99), 2)}))


if __name__ == "__main__":
    main()
