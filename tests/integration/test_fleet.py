#!/usr/bin/env python3
"""A fleet: 3 voters and 5 standbys (CI profile; bench/fleet.py runs 3 + 20
and measures). Every standby joins through a different member, the roles
settle (3 voters, 5 standbys), and each of a series of route changes made
on the leader is served by all 8 proxies; a standby serves Admin GETs and
serializable etcd reads from its own store."""
import json
import time

from harness import EchoUpstream, Tap, etcdctl
from raftutil import join_node, start_cluster, status, wait_for, wait_leader

tap = Tap()
C = {}
KEY = "fleet-test-admin-key-0123"


def test_form_fleet():
    args = ["--admin-key", KEY]
    nodes, secret = start_cluster(3, extra_args=args)
    for i in range(4, 9):
        nodes.append(join_node("n%d" % i, nodes[(i - 1) % len(nodes)], secret,
                               args + ["--voters", "3"]))
    C["nodes"] = nodes
    wait_for(lambda: len(status(nodes[0])["members"]) == 8, 60, 0.1, "8 members")
    wait_for(lambda: sorted(m["role"] for m in status(nodes[0])["members"]) ==
             ["standby"] * 5 + ["voter"] * 3, 60, 0.2, "3 voters, 5 standbys")
    C["leader"] = wait_leader(nodes)


def test_changes_reach_every_proxy():
    up = EchoUpstream()
    C["up"] = up
    leader = C["leader"]
    for c in range(5):
        body = json.dumps({"uri": "/fleet/%d" % c, "upstream": {"nodes": {up.addr: 1}}})
        st, _, data = leader.request("PUT", "admin", "/apisix/admin/routes/f%d" % c,
                                     body=body.encode(), headers={"X-API-KEY": KEY})
        assert st in (200, 201), (st, data)
        for n in C["nodes"]:
            wait_for(lambda: n.get("proxy", "/fleet/%d" % c)[0] == 200, 15, 0.02,
                     "route %d on %s" % (c, n.name))


def test_standby_reads_locally():
    sb = next(n for n in C["nodes"] if status(n)["role"] == "standby")
    st, _, data = sb.request("GET", "admin", "/apisix/admin/routes/f4",
                             headers={"X-API-KEY": KEY})
    assert st == 200 and b"/fleet/4" in data, (st, data)
    p = etcdctl(sb, "get", "--consistency=s", "--prefix", "/apisix/routes/", "--keys-only")
    assert p.returncode == 0 and p.stdout.count("/apisix/routes/f") == 5, p.stdout


def test_stop():
    C["up"].stop()
    for n in C["nodes"]:
        n.stop()


for fn in (test_form_fleet, test_changes_reach_every_proxy, test_standby_reads_locally,
           test_stop):
    tap.run(fn)
tap.done()
