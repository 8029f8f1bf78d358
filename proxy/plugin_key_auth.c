/* plugin_key_auth.c: key-auth (priority 2500), as APISIX's.
 *
 * Happy path: the key is read from the request header named by "header"
 * (default "apikey"), else from the query argument named by "query"
 * (default "apikey"); the consumer whose key-auth credential it is is found
 * in O(1) in the snapshot's index (plugin_consumer.c), the key compared in
 * constant time, and attached to the request; with hide_credentials the
 * header or query argument is removed before the request goes upstream.
 * Failure modes: no key: 401 {"message":"Missing API key in request"}; a
 * key of no consumer: 401 {"message":"Invalid API key in request"}; with
 * anonymous_consumer, that consumer is attached instead (401 "Invalid user
 * authorization" when it does not exist).
 * Threads: compile on the config thread, rewrite on the request's worker. */
#include "config.h"

#include "lib/ct.h"
#include "lib/err.h"
#include "proxy/plugin_int.h"

#include <stdio.h>
#include <string.h>

struct kauth {
	const char *header; /* "apikey" */
	const char *query;  /* "apikey" */
	const char *anon;   /* anonymous_consumer, or NULL */
	bool hide;
};

static int compile(struct gw_proxy__compiler *c, const cJSON *j, const void **out)
{
	struct kauth *k = gw_proxy__c_alloc(c, sizeof *k);

	if (k == NULL || (k->header = gw_proxy__c_str(c, j, "header", "apikey")) == NULL ||
	    (k->query = gw_proxy__c_str(c, j, "query", "apikey")) == NULL) {
		return GW_ENOMEM;
	}
	k->hide = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "hide_credentials"));
	if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "anonymous_consumer")) &&
	    (k->anon = gw_proxy__c_str(c, j, "anonymous_consumer", "")) == NULL) {
		return GW_ENOMEM;
	}
	*out = k;
	return 0;
}

static int rewrite(struct gw_proxy__req *r, const void *conf)
{
	const struct kauth *k = conf;
	const struct gw_proxy__consumer *co;
	const char *key = gw_proxy__plugin_req_header(r, k->header), *secret = NULL;
	char arg[300], buf[1024];
	size_t len = 0;
	bool from_query = false;

	if (key != NULL) {
		len = strlen(key);
	} else {
		snprintf(arg, sizeof arg, "arg_%s", k->query);
		from_query = gw_proxy__plugin_var(r, arg, buf, sizeof buf, &key, &len);
	}
	if (key == NULL) {
		return gw_proxy__consumer_fallback(r, k->anon, "Missing API key in request");
	}
	co = gw_proxy__consumer_find(r->snap->cfg, GW_PROXY__CRED_KEY, key, len, &secret);
	if (co == NULL || !gw_ct_equal(key, len, secret, strlen(secret))) {
		return gw_proxy__consumer_fallback(r, k->anon, "Invalid API key in request");
	}
	if (k->hide) {
		if (from_query) {
			gw_proxy__plugin_drop_arg(r, k->query);
		} else {
			gw_proxy__plugin_req_header_del(r, k->header);
		}
	}
	gw_proxy__consumer_attach(r, co);
	return 0;
}

const struct gw_proxy__plugin gw_proxy__plugin_key_auth = {
    .name = "key-auth",
    .priority = 2500,
    .compile = compile,
    .rewrite = rewrite,
};
