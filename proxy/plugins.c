/* plugins.c: the plugin registry and the first two plugins.
 *
 * Happy path: config.c compiles each route's (and its service's) "plugins"
 * object through the registry into instances sorted by priority (desc);
 * request.c and response.c call the hooks of the matched route at each phase: rewrite and
 * access after routing, before_proxy before each upstream attempt,
 * header_filter on the upstream response head, body_filter on each body
 * piece and once at the end, log when the request is freed.
 * proxy-rewrite (priority 1008) changes what goes upstream: uri (with $var
 * interpolation) or regex_uri [pattern, replacement with $1..$9], method,
 * host, headers {add, set, remove}. response-rewrite (899) changes what goes
 * back: status_code, headers {add, set, remove}, body (with Content-Length),
 * optionally only when its vars match. Regexes are PCRE2 (lib/regex.h).
 * Failure modes: a bad plugin configuration fails its route or service at
 * compile time (skipped with one log line). */
#include "config.h"

#include "lib/err.h"
#include "proxy/plugin_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { HOP_SET, HOP_ADD, HOP_DEL };

struct hop {
	int op;
	const char *name;
	const char *value; /* may hold $vars (proxy-rewrite) */
};

struct hops {
	struct hop *v;
	size_t n;
};

static int compile_hops(struct gw_proxy__compiler *c, const cJSON *h, struct hops *out)
{
	static const char *const kinds[] = {"set", "add", "remove"};
	const cJSON *it;
	size_t cap = 0, n = 0;
	bool structured = false;

	out->v = NULL;
	out->n = 0;
	if (h == NULL) {
		return 0;
	}
	if (!cJSON_IsObject(h)) {
		return gw_proxy__c_fail(c, "%s", "headers must be an object");
	}
	/* {set: {}, add: {}, remove: []} as the schema's first form has it;
	 * anything else is the legacy form (a header may be named "set") */
	structured = h->child != NULL;
	cJSON_ArrayForEach(it, h)
	{
		bool del = strcmp(it->string, kinds[HOP_DEL]) == 0;
		if (!(del || strcmp(it->string, kinds[HOP_SET]) == 0 ||
		      strcmp(it->string, kinds[HOP_ADD]) == 0) ||
		    (del ? !cJSON_IsArray(it) : !cJSON_IsObject(it))) {
			structured = false;
		}
		cap += (size_t)cJSON_GetArraySize(it);
	}
	if (!structured) {
		cap = (size_t)cJSON_GetArraySize(h); /* legacy form: {name: value} = set */
	}
	out->v = gw_proxy__c_alloc(c, (cap + 1) * sizeof *out->v);
	if (out->v == NULL) {
		return GW_ENOMEM;
	}
	for (int k = 0; k < 3; k++) {
		const cJSON *part = structured ? cJSON_GetObjectItemCaseSensitive(h, kinds[k])
					       : (k == 0 ? h : NULL);
		if (part == NULL) {
			continue;
		}
		if (k == HOP_DEL ? !cJSON_IsArray(part) : !cJSON_IsObject(part)) {
			return gw_proxy__c_fail(c, "headers.%s has the wrong type", kinds[k]);
		}
		cJSON_ArrayForEach(it, part)
		{
			struct hop *o = &out->v[n];
			o->op = k;
			if (k == HOP_DEL) {
				if (!cJSON_IsString(it)) {
					return gw_proxy__c_fail(c, "%s",
								"headers.remove holds names");
				}
				o->name = gw_proxy__c_strdup(c, it->valuestring);
			} else {
				char num[32];
				const char *val = num;
				if (cJSON_IsString(it)) {
					val = it->valuestring;
				} else if (cJSON_IsNumber(it)) {
					snprintf(num, sizeof num, "%g", it->valuedouble);
				} else {
					return gw_proxy__c_fail(
					    c, "header %.64s: value must be a string", it->string);
				}
				o->name = gw_proxy__c_strdup(c, it->string);
				o->value = gw_proxy__c_strdup(c, val);
			}
			if (o->name == NULL || (k != HOP_DEL && o->value == NULL)) {
				return GW_ENOMEM;
			}
			n++;
		}
	}
	out->n = n;
	return 0;
}

/* Replace $name (letters, digits, '_') by the variable's value; count the
 * variables that had one in *@n_resolved. */
static const char *interp_n(struct gw_proxy__req *r, const char *t, int *n_resolved)
{
	struct gw_buf b;
	char name[128], vb[1024];
	const char *out;

	*n_resolved = 0;
	if (strchr(t, '$') == NULL) {
		return t;
	}
	gw_buf_init(&b);
	while (*t) {
		const char *v;
		size_t vl, k = 1;
		if (*t != '$') {
			gw_buf_append(&b, t++, 1);
			continue;
		}
		while (isalnum((unsigned char)t[k]) || t[k] == '_') {
			k++;
		}
		snprintf(name, sizeof name, "%.*s", (int)(k - 1), t + 1);
		if (k > 1 && gw_proxy__plugin_var(r, name, vb, sizeof vb, &v, &vl)) {
			gw_buf_append(&b, v, vl);
			(*n_resolved)++;
		}
		t += k;
	}
	out = gw_arena_strndup(&r->arena, b.data ? b.data : "", b.len);
	gw_buf_close(&b);
	return out ? out : "";
}

static const char *interp(struct gw_proxy__req *r, const char *t)
{
	int n;
	return interp_n(r, t, &n);
}

/* Is @ch escaped by esc_dup: a control byte other than HTAB (or DEL) in
 * a header value; in a request target also space and non-ASCII. */
static bool esc_needed(unsigned char ch, bool target)
{
	if (target) {
		return ch <= 0x20 || ch >= 0x7f;
	}
	return (ch < 0x20 && ch != '\t') || ch == 0x7f;
}

/* @value copied to @r's arena with the bytes esc_needed names as %XX (a
 * header value: as OpenResty's ngx.header does; a target: as APISIX's
 * uri_safe_encode of proxy-rewrite's uri). A value built from the decoded
 * path ($uri, regex_uri captures of "%0d%0a") must not end the header or
 * request line and inject others (response splitting, request smuggling
 * upstream). NULL when out of memory. */
static char *esc_dup(struct gw_proxy__req *r, const char *value, bool target)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0, extra = 0;
	char *out;

	for (; value[n] != '\0'; n++) {
		extra += esc_needed((unsigned char)value[n], target) ? 2 : 0;
	}
	out = gw_arena_alloc(&r->arena, n + extra + 1);
	if (out == NULL) {
		return NULL;
	}
	if (extra == 0) { /* the usual case: one copy, no second walk */
		memcpy(out, value, n + 1);
		return out;
	}
	n = 0;
	for (const char *p = value; *p != '\0'; p++) {
		unsigned char ch = (unsigned char)*p;
		if (esc_needed(ch, target)) {
			out[n++] = '%';
			out[n++] = hex[ch >> 4];
			out[n++] = hex[ch & 15];
		} else {
			out[n++] = (char)ch;
		}
	}
	out[n] = '\0';
	return out;
}

static void hc_edit(struct gw_proxy__req *r, struct gw_proxy__hcollect *hc, const struct hop *o,
		    bool vars)
{
	size_t k = 0, name_len = strlen(o->name);
	if (o->op != HOP_ADD) {
		/* the length first: most names differ in it, no strcasecmp */
		for (size_t i = 0; i < hc->n; i++) {
			if (hc->v[i].name_len != name_len ||
			    strcasecmp(hc->v[i].name, o->name) != 0) {
				if (k != i) {
					hc->v[k] = hc->v[i];
				}
				k++;
			}
		}
		hc->n = k;
	}
	if (o->op == HOP_DEL) {
		return;
	}
	if (hc->n == hc->cap) {
		size_t cap = hc->cap ? hc->cap * 2 : 8;
		struct gw_proxy__hdr *v = gw_arena_alloc(&r->arena, cap * sizeof *v);
		if (v == NULL) {
			return;
		}
		if (hc->n > 0) {
			memcpy(v, hc->v, hc->n * sizeof *v);
		}
		hc->v = v;
		hc->cap = cap;
	}
	const char *val = vars ? esc_dup(r, interp(r, o->value), false) : o->value;
	if (val == NULL) {
		return;
	}
	hc->v[hc->n].name = o->name;
	hc->v[hc->n].name_len = name_len;
	hc->v[hc->n].value = val;
	hc->v[hc->n].value_len = strlen(val);
	hc->n++;
}

/* ---- proxy-rewrite */

struct prw {
	const char *uri;
	struct gw_regex *re;
	const char *repl;
	int method; /* -1: unchanged */
	const char *host;
	struct hops hops;
};

static int prw_compile(struct gw_proxy__compiler *c, const cJSON *j, const void **out)
{
	struct prw *p = gw_proxy__c_alloc(c, sizeof *p);
	const cJSON *v;
	int rv;

	if (p == NULL) {
		return GW_ENOMEM;
	}
	p->method = -1;
	if ((v = cJSON_GetObjectItemCaseSensitive(j, "uri")) != NULL) {
		if (!cJSON_IsString(v) || v->valuestring[0] != '/') {
			return gw_proxy__c_fail(c, "%s", "proxy-rewrite: uri must start with /");
		}
		p->uri = gw_proxy__c_strdup(c, v->valuestring);
	}
	if ((v = cJSON_GetObjectItemCaseSensitive(j, "regex_uri")) != NULL) {
		const cJSON *pat = cJSON_GetArrayItem(v, 0), *rep = cJSON_GetArrayItem(v, 1);
		if (!cJSON_IsArray(v) || !cJSON_IsString(pat) || !cJSON_IsString(rep)) {
			return gw_proxy__c_fail(
			    c, "%s", "proxy-rewrite: regex_uri is [pattern, replacement]");
		}
		if ((rv = gw_proxy__c_regex(c, pat->valuestring, 0, &p->re)) != 0) {
			return rv;
		}
		p->repl = gw_proxy__c_strdup(c, rep->valuestring);
	}
	if ((v = cJSON_GetObjectItemCaseSensitive(j, "method")) != NULL) {
		int m;
		for (m = 0; m < 32 && cJSON_IsString(v); m++) {
			if (strcmp(http_method_str((enum http_method)m), v->valuestring) == 0) {
				break;
			}
		}
		if (!cJSON_IsString(v) || m == 32) {
			return gw_proxy__c_fail(c, "%s", "proxy-rewrite: unknown method");
		}
		p->method = m;
	}
	if ((v = cJSON_GetObjectItemCaseSensitive(j, "host")) != NULL) {
		if (!cJSON_IsString(v) || v->valuestring[0] == '\0') {
			return gw_proxy__c_fail(c, "%s", "proxy-rewrite: host must be a string");
		}
		p->host = gw_proxy__c_strdup(c, v->valuestring);
	}
	if ((rv = compile_hops(c, cJSON_GetObjectItemCaseSensitive(j, "headers"), &p->hops)) != 0) {
		return rv;
	}
	*out = p;
	return 0;
}

const char *gw_proxy__plugin_regex_sub(struct gw_proxy__req *r, const struct gw_regex *re,
				       const char *s, const char *repl)
{
	size_t m[2 * GW_REGEX_GROUPS];
	struct gw_buf b;
	const char *out;

	if (gw_regex_match(re, s, strlen(s), m, GW_REGEX_GROUPS) <= 0) {
		return NULL;
	}
	gw_buf_init(&b);
	gw_buf_append(&b, s, m[0]);
	for (const char *p = repl; *p; p++) {
		if (*p == '$' && isdigit((unsigned char)p[1])) {
			size_t g = (size_t)(p[1] - '0');
			if (m[2 * g] != SIZE_MAX) {
				gw_buf_append(&b, s + m[2 * g], m[2 * g + 1] - m[2 * g]);
			}
			p++;
		} else {
			gw_buf_append(&b, p, 1);
		}
	}
	gw_buf_appends(&b, s + m[1]);
	out = gw_arena_strndup(&r->arena, b.data ? b.data : "", b.len);
	gw_buf_close(&b);
	return out;
}

static int prw_rewrite(struct gw_proxy__req *r, const void *conf)
{
	const struct prw *p = conf;
	const char *target = NULL;

	if (p->uri != NULL) {
		target = interp(r, p->uri);
	} else if (p->re != NULL) {
		char *path = gw_arena_strndup(&r->arena, r->path, r->path_len);
		target = path ? gw_proxy__plugin_regex_sub(r, p->re, path, p->repl) : NULL;
	}
	if (target != NULL) {
		target = esc_dup(r, target, true);
	}
	if (target != NULL) {
		if (r->query_len > 0) {
			size_t tl = strlen(target);
			char *t = gw_arena_alloc(&r->arena, tl + r->query_len + 2);
			if (t != NULL) {
				memcpy(t, target, tl);
				t[tl] = strchr(target, '?') ? '&' : '?';
				memcpy(t + tl + 1, r->query, r->query_len);
				t[tl + 1 + r->query_len] = '\0';
			}
			target = t;
		}
		r->up_target = target;
	}
	if (p->method >= 0) {
		r->up_method = p->method;
	}
	if (p->host != NULL) {
		r->up_host = p->host;
	}
	for (size_t i = 0; i < p->hops.n; i++) {
		hc_edit(r, &r->hc, &p->hops.v[i], true);
	}
	return 0;
}

static const struct gw_proxy__plugin prw_plugin = {
    .name = "proxy-rewrite",
    .priority = 1008,
    .compile = prw_compile,
    .rewrite = prw_rewrite,
};

/* ---- response-rewrite */

struct rrw {
	int status; /* 0: unchanged */
	const char *body;
	size_t body_len;
	bool has_body;
	struct hops hops;
	struct gw_proxy__expr *vars;
};

static int rrw_compile(struct gw_proxy__compiler *c, const cJSON *j, const void **out)
{
	struct rrw *p = gw_proxy__c_alloc(c, sizeof *p);
	const cJSON *v;
	int rv;

	if (p == NULL) {
		return GW_ENOMEM;
	}
	if ((v = cJSON_GetObjectItemCaseSensitive(j, "status_code")) != NULL) {
		if (!cJSON_IsNumber(v) || v->valuedouble < GW_SCHEMA_STATUS_CODE_MIN ||
		    v->valuedouble > GW_SCHEMA_STATUS_CODE_MAX) {
			return gw_proxy__c_fail(c, "%s", "response-rewrite: status_code 200..598");
		}
		p->status = (int)v->valuedouble;
	}
	if ((v = cJSON_GetObjectItemCaseSensitive(j, "body")) != NULL) {
		if (!cJSON_IsString(v)) {
			return gw_proxy__c_fail(c, "%s", "response-rewrite: body must be a string");
		}
		p->body = gw_proxy__c_strdup(c, v->valuestring);
		p->body_len = strlen(v->valuestring);
		p->has_body = true;
	}
	if ((rv = compile_hops(c, cJSON_GetObjectItemCaseSensitive(j, "headers"), &p->hops)) != 0) {
		return rv;
	}
	if ((v = cJSON_GetObjectItemCaseSensitive(j, "vars")) != NULL &&
	    (rv = gw_proxy__c_vars(c, v, &p->vars)) != 0) {
		return rv;
	}
	*out = p;
	return 0;
}

static void rrw_header_filter(struct gw_proxy__req *r, const void *conf)
{
	const struct rrw *p = conf;
	if (p->vars != NULL) {
		struct gw_proxy__match_ctx m;
		gw_proxy__req_match_ctx(r, &m);
		if (!gw_proxy__expr_eval(p->vars, &m)) {
			return;
		}
	}
	if (p->status != 0) {
		r->status = p->status;
		r->reason.len = 0;
	}
	for (size_t i = 0; i < p->hops.n; i++) {
		hc_edit(r, &r->rh, &p->hops.v[i], false);
	}
	if (p->has_body) {
		r->resp_len_override = (int64_t)p->body_len;
		r->body_replacer = p;
	}
}

static void rrw_body_filter(struct gw_proxy__req *r, const void *conf, const char **pp, size_t *n,
			    bool eof)
{
	const struct rrw *p = conf;
	if (r->body_replacer != p) {
		return;
	}
	if (eof) {
		*pp = p->body;
		*n = p->body_len;
	} else {
		*n = 0; /* the upstream body is replaced */
	}
}

static const struct gw_proxy__plugin rrw_plugin = {
    .name = "response-rewrite",
    .priority = 899,
    .compile = rrw_compile,
    .header_filter = rrw_header_filter,
    .body_filter = rrw_body_filter,
};

/* ---- helpers for plugin_*.c (plugin_int.h) */

int gw_proxy__plugin_respond(struct gw_proxy__req *r, int status, const char *body)
{
	/* APISIX's core.response.exit: JSON text with nginx's default type, as
	 * request.c's own answers */
	gw_proxy__req_respond(r, status, body ? "text/plain; charset=utf-8" : NULL, body, false);
	return 1;
}

int gw_proxy__plugin_message(struct gw_proxy__req *r, int status, const char *key, const char *msg)
{
	cJSON *o = cJSON_CreateObject();
	char *txt = NULL;
	int rv;

	if (o != NULL && cJSON_AddStringToObject(o, key, msg) != NULL) {
		txt = cJSON_PrintUnformatted(o);
	}
	cJSON_Delete(o);
	if (txt == NULL) {
		return gw_proxy__plugin_respond(r, status, NULL);
	}
	/* APISIX's bodies end with a newline */
	char *body = gw_arena_alloc(&r->arena, strlen(txt) + 2);
	if (body != NULL) {
		sprintf(body, "%s\n", txt);
	}
	free(txt);
	rv = gw_proxy__plugin_respond(r, status, body);
	return rv;
}

void gw_proxy__plugin_resp_header(struct gw_proxy__req *r, const char *name, const char *value)
{
	struct gw_proxy__hdr *h = NULL;
	size_t name_len = strlen(name);

	for (size_t i = 0; i < r->ph_n; i++) {
		if (r->ph[i].name_len == name_len && strcasecmp(r->ph[i].name, name) == 0) {
			h = &r->ph[i];
		}
	}
	if (h == NULL) {
		if (r->ph_n == r->ph_cap) {
			size_t cap = r->ph_cap ? r->ph_cap * 2 : 4;
			struct gw_proxy__hdr *v = gw_arena_alloc(&r->arena, cap * sizeof *v);
			if (v == NULL) {
				return;
			}
			if (r->ph_n > 0) {
				memcpy(v, r->ph, r->ph_n * sizeof *v);
			}
			r->ph = v;
			r->ph_cap = cap;
		}
		h = &r->ph[r->ph_n++];
		h->name = gw_arena_strndup(&r->arena, name, name_len);
		h->name_len = h->name ? name_len : 0;
	}
	h->value = esc_dup(r, value, false);
	h->value_len = h->value ? strlen(h->value) : 0;
	if (h->name == NULL || h->value == NULL) {
		h->name = h->value = "";
		h->name_len = h->value_len = 0;
	}
}

void gw_proxy__plugin_resp_headers_apply(struct gw_proxy__req *r)
{
	for (size_t i = 0; i < r->ph_n; i++) {
		struct hop o = {HOP_SET, r->ph[i].name, r->ph[i].value};
		if (r->ph[i].name_len > 0) {
			hc_edit(r, &r->rh, &o, false);
		}
	}
}

const char *gw_proxy__plugin_req_header(const struct gw_proxy__req *r, const char *name)
{
	for (size_t i = 0; i < r->hc.n; i++) {
		if (strcasecmp(r->hc.v[i].name, name) == 0) {
			return r->hc.v[i].value;
		}
	}
	return NULL;
}

void gw_proxy__plugin_req_header_del(struct gw_proxy__req *r, const char *name)
{
	struct hop o = {HOP_DEL, name, NULL};
	hc_edit(r, &r->hc, &o, false);
}

void gw_proxy__plugin_req_header_set(struct gw_proxy__req *r, const char *name, const char *value)
{
	struct hop o = {HOP_SET, gw_arena_strndup(&r->arena, name, strlen(name)),
			gw_arena_strndup(&r->arena, value, strlen(value))};
	if (o.name != NULL && o.value != NULL) {
		hc_edit(r, &r->hc, &o, false);
	}
}

bool gw_proxy__plugin_var(struct gw_proxy__req *r, const char *name, char *buf, size_t cap,
			  const char **out, size_t *out_len)
{
	struct gw_proxy__match_ctx m;

	if (strcmp(name, "consumer_name") == 0) {
		if (r->consumer == NULL) {
			return false;
		}
		*out = r->consumer->username;
		*out_len = strlen(*out);
		return true;
	}
	if (strcmp(name, "route_id") == 0 && r->route != NULL && r->route->id != NULL) {
		*out = r->route->id;
		*out_len = strlen(*out);
		return true;
	}
	gw_proxy__req_match_ctx(r, &m);
	return gw_proxy__var(&m, name, buf, cap, out, out_len);
}

const char *gw_proxy__plugin_interp(struct gw_proxy__req *r, const char *t, int *n_resolved)
{
	return interp_n(r, t, n_resolved);
}

const char *gw_proxy__c_str(struct gw_proxy__compiler *c, const cJSON *j, const char *name,
			    const char *dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
	const char *s = cJSON_IsString(v) ? v->valuestring : dflt;
	return s ? gw_proxy__c_strdup(c, s) : NULL;
}

void gw_proxy__plugin_drop_arg(struct gw_proxy__req *r, const char *name)
{
	const char *p = r->query, *end = r->query + r->query_len;
	size_t nl = strlen(name), n = 0;
	char *q = gw_arena_alloc(&r->arena, r->query_len + 1);

	if (q == NULL) {
		return;
	}
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *eq;
		size_t kl;

		amp = amp ? amp : end;
		eq = memchr(p, '=', (size_t)(amp - p));
		kl = (size_t)((eq ? eq : amp) - p);
		if (!(kl == nl && memcmp(p, name, nl) == 0)) {
			if (n > 0) {
				q[n++] = '&';
			}
			memcpy(q + n, p, (size_t)(amp - p));
			n += (size_t)(amp - p);
		}
		p = amp + 1;
	}
	q[n] = '\0';
	r->query = q;
	r->query_len = n;
}

/* The 6-bit value of base64 digit @ch, or -1. */
static int b64_digit(char ch, bool url)
{
	if (ch >= 'A' && ch <= 'Z') {
		return ch - 'A';
	}
	if (ch >= 'a' && ch <= 'z') {
		return ch - 'a' + 26;
	}
	if (ch >= '0' && ch <= '9') {
		return ch - '0' + 52;
	}
	if (ch == (url ? '-' : '+')) {
		return 62;
	}
	return ch == (url ? '_' : '/') ? 63 : -1;
}

ssize_t gw_proxy__plugin_b64dec(const char *s, size_t n, bool url, unsigned char *out, size_t cap)
{
	size_t o = 0, pad = 0;
	uint32_t acc = 0;
	int bits = 0;

	while (!url && n > 0 && s[n - 1] == '=' && pad < 2) {
		n--;
		pad++;
	}
	if (n % 4 == 1 || (pad > 0 && (n + pad) % 4 != 0)) {
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		int v = b64_digit(s[i], url);
		if (v < 0) {
			return -1;
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o == cap) {
				return -1;
			}
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	return (ssize_t)o;
}

/* ---- registry */

static const struct gw_proxy__plugin *const plugins[] = {
    &gw_proxy__plugin_request_id,
    &gw_proxy__plugin_ip_restriction,
    &gw_proxy__plugin_basic_auth,
    &gw_proxy__plugin_key_auth,
    &gw_proxy__plugin_consumer_restriction,
    &prw_plugin,
    &gw_proxy__plugin_limit_count,
    &gw_proxy__plugin_limit_req,
    &rrw_plugin,
    &gw_proxy__plugin_prometheus,
    &gw_proxy__plugin_jwt_auth,
    &gw_proxy__plugin_hmac_auth,
    &gw_proxy__plugin_cors,
    &gw_proxy__plugin_redirect,
    &gw_proxy__plugin_limit_conn,
    &gw_proxy__plugin_uri_blocker,
    &gw_proxy__plugin_fault_injection,
    &gw_proxy__plugin_real_ip,
    &gw_proxy__plugin_request_validation,
    /* traffic and logging plugins (plugin_loggers.c, ...) */
    &gw_proxy__plugin_http_logger,
    &gw_proxy__plugin_file_logger,
    &gw_proxy__plugin_api_breaker,
    &gw_proxy__plugin_traffic_split,
    &gw_proxy__plugin_proxy_mirror,
};

const struct gw_proxy__plugin *gw_proxy__plugin_find(const char *name)
{
	for (size_t i = 0; i < sizeof plugins / sizeof plugins[0]; i++) {
		if (strcmp(plugins[i]->name, name) == 0) {
			return plugins[i];
		}
	}
	return NULL;
}
