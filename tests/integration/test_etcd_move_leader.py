"""etcd's MoveLeader on a 3-node cluster with the real etcdctl: move-leader
hands leadership to the chosen voter; a transferee that is not a member is
refused with etcd's error; a follower refuses MoveLeader as etcd does."""
import os
import subprocess

from harness import Tap, wait_for
from raftutil import leader_of, start_cluster, status, wait_leader


def etcdctl(endpoints, *args):
    env = dict(os.environ, ETCDCTL_API="3")
    return subprocess.run(["etcdctl", "--endpoints=" + ",".join(endpoints),
                           "--command-timeout=10s"] + list(args),
                          capture_output=True, text=True, timeout=30, env=env)


def test_move_leader():
    nodes, _ = start_cluster(3)
    try:
        eps = [n.addr("etcd") for n in nodes]
        old = wait_leader(nodes)
        target = [n for n in nodes if n is not old][0]
        tid = status(target)["id"]
        r = etcdctl(eps, "move-leader", tid)
        assert r.returncode == 0, (r.stdout, r.stderr)
        assert "Leadership transferred" in r.stdout, r.stdout
        wait_for(lambda: leader_of(nodes) is target, 10, what="the target leads")
        r = etcdctl(eps, "move-leader", "123456789abcdef")
        assert r.returncode != 0 and "bad leader transferee" in r.stderr, (r.stdout, r.stderr)
        # Straight to a follower: refused as etcd refuses it.
        follower = [n for n in nodes if n is not target][0]
        r = etcdctl([follower.addr("etcd")], "move-leader", status(old)["id"])
        assert r.returncode != 0, r.stdout
    finally:
        for n in nodes:
            n.stop()


tap = Tap()
tap.run(test_move_leader)
tap.done()
