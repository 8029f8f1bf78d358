/* apisix_consumer.c: the Admin API's check that one credential belongs to
 * one consumer (APISIX's "duplicate key found with consumer: <name>"), and
 * consumer secrets stored sealed.
 *
 * Happy path: before a consumer or a credential is written, its auth
 * plugins' identifying fields (key-auth's key, basic-auth's username: what
 * the proxy indexes credentials by) are looked for in every other object
 * under /apisix/consumers/ (one serializable range read of the local
 * store); none found, the write goes on. As in APISIX the check is not
 * atomic with the write: two racing writes of the same key may both pass,
 * and the proxy then keeps the first (proxy/plugin_consumer.c, warning).
 * Secrets: key-auth's key and basic-auth's password (the fields APISIX
 * encrypts with its keyring) are sealed with the node's keyring
 * (lib/keyring.h, GW_KEYRING_AAD_CONSUMER) before a consumer or credential
 * is proposed, so the store, its snapshots and replicas hold only the
 * sealed form; comparisons open them. A sealed value sent back (GET then
 * PUT) is kept as it is.
 * Failure modes: GW_EINVAL with APISIX's message; store errors passed on;
 * no keyring: the write is refused (500). Threads: the control loop. */
#include "config.h"

#include "admin/apisix_int.h"
#include "lib/err.h"
#include "lib/keyring.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX "/apisix/consumers/"

/* The field that identifies a credential of each auth plugin. */
static const struct {
	const char *plugin, *field;
} ids[] = {
    {"key-auth", "key"},
    {"basic-auth", "username"},
    {"jwt-auth", "key"},
    {"hmac-auth", "key_id"},
};

/* The value of @plugin.@field in the plugins of @v, or NULL. */
static const char *cred_of(const cJSON *v, const char *plugin, const char *field)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(v, "plugins"), plugin);
	const cJSON *f = cJSON_GetObjectItemCaseSensitive(p, field);

	return cJSON_IsString(f) ? f->valuestring : NULL;
}

/* The secret fields APISIX encrypts, per auth plugin. */
static const struct {
	const char *plugin, *field;
} secrets[] = {
    {"key-auth", "key"},
    {"basic-auth", "password"},
    {"jwt-auth", "secret"},
    {"hmac-auth", "secret_key"},
};

/* Equal once opened (either may be sealed; one that cannot be opened
 * equals nothing). */
static bool same_value(const char *a, const char *b)
{
	const struct gw_keyring *kr = gw_keyring_default();
	char *pa = NULL, *pb = NULL;
	bool eq;

	if (gw_keyring_reveal(kr, GW_KEYRING_AAD_CONSUMER, a, &pa) != 0 ||
	    gw_keyring_reveal(kr, GW_KEYRING_AAD_CONSUMER, b, &pb) != 0) {
		if (pa != NULL) {
			gw_keyring_wipe_free(pa, strlen(pa) + 1);
		}
		return false;
	}
	eq = strcmp(pa, pb) == 0;
	gw_keyring_wipe_free(pa, strlen(pa) + 1);
	gw_keyring_wipe_free(pb, strlen(pb) + 1);
	return eq;
}

/* Does the stored object at @kv hold one of @v's credentials? */
static bool clashes(const struct gw_kv *kv, const cJSON *v)
{
	cJSON *o = cJSON_ParseWithLength(kv->value, kv->value_len);
	bool hit = false;

	for (size_t i = 0; o != NULL && !hit && i < sizeof ids / sizeof ids[0]; i++) {
		const char *mine = cred_of(v, ids[i].plugin, ids[i].field);
		const char *theirs = cred_of(o, ids[i].plugin, ids[i].field);
		hit = mine != NULL && theirs != NULL && same_value(mine, theirs);
	}
	cJSON_Delete(o);
	return hit;
}

int gw_admin__consumer_seal(struct gw_admin__op *op, cJSON *v, char *msg, size_t n)
{
	const struct gw_keyring *kr = gw_keyring_default();
	cJSON *plugins = cJSON_GetObjectItemCaseSensitive(v, "plugins");

	if (!gw_admin__is(op->res, "consumers") && !gw_admin__is(op->res, "credentials")) {
		return 0;
	}
	for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++) {
		cJSON *f = cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(plugins, secrets[i].plugin), secrets[i].field);
		char *blob = NULL;
		int rv;

		if (cJSON_IsString(f) && kr != NULL && gw_keyring_is_sealed(f->valuestring)) {
			/* sealed by an older key: re-seal with the current one */
			if (gw_keyring_reseal(kr, GW_KEYRING_AAD_CONSUMER, f->valuestring, &blob) ==
				0 &&
			    blob != NULL) {
				cJSON_free(f->valuestring);
				f->valuestring = blob;
			}
			continue;
		}
		if (!cJSON_IsString(f) || gw_keyring_is_sealed(f->valuestring)) {
			continue;
		}
		rv = kr == NULL ? GW_ENOTFOUND
				: gw_keyring_seal(kr, GW_KEYRING_AAD_CONSUMER, f->valuestring,
						  strlen(f->valuestring), &blob);
		if (rv != 0) {
			snprintf(msg, n, "failed to encrypt %s: %s", secrets[i].field,
				 rv == GW_ENOTFOUND ? "no keyring" : gw_strerror(rv));
			return rv == GW_ENOMEM ? rv : GW_EIO;
		}
		gw_keyring_wipe_free(f->valuestring, strlen(f->valuestring) + 1);
		f->valuestring = blob;
	}
	return 0;
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
