#!/usr/bin/env python3
"""Three apigw processes form a raft cluster on 127.0.0.1 and survive
failures: formation with `apigw join`, writes on the leader and on a
follower read on every node, a wrong join secret refused, leader kill -9 and
a new leader, quorum loss (the leader left alone steps down; writes then fail
at once with etcd's "no leader" error, serializable reads answer), restart of
the survivor alone (its data served at once) and the return of the others
(they catch up); a new leader restarts lease deadlines at full TTL."""
import base64
import json
import signal
import threading
import time

from harness import Tap
from raftutil import (Node, get, join_node, leader_of, put, run_cli, start_cluster,
                      status, wait_for, wait_leader, wait_value)

tap = Tap()
C = {}


def test_formation_with_join():
    nodes, secret = start_cluster(3)
    C["nodes"], C["secret"] = nodes, secret
    ids = set()
    for n in nodes:
        s = status(n)
        ids.add(s["cluster_id"])
        assert len(s["members"]) == 3, s
        assert s["role"] == "voter", s
    assert len(ids) == 1, ids
    leader = wait_leader(nodes)
    # every member's URLs are published for every node to see
    for m in status(nodes[1])["members"]:
        assert m["etcd_url"].startswith("http://127.0.0.1:"), m
        assert m["name"] in ("n1", "n2", "n3"), m
    # every member, leader or not, shows whom the leader hears from
    for n in nodes:
        wait_for(lambda: all(m["reachable"] is True for m in status(n)["members"]), 10,
                 0.1, "reachable on %s" % n.name)
    # `apigw status` text and JSON forms
    r = run_cli("status", "--endpoint", leader.addr("status"))
    assert r.returncode == 0 and "leader" in r.stdout, r
    r = run_cli("status", "--json", "--endpoint", nodes[2].addr("status"))
    assert r.returncode == 0 and '"members"' in r.stdout, r


def test_write_on_leader_read_everywhere():
    nodes, secret = C["nodes"], C["secret"]
    leader = wait_leader(nodes)
    st, body = put(leader, secret, "/apisix/routes/1", "v1")
    assert st == 200 and body["revision"] > 1, (st, body)
    for n in nodes:
        # linearizable read: right after the write, on any node
        assert get(n, secret, "/apisix/routes/1", linearizable=True) == (200, "v1"), n.name
        wait_value(n, secret, "/apisix/routes/1", "v1")


def test_write_on_follower():
    nodes, secret = C["nodes"], C["secret"]
    leader = wait_leader(nodes)
    follower = [n for n in nodes if n is not leader][0]
    st, body = put(follower, secret, "k-follower", "from-follower")
    assert st == 200, (st, body)
    for n in nodes:
        assert get(n, secret, "k-follower", linearizable=True) == (200, "from-follower")


def test_linearizable_reads_see_completed_writes():
    # Concurrent writers on rotating nodes; after each write returns, a
    # linearizable read on another node must see it (reads share barriers).
    nodes, secret = C["nodes"], C["secret"]
    errors = []

    def worker(k):
        for i in range(15):
            w, rd = nodes[(k + i) % 3], nodes[(k + i + 1) % 3]
            st, _ = put(w, secret, "lin/%d" % k, str(i))
            if st != 200:
                errors.append(("put", k, i, st))
                continue
            got = get(rd, secret, "lin/%d" % k, linearizable=True)
            if got != (200, str(i)):
                errors.append((k, i, got))
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:5]


def test_wrong_join_secret_refused():
    nodes = C["nodes"]
    bad = Node("intruder", cmd="join", extra_args=[
        "--peer", nodes[0].addr("etcd"), "--join-secret", "not-the-secret"])
    bad.start(wait=False)
    rc = bad.wait(timeout=30)
    assert rc != 0, rc
    assert "refused" in bad.log(), bad.log()
    assert "wrong join secret" in nodes[0].log(), nodes[0].log()[-2000:]
    assert len(status(nodes[0])["members"]) == 3
    # and the internal endpoint refuses requests without a member
    # certificate (cleartext, whatever secret they carry)
    st, _h, _body = nodes[0].request("POST", "etcd", "/apigw/internal/kv",
                                     body={"op": "put", "key": "x", "value": "y"},
                                     headers={"X-Apigw-Secret": "nope"})
    assert st == 403, st


def test_data_dir_of_another_cluster_refused():
    nodes, secret = C["nodes"], C["secret"]
    other = Node("other").start()
    wait_for(lambda: status(other)["state"] == "leader", 20, 0.05, "other cluster")
    other.stop()
    # its data dir cannot join our cluster, whatever the secret
    n = Node("other", data_dir=other.data_dir, cmd="join", extra_args=[
        "--peer", nodes[0].addr("etcd"), "--join-secret", secret])
    n.start(wait=False)
    assert n.wait(timeout=30) != 0
    assert "belongs to cluster" in n.log(), n.log()[-2000:]
    assert len(status(nodes[0])["members"]) == 3


def test_leader_kill9_new_leader():
    nodes, secret = C["nodes"], C["secret"]
    old = wait_leader(nodes)
    old.kill()
    t0 = time.time()
    rest = [n for n in nodes if n is not old]
    new = wait_for(lambda: leader_of(rest), 20, 0.05, "new leader")
    C["failover_s"] = time.time() - t0
    assert new is not old
    # writes resume, through either survivor
    for n in rest:
        st, body = wait_for(lambda: (lambda r: r if r[0] == 200 else None)(
            put(n, secret, "after-failover", n.name)), 15, 0.1, "write after failover")
        assert st == 200
    print("# failover after kill -9: new leader in %.2fs" % C["failover_s"])
    old.start()
    wait_value(old, secret, "after-failover", rest[-1].name, 20)


def test_quorum_loss_fails_fast():
    nodes, secret = C["nodes"], C["secret"]
    leader = wait_leader(nodes)
    st, _ = put(leader, secret, "before-loss", "kept")
    assert st == 200
    for n in nodes:
        wait_value(n, secret, "before-loss", "kept")
    # The leader survives alone: it must notice it lost its majority
    # (check-quorum) and step down within about an election timeout.
    survivor = leader
    for n in nodes:
        if n is not survivor:
            n.kill()
    C["survivor"] = survivor
    t0 = time.time()
    # a write in flight meanwhile fails within its deadline (2 s)
    st, body = put(survivor, secret, "in-flight", "x", timeout=10)
    assert st == 503 and time.time() - t0 < 3.0, (st, body)
    wait_for(lambda: status(survivor)["leader_id"] == "", 15, 0.05, "leader steps down")
    C["stepdown_s"] = time.time() - t0
    print("# leader without a majority stepped down after %.2fs" % C["stepdown_s"])
    assert status(survivor)["state"] != "leader"
    t = time.time()
    st, body = put(survivor, secret, "during-loss", "x", timeout=10)
    took = time.time() - t
    assert st == 503 and body.get("error") == "etcdserver: no leader", (st, body)
    assert took < 0.5, took
    # never longer than the write deadline (2 s), whatever the error
    t = time.time()
    st, body = put(survivor, secret, "during-loss-2", "x", timeout=10)
    assert st == 503 and time.time() - t < 3.0, (st, body)
    # serializable reads answer from the local store
    assert get(survivor, secret, "before-loss") == (200, "kept")
    # linearizable ones fail with the same clear error
    st, _ = get(survivor, secret, "before-loss", linearizable=True)
    assert st == 503
    s = status(survivor)
    assert not s["has_quorum"] and s["leader_id"] == "", s


def test_restart_survivor_alone_serves_data():
    nodes, secret, survivor = C["nodes"], C["secret"], C["survivor"]
    survivor.stop()
    t = time.time()
    survivor.start()
    # committed data at once, without a quorum
    assert get(survivor, secret, "before-loss") == (200, "kept")
    assert get(survivor, secret, "/apisix/routes/1") == (200, "v1")
    assert time.time() - t < 10
    st, body = put(survivor, secret, "still-no-quorum", "x", timeout=10)
    assert st == 503, (st, body)


def test_others_return_and_catch_up():
    nodes, secret = C["nodes"], C["secret"]
    for n in nodes:
        if not n.running:
            n.start()
    try:
        leader = wait_leader(nodes, 30)
    except AssertionError:
        for n in nodes:
            print("# ---- %s %s\n# %s" % (n.name, status(n), n.log()[-1500:].replace("\n", "\n# ")))
        raise
    st, _ = wait_for(lambda: (lambda r: r if r[0] == 200 else None)(
        put(leader, secret, "after-return", "yes")), 20, 0.2, "write after return")
    for n in nodes:
        wait_value(n, secret, "after-return", "yes", 20)
        wait_value(n, secret, "before-loss", "kept", 20)


def b64(s):
    return base64.b64encode(s.encode()).decode()


def test_new_leader_restarts_lease_at_full_ttl():
    nodes, secret = C["nodes"], C["secret"]
    leader = wait_leader(nodes)
    rest = [n for n in nodes if n is not leader]
    st, _, data = rest[0].request("POST", "etcd", "/v3/lease/grant", body={"TTL": 4})
    assert st == 200, data
    lease = json.loads(data)["ID"]
    st, _, data = rest[0].request("POST", "etcd", "/v3/kv/put", body={
        "key": b64("leased"), "value": b64("x"), "lease": lease})
    assert st == 200, data
    t_grant = time.time()
    time.sleep(2)
    leader.kill()
    wait_for(lambda: leader_of(rest), 20, 0.05, "new leader")
    # The old deadline (grant + 4 s) passes, but the new leader counts the
    # full TTL again from its election (etcd's rule): the key is still there.
    time.sleep(max(0.0, t_grant + 5.0 - time.time()))
    for n in rest:
        assert get(n, secret, "leased") == (200, "x"), n.name
    # ...and goes once the restarted TTL passes.
    for n in rest:
        wait_for(lambda: get(n, secret, "leased") == (200, None), 20, 0.2, "lease expiry")
    leader.start()


def test_clean_stop():
    for n in C["nodes"]:
        rc = n.stop()
        assert rc == 0, (n.name, rc, n.log()[-3000:])


tap.run(test_formation_with_join)
if "nodes" in C:
    tap.run(test_write_on_leader_read_everywhere)
    tap.run(test_write_on_follower)
    tap.run(test_linearizable_reads_see_completed_writes)
    tap.run(test_wrong_join_secret_refused)
    tap.run(test_data_dir_of_another_cluster_refused)
    tap.run(test_leader_kill9_new_leader)
    tap.run(test_quorum_loss_fails_fast)
    if "survivor" in C:
        tap.run(test_restart_survivor_alone_serves_data)
    tap.run(test_others_return_and_catch_up)
    tap.run(test_new_leader_restarts_lease_at_full_ttl)
    tap.run(test_clean_stop)
tap.done()
