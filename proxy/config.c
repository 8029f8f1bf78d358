/* config.c: compile the committed /apisix/ keys into an immutable snapshot.
 *
 * Happy path: upstreams are compiled first (by id), then services (which may
 * carry an inline upstream or an upstream_id, hosts and enable_websocket),
 * then routes in input order: each resolves its upstream (inline, then
 * upstream_id, then its service's), its conditions (methods, remote_addrs,
 * vars) and is added to the router under every host x uri. Everything is
 * allocated in the snapshot's arena and freed by the last unref. Each
 * object is first checked by schema/ (gw_schema_check, the Admin API's own
 * check), and its enumerations, limits and defaults come from schema.h, so
 * the proxy serves exactly what the Admin API accepts.
 * Failure modes: an object that fails (invalid JSON, refused by the schema,
 * a missing upstream or service) is skipped with one warning naming its key
 * and why; routes with status 0 are skipped silently. Only GW_ENOMEM fails
 * the whole compile. */
#include "config.h"

#include "lib/err.h"
#include "lib/log.h"
#include "proxy/plugin_int.h"
#include "proxy/proxy_int.h"
#include "schema/schema.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <ctype.h>
#include <http_parser.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct svc {
	struct gw_proxy__upstream *up; /* NULL if the service has none */
	const char **hosts;
	size_t n_hosts;
	bool websocket;
	struct gw_proxy__plugin_inst *plugins;
	size_t n_plugins;
};

struct gw_proxy__compiler {
	struct gw_proxy_config *cfg;
	struct gw_proxy__map ups;  /* id -> upstream */
	struct gw_proxy__map svcs; /* id -> struct svc */
	struct gw_proxy__map pcs;  /* plugin_config id -> struct pset */
	struct pset *globals;      /* global rules, for the snapshot's merged set */
	size_t n_globals, cap_globals;
	const char *obj; /* key of the object being compiled, for plugin_int.h */
	const char *why; /* reason of the last failure (static or arena) */
	char whybuf[512];
	bool oom;
};

/* ---- helpers */

static void *calloc_cfg(struct gw_proxy__compiler *c, size_t n)
{
	void *p = gw_arena_alloc(&c->cfg->arena, n);
	if (p == NULL) {
		c->oom = true;
	}
	return p;
}

static const char *dup_cfg(struct gw_proxy__compiler *c, const char *s)
{
	char *p = gw_arena_strndup(&c->cfg->arena, s, strlen(s));
	if (p == NULL) {
		c->oom = true;
	}
	return p;
}

/* Record why the object fails; returns GW_EINVAL. */
#define fail gw_proxy__c_fail

static bool is_num(const cJSON *j)
{
	return cJSON_IsNumber(j) && isfinite(j->valuedouble);
}

/* Seconds (a number the schema bounds; 0 where it allows 0) to
 * milliseconds; a positive value is at least 1 ms. */
static int get_secs(struct gw_proxy__compiler *c, const cJSON *obj, const char *name, unsigned *out)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, name);
	if (j == NULL) {
		return 0;
	}
	if (!is_num(j) || j->valuedouble < 0 || j->valuedouble > GW_SCHEMA_SECONDS_MAX) {
		return fail(c, "%s must be a number of seconds", name);
	}
	*out = (unsigned)(j->valuedouble * 1000 + 0.5);
	if (*out == 0 && j->valuedouble > 0) {
		*out = 1;
	}
	return 0;
}

static int get_timeouts(struct gw_proxy__compiler *c, const cJSON *obj,
			struct gw_proxy__timeouts *t)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, "timeout");
	int rv;
	if (j == NULL) {
		return 0;
	}
	if ((rv = get_secs(c, j, "connect", &t->connect_ms)) != 0 ||
	    (rv = get_secs(c, j, "send", &t->send_ms)) != 0 ||
	    (rv = get_secs(c, j, "read", &t->read_ms)) != 0) {
		return rv;
	}
	return 0;
}

/* The C value of the enumerated field @e of @obj (its default if absent),
 * or GW_EINVAL naming the field. */
static int get_enum(struct gw_proxy__compiler *c, const cJSON *obj, const struct gw_schema_enum *e)
{
	int v = gw_schema_enum_value(e, cJSON_GetObjectItemCaseSensitive(obj, e->field));
	return v >= 0 ? v : fail(c, "%s: unknown value", e->field);
}

static int strings_of(struct gw_proxy__compiler *c, const cJSON *obj, const char *one,
		      const char *many, const char ***out, size_t *n)
{
	const cJSON *j1 = cJSON_GetObjectItemCaseSensitive(obj, one);
	const cJSON *jn = cJSON_GetObjectItemCaseSensitive(obj, many);
	const cJSON *it;
	size_t i = 0;

	*out = NULL;
	*n = 0;
	if (j1 != NULL && jn != NULL) {
		return fail(c, "only one of %s and its plural may be set", one);
	}
	if (j1 != NULL) {
		if (!cJSON_IsString(j1) || j1->valuestring[0] == '\0') {
			return fail(c, "%s must be a non-empty string", one);
		}
		*out = calloc_cfg(c, sizeof **out);
		if (*out == NULL) {
			return GW_ENOMEM;
		}
		(*out)[0] = dup_cfg(c, j1->valuestring);
		*n = 1;
		return c->oom ? GW_ENOMEM : 0;
	}
	if (jn == NULL) {
		return 0;
	}
	if (!cJSON_IsArray(jn) || cJSON_GetArraySize(jn) == 0) {
		return fail(c, "%s must be a non-empty array", many);
	}
	*out = calloc_cfg(c, (size_t)cJSON_GetArraySize(jn) * sizeof **out);
	if (*out == NULL) {
		return GW_ENOMEM;
	}
	cJSON_ArrayForEach(it, jn)
	{
		if (!cJSON_IsString(it) || it->valuestring[0] == '\0') {
			return fail(c, "%s must hold non-empty strings", many);
		}
		(*out)[i++] = dup_cfg(c, it->valuestring);
	}
	*n = i;
	return c->oom ? GW_ENOMEM : 0;
}

/* ---- upstreams */

static int parse_node(struct gw_proxy__compiler *c, const char *host, long port, double weight,
		      double priority, struct gw_proxy__node *nd)
{
	char ip[GW_SCHEMA_HOST_MAX];
	unsigned char addr[16];
	int af;

	if (port < GW_SCHEMA_PORT_MIN || port > GW_SCHEMA_PORT_MAX) {
		return fail(c, "node %s: port must be 1..65535", host);
	}
	if (!(weight >= GW_SCHEMA_WEIGHT_MIN && weight <= GW_SCHEMA_WEIGHT_MAX) ||
	    !(priority >= GW_SCHEMA_PRIORITY_MIN && priority <= GW_SCHEMA_PRIORITY_MAX)) {
		return fail(c, "node %.40s: weight or priority out of range", host);
	}
	af = gw_schema_node_ip(host, ip, sizeof ip, addr);
	if (af < 0) {
		return fail(c, "node %.40s: not a numeric IP (DNS names are not supported yet)",
			    host);
	}
	memset(nd, 0, sizeof *nd);
	if (af == AF_INET6) {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&nd->addr;
		memcpy(&a6->sin6_addr, addr, sizeof a6->sin6_addr);
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		snprintf(nd->host, sizeof nd->host, port == 80 ? "[%s]" : "[%s]:%ld", ip, port);
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)&nd->addr;
		memcpy(&a4->sin_addr, addr, sizeof a4->sin_addr);
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		snprintf(nd->host, sizeof nd->host, port == 80 ? "%s" : "%s:%ld", ip, port);
	}
	gw_addr_format((struct sockaddr *)&nd->addr, nd->text, sizeof nd->text);
	nd->weight = (int)weight;
	nd->priority = (int)priority;
	return 0;
}

static int parse_nodes(struct gw_proxy__compiler *c, const cJSON *jn, struct gw_proxy__upstream *up)
{
	size_t cap = (size_t)cJSON_GetArraySize(jn), n = 0;
	const cJSON *it;
	int rv;

	up->nodes = calloc_cfg(c, (cap ? cap : 1) * sizeof *up->nodes);
	if (up->nodes == NULL) {
		return GW_ENOMEM;
	}
	cJSON_ArrayForEach(it, jn)
	{
		struct gw_proxy__node nd;
		if (cJSON_IsObject(jn)) {
			/* "host:port": weight */
			char hp[GW_SCHEMA_HOST_MAX];
			long port;
			if (!is_num(it)) {
				return fail(c, "node %s: weight must be a number", it->string);
			}
			if (gw_schema_node_key(it->string, hp, sizeof hp, &port) != 0) {
				return fail(c, "node %.40s: bad host:port", it->string);
			}
			rv = parse_node(c, hp, port, it->valuedouble, 0, &nd);
		} else {
			const cJSON *h = cJSON_GetObjectItemCaseSensitive(it, "host");
			const cJSON *p = cJSON_GetObjectItemCaseSensitive(it, "port");
			const cJSON *w = cJSON_GetObjectItemCaseSensitive(it, "weight");
			const cJSON *pr = cJSON_GetObjectItemCaseSensitive(it, "priority");
			if (!cJSON_IsObject(it) || !cJSON_IsString(h) || !is_num(w) ||
			    (p != NULL && !is_num(p)) || (pr != NULL && !is_num(pr))) {
				return fail(c, "%s",
					    "nodes[]: need host (string), weight, optional "
					    "port and priority (numbers)");
			}
			rv = parse_node(c, h->valuestring, p ? (long)p->valuedouble : 80,
					w->valuedouble, pr ? pr->valuedouble : 0, &nd);
		}
		if (rv != 0) {
			return rv;
		}
		if (nd.weight > 0) {
			up->nodes[n++] = nd; /* weight 0: never chosen */
		}
	}
	up->n_nodes = n;
	/* Stable sort by priority desc (insertion sort: node lists are short). */
	for (size_t i = 1; i < n; i++) {
		struct gw_proxy__node t = up->nodes[i];
		size_t j = i;
		while (j > 0 && up->nodes[j - 1].priority < t.priority) {
			up->nodes[j] = up->nodes[j - 1];
			j--;
		}
		up->nodes[j] = t;
	}
	return 0;
}

static int compile_upstream(struct gw_proxy__compiler *c, const cJSON *j, const char *id,
			    struct gw_proxy__upstream **out)
{
	struct gw_proxy__upstream *up;
	const cJSON *v;
	int rv;

	if (!cJSON_IsObject(j)) {
		return fail(c, "%s", "upstream must be an object");
	}
	up = calloc_cfg(c, sizeof *up);
	if (up == NULL) {
		return GW_ENOMEM;
	}
	up->id = id ? dup_cfg(c, id) : NULL;
	up->retries = -1;
	up->pool_size = GW_SCHEMA_POOL_SIZE;
	up->pool_idle_ms = GW_SCHEMA_POOL_IDLE_S * 1000;
	up->pool_requests = GW_SCHEMA_POOL_REQUESTS;

	if ((rv = get_enum(c, j, &gw_schema_lb)) < 0) {
		return rv;
	}
	up->type = (enum gw_proxy__lb)rv;

	v = cJSON_GetObjectItemCaseSensitive(j, "nodes");
	if (!cJSON_IsObject(v) && !cJSON_IsArray(v)) {
		return fail(c, "%s", "nodes must be an object or an array");
	}
	if ((rv = parse_nodes(c, v, up)) != 0) {
		return rv;
	}

	if ((rv = get_enum(c, j, &gw_schema_hash_on)) < 0) {
		return rv;
	}
	up->hash_on = (enum gw_proxy__hash_on)rv;
	v = cJSON_GetObjectItemCaseSensitive(j, "key");
	if (v != NULL && (!cJSON_IsString(v) || v->valuestring[0] == '\0')) {
		return fail(c, "%s", "key must be a non-empty string");
	}
	if (up->type == GW_PROXY__LB_CHASH && v == NULL) {
		return fail(c, "%s", "chash needs a key");
	}
	up->key = dup_cfg(c, v ? v->valuestring : GW_SCHEMA_HASH_KEY);

	v = cJSON_GetObjectItemCaseSensitive(j, "retries");
	if (v != NULL) {
		if (!is_num(v) || v->valuedouble < 0 || v->valuedouble > GW_SCHEMA_RETRIES_MAX) {
			return fail(c, "%s", "retries must be an integer >= 0");
		}
		up->retries = (int)v->valuedouble;
	}
	if ((rv = get_secs(c, j, "retry_timeout", &up->retry_timeout_ms)) != 0) {
		return rv;
	}
	if ((rv = get_timeouts(c, j, &up->timeout)) != 0) {
		return rv;
	}
	if ((rv = get_enum(c, j, &gw_schema_scheme)) < 0) {
		return rv;
	}
	if ((rv = get_enum(c, j, &gw_schema_pass_host)) < 0) {
		return rv;
	}
	up->pass_host = (enum gw_proxy__pass_host)rv;
	v = cJSON_GetObjectItemCaseSensitive(j, "upstream_host");
	if (v != NULL) {
		if (!cJSON_IsString(v) || v->valuestring[0] == '\0') {
			return fail(c, "%s", "upstream_host must be a non-empty string");
		}
		up->upstream_host = dup_cfg(c, v->valuestring);
	}
	if (up->pass_host == GW_PROXY__PASS_REWRITE && up->upstream_host == NULL) {
		return fail(c, "%s", "pass_host rewrite needs upstream_host");
	}
	v = cJSON_GetObjectItemCaseSensitive(j, "keepalive_pool");
	if (v != NULL) {
		const cJSON *s = cJSON_GetObjectItemCaseSensitive(v, "size");
		const cJSON *r = cJSON_GetObjectItemCaseSensitive(v, "requests");
		if (!cJSON_IsObject(v) || (s && (!is_num(s) || s->valuedouble < 0)) ||
		    (r && (!is_num(r) || r->valuedouble < 1))) {
			return fail(c, "%s", "keepalive_pool: size >= 0, requests >= 1");
		}
		if (s) {
			up->pool_size = (unsigned)s->valuedouble;
		}
		if (r) {
			up->pool_requests = (unsigned)r->valuedouble;
		}
		if ((rv = get_secs(c, v, "idle_timeout", &up->pool_idle_ms)) != 0) {
			return rv;
		}
	}
	if (c->oom) {
		return GW_ENOMEM;
	}
	if (up->type == GW_PROXY__LB_CHASH && gw_proxy__chash_build(c->cfg, up) != 0) {
		c->oom = true;
		return GW_ENOMEM;
	}
	*out = up;
	return 0;
}

static int register_upstream(struct gw_proxy__compiler *c, struct gw_proxy__upstream *up)
{
	struct gw_proxy_config *cfg = c->cfg;
	if ((cfg->n_ups & (cfg->n_ups - 1)) == 0) {
		size_t cap = cfg->n_ups ? cfg->n_ups * 2 : 1;
		void *p = realloc(cfg->ups, cap * sizeof *cfg->ups);
		if (p == NULL) {
			return GW_ENOMEM;
		}
		cfg->ups = p;
	}
	up->index = cfg->n_ups;
	cfg->ups[cfg->n_ups++] = up;
	return 0;
}

/* ---- vars expressions */

static const char *scalar_text(struct gw_proxy__compiler *c, const cJSON *v)
{
	char tmp[64];
	if (cJSON_IsString(v)) {
		return dup_cfg(c, v->valuestring);
	}
	if (is_num(v)) {
		if (v->valuedouble == floor(v->valuedouble) && fabs(v->valuedouble) < 1e15) {
			snprintf(tmp, sizeof tmp, "%lld", (long long)v->valuedouble);
		} else {
			snprintf(tmp, sizeof tmp, "%.17g", v->valuedouble);
		}
		return dup_cfg(c, tmp);
	}
	if (cJSON_IsBool(v)) {
		return dup_cfg(c, cJSON_IsTrue(v) ? "true" : "false");
	}
	return NULL;
}

static int compile_cmp(struct gw_proxy__compiler *c, const cJSON *arr, struct gw_proxy__expr *e)
{
	int n = cJSON_GetArraySize(arr), k = 1, i;
	const cJSON *var = cJSON_GetArrayItem(arr, 0), *op, *val;

	e->kind = GW_PROXY__EXPR_CMP;
	op = cJSON_GetArrayItem(arr, k);
	if (cJSON_IsString(op) && strcmp(op->valuestring, "!") == 0) {
		e->neg = true;
		op = cJSON_GetArrayItem(arr, ++k);
	}
	if (n != k + 2 || !cJSON_IsString(op)) {
		return fail(c, "%s", "vars: expected [var, op, value] or [var, \"!\", op, value]");
	}
	val = cJSON_GetArrayItem(arr, k + 1);
	e->var = dup_cfg(c, var->valuestring);
	if ((i = gw_schema_enum_find(&gw_schema_vars_op, op->valuestring)) < 0) {
		return fail(c, "vars: unknown operator %.32s", op->valuestring);
	}
	e->op = (enum gw_proxy__op)i;
	switch (e->op) {
	case GW_PROXY__OP_EQ:
	case GW_PROXY__OP_NE:
		if (is_num(val)) {
			e->has_num = true;
			e->num = val->valuedouble;
		} else if ((e->str = scalar_text(c, val)) == NULL) {
			return c->oom ? GW_ENOMEM : fail(c, "%s", "vars: == needs a scalar value");
		}
		break;
	case GW_PROXY__OP_GT:
	case GW_PROXY__OP_GE:
	case GW_PROXY__OP_LT:
	case GW_PROXY__OP_LE:
		if (is_num(val)) {
			e->num = val->valuedouble;
		} else if (cJSON_IsString(val)) {
			char *end;
			e->num = strtod(val->valuestring, &end);
			if (*end != '\0' || val->valuestring[0] == '\0') {
				return fail(c, "%s", "vars: comparison needs a number");
			}
		} else {
			return fail(c, "%s", "vars: comparison needs a number");
		}
		e->has_num = true;
		break;
	case GW_PROXY__OP_RE:
	case GW_PROXY__OP_REI: {
		unsigned flags = e->op == GW_PROXY__OP_REI ? GW_REGEX_CASELESS : 0;
		if (!cJSON_IsString(val)) {
			return fail(c, "%s", "vars: regex must be a string");
		}
		int rv = gw_proxy__c_regex(c, val->valuestring, flags, &e->re);
		if (rv != 0) {
			return rv;
		}
		break;
	}
	case GW_PROXY__OP_IN:
	case GW_PROXY__OP_HAS: {
		const cJSON *it;
		size_t m = 0;
		if (e->op == GW_PROXY__OP_IN && !cJSON_IsArray(val)) {
			return fail(c, "%s", "vars: in needs an array");
		}
		e->list = calloc_cfg(c, ((size_t)cJSON_GetArraySize(val) + 1) * sizeof *e->list);
		if (e->list == NULL) {
			return GW_ENOMEM;
		}
		if (!cJSON_IsArray(val)) {
			if ((e->list[m++] = scalar_text(c, val)) == NULL) {
				return c->oom ? GW_ENOMEM : fail(c, "%s", "vars: bad has value");
			}
		} else {
			cJSON_ArrayForEach(it, val)
			{
				if ((e->list[m++] = scalar_text(c, it)) == NULL) {
					return c->oom ? GW_ENOMEM
						      : fail(c, "%s", "vars: bad list value");
				}
			}
		}
		e->n_list = m;
		break;
	}
	case GW_PROXY__OP_IPMATCH: {
		const cJSON *it;
		size_t m = 0;
		e->cidrs = calloc_cfg(c, ((size_t)cJSON_GetArraySize(val) + 1) * sizeof *e->cidrs);
		if (e->cidrs == NULL) {
			return GW_ENOMEM;
		}
		if (cJSON_IsString(val)) {
			if (gw_proxy__cidr_parse(val->valuestring, &e->cidrs[m++]) != 0) {
				return fail(c, "vars: bad ipmatch %.64s", val->valuestring);
			}
		} else if (cJSON_IsArray(val)) {
			cJSON_ArrayForEach(it, val)
			{
				if (!cJSON_IsString(it) ||
				    gw_proxy__cidr_parse(it->valuestring, &e->cidrs[m++]) != 0) {
					return fail(c, "%s", "vars: bad ipmatch address");
				}
			}
		} else {
			return fail(c, "%s", "vars: ipmatch needs a string or an array");
		}
		e->n_cidrs = m;
		break;
	}
	}
	return c->oom ? GW_ENOMEM : 0;
}

static int compile_expr(struct gw_proxy__compiler *c, const cJSON *arr, int depth,
			struct gw_proxy__expr **out)
{
	struct gw_proxy__expr *e;
	const cJSON *first, *it;
	int n, start = 0;

	if (!cJSON_IsArray(arr) || depth > 16) {
		return fail(c, "%s", "vars: expected an array (nesting at most 16)");
	}
	e = calloc_cfg(c, sizeof *e);
	if (e == NULL) {
		return GW_ENOMEM;
	}
	*out = e;
	n = cJSON_GetArraySize(arr);
	first = cJSON_GetArrayItem(arr, 0);
	e->kind = GW_PROXY__EXPR_AND;
	if (cJSON_IsString(first)) {
		const char *s = first->valuestring;
		bool logical = cJSON_IsArray(cJSON_GetArrayItem(arr, 1));
		if (logical && (strcasecmp(s, "AND") == 0 || strcasecmp(s, "!AND") == 0)) {
			e->neg = s[0] == '!';
		} else if (logical && (strcasecmp(s, "OR") == 0 || strcasecmp(s, "!OR") == 0)) {
			e->kind = GW_PROXY__EXPR_OR;
			e->neg = s[0] == '!';
		} else {
			return compile_cmp(c, arr, e);
		}
		start = 1;
	}
	e->kids = calloc_cfg(c, (size_t)(n > 0 ? n : 1) * sizeof *e->kids);
	if (e->kids == NULL) {
		return GW_ENOMEM;
	}
	int i = 0;
	cJSON_ArrayForEach(it, arr)
	{
		int rv;
		if (i++ < start) {
			continue;
		}
		rv = compile_expr(c, it, depth + 1, &e->kids[e->n_kids++]);
		if (rv != 0) {
			return rv;
		}
	}
	return 0;
}

/* ---- helpers exported to plugins */

void *gw_proxy__c_alloc(struct gw_proxy__compiler *c, size_t n)
{
	return calloc_cfg(c, n);
}

const char *gw_proxy__c_strdup(struct gw_proxy__compiler *c, const char *s)
{
	return dup_cfg(c, s);
}

int gw_proxy__c_fail(struct gw_proxy__compiler *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->whybuf, sizeof c->whybuf, fmt, ap);
	va_end(ap);
	c->why = c->whybuf;
	return GW_EINVAL;
}

int gw_proxy__c_vars(struct gw_proxy__compiler *c, const cJSON *arr, struct gw_proxy__expr **out)
{
	*out = NULL;
	if (cJSON_GetArraySize(arr) == 0 && cJSON_IsArray(arr)) {
		return 0;
	}
	return compile_expr(c, arr, 0, out);
}

int gw_proxy__c_regex(struct gw_proxy__compiler *c, const char *pattern, unsigned flags,
		      struct gw_regex **out)
{
	struct gw_proxy_config *cfg = c->cfg;
	struct gw_regex *re;
	char why[256];
	int rv = gw_regex_compile(pattern, flags, &re, why, sizeof why);
	if (rv != 0) {
		return rv == GW_ENOMEM ? rv : fail(c, "bad regex %.64s: %s", pattern, why);
	}
	if ((cfg->n_regexes & (cfg->n_regexes - 1)) == 0) {
		size_t cap = cfg->n_regexes ? cfg->n_regexes * 2 : 1;
		void *p = realloc(cfg->regexes, cap * sizeof *cfg->regexes);
		if (p == NULL) {
			gw_regex_free(re);
			c->oom = true;
			return GW_ENOMEM;
		}
		cfg->regexes = p;
	}
	cfg->regexes[cfg->n_regexes++] = re;
	*out = re;
	return 0;
}

const char *gw_proxy__c_object(struct gw_proxy__compiler *c, const char *set)
{
	return set ? (c->obj = set) : c->obj ? c->obj : "";
}

/* "plugins": {name: conf} -> instances; unknown plugins fail the object
 * (APISIX's Admin API refuses them too). */
static int compile_plugins(struct gw_proxy__compiler *c, const cJSON *obj,
			   struct gw_proxy__plugin_inst **out, size_t *n)
{
	const cJSON *it;
	size_t k = 0;
	*out = NULL;
	*n = 0;
	if (obj == NULL) {
		return 0;
	}
	if (!cJSON_IsObject(obj)) {
		return fail(c, "%s", "plugins must be an object");
	}
	*out = calloc_cfg(c, ((size_t)cJSON_GetArraySize(obj) + 1) * sizeof **out);
	if (*out == NULL) {
		return GW_ENOMEM;
	}
	cJSON_ArrayForEach(it, obj)
	{
		const struct gw_proxy__plugin *p = gw_proxy__plugin_find(it->string);
		const cJSON *dis = cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(it, "_meta"), "disable");
		int rv;
		if (p == NULL) {
			return fail(c, "unknown plugin %.64s", it->string);
		}
		if (!cJSON_IsObject(it)) {
			return fail(c, "plugin %.64s: configuration must be an object", it->string);
		}
		if (cJSON_IsTrue(dis)) {
			continue;
		}
		(*out)[k].p = p;
		rv = p->compile(c, it, &(*out)[k].conf);
		if (rv != 0) {
			if (rv != GW_ENOMEM && c->why != c->whybuf) {
				return fail(c, "plugin %.64s: invalid configuration", it->string);
			}
			return rv;
		}
		k++;
	}
	*n = k;
	return 0;
}

int gw_proxy__c_plugins(struct gw_proxy__compiler *c, const cJSON *obj,
			struct gw_proxy__plugin_inst **out, size_t *n)
{
	return compile_plugins(c, obj, out, n);
}

/* A set of plugin instances (a plugin_config or a global rule). */
struct pset {
	struct gw_proxy__plugin_inst *v;
	size_t n;
};

static bool has_plugin(const struct gw_proxy__plugin_inst *v, size_t n,
		       const struct gw_proxy__plugin *p)
{
	for (size_t i = 0; i < n; i++) {
		if (v[i].p == p) {
			return true;
		}
	}
	return false;
}

/* Union of @sets in precedence order (the first holding a plugin wins),
 * sorted by priority desc. */
static int merge_sets(struct gw_proxy__compiler *c, const struct pset *sets, size_t n_sets,
		      struct gw_proxy__plugin_inst **out, size_t *out_n)
{
	size_t total = 0, n = 0;
	struct gw_proxy__plugin_inst *v;
	for (size_t k = 0; k < n_sets; k++) {
		total += sets[k].n;
	}
	*out = NULL;
	*out_n = 0;
	if (total == 0) {
		return 0;
	}
	v = calloc_cfg(c, total * sizeof *v);
	if (v == NULL) {
		return GW_ENOMEM;
	}
	for (size_t k = 0; k < n_sets; k++) {
		for (size_t i = 0; i < sets[k].n; i++) {
			if (!has_plugin(v, n, sets[k].v[i].p)) {
				v[n++] = sets[k].v[i];
			}
		}
	}
	for (size_t i = 1; i < n; i++) {
		struct gw_proxy__plugin_inst t = v[i];
		size_t j = i;
		while (j > 0 && v[j - 1].p->priority < t.p->priority) {
			v[j] = v[j - 1];
			j--;
		}
		v[j] = t;
	}
	*out = v;
	*out_n = n;
	return 0;
}

/* {"plugins": {...}} objects: plugin_configs and global_rules. */
static int compile_pset(struct gw_proxy__compiler *c, const cJSON *j, struct pset **out)
{
	struct pset *ps;
	const cJSON *pl = cJSON_GetObjectItemCaseSensitive(j, "plugins");
	if (!cJSON_IsObject(j) || !cJSON_IsObject(pl)) {
		return fail(c, "%s", "needs a plugins object");
	}
	ps = calloc_cfg(c, sizeof *ps);
	if (ps == NULL) {
		return GW_ENOMEM;
	}
	*out = ps;
	return compile_plugins(c, pl, &ps->v, &ps->n);
}

/* ---- services and routes */

/* Status 0: not routed, and not checked either. */
static bool route_disabled(const cJSON *j)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "status");
	return is_num(v) && v->valuedouble == 0;
}

static int compile_service(struct gw_proxy__compiler *c, const cJSON *j, struct svc **out)
{
	struct svc *s;
	const cJSON *v;
	int rv;

	if (!cJSON_IsObject(j)) {
		return fail(c, "%s", "service must be an object");
	}
	s = calloc_cfg(c, sizeof *s);
	if (s == NULL) {
		return GW_ENOMEM;
	}
	v = cJSON_GetObjectItemCaseSensitive(j, "upstream");
	if (v != NULL) {
		if ((rv = compile_upstream(c, v, NULL, &s->up)) != 0) {
			return rv;
		}
		if (register_upstream(c, s->up) != 0) {
			return GW_ENOMEM;
		}
	} else if ((v = cJSON_GetObjectItemCaseSensitive(j, "upstream_id")) != NULL) {
		const char *id = scalar_text(c, v);
		if (id == NULL) {
			return c->oom ? GW_ENOMEM : fail(c, "%s", "upstream_id must be a string");
		}
		s->up = gw_proxy__map_get(&c->ups, id, strlen(id));
		if (s->up == NULL) {
			return fail(c, "upstream_id %.64s not found", id);
		}
	}
	if ((rv = strings_of(c, j, "host", "hosts", &s->hosts, &s->n_hosts)) != 0) {
		return rv;
	}
	v = cJSON_GetObjectItemCaseSensitive(j, "enable_websocket");
	s->websocket = cJSON_IsTrue(v);
	rv = compile_plugins(c, cJSON_GetObjectItemCaseSensitive(j, "plugins"), &s->plugins,
			     &s->n_plugins);
	if (rv != 0) {
		return rv;
	}
	*out = s;
	return 0;
}

static int compile_route(struct gw_proxy__compiler *c, const cJSON *j, const char *id, size_t seq)
{
	struct gw_proxy__route *r;
	const char **uris, **hosts, **addrs;
	size_t n_uris, n_hosts, n_addrs;
	const struct svc *s = NULL;
	const cJSON *v;
	int rv;

	if (!cJSON_IsObject(j)) {
		return fail(c, "%s", "route must be an object");
	}
	if (route_disabled(j)) {
		return 1;
	}
	r = calloc_cfg(c, sizeof *r);
	if (r == NULL) {
		return GW_ENOMEM;
	}
	r->id = dup_cfg(c, id);
	r->seq = seq;
	if ((rv = strings_of(c, j, "uri", "uris", &uris, &n_uris)) != 0) {
		return rv;
	}
	if (n_uris == 0) {
		return fail(c, "%s", "uri or uris is required");
	}
	for (size_t i = 0; i < n_uris; i++) {
		if (uris[i][0] != '/' && strcmp(uris[i], "*") != 0) {
			return fail(c, "uri %.64s must start with /", uris[i]);
		}
		if (strlen(uris[i]) > GW_SCHEMA_URI_MAX) {
			return fail(c, "uri longer than %d bytes", GW_SCHEMA_URI_MAX);
		}
		if (strcmp(uris[i], "*") == 0) {
			uris[i] = "/*";
		}
	}
	if ((rv = strings_of(c, j, "host", "hosts", &hosts, &n_hosts)) != 0) {
		return rv;
	}
	if ((rv = strings_of(c, j, "remote_addr", "remote_addrs", &addrs, &n_addrs)) != 0) {
		return rv;
	}
	if (n_addrs > 0) {
		r->remote = calloc_cfg(c, n_addrs * sizeof *r->remote);
		if (r->remote == NULL) {
			return GW_ENOMEM;
		}
		for (size_t i = 0; i < n_addrs; i++) {
			if (gw_proxy__cidr_parse(addrs[i], &r->remote[i]) != 0) {
				return fail(c, "remote_addrs: bad address %.64s", addrs[i]);
			}
		}
		r->n_remote = n_addrs;
	}
	v = cJSON_GetObjectItemCaseSensitive(j, "methods");
	if (v != NULL) {
		const cJSON *it;
		if (!cJSON_IsArray(v)) {
			return fail(c, "%s", "methods must be an array");
		}
		cJSON_ArrayForEach(it, v)
		{
			int mth;
			if (!cJSON_IsString(it)) {
				return fail(c, "%s", "methods must hold strings");
			}
			for (mth = 0; mth < 32; mth++) {
				if (strcmp(http_method_str((enum http_method)mth),
					   it->valuestring) == 0) {
					break;
				}
			}
			if (mth == 32) {
				return fail(c, "unknown method %.32s", it->valuestring);
			}
			r->methods |= 1u << mth;
		}
	}
	v = cJSON_GetObjectItemCaseSensitive(j, "priority");
	if (v != NULL) {
		if (!is_num(v) || v->valuedouble < GW_SCHEMA_PRIORITY_MIN ||
		    v->valuedouble > GW_SCHEMA_PRIORITY_MAX) {
			return fail(c, "%s", "priority must be an integer");
		}
		r->priority = (int)v->valuedouble;
	}
	v = cJSON_GetObjectItemCaseSensitive(j, "vars");
	if (v != NULL && cJSON_GetArraySize(v) > 0) {
		if ((rv = compile_expr(c, v, 0, &r->vars)) != 0) {
			return rv;
		}
	}
	if ((rv = get_timeouts(c, j, &r->timeout)) != 0) {
		return rv;
	}
	v = cJSON_GetObjectItemCaseSensitive(j, "service_id");
	if (v != NULL) {
		const char *sid = scalar_text(c, v);
		if (sid == NULL) {
			return c->oom ? GW_ENOMEM : fail(c, "%s", "service_id must be a string");
		}
		s = gw_proxy__map_get(&c->svcs, sid, strlen(sid));
		if (s == NULL) {
			return fail(c, "service_id %.64s not found", sid);
		}
	}
	if ((v = cJSON_GetObjectItemCaseSensitive(j, "upstream")) != NULL) {
		if ((rv = compile_upstream(c, v, NULL, &r->up)) != 0) {
			return rv;
		}
		if (register_upstream(c, r->up) != 0) {
			return GW_ENOMEM;
		}
	} else if ((v = cJSON_GetObjectItemCaseSensitive(j, "upstream_id")) != NULL) {
		const char *uid = scalar_text(c, v);
		if (uid == NULL) {
			return c->oom ? GW_ENOMEM : fail(c, "%s", "upstream_id must be a string");
		}
		r->up = gw_proxy__map_get(&c->ups, uid, strlen(uid));
		if (r->up == NULL) {
			return fail(c, "upstream_id %.64s not found", uid);
		}
	} else if (s != NULL) {
		r->up = s->up;
	}
	v = cJSON_GetObjectItemCaseSensitive(j, "enable_websocket");
	r->websocket = v != NULL ? cJSON_IsTrue(v) : (s != NULL && s->websocket);
	{
		struct gw_proxy__plugin_inst *rp;
		size_t rn;
		struct pset sets[3] = {{0}};
		const struct pset *pc = NULL;
		const cJSON *pcid = cJSON_GetObjectItemCaseSensitive(j, "plugin_config_id");
		if (pcid != NULL) {
			const char *pid = scalar_text(c, pcid);
			if (pid == NULL) {
				return c->oom ? GW_ENOMEM
					      : fail(c, "%s", "plugin_config_id must be a string");
			}
			pc = gw_proxy__map_get(&c->pcs, pid, strlen(pid));
			if (pc == NULL) {
				return fail(c, "plugin_config_id %.64s not found", pid);
			}
		}
		rv = compile_plugins(c, cJSON_GetObjectItemCaseSensitive(j, "plugins"), &rp, &rn);
		if (rv != 0) {
			return rv;
		}
		/* precedence: route > plugin_config > service */
		sets[0] = (struct pset){rp, rn};
		if (pc != NULL) {
			sets[1] = *pc;
		}
		if (s != NULL) {
			sets[2] = (struct pset){s->plugins, s->n_plugins};
		}
		if ((rv = merge_sets(c, sets, 3, &r->plugins, &r->n_plugins)) != 0) {
			return rv;
		}
	}
	if (n_hosts == 0 && s != NULL) {
		hosts = s->hosts;
		n_hosts = s->n_hosts;
	}
	if (c->oom) {
		return GW_ENOMEM;
	}
	if ((c->cfg->n_routes & (c->cfg->n_routes - 1)) == 0) {
		size_t cap = c->cfg->n_routes ? c->cfg->n_routes * 2 : 1;
		void *p = realloc(c->cfg->routes, cap * sizeof *c->cfg->routes);
		if (p == NULL) {
			return GW_ENOMEM;
		}
		c->cfg->routes = p;
	}
	rv = gw_proxy__router_add(c->cfg, r, hosts, n_hosts, uris, n_uris);
	if (rv != 0) {
		return rv == GW_ENOMEM ? rv : fail(c, "%s", "uri prefix too long");
	}
	c->cfg->routes[c->cfg->n_routes++] = r;
	return 0;
}

/* ---- entry points */

/* Id of @kv if its key is @prefix<id> with a non-empty id without '/'. */
bool gw_proxy__c_key_id(const struct gw_proxy_kv *kv, const char *prefix, char *id, size_t cap)
{
	size_t pl = strlen(prefix), n;
	if (kv->key_len <= pl || memcmp(kv->key, prefix, pl) != 0) {
		return false;
	}
	n = kv->key_len - pl;
	if (n >= cap || memchr(kv->key + pl, '/', n) != NULL) {
		return false;
	}
	memcpy(id, kv->key + pl, n);
	id[n] = '\0';
	return true;
}

enum pass { PASS_UPSTREAMS, PASS_SERVICES, PASS_PLUGIN_CONFIGS, PASS_GLOBAL_RULES, PASS_ROUTES };

static int compile_pass(struct gw_proxy__compiler *c, const struct gw_proxy_kv *kvs, size_t n,
			enum pass pass)
{
	static const char *const prefixes[] = {"/apisix/upstreams/", "/apisix/services/",
					       "/apisix/plugin_configs/", "/apisix/global_rules/",
					       "/apisix/routes/"};
	static const char *const kinds[] = {"upstream", "service", "plugin_config", "global_rule",
					    "route"};
	size_t seq = 0;

	for (size_t i = 0; i < n; i++) {
		char id[256];
		cJSON *j;
		int rv;

		char key[300];
		if (!gw_proxy__c_key_id(&kvs[i], prefixes[pass], id, sizeof id)) {
			continue;
		}
		snprintf(key, sizeof key, "%s%s", prefixes[pass], id);
		c->obj = key;
		c->why = "invalid JSON";
		j = cJSON_ParseWithLength(kvs[i].value, kvs[i].value_len);
		if (j == NULL) {
			rv = GW_EINVAL;
		} else if (!(pass == PASS_ROUTES && route_disabled(j)) &&
			   (rv = gw_schema_check(kinds[pass], j, GW_SCHEMA_PROXY, c->whybuf,
						 sizeof c->whybuf)) != 0) {
			c->why = c->whybuf; /* the Admin API refuses it too */
		} else if (pass == PASS_UPSTREAMS) {
			struct gw_proxy__upstream *up = NULL;
			rv = compile_upstream(c, j, id, &up);
			if (rv == 0 &&
			    (register_upstream(c, up) != 0 ||
			     gw_proxy__map_put(&c->ups, up->id, strlen(up->id), up) != 0)) {
				rv = GW_ENOMEM;
			}
		} else if (pass == PASS_SERVICES) {
			struct svc *s = NULL;
			const char *sid = dup_cfg(c, id);
			rv = compile_service(c, j, &s);
			if (rv == 0 && (sid == NULL ||
					gw_proxy__map_put(&c->svcs, sid, strlen(sid), s) != 0)) {
				rv = GW_ENOMEM;
			}
		} else if (pass == PASS_PLUGIN_CONFIGS) {
			struct pset *ps = NULL;
			const char *pid = dup_cfg(c, id);
			rv = compile_pset(c, j, &ps);
			if (rv == 0 && (pid == NULL ||
					gw_proxy__map_put(&c->pcs, pid, strlen(pid), ps) != 0)) {
				rv = GW_ENOMEM;
			}
		} else if (pass == PASS_GLOBAL_RULES) {
			struct pset *ps = NULL;
			rv = compile_pset(c, j, &ps);
			if (rv == 0 && c->n_globals == c->cap_globals) {
				size_t cap = c->cap_globals ? c->cap_globals * 2 : 4;
				void *p = realloc(c->globals, cap * sizeof *c->globals);
				if (p == NULL) {
					rv = GW_ENOMEM;
				} else {
					c->globals = p;
					c->cap_globals = cap;
				}
			}
			if (rv == 0) {
				c->globals[c->n_globals++] = *ps;
			}
		} else {
			rv = compile_route(c, j, id, seq++);
			if (rv == 1) {
				rv = 0; /* status 0: not routed, not an error */
			}
		}
		cJSON_Delete(j);
		c->obj = NULL;
		if (rv == GW_ENOMEM || c->oom) {
			return GW_ENOMEM;
		}
		if (rv != 0) {
			gw_warnf("proxy", "%s %s skipped (revision %lld): %s", kinds[pass], id,
				 (long long)c->cfg->revision, c->why);
		}
	}
	return 0;
}

static void config_free(struct gw_proxy_config *cfg)
{
	struct gw_proxy__uri_router *u = cfg->router.routers;
	while (u != NULL) {
		struct gw_proxy__uri_router *next = u->next_alloc;
		struct gw_proxy__map *maps[2] = {&u->exact, &u->prefix};
		for (int k = 0; k < 2; k++) {
			for (size_t i = 0; i < maps[k]->cap; i++) {
				struct gw_proxy__rlist *l = maps[k]->ents[i].val;
				if (l != NULL) {
					free(l->v);
				}
			}
			gw_proxy__map_close(maps[k]);
		}
		free(u->prefix_lens);
		free(u);
		u = next;
	}
	gw_proxy__map_close(&cfg->router.hosts);
	gw_proxy__map_close(&cfg->router.wild);
	for (size_t i = 0; i < cfg->n_regexes; i++) {
		gw_regex_free(cfg->regexes[i]);
	}
	free(cfg->regexes);
	gw_proxy__consumers_free(cfg);
	free(cfg->ups);
	free(cfg->routes);
	gw_arena_close(&cfg->arena);
	free(cfg);
}

int gw_proxy_config_compile(const struct gw_proxy_kv *kvs, size_t n, int64_t revision,
			    struct gw_proxy_config **out)
{
	struct gw_proxy__compiler c;
	struct gw_proxy_config *cfg = calloc(1, sizeof *cfg);
	int rv = 0;

	if (cfg == NULL) {
		return GW_ENOMEM;
	}
	atomic_init(&cfg->refs, 1);
	cfg->revision = revision;
	gw_arena_init(&cfg->arena);
	gw_proxy__map_init(&cfg->router.hosts);
	gw_proxy__map_init(&cfg->router.wild);
	memset(&c, 0, sizeof c);
	c.cfg = cfg;
	gw_proxy__map_init(&c.ups);
	gw_proxy__map_init(&c.svcs);
	gw_proxy__map_init(&c.pcs);
	for (int pass = PASS_UPSTREAMS; pass <= PASS_ROUTES && rv == 0; pass++) {
		rv = compile_pass(&c, kvs, n, (enum pass)pass);
		if (rv == 0 && pass == PASS_GLOBAL_RULES) {
			/* every global rule's plugins, one instance per plugin */
			rv = merge_sets(&c, c.globals, c.n_globals, &cfg->global, &cfg->n_global);
		}
		if (rv == 0 && pass == PASS_GLOBAL_RULES) {
			rv = gw_proxy__consumers_compile(&c, cfg, kvs, n); /* plugin_consumer.c */
		}
	}
	free(c.globals);
	gw_proxy__map_close(&c.ups);
	gw_proxy__map_close(&c.svcs);
	gw_proxy__map_close(&c.pcs);
	if (rv != 0) {
		config_free(cfg);
		return rv;
	}
	*out = cfg;
	return 0;
}

int64_t gw_proxy_config_revision(const struct gw_proxy_config *cfg)
{
	return cfg->revision;
}

size_t gw_proxy_config_routes(const struct gw_proxy_config *cfg)
{
	return cfg->n_routes;
}

void gw_proxy_config_ref(struct gw_proxy_config *cfg)
{
	if (cfg != NULL) {
		atomic_fetch_add_explicit(&cfg->refs, 1, memory_order_relaxed);
	}
}

void gw_proxy_config_unref(struct gw_proxy_config *cfg)
{
	if (cfg != NULL && atomic_fetch_sub_explicit(&cfg->refs, 1, memory_order_acq_rel) == 1) {
		config_free(cfg);
	}
}
