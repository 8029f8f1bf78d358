/* plugin_limit.c: the node-wide counters of limit-count and limit-req.
 *
 * Two fixed tables of GW_PROXY__LIMIT_SLOTS slots (16 bytes each: a 64-bit
 * key hash and a 64-bit state), static, shared by every worker thread of
 * the process. A request updates its key's state with one compare-and-swap
 * loop: no lock, no allocation, so the counters cost a few atomics and the
 * memory is fixed whatever the keys.
 *  - limit-count (fixed window, as resty.limit.count): state = window end
 *    (seconds since start, high 32 bits) | requests counted (low 32 bits);
 *    the window opens at the key's first request.
 *  - limit-req (leaky bucket, as resty.limit.req): state = the bucket's
 *    theoretical arrival time in microseconds (GCRA): the excess after a
 *    request is max((tat - now) * rate + 1, 0), rejected when above burst,
 *    delayed excess / rate seconds otherwise.
 * A key lives in one of PROBES slots from its hash. An empty or expired
 * slot is claimed; when all hold live keys the least loaded is taken over
 * and counted (apigw_limit_evictions_total): the counters stay bounded and
 * an attacker cycling keys can only make other keys' limits more lenient.
 * Failure modes: none (a claim lost to a racing thread is retried, then
 * the request is let through). Threads: any. */
#include "config.h"

#include "proxy/plugin_int.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PROBES 8
#define MASK   (GW_PROXY__LIMIT_SLOTS - 1)

struct slot {
	_Atomic uint64_t key; /* 0: free */
	_Atomic uint64_t state;
};

static struct slot count_tab[GW_PROXY__LIMIT_SLOTS];
static struct slot req_tab[GW_PROXY__LIMIT_SLOTS];
static atomic_uint_fast64_t evictions;

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	/* + 1 s: a zero state is always in the past */
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u + 1000000u;
}

uint64_t gw_proxy__limit_hash(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;

	for (size_t i = 0; i < n; i++) {
		h = (h ^ s[i]) * 1099511628211ULL;
	}
	return h;
}

static uint64_t mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h | 1; /* never 0, the free mark */
}

/* Live until: the window end (count, in s) or the arrival time (req, in
 * us), both compared with @now in the same unit. */
typedef bool (*live_fn)(uint64_t state, uint64_t now);

static bool count_live(uint64_t st, uint64_t now_s)
{
	return (st >> 32) > now_s;
}

static bool req_live(uint64_t st, uint64_t now)
{
	return st > now;
}

/* The slot of @h in @tab, claimed if needed, or NULL (lost races). */
static struct slot *slot_of(struct slot *tab, uint64_t h, live_fn live, uint64_t now)
{
	for (int attempt = 0; attempt < 4; attempt++) {
		struct slot *take = NULL;
		uint64_t take_key = 0, least = UINT64_MAX;
		bool evict = false;

		for (unsigned i = 0; i < PROBES; i++) {
			struct slot *s = &tab[(h + i) & MASK];
			uint64_t k = atomic_load_explicit(&s->key, memory_order_acquire);
			uint64_t st = atomic_load_explicit(&s->state, memory_order_relaxed);

			if (k == h) {
				return s;
			}
			if (k == 0 || !live(st, now)) {
				if (take == NULL || evict) {
					take = s;
					take_key = k;
					evict = false;
				}
			} else if (take == NULL || (evict && (uint32_t)st < least)) {
				take = s; /* the least loaded live key, if nothing better */
				take_key = k;
				least = (uint32_t)st;
				evict = true;
			}
		}
		if (atomic_compare_exchange_strong(&take->key, &take_key, h)) {
			atomic_store_explicit(&take->state, 0, memory_order_relaxed);
			if (evict) {
				atomic_fetch_add_explicit(&evictions, 1, memory_order_relaxed);
			}
			return take;
		}
	}
	return NULL;
}

bool gw_proxy__limit_count(uint64_t h, uint32_t limit, uint32_t window_s, uint32_t *remaining,
			   uint32_t *reset)
{
	uint64_t now = now_us() / 1000000u;
	struct slot *s = slot_of(count_tab, mix(h), count_live, now);
	uint64_t st, nst;

	if (s == NULL) {
		*remaining = limit - 1;
		*reset = window_s;
		return true;
	}
	st = atomic_load_explicit(&s->state, memory_order_relaxed);
	for (;;) {
		uint64_t end = st >> 32;
		uint32_t n = (uint32_t)st;

		if (end <= now) {
			end = now + window_s;
			n = 0;
		}
		if (n >= limit) {
			*remaining = 0;
			*reset = (uint32_t)(end - now);
			return false;
		}
		nst = end << 32 | (n + 1);
		if (atomic_compare_exchange_weak(&s->state, &st, nst)) {
			*remaining = limit - (n + 1);
			*reset = (uint32_t)(end - now);
			return true;
		}
	}
}

int64_t gw_proxy__limit_req(uint64_t h, double rate, double burst)
{
	uint64_t now = now_us();
	struct slot *s = slot_of(req_tab, mix(h), req_live, now);
	uint64_t tat, ntat;

	if (s == NULL) {
		return 0;
	}
	tat = atomic_load_explicit(&s->state, memory_order_relaxed);
	for (;;) {
		double excess = ((double)tat - (double)now) / 1e6 * rate + 1;

		if (excess < 0 || tat == 0) {
			excess = 0;
		}
		double wait_us = excess / rate * 1e6;

		if (excess > burst) {
			return -1;
		}
		if (!(wait_us < 1e15)) {
			wait_us = 1e15; /* a tiny rate: about 30 years, no overflow */
		}
		ntat = now + (uint64_t)wait_us;
		if (ntat <= now) {
			ntat = now + 1; /* live until the next instant */
		}
		if (atomic_compare_exchange_weak(&s->state, &tat, ntat)) {
			return (int64_t)(wait_us / 1000);
		}
	}
}

uint64_t gw_proxy__limit_ident(struct gw_proxy__compiler *c, const cJSON *conf, const char *group)
{
	const char *obj = gw_proxy__c_object(c, NULL);
	uint64_t h = GW_PROXY__FNV_INIT;
	char *txt;

	if (group != NULL) {
		h = gw_proxy__limit_hash(h, "group:", 6);
		return gw_proxy__limit_hash(h, group, strlen(group)) | 1;
	}
	txt = cJSON_PrintUnformatted(conf);
	if (txt == NULL) {
		return 0;
	}
	h = gw_proxy__limit_hash(h, obj, strlen(obj) + 1);
	h = gw_proxy__limit_hash(h, txt, strlen(txt));
	free(txt);
	return h | 1;
}

int gw_proxy__limit_reject(struct gw_proxy__req *r, int code, const char *msg)
{
	if (msg != NULL) {
		return gw_proxy__plugin_message(r, code, "error_msg", msg);
	}
	return gw_proxy__plugin_respond(r, code, NULL);
}

uint64_t gw_proxy__limit_evictions(void)
{
	return atomic_load_explicit(&evictions, memory_order_relaxed);
}
