#!/usr/bin/env python3
"""peer_tls_compare.py: what mTLS on the peer paths costs. Starts a 3-node
apigw cluster with --peer-tls=on, measures it with the team's
etcd-compare.sh (ENDPOINTS=..., the same client for both), stops it, does
the same with --peer-tls=off, and prints on/off ratios for write throughput
(etcdctl check perf) and put latency p50/p99 (sequential, one connection).
ROUNDS alternates on/off that many times; figures are medians over rounds.
Every process is stopped by PID (raft_compare.py's helpers).

  APIGW_BIN=build-release/apigw bench/peer-tls-compare.sh [--rounds N] [--loads "m"]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import raft_compare as rc  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
COMPARE = os.environ.get("ETCD_COMPARE") or os.path.join(HERE, "..", "..", "shared", "bench",
                                                         "etcd-compare.sh")


class Cluster(rc.Apigw):
    """raft_compare's 3-node apigw cluster with --peer-tls set."""

    def __init__(self, binary, tls):
        super().__init__(binary)
        self.tls = tls
        self.tmp = tempfile.mkdtemp(prefix="peer-tls-", dir=rc.TMP)

    def _node(self, name):
        # a fresh data dir per cluster (raft_compare names them by node only)
        n = super()._node(name)
        n["dir"] = os.path.join(self.tmp, name)
        return n

    def _args(self, n, cmd, extra=()):
        return super()._args(n, cmd, extra) + ["--peer-tls=" + ("on" if self.tls else "off")]

    def stop(self):
        for n in self.nodes:
            if n["proc"] is not None and n["proc"].poll() is None:
                n["proc"].terminate()
                try:
                    n["proc"].wait(timeout=20)
                except subprocess.TimeoutExpired:
                    n["proc"].kill()
                    n["proc"].wait()


def row(out, label):
    """The 'endpoints' value of the etcd-compare.sh table row @label."""
    for line in out.splitlines():
        if line.startswith(label):
            v = line[34:].split()
            if v:
                try:
                    return float(v[0].rstrip("!"))
                except ValueError:
                    return None
    return None


def measure(binary, tls, loads, n_put):
    c = Cluster(binary, tls)
    c.start()
    try:
        eps = ",".join("127.0.0.1:%d" % p for p in c.ports())
        env = dict(os.environ, ENDPOINTS=eps, PERF_LOADS=loads, N_PUT=str(n_put),
                   N_WATCH="50", N_GET="200")
        r = subprocess.run(["bash", COMPARE], env=env, capture_output=True, text=True,
                           timeout=600)
        out = r.stdout
        res = {"put_p50": row(out, "put ms p50"), "put_p99": row(out, "put ms p99")}
        for load in loads.split():
            res["tput_" + load] = row(out, "check perf %s: tput" % load)
        if any(v is None for v in res.values()):
            sys.stderr.write(out + r.stderr[-2000:])
        return res
    finally:
        c.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--loads", default="m")
    ap.add_argument("--puts", type=int, default=1000)
    a = ap.parse_args()
    binary = os.environ.get("APIGW_BIN") or os.path.join(HERE, "..", "apigw")
    runs = {True: [], False: []}
    try:
        for i in range(a.rounds):
            for tls in (True, False):
                res = measure(binary, tls, a.loads, a.puts)
                runs[tls].append(res)
                print("# round %d peer-tls=%s: %s" % (i + 1, "on" if tls else "off", res),
                      flush=True)
    finally:
        rc.cleanup()
    print("\n%-28s %12s %12s %10s" % ("metric", "tls on", "tls off", "on/off"))
    for k in runs[True][0]:
        on = [r[k] for r in runs[True] if r[k] is not None]
        off = [r[k] for r in runs[False] if r[k] is not None]
        if not on or not off:
            print("%-28s %12s %12s %10s" % (k, "-", "-", "-"))
            continue
        mon, moff = statistics.median(on), statistics.median(off)
        print("%-28s %12.3f %12.3f %10.3f" % (k, mon, moff, mon / moff if moff else 0))
    print("(tput: writes/s from etcdctl check perf; put: ms, sequential, one connection)")


if __name__ == "__main__":
    main()
