"""Graceful drain behind a real load balancer: HAProxy (Debian) health-checks
two apigw nodes on /status/ready while wrk sends a steady load through it;
SIGTERM on one node must cost zero failed requests."""
import json
import os
import re
import shutil
import signal
import subprocess
import time

from harness import EchoUpstream, Node, Tap, etcdctl, free_port, tempdir, wait_for

HAPROXY_CFG = """
global
    maxconn 2000
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend fe
    bind 127.0.0.1:{port}
    default_backend gw
backend gw
    balance roundrobin
    option httpchk GET /status/ready
    http-check expect status 200
    default-server inter 200ms fall 2 rise 2
{servers}
"""


def start_haproxy(nodes):
    d = tempdir()
    port = free_port()
    servers = "\n".join(
        "    server {0} 127.0.0.1:{1} check port {2}".format(
            n.name, n.ports["proxy"], n.ports["status"]) for n in nodes)
    cfg = os.path.join(d, "haproxy.cfg")
    with open(cfg, "w") as f:
        f.write(HAPROXY_CFG.format(port=port, servers=servers))
    p = subprocess.Popen(["haproxy", "-db", "-f", cfg], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    return p, port


def parse_wrk(out):
    reqs = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = sum(int(x) for x in sock.groups()) if sock else 0
    return reqs, int(non2xx.group(1)) if non2xx else 0, errors


def test_drain_under_load_zero_failures():
    if shutil.which("haproxy") is None or shutil.which("wrk") is None:
        raise AssertionError("haproxy and wrk are required (scripts/install-deps.sh)")
    up = EchoUpstream()
    a = Node("da", extra_args=["--drain-delay", "1500ms"]).start()
    b = Node("db").start()
    route = json.dumps({"uri": "/*", "upstream": {"type": "roundrobin",
                                                  "nodes": {up.addr: 1}}})
    for n in (a, b):
        r = etcdctl(n, "put", "/apisix/routes/1", route)
        assert r.returncode == 0, r.stderr
    hap, port = start_haproxy([a, b])
    try:
        def both_serving():
            import http.client
            seen = set()
            for _ in range(6):
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", "/x")
                r = c.getresponse()
                r.read()
                c.close()
                if r.status != 200:
                    return False
                seen.add(r.status)
            return True
        wait_for(both_serving, 15, what="haproxy sees both nodes up")
        time.sleep(0.6)  # rise 2 x inter 200ms for both servers
        wrk = subprocess.Popen(["wrk", "-t1", "-c8", "-d5s", "--timeout", "3s",
                                "http://127.0.0.1:%d/drain" % port],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(1.0)
        a.signal(signal.SIGTERM)
        rc = a.wait(30)
        out, _ = wrk.communicate(timeout=30)
        reqs, non2xx, errors = parse_wrk(out)
        print("# drain: %d requests, %d non-2xx, %d socket errors" % (reqs, non2xx, errors))
        assert rc == 0, a.log()
        assert "draining" in a.log()
        assert reqs > 100, out
        assert non2xx == 0 and errors == 0, out
    finally:
        hap.send_signal(signal.SIGTERM)
        hap.wait(10)
        b.stop()
        up.stop()


def test_status_reports_quorum_not_readiness():
    n = Node("st1").start()
    st, _, body = n.get("status", "/status")
    j = json.loads(body)
    assert st == 200 and j["status"] == "ok", body
    assert j["ready"] is True and j["draining"] is False
    assert j["raft_state"] == "leader" and j["quorum"] is True, j
    n.stop()


tap = Tap()
tap.run(test_status_reports_quorum_not_readiness)
tap.run(test_drain_under_load_zero_failures)
tap.done()
