"""Limits of the control-plane listeners on a real node (etcd port).

Cases: 100 pipelined ~4 MB range requests on a JSON-gateway connection that
never reads keep the node's RSS bounded (one answer plus the 2 MiB output
bound, not all answers); 1,100 idle keep-alive connections from 127.0.0.2
(off-host for the caps) fill the HTTP/1.x cap but leave its reserve to
loopback: GET /version and a peer's /apigw/internal/kv call still work, and
the refusals are counted in the metrics; an HTTP/2 connection without
streams gets GOAWAY and is closed after the idle timeout.
"""
import base64
import json
import os
import socket
import time

from harness import Node, Tap
from raftutil import kv, secret_of

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def b64(s):
    return base64.b64encode(s if isinstance(s, bytes) else s.encode()).decode()


def rss_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def start_node(env=None):
    saved = dict(os.environ)
    os.environ.update(env or {})
    try:
        return Node("n1").start()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_pipelined_flood_rss_bounded():
    node = start_node()
    try:
        for i in range(4):
            body = {"key": b64("/big/%d" % i), "value": b64(b"v" * (1000 * 1000))}
            st, _, data = node.request("POST", "etcd", "/v3/kv/put", body=body)
            assert st == 200, (st, data[:200])
        before = rss_mb(node.proc.pid)
        req = json.dumps({"key": b64("/big/"), "range_end": b64("/big0"),
                          "serializable": True}).encode()
        one = (b"POST /v3/kv/range HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n%s" % (len(req), req))
        s = socket.create_connection(("127.0.0.1", node.ports["etcd"]))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(one * 100)
        peak = before
        for _ in range(30):
            time.sleep(0.1)
            peak = max(peak, rss_mb(node.proc.pid))
        s.close()
        print("# RSS before %.0f MB, peak during the flood %.0f MB" % (before, peak))
        assert peak < 200, "RSS grew to %.0f MB" % peak
        st, _, _ = node.get("etcd", "/version")
        assert st == 200
    finally:
        node.stop()


def test_idle_outsiders_leave_reserve():
    node = start_node()
    conns, ok = [], 0
    try:
        for _ in range(1100):
            s = socket.socket()
            s.settimeout(5)
            s.bind(("127.0.0.2", 0))
            try:
                s.connect(("127.0.0.1", node.ports["etcd"]))
                s.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n")
                if s.recv(4096).startswith(b"HTTP/1.1 200"):
                    ok += 1
            except OSError:
                pass
            conns.append(s)
        print("# %d of 1100 outsider connections admitted" % ok)
        assert 900 <= ok < 1024, ok
        st, _, _ = node.get("etcd", "/version")
        assert st == 200
        st, body = kv(node, secret_of(node), {"op": "put", "key": "/k", "value": "v"})
        assert st == 200, (st, body)
        st, _, m = node.get("metrics", "/apisix/prometheus/metrics")
        line = [x for x in m.decode().splitlines()
                if x.startswith("apigw_etcd_connections_refused_total ")]
        assert line and float(line[0].split()[1]) >= 1100 - ok, line
    finally:
        for s in conns:
            s.close()
        node.stop()


def test_h2_idle_closed():
    node = start_node({"APIGW_ETCD_IDLE_TIMEOUT_MS": "1000"})
    try:
        s = socket.create_connection(("127.0.0.1", node.ports["etcd"]))
        s.settimeout(10)
        s.sendall(PREFACE + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        t0 = time.time()
        got = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            got += d
        took = time.time() - t0
        s.close()
        assert b"\x07\x00\x00\x00\x00\x00" in got, got  # a GOAWAY frame header
        assert 0.5 < took < 5, took
    finally:
        node.stop()


if __name__ == "__main__":
    t = Tap()
    t.run(test_pipelined_flood_rss_bounded)
    t.run(test_idle_outsiders_leave_reserve)
    t.run(test_h2_idle_closed)
    t.done()
