"""The proxy on its own (tests/tools/proxy_driver): a config file compiled
and served, reloaded on SIGHUP without dropping a request, a bad object
skipped while the rest serve, weighted round robin across two real
upstreams, and SIGTERM stopping it cleanly with requests in flight."""
import json
import os
import signal
import subprocess
import threading
import time

from harness import EchoUpstream, Tap, free_port, http, tempdir, wait_for

BUILDDIR = os.environ.get("APIGW_BUILDDIR") or os.path.join(
    os.path.dirname(__file__), "..", "..")
DRIVER = os.path.join(BUILDDIR, "tests", "tools", "proxy_driver")


class Driver:
    """proxy_driver with a config file; stopped by PID at the end."""

    def __init__(self, config, workers=2):
        self.dir = tempdir("proxy-driver-")
        self.path = os.path.join(self.dir, "config.json")
        self.port = free_port()
        self.write(config)
        self.proc = subprocess.Popen(
            [DRIVER, "--listen", "127.0.0.1:%d" % self.port, "--workers", str(workers),
             "--config", self.path, "--log", "warn"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("ready port=%d" % self.port), line

    def write(self, config):
        with open(self.path + ".tmp", "w") as f:
            json.dump(config, f)
        os.replace(self.path + ".tmp", self.path)

    def reload(self, config):
        self.write(config)
        self.proc.send_signal(signal.SIGHUP)
        line = self.proc.stdout.readline()
        assert line.startswith("reloaded"), line

    def get(self, path, **kw):
        return http("GET", "127.0.0.1", self.port, path, **kw)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def route(uri, *ups, **extra):
    r = {"uri": uri, "upstream": {"nodes": {u.addr: w for u, w in ups}}}
    r.update(extra)
    return r


def test_serve_and_reload_under_load(a, b):
    d = Driver({"/apisix/routes/1": route("/x/*", (a, 1))})
    try:
        st, _, body = d.get("/x/1")
        assert st == 200 and json.loads(body)["port"] == a.port, (st, body)
        failures, done = [], threading.Event()

        def load():
            while not done.is_set():
                st, _, _ = d.get("/x/load")
                if st != 200:
                    failures.append(st)

        threads = [threading.Thread(target=load) for _ in range(4)]
        for t in threads:
            t.start()
        for i in range(10):
            up = b if i % 2 == 0 else a
            d.reload({"/apisix/routes/1": route("/x/*", (up, 1))})
            wait_for(lambda: json.loads(d.get("/x/r")[2])["port"] == up.port, 5,
                     what="reload effective")
        done.set()
        for t in threads:
            t.join()
        assert failures == [], failures
    finally:
        assert d.stop() == 0


def test_bad_object_skipped(a, b):
    d = Driver({"/apisix/routes/bad": "not an object",
                "/apisix/routes/missing": {"uri": "/m", "upstream_id": "nope"},
                "/apisix/routes/dns": route("/d", (a, 1)) | {
                    "upstream": {"nodes": {"example.invalid:80": 1}}},
                "/apisix/routes/good": route("/good", (a, 1))})
    try:
        assert d.get("/good")[0] == 200
        st, _, body = d.get("/m")
        assert st == 404 and json.loads(body) == {"error_msg": "404 Route Not Found"}
        # a host name without a resolver (the driver has none): no node
        assert d.get("/d")[0] == 502
    finally:
        assert d.stop() == 0
    err = d.proc.stderr.read()
    assert "route bad skipped" in err and "route missing skipped" in err, err


def test_weighted_round_robin(a, b):
    # one worker: the smooth weighted round robin of one balancer is exact
    d = Driver({"/apisix/routes/1": route("/w", (a, 3), (b, 1))}, workers=1)
    try:
        seen = [json.loads(d.get("/w")[2])["port"] for _ in range(8)]
        assert seen.count(a.port) == 6 and seen.count(b.port) == 2, seen
    finally:
        assert d.stop() == 0


class SlowUpstream:
    """Answers every request after 0.5 s (requests in flight at SIGTERM)."""

    def __init__(self):
        import http.server

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                time.sleep(0.5)
                self.send_response(200)
                self.send_header("Content-Length", "4")
                self.end_headers()
                self.wfile.write(b"slow")

            def log_message(self, *args):
                pass

        self.port = free_port()
        self.addr = "127.0.0.1:%d" % self.port
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def test_sigterm_with_requests_in_flight(a, b):
    import http.client
    slow = SlowUpstream()
    d = Driver({"/apisix/routes/1": route("/*", (slow, 1))})
    conns = []
    try:
        for _ in range(4):
            c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=10)
            c.request("GET", "/in-flight")
            conns.append(c)
        time.sleep(0.2)  # read by the workers and forwarded: in flight
        t0 = time.time()
        d.proc.send_signal(signal.SIGTERM)
        statuses = []
        for c in conns:
            r = c.getresponse()
            statuses.append((r.status, r.read()))
            c.close()
        assert statuses == [(200, b"slow")] * 4, statuses
        assert d.proc.wait(timeout=10) == 0
        assert time.time() - t0 < 5
    finally:
        d.stop()
        slow.stop()


def main():
    tap = Tap()
    a, b = EchoUpstream(), EchoUpstream()
    for fn in (test_serve_and_reload_under_load, test_bad_object_skipped,
               test_weighted_round_robin, test_sigterm_with_requests_in_flight):
        tap.run(fn, a, b)
    tap.done()


if __name__ == "__main__":
    main()
