/* plugin_request_validation.c: request-validation (priority 2800), as
 * APISIX's.
 *
 * Happy path: header_schema is checked against the request headers as an
 * object (names lower-cased, a repeated header an array of its values; the
 * schema's top-level property and required names are matched the way
 * ngx.req.get_headers' table answers them: case-insensitive, '_' as '-').
 * body_schema: the gateway waits for the whole body (r->body_hook), decodes
 * it as JSON, or as a form when Content-Type is
 * application/x-www-form-urlencoded (repeated keys an array, a key without
 * '=' true), and checks it; a JSON body that passes is re-encoded and that
 * text goes upstream (with Content-Length), so the upstream parses exactly
 * what was checked — duplicate keys keep the last value, as lua-cjson, and
 * the schema's property defaults are filled in, as APISIX's jsonschema.
 * Failure modes: rejected_code (400) with rejected_msg, or else the
 * validator's reason as text (APISIX's jsonschema words); a body over
 * max_req_body_size (capped at BODY_MAX: held in memory), no body, two
 * Content-Type headers, a JSON body of more than VALUES_MAX values or a
 * form of more than FORM_MAX arguments (memory), or a form holding a NUL
 * byte (the validator would see less than the upstream) get rejected_code
 * with rejected_msg only (the reason goes to the log). Schemas are compiled once per snapshot
 * (schema/user.c: patterns precompiled, no lock while checking).
 * Threads: compile on the config thread, hooks on the request's worker. */
#include "config.h"

#include "lib/err.h"
#include "lib/json.h"
#include "lib/log.h"
#include "proxy/plugin_int.h"
#include "schema/schema.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BODY_MAX (8u << 20) /* max_req_body_size is capped here (memory per request) */
#define ERR_MAX  512
/* Values a body may decode to (a tree node each: 64 bytes in cJSON), so an
 * 8 MiB body of "[0,0,...]" cannot take 256 MiB: 16 MiB at most. */
#define VALUES_MAX      (256u << 10)
#define FORM_MAX        (64u << 10)
#define VALUES_MAX_TEXT "262144"
#define FORM_MAX_TEXT   "65536"

struct rvconf {
	struct gw_schema_user *hdr, *body; /* NULL: not checked */
	uint64_t body_max;
	int code;
	const char *msg; /* rejected_msg, or NULL */
};

/* The body being collected (r->body_hook_state), in the request's arena:
 * freed with the request whatever happens (a grown buffer leaves the old
 * one there: at most twice the body). */
struct rvbody {
	char *p;
	size_t len, cap;
};

static void user_free(void *u)
{
	gw_schema_user_free(u);
}

/* ngx.req.get_headers' key normalisation: lower case, '_' as '-'. */
static void norm_name(char *s)
{
	for (; *s; s++) {
		*s = *s == '_' ? '-' : (char)tolower((unsigned char)*s);
	}
}

static int compile_schema(struct gw_proxy__compiler *c, const cJSON *s, bool headers,
			  struct gw_schema_user **out)
{
	cJSON *copy, *x;
	char why[300];
	int rv;

	if (s == NULL) {
		return 0;
	}
	if ((copy = cJSON_Duplicate(s, true)) == NULL) {
		return GW_ENOMEM;
	}
	if (headers) {
		cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(copy, "properties"))
		{
			norm_name(x->string);
		}
		cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(copy, "required"))
		{
			if (cJSON_IsString(x)) {
				norm_name(x->valuestring);
			}
		}
	}
	rv = gw_schema_user_new(copy, out, why, sizeof why);
	cJSON_Delete(copy);
	if (rv == GW_EINVAL) {
		return gw_proxy__c_fail(c, "request-validation: %s", why);
	}
	if (rv == 0 && gw_proxy__c_on_free(c, user_free, *out) != 0) {
		gw_schema_user_free(*out);
		return GW_ENOMEM;
	}
	return rv;
}

static int compile(struct gw_proxy__compiler *c, const cJSON *j, const void **out)
{
	struct rvconf *v = gw_proxy__c_alloc(c, sizeof *v);
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(j, "rejected_msg");
	int rv;

	if (v == NULL) {
		return GW_ENOMEM;
	}
	if ((rv = compile_schema(c, cJSON_GetObjectItemCaseSensitive(j, "header_schema"), true,
				 &v->hdr)) != 0 ||
	    (rv = compile_schema(c, cJSON_GetObjectItemCaseSensitive(j, "body_schema"), false,
				 &v->body)) != 0) {
		return rv;
	}
	v->body_max = (uint64_t)gw_json_int(
	    cJSON_GetObjectItemCaseSensitive(j, "max_req_body_size"), 1, BODY_MAX, BODY_MAX);
	v->code =
	    (int)gw_json_int(cJSON_GetObjectItemCaseSensitive(j, "rejected_code"), 200, 599, 400);
	if (cJSON_IsString(msg) && (v->msg = gw_proxy__c_strdup(c, msg->valuestring)) == NULL) {
		return GW_ENOMEM;
	}
	*out = v;
	return 0;
}

/* Answer rejected_code with rejected_msg, else @why (NULL: the status page). */
static int reject(struct gw_proxy__req *r, const struct rvconf *v, const char *why, bool say)
{
	const char *body = v->msg != NULL ? v->msg : say ? why : NULL;

	gw_infof("proxy", "request-validation: %s", why);
	if (body != NULL) {
		body = gw_arena_strndup(&r->arena, body, strlen(body));
	}
	return gw_proxy__plugin_respond(r, v->code, body);
}

/* The request headers as APISIX's core.request.headers: lower-case names,
 * a repeated header an array. NULL when out of memory. */
static cJSON *headers_object(const struct gw_proxy__req *r)
{
	cJSON *o = cJSON_CreateObject(), *old, *arr;
	char name[256];

	for (size_t i = 0; o != NULL && i < r->hc.n; i++) {
		const struct gw_proxy__hdr *h = &r->hc.v[i];
		size_t k;

		if (h->name_len >= sizeof name) {
			continue; /* no schema names such a header */
		}
		for (k = 0; k < h->name_len; k++) {
			name[k] = (char)tolower((unsigned char)h->name[k]);
		}
		name[k] = '\0';
		old = cJSON_GetObjectItemCaseSensitive(o, name);
		if (old == NULL) {
			if (cJSON_AddStringToObject(o, name, h->value) == NULL) {
				goto oom;
			}
			continue;
		}
		if (!cJSON_IsArray(old)) {
			if ((arr = cJSON_CreateArray()) == NULL) {
				goto oom;
			}
			cJSON_DetachItemViaPointer(o, old);
			cJSON_AddItemToArray(arr, old);
			cJSON_AddItemToObject(o, name, arr);
			old = arr;
		}
		cJSON_AddItemToArray(old, cJSON_CreateString(h->value));
	}
	return o;
oom:
	cJSON_Delete(o);
	return NULL;
}

/* Decode %XX and '+' in place (ngx.unescape_uri of a form value).
 * Returns the decoded length (a decoded NUL makes it exceed strlen). */
static size_t form_unescape(char *s)
{
	char *start = s, *q = s;

	for (; *s; s++) {
		if (*s == '+') {
			*q++ = ' ';
		} else if (*s == '%' && isxdigit((unsigned char)s[1]) &&
			   isxdigit((unsigned char)s[2])) {
			char hex[3] = {s[1], s[2], '\0'};
			*q++ = (char)strtol(hex, NULL, 16);
			s += 2;
		} else {
			*q++ = *s;
		}
	}
	*q = '\0';
	return (size_t)(q - start);
}

/* One argument of a form body. */
struct farg {
	const char *key, *val; /* val NULL: a key without '=' */
	size_t at;             /* position in the body */
};

static int cmp_farg(const void *a, const void *b)
{
	const struct farg *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	return c != 0 ? c : x->at < y->at ? -1 : 1;
}

/* ngx.decode_args(body, 0): "a=1&b&a=2" -> {"a": ["1", "2"], "b": true}.
 * Arguments are grouped by sorting (a body of many keys stays cheap); at
 * most FORM_MAX of them. NULL with *@why set: not a form this plugin
 * checks (a NUL byte, decoded or not, would make the upstream see what
 * was not checked; too many arguments), or out of memory (@why NULL). */
static cJSON *form_object(struct gw_proxy__req *r, char *body, size_t len, const char **why)
{
	cJSON *o, *arr, *val;
	char *save = NULL, *pair;
	struct farg *v;
	size_t n = 0, i, j, cap;

	*why = NULL;
	if (memchr(body, '\0', len) != NULL) {
		*why = "a NUL byte in the form body";
		return NULL;
	}
	for (i = 0, cap = 1; i < len && cap < FORM_MAX; i++) {
		cap += body[i] == '&';
	}
	v = gw_arena_take(&r->arena, cap * sizeof *v);
	if (v == NULL) {
		return NULL;
	}
	for (pair = strtok_r(body, "&", &save); pair != NULL; pair = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(pair, '=');

		if (eq != NULL) {
			*eq = '\0';
		}
		/* a decoded %00 would cut the text the validator sees */
		if (form_unescape(pair) != strlen(pair) ||
		    (eq != NULL && form_unescape(eq + 1) != strlen(eq + 1))) {
			*why = "a NUL byte in the form body";
			return NULL;
		}
		if (pair[0] == '\0') {
			continue;
		}
		if (n == cap) { /* cap < the pairs only when they reach FORM_MAX */
			*why = "more than " FORM_MAX_TEXT " form arguments";
			return NULL;
		}
		v[n] = (struct farg){pair, eq != NULL ? eq + 1 : NULL, n};
		n++;
	}
	qsort(v, n, sizeof *v, cmp_farg);
	if ((o = cJSON_CreateObject()) == NULL) {
		return NULL;
	}
	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && strcmp(v[j].key, v[i].key) == 0; j++) {
		}
		arr = j - i > 1 ? cJSON_CreateArray() : NULL;
		if (j - i > 1 && (arr == NULL || !cJSON_AddItemToObject(o, v[i].key, arr))) {
			cJSON_Delete(arr);
			goto oom;
		}
		for (size_t k = i; k < j; k++) {
			val = v[k].val != NULL ? cJSON_CreateString(v[k].val) : cJSON_CreateTrue();
			if (val == NULL ||
			    !(arr != NULL ? cJSON_AddItemToArray(arr, val)
					  : cJSON_AddItemToObject(o, v[k].key, val))) {
				cJSON_Delete(val);
				goto oom;
			}
		}
	}
	return o;
oom:
	cJSON_Delete(o);
	return NULL;
}

static int cmp_member(const void *a, const void *b)
{
	const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
	int c = strcmp(x->string, y->string);

	if (c != 0) {
		return c;
	}
	/* same name: keep the list order (the later one sorts after) */
	for (const cJSON *p = x->next; p != NULL; p = p->next) {
		if (p == y) {
			return -1;
		}
	}
	return 1;
}

/* Keep the last of each repeated member name of every object in @v, as a
 * Lua table built by lua-cjson does: what is checked is then what is
 * re-encoded. Sorting (not pairwise compares) keeps a body of many keys
 * cheap. 0 or GW_ENOMEM. */
static int dedupe(cJSON *v)
{
	cJSON *c, **m;
	size_t n = 0, i;

	for (c = v->child; c != NULL; c = c->next) {
		if ((cJSON_IsObject(c) || cJSON_IsArray(c)) && dedupe(c) != 0) {
			return GW_ENOMEM;
		}
		n++;
	}
	if (!cJSON_IsObject(v) || n < 2) {
		return 0;
	}
	if ((m = malloc(n * sizeof *m)) == NULL) {
		return GW_ENOMEM;
	}
	for (i = 0, c = v->child; c != NULL; c = c->next) {
		m[i++] = c;
	}
	qsort(m, n, sizeof *m, cmp_member);
	for (i = 0; i + 1 < n; i++) {
		if (strcmp(m[i]->string, m[i + 1]->string) == 0) {
			cJSON_Delete(cJSON_DetachItemViaPointer(v, m[i]));
		}
	}
	free(m);
	return 0;
}

/* At least the number of values the JSON text @p holds (what cJSON would
 * allocate a node for): separators and openers outside strings, plus one. */
static size_t json_values_bound(const char *p, size_t n)
{
	size_t count = 1;
	bool in_str = false;

	for (size_t i = 0; i < n; i++) {
		char c = p[i];

		if (in_str) {
			if (c == '\\') {
				i++;
			} else if (c == '"') {
				in_str = false;
			}
		} else if (c == '"') {
			in_str = true;
		} else if (c == ',' || c == ':' || c == '[' || c == '{') {
			count++;
		}
	}
	return count;
}

/* lua-cjson's words for a body that is not JSON (character is 1-based). */
static cJSON *parse_json(const char *p, size_t n, char *why, size_t cap)
{
	const char *end = NULL;
	cJSON *v = cJSON_ParseWithLengthOpts(p, n, &end, false);
	size_t at;

	if (v == NULL) {
		at = end != NULL && end >= p ? (size_t)(end - p) : 0;
		snprintf(why, cap, "Expected value but found invalid token at character %zu",
			 at + 1);
		return NULL;
	}
	at = end != NULL ? (size_t)(end - p) : n;
	while (at < n && strchr(" \t\r\n", p[at]) != NULL) {
		at++;
	}
	if (at < n) {
		snprintf(why, cap, "Expected the end but found invalid token at character %zu",
			 at + 1);
		cJSON_Delete(v);
		return NULL;
	}
	return v;
}

/* The whole body is in: decode, check, and re-encode JSON. 0 or 1. */
static int check_body(struct gw_proxy__req *r, const struct rvconf *v, struct rvbody *b)
{
	const char *ct = gw_proxy__plugin_req_header(r, "Content-Type");
	char why[ERR_MAX];
	bool form = ct != NULL && strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0;
	cJSON *val;
	char *txt;
	int rv;

	if (b->len == 0) {
		return reject(r, v, "no request body", false);
	}
	if (form) {
		char *copy = gw_arena_strndup(&r->arena, b->p, b->len);
		const char *bad = NULL;

		val = copy != NULL ? form_object(r, copy, b->len, &bad) : NULL;
		if (val == NULL) {
			return bad != NULL ? reject(r, v, bad, false)
					   : gw_proxy__plugin_respond(r, 503, NULL);
		}
	} else {
		if (json_values_bound(b->p, b->len) > VALUES_MAX) {
			return reject(r, v, "more than " VALUES_MAX_TEXT " JSON values", false);
		}
		val = parse_json(b->p, b->len, why, sizeof why);
		if (val == NULL) {
			return reject(r, v, why, true);
		}
		if (dedupe(val) != 0) {
			cJSON_Delete(val);
			return gw_proxy__plugin_respond(r, 503, NULL);
		}
	}
	rv = gw_schema_user_validate(v->body, val, why, sizeof why);
	if (rv != 0) {
		cJSON_Delete(val);
		return reject(r, v, rv == GW_EINVAL ? why : "out of memory", true);
	}
	if (form) {
		cJSON_Delete(val);
		return 0;
	}
	/* APISIX's validator fills in defaults, and the upstream gets them */
	if (gw_schema_user_defaults(v->body, val) != 0) {
		cJSON_Delete(val);
		return gw_proxy__plugin_respond(r, 503, NULL);
	}
	txt = cJSON_PrintUnformatted(val);
	cJSON_Delete(val);
	if (txt == NULL) {
		return gw_proxy__plugin_respond(r, 503, NULL);
	}
	rv = gw_proxy__req_set_body(r, txt, strlen(txt));
	free(txt);
	return rv == 0 ? 0 : gw_proxy__plugin_respond(r, 503, NULL);
}

static int body_hook(struct gw_proxy__req *r, const void *conf, const char *p, size_t n, bool eof)
{
	const struct rvconf *v = conf;
	struct rvbody *b = r->body_hook_state;
	char why[128];

	if (eof) {
		return check_body(r, v, b);
	}
	if (b->len + n > v->body_max) {
		snprintf(why, sizeof why,
			 "request size %llu is greater than the maximum size %llu allowed",
			 (unsigned long long)(b->len + n), (unsigned long long)v->body_max);
		return reject(r, v, why, false);
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap * 2 > b->len + n ? b->cap * 2 : b->len + n + 4096;
		char *q = gw_arena_take(&r->arena, cap);

		if (q == NULL) {
			return gw_proxy__plugin_respond(r, 503, NULL);
		}
		if (b->len > 0) {
			memcpy(q, b->p, b->len);
		}
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

static int rewrite(struct gw_proxy__req *r, const void *conf)
{
	const struct rvconf *v = conf;
	char why[ERR_MAX];
	struct rvbody *b;
	cJSON *h;
	int rv, n_ct = 0;

	if (v->hdr != NULL) {
		if ((h = headers_object(r)) == NULL) {
			return gw_proxy__plugin_respond(r, 503, NULL);
		}
		rv = gw_schema_user_validate(v->hdr, h, why, sizeof why);
		cJSON_Delete(h);
		if (rv != 0) {
			return reject(r, v, rv == GW_EINVAL ? why : "out of memory", true);
		}
	}
	if (v->body == NULL) {
		return 0;
	}
	for (size_t i = 0; i < r->hc.n; i++) {
		n_ct += gw_proxy__hdr_is(&r->hc.v[i], "content-type");
	}
	if (n_ct > 1) {
		return reject(r, v, "duplicated Content-Type header", false);
	}
	if (r->content_length > 0 && (uint64_t)r->content_length > v->body_max) {
		snprintf(why, sizeof why,
			 "request size %lld is greater than the maximum size %llu allowed",
			 (long long)r->content_length, (unsigned long long)v->body_max);
		return reject(r, v, why, false);
	}
	if (r->body_done && r->body_bytes == 0) {
		return reject(r, v, "no request body", false);
	}
	if (r->body_hook != NULL) {
		/* runs first (priority 2800): hmac-auth chains after it */
		return reject(r, v, "the body is already held by another plugin", false);
	}
	b = gw_arena_alloc(&r->arena, sizeof *b);
	if (b == NULL) {
		return gw_proxy__plugin_respond(r, 503, NULL);
	}
	r->body_hook_state = b; /* arena: nothing to free */
	r->body_hook_conf = v;
	r->body_hook = body_hook;
	return 0;
}

const struct gw_proxy__plugin gw_proxy__plugin_request_validation = {
    .name = "request-validation",
    .priority = 2800,
    .compile = compile,
    .rewrite = rewrite,
};
