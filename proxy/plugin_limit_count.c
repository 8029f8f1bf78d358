/* plugin_limit_count.c: limit-count (priority 1002), APISIX's "local"
 * policy: a fixed window per key, counted for the whole node.
 *
 * Happy path: the access hook resolves the key (key_type "var": the
 * variable named by key, e.g. remote_addr, consumer_name, http_x_user;
 * "var_combination": a "$a $b" template; "constant": the text itself; an
 * empty value falls back to remote_addr, as APISIX), counts the request in
 * the node-wide table (plugin_limit.c) under the plugin instance's identity
 * (its object's key and configuration, or its group) and sets
 * X-RateLimit-Limit, X-RateLimit-Remaining and X-RateLimit-Reset (unless
 * show_limit_quota_header is false). Counters outlive config changes that
 * leave the plugin's configuration alone.
 * Failure modes: over the count: rejected_code (503) with
 * {"error_msg": rejected_msg} when set, the status page otherwise, and the
 * headers with Remaining 0. Threads: compile on the config thread, access
 * on any worker (lock-free). */
#include "config.h"

#include "lib/err.h"
#include "proxy/plugin_int.h"
#include "lib/json.h"

#include <stdlib.h>
#include <string.h>

enum { KEY_VAR, KEY_COMB, KEY_CONST };

struct lcount {
	uint64_t ident; /* hash of the instance (or group) */
	uint32_t count, window;
	const char *key;
	int key_type;
	int rejected_code;
	const char *rejected_msg; /* NULL: the status page */
	bool headers;
};

static int compile(struct gw_proxy__compiler *c, const cJSON *j, const void **out)
{
	struct lcount *l = gw_proxy__c_alloc(c, sizeof *l);
	const cJSON *count = cJSON_GetObjectItemCaseSensitive(j, "count");
	const cJSON *win = cJSON_GetObjectItemCaseSensitive(j, "time_window");
	const cJSON *key = cJSON_GetObjectItemCaseSensitive(j, "key");
	const cJSON *kt = cJSON_GetObjectItemCaseSensitive(j, "key_type");
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(j, "rejected_code");
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(j, "rejected_msg");
	const cJSON *grp = cJSON_GetObjectItemCaseSensitive(j, "group");
	const cJSON *show = cJSON_GetObjectItemCaseSensitive(j, "show_limit_quota_header");

	if (l == NULL) {
		return GW_ENOMEM;
	}
	if (!cJSON_IsNumber(count) || count->valuedouble < 1 || count->valuedouble > 4e9 ||
	    !cJSON_IsNumber(win) || win->valuedouble < 1 || win->valuedouble > 4e9) {
		return gw_proxy__c_fail(c, "%s", "limit-count: count and time_window 1..4e9");
	}
	l->count = (uint32_t)count->valuedouble;
	l->window = (uint32_t)win->valuedouble;
	l->key = gw_proxy__c_strdup(c, cJSON_IsString(key) ? key->valuestring : "remote_addr");
	l->key_type = !cJSON_IsString(kt)                               ? KEY_VAR
		      : strcmp(kt->valuestring, "var_combination") == 0 ? KEY_COMB
		      : strcmp(kt->valuestring, "constant") == 0        ? KEY_CONST
									: KEY_VAR;
	l->rejected_code = (int)gw_json_int(code, 100, 599, 503);
	l->rejected_msg = cJSON_IsString(msg) ? gw_proxy__c_strdup(c, msg->valuestring) : NULL;
	l->headers = !cJSON_IsFalse(show);
	/* a group shares its counter wherever it is used */
	l->ident = gw_proxy__limit_ident(c, j, cJSON_IsString(grp) ? grp->valuestring : NULL);
	if (l->key == NULL || l->ident == 0 || (cJSON_IsString(msg) && l->rejected_msg == NULL)) {
		return GW_ENOMEM;
	}
	*out = l;
	return 0;
}

/* The value of the limit key of @r (see the file comment). */
static const char *key_of(struct gw_proxy__req *r, const char *key, int type, char *buf, size_t cap,
			  size_t *len)
{
	const char *v = NULL;
	int n = 0;

	if (type == KEY_CONST) {
		v = key;
		*len = strlen(v);
	} else if (type == KEY_COMB) {
		v = gw_proxy__plugin_interp(r, key, &n);
		*len = strlen(v);
		if (n == 0) {
			v = NULL;
		}
	} else if (!gw_proxy__plugin_var(r, key, buf, cap, &v, len) || *len == 0) {
		v = NULL;
	}
	if (v == NULL && !gw_proxy__plugin_var(r, "remote_addr", buf, cap, &v, len)) {
		v = "";
		*len = 0;
	}
	return v;
}

/* Exported for limit-req: same key rules. */
const char *gw_proxy__limit_key(struct gw_proxy__req *r, const char *key, bool combination,
				char *buf, size_t cap, size_t *len)
{
	return key_of(r, key, combination ? KEY_COMB : KEY_VAR, buf, cap, len);
}

static int access_hook(struct gw_proxy__req *r, const void *conf)
{
	const struct lcount *l = conf;
	char buf[1024], num[3][24];
	size_t len;
	const char *k = key_of(r, l->key, l->key_type, buf, sizeof buf, &len);
	uint32_t remaining, reset;
	bool ok = gw_proxy__limit_count(gw_proxy__limit_hash(l->ident, k, len), l->count, l->window,
					&remaining, &reset);

	if (l->headers) {
		/* no snprintf: this runs for every request of the route */
		const char *v[3] = {gw_proxy__u64_text(l->count, num[0]),
				    gw_proxy__u64_text(remaining, num[1]),
				    gw_proxy__u64_text(reset, num[2])};
		const char *names[3];

		/* names from plugin_metadata/limit-count, else X-RateLimit-* */
		gw_proxy__metadata_limit_headers(r->snap->cfg, names);
		for (int i = 0; i < 3; i++) {
			gw_proxy__plugin_resp_header(r, names[i], v[i]);
		}
	}
	return ok ? 0 : gw_proxy__limit_reject(r, l->rejected_code, l->rejected_msg);
}

const struct gw_proxy__plugin gw_proxy__plugin_limit_count = {
    .name = "limit-count",
    .priority = 1002,
    .compile = compile,
    .access = access_hook,
};
