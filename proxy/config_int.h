/* config_int.h: internals of the config compiler (proxy/config*.c).
 *
 * The compiler turns the committed /apisix/ keys into a struct
 * gw_proxy_config (proxy_int.h). Its files split by concern: config.c (the
 * snapshot's life cycle and the compile driver), config_util.c (field
 * helpers shared by every object kind), config_upstream.c, config_expr.c
 * (vars expressions), config_plugins.c (plugin sets and their merge) and
 * config_route.c (services and routes), config_cache.c (the incremental
 * compiler: one entry per key, compiled units shared between snapshots,
 * dependencies, the router kept up to date).
 * Every object compiles into its own unit (an arena and the regexes it
 * made), reference-counted: the cache holds the current unit of each key,
 * a unit holds the units it points into (a route its upstream, service and
 * plugin_config), a router holds its routes' units, a snapshot its router
 * and its global rules. Only GW_ENOMEM fails a whole compile.
 * Threads: a cache and its entries belong to one thread at a time (the
 * compile job); units are immutable once compiled and their reference
 * counts are atomic, so a snapshot may be dropped on any thread. */
#ifndef GW_PROXY_CONFIG_INT_H
#define GW_PROXY_CONFIG_INT_H

#include "lib/arena.h"
#include "proxy/dns_int.h"
#include "proxy/proxy_int.h"
#include "schema/schema.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* A compiled service: what its routes inherit. */
struct gw_proxy__svc {
	struct gw_proxy__upstream *up; /* NULL if the service has none */
	const char **hosts;
	size_t n_hosts;
	bool websocket;
	struct gw_proxy__plugin_inst *plugins;
	size_t n_plugins;
	const char *name; /* "name", or NULL */
};

/* A set of plugin instances (a plugin_config or a global rule). */
struct gw_proxy__pset {
	struct gw_proxy__plugin_inst *v;
	size_t n;
};

/* Object kinds, in compile order: an object depends only on earlier kinds. */
enum gw_proxy__kind {
	GW_PROXY__K_UPSTREAM,
	GW_PROXY__K_SERVICE,
	GW_PROXY__K_PLUGIN_CONFIG,
	GW_PROXY__K_GLOBAL_RULE,
	GW_PROXY__K_ROUTE,
	GW_PROXY__K_N
};

/* One compiled object. Immutable once compiled, freed by its last unref
 * (any thread). */
struct gw_proxy__unit {
	atomic_int refs;
	struct gw_arena arena;     /* the object and everything it points to */
	struct gw_regex **regexes; /* to gw_regex_free (malloc'ed array) */
	size_t n_regexes;
	struct gw_proxy__unit **deps; /* units this one points into, one reference each */
	size_t n_deps;
	void *obj;                          /* upstream, svc, pset, route, or plugin_inst[] */
	struct gw_proxy__upstream *own;     /* the upstream this unit made, or NULL */
	void (*dtor)(void *obj);            /* frees what @obj holds outside the arena, or NULL */
	struct gw_proxy__cleanup *cleanups; /* gw_proxy__c_on_free's, newest first (arena) */
};

/* One gw_proxy__c_on_free registration. */
struct gw_proxy__cleanup {
	struct gw_proxy__cleanup *next;
	void (*fn)(void *arg);
	void *arg;
};

struct gw_proxy__cache;
struct gw_proxy__cent;

struct gw_proxy__compiler {
	struct gw_proxy_cache *cc;
	struct gw_proxy__cent *e; /* the entry being compiled (its dependencies) */
	struct gw_proxy__unit *u; /* its new unit */
	int64_t revision;
	const char *obj; /* gw_proxy__c_object's override of the object's key, or NULL */
	const char *why; /* reason of the last failure (static or arena) */
	char whybuf[512];
	bool oom;
	struct gw_proxy__dnsuse dns; /* host names the object used (config_cache.c) */
};

/* Room for @need elements of @size bytes in the array *@v of *@cap
 * (doubling, 8 at first). 0 or GW_ENOMEM (the array is kept). */
int gw_proxy__grow(void **v, size_t *cap, size_t need, size_t size);

/* ---- config_sets.c: objects compiled as a whole (ssls, consumers) */
struct gw_proxy__kvset {
	struct gw_proxy_kv *v; /* owned keys and values */
	size_t n, cap;
	bool dirty; /* changed since the last compile */
};
/* Record a put (value != NULL) or delete of @kv; a pair older than the one
 * held is ignored. 0 or GW_ENOMEM. */
int gw_proxy__kvset_record(struct gw_proxy__kvset *ks, const struct gw_proxy_kv *kv);
/* Drop every pair (marks the set changed); free also releases the array. */
void gw_proxy__kvset_clear(struct gw_proxy__kvset *ks);
void gw_proxy__kvset_free(struct gw_proxy__kvset *ks);
bool gw_proxy__kv_has_prefix(const struct gw_proxy_kv *kv, const char *prefix);
/* The consumer index of the consumers, credentials and groups of @ks in a
 * unit of its own (NULL when @ks is empty). 0 or GW_ENOMEM. */
int gw_proxy__consumers_unit(struct gw_proxy_cache *cc, const struct gw_proxy__kvset *ks,
			     int64_t revision, struct gw_proxy__unit **out);

/* The plugin_metadata objects of @ks compiled in a unit of their own (NULL
 * when @ks is empty) (plugin_metadata.c). 0 or GW_ENOMEM. */
int gw_proxy__metadata_unit(const struct gw_proxy__kvset *ks, struct gw_proxy__unit **out);

/* ---- config_cache.c */
/* The compiled object of kind @k and id @id for the object being compiled,
 * which from now on depends on it (its unit takes a reference): NULL when
 * it does not exist or did not compile (the dependent is then recompiled
 * when it appears), or out of memory (c->oom). */
void *gw_proxy__c_dep(struct gw_proxy__compiler *c, enum gw_proxy__kind k, const char *id);
/* The store key of the object being compiled ("/apisix/routes/7"), or "". */
const char *gw_proxy__c_key(const struct gw_proxy__compiler *c);
/* A balancer slot for @up, released when its unit leaves the cache. */
int gw_proxy__c_upstream_slot(struct gw_proxy__compiler *c, struct gw_proxy__upstream *up);
/* The last good IPv4 addresses of host name @name (at most @max, in @out;
 * *@n of them, 0 while it was never resolved or without a resolver); the
 * object being compiled is recompiled when they change. 0, GW_ELIMIT (too
 * many names) or GW_ENOMEM (c->oom set). */
int gw_proxy__c_resolve(struct gw_proxy__compiler *c, const char *name, struct in6_addr *out,
			size_t max, size_t *n);
/* A unit with one reference and an arena sized for about @hint bytes. */
struct gw_proxy__unit *gw_proxy__unit_new(size_t hint);

/* Zeroed arena memory, or NULL (and c->oom set). */
static inline void *calloc_cfg(struct gw_proxy__compiler *c, size_t n)
{
	void *p = gw_arena_alloc(&c->u->arena, n);
	if (p == NULL) {
		c->oom = true;
	}
	return p;
}

/* A copy of @s in the arena, or NULL (and c->oom set). */
static inline const char *dup_cfg(struct gw_proxy__compiler *c, const char *s)
{
	char *p = gw_arena_strndup(&c->u->arena, s, strlen(s));
	if (p == NULL) {
		c->oom = true;
	}
	return p;
}

/* Record why the object fails; returns GW_EINVAL. */
#define fail gw_proxy__c_fail

static inline bool is_num(const cJSON *j)
{
	return cJSON_IsNumber(j) && isfinite(j->valuedouble);
}

/* ---- config_util.c: field helpers. Each returns 0, GW_EINVAL (with the
 * reason recorded by fail) or GW_ENOMEM; results live in the arena. */
int gw_proxy__c_secs(struct gw_proxy__compiler *c, const cJSON *obj, const char *name,
		     unsigned *out);
int gw_proxy__c_timeouts(struct gw_proxy__compiler *c, const cJSON *obj,
			 struct gw_proxy__timeouts *t);
/* The C value of the enumerated field @e of @obj (its default if absent),
 * or GW_EINVAL naming the field. */
int gw_proxy__c_enum(struct gw_proxy__compiler *c, const cJSON *obj,
		     const struct gw_schema_enum *e);
/* "host"/"hosts"-style fields: one string or a non-empty array of them. */
int gw_proxy__c_strings(struct gw_proxy__compiler *c, const cJSON *obj, const char *one,
			const char *many, const char ***out, size_t *n);
/* Text of a scalar (string, number, bool) in the arena, or NULL (not a
 * scalar, or out of memory: then c->oom is set). */
const char *gw_proxy__c_scalar(struct gw_proxy__compiler *c, const cJSON *v);

/* ---- config_upstream.c */
/* Compile upstream object @j (@id NULL for an inline one) into *out. */
int gw_proxy__compile_upstream(struct gw_proxy__compiler *c, const cJSON *j, const char *id,
			       struct gw_proxy__upstream **out);
/* Give @up its balancer slot. 0 or GW_ENOMEM. */
int gw_proxy__register_upstream(struct gw_proxy__compiler *c, struct gw_proxy__upstream *up);

/* ---- config_plugins.c */
/* "plugins": {name: conf} -> instances; unknown plugins fail the object
 * (APISIX's Admin API refuses them too). */
int gw_proxy__compile_plugins(struct gw_proxy__compiler *c, const cJSON *obj,
			      struct gw_proxy__plugin_inst **out, size_t *n);
/* Union of @sets in precedence order (the first holding a plugin wins),
 * sorted by priority desc, in the arena. */
int gw_proxy__merge_sets(struct gw_proxy__compiler *c, const struct gw_proxy__pset *sets,
			 size_t n_sets, struct gw_proxy__plugin_inst **out, size_t *out_n);
/* {"plugins": {...}} objects: plugin_configs and global_rules. */
int gw_proxy__compile_pset(struct gw_proxy__compiler *c, const cJSON *j,
			   struct gw_proxy__pset **out);

/* ---- config_route.c */
/* Status 0: not routed, and not checked either. */
bool gw_proxy__route_disabled(const cJSON *j);
int gw_proxy__compile_service(struct gw_proxy__compiler *c, const cJSON *j,
			      struct gw_proxy__svc **out);
/* Compile route @j into *out (not yet in a router). 0, 1 (status 0:
 * skipped), GW_EINVAL or GW_ENOMEM. */
int gw_proxy__compile_route(struct gw_proxy__compiler *c, const cJSON *j, const char *id,
			    int64_t seq, struct gw_proxy__route **out);

/* ---- config_cache.c, for config_dryrun.c */
/* Report objects that fail to @fn(@arg, key, why) instead of a warning
 * (NULL: warn again). */
void gw_proxy__cache_on_skip(struct gw_proxy_cache *cc,
			     void (*fn)(void *arg, const char *key, const char *why), void *arg);
/* Each route the cache knows with a value: its id, its compiled form (NULL:
 * skipped or disabled), its JSON and the pairs it depends on (value NULL:
 * not defined). */
typedef void (*gw_proxy__route_fn)(void *arg, const char *id, const struct gw_proxy__route *r,
				   const char *value, size_t len, const struct gw_proxy_kv *deps,
				   size_t n_deps);
void gw_proxy__cache_routes(const struct gw_proxy_cache *cc, gw_proxy__route_fn fn, void *arg);

#endif
