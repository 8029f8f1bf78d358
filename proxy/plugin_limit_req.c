/* plugin_limit_req.c: limit-req (priority 1001), APISIX's "local" policy:
 * a leaky bucket per key (rate requests per second, burst more), counted
 * for the whole node.
 *
 * Happy path: the access hook resolves the key as limit-count does
 * (key_type "var" or "var_combination", remote_addr when empty) and asks
 * the node-wide table (plugin_limit.c, GCRA arithmetic equal to
 * resty.limit.req's) whether the request fits: excess = what the bucket
 * holds beyond the rate, in requests. A request whose excess is above burst
 * is rejected; one within the burst waits excess / rate seconds before
 * going upstream (plugin_delay.c: a timer of the worker, the loop is never
 * blocked), or passes at once with nodelay.
 * Failure modes: rejected_code (503) with {"error_msg": rejected_msg} when
 * set, the status page otherwise. Threads: compile on the config thread,
 * access on any worker (lock-free). */
#include "config.h"

#include "lib/err.h"
#include "proxy/plugin_int.h"
#include "lib/json.h"

#include <stdlib.h>
#include <string.h>

struct lreq {
	uint64_t ident;
	double rate, burst;
	const char *key;
	bool comb, nodelay;
	int rejected_code;
	const char *rejected_msg;
};

static int compile(struct gw_proxy__compiler *c, const cJSON *j, const void **out)
{
	struct lreq *l = gw_proxy__c_alloc(c, sizeof *l);
	const cJSON *rate = cJSON_GetObjectItemCaseSensitive(j, "rate");
	const cJSON *burst = cJSON_GetObjectItemCaseSensitive(j, "burst");
	const cJSON *key = cJSON_GetObjectItemCaseSensitive(j, "key");
	const cJSON *kt = cJSON_GetObjectItemCaseSensitive(j, "key_type");
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(j, "rejected_code");
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(j, "rejected_msg");

	if (l == NULL) {
		return GW_ENOMEM;
	}
	if (!cJSON_IsNumber(rate) || !(rate->valuedouble > 0) || rate->valuedouble > 1e9 ||
	    !cJSON_IsNumber(burst) || burst->valuedouble < 0 || burst->valuedouble > 1e9 ||
	    !cJSON_IsString(key)) {
		return gw_proxy__c_fail(c, "%s", "limit-req: rate, burst and key");
	}
	l->rate = rate->valuedouble;
	l->burst = burst->valuedouble;
	l->key = gw_proxy__c_strdup(c, key->valuestring);
	l->comb = cJSON_IsString(kt) && strcmp(kt->valuestring, "var_combination") == 0;
	l->nodelay = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "nodelay"));
	l->rejected_code = (int)gw_json_int(code, 100, 599, 503);
	l->rejected_msg = cJSON_IsString(msg) ? gw_proxy__c_strdup(c, msg->valuestring) : NULL;
	l->ident = gw_proxy__limit_ident(c, j, NULL);
	if (l->ident == 0 || l->key == NULL || (cJSON_IsString(msg) && l->rejected_msg == NULL)) {
		return GW_ENOMEM;
	}
	*out = l;
	return 0;
}

static int access_hook(struct gw_proxy__req *r, const void *conf)
{
	const struct lreq *l = conf;
	char buf[1024];
	size_t len;
	const char *k = gw_proxy__limit_key(r, l->key, l->comb, buf, sizeof buf, &len);
	int64_t delay =
	    gw_proxy__limit_req(gw_proxy__limit_hash(l->ident, k, len), l->rate, l->burst);

	if (delay >= 0) {
		if (!l->nodelay && (uint64_t)delay > r->delay_ms) {
			r->delay_ms = delay > 86400000 ? 86400000u : (unsigned)delay;
		}
		return 0;
	}
	return gw_proxy__limit_reject(r, l->rejected_code, l->rejected_msg);
}

const struct gw_proxy__plugin gw_proxy__plugin_limit_req = {
    .name = "limit-req",
    .priority = 1001,
    .compile = compile,
    .access = access_hook,
};
