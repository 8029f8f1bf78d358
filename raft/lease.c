/* lease.c: lease deadlines. The leader tracks every lease's deadline in
 * memory (restarted at full TTL when it becomes leader, as etcd does),
 * proposes a revoke when one passes, and restarts a deadline on keep-alive;
 * followers forward keep-alives to the leader. The table itself is a set of
 * pure functions of the time (gw_raft__lease_*). Failure modes: a revoke
 * that fails is retried on a later tick; an unknown lease answers
 * GW_ELEASENOTFOUND. Control loop. */
#include "config.h"

#include "lib/err.h"
#include "lib/log.h"
#include "raft/raft_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the lease table (pure: the caller passes uv_now()) ---------------- */

struct gw_raft__lease *gw_raft__lease_find(struct gw_raft__lease_table *t, int64_t id)
{
	size_t i;
	for (i = 0; i < t->n; i++) {
		if (t->v[i].id == id) {
			return &t->v[i];
		}
	}
	return NULL;
}

struct gw_raft__lease *gw_raft__lease_put(struct gw_raft__lease_table *t, int64_t id, int64_t ttl,
					  uint64_t now)
{
	struct gw_raft__lease *l = gw_raft__lease_find(t, id);

	if (l == NULL) {
		if (t->n == t->cap) {
			size_t cap = t->cap ? 2 * t->cap : 16;
			struct gw_raft__lease *n = realloc(t->v, cap * sizeof *n);
			if (n == NULL) {
				return NULL;
			}
			t->v = n;
			t->cap = cap;
		}
		l = &t->v[t->n++];
		l->id = id;
		l->revoking = false;
	}
	l->ttl = ttl;
	l->deadline = now + (uint64_t)(ttl > 0 ? ttl : 1) * 1000;
	return l;
}

void gw_raft__lease_drop(struct gw_raft__lease_table *t, int64_t id)
{
	struct gw_raft__lease *l = gw_raft__lease_find(t, id);
	if (l != NULL) {
		*l = t->v[--t->n];
	}
}

int64_t gw_raft__lease_left(const struct gw_raft__lease *l, uint64_t now)
{
	if (now >= l->deadline) {
		return 0;
	}
	return (int64_t)((l->deadline - now + 999) / 1000);
}

size_t gw_raft__lease_expired(const struct gw_raft__lease_table *t, size_t from, uint64_t now)
{
	size_t i;
	for (i = from; i < t->n; i++) {
		if (!t->v[i].revoking && now >= t->v[i].deadline) {
			return i;
		}
	}
	return t->n;
}

void gw_raft__lease_table_free(struct gw_raft__lease_table *t)
{
	free(t->v);
	t->v = NULL;
	t->n = 0;
	t->cap = 0;
}

/* ---- the leader's leases ------------------------------------------------ */

/* A new leader restarts every deadline at full TTL (etcd's rule). */
void gw_raft__leases_load(struct gw_raft *r)
{
	int64_t *ids = NULL, *ttls = NULL;
	size_t n = 0, i;

	r->leases.n = 0;
	if (gw_store_lease_list(r->store, &ids, &ttls, &n) != 0) {
		return;
	}
	for (i = 0; i < n; i++) {
		gw_raft__lease_put(&r->leases, ids[i], ttls[i], gw_raft__now(r));
	}
	free(ids);
	free(ttls);
	r->leases_loaded = true;
	if (n > 0) {
		gw_infof("raft", "leader tracks %zu lease(s), deadlines restarted at full TTL", n);
	}
}

struct revoke_ctx {
	struct gw_raft *r;
	int64_t id;
};

static void revoke_done(void *data, int err, struct gw_store_result *res)
{
	struct revoke_ctx *x = data;
	struct gw_raft__lease *l = gw_raft__lease_find(&x->r->leases, x->id);

	if (err == 0 && (res->err == 0 || res->err == GW_ELEASENOTFOUND)) {
		gw_raft__lease_drop(&x->r->leases, x->id);
	} else if (l != NULL) {
		l->revoking = false; /* try again on a later tick */
	}
	if (res != NULL) {
		gw_store_result_free(res);
	}
	free(x);
}

void gw_raft__leases_tick(struct gw_raft *r)
{
	uint64_t now = gw_raft__now(r);
	size_t i;

	for (i = gw_raft__lease_expired(&r->leases, 0, now); i < r->leases.n;
	     i = gw_raft__lease_expired(&r->leases, i + 1, now)) {
		struct gw_raft__lease *l = &r->leases.v[i];
		struct gw_store_op op;
		struct gw_buf b;
		struct revoke_ctx *x;

		memset(&op, 0, sizeof op);
		op.type = GW_OP_LEASE_REVOKE;
		op.u.lease_revoke.id = l->id;
		x = calloc(1, sizeof *x);
		if (x == NULL) {
			return;
		}
		x->r = r;
		x->id = l->id;
		gw_buf_init(&b);
		if (gw_raft__encode_op(&op, &b) != 0 ||
		    gw_raft__propose_local(r, b.data, b.len, r->write_timeout_ms, revoke_done, x) !=
			0) {
			free(x);
			gw_buf_close(&b);
			return;
		}
		gw_buf_close(&b);
		l->revoking = true;
		gw_debugf("raft", "lease %" PRId64 " expired: revoking", l->id);
	}
}

void gw_raft__applied(struct gw_raft *r, const struct gw_store_op *op,
		      const struct gw_store_result *res)
{
	if (!r->leases_loaded || !gw_raft__is_leader(r)) {
		return;
	}
	if (op->type == GW_OP_LEASE_GRANT && res->err == 0) {
		gw_raft__lease_put(&r->leases, res->lease_id, res->lease_ttl, gw_raft__now(r));
	} else if (op->type == GW_OP_LEASE_REVOKE) {
		gw_raft__lease_drop(&r->leases, op->u.lease_revoke.id);
	}
}

int64_t gw_raft_lease_remaining(struct gw_raft *r, int64_t lease_id)
{
	struct gw_raft__lease *l;

	if (!gw_raft__is_leader(r) || (l = gw_raft__lease_find(&r->leases, lease_id)) == NULL) {
		return -1;
	}
	return gw_raft__lease_left(l, gw_raft__now(r));
}

/* Leader: restart a lease's deadline. 0 with *ttl, or GW_ELEASENOTFOUND. */
int gw_raft__keepalive_local(struct gw_raft *r, int64_t id, int64_t *ttl)
{
	struct gw_lease_info info;
	int rv;

	rv = gw_store_lease_get(r->store, id, false, &info);
	if (rv != 0) {
		return rv == GW_ENOTFOUND ? GW_ELEASENOTFOUND : rv;
	}
	*ttl = info.ttl;
	gw_store_lease_info_free(&info);
	if (gw_raft__lease_put(&r->leases, id, *ttl, gw_raft__now(r)) == NULL) {
		return GW_ENOMEM;
	}
	return 0;
}

struct ka_ctx {
	gw_raft_keepalive_cb cb;
	void *data;
};

static void ka_done(void *data, int err, const struct gw_httpc_resp *resp)
{
	struct ka_ctx *x = data;
	long long ttl = 0;

	if (err == 0 && resp->gw_err != 0) {
		err = resp->gw_err;
	}
	if (err == 0 && (resp->status != 200 || resp->body.data == NULL ||
			 sscanf(resp->body.data, "{\"ttl\":%lld", &ttl) != 1)) {
		err = GW_EIO;
	}
	x->cb(x->data, err, err == 0 ? (int64_t)ttl : 0);
	free(x);
}

int gw_raft_lease_keepalive(struct gw_raft *r, int64_t lease_id, gw_raft_keepalive_cb cb,
			    void *data)
{
	struct ka_ctx *x;
	char body[64];
	int64_t ttl = 0;
	int rv;

	if (gw_raft__stopping(r)) {
		return GW_ESHUTDOWN;
	}
	if (cb == NULL) {
		return GW_EINVAL;
	}
	if (gw_raft__is_leader(r)) {
		rv = gw_raft__keepalive_local(r, lease_id, &ttl);
		return gw_raft__defer(r, NULL, NULL, cb, data, rv, ttl);
	}
	x = calloc(1, sizeof *x);
	if (x == NULL) {
		return GW_ENOMEM;
	}
	x->cb = cb;
	x->data = data;
	/* As a string: a lease id is 64 bits, a JSON number holds 53. */
	snprintf(body, sizeof body, "{\"id\":\"%" PRId64 "\"}", lease_id);
	rv = gw_raft__call(r, NULL, "POST", "/apigw/internal/keepalive", body, strlen(body),
			   r->write_timeout_ms, false, ka_done, x);
	if (rv != 0) {
		free(x);
	}
	return rv;
}

/* ---- time to live from any member ------------------------------------- */

struct ttl_ctx {
	struct gw_raft *r;
	gw_raft_keepalive_cb cb;
	void *data;
	int64_t ttl;
	uint64_t deadline;
};

static void ttl_applied(void *data, int err)
{
	struct ttl_ctx *x = data;

	x->cb(x->data, err, err == 0 ? x->ttl : 0);
	free(x);
}

static void ttl_call_done(void *data, int err, const struct gw_httpc_resp *resp)
{
	struct ttl_ctx *x = data;
	long long ttl = 0;
	unsigned long long index = 0;

	if (err == 0 && resp->gw_err != 0) {
		err = resp->gw_err;
	}
	if (err == 0 &&
	    (resp->status != 200 || resp->body.data == NULL ||
	     sscanf(resp->body.data, "{\"ttl\":%lld,\"index\":%llu", &ttl, &index) != 2)) {
		err = GW_EIO;
	}
	if (err == 0) {
		x->ttl = ttl;
		err = gw_raft__wait_applied(x->r, index, x->deadline, ttl_applied, x);
		if (err == 0) {
			return;
		}
	}
	x->cb(x->data, err, 0);
	free(x);
}

int gw_raft_lease_ttl(struct gw_raft *r, int64_t lease_id, unsigned timeout_ms,
		      gw_raft_keepalive_cb cb, void *data)
{
	struct ttl_ctx *x;
	char body[64];
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
	if (gw_raft__is_leader(r)) {
		return gw_raft__defer(r, NULL, NULL, cb, data, 0,
				      gw_raft_lease_remaining(r, lease_id));
	}
	x = calloc(1, sizeof *x);
	if (x == NULL) {
		return GW_ENOMEM;
	}
	x->r = r;
	x->cb = cb;
	x->data = data;
	x->deadline = gw_raft__now(r) + timeout_ms;
	snprintf(body, sizeof body, "{\"id\":\"%" PRId64 "\"}", lease_id);
	rv = gw_raft__call(r, NULL, "POST", "/apigw/internal/lease-ttl", body, strlen(body),
			   timeout_ms, false, ttl_call_done, x);
	if (rv != 0) {
		free(x);
	}
	return rv;
}
