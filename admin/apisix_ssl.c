/* apisix_ssl.c: the private keys of ssls objects never leave the Admin API
 * in clear, and are stored encrypted.
 *
 * Happy path: a PUT/POST/PATCH of an ssls object, once checked, has its
 * "key" and every "keys" item sealed with the node's keyring
 * (lib/keyring.h, AES-256-GCM, bound to GW_CERTKEY_AAD) before the TXN is
 * proposed, so the store, its snapshots, its replicas and the answer hold
 * only the sealed form. GET shows what is stored; a key in clear (written
 * through the etcd API, as APISIX allows) is sealed on the fly for the
 * answer. A sealed key sent back (GET then PUT) is kept as it is when the
 * current key sealed it; one sealed by an older key of the ring is
 * re-sealed with the current key (`apigw keyring reseal` relies on it).
 * Failure modes: no keyring or no randomness: the write is refused with
 * 500 (nothing stored); a GET that cannot seal drops the key from the
 * answer. Threads: the admin's loop. */
#include "config.h"

#include "admin/apisix_int.h"
#include "lib/certkey.h"
#include "lib/err.h"
#include "lib/keyring.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Seal the string item @it in place if it is in clear; with @reseal,
 * re-seal it with the current key if an older key sealed it (one the ring
 * cannot open is left to the validation, which refuses it). 0 or an
 * error. */
static int seal_item(const struct gw_keyring *kr, cJSON *it, bool reseal)
{
	char *blob = NULL;
	int rv;

	if (cJSON_IsString(it) && gw_keyring_is_sealed(it->valuestring)) {
		if (reseal && kr != NULL &&
		    gw_keyring_reseal(kr, GW_CERTKEY_AAD, it->valuestring, &blob) == 0 &&
		    blob != NULL) {
			cJSON_free(it->valuestring);
			it->valuestring = blob;
		}
		return 0;
	}
	if (!cJSON_IsString(it)) {
		return 0;
	}
	if (kr == NULL) {
		return GW_ENOTFOUND;
	}
	rv = gw_keyring_seal(kr, GW_CERTKEY_AAD, it->valuestring, strlen(it->valuestring), &blob);
	if (rv != 0) {
		return rv;
	}
	gw_keyring_wipe_free(it->valuestring, strlen(it->valuestring) + 1);
	it->valuestring = blob;
	return 0;
}

static int seal_all(cJSON *v, bool reseal)
{
	const struct gw_keyring *kr = gw_keyring_default();
	cJSON *it;
	int rv = seal_item(kr, cJSON_GetObjectItemCaseSensitive(v, "key"), reseal);

	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(v, "keys"))
	{
		if (rv == 0) {
			rv = seal_item(kr, it, reseal);
		}
	}
	return rv;
}

int gw_admin__ssl_seal(cJSON *v, char *msg, size_t n)
{
	int rv = seal_all(v, true);

	if (rv != 0) {
		snprintf(msg, n, "failed to encrypt key: %s",
			 rv == GW_ENOTFOUND ? "no keyring" : gw_strerror(rv));
		return rv == GW_ENOMEM ? rv : GW_EIO;
	}
	return 0;
}

void gw_admin__ssl_redact(const char *key, size_t len, cJSON *v)
{
	const struct gw_admin__resource *res = gw_admin__resource_of_key(key, len);

	if (res == NULL || !gw_admin__is(res, "ssls") || !cJSON_IsObject(v)) {
		return;
	}
	if (seal_all(v, false) != 0) {
		/* never show a key in clear: drop what could not be sealed */
		cJSON *it = cJSON_GetObjectItemCaseSensitive(v, "key");
		if (cJSON_IsString(it) && !gw_keyring_is_sealed(it->valuestring)) {
			cJSON_DeleteItemFromObjectCaseSensitive(v, "key");
		}
		cJSON_DeleteItemFromObjectCaseSensitive(v, "keys");
	}
}
