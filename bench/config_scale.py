#!/usr/bin/env python3
"""config_scale.py: how config changes scale with the number of routes on
one apigw node (release build), bounded in count and time.

Loads N routes (etcd JSON gateway txns of 100 puts, APISIX route objects,
each with its own uri), then times M sequential Admin API PUTs of one more
route each: the PUT's latency, and commit -> served (from the PUT's
response until the node's proxy answers that route's uri with the
upstream's 200 instead of 404). Meanwhile a thread polls /status every
5 ms and reports the slowest answer: the control loop's longest stall.

  APIGW_BIN=./apigw python3 bench/config_scale.py [--routes N] [--puts M]
Prints one line per figure (p50/p99/max ms) and the node's RSS growth per
loaded route. Processes stopped by PID. To compare two builds in one run:
  for b in old/apigw new/apigw; do for n in 10000 50000 100000; do
    APIGW_BIN=$b python3 bench/config_scale.py --routes $n --puts 100; done; done"""
import argparse
import base64
import http.client
import http.server
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

KEY = "bench-admin-key-0123456789"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Upstream(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body are two writes: without this, Nagle holds the body
    # for the proxy's delayed ACK (40 ms) and every figure measures that
    disable_nagle_algorithm = True

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *a):
        pass


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--routes", type=int, default=10000)
    ap.add_argument("--puts", type=int, default=200)
    a = ap.parse_args()
    binp = os.environ.get("APIGW_BIN", "./apigw")
    tmp = tempfile.mkdtemp(prefix="apigw-cfgscale-")
    ports = {k: free_port() for k in ("proxy", "proxy-tls", "admin", "etcd", "raft", "status",
                     "metrics", "control")}
    up = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=up.serve_forever, daemon=True).start()
    upaddr = "127.0.0.1:%d" % up.server_address[1]
    args = [binp, "start", "--data-dir", tmp + "/d", "--admin-key", KEY, "--workers", "1",
            "--log-level", os.environ.get("APIGW_LOG_LEVEL", "warn")]
    for k, p in ports.items():
        args += ["--%s-listen" % k, "127.0.0.1:%d" % p]
    proc = subprocess.Popen(args, stdout=open(tmp + "/log", "w"), stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                c = http.client.HTTPConnection("127.0.0.1", ports["status"], timeout=1)
                c.request("GET", "/status/ready")
                if c.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.1)
        def rss_kb():
            for l in open("/proc/%d/status" % proc.pid):
                if l.startswith("VmRSS"):
                    return int(l.split()[1])
            return 0

        rss0 = rss_kb()
        route = lambda i: json.dumps({"uri": "/r/%d" % i, "upstream": {
            "type": "roundrobin", "nodes": {upaddr: 1}}})
        e = http.client.HTTPConnection("127.0.0.1", ports["etcd"], timeout=30)
        t0 = time.time()
        for base in range(0, a.routes, 100):
            ops = [{"request_put": {"key": base64.b64encode(("/apisix/routes/%d" % i).encode()).decode(),
                                    "value": base64.b64encode(route(i).encode()).decode()}}
                   for i in range(base, min(a.routes, base + 100))]
            e.request("POST", "/v3/kv/txn", body=json.dumps({"success": ops}))
            r = e.getresponse()
            r.read()
            assert r.status == 200, r.status
        print("loaded %d routes in %.1f s" % (a.routes, time.time() - t0), file=sys.stderr)
        # the last txn is served once its last route is: then RSS is settled
        px0 = http.client.HTTPConnection("127.0.0.1", ports["proxy"], timeout=10)
        deadline = time.time() + 600
        while time.time() < deadline:
            px0.request("GET", "/r/%d" % (a.routes - 1))
            r0 = px0.getresponse()
            r0.read()
            if r0.status == 200:
                break
            time.sleep(0.05)
        px0.close()
        print("served after %.1f s" % (time.time() - t0), file=sys.stderr)
        rss1 = rss_kb()
        stop = threading.Event()
        stalls = []

        def poll():
            while not stop.is_set():
                t = time.monotonic()
                c = http.client.HTTPConnection("127.0.0.1", ports["status"], timeout=10)
                c.request("GET", "/status")
                c.getresponse().read()
                c.close()
                stalls.append((time.monotonic() - t) * 1000)
                time.sleep(0.005)

        def config_metrics():
            mc = http.client.HTTPConnection("127.0.0.1", ports["metrics"], timeout=10)
            mc.request("GET", "/apisix/prometheus/metrics")
            out = {}
            for l in mc.getresponse().read().decode().splitlines():
                if l.startswith("apigw_config_"):
                    out[l.split()[0]] = float(l.split()[1])
            mc.close()
            return out

        m0 = config_metrics()
        th = threading.Thread(target=poll, daemon=True)
        th.start()
        ad = http.client.HTTPConnection("127.0.0.1", ports["admin"], timeout=30)
        px = http.client.HTTPConnection("127.0.0.1", ports["proxy"], timeout=10)
        puts, served = [], []
        for j in range(a.puts):
            i = a.routes + j
            t = time.monotonic()
            ad.request("PUT", "/apisix/admin/routes/%d" % i, body=route(i),
                       headers={"X-API-KEY": KEY})
            r = ad.getresponse()
            r.read()
            done = time.monotonic()
            assert r.status in (200, 201), r.status
            puts.append((done - t) * 1000)
            while True:
                try:
                    px.request("GET", "/r/%d" % i)
                    pr = px.getresponse()
                    pr.read()
                except (http.client.HTTPException, OSError):
                    px.close()
                    px = http.client.HTTPConnection("127.0.0.1", ports["proxy"], timeout=10)
                    continue
                if pr.status == 200:
                    break
                if time.monotonic() - done > 10:
                    raise SystemExit("route %d not served after 10 s" % i)
            served.append((time.monotonic() - done) * 1000)
        stop.set()
        th.join()
        for name, v in (("admin_put_ms", puts), ("commit_to_served_ms", served),
                        ("status_during_puts_ms", stalls)):
            print("%-24s routes=%d p50 %.2f p99 %.2f max %.2f" % (
                name, a.routes, statistics.median(v), pct(v, 0.99), max(v)))
        m1 = config_metrics()
        for k in sorted(m1):
            print("  %s %g (during the PUTs: %+g)" % (k, m1[k], m1[k] - m0.get(k, 0)))
        print("rss %d kB; per loaded route %.0f B" % (
            rss_kb(), (rss1 - rss0) * 1024.0 / max(1, a.routes)))
    finally:
        proc.terminate()
        proc.wait(30)
        up.shutdown()
        if os.environ.get("APIGW_LOG_GREP"):
            for l in open(tmp + "/log", errors="replace"):
                if os.environ["APIGW_LOG_GREP"] in l:
                    print("  log: " + l.rstrip())
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
