/* lease.c: lease deadlines. The leader tracks every lease's deadline in
 * memory (restarted at full TTL when it becomes leader, as etcd does),
 * proposes a revoke when one passes, and restarts a deadline on keep-alive;
 * followers forward keep-alives to the leader. Failure modes: a revoke
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

/* ---- leases ------------------------------------------------------------ */

static struct gw_raft__lease *lease_find(struct gw_raft *r, int64_t id)
{
	size_t i;
	for (i = 0; i < r->n_leases; i++) {
		if (r->leases[i].id == id) {
			return &r->leases[i];
		}
	}
	return NULL;
}

static struct gw_raft__lease *lease_put(struct gw_raft *r, int64_t id, int64_t ttl)
{
	struct gw_raft__lease *l = lease_find(r, id);

	if (l == NULL) {
		if (r->n_leases == r->cap_leases) {
			size_t cap = r->cap_leases ? 2 * r->cap_leases : 16;
			struct gw_raft__lease *n = realloc(r->leases, cap * sizeof *n);
			if (n == NULL) {
				return NULL;
			}
			r->leases = n;
			r->cap_leases = cap;
		}
		l = &r->leases[r->n_leases++];
		l->id = id;
		l->revoking = false;
	}
	l->ttl = ttl;
	l->deadline = gw_raft__now(r) + (uint64_t)(ttl > 0 ? ttl : 1) * 1000;
	return l;
}

static void lease_drop(struct gw_raft *r, int64_t id)
{
	struct gw_raft__lease *l = lease_find(r, id);
	if (l != NULL) {
		*l = r->leases[--r->n_leases];
	}
}

/* A new leader restarts every deadline at full TTL (etcd's rule). */
void gw_raft__leases_load(struct gw_raft *r)
{
	int64_t *ids = NULL, *ttls = NULL;
	size_t n = 0, i;

	r->n_leases = 0;
	if (gw_store_lease_list(r->store, &ids, &ttls, &n) != 0) {
		return;
	}
	for (i = 0; i < n; i++) {
		lease_put(r, ids[i], ttls[i]);
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
	struct gw_raft__lease *l = lease_find(x->r, x->id);

	if (err == 0 && (res->err == 0 || res->err == GW_ELEASENOTFOUND)) {
		lease_drop(x->r, x->id);
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

	for (i = 0; i < r->n_leases; i++) {
		struct gw_raft__lease *l = &r->leases[i];
		struct gw_store_op op;
		struct gw_buf b;
		struct revoke_ctx *x;

		if (l->revoking || now < l->deadline) {
			continue;
		}
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
		lease_put(r, res->lease_id, res->lease_ttl);
	} else if (op->type == GW_OP_LEASE_REVOKE) {
		lease_drop(r, op->u.lease_revoke.id);
	}
}

int64_t gw_raft_lease_remaining(struct gw_raft *r, int64_t lease_id)
{
	struct gw_raft__lease *l;
	uint64_t now;

	if (!gw_raft__is_leader(r) || (l = lease_find(r, lease_id)) == NULL) {
		return -1;
	}
	now = gw_raft__now(r);
	if (now >= l->deadline) {
		return 0;
	}
	return (int64_t)((l->deadline - now + 999) / 1000);
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
	gw_lease_info_free(&info);
	if (lease_put(r, id, *ttl) == NULL) {
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
	snprintf(body, sizeof body, "{\"id\":%" PRId64 "}", lease_id);
	rv = gw_raft__call(r, NULL, "POST", "/apigw/internal/keepalive", body, strlen(body),
			   r->write_timeout_ms, false, ka_done, x);
	if (rv != 0) {
		free(x);
	}
	return rv;
}
