/* plugin_real_ip.c: real-ip (priority 23000), as APISIX's.
 *
 * Happy path (rewrite phase): when the peer is one of trusted_addresses
 * (or none are configured), the client address is read from "source": a
 * variable (http_x_real_ip, arg_realip, ...) or http_x_forwarded_for, whose
 * last entry is taken — with recursive and trusted_addresses, the last
 * entry that is not trusted, walking from the right. "ip", "ip:port",
 * "[v6]:port" and bare IPv6 are understood. The address becomes the
 * request's remote_addr for every later plugin, the access log and the
 * metrics (r->ra, as --real-ip-from does for the whole node).
 * Failure modes: a missing or malformed address leaves remote_addr as it
 * was (logged at info). Threads: compile on the config thread, rewrite on
 * the worker. */
#include "config.h"

#include "lib/err.h"
#include "lib/log.h"
#include "proxy/ops_int.h"
#include "proxy/plugin_int.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct realip {
	struct gw_proxy__cidr *trusted;
	size_t n_trusted;
	const char *source;
	bool xff, recursive;
};

static int compile(struct gw_proxy__compiler *c, const cJSON *j, const void **out)
{
	struct realip *k = gw_proxy__c_alloc(c, sizeof *k);
	const cJSON *src = cJSON_GetObjectItemCaseSensitive(j, "source");
	const cJSON *tr = cJSON_GetObjectItemCaseSensitive(j, "trusted_addresses"), *it;

	if (k == NULL) {
		return GW_ENOMEM;
	}
	if (!cJSON_IsString(src) || (k->source = gw_proxy__c_strdup(c, src->valuestring)) == NULL) {
		return cJSON_IsString(src) ? GW_ENOMEM
					   : gw_proxy__c_fail(c, "%s", "real-ip: source");
	}
	k->xff = strcmp(k->source, "http_x_forwarded_for") == 0;
	k->recursive = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "recursive"));
	if (cJSON_IsArray(tr)) {
		k->trusted =
		    gw_proxy__c_alloc(c, ((size_t)cJSON_GetArraySize(tr) + 1) * sizeof *k->trusted);
		if (k->trusted == NULL) {
			return GW_ENOMEM;
		}
		cJSON_ArrayForEach(it, tr)
		{
			if (!cJSON_IsString(it) ||
			    gw_proxy__cidr_parse(it->valuestring, &k->trusted[k->n_trusted]) != 0) {
				return gw_proxy__c_fail(c, "%s", "real-ip: bad trusted address");
			}
			k->n_trusted++;
		}
	}
	*out = k;
	return 0;
}

/* Parse "ip", "ip:port", "[v6]:port", "v6" (@s, @n bytes) into @ra. */
static bool parse_addr(const char *s, size_t n, struct gw_proxy__raddr *ra)
{
	char host[48];
	long port = 0;
	const char *colon = memchr(s, ':', n);

	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) {
		n--;
	}
	if (n > 0 && s[0] == '[') {
		const char *rb = memchr(s, ']', n);
		if (rb == NULL || (size_t)(rb - s - 1) >= sizeof host) {
			return false;
		}
		snprintf(host, sizeof host, "%.*s", (int)(rb - s - 1), s + 1);
		if (rb + 1 < s + n) {
			char *end;
			if (rb[1] != ':') {
				return false;
			}
			port = strtol(rb + 2, &end, 10);
			if (end != s + n || port < 1 || port > 65535) {
				return false;
			}
		}
	} else if (colon != NULL && memchr(colon + 1, ':', (size_t)(s + n - colon - 1)) == NULL) {
		char pb[8], *end;
		size_t pl = (size_t)(s + n - colon - 1);
		if ((size_t)(colon - s) >= sizeof host || pl == 0 || pl >= sizeof pb) {
			return false;
		}
		snprintf(host, sizeof host, "%.*s", (int)(colon - s), s);
		snprintf(pb, sizeof pb, "%.*s", (int)pl, colon + 1);
		port = strtol(pb, &end, 10);
		if (*end != '\0' || port < 1 || port > 65535) {
			return false;
		}
	} else {
		if (n >= sizeof host) {
			return false;
		}
		snprintf(host, sizeof host, "%.*s", (int)n, s);
	}
	memset(&ra->ss, 0, sizeof ra->ss);
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)&ra->ss)->sin_addr) == 1) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ra->ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
	} else if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)&ra->ss)->sin6_addr) == 1) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ra->ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
	} else {
		return false;
	}
	snprintf(ra->ip, sizeof ra->ip, "%s", host);
	return true;
}

static bool trusted(const struct realip *k, const struct sockaddr *sa)
{
	for (size_t i = 0; i < k->n_trusted; i++) {
		if (gw_proxy__cidr_match(&k->trusted[i], sa)) {
			return true;
		}
	}
	return false;
}

/* The entry of X-Forwarded-For @v to take (APISIX's get_addr): the last,
 * or with recursive the last untrusted from the right (the first when all
 * are). *@n gets its length. */
static const char *xff_entry(const struct realip *k, const char *v, size_t *n)
{
	const char *end = v + strlen(v);

	for (;;) {
		const char *p = end;
		struct gw_proxy__raddr ra;

		while (p > v && p[-1] != ',') {
			p--;
		}
		const char *s = p;
		while (s < end && (*s == ' ' || *s == '\t')) {
			s++;
		}
		*n = (size_t)(end - s);
		if (!(k->recursive && k->n_trusted > 0) || p == v || !parse_addr(s, *n, &ra) ||
		    !trusted(k, (const struct sockaddr *)&ra.ss)) {
			return s;
		}
		end = p - 1; /* the entry before the comma */
	}
}

static int rewrite(struct gw_proxy__req *r, const void *conf)
{
	const struct realip *k = conf;
	struct gw_proxy__match_ctx m;
	struct gw_proxy__raddr *ra;
	char buf[1024];
	const char *v = NULL;
	size_t n = 0;

	gw_proxy__req_match_ctx(r, &m);
	if (k->n_trusted > 0 && !trusted(k, m.peer)) {
		return 0;
	}
	if (k->xff) {
		/* the last X-Forwarded-For header when there are several */
		for (size_t i = 0; i < r->hc.n; i++) {
			if (strcasecmp(r->hc.v[i].name, "X-Forwarded-For") == 0) {
				v = r->hc.v[i].value;
			}
		}
		if (v != NULL) {
			v = xff_entry(k, v, &n);
		}
	} else if (!gw_proxy__plugin_var(r, k->source, buf, sizeof buf, &v, &n)) {
		v = NULL;
	}
	if (v == NULL) {
		return 0;
	}
	ra = gw_arena_alloc(&r->arena, sizeof *ra);
	if (ra == NULL || !parse_addr(v, n, ra)) {
		gw_infof("proxy", "real-ip: bad address %.*s", (int)(n > 64 ? 64 : n), v);
		return 0;
	}
	r->ra = ra;
	return 0;
}

const struct gw_proxy__plugin gw_proxy__plugin_real_ip = {
    .name = "real-ip",
    .priority = 23000,
    .compile = compile,
    .rewrite = rewrite,
};
