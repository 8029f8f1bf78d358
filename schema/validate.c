/* validate.c: the validation walk over the schema tables.
 *
 * A compact validator for the subset of JSON Schema that APISIX's
 * schema_def.lua uses (type, properties, required, additionalProperties,
 * patternProperties, min/maxProperties, items, min/maxItems, uniqueItems,
 * min/maxLength, pattern, minimum, maximum, exclusiveMinimum/Maximum, enum,
 * const, allOf, anyOf, oneOf, not, $ref to a named row, format ip_or_cidr,
 * and the proxy's array formats expr and regex_uri). The tables of tables.c
 * and plugins.c are parsed once (pthread_once) and read-only afterwards; the
 * regex cache is guarded by a mutex.
 *
 * Validation walks the schema and the value together and stops at the first
 * violation, building APISIX's message from the inside out
 * ("property \"upstream\" validation failed: property \"nodes\" ...").
 * Failure modes: GW_EINVAL for the value, GW_ENOMEM; a schema that does not
 * parse is a programming error (always-on assert, caught by unit tests). */
#include "config.h"

#include "lib/err.h"
#include "lib/regex.h"
#include "lib/sm.h"
#include "schema/schema_int.h"

#include <arpa/inet.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

#define MAX_DEPTH   48  /* schema recursion ($ref) bound */
#define MAX_REGEX   128 /* distinct patterns cached */
#define MAX_SCHEMAS 64  /* rows of tables.c */
#define MAX_PLUGINS 160 /* rows of plugins.c */
/* uniqueItems compares every pair up to this size, hashes beyond (a request
 * body's array may be large: request-validation) */
#define UNIQ_PAIRWISE 64

/* ---- loading the tables ----------------------------------------------- */

/* Parsed forms, built once. */
static cJSON *schemas[MAX_SCHEMAS];
static cJSON *plugin_schemas[MAX_PLUGINS];
static cJSON *plugin_consumer_schemas[MAX_PLUGINS]; /* NULL: not an auth plugin */
static char *plugin_texts[MAX_PLUGINS];
static char *plugin_consumer_texts[MAX_PLUGINS];
static const char *plugin_names[MAX_PLUGINS + 1];
static pthread_once_t load_once = PTHREAD_ONCE_INIT;

/* A table's text as JSON: single quotes made double, and the comma an
 * X-macro list leaves before ']' dropped — outside strings only: inside a
 * string (a regex such as "[^,]") every byte is kept, a backslash escape
 * copied whole. Owned by the caller. */
char *gw_schema__unquote(const char *s)
{
	char *t = strdup(s);
	char *p, *q;
	bool in_str = false;

	GW_ASSERT(t != NULL);
	for (p = q = t; *p; p++) {
		if (in_str && *p == '\\' && p[1] != '\0') {
			*q++ = *p++;
			*q++ = *p;
			continue;
		}
		if (*p == '\'') {
			in_str = !in_str;
			*q++ = '"';
			continue;
		}
		if (!in_str && *p == ',' && p[1] == ']') {
			continue;
		}
		*q++ = *p;
	}
	*q = '\0';
	return t;
}

static void load(void)
{
	size_t i;
	char *t;

	GW_ASSERT(gw_schema__n_rows <= MAX_SCHEMAS && gw_schema__n_plugins <= MAX_PLUGINS);
	for (i = 0; i < gw_schema__n_rows; i++) {
		t = gw_schema__unquote(gw_schema__rows[i].json);
		schemas[i] = cJSON_Parse(t);
		free(t);
		GW_ASSERT(schemas[i] != NULL); /* a schema of tables.c that does not parse */
	}
	for (i = 0; i < gw_schema__n_plugins; i++) {
		const char *cons = gw_schema__plugins[i].consumer;

		t = gw_schema__unquote(gw_schema__plugins[i].json);
		plugin_schemas[i] = cJSON_Parse(t);
		GW_ASSERT(plugin_schemas[i] != NULL); /* a schema of plugins.c */
		plugin_texts[i] = t;                  /* kept for GET /plugins/<name> */
		if (cons != NULL) {
			t = gw_schema__unquote(cons);
			plugin_consumer_schemas[i] = cJSON_Parse(t);
			GW_ASSERT(plugin_consumer_schemas[i] != NULL);
			plugin_consumer_texts[i] = t;
		}
		plugin_names[i] = gw_schema__plugins[i].name;
	}
	plugin_names[gw_schema__n_plugins] = NULL;
}

static const cJSON *find_schema(const char *name)
{
	size_t i;

	pthread_once(&load_once, load);
	for (i = 0; i < gw_schema__n_rows; i++) {
		if (strcmp(gw_schema__rows[i].name, name) == 0) {
			return schemas[i];
		}
	}
	return NULL;
}

const cJSON *gw_schema__find(const char *name)
{
	return find_schema(name);
}

static int find_plugin(const char *name)
{
	size_t i;

	pthread_once(&load_once, load);
	for (i = 0; i < gw_schema__n_plugins; i++) {
		if (strcmp(gw_schema__plugins[i].name, name) == 0) {
			return (int)i;
		}
	}
	return -1;
}

const cJSON *gw_schema__plugin(const char *name)
{
	int i = find_plugin(name);

	return i < 0 ? NULL : plugin_schemas[i];
}

const cJSON *gw_schema__plugin_consumer(const char *name)
{
	int i = find_plugin(name);

	return i < 0 ? NULL : plugin_consumer_schemas[i];
}

const char *const *gw_schema_plugin_names(void)
{
	pthread_once(&load_once, load);
	return plugin_names;
}

const char *gw_schema_plugin_schema(const char *name)
{
	int i = find_plugin(name);

	return i < 0 ? NULL : plugin_texts[i];
}

const char *gw_schema_plugin_consumer_schema(const char *name)
{
	int i = find_plugin(name);

	return i < 0 ? NULL : plugin_consumer_texts[i];
}

bool gw_schema_plugin_validated(const char *name)
{
	return find_plugin(name) >= 0;
}

/* ---- regex cache ------------------------------------------------------- */

struct rx {
	char *pat;
	struct gw_regex *re; /* NULL: did not compile */
};

static struct rx rx_cache[MAX_REGEX];
static size_t n_rx;
static pthread_mutex_t rx_lock = PTHREAD_MUTEX_INITIALIZER;

/* The precompiled patterns of the user schema being checked on this
 * thread (gw_schema__check_with), looked up before the cache. */
static _Thread_local const struct gw_schema__rx *tl_rx;
static _Thread_local size_t tl_n_rx;
static _Thread_local bool tl_user; /* checking a user schema (user.c) */

/* 1 match, 0 no match, -1 the pattern does not compile (treated as a
 * schema error: no match). The lock covers the cache lookup only: a cached
 * pattern is never changed or freed, and matching is thread-safe. */
static int rx_match(const char *pat, const char *s)
{
	const struct gw_regex *re = NULL;
	struct gw_regex *tmp;
	char why[128];
	size_t i;
	int rv;

	for (i = 0; i < tl_n_rx; i++) {
		if (tl_rx[i].pat == pat || strcmp(tl_rx[i].pat, pat) == 0) {
			return gw_regex_find(tl_rx[i].re, s) ? 1 : 0;
		}
	}
	pthread_mutex_lock(&rx_lock);
	for (i = 0; i < n_rx; i++) {
		if (strcmp(rx_cache[i].pat, pat) == 0) {
			break;
		}
	}
	if (i == n_rx && n_rx < MAX_REGEX) {
		rx_cache[i].pat = strdup(pat);
		if (rx_cache[i].pat != NULL) {
			if (gw_regex_compile(pat, 0, &rx_cache[i].re, why, sizeof why) != 0) {
				rx_cache[i].re = NULL;
			}
			n_rx++;
		}
	}
	if (i < n_rx) {
		re = rx_cache[i].re;
		pthread_mutex_unlock(&rx_lock);
		return re != NULL ? gw_regex_find(re, s) : -1;
	}
	pthread_mutex_unlock(&rx_lock);
	/* cache full: compile for this call only */
	if (gw_regex_compile(pat, 0, &tmp, why, sizeof why) != 0) {
		return -1;
	}
	rv = gw_regex_find(tmp, s);
	gw_regex_free(tmp);
	return rv;
}

/* ---- validator --------------------------------------------------------- */

/* Set the error. Always returns GW_EINVAL. */
static int fail(char *e, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *e, size_t n, const char *fmt, ...)
{
	va_list ap;

	if (n == 0) {
		return GW_EINVAL; /* a trial (anyOf, oneOf, not): no words needed */
	}
	va_start(ap, fmt);
	vsnprintf(e, n, fmt, ap);
	va_end(ap);
	return GW_EINVAL;
}

/* Put a prefix in front of the error already in @e. Returns GW_EINVAL. */
static int prefix(char *e, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int prefix(char *e, size_t n, const char *fmt, ...)
{
	char pre[512];
	size_t pl, el;
	va_list ap;

	if (n == 0) {
		return GW_EINVAL;
	}
	va_start(ap, fmt);
	vsnprintf(pre, sizeof(pre), fmt, ap);
	va_end(ap);
	pl = strlen(pre);
	el = strlen(e);
	if (pl + 1 >= n) {
		return GW_EINVAL;
	}
	if (pl + el + 1 > n) {
		el = n - pl - 1;
	}
	memmove(e + pl, e, el);
	e[pl + el] = '\0';
	memcpy(e, pre, pl);
	return GW_EINVAL;
}

static const char *type_of(const cJSON *v)
{
	if (cJSON_IsObject(v)) {
		return "object";
	}
	if (cJSON_IsArray(v)) {
		return "array";
	}
	if (cJSON_IsString(v)) {
		return "string";
	}
	if (cJSON_IsNumber(v)) {
		return "number";
	}
	if (cJSON_IsBool(v)) {
		return "boolean";
	}
	return "null";
}

static bool is_integer(const cJSON *v)
{
	double d;

	if (!cJSON_IsNumber(v)) {
		return false;
	}
	d = v->valuedouble;
	return isfinite(d) && floor(d) == d;
}

static bool type_is(const char *t, const cJSON *v)
{
	if (strcmp(t, "integer") == 0) {
		return is_integer(v);
	}
	return strcmp(t, type_of(v)) == 0;
}

/* A number as Lua prints it: integers without a fraction. */
static const char *num_str(double d, char *buf, size_t n)
{
	if (isfinite(d) && floor(d) == d && fabs(d) < 1e15) {
		snprintf(buf, n, "%lld", (long long)d);
	} else {
		snprintf(buf, n, "%.14g", d);
	}
	return buf;
}

static size_t utf8_len(const char *s)
{
	size_t n = 0;

	for (; *s; s++) {
		if (((unsigned char)*s & 0xC0) != 0x80) {
			n++;
		}
	}
	return n;
}

bool gw_schema__ip_or_cidr(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];
	char host[64];
	const char *slash = strchr(s, '/');
	size_t hl = slash ? (size_t)(slash - s) : strlen(s);
	char *end;
	long bits;
	int af;

	if (hl == 0 || hl >= sizeof(host)) {
		return false;
	}
	memcpy(host, s, hl);
	host[hl] = '\0';
	af = strchr(host, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(af, host, buf) != 1) {
		return false;
	}
	if (slash == NULL) {
		return true;
	}
	if (slash[1] < '0' || slash[1] > '9') {
		return false;
	}
	bits = strtol(slash + 1, &end, 10);
	return *end == '\0' && bits >= 0 && bits <= (af == AF_INET ? 32 : 128);
}

static int check(const cJSON *s, const cJSON *v, char *e, size_t n, int depth, unsigned fl);

/* Does @v match @s? A trial: no error text is formatted (n == 0), which
 * is most of the cost of a failing branch. */
static bool matches(const cJSON *s, const cJSON *v, int depth, unsigned fl)
{
	return check(s, v, NULL, 0, depth, fl) == 0;
}

/* The keywords of one schema object, found in one pass over its members
 * (instead of a linear lookup per keyword per value checked: the
 * validator's main cost on big configs). The first of a duplicated
 * keyword wins, as with cJSON_GetObjectItemCaseSensitive. */
struct kw {
	const cJSON *ref, *type, *props, *req, *addl, *pats, *minp, *maxp, *xpd;
	const cJSON *items, *mini, *maxi, *uniq;
	const cJSON *minl, *maxl, *pat, *fmt;
	const cJSON *bound[4]; /* minimum, exclusiveMinimum, maximum, exclusiveMaximum */
	const cJSON *enm, *cnst, *allof, *anyof, *oneof, *not_;
};

static void kw_set(const cJSON **slot, const cJSON *c)
{
	if (*slot == NULL) {
		*slot = c;
	}
}

static void gather(const cJSON *s, struct kw *k)
{
	static const struct {
		const char *name;
		size_t off;
	} table[] = {
#define KW(name, field) {name, offsetof(struct kw, field)}
	    KW("$ref", ref),
	    KW("type", type),
	    KW("properties", props),
	    KW("required", req),
	    KW("additionalProperties", addl),
	    KW("patternProperties", pats),
	    KW("minProperties", minp),
	    KW("maxProperties", maxp),
	    KW("x-proxy-defaults", xpd),
	    KW("items", items),
	    KW("minItems", mini),
	    KW("maxItems", maxi),
	    KW("uniqueItems", uniq),
	    KW("minLength", minl),
	    KW("maxLength", maxl),
	    KW("pattern", pat),
	    KW("format", fmt),
	    KW("minimum", bound[0]),
	    KW("exclusiveMinimum", bound[1]),
	    KW("maximum", bound[2]),
	    KW("exclusiveMaximum", bound[3]),
	    KW("enum", enm),
	    KW("const", cnst),
	    KW("allOf", allof),
	    KW("anyOf", anyof),
	    KW("oneOf", oneof),
	    KW("not", not_),
#undef KW
	};
	const cJSON *c;
	size_t i;

	memset(k, 0, sizeof *k);
	for (c = s->child; c != NULL; c = c->next) {
		if (c->string == NULL) {
			continue;
		}
		for (i = 0; i < sizeof table / sizeof table[0]; i++) {
			if (c->string[0] == table[i].name[0] &&
			    strcmp(c->string, table[i].name) == 0) {
				kw_set((const cJSON **)((char *)k + table[i].off), c);
				break;
			}
		}
	}
}

static int check_type(const cJSON *t, const cJSON *v, char *e, size_t n)
{
	const cJSON *x;

	if (cJSON_IsString(t)) {
		if (type_is(t->valuestring, v)) {
			return 0;
		}
		return fail(e, n, "wrong type: expected %s, got %s", t->valuestring, type_of(v));
	}
	if (cJSON_IsArray(t)) {
		cJSON_ArrayForEach(x, t)
		{
			if (cJSON_IsString(x) && type_is(x->valuestring, v)) {
				return 0;
			}
		}
		x = cJSON_GetArrayItem(t, 0);
		return fail(e, n, "wrong type: expected one of %s%s, got %s",
			    cJSON_IsString(x) ? x->valuestring : "?",
			    cJSON_GetArraySize(t) > 1 ? ", ..." : "", type_of(v));
	}
	return 0;
}

static int check_object(const struct kw *k, const cJSON *v, char *e, size_t n, int depth,
			unsigned fl)
{
	const cJSON *props = k->props, *req = k->req, *addl = k->addl, *pats = k->pats;
	const cJSON *minp = k->minp, *maxp = k->maxp;
	const cJSON *p, *x, *pat;
	bool matched;
	int count = 0;

	uint64_t known = 0; /* bit j: member j of @v (j < 64) is in "properties" */
	int j;

	cJSON_ArrayForEach(p, props)
	{
		/* x = cJSON_GetObjectItemCaseSensitive(v, p->string), noting
		 * where it was found so the loop below need not look it up. */
		for (x = v->child, j = 0; x != NULL; x = x->next, j++) {
			if (x->string != NULL && strcmp(x->string, p->string) == 0) {
				break;
			}
		}
		if (x == NULL) {
			continue;
		}
		if (j < 64) {
			known |= UINT64_C(1) << j;
		}
		if (check(p, x, e, n, depth + 1, fl) != 0) {
			return prefix(e, n, "property \"%s\" validation failed: ", p->string);
		}
	}
	if ((fl & GW_SCHEMA_PROXY) && cJSON_IsTrue(k->xpd)) {
		req = NULL; /* the proxy has a default for each member */
	}
	cJSON_ArrayForEach(p, req)
	{
		if (cJSON_IsString(p) &&
		    cJSON_GetObjectItemCaseSensitive(v, p->valuestring) == NULL) {
			return fail(e, n, "property \"%s\" is required", p->valuestring);
		}
	}
	j = 0;
	cJSON_ArrayForEach(x, v)
	{
		/* the bit, or a lookup for what it cannot tell (members past 64,
		 * a repeated name, an additional property) */
		bool in_props = (j < 64 && (known >> j & 1) != 0) ||
				cJSON_GetObjectItemCaseSensitive(props, x->string) != NULL;
		j++;
		count++;
		matched = false;
		cJSON_ArrayForEach(pat, pats)
		{
			if (rx_match(pat->string, x->string) == 1) {
				matched = true;
				if (check(pat, x, e, n, depth + 1, fl) != 0) {
					return prefix(e, n,
						      "failed to validate %s (matching \"%s\"): ",
						      x->string, pat->string);
				}
			}
		}
		if (matched || in_props) {
			continue;
		}
		if (cJSON_IsFalse(addl)) {
			return fail(e, n, "additional properties forbidden, found %s", x->string);
		}
		if (cJSON_IsObject(addl) && check(addl, x, e, n, depth + 1, fl) != 0) {
			return prefix(e, n,
				      "failed to validate additional property %s: ", x->string);
		}
	}
	if (cJSON_IsNumber(minp) && count < minp->valuedouble) {
		return fail(e, n, "expect object to have at least %d properties",
			    (int)minp->valuedouble);
	}
	if (cJSON_IsNumber(maxp) && count > maxp->valuedouble) {
		return fail(e, n, "expect object to have at most %d properties",
			    (int)maxp->valuedouble);
	}
	return 0;
}

/* A hash of @v that values cJSON_Compare finds equal share (numbers by
 * value, objects whatever their member order). */
static uint64_t vhash(const cJSON *v)
{
	uint64_t h = (uint64_t)(v->type & 0xff) * 0x9e3779b97f4a7c15u, sum = 0;
	const cJSON *c;

	if (cJSON_IsString(v)) {
		for (const char *p = v->valuestring; *p; p++) {
			h = (h ^ (unsigned char)*p) * 0x100000001b3u;
		}
	} else if (cJSON_IsNumber(v)) {
		/* cJSON_Compare allows a relative epsilon: hash the exponent
		 * and the mantissa rounded far above it */
		int ex = 0;
		double m = frexp(v->valuedouble, &ex);
		h ^= (uint64_t)(int64_t)llround(m * 1e9) ^ ((uint64_t)(uint32_t)ex << 40);
	} else if (cJSON_IsArray(v)) {
		cJSON_ArrayForEach(c, v)
		{
			h = (h ^ vhash(c)) * 0x100000001b3u;
		}
	} else if (cJSON_IsObject(v)) {
		cJSON_ArrayForEach(c, v)
		{
			uint64_t k = 0xcbf29ce484222325u;
			for (const char *p = c->string; *p; p++) {
				k = (k ^ (unsigned char)*p) * 0x100000001b3u;
			}
			sum += (k ^ vhash(c)) * 0x9e3779b97f4a7c15u; /* order-free */
		}
		h ^= sum;
	}
	return h ^ (h >> 29);
}

struct hitem {
	uint64_t h;
	const cJSON *v;
	int at; /* 1-based position */
};

static int cmp_hitem(const void *a, const void *b)
{
	const struct hitem *x = a, *y = b;

	if (x->h != y->h) {
		return x->h < y->h ? -1 : 1;
	}
	return x->at - y->at;
}

/* uniqueItems of a big array (a request body's): hash, sort, compare only
 * items of one hash. 0, GW_EINVAL with the first equal pair (as the
 * pairwise walk finds it) in *@pi < *@pj, or GW_ENOMEM. */
static int unique_hashed(const cJSON *v, int size, int *pi, int *pj)
{
	struct hitem *t = malloc((size_t)size * sizeof *t);
	const cJSON *x;
	int n = 0, bi = 0, bj = 0;

	if (t == NULL) {
		return GW_ENOMEM;
	}
	cJSON_ArrayForEach(x, v)
	{
		t[n] = (struct hitem){vhash(x), x, n + 1};
		n++;
	}
	qsort(t, (size_t)n, sizeof *t, cmp_hitem);
	for (int a = 0; a < n; a++) {
		for (int b = a + 1; b < n && t[b].h == t[a].h; b++) {
			if ((bi == 0 || t[a].at < bi || (t[a].at == bi && t[b].at < bj)) &&
			    cJSON_Compare(t[a].v, t[b].v, true)) {
				bi = t[a].at;
				bj = t[b].at;
			}
		}
	}
	free(t);
	*pi = bi;
	*pj = bj;
	return bi != 0 ? GW_EINVAL : 0;
}

static int check_array(const struct kw *k, const cJSON *v, char *e, size_t n, int depth,
		       unsigned fl)
{
	const cJSON *items = k->items, *mini = k->mini, *maxi = k->maxi, *uniq = k->uniq;
	int size = cJSON_GetArraySize(v);
	const cJSON *x, *y;
	int i, j;

	if (cJSON_IsNumber(mini) && size < mini->valuedouble) {
		return fail(e, n, "expect array to have at least %d items", (int)mini->valuedouble);
	}
	if (cJSON_IsNumber(maxi) && size > maxi->valuedouble) {
		return fail(e, n, "expect array to have at most %d items", (int)maxi->valuedouble);
	}
	if (cJSON_IsObject(items)) {
		i = 1;
		cJSON_ArrayForEach(x, v)
		{
			if (check(items, x, e, n, depth + 1, fl) != 0) {
				return prefix(e, n, "failed to validate item %d: ", i);
			}
			i++;
		}
	}
	if (cJSON_IsTrue(uniq) && size > UNIQ_PAIRWISE) {
		int rv = unique_hashed(v, size, &i, &j);
		if (rv != 0) {
			return rv == GW_ENOMEM
				   ? rv
				   : fail(e, n,
					  "expected unique items but items %d and %d are "
					  "equal",
					  i, j);
		}
	} else if (cJSON_IsTrue(uniq)) {
		i = 1;
		cJSON_ArrayForEach(x, v)
		{
			j = i + 1;
			for (y = x->next; y != NULL; y = y->next, j++) {
				if (cJSON_Compare(x, y, true)) {
					return fail(
					    e, n,
					    "expected unique items but items %d and %d are equal",
					    i, j);
				}
			}
			i++;
		}
	}
	return 0;
}

static int check_string(const struct kw *k, const cJSON *v, char *e, size_t n)
{
	const cJSON *minl = k->minl, *maxl = k->maxl, *pat = k->pat, *fmt = k->fmt;
	size_t len = utf8_len(v->valuestring);

	if (cJSON_IsNumber(minl) && (double)len < minl->valuedouble) {
		return fail(e, n, "string too short, expected at least %d, got %zu",
			    (int)minl->valuedouble, len);
	}
	if (cJSON_IsNumber(maxl) && (double)len > maxl->valuedouble) {
		return fail(e, n, "string too long, expected at most %d, got %zu",
			    (int)maxl->valuedouble, len);
	}
	if (cJSON_IsString(pat) && rx_match(pat->valuestring, v->valuestring) != 1) {
		return fail(e, n, "failed to match pattern \"%s\" with \"%.200s\"",
			    pat->valuestring, v->valuestring);
	}
	if (tl_user) {
		/* a user schema: the formats of APISIX's jsonschema only */
		return cJSON_IsString(fmt)
			   ? gw_schema__user_format(fmt->valuestring, v->valuestring, e, n)
			   : 0;
	}
	if (cJSON_IsString(fmt) && strcmp(fmt->valuestring, "ip_or_cidr") == 0 &&
	    !gw_schema__ip_or_cidr(v->valuestring)) {
		return fail(e, n, "expect valid ip address or CIDR but got: %.200s",
			    v->valuestring);
	}
	return 0;
}

static int check_number(const struct kw *k, const cJSON *v, char *e, size_t n)
{
	static const struct {
		const char *kw;
		const char *word;
		int sign; /* violation when cmp(value, bound) has this sign or 0 */
		bool strict;
	} bounds[] = {
	    {"minimum", "greater", -1, false},
	    {"exclusiveMinimum", "sctrictly greater", -1, true},
	    {"maximum", "smaller", 1, false},
	    {"exclusiveMaximum", "sctrictly smaller", 1, true},
	};
	char a[32], b[32];
	double d = v->valuedouble, lim;
	const cJSON *x;
	size_t i;
	bool bad;

	for (i = 0; i < sizeof(bounds) / sizeof(bounds[0]); i++) {
		x = k->bound[i];
		if (!cJSON_IsNumber(x)) {
			continue;
		}
		lim = x->valuedouble;
		bad = bounds[i].sign < 0 ? (bounds[i].strict ? d <= lim : d < lim)
					 : (bounds[i].strict ? d >= lim : d > lim);
		if (bad) {
			/* jsonschema's wording, typo included */
			return fail(e, n, "expected %s to be %s than %s", num_str(d, a, sizeof(a)),
				    bounds[i].word, num_str(lim, b, sizeof(b)));
		}
	}
	return 0;
}

/* Formats of arrays known to the proxy: "expr" (a vars expression the
 * compiler accepts) and "regex_uri" (its first item a PCRE2 regular
 * expression). Others are not checked. */
static int check_array_format(const char *fmt, const cJSON *v, char *e, size_t n)
{
	const cJSON *pat = cJSON_GetArrayItem(v, 0);
	const cJSON *rep = cJSON_GetArrayItem(v, 1);
	char scratch[64], why[200];
	struct gw_regex *re;
	int rv;

	if (strcmp(fmt, "expr") == 0) {
		/* a trial (n == 0) still needs somewhere to put the words */
		return n > 0 ? gw_schema_check_expr(v, e, n)
			     : gw_schema_check_expr(v, scratch, sizeof scratch);
	}
	if (strcmp(fmt, "regex_uri") == 0 && cJSON_IsString(pat)) {
		rv = gw_regex_compile(pat->valuestring, 0, &re, why, sizeof why);
		if (rv == GW_ENOMEM) {
			return rv;
		}
		if (rv != 0) {
			return fail(e, n, "invalid regex_uri(%.200s, %.200s): %s", pat->valuestring,
				    cJSON_IsString(rep) ? rep->valuestring : "", why);
		}
		gw_regex_free(re);
	}
	return 0;
}

/* "object matches none of the requireds: [\"a\",\"b\"] or [...]" */
static int any_of_fail(const cJSON *list, char *e, size_t n)
{
	const cJSON *sub, *req;
	char *txt;
	size_t used;
	bool first = true;

	if (n == 0) {
		return GW_EINVAL;
	}
	used = (size_t)snprintf(e, n, "object matches none of the requireds");
	cJSON_ArrayForEach(sub, list)
	{
		req = cJSON_GetObjectItemCaseSensitive(sub, "required");
		if (req == NULL || used >= n) {
			continue;
		}
		txt = cJSON_PrintUnformatted(req);
		if (txt == NULL) {
			continue;
		}
		used += (size_t)snprintf(e + used, n - used, "%s%s", first ? ": " : " or ", txt);
		first = false;
		free(txt);
	}
	return GW_EINVAL;
}

static int check(const cJSON *s, const cJSON *v, char *e, size_t n, int depth, unsigned fl)
{
	const cJSON *x, *sub;
	struct kw k;
	bool found;
	int i, matched;

	if (depth > MAX_DEPTH) {
		return fail(e, n, "value nested too deeply");
	}
	if (!cJSON_IsObject(s)) {
		return 0; /* true schema */
	}
	gather(s, &k);
	x = k.ref;
	if (cJSON_IsString(x)) {
		sub = find_schema(x->valuestring);
		GW_ASSERT(sub != NULL); /* a $ref of tables.c to a missing row */
		return check(sub, v, e, n, depth + 1, fl);
	}
	x = k.type;
	if (x != NULL && check_type(x, v, e, n) != 0) {
		return GW_EINVAL;
	}
	if (cJSON_IsObject(v) && check_object(&k, v, e, n, depth, fl) != 0) {
		return GW_EINVAL;
	}
	if (cJSON_IsArray(v) && check_array(&k, v, e, n, depth, fl) != 0) {
		return GW_EINVAL;
	}
	if (cJSON_IsString(v) && check_string(&k, v, e, n) != 0) {
		return GW_EINVAL;
	}
	if (cJSON_IsNumber(v) && check_number(&k, v, e, n) != 0) {
		return GW_EINVAL;
	}
	x = k.fmt;
	if (!tl_user && cJSON_IsArray(v) && cJSON_IsString(x) &&
	    check_array_format(x->valuestring, v, e, n) != 0) {
		return GW_EINVAL;
	}
	x = k.enm;
	if (cJSON_IsArray(x)) {
		found = false;
		cJSON_ArrayForEach(sub, x)
		{
			if (cJSON_Compare(sub, v, true)) {
				found = true;
				break;
			}
		}
		if (!found) {
			return fail(e, n, "matches none of the enum values");
		}
	}
	x = k.cnst;
	if (x != NULL && !cJSON_Compare(x, v, true)) {
		return fail(e, n, "failed to check const value");
	}
	x = k.allof;
	i = 1;
	cJSON_ArrayForEach(sub, x)
	{
		if (check(sub, v, e, n, depth + 1, fl) != 0) {
			return prefix(e, n, "allOf %d failed: ", i);
		}
		i++;
	}
	x = k.anyof;
	if (cJSON_IsArray(x)) {
		found = false;
		cJSON_ArrayForEach(sub, x)
		{
			if (matches(sub, v, depth + 1, fl)) {
				found = true;
				break;
			}
		}
		if (!found) {
			return any_of_fail(x, e, n);
		}
	}
	x = k.oneof;
	if (cJSON_IsArray(x)) {
		matched = 0;
		i = 1;
		cJSON_ArrayForEach(sub, x)
		{
			if (matches(sub, v, depth + 1, fl)) {
				if (matched) {
					return fail(
					    e, n,
					    "value should match only one schema, but matches "
					    "both schemas %d and %d",
					    matched, i);
				}
				matched = i;
			}
			i++;
		}
		if (!matched) {
			return fail(e, n, "value should match only one schema, but matches none");
		}
	}
	x = k.not_;
	if (x != NULL && matches(x, v, depth + 1, fl)) {
		return fail(e, n, "value wasn't supposed to match schema");
	}
	/* a user schema's keywords beyond the tables' (user.c) */
	return tl_user ? gw_schema__user_extra(s, v, e, n, depth) : 0;
}

int gw_schema__check_node(const cJSON *s, const cJSON *v, char *e, size_t n, int depth)
{
	return check(s, v, e, n, depth, 0);
}

int gw_schema_validate(const char *schema, const cJSON *v, char *err, size_t errlen)
{
	return gw_schema__validate(schema, v, 0, err, errlen);
}

int gw_schema__validate(const char *schema, const cJSON *v, unsigned fl, char *err, size_t errlen)
{
	const cJSON *s = find_schema(schema);

	if (s == NULL) {
		snprintf(err, errlen, "unknown schema %s", schema);
		return GW_ENOTFOUND;
	}
	err[0] = '\0';
	return check(s, v, err, errlen, 0, fl);
}

int gw_schema__check_with(const cJSON *s, const cJSON *v, const struct gw_schema__rx *rx,
			  size_t n_rx_user, bool user, char *err, size_t errlen)
{
	int rv;

	pthread_once(&load_once, load);
	tl_rx = rx;
	tl_n_rx = n_rx_user;
	tl_user = user;
	err[0] = '\0';
	rv = check(s, v, err, errlen, 0, 0);
	tl_rx = NULL;
	tl_n_rx = 0;
	tl_user = false;
	return rv;
}

int gw_schema_check_plugins(const cJSON *plugins, char *err, size_t errlen)
{
	return gw_schema__check_plugins(plugins, 0, err, errlen);
}

/* Prefix of the plugin errors of a consumer or credential (APISIX's
 * admin/consumers.lua and credentials.lua). */
static int consumer_fail(unsigned fl, int rv, char *err, size_t errlen)
{
	if (rv == GW_EINVAL && (fl & GW_SCHEMA__CONSUMER)) {
		return prefix(err, errlen, "invalid plugins configuration: ");
	}
	return rv;
}

static int check_plugins(const cJSON *plugins, unsigned fl, char *err, size_t errlen);

/* The plugin's own check (gw_schema__plugin_checks), if it has one. */
static int extra_check(const char *name, const cJSON *conf, bool consumer, char *err, size_t errlen)
{
	for (size_t i = 0; i < gw_schema__n_plugin_checks; i++) {
		if (gw_schema__plugin_checks[i].check != NULL &&
		    strcmp(gw_schema__plugin_checks[i].name, name) == 0) {
			return gw_schema__plugin_checks[i].check(conf, consumer, err, errlen);
		}
	}
	return 0;
}

int gw_schema__check_plugins(const cJSON *plugins, unsigned fl, char *err, size_t errlen)
{
	const cJSON *p;
	int rv = consumer_fail(fl, check_plugins(plugins, fl, err, errlen), err, errlen);

	if (rv != 0 || !(fl & GW_SCHEMA__CREDENTIAL) || plugins == NULL) {
		return rv;
	}
	cJSON_ArrayForEach(p, plugins)
	{
		if (plugin_consumer_schemas[find_plugin(p->string)] == NULL) {
			return fail(err, errlen,
				    "only supports auth type plugins in consumer credential");
		}
	}
	return 0;
}

static int check_plugins(const cJSON *plugins, unsigned fl, char *err, size_t errlen)
{
	const cJSON *p, *x, *schema;
	cJSON *copy;
	int i, rv;

	if (plugins == NULL) {
		return 0;
	}
	if (!cJSON_IsObject(plugins)) {
		return fail(err, errlen,
			    "invalid plugins configuration: wrong type: expected "
			    "object, got %s",
			    type_of(plugins));
	}
	cJSON_ArrayForEach(p, plugins)
	{
		i = find_plugin(p->string);
		if (i < 0) {
			return fail(err, errlen, "unknown plugin [%s]", p->string);
		}
		if (!cJSON_IsObject(p)) {
			return fail(err, errlen,
				    "failed to check the configuration of plugin %s err: wrong "
				    "type: expected object, got %s",
				    p->string, type_of(p));
		}
		x = cJSON_GetObjectItemCaseSensitive(p, "disable");
		if (x != NULL && !cJSON_IsBool(x)) {
			return fail(err, errlen,
				    "failed to check the configuration of plugin %s err: property "
				    "\"disable\" validation failed: wrong type: expected boolean, "
				    "got %s",
				    p->string, type_of(x));
		}
		x = cJSON_GetObjectItemCaseSensitive(p, "_meta");
		if (x != NULL && !cJSON_IsObject(x)) {
			return fail(err, errlen,
				    "failed to check the configuration of plugin %s err: property "
				    "\"_meta\" validation failed: wrong type: expected object, "
				    "got %s",
				    p->string, type_of(x));
		}
		copy = cJSON_Duplicate(p, true);
		if (copy == NULL) {
			return GW_ENOMEM;
		}
		cJSON_DeleteItemFromObjectCaseSensitive(copy, "disable");
		cJSON_DeleteItemFromObjectCaseSensitive(copy, "_meta");
		schema = (fl & GW_SCHEMA__CONSUMER) && plugin_consumer_schemas[i] != NULL
			     ? plugin_consumer_schemas[i]
			     : plugin_schemas[i];
		rv = check(schema, copy, err, errlen, 0, fl);
		if (rv == 0) {
			rv = extra_check(p->string, copy, schema != plugin_schemas[i], err, errlen);
		}
		cJSON_Delete(copy);
		if (rv != 0) {
			return prefix(
			    err, errlen,
			    "failed to check the configuration of plugin %s err: ", p->string);
		}
	}
	return 0;
}

int gw_schema_check_upstream(const cJSON *up, char *err, size_t errlen)
{
	const cJSON *pass = cJSON_GetObjectItemCaseSensitive(up, "pass_host");
	const cJSON *host = cJSON_GetObjectItemCaseSensitive(up, "upstream_host");
	const cJSON *nodes = cJSON_GetObjectItemCaseSensitive(up, "nodes");
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(up, "type");
	const cJSON *hash_on = cJSON_GetObjectItemCaseSensitive(up, "hash_on");

	if (cJSON_IsString(pass) && strcmp(pass->valuestring, "node") == 0 && nodes != NULL &&
	    cJSON_GetArraySize(nodes) != 1) {
		return fail(err, errlen, "only support single node for `node` mode currently");
	}
	if (cJSON_IsString(pass) && strcmp(pass->valuestring, "rewrite") == 0 &&
	    (!cJSON_IsString(host) || host->valuestring[0] == '\0')) {
		return fail(err, errlen,
			    "`upstream_host` can't be empty when `pass_host` is `rewrite`");
	}
	if (cJSON_IsString(type) && strcmp(type->valuestring, "chash") == 0 &&
	    !(cJSON_IsString(hash_on) && strcmp(hash_on->valuestring, "consumer") == 0) &&
	    cJSON_GetObjectItemCaseSensitive(up, "key") == NULL) {
		return fail(err, errlen, "missing key");
	}
	return 0;
}
