"""sd_notify without systemd (node/systemd.c): the test plays the service
manager. It binds a unix datagram socket, starts a node with NOTIFY_SOCKET
(and WATCHDOG_USEC) pointing at it, and reads what the node says:
READY=1 only once /status/ready answers 200, STATUS= with the raft state and
the served revision (updated when a route changes it), WATCHDOG=1 pings
that stop while the control loop is blocked (APIGW_TEST_LOOP_STALL_MS, the
test hook), RELOADING=1 then READY=1 around SIGHUP, STOPPING=1 on SIGTERM.
"""
import os
import signal
import socket
import threading
import time

from harness import Node, Tap, tempdir, wait_for

KEY = "test-admin-key-0123456789"


class Manager:
    """A NOTIFY_SOCKET listener: every datagram with its arrival time."""

    def __init__(self):
        self.path = os.path.join(tempdir("apigw-sd-"), "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.msgs = []  # (time, {key: value})
        self.lock = threading.Lock()
        self.on_ready = None  # called in the reader thread at READY=1
        self.ready_check = []
        self.running = True
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        while self.running:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            kv = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            if kv.get("READY") == "1" and self.on_ready is not None:
                self.ready_check.append(self.on_ready())
            with self.lock:
                self.msgs.append((time.time(), kv))

    def having(self, key, value=None):
        with self.lock:
            return [(t, kv) for t, kv in self.msgs
                    if key in kv and (value is None or kv[key] == value)]

    def close(self):
        self.running = False
        self.thread.join(2)
        self.sock.close()


def start_node(mgr, env, extra=(), cls=Node):
    """A node started with @env added to ours; not waited for."""
    node = cls("sd", extra_args=["--admin-key", KEY, "--drain-delay", "1s"] + list(extra))
    saved = dict(os.environ)
    os.environ.update(env, NOTIFY_SOCKET=mgr.path)
    try:
        node.start(wait=False)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return node


def ready_status(node):
    try:
        return node.get("status", "/status/ready", timeout=2)[0]
    except OSError as e:
        return repr(e)


def test_ready_status_watchdog_stop():
    mgr = Manager()
    node = start_node(mgr, {"WATCHDOG_USEC": "400000"})
    # When READY=1 arrives, readiness must already answer 200.
    mgr.on_ready = lambda: ready_status(node)
    try:
        node.wait_ready(30)
        wait_for(lambda: mgr.having("READY", "1"), 10, what="READY=1")
        assert mgr.ready_check[0] == 200, mgr.ready_check
        ready = mgr.having("READY", "1")[0][1]
        assert ready.get("STATUS", "").startswith("leader, voter, serving revision "), ready
        rev0 = int(ready["STATUS"].rsplit(" ", 1)[1])

        # a route raises the served revision: a new STATUS= follows
        st, _, body = node.request("PUT", "admin", "/apisix/admin/routes/1",
                                   body={"uri": "/sd", "upstream": {
                                       "type": "roundrobin",
                                       "nodes": {"127.0.0.1:9": 1}}},
                                   headers={"X-API-KEY": KEY})
        assert st in (200, 201), (st, body)

        def newer():
            for _, kv in mgr.having("STATUS"):
                s = kv["STATUS"]
                if s.startswith("leader, voter, serving revision ") and \
                        int(s.rsplit(" ", 1)[1]) > rev0:
                    return s
            return None
        wait_for(newer, 10, what="a STATUS= with a newer revision")

        # pings every 200 ms (half of 400 ms): several within two seconds
        n0 = len(mgr.having("WATCHDOG", "1"))
        time.sleep(2)
        n1 = len(mgr.having("WATCHDOG", "1"))
        assert n1 - n0 >= 4, (n0, n1)

        # SIGTERM: STOPPING=1 at once (the drain delay is 1 s), exit 0
        t0 = time.time()
        node.signal(signal.SIGTERM)
        wait_for(lambda: mgr.having("STOPPING", "1"), 10, what="STOPPING=1")
        assert mgr.having("STOPPING", "1")[0][0] - t0 < 1.0
        assert node.wait(30) == 0, node.log()
        # READY=1 once: no second READY without a reload
        assert len(mgr.having("READY", "1")) == 1, mgr.msgs
    finally:
        node.stop()
        mgr.close()


def test_watchdog_stops_when_the_loop_stalls():
    """The pings come from the control loop: blocked for 1.5 s, no ping for
    1.5 s (systemd with WatchdogSec=300ms would have restarted the node)."""
    mgr = Manager()
    node = start_node(mgr, {"WATCHDOG_USEC": "300000", "APIGW_TEST_LOOP_STALL_MS": "1500"})
    try:
        node.wait_ready(30)
        wait_for(lambda: len(mgr.having("WATCHDOG", "1")) >= 5, 15, what="pings resume")
        times = [t for t, _ in mgr.having("WATCHDOG", "1")]
        gaps = [b - a for a, b in zip(times, times[1:])]
        assert max(gaps) >= 1.4, gaps
        assert "blocking the control loop" in node.log()
    finally:
        node.stop()
        mgr.close()


def test_no_watchdog_without_watchdog_usec():
    mgr = Manager()
    node = start_node(mgr, {})
    try:
        node.wait_ready(30)
        wait_for(lambda: mgr.having("READY", "1"), 10, what="READY=1")
        time.sleep(1)
        assert not mgr.having("WATCHDOG"), mgr.msgs
    finally:
        node.stop()
        mgr.close()


def test_sighup_reload():
    """SIGHUP: RELOADING=1 then READY=1; the config file's log level
    applies at once, a changed listener is reported as needing a restart."""
    mgr = Manager()
    conf = os.path.join(tempdir("apigw-sd-conf-"), "apigw.json")
    with open(conf, "w") as f:
        f.write('{"drain-timeout": "2s"}\n')
    node = start_node(mgr, {}, extra=["--config", conf])
    try:
        node.wait_ready(30)
        wait_for(lambda: mgr.having("READY", "1"), 10, what="READY=1")
        # --log-level on the command line wins over the file; drain-timeout
        # comes from the file only
        with open(conf, "w") as f:
            f.write('{"drain-timeout": "3s", "log-level": "debug"}\n')
        node.signal(signal.SIGHUP)
        wait_for(lambda: len(mgr.having("READY", "1")) >= 2, 10, what="READY=1 after reload")
        reloading = mgr.having("RELOADING", "1")
        assert reloading and "MONOTONIC_USEC" in reloading[0][1], mgr.msgs
        assert reloading[0][0] <= mgr.having("READY", "1")[1][0]
        log = wait_for(lambda: "reloaded (" in node.log() and node.log(), 10, what="reload log")
        assert "--drain-timeout changed: it takes effect at the next restart" in log, log
        # the harness passes --log-level info on the command line: it wins
        assert "log level set to" not in log, log

        # a broken file: nothing applied, the node keeps serving
        with open(conf, "w") as f:
            f.write('{"drain-timeout": \n')
        node.signal(signal.SIGHUP)
        wait_for(lambda: "nothing reloaded" in node.log(), 10, what="the refusal")
        assert ready_status(node) == 200
    finally:
        node.stop()
        mgr.close()


class NoLevelNode(Node):
    """A node without --log-level on its command line (the file decides)."""

    def args(self):
        a = super().args()
        i = a.index("--log-level")
        return a[:i] + a[i + 2:]


def test_sighup_applies_log_level():
    mgr = Manager()
    conf = os.path.join(tempdir("apigw-sd-conf-"), "apigw.json")
    with open(conf, "w") as f:
        f.write('{"log-level": "info"}\n')
    node = start_node(mgr, {}, extra=["--config", conf], cls=NoLevelNode)
    try:
        node.wait_ready(30)
        with open(conf, "w") as f:
            f.write('{"log-level": "debug"}\n')
        node.signal(signal.SIGHUP)
        wait_for(lambda: "log level set to debug" in node.log(), 10, what="log level")
        assert "changed: it takes effect" not in node.log(), node.log()
    finally:
        node.stop()
        mgr.close()


tap = Tap()
tap.run(test_ready_status_watchdog_stop)
tap.run(test_watchdog_stops_when_the_loop_stalls)
tap.run(test_no_watchdog_without_watchdog_usec)
tap.run(test_sighup_reload)
tap.run(test_sighup_applies_log_level)
tap.done()
