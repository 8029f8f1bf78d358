"""A node's data plane follows its store: routes written through the etcd API
(the real etcdctl) are served by the proxy, bad objects are refused by the
etcd API (or, with a dangling reference, skipped by the proxy), a
restarted node serves its committed config at once, and SIGTERM drains."""
import json
import re
import signal
import time

from harness import EchoUpstream, Node, Tap, etcdctl, http, wait_for


def route(uri, up, **extra):
    r = {"uri": uri, "upstream": {"type": "roundrobin", "nodes": {up.addr: 1}}}
    r.update(extra)
    return json.dumps(r)


def proxy_get(node, path, headers=None):
    return http("GET", "127.0.0.1", node.ports["proxy"], path, headers=headers)


def put(node, key, value):
    r = etcdctl(node, "put", key, value)
    assert r.returncode == 0, r.stderr


def served_by(node, path, up):
    st, _, body = proxy_get(node, path)
    return st == 200 and json.loads(body)["port"] == up.port


def test_route_put_served_then_deleted(node, up):
    st, _, body = proxy_get(node, "/hello")
    assert st == 404 and b"404 Route Not Found" in body, (st, body)
    put(node, "/apisix/routes/1", route("/hello", up))
    wait_for(lambda: served_by(node, "/hello", up), 5, what="route served")
    st, _, body = proxy_get(node, "/hello")
    seen = json.loads(body)
    assert seen["path"] == "/hello"
    assert seen["headers"]["x-forwarded-for"] == "127.0.0.1"
    r = etcdctl(node, "del", "/apisix/routes/1")
    assert r.returncode == 0 and r.stdout.strip() == "1", r.stdout
    wait_for(lambda: proxy_get(node, "/hello")[0] == 404, 5, what="route gone")


def test_bad_object_refused_or_skipped_rest_served(node, up):
    # what the Admin API would refuse is refused by the etcd API too (not
    # stored, so never skipped by the proxy): bad JSON, a schema error
    for bad, why in (("{not json", "invalid JSON"),
                     (route("/b", up)[:-1] + ', "uri": "/c"}', 'duplicate key "uri"'),
                     (json.dumps({"uri": "/b", "upstream": {"nodes": {"x!bad:1": 1}}}),
                      "/apisix/routes/bad is not a valid route")):
        r = etcdctl(node, "put", "/apisix/routes/bad", bad)
        assert r.returncode != 0 and why in r.stderr, (bad, r.stdout, r.stderr)
        assert etcdctl(node, "get", "/apisix/routes/bad").stdout == ""
    # a dangling reference passes the schema: stored, and skipped by the proxy
    put(node, "/apisix/routes/missing-up", json.dumps({"uri": "/m", "upstream_id": "nope"}))
    put(node, "/apisix/routes/2", route("/good", up))
    wait_for(lambda: served_by(node, "/good", up), 5, what="good route served")
    assert proxy_get(node, "/m")[0] in (404, 502, 503)
    assert node.running
    etcdctl(node, "del", "/apisix/routes/", "--prefix")


def test_upstream_object_and_update(node, up):
    up2 = EchoUpstream()
    try:
        put(node, "/apisix/upstreams/u1", json.dumps(
            {"type": "roundrobin", "nodes": {up.addr: 1}}))
        put(node, "/apisix/routes/3", json.dumps({"uri": "/u/*", "upstream_id": "u1"}))
        wait_for(lambda: served_by(node, "/u/x", up), 5, what="via upstream_id")
        put(node, "/apisix/upstreams/u1", json.dumps(
            {"type": "roundrobin", "nodes": {up2.addr: 1}}))
        wait_for(lambda: served_by(node, "/u/x", up2), 5, what="upstream change applied")
    finally:
        up2.stop()
        etcdctl(node, "del", "/apisix/", "--prefix")


def test_restart_serves_committed_config_at_once(node, up):
    put(node, "/apisix/routes/4", route("/persist", up))
    wait_for(lambda: served_by(node, "/persist", up), 5, what="route served")
    assert node.stop() == 0
    node.start()  # returns once /status/ready is 200
    assert served_by(node, "/persist", up), "first request after restart"
    etcdctl(node, "del", "/apisix/", "--prefix")


def test_sigterm_drains(up):
    n = Node("drain", extra_args=["--drain-delay", "1500ms"]).start()
    put(n, "/apisix/routes/1", route("/d", up))
    wait_for(lambda: served_by(n, "/d", up), 5, what="route served")
    n.signal(signal.SIGTERM)
    t0 = time.time()
    wait_for(lambda: n.get("status", "/status/ready")[0] == 503, 2, what="unready")
    served = 0
    while time.time() - t0 < 1.0:
        assert served_by(n, "/d", up), "proxy must keep serving during the drain delay"
        served += 1
    assert served > 0
    assert n.wait(30) == 0, n.log()
    assert time.time() - t0 >= 1.4, "exited before the drain delay"


def scrape(node):
    """Parse the Prometheus text format strictly: every sample line must
    belong to a family announced by HELP and TYPE lines."""
    st, hdrs, body = node.get("metrics", "/apisix/prometheus/metrics")
    assert st == 200 and hdrs["content-type"].startswith("text/plain"), (st, hdrs)
    types, samples = {}, {}
    for line in body.decode().splitlines():
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ", 3)
            assert typ in ("counter", "gauge", "histogram"), line
            types[name] = typ
        elif line.startswith("# HELP "):
            continue
        else:
            m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$', line)
            assert m, "malformed sample line: %r" % line
            fam = re.sub(r"_(bucket|sum|count)$", "", m.group(1))
            assert m.group(1) in types or types.get(fam) == "histogram", \
                "sample without TYPE: %r" % line
            samples[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return types, samples


def test_metrics(node, up):
    types, s1 = scrape(node)
    for name in ("apisix_node_info", "apisix_etcd_reachable", "apigw_raft_term",
                 "apigw_raft_commit_index", "apigw_store_revision", "apigw_store_db_bytes",
                 "apigw_config_revision", "apigw_config_compiles_total"):
        assert name in types, name
    assert types["apigw_config_compiles_total"] == "counter"
    assert s1["apisix_etcd_reachable"] == 1
    assert s1['apigw_raft_state{state="leader"}'] == 1
    put(node, "/apisix/routes/m", route("/metrics-test", up))
    wait_for(lambda: served_by(node, "/metrics-test", up), 5, what="route served")
    _, s2 = scrape(node)
    assert s2["apigw_config_compiles_total"] > s1["apigw_config_compiles_total"]
    assert s2["apigw_store_revision"] > s1["apigw_store_revision"]
    assert s2["apigw_config_revision"] == s2["apigw_store_revision"]
    assert node.get("metrics", "/nope")[0] == 404
    etcdctl(node, "del", "/apisix/", "--prefix")


def test_quota_reached_writes_fail_proxy_serves(up):
    n = Node("quota", extra_args=["--quota-backend-bytes", "1MiB"]).start()
    try:
        put(n, "/apisix/routes/1", route("/q", up))
        wait_for(lambda: served_by(n, "/q", up), 5, what="route served")
        blob = "x" * 100000
        err = None
        for i in range(40):
            r = etcdctl(n, "put", "/fill/%d" % i, blob)
            if r.returncode != 0:
                err = r.stderr
                break
        assert err is not None, "a 1 MiB quota never filled"
        assert "mvcc: database space exceeded" in err, err
        assert served_by(n, "/q", up), "proxy must keep serving when the store is full"
        r = etcdctl(n, "get", "/apisix/routes/1", "--print-value-only")
        assert r.returncode == 0 and '"/q"' in r.stdout, r
    finally:
        n.stop()


tap = Tap()
upstream = EchoUpstream()
node = Node("p1").start()
tap.run(test_route_put_served_then_deleted, node, upstream)
tap.run(test_bad_object_refused_or_skipped_rest_served, node, upstream)
tap.run(test_upstream_object_and_update, node, upstream)
tap.run(test_metrics, node, upstream)
tap.run(test_restart_serves_committed_config_at_once, node, upstream)
tap.run(test_sigterm_drains, upstream)
tap.run(test_quota_reached_writes_fail_proxy_serves, upstream)
tap.done()
