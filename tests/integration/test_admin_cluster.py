"""APISIX Admin API on a three-node cluster of real apigw processes: a write
on any node (follower included) is committed and seen by every node;
concurrent PATCHes sent to different nodes all survive; without quorum a
write fails with 503 and a clear cause within the write deadline while GETs
keep answering (they are serializable local reads, the product's promise).
"""
import json
import os
import threading
import time

from harness import Node, Tap, create_token, http, wait_for, write_token_file

KEY = "cluster-admin-key-0123456789"
UP = {"type": "roundrobin", "nodes": {"127.0.0.1:1980": 1}}
nodes = []


def adm(n, method, path, body=None, timeout=10):
    h = {"X-API-KEY": KEY}
    data = None
    if body is not None:
        data = json.dumps(body)
        h["Content-Type"] = "application/json"
    st, _, b = http(method, "127.0.0.1", n.ports["admin"], "/apisix/admin" + path, body=data,
                    headers=h, timeout=timeout)
    try:
        return st, json.loads(b) if b else None
    except ValueError:
        return st, b.decode(errors="replace")


def start_cluster():
    common = ["--admin-key", KEY, "--write-timeout", "1s"]
    n1 = Node("c1", extra_args=common).start()
    token_file = write_token_file(create_token(n1))
    nodes.append(n1)
    for name in ("c2", "c3"):
        n = Node(name, cmd="join",
                 extra_args=common + ["--peer", n1.addr("etcd"), "--token-file", token_file])
        nodes.append(n.start())
    # every node takes writes and sees them
    for i, n in enumerate(nodes):
        wait_for(lambda: adm(n, "PUT", "/upstreams/boot%d" % i, UP)[0] in (200, 201),
                 timeout=30, what="a write through %s" % n.name)


def visible_everywhere(path, pred=lambda v: True, timeout=5):
    for n in nodes:
        wait_for(lambda: (lambda r: r[0] == 200 and pred(r[1]["value"]))(adm(n, "GET", path)),
                 timeout=timeout, what="%s on %s" % (path, n.name))


def test_write_on_every_node_visible_on_all():
    for i, n in enumerate(nodes):
        st, b = adm(n, "PUT", "/routes/w%d" % i, {"uri": "/w%d" % i, "upstream": UP})
        assert st == 201, (n.name, st, b)
        visible_everywhere("/routes/w%d" % i)
    # a delete through one node is seen by the others
    st, b = adm(nodes[2], "DELETE", "/routes/w0")
    assert st == 200, (st, b)
    for n in nodes:
        wait_for(lambda: adm(n, "GET", "/routes/w0")[0] == 404, timeout=5,
                 what="delete seen on %s" % n.name)


def test_reference_checks_across_nodes():
    st, b = adm(nodes[0], "PUT", "/upstreams/x", UP)
    assert st == 201, (st, b)
    st, b = adm(nodes[1], "PUT", "/routes/x", {"uri": "/x", "upstream_id": "x"})
    assert st == 201, (st, b)
    visible_everywhere("/routes/x")
    st, b = adm(nodes[2], "DELETE", "/upstreams/x")
    assert st == 400 and "route [x] is still using it now" in b["error_msg"], (st, b)


def test_patch_races_across_nodes():
    st, b = adm(nodes[0], "PUT", "/routes/race", {"uri": "/race", "upstream": UP})
    assert st == 201, (st, b)
    visible_everywhere("/routes/race")
    errors = []

    def patch(i):
        st, b = adm(nodes[i % 3], "PATCH", "/routes/race", {"labels": {"k%d" % i: "v"}})
        if st != 200:
            errors.append((i, st, b))

    threads = [threading.Thread(target=patch, args=(i,)) for i in range(15)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    want = {"k%d" % i: "v" for i in range(15)}
    visible_everywhere("/routes/race", lambda v: v.get("labels") == want)


def test_no_quorum_503_and_reads_answer():
    st, b = adm(nodes[0], "PUT", "/routes/q", {"uri": "/q", "upstream": UP})
    assert st == 201, (st, b)
    visible_everywhere("/routes/q")
    nodes[1].kill()
    nodes[2].kill()
    t0 = time.time()
    st, b = adm(nodes[0], "PUT", "/routes/q2", {"uri": "/q2", "upstream": UP}, timeout=15)
    took = time.time() - t0
    assert st == 503, (st, b)
    assert b["error_msg"].startswith("etcdserver: "), b  # names the cause, etcd's words
    assert took < 6, "bounded by the write deadline (1s) plus an election, took %.1fs" % took
    st, b = adm(nodes[0], "PATCH", "/routes/q", {"desc": "x"}, timeout=15)
    assert st == 503, (st, b)
    st, b = adm(nodes[0], "GET", "/routes/q")
    assert st == 200 and "desc" not in b["value"], (st, b)
    st, b = adm(nodes[0], "GET", "/routes")
    assert st == 200 and b["total"] >= 1, (st, b)
    assert adm(nodes[0], "GET", "/routes/q2")[0] == 404, "the failed write left nothing"
    # quorum back: writes work again
    nodes[1].start()
    wait_for(lambda: adm(nodes[0], "PUT", "/routes/q3", {"uri": "/q3", "upstream": UP})[0]
             == 201, timeout=30, what="writes after quorum returns")


def test_joiner_adopts_the_cluster_key():
    """Without --admin-key the first node generates the key and the cluster
    shares it: a joining node adopts it (saved with mode 0600)."""
    k1 = Node("k1").start()
    try:
        path1 = os.path.join(k1.data_dir, "admin.key")
        key = open(path1).read().strip()
        token_file = write_token_file(create_token(k1))
        k2 = Node("k2", cmd="join",
                  extra_args=["--peer", k1.addr("etcd"), "--token-file", token_file]).start()
        try:
            def get(n, k):
                return http("GET", "127.0.0.1", n.ports["admin"], "/apisix/admin/routes",
                            headers={"X-API-KEY": k})[0]
            wait_for(lambda: get(k2, key) == 200, timeout=20, what="k2 to adopt k1's key")
            assert get(k2, "other") == 401
            path2 = os.path.join(k2.data_dir, "admin.key")
            assert open(path2).read().strip() == key
            assert os.stat(path2).st_mode & 0o777 == 0o600
            k2.stop()
            k2.start()  # restarts keep it
            wait_for(lambda: get(k2, key) == 200, timeout=20, what="k2 after restart")
        finally:
            k2.kill()
    finally:
        k1.kill()


def main():
    tap = Tap()
    try:
        start_cluster()
    except Exception as e:  # noqa: BLE001 - the cases report it
        err = e

        def cluster_start(e=err):
            raise e
        tap.run(cluster_start)
        tap.done()
    for fn in (test_write_on_every_node_visible_on_all, test_reference_checks_across_nodes,
               test_patch_races_across_nodes, test_no_quorum_503_and_reads_answer,
               test_joiner_adopts_the_cluster_key):
        tap.run(fn)
    tap.done()


if __name__ == "__main__":
    main()
