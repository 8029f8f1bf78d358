#!/usr/bin/env python3
"""Cluster membership with real apigw processes on 127.0.0.1: a fourth node
joins as a standby (voters wanted: 3) and is promoted when a voter leaves;
the node that left stops cleanly; the leader leaves (leadership transfer
first); a member that missed many entries catches up by snapshot (low
snapshot threshold); re-running `apigw join` is idempotent; lease expiry
is driven by the leader (etcd JSON gateway); a voter that stays unreachable
gives its place to a healthy standby."""
import base64
import json
import os
import time

from harness import Tap
from raftutil import (get, join_node, leader_of, put, run_cli, start_cluster, status,
                      voters, wait_for, wait_leader, wait_value)

# Small snapshots so the catch-up case needs one (documented in cluster.h).
os.environ["APIGW_RAFT_SNAPSHOT_THRESHOLD"] = "64"
os.environ["APIGW_RAFT_SNAPSHOT_TRAILING"] = "16"
# A voter unheard of for 3 s gives its place to a healthy standby.
os.environ["APIGW_RAFT_REPLACE_VOTER_MS"] = "3000"

tap = Tap()
C = {}


def test_standby_join():
    nodes, secret = start_cluster(3)
    C["nodes"], C["secret"] = nodes, secret
    n4 = join_node("n4", nodes[0], secret, ["--voters", "3"])
    C["n4"] = n4
    leader = wait_leader(nodes)
    wait_for(lambda: len(status(leader)["members"]) == 4, 20, 0.1, "4 members")
    roles = {m["name"]: m["role"] for m in status(leader)["members"]}
    assert roles["n4"] == "standby", roles
    assert sorted(r for r in roles.values()) == ["standby", "voter", "voter", "voter"]
    # the standby replicates
    st, _ = put(leader, secret, "for-standby", "yes")
    assert st == 200
    wait_value(n4, secret, "for-standby", "yes")
    # and writes through it reach the leader
    st, _ = put(n4, secret, "via-standby", "ok")
    assert st == 200, st


def test_voter_leaves_standby_promoted():
    nodes, secret, n4 = C["nodes"], C["secret"], C["n4"]
    leader = wait_leader(nodes)
    leaving = [n for n in nodes if n is not leader][0]
    t0 = time.time()
    r = run_cli("leave", "--endpoint", leaving.addr("status"), timeout=30)
    assert r.returncode == 0, (r.stdout, r.stderr)
    # the node that left stops cleanly (exit 0)
    rc = leaving.wait(timeout=30)
    assert rc == 0, (rc, leaving.log()[-2000:])
    nodes.remove(leaving)
    nodes.append(n4)

    def promoted():
        s = status(leader)
        roles = {m["name"]: m["role"] for m in s["members"]}
        return roles if roles.get("n4") == "voter" and len(roles) == 3 else None
    roles = wait_for(promoted, 30, 0.2, "standby promoted")
    C["promote_s"] = time.time() - t0
    print("# leave + standby promotion took %.2fs" % C["promote_s"])
    assert leaving.name not in roles
    st, _ = put(leader, secret, "after-promotion", "1")
    assert st == 200
    for n in nodes:
        wait_value(n, secret, "after-promotion", "1")


def test_leader_leaves_with_transfer():
    nodes, secret = C["nodes"], C["secret"]
    # a fourth node again, so three voters remain afterwards
    n5 = join_node("n5", nodes[0], secret, ["--voters", "3"])
    old = wait_leader(nodes)
    wait_for(lambda: len(status(old)["members"]) == 4, 20, 0.1, "n5 member")
    r = run_cli("leave", "--endpoint", old.addr("status"), timeout=30)
    assert r.returncode == 0, (r.stdout, r.stderr, old.log()[-2000:])
    assert old.wait(timeout=30) == 0
    nodes.remove(old)
    nodes.append(n5)
    new = wait_leader(nodes, 20)
    assert new is not old
    wait_for(lambda: len(voters(new)) == 3 and len(status(new)["members"]) == 3, 30, 0.2,
             "three voters after the leader left")
    st, _ = put(new, secret, "after-leader-left", "1")
    assert st == 200


def test_snapshot_catch_up():
    nodes, secret = C["nodes"], C["secret"]
    leader = wait_leader(nodes)
    lagging = [n for n in nodes if n is not leader][0]
    lagging.kill()
    # far more entries than the snapshot threshold + trailing entries
    for i in range(200):
        st, _ = put(leader, secret, "bulk/%03d" % i, "v%d" % i)
        assert st == 200, st
    lagging.start()
    wait_value(lagging, secret, "bulk/199", "v199", 30)
    assert get(lagging, secret, "bulk/000") == (200, "v0")
    assert "restored snapshot" in lagging.log(), lagging.log()[-2000:]


def test_join_rerun_is_idempotent():
    nodes, secret = C["nodes"], C["secret"]
    n = [x for x in nodes if x.cmd == "join"][0]
    before = status(n)
    n.stop()
    n.start()  # runs `apigw join` again on its data dir
    leader = wait_leader(nodes)
    wait_for(lambda: status(n)["state"] in ("follower", "leader") and
             status(n)["leader_id"] != "", 20, 0.1, "rejoined")
    after = status(n)
    assert after["id"] == before["id"] and after["cluster_id"] == before["cluster_id"]
    assert len(status(leader)["members"]) == 3


def b64(s):
    return base64.b64encode(s.encode()).decode()


def gw(node, path, body):
    st, _, data = node.request("POST", "etcd", path, body=body, timeout=10)
    return st, json.loads(data or b"{}")


def test_lease_expiry_by_leader():
    nodes, secret = C["nodes"], C["secret"]
    leader = wait_leader(nodes)
    follower = [n for n in nodes if n is not leader][0]
    st, body = gw(follower, "/v3/lease/grant", {"TTL": 2})
    assert st == 200 and "ID" in body, (st, body, status(follower), status(leader),
                                        follower.log()[-1500:])
    st, body = gw(follower, "/v3/kv/put", {"key": b64("leased"), "value": b64("x"),
                                           "lease": body["ID"]})
    assert st == 200, (st, body)
    assert get(leader, secret, "leased", linearizable=True) == (200, "x")
    # the leader revokes it once the TTL passes; every node sees the delete
    for n in nodes:
        wait_for(lambda: get(n, secret, "leased") == (200, None), 15, 0.2, "lease expiry")


def test_dead_voter_replaced_by_standby():
    nodes, secret = C["nodes"], C["secret"]
    n6 = join_node("n6", nodes[0], secret, ["--voters", "3"])
    nodes.append(n6)
    leader = wait_leader(nodes)
    wait_for(lambda: {m["name"]: m["role"] for m in status(leader)["members"]}.get("n6")
             == "standby", 20, 0.1, "n6 standby")
    victim = [n for n in nodes if n is not leader and n is not n6][0]
    victim.kill()
    t0 = time.time()
    # the leader stops hearing from it, and says so on every member
    wait_for(lambda: {m["name"]: m["reachable"] for m in status(n6)["members"]}.get(
        victim.name) is False, 15, 0.1, "victim unreachable")

    def replaced():
        roles = {m["name"]: m["role"] for m in status(leader)["members"]}
        return roles if roles["n6"] == "voter" and roles[victim.name] == "standby" else None
    roles = wait_for(replaced, 30, 0.2, "standby replaces the dead voter")
    print("# dead voter replaced after %.1fs: %s" % (time.time() - t0, roles))
    st, _ = put(leader, secret, "after-replacement", "1")
    assert st == 200
    victim.start()  # comes back as a standby and catches up
    wait_value(victim, secret, "after-replacement", "1", 20)


def test_remove_dead_member_by_id():
    nodes, secret = C["nodes"], C["secret"]
    leader = wait_leader(nodes)
    victim = [n for n in nodes if n is not leader][0]
    vid = status(victim)["id"]
    victim.kill()
    nodes.remove(victim)
    other = [n for n in nodes if n is not leader][0]
    # any member may remove it (forwarded to the leader)
    r = run_cli("leave", "--node", vid, "--endpoint", other.addr("status"), timeout=30)
    assert r.returncode == 0, (r.stdout, r.stderr)
    wait_for(lambda: all(m["id"] != vid for m in status(leader)["members"]), 10, 0.1,
             "member removed")
    # unknown ids are refused with etcd's wording
    r = run_cli("leave", "--node", vid, "--endpoint", other.addr("status"), timeout=30)
    assert r.returncode != 0 and "member not found" in r.stderr, (r.stdout, r.stderr)
    st, _ = put(other, secret, "after-remove", "1")
    assert st == 200


def test_remove_live_member_by_id_stops_it():
    nodes, secret = C["nodes"], C["secret"]
    n7 = join_node("n7", nodes[0], secret, ["--voters", "3"])
    leader = wait_leader(nodes)
    wait_for(lambda: any(m["name"] == "n7" and m["role"] != "spare"
                         for m in status(leader)["members"]), 20, 0.1, "n7 member")
    vid = status(n7)["id"]
    r = run_cli("leave", "--node", vid, "--endpoint", nodes[0].addr("status"), timeout=30)
    assert r.returncode == 0, (r.stdout, r.stderr)
    # the leader tells it; it stops cleanly on its own
    assert n7.wait(timeout=30) == 0, n7.log()[-2000:]
    assert all(m["id"] != vid for m in status(leader)["members"])


def test_clean_stop():
    for n in C["nodes"]:
        assert n.stop() == 0, n.log()[-2000:]


tap.run(test_standby_join)
if "n4" in C:
    tap.run(test_voter_leaves_standby_promoted)
    tap.run(test_leader_leaves_with_transfer)
    tap.run(test_snapshot_catch_up)
    tap.run(test_join_rerun_is_idempotent)
    tap.run(test_lease_expiry_by_leader)
    tap.run(test_dead_voter_replaced_by_standby)
    tap.run(test_remove_dead_member_by_id)
    tap.run(test_remove_live_member_by_id_stops_it)
    tap.run(test_clean_stop)
tap.done()
