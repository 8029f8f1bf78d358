#!/usr/bin/env python3
"""3-node apigw vs 3-node etcd 3.4 (Debian etcd-server), same machine, same
run, same client: writes through the etcd v3 JSON gateway (/v3/kv/put) that
both speak, on keep-alive HTTP/1.1 connections to the leader.

Measures, for each system: sequential write throughput and p50/p99 latency
(one client), concurrent throughput and p50/p99 (N clients), failover time
(kill -9 the leader -> first successful write through a survivor), and
join-to-voter time (a fourth member added and voting). Prints a table and
the apigw/etcd ratios. Every process is started here and stopped by PID.

Usage: bench/raft-compare.sh [--seq N] [--clients C] [--per-client M] [--rounds R]
(APIGW_BIN: the apigw binary, default ./apigw; ETCD_BIN, ETCDCTL_BIN).
"""
import argparse
import base64
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

PROCS = []
TMP = tempfile.mkdtemp(prefix="raft-compare-")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def spawn(args, log, env=None):
    f = open(log, "ab")
    p = subprocess.Popen(args, stdout=f, stderr=subprocess.STDOUT, env=env)
    PROCS.append(p)
    return p


def cleanup():
    for p in PROCS:
        if p.poll() is None:
            p.kill()
            p.wait()
    shutil.rmtree(TMP, ignore_errors=True)


def b64(s):
    return base64.b64encode(s.encode()).decode()


class Client:
    """One keep-alive connection to a JSON gateway."""

    def __init__(self, port, timeout=5):
        self.port = port
        self.timeout = timeout
        self.conn = None

    def post(self, path, body):
        for attempt in (0, 1):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                           timeout=self.timeout)
                self.conn.request("POST", path, body=json.dumps(body),
                                  headers={"Content-Type": "application/json"})
                r = self.conn.getresponse()
                data = r.read()
                return r.status, data
            except (OSError, http.client.HTTPException):
                self.conn = None
                if attempt == 1:
                    return 0, b""
        return 0, b""

    def put(self, key, value):
        st, data = self.post("/v3/kv/put", {"key": b64(key), "value": b64(value)})
        return st == 200 and b'"error"' not in data[:200].replace(b'"error":""', b"")


def status_of(port):
    st, data = Client(port, timeout=1).post("/v3/maintenance/status", {})
    if st != 200:
        return None
    j = json.loads(data)
    return int(j["header"]["member_id"]), int(j.get("leader", 0))


def find_leader(ports, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        for p in ports:
            try:
                s = status_of(p)
            except (OSError, ValueError, KeyError):
                s = None
            if s and s[1] != 0 and s[0] == s[1]:
                return p
        time.sleep(0.02)
    raise RuntimeError("no leader among %s" % ports)


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] * 1000.0


def run_seq(port, n, prefix):
    c = Client(port)
    lat = []
    t0 = time.time()
    for i in range(n):
        t = time.time()
        if not c.put("%s/%d" % (prefix, i), "v" * 64):
            raise RuntimeError("write failed")
        lat.append(time.time() - t)
    el = time.time() - t0
    return n / el, pct(lat, 0.5), pct(lat, 0.99)


def run_conc(port, clients, per, prefix):
    lat = []
    lock = threading.Lock()
    errors = []

    def worker(k):
        c = Client(port)
        mine = []
        for i in range(per):
            t = time.time()
            if not c.put("%s/%d/%d" % (prefix, k, i), "v" * 64):
                errors.append(1)
            mine.append(time.time() - t)
        with lock:
            lat.extend(mine)

    ths = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    t0 = time.time()
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    el = time.time() - t0
    if errors:
        raise RuntimeError("%d writes failed" % len(errors))
    return clients * per / el, pct(lat, 0.5), pct(lat, 0.99)


def first_write_after(ports, deadline_s=30):
    t0 = time.time()
    clients = [Client(p, timeout=1) for p in ports]
    while time.time() - t0 < deadline_s:
        for c in clients:
            if c.put("failover", "x"):
                return time.time() - t0
        time.sleep(0.01)
    raise RuntimeError("no write succeeded after the leader was killed")


# ---- apigw ------------------------------------------------------------------

class Apigw:
    name = "apigw"

    def __init__(self, binary):
        self.bin = binary
        self.nodes = []  # dicts: ports, dir, proc, name

    def _node(self, name):
        d = os.path.join(TMP, "apigw-" + name)
        ports = {k: free_port() for k in ("proxy", "proxy-tls", "admin", "etcd", "raft", "status",
                     "metrics", "control")}
        return {"name": name, "dir": d, "ports": ports, "proc": None}

    def _args(self, n, cmd, extra=()):
        a = [self.bin, cmd, "--name", n["name"], "--data-dir", n["dir"], "--log-level",
             "warn", "--workers", "1", "--voters", "5"]
        for k, p in n["ports"].items():
            a += ["--%s-listen" % k, "127.0.0.1:%d" % p]
        return a + list(extra)

    def _start(self, n, cmd, extra=()):
        n["proc"] = spawn(self._args(n, cmd, extra), n["dir"] + ".log")
        wait_http(n["ports"]["status"], "/status/ready")

    def start(self):
        first = self._node("a1")
        self._start(first, "start")
        find_leader([first["ports"]["etcd"]])
        with open(os.path.join(first["dir"], "join-secret")) as f:
            self.secret = f.read().strip()
        self.nodes = [first]
        for name in ("a2", "a3"):
            n = self._node(name)
            self._start(n, "join", ["--peer", "127.0.0.1:%d" % first["ports"]["etcd"],
                                    "--join-secret", self.secret])
            self.nodes.append(n)
            self._wait_voter(n["name"])

    def _members(self):
        for n in self.nodes:
            if n["proc"] is None or n["proc"].poll() is not None:
                continue
            try:
                c = http.client.HTTPConnection("127.0.0.1", n["ports"]["status"], timeout=1)
                c.request("GET", "/apigw/status")
                j = json.loads(c.getresponse().read())
                if j["state"] == "leader":
                    return j["members"]
            except (OSError, ValueError):
                pass
        return []

    def _wait_voter(self, name, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if any(m["name"] == name and m["role"] == "voter" for m in self._members()):
                return
            time.sleep(0.005)
        raise RuntimeError("%s never became a voter" % name)

    def ports(self):
        return [n["ports"]["etcd"] for n in self.nodes if n["proc"].poll() is None]

    def node_by_port(self, port):
        return [n for n in self.nodes if n["ports"]["etcd"] == port][0]

    def kill(self, port):
        n = self.node_by_port(port)
        n["proc"].kill()
        n["proc"].wait()

    def restart(self, port):
        n = self.node_by_port(port)
        self._start(n, "start")

    def join_time(self):
        n = self._node("a4")
        t0 = time.time()
        n["proc"] = spawn(self._args(n, "join", [
            "--peer", "127.0.0.1:%d" % self.nodes[0]["ports"]["etcd"],
            "--join-secret", self.secret]), n["dir"] + ".log")
        self.nodes.append(n)
        self._wait_voter("a4")
        return time.time() - t0


# ---- etcd -------------------------------------------------------------------

class Etcd:
    name = "etcd"

    def __init__(self, binary, ctl):
        self.bin = binary
        self.ctl = ctl
        self.nodes = []

    def _node(self, name):
        return {"name": name, "dir": os.path.join(TMP, "etcd-" + name), "client": free_port(),
                "peer": free_port(), "proc": None}

    def _args(self, n, cluster, state):
        return [self.bin, "--name", n["name"], "--data-dir", n["dir"],
                "--listen-client-urls", "http://127.0.0.1:%d" % n["client"],
                "--advertise-client-urls", "http://127.0.0.1:%d" % n["client"],
                "--listen-peer-urls", "http://127.0.0.1:%d" % n["peer"],
                "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % n["peer"],
                "--initial-cluster", cluster, "--initial-cluster-state", state,
                "--initial-cluster-token", "raft-compare", "--log-level", "error"]

    def _cluster(self, nodes):
        return ",".join("%s=http://127.0.0.1:%d" % (n["name"], n["peer"]) for n in nodes)

    def start(self):
        self.nodes = [self._node(x) for x in ("e1", "e2", "e3")]
        cl = self._cluster(self.nodes)
        for n in self.nodes:
            n["args"] = self._args(n, cl, "new")
            n["proc"] = spawn(n["args"], n["dir"] + ".log")
        for n in self.nodes:
            wait_http(n["client"], "/health", method="GET")
        find_leader(self.ports())

    def ports(self):
        return [n["client"] for n in self.nodes if n["proc"].poll() is None]

    def kill(self, port):
        n = [x for x in self.nodes if x["client"] == port][0]
        n["proc"].kill()
        n["proc"].wait()

    def restart(self, port):
        n = [x for x in self.nodes if x["client"] == port][0]
        n["proc"] = spawn(n["args"], n["dir"] + ".log")
        wait_http(n["client"], "/health", method="GET")

    def join_time(self):
        n = self._node("e4")
        everyone = self.nodes + [n]
        # etcd refuses member changes while a member is freshly (re)started
        # ("unhealthy cluster"): retry; the clock starts at the accepted add.
        deadline = time.time() + 60
        while True:
            t0 = time.time()
            r = subprocess.run([self.ctl, "--endpoints",
                                "127.0.0.1:%d" % self.nodes[0]["client"], "member", "add",
                                "e4", "--peer-urls=http://127.0.0.1:%d" % n["peer"]],
                               capture_output=True)
            if r.returncode == 0:
                break
            if time.time() > deadline:
                raise RuntimeError("etcdctl member add: %s" % r.stderr.decode())
            time.sleep(0.2)
        n["args"] = self._args(n, self._cluster(everyone), "existing")
        n["proc"] = spawn(n["args"], n["dir"] + ".log")
        self.nodes.append(n)
        wait_http(n["client"], "/health", method="GET", want=b'"true"')
        return time.time() - t0


def wait_http(port, path, method="GET", timeout=60, want=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request(method, path)
            r = c.getresponse()
            body = r.read()
            if r.status == 200 and (want is None or want in body):
                return
        except OSError:
            pass
        time.sleep(0.005)
    raise RuntimeError("127.0.0.1:%d%s not ready" % (port, path))


def measure(system, args):
    out = {}
    system.start()
    leader = find_leader(system.ports())
    run_seq(leader, 50, "warm")
    out["seq"] = run_seq(leader, args.seq, "seq")
    out["conc"] = run_conc(leader, args.clients, args.per_client, "conc")
    system.kill(leader)
    rest = system.ports()
    out["failover"] = first_write_after(rest)
    system.restart(leader)
    find_leader(system.ports())
    out["join"] = system.join_time()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seq", type=int, default=1000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--per-client", type=int, default=250)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    apigw_bin = os.environ.get("APIGW_BIN", "./apigw")
    etcd_bin = os.environ.get("ETCD_BIN", shutil.which("etcd") or "/usr/bin/etcd")
    ctl = os.environ.get("ETCDCTL_BIN", shutil.which("etcdctl") or "/usr/bin/etcdctl")
    for b in (apigw_bin, etcd_bin, ctl):
        if not os.access(b, os.X_OK):
            sys.exit("raft-compare: %s not found (apt-get install etcd-server etcd-client)" % b)
    # Alternate the systems round by round and report medians, so a noisy
    # neighbour on the machine weighs on both alike.
    runs = {"apigw": [], "etcd": []}
    for rnd in range(args.rounds):
        for system in (Apigw(apigw_bin), Etcd(etcd_bin, ctl)):
            runs[system.name].append(measure(system, args))
            for p in PROCS:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
                    try:
                        p.wait(10)
                    except subprocess.TimeoutExpired:
                        p.kill()
                        p.wait()
            del PROCS[:]
            shutil.rmtree(TMP, ignore_errors=True)
            os.makedirs(TMP, exist_ok=True)

    def med(name):
        rs = runs[name]
        return {"seq": tuple(statistics.median(r["seq"][i] for r in rs) for i in range(3)),
                "conc": tuple(statistics.median(r["conc"][i] for r in rs) for i in range(3)),
                "failover": statistics.median(r["failover"] for r in rs),
                "join": statistics.median(r["join"] for r in rs)}
    a, e = med("apigw"), med("etcd")
    print("3 voters on 127.0.0.1, JSON gateway /v3/kv/put, 64-byte values, same client, "
          "median of %d alternating rounds" % args.rounds)
    print("%-34s %12s %12s %8s" % ("", "apigw", "etcd 3.4", "ratio"))

    def row(label, x, y, fmt="%12.1f"):
        print(("%-34s " + fmt + " " + fmt + " %8.2f") % (label, x, y, x / y if y else 0))
    row("sequential writes/s", a["seq"][0], e["seq"][0])
    row("sequential p50 ms", a["seq"][1], e["seq"][1], "%12.2f")
    row("sequential p99 ms", a["seq"][2], e["seq"][2], "%12.2f")
    row("concurrent (%dx%d) writes/s" % (args.clients, args.per_client), a["conc"][0],
        e["conc"][0])
    row("concurrent p50 ms", a["conc"][1], e["conc"][1], "%12.2f")
    row("concurrent p99 ms", a["conc"][2], e["conc"][2], "%12.2f")
    row("failover after kill -9 (s)", a["failover"], e["failover"], "%12.2f")
    row("join to voter (s)", a["join"], e["join"], "%12.2f")


if __name__ == "__main__":
    try:
        main()
    finally:
        cleanup()
