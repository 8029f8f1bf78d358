#!/usr/bin/env python3
"""peer_tls_compare.py: what mTLS on the peer paths costs. Starts a 3-node
apigw cluster with --peer-tls=on, measures it with the team's
etcd-compare.sh (ENDPOINTS=..., the same client for both), stops it, does
the same with --peer-tls=off, and prints on/off ratios for write throughput
(etcdctl check perf) and put latency p50/p99 (sequential, one connection).
ROUNDS alternates on/off that many times; figures are medians over rounds.
Every process is stopped by PID (raft_compare.py's helpers).

  APIGW_BIN=build-release/apigw bench/peer-tls-compare.sh [--rounds N] [--loads "m"]

--paired starts both clusters at once and alternates one client between them
in short slices (sequential puts, then concurrent puts), so the noise of a
shared machine falls on both alike: the ratios are the figures to trust there.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

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


def paired(binary, slices, seq_n, clients, per):
    """Both clusters up at once; the same client alternates between them in
    short slices (order flipped each slice), so machine noise hits both
    alike. Returns {tls: {"lat": [s...], "writes": n, "elapsed": s}}."""
    cl = {True: Cluster(binary, True), False: Cluster(binary, False)}
    out = {t: {"lat": [], "writes": 0, "elapsed": 0.0} for t in cl}
    try:
        for c in cl.values():
            c.start()
        port = {t: rc.find_leader(c.ports()) for t, c in cl.items()}
        for i in range(slices):
            for tls in ((True, False) if i % 2 == 0 else (False, True)):
                cli = rc.Client(port[tls])
                for k in range(seq_n):
                    t = time.time()
                    if not cli.put("/pair/%d/%d" % (i, k), "v" * 64):
                        raise RuntimeError("write failed")
                    out[tls]["lat"].append(time.time() - t)
                tput, _, _ = rc.run_conc(port[tls], clients, per, "/pairc/%d" % i)
                out[tls]["writes"] += clients * per
                out[tls]["elapsed"] += clients * per / tput
    finally:
        for c in cl.values():
            c.stop()
    return out


def main_paired(a, binary):
    try:
        out = paired(binary, a.slices, a.seq, a.clients, a.per_client)
    finally:
        rc.cleanup()
    print("\n%-34s %12s %12s %10s" % ("metric (paired slices)", "tls on", "tls off", "on/off"))
    for k, f in (("seq put p50 ms", lambda o: rc.pct(o["lat"], 0.5)),
                 ("seq put p99 ms", lambda o: rc.pct(o["lat"], 0.99)),
                 ("concurrent writes/s", lambda o: o["writes"] / o["elapsed"])):
        on, off = f(out[True]), f(out[False])
        print("%-34s %12.3f %12.3f %10.3f" % (k, on, off, on / off if off else 0))
    print("(%d slices; each: %d sequential puts, then %d clients x %d puts, one cluster "
          "after the other, order flipped every slice)" % (a.slices, a.seq, a.clients,
                                                           a.per_client))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--loads", default="m")
    ap.add_argument("--puts", type=int, default=1000)
    ap.add_argument("--paired", action="store_true",
                    help="both clusters at once, alternating slices (no etcd-compare.sh)")
    ap.add_argument("--slices", type=int, default=10)
    ap.add_argument("--seq", type=int, default=200)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--per-client", type=int, default=100)
    a = ap.parse_args()
    binary = os.environ.get("APIGW_BIN") or os.path.join(HERE, "..", "apigw")
    if a.paired:
        main_paired(a, binary)
        return
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
