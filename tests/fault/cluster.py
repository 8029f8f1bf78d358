"""apigw nodes in network namespaces (tests/fault/netns.py), the clients'
helpers (etcd JSON gateway, status) and a test upstream in the hub.

Each node listens on its own namespace's address with the default ports
(every namespace has its own port space); status, etcd and proxy are
reached from the hub through the bridge. A node's PID is the apigw process
itself (`ip netns exec` execs it); stop() and kill() act on that PID only.
"""
import base64
import http.client as httpclient
import http.server as httpserver
import json
import os
import signal
import subprocess
import tempfile
import threading
import time

import netns

APIGW = os.environ.get("APIGW_BIN") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "apigw")
PORTS = {"proxy": 9080, "admin": 9180, "etcd": 2379, "raft": 2380, "status": 7085,
         "metrics": 9091}
_tmp = tempfile.mkdtemp(prefix="apigw-fault-")
# libraft's own leaks (see tests/integration/lsan-raft.supp) must not fail a
# node's clean exit under the sanitizer build.
_SUPP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration",
                     "lsan-raft.supp")
if os.path.exists(_SUPP):
    os.environ["LSAN_OPTIONS"] = "suppressions=%s" % os.path.abspath(_SUPP)


def b64(s):
    if isinstance(s, str):
        s = s.encode()
    return base64.b64encode(s).decode()


def unb64(s):
    return base64.b64decode(s or "").decode(errors="replace")


def http(method, ip, port, path, body=None, headers=None, timeout=10):
    """One request on a fresh connection: (status, headers, body bytes)."""
    conn = httpclient.HTTPConnection(ip, port, timeout=timeout)
    try:
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            headers = dict(headers or {}, **{"Content-Type": "application/json"})
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


class FNode:
    """One apigw process in namespace net.ns(name)."""

    def __init__(self, net, name, extra_args=(), env=None):
        self.net = net
        self.name = name
        self.ip = net.add_host(name)
        self.data_dir = os.path.join(_tmp, name)
        self.log_path = os.path.join(_tmp, name + ".log")
        self.extra_args = list(extra_args)
        self.env = env
        self.proc = None
        self.cmd = "start"
        self.join_args = []      # --peer/--join-secret, for `join` only

    def addr(self, listener):
        return "%s:%d" % (self.ip, PORTS[listener])

    def args(self):
        a = [APIGW, self.cmd, "--name", self.name, "--data-dir", self.data_dir,
             "--log-level", "info", "--workers", "1"]
        if "--drain-delay" not in self.extra_args:
            a += ["--drain-delay", "0"]
        for k in PORTS:
            a += ["--%s-listen" % k, self.addr(k)]
        a += ["--admin-allow", netns.SUBNET + ".0/24"]
        # The clients' namespace (hub) is off-host for the node: trust the
        # test network on the etcd API too, as an operator would.
        a += ["--etcd-trusted-cidr", netns.SUBNET + ".0/24"]
        return a + self.extra_args + (self.join_args if self.cmd == "join" else [])

    def start(self, wait=True, timeout=30):
        env = dict(os.environ, **(self.env or {}))
        with open(self.log_path, "ab") as log:
            self.proc = self.net.popen(self.name, self.args(), stdout=log,
                                       stderr=subprocess.STDOUT, env=env)
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited with %d:\n%s" % (
                    self.name, self.proc.returncode, self.log()))
            try:
                if self.get("status", "/status/ready", timeout=1)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("%s not ready after %ss:\n%s" % (self.name, timeout, self.log()))

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        if self.running:
            os.kill(self.proc.pid, signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(timeout=10)

    def stop(self, timeout=30):
        if not self.running:
            return self.proc.returncode if self.proc else None
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def log(self, n=6000):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-n:]
        except OSError:
            return ""

    def get(self, listener, path, timeout=10):
        return http("GET", self.ip, PORTS[listener], path, timeout=timeout)

    def status(self, timeout=2):
        st, _, body = self.get("status", "/apigw/status", timeout=timeout)
        if st != 200:
            raise RuntimeError("status %d" % st)
        return json.loads(body)

    def rss_kib(self):
        try:
            with open("/proc/%d/status" % self.proc.pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return None

    def admin(self, method, path, body=None, key=None, timeout=10):
        """(status, parsed body) of an Admin API call with the cluster's key."""
        st, _, data = http(method, self.ip, PORTS["admin"], "/apisix/admin" + path, body=body,
                           headers={"X-API-KEY": key}, timeout=timeout)
        try:
            return st, json.loads(data or b"{}")
        except ValueError:
            return st, {"raw": data.decode(errors="replace")}

    # ---- etcd JSON gateway ----
    def etcd(self, method, body, timeout=10):
        """(http status, parsed body) of POST /v3/<method>."""
        st, _, data = http("POST", self.ip, PORTS["etcd"], "/v3/" + method, body=body,
                           timeout=timeout)
        try:
            return st, json.loads(data or b"{}")
        except ValueError:
            return st, {"raw": data.decode(errors="replace")}

    def put(self, key, value, timeout=10):
        return self.etcd("kv/put", {"key": b64(key), "value": b64(value)}, timeout)

    def range(self, key, prefix=False, serializable=True, timeout=10):
        """(status, {key: (value, version, mod_revision)})."""
        body = {"key": b64(key), "serializable": serializable}
        if prefix:
            end = key[:-1] + chr(ord(key[-1]) + 1)
            body["range_end"] = b64(end)
        st, r = self.etcd("kv/range", body, timeout)
        if st != 200:
            return st, r
        out = {}
        for kv in r.get("kvs", []):
            out[unb64(kv["key"])] = (unb64(kv.get("value")), int(kv.get("version", 0)),
                                     int(kv.get("mod_revision", 0)))
        return st, out

    def cas(self, key, old, new, timeout=10):
        """Txn: if value == old (or key absent when old is None) then put new.
        (status, succeeded or error body)."""
        if old is None:
            cmp = {"key": b64(key), "result": "EQUAL", "target": "CREATE",
                   "create_revision": 0}
        else:
            cmp = {"key": b64(key), "result": "EQUAL", "target": "VALUE", "value": b64(old)}
        st, r = self.etcd("kv/txn", {"compare": [cmp], "success": [
            {"request_put": {"key": b64(key), "value": b64(new)}}]}, timeout)
        if st != 200:
            return st, r
        return st, bool(r.get("succeeded", False))


def leader_of(nodes):
    for n in nodes:
        if not n.running:
            continue
        try:
            if n.status()["state"] == "leader":
                return n
        except (OSError, RuntimeError, ValueError):
            continue
    return None


def wait_for(pred, timeout=10, interval=0.05, what="condition"):
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


def admin_key_of(node):
    with open(os.path.join(node.data_dir, "admin.key")) as f:
        return f.read().strip()


def secret_of(node):
    with open(os.path.join(node.data_dir, "join-secret")) as f:
        return f.read().strip()


def start_cluster(net, n=3, prefix="n", extra_args=(), env=None):
    """Bootstrap <prefix>1, join the others through the newest member; wait
    until all n are voters (n <= 5)."""
    args = list(extra_args) + ["--voters", str(min(n, 5))]
    first = FNode(net, prefix + "1", args, env).start()
    wait_for(lambda: first.status()["state"] == "leader", 20, 0.05, "bootstrap")
    secret = secret_of(first)
    nodes = [first]
    for i in range(2, n + 1):
        nd = FNode(net, "%s%d" % (prefix, i), args, env)
        nd.cmd = "join"
        nd.join_args = ["--peer", nodes[-1].addr("etcd"), "--join-secret", secret]
        nodes.append(nd.start())
    wait_for(lambda: sum(1 for m in first.status()["members"] if m["role"] == "voter")
             == min(n, 5), 30, 0.1, "cluster formation")
    for nd in nodes[1:]:
        nd.cmd = "start"  # restarts use the identity in the data dir
    return nodes


class Upstream:
    """Threaded HTTP/1.1 upstream in the hub answering 200 "ok <port>"."""

    def __init__(self, port):
        outer = self

        class H(httpserver.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = 65536               # head and body leave in one write
            disable_nagle_algorithm = True

            def do_GET(self):
                body = b"ok %d" % outer.port
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.port = port
        self.server = httpserver.ThreadingHTTPServer((netns.HUB_IP, port), H)
        self.server.daemon_threads = True
        self.server.handle_error = lambda request, client_address: None
        self.server.request_queue_size = 256
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def addr(self):
        return "%s:%d" % (netns.HUB_IP, self.port)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def route_json(uri, up):
    return json.dumps({"uri": uri, "upstream": {"type": "roundrobin",
                                                "nodes": {up.addr: 1}}})
