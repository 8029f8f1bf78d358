/* config.c: compile the committed /apisix/ keys into an immutable snapshot.
 *
 * Happy path: upstreams are compiled first (by id), then services (which may
 * carry an inline upstream or an upstream_id, hosts and enable_websocket),
 * then routes in input order: each resolves its upstream (inline, then
 * upstream_id, then its service's), its conditions (methods, remote_addrs,
 * vars) and is added to the router under every host x uri. Everything is
 * allocated in per-object units the snapshot holds (freed by the last
 * unref). Each
 * object is first checked by schema/ (gw_schema_check, the Admin API's own
 * check), and its enumerations, limits and defaults come from schema.h, so
 * the proxy serves exactly what the Admin API accepts.
 * Failure modes: an object that fails (invalid JSON, refused by the schema,
 * a missing upstream or service) is skipped with one warning naming its key
 * and why; routes with status 0 are skipped silently. Only GW_ENOMEM fails
 * the whole compile.
 * The compile is split by concern (config_int.h lists the files); the
 * engine is the incremental one of config_cache.c, run on a fresh cache:
 * this file is the full compile and the snapshot's life cycle (ref/unref,
 * free; a snapshot holds its router and its merged global rules, which hold
 * every compiled object it uses). */
#include "config.h"

#include "lib/err.h"
#include "lib/log.h"
#include "proxy/config_int.h"
#include "proxy/tls_int.h"
#include "schema/schema.h"

#include <cjson/cJSON.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- entry points */

static void config_free(struct gw_proxy_config *cfg)
{
	gw_proxy__router_unref(cfg->router);
	gw_proxy__unit_unref(cfg->gunit);
	gw_proxy__ssl_table_free(cfg->ssl);
	gw_proxy__unit_unref(cfg->cunit); /* the consumer index */
	gw_proxy__unit_unref(cfg->munit); /* plugin_metadata */
	free(cfg->ups);
	free(cfg);
}

int gw_proxy_config_compile(const struct gw_proxy_kv *kvs, size_t n, int64_t revision,
			    struct gw_proxy_config **out)
{
	struct gw_proxy_cache *cc;
	int rv = gw_proxy_cache_new(&cc);

	if (rv != 0) {
		return rv;
	}
	rv = gw_proxy_cache_sync(cc, kvs, n, revision, out);
	gw_proxy_cache_free(cc); /* the snapshot keeps what it uses */
	return rv;
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
