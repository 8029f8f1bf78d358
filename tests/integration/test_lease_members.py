#!/usr/bin/env python3
"""Leases through every member, as on etcd, with the real etcdctl: through
a follower, keep-alive answers the full TTL (a lease id is 64 bits: it
used to lose precision in the forwarded JSON and come back "not found"),
TimeToLive shows the leader's time left (not the granted TTL) and lists a
key attached just before, revoke works; `etcdctl lock` and `etcdctl elect`
work through a follower (they live on leases)."""
import os
import subprocess
import time

from harness import Tap, etcdctl
from raftutil import start_cluster, wait_leader

tap = Tap()
C = {}


def ok(p):
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    return p.stdout.strip()


def test_setup():
    nodes, _ = start_cluster(3)
    C["nodes"] = nodes
    C["leader"] = wait_leader(nodes)
    C["followers"] = [n for n in nodes if n is not C["leader"]]


def lease_cycle(n, key):
    out = ok(etcdctl(n, "lease", "grant", "30"))
    lid = out.split()[1]
    ok(etcdctl(n, "put", "--lease=" + lid, key, "v"))
    out = ok(etcdctl(n, "lease", "timetolive", lid, "--keys"))
    assert "attached keys([%s])" % key in out, out
    time.sleep(2.2)
    out = ok(etcdctl(n, "lease", "timetolive", lid))
    left = int(out.split("remaining(")[1].split("s)")[0])
    assert 20 <= left <= 28, out  # the leader's clock, not the granted 30
    out = ok(etcdctl(n, "lease", "keep-alive", "--once", lid))
    assert "keepalived with TTL(30)" in out, out
    out = ok(etcdctl(n, "lease", "timetolive", lid))
    left = int(out.split("remaining(")[1].split("s)")[0])
    assert left >= 28, out
    ok(etcdctl(n, "lease", "revoke", lid))
    assert ok(etcdctl(C["leader"], "get", key)) == "", "revoked lease's key still there"
    out = ok(etcdctl(n, "lease", "timetolive", lid))
    assert "already expired" in out or "remaining(-1s)" in out, out


def test_lease_through_follower():
    lease_cycle(C["followers"][0], "/lease/f")


def test_lease_through_leader():
    lease_cycle(C["leader"], "/lease/l")


def test_unknown_lease_keepalive():
    out = etcdctl(C["followers"][1], "lease", "keep-alive", "--once", "7fffffffffffff01")
    assert out.returncode != 0 and "requested lease not found" in out.stderr, out


def test_lock_and_elect_through_follower():
    f = C["followers"][1]
    out = ok(etcdctl(f, "lock", "/locks/a", "echo", "held"))
    assert out.endswith("held"), out
    # a campaign through a follower becomes leader and proposes its value
    env = dict(os.environ, ETCDCTL_API="3")
    p = subprocess.Popen(["etcdctl", "--endpoints=" + f.addr("etcd"), "elect", "/elect/a", "p1"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.time() + 10
        seen = ""
        while time.time() < deadline:
            seen = ok(etcdctl(C["leader"], "get", "--prefix", "/elect/a"))
            if "p1" in seen:
                break
            time.sleep(0.1)
        assert "p1" in seen, seen
    finally:
        p.terminate()
        p.wait(10)


def test_stop():
    for n in C["nodes"]:
        n.stop()


for fn in (test_setup, test_lease_through_follower, test_lease_through_leader,
           test_unknown_lease_keepalive, test_lock_and_elect_through_follower, test_stop):
    tap.run(fn)
tap.done()
