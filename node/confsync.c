/* confsync.c: store → proxy config (see confsync.h).
 *
 * Happy path: a watch on [/apisix/, /apisix0) delivers committed events;
 * the first event of a quiet period arms a short timer, and when it fires
 * the whole prefix is read at the current revision (on the control loop,
 * which owns the store), then compiled on libuv's thread pool so a big
 * config never stalls the loop that runs raft and the control-plane APIs
 * (10,000 routes: 100-200 ms of compile), and published back on the loop.
 * One compile is in flight at a time; changes that arrive meanwhile get one
 * more compile when it ends. A full recompile keeps the code obviously
 * right; its duration is exported in the stats.
 * Failure modes: a compile that fails (out of memory) keeps the old snapshot
 * and retries on the next change; a watch cancelled by the store (slow
 * subscriber, snapshot restore, compaction) is re-created from the current
 * revision followed by a recompile, so no change is ever missed. Stop while
 * a compile runs: the compile is cancelled if it has not started, else its
 * result is dropped; the struct is freed once both the timer and the
 * compile are done.
 * Threads: the control loop, except compile_work on the pool (it owns its
 * job: the range read for it and the snapshot it makes). */
#include "config.h"

#include "node/confsync.h"
#include "lib/err.h"
#include "lib/log.h"

#include <stdlib.h>
#include <string.h>

#define PREFIX      "/apisix/"
#define PREFIX_END  "/apisix0" /* '/' + 1 == '0': the end of the prefix range */
#define COALESCE_MS 0 /* the next loop turn: a burst in flight coalesces behind the compile */

struct gw_node_confsync {
	uv_loop_t *loop;
	struct gw_store *store;
	struct gw_proxy *proxy;
	struct gw_watcher *watcher;
	uv_timer_t timer; /* coalesces a burst of changes into one compile */
	struct job *job;  /* the compile on the thread pool, or NULL */
	bool again;       /* changes arrived while it ran */
	bool stopping, timer_closed;
	bool pending;          /* a change waits for the timer */
	bool resubscribe;      /* the watch was cancelled: re-create it */
	uint64_t first_change; /* uv_hrtime of the first pending change */
	struct gw_node_confsync_stats stats;
};

static int64_t now_us(void)
{
	return (int64_t)(uv_hrtime() / 1000);
}

/* The config as the store holds it now: the range (owned) and the pairs
 * pointing into it (malloc'ed). 0, GW_ENOMEM or the store's read error
 * (logged). */
static int read_config(struct gw_store *store, struct gw_range_resp *resp, struct gw_proxy_kv **out)
{
	struct gw_range_req req;
	struct gw_proxy_kv *kvs;
	int rv;

	memset(&req, 0, sizeof req);
	req.key = PREFIX;
	req.key_len = strlen(PREFIX);
	req.range_end = PREFIX_END;
	req.range_end_len = strlen(PREFIX_END);
	req.sort_order = GW_SORT_ASCEND;
	req.sort_target = GW_SORT_CREATE; /* route insertion order */
	rv = gw_store_range(store, &req, resp);
	if (rv != 0) {
		gw_errorf("confsync", "cannot read the config from the store: %s", gw_strerror(rv));
		return rv;
	}
	kvs = calloc(resp->n_kvs ? resp->n_kvs : 1, sizeof *kvs);
	if (kvs == NULL) {
		gw_store_range_resp_free(resp);
		return GW_ENOMEM;
	}
	for (size_t i = 0; i < resp->n_kvs; i++) {
		kvs[i].key = resp->kvs[i].key;
		kvs[i].key_len = resp->kvs[i].key_len;
		kvs[i].value = resp->kvs[i].value;
		kvs[i].value_len = resp->kvs[i].value_len;
	}
	*out = kvs;
	return 0;
}

int gw_node_confsync_compile(struct gw_store *store, struct gw_proxy_config **out)
{
	struct gw_range_resp resp;
	struct gw_proxy_kv *kvs;
	int rv = read_config(store, &resp, &kvs);

	if (rv != 0) {
		return rv;
	}
	rv = gw_proxy_config_compile(kvs, resp.n_kvs, resp.revision, out);
	free(kvs);
	gw_store_range_resp_free(&resp);
	return rv;
}

/* One compile handed to the thread pool. */
struct job {
	uv_work_t req;
	struct gw_node_confsync *cs;
	struct gw_range_resp resp; /* read on the loop, owned by the job */
	struct gw_proxy_kv *kvs;
	struct gw_proxy_config *cfg; /* made on the pool */
	int rv;
	int64_t t0_us;         /* when the read started */
	uint64_t first_change; /* uv_hrtime of the first change it covers */
};

static int subscribe(struct gw_node_confsync *cs, int64_t from_revision);
static void schedule(struct gw_node_confsync *cs);
static void maybe_free(struct gw_node_confsync *cs);

static void job_free(struct job *j)
{
	gw_proxy_config_unref(j->cfg);
	free(j->kvs);
	gw_store_range_resp_free(&j->resp);
	free(j);
}

static void compile_work(uv_work_t *req)
{
	struct job *j = req->data;

	j->rv = gw_proxy_config_compile(j->kvs, j->resp.n_kvs, j->resp.revision, &j->cfg);
}

static void compile_after(uv_work_t *req, int status)
{
	struct job *j = req->data;
	struct gw_node_confsync *cs = j->cs;

	cs->job = NULL;
	if (cs->stopping || status != 0 || j->rv != 0) {
		/* stopped, cancelled, or out of memory: the old snapshot keeps
		 * serving and the next change retries */
		job_free(j);
		maybe_free(cs);
		return;
	}
	cs->stats.revision = gw_proxy_config_revision(j->cfg);
	gw_proxy_publish(cs->proxy, j->cfg); /* takes our reference */
	j->cfg = NULL;
	cs->stats.compiles++;
	cs->stats.last_compile_us = (uint64_t)(now_us() - j->t0_us);
	cs->stats.last_lag_us = (uint64_t)(uv_hrtime() - j->first_change) / 1000;
	gw_debugf("confsync", "published config at revision %lld (%llu us)",
		  (long long)cs->stats.revision, (unsigned long long)cs->stats.last_compile_us);
	job_free(j);
	if (cs->again) {
		cs->again = false;
		schedule(cs);
	}
}

static void recompile(struct gw_node_confsync *cs)
{
	struct job *j;
	int rv;

	cs->pending = false;
	if (cs->job != NULL) {
		cs->again = true; /* after the one in flight */
		return;
	}
	if (cs->resubscribe) {
		cs->resubscribe = false;
		rv = subscribe(cs, gw_store_revision(cs->store) + 1);
		if (rv != 0) {
			gw_errorf("confsync", "cannot watch the store: %s", gw_strerror(rv));
		}
	}
	j = calloc(1, sizeof *j);
	if (j == NULL) {
		return; /* the next change retries */
	}
	j->cs = cs;
	j->t0_us = now_us();
	j->first_change = cs->first_change;
	j->req.data = j;
	if (read_config(cs->store, &j->resp, &j->kvs) != 0) {
		free(j);
		return; /* logged; the old snapshot keeps serving */
	}
	cs->job = j;
	rv = uv_queue_work(cs->loop, &j->req, compile_work, compile_after);
	if (rv != 0) {
		/* no pool: compile here, as before */
		compile_work(&j->req);
		compile_after(&j->req, 0);
	}
}

static void timer_cb(uv_timer_t *t)
{
	recompile(t->data);
}

static void schedule(struct gw_node_confsync *cs)
{
	if (cs->pending || cs->stopping) {
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

static void maybe_free(struct gw_node_confsync *cs)
{
	if (cs->stopping && cs->timer_closed && cs->job == NULL) {
		free(cs);
	}
}

static void close_cb(uv_handle_t *h)
{
	struct gw_node_confsync *cs = h->data;

	cs->timer_closed = true;
	maybe_free(cs);
}

void gw_node_confsync_stop(struct gw_node_confsync *cs)
{
	cs->stopping = true;
	if (cs->watcher != NULL) {
		gw_store_unwatch(cs->watcher);
		cs->watcher = NULL;
	}
	if (cs->job != NULL) {
		/* not started yet: compile_after runs with UV_ECANCELED */
		uv_cancel((uv_req_t *)&cs->job->req);
	}
	uv_close((uv_handle_t *)&cs->timer, close_cb);
}

void gw_node_confsync_stats(const struct gw_node_confsync *cs, struct gw_node_confsync_stats *out)
{
	*out = cs->stats;
}
