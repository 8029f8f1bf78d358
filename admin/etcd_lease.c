/* etcd_lease.c: the Lease service of the etcd API (LeaseGrant,
 * LeaseRevoke, the LeaseKeepAlive stream, LeaseTimeToLive, LeaseLeases).
 *
 * Happy path: grants and revokes are proposed through raft like any write;
 * each keep-alive message of the stream asks raft's leader to refresh the
 * lease (gw_raft_lease_keepalive) and answers with the TTL granted;
 * TimeToLive shows the leader's time left (gw_raft_lease_ttl) and the keys
 * from the local store once it is current; LeaseLeases reads the store.
 * Failure modes: an unknown lease answers a keep-alive with TTL 0 (as etcd
 * does) and errors of other calls end them through gw_etcd__finish; the
 * stream ends with the first raft error, or when the client half-closes
 * and every keep-alive in flight has answered. Loop thread. */
#include "config.h"

#include "admin/etcd_int.h"
#include "lib/err.h"
#include "lib/log.h"
#include "raft/raft.h"
#include "store/store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LEASE_TTL 9000000000LL /* etcd's MaxLeaseTTL, seconds */

/* ---- Lease ---- */

static void grant_done(struct gw_etcd__call *c, int err, struct gw_store_result *res)
{
	Etcdserverpb__LeaseGrantResponse *m;
	if (err == 0) {
		err = res->err;
	}
	if (err != 0) {
		gw_etcd__finish(c, err);
		return;
	}
	m = GW_ETCD__ALLOC(c, Etcdserverpb__LeaseGrantResponse);
	if (m != NULL) {
		etcdserverpb__lease_grant_response__init(m);
		m->header = gw_etcd__svc_header(c, res->revision);
		m->id = res->lease_id;
		m->ttl = res->lease_ttl;
	}
	gw_etcd__reply(c, m != NULL && m->header != NULL ? m : NULL);
}

void gw_etcd__lease_grant(struct gw_etcd__call *c, const ProtobufCMessage *msg)
{
	const Etcdserverpb__LeaseGrantRequest *r = (const Etcdserverpb__LeaseGrantRequest *)msg;
	struct gw_store_op op;

	if (r->ttl > MAX_LEASE_TTL) {
		gw_etcd__finish(c, GW_ELEASETTL);
		return;
	}
	if (gw_store_over_quota(c->srv->opts.store)) {
		gw_etcd__finish(c, GW_ENOSPACE);
		return;
	}
	memset(&op, 0, sizeof op);
	op.type = GW_OP_LEASE_GRANT;
	op.u.lease_grant.id = r->id;
	op.u.lease_grant.ttl = r->ttl;
	gw_etcd__propose(c, &op, grant_done);
}

static void revoke_done(struct gw_etcd__call *c, int err, struct gw_store_result *res)
{
	Etcdserverpb__LeaseRevokeResponse *m;
	if (err == 0) {
		err = res->err;
	}
	if (err != 0) {
		gw_etcd__finish(c, err);
		return;
	}
	m = GW_ETCD__ALLOC(c, Etcdserverpb__LeaseRevokeResponse);
	if (m != NULL) {
		etcdserverpb__lease_revoke_response__init(m);
		m->header = gw_etcd__svc_header(c, res->revision);
	}
	gw_etcd__reply(c, m != NULL && m->header != NULL ? m : NULL);
}

void gw_etcd__lease_revoke(struct gw_etcd__call *c, const ProtobufCMessage *msg)
{
	const Etcdserverpb__LeaseRevokeRequest *r = (const Etcdserverpb__LeaseRevokeRequest *)msg;
	struct gw_store_op op;

	memset(&op, 0, sizeof op);
	op.type = GW_OP_LEASE_REVOKE;
	op.u.lease_revoke.id = r->id;
	gw_etcd__propose(c, &op, revoke_done);
}

static void ka_maybe_end(struct gw_etcd__call *c)
{
	if (c->pending == 0 && (c->ended || c->svc_err != 0)) {
		gw_etcd__finish(c, c->gone ? GW_ECANCELED : c->svc_err);
	}
}

struct ka {
	struct gw_etcd__call *c;
	int64_t id;
};

static void ka_reply(struct gw_etcd__call *c, int64_t id, int err, int64_t ttl)
{
	Etcdserverpb__LeaseKeepAliveResponse m = ETCDSERVERPB__LEASE_KEEP_ALIVE_RESPONSE__INIT;
	Etcdserverpb__ResponseHeader h = ETCDSERVERPB__RESPONSE_HEADER__INIT;

	if (c->gone || c->svc_err != 0) {
		return;
	}
	if (err != 0 && err != GW_ELEASENOTFOUND) {
		c->svc_err = err;
		return;
	}
	gw_etcd__header(c->srv, &h, 0);
	m.header = &h;
	m.id = id;
	m.ttl = err == 0 ? ttl : 0; /* etcd: an unknown lease answers TTL 0 */
	if (gw_etcd__send(c, &m.base) != 0) {
		c->svc_err = GW_ELIMIT;
	}
}

static void ka_done(void *data, int err, int64_t ttl)
{
	struct ka *k = data;
	struct gw_etcd__call *c = k->c;
	int64_t id = k->id;
	free(k);
	c->pending--;
	ka_reply(c, id, err, ttl);
	ka_maybe_end(c);
}

void gw_etcd__lease_ka_msg(struct gw_etcd__call *c, const ProtobufCMessage *msg)
{
	const Etcdserverpb__LeaseKeepAliveRequest *r =
	    (const Etcdserverpb__LeaseKeepAliveRequest *)msg;
	struct gw_etcd *srv = c->srv;
	struct ka *k;
	int rv;

	if (c->svc_err != 0) {
		return;
	}
	if (srv->opts.raft == NULL) {
		struct gw_lease_info info;
		memset(&info, 0, sizeof info);
		rv = gw_store_lease_get(srv->opts.store, r->id, false, &info);
		ka_reply(c, r->id, rv, info.ttl);
		if (rv == 0) {
			gw_store_lease_info_free(&info);
		}
		return;
	}
	k = malloc(sizeof *k);
	if (k == NULL) {
		c->svc_err = GW_ENOMEM;
		return;
	}
	k->c = c;
	k->id = r->id;
	c->pending++;
	rv = gw_raft_lease_keepalive(srv->opts.raft, r->id, ka_done, k);
	if (rv != 0) {
		c->pending--;
		free(k);
		ka_reply(c, r->id, rv, 0);
	}
}

void gw_etcd__lease_ka_end(struct gw_etcd__call *c, bool gone)
{
	(void)gone;
	ka_maybe_end(c);
}

/* Answer a TimeToLive from the local store (granted TTL, keys) with
 * @left seconds remaining (< 0: not known, the granted TTL is shown). */
static void ttl_answer(struct gw_etcd__call *c, int64_t left)
{
	const Etcdserverpb__LeaseTimeToLiveRequest *r = c->svc;
	Etcdserverpb__LeaseTimeToLiveResponse *m =
	    GW_ETCD__ALLOC(c, Etcdserverpb__LeaseTimeToLiveResponse);
	struct gw_lease_info info;
	int rv;

	if (m == NULL) {
		gw_etcd__finish(c, GW_ENOMEM);
		return;
	}
	etcdserverpb__lease_time_to_live_response__init(m);
	m->header = gw_etcd__svc_header(c, 0);
	m->id = r->id;
	memset(&info, 0, sizeof info);
	rv = gw_store_lease_get(c->srv->opts.store, r->id, r->keys, &info);
	if (rv == GW_ELEASENOTFOUND) {
		m->ttl = -1;
		gw_etcd__reply(c, m->header != NULL ? m : NULL);
		return;
	}
	if (rv != 0) {
		gw_etcd__finish(c, rv);
		return;
	}
	m->grantedttl = info.ttl;
	m->ttl = left >= 0 ? left : info.ttl;
	if (r->keys && info.n_keys > 0) {
		size_t i;
		m->keys = gw_etcd__arena_alloc(&c->arena, info.n_keys * sizeof *m->keys);
		if (m->keys == NULL) {
			gw_store_lease_info_free(&info);
			gw_etcd__finish(c, GW_ENOMEM);
			return;
		}
		m->n_keys = info.n_keys;
		for (i = 0; i < info.n_keys; i++) {
			m->keys[i].data = (uint8_t *)info.keys[i].key;
			m->keys[i].len = info.keys[i].key_len;
		}
	}
	/* The keys point into @info: copied by the reply's encoding. */
	gw_etcd__reply(c, m->header != NULL ? m : NULL);
	gw_store_lease_info_free(&info);
}

static void ttl_done(void *data, int err, int64_t left)
{
	struct gw_etcd__call *c = data;

	if (gw_etcd__resume(c, err)) {
		ttl_answer(c, left);
	}
}

/* TimeToLive through any member: the time left is the leader's (a follower
 * asks it), and the keys are read once this node has applied what the
 * leader had, so a key attached just before is listed. */
void gw_etcd__lease_ttl(struct gw_etcd__call *c, const ProtobufCMessage *msg)
{
	const Etcdserverpb__LeaseTimeToLiveRequest *r =
	    (const Etcdserverpb__LeaseTimeToLiveRequest *)msg;
	int rv;

	c->svc = (void *)r;
	if (c->srv->opts.raft == NULL) {
		ttl_answer(c, -1);
		return;
	}
	c->pending++;
	rv = gw_raft_lease_ttl(c->srv->opts.raft, r->id, gw_etcd__read_timeout(c), ttl_done, c);
	if (rv != 0) {
		c->pending--;
		gw_etcd__finish(c, rv);
	}
}

void gw_etcd__lease_leases(struct gw_etcd__call *c, const ProtobufCMessage *msg)
{
	Etcdserverpb__LeaseLeasesResponse *m = GW_ETCD__ALLOC(c, Etcdserverpb__LeaseLeasesResponse);
	int64_t *ids = NULL;
	int64_t *ttls = NULL;
	size_t n = 0;
	size_t i;
	int rv;

	(void)msg;
	if (m == NULL) {
		gw_etcd__finish(c, GW_ENOMEM);
		return;
	}
	etcdserverpb__lease_leases_response__init(m);
	m->header = gw_etcd__svc_header(c, 0);
	rv = gw_store_lease_list(c->srv->opts.store, &ids, &ttls, &n);
	if (rv != 0) {
		gw_etcd__finish(c, rv);
		return;
	}
	if (n > 0) {
		m->leases = gw_etcd__arena_alloc(&c->arena, n * sizeof *m->leases);
		if (m->leases == NULL) {
			n = 0;
			m = NULL;
		}
	}
	for (i = 0; i < n; i++) {
		Etcdserverpb__LeaseStatus *s = GW_ETCD__ALLOC(c, Etcdserverpb__LeaseStatus);
		if (s == NULL) {
			m = NULL;
			break;
		}
		etcdserverpb__lease_status__init(s);
		s->id = ids[i];
		m->leases[i] = s;
		m->n_leases = i + 1;
	}
	free(ids);
	free(ttls);
	gw_etcd__reply(c, m != NULL && m->header != NULL ? m : NULL);
}
