/* plugin_metadata.c: /apisix/plugin_metadata/<plugin>, compiled for the
 * snapshot.
 *
 * Happy path: the config cache keeps the plugin_metadata objects apart (a
 * kvset, like the consumers) and, when one changed, compiles them all into
 * a unit of their own that every later snapshot references: for each, the
 * plugin's name and its log_format (http-logger and file-logger use it
 * when their own configuration has none, as APISIX's loggers do).
 * Failure modes: an object that is not JSON, or whose log_format is not an
 * object, is skipped with one warning (the Admin API stores any object
 * there); GW_ENOMEM. Threads: compiled on the compiling thread, read by
 * workers. */
#include "config.h"

#include "lib/err.h"
#include "lib/log.h"
#include "proxy/config_int.h"
#include "proxy/plugin_int.h"

#include <string.h>

#define META_PREFIX "/apisix/plugin_metadata/"

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
		cJSON *j;
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
		if (m->v[m->n].plugin == NULL) {
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
