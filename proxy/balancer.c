/* balancer.c: node selection of an upstream, per worker.
 *
 * Happy path: the worker's wsnap holds, for every upstream of its snapshot,
 * the mutable state of its balancer (round robin current weights, requests
 * in flight, ewma latencies). A pick considers the nodes of the highest
 * priority that still has a node not yet tried by this request, so lower
 * priorities are used only when higher ones failed. roundrobin is nginx's
 * smooth weighted round robin (weights 3/2/1 give 6/4/2 of 12 picks, evenly
 * spread); chash walks a consistent-hash ring of 160 points per unit of
 * weight (adding a node moves ~1/n of the keys); least_conn picks the lowest
 * (active + 1) / weight; ewma the lowest decayed latency x (active + 1) /
 * weight. A worker makes an upstream's state on its first pick. State
 * restarts with each new snapshot (as in APISIX, where a changed upstream
 * gets a new balancer). With health checks, nodes that are unhealthy are
 * skipped unless none is healthy (then all take traffic, as in APISIX).
 * Failure modes: -1 when every node was tried or the upstream has none (the
 * caller answers 502). */
#include "config.h"

#include "lib/err.h"
#include "proxy/health_int.h"
#include "proxy/proxy_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHASH_POINTS   160
#define CHASH_MAX_RING (1u << 20)

static bool tried(const struct gw_proxy__tried *t, size_t i)
{
	return i < 64 && (t->bits & (1ULL << i));
}

/* Nodes a pick must not choose: those tried, and the unhealthy ones unless
 * no node is healthy (then traffic goes to all of them, as in APISIX). */
struct skip {
	const struct gw_proxy__upstream *up;
	const struct gw_proxy__tried *t;
	bool health;
};

static void skip_init(struct skip *k, const struct gw_proxy__upstream *up,
		      const struct gw_proxy__tried *t)
{
	k->up = up;
	k->t = t;
	k->health = false;
	if (up->hc != NULL) {
		for (size_t i = 0; i < up->n_nodes; i++) {
			if (gw_proxy__node_up(up, i)) {
				k->health = true;
				break;
			}
		}
	}
}

static bool skip(const struct skip *k, size_t i)
{
	return tried(k->t, i) || (k->health && !gw_proxy__node_up(k->up, i));
}

static void state_free(struct gw_proxy__bstate *b)
{
	free(b->cw);
	free(b->active);
	free(b->ewma);
	free(b->ewma_t);
}

struct gw_proxy__wsnap *gw_proxy__wsnap_new(struct gw_proxy_config *cfg)
{
	struct gw_proxy__wsnap *s = calloc(1, sizeof *s);
	if (s == NULL) {
		return NULL;
	}
	/* per-upstream state is made on an upstream's first pick: a snapshot
	 * of 100,000 upstreams costs one zeroed array here, not 200,000 mallocs */
	s->b = calloc(cfg->n_ups ? cfg->n_ups : 1, sizeof *s->b);
	if (s->b == NULL) {
		free(s);
		return NULL;
	}
	s->refs = 1;
	s->cfg = cfg;
	gw_proxy_config_ref(cfg);
	return s;
}

/* The state of @up in @s, made on first use. NULL when out of memory. */
static struct gw_proxy__bstate *state_of(struct gw_proxy__wsnap *s,
					 const struct gw_proxy__upstream *up)
{
	struct gw_proxy__bstate *b = &s->b[up->index];
	size_t n = up->n_nodes ? up->n_nodes : 1;
	if (b->active != NULL) {
		return b;
	}
	b->cw = calloc(n, sizeof *b->cw);
	b->active = calloc(n, sizeof *b->active);
	if (up->type == GW_PROXY__LB_EWMA) {
		b->ewma = calloc(n, sizeof *b->ewma);
		b->ewma_t = calloc(n, sizeof *b->ewma_t);
	}
	if (b->cw == NULL || b->active == NULL ||
	    (up->type == GW_PROXY__LB_EWMA && (b->ewma == NULL || b->ewma_t == NULL))) {
		state_free(b);
		memset(b, 0, sizeof *b);
		return NULL;
	}
	return b;
}

void gw_proxy__wsnap_unref(struct gw_proxy__wsnap *s)
{
	if (s == NULL || --s->refs > 0) {
		return;
	}
	for (size_t i = 0; i < s->cfg->n_ups; i++) {
		state_free(&s->b[i]);
	}
	free(s->b);
	gw_proxy_config_unref(s->cfg);
	free(s);
}

static uint32_t hash32(const void *p, size_t n)
{
	uint64_t h = gw_proxy__hash(p, n);
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return (uint32_t)h;
}

static int ring_cmp(const void *a, const void *b)
{
	const struct gw_proxy__ring_pt *x = a, *y = b;
	if (x->hash != y->hash) {
		return x->hash < y->hash ? -1 : 1;
	}
	return x->node < y->node ? -1 : (x->node > y->node);
}

int gw_proxy__chash_build(struct gw_arena *a, struct gw_proxy__upstream *up)
{
	size_t total = 0, k = 0;
	for (size_t i = 0; i < up->n_nodes; i++) {
		total += (size_t)up->nodes[i].weight * CHASH_POINTS;
	}
	if (total > CHASH_MAX_RING) {
		total = CHASH_MAX_RING;
	}
	up->ring = gw_arena_alloc(a, (total ? total : 1) * sizeof *up->ring);
	if (up->ring == NULL) {
		return GW_ENOMEM;
	}
	for (size_t i = 0; i < up->n_nodes && k < total; i++) {
		/* Points depend only on the node's address: adding a node leaves the
		 * others' points in place, so only ~1/n of the keys move. */
		size_t pts = (size_t)up->nodes[i].weight * CHASH_POINTS;
		for (size_t v = 0; v < pts && k < total; v++) {
			char key[96];
			int n = snprintf(key, sizeof key, "%s#%zu", up->nodes[i].text, v);
			up->ring[k].hash = hash32(key, (size_t)n);
			up->ring[k].node = (uint32_t)i;
			k++;
		}
	}
	qsort(up->ring, k, sizeof *up->ring, ring_cmp);
	up->ring_len = k;
	return 0;
}

static int pick_chash(const struct gw_proxy__upstream *up, const struct skip *t, const char *key,
		      size_t key_len)
{
	uint32_t h = hash32(key ? key : "", key ? key_len : 0);
	size_t lo = 0, hi = up->ring_len;

	if (up->ring_len == 0) {
		return -1;
	}
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (up->ring[mid].hash < h) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	for (size_t n = 0; n < up->ring_len; n++) {
		const struct gw_proxy__ring_pt *pt = &up->ring[(lo + n) % up->ring_len];
		if (!skip(t, pt->node)) {
			return (int)pt->node;
		}
	}
	return -1;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int gw_proxy__balancer_pick(struct gw_proxy__wsnap *s, const struct gw_proxy__upstream *up,
			    const struct gw_proxy__tried *t, const char *hash_key,
			    size_t hash_key_len)
{
	struct gw_proxy__bstate *b;
	struct skip k;
	size_t lo, hi = 0;
	int best = -1;

	skip_init(&k, up, t);
	if (up->type == GW_PROXY__LB_CHASH) {
		return pick_chash(up, &k, hash_key, hash_key_len);
	}
	if ((b = state_of(s, up)) == NULL) {
		return -1; /* out of memory: answered as no node left (502) */
	}
	/* The first priority group with a node to choose: [lo, hi). */
	for (lo = 0; lo < up->n_nodes; lo = hi) {
		bool any = false;
		for (hi = lo; hi < up->n_nodes && up->nodes[hi].priority == up->nodes[lo].priority;
		     hi++) {
			any = any || !skip(&k, hi);
		}
		if (any) {
			break;
		}
	}
	if (lo >= up->n_nodes) {
		return -1;
	}
	if (up->type == GW_PROXY__LB_RR) {
		int64_t total = 0;
		for (size_t i = lo; i < hi; i++) {
			if (skip(&k, i)) {
				continue;
			}
			b->cw[i] += up->nodes[i].weight;
			total += up->nodes[i].weight;
			if (best < 0 || b->cw[i] > b->cw[best]) {
				best = (int)i;
			}
		}
		b->cw[best] -= total;
	} else {
		double best_score = 0;
		for (size_t i = lo; i < hi; i++) {
			double score;
			if (skip(&k, i)) {
				continue;
			}
			score = (double)(b->active[i] + 1) / up->nodes[i].weight;
			if (up->type == GW_PROXY__LB_EWMA) {
				score *= b->ewma[i] + 1.0;
			}
			if (best < 0 || score < best_score) {
				best = (int)i;
				best_score = score;
			}
		}
	}
	b->active[best]++;
	return best;
}

void gw_proxy__balancer_done(struct gw_proxy__wsnap *s, const struct gw_proxy__upstream *up, int i,
			     uint64_t latency_ms)
{
	struct gw_proxy__bstate *b = &s->b[up->index];
	if (i < 0 || (size_t)i >= up->n_nodes || up->type == GW_PROXY__LB_CHASH ||
	    b->active == NULL) {
		return;
	}
	if (b->active[i] > 0) {
		b->active[i]--;
	}
	if (up->type == GW_PROXY__LB_EWMA) {
		uint64_t now = now_ms();
		double dt = (double)(now - b->ewma_t[i]);
		double w = exp(-dt / 10000.0); /* 10 s decay */
		b->ewma[i] = b->ewma[i] * w + (double)latency_ms * (1.0 - w);
		b->ewma_t[i] = now;
	}
}
