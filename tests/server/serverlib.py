"""Helpers for the server tests: start `hive-host serve` on a free loopback port, wait until
/health says ready, read /metrics, stop it with SIGTERM (exit status must be 0)."""
import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time

SKIP = 77  # ctest SKIP_RETURN_CODE


def parse_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host-bin", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--root", required=True)
    return ap.parse_args()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, args, *extra, ctx=1024, parallel=8, log_name="server"):
        self.port = free_port()
        self.cmd = [args.host_bin, "serve", "--model", args.model, "--port", str(self.port), "--ctx", str(ctx),
                    "--parallel", str(parallel), "--expert-dir", os.path.join(args.root, "examples", "experts"),
                    "--threads", "2", *extra]
        self.log_path = "/tmp/hive-%s-%d.log" % (log_name, self.port)
        self.log = open(self.log_path, "w")
        env = dict(os.environ, HIVE_CONFIG="/dev/null", OMP_WAIT_POLICY="passive")
        self.proc = subprocess.Popen(self.cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.base = "http://127.0.0.1:%d" % self.port
        deadline = time.time() + 120
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited with %s; log %s:\n%s" % (self.proc.returncode, self.log_path,
                                                                           open(self.log_path).read()))
            try:
                st, _, _ = self.request("GET", "/health")
                if st == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline:
                raise RuntimeError("server not ready after 120 s")
            time.sleep(0.1)

    def request(self, method, path, body=None, headers=None, raw=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        out = r.read()
        hdrs = dict(r.getheaders())
        c.close()
        try:
            return r.status, json.loads(out) if out else None, hdrs
        except ValueError:
            return r.status, out.decode("utf-8", "replace"), hdrs

    def metrics(self):
        st, text, _ = self.request("GET", "/metrics")
        assert st == 200, st
        vals = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                k, v = line.rsplit(" ", 1)
                vals[k] = float(v)
        return vals

    def wait_idle(self, timeout=60):
        """Until no request runs or waits and no KV page is held by one; returns the metrics."""
        deadline = time.time() + timeout
        while True:
            m = self.metrics()
            if m["hive_requests_running"] == 0 and m["hive_requests_waiting"] == 0 and m["hive_kv_pages_used"] == 0:
                return m
            if time.time() > deadline:
                raise AssertionError("not idle after %d s: %s" % (timeout, {k: v for k, v in m.items()
                                                                             if "bucket" not in k}))
            time.sleep(0.05)

    def rss_kb(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stop(self, timeout=60):
        """SIGTERM; the server must exit 0."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("server did not exit within %d s of SIGTERM" % timeout)
        self.log.close()
        return self.proc.returncode


def run_tests(tests):
    """Runs (name, fn) pairs; prints one line each; exits 1 when any failed."""
    failed = 0
    for name, fn in tests:
        t0 = time.time()
        try:
            fn()
            print("ok   %-40s %6.1f s" % (name, time.time() - t0), flush=True)
        except Exception as e:  # a failed test: report and go on
            failed += 1
            print("FAIL %-40s %6.1f s: %s: %s" % (name, time.time() - t0, type(e).__name__, e), flush=True)
    print("%d passed, %d failed" % (len(tests) - failed, failed))
    return failed
