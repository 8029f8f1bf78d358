/* plugin_cors.c: cors (priority 4000), as APISIX's.
 *
 * Happy path: in the rewrite phase the request's Origin decides the
 * Access-Control-Allow-Origin to send: allow_origins "*" (default) sends
 * "*", "**" the request's origin, "a,b" the origin when it is one of them,
 * a single origin itself; allow_origins_by_regex (PCRE2, lib/regex) instead
 * sends the origin when one pattern finds it. With a value, the other
 * headers go too: Access-Control-Allow-Methods (allow_methods, "**": every
 * method), -Allow-Headers (allow_headers, "**": the request's
 * Access-Control-Request-Headers), -Max-Age (max_age, 5), -Expose-Headers
 * (expose_headers), -Allow-Credentials: true (allow_credential); and
 * Timing-Allow-Origin from timing_allow_origins(_by_regex). "Vary: Origin"
 * is added unless allow_origins is "*". A preflight (OPTIONS) is answered
 * here with 200 and no body, as APISIX does; other requests go upstream and
 * the headers are set on the upstream's response (Vary appended to its
 * own). Failure modes: none at request time; the Admin API refuses "*" with
 * allow_credential (APISIX's words, schema/plugin_checks.c) and bad regexes.
 * allow_origins_by_metadata names keys of plugin_metadata/cors'
 * allow_origins map: their origins are tried first, then allow_origins
 * when it is set to other than "*". As APISIX, a value that does not allow
 * the request's origin ("*", or the origin itself) sends no CORS headers.
 * Threads: compile on the config thread, hooks on the worker. */
#include "config.h"

#include "lib/err.h"
#include "lib/json.h"
#include "lib/regex.h"
#include "proxy/plugin_int.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define ALL_METHODS "GET,POST,PUT,DELETE,PATCH,HEAD,OPTIONS,CONNECT,TRACE"

struct origins {
	const char *list;     /* allow_origins text, or NULL */
	struct gw_regex **re; /* by_regex (then list is ignored), or NULL */
	size_t n_re;
};

struct cors {
	struct origins allow, timing;
	const char **meta_keys; /* allow_origins_by_metadata, or NULL */
	size_t n_meta;
	const char *methods, *headers, *expose, *max_age;
	bool credential, vary;
};

static int compile_origins(struct gw_proxy__compiler *c, const cJSON *j, const char *name,
			   const char *dflt, struct origins *o)
{
	char key[64];
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name), *it;
	const cJSON *re;
	int rv;

	snprintf(key, sizeof key, "%s_by_regex", name);
	re = cJSON_GetObjectItemCaseSensitive(j, key);
	o->list = cJSON_IsString(v) ? v->valuestring : dflt;
	if (o->list != NULL && (o->list = gw_proxy__c_strdup(c, o->list)) == NULL) {
		return GW_ENOMEM;
	}
	if (!cJSON_IsArray(re)) {
		return 0;
	}
	o->re = gw_proxy__c_alloc(c, ((size_t)cJSON_GetArraySize(re) + 1) * sizeof *o->re);
	if (o->re == NULL) {
		return GW_ENOMEM;
	}
	cJSON_ArrayForEach(it, re)
	{
		if (!cJSON_IsString(it)) {
			return gw_proxy__c_fail(c, "cors: %s holds strings", key);
		}
		if ((rv = gw_proxy__c_regex(c, it->valuestring, 0, &o->re[o->n_re])) != 0) {
			return rv;
		}
		o->n_re++;
	}
	return 0;
}

static int compile(struct gw_proxy__compiler *c, const cJSON *j, const void **out)
{
	struct cors *k = gw_proxy__c_alloc(c, sizeof *k);
	const cJSON *age = cJSON_GetObjectItemCaseSensitive(j, "max_age");
	const cJSON *bym = cJSON_GetObjectItemCaseSensitive(j, "allow_origins_by_metadata"), *it;
	char num[32];
	int rv;

	if (k == NULL) {
		return GW_ENOMEM;
	}
	if ((rv = compile_origins(c, j, "allow_origins", "*", &k->allow)) != 0 ||
	    (rv = compile_origins(c, j, "timing_allow_origins", NULL, &k->timing)) != 0) {
		return rv;
	}
	snprintf(num, sizeof num, "%lld", (long long)gw_json_int(age, INT32_MIN, INT32_MAX, 5));
	k->methods = gw_proxy__c_str(c, j, "allow_methods", "*");
	k->headers = gw_proxy__c_str(c, j, "allow_headers", "*");
	k->expose = gw_proxy__c_str(c, j, "expose_headers", NULL);
	k->max_age = gw_proxy__c_strdup(c, num);
	if (k->methods == NULL || k->headers == NULL || k->max_age == NULL) {
		return GW_ENOMEM;
	}
	if (strcmp(k->methods, "**") == 0) {
		k->methods = ALL_METHODS;
	}
	cJSON_ArrayForEach(it, bym)
	{
		if (k->meta_keys == NULL &&
		    (k->meta_keys = gw_proxy__c_alloc(c, ((size_t)cJSON_GetArraySize(bym) + 1) *
							     sizeof *k->meta_keys)) == NULL) {
			return GW_ENOMEM;
		}
		if (cJSON_IsString(it) &&
		    (k->meta_keys[k->n_meta++] = gw_proxy__c_strdup(c, it->valuestring)) == NULL) {
			return GW_ENOMEM;
		}
	}
	k->credential = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "allow_credential"));
	k->vary = strcmp(k->allow.list, "*") != 0;
	*out = k;
	return 0;
}

/* Is @origin one of the ','-separated @list? */
static bool in_list(const char *list, const char *origin)
{
	size_t ol = strlen(origin);

	for (const char *p = list; p != NULL;) {
		const char *comma = strchr(p, ',');
		size_t l = comma ? (size_t)(comma - p) : strlen(p);
		if (l == ol && memcmp(p, origin, ol) == 0) {
			return true;
		}
		p = comma ? comma + 1 : NULL;
	}
	return false;
}

/* The origin value @o allows for request origin @origin (may be NULL), or
 * NULL for none (APISIX's process_with_allow_origins[_by_regex]). */
static const char *allowed(const struct origins *o, const char *origin)
{
	if (o->re != NULL) {
		for (size_t i = 0; origin != NULL && i < o->n_re; i++) {
			if (gw_regex_match(o->re[i], origin, strlen(origin), NULL, 0) > 0) {
				return origin;
			}
		}
		return NULL;
	}
	if (o->list == NULL) {
		return NULL;
	}
	if (strcmp(o->list, "**") == 0) {
		return origin ? origin : "*";
	}
	if (strchr(o->list, ',') != NULL) {
		return origin != NULL && in_list(o->list, origin) ? origin : NULL;
	}
	return o->list;
}

/* Does the value @acao allow @origin (APISIX's match_origins)? */
static bool matches(const char *origin, const char *acao)
{
	return acao != NULL && (strcmp(acao, "*") == 0 || (origin && strcmp(acao, origin) == 0));
}

/* allow_origins_by_metadata: @origin when the origins of one of the keys
 * (plugin_metadata/cors allow_origins) allow it, else NULL. */
static const char *by_metadata(struct gw_proxy__req *r, const struct cors *k, const char *origin)
{
	for (size_t i = 0; origin != NULL && i < k->n_meta; i++) {
		struct origins o = {
		    .list = gw_proxy__metadata_cors_origins(r->snap->cfg, k->meta_keys[i])};
		if (matches(origin, allowed(&o, origin))) {
			return origin;
		}
	}
	return NULL;
}

/* The Access-Control-Allow-Origin to send, or NULL (APISIX's
 * header_filter): the metadata's origins first, then allow_origins (when
 * it is set to other than "*") or allow_origins_by_regex; a value that
 * does not allow the request's origin sends none. */
static const char *allow_origin(struct gw_proxy__req *r, const struct cors *k, const char *origin)
{
	const char *acao = NULL;

	if (k->n_meta > 0) {
		acao = by_metadata(r, k, origin);
		if (acao != NULL || strcmp(k->allow.list, "*") == 0) {
			return acao;
		}
	}
	acao = allowed(&k->allow, origin);
	return matches(origin, acao) ? acao : NULL;
}

static int rewrite(struct gw_proxy__req *r, const void *conf)
{
	const struct cors *k = conf;
	const char *origin = gw_proxy__plugin_req_header(r, "Origin");
	const char *acao = allow_origin(r, k, origin), *tao = allowed(&k->timing, origin);
	bool preflight = r->method == HTTP_OPTIONS;

	if (acao != NULL) {
		gw_proxy__plugin_resp_header(r, "Access-Control-Allow-Origin", acao);
		gw_proxy__plugin_resp_header(r, "Access-Control-Allow-Methods", k->methods);
		gw_proxy__plugin_resp_header(r, "Access-Control-Max-Age", k->max_age);
		if (k->expose != NULL && k->expose[0] != '\0') {
			gw_proxy__plugin_resp_header(r, "Access-Control-Expose-Headers", k->expose);
		}
		if (strcmp(k->headers, "**") == 0) {
			const char *h =
			    gw_proxy__plugin_req_header(r, "Access-Control-Request-Headers");
			if (h != NULL) {
				gw_proxy__plugin_resp_header(r, "Access-Control-Allow-Headers", h);
			}
		} else {
			gw_proxy__plugin_resp_header(r, "Access-Control-Allow-Headers", k->headers);
		}
		if (k->credential) {
			gw_proxy__plugin_resp_header(r, "Access-Control-Allow-Credentials", "true");
		}
	}
	/* Timing-Allow-Origin only when it is the request's origin or "*" */
	if (tao != NULL && (strcmp(tao, "*") == 0 || (origin && strcmp(tao, origin) == 0))) {
		gw_proxy__plugin_resp_header(r, "Timing-Allow-Origin", tao);
	}
	if (preflight) {
		if (k->vary) {
			gw_proxy__plugin_resp_header(r, "Vary", "Origin");
		}
		return gw_proxy__plugin_respond(r, 200, "");
	}
	return 0;
}

/* Append "Origin" to the upstream response's Vary (or add one). */
static void header_filter(struct gw_proxy__req *r, const void *conf)
{
	const struct cors *k = conf;
	struct gw_proxy__hcollect *rh = &r->rh;

	if (!k->vary) {
		return;
	}
	for (size_t i = 0; i < rh->n; i++) {
		if (strcasecmp(rh->v[i].name, "Vary") == 0) {
			size_t n = rh->v[i].value_len;
			char *v = gw_arena_alloc(&r->arena, n + sizeof ", Origin");
			if (v == NULL) {
				return;
			}
			memcpy(v, rh->v[i].value, n);
			memcpy(v + n, ", Origin", sizeof ", Origin");
			rh->v[i].value = v;
			rh->v[i].value_len = n + sizeof ", Origin" - 1;
			return;
		}
	}
	gw_proxy__plugin_resp_header(r, "Vary", "Origin");
	gw_proxy__plugin_resp_headers_apply(r);
}

const struct gw_proxy__plugin gw_proxy__plugin_cors = {
    .name = "cors",
    .priority = 4000,
    .compile = compile,
    .rewrite = rewrite,
    .header_filter = header_filter,
};
