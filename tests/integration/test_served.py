"""Served revisions on a three-node cluster of real apigw processes: every
Admin write answers its revision (X-Apigw-Revision, "modifiedIndex");
/status, `apigw status` and the metrics show the revision this node's proxy
serves; /status/ready?min_revision=N is 503 until it does;
GET /apisix/admin/cluster lists every member's served revision (asked over
the mTLS peer channel); ?wait=served returns once every member serves the
write and, with a member stopped, reports it by the timeout instead of
hanging.
"""
import json
import os
import signal
import time

from harness import (Node, Tap, create_token, http, run_cli, tempdir, wait_for,
                     write_token_file)

KEY = "served-admin-key-0123456789"
UP = {"type": "roundrobin", "nodes": {"127.0.0.1:1980": 1}}
nodes = []
AUDIT = []


def adm(n, method, path, body=None, timeout=15):
    h = {"X-API-KEY": KEY}
    data = None
    if body is not None:
        data = json.dumps(body)
        h["Content-Type"] = "application/json"
    st, hdrs, b = http(method, "127.0.0.1", n.ports["admin"], "/apisix/admin" + path, body=data,
                       headers=h, timeout=timeout)
    try:
        return st, hdrs, json.loads(b) if b else None
    except ValueError:
        return st, hdrs, b.decode(errors="replace")


def status(n):
    st, _, b = n.get("status", "/status")
    assert st == 200, st
    return json.loads(b)


def start_cluster():
    common = ["--admin-key", KEY, "--write-timeout", "2s"]
    AUDIT.append(os.path.join(tempdir("apigw-audit-"), "audit.jsonl"))
    n1 = Node("s1", extra_args=common + ["--audit-log", AUDIT[0]]).start()
    token_file = write_token_file(create_token(n1))
    nodes.append(n1)
    for name in ("s2", "s3"):
        n = Node(name, cmd="join",
                 extra_args=common + ["--peer", n1.addr("etcd"), "--token-file", token_file])
        nodes.append(n.start())
    for i, n in enumerate(nodes):
        wait_for(lambda: adm(n, "PUT", "/upstreams/boot%d" % i, UP)[0] in (200, 201),
                 timeout=30, what="a write through %s" % n.name)


def test_write_answers_its_revision():
    st, h, b = adm(nodes[1], "PUT", "/routes/r1", {"uri": "/r1", "upstream": UP})
    assert st == 201, (st, b)
    rev = int(h["x-apigw-revision"])
    assert b["modifiedIndex"] == rev, b
    st, _, g = adm(nodes[1], "GET", "/routes/r1")
    assert g["modifiedIndex"] == rev, g
    st, h2, b2 = adm(nodes[0], "DELETE", "/routes/r1")
    assert st == 200 and int(h2["x-apigw-revision"]) == rev + 1, (st, h2, b2)


def test_status_and_metrics_show_served_revision():
    st, h, b = adm(nodes[0], "PUT", "/routes/m1", {"uri": "/m1", "upstream": UP})
    rev = int(h["x-apigw-revision"])
    for n in nodes:
        wait_for(lambda: status(n)["served_revision"] >= rev, timeout=10,
                 what="%s serves %d" % (n.name, rev))
        s = status(n)
        assert s["applied_index"] > 0 and s["store_revision"] >= s["served_revision"], s
        assert s["revision_lag"] == s["store_revision"] - s["served_revision"], s
        _, _, m = n.get("metrics", "/apisix/prometheus/metrics")
        line = [ln for ln in m.decode().splitlines()
                if ln.startswith("apigw_config_served_revision ")]
        assert line and float(line[0].split()[1]) >= rev, line
    out = run_cli("status", "--endpoint", nodes[2].addr("status"))
    assert out.returncode == 0 and "served:" in out.stdout, out
    out = run_cli("status", "--json", "--endpoint", nodes[2].addr("status"))
    assert json.loads(out.stdout)["served_revision"] >= rev, out.stdout


def test_ready_min_revision():
    cur = status(nodes[0])["served_revision"]
    st, _, _ = nodes[0].get("status", "/status/ready?min_revision=%d" % cur)
    assert st == 200, st
    st, _, b = nodes[0].get("status", "/status/ready?min_revision=%d" % (cur + 1000))
    assert st == 503 and b"not served" in b, (st, b)
    st, _, _ = nodes[0].get("status", "/status/ready?min_revision=x")
    assert st == 400


def test_cluster_lists_every_member():
    st, _, b = adm(nodes[2], "GET", "/cluster")
    assert st == 200, (st, b)
    assert len(b["members"]) == 3, b
    names = sorted(m["name"] for m in b["members"])
    assert names == ["s1", "s2", "s3"], names
    for m in b["members"]:
        assert m["reachable"] and m["served_revision"] > 0, m


def test_wait_served_all():
    t0 = time.monotonic()
    st, h, b = adm(nodes[1], "PUT", "/routes/w1?wait=served&timeout=5s",
                   {"uri": "/w1", "upstream": UP})
    took = time.monotonic() - t0
    assert st == 201, (st, b)
    assert h["x-apigw-served"] == "all", (h, b)
    rev = int(h["x-apigw-revision"])
    assert b["served"]["all"] is True and b["served"]["revision"] == rev, b
    assert len(b["served"]["members"]) == 3, b
    for m in b["served"]["members"]:
        assert m["served_revision"] >= rev, m
    # every node serves it now: readiness with min_revision agrees
    for n in nodes:
        st, _, _ = n.get("status", "/status/ready?min_revision=%d" % rev)
        assert st == 200, (n.name, st)
    assert took < 5, took
    st, _, b = adm(nodes[1], "PUT", "/routes/w1?wait=forever", {"uri": "/w1", "upstream": UP})
    assert st == 400, (st, b)
    for bad in ("2h", "nan", "-1s", "infs"):
        st, _, b = adm(nodes[1], "PUT", "/routes/w1?wait=served&timeout=" + bad,
                       {"uri": "/w1", "upstream": UP})
        assert st == 400, (bad, st, b)


def test_wait_served_reports_a_stopped_member():
    nodes[2].stop()
    try:
        t0 = time.monotonic()
        st, h, b = adm(nodes[0], "PUT", "/routes/w2?wait=served&timeout=1500ms",
                       {"uri": "/w2", "upstream": UP})
        took = time.monotonic() - t0
        assert st == 201, (st, b)
        assert h["x-apigw-served"] == "partial", (h, b)
        assert b["served"]["all"] is False, b
        behind = b["served"]["not_serving"]
        assert [m["name"] for m in behind] == ["s3"] and not behind[0]["reachable"], behind
        assert 1.4 <= took < 4, took  # answered at its timeout, never hung past it
        st, _, c = adm(nodes[0], "GET", "/cluster")
        assert st == 200 and len(c["members"]) == 3, c
        assert [m["reachable"] for m in c["members"] if m["name"] == "s3"] == [False], c
    finally:
        nodes[2].start()
    rev = status(nodes[0])["store_revision"]
    wait_for(lambda: status(nodes[2])["served_revision"] >= rev, timeout=30,
             what="s3 to catch up")


def test_rollback_and_configs_wait_served():
    """A rollback and a PUT /apisix/admin/configs with ?wait=served answer once
    all three members serve their revision."""
    st, h, _ = adm(nodes[0], "PUT", "/routes/rw", {"uri": "/rw1", "upstream": UP})
    r1 = int(h["x-apigw-revision"])
    adm(nodes[0], "PUT", "/routes/rw", {"uri": "/rw2", "upstream": UP})
    st, h, b = adm(nodes[1], "POST", "/rollback?wait=served&timeout=5s",
                   {"revision": r1, "resources": ["routes/rw"]})
    assert st == 200 and h["x-apigw-served"] == "all", (st, h, b)
    rev = int(h["x-apigw-revision"])
    assert b["served"]["all"] and b["served"]["revision"] == rev, b
    assert [c["key"] for c in b["changes"]] == ["/apisix/routes/rw"], b
    assert all(m["served_revision"] >= rev for m in b["served"]["members"]), b
    st, _, b = adm(nodes[1], "POST", "/rollback?wait=sometimes", {"revision": r1})
    assert st == 400, (st, b)
    # 2,000 routes through one member (the TXN is forwarded if it follows)
    body = {"routes": [{"id": "cw%04d" % i, "uri": "/cw/%d" % i, "upstream": UP}
                       for i in range(2000)]}
    st, h, b = adm(nodes[2], "PUT", "/configs?prune=false&wait=served&timeout=10s", body,
                   timeout=60)
    assert st == 200 and h["x-apigw-served"] == "all" and b["created"] == 2000, (st, h, b)
    for n in nodes:
        st, _, _ = n.get("status", "/status/ready?min_revision=%d" % b["served"]["revision"])
        assert st == 200, (n.name, st)


def test_audit_log_file():
    """--audit-log on s1: every Admin write of the cluster, whichever member
    took it, as JSON lines in commit order; reopened on SIGHUP."""
    st, h, _ = adm(nodes[1], "PUT", "/routes/al?wait=served",
                   {"uri": "/al", "upstream": UP, "plugins": {}})
    rev = int(h["x-apigw-revision"])

    def lines():
        with open(AUDIT[0]) as f:
            return [json.loads(x) for x in f.read().splitlines()]
    wait_for(lambda: any(e["revision"] == rev for e in lines()), 10, 0.05, "the record")
    e = [e for e in lines() if e["revision"] == rev][0]
    assert e["op"] == "PUT" and e["key"] == "/apisix/routes/al" and e["node"] == "s2", e
    assert e["role"] == "admin" and e["client"].startswith("127.0.0.1:"), e
    revs = [e["revision"] for e in lines()]
    assert revs == sorted(revs) and len(revs) == len(set(revs)), revs
    # the same records as GET /apisix/admin/audit answers
    st, _, b = adm(nodes[0], "GET", "/audit?since=%d&limit=10" % rev)
    assert b["list"][0] == e, (b["list"][0], e)
    # logrotate: move the file away, SIGHUP, the next record goes to a new file
    os.rename(AUDIT[0], AUDIT[0] + ".1")
    nodes[0].signal(signal.SIGHUP)
    wait_for(lambda: os.path.exists(AUDIT[0]), 10, 0.05, "the file reopened")
    st, h, _ = adm(nodes[2], "DELETE", "/routes/al")
    rev2 = int(h["x-apigw-revision"])
    wait_for(lambda: any(e["revision"] == rev2 for e in lines()), 10, 0.05, "after SIGHUP")
    assert [e["op"] for e in lines()] == ["DELETE"], lines()


def main():
    tap = Tap()
    try:
        start_cluster()
    except Exception as e:  # noqa: BLE001 - the cases report it
        err = e

        def cluster_start(e=err):
            raise e
        tap.run(cluster_start)
        tap.done()
    for fn in (test_write_answers_its_revision, test_status_and_metrics_show_served_revision,
               test_ready_min_revision, test_cluster_lists_every_member, test_wait_served_all,
               test_wait_served_reports_a_stopped_member,
               test_rollback_and_configs_wait_served, test_audit_log_file):
        tap.run(fn)
    tap.done()


if __name__ == "__main__":
    main()
