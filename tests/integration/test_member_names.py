#!/usr/bin/env python3
"""Without --name, members on one host still get distinct names: the host
name and the first 6 hex digits of the node id (etcdctl member list used to
show three members all called after the host); a restart keeps the name;
an explicit --name is kept as given."""
import re
import socket

from harness import Tap, etcdctl
from raftutil import start_cluster, status, wait_leader

tap = Tap()
C = {}


def names(node):
    p = etcdctl(node, "member", "list")
    assert p.returncode == 0, p.stderr
    return sorted(line.split(", ")[2] for line in p.stdout.strip().splitlines())


def test_default_names_unique():
    nodes, _ = start_cluster(3, extra_args=["--name="])
    C["nodes"] = nodes
    wait_leader(nodes)
    got = names(nodes[0])
    host = socket.gethostname()[:56]
    assert len(set(got)) == 3, got
    for n in got:
        assert re.fullmatch(re.escape(host) + "-[0-9a-f]{6}", n), got
    # the status JSON and the node's own id agree with it
    s = status(nodes[1])
    assert s["name"] == host + "-" + s["id"][:6], s


def test_name_survives_restart():
    n = C["nodes"][2]
    before = status(n)["name"]
    n.stop()
    n.start()
    assert status(n)["name"] == before


def test_explicit_name_kept():
    for n in C["nodes"]:
        n.stop()
    nodes, _ = start_cluster(1)
    assert status(nodes[0])["name"] == "n1"
    nodes[0].stop()


for fn in (test_default_names_unique, test_name_survives_restart, test_explicit_name_kept):
    tap.run(fn)
tap.done()
