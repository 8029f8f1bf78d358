"""Helpers for the raft integration tests: a cluster of real apigw
processes on 127.0.0.1 (tests/integration/harness.py), writes and reads
through the authenticated node-to-node endpoint POST /apigw/internal/kv on
the etcd listener (over the members' mTLS, with the node's own certificate;
the join secret in cleartext for a node without a cluster PKI), status
through GET /apigw/status on the status listener. Clusters join with join
tokens (`apigw token create` on the first node, `apigw join --token-file`).
"""
import json
import os
import time

from harness import (Node, create_token, http, peer_https, run_cli, wait_for,
                     write_token_file)

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


def pki_of(node):
    """The node's <data-dir>/pki, or None when it has none."""
    d = os.path.join(node.data_dir, "pki")
    return d if os.path.exists(os.path.join(d, "node.crt")) else None


def kv(node, secret, body, timeout=10):
    """(http status, parsed JSON body) of one /apigw/internal/kv call: mTLS
    with the node's own member certificate when it has one."""
    pki = pki_of(node)
    if pki is not None and "--peer-tls=off" not in node.extra_args:
        host, port = node.addr("etcd").rsplit(":", 1)
        st, _, data = peer_https("POST", host, int(port), "/apigw/internal/kv", pki,
                                 body=body, timeout=timeout)
    else:
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
    """Bootstrap node 1, join the others through it with a join token
    created on node 1; wait until every node is a member with the role it
    should get. Returns (nodes, secret)."""
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


_token_files = {}


def token_file_for(peer):
    """A token file for joining through @peer: one multi-use token per
    cluster, created on @peer the first time (any member can)."""
    wait_for(lambda: pki_of(peer) is not None and
             status(peer)["cluster_id"].strip("0") != "", 30, 0.05,
             "%s enrolled" % peer.name)
    cluster = status(peer)["cluster_id"]
    if cluster not in _token_files:
        _token_files[cluster] = write_token_file(
            create_token(peer, "--ttl", "1h", "--description", "tests"))
    return _token_files[cluster]


def join_node(name, peer, secret=None, extra_args=(), legacy=False):
    """Start a node joining through @peer: with a join token by default,
    with the legacy --join-secret @secret when @legacy."""
    if legacy or "--peer-tls=off" in extra_args:
        # a cluster without peer TLS has no TLS to enroll over
        how = ["--join-secret", secret]
    else:
        how = ["--token-file", token_file_for(peer)]
    node = Node(name, cmd="join", extra_args=list(extra_args) + [
        "--peer", peer.addr("etcd")] + how).start()
    return node


def wait_value(node, secret, key, value, timeout=15):
    return wait_for(lambda: get(node, secret, key)[1] == value, timeout, 0.05,
                    "%s=%s on %s" % (key, value, node.name))


__all__ = ["Node", "http", "run_cli", "wait_for", "secret_of", "status", "kv", "pki_of",
           "token_file_for", "create_token", "write_token_file", "peer_https",
           "put", "get", "leader_of", "wait_leader", "voters", "start_cluster",
           "join_node", "wait_value", "time"]
