#!/usr/bin/env python3
"""PUT /apisix/admin/configs on a real apigw node: a whole declarative
config (APISIX's standalone layout, YAML or JSON) applied as one store
transaction: dry-run changes nothing and shows the diff; a second PUT
changes nothing; the default replaces the whole config (prune) and
?prune=false keeps objects the body lacks; a broken reference, a schema
error (with the body's line) or bad YAML writes nothing; 1,000 objects
(more than etcd's 128 ops per transaction) land at one revision; the proxy
serves what was applied; `apigw config apply --admin-listen` goes through
it; the audit log records it."""
import base64
import json
import os

from harness import Node, Tap, etcdctl, http, run_cli, tempdir, wait_for
from tlsutil import self_signed

KEY = "configs-admin-key-0123456789"
node = None

YAML = """\
upstreams:
  - id: 1
    type: roundrobin
    nodes:
      "127.0.0.1:1980": 1
routes:
  - id: r1
    uri: /a
    upstream_id: 1
  - id: r2
    uris: ["/b", "/c"]
    plugins:
      fault-injection:
        abort:
          http_status: 200
          body: "hello r2"
#END
"""


def put_configs(body, query="", ctype="application/yaml", n=None):
    n = n or node
    h = {"X-API-KEY": KEY, "Content-Type": ctype}
    st, hdrs, b = http("PUT", "127.0.0.1", n.ports["admin"], "/apisix/admin/configs" + query,
                       body=body, headers=h, timeout=60)
    return st, hdrs, json.loads(b) if b else None


def revision():
    out = json.loads(etcdctl(node, "get", "/", "--prefix", "--keys-only", "-w", "json").stdout)
    return out["header"]["revision"]


def keys():
    out = json.loads(etcdctl(node, "get", "/apisix/", "--prefix", "-w", "json").stdout)
    return sorted((base64.b64decode(k["key"]).decode(), k["mod_revision"])
                  for k in out.get("kvs", []))


def test_dry_run_apply_idempotent():
    r0 = revision()
    st, h, b = put_configs(YAML, "?dry_run=true")
    assert st == 200 and b["dry_run"] and b["created"] == 3, (st, b)
    assert [c["key"] for c in b["changes"]] == [
        "/apisix/routes/r1", "/apisix/routes/r2", "/apisix/upstreams/1"], b
    assert b["changes"][0]["diff"]["changes"][0]["to"]["uri"] == "/a", b
    assert sorted(b["routes_affected"]) == ["r1", "r2"], b  # compiled: both appear
    assert revision() == r0 and keys() == []
    st, h, b = put_configs(YAML)
    assert st == 200 and b["created"] == 3 and not b["dry_run"], (st, b)
    rev = int(h["x-apigw-revision"])
    assert rev == r0 + 1 and b["modifiedIndex"] == rev, (rev, r0, b)
    # one transaction: every object at the same revision
    assert [m for _, m in keys()] == [rev] * 3, keys()
    wait_for(lambda: node.request("GET", "proxy", "/b")[0] == 200, 10, 0.1, "route r2 served")
    assert node.request("GET", "proxy", "/b")[2] == b"hello r2"
    st, h, b = put_configs(YAML)
    assert st == 200 and b["changes"] == [] and b["message"].startswith("no changes"), b
    assert revision() == rev
    # a dry run compiles: the upstream's nodes change r1 only; a traffic-split
    # naming an upstream the file does not hold is refused (a reference)
    st, _, b = put_configs(YAML.replace('"127.0.0.1:1980"', '"127.0.0.1:1981"'),
                           "?dry_run=true")
    assert st == 200 and b["routes_affected"] == ["r1"], (st, b)
    split = YAML.replace("#END", """  - id: r3
    uri: /t
    upstream_id: 1
    plugins:
      traffic-split:
        rules:
          - weighted_upstreams:
              - upstream_id: gone
                weight: 1
""")
    st, _, b = put_configs(split, "?dry_run=true")
    assert st == 400 and "/apisix/upstreams/gone, which is neither" in b["error_msg"], (st, b)
    st, _, b2 = put_configs(split)
    assert st == 400 and b2 == b, (st, b2)  # the real apply refuses it the same way
    assert revision() == rev
    # the Admin API sees the objects with their times
    st, _, o = http("GET", "127.0.0.1", node.ports["admin"], "/apisix/admin/routes/r1",
                    headers={"X-API-KEY": KEY})
    v = json.loads(o)["value"]
    assert v["uri"] == "/a" and v["create_time"] > 0 and v["update_time"] > 0, v


def test_prune_and_keep():
    body = json.dumps({"routes": [{"id": "r1", "uri": "/a2", "upstream_id": "1"}],
                       "upstreams": [{"id": "1", "type": "roundrobin",
                                      "nodes": {"127.0.0.1:1980": 1}}],
                       "routes_conf_version": 7})
    st, _, b = put_configs(body, "?prune=false", "application/json")
    assert st == 200 and b["updated"] == 1 and b["deleted"] == 0, (st, b)
    assert [c["op"] for c in b["changes"]] == ["update"], b
    st, _, b = put_configs(body, "", "application/json")
    assert st == 200 and b["deleted"] == 1, (st, b)
    assert b["changes"] == [{"key": "/apisix/routes/r2", "op": "delete"}], b
    assert [k for k, _ in keys()] == ["/apisix/routes/r1", "/apisix/upstreams/1"]


def test_refused_writes_nothing():
    r0 = revision()
    before = keys()
    # a reference to an upstream the apply would delete
    st, _, b = put_configs("routes:\n  - id: r1\n    uri: /a\n    upstream_id: 1\n")
    assert st == 400 and "/apisix/upstreams/1" in b["error_msg"], (st, b)
    assert "would delete" in b["error_msg"], b
    st, _, b = put_configs("routes:\n  - id: r5\n    uri: /a\n    upstream_id: nope\n",
                           "?prune=false")
    assert st == 400 and "neither in the body nor stored" in b["error_msg"], (st, b)
    # a schema error names the line; bad YAML too
    st, _, b = put_configs("routes:\n  - id: r1\n    uri: /a\n    upstream_id: 1\n"
                           "  - id: r6\n    uri: /6\n    priority: high\n")
    assert st == 400 and b["error_msg"].startswith("body:7: routes[1] (id r6)"), (st, b)
    st, _, b = put_configs("routes: [\n")
    assert st == 400 and "bad YAML" in b["error_msg"], (st, b)
    st, _, b = put_configs("routez: []\n")
    assert st == 400 and 'unknown section "routez"' in b["error_msg"], (st, b)
    st, _, b = put_configs(YAML, "?prune=maybe")
    assert st == 400, (st, b)
    assert revision() == r0 and keys() == before


def test_large_apply_is_one_transaction():
    up = {"id": "1", "type": "roundrobin", "nodes": {"127.0.0.1:1980": 1}}
    routes = [{"id": "big%04d" % i, "uri": "/big/%d" % i, "upstream_id": "1"}
              for i in range(1000)]
    body = json.dumps({"routes": routes, "upstreams": [up]})
    st, h, b = put_configs(body, "", "application/json")
    assert st == 200 and b["created"] == 1000 and b["deleted"] == 1, (st, b.get("message"))
    rev = int(h["x-apigw-revision"])
    mods = {m for k, m in keys() if k.startswith("/apisix/routes/")}
    assert mods == {rev} and len(keys()) == 1001, (mods, rev)
    # and all of it goes away in one transaction too
    st, h, b = put_configs(json.dumps({"upstreams": [up]}), "", "application/json")
    assert st == 200 and b["deleted"] == 1000, (st, b.get("message"))
    assert len(keys()) == 1


def test_cli_apply_through_admin_api():
    d = tempdir("apigw-cf-")
    f = os.path.join(d, "apisix.yaml")
    with open(f, "w") as fh:
        fh.write(YAML)
    common = ["--admin-listen", node.addr("admin"), "--admin-key", KEY]
    p = run_cli("config", "apply", f, "--dry-run", *common)
    assert p.returncode == 0 and "+ /apisix/routes/r2" in p.stdout, (p.stdout, p.stderr)
    assert "dry run" in p.stdout, p.stdout
    p = run_cli("config", "apply", f, *common)
    assert p.returncode == 0 and "2 to create" in p.stdout and "one transaction" in p.stdout, (p.stdout, p.stderr)
    p = run_cli("config", "apply", f, *common)
    assert p.returncode == 0 and "no changes" in p.stdout, (p.stdout, p.stderr)
    # without --prune the CLI keeps what the file lacks
    with open(f, "w") as fh:
        fh.write("routes:\n  - id: only\n    uri: /only\n    upstream_id: 1\n")
    p = run_cli("config", "apply", f, *common)
    assert p.returncode == 0 and "1 to create" in p.stdout and "0 to delete" in p.stdout, p.stdout
    # the etcd path refuses more than one etcd transaction unless --in-parts
    with open(f, "w") as fh:
        json.dump({"routes": [{"id": "cli%03d" % i, "uri": "/cli/%d" % i,
                               "upstream_id": "1"} for i in range(130)]}, fh)
    p = run_cli("config", "apply", f, "--endpoint", node.addr("etcd"))
    assert p.returncode == 1 and "--admin-listen" in p.stderr, (p.stdout, p.stderr)
    assert not [k for k, _ in keys() if k.startswith("/apisix/routes/cli")]
    p = run_cli("config", "apply", f, *common)
    assert p.returncode == 0 and "130 to create" in p.stdout, (p.stdout, p.stderr)
    # larger than the Admin API takes in one request: said, nothing written
    with open(f, "w") as fh:
        json.dump({"routes": [{"id": "huge%05d" % i, "uri": "/huge/%d" % i,
                               "upstream_id": "1"} for i in range(30000)]}, fh)
    assert os.path.getsize(f) > 1572864
    r0 = revision()
    p = run_cli("config", "apply", f, *common, timeout=60)
    assert p.returncode == 1 and "1.5 MiB" in p.stderr, (p.stdout, p.stderr)
    assert revision() == r0


def test_secrets_sealed_and_credentials_kept():
    body = ("consumers:\n  - username: alice\n    plugins:\n"
            "      key-auth:\n        key: alice-secret-key\n"
            "upstreams:\n  - id: 1\n    type: roundrobin\n    nodes:\n"
            "      \"127.0.0.1:1980\": 1\n")
    st, _, b = put_configs(body)
    assert st == 200 and b["created"] == 1, (st, b)
    raw = etcdctl(node, "get", "/apisix/consumers/alice", "--print-value-only").stdout
    assert "alice-secret-key" not in raw and "key-auth" in raw, raw
    st, _, b = put_configs(body)
    assert st == 200 and b["changes"] == [], (st, b)
    # a credential below the consumer is no object of the file: kept
    st, _, _ = http("PUT", "127.0.0.1", node.ports["admin"],
                    "/apisix/admin/consumers/alice/credentials/c1",
                    body=json.dumps({"plugins": {"key-auth": {"key": "c1-key"}}}),
                    headers={"X-API-KEY": KEY, "Content-Type": "application/json"})
    assert st in (200, 201), st
    st, _, b = put_configs(body)
    assert st == 200 and b["changes"] == [], (st, b)
    assert "/apisix/consumers/alice/credentials/c1" in [k for k, _ in keys()]
    # a changed secret is an update
    st, _, b = put_configs(body.replace("alice-secret-key", "alice-new-key"))
    assert st == 200 and b["changes"] == [
        {"key": "/apisix/consumers/alice", "op": "update"}], (st, b)


def test_export_with_secrets():
    """ssl keys and consumer secrets: sealed in a plain export, in clear with
    --with-secrets and the keyring; applying either changes nothing."""
    crt, key = self_signed("sec.example")
    body = json.dumps({"ssls": [{"id": "s1", "cert": crt, "key": key, "snis": ["sec.example"]}],
                       "consumers": [{"username": "alice",
                                      "plugins": {"key-auth": {"key": "alice-new-key"}}}],
                       "upstreams": [{"id": "1", "type": "roundrobin",
                                      "nodes": {"127.0.0.1:1980": 1}}]})
    st, _, b = put_configs(body, "", "application/json")
    assert st == 200 and b["created"] == 1, (st, b)
    ep = ["--endpoint", node.addr("etcd")]
    plain = run_cli("config", "export", *ep)
    assert plain.returncode == 0 and "PRIVATE KEY" not in plain.stdout, plain.stdout
    assert "alice-new-key" not in plain.stdout
    p = run_cli("config", "export", "--with-secrets", *ep)
    assert p.returncode == 2 and "keyring" in p.stderr, p.stderr
    full = run_cli("config", "export", "--with-secrets", "--data-dir", node.data_dir, *ep)
    assert full.returncode == 0, full.stderr
    assert "PRIVATE KEY" in full.stdout and "alice-new-key" in full.stdout
    # the same bytes through GET /apisix/admin/configs (Admin API key, no etcd access)
    adm_args = ["--admin-listen", node.addr("admin"), "--admin-key", KEY]
    p = run_cli("config", "export", *adm_args)
    assert p.returncode == 0 and p.stdout == plain.stdout, (p.stderr, p.stdout[:300])
    p = run_cli("config", "export", "--format", "json", *adm_args)
    assert p.returncode == 0 and p.stdout == run_cli("config", "export", "--format", "json",
                                                     *ep).stdout, p.stderr
    p = run_cli("config", "export", "--with-secrets", "--data-dir", node.data_dir, *adm_args)
    assert p.returncode == 0 and p.stdout == full.stdout, p.stderr
    st, h, o = http("GET", "127.0.0.1", node.ports["admin"], "/apisix/admin/configs",
                    headers={"X-API-KEY": KEY})
    o = json.loads(o)
    assert st == 200 and list(o) == ["upstreams", "consumers", "ssls"], list(o)
    assert int(h["x-apigw-revision"]) == revision()
    for text in (plain.stdout, full.stdout):
        st, _, b = put_configs(text)
        assert st == 200 and b["changes"] == [], (st, b)
    # the same keyring as a file works; another cluster's cannot open them
    p = run_cli("config", "export", "--with-secrets", "--keyring",
                os.path.join(node.data_dir, "keyring"), *ep)
    assert p.returncode == 0 and p.stdout == full.stdout, p.stderr
    other = os.path.join(tempdir("apigw-kr-"), "keyring")
    with open(other, "w") as f:
        f.write("0badc0de " + os.urandom(32).hex() + "\n")
    p = run_cli("config", "export", "--with-secrets", "--keyring", other, *ep)
    assert p.returncode == 1 and p.stdout == "" and "cannot open" in p.stderr, p.stderr


def test_audit_record():
    st, _, b = http("GET", "127.0.0.1", node.ports["admin"], "/apisix/admin/audit?since=1",
                    headers={"X-API-KEY": KEY})
    recs = [e for e in json.loads(b)["list"] if e["op"] == "apply"]
    assert recs and recs[0]["created"] == 3 and recs[0]["prune"] is True, recs[:1]


def main():
    global node
    tap = Tap()
    node = Node("c1", extra_args=["--admin-key", KEY]).start()
    try:
        for fn in (test_dry_run_apply_idempotent, test_prune_and_keep,
                   test_refused_writes_nothing, test_large_apply_is_one_transaction,
                   test_cli_apply_through_admin_api, test_secrets_sealed_and_credentials_kept,
                   test_export_with_secrets, test_audit_record):
            tap.run(fn)
    finally:
        node.stop()
    tap.done()


if __name__ == "__main__":
    main()
