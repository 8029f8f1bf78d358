/* test_proxy.c: unit tests of proxy/: config compile, router, balancers
 * (pure), then the data plane end to end: a real gw_proxy with worker
 * threads on 127.0.0.1, a real threaded upstream (test_proxy_util.c) and a
 * blocking client on real sockets. */
#include "config.h"

#include "lib/err.h"
#include "lib/log.h"
#include "proxy/proxy.h"
#include "proxy/conn_int.h"
#include "proxy/proxy_int.h"
#include "tests/unit/test_proxy_util.h"

#include <arpa/inet.h>
#include <http_parser.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

/* ---- helpers */

#define MAX_KV 64
struct kvset {
	struct gw_proxy_kv kv[MAX_KV];
	char *mem[MAX_KV * 2];
	size_t n;
};

static void kv_add(struct kvset *s, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void kv_add(struct kvset *s, const char *key, const char *fmt, ...)
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

static void kv_free(struct kvset *s)
{
	for (size_t i = 0; i < s->n * 2; i++) {
		free(s->mem[i]);
	}
	s->n = 0;
}

static struct gw_proxy_config *compile(struct kvset *s)
{
	struct gw_proxy_config *cfg = NULL;
	assert_int_equal(gw_proxy_config_compile(s->kv, s->n, 7, &cfg), 0);
	assert_non_null(cfg);
	return cfg;
}

struct mreq {
	const char *method, *path, *query, *host, *ip;
	struct gw_proxy__hdr hdrs[8];
	size_t n_hdrs;
	struct sockaddr_storage ss;
};

static void mreq_header(struct mreq *q, const char *name, const char *value)
{
	q->hdrs[q->n_hdrs].name = name;
	q->hdrs[q->n_hdrs].name_len = strlen(name);
	q->hdrs[q->n_hdrs].value = value;
	q->hdrs[q->n_hdrs].value_len = strlen(value);
	q->n_hdrs++;
}

/* Id of the route matching @q, or "-" for none. */
static const char *match(const struct gw_proxy_config *cfg, struct mreq *q)
{
	struct gw_proxy__match_ctx m;
	const struct gw_proxy__route *r;
	const char *ip = q->ip ? q->ip : "127.0.0.1";
	int mth;

	memset(&m, 0, sizeof m);
	memset(&q->ss, 0, sizeof q->ss);
	if (strchr(ip, ':') != NULL) {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&q->ss;
		a6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, ip, &a6->sin6_addr), 1);
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)&q->ss;
		a4->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, ip, &a4->sin_addr), 1);
	}
	for (mth = 0; mth < 34; mth++) {
		if (strcmp(http_method_str((enum http_method)mth), q->method ? q->method : "GET") ==
		    0) {
			break;
		}
	}
	m.method = mth;
	m.path = q->path;
	m.path_len = strlen(q->path);
	m.query = q->query ? q->query : "";
	m.query_len = strlen(m.query);
	m.host = q->host ? q->host : "";
	m.host_len = strlen(m.host);
	m.peer = (struct sockaddr *)&q->ss;
	m.remote_addr = ip;
	m.hdrs = q->hdrs;
	m.n_hdrs = q->n_hdrs;
	m.scheme = "http";
	r = gw_proxy__router_match(cfg, &m);
	return r ? r->id : "-";
}

static const char *match_path(const struct gw_proxy_config *cfg, const char *host, const char *path)
{
	struct mreq q = {.path = path, .host = host};
	return match(cfg, &q);
}

#define UP "\"upstream\":{\"nodes\":{\"127.0.0.1:1980\":1}}"

/* ---- config compile */

static void test_compile_skips_bad_objects(void **state)
{
	struct kvset s = {0};
	struct gw_proxy_config *cfg;
	(void)state;
	kv_add(&s, "/apisix/routes", "init_dir");
	kv_add(&s, "/apisix/upstreams/u1", "{\"nodes\":{\"127.0.0.1:1980\":1}}");
	kv_add(&s, "/apisix/upstreams/bad", "{\"nodes\":{\"example.com:80\":1}}");
	kv_add(&s, "/apisix/services/s1", "{\"upstream_id\":\"u1\",\"hosts\":[\"svc.com\"]}");
	kv_add(&s, "/apisix/routes/1", "{\"uri\":\"/a\",%s}", UP);
	kv_add(&s, "/apisix/routes/2", "{\"uri\":\"/b\",\"upstream_id\":\"u1\"}");
	kv_add(&s, "/apisix/routes/3", "{\"uri\":\"/c\",\"service_id\":\"s1\"}");
	kv_add(&s, "/apisix/routes/4", "{not json");
	kv_add(&s, "/apisix/routes/5", "{\"uri\":\"/e\",\"upstream_id\":\"missing\"}");
	kv_add(&s, "/apisix/routes/6", "{\"uri\":\"/f\",\"upstream_id\":\"bad\"}");
	kv_add(&s, "/apisix/routes/7", "{\"uri\":\"/g\",\"status\":0,%s}", UP);
	kv_add(&s, "/apisix/routes/8", "{\"uri\":\"/h\",\"service_id\":\"nope\"}");
	kv_add(&s, "/apisix/routes/9", "{\"uri\":\"/i\",\"methods\":[\"FETCH\"],%s}", UP);
	kv_add(&s, "/apisix/routes/10", "{\"uri\":\"/j\",\"vars\":[[\"arg_x\",\"~~\",\"(\"]],%s}",
	       UP);
	kv_add(&s, "/apisix/routes/15", "{\"uri\":\"/o\",\"filter_func\":\"function() end\",%s}",
	       UP);
	kv_add(&s, "/apisix/routes/14", "{\"uri\":\"/n\",\"plugin_config_id\":\"none\",%s}", UP);
	kv_add(&s, "/apisix/routes/11", "{\"uri\":\"/k\",\"plugins\":{\"no-such\":{}},%s}", UP);
	kv_add(&s, "/apisix/routes/12",
	       "{\"uri\":\"/l\",\"plugins\":{\"proxy-rewrite\":{\"uri\":\"rel\"}},%s}", UP);
	kv_add(&s, "/apisix/routes/13",
	       "{\"uri\":\"/m\",\"plugins\":{\"response-rewrite\":{\"status_code\":99}},%s}", UP);
	cfg = compile(&s);
	assert_int_equal(gw_proxy_config_revision(cfg), 7);
	assert_int_equal(gw_proxy_config_routes(cfg), 3);
	assert_string_equal(match_path(cfg, NULL, "/a"), "1");
	assert_string_equal(match_path(cfg, NULL, "/b"), "2");
	/* route 3 inherits the service's hosts */
	assert_string_equal(match_path(cfg, NULL, "/c"), "-");
	assert_string_equal(match_path(cfg, "svc.com", "/c"), "3");
	assert_string_equal(match_path(cfg, NULL, "/e"), "-");
	assert_string_equal(match_path(cfg, NULL, "/g"), "-");
	gw_proxy_config_unref(cfg);
	kv_free(&s);
}

static void test_compile_upstream_forms(void **state)
{
	struct kvset s = {0};
	struct gw_proxy_config *cfg;
	const struct gw_proxy__upstream *up;
	(void)state;
	kv_add(&s, "/apisix/upstreams/1",
	       "{\"type\":\"chash\",\"hash_on\":\"header\",\"key\":\"x-user\",\"retries\":2,"
	       "\"timeout\":{\"connect\":0.5,\"send\":2,\"read\":3},\"pass_host\":\"rewrite\","
	       "\"upstream_host\":\"up.example\",\"keepalive_pool\":{\"size\":4,"
	       "\"idle_timeout\":1.5,\"requests\":9},"
	       "\"nodes\":[{\"host\":\"127.0.0.1\",\"port\":1,\"weight\":1},"
	       "{\"host\":\"::1\",\"port\":2,\"weight\":2,\"priority\":5},"
	       "{\"host\":\"127.0.0.3\",\"port\":3,\"weight\":0}]}");
	kv_add(&s, "/apisix/upstreams/2", "{\"type\":\"rr\",\"nodes\":{}}");
	kv_add(&s, "/apisix/upstreams/3", "{\"pass_host\":\"rewrite\",\"nodes\":{}}");
	cfg = compile(&s);
	assert_int_equal(cfg->n_ups, 1);
	up = cfg->ups[0];
	assert_string_equal(up->id, "1");
	assert_int_equal(up->type, GW_PROXY__LB_CHASH);
	assert_int_equal(up->hash_on, GW_PROXY__HASH_HEADER);
	assert_string_equal(up->key, "x-user");
	assert_int_equal(up->retries, 2);
	assert_int_equal(up->timeout.connect_ms, 500);
	assert_int_equal(up->timeout.read_ms, 3000);
	assert_int_equal(up->pass_host, GW_PROXY__PASS_REWRITE);
	assert_string_equal(up->upstream_host, "up.example");
	assert_int_equal(up->pool_size, 4);
	assert_int_equal(up->pool_idle_ms, 1500);
	assert_int_equal(up->pool_requests, 9);
	/* weight 0 dropped; priority 5 first */
	assert_int_equal(up->n_nodes, 2);
	assert_string_equal(up->nodes[0].text, "[::1]:2");
	assert_string_equal(up->nodes[0].host, "[::1]:2");
	assert_int_equal(up->nodes[0].priority, 5);
	assert_string_equal(up->nodes[1].text, "127.0.0.1:1");
	assert_int_equal(up->ring_len, 3 * 160);
	gw_proxy_config_unref(cfg);
	kv_free(&s);
}

/* ---- router */

static void test_router_hosts(void **state)
{
	struct kvset s = {0};
	struct gw_proxy_config *cfg;
	(void)state;
	kv_add(&s, "/apisix/routes/any", "{\"uri\":\"/x\",%s}", UP);
	kv_add(&s, "/apisix/routes/exact", "{\"uri\":\"/x\",\"host\":\"A.foo.com\",%s}", UP);
	kv_add(&s, "/apisix/routes/wild", "{\"uri\":\"/x\",\"host\":\"*.foo.com\",%s}", UP);
	kv_add(&s, "/apisix/routes/wild2", "{\"uri\":\"/x\",\"hosts\":[\"*.b.foo.com\"],%s}", UP);
	kv_add(&s, "/apisix/routes/star", "{\"uri\":\"/y\",\"host\":\"*\",%s}", UP);
	kv_add(&s, "/apisix/routes/onlyhost", "{\"uri\":\"/z\",\"host\":\"z.com\",%s}", UP);
	cfg = compile(&s);
	assert_string_equal(match_path(cfg, "a.foo.com", "/x"), "exact");
	assert_string_equal(match_path(cfg, "c.foo.com", "/x"), "wild");
	assert_string_equal(match_path(cfg, "c.b.foo.com", "/x"), "wild2");
	assert_string_equal(match_path(cfg, "foo.com", "/x"), "any");
	assert_string_equal(match_path(cfg, "other.org", "/x"), "any");
	assert_string_equal(match_path(cfg, NULL, "/x"), "any");
	assert_string_equal(match_path(cfg, "q.org", "/y"), "star");
	assert_string_equal(match_path(cfg, "z.com", "/z"), "onlyhost");
	assert_string_equal(match_path(cfg, "y.com", "/z"), "-");
	/* a host route whose uri does not match falls back to host-less ones */
	assert_string_equal(match_path(cfg, "z.com", "/x"), "any");
	gw_proxy_config_unref(cfg);
	kv_free(&s);
}

static void test_router_uris_and_priority(void **state)
{
	struct kvset s = {0};
	struct gw_proxy_config *cfg;
	(void)state;
	kv_add(&s, "/apisix/routes/p1", "{\"uri\":\"/api/*\",%s}", UP);
	kv_add(&s, "/apisix/routes/p2", "{\"uri\":\"/api/v1/*\",%s}", UP);
	kv_add(&s, "/apisix/routes/e1", "{\"uri\":\"/api/v1/exact\",%s}", UP);
	kv_add(&s, "/apisix/routes/lo", "{\"uri\":\"/prio\",\"priority\":1,%s}", UP);
	kv_add(&s, "/apisix/routes/hi", "{\"uri\":\"/prio\",\"priority\":10,%s}", UP);
	kv_add(&s, "/apisix/routes/first", "{\"uri\":\"/same\",%s}", UP);
	kv_add(&s, "/apisix/routes/second", "{\"uri\":\"/same\",%s}", UP);
	kv_add(&s, "/apisix/routes/multi", "{\"uris\":[\"/m1\",\"/m2/*\"],%s}", UP);
	kv_add(&s, "/apisix/routes/root", "{\"uri\":\"/*\",\"priority\":-5,%s}", UP);
	cfg = compile(&s);
	assert_string_equal(match_path(cfg, NULL, "/api/v1/exact"), "e1");
	assert_string_equal(match_path(cfg, NULL, "/api/v1/other"), "p2");
	assert_string_equal(match_path(cfg, NULL, "/api/v1/"), "p2");
	assert_string_equal(match_path(cfg, NULL, "/api/v2"), "p1");
	assert_string_equal(match_path(cfg, NULL, "/api"), "root");
	assert_string_equal(match_path(cfg, NULL, "/prio"), "hi");
	assert_string_equal(match_path(cfg, NULL, "/same"), "first");
	assert_string_equal(match_path(cfg, NULL, "/m1"), "multi");
	assert_string_equal(match_path(cfg, NULL, "/m2/q"), "multi");
	assert_string_equal(match_path(cfg, NULL, "/m1/q"), "root");
	gw_proxy_config_unref(cfg);
	kv_free(&s);
}

static void test_router_conditions(void **state)
{
	struct kvset s = {0};
	struct gw_proxy_config *cfg;
	struct mreq q;
	(void)state;
	kv_add(&s, "/apisix/routes/get", "{\"uri\":\"/m\",\"methods\":[\"GET\",\"HEAD\"],%s}", UP);
	kv_add(&s, "/apisix/routes/post", "{\"uri\":\"/m\",\"methods\":[\"POST\"],%s}", UP);
	kv_add(&s, "/apisix/routes/v4", "{\"uri\":\"/ip\",\"remote_addrs\":[\"10.0.0.0/8\"],%s}",
	       UP);
	kv_add(&s, "/apisix/routes/v6", "{\"uri\":\"/ip\",\"remote_addr\":\"fe80::/10\",%s}", UP);
	kv_add(&s, "/apisix/routes/eq",
	       "{\"uri\":\"/v\",\"vars\":[[\"arg_name\",\"==\",\"json\"],[\"http_x_a\",\"~=\","
	       "\"no\"]],%s}",
	       UP);
	kv_add(&s, "/apisix/routes/num",
	       "{\"uri\":\"/v\",\"vars\":[[\"arg_age\",\">\",18],[\"arg_age\",\"<=\",\"30\"]],%s}",
	       UP);
	kv_add(&s, "/apisix/routes/re",
	       "{\"uri\":\"/v\",\"vars\":[[\"http_user_agent\",\"~*\","
	       "\"^curl/\"]],%s}",
	       UP);
	kv_add(&s, "/apisix/routes/or",
	       "{\"uri\":\"/v\",\"vars\":[\"OR\",[\"cookie_k\",\"in\",[\"a\",\"b\"]],"
	       "[\"arg_k\",\"!\",\"~~\",\"^[a-z]+$\"]],%s}",
	       UP);
	kv_add(&s, "/apisix/routes/ipm",
	       "{\"uri\":\"/w\",\"vars\":[[\"remote_addr\",\"ipmatch\",[\"192.168.0.0/16\","
	       "\"::1\"]]],%s}",
	       UP);
	kv_add(&s, "/apisix/routes/notand",
	       "{\"uri\":\"/w\",\"vars\":[\"!AND\",[\"arg_a\",\"==\",\"1\"],[\"arg_b\",\"==\","
	       "\"1\"]],%s}",
	       UP);
	cfg = compile(&s);

	q = (struct mreq){.path = "/m", .method = "HEAD"};
	assert_string_equal(match(cfg, &q), "get");
	q = (struct mreq){.path = "/m", .method = "POST"};
	assert_string_equal(match(cfg, &q), "post");
	q = (struct mreq){.path = "/m", .method = "PUT"};
	assert_string_equal(match(cfg, &q), "-");

	q = (struct mreq){.path = "/ip", .ip = "10.1.2.3"};
	assert_string_equal(match(cfg, &q), "v4");
	q = (struct mreq){.path = "/ip", .ip = "fe80::1"};
	assert_string_equal(match(cfg, &q), "v6");
	q = (struct mreq){.path = "/ip", .ip = "11.0.0.1"};
	assert_string_equal(match(cfg, &q), "-");
	q = (struct mreq){.path = "/ip", .ip = "::ffff:10.9.9.9"};
	assert_string_equal(match(cfg, &q), "v4");

	q = (struct mreq){.path = "/v", .query = "name=json&x=1"};
	assert_string_equal(match(cfg, &q), "eq");
	q = (struct mreq){.path = "/v", .query = "name=json"};
	mreq_header(&q, "X-A", "no");
	assert_string_equal(match(cfg, &q), "or"); /* eq fails on ~=; arg_k absent -> !~~ true */
	q = (struct mreq){.path = "/v", .query = "age=20&k=abc"};
	assert_string_equal(match(cfg, &q), "num");
	q = (struct mreq){.path = "/v", .query = "age=31&k=abc"};
	mreq_header(&q, "User-Agent", "CURL/8.0");
	assert_string_equal(match(cfg, &q), "re");
	q = (struct mreq){.path = "/v", .query = "k=abc"};
	assert_string_equal(match(cfg, &q), "-");
	q = (struct mreq){.path = "/v", .query = "k=abc"};
	mreq_header(&q, "Cookie", "x=1; k=b");
	assert_string_equal(match(cfg, &q), "or");
	q = (struct mreq){.path = "/v", .query = "k=ABC"};
	assert_string_equal(match(cfg, &q), "or");

	q = (struct mreq){.path = "/w", .ip = "192.168.3.4", .query = "a=1&b=1"};
	assert_string_equal(match(cfg, &q), "ipm");
	q = (struct mreq){.path = "/w", .ip = "10.0.0.1", .query = "a=1&b=1"};
	assert_string_equal(match(cfg, &q), "-");
	q = (struct mreq){.path = "/w", .ip = "10.0.0.1", .query = "a=1&b=2"};
	assert_string_equal(match(cfg, &q), "notand");
	gw_proxy_config_unref(cfg);
	kv_free(&s);
}

static void test_router_many_routes(void **state)
{
	enum { N = 10000 };
	struct gw_proxy_kv *kvs = calloc(N, sizeof *kvs);
	char **mem = calloc(2 * N, sizeof *mem);
	struct gw_proxy_config *cfg = NULL;
	char path[64];
	(void)state;
	for (int i = 0; i < N; i++) {
		assert_true(asprintf(&mem[2 * i], "/apisix/routes/%d", i) > 0);
		assert_true(asprintf(&mem[2 * i + 1],
				     i % 2 ? "{\"uri\":\"/r/%d/*\",%s}" : "{\"uri\":\"/r/%d\",%s}",
				     i, UP) > 0);
		kvs[i] = (struct gw_proxy_kv){mem[2 * i], strlen(mem[2 * i]), mem[2 * i + 1],
					      strlen(mem[2 * i + 1])};
	}
	assert_int_equal(gw_proxy_config_compile(kvs, N, 1, &cfg), 0);
	assert_int_equal(gw_proxy_config_routes(cfg), N);
	for (int i = 0; i < N; i += 97) {
		snprintf(path, sizeof path, i % 2 ? "/r/%d/deep/er" : "/r/%d", i);
		char id[16];
		snprintf(id, sizeof id, "%d", i);
		assert_string_equal(match_path(cfg, NULL, path), id);
	}
	assert_string_equal(match_path(cfg, NULL, "/r/2/x"), "-");
	gw_proxy_config_unref(cfg);
	for (int i = 0; i < 2 * N; i++) {
		free(mem[i]);
	}
	free(mem);
	free(kvs);
}

/* ---- balancers */

static void test_balancer_roundrobin(void **state)
{
	struct kvset s = {0};
	struct gw_proxy_config *cfg;
	struct gw_proxy__wsnap *ws;
	struct gw_proxy__tried none = {0};
	int count[4] = {0}, prev = -1, repeats = 0;
	(void)state;
	kv_add(&s, "/apisix/upstreams/1",
	       "{\"nodes\":{\"127.0.0.1:1\":3,\"127.0.0.1:2\":2,\"127.0.0.1:3\":1,"
	       "\"127.0.0.1:4\":0}}");
	cfg = compile(&s);
	ws = gw_proxy__wsnap_new(cfg);
	assert_int_equal(cfg->ups[0]->n_nodes, 3);
	for (int i = 0; i < 12; i++) {
		int n = gw_proxy__balancer_pick(ws, cfg->ups[0], &none, NULL, 0);
		assert_true(n >= 0 && n < 3);
		count[n]++;
		repeats += n == prev;
		prev = n;
		gw_proxy__balancer_done(ws, cfg->ups[0], n, 1);
	}
	assert_int_equal(count[0], 6);
	assert_int_equal(count[1], 4);
	assert_int_equal(count[2], 2);
	assert_true(repeats <= 2); /* smooth: the heavy node is not picked in a burst */
	/* tried nodes are skipped */
	struct gw_proxy__tried t = {.bits = 1};
	for (int i = 0; i < 5; i++) {
		assert_int_not_equal(gw_proxy__balancer_pick(ws, cfg->ups[0], &t, NULL, 0), 0);
	}
	t.bits = 7;
	assert_int_equal(gw_proxy__balancer_pick(ws, cfg->ups[0], &t, NULL, 0), -1);
	gw_proxy__wsnap_unref(ws);
	gw_proxy_config_unref(cfg);
	kv_free(&s);
}

static void test_balancer_priority_least_conn(void **state)
{
	struct kvset s = {0};
	struct gw_proxy_config *cfg;
	struct gw_proxy__wsnap *ws;
	struct gw_proxy__tried t = {0};
	(void)state;
	kv_add(
	    &s, "/apisix/upstreams/1",
	    "{\"type\":\"least_conn\",\"nodes\":[{\"host\":\"127.0.0.1\",\"port\":1,\"weight\":1},"
	    "{\"host\":\"127.0.0.1\",\"port\":2,\"weight\":1},"
	    "{\"host\":\"127.0.0.1\",\"port\":3,\"weight\":1,\"priority\":-1}]}");
	cfg = compile(&s);
	ws = gw_proxy__wsnap_new(cfg);
	/* two in flight on different nodes of priority 0 */
	int a = gw_proxy__balancer_pick(ws, cfg->ups[0], &t, NULL, 0);
	int b = gw_proxy__balancer_pick(ws, cfg->ups[0], &t, NULL, 0);
	assert_true(a != b && a < 2 && b < 2);
	gw_proxy__balancer_done(ws, cfg->ups[0], a, 1);
	assert_int_equal(gw_proxy__balancer_pick(ws, cfg->ups[0], &t, NULL, 0), a);
	/* the backup (priority -1) only when both others were tried */
	t.bits = 3;
	assert_int_equal(gw_proxy__balancer_pick(ws, cfg->ups[0], &t, NULL, 0), 2);
	gw_proxy__wsnap_unref(ws);
	gw_proxy_config_unref(cfg);
	kv_free(&s);
}

static void test_balancer_chash(void **state)
{
	struct kvset s = {0};
	struct gw_proxy_config *cfg;
	struct gw_proxy__wsnap *w1, *w2;
	struct gw_proxy__tried t = {0};
	int moved = 0, count[4] = {0};
	char key[32];
	(void)state;
	kv_add(&s, "/apisix/upstreams/3",
	       "{\"type\":\"chash\",\"key\":\"remote_addr\",\"nodes\":{"
	       "\"127.0.0.1:1\":1,\"127.0.0.1:2\":1,\"127.0.0.1:3\":1}}");
	kv_add(&s, "/apisix/upstreams/4",
	       "{\"type\":\"chash\",\"key\":\"remote_addr\",\"nodes\":{"
	       "\"127.0.0.1:1\":1,\"127.0.0.1:2\":1,\"127.0.0.1:3\":1,\"127.0.0.1:4\":1}}");
	cfg = compile(&s);
	w1 = gw_proxy__wsnap_new(cfg);
	w2 = gw_proxy__wsnap_new(cfg);
	for (int i = 0; i < 1000; i++) {
		int n = snprintf(key, sizeof key, "10.0.%d.%d", i / 256, i % 256);
		int a = gw_proxy__balancer_pick(w1, cfg->ups[0], &t, key, (size_t)n);
		int b = gw_proxy__balancer_pick(w2, cfg->ups[0], &t, key, (size_t)n);
		int c = gw_proxy__balancer_pick(w1, cfg->ups[1], &t, key, (size_t)n);
		assert_int_equal(a, b); /* same key, same node, on any worker */
		count[a]++;
		/* node indexes of the first three nodes are the same in both */
		if (c != a) {
			moved++;
			assert_int_equal(c, 3); /* keys only move to the new node */
		}
	}
	for (int i = 0; i < 3; i++) {
		assert_true(count[i] > 200);
	}
	assert_true(moved > 100 && moved < 400); /* ~1/4 of the keys */
	gw_proxy__wsnap_unref(w1);
	gw_proxy__wsnap_unref(w2);
	gw_proxy_config_unref(cfg);
	kv_free(&s);
}

/* ---- end to end */

struct env {
	struct tup *up;
	struct tup *up2;
	struct gw_proxy *p;
	int port;
};

static struct gw_proxy_config *config_for(int port, int port2, const char *extra_route)
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

static int env_setup_opts(void **state, const struct gw_proxy_opts *base)
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

static int env_setup(void **state)
{
	struct gw_proxy_opts o = {0};
	return env_setup_opts(state, &o);
}

/* No practical body limit, for the streaming tests. */
static int env_setup_big(void **state)
{
	struct gw_proxy_opts o = {.max_body_bytes = 1ull << 40};
	return env_setup_opts(state, &o);
}

/* Short client timeouts, for the slow-client tests. */
static int env_setup_short(void **state)
{
	struct gw_proxy_opts o = {
	    .header_timeout_ms = 300, .body_timeout_ms = 300, .idle_timeout_ms = 300};
	return env_setup_opts(state, &o);
}

static int env_teardown(void **state)
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
static int roundtrip(struct env *e, const char *req, struct tresp *r)
{
	struct tcli c;
	int rv;
	assert_int_equal(tcli_connect(&c, e->port), 0);
	assert_int_equal(tcli_sends(&c, req), 0);
	rv = tcli_read(&c, r, strncmp(req, "HEAD ", 5) == 0);
	tcli_close(&c);
	return rv;
}

static bool body_has(const struct tresp *r, const char *s)
{
	return r->body != NULL && strstr(r->body, s) != NULL;
}

static void test_proxy_basic(void **state)
{
	struct env *e = *state;
	struct tresp r;
	char buf[128], want[64];

	assert_int_equal(roundtrip(e,
				   "GET /hello?a=1 HTTP/1.1\r\nHost: Example.com:8080\r\n"
				   "X-Forwarded-For: 1.2.3.4\r\nConnection: keep-alive, X-Drop\r\n"
				   "X-Drop: secret\r\nX-Keep: yes\r\nContent_Length: 9\r\n\r\n",
				   &r),
			 0);
	assert_int_equal(r.status, 200);
	snprintf(want, sizeof want, "port=%d\n", tup_port(e->up));
	assert_true(body_has(&r, want));
	assert_true(body_has(&r, "url=/hello?a=1\n"));
	assert_true(body_has(&r, "h:Host: Example.com:8080\n"));
	assert_true(body_has(&r, "h:X-Forwarded-For: 1.2.3.4, 127.0.0.1\n"));
	assert_true(body_has(&r, "h:X-Real-IP: 127.0.0.1\n"));
	assert_true(body_has(&r, "h:X-Forwarded-Proto: http\n"));
	assert_true(body_has(&r, "h:X-Forwarded-Host: example.com\n"));
	assert_true(body_has(&r, "h:X-Keep: yes\n"));
	assert_false(body_has(&r, "X-Drop"));
	assert_false(body_has(&r, "Content_Length")); /* underscores: dropped, as nginx does */
	assert_false(body_has(&r, "h:Connection"));
	assert_non_null(tresp_header(&r, "x-upstream-port", buf, sizeof buf));
	tresp_free(&r);

	/* pass_host node / rewrite */
	assert_int_equal(roundtrip(e, "GET /node/x HTTP/1.1\r\nHost: a.com\r\n\r\n", &r), 0);
	snprintf(want, sizeof want, "h:Host: 127.0.0.1:%d\n", tup_port(e->up));
	assert_true(body_has(&r, want));
	tresp_free(&r);
	assert_int_equal(roundtrip(e, "GET /rewrite/x HTTP/1.1\r\nHost: a.com\r\n\r\n", &r), 0);
	assert_true(body_has(&r, "h:Host: rewritten.example\n"));
	tresp_free(&r);

	/* absolute-form target: origin-form upstream, host from the URL */
	assert_int_equal(
	    roundtrip(e, "GET http://Abs.example:81/p/q?z=1 HTTP/1.1\r\nHost: x\r\n\r\n", &r), 0);
	assert_int_equal(r.status, 200);
	assert_true(body_has(&r, "url=/p/q?z=1\n"));
	assert_true(body_has(&r, "h:X-Forwarded-Host: abs.example\n"));
	tresp_free(&r);

	/* the path is normalized for routing and sent upstream normalized */
	assert_int_equal(
	    roundtrip(e, "GET /a//b/./c/../d%20e%2Fz?x=%2E HTTP/1.1\r\nHost: a\r\n\r\n", &r), 0);
	assert_int_equal(r.status, 200);
	assert_true(body_has(&r, "url=/a/b/d%20e/z?x=%2E\n"));
	tresp_free(&r);
	assert_int_equal(roundtrip(e, "GET /dead/../node/x HTTP/1.1\r\nHost: a\r\n\r\n", &r), 0);
	snprintf(want, sizeof want, "h:Host: 127.0.0.1:%d\n", tup_port(e->up));
	assert_true(body_has(&r, want)); /* routed as /node/x */
	tresp_free(&r);

	/* HEAD: headers only */
	assert_int_equal(roundtrip(e, "HEAD /h HTTP/1.1\r\nHost: a\r\n\r\n", &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body_len, 0);
	tresp_free(&r);
}

static void test_proxy_404_and_keepalive(void **state)
{
	struct env *e = *state;
	struct gw_proxy_config *cfg;
	struct kvset s = {0};
	struct tcli c;
	struct tresp r;
	(void)s;

	/* Only /only/ routed: everything else is 404 with APISIX's body. */
	cfg = config_for(tup_port(e->up), 0, NULL);
	gw_proxy_config_unref(cfg);
	kv_add(&s, "/apisix/routes/1",
	       "{\"uri\":\"/only\",\"upstream\":{\"nodes\":{"
	       "\"127.0.0.1:%d\":1}}}",
	       tup_port(e->up));
	cfg = compile(&s);
	kv_free(&s);
	gw_proxy_publish(e->p, cfg);
	usleep(50000);

	assert_int_equal(tcli_connect(&c, e->port), 0);
	/* three pipelined requests in one write, answered in order on one
	 * connection; the 404 keeps the connection open */
	assert_int_equal(
	    tcli_sends(&c, "GET /only HTTP/1.1\r\nHost: a\r\n\r\n"
			   "GET /nope HTTP/1.1\r\nHost: a\r\n\r\n"
			   "POST /only HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"),
	    0);
	assert_int_equal(tcli_read(&c, &r, false), 0);
	assert_int_equal(r.status, 200);
	assert_true(body_has(&r, "method=GET"));
	tresp_free(&r);
	assert_int_equal(tcli_read(&c, &r, false), 0);
	assert_int_equal(r.status, 404);
	assert_string_equal(r.body, "{\"error_msg\":\"404 Route Not Found\"}\n");
	tresp_free(&r);
	assert_int_equal(tcli_read(&c, &r, false), 0);
	assert_int_equal(r.status, 200);
	assert_true(body_has(&r, "method=POST"));
	assert_true(body_has(&r, "body_len=3\n"));
	tresp_free(&r);
	/* HTTP/1.0 without keep-alive: answered, then closed */
	assert_int_equal(tcli_sends(&c, "GET /only HTTP/1.0\r\n\r\n"), 0);
	assert_int_equal(tcli_read(&c, &r, false), 0);
	assert_int_equal(r.status, 200);
	tresp_free(&r);
	assert_true(tcli_closed(&c));
	tcli_close(&c);

	/* upstream connections are reused across client connections */
	int before = tup_connections(e->up);
	for (int i = 0; i < 6; i++) {
		assert_int_equal(roundtrip(e, "GET /only HTTP/1.1\r\nHost: a\r\n\r\n", &r), 0);
		assert_int_equal(r.status, 200);
		tresp_free(&r);
	}
	assert_true(tup_connections(e->up) - before <= 2); /* at most one per worker */

	gw_proxy_publish(e->p, config_for(tup_port(e->up), tup_port(e->up2), NULL));
	usleep(50000);
	assert_int_equal(roundtrip(e, "GET /nope HTTP/1.1\r\nHost: a\r\n\r\n", &r), 0);
	assert_int_equal(r.status, 200);
	tresp_free(&r);
}

/* The request must get @status and the connection must then close. */
static void expect_reject(struct env *e, const char *req, int status)
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

static void test_proxy_smuggling(void **state)
{
	struct env *e = *state;
	static const char *const bad[] = {
	    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "0\r\n\r\n",
	    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
	    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
	    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc",
	    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\nabc",
	    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
	    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: "
	    "chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
	    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "fffffffffffffffff1\r\nabc\r\n0\r\n\r\n",
	    "GET / HTTP/1.1\r\nHost: a\r\nX-Fold: a\r\n b\r\n\r\n",
	    "GET / HTTP/1.1\r\nHost: a\r\nContent-Length : 0\r\n\r\n",
	    "GET / HTTP/1.1\r\nHost: a\r\nX-Bad: a\x01b\r\n\r\n",
	    "GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n",
	    "GET / HTTP/1.1\r\nHost: a\r\nBad Name: b\r\n\r\n",
	    "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
	    "GET / HTTP/1.1\r\n\r\n",
	    "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	    "GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n",
	    "GET / HTTP/2.0\r\nHost: a\r\n\r\n",
	    "GET /a/../../etc HTTP/1.1\r\nHost: a\r\n\r\n",
	    "GET /a%00b HTTP/1.1\r\nHost: a\r\n\r\n",
	    "GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		expect_reject(e, bad[i], strstr(bad[i], "HTTP/2.0") ? 505 : 400);
	}
}

static void test_proxy_limits(void **state)
{
	struct env *e = *state;
	size_t n = 20000;
	char *req = malloc(n + 200);
	struct tcli c;
	struct tresp r;

	/* URI over 8 KiB -> 414 */
	strcpy(req, "GET /");
	memset(req + 5, 'a', 9000);
	strcpy(req + 9005, " HTTP/1.1\r\nHost: a\r\n\r\n");
	expect_reject(e, req, 414);
	/* header block over 16 KiB -> 431 */
	{
		char *q = req + sprintf(req, "GET / HTTP/1.1\r\nHost: a\r\nX-Big: ");
		memset(q, 'b', 17000);
		strcpy(q + 17000, "\r\n\r\n");
	}
	expect_reject(e, req, 431);
	free(req);
	/* body over max_body_bytes (1 MiB here) -> 413, by Content-Length ... */
	expect_reject(e, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2000000\r\n\r\n", 413);
	/* ... and while streaming a chunked body */
	assert_int_equal(tcli_connect(&c, e->port), 0);
	assert_int_equal(tcli_sends(&c, "POST /sleep/300 HTTP/1.1\r\nHost: a\r\n"
					"Transfer-Encoding: chunked\r\n\r\n"),
			 0);
	char *chunk = malloc(70000);
	int k = snprintf(chunk, 32, "%x\r\n", 65536);
	memset(chunk + k, 'x', 65536);
	memcpy(chunk + k + 65536, "\r\n", 2);
	int status = 0;
	for (int i = 0; i < 20; i++) {
		if (tcli_send(&c, chunk, (size_t)k + 65538) != 0) {
			break;
		}
	}
	free(chunk);
	if (tcli_read(&c, &r, false) == 0) {
		status = r.status;
		tresp_free(&r);
	}
	assert_int_equal(status, 413);
	tcli_close(&c);
}

/* Send @head and @n_chunks chunks of 64 KiB (no last chunk) on @c and read
 * the answer: its status, or 0 when none could be read. With @burst
 * everything goes out in one write, so the proxy holds more than its
 * back-pressure mark before its upstream connection is even up. */
static int chunked_upload(struct env *e, const char *head, int n_chunks, bool burst, struct tcli *c)
{
	size_t len = strlen(head), off;
	char *buf = malloc(len + (size_t)n_chunks * (65536 + 16));
	struct tresp r;
	int status = 0;

	memcpy(buf, head, len);
	off = len;
	for (int i = 0; i < n_chunks; i++) {
		off += (size_t)sprintf(buf + off, "%x\r\n", 65536);
		memset(buf + off, 'x', 65536);
		off += 65536;
		memcpy(buf + off, "\r\n", 2);
		off += 2;
	}
	assert_int_equal(tcli_connect(c, e->port), 0);
	for (size_t p = 0; p < off;) {
		size_t k = burst || off - p < 65536 ? off - p : 65536;
		if (tcli_send(c, buf + p, k) != 0) {
			break; /* the proxy closed: its answer may be waiting */
		}
		p += k;
	}
	free(buf);
	if (tcli_read(c, &r, false) == 0) {
		status = r.status;
		tresp_free(&r);
	}
	return status;
}

/* A body that arrives faster than the upstream connection is set up: the
 * proxy stops reading the client at its high-water mark, and must read it
 * again once the buffered body went out in one go (no write callback comes
 * then). It used to stall here until the client gave up, which is how
 * test_proxy_limits' chunked case failed under load. */
static void test_proxy_body_before_connect(void **state)
{
	struct env *e = *state;
	struct tcli c;
	int status;

	status = chunked_upload(e,
				"POST /sleep/300 HTTP/1.1\r\nHost: a\r\n"
				"Transfer-Encoding: chunked\r\n\r\n",
				20, true, &c);
	assert_int_equal(status, 413);
	tcli_close(&c);
	/* within the limit, the whole body reaches the upstream */
	{
		size_t n = 8 * (65536 + 16);
		char *req = malloc(n + 256), *q = req;
		struct tresp r;
		q += sprintf(q, "POST /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
				"Transfer-Encoding: chunked\r\n\r\n");
		for (int i = 0; i < 8; i++) {
			q += sprintf(q, "%x\r\n", 65536);
			memset(q, 'y', 65536);
			q += 65536;
			memcpy(q, "\r\n", 2);
			q += 2;
		}
		q += sprintf(q, "0\r\n\r\n");
		assert_int_equal(tcli_connect(&c, e->port), 0);
		assert_int_equal(tcli_send(&c, req, (size_t)(q - req)), 0);
		free(req);
		assert_int_equal(tcli_read(&c, &r, false), 0);
		assert_int_equal(r.status, 200);
		assert_true(body_has(&r, "body_len=524288\n"));
		tresp_free(&r);
		tcli_close(&c);
	}
}

/* An answer given before the body ended (502: the node refuses) is
 * complete; when the rest of the body then breaks the limit, the
 * connection closes with a lingering read, so the answer is not lost to a
 * reset and the close is a clean FIN. */
static void test_proxy_answer_then_overflow(void **state)
{
	struct env *e = *state;
	struct tcli c;
	int status;

	for (int i = 0; i < 3; i++) {
		status = chunked_upload(e,
					"POST /dead/x HTTP/1.1\r\nHost: a\r\n"
					"Transfer-Encoding: chunked\r\n\r\n",
					20, i == 1, &c);
		assert_int_equal(status, 502);
		assert_true(tcli_closed(&c));
		tcli_close(&c);
	}
}

static void test_proxy_bodies(void **state)
{
	struct env *e = *state;
	struct tcli c;
	struct tresp r;
	char want[64];
	size_t big = 600000;
	char *body = malloc(big);

	for (size_t i = 0; i < big; i++) {
		body[i] = (char)(i * 7 + i / 1000);
	}
	/* Content-Length body, streamed through */
	assert_int_equal(tcli_connect(&c, e->port), 0);
	char head[256];
	snprintf(head, sizeof head, "PUT /up HTTP/1.1\r\nHost: a\r\nContent-Length: %zu\r\n\r\n",
		 big);
	assert_int_equal(tcli_sends(&c, head), 0);
	assert_int_equal(tcli_send(&c, body, big), 0);
	assert_int_equal(tcli_read(&c, &r, false), 0);
	assert_int_equal(r.status, 200);
	snprintf(want, sizeof want, "body_len=%zu\nbody_sum=%u\n", big, tup_sum(body, big, 0));
	assert_true(body_has(&r, want));
	tresp_free(&r);
	/* chunked body in three uneven chunks, same connection */
	assert_int_equal(tcli_sends(&c, "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked"
					"\r\nExpect: 100-continue\r\n\r\n"),
			 0);
	size_t parts[3] = {1, 70000, big - 70001}, off = 0;
	for (int i = 0; i < 3; i++) {
		snprintf(head, sizeof head, "%zx\r\n", parts[i]);
		assert_int_equal(tcli_sends(&c, head), 0);
		assert_int_equal(tcli_send(&c, body + off, parts[i]), 0);
		assert_int_equal(tcli_sends(&c, "\r\n"), 0);
		off += parts[i];
	}
	assert_int_equal(tcli_sends(&c, "0\r\n\r\n"), 0);
	assert_int_equal(tcli_read(&c, &r, false), 0); /* 100 Continue is skipped by the reader */
	assert_int_equal(r.status, 200);
	assert_true(body_has(&r, want));
	assert_true(body_has(&r, "h:Transfer-Encoding: chunked\n"));
	tresp_free(&r);
	free(body);

	/* big response, streamed back */
	assert_int_equal(tcli_sends(&c, "GET /big/5000000 HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	assert_int_equal(tcli_read(&c, &r, false), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body_len, 5000000);
	assert_int_equal(r.body[26 * 1000 + 3], 'd');
	tresp_free(&r);
	/* chunked response stays chunked */
	assert_int_equal(tcli_sends(&c, "GET /chunked HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	assert_int_equal(tcli_read(&c, &r, false), 0);
	assert_true(r.chunked);
	assert_string_equal(r.body, "part1part2part3");
	tresp_free(&r);
	/* HTTP/1.0 upstream without length: chunked to a 1.1 client */
	assert_int_equal(tcli_sends(&c, "GET /http10 HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	assert_int_equal(tcli_read(&c, &r, false), 0);
	assert_int_equal(r.status, 200);
	assert_true(r.chunked);
	assert_string_equal(r.body, "hello from 1.0");
	assert_false(r.closed);
	tresp_free(&r);
	tcli_close(&c);
	/* ... and close-delimited to a 1.0 client */
	assert_int_equal(tcli_connect(&c, e->port), 0);
	assert_int_equal(tcli_sends(&c, "GET /http10 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"),
			 0);
	assert_int_equal(tcli_read(&c, &r, false), 0);
	assert_string_equal(r.body, "hello from 1.0");
	assert_true(r.closed);
	tresp_free(&r);
	tcli_close(&c);
}

/* 64 MiB up to a slow upstream and 64 MiB down to a slow client: memory
 * stays bounded by back-pressure (at most ~HWM plus one read queued). */
static void test_proxy_backpressure(void **state)
{
	struct env *e = *state;
	struct tcli c;
	struct tresp r;
	char head[256], want[64], *chunk = malloc(65536);
	size_t total = 64u << 20, got = 0;
	uint32_t sum = 0;

	atomic_store(&gw_proxy__queued_hwm, 0);
	for (size_t i = 0; i < 65536; i++) {
		chunk[i] = (char)(i * 13);
	}
	assert_int_equal(tcli_connect(&c, e->port), 0);
	snprintf(head, sizeof head,
		 "PUT /slow/up HTTP/1.1\r\nHost: a\r\nContent-Length: %zu\r\n\r\n", total);
	assert_int_equal(tcli_sends(&c, head), 0);
	for (size_t sent = 0; sent < total; sent += 65536) {
		assert_int_equal(tcli_send(&c, chunk, 65536), 0);
		sum = tup_sum(chunk, 65536, sum);
	}
	assert_int_equal(tcli_read(&c, &r, false), 0);
	assert_int_equal(r.status, 200);
	snprintf(want, sizeof want, "body_len=%zu\nbody_sum=%u\n", total, sum);
	assert_true(body_has(&r, want));
	tresp_free(&r);

	snprintf(head, sizeof head, "GET /big/%zu HTTP/1.1\r\nHost: a\r\n\r\n", total);
	assert_int_equal(tcli_sends(&c, head), 0);
	for (;;) {
		ssize_t n = recv(c.fd, chunk, 65536, 0);
		assert_true(n > 0);
		got += (size_t)n;
		if (got >= total + 38) { /* the head is 38 bytes */
			break;
		}
		usleep(200);
	}
	tcli_close(&c);
	free(chunk);
	size_t hwm = atomic_load(&gw_proxy__queued_hwm);
	print_message("# most bytes queued for one peer: %zu\n", hwm);
	assert_true(hwm < 1024 * 1024);
}

static void test_proxy_upstream_errors(void **state)
{
	struct env *e = *state;
	struct tresp r;
	char want[64];
	struct gw_proxy_stats st0, st1;

	gw_proxy_stats(e->p, &st0);

	/* nothing listens on ports 1 and 2: 502 after trying both */
	assert_int_equal(roundtrip(e, "GET /dead/x HTTP/1.1\r\nHost: a\r\n\r\n", &r), 0);
	assert_int_equal(r.status, 502);
	assert_true(body_has(&r, "502 Bad Gateway"));
	tresp_free(&r);
	/* read timeout 0.5 s: 504 */
	assert_int_equal(roundtrip(e, "GET /sleep/1500 HTTP/1.1\r\nHost: a\r\n\r\n", &r), 0);
	assert_int_equal(r.status, 504);
	assert_true(body_has(&r, "504 Gateway Time-out"));
	tresp_free(&r);
	/* one node answers 503: default retries (nodes - 1) hide it, always */
	snprintf(want, sizeof want, "port=%d\n", tup_port(e->up));
	for (int i = 0; i < 6; i++) {
		assert_int_equal(roundtrip(e,
					   "POST /retry/x HTTP/1.1\r\nHost: a\r\n"
					   "Content-Length: 5\r\n\r\nhello",
					   &r),
				 0);
		assert_int_equal(r.status, 200);
		assert_true(body_has(&r, want));
		assert_true(body_has(&r, "body_len=5\n"));
		tresp_free(&r);
	}
	assert_true(tup_requests(e->up2) > 0);
	/* node priority: the higher one is dead, the lower one serves */
	assert_int_equal(roundtrip(e, "GET /pri/x HTTP/1.1\r\nHost: a\r\n\r\n", &r), 0);
	assert_int_equal(r.status, 200);
	tresp_free(&r);
	/* an upstream status that is not retried passes through */
	assert_int_equal(roundtrip(e, "GET /status/418 HTTP/1.1\r\nHost: a\r\n\r\n", &r), 0);
	assert_int_equal(r.status, 418);
	tresp_free(&r);

	/* counters: 10 requests, 7 of them 2xx, 502 + 504, one 4xx; every
	 * connection closed by the client is gone */
	for (int i = 0; i < 100; i++) {
		gw_proxy_stats(e->p, &st1);
		if (st1.requests - st0.requests == 10 && st1.active_connections == 0) {
			break;
		}
		usleep(10000);
	}
	assert_int_equal(st1.requests - st0.requests, 10);
	assert_int_equal(st1.status[2] - st0.status[2], 7);
	assert_int_equal(st1.status[4] - st0.status[4], 1);
	assert_int_equal(st1.status[5] - st0.status[5], 2);
	assert_true(st1.retries - st0.retries >= 2); /* /dead/x and /pri/x at least */
	assert_true(st1.upstream_failures - st0.upstream_failures >= 4); /* 2 dead + 504 + pri */
	assert_int_equal(st1.active_connections, 0);
	assert_true(st1.connections - st0.connections >= 10);
	assert_int_equal(st1.revision, 7);
}

/* Mutated requests (byte flips, truncations, splices, random bytes): every
 * connection gets an answer or a close, and the proxy keeps serving. */
static void test_proxy_garbage(void **state)
{
	struct env *e = *state;
	static const char *const seeds[] = {
	    "GET /a?b=c HTTP/1.1\r\nHost: x\r\nCookie: k=v\r\n\r\n",
	    "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
	    "POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "3\r\nabc\r\n0\r\n\r\n",
	    "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
	    "GET http://h/%2e%2e/x HTTP/1.0\r\n\r\n",
	};
	unsigned seed = 12345;
	char buf[512];
	struct tresp r;

	for (int iter = 0; iter < 400; iter++) {
		const char *s = seeds[iter % 5];
		size_t n = strlen(s);
		struct tcli c;
		memcpy(buf, s, n);
		for (int k = 0; k < 1 + iter % 4; k++) {
			seed = seed * 1103515245 + 12345;
			size_t at = (seed >> 8) % n;
			switch ((seed >> 4) % 4) {
			case 0:
				buf[at] = (char)(seed >> 16);
				break;
			case 1:
				n = at + 1; /* truncate */
				break;
			case 2:
				buf[at] = "\r\n:; %/.\t\0"[(seed >> 12) % 10];
				break;
			default:
				if (n + 8 < sizeof buf) { /* splice a second request */
					memmove(buf + at + 8, buf + at, n - at);
					memcpy(buf + at, "\r\n\r\nGET ", 8);
					n += 8;
				}
			}
		}
		assert_int_equal(tcli_connect(&c, e->port), 0);
		if (tcli_send(&c, buf, n) == 0) {
			shutdown(c.fd, SHUT_WR); /* EOF: a half-sent request is abandoned */
			if (tcli_read(&c, &r, false) == 0) {
				assert_true(r.status >= 200 && r.status < 600);
			}
			tresp_free(&r);
		}
		tcli_close(&c);
	}
	assert_int_equal(roundtrip(e, "GET /still/alive HTTP/1.1\r\nHost: a\r\n\r\n", &r), 0);
	assert_int_equal(r.status, 200);
	tresp_free(&r);
}

static void test_proxy_client_abort(void **state)
{
	struct env *e = *state;
	struct tcli c;
	struct tresp r;
	/* a client that leaves mid-request must not disturb the next one */
	for (int i = 0; i < 5; i++) {
		assert_int_equal(tcli_connect(&c, e->port), 0);
		assert_int_equal(tcli_sends(&c, "GET /sleep/200 HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
		tcli_close(&c);
		assert_int_equal(tcli_connect(&c, e->port), 0);
		assert_int_equal(tcli_sends(&c, "POST / HTTP/1.1\r\nHost: a\r\n"
						"Content-Length: 100\r\n\r\nabc"),
				 0);
		tcli_close(&c);
	}
	assert_int_equal(roundtrip(e, "GET /ok HTTP/1.1\r\nHost: a\r\n\r\n", &r), 0);
	assert_int_equal(r.status, 200);
	tresp_free(&r);
}

static void test_proxy_plugins(void **state)
{
	struct env *e = *state;
	struct tresp r;
	char buf[64];

	/* proxy-rewrite: regex_uri, method, host, headers; the service's
	 * response-rewrite applies too, its proxy-rewrite is overridden */
	assert_int_equal(roundtrip(e,
				   "GET /prw/abc/d/e?q=1 HTTP/1.1\r\nHost: a\r\nX-Del: x\r\n"
				   "X-Add: 0\r\n\r\n",
				   &r),
			 0);
	assert_int_equal(r.status, 200);
	assert_true(body_has(&r, "method=PUT\n"));
	assert_true(body_has(&r, "url=/new/d/e/abc?q=1\n"));
	assert_true(body_has(&r, "h:Host: rw.example\n"));
	assert_true(body_has(&r, "h:X-Set: ip-127.0.0.1\n"));
	assert_true(body_has(&r, "h:X-Add: 0\n"));
	assert_true(body_has(&r, "h:X-Add: 1\n"));
	assert_false(body_has(&r, "X-Del"));
	assert_string_equal(tresp_header(&r, "x-svc", buf, sizeof buf), "1");
	tresp_free(&r);
	/* uri with $var and a query of its own: client args appended with & */
	assert_int_equal(roundtrip(e, "GET /prw2?who=bob HTTP/1.1\r\nHost: a\r\n\r\n", &r), 0);
	assert_true(body_has(&r, "url=/fixed/bob?x=1&who=bob\n"));
	tresp_free(&r);
	/* plugin_config: merged under the route's own (route wins per plugin);
	 * global rules run on every routed request */
	assert_int_equal(roundtrip(e, "GET /pc/1 HTTP/1.1\r\nHost: a\r\n\r\n", &r), 0);
	assert_int_equal(r.status, 200);
	assert_true(body_has(&r, "h:X-PC-Req: 1\n"));
	assert_string_equal(tresp_header(&r, "x-route", buf, sizeof buf), "1");
	assert_null(tresp_header(&r, "x-pc", buf, sizeof buf));
	assert_string_equal(tresp_header(&r, "x-global", buf, sizeof buf), "1");
	tresp_free(&r);

	/* response-rewrite: status, body (length fixed up), headers */
	assert_int_equal(roundtrip(e, "GET /rrw/x HTTP/1.1\r\nHost: a\r\n\r\n", &r), 0);
	assert_int_equal(r.status, 201);
	assert_string_equal(r.body, "replaced\n");
	assert_string_equal(tresp_header(&r, "x-r", buf, sizeof buf), "yes");
	assert_null(tresp_header(&r, "x-upstream-port", buf, sizeof buf));
	assert_string_equal(tresp_header(&r, "content-length", buf, sizeof buf), "9");
	tresp_free(&r);
	/* ... only when its vars match */
	assert_int_equal(roundtrip(e, "GET /rrw/x?skip=1 HTTP/1.1\r\nHost: a\r\n\r\n", &r), 0);
	assert_int_equal(r.status, 200);
	assert_true(body_has(&r, "url=/rrw/x?skip=1"));
	tresp_free(&r);
}

static void test_proxy_slow_clients(void **state)
{
	struct env *e = *state;
	struct tcli c;
	struct tresp r;

	/* header block not finished in time: closed */
	assert_int_equal(tcli_connect(&c, e->port), 0);
	assert_int_equal(tcli_sends(&c, "GET / HTTP/1.1\r\nHost: a\r\n"), 0);
	assert_true(tcli_closed(&c));
	tcli_close(&c);
	/* a connection that never sends anything: closed */
	assert_int_equal(tcli_connect(&c, e->port), 0);
	assert_true(tcli_closed(&c));
	tcli_close(&c);
	/* body stalls: 408, then closed */
	assert_int_equal(tcli_connect(&c, e->port), 0);
	assert_int_equal(
	    tcli_sends(&c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc"), 0);
	assert_int_equal(tcli_read(&c, &r, false), 0);
	assert_int_equal(r.status, 408);
	tresp_free(&r);
	assert_true(tcli_closed(&c));
	tcli_close(&c);
	/* keep-alive idle: closed after the idle timeout */
	assert_int_equal(tcli_connect(&c, e->port), 0);
	assert_int_equal(tcli_sends(&c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	assert_int_equal(tcli_read(&c, &r, false), 0);
	assert_int_equal(r.status, 200);
	tresp_free(&r);
	assert_true(tcli_closed(&c));
	tcli_close(&c);
}

static void test_proxy_hot_swap(void **state)
{
	struct env *e = *state;
	struct kvset s = {0};
	struct tcli a;
	struct tresp r;

	/* a request in flight keeps its snapshot; new ones see the new one */
	assert_int_equal(tcli_connect(&a, e->port), 0);
	assert_int_equal(tcli_sends(&a, "GET /sleep/300 HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	usleep(50000);
	kv_add(&s, "/apisix/routes/1",
	       "{\"uri\":\"/only\",\"upstream\":{\"nodes\":{\"127.0.0.1:%d\":1}}}",
	       tup_port(e->up));
	gw_proxy_publish(e->p, compile(&s));
	kv_free(&s);
	usleep(20000);
	assert_int_equal(roundtrip(e, "GET /sleep/1 HTTP/1.1\r\nHost: a\r\n\r\n", &r), 0);
	assert_int_equal(r.status, 404);
	tresp_free(&r);
	assert_int_equal(tcli_read(&a, &r, false), 0);
	assert_int_equal(r.status, 200);
	assert_true(body_has(&r, "url=/sleep/300"));
	tresp_free(&r);
	tcli_close(&a);
	/* publish-to-effect: time from gw_proxy_publish to the first request
	 * answered by the new snapshot (fresh connections, so any worker) */
	double worst = 0, total = 0;
	for (int i = 0; i < 20; i++) {
		struct timespec t0, t1;
		char mark[16], want[16];
		kv_add(&s, "/apisix/routes/flip",
		       "{\"uri\":\"/flip\",\"upstream\":{\"nodes\":{\"127.0.0.1:%d\":1}},"
		       "\"plugins\":{\"response-rewrite\":{\"headers\":{\"X-Cfg\":\"%d\"}}}}",
		       tup_port(e->up), i);
		snprintf(want, sizeof want, "%d", i);
		gw_proxy_publish(e->p, compile(&s));
		kv_free(&s);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (bool seen = false; !seen;) {
			assert_int_equal(roundtrip(e, "GET /flip HTTP/1.1\r\nHost: a\r\n\r\n", &r),
					 0);
			seen = tresp_header(&r, "x-cfg", mark, sizeof mark) != NULL &&
			       strcmp(mark, want) == 0;
			tresp_free(&r);
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		double ms =
		    (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
		total += ms;
		worst = ms > worst ? ms : worst;
	}
	print_message("# publish to first answer from the new snapshot (incl. one request): "
		      "mean %.2f ms, max %.2f ms\n",
		      total / 20, worst);

	/* many swaps while requests run: every request gets an answer */
	for (int i = 0; i < 20; i++) {
		gw_proxy_publish(e->p, config_for(tup_port(e->up), 0, NULL));
		assert_int_equal(roundtrip(e, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n", &r), 0);
		assert_int_equal(r.status, 200);
		tresp_free(&r);
	}
}

struct load {
	struct env *e;
	int id;
	int ok, failed;
};

/* One client: keep-alive connection, a mix of GETs, POSTs with bodies and
 * pipelined pairs; reconnects when the server closes. */
static void *load_main(void *arg)
{
	struct load *l = arg;
	struct tcli c = {.fd = -1};
	struct tresp r;
	char req[512], want[64];
	bool connected = false;

	for (int i = 0; i < 60; i++) {
		if (!connected) {
			if (tcli_connect(&c, l->e->port) != 0) {
				l->failed++;
				continue;
			}
			connected = true;
		}
		int kind = (i + l->id) % 3, n = kind == 2 ? 2 : 1;
		if (kind == 0) {
			snprintf(req, sizeof req, "GET /load/%d/%d HTTP/1.1\r\nHost: a\r\n\r\n",
				 l->id, i);
		} else if (kind == 1) {
			snprintf(
			    req, sizeof req,
			    "POST /load/%d/%d HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n"
			    "hello world",
			    l->id, i);
		} else {
			snprintf(req, sizeof req,
				 "GET /load/%d/%d HTTP/1.1\r\nHost: a\r\n\r\n"
				 "GET /load/%d/%d HTTP/1.1\r\nHost: a\r\n\r\n",
				 l->id, i, l->id, i);
		}
		if (tcli_sends(&c, req) != 0) {
			l->failed++;
			tcli_close(&c);
			connected = false;
			continue;
		}
		snprintf(want, sizeof want, "url=/load/%d/%d\n", l->id, i);
		for (int k = 0; k < n; k++) {
			if (tcli_read(&c, &r, false) == 0 && r.status == 200 &&
			    body_has(&r, want)) {
				l->ok++;
			} else {
				l->failed++;
			}
			tresp_free(&r);
		}
		if (r.closed) {
			tcli_close(&c);
			connected = false;
		}
	}
	if (connected) {
		tcli_close(&c);
	}
	return NULL;
}

/* Config changes under load: every request gets its answer. */
static void test_proxy_load_with_swaps(void **state)
{
	enum { N = 8 };
	struct env *e = *state;
	struct load l[N];
	pthread_t t[N];

	for (int i = 0; i < N; i++) {
		l[i] = (struct load){.e = e, .id = i};
		assert_int_equal(pthread_create(&t[i], NULL, load_main, &l[i]), 0);
	}
	for (int i = 0; i < 30; i++) {
		gw_proxy_publish(e->p, config_for(tup_port(e->up), tup_port(e->up2), NULL));
		usleep(10000);
	}
	int ok = 0, failed = 0;
	for (int i = 0; i < N; i++) {
		pthread_join(t[i], NULL);
		ok += l[i].ok;
		failed += l[i].failed;
	}
	assert_int_equal(failed, 0);
	assert_int_equal(ok, N * 80);
}

static void test_proxy_websocket(void **state)
{
	struct env *e = *state;
	struct tcli c;
	struct tresp r;
	char buf[64] = {0};
	ssize_t n = 0;

	assert_int_equal(tcli_connect(&c, e->port), 0);
	assert_int_equal(tcli_sends(&c, "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
					"Connection: Upgrade\r\nSec-WebSocket-Key: x\r\n"
					"Sec-WebSocket-Version: 13\r\n\r\n"),
			 0);
	assert_int_equal(tcli_read(&c, &r, false), 0);
	assert_int_equal(r.status, 101);
	tresp_free(&r);
	assert_int_equal(tcli_sends(&c, "frame-bytes"), 0);
	while (n < 11) {
		ssize_t k = recv(c.fd, buf + n, sizeof buf - 1 - (size_t)n, 0);
		assert_true(k > 0);
		n += k;
	}
	assert_string_equal(buf, "frame-bytes");
	/* the upstream's last bytes before it closes reach the client, then EOF */
	assert_int_equal(tcli_sends(&c, "bye!"), 0);
	memset(buf, 0, sizeof buf);
	n = 0;
	for (;;) {
		ssize_t k = recv(c.fd, buf + n, sizeof buf - 1 - (size_t)n, 0);
		assert_true(k >= 0);
		if (k == 0) {
			break;
		}
		n += k;
	}
	assert_string_equal(buf, "closing");
	tcli_close(&c);
	/* without enable_websocket the Upgrade header is dropped: plain HTTP */
	assert_int_equal(roundtrip(e,
				   "GET /ws2 HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
				   "Connection: Upgrade\r\n\r\n",
				   &r),
			 0);
	assert_int_equal(r.status, 200);
	assert_false(body_has(&r, "Upgrade"));
	tresp_free(&r);
}

/* IPv4 and IPv6 listeners side by side; a v6 client is seen as "::1". */
static void test_proxy_ipv6(void **state)
{
	struct env *e = *state;
	struct gw_addr addrs[2];
	const char *why;
	struct gw_proxy_opts o = {0};
	struct gw_proxy *p2 = NULL;
	struct sockaddr_in6 a6 = {.sin6_family = AF_INET6};
	struct tcli c;
	struct tresp r;
	struct timeval tv = {.tv_sec = 5};

	assert_int_equal(gw_addr_parse("127.0.0.1:1", &addrs[0], &why), 0);
	assert_int_equal(gw_addr_parse("[::1]:1", &addrs[1], &why), 0);
	((struct sockaddr_in *)&addrs[0].ss)->sin_port = 0;
	((struct sockaddr_in6 *)&addrs[1].ss)->sin6_port = 0;
	o.listen = addrs;
	o.n_listen = 2;
	o.workers = 2;
	o.config = config_for(tup_port(e->up), 0, NULL);
	assert_int_equal(gw_proxy_start(&o, &p2), 0);
	while (!gw_proxy_ready(p2)) {
		usleep(2000);
	}
	memset(&c, 0, sizeof c);
	c.fd = socket(AF_INET6, SOCK_STREAM, 0);
	assert_true(c.fd >= 0);
	setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	inet_pton(AF_INET6, "::1", &a6.sin6_addr);
	a6.sin6_port = htons((uint16_t)gw_proxy_port(p2, 1));
	assert_int_equal(connect(c.fd, (struct sockaddr *)&a6, sizeof a6), 0);
	assert_int_equal(tcli_sends(&c, "GET /v6 HTTP/1.1\r\nHost: [::1]:80\r\n\r\n"), 0);
	assert_int_equal(tcli_read(&c, &r, false), 0);
	assert_int_equal(r.status, 200);
	assert_true(body_has(&r, "h:X-Real-IP: ::1\n"));
	assert_true(body_has(&r, "h:X-Forwarded-Host: [::1]\n"));
	tresp_free(&r);
	tcli_close(&c);
	/* and the IPv4 listener of the same proxy */
	assert_int_equal(tcli_connect(&c, gw_proxy_port(p2, 0)), 0);
	assert_int_equal(tcli_sends(&c, "GET /v4 HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	assert_int_equal(tcli_read(&c, &r, false), 0);
	assert_int_equal(r.status, 200);
	tresp_free(&r);
	tcli_close(&c);
	gw_proxy_stop(p2);
}

/* A port someone else listens on (even with SO_REUSEPORT) is refused. */
static void test_proxy_port_in_use(void **state)
{
	struct env *e = *state;
	struct gw_addr addr;
	const char *why;
	struct gw_proxy_opts o = {0};
	struct gw_proxy *p2 = NULL;
	char text[32];
	snprintf(text, sizeof text, "127.0.0.1:%d", e->port);
	assert_int_equal(gw_addr_parse(text, &addr, &why), 0);
	o.listen = &addr;
	o.n_listen = 1;
	o.workers = 1;
	assert_int_equal(gw_proxy_start(&o, &p2), GW_EADDR);
	assert_null(p2);
}

static void test_proxy_stop_drains(void **state)
{
	struct env *e = *state;
	struct tcli c, idle;
	struct tresp r;

	assert_int_equal(tcli_connect(&idle, e->port), 0);
	assert_int_equal(tcli_connect(&c, e->port), 0);
	assert_int_equal(tcli_sends(&c, "GET /sleep/300 HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	usleep(50000);
	gw_proxy_stop(e->p); /* waits for the request in flight */
	e->p = NULL;
	assert_int_equal(tcli_read(&c, &r, false), 0);
	assert_int_equal(r.status, 200);
	tresp_free(&r);
	assert_true(tcli_closed(&c));
	assert_true(tcli_closed(&idle));
	tcli_close(&c);
	tcli_close(&idle);
	assert_int_not_equal(tcli_connect(&c, e->port), 0);
}

int main(void)
{
	const struct CMUnitTest pure[] = {
	    cmocka_unit_test(test_compile_skips_bad_objects),
	    cmocka_unit_test(test_compile_upstream_forms),
	    cmocka_unit_test(test_router_hosts),
	    cmocka_unit_test(test_router_uris_and_priority),
	    cmocka_unit_test(test_router_conditions),
	    cmocka_unit_test(test_router_many_routes),
	    cmocka_unit_test(test_balancer_roundrobin),
	    cmocka_unit_test(test_balancer_priority_least_conn),
	    cmocka_unit_test(test_balancer_chash),
	};
	const struct CMUnitTest e2e[] = {
	    cmocka_unit_test_setup_teardown(test_proxy_basic, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_proxy_404_and_keepalive, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_proxy_smuggling, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_proxy_limits, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_proxy_body_before_connect, env_setup,
					    env_teardown),
	    cmocka_unit_test_setup_teardown(test_proxy_answer_then_overflow, env_setup,
					    env_teardown),
	    cmocka_unit_test_setup_teardown(test_proxy_bodies, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_proxy_backpressure, env_setup_big, env_teardown),
	    cmocka_unit_test_setup_teardown(test_proxy_upstream_errors, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_proxy_client_abort, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_proxy_garbage, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_proxy_plugins, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_proxy_slow_clients, env_setup_short, env_teardown),
	    cmocka_unit_test_setup_teardown(test_proxy_hot_swap, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_proxy_load_with_swaps, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_proxy_websocket, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_proxy_ipv6, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_proxy_port_in_use, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_proxy_stop_drains, env_setup, env_teardown),
	};
	int rv;
	gw_log_set_level(getenv("GW_TEST_LOG") ? GW_LOG_DEBUG : GW_LOG_ERROR);
	rv = cmocka_run_group_tests_name("proxy_pure", pure, NULL, NULL);
	rv |= cmocka_run_group_tests_name("proxy_e2e", e2e, NULL, NULL);
	return rv;
}
