#!/usr/bin/env python3
"""history_bench.py: the figures of config history (docs/history.md), on
real apigw processes started by tests/integration/harness.py (stopped by
PID at exit):

1. history storage per change: one node, one route rewritten --writes
   times through the Admin API; the LMDB data file's growth and the store's
   logical size growth (apigw_store_db_bytes; /apigw/status's logical size is
   not exported, so the file is what is reported) divided by the writes;
   each write also stores its audit record.
2. rollback time: POST /apisix/admin/rollback of 1 route, and of --objects
   routes (loaded through the etcd JSON gateway, 100 puts a txn, then every
   one changed), measured from request to answer (committed), median of
   --rounds.
3. wait=served latency on 3 nodes: PUT ?wait=served through a follower,
   --waits times; the answer comes once all three serve the revision.

  APIGW_BIN=build-release/apigw python3 bench/history_bench.py \
      [--writes 2000] [--objects 10000] [--rounds 3] [--waits 50]
Prints one line per figure. No assertion on timings."""
import argparse
import base64
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from harness import Node, create_token, http, wait_for, write_token_file  # noqa: E402

KEY = "history-bench-key-0123456789"
UP = {"type": "roundrobin", "nodes": {"127.0.0.1:1980": 1}}


def adm(n, method, path, body=None, timeout=120):
    st, h, b = http(method, "127.0.0.1", n.ports["admin"], "/apisix/admin" + path,
                    body=json.dumps(body) if body is not None else None,
                    headers={"X-API-KEY": KEY, "Content-Type": "application/json"},
                    timeout=timeout)
    return st, h, (json.loads(b) if b else None)


def metric(n, name):
    _, _, m = n.get("metrics", "/apisix/prometheus/metrics")
    for line in m.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def db_file(n):
    return os.path.getsize(os.path.join(n.data_dir, "store", "data.mdb"))


def storage(writes):
    n = Node("hb1", extra_args=["--admin-key", KEY], log_level="warn").start()
    try:
        adm(n, "PUT", "/routes/s", {"uri": "/s0", "upstream": UP})
        f0, m0 = db_file(n), metric(n, "apigw_store_db_bytes")
        r0 = metric(n, "apigw_store_revision")
        for i in range(writes):
            st, _, _ = adm(n, "PUT", "/routes/s", {"uri": "/s%d" % (i + 1), "upstream": UP})
            assert st == 200, st
        f1 = db_file(n)
        r1 = metric(n, "apigw_store_revision")
        _, _, one = adm(n, "GET", "/routes/s")
        value_len = len(json.dumps(one["value"], separators=(",", ":")))
        print("history storage: %d writes (revisions %d..%d), route value %d bytes: "
              "data.mdb +%d bytes = %.0f bytes/change (file was %d)"
              % (writes, r0, r1, value_len, f1 - f0, (f1 - f0) / writes, f0))
        del m0
    finally:
        n.stop()


def rollback_times(objects, rounds):
    n = Node("hb2", extra_args=["--admin-key", KEY], log_level="warn").start()
    try:
        # one object
        t1 = []
        for i in range(rounds):
            _, h, _ = adm(n, "PUT", "/routes/one", {"uri": "/one%d" % i, "upstream": UP})
            rev = int(h["x-apigw-revision"])
            adm(n, "PUT", "/routes/one", {"uri": "/changed%d" % i, "upstream": UP})
            t = time.monotonic()
            st, _, b = adm(n, "POST", "/rollback", {"revision": rev, "resources": ["routes/one"]})
            t1.append(time.monotonic() - t)
            assert st == 200 and len(b["changes"]) == 1, (st, b)
        # many objects
        route = lambda i, tag: json.dumps({"uri": "/%s/%d" % (tag, i), "upstream": UP})
        tn = []
        for r in range(rounds):
            for tag in ("a%d" % r, "b%d" % r):
                for base in range(0, objects, 100):
                    ops = [{"request_put": {
                        "key": base64.b64encode(("/apisix/routes/m%d" % i).encode()).decode(),
                        "value": base64.b64encode(route(i, tag).encode()).decode()}}
                        for i in range(base, min(objects, base + 100))]
                    st, _, _ = http("POST", "127.0.0.1", n.ports["etcd"], "/v3/kv/txn",
                                    body=json.dumps({"success": ops}), timeout=60)
                    assert st == 200, st
                if tag.startswith("a"):
                    rev = int(metric(n, "apigw_store_revision"))
            t = time.monotonic()
            st, _, b = adm(n, "POST", "/rollback", {"revision": rev, "resources": ["routes"]})
            tn.append(time.monotonic() - t)
            assert st == 200, (st, b)
            assert len(b["changes"]) == objects, len(b["changes"])
        print("rollback of 1 route: median %.1f ms (of %d)" % (statistics.median(t1) * 1000,
                                                                rounds))
        print("rollback of %d routes: median %.0f ms (of %d; one TXN, %d puts + compares)"
              % (objects, statistics.median(tn) * 1000, rounds, objects))
    finally:
        n.stop()


def wait_served(waits):
    common = ["--admin-key", KEY]
    n1 = Node("w1", extra_args=common, log_level="warn").start()
    tok = write_token_file(create_token(n1))
    nodes = [n1]
    try:
        for name in ("w2", "w3"):
            nodes.append(Node(name, cmd="join", log_level="warn", extra_args=common + [
                "--peer", n1.addr("etcd"), "--token-file", tok]).start())
        wait_for(lambda: adm(nodes[2], "PUT", "/upstreams/x", UP)[0] in (200, 201), timeout=30)
        lat, plain = [], []
        for i in range(waits):
            t = time.monotonic()
            st, h, b = adm(nodes[1], "PUT", "/routes/w?wait=served&timeout=5s",
                           {"uri": "/w%d" % i, "upstream": UP})
            lat.append(time.monotonic() - t)
            assert st in (200, 201) and h["x-apigw-served"] == "all", (st, h, b)
            t = time.monotonic()
            adm(nodes[1], "PUT", "/routes/p", {"uri": "/p%d" % i, "upstream": UP})
            plain.append(time.monotonic() - t)
        lat.sort()
        plain.sort()
        print("wait=served on 3 nodes (PUT through a follower): p50 %.1f ms, p99 %.1f ms, "
              "max %.1f ms; the same PUT without wait: p50 %.1f ms (%d each)"
              % (lat[len(lat) // 2] * 1000, lat[int(len(lat) * 0.99)] * 1000, lat[-1] * 1000,
                 plain[len(plain) // 2] * 1000, waits))
    finally:
        for n in reversed(nodes):
            n.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--writes", type=int, default=2000)
    ap.add_argument("--objects", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--waits", type=int, default=50)
    a = ap.parse_args()
    storage(a.writes)
    rollback_times(a.objects, a.rounds)
    wait_served(a.waits)


if __name__ == "__main__":
    main()
