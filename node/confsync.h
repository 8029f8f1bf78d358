/* confsync.h: keeps the proxy's compiled config in step with the store.
 *
 * At start-up gw_node_confsync_compile() builds the first snapshot straight from
 * LMDB, so a node that restarts without quorum serves its last committed
 * config before it accepts a single connection. Then gw_node_confsync_start()
 * subscribes to the store's watch hub for the /apisix/ prefix; each batch of
 * committed changes schedules one recompile (bursts coalesce) that is
 * published to the proxy workers with an atomic swap.
 *
 * Threads: the API runs on the control loop that owns the store; the
 * compile of a change runs on libuv's thread pool (see confsync.c). */
#ifndef GW_NODE_CONFSYNC_H
#define GW_NODE_CONFSYNC_H

#include "proxy/proxy.h"
#include "store/store.h"

#include <stdint.h>
#include <uv.h>

struct gw_node_confsync;

/* Compile every committed /apisix/ key (routes in creation order) into a new
 * snapshot owned by the caller, with a new incremental compiler that holds
 * it: *@cache is handed to gw_node_confsync_start (or freed with
 * gw_proxy_cache_free), so the config is compiled once at start, not once
 * here and again to fill the compiler. 0, GW_ENOMEM or the store's read
 * error (then *@cache and *@out are NULL). */
int gw_node_confsync_compile(struct gw_store *store, struct gw_proxy_cache **cache,
			     struct gw_proxy_config **out);

/* Follow the store from @from_revision (the revision the proxy's current
 * snapshot was compiled from) and publish every change to @proxy. @cache is
 * the compiler that produced that snapshot (gw_node_confsync_compile),
 * taken over also on failure; NULL: a new one is filled in the
 * background. 0 or a negative error. The confsync is heap-allocated;
 * gw_node_confsync_stop frees it (after its timer closes). */
int gw_node_confsync_start(uv_loop_t *loop, struct gw_store *store, struct gw_proxy *proxy,
			   int64_t from_revision, struct gw_proxy_cache *cache,
			   struct gw_node_confsync **out);

/* Unsubscribe and free (asynchronously, once the timer handle closed and a
 * compile in flight ended). */
void gw_node_confsync_stop(struct gw_node_confsync *cs);

struct gw_node_confsync_stats {
	int64_t revision;          /* revision of the last published snapshot */
	uint64_t compiles;         /* snapshots published since start */
	uint64_t last_compile_us;  /* duration of the last compile */
	uint64_t last_lag_us;      /* first change seen -> snapshot published */
	uint64_t objects_compiled; /* objects (re)compiled since start */
	uint64_t last_objects;     /* by the last compile (changed + dependents) */
	uint64_t router_copies;    /* snapshots whose router was copied, not updated */
};
void gw_node_confsync_stats(const struct gw_node_confsync *cs, struct gw_node_confsync_stats *out);

/* The served revision: every /apisix/ change committed up to it is in the
 * snapshot the workers hold. While no change waits (no compile queued or
 * running, the watch alive) that is the store's revision (the later
 * revisions touched no /apisix/ key); otherwise the revision of the last
 * published snapshot. Control loop. */
int64_t gw_node_confsync_served(const struct gw_node_confsync *cs);

#endif
