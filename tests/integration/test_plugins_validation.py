"""request-validation and plugin_metadata checks through one running node
(two proxy workers), modelled on APISIX's t/plugin/request-validation.t:
header_schema against the request headers, body_schema against a JSON or
form body (required, types, bounds, lengths, patterns, enums, arrays),
rejected_code and rejected_msg, max_req_body_size, a chunked body, the
re-encoded JSON the upstream gets (duplicate keys), schemas the validator
does not serve refused by the Admin API, and request-validation with
hmac-auth's validate_request_body on one route (both see the body)."""
import base64
import email.utils
import hashlib
import hmac
import json
import socket
import subprocess

from harness import Tap, etcdctl
from plugutil import Plug

P = None

BODY_SCHEMA = {
    "type": "object",
    "required": ["required_payload"],
    "properties": {
        "required_payload": {"type": "string"},
        "boolean_payload": {"type": "boolean"},
        "integer_payload": {"type": "integer", "minimum": 1, "maximum": 10},
        "string_payload": {"type": "string", "minLength": 1, "maxLength": 5},
        "regex_payload": {"type": "string", "pattern": "^[a-z]+,[0-9]+$"},
        "enum_payload": {"type": "string", "enum": ["enum_string_1", "enum_string_2"]},
        "array_payload": {"type": "array", "minItems": 1, "uniqueItems": True,
                          "items": {"type": "integer", "minimum": 200, "maximum": 599}},
    },
}


def post(path, body, headers=None):
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    return P.req("POST", path, h, body=body)


def test_admin_checks():
    ok = {"body_schema": BODY_SCHEMA}
    st, b = P.adm("PUT", "/routes/v0", {"uri": "/v0", "upstream": P.upstream(),
                                        "plugins": {"request-validation": ok}})
    assert st in (200, 201), (st, b)
    for conf, want in (
            ({}, "object matches none of the requireds"),
            ({"body_schema": "x"}, 'property "body_schema" validation failed: wrong type: '
                                   "expected object, got string"),
            ({"body_schema": {"type": "object", "propertyNames": {}}},
             'invalid body_schema: keyword "propertyNames" is not supported'),
            ({"header_schema": {"$ref": "route"}},
             'invalid header_schema: keyword "$ref" is not supported'),
            ({"body_schema": {"type": "strin"}},
             'invalid body_schema: "type": unknown type "strin"'),
            ({"body_schema": {"properties": {"a": {"pattern": "(unclosed"}}}},
             'invalid body_schema: invalid pattern "(unclosed"'),
            ({"body_schema": {"properties": {"a": []}}},
             "invalid body_schema: a schema must be an object"),
            ({"body_schema": {}, "rejected_code": 600},
             'property "rejected_code" validation failed: expected 600 to be smaller than 599'),
    ):
        st, b = P.adm("PUT", "/routes/v1", {"uri": "/v1", "upstream": P.upstream(),
                                            "plugins": {"request-validation": conf}})
        assert st == 400, (conf, st, b)
        prefix = "failed to check the configuration of plugin request-validation err: "
        assert b["error_msg"].startswith(prefix + want), (conf, b)
    st, b = P.adm("GET", "/plugins/list")
    assert "request-validation" in b, b


def test_body_schema():
    P.route("vb", "/vb", {"request-validation": {"body_schema": BODY_SCHEMA}})
    hits = P.up.hits
    good = {"required_payload": "a", "boolean_payload": True, "integer_payload": 3,
            "string_payload": "abc", "regex_payload": "abc,12",
            "enum_payload": "enum_string_2", "array_payload": [200, 302]}
    st, _, b = post("/vb", good)
    assert st == 200 and json.loads(json.loads(b)["body"]) == good, (st, b)
    assert P.up.hits == hits + 1
    for body, want in (
            ({}, 'property "required_payload" is required'),
            ({"required_payload": "a", "boolean_payload": "true"},
             'property "boolean_payload" validation failed: wrong type: expected boolean, '
             "got string"),
            ({"required_payload": "a", "integer_payload": 11},
             'property "integer_payload" validation failed: expected 11 to be smaller than 10'),
            ({"required_payload": "a", "integer_payload": 1.5},
             'property "integer_payload" validation failed: wrong type: expected integer, '
             "got number"),
            ({"required_payload": "a", "string_payload": "abcdef"},
             'property "string_payload" validation failed: string too long, expected at '
             "most 5, got 6"),
            ({"required_payload": "a", "regex_payload": "ABC,1"},
             'property "regex_payload" validation failed: failed to match pattern '
             '"^[a-z]+,[0-9]+$" with "ABC,1"'),
            ({"required_payload": "a", "enum_payload": "x"},
             'property "enum_payload" validation failed: matches none of the enum values'),
            ({"required_payload": "a", "array_payload": [200, 200]},
             'property "array_payload" validation failed: expected unique items but items '
             "1 and 2 are equal"),
            ({"required_payload": "a", "array_payload": [100]},
             'property "array_payload" validation failed: failed to validate item 1: '
             "expected 100 to be greater than 200"),
    ):
        st, _, b = post("/vb", body)
        assert (st, b.decode()) == (400, want), (body, st, b)
    st, _, b = post("/vb", '{"required_payload": ')
    assert st == 400 and b.startswith(b"Expected value but found invalid token"), (st, b)
    st, _, b = post("/vb", '{"required_payload": "a"} x')
    assert st == 400 and b.startswith(b"Expected the end but found"), (st, b)
    st, _, b = P.req("POST", "/vb", {"Content-Type": "application/json"}, body="")
    assert st == 400, (st, b)
    st, _, b = P.get("/vb")
    assert st == 400, (st, b)
    assert P.up.hits == hits + 1  # none of the refused went upstream


def test_reencoded_json():
    """The upstream gets the JSON that was checked: of repeated keys the
    last (what was validated), whitespace gone."""
    P.route("vr", "/vr", {"request-validation": {"body_schema": {
        "type": "object", "properties": {"role": {"enum": ["user"]}}}}})
    st, _, b = post("/vr", '{"role": "admin", "role": "user",  "n": [1, 2.5, "x"]}')
    assert st == 200, (st, b)
    sent = json.loads(b)["body"]
    assert json.loads(sent) == {"role": "user", "n": [1, 2.5, "x"]}, sent
    assert sent.count("role") == 1, sent
    st, _, b = post("/vr", '{"role": "user", "role": "admin"}')
    assert st == 400, (st, b)


def test_defaults_and_formats():
    """As APISIX's jsonschema: property defaults are filled in (the upstream
    gets them), and the email/ipv4/ipv6/hostname formats are checked
    (others pass)."""
    P.route("vd", "/vd", {"request-validation": {"body_schema": {
        "type": "object",
        "properties": {
            "mail": {"type": "string", "format": "email"},
            "ip": {"type": "string", "format": "ipv4"},
            "ip6": {"type": "string", "format": "ipv6"},
            "when": {"type": "string", "format": "date-time"},
            "page": {"type": "integer", "default": 1},
            "opts": {"type": "object", "default": {"a": True},
                     "properties": {"deep": {"type": "string", "default": "x"}}},
            "list": {"type": "array", "items": {"type": "object", "properties": {
                "n": {"type": "integer", "default": 7}}}}}}}})
    st, _, b = post("/vd", {"mail": "a.b-c@ex-1.example.com", "ip": "10.0.0.1",
                            "ip6": "::1", "when": "whatever", "opts": {},
                            "list": [{}, {"n": 2}]})
    assert st == 200, (st, b)
    assert json.loads(json.loads(b)["body"]) == {
        "mail": "a.b-c@ex-1.example.com", "ip": "10.0.0.1", "ip6": "::1",
        "when": "whatever", "page": 1, "opts": {"deep": "x"},
        "list": [{"n": 7}, {"n": 2}]}, b
    for body, want in (({"mail": "a@b"}, 'property "mail" validation failed: expect valid '
                                         "email address but got: a@b"),
                       ({"ip": "10.0.0.256"}, 'property "ip" validation failed: expect valid '
                                              "ipv4 address but got: 10.0.0.256"),
                       ({"ip6": "1::2::3"}, 'property "ip6" validation failed: expect valid '
                                            "ipv6 address but got: 1::2::3")):
        st, _, b = post("/vd", body)
        assert (st, b.decode()) == (400, want), (body, st, b)


def test_more_keywords():
    """Keywords APISIX's jsonschema serves beyond the tables': multipleOf,
    tuple items with additionalItems, dependencies, if/then/else, contains."""
    P.route("vk", "/vk", {"request-validation": {"body_schema": {
        "type": "object",
        "properties": {
            "n": {"type": "number", "multipleOf": 0.5},
            "pair": {"type": "array", "items": [{"type": "string"}, {"type": "integer"}],
                     "additionalItems": False},
            "tags": {"type": "array", "contains": {"const": "x"}},
            "kind": {"type": "string"}},
        "dependencies": {"card": ["billing"], "vip": {"required": ["level"]}},
        "if": {"properties": {"kind": {"const": "a"}}, "required": ["kind"]},
        "then": {"required": ["a_only"]}}}})
    assert post("/vk", {"n": 1.5, "pair": ["a", 1], "tags": ["y", "x"], "card": 1,
                        "billing": 2, "kind": "a", "a_only": 1})[0] == 200
    for body, want in (
            ({"n": 1.2}, 'property "n" validation failed: expected 1.2 to be a multiple of 0.5'),
            ({"pair": ["a", "b"]}, 'property "pair" validation failed: failed to validate '
                                   'item 2: wrong type: expected integer, got string'),
            ({"pair": ["a", 1, 2]}, 'property "pair" validation failed: found unexpected '
                                    "extra items in array"),
            ({"tags": ["y"]}, 'property "tags" validation failed: failed to check contains'),
            ({"card": 1}, 'property "billing" is required when "card" is set'),
            ({"vip": 1}, 'failed to validate dependent schema for "vip": property "level" '
                         "is required"),
            ({"kind": "a"}, "then clause did not match")):
        st, _, b = post("/vk", body)
        assert (st, b.decode()) == (400, want), (body, st, b)
    st, b = P.adm("PUT", "/routes/vk2", {"uri": "/vk2", "upstream": P.upstream(), "plugins": {
        "request-validation": {"body_schema": {"multipleOf": 0}}}})
    assert st == 400 and b["error_msg"].endswith(
        'invalid body_schema: "multipleOf": expected a number above 0'), b


def test_form_body():
    P.route("vf", "/vf", {"request-validation": {"body_schema": {
        "type": "object", "required": ["name"],
        "properties": {"name": {"type": "string", "minLength": 2},
                       "tag": {"type": "array"}, "flag": {"type": "boolean"}}}}})
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    st, _, b = P.req("POST", "/vf", form, body="name=jo%20e&tag=a&tag=b&flag")
    assert st == 200 and json.loads(b)["body"] == "name=jo%20e&tag=a&tag=b&flag", (st, b)
    st, _, b = P.req("POST", "/vf", form, body="name=j")
    assert (st, b) == (400, b'property "name" validation failed: string too short, '
                            b'expected at least 2, got 1'), (st, b)
    st, _, b = P.req("POST", "/vf", form, body="tag=x&tag=y")
    assert (st, b) == (400, b'property "name" is required'), (st, b)


def test_header_schema():
    P.route("vh", "/vh", {"request-validation": {"header_schema": {
        "type": "object", "required": ["User-Agent", "X_Api_Version"],
        "properties": {"X-Api-Version": {"type": "string", "pattern": "^v[0-9]+$"},
                       "accept": {"type": "array"}}}}})
    st, _, b = P.get("/vh", {"User-Agent": "t", "X-Api-Version": "v2"})
    assert st == 200, (st, b)
    st, _, b = P.get("/vh", {"User-Agent": "t"})
    assert (st, b) == (400, b'property "x-api-version" is required'), (st, b)
    st, _, b = P.get("/vh", {"User-Agent": "t", "X-API-VERSION": "2"})
    assert st == 400 and b.startswith(b'property "x-api-version" validation failed: '
                                      b'failed to match pattern'), (st, b)
    # a repeated header is an array of its values
    c = socket.create_connection(("127.0.0.1", P.node.ports["proxy"]), timeout=10)
    c.sendall(b"GET /vh HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\nX-Api-Version: v1\r\n"
              b"Accept: a\r\nAccept: b\r\nConnection: close\r\n\r\n")
    resp = b""
    while True:
        piece = c.recv(65536)
        if not piece:
            break
        resp += piece
    c.close()
    assert resp.startswith(b"HTTP/1.1 200"), resp[:200]


def test_rejected_code_msg_and_size():
    P.route("vc", "/vc", {"request-validation": {
        "body_schema": {"type": "object", "required": ["a"]},
        "rejected_code": 422, "rejected_msg": "customize reject message",
        "max_req_body_size": 64}})
    st, _, b = post("/vc", {"b": 1})
    assert (st, b) == (422, b"customize reject message"), (st, b)
    st, _, b = post("/vc", {"a": "x" * 100})
    assert (st, b) == (422, b"customize reject message"), (st, b)
    st, _, b = post("/vc", {"a": 1})
    assert st == 200, (st, b)
    # chunked: the size is checked as the body comes, the upstream gets the
    # re-encoded body with a Content-Length
    for chunks, want in (([b'{"a":', b' 7}'], b"200"), ([b'{"a": "', b"y" * 80, b'"}'], b"422")):
        c = socket.create_connection(("127.0.0.1", P.node.ports["proxy"]), timeout=10)
        c.sendall(b"POST /vc HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                  b"Content-Type: application/json\r\nConnection: close\r\n\r\n")
        for ch in chunks:
            c.sendall(b"%x\r\n%s\r\n" % (len(ch), ch))
        c.sendall(b"0\r\n\r\n")
        resp = b""
        while True:
            try:
                piece = c.recv(65536)
            except ConnectionResetError:
                break
            if not piece:
                break
            resp += piece
        c.close()
        assert resp.startswith(b"HTTP/1.1 " + want), resp[:300]
        if want == b"200":
            echo = json.loads(resp.split(b"\r\n\r\n", 1)[1])
            assert echo["body"] == '{"a":7}', echo
            assert echo["headers"].get("content-length") == "7", echo["headers"]


def test_big_bodies():
    """Bodies built to be expensive stay cheap: uniqueItems over 50,000 items
    (hashed, not compared pairwise), a form of many keys (sorted), more JSON
    values than the bound, and a NUL in a form are refused or checked at
    once; the node keeps answering."""
    P.route("vu", "/vu", {"request-validation": {"body_schema": {
        "type": "object", "properties": {"ids": {"type": "array", "uniqueItems": True}}}}})
    ids = list(range(50000))
    st, _, b = post("/vu", {"ids": ids + [{"a": 1, "b": [1, 2]}, {"b": [1, 2], "a": 1}]})
    assert (st, b) == (400, b'property "ids" validation failed: expected unique items but '
                            b'items 50001 and 50002 are equal'), (st, b[:200])
    st, _, b = post("/vu", {"ids": ids + [7]})
    assert (st, b) == (400, b'property "ids" validation failed: expected unique items but '
                            b'items 8 and 50001 are equal'), (st, b[:200])
    st, _, b = post("/vu", {"ids": ids + ["7", 7.5]})
    assert st == 200, (st, b[:200])
    st, _, b = post("/vu", "[" + ",".join(["0"] * 300000) + "]")
    # over the values bound: the status page, the reason only in the log
    assert st == 400 and b"400 Bad Request" in b, (st, b[:200])
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    P.route("vfm", "/vfm", {"request-validation": {"body_schema": {
        "type": "object", "properties": {"k1": {"type": "string"}}}}})
    st, _, b = P.req("POST", "/vfm", form, body="&".join("k%d=v" % i for i in range(60000)))
    assert st == 200, (st, b[:200])
    st, _, b = P.req("POST", "/vfm", form, body="&".join("k%d=v" % i for i in range(70000)))
    assert st == 400, (st, b[:200])
    st, _, b = P.req("POST", "/vfm", form, body="k1=ok%00evil")
    assert st == 400, (st, b[:200])
    assert P.get("/vfm")[0] == 400  # no body: refused, and the node answers


def hmac_headers(path, body):
    date = email.utils.formatdate(usegmt=True)
    sig_in = "k1\nPOST %s\ndate: %s\n" % (path, date)
    sig = base64.b64encode(hmac.new(b"s1", sig_in.encode(), hashlib.sha256).digest()).decode()
    return {"Date": date, "Content-Type": "application/json",
            "Digest": "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode(),
            "Authorization": 'Signature keyId="k1",algorithm="hmac-sha256",'
                             'headers="@request-target date",signature="%s"' % sig}


def test_with_hmac_body():
    """request-validation (2800) and hmac-auth's validate_request_body (2530)
    on one route: both get the body; either can refuse it."""
    P.put_ok("/consumers", {"username": "hv", "plugins": {
        "hmac-auth": {"key_id": "k1", "secret_key": "s1"}}})
    P.route("vhm", "/vhm", {
        "request-validation": {"body_schema": {"type": "object", "required": ["a"]}},
        "hmac-auth": {"validate_request_body": True}})
    body = b'{"a": 1}'
    st, _, b = P.req("POST", "/vhm", hmac_headers("/vhm", body), body=body)
    assert st == 200 and json.loads(b)["body"] == '{"a":1}', (st, b)
    body = b'{"b": 1}'
    st, _, b = P.req("POST", "/vhm", hmac_headers("/vhm", body), body=body)
    assert (st, b) == (400, b'property "a" is required'), (st, b)
    h = hmac_headers("/vhm", b'{"a": 2}')
    st, _, b = P.req("POST", "/vhm", h, body=b'{"a": 1}')
    assert st == 401, (st, b)
    # request-validation refusing a chunked body over its limit inside
    # hmac-auth's chained hook: the request it answered is not touched again
    # (a use-after-free under ASan before), and the node keeps serving
    P.route("vhc", "/vhc", {
        "request-validation": {"body_schema": {"type": "object"}, "max_req_body_size": 16},
        "hmac-auth": {"validate_request_body": True}})
    body = b'{"a": "' + b"z" * 64 + b'"}'
    h = hmac_headers("/vhc", body)
    for _ in range(3):
        c = socket.create_connection(("127.0.0.1", P.node.ports["proxy"]), timeout=10)
        c.sendall(b"POST /vhc HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n" +
                  b"".join(b"%s: %s\r\n" % (k.encode(), v.encode()) for k, v in h.items()) +
                  b"Connection: close\r\n\r\n")
        for ch in (body[:8], body[8:]):
            c.sendall(b"%x\r\n%s\r\n" % (len(ch), ch))
        c.sendall(b"0\r\n\r\n")
        resp = b""
        while True:
            try:
                piece = c.recv(65536)
            except ConnectionResetError:
                break
            if not piece:
                break
            resp += piece
        c.close()
        assert resp.startswith(b"HTTP/1.1 400"), resp[:300]
    body = b'{"a": 1}'
    st, _, b = P.req("POST", "/vhm", hmac_headers("/vhm", body), body=body)
    assert st == 200, (st, b)


def test_http2_body():
    """An HTTP/2 request (h2c, curl) is held, checked and re-encoded the same
    way: the upstream (HTTP/1.1) gets the checked JSON with a Content-Length."""
    def curl(body):
        out = subprocess.run(
            ["curl", "-s", "--http2-prior-knowledge", "-o", "-", "-w", "\n%{http_code}",
             "-H", "Content-Type: application/json", "--data-binary", "@-",
             "http://127.0.0.1:%d/vr" % P.node.ports["proxy"]],
            input=body, capture_output=True, text=True, timeout=20).stdout
        text, code = out.rsplit("\n", 1)
        return int(code), text
    code, text = curl('{"role": "admin", "role": "user",   "x": 1}')
    assert code == 200, (code, text)
    echo = json.loads(text)
    assert echo["body"] == '{"role":"user","x":1}', echo
    assert echo["headers"]["content-length"] == str(len(echo["body"])), echo["headers"]
    # larger than the stream's flow-control window: the gateway keeps
    # granting window while it holds the body
    big = json.dumps({"role": "user", "pad": "y" * (1 << 20)})
    code, text = curl(big)
    assert code == 200 and json.loads(json.loads(text)["body"])["pad"] == "y" * (1 << 20), code
    code, text = curl('{"role": "admin"}')
    assert (code, text) == (400, 'property "role" validation failed: matches none of the '
                                 "enum values"), (code, text)


def test_plugin_metadata_checked():
    """plugin_metadata objects are checked against the plugin's metadata
    schema (APISIX's admin/plugin_metadata.lua words), by the Admin API and
    by etcd API puts."""
    for name, conf in (("http-logger", {"log_format": {"h": "$host"}}),
                       ("cors", {"allow_origins": {"k": "http://a.com,https://b.com"}}),
                       ("limit-count", {"limit_header": "X-Limit"}),
                       ("key-auth", {"anything": [1, 2]}),
                       ("prometheus", {})):
        st, b = P.adm("PUT", "/plugin_metadata/" + name, conf)
        assert st in (200, 201), (name, st, b)
    for name, conf, want in (
            ("no-such", {}, "invalid plugin name"),
            ("http-logger", {"log_format": "x"},
             'invalid configuration: property "log_format" validation failed: wrong type: '
             "expected object, got string"),
            ("file-logger", {"log_format_extra": {}},
             "invalid configuration: additional properties forbidden, found log_format_extra"),
            ("prometheus", {"disabled_labels": {}},
             "invalid configuration: additional properties forbidden, found disabled_labels"),
            ("cors", {"allow_origins": {"k": "a.com"}},
             'invalid configuration: property "allow_origins" validation failed: failed to '
             "validate additional property k: failed to match pattern"),
            ("limit-count", {"reset_header": 5},
             'invalid configuration: property "reset_header" validation failed: wrong type: '
             "expected string, got number"),
            # a header name is a token: CR/LF or ':' would forge response headers
            ("limit-count", {"limit_header": "X-A\r\nSet-Cookie: a=b"},
             'invalid configuration: property "limit_header" validation failed: failed to '
             "match pattern"),
            ("limit-count", {"remaining_header": "X-A: 1"},
             'invalid configuration: property "remaining_header" validation failed: failed to '
             "match pattern"),
    ):
        st, b = P.adm("PUT", "/plugin_metadata/" + name, conf)
        assert st == 400 and b["error_msg"].startswith(want), (name, st, b)
    res = etcdctl(P.node, "put", "/apisix/plugin_metadata/no-such", "{}")
    assert res.returncode != 0 and "/apisix/plugin_metadata/no-such is not a valid " \
        "plugin_metadata: invalid plugin name" in res.stderr, (res.stdout, res.stderr)
    res = etcdctl(P.node, "put", "/apisix/plugin_metadata/http-logger", '{"log_format": 1}')
    assert res.returncode != 0 and "plugin_metadata: invalid configuration: property" in \
        res.stderr and "log_format" in res.stderr, res.stderr
    st, b = P.adm("GET", "/plugins/cors?schema_type=metadata")
    assert st == 200 and "allow_origins" in b["properties"], b
    st, b = P.adm("GET", "/plugins/key-auth?schema_type=metadata")
    assert st == 200 and b == {"type": "object"}, b
    for name in ("http-logger", "cors", "limit-count", "key-auth", "prometheus"):
        assert P.adm("DELETE", "/plugin_metadata/" + name)[0] == 200


def test_metadata_served():
    """cors' allow_origins_by_metadata and limit-count's header names come
    from plugin_metadata, and follow its changes."""
    P.put_ok("/plugin_metadata/cors", {"allow_origins": {
        "team": "http://a.test,https://b.test", "one": "http://c.test"}})
    P.route("cm", "/cm", {"cors": {"allow_origins_by_metadata": ["team", "one", "none"]}})
    P.route("cml", "/cml", {"cors": {"allow_origins_by_metadata": ["one"],
                                     "allow_origins": "http://local.test"}})
    for path, origin, want in (("/cm", "https://b.test", "https://b.test"),
                               ("/cm", "http://c.test", "http://c.test"),
                               ("/cm", "http://evil.test", None),
                               ("/cml", "http://c.test", "http://c.test"),
                               ("/cml", "http://local.test", "http://local.test"),
                               ("/cml", "http://evil.test", None)):
        st, hd, _ = P.get(path, {"Origin": origin})
        assert st == 200 and hd.get("access-control-allow-origin") == want, (path, origin, hd)
    P.put_ok("/plugin_metadata/cors", {"allow_origins": {"one": "http://d.test"}})
    P.sync()
    st, hd, _ = P.get("/cm", {"Origin": "http://d.test"})
    assert hd.get("access-control-allow-origin") == "http://d.test", hd
    st, hd, _ = P.get("/cm", {"Origin": "http://c.test"})
    assert "access-control-allow-origin" not in hd, hd

    P.route("lm", "/lm", {"limit-count": {"count": 5, "time_window": 60}})
    st, hd, _ = P.get("/lm")
    assert hd.get("x-ratelimit-limit") == "5", hd
    P.put_ok("/plugin_metadata/limit-count", {"limit_header": "X-Limit",
                                              "remaining_header": "X-Left"})
    P.sync()
    st, hd, _ = P.get("/lm")
    assert hd.get("x-limit") == "5" and hd.get("x-left") == "3" and \
        hd.get("x-ratelimit-reset") is not None and "x-ratelimit-limit" not in hd, hd
    assert P.adm("DELETE", "/plugin_metadata/limit-count")[0] == 200
    assert P.adm("DELETE", "/plugin_metadata/cors")[0] == 200


def test_stops_clean():
    rc = P.stop()
    log = P.node.log()
    assert rc == 0, (rc, log[-2000:])
    for bad in ("Sanitizer", "runtime error", "live handles"):
        assert bad not in log, log[-3000:]


tap = Tap()
P = Plug("plugval", extra_args=["--proxy-h2c", "on"])
try:
    tap.run(test_admin_checks)
    tap.run(test_body_schema)
    tap.run(test_reencoded_json)
    tap.run(test_defaults_and_formats)
    tap.run(test_more_keywords)
    tap.run(test_form_body)
    tap.run(test_header_schema)
    tap.run(test_rejected_code_msg_and_size)
    tap.run(test_big_bodies)
    tap.run(test_with_hmac_body)
    tap.run(test_http2_body)
    tap.run(test_plugin_metadata_checked)
    tap.run(test_metadata_served)
    tap.run(test_stops_clean)
finally:
    P.stop()
tap.done()
