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
 * rules [{conn, burst, key}] apply several limits at once, each key a
 * "$var" template (a rule whose variables have no value is skipped);
 * conn and burst may be "$var" text too, resolved per request (APISIX
 * 3.x). The delays of the rules add up, as APISIX sleeps once per rule.
 * Failure modes: rejected_code (503) with {"error_msg": rejected_msg} when
 * set, the status page otherwise; no limit that applies (a variable conn
 * without an integer value, every rule skipped): 500, or no limit with
 * allow_degradation. Threads: compile on the config thread,
 * access and log on any worker (lock-free). */
#include "config.h"

#include "lib/err.h"
#include "lib/json.h"
#include "lib/log.h"
#include "proxy/plugin_int.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS      (1u << 14)
#define PROBES     8
#define COUNT_BITS 24
#define COUNT_MASK ((1ull << COUNT_BITS) - 1)
#define HELD       (sizeof((struct gw_proxy__req *)0)->conn_slots / sizeof(uint32_t))

static _Atomic uint64_t slots[SLOTS];
static atomic_uint_fast64_t overflows;

/* One limit: the plugin's own (conn, burst, key, key_type) or one of its
 * rules (key a "$var" template, then constant). conn and burst may be
 * "$var" text resolved per request. */
struct rule {
	uint32_t conn, burst;
	const char *conn_var, *burst_var; /* or NULL */
	const char *key;
	bool comb, rule;
};

struct lconn {
	uint64_t ident;
	struct rule *rules;
	size_t n_rules;
	unsigned delay_ms; /* default_conn_delay */
	bool degrade;      /* allow_degradation */
	int rejected_code;
	const char *rejected_msg;
};

/* conn (@min 1) or burst (@min 0) of @j: a number, or "$var" text. */
static int compile_num(struct gw_proxy__compiler *c, const cJSON *j, int64_t min, uint32_t *n,
		       const char **var)
{
	*var = NULL;
	*n = (uint32_t)gw_json_int(j, min, COUNT_MASK / 2, min);
	if (cJSON_IsString(j) && (*var = gw_proxy__c_strdup(c, j->valuestring)) == NULL) {
		return GW_ENOMEM;
	}
	return 0;
}

static int compile_rule(struct gw_proxy__compiler *c, const cJSON *j, bool comb, bool rule,
			struct rule *out)
{
	const cJSON *key = cJSON_GetObjectItemCaseSensitive(j, "key");
	int rv;

	if (!cJSON_IsString(key)) {
		return gw_proxy__c_fail(c, "%s", "limit-conn: key");
	}
	if ((rv = compile_num(c, cJSON_GetObjectItemCaseSensitive(j, "conn"), 1, &out->conn,
			      &out->conn_var)) != 0 ||
	    (rv = compile_num(c, cJSON_GetObjectItemCaseSensitive(j, "burst"), 0, &out->burst,
			      &out->burst_var)) != 0) {
		return rv;
	}
	out->comb = comb;
	out->rule = rule;
	return (out->key = gw_proxy__c_strdup(c, key->valuestring)) == NULL ? GW_ENOMEM : 0;
}

static int compile(struct gw_proxy__compiler *c, const cJSON *j, const void **out)
{
	struct lconn *l = gw_proxy__c_alloc(c, sizeof *l);
	const cJSON *delay = cJSON_GetObjectItemCaseSensitive(j, "default_conn_delay");
	const cJSON *rules = cJSON_GetObjectItemCaseSensitive(j, "rules"), *it;
	const cJSON *kt = cJSON_GetObjectItemCaseSensitive(j, "key_type");
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(j, "rejected_msg");
	size_t n = cJSON_IsArray(rules) ? (size_t)cJSON_GetArraySize(rules) : 1;
	double d;
	int rv;

	if (l == NULL || (l->rules = gw_proxy__c_alloc(c, (n + 1) * sizeof *l->rules)) == NULL) {
		return GW_ENOMEM;
	}
	if (!cJSON_IsNumber(delay)) {
		return gw_proxy__c_fail(c, "%s", "limit-conn: default_conn_delay");
	}
	if (!cJSON_IsArray(rules)) {
		bool comb = cJSON_IsString(kt) && strcmp(kt->valuestring, "var_combination") == 0;
		if ((rv = compile_rule(c, j, comb, false, &l->rules[0])) != 0) {
			return rv;
		}
		l->n_rules = 1;
	}
	cJSON_ArrayForEach(it, rules)
	{
		if ((rv = compile_rule(c, it, true, true, &l->rules[l->n_rules])) != 0) {
			return rv;
		}
		l->n_rules++;
	}
	d = delay->valuedouble * 1000.0;
	l->delay_ms = d > 86400000.0 ? 86400000u : d < 1.0 ? 1u : (unsigned)d;
	l->degrade = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "allow_degradation"));
	l->rejected_code =
	    (int)gw_json_int(cJSON_GetObjectItemCaseSensitive(j, "rejected_code"), 200, 599, 503);
	l->rejected_msg = cJSON_IsString(msg) ? gw_proxy__c_strdup(c, msg->valuestring) : NULL;
	l->ident = gw_proxy__limit_ident(c, j, NULL);
	if (l->ident == 0 || (cJSON_IsString(msg) && l->rejected_msg == NULL)) {
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

/* @var resolved to an integer >= @min (APISIX's resolve_var then
 * tonumber, integer, positive or not negative), or false. */
static bool resolve_num(struct gw_proxy__req *r, const char *var, uint32_t min, uint32_t *out)
{
	int nres;
	const char *v = gw_proxy__plugin_interp(r, var, &nres);
	char *end;
	unsigned long long x;

	if (*v < '0' || *v > '9') {
		return false;
	}
	x = strtoull(v, &end, 10);
	if (*end != '\0' || x < min || x > COUNT_MASK / 2) {
		return false;
	}
	*out = (uint32_t)x;
	return true;
}

/* Count @r in for rule @u: 0 on the way, 1 when answered, -1 when the rule
 * does not apply (a variable without a usable value). */
static int run_rule(struct gw_proxy__req *r, const struct lconn *l, const struct rule *u,
		    unsigned *delay)
{
	char buf[1024];
	size_t len, free_at = HELD;
	const char *k;
	uint32_t n, slot, conn = u->conn, burst = u->burst;

	if ((u->conn_var != NULL && !resolve_num(r, u->conn_var, 1, &conn)) ||
	    (u->burst_var != NULL && !resolve_num(r, u->burst_var, 0, &burst))) {
		return -1;
	}
	if (u->rule) {
		int nres;
		k = gw_proxy__plugin_interp(r, u->key, &nres);
		if (nres == 0) {
			return -1;
		}
		len = strlen(k);
	} else {
		k = gw_proxy__limit_key(r, u->key, u->comb, buf, sizeof buf, &len);
	}
	for (size_t i = 0; i < HELD; i++) {
		if (r->conn_slots[i] == 0) {
			free_at = i;
			break;
		}
	}
	if (free_at == HELD) {
		return 0; /* more limits than a request holds: not limited */
	}
	slot = count_in(gw_proxy__limit_hash(l->ident, k, len), conn + burst, &n);
	if (slot == 0) {
		return n == 0 ? 0 : gw_proxy__limit_reject(r, l->rejected_code, l->rejected_msg);
	}
	r->conn_slots[free_at] = slot;
	if (n > conn) {
		uint64_t d = (uint64_t)l->delay_ms * ((n - 1) / conn) + *delay;
		*delay = d > 86400000u ? 86400000u : (unsigned)d; /* APISIX sleeps per rule */
	}
	return 0;
}

static int access_hook(struct gw_proxy__req *r, const void *conf)
{
	const struct lconn *l = conf;
	unsigned delay = 0;
	size_t applied = 0;

	for (size_t i = 0; i < l->n_rules; i++) {
		int rv = run_rule(r, l, &l->rules[i], &delay);
		if (rv > 0) {
			return rv;
		}
		if (rv == 0) {
			applied++;
		} else if (!l->rules[i].rule) {
			break; /* the plugin's own conn or burst has no value */
		}
	}
	if (applied == 0) {
		gw_warnf("proxy", "%s", "limit-conn: failed to get limit conn rules");
		return l->degrade ? 0 : gw_proxy__plugin_respond(r, 500, NULL);
	}
	if (delay > r->delay_ms) {
		r->delay_ms = delay;
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
