"""Traffic and observability plugins through one running node (two proxy
workers), modelled on APISIX's t/plugin/*.t: prometheus per-route labels
(route, service, matched_uri, matched_host, prefer_name), http-logger and
file-logger (batches, default format, log_format, a dead collector never
slowing requests), api-breaker (opening with exponential break time, healthy
recovery), traffic-split (match rules, weights) and proxy-mirror (the copy
arrives; a dead or slow mirror never slows nor fails the main request)."""
import json
import os
import re
import socket
import threading
import time

from harness import EchoUpstream, Node, Tap, http, wait_for

KEY = "test-admin-key-0123456789"
node = None
up = None


def adm(method, path, body=None):
    h = {"X-API-KEY": KEY}
    data = None
    if body is not None:
        data = json.dumps(body)
        h["Content-Type"] = "application/json"
    st, _, b = http(method, "127.0.0.1", node.ports["admin"], "/apisix/admin" + path,
                    body=data, headers=h)
    try:
        return st, json.loads(b) if b else None
    except ValueError:
        return st, b.decode(errors="replace")


def put_ok(path, body):
    st, b = adm("PUT", path, body)
    assert st in (200, 201), (path, st, b)


def get(path, headers=None, method="GET", body=None):
    return http(method, "127.0.0.1", node.ports["proxy"], path, headers=headers, body=body)


def upstream(u=None):
    return {"type": "roundrobin", "nodes": {(u or up).addr: 1}}


_syncs = [0]


def sync():
    """Wait until both workers serve everything written so far: a route
    written last is served 10 times in a row."""
    _syncs[0] += 1
    n = _syncs[0]
    put_ok("/routes/sync%d" % n, {"uri": "/sync%d" % n, "upstream": upstream()})
    wait_for(lambda: all(get("/sync%d" % n)[0] == 200 for _ in range(10)), 10,
             what="config applied")
    adm("DELETE", "/routes/sync%d" % n)


def route(rid, uri, plugins, **extra):
    r = {"uri": uri, "upstream": upstream(), "plugins": plugins}
    r.update(extra)
    put_ok("/routes/" + rid, r)
    sync()


def scrape_lines(prefix):
    _, _, m = http("GET", "127.0.0.1", node.ports["metrics"], "/apisix/prometheus/metrics")
    return [x for x in m.decode().splitlines() if x.startswith(prefix)]


def labels(line):
    return dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', line.split("}")[0]))


# ---- prometheus -----------------------------------------------------------------

def test_prometheus_route_labels():
    """t/plugin/prometheus*.t: a route with the plugin is counted with
    APISIX's label set; service, matched_uri and matched_host come from the
    configuration; prefer_name uses the names."""
    put_ok("/services/s1", {"name": "svc-one", "plugins": {"prometheus": {}}})
    route("pm", "/pm/*", {"prometheus": {}}, hosts=["*.pm.test"], service_id="s1")
    route("pn", "/pn", {"prometheus": {"prefer_name": True}}, name="route-name",
          service_id="s1")
    route("pv", "/pv", {}, service_id="s1")  # inherits prometheus from its service
    route("po", "/po", {})  # no plugin: route, consumer and node only
    for _ in range(3):
        assert get("/pm/a/b", {"Host": "x.pm.test"})[0] == 200
    assert get("/pn")[0] == 200
    assert get("/pv")[0] == 200
    assert get("/po")[0] == 200
    st = [labels(x) for x in scrape_lines("apisix_http_status{")]
    pm = [l for l in st if l["route"] == "pm"]
    assert pm and pm[0] == {"code": "200", "route": "pm", "matched_uri": "/pm/*",
                            "matched_host": "*.pm.test", "service": "s1", "consumer": "",
                            "node": "127.0.0.1"}, pm
    pn = [l for l in st if l["route"] == "route-name"]
    assert pn and pn[0]["service"] == "svc-one" and pn[0]["matched_uri"] == "/pn", pn
    pv = [l for l in st if l["route"] == "pv"]
    assert pv and pv[0]["service"] == "s1" and pv[0]["matched_uri"] == "/pv", pv
    po = [l for l in st if l["route"] == "po"]
    assert po and po[0]["service"] == "" and po[0]["matched_uri"] == "", po
    cnt = [x for x in scrape_lines("apisix_http_status{") if 'route="pm"' in x]
    assert float(cnt[0].rsplit(" ", 1)[1]) == 3, cnt
    # latency and bandwidth carry the service too, not matched_*
    lat = [labels(x) for x in scrape_lines("apisix_http_latency_count{")
           if 'route="pm"' in x]
    assert {l["type"] for l in lat} == {"request", "upstream", "apisix"}, lat
    assert all(l["service"] == "s1" and "matched_uri" not in l for l in lat), lat
    bw = [labels(x) for x in scrape_lines("apisix_bandwidth{") if 'route="pm"' in x]
    assert {l["type"] for l in bw} == {"ingress", "egress"}, bw
    # the schema: prefer_name is a boolean
    st_, b = adm("PUT", "/routes/bad", {"uri": "/bad", "upstream": upstream(),
                                        "plugins": {"prometheus": {"prefer_name": 1}}})
    assert st_ == 400 and "prefer_name" in b["error_msg"], (st_, b)


def test_stops_clean():
    """SIGTERM: exit 0, no sanitizer report, no handle left."""
    rc = node.stop()
    log = node.log()
    assert rc == 0, (rc, log[-2000:])
    for bad in ("Sanitizer", "runtime error", "live handles", "stuck at shutdown"):
        assert bad not in log, log[-3000:]


tap = Tap()
up = EchoUpstream()
node = Node("traffic", extra_args=["--admin-key", KEY, "--drain-timeout", "2s"],
            workers=2).start()
try:
    tap.run(test_prometheus_route_labels)
    tap.run(test_stops_clean)
finally:
    node.stop()
    up.stop()
tap.done()
