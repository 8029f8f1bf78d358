/* health_int.h: upstream health checks, internals shared by proxy/health*.c,
 * the balancer, the request path and the unit tests.
 *
 * An upstream with `checks` compiles a struct gw_proxy__hcheck (its
 * settings, in the upstream's unit arena). Publishing the snapshot binds it to the
 * proxy's health registry (struct gw_proxy__health): every node of the
 * upstream gets a status cell, found by its identity (the upstream's key,
 * e.g. "/apisix/upstreams/1" or "/apisix/routes/7" for an inline upstream,
 * plus "ip:port"), so a node keeps its state across unrelated config
 * changes. One checker thread (health_probe.c) owns the states, probes the
 * nodes and takes the passive reports; workers only load a cell (one
 * relaxed atomic load) and push reports into a bounded lock-free queue.
 *
 * A cell holds (generation << 32) | state. A retired node's cell gets the
 * next generation, so a snapshot still pointing at it reads "no state"
 * (healthy) instead of another node's state. */
#ifndef GW_PROXY_HEALTH_INT_H
#define GW_PROXY_HEALTH_INT_H

#include "proxy/proxy_int.h"

#include <cjson/cJSON.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

/* A node's health as lua-resty-healthcheck names it; the first two take
 * traffic. */
enum gw_proxy__hstate {
	GW_PROXY__H_HEALTHY,
	GW_PROXY__H_MOSTLY_HEALTHY,
	GW_PROXY__H_MOSTLY_UNHEALTHY,
	GW_PROXY__H_UNHEALTHY
};
const char *gw_proxy__hstate_name(enum gw_proxy__hstate s);

enum gw_proxy__htype { GW_PROXY__HT_HTTP, GW_PROXY__HT_HTTPS, GW_PROXY__HT_TCP };

/* The counters of one node (one byte each, as in lua-resty-healthcheck). */
enum gw_proxy__hctr { GW_PROXY__C_SUCCESS, GW_PROXY__C_HTTP, GW_PROXY__C_TCP, GW_PROXY__C_TIMEOUT };

#define GW_PROXY__HSTATUS_MIN 200
#define GW_PROXY__HSTATUS_N   400 /* statuses 200..599 */

/* Thresholds of one side (active or passive). A limit of 0 disables its
 * counter. */
struct gw_proxy__hthresh {
	uint8_t good[GW_PROXY__HSTATUS_N / 8]; /* healthy.http_statuses bitmap */
	uint8_t bad[GW_PROXY__HSTATUS_N / 8];  /* unhealthy.http_statuses bitmap */
	unsigned successes, http_failures, tcp_failures, timeouts;
};

struct gw_proxy__hactive {
	enum gw_proxy__htype type;
	unsigned timeout_ms;
	unsigned concurrency;
	char *host;        /* Host header / SNI; NULL = the node's host */
	int port;          /* 0 = the node's port */
	char *http_path;   /* "/" by default */
	char *req_headers; /* "Name: value\r\n" lines, or "" */
	bool verify;       /* https_verify_certificate */
	unsigned healthy_interval_ms, unhealthy_interval_ms;
	struct gw_proxy__hthresh th;
};

struct gw_proxy__hconf {
	bool has_active, has_passive;
	struct gw_proxy__hactive active;
	enum gw_proxy__htype passive_type;
	struct gw_proxy__hthresh passive;
};

struct gw_proxy__health;

/* Compiled `checks` of one upstream (everything in the arena of the unit
 * holding the upstream, which later snapshots may share). */
struct gw_proxy__hcheck {
	char *key;   /* identity: "/apisix/upstreams/1", "/apisix/routes/7"... */
	uint64_t fp; /* fingerprint of the checks object: changed = restart */
	struct gw_proxy__hconf conf;
	/* Binding, written by gw_proxy__health_bind before the snapshot is
	 * published: */
	struct gw_proxy__health *reg;
	_Atomic uint64_t *refs; /* per node: (gen << 32) | (slot + 1); 0 = none */
};

/* ---- compile (health_conf.c) */

/* Parse @checks (may be NULL: no checks) of an upstream whose owner object
 * has key @prefix@id into up->hc (allocated in @arena), with APISIX's defaults. Returns 0,
 * GW_EINVAL (@why set) or GW_ENOMEM. */
int gw_proxy__health_compile(struct gw_arena *arena, const cJSON *checks, const char *prefix,
			     const char *id, struct gw_proxy__upstream *up, const char **why);
/* Settings with APISIX's defaults (active and passive). */
void gw_proxy__hconf_defaults(struct gw_proxy__hconf *c);
bool gw_proxy__hstatus_in(const uint8_t *bits, int status);

/* ---- the state machine of one node (health_state.c) */
struct gw_proxy__hnode_state {
	enum gw_proxy__hstate st;
	uint8_t ctr[4]; /* enum gw_proxy__hctr */
};
/* Apply one observation (@c: the counter it increments) against @limit
 * (0 = disabled). Returns true when the state changed. */
bool gw_proxy__hstate_apply(struct gw_proxy__hnode_state *s, enum gw_proxy__hctr c, unsigned limit);
/* Which counter an HTTP @status feeds under @th: 1 success, -1 failure,
 * 0 ignored (neither list; status 0 = invalid response is a failure). */
int gw_proxy__hstatus_kind(const struct gw_proxy__hthresh *th, int status);

/* ---- the registry (health_state.c) */
#define GW_PROXY__HCHUNK  1024u
#define GW_PROXY__HCHUNKS 1024u /* at most 1,048,576 checked nodes */
#define GW_PROXY__HQUEUE  4096u /* passive reports in flight */

enum gw_proxy__hreport {
	GW_PROXY__HR_STATUS,  /* an HTTP status, classified by the lists */
	GW_PROXY__HR_TCP,     /* connect refused, reset */
	GW_PROXY__HR_TIMEOUT, /* no answer in time */
	GW_PROXY__HR_SUCCESS  /* a tcp probe connected */
};

struct gw_proxy__hq_cell {
	atomic_size_t seq;
	uint64_t ref;
	uint16_t kind, status;
};

struct gw_proxy__hnode;
struct gw_proxy__hups;

struct gw_proxy__health {
	_Atomic(_Atomic uint64_t *) cells[GW_PROXY__HCHUNKS]; /* status cells, never freed
							       * before the registry */
	struct gw_proxy__hnode **owner;                       /* slot -> node (checker, under mu) */
	uint32_t *free_slots;                                 /* stack of released slots */
	size_t n_free, n_slots;                               /* slots handed out so far */
	uv_mutex_t mu;              /* guards everything below and the nodes */
	struct gw_proxy__hups *ups; /* checked upstreams (list) */
	size_t n_ups;
	uint64_t epoch;                      /* bind generation */
	unsigned bind_started, bind_stopped; /* during one bind, for its log line */
	/* passive reports: bounded MPSC queue (Vyukov) */
	struct gw_proxy__hq_cell q[GW_PROXY__HQUEUE];
	atomic_size_t q_head; /* producers */
	size_t q_tail;        /* the checker */
	atomic_uint_fast64_t q_dropped;
	/* the checker thread (health_probe.c) */
	uv_thread_t thread;
	uv_loop_t loop;
	uv_async_t async;
	uv_timer_t tick;
	atomic_bool stopping;
	bool started;
	void *ssl_verify, *ssl_noverify;  /* SSL_CTX for https probes */
	atomic_uint_fast64_t probes;      /* probes started */
	atomic_uint_fast64_t probes_done; /* probes that reached a verdict (or were abandoned) */
};

/* A node being checked (owned by the registry, under mu). */
struct gw_proxy__hnode {
	struct gw_proxy__hups *u;
	char text[72]; /* "ip:port" */
	char ip[64];
	int port;
	char host[72]; /* the node's host (Host header by default) */
	struct sockaddr_storage addr;
	uint32_t slot, gen;
	struct gw_proxy__hnode_state s;
	uint64_t next_due; /* next active probe, ms (monotonic) */
	uint64_t epoch;
	bool probing, gone;
	struct gw_proxy__hnode *next;
};

struct gw_proxy__hups {
	char *key;
	uint64_t fp;
	struct gw_proxy__hconf conf; /* own copy (strings malloc'ed) */
	struct gw_proxy__hnode *nodes;
	size_t n_nodes;
	unsigned inflight; /* probes running */
	uint64_t epoch;
	bool gone;
	struct gw_proxy__hups *next;
};

struct gw_proxy__health *gw_proxy__health_new(void);
/* Stop the checker (if started), free everything. Workers must be gone. */
void gw_proxy__health_free(struct gw_proxy__health *h);
/* Give every checked upstream of @cfg its cells, reconcile the registry
 * with it (new upstreams/nodes start healthy, removed ones are retired,
 * changed settings restart) and wake the checker. 0 or GW_ENOMEM (then the
 * snapshot's nodes all read healthy). Control thread, before publishing. */
int gw_proxy__health_bind(struct gw_proxy__health *h, struct gw_proxy_config *cfg);

/* Cell of @ref, or NULL. Any thread. */
static inline _Atomic uint64_t *gw_proxy__hcell(struct gw_proxy__health *h, uint64_t ref)
{
	uint32_t slot = (uint32_t)(ref & 0xffffffffu) - 1;
	_Atomic uint64_t *chunk;
	if (slot / GW_PROXY__HCHUNK >= GW_PROXY__HCHUNKS) {
		return NULL;
	}
	chunk = atomic_load_explicit(&h->cells[slot / GW_PROXY__HCHUNK], memory_order_acquire);
	return chunk ? &chunk[slot % GW_PROXY__HCHUNK] : NULL;
}

/* The health of node @i of @up as the workers see it. Lock-free. */
static inline enum gw_proxy__hstate gw_proxy__node_health(const struct gw_proxy__upstream *up,
							  size_t i)
{
	const struct gw_proxy__hcheck *hc = up->hc;
	uint64_t ref, cell;
	_Atomic uint64_t *p;
	if (hc == NULL || hc->refs == NULL || hc->reg == NULL) {
		return GW_PROXY__H_HEALTHY;
	}
	ref = atomic_load_explicit(&hc->refs[i], memory_order_relaxed);
	if (ref == 0 || (p = gw_proxy__hcell(hc->reg, ref)) == NULL) {
		return GW_PROXY__H_HEALTHY;
	}
	cell = atomic_load_explicit(p, memory_order_relaxed);
	if ((cell >> 32) != (ref >> 32)) {
		return GW_PROXY__H_HEALTHY; /* retired: another node's now */
	}
	return (enum gw_proxy__hstate)(cell & 3);
}

static inline bool gw_proxy__node_up(const struct gw_proxy__upstream *up, size_t i)
{
	return gw_proxy__node_health(up, i) <= GW_PROXY__H_MOSTLY_HEALTHY;
}

/* A passive observation of node @i of @up by a worker: an HTTP @status
 * (0 = invalid response), a TCP failure or a timeout. Dropped when the
 * upstream has no passive checks, when it cannot change anything (a success
 * on a healthy node) or when the queue is full. Lock-free; any worker. */
void gw_proxy__health_report(const struct gw_proxy__upstream *up, int i,
			     enum gw_proxy__hreport kind, int status);

/* Checker side (health_state.c): apply one observation to node @n under
 * @th (active or passive), update its cell and log a transition. Under mu. */
void gw_proxy__hnode_observe(struct gw_proxy__health *h, struct gw_proxy__hnode *n,
			     const struct gw_proxy__hthresh *th, enum gw_proxy__hreport kind,
			     int status, const char *how);
/* Drain the passive queue. Checker thread. */
void gw_proxy__health_drain(struct gw_proxy__health *h);
/* Free a retired node / upstream whose probes are done. Under mu. */
void gw_proxy__hnode_free(struct gw_proxy__health *h, struct gw_proxy__hnode *n);
void gw_proxy__hups_free(struct gw_proxy__hups *u);

/* ---- the checker thread (health_probe.c) */
int gw_proxy__checker_start(struct gw_proxy__health *h);
void gw_proxy__checker_stop(struct gw_proxy__health *h);
/* Start the probes that are due. Checker thread, under mu. */
void gw_proxy__checker_scan(struct gw_proxy__health *h, uint64_t now);

uint64_t gw_proxy__health_now_ms(void);

/* ---- outside views (health_api.c) */
struct gw_buf;
/* apisix_upstream_status{name,ip,port} (1 takes traffic, 0 not) and the
 * checker's counters. 0 or GW_ENOMEM. Any thread. */
int gw_proxy__health_metrics(struct gw_proxy *p, struct gw_buf *b);

#endif
