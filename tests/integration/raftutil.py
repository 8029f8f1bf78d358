"""Helpers for the raft integration tests: a cluster of real apigw
processes on 127.0.0.1 (tests/integration/harness.py), writes and reads
through the authenticated node-to-node endpoint POST /apigw/internal/kv on
the etcd listener, status through GET /apigw/status on the status listener.
"""
import json
import os
import time

from harness import Node, http, run_cli, wait_for

# libraft's own leaks around snapshot installation (see lsan-raft.supp) must
# not fail a node's clean exit under the sanitizer build.
os.environ["LSAN_OPTIONS"] = "suppressions=%s" % os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "lsan-raft.supp")


def secret_of(node):
    with open(os.path.join(node.data_dir, "join-secret")) as f:
        return f.read().strip()


def status(node, timeout=5):
    st, _, body = node.get("status", "/apigw/status", timeout=timeout)
    assert st == 200, (st, body)
    return json.loads(body)


def kv(node, secret, body, timeout=10):
    """(http status, parsed JSON body) of one /apigw/internal/kv call."""
    st, _, data = node.request("POST", "etcd", "/apigw/internal/kv", body=body,
                               headers={"X-Apigw-Secret": secret}, timeout=timeout)
    try:
        return st, json.loads(data)
    except ValueError:
        return st, {"raw": data.decode(errors="replace")}


def put(node, secret, key, value, timeout=10):
    return kv(node, secret, {"op": "put", "key": key, "value": value}, timeout)


def get(node, secret, key, linearizable=False, timeout=10):
    st, body = kv(node, secret, {"op": "get", "key": key,
                                 "linearizable": linearizable}, timeout)
    if st != 200:
        return st, None
    kvs = body.get("kvs", [])
    return st, (kvs[0]["value"] if kvs else None)


def leader_of(nodes):
    """The node that says it leads and that the others agree on, or None."""
    for n in nodes:
        if not n.running:
            continue
        try:
            s = status(n, timeout=2)
        except OSError:
            continue
        if s["state"] == "leader":
            return n
    return None


def wait_leader(nodes, timeout=20):
    return wait_for(lambda: leader_of(nodes), timeout, 0.1, "a leader")


def voters(node):
    return [m for m in status(node)["members"] if m["role"] == "voter"]


def start_cluster(n=3, extra_args=(), voters_wanted=3):
    """Bootstrap node 1, join the others through it; wait until every node
    is a member with the role it should get. Returns (nodes, secret)."""
    args = list(extra_args) + ["--voters", str(voters_wanted)]
    first = Node("n1", extra_args=args).start()
    wait_for(lambda: status(first)["state"] == "leader", 20, 0.05, "bootstrap")
    secret = secret_of(first)
    nodes = [first]
    for i in range(2, n + 1):
        # n2 joins through the leader, later ones through the newest member
        # (a follower), which relays the join to the leader.
        nodes.append(join_node("n%d" % i, nodes[-1], secret, args))
    want = min(n, voters_wanted)
    wait_for(lambda: len(voters(first)) == want and
             len(status(first)["members"]) == n, 30, 0.1, "cluster formation")
    return nodes, secret


def join_node(name, peer, secret, extra_args=()):
    node = Node(name, cmd="join", extra_args=list(extra_args) + [
        "--peer", peer.addr("etcd"), "--join-secret", secret]).start()
    return node


def wait_value(node, secret, key, value, timeout=15):
    return wait_for(lambda: get(node, secret, key)[1] == value, timeout, 0.05,
                    "%s=%s on %s" % (key, value, node.name))


__all__ = ["Node", "http", "run_cli", "wait_for", "secret_of", "status", "kv",
           "put", "get", "leader_of", "wait_leader", "voters", "start_cluster",
           "join_node", "wait_value", "time"]
