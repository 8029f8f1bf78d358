#!/usr/bin/env python3
"""Raft write cost on a 3-node apigw cluster on 127.0.0.1 (run by hand,
never by `make check`): sequential puts through the leader's etcd JSON
gateway (p50/p99 ms) and concurrent puts (writes/s), then, with
ETCD_COMPARE=1, /work/shared/bench/etcd-compare.sh against the cluster.

    APIGW_BIN=build/apigw PYTHONPATH=tests/integration \
        python3 tests/bench/raft_write_bench.py [n_seq] [n_conc] [threads]

Prints one JSON line of figures. Nodes are stopped by PID at exit."""
import base64
import http.client
import json
import os
import subprocess
import sys
import threading
import time

from raftutil import leader_of, start_cluster, status, wait_for  # noqa: E402


def b64(s):
    return base64.b64encode(s.encode()).decode()


def put_loop(port, n, prefix, lat):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for i in range(n):
        body = json.dumps({"key": b64("/bench/%s/%d" % (prefix, i)), "value": b64("v" * 64)})
        t = time.perf_counter()
        c.request("POST", "/v3/kv/put", body, {"Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        lat.append(time.perf_counter() - t)
        assert r.status == 200, r.status
    c.close()


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] * 1000.0


def main():
    n_seq = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    n_conc = int(sys.argv[2]) if len(sys.argv) > 2 else 4000
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    nodes, _ = start_cluster(3)
    leader = wait_for(lambda: leader_of(nodes), 20, 0.05, "leader")
    port = leader.ports["etcd"]
    put_loop(port, 200, "warm", [])
    seq = []
    put_loop(port, n_seq, "seq", seq)
    conc = []
    ts = [threading.Thread(target=put_loop, args=(port, n_conc // threads, "c%d" % k, conc))
          for k in range(threads)]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    el = time.perf_counter() - t0
    fig = {"seq_p50_ms": round(pct(seq, 0.5), 3), "seq_p99_ms": round(pct(seq, 0.99), 3),
           "seq_wps": round(len(seq) / sum(seq), 1),
           "conc_wps": round(len(conc) / el, 1), "conc_p50_ms": round(pct(conc, 0.5), 3),
           "conc_p99_ms": round(pct(conc, 0.99), 3), "threads": threads}
    fig["transport"] = [status(n).get("transport") for n in nodes]
    print(json.dumps(fig))
    sys.stdout.flush()
    if os.environ.get("ETCD_COMPARE"):
        eps = ",".join(n.addr("etcd") for n in nodes)
        env = dict(os.environ, ENDPOINTS=eps, PERF_LOADS=os.environ.get("PERF_LOADS", ""),
                   LEADER="")
        subprocess.run(["bash", "/work/shared/bench/etcd-compare.sh"], env=env, timeout=900)
    for n in nodes:
        n.stop()


if __name__ == "__main__":
    main()
