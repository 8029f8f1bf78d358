"""ssls objects and TLS on one real apigw node, with a CA made here by the
openssl CLI: the Admin API refuses a key that does not match its
certificate, an expired certificate and bad PEM with their messages; it
stores private keys sealed by the node's keyring (never in clear in the
LMDB file, never in clear in a GET, even for a key written in clear through
the etcd API); certs/keys pairs (RSA + ECDSA); etcd-API writes get the same
checks."""
import json
import os
import stat
import subprocess
import time

import tlsutil
from harness import Node, Tap, etcdctl, http

KEY = "test-tls-admin-key-0123456789"
node = None
ca = None


def adm(method, path, body=None):
    h = {"X-API-KEY": KEY}
    data = None
    if body is not None:
        data = json.dumps(body)
        h["Content-Type"] = "application/json"
    st, _, b = http(method, "127.0.0.1", node.ports["admin"], "/apisix/admin" + path,
                    body=data, headers=h)
    try:
        return st, json.loads(b) if b else None
    except ValueError:
        return st, b.decode(errors="replace")


def refused(body, needle):
    st, b = adm("PUT", "/ssls/bad", body)
    assert st == 400 and needle in b.get("error_msg", ""), (needle, st, b)
    assert adm("GET", "/ssls/bad")[0] == 404


def key_line(pem):
    """A distinctive line of a PEM's base64 body."""
    return [l for l in pem.splitlines() if l and not l.startswith("-----")][1]


def store_files_contain(needle):
    for root, _, files in os.walk(node.data_dir):
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                if needle.encode() in fh.read():
                    return os.path.join(root, f)
    return None


def test_keyring_file():
    path = os.path.join(node.data_dir, "keyring")
    st = os.stat(path)
    assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    with open(path) as f:
        lines = f.read().split()
    assert len(lines) == 2 and len(lines[0]) == 8 and len(lines[1]) == 64, lines


def test_sealed_at_rest_and_in_answers():
    cert, key, _, _ = ca.issue(["a.test", "*.wild.test"])
    st, b = adm("PUT", "/ssls/s1", {"snis": ["a.test", "*.wild.test"], "cert": cert,
                                    "key": key, "labels": {"env": "t"},
                                    "ssl_protocols": ["TLSv1.2", "TLSv1.3"]})
    assert st == 201, (st, b)
    assert b["value"]["key"].startswith("gwenc1:"), b
    assert "PRIVATE KEY" not in json.dumps(b)
    st, b = adm("GET", "/ssls/s1")
    assert st == 200 and b["value"]["key"].startswith("gwenc1:"), b
    assert b["value"]["cert"] == cert and b["value"]["snis"] == ["a.test", "*.wild.test"]
    st, b = adm("GET", "/ssls")
    assert st == 200 and "PRIVATE KEY" not in json.dumps(b), b
    r = etcdctl(node, "get", "/apisix/ssls/s1", "--print-value-only")
    assert r.returncode == 0 and "PRIVATE KEY" not in r.stdout, r.stdout
    # the LMDB file (and everything else in the data dir) never holds it
    time.sleep(0.2)
    assert store_files_contain(key_line(key)) is None
    # GET then PUT back: the sealed key is kept as it is and still checked
    value = adm("GET", "/ssls/s1")[1]["value"]
    for k in ("create_time", "update_time", "id"):
        value.pop(k, None)
    st, b = adm("PUT", "/ssls/s1", value)
    assert st == 200 and b["value"]["key"] == value["key"], (st, b)
    # PATCH of a label re-checks the object with its sealed key
    st, b = adm("PATCH", "/ssls/s1", {"labels": {"env": "u"}})
    assert st == 200 and b["value"]["labels"] == {"env": "u"}, (st, b)
    # a sealed key that does not authenticate is refused
    bad = dict(value)
    bad["key"] = value["key"][:-8] + ("A" * 8 if not value["key"].endswith("A" * 8) else "B" * 8)
    refused(bad, "failed to decrypt previous encrypted key")
    assert adm("DELETE", "/ssls/s1")[0] == 200


def test_refusals():
    cert, key, _, _ = ca.issue(["m.test"])
    cert2, key2, _, _ = ca.issue(["n.test"], kind="rsa")
    refused({"sni": "m.test", "cert": cert, "key": key2}, "key does not match cert")
    exp, ekey, _, _ = ca.issue(["e.test"], not_before="20200101000000Z",
                               not_after="20200201000000Z")
    refused({"sni": "e.test", "cert": exp, "key": ekey},
            "cert expired at 2020-02-01T00:00:00Z")
    fut, fkey, _, _ = ca.issue(["f.test"], not_before="20990101000000Z",
                               not_after="20990201000000Z")
    refused({"sni": "f.test", "cert": fut, "key": fkey}, "cert not valid before 2099-01-01")
    junk = "-----BEGIN CERTIFICATE-----\n" + "A" * 200 + "\n-----END CERTIFICATE-----\n"
    refused({"sni": "m.test", "cert": junk, "key": key},
            "failed to parse cert: PEM_read_bio_X509_AUX() failed")
    refused({"sni": "m.test", "cert": cert, "key": junk.replace("CERTIFICATE", "PRIVATE KEY")},
            "failed to parse key: PEM_read_bio_PrivateKey() failed")
    refused({"sni": "m.test", "cert": cert, "key": key, "certs": [cert2]},
            "mismatched number of certs and keys")
    refused({"sni": "m.test", "cert": cert, "key": key, "certs": [cert2], "keys": [key]},
            "failed to handle cert-key pair[1]: key does not match cert")
    refused({"sni": "m.test", "cert": cert, "key": key, "type": "other"},
            "invalid configuration: ")


def test_rsa_and_ecdsa_pairs():
    ec, eck, _, _ = ca.issue(["p.test"], kind="ec")
    rsa, rsak, _, _ = ca.issue(["p.test"], kind="rsa")
    st, b = adm("PUT", "/ssls/p", {"sni": "p.test", "cert": ec, "key": eck, "certs": [rsa],
                                   "keys": [rsak]})
    assert st == 201, (st, b)
    assert all(k.startswith("gwenc1:") for k in [b["value"]["key"]] + b["value"]["keys"]), b
    assert store_files_contain(key_line(rsak)) is None
    assert adm("DELETE", "/ssls/p")[0] == 200


def test_etcd_writes_checked():
    cert, key, _, _ = ca.issue(["x.test"])
    _, key2, _, _ = ca.issue(["y.test"])
    r = etcdctl(node, "put", "/apisix/ssls/x", json.dumps({"sni": "x.test", "cert": cert,
                                                           "key": key2}))
    assert r.returncode != 0 and "/apisix/ssls/x is not a valid ssl: key does not match cert" \
        in r.stderr, r.stderr
    # a key in clear is accepted (APISIX does) and never shown in clear by GET
    r = etcdctl(node, "put", "/apisix/ssls/x", json.dumps({"id": "x", "sni": "x.test",
                                                           "cert": cert, "key": key}))
    assert r.returncode == 0, r.stderr
    st, b = adm("GET", "/ssls/x")
    assert st == 200 and b["value"]["key"].startswith("gwenc1:"), b
    st, b = adm("GET", "/ssls")
    assert st == 200 and "PRIVATE KEY" not in json.dumps(b), b
    assert adm("DELETE", "/ssls/x")[0] == 200


def main():
    global node, ca
    tap = Tap()
    ca = tlsutil.CA()
    node = Node("tls1", extra_args=["--admin-key", KEY]).start()
    try:
        for fn in (test_keyring_file, test_sealed_at_rest_and_in_answers, test_refusals,
                   test_rsa_and_ecdsa_pairs, test_etcd_writes_checked):
            tap.run(fn)
    finally:
        node.stop()
    tap.done()


if __name__ == "__main__":
    main()
