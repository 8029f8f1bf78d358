/* propose.c: writes. On the leader a proposal is a raft_apply with a
 * deadline timer; the FSM fills its result slot when the entry applies. On a
 * follower the encoded op is forwarded to the leader (forward.c), which
 * answers with the encoded result. Failure modes: GW_ENOTLEADER /
 * GW_ELEADERCHANGED / GW_ETIMEOUT / GW_ESHUTDOWN, each exactly once through
 * the callback, never from inside the call. Control loop. */
#include "config.h"

#include "lib/err.h"
#include "lib/log.h"
#include "raft/raft_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- proposals on the leader ------------------------------------------- */

struct proposal {
	struct raft_apply req;
	uv_timer_t timer;
	struct gw_raft *r;
	struct gw_list link;
	gw_raft_propose_cb cb; /* NULL once called */
	void *data;
	struct gw_store_result res; /* filled by the FSM */
	bool in_raft;
	bool has_res;
};

static void proposal_closed(uv_handle_t *h)
{
	struct proposal *p = h->data;
	struct gw_raft *r = p->r;
	free(p);
	r->n_handles--;
	gw_raft__maybe_finish(r);
}

static void proposal_user(struct proposal *p, int err)
{
	gw_raft_propose_cb cb = p->cb;

	p->cb = NULL;
	if (cb == NULL) {
		return;
	}
	if (err == 0 && p->has_res) {
		p->has_res = false;
		cb(p->data, 0, &p->res);
	} else {
		cb(p->data, err != 0 ? err : GW_EIO, NULL);
	}
}

static void proposal_apply_cb(struct raft_apply *req, int status, void *result)
{
	struct proposal *p = req->data;
	(void)result;

	GW_ASSERT(p->in_raft); /* raft completes a request once */
	p->in_raft = false;
	gw_list_del(&p->link);
	proposal_user(p, status == 0 ? 0 : gw_raft__err(status));
	if (p->has_res) {
		gw_store_result_free(&p->res);
		p->has_res = false;
	}
	uv_close((uv_handle_t *)&p->timer, proposal_closed);
}

static void proposal_timer_cb(uv_timer_t *t)
{
	struct proposal *p = t->data;
	proposal_user(p, GW_ETIMEOUT);
}

struct gw_store_result *gw_raft__result_slot(struct gw_raft *r, uint64_t index)
{
	struct gw_list *e;

	gw_list_foreach(e, &r->proposals)
	{
		struct proposal *p = gw_container_of(e, struct proposal, link);
		if (p->in_raft && p->req.index == index) {
			memset(&p->res, 0, sizeof p->res);
			p->has_res = true;
			return &p->res;
		}
	}
	return NULL;
}

/* Propose encoded bytes on this node, which should lead. The callback runs
 * once, never from inside this function. 0 or GW_ENOMEM. */
int gw_raft__propose_local(struct gw_raft *r, const void *bytes, size_t len, unsigned timeout_ms,
			   gw_raft_propose_cb cb, void *data)
{
	struct proposal *p;
	struct raft_buffer buf;
	int rv;

	if (!gw_raft__is_leader(r)) {
		return gw_raft__defer(r, cb, NULL, NULL, data,
				      gw_raft__stopping(r) ? GW_ESHUTDOWN : GW_ENOTLEADER, 0);
	}
	p = calloc(1, sizeof *p);
	if (p == NULL) {
		return GW_ENOMEM;
	}
	p->r = r;
	p->cb = cb;
	p->data = data;
	p->req.data = p;
	gw_list_init(&p->link);
	gw_raft__timer_init(r, &p->timer, p);
	/* raft wants entry sizes in multiples of 8: pad with zeros, which the
	 * decoder accepts after a command. */
	buf.len = (len + 7) & ~(size_t)7;
	buf.base = raft_malloc(buf.len > 0 ? buf.len : 8);
	if (buf.base == NULL) {
		uv_close((uv_handle_t *)&p->timer, proposal_closed);
		return GW_ENOMEM;
	}
	memset(buf.base, 0, buf.len);
	memcpy(buf.base, bytes, len);
	gw_list_add_tail(&r->proposals, &p->link);
	p->in_raft = true;
	rv = raft_apply(&r->raft, &p->req, &buf, 1, proposal_apply_cb);
	if (rv != 0) {
		/* raft owns @buf even when the submission fails (0.22 frees it). */
		gw_warnf("raft", "raft_apply: %s (%s)", raft_strerror(rv), raft_errmsg(&r->raft));
		p->in_raft = false;
		gw_list_del(&p->link);
		p->cb = NULL;
		uv_close((uv_handle_t *)&p->timer, proposal_closed);
		return gw_raft__defer(r, cb, NULL, NULL, data, gw_raft__err(rv), 0);
	}
	uv_timer_start(&p->timer, proposal_timer_cb, timeout_ms, 0);
	return 0;
}

/* ---- public proposals -------------------------------------------------- */

struct fwd {
	gw_raft_propose_cb cb;
	void *data;
};

static void fwd_done(void *data, int err, const struct gw_httpc_resp *resp)
{
	struct fwd *f = data;
	struct gw_store_result res;

	if (err == 0 && resp->gw_err != 0) {
		err = resp->gw_err;
	} else if (err == 0 && resp->status != 200) {
		err = GW_EIO;
	}
	if (err == 0) {
		err = gw_raft__decode_result(resp->body.data, resp->body.len, &res);
		if (err != 0) {
			gw_errorf("raft", "leader answered a proposal with a malformed result");
		}
	}
	if (err == 0) {
		f->cb(f->data, 0, &res);
	} else {
		f->cb(f->data, err, NULL);
	}
	free(f);
}

static int propose_bytes(struct gw_raft *r, const void *bytes, size_t len, unsigned timeout_ms,
			 gw_raft_propose_cb cb, void *data)
{
	struct fwd *f;
	int rv;

	if (timeout_ms == 0) {
		timeout_ms = r->write_timeout_ms;
	}
	if (gw_raft__is_leader(r)) {
		return gw_raft__propose_local(r, bytes, len, timeout_ms, cb, data);
	}
	f = calloc(1, sizeof *f);
	if (f == NULL) {
		return GW_ENOMEM;
	}
	f->cb = cb;
	f->data = data;
	rv = gw_raft__call(r, NULL, "POST", "/apigw/internal/propose", bytes, len, timeout_ms,
			   false, fwd_done, f);
	if (rv != 0) {
		free(f);
	}
	return rv;
}

int gw_raft_propose(struct gw_raft *r, const struct gw_store_op *op, unsigned timeout_ms,
		    gw_raft_propose_cb cb, void *data)
{
	struct gw_buf b;
	int rv;

	if (gw_raft__stopping(r)) {
		return GW_ESHUTDOWN;
	}
	if (op == NULL || op->type == GW_OP_RANGE || cb == NULL) {
		return GW_EINVAL;
	}
	gw_buf_init(&b);
	rv = gw_raft__encode_op(op, &b);
	if (rv == 0) {
		rv = propose_bytes(r, b.data, b.len, timeout_ms, cb, data);
	}
	gw_buf_close(&b);
	return rv;
}

void gw_raft__proposals_stop(struct gw_raft *r)
{
	struct gw_list *e;

	gw_list_foreach(e, &r->proposals)
	{
		proposal_user(gw_container_of(e, struct proposal, link), GW_ESHUTDOWN);
	}
}
