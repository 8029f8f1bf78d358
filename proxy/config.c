/* config.c: compile the committed /apisix/ keys into an immutable snapshot.
 *
 * Happy path: upstreams are compiled first (by id), then services (which may
 * carry an inline upstream or an upstream_id, hosts and enable_websocket),
 * then routes in input order: each resolves its upstream (inline, then
 * upstream_id, then its service's), its conditions (methods, remote_addrs,
 * vars) and is added to the router under every host x uri. Everything is
 * allocated in the snapshot's arena and freed by the last unref. Each
 * object is first checked by schema/ (gw_schema_check, the Admin API's own
 * check), and its enumerations, limits and defaults come from schema.h, so
 * the proxy serves exactly what the Admin API accepts.
 * Failure modes: an object that fails (invalid JSON, refused by the schema,
 * a missing upstream or service) is skipped with one warning naming its key
 * and why; routes with status 0 are skipped silently. Only GW_ENOMEM fails
 * the whole compile.
 * The compile is split by concern (config_int.h lists the files); this
 * file is the driver (one pass per object kind) and the snapshot's life
 * cycle (ref/unref, free). */
#include "config.h"

#include "lib/err.h"
#include "lib/log.h"
#include "proxy/config_int.h"
#include "schema/schema.h"

#include <cjson/cJSON.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- entry points */

/* Id of @kv if its key is @prefix<id> with a non-empty id without '/'. */
static bool key_id(const struct gw_proxy_kv *kv, const char *prefix, char *id, size_t cap)
{
	size_t pl = strlen(prefix), n;
	if (kv->key_len <= pl || memcmp(kv->key, prefix, pl) != 0) {
		return false;
	}
	n = kv->key_len - pl;
	if (n >= cap || memchr(kv->key + pl, '/', n) != NULL) {
		return false;
	}
	memcpy(id, kv->key + pl, n);
	id[n] = '\0';
	return true;
}

enum pass { PASS_UPSTREAMS, PASS_SERVICES, PASS_PLUGIN_CONFIGS, PASS_GLOBAL_RULES, PASS_ROUTES };

static int compile_pass(struct gw_proxy__compiler *c, const struct gw_proxy_kv *kvs, size_t n,
			enum pass pass)
{
	static const char *const prefixes[] = {"/apisix/upstreams/", "/apisix/services/",
					       "/apisix/plugin_configs/", "/apisix/global_rules/",
					       "/apisix/routes/"};
	static const char *const kinds[] = {"upstream", "service", "plugin_config", "global_rule",
					    "route"};
	size_t seq = 0;

	for (size_t i = 0; i < n; i++) {
		char id[256];
		cJSON *j;
		int rv;

		if (!key_id(&kvs[i], prefixes[pass], id, sizeof id)) {
			continue;
		}
		c->why = "invalid JSON";
		j = cJSON_ParseWithLength(kvs[i].value, kvs[i].value_len);
		if (j == NULL) {
			rv = GW_EINVAL;
		} else if (!(pass == PASS_ROUTES && gw_proxy__route_disabled(j)) &&
			   (rv = gw_schema_check(kinds[pass], j, GW_SCHEMA_PROXY, c->whybuf,
						 sizeof c->whybuf)) != 0) {
			c->why = c->whybuf; /* the Admin API refuses it too */
		} else if (pass == PASS_UPSTREAMS) {
			struct gw_proxy__upstream *up = NULL;
			rv = gw_proxy__compile_upstream(c, j, id, &up);
			if (rv == 0 &&
			    (gw_proxy__register_upstream(c, up) != 0 ||
			     gw_proxy__map_put(&c->ups, up->id, strlen(up->id), up) != 0)) {
				rv = GW_ENOMEM;
			}
		} else if (pass == PASS_SERVICES) {
			struct gw_proxy__svc *s = NULL;
			const char *sid = dup_cfg(c, id);
			rv = gw_proxy__compile_service(c, j, &s);
			if (rv == 0 && (sid == NULL ||
					gw_proxy__map_put(&c->svcs, sid, strlen(sid), s) != 0)) {
				rv = GW_ENOMEM;
			}
		} else if (pass == PASS_PLUGIN_CONFIGS) {
			struct gw_proxy__pset *ps = NULL;
			const char *pid = dup_cfg(c, id);
			rv = gw_proxy__compile_pset(c, j, &ps);
			if (rv == 0 && (pid == NULL ||
					gw_proxy__map_put(&c->pcs, pid, strlen(pid), ps) != 0)) {
				rv = GW_ENOMEM;
			}
		} else if (pass == PASS_GLOBAL_RULES) {
			struct gw_proxy__pset *ps = NULL;
			rv = gw_proxy__compile_pset(c, j, &ps);
			if (rv == 0 && c->n_globals == c->cap_globals) {
				size_t cap = c->cap_globals ? c->cap_globals * 2 : 4;
				void *p = realloc(c->globals, cap * sizeof *c->globals);
				if (p == NULL) {
					rv = GW_ENOMEM;
				} else {
					c->globals = p;
					c->cap_globals = cap;
				}
			}
			if (rv == 0) {
				c->globals[c->n_globals++] = *ps;
			}
		} else {
			rv = gw_proxy__compile_route(c, j, id, seq++);
			if (rv == 1) {
				rv = 0; /* status 0: not routed, not an error */
			}
		}
		cJSON_Delete(j);
		if (rv == GW_ENOMEM || c->oom) {
			return GW_ENOMEM;
		}
		if (rv != 0) {
			gw_warnf("proxy", "%s %s skipped (revision %lld): %s", kinds[pass], id,
				 (long long)c->cfg->revision, c->why);
		}
	}
	return 0;
}

static void config_free(struct gw_proxy_config *cfg)
{
	struct gw_proxy__uri_router *u = cfg->router.routers;
	while (u != NULL) {
		struct gw_proxy__uri_router *next = u->next_alloc;
		struct gw_proxy__map *maps[2] = {&u->exact, &u->prefix};
		for (int k = 0; k < 2; k++) {
			for (size_t i = 0; i < maps[k]->cap; i++) {
				struct gw_proxy__rlist *l = maps[k]->ents[i].val;
				if (l != NULL) {
					free(l->v);
				}
			}
			gw_proxy__map_close(maps[k]);
		}
		free(u->prefix_lens);
		free(u);
		u = next;
	}
	gw_proxy__map_close(&cfg->router.hosts);
	gw_proxy__map_close(&cfg->router.wild);
	for (size_t i = 0; i < cfg->n_regexes; i++) {
		regfree(cfg->regexes[i]);
	}
	free(cfg->regexes);
	free(cfg->ups);
	free(cfg->routes);
	gw_arena_close(&cfg->arena);
	free(cfg);
}

int gw_proxy_config_compile(const struct gw_proxy_kv *kvs, size_t n, int64_t revision,
			    struct gw_proxy_config **out)
{
	struct gw_proxy__compiler c;
	struct gw_proxy_config *cfg = calloc(1, sizeof *cfg);
	int rv = 0;

	if (cfg == NULL) {
		return GW_ENOMEM;
	}
	atomic_init(&cfg->refs, 1);
	cfg->revision = revision;
	gw_arena_init(&cfg->arena);
	gw_proxy__map_init(&cfg->router.hosts);
	gw_proxy__map_init(&cfg->router.wild);
	memset(&c, 0, sizeof c);
	c.cfg = cfg;
	gw_proxy__map_init(&c.ups);
	gw_proxy__map_init(&c.svcs);
	gw_proxy__map_init(&c.pcs);
	for (int pass = PASS_UPSTREAMS; pass <= PASS_ROUTES && rv == 0; pass++) {
		rv = compile_pass(&c, kvs, n, (enum pass)pass);
		if (rv == 0 && pass == PASS_GLOBAL_RULES) {
			/* every global rule's plugins, one instance per plugin */
			rv = gw_proxy__merge_sets(&c, c.globals, c.n_globals, &cfg->global,
						  &cfg->n_global);
		}
	}
	free(c.globals);
	gw_proxy__map_close(&c.ups);
	gw_proxy__map_close(&c.svcs);
	gw_proxy__map_close(&c.pcs);
	if (rv != 0) {
		config_free(cfg);
		return rv;
	}
	*out = cfg;
	return 0;
}

int64_t gw_proxy_config_revision(const struct gw_proxy_config *cfg)
{
	return cfg->revision;
}

size_t gw_proxy_config_routes(const struct gw_proxy_config *cfg)
{
	return cfg->n_routes;
}

void gw_proxy_config_ref(struct gw_proxy_config *cfg)
{
	if (cfg != NULL) {
		atomic_fetch_add_explicit(&cfg->refs, 1, memory_order_relaxed);
	}
}

void gw_proxy_config_unref(struct gw_proxy_config *cfg)
{
	if (cfg != NULL && atomic_fetch_sub_explicit(&cfg->refs, 1, memory_order_acq_rel) == 1) {
		config_free(cfg);
	}
}
