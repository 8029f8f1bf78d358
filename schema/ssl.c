/* ssl.c: the checks of an ssls object beyond its JSON schema, as APISIX's
 * check_ssl_conf makes them and the proxy needs them.
 *
 * Happy path: "cert"/"key" parse (a sealed key is opened with the
 * process's keyring, lib/keyring.h), the key matches the certificate, and
 * for the Admin API (flags without GW_SCHEMA_PROXY) the certificate is
 * valid now; a server object's "certs"/"keys" are paired and each pair
 * checked the same way. "client" (mTLS towards the gateway's clients) is
 * refused: the proxy does not verify client certificates yet.
 * Failure modes: GW_EINVAL with APISIX's wording, GW_ENOMEM. Threads: any. */
#include "config.h"

#include "lib/certkey.h"
#include "lib/err.h"
#include "lib/keyring.h"
#include "schema/schema_int.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* One pair: 0 or the error with its message in @err. */
static int check_pair(const cJSON *cert, const cJSON *key, unsigned flags, char *err, size_t n)
{
	struct gw_certkey ck;
	unsigned cf = (flags & GW_SCHEMA_PROXY) ? 0 : GW_CERTKEY_DATES;
	int rv;

	if (!cJSON_IsString(cert)) {
		snprintf(err, n, "failed to parse cert: missing");
		return GW_EINVAL;
	}
	rv = gw_certkey_load(cert->valuestring, cJSON_IsString(key) ? key->valuestring : NULL,
			     gw_keyring_default(), cf, time(NULL), &ck, err, n);
	if (rv == 0) {
		gw_certkey_free(&ck);
	} else if (rv == GW_ENOMEM) {
		snprintf(err, n, "%s", gw_strerror(rv));
	}
	return rv;
}

int gw_schema__check_ssl(const cJSON *v, unsigned flags, char *err, size_t n)
{
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(v, "type");
	const cJSON *certs = cJSON_GetObjectItemCaseSensitive(v, "certs");
	const cJSON *keys = cJSON_GetObjectItemCaseSensitive(v, "keys");
	char why[512];
	int rv, nc, nk;

	rv = check_pair(cJSON_GetObjectItemCaseSensitive(v, "cert"),
			cJSON_GetObjectItemCaseSensitive(v, "key"), flags, err, n);
	if (rv != 0) {
		return rv;
	}
	if (cJSON_IsString(type) && strcmp(type->valuestring, "client") == 0) {
		return 0;
	}
	nc = cJSON_GetArraySize(certs);
	nk = cJSON_GetArraySize(keys);
	if (nc != nk) {
		snprintf(err, n, "mismatched number of certs and keys");
		return GW_EINVAL;
	}
	for (int i = 0; i < nc; i++) {
		rv = check_pair(cJSON_GetArrayItem(certs, i), cJSON_GetArrayItem(keys, i), flags,
				why, sizeof why);
		if (rv != 0) {
			snprintf(err, n, "failed to handle cert-key pair[%d]: %s", i + 1, why);
			return rv;
		}
	}
	if (cJSON_GetObjectItemCaseSensitive(v, "client") != NULL) {
		snprintf(err, n, "client tls verify unsupported");
		return GW_EINVAL;
	}
	return 0;
}
