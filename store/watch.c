/* watch.c: the watch hub.
 *
 * Each watcher has the next revision it expects (next_rev). A new watcher
 * first catches up from history (read in chunks of whole revisions, the
 * read txn closed before each callback so callbacks may call the store),
 * then receives the events of every committed write: gw_store_write queues
 * the revision's events and the hub drains the queue in order, so a write
 * made from inside a callback is delivered after the current revision to
 * everyone. A batch is delivered to a watcher only if its revision is >=
 * next_rev, which rules out duplicates; catching up reads until next_rev
 * passes the store's revision, which rules out gaps. Failure modes: a
 * callback returning non-zero cancels its watcher (GW_ELIMIT); a start
 * revision below the compact revision cancels with GW_ECOMPACTED. Watchers
 * are unlinked and freed only when no callback is on the stack. */
#include "config.h"

#include "store/store_int.h"

#include "lib/err.h"
#include "lib/log.h"

#include <stdlib.h>
#include <string.h>

#define CATCHUP_EVENTS 512 /* events read from history per callback, at least */

struct gw_watcher {
	struct gw_store *s;
	struct gw_list link;      /* in s->watchers */
	struct gw_store__range r; /* points into key/end below */
	char *key;                /* owned */
	char *end;                /* owned, NULL for one key */
	unsigned flags;           /* GW_WATCH_* */
	int64_t next_rev;         /* first revision not delivered yet */
	bool syncing;             /* catching up from history: live batches skip it */
	bool dead;                /* cancelled or unwatched; freed by sweep() */
	gw_watch_event_cb on_events;
	gw_watch_cancel_cb on_cancel;
	void *data;
};

void gw_store__events_free(struct gw_event *evs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		gw_store_kv_free(&evs[i].kv);
		gw_store_kv_free(&evs[i].prev_kv);
	}
	free(evs);
}

static void watcher_free(struct gw_watcher *w)
{
	free(w->key);
	free(w->end);
	free(w);
}

/* Free the dead watchers, unless a callback is running. */
static void sweep(struct gw_store *s)
{
	struct gw_list *it, *tmp;
	if (s->depth > 0 || !s->sweep) {
		return;
	}
	gw_list_foreach_safe(it, tmp, &s->watchers)
	{
		struct gw_watcher *w = gw_container_of(it, struct gw_watcher, link);
		if (w->dead) {
			gw_list_del(&w->link);
			watcher_free(w);
		}
	}
	s->sweep = false;
}

static void cancel(struct gw_watcher *w, int reason, int64_t compact_rev)
{
	struct gw_store *s = w->s;
	if (w->dead) {
		return;
	}
	w->dead = true;
	s->sweep = true;
	if (w->on_cancel != NULL) {
		s->depth++;
		w->on_cancel(w, reason, compact_rev, w->data);
		s->depth--;
	}
}

static bool wants(const struct gw_watcher *w, const struct gw_event *ev)
{
	if (ev->type == GW_EVENT_PUT && (w->flags & GW_WATCH_NOPUT)) {
		return false;
	}
	if (ev->type == GW_EVENT_DELETE && (w->flags & GW_WATCH_NODELETE)) {
		return false;
	}
	return gw_store__in_range(&w->r, ev->kv.key, ev->kv.key_len);
}

/* Hand @n events to @w; cancels it if it cannot take them. */
static void deliver(struct gw_watcher *w, const struct gw_event *evs, size_t n)
{
	struct gw_store *s = w->s;
	int rv;
	if (n == 0 || w->dead) {
		return;
	}
	s->depth++;
	rv = w->on_events(w, evs, n, w->data);
	s->depth--;
	if (rv != 0) {
		cancel(w, GW_ELIMIT, 0);
	}
}

static void deliver_batch(struct gw_store *s, const struct gw_store__batch *b)
{
	struct gw_event *tmp = NULL;
	struct gw_list *it;
	if (b->n > 0) {
		tmp = malloc(b->n * sizeof(*tmp));
	}
	/* Callbacks may add watchers (at the tail) or kill them (freed by
	 * sweep() only once no callback runs), so the walk stays valid. */
	gw_list_foreach(it, &s->watchers)
	{
		struct gw_watcher *w = gw_container_of(it, struct gw_watcher, link);
		size_t m = 0;
		if (w->dead || w->syncing || b->revision < w->next_rev) {
			continue;
		}
		w->next_rev = b->revision + 1;
		if (tmp == NULL) {
			/* the revision cannot be delivered whole: a gap is worse */
			gw_errorf("store", "watch: out of memory, cancelling a watcher");
			cancel(w, GW_ELIMIT, 0);
			continue;
		}
		for (size_t i = 0; i < b->n; i++) {
			if (!wants(w, &b->evs[i])) {
				continue;
			}
			tmp[m] = b->evs[i];
			if (!(w->flags & GW_WATCH_PREV_KV)) {
				tmp[m].has_prev_kv = false;
				memset(&tmp[m].prev_kv, 0, sizeof(tmp[m].prev_kv));
			}
			m++;
		}
		deliver(w, tmp, m);
	}
	free(tmp);
}

void gw_store__notify(struct gw_store *s, int64_t revision, struct gw_event *evs, size_t n)
{
	struct gw_store__batch *b = malloc(sizeof(*b));
	struct gw_list *it;
	if (b == NULL) {
		/* every live watcher would miss this revision: cancel them */
		gw_errorf("store", "watch: out of memory, cancelling every watcher");
		gw_store__events_free(evs, n);
		gw_list_foreach(it, &s->watchers)
		{
			cancel(gw_container_of(it, struct gw_watcher, link), GW_ELIMIT, 0);
		}
		sweep(s);
		return;
	}
	b->revision = revision;
	b->evs = evs;
	b->n = n;
	gw_list_add_tail(&s->pending, &b->link);
	if (s->draining) {
		return; /* a write from inside a callback: the outer loop delivers it */
	}
	s->draining = true;
	while ((it = gw_list_first(&s->pending)) != NULL) {
		b = gw_container_of(it, struct gw_store__batch, link);
		gw_list_del(&b->link);
		deliver_batch(s, b);
		gw_store__events_free(b->evs, b->n);
		free(b);
	}
	s->draining = false;
	sweep(s);
}

struct chunk {
	struct gw_event *evs;
	size_t n;
	size_t cap;
};

/* Read the events of @w's range from w->next_rev on, whole revisions, about
 * CATCHUP_EVENTS of them, up to the store's revision; advances next_rev. */
static int read_chunk(struct gw_watcher *w, struct chunk *c)
{
	struct gw_store *s = w->s;
	unsigned char hk[16];
	MDB_cursor *cur;
	MDB_txn *txn;
	MDB_val k = {16, hk}, v;
	int64_t last = 0, next = s->rev + 1;
	size_t seen = 0;
	int rc, rv;

	rv = gw_store__rtxn(s, &txn);
	if (rv != 0) {
		return rv;
	}
	rc = mdb_cursor_open(txn, s->hist, &cur);
	if (rc != 0) {
		rv = gw_store__mdb_err(rc, "cursor open");
		goto out;
	}
	gw_store__put_u64(hk, (uint64_t)w->next_rev);
	gw_store__put_u64(hk + 8, 0);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct gw_event ev;
		int64_t rev;
		if (k.mv_size != 16) {
			rv = GW_ECORRUPT;
			break;
		}
		rev = (int64_t)gw_store__get_u64(k.mv_data);
		if (rev > s->rev) {
			break;
		}
		if (seen >= CATCHUP_EVENTS && rev != last) {
			next = rev; /* the chunk ends with a whole revision */
			break;
		}
		last = rev;
		seen++;
		rv = gw_store__dec_event(v.mv_data, v.mv_size, &ev);
		if (rv != 0) {
			break;
		}
		if (!wants(w, &ev)) {
			gw_store_kv_free(&ev.kv);
			gw_store_kv_free(&ev.prev_kv);
			continue;
		}
		if (!(w->flags & GW_WATCH_PREV_KV)) {
			gw_store_kv_free(&ev.prev_kv);
			ev.has_prev_kv = false;
		}
		if (c->n == c->cap) {
			size_t cap = c->cap ? c->cap * 2 : 16;
			struct gw_event *nv = realloc(c->evs, cap * sizeof(*nv));
			if (nv == NULL) {
				gw_store_kv_free(&ev.kv);
				gw_store_kv_free(&ev.prev_kv);
				rv = GW_ENOMEM;
				break;
			}
			c->evs = nv;
			c->cap = cap;
		}
		c->evs[c->n++] = ev;
	}
	if (rv == 0 && rc != 0 && rc != MDB_NOTFOUND) {
		rv = gw_store__mdb_err(rc, "cursor get");
	}
	mdb_cursor_close(cur);
	if (rv == 0) {
		w->next_rev = next;
	}
out:
	gw_store__rtxn_done(s);
	return rv;
}

/* Deliver history to a syncing watcher until it reaches the store's
 * revision; it is live afterwards (or dead). */
static void catch_up(struct gw_watcher *w)
{
	struct gw_store *s = w->s;
	w->syncing = true;
	while (!w->dead && w->next_rev <= s->rev) {
		struct chunk c = {0};
		int rv;
		if (w->next_rev < s->compact_rev) {
			cancel(w, GW_ECOMPACTED, s->compact_rev);
			break;
		}
		rv = read_chunk(w, &c);
		if (rv != 0) {
			gw_store__events_free(c.evs, c.n);
			gw_errorf("store", "watch: reading history: %s", gw_strerror(rv));
			cancel(w, GW_ELIMIT, 0);
			break;
		}
		deliver(w, c.evs, c.n);
		gw_store__events_free(c.evs, c.n);
	}
	w->syncing = false;
}

int gw_store_watch(struct gw_store *s, const struct gw_watch_opts *opts, struct gw_watcher **out)
{
	struct gw_watcher *w;

	*out = NULL;
	if (opts == NULL || opts->on_events == NULL || (opts->key == NULL && opts->key_len > 0) ||
	    (opts->range_end == NULL && opts->range_end_len > 0)) {
		return GW_EINVAL;
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		return GW_ENOMEM;
	}
	w->s = s;
	w->key = malloc(opts->key_len + 1);
	w->end = opts->range_end_len ? malloc(opts->range_end_len) : NULL;
	if (w->key == NULL || (opts->range_end_len && w->end == NULL)) {
		watcher_free(w);
		return GW_ENOMEM;
	}
	if (opts->key_len) {
		memcpy(w->key, opts->key, opts->key_len);
	}
	if (opts->range_end_len) {
		memcpy(w->end, opts->range_end, opts->range_end_len);
	}
	gw_store__range_of(&w->r, w->key, opts->key_len, w->end, opts->range_end_len);
	w->flags = opts->flags;
	w->on_events = opts->on_events;
	w->on_cancel = opts->on_cancel;
	w->data = opts->data;
	w->next_rev = opts->start_revision > 0 ? opts->start_revision : s->rev + 1;
	if (w->next_rev < s->compact_rev) {
		int64_t compact = s->compact_rev;
		if (w->on_cancel != NULL) {
			s->depth++;
			w->on_cancel(w, GW_ECOMPACTED, compact, w->data);
			s->depth--;
		}
		watcher_free(w);
		return 0;
	}
	gw_list_add_tail(&s->watchers, &w->link);
	*out = w;
	catch_up(w);
	if (w->dead) {
		*out = NULL;
	}
	sweep(s);
	return 0;
}

void gw_store_unwatch(struct gw_watcher *w)
{
	if (w == NULL || w->dead) {
		return;
	}
	w->dead = true;
	w->s->sweep = true;
	sweep(w->s);
}

void gw_store__watch_after_restore(struct gw_store *s)
{
	struct gw_list *it;

	gw_list_foreach(it, &s->watchers)
	{
		struct gw_watcher *w = gw_container_of(it, struct gw_watcher, link);
		if (!w->dead && w->next_rev <= s->rev) {
			catch_up(w);
		}
	}
	sweep(s);
}

void gw_store__watch_shutdown(struct gw_store *s)
{
	struct gw_list *it;

	while ((it = gw_list_first(&s->pending)) != NULL) {
		struct gw_store__batch *b = gw_container_of(it, struct gw_store__batch, link);
		gw_list_del(&b->link);
		gw_store__events_free(b->evs, b->n);
		free(b);
	}
	gw_list_foreach(it, &s->watchers)
	{
		cancel(gw_container_of(it, struct gw_watcher, link), GW_ESHUTDOWN, 0);
	}
	s->depth = 0;
	sweep(s);
}
