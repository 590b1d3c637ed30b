"""Load test, bounded to about 60 s: 64 concurrent streaming clients with random expert sets,
random sampling and random disconnects, plus a few requests that must fail (unknown expert:
404). Passes when only those intended errors occur, every stream that was read to the end
ends with `data: [DONE]`, RSS after the run is within 10% of RSS after warm-up, and once idle
no KV page is held by a request (pages are free or in the prefix cache, which gives them
back on demand)."""
import http.client
import json
import random
import sys
import threading
import time

from serverlib import Server, parse_args

ARGS = parse_args()
CLIENTS = 64
WARMUP_S = 10
RUN_S = 30
SETS = [None, "json", "sql", "ia3", "soft-prompt", "json+ia3", "sql+soft-prompt", "json+sql"]
PROMPTS = ["Extract the person as JSON: Mia is 41 and lives in Oslo.", "Which users live in Paris?",
           "What is the capital of Spain?", "Tell me a short story about a cat.", "List three colors."]

srv = Server(ARGS, "--parallel", "16", "--prefix-cache-slots", "8", ctx=1024, parallel=16, log_name="load")
BASE = srv.request("GET", "/v1/models")[1]["data"][0]["id"]
lock = threading.Lock()
stats = {"ok": 0, "disconnected": 0, "intended_404": 0, "unexpected": []}


def one(rng):
    bad = rng.random() < 0.03
    model = "no-such-expert" if bad else (rng.choice(SETS) or BASE)
    body = {"model": model, "messages": [{"role": "user", "content": rng.choice(PROMPTS)}], "stream": True,
            "max_tokens": rng.randint(4, 40), "temperature": rng.choice([0, 0.7, 1.0]),
            "stream_options": {"include_usage": True}}
    if model == "json+sql":  # both manifests ask for a grammar: the request chooses (else 400)
        body["response_format"] = rng.choice([{"type": "text"}, {"type": "json_object"}])
    leave_after = rng.randint(1, 6) if rng.random() < 0.25 else None
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=120)
    try:
        c.request("POST", "/v1/chat/completions", body=json.dumps(body), headers={"Content-Type": "application/json"})
        r = c.getresponse()
        if bad:
            r.read()
            with lock:
                if r.status == 404:
                    stats["intended_404"] += 1
                else:
                    stats["unexpected"].append("unknown expert gave %d" % r.status)
            return
        if r.status != 200:
            with lock:
                stats["unexpected"].append("%s: HTTP %d %s" % (model, r.status, r.read()[:200]))
            return
        buf, events = b"", 0
        while True:
            chunk = r.read1(4096)
            if not chunk:
                break
            buf += chunk
            events = buf.count(b"\n\n")
            if leave_after is not None and events >= leave_after:
                c.sock.close()  # leave mid-stream
                with lock:
                    stats["disconnected"] += 1
                return
        with lock:
            if buf.rstrip().endswith(b"data: [DONE]") and b'"usage"' in buf:
                stats["ok"] += 1
            else:
                stats["unexpected"].append("%s: stream ended without [DONE]: %r" % (model, buf[-200:]))
    except OSError as e:
        with lock:
            stats["unexpected"].append("%s: %s" % (model, e))
    finally:
        c.close()


def run(seconds, seed):
    stop_at = time.time() + seconds

    def client(i):
        rng = random.Random(seed * 1000 + i)
        while time.time() < stop_at:
            one(rng)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


failed = []
try:
    t0 = time.time()
    run(WARMUP_S, 1)
    srv.wait_idle(timeout=60)
    rss0 = srv.rss_kb()
    warm = dict(stats, unexpected=list(stats["unexpected"]))
    run(RUN_S, 2)
    m = srv.wait_idle(timeout=60)
    time.sleep(0.5)
    rss1 = srv.rss_kb()
    print("load: %.0f s, %d streams completed, %d disconnected on purpose, %d intended 404s, %d unexpected"
          % (time.time() - t0, stats["ok"], stats["disconnected"], stats["intended_404"], len(stats["unexpected"])))
    print("load: RSS after warm-up %.1f MiB, at the end %.1f MiB (%+.1f%%)" % (rss0 / 1024, rss1 / 1024,
                                                                              100.0 * (rss1 - rss0) / rss0))
    print("load: KV pages total %d, free %d, prefix cache %d, used %d; generated %d tokens, %d cancelled"
          % (m["hive_kv_pages_total"], m["hive_kv_pages_free"], m["hive_kv_pages_cached"], m["hive_kv_pages_used"],
             m["hive_generation_tokens_total"], m["hive_requests_cancelled_total"]))
    for u in stats["unexpected"][:10]:
        print("  unexpected:", u)
    if stats["unexpected"]:
        failed.append("%d unexpected errors" % len(stats["unexpected"]))
    if stats["ok"] - warm["ok"] < 50 or stats["disconnected"] == 0 or stats["intended_404"] == 0:
        failed.append("too little traffic to judge: %s" % {k: v for k, v in stats.items() if k != "unexpected"})
    if rss1 > rss0 * 1.10:
        failed.append("RSS grew by more than 10%")
    if m["hive_kv_pages_used"] != 0 or m["hive_kv_pages_free"] + m["hive_kv_pages_cached"] != m["hive_kv_pages_total"]:
        failed.append("KV pages still held once idle")
    rc = srv.stop()
    if rc != 0:
        failed.append("exit status %d after SIGTERM" % rc)
finally:
    if srv.proc.poll() is None:
        srv.proc.kill()
print("load: " + ("FAIL: " + "; ".join(failed) if failed else "ok"))
sys.exit(1 if failed else 0)
