"""Upstream health checks end to end: a node's proxy stops sending traffic
to a backend the active or passive checks find unhealthy and takes it back
when it heals; with every node unhealthy, traffic goes to all of them;
priority groups fail over in order; the control API shows it all in
APISIX's shapes. Backends are small HTTP servers this test starts, stops
and makes answer 500. Assertions count requests, never time."""
import contextlib
import http.server as hserver
import json
import threading
import time

from harness import Node, Tap, etcdctl, http, wait_for


class Backend:
    """An HTTP backend on 127.0.0.1: GET /health answers `health_status`,
    anything else `status` with {"port"}. Counts both. stop()/start() kill
    and revive it on the same port."""

    def __init__(self, tls=None):
        from harness import free_port
        self.port = free_port()
        self.tls = tls  # (cert file, key file) for HTTPS
        self.status = 200
        self.health_status = 200
        self.delay = 0.0  # seconds before answering a non-health request
        self.hits = 0
        self.health_hits = 0
        self.server = None
        self.start()

    def start(self):
        outer = self

        class H(hserver.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_GET(self):
                if self.path == "/health":
                    outer.health_hits += 1
                    st = outer.health_status
                else:
                    outer.hits += 1
                    st = outer.status
                    if outer.delay:
                        time.sleep(outer.delay)
                out = json.dumps({"port": outer.port}).encode()
                self.send_response(st)
                # no keep-alive: a stopped backend must not answer on a
                # pooled connection
                self.send_header("Connection", "close")
                self.close_connection = True
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *a):
                pass

        hserver.ThreadingHTTPServer.allow_reuse_address = True
        self.server = hserver.ThreadingHTTPServer(("127.0.0.1", self.port), H)
        self.server.daemon_threads = True
        if self.tls is not None:
            import ssl
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*self.tls)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    @property
    def addr(self):
        return "127.0.0.1:%d" % self.port


@contextlib.contextmanager
def backends(node, n, **kw):
    """@n Backends, stopped afterwards with every /apisix/ key deleted."""
    bs = [Backend(**kw) for _ in range(n)]
    try:
        yield bs
    finally:
        for b in bs:
            b.stop()
        etcdctl(node, "del", "/apisix/", "--prefix")


def put(node, key, value):
    r = etcdctl(node, "put", key, json.dumps(value))
    assert r.returncode == 0, r.stderr


def get(node, path):
    return http("GET", "127.0.0.1", node.ports["proxy"], path)


def control(node, path):
    st, _, body = node.get("control", path)
    return st, (json.loads(body) if body else None)


def node_status(node, upstream_key, backend):
    st, o = control(node, "/v1/healthcheck/" + upstream_key)
    if st != 200:
        return None
    for n in o["nodes"]:
        if n["port"] == backend.port:
            return n["status"]
    return None


def wait_status(node, upstream_key, backend, want, timeout, what):
    """Wait until @backend's status in @upstream_key is @want; on timeout the
    error shows the last status and the control API's whole answer."""
    deadline = time.time() + timeout
    got = None
    while time.time() < deadline:
        got = node_status(node, upstream_key, backend)
        if got == want:
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for %s: %s is %r, not %r; %r" % (
        what, backend.addr, got, want, control(node, "/v1/healthcheck/" + upstream_key)))


def probe_counts(node):
    """(started, finished) active probes of the node's checker."""
    st, _, b = node.get("metrics", "/apisix/prometheus/metrics")
    assert st == 200, st
    v = {}
    for line in b.decode().splitlines():
        for k in ("apigw_health_probes_total", "apigw_health_probes_finished_total"):
            if line.startswith(k + " "):
                v[k] = int(float(line.split()[1]))
    return v["apigw_health_probes_total"], v["apigw_health_probes_finished_total"]


def first_probes_done(node, before, n):
    """Wait until @n more probes than @before (started) were started and
    every started probe finished: an upstream's first active round is over,
    so a late probe success cannot reset the passive counters a test counts
    (a node starts healthy, before its first probe answered)."""
    def done():
        started, finished = probe_counts(node)
        return started >= before + n and finished == started
    wait_for(done, 10, what="first probes of the upstream")


def counted(node, key, backend, counter, n):
    """Wait until the checker has counted @n observations of @counter for
    @backend, or took it out: passive reports reach it asynchronously, and
    the requests a test counts must not race them."""
    def done():
        st, o = control(node, "/v1/healthcheck/" + key)
        x = [x for x in o["nodes"] if x["port"] == backend.port][0]
        return x["status"] == "unhealthy" or x["counter"][counter] >= n
    wait_for(done, 10, what="%s %s counted" % (backend.addr, counter))


def active_checks(**over):
    c = {"type": "http", "http_path": "/health", "timeout": 1,
         "healthy": {"interval": 1, "successes": 1},
         "unhealthy": {"interval": 1, "http_failures": 2, "tcp_failures": 1, "timeouts": 1}}
    c.update(over)
    return c


def served_ports(node, path, n):
    """Ports of @n sequential requests' answers (None for a non-200)."""
    out = []
    for _ in range(n):
        st, _, body = get(node, path)
        out.append(json.loads(body)["port"] if st == 200 else None)
    return out


def test_active_http_leaves_and_returns(node):
    with backends(node, 2) as (a, b):
        put(node, "/apisix/upstreams/act", {"type": "roundrobin",
            "nodes": {a.addr: 1, b.addr: 1}, "checks": {"active": active_checks()}})
        put(node, "/apisix/routes/act", {"uri": "/act", "upstream_id": "act"})
        wait_for(lambda: node_status(node, "upstreams/act", a) == "healthy" and
                 node_status(node, "upstreams/act", b) == "healthy", 10, what="both healthy")
        wait_for(lambda: get(node, "/act")[0] == 200, 10, what="route served")
        assert set(served_ports(node, "/act", 4)) == {a.port, b.port}
        # a's health endpoint fails: 2 http failures make it unhealthy
        a.health_status = 500
        wait_status(node, "upstreams/act", a, "unhealthy", 10, "a unhealthy")
        before = a.hits
        ports = served_ports(node, "/act", 20)
        assert ports == [b.port] * 20, ports
        assert a.hits == before, "no request may reach an unhealthy node"
        # it heals: one success (healthy.successes 1) brings it back
        a.health_status = 200
        wait_status(node, "upstreams/act", a, "healthy", 10, "a healthy again")
        assert a.port in served_ports(node, "/act", 4)
        # a dies: one tcp failure (tcp_failures 1) and it is out
        a.stop()
        wait_status(node, "upstreams/act", a, "unhealthy", 10, "dead a unhealthy")
        assert served_ports(node, "/act", 10) == [b.port] * 10
        a.start()
        wait_status(node, "upstreams/act", a, "healthy", 10, "revived a healthy")


def test_passive_detection_alone(node):
    with backends(node, 2) as (a, b):
        # active probes only once (at start, interval 1 h): passive decides
        checks = {"active": active_checks(healthy={"interval": 3600, "successes": 1},
                                          unhealthy={"interval": 3600, "http_failures": 2}),
                  "passive": {"healthy": {"http_statuses": [200], "successes": 3},
                              "unhealthy": {"http_statuses": [500], "http_failures": 3}}}
        before = probe_counts(node)[0]
        put(node, "/apisix/routes/pas", {"uri": "/pas", "upstream": {
            "type": "roundrobin", "nodes": {a.addr: 1, b.addr: 1}, "checks": checks}})
        wait_status(node, "routes/pas", a, "healthy", 10, "inline upstream checked")
        first_probes_done(node, before, 2)
        a.status = 500
        sent_to_a = 0
        for _ in range(40):
            st, _, body = get(node, "/pas")
            if st == 500:
                sent_to_a += 1
                counted(node, "routes/pas", a, "http_failure", sent_to_a)
        # three 500s (passive http_failures 3) make it unhealthy
        assert sent_to_a == 3, sent_to_a
        assert node_status(node, "routes/pas", a) == "unhealthy"
        st, o = control(node, "/v1/healthcheck/routes/pas")
        na = [n for n in o["nodes"] if n["port"] == a.port][0]
        assert na["counter"]["http_failure"] >= 3, na


def test_passive_timeouts_and_tcp_failures(node):
    with backends(node, 2) as (a, b):
        checks = {"active": active_checks(type="tcp", healthy={"interval": 3600},
                                          unhealthy={"interval": 3600}),
                  "passive": {"unhealthy": {"timeouts": 2, "tcp_failures": 2}}}
        before = probe_counts(node)[0]
        put(node, "/apisix/routes/slow", {"uri": "/slow", "upstream": {
            "type": "roundrobin", "retries": 0, "checks": checks,
            "timeout": {"connect": 1, "send": 1, "read": 0.3},
            "nodes": {a.addr: 1, b.addr: 1}}})
        wait_status(node, "routes/slow", a, "healthy", 10, "checked")
        first_probes_done(node, before, 2)
        wait_for(lambda: get(node, "/slow")[0] == 200, 10, what="route served")
        # a answers too late: two read timeouts (504) and it is out
        a.delay = 1.0
        timeouts = 0
        for _ in range(30):
            if get(node, "/slow")[0] == 504:
                timeouts += 1
                counted(node, "routes/slow", a, "timeout_failure", timeouts)
        assert timeouts == 2, timeouts
        assert node_status(node, "routes/slow", a) == "unhealthy"
        # b dies: two refused connections (502) and it is out too; then
        # every node is out and traffic goes to both again (a, slow: 504)
        b.stop()
        refused = 0
        for _ in range(10):
            if get(node, "/slow")[0] == 502:
                refused += 1
                counted(node, "routes/slow", b, "tcp_failure", refused)
            if node_status(node, "routes/slow", b) == "unhealthy":
                break
        assert refused == 2, refused


def test_all_unhealthy_traffic_goes_to_all(node):
    with backends(node, 2) as (a, b):
        a.health_status = b.health_status = 500
        put(node, "/apisix/routes/all", {"uri": "/all", "upstream": {
            "type": "roundrobin", "nodes": {a.addr: 1, b.addr: 1},
            "checks": {"active": active_checks()}}})
        wait_for(lambda: node_status(node, "routes/all", a) == "unhealthy" and
                 node_status(node, "routes/all", b) == "unhealthy", 10, what="all unhealthy")
        ports = served_ports(node, "/all", 6)
        assert None not in ports and set(ports) == {a.port, b.port}, ports


def test_priority_failover_in_order(node):
    with backends(node, 3) as (hi, mid, lo):
        put(node, "/apisix/routes/pri", {"uri": "/pri", "upstream": {
            "type": "roundrobin", "checks": {"active": active_checks(type="tcp")},
            "nodes": [{"host": "127.0.0.1", "port": hi.port, "weight": 1, "priority": 2},
                      {"host": "127.0.0.1", "port": mid.port, "weight": 1, "priority": 1},
                      {"host": "127.0.0.1", "port": lo.port, "weight": 1, "priority": 0}]}})
        wait_for(lambda: served_ports(node, "/pri", 1) == [hi.port], 10, what="route")
        assert served_ports(node, "/pri", 5) == [hi.port] * 5
        hi.stop()
        wait_status(node, "routes/pri", hi, "unhealthy", 10, "hi down")
        assert served_ports(node, "/pri", 5) == [mid.port] * 5
        mid.stop()
        wait_status(node, "routes/pri", mid, "unhealthy", 10, "mid down")
        assert served_ports(node, "/pri", 5) == [lo.port] * 5
        hi.start()
        wait_status(node, "routes/pri", hi, "healthy", 10, "hi up")
        assert served_ports(node, "/pri", 5) == [hi.port] * 5


def test_retry_goes_to_another_node(node):
    with backends(node, 2) as (a, b):
        # no checks: the dead node is only avoided by the retry
        put(node, "/apisix/routes/rt", {"uri": "/rt", "upstream": {
            "type": "roundrobin", "retries": 1, "nodes": {a.addr: 1, b.addr: 1}}})
        wait_for(lambda: get(node, "/rt")[0] == 200, 10, what="route")
        a.stop()
        assert served_ports(node, "/rt", 6) == [b.port] * 6


def test_control_api_shapes(node):
    with backends(node, 1) as (a,):
        put(node, "/apisix/upstreams/shape", {"type": "roundrobin", "nodes": {a.addr: 1},
                                              "checks": {"active": active_checks()}})
        put(node, "/apisix/routes/shape", {"uri": "/shape", "upstream_id": "shape"})
        wait_status(node, "upstreams/shape", a, "healthy", 10, "checked")
        st, lst = control(node, "/v1/healthcheck")
        assert st == 200 and isinstance(lst, list)
        ent = [e for e in lst if e["name"] == "/apisix/upstreams/shape"][0]
        assert set(ent) == {"name", "type", "nodes"} and ent["type"] == "http"
        n = ent["nodes"][0]
        assert set(n) == {"ip", "port", "hostname", "status", "counter"}, n
        assert n["ip"] == "127.0.0.1" and n["port"] == a.port and n["status"] == "healthy"
        assert set(n["counter"]) == {"success", "http_failure", "tcp_failure",
                                     "timeout_failure"}
        st, one = control(node, "/v1/healthcheck/upstreams/shape")
        assert st == 200 and one == ent or one["name"] == ent["name"]
        assert control(node, "/v1/healthcheck/upstreams/nope")[0] == 404
        assert control(node, "/v1/healthcheck/bogus/x")[0] == 404
        st, ups = control(node, "/v1/upstreams")
        assert st == 200 and len(ups) == 1
        assert set(ups[0]) == {"key", "value", "createdIndex", "modifiedIndex"}
        assert ups[0]["key"] == "/apisix/upstreams/shape"
        assert ups[0]["value"]["nodes"] == {a.addr: 1}
        st, r = control(node, "/v1/routes/shape")
        assert st == 200 and r["value"]["uri"] == "/shape"
        assert control(node, "/v1/routes/none")[0] == 404
        st, sch = control(node, "/v1/schema")
        assert st == 200 and "route" in sch["main"] and "upstream" in sch["main"]
        assert "health_checker" in sch["main"] and isinstance(sch["plugins"], dict)
        st, cfg = control(node, "/v1/config")
        assert st == 200 and cfg["revision"] > 0, cfg
        st, _, _ = http("POST", "127.0.0.1", node.ports["control"], "/v1/healthcheck")
        assert st == 405
        # metrics: apisix_upstream_status
        st, _, body = node.get("metrics", "/apisix/prometheus/metrics")
        line = ('apisix_upstream_status{name="/apisix/upstreams/shape",ip="127.0.0.1",'
                'port="%d"} 1' % a.port)
        assert line in body.decode(), body.decode()[-2000:]
        # removed: no longer checked nor probed
        etcdctl(node, "del", "/apisix/routes/shape")
        etcdctl(node, "del", "/apisix/upstreams/shape")
        wait_for(lambda: control(node, "/v1/healthcheck/upstreams/shape")[0] == 404, 10,
                 what="checker removed")
        h = a.health_hits
        time.sleep(2.5)  # two intervals: no probe may come
        assert a.health_hits == h


def test_unrelated_change_keeps_state(node):
    with backends(node, 2) as (a, b):
        a.health_status = 500
        put(node, "/apisix/upstreams/keep", {"type": "roundrobin",
            "nodes": {a.addr: 1, b.addr: 1},
            "checks": {"active": active_checks(healthy={"interval": 1, "successes": 1},
                                               unhealthy={"interval": 3600,
                                                          "http_failures": 1})}})
        put(node, "/apisix/routes/keep", {"uri": "/keep", "upstream_id": "keep"})
        wait_status(node, "upstreams/keep", a, "unhealthy", 10, "a unhealthy")
        wait_for(lambda: get(node, "/keep")[0] == 200, 10, what="route served")
        a.health_status = 200  # but unhealthy.interval is 1 h: no probe soon
        put(node, "/apisix/routes/other", {"uri": "/other", "upstream": {
            "type": "roundrobin", "nodes": {b.addr: 1}}})
        wait_for(lambda: get(node, "/other")[0] == 200, 10, what="other route")
        assert node_status(node, "upstreams/keep", a) == "unhealthy"
        assert served_ports(node, "/keep", 6) == [b.port] * 6
        # a changed checks object restarts the checker: state starts healthy
        put(node, "/apisix/upstreams/keep", {"type": "roundrobin",
            "nodes": {a.addr: 1, b.addr: 1}, "checks": {"active": active_checks()}})
        wait_status(node, "upstreams/keep", a, "healthy", 10, "restarted")


def test_https_probe_and_verification(node):
    import os
    import subprocess
    from harness import tempdir
    d = tempdir()
    cert, key = os.path.join(d, "c.pem"), os.path.join(d, "k.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=backend.test", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    with backends(node, 1, tls=(cert, key)) as (a,):
        for rid, verify in (("noverify", False), ("verify", True)):
            put(node, "/apisix/routes/" + rid, {"uri": "/" + rid, "upstream": {
                "type": "roundrobin", "nodes": {a.addr: 1}, "checks": {"active": active_checks(
                    type="https", host="backend.test", https_verify_certificate=verify,
                    unhealthy={"interval": 1, "http_failures": 1, "tcp_failures": 1})}}})
        # the probe speaks TLS: healthy without verification...
        wait_for(lambda: a.health_hits >= 2, 10, what="https probes")
        wait_status(node, "routes/noverify", a, "healthy", 10, "https probe healthy")
        # ...and a self-signed certificate fails verification: unhealthy
        wait_status(node, "routes/verify", a, "unhealthy", 10, "unverified certificate unhealthy")
        a.health_status = 500
        wait_status(node, "routes/noverify", a, "unhealthy", 10, "https 500 unhealthy")


def test_clean_stop_with_probes_in_flight(node):
    # a checked upstream whose probes hang (timeout 5 s): the node stops
    # at once and cleanly (sanitizers: no leak, no live handle)
    import socket
    lsn = socket.socket()
    lsn.bind(("127.0.0.1", 0))
    lsn.listen(16)  # accepts (kernel backlog) but never answers
    port = lsn.getsockname()[1]
    put(node, "/apisix/routes/hang", {"uri": "/hang", "upstream": {
        "type": "roundrobin", "nodes": {"127.0.0.1:%d" % port: 1},
        "checks": {"active": active_checks(timeout=5)}}})
    wait_for(lambda: control(node, "/v1/healthcheck/routes/hang")[0] == 200, 10,
             what="checked")
    time.sleep(0.5)
    # changed settings retire the checker while its probes hang
    put(node, "/apisix/routes/hang", {"uri": "/hang", "upstream": {
        "type": "roundrobin", "nodes": {"127.0.0.1:%d" % port: 1},
        "checks": {"active": active_checks(timeout=4)}}})
    time.sleep(0.5)
    rc = node.stop()
    lsn.close()
    log = node.log()
    assert rc == 0, log
    for bad in ("Sanitizer", "runtime error", "live handles"):
        assert bad not in log, log


tap = Tap()
node = Node("h1").start()
tap.run(test_active_http_leaves_and_returns, node)
tap.run(test_passive_detection_alone, node)
tap.run(test_passive_timeouts_and_tcp_failures, node)
tap.run(test_all_unhealthy_traffic_goes_to_all, node)
tap.run(test_priority_failover_in_order, node)
tap.run(test_retry_goes_to_another_node, node)
tap.run(test_control_api_shapes, node)
tap.run(test_unrelated_change_keeps_state, node)
tap.run(test_https_probe_and_verification, node)
tap.run(test_clean_stop_with_probes_in_flight, node)
tap.done()
