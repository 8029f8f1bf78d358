"""etcd v3 API limits and hostile input over raw HTTP/2 and HTTP/1.1, on a
real apigw node.

etcdctl opens one watch per stream and reads promptly, so the limits need a
client of our own: this file speaks just enough HTTP/2 (prior knowledge,
literal HPACK headers, DATA with gRPC framing) and protobuf to drive the
Watch service. Cases: a flood of watch creations on one stream is refused
past the per-connection limit (created+canceled with a reason, no growth);
a watcher that stops reading while a megabyte-sized write stream goes on is
cancelled once its stream buffer is over its bound, and the node keeps
serving; streams past SETTINGS_MAX_CONCURRENT_STREAMS are refused; mutated
gRPC requests and mangled gateway requests never crash the node.
"""
import os
import shutil
import socket
import struct
import subprocess
import time

from harness import Node, Tap

ETCDCTL = shutil.which("etcdctl")
ENV = dict(os.environ, ETCDCTL_API="3")

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE = 0, 1, 3, 4, 6, 7, 8


# ---- protobuf, by hand ----

def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def field(num, payload):
    """Length-delimited field."""
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def vfield(num, value):
    return varint(num << 3) + varint(value)


def parse(buf):
    """{field number: [values]} of one message (varints and bytes)."""
    out = {}
    i = 0
    while i < len(buf):
        key = 0
        shift = 0
        while True:
            b = buf[i]
            i += 1
            key |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        num, wt = key >> 3, key & 7
        if wt == 0:
            v = 0
            shift = 0
            while True:
                b = buf[i]
                i += 1
                v |= (b & 0x7F) << shift
                shift += 7
                if not b & 0x80:
                    break
        elif wt == 2:
            n = 0
            shift = 0
            while True:
                b = buf[i]
                i += 1
                n |= (b & 0x7F) << shift
                shift += 7
                if not b & 0x80:
                    break
            v = buf[i:i + n]
            i += n
        else:
            raise ValueError("wire type %d" % wt)
        out.setdefault(num, []).append(v)
    return out


def watch_create(key, range_end=b""):
    inner = field(1, key) + (field(2, range_end) if range_end else b"")
    return field(1, inner)


def grpc(msg):
    return b"\x00" + struct.pack(">I", len(msg)) + msg


# ---- HTTP/2, by hand ----

def hpack_literal(name, value):
    """Literal header field without indexing, new name, no Huffman."""
    def s(x):
        assert len(x) < 127
        return bytes([len(x)]) + x
    return b"\x00" + s(name) + s(value)


class H2:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.settimeout(10)
        self.sock.sendall(PREFACE + self.frame(SETTINGS, 0, 0, b""))
        self.rbuf = b""
        self.data = {}      # stream id -> bytes of gRPC messages not yet parsed
        self.msgs = {}      # stream id -> [parsed WatchResponse]
        self.resets = {}    # stream id -> error code
        self.ended = set()  # streams the server ended (HEADERS with END_STREAM)
        self.goaway = None
        self.auto_window = True

    @staticmethod
    def frame(ftype, flags, sid, payload):
        return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
            struct.pack(">I", sid) + payload

    def open(self, sid, path):
        block = b"".join(hpack_literal(n, v) for n, v in (
            (b":method", b"POST"), (b":scheme", b"http"), (b":path", path),
            (b":authority", b"127.0.0.1"), (b"content-type", b"application/grpc"),
            (b"te", b"trailers")))
        return self.frame(HEADERS, 0x4, sid, block)

    def send(self, data):
        self.sock.sendall(data)

    def pump(self, until, timeout=20):
        """Read frames until until(self) is true."""
        deadline = time.time() + timeout
        while not until(self):
            if time.time() > deadline:
                raise AssertionError("timed out")
            try:
                chunk = self.sock.recv(1 << 20)
            except socket.timeout:
                continue
            if not chunk:
                raise AssertionError("connection closed (goaway %r)" % (self.goaway,))
            self.rbuf += chunk
            self.frames()

    def frames(self):
        out = b""
        while len(self.rbuf) >= 9:
            n = int.from_bytes(self.rbuf[:3], "big")
            if len(self.rbuf) < 9 + n:
                break
            ftype, flags = self.rbuf[3], self.rbuf[4]
            sid = int.from_bytes(self.rbuf[5:9], "big") & 0x7FFFFFFF
            payload = self.rbuf[9:9 + n]
            self.rbuf = self.rbuf[9 + n:]
            if ftype == SETTINGS and not flags & 1:
                out += self.frame(SETTINGS, 1, 0, b"")
            elif ftype == PING and not flags & 1:
                out += self.frame(PING, 1, 0, payload)
            elif ftype == HEADERS and flags & 1:
                self.ended.add(sid)
            elif ftype == RST_STREAM:
                self.resets[sid] = int.from_bytes(payload, "big")
            elif ftype == GOAWAY:
                self.goaway = int.from_bytes(payload[4:8], "big")
            elif ftype == DATA:
                if n and self.auto_window:
                    inc = struct.pack(">I", n)
                    out += self.frame(WINDOW_UPDATE, 0, 0, inc) + \
                        self.frame(WINDOW_UPDATE, 0, sid, inc)
                buf = self.data.get(sid, b"") + payload
                while len(buf) >= 5 and len(buf) >= 5 + int.from_bytes(buf[1:5], "big"):
                    ln = int.from_bytes(buf[1:5], "big")
                    self.msgs.setdefault(sid, []).append(parse(buf[5:5 + ln]))
                    buf = buf[5 + ln:]
                self.data[sid] = buf
        if out:
            self.sock.sendall(out)

    def close(self):
        self.sock.close()


def ctl(node, *args, stdin=None):
    p = subprocess.run([ETCDCTL, "--endpoints=" + node.addr("etcd")] + list(args), input=stdin,
                       capture_output=True, text=True, env=ENV, timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


# ---- cases ----

MAX_WATCHERS = 4096      # GW_ETCD_DEFAULT_MAX_WATCHERS
MAX_STREAMS = 256        # GW_ETCD_DEFAULT_MAX_STREAMS


def test_watch_flood_refused(n):
    h = H2(n.ports["etcd"])
    try:
        extra = 20
        reqs = b"".join(h.frame(DATA, 0, 1, grpc(watch_create(b"/flood/%d" % i)))
                        for i in range(MAX_WATCHERS + extra))
        h.send(h.open(1, b"/etcdserverpb.Watch/Watch") + reqs)
        h.pump(lambda h: len(h.msgs.get(1, [])) >= MAX_WATCHERS + extra, timeout=60)
        msgs = h.msgs[1]
        created = [m for m in msgs if m.get(3) == [1] and 4 not in m]
        refused = [m for m in msgs if m.get(3) == [1] and m.get(4) == [1]]
        assert len(created) == MAX_WATCHERS, len(created)
        assert len(refused) == extra, len(refused)
        assert b"too many watchers" in refused[0][6][0], refused[0]
        # the watches that were created work
        ctl(n, "put", "/flood/7", "x")
        h.pump(lambda h: any(11 in m for m in h.msgs[1]))
        ev = [m for m in h.msgs[1] if 11 in m][0]
        assert parse(parse(ev[11][0])[2][0])[1] == [b"/flood/7"], ev
    finally:
        h.close()
    assert ctl(n, "get", "/flood/7") == "/flood/7\nx\n"


def test_slow_watcher_cancelled(n):
    h = H2(n.ports["etcd"])
    try:
        h.auto_window = False   # never open the flow-control window: a stuck reader
        h.send(h.open(1, b"/etcdserverpb.Watch/Watch") +
               h.frame(DATA, 0, 1, grpc(watch_create(b"/slow/", b"/slow0"))))
        h.pump(lambda h: len(h.msgs.get(1, [])) >= 1)
        assert h.msgs[1][0].get(3) == [1], h.msgs[1]
        value = "v" * (1 << 20)
        for i in range(12):    # 12 MiB of events against an 8 MiB bound
            ctl(n, "put", "/slow/%d" % i, stdin=value)
        # now read: the backlog, then the cancellation
        h.auto_window = True
        h.send(h.frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 1 << 30)) +
               h.frame(WINDOW_UPDATE, 0, 1, struct.pack(">I", 1 << 30)))
        h.pump(lambda h: any(m.get(4) == [1] for m in h.msgs[1]), timeout=60)
        cancel = [m for m in h.msgs[1] if m.get(4) == [1]][0]
        assert b"slower" in cancel[6][0], cancel
        got = sum(len(m.get(11, [])) for m in h.msgs[1])
        assert 0 < got < 12, got
    finally:
        h.close()
    assert ctl(n, "put", "/after/slow", "1").strip() == "OK"


def test_watch_cancel_and_progress(n):
    h = H2(n.ports["etcd"])
    try:
        h.send(h.open(1, b"/etcdserverpb.Watch/Watch") +
               h.frame(DATA, 0, 1, grpc(watch_create(b"/wc/a"))) +
               h.frame(DATA, 0, 1, grpc(watch_create(b"/wc/b"))))
        h.pump(lambda h: len(h.msgs.get(1, [])) >= 2)
        ids = [m.get(2, [0])[0] for m in h.msgs[1]]
        assert sorted(ids) == [0, 1], h.msgs[1]     # ids in order, the first one 0
        # cancel watch 1: answered canceled; its key no longer reported
        h.send(h.frame(DATA, 0, 1, grpc(field(2, vfield(1, 1)))))
        h.pump(lambda h: any(m.get(4) == [1] for m in h.msgs[1]))
        ctl(n, "put", "/wc/b", "1")
        ctl(n, "put", "/wc/a", "1")
        h.pump(lambda h: any(11 in m for m in h.msgs[1]))
        evs = [m for m in h.msgs[1] if 11 in m]
        assert len(evs) == 1 and evs[0].get(2, [0]) == [0], evs
        # a progress request: answered with watch_id -1 and the revision
        h.send(h.frame(DATA, 0, 1, grpc(field(3, b""))))
        h.pump(lambda h: any(m.get(2) == [2 ** 64 - 1] for m in h.msgs[1]))
        prog = [m for m in h.msgs[1] if m.get(2) == [2 ** 64 - 1]][0]
        assert parse(prog[1][0])[3][0] >= 2, prog    # header.revision
        # protobuf garbage on the stream: the call ends with an error, the
        # connection and the node stay up
        h.send(h.frame(DATA, 0, 1, grpc(b"\x0b\x0c\xff")))
        h.pump(lambda h: 1 in h.ended)
    finally:
        h.close()
    assert ctl(n, "put", "/after/progress", "1").strip() == "OK"


def test_mutated_requests(n):
    """Valid gRPC requests with random bytes flipped, truncated or
    duplicated, and random frames: the node answers or hangs up, never
    crashes, and keeps serving."""
    import random
    rnd = random.Random(7)
    put = field(1, b"/fz/k") + field(2, b"v" * 20)
    rng = field(1, b"/fz/") + field(2, b"/fz0") + vfield(3, 5)
    txn = field(1, vfield(2, 3) + field(3, b"/fz/k") + vfield(4, 1)) + \
        field(2, field(2, put)) + field(3, field(1, rng))
    calls = [(b"/etcdserverpb.KV/Put", put), (b"/etcdserverpb.KV/Range", rng),
             (b"/etcdserverpb.KV/Txn", txn), (b"/etcdserverpb.Watch/Watch", watch_create(b"/fz")),
             (b"/etcdserverpb.Lease/LeaseKeepAlive", vfield(1, 12345)),
             (b"/etcdserverpb.Cluster/MemberList", b"")]
    for round_ in range(40):
        h = H2(n.ports["etcd"])
        try:
            out = b""
            for k in range(rnd.randint(1, 8)):
                sid = 2 * k + 1
                path, msg = rnd.choice(calls)
                data = bytearray(grpc(msg))
                for _ in range(rnd.randint(0, 4)):
                    if data:
                        data[rnd.randrange(len(data))] = rnd.randrange(256)
                if rnd.random() < 0.2:
                    data = data[:rnd.randrange(len(data) + 1)]
                if rnd.random() < 0.2:
                    data = data * 2
                out += h.open(sid, path) + h.frame(DATA, 1 if rnd.random() < 0.7 else 0, sid,
                                                   bytes(data))
                if rnd.random() < 0.2:   # a random frame of any type
                    out += h.frame(rnd.randrange(10), rnd.randrange(256), rnd.randrange(8),
                                   bytes(rnd.randrange(256) for _ in range(rnd.randrange(20))))
                if rnd.random() < 0.2:   # a reset of the stream
                    out += h.frame(RST_STREAM, 0, sid, struct.pack(">I", 8))
            h.send(out)
            h.sock.settimeout(0.3)
            try:
                while h.sock.recv(65536):
                    pass
            except OSError:
                pass
        finally:
            h.close()
    assert ctl(n, "put", "/after/fuzz", "1").strip() == "OK"
    assert ctl(n, "get", "/after/fuzz") == "/after/fuzz\n1\n"


def test_mutated_gateway_requests(n):
    """The JSON gateway with mangled bodies, headers and paths: answered or
    hung up on, never a crash."""
    import random
    rnd = random.Random(11)
    paths = ["/v3/kv/range", "/v3/kv/put", "/v3/kv/txn", "/v3/watch", "/v3/lease/keepalive",
             "/v3/lease/grant", "/v3beta/kv/deleterange", "/v3/kv/compaction",
             "/v3/cluster/member/list", "/v3/maintenance/status", "/apigw/internal/x",
             "/version", "/health", "/v3alpha/kv/range"]
    bodies = [b'{"key":"Zm9v","value":"YmFy"}', b'{"create_request":{"key":"Zm9v"}}',
              b'{"compare":[{"key":"Zm9v","target":"VALUE","value":"YQ=="}],'
              b'"success":[{"request_put":{"key":"Zm9v","value":"Yg=="}}]}',
              b'{"TTL":5}', b'{"ID":"1"}', b'{"revision":"1"}', b"{}", b"[]", b"null"]
    for _ in range(150):
        body = bytearray(rnd.choice(bodies))
        for _ in range(rnd.randint(0, 3)):
            if body:
                body[rnd.randrange(len(body))] = rnd.randrange(256)
        path = rnd.choice(paths)
        cl = len(body) if rnd.random() < 0.9 else rnd.randint(0, 100)
        req = b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (
            path.encode(), cl) + bytes(body)
        s = socket.create_connection(("127.0.0.1", n.ports["etcd"]))
        s.settimeout(0.3)
        try:
            s.sendall(req)
            while s.recv(65536):
                pass
        except OSError:
            pass
        s.close()
    assert ctl(n, "put", "/after/gwfuzz", "1").strip() == "OK"


def opened_after_settings(n):
    """A connection whose SETTINGS exchange is done (the server's limit is
    in force and acknowledged)."""
    h = H2(n.ports["etcd"])
    h.sock.settimeout(0.5)
    deadline = time.time() + 5
    while time.time() < deadline:
        try:
            h.rbuf += h.sock.recv(65536)
            h.frames()
        except socket.timeout:
            break
    h.sock.settimeout(10)
    return h


def test_max_streams(n):
    # up to the limit: every stream is served
    h = opened_after_settings(n)
    try:
        h.send(b"".join(h.open(2 * i + 1, b"/etcdserverpb.Watch/Watch")
                        for i in range(MAX_STREAMS)))
        h.send(h.frame(DATA, 0, 2 * MAX_STREAMS - 1, grpc(watch_create(b"/ms"))) +
               h.frame(DATA, 0, 1, grpc(watch_create(b"/ms"))))
        h.pump(lambda h: len(h.msgs.get(1, [])) >= 1 and
               len(h.msgs.get(2 * MAX_STREAMS - 1, [])) >= 1)
        assert not h.resets and h.goaway is None, (h.resets, h.goaway)
    finally:
        h.close()
    # past the acknowledged limit: nghttp2 treats it as a connection error
    # (RFC 7540 5.1.2), GOAWAY with PROTOCOL_ERROR, and the node goes on
    h = opened_after_settings(n)
    try:
        h.send(b"".join(h.open(2 * i + 1, b"/etcdserverpb.Watch/Watch")
                        for i in range(MAX_STREAMS + 8)))
        try:
            h.pump(lambda h: h.goaway is not None or len(h.resets) >= 8)
        except AssertionError:
            pass  # closed after the GOAWAY
        assert h.goaway == 1 or set(h.resets.values()) == {7}, (h.goaway, h.resets)
    finally:
        h.close()
    assert ctl(n, "put", "/after/streams", "1").strip() == "OK"


def test_snapshot_streams_bounded(n):
    """Each Maintenance/Snapshot stream holds a copy of the store until its
    client has read it: with two streams a client never reads (window 0),
    a third is refused at once (trailers only, RESOURCE_EXHAUSTED); once
    they are gone a snapshot works again."""
    h = H2(n.ports["etcd"])
    try:
        h.auto_window = False
        h.send(h.frame(SETTINGS, 0, 0, struct.pack(">HI", 4, 0)))  # INITIAL_WINDOW_SIZE 0
        for sid in (1, 3, 5):
            h.send(h.open(sid, b"/etcdserverpb.Maintenance/Snapshot") +
                   h.frame(DATA, 1, sid, grpc(b"")))
        h.pump(lambda h: 5 in h.ended or 5 in h.resets)
        assert 5 in h.ended and 1 not in h.ended and 3 not in h.ended, (h.ended, h.resets)
    finally:
        h.close()
    out = os.path.join(os.path.dirname(n.log_path), "snap-after.db")
    for _ in range(50):  # the closed streams are released on the node's loop
        p = subprocess.run([ETCDCTL, "--endpoints=" + n.addr("etcd"), "snapshot", "save", out],
                           capture_output=True, text=True, env=ENV, timeout=30)
        if p.returncode == 0:
            break
        time.sleep(0.1)
    assert p.returncode == 0, p.stdout + p.stderr


def no_sanitizer_reports(*nodes):
    """The nodes' logs hold no AddressSanitizer/UBSan report (sanitizer
    builds print them there; a plain build has none to print)."""
    for node in nodes:
        with open(node.log_path, "rb") as f:
            text = f.read().decode(errors="replace")
        for marker in ("AddressSanitizer", "runtime error:", "LeakSanitizer"):
            assert marker not in text, "%s: %s\n%s" % (node.name, marker, text[-4000:])


def main():
    tap = Tap()
    cases = (test_watch_flood_refused, test_watch_cancel_and_progress,
             test_slow_watcher_cancelled, test_max_streams, test_mutated_requests,
             test_mutated_gateway_requests, test_snapshot_streams_bounded)
    if ETCDCTL is None:
        for fn in cases:
            tap.skip(fn, "etcdctl not installed (Debian etcd-client)")
        tap.done()
    n = Node("h2")
    try:
        n.start()
    except Exception as e:  # noqa: BLE001 - the cases report it
        err = e

        def node_start(e=err):
            raise e
        tap.run(node_start)
        tap.done()
    for fn in cases:
        tap.run(fn, n)
    n.stop()
    tap.run(no_sanitizer_reports, n)
    tap.done()


if __name__ == "__main__":
    main()
