"""TLS on the control-plane listeners (--admin-tls-cert/-key,
--status-tls-cert/-key, --metrics-tls-cert/-key; lib/httpd.c over
lib/tlsbio.c): the Admin API, /status and the Prometheus scrape with
curl --cacert; TLS 1.3 seen by openssl s_client, TLS 1.1 and a CBC suite
refused (the proxy's policy, lib/tlspolicy.c); plain HTTP on a TLS port
answered 400 in clear and closed; a garbage ClientHello, random bytes and a
client that trickles a handshake past the deadline closed, counted in
apigw_listener_tls_failures_total, and the node keeps serving; bad flags
refused with a clear message. The proxy's TLS listener has the same 10 s
handshake deadline (apigw_tls_handshakes_total{result="failed"})."""
import json
import os
import socket
import subprocess
import time

import tlsutil
from harness import Node, Tap, run_cli, wait_for

ca = None
CRT = KEY = None
KEYFILE = None
node = None
ADMIN_KEY = "test-listener-tls-admin-key-0123"


def curl(listener, path, *extra, key=True):
    """curl over TLS to @listener of the node, trusting the test CA.
    Returns (exit code, HTTP status or 0, body)."""
    url = "https://localhost:%d%s" % (node.ports[listener], path)
    cmd = ["curl", "-sS", "--max-time", "20", "--cacert", ca.cert, "-o", "-",
           "-w", "\n%{http_code}", url]
    if key:
        cmd += ["-H", "X-API-KEY: " + ADMIN_KEY]
    r = subprocess.run(cmd + list(extra), capture_output=True, text=True, timeout=30)
    body, _, code = r.stdout.rpartition("\n")
    return r.returncode, int(code or 0), body


def s_client(port, *args):
    r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port,
                        "-CAfile", ca.cert, "-servername", "localhost"] + list(args),
                       input="", capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout + r.stderr


def failures():
    rc, st, body = curl("metrics", "/apisix/prometheus/metrics", key=False)
    assert rc == 0 and st == 200, (rc, st, body)
    out = {}
    for line in body.splitlines():
        if line.startswith("apigw_listener_tls_failures_total{"):
            name = line.split('"')[1]
            out[name] = float(line.rsplit(" ", 1)[1])
    return out


def raw(port, data, wait=5.0):
    """Send @data on a new connection; return (bytes answered, closed by the
    server within @wait seconds)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=wait)
    got = b""
    try:
        s.sendall(data)
        deadline = time.time() + wait
        while time.time() < deadline:
            try:
                chunk = s.recv(4096)
            except ConnectionResetError:
                return got, True
            except socket.timeout:
                return got, False
            if not chunk:
                return got, True
            got += chunk
        return got, False
    finally:
        s.close()


def setup():
    global ca, CRT, KEYFILE, node
    ca = tlsutil.CA()
    _, _, CRT, KEYFILE = ca.issue(["localhost"])
    tls = []
    for what in ("admin", "status", "metrics"):
        tls += ["--%s-tls-cert" % what, CRT, "--%s-tls-key" % what, KEYFILE]
    node = Node("ltls", extra_args=tls + ["--admin-key", ADMIN_KEY])
    node.start(wait=False)
    wait_for(lambda: curl("status", "/status/ready", key=False)[1] == 200, 30,
             what="/status/ready over TLS")


def test_flags_validated():
    r = run_cli("start", "--admin-tls-key", KEYFILE, "--check")
    assert r.returncode == 2 and "needs --admin-tls-cert" in r.stderr, r.stderr
    r = run_cli("start", "--metrics-tls-cert", "/nonexistent.pem", "--check")
    assert r.returncode == 2 and "--metrics-tls-cert" in r.stderr, r.stderr
    # a key that is not the certificate's: the node refuses to start, saying why
    _, _, _, other_key = ca.issue(["other"])
    bad = Node("ltls-bad", extra_args=["--status-tls-cert", CRT, "--status-tls-key",
                                       other_key])
    bad.start(wait=False)
    assert bad.wait(30) != 0
    assert "--status-tls-cert" in bad.log() and "mismatch" in bad.log(), bad.log()


def test_admin_api_over_tls():
    rc, st, body = curl("admin", "/apisix/admin/routes")
    assert rc == 0 and st == 200, (rc, st, body)
    route = {"uri": "/tls-admin", "upstream": {"nodes": {"127.0.0.1:9": 1}}}
    rc, st, body = curl("admin", "/apisix/admin/routes/1", "-X", "PUT", "-H",
                        "Content-Type: application/json", "-d", json.dumps(route))
    assert rc == 0 and st in (200, 201), (rc, st, body)
    rc, st, body = curl("admin", "/apisix/admin/routes/1")
    assert st == 200 and json.loads(body)["value"]["uri"] == "/tls-admin", body
    rc, st, _ = curl("admin", "/apisix/admin/routes", key=False)
    assert rc == 0 and st == 401, st
    # keep-alive: the second request reuses the TLS connection
    url = "https://localhost:%d/apisix/admin/routes" % node.ports["admin"]
    r = subprocess.run(["curl", "-sS", "--max-time", "20", "--cacert", ca.cert, "-H",
                        "X-API-KEY: " + ADMIN_KEY, "-o", "/dev/null", "-o", "/dev/null",
                        "-w", "%{http_code} %{num_connects}\n", url, url],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stdout.split("\n")[:2] == ["200 1", "200 0"], r


def test_status_and_metrics_over_tls():
    rc, st, body = curl("status", "/status", key=False)
    assert rc == 0 and st == 200 and json.loads(body)["status"] == "ok", body
    rc, st, body = curl("metrics", "/apisix/prometheus/metrics", key=False)
    assert rc == 0 and st == 200 and "apisix_node_info" in body, body[:200]
    assert set(failures()) == {"admin", "status", "metrics"}
    # not trusting the CA: curl refuses the certificate
    r = subprocess.run(["curl", "-sS", "--max-time", "10",
                        "https://localhost:%d/status" % node.ports["status"]],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 60, (r.returncode, r.stderr)


def test_protocols():
    for listener in ("admin", "status", "metrics"):
        rc, out = s_client(node.ports[listener], "-brief")
        assert rc == 0 and "Protocol version: TLSv1.3" in out, out
        assert "Verification: OK" in out, out
    rc, out = s_client(node.ports["admin"], "-brief", "-tls1_2")
    assert rc == 0 and "Protocol version: TLSv1.2" in out, out
    assert "GCM" in out or "CHACHA20" in out, out
    # below the floor, or a CBC suite: the handshake fails
    rc, out = s_client(node.ports["admin"], "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0")
    assert rc != 0, out
    rc, out = s_client(node.ports["admin"], "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA")
    assert rc != 0, out


def test_plain_http_refused():
    port = node.ports["admin"]
    before = failures().get("admin", 0)
    got, closed = raw(port, b"GET /apisix/admin/routes HTTP/1.1\r\nHost: x\r\n\r\n")
    assert closed, got
    assert got.startswith(b"HTTP/1.1 400 ") and b"HTTPS port" in got, got
    r = subprocess.run(["curl", "-sS", "--max-time", "10",
                        "http://127.0.0.1:%d/status" % node.ports["status"]],
                       capture_output=True, text=True, timeout=30)
    assert "400" not in r.stderr and "HTTPS port" in r.stdout, (r.stdout, r.stderr)
    wait_for(lambda: failures().get("admin", 0) >= before + 1, 5, what="counted")


def test_garbage_closed():
    port = node.ports["admin"]
    before = failures().get("admin", 0)
    # a handshake record whose ClientHello is garbage
    body = os.urandom(200)
    hello = b"\x01" + len(body).to_bytes(3, "big") + body
    rec = b"\x16\x03\x01" + len(hello).to_bytes(2, "big") + hello
    got, closed = raw(port, rec)
    assert closed, "a garbage ClientHello must close the connection"
    assert not got.startswith(b"HTTP"), got
    # random bytes, a record flood with a bad version, an oversized length
    for data in (os.urandom(4096), b"\x16\x03\x09\x00\x05hello" * 50,
                 b"\x16\x03\x01\xff\xff" + b"\x01" * 1000):
        got, closed = raw(port, data)
        assert closed, data[:8]
    wait_for(lambda: failures().get("admin", 0) >= before + 4, 5, what="4 failures counted")
    rc, st, _ = curl("admin", "/apisix/admin/routes")
    assert rc == 0 and st == 200, "the listener must keep serving"
    assert node.running


def trickle_until_closed(port):
    """Send a ClientHello one byte every 2 s; seconds until the server closed
    (None if it did not within the hello's 51 bytes)."""
    hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    t0 = time.time()
    try:
        s.settimeout(2)
        for b in hello:
            try:
                s.sendall(bytes([b]))
                if s.recv(1) == b"":
                    return time.time() - t0
            except socket.timeout:
                continue
            except (BrokenPipeError, ConnectionResetError):
                return time.time() - t0
    finally:
        s.close()
    return None


def test_handshake_deadline():
    """A client that sends a byte of its ClientHello every 2 s: the deadline
    (10 s from the accept) is not pushed back by each byte."""
    before = failures().get("status", 0)
    closed_after = trickle_until_closed(node.ports["status"])
    assert closed_after is not None and 8 <= closed_after < 25, closed_after
    wait_for(lambda: failures().get("status", 0) >= before + 1, 5, what="counted")
    assert "handshake timeout" in node.log(), node.log()[-2000:]


def proxy_tls_failed():
    rc, st, body = curl("metrics", "/apisix/prometheus/metrics", key=False)
    for line in body.splitlines():
        if line.startswith('apigw_tls_handshakes_total{result="failed"}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_proxy_handshake_deadline():
    """The proxy's TLS listener: the same trickle is closed by its own 10 s
    handshake deadline (before: only the 60 s idle timeout bounded it)."""
    before = proxy_tls_failed()
    closed_after = trickle_until_closed(node.ports["proxy-tls"])
    assert closed_after is not None and 8 <= closed_after < 25, closed_after
    wait_for(lambda: proxy_tls_failed() >= before + 1, 5, what="counted")
    assert "handshake timeout" in node.log().split("TLS handshake from")[-1], node.log()[-2000:]


def test_clean_stop():
    rc = node.stop()
    assert rc == 0, (rc, node.log())


setup()
tap = Tap()
tap.run(test_flags_validated)
tap.run(test_admin_api_over_tls)
tap.run(test_status_and_metrics_over_tls)
tap.run(test_protocols)
tap.run(test_plain_http_refused)
tap.run(test_garbage_closed)
tap.run(test_handshake_deadline)
tap.run(test_proxy_handshake_deadline)
tap.run(test_clean_stop)
tap.done()
