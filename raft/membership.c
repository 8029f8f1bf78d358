/* membership.c: membership changes, run by the leader one at a time
 * (a queue of tasks: join, promote, demote, remove), member removal from any
 * node, and leadership transfer. A change that raft cannot start yet
 * (RAFT_CANTCHANGE: one is uncommitted) stays at the head of the queue and
 * is retried on the next tick. Failure modes: the last voter is never
 * removed (GW_EINVAL); a join at another member's address is refused
 * (GW_EEXIST); losing leadership fails queued tasks with GW_ENOTLEADER.
 * Control loop. */
#include "config.h"

#include "lib/err.h"
#include "lib/log.h"
#include "raft/raft_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- membership changes (leader, one at a time) ------------------------- */

struct gw_raft__mtask {
	struct gw_list link;
	struct gw_raft *r;
	enum gw_raft__mtask_kind kind;
	uint64_t id;
	char address[64];
	struct raft_change change;
	gw_raft__join_cb jcb;  /* JOIN: called when done */
	gw_raft_barrier_cb cb; /* or this one (REMOVE) */
	void *data;
	int step;
	int role; /* JOIN: the role given */
};

static void mtask_done(struct gw_raft__mtask *t, int err)
{
	struct gw_raft *r = t->r;

	GW_ASSERT(!gw_list_linked(&t->link)); /* a finished task is queued nowhere */
	if (r->mtask_cur == t) {
		r->mtask_cur = NULL;
	}
	if (err != 0 && t->kind != GW_RAFT__MT_PROMOTE && t->kind != GW_RAFT__MT_DEMOTE) {
		gw_warnf("raft", "membership change for %016" PRIx64 " failed: %s", t->id,
			 gw_strerror(err));
	}
	if (t->jcb != NULL) {
		t->jcb(t->data, err, t->id, gw_raft__map_role(t->role));
	} else if (t->cb != NULL) {
		t->cb(t->data, err);
	}
	free(t);
	if (!gw_raft__stopping(r)) {
		gw_raft__mtask_kick_later(r);
	}
}

static void mtask_step(struct gw_raft__mtask *t);

static void mtask_change_cb(struct raft_change *req, int status)
{
	struct gw_raft__mtask *t = req->data;
	struct gw_raft *r = t->r;

	if (status != 0) {
		mtask_done(t, gw_raft__err(status));
		return;
	}
	/* The next step starts from the loop, not from inside libraft's
	 * callback. (The ASan report that first motivated this, a read of
	 * configuration memory freed by the next change, was libraft's
	 * InstallSnapshot address: fixed in io_guard.c.) */
	t->step++;
	r->mtask_cur = NULL;
	gw_list_add_head(&r->mtasks, &t->link);
	gw_raft__mtask_kick_later(r);
}

static void kick_cb(uv_timer_t *timer)
{
	gw_raft__mtask_kick(timer->data);
}

void gw_raft__mtask_kick_later(struct gw_raft *r)
{
	if (r->mtask_timer_open) {
		uv_timer_start(&r->mtask_timer, kick_cb, 0, 0);
	}
}

static void removed_notified(void *data, int err, const struct gw_httpc_resp *resp)
{
	uint64_t id = (uint64_t)(uintptr_t)data;

	if (err == GW_ESHUTDOWN) {
		return;
	}
	if (err != 0 || resp->status != 200) {
		gw_warnf("raft",
			 "could not tell removed member %016" PRIx64
			 " that it was removed (%s): it keeps running outside the cluster "
			 "until stopped",
			 id, err != 0 ? gw_strerror(err) : "refused");
	}
}

static void meta_deleted(void *data, int err, struct gw_store_result *res)
{
	(void)data;
	(void)err;
	if (res != NULL) {
		gw_store_result_free(res);
	}
}

/* Run the next step of @t; steps continue in mtask_change_cb. */
/* A step either finished the task (STEP_DONE: mtask_done was called) or
 * returns what raft said to the change it started (0, RAFT_CANTCHANGE, or
 * an error). */
#define STEP_DONE (-1) /* raft's own codes are positive */

static int finish(struct gw_raft__mtask *t, int err)
{
	mtask_done(t, err);
	return STEP_DONE;
}

/* JOIN: step 0 adds the node as a spare (unless it is known already at the
 * same address); step 1 gives it the role the cluster needs (voter while
 * voters are missing, else standby); step 2 reports. */
static int step_join(struct gw_raft__mtask *t, const struct raft_server *s)
{
	struct gw_raft *r = t->r;
	int want;
	unsigned i;

	if (t->step == 0 && s != NULL) {
		if (strcmp(s->address, t->address) != 0) {
			gw_warnf("raft",
				 "join of %016" PRIx64 " at %s refused: the member is known at %s",
				 t->id, t->address, s->address);
			return finish(t, GW_EEXIST);
		}
		t->step = 1; /* a rerun: only its role may be missing */
	}
	if (t->step == 0) {
		for (i = 0; i < r->raft.configuration.n; i++) {
			if (strcmp(r->raft.configuration.servers[i].address, t->address) == 0) {
				gw_warnf("raft",
					 "join of %016" PRIx64 " refused: %s is the address of "
					 "member %016" PRIx64 " (remove it first)",
					 t->id, t->address,
					 (uint64_t)r->raft.configuration.servers[i].id);
				return finish(t, GW_EEXIST);
			}
		}
		gw_infof("raft", "adding member %016" PRIx64 " at %s", t->id, t->address);
		return raft_add(&r->raft, &t->change, t->id, t->address, mtask_change_cb);
	}
	if (s == NULL) {
		return finish(t, GW_EMEMBERNOTFOUND);
	}
	if (t->step >= 2 || s->role == RAFT_VOTER) {
		t->role = s->role;
		if (t->step >= 2) {
			gw_infof("raft", "member %016" PRIx64 " is now a %s", t->id,
				 gw_raft_role_name(gw_raft__map_role(s->role)));
		}
		return finish(t, 0);
	}
	want = gw_raft__conf_voters(r) < r->voters ? RAFT_VOTER : RAFT_STANDBY;
	if (s->role == want) {
		t->role = want;
		return finish(t, 0);
	}
	t->step = 1;
	gw_infof("raft", "assigning member %016" PRIx64 " the %s role (catching up first)", t->id,
		 gw_raft_role_name(gw_raft__map_role(want)));
	return raft_assign(&r->raft, &t->change, t->id, want, mtask_change_cb);
}

/* PROMOTE: a standby becomes a voter while voters are missing. */
static int step_promote(struct gw_raft__mtask *t, const struct raft_server *s)
{
	struct gw_raft *r = t->r;

	if (t->step > 0 || s == NULL || s->role == RAFT_VOTER ||
	    gw_raft__conf_voters(r) >= r->voters) {
		if (t->step > 0) {
			gw_infof("raft", "promoted standby %016" PRIx64 " to voter", t->id);
		}
		return finish(t, 0);
	}
	gw_infof("raft", "promoting %016" PRIx64 " to voter (voters: %d of %d)", t->id,
		 gw_raft__conf_voters(r), r->voters);
	return raft_assign(&r->raft, &t->change, t->id, RAFT_VOTER, mtask_change_cb);
}

/* DEMOTE: a voter still unreachable becomes a standby. */
static int step_demote(struct gw_raft__mtask *t, const struct raft_server *s)
{
	struct gw_raft *r = t->r;

	if (t->step > 0 || s == NULL || s->role != RAFT_VOTER || gw_raft__reachable(r, t->id)) {
		if (t->step > 0) {
			gw_warnf("raft",
				 "demoted voter %016" PRIx64
				 " to standby: unreachable for %u ms; a "
				 "standby takes its place",
				 t->id, r->replace_voter_ms);
		}
		return finish(t, 0);
	}
	return raft_assign(&r->raft, &t->change, t->id, RAFT_STANDBY, mtask_change_cb);
}

/* After a removal: tell the removed node (best effort) and drop its
 * metadata from the store. */
static void removed_cleanup(struct gw_raft *r, uint64_t id)
{
	struct gw_raft_member m;
	struct gw_store_op op;
	struct gw_buf b;
	char key[64], hp[128], body[64];

	gw_infof("raft", "removed member %016" PRIx64, id);
	if (gw_raft__member_load(r, id, &m) == 0 &&
	    gw_httpc_url_hostport(m.etcd_url, hp, sizeof hp) == 0) {
		snprintf(body, sizeof body, "{\"id\":\"%016" PRIx64 "\"}", id);
		gw_raft__call(r, hp, "POST", "/apigw/internal/removed", body, strlen(body),
			      GW_RAFT__REMOVED_NOTE_MS, false, removed_notified,
			      (void *)(uintptr_t)id);
	}
	memset(&op, 0, sizeof op);
	op.type = GW_OP_META_DELETE;
	gw_raft__member_key(id, key, sizeof key);
	op.u.meta.key = key;
	op.u.meta.key_len = strlen(key);
	gw_buf_init(&b);
	if (gw_raft__encode_op(&op, &b) == 0) {
		gw_raft__propose_local(r, b.data, b.len, r->write_timeout_ms, meta_deleted, NULL);
	}
	gw_buf_close(&b);
}

/* REMOVE: never the last voter. */
static int step_remove(struct gw_raft__mtask *t, const struct raft_server *s)
{
	struct gw_raft *r = t->r;

	if (t->step > 0) {
		removed_cleanup(r, t->id);
		return finish(t, 0);
	}
	if (s == NULL) {
		return finish(t, GW_EMEMBERNOTFOUND);
	}
	if (s->role == RAFT_VOTER && gw_raft__conf_voters(r) <= 1) {
		gw_warnf("raft", "refusing to remove %016" PRIx64 ": it is the last voter", t->id);
		return finish(t, GW_EINVAL);
	}
	gw_infof("raft", "removing member %016" PRIx64 " (%s)", t->id,
		 gw_raft_role_name(gw_raft__map_role(s->role)));
	return raft_remove(&r->raft, &t->change, t->id, mtask_change_cb);
}

/* Run the next step of @t; steps continue in mtask_change_cb. */
static void mtask_step(struct gw_raft__mtask *t)
{
	struct gw_raft *r = t->r;
	const struct raft_server *s;
	int rv = 0;

	if (!gw_raft__is_leader(r)) {
		mtask_done(t, gw_raft__stopping(r) ? GW_ESHUTDOWN : GW_ENOTLEADER);
		return;
	}
	t->change.data = t;
	s = gw_raft__conf_get(r, t->id);
	switch (t->kind) {
	case GW_RAFT__MT_JOIN:
		rv = step_join(t, s);
		break;
	case GW_RAFT__MT_PROMOTE:
		rv = step_promote(t, s);
		break;
	case GW_RAFT__MT_DEMOTE:
		rv = step_demote(t, s);
		break;
	case GW_RAFT__MT_REMOVE:
		rv = step_remove(t, s);
		break;
	}
	if (rv == STEP_DONE) {
		return;
	}
	if (rv == RAFT_CANTCHANGE) {
		/* A configuration change is still uncommitted: retry on a tick,
		 * keeping the task at the head of the queue. */
		r->mtask_retry = true;
		r->mtask_cur = NULL;
		gw_list_add_head(&r->mtasks, &t->link);
		return;
	}
	if (rv != 0) {
		mtask_done(t, gw_raft__err(rv));
	}
}

void gw_raft__mtask_kick(struct gw_raft *r)
{
	struct gw_raft__mtask *t;

	while (r->mtask_cur == NULL && !gw_list_empty(&r->mtasks)) {
		t = gw_container_of(r->mtasks.next, struct gw_raft__mtask, link);
		gw_list_del(&t->link);
		if (!gw_raft__is_leader(r)) {
			mtask_done(t, gw_raft__stopping(r) ? GW_ESHUTDOWN : GW_ENOTLEADER);
			continue;
		}
		r->mtask_cur = t;
		mtask_step(t);
		if (r->mtask_retry) {
			return;
		}
	}
}

int gw_raft__mtask_enqueue(struct gw_raft *r, enum gw_raft__mtask_kind kind, uint64_t id,
			   const char *address, gw_raft__join_cb jcb, gw_raft_barrier_cb cb,
			   void *data)
{
	struct gw_raft__mtask *t = calloc(1, sizeof *t);

	if (t == NULL) {
		return GW_ENOMEM;
	}
	t->r = r;
	t->kind = kind;
	t->id = id;
	snprintf(t->address, sizeof t->address, "%s", address != NULL ? address : "");
	t->jcb = jcb;
	t->cb = cb;
	t->data = data;
	gw_list_add_tail(&r->mtasks, &t->link);
	gw_raft__mtask_kick(r);
	return 0;
}

bool gw_raft__mtask_pending(struct gw_raft *r, uint64_t id)
{
	struct gw_list *e;
	if (r->mtask_cur != NULL && r->mtask_cur->id == id) {
		return true;
	}
	gw_list_foreach(e, &r->mtasks)
	{
		if (gw_container_of(e, struct gw_raft__mtask, link)->id == id) {
			return true;
		}
	}
	return false;
}

/* ---- remove / leave ---------------------------------------------------- */

struct gw_raft__rm_ctx {
	struct gw_raft *r;
	uint64_t id;
	gw_raft_barrier_cb cb;
	void *data;
	bool relayed; /* asked by another node: answer GW_ENOTLEADER after the transfer */
};

static void rm_call_done(void *data, int err, const struct gw_httpc_resp *resp)
{
	struct gw_raft__rm_ctx *x = data;

	if (err == 0 && resp->gw_err != 0) {
		err = resp->gw_err;
	} else if (err == 0 && resp->status != 200) {
		err = GW_EIO;
	}
	x->cb(x->data, err);
	free(x);
}

static int remove_via_leader(struct gw_raft *r, uint64_t id, gw_raft_barrier_cb cb, void *data)
{
	struct gw_raft__rm_ctx *x = calloc(1, sizeof *x);
	char body[64];
	int rv;

	if (x == NULL) {
		return GW_ENOMEM;
	}
	x->r = r;
	x->id = id;
	x->cb = cb;
	x->data = data;
	snprintf(body, sizeof body, "{\"id\":\"%016" PRIx64 "\"}", id);
	rv = gw_raft__call(r, NULL, "POST", "/apigw/internal/remove", body, strlen(body),
			   GW_RAFT__CONTROL_TIMEOUT_MS, true, rm_call_done, x);
	if (rv != 0) {
		free(x);
	}
	return rv;
}

static void transfer_cb(struct raft_transfer *req)
{
	struct gw_raft *r = req->data;
	void (*done)(struct gw_raft *) = r->transfer_done;

	r->transferring = false;
	r->transfer_done = NULL;
	if (done != NULL) {
		done(r);
	}
}

/* Hand leadership to another voter; @done runs when raft reports back
 * (success or not: the caller checks raft_leader). */
int gw_raft__transfer_start(struct gw_raft *r, void (*done)(struct gw_raft *r))
{
	int rv;

	if (r->transferring) {
		return GW_EBUSY;
	}
	memset(&r->transfer, 0, sizeof r->transfer);
	r->transfer.data = r;
	rv = raft_transfer(&r->raft, &r->transfer, 0, transfer_cb);
	if (rv != 0) {
		return gw_raft__err(rv);
	}
	r->transferring = true;
	r->transfer_done = done;
	gw_infof("raft", "transferring leadership to %016" PRIx64,
		 (uint64_t)raft_transferee(&r->raft));
	return 0;
}

static void user_transfer_done(struct gw_raft *r)
{
	gw_raft_barrier_cb cb = r->transfer_cb;
	raft_id lid = 0;
	const char *laddr = NULL;

	r->transfer_cb = NULL;
	if (cb == NULL) {
		return;
	}
	if (!gw_raft__stopping(r)) {
		raft_leader(&r->raft, &lid, &laddr);
	}
	cb(r->transfer_data, lid == r->transfer_target ? 0 : GW_ETIMEOUT);
}

int gw_raft_transfer(struct gw_raft *r, uint64_t id, gw_raft_barrier_cb cb, void *data)
{
	const struct raft_server *s;
	int rv;

	if (gw_raft__stopping(r) || !r->raft_running) {
		return GW_ESHUTDOWN;
	}
	if (raft_state(&r->raft) != RAFT_LEADER) {
		return GW_ENOTLEADER;
	}
	s = gw_raft__conf_get(r, id);
	if (s == NULL || s->role != RAFT_VOTER || id == r->ident.node_id) {
		return GW_EBADTRANSFEREE;
	}
	if (r->transferring) {
		return GW_EBUSY;
	}
	memset(&r->transfer, 0, sizeof r->transfer);
	r->transfer.data = r;
	rv = raft_transfer(&r->raft, &r->transfer, id, transfer_cb);
	if (rv != 0) {
		return gw_raft__err(rv);
	}
	r->transferring = true;
	r->transfer_done = user_transfer_done;
	r->transfer_target = id;
	r->transfer_cb = cb;
	r->transfer_data = data;
	gw_infof("raft", "transferring leadership to %016" PRIx64 " (asked)", id);
	return 0;
}

static void self_remove_after_transfer(struct gw_raft *r)
{
	struct gw_raft__rm_ctx *x = r->rm_self;
	int rv;

	r->rm_self = NULL;
	if (x == NULL) {
		return;
	}
	if (x->relayed) {
		/* Another node asked: tell it to ask the new leader. */
		x->cb(x->data, GW_ENOTLEADER);
		free(x);
		return;
	}
	rv = gw_raft__stopping(r) ? GW_ESHUTDOWN : remove_via_leader(r, x->id, x->cb, x->data);
	if (rv != 0) {
		x->cb(x->data, rv);
	}
	free(x);
}

/* Leader removing itself: transfer first, then ask the new leader. */
int gw_raft__remove_self(struct gw_raft *r, gw_raft_barrier_cb cb, void *data, bool relayed)
{
	struct gw_raft__rm_ctx *x;
	int rv;

	if (gw_raft__conf_voters(r) <= 1) {
		gw_warnf("raft", "refusing to remove %016" PRIx64 ": it is the last voter",
			 r->ident.node_id);
		return GW_EINVAL;
	}
	if (r->rm_self != NULL) {
		return GW_EBUSY;
	}
	x = calloc(1, sizeof *x);
	if (x == NULL) {
		return GW_ENOMEM;
	}
	x->r = r;
	x->id = r->ident.node_id;
	x->cb = cb;
	x->data = data;
	x->relayed = relayed;
	r->rm_self = x;
	rv = gw_raft__transfer_start(r, self_remove_after_transfer);
	if (rv != 0) {
		r->rm_self = NULL;
		free(x);
	}
	return rv;
}

int gw_raft_remove(struct gw_raft *r, uint64_t id, gw_raft_barrier_cb cb, void *data)
{
	if (gw_raft__stopping(r)) {
		return GW_ESHUTDOWN;
	}
	if (cb == NULL || id == 0) {
		return GW_EINVAL;
	}
	if (!r->raft_running) {
		return gw_raft__defer(r, NULL, cb, NULL, data, GW_ENOLEADER, 0);
	}
	if (gw_raft__is_leader(r)) {
		if (gw_raft__conf_get(r, id) == NULL) {
			return gw_raft__defer(r, NULL, cb, NULL, data, GW_EMEMBERNOTFOUND, 0);
		}
		if (id == r->ident.node_id) {
			int rv = gw_raft__remove_self(r, cb, data, false);
			return rv == 0 ? 0 : gw_raft__defer(r, NULL, cb, NULL, data, rv, 0);
		}
		return gw_raft__mtask_enqueue(r, GW_RAFT__MT_REMOVE, id, NULL, NULL, cb, data);
	}
	return remove_via_leader(r, id, cb, data);
}

void gw_raft__mtasks_stop(struct gw_raft *r)
{
	while (!gw_list_empty(&r->mtasks)) {
		struct gw_raft__mtask *t =
		    gw_container_of(r->mtasks.next, struct gw_raft__mtask, link);
		gw_list_del(&t->link);
		mtask_done(t, GW_ESHUTDOWN);
	}
}
