/* plugin_uri_blocker.c: uri-blocker (priority 2900), as APISIX's.
 *
 * Happy path: the request's request_uri (path and query as received) is
 * searched with each of block_rules (PCRE2, lib/regex: bounded; with
 * case_insensitive, caseless); a hit answers rejected_code (403) with
 * {"error_msg": rejected_msg} when set, the status page otherwise; no hit
 * lets the request go on. Failure modes: a match that hits a regex limit
 * counts as no match (lib/regex). Threads: compile on the config thread,
 * rewrite on the worker. */
#include "config.h"

#include "lib/err.h"
#include "lib/json.h"
#include "lib/regex.h"
#include "proxy/plugin_int.h"

#include <string.h>

struct blocker {
	struct gw_regex **re;
	size_t n;
	int code;
	const char *msg;
};

static int compile(struct gw_proxy__compiler *c, const cJSON *j, const void **out)
{
	struct blocker *b = gw_proxy__c_alloc(c, sizeof *b);
	const cJSON *rules = cJSON_GetObjectItemCaseSensitive(j, "block_rules"), *it;
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(j, "rejected_msg");
	unsigned flags = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "case_insensitive"))
			     ? GW_REGEX_CASELESS
			     : 0;
	int rv;

	if (b == NULL) {
		return GW_ENOMEM;
	}
	if (!cJSON_IsArray(rules)) {
		return gw_proxy__c_fail(c, "%s", "uri-blocker: block_rules");
	}
	b->re = gw_proxy__c_alloc(c, ((size_t)cJSON_GetArraySize(rules) + 1) * sizeof *b->re);
	if (b->re == NULL) {
		return GW_ENOMEM;
	}
	cJSON_ArrayForEach(it, rules)
	{
		if (!cJSON_IsString(it)) {
			return gw_proxy__c_fail(c, "%s", "uri-blocker: block_rules holds strings");
		}
		if ((rv = gw_proxy__c_regex(c, it->valuestring, flags, &b->re[b->n])) != 0) {
			return rv;
		}
		b->n++;
	}
	b->code =
	    (int)gw_json_int(cJSON_GetObjectItemCaseSensitive(j, "rejected_code"), 200, 599, 403);
	if (cJSON_IsString(msg) && (b->msg = gw_proxy__c_strdup(c, msg->valuestring)) == NULL) {
		return GW_ENOMEM;
	}
	*out = b;
	return 0;
}

static int rewrite(struct gw_proxy__req *r, const void *conf)
{
	const struct blocker *b = conf;
	char buf[8192];
	const char *uri;
	size_t len;

	if (!gw_proxy__plugin_var(r, "request_uri", buf, sizeof buf, &uri, &len)) {
		/* longer than buf (a URI of max_uri_bytes exactly): still the
		 * query too, or padding a URI to that length would get its
		 * query past the rules */
		char *u = gw_arena_alloc(&r->arena, r->path_len + r->query_len + 2);
		if (u == NULL) {
			return gw_proxy__plugin_respond(r, 503, NULL);
		}
		memcpy(u, r->path, r->path_len);
		len = r->path_len;
		if (r->query_len > 0) {
			u[len++] = '?';
			memcpy(u + len, r->query, r->query_len);
			len += r->query_len;
		}
		u[len] = '\0';
		uri = u;
	}
	for (size_t i = 0; i < b->n; i++) {
		if (gw_regex_match(b->re[i], uri, len, NULL, 0) > 0) {
			return gw_proxy__limit_reject(r, b->code, b->msg);
		}
	}
	return 0;
}

const struct gw_proxy__plugin gw_proxy__plugin_uri_blocker = {
    .name = "uri-blocker",
    .priority = 2900,
    .compile = compile,
    .rewrite = rewrite,
};
