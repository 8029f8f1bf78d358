/* export.c: every schema as one JSON document, for the control API's
 * /v1/schema (APISIX's shape: {"main": {name: schema}, "plugins": {name:
 * schema}}).
 *
 * Happy path: the parsed rows of tables.c and of the plugin catalogue are
 * copied into one tree and printed; "$ref" names are rows of "main".
 * Failure modes: NULL when out of memory. Any thread. */
#include "config.h"

#include "schema/schema.h"
#include "schema/schema_int.h"

#include <cjson/cJSON.h>

char *gw_schema_export_json(void)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *main = cJSON_AddObjectToObject(root, "main");
	cJSON *plugins = cJSON_AddObjectToObject(root, "plugins");
	bool ok = root != NULL && main != NULL && plugins != NULL;
	char *out = NULL;

	for (size_t i = 0; ok && i < gw_schema__n_rows; i++) {
		const cJSON *s = gw_schema__find(gw_schema__rows[i].name);
		cJSON *c = s ? cJSON_Duplicate(s, true) : cJSON_CreateObject();
		ok = c != NULL && cJSON_AddItemToObject(main, gw_schema__rows[i].name, c);
	}
	for (size_t i = 0; ok && i < gw_schema__n_plugins; i++) {
		const cJSON *s = gw_schema__plugin(gw_schema__plugins[i].name);
		cJSON *c = s ? cJSON_Duplicate(s, true) : cJSON_CreateObject();
		ok = c != NULL && cJSON_AddItemToObject(plugins, gw_schema__plugins[i].name, c);
	}
	if (ok) {
		out = cJSON_PrintUnformatted(root);
	}
	cJSON_Delete(root);
	return out;
}
