/* plugin_metadata.c: /apisix/plugin_metadata/<plugin>, compiled for the
 * snapshot.
 *
 * Happy path: the config cache keeps the plugin_metadata objects apart (a
 * kvset, like the consumers) and, when one changed, compiles them all into
 * a unit of their own that every later snapshot references: for each, the
 * plugin's name and its log_format (http-logger and file-logger use it
 * when their own configuration has none, as APISIX's loggers do),
 * limit-count's header names and cors' allow_origins map (read by
 * allow_origins_by_metadata).
 * Failure modes: an object that is not JSON, or whose log_format is not an
 * object, is skipped with one warning (the Admin API checks each plugin's
 * metadata schema, schema/metadata.c; etcd API writes too); GW_ENOMEM. Threads: compiled on the
 * compiling thread, read by workers. */
#include "config.h"

#include "lib/err.h"
#include "lib/log.h"
#include "proxy/config_int.h"
#include "proxy/plugin_int.h"

#include <string.h>

#define META_PREFIX "/apisix/plugin_metadata/"

/* What limit-count and cors read of their metadata. 0 or GW_ENOMEM. */
static int compile_extra(struct gw_proxy__compiler *c, const char *name, const cJSON *j,
			 struct gw_proxy__meta_entry *e)
{
	static const char *const hdrs[3] = {"limit_header", "remaining_header", "reset_header"};
	const cJSON *ao = cJSON_GetObjectItemCaseSensitive(j, "allow_origins"), *it;
	size_t n;

	if (strcmp(name, "limit-count") == 0) {
		for (int i = 0; i < 3; i++) {
			const cJSON *h = cJSON_GetObjectItemCaseSensitive(j, hdrs[i]);
			if (cJSON_IsString(h) && h->valuestring[0] != '\0' &&
			    (e->limit_hdr[i] = dup_cfg(c, h->valuestring)) == NULL) {
				return GW_ENOMEM;
			}
		}
	}
	if (strcmp(name, "cors") != 0 || !cJSON_IsObject(ao)) {
		return 0;
	}
	n = (size_t)cJSON_GetArraySize(ao);
	e->origin_keys = calloc_cfg(c, (n + 1) * sizeof *e->origin_keys);
	e->origin_vals = calloc_cfg(c, (n + 1) * sizeof *e->origin_vals);
	if (e->origin_keys == NULL || e->origin_vals == NULL) {
		return GW_ENOMEM;
	}
	cJSON_ArrayForEach(it, ao)
	{
		if (!cJSON_IsString(it)) {
			continue;
		}
		e->origin_keys[e->n_origins] = dup_cfg(c, it->string);
		e->origin_vals[e->n_origins] = dup_cfg(c, it->valuestring);
		if (e->origin_keys[e->n_origins] == NULL || e->origin_vals[e->n_origins] == NULL) {
			return GW_ENOMEM;
		}
		e->n_origins++;
	}
	return 0;
}

int gw_proxy__metadata_unit(const struct gw_proxy__kvset *ks, struct gw_proxy__unit **out)
{
	struct gw_proxy__compiler c;
	struct gw_proxy__metadata *m;

	*out = NULL;
	if (ks->n == 0) {
		return 0;
	}
	memset(&c, 0, sizeof c);
	c.u = gw_proxy__unit_new(1024);
	if (c.u == NULL) {
		return GW_ENOMEM;
	}
	m = calloc_cfg(&c, sizeof *m);
	if (m == NULL || (m->v = calloc_cfg(&c, ks->n * sizeof *m->v)) == NULL) {
		gw_proxy__unit_unref(c.u);
		return GW_ENOMEM;
	}
	for (size_t i = 0; i < ks->n; i++) {
		const struct gw_proxy_kv *kv = &ks->v[i];
		char name[128];
		cJSON *j, *j2;
		const cJSON *lf;
		struct gw_proxy__plogfmt *f = NULL;
		int rv = 0;

		if (!gw_proxy__c_key_id(kv, META_PREFIX, name, sizeof name)) {
			continue;
		}
		j = cJSON_ParseWithLength(kv->value, kv->value_len);
		lf = cJSON_GetObjectItemCaseSensitive(j, "log_format");
		if (lf != NULL) {
			rv = gw_proxy__plogfmt_compile(&c, lf, &f);
		}
		cJSON_Delete(j);
		if (rv == GW_ENOMEM || c.oom) {
			gw_proxy__unit_unref(c.u);
			return GW_ENOMEM;
		}
		if (j == NULL || rv != 0) {
			gw_warnf("proxy", "plugin_metadata %s: %s: skipped", name,
				 j == NULL ? "invalid JSON" : c.why);
			continue;
		}
		m->v[m->n].plugin = dup_cfg(&c, name);
		m->v[m->n].log_format = f;
		rv = compile_extra(&c, name, j2 = cJSON_ParseWithLength(kv->value, kv->value_len),
				   &m->v[m->n]);
		cJSON_Delete(j2);
		if (m->v[m->n].plugin == NULL || rv != 0) {
			gw_proxy__unit_unref(c.u);
			return GW_ENOMEM;
		}
		m->n++;
	}
	c.u->obj = m;
	*out = c.u;
	return 0;
}

const struct gw_proxy__plogfmt *gw_proxy__metadata_log_format(const struct gw_proxy_config *cfg,
							      const char *name)
{
	const struct gw_proxy__metadata *m = cfg->meta;
	for (size_t i = 0; m != NULL && i < m->n; i++) {
		if (strcmp(m->v[i].plugin, name) == 0) {
			return m->v[i].log_format;
		}
	}
	return NULL;
}

void gw_proxy__metadata_limit_headers(const struct gw_proxy_config *cfg, const char *out[3])
{
	static const char *const dflt[3] = {"X-RateLimit-Limit", "X-RateLimit-Remaining",
					    "X-RateLimit-Reset"};
	const struct gw_proxy__metadata *m = cfg->meta;
	size_t i;

	for (i = 0; m != NULL && i < m->n; i++) {
		if (strcmp(m->v[i].plugin, "limit-count") == 0) {
			break;
		}
	}
	for (int k = 0; k < 3; k++) {
		out[k] = m != NULL && i < m->n && m->v[i].limit_hdr[k] != NULL
			     ? m->v[i].limit_hdr[k]
			     : dflt[k];
	}
}

const char *gw_proxy__metadata_cors_origins(const struct gw_proxy_config *cfg, const char *key)
{
	const struct gw_proxy__metadata *m = cfg->meta;

	for (size_t i = 0; m != NULL && i < m->n; i++) {
		if (strcmp(m->v[i].plugin, "cors") != 0) {
			continue;
		}
		for (size_t k = 0; k < m->v[i].n_origins; k++) {
			if (strcmp(m->v[i].origin_keys[k], key) == 0) {
				return m->v[i].origin_vals[k];
			}
		}
	}
	return NULL;
}
