/* plugin_basic_auth.c: basic-auth (priority 2520), as APISIX's.
 *
 * Happy path: "Authorization: Basic base64(user:password)"; the consumer
 * whose basic-auth credential has that username is found in O(1)
 * (plugin_consumer.c), the password compared in constant time, and the
 * consumer attached; hide_credentials removes the header before the
 * request goes upstream. The password is everything after the first ':'
 * (RFC 7617).
 * Failure modes (APISIX's bodies): no header: 401 {"message":"Missing
 * authorization in request"} with WWW-Authenticate: Basic realm='.'; a
 * header that is not Basic base64 user:password: 401 "Invalid authorization
 * in request"; an unknown user or a wrong password: 401 "Invalid user
 * authorization". With anonymous_consumer, that consumer is attached
 * instead of each 401. Threads: compile on the config thread, rewrite on the
 * request's worker. */
#include "config.h"

#include "lib/ct.h"
#include "lib/err.h"
#include "proxy/plugin_int.h"

#include <openssl/evp.h>
#include <string.h>
#include <strings.h>

struct bauth {
	bool hide;
	const char *anon; /* anonymous_consumer, or NULL */
};

static int compile(struct gw_proxy__compiler *c, const cJSON *j, const void **out)
{
	struct bauth *b = gw_proxy__c_alloc(c, sizeof *b);
	const cJSON *anon = cJSON_GetObjectItemCaseSensitive(j, "anonymous_consumer");

	if (b == NULL) {
		return GW_ENOMEM;
	}
	b->hide = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "hide_credentials"));
	if (cJSON_IsString(anon) && (b->anon = gw_proxy__c_strdup(c, anon->valuestring)) == NULL) {
		return GW_ENOMEM;
	}
	*out = b;
	return 0;
}

/* Decode the credentials of @h into @buf: user and password split at the
 * first ':' (NUL-terminated both). false when malformed. */
static bool decode(const char *h, char *buf, size_t cap, const char **user, const char **pass)
{
	size_t n, pad = 0;
	int len;
	char *colon;

	if (strncasecmp(h, "Basic", 5) != 0 || (h[5] != ' ' && h[5] != '\t')) {
		return false;
	}
	h += 6;
	while (*h == ' ' || *h == '\t') {
		h++;
	}
	n = strlen(h);
	while (n > 0 && (h[n - 1] == ' ' || h[n - 1] == '\t')) {
		n--;
	}
	if (n == 0 || n % 4 != 0 || n / 4 * 3 >= cap) {
		return false;
	}
	pad = (h[n - 1] == '=') + (h[n - 2] == '=');
	len = EVP_DecodeBlock((unsigned char *)buf, (const unsigned char *)h, (int)n);
	if (len < 0 || (size_t)len < pad) {
		return false;
	}
	len -= (int)pad;
	buf[len] = '\0';
	if (memchr(buf, '\0', (size_t)len) != NULL || (colon = strchr(buf, ':')) == NULL) {
		return false;
	}
	*colon = '\0';
	*user = buf;
	*pass = colon + 1;
	return true;
}

static int rewrite(struct gw_proxy__req *r, const void *conf)
{
	const struct bauth *b = conf;
	const char *h = gw_proxy__plugin_req_header(r, "Authorization");
	const char *user, *pass, *secret = NULL;
	const struct gw_proxy__consumer *co;
	char buf[1024];

	if (h == NULL) {
		if (b->anon == NULL) {
			gw_proxy__plugin_resp_header(r, "WWW-Authenticate", "Basic realm='.'");
		}
		return gw_proxy__consumer_fallback(r, b->anon, "Missing authorization in request");
	}
	if (!decode(h, buf, sizeof buf, &user, &pass)) {
		return gw_proxy__consumer_fallback(r, b->anon, "Invalid authorization in request");
	}
	co = gw_proxy__consumer_find(r->snap->cfg, GW_PROXY__CRED_BASIC, user, strlen(user),
				     &secret);
	if (co == NULL || !gw_ct_equal(pass, strlen(pass), secret, strlen(secret))) {
		return gw_proxy__consumer_fallback(r, b->anon, "Invalid user authorization");
	}
	if (b->hide) {
		gw_proxy__plugin_req_header_del(r, "Authorization");
	}
	gw_proxy__consumer_attach(r, co);
	return 0;
}

const struct gw_proxy__plugin gw_proxy__plugin_basic_auth = {
    .name = "basic-auth",
    .priority = 2520,
    .compile = compile,
    .rewrite = rewrite,
};
