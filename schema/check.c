/* check.c: the checks beyond JSON Schema that the proxy needs, and the one
 * entry point the Admin API and the proxy share.
 *
 * Happy path: gw_schema_check runs the schema walk, APISIX's upstream rules,
 * the node addresses (numeric IPs and ports, parsed by the same functions
 * the compiler uses) and the plugins, and returns the first reason.
 * gw_schema_check_expr mirrors what the proxy's compiler accepts in a
 * "vars" expression (lua-resty-expr's syntax: [var, op, value],
 * [var, "!", op, value], AND/OR/!AND/!OR lists, nesting at most 16).
 * Failure modes: GW_EINVAL with the reason; GW_ENOMEM from the walk. */
#include "config.h"

#include "lib/err.h"
#include "lib/regex.h"
#include "schema/schema_int.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define EXPR_MAX_DEPTH 16

/* ---- node addresses --------------------------------------------------- */

int gw_schema_node_key(const char *key, char *host, size_t cap, long *port)
{
	const char *colon = strrchr(key, ':');
	const char *rb = strchr(key, ']');
	size_t hl = strlen(key);
	char *end;

	*port = 80;
	if (colon != NULL && (key[0] != '[' || (rb != NULL && colon > rb))) {
		*port = strtol(colon + 1, &end, 10);
		if (*end != '\0' || colon[1] == '\0') {
			return GW_EINVAL;
		}
		hl = (size_t)(colon - key);
	}
	if (hl >= cap) {
		return GW_EINVAL;
	}
	memcpy(host, key, hl);
	host[hl] = '\0';
	return 0;
}

int gw_schema_node_ip(const char *host, char *ip, size_t cap, void *addr)
{
	size_t hl = strlen(host);

	if (hl >= cap) {
		return GW_EINVAL;
	}
	/* "[::1]" as found in "host:port" keys */
	if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
		memcpy(ip, host + 1, hl - 2);
		ip[hl - 2] = '\0';
	} else {
		memcpy(ip, host, hl + 1);
	}
	if (strchr(ip, ':') != NULL) {
		return inet_pton(AF_INET6, ip, addr) == 1 ? AF_INET6 : GW_EINVAL;
	}
	return inet_pton(AF_INET, ip, addr) == 1 ? AF_INET : GW_EINVAL;
}

bool gw_schema_node_name(const char *host)
{
	size_t len = strlen(host), label = 0;
	bool alpha = false;

	if (len == 0 || len > 253 || host[0] == '.' || host[0] == '-') {
		return false;
	}
	for (const char *p = host; *p != '\0'; p++) {
		char ch = *p;
		if (ch == '.') {
			if (label == 0 || p[-1] == '-') {
				return false;
			}
			label = 0;
			continue;
		}
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_') ||
		    ++label > 63) {
			return false;
		}
		alpha = alpha || !(ch >= '0' && ch <= '9');
	}
	return alpha; /* "1.2.3" is a bad address, not a name */
}

/* One node: @port in range, @host a numeric address or a host name. */
static int check_node(const char *host, long port, char *err, size_t n)
{
	unsigned char addr[16];
	char ip[GW_SCHEMA_HOST_MAX];

	if (port < GW_SCHEMA_PORT_MIN || port > GW_SCHEMA_PORT_MAX) {
		snprintf(err, n, "invalid upstream node %.64s: port must be %d..%d", host,
			 GW_SCHEMA_PORT_MIN, GW_SCHEMA_PORT_MAX);
		return GW_EINVAL;
	}
	if (gw_schema_node_ip(host, ip, sizeof(ip), addr) < 0 && !gw_schema_node_name(host)) {
		snprintf(err, n, "invalid upstream node %.64s: not an IP address or a host name",
			 host);
		return GW_EINVAL;
	}
	return 0;
}

int gw_schema_check_nodes(const cJSON *up, char *err, size_t errlen)
{
	const cJSON *nodes = cJSON_GetObjectItemCaseSensitive(up, "nodes");
	const cJSON *it, *h, *p;
	char host[GW_SCHEMA_HOST_MAX];
	long port;

	if (up == NULL) {
		return 0;
	}
	if (cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(up, "tls"),
					     "client_cert") != NULL) {
		snprintf(err, errlen,
			 "tls.client_cert is not supported yet: put the certificate "
			 "in an ssls object of type client and use tls.client_cert_id");
		return GW_EINVAL;
	}
	if (nodes == NULL) {
		snprintf(err, errlen,
			 "service discovery is not supported yet: the upstream needs "
			 "\"nodes\"");
		return GW_EINVAL;
	}
	cJSON_ArrayForEach(it, nodes)
	{
		if (cJSON_IsObject(nodes)) {
			if (gw_schema_node_key(it->string, host, sizeof(host), &port) != 0) {
				snprintf(err, errlen, "invalid upstream node %.64s: bad host:port",
					 it->string);
				return GW_EINVAL;
			}
			if (check_node(host, port, err, errlen) != 0) {
				return GW_EINVAL;
			}
			continue;
		}
		h = cJSON_GetObjectItemCaseSensitive(it, "host");
		p = cJSON_GetObjectItemCaseSensitive(it, "port");
		port = 80;
		if (cJSON_IsNumber(p)) {
			/* converted only when in range: a double beyond long is UB
			 * (an object whose schema does not bound "upstream", e.g.
			 * plugin_metadata, reaches here unvalidated) */
			port = p->valuedouble >= GW_SCHEMA_PORT_MIN &&
				       p->valuedouble <= GW_SCHEMA_PORT_MAX
				   ? (long)p->valuedouble
				   : -1;
		}
		if (cJSON_IsString(h) && check_node(h->valuestring, port, err, errlen) != 0) {
			return GW_EINVAL;
		}
	}
	return 0;
}

/* ---- vars expressions ------------------------------------------------- */

__attribute__((format(printf, 3, 4))) static int expr_fail(char *e, size_t n, const char *fmt, ...)
{
	static const char pre[] = "failed to validate the 'vars' expression: ";
	va_list ap;

	snprintf(e, n, "%s", pre);
	if (n > sizeof(pre)) {
		va_start(ap, fmt);
		vsnprintf(e + sizeof(pre) - 1, n - sizeof(pre) + 1, fmt, ap);
		va_end(ap);
	}
	return GW_EINVAL;
}

static bool is_scalar(const cJSON *v)
{
	return cJSON_IsString(v) || cJSON_IsNumber(v) || cJSON_IsBool(v);
}

/* Every item of @v (an array) a scalar, or @v itself when @one_ok. */
static bool scalars(const cJSON *v, bool one_ok)
{
	const cJSON *it;

	if (!cJSON_IsArray(v)) {
		return one_ok && is_scalar(v);
	}
	cJSON_ArrayForEach(it, v)
	{
		if (!is_scalar(it)) {
			return false;
		}
	}
	return true;
}

static bool cidrs(const cJSON *v)
{
	const cJSON *it;

	if (cJSON_IsString(v)) {
		return gw_schema__ip_or_cidr(v->valuestring);
	}
	if (!cJSON_IsArray(v)) {
		return false;
	}
	cJSON_ArrayForEach(it, v)
	{
		if (!cJSON_IsString(it) || !gw_schema__ip_or_cidr(it->valuestring)) {
			return false;
		}
	}
	return true;
}

/* [var, op, value] or [var, "!", op, value]. */
static int check_cmp(const cJSON *arr, char *e, size_t n)
{
	int size = cJSON_GetArraySize(arr), k = 1, op;
	const cJSON *o = cJSON_GetArrayItem(arr, k), *val;
	struct gw_regex *re;
	char why[200];
	char *end;

	if (cJSON_IsString(o) && strcmp(o->valuestring, "!") == 0) {
		o = cJSON_GetArrayItem(arr, ++k);
	}
	if (size != k + 2 || !cJSON_IsString(o)) {
		return expr_fail(e, n, "expected [var, op, value] or [var, \"!\", op, value]");
	}
	op = gw_schema_enum_find(&gw_schema_vars_op, o->valuestring);
	if (op < 0) {
		return expr_fail(e, n, "invalid operator '%.32s'", o->valuestring);
	}
	val = cJSON_GetArrayItem(arr, k + 1);
	switch ((enum gw_schema_vars_op)op) {
	case GW_SCHEMA_VARS_OP_EQ:
	case GW_SCHEMA_VARS_OP_NE:
		return is_scalar(val) ? 0
				      : expr_fail(e, n, "%s needs a scalar value", o->valuestring);
	case GW_SCHEMA_VARS_OP_GT:
	case GW_SCHEMA_VARS_OP_GE:
	case GW_SCHEMA_VARS_OP_LT:
	case GW_SCHEMA_VARS_OP_LE:
		if (cJSON_IsNumber(val) || (cJSON_IsString(val) && val->valuestring[0] != '\0' &&
					    (strtod(val->valuestring, &end), *end == '\0'))) {
			return 0;
		}
		return expr_fail(e, n, "%s needs a number", o->valuestring);
	case GW_SCHEMA_VARS_OP_RE:
	case GW_SCHEMA_VARS_OP_REI:
		if (!cJSON_IsString(val)) {
			return expr_fail(e, n, "%s needs a regular expression", o->valuestring);
		}
		switch (gw_regex_compile(val->valuestring,
					 op == GW_SCHEMA_VARS_OP_REI ? GW_REGEX_CASELESS : 0, &re,
					 why, sizeof why)) {
		case 0:
			gw_regex_free(re);
			return 0;
		case GW_EINVAL:
			return expr_fail(e, n, "%s: %s", o->valuestring, why);
		default:
			return GW_ENOMEM;
		}
	case GW_SCHEMA_VARS_OP_IN:
	case GW_SCHEMA_VARS_OP_HAS:
		if (scalars(val, op == GW_SCHEMA_VARS_OP_HAS)) {
			return 0;
		}
		return expr_fail(e, n, "%s needs %s", o->valuestring,
				 op == GW_SCHEMA_VARS_OP_IN ? "an array of scalars"
							    : "a scalar or an array of scalars");
	case GW_SCHEMA_VARS_OP_IPMATCH:
		return cidrs(val) ? 0 : expr_fail(e, n, "ipmatch needs IP addresses or CIDRs");
	}
	return expr_fail(e, n, "invalid operator '%.32s'", o->valuestring);
}

static int check_expr(const cJSON *arr, int depth, char *e, size_t n)
{
	const cJSON *first = cJSON_GetArrayItem(arr, 0), *it;
	int start = 0, i = 0;

	if (!cJSON_IsArray(arr) || depth > EXPR_MAX_DEPTH) {
		return expr_fail(e, n, "expected an array (nesting at most %d)", EXPR_MAX_DEPTH);
	}
	if (cJSON_IsString(first)) {
		const char *s = first->valuestring;

		if (!cJSON_IsArray(cJSON_GetArrayItem(arr, 1)) ||
		    (strcasecmp(s, "AND") != 0 && strcasecmp(s, "!AND") != 0 &&
		     strcasecmp(s, "OR") != 0 && strcasecmp(s, "!OR") != 0)) {
			return check_cmp(arr, e, n);
		}
		start = 1;
	}
	cJSON_ArrayForEach(it, arr)
	{
		if (i++ >= start && check_expr(it, depth + 1, e, n) != 0) {
			return GW_EINVAL;
		}
	}
	return 0;
}

int gw_schema_check_expr(const cJSON *vars, char *err, size_t errlen)
{
	return check_expr(vars, 0, err, errlen);
}

/* ---- one object ------------------------------------------------------- */

int gw_schema_check(const char *schema, const cJSON *v, unsigned flags, char *err, size_t errlen)
{
	char buf[1024];
	const cJSON *up;
	int rv;

	if (gw_schema__validate(schema, v, flags, buf, sizeof(buf)) != 0) {
		snprintf(err, errlen, "invalid configuration: %.*s",
			 (int)(errlen > 24 ? errlen - 24 : 0), buf);
		return GW_EINVAL;
	}
	if (strcmp(schema, "ssl") == 0) {
		return gw_schema__check_ssl(v, flags, err, errlen);
	}
	up = strcmp(schema, "upstream") == 0 ? v : cJSON_GetObjectItemCaseSensitive(v, "upstream");
	if ((rv = gw_schema_check_upstream(up, err, errlen)) != 0 ||
	    (rv = gw_schema_check_nodes(up, err, errlen)) != 0) {
		return rv;
	}
	if (strcmp(schema, "consumer") == 0) {
		flags |= GW_SCHEMA__CONSUMER;
	} else if (strcmp(schema, "credential") == 0) {
		flags |= GW_SCHEMA__CONSUMER | GW_SCHEMA__CREDENTIAL;
	}
	return gw_schema__check_plugins(cJSON_GetObjectItemCaseSensitive(v, "plugins"), flags, err,
					errlen);
}
