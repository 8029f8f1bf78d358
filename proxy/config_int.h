/* config_int.h: internals of the config compiler (proxy/config*.c).
 *
 * The compiler turns the committed /apisix/ keys into a struct
 * gw_proxy_config (proxy_int.h). Its files split by concern: config.c (the
 * snapshot's life cycle and the compile driver), config_util.c (field
 * helpers shared by every object kind), config_upstream.c, config_expr.c
 * (vars expressions), config_plugins.c (plugin sets and their merge) and
 * config_route.c (services and routes). Everything a compile makes is
 * allocated in the snapshot's arena; only GW_ENOMEM fails a whole compile.
 * Threads: one compile runs on one thread (confsync's pool job); nothing
 * here is shared between compiles. */
#ifndef GW_PROXY_CONFIG_INT_H
#define GW_PROXY_CONFIG_INT_H

#include "lib/arena.h"
#include "proxy/proxy_int.h"
#include "schema/schema.h"

#include <cjson/cJSON.h>
#include <math.h>
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
};

/* A set of plugin instances (a plugin_config or a global rule). */
struct gw_proxy__pset {
	struct gw_proxy__plugin_inst *v;
	size_t n;
};

struct gw_proxy__compiler {
	struct gw_proxy_config *cfg;
	struct gw_proxy__map ups;         /* id -> upstream */
	struct gw_proxy__map svcs;        /* id -> struct gw_proxy__svc */
	struct gw_proxy__map pcs;         /* plugin_config id -> struct gw_proxy__pset */
	struct gw_proxy__pset *globals;   /* global rules, for the snapshot's merged set */
	size_t n_globals, cap_globals;
	const char *why; /* reason of the last failure (static or arena) */
	char whybuf[512];
	bool oom;
};

/* Zeroed arena memory, or NULL (and c->oom set). */
static inline void *calloc_cfg(struct gw_proxy__compiler *c, size_t n)
{
	void *p = gw_arena_alloc(&c->cfg->arena, n);
	if (p == NULL) {
		c->oom = true;
	}
	return p;
}

/* A copy of @s in the arena, or NULL (and c->oom set). */
static inline const char *dup_cfg(struct gw_proxy__compiler *c, const char *s)
{
	char *p = gw_arena_strndup(&c->cfg->arena, s, strlen(s));
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
/* Give @up its balancer slot in the snapshot. 0 or GW_ENOMEM. */
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
/* Compile route @j and add it to the router. 0, 1 (status 0: skipped),
 * GW_EINVAL or GW_ENOMEM. */
int gw_proxy__compile_route(struct gw_proxy__compiler *c, const cJSON *j, const char *id,
			    size_t seq);

#endif
