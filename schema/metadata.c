/* metadata.c: the checks of plugin_metadata objects
 * (/apisix/plugin_metadata/<plugin>), as APISIX's admin/plugin_metadata.lua.
 *
 * Happy path: the id names a plugin of the catalogue; the object passes
 * that plugin's metadata schema (plugins.c: gw_schema__plugin_metadata), or
 * {"type": "object"} for a plugin without one (APISIX injects that schema).
 * The schemas are parsed once (pthread_once) and read-only afterwards.
 * Failure modes: GW_EINVAL with "invalid plugin name" or "invalid
 * configuration: <why>" (APISIX's words); GW_ENOMEM. Threads: any. */
#include "config.h"

#include "lib/err.h"
#include "lib/sm.h"
#include "schema/schema_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_META 16

static const char any_object[] = "{\"type\":\"object\"}";
static cJSON *parsed[MAX_META];
static char *texts[MAX_META];
static cJSON *any_parsed;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void)
{
	GW_ASSERT(gw_schema__n_plugin_metadata <= MAX_META);
	for (size_t i = 0; i < gw_schema__n_plugin_metadata; i++) {
		texts[i] = gw_schema__unquote(gw_schema__plugin_metadata[i].json);
		parsed[i] = cJSON_Parse(texts[i]);
		GW_ASSERT(parsed[i] != NULL); /* a metadata schema of plugins.c */
	}
	any_parsed = cJSON_Parse(any_object);
	GW_ASSERT(any_parsed != NULL);
}

/* The row of @name, or -1 when it has none. */
static int find(const char *name)
{
	pthread_once(&once, load);
	for (size_t i = 0; i < gw_schema__n_plugin_metadata; i++) {
		if (strcmp(gw_schema__plugin_metadata[i].name, name) == 0) {
			return (int)i;
		}
	}
	return -1;
}

const char *gw_schema_plugin_metadata_schema(const char *name)
{
	int i;

	if (!gw_schema_plugin_validated(name)) {
		return NULL;
	}
	i = find(name);
	return i < 0 ? any_object : texts[i];
}

int gw_schema_check_metadata(const char *name, const cJSON *v, char *err, size_t errlen)
{
	char why[512];
	int i, rv;

	if (name == NULL || !gw_schema_plugin_validated(name)) {
		snprintf(err, errlen, "invalid plugin name");
		return GW_EINVAL;
	}
	i = find(name);
	rv = gw_schema__check_with(i < 0 ? any_parsed : parsed[i], v, NULL, 0, false, why,
				   sizeof why);
	if (rv == GW_EINVAL) {
		snprintf(err, errlen, "invalid configuration: %s", why);
	}
	return rv;
}
