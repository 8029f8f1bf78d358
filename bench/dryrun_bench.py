#!/usr/bin/env python3
"""dryrun_bench.py: what ?dry_run=true costs now that it compiles the
proposed config with the proxy's compiler (docs/history.md), on a real
apigw node started by tests/integration/harness.py (stopped by PID at exit).

A config of --routes routes is loaded with PUT /apisix/admin/configs: 1% of
the routes use upstream "few", the rest upstream "many", every tenth has a
plugin. Then, median of --rounds, request to answer:
  - a dry run of one route's change (PATCH /routes/<id>?dry_run=true);
  - a dry run of upstream "few" (1% of the routes affected) and "many";
  - a GET answered by the Admin API while a dry run compiles (the control
    loop is not blocked by the compile: it runs on the thread pool).

  APIGW_BIN=build-release/apigw python3 bench/dryrun_bench.py \\
      [--routes 10000] [--rounds 5]
With LOG_LEVEL=debug the node's own compile times are printed at the end.
Prints one line per figure. No assertion on timings."""
import argparse
import json
import os
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from harness import Node, http  # noqa: E402

KEY = "dryrun-bench-key-0123456789"


def config(n):
    few = max(1, n // 100)
    routes = []
    for i in range(n):
        r = {"id": "r%05d" % i, "uri": "/r/%d" % i, "upstream_id": "few" if i < few else "many"}
        if i % 10 == 0:
            r["plugins"] = {"limit-count": {"count": 100, "time_window": 60}}
        routes.append(r)
    return {"upstreams": [{"id": "few", "type": "roundrobin", "nodes": {"127.0.0.1:1980": 1}},
                          {"id": "many", "type": "roundrobin", "nodes": {"127.0.0.1:1981": 1}}],
            "routes": routes}


def adm(n, method, path, body=None):
    t0 = time.monotonic()
    st, _, b = http(method, "127.0.0.1", n.ports["admin"], "/apisix/admin" + path,
                    body=json.dumps(body) if body is not None else None,
                    headers={"X-API-KEY": KEY, "Content-Type": "application/json"}, timeout=300)
    return time.monotonic() - t0, st, (json.loads(b) if b else None)


def median_of(rounds, fn):
    return statistics.median(fn() for _ in range(rounds))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--routes", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    n = Node("dry1", extra_args=["--admin-key", KEY], log_level=os.environ.get("LOG_LEVEL", "info")).start()
    try:
        t, st, b = adm(n, "PUT", "/configs", config(args.routes))
        assert st == 200, (st, b)
        print("loaded %d routes in %.2f s" % (args.routes, t))

        def one(path, body, method="PUT", want=None):
            t, st, b = adm(n, method, path, body)
            assert st == 200 and (want is None or len(b["routes_affected"]) == want), (st, b)
            return t

        few = max(1, args.routes // 100)
        up = {"type": "roundrobin", "nodes": {"127.0.0.1:1990": 1}}
        print("dry run of one route: %.3f s" % median_of(
            args.rounds, lambda: one("/routes/r00007?dry_run=true", {"methods": ["GET"]},
                                     "PATCH", 1)))
        print("dry run of upstream 'few' (%d routes affected): %.3f s" % (few, median_of(
            args.rounds, lambda: one("/upstreams/few?dry_run=true", up, want=few))))
        print("dry run of upstream 'many' (%d routes affected): %.3f s" % (
            args.routes - few, median_of(
                args.rounds, lambda: one("/upstreams/many?dry_run=true", up,
                                         want=args.routes - few))))
        # the loop keeps answering while a dry run compiles
        gets = []
        done = threading.Event()

        def dry():
            one("/upstreams/many?dry_run=true", up)
            done.set()

        th = threading.Thread(target=dry)
        th.start()
        while not done.is_set():
            t, st, _ = adm(n, "GET", "/routes/r00003")
            assert st == 200
            gets.append(t)
        th.join()
        print("GET during a dry run: %d answered, max %.3f s, median %.3f s" % (
            len(gets), max(gets), statistics.median(gets)))
    finally:
        if os.environ.get("LOG_LEVEL") == "debug":
            print("".join(x for x in open(n.log_path).read().splitlines(True) if "dryrun" in x))
        n.stop()


if __name__ == "__main__":
    main()
