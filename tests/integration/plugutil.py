"""Helpers of the plugin tests that drive one node's Admin API and proxy
(test_plugins_auth.py): an Admin API client, routes written and waited
for until every worker serves them, and plain requests."""
import json

from harness import EchoUpstream, Node, admin_put_ok, admin_request, http, wait_for

KEY = "test-admin-key-0123456789"


class Plug:
    def __init__(self, name, workers=2, extra_args=()):
        self.up = EchoUpstream()
        self.node = Node(name, extra_args=["--admin-key", KEY, "--drain-timeout", "2s"] +
                         list(extra_args), workers=workers).start()
        self.syncs = 0

    def stop(self):
        rc = self.node.stop()
        self.up.stop()
        return rc

    def adm(self, method, path, body=None):
        return admin_request(self.node, KEY, method, path, body)

    def put_ok(self, path, body):
        admin_put_ok(self.node, KEY, path, body)

    def req(self, method, path, headers=None, body=None, port=None):
        return http(method, "127.0.0.1", port or self.node.ports["proxy"], path, body=body,
                    headers=headers)

    def get(self, path, headers=None):
        return self.req("GET", path, headers)

    def upstream(self):
        return {"type": "roundrobin", "nodes": {self.up.addr: 1}}

    def sync(self):
        """Wait until both workers serve everything written so far: a route
        written last is served 10 times in a row."""
        self.syncs += 1
        p = "/sync%d" % self.syncs
        self.put_ok("/routes/sync%d" % self.syncs, {"uri": p, "upstream": self.upstream()})
        wait_for(lambda: all(self.get(p)[0] == 200 for _ in range(10)), 10,
                 what="config applied")
        self.adm("DELETE", "/routes/sync%d" % self.syncs)

    def route(self, rid, uri, plugins, **extra):
        r = {"uri": uri, "upstream": self.upstream(), "plugins": plugins}
        r.update(extra)
        self.put_ok("/routes/" + rid, r)
        self.sync()

    def echo(self, path, headers=None):
        st, hd, b = self.get(path, headers)
        assert st == 200, (path, st, b)
        return json.loads(b), hd
