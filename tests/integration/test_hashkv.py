#!/usr/bin/env python3
"""etcd's HashKV and Hash on every member: after a storm of puts, deletes
and a txn through different members, `etcdctl endpoint hashkv --cluster`
shows one hash on all three (each member hashes its own LMDB), HashKV at
an older revision agrees too and differs from the current one, a compacted
revision answers etcd's error, and the JSON gateway serves
/v3/maintenance/hash and /v3/maintenance/hashkv."""
import base64
import json
import random

from harness import Tap, etcdctl, http
from raftutil import start_cluster, wait_for, wait_leader

tap = Tap()
C = {}


def b64(s):
    return base64.b64encode(s.encode()).decode()


def gw(node, path, body):
    st, _, data = http("POST", "127.0.0.1", node.ports["etcd"], path,
                       body=json.dumps(body).encode(),
                       headers={"Content-Type": "application/json"})
    return st, json.loads(data) if data else {}


def hashkv(node, rev):
    st, b = gw(node, "/v3/maintenance/hashkv", {"revision": str(rev)})
    assert st == 200, (st, b)
    return b.get("hash", 0), int(b["header"]["revision"])


def revision(node):
    st, b = gw(node, "/v3/kv/range", {"key": b64("x"), "serializable": True})
    return int(b["header"]["revision"])


def test_setup():
    nodes, _ = start_cluster(3)
    C["nodes"] = nodes
    wait_leader(nodes)


def test_storm_then_equal():
    nodes = C["nodes"]
    rnd = random.Random(7)
    for i in range(150):
        n = nodes[i % 3]
        k = "/storm/%d" % rnd.randrange(40)
        if rnd.random() < 0.2:
            st, _ = gw(n, "/v3/kv/deleterange", {"key": b64(k)})
        else:
            st, _ = gw(n, "/v3/kv/put", {"key": b64(k), "value": b64("v%d" % i)})
        assert st == 200
    st, _ = gw(nodes[1], "/v3/kv/txn", {"success": [{"request_put": {"key": b64("/t"),
                                                                     "value": b64("1")}}]})
    assert st == 200
    top = revision(nodes[0])
    wait_for(lambda: all(revision(n) == top for n in nodes), 10, 0.05, "all applied")
    p = etcdctl(nodes[0], "endpoint", "hashkv", "--cluster")
    assert p.returncode == 0, p.stderr
    hashes = {line.split(", ")[1] for line in p.stdout.strip().splitlines()}
    assert len(p.stdout.strip().splitlines()) == 3 and len(hashes) == 1, p.stdout
    C["top"] = top


def test_old_revision_and_compaction():
    nodes, top = C["nodes"], C["top"]
    old = [hashkv(n, top - 50) for n in nodes]
    assert len(set(old)) == 1 and old[0][1] == top - 50, old
    assert old[0][0] != hashkv(nodes[0], top)[0]
    p = etcdctl(nodes[0], "compact", str(top - 10))
    assert p.returncode == 0, p.stderr
    # a follower applies the compaction a moment after the leader answered
    last = {}

    def compacted():
        last["r"] = gw(nodes[2], "/v3/maintenance/hashkv", {"revision": str(top - 50)})
        return last["r"][0] != 200
    wait_for(compacted, 10, 0.02, "compaction applied on a follower")
    st, b = last["r"]
    assert "required revision has been compacted" in json.dumps(b), (st, b)
    # Hash (keyspace and leases) agrees too once the compaction applied
    hs = set()
    for n in nodes:
        st, b = gw(n, "/v3/maintenance/hash", {})
        assert st == 200, b
        hs.add(b.get("hash", 0))
    assert len(hs) == 1, hs


def test_stop():
    for n in C["nodes"]:
        n.stop()


for fn in (test_setup, test_storm_then_equal, test_old_revision_and_compaction, test_stop):
    tap.run(fn)
tap.done()
