#!/usr/bin/env python3
"""configs_bench.py: the figures of declarative config (docs/backup.md), on
real apigw processes started by tests/integration/harness.py (stopped by
PID at exit):

1. PUT /apisix/admin/configs with --routes routes (JSON body; the Admin
   API's body limit is 1.5 MiB): into an empty node (one TXN), the same
   body again (no changes), one route changed, and a dry run of that
   change; request to answer, median of --rounds.
2. standalone mode: a file of --file-routes routes written, then SIGHUP;
   time until the node serves every route's revision (/status
   served_revision), and until a one-route edit is served.

  APIGW_BIN=build-release/apigw python3 bench/configs_bench.py \
      [--routes 3000] [--file-routes 10000] [--rounds 3]
Prints one line per figure. No assertion on timings."""
import argparse
import json
import os
import signal
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from harness import Node, http, tempdir, wait_for  # noqa: E402

KEY = "configs-bench-key-0123456789"


def config(n, tag=""):
    return {"upstreams": [{"id": "u", "type": "roundrobin", "nodes": {"127.0.0.1:1980": 1}}],
            "routes": [{"id": "r%05d" % i, "uri": "/r/%d%s" % (i, tag if i == 0 else ""),
                        "upstream_id": "u"} for i in range(n)]}


def put(n, body, query=""):
    t0 = time.monotonic()
    st, h, b = http("PUT", "127.0.0.1", n.ports["admin"], "/apisix/admin/configs" + query,
                    body=body, headers={"X-API-KEY": KEY, "Content-Type": "application/json"},
                    timeout=300)
    took = time.monotonic() - t0
    assert st == 200, (st, b[:300])
    return took, json.loads(b)


def served(n):
    return json.loads(n.get("status", "/status")[2])["served_revision"]


def admin_figures(args):
    n = Node("cb", extra_args=["--admin-key", KEY]).start()
    try:
        full = json.dumps(config(args.routes))
        changed = json.dumps(config(args.routes, "x"))
        print("body: %d routes, %d bytes" % (args.routes, len(full)))
        took, b = put(n, full)
        print("PUT /configs into an empty node (%d created, one TXN): %.2f s"
              % (b["created"], took))
        noop, one, dry = [], [], []
        for i in range(args.rounds):
            noop.append(put(n, full)[0])
            one.append(put(n, changed if i % 2 == 0 else full)[0])
            dry.append(put(n, changed if i % 2 == 1 else full, "?dry_run=true")[0])
        print("PUT /configs, no changes: median %.2f s" % statistics.median(noop))
        print("PUT /configs, one route changed: median %.2f s" % statistics.median(one))
        print("PUT /configs?dry_run=true, one route changed: median %.2f s"
              % statistics.median(dry))
    finally:
        n.stop()


def standalone_figures(args):
    d = tempdir("apigw-cb-")
    f = os.path.join(d, "apisix.json")
    with open(f, "w") as fh:
        json.dump({}, fh)
    n = Node("cs", extra_args=["--admin-key", KEY, "--standalone", f,
                               "--standalone-poll", "1h"]).start()
    try:
        r0 = served(n)
        with open(f, "w") as fh:
            json.dump(config(args.file_routes), fh)
        print("standalone file: %d routes, %d bytes" % (args.file_routes, os.path.getsize(f)))
        t0 = time.monotonic()
        n.signal(signal.SIGHUP)
        wait_for(lambda: served(n) > r0, 600, 0.02, "the load served")
        print("standalone: SIGHUP to %d routes served: %.2f s"
              % (args.file_routes, time.monotonic() - t0))
        r1 = served(n)
        with open(f, "w") as fh:
            json.dump(config(args.file_routes, "x"), fh)
        t0 = time.monotonic()
        n.signal(signal.SIGHUP)
        wait_for(lambda: served(n) > r1, 600, 0.02, "the edit served")
        print("standalone: SIGHUP to a one-route edit served (%d routes): %.2f s"
              % (args.file_routes, time.monotonic() - t0))
    finally:
        n.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--routes", type=int, default=3000)
    ap.add_argument("--file-routes", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    admin_figures(args)
    standalone_figures(args)


if __name__ == "__main__":
    main()
