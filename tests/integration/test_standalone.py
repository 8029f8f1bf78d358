#!/usr/bin/env python3
"""Standalone mode on a real apigw node (`apigw start --standalone FILE`):
the node serves the APISIX config in FILE, reloads it when it changes and
on SIGHUP (each load one revision, visible in the Admin API's history and
diff), keeps serving the last good load when the file is incomplete (no
#END) or wrong (the log names the line), and the Admin API refuses writes
with a clear error while answering reads and dry runs. Files shaped like
APISIX's standalone examples (objects without id, route + service +
upstream, a consumer named by username, the plugins: list, a global rule)
load; unsupported plugins are refused per object and field."""
import json
import os
import signal

from harness import Node, Tap, etcdctl, http, tempdir, wait_for

KEY = "standalone-admin-key-0123456789"
C = {}

FILE1 = """\
routes:
  -
    uri: /one
    plugins:
      fault-injection:
        abort:
          http_status: 200
          body: "one"
  -
    uri: /two
    service_id: s1
services:
  -
    id: s1
    upstream_id: 2
    plugins:
      fault-injection:
        abort:
          http_status: 200
          body: "two"
upstreams:
  -
    id: 2
    nodes:
      "127.0.0.1:1980": 1
    type: roundrobin
consumers:
  - username: jack
    plugins:
      key-auth:
        key: jack-key
global_rules:
  - id: 1
    plugins:
      request-id: {}
plugins:
  - name: key-auth
  - name: fault-injection
#END
"""


def write(text):
    tmp = C["file"] + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, C["file"])   # as an editor or a deploy tool would


def get(path):
    return C["n"].request("GET", "proxy", path)


def adm(method, path, body=None):
    h = {"X-API-KEY": KEY, "Content-Type": "application/json"}
    st, _, b = http(method, "127.0.0.1", C["n"].ports["admin"], "/apisix/admin" + path,
                    body=json.dumps(body) if body is not None else None, headers=h)
    return st, json.loads(b) if b else None


def status():
    return json.loads(C["n"].get("status", "/status")[2])


def test_serves_the_file():
    d = tempdir("apigw-sa-")
    C["file"] = os.path.join(d, "apisix.yaml")
    with open(C["file"], "w") as f:
        f.write(FILE1)
    C["n"] = Node("sa", extra_args=["--admin-key", KEY, "--standalone", C["file"],
                                    "--standalone-poll", "100ms"]).start()
    wait_for(lambda: get("/one")[0] == 200, 15, 0.1, "/one served")
    assert get("/one")[2] == b"one" and get("/two")[2] == b"two"
    # objects without an id are named by position, as APISIX does
    st, b = adm("GET", "/routes")
    ids = sorted(r["value"]["id"] for r in b["list"])
    assert ids == ["arr_1", "arr_2"], ids
    st, b = adm("GET", "/consumers/jack")
    assert st == 200 and b["value"]["username"] == "jack", (st, b)
    assert "standalone: loaded" in C["n"].log()
    sa = status()["standalone"]
    assert sa["file"] == C["file"] and sa["loaded"] and sa["loads"] == 1, sa
    assert sa["error"] == "" and sa["revision"] == status()["served_revision"], sa


def test_admin_writes_refused():
    st, b = adm("PUT", "/routes/x", {"uri": "/x", "upstream_id": "2"})
    assert st == 403 and "standalone mode" in b["error_msg"], (st, b)
    assert C["file"] in b["error_msg"], b
    st, b = adm("DELETE", "/routes/arr_1")
    assert st == 403, (st, b)
    # reads and dry runs are answered
    st, b = adm("PUT", "/routes/x?dry_run=true", {"uri": "/x", "upstream_id": "2"})
    assert st == 200 and b["dry_run"], (st, b)
    st, b = adm("GET", "/routes/arr_1")
    assert st == 200 and b["value"]["uri"] == "/one", (st, b)
    assert get("/x")[0] == 404
    # the etcd API refuses writes under /apisix/ too, and only those
    p = etcdctl(C["n"], "put", "/apisix/routes/x", '{"uri":"/x","upstream_id":"2"}')
    assert p.returncode != 0 and "standalone mode" in p.stderr, p.stderr
    p = etcdctl(C["n"], "del", "", "--prefix")
    assert p.returncode != 0 and "standalone mode" in p.stderr, p.stderr
    p = etcdctl(C["n"], "txn", input="\n\ndel /apisix/routes/arr_1\n\n")
    assert p.returncode != 0 and "standalone mode" in p.stderr, (p.stdout, p.stderr)
    p = etcdctl(C["n"], "put", "/other/key", "v")
    assert p.returncode == 0, p.stderr
    p = etcdctl(C["n"], "get", "/apisix/routes/arr_1")
    assert p.returncode == 0 and "/one" in p.stdout, p.stderr


def test_reload_on_change():
    rev0 = status()["served_revision"]
    write(FILE1.replace('body: "one"', 'body: "one v2"').replace("uri: /two", "uri: /deux"))
    wait_for(lambda: get("/one")[2] == b"one v2", 15, 0.1, "the change served")
    assert get("/deux")[2] == b"two" and get("/two")[0] == 404
    # one load = one revision: the diff between them is exactly the change
    rev1 = status()["served_revision"]
    assert rev1 == rev0 + 1, (rev0, rev1)
    st, b = adm("GET", "/diff?from=%d&to=%d" % (rev0, rev1))
    keys = sorted(c["key"] for c in b["list"])
    assert keys == ["/apisix/routes/arr_1", "/apisix/routes/arr_2"], b


def test_bad_files_keep_the_last_good_load():
    n = C["n"]
    # still being written: no #END
    write(FILE1.replace("#END\n", "").replace('body: "one"', 'body: "half"'))
    wait_for(lambda: "does not end with a \"#END\" line" in n.log(), 15, 0.1, "#END refusal")
    # a schema error names the file, line and object
    write(FILE1.replace("    uri: /one\n", "    uri: /one\n    priority: high\n"))
    wait_for(lambda: "routes[0] (id arr_1)" in n.log(), 15, 0.1, "schema error logged")
    line = [x for x in n.log().splitlines() if "routes[0] (id arr_1)" in x][-1]
    assert C["file"] + ":4:" in line and "priority" in line, line   # the field's line
    # bad YAML
    write("routes: [\n#END\n")
    wait_for(lambda: "bad YAML" in n.log(), 15, 0.1, "bad YAML logged")
    assert get("/one")[2] == b"one v2"       # the last good load is served
    sa = status()["standalone"]
    assert "bad YAML" in sa["error"] and sa["loaded"], sa
    assert n.get("status", "/status/ready")[0] == 200  # still serving: still ready


def test_sighup_reload():
    n = C["n"]
    # SIGHUP loads the file at once (the poll may notice the change too)
    with open(C["file"], "w") as f:
        f.write(FILE1.replace('body: "one"', 'body: "hup!"'))
    n.signal(signal.SIGHUP)
    wait_for(lambda: get("/one")[2] == b"hup!", 15, 0.1, "SIGHUP reload")
    assert "standalone: reloading" in n.log()


def test_unsupported_plugin_named():
    n = C["n"]
    write("stream_routes:\n  - id: 1\n    server_port: 1985\n    upstream_id: 1\n"
          "    plugins:\n      mqtt-proxy:\n        protocol_name: MQTT\n"
          "upstreams:\n  - id: 1\n    type: roundrobin\n    nodes:\n"
          "      \"127.0.0.1:1995\": 1\n#END\n")
    wait_for(lambda: "stream_routes[0] (id 1): unknown plugin [mqtt-proxy]" in n.log(), 15,
             0.1, "unknown plugin logged")
    assert get("/one")[2] == b"hup!"


def test_not_ready_until_loaded():
    """A node whose file does not load at start is not ready (it would serve
    nothing); it becomes ready once the file is fixed."""
    d = tempdir("apigw-sa-")
    f = os.path.join(d, "apisix.yaml")
    with open(f, "w") as fh:
        fh.write("routes: [\n#END\n")
    n = Node("sb", extra_args=["--admin-key", KEY, "--standalone", f,
                               "--standalone-poll", "100ms"]).start(wait=False)
    try:
        wait_for(lambda: "bad YAML" in n.log(), 30, 0.1, "the bad file logged")
        st, _, b = n.get("status", "/status/ready")
        assert st == 503 and b"standalone file not loaded yet" in b, (st, b)
        with open(f + ".tmp", "w") as fh:
            fh.write(FILE1)
        os.replace(f + ".tmp", f)
        n.wait_ready(30)   # ready: loaded and served
        assert n.request("GET", "proxy", "/one")[2] == b"one"
    finally:
        n.stop()


def test_fifo_does_not_block():
    """--standalone naming a FIFO (no writer): the control loop must not
    block in open(2); the file is refused as not regular and the node
    answers /status and stops on SIGTERM."""
    d = tempdir("apigw-sa-")
    f = os.path.join(d, "apisix.yaml")
    os.mkfifo(f)
    n = Node("sc", extra_args=["--admin-key", KEY, "--standalone", f]).start(wait=False)
    try:
        wait_for(lambda: "not a regular file" in n.log(), 30, 0.1, "the FIFO refused")
        st, _, b = n.get("status", "/status/ready")
        assert st == 503, (st, b)
    finally:
        n.stop()


def test_stop():
    C["n"].stop()


def main():
    tap = Tap()
    try:
        for fn in (test_serves_the_file, test_admin_writes_refused, test_reload_on_change,
                   test_bad_files_keep_the_last_good_load, test_sighup_reload,
                   test_unsupported_plugin_named, test_not_ready_until_loaded,
                   test_fifo_does_not_block):
            tap.run(fn)
    finally:
        if "n" in C:
            test_stop()
    tap.done()


if __name__ == "__main__":
    main()
