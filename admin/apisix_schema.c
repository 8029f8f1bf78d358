/* apisix_schema.c: the Admin API's side of the schemas, and the JSON merge
 * used by PATCH.
 *
 * The schemas, the plugin catalogue and the validation walk live in schema/
 * (shared with the proxy's compiler, so that what the Admin API stores the
 * proxy serves); the gw_admin__ entry points here forward to it. The merge
 * (RFC 7386, APISIX's PATCH) and the sub-path setter are the Admin API's
 * own (the depth scan of request bodies is lib/json.h's). Values written
 * to the store around the Admin API (etcd API puts) get the same checks
 * here: gw_admin_check_stored.
 * Failure modes: GW_EINVAL for the value, GW_ENOMEM. */
#include "config.h"

#include "admin/apisix.h"
#include "admin/apisix_int.h"
#include "lib/err.h"
#include "lib/json.h"
#include "schema/schema.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* ---- schema/ entry points, as the Admin API calls them ---------------- */

int gw_admin__validate(const char *schema, const cJSON *v, char *err, size_t errlen)
{
	return gw_schema_validate(schema, v, err, errlen);
}

int gw_admin__check(const char *schema, const cJSON *v, char *err, size_t errlen)
{
	return gw_schema_check(schema, v, 0, err, errlen);
}

int gw_admin__check_plugins(const cJSON *plugins, char *err, size_t errlen)
{
	return gw_schema_check_plugins(plugins, err, errlen);
}

int gw_admin__check_upstream(const cJSON *up, char *err, size_t errlen)
{
	return gw_schema_check_upstream(up, err, errlen);
}

const char *const *gw_admin__plugin_names(void)
{
	return gw_schema_plugin_names();
}

const char *gw_admin__plugin_schema(const char *name)
{
	return gw_schema_plugin_schema(name);
}

bool gw_admin__plugin_validated(const char *name)
{
	return gw_schema_plugin_validated(name);
}

/* ---- values written around the Admin API ------------------------------ */

/* @key as text for a message: printable ASCII, others as '?', cut to fit. */
static void shown_key(const char *key, size_t len, char *out, size_t n)
{
	size_t i;

	for (i = 0; i < len && i + 1 < n; i++) {
		unsigned char c = (unsigned char)key[i];
		out[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	out[i] = '\0';
}

int gw_admin_check_stored(const char *key, size_t key_len, const char *value, size_t value_len,
			  char *err, size_t errlen)
{
	const struct gw_admin__resource *res = gw_admin__resource_of_key(key, key_len);
	char why[512], jerr[256], shown[96];
	cJSON *v = NULL;
	int rv;

	if (res == NULL) {
		return 0;
	}
	rv = gw_json_parse_strict(value, value_len, GW_ADMIN__MAX_NESTING, &v, jerr, sizeof(jerr));
	if (rv == GW_EINVAL) {
		snprintf(why, sizeof(why), "invalid JSON: %s", jerr);
	} else if (rv == 0) {
		rv = gw_schema_check(res->schema, v, GW_SCHEMA_PROXY, why, sizeof(why));
		if (rv == 0 && gw_admin__is(res, "plugin_metadata")) {
			/* the id: the key's last segment, as the Admin API's */
			char name[128];
			size_t pl = strlen(res->prefix);

			shown_key(key + pl, key_len - pl, name, sizeof(name));
			rv = gw_schema_check_metadata(name, v, why, sizeof(why));
		}
		cJSON_Delete(v);
	}
	if (rv == GW_EINVAL) {
		shown_key(key, key_len, shown, sizeof(shown));
		snprintf(err, errlen, "%s is not a valid %s: %s", shown, res->type, why);
	} else if (rv != 0) {
		snprintf(err, errlen, "%s", gw_strerror(rv));
	}
	return rv;
}

/* ---- merge ------------------------------------------------------------- */

cJSON *gw_admin__merge(cJSON *target, const cJSON *patch)
{
	const cJSON *p;
	cJSON *t, *merged, *dup;

	if (!cJSON_IsObject(patch)) {
		dup = cJSON_Duplicate(patch, true);
		if (dup != NULL) {
			cJSON_Delete(target);
		}
		return dup;
	}
	if (!cJSON_IsObject(target)) {
		t = cJSON_CreateObject();
		if (t == NULL) {
			return NULL;
		}
		cJSON_Delete(target);
		target = t;
	}
	cJSON_ArrayForEach(p, patch)
	{
		if (cJSON_IsNull(p)) {
			cJSON_DeleteItemFromObjectCaseSensitive(target, p->string);
			continue;
		}
		t = cJSON_GetObjectItemCaseSensitive(target, p->string);
		if (cJSON_IsObject(t) && cJSON_IsObject(p)) {
			if (gw_admin__merge(t, p) == NULL) { /* in place: returns t */
				return NULL;
			}
			continue;
		}
		/* a new key or a replaced value (nulls inside an object patch are
		 * dropped, as merging into an empty object does) */
		if (cJSON_IsObject(p)) {
			dup = cJSON_CreateObject();
			merged = dup ? gw_admin__merge(dup, p) : NULL;
		} else {
			merged = cJSON_Duplicate(p, true);
		}
		if (merged == NULL) {
			return NULL;
		}
		if (t != NULL) {
			cJSON_ReplaceItemInObjectCaseSensitive(target, p->string, merged);
		} else {
			cJSON_AddItemToObject(target, p->string, merged);
		}
	}
	return target;
}

int gw_admin__set_path(cJSON *root, const char *path, cJSON *value)
{
	char seg[256];
	const char *slash;
	cJSON *cur = root, *next;
	size_t len;

	if (!cJSON_IsObject(root) || path == NULL || *path == '\0') {
		return GW_EINVAL;
	}
	for (;;) {
		slash = strchr(path, '/');
		len = slash ? (size_t)(slash - path) : strlen(path);
		if (len == 0 || len >= sizeof(seg)) {
			return GW_EINVAL;
		}
		memcpy(seg, path, len);
		seg[len] = '\0';
		if (slash == NULL) {
			break;
		}
		next = cJSON_GetObjectItemCaseSensitive(cur, seg);
		if (next == NULL) {
			next = cJSON_AddObjectToObject(cur, seg);
			if (next == NULL) {
				return GW_ENOMEM;
			}
		} else if (!cJSON_IsObject(next)) {
			return GW_EINVAL;
		}
		cur = next;
		path = slash + 1;
	}
	if (cJSON_GetObjectItemCaseSensitive(cur, seg) != NULL) {
		cJSON_ReplaceItemInObjectCaseSensitive(cur, seg, value);
	} else {
		cJSON_AddItemToObject(cur, seg, value);
	}
	return 0;
}
