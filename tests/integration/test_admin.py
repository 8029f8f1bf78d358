"""APISIX Admin API on one real apigw node: every resource's life cycle, the
response and error shapes of APISIX v3, auth, PATCH semantics and races,
listing, referential integrity, bad input (strict JSON bodies: no key twice,
no trailing bytes), the Admin API's checks on etcdctl writes. Requests go over real sockets
(http.client) and, where the shape of a curl call matters, through curl.
"""
import json
import os
import socket
import stat
import subprocess
import threading
import time

import tlsutil
from harness import Node, Tap, http, wait_for

KEY = "test-admin-key-0123456789"
node = None


def adm(method, path, body=None, key=KEY, headers=None, raw=None):
    """Admin request; returns (status, parsed JSON or raw text, headers)."""
    h = dict(headers or {})
    if key is not None:
        h["X-API-KEY"] = key
    data = raw
    if body is not None:
        data = json.dumps(body)
        h.setdefault("Content-Type", "application/json")
    st, hd, b = http(method, "127.0.0.1", node.ports["admin"], "/apisix/admin" + path,
                     body=data, headers=h)
    try:
        return st, json.loads(b) if b else None, hd
    except ValueError:
        return st, b.decode(errors="replace"), hd


def expect(st, body, want_status, needle=None, field="error_msg"):
    assert st == want_status, (st, body)
    if needle is not None:
        assert isinstance(body, dict) and needle in body.get(field, ""), (needle, body)


UP = {"type": "roundrobin", "nodes": {"127.0.0.1:1980": 1}}


def test_head_and_auth():
    st, hd, _ = http("HEAD", "127.0.0.1", node.ports["admin"], "/apisix/admin")
    assert st == 200, st
    st, b, hd = adm("GET", "/routes", key=None)
    assert st == 401 and b == {"error_msg": "failed to check token",
                               "description": "missing apikey"}, (st, b)
    st, b, _ = adm("GET", "/routes", key="nope")
    assert st == 401 and b["description"] == "wrong apikey", (st, b)
    st, b, hd = adm("GET", "/routes")
    assert st == 200 and hd.get("x-api-version") == "v3", (st, b, hd)
    st, b, _ = adm("GET", "/routes?api_key=" + KEY, key=None)
    assert st == 200, (st, b)
    st, b, _ = adm("GET", "/routes", key=None, headers={"Cookie": "a=b; x_api_key=" + KEY})
    assert st == 200, (st, b)


def test_generated_admin_key_file():
    """Without --admin-key a node writes a random key, mode 0600, and uses it."""
    n = Node("keygen").start()
    try:
        path = os.path.join(n.data_dir, "admin.key")
        mode = stat.S_IMODE(os.stat(path).st_mode)
        assert mode == 0o600, oct(mode)
        key = open(path).read().strip()
        assert len(key) >= 32, key
        st, _, _ = n.request("GET", "admin", "/apisix/admin/routes", headers={"X-API-KEY": key})
        assert st == 200, st
        st, _, _ = n.request("GET", "admin", "/apisix/admin/routes",
                             headers={"X-API-KEY": KEY})
        assert st == 401, st
        assert path in n.log(), "the key's path is logged"
        assert key not in n.log(), "the key itself is never logged"
    finally:
        n.stop()


def test_unknown_resource_and_methods():
    st, b, _ = adm("GET", "/frobs")
    expect(st, b, 404, "Unsupported resource type: frobs")
    st, b, _ = adm("POST", "/consumers", {"username": "x"})
    assert st == 405 and b == {"error_msg": "not supported `POST` method for consumer"}, (st, b)
    st, b, _ = adm("PATCH", "/consumers/x", {"desc": "d"})
    expect(st, b, 405, "not supported `PATCH` method for consumer")
    st, b, _ = adm("POST", "/global_rules", {"plugins": {}})
    expect(st, b, 405, "not supported `POST` method for global_rule")


def test_upstream_and_route_life_cycle():
    st, b, _ = adm("PUT", "/upstreams/lc", UP)
    assert st == 201, (st, b)
    assert b["key"] == "/apisix/upstreams/lc" and b["value"]["id"] == "lc", b
    ct = b["value"]["create_time"]
    assert isinstance(ct, int) and abs(ct - time.time()) < 60, b
    assert "hash_on" not in b["value"], "schema defaults are not written"
    time.sleep(1.1)
    st, b, _ = adm("PUT", "/upstreams/lc", dict(UP, desc="again"))
    assert st == 200, (st, b)
    assert b["value"]["create_time"] == ct and b["value"]["update_time"] > ct, b
    st, b, _ = adm("GET", "/upstreams/lc")
    assert st == 200 and b["key"] == "/apisix/upstreams/lc", (st, b)
    assert b["value"]["desc"] == "again"
    assert b["modifiedIndex"] > b["createdIndex"] > 0, b
    st, b, _ = adm("PUT", "/routes/lc", {"uri": "/lc", "upstream_id": "lc"})
    assert st == 201, (st, b)
    st, b, _ = adm("GET", "/routes")
    assert st == 200 and b["total"] >= 1, b
    assert any(i["key"] == "/apisix/routes/lc" and "createdIndex" in i for i in b["list"]), b
    # referential integrity
    st, b, _ = adm("DELETE", "/upstreams/lc")
    expect(st, b, 400, "can not delete this upstream, route [lc] is still using it now")
    st, b, _ = adm("GET", "/upstreams/lc")
    assert st == 200, "the refused delete left the upstream"
    st, b, _ = adm("DELETE", "/routes/lc")
    assert st == 200 and b == {"deleted": "1", "key": "/apisix/routes/lc"}, (st, b)
    st, b, _ = adm("GET", "/routes/lc")
    assert st == 404 and b == {"message": "Key not found"}, (st, b)
    st, b, _ = adm("DELETE", "/routes/lc")
    assert st == 404, (st, b)
    st, b, _ = adm("DELETE", "/upstreams/lc")
    assert st == 200, (st, b)


def test_force_delete():
    assert adm("PUT", "/upstreams/f", UP)[0] == 201
    assert adm("PUT", "/services/f", {"upstream_id": "f"})[0] == 201
    st, b, _ = adm("DELETE", "/upstreams/f")
    expect(st, b, 400, "can not delete this upstream, service [f] is still using it now")
    st, b, _ = adm("PUT", "/routes/f", {"uri": "/f", "service_id": "f"})
    assert st == 201, (st, b)
    st, b, _ = adm("DELETE", "/services/f")
    expect(st, b, 400, "can not delete this service directly, route [f] is still using it now")
    st, b, _ = adm("DELETE", "/upstreams/f?force=true")
    assert st == 200, (st, b)
    adm("DELETE", "/routes/f")
    adm("DELETE", "/services/f")


def test_missing_reference():
    st, b, _ = adm("PUT", "/routes/mr", {"uri": "/mr", "upstream_id": "nope"})
    expect(st, b, 400, "failed to fetch upstream info by upstream id [nope], response code: 404")
    st, b, _ = adm("PUT", "/routes/mr", {"uri": "/mr", "service_id": "nope"})
    expect(st, b, 400, "failed to fetch service info by service id [nope], response code: 404")
    st, b, _ = adm("PUT", "/routes/mr", {"uri": "/mr", "upstream": UP,
                                         "plugin_config_id": "nope"})
    expect(st, b, 400, "plugin config id [nope], response code: 404")
    assert adm("GET", "/routes/mr")[0] == 404, "nothing was written"


def test_every_resource_life_cycle():
    cert, key = tlsutil.self_signed("a.com")
    cases = [
        ("/services/s1", {"upstream": UP, "name": "svc"}),
        ("/ssls/s1", {"sni": "a.com", "cert": cert, "key": key}),
        ("/global_rules/g1", {"plugins": {"prometheus": {}}}),
        ("/plugin_configs/p1", {"plugins": {"proxy-rewrite": {"uri": "/x"}}}),
        ("/consumer_groups/cg1", {"plugins": {"limit-count": {"count": 1, "time_window": 60}}}),
        ("/plugin_metadata/http-logger", {"log_format": {"host": "$host"}}),
        ("/stream_routes/sr1", {"upstream": UP, "server_port": 9100}),
        ("/protos/pr1", {"content": "syntax = \"proto3\";"}),
        ("/secrets/vault/v1", {"uri": "http://127.0.0.1:8200", "prefix": "kv", "token": "t"}),
    ]
    for path, body in cases:
        st, b, _ = adm("PUT", path, body)
        assert st == 201, (path, st, b)
        key = "/apisix" + path
        assert b["key"] == key, (path, b)
        st, b, _ = adm("GET", path)
        assert st == 200 and b["key"] == key and "modifiedIndex" in b, (path, st, b)
        st, b, _ = adm("PUT", path, body)
        assert st == 200, (path, st, b)
        st, b, _ = adm("DELETE", path)
        assert st == 200 and b["key"] == key, (path, st, b)
        assert adm("GET", path)[0] == 404, path


def test_consumers_and_credentials():
    st, b, _ = adm("PUT", "/consumers", {"username": "jack", "plugins": {}})
    assert st == 201 and b["key"] == "/apisix/consumers/jack", (st, b)
    st, b, _ = adm("PUT", "/consumers/jack/credentials/c1",
                   {"plugins": {"key-auth": {"key": "k1"}}})
    assert st == 201 and b["key"] == "/apisix/consumers/jack/credentials/c1", (st, b)
    st, b, _ = adm("GET", "/consumers")
    assert [i["key"] for i in b["list"]] == ["/apisix/consumers/jack"], b
    st, b, _ = adm("GET", "/consumers/jack/credentials")
    assert b["total"] == 1, b
    st, b, _ = adm("PUT", "/consumers/nobody/credentials/c1", {"plugins": {}})
    expect(st, b, 400, "[nobody], response code: 404")
    st, b, _ = adm("PUT", "/consumers", {"plugins": {}})
    expect(st, b, 400, "username")
    st, b, _ = adm("DELETE", "/consumers/jack")
    assert st == 200, (st, b)
    assert adm("GET", "/consumers/jack/credentials/c1")[0] == 404, "credentials went with it"


def test_post_ids_unique():
    ids = []
    lock = threading.Lock()

    def post():
        st, b, _ = adm("POST", "/routes", {"uri": "/post", "upstream": UP})
        assert st == 201, (st, b)
        with lock:
            ids.append(b["value"]["id"])

    threads = [threading.Thread(target=post) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ids) == 12 and len(set(ids)) == 12, ids
    for i in ids:
        assert len(i) == 20 and i.isdigit(), i
        assert adm("GET", "/routes/" + i)[1]["key"] == "/apisix/routes/" + i
        assert adm("DELETE", "/routes/" + i)[0] == 200
    st, b, _ = adm("POST", "/routes/1", {"uri": "/x", "upstream": UP})
    expect(st, b, 400, "wrong route id, do not need it")
    st, b, _ = adm("POST", "/routes", {"id": "1", "uri": "/x", "upstream": UP})
    expect(st, b, 400, "wrong route id, do not need it")


def test_validation_messages():
    st, b, _ = adm("PUT", "/routes/v", {"uri": 1, "upstream": UP})
    assert st == 400 and b == {"error_msg": "invalid configuration: property \"uri\" "
                               "validation failed: wrong type: expected string, got number"}, b
    st, b, _ = adm("PUT", "/routes/v", {"uri": "/v", "upstream": UP, "create_time": 1})
    assert st == 400 and b["error_msg"] == "the property is forbidden:  create_time", b
    st, b, _ = adm("PUT", "/upstreams/a", dict(UP, id="b"))
    expect(st, b, 400, "wrong upstream id")
    st, b, _ = adm("PUT", "/routes/v", {"uri": "/v", "upstream": UP, "plugins": {"nope": {}}})
    expect(st, b, 400, "unknown plugin [nope]")
    st, b, _ = adm("PUT", "/routes/v", {"uri": "/v", "upstream": UP,
                                        "plugins": {"proxy-rewrite": {"uri": 5}}})
    expect(st, b, 400, "failed to check the configuration of plugin proxy-rewrite err: "
           "property \"uri\" validation failed")
    st, b, _ = adm("PUT", "/routes/bad%20id", {"uri": "/v", "upstream": UP})
    expect(st, b, 400, "property \"id\" validation failed")
    st, b, _ = adm("PUT", "/routes/" + "x" * 65, {"uri": "/v", "upstream": UP})
    expect(st, b, 400, "property \"id\" validation failed")
    st, b, _ = adm("PUT", "/routes/v", {"uri": "/v", "host": "a.com", "hosts": ["b.com"],
                                        "upstream": UP})
    expect(st, b, 400, "invalid configuration")
    assert adm("GET", "/routes/v")[0] == 404, "no failed write reached the store"


def test_bad_input():
    st, b, _ = adm("PUT", "/routes/bad", raw="{not json")
    expect(st, b, 400, "invalid request body")
    st, b, _ = adm("PUT", "/routes/bad", raw="[1,2]")
    expect(st, b, 400, "JSON object")
    st, b, _ = adm("PUT", "/routes/bad", raw="")
    expect(st, b, 400, "invalid request body")
    deep = "{\"uri\":\"/d\",\"upstream\":" + "[" * 5000 + "]" * 5000 + "}"
    st, b, _ = adm("PUT", "/routes/bad", raw=deep)
    expect(st, b, 400, "nested")
    # over 1.5 MiB: refused from the headers, before the body is read
    s = socket.create_connection(("127.0.0.1", node.ports["admin"]), timeout=10)
    s.sendall(b"PUT /apisix/admin/routes/bad HTTP/1.1\r\nHost: x\r\nX-API-KEY: " +
              KEY.encode() + b"\r\nContent-Length: %d\r\n\r\n" % (2 * 1024 * 1024) +
              b"{\"uri\":\"/big\",\"desc\":\"" + b"x" * 65536)
    head = s.recv(4096)
    s.close()
    assert head.startswith(b"HTTP/1.1 413"), head[:100]
    st, b, _ = adm("PUT", "/routes/bad", raw="--x\r\n", headers={
        "Content-Type": "multipart/form-data; boundary=x"})
    expect(st, b, 400, "content type")
    assert adm("GET", "/routes/bad")[0] == 404
    # a half-sent request does not hang the node
    s = socket.create_connection(("127.0.0.1", node.ports["admin"]))
    s.sendall(b"PUT /apisix/admin/routes/half HTTP/1.1\r\nHost: x\r\nX-API-KEY: " +
              KEY.encode() + b"\r\nContent-Length: 100\r\n\r\n{\"uri\"")
    s.close()
    assert adm("GET", "/routes/half")[0] == 404
    assert adm("GET", "/routes")[0] == 200, "the node still answers"


def test_patch():
    assert adm("PUT", "/routes/p", {"uri": "/p", "upstream": UP, "desc": "d",
                                    "labels": {"a": "1", "b": "2"},
                                    "methods": ["GET", "POST"]})[0] == 201
    st, b, _ = adm("PATCH", "/routes/p", {"desc": None, "labels": {"a": None, "c": "3"},
                                          "methods": ["PUT"]})
    assert st == 200, (st, b)
    v = adm("GET", "/routes/p")[1]["value"]
    assert "desc" not in v and v["labels"] == {"b": "2", "c": "3"}, v
    assert v["methods"] == ["PUT"], "arrays are replaced whole"
    assert v["uri"] == "/p" and v["upstream"] == UP
    st, b, _ = adm("PATCH", "/routes/p/methods", ["GET"])
    assert st == 200 and b["value"]["methods"] == ["GET"], (st, b)
    st, b, _ = adm("PATCH", "/routes/p/plugins/proxy-rewrite", {"uri": "/rw"})
    assert st == 200 and b["value"]["plugins"]["proxy-rewrite"] == {"uri": "/rw"}, (st, b)
    st, b, _ = adm("PATCH", "/routes/p", {"uri": 5})
    expect(st, b, 400, "property \"uri\" validation failed")
    st, b, _ = adm("PATCH", "/routes/nope", {"desc": "x"})
    assert st == 404, (st, b)
    adm("DELETE", "/routes/p")


def test_patch_races():
    """Many concurrent PATCHes of different fields: none is lost."""
    adm("DELETE", "/routes/race")
    assert adm("PUT", "/routes/race", {"uri": "/race", "upstream": UP})[0] == 201
    n = 14  # labels hold at most 16 keys
    others = {"desc": "d", "name": "nm", "priority": 7, "enable_websocket": True,
              "methods": ["GET"], "timeout": {"connect": 1, "send": 2, "read": 3},
              "hosts": ["race.example.com"], "status": 0}
    patches = [{"labels": {"k%d" % i: "v%d" % i}} for i in range(n)]
    patches += [{k: v} for k, v in others.items()]
    errors = []

    def patch(p):
        st, b, _ = adm("PATCH", "/routes/race", p)
        if st != 200:
            errors.append((p, st, b))

    threads = [threading.Thread(target=patch, args=(p,)) for p in patches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    v = adm("GET", "/routes/race")[1]["value"]
    assert v["labels"] == {"k%d" % i: "v%d" % i for i in range(n)}, v
    for k, want in others.items():
        assert v[k] == want, (k, v)
    assert v["uri"] == "/race" and v["upstream"] == UP, v
    adm("DELETE", "/routes/race")


def test_listing():
    for i in range(25):
        body = {"uri": "/list/%02d" % i, "upstream": UP, "name": "n%02d" % i,
                "labels": {"team": "a" if i % 2 else "b"}}
        if i < 3:
            body = {"uri": "/list/%02d" % i, "upstream_id": "lu", "name": "u%02d" % i}
        if i == 0:
            assert adm("PUT", "/upstreams/lu", UP)[0] == 201
        st, b, _ = adm("PUT", "/routes/l%02d" % i, body)
        assert st == 201, (st, b)
    st, b, _ = adm("GET", "/routes?page=3&page_size=10")
    assert st == 200 and b["total"] == 25 and len(b["list"]) == 5, b
    assert [i["key"] for i in b["list"]] == ["/apisix/routes/l%02d" % i for i in range(20, 25)]
    st, b, _ = adm("GET", "/routes?page_size=5")
    assert st == 400, (st, b)
    st, b, _ = adm("GET", "/routes?page_size=501")
    assert st == 400, (st, b)
    st, b, _ = adm("GET", "/routes?name=^n1")
    assert b["total"] == 10, b
    st, b, _ = adm("GET", "/routes?uri=/list/2")
    assert b["total"] == 5, b
    st, b, _ = adm("GET", "/routes?label=team:a")
    assert b["total"] == 11, b
    st, b, _ = adm("GET", "/routes?filter=upstream_id%3Dlu")
    assert b["total"] == 3, b
    for i in range(25):
        adm("DELETE", "/routes/l%02d" % i)
    adm("DELETE", "/upstreams/lu")


def test_plugins_list_and_schema_validate():
    st, b, _ = adm("GET", "/plugins/list")
    assert st == 200 and "proxy-rewrite" in b and "limit-count" in b, (st, b)
    before = adm("GET", "/routes")[1]["total"]
    st, b, _ = adm("POST", "/schema/validate/routes", {"uri": "/x", "upstream": UP})
    assert st == 200, (st, b)
    st, b, _ = adm("POST", "/schema/validate/routes", {"uri": 1})
    expect(st, b, 400, "invalid configuration")
    assert adm("GET", "/routes")[1]["total"] == before, "validation writes nothing"


def test_ttl():
    st, b, _ = adm("PUT", "/routes/ttl?ttl=2", {"uri": "/ttl", "upstream": UP})
    assert st == 201, (st, b)
    assert adm("GET", "/routes/ttl")[0] == 200
    wait_for(lambda: adm("GET", "/routes/ttl")[0] == 404, timeout=15,
             what="the ttl route to expire")
    # a PATCH keeps the TTL
    st, b, _ = adm("PUT", "/routes/ttl2?ttl=3", {"uri": "/ttl2", "upstream": UP})
    assert st == 201, (st, b)
    st, b, _ = adm("PATCH", "/routes/ttl2", {"desc": "still expiring"})
    assert st == 200, (st, b)
    wait_for(lambda: adm("GET", "/routes/ttl2")[0] == 404, timeout=15,
             what="the patched ttl route to expire")
    st, b, _ = adm("PUT", "/routes/ttl?ttl=abc", {"uri": "/ttl", "upstream": UP})
    expect(st, b, 400, "ttl")


def test_curl_like_apisix_docs():
    """The APISIX docs' curl call, unchanged (form content type, -X PUT -d)."""
    url = "http://127.0.0.1:%d/apisix/admin/routes/curl" % node.ports["admin"]
    out = subprocess.run(["curl", "-sS", "-w", "\n%{http_code}", url, "-H",
                          "X-API-KEY: " + KEY, "-X", "PUT", "-d",
                          '{"uri":"/index.html","upstream":{"type":"roundrobin",'
                          '"nodes":{"127.0.0.1:1980":1}}}'],
                         capture_output=True, text=True, timeout=20)
    body, code = out.stdout.rsplit("\n", 1)
    assert code == "201", (code, body, out.stderr)
    assert json.loads(body)["value"]["uri"] == "/index.html"
    assert adm("DELETE", "/routes/curl")[0] == 200


def test_etcd_keys_are_shared():
    """What the Admin API writes is at APISIX's etcd key, and what etcdctl writes is a
    route for the Admin API."""
    env = dict(os.environ, ETCDCTL_API="3")
    ep = "127.0.0.1:%d" % node.ports["etcd"]

    def etcdctl(*args):
        r = subprocess.run(["etcdctl", "--endpoints", ep, "--command-timeout=5s"] + list(args),
                           capture_output=True, text=True, timeout=20, env=env)
        assert r.returncode == 0, (args, r.stdout, r.stderr)
        return r.stdout

    st, b, _ = adm("PUT", "/routes/e1", {"uri": "/e1", "upstream": UP})
    assert st == 201, (st, b)
    got = json.loads(etcdctl("get", "/apisix/routes/e1", "--print-value-only"))
    assert got == b["value"], (got, b)
    etcdctl("put", "/apisix/routes/e2", json.dumps({"id": "e2", "uri": "/e2", "upstream": UP}))
    st, b, _ = adm("GET", "/routes/e2")
    assert st == 200 and b["value"]["uri"] == "/e2", (st, b)
    keys = [i["key"] for i in adm("GET", "/routes")[1]["list"]]
    assert "/apisix/routes/e1" in keys and "/apisix/routes/e2" in keys, keys
    st, b, _ = adm("PATCH", "/routes/e2", {"desc": "patched"})
    assert st == 200, (st, b)
    assert json.loads(etcdctl("get", "/apisix/routes/e2", "--print-value-only"))["desc"] == \
        "patched"
    assert adm("DELETE", "/routes/e1")[0] == 200
    assert adm("DELETE", "/routes/e2")[0] == 200
    left = etcdctl("get", "/apisix/routes/", "--prefix", "--keys-only")
    assert "/apisix/routes/e1" not in left and "/apisix/routes/e2" not in left, left


def test_strict_bodies():
    """A body is exactly one JSON value with no key twice at any depth: an
    ambiguous or padded body is refused (400, APISIX's "invalid request body:
    ..."), never stored verbatim. Whitespace around the value is fine."""
    route = json.dumps({"uri": "/s", "upstream": UP})
    dup_top = '{"uri":"/a","uri":5,"upstream":%s}' % json.dumps(UP)
    dup_deep = ('{"uri":"/a","upstream":{"nodes":{"127.0.0.1:1980":1,"127.0.0.1:1980":2}}}')
    dup_in_array = ('{"uris":["/a"],"vars":[["arg_x","==","1"]],"upstream":%s,'
                    '"plugins":{"response-rewrite":{"headers":{"set":{"a":"1","a":"2"}}}}}'
                    % json.dumps(UP))
    for method, path in (("PUT", "/routes/strict"), ("POST", "/routes"),
                         ("POST", "/schema/validate/routes")):
        st, b, _ = adm(method, path, raw=dup_top)
        expect(st, b, 400)
        assert b["error_msg"] == 'invalid request body: duplicate key "uri"', (method, b)
        st, b, _ = adm(method, path, raw=dup_deep)
        expect(st, b, 400)
        assert b["error_msg"] == 'invalid request body: duplicate key "127.0.0.1:1980"', b
        st, b, _ = adm(method, path, raw=dup_in_array)
        expect(st, b, 400)
        assert b["error_msg"] == 'invalid request body: duplicate key "a"', b
        st, b, _ = adm(method, path, raw=route + "xxx")
        expect(st, b, 400)
        assert b["error_msg"] == ("invalid request body: trailing bytes after the JSON value "
                                  "at byte %d" % len(route)), b
        st, b, _ = adm(method, path, raw=route + route)
        expect(st, b, 400, "trailing bytes")
    assert adm("GET", "/routes/strict")[0] == 404, "no refused body was stored"
    assert adm("GET", "/routes")[1]["total"] == 0
    # whitespace around the value is JSON
    st, b, _ = adm("PUT", "/routes/strict", raw=" \n" + route + " \r\n\t")
    assert st == 201, (st, b)
    # PATCH, whole and by sub-path
    st, b, _ = adm("PATCH", "/routes/strict", raw='{"desc":"a","desc":"b"}')
    expect(st, b, 400)
    assert b["error_msg"] == 'invalid request body: duplicate key "desc"', b
    st, b, _ = adm("PATCH", "/routes/strict/desc", raw='"a"yyy')
    expect(st, b, 400, "trailing bytes after the JSON value at byte 3")
    st, b, _ = adm("PATCH", "/routes/strict/desc", raw='"a" ')
    assert st == 200 and b["value"]["desc"] == "a", (st, b)
    # keys differing only by case are two keys (and the schema speaks)
    st, b, _ = adm("PATCH", "/routes/strict", raw='{"desc":"a","DESC":"b"}')
    expect(st, b, 400, "invalid configuration")
    assert adm("GET", "/routes/strict")[1]["value"]["desc"] == "a"
    # keys close to the admin key are not it
    for k in (KEY[:-1], KEY + "x", KEY.upper(), "x" + KEY):
        st, b, _ = adm("GET", "/routes", key=k)
        assert st == 401 and b["description"] == "wrong apikey", (k, st, b)
    assert adm("DELETE", "/routes/strict")[0] == 200


def test_etcd_writes_checked():
    """What the Admin API stores passes the etcd API's check when written
    back as is (etcdctl get | etcdctl put: a backup restored); what it would
    refuse is refused through etcdctl too, and nothing is stored."""
    env = dict(os.environ, ETCDCTL_API="3")
    ep = "127.0.0.1:%d" % node.ports["etcd"]

    def etcdctl(*args):
        return subprocess.run(["etcdctl", "--endpoints", ep, "--command-timeout=5s"] +
                              list(args), capture_output=True, text=True, timeout=20, env=env)

    cert, key = tlsutil.self_signed("a.com")
    objects = [
        ("/upstreams/w1", {"type": "chash", "key": "remote_addr", "nodes": {"127.0.0.1:1": 1},
                           "timeout": {"connect": 1, "send": 2, "read": 3}}),
        ("/routes/w1", {"uri": "/w1", "upstream_id": "w1", "plugins": {"request-id": {}},
                        "vars": [["arg_a", "==", "1"]]}),
        ("/services/w1", {"upstream": UP, "name": "svc"}),
        ("/consumers", {"username": "wjack", "plugins": {"key-auth": {"key": "wk"}}}),
        ("/consumers/wjack/credentials/wc1", {"plugins": {"key-auth": {"key": "k1"}}}),
        ("/ssls/w1", {"sni": "a.com", "cert": cert, "key": key}),
        ("/global_rules/w1", {"plugins": {"prometheus": {}}}),
        ("/plugin_configs/w1", {"plugins": {"proxy-rewrite": {"uri": "/x"}}}),
        ("/consumer_groups/w1", {"plugins": {"limit-count": {"count": 1, "time_window": 60}}}),
        ("/plugin_metadata/http-logger", {"log_format": {"host": "$host"}}),
        ("/stream_routes/w1", {"upstream": UP, "server_port": 9100}),
        ("/protos/w1", {"content": "syntax = \"proto3\";"}),
        ("/secrets/vault/w1", {"uri": "http://127.0.0.1:8200", "prefix": "kv", "token": "t"}),
    ]
    keys = []
    for path, body in objects:
        st, b, _ = adm("PUT", path, body)
        assert st == 201, (path, st, b)
        keys.append(b["key"])
    for key in keys:
        r = etcdctl("get", key, "--print-value-only")
        assert r.returncode == 0 and r.stdout.strip(), (key, r.stdout, r.stderr)
        value = r.stdout.rstrip("\n")
        r = etcdctl("put", key, value)
        assert r.returncode == 0, (key, value, r.stderr)
        # the same value with its first key given twice, or with bytes after it
        first = next(iter(json.loads(value).items()))
        dup = value[:-1] + "," + json.dumps(dict([first]))[1:]
        for bad, why in ((dup, 'duplicate key "%s"' % first[0]),
                         (value + "!", "trailing bytes")):
            r = etcdctl("put", key, bad)
            assert r.returncode != 0 and why in r.stderr, (key, bad, r.stderr)
            assert key + " is not a valid " in r.stderr, r.stderr
    bad = [("/apisix/routes/wbad", {"uri": "/w", "upstream": {"nodes": {"x!bad:1": 1}}},
            "route"),
           ("/apisix/upstreams/wbad", {"type": "nope", "nodes": {"127.0.0.1:1": 1}},
            "upstream"),
           ("/apisix/consumers/wbad", {"username": "wbad", "plugins": {"key-auth": 5}},
            "consumer"),
           ("/apisix/global_rules/wbad", {"plugins": {"no-such-plugin": {}}}, "global_rule")]
    for key, value, kind in bad:
        r = etcdctl("put", key, json.dumps(value))
        assert r.returncode != 0, (key, r.stdout)
        assert "%s is not a valid %s: " % (key, kind) in r.stderr, r.stderr
        assert etcdctl("get", key).stdout == "", key
    for path, _ in reversed(objects):
        path = "/consumers/wjack" if path == "/consumers" else path
        st, b, _ = adm("DELETE", path + ("?force=true" if path.startswith("/upstreams") else ""))
        assert st == 200, (path, st, b)


def test_viewer_role_and_allow_list():
    """--admin-viewer-key gives a GET-only role; --admin-allow refuses clients
    outside the list (127.0.0.1 is outside 10.0.0.0/8)."""
    n = Node("adminv", extra_args=["--admin-key", KEY, "--admin-viewer-key", "viewer-1"]).start()
    try:
        st, _, body = n.request("GET", "admin", "/apisix/admin/routes",
                                headers={"X-API-KEY": "viewer-1"})
        assert st == 200, (st, body)
        st, _, body = n.request("PUT", "admin", "/apisix/admin/routes/v1",
                                body={"uri": "/v", "upstream": UP},
                                headers={"X-API-KEY": "viewer-1"})
        assert st == 401, (st, body)
        st, _, body = n.request("PUT", "admin", "/apisix/admin/routes/v1",
                                body={"uri": "/v", "upstream": UP},
                                headers={"X-API-KEY": KEY})
        assert st == 201, (st, body)
    finally:
        n.stop()
    n = Node("admina", extra_args=["--admin-key", KEY, "--admin-allow", "10.0.0.0/8"]).start()
    try:
        st, _, body = n.request("GET", "admin", "/apisix/admin/routes",
                                headers={"X-API-KEY": KEY})
        assert st == 403, (st, body)
    finally:
        n.stop()


def main():
    global node
    tap = Tap()
    node = Node("admin1", extra_args=["--admin-key", KEY]).start()
    for fn in (test_head_and_auth, test_generated_admin_key_file,
               test_unknown_resource_and_methods, test_upstream_and_route_life_cycle,
               test_force_delete, test_missing_reference, test_every_resource_life_cycle,
               test_consumers_and_credentials, test_post_ids_unique, test_validation_messages,
               test_bad_input, test_patch, test_patch_races, test_listing,
               test_plugins_list_and_schema_validate, test_ttl, test_curl_like_apisix_docs,
               test_etcd_keys_are_shared, test_strict_bodies, test_etcd_writes_checked,
               test_viewer_role_and_allow_list):
        tap.run(fn)
    tap.done()


if __name__ == "__main__":
    main()
