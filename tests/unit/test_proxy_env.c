/* test_proxy_env.c: fixtures of the proxy's end-to-end unit tests (see
 * test_proxy_env.h). */
#include "config.h"

#include "lib/addr.h"
#include "lib/err.h"
#include "proxy/conn_int.h"
#include "tests/unit/test_proxy_env.h"

#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

void kv_add(struct kvset *s, const char *key, const char *fmt, ...)
{
	va_list ap;
	char *v = NULL;
	assert_true(s->n < MAX_KV);
	va_start(ap, fmt);
	assert_true(vasprintf(&v, fmt, ap) >= 0);
	va_end(ap);
	s->mem[2 * s->n] = strdup(key);
	s->mem[2 * s->n + 1] = v;
	s->kv[s->n].key = s->mem[2 * s->n];
	s->kv[s->n].key_len = strlen(key);
	s->kv[s->n].value = v;
	s->kv[s->n].value_len = strlen(v);
	s->n++;
}

void kv_free(struct kvset *s)
{
	for (size_t i = 0; i < s->n * 2; i++) {
		free(s->mem[i]);
	}
	s->n = 0;
}

struct gw_proxy_config *compile(struct kvset *s)
{
	struct gw_proxy_config *cfg = NULL;
	assert_int_equal(gw_proxy_config_compile(s->kv, s->n, 7, &cfg), 0);
	assert_non_null(cfg);
	return cfg;
}

struct gw_proxy_config *config_for(int port, int port2, const char *extra_route)
{
	struct kvset s = {0};
	struct gw_proxy_config *cfg;
	kv_add(&s, "/apisix/upstreams/echo",
	       "{\"nodes\":{\"127.0.0.1:%d\":1},\"timeout\":{\"read\":0.5}}", port);
	kv_add(&s, "/apisix/routes/echo", "{\"uri\":\"/*\",\"upstream_id\":\"echo\"}");
	kv_add(&s, "/apisix/routes/node",
	       "{\"uri\":\"/node/*\",\"upstream\":{\"pass_host\":\"node\",\"nodes\":{"
	       "\"127.0.0.1:%d\":1}}}",
	       port);
	kv_add(&s, "/apisix/routes/rewrite",
	       "{\"uri\":\"/rewrite/*\",\"upstream\":{\"pass_host\":\"rewrite\","
	       "\"upstream_host\":\"rewritten.example\",\"nodes\":{\"127.0.0.1:%d\":1}}}",
	       port);
	kv_add(&s, "/apisix/routes/dead",
	       "{\"uri\":\"/dead/*\",\"upstream\":{\"nodes\":{\"127.0.0.1:1\":1,"
	       "\"127.0.0.1:2\":1}}}");
	if (port2 > 0) {
		kv_add(&s, "/apisix/routes/retry",
		       "{\"uri\":\"/retry/*\",\"upstream\":{\"nodes\":{\"127.0.0.1:%d\":1,"
		       "\"127.0.0.1:%d\":1}}}",
		       port, port2);
		kv_add(
		    &s, "/apisix/routes/pri",
		    "{\"uri\":\"/pri/*\",\"upstream\":{\"nodes\":[{\"host\":\"127.0.0.1\","
		    "\"port\":1,\"weight\":1,\"priority\":1},{\"host\":\"127.0.0.1\",\"port\":%d,"
		    "\"weight\":1}]}}",
		    port);
	}
	kv_add(&s, "/apisix/services/svc",
	       "{\"plugins\":{\"response-rewrite\":{\"headers\":{\"X-Svc\":\"1\"}},"
	       "\"proxy-rewrite\":{\"uri\":\"/from-service\"}}}");
	kv_add(&s, "/apisix/routes/prw",
	       "{\"uri\":\"/prw/*\",\"service_id\":\"svc\",\"upstream_id\":\"echo\","
	       "\"plugins\":{\"proxy-rewrite\":{\"regex_uri\":[\"^/prw/([a-z]+)/(.*)\","
	       "\"/new/$2/$1\"],\"method\":\"PUT\",\"host\":\"rw.example\",\"headers\":{"
	       "\"set\":{\"X-Set\":\"ip-$remote_addr\"},\"add\":{\"X-Add\":\"1\"},"
	       "\"remove\":[\"X-Del\"]}}}}");
	kv_add(&s, "/apisix/routes/prw2",
	       "{\"uri\":\"/prw2\",\"upstream_id\":\"echo\",\"plugins\":{\"proxy-rewrite\":{"
	       "\"uri\":\"/fixed/$arg_who?x=1\"}}}");
	kv_add(&s, "/apisix/routes/rrw",
	       "{\"uri\":\"/rrw/*\",\"upstream_id\":\"echo\",\"plugins\":{"
	       "\"response-rewrite\":{\"status_code\":201,\"body\":\"replaced\\n\","
	       "\"vars\":[[\"arg_skip\",\"~=\",\"1\"]],"
	       "\"headers\":{\"set\":{\"X-R\":\"yes\"},\"remove\":[\"X-Upstream-Port\"]}}}}");
	kv_add(&s, "/apisix/plugin_configs/pc1",
	       "{\"plugins\":{\"response-rewrite\":{\"headers\":{\"X-PC\":\"1\"}},"
	       "\"proxy-rewrite\":{\"headers\":{\"X-PC-Req\":\"1\"}}}}");
	kv_add(&s, "/apisix/global_rules/g1",
	       "{\"plugins\":{\"response-rewrite\":{\"headers\":{\"X-Global\":\"1\"}}}}");
	kv_add(&s, "/apisix/routes/pc",
	       "{\"uri\":\"/pc/*\",\"upstream_id\":\"echo\",\"plugin_config_id\":\"pc1\","
	       "\"plugins\":{\"response-rewrite\":{\"headers\":{\"X-Route\":\"1\"}}}}");
	kv_add(&s, "/apisix/routes/ws",
	       "{\"uri\":\"/ws\",\"enable_websocket\":true,\"upstream_id\":\"echo\"}");
	if (extra_route != NULL) {
		kv_add(&s, "/apisix/routes/zz", "%s", extra_route);
	}
	cfg = compile(&s);
	kv_free(&s);
	return cfg;
}

int env_setup_opts(void **state, const struct gw_proxy_opts *base)
{
	struct env *e = calloc(1, sizeof *e);
	struct gw_addr addr;
	const char *why;
	struct gw_proxy_opts o = *base;

	e->up = tup_start(0);
	e->up2 = tup_start(503);
	assert_non_null(e->up);
	assert_non_null(e->up2);
	assert_int_equal(gw_addr_parse("127.0.0.1:1", &addr, &why), 0);
	((struct sockaddr_in *)&addr.ss)->sin_port = 0;
	o.listen = &addr;
	o.n_listen = 1;
	o.workers = 2;
	if (o.max_body_bytes == 0) {
		o.max_body_bytes = 1 << 20;
	}
	o.config = config_for(tup_port(e->up), tup_port(e->up2), NULL);
	assert_int_equal(gw_proxy_start(&o, &e->p), 0);
	for (int i = 0; i < 200 && !gw_proxy_ready(e->p); i++) {
		usleep(5000);
	}
	assert_true(gw_proxy_ready(e->p));
	e->port = gw_proxy_port(e->p, 0);
	assert_true(e->port > 0);
	*state = e;
	return 0;
}

int env_setup(void **state)
{
	struct gw_proxy_opts o = {0};
	return env_setup_opts(state, &o);
}

/* No practical body limit, for the streaming tests. */
int env_setup_big(void **state)
{
	struct gw_proxy_opts o = {.max_body_bytes = 1ull << 40};
	return env_setup_opts(state, &o);
}

/* Short client timeouts, for the slow-client tests. */
int env_setup_short(void **state)
{
	struct gw_proxy_opts o = {
	    .header_timeout_ms = 300, .body_timeout_ms = 300, .idle_timeout_ms = 300};
	return env_setup_opts(state, &o);
}

int env_teardown(void **state)
{
	struct env *e = *state;
	if (e->p != NULL) {
		gw_proxy_stop(e->p);
	}
	assert_int_equal(atomic_load(&gw_proxy__unclean_loops), 0);
	tup_stop(e->up);
	tup_stop(e->up2);
	free(e);
	return 0;
}

/* Send @req on a new connection and read one response. */
int roundtrip(struct env *e, const char *req, struct tresp *r)
{
	struct tcli c;
	int rv;
	assert_int_equal(tcli_connect(&c, e->port), 0);
	assert_int_equal(tcli_sends(&c, req), 0);
	rv = tcli_read(&c, r, strncmp(req, "HEAD ", 5) == 0);
	tcli_close(&c);
	return rv;
}

bool body_has(const struct tresp *r, const char *s)
{
	return r->body != NULL && strstr(r->body, s) != NULL;
}

/* The request must get @status and the connection must then close. */
void expect_reject(struct env *e, const char *req, int status)
{
	struct tcli c;
	struct tresp r;
	int before = tup_requests(e->up);
	assert_int_equal(tcli_connect(&c, e->port), 0);
	assert_int_equal(tcli_sends(&c, req), 0);
	assert_int_equal(tcli_read(&c, &r, false), 0);
	if (r.status != status) {
		print_error("request %s: got %d\n", req, r.status);
	}
	assert_int_equal(r.status, status);
	tresp_free(&r);
	assert_true(tcli_closed(&c));
	tcli_close(&c);
	assert_int_equal(tup_requests(e->up), before); /* nothing reached the upstream */
}
