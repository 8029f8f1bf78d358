"""ssls objects and TLS on one real apigw node, with a CA made here by the
openssl CLI: the Admin API refuses a key that does not match its
certificate, an expired certificate and bad PEM with their messages; it
stores private keys sealed by the node's keyring (never in clear in the
LMDB file, never in clear in a GET, even for a key written in clear through
the etcd API); certs/keys pairs (RSA + ECDSA); etcd-API writes get the same
checks. TLS termination on --proxy-tls-listen: SNI selection (exact,
wildcard, fallback, unknown -> unrecognized_name), TLS 1.2 and 1.3, ALPN,
session resumption, $scheme/$ssl_server_name in route vars and
X-Forwarded-Proto, garbage and malformed ClientHellos counted and survived,
certificate rotation under a request loop with no failed handshake."""
import json
import os
import socket
import ssl
import stat
import subprocess
import threading
import time
from http.client import HTTPSConnection

import tlsutil
from harness import (EchoUpstream, Node, Tap, admin_request, create_token, etcdctl, free_port,
                     http, wait_for, write_token_file)

KEY = "test-tls-admin-key-0123456789"
node = None
ca = None
PP_PORT = None
ALOG = None


def adm(method, path, body=None):
    return admin_request(node, KEY, method, path, body)


def refused(body, needle):
    st, b = adm("PUT", "/ssls/bad", body)
    assert st == 400 and needle in b.get("error_msg", ""), (needle, st, b)
    assert adm("GET", "/ssls/bad")[0] == 404


def key_line(pem):
    """A distinctive line of a PEM's base64 body."""
    return [l for l in pem.splitlines() if l and not l.startswith("-----")][1]


def store_files_contain(needle):
    for root, _, files in os.walk(node.data_dir):
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                if needle.encode() in fh.read():
                    return os.path.join(root, f)
    return None


def test_keyring_file():
    path = os.path.join(node.data_dir, "keyring")
    st = os.stat(path)
    assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    with open(path) as f:
        lines = f.read().split()
    assert len(lines) == 2 and len(lines[0]) == 8 and len(lines[1]) == 64, lines


def test_sealed_at_rest_and_in_answers():
    cert, key, _, _ = ca.issue(["a.test", "*.wild.test"])
    st, b = adm("PUT", "/ssls/s1", {"snis": ["a.test", "*.wild.test"], "cert": cert,
                                    "key": key, "labels": {"env": "t"},
                                    "ssl_protocols": ["TLSv1.2", "TLSv1.3"]})
    assert st == 201, (st, b)
    assert b["value"]["key"].startswith("gwenc1:"), b
    assert "PRIVATE KEY" not in json.dumps(b)
    st, b = adm("GET", "/ssls/s1")
    assert st == 200 and b["value"]["key"].startswith("gwenc1:"), b
    assert b["value"]["cert"] == cert and b["value"]["snis"] == ["a.test", "*.wild.test"]
    st, b = adm("GET", "/ssls")
    assert st == 200 and "PRIVATE KEY" not in json.dumps(b), b
    r = etcdctl(node, "get", "/apisix/ssls/s1", "--print-value-only")
    assert r.returncode == 0 and "PRIVATE KEY" not in r.stdout, r.stdout
    # the LMDB file (and everything else in the data dir) never holds it
    time.sleep(0.2)
    assert store_files_contain(key_line(key)) is None
    # GET then PUT back: the sealed key is kept as it is and still checked
    value = adm("GET", "/ssls/s1")[1]["value"]
    for k in ("create_time", "update_time", "id"):
        value.pop(k, None)
    st, b = adm("PUT", "/ssls/s1", value)
    assert st == 200 and b["value"]["key"] == value["key"], (st, b)
    # PATCH of a label re-checks the object with its sealed key
    st, b = adm("PATCH", "/ssls/s1", {"labels": {"env": "u"}})
    assert st == 200 and b["value"]["labels"] == {"env": "u"}, (st, b)
    # a sealed key that does not authenticate is refused
    bad = dict(value)
    bad["key"] = value["key"][:-8] + ("A" * 8 if not value["key"].endswith("A" * 8) else "B" * 8)
    refused(bad, "failed to decrypt previous encrypted key")
    assert adm("DELETE", "/ssls/s1")[0] == 200


def test_refusals():
    cert, key, _, _ = ca.issue(["m.test"])
    cert2, key2, _, _ = ca.issue(["n.test"], kind="rsa")
    refused({"sni": "m.test", "cert": cert, "key": key2}, "key does not match cert")
    exp, ekey, _, _ = ca.issue(["e.test"], not_before="20200101000000Z",
                               not_after="20200201000000Z")
    refused({"sni": "e.test", "cert": exp, "key": ekey},
            "cert expired at 2020-02-01T00:00:00Z")
    fut, fkey, _, _ = ca.issue(["f.test"], not_before="20990101000000Z",
                               not_after="20990201000000Z")
    refused({"sni": "f.test", "cert": fut, "key": fkey}, "cert not valid before 2099-01-01")
    junk = "-----BEGIN CERTIFICATE-----\n" + "A" * 200 + "\n-----END CERTIFICATE-----\n"
    refused({"sni": "m.test", "cert": junk, "key": key},
            "failed to parse cert: PEM_read_bio_X509_AUX() failed")
    refused({"sni": "m.test", "cert": cert, "key": junk.replace("CERTIFICATE", "PRIVATE KEY")},
            "failed to parse key: PEM_read_bio_PrivateKey() failed")
    refused({"sni": "m.test", "cert": cert, "key": key, "certs": [cert2]},
            "mismatched number of certs and keys")
    refused({"sni": "m.test", "cert": cert, "key": key, "certs": [cert2], "keys": [key]},
            "failed to handle cert-key pair[1]: key does not match cert")
    refused({"sni": "m.test", "cert": cert, "key": key, "type": "other"},
            "invalid configuration: ")


def test_rsa_and_ecdsa_pairs():
    ec, eck, _, _ = ca.issue(["p.test"], kind="ec")
    rsa, rsak, _, _ = ca.issue(["p.test"], kind="rsa")
    st, b = adm("PUT", "/ssls/p", {"sni": "p.test", "cert": ec, "key": eck, "certs": [rsa],
                                   "keys": [rsak]})
    assert st == 201, (st, b)
    assert all(k.startswith("gwenc1:") for k in [b["value"]["key"]] + b["value"]["keys"]), b
    assert store_files_contain(key_line(rsak)) is None
    assert adm("DELETE", "/ssls/p")[0] == 200


def test_etcd_writes_checked():
    cert, key, _, _ = ca.issue(["x.test"])
    _, key2, _, _ = ca.issue(["y.test"])
    r = etcdctl(node, "put", "/apisix/ssls/x", json.dumps({"sni": "x.test", "cert": cert,
                                                           "key": key2}))
    assert r.returncode != 0 and "/apisix/ssls/x is not a valid ssl: key does not match cert" \
        in r.stderr, r.stderr
    # a key in clear is accepted (APISIX does) and never shown in clear by GET
    r = etcdctl(node, "put", "/apisix/ssls/x", json.dumps({"id": "x", "sni": "x.test",
                                                           "cert": cert, "key": key}))
    assert r.returncode == 0, r.stderr
    st, b = adm("GET", "/ssls/x")
    assert st == 200 and b["value"]["key"].startswith("gwenc1:"), b
    st, b = adm("GET", "/ssls")
    assert st == 200 and "PRIVATE KEY" not in json.dumps(b), b
    assert adm("DELETE", "/ssls/x")[0] == 200


# ---- termination ---------------------------------------------------------

up = None


def tls_port():
    return node.ports["proxy-tls"]


def handshake(sni, version=None, alpn=None):
    """Connect with @sni (None: no SNI); returns (peer CN, negotiated
    version, ALPN) or raises ssl.SSLError."""
    ctx = ssl.create_default_context(cafile=ca.cert)
    ctx.check_hostname = False
    if version:
        ctx.minimum_version = ctx.maximum_version = version
    if alpn:
        ctx.set_alpn_protocols(alpn)
    with socket.create_connection(("127.0.0.1", tls_port()), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=sni) as s:
            cert = s.getpeercert()
            cn = dict(x[0] for x in cert["subject"])["commonName"]
            return cn, s.version(), s.selected_alpn_protocol()


def get(sni, path, conn=None):
    ctx = ssl.create_default_context(cafile=ca.cert)
    ctx.check_hostname = False
    c = conn or HTTPSConnection("127.0.0.1", tls_port(), context=ctx, timeout=10)
    if conn is None:
        c._tunnel_host = None
        c.sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", tls_port()), timeout=10),
                                 server_hostname=sni)
    c.request("GET", path, headers={"Host": sni})
    r = c.getresponse()
    return r.status, r.read(), c


def tls_failures():
    st, _, b = node.get("metrics", "/apisix/prometheus/metrics")
    for line in b.decode().splitlines():
        if line.startswith('apigw_tls_handshakes_total{result="failed"}'):
            return int(float(line.split()[-1]))
    return None


def put_ssl(id_, names, kind="ec"):
    cert, key, _, _ = ca.issue(names, kind=kind)
    st, b = adm("PUT", "/ssls/" + id_, {"snis": names, "cert": cert, "key": key})
    assert st in (200, 201), (st, b)
    return cert


def wait_serving(sni, cn):
    def ok():
        try:
            return handshake(sni)[0] == cn
        except (ssl.SSLError, OSError):
            return False
    wait_for(ok, timeout=10, what="%s served" % sni)


def test_sni_selection():
    put_ssl("exact", ["a.test"])
    put_ssl("wild", ["*.wild.test"], kind="rsa")
    wait_serving("a.test", "a.test")
    wait_serving("x.wild.test", "*.wild.test")
    assert handshake("x.wild.test")[0] == "*.wild.test"
    assert handshake("y.x.wild.test")[0] == "*.wild.test"
    assert handshake("A.TEST")[0] == "a.test"
    before = tls_failures()
    for sni in ("unknown.test", "wild.test", None):
        try:
            handshake(sni)
            raise AssertionError("%s: handshake should fail" % sni)
        except ssl.SSLError as e:
            assert "UNRECOGNIZED_NAME" in str(e).upper(), (sni, e)
    r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % tls_port(),
                        "-servername", "nope.test"], input="", capture_output=True, text=True,
                       timeout=20)
    assert "unrecognized name" in r.stderr, r.stderr
    wait_for(lambda: tls_failures() >= before + 4, what="failures counted")
    # the fallback name answers unknown and absent SNIs once it exists
    put_ssl("fb", ["fallback.test"])
    wait_serving("other.test", "fallback.test")
    assert handshake(None)[0] == "fallback.test"
    assert handshake("a.test")[0] == "a.test"


def test_versions_alpn_resumption():
    # ALPN: h2 first (HTTP/2 downstream, test_h2.py), then http/1.1, else none
    cn, v, alpn = handshake("a.test", version=ssl.TLSVersion.TLSv1_2, alpn=["http/1.1", "h2"])
    assert (cn, v, alpn) == ("a.test", "TLSv1.2", "h2"), (cn, v, alpn)
    cn, v, alpn = handshake("a.test", version=ssl.TLSVersion.TLSv1_2, alpn=["http/1.1"])
    assert (cn, v, alpn) == ("a.test", "TLSv1.2", "http/1.1"), (cn, v, alpn)
    cn, v, alpn = handshake("a.test", version=ssl.TLSVersion.TLSv1_3, alpn=["spdy/3.1"])
    assert (v, alpn) == ("TLSv1.3", None), (v, alpn)
    try:
        handshake("a.test", version=ssl.TLSVersion.TLSv1_1)
        raise AssertionError("TLS 1.1 accepted")
    except ssl.SSLError:
        pass
    # the policy's ciphers also on the context the SNI picked: no CBC suite
    # (testssl.sh found them offered when only the base context had them)
    for suite, ok in (("ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384", False),
                      ("ECDHE-ECDSA-AES128-GCM-SHA256", True)):
        r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % tls_port(),
                            "-servername", "a.test", "-tls1_2", "-cipher", suite],
                           input="", capture_output=True, text=True, timeout=20)
        assert (r.returncode == 0) == ok, (suite, r.stdout[-1500:], r.stderr[-500:])
    sess = os.path.join(ca.dir, "sess.pem")
    base = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % tls_port(), "-servername",
            "a.test", "-tls1_2"]
    r = subprocess.run(base + ["-sess_out", sess], input="", capture_output=True, text=True,
                       timeout=20)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(base + ["-sess_in", sess], input="", capture_output=True, text=True,
                       timeout=20)
    assert "Reused, TLSv1.2" in r.stdout, r.stdout[-2000:]


def test_requests_over_tls():
    st, b = adm("PUT", "/routes/tls", {"uri": "/tls", "upstream": {
        "type": "roundrobin", "nodes": {up.addr: 1}},
        "vars": [["scheme", "==", "https"], ["ssl_server_name", "==", "a.test"]]})
    assert st in (200, 201), (st, b)

    def routed():
        try:
            return get("a.test", "/tls")[0] == 200
        except (ssl.SSLError, OSError):
            return False
    wait_for(routed, what="route over TLS")
    st, body, c = get("a.test", "/tls")
    assert st == 200, st
    echo = json.loads(body)
    assert echo["headers"]["x-forwarded-proto"] == "https", echo
    # keep-alive: more requests on the same connection
    for _ in range(5):
        st, body, _ = get("a.test", "/tls", conn=c)
        assert st == 200
    c.close()
    # the access log has the TLS variables
    def logged():
        with open(ALOG) as f:
            return "https a.test TLSv1.3 /tls 200" in f.read()
    wait_for(logged, what="access log line with the TLS variables")
    # the vars: another SNI, or plain HTTP, does not match
    assert get("x.wild.test", "/tls")[0] == 404
    assert node.get("proxy", "/tls")[0] == 404
    # curl, as a user would, with ALPN h2 offered
    r = subprocess.run(["curl", "-sS", "--http2", "--cacert", ca.cert, "--resolve",
                        "a.test:%d:127.0.0.1" % tls_port(), "-w", "%{http_version}",
                        "-o", "/dev/null", "https://a.test:%d/tls" % tls_port()],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 0 and r.stdout == "2", (r.stdout, r.stderr)


def test_proxy_protocol_before_tls():
    """A "proxy_protocol" TLS listener takes the PROXY header in clear (here
    split over two writes) before the ClientHello: the client address is
    the header's; a ClientHello without the header is refused."""
    ctx = ssl.create_default_context(cafile=ca.cert)
    ctx.check_hostname = False
    raw = socket.create_connection(("127.0.0.1", PP_PORT), timeout=10)
    raw.sendall(b"PROXY TCP4 192.0.2.7 127.0.0.1 5555 ")
    time.sleep(0.05)
    raw.sendall(b"443\r\n")
    s = ctx.wrap_socket(raw, server_hostname="a.test")
    s.sendall(b"GET /tls HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), data[:300]
    assert json.loads(body)["headers"]["x-real-ip"] == "192.0.2.7", body
    raw = socket.create_connection(("127.0.0.1", PP_PORT), timeout=10)
    try:
        ctx.wrap_socket(raw, server_hostname="a.test")
        raise AssertionError("TLS without the PROXY header accepted")
    except (ssl.SSLError, OSError):
        pass
    finally:
        raw.close()


def test_garbage_survived():
    before = tls_failures()
    # the first, second and last fail at once (counted); the truncated ones
    # wait for bytes that never come and end with the client's EOF
    payloads = [b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", b"\x00" * 3000,
                # a handshake record header announcing more than it carries
                b"\x16\x03\x01\x40\x00\x01\x00\x3f\xfc\x03\x03" + b"\x00" * 40,
                # a ClientHello with a truncated extensions block
                b"\x16\x03\x01\x00\x30\x01\x00\x00\x2c\x03\x03" + b"\x11" * 32 +
                b"\x00\x00\x02\x13\x01\x01\x00\xff\xff",
                b"\x16" * 20000]
    for p in payloads:
        with socket.create_connection(("127.0.0.1", tls_port()), timeout=10) as s:
            try:
                s.sendall(p)
                s.shutdown(socket.SHUT_WR)
                s.settimeout(10)
                while s.recv(4096):
                    pass
            except OSError:
                pass
    wait_for(lambda: tls_failures() >= before + 3, what="garbage counted")
    assert node.running
    assert handshake("a.test")[0] == "a.test"


def test_rotation_under_load():
    stop = threading.Event()
    counts = {"ok": 0, "fail": 0, "errors": []}

    def loop():
        while not stop.is_set():
            try:
                st, _, c = get("a.test", "/tls")
                c.close()
                if st == 200:
                    counts["ok"] += 1
                else:
                    counts["fail"] += 1
                    counts["errors"].append(st)
            except Exception as e:  # noqa: BLE001 - every failure counts
                counts["fail"] += 1
                counts["errors"].append(repr(e))
    before = tls_failures()
    threads = [threading.Thread(target=loop) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for i in range(6):
            put_ssl("exact", ["a.test"], kind="rsa" if i % 2 else "ec")
            time.sleep(0.4)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert counts["fail"] == 0 and counts["ok"] > 10, (counts["ok"], counts["fail"],
                                                       counts["errors"][:5])
    assert tls_failures() == before


def test_tls_listener_flags():
    r = subprocess.run([os.environ.get("APIGW_BIN", "apigw"), "start", "--check",
                        "--data-dir", ca.dir, "--proxy-tls-listen", "127.0.0.1:1,nope"],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode != 0 and "--proxy-tls-listen" in r.stderr, r.stderr


class TLSUpstream:
    """A threaded HTTPS/1.1 server on 127.0.0.1 with a certificate of the test
    CA for "up.test"; with @need_client it requires a client certificate of
    the CA. Answers JSON {"sni", "client", "path"}."""

    def __init__(self, need_client=False):
        import http.server
        outer = self
        self.snis = []
        cert, key, self.cert_path, self.key_path = ca.issue(["up.test"])
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert_path, self.key_path)
        if need_client:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(ca.cert)
        ctx.sni_callback = lambda sock, name, c: outer.snis.append(name) and None

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_GET(self):
                if self.path.endswith("/close"):
                    # a body delimited by the end of the session: close_notify
                    self.wfile.write(b"HTTP/1.0 200 OK\r\n\r\nuntil-close")
                    self.wfile.flush()
                    self.close_connection = True
                    try:
                        self.connection.unwrap()
                    except (ssl.SSLError, OSError):
                        pass
                    return
                peer = self.connection.getpeercert()
                client = dict(x[0] for x in peer["subject"])["commonName"] if peer else None
                out = json.dumps({"sni": outer.snis[-1] if outer.snis else None,
                                  "client": client, "path": self.path}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self):
                s, addr = self.socket.accept()
                try:
                    return ctx.wrap_socket(s, server_side=True), addr
                except (ssl.SSLError, OSError):
                    s.close()
                    raise

            def handle_error(self, request, client_address):
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def route_to(rid, upstream):
    st, b = adm("PUT", "/routes/" + rid, {"uris": ["/" + rid, "/" + rid + "/*"],
                                          "upstream": upstream})
    assert st in (200, 201), (st, b)

    def answered():
        st, _, b = node.get("proxy", "/" + rid)
        return st != 404
    wait_for(answered, what="route %s" % rid)


def test_https_upstream():
    u = TLSUpstream()
    try:
        nodes = {"127.0.0.1:%d" % u.port: 1}
        # no verification (APISIX's default): any certificate, SNI from the Host
        route_to("u1", {"scheme": "https", "nodes": nodes, "pass_host": "rewrite",
                        "upstream_host": "up.test"})
        for _ in range(3):
            st, _, b = node.get("proxy", "/u1")
            assert st == 200, (st, b)
            assert json.loads(b) == {"sni": "up.test", "client": None, "path": "/u1"}, b
        # verified against the CA bundle (the test CA, through SSL_CERT_FILE)
        route_to("u2", {"scheme": "https", "nodes": nodes, "pass_host": "rewrite",
                        "upstream_host": "up.test", "tls": {"verify": True}})
        st, _, b = node.get("proxy", "/u2")
        assert st == 200, (st, b)
        route_to("u3", {"scheme": "https", "nodes": nodes, "pass_host": "rewrite",
                        "upstream_host": "other.test", "tls": {"verify": True}})
        st, _, b = node.get("proxy", "/u3")
        assert st == 502, (st, b)
        # a response that ends with the TLS session (close_notify)
        route_to("u5", {"scheme": "https", "nodes": nodes})
        st, _, b = node.get("proxy", "/u5/close")
        assert st == 200 and b == b"until-close", (st, b)
        # a plain HTTP upstream stays plain
        route_to("u4", {"nodes": {up.addr: 1}})
        assert node.get("proxy", "/u4")[0] == 200
    finally:
        u.stop()


def test_https_upstream_client_certificate():
    u = TLSUpstream(need_client=True)
    try:
        nodes = {"127.0.0.1:%d" % u.port: 1}
        route_to("m1", {"scheme": "https", "nodes": nodes})
        st, _, b = node.get("proxy", "/m1")
        assert st == 502, (st, b)
        cert, key, _, _ = ca.issue(["gateway.test"], client=True)
        st, b = adm("PUT", "/ssls/cc", {"type": "client", "sni": "gateway.test", "cert": cert,
                                        "key": key})
        assert st == 201, (st, b)
        route_to("m2", {"scheme": "https", "nodes": nodes,
                        "tls": {"client_cert_id": "cc", "verify": False}})

        def ok():
            st, _, b = node.get("proxy", "/m2")
            return st == 200 and json.loads(b)["client"] == "gateway.test"
        wait_for(ok, what="mTLS to the upstream")
        # a client object is never served to TLS clients by SNI: the
        # fallback answers its name
        assert handshake("gateway.test")[0] == "fallback.test"
        # inline client certificates are refused (not served yet)
        st, b = adm("PUT", "/upstreams/inl", {"scheme": "https", "nodes": nodes,
                                              "tls": {"client_cert": cert, "client_key": key}})
        assert st == 400 and "tls.client_cert_id" in b["error_msg"], (st, b)
    finally:
        u.stop()


def test_joined_member_gets_the_keyring():
    """A node joining with a token gets the cluster's keyring with its
    enrollment: it opens the keys sealed by the first node and serves the
    same certificates."""
    token = create_token(node, "--uses", "1")
    n2 = Node("tls2", cmd="join", extra_args=["--peer", node.addr("etcd"), "--token-file",
                                              write_token_file(token), "--admin-key", KEY])
    n2.start(wait=False)
    try:
        n2.wait_ready(timeout=60)
        with open(os.path.join(node.data_dir, "keyring")) as a, \
                open(os.path.join(n2.data_dir, "keyring")) as b:
            assert a.read() == b.read()
        assert stat.S_IMODE(os.stat(os.path.join(n2.data_dir, "keyring")).st_mode) == 0o600

        def served():
            ctx = ssl.create_default_context(cafile=ca.cert)
            try:
                with socket.create_connection(("127.0.0.1", n2.ports["proxy-tls"]),
                                              timeout=5) as raw:
                    with ctx.wrap_socket(raw, server_hostname="a.test"):
                        return True
            except (ssl.SSLError, OSError):
                return False
        wait_for(served, timeout=20, what="the joined member serves a.test")
        # a key sealed on the new member opens on the first one
        cert, key, _, _ = ca.issue(["j.test"])
        st, _, b = http("PUT", "127.0.0.1", n2.ports["admin"], "/apisix/admin/ssls/j",
                        body=json.dumps({"sni": "j.test", "cert": cert, "key": key}),
                        headers={"X-API-KEY": KEY})
        assert st == 201, (st, b)
        wait_serving("j.test", "j.test")
    finally:
        n2.stop()


def main():
    global node, ca, up, PP_PORT
    tap = Tap()
    PP_PORT = free_port()
    ca = tlsutil.CA()
    up = EchoUpstream()
    global ALOG
    ALOG = os.path.join(ca.dir, "access.log")
    node = Node("tls1", extra_args=["--admin-key", KEY, "--access-log", ALOG,
                                    "--access-log-format",
                                    "$scheme $ssl_server_name $ssl_protocol $uri $status",
                                    "--proxy-tls-fallback-sni", "fallback.test",
                                    "--proxy-tls-listen", "127.0.0.1:%d,proxy_protocol" % PP_PORT])
    # the node's CA bundle for upstream verification: the test CA
    old = os.environ.get("SSL_CERT_FILE")
    os.environ["SSL_CERT_FILE"] = ca.cert
    try:
        node.start()
    finally:
        if old is None:
            del os.environ["SSL_CERT_FILE"]
        else:
            os.environ["SSL_CERT_FILE"] = old
    try:
        for fn in (test_keyring_file, test_sealed_at_rest_and_in_answers, test_refusals,
                   test_rsa_and_ecdsa_pairs, test_etcd_writes_checked, test_sni_selection,
                   test_versions_alpn_resumption, test_requests_over_tls,
                   test_proxy_protocol_before_tls, test_garbage_survived,
                   test_rotation_under_load, test_tls_listener_flags,
                   test_https_upstream, test_https_upstream_client_certificate,
                   test_joined_member_gets_the_keyring):
            tap.run(fn)
    finally:
        node.stop()
    tap.done()


if __name__ == "__main__":
    main()
