#!/usr/bin/env python3
"""Expired join tokens are deleted by the leader after a grace time
(APIGW_TOKEN_GRACE_S, 1 h by default; 0 here), swept every
APIGW_TOKEN_SWEEP_MS: an expired token and an expired revoked one leave
`apigw token list`, a live one stays, and joining with the swept token is
refused as unknown. One real node on 127.0.0.1."""
import json
import os

from harness import Tap, create_token, http
from raftutil import Node, run_cli, status, wait_for

tap = Tap()
C = {}


def listed(node):
    host, port = node.addr("status").rsplit(":", 1)
    st, _, body = http("GET", host, int(port), "/apigw/tokens")
    assert st == 200, (st, body)
    return {t["id"]: t for t in json.loads(body)}


def test_setup():
    os.environ["APIGW_TOKEN_SWEEP_MS"] = "200"
    os.environ["APIGW_TOKEN_GRACE_S"] = "0"
    try:
        n = Node("n1").start()
    finally:
        del os.environ["APIGW_TOKEN_SWEEP_MS"]
        del os.environ["APIGW_TOKEN_GRACE_S"]
    wait_for(lambda: status(n)["state"] == "leader", 20, 0.05, "bootstrap")
    C["n"] = n


def test_expired_tokens_swept_live_kept():
    n = C["n"]
    short = create_token(n, "--ttl", "2s").split(".")[1]
    revoked = create_token(n, "--ttl", "2s").split(".")[1]
    live = create_token(n, "--ttl", "1h").split(".")[1]
    r = run_cli("token", "revoke", revoked, "--endpoint", n.addr("status"))
    assert r.returncode == 0, r.stderr
    t = listed(n)
    assert short in t and revoked in t and live in t, t
    assert t[revoked]["revoked"], t
    wait_for(lambda: short not in listed(n) and revoked not in listed(n), 15, 0.2,
             "expired tokens swept")
    assert live in listed(n)
    assert "join token %s expired" % short in n.log()


def test_stop():
    C["n"].stop()


tap.run(test_setup)
tap.run(test_expired_tokens_swept_live_kept)
tap.run(test_stop)
tap.done()
