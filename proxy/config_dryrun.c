/* config_dryrun.c: what a config change would do to the compiled config
 * (gw_proxy_config_dry_run, the Admin API's ?dry_run=true through node/).
 *
 * Happy path: one cache compiles the stored config (a full compile), every
 * route's compiled form is reduced to a 64-bit fingerprint, the change is
 * applied to the same cache (an incremental compile: the changed objects
 * and their dependents) and the fingerprints are taken again; the routes
 * whose fingerprint differs (or that appear or disappear) are the answer.
 * The fingerprint covers what decides behaviour: hosts, uris, methods,
 * priority, remote addresses, timeouts, websocket, the upstream as compiled
 * (nodes with weight and priority, balancer, hash key, retries, pass_host,
 * pool, TLS), and for what stays opaque once compiled (plugin confs, vars
 * expressions, health checks, a traffic-split's upstreams) the JSON they
 * were compiled from: the route's plugins, vars and inline upstream, and
 * the behavioural fields (plugins, checks, nodes and the other upstream
 * settings; not name, desc, labels or times) of the objects it depends on
 * (service, upstream, plugin_config, a traffic-split's upstream).
 * Failure modes: an object that fails in the second compile but not in the
 * first is the change's error; GW_ENOMEM. Skips are reported here, not
 * warned in the log. Threads: pure, any thread. */
#include "lib/err.h"
#include "proxy/config_int.h"
#include "proxy/proxy.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fp {
	char *id;
	const struct gw_proxy__route *r; /* compiled form (alive while its snapshot is) */
	uint64_t h;
};

struct fps {
	struct fp *v;
	size_t n, cap;
	bool oom;
	const struct fps *prev; /* the first pass (sorted): unchanged routes keep their hash */
};

struct skips {
	char **keys; /* "key\0why" */
	size_t n, cap;
	bool oom;
};

#define FNV_OFF 1469598103934665603ULL
#define FNV_MUL 1099511628211ULL

static void mix(uint64_t *h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++) {
		*h = (*h ^ b[i]) * FNV_MUL;
	}
}

static void mix_str(uint64_t *h, const char *s)
{
	mix(h, s != NULL ? s : "\x01", s != NULL ? strlen(s) + 1 : 1);
}

static void mix_int(uint64_t *h, long long v)
{
	mix(h, &v, sizeof v);
}

static void mix_timeouts(uint64_t *h, const struct gw_proxy__timeouts *t)
{
	mix_int(h, t->connect_ms);
	mix_int(h, t->send_ms);
	mix_int(h, t->read_ms);
}

static void mix_upstream(uint64_t *h, const struct gw_proxy__upstream *up)
{
	if (up == NULL) {
		mix_int(h, -1);
		return;
	}
	mix_int(h, up->type);
	for (size_t i = 0; i < up->n_nodes; i++) {
		mix_str(h, up->nodes[i].text);
		mix_str(h, up->nodes[i].host);
		mix_int(h, up->nodes[i].weight);
		mix_int(h, up->nodes[i].priority);
	}
	mix_int(h, (long long)up->n_nodes);
	mix_int(h, up->hash_on);
	mix_str(h, up->key);
	mix_int(h, up->retries);
	mix_int(h, up->retry_timeout_ms);
	mix_timeouts(h, &up->timeout);
	mix_int(h, up->pass_host);
	mix_str(h, up->upstream_host);
	mix_int(h, up->pool_size);
	mix_int(h, up->pool_idle_ms);
	mix_int(h, up->pool_requests);
	mix_int(h, up->hc != NULL);
	mix_int(h, up->tls);
	mix_int(h, up->tls_verify);
	mix_str(h, up->tls_client_cert_id);
}

/* The JSON of @fields of the object in @value (as written). */
static void mix_json_fields(uint64_t *h, const char *value, size_t len, const char *const *fields)
{
	cJSON *j = value != NULL ? cJSON_ParseWithLength(value, len) : NULL;

	for (size_t i = 0; fields[i] != NULL; i++) {
		char *t = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(j, fields[i]));
		mix_str(h, t);
		free(t);
	}
	cJSON_Delete(j);
}

static int fp_cmp(const void *x, const void *y)
{
	return strcmp(((const struct fp *)x)->id, ((const struct fp *)y)->id);
}

static void fingerprint(void *arg, const char *id, const struct gw_proxy__route *r,
			const char *value, size_t len, const struct gw_proxy_kv *deps,
			size_t n_deps)
{
	static const char *const own[] = {"plugins", "vars", "filter_func", "upstream", NULL};
	/* what of a service, upstream or plugin_config the route's compiled
	 * form holds opaquely (a traffic-split's upstream) or not at all */
	static const char *const dep[] = {
	    "plugins", "checks",  "nodes",         "type",           "hash_on",
	    "key",     "retries", "retry_timeout", "timeout",        "pass_host",
	    "scheme",  "tls",     "upstream_host", "keepalive_pool", NULL};
	struct fps *f = arg;
	uint64_t h = FNV_OFF;
	const struct fp *old = NULL;
	struct fp key = {NULL, NULL, 0};
	char *dup;

	if (f->prev != NULL && r != NULL) {
		key.id = (char *)id;
		old = f->prev->n > 0 ? bsearch(&key, f->prev->v, f->prev->n, sizeof key, fp_cmp)
				     : NULL;
	}
	if (old != NULL && old->r == r) {
		h = old->h; /* not recompiled: neither it nor what it uses changed */
	} else if (r != NULL) {
		for (size_t i = 0; i < r->n_hosts; i++) {
			mix_str(&h, r->hosts[i]);
		}
		mix_int(&h, (long long)r->n_hosts);
		for (size_t i = 0; i < r->n_uris; i++) {
			mix_str(&h, r->uris[i]);
		}
		mix_int(&h, (long long)r->n_uris);
		mix_int(&h, r->priority);
		mix_int(&h, r->methods);
		mix(&h, r->remote, r->n_remote * sizeof *r->remote);
		mix_int(&h, (long long)r->n_remote);
		mix_timeouts(&h, &r->timeout);
		mix_int(&h, r->websocket);
		mix_upstream(&h, r->up);
		for (size_t i = 0; i < r->n_plugins; i++) {
			mix_str(&h, r->plugins[i].p->name);
		}
		mix_str(&h, r->name);
		mix_str(&h, r->service_id);
		mix_json_fields(&h, value, len, own);
		for (size_t i = 0; i < n_deps; i++) {
			mix_json_fields(&h, deps[i].value, deps[i].value_len, dep);
		}
	} else {
		h = 0; /* not routed */
	}
	if (gw_proxy__grow((void **)&f->v, &f->cap, f->n + 1, sizeof *f->v) != 0 ||
	    (dup = strdup(id)) == NULL) {
		f->oom = true;
		return;
	}
	f->v[f->n].id = dup;
	f->v[f->n].r = r;
	f->v[f->n++].h = h;
}

static void fps_free(struct fps *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->v[i].id);
	}
	free(f->v);
}

static void on_skip(void *arg, const char *key, const char *why)
{
	struct skips *s = arg;
	size_t kl = strlen(key), wl = strlen(why);
	char *e;

	if (gw_proxy__grow((void **)&s->keys, &s->cap, s->n + 1, sizeof *s->keys) != 0 ||
	    (e = malloc(kl + wl + 2)) == NULL) {
		s->oom = true;
		return;
	}
	memcpy(e, key, kl + 1);
	memcpy(e + kl + 1, why, wl + 1);
	s->keys[s->n++] = e;
}

static bool skipped_in(const struct skips *s, const char *key)
{
	for (size_t i = 0; i < s->n; i++) {
		if (strcmp(s->keys[i], key) == 0) {
			return true;
		}
	}
	return false;
}

static void skips_free(struct skips *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->keys[i]);
	}
	free(s->keys);
}

/* Add @id to out->routes. */
static int add_route(struct gw_proxy_dry_run *out, const char *id, size_t *cap)
{
	char *dup;

	if (gw_proxy__grow((void **)&out->routes, cap, out->n_routes + 1, sizeof *out->routes) !=
		0 ||
	    (dup = strdup(id)) == NULL) {
		return GW_ENOMEM;
	}
	out->routes[out->n_routes++] = dup;
	return 0;
}

/* The routes of @a (before) and @b (after), both sorted, that differ. */
static int compare(const struct fps *a, const struct fps *b, struct gw_proxy_dry_run *out)
{
	size_t i = 0, j = 0, cap = 0;
	int rv = 0;

	while (rv == 0 && (i < a->n || j < b->n)) {
		int c = i == a->n ? 1 : j == b->n ? -1 : strcmp(a->v[i].id, b->v[j].id);
		if (c < 0) {
			rv = a->v[i].h != 0 ? add_route(out, a->v[i].id, &cap) : 0;
			i++;
		} else if (c > 0) {
			rv = b->v[j].h != 0 ? add_route(out, b->v[j].id, &cap) : 0;
			j++;
		} else {
			rv = a->v[i].h != b->v[j].h ? add_route(out, a->v[i].id, &cap) : 0;
			i++;
			j++;
		}
	}
	return rv;
}

/* "route 1: why" of the first object skipped after the change only. */
static int first_error(const struct skips *before, const struct skips *after, char **out)
{
	for (size_t i = 0; i < after->n; i++) {
		const char *key = after->keys[i], *why = key + strlen(key) + 1;
		const char *id = strrchr(key, '/');
		char kind[32] = "object";
		size_t need;

		if (skipped_in(before, key)) {
			continue;
		}
		if (strncmp(key, "/apisix/", 8) == 0 && id != NULL && id > key + 8) {
			size_t kl = (size_t)(id - (key + 8));
			kl = kl < sizeof kind - 1 ? kl : sizeof kind - 1;
			memcpy(kind, key + 8, kl);
			kind[kl] = '\0';
			if (kl > 1 && kind[kl - 1] == 's') {
				kind[kl - 1] = '\0'; /* routes -> route */
			}
		}
		id = id != NULL ? id + 1 : key;
		need = strlen(kind) + strlen(id) + strlen(why) + 4;
		*out = malloc(need);
		if (*out == NULL) {
			return GW_ENOMEM;
		}
		snprintf(*out, need, "%s %s: %s", kind, id, why);
		return 0;
	}
	return 0;
}

int gw_proxy_config_dry_run(const struct gw_proxy_kv *kvs, size_t n,
			    const struct gw_proxy_kv *changes, size_t n_changes, int64_t revision,
			    struct gw_proxy_dry_run *out)
{
	struct gw_proxy_cache *cc = NULL;
	struct gw_proxy_config *cfg = NULL, *first = NULL;
	struct skips before, after;
	struct fps a, b;
	int rv;

	memset(out, 0, sizeof *out);
	memset(&before, 0, sizeof before);
	memset(&after, 0, sizeof after);
	memset(&a, 0, sizeof a);
	memset(&b, 0, sizeof b);
	rv = gw_proxy_cache_new(&cc);
	if (rv == 0) {
		gw_proxy__cache_on_skip(cc, on_skip, &before);
		rv = gw_proxy_cache_sync(cc, kvs, n, revision, &first);
	}
	if (rv == 0) {
		gw_proxy__cache_routes(cc, fingerprint, &a);
		if (a.n > 1) {
			qsort(a.v, a.n, sizeof *a.v, fp_cmp);
		}
		b.prev = &a;
		gw_proxy__cache_on_skip(cc, on_skip, &after);
		rv = gw_proxy_cache_apply(cc, changes, n_changes, revision + 1, &cfg);
		gw_proxy_config_unref(cfg);
	}
	if (rv == 0) {
		gw_proxy__cache_routes(cc, fingerprint, &b);
		rv = a.oom || b.oom || before.oom || after.oom ? GW_ENOMEM : 0;
	}
	if (rv == 0) {
		if (b.n > 1) {
			qsort(b.v, b.n, sizeof *b.v, fp_cmp);
		}
		rv = compare(&a, &b, out);
	}
	if (rv == 0) {
		rv = first_error(&before, &after, &out->error);
	}
	gw_proxy_config_unref(first); /* kept the first pass's routes alive */
	gw_proxy_cache_free(cc);
	fps_free(&a);
	fps_free(&b);
	skips_free(&before);
	skips_free(&after);
	if (rv != 0) {
		gw_proxy_dry_run_free(out);
	}
	return rv;
}

void gw_proxy_dry_run_free(struct gw_proxy_dry_run *d)
{
	for (size_t i = 0; i < d->n_routes; i++) {
		free(d->routes[i]);
	}
	free(d->routes);
	free(d->error);
	memset(d, 0, sizeof *d);
}
