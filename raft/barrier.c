/* barrier.c: linearizable reads. On the leader, readers share raft
 * barriers (one in flight, the next one proposed for everyone who arrived
 * meanwhile); on a follower the leader's read index is fetched
 * (/apigw/internal/read-index) and the reader waits until this node has
 * applied that far. Failure modes as for proposals; a reader's own deadline
 * answers GW_ETIMEOUT.
 *
 * Commit nudge: libraft sends a follower the leader's commit index only
 * with the next AppendEntries, i.e. with the next entry or the next
 * heartbeat (100 ms later when the cluster is quiet), so a follower would
 * apply, watch and serve a write up to a heartbeat late. After the leader
 * applies a write (and after it answers a follower's lease TTL), a barrier
 * entry is appended at once: its AppendEntries carries the new commit
 * index, and followers apply in one round trip. One nudge is in flight at a
 * time; writes applied meanwhile get one more when it completes. And none
 * is appended when an entry was appended after the write was applied (its
 * AppendEntries carries the commit index already): under load nudges cost
 * nothing, a quiet cluster pays one barrier per write. Control loop. */
#include "config.h"

#include "lib/err.h"
#include "lib/log.h"
#include "raft/raft_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- read barrier ------------------------------------------------------ */

typedef void (*gw_raft__index_cb)(void *data, int err, uint64_t index);

/* Linearizable reads on the leader share raft barriers: one barrier is in
 * flight at a time; readers arriving meanwhile wait for the next one, which
 * is proposed when the current one completes (a barrier proposed before a
 * read arrived could not vouch for it). Under load that is one log entry per
 * round trip instead of one per read. */
struct barrier_wait {
	uv_timer_t timer; /* the reader's deadline */
	struct gw_raft *r;
	struct gw_list link;  /* in r->barriers (next group) or in a group */
	gw_raft__index_cb cb; /* NULL once called */
	void *data;
	int err;             /* reported by the timer when set (failed at once) */
	uint64_t read_index; /* the commit index when the reader arrived */
};

struct gw_raft__barrier_group {
	struct raft_barrier req;
	struct gw_raft *r;
	struct gw_list waits;
};

static void barrier_wait_closed(uv_handle_t *h)
{
	struct barrier_wait *w = h->data;
	struct gw_raft *r = w->r;
	free(w);
	r->n_handles--;
	gw_raft__maybe_finish(r);
}

static void barrier_wait_finish(struct barrier_wait *w, int err, uint64_t index)
{
	gw_raft__index_cb cb = w->cb;

	if (cb == NULL) {
		return;
	}
	w->cb = NULL;
	gw_list_del(&w->link);
	uv_timer_stop(&w->timer);
	uv_close((uv_handle_t *)&w->timer, barrier_wait_closed);
	cb(w->data, err, index);
}

static void barrier_wait_timer_cb(uv_timer_t *t)
{
	struct barrier_wait *w = t->data;
	barrier_wait_finish(w, w->err != 0 ? w->err : GW_ETIMEOUT, 0);
}

static void barrier_kick(struct gw_raft *r);

static void barrier_group_cb(struct raft_barrier *req, int status)
{
	struct gw_raft__barrier_group *g = req->data;
	struct gw_raft *r = g->r;
	int err = gw_raft__err(status);

	/* The barrier's commit proves this node still led after every reader
	 * in the group arrived, so each reader's answer is the commit index it
	 * found on arrival (raft's ReadIndex, thesis 6.4): a follower that
	 * already applied that far reads at once, without waiting for the
	 * barrier itself to reach it. */
	if (err == 0) {
		/* an entry of this term is committed: commit indexes found from
		 * now on are current (ReadIndex's precondition) */
		r->read_term = raft_current_term(&r->raft);
	}
	while (!gw_list_empty(&g->waits)) {
		struct barrier_wait *w = gw_container_of(g->waits.next, struct barrier_wait, link);
		barrier_wait_finish(w, err, w->read_index != 0 ? w->read_index : req->index);
	}
	if (r->barrier_inflight == g) {
		r->barrier_inflight = NULL;
	}
	free(g);
	if (!gw_raft__stopping(r)) {
		barrier_kick(r);
	}
}

/* Fail every reader of @list asynchronously (through its timer), so no
 * callback runs from inside gw_raft__barrier_local. */
static void barrier_fail_all(struct gw_list *list, int err)
{
	while (!gw_list_empty(list)) {
		struct barrier_wait *w = gw_container_of(list->next, struct barrier_wait, link);
		gw_list_del(&w->link);
		w->err = err;
		uv_timer_stop(&w->timer);
		uv_timer_start(&w->timer, barrier_wait_timer_cb, 0, 0);
	}
}

/* Propose a barrier for every reader waiting, unless one is in flight. */
static void barrier_kick(struct gw_raft *r)
{
	struct gw_raft__barrier_group *g;
	int rv;

	if (r->barrier_inflight != NULL || gw_list_empty(&r->barriers)) {
		return;
	}
	if (!gw_raft__is_leader(r)) {
		barrier_fail_all(&r->barriers, gw_raft__stopping(r) ? GW_ESHUTDOWN : GW_ENOTLEADER);
		return;
	}
	g = calloc(1, sizeof *g);
	if (g == NULL) {
		barrier_fail_all(&r->barriers, GW_ENOMEM);
		return;
	}
	g->r = r;
	g->req.data = g;
	/* Move every waiting reader into the group. */
	gw_list_init(&g->waits);
	gw_list_splice_tail(&g->waits, &r->barriers);
	rv = raft_barrier(&r->raft, &g->req, barrier_group_cb);
	if (rv != 0) {
		barrier_fail_all(&g->waits, gw_raft__err(rv));
		free(g);
		return;
	}
	r->barrier_inflight = g;
}

/* Leader: once a barrier proposed after this call is applied (leadership
 * confirmed), @cb gets the commit index this call found: a reader that has
 * applied that far reads linearizably. Never called from inside this
 * function. 0 or GW_ENOMEM. */
int gw_raft__barrier_local(struct gw_raft *r, unsigned timeout_ms, gw_raft__index_cb cb, void *data)
{
	struct barrier_wait *w = calloc(1, sizeof *w);

	if (w == NULL) {
		return GW_ENOMEM;
	}
	w->r = r;
	w->cb = cb;
	w->data = data;
	/* 0 until this leader has committed an entry of its own term: its
	 * commit index may lag the previous leader's, so the barrier's own
	 * index answers instead. */
	w->read_index =
	    r->read_term == raft_current_term(&r->raft) ? raft_commit_index(&r->raft) : 0;
	gw_list_init(&w->link);
	gw_raft__timer_init(r, &w->timer, w);
	if (!gw_raft__is_leader(r)) {
		w->err = gw_raft__stopping(r) ? GW_ESHUTDOWN : GW_ENOTLEADER;
		uv_timer_start(&w->timer, barrier_wait_timer_cb, 0, 0);
		return 0;
	}
	gw_list_add_tail(&r->barriers, &w->link);
	uv_timer_start(&w->timer, barrier_wait_timer_cb, timeout_ms, 0);
	barrier_kick(r); /* a no-op while a barrier is in flight: its completion kicks */
	return 0;
}

struct waiter {
	uv_timer_t timer;
	struct gw_raft *r;
	struct gw_list link;
	uint64_t index;
	uint64_t deadline;
	gw_raft_barrier_cb cb;
	void *data;
};

static void waiter_closed(uv_handle_t *h)
{
	struct waiter *w = h->data;
	struct gw_raft *r = w->r;
	free(w);
	r->n_handles--;
	gw_raft__maybe_finish(r);
}

static void waiter_finish(struct waiter *w, int err)
{
	gw_raft_barrier_cb cb = w->cb;
	w->cb = NULL;
	gw_list_del(&w->link);
	uv_timer_stop(&w->timer);
	uv_close((uv_handle_t *)&w->timer, waiter_closed);
	if (cb != NULL) {
		cb(w->data, err);
	}
}

static void waiter_timer_cb(uv_timer_t *t)
{
	struct waiter *w = t->data;
	struct gw_raft *r = w->r;

	if (gw_raft__stopping(r)) {
		waiter_finish(w, GW_ESHUTDOWN);
	} else if (r->raft_running && raft_last_applied(&r->raft) >= w->index) {
		waiter_finish(w, 0);
	} else if (gw_raft__now(r) >= w->deadline) {
		waiter_finish(w, GW_ETIMEOUT);
	}
}

struct rb_ctx {
	struct gw_raft *r;
	gw_raft_barrier_cb cb;
	void *data;
	uint64_t deadline;
};

static void rb_local_done(void *data, int err, uint64_t index)
{
	struct rb_ctx *x = data;
	(void)index;
	x->cb(x->data, err == GW_ENOTLEADER ? GW_ELEADERCHANGED : err);
	free(x);
}

static void rb_call_done(void *data, int err, const struct gw_httpc_resp *resp)
{
	struct rb_ctx *x = data;
	struct gw_raft *r = x->r;
	unsigned long long index = 0;

	if (err == 0 && resp->gw_err != 0) {
		err = resp->gw_err;
	}
	if (err == 0 && (resp->status != 200 || resp->body.data == NULL ||
			 sscanf(resp->body.data, "{\"index\":%llu", &index) != 1)) {
		err = GW_EIO;
	}
	if (err != 0) {
		x->cb(x->data, err);
		free(x);
		return;
	}
	err = gw_raft__wait_applied(r, index, x->deadline, x->cb, x->data);
	if (err != 0) {
		x->cb(x->data, err);
	}
	free(x);
}

/* An entry was applied: check the waiters it may complete on the next loop
 * turn (not from inside libraft's apply loop), instead of at their next
 * 5 ms poll. */
void gw_raft__waiters_kick(struct gw_raft *r)
{
	struct gw_list *it;

	gw_list_foreach(it, &r->waiters)
	{
		struct waiter *w = gw_container_of(it, struct waiter, link);
		if (w->index <= raft_last_applied(&r->raft) + 1) {
			uv_timer_start(&w->timer, waiter_timer_cb, 0, 5);
		}
	}
}

int gw_raft__wait_applied(struct gw_raft *r, uint64_t index, uint64_t deadline,
			  gw_raft_barrier_cb cb, void *data)
{
	struct waiter *w = calloc(1, sizeof *w);

	if (w == NULL) {
		return GW_ENOMEM;
	}
	w->r = r;
	w->index = index;
	w->deadline = deadline;
	w->cb = cb;
	w->data = data;
	gw_raft__timer_init(r, &w->timer, w);
	gw_list_add_tail(&r->waiters, &w->link);
	uv_timer_start(&w->timer, waiter_timer_cb, 0, 5);
	return 0;
}

int gw_raft_read_barrier(struct gw_raft *r, unsigned timeout_ms, gw_raft_barrier_cb cb, void *data)
{
	struct rb_ctx *x;
	int rv;

	if (gw_raft__stopping(r)) {
		return GW_ESHUTDOWN;
	}
	if (cb == NULL) {
		return GW_EINVAL;
	}
	if (timeout_ms == 0) {
		timeout_ms = r->write_timeout_ms;
	}
	x = calloc(1, sizeof *x);
	if (x == NULL) {
		return GW_ENOMEM;
	}
	x->r = r;
	x->cb = cb;
	x->data = data;
	x->deadline = gw_raft__now(r) + timeout_ms;
	if (gw_raft__is_leader(r)) {
		rv = gw_raft__barrier_local(r, timeout_ms, rb_local_done, x);
	} else {
		rv = gw_raft__call(r, NULL, "GET", "/apigw/internal/read-index", NULL, 0,
				   timeout_ms, false, rb_call_done, x);
	}
	if (rv != 0) {
		free(x);
	}
	return rv;
}

void gw_raft__barriers_stop(struct gw_raft *r)
{
	while (!gw_list_empty(&r->waiters)) {
		waiter_finish(gw_container_of(r->waiters.next, struct waiter, link), GW_ESHUTDOWN);
	}
	while (!gw_list_empty(&r->barriers)) {
		barrier_wait_finish(gw_container_of(r->barriers.next, struct barrier_wait, link),
				    GW_ESHUTDOWN, 0);
	}
	if (r->barrier_inflight != NULL) {
		/* Its readers hear now; the group is freed when raft completes it. */
		struct gw_raft__barrier_group *g = r->barrier_inflight;
		while (!gw_list_empty(&g->waits)) {
			barrier_wait_finish(
			    gw_container_of(g->waits.next, struct barrier_wait, link), GW_ESHUTDOWN,
			    0);
		}
	}
}

/* ---- commit nudge ------------------------------------------------------ */

static void nudge_timer_cb(uv_timer_t *t);

static void nudge_cb(struct raft_barrier *req, int status)
{
	struct gw_raft *r = req->data;

	(void)status; /* a lost leadership ends the need */
	r->nudge_inflight = false;
	if (r->nudge_again && !gw_raft__stopping(r)) {
		r->nudge_again = false;
		gw_raft__nudge(r);
	}
}

static void nudge_timer_cb(uv_timer_t *t)
{
	struct gw_raft *r = t->data;

	if (r->nudge_inflight) {
		r->nudge_again = true;
		return;
	}
	if (gw_raft__stopping(r) || !gw_raft__is_leader(r)) {
		return;
	}
	if (raft_last_index(&r->raft) > r->nudge_last) {
		/* An entry appended since the write was applied: its
		 * AppendEntries already carries the commit index. Under load
		 * that is every time, and the nudge costs nothing. */
		r->nudges_skipped++;
		return;
	}
	r->nudge_req.data = r;
	if (raft_barrier(&r->raft, &r->nudge_req, nudge_cb) == 0) {
		r->nudge_inflight = true;
		r->nudges++;
	}
}

void gw_raft__nudge(struct gw_raft *r)
{
	if (!r->nudge_timer_open || gw_raft__stopping(r) || !gw_raft__is_leader(r) ||
	    r->raft.configuration.n < 2) {
		return;
	}
	r->nudge_last = raft_last_index(&r->raft);
	if (r->nudge_inflight) {
		r->nudge_again = true;
		return;
	}
	/* Not from inside libraft's apply loop: on the next loop turn. */
	if (!uv_is_active((uv_handle_t *)&r->nudge_timer)) {
		uv_timer_start(&r->nudge_timer, nudge_timer_cb, 0, 0);
	}
}

void gw_raft__nudge_stop(struct gw_raft *r)
{
	if (r->nudge_timer_open) {
		r->nudge_timer_open = false;
		uv_timer_stop(&r->nudge_timer);
		uv_close((uv_handle_t *)&r->nudge_timer, gw_raft__handle_closed);
	}
}
