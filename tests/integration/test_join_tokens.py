#!/usr/bin/env python3
"""Join tokens, enrollment and the members' mTLS, with real apigw processes
on 127.0.0.1: three nodes join with a token (`apigw token create` on the
first); wrong, unknown, expired, revoked and used-up (replayed) tokens are
refused with a clear message and a non-zero exit; a token of cluster A used
against cluster B's address fails the CA pin; /apigw/internal/ refuses
cleartext, TLS without a client certificate and a removed member's
certificate (403), and a certificate of another cluster fails the
handshake; `openssl s_client -servername apigw-peer` sees the member
certificate; a token given by file or environment never shows in the
node's command line; the legacy --join-secret join still works; a short
certificate lifetime is renewed without a restart."""
import os
import ssl
import subprocess
import time

from harness import Tap, create_token, peer_https, write_token_file
from raftutil import (Node, join_node, pki_of, put, run_cli, start_cluster, status, wait_for,
                      wait_leader, wait_value)

tap = Tap()
C = {}


def host_port(node):
    host, port = node.addr("etcd").rsplit(":", 1)
    return host, int(port)


def joiner(name, peer, *how, env=None):
    """A node joining through @peer with the flags @how (not waited for)."""
    n = Node(name, cmd="join", extra_args=["--peer", peer.addr("etcd")] + list(how))
    old = dict(os.environ)
    if env:
        os.environ.update(env)
    try:
        n.start(wait=False)
    finally:
        os.environ.clear()
        os.environ.update(old)
    return n


def expect_refused(name, peer, token, phrase):
    """Joining with @token fails: non-zero exit, @phrase in its log."""
    n = joiner(name, peer, "--token-file", write_token_file(token))
    rc = n.wait(timeout=40)
    log = n.log()
    assert rc != 0, log[-2000:]
    assert phrase in log, (phrase, log[-2000:])
    assert not os.path.exists(os.path.join(n.data_dir, "identity")), "no identity on refusal"
    return log


def cmdline(node):
    with open("/proc/%d/cmdline" % node.proc.pid, "rb") as f:
        return f.read().replace(b"\0", b" ").decode(errors="replace")


def test_three_nodes_join_with_tokens():
    nodes, secret = start_cluster(3)
    C["nodes"], C["secret"] = nodes, secret
    leader = wait_leader(nodes)
    for n in nodes:
        assert pki_of(n) is not None, n.name
        assert status(n)["cluster_id"] == status(leader)["cluster_id"]
    # writes forwarded over the members' mTLS reach everyone
    follower = [n for n in nodes if n is not leader][0]
    st, _ = put(follower, secret, "tok/a", "1")
    assert st == 200, st
    for n in nodes:
        wait_value(n, secret, "tok/a", "1")
    # the list shows the token without its secret
    r = run_cli("token", "list", "--endpoint", nodes[0].addr("status"))
    assert r.returncode == 0 and "tests" in r.stdout and "unlimited" in r.stdout, r.stdout


def test_wrong_unknown_expired_revoked_tokens_refused():
    n1 = C["nodes"][0]
    tok = create_token(n1, "--ttl", "1h")
    prefix, tid, sec, fp = tok.split(".")
    bad_secret = ".".join([prefix, tid, ("0" if sec[0] != "0" else "1") + sec[1:], fp])
    expect_refused("bad1", n1, bad_secret, "wrong token secret")
    unknown = ".".join([prefix, "0badc0de" if tid != "0badc0de" else "0badc0df", sec, fp])
    expect_refused("bad2", n1, unknown, "unknown token")
    short = create_token(n1, "--ttl", "1s")
    time.sleep(2)
    expect_refused("bad3", n1, short, "expired")
    revoked = create_token(n1, "--ttl", "1h", "--description", "to revoke")
    rid = revoked.split(".")[1]
    r = run_cli("token", "revoke", rid, "--endpoint", n1.addr("status"))
    assert r.returncode == 0, r.stderr
    # revoked on a follower's view too (replicated)
    def listed_revoked():
        out = run_cli("token", "list", "--endpoint", C["nodes"][2].addr("status")).stdout
        return any(ln.startswith(rid) and "revoked" in ln for ln in out.splitlines())
    wait_for(listed_revoked, 10, 0.1, "the revocation on a follower")
    expect_refused("bad4", n1, revoked, "revoked")
    assert len(status(n1)["members"]) == 3
    # refusals are logged on the member that judged them (the leader)
    leader = wait_leader(C["nodes"])
    assert "refused the enrollment" in leader.log()


def test_used_up_and_replayed_token_refused():
    nodes = C["nodes"]
    once = create_token(nodes[0], "--ttl", "1h", "--uses", "1")
    # through a follower: the enrollment is relayed to the leader
    n4 = joiner("n4", nodes[1], "--token-file", write_token_file(once))
    n4.wait_ready(40)
    wait_for(lambda: len(status(nodes[0])["members"]) == 4, 20, 0.1, "4 members")
    C["n4"] = n4
    r = run_cli("token", "list", "--endpoint", nodes[0].addr("status"))
    line = [ln for ln in r.stdout.splitlines() if ln.startswith(once.split(".")[1])][0]
    assert " 0 " in line, line
    # the same token again (a replay by another node): no uses left
    expect_refused("n5", nodes[0], once, "no uses left")
    assert len(status(nodes[0])["members"]) == 4


def test_ca_pin_mismatch_refused():
    b = Node("other").start()
    wait_for(lambda: status(b)["state"] == "leader", 20, 0.05, "cluster B")
    C["other"] = b
    # a token of cluster A pointed at cluster B's address
    tok = create_token(C["nodes"][0], "--ttl", "1h")
    log = expect_refused("pin", b, tok, "fingerprint")
    assert "refused" in log
    assert len(status(b)["members"]) == 1


def test_internal_needs_member_certificate():
    nodes, secret = C["nodes"], C["secret"]
    host, port = host_port(nodes[0])
    body = {"op": "get", "key": "tok/a"}
    # cleartext, even with the right join secret
    st, h, data = nodes[0].request("POST", "etcd", "/apigw/internal/kv", body=body,
                                   headers={"X-Apigw-Secret": secret})
    assert st == 403 and "x-apigw-error" in h, (st, data)
    assert b"member certificate" in data, data
    # TLS without a client certificate
    st, h, data = peer_https("POST", host, port, "/apigw/internal/kv", None, body=body)
    assert st == 403 and b"no member certificate" in data, (st, data)
    # our own member certificate works
    st, _, data = peer_https("POST", host, port, "/apigw/internal/kv", pki_of(nodes[1]),
                             body=body)
    assert st == 200, (st, data)
    # a certificate of another cluster: the handshake fails
    try:
        st, _, data = peer_https("POST", host, port, "/apigw/internal/kv",
                                 pki_of(C["other"]), body=body)
        raise AssertionError("another cluster's certificate was served: %d" % st)
    except (ssl.SSLError, ConnectionError, OSError):
        pass
    # a removed member's certificate is refused from then on
    n4 = C["n4"]
    n4_pki = pki_of(n4)
    n4_id = status(n4)["id"]
    r = run_cli("leave", "--node", n4_id, "--endpoint", nodes[0].addr("status"), timeout=30)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: len(status(nodes[0])["members"]) == 3, 20, 0.1, "n4 removed")
    n4.wait(timeout=30)
    st, _, data = peer_https("POST", host, port, "/apigw/internal/kv", n4_pki, body=body)
    assert st == 403 and b"not in the cluster" in data, (st, data)


def test_s_client_sees_member_certificate():
    n1 = C["nodes"][0]
    r = subprocess.run(["openssl", "s_client", "-connect", n1.addr("etcd"), "-servername",
                        "apigw-peer", "-CAfile", os.path.join(pki_of(n1), "ca.crt")],
                       input="", capture_output=True, text=True, timeout=20)
    out = r.stdout + r.stderr
    assert "apigw member %s" % status(n1)["id"] in out, out
    assert "TLSv1.3" in out, out
    assert "Verify return code: 0 (ok)" in out, out


def test_token_not_in_command_line():
    nodes = C["nodes"]
    tok = create_token(nodes[0], "--ttl", "1h")
    secret_part = tok.split(".")[2]
    # by environment
    n6 = joiner("n6", nodes[0], env={"APIGW_JOIN_TOKEN": tok})
    n6.wait_ready(40)
    assert secret_part not in cmdline(n6)
    # by file
    n7 = joiner("n7", nodes[0], "--token-file", write_token_file(tok))
    n7.wait_ready(40)
    assert secret_part not in cmdline(n7)
    # on the command line: works, warns, and is blanked once parsed
    n8 = joiner("n8", nodes[0], "--token", tok)
    n8.wait_ready(40)
    assert secret_part not in cmdline(n8), cmdline(n8)
    assert "--token on the command line" in n8.log()
    for n in (n6, n7, n8):
        assert secret_part not in n.log(), n.name
    wait_for(lambda: len(status(nodes[0])["members"]) == 6, 20, 0.1, "6 members")
    for n in (n8, n7, n6):
        r = run_cli("leave", "--endpoint", n.addr("status"), timeout=30)
        assert r.returncode == 0, r.stderr
        n.wait(timeout=30)
    wait_for(lambda: len(status(nodes[0])["members"]) == 3, 20, 0.1, "3 members")


def test_legacy_join_secret():
    nodes, secret = C["nodes"], C["secret"]
    n9 = join_node("n9", nodes[0], secret, legacy=True)
    wait_for(lambda: len(status(nodes[0])["members"]) == 4, 20, 0.1, "4 members")
    assert "legacy" in n9.log()
    assert pki_of(n9) is not None, "the legacy join enrolls too"
    # a member that has not heard from the leader yet answers "no leader" at
    # once (as any node without one): write once it knows it (CI under load
    # wrote in between)
    wait_for(lambda: status(n9).get("leader_id", "") != "", 20, 0.05, "n9 knows the leader")
    st, b = put(n9, secret, "tok/legacy", "yes")
    assert st == 200, (st, b, n9.log()[-3000:])
    wait_value(nodes[0], secret, "tok/legacy", "yes")
    r = run_cli("leave", "--endpoint", n9.addr("status"), timeout=30)
    assert r.returncode == 0, r.stderr
    n9.wait(timeout=30)


def test_certificate_renewed_without_restart():
    os.environ["APIGW_NODE_CERT_SECONDS"] = "30"
    try:
        n = Node("renew").start()
    finally:
        del os.environ["APIGW_NODE_CERT_SECONDS"]
    wait_for(lambda: status(n)["state"] == "leader", 20, 0.05, "renew node")
    crt = os.path.join(pki_of(n), "node.crt")
    first = open(crt).read()
    # renewal when less than a third (10 s) of the 30 s is left
    wait_for(lambda: open(crt).read() != first, 40, 0.5, "a renewed certificate")
    # (the log line follows the file's replacement)
    wait_for(lambda: "renewed this member's certificate" in n.log(), 10, 0.1, "renewal logged")
    host, port = host_port(n)
    # new connections get the new certificate (same process)
    r = subprocess.run(["openssl", "s_client", "-connect", n.addr("etcd"), "-servername",
                        "apigw-peer", "-showcerts"], input="", capture_output=True, text=True,
                       timeout=20)
    served = r.stdout.split("-----BEGIN CERTIFICATE-----")[1].split("-----END")[0]
    assert served.replace("\n", "") in open(crt).read().replace("\n", ""), "the new cert"
    st, _, data = peer_https("POST", host, port, "/apigw/internal/kv", pki_of(n),
                             body={"op": "put", "key": "r", "value": "1"})
    assert st == 200, (st, data)
    n.stop()


tap.run(test_three_nodes_join_with_tokens)
tap.run(test_wrong_unknown_expired_revoked_tokens_refused)
tap.run(test_used_up_and_replayed_token_refused)
tap.run(test_ca_pin_mismatch_refused)
tap.run(test_internal_needs_member_certificate)
tap.run(test_s_client_sees_member_certificate)
tap.run(test_token_not_in_command_line)
tap.run(test_legacy_join_secret)
tap.run(test_certificate_renewed_without_restart)
tap.done()
