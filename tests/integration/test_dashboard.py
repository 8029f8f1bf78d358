"""The dashboard (/ui/ on the Admin listener, docs/dashboard.md).

Headers, with a plain HTTP client: every asset is served with an ETag (304
on If-None-Match), gzip when accepted, a strict Content-Security-Policy and
nosniff, without any key; unknown paths 404 and writes 405.

In a real browser: tests/browser/dashboard.mjs drives Debian's chromium
headless through playwright-core (npm, tests/browser/package.json; installed
by scripts/test.sh) against a real 3-node cluster: log in, the cluster
page, a route created through the form and proxied by every node, a schema
error shown inline, an edit rolled back through the history page, the
health page, the viewer's read-only UI, a phone-width layout, and a stopped
node shown unreachable. Screenshots go to $APIGW_SCREENSHOTS (default: the
build dir's dashboard-shots/). Missing chromium or playwright-core FAILS
the test: CI must have them (scripts/install-deps.sh, scripts/test.sh).
"""
import gzip
import json
import os
import shutil
import subprocess
import sys

import tlsutil
from harness import EchoUpstream, Node, Tap, create_token, http, wait_for, write_token_file

KEY = "dash-admin-key-0123456789"
VIEWER = "dash-viewer-key-0123456789"
HERE = os.path.dirname(os.path.abspath(__file__))
BROWSER_DIR = os.path.join(HERE, "..", "browser")
MODULES = os.environ.get("APIGW_BROWSER_MODULES") or os.path.join(BROWSER_DIR, "node_modules")
CHROMIUM = os.environ.get("APIGW_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = os.environ.get("APIGW_SCREENSHOTS") or os.path.join(
    os.environ.get("APIGW_BUILDDIR") or os.getcwd(), "dashboard-shots")
nodes = []
up = None


def start_cluster():
    global up
    up = EchoUpstream()
    common = ["--admin-key", KEY, "--admin-viewer-key", VIEWER, "--write-timeout", "2s"]
    n1 = Node("d1", extra_args=common).start()
    nodes.append(n1)
    token_file = write_token_file(create_token(n1))
    for name in ("d2", "d3"):
        n = Node(name, cmd="join",
                 extra_args=common + ["--peer", n1.addr("etcd"), "--token-file", token_file])
        nodes.append(n.start())
    for n in nodes:
        wait_for(lambda: http("GET", "127.0.0.1", n.ports["admin"], "/apisix/admin/routes",
                              headers={"X-API-KEY": KEY})[0] == 200,
                 timeout=30, what="the admin key on %s" % n.name)


def get_ui(n, path, headers=None):
    return http("GET", "127.0.0.1", n.ports["admin"], path, headers=headers or {})


def test_ui_headers():
    n = nodes[0]
    st, h, body = get_ui(n, "/ui/")
    assert st == 200, (st, body[:200])
    assert h["content-type"].startswith("text/html"), h
    assert b'<script type="module" src="js/main.js">' in body, body[:300]
    csp = h["content-security-policy"]
    for want in ("default-src 'self'", "script-src 'self'", "style-src 'self'",
                 "connect-src 'self'", "object-src 'none'", "frame-ancestors 'none'"):
        assert want in csp, (want, csp)
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, csp
    assert h["x-content-type-options"] == "nosniff", h
    etag = h["etag"]
    assert etag.startswith('"') and etag.endswith('"'), etag
    assert "content-encoding" not in h, h
    # revalidation: 304 without a body, same ETag
    st, h2, body2 = get_ui(n, "/ui/", {"If-None-Match": etag})
    assert st == 304 and body2 == b"" and h2["etag"] == etag, (st, h2, body2)
    st, _, _ = get_ui(n, "/ui/", {"If-None-Match": '"other"'})
    assert st == 200, st
    for inm in ("*", "W/" + etag, '"a", %s' % etag, '"a",%s ' % etag):
        st, _, _ = get_ui(n, "/ui/", {"If-None-Match": inm})
        assert st == 304, (inm, st)
    st, _, _ = get_ui(n, "/ui/", {"If-None-Match": etag[:-2] + '"'})
    assert st == 200, st
    st, hh, bh = http("HEAD", "127.0.0.1", n.ports["admin"], "/ui/")
    assert st == 200 and bh == b"" and hh["etag"] == etag, (st, hh)
    # gzip: its own ETag, the same bytes once inflated, every node alike
    for m in nodes:
        st, hz, bz = get_ui(m, "/ui/js/main.js", {"Accept-Encoding": "gzip, deflate"})
        assert st == 200 and hz["content-encoding"] == "gzip", (st, hz)
        assert hz["content-type"].startswith("text/javascript"), hz
        assert "accept-encoding" in hz["vary"].lower(), hz
        st, hp, bp = get_ui(m, "/ui/js/main.js")
        assert st == 200 and gzip.decompress(bz) == bp, st
        assert hz["etag"] != hp["etag"], (hz["etag"], hp["etag"])
        st, _, _ = get_ui(m, "/ui/js/main.js", {"Accept-Encoding": "gzip",
                                                 "If-None-Match": hz["etag"]})
        assert st == 304, st
    st, hq, _ = get_ui(n, "/ui/js/main.js", {"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in hq, hq
    for ae in ("br, GZIP", "deflate, gzip;q=0.5", "gzip ; q=1"):
        st, hq, _ = get_ui(n, "/ui/app.css", {"Accept-Encoding": ae})
        assert st == 200 and hq.get("content-encoding") == "gzip", (ae, hq)
    for ae in ("br", "gzip;q=0.000", "x-gzipped"):
        st, hq, _ = get_ui(n, "/ui/app.css", {"Accept-Encoding": ae})
        assert st == 200 and "content-encoding" not in hq, (ae, hq)
    # no key needed for the page; unknown files 404; writes 405; /ui -> /ui/
    st, _, _ = get_ui(n, "/ui/nope.js")
    assert st == 404, st
    st, _, _ = get_ui(n, "/ui/../apisix/admin/routes")
    assert st in (400, 404), st
    st, _, _ = http("PUT", "127.0.0.1", n.ports["admin"], "/ui/index.html", body="x")
    assert st == 405, st
    st, hr, _ = get_ui(n, "/ui")
    assert st == 301 and hr["location"] == "/ui/", (st, hr)
    # the node endpoints the health page reads are Admin reads: a key is needed
    st, _, _ = get_ui(n, "/apisix/admin/node/health")
    assert st == 401, st
    st, _, b = get_ui(n, "/apisix/admin/node/health", {"X-API-KEY": VIEWER})
    assert st == 200 and isinstance(json.loads(b), list), (st, b)
    st, _, b = get_ui(n, "/apisix/admin/node/metrics", {"X-API-KEY": VIEWER})
    assert st == 200 and b"apisix_http_requests_total" in b, (st, b[:200])


def test_browser():
    missing = []
    if not os.path.exists(CHROMIUM):
        missing.append("chromium (%s; scripts/install-deps.sh installs it)" % CHROMIUM)
    if not os.path.isdir(os.path.join(MODULES, "playwright-core")):
        missing.append("playwright-core in %s (npm ci --prefix tests/browser; "
                       "scripts/test.sh runs it)" % MODULES)
    if shutil.which("node") is None:
        missing.append("node (nodejs)")
    # never a silent skip: CI must run the browser test
    assert not missing, "the browser test needs: " + "; ".join(missing)
    os.makedirs(SHOTS, exist_ok=True)
    for f in os.listdir(SHOTS):  # a failure's screenshots are of one run only
        if f.startswith("failed-") and f.endswith(".png"):
            os.remove(os.path.join(SHOTS, f))
    cfg = {
        "nodes": [{"name": n.name, "admin": n.addr("admin"), "proxy": n.addr("proxy")}
                  for n in nodes],
        "key": KEY, "viewer": VIEWER, "upstream": up.addr, "shots": SHOTS,
        "chromium": CHROMIUM, "modules": os.path.abspath(MODULES),
    }
    cfg["cert"], cfg["key_pem"] = tlsutil.self_signed("dash.test")
    env = dict(os.environ, APIGW_DASH=json.dumps(cfg))
    p = subprocess.Popen(["node", os.path.join(BROWSER_DIR, "dashboard.mjs")], env=env,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True)
    out = []
    try:
        for line in p.stdout:
            line = line.rstrip("\n")
            out.append(line)
            print("# browser: " + line)
            sys.stdout.flush()
            if line.startswith("@@stop "):
                name = line.split()[1]
                victim = [n for n in nodes if n.name == name][0]
                victim.stop()
                p.stdin.write("stopped\n")
                p.stdin.flush()
        rc = p.wait(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert rc == 0 and not any(x.startswith("not ok") for x in out), \
        "browser steps failed (screenshots in %s):\n%s" % (SHOTS, "\n".join(out))
    for want in ("cluster", "history", "routes", "health", "cluster-down", "login"):
        assert os.path.exists(os.path.join(SHOTS, want + ".png")), want


if __name__ == "__main__":
    tap = Tap()
    start_cluster()
    tap.run(test_ui_headers)
    tap.run(test_browser)
    tap.done()
