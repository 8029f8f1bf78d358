#!/usr/bin/env python3
"""fleet.py: one apigw cluster of V voters and S standbys as processes on
this machine (release build, --workers 1 each), bounded in count and time.

Measures: join time per node (`apigw join` started -> the node serves its
proxy with the cluster's config), then for C route changes through the
leader's Admin API the time from the PUT's response until every node's
proxy serves the new route (one polling thread per node) (p50/p99/max over changes, and per node), the
leader's CPU time per change, and bytes the leader sent per change per
standby (from `ss -ti` bytes_acked on the leader's raft connections).
Every process is started here and stopped by PID.

  APIGW_BIN=./apigw python3 bench/fleet.py [--voters 3] [--standbys 20] [--changes 50]
"""
import argparse
import http.client
import http.server
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from config_scale import Upstream, free_port  # noqa: E402  (the same test upstream)

KEY = "fleet-admin-key-0123456789"
PROCS = []
TMP = tempfile.mkdtemp(prefix="apigw-fleet-")


class Node:
    def __init__(self, i, binp):
        self.i = i
        self.ports = {k: free_port() for k in ("proxy", "proxy-tls", "admin", "etcd", "raft", "status",
                     "metrics", "control")}
        self.binp = binp
        self.proc = None

    def start(self, cmd, extra):
        args = [self.binp, cmd, "--name", "f%d" % self.i, "--data-dir", "%s/n%d" % (TMP, self.i),
                "--admin-key", KEY, "--workers", "1", "--log-level", "warn"] + extra
        for k, p in self.ports.items():
            args += ["--%s-listen" % k, "127.0.0.1:%d" % p]
        self.proc = subprocess.Popen(args, stdout=open("%s/n%d.log" % (TMP, self.i), "ab"),
                                     stderr=subprocess.STDOUT)
        PROCS.append(self.proc)

    def get(self, listener, path, timeout=2):
        c = http.client.HTTPConnection("127.0.0.1", self.ports[listener], timeout=timeout)
        try:
            c.request("GET", path)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def cpu_s(self):
        f = open("/proc/%d/stat" % self.proc.pid).read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def wait(pred, timeout, what):
    end = time.time() + timeout
    while time.time() < end:
        try:
            if pred():
                return
        except OSError:
            pass
        time.sleep(0.01)
    raise SystemExit("timed out waiting for " + what)


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * q))]


def bytes_acked(pid, raft_ports):
    """Bytes the process has had acknowledged on its connections to the
    given raft ports (ss -tip; both directions of a pair are sockets of
    someone: only those owned by @pid and whose peer is one of the ports)."""
    out = subprocess.run(["ss", "-tinpH", "state", "established"], capture_output=True,
                         text=True).stdout
    total, lines = 0, out.splitlines()
    for k in range(0, len(lines) - 1):
        head, info = lines[k], lines[k + 1]
        if "pid=%d," % pid not in head:
            continue
        peer = head.split()[3] if len(head.split()) > 3 else ""
        if not any(peer.endswith(":%d" % p) for p in raft_ports):
            continue
        m = re.search(r"bytes_acked:(\d+)", info)
        if m:
            total += int(m.group(1))
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--voters", type=int, default=3)
    ap.add_argument("--standbys", type=int, default=20)
    ap.add_argument("--changes", type=int, default=50)
    a = ap.parse_args()
    binp = os.environ.get("APIGW_BIN", "./apigw")
    up = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=up.serve_forever, daemon=True).start()
    upaddr = "127.0.0.1:%d" % up.server_address[1]
    nodes = [Node(i, binp) for i in range(a.voters + a.standbys)]
    vflag = ["--voters", str(a.voters)]
    nodes[0].start("start", vflag)
    wait(lambda: nodes[0].get("status", "/status/ready")[0] == 200, 20, "bootstrap")
    secret = open("%s/n0/join-secret" % TMP).read().strip()
    joins = []
    for n in nodes[1:]:
        t = time.monotonic()
        n.start("join", vflag + ["--peer", "127.0.0.1:%d" % nodes[0].ports["etcd"],
                                 "--join-secret", secret])
        wait(lambda: n.get("status", "/status/ready")[0] == 200, 60, "node %d ready" % n.i)
        joins.append((time.monotonic() - t) * 1000)
    print("nodes %d (%d voters, %d standbys); join to ready ms p50 %.0f max %.0f" % (
        len(nodes), a.voters, a.standbys, statistics.median(joins), max(joins)))
    st = json.loads(nodes[0].get("status", "/apigw/status")[1])
    leader = next(n for n in nodes if json.loads(n.get("status", "/apigw/status")[1])
                  ["state"] == "leader")
    roles = [m["role"] for m in st["members"]]
    print("roles: %d voter, %d standby" % (roles.count("voter"), roles.count("standby")))
    standby_raft = [n.ports["raft"] for n in nodes if n is not leader]
    ad = http.client.HTTPConnection("127.0.0.1", leader.ports["admin"], timeout=30)
    conns = {n.i: http.client.HTTPConnection("127.0.0.1", n.ports["proxy"], timeout=5)
             for n in nodes}

    def served(n, uri):
        c = conns[n.i]
        try:
            c.request("GET", uri)
            r = c.getresponse()
            r.read()
            return r.status == 200
        except (http.client.HTTPException, OSError):
            c.close()
            conns[n.i] = http.client.HTTPConnection("127.0.0.1", n.ports["proxy"], timeout=5)
            return False

    all_max, per_node = [], {n.i: [] for n in nodes}
    cpu0, b0 = leader.cpu_s(), bytes_acked(leader.proc.pid, standby_raft)
    for c in range(a.changes):
        body = json.dumps({"uri": "/fleet/%d" % c, "upstream": {"nodes": {upaddr: 1}}})
        ad.request("PUT", "/apisix/admin/routes/fleet%d" % c, body=body,
                   headers={"X-API-KEY": KEY})
        r = ad.getresponse()
        r.read()
        done = time.monotonic()
        assert r.status in (200, 201), r.status
        got = {}

        def poll(n, c=c, done=done):
            while time.monotonic() < done + 10:
                if served(n, "/fleet/%d" % c):
                    got[n.i] = (time.monotonic() - done) * 1000
                    return

        ths = [threading.Thread(target=poll, args=(n,)) for n in nodes]
        for t in ths:
            t.start()
        for t in ths:
            t.join()
        if len(got) != len(nodes):
            raise SystemExit("change %d not served by %s after 10 s" % (
                c, sorted(set(n.i for n in nodes) - set(got))))
        for i, v in got.items():
            per_node[i].append(v)
        all_max.append(max(per_node[i][-1] for i in per_node))
    cpu1, b1 = leader.cpu_s(), bytes_acked(leader.proc.pid, standby_raft)
    allv = [x for v in per_node.values() for x in v]
    print("commit -> served by every node (max over nodes) ms: p50 %.1f p99 %.1f max %.1f" % (
        statistics.median(all_max), pct(all_max, 0.99), max(all_max)))
    print("commit -> served per node ms: p50 %.1f p99 %.1f max %.1f" % (
        statistics.median(allv), pct(allv, 0.99), max(allv)))
    print("leader CPU per change: %.2f ms" % ((cpu1 - cpu0) * 1000 / a.changes))
    print("leader bytes acked per change per follower: %.0f (incl. heartbeats and pings)" % (
        (b1 - b0) / a.changes / max(1, len(nodes) - 1)))
    print("(served: one polling thread per node, from the PUT's response; Python threads "
          "share one interpreter lock, so with many nodes the figures include client "
          "scheduling)")


if __name__ == "__main__":
    try:
        main()
    finally:
        for p in PROCS:
            if p.poll() is None:
                p.terminate()
        for p in PROCS:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        if os.environ.get("KEEP_TMP") == "1":
            print("logs in " + TMP, file=sys.stderr)
        else:
            shutil.rmtree(TMP, ignore_errors=True)
