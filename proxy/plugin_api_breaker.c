/* plugin_api_breaker.c: api-breaker (priority 1005), APISIX's circuit
 * breaker, per route and node.
 *
 * Happy path. The log hook reads the upstream status of each request: one
 * of unhealthy.http_statuses counts a failure (and clears the successes);
 * every unhealthy.failures-th failure opens the breaker at that second. While
 * open, the access hook answers break_response_code (with
 * break_response_body and break_response_headers, whose values may hold
 * $vars) without going upstream; the breaker stays open 2^n seconds, n being
 * ceil(failures / unhealthy.failures) — 2, 4, 8, ... — at most
 * max_breaker_sec. Once it has opened, healthy.successes answers in
 * healthy.http_statuses close it and forget the failures. The state lives
 * in a static table shared by every worker (a few relaxed atomics per
 * request, no lock): a slot per (plugin instance, route), found by hash
 * among PROBES slots; a recompile that leaves the configuration alone keeps
 * the state.
 * Failure modes: a table whose probes are all taken hands over the slot
 * with the fewest failures (its breaker starts again closed). A request
 * the proxy answered itself without an upstream (no node tried) is not
 * counted. Threads: compile on the config thread, access and log on any
 * worker. */
#include "config.h"

#include "lib/err.h"
#include "proxy/plugin_int.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS  4096u
#define PROBES 8

struct bslot {
	_Atomic uint64_t key;      /* 0: free */
	atomic_uint unhealthy;     /* failures counted */
	atomic_uint healthy;       /* successes since the last failure */
	_Atomic uint64_t lasttime; /* second the breaker last opened, 0: never */
};

static struct bslot tab[SLOTS];

struct hdr {
	const char *key, *value;
};

struct breaker {
	uint64_t ident;
	int code;
	const char *body; /* NULL: the status page */
	struct hdr *hdrs;
	size_t n_hdrs;
	unsigned max_sec;
	int bad[100], good[300]; /* statuses (500-599, 200-499) */
	size_t n_bad, n_good;
	unsigned failures, successes;
};

/* Seconds on a clock shared by the workers (never 0). */
static uint64_t now_s(void)
{
	return uv_hrtime() / 1000000000u + 1;
}

static int statuses(struct gw_proxy__compiler *c, const cJSON *obj, int lo, int hi, int *out,
		    size_t cap, size_t *n, int def)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(obj, "http_statuses"), *it;
	*n = 0;
	if (arr == NULL) {
		out[(*n)++] = def;
		return 0;
	}
	cJSON_ArrayForEach(it, arr)
	{
		if (!cJSON_IsNumber(it) || it->valuedouble < lo || it->valuedouble > hi ||
		    *n == cap) {
			return gw_proxy__c_fail(c, "api-breaker: http_statuses must be in %d..%d",
						lo, hi);
		}
		out[(*n)++] = (int)it->valuedouble;
	}
	return 0;
}

static unsigned count_field(const cJSON *obj, const char *name, unsigned def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
	return cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble < 1e9
		   ? (unsigned)v->valuedouble
		   : def;
}

static int compile(struct gw_proxy__compiler *c, const cJSON *j, const void **out)
{
	struct breaker *b = gw_proxy__c_alloc(c, sizeof *b);
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(j, "break_response_code");
	const cJSON *body = cJSON_GetObjectItemCaseSensitive(j, "break_response_body");
	const cJSON *hdrs = cJSON_GetObjectItemCaseSensitive(j, "break_response_headers");
	const cJSON *max = cJSON_GetObjectItemCaseSensitive(j, "max_breaker_sec");
	const cJSON *un = cJSON_GetObjectItemCaseSensitive(j, "unhealthy");
	const cJSON *he = cJSON_GetObjectItemCaseSensitive(j, "healthy"), *it;
	int rv;

	if (b == NULL) {
		return GW_ENOMEM;
	}
	if (!cJSON_IsNumber(code) || code->valuedouble < 200 || code->valuedouble > 599) {
		return gw_proxy__c_fail(c, "%s", "api-breaker: break_response_code 200..599");
	}
	b->code = (int)code->valuedouble;
	b->max_sec = cJSON_IsNumber(max) && max->valuedouble >= 3 && max->valuedouble < 1e9
			 ? (unsigned)max->valuedouble
			 : 300;
	if (cJSON_IsString(body) && (b->body = gw_proxy__c_strdup(c, body->valuestring)) == NULL) {
		return GW_ENOMEM;
	}
	if (cJSON_IsArray(hdrs) && cJSON_GetArraySize(hdrs) > 0) {
		b->hdrs = gw_proxy__c_alloc(c, (size_t)cJSON_GetArraySize(hdrs) * sizeof *b->hdrs);
		if (b->hdrs == NULL) {
			return GW_ENOMEM;
		}
		cJSON_ArrayForEach(it, hdrs)
		{
			const cJSON *k = cJSON_GetObjectItemCaseSensitive(it, "key");
			const cJSON *v = cJSON_GetObjectItemCaseSensitive(it, "value");
			struct hdr *h = &b->hdrs[b->n_hdrs++];
			if (!cJSON_IsString(k) || !cJSON_IsString(v)) {
				return gw_proxy__c_fail(
				    c, "%s",
				    "api-breaker: break_response_headers hold {key, value}");
			}
			h->key = gw_proxy__c_strdup(c, k->valuestring);
			h->value = gw_proxy__c_strdup(c, v->valuestring);
			if (h->key == NULL || h->value == NULL) {
				return GW_ENOMEM;
			}
		}
	}
	if ((rv = statuses(c, un, 500, 599, b->bad, 100, &b->n_bad, 500)) != 0 ||
	    (rv = statuses(c, he, 200, 499, b->good, 300, &b->n_good, 200)) != 0) {
		return rv;
	}
	b->failures = count_field(un, "failures", 3);
	b->successes = count_field(he, "successes", 3);
	b->ident = gw_proxy__limit_ident(c, j, NULL);
	if (b->ident == 0) {
		return GW_ENOMEM;
	}
	*out = b;
	return 0;
}

/* The slot of @b on @r's route, claimed when @claim (else NULL if none). */
static struct bslot *slot_of(const struct breaker *b, const struct gw_proxy__req *r, bool claim)
{
	const char *rid = r->route->id != NULL ? r->route->id : "";
	uint64_t k = gw_proxy__limit_hash(b->ident, rid, strlen(rid)) | 1;
	struct bslot *victim = NULL;

	for (unsigned i = 0; i < PROBES; i++) {
		struct bslot *s = &tab[(k + i) & (SLOTS - 1)];
		uint64_t cur = atomic_load_explicit(&s->key, memory_order_acquire);
		if (cur == k) {
			return s;
		}
		if (cur == 0) {
			if (!claim) {
				return NULL;
			}
			if (atomic_compare_exchange_strong(&s->key, &cur, k)) {
				return s;
			}
			if (cur == k) {
				return s;
			}
		}
		if (victim == NULL ||
		    atomic_load_explicit(&s->unhealthy, memory_order_relaxed) <
			atomic_load_explicit(&victim->unhealthy, memory_order_relaxed)) {
			victim = s;
		}
	}
	if (!claim || victim == NULL) {
		return NULL;
	}
	atomic_store(&victim->unhealthy, 0);
	atomic_store(&victim->healthy, 0);
	atomic_store(&victim->lasttime, 0);
	atomic_store_explicit(&victim->key, k, memory_order_release);
	return victim;
}

static int access_hook(struct gw_proxy__req *r, const void *conf)
{
	const struct breaker *b = conf;
	struct bslot *s = slot_of(b, r, false);
	unsigned unhealthy, times;
	uint64_t last, now = now_s(), brk;

	if (s == NULL) {
		return 0;
	}
	unhealthy = atomic_load_explicit(&s->unhealthy, memory_order_relaxed);
	last = atomic_load_explicit(&s->lasttime, memory_order_relaxed);
	if (unhealthy == 0 || last == 0) {
		return 0;
	}
	times = (unhealthy + b->failures - 1) / b->failures;
	brk = times >= 63 ? UINT64_MAX : (uint64_t)1 << (times < 1 ? 1 : times);
	if (brk > b->max_sec) {
		brk = b->max_sec;
	}
	if (last + brk < now) {
		return 0;
	}
	for (size_t i = 0; i < b->n_hdrs; i++) {
		int n;
		gw_proxy__plugin_resp_header(r, b->hdrs[i].key,
					     gw_proxy__plugin_interp(r, b->hdrs[i].value, &n));
	}
	return gw_proxy__plugin_respond(r, b->code, b->body);
}

static bool in(const int *v, size_t n, int x)
{
	for (size_t i = 0; i < n; i++) {
		if (v[i] == x) {
			return true;
		}
	}
	return false;
}

static void log_hook(struct gw_proxy__req *r, const void *conf)
{
	const struct breaker *b = conf;
	struct bslot *s;
	int st;

	if (r->up == NULL || r->node < 0) {
		return; /* no upstream was tried: no upstream status */
	}
	/* the upstream's status; 502 when none answered (nginx's) */
	st = r->rh.n > 0 || r->resp_started ? r->status : 502;
	if (in(b->bad, b->n_bad, st)) {
		unsigned n;
		if ((s = slot_of(b, r, true)) == NULL) {
			return;
		}
		n = atomic_fetch_add_explicit(&s->unhealthy, 1, memory_order_relaxed) + 1;
		atomic_store_explicit(&s->healthy, 0, memory_order_relaxed);
		if (n % b->failures == 0) {
			atomic_store_explicit(&s->lasttime, now_s(), memory_order_relaxed);
		}
		return;
	}
	if (!in(b->good, b->n_good, st) || (s = slot_of(b, r, false)) == NULL ||
	    atomic_load_explicit(&s->unhealthy, memory_order_relaxed) == 0) {
		return;
	}
	if (atomic_fetch_add_explicit(&s->healthy, 1, memory_order_relaxed) + 1 >= b->successes) {
		atomic_store_explicit(&s->lasttime, 0, memory_order_relaxed);
		atomic_store_explicit(&s->unhealthy, 0, memory_order_relaxed);
		atomic_store_explicit(&s->healthy, 0, memory_order_relaxed);
	}
}

const struct gw_proxy__plugin gw_proxy__plugin_api_breaker = {
    .name = "api-breaker",
    .priority = 1005,
    .compile = compile,
    .access = access_hook,
    .log = log_hook,
};
