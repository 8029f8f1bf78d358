/* plugin_traffic_split.c: traffic-split (priority 966), APISIX's weighted
 * and conditional upstream choice, compiled once per route.
 *
 * Happy path. compile turns each rule into its match expressions (a rule
 * matches when it has none, or when any of its match items' vars pass) and
 * its weighted_upstreams: an upstream_id (the object depends on it and is
 * recompiled with it), an inline upstream (compiled and given a balancer
 * slot like a route's), or neither (the route's own upstream); weights are
 * divided by their gcd and laid out as a smooth weighted round-robin
 * sequence (a 3:1 split sends A A B A, not A A A B). The access hook takes
 * the first matching rule and the next entry of its sequence (one atomic
 * counter per rule, shared by the workers) and sets r->up, which
 * gw_proxy__req_proceed uses instead of the route's upstream.
 * Failure modes: a missing upstream_id or a bad inline upstream fails the
 * object at compile time; no rule matching, or only zero weights, leaves
 * the route's upstream. Not allowed in consumers (their plugins compile
 * outside the dependency graph). Threads: compile on the config thread,
 * access on any worker. */
#include "config.h"

#include "lib/err.h"
#include "proxy/config_int.h"
#include "proxy/plugin_int.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define SEQ_MAX 4096 /* longest precomputed sequence (sum of reduced weights) */
#define UPS_MAX 20   /* weighted_upstreams per rule (APISIX's maxItems) */

struct wup {
	const struct gw_proxy__upstream *up; /* NULL: the route's own */
	unsigned weight;
};

struct rule {
	struct gw_proxy__expr **match; /* any of them; none: always */
	size_t n_match;
	struct wup ups[UPS_MAX];
	size_t n_ups;
	unsigned total;     /* sum of the reduced weights (0: the route's upstream) */
	uint8_t *seq;       /* smooth WRR order, total entries, when total <= SEQ_MAX */
	atomic_uint *count; /* requests that took this rule (arena, mutable) */
};

struct tsplit {
	struct rule *rules;
	size_t n_rules;
};

static unsigned gcd(unsigned a, unsigned b)
{
	while (b != 0) {
		unsigned t = a % b;
		a = b;
		b = t;
	}
	return a;
}

static int compile_up(struct gw_proxy__compiler *c, const cJSON *w, struct wup *out)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(w, "upstream_id");
	const cJSON *inl = cJSON_GetObjectItemCaseSensitive(w, "upstream");
	const cJSON *wt = cJSON_GetObjectItemCaseSensitive(w, "weight");
	struct gw_proxy__upstream *up = NULL;
	int rv;

	if (!cJSON_IsObject(w)) {
		return gw_proxy__c_fail(c, "%s", "traffic-split: weighted_upstreams hold objects");
	}
	if (wt != NULL && !(cJSON_IsNumber(wt) && wt->valuedouble >= 0 && wt->valuedouble < 1e6)) {
		return gw_proxy__c_fail(c, "%s", "traffic-split: weight must be 0..1e6");
	}
	out->weight = wt == NULL ? 1 : (unsigned)wt->valuedouble;
	if (id != NULL) {
		const char *s = gw_proxy__c_scalar(c, id);
		if (s == NULL) {
			return c->oom ? GW_ENOMEM
				      : gw_proxy__c_fail(c, "%s", "traffic-split: bad upstream_id");
		}
		out->up = gw_proxy__c_dep(c, GW_PROXY__K_UPSTREAM, s);
		if (c->oom) {
			return GW_ENOMEM;
		}
		if (out->up == NULL) {
			return gw_proxy__c_fail(c, "traffic-split: upstream_id %.64s not found", s);
		}
	} else if (inl != NULL) {
		if ((rv = gw_proxy__compile_upstream(c, inl, NULL, &up)) != 0) {
			return rv;
		}
		if (gw_proxy__register_upstream(c, up) != 0) {
			return GW_ENOMEM;
		}
		out->up = up;
	}
	return 0;
}

/* Lay out the smooth weighted round-robin order of @r's upstreams. */
static int build_seq(struct gw_proxy__compiler *c, struct rule *r)
{
	unsigned g = 0;
	long cur[UPS_MAX] = {0};

	for (size_t i = 0; i < r->n_ups; i++) {
		g = gcd(g, r->ups[i].weight);
	}
	r->total = 0;
	for (size_t i = 0; g > 0 && i < r->n_ups; i++) {
		r->ups[i].weight /= g;
		r->total += r->ups[i].weight;
	}
	if (r->total == 0 || r->total > SEQ_MAX) {
		return 0; /* none, or picked by cumulative ranges */
	}
	r->seq = gw_proxy__c_alloc(c, r->total);
	if (r->seq == NULL) {
		return GW_ENOMEM;
	}
	for (unsigned k = 0; k < r->total; k++) {
		size_t best = 0;
		for (size_t i = 0; i < r->n_ups; i++) {
			cur[i] += r->ups[i].weight;
			if (cur[i] > cur[best]) {
				best = i;
			}
		}
		cur[best] -= r->total;
		r->seq[k] = (uint8_t)best;
	}
	return 0;
}

static int compile_rule(struct gw_proxy__compiler *c, const cJSON *j, struct rule *r)
{
	const cJSON *match = cJSON_GetObjectItemCaseSensitive(j, "match");
	const cJSON *wu = cJSON_GetObjectItemCaseSensitive(j, "weighted_upstreams"), *it;
	int rv;

	if (cJSON_IsArray(match) && cJSON_GetArraySize(match) > 0) {
		r->match =
		    gw_proxy__c_alloc(c, (size_t)cJSON_GetArraySize(match) * sizeof *r->match);
		if (r->match == NULL) {
			return GW_ENOMEM;
		}
		cJSON_ArrayForEach(it, match)
		{
			const cJSON *vars = cJSON_GetObjectItemCaseSensitive(it, "vars");
			struct gw_proxy__expr *e = NULL;
			if (vars != NULL && cJSON_GetArraySize(vars) > 0 &&
			    (rv = gw_proxy__c_vars(c, vars, &e)) != 0) {
				return rv;
			}
			r->match[r->n_match++] = e; /* NULL: no vars, always passes */
		}
	}
	if (wu == NULL) {
		r->ups[0].weight = 1; /* APISIX's default: the route's upstream */
		r->n_ups = 1;
	} else {
		if (!cJSON_IsArray(wu) || cJSON_GetArraySize(wu) < 1 ||
		    cJSON_GetArraySize(wu) > UPS_MAX) {
			return gw_proxy__c_fail(c, "%s",
						"traffic-split: weighted_upstreams: 1..20 items");
		}
		cJSON_ArrayForEach(it, wu)
		{
			if ((rv = compile_up(c, it, &r->ups[r->n_ups++])) != 0) {
				return rv;
			}
		}
	}
	r->count = gw_proxy__c_alloc(c, sizeof *r->count);
	if (r->count == NULL) {
		return GW_ENOMEM;
	}
	atomic_init(r->count, 0);
	return build_seq(c, r);
}

static int compile(struct gw_proxy__compiler *c, const cJSON *j, const void **out)
{
	struct tsplit *t = gw_proxy__c_alloc(c, sizeof *t);
	const cJSON *rules = cJSON_GetObjectItemCaseSensitive(j, "rules"), *it;
	int rv;

	if (t == NULL) {
		return GW_ENOMEM;
	}
	if (c->e == NULL) {
		return gw_proxy__c_fail(c, "%s", "traffic-split is not supported in consumers");
	}
	if (rules != NULL && !cJSON_IsArray(rules)) {
		return gw_proxy__c_fail(c, "%s", "traffic-split: rules must be an array");
	}
	if (cJSON_GetArraySize(rules) > 0) {
		t->rules =
		    gw_proxy__c_alloc(c, (size_t)cJSON_GetArraySize(rules) * sizeof *t->rules);
		if (t->rules == NULL) {
			return GW_ENOMEM;
		}
		cJSON_ArrayForEach(it, rules)
		{
			if ((rv = compile_rule(c, it, &t->rules[t->n_rules++])) != 0) {
				return rv;
			}
		}
	}
	*out = t;
	return 0;
}

static bool rule_matches(struct gw_proxy__req *r, const struct rule *ru)
{
	struct gw_proxy__match_ctx m;

	if (ru->n_match == 0) {
		return true;
	}
	gw_proxy__req_match_ctx(r, &m);
	for (size_t i = 0; i < ru->n_match; i++) {
		if (ru->match[i] == NULL || gw_proxy__expr_eval(ru->match[i], &m)) {
			return true;
		}
	}
	return false;
}

static int access_hook(struct gw_proxy__req *r, const void *conf)
{
	const struct tsplit *t = conf;

	for (size_t i = 0; i < t->n_rules; i++) {
		const struct rule *ru = &t->rules[i];
		unsigned k, pick = 0;
		if (!rule_matches(r, ru)) {
			continue;
		}
		if (ru->total == 0) {
			return 0;
		}
		k = atomic_fetch_add_explicit(ru->count, 1, memory_order_relaxed) % ru->total;
		if (ru->seq != NULL) {
			pick = ru->seq[k];
		} else {
			while (pick + 1 < ru->n_ups && k >= ru->ups[pick].weight) {
				k -= ru->ups[pick].weight;
				pick++;
			}
		}
		if (ru->ups[pick].up != NULL) {
			r->up = ru->ups[pick].up;
		}
		return 0;
	}
	return 0;
}

const struct gw_proxy__plugin gw_proxy__plugin_traffic_split = {
    .name = "traffic-split",
    .priority = 966,
    .compile = compile,
    .access = access_hook,
};
