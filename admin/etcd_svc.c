/* etcd_svc.c: the KV, Lease, Cluster and Maintenance services and the
 * method table of the etcd API.
 *
 * Each unary handler translates the protobuf request into store.h terms,
 * then: writes go through gw_raft_propose (any node; raft forwards to the
 * leader) and answer from the committed result; a linearizable Range waits
 * for gw_raft_read_barrier then reads the local store, a serializable one
 * reads at once. Responses are built in the call's arena, pointing into the
 * store's result, serialized by gw_etcd__send and freed right after.
 * Failure modes: raft errors (no leader, timeout, leader changed) and the
 * store's business errors end the call through gw_etcd__finish, which maps
 * them (etcd_codec.c). A call whose client went away still waits for its
 * raft answer, then ends quietly.
 * Without a raft (standalone), writes are applied to the local store. */
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
#define ETCD_VERSION  "3.4.23"

typedef Etcdserverpb__ResponseHeader Header;

#define ALLOC(c, type) ((type *)gw_etcd__arena_alloc(&(c)->arena, sizeof(type)))

static Header *header(struct gw_etcd__call *c, int64_t rev)
{
	Header *h = ALLOC(c, Header);
	if (h != NULL) {
		etcdserverpb__response_header__init(h);
		gw_etcd__header(c->srv, h, rev);
	}
	return h;
}

/* A header carrying only the revision (sub-responses of a txn). */
static Header *rev_header(struct gw_etcd__call *c, int64_t rev)
{
	Header *h = ALLOC(c, Header);
	if (h != NULL) {
		etcdserverpb__response_header__init(h);
		h->revision = rev;
	}
	return h;
}

/* Send @m and end the call (unary success), or end with GW_ENOMEM. */
static void reply(struct gw_etcd__call *c, void *m)
{
	if (m == NULL) {
		gw_etcd__finish(c, GW_ENOMEM);
		return;
	}
	gw_etcd__finish(c, gw_etcd__send(c, m) == GW_ENOMEM ? GW_ENOMEM : 0);
}

/* ---- raft plumbing ---- */

typedef void (*done_cb)(struct gw_etcd__call *c, int err, struct gw_store_result *res);

struct pctx {
	struct gw_etcd__call *c;
	done_cb cb;
};

static void propose_done(void *data, int err, struct gw_store_result *res)
{
	struct pctx *p = data;
	struct gw_etcd__call *c = p->c;
	done_cb cb = p->cb;

	free(p);
	c->pending--;
	if (c->gone) {
		gw_etcd__finish(c, GW_ECANCELED);
	} else {
		cb(c, err, err == 0 ? res : NULL);
	}
	if (res != NULL) {
		gw_store_result_free(res);
	}
}

/* Propose @op; @cb runs once (perhaps before this returns, without a
 * raft) with the committed result or an error, and must finish the call. */
static void propose(struct gw_etcd__call *c, const struct gw_store_op *op, done_cb cb)
{
	struct gw_etcd *srv = c->srv;
	struct pctx *p;
	int rv;

	if (srv->opts.raft == NULL) {
		struct gw_store_result res;
		memset(&res, 0, sizeof res);
		rv = gw_store_write(srv->opts.store, gw_store_applied_index(srv->opts.store) + 1,
				    op, &res);
		cb(c, rv, rv == 0 ? &res : NULL);
		gw_store_result_free(&res);
		return;
	}
	p = malloc(sizeof *p);
	if (p == NULL) {
		cb(c, GW_ENOMEM, NULL);
		return;
	}
	p->c = c;
	p->cb = cb;
	c->pending++;
	rv = gw_raft_propose(srv->opts.raft, op, gw_etcd__write_timeout(c), propose_done, p);
	if (rv != 0) {
		c->pending--;
		free(p);
		cb(c, rv, NULL);
	}
}

/* ---- conversions ---- */

static Etcdserverpb__KeyValue *kv_of(struct gw_etcd__call *c, const struct gw_kv *kv)
{
	Etcdserverpb__KeyValue *p = ALLOC(c, Etcdserverpb__KeyValue);
	if (p == NULL) {
		return NULL;
	}
	etcdserverpb__key_value__init(p);
	p->key.data = (uint8_t *)kv->key;
	p->key.len = kv->key_len;
	p->value.data = (uint8_t *)kv->value;
	p->value.len = kv->value != NULL ? kv->value_len : 0;
	p->create_revision = kv->create_revision;
	p->mod_revision = kv->mod_revision;
	p->version = kv->version;
	p->lease = kv->lease;
	return p;
}

static Etcdserverpb__KeyValue **kvs_of(struct gw_etcd__call *c, const struct gw_kv *kvs, size_t n,
				       bool *ok)
{
	Etcdserverpb__KeyValue **arr;
	size_t i;
	*ok = true;
	if (n == 0) {
		return NULL;
	}
	arr = gw_etcd__arena_alloc(&c->arena, n * sizeof *arr);
	if (arr == NULL) {
		*ok = false;
		return NULL;
	}
	for (i = 0; i < n; i++) {
		arr[i] = kv_of(c, &kvs[i]);
		if (arr[i] == NULL) {
			*ok = false;
			return NULL;
		}
	}
	return arr;
}

static void range_req_of(const Etcdserverpb__RangeRequest *r, struct gw_range_req *q)
{
	memset(q, 0, sizeof *q);
	q->key = (const char *)r->key.data;
	q->key_len = r->key.len;
	q->range_end = (const char *)r->range_end.data;
	q->range_end_len = r->range_end.len;
	q->limit = r->limit;
	q->revision = r->revision;
	q->sort_order = (enum gw_sort_order)r->sort_order;
	q->sort_target = (enum gw_sort_target)r->sort_target;
	q->serializable = r->serializable;
	q->keys_only = r->keys_only;
	q->count_only = r->count_only;
	q->min_mod_revision = r->min_mod_revision;
	q->max_mod_revision = r->max_mod_revision;
	q->min_create_revision = r->min_create_revision;
	q->max_create_revision = r->max_create_revision;
}

static void put_req_of(const Etcdserverpb__PutRequest *r, struct gw_put_req *q)
{
	memset(q, 0, sizeof *q);
	q->key = (const char *)r->key.data;
	q->key_len = r->key.len;
	q->value = r->value.data != NULL ? (const char *)r->value.data : "";
	q->value_len = r->value.len;
	q->lease = r->lease;
	q->prev_kv = r->prev_kv;
	q->ignore_value = r->ignore_value;
	q->ignore_lease = r->ignore_lease;
}

static void del_req_of(const Etcdserverpb__DeleteRangeRequest *r, struct gw_delete_req *q)
{
	memset(q, 0, sizeof *q);
	q->key = (const char *)r->key.data;
	q->key_len = r->key.len;
	q->range_end = (const char *)r->range_end.data;
	q->range_end_len = r->range_end.len;
	q->prev_kv = r->prev_kv;
}

static int txn_of(struct gw_etcd__call *c, const Etcdserverpb__TxnRequest *t, struct gw_txn_req *q,
		  int depth);

static int op_of(struct gw_etcd__call *c, const Etcdserverpb__RequestOp *r, struct gw_store_op *op,
		 int depth)
{
	memset(op, 0, sizeof *op);
	switch (r->request_case) {
	case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE:
		if (r->request_range->key.len == 0) {
			return GW_EKEYEMPTY;
		}
		op->type = GW_OP_RANGE;
		range_req_of(r->request_range, &op->u.range);
		return 0;
	case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT:
		if (r->request_put->key.len == 0) {
			return GW_EKEYEMPTY;
		}
		op->type = GW_OP_PUT;
		put_req_of(r->request_put, &op->u.put);
		return 0;
	case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE:
		if (r->request_delete_range->key.len == 0) {
			return GW_EKEYEMPTY;
		}
		op->type = GW_OP_DELETE;
		del_req_of(r->request_delete_range, &op->u.del);
		return 0;
	case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_TXN:
		op->type = GW_OP_TXN;
		return txn_of(c, r->request_txn, &op->u.txn, depth + 1);
	default:
		return GW_EKEYEMPTY; /* an empty RequestOp: etcd says "key is not provided" too */
	}
}

static int ops_of(struct gw_etcd__call *c, Etcdserverpb__RequestOp **in, size_t n,
		  struct gw_store_op **out, int depth)
{
	size_t i;
	int rv;
	*out = NULL;
	if (n == 0) {
		return 0;
	}
	if (n > GW_STORE_MAX_TXN_OPS) {
		return GW_ETOOMANYOPS;
	}
	*out = gw_etcd__arena_alloc(&c->arena, n * sizeof **out);
	if (*out == NULL) {
		return GW_ENOMEM;
	}
	for (i = 0; i < n; i++) {
		rv = op_of(c, in[i], &(*out)[i], depth);
		if (rv != 0) {
			return rv;
		}
	}
	return 0;
}

static int txn_of(struct gw_etcd__call *c, const Etcdserverpb__TxnRequest *t, struct gw_txn_req *q,
		  int depth)
{
	size_t i;
	int rv;

	memset(q, 0, sizeof *q);
	if (depth > 16) {
		return GW_EINVAL;
	}
	if (t->n_compare > GW_STORE_MAX_TXN_OPS) {
		return GW_ETOOMANYOPS;
	}
	if (t->n_compare > 0) {
		q->compares = gw_etcd__arena_alloc(&c->arena, t->n_compare * sizeof *q->compares);
		if (q->compares == NULL) {
			return GW_ENOMEM;
		}
	}
	q->n_compares = t->n_compare;
	for (i = 0; i < t->n_compare; i++) {
		const Etcdserverpb__Compare *p = t->compare[i];
		struct gw_compare *k = &q->compares[i];
		if (p->key.len == 0) {
			return GW_EKEYEMPTY;
		}
		k->result = (enum gw_cmp_result)p->result;
		k->target = (enum gw_cmp_target)p->target;
		k->key = (const char *)p->key.data;
		k->key_len = p->key.len;
		k->range_end = (const char *)p->range_end.data;
		k->range_end_len = p->range_end.len;
		switch (p->target_union_case) {
		case ETCDSERVERPB__COMPARE__TARGET_UNION_VERSION:
			k->number = p->version;
			break;
		case ETCDSERVERPB__COMPARE__TARGET_UNION_CREATE_REVISION:
			k->number = p->create_revision;
			break;
		case ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION:
			k->number = p->mod_revision;
			break;
		case ETCDSERVERPB__COMPARE__TARGET_UNION_LEASE:
			k->number = p->lease;
			break;
		case ETCDSERVERPB__COMPARE__TARGET_UNION_VALUE:
			k->value = p->value.data != NULL ? (const char *)p->value.data : "";
			k->value_len = p->value.len;
			break;
		default:
			if (k->target == GW_CMP_VALUE) {
				k->value = "";
			}
			break;
		}
	}
	rv = ops_of(c, t->success, t->n_success, &q->success, depth);
	if (rv == 0) {
		q->n_success = t->n_success;
		rv = ops_of(c, t->failure, t->n_failure, &q->failure, depth);
		q->n_failure = t->n_failure;
	}
	return rv;
}

static Etcdserverpb__RangeResponse *range_resp_of(struct gw_etcd__call *c,
						  const struct gw_range_resp *r, Header *h)
{
	Etcdserverpb__RangeResponse *m = ALLOC(c, Etcdserverpb__RangeResponse);
	bool ok;
	if (m == NULL || h == NULL) {
		return NULL;
	}
	etcdserverpb__range_response__init(m);
	m->header = h;
	m->kvs = kvs_of(c, r->kvs, r->n_kvs, &ok);
	if (!ok) {
		return NULL;
	}
	m->n_kvs = r->n_kvs;
	m->more = r->more;
	m->count = r->count;
	return m;
}

static Etcdserverpb__PutResponse *put_resp_of(struct gw_etcd__call *c,
					      const struct gw_store_result *r, Header *h)
{
	Etcdserverpb__PutResponse *m = ALLOC(c, Etcdserverpb__PutResponse);
	if (m == NULL || h == NULL) {
		return NULL;
	}
	etcdserverpb__put_response__init(m);
	m->header = h;
	if (r->has_prev_kv) {
		m->prev_kv = kv_of(c, &r->prev_kv);
		if (m->prev_kv == NULL) {
			return NULL;
		}
	}
	return m;
}

static Etcdserverpb__DeleteRangeResponse *del_resp_of(struct gw_etcd__call *c,
						      const struct gw_store_result *r, Header *h)
{
	Etcdserverpb__DeleteRangeResponse *m = ALLOC(c, Etcdserverpb__DeleteRangeResponse);
	bool ok;
	if (m == NULL || h == NULL) {
		return NULL;
	}
	etcdserverpb__delete_range_response__init(m);
	m->header = h;
	m->deleted = r->deleted;
	m->prev_kvs = kvs_of(c, r->prev_kvs, r->n_prev_kvs, &ok);
	if (!ok) {
		return NULL;
	}
	m->n_prev_kvs = r->n_prev_kvs;
	return m;
}

static Etcdserverpb__TxnResponse *txn_resp_of(struct gw_etcd__call *c,
					      const struct gw_store_result *r, Header *h, int depth)
{
	Etcdserverpb__TxnResponse *m = ALLOC(c, Etcdserverpb__TxnResponse);
	size_t i;
	if (m == NULL || h == NULL || depth > 32) {
		return NULL;
	}
	etcdserverpb__txn_response__init(m);
	m->header = h;
	m->succeeded = r->succeeded;
	if (r->n_responses == 0) {
		return m;
	}
	m->responses = gw_etcd__arena_alloc(&c->arena, r->n_responses * sizeof *m->responses);
	if (m->responses == NULL) {
		return NULL;
	}
	m->n_responses = r->n_responses;
	for (i = 0; i < r->n_responses; i++) {
		const struct gw_store_result *s = &r->responses[i];
		Etcdserverpb__ResponseOp *o = ALLOC(c, Etcdserverpb__ResponseOp);
		Header *sh = rev_header(c, s->revision != 0 ? s->revision : r->revision);
		void *sub = NULL;
		if (o == NULL) {
			return NULL;
		}
		etcdserverpb__response_op__init(o);
		switch (s->type) {
		case GW_OP_RANGE:
			o->response_case = ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE;
			sub = o->response_range = range_resp_of(c, &s->range, sh);
			break;
		case GW_OP_PUT:
			o->response_case = ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_PUT;
			sub = o->response_put = put_resp_of(c, s, sh);
			break;
		case GW_OP_DELETE:
			o->response_case =
			    ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_DELETE_RANGE;
			sub = o->response_delete_range = del_resp_of(c, s, sh);
			break;
		case GW_OP_TXN:
			o->response_case = ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_TXN;
			sub = o->response_txn = txn_resp_of(c, s, sh, depth + 1);
			break;
		default:
			break;
		}
		if (sub == NULL) {
			return NULL;
		}
		m->responses[i] = o;
	}
	return m;
}

/* ---- KV ---- */

static void range_now(struct gw_etcd__call *c)
{
	const Etcdserverpb__RangeRequest *r = c->svc;
	struct gw_range_req q;
	struct gw_range_resp resp;
	int rv;

	range_req_of(r, &q);
	memset(&resp, 0, sizeof resp);
	rv = gw_store_range(c->srv->opts.store, &q, &resp);
	if (rv != 0) {
		gw_etcd__finish(c, rv);
		return;
	}
	reply(c, range_resp_of(c, &resp, header(c, resp.revision)));
	gw_range_resp_free(&resp);
}

static void range_barrier_done(void *data, int err)
{
	struct gw_etcd__call *c = data;
	c->pending--;
	if (c->gone) {
		gw_etcd__finish(c, GW_ECANCELED);
	} else if (err != 0) {
		gw_etcd__finish(c, err);
	} else {
		range_now(c);
	}
}

static void kv_range(struct gw_etcd__call *c, const ProtobufCMessage *msg)
{
	const Etcdserverpb__RangeRequest *r = (const Etcdserverpb__RangeRequest *)msg;
	int rv;

	if (r->key.len == 0) {
		gw_etcd__finish(c, GW_EKEYEMPTY);
		return;
	}
	c->svc = (void *)r;
	if (r->serializable || c->srv->opts.raft == NULL) {
		range_now(c);
		return;
	}
	c->pending++;
	rv = gw_raft_read_barrier(c->srv->opts.raft, gw_etcd__read_timeout(c), range_barrier_done,
				  c);
	if (rv != 0) {
		c->pending--;
		gw_etcd__finish(c, rv);
	}
}

static void put_done(struct gw_etcd__call *c, int err, struct gw_store_result *res)
{
	if (err == 0) {
		err = res->err;
	}
	if (err != 0) {
		gw_etcd__finish(c, err);
		return;
	}
	reply(c, put_resp_of(c, res, header(c, res->revision)));
}

static void kv_put(struct gw_etcd__call *c, const ProtobufCMessage *msg)
{
	const Etcdserverpb__PutRequest *r = (const Etcdserverpb__PutRequest *)msg;
	struct gw_store_op op;

	if (r->key.len == 0) {
		gw_etcd__finish(c, GW_EKEYEMPTY);
		return;
	}
	if (gw_store_over_quota(c->srv->opts.store)) {
		gw_etcd__finish(c, GW_ENOSPACE); /* etcd's API layer refuses it too */
		return;
	}
	memset(&op, 0, sizeof op);
	op.type = GW_OP_PUT;
	put_req_of(r, &op.u.put);
	propose(c, &op, put_done);
}

static void del_done(struct gw_etcd__call *c, int err, struct gw_store_result *res)
{
	if (err == 0) {
		err = res->err;
	}
	if (err != 0) {
		gw_etcd__finish(c, err);
		return;
	}
	reply(c, del_resp_of(c, res, header(c, res->revision)));
}

static void kv_delete(struct gw_etcd__call *c, const ProtobufCMessage *msg)
{
	const Etcdserverpb__DeleteRangeRequest *r = (const Etcdserverpb__DeleteRangeRequest *)msg;
	struct gw_store_op op;

	if (r->key.len == 0) {
		gw_etcd__finish(c, GW_EKEYEMPTY);
		return;
	}
	memset(&op, 0, sizeof op);
	op.type = GW_OP_DELETE;
	del_req_of(r, &op.u.del);
	propose(c, &op, del_done);
}

static void txn_done(struct gw_etcd__call *c, int err, struct gw_store_result *res)
{
	if (err == 0) {
		err = res->err;
	}
	if (err != 0) {
		gw_etcd__finish(c, err);
		return;
	}
	reply(c, txn_resp_of(c, res, header(c, res->revision), 0));
}

static bool txn_has_put(const struct gw_txn_req *t)
{
	size_t i;
	for (i = 0; i < t->n_success + t->n_failure; i++) {
		const struct gw_store_op *op =
		    i < t->n_success ? &t->success[i] : &t->failure[i - t->n_success];
		if (op->type == GW_OP_PUT || (op->type == GW_OP_TXN && txn_has_put(&op->u.txn))) {
			return true;
		}
	}
	return false;
}

static void kv_txn(struct gw_etcd__call *c, const ProtobufCMessage *msg)
{
	const Etcdserverpb__TxnRequest *r = (const Etcdserverpb__TxnRequest *)msg;
	struct gw_store_op op;
	int rv;

	memset(&op, 0, sizeof op);
	op.type = GW_OP_TXN;
	rv = txn_of(c, r, &op.u.txn, 0);
	if (rv == 0 && txn_has_put(&op.u.txn) && gw_store_over_quota(c->srv->opts.store)) {
		rv = GW_ENOSPACE;
	}
	if (rv != 0) {
		gw_etcd__finish(c, rv);
		return;
	}
	propose(c, &op, txn_done);
}

static void compact_done(struct gw_etcd__call *c, int err, struct gw_store_result *res)
{
	Etcdserverpb__CompactionResponse *m;
	if (err == 0) {
		err = res->err;
	}
	if (err != 0) {
		gw_etcd__finish(c, err);
		return;
	}
	m = ALLOC(c, Etcdserverpb__CompactionResponse);
	if (m != NULL) {
		etcdserverpb__compaction_response__init(m);
		m->header = header(c, res->revision);
	}
	reply(c, m != NULL && m->header != NULL ? m : NULL);
}

static void kv_compact(struct gw_etcd__call *c, const ProtobufCMessage *msg)
{
	const Etcdserverpb__CompactionRequest *r = (const Etcdserverpb__CompactionRequest *)msg;
	struct gw_store_op op;

	memset(&op, 0, sizeof op);
	op.type = GW_OP_COMPACT;
	op.u.compact.revision = r->revision;
	propose(c, &op, compact_done);
}

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
	m = ALLOC(c, Etcdserverpb__LeaseGrantResponse);
	if (m != NULL) {
		etcdserverpb__lease_grant_response__init(m);
		m->header = header(c, res->revision);
		m->id = res->lease_id;
		m->ttl = res->lease_ttl;
	}
	reply(c, m != NULL && m->header != NULL ? m : NULL);
}

static void lease_grant(struct gw_etcd__call *c, const ProtobufCMessage *msg)
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
	propose(c, &op, grant_done);
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
	m = ALLOC(c, Etcdserverpb__LeaseRevokeResponse);
	if (m != NULL) {
		etcdserverpb__lease_revoke_response__init(m);
		m->header = header(c, res->revision);
	}
	reply(c, m != NULL && m->header != NULL ? m : NULL);
}

static void lease_revoke(struct gw_etcd__call *c, const ProtobufCMessage *msg)
{
	const Etcdserverpb__LeaseRevokeRequest *r = (const Etcdserverpb__LeaseRevokeRequest *)msg;
	struct gw_store_op op;

	memset(&op, 0, sizeof op);
	op.type = GW_OP_LEASE_REVOKE;
	op.u.lease_revoke.id = r->id;
	propose(c, &op, revoke_done);
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
	Header h = ETCDSERVERPB__RESPONSE_HEADER__INIT;

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

static void lease_ka_msg(struct gw_etcd__call *c, const ProtobufCMessage *msg)
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
			gw_lease_info_free(&info);
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

static void lease_ka_end(struct gw_etcd__call *c, bool gone)
{
	(void)gone;
	ka_maybe_end(c);
}

static void lease_ttl(struct gw_etcd__call *c, const ProtobufCMessage *msg)
{
	const Etcdserverpb__LeaseTimeToLiveRequest *r =
	    (const Etcdserverpb__LeaseTimeToLiveRequest *)msg;
	Etcdserverpb__LeaseTimeToLiveResponse *m = ALLOC(c, Etcdserverpb__LeaseTimeToLiveResponse);
	struct gw_lease_info info;
	int rv;

	if (m == NULL) {
		gw_etcd__finish(c, GW_ENOMEM);
		return;
	}
	etcdserverpb__lease_time_to_live_response__init(m);
	m->header = header(c, 0);
	m->id = r->id;
	memset(&info, 0, sizeof info);
	rv = gw_store_lease_get(c->srv->opts.store, r->id, r->keys, &info);
	if (rv == GW_ELEASENOTFOUND) {
		m->ttl = -1;
		reply(c, m->header != NULL ? m : NULL);
		return;
	}
	if (rv != 0) {
		gw_etcd__finish(c, rv);
		return;
	}
	m->grantedttl = info.ttl;
	m->ttl = c->srv->opts.raft != NULL ? gw_raft_lease_remaining(c->srv->opts.raft, r->id) : -1;
	if (m->ttl < 0) {
		m->ttl = info.ttl;
	}
	if (r->keys && info.n_keys > 0) {
		size_t i;
		m->keys = gw_etcd__arena_alloc(&c->arena, info.n_keys * sizeof *m->keys);
		if (m->keys == NULL) {
			gw_lease_info_free(&info);
			gw_etcd__finish(c, GW_ENOMEM);
			return;
		}
		m->n_keys = info.n_keys;
		for (i = 0; i < info.n_keys; i++) {
			m->keys[i].data = (uint8_t *)info.keys[i].key;
			m->keys[i].len = info.keys[i].key_len;
		}
	}
	reply(c, m->header != NULL ? m : NULL);
	gw_lease_info_free(&info);
}

static void lease_leases(struct gw_etcd__call *c, const ProtobufCMessage *msg)
{
	Etcdserverpb__LeaseLeasesResponse *m = ALLOC(c, Etcdserverpb__LeaseLeasesResponse);
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
	m->header = header(c, 0);
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
		Etcdserverpb__LeaseStatus *s = ALLOC(c, Etcdserverpb__LeaseStatus);
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
	reply(c, m != NULL && m->header != NULL ? m : NULL);
}

/* ---- Cluster ---- */

static char *arena_strdup(struct gw_etcd__call *c, const char *s)
{
	size_t n = strlen(s);
	char *p = gw_etcd__arena_alloc(&c->arena, n + 1);
	if (p != NULL) {
		memcpy(p, s, n);
	}
	return p;
}

static char **one_url(struct gw_etcd__call *c, const char *scheme, const char *addr, size_t *n)
{
	char **arr;
	char buf[200];
	*n = 0;
	if (addr[0] == '\0') {
		return NULL;
	}
	arr = gw_etcd__arena_alloc(&c->arena, sizeof *arr);
	if (arr == NULL) {
		return NULL;
	}
	snprintf(buf, sizeof buf, "%s%s", strstr(addr, "://") == NULL ? scheme : "", addr);
	arr[0] = arena_strdup(c, buf);
	*n = arr[0] != NULL ? 1 : 0;
	return arr;
}

/* Members as etcd lists them (none while this node is still joining).
 * 0 or GW_ENOMEM. */
static int members_of(struct gw_etcd__call *c, Etcdserverpb__Member ***out, size_t *n)
{
	struct gw_etcd *srv = c->srv;
	struct gw_raft_status *st = srv->status;
	Etcdserverpb__Member **arr;
	int i;
	int count = 1;

	if (srv->opts.raft != NULL) {
		gw_raft_status(srv->opts.raft, st);
		srv->status_at = uv_now(srv->loop);
		srv->status_valid = true;
		count = st->n_members;
	}
	*n = 0;
	*out = NULL;
	if (count <= 0) {
		return 0;
	}
	arr = gw_etcd__arena_alloc(&c->arena, (size_t)count * sizeof *arr);
	if (arr == NULL) {
		return GW_ENOMEM;
	}
	for (i = 0; i < count; i++) {
		Etcdserverpb__Member *m = ALLOC(c, Etcdserverpb__Member);
		if (m == NULL) {
			return GW_ENOMEM;
		}
		etcdserverpb__member__init(m);
		if (srv->opts.raft == NULL) {
			m->id = srv->standalone_id;
			m->name = arena_strdup(c, "standalone");
			m->clienturls = one_url(c, "", srv->url, &m->n_clienturls);
		} else {
			const struct gw_raft_member *rm = &st->members[i];
			m->id = rm->id;
			m->name = arena_strdup(c, rm->name);
			m->peerurls = one_url(c, "http://", rm->raft_address, &m->n_peerurls);
			m->clienturls = one_url(c, "http://", rm->etcd_url, &m->n_clienturls);
			m->islearner = rm->role != GW_ROLE_VOTER;
		}
		if (m->name == NULL) {
			return GW_ENOMEM;
		}
		arr[i] = m;
	}
	*n = (size_t)count;
	*out = arr;
	return 0;
}

static void member_list(struct gw_etcd__call *c, const ProtobufCMessage *msg)
{
	Etcdserverpb__MemberListResponse *m = ALLOC(c, Etcdserverpb__MemberListResponse);
	(void)msg;
	if (m == NULL) {
		gw_etcd__finish(c, GW_ENOMEM);
		return;
	}
	etcdserverpb__member_list_response__init(m);
	if (members_of(c, &m->members, &m->n_members) != 0) {
		gw_etcd__finish(c, GW_ENOMEM);
		return;
	}
	m->header = header(c, 0);
	reply(c, m->header != NULL ? m : NULL);
}

static void member_add(struct gw_etcd__call *c, const ProtobufCMessage *msg)
{
	(void)msg;
	gw_etcd__finish_status(
	    c, GW_GRPC_FAILED_PRECONDITION,
	    "etcdserver: apigw adds members with `apigw join`, not MemberAdd: on the new node run "
	    "`apigw join --peer <this member's etcd address> --join-secret <the cluster's join "
	    "secret>`");
}

static void remove_done(void *data, int err)
{
	struct gw_etcd__call *c = data;
	Etcdserverpb__MemberRemoveResponse *m;

	c->pending--;
	if (c->gone || err != 0) {
		gw_etcd__finish(c, c->gone ? GW_ECANCELED : err);
		return;
	}
	m = ALLOC(c, Etcdserverpb__MemberRemoveResponse);
	if (m == NULL) {
		gw_etcd__finish(c, GW_ENOMEM);
		return;
	}
	etcdserverpb__member_remove_response__init(m);
	if (members_of(c, &m->members, &m->n_members) != 0) {
		gw_etcd__finish(c, GW_ENOMEM);
		return;
	}
	m->header = header(c, 0);
	reply(c, m->header != NULL ? m : NULL);
}

static void member_remove(struct gw_etcd__call *c, const ProtobufCMessage *msg)
{
	const Etcdserverpb__MemberRemoveRequest *r = (const Etcdserverpb__MemberRemoveRequest *)msg;
	int rv;

	if (c->srv->opts.raft == NULL) {
		gw_etcd__finish(c, GW_EMEMBERNOTFOUND);
		return;
	}
	c->pending++;
	rv = gw_raft_remove(c->srv->opts.raft, r->id, remove_done, c);
	if (rv != 0) {
		c->pending--;
		gw_etcd__finish(c, rv);
	}
}

/* ---- Maintenance ---- */

static void mt_status(struct gw_etcd__call *c, const ProtobufCMessage *msg)
{
	struct gw_etcd *srv = c->srv;
	Etcdserverpb__StatusResponse *m = ALLOC(c, Etcdserverpb__StatusResponse);
	uint64_t db = gw_store_db_size(srv->opts.store);

	(void)msg;
	if (m == NULL) {
		gw_etcd__finish(c, GW_ENOMEM);
		return;
	}
	etcdserverpb__status_response__init(m);
	srv->status_valid = false; /* Status reports the raft state of now */
	m->header = header(c, 0);
	m->version = (char *)ETCD_VERSION;
	m->dbsize = (int64_t)db;
	m->dbsizeinuse = (int64_t)gw_store_db_size_in_use(srv->opts.store);
	if (srv->opts.raft != NULL) {
		struct gw_raft_status *st = srv->status; /* filled by header() */
		m->leader = st->leader_id;
		m->raftindex = st->commit_index;
		m->raftterm = st->term;
		m->raftappliedindex = st->applied_index;
		m->islearner = st->role != GW_ROLE_VOTER;
		if (st->leader_id == 0) {
			m->errors = gw_etcd__arena_alloc(&c->arena, sizeof *m->errors);
			if (m->errors != NULL) {
				m->errors[0] = (char *)"etcdserver: no leader";
				m->n_errors = 1;
			}
		}
	} else {
		uint64_t idx = gw_store_applied_index(srv->opts.store);
		m->leader = srv->standalone_id;
		m->raftindex = idx;
		m->raftterm = 1;
		m->raftappliedindex = idx;
	}
	reply(c, m->header != NULL ? m : NULL);
}

static void mt_alarm(struct gw_etcd__call *c, const ProtobufCMessage *msg)
{
	Etcdserverpb__AlarmResponse *m = ALLOC(c, Etcdserverpb__AlarmResponse);
	(void)msg;
	if (m == NULL) {
		gw_etcd__finish(c, GW_ENOMEM);
		return;
	}
	etcdserverpb__alarm_response__init(m);
	m->header = header(c, 0);
	/* NOSPACE is raised and cleared by the store itself (quota vs the
	 * bytes in use), so ACTIVATE/DEACTIVATE change nothing: every action
	 * answers with the alarms in force. */
	if (m->header != NULL && gw_store_over_quota(c->srv->opts.store)) {
		Etcdserverpb__AlarmMember *a = ALLOC(c, Etcdserverpb__AlarmMember);
		m->alarms = gw_etcd__arena_alloc(&c->arena, sizeof *m->alarms);
		if (a == NULL || m->alarms == NULL) {
			m = NULL;
		} else {
			etcdserverpb__alarm_member__init(a);
			a->memberid = m->header->member_id;
			a->alarm = ETCDSERVERPB__ALARM_TYPE__NOSPACE;
			m->alarms[0] = a;
			m->n_alarms = 1;
		}
	}
	reply(c, m != NULL && m->header != NULL ? m : NULL);
}

/* Defragment is a no-op: LMDB reuses freed pages in place, so there is no
 * fragmentation for an operator to reclaim by rewriting the file. */
static void mt_defrag(struct gw_etcd__call *c, const ProtobufCMessage *msg)
{
	Etcdserverpb__DefragmentResponse *m = ALLOC(c, Etcdserverpb__DefragmentResponse);
	(void)msg;
	if (m == NULL) {
		gw_etcd__finish(c, GW_ENOMEM);
		return;
	}
	etcdserverpb__defragment_response__init(m);
	m->header = header(c, 0);
	reply(c, m->header != NULL ? m : NULL);
}

static void move_leader_done(void *data, int err)
{
	struct gw_etcd__call *c = data;
	Etcdserverpb__MoveLeaderResponse *m;

	c->pending--;
	if (c->gone || err != 0) {
		gw_etcd__finish(c, c->gone ? GW_ECANCELED : err);
		return;
	}
	m = ALLOC(c, Etcdserverpb__MoveLeaderResponse);
	if (m == NULL) {
		gw_etcd__finish(c, GW_ENOMEM);
		return;
	}
	etcdserverpb__move_leader_response__init(m);
	m->header = header(c, 0);
	reply(c, m->header != NULL ? m : NULL);
}

/* MoveLeader: like etcd, only the leader takes it (etcdctl move-leader
 * finds the leader among its endpoints first). */
static void mt_move_leader(struct gw_etcd__call *c, const ProtobufCMessage *msg)
{
	const Etcdserverpb__MoveLeaderRequest *r = (const Etcdserverpb__MoveLeaderRequest *)msg;
	int rv;

	if (c->srv->opts.raft == NULL) {
		gw_etcd__finish(c, GW_ENOTLEADER);
		return;
	}
	c->pending++;
	rv = gw_raft_transfer(c->srv->opts.raft, r->targetid, move_leader_done, c);
	if (rv != 0) {
		c->pending--;
		gw_etcd__finish(c, rv);
	}
}

static void auth_authenticate(struct gw_etcd__call *c, const ProtobufCMessage *msg)
{
	(void)msg;
	gw_etcd__finish_status(c, GW_GRPC_FAILED_PRECONDITION,
			       "etcdserver: authentication is not enabled");
}

/* Gateway paths of etcd methods apigw does not serve (their gRPC paths
 * fall through to UNIMPLEMENTED in etcd_h2.c). */
static void unimplemented(struct gw_etcd__call *c, const ProtobufCMessage *msg)
{
	(void)msg;
	gw_etcd__finish_status(c, GW_GRPC_UNIMPLEMENTED, "method not implemented by apigw");
}

/* ---- method table ---- */

#define UNARY(path, j1, j2, type, fn)                                                              \
	{                                                                                          \
		path, {j1, j2}, &type##__descriptor, false, fn, NULL, NULL                         \
	}

const struct gw_etcd__method gw_etcd__methods[] = {
    UNARY("/etcdserverpb.KV/Range", "/kv/range", NULL, etcdserverpb__range_request, kv_range),
    UNARY("/etcdserverpb.KV/Put", "/kv/put", NULL, etcdserverpb__put_request, kv_put),
    UNARY("/etcdserverpb.KV/DeleteRange", "/kv/deleterange", NULL,
	  etcdserverpb__delete_range_request, kv_delete),
    UNARY("/etcdserverpb.KV/Txn", "/kv/txn", NULL, etcdserverpb__txn_request, kv_txn),
    UNARY("/etcdserverpb.KV/Compact", "/kv/compaction", NULL, etcdserverpb__compaction_request,
	  kv_compact),
    {"/etcdserverpb.Watch/Watch",
     {"/watch", NULL},
     &etcdserverpb__watch_request__descriptor,
     true,
     NULL,
     gw_etcd__watch_msg,
     gw_etcd__watch_end},
    UNARY("/etcdserverpb.Lease/LeaseGrant", "/lease/grant", NULL, etcdserverpb__lease_grant_request,
	  lease_grant),
    UNARY("/etcdserverpb.Lease/LeaseRevoke", "/lease/revoke", "/kv/lease/revoke",
	  etcdserverpb__lease_revoke_request, lease_revoke),
    {"/etcdserverpb.Lease/LeaseKeepAlive",
     {"/lease/keepalive", NULL},
     &etcdserverpb__lease_keep_alive_request__descriptor,
     true,
     NULL,
     lease_ka_msg,
     lease_ka_end},
    UNARY("/etcdserverpb.Lease/LeaseTimeToLive", "/lease/timetolive", "/kv/lease/timetolive",
	  etcdserverpb__lease_time_to_live_request, lease_ttl),
    UNARY("/etcdserverpb.Lease/LeaseLeases", "/lease/leases", "/kv/lease/leases",
	  etcdserverpb__lease_leases_request, lease_leases),
    UNARY("/etcdserverpb.Cluster/MemberList", "/cluster/member/list", NULL,
	  etcdserverpb__member_list_request, member_list),
    UNARY("/etcdserverpb.Cluster/MemberAdd", "/cluster/member/add", NULL,
	  etcdserverpb__member_add_request, member_add),
    UNARY("/etcdserverpb.Cluster/MemberRemove", "/cluster/member/remove", NULL,
	  etcdserverpb__member_remove_request, member_remove),
    UNARY("/etcdserverpb.Maintenance/Status", "/maintenance/status", NULL,
	  etcdserverpb__status_request, mt_status),
    UNARY("/etcdserverpb.Maintenance/Alarm", "/maintenance/alarm", NULL,
	  etcdserverpb__alarm_request, mt_alarm),
    UNARY("/etcdserverpb.Maintenance/Defragment", "/maintenance/defragment", NULL,
	  etcdserverpb__defragment_request, mt_defrag),
    UNARY("/etcdserverpb.Maintenance/MoveLeader", "/maintenance/transfer-leadership", NULL,
	  etcdserverpb__move_leader_request, mt_move_leader),
    UNARY("/etcdserverpb.Auth/Authenticate", "/auth/authenticate", NULL,
	  etcdserverpb__authenticate_request, auth_authenticate),
    /* JSON-only entries: grpc_path NULL */
    UNARY(NULL, "/cluster/member/update", "/cluster/member/promote", etcdserverpb__status_request,
	  unimplemented),
    UNARY(NULL, "/maintenance/hash", "/maintenance/snapshot", etcdserverpb__status_request,
	  unimplemented),
    UNARY(NULL, "/maintenance/transfer-leadership", NULL, etcdserverpb__status_request,
	  unimplemented),
};

const size_t gw_etcd__n_methods = sizeof gw_etcd__methods / sizeof gw_etcd__methods[0];

const struct gw_etcd__method *gw_etcd__method_grpc(const char *path)
{
	size_t i;
	for (i = 0; i < gw_etcd__n_methods; i++) {
		if (gw_etcd__methods[i].grpc_path != NULL &&
		    strcmp(gw_etcd__methods[i].grpc_path, path) == 0) {
			return &gw_etcd__methods[i];
		}
	}
	return NULL;
}

const struct gw_etcd__method *gw_etcd__method_json(const char *path)
{
	size_t i;
	int k;
	for (i = 0; i < gw_etcd__n_methods; i++) {
		for (k = 0; k < 2; k++) {
			const char *j = gw_etcd__methods[i].json_path[k];
			if (j != NULL && strcmp(j, path) == 0) {
				return &gw_etcd__methods[i];
			}
		}
	}
	return NULL;
}
