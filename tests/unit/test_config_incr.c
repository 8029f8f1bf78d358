/* test_config_incr.c: the incremental config compiler (proxy/config_cache.c)
 * serves exactly what a full compile of the same keys serves.
 *
 * A model of the store (keys with etcd's create and mod revisions) is edited
 * one object at a time: routes, upstreams, services, plugin_configs and
 * global rules are created, edited, deleted and re-created, routes move
 * between services and upstreams; after every change the snapshot made by
 * gw_proxy_cache_apply is compared with a fresh gw_proxy_config_compile of
 * the whole model: the route each probe request matches, its upstream's
 * nodes, its plugins, the global plugins and the route count. Old snapshots
 * are kept alive at random across changes (as a slow request would) so the
 * router copy path runs too; ASan/LSan check that nothing leaks or is freed
 * early across thousands of snapshots. */
#include "config.h"

#include "lib/err.h"
#include "lib/log.h"
#include "proxy/proxy.h"
#include "proxy/proxy_int.h"

#include <arpa/inet.h>
#include <http_parser.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

/* ---- a model of the /apisix/ keys */

#define MAX_KEYS 4096

struct model {
	char *key[MAX_KEYS];
	char *value[MAX_KEYS];
	int64_t create[MAX_KEYS], mod[MAX_KEYS];
	size_t n;
	int64_t rev;
};

static size_t find(const struct model *m, const char *key)
{
	for (size_t i = 0; i < m->n; i++) {
		if (strcmp(m->key[i], key) == 0) {
			return i;
		}
	}
	return m->n;
}

/* Put @key in the model and describe the change in @ch (pointing into it). */
static void put(struct model *m, struct gw_proxy_kv *ch, const char *key, const char *fmt, ...)
{
	va_list ap;
	char *v = NULL;
	size_t i = find(m, key);

	va_start(ap, fmt);
	assert_true(vasprintf(&v, fmt, ap) >= 0);
	va_end(ap);
	m->rev++;
	if (i == m->n) {
		assert_true(m->n < MAX_KEYS);
		m->key[i] = strdup(key);
		m->create[i] = m->rev;
		m->n++;
	} else {
		free(m->value[i]);
	}
	m->value[i] = v;
	m->mod[i] = m->rev;
	memset(ch, 0, sizeof *ch);
	ch->key = m->key[i];
	ch->key_len = strlen(key);
	ch->value = v;
	ch->value_len = strlen(v);
	ch->create_revision = m->create[i];
	ch->mod_revision = m->rev;
}

/* Delete @key; @ch then owns a copy of the key (free ch->key). */
static void del(struct model *m, struct gw_proxy_kv *ch, const char *key)
{
	size_t i = find(m, key);
	memset(ch, 0, sizeof *ch);
	m->rev++;
	ch->key = strdup(key);
	ch->key_len = strlen(key);
	ch->mod_revision = m->rev;
	if (i == m->n) {
		return;
	}
	free(m->key[i]);
	free(m->value[i]);
	m->n--;
	m->key[i] = m->key[m->n];
	m->value[i] = m->value[m->n];
	m->create[i] = m->create[m->n];
	m->mod[i] = m->mod[m->n];
}

static int by_create(const void *a, const void *b)
{
	const struct gw_proxy_kv *x = a, *y = b;
	if (x->create_revision != y->create_revision) {
		return x->create_revision < y->create_revision ? -1 : 1;
	}
	return strcmp(x->key, y->key);
}

/* A full compile of the model, its keys in creation order (as the store
 * lists them to confsync). */
static struct gw_proxy_config *full(const struct model *m)
{
	struct gw_proxy_kv *kvs = calloc(m->n + 1, sizeof *kvs);
	struct gw_proxy_config *cfg = NULL;
	assert_non_null(kvs);
	for (size_t i = 0; i < m->n; i++) {
		kvs[i].key = m->key[i];
		kvs[i].key_len = strlen(m->key[i]);
		kvs[i].value = m->value[i];
		kvs[i].value_len = strlen(m->value[i]);
		kvs[i].create_revision = m->create[i];
		kvs[i].mod_revision = m->mod[i];
	}
	qsort(kvs, m->n, sizeof *kvs, by_create);
	assert_int_equal(gw_proxy_config_compile(kvs, m->n, m->rev, &cfg), 0);
	free(kvs);
	return cfg;
}

static void model_free(struct model *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->key[i]);
		free(m->value[i]);
	}
	m->n = 0;
}

/* ---- what a snapshot serves */

/* What @cfg does with GET @host @path: the route, its upstream's nodes,
 * its plugins, written into @out. */
static void serve(const struct gw_proxy_config *cfg, const char *host, const char *path, char *out,
		  size_t cap)
{
	struct gw_proxy__match_ctx m;
	struct sockaddr_in sa;
	const struct gw_proxy__route *r;
	size_t o = 0;

	memset(&m, 0, sizeof m);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	m.method = HTTP_GET;
	m.path = path;
	m.path_len = strlen(path);
	m.query = "";
	m.host = host;
	m.host_len = strlen(host);
	m.peer = (struct sockaddr *)&sa;
	m.remote_addr = "127.0.0.1";
	m.scheme = "http";
	r = gw_proxy__router_match(cfg, &m);
	if (r == NULL) {
		snprintf(out, cap, "-");
		return;
	}
	o += (size_t)snprintf(out + o, cap - o, "%s p%d ws%d |", r->id, r->priority, r->websocket);
	if (r->up == NULL) {
		o += (size_t)snprintf(out + o, cap - o, " no upstream");
	} else {
		assert_true(r->up->index < cfg->n_ups);
		assert_ptr_equal(cfg->ups[r->up->index], r->up);
		for (size_t i = 0; i < r->up->n_nodes && o < cap; i++) {
			o += (size_t)snprintf(out + o, cap - o, " %s/%d", r->up->nodes[i].text,
					      r->up->nodes[i].weight);
		}
	}
	for (size_t i = 0; i < r->n_plugins && o < cap; i++) {
		o += (size_t)snprintf(out + o, cap - o, " +%s", r->plugins[i].p->name);
	}
}

#define N_ROUTES   600
#define N_UPS      8
#define N_SVCS     6
#define N_PCS      3
#define N_GLOBALS  2
#define N_STEPS    400
#define PROBE_HOST 3

static const char *const hosts[PROBE_HOST] = {"", "a.com", "x.b.com"};

/* Compare what @a and @b serve for every probe. */
static void same(const struct gw_proxy_config *a, const struct gw_proxy_config *b, int step)
{
	char x[512], y[512], path[64];

	assert_int_equal(gw_proxy_config_routes(a), gw_proxy_config_routes(b));
	assert_int_equal(a->n_global, b->n_global);
	for (size_t i = 0; i < a->n_global; i++) {
		assert_ptr_equal(a->global[i].p, b->global[i].p);
	}
	for (size_t i = 0; i < a->n_routes; i++) {
		assert_string_equal(a->routes[i]->id, b->routes[i]->id);
	}
	for (int h = 0; h < PROBE_HOST; h++) {
		for (int i = 0; i < N_ROUTES + 10; i++) {
			for (int k = 0; k < 2; k++) {
				if (k == 0) {
					snprintf(path, sizeof path, "/r/%d", i);
				} else {
					snprintf(path, sizeof path, "/p/%d/x", i % 97);
				}
				serve(a, hosts[h], path, x, sizeof x);
				serve(b, hosts[h], path, y, sizeof y);
				if (strcmp(x, y) != 0) {
					fail_msg("step %d: %s%s: incremental '%s' full '%s'", step,
						 hosts[h], path, x, y);
				}
			}
		}
	}
}

/* A random route: its own uri (or a shared prefix), maybe hosts, a
 * priority, an inline upstream, an upstream_id, a service, plugins. */
static void route(struct model *m, struct gw_proxy_kv *ch, int i)
{
	char key[64], uri[64], how[160], extra[200];
	int r = rand();

	snprintf(key, sizeof key, "/apisix/routes/%d", i);
	if (r % 5 == 0) {
		snprintf(uri, sizeof uri, "\"uri\":\"/p/%d/*\"", i % 97);
	} else {
		snprintf(uri, sizeof uri, "\"uri\":\"/r/%d\"", i);
	}
	switch ((r >> 4) % 4) {
	case 0:
		snprintf(how, sizeof how, "\"upstream\":{\"nodes\":{\"127.0.0.%d:80\":%d}}",
			 1 + (r >> 8) % 200, 1 + (r >> 12) % 5);
		break;
	case 1:
		snprintf(how, sizeof how, "\"upstream_id\":\"u%d\"", (r >> 8) % N_UPS);
		break;
	case 2:
		snprintf(how, sizeof how, "\"service_id\":\"s%d\"", (r >> 8) % N_SVCS);
		break;
	default:
		snprintf(how, sizeof how, "\"service_id\":\"s%d\",\"upstream_id\":\"u%d\"",
			 (r >> 8) % N_SVCS, (r >> 11) % N_UPS);
		break;
	}
	extra[0] = '\0';
	if ((r >> 14) % 3 == 0) {
		snprintf(extra, sizeof extra, ",\"hosts\":[\"%s\"]",
			 (r >> 16) % 2 ? "a.com" : "*.b.com");
	}
	if ((r >> 17) % 4 == 0) {
		size_t o = strlen(extra);
		snprintf(extra + o, sizeof extra - o, ",\"priority\":%d", (r >> 19) % 3);
	}
	if ((r >> 21) % 5 == 0) {
		size_t o = strlen(extra);
		snprintf(extra + o, sizeof extra - o, ",\"plugin_config_id\":\"pc%d\"",
			 (r >> 23) % N_PCS);
	}
	if ((r >> 25) % 9 == 0) {
		size_t o = strlen(extra);
		snprintf(extra + o, sizeof extra - o, ",\"status\":0");
	}
	put(m, ch, key, "{%s,%s%s}", uri, how, extra);
}

static void upstream(struct model *m, struct gw_proxy_kv *ch, int i)
{
	char key[64];
	int r = rand();
	snprintf(key, sizeof key, "/apisix/upstreams/u%d", i);
	if (r % 7 == 0) {
		/* refused by the schema: its dependents fail as if it were gone */
		put(m, ch, key, "{\"nodes\":{\"bad!host:80\":1}}");
		return;
	}
	put(m, ch, key, "{\"type\":\"%s\",\"nodes\":{\"10.0.%d.%d:%d\":%d,\"10.1.0.1:80\":1}}",
	    r % 2 ? "roundrobin" : "least_conn", i, (r >> 4) % 250, 1000 + (r >> 8) % 999,
	    1 + (r >> 18) % 4);
}

static void service(struct model *m, struct gw_proxy_kv *ch, int i)
{
	char key[64];
	int r = rand();
	snprintf(key, sizeof key, "/apisix/services/s%d", i);
	switch (r % 4) {
	case 0:
		put(m, ch, key, "{\"upstream_id\":\"u%d\"}", (r >> 4) % N_UPS);
		break;
	case 1:
		put(m, ch, key,
		    "{\"upstream_id\":\"u%d\",\"hosts\":[\"a.com\"],\"enable_websocket\":true}",
		    (r >> 4) % N_UPS);
		break;
	case 2:
		put(m, ch, key,
		    "{\"upstream\":{\"nodes\":{\"10.9.%d.1:80\":2}},\"plugins\":"
		    "{\"response-rewrite\":{\"status_code\":201}}}",
		    (r >> 4) % 250);
		break;
	default:
		put(m, ch, key, "{\"hosts\":[\"*.b.com\"],\"upstream_id\":\"u%d\"}",
		    (r >> 4) % N_UPS);
		break;
	}
}

static void pset(struct model *m, struct gw_proxy_kv *ch, const char *kind, int i)
{
	char key[64];
	int r = rand();
	snprintf(key, sizeof key, "/apisix/%s/%s%d", kind, kind[0] == 'p' ? "pc" : "g", i);
	if (r % 2) {
		put(m, ch, key, "{\"plugins\":{\"proxy-rewrite\":{\"uri\":\"/rw%d\"}}}", r % 10);
	} else {
		put(m, ch, key, "{\"plugins\":{\"response-rewrite\":{\"status_code\":%d}}}",
		    200 + r % 50);
	}
}

static void step_one(struct model *m, struct gw_proxy_kv *ch, bool *is_del)
{
	int r = rand() % 100;
	char key[64];

	*is_del = false;
	if (r < 55) {
		route(m, ch, rand() % (N_ROUTES + 10));
	} else if (r < 65) {
		*is_del = true;
		snprintf(key, sizeof key, "/apisix/routes/%d", rand() % (N_ROUTES + 10));
		del(m, ch, key);
	} else if (r < 75) {
		upstream(m, ch, rand() % N_UPS);
	} else if (r < 79) {
		*is_del = true;
		snprintf(key, sizeof key, "/apisix/upstreams/u%d", rand() % N_UPS);
		del(m, ch, key);
	} else if (r < 86) {
		service(m, ch, rand() % N_SVCS);
	} else if (r < 88) {
		*is_del = true;
		snprintf(key, sizeof key, "/apisix/services/s%d", rand() % N_SVCS);
		del(m, ch, key);
	} else if (r < 92) {
		pset(m, ch, "plugin_configs", rand() % N_PCS);
	} else if (r < 96) {
		pset(m, ch, "global_rules", rand() % N_GLOBALS);
	} else {
		*is_del = true;
		snprintf(key, sizeof key, "/apisix/%s",
			 r % 2 ? "global_rules/g0" : "plugin_configs/pc1");
		del(m, ch, key);
	}
}

static void test_edits_match_full_compile(void **state)
{
	struct model m = {0};
	struct gw_proxy_cache *cc;
	struct gw_proxy_config *cfg = NULL, *ref, *held[4] = {0};
	struct gw_proxy_kv ch;
	struct gw_proxy_cache_stats st;
	(void)state;

	srand(15);
	assert_int_equal(gw_proxy_cache_new(&cc), 0);
	/* the initial config, applied in one batch */
	{
		struct gw_proxy_kv *batch = calloc(N_ROUTES + 64, sizeof *batch);
		size_t n = 0;
		for (int i = 0; i < N_UPS; i++) {
			upstream(&m, &batch[n++], i);
		}
		for (int i = 0; i < N_SVCS; i++) {
			service(&m, &batch[n++], i);
		}
		for (int i = 0; i < N_PCS; i++) {
			pset(&m, &batch[n++], "plugin_configs", i);
		}
		for (int i = 0; i < N_GLOBALS; i++) {
			pset(&m, &batch[n++], "global_rules", i);
		}
		for (int i = 0; i < N_ROUTES; i++) {
			route(&m, &batch[n++], i);
		}
		/* the model's values may have been replaced: point at them */
		for (size_t i = 0; i < n; i++) {
			size_t k = find(&m, batch[i].key);
			batch[i].key = m.key[k];
			batch[i].value = m.value[k];
			batch[i].value_len = strlen(m.value[k]);
		}
		assert_int_equal(gw_proxy_cache_apply(cc, batch, n, m.rev, &cfg), 0);
		free(batch);
	}
	ref = full(&m);
	same(cfg, ref, -1);
	gw_proxy_config_unref(ref);
	for (int s = 0; s < N_STEPS; s++) {
		struct gw_proxy_config *next = NULL;
		bool is_del;
		step_one(&m, &ch, &is_del);
		assert_int_equal(gw_proxy_cache_apply(cc, &ch, 1, m.rev, &next), 0);
		if (is_del) {
			free((char *)ch.key);
		}
		/* sometimes a snapshot outlives later ones (a slow request) */
		if (rand() % 8 == 0) {
			int k = rand() % 4;
			gw_proxy_config_unref(held[k]);
			held[k] = cfg;
		} else {
			gw_proxy_config_unref(cfg);
		}
		cfg = next;
		ref = full(&m);
		same(cfg, ref, s);
		gw_proxy_config_unref(ref);
	}
	gw_proxy_cache_stats(cc, &st);
	assert_true(st.router_reuses > 0);
	assert_true(st.router_copies > 0);
	/* the cache is freed before its snapshots: they stay valid */
	gw_proxy_cache_free(cc);
	ref = full(&m);
	same(cfg, ref, N_STEPS);
	gw_proxy_config_unref(ref);
	for (int k = 0; k < 4; k++) {
		gw_proxy_config_unref(held[k]);
	}
	gw_proxy_config_unref(cfg);
	model_free(&m);
}

/* Only the changed object and its dependents are compiled. */
static void test_recompiles_only_dependents(void **state)
{
	struct model m = {0};
	struct gw_proxy_cache *cc;
	struct gw_proxy_config *cfg = NULL, *next;
	struct gw_proxy_kv ch;
	struct gw_proxy_cache_stats st;
	char key[64], path[32], out[256];
	(void)state;

	assert_int_equal(gw_proxy_cache_new(&cc), 0);
	put(&m, &ch, "/apisix/upstreams/u", "{\"nodes\":{\"10.0.0.1:80\":1}}");
	assert_int_equal(gw_proxy_cache_apply(cc, &ch, 1, m.rev, &cfg), 0);
	for (int i = 0; i < 300; i++) {
		snprintf(key, sizeof key, "/apisix/routes/%d", i);
		if (i < 20) {
			put(&m, &ch, key, "{\"uri\":\"/r/%d\",\"upstream_id\":\"u\"}", i);
		} else {
			put(&m, &ch, key,
			    "{\"uri\":\"/r/%d\",\"upstream\":{\"nodes\":{\"10.0.0.2:80\":1}}}", i);
		}
		assert_int_equal(gw_proxy_cache_apply(cc, &ch, 1, m.rev, &next), 0);
		gw_proxy_config_unref(cfg);
		cfg = next;
		gw_proxy_cache_stats(cc, &st);
		assert_int_equal(st.last_compiled, 1);
	}
	/* an upstream edit recompiles it and the 20 routes that use it */
	put(&m, &ch, "/apisix/upstreams/u", "{\"nodes\":{\"10.0.0.3:80\":1}}");
	assert_int_equal(gw_proxy_cache_apply(cc, &ch, 1, m.rev, &next), 0);
	gw_proxy_config_unref(cfg);
	cfg = next;
	gw_proxy_cache_stats(cc, &st);
	assert_int_equal(st.last_compiled, 21);
	serve(cfg, "", "/r/7", out, sizeof out);
	assert_string_equal(out, "7 p0 ws0 | 10.0.0.3:80/1");
	/* deleting it: they answer without an upstream... */
	del(&m, &ch, "/apisix/upstreams/u");
	assert_int_equal(gw_proxy_cache_apply(cc, &ch, 1, m.rev, &next), 0);
	free((char *)ch.key);
	gw_proxy_config_unref(cfg);
	cfg = next;
	assert_int_equal(gw_proxy_config_routes(cfg), 280);
	serve(cfg, "", "/r/7", out, sizeof out);
	assert_string_equal(out, "-");
	/* ...until it is back */
	put(&m, &ch, "/apisix/upstreams/u", "{\"nodes\":{\"10.0.0.4:80\":1}}");
	assert_int_equal(gw_proxy_cache_apply(cc, &ch, 1, m.rev, &next), 0);
	gw_proxy_config_unref(cfg);
	cfg = next;
	assert_int_equal(gw_proxy_config_routes(cfg), 300);
	snprintf(path, sizeof path, "/r/%d", 19);
	serve(cfg, "", path, out, sizeof out);
	assert_string_equal(out, "19 p0 ws0 | 10.0.0.4:80/1");
	/* a sync with nothing changed compiles nothing */
	{
		struct gw_proxy_kv *kvs = calloc(m.n, sizeof *kvs);
		for (size_t i = 0; i < m.n; i++) {
			kvs[i] =
			    (struct gw_proxy_kv){m.key[i],           strlen(m.key[i]), m.value[i],
						 strlen(m.value[i]), m.create[i],      m.mod[i]};
		}
		assert_int_equal(gw_proxy_cache_sync(cc, kvs, m.n, m.rev, &next), 0);
		gw_proxy_cache_stats(cc, &st);
		assert_int_equal(st.last_compiled, 0);
		gw_proxy_config_unref(next);
		/* and one without route 5 deletes it */
		kvs[find(&m, "/apisix/routes/5")] = kvs[m.n - 1];
		assert_int_equal(gw_proxy_cache_sync(cc, kvs, m.n - 1, m.rev + 1, &next), 0);
		gw_proxy_cache_stats(cc, &st);
		assert_int_equal(st.last_compiled, 0); /* a delete compiles nothing */
		assert_int_equal(gw_proxy_config_routes(next), 299);
		serve(next, "", "/r/5", out, sizeof out);
		assert_string_equal(out, "-");
		gw_proxy_config_unref(next);
		free(kvs);
	}
	gw_proxy_config_unref(cfg);
	gw_proxy_cache_free(cc);
	model_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_edits_match_full_compile),
	    cmocka_unit_test(test_recompiles_only_dependents),
	};
	gw_log_set_level(GW_LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
