#!/usr/bin/env python3
"""The leader's periodic consistency check (raft/consistency.c): members
that hold the same data hash alike every round; a member whose store
diverged (a test-only hook makes n3 report wrong hashes) raises etcd's
CORRUPT alarm for it, seen by `etcdctl alarm list` on every member and in
the status JSON, while writes keep working; `etcdctl alarm disarm` clears
it once that member is gone."""
import os

from harness import Tap, etcdctl
from raftutil import join_node, start_cluster, status, wait_for, wait_leader

tap = Tap()
C = {}
os.environ["APIGW_CONSISTENCY_CHECK_MS"] = "300"


def test_setup():
    nodes, secret = start_cluster(2)
    os.environ["APIGW_TEST_CORRUPT_HASH"] = "1"
    try:
        n3 = join_node("n3", nodes[1], secret, ["--voters", "3"])
    finally:
        del os.environ["APIGW_TEST_CORRUPT_HASH"]
    nodes.append(n3)
    C["nodes"] = nodes
    wait_for(lambda: len(status(nodes[0])["members"]) == 3, 30, 0.1, "n3 joined")
    C["leader"] = wait_leader(nodes)
    C["bad"] = status(n3)["id"]


def test_diverged_member_raises_corrupt():
    leader = C["leader"]
    assert etcdctl(leader, "put", "/c/k", "v").returncode == 0
    wait_for(lambda: C["bad"] in status(leader)["consistency"]["corrupt_alarms"], 20, 0.1,
             "CORRUPT alarm for n3")
    cs = status(leader)["consistency"]
    assert cs["mismatches"] >= 1 and cs["equal"] >= 1, cs  # n2 agrees, n3 does not
    bad_dec = str(int(C["bad"], 16))
    for n in C["nodes"]:
        wait_for(lambda: "alarm:CORRUPT" in etcdctl(n, "alarm", "list").stdout, 10, 0.1,
                 "alarm seen on %s" % n.name)
        out = etcdctl(n, "alarm", "list").stdout
        assert "memberID:%s alarm:CORRUPT" % bad_dec in out, out
        assert C["bad"] in status(n)["consistency"]["corrupt_alarms"]
    # and in the metrics of every member
    for n in C["nodes"]:
        st, _, body = n.get("metrics", "/apisix/prometheus/metrics")
        assert st == 200 and b"\napigw_corrupt_alarms 1\n" in body, body[-2000:]
    st, _, body = leader.get("metrics", "/apisix/prometheus/metrics")
    assert b"apigw_consistency_mismatches_total " in body
    # writes are not frozen by it
    p = etcdctl(leader, "put", "/c/k2", "v2")
    assert p.returncode == 0, p.stderr


def test_disarm_after_removal():
    leader, bad = C["leader"], C["nodes"][2]
    p = etcdctl(leader, "member", "remove", "%x" % int(C["bad"], 16))
    assert p.returncode == 0, p.stderr
    bad.wait(30)
    p = etcdctl(leader, "alarm", "disarm")
    assert p.returncode == 0, p.stderr
    wait_for(lambda: "CORRUPT" not in etcdctl(leader, "alarm", "list").stdout, 10, 0.1,
             "alarm disarmed")
    assert status(leader)["consistency"]["corrupt_alarms"] == []


def test_stop():
    for n in C["nodes"]:
        if n.running:
            n.stop()


for fn in (test_setup, test_diverged_member_raises_corrupt, test_disarm_after_removal, test_stop):
    tap.run(fn)
tap.done()
