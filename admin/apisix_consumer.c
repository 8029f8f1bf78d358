/* apisix_consumer.c: the Admin API's check that one credential belongs to
 * one consumer (APISIX's "duplicate key found with consumer: <name>").
 *
 * Happy path: before a consumer or a credential is written, its auth
 * plugins' identifying fields (key-auth's key, basic-auth's username: what
 * the proxy indexes credentials by) are looked for in every other object
 * under /apisix/consumers/ (one serializable range read of the local
 * store); none found, the write goes on. As in APISIX the check is not
 * atomic with the write: two racing writes of the same key may both pass,
 * and the proxy then keeps the first (proxy/plugin_consumer.c, warning).
 * Failure modes: GW_EINVAL with APISIX's message; store errors passed on.
 * Threads: the control loop. */
#include "config.h"

#include "admin/apisix_int.h"
#include "lib/err.h"
#include "store/store.h"

#include <stdio.h>
#include <string.h>

#define PREFIX "/apisix/consumers/"

/* The field that identifies a credential of each auth plugin. */
static const struct {
	const char *plugin, *field;
} ids[] = {
    {"key-auth", "key"},
    {"basic-auth", "username"},
};

/* The value of @plugin.@field in the plugins of @v, or NULL. */
static const char *cred_of(const cJSON *v, const char *plugin, const char *field)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(v, "plugins"), plugin);
	const cJSON *f = cJSON_GetObjectItemCaseSensitive(p, field);

	return cJSON_IsString(f) ? f->valuestring : NULL;
}

/* Does the stored object at @kv hold one of @v's credentials? */
static bool clashes(const struct gw_kv *kv, const cJSON *v)
{
	cJSON *o = cJSON_ParseWithLength(kv->value, kv->value_len);
	bool hit = false;

	for (size_t i = 0; o != NULL && !hit && i < sizeof ids / sizeof ids[0]; i++) {
		const char *mine = cred_of(v, ids[i].plugin, ids[i].field);
		const char *theirs = cred_of(o, ids[i].plugin, ids[i].field);
		hit = mine != NULL && theirs != NULL && strcmp(mine, theirs) == 0;
	}
	cJSON_Delete(o);
	return hit;
}

int gw_admin__check_credentials(struct gw_admin__op *op, const cJSON *v, char *msg, size_t n)
{
	struct gw_range_resp rs;
	size_t pl = sizeof PREFIX - 1;
	bool any = false;
	int rv;

	if (!gw_admin__is(op->res, "consumers") && !gw_admin__is(op->res, "credentials")) {
		return 0;
	}
	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
		any = any || cred_of(v, ids[i].plugin, ids[i].field) != NULL;
	}
	if (!any) {
		return 0;
	}
	rv = gw_admin__read_prefix(op->a, PREFIX, &rs);
	if (rv != 0) {
		return rv;
	}
	for (size_t i = 0; i < rs.n_kvs && rv == 0; i++) {
		const struct gw_kv *kv = &rs.kvs[i];
		const char *user = kv->key + pl, *slash;
		size_t ul;

		if (kv->key_len == strlen(op->key) && memcmp(kv->key, op->key, kv->key_len) == 0) {
			continue; /* the object being replaced */
		}
		if (kv->key_len <= pl || !clashes(kv, v)) {
			continue;
		}
		slash = memchr(user, '/', kv->key_len - pl);
		ul = slash ? (size_t)(slash - user) : kv->key_len - pl;
		snprintf(msg, n, "duplicate key found with consumer: %.*s",
			 (int)(ul > 200 ? 200 : ul), user);
		rv = GW_EINVAL;
	}
	gw_store_range_resp_free(&rs);
	return rv;
}
