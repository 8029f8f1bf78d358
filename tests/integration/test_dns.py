"""Host-name upstream nodes end to end: a node resolves them with its own
DNS server (--resolver, a tiny server this test runs on 127.0.0.1,
dnsutil.py) and /etc/hosts; traffic follows a changed answer; a failed
resolution keeps the last good addresses and says so (control API
/v1/dns, metrics); a name never resolved gives 502; health checks probe
the resolved addresses. Backends listen on 127.0.0.2, 127.0.0.3... with one
port, so an answer alone decides where requests go. Assertions count
requests per backend, never time."""
import http.server as hserver
import json
import socket
import threading

from dnsutil import DNSServer
from harness import Node, Tap, etcdctl, free_port, http, wait_for

PORT = free_port()


class Backend:
    """An HTTP backend on @ip:PORT answering {"ip"} (GET /health too);
    counts the requests it served."""

    class V6Server(hserver.ThreadingHTTPServer):
        address_family = socket.AF_INET6

    def __init__(self, ip):
        self.ip = ip
        self.hits = 0
        self.server = None
        self.start()

    def start(self):
        outer = self

        class H(hserver.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                if self.path != "/health":
                    outer.hits += 1
                out = json.dumps({"ip": outer.ip}).encode()
                self.send_response(200)
                self.send_header("Connection", "close")
                self.close_connection = True
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *a):
                pass

        hserver.ThreadingHTTPServer.allow_reuse_address = True
        cls = Backend.V6Server if ":" in self.ip else hserver.ThreadingHTTPServer
        self.server = cls((self.ip, PORT), H)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def put(node, key, value):
    r = etcdctl(node, "put", key, json.dumps(value))
    assert r.returncode == 0, r.stderr


def get(node, path):
    return http("GET", "127.0.0.1", node.ports["proxy"], path)


def served(node, path, n):
    """Backend IPs of @n sequential requests (None for a non-200)."""
    out = []
    for _ in range(n):
        st, _, body = get(node, path)
        out.append(json.loads(body)["ip"] if st == 200 else None)
    return out


def dns_name(node, name):
    st, _, body = node.get("control", "/v1/dns")
    assert st == 200, st
    for n in json.loads(body)["names"]:
        if n["name"] == name:
            return n
    return None


def test_traffic_follows_the_answer(node, dns, b2, b3):
    dns.records["svc.test"] = ["127.0.0.2"]
    put(node, "/apisix/upstreams/svc", {"type": "roundrobin",
                                        "nodes": {"svc.test:%d" % PORT: 1}})
    put(node, "/apisix/routes/svc", {"uri": "/svc", "upstream_id": "svc"})
    wait_for(lambda: get(node, "/svc")[0] == 200, 10, what="svc.test served")
    assert served(node, "/svc", 10) == ["127.0.0.2"] * 10
    n = dns_name(node, "svc.test")
    assert n["status"] == "ok" and n["addresses"] == ["127.0.0.2"], n
    # the answer moves: traffic follows once the TTL (1 s) ran out
    dns.records["svc.test"] = ["127.0.0.3"]
    wait_for(lambda: served(node, "/svc", 1) == ["127.0.0.3"], 10, what="moved to .3")
    before = b2.hits
    assert served(node, "/svc", 20) == ["127.0.0.3"] * 20
    assert b2.hits == before, "no request may reach an address the name lost"
    # two addresses: each is a node with the name's weight (round robin)
    dns.records["svc.test"] = ["127.0.0.3", "127.0.0.2"]
    wait_for(lambda: len(dns_name(node, "svc.test")["addresses"]) == 2, 10,
             what="two addresses")
    wait_for(lambda: set(served(node, "/svc", 4)) == {"127.0.0.2", "127.0.0.3"}, 10,
             what="both served")
    h2, h3 = b2.hits, b3.hits
    served(node, "/svc", 20)
    assert b2.hits - h2 == 10 and b3.hits - h3 == 10, (b2.hits - h2, b3.hits - h3)


def test_ttl_is_honoured(node, dns, b2, b3):
    # a long TTL (clamped to --dns-max-ttl 4s): no query before it runs out
    dns.records["svc.test"] = ["127.0.0.2"]
    dns.ttl = 3600
    wait_for(lambda: dns_name(node, "svc.test")["addresses"] == ["127.0.0.2"] and
             dns_name(node, "svc.test")["ttl"] == 3600, 10, what="long ttl seen")
    asked = dns.queries.get("svc.test", 0)
    dns.records["svc.test"] = ["127.0.0.3"]
    assert served(node, "/svc", 5) == ["127.0.0.2"] * 5  # the cached answer
    assert dns.queries.get("svc.test", 0) == asked
    wait_for(lambda: served(node, "/svc", 1) == ["127.0.0.3"], 10,
             what="re-resolved at the max ttl")
    dns.ttl = 1


def test_failure_keeps_last_good(node, dns, b2, b3):
    dns.records["svc.test"] = ["127.0.0.3"]
    wait_for(lambda: dns_name(node, "svc.test")["addresses"] == ["127.0.0.3"], 10,
             what="svc.test on .3")
    # NXDOMAIN: the last good address keeps serving, and it is said
    del dns.records["svc.test"]
    wait_for(lambda: dns_name(node, "svc.test")["status"] == "failing", 10,
             what="failing after NXDOMAIN")
    n = dns_name(node, "svc.test")
    assert n["addresses"] == ["127.0.0.3"] and n["error"], n
    assert served(node, "/svc", 10) == ["127.0.0.3"] * 10
    st, _, body = node.get("metrics", "/apisix/prometheus/metrics")
    assert "apigw_dns_names_failing 1" in body.decode(), body
    # the server is down (queries time out): still the last good address
    dns.records["svc.test"] = ["127.0.0.3"]
    dns.stop()
    assert served(node, "/svc", 10) == ["127.0.0.3"] * 10
    dns.start()
    wait_for(lambda: dns_name(node, "svc.test")["status"] == "ok", 40, what="ok again")
    log = node.log()
    assert log.count("svc.test: resolution failed") == 1, \
        "a failing spell is logged once"
    assert "svc.test resolves again" in log


def test_never_resolved_gives_502(node, dns, b2, b3):
    put(node, "/apisix/routes/nope", {"uri": "/nope", "upstream": {
        "type": "roundrobin", "nodes": {"nope.test:%d" % PORT: 1}}})
    wait_for(lambda: dns_name(node, "nope.test") is not None and
             dns_name(node, "nope.test")["status"] == "unresolved", 10,
             what="nope.test unresolved")
    assert get(node, "/nope")[0] == 502
    # a node of the same upstream with an address still serves
    put(node, "/apisix/routes/nope", {"uri": "/nope", "upstream": {
        "type": "roundrobin", "nodes": {"nope.test:%d" % PORT: 1, "127.0.0.2:%d" % PORT: 1}}})
    wait_for(lambda: get(node, "/nope")[0] == 200, 10, what="ip node served")
    assert served(node, "/nope", 5) == ["127.0.0.2"] * 5
    etcdctl(node, "del", "/apisix/routes/nope")
    # a name no object uses is forgotten
    wait_for(lambda: dns_name(node, "nope.test") is None, 10, what="nope.test dropped")


def test_etc_hosts_localhost(node, dns, b2, b3):
    b1 = Backend("127.0.0.1")
    try:
        put(node, "/apisix/routes/lh", {"uri": "/lh", "upstream": {
            "type": "roundrobin", "nodes": {"localhost:%d" % PORT: 1}}})
        wait_for(lambda: get(node, "/lh")[0] == 200, 10, what="localhost served")
        assert served(node, "/lh", 5) == ["127.0.0.1"] * 5
        assert dns.queries.get("localhost", 0) == 0, "/etc/hosts answers first"
    finally:
        etcdctl(node, "del", "/apisix/routes/lh")
        b1.stop()


def test_health_checks_probe_resolved_addresses(node, dns, b2, b3):
    dns.records["hc.test"] = ["127.0.0.2", "127.0.0.3"]
    put(node, "/apisix/routes/hc", {"uri": "/hc", "upstream": {
        "type": "roundrobin", "nodes": {"hc.test:%d" % PORT: 1},
        "checks": {"active": {"type": "tcp", "timeout": 1,
                              "healthy": {"interval": 1, "successes": 1},
                              "unhealthy": {"interval": 1, "tcp_failures": 1}}}}})

    def statuses():
        st, _, body = node.get("control", "/v1/healthcheck/routes/hc")
        if st != 200:
            return {}
        return {n["ip"]: n["status"] for n in json.loads(body)["nodes"]}

    wait_for(lambda: statuses() == {"127.0.0.2": "healthy", "127.0.0.3": "healthy"}, 10,
             what="both addresses checked")
    b2.stop()
    try:
        wait_for(lambda: statuses().get("127.0.0.2") == "unhealthy", 10, what=".2 out")
        assert served(node, "/hc", 10) == ["127.0.0.3"] * 10
    finally:
        b2.start()
    wait_for(lambda: statuses().get("127.0.0.2") == "healthy", 10, what=".2 back")
    etcdctl(node, "del", "/apisix/routes/hc")


def test_ipv6_addresses(node, dns, b2, b3):
    """A and AAAA answers: every address is a node (IPv4 first), and
    requests reach the IPv6 backend on ::1 too."""
    b6 = Backend("::1")
    try:
        dns.records["dual.test"] = ["::1", "127.0.0.2"]
        put(node, "/apisix/routes/dual", {"uri": "/dual", "upstream": {
            "type": "roundrobin", "nodes": {"dual.test:%d" % PORT: 1}}})
        wait_for(lambda: (dns_name(node, "dual.test") or {}).get("addresses") ==
                 ["127.0.0.2", "::1"], 10, what="A and AAAA resolved")
        h6, h2 = b6.hits, b2.hits
        wait_for(lambda: "::1" in served(node, "/dual", 1), 10, what="traffic to [::1]")
        got = served(node, "/dual", 10)
        assert sorted(set(got)) == ["127.0.0.2", "::1"], got
        assert b6.hits > h6 and b2.hits > h2, (b6.hits - h6, b2.hits - h2)
        # only AAAA: the name still resolves (no "no IPv4 address")
        dns.records["dual.test"] = ["::1"]
        wait_for(lambda: served(node, "/dual", 3) == ["::1"] * 3, 10, what="IPv6 only")
        assert dns_name(node, "dual.test")["error"] == ""
    finally:
        etcdctl(node, "del", "/apisix/routes/dual")
        b6.stop()


def test_clean_stop(node, dns, b2, b3):
    rc = node.stop()
    log = node.log()
    assert rc == 0, log
    for bad in ("Sanitizer", "runtime error", "live handles"):
        assert bad not in log, log


tap = Tap()
dns = DNSServer(ttl=1)
b2, b3 = Backend("127.0.0.2"), Backend("127.0.0.3")
node = Node("d1", extra_args=["--resolver", dns.addr, "--dns-max-ttl", "4s"]).start()
try:
    for t in (test_traffic_follows_the_answer, test_ttl_is_honoured,
              test_failure_keeps_last_good, test_never_resolved_gives_502,
              test_etc_hosts_localhost, test_health_checks_probe_resolved_addresses,
              test_ipv6_addresses, test_clean_stop):
        tap.run(t, node, dns, b2, b3)
finally:
    b2.stop()
    b3.stop()
    dns.stop()
tap.done()
