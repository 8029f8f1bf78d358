/* health_state.c: the health registry — node states, their cells, binding
 * snapshots to them, and the passive reports of the workers.
 *
 * Happy path: gw_proxy__health_bind (control thread, before a snapshot is
 * published) finds every checked upstream of the snapshot by its key,
 * keeps the nodes it already knows (their state and cell survive), adds the
 * new ones as healthy, restarts an upstream whose checks changed and
 * retires what the snapshot no longer has; then it stores each node's cell
 * reference in the snapshot. Observations (active probes, passive reports)
 * go through one state machine, lua-resty-healthcheck's: a success clears
 * the failure counters and a failure the success counter; a counter
 * reaching its limit makes the node healthy / unhealthy; a failure on a
 * healthy node makes it mostly_healthy, a success on an unhealthy node
 * mostly_unhealthy. Healthy and mostly_healthy nodes take traffic.
 * Failure modes: out of cells or memory at bind: the upstream's nodes read
 * healthy (as without checks) and it is logged; a full report queue drops
 * the report (counted). Threads: bind on the control thread, reports on
 * workers (lock-free), everything else on the checker thread; the mutex is
 * shared by the control and checker threads only. */
#include "config.h"

#include "lib/err.h"
#include "lib/log.h"
#include "proxy/health_int.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t gw_proxy__health_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

const char *gw_proxy__hstate_name(enum gw_proxy__hstate s)
{
	static const char *const names[] = {"healthy", "mostly_healthy", "mostly_unhealthy",
					    "unhealthy"};
	return names[s & 3];
}

/* ---- the state machine */

bool gw_proxy__hstate_apply(struct gw_proxy__hnode_state *s, enum gw_proxy__hctr c, unsigned limit)
{
	bool success = c == GW_PROXY__C_SUCCESS;
	enum gw_proxy__hstate next = s->st;
	bool any_fail;

	if (limit == 0) {
		return false; /* this counter is disabled */
	}
	if ((success && s->st == GW_PROXY__H_HEALTHY) ||
	    (!success && s->st == GW_PROXY__H_UNHEALTHY)) {
		return false; /* nothing to move towards */
	}
	if (s->ctr[c] < 255) {
		s->ctr[c]++;
	}
	if (success) {
		s->ctr[GW_PROXY__C_HTTP] = s->ctr[GW_PROXY__C_TCP] = s->ctr[GW_PROXY__C_TIMEOUT] =
		    0;
	} else {
		s->ctr[GW_PROXY__C_SUCCESS] = 0;
	}
	any_fail =
	    s->ctr[GW_PROXY__C_HTTP] || s->ctr[GW_PROXY__C_TCP] || s->ctr[GW_PROXY__C_TIMEOUT];
	if (s->ctr[c] >= limit) {
		next = success ? GW_PROXY__H_HEALTHY : GW_PROXY__H_UNHEALTHY;
	} else if (s->st == GW_PROXY__H_HEALTHY && any_fail) {
		next = GW_PROXY__H_MOSTLY_HEALTHY;
	} else if (s->st == GW_PROXY__H_UNHEALTHY && s->ctr[GW_PROXY__C_SUCCESS] > 0) {
		next = GW_PROXY__H_MOSTLY_UNHEALTHY;
	}
	if (next == s->st) {
		return false;
	}
	s->st = next;
	return true;
}

int gw_proxy__hstatus_kind(const struct gw_proxy__hthresh *th, int status)
{
	if (gw_proxy__hstatus_in(th->good, status)) {
		return 1;
	}
	if (status == 0 || gw_proxy__hstatus_in(th->bad, status)) {
		return -1;
	}
	return 0;
}

/* ---- cells */

static uint64_t cell_ref(const struct gw_proxy__hnode *n)
{
	return ((uint64_t)n->gen << 32) | (n->slot + 1);
}

static void cell_store(struct gw_proxy__health *h, const struct gw_proxy__hnode *n)
{
	_Atomic uint64_t *p = gw_proxy__hcell(h, cell_ref(n));
	if (p != NULL) {
		atomic_store_explicit(p, ((uint64_t)n->gen << 32) | (uint64_t)n->s.st,
				      memory_order_relaxed);
	}
}

/* A free slot for @n (its generation from the cell). 0 or GW_ENOMEM. */
static int slot_alloc(struct gw_proxy__health *h, struct gw_proxy__hnode *n)
{
	uint32_t slot;
	_Atomic uint64_t *chunk;

	if (h->n_free > 0) {
		slot = h->free_slots[--h->n_free];
	} else {
		if (h->n_slots >= (size_t)GW_PROXY__HCHUNK * GW_PROXY__HCHUNKS) {
			return GW_ENOMEM;
		}
		slot = (uint32_t)h->n_slots;
		if (slot % GW_PROXY__HCHUNK == 0) {
			size_t cap = (size_t)slot + GW_PROXY__HCHUNK;
			void *o = realloc(h->owner, cap * sizeof *h->owner);
			void *f = realloc(h->free_slots, cap * sizeof *h->free_slots);
			if (o != NULL) {
				h->owner = o;
			}
			if (f != NULL) {
				h->free_slots = f;
			}
			chunk = calloc(GW_PROXY__HCHUNK, sizeof *chunk);
			if (o == NULL || f == NULL || chunk == NULL) {
				free(chunk);
				return GW_ENOMEM;
			}
			atomic_store_explicit(&h->cells[slot / GW_PROXY__HCHUNK], chunk,
					      memory_order_release);
		}
		h->n_slots++;
	}
	n->slot = slot;
	chunk = atomic_load_explicit(&h->cells[slot / GW_PROXY__HCHUNK], memory_order_relaxed);
	n->gen = (uint32_t)(atomic_load_explicit(&chunk[slot % GW_PROXY__HCHUNK],
						 memory_order_relaxed) >>
			    32);
	h->owner[slot] = n;
	cell_store(h, n);
	return 0;
}

static void slot_release(struct gw_proxy__health *h, struct gw_proxy__hnode *n)
{
	_Atomic uint64_t *p = gw_proxy__hcell(h, cell_ref(n));
	if (p == NULL || h->owner[n->slot] != n) {
		return;
	}
	/* the next generation: stale references read "no state" */
	atomic_store_explicit(p, (uint64_t)(n->gen + 1) << 32, memory_order_relaxed);
	h->owner[n->slot] = NULL;
	h->free_slots[h->n_free++] = n->slot;
}

/* ---- registry */

struct gw_proxy__health *gw_proxy__health_new(void)
{
	struct gw_proxy__health *h = calloc(1, sizeof *h);
	if (h == NULL) {
		return NULL;
	}
	uv_mutex_init(&h->mu);
	for (size_t i = 0; i < GW_PROXY__HQUEUE; i++) {
		atomic_init(&h->q[i].seq, i);
	}
	return h;
}

void gw_proxy__hups_free(struct gw_proxy__hups *u)
{
	free(u->key);
	free(u->conf.active.host);
	free(u->conf.active.http_path);
	free(u->conf.active.req_headers);
	free(u);
}

void gw_proxy__hnode_free(struct gw_proxy__health *h, struct gw_proxy__hnode *n)
{
	(void)h;
	free(n);
}

void gw_proxy__health_free(struct gw_proxy__health *h)
{
	if (h == NULL) {
		return;
	}
	gw_proxy__checker_stop(h);
	while (h->ups != NULL) {
		struct gw_proxy__hups *u = h->ups;
		h->ups = u->next;
		while (u->nodes != NULL) {
			struct gw_proxy__hnode *n = u->nodes;
			u->nodes = n->next;
			free(n);
		}
		gw_proxy__hups_free(u);
	}
	for (size_t i = 0; i < GW_PROXY__HCHUNKS; i++) {
		free((void *)atomic_load(&h->cells[i]));
	}
	free(h->owner);
	free(h->free_slots);
	uv_mutex_destroy(&h->mu);
	free(h);
}

static char *dup_or_null(const char *s, bool *oom)
{
	char *d;
	if (s == NULL) {
		return NULL;
	}
	d = strdup(s);
	*oom = *oom || d == NULL;
	return d;
}

static struct gw_proxy__hups *ups_new(const struct gw_proxy__hcheck *hc)
{
	struct gw_proxy__hups *u = calloc(1, sizeof *u);
	bool oom = false;
	if (u == NULL) {
		return NULL;
	}
	u->conf = hc->conf;
	u->fp = hc->fp;
	u->key = dup_or_null(hc->key, &oom);
	u->conf.active.host = dup_or_null(hc->conf.active.host, &oom);
	u->conf.active.http_path = dup_or_null(hc->conf.active.http_path, &oom);
	u->conf.active.req_headers = dup_or_null(hc->conf.active.req_headers, &oom);
	if (oom) {
		gw_proxy__hups_free(u);
		return NULL;
	}
	return u;
}

/* Take @n out of the registry; freed now or when its probe ends. */
static void node_retire(struct gw_proxy__health *h, struct gw_proxy__hnode *n)
{
	slot_release(h, n);
	n->u->n_nodes--;
	if (n->probing) {
		n->gone = true; /* the probe frees it */
		n->u = NULL;
	} else {
		free(n);
	}
}

static void ups_retire(struct gw_proxy__health *h, struct gw_proxy__hups *u, const char *why)
{
	struct gw_proxy__hups **pp = &h->ups;
	while (*pp != NULL && *pp != u) {
		pp = &(*pp)->next;
	}
	if (*pp == u) {
		*pp = u->next;
		h->n_ups--;
	}
	gw_debugf("health", "checks of %s stopped: %s", u->key, why);
	h->bind_stopped++;
	while (u->nodes != NULL) {
		struct gw_proxy__hnode *n = u->nodes;
		u->nodes = n->next;
		node_retire(h, n);
	}
	if (u->inflight > 0) {
		u->gone = true; /* the last probe frees it */
	} else {
		gw_proxy__hups_free(u);
	}
}

static struct gw_proxy__hups *ups_find(struct gw_proxy__health *h, const char *key)
{
	for (struct gw_proxy__hups *u = h->ups; u != NULL; u = u->next) {
		if (strcmp(u->key, key) == 0) {
			return u;
		}
	}
	return NULL;
}

/* Node @nd of @u, found or added. NULL when out of memory or cells. */
static struct gw_proxy__hnode *node_get(struct gw_proxy__health *h, struct gw_proxy__hups *u,
					const struct gw_proxy__node *nd)
{
	struct gw_proxy__hnode *n;
	for (n = u->nodes; n != NULL; n = n->next) {
		if (strcmp(n->text, nd->text) == 0) {
			return n;
		}
	}
	n = calloc(1, sizeof *n);
	if (n == NULL) {
		return NULL;
	}
	n->u = u;
	snprintf(n->text, sizeof n->text, "%s", nd->text);
	snprintf(n->host, sizeof n->host, "%s", nd->host);
	n->addr = nd->addr;
	if (nd->addr.ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&nd->addr;
		inet_ntop(AF_INET6, &a->sin6_addr, n->ip, sizeof n->ip);
		n->port = ntohs(a->sin6_port);
	} else {
		const struct sockaddr_in *a = (const struct sockaddr_in *)&nd->addr;
		inet_ntop(AF_INET, &a->sin_addr, n->ip, sizeof n->ip);
		n->port = ntohs(a->sin_port);
	}
	if (slot_alloc(h, n) != 0) {
		free(n);
		return NULL;
	}
	n->next = u->nodes;
	u->nodes = n;
	u->n_nodes++;
	return n;
}

static int bind_upstream(struct gw_proxy__health *h, struct gw_proxy__upstream *up)
{
	struct gw_proxy__hcheck *hc = up->hc;
	struct gw_proxy__hups *u = ups_find(h, hc->key);
	struct gw_proxy__hnode **pp;
	/* The same key twice in one snapshot: the first one's settings win,
	 * and the second copy's nodes share its cells (without refs, workers
	 * would see them healthy forever and drop their passive reports). */
	bool again = u != NULL && u->epoch == h->epoch;

	if (again) {
		goto nodes;
	}
	if (u != NULL && u->fp != hc->fp) {
		ups_retire(h, u, "settings changed, restarting");
		u = NULL;
	}
	if (u == NULL) {
		u = ups_new(hc);
		if (u == NULL) {
			return GW_ENOMEM;
		}
		u->next = h->ups;
		h->ups = u;
		h->n_ups++;
		gw_debugf("health", "checks of %s started (%s%s)", u->key,
			  u->conf.has_active ? "active" : "",
			  u->conf.has_passive ? (u->conf.has_active ? "+passive" : "passive") : "");
		h->bind_started++;
	}
	u->epoch = h->epoch;
nodes:
	for (size_t i = 0; i < up->n_nodes; i++) {
		struct gw_proxy__hnode *n = node_get(h, u, &up->nodes[i]);
		if (n == NULL) {
			return GW_ENOMEM;
		}
		n->epoch = h->epoch;
		atomic_store_explicit(&hc->refs[i], cell_ref(n), memory_order_relaxed);
	}
	if (again) {
		return 0;
	}
	for (pp = &u->nodes; *pp != NULL;) {
		struct gw_proxy__hnode *n = *pp;
		if (n->epoch != h->epoch) {
			*pp = n->next;
			node_retire(h, n);
		} else {
			pp = &n->next;
		}
	}
	return 0;
}

int gw_proxy__health_bind(struct gw_proxy__health *h, struct gw_proxy_config *cfg)
{
	int rv = 0;
	if (h == NULL || cfg == NULL) {
		return 0;
	}
	uv_mutex_lock(&h->mu);
	h->epoch++;
	for (size_t i = 0; i < cfg->n_ups; i++) {
		struct gw_proxy__upstream *up = cfg->ups[i];
		if (up == NULL || up->hc == NULL) { /* a released slot, or no checks */
			continue;
		}
		if (up->hc->reg != h) {
			/* Only before the first publication of its unit: later
			 * snapshots share it and workers read it. */
			up->hc->reg = h;
		}
		if (bind_upstream(h, up) != 0) {
			gw_errorf("health",
				  "%s: out of memory or health cells: its nodes count as "
				  "healthy",
				  up->hc->key);
			rv = GW_ENOMEM;
		}
	}
	for (struct gw_proxy__hups **pp = &h->ups; *pp != NULL;) {
		struct gw_proxy__hups *u = *pp;
		if (u->epoch != h->epoch) {
			ups_retire(h, u, "no longer configured");
		} else {
			pp = &u->next;
		}
	}
	if (h->bind_started > 0 || h->bind_stopped > 0) {
		/* one line per config change, not one per upstream */
		gw_infof("health",
			 "revision %lld: %zu upstreams checked (%u started, %u stopped "
			 "or restarted)",
			 (long long)cfg->revision, h->n_ups, h->bind_started, h->bind_stopped);
	}
	h->bind_started = h->bind_stopped = 0;
	uv_mutex_unlock(&h->mu);
	if (h->started) {
		uv_async_send(&h->async);
	}
	return rv;
}

/* ---- observations */

void gw_proxy__hnode_observe(struct gw_proxy__health *h, struct gw_proxy__hnode *n,
			     const struct gw_proxy__hthresh *th, enum gw_proxy__hreport kind,
			     int status, const char *how)
{
	enum gw_proxy__hstate was = n->s.st;
	enum gw_proxy__hctr c;
	unsigned limit;

	if (kind == GW_PROXY__HR_TCP) {
		c = GW_PROXY__C_TCP;
		limit = th->tcp_failures;
	} else if (kind == GW_PROXY__HR_TIMEOUT) {
		c = GW_PROXY__C_TIMEOUT;
		limit = th->timeouts;
	} else if (kind == GW_PROXY__HR_SUCCESS) {
		c = GW_PROXY__C_SUCCESS;
		limit = th->successes;
	} else {
		int k = gw_proxy__hstatus_kind(th, status);
		if (k == 0) {
			return;
		}
		c = k > 0 ? GW_PROXY__C_SUCCESS : GW_PROXY__C_HTTP;
		limit = k > 0 ? th->successes : th->http_failures;
	}
	if (!gw_proxy__hstate_apply(&n->s, c, limit)) {
		return;
	}
	cell_store(h, n);
	if ((was <= GW_PROXY__H_MOSTLY_HEALTHY) != (n->s.st <= GW_PROXY__H_MOSTLY_HEALTHY)) {
		/* takes traffic or stops taking it: logged once */
		static const char *const ctr_names[] = {"successes", "http failures",
							"tcp failures", "timeouts"};
		gw_log(n->s.st == GW_PROXY__H_UNHEALTHY ? GW_LOG_WARN : GW_LOG_INFO, "health",
		       "%s node %s: %s -> %s (%u %s, %s)", n->u->key, n->text,
		       gw_proxy__hstate_name(was), gw_proxy__hstate_name(n->s.st), n->s.ctr[c],
		       ctr_names[c], how);
	}
}

void gw_proxy__health_report(const struct gw_proxy__upstream *up, int i,
			     enum gw_proxy__hreport kind, int status)
{
	const struct gw_proxy__hcheck *hc = up->hc;
	struct gw_proxy__health *h;
	enum gw_proxy__hstate st;
	uint64_t ref;
	size_t pos;

	if (hc == NULL || !hc->conf.has_passive || (h = hc->reg) == NULL || i < 0 ||
	    (size_t)i >= up->n_nodes) {
		return;
	}
	if (kind == GW_PROXY__HR_STATUS) {
		int k;
		if (hc->conf.passive_type == GW_PROXY__HT_TCP) {
			return;
		}
		k = gw_proxy__hstatus_kind(&hc->conf.passive, status);
		st = gw_proxy__node_health(up, (size_t)i);
		if (k == 0 || (k > 0 && st == GW_PROXY__H_HEALTHY) ||
		    (k < 0 && st == GW_PROXY__H_UNHEALTHY)) {
			return;
		}
	} else if (gw_proxy__node_health(up, (size_t)i) == GW_PROXY__H_UNHEALTHY) {
		return;
	}
	ref = atomic_load_explicit(&hc->refs[i], memory_order_relaxed);
	if (ref == 0) {
		return;
	}
	pos = atomic_load_explicit(&h->q_head, memory_order_relaxed);
	for (;;) {
		struct gw_proxy__hq_cell *c = &h->q[pos % GW_PROXY__HQUEUE];
		size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
		intptr_t dif = (intptr_t)seq - (intptr_t)pos;
		if (dif == 0) {
			if (atomic_compare_exchange_weak_explicit(&h->q_head, &pos, pos + 1,
								  memory_order_relaxed,
								  memory_order_relaxed)) {
				c->ref = ref;
				c->kind = (uint16_t)kind;
				c->status = (uint16_t)status;
				atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
				break;
			}
		} else if (dif < 0) {
			atomic_fetch_add_explicit(&h->q_dropped, 1, memory_order_relaxed);
			return; /* full */
		} else {
			pos = atomic_load_explicit(&h->q_head, memory_order_relaxed);
		}
	}
	if (h->started) {
		uv_async_send(&h->async);
	}
}

void gw_proxy__health_drain(struct gw_proxy__health *h)
{
	uv_mutex_lock(&h->mu);
	for (;;) {
		struct gw_proxy__hq_cell *c = &h->q[h->q_tail % GW_PROXY__HQUEUE];
		size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
		uint64_t ref;
		uint32_t slot;
		struct gw_proxy__hnode *n;

		if (seq != h->q_tail + 1) {
			break; /* empty */
		}
		ref = c->ref;
		slot = (uint32_t)(ref & 0xffffffffu) - 1;
		n = slot < h->n_slots ? h->owner[slot] : NULL;
		if (n != NULL && n->gen == (uint32_t)(ref >> 32) && n->u != NULL) {
			gw_proxy__hnode_observe(h, n, &n->u->conf.passive,
						(enum gw_proxy__hreport)c->kind, c->status,
						"passive");
		}
		atomic_store_explicit(&c->seq, h->q_tail + GW_PROXY__HQUEUE, memory_order_release);
		h->q_tail++;
	}
	uv_mutex_unlock(&h->mu);
}
