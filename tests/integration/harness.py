"""Integration harness: real apigw processes on 127.0.0.1.

Each Node gets free ports for every listener and a private data dir under a
temporary directory; start() waits until /status/ready answers 200; stop()
and kill() act on the PID this harness started, never by name. Every node
started is stopped at exit, also when a test fails (atexit + signal handler).

Tests print TAP through the Tap class: `tap = Tap(); tap.run(fn)` per case,
`tap.done()` at the end, so automake's TAP driver counts each case.
"""
import atexit
import http.client as httpclient
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import traceback

APIGW = os.environ.get("APIGW_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "apigw")

_live = []          # Nodes with a running process
_tmpdirs = []       # temp dirs to remove at exit
_reserved = set()   # ports handed out in this process


# Ports come from 20000-32767, below Linux's ephemeral range (32768-60999),
# so no outgoing connection of another test can take one between our check
# and the node's bind. Each test process claims a slot of 250 ports with an
# flock held for its lifetime, so parallel test files never share a port.
_PORT_BASE, _SLOT_SIZE, _SLOTS = 20000, 250, 51
_slot = None


def _claim_slot():
    import fcntl
    d = os.path.join(tempfile.gettempdir(), "apigw-test-ports")
    os.makedirs(d, exist_ok=True)
    for i in range(_SLOTS):
        f = open(os.path.join(d, "slot-%d" % i), "a")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            continue
        return i, f  # keep f open: the lock lives as long as this process
    raise RuntimeError("no free port slot (more than %d test processes?)" % _SLOTS)


def free_port():
    """A port free on 127.0.0.1 now, in this process's slot, never handed out
    twice by this process."""
    global _slot
    if _slot is None:
        _slot = _claim_slot()
    base = _PORT_BASE + _slot[0] * _SLOT_SIZE
    for port in range(base, base + _SLOT_SIZE):
        if port in _reserved:
            continue
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            s.close()
        _reserved.add(port)
        return port
    raise RuntimeError("port slot %d exhausted" % _slot[0])


def tempdir(prefix="apigw-test-"):
    d = tempfile.mkdtemp(prefix=prefix)
    _tmpdirs.append(d)
    return d


def run_cli(*args, timeout=20, env=None):
    """Run `apigw args...`; returns CompletedProcess with text output."""
    return subprocess.run([APIGW] + [str(a) for a in args], capture_output=True,
                          text=True, timeout=timeout, env=env)


def _exchange(conn, method, path, body, headers):
    """One request on @conn (closed after); (status, headers lower-cased, body)."""
    try:
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            headers = dict(headers or {})
            headers.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        conn.close()


def http(method, host, port, path, body=None, headers=None, timeout=10):
    """One HTTP request; returns (status, headers dict lower-cased, body bytes)."""
    return _exchange(httpclient.HTTPConnection(host, port, timeout=timeout), method, path,
                     body, headers)


def admin_request(node, key, method, path, body=None, timeout=10):
    """One APISIX Admin API request to @node with admin key @key; @body (a
    dict or list) is sent as JSON. Returns (status, the answer parsed as
    JSON, or its text when it is not JSON, or None when empty)."""
    h = {"X-API-KEY": key}
    data = None
    if body is not None:
        data = json.dumps(body)
        h["Content-Type"] = "application/json"
    st, _, b = http(method, "127.0.0.1", node.ports["admin"], "/apisix/admin" + path,
                    body=data, headers=h, timeout=timeout)
    try:
        return st, json.loads(b) if b else None
    except ValueError:
        return st, b.decode(errors="replace")


def admin_put_ok(node, key, path, body):
    """PUT @body at @path through the Admin API; asserts 200 or 201."""
    st, b = admin_request(node, key, "PUT", path, body)
    assert st in (200, 201), (path, st, b)


def peer_https(method, host, port, path, pki_dir, body=None, headers=None, timeout=10,
               sni="apigw-peer"):
    """One request over the members' mTLS (the node-to-node channel): the
    client certificate and CA of the member whose <data-dir>/pki is @pki_dir
    (None: TLS without a client certificate). Returns as http()."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    if pki_dir is not None:
        ctx.load_verify_locations(os.path.join(pki_dir, "ca.crt"))
        ctx.load_cert_chain(os.path.join(pki_dir, "node.crt"), os.path.join(pki_dir, "node.key"))
        ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        ctx.verify_mode = ssl.CERT_NONE
    conn = httpclient.HTTPConnection(host, port, timeout=timeout)
    # SNI: connect to the address, name the peer.
    conn.sock = ctx.wrap_socket(socket.create_connection((host, port), timeout),
                                server_hostname=sni)
    return _exchange(conn, method, path, body, headers)


def create_token(node, *args):
    """`apigw token create` on @node (through its status listener): the
    token text."""
    r = run_cli("token", "create", "--endpoint", node.addr("status"), *args)
    assert r.returncode == 0, (r.returncode, r.stderr)
    return r.stdout.strip()


def write_token_file(token):
    """A 0600 file holding @token, for `apigw join --token-file`."""
    path = os.path.join(tempdir("apigw-token-"), "token")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return path


class Node:
    """One apigw process. Ports are chosen at construction; the data dir
    persists across stop()/start() so restarts keep state."""

    LISTENERS = ("proxy", "proxy-tls", "admin", "etcd", "raft", "status", "metrics", "control")

    def __init__(self, name="n1", data_dir=None, extra_args=(), cmd="start",
                 log_level="info", workers=1):
        self.name = name
        self.ports = {k: free_port() for k in self.LISTENERS}
        self.data_dir = data_dir or os.path.join(tempdir(), "data")
        self.extra_args = list(extra_args)
        self.cmd = cmd
        self.log_level = log_level
        self.workers = workers
        self.proc = None
        self.log_path = os.path.join(tempdir("apigw-log-"), "%s.log" % name)
        self._log = None

    def addr(self, listener):
        return "127.0.0.1:%d" % self.ports[listener]

    def args(self):
        # "--name" in extra_args as "--name=" (empty): leave the default name.
        name = [] if "--name=" in self.extra_args else ["--name", self.name]
        a = [APIGW, self.cmd] + name + ["--data-dir", self.data_dir,
             "--log-level", self.log_level, "--workers", str(self.workers)]
        for k in self.LISTENERS:
            a += ["--%s-listen" % k, self.addr(k)]
        if not any(x.startswith("--drain-delay") for x in self.extra_args):
            # Tests stop nodes often; those about draining set their own.
            a += ["--drain-delay", "0"]
        return a + [x for x in self.extra_args if x != "--name="]

    def start(self, wait=True, timeout=30):
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args(), stdout=self._log,
                                     stderr=subprocess.STDOUT)
        _live.append(self)
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited with %d during start-up:\n%s" % (
                    self.name, self.proc.returncode, self.log()))
            try:
                st, _, _ = http("GET", "127.0.0.1", self.ports["status"],
                                "/status/ready", timeout=1)
                if st == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("%s not ready after %ss:\n%s" % (
            self.name, timeout, self.log()))

    def signal(self, sig):
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def wait(self, timeout=30):
        """Wait for the process to exit; returns its exit code."""
        try:
            rc = self.proc.wait(timeout=timeout)
        finally:
            self._reap()
        return rc

    def stop(self, timeout=30):
        """SIGTERM and wait; SIGKILL if it does not exit in time."""
        if self.proc is None:
            return None
        self.signal(signal.SIGTERM)
        try:
            return self.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def kill(self):
        """kill -9 and reap."""
        if self.proc is None:
            return
        self.signal(signal.SIGKILL)
        try:
            self.proc.wait(timeout=10)
        finally:
            self._reap()

    def _reap(self):
        if self in _live and (self.proc is None or self.proc.poll() is not None):
            _live.remove(self)
        if self._log is not None and self.proc.poll() is not None:
            self._log.close()
            self._log = None

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-6000:]
        except OSError:
            return ""

    def get(self, listener, path, **kw):
        return http("GET", "127.0.0.1", self.ports[listener], path, **kw)

    def request(self, method, listener, path, body=None, headers=None, **kw):
        return http(method, "127.0.0.1", self.ports[listener], path, body=body,
                    headers=headers, **kw)


def _cleanup():
    for n in list(_live):
        try:
            n.kill()
        except Exception:
            pass
    for d in _tmpdirs:
        shutil.rmtree(d, ignore_errors=True)


atexit.register(_cleanup)


def _on_signal(signum, frame):
    _cleanup()
    sys.exit(128 + signum)


signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGINT, _on_signal)


def wait_for(pred, timeout=10, interval=0.05, what="condition"):
    """Poll pred() until it returns a truthy value; returns it or raises."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = pred()
            if last:
                return last
        except Exception as e:  # noqa: BLE001 - report the last failure
            last = e
        time.sleep(interval)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


class Tap:
    """Minimal TAP producer: one `ok`/`not ok` line per case."""

    def __init__(self):
        self.n = 0
        self.failed = 0

    def run(self, fn, *args):
        self.n += 1
        name = fn.__name__
        try:
            fn(*args)
        except Exception:  # noqa: BLE001 - any failure fails the case
            self.failed += 1
            print("not ok %d - %s" % (self.n, name))
            for line in traceback.format_exc().splitlines():
                print("# " + line)
            # what the nodes still running said last: the cause is often there
            for n in list(_live):
                tail = n.log().splitlines()[-25:]
                if tail:
                    print("# --- last lines of %s's log ---" % getattr(n, "name", "node"))
                    for line in tail:
                        print("#   " + line)
        else:
            print("ok %d - %s" % (self.n, name))
        sys.stdout.flush()

    def skip(self, fn, why):
        self.n += 1
        print("ok %d - %s # SKIP %s" % (self.n, fn.__name__, why))
        sys.stdout.flush()

    def done(self):
        print("1..%d" % self.n)
        sys.stdout.flush()
        _cleanup()
        sys.exit(1 if self.failed else 0)


class EchoUpstream:
    """A threaded HTTP/1.1 upstream on 127.0.0.1 that answers every request
    with JSON describing it: {"port", "method", "path", "headers", "body"}.
    Started in this test process; stopped by stop() or at exit."""

    def __init__(self, port=None):
        import http.server
        import threading

        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # headers and body are two writes: without this, Nagle holds
            # the body for the proxy's delayed ACK (40 ms per response)
            disable_nagle_algorithm = True

            def _answer(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                outer.hits += 1
                out = json.dumps({
                    "port": outer.port, "method": self.command, "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body.decode(errors="replace")}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer

            def log_message(self, *args):
                pass

        self.hits = 0
        self.port = port or free_port()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        _upstreams.append(self)

    @property
    def addr(self):
        return "127.0.0.1:%d" % self.port

    def stop(self):
        if self in _upstreams:
            _upstreams.remove(self)
            self.server.shutdown()
            self.server.server_close()


_upstreams = []
atexit.register(lambda: [u.stop() for u in list(_upstreams)])


def etcdctl(node, *args, timeout=20, input=None):
    """Run the real etcdctl (Debian etcd-client) against a node's etcd API."""
    env = dict(os.environ, ETCDCTL_API="3")
    return subprocess.run(["etcdctl", "--endpoints=" + node.addr("etcd"),
                           "--command-timeout=10s"] + [str(a) for a in args],
                          capture_output=True, text=True, timeout=timeout, env=env,
                          input=input)
