/* plugin_ip_restriction.c: ip-restriction (priority 3000), as APISIX's.
 *
 * Happy path: the client address (the connection's peer) is matched against
 * the whitelist (only those pass) or the blacklist (those are refused),
 * IPv4 and IPv6 addresses and CIDRs. Failure modes: a refused client gets
 * response_code (403) and {"message": message} ("Your IP address is not
 * allowed" by default). Threads: compile on the config thread, access on
 * the request's worker. */
#include "config.h"

#include "lib/err.h"
#include "proxy/plugin_int.h"
#include "lib/json.h"

#include <string.h>

struct iprs {
	struct gw_proxy__cidr *v;
	size_t n;
	bool allow; /* whitelist */
	int code;
	const char *message;
};

static int compile(struct gw_proxy__compiler *c, const cJSON *j, const void **out)
{
	struct iprs *p = gw_proxy__c_alloc(c, sizeof *p);
	const cJSON *wl = cJSON_GetObjectItemCaseSensitive(j, "whitelist");
	const cJSON *list = wl ? wl : cJSON_GetObjectItemCaseSensitive(j, "blacklist");
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(j, "message");
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(j, "response_code");
	const cJSON *it;

	if (p == NULL) {
		return GW_ENOMEM;
	}
	if (!cJSON_IsArray(list)) {
		return gw_proxy__c_fail(c, "%s", "ip-restriction: whitelist or blacklist");
	}
	p->allow = wl != NULL;
	p->code = (int)gw_json_int(code, 100, 599, 403);
	p->message = gw_proxy__c_strdup(c, cJSON_IsString(msg) ? msg->valuestring
							       : "Your IP address is not allowed");
	p->v = gw_proxy__c_alloc(c, ((size_t)cJSON_GetArraySize(list) + 1) * sizeof *p->v);
	if (p->message == NULL || p->v == NULL) {
		return GW_ENOMEM;
	}
	cJSON_ArrayForEach(it, list)
	{
		if (!cJSON_IsString(it) ||
		    gw_proxy__cidr_parse(it->valuestring, &p->v[p->n]) != 0) {
			return gw_proxy__c_fail(c, "%s", "ip-restriction: bad address");
		}
		p->n++;
	}
	*out = p;
	return 0;
}

static int access_hook(struct gw_proxy__req *r, const void *conf)
{
	const struct iprs *p = conf;
	struct gw_proxy__match_ctx m;
	bool in = false;

	gw_proxy__req_match_ctx(r, &m);
	for (size_t i = 0; i < p->n && !in; i++) {
		in = gw_proxy__cidr_match(&p->v[i], m.peer);
	}
	if (in == p->allow) {
		return 0;
	}
	return gw_proxy__plugin_message(r, p->code, "message", p->message);
}

const struct gw_proxy__plugin gw_proxy__plugin_ip_restriction = {
    .name = "ip-restriction",
    .priority = 3000,
    .compile = compile,
    .access = access_hook,
};
