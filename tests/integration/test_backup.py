#!/usr/bin/env python3
"""Backup and restore through real nodes and the real etcdctl 3.4:
`etcdctl snapshot save` from a follower of a 3-node cluster while writes go
on gives a file that `apigw backup status` checks and describes (its hash
equals `etcdctl endpoint hashkv --rev` of the cluster at the file's
revision); `apigw restore` makes a new one-node cluster with exactly those
keys, that revision and the lease; a node joins it and holds the same
keyspace; truncated and corrupted files are refused and write nothing; an
existing data dir is kept unless --force (moved aside); `apigw backup --to`
does what etcdctl does from the shell."""
import json
import os
import threading

from harness import Node, Tap, etcdctl, run_cli, tempdir, wait_for
from raftutil import join_node, start_cluster, status, wait_leader

tap = Tap()
C = {}
ROUTE = '{"uri":"/r%d","upstream":{"type":"roundrobin","nodes":{"127.0.0.1:1980":1}}}'


def ok(p):
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    return p.stdout


def hashkv(node, rev=None):
    args = ["endpoint", "hashkv"] + (["--rev=%d" % rev] if rev else [])
    return int(ok(etcdctl(node, *args)).strip().split(", ")[1])


def kvs(node, rev=None):
    args = ["get", "", "--prefix", "-w", "json"] + (["--rev=%d" % rev] if rev else [])
    out = json.loads(ok(etcdctl(node, *args)))
    return out["header"]["revision"], [
        (k["key"], k.get("value"), k["create_revision"], k["mod_revision"],
         k["version"], k.get("lease", 0)) for k in out.get("kvs", [])]


def backup_status(path):
    return json.loads(ok(run_cli("backup", "status", path, "--json")))


def test_setup():
    nodes, _ = start_cluster(3)
    C["nodes"] = nodes
    leader = wait_leader(nodes)
    C["follower"] = next(n for n in nodes if n is not leader)
    for i in range(200):
        ok(etcdctl(leader, "put", "/apisix/routes/%04d" % i, ROUTE % i))
    lease = ok(etcdctl(leader, "lease", "grant", "900")).split()[1]
    ok(etcdctl(leader, "put", "--lease=" + lease, "/leased", "x"))
    C["lease"] = lease


def test_save_from_follower_under_writes():
    nodes, f = C["nodes"], C["follower"]
    stop = threading.Event()

    def writer():
        i = 0
        while not stop.is_set():
            etcdctl(nodes[i % 3], "put", "/busy/%d" % (i % 50), "v%d" % i)
            i += 1
    t = threading.Thread(target=writer)
    t.start()
    try:
        path = os.path.join(tempdir("apigw-bk-"), "snap.db")
        p = etcdctl(f, "snapshot", "save", path)
        ok(p)
        assert "Snapshot saved at" in p.stdout, p.stdout
    finally:
        stop.set()
        t.join()
    st = backup_status(path)
    assert st["total_key"] >= 201 and st["leases"] == 1, st
    assert os.path.getsize(path) == st["total_size"] and st["total_size"] % 512 == 32
    # the file is the follower's state at one revision: the cluster agrees
    top = kvs(nodes[0])[0]
    wait_for(lambda: all(kvs(n)[0] == top for n in nodes), 10, 0.05, "all applied")
    assert hashkv(nodes[0], st["revision"]) == st["hash"], st
    C["snap"], C["st"] = path, st
    # etcdctl's own status reads bbolt and cannot read ours: it fails
    p = etcdctl(f, "snapshot", "status", path)
    assert p.returncode != 0, p.stdout


def test_restore_into_new_cluster():
    path, st = C["snap"], C["st"]
    n = Node("r1")
    p = run_cli("restore", path, "--data-dir", n.data_dir,
                "--raft-listen", n.addr("raft"))
    ok(p)
    assert "restored revision %d" % st["revision"] in p.stdout, p.stdout
    n.start()
    C["restored"] = n
    wait_for(lambda: status(n)["state"] == "leader", 20, 0.05, "restored leader")
    rev, got = kvs(n)
    assert rev == st["revision"], (rev, st)
    want_rev, want = kvs(C["nodes"][0], st["revision"])
    assert got == want and len(got) == st["total_key"]
    assert hashkv(n) == st["hash"]
    assert ok(etcdctl(n, "lease", "list")).split()[-1] == C["lease"]
    assert status(n)["cluster_id"] != status(C["nodes"][0])["cluster_id"]
    assert len(status(n)["members"]) == 1, status(n)
    # it takes writes from its revision on, and a new node joins with the data
    ok(etcdctl(n, "put", "/after", "1"))
    j = join_node("r2", n)
    C["joined"] = j
    wait_for(lambda: kvs(j)[0] == st["revision"] + 1, 20, 0.1, "joiner caught up")
    assert hashkv(j) == hashkv(n)


def test_bad_files_refused():
    path = C["snap"]
    with open(path, "rb") as f:
        data = f.read()
    d = tempdir("apigw-bk-")
    trunc = os.path.join(d, "trunc.db")
    with open(trunc, "wb") as f:
        f.write(data[:len(data) // 2])
    bad = os.path.join(d, "bad.db")
    with open(bad, "wb") as f:
        f.write(data[:1000] + bytes([data[1000] ^ 1]) + data[1001:])
    for fpath, why in ((trunc, "truncated"), (bad, "checksum mismatch")):
        target = os.path.join(d, "data-" + why.split()[0])
        p = run_cli("restore", fpath, "--data-dir", target)
        assert p.returncode == 1 and why in p.stderr, (p.returncode, p.stderr)
        assert not os.path.exists(target)
        p = run_cli("backup", "status", fpath)
        assert p.returncode == 1 and why in p.stderr, p.stderr
    # an existing data dir is kept; --force moves it aside
    used = C["restored"].data_dir
    p = run_cli("restore", path, "--data-dir", used)
    assert p.returncode == 1 and "refusing to overwrite" in p.stderr, p.stderr
    other = os.path.join(d, "other")
    os.mkdir(other)
    with open(os.path.join(other, "keep"), "w") as f:
        f.write("x")
    ok(run_cli("restore", path, "--data-dir", other, "--force"))
    aside = [x for x in os.listdir(d) if x.startswith("other.replaced-")]
    assert len(aside) == 1 and os.path.exists(os.path.join(d, aside[0], "keep"))


def test_apigw_backup_to():
    f = C["follower"]
    path = os.path.join(tempdir("apigw-bk-"), "b.db")
    p = run_cli("backup", "--to", path, "--endpoint", f.addr("etcd"))
    ok(p)
    assert "snapshot saved at" in p.stdout and not os.path.exists(path + ".part")
    st = backup_status(path)
    assert st["hash"] == hashkv(f, st["revision"])
    p = run_cli("backup", "--to", path + "2", "--endpoint", "127.0.0.1:1")
    assert p.returncode == 1 and not os.path.exists(path + "2")


def test_config_export():
    """apigw config export: APISIX's standalone layout, stable, YAML = JSON."""
    import yaml
    n = C["restored"]
    ok(etcdctl(n, "put", "/apisix/upstreams/u1",
               '{"type":"roundrobin","nodes":{"127.0.0.1:80":1},"create_time":1}'))
    y1 = ok(run_cli("config", "export", "--endpoint", n.addr("etcd")))
    y2 = ok(run_cli("config", "export", "--endpoint", n.addr("etcd"), "--format=yaml"))
    j = json.loads(ok(run_cli("config", "export", "--endpoint", n.addr("etcd"),
                              "--format", "json")))
    assert y1 == y2 and y1.endswith("\n#END\n"), y1[-50:]
    assert yaml.safe_load(y1) == j
    assert list(j) == ["routes", "upstreams"], list(j)
    ids = [r["id"] for r in j["routes"]]
    assert ids == sorted(ids) and len(ids) == 200, ids[:5]
    assert j["routes"][7] == dict(json.loads(ROUTE % 7), id="0007")
    assert j["upstreams"] == [{"id": "u1", "type": "roundrobin", "nodes": {"127.0.0.1:80": 1}}]
    p = run_cli("config", "export", "--endpoint", "127.0.0.1:1")
    assert p.returncode == 1 and p.stdout == "", p.stdout


def test_config_apply():
    """export -> apply into an empty cluster -> export: byte-identical;
    idempotent; --dry-run; --prune; a bad line is named."""
    src = C["restored"]
    y1 = ok(run_cli("config", "export", "--endpoint", src.addr("etcd")))
    d = tempdir("apigw-cf-")
    f1 = os.path.join(d, "apisix.yaml")
    with open(f1, "w") as f:
        f.write(y1)
    n = Node("e1").start()
    C["empty"] = n
    ep = ["--endpoint", n.addr("etcd")]
    adm = ["--admin-listen", n.addr("admin"), "--data-dir", n.data_dir]
    out = ok(run_cli("config", "apply", f1, "--dry-run", *ep))
    assert "201 to create" in out and "dry run" in out, out
    assert kvs(n)[1] == []
    # more than one etcd transaction holds: refused through the etcd API,
    # one transaction through the Admin API
    p = run_cli("config", "apply", f1, *ep)
    assert p.returncode == 1 and "nothing written" in p.stderr, p.stderr
    assert kvs(n)[1] == []
    out = ok(run_cli("config", "apply", f1, *adm))
    assert "+ /apisix/routes/0000" in out and "one transaction" in out, out
    assert len({k[3] for k in kvs(n)[1]}) == 1
    assert ok(run_cli("config", "export", *ep)) == y1
    out = ok(run_cli("config", "apply", f1, *ep))
    assert out.startswith("no changes"), out
    # an object only the cluster has: kept, then removed with --prune
    ok(etcdctl(n, "put", "/apisix/upstreams/extra",
               '{"type":"roundrobin","nodes":{"127.0.0.1:81":1}}'))
    out = ok(run_cli("config", "apply", f1, *ep))
    assert out.startswith("no changes"), out
    out = ok(run_cli("config", "apply", f1, "--prune", *ep))
    assert "- /apisix/upstreams/extra" in out and "1 to delete" in out, out
    assert ok(run_cli("config", "export", *ep)) == y1
    # a change is an update of that object only
    j = json.loads(ok(run_cli("config", "export", "--format", "json", *ep)))
    j["routes"][3]["uri"] = "/changed"
    fj = os.path.join(d, "apisix.json")
    with open(fj, "w") as f:
        json.dump(j, f)
    out = ok(run_cli("config", "apply", fj, *ep))
    assert "~ /apisix/routes/0003" in out and "1 to update" in out, out
    # a schema error names file, line and object; bad YAML its line; nothing written
    lines = y1.splitlines()
    at = lines.index('- id: "0005"') + 1          # 1-based line of route 0005
    bad = "\n".join(lines[:at] + ["  priority: \"high\""] + lines[at:]) + "\n"
    fb = os.path.join(d, "bad.yaml")
    with open(fb, "w") as f:
        f.write(bad)
    p = run_cli("config", "apply", fb, *ep)
    # the line of the field at fault (the object starts on line at)
    assert p.returncode == 1 and "%s:%d: routes[5] (id 0005)" % (fb, at + 1) in p.stderr, \
        p.stderr
    assert "priority" in p.stderr, p.stderr
    with open(fb, "w") as f:
        f.write("routes:\n- id: x\n  uri: [unclosed\n")
    p = run_cli("config", "apply", fb, *ep)
    assert p.returncode == 1 and fb + ":" in p.stderr and "bad YAML" in p.stderr, p.stderr
    assert kvs(n)[1][3][1] != "x"


def test_snapshot_needs_root_with_auth():
    n = C["restored"]
    ok(etcdctl(n, "user", "add", "root:rootpw"))
    ok(etcdctl(n, "user", "add", "alice:alicepw"))
    ok(etcdctl(n, "auth", "enable"))
    d = tempdir("apigw-bk-")
    p = etcdctl(n, "snapshot", "save", os.path.join(d, "anon.db"))
    assert p.returncode != 0 and "user name is empty" in p.stderr, p.stderr
    p = etcdctl(n, "--dial-timeout=30s", "--user", "alice:alicepw", "snapshot", "save", os.path.join(d, "a.db"))
    assert p.returncode != 0 and "permission denied" in p.stderr, p.stderr
    ok(etcdctl(n, "--dial-timeout=30s", "--user", "root:rootpw", "snapshot", "save", os.path.join(d, "r.db")))
    assert backup_status(os.path.join(d, "r.db"))["revision"] >= C["st"]["revision"]
    ok(etcdctl(n, "--dial-timeout=30s", "--user", "root:rootpw", "auth", "disable"))


def test_periodic_backups():
    d = os.path.join(tempdir("apigw-bk-"), "backups")
    n = Node("p1", extra_args=["--backup-dir", d, "--backup-interval", "1s",
                               "--backup-keep", "2"]).start()
    try:
        ok(etcdctl(n, "put", "/p", "1"))

        def files():
            return sorted(x for x in os.listdir(d) if x.endswith(".db"))
        wait_for(lambda: len(files()) == 2, 15, 0.1, "two periodic backups")
        first = files()[0]
        wait_for(lambda: first not in files(), 15, 0.1, "the oldest removed")
        names = files()
        assert len(names) == 2 and all(x.startswith("apigw-") for x in names), names
        assert not [x for x in os.listdir(d) if x.endswith(".part")]
        st = backup_status(os.path.join(d, names[-1]))
        assert st["revision"] == kvs(n)[0] and st["total_key"] == 1, st
    finally:
        n.stop()
    p = run_cli("start", "--backup-dir", d, "--backup-interval", "10ms", "--check")
    assert p.returncode == 2 and "at least 1s" in p.stderr, p.stderr


def test_stop():
    for n in C["nodes"] + [C.get("restored"), C.get("joined"), C.get("empty")]:
        if n is not None:
            n.stop()


for fn in (test_setup, test_save_from_follower_under_writes, test_restore_into_new_cluster,
           test_bad_files_refused, test_apigw_backup_to, test_config_export,
           test_config_apply,
           test_snapshot_needs_root_with_auth,
           test_periodic_backups, test_stop):
    tap.run(fn)
tap.done()
