/* config_cache.c: the incremental config compiler (gw_proxy_cache_*).
 *
 * Happy path: the cache keeps one entry per /apisix/ key it knows: the
 * committed JSON, its revisions and its compiled unit (config_int.h), plus
 * the links "this entry depends on that one" (a route on its upstream,
 * service and plugin_config; a service on its upstream), recorded whether
 * or not the dependency exists yet. A change marks its entry dirty; dirty
 * entries are recompiled kind by kind (upstreams, services, plugin_configs,
 * global rules, routes), each recompile marking its dependents dirty, so
 * one pass reaches everything a change affects and nothing else. A route
 * whose unit changed becomes a router operation (remove the old, add the
 * new), appended to a log. The snapshot's router: up to ROUTERS routers are
 * kept with their position in the log; the most advanced one no snapshot
 * holds any more is brought up to date in place (sequential changes: the
 * previous-but-one, as workers switch at once); when all but the newest are
 * still in use, the newest is cloned (a copy, counted in the stats) and the
 * clone takes a slot (a third router after the first such burst). Global rules are merged again
 * only when one changed; that merged unit also holds every named upstream and service (a snapshot's
 * upstream table must stay valid even where no route reaches them). A snapshot then costs the
 * changed objects, a few router operations and a copy of the upstream table. Failure modes: a bad
 * object is skipped with one warning naming its key, as in a full compile (gw_proxy_config_compile
 * is this code with a fresh cache); out of memory fails the call with GW_ENOMEM, after which the
 * next snapshot rebuilds its router from the entries (they are kept consistent: an entry whose
 * recompile ran out of memory keeps no unit and is retried by the next sync). Threads: a cache is
 * used by one thread at a time; units and routers are freed by their last unref on any thread
 * (atomic counts), and a router is changed only when the cache holds its one reference. */
#include "config.h"

#include "lib/err.h"
#include "lib/log.h"
#include "proxy/config_int.h"
#include "proxy/conn_int.h"
#include "proxy/tls_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "this entry depends on that one": an element of on->dependents */
struct dlink {
	struct gw_proxy__cent *on, *from;
	struct dlink *prev, *next;
};

/* a route: service, upstream, plugin_config and a traffic-split's upstreams;
 * beyond this a dependency is not linked (a change of it misses the route) */
#define MAX_DEPS 8

struct gw_proxy__cent {
	enum gw_proxy__kind kind;
	char *key; /* malloc'ed, NUL-terminated: the map's key */
	size_t key_len;
	const char *id; /* into key */
	char *value;    /* malloc'ed JSON, or NULL: not defined (only referenced) */
	size_t value_len;
	int64_t create_revision, mod_revision;
	struct gw_proxy__unit *unit;    /* compiled object (one reference), or NULL */
	struct gw_proxy__route *routed; /* the route as in the router, or NULL */
	struct dlink *dependents;       /* entries depending on this one */
	struct dlink links[MAX_DEPS];   /* this entry's dependencies */
	size_t n_links;
	struct gw_proxy__dnsuse dns; /* host names its unit was compiled with */
	bool dirty, seen, listed;    /* listed: in cc->listed[kind] */
	bool dns_listed;             /* in cc->dns_users */
};

/* A router change: remove @old (if any), add @new (if any). The log holds a
 * reference on new's unit. */
struct rop {
	struct gw_proxy__route *old, *new;
};

struct ops {
	struct rop *v;
	size_t n, cap;
};

/* A router and how far into the log of route changes it is. */
struct rslot {
	struct gw_proxy__router *rt;
	size_t pos;
};

/* Routers kept for reuse: a snapshot's router is one of them brought up to
 * date, unless every one but the newest is still in use. */
#define ROUTERS 3

#define SSL_PREFIX      "/apisix/ssls/"
#define CONSUMER_PREFIX "/apisix/consumers/"
#define CGROUP_PREFIX   "/apisix/consumer_groups/"
#define META_PREFIX     "/apisix/plugin_metadata/"

struct gw_proxy_cache {
	struct gw_proxy__map keys; /* key -> entry */
	struct gw_proxy__cent **dirty[GW_PROXY__K_N];
	size_t n_dirty[GW_PROXY__K_N], cap_dirty[GW_PROXY__K_N];
	struct gw_proxy__upstream **ups; /* by balancer index; NULL holes */
	size_t n_ups, cap_ups;           /* n_ups: one past the highest index ever used */
	size_t *free_slots;              /* released indexes */
	size_t n_free, cap_free;
	/* entries of the kinds a snapshot holds directly (upstreams and
	 * services, which routes may not reach, and global rules) */
	struct gw_proxy__cent **listed[GW_PROXY__K_N];
	size_t n_listed[GW_PROXY__K_N], cap_listed[GW_PROXY__K_N];
	bool listed_changed;
	struct gw_proxy__unit *gunit;      /* merged global plugins; holds the listed units */
	struct rslot rts[ROUTERS];         /* routers of the last snapshots */
	size_t n_rts, cur;                 /* cur: the newest snapshot's */
	struct ops log;                    /* route changes, from the oldest router's position */
	size_t log_base;                   /* position of log.v[0] */
	bool broken;                       /* routers not trusted: rebuild from the entries */
	struct gw_proxy__router **retired; /* dropped routers snapshots still use */
	size_t n_retired, cap_retired;
	int64_t next_seq; /* creation order for inputs without one */
	int64_t revision;
	struct gw_proxy_cache_stats stats;
	/* Objects compiled as a whole when one of them changes, and shared by
	 * the snapshots until then: the ssls objects (the SNI table) and the
	 * consumers, their credentials and consumer groups (the index). */
	struct gw_proxy__kvset ssls, consumers;
	struct gw_proxy__kvset metas;    /* /apisix/plugin_metadata/ (plugin_metadata.c) */
	struct gw_proxy__unit *munit;    /* their compiled form (one reference), or NULL */
	struct gw_proxy__ssl_table *ssl; /* one reference, or NULL */
	struct gw_proxy__unit *cunit;    /* the consumer index (one reference), or NULL */
	/* Host-name nodes: the resolver (one reference, or NULL: names give
	 * no node) and the entries whose unit used a name. */
	struct gw_proxy__dns *dns;
	struct gw_proxy__cent **dns_users;
	size_t n_dns_users, cap_dns_users;
	size_t names_without_dns; /* host names met before a resolver was set */
	void (*on_skip)(void *arg, const char *key, const char *why); /* instead of warning */
	void *skip_arg;
};

static const char *const prefixes[GW_PROXY__K_N] = {"/apisix/upstreams/", "/apisix/services/",
						    "/apisix/plugin_configs/",
						    "/apisix/global_rules/", "/apisix/routes/"};
static const char *const kinds[GW_PROXY__K_N] = {"upstream", "service", "plugin_config",
						 "global_rule", "route"};

/* ---- units */

struct gw_proxy__unit *gw_proxy__unit_new(size_t hint)
{
	struct gw_proxy__unit *u = calloc(1, sizeof *u);
	if (u == NULL) {
		return NULL;
	}
	atomic_init(&u->refs, 1);
	gw_arena_init_sized(&u->arena, hint);
	return u;
}

void gw_proxy__unit_ref(struct gw_proxy__unit *u)
{
	if (u != NULL) {
		atomic_fetch_add_explicit(&u->refs, 1, memory_order_relaxed);
	}
}

void gw_proxy__unit_unref(struct gw_proxy__unit *u)
{
	if (u == NULL || atomic_fetch_sub_explicit(&u->refs, 1, memory_order_acq_rel) != 1) {
		return;
	}
	if (u->dtor != NULL) {
		u->dtor(u->obj);
	}
	for (struct gw_proxy__cleanup *k = u->cleanups; k != NULL; k = k->next) {
		k->fn(k->arg);
	}
	for (size_t i = 0; i < u->n_regexes; i++) {
		gw_regex_free(u->regexes[i]);
	}
	free(u->regexes);
	for (size_t i = 0; i < u->n_deps; i++) {
		gw_proxy__unit_unref(u->deps[i]);
	}
	free(u->deps);
	gw_arena_close(&u->arena);
	free(u);
}

/* @u keeps a reference on @dep. 0 or GW_ENOMEM. */
static int unit_hold(struct gw_proxy__unit *u, struct gw_proxy__unit *dep)
{
	if ((u->n_deps & (u->n_deps - 1)) == 0) {
		size_t cap = u->n_deps ? u->n_deps * 2 : 2;
		void *p = realloc(u->deps, cap * sizeof *u->deps);
		if (p == NULL) {
			return GW_ENOMEM;
		}
		u->deps = p;
	}
	gw_proxy__unit_ref(dep);
	u->deps[u->n_deps++] = dep;
	return 0;
}

/* ---- small growable arrays */

int gw_proxy__grow(void **v, size_t *cap, size_t need, size_t size)
{
	size_t c = *cap ? *cap : 8;
	void *p;
	if (need <= *cap) {
		return 0;
	}
	while (c < need) {
		c *= 2;
	}
	p = realloc(*v, c * size);
	if (p == NULL) {
		return GW_ENOMEM;
	}
	*v = p;
	*cap = c;
	return 0;
}

static int ops_push(struct ops *o, struct gw_proxy__route *old, struct gw_proxy__route *new)
{
	if (gw_proxy__grow((void **)&o->v, &o->cap, o->n + 1, sizeof *o->v) != 0) {
		return GW_ENOMEM;
	}
	o->v[o->n].old = old;
	o->v[o->n].new = new;
	o->n++;
	if (new != NULL) {
		gw_proxy__unit_ref(new->unit);
	}
	return 0;
}

static void ops_clear(struct ops *o)
{
	for (size_t i = 0; i < o->n; i++) {
		if (o->v[i].new != NULL) {
			gw_proxy__unit_unref(o->v[i].new->unit);
		}
	}
	o->n = 0;
}

/* ---- entries */

static struct gw_proxy__cent *entry_get(struct gw_proxy_cache *cc, const char *key, size_t len)
{
	return gw_proxy__map_get(&cc->keys, key, len);
}

/* The entry of @key (kind @k, id after its prefix), made empty if new. */
static struct gw_proxy__cent *entry_make(struct gw_proxy_cache *cc, enum gw_proxy__kind k,
					 const char *key, size_t len)
{
	struct gw_proxy__cent *e = entry_get(cc, key, len);
	if (e != NULL) {
		return e;
	}
	e = calloc(1, sizeof *e);
	if (e == NULL || (e->key = malloc(len + 1)) == NULL) {
		free(e);
		return NULL;
	}
	memcpy(e->key, key, len);
	e->key[len] = '\0';
	e->key_len = len;
	e->kind = k;
	e->id = e->key + strlen(prefixes[k]);
	if (gw_proxy__map_put(&cc->keys, e->key, len, e) != 0) {
		free(e->key);
		free(e);
		return NULL;
	}
	cc->stats.entries++;
	return e;
}

static void entry_maybe_free(struct gw_proxy_cache *cc, struct gw_proxy__cent *e);

static void unlink_deps(struct gw_proxy_cache *cc, struct gw_proxy__cent *e)
{
	for (size_t i = 0; i < e->n_links; i++) {
		struct dlink *l = &e->links[i];
		if (l->prev != NULL) {
			l->prev->next = l->next;
		} else {
			l->on->dependents = l->next;
		}
		if (l->next != NULL) {
			l->next->prev = l->prev;
		}
		entry_maybe_free(cc, l->on);
	}
	e->n_links = 0;
}

/* Free @e once nothing defines it, nothing depends on it and it is not
 * waiting in a dirty list. */
static void entry_maybe_free(struct gw_proxy_cache *cc, struct gw_proxy__cent *e)
{
	if (e->value != NULL || e->dependents != NULL || e->unit != NULL || e->dirty || e->listed ||
	    e->dns_listed) {
		return;
	}
	unlink_deps(cc, e);
	gw_proxy__map_del(&cc->keys, e->key, e->key_len);
	cc->stats.entries--;
	free(e->key);
	free(e);
}

static int mark_dirty(struct gw_proxy_cache *cc, struct gw_proxy__cent *e)
{
	enum gw_proxy__kind k = e->kind;
	if (e->dirty) {
		return 0;
	}
	if (gw_proxy__grow((void **)&cc->dirty[k], &cc->cap_dirty[k], cc->n_dirty[k] + 1,
			   sizeof *cc->dirty[k]) != 0) {
		return GW_ENOMEM;
	}
	cc->dirty[k][cc->n_dirty[k]++] = e;
	e->dirty = true;
	return 0;
}

/* Kind of @key (an id after the prefix: non-empty, no '/', < 256 bytes),
 * or -1 for keys the proxy does not compile. */
static int kind_of(const char *key, size_t len)
{
	for (int k = 0; k < GW_PROXY__K_N; k++) {
		size_t pl = strlen(prefixes[k]);
		if (len > pl && len - pl < 256 && memcmp(key, prefixes[k], pl) == 0) {
			return memchr(key + pl, '/', len - pl) == NULL ? k : -1;
		}
	}
	return -1;
}

/* Record one put (value != NULL) or delete of @kv. */
static int record(struct gw_proxy_cache *cc, const struct gw_proxy_kv *kv)
{
	int k = kind_of(kv->key, kv->key_len);
	struct gw_proxy__cent *e;

	if (k < 0) {
		if (gw_proxy__kv_has_prefix(kv, SSL_PREFIX)) {
			return gw_proxy__kvset_record(&cc->ssls, kv);
		}
		if (gw_proxy__kv_has_prefix(kv, CONSUMER_PREFIX) ||
		    gw_proxy__kv_has_prefix(kv, CGROUP_PREFIX)) {
			return gw_proxy__kvset_record(&cc->consumers, kv);
		}
		if (gw_proxy__kv_has_prefix(kv, META_PREFIX)) {
			return gw_proxy__kvset_record(&cc->metas, kv);
		}
		return 0;
	}
	if (kv->value == NULL) {
		e = entry_get(cc, kv->key, kv->key_len);
		if (e == NULL || e->value == NULL ||
		    (kv->mod_revision != 0 && kv->mod_revision < e->mod_revision)) {
			return 0; /* absent, or older than what the cache holds */
		}
		free(e->value);
		e->value = NULL;
		e->value_len = 0;
		return mark_dirty(cc, e);
	}
	e = entry_make(cc, (enum gw_proxy__kind)k, kv->key, kv->key_len);
	if (e == NULL) {
		return GW_ENOMEM;
	}
	e->seen = true;
	if (e->value != NULL && kv->mod_revision != 0 && e->mod_revision >= kv->mod_revision) {
		return 0; /* unchanged (a sync), or an event older than a sync's read */
	}
	{
		char *v = malloc(kv->value_len + 1);
		if (v == NULL) {
			return GW_ENOMEM;
		}
		memcpy(v, kv->value, kv->value_len);
		v[kv->value_len] = '\0';
		if (kv->create_revision != 0) {
			e->create_revision = kv->create_revision;
		} else if (e->value == NULL) {
			e->create_revision = ++cc->next_seq;
		}
		if (e->create_revision > cc->next_seq) {
			cc->next_seq = e->create_revision;
		}
		free(e->value);
		e->value = v;
		e->value_len = kv->value_len;
		e->mod_revision = kv->mod_revision;
	}
	return mark_dirty(cc, e);
}

/* ---- the compile helpers of config_int.h */

void *gw_proxy__c_dep(struct gw_proxy__compiler *c, enum gw_proxy__kind k, const char *id)
{
	struct gw_proxy__cent *e = c->e, *on;
	char key[300];
	int n = snprintf(key, sizeof key, "%s%s", prefixes[k], id);
	size_t i;

	if (n < 0 || (size_t)n >= sizeof key || kind_of(key, (size_t)n) != (int)k) {
		return NULL; /* not an id a key can have: never found */
	}
	on = entry_make(c->cc, k, key, (size_t)n);
	if (on == NULL) {
		c->oom = true;
		return NULL;
	}
	for (i = 0; i < e->n_links && e->links[i].on != on; i++) {
	}
	if (i == e->n_links && e->n_links < MAX_DEPS) {
		struct dlink *l = &e->links[e->n_links++];
		l->on = on;
		l->from = e;
		l->prev = NULL;
		l->next = on->dependents;
		if (on->dependents != NULL) {
			on->dependents->prev = l;
		}
		on->dependents = l;
	}
	if (on->unit == NULL) {
		return NULL;
	}
	if (unit_hold(c->u, on->unit) != 0) {
		c->oom = true;
		return NULL;
	}
	return on->unit->obj;
}

const char *gw_proxy__c_key(const struct gw_proxy__compiler *c)
{
	return c->e != NULL ? c->e->key : "";
}

int gw_proxy__c_upstream_slot(struct gw_proxy__compiler *c, struct gw_proxy__upstream *up)
{
	struct gw_proxy_cache *cc = c->cc;
	size_t idx;

	if (cc->n_free > 0) {
		idx = cc->free_slots[--cc->n_free];
	} else {
		if (gw_proxy__grow((void **)&cc->ups, &cc->cap_ups, cc->n_ups + 1,
				   sizeof *cc->ups) != 0) {
			return GW_ENOMEM;
		}
		idx = cc->n_ups++;
	}
	up->index = idx;
	cc->ups[idx] = up;
	c->u->own = up;
	return 0;
}

/* The balancer slot of @u's upstream (if any) leaves the table, for reuse
 * (out of memory: the index is simply not reused). */
static void slot_release(struct gw_proxy_cache *cc, struct gw_proxy__unit *u)
{
	if (u == NULL || u->own == NULL) {
		return;
	}
	cc->ups[u->own->index] = NULL;
	if (gw_proxy__grow((void **)&cc->free_slots, &cc->cap_free, cc->n_free + 1,
			   sizeof *cc->free_slots) == 0) {
		cc->free_slots[cc->n_free++] = u->own->index;
	}
}

/* ---- recompiling one entry */

/* Compile @e's JSON into a new unit: 0 with *out (NULL for a disabled
 * route), GW_EINVAL (warned) or GW_ENOMEM. */
static int compile_entry(struct gw_proxy_cache *cc, struct gw_proxy__cent *e,
			 struct gw_proxy__unit **out, struct gw_proxy__dnsuse *names)
{
	struct gw_proxy__compiler c;
	cJSON *j;
	int rv;

	memset(&c, 0, sizeof c);
	c.cc = cc;
	c.e = e;
	c.revision = cc->revision;
	c.u = gw_proxy__unit_new(512 + 4 * e->value_len);
	if (c.u == NULL) {
		return GW_ENOMEM;
	}
	c.why = "invalid JSON";
	j = cJSON_ParseWithLength(e->value, e->value_len);
	if (j == NULL) {
		rv = GW_EINVAL;
	} else if (!(e->kind == GW_PROXY__K_ROUTE && gw_proxy__route_disabled(j)) &&
		   (rv = gw_schema_check(kinds[e->kind], j, GW_SCHEMA_PROXY, c.whybuf,
					 sizeof c.whybuf)) != 0) {
		c.why = c.whybuf; /* the Admin API refuses it too */
	} else if (e->kind == GW_PROXY__K_UPSTREAM) {
		struct gw_proxy__upstream *up = NULL;
		rv = gw_proxy__compile_upstream(&c, j, e->id, &up);
		if (rv == 0 && gw_proxy__register_upstream(&c, up) != 0) {
			rv = GW_ENOMEM;
		}
		c.u->obj = up;
	} else if (e->kind == GW_PROXY__K_SERVICE) {
		struct gw_proxy__svc *s = NULL;
		rv = gw_proxy__compile_service(&c, j, &s);
		c.u->obj = s;
	} else if (e->kind == GW_PROXY__K_PLUGIN_CONFIG || e->kind == GW_PROXY__K_GLOBAL_RULE) {
		struct gw_proxy__pset *ps = NULL;
		rv = gw_proxy__compile_pset(&c, j, &ps);
		c.u->obj = ps;
	} else {
		struct gw_proxy__route *r = NULL;
		rv = gw_proxy__compile_route(&c, j, e->id, e->create_revision, &r);
		c.u->obj = r;
	}
	cJSON_Delete(j);
	*names = c.dns; /* also when skipped: a name that resolves may fix it */
	if (rv == GW_ENOMEM || c.oom) {
		rv = GW_ENOMEM;
	} else if (rv < 0 && cc->on_skip != NULL) {
		cc->on_skip(cc->skip_arg, e->key, c.why);
	} else if (rv < 0) {
		gw_warnf("proxy", "%s %s skipped (revision %lld): %s", kinds[e->kind], e->id,
			 (long long)cc->revision, c.why);
	}
	if (rv != 0) {
		/* skipped (warned), a disabled route (1) or out of memory; a slot
		 * taken by the failed unit goes back */
		slot_release(cc, c.u);
		gw_proxy__unit_unref(c.u);
		*out = NULL;
		return rv == GW_ENOMEM ? GW_ENOMEM : 0;
	}
	*out = c.u;
	return 0;
}

static bool is_listed_kind(enum gw_proxy__kind k)
{
	return k == GW_PROXY__K_UPSTREAM || k == GW_PROXY__K_SERVICE ||
	       k == GW_PROXY__K_GLOBAL_RULE;
}

static int listed_track(struct gw_proxy_cache *cc, struct gw_proxy__cent *e)
{
	enum gw_proxy__kind k = e->kind;
	cc->listed_changed = true;
	if (e->value != NULL && !e->listed) {
		if (gw_proxy__grow((void **)&cc->listed[k], &cc->cap_listed[k], cc->n_listed[k] + 1,
				   sizeof *cc->listed[k]) != 0) {
			return GW_ENOMEM;
		}
		cc->listed[k][cc->n_listed[k]++] = e;
		e->listed = true;
	} else if (e->value == NULL && e->listed) {
		for (size_t i = 0; i < cc->n_listed[k]; i++) {
			if (cc->listed[k][i] == e) {
				cc->listed[k][i] = cc->listed[k][--cc->n_listed[k]];
				break;
			}
		}
		e->listed = false;
	}
	return 0;
}

/* @e's unit now uses @names (taken): release the old ones and keep
 * cc->dns_users in step. 0 or GW_ENOMEM (then @e's names are dropped: a
 * change of their addresses is missed until @e changes). */
static int dns_track(struct gw_proxy_cache *cc, struct gw_proxy__cent *e,
		     struct gw_proxy__dnsuse *names)
{
	if (cc->dns != NULL) {
		gw_proxy__dnsuse_clear(cc->dns, &e->dns);
	}
	e->dns = *names;
	memset(names, 0, sizeof *names);
	if (e->dns.n > 0 && !e->dns_listed) {
		if (gw_proxy__grow((void **)&cc->dns_users, &cc->cap_dns_users, cc->n_dns_users + 1,
				   sizeof *cc->dns_users) != 0) {
			gw_proxy__dnsuse_clear(cc->dns, &e->dns);
			return GW_ENOMEM;
		}
		cc->dns_users[cc->n_dns_users++] = e;
		e->dns_listed = true;
	} else if (e->dns.n == 0 && e->dns_listed) {
		for (size_t i = 0; i < cc->n_dns_users; i++) {
			if (cc->dns_users[i] == e) {
				cc->dns_users[i] = cc->dns_users[--cc->n_dns_users];
				break;
			}
		}
		e->dns_listed = false;
	}
	return 0;
}

/* Mark dirty every entry compiled with addresses a name no longer has.
 * 0 or GW_ENOMEM. */
static int dns_dirty(struct gw_proxy_cache *cc)
{
	for (size_t i = 0; cc->dns != NULL && i < cc->n_dns_users; i++) {
		struct gw_proxy__cent *e = cc->dns_users[i];
		if (!e->dirty && gw_proxy__dnsuse_stale(cc->dns, &e->dns) &&
		    mark_dirty(cc, e) != 0) {
			return GW_ENOMEM;
		}
	}
	return 0;
}

int gw_proxy__c_resolve(struct gw_proxy__compiler *c, const char *name, struct in6_addr *out,
			size_t max, size_t *n)
{
	int rv;
	*n = 0;
	if (c->cc->dns == NULL) {
		c->cc->names_without_dns++;
		return 0; /* no resolver (yet): no node from a name */
	}
	rv = gw_proxy__dns_use(c->cc->dns, name, out, max, n, &c->dns);
	if (rv == GW_ENOMEM) {
		c->oom = true;
	}
	return rv;
}

void gw_proxy_cache_use_dns(struct gw_proxy_cache *cc, struct gw_proxy *p,
			    void (*changed)(void *arg), void *arg)
{
	if (p->dns == NULL || cc->dns != NULL) {
		return;
	}
	gw_proxy__dns_ref(p->dns);
	cc->dns = p->dns;
	gw_proxy__dns_notify(cc->dns, changed, arg);
}

bool gw_proxy_cache_names_unresolved(const struct gw_proxy_cache *cc)
{
	return cc->dns == NULL && cc->names_without_dns > 0;
}

void gw_proxy_cache_dns_notify(struct gw_proxy_cache *cc, void (*changed)(void *arg), void *arg)
{
	if (cc->dns != NULL) {
		gw_proxy__dns_notify(cc->dns, changed, arg);
	}
}

static int recompile(struct gw_proxy_cache *cc, struct gw_proxy__cent *e)
{
	struct gw_proxy__unit *old = e->unit, *new = NULL;
	struct gw_proxy__route *newr = NULL;
	int rv = 0;

	struct gw_proxy__dnsuse names = {0};

	unlink_deps(cc, e);
	if (e->value != NULL) {
		rv = compile_entry(cc, e, &new, &names);
		cc->stats.objects_compiled++;
		cc->stats.last_compiled++;
	}
	if (dns_track(cc, e, &names) != 0 && rv == 0) {
		rv = GW_ENOMEM;
	}
	slot_release(cc, old);
	if (rv == 0 && e->kind == GW_PROXY__K_ROUTE) {
		newr = new != NULL ? new->obj : NULL;
		if ((e->routed != NULL || newr != NULL) &&
		    ops_push(&cc->log, e->routed, newr) != 0) {
			rv = GW_ENOMEM;
		}
	}
	if (rv == 0 && is_listed_kind(e->kind)) {
		rv = listed_track(cc, e);
	}
	if (rv != 0) {
		/* out of memory: the entry keeps no unit; the routers are rebuilt
		 * from the entries and a later sync recompiles it */
		slot_release(cc, new);
		gw_proxy__unit_unref(new);
		new = NULL;
		newr = NULL;
		e->mod_revision = 0;
		cc->broken = true;
	}
	e->unit = new;
	if (e->kind == GW_PROXY__K_ROUTE) {
		e->routed = newr;
	}
	gw_proxy__unit_unref(old);
	for (struct dlink *l = e->dependents; l != NULL; l = l->next) {
		if (mark_dirty(cc, l->from) != 0) {
			return GW_ENOMEM;
		}
	}
	return rv;
}

/* ---- the snapshot */

/* Apply the logged route changes from position @from to @rt. */
static int apply_log(struct gw_proxy_cache *cc, struct gw_proxy__router *rt, size_t from)
{
	for (size_t i = from - cc->log_base; i < cc->log.n; i++) {
		const struct rop *o = &cc->log.v[i];
		if (o->old != NULL) {
			gw_proxy__router_remove(rt, o->old);
		}
		if (o->new != NULL && gw_proxy__router_add(rt, o->new) != 0) {
			return GW_ENOMEM; /* GW_EINVAL cannot happen: uris are checked */
		}
	}
	return 0;
}

static int by_seq(const void *a, const void *b)
{
	const struct gw_proxy__route *x = *(struct gw_proxy__route *const *)a;
	const struct gw_proxy__route *y = *(struct gw_proxy__route *const *)b;
	if (x->seq != y->seq) {
		return x->seq < y->seq ? -1 : 1;
	}
	return strcmp(x->id, y->id);
}

/* A router holding every routed entry, from scratch. */
static struct gw_proxy__router *router_rebuild(struct gw_proxy_cache *cc)
{
	struct gw_proxy__router *rt = gw_proxy__router_new();
	struct gw_proxy__route **v;
	size_t n = 0;

	if (rt == NULL) {
		return NULL;
	}
	v = malloc((cc->keys.n ? cc->keys.n : 1) * sizeof *v);
	if (v == NULL) {
		gw_proxy__router_unref(rt);
		return NULL;
	}
	for (size_t i = 0; i < cc->keys.cap; i++) {
		struct gw_proxy__cent *e = cc->keys.ents[i].val;
		if (e != NULL && e->routed != NULL) {
			v[n++] = e->routed;
		}
	}
	qsort(v, n, sizeof *v, by_seq);
	for (size_t i = 0; i < n; i++) {
		if (gw_proxy__router_add(rt, v[i]) != 0) {
			free(v);
			gw_proxy__router_unref(rt);
			return NULL;
		}
	}
	free(v);
	return rt;
}

/* Drop the cache's reference on @rt. A router still used by a snapshot is
 * kept in a list and freed here by a later call once it is the last
 * reference, so a worker never pays for freeing 100,000 routes. */
static void retire(struct gw_proxy_cache *cc, struct gw_proxy__router *rt)
{
	if (rt == NULL) {
		return;
	}
	if (atomic_load_explicit(&rt->refs, memory_order_acquire) > 1 &&
	    gw_proxy__grow((void **)&cc->retired, &cc->cap_retired, cc->n_retired + 1,
			   sizeof *cc->retired) == 0) {
		cc->retired[cc->n_retired++] = rt;
		return;
	}
	gw_proxy__router_unref(rt);
}

static void sweep(struct gw_proxy_cache *cc)
{
	for (size_t i = 0; i < cc->n_retired;) {
		struct gw_proxy__router *rt = cc->retired[i];
		if (atomic_load_explicit(&rt->refs, memory_order_acquire) == 1) {
			gw_proxy__router_unref(rt);
			cc->retired[i] = cc->retired[--cc->n_retired];
		} else {
			i++;
		}
	}
}

/* Drop the log entries every router has applied. */
static void log_trim(struct gw_proxy_cache *cc)
{
	size_t min = cc->log_base + cc->log.n, k;
	for (size_t i = 0; i < cc->n_rts; i++) {
		if (cc->rts[i].pos < min) {
			min = cc->rts[i].pos;
		}
	}
	k = min - cc->log_base;
	for (size_t i = 0; i < k; i++) {
		if (cc->log.v[i].new != NULL) {
			gw_proxy__unit_unref(cc->log.v[i].new->unit);
		}
	}
	if (k > 0) {
		memmove(cc->log.v, cc->log.v + k, (cc->log.n - k) * sizeof *cc->log.v);
		cc->log.n -= k;
	}
	cc->log_base = min;
}

static void routers_drop(struct gw_proxy_cache *cc)
{
	for (size_t i = 0; i < cc->n_rts; i++) {
		retire(cc, cc->rts[i].rt);
	}
	cc->n_rts = 0;
	cc->cur = 0;
}

/* The router of the next snapshot, with every logged change applied: a kept
 * router no snapshot uses (the most advanced one), else a clone of the
 * newest. NULL: out of memory (then the routers are rebuilt next time). */
static struct gw_proxy__router *router_next(struct gw_proxy_cache *cc)
{
	size_t end = cc->log_base + cc->log.n, i;
	struct gw_proxy__router *rt;
	int best = -1;

	if (cc->broken) {
		rt = router_rebuild(cc);
		if (rt == NULL) {
			return NULL;
		}
		routers_drop(cc);
		ops_clear(&cc->log);
		cc->rts[0].rt = rt;
		cc->rts[0].pos = cc->log_base;
		cc->n_rts = 1;
		cc->broken = false;
		return rt;
	}
	for (i = 0; i < cc->n_rts; i++) {
		if (i != cc->cur &&
		    atomic_load_explicit(&cc->rts[i].rt->refs, memory_order_acquire) == 1 &&
		    (best < 0 || cc->rts[i].pos > cc->rts[best].pos)) {
			best = (int)i;
		}
	}
	if (best >= 0) {
		/* no snapshot uses it any more: bring it up to date in place */
		i = (size_t)best;
		if (apply_log(cc, cc->rts[i].rt, cc->rts[i].pos) != 0) {
			cc->broken = true;
			return NULL;
		}
		cc->stats.router_reuses++;
	} else {
		size_t from = cc->n_rts ? cc->rts[cc->cur].pos : cc->log_base;
		rt = cc->n_rts ? gw_proxy__router_clone(cc->rts[cc->cur].rt)
			       : gw_proxy__router_new();
		if (rt == NULL || apply_log(cc, rt, from) != 0) {
			gw_proxy__router_unref(rt);
			cc->broken = true;
			return NULL;
		}
		if (cc->n_rts < ROUTERS) {
			i = cc->n_rts++;
		} else {
			/* replace the least advanced of the others (all in use) */
			i = cc->cur == 0 ? 1 : 0;
			for (size_t k = 0; k < cc->n_rts; k++) {
				if (k != cc->cur && cc->rts[k].pos < cc->rts[i].pos) {
					i = k;
				}
			}
			retire(cc, cc->rts[i].rt);
		}
		cc->rts[i].rt = rt;
		cc->stats.router_copies++;
	}
	cc->rts[i].pos = end;
	cc->cur = i;
	log_trim(cc);
	return cc->rts[i].rt;
}

static int by_create(const void *a, const void *b)
{
	const struct gw_proxy__cent *x = *(struct gw_proxy__cent *const *)a;
	const struct gw_proxy__cent *y = *(struct gw_proxy__cent *const *)b;
	if (x->create_revision != y->create_revision) {
		return x->create_revision < y->create_revision ? -1 : 1;
	}
	return strcmp(x->key, y->key);
}

/* A new gunit: every global rule's plugins, one instance per plugin (the
 * first rule in creation order wins), holding the listed units (so a
 * snapshot keeps every upstream of its table alive). */
static int globals_merge(struct gw_proxy_cache *cc)
{
	struct gw_proxy__compiler c;
	struct gw_proxy__pset *sets = NULL, *merged;
	size_t n = 0, ng = cc->n_listed[GW_PROXY__K_GLOBAL_RULE];
	struct gw_proxy__cent **g = cc->listed[GW_PROXY__K_GLOBAL_RULE];

	memset(&c, 0, sizeof c);
	c.cc = cc;
	c.u = gw_proxy__unit_new(256);
	if (c.u == NULL) {
		return GW_ENOMEM;
	}
	if (ng > 1) {
		qsort(g, ng, sizeof *g, by_create);
	}
	sets = calloc(ng + 1, sizeof *sets);
	merged = calloc_cfg(&c, sizeof *merged);
	if (sets == NULL || merged == NULL) {
		goto err;
	}
	for (int k = 0; k < GW_PROXY__K_N; k++) {
		for (size_t i = 0; i < cc->n_listed[k]; i++) {
			struct gw_proxy__unit *lu = cc->listed[k][i]->unit;
			if (lu == NULL) {
				continue; /* did not compile */
			}
			if (unit_hold(c.u, lu) != 0) {
				goto err;
			}
			if (k == GW_PROXY__K_GLOBAL_RULE) {
				sets[n++] = *(struct gw_proxy__pset *)lu->obj;
			}
		}
	}
	if (gw_proxy__merge_sets(&c, sets, n, &merged->v, &merged->n) != 0) {
		goto err;
	}
	c.u->obj = merged;
	free(sets);
	gw_proxy__unit_unref(cc->gunit);
	cc->gunit = c.u;
	cc->listed_changed = false;
	return 0;
err:
	free(sets);
	gw_proxy__unit_unref(c.u);
	return GW_ENOMEM;
}

/* Recompile what is dirty and make the snapshot. */
static int build(struct gw_proxy_cache *cc, int64_t revision, struct gw_proxy_config **out)
{
	struct gw_proxy_config *cfg;
	struct gw_proxy__router *rt;
	int rv = 0;

	cc->revision = revision;
	cc->stats.last_compiled = 0;
	sweep(cc);
	if (dns_dirty(cc) != 0) {
		cc->broken = true;
		return GW_ENOMEM;
	}
	for (int k = 0; k < GW_PROXY__K_N; k++) {
		/* recompiles mark only later kinds dirty: this list is stable */
		for (size_t i = 0; i < cc->n_dirty[k]; i++) {
			struct gw_proxy__cent *e = cc->dirty[k][i];
			int r;
			e->dirty = false;
			r = recompile(cc, e);
			rv = rv != 0 ? rv : r;
			entry_maybe_free(cc, e);
		}
		cc->n_dirty[k] = 0;
	}
	if (rv == 0 && (cc->listed_changed || cc->gunit == NULL)) {
		rv = globals_merge(cc);
	}
	if (rv == 0 && cc->ssls.dirty) {
		struct gw_proxy__ssl_table *t = NULL;
		rv = gw_proxy__ssl_compile(cc->ssls.v, cc->ssls.n, revision, &t);
		if (rv == 0) {
			gw_proxy__ssl_table_free(cc->ssl);
			cc->ssl = t;
			cc->ssls.dirty = false;
		}
	}
	if (rv == 0 && cc->consumers.dirty) {
		struct gw_proxy__unit *u = NULL;
		rv = gw_proxy__consumers_unit(cc, &cc->consumers, revision, &u);
		if (rv == 0) {
			gw_proxy__unit_unref(cc->cunit);
			cc->cunit = u;
			cc->consumers.dirty = false;
		}
	}
	if (rv == 0 && cc->metas.dirty) {
		struct gw_proxy__unit *u = NULL;
		rv = gw_proxy__metadata_unit(&cc->metas, &u);
		if (rv == 0) {
			gw_proxy__unit_unref(cc->munit);
			cc->munit = u;
			cc->metas.dirty = false;
		}
	}
	if (rv != 0) {
		cc->broken = true;
		return rv;
	}
	cfg = calloc(1, sizeof *cfg);
	if (cfg == NULL ||
	    (cfg->ups = malloc((cc->n_ups ? cc->n_ups : 1) * sizeof *cfg->ups)) == NULL) {
		free(cfg);
		cc->broken = true;
		return GW_ENOMEM;
	}
	rt = router_next(cc);
	if (rt == NULL) {
		free(cfg->ups);
		free(cfg);
		return GW_ENOMEM;
	}
	atomic_init(&cfg->refs, 1);
	cfg->revision = revision;
	atomic_fetch_add_explicit(&rt->refs, 1, memory_order_relaxed);
	cfg->router = rt;
	cfg->routes = rt->routes;
	cfg->n_routes = rt->n_routes;
	if (cc->n_ups > 0) {
		memcpy(cfg->ups, cc->ups, cc->n_ups * sizeof *cfg->ups);
	}
	cfg->n_ups = cc->n_ups;
	gw_proxy__unit_ref(cc->gunit);
	cfg->gunit = cc->gunit;
	gw_proxy__ssl_table_ref(cc->ssl);
	cfg->ssl = cc->ssl;
	gw_proxy__unit_ref(cc->cunit);
	cfg->cunit = cc->cunit;
	cfg->consumers = cc->cunit != NULL ? cc->cunit->obj : NULL;
	gw_proxy__unit_ref(cc->munit);
	cfg->munit = cc->munit;
	cfg->meta = cc->munit != NULL ? cc->munit->obj : NULL;
	cfg->global = ((struct gw_proxy__pset *)cc->gunit->obj)->v;
	cfg->n_global = ((struct gw_proxy__pset *)cc->gunit->obj)->n;
	*out = cfg;
	return 0;
}

/* ---- entry points */

int gw_proxy_cache_new(struct gw_proxy_cache **out)
{
	struct gw_proxy_cache *cc = calloc(1, sizeof *cc);
	if (cc == NULL) {
		return GW_ENOMEM;
	}
	gw_proxy__map_init(&cc->keys);
	*out = cc;
	return 0;
}

void gw_proxy_cache_free(struct gw_proxy_cache *cc)
{
	if (cc == NULL) {
		return;
	}
	ops_clear(&cc->log);
	free(cc->log.v);
	for (size_t i = 0; i < cc->n_rts; i++) {
		gw_proxy__router_unref(cc->rts[i].rt);
	}
	for (size_t i = 0; i < cc->n_retired; i++) {
		gw_proxy__router_unref(cc->retired[i]);
	}
	free(cc->retired);
	gw_proxy__unit_unref(cc->gunit);
	for (size_t i = 0; i < cc->keys.cap; i++) {
		struct gw_proxy__cent *e = cc->keys.ents[i].val;
		if (e != NULL) {
			if (cc->dns != NULL) {
				gw_proxy__dnsuse_clear(cc->dns, &e->dns);
			}
			gw_proxy__unit_unref(e->unit);
			free(e->value);
			free(e->key);
			free(e);
		}
	}
	gw_proxy__map_close(&cc->keys);
	for (int k = 0; k < GW_PROXY__K_N; k++) {
		free(cc->dirty[k]);
	}
	free(cc->ups);
	free(cc->free_slots);
	gw_proxy__kvset_free(&cc->ssls);
	gw_proxy__kvset_free(&cc->consumers);
	gw_proxy__kvset_free(&cc->metas);
	gw_proxy__ssl_table_free(cc->ssl);
	gw_proxy__unit_unref(cc->cunit);
	gw_proxy__unit_unref(cc->munit);
	for (int k = 0; k < GW_PROXY__K_N; k++) {
		free(cc->listed[k]);
	}
	free(cc->dns_users);
	if (cc->dns != NULL) {
		gw_proxy__dns_notify(cc->dns, NULL, NULL);
		gw_proxy__dns_unref(cc->dns);
	}
	free(cc);
}

int gw_proxy_cache_apply(struct gw_proxy_cache *cc, const struct gw_proxy_kv *changes, size_t n,
			 int64_t revision, struct gw_proxy_config **out)
{
	for (size_t i = 0; i < n; i++) {
		int rv = record(cc, &changes[i]);
		if (rv != 0) {
			cc->broken = true;
			return rv;
		}
	}
	return build(cc, revision, out);
}

int gw_proxy_cache_sync(struct gw_proxy_cache *cc, const struct gw_proxy_kv *kvs, size_t n,
			int64_t revision, struct gw_proxy_config **out)
{
	int rv = 0;

	for (size_t i = 0; i < cc->keys.cap; i++) {
		struct gw_proxy__cent *e = cc->keys.ents[i].val;
		if (e != NULL) {
			e->seen = false;
		}
	}
	/* the ssls objects and consumers are all listed again */
	gw_proxy__kvset_clear(&cc->ssls);
	gw_proxy__kvset_clear(&cc->consumers);
	gw_proxy__kvset_clear(&cc->metas);
	for (size_t i = 0; i < n && rv == 0; i++) {
		struct gw_proxy_kv kv = kvs[i];
		if (kv.value == NULL) {
			kv.value = ""; /* a sync lists values only */
		}
		rv = record(cc, &kv);
	}
	/* what the config no longer holds is deleted */
	for (size_t i = 0; i < cc->keys.cap && rv == 0; i++) {
		struct gw_proxy__cent *e = cc->keys.ents[i].val;
		if (e != NULL && e->value != NULL && !e->seen) {
			free(e->value);
			e->value = NULL;
			e->value_len = 0;
			rv = mark_dirty(cc, e);
		}
	}
	if (rv != 0) {
		cc->broken = true;
		return rv;
	}
	return build(cc, revision, out);
}

void gw_proxy_cache_stats(const struct gw_proxy_cache *cc, struct gw_proxy_cache_stats *out)
{
	*out = cc->stats;
}

void gw_proxy__cache_on_skip(struct gw_proxy_cache *cc,
			     void (*fn)(void *arg, const char *key, const char *why), void *arg)
{
	cc->on_skip = fn;
	cc->skip_arg = arg;
}

void gw_proxy__cache_routes(const struct gw_proxy_cache *cc, gw_proxy__route_fn fn, void *arg)
{
	for (size_t i = 0; i < cc->keys.cap; i++) {
		const struct gw_proxy__cent *e = cc->keys.ents[i].val;
		struct gw_proxy_kv deps[MAX_DEPS];
		size_t n = 0;

		if (e == NULL || e->kind != GW_PROXY__K_ROUTE || e->value == NULL) {
			continue;
		}
		for (size_t k = 0; k < e->n_links; k++) {
			const struct gw_proxy__cent *on = e->links[k].on;
			memset(&deps[n], 0, sizeof deps[n]);
			deps[n].key = on->key;
			deps[n].key_len = on->key_len;
			deps[n].value = on->value;
			deps[n++].value_len = on->value_len;
		}
		fn(arg, e->id, e->unit != NULL ? e->unit->obj : NULL, e->value, e->value_len, deps,
		   n);
	}
}
