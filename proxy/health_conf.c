/* health_conf.c: compile an upstream's `checks` object.
 *
 * Happy path: the schema (schema/tables.c, health_checker) has already
 * checked the types; this fills APISIX's defaults in (active: http, timeout
 * 1 s, concurrency 10, path "/", intervals 1 s, healthy 200/302 x 2,
 * unhealthy 429/404/500-505, 5 http failures, 2 tcp failures, 3 timeouts;
 * passive: healthy 200-208/226/300-308 x 5, unhealthy 429/500/503, 5 http
 * failures, 2 tcp failures, 7 timeouts) and stores the result in the
 * snapshot's arena with the upstream's identity (the key of the object that
 * holds it) and a fingerprint of the checks object, which tells the checker
 * whether settings changed. Failure modes: a value out of range is refused
 * with a reason (the upstream is skipped, as any bad object). Pure: any
 * thread. */
#include "config.h"

#include "lib/err.h"
#include "proxy/health_int.h"
#include "schema/schema.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REQ_HEADERS_MAX 8192 /* bytes of req_headers lines */

static void set_status(uint8_t *bits, int status)
{
	if (status >= GW_PROXY__HSTATUS_MIN &&
	    status < GW_PROXY__HSTATUS_MIN + GW_PROXY__HSTATUS_N) {
		int k = status - GW_PROXY__HSTATUS_MIN;
		bits[k / 8] |= (uint8_t)(1u << (k % 8));
	}
}

bool gw_proxy__hstatus_in(const uint8_t *bits, int status)
{
	int k = status - GW_PROXY__HSTATUS_MIN;
	return k >= 0 && k < GW_PROXY__HSTATUS_N && (bits[k / 8] & (1u << (k % 8))) != 0;
}

/* True if @s holds a control character (or a space when @space): what
 * the schema's [:cntrl:] / [:space:] refuse. */
static bool has_ctl(const char *s, bool space)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f || (space && *p == ' ')) {
			return true;
		}
	}
	return false;
}

static void set_list(uint8_t *bits, const int *v, size_t n)
{
	memset(bits, 0, GW_PROXY__HSTATUS_N / 8);
	for (size_t i = 0; i < n; i++) {
		set_status(bits, v[i]);
	}
}

void gw_proxy__hconf_defaults(struct gw_proxy__hconf *c)
{
	static const int a_good[] = {200, 302};
	static const int a_bad[] = {429, 404, 500, 501, 502, 503, 504, 505};
	static const int p_good[] = {200, 201, 202, 203, 204, 205, 206, 207, 208, 226,
				     300, 301, 302, 303, 304, 305, 306, 307, 308};
	static const int p_bad[] = {429, 500, 503};
	struct gw_proxy__hactive *a = &c->active;

	memset(c, 0, sizeof *c);
	a->type = GW_PROXY__HT_HTTP;
	a->timeout_ms = 1000;
	a->concurrency = 10;
	a->verify = true;
	a->healthy_interval_ms = 1000;
	a->unhealthy_interval_ms = 1000;
	set_list(a->th.good, a_good, sizeof a_good / sizeof *a_good);
	set_list(a->th.bad, a_bad, sizeof a_bad / sizeof *a_bad);
	a->th.successes = 2;
	a->th.http_failures = 5;
	a->th.tcp_failures = 2;
	a->th.timeouts = 3;
	c->passive_type = GW_PROXY__HT_HTTP;
	set_list(c->passive.good, p_good, sizeof p_good / sizeof *p_good);
	set_list(c->passive.bad, p_bad, sizeof p_bad / sizeof *p_bad);
	c->passive.successes = 5;
	c->passive.http_failures = 5;
	c->passive.tcp_failures = 2;
	c->passive.timeouts = 7;
}

/* Integer field @name of @obj into *out when present, within [lo, hi].
 * 0 or GW_EINVAL. */
static int get_int(const cJSON *obj, const char *name, long lo, long hi, unsigned *out,
		   const char **why)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
	if (v == NULL) {
		return 0;
	}
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < (double)lo ||
	    v->valuedouble > (double)hi || v->valuedouble != floor(v->valuedouble)) {
		*why = "checks: a counter, interval, port or concurrency is out of range";
		return GW_EINVAL;
	}
	*out = (unsigned)v->valuedouble;
	return 0;
}

static int get_statuses(const cJSON *obj, uint8_t *bits, const char **why)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "http_statuses"), *it;
	if (v == NULL) {
		return 0;
	}
	if (!cJSON_IsArray(v)) {
		*why = "checks: http_statuses must be an array";
		return GW_EINVAL;
	}
	memset(bits, 0, GW_PROXY__HSTATUS_N / 8);
	cJSON_ArrayForEach(it, v)
	{
		if (!cJSON_IsNumber(it) || it->valuedouble < 200 || it->valuedouble > 599) {
			*why = "checks: http_statuses must be integers 200..599";
			return GW_EINVAL;
		}
		set_status(bits, (int)it->valuedouble);
	}
	return 0;
}

static int get_type(const cJSON *obj, enum gw_proxy__htype *out, const char **why)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "type");
	if (v == NULL) {
		return 0;
	}
	if (cJSON_IsString(v) && strcmp(v->valuestring, "http") == 0) {
		*out = GW_PROXY__HT_HTTP;
	} else if (cJSON_IsString(v) && strcmp(v->valuestring, "https") == 0) {
		*out = GW_PROXY__HT_HTTPS;
	} else if (cJSON_IsString(v) && strcmp(v->valuestring, "tcp") == 0) {
		*out = GW_PROXY__HT_TCP;
	} else {
		*why = "checks: type must be http, https or tcp";
		return GW_EINVAL;
	}
	return 0;
}

/* healthy / unhealthy objects of one side into @th. */
static int get_thresholds(const cJSON *side, struct gw_proxy__hthresh *th, unsigned *hi_ms,
			  unsigned *un_ms, const char **why)
{
	const cJSON *h = cJSON_GetObjectItemCaseSensitive(side, "healthy");
	const cJSON *u = cJSON_GetObjectItemCaseSensitive(side, "unhealthy");
	unsigned iv;
	int rv = 0;

	if ((h != NULL && !cJSON_IsObject(h)) || (u != NULL && !cJSON_IsObject(u))) {
		*why = "checks: healthy and unhealthy must be objects";
		return GW_EINVAL;
	}
	if (h != NULL) {
		rv = get_statuses(h, th->good, why);
		rv = rv ? rv : get_int(h, "successes", 0, 254, &th->successes, why);
		if (rv == 0 && hi_ms != NULL) {
			iv = *hi_ms / 1000;
			rv = get_int(h, "interval", 1, GW_SCHEMA_SECONDS_MAX, &iv, why);
			*hi_ms = iv * 1000;
		}
	}
	if (rv == 0 && u != NULL) {
		rv = get_statuses(u, th->bad, why);
		rv = rv ? rv : get_int(u, "http_failures", 0, 254, &th->http_failures, why);
		rv = rv ? rv : get_int(u, "tcp_failures", 0, 254, &th->tcp_failures, why);
		rv = rv ? rv : get_int(u, "timeouts", 0, 254, &th->timeouts, why);
		if (rv == 0 && un_ms != NULL) {
			iv = *un_ms / 1000;
			rv = get_int(u, "interval", 1, GW_SCHEMA_SECONDS_MAX, &iv, why);
			*un_ms = iv * 1000;
		}
	}
	return rv;
}

static int get_active(struct gw_arena *arena, const cJSON *a, struct gw_proxy__hactive *out,
		      const char **why)
{
	const cJSON *v;
	unsigned port = 0;
	int rv;

	if (!cJSON_IsObject(a)) {
		*why = "checks.active must be an object";
		return GW_EINVAL;
	}
	if ((rv = get_type(a, &out->type, why)) != 0 ||
	    (rv = get_int(a, "concurrency", 1, GW_SCHEMA_HC_CONC_MAX, &out->concurrency, why)) !=
		0 ||
	    (rv = get_int(a, "port", 1, 65535, &port, why)) != 0) {
		return rv;
	}
	out->port = (int)port;
	v = cJSON_GetObjectItemCaseSensitive(a, "timeout");
	if (v != NULL) {
		if (!cJSON_IsNumber(v) || !(v->valuedouble > 0) ||
		    v->valuedouble > GW_SCHEMA_SECONDS_MAX) {
			*why = "checks.active.timeout must be a number of seconds > 0";
			return GW_EINVAL;
		}
		out->timeout_ms = (unsigned)(v->valuedouble * 1000);
		out->timeout_ms = out->timeout_ms ? out->timeout_ms : 1;
	}
	v = cJSON_GetObjectItemCaseSensitive(a, "https_verify_certificate");
	if (v != NULL) {
		out->verify = cJSON_IsTrue(v);
	}
	v = cJSON_GetObjectItemCaseSensitive(a, "host");
	if (v != NULL) {
		if (!cJSON_IsString(v) || v->valuestring[0] == '\0' ||
		    strcspn(v->valuestring, "\r\n ") != strlen(v->valuestring)) {
			*why = "checks.active.host must be a host name";
			return GW_EINVAL;
		}
		out->host = gw_arena_strndup(arena, v->valuestring, strlen(v->valuestring));
	}
	v = cJSON_GetObjectItemCaseSensitive(a, "http_path");
	if (v != NULL &&
	    (!cJSON_IsString(v) || v->valuestring[0] == '\0' || has_ctl(v->valuestring, true))) {
		*why = "checks.active.http_path must be a path without spaces";
		return GW_EINVAL;
	}
	out->http_path =
	    gw_arena_strndup(arena, v ? v->valuestring : "/", strlen(v ? v->valuestring : "/"));
	v = cJSON_GetObjectItemCaseSensitive(a, "req_headers");
	{
		char buf[REQ_HEADERS_MAX];
		size_t n = 0;
		const cJSON *it;
		buf[0] = '\0';
		if (v != NULL && !cJSON_IsArray(v)) {
			*why = "checks.active.req_headers must be an array of strings";
			return GW_EINVAL;
		}
		cJSON_ArrayForEach(it, v)
		{
			size_t len;
			if (!cJSON_IsString(it) || it->valuestring[0] == ':' ||
			    strchr(it->valuestring, ':') == NULL ||
			    has_ctl(it->valuestring, false)) {
				*why = "checks.active.req_headers: each must be \"Name: value\"";
				return GW_EINVAL;
			}
			len = strlen(it->valuestring);
			if (n + len + 3 > sizeof buf) {
				*why = "checks.active.req_headers are too long";
				return GW_EINVAL;
			}
			memcpy(buf + n, it->valuestring, len);
			memcpy(buf + n + len, "\r\n", 3);
			n += len + 2;
		}
		out->req_headers = gw_arena_strndup(arena, buf, n);
	}
	if (out->http_path == NULL || out->req_headers == NULL ||
	    (cJSON_GetObjectItemCaseSensitive(a, "host") != NULL && out->host == NULL)) {
		return GW_ENOMEM;
	}
	return get_thresholds(a, &out->th, &out->healthy_interval_ms, &out->unhealthy_interval_ms,
			      why);
}

int gw_proxy__health_compile(struct gw_arena *arena, const cJSON *checks, const char *prefix,
			     const char *id, struct gw_proxy__upstream *up, const char **why)
{
	struct gw_proxy__hcheck *hc;
	const cJSON *a, *p;
	char *text;
	size_t kl;
	int rv;

	if (checks == NULL) {
		return 0;
	}
	if (!cJSON_IsObject(checks)) {
		*why = "checks must be an object";
		return GW_EINVAL;
	}
	a = cJSON_GetObjectItemCaseSensitive(checks, "active");
	p = cJSON_GetObjectItemCaseSensitive(checks, "passive");
	if (a == NULL && p == NULL) {
		return 0;
	}
	hc = gw_arena_alloc(arena, sizeof *hc);
	if (hc == NULL) {
		return GW_ENOMEM;
	}
	gw_proxy__hconf_defaults(&hc->conf);
	if (a != NULL) {
		hc->conf.has_active = true;
		if ((rv = get_active(arena, a, &hc->conf.active, why)) != 0) {
			return rv;
		}
	}
	if (p != NULL) {
		if (!cJSON_IsObject(p)) {
			*why = "checks.passive must be an object";
			return GW_EINVAL;
		}
		hc->conf.has_passive = true;
		if ((rv = get_type(p, &hc->conf.passive_type, why)) != 0 ||
		    (rv = get_thresholds(p, &hc->conf.passive, NULL, NULL, why)) != 0) {
			return rv;
		}
	}
	kl = strlen(prefix) + strlen(id);
	hc->key = gw_arena_take(arena, kl + 1);
	hc->refs = gw_arena_alloc(arena, (up->n_nodes ? up->n_nodes : 1) * sizeof *hc->refs);
	text = cJSON_PrintUnformatted(checks);
	if (hc->key == NULL || hc->refs == NULL || text == NULL) {
		free(text);
		return GW_ENOMEM;
	}
	snprintf(hc->key, kl + 1, "%s%s", prefix, id);
	hc->fp = gw_proxy__hash(text, strlen(text));
	free(text);
	up->hc = hc;
	return 0;
}
