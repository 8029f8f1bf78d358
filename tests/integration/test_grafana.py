"""The Grafana dashboard (packaging/grafana/apigw.json) queries only what a
node exports: a node with a health-checked route serves a few requests, its
/apisix/prometheus/metrics is scraped, and every metric name in every panel
expression, and every label a panel groups by or selects on, must be in the
scrape. Also: valid JSON, unique panel ids, every target on the datasource
variable, a panel for each area the runbook names.
"""
import json
import os
import re

from harness import EchoUpstream, Node, Tap, wait_for

KEY = "test-admin-key-0123456789"
SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
DASHBOARD = os.path.join(SRC, "packaging", "grafana", "apigw.json")
METRIC = re.compile(r"\b((?:apisix|apigw)_[a-zA-Z0-9_]+)")
SELECTOR = re.compile(r"((?:apisix|apigw)_[a-zA-Z0-9_]+)\{([^}]*)\}")
BY = re.compile(r"\bby \(([^)]*)\)")


def load():
    with open(DASHBOARD) as f:
        return json.load(f)


def exprs(dash):
    out = []
    for p in dash["panels"]:
        for t in p.get("targets", []):
            out.append((p["title"], t["expr"]))
    return out


def scrape_families():
    """{sample name: set of label names} from a live node with traffic and
    a health-checked upstream."""
    up = EchoUpstream()
    node = Node("graf", extra_args=["--admin-key", KEY]).start()
    try:
        st, _, body = node.request(
            "PUT", "admin", "/apisix/admin/routes/1",
            body={"uri": "/g", "upstream": {
                "type": "roundrobin", "nodes": {up.addr: 1},
                "checks": {"active": {"http_path": "/", "healthy": {"interval": 1},
                                      "unhealthy": {"interval": 1}}}}},
            headers={"X-API-KEY": KEY})
        assert st in (200, 201), body
        wait_for(lambda: node.get("proxy", "/g")[0] == 200, 10, what="route served")
        for _ in range(5):
            node.get("proxy", "/g")

        def scrape():
            st, _, b = node.get("metrics", "/apisix/prometheus/metrics")
            text = b.decode()
            return st == 200 and "apisix_upstream_status{" in text and text
        text = wait_for(scrape, 15, what="a scrape with apisix_upstream_status")
    finally:
        node.stop()
        up.stop()
    fams = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s", line)
        assert m, line
        labels = set(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="', m.group(3) or ""))
        fams.setdefault(m.group(1), set()).update(labels)
    return fams


def test_dashboard_shape():
    dash = load()
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)), ids
    names = {v["name"] for v in dash["templating"]["list"]}
    assert {"datasource", "instance"} <= names, names
    for p in dash["panels"]:
        for t in p.get("targets", []):
            assert t["datasource"]["uid"] == "${datasource}", p["title"]
    text = " ".join(e for _, e in exprs(dash))
    # the areas docs/operations.md refers to
    for metric in ("apisix_http_status", "apisix_http_latency_bucket", "apisix_upstream_status",
                   "apigw_raft_term", "apigw_raft_commit_index", "apigw_raft_applied_index",
                   "apigw_config_served_revision", "apigw_store_db_bytes"):
        assert metric in text, metric


def test_every_queried_metric_is_exported():
    fams = scrape_families()
    dash = load()
    queries = exprs(dash)
    queries.append(("instance variable",
                    next(v for v in dash["templating"]["list"]
                         if v["name"] == "instance")["definition"]))
    for title, expr in queries:
        for name in METRIC.findall(expr):
            assert name in fams, (title, name, sorted(fams))
        for name, sel in SELECTOR.findall(expr):
            for label in re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*=~?", sel):
                # "instance" is added by Prometheus at scrape time
                assert label == "instance" or label in fams[name], (title, name, label)
        for group in BY.findall(expr):
            names = METRIC.findall(expr)
            for label in (x.strip() for x in group.split(",")):
                assert any(label in fams[n] for n in names), (title, label, names)


tap = Tap()
tap.run(test_dashboard_shape)
tap.run(test_every_queried_metric_is_exported)
tap.done()
