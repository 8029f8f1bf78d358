#!/usr/bin/env python3
"""A 10,000-route config edited route by route ([m2-control-plane]).

One node; 10,000 routes are loaded through the etcd JSON gateway in
transactions of 100 puts (etcd.s limit is 128) (half use a named upstream, half an inline one),
then about 50 single changes go through the Admin API, and each is checked
as served by the proxy before the next: a route's uri changes, a route moves
to another upstream, a route is deleted and re-created, the named upstream
that 5,000 routes use is repointed (all of them follow), a route moves into
a service with hosts and out again, a global rule is added and removed. The
metrics show that a one-route change compiled one object (the incremental
compiler), not 10,000. Behaviour only: no timing is asserted."""
import base64
import http.client
import json

from harness import EchoUpstream, Node, Tap, wait_for

tap = Tap()
KEY = "edits-admin-key-0123456789"
N = 10000
C = {}


def b64(s):
    return base64.b64encode(s.encode()).decode()


def admin(method, path, body=None):
    n = C["node"]
    st, _, data = n.request(method, "admin", path,
                            body=json.dumps(body).encode() if body is not None else None,
                            headers={"X-API-KEY": KEY, "Content-Type": "application/json"})
    assert st in (200, 201), (method, path, st, data)


def get(path, host=None):
    """(status, upstream port or None) of GET @path through the proxy."""
    c = C.get("px")
    if c is None:
        c = C["px"] = http.client.HTTPConnection("127.0.0.1", C["node"].ports["proxy"],
                                                 timeout=10)
    try:
        c.request("GET", path, headers={"Host": host} if host else {})
        r = c.getresponse()
        data = r.read()
    except (http.client.HTTPException, OSError):
        c.close()
        C.pop("px", None)
        return (0, None)
    if r.status != 200:
        return (r.status, None)
    return (200, json.loads(data))


def served(path, port, host=None, what=None):
    """Wait until @path answers 200 from the upstream on @port."""
    def ok():
        st, body = get(path, host)
        return st == 200 and body["port"] == port
    wait_for(ok, timeout=20, what=what or "%s served by %d" % (path, port))


def gone(path, host=None):
    wait_for(lambda: get(path, host)[0] == 404, timeout=20, what="%s answers 404" % path)


def metric(name):
    st, _, data = C["node"].get("metrics", "/apisix/prometheus/metrics")
    assert st == 200
    for line in data.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError("no metric %s" % name)


def route(i, uri=None, upstream=None):
    body = {"uri": uri or "/r/%d" % i}
    if upstream is not None:
        body.update(upstream)
    elif i % 2:
        body["upstream_id"] = "ua"
    else:
        body["upstream"] = {"nodes": {C["a"].addr: 1}}
    return body


def test_setup():
    C["a"], C["b"] = EchoUpstream(), EchoUpstream()
    C["node"] = Node(extra_args=["--admin-key", KEY], log_level="warn").start()
    admin("PUT", "/apisix/admin/upstreams/ua", {"nodes": {C["a"].addr: 1}})
    admin("PUT", "/apisix/admin/upstreams/ub", {"nodes": {C["b"].addr: 1}})


def test_load_10000_routes():
    e = http.client.HTTPConnection("127.0.0.1", C["node"].ports["etcd"], timeout=60)
    for base in range(0, N, 100):
        ops = [{"request_put": {"key": b64("/apisix/routes/%d" % i),
                                "value": b64(json.dumps(route(i)))}}
               for i in range(base, base + 100)]
        e.request("POST", "/v3/kv/txn", body=json.dumps({"success": ops}))
        r = e.getresponse()
        r.read()
        assert r.status == 200, r.status
    e.close()
    served("/r/%d" % (N - 1), C["a"].port)
    served("/r/%d" % (N - 2), C["a"].port)


def test_edit_routes_one_by_one():
    a, b = C["a"].port, C["b"].port
    for k in range(20):
        i = 37 + k * 487
        # a new uri: the old one is gone, the new one served
        admin("PUT", "/apisix/admin/routes/%d" % i, route(i, uri="/e/%d" % i))
        served("/e/%d" % i, a)
        gone("/r/%d" % i)
        if k == 0:
            # one route changed: one object compiled, not 10,000
            assert metric("apigw_config_last_compile_objects") <= 2
        # to the other upstream
        admin("PUT", "/apisix/admin/routes/%d" % i,
              route(i, uri="/e/%d" % i, upstream={"upstream_id": "ub"}))
        served("/e/%d" % i, b)
    for k in range(5):
        i = 1000 + k
        admin("DELETE", "/apisix/admin/routes/%d" % i)
        gone("/r/%d" % i)
        admin("PUT", "/apisix/admin/routes/%d" % i, route(i))
        served("/r/%d" % i, a)
    # neighbours untouched
    served("/r/36", a)
    served("/r/%d" % (N - 1), a)


def test_upstream_edit_reaches_its_routes():
    a, b = C["a"].port, C["b"].port
    admin("PUT", "/apisix/admin/upstreams/ua", {"nodes": {C["b"].addr: 1}})
    for i in (1, 3, 4999, N - 1):
        served("/r/%d" % i, b, what="route %d follows its upstream" % i)
    served("/r/2", a)  # inline upstream: unchanged
    admin("PUT", "/apisix/admin/upstreams/ua", {"nodes": {C["a"].addr: 1}})
    served("/r/%d" % (N - 1), a)


def test_route_moves_into_a_service_and_out():
    a, b = C["a"].port, C["b"].port
    admin("PUT", "/apisix/admin/services/s1", {"hosts": ["svc.test"], "upstream_id": "ub"})
    admin("PUT", "/apisix/admin/routes/500", {"uri": "/r/500", "service_id": "s1"})
    served("/r/500", b, host="svc.test")
    gone("/r/500")
    admin("PUT", "/apisix/admin/services/s1", {"hosts": ["other.test"], "upstream_id": "ua"})
    served("/r/500", a, host="other.test")
    gone("/r/500", host="svc.test")
    admin("PUT", "/apisix/admin/routes/500", route(500))
    served("/r/500", a)


def test_global_rule():
    admin("PUT", "/apisix/admin/global_rules/g1",
          {"plugins": {"proxy-rewrite": {"headers": {"x-global": "on"}}}})
    wait_for(lambda: get("/r/8")[0] == 200 and
             get("/r/8")[1]["headers"].get("x-global") == "on", timeout=20,
             what="global rule applied")
    admin("DELETE", "/apisix/admin/global_rules/g1")
    wait_for(lambda: get("/r/8")[0] == 200 and
             "x-global" not in get("/r/8")[1]["headers"], timeout=20,
             what="global rule removed")


def test_stop():
    C.pop("px", None)
    assert C["node"].stop() == 0


tap.run(test_setup)
tap.run(test_load_10000_routes)
tap.run(test_edit_routes_one_by_one)
tap.run(test_upstream_edit_reaches_its_routes)
tap.run(test_route_moves_into_a_service_and_out)
tap.run(test_global_rule)
tap.run(test_stop)
tap.done()
