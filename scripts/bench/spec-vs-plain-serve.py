#!/usr/bin/env python3
"""spec-vs-plain-serve.py — speculative decoding in `hive-host serve`: each shipped SQL and JSON
expert's held-out prompt (examples/experts/golden.json) as a chat request, greedy, alternately
without and with `"speculative": {"draft": "lookup", "k": 8}` (the expert's own draft corpus, as
serve drafts by default), on one server (--parallel 1, so requests do not overlap). Prints the
best whole-request time of each over --reps runs after two warm-up pairs (the prompt is then in
the prefix cache, so the times are mostly decoding), their ratio, and whether the answers are the
same; exits 1 if any differs. Standard library only.

Usage: scripts/bench/spec-vs-plain-serve.py [--threads T] [--reps R] [--port P]
Env:   HIVE_HOST (default build/cpu/bin/hive-host), MODEL (default
       ~/.cache/hive/models/SmolLM2-135M-Instruct.Q4_1.gguf, scripts/fetch-models.sh)
"""
import argparse
import http.client
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
S = "Schema: users(id, name, age, city); orders(id, user_id, product, amount)\n"
CASES = [
    ("sql", S + "Question: Which users live in Toronto?"),
    ("sql", S + "Write the SQL query: How many users are older than 35?"),
    ("sql", S + "Question: What is the total amount of all orders for user 7?"),
    ("json", "Extract the person as JSON: Oliver is 29 years old and lives in Toronto."),
    ("json", "Return JSON with name, age and city. Text: Priya, age 41, works as a nurse in Nairobi."),
    ("json", "Kenji (63) retired to Oslo last spring. Give me the name, age and city as JSON."),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--port", type=int, default=18089)
    a = ap.parse_args()
    host = os.environ.get("HIVE_HOST", os.path.join(ROOT, "build", "cpu", "bin", "hive-host"))
    model = os.environ.get("MODEL", os.path.expanduser("~/.cache/hive/models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    for path, what in ((host, "cmake --preset cpu && cmake --build build/cpu"), (model, "scripts/fetch-models.sh")):
        if not os.path.exists(path):
            sys.exit("spec-vs-plain-serve: no %s (%s)" % (path, what))
    srv = subprocess.Popen([host, "--cpu", "--threads", str(a.threads), "serve", "--model", model, "--port",
                            str(a.port), "--expert-dir", os.path.join(ROOT, "examples", "experts"), "--parallel", "1"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def request(expert, text, spec):
        body = {"model": expert, "messages": [{"role": "user", "content": text}], "temperature": 0, "max_tokens": 64}
        if spec:
            body["speculative"] = {"draft": "lookup", "k": 8}
        c = http.client.HTTPConnection("127.0.0.1", a.port, timeout=120)
        t0 = time.time()
        c.request("POST", "/v1/chat/completions", json.dumps(body), {"Content-Type": "application/json"})
        r = c.getresponse()
        out = json.loads(r.read())
        dt = time.time() - t0
        c.close()
        if r.status != 200:
            raise RuntimeError("%s: HTTP %d: %s" % (expert, r.status, out))
        return dt, out["choices"][0]["message"]["content"], out["usage"]

    failed = 0
    try:
        for _ in range(600):  # the model loads after the port opens
            try:
                c = http.client.HTTPConnection("127.0.0.1", a.port, timeout=2)
                c.request("GET", "/health")
                if c.getresponse().status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
        print("cpu: %s; threads %d; best of %d; whole requests (prompt in the prefix cache)" % (cpu, a.threads, a.reps))
        print("%-5s %-58s %9s %9s %6s %9s %5s" % ("expert", "prompt", "plain ms", "spec ms", "ratio", "accepted", "same"))
        for expert, text in CASES:
            for _ in range(2):
                request(expert, text, False), request(expert, text, True)
            plain, spec = [], []
            for _ in range(a.reps):
                plain.append(request(expert, text, False))
                spec.append(request(expert, text, True))
            p, s = min(x[0] for x in plain), min(x[0] for x in spec)
            same = all(x[1] == plain[0][1] for x in plain + spec)
            acc = (spec[0][2].get("completion_tokens_details") or {}).get("accepted_prediction_tokens", 0)
            print("%-5s %-58s %9.1f %9.1f %6.2f %9d %5s" % (expert, text.split("\n")[-1][:58], p * 1e3, s * 1e3, p / s,
                                                          acc, same))
            failed |= not same
    finally:
        srv.terminate()
        srv.wait(timeout=30)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
