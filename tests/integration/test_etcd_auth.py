"""etcd API access control with the real etcdctl 3.4 and the JSON gateway:
users, roles and key-range permissions (etcdctl user/role/auth), etcd's
errors word for word, tokens that every member of a 3-node cluster accepts
and that go stale on a password change, user deletion or expiry, the root
role for membership and leadership, clients that are not on the host
(--etcd-trusted-cidr) refused without credentials and let in with a client
certificate, and bounded input (long names and passwords, too many
permissions or roles)."""
import base64
import http.client
import json
import os
import subprocess
import threading
import time

from harness import Node, Tap, etcdctl, tempdir, wait_for
from raftutil import start_cluster, status as status_of, wait_leader

TLS = tempdir("apigw-auth-tls-")
ENABLE_DENIED = "user name is empty"
PERM = "etcdserver: permission denied"


def ctl(node, *args, user=None, input=None):
    # --user costs a slow password hash per command: on a loaded machine
    # allow more than the harness's 10 s (the last --command-timeout wins),
    # and say when a command was slow (TAP comment) to spot real stalls.
    # etcdctl 3.4 authenticates while it dials, under --dial-timeout (2 s by
    # default): PBKDF2 under ASan on a busy machine can take longer.
    a = (["--user", user, "--command-timeout=30s", "--dial-timeout=30s"] if user else []) + \
        list(args)
    start = time.time()
    r = etcdctl(node, *a, input=input, timeout=40)
    if time.time() - start > 5:
        print("# slow (%.1f s): etcdctl %s" % (time.time() - start, " ".join(a)), flush=True)
    return r


def ok(r):
    assert r.returncode == 0, (r.stdout, r.stderr)
    return r.stdout


def refused(r, words):
    assert r.returncode != 0 and words in r.stderr, (r.stdout, r.stderr)


def b64(s):
    return base64.b64encode(s.encode()).decode()


def gw(node, path, body, token=None, source=None):
    """POST to the JSON gateway; (status, parsed body)."""
    conn = http.client.HTTPConnection("127.0.0.1", node.ports["etcd"], timeout=10,
                                      source_address=(source, 0) if source else None)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = token
    conn.request("POST", path, json.dumps(body), headers)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    try:
        return resp.status, json.loads(data)
    except ValueError:
        return resp.status, data


def gw_first_line(node, path, body):
    """POST to a streaming gateway path; (status, first JSON line)."""
    conn = http.client.HTTPConnection("127.0.0.1", node.ports["etcd"], timeout=10)
    conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    resp = conn.getresponse()
    line = resp.readline()
    conn.close()
    return resp.status, json.loads(line)


def token_of(node, name, password):
    st, body = gw(node, "/v3/auth/authenticate", {"name": name, "password": password})
    assert st == 200 and body.get("token"), (st, body)
    return body["token"]


def setup_users(node):
    """root (root role), alice (read /app/), bob (readwrite /app/)."""
    for cmd in (["user", "add", "root:rootpw"], ["user", "grant-role", "root", "root"],
                ["role", "add", "ro"], ["role", "add", "rw"],
                ["role", "grant-permission", "ro", "read", "/app/", "--prefix"],
                ["role", "grant-permission", "rw", "readwrite", "/app/", "--prefix"],
                ["user", "add", "alice:apw"], ["user", "grant-role", "alice", "ro"],
                ["user", "add", "bob:bpw"], ["user", "grant-role", "bob", "rw"]):
        ok(ctl(node, *cmd))


def test_users_roles_permissions():
    n = Node("auth1").start()
    refused(ctl(n, "auth", "enable"), "etcdserver: root user does not exist")
    setup_users(n)
    assert "alice" in ok(ctl(n, "user", "list")).split()
    out = ok(ctl(n, "role", "get", "ro"))
    assert "[/app/, /app0) (prefix /app/)" in out, out
    refused(ctl(n, "user", "add", "alice:x"), "etcdserver: user name already exists")
    refused(ctl(n, "role", "add", "ro"), "etcdserver: role name already exists")
    refused(ctl(n, "user", "grant-role", "alice", "nope"), "etcdserver: role name not found")
    refused(ctl(n, "user", "get", "nobody"), "etcdserver: user name not found")
    refused(ctl(n, "user", "revoke-role", "alice", "rw"),
            "etcdserver: role is not granted to the user")
    refused(ctl(n, "role", "revoke-permission", "ro", "/nope"),
            "etcdserver: permission is not granted to the role")
    ok(ctl(n, "put", "/other", "o"))
    assert "Authentication Enabled" in ok(ctl(n, "auth", "enable"))

    # loopback too needs credentials now, as in etcd
    refused(ctl(n, "get", "/other"), "etcdserver: user name is empty")
    refused(ctl(n, "get", "/other", user="root:wrong"),
            "etcdserver: authentication failed, invalid user ID or password")
    refused(ctl(n, "get", "/other", user="nobody:x"),
            "etcdserver: authentication failed, invalid user ID or password")
    assert ok(ctl(n, "get", "/other", "--print-value-only", user="root:rootpw")).strip() == "o"

    # read-only prefix role: reads inside, nothing outside, no writes
    ok(ctl(n, "put", "/app/a", "1", user="bob:bpw"))
    assert ok(ctl(n, "get", "/app/a", "--print-value-only", user="alice:apw")).strip() == "1"
    assert "/app/a" in ok(ctl(n, "get", "/app/", "--prefix", user="alice:apw"))
    refused(ctl(n, "put", "/app/a", "2", user="alice:apw"), PERM)
    refused(ctl(n, "del", "/app/a", user="alice:apw"), PERM)
    refused(ctl(n, "get", "/other", user="alice:apw"), PERM)
    refused(ctl(n, "get", "/", "--prefix", user="alice:apw"), PERM)
    # read-write prefix role: writes inside only
    refused(ctl(n, "put", "/other", "x", user="bob:bpw"), PERM)
    refused(ctl(n, "del", "/other", user="bob:bpw"), PERM)
    ok(ctl(n, "put", "/app/b", "1", user="bob:bpw"))
    ok(ctl(n, "del", "/app/b", user="bob:bpw"))
    # txn: every compare and op is checked
    out = ok(ctl(n, "txn", user="bob:bpw",
                 input='mod("/app/a") > "0"\n\nput /app/t ok\n\nput /app/t no\n\n'))
    assert "SUCCESS" in out, out
    refused(ctl(n, "txn", user="bob:bpw",
                input='mod("/other") > "0"\n\nput /app/t x\n\n\n'), PERM)
    refused(ctl(n, "txn", user="bob:bpw",
                input='mod("/app/a") > "0"\n\nput /app/t x\n\nput /other y\n\n'), PERM)
    refused(ctl(n, "txn", user="alice:apw",
                input='mod("/app/a") > "0"\n\nput /app/t x\n\n\n'), PERM)
    # watch: checked at create
    r = subprocess.run(["timeout", "5", "etcdctl", "--endpoints=" + n.addr("etcd"),
                        "--user", "alice:apw", "watch", "/other"],
                       capture_output=True, text=True, env=dict(os.environ, ETCDCTL_API="3"))
    assert "watch was canceled (etcdserver: permission denied)" in r.stderr, r.stderr
    # leases: any user; compaction, membership, leadership, auth: root only
    assert "granted with TTL" in ok(ctl(n, "lease", "grant", "30", user="alice:apw"))
    # ... but a lease whose keys one may not write can be neither revoked
    # nor attached to a key (etcd's checkLeasePuts)
    lease = ok(ctl(n, "lease", "grant", "60", user="root:rootpw")).split()[1]
    ok(ctl(n, "put", "/other/leased", "x", "--lease=" + lease, user="root:rootpw"))
    refused(ctl(n, "lease", "revoke", lease, user="bob:bpw"), PERM)
    refused(ctl(n, "put", "/app/l", "x", "--lease=" + lease, user="bob:bpw"), PERM)
    own = ok(ctl(n, "lease", "grant", "60", user="bob:bpw")).split()[1]
    ok(ctl(n, "put", "/app/l", "x", "--lease=" + own, user="bob:bpw"))
    refused(ctl(n, "lease", "revoke", own, user="alice:apw"), PERM)
    ok(ctl(n, "lease", "revoke", own, user="bob:bpw"))
    # a user may read its own record and its roles, nothing more
    assert "ro" in ok(ctl(n, "user", "get", "alice", user="alice:apw")).split()
    ok(ctl(n, "role", "get", "ro", user="alice:apw"))
    refused(ctl(n, "user", "get", "bob", user="alice:apw"), PERM)
    refused(ctl(n, "role", "get", "rw", user="alice:apw"), PERM)
    refused(ctl(n, "user", "list", user="alice:apw"), PERM)
    refused(ctl(n, "compaction", "1", user="bob:bpw"), PERM)
    refused(ctl(n, "member", "remove", "1234", user="bob:bpw"), PERM)
    refused(ctl(n, "move-leader", "1234", user="bob:bpw"), PERM)
    refused(ctl(n, "user", "add", "eve:x", user="bob:bpw"), PERM)
    refused(ctl(n, "auth", "disable", user="bob:bpw"), PERM)
    refused(ctl(n, "move-leader", "1234", user="root:rootpw"), "bad leader transferee")
    refused(ctl(n, "user", "delete", "root", user="root:rootpw"),
            "etcdserver: invalid auth management")
    refused(ctl(n, "user", "revoke-role", "root", "root", user="root:rootpw"),
            "etcdserver: invalid auth management")
    # a role revoked takes effect at once
    ok(ctl(n, "user", "revoke-role", "bob", "rw", user="root:rootpw"))
    refused(ctl(n, "put", "/app/c", "1", user="bob:bpw"), PERM)
    ok(ctl(n, "user", "grant-role", "bob", "rw", user="root:rootpw"))
    ok(ctl(n, "put", "/app/c", "1", user="bob:bpw"))

    # the JSON gateway: Authorization header
    st, body = gw(n, "/v3/kv/range", {"key": b64("/app/a")})
    assert st == 400 and body["error"] == "etcdserver: user name is empty", (st, body)
    tok = token_of(n, "alice", "apw")
    st, body = gw(n, "/v3/kv/range", {"key": b64("/app/a")}, token=tok)
    assert st == 200 and body["kvs"][0]["value"] == b64("1"), (st, body)
    st, body = gw(n, "/v3/kv/put", {"key": b64("/app/a"), "value": b64("2")}, token=tok)
    assert st == 403 and body["error"] == PERM, (st, body)
    st, body = gw(n, "/v3/kv/range", {"key": b64("/app/a")}, token=tok + "0")
    assert st == 401 and body["error"] == "etcdserver: invalid auth token", (st, body)
    st, body = gw(n, "/v3/auth/authenticate", {"name": "alice", "password": "no"})
    assert st == 400 and "authentication failed" in body["error"], (st, body)
    # auth records never show through the KV API
    out = ok(ctl(n, "get", "", "--from-key", "--keys-only", user="root:rootpw"))
    assert "etcdauth" not in out and "alice" not in out, out

    # a password change or a deleted user makes tokens stale
    ok(ctl(n, "user", "passwd", "alice", "--interactive=false", user="root:rootpw",
           input="apw2\n"))
    st, body = gw(n, "/v3/kv/range", {"key": b64("/app/a")}, token=tok)
    assert st == 401 and body["error"] == "etcdserver: invalid auth token", (st, body)
    refused(ctl(n, "get", "/app/a", user="alice:apw"), "authentication failed")
    ok(ctl(n, "get", "/app/a", user="alice:apw2"))
    btok = token_of(n, "bob", "bpw")
    ok(ctl(n, "user", "delete", "bob", user="root:rootpw"))
    st, body = gw(n, "/v3/kv/range", {"key": b64("/app/a")}, token=btok)
    assert st == 401, (st, body)

    # a deleted role is taken from its users
    ok(ctl(n, "role", "delete", "ro", user="root:rootpw"))
    assert "ro" not in ok(ctl(n, "user", "get", "alice", user="root:rootpw")).split()
    ok(ctl(n, "role", "add", "ro", user="root:rootpw"))
    ok(ctl(n, "role", "grant-permission", "ro", "read", "/app/", "--prefix", user="root:rootpw"))
    refused(ctl(n, "get", "/app/a", user="alice:apw2"), PERM)

    # auth disable: loopback clients need nothing again, tokens are no more checked
    rtok = token_of(n, "root", "rootpw")
    assert "Authentication Disabled" in ok(ctl(n, "auth", "disable", user="root:rootpw"))
    ok(ctl(n, "get", "/other"))
    # (etcdctl goes on when Authenticate answers "authentication is not enabled")
    ok(ctl(n, "get", "/other", user="root:rootpw"))
    # enabling again makes a new cluster key: old tokens stay invalid
    ok(ctl(n, "auth", "enable"))
    st, body = gw(n, "/v3/kv/range", {"key": b64("/other")}, token=rtok)
    assert st == 401, (st, body)
    ok(ctl(n, "auth", "disable", user="root:rootpw"))
    assert n.stop() == 0, n.log()


def test_bounded_input():
    n = Node("auth2").start()
    st, body = gw(n, "/v3/auth/user/add", {"name": "u" * 200, "password": "x"})
    assert st == 400 and "too long" in body["error"], (st, body)
    st, body = gw(n, "/v3/auth/user/add", {"name": "u", "password": "p" * 300})
    assert st == 400 and "password is too long" in body["error"], (st, body)
    st, body = gw(n, "/v3/auth/user/add", {"name": "", "password": "x"})
    assert st == 400 and body["error"] == "etcdserver: user name is empty", (st, body)
    st, body = gw(n, "/v3/auth/role/add", {"name": ""})
    assert st == 400 and body["error"] == "etcdserver: role name is empty", (st, body)
    st, body = gw(n, "/v3/auth/role/add", {"name": "big"})
    assert st == 200, (st, body)
    for i in range(128):
        st, body = gw(n, "/v3/auth/role/grant",
                      {"name": "big", "perm": {"permType": "READ", "key": b64("/k%d" % i)}})
        assert st == 200, (i, st, body)
    st, body = gw(n, "/v3/auth/role/grant",
                  {"name": "big", "perm": {"permType": "READ", "key": b64("/k-one-more")}})
    assert st == 400 and "too many permissions" in body["error"], (st, body)
    # the same key again only changes its type
    st, body = gw(n, "/v3/auth/role/grant",
                  {"name": "big", "perm": {"permType": "WRITE", "key": b64("/k0")}})
    assert st == 200, (st, body)
    st, body = gw(n, "/v3/auth/user/add", {"name": "many", "options": {"no_password": True}})
    assert st == 200, (st, body)
    for i in range(64):
        assert gw(n, "/v3/auth/role/add", {"name": "r%d" % i})[0] == 200
        st, body = gw(n, "/v3/auth/user/grant", {"user": "many", "role": "r%d" % i})
        assert st == 200, (i, st, body)
    assert gw(n, "/v3/auth/role/add", {"name": "r64"})[0] == 200
    st, body = gw(n, "/v3/auth/user/grant", {"user": "many", "role": "r64"})
    assert st == 400 and "too many roles" in body["error"], (st, body)
    st, body = gw(n, "/v3/auth/user/get", {"name": "many"})
    assert st == 200 and len(body["roles"]) == 64, (st, body)
    # a user without a password cannot authenticate
    ok(ctl(n, "user", "add", "root:rootpw"))
    ok(ctl(n, "auth", "enable"))
    st, body = gw(n, "/v3/auth/authenticate", {"name": "many", "password": ""})
    assert st == 400 and "authentication failed" in body["error"], (st, body)
    # a burst of Authenticate calls: the slow hashes are capped, the rest
    # answered at once with "too many requests"; the node stays fine
    results = []

    def attempt():
        try:
            results.append(gw(n, "/v3/auth/authenticate", {"name": "root", "password": "no"}))
        except OSError as e:  # e.g. the listen backlog overflowed: the client's side
            results.append((0, str(e)))

    threads = [threading.Thread(target=attempt) for _ in range(40)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    codes = sorted(st for st, _ in results)
    assert set(codes) <= {400, 429, 0}, codes
    assert all("too many requests" in b["error"] for st, b in results if st == 429), results

    def can_authenticate():
        try:
            return gw(n, "/v3/auth/authenticate",
                      {"name": "root", "password": "rootpw"})[0] == 200
        except OSError:
            return False
    # the accepted hashes drain two at a time (slow on a loaded machine)
    wait_for(can_authenticate, 120, 0.5, "Authenticate after the burst")
    # a token too long or of garbage is just invalid
    st, body = gw(n, "/v3/kv/range", {"key": b64("/a")}, token="x" * 5000)
    assert st == 401, (st, body)
    assert n.running
    assert n.stop() == 0, n.log()


def test_token_ttl():
    n = Node("auth3", extra_args=["--auth-token-ttl", "1s"]).start()
    ok(ctl(n, "user", "add", "root:rootpw"))
    ok(ctl(n, "auth", "enable"))
    tok = token_of(n, "root", "rootpw")
    assert gw(n, "/v3/kv/range", {"key": b64("/a")}, token=tok)[0] == 200
    time.sleep(1.5)
    st, body = gw(n, "/v3/kv/range", {"key": b64("/a")}, token=tok)
    assert st == 401 and body["error"] == "etcdserver: invalid auth token", (st, body)
    assert n.stop() == 0, n.log()


def test_token_on_other_member():
    nodes, _ = start_cluster(3)
    a, b, c = nodes
    setup_users(a)
    ok(ctl(a, "user", "add", "carol:cpw"))
    ok(ctl(a, "auth", "enable"))
    # every member enforces the replicated state
    wait_for(lambda: ctl(c, "get", "/x").returncode != 0, 15, 0.2, "auth on n3")
    refused(ctl(c, "get", "/x"), "etcdserver: user name is empty")
    # a token from one member works on another
    tok = token_of(b, "bob", "bpw")
    st, body = gw(c, "/v3/kv/put", {"key": b64("/app/k"), "value": b64("v")}, token=tok)
    assert st == 200, (st, body)
    st, body = gw(a, "/v3/kv/range", {"key": b64("/app/k")}, token=tok)
    assert st == 200 and body["kvs"][0]["value"] == b64("v"), (st, body)
    ok(ctl(c, "get", "/app/k", user="alice:apw"))
    # membership and leadership need the root role
    ids = ok(ctl(a, "member", "list", user="carol:cpw"))
    some_id = ids.split(",")[0].strip()
    refused(ctl(b, "member", "remove", some_id, user="carol:cpw"), PERM)
    leader = wait_leader(nodes)
    other = [x for x in nodes if x is not leader][0]
    refused(ctl(leader, "move-leader", status_of(other)["id"], user="bob:bpw"), PERM)
    assert len(ok(ctl(a, "member", "list", user="root:rootpw")).strip().splitlines()) == 3
    # a password changed on one member makes the token stale everywhere
    ok(ctl(a, "user", "passwd", "bob", "--interactive=false", user="root:rootpw",
           input="new\n"))
    wait_for(lambda: gw(c, "/v3/kv/range", {"key": b64("/app/k")}, token=tok)[0] == 401,
             15, 0.2, "stale token on n3")
    for n in nodes:
        assert n.stop() == 0, n.log()


def make_certs():
    script = r"""
set -e
K='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'
openssl req -x509 $K -keyout ca.key -out ca.pem -days 2 -subj /CN=test-ca
openssl req $K -keyout server.key -out server.csr -subj /CN=127.0.0.1
printf 'subjectAltName=IP:127.0.0.1\n' > san.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
  -out server.pem -days 2 -extfile san.ext
openssl req $K -keyout client.key -out client.csr -subj /CN=carl
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
  -out client.pem -days 2
"""
    subprocess.run(["sh", "-c", script], cwd=TLS, check=True, capture_output=True)


def ctl_tls(node, *args, cert=True, user=None):
    env = dict(os.environ, ETCDCTL_API="3")
    cmd = ["etcdctl", "--endpoints=https://" + node.addr("etcd"), "--command-timeout=5s",
           "--dial-timeout=%ds" % (30 if user else 3), "--cacert", os.path.join(TLS, "ca.pem")]
    if cert:
        cmd += ["--cert", os.path.join(TLS, "client.pem"),
                "--key", os.path.join(TLS, "client.key")]
    if user:
        cmd += ["--user", user]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=45,
                          env=env)


def test_off_host_clients():
    # Only 127.0.0.3 counts as this host: etcdctl (from 127.0.0.1) is off-host.
    trusted = ["--etcd-trusted-cidr", "127.0.0.3/32"]
    n = Node("auth4", extra_args=trusted).start()
    refused(ctl(n, "put", "/k", "v"), "needs a client certificate")
    refused(ctl(n, "member", "remove", "1234"), "needs a client certificate")
    st, body = gw(n, "/v3/kv/range", {"key": b64("/k")})
    assert st == 403 and "client certificate" in body["error"], (st, body)
    # streaming methods too (the JSON gateway's keepalive and watch)
    st, body = gw(n, "/v3/lease/keepalive", {"ID": "1"})
    assert st == 403 and "client certificate" in body["error"], (st, body)
    st, body = gw_first_line(n, "/v3/watch", {"create_request": {"key": b64("/k")}})
    assert st == 200 and body["result"]["canceled"], (st, body)
    assert "client certificate" in body["result"]["cancel_reason"], body
    # from the trusted address all works as before
    st, body = gw(n, "/v3/kv/put", {"key": b64("/k"), "value": b64("v")}, source="127.0.0.3")
    assert st == 200, (st, body)
    for path, body in (("/v3/auth/user/add", {"name": "root", "password": "rootpw"}),
                       ("/v3/auth/user/grant", {"user": "root", "role": "root"}),
                       ("/v3/auth/enable", {})):
        st, out = gw(n, path, body, source="127.0.0.3")
        assert st == 200, (path, st, out)
    # with auth on, off-host clients get in with a user and password
    assert ok(ctl(n, "get", "/k", "--print-value-only", user="root:rootpw")).strip() == "v"
    refused(ctl(n, "get", "/k"), "etcdserver: user name is empty")
    # the node-to-node routes are not etcd API calls
    assert n.running
    assert n.stop() == 0, n.log()

    # A TLS listener with a client CA: a verified certificate is enough
    # while auth is off; with auth on its CN is the user name.
    make_certs()
    tls = ["--etcd-cert", os.path.join(TLS, "server.pem"),
           "--etcd-key", os.path.join(TLS, "server.key"),
           "--etcd-client-ca", os.path.join(TLS, "ca.pem")]
    t = Node("auth5", extra_args=trusted + tls).start()
    ok(ctl_tls(t, "put", "/app/k", "v"))
    refused(ctl_tls(t, "get", "/app/k", cert=False), "")
    for cmd in (["user", "add", "root:rootpw"], ["user", "grant-role", "root", "root"],
                ["role", "add", "rw"],
                ["role", "grant-permission", "rw", "readwrite", "/app/", "--prefix"],
                ["auth", "enable"]):
        ok(ctl_tls(t, *cmd))
    refused(ctl_tls(t, "get", "/app/k"), PERM)  # CN "carl" is no user yet
    ok(ctl_tls(t, "user", "add", "carl", "--no-password", user="root:rootpw"))
    ok(ctl_tls(t, "user", "grant-role", "carl", "rw", user="root:rootpw"))
    assert ok(ctl_tls(t, "get", "/app/k", "--print-value-only")).strip() == "v"
    refused(ctl_tls(t, "get", "/other"), PERM)
    refused(ctl_tls(t, "member", "remove", "1234"), PERM)
    assert t.stop() == 0, t.log()


if __name__ == "__main__":
    tap = Tap()
    if subprocess.run(["sh", "-c", "command -v etcdctl"], capture_output=True).returncode:
        for fn in (test_users_roles_permissions, test_bounded_input, test_token_ttl,
                   test_token_on_other_member, test_off_host_clients):
            tap.skip(fn, "etcdctl not installed")
    else:
        tap.run(test_users_roles_permissions)
        tap.run(test_bounded_input)
        tap.run(test_token_ttl)
        tap.run(test_token_on_other_member)
        tap.run(test_off_host_clients)
    tap.done()
