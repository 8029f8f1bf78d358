/* etcd_watch.c: the Watch service, a bidi stream carrying many watches.
 *
 * Happy path: a create request gets a "created" response (header revision =
 * the store's current revision), then the watch is registered with
 * gw_store_watch: past events from start_revision are replayed, then live
 * events follow, each store batch (whole revisions) sent as one
 * WatchResponse. A cancel request removes one watch and answers
 * canceled=true; a progress request answers watch_id -1 with the current
 * revision; watches with progress_notify get an empty response every
 * progress_notify_ms.
 * Failure modes: a compacted start revision -> canceled=true with
 * compact_revision (etcdctl prints etcd's compacted message); more watches
 * than max_watchers on a connection, or a duplicate watch_id -> created and
 * canceled with a cancel_reason; a stream whose output is over its bound
 * (slow reader) -> the store cancels that watcher and the client is told.
 * When the client goes away every watch is removed and the call ends.
 * Threads: the server's loop (store callbacks run there too). */
#include "config.h"

#include "admin/etcd_int.h"
#include "lib/err.h"
#include "lib/log.h"
#include "raft/raft.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

struct watch;

struct wstream {
	struct gw_etcd__call *c;
	struct gw_list watches; /* of struct watch (link) */
	int64_t next_id;        /* next automatic watch id */
	uv_timer_t *progress;   /* progress_notify ticks; NULL until needed; freed on close */
};

struct watch {
	struct wstream *ws;
	int64_t id;
	struct gw_watcher *w; /* NULL once the store dropped it */
	bool progress_notify;
	bool creating;       /* inside gw_store_watch */
	bool dead;           /* cancelled while creating: free after it returns */
	struct gw_list link; /* in ws->watches */
};

typedef Etcdserverpb__WatchResponse WResp;

/* Send @r with a fresh header (a copy carries it; @r is left as it was). */
static int send_resp(struct wstream *ws, const WResp *r)
{
	Etcdserverpb__ResponseHeader h = ETCDSERVERPB__RESPONSE_HEADER__INIT;
	WResp m = *r;
	gw_etcd__header(ws->c->srv, &h, 0);
	m.header = &h;
	return gw_etcd__send(ws->c, &m.base);
}

static void unlink_watch(struct watch *w)
{
	struct wstream *ws = w->ws;
	gw_list_del(&w->link);
	if (*ws->c->conn_watchers > 0) {
		(*ws->c->conn_watchers)--;
	}
}

static int on_events(struct gw_watcher *gw, const struct gw_event *evs, size_t n, void *data)
{
	struct watch *w = data;
	struct wstream *ws = w->ws;
	WResp r = ETCDSERVERPB__WATCH_RESPONSE__INIT;
	struct gw_etcd__arena a;
	size_t i;
	int rv = 0;

	(void)gw;
	if (ws->c->gone || n == 0) {
		return 0;
	}
	gw_etcd__arena_init(&a);
	r.watch_id = w->id;
	r.events = gw_etcd__arena_alloc(&a, n * sizeof *r.events);
	if (r.events == NULL) {
		rv = 1;
		goto out;
	}
	for (i = 0; i < n; i++) {
		Etcdserverpb__Event *e = gw_etcd__arena_alloc(&a, sizeof *e);
		if (e == NULL) {
			rv = 1;
			goto out;
		}
		etcdserverpb__event__init(e);
		e->type = evs[i].type == GW_EVENT_DELETE ? ETCDSERVERPB__EVENT__EVENT_TYPE__DELETE
							 : ETCDSERVERPB__EVENT__EVENT_TYPE__PUT;
		e->kv = gw_etcd__kv_of(&a, &evs[i].kv);
		if (e->kv == NULL) {
			rv = 1;
			goto out;
		}
		if (evs[i].has_prev_kv) {
			e->prev_kv = gw_etcd__kv_of(&a, &evs[i].prev_kv);
			if (e->prev_kv == NULL) {
				rv = 1;
				goto out;
			}
		}
		r.events[i] = e;
	}
	r.n_events = n;
	/* Over the stream's bound: let the store cancel this watcher. */
	rv = send_resp(ws, &r) != 0 ? 1 : 0;
out:
	gw_etcd__arena_free(&a);
	return rv;
}

static void on_cancel(struct gw_watcher *gw, int reason, int64_t compact_revision, void *data)
{
	struct watch *w = data;
	struct wstream *ws = w->ws;
	WResp r = ETCDSERVERPB__WATCH_RESPONSE__INIT;

	(void)gw;
	w->w = NULL;
	if (!ws->c->gone) {
		r.watch_id = w->id;
		r.canceled = true;
		if (reason == GW_ECOMPACTED) {
			r.compact_revision = compact_revision;
		} else if (reason == GW_ELIMIT) {
			r.cancel_reason = (char *)"etcdserver: watch canceled: the client reads "
						  "events slower than they are produced";
		} else {
			r.cancel_reason = (char *)gw_etcd__status_of(reason).msg;
		}
		send_resp(ws, &r);
	}
	unlink_watch(w);
	if (w->creating) {
		w->dead = true;
	} else {
		free(w);
	}
}

static void progress_tick(uv_timer_t *t)
{
	struct wstream *ws = t->data;
	struct gw_list *it;
	gw_list_foreach(it, &ws->watches)
	{
		struct watch *w = gw_container_of(it, struct watch, link);
		if (w->progress_notify && w->w != NULL) {
			WResp r = ETCDSERVERPB__WATCH_RESPONSE__INIT;
			r.watch_id = w->id;
			send_resp(ws, &r);
		}
	}
}

static struct watch *find(struct wstream *ws, int64_t id)
{
	struct gw_list *it;
	gw_list_foreach(it, &ws->watches)
	{
		struct watch *w = gw_container_of(it, struct watch, link);
		if (w->id == id) {
			return w;
		}
	}
	return NULL;
}

static void refuse(struct wstream *ws, const char *why)
{
	WResp r = ETCDSERVERPB__WATCH_RESPONSE__INIT;
	r.watch_id = -1;
	r.created = true;
	r.canceled = true;
	r.cancel_reason = (char *)why;
	send_resp(ws, &r);
}

static void create(struct wstream *ws, const Etcdserverpb__WatchCreateRequest *q)
{
	struct gw_etcd__call *c = ws->c;
	struct gw_etcd *srv = c->srv;
	struct gw_watch_opts o;
	struct watch *w;
	WResp r = ETCDSERVERPB__WATCH_RESPONSE__INIT;
	size_t i;
	int rv;

	if (c->require_leader && srv->opts.raft != NULL) {
		struct gw_etcd__status st = gw_etcd__status_of(GW_ENOLEADER);
		gw_raft_status(srv->opts.raft, srv->status);
		srv->status_at = uv_now(srv->loop);
		srv->status_valid = true;
		if (srv->status->leader_id == 0) {
			/* etcd refuses a require-leader watch without a leader:
			 * its events could stop without anyone noticing */
			refuse(ws, st.msg);
			return;
		}
	}
	if (*c->conn_watchers >= srv->opts.max_watchers) {
		refuse(ws, "etcdserver: too many watchers on this connection");
		return;
	}
	if (q->watch_id < 0 || (q->watch_id != 0 && find(ws, q->watch_id) != NULL)) {
		refuse(ws, "mvcc: watcher ID already in use");
		return;
	}
	w = calloc(1, sizeof *w);
	if (w == NULL) {
		refuse(ws, "etcdserver: too many requests");
		return;
	}
	w->ws = ws;
	if (q->watch_id != 0) {
		w->id = q->watch_id;
	} else {
		while (find(ws, ws->next_id) != NULL) {
			ws->next_id++;
		}
		w->id = ws->next_id++;
	}
	w->progress_notify = q->progress_notify;
	gw_list_add_head(&ws->watches, &w->link);
	(*c->conn_watchers)++;

	r.watch_id = w->id;
	r.created = true;
	send_resp(ws, &r);

	memset(&o, 0, sizeof o);
	o.key = (const char *)q->key.data;
	o.key_len = q->key.len;
	o.range_end = (const char *)q->range_end.data;
	o.range_end_len = q->range_end.len;
	o.start_revision = q->start_revision;
	for (i = 0; i < q->n_filters; i++) {
		if (q->filters[i] == ETCDSERVERPB__WATCH_CREATE_REQUEST__FILTER_TYPE__NOPUT) {
			o.flags |= GW_WATCH_NOPUT;
		} else if (q->filters[i] ==
			   ETCDSERVERPB__WATCH_CREATE_REQUEST__FILTER_TYPE__NODELETE) {
			o.flags |= GW_WATCH_NODELETE;
		}
	}
	if (q->prev_kv) {
		o.flags |= GW_WATCH_PREV_KV;
	}
	o.on_events = on_events;
	o.on_cancel = on_cancel;
	o.data = w;
	w->creating = true;
	rv = gw_store_watch(srv->opts.store, &o, &w->w);
	w->creating = false;
	if (w->dead) {
		free(w);
		return;
	}
	if (rv != 0) {
		w->w = NULL;
		on_cancel(NULL, rv, 0, w);
		return;
	}
	if (w->progress_notify && ws->progress == NULL) {
		ws->progress = malloc(sizeof *ws->progress);
		if (ws->progress != NULL) {
			uv_timer_init(srv->loop, ws->progress);
			ws->progress->data = ws;
			uv_timer_start(ws->progress, progress_tick, srv->opts.progress_notify_ms,
				       srv->opts.progress_notify_ms);
		}
	}
}

static void cancel(struct wstream *ws, int64_t id)
{
	struct watch *w = find(ws, id);
	WResp r = ETCDSERVERPB__WATCH_RESPONSE__INIT;

	if (w == NULL) {
		return; /* etcd 3.4 answers nothing for an unknown id */
	}
	if (w->w != NULL) {
		gw_store_unwatch(w->w);
	}
	unlink_watch(w);
	free(w);
	r.watch_id = id;
	r.canceled = true;
	send_resp(ws, &r);
}

void gw_etcd__watch_msg(struct gw_etcd__call *c, const ProtobufCMessage *msg)
{
	const Etcdserverpb__WatchRequest *q = (const Etcdserverpb__WatchRequest *)msg;
	struct wstream *ws = c->svc;

	if (ws == NULL) {
		ws = calloc(1, sizeof *ws);
		if (ws == NULL) {
			return; /* the stream stays idle; the client sees no answer */
		}
		ws->c = c;
		gw_list_init(&ws->watches);
		c->svc = ws;
	}
	switch (q->request_union_case) {
	case ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST:
		create(ws, q->create_request);
		break;
	case ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CANCEL_REQUEST:
		cancel(ws, q->cancel_request->watch_id);
		break;
	case ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_PROGRESS_REQUEST: {
		WResp r = ETCDSERVERPB__WATCH_RESPONSE__INIT;
		r.watch_id = -1;
		send_resp(ws, &r);
		break;
	}
	default:
		break;
	}
}

void gw_etcd__watch_end(struct gw_etcd__call *c, bool gone)
{
	struct wstream *ws = c->svc;

	if (!gone) {
		return; /* a half-closed watch stream keeps delivering (as etcd does) */
	}
	if (ws != NULL) {
		while (!gw_list_empty(&ws->watches)) {
			struct watch *w = gw_container_of(ws->watches.next, struct watch, link);
			if (w->w != NULL) {
				gw_store_unwatch(w->w);
			}
			unlink_watch(w);
			free(w);
		}
		if (ws->progress != NULL) {
			uv_close((uv_handle_t *)ws->progress, (uv_close_cb)free);
		}
		free(ws);
		c->svc = NULL;
	}
	gw_etcd__finish(c, GW_ECANCELED);
}
