"""`apigw keyring rotate|list|reseal` on a real node: rotate adds a new
current key and keeps the old one (list shows both, never a key); SIGHUP
makes the node read the ring again; until reseal, secrets sealed by the old
key still open (TLS with the ssls certificate, key-auth with the consumer's
key); reseal re-writes exactly the objects sealed by the old key through the
Admin API, which seals them with the new one (the GETs show the new key id)
and is idempotent; everything still works after a restart with the new ring."""
import json
import os
import re
import signal
import socket
import ssl

import tlsutil
from harness import EchoUpstream, Node, Tap, http, run_cli, wait_for

KEY = "test-keyring-admin-key-0123456789"
node = None
ca = None
up = None


def adm(method, path, body=None):
    h = {"X-API-KEY": KEY}
    data = None
    if body is not None:
        data = json.dumps(body)
        h["Content-Type"] = "application/json"
    st, _, b = http(method, "127.0.0.1", node.ports["admin"], "/apisix/admin" + path,
                    body=data, headers=h)
    return st, json.loads(b) if b else None


def keyring(*args):
    extra = []
    if args and args[0] == "reseal":
        extra = ["--admin-listen", node.addr("admin"), "--etcd-listen", node.addr("etcd"),
                 "--admin-key", KEY]
    return run_cli("keyring", *(list(args) + ["--data-dir", node.data_dir] + extra), timeout=60)


def kids_of(obj):
    return set(re.findall(r"gwenc1:([0-9a-f]{8}):", json.dumps(obj)))


def handshake_ok():
    ctx = ssl.create_default_context(cafile=ca.cert)
    with socket.create_connection(("127.0.0.1", node.ports["proxy-tls"]), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="k.test") as s:
            return s.version() is not None


def key_auth(key):
    st, _, _ = http("GET", "127.0.0.1", node.ports["proxy"], "/ka", headers={"apikey": key})
    return st


def setup():
    global node, ca, up
    ca = tlsutil.CA()
    up = EchoUpstream()
    node = Node("kr", extra_args=["--admin-key", KEY]).start()
    cert, key, _, _ = ca.issue(["k.test"])
    st, b = adm("PUT", "/ssls/s1", {"snis": ["k.test"], "cert": cert, "key": key})
    assert st in (200, 201), (st, b)
    st, b = adm("PUT", "/consumers", {"username": "jack",
                                       "plugins": {"key-auth": {"key": "jack-secret"}}})
    assert st in (200, 201), (st, b)
    st, b = adm("PUT", "/routes/ka", {"uri": "/ka", "plugins": {"key-auth": {}},
                                      "upstream": {"nodes": {up.addr: 1}}})
    assert st in (200, 201), (st, b)
    wait_for(lambda: key_auth("jack-secret") == 200, 10, what="key-auth route")
    wait_for(handshake_ok, 10, what="TLS with the ssls certificate")


def test_list_and_rotate():
    r = keyring("list")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split("\n")[:-1]
    assert len(lines) == 1 and lines[0].endswith(" current"), r.stdout
    old = lines[0].split()[0]
    _, ssl_obj = adm("GET", "/ssls/s1")
    assert kids_of(ssl_obj) == {old}, ssl_obj
    r = keyring("rotate")
    assert r.returncode == 0 and "now current" in r.stdout, (r.stdout, r.stderr)
    new = r.stdout.split()[2].rstrip(",")
    r = keyring("list")
    assert r.stdout.split("\n")[:-1] == [old, new + " current"], r.stdout
    # the file never shows up in list: 64 hex digits of a key are not printed
    assert not re.search(r"[0-9a-f]{64}", r.stdout)
    with open(os.path.join(node.data_dir, "keyring")) as f:
        assert len(f.read().split("\n")[:-1]) == 2
    assert oct(os.stat(os.path.join(node.data_dir, "keyring")).st_mode & 0o777) == "0o600"
    global OLD, NEW
    OLD, NEW = old, new


def test_sighup_then_reseal():
    node.signal(signal.SIGHUP)
    wait_for(lambda: "keyring reloaded: 2 keys, current " + NEW in node.log(), 10,
             what="keyring reloaded")
    # still sealed by the old key, still served
    _, ssl_obj = adm("GET", "/ssls/s1")
    assert kids_of(ssl_obj) == {OLD}
    assert handshake_ok() and key_auth("jack-secret") == 200
    r = keyring("reseal")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "re-sealed ssls/s1" in r.stdout and "re-sealed consumers/jack" in r.stdout, r.stdout
    _, ssl_obj = adm("GET", "/ssls/s1")
    assert kids_of(ssl_obj) == {NEW}, ssl_obj
    _, cons = adm("GET", "/consumers/jack")
    assert kids_of(cons) == {NEW}, cons
    assert "jack-secret" not in json.dumps(cons)
    wait_for(lambda: key_auth("jack-secret") == 200, 10, what="key-auth after reseal")
    assert key_auth("wrong") == 401
    wait_for(handshake_ok, 10, what="TLS after reseal")
    # idempotent: nothing left to re-seal
    r = keyring("reseal")
    assert r.returncode == 0 and r.stdout.startswith("0 object(s) re-sealed"), r.stdout


def test_restart_with_new_ring():
    assert node.stop() == 0, node.log()
    node.start()
    wait_for(handshake_ok, 10, what="TLS after restart")
    wait_for(lambda: key_auth("jack-secret") == 200, 10, what="key-auth after restart")


def test_usage_errors():
    r = run_cli("keyring")
    assert r.returncode == 2 and "usage: apigw keyring" in r.stderr
    r = run_cli("keyring", "spin")
    assert r.returncode == 2 and "unknown action" in r.stderr
    r = run_cli("keyring", "list", "--data-dir", "/nonexistent-apigw")
    assert r.returncode == 1 and "cannot read" in r.stderr, r.stderr


setup()
tap = Tap()
tap.run(test_list_and_rotate)
tap.run(test_sighup_then_reseal)
tap.run(test_restart_with_new_ring)
tap.run(test_usage_errors)
node.stop()
up.stop()
tap.done()
