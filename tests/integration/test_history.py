"""Config history through the Admin API on one real apigw node:
GET /apisix/admin/history lists every change of an object (or a resource)
newest first, GET /apisix/admin/routes/<id>?revision=N returns the object
as it was, and both survive a restart; a revision compacted away by
--history-revisions is refused with a clear error.
"""
import json

from harness import Node, Tap, http

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
    n = Node("hw", extra_args=["--admin-key", KEY, "--history-revisions", "5"]).start()
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
    finally:
        n.stop()


def main():
    global node
    tap = Tap()
    node = Node("h1", extra_args=["--admin-key", KEY]).start()
    try:
        for fn in (test_history_of_one_route_and_object_at_revision,
                   test_history_survives_restart, test_out_of_window_refused):
            tap.run(fn)
    finally:
        node.stop()
    tap.done()


if __name__ == "__main__":
    main()
