/* config_plugins.c: compile "plugins" objects into plugin instances, and
 * plugin sets (plugin_configs, global rules) and their merge.
 *
 * Happy path: every plugin of the object is found in plugins.c's table and
 * its compile function checks and compiles its configuration (disabled ones,
 * _meta.disable, are left out); a route's set is the union of route >
 * plugin_config > service plugins, sorted by priority desc. Failure modes:
 * an unknown plugin or a bad configuration fails the object (GW_EINVAL with
 * the reason), GW_ENOMEM. Threads: the compiling thread only. */
#include "config.h"

#include "lib/err.h"
#include "proxy/config_int.h"

#include <stdlib.h>
#include <string.h>

/* "plugins": {name: conf} -> instances; unknown plugins fail the object
 * (APISIX's Admin API refuses them too). */
int gw_proxy__compile_plugins(struct gw_proxy__compiler *c, const cJSON *obj,
			      struct gw_proxy__plugin_inst **out, size_t *n)
{
	const cJSON *it;
	size_t k = 0;
	*out = NULL;
	*n = 0;
	if (obj == NULL) {
		return 0;
	}
	if (!cJSON_IsObject(obj)) {
		return fail(c, "%s", "plugins must be an object");
	}
	*out = calloc_cfg(c, ((size_t)cJSON_GetArraySize(obj) + 1) * sizeof **out);
	if (*out == NULL) {
		return GW_ENOMEM;
	}
	cJSON_ArrayForEach(it, obj)
	{
		const struct gw_proxy__plugin *p = gw_proxy__plugin_find(it->string);
		const cJSON *dis = cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(it, "_meta"), "disable");
		int rv;
		if (p == NULL) {
			return fail(c, "unknown plugin %.64s", it->string);
		}
		if (!cJSON_IsObject(it)) {
			return fail(c, "plugin %.64s: configuration must be an object", it->string);
		}
		if (cJSON_IsTrue(dis)) {
			continue;
		}
		(*out)[k].p = p;
		rv = p->compile(c, it, &(*out)[k].conf);
		if (rv != 0) {
			if (rv != GW_ENOMEM && c->why != c->whybuf) {
				return fail(c, "plugin %.64s: invalid configuration", it->string);
			}
			return rv;
		}
		k++;
	}
	*n = k;
	return 0;
}

static bool has_plugin(const struct gw_proxy__plugin_inst *v, size_t n,
		       const struct gw_proxy__plugin *p)
{
	for (size_t i = 0; i < n; i++) {
		if (v[i].p == p) {
			return true;
		}
	}
	return false;
}

/* Union of @sets in precedence order (the first holding a plugin wins),
 * sorted by priority desc. */
int gw_proxy__merge_sets(struct gw_proxy__compiler *c, const struct gw_proxy__pset *sets,
			 size_t n_sets, struct gw_proxy__plugin_inst **out, size_t *out_n)
{
	size_t total = 0, n = 0;
	struct gw_proxy__plugin_inst *v;
	for (size_t k = 0; k < n_sets; k++) {
		total += sets[k].n;
	}
	*out = NULL;
	*out_n = 0;
	if (total == 0) {
		return 0;
	}
	v = calloc_cfg(c, total * sizeof *v);
	if (v == NULL) {
		return GW_ENOMEM;
	}
	for (size_t k = 0; k < n_sets; k++) {
		for (size_t i = 0; i < sets[k].n; i++) {
			if (!has_plugin(v, n, sets[k].v[i].p)) {
				v[n++] = sets[k].v[i];
			}
		}
	}
	for (size_t i = 1; i < n; i++) {
		struct gw_proxy__plugin_inst t = v[i];
		size_t j = i;
		while (j > 0 && v[j - 1].p->priority < t.p->priority) {
			v[j] = v[j - 1];
			j--;
		}
		v[j] = t;
	}
	*out = v;
	*out_n = n;
	return 0;
}

/* {"plugins": {...}} objects: plugin_configs and global_rules. */
int gw_proxy__compile_pset(struct gw_proxy__compiler *c, const cJSON *j,
			   struct gw_proxy__pset **out)
{
	struct gw_proxy__pset *ps;
	const cJSON *pl = cJSON_GetObjectItemCaseSensitive(j, "plugins");
	if (!cJSON_IsObject(j) || !cJSON_IsObject(pl)) {
		return fail(c, "%s", "needs a plugins object");
	}
	ps = calloc_cfg(c, sizeof *ps);
	if (ps == NULL) {
		return GW_ENOMEM;
	}
	*out = ps;
	return gw_proxy__compile_plugins(c, pl, &ps->v, &ps->n);
}
