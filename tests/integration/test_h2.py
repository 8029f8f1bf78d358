"""HTTP/2 downstream on one real apigw node (proxy/h2.c): curl --http2 over
TLS (ALPN h2, a CA made here with the openssl CLI) and
--http2-prior-knowledge on a plain listener (--proxy-h2c on); h2load with 10
connections x 10 streams, every answer 2xx; plugins apply to streams
(key-auth 401, limit-count headers); request bodies with and without a
content-length reach the upstream whole; a large response crosses the
flow-control windows; a rapid-reset flood (HEADERS then RST_STREAM, over
and over, on raw sockets) ends with GOAWAY ENHANCE_YOUR_CALM; a
CONTINUATION flood and malformed frames end their connection with a GOAWAY;
after each the node still answers; the HTTP/2 metrics count it all."""
import hashlib
import json
import os
import re
import socket
import ssl
import struct
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import tlsutil
from harness import Node, Tap, free_port, http, wait_for

KEY = "test-h2-admin-key-0123456789"
node = None
ca = None
up = None

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
HEADERS, DATA, RST, SETTINGS, PING, GOAWAY, CONT, WINDOW = 1, 0, 3, 4, 6, 7, 9, 8
END_STREAM, END_HEADERS, ACK = 1, 4, 1
ENHANCE_YOUR_CALM = 11


class Upstream:
    """HTTP/1.1 upstream: GET /big/N answers N bytes; a request with a body
    (Content-Length or chunked) answers its length and sha256; anything
    else answers JSON with the method, path and headers."""

    def __init__(self):
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def _body(self):
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    out = b""
                    while True:
                        n = int(self.rfile.readline().split(b";")[0], 16)
                        if n == 0:
                            self.rfile.readline()
                            return out, True
                        out += self.rfile.read(n)
                        self.rfile.readline()
                n = int(self.headers.get("Content-Length") or 0)
                return (self.rfile.read(n) if n else b""), False

            def _answer(self):
                body, chunked = self._body()
                if self.path.startswith("/slow/"):
                    time.sleep(float(self.path[6:]))
                if self.path.startswith("/big/"):
                    out = b"x" * int(self.path[5:])
                else:
                    out = json.dumps({
                        "method": self.command, "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "len": len(body), "chunked": chunked,
                        "sha": hashlib.sha256(body).hexdigest()}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(out)

            do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _answer

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 256  # 100 streams connect at once
            daemon_threads = True

        self.port = free_port()
        self.server = Server(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def adm(method, path, body=None):
    st, _, b = http(method, "127.0.0.1", node.ports["admin"], "/apisix/admin" + path,
                    body=json.dumps(body) if body is not None else None,
                    headers={"X-API-KEY": KEY, "Content-Type": "application/json"})
    return st, json.loads(b) if b else None


def tls_url(path):
    return "https://h2.test:%d%s" % (node.ports["proxy-tls"], path)


def h2c_url(path):
    return "http://127.0.0.1:%d%s" % (node.ports["proxy"], path)


def curl(url, *args, data=None):
    """(HTTP version, status, headers text, body bytes) of one curl request."""
    hdr = os.path.join(ca.dir, "hdr.txt")
    base = ["curl", "-sS", "--max-time", "20", "-D", hdr, "-o", "-", "-w",
            "\n%{http_version} %{http_code}"]
    if url.startswith("https"):
        base += ["--http2", "--cacert", ca.cert, "--resolve",
                 "h2.test:%d:127.0.0.1" % node.ports["proxy-tls"]]
    else:
        base += ["--http2-prior-knowledge"]
    r = subprocess.run(base + list(args) + [url], input=data, capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    body, _, tail = r.stdout.rpartition(b"\n")
    ver, code = tail.decode().split()
    with open(hdr) as f:
        return ver, int(code), f.read().lower(), body


def metric(name):
    st, _, b = node.get("metrics", "/apisix/prometheus/metrics")
    assert st == 200
    total = 0
    for line in b.decode().splitlines():
        if line.startswith(name):
            total += float(line.split()[-1])
    return total


def healthy():
    ver, st, _, _ = curl(h2c_url("/echo"))
    assert (ver, st) == ("2", 200), (ver, st)
    assert node.get("proxy", "/echo")[0] == 200  # HTTP/1 on the same listener


# ---- raw frames


def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", sid) + payload


def get_block(path=b"/echo"):
    """HPACK: :method GET, :scheme http, :path @path, :authority 127.0.0.1
    (literal fields without indexing, no Huffman)."""
    return b"\x82\x86\x04" + bytes([len(path)]) + path + b"\x01\x09127.0.0.1"


def raw_h2c():
    s = socket.create_connection(("127.0.0.1", node.ports["proxy"]), timeout=10)
    s.sendall(PREFACE + frame(SETTINGS, 0, 0))
    return s


def read_until_goaway(s, limit=8 << 20):
    """The error code of the GOAWAY the server sends before closing, or
    None if it closed without one. Reads at most @limit bytes."""
    buf, code, got = b"", None, 0
    while got < limit:
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not chunk:
            break
        got += len(chunk)
        buf += chunk
        while len(buf) >= 9:
            n = int.from_bytes(buf[:3], "big")
            if len(buf) < 9 + n:
                break
            if buf[3] == GOAWAY:
                code = struct.unpack(">I", buf[13:17])[0]
            buf = buf[9 + n:]
    s.close()
    return code


# ---- tests


def test_routes():
    nodes = {"127.0.0.1:%d" % up.port: 1}
    for rid, body in (
            ("echo", {"uri": "/echo", "upstream": {"type": "roundrobin", "nodes": nodes}}),
            ("big", {"uri": "/big/*", "upstream": {"type": "roundrobin", "nodes": nodes}}),
            ("slow", {"uri": "/slow/*", "upstream": {"type": "roundrobin", "nodes": nodes}}),
            ("body", {"uri": "/body", "upstream": {"type": "roundrobin", "nodes": nodes}}),
            ("auth", {"uri": "/auth", "plugins": {"key-auth": {}},
                      "upstream": {"type": "roundrobin", "nodes": nodes}}),
            ("limit", {"uri": "/limit",
                       "plugins": {"limit-count": {"count": 1000, "time_window": 60}},
                       "upstream": {"type": "roundrobin", "nodes": nodes}})):
        st, b = adm("PUT", "/routes/" + rid, body)
        assert st in (200, 201), (st, b)
    cert, key, _, _ = ca.issue(["h2.test"])
    st, b = adm("PUT", "/ssls/h2", {"sni": "h2.test", "cert": cert, "key": key})
    assert st in (200, 201), (st, b)
    wait_for(lambda: node.get("proxy", "/limit")[0] == 200, what="routes served")

    def tls_served():
        r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert",
                            ca.cert, "--resolve", "h2.test:%d:127.0.0.1" % node.ports["proxy-tls"],
                            tls_url("/echo")], capture_output=True, text=True, timeout=20)
        return r.stdout == "200"
    wait_for(tls_served, what="the certificate served")


def test_curl_tls_and_h2c():
    for url in (tls_url("/echo?a=1"), h2c_url("/echo?a=1")):
        ver, st, hdrs, body = curl(url, "-H", "X-Test: yes", "-H", "Cookie: a=1",
                                   "-H", "Cookie: b=2")
        assert (ver, st) == ("2", 200), (url, ver, st, body)
        echo = json.loads(body)
        h = echo["headers"]
        assert echo["method"] == "GET" and echo["path"] == "/echo?a=1", echo
        assert h["x-test"] == "yes" and h["cookie"] == "a=1; b=2", h
        assert h["x-forwarded-proto"] == ("https" if url.startswith("https") else "http"), h
        assert h["host"] == ("h2.test:%d" % node.ports["proxy-tls"]
                             if url.startswith("https") else
                             "127.0.0.1:%d" % node.ports["proxy"]), h
        assert "content-type: application/json" in hdrs, hdrs
    # no route: 404 from the proxy itself, over HTTP/2
    ver, st, _, body = curl(h2c_url("/nothing"))
    assert (ver, st) == ("2", 404) and b"Route Not Found" in body, (ver, st, body)
    # HEAD: the head only
    ver, st, hdrs, body = curl(h2c_url("/big/1000"), "-I")  # (-I: the head on stdout too)
    assert (ver, st) == ("2", 200) and body.endswith(b"\r\n\r\n"), (ver, st, body)
    assert "content-length: 1000" in hdrs, hdrs


def test_plugins_apply():
    ver, st, _, body = curl(h2c_url("/auth"))
    assert (ver, st) == ("2", 401) and b"Missing API key" in body, (ver, st, body)
    ver, st, _, body = curl(tls_url("/auth"))
    assert (ver, st) == ("2", 401), (ver, st, body)
    ver, st, hdrs, _ = curl(tls_url("/limit"))
    assert (ver, st) == ("2", 200), (ver, st)
    assert "x-ratelimit-limit: 1000" in hdrs and "x-ratelimit-remaining:" in hdrs, hdrs


def test_request_bodies():
    small = b"hello h2"
    big = os.urandom(700 * 1024)  # more than the stream and connection windows
    for url in (tls_url("/body"), h2c_url("/body")):
        # with a content-length
        ver, st, _, body = curl(url, "--data-binary", "@-", data=small)
        echo = json.loads(body)
        assert (ver, st, echo["method"]) == ("2", 200, "POST"), (ver, st, echo)
        assert echo["len"] == len(small) and not echo["chunked"], echo
        assert echo["sha"] == hashlib.sha256(small).hexdigest(), echo
        # without one (a stdin upload): chunked to the upstream
        ver, st, _, body = curl(url, "-T", "-", data=big)
        echo = json.loads(body)
        assert (ver, st, echo["method"]) == ("2", 200, "PUT"), (ver, st, echo)
        assert echo["len"] == len(big) and echo["chunked"], echo
        assert echo["sha"] == hashlib.sha256(big).hexdigest(), echo


def test_large_response():
    n = 5 * 1024 * 1024 + 7
    for url in (tls_url("/big/%d" % n), h2c_url("/big/%d" % n)):
        ver, st, _, body = curl(url)
        assert (ver, st, len(body)) == ("2", 200, n), (ver, st, len(body))
        assert body == b"x" * n


def h2load(url):
    r = subprocess.run(["h2load", "-n", "1000", "-c", "10", "-m", "10", url],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    m = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", r.stdout)
    assert m and m.groups() == ("1000", "0", "0", "0"), r.stdout
    assert re.search(r"requests: 1000 total, 1000 started, 1000 done, 1000 succeeded, "
                     r"0 failed, 0 errored", r.stdout), r.stdout


def test_h2load_many_streams():
    # TLS: h2load sends no SNI for an IP: the fallback name answers
    h2load("https://127.0.0.1:%d/echo" % node.ports["proxy-tls"])
    h2load(h2c_url("/echo"))
    h2load(h2c_url("/big/20000"))
    assert metric("apigw_http2_streams_total") >= 3000


def test_rapid_reset_flood():
    before = metric("apigw_http2_calm_total")
    s = raw_h2c()
    burst = b""
    for i in range(1000):
        sid = 1 + 2 * i
        burst += frame(HEADERS, END_HEADERS | END_STREAM, sid, get_block())
        burst += frame(RST, 0, sid, struct.pack(">I", 8))  # CANCEL
    try:
        s.sendall(burst)
    except (BrokenPipeError, ConnectionResetError):
        pass
    assert read_until_goaway(s) == ENHANCE_YOUR_CALM
    assert metric("apigw_http2_calm_total") == before + 1
    assert metric('apigw_http2_resets_total{by="client"}') >= 200
    healthy()


def test_continuation_flood():
    s = raw_h2c()
    block = get_block()
    msg = frame(HEADERS, 0, 1, block[:3])
    for i in range(200):
        msg += frame(CONT, 0, 1, b"")
    try:
        s.sendall(msg + frame(CONT, END_HEADERS, 1, block[3:]))
    except (BrokenPipeError, ConnectionResetError):
        pass
    assert read_until_goaway(s) is not None
    healthy()


def test_malformed_frames():
    cases = [
        frame(SETTINGS, 0, 0, b"\x00\x03\x00"),             # length not a multiple of 6
        frame(HEADERS, END_HEADERS | END_STREAM, 2, get_block()),  # even stream id
        frame(HEADERS, END_HEADERS | END_STREAM, 1, b"\xff\xff\xff\xff\xff"),  # bad HPACK
        frame(PING, 0, 0, b"\x00" * 3),                     # short PING
        frame(WINDOW, 0, 0, struct.pack(">I", 0)),          # zero increment
        frame(DATA, 0, 7, b"data on an idle stream"),
        frame(5, END_HEADERS, 1, b"\x00\x00\x00\x02" + get_block()),  # PUSH_PROMISE
        frame(DATA, END_STREAM, 0, b"x"),                   # DATA on stream 0
        b"\x00" * 64,                                      # frame of type 0 on stream 0
    ]
    for i, bad in enumerate(cases):
        s = raw_h2c()
        try:
            s.sendall(bad)
        except (BrokenPipeError, ConnectionResetError):
            pass
        code = read_until_goaway(s)
        assert code is not None and code != 0, (i, code)
    # a bad preface: closed at once
    s = socket.create_connection(("127.0.0.1", node.ports["proxy"]), timeout=10)
    s.sendall(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n" + frame(SETTINGS, 0, 0))
    assert read_until_goaway(s) is None
    assert metric("apigw_http2_errors_total") >= len(cases)
    healthy()


def test_ping_settings_flood():
    s = raw_h2c()
    flood = (frame(PING, 0, 0, b"12345678") + frame(SETTINGS, 0, 0)) * 20000
    try:
        s.sendall(flood)  # never reading the acknowledgements
    except (BrokenPipeError, ConnectionResetError):
        pass
    s.close()
    healthy()


def test_drain_goaway():
    """SIGTERM with a stream in flight: GOAWAY (NO_ERROR) at once, the
    stream still completes, then the connection closes and the node exits
    cleanly."""
    s = raw_h2c()
    s.sendall(frame(HEADERS, END_HEADERS | END_STREAM, 1, get_block(b"/slow/1")))
    time.sleep(0.3)
    node.signal(15)
    buf, seen = b"", []
    while True:
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not chunk:
            break
        buf += chunk
        while len(buf) >= 9 and len(buf) >= 9 + int.from_bytes(buf[:3], "big"):
            n = int.from_bytes(buf[:3], "big")
            ftype, flags, sid = buf[3], buf[4], struct.unpack(">I", buf[5:9])[0] & 0x7fffffff
            if ftype == GOAWAY:
                seen.append(("goaway", struct.unpack(">I", buf[9:13])[0] & 0x7fffffff,
                             struct.unpack(">I", buf[13:17])[0]))
            elif ftype == HEADERS and sid == 1:
                seen.append(("headers", buf[9] == 0x88))  # :status 200, indexed
            elif ftype == DATA and sid == 1 and flags & END_STREAM:
                seen.append(("end",))
            buf = buf[9 + n:]
    s.close()
    assert seen and seen[0] == ("goaway", 1, 0), seen
    assert ("headers", True) in seen and ("end",) in seen, seen
    assert seen.index(("headers", True)) > 0, seen
    assert node.wait(30) == 0
    assert "Sanitizer" not in node.log(), node.log()


def test_stalled_stream_reset():
    """Per-stream send timeout: a client that keeps one stream's window shut
    while other streams progress gets that stream reset (RST_STREAM CANCEL)
    after the send timeout (1.5 s in this node), the connection and its other
    streams going on. Before, only the connection's timer existed and the
    progress of the other streams kept the stalled one forever."""
    os.environ["APIGW_TEST_PROXY_SEND_TIMEOUT_MS"] = "1500"
    try:
        n = Node("h2st", extra_args=["--admin-key", KEY, "--proxy-h2c", "on"]).start()
    finally:
        del os.environ["APIGW_TEST_PROXY_SEND_TIMEOUT_MS"]
    try:
        nodes = {"127.0.0.1:%d" % up.port: 1}
        for rid, uri in (("echo", "/echo"), ("big", "/big/*")):
            st, _, b = http("PUT", "127.0.0.1", n.ports["admin"], "/apisix/admin/routes/" + rid,
                            body=json.dumps({"uri": uri, "upstream": {"nodes": nodes}}),
                            headers={"X-API-KEY": KEY, "Content-Type": "application/json"})
            assert st in (200, 201), (st, b)
        wait_for(lambda: n.get("proxy", "/echo")[0] == 200, what="routes served")
        s = socket.create_connection(("127.0.0.1", n.ports["proxy"]), timeout=10)
        # the connection's window wide open; stream 1 keeps its 64 KiB
        s.sendall(PREFACE + frame(SETTINGS, 0, 0) +
                  frame(WINDOW, 0, 0, struct.pack(">I", 1 << 30)) +
                  frame(HEADERS, END_HEADERS | END_STREAM, 1, get_block(b"/big/1000000")))
        s.settimeout(0.2)
        buf, rst, goaway, answered, sid = b"", {}, None, set(), 3
        deadline, next_at = time.time() + 12, 0
        while time.time() < deadline and 1 not in rst:
            # another stream every 200 ms, answered in full: the connection progresses
            if time.time() >= next_at:
                s.sendall(frame(HEADERS, END_HEADERS | END_STREAM, sid, get_block()))
                sid += 2
                next_at = time.time() + 0.2
            try:
                chunk = s.recv(1 << 20)
            except socket.timeout:
                chunk = b""
            if chunk == b"" and goaway is not None:
                break
            buf += chunk
            while len(buf) >= 9:
                ln = int.from_bytes(buf[:3], "big")
                if len(buf) < 9 + ln:
                    break
                ftype, flags = buf[3], buf[4]
                fsid = int.from_bytes(buf[5:9], "big") & 0x7fffffff
                if ftype == RST:
                    rst[fsid] = struct.unpack(">I", buf[9:13])[0]
                elif ftype == GOAWAY:
                    goaway = struct.unpack(">I", buf[13:17])[0]
                elif ftype == DATA and flags & END_STREAM:
                    answered.add(fsid)
                buf = buf[9 + ln:]
        s.close()
        assert rst.get(1) == 8, (rst, goaway)  # CANCEL
        assert goaway is None, goaway
        assert len(answered) >= 3, answered
        st, _, body = n.get("metrics", "/apisix/prometheus/metrics")
        assert "apigw_http2_stream_send_timeouts_total 1" in body.decode(), body[-2000:]
        assert n.stop() == 0
    finally:
        if n.running:
            n.kill()


def main():
    global node, ca, up
    tap = Tap()
    ca = tlsutil.CA()
    up = Upstream()
    node = Node("h2", extra_args=["--admin-key", KEY, "--proxy-h2c", "on",
                                  "--proxy-tls-fallback-sni", "h2.test"])
    node.start()
    try:
        for fn in (test_routes, test_curl_tls_and_h2c, test_plugins_apply,
                   test_request_bodies, test_large_response, test_h2load_many_streams,
                   test_rapid_reset_flood, test_continuation_flood, test_malformed_frames,
                   test_ping_settings_flood, test_stalled_stream_reset, test_drain_goaway):
            tap.run(fn)
    finally:
        node.stop()
        up.stop()
    tap.done()


if __name__ == "__main__":
    main()
