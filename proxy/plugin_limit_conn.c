/* plugin_limit_conn.c: limit-conn (priority 1003), APISIX's "local"
 * policy: the requests of a key in flight at once, counted for the whole
 * node.
 *
 * Happy path: the access hook resolves the key as limit-req does (key_type
 * "var" or "var_combination", remote_addr when empty) and counts the
 * request in: up to conn requests pass at once; the next burst ones pass
 * after default_conn_delay seconds times floor((n - 1) / conn) (the delay of
 * resty.limit.conn; plugin_delay.c's timer, the loop is never blocked); the
 * ones beyond conn + burst are rejected. The log hook, run when the request
 * ends however it ends (answered, failed, client gone while delayed),
 * counts it out.
 * Counters: a fixed table shared by every worker, one 64-bit word per slot
 * holding a 40-bit tag of the key and a 24-bit count, changed only by
 * compare-and-swap (no lock on the request path, bounded memory). A key
 * takes a free slot (count 0) among a few probes; a slot in use is never
 * taken over, so a request always counts out where it counted in. When all
 * probes hold other keys in flight the request is not limited (an attacker
 * varying the key makes the limits more lenient, never grows memory), and
 * gw_proxy__limit_conn_overflows counts it.
 * Failure modes: rejected_code (503) with {"error_msg": rejected_msg} when
 * set, the status page otherwise. Threads: compile on the config thread,
 * access and log on any worker (lock-free). */
#include "config.h"

#include "lib/err.h"
#include "lib/json.h"
#include "proxy/plugin_int.h"

#include <stdatomic.h>
#include <string.h>

#define SLOTS      (1u << 14)
#define PROBES     8
#define COUNT_BITS 24
#define COUNT_MASK ((1ull << COUNT_BITS) - 1)
#define HELD       (sizeof((struct gw_proxy__req *)0)->conn_slots / sizeof(uint32_t))

static _Atomic uint64_t slots[SLOTS];
static atomic_uint_fast64_t overflows;

struct lconn {
	uint64_t ident;
	uint32_t conn, burst;
	unsigned delay_ms; /* default_conn_delay */
	const char *key;
	bool comb;
	int rejected_code;
	const char *rejected_msg;
};

static int compile(struct gw_proxy__compiler *c, const cJSON *j, const void **out)
{
	struct lconn *l = gw_proxy__c_alloc(c, sizeof *l);
	const cJSON *delay = cJSON_GetObjectItemCaseSensitive(j, "default_conn_delay");
	const cJSON *key = cJSON_GetObjectItemCaseSensitive(j, "key");
	const cJSON *kt = cJSON_GetObjectItemCaseSensitive(j, "key_type");
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(j, "rejected_msg");
	double d;

	if (l == NULL) {
		return GW_ENOMEM;
	}
	if (!cJSON_IsNumber(delay) || !cJSON_IsString(key)) {
		return gw_proxy__c_fail(c, "%s", "limit-conn: default_conn_delay and key");
	}
	/* a count over the slot's 24 bits would never be reached anyway */
	l->conn = (uint32_t)gw_json_int(cJSON_GetObjectItemCaseSensitive(j, "conn"), 1,
					COUNT_MASK / 2, 1);
	l->burst = (uint32_t)gw_json_int(cJSON_GetObjectItemCaseSensitive(j, "burst"), 0,
					 COUNT_MASK / 2, 0);
	d = delay->valuedouble * 1000.0;
	l->delay_ms = d > 86400000.0 ? 86400000u : d < 1.0 ? 1u : (unsigned)d;
	l->key = gw_proxy__c_strdup(c, key->valuestring);
	l->comb = cJSON_IsString(kt) && strcmp(kt->valuestring, "var_combination") == 0;
	l->rejected_code =
	    (int)gw_json_int(cJSON_GetObjectItemCaseSensitive(j, "rejected_code"), 200, 599, 503);
	l->rejected_msg = cJSON_IsString(msg) ? gw_proxy__c_strdup(c, msg->valuestring) : NULL;
	l->ident = gw_proxy__limit_ident(c, j, NULL);
	if (l->ident == 0 || l->key == NULL || (cJSON_IsString(msg) && l->rejected_msg == NULL)) {
		return GW_ENOMEM;
	}
	*out = l;
	return 0;
}

/* Count one more in slot @idx if it holds key @tag (or, with @claim, is
 * free) and fewer than @max: 1 on success with the count in *@n; 0 when
 * the slot is not the key's; -1 when full (*@n over @max). */
static int bump(uint32_t idx, uint64_t tag, bool claim, uint32_t max, uint32_t *n)
{
	uint64_t v = atomic_load_explicit(&slots[idx], memory_order_relaxed);

	for (;;) {
		uint64_t cnt = v & COUNT_MASK;
		if (cnt == 0 ? !claim : (v >> COUNT_BITS) != tag) {
			return 0;
		}
		if (cnt + 1 > max) {
			*n = (uint32_t)cnt + 1;
			return -1;
		}
		if (atomic_compare_exchange_weak_explicit(
			&slots[idx], &v, (tag << COUNT_BITS) | (cnt + 1), memory_order_acq_rel,
			memory_order_relaxed)) {
			*n = (uint32_t)cnt + 1;
			return 1;
		}
	}
}

/* Count key @h in unless @max are in flight: 1 + its slot with the count
 * it made in *@n; 0 when rejected (*@n over @max); 0 with *@n 0 when no
 * slot is free. The key's slot, if it has one, is found before a free one
 * is claimed (two requests of a new key claiming at once meet in the same
 * first free slot: the loser's compare-and-swap sees the winner's tag). */
static uint32_t count_in(uint64_t h, uint32_t max, uint32_t *n)
{
	uint64_t tag = (h >> COUNT_BITS) | 1; /* never 0 */

	*n = 0;
	for (int claim = 0; claim < 2; claim++) {
		for (uint32_t i = 0; i < PROBES; i++) {
			uint32_t idx = (uint32_t)(h + i * 0x9e3779b1u) & (SLOTS - 1);
			int rv = bump(idx, tag, claim == 1, max, n);
			if (rv != 0) {
				return rv > 0 ? idx + 1 : 0;
			}
		}
	}
	atomic_fetch_add_explicit(&overflows, 1, memory_order_relaxed);
	return 0;
}

static void count_out(uint32_t idx)
{
	uint64_t v = atomic_load_explicit(&slots[idx], memory_order_relaxed);

	while ((v & COUNT_MASK) != 0 &&
	       !atomic_compare_exchange_weak_explicit(&slots[idx], &v, v - 1, memory_order_acq_rel,
						      memory_order_relaxed)) {
	}
}

static int access_hook(struct gw_proxy__req *r, const void *conf)
{
	const struct lconn *l = conf;
	char buf[1024];
	size_t len, free_at = HELD;
	const char *k = gw_proxy__limit_key(r, l->key, l->comb, buf, sizeof buf, &len);
	uint32_t n, slot;

	for (size_t i = 0; i < HELD; i++) {
		if (r->conn_slots[i] == 0) {
			free_at = i;
			break;
		}
	}
	if (free_at == HELD) {
		return 0; /* more limit-conn instances than a request holds: not limited */
	}
	slot = count_in(gw_proxy__limit_hash(l->ident, k, len), l->conn + l->burst, &n);
	if (slot == 0) {
		return n == 0 ? 0 : gw_proxy__limit_reject(r, l->rejected_code, l->rejected_msg);
	}
	r->conn_slots[free_at] = slot;
	if (n > l->conn) {
		uint64_t d = (uint64_t)l->delay_ms * ((n - 1) / l->conn);
		unsigned dm = d > 86400000u ? 86400000u : (unsigned)d;
		if (dm > r->delay_ms) {
			r->delay_ms = dm;
		}
	}
	return 0;
}

/* The request ends: count out what it counted in (every instance's, once). */
static void log_hook(struct gw_proxy__req *r, const void *conf)
{
	(void)conf;
	for (size_t i = 0; i < HELD; i++) {
		if (r->conn_slots[i] != 0) {
			count_out(r->conn_slots[i] - 1);
			r->conn_slots[i] = 0;
		}
	}
}

uint64_t gw_proxy__limit_conn_overflows(void)
{
	return atomic_load_explicit(&overflows, memory_order_relaxed);
}

const struct gw_proxy__plugin gw_proxy__plugin_limit_conn = {
    .name = "limit-conn",
    .priority = 1003,
    .compile = compile,
    .access = access_hook,
    .log = log_hook,
};
