/* user.c: JSON schemas written by users (request-validation's body_schema
 * and header_schema), checked with the same validator as APISIX's objects.
 *
 * Happy path: the Admin API checks a schema with gw_schema_user_check (only
 * what the validator serves: object subschemas, the keywords of
 * validate.c, type names, patterns that compile within lib/regex's
 * bounds); the proxy compiles it once per snapshot with gw_schema_user_new
 * (a copy of the schema and every pattern compiled), and validates request
 * values with gw_schema_user_validate, which matches the precompiled
 * patterns (no lock, no compile on the request path).
 * Failure modes: a keyword the validator does not serve ("if", "$ref",
 * "dependencies", tuple "items", ...) is refused rather than ignored, so a
 * schema never means less here than in APISIX without saying so;
 * GW_EINVAL with the reason, GW_ENOMEM. Threads: any; a compiled schema is
 * read-only and may be used by several threads at once. */
#include "config.h"

#include "lib/err.h"
#include "lib/regex.h"
#include "schema/schema_int.h"

#include <arpa/inet.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define USER_DEPTH    32  /* subschema nesting */
#define USER_PATTERNS 256 /* patterns (pattern, patternProperties) per schema */

struct gw_schema_user {
	cJSON *schema;            /* owned copy */
	struct gw_schema__rx *rx; /* its patterns, compiled */
	size_t n_rx;
};

static int fail(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, n, fmt, ap);
	va_end(ap);
	return GW_EINVAL;
}

/* What a keyword's value is. */
enum kind {
	K_SCHEMA,   /* one subschema */
	K_SCHEMAS,  /* an object of subschemas (properties) */
	K_PATTERNS, /* an object of subschemas keyed by regexes */
	K_LIST,     /* a non-empty array of subschemas (allOf, ...) */
	K_ADDL,     /* a subschema or a boolean */
	K_COUNT,    /* a non-negative integer */
	K_NUMBER,
	K_BOOL,
	K_STRINGS, /* an array of strings (required) */
	K_REGEX,   /* a string, a regex (pattern) */
	K_TYPE,
	K_ARRAY,    /* enum */
	K_ANY,      /* annotations, const */
	K_ITEMS,    /* a subschema, or a non-empty array of them (tuple) */
	K_POSITIVE, /* a number > 0 (multipleOf) */
	K_DEPS,     /* an object of arrays of strings or subschemas */
};

static const struct {
	const char *name;
	enum kind kind;
} keywords[] = {
    {"type", K_TYPE},
    {"properties", K_SCHEMAS},
    {"required", K_STRINGS},
    {"additionalProperties", K_ADDL},
    {"patternProperties", K_PATTERNS},
    {"minProperties", K_COUNT},
    {"maxProperties", K_COUNT},
    {"items", K_ITEMS},
    {"minItems", K_COUNT},
    {"maxItems", K_COUNT},
    {"uniqueItems", K_BOOL},
    {"minLength", K_COUNT},
    {"maxLength", K_COUNT},
    {"pattern", K_REGEX},
    {"minimum", K_NUMBER},
    {"maximum", K_NUMBER},
    {"exclusiveMinimum", K_NUMBER},
    {"exclusiveMaximum", K_NUMBER},
    {"enum", K_ARRAY},
    {"const", K_ANY},
    {"allOf", K_LIST},
    {"anyOf", K_LIST},
    {"oneOf", K_LIST},
    {"not", K_SCHEMA},
    {"format", K_ANY}, /* email, ipv4, ipv6, hostname checked; others pass */
    /* beyond the tables' keywords (gw_schema__user_extra) */
    {"multipleOf", K_POSITIVE},
    {"additionalItems", K_ADDL},
    {"dependencies", K_DEPS},
    {"if", K_SCHEMA},
    {"then", K_SCHEMA},
    {"else", K_SCHEMA},
    {"contains", K_SCHEMA},
    /* annotations: no effect on validation */
    {"title", K_ANY},
    {"description", K_ANY},
    {"default", K_ANY},
    {"examples", K_ANY},
    {"$schema", K_ANY},
    {"$id", K_ANY},
    {"id", K_ANY},
    {"$comment", K_ANY},
};

static const char *const types[] = {"object",  "array",   "string", "number",
				    "integer", "boolean", "null"};

/* Walk state: the patterns found (compiled when @rx is not NULL). */
struct walk {
	struct gw_schema__rx *rx;
	size_t n_rx;
	bool compile;
};

static bool known_type(const char *t)
{
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
		if (strcmp(types[i], t) == 0) {
			return true;
		}
	}
	return false;
}

static int add_regex(struct walk *w, const char *pat, char *err, size_t n)
{
	struct gw_regex *re;
	char why[200];
	int rv;

	if (w->n_rx >= USER_PATTERNS) {
		return fail(err, n, "more than %d patterns", USER_PATTERNS);
	}
	rv = gw_regex_compile(pat, 0, &re, why, sizeof why);
	if (rv == GW_ENOMEM) {
		return rv;
	}
	if (rv != 0) {
		return fail(err, n, "invalid pattern \"%.200s\": %s", pat, why);
	}
	if (!w->compile) {
		gw_regex_free(re);
		w->n_rx++;
		return 0;
	}
	w->rx[w->n_rx].pat = pat; /* points into the owned copy */
	w->rx[w->n_rx].re = re;
	w->n_rx++;
	return 0;
}

static int walk(struct walk *w, const cJSON *s, int depth, char *err, size_t n);

/* One keyword's value. */
static int walk_kw(struct walk *w, const cJSON *x, enum kind kind, int depth, char *err, size_t n)
{
	const cJSON *c;
	int rv;

	switch (kind) {
	case K_SCHEMA:
		return walk(w, x, depth + 1, err, n);
	case K_ADDL:
		return cJSON_IsBool(x) ? 0 : walk(w, x, depth + 1, err, n);
	case K_SCHEMAS:
	case K_PATTERNS:
		if (!cJSON_IsObject(x)) {
			return fail(err, n, "\"%s\": %s", x->string, "expected an object");
		}
		cJSON_ArrayForEach(c, x)
		{
			if (kind == K_PATTERNS && (rv = add_regex(w, c->string, err, n)) != 0) {
				return rv;
			}
			if ((rv = walk(w, c, depth + 1, err, n)) != 0) {
				return rv;
			}
		}
		return 0;
	case K_LIST:
		if (!cJSON_IsArray(x) || cJSON_GetArraySize(x) == 0) {
			return fail(err, n, "\"%s\": %s", x->string,
				    "expected a non-empty array of schemas");
		}
		cJSON_ArrayForEach(c, x)
		{
			if ((rv = walk(w, c, depth + 1, err, n)) != 0) {
				return rv;
			}
		}
		return 0;
	case K_COUNT:
		return cJSON_IsNumber(x) && x->valuedouble >= 0 && x->valuedouble < 2147483648.0
			   ? 0
			   : fail(err, n, "\"%s\": %s", x->string,
				  "expected a non-negative integer");
	case K_NUMBER:
		return cJSON_IsNumber(x)
			   ? 0
			   : fail(err, n, "\"%s\": %s", x->string, "expected a number");
	case K_BOOL:
		return cJSON_IsBool(x)
			   ? 0
			   : fail(err, n, "\"%s\": %s", x->string, "expected a boolean");
	case K_STRINGS:
		if (!cJSON_IsArray(x)) {
			return fail(err, n, "\"%s\": %s", x->string,
				    "expected an array of strings");
		}
		cJSON_ArrayForEach(c, x)
		{
			if (!cJSON_IsString(c)) {
				return fail(err, n, "\"%s\": %s", x->string,
					    "expected an array of strings");
			}
		}
		return 0;
	case K_REGEX:
		return cJSON_IsString(x)
			   ? add_regex(w, x->valuestring, err, n)
			   : fail(err, n, "\"%s\": %s", x->string, "expected a string");
	case K_TYPE:
		if (cJSON_IsString(x)) {
			return known_type(x->valuestring)
				   ? 0
				   : fail(err, n, "\"type\": unknown type \"%.64s\"",
					  x->valuestring);
		}
		if (!cJSON_IsArray(x) || cJSON_GetArraySize(x) == 0) {
			return fail(err, n, "\"%s\": %s", x->string,
				    "expected a type name or an array of them");
		}
		cJSON_ArrayForEach(c, x)
		{
			if (!cJSON_IsString(c) || !known_type(c->valuestring)) {
				return fail(err, n, "\"%s\": %s", x->string,
					    "expected a type name or an array of them");
			}
		}
		return 0;
	case K_ARRAY:
		return cJSON_IsArray(x)
			   ? 0
			   : fail(err, n, "\"%s\": %s", x->string, "expected an array");
	case K_ANY:
		return 0;
	case K_ITEMS:
		return cJSON_IsArray(x) ? walk_kw(w, x, K_LIST, depth, err, n)
					: walk(w, x, depth + 1, err, n);
	case K_POSITIVE:
		return cJSON_IsNumber(x) && x->valuedouble > 0
			   ? 0
			   : fail(err, n, "\"%s\": %s", x->string, "expected a number above 0");
	case K_DEPS:
		if (!cJSON_IsObject(x)) {
			return fail(err, n, "\"%s\": %s", x->string, "expected an object");
		}
		cJSON_ArrayForEach(c, x)
		{
			rv = cJSON_IsArray(c) ? walk_kw(w, c, K_STRINGS, depth, err, n)
					      : walk(w, c, depth + 1, err, n);
			if (rv != 0) {
				return rv;
			}
		}
		return 0;
	}
	return 0;
}

static int walk(struct walk *w, const cJSON *s, int depth, char *err, size_t n)
{
	const cJSON *x;
	size_t i;
	int rv;

	if (depth > USER_DEPTH) {
		return fail(err, n, "schema nested deeper than %d", USER_DEPTH);
	}
	if (!cJSON_IsObject(s)) {
		return fail(err, n, "a schema must be an object, got %s",
			    cJSON_IsArray(s) ? "an array" : "a scalar");
	}
	cJSON_ArrayForEach(x, s)
	{
		for (i = 0; i < sizeof keywords / sizeof keywords[0]; i++) {
			if (strcmp(keywords[i].name, x->string) == 0) {
				break;
			}
		}
		if (i == sizeof keywords / sizeof keywords[0]) {
			return fail(err, n, "keyword \"%.64s\" is not supported", x->string);
		}
		if ((rv = walk_kw(w, x, keywords[i].kind, depth, err, n)) != 0) {
			return rv;
		}
	}
	return 0;
}

static bool all_of(const char *s, size_t n, const char *set)
{
	return n > 0 && strspn(s, set) >= n;
}

#define ALNUM "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

/* jsonschema's email: local@domain.tld, [A-Za-z0-9_.-] on both sides of the
 * '@', a tld of 2 to 4 letters after the domain's last dot. */
static bool email_ok(const char *s)
{
	const char *at = strchr(s, '@'), *dot;
	size_t tld;

	if (at == NULL || !all_of(s, (size_t)(at - s), ALNUM "_.-")) {
		return false;
	}
	dot = strrchr(at + 1, '.');
	if (dot == NULL || !all_of(at + 1, (size_t)(dot - at - 1), ALNUM "_.-")) {
		return false;
	}
	tld = strlen(dot + 1);
	return tld >= 2 && tld <= 4 && strspn(dot + 1, ALNUM) == tld &&
	       strcspn(dot + 1, "0123456789") == tld;
}

int gw_schema__user_format(const char *fmt, const char *s, char *e, size_t n)
{
	unsigned char buf[16];
	const char *what = NULL;

	if (strcmp(fmt, "email") == 0 && !email_ok(s)) {
		what = "email";
	} else if (strcmp(fmt, "ipv4") == 0 && inet_pton(AF_INET, s, buf) != 1) {
		what = "ipv4";
	} else if (strcmp(fmt, "ipv6") == 0 && inet_pton(AF_INET6, s, buf) != 1) {
		what = "ipv6";
	} else if (strcmp(fmt, "hostname") == 0 && !all_of(s, strlen(s), ALNUM "-.")) {
		what = "ipv4"; /* sic: jsonschema's words for a bad hostname */
	}
	if (what == NULL) {
		return 0;
	}
	if (n > 0) {
		snprintf(e, n, "expect valid %s address but got: %.200s", what, s);
	}
	return GW_EINVAL;
}

int gw_schema_user_check(const cJSON *schema, char *err, size_t errlen)
{
	struct walk w = {0};

	return walk(&w, schema, 0, err, errlen);
}

void gw_schema_user_free(struct gw_schema_user *u)
{
	if (u == NULL) {
		return;
	}
	for (size_t i = 0; i < u->n_rx; i++) {
		gw_regex_free(u->rx[i].re);
	}
	free(u->rx);
	cJSON_Delete(u->schema);
	free(u);
}

int gw_schema_user_new(const cJSON *schema, struct gw_schema_user **out, char *err, size_t errlen)
{
	struct gw_schema_user *u = calloc(1, sizeof *u);
	struct walk w = {0};
	int rv;

	if (u == NULL || (u->schema = cJSON_Duplicate(schema, true)) == NULL) {
		free(u);
		return GW_ENOMEM;
	}
	/* count first, then compile into an array of that size */
	if ((rv = walk(&w, u->schema, 0, err, errlen)) != 0) {
		gw_schema_user_free(u);
		return rv;
	}
	u->rx = calloc(w.n_rx + 1, sizeof *u->rx);
	if (u->rx == NULL) {
		gw_schema_user_free(u);
		return GW_ENOMEM;
	}
	w = (struct walk){.rx = u->rx, .compile = true};
	rv = walk(&w, u->schema, 0, err, errlen);
	u->n_rx = w.n_rx;
	if (rv != 0) {
		gw_schema_user_free(u);
		return rv;
	}
	*out = u;
	return 0;
}

const cJSON *gw_schema_user_schema(const struct gw_schema_user *u)
{
	return u->schema;
}

int gw_schema_user_validate(const struct gw_schema_user *u, const cJSON *v, char *err,
			    size_t errlen)
{
	return gw_schema__check_with(u->schema, v, u->rx, u->n_rx, true, err, errlen);
}

/* Fill @v's missing members from @s's properties' defaults, then descend
 * into the members and items @s describes. */
static int fill(const cJSON *s, cJSON *v, int depth)
{
	const cJSON *props = cJSON_GetObjectItemCaseSensitive(s, "properties");
	const cJSON *items = cJSON_GetObjectItemCaseSensitive(s, "items"), *p, *d;
	cJSON *x;

	if (depth > USER_DEPTH || !cJSON_IsObject(s)) {
		return 0;
	}
	if (cJSON_IsObject(v)) {
		cJSON_ArrayForEach(p, props)
		{
			x = cJSON_GetObjectItemCaseSensitive(v, p->string);
			d = cJSON_GetObjectItemCaseSensitive(p, "default");
			if (x == NULL && d != NULL && !cJSON_IsNull(d)) {
				if ((x = cJSON_Duplicate(d, true)) == NULL ||
				    !cJSON_AddItemToObject(v, p->string, x)) {
					cJSON_Delete(x);
					return GW_ENOMEM;
				}
				continue; /* a default is taken as it is written */
			}
			if (x != NULL && fill(p, x, depth + 1) != 0) {
				return GW_ENOMEM;
			}
		}
	}
	if (cJSON_IsArray(v) && cJSON_IsObject(items)) {
		cJSON_ArrayForEach(x, v)
		{
			if (fill(items, x, depth + 1) != 0) {
				return GW_ENOMEM;
			}
		}
	}
	return 0;
}

int gw_schema_user_defaults(const struct gw_schema_user *u, cJSON *v)
{
	return fill(u->schema, v, 0);
}

/* Put "@pre" in front of the words already in @e. Returns GW_EINVAL. */
static int prefixed(char *e, size_t n, const char *pre)
{
	char tmp[512];

	if (n > 0) {
		snprintf(tmp, sizeof tmp, "%s%s", pre, e);
		snprintf(e, n, "%s", tmp);
	}
	return GW_EINVAL;
}

/* fail() of a check: nothing written for a trial (@n 0). */
static int says(char *e, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int says(char *e, size_t n, const char *fmt, ...)
{
	va_list ap;

	if (n > 0) {
		va_start(ap, fmt);
		vsnprintf(e, n, fmt, ap);
		va_end(ap);
	}
	return GW_EINVAL;
}

static int tuple(const cJSON *s, const cJSON *v, char *e, size_t n, int depth)
{
	const cJSON *items = cJSON_GetObjectItemCaseSensitive(s, "items");
	const cJSON *more = cJSON_GetObjectItemCaseSensitive(s, "additionalItems");
	const cJSON *x = v->child, *sub;
	char pre[48];
	int i = 1;

	cJSON_ArrayForEach(sub, items)
	{
		if (x == NULL) {
			return 0; /* missing items are valid */
		}
		if (gw_schema__check_node(sub, x, e, n, depth + 1) != 0) {
			snprintf(pre, sizeof pre, "failed to validate item %d: ", i);
			return prefixed(e, n, pre);
		}
		x = x->next;
		i++;
	}
	for (; x != NULL; x = x->next, i++) {
		if (cJSON_IsFalse(more)) {
			return says(e, n, "found unexpected extra items in array");
		}
		if (cJSON_IsObject(more) && gw_schema__check_node(more, x, e, n, depth + 1) != 0) {
			snprintf(pre, sizeof pre, "failed to validate additional item %d: ", i);
			return prefixed(e, n, pre);
		}
	}
	return 0;
}

static int dependencies(const cJSON *deps, const cJSON *v, char *e, size_t n, int depth)
{
	const cJSON *d, *p;
	char pre[160];

	cJSON_ArrayForEach(d, deps)
	{
		if (cJSON_GetObjectItemCaseSensitive(v, d->string) == NULL) {
			continue;
		}
		if (cJSON_IsArray(d)) {
			cJSON_ArrayForEach(p, d)
			{
				if (cJSON_IsString(p) &&
				    cJSON_GetObjectItemCaseSensitive(v, p->valuestring) == NULL) {
					return says(
					    e, n, "property \"%s\" is required when \"%s\" is set",
					    p->valuestring, d->string);
				}
			}
		} else if (gw_schema__check_node(d, v, e, n, depth + 1) != 0) {
			snprintf(pre, sizeof pre,
				 "failed to validate dependent schema for \"%.100s\": ", d->string);
			return prefixed(e, n, pre);
		}
	}
	return 0;
}

int gw_schema__user_extra(const cJSON *s, const cJSON *v, char *e, size_t n, int depth)
{
	const cJSON *mof = cJSON_GetObjectItemCaseSensitive(s, "multipleOf");
	const cJSON *deps = cJSON_GetObjectItemCaseSensitive(s, "dependencies");
	const cJSON *cond = cJSON_GetObjectItemCaseSensitive(s, "if");
	const cJSON *contains = cJSON_GetObjectItemCaseSensitive(s, "contains"), *x;
	int rv;

	if (cJSON_IsArray(v) && cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(s, "items")) &&
	    (rv = tuple(s, v, e, n, depth)) != 0) {
		return rv;
	}
	if (cJSON_IsObject(v) && deps != NULL && (rv = dependencies(deps, v, e, n, depth)) != 0) {
		return rv;
	}
	if (cJSON_IsNumber(v) && cJSON_IsNumber(mof) && mof->valuedouble > 0) {
		double q = v->valuedouble / mof->valuedouble;

		if (!isfinite(q) || floor(q) != q) {
			char a[32], b[32];

			snprintf(a, sizeof a, "%.14g", v->valuedouble);
			snprintf(b, sizeof b, "%.14g", mof->valuedouble);
			return says(e, n, "expected %s to be a multiple of %s", a, b);
		}
	}
	if (cond != NULL) {
		bool ok = gw_schema__check_node(cond, v, NULL, 0, depth + 1) == 0;
		const cJSON *branch = cJSON_GetObjectItemCaseSensitive(s, ok ? "then" : "else");

		if (branch != NULL && gw_schema__check_node(branch, v, NULL, 0, depth + 1) != 0) {
			return says(e, n,
				    ok ? "then clause did not match" : "else clause did not match");
		}
	}
	if (contains != NULL && cJSON_IsArray(v)) {
		if (v->child == NULL) {
			return says(e, n, "check contains: empty array is invalid");
		}
		cJSON_ArrayForEach(x, v)
		{
			if (gw_schema__check_node(contains, x, NULL, 0, depth + 1) == 0) {
				return 0;
			}
		}
		return says(e, n, "failed to check contains");
	}
	return 0;
}
