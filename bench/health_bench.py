#!/usr/bin/env python3
"""health_bench.py: figures of the upstream health checks on one apigw node.

  APIGW_BIN=./apigw python3 bench/health_bench.py cpu [--upstreams 1000] [--secs 20] [--nginx]
    N upstreams x 3 nodes, active http checks every 1 s (3 asyncio backends,
    or with --nginx 3 nginx listeners, answer the probes): the checker
    thread's CPU (from /proc, thread "apigw-health"), probes per second
    (apigw_health_probes_total) and the nodes' states at the end (all
    healthy, or the backends could not keep up and the figure is off).
  APIGW_BIN=./apigw python3 bench/health_bench.py failover [--requests 3000]
    Two backends, one sequential client; one backend is killed (connection
    refused) at a random request: time from the kill to the node marked
    unhealthy (polled on the control API every 5 ms), time from the kill to
    the last request sent to the dead node (with retries 0 every request
    sent to it fails, so the last failure is the last request it was sent;
    with retries 1 those attempts are retried and invisible to the client)
    and requests failed, for active checks (interval 1 s, tcp_failures 2)
    and passive checks (tcp_failures 2), each with retries 0 and retries 1.
  APIGW_BIN=./apigw python3 bench/health_bench.py dns [--names 1000] [--secs 20]
    Host-name nodes against a DNS server run by this process
    (tests/integration/dnsutil.py, TTL 1 s): time from a changed answer to
    the first request served by the new address (one sequential client),
    then N upstreams with a name each: the resolver thread's CPU (thread
    "apigw-dns") re-resolving them every second, and queries and failures
    per second (apigw_dns_queries_total, apigw_dns_failures_total).
Processes are stopped by PID; backends run in this process."""
import argparse
import asyncio
import base64
import http.client
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time

from config_scale import free_port


class Backends:
    """asyncio HTTP/1.0 servers in a thread: answer 200 and close."""

    def __init__(self, n, hosts=None):
        # hosts: listen on these IPs, all on one port (DNS answers pick)
        self.hosts = hosts or ["127.0.0.1"] * n
        self.ports = [free_port() for _ in range(n)] if hosts is None else [free_port()] * n
        self.servers = {}
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        for h, p in zip(self.hosts, self.ports):
            self.start(p, h)

    async def _serve(self, port, host="127.0.0.1"):
        async def handle(r, w):
            try:
                await r.readuntil(b"\r\n\r\n")
                body = json.dumps({"port": port, "ip": host}).encode()
                w.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s"
                        % (len(body), body))
                await w.drain()
            except Exception:
                pass
            w.close()
        self.servers[(host, port)] = await asyncio.start_server(handle, host, port,
                                                                reuse_address=True,
                                                                backlog=1024)

    def start(self, port, host="127.0.0.1"):
        asyncio.run_coroutine_threadsafe(self._serve(port, host), self.loop).result()

    def stop(self, port, host="127.0.0.1"):
        async def close():
            s = self.servers.pop((host, port))
            s.close()
            await s.wait_closed()
        asyncio.run_coroutine_threadsafe(close(), self.loop).result()


class NginxBackends:
    """@n nginx listeners (one process, 2 workers) answering 200: the CPU
    run's backends, as a Python server cannot accept ~3,000 probes a second
    on a loaded 2-core machine (probes then time out and the checker's CPU
    is that of failing probes)."""

    def __init__(self, n):
        self.ports = [free_port() for _ in range(n)]
        self.tmp = tempfile.mkdtemp(prefix="apigw-healthbench-nginx-")
        d = self.tmp
        listen = "".join("    listen 127.0.0.1:%d backlog=4096;\n" % p for p in self.ports)
        with open(d + "/nginx.conf", "w") as f:
            f.write("worker_processes 2;\npid %s/nginx.pid;\nerror_log %s/error.log warn;\n"
                    "worker_rlimit_nofile 16384;\n"
                    "events { worker_connections 8192; multi_accept on; }\n"
                    "http {\n  access_log off;\n  client_body_temp_path %s/b;\n"
                    "  proxy_temp_path %s/p;\n  fastcgi_temp_path %s/f;\n"
                    "  uwsgi_temp_path %s/u;\n  scgi_temp_path %s/s;\n"
                    "  server {\n%s    location / { return 200 \"ok\\n\"; }\n  }\n}\n"
                    % (d, d, d, d, d, d, d, listen))
        self.proc = subprocess.Popen(["nginx", "-p", d, "-c", d + "/nginx.conf",
                                      "-g", "daemon off;"], stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.ports[0], timeout=1)
                c.request("GET", "/")
                c.getresponse().read()
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("nginx did not start")

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        shutil.rmtree(self.tmp, ignore_errors=True)


class NodeProc:
    def __init__(self, binp, extra=()):
        self.tmp = tempfile.mkdtemp(prefix="apigw-healthbench-")
        self.ports = {k: free_port() for k in ("proxy", "proxy-tls", "admin", "etcd", "raft", "status",
                     "metrics", "control")}
        args = [binp, "start", "--data-dir", self.tmp + "/d", "--workers", "1",
                "--log-level", "warn"]
        for k, p in self.ports.items():
            args += ["--%s-listen" % k, "127.0.0.1:%d" % p]
        args += list(extra)
        self.proc = subprocess.Popen(args, stdout=open(self.tmp + "/log", "w"),
                                     stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                if self.get("status", "/status/ready")[0] == 200:
                    return
            except OSError:
                time.sleep(0.1)
        raise SystemExit("node not ready")

    def get(self, listener, path):
        c = http.client.HTTPConnection("127.0.0.1", self.ports[listener], timeout=10)
        c.request("GET", path)
        r = c.getresponse()
        body = r.read()
        c.close()
        return r.status, body

    def put_many(self, kvs):
        e = http.client.HTTPConnection("127.0.0.1", self.ports["etcd"], timeout=30)
        for base in range(0, len(kvs), 100):
            ops = [{"request_put": {"key": base64.b64encode(k.encode()).decode(),
                                    "value": base64.b64encode(json.dumps(v).encode()).decode()}}
                   for k, v in kvs[base:base + 100]]
            e.request("POST", "/v3/kv/txn", body=json.dumps({"success": ops}))
            r = e.getresponse()
            r.read()
            assert r.status == 200, r.status

    def delete_all(self):
        e = http.client.HTTPConnection("127.0.0.1", self.ports["etcd"], timeout=30)
        e.request("POST", "/v3/kv/deleterange", body=json.dumps({
            "key": base64.b64encode(b"/apisix/").decode(),
            "range_end": base64.b64encode(b"/apisix0").decode()}))
        e.getresponse().read()

    def checker_ticks(self, thread="apigw-health"):
        for tid in os.listdir("/proc/%d/task" % self.proc.pid):
            base = "/proc/%d/task/%s/" % (self.proc.pid, tid)
            with open(base + "comm") as f:
                if f.read().strip() != thread:
                    continue
            with open(base + "stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return int(fields[11]) + int(fields[12])  # utime + stime
        raise SystemExit("no %s thread" % thread)

    def metric(self, name):
        _, body = self.get("metrics", "/apisix/prometheus/metrics")
        for line in body.decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return 0.0

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        shutil.rmtree(self.tmp, ignore_errors=True)


def cpu(a, binp):
    be = NginxBackends(3) if a.nginx else Backends(3)
    n = NodeProc(binp)
    try:
        nodes = {"127.0.0.1:%d" % p: 1 for p in be.ports}
        n.put_many([("/apisix/upstreams/%d" % i, {
            "type": "roundrobin", "nodes": nodes,
            "checks": {"active": {"type": a.type, "http_path": "/health",
                                  "healthy": {"interval": 1}, "unhealthy": {"interval": 1}}}})
            for i in range(a.upstreams)])
        time.sleep(3)  # every upstream bound and probed once
        hz = os.sysconf("SC_CLK_TCK")
        t0, c0, p0 = time.time(), n.checker_ticks(), n.metric("apigw_health_probes_total")
        time.sleep(a.secs)
        t1, c1, p1 = time.time(), n.checker_ticks(), n.metric("apigw_health_probes_total")
        st, body = n.get("control", "/v1/healthcheck")
        states = {}
        for u in json.loads(body):
            for x in u["nodes"]:
                states[x["status"]] = states.get(x["status"], 0) + 1
        print("checker: %d upstreams x 3 nodes, %s probes every 1 s: %.1f%% of one core, "
              "%.0f probes/s, nodes: %s" % (
                  a.upstreams, a.type, 100.0 * (c1 - c0) / hz / (t1 - t0),
                  (p1 - p0) / (t1 - t0),
                  ", ".join("%d %s" % (v, k) for k, v in sorted(states.items()))))
    finally:
        n.stop()
        if a.nginx:
            be.close()


def failover(a, binp):
    be = Backends(2)
    n = NodeProc(binp)
    dead, alive = be.ports
    try:
        for mode in ("active", "passive"):
            for retries in (0, 1):
                checks = {"active": {"type": "tcp", "healthy": {"interval": 1},
                                     "unhealthy": {"interval": 1, "tcp_failures": 2}}}
                if mode == "passive":
                    checks = {"active": {"type": "tcp", "healthy": {"interval": 3600},
                                         "unhealthy": {"interval": 3600}},
                              "passive": {"unhealthy": {"tcp_failures": 2}}}
                n.put_many([("/apisix/routes/f", {"uri": "/f", "upstream": {
                    "type": "roundrobin", "retries": retries, "checks": checks,
                    "nodes": {"127.0.0.1:%d" % dead: 1, "127.0.0.1:%d" % alive: 1}}})])
                time.sleep(1.5)
                kill_at = random.randint(a.requests // 4, a.requests // 2)
                failed, late, t_kill, t_marked, t_last = 0, 0, None, None, None
                px = http.client.HTTPConnection("127.0.0.1", n.ports["proxy"], timeout=10)

                def watch():
                    nonlocal t_marked
                    while t_marked is None:
                        st, body = n.get("control", "/v1/healthcheck/routes/f")
                        if st == 200 and any(x["port"] == dead and x["status"] == "unhealthy"
                                             for x in json.loads(body)["nodes"]):
                            t_marked = time.monotonic()
                        time.sleep(0.005)

                i, after_mark = 0, 0
                # before the kill, then until marked and a.requests // 4 more (30 s at most)
                while after_mark < a.requests // 4 and (t_kill is None or
                                                        time.monotonic() - t_kill < 30):
                    if i == kill_at:
                        be.stop(dead)
                        t_kill = time.monotonic()
                        threading.Thread(target=watch, daemon=True).start()
                    t_sent = time.monotonic()
                    px.request("GET", "/f")
                    r = px.getresponse()
                    r.read()
                    if r.status != 200:
                        failed += 1
                        late += t_marked is not None
                        t_last = t_sent
                    after_mark += t_marked is not None
                    i += 1
                deadline = time.monotonic() + 10
                while t_marked is None and time.monotonic() < deadline:
                    time.sleep(0.01)
                marked = "%.0f ms" % ((t_marked - t_kill) * 1000) if t_marked else "never"
                last = ("; last request sent to it %.0f ms after the kill"
                        % ((t_last - t_kill) * 1000) if retries == 0 and t_last else "")
                print("%s checks, retries %d: dead node out after %s%s; %d of %d requests "
                      "after the kill failed (%d after it was out)"
                      % (mode, retries, marked, last, failed, i - kill_at, late))
                if t_marked is None:
                    t_marked = 0  # stop the watcher
                be.start(dead)
                n.delete_all()
                time.sleep(0.5)
    finally:
        n.stop()


def dns(a, binp):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                    "tests", "integration"))
    from dnsutil import DNSServer
    srv = DNSServer({"svc.bench": ["127.0.0.2"]}, ttl=1)
    be = Backends(2, hosts=["127.0.0.2", "127.0.0.3"])
    port = be.ports[0]
    n = NodeProc(binp, ["--resolver", srv.addr])
    try:
        n.put_many([("/apisix/routes/d", {"uri": "/d", "upstream": {
            "type": "roundrobin", "nodes": {"svc.bench:%d" % port: 1}}})])
        px = http.client.HTTPConnection("127.0.0.1", n.ports["proxy"], timeout=10)

        def served():
            px.request("GET", "/d")
            r = px.getresponse()
            body = r.read()
            return json.loads(body)["ip"] if r.status == 200 else None

        deadline = time.time() + 10
        while served() != "127.0.0.2" and time.time() < deadline:
            time.sleep(0.01)
        waits = []
        for ip in ("127.0.0.3", "127.0.0.2", "127.0.0.3", "127.0.0.2", "127.0.0.3"):
            # change the answer at a random point of the TTL
            time.sleep(random.uniform(0, 1))
            srv.records["svc.bench"] = [ip]
            t0 = time.monotonic()
            while served() != ip and time.monotonic() - t0 < 10:
                time.sleep(0.002)
            waits.append((time.monotonic() - t0) * 1000)
        print("dns: answer changed -> traffic on the new address after %s ms (TTL 1 s)"
              % ", ".join("%.0f" % w for w in waits))
        n.delete_all()
        srv.records.update({"n%d.bench" % i: ["127.0.0.%d" % (2 + i % 2)]
                            for i in range(a.names)})
        n.put_many([("/apisix/upstreams/%d" % i, {
            "type": "roundrobin", "nodes": {"n%d.bench:%d" % (i, port): 1}})
            for i in range(a.names)])
        time.sleep(3)
        hz = os.sysconf("SC_CLK_TCK")
        t0, c0 = time.time(), n.checker_ticks("apigw-dns")
        q0, f0 = n.metric("apigw_dns_queries_total"), n.metric("apigw_dns_failures_total")
        time.sleep(a.secs)
        t1, c1 = time.time(), n.checker_ticks("apigw-dns")
        q1, f1 = n.metric("apigw_dns_queries_total"), n.metric("apigw_dns_failures_total")
        print("dns: %d names, TTL 1 s: resolver thread %.1f%% of one core, %.0f queries/s, "
              "%.1f failures/s, %d names resolved" % (
                  a.names, 100.0 * (c1 - c0) / hz / (t1 - t0), (q1 - q0) / (t1 - t0),
                  (f1 - f0) / (t1 - t0), n.metric("apigw_dns_names") -
                  n.metric("apigw_dns_names_unresolved")))
    finally:
        n.stop()
        srv.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=("cpu", "failover", "dns"))
    ap.add_argument("--names", type=int, default=1000)
    ap.add_argument("--upstreams", type=int, default=1000)
    ap.add_argument("--secs", type=float, default=20)
    ap.add_argument("--type", default="http", choices=("http", "tcp"))
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--nginx", action="store_true",
                    help="cpu: nginx backends (else Python asyncio ones)")
    a = ap.parse_args()
    binp = os.environ.get("APIGW_BIN", "./apigw")
    {"cpu": cpu, "failover": failover, "dns": dns}[a.what](a, binp)


if __name__ == "__main__":
    sys.exit(main())
