"""Operating behind a load balancer, proxy side (issue 8): PROXY protocol v1
and v2 on a listener that asks for it (sent by a small raw-socket client of
our own), trusted X-Forwarded-For (--real-ip-from), the JSON access log and
its reopen on SIGUSR1, and the HTTP metrics scraped and parsed strictly.
One real apigw node with two proxy listeners (plain and proxy_protocol)."""
import http.client as httpclient
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import time

from harness import (EchoUpstream, Node, Tap, etcdctl, free_port, run_cli, tempdir,
                     wait_for)

V2SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v1(src, dst="10.0.0.1", sport=40000, dport=80):
    fam = "TCP6" if ":" in src else "TCP4"
    return ("PROXY %s %s %s %d %d\r\n" % (fam, src, dst, sport, dport)).encode()


def v2(src=None, dst=None, sport=40000, dport=80, cmd=1, tlvs=b"", fam=None):
    """A v2 header; src None gives an address-less block (LOCAL/UNSPEC)."""
    if src is None:
        body, famb = b"", 0x00
    elif ":" in src:
        body = (socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(
            socket.AF_INET6, dst or "::1") + struct.pack("!HH", sport, dport))
        famb = 0x21
    else:
        body = (socket.inet_aton(src) + socket.inet_aton(dst or "10.0.0.1") +
                struct.pack("!HH", sport, dport))
        famb = 0x11
    if fam is not None:
        famb = fam
    body += tlvs
    return V2SIG + bytes([0x20 | cmd, famb]) + struct.pack("!H", len(body)) + body


def tlv(t, value):
    return bytes([t]) + struct.pack("!H", len(value)) + value


def raw(port, chunks, pause=0.0, timeout=10):
    """Send @chunks (bytes each) on one connection, then read to EOF.
    Returns all bytes received (b"" when the server closed silently)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        for c in chunks:
            s.sendall(c)
            if pause:
                time.sleep(pause)
        out = b""
        while True:
            try:
                d = s.recv(65536)
            except ConnectionResetError:
                break
            if not d:
                break
            out += d
        return out
    finally:
        s.close()


def get(path, host="t", extra=""):
    return ("GET %s HTTP/1.1\r\nHost: %s\r\n%sConnection: close\r\n\r\n" % (
        path, host, extra)).encode()


def echo_of(resp):
    """Status and the echo upstream's JSON from a raw HTTP/1.1 response."""
    head, _, body = resp.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    if b"transfer-encoding: chunked" in head.lower():
        out, rest = b"", body
        while rest:
            line, _, rest = rest.partition(b"\r\n")
            n = int(line, 16)
            if n == 0:
                break
            out, rest = out + rest[:n], rest[n + 2:]
        body = out
    try:
        return status, json.loads(body)
    except ValueError:
        return status, None


class Env:
    pass


E = Env()


def setup():
    E.up = EchoUpstream()
    E.pp_port = free_port()
    E.logdir = tempdir("apigw-alog-")
    E.log = os.path.join(E.logdir, "access.log")
    E.node = Node("ops", extra_args=[
        "--proxy-listen", "127.0.0.1:%d,proxy_protocol" % E.pp_port,
        "--access-log", E.log,
        "--real-ip-from", "127.0.0.1/32,10.0.0.0/8"]).start()
    routes = {
        "1": {"uri": "/hello", "upstream": {"type": "roundrobin", "nodes": {E.up.addr: 1}}},
        "lb": {"uri": "/only-lb", "remote_addrs": ["192.0.2.0/24", "2001:db8::/32"],
               "upstream": {"type": "roundrobin", "nodes": {E.up.addr: 1}}},
        "real": {"uri": "/only-real", "remote_addrs": ["203.0.113.0/24"],
                 "upstream": {"type": "roundrobin", "nodes": {E.up.addr: 1}}},
    }
    for rid, r in routes.items():
        res = etcdctl(E.node, "put", "/apisix/routes/" + rid, json.dumps(r))
        assert res.returncode == 0, res.stderr
    wait_for(lambda: E.node.get("proxy", "/hello")[0] == 200, 10, what="routes served")
    wait_for(lambda: raw(E.pp_port, [v1("192.0.2.1") + get("/only-lb")])[9:12] == b"200",
             10, what="pp route served")


# ---- PROXY protocol


def test_pp_v1_sets_remote_addr():
    st, seen = echo_of(raw(E.pp_port, [v1("192.0.2.9") + get("/only-lb")]))
    assert st == 200, st
    assert seen["headers"]["x-real-ip"] == "192.0.2.9", seen["headers"]
    assert seen["headers"]["x-forwarded-for"] == "192.0.2.9", seen["headers"]
    # the plain listener: the socket's 127.0.0.1 is not in remote_addrs
    assert E.node.get("proxy", "/only-lb")[0] == 404
    # IPv6 source in a v1 header
    st, seen = echo_of(raw(E.pp_port, [v1("2001:db8::42", "2001:db8::1") + get("/only-lb")]))
    assert st == 200 and seen["headers"]["x-real-ip"] == "2001:db8::42", (st, seen)
    # UNKNOWN keeps the socket's address
    st, seen = echo_of(raw(E.pp_port, [b"PROXY UNKNOWN\r\n" + get("/hello")]))
    assert st == 200 and seen["headers"]["x-real-ip"] == "127.0.0.1", (st, seen)


def test_pp_v2_sets_remote_addr_and_skips_tlvs():
    tl = tlv(0x01, b"h2") + tlv(0x02, b"example.com") + tlv(0xE0, os.urandom(300)) + tlv(
        0x04, b"")
    st, seen = echo_of(raw(E.pp_port, [v2("192.0.2.77", tlvs=tl) + get("/only-lb")]))
    assert st == 200 and seen["headers"]["x-real-ip"] == "192.0.2.77", (st, seen)
    st, seen = echo_of(raw(E.pp_port, [v2("2001:db8::77", "2001:db8::1") + get("/only-lb")]))
    assert st == 200 and seen["headers"]["x-real-ip"] == "2001:db8::77", (st, seen)
    # LOCAL (a balancer's health check): the socket's address stays, and
    # whatever the address block holds is ignored
    local = V2SIG + bytes([0x20, 0x11]) + struct.pack("!H", 12) + os.urandom(12)
    st, seen = echo_of(raw(E.pp_port, [local + get("/hello")]))
    assert st == 200 and seen["headers"]["x-real-ip"] == "127.0.0.1", (st, seen)
    assert raw(E.pp_port, [local + get("/only-lb")])[9:12] == b"404"
    # PROXY with UNSPEC family: the socket's address too
    st, seen = echo_of(raw(E.pp_port, [v2(None) + get("/hello")]))
    assert st == 200 and seen["headers"]["x-real-ip"] == "127.0.0.1", (st, seen)


def test_pp_header_split_across_reads():
    for hdr in (v1("192.0.2.33"), v2("192.0.2.33", tlvs=tlv(0x04, b"x" * 40))):
        data = hdr + get("/only-lb")
        chunks = [data[i:i + 1] for i in range(len(hdr))] + [data[len(hdr):]]
        st, seen = echo_of(raw(E.pp_port, chunks, pause=0.002))
        assert st == 200 and seen["headers"]["x-real-ip"] == "192.0.2.33", (st, seen)
    # header and the request's first bytes in one read, the rest later
    hdr = v1("192.0.2.34")
    req = get("/only-lb")
    st, seen = echo_of(raw(E.pp_port, [hdr + req[:5], req[5:]], pause=0.05))
    assert st == 200 and seen["headers"]["x-real-ip"] == "192.0.2.34", (st, seen)


def test_pp_keepalive_requests_keep_the_address():
    s = socket.create_connection(("127.0.0.1", E.pp_port), timeout=10)
    try:
        s.sendall(v1("192.0.2.50"))
        f = s.makefile("rb")
        for i in range(3):
            s.sendall(b"GET /only-lb HTTP/1.1\r\nHost: t\r\n\r\n")
            line = f.readline()
            assert b" 200 " in line, line
            n = 0
            while True:
                h = f.readline()
                if h in (b"\r\n", b""):
                    break
                if h.lower().startswith(b"content-length:"):
                    n = int(h.split(b":")[1])
            body = json.loads(f.read(n))
            assert body["headers"]["x-real-ip"] == "192.0.2.50", body
    finally:
        s.close()


BAD_HEADERS = [
    ("missing header", b""),
    ("lower case", b"proxy TCP4 192.0.2.1 10.0.0.1 1 2\r\n"),
    ("double space", b"PROXY TCP4  192.0.2.1 10.0.0.1 1 2\r\n"),
    ("bad address", b"PROXY TCP4 192.0.2.300 10.0.0.1 1 2\r\n"),
    ("v6 in TCP4", b"PROXY TCP4 ::1 10.0.0.1 1 2\r\n"),
    ("port too big", b"PROXY TCP4 192.0.2.1 10.0.0.1 65536 2\r\n"),
    ("no CR", b"PROXY TCP4 192.0.2.1 10.0.0.1 1 2\n"),
    ("too long", b"PROXY UNKNOWN " + b"a" * 120 + b"\r\n"),
    ("v2 version 3", V2SIG + b"\x31\x11\x00\x0c" + b"\x00" * 12),
    ("v2 command 2", V2SIG + b"\x22\x11\x00\x0c" + b"\x00" * 12),
    ("v2 UDP", V2SIG + b"\x21\x12\x00\x0c" + b"\x00" * 12),
    ("v2 short address", V2SIG + b"\x21\x11\x00\x08" + b"\x00" * 8),
    ("v2 TLV overruns", V2SIG + b"\x21\x11\x00\x10" + b"\x00" * 12 + b"\x04\x00\x09\x00"),
    ("v2 huge length", V2SIG + b"\x21\x11\xff\xff" + b"\x00" * 100),
    ("bad signature", b"\r\n\r\n\x00\r\nQUIX\n\x21\x11\x00\x00"),
]


def test_pp_malformed_or_missing_closes():
    for what, hdr in BAD_HEADERS:
        out = raw(E.pp_port, [hdr + get("/hello")])
        assert out == b"", (what, out[:100])
    # the node is fine and the good path still works
    assert raw(E.pp_port, [v1("192.0.2.1") + get("/only-lb")])[9:12] == b"200"
    # a PROXY header on a listener that does not ask for one is a bad request
    out = raw(E.node.ports["proxy"], [v1("192.0.2.1") + get("/hello")])
    assert out[9:12] == b"400", out[:100]


def test_pp_header_timeout():
    s = socket.create_connection(("127.0.0.1", E.pp_port), timeout=30)
    try:
        s.sendall(b"PROXY TCP4 192.0.2.")
        t0 = time.time()
        assert s.recv(100) == b""  # closed by the server, not by our timeout
        assert time.time() - t0 < 25
    finally:
        s.close()


def test_pp_then_request_header_timeout():
    """After a complete PROXY header, a request head that never completes is
    still cut by the header timeout (a node with a 2 s header timeout, so the
    PROXY wait is 2 s too). Before, the PROXY wait's timer callback stayed on
    the connection, found no PROXY wait left and did nothing: no deadline."""
    pp_port = free_port()
    os.environ["APIGW_TEST_PROXY_HEADER_TIMEOUT_MS"] = "2000"
    try:
        n = Node("opshdr", extra_args=[
            "--proxy-listen", "127.0.0.1:%d,proxy_protocol" % pp_port]).start()
    finally:
        del os.environ["APIGW_TEST_PROXY_HEADER_TIMEOUT_MS"]
    try:
        for first in (v1("192.0.2.7") + b"GET /hello HTTP/1.1\r\nHo", v1("192.0.2.8")):
            s = socket.create_connection(("127.0.0.1", pp_port), timeout=15)
            try:
                t0 = time.time()
                s.sendall(first)
                time.sleep(0.5)
                s.sendall(b"x")  # a byte, then silence
                got = b""
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    got += chunk
                took = time.time() - t0
            finally:
                s.close()
            assert took < 10, (first, took)  # closed by the server, not by our timeout
            assert got == b"" or got.startswith(b"HTTP/1.1 4"), got
        assert n.stop() == 0
    finally:
        if n.running:
            n.kill()


HAPROXY_CFG = """
global
    maxconn 100
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend v1
    bind 127.0.0.1:{p1}
    default_backend v1
frontend v2
    bind 127.0.0.1:{p2}
    default_backend v2
backend v1
    option httpchk GET /status/ready
    server gw 127.0.0.1:{pp} send-proxy check port {status} inter 200ms
backend v2
    option httpchk GET /status/ready
    server gw 127.0.0.1:{pp} send-proxy-v2 check port {status} inter 200ms
"""


def test_pp_from_a_real_haproxy():
    """HAProxy (Debian) sends PROXY v1 and v2 (send-proxy, send-proxy-v2); a
    client bound to 127.0.0.5 must be seen as 127.0.0.5 although apigw's
    socket peer is HAProxy on 127.0.0.1."""
    if shutil.which("haproxy") is None:
        raise AssertionError("haproxy is required (scripts/install-deps.sh)")
    d = tempdir()
    p1, p2 = free_port(), free_port()
    cfg = os.path.join(d, "haproxy.cfg")
    with open(cfg, "w") as f:
        f.write(HAPROXY_CFG.format(p1=p1, p2=p2, pp=E.pp_port,
                                   status=E.node.ports["status"]))
    hp = subprocess.Popen(["haproxy", "-db", "-f", cfg], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    try:
        for port in (p1, p2):
            def ask():
                c = httpclient.HTTPConnection("127.0.0.1", port, timeout=5,
                                              source_address=("127.0.0.5", 0))
                try:
                    c.request("GET", "/hello")
                    r = c.getresponse()
                    body = r.read()
                    return json.loads(body) if r.status == 200 else None
                finally:
                    c.close()
            seen = wait_for(ask, 10, what="served through haproxy on %d" % port)
            assert seen["headers"]["x-real-ip"] == "127.0.0.5", seen["headers"]
            assert seen["headers"]["x-forwarded-for"] == "127.0.0.5", seen["headers"]
    finally:
        hp.terminate()
        hp.wait(10)


def test_check_rejects_bad_ops_flags():
    d = tempdir()
    for bad in (["--proxy-listen", "127.0.0.1:9080,proxy_protocl"],
                ["--real-ip-from", "10.0.0.0/33"],
                ["--real-ip-from", "not-an-ip"]):
        r = run_cli("start", "--data-dir", d, "--check", *bad)
        assert r.returncode == 2, (bad, r.returncode, r.stdout, r.stderr)
        assert bad[0] in r.stderr, (bad, r.stderr)
    r = run_cli("start", "--data-dir", d, "--check", "--proxy-listen",
                "127.0.0.1:9080,proxy_protocol", "--real-ip-from", "10.0.0.0/8,::1/128",
                "--access-log", "-")
    assert r.returncode == 0, (r.stdout, r.stderr)


# ---- trusted X-Forwarded-For


def xff_get(path, xff, port=None, pp=b""):
    extra = "X-Forwarded-For: %s\r\n" % xff
    return echo_of(raw(port or E.node.ports["proxy"], [pp + get(path, extra=extra)]))


def test_real_ip_from_trusted_peer():
    # peer 127.0.0.1 is trusted; 10.1.1.1 too; 203.0.113.7 is the client
    st, seen = xff_get("/only-real", "203.0.113.7, 10.1.1.1")
    assert st == 200, st
    assert seen["headers"]["x-real-ip"] == "203.0.113.7", seen["headers"]
    # the chain gains the hop that connected to us
    assert seen["headers"]["x-forwarded-for"] == "203.0.113.7, 10.1.1.1, 127.0.0.1"
    # rightmost untrusted wins, not the leftmost (spoofable) entry
    st, seen = xff_get("/hello", "1.1.1.1, 203.0.113.8, 10.0.0.2")
    assert seen["headers"]["x-real-ip"] == "203.0.113.8", seen["headers"]
    # all trusted: the leftmost; a junk entry ends the walk
    st, seen = xff_get("/hello", "10.0.0.1, 10.0.0.2")
    assert seen["headers"]["x-real-ip"] == "10.0.0.1", seen["headers"]
    st, seen = xff_get("/hello", "203.0.113.9, junk, 10.0.0.3")
    assert seen["headers"]["x-real-ip"] == "10.0.0.3", seen["headers"]
    # IPv6 entry
    st, seen = xff_get("/hello", "2001:db8::9")
    assert seen["headers"]["x-real-ip"] == "2001:db8::9", seen["headers"]


def test_real_ip_ignored_from_untrusted_peer():
    # the PROXY header says the peer is 198.51.100.1: not trusted
    st, seen = xff_get("/hello", "203.0.113.7", port=E.pp_port, pp=v1("198.51.100.1"))
    assert st == 200 and seen["headers"]["x-real-ip"] == "198.51.100.1", seen["headers"]
    st, _ = xff_get("/only-real", "203.0.113.7", port=E.pp_port, pp=v1("198.51.100.1"))
    assert st == 404
    # a balancer in 10/8 sends the PROXY header: its XFF is trusted
    st, seen = xff_get("/only-real", "203.0.113.10", port=E.pp_port, pp=v1("10.9.9.9"))
    assert st == 200 and seen["headers"]["x-real-ip"] == "203.0.113.10", (st, seen)


# ---- access log

FIELDS = {"time": str, "remote_addr": str, "host": str, "method": str, "uri": str,
          "status": int, "bytes_sent": int, "request_length": int, "request_time": float,
          "upstream_addr": str, "upstream_status": str, "route_id": str}


def log_lines(path):
    with open(path, "rb") as f:
        data = f.read()
    assert data == b"" or data.endswith(b"\n"), data[-100:]
    return [json.loads(line) for line in data.splitlines()]


def find(path, pred):
    return [x for x in log_lines(path) if pred(x)]


def test_access_log_json_lines():
    tag = "/hello?tag=%d" % time.time_ns()
    raw(E.pp_port, [v1("192.0.2.99") + get(tag, host="Example.COM")])
    E.node.get("proxy", "/nothing-here")
    # a hostile target: quotes, backslashes, bytes >= 0x80 stay valid JSON
    raw(E.node.ports["proxy"], [b'GET /hello?x="\\\xff\xfe HTTP/1.1\r\nHost: t\r\n'
                                b'Connection: close\r\n\r\n'])
    got = wait_for(lambda: find(E.log, lambda x: x["uri"] == tag), 10, what="log line")
    x = got[0]
    for k, t in FIELDS.items():
        assert isinstance(x[k], t) or (t is float and isinstance(x[k], int)), (k, x)
    assert x["remote_addr"] == "192.0.2.99" and x["host"] == "example.com", x
    assert x["method"] == "GET" and x["status"] == 200 and x["route_id"] == "1", x
    assert x["upstream_addr"] == E.up.addr and x["upstream_status"] == "200", x
    assert x["bytes_sent"] > 100 and x["request_time"] >= 0, x
    assert 0 <= x["upstream_response_time"] <= x["request_time"] + 0.001, x
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$", x["time"]), x
    nf = wait_for(lambda: find(E.log, lambda y: y["uri"] == "/nothing-here"), 10)
    assert nf[0]["status"] == 404 and nf[0]["route_id"] == "" and \
        nf[0]["upstream_addr"] == "" and nf[0]["upstream_response_time"] is None, nf
    odd = wait_for(lambda: find(E.log, lambda y: y["uri"].startswith('/hello?x="\\')), 10)
    assert odd[0]["uri"] == '/hello?x="\\\u00ff\u00fe', odd


def test_access_log_reopened_on_sigusr1():
    rotated = E.log + ".1"
    os.rename(E.log, rotated)
    E.node.get("proxy", "/hello?before-reopen")
    wait_for(lambda: find(rotated, lambda x: x["uri"] == "/hello?before-reopen"), 10,
             what="line in the renamed file")
    assert not os.path.exists(E.log)
    E.node.signal(signal.SIGUSR1)
    wait_for(lambda: os.path.exists(E.log), 10, what="log reopened")
    E.node.get("proxy", "/hello?after-reopen")
    wait_for(lambda: find(E.log, lambda x: x["uri"] == "/hello?after-reopen"), 10,
             what="line in the new file")
    assert not find(rotated, lambda x: x["uri"] == "/hello?after-reopen")
    assert E.node.running


def test_access_log_line_of_a_timeout_not_held_back():
    """A 504 is answered from a timer callback; its line must reach the file
    with no further traffic to wake the worker up."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # never accepts: connects succeed, nothing answers
    try:
        r = {"uri": "/slow", "timeout": {"connect": 1, "send": 1, "read": 1},
             "upstream": {"type": "roundrobin", "retries": 0,
                          "nodes": {"127.0.0.1:%d" % silent.getsockname()[1]: 1}}}
        res = etcdctl(E.node, "put", "/apisix/routes/slow", json.dumps(r))
        assert res.returncode == 0, res.stderr
        wait_for(lambda: raw(E.node.ports["proxy"], [get("/slow")])[9:12] == b"504", 20,
                 what="504 from the silent upstream")
        t0 = time.time()
        tag = "/slow?t=%d" % time.time_ns()
        assert raw(E.node.ports["proxy"], [get(tag)])[9:12] == b"504"
        got = wait_for(lambda: find(E.log, lambda x: x["uri"] == tag), 10, interval=0.02,
                       what="the 504's log line")
        assert got[0]["status"] == 504 and got[0]["upstream_status"] == "504", got
        assert time.time() - t0 < 10
    finally:
        etcdctl(E.node, "del", "/apisix/routes/slow")
        silent.close()


def test_access_log_stuck_sink_never_blocks_workers():
    """The log goes to a FIFO nobody reads yet: once the pipe is full the
    writer thread is stuck in write(), yet every request is answered; when
    the reader starts reading, every line arrives."""
    d = tempdir()
    fifo = os.path.join(d, "log.fifo")
    os.mkfifo(fifo)
    rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    n = Node("fifo", extra_args=["--access-log", fifo])
    try:
        n.start()
        res = etcdctl(n, "put", "/apisix/routes/1", json.dumps(
            {"uri": "/s", "upstream": {"type": "roundrobin", "nodes": {E.up.addr: 1}}}))
        assert res.returncode == 0, res.stderr
        wait_for(lambda: n.get("proxy", "/s")[0] == 200, 10, what="route served")
        total = 1500
        c = httpclient.HTTPConnection("127.0.0.1", n.ports["proxy"], timeout=10)
        for i in range(total):
            c.request("GET", "/s?stuck=%d&pad=%s" % (i, "p" * 200))
            r = c.getresponse()
            r.read()
            assert r.status == 200
        c.close()
        st, _, body = n.get("metrics", "/apisix/prometheus/metrics")
        written = parse_prom(body.decode())["apigw_access_log_lines_total"]["samples"][0][2]
        assert written < total, "the pipe should be full: %s lines written" % written
        got, buf = 0, b""
        deadline = time.time() + 30
        while got < total and time.time() < deadline:
            try:
                chunk = os.read(rfd, 1 << 16)
            except BlockingIOError:
                time.sleep(0.01)
                continue
            buf += chunk
            *lines, buf = buf.split(b"\n")
            got += sum(1 for x in lines if b"stuck=" in x and json.loads(x)["status"] == 200)
        assert got == total, got
    finally:
        n.stop()
        os.close(rfd)


def test_access_log_stuck_sink_bounded_shutdown():
    """Nobody ever reads the FIFO: SIGTERM still ends the process (the
    writer gets a grace period, then is abandoned with a log line)."""
    d = tempdir()
    fifo = os.path.join(d, "log.fifo")
    os.mkfifo(fifo)
    rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    n = Node("fifo2", extra_args=["--access-log", fifo])
    try:
        n.start()
        res = etcdctl(n, "put", "/apisix/routes/1", json.dumps(
            {"uri": "/s", "upstream": {"type": "roundrobin", "nodes": {E.up.addr: 1}}}))
        assert res.returncode == 0, res.stderr
        wait_for(lambda: n.get("proxy", "/s")[0] == 200, 10, what="route served")
        c = httpclient.HTTPConnection("127.0.0.1", n.ports["proxy"], timeout=10)
        for i in range(800):
            c.request("GET", "/s?pad=%s" % ("p" * 300))
            r = c.getresponse()
            r.read()
            assert r.status == 200
        c.close()
        assert n.stop(timeout=60) == 0, n.log()
        assert "writer stuck" in n.log(), n.log()
    finally:
        os.close(rfd)


def test_access_log_format_string():
    path = os.path.join(E.logdir, "fmt.log")
    fmt = ('$remote_addr - [$time_local] "$request" $status $bytes_sent $request_time '
           '$upstream_addr $upstream_status $route_id "${http_user_agent}" $http_x_missing '
           '$msec $time_iso8601')
    n = Node("fmt", extra_args=["--access-log", path, "--access-log-format", fmt])
    n.start()
    try:
        res = etcdctl(n, "put", "/apisix/routes/9", json.dumps(
            {"uri": "/f", "upstream": {"type": "roundrobin", "nodes": {E.up.addr: 1}}}))
        assert res.returncode == 0, res.stderr
        wait_for(lambda: n.get("proxy", "/f")[0] == 200, 10, what="route served")
        n.get("proxy", "/f?a=1", headers={"User-Agent": 'ua "quoted" \\'})

        def line():
            with open(path) as f:
                return [x for x in f.read().splitlines() if "/f?a=1" in x]
        got = wait_for(line, 10, what="formatted line")[0]
        m = re.match(r'^127\.0\.0\.1 - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] '
                     r'"GET /f\?a=1 HTTP/1\.1" 200 (\d+) (\d+\.\d{3}) '
                     r'127\.0\.0\.1:%d 200 9 "ua \\x22quoted\\x22 \\x5C" - '
                     r'\d+\.\d{3} \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$' % E.up.port, got)
        assert m and int(m.group(1)) > 100, got
    finally:
        assert n.stop() == 0
    bad = Node("badfmt", extra_args=["--access-log", path, "--access-log-format", "$nope"])
    bad.start(wait=False)
    assert bad.wait(30) != 0
    assert "unknown variable $nope" in bad.log(), bad.log()


# ---- metrics

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)')


def scrape():
    st, _, body = E.node.get("metrics", "/apisix/prometheus/metrics")
    assert st == 200
    return parse_prom(body.decode())


def parse_prom(text):
    """Strict text-format parse: {family: {"type", "samples": [(name, labels, v)]}}."""
    fams, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ")
            assert name not in types, "TYPE twice: " + name
            assert typ in ("counter", "gauge", "histogram"), line
            types[name] = typ
            fams[name] = {"type": typ, "samples": []}
            continue
        assert line and not line.startswith("#"), repr(line)
        m = SAMPLE.match(line)
        assert m, "bad sample line: %r" % line
        name, _, lab, val = m.groups()
        labels = {}
        if lab:
            pos = 0
            while pos < len(lab):
                lm = LABEL.match(lab, pos)
                assert lm, "bad labels: %r" % line
                assert lm.group(1) not in labels, line
                labels[lm.group(1)] = lm.group(2)
                pos = lm.end()
        base = name
        for suf in ("_bucket", "_sum", "_count"):
            if name.endswith(suf) and name[:-len(suf)] in types and \
                    types[name[:-len(suf)]] == "histogram":
                base = name[:-len(suf)]
        assert base in fams, "sample before its TYPE: " + name
        v = float(val)
        fams[base]["samples"].append((name, labels, v))
    return fams


def status_count(f, code, route):
    return sum(v for n, l, v in f["apisix_http_status"]["samples"]
               if l["code"] == code and l["route"] == route)


def conn_states(f):
    return {l["state"]: v for n, l, v in f["apisix_nginx_http_current_connections"]["samples"]}


def test_metrics_names_labels_and_values():
    f0 = scrape()
    for name in ("apisix_http_status", "apisix_http_latency", "apisix_bandwidth",
                 "apisix_nginx_http_current_connections", "apisix_node_info"):
        assert name in f0, name
    before = status_count(f0, "200", "1")
    before404 = status_count(f0, "404", "")
    for _ in range(7):
        assert E.node.get("proxy", "/hello")[0] == 200
    for _ in range(3):
        assert E.node.get("proxy", "/no-route")[0] == 404
    f1 = scrape()
    assert status_count(f1, "200", "1") == before + 7
    assert status_count(f1, "404", "") == before404 + 3
    for n, l, v in f1["apisix_http_status"]["samples"]:
        assert set(l) == {"code", "route", "matched_uri", "matched_host", "service",
                          "consumer", "node"}, l
        assert re.match(r"^[1-5]\d\d$", l["code"]) or l["code"] == "499", l
        assert l["route"] in ("", "1", "lb", "real", "slow"), l  # ids of the config only
        if l["node"]:
            ipaddress.ip_address(l["node"])
    st = conn_states(f1)
    assert set(st) == {"active", "reading", "writing", "waiting", "accepted", "handled"}
    assert st["accepted"] >= st["active"] and st["handled"] == st["accepted"], st
    # one connection in the middle of its request head, one idle keep-alive
    half = socket.create_connection(("127.0.0.1", E.node.ports["proxy"]), timeout=10)
    idle = socket.create_connection(("127.0.0.1", E.node.ports["proxy"]), timeout=10)
    try:
        half.sendall(b"GET /hello HTTP/1.1\r\nHost: t\r\n")
        idle.sendall(b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        assert b" 200 " in idle.recv(65536)
        st = wait_for(lambda: (lambda s: s if s["reading"] >= 1 and s["waiting"] >= 1
                               else None)(conn_states(scrape())), 5, what="reading, waiting")
        assert st["active"] >= 2, st
        assert st["active"] == st["reading"] + st["writing"] + st["waiting"], st
    finally:
        half.close()
        idle.close()
    assert f1["apisix_nginx_http_current_connections"]["type"] == "gauge"
    bw = {(l["type"], l["route"]): v for n, l, v in f1["apisix_bandwidth"]["samples"]}
    assert bw[("ingress", "1")] > 0 and bw[("egress", "1")] > 0, bw


def check_histograms(f):
    series = {}
    for n, l, v in f["apisix_http_latency"]["samples"]:
        key = tuple(sorted((k, x) for k, x in l.items() if k != "le"))
        s = series.setdefault(key, {"buckets": [], "sum": None, "count": None})
        if n.endswith("_bucket"):
            s["buckets"].append((float("inf") if l["le"] == "+Inf" else float(l["le"]), v))
        elif n.endswith("_sum"):
            s["sum"] = v
        else:
            s["count"] = v
    assert series
    for key, s in series.items():
        les = [le for le, _ in s["buckets"]]
        assert les == sorted(les) and les[-1] == float("inf"), (key, les)
        vals = [v for _, v in s["buckets"]]
        assert all(a <= b for a, b in zip(vals, vals[1:])), (key, vals)
        assert vals[-1] == s["count"] and s["sum"] >= 0, (key, s)
        assert dict(key)["type"] in ("request", "upstream", "apisix"), key
    return series


def counters(f):
    out = {}
    for name, fam in f.items():
        if fam["type"] in ("counter", "histogram"):
            for n, l, v in fam["samples"]:
                if n.endswith("_sum") and fam["type"] == "histogram":
                    continue
                out[(n, tuple(sorted(l.items())))] = v
    return out


def test_metrics_monotonic_and_histograms_cumulative():
    a = scrape()
    check_histograms(a)
    for i in range(20):
        E.node.get("proxy", "/hello")
        raw(E.pp_port, [v1("192.0.2.%d" % (i + 1)) + get("/only-lb")])
    b = scrape()
    h = check_histograms(b)
    req = [s for k, s in h.items() if dict(k)["type"] == "request" and dict(k)["route"] == "1"]
    assert req and req[0]["count"] >= 20, req
    ca, cb = counters(a), counters(b)
    for k, v in ca.items():
        assert k in cb, "series vanished: %r" % (k,)
        assert cb[k] >= v, "counter went down: %r %s -> %s" % (k, v, cb[k])
    assert any(cb[k] > v for k, v in ca.items())


def test_metrics_cardinality_bounded():
    """450 routes on a one-worker node, each hit once: at most 384 labeled
    series per worker, the rest folded into route="" and counted as
    overflow; no request goes uncounted."""
    import base64
    n = Node("card").start()
    try:
        def b64(x):
            return base64.b64encode(x.encode()).decode()
        c = httpclient.HTTPConnection("127.0.0.1", n.ports["etcd"], timeout=10)
        for i in range(450):
            body = json.dumps({"key": b64("/apisix/routes/c%d" % i), "value": b64(json.dumps(
                {"uri": "/c/%d" % i,
                 "upstream": {"type": "roundrobin", "nodes": {E.up.addr: 1}}}))})
            c.request("POST", "/v3/kv/put", body=body,
                      headers={"Content-Type": "application/json"})
            r = c.getresponse()
            r.read()
            assert r.status == 200, r.status
        c.close()
        wait_for(lambda: n.get("proxy", "/c/449")[0] == 200, 20, what="last route served")
        c = httpclient.HTTPConnection("127.0.0.1", n.ports["proxy"], timeout=10)
        for i in range(450):
            c.request("GET", "/c/%d" % i)
            r = c.getresponse()
            r.read()
            assert r.status == 200
        c.close()
        st, _, body = n.get("metrics", "/apisix/prometheus/metrics")
        f = parse_prom(body.decode())
        ok = [(l, v) for _, l, v in f["apisix_http_status"]["samples"] if l["code"] == "200"]
        labeled = [l for l, v in ok if l["route"]]
        assert 300 <= len(labeled) <= 384, len(labeled)
        assert sum(v for _, v in ok) == 451, ok  # the wait_for's request too
        folded = sum(v for l, v in ok if l["route"] == "")
        over = f["apigw_http_series_overflow_total"]["samples"][0][2]
        assert folded > 0 and over >= folded, (folded, over)
        check_histograms(f)
    finally:
        n.stop()


def main():
    t = Tap()
    setup()
    for fn in (test_pp_v1_sets_remote_addr, test_pp_v2_sets_remote_addr_and_skips_tlvs,
               test_pp_header_split_across_reads, test_pp_keepalive_requests_keep_the_address,
               test_pp_malformed_or_missing_closes, test_pp_header_timeout,
               test_pp_then_request_header_timeout,
               test_pp_from_a_real_haproxy, test_check_rejects_bad_ops_flags,
               test_real_ip_from_trusted_peer, test_real_ip_ignored_from_untrusted_peer,
               test_access_log_json_lines, test_access_log_reopened_on_sigusr1,
               test_access_log_line_of_a_timeout_not_held_back,
               test_access_log_stuck_sink_never_blocks_workers,
               test_access_log_stuck_sink_bounded_shutdown, test_access_log_format_string,
               test_metrics_names_labels_and_values,
               test_metrics_monotonic_and_histograms_cumulative,
               test_metrics_cardinality_bounded):
        t.run(fn)
    assert E.node.stop() == 0
    t.done()


if __name__ == "__main__":
    main()
