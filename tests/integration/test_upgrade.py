"""Rolling upgrade compatibility (docs/operations.md, "Rolling upgrade"):
a cluster of the previous version's binary (APIGW_PREV_BIN, e.g. built by
scripts/build-prev.sh REF) is upgraded node by node, followers first, the
leader last, each restarted on its data dir with `apigw start` of this
build the way the packaged unit restarts it; after every step a write
through the leader reaches every node. And a node of this version joins a
cluster of the previous one and serves its data. Skipped without
APIGW_PREV_BIN; scripts/test.sh builds the release packaging/upgrade-from names.
"""
import os
import re
import subprocess

import harness
from harness import Tap
from raftutil import (join_node, leader_of, put, start_cluster, status, wait_for,
                      wait_leader, wait_value)

PREV = os.environ.get("APIGW_PREV_BIN", "")
NEW = harness.APIGW
_known = {}


def known_flags(binary, cmd):
    """The flags `binary help cmd` lists."""
    if (binary, cmd) not in _known:
        r = subprocess.run([binary, "help", cmd], capture_output=True, text=True, timeout=20)
        _known[(binary, cmd)] = set(re.findall(r"^  (--[a-z0-9-]+)", r.stdout, re.M))
    return _known[(binary, cmd)]


_args = harness.Node.args


def args_for_binary(self):
    """The harness's command line, without the flags an older binary does
    not have yet (listeners added since: it simply does not open them)."""
    a = _args(self)
    if a[0] == NEW:
        return a
    known, out, i = known_flags(a[0], a[1]), a[:2], 2
    while i < len(a):
        name = a[i].split("=", 1)[0]
        takes_value = "=" not in a[i] and i + 1 < len(a) and not a[i + 1].startswith("--")
        if name in known:
            out += a[i:i + 1 + takes_value]
        i += 1 + takes_value
    return out


harness.Node.args = args_for_binary


def restart_as_new(node):
    """Stop @node and start it again with this build's `apigw start` on the
    same data dir and listeners (a joined node's --peer/--token-file go)."""
    node.stop()
    args, skip = [], False
    for a in node.extra_args:
        if skip:
            skip = False
            continue
        if a in ("--peer", "--token-file", "--join-secret"):
            skip = True
            continue
        args.append(a)
    node.extra_args = args
    node.cmd = "start"
    harness.APIGW = NEW
    node.start()


def write_everywhere(nodes, secret, key, value):
    leader = wait_leader(nodes)
    st, body = put(leader, secret, key, value)
    assert st == 200, (st, body)
    for n in nodes:
        wait_value(n, secret, key, value, 20)


def test_rolling_upgrade():
    harness.APIGW = PREV
    try:
        nodes, secret = start_cluster(3)
    finally:
        harness.APIGW = NEW
    write_everywhere(nodes, secret, "/upgrade/0", "old")
    leader = wait_leader(nodes)
    order = [n for n in nodes if n is not leader] + [leader]
    for i, n in enumerate(order, 1):
        restart_as_new(n)
        wait_for(lambda: leader_of(nodes) is not None and
                 len(status(n)["members"]) == 3, 30, 0.1, "%s back as a member" % n.name)
        write_everywhere(nodes, secret, "/upgrade/%d" % i, "step%d" % i)
    for n in nodes:
        n.stop()


def test_new_node_joins_old_cluster():
    harness.APIGW = PREV
    try:
        nodes, secret = start_cluster(1)
    finally:
        harness.APIGW = NEW
    write_everywhere(nodes, secret, "/upgrade/before", "v1")
    new = join_node("n2new", nodes[0], secret)
    wait_value(new, secret, "/upgrade/before", "v1", 20)
    write_everywhere(nodes + [new], secret, "/upgrade/after", "v2")
    assert new.get("status", "/status/ready")[0] == 200
    new.stop()
    nodes[0].stop()


tap = Tap()
if not PREV or not os.access(PREV, os.X_OK):
    tap.skip(test_rolling_upgrade, "APIGW_PREV_BIN not set (scripts/build-prev.sh REF)")
    tap.skip(test_new_node_joins_old_cluster, "APIGW_PREV_BIN not set")
else:
    tap.run(test_rolling_upgrade)
    tap.run(test_new_node_joins_old_cluster)
tap.done()
