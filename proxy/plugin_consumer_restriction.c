/* plugin_consumer_restriction.c: consumer-restriction (priority 2400), as
 * APISIX's: who may use a route, after an auth plugin identified them.
 *
 * Happy path: the access hook takes the value named by "type" — the
 * consumer's name (default), the route's id, the route's service id or
 * the consumer's group id —
 * and refuses it when it is in the blacklist, or not in the whitelist, or
 * when allowed_by_methods names the consumer and the request's method is
 * not among its methods. Failure modes: no value (no consumer attached):
 * 401 {"message":"Missing authentication or identity verification."}; a
 * refused value: rejected_code (403) with {"message": rejected_msg} or
 * "The <type> is forbidden.". Threads: compile on the config thread,
 * access on the request's worker. */
#include "config.h"

#include "lib/err.h"
#include "proxy/plugin_int.h"
#include "lib/json.h"

#include <http_parser.h>
#include <stdio.h>
#include <string.h>

enum { T_CONSUMER, T_ROUTE, T_GROUP, T_SERVICE };

struct bym {
	const char *user;
	uint32_t methods; /* bit per http_method */
};

struct crestr {
	int type;
	const char *const *black, *const *white; /* NULL-terminated, or NULL */
	struct bym *byms;
	size_t n_byms;
	int code;
	const char *msg;
};

static const char *const *names(struct gw_proxy__compiler *c, const cJSON *arr)
{
	const char **v;
	const cJSON *it;
	size_t n = 0;

	if (!cJSON_IsArray(arr)) {
		return NULL;
	}
	v = gw_proxy__c_alloc(c, ((size_t)cJSON_GetArraySize(arr) + 1) * sizeof *v);
	cJSON_ArrayForEach(it, arr)
	{
		if (v != NULL && cJSON_IsString(it)) {
			v[n++] = gw_proxy__c_strdup(c, it->valuestring);
		}
	}
	return (const char *const *)v;
}

static bool listed(const char *const *v, const char *s)
{
	for (; *v != NULL; v++) {
		if (strcmp(*v, s) == 0) {
			return true;
		}
	}
	return false;
}

static int compile(struct gw_proxy__compiler *c, const cJSON *j, const void **out)
{
	struct crestr *p = gw_proxy__c_alloc(c, sizeof *p);
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "type");
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(j, "rejected_code");
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(j, "rejected_msg");
	const cJSON *byms = cJSON_GetObjectItemCaseSensitive(j, "allowed_by_methods"), *it;
	const char *tname = cJSON_IsString(t) ? t->valuestring : "consumer_name";
	char dflt[64];

	if (p == NULL) {
		return GW_ENOMEM;
	}
	p->type = strcmp(tname, "route_id") == 0            ? T_ROUTE
		  : strcmp(tname, "service_id") == 0        ? T_SERVICE
		  : strcmp(tname, "consumer_group_id") == 0 ? T_GROUP
							    : T_CONSUMER;
	p->black = names(c, cJSON_GetObjectItemCaseSensitive(j, "blacklist"));
	p->white = names(c, cJSON_GetObjectItemCaseSensitive(j, "whitelist"));
	p->code = (int)gw_json_int(code, 100, 599, 403);
	snprintf(dflt, sizeof dflt, "The %s is forbidden.", tname);
	p->msg = gw_proxy__c_strdup(c, cJSON_IsString(msg) ? msg->valuestring : dflt);
	p->byms = gw_proxy__c_alloc(c, ((size_t)cJSON_GetArraySize(byms) + 1) * sizeof *p->byms);
	if (p->msg == NULL || p->byms == NULL) {
		return GW_ENOMEM;
	}
	if (!cJSON_IsArray(byms)) {
		byms = NULL;
	}
	cJSON_ArrayForEach(it, byms)
	{
		const cJSON *u = cJSON_GetObjectItemCaseSensitive(it, "user"), *m;
		struct bym *b = &p->byms[p->n_byms];

		if (!cJSON_IsString(u)) {
			continue;
		}
		b->user = gw_proxy__c_strdup(c, u->valuestring);
		cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(it, "methods"))
		{
			for (int k = 0; k < 32 && cJSON_IsString(m); k++) {
				if (strcmp(http_method_str((enum http_method)k), m->valuestring) ==
				    0) {
					b->methods |= 1u << k;
				}
			}
		}
		p->n_byms++;
	}
	*out = p;
	return 0;
}

static int access_hook(struct gw_proxy__req *r, const void *conf)
{
	const struct crestr *p = conf;
	const char *v = p->type == T_ROUTE     ? (r->route ? r->route->id : NULL)
			: p->type == T_SERVICE ? (r->route ? r->route->service_id : NULL)
			: r->consumer == NULL  ? NULL
			: p->type == T_GROUP   ? r->consumer->group_id
					       : r->consumer->username;
	bool block = false;

	if (v == NULL) {
		return gw_proxy__plugin_message(r, 401, "message",
						"Missing authentication or identity verification.");
	}
	if (p->black != NULL && listed(p->black, v)) {
		block = true;
	}
	if (p->white != NULL && !listed(p->white, v)) {
		block = true;
	}
	for (size_t i = 0; !block && r->consumer != NULL && i < p->n_byms; i++) {
		if (strcmp(p->byms[i].user, r->consumer->username) == 0 && r->method >= 0 &&
		    r->method < 32 && !(p->byms[i].methods & (1u << r->method))) {
			block = true;
		}
	}
	return block ? gw_proxy__plugin_message(r, p->code, "message", p->msg) : 0;
}

const struct gw_proxy__plugin gw_proxy__plugin_consumer_restriction = {
    .name = "consumer-restriction",
    .priority = 2400,
    .compile = compile,
    .access = access_hook,
};
