/* confsync.c: store → proxy config (see confsync.h).
 *
 * Happy path: a watch on [/apisix/, /apisix0) delivers committed events;
 * the first event of a quiet period arms a short timer, and when it fires
 * the whole prefix is read at the current revision, compiled and published.
 * A full recompile keeps the code obviously right; it is cheap next to a
 * commit at the sizes of real configs, and its duration is exported in the
 * stats so an operator sees when it is not.
 * Failure modes: a compile that fails (out of memory) keeps the old snapshot
 * and retries on the next change; a watch cancelled by the store (slow
 * subscriber, snapshot restore, compaction) is re-created from the current
 * revision followed by a recompile, so no change is ever missed. */
#include "config.h"

#include "node/confsync.h"
#include "lib/err.h"
#include "lib/log.h"

#include <stdlib.h>
#include <string.h>

#define PREFIX      "/apisix/"
#define PREFIX_END  "/apisix0" /* '/' + 1 == '0': the end of the prefix range */
#define COALESCE_MS 2

struct gw_node_confsync {
	uv_loop_t *loop;
	struct gw_store *store;
	struct gw_proxy *proxy;
	struct gw_watcher *watcher;
	uv_timer_t timer;      /* coalesces a burst of changes into one compile */
	bool pending;          /* a change waits for the timer */
	bool resubscribe;      /* the watch was cancelled: re-create it */
	uint64_t first_change; /* uv_hrtime of the first pending change */
	struct gw_node_confsync_stats stats;
};

static int64_t now_us(void)
{
	return (int64_t)(uv_hrtime() / 1000);
}

int gw_node_confsync_compile(struct gw_store *store, struct gw_proxy_config **out)
{
	struct gw_range_req req;
	struct gw_range_resp resp;
	struct gw_proxy_kv *kvs;
	int rv;

	memset(&req, 0, sizeof req);
	req.key = PREFIX;
	req.key_len = strlen(PREFIX);
	req.range_end = PREFIX_END;
	req.range_end_len = strlen(PREFIX_END);
	req.sort_order = GW_SORT_ASCEND;
	req.sort_target = GW_SORT_CREATE; /* route insertion order */
	rv = gw_store_range(store, &req, &resp);
	if (rv != 0) {
		gw_errorf("confsync", "cannot read the config from the store: %s", gw_strerror(rv));
		return rv;
	}
	kvs = calloc(resp.n_kvs ? resp.n_kvs : 1, sizeof *kvs);
	if (kvs == NULL) {
		gw_store_range_resp_free(&resp);
		return GW_ENOMEM;
	}
	for (size_t i = 0; i < resp.n_kvs; i++) {
		kvs[i].key = resp.kvs[i].key;
		kvs[i].key_len = resp.kvs[i].key_len;
		kvs[i].value = resp.kvs[i].value;
		kvs[i].value_len = resp.kvs[i].value_len;
	}
	rv = gw_proxy_config_compile(kvs, resp.n_kvs, resp.revision, out);
	free(kvs);
	gw_store_range_resp_free(&resp);
	return rv;
}

static int subscribe(struct gw_node_confsync *cs, int64_t from_revision);

static void recompile(struct gw_node_confsync *cs)
{
	struct gw_proxy_config *cfg;
	int64_t t0 = now_us();
	int rv;

	cs->pending = false;
	if (cs->resubscribe) {
		cs->resubscribe = false;
		rv = subscribe(cs, gw_store_revision(cs->store) + 1);
		if (rv != 0) {
			gw_errorf("confsync", "cannot watch the store: %s", gw_strerror(rv));
		}
	}
	rv = gw_node_confsync_compile(cs->store, &cfg);
	if (rv != 0) {
		return; /* logged; the old snapshot keeps serving */
	}
	cs->stats.revision = gw_proxy_config_revision(cfg);
	gw_proxy_publish(cs->proxy, cfg);
	cs->stats.compiles++;
	cs->stats.last_compile_us = (uint64_t)(now_us() - t0);
	cs->stats.last_lag_us = (uint64_t)(uv_hrtime() - cs->first_change) / 1000;
	gw_debugf("confsync", "published config at revision %lld (%llu us)",
		  (long long)cs->stats.revision, (unsigned long long)cs->stats.last_compile_us);
}

static void timer_cb(uv_timer_t *t)
{
	recompile(t->data);
}

static void schedule(struct gw_node_confsync *cs)
{
	if (cs->pending) {
		return;
	}
	cs->pending = true;
	cs->first_change = uv_hrtime();
	uv_timer_start(&cs->timer, timer_cb, COALESCE_MS, 0);
}

static int on_events(struct gw_watcher *w, const struct gw_event *evs, size_t n, void *data)
{
	(void)w;
	(void)evs;
	(void)n;
	schedule(data);
	return 0;
}

static void on_cancel(struct gw_watcher *w, int reason, int64_t compact_revision, void *data)
{
	struct gw_node_confsync *cs = data;
	(void)w;
	(void)compact_revision;
	cs->watcher = NULL;
	if (reason == GW_ESHUTDOWN) {
		return;
	}
	gw_infof("confsync", "store watch ended (%s): re-reading the config", gw_strerror(reason));
	cs->resubscribe = true;
	schedule(cs);
}

static int subscribe(struct gw_node_confsync *cs, int64_t from_revision)
{
	struct gw_watch_opts o;
	memset(&o, 0, sizeof o);
	o.key = PREFIX;
	o.key_len = strlen(PREFIX);
	o.range_end = PREFIX_END;
	o.range_end_len = strlen(PREFIX_END);
	o.start_revision = from_revision;
	o.on_events = on_events;
	o.on_cancel = on_cancel;
	o.data = cs;
	return gw_store_watch(cs->store, &o, &cs->watcher);
}

int gw_node_confsync_start(uv_loop_t *loop, struct gw_store *store, struct gw_proxy *proxy,
			   int64_t from_revision, struct gw_node_confsync **out)
{
	struct gw_node_confsync *cs = calloc(1, sizeof *cs);
	int rv;
	if (cs == NULL) {
		return GW_ENOMEM;
	}
	cs->loop = loop;
	cs->store = store;
	cs->proxy = proxy;
	cs->stats.revision = from_revision;
	uv_timer_init(loop, &cs->timer);
	cs->timer.data = cs;
	/* Changes committed after the snapshot was compiled are replayed from
	 * history, so nothing between compile and subscribe is missed. */
	rv = subscribe(cs, from_revision + 1);
	if (rv != 0) {
		gw_errorf("confsync", "cannot watch the store: %s", gw_strerror(rv));
		gw_node_confsync_stop(cs);
		return rv;
	}
	*out = cs;
	return 0;
}

static void close_cb(uv_handle_t *h)
{
	free(h->data);
}

void gw_node_confsync_stop(struct gw_node_confsync *cs)
{
	if (cs->watcher != NULL) {
		gw_store_unwatch(cs->watcher);
		cs->watcher = NULL;
	}
	uv_close((uv_handle_t *)&cs->timer, close_cb);
}

void gw_node_confsync_stats(const struct gw_node_confsync *cs, struct gw_node_confsync_stats *out)
{
	*out = cs->stats;
}
