#!/usr/bin/env python3
"""Our raft transport against a rogue process on the raft port of a
3-node cluster (issue 13, first increment: no authentication yet). Speaking
libraft 0.22.1's plain handshake, the rogue sends: an AppendEntries whose
header says 8 bytes (it crashed libraft's decoder), garbage, oversized
frames, a term of 2^64 - 1 (it left the cluster leaderless for good), a term
jump of 2^33, 300 idle connections. Each bad frame closes that connection, is counted in the
status JSON ("transport") and logged at most once per 10 s; no node
crashes, the refused term never reaches raft, and the cluster keeps a
leader and serves writes.

The cluster runs with --peer-tls=off: these tests are about the frame
checker behind the TLS layer, which a plaintext rogue can only reach with
TLS off (test_raft_mtls.py covers the TLS side, and garbage sent after a
good TLS handshake)."""
import os
import random
import socket
import struct
import time

from harness import Tap
from raftutil import get, leader_of, put, start_cluster, status, wait_for, wait_leader

tap = Tap()
C = {}

AE, AER, RV, RVR, IS, TN = 1, 2, 3, 4, 5, 6
ROGUE_ID = 0x0bad


def handshake(raft_id=ROGUE_ID, addr="127.0.0.1:1"):
    a = addr.encode() + b"\0"
    a += b"\0" * (-len(a) % 8)
    return struct.pack("<QQQ", 1, raft_id, len(a)) + a


def preamble(mtype, header_len, version=0):
    return struct.pack("<QQ", mtype | version << 16, header_len)


def append_entries(term, entries=(), prev_index=0, prev_term=0, commit=0):
    """entries: (term, type, payload bytes)."""
    h = struct.pack("<QQQQQ", term, prev_index, prev_term, commit, len(entries))
    for t, typ, data in entries:
        h += struct.pack("<QB3xI", t, typ, len(data))
    h += struct.pack("<Q", 0)
    return preamble(AE, len(h)) + h + b"".join(d for _, _, d in entries)


def rogue(node, data, expect_close=True, timeout=5):
    """Send @data to @node's raft port; True when the node closed the
    connection (EOF or reset) within @timeout."""
    host, port = node.addr("raft").split(":")
    s = socket.create_connection((host, int(port)), timeout=timeout)
    try:
        s.sendall(data)
        s.settimeout(timeout if expect_close else 1.0)
        try:
            return s.recv(1) == b""
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
    finally:
        s.close()


def full_log(node):
    with open(node.log_path, "rb") as f:
        return f.read().decode(errors="replace")


def transport(node):
    return status(node)["transport"]


def refused_by(node, reason):
    return transport(node)["refused_by"].get(reason, 0)


def assert_serving(nodes, key):
    leader = wait_leader(nodes, 15)
    st, body = put(leader, C["secret"], key, "ok")
    assert st == 200, (st, body)
    for n in nodes:
        wait_for(lambda: get(n, C["secret"], key) == (200, "ok"), 10, 0.05, key)
    for n in nodes:
        assert n.running, "%s died" % n.name


def followers():
    nodes = C["nodes"]
    leader = wait_leader(nodes, 15)
    return leader, [n for n in nodes if n is not leader]


def test_cluster():
    nodes, secret = start_cluster(3, extra_args=["--peer-tls=off"])
    C["nodes"], C["secret"] = nodes, secret
    assert_serving(nodes, "/t/start")
    for n in nodes:
        t = transport(n)
        assert t["tls"] is False, t
        assert "--peer-tls=off" in full_log(n)
        assert t["refused"] == 0 and t["accepted"] >= 1 and t["connected"] >= 1, t


def test_short_append_entries_refused():
    """The pre-auth crash: an AppendEntries preamble with an 8-byte header."""
    nodes = C["nodes"]
    for n in nodes:
        before = refused_by(n, "header_len")
        assert rogue(n, handshake() + preamble(AE, 8) + b"\0" * 8), n.name
        wait_for(lambda: refused_by(n, "header_len") == before + 1, 5, 0.05, "counted")
    assert_serving(nodes, "/t/short")


def test_garbage_refused():
    nodes = C["nodes"]
    rnd = random.Random(13)
    n = nodes[1]
    before = transport(n)["refused"]
    assert rogue(n, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert rogue(n, bytes(rnd.getrandbits(8) for _ in range(4096)))
    # garbage after a valid handshake
    assert rogue(n, handshake() + bytes(rnd.getrandbits(8) for _ in range(4096)))
    wait_for(lambda: transport(n)["refused"] >= before + 3, 5, 0.05, "counted")
    assert refused_by(n, "hs_protocol") >= 2
    assert_serving(nodes, "/t/garbage")


def test_oversized_refused():
    nodes = C["nodes"]
    n = nodes[2]
    # a header announcing 2^36 entries
    assert rogue(n, handshake() + preamble(AE, 48 + 16 * (1 << 36)))
    wait_for(lambda: refused_by(n, "entry_count") >= 1, 5, 0.05, "entry_count")
    # one entry of 4 GiB - 8
    term = status(n)["term"]
    ae = append_entries(term, [(term, 1, b"")])
    # patch the entry size field (last u32 of the descriptor) to 0xfffffff8
    cut = 16 + 40 + 12
    ae = ae[:cut] + struct.pack("<I", 0xfffffff8) + ae[cut + 4:]
    assert rogue(n, handshake() + ae)
    wait_for(lambda: refused_by(n, "too_large") >= 1, 5, 0.05, "too_large")
    # a snapshot announcing a 64 KiB + 1 configuration
    assert rogue(n, handshake() + preamble(IS, 56 + 65537))
    wait_for(lambda: refused_by(n, "header_len") >= 2, 5, 0.05, "is header_len")
    assert_serving(nodes, "/t/oversized")


def test_term_all_ones_refused():
    """2^64 - 1 made two voters adopt a term libraft cannot increment: the
    cluster stayed leaderless, even after restarts. Refused now."""
    nodes = C["nodes"]
    leader, fol = followers()
    for n in fol:
        term = status(n)["term"]
        assert rogue(n, handshake() + append_entries(2**64 - 1)), n.name
        assert rogue(n, handshake() + append_entries(2**64 - 2**31)), n.name
        wait_for(lambda: refused_by(n, "term_range") >= 2, 5, 0.05, "term_range")
        assert status(n)["term"] < 2**32, status(n)["term"]
        assert status(n)["term"] <= term + 2
    assert leader_of(nodes) is not None
    assert_serving(nodes, "/t/allones")


def test_term_jump_logged():
    """A jump of 2^33 is usable, so it passes (refusing it needs mTLS), but
    it is counted and logged; the cluster elects a leader again."""
    nodes = C["nodes"]
    leader, fol = followers()
    n = fol[0]
    term = status(n)["term"]
    rogue(n, handshake() + append_entries(term + 2**33), expect_close=False)
    wait_for(lambda: transport(n)["term_jumps"] >= 1, 5, 0.05, "term_jumps")
    wait_for(lambda: "implausibly far from ours" in full_log(n), 5, 0.05, "logged")
    assert_serving(nodes, "/t/jump")


def test_refusals_rate_limited():
    nodes = C["nodes"]
    n = nodes[0]
    before = transport(n)["refused"]
    lines = full_log(n).count("refused raft peer")
    for _ in range(50):
        rogue(n, b"\xff" * 24)
    wait_for(lambda: transport(n)["refused"] >= before + 50, 10, 0.05, "50 refusals")
    # 50 refusals within a few seconds: at most two lines (one 10 s window
    # may end in between)
    assert full_log(n).count("refused raft peer") - lines <= 2, n.log()[-2000:]
    assert_serving(nodes, "/t/ratelimit")


def test_split_handshake_still_works():
    """A well-formed heartbeat from the rogue, sent a byte at a time, is
    passed on (no refusal): the checker is not fooled by segmentation."""
    nodes = C["nodes"]
    _, fol = followers()
    n = fol[1]
    before = transport(n)["refused"]
    term = status(n)["term"]
    data = handshake() + append_entries(max(1, term - 1))  # stale: raft rejects it
    host, port = n.addr("raft").split(":")
    s = socket.create_connection((host, int(port)), timeout=5)
    for b in data:
        s.sendall(bytes([b]))
        time.sleep(0.001)
    time.sleep(0.5)
    s.close()
    assert transport(n)["refused"] == before
    assert_serving(nodes, "/t/split")


def test_idle_connections_bounded():
    """300 connections that never send a handshake: past 256 they are closed
    at once (counted), the rest after the handshake timeout; the cluster
    keeps serving meanwhile."""
    nodes = C["nodes"]
    n = nodes[1]
    host, port = n.addr("raft").split(":")
    socks = []
    try:
        for _ in range(300):
            socks.append(socket.create_connection((host, int(port)), timeout=5))
        wait_for(lambda: transport(n)["overflow"] >= 1, 10, 0.05, "overflow counted")
        assert_serving(nodes, "/t/idle")
        # the handshake timeout (5 election timeouts) closes the others
        wait_for(lambda: transport(n)["timed_out"] >= 200, 15, 0.2, "handshake timeouts")
    finally:
        for s in socks:
            s.close()
    assert_serving(nodes, "/t/idle2")


def test_no_crash():
    for n in C["nodes"]:
        assert n.running, n.name
        log = full_log(n)
        assert "AddressSanitizer" not in log and "runtime error" not in log, log[-3000:]


tap.run(test_cluster)
tap.run(test_short_append_entries_refused)
tap.run(test_garbage_refused)
tap.run(test_oversized_refused)
tap.run(test_term_all_ones_refused)
tap.run(test_term_jump_logged)
tap.run(test_refusals_rate_limited)
tap.run(test_split_handshake_still_works)
tap.run(test_idle_connections_bounded)
tap.run(test_no_crash)
tap.done()
