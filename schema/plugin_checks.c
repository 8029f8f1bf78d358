/* plugin_checks.c: the checks of plugin configurations that APISIX makes
 * in code (a plugin's check_schema) beyond its JSON schema, with APISIX's
 * words: jwt-auth's keys per algorithm, cors' origins with credentials,
 * redirect's exclusive options, ...
 *
 * Happy path: validate.c calls the plugin's check once its schema passed;
 * 0 lets the configuration through. Failure modes: GW_EINVAL with the
 * reason in @err. Threads: any (pure functions). */
#include "config.h"

#include "lib/err.h"
#include "lib/keyring.h"
#include "lib/regex.h"
#include "schema/schema_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int fail(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, n, fmt, ap);
	va_end(ap);
	return GW_EINVAL;
}

static const char *str(const cJSON *conf, const char *name, const char *dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(conf, name);
	return cJSON_IsString(v) ? v->valuestring : dflt;
}

/* Standard base64 (padding optional)? */
static bool is_base64(const char *s)
{
	size_t n = strlen(s), pad = 0;

	while (n > 0 && s[n - 1] == '=' && pad < 2) {
		n--;
		pad++;
	}
	if (n % 4 == 1 || (pad > 0 && (n + pad) % 4 != 0)) {
		return false;
	}
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") == n;
}

/* jwt-auth's check_schema: HS algorithms need a secret, the others a
 * public key; base64_secret must decode (a sealed secret is not looked
 * at). */
static int jwt_auth(const cJSON *conf, bool consumer, char *err, size_t n)
{
	const char *alg = str(conf, "algorithm", "HS256"), *secret = str(conf, "secret", NULL);

	if (!consumer) {
		return 0;
	}
	if (strncmp(alg, "HS", 2) == 0 && secret == NULL) {
		return fail(err, n, "%s",
			    "property \"secret\" is required when using HS based algorithms");
	}
	if (secret != NULL &&
	    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(conf, "base64_secret")) &&
	    !gw_keyring_is_sealed(secret) && !is_base64(secret)) {
		return fail(err, n,
			    "base64_secret required but the secret is not in base64 format");
	}
	if (strncmp(alg, "HS", 2) != 0 && str(conf, "public_key", NULL) == NULL) {
		return fail(err, n, "missing valid public key");
	}
	return 0;
}

/* Do the strings of the array @arr compile as (bounded) regexes? */
static int regexes(const cJSON *arr, char *err, size_t n)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, arr)
	{
		struct gw_regex *re = NULL;
		char why[256];
		int rv = cJSON_IsString(it)
			     ? gw_regex_compile(it->valuestring, 0, &re, why, sizeof why)
			     : 0;
		if (rv == GW_ENOMEM) {
			return rv;
		}
		if (rv != 0) {
			return fail(err, n, "%s", why);
		}
		gw_regex_free(re);
	}
	return 0;
}

/* uri-blocker's check_schema: the rules compile. */
static int uri_blocker(const cJSON *conf, bool consumer, char *err, size_t n)
{
	(void)consumer;
	return regexes(cJSON_GetObjectItemCaseSensitive(conf, "block_rules"), err, n);
}

/* cors' check_schema: no "*" with allow_credential; the regexes compile. */
static int cors(const cJSON *conf, bool consumer, char *err, size_t n)
{
	static const char *const star[] = {"allow_origins", "allow_methods", "allow_headers",
					   "expose_headers", "timing_allow_origins"};
	static const char *const res[] = {"allow_origins_by_regex",
					  "timing_allow_origins_by_regex"};
	(void)consumer;
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(conf, "allow_credential"))) {
		for (size_t i = 0; i < sizeof star / sizeof star[0]; i++) {
			const char *dflt = i < 3 ? "*" : NULL;
			const char *v = str(conf, star[i], dflt);
			if (v != NULL && strcmp(v, "*") == 0) {
				return fail(err, n, "%s",
					    "you can not set '*' for other option when "
					    "'allow_credential' is true");
			}
		}
	}
	for (size_t i = 0; i < sizeof res / sizeof res[0]; i++) {
		int rv = regexes(cJSON_GetObjectItemCaseSensitive(conf, res[i]), err, n);
		if (rv != 0) {
			return rv;
		}
	}
	return 0;
}

/* redirect's check_schema (its regex_uri is checked by the format). */
static int redirect(const cJSON *conf, bool consumer, char *err, size_t n)
{
	(void)consumer;
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(conf, "http_to_https")) &&
	    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(conf, "append_query_string"))) {
		return fail(err, n, "%s",
			    "only one of `http_to_https` and `append_query_string` can be "
			    "configured.");
	}
	return 0;
}

/* request-validation's check_schema: body_schema and header_schema must be
 * schemas (here: schemas the validator serves, schema/user.c). */
static int request_validation(const cJSON *conf, bool consumer, char *err, size_t n)
{
	static const char *const names[] = {"header_schema", "body_schema"};
	char why[300];
	int rv;

	(void)consumer;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		const cJSON *s = cJSON_GetObjectItemCaseSensitive(conf, names[i]);

		if (s == NULL) {
			continue;
		}
		rv = gw_schema_user_check(s, why, sizeof why);
		if (rv == GW_EINVAL) {
			return fail(err, n, "invalid %s: %s", names[i], why);
		}
		if (rv != 0) {
			return rv;
		}
	}
	return 0;
}

const struct gw_schema__plugin_check gw_schema__plugin_checks[] = {
    {"jwt-auth", jwt_auth},
    {"cors", cors},
    {"redirect", redirect},
    {"uri-blocker", uri_blocker},
    {"request-validation", request_validation},
};
const size_t gw_schema__n_plugin_checks =
    sizeof gw_schema__plugin_checks / sizeof gw_schema__plugin_checks[0];
