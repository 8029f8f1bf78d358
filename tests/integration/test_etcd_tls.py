"""The etcd API over TLS from the command line (--etcd-cert, --etcd-key,
--etcd-client-ca): the real etcdctl with --cacert/--cert/--key, a client
without a certificate refused, and a two-node cluster whose peer channel
(join, forwarded writes) keeps working while clients must use TLS."""
import os
import subprocess

from harness import Node, Tap, create_token, run_cli, tempdir, wait_for, write_token_file

TLS = tempdir("apigw-tls-")


def make_certs():
    script = r"""
set -e
K='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'
openssl req -x509 $K -keyout ca.key -out ca.pem -days 2 -subj /CN=test-ca
openssl req $K -keyout server.key -out server.csr -subj /CN=127.0.0.1
printf 'subjectAltName=IP:127.0.0.1\n' > san.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
  -out server.pem -days 2 -extfile san.ext
openssl req $K -keyout client.key -out client.csr -subj /CN=client
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
  -out client.pem -days 2
"""
    subprocess.run(["sh", "-c", script], cwd=TLS, check=True, capture_output=True)


def tls_args():
    return ["--etcd-cert", os.path.join(TLS, "server.pem"),
            "--etcd-key", os.path.join(TLS, "server.key"),
            "--etcd-client-ca", os.path.join(TLS, "ca.pem")]


def etcdctl_tls(node, *args, client_cert=True):
    env = dict(os.environ, ETCDCTL_API="3")
    cmd = ["etcdctl", "--endpoints=https://" + node.addr("etcd"), "--command-timeout=5s",
           "--dial-timeout=3s", "--cacert", os.path.join(TLS, "ca.pem")]
    if client_cert:
        cmd += ["--cert", os.path.join(TLS, "client.pem"),
                "--key", os.path.join(TLS, "client.key")]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=30,
                          env=env)


def test_flags_validated():
    r = run_cli("start", "--etcd-cert", "/nonexistent.pem", "--check")
    assert r.returncode == 2 and "--etcd-cert" in r.stderr, r.stderr
    r = run_cli("start", "--etcd-client-ca", os.path.join(TLS, "ca.pem"), "--check")
    assert r.returncode == 2 and "needs --etcd-cert" in r.stderr, r.stderr


def test_tls_etcdctl_and_cluster():
    a = Node("tls1", extra_args=tls_args()).start()
    r = etcdctl_tls(a, "put", "/tls/k", "v1")
    assert r.returncode == 0, r.stderr
    r = etcdctl_tls(a, "get", "/tls/k", "--print-value-only")
    assert r.returncode == 0 and r.stdout.strip() == "v1", r
    r = etcdctl_tls(a, "get", "/tls/k", client_cert=False)
    assert r.returncode != 0, "a client without a certificate must be refused"
    # Cleartext gRPC is refused on a TLS listener.
    env = dict(os.environ, ETCDCTL_API="3")
    r = subprocess.run(["etcdctl", "--endpoints=" + a.addr("etcd"), "--command-timeout=3s",
                        "--dial-timeout=2s", "get", "/tls/k"],
                       capture_output=True, text=True, timeout=30, env=env)
    assert r.returncode != 0, r.stdout
    # A second node joins through the TLS listener (a join token: the
    # peer name selects the member certificate there); a write on it is
    # forwarded to the leader over mTLS and read back over TLS on both.
    b = Node("tls2", cmd="join", extra_args=tls_args() + [
        "--peer", a.addr("etcd"), "--token-file", write_token_file(create_token(a))]).start()
    r = etcdctl_tls(b, "put", "/tls/k2", "from-b")
    assert r.returncode == 0, r.stderr
    wait_for(lambda: etcdctl_tls(a, "get", "/tls/k2", "--print-value-only").stdout.strip()
             == "from-b", 10, what="forwarded write visible on the leader")
    r = etcdctl_tls(b, "member", "list")
    assert r.returncode == 0 and "https://" in r.stdout, r.stdout
    # the JSON gateway over TLS (HTTP/1.1 behind the terminator) answers too
    r = subprocess.run(["curl", "-s", "--cacert", os.path.join(TLS, "ca.pem"), "--cert",
                        os.path.join(TLS, "client.pem"), "--key",
                        os.path.join(TLS, "client.key"), "-X", "POST",
                        "https://%s/v3/kv/range" % b.addr("etcd"), "-d",
                        '{"key":"L3Rscy9rMg=="}'], capture_output=True, text=True, timeout=30)
    assert '"kvs"' in r.stdout, (r.stdout, r.stderr)
    b.stop()
    a.stop()


make_certs()
tap = Tap()
tap.run(test_flags_validated)
tap.run(test_tls_etcdctl_and_cluster)
tap.done()
