"""Config history through the Admin API on one real apigw node:
GET /apisix/admin/history lists every change of an object (or a resource)
newest first, GET /apisix/admin/routes/<id>?revision=N returns the object
as it was, and both survive a restart; a revision compacted away by
--history-revisions is refused with a clear error.
"""
import json
import os

from harness import Node, Tap, etcdctl, http, run_cli, tempdir, wait_for

KEY = "history-admin-key-0123456789"
UP = {"type": "roundrobin", "nodes": {"127.0.0.1:1980": 1}}
node = None


def adm(method, path, body=None, n=None):
    n = n or node
    h = {"X-API-KEY": KEY}
    data = None
    if body is not None:
        data = json.dumps(body)
        h["Content-Type"] = "application/json"
    st, hdrs, b = http(method, "127.0.0.1", n.ports["admin"], "/apisix/admin" + path, body=data,
                       headers=h, timeout=15)
    try:
        return st, hdrs, json.loads(b) if b else None
    except ValueError:
        return st, hdrs, b.decode(errors="replace")


def put(path, body):
    st, h, b = adm("PUT", path, body)
    assert st in (200, 201), (st, b)
    return int(h["x-apigw-revision"])


def test_history_of_one_route_and_object_at_revision():
    r1 = put("/routes/h1", {"uri": "/v1", "upstream": UP})
    r2 = put("/routes/h1", {"uri": "/v2", "upstream": UP})
    put("/routes/other", {"uri": "/o", "upstream": UP})
    st, h, b = adm("DELETE", "/routes/h1")
    r3 = int(h["x-apigw-revision"])
    st, _, b = adm("GET", "/history?resource=routes&id=h1")
    assert st == 200, (st, b)
    got = [(c["revision"], c["op"]) for c in b["list"]]
    assert got == [(r3, "delete"), (r2, "update"), (r1, "create")], got
    assert all(c["key"] == "/apisix/routes/h1" for c in b["list"]), b
    assert isinstance(b["list"][1]["time"], (int, float)), b["list"][1]
    # the object as it was
    st, _, o = adm("GET", "/routes/h1?revision=%d" % r1)
    assert st == 200 and o["value"]["uri"] == "/v1" and o["modifiedIndex"] == r1, o
    st, _, o = adm("GET", "/routes/h1?revision=%d" % r2)
    assert st == 200 and o["value"]["uri"] == "/v2", o
    st, _, o = adm("GET", "/routes/h1?revision=%d" % r3)
    assert st == 404, (st, o)
    st, _, o = adm("GET", "/routes/h1?revision=%d" % (r3 + 100000))
    assert st == 400 and "future" in o["error_msg"], (st, o)
    st, _, o = adm("GET", "/routes/h1?revision=abc")
    assert st == 400, (st, o)
    # a resource's history holds both routes; limit keeps the newest
    st, _, b = adm("GET", "/history?resource=routes&limit=2")
    assert st == 200 and len(b["list"]) == 2 and b["list"][0]["revision"] == r3, b
    st, _, b = adm("GET", "/history?resource=nope")
    assert st == 404, (st, b)


def test_history_survives_restart():
    global node
    r1 = put("/routes/keep", {"uri": "/k1", "upstream": UP})
    put("/routes/keep", {"uri": "/k2", "upstream": UP})
    node.stop()
    node.start()
    st, _, b = adm("GET", "/history?resource=routes&id=keep")
    assert st == 200 and [c["op"] for c in b["list"]] == ["update", "create"], b
    st, _, o = adm("GET", "/routes/keep?revision=%d" % r1)
    assert st == 200 and o["value"]["uri"] == "/k1", o


def test_out_of_window_refused():
    n = Node("hw", extra_args=["--admin-key", KEY, "--history-revisions", "5",
                               "--audit-etcd-writes", "off"]).start()
    try:
        first = None
        for i in range(12):
            st, h, b = adm("PUT", "/routes/w", {"uri": "/w%d" % i, "upstream": UP}, n=n)
            assert st in (200, 201), (st, b)
            first = first or int(h["x-apigw-revision"])
        st, _, o = adm("GET", "/routes/w?revision=%d" % first, n=n)
        assert st == 400 and "outside the history window" in o["error_msg"], (st, o)
        st, _, b = adm("GET", "/history?resource=routes&id=w", n=n)
        assert st == 200 and 1 <= len(b["list"]) <= 6, b
        assert b["compact_revision"] > first, b
        st, _, b = adm("GET", "/history?resource=routes&since=%d" % first, n=n)
        assert st == 400 and "outside the history window" in b["error_msg"], (st, b)
        st, _, b = adm("POST", "/rollback", {"revision": first}, n=n)
        assert st == 400 and "outside the history window" in b["error_msg"], (st, b)
        assert adm("GET", "/routes/w", n=n)[2]["value"]["uri"] == "/w11"
        # --audit-etcd-writes off: an etcd write leaves no record
        assert etcdctl(n, "put", "/x", "1").returncode == 0
        st, _, b = adm("GET", "/audit", n=n)
        assert st == 200 and all(e["role"] == "admin" for e in b["list"]), b
    finally:
        n.stop()


def test_age_limit_compacts():
    """--history-hours (here APIGW_HISTORY_AGE_MS, a test knob): the leader
    compacts what is older than the limit, every member the same."""
    os.environ["APIGW_HISTORY_AGE_MS"] = "1500"
    os.environ["APIGW_HISTORY_SWEEP_MS"] = "200"
    try:
        n = Node("hage", extra_args=["--admin-key", KEY]).start()
    finally:
        del os.environ["APIGW_HISTORY_AGE_MS"]
        del os.environ["APIGW_HISTORY_SWEEP_MS"]
    try:
        _, h, _ = adm("PUT", "/routes/age", {"uri": "/a1", "upstream": UP}, n=n)
        old = int(h["x-apigw-revision"])
        adm("PUT", "/routes/age", {"uri": "/a2", "upstream": UP}, n=n)
        assert adm("GET", "/routes/age?revision=%d" % old, n=n)[0] == 200
        wait_for(lambda: adm("GET", "/routes/age?revision=%d" % old, n=n)[0] == 400,
                 timeout=15, what="the old revision to age out")
        st, _, b = adm("GET", "/routes/age?revision=%d" % old, n=n)
        assert "outside the history window" in b["error_msg"], b
        assert adm("GET", "/routes/age", n=n)[2]["value"]["uri"] == "/a2"
    finally:
        n.stop()


def test_rollback_one_route_and_everything():
    put("/upstreams/ru", UP)
    r0 = put("/routes/rb1", {"uri": "/a", "upstream_id": "ru"})
    put("/routes/rb2", {"uri": "/b", "upstream_id": "ru"})
    base = put("/routes/rb1", {"uri": "/a2", "upstream_id": "ru"})
    put("/routes/rb1", {"uri": "/a3", "upstream_id": "ru"})
    put("/routes/rb2", {"uri": "/b2", "upstream_id": "ru"})
    put("/routes/rb3", {"uri": "/c", "upstream_id": "ru"})
    # one route back to base: rb2 and rb3 untouched
    st, h, b = adm("POST", "/rollback", {"revision": base, "resources": ["routes/rb1"]})
    assert st == 200, (st, b)
    assert b["changes"] == [{"key": "/apisix/routes/rb1", "op": "update"}], b
    assert int(h["x-apigw-revision"]) == b["revision"], (h, b)
    assert adm("GET", "/routes/rb1")[2]["value"]["uri"] == "/a2"
    assert adm("GET", "/routes/rb2")[2]["value"]["uri"] == "/b2"
    # everything back to r0: rb2 did not exist then, rb3 neither, rb1 was /a
    st, _, b = adm("POST", "/rollback?dry_run=true", {"revision": r0})
    assert st == 200 and b["dry_run"] is True, (st, b)
    before = adm("GET", "/routes")[2]
    ops = sorted((c["key"], c["op"]) for c in b["changes"])
    assert ops == [("/apisix/routes/rb1", "update"), ("/apisix/routes/rb2", "delete"),
                   ("/apisix/routes/rb3", "delete")], ops
    assert adm("GET", "/routes")[2] == before  # the dry run changed nothing
    st, _, b = adm("POST", "/rollback", {"revision": r0})
    assert st == 200, (st, b)
    assert adm("GET", "/routes/rb1")[2]["value"]["uri"] == "/a"
    assert adm("GET", "/routes/rb2")[0] == 404
    assert adm("GET", "/routes/rb3")[0] == 404
    # a partial rollback may not break a reference: the upstream goes, the
    # route using it stays
    put("/upstreams/late", UP)
    r_before_late = put("/routes/uses_late", {"uri": "/l", "upstream_id": "late"}) - 2
    st, _, b = adm("POST", "/rollback",
                   {"revision": r_before_late, "resources": ["upstreams/late"]})
    assert st == 400 and "referencing /apisix/upstreams/late" in b["error_msg"], (st, b)


def test_rollback_conflict_and_force():
    r1 = put("/routes/cf", {"uri": "/x1", "upstream": UP})
    seen = put("/routes/cf", {"uri": "/x2", "upstream": UP})
    # someone else changes it after the operator looked at revision `seen`
    changed = put("/routes/cf", {"uri": "/x3", "upstream": UP})
    body = {"revision": r1, "resources": ["routes/cf"], "from_revision": seen}
    st, _, b = adm("POST", "/rollback", body)
    assert st == 409, (st, b)
    assert b["changed"] == [{"key": "/apisix/routes/cf", "revision": changed}], b
    assert adm("GET", "/routes/cf")[2]["value"]["uri"] == "/x3"
    st, _, b = adm("POST", "/rollback?force=true", body)
    assert st == 200, (st, b)
    assert adm("GET", "/routes/cf")[2]["value"]["uri"] == "/x1"
    # bad requests
    assert adm("POST", "/rollback", {"revision": 0})[0] == 400
    # far past any int64: refused, not cast (undefined behaviour before)
    assert adm("POST", "/rollback", {"revision": 1e300})[0] == 400
    assert adm("POST", "/rollback", {"revision": r1, "from_revision": 1e300})[0] == 400
    assert adm("POST", "/rollback", {"revision": r1, "resources": ["nope"]})[0] == 400
    assert adm("POST", "/rollback", {"revision": r1, "resources": []})[0] == 400
    st, _, b = adm("POST", "/rollback", {"revision": changed + 100000})
    assert st == 400 and "future" in b["error_msg"], (st, b)


def test_diff_and_dry_run():
    r1 = put("/routes/df", {"uri": "/d1", "upstream": UP, "name": "x"})
    st, h, b = adm("PATCH", "/routes/df?dry_run=true", {"uri": "/d2", "name": None})
    assert st == 200 and b["dry_run"] is True, (st, b)
    assert int(h["x-apigw-revision"]) == b["revision"]
    assert b["diff"]["op"] == "update", b
    assert sorted((c["path"], c["op"]) for c in b["diff"]["changes"]) == \
        [("/name", "remove"), ("/uri", "replace")], b
    assert b["routes_affected"] == ["df"], b
    assert adm("GET", "/routes/df")[2]["modifiedIndex"] == r1  # nothing committed
    st, _, b = adm("GET", "/history?resource=routes&id=df")
    assert len(b["list"]) == 1, b
    # an upstream's dry run names the routes using it
    put("/upstreams/dfu", UP)
    put("/routes/df2", {"uri": "/d3", "upstream_id": "dfu"})
    st, _, b = adm("PUT", "/upstreams/dfu?dry_run=true",
                   {"type": "roundrobin", "nodes": {"127.0.0.1:1981": 1}})
    assert st == 200 and b["routes_affected"] == ["df2"], (st, b)
    st, _, b = adm("DELETE", "/routes/df?dry_run=true")
    assert st == 200 and b["diff"]["op"] == "delete", (st, b)
    assert adm("GET", "/routes/df")[0] == 200
    st, _, b = adm("PUT", "/routes/df?dry_run=true", {"uri": 5})
    assert st == 400, (st, b)  # validated like a real write
    # the Admin API diff between two revisions
    r2 = put("/routes/df", {"uri": "/d9", "upstream": UP, "name": "x"})
    st, _, b = adm("GET", "/diff?from=%d&to=%d&resource=routes&id=df" % (r1, r2))
    assert st == 200 and b["total"] == 1, (st, b)
    assert b["list"][0]["changes"] == [{"path": "/uri", "op": "replace", "from": "/d1",
                                        "to": "/d9"}], b
    # the schemas a dry run checks with, as APISIX shows them
    st, _, sch = adm("GET", "/schema/routes")
    assert st == 200 and "uri" in sch["properties"], (st, sch)
    assert adm("GET", "/schema/route")[2] == sch
    assert adm("GET", "/schema/nope")[0] == 404
    st, _, b = adm("GET", "/diff?from=%d" % r1)
    assert st == 200 and any(x["key"] == "/apisix/routes/df" for x in b["list"]), b


def test_dry_run_compiles():
    """A dry run compiles the proposed config with the proxy's compiler:
    routes_affected are the routes whose compiled form changes, and a change
    the proxy would not compile answers its error, as the real write does."""
    put("/upstreams/cu1", UP)
    put("/upstreams/cu2", {"type": "roundrobin", "nodes": {"127.0.0.1:1982": 1}})
    put("/services/cs1", {"upstream_id": "cu1"})
    put("/routes/c1", {"uri": "/c1", "upstream_id": "cu1"})
    put("/routes/c2", {"uri": "/c2", "service_id": "cs1"})
    put("/routes/c3", {"uri": "/c3", "upstream_id": "cu2"})
    put("/routes/c4", {"uri": "/c4", "upstream": UP})
    split = {"rules": [{"weighted_upstreams": [{"upstream_id": "cu1", "weight": 1},
                                               {"weight": 1}]}]}
    put("/routes/c5", {"uri": "/c5", "upstream_id": "cu2",
                       "plugins": {"traffic-split": split}})
    rev = adm("GET", "/routes/c1")[2]["modifiedIndex"]
    # an upstream's nodes: exactly the routes using it (directly, through a
    # service, through a traffic-split)
    st, h, b = adm("PUT", "/upstreams/cu1?dry_run=true",
                   {"type": "roundrobin", "nodes": {"127.0.0.1:1983": 1}})
    assert st == 200, (st, b)
    assert sorted(b["routes_affected"]) == ["c1", "c2", "c5"], b
    # a description only: no route's compiled form changes
    st, _, b = adm("PUT", "/upstreams/cu1?dry_run=true", dict(UP, desc="just words"))
    assert st == 200 and b["routes_affected"] == [], (st, b)
    assert b["diff"]["changes"] == [{"path": "/desc", "op": "add", "to": "just words"}], b
    # a route's own change: that route; a name only: none
    st, _, b = adm("PATCH", "/routes/c3?dry_run=true", {"methods": ["GET"]})
    assert st == 200 and b["routes_affected"] == ["c3"], (st, b)
    st, _, b = adm("PATCH", "/routes/c4?dry_run=true", {"desc": "x"})
    assert st == 200 and b["routes_affected"] == [], (st, b)
    # a service's upstream swapped: its route
    st, _, b = adm("PUT", "/services/cs1?dry_run=true", {"upstream_id": "cu2"})
    assert st == 200 and b["routes_affected"] == ["c2"], (st, b)
    # a change the proxy would not compile: the traffic-split of c5 names
    # an upstream that a delete would remove (no other reference holds it)
    put("/upstreams/tsu", UP)
    split2 = {"rules": [{"weighted_upstreams": [{"upstream_id": "tsu", "weight": 1}]}]}
    before = put("/routes/c5", {"uri": "/c5", "upstream_id": "cu2",
                                "plugins": {"traffic-split": split2}})
    st, h, b = adm("DELETE", "/upstreams/tsu?dry_run=true")
    assert st == 400, (st, b)
    assert b["error_msg"] == ("the proxy would not compile the change: route c5: "
                              "traffic-split: upstream_id tsu not found"), b
    st, h, b2 = adm("DELETE", "/upstreams/tsu")
    assert st == 400 and b2 == b, (st, b2)  # the real write refuses it the same way
    assert adm("GET", "/upstreams/tsu")[0] == 200
    st, h, b = adm("PATCH", "/routes/c4?dry_run=true", {"desc": "y"})
    assert b["revision"] == before == int(h["x-apigw-revision"]), (before, b)  # nothing written
    # a write naming a missing upstream in a traffic-split: the dry run and
    # the write answer the same error
    bad = {"uri": "/c6", "upstream": UP, "plugins": {"traffic-split": {
        "rules": [{"weighted_upstreams": [{"upstream_id": "nope", "weight": 1}]}]}}}
    st, _, b = adm("PUT", "/routes/c6?dry_run=true", bad)
    st2, _, b2 = adm("PUT", "/routes/c6", bad)
    assert st == st2 == 400 and b == b2 and "[nope]" in b["error_msg"], (st, b, st2, b2)
    assert adm("GET", "/routes/c6")[0] == 404
    assert adm("GET", "/routes/c1")[2]["modifiedIndex"] == rev
    # ?force=true deletes it anyway (the route is then skipped by the proxy)
    st, _, b = adm("DELETE", "/upstreams/tsu?force=true")
    assert st == 200, (st, b)
    # a rollback's dry run compiles too: putting cu1's nodes back changes c1, c2
    r_old = adm("GET", "/upstreams/cu1")[2]["modifiedIndex"]
    r_new = put("/upstreams/cu1", {"type": "roundrobin", "nodes": {"127.0.0.1:1984": 1}})
    st, h, b = adm("POST", "/rollback?dry_run=true",
                   {"revision": r_old, "resources": ["upstreams/cu1"]})
    assert st == 200 and b["dry_run"] is True, (st, b)
    assert sorted(b["routes_affected"]) == ["c1", "c2"], b
    assert [c["key"] for c in b["changes"]] == ["/apisix/upstreams/cu1"], b
    assert b["revision"] == int(h["x-apigw-revision"]) >= r_new, (b, h)


def test_cli_config_diff_and_rollback():
    r1 = put("/routes/cli", {"uri": "/c1", "upstream": UP})
    r2 = put("/routes/cli", {"uri": "/c2", "upstream": UP})
    common = ["--admin-listen", node.addr("admin"), "--admin-key", KEY]
    out = run_cli("config", "diff", r1, r2, "--resources", "routes/cli", *common)
    assert out.returncode == 0, out
    d = json.loads(out.stdout)
    assert d["total"] == 1 and d["list"][0]["changes"][0]["to"] == "/c2", d
    out = run_cli("config", "rollback", r1, "--resources", "routes/cli", "--dry-run", *common)
    assert out.returncode == 0 and json.loads(out.stdout)["dry_run"] is True, out
    assert adm("GET", "/routes/cli")[2]["value"]["uri"] == "/c2"
    # the key from <data-dir>/admin.key when --admin-key is not given
    d = tempdir()
    with open(os.path.join(d, "admin.key"), "w") as f:
        f.write(KEY + "\n")
    os.chmod(os.path.join(d, "admin.key"), 0o600)
    out = run_cli("config", "rollback", r1, "--resources", "routes/cli",
                  "--admin-listen", node.addr("admin"), "--data-dir", d)
    assert out.returncode == 0, out
    assert adm("GET", "/routes/cli")[2]["value"]["uri"] == "/c1"
    out = run_cli("config", "rollback", 1, "--resources", "nope", *common)
    assert out.returncode == 1 and "unknown resource" in out.stderr, out


def test_audit_log():
    first = put("/routes/au", {"uri": "/au", "upstream": UP})
    st, h, _ = adm("PUT", "/consumers", {"username": "jack",
                                         "plugins": {"key-auth": {"key": "audit-secret-77"}}})
    assert st in (200, 201), st
    consumer_rev = int(h["x-apigw-revision"])
    st, h, _ = adm("DELETE", "/routes/au")
    del_rev = int(h["x-apigw-revision"])
    st, _, b = adm("POST", "/rollback", {"revision": first, "resources": ["routes/au"]})
    assert st == 200, (st, b)
    rb_rev = b["revision"]
    st, _, b = adm("GET", "/audit?since=%d" % first)
    assert st == 200, (st, b)
    got = [(e["revision"], e["op"], e.get("key")) for e in b["list"]]
    assert got == [(first, "PUT", "/apisix/routes/au"),
                   (consumer_rev, "PUT", "/apisix/consumers/jack"),
                   (del_rev, "DELETE", "/apisix/routes/au"),
                   (rb_rev, "rollback", None)], got
    e = b["list"][0]
    assert e["role"] == "admin" and e["node"] == "h1" and e["resource"] == "routes", e
    assert e["client"].startswith("127.0.0.1:") and isinstance(e["time"], (int, float)), e
    assert b["list"][3]["to"] == first and b["list"][3]["resources"] == ["routes/au"], b
    assert "audit-secret-77" not in json.dumps(b)
    st, _, b = adm("GET", "/audit?since=%d&limit=1" % first)
    assert st == 200 and len(b["list"]) == 1 and b["more"] is True, b
    # a write through the etcd API is recorded too (who: how it was let in)
    out = etcdctl(node, "put", "/apisix/routes/frometcd",
                  json.dumps({"uri": "/e", "upstream": UP}))
    assert out.returncode == 0, out
    rev = adm("GET", "/routes/frometcd")[2]["modifiedIndex"]
    wait_for(lambda: any(e.get("key") == "/apisix/routes/frometcd"
                         for e in adm("GET", "/audit?since=%d" % rev)[2]["list"]),
             timeout=10, what="the etcd write's audit record")
    e = [e for e in adm("GET", "/audit?since=%d" % rev)[2]["list"]
         if e.get("key") == "/apisix/routes/frometcd"][0]
    assert e["op"] == "Put" and e["role"] == "etcd client" and e["auth"] == "local", e
    assert e["revision"] == rev and e["resource"] == "routes" and e["node"] == "h1", e
    # the etcd API's revisions stay etcd's: the record took none
    out = etcdctl(node, "put", "/other", "x", "-w", "json")
    assert json.loads(out.stdout)["header"]["revision"] == rev + 1, out.stdout
    # the audit records are outside /apisix/: no APISIX list or history shows them
    st, _, b = adm("GET", "/history?since=%d" % first)
    assert all(c["key"].startswith("/apisix/") for c in b["list"]), b


def test_audit_names_the_etcd_user():
    n = Node("ha", extra_args=["--admin-key", KEY, "--audit-etcd-writes", "on"]).start()
    try:
        def ctl(*a, user=None):
            r = etcdctl(n, *((["--user", user, "--command-timeout=30s"] if user else []) +
                             list(a)), timeout=40)
            assert r.returncode == 0, (r.stdout, r.stderr)
        for cmd in (["user", "add", "root:rootpw"], ["user", "grant-role", "root", "root"],
                    ["role", "add", "rw"],
                    ["role", "grant-permission", "rw", "readwrite", "/apisix/", "--prefix"],
                    ["user", "add", "bob:bpw"], ["user", "grant-role", "bob", "rw"],
                    ["auth", "enable"]):
            ctl(*cmd)
        ctl("put", "/apisix/routes/bob", json.dumps({"uri": "/bob", "upstream": UP}),
            user="bob:bpw")
        rev = adm("GET", "/routes/bob", n=n)[2]["modifiedIndex"]
        wait_for(lambda: any(e.get("user") == "bob"
                             for e in adm("GET", "/audit?since=%d" % rev, n=n)[2]["list"]),
                 timeout=10, what="bob's record")
        e = [e for e in adm("GET", "/audit?since=%d" % rev, n=n)[2]["list"]
             if e.get("user") == "bob"][0]
        assert e["role"] == "etcd user" and e["op"] == "Put" and e["revision"] == rev, e
        assert e["key"] == "/apisix/routes/bob" and "bpw" not in json.dumps(e), e
    finally:
        n.stop()


def main():
    global node
    tap = Tap()
    node = Node("h1", extra_args=["--admin-key", KEY, "--audit-etcd-writes", "on"]).start()
    try:
        for fn in (test_history_of_one_route_and_object_at_revision,
                   test_history_survives_restart, test_out_of_window_refused,
                   test_age_limit_compacts,
                   test_rollback_one_route_and_everything, test_rollback_conflict_and_force,
                   test_diff_and_dry_run, test_dry_run_compiles,
                   test_cli_config_diff_and_rollback,
                   test_audit_log, test_audit_names_the_etcd_user):
            tap.run(fn)
    finally:
        node.stop()
    tap.done()


if __name__ == "__main__":
    main()
