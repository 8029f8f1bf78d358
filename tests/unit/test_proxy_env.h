/* test_proxy_env.h: fixtures shared by the proxy's end-to-end unit tests
 * (test_proxy.c, test_proxy_live.c): config sets compiled from /apisix/
 * key-value pairs, and an environment of a real gw_proxy (2 workers on
 * 127.0.0.1) in front of two real upstreams (test_proxy_util.h), set up and
 * torn down per test case by cmocka. The helpers fail the current test
 * through cmocka's asserts. */
#ifndef TEST_PROXY_ENV_H
#define TEST_PROXY_ENV_H

#include "proxy/proxy.h"
#include "tests/unit/test_proxy_util.h"

#include <stdbool.h>
#include <stddef.h>

/* /apisix/ pairs for gw_proxy_config_compile; kv_free frees the strings. */
#define MAX_KV 64
struct kvset {
	struct gw_proxy_kv kv[MAX_KV];
	char *mem[MAX_KV * 2];
	size_t n;
};
void kv_add(struct kvset *s, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void kv_free(struct kvset *s);
/* Compile @s (revision 7); the caller owns the snapshot. */
struct gw_proxy_config *compile(struct kvset *s);

/* A proxy in front of an echo upstream (up) and a 503 one (up2). */
struct env {
	struct tup *up;
	struct tup *up2;
	struct gw_proxy *p;
	int port;
};
/* The routes every test case sees (echo, node, rewrite, dead, retry, pri,
 * prw, prw2, rrw, pc, ws...), plus @extra_route when not NULL. */
struct gw_proxy_config *config_for(int port, int port2, const char *extra_route);
/* cmocka fixtures: *state becomes a struct env. _big: no practical body
 * limit; _short: 300 ms client timeouts. */
int env_setup_opts(void **state, const struct gw_proxy_opts *base);
int env_setup(void **state);
int env_setup_big(void **state);
int env_setup_short(void **state);
int env_teardown(void **state);
/* Send @req on a new connection and read one response. */
int roundtrip(struct env *e, const char *req, struct tresp *r);
bool body_has(const struct tresp *r, const char *s);
/* The request must get @status, the connection must then close and the
 * upstream must not have seen it. */
void expect_reject(struct env *e, const char *req, int status);

#endif
