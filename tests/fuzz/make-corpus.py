#!/usr/bin/env python3
"""make-corpus.py: write the seed corpora of tests/fuzz/corpus/<harness>/.

Every seed is real traffic in the harness's input format (docs/fuzzing.md):
requests and responses as the integration tests send them, PROXY protocol
headers as haproxy writes them, raft frames and configurations as libraft
0.22.1 encodes them (the builders of tests/unit/test_raft_frame.c), log
commands in raft/codec.c's format, etcd requests as etcdctl sends them
(protobuf) and as the JSON gateway takes them, Admin API bodies from the
APISIX docs. Deterministic: rerun after a format change and commit the
result.  usage: tests/fuzz/make-corpus.py [OUTDIR]
"""
import hashlib
import json
import os
import struct
import sys

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus")
SEED = b"\x2a\x13\x07\x05"  # split seed of the harnesses that take one


def write(harness, data):
    d = os.path.join(OUT, harness)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- HTTP/1 requests (fuzz_http1: split seed, then the client's bytes)
REQS = [
    b"GET /up/a HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET /none?x=1 HTTP/1.1\r\nHost: a.example\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n",
    b"GET /u HTTP/1.1\r\nHost: h\r\nX-K: abc\r\n\r\n",
    b"GET /x HTTP/1.1\r\nHost: h\r\n\r\nGET /y HTTP/1.1\r\nHost: h\r\n\r\nGET /z HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhelloGET /none HTTP/1.1\r\nHost: a.example\r\n\r\n",
    b"POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nX-T: 1\r\n\r\nGET /y HTTP/1.1\r\nHost: h\r\n\r\n",
    b"POST /up/b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\nabc",
    b"PUT /rw/c?q=1 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    b"GET /rw/%2e%2e/a//b/./c HTTP/1.1\r\nHost: H.Example:8080\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n",
    b"GET http://a.example/none?x=1 HTTP/1.1\r\nHost: b\r\n\r\n",
    b"GET /x HTTP/1.0\r\n\r\n",
    # plugins: key-auth (header, query), basic-auth, limits
    b"GET /ka/a?k=k&a=1 HTTP/1.1\r\nHost: h\r\nX-K: 1\r\n\r\n",
    b"GET /ka/b HTTP/1.1\r\nHost: h\r\napikey: k\r\n\r\nGET /ka/c HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET /ba/a HTTP/1.1\r\nHost: h\r\nAuthorization: Basic amFjazpw\r\nX-K: 2\r\n\r\n",
    b"GET /ba/b HTTP/1.1\r\nHost: h\r\nAuthorization: Basic =\r\n\r\n",
    b"GET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /y HTTP/1.0\r\n\r\n",
    b"HEAD /x HTTP/1.1\r\nHost: h\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET /up/ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    # smuggling attempts: all refused with 400
    b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    b"POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    b"GET /x HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n",
    b"GET /x HTTP/1.1\r\nHost: h\rX: 1\r\n\r\n",
    b"GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    b"POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n",
    b"CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /x HTTP/2.0\r\nHost: h\r\n\r\n",
    # bug 4 of docs/fuzzing.md: too many headers, then a bad byte
    b"GET /x HTTP/1.1\r\nHost: h\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(260))
    + b"X-Late: a\x01b\r\n\r\n",
]
for r in REQS:
    write("fuzz_http1", SEED + r)

# ---- upstream responses (fuzz_upstream_resp: request selector, seed, bytes)
RESPS = [
    (0, b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"),
    (0, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n"),
    (0, b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end"),
    (0, b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"),
    (0, b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n"),
    (0, b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n"),
    (0, b"HTTP/1.0 200 OK\r\nKeep-Alive: timeout=5\r\nConnection: keep-alive, X-Drop\r\nX-Drop: 1\r\nContent-Length: 2\r\n\r\nok"),
    (0, b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    (1, b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"),
    (2, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
    (3, b"HTTP/1.1 201 Created\r\nLocation: /a\r\nContent-Length: 0\r\n\r\n"),
    (4, b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello"),
    (5, b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nX-R: 0\r\n\r\nbody"),
    # bug 2 of docs/fuzzing.md: bodiless statuses followed by body bytes
    (0, b"HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
    (0, b"HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\nsmuggle"),
    (2, b"HTTP/1.1 100 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
]
for sel, r in RESPS:
    write("fuzz_upstream_resp", bytes([sel]) + SEED + r)

# ---- PROXY protocol (fuzz_pp: the connection's first bytes)
HTTP = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"
write("fuzz_pp", b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n" + HTTP)
write("fuzz_pp", b"PROXY TCP6 2001:db8::1 2001:db8::2 56324 443\r\n" + HTTP)
write("fuzz_pp", b"PROXY UNKNOWN\r\n" + HTTP)
write("fuzz_pp", b"PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n")
V2SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def pp2(cmd, fam, body):
    return V2SIG + bytes([0x20 | cmd, fam]) + struct.pack(">H", len(body)) + body


v4 = bytes([192, 0, 2, 1, 198, 51, 100, 2]) + struct.pack(">HH", 56324, 443)
v6 = bytes(15) + b"\x01" + bytes(15) + b"\x02" + struct.pack(">HH", 56324, 443)
tlv = b"\x01\x00\x02h2" + b"\x04\x00\x00"  # ALPN, NOOP
write("fuzz_pp", pp2(1, 0x11, v4) + HTTP)
write("fuzz_pp", pp2(1, 0x21, v6 + tlv) + HTTP)
write("fuzz_pp", pp2(0, 0x00, b"") + HTTP)
write("fuzz_pp", pp2(1, 0x31, bytes(216)))  # AF_UNIX


# ---- raft frames (fuzz_raft_frame: split seed, then the peer's bytes)
def u64(v):
    return struct.pack("<Q", v)


def pad8(b):
    return b + bytes(-len(b) % 8)


def handshake(pid, addr):
    a = pad8(addr.encode() + b"\0")
    return u64(1) + u64(pid) + u64(len(a)) + a


def preamble(t, ver, hl):
    return u64(t | ver << 16) + u64(hl)


def conf(n):
    b = b"\x01" + u64(n)
    for i in range(n):
        b += u64(i + 1) + ("127.0.0.1:%d" % (9000 + i)).encode() + b"\0" + b"\x01"
    return pad8(b)


def append_entries(term, entries):
    h = preamble(1, 0, 48 + 16 * len(entries)) + u64(term) + u64(5) + u64(term) + u64(5)
    h += u64(len(entries))
    for t, typ, data in entries:
        h += u64(t) + bytes([typ, 0xAA, 0xBB, 0xCC]) + struct.pack("<I", len(data))
    h += u64(0)
    return h + b"".join(d for _, _, d in entries)


def install_snapshot(term, c, data):
    return (preamble(5, 0, 56 + len(c)) + u64(term) + u64(100) + u64(term) + u64(90)
            + u64(len(c)) + c + u64(len(data)) + u64(0) + data)


RV = preamble(3, 2, 40) + u64(5) + u64(7) + u64(10) + u64(4) + u64(2)
SMALL = (preamble(4, 2, 24) + u64(5) + u64(1) + u64(0)
         + preamble(2, 2, 32) + u64(5) + u64(0) + u64(12) + u64(0)
         + preamble(6, 0, 24) + u64(5) + u64(12) + u64(5))
C3 = conf(3)
HS = handshake(7, "127.0.0.1:9001")
write("fuzz_raft_frame", SEED + HS)
write("fuzz_raft_frame", SEED + HS + RV + SMALL)
write("fuzz_raft_frame", SEED + HS + append_entries(5, []))
write("fuzz_raft_frame", SEED + HS + append_entries(5, [(4, 1, bytes(16)), (5, 3, C3), (5, 2, bytes(5))]))
write("fuzz_raft_frame", SEED + HS + install_snapshot(5, C3, bytes(range(40))))
write("fuzz_raft_frame", SEED + HS + preamble(1, 0, 8) + u64(5))  # libraft 0.22.1's crash


# ---- raft log commands (fuzz_raft_codec: one entry, raft/codec.c format v1)
def uvar(v):
    out = b""
    while True:
        c = v & 0x7F
        v >>= 7
        if v:
            out += bytes([c | 0x80])
        else:
            return out + bytes([c])


def svar(v):
    return uvar(((v << 1) ^ (-1 if v < 0 else 0)) & 0xFFFFFFFFFFFFFFFF)


def bts(b):
    return uvar(len(b)) + b


def op_put(k, v, lease=0, flags=0):
    return b"\x01" + bts(k) + bts(v) + svar(lease) + bytes([flags])


def op_range(k, end=b"", limit=0, rev=0):
    return (b"\x00" + bts(k) + bts(end) + svar(limit) + svar(rev) + b"\x00\x00\x00"
            + svar(0) * 4)


def op_del(k, end=b"", flags=1):
    return b"\x02" + bts(k) + bts(end) + bytes([flags])


def op_txn(cmps, succ, fail):
    b = b"\x03" + uvar(len(cmps))
    for res, tgt, k, num, val in cmps:
        b += bytes([res, tgt]) + bts(k) + bts(b"") + svar(num) + bts(val)
    b += uvar(len(succ)) + b"".join(succ) + uvar(len(fail)) + b"".join(fail)
    return b


ROUTE = json.dumps({"uri": "/a", "upstream": {"nodes": {"127.0.0.1:1980": 1}}}).encode()
for o in [op_put(b"/apisix/routes/1", ROUTE), op_put(b"k", b"v", 0, 1),
          op_range(b"/apisix/", b"/apisix0", 10), op_range(b"\0", b"\0"), op_del(b"k"),
          op_del(b"a", b"z"),
          op_txn([(0, 3, b"k", 0, b"v"), (1, 0, b"k", 2, b"")], [op_put(b"k", b"w")],
                 [op_range(b"k")]),
          op_txn([], [op_txn([], [op_del(b"x")], [])], []),
          b"\x04" + svar(5), b"\x05" + svar(0) + svar(60), b"\x06" + svar(1234),
          b"\x07" + bts(b"member/1") + bts(b'{"id":1}'), b"\x08" + bts(b"member/1"), b"\x09"]:
    write("fuzz_raft_codec", b"\x01" + o)
write("fuzz_raft_codec", b"\x01" + op_put(b"k", b"v") + bytes(3))  # raft's zero padding
# bug 1 of docs/fuzzing.md: compares of 6 bytes ending the entry
write("fuzz_raft_codec", b"\x01" + op_txn([(1, 0, b"", 0, b"")] * 3, [], []))


# ---- etcd protobuf requests (fuzz_etcd_pb: method index, then the message)
def tag(n, wt):
    return uvar(n << 3 | wt)


def pb_bytes(n, b):
    return tag(n, 2) + uvar(len(b)) + b


def pb_int(n, v):
    return tag(n, 0) + uvar(v & 0xFFFFFFFFFFFFFFFF)


RANGE, PUT, DELETE, TXN, COMPACT, WATCH, GRANT, REVOKE, KEEPALIVE, TTL = range(10)
range_req = pb_bytes(1, b"/apisix/routes/") + pb_bytes(2, b"/apisix/routes0") + pb_int(3, 10)
put_req = pb_bytes(1, b"/apisix/routes/1") + pb_bytes(2, ROUTE) + pb_int(3, 0x1234) + pb_int(4, 1)
del_req = pb_bytes(1, b"k") + pb_bytes(2, b"\0") + pb_int(3, 1)
compare = pb_int(1, 0) + pb_int(2, 3) + pb_bytes(3, b"k") + pb_bytes(7, b"v")
txn_req = (pb_bytes(1, compare) + pb_bytes(2, pb_bytes(2, put_req))
           + pb_bytes(3, pb_bytes(1, range_req)) + pb_bytes(2, pb_bytes(3, del_req)))
watch_req = pb_bytes(1, pb_bytes(1, b"/apisix") + pb_bytes(2, b"/apisiy") + pb_int(3, 5)
                     + pb_int(4, 1) + pb_int(6, 1))
for sel, m in [(RANGE, range_req), (PUT, put_req), (DELETE, del_req), (TXN, txn_req),
               (COMPACT, pb_int(1, 5) + pb_int(2, 1)), (WATCH, watch_req),
               (WATCH, pb_bytes(2, pb_int(1, 1))), (GRANT, pb_int(1, 60) + pb_int(2, 7)),
               (REVOKE, pb_int(1, 7)), (KEEPALIVE, pb_int(1, 7)),
               (TTL, pb_int(1, 7) + pb_int(2, 1)), (11, b"")]:
    write("fuzz_etcd_pb", bytes([sel]) + m)
    write("fuzz_etcd_pb", bytes([sel]) + b"\0" + struct.pack(">I", len(m)) + m)  # gRPC framed

# ---- etcd JSON gateway bodies (fuzz_etcd_json: method index, then the body)
JSON_BODIES = [
    (RANGE, {"key": "L2FwaXNpeC9yb3V0ZXMv", "range_end": "L2FwaXNpeC9yb3V0ZXMw", "limit": "10"}),
    (PUT, {"key": "Zm9v", "value": "YmFy", "lease": "4660", "prev_kv": True}),
    (DELETE, {"key": "Zm9v", "range_end": "AA=="}),
    (TXN, {"compare": [{"result": "EQUAL", "target": "VALUE", "key": "Zm9v", "value": "YmFy"}],
           "success": [{"request_put": {"key": "Zm9v", "value": "YmF6"}}],
           "failure": [{"request_range": {"key": "Zm9v"}}]}),
    (COMPACT, {"revision": "5", "physical": True}),
    (WATCH, {"create_request": {"key": "Zm9v", "start_revision": 3}}),
    (GRANT, {"TTL": 60, "ID": 7}),
    (REVOKE, {"ID": "7"}),
    (TTL, {"ID": 7, "keys": True}),
]
for sel, b in JSON_BODIES:
    write("fuzz_etcd_json", bytes([sel]) + json.dumps(b).encode())

# ---- Admin API bodies (fuzz_admin: resource index, then the body)
ADMIN = [
    (0, {"uri": "/hello", "methods": ["GET"], "upstream": {"type": "roundrobin",
                                                           "nodes": {"127.0.0.1:1980": 1}}}),
    (0, {"uris": ["/a/*", "/b"], "hosts": ["*.example.com"], "priority": 3,
         "vars": [["arg_x", "==", "1"], ["http_y", "~~", "^a"]], "remote_addrs": ["10.0.0.0/8"],
         "upstream_id": "1", "enable_websocket": True, "timeout": {"connect": 3, "send": 3,
                                                                   "read": 3}}),
    (0, {"uri": "/rw", "service_id": "1", "plugins": {
        "proxy-rewrite": {"regex_uri": ["^/rw/(.*)", "/$1"], "headers": {"set": {"X-A": "1"}}},
        "response-rewrite": {"status_code": 201, "body": "x"}}}),
    (1, {"upstream": {"type": "chash", "hash_on": "header", "key": "x-k",
                      "nodes": [{"host": "127.0.0.1", "port": 1980, "weight": 1}]}}),
    (2, {"type": "least_conn", "nodes": {"[::1]:80": 2, "127.0.0.2:80": 0}, "retries": 2,
         "pass_host": "rewrite", "upstream_host": "a", "keepalive_pool": {"size": 4,
                                                                          "idle_timeout": 5,
                                                                          "requests": 10}}),
    (3, {"plugins": {"proxy-rewrite": {"uri": "/x"}}}),
    (4, {"plugins": {"response-rewrite": {"headers": {"add": {"X-G": "1"}}}}}),
    (5, {"username": "jack", "plugins": {}}),
    (6, {"cert": "-----BEGIN CERTIFICATE-----", "key": "k", "snis": ["a.example"]}),
    # bug 3 of docs/fuzzing.md: an unbounded "upstream" with a port beyond long
    (9, {"upstream": {"nodes": [{"host": "127.0.0.1", "port": 1.4e42}]}}),
]
for sel, b in ADMIN:
    write("fuzz_admin", bytes([sel]) + json.dumps(b).encode())


# ---- the etcd listener end to end (fuzz_etcd_server: mode byte, then a
# connection's bytes; mode 0 = after the HTTP/2 preface, 1 = as they are)
def h2frame(typ, flags, sid, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([typ, flags]) + struct.pack(">I", sid) + payload


def hpack_literal(name, value):
    # literal header field without indexing, new name, no Huffman (RFC 7541 6.2.2)
    return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value


def grpc_call(sid, path, msg, end=True):
    hdrs = b"".join(hpack_literal(k, v) for k, v in [
        (b":method", b"POST"), (b":scheme", b"http"), (b":path", path),
        (b":authority", b"127.0.0.1:2379"), (b"content-type", b"application/grpc"),
        (b"te", b"trailers"), (b"grpc-timeout", b"5S")])
    body = b"\0" + struct.pack(">I", len(msg)) + msg
    return h2frame(1, 4, sid, hdrs) + h2frame(0, 1 if end else 0, sid, body)


SETTINGS = h2frame(4, 0, 0, b"")
write("fuzz_etcd_server", b"\x00" + SETTINGS + grpc_call(1, b"/etcdserverpb.KV/Put", put_req)
      + grpc_call(3, b"/etcdserverpb.KV/Range", range_req))
write("fuzz_etcd_server", b"\x00" + SETTINGS + grpc_call(1, b"/etcdserverpb.KV/Txn", txn_req))
write("fuzz_etcd_server", b"\x00" + SETTINGS + grpc_call(1, b"/etcdserverpb.KV/DeleteRange", del_req))
write("fuzz_etcd_server", b"\x00" + SETTINGS
      + grpc_call(1, b"/etcdserverpb.Lease/LeaseGrant", pb_int(1, 60) + pb_int(2, 7))
      + grpc_call(3, b"/etcdserverpb.Lease/LeaseTimeToLive", pb_int(1, 7) + pb_int(2, 1)))
write("fuzz_etcd_server", b"\x00" + SETTINGS + grpc_call(1, b"/etcdserverpb.Watch/Watch", watch_req, False)
      + grpc_call(3, b"/etcdserverpb.KV/Put", put_req) + h2frame(3, 0, 1, struct.pack(">I", 8)))
write("fuzz_etcd_server", b"\x00" + SETTINGS + grpc_call(1, b"/etcdserverpb.Cluster/MemberList", b"")
      + h2frame(6, 0, 0, bytes(8)) + h2frame(8, 0, 0, struct.pack(">I", 65535))
      + h2frame(7, 0, 0, bytes(8)))
write("fuzz_etcd_server", b"\x00" + SETTINGS + grpc_call(1, b"/etcdserverpb.KV/Nope", b""))


def http1(method, path, body=b""):
    h = b"%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n" % (method, path)
    if body:
        h += b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
    return h + b"\r\n" + body


for path, body in [(b"/v3/kv/put", JSON_BODIES[1][1]), (b"/v3/kv/range", JSON_BODIES[0][1]),
                   (b"/v3/kv/txn", JSON_BODIES[3][1]), (b"/v3/lease/grant", JSON_BODIES[6][1]),
                   (b"/v3/watch", JSON_BODIES[5][1])]:
    write("fuzz_etcd_server", b"\x01" + http1(b"POST", path, json.dumps(body).encode()))
write("fuzz_etcd_server", b"\x01" + http1(b"GET", b"/version") + http1(b"GET", b"/health"))


# fuzz_h2: split seed, then what a client sends after the preface and its
# SETTINGS (the harness sends those): requests to each kind of route, a
# body, a reset, trailers, a ping, a window update, a goaway.
def h2_get(sid, path, end=True, extra=b""):
    block = b"\x82\x86" + hpack_literal(b":path", path) + \
        hpack_literal(b":authority", b"127.0.0.1") + extra
    return h2frame(1, 4 | (1 if end else 0), sid, block)


write("fuzz_h2", SEED + h2_get(1, b"/none") + h2_get(3, b"/ka/x")
      + h2_get(5, b"/ka/x?apikey=k", extra=hpack_literal(b"apikey", b"k")))
write("fuzz_h2", SEED + h2_get(1, b"/up/a", end=False)
      + h2frame(0, 0, 1, b"x" * 100) + h2frame(0, 1, 1, b"y" * 10))
write("fuzz_h2", SEED + h2_get(1, b"/up/b", end=False, extra=hpack_literal(b"content-length",
                                                                            b"5"))
      + h2frame(0, 1, 1, b"hello") + h2frame(3, 0, 1, struct.pack(">I", 8)))
write("fuzz_h2", SEED + h2_get(1, b"/up/c", end=False)
      + h2frame(1, 5, 1, hpack_literal(b"x-trailer", b"t")))
write("fuzz_h2", SEED + h2frame(6, 0, 0, bytes(8)) + h2frame(8, 0, 0, struct.pack(">I", 65535))
      + h2_get(1, b"/none") + h2frame(7, 0, 0, bytes(8)))
