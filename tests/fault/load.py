"""Bounded load for the fault suite: proxy load (threads, http.client
keep-alive, capped in time and count), writers that record every
acknowledged write, a register/CAS client history and its linearizability
checker (Wing & Gong search with memoisation), a status poller that records
every (term, leader) seen, and a bad-input storm.
"""
import http.client as httpclient
import json
import os
import random
import socket
import threading
import time


def pct(values, p):
    if not values:
        return 0.0
    v = sorted(values)
    return v[min(len(v) - 1, int(len(v) * p / 100.0))]


class ProxyLoad:
    """threads x keep-alive GET loops on targets [(ip, port)], at most
    max_s seconds and max_requests requests. Every request is recorded as
    (start time, ok, latency s, target, error)."""

    def __init__(self, targets, path, threads=4, max_s=120, max_requests=400000,
                 host=None, expect=None):
        self.targets = list(targets)
        self.path = path
        self.threads = threads
        self.max_s = max_s
        self.max_requests = max_requests
        self.host = host
        self.expect = expect  # body prefix an answer must start with (None: any)
        self.samples = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ts = []

    def start(self):
        self.t0 = time.time()
        for i in range(self.threads):
            t = threading.Thread(target=self._loop, args=(self.targets[i % len(self.targets)],),
                                 daemon=True)
            t.start()
            self._ts.append(t)
        return self

    def _loop(self, target):
        conn = None
        while not self._stop.is_set() and time.time() - self.t0 < self.max_s:
            with self._lock:
                if len(self.samples) >= self.max_requests:
                    return
            if conn is None:
                conn = httpclient.HTTPConnection(target[0], target[1], timeout=10)
            t = time.time()
            err = None
            try:
                conn.request("GET", self.path, headers={"Host": self.host} if self.host else {})
                r = conn.getresponse()
                body = r.read()
                if r.status != 200:
                    err = "HTTP %d %r" % (r.status, body[:80])
                elif self.expect is not None and not body.startswith(self.expect):
                    err = "body %r" % body[:80]
                if r.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, httpclient.HTTPException) as e:
                err = "%s: %s" % (type(e).__name__, e)
                conn.close()
                conn = None
            with self._lock:
                self.samples.append((t, err is None, time.time() - t, target, err))
            if err is not None:
                time.sleep(0.01)
        if conn is not None:
            conn.close()

    def stop(self):
        self._stop.set()
        for t in self._ts:
            t.join(15)
        return self

    def stats(self, t0=None, t1=None, targets=None):
        """sent, failed, p99 ms, first errors, for requests started in [t0, t1)."""
        with self._lock:
            s = [x for x in self.samples
                 if (t0 is None or x[0] >= t0) and (t1 is None or x[0] < t1) and
                 (targets is None or x[3] in targets)]
        failed = [x for x in s if not x[1]]
        return {"sent": len(s), "failed": len(failed),
                "p99_ms": round(pct([x[2] for x in s], 99) * 1000, 1),
                "errors": [(round(x[0] - self.t0, 2), x[3][0], x[4]) for x in failed[:5]]}


class Writer:
    """A thread putting unique keys prefix/<id>-<seq> through the etcd JSON
    gateway of the nodes pick() returns, one at a time, for at most max_s
    seconds and max_writes writes. Records acknowledged keys, failures with
    their latency and error text. A failed write is never retried under the
    same key, so an acknowledged key written twice shows as version 2."""

    def __init__(self, pick, prefix, wid=0, max_s=120, max_writes=20000, pause=0.0):
        self.pick = pick
        self.prefix = prefix
        self.wid = wid
        self.max_s = max_s
        self.max_writes = max_writes
        self.pause = pause
        self.acked = {}      # key -> (value, node, t, latency)
        self.failed = []     # (t, node, latency, status, error, key)
        self._stop = threading.Event()
        self._t = None

    def start(self):
        self.t0 = time.time()
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()
        return self

    def _loop(self):
        seq = 0
        while (not self._stop.is_set() and time.time() - self.t0 < self.max_s and
               seq < self.max_writes):
            node = self.pick()
            seq += 1
            key = "%s/%d-%d" % (self.prefix, self.wid, seq)
            val = "v%d-%d-%f" % (self.wid, seq, time.time())
            t = time.time()
            try:
                st, body = node.put(key, val, timeout=10)
            except OSError as e:
                st, body = 0, {"error": "%s: %s" % (type(e).__name__, e)}
            lat = time.time() - t
            if st == 200:
                self.acked[key] = (val, node.name, t, lat)
            else:
                self.failed.append((t, node.name, lat, st, body.get("error") or body, key))
                time.sleep(0.02)
            if self.pause:
                time.sleep(self.pause)

    def stop(self):
        self._stop.set()
        if self._t:
            self._t.join(30)
        return self


class RegisterClient:
    """Random read (linearizable) / write / CAS on one key, recording the
    client-observed history: dicts {kind, arg, ret, call, done}. done is None
    for an operation whose outcome is unknown (error or timeout)."""

    def __init__(self, pick, key, cid, history, lock, max_s=120, max_ops=5000, pause=0.05):
        """key: a function returning the key to use now (a fresh key per round
        keeps each history small enough to check)."""
        self.pick, self.key, self.cid = pick, key, cid
        self.pause = pause
        self.history, self.lock = history, lock
        self.max_s, self.max_ops = max_s, max_ops
        self._stop = threading.Event()
        self._t = None

    def start(self):
        self.t0 = time.time()
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()
        return self

    def _loop(self):
        rnd = random.Random(self.cid)
        seq = 0
        last_seen = None
        while (not self._stop.is_set() and time.time() - self.t0 < self.max_s and
               seq < self.max_ops):
            seq += 1
            node = self.pick()
            key = self.key()
            if key != getattr(self, "_last_key", None):
                self._last_key, last_seen = key, None
            kind = rnd.choice(("r", "w", "cas", "cas"))
            new = "c%d-%d" % (self.cid, seq)
            op = {"kind": kind, "client": self.cid, "node": node.name, "key": key}
            op["call"] = time.monotonic()
            try:
                if kind == "r":
                    st, r = node.range(key, serializable=False, timeout=5)
                    ok = st == 200
                    if ok:
                        v = r.get(key)
                        op["ret"] = v[0] if v else None
                        last_seen = op["ret"]
                elif kind == "w":
                    op["arg"] = new
                    st, r = node.put(key, new, timeout=5)
                    ok = st == 200
                else:
                    op["arg"] = (last_seen, new)
                    st, r = node.cas(key, last_seen, new, timeout=5)
                    ok = st == 200
                    if ok:
                        op["ret"] = r
            except OSError:
                ok = False
            done = time.monotonic()
            if kind == "r" and not ok:
                continue  # a failed read has no effect
            op["done"] = done if ok else None
            with self.lock:
                self.history.append(op)
            time.sleep(self.pause if ok else 0.3)

    def stop(self):
        self._stop.set()
        if self._t:
            self._t.join(30)


def check_linearizable(history, init=None):
    """True when the register/CAS history has a linearization (every
    completed operation placed between its call and return, unknown ones
    optionally anywhere after their call); else False. Writes carry unique
    values."""
    ops = sorted(history, key=lambda o: o["call"])
    n = len(ops)
    inf = float("inf")
    done = [o["done"] if o["done"] is not None else inf for o in ops]
    required = 0
    for i, o in enumerate(ops):
        if o["done"] is not None:
            required |= 1 << i

    def step(o, state):
        """New state, or a sentinel when o cannot take effect at state."""
        k = o["kind"]
        if k == "r":
            return state if o["ret"] == state else _NO
        if k == "w":
            return o["arg"]
        old, new = o["arg"]
        if o["done"] is None or o["ret"] is True:
            return new if state == old else _NO
        return state if state != old else _NO  # a definite failed CAS

    seen = set()
    stack = [(0, init)]
    while stack:
        mask, state = stack.pop()
        if mask & required == required:
            return True
        if (mask, state) in seen:
            continue
        seen.add((mask, state))
        if len(seen) > 2000000:
            raise RuntimeError("linearizability search too large (%d ops)" % n)
        limit = min((done[i] for i in range(n) if not mask >> i & 1), default=inf)
        for i in range(n):
            if mask >> i & 1:
                continue
            if ops[i]["call"] > limit:
                break
            s2 = step(ops[i], state)
            if s2 is not _NO:
                stack.append((mask | 1 << i, s2))
    return False


_NO = object()


class StatusPoller:
    """Polls /apigw/status of every node every interval s; records the set of
    leader ids each term had, as seen by nodes in state leader."""

    def __init__(self, nodes, interval=0.05):
        self.nodes = nodes
        self.interval = interval
        self.leaders = {}    # term -> set(ids)
        self.first_leader_at = []  # (t, term, id)
        self._stop = threading.Event()

    def start(self):
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()
        return self

    def _loop(self):
        while not self._stop.is_set():
            for n in self.nodes:
                if not n.running:
                    continue
                try:
                    s = n.status(timeout=1)
                except (OSError, RuntimeError, ValueError):
                    continue
                if s.get("state") == "leader":
                    ids = self.leaders.setdefault(s["term"], set())
                    if s["id"] not in ids:
                        ids.add(s["id"])
                        self.first_leader_at.append((time.time(), s["term"], s["id"]))
            time.sleep(self.interval)

    def stop(self):
        self._stop.set()
        self._t.join(10)

    def split_brain(self):
        return {t: ids for t, ids in self.leaders.items() if len(ids) > 1}


def _garbage(rnd):
    """One bad input: bytes to send on a fresh connection."""
    kind = rnd.randrange(9)
    if kind == 0:
        return os.urandom(rnd.randrange(1, 4096))
    if kind == 1:
        return b"GET /" + os.urandom(200) + b" HTTP/1.1\r\n\r\n"
    if kind == 2:
        return b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n"
    if kind == 3:
        return (b"POST /v3/kv/put HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n"
                b'{"key": [1,2,{"value": nul' + os.urandom(14))
    if kind == 4:  # HTTP/2 preface then random frames
        return b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + os.urandom(rnd.randrange(9, 2048))
    if kind == 5:  # h2 preface, SETTINGS, HEADERS with a garbage HPACK block
        hb = os.urandom(64)
        return (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00" +
                len(hb).to_bytes(3, "big") + b"\x01\x05\x00\x00\x00\x01" + hb)
    if kind == 6:  # gRPC-shaped DATA with a bogus protobuf message
        msg = os.urandom(rnd.randrange(1, 300))
        data = b"\x00" + len(msg).to_bytes(4, "big") + msg
        return (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00" +
                len(data).to_bytes(3, "big") + b"\x00\x01\x00\x00\x00\x01" + data)
    if kind == 7:  # huge header line
        return b"GET / HTTP/1.1\r\nX-A: " + b"a" * rnd.randrange(1000, 200000) + b"\r\n\r\n"
    body = json.dumps({"uri": os.urandom(20).hex(), "upstream": {"nodes": [1, None, {}]},
                       "x": "\ud800"}).encode()
    return (b"PUT /apisix/admin/routes/%d HTTP/1.1\r\nHost: x\r\nContent-Type: "
            b"application/json\r\nContent-Length: %d\r\n\r\n" % (rnd.randrange(99), len(body))
            + body)


class Storm:
    """threads sending bad inputs to random (ip, port) of targets() for at most
    max_s seconds and max_sends connections."""

    def __init__(self, targets, threads=2, max_s=120, max_sends=200000, seed=1, pause=0.0):
        self.targets = targets
        self.pause = pause
        self.threads, self.max_s, self.max_sends = threads, max_s, max_sends
        self.sent = 0
        self.seed = seed
        self._stop = threading.Event()
        self._ts = []

    def start(self):
        self.t0 = time.time()
        for i in range(self.threads):
            t = threading.Thread(target=self._loop, args=(self.seed + i,), daemon=True)
            t.start()
            self._ts.append(t)
        return self

    def _loop(self, seed):
        rnd = random.Random(seed)
        while (not self._stop.is_set() and time.time() - self.t0 < self.max_s and
               self.sent < self.max_sends):
            ts = self.targets()
            if not ts:
                time.sleep(0.05)
                continue
            ip, port = rnd.choice(ts)
            self.sent += 1
            try:
                s = socket.create_connection((ip, port), timeout=0.5)
                try:
                    s.sendall(_garbage(rnd))
                    if rnd.random() < 0.5:
                        s.recv(4096)
                finally:
                    s.close()
            except OSError:
                pass
            if self.pause:
                time.sleep(self.pause)

    def stop(self):
        self._stop.set()
        for t in self._ts:
            t.join(10)
