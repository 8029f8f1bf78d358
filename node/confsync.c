/* confsync.c: store → proxy config (see confsync.h).
 *
 * Happy path: a watch on [/apisix/, /apisix0) delivers committed events,
 * which are copied into a pending list (the delta); the first event of a
 * quiet period schedules a compile on the next loop turn. The compile runs
 * on libuv's thread pool with the proxy's incremental compiler
 * (gw_proxy_cache): it applies the delta, recompiling only the changed
 * objects and what depends on them, and makes a snapshot that shares
 * everything else with the previous one; the snapshot is published back on
 * the loop. So a change costs the loop a copy of its events, and the pool
 * a few objects, whatever the config's size. At start, and whenever the
 * delta cannot be trusted (the watch was cancelled, a compile ran out of
 * memory, the pending list outgrew its bound), the whole prefix is read at
 * the current revision on the loop (which owns the store) and the cache is
 * synchronised with it (unchanged keys, by mod_revision, are not
 * recompiled). One compile is in flight at a time; changes that arrive
 * meanwhile are compiled together when it ends.
 * A host name of an upstream node that resolves to other addresses
 * (proxy/dns.c, on its own thread) wakes the loop, which schedules a
 * compile with no change: the cache recompiles the objects using the name.
 * Failure modes: a compile that fails (out of memory) keeps the old snapshot
 * and the next change resynchronises; a watch cancelled by the store (slow
 * subscriber, snapshot restore, compaction) or a pending list over
 * PENDING_MAX_BYTES (the watch is then cancelled too) is re-created from the
 * current revision followed by a resync, so no change is ever missed. Stop
 * while a compile runs: the compile is cancelled if it has not started,
 * else its result is dropped; the struct (and the cache) is freed once both
 * the timer and the compile are done.
 * Threads: the control loop, except compile_work on the pool (it owns its
 * job and, while it runs, the cache). */
#include "config.h"

#include "node/confsync.h"
#include "lib/err.h"
#include "lib/log.h"

#include <stdlib.h>
#include <string.h>

#define PREFIX            "/apisix/"
#define PREFIX_END        "/apisix0" /* '/' + 1 == '0': the end of the prefix range */
#define COALESCE_MS       0 /* the next loop turn: a burst in flight coalesces behind the compile */
#define PENDING_MAX_BYTES (64u << 20) /* a bigger delta is replaced by a resync */

/* Changes waiting for a compile: copies of watch events. */
struct delta {
	struct gw_proxy_kv *v; /* key and value malloc'ed; value NULL = delete */
	size_t n, cap;
	size_t bytes;
	int64_t revision; /* of the last event */
};

struct gw_node_confsync {
	uv_loop_t *loop;
	struct gw_store *store;
	struct gw_proxy *proxy;
	struct gw_watcher *watcher;
	uv_timer_t timer; /* coalesces a burst of changes into one compile */
	uv_async_t dns;   /* the resolver changed a host name's addresses */
	int open;         /* handles not yet closed (timer, dns) */
	struct job *job;  /* the compile on the thread pool, or NULL */
	bool again;       /* changes arrived while it ran */
	bool stopping;
	bool pending;                 /* a change waits for the timer */
	bool resubscribe;             /* the watch was cancelled: re-create it */
	bool need_sync;               /* the next compile reads the whole config */
	struct delta delta;           /* changes since the last compile was queued */
	struct gw_proxy_cache *cache; /* the incremental compiler (the job's while it runs) */
	uint64_t first_change;        /* uv_hrtime of the first pending change */
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
		kvs[i].value = resp->kvs[i].value != NULL ? resp->kvs[i].value : "";
		kvs[i].value_len = resp->kvs[i].value_len;
		kvs[i].create_revision = resp->kvs[i].create_revision;
		kvs[i].mod_revision = resp->kvs[i].mod_revision;
	}
	*out = kvs;
	return 0;
}

int gw_node_confsync_compile(struct gw_store *store, struct gw_proxy_cache **cache,
			     struct gw_proxy_config **out)
{
	struct gw_range_resp resp;
	struct gw_proxy_kv *kvs;
	int rv;

	*cache = NULL;
	*out = NULL;
	rv = read_config(store, &resp, &kvs);
	if (rv != 0) {
		return rv;
	}
	rv = gw_proxy_cache_new(cache);
	if (rv == 0) {
		rv = gw_proxy_cache_sync(*cache, kvs, resp.n_kvs, resp.revision, out);
	}
	if (rv != 0) {
		gw_proxy_cache_free(*cache);
		*cache = NULL;
	}
	free(kvs);
	gw_store_range_resp_free(&resp);
	return rv;
}

/* A NUL-terminated malloc'ed copy of @n bytes, or NULL. */
static char *dup_bytes(const char *p, size_t n)
{
	char *s = malloc(n + 1);
	if (s != NULL) {
		memcpy(s, p, n);
		s[n] = '\0';
	}
	return s;
}

static void delta_clear(struct delta *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free((char *)d->v[i].key);
		free((char *)d->v[i].value);
	}
	free(d->v);
	memset(d, 0, sizeof *d);
}

/* Copy @n events into @d. 0, or GW_ENOMEM / GW_ELIMIT (then @d is
 * incomplete: the caller resynchronises). */
static int delta_add(struct delta *d, const struct gw_event *evs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct gw_kv *kv = &evs[i].kv;
		struct gw_proxy_kv *o;
		if (d->n == d->cap) {
			size_t cap = d->cap ? d->cap * 2 : 16;
			void *p = realloc(d->v, cap * sizeof *d->v);
			if (p == NULL) {
				return GW_ENOMEM;
			}
			d->v = p;
			d->cap = cap;
		}
		o = &d->v[d->n];
		memset(o, 0, sizeof *o);
		d->bytes += kv->key_len + kv->value_len + sizeof *o;
		if (d->bytes > PENDING_MAX_BYTES) {
			return GW_ELIMIT;
		}
		o->key = dup_bytes(kv->key, kv->key_len);
		if (o->key == NULL) {
			return GW_ENOMEM;
		}
		o->key_len = kv->key_len;
		if (evs[i].type != GW_EVENT_DELETE) {
			o->value = dup_bytes(kv->value != NULL ? kv->value : "", kv->value_len);
			if (o->value == NULL) {
				free((char *)o->key);
				return GW_ENOMEM;
			}
			o->value_len = kv->value_len;
			o->create_revision = kv->create_revision;
		}
		o->mod_revision = kv->mod_revision;
		d->n++;
		if (kv->mod_revision > d->revision) {
			d->revision = kv->mod_revision;
		}
	}
	return 0;
}

/* One compile handed to the thread pool. */
struct job {
	uv_work_t req;
	struct gw_node_confsync *cs;
	struct gw_proxy_cache *cache; /* the compiler, lent to the job */
	bool sync;                    /* resp/kvs: the whole config; else delta */
	struct delta delta;
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
static void close_cb(uv_handle_t *h);

static void job_free(struct job *j)
{
	gw_proxy_config_unref(j->cfg);
	delta_clear(&j->delta);
	if (j->sync) {
		free(j->kvs);
		gw_store_range_resp_free(&j->resp);
	}
	free(j);
}

static void compile_work(uv_work_t *req)
{
	struct job *j = req->data;

	if (j->sync) {
		j->rv =
		    gw_proxy_cache_sync(j->cache, j->kvs, j->resp.n_kvs, j->resp.revision, &j->cfg);
	} else {
		j->rv = gw_proxy_cache_apply(j->cache, j->delta.v, j->delta.n, j->delta.revision,
					     &j->cfg);
	}
}

static void compile_after(uv_work_t *req, int status)
{
	struct job *j = req->data;
	struct gw_node_confsync *cs = j->cs;

	cs->job = NULL;
	{
		/* the cache is ours again */
		struct gw_proxy_cache_stats st;
		gw_proxy_cache_stats(cs->cache, &st);
		cs->stats.objects_compiled = st.objects_compiled;
		cs->stats.last_objects = st.last_compiled;
		cs->stats.router_copies = st.router_copies;
	}
	if (status != 0 || j->rv != 0) {
		/* cancelled (the delta is lost) or out of memory (the cache
		 * is behind): the old snapshot keeps serving, the next change
		 * resynchronises */
		cs->need_sync = true;
	}
	if (cs->stopping || status != 0 || j->rv != 0) {
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
	j->cache = cs->cache;
	j->t0_us = now_us();
	j->first_change = cs->first_change;
	j->req.data = j;
	if (cs->need_sync) {
		if (read_config(cs->store, &j->resp, &j->kvs) != 0) {
			free(j);
			return; /* logged; the old snapshot keeps serving */
		}
		j->sync = true;
		cs->need_sync = false;
		delta_clear(&cs->delta); /* the read holds them */
	} else {
		j->delta = cs->delta; /* the job takes the pending changes */
		memset(&cs->delta, 0, sizeof cs->delta);
		if (j->delta.revision == 0) {
			j->delta.revision = gw_store_revision(cs->store);
		}
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
	struct gw_node_confsync *cs = data;
	(void)w;
	if (!cs->need_sync) {
		int rv = delta_add(&cs->delta, evs, n);
		if (rv != 0) {
			/* too big or out of memory: drop the delta; the watch is
			 * cancelled (on_cancel) and the config re-read */
			gw_warnf("confsync", "config delta dropped (%s): re-reading the config",
				 gw_strerror(rv));
			delta_clear(&cs->delta);
			cs->need_sync = true;
			return 1;
		}
	}
	schedule(cs);
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
	cs->need_sync = true;
	delta_clear(&cs->delta);
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

/* Resolver thread: a host name's addresses changed. */
static void dns_changed(void *arg)
{
	struct gw_node_confsync *cs = arg;
	uv_async_send(&cs->dns);
}

static void dns_cb(uv_async_t *a)
{
	schedule(a->data); /* an empty delta: the cache recompiles the names' users */
}

int gw_node_confsync_start(uv_loop_t *loop, struct gw_store *store, struct gw_proxy *proxy,
			   int64_t from_revision, struct gw_proxy_cache *cache,
			   struct gw_node_confsync **out)
{
	struct gw_node_confsync *cs = calloc(1, sizeof *cs);
	int rv;
	if (cs == NULL) {
		gw_proxy_cache_free(cache);
		return GW_ENOMEM;
	}
	cs->loop = loop;
	cs->store = store;
	cs->proxy = proxy;
	cs->stats.revision = from_revision;
	cs->need_sync = cache == NULL; /* a new cache starts empty */
	uv_timer_init(loop, &cs->timer);
	cs->timer.data = cs;
	uv_async_init(loop, &cs->dns, dns_cb);
	cs->dns.data = cs;
	cs->open = 2;
	if (cache != NULL && gw_proxy_cache_names_unresolved(cache)) {
		/* the start compile had no resolver yet: compile again, with
		 * it, in the background (only configs with host-name nodes) */
		gw_proxy_cache_free(cache);
		cache = NULL;
		cs->need_sync = true;
	}
	cs->cache = cache;
	rv = cache != NULL ? 0 : gw_proxy_cache_new(&cs->cache);
	if (rv != 0) {
		cs->stopping = true;
		uv_close((uv_handle_t *)&cs->timer, close_cb);
		uv_close((uv_handle_t *)&cs->dns, close_cb);
		return rv;
	}
	/* host-name nodes: a changed answer recompiles what uses the name */
	gw_proxy_cache_use_dns(cs->cache, proxy, dns_changed, cs);
	/* Changes committed after the snapshot was compiled are replayed from
	 * history, so nothing between compile and subscribe is missed. */
	rv = subscribe(cs, from_revision + 1);
	if (rv != 0) {
		gw_errorf("confsync", "cannot watch the store: %s", gw_strerror(rv));
		gw_node_confsync_stop(cs);
		return rv;
	}
	if (cs->need_sync) {
		/* fill the cache in the background (its snapshot equals the one
		 * the node started with, unless something changed since) */
		schedule(cs);
	}
	*out = cs;
	return 0;
}

static void maybe_free(struct gw_node_confsync *cs)
{
	if (cs->stopping && cs->open == 0 && cs->job == NULL) {
		gw_proxy_cache_free(cs->cache);
		delta_clear(&cs->delta);
		free(cs);
	}
}

static void close_cb(uv_handle_t *h)
{
	struct gw_node_confsync *cs = h->data;

	cs->open--;
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
	gw_proxy_cache_dns_notify(cs->cache, NULL, NULL); /* before its handle closes */
	uv_close((uv_handle_t *)&cs->timer, close_cb);
	uv_close((uv_handle_t *)&cs->dns, close_cb);
}

void gw_node_confsync_stats(const struct gw_node_confsync *cs, struct gw_node_confsync_stats *out)
{
	*out = cs->stats;
}

int64_t gw_node_confsync_served(const struct gw_node_confsync *cs)
{
	bool idle = cs->job == NULL && !cs->pending && !cs->again && !cs->need_sync &&
		    !cs->resubscribe && cs->delta.n == 0 && cs->watcher != NULL && !cs->stopping;
	int64_t rev = gw_store_revision(cs->store);

	return idle && rev > cs->stats.revision ? rev : cs->stats.revision;
}
