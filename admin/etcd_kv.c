/* etcd_kv.c: the KV service of the etcd API (Range, Put, DeleteRange, Txn,
 * Compact) and the conversions between its protobuf messages and store.h.
 *
 * Happy path: a request is translated into store.h terms; writes go through
 * gw_etcd__propose (raft forwards them to the leader) and answer from the
 * committed result; a linearizable Range waits for gw_raft_read_barrier
 * then reads the local store, a serializable one reads at once. Responses
 * are built in the call's arena, pointing into the store's result.
 * Failure modes: raft errors (no leader, timeout, leader changed) and the
 * store's business errors end the call through gw_etcd__finish, which maps
 * them (etcd_codec.c); a request the store refuses before any proposal
 * (an empty key, too many txn operations, txns nested deeper than 16) ends
 * it at once. So does a Put, or a Txn with a put in either branch, that
 * writes an APISIX object (/apisix/routes/<id>, ...) the Admin API would
 * refuse (gw_admin_check_stored: strict JSON and the schema):
 * INVALID_ARGUMENT "<key> is not a valid route: <reason>", nothing stored.
 * Loop thread. */
#include "config.h"

#include "admin/apisix.h"
#include "admin/etcd_int.h"
#include "lib/err.h"
#include "lib/log.h"
#include "raft/raft.h"
#include "store/store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- conversions ---- */

Etcdserverpb__KeyValue *gw_etcd__kv_of(struct gw_etcd__arena *a, const struct gw_kv *kv)
{
	Etcdserverpb__KeyValue *p = gw_etcd__arena_alloc(a, sizeof *p);
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
		arr[i] = gw_etcd__kv_of(&c->arena, &kvs[i]);
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
						  const struct gw_range_resp *r,
						  Etcdserverpb__ResponseHeader *h)
{
	Etcdserverpb__RangeResponse *m = GW_ETCD__ALLOC(c, Etcdserverpb__RangeResponse);
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
					      const struct gw_store_result *r,
					      Etcdserverpb__ResponseHeader *h)
{
	Etcdserverpb__PutResponse *m = GW_ETCD__ALLOC(c, Etcdserverpb__PutResponse);
	if (m == NULL || h == NULL) {
		return NULL;
	}
	etcdserverpb__put_response__init(m);
	m->header = h;
	if (r->has_prev_kv) {
		m->prev_kv = gw_etcd__kv_of(&c->arena, &r->prev_kv);
		if (m->prev_kv == NULL) {
			return NULL;
		}
	}
	return m;
}

static Etcdserverpb__DeleteRangeResponse *del_resp_of(struct gw_etcd__call *c,
						      const struct gw_store_result *r,
						      Etcdserverpb__ResponseHeader *h)
{
	Etcdserverpb__DeleteRangeResponse *m = GW_ETCD__ALLOC(c, Etcdserverpb__DeleteRangeResponse);
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
					      const struct gw_store_result *r,
					      Etcdserverpb__ResponseHeader *h, int depth)
{
	Etcdserverpb__TxnResponse *m = GW_ETCD__ALLOC(c, Etcdserverpb__TxnResponse);
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
		Etcdserverpb__ResponseOp *o = GW_ETCD__ALLOC(c, Etcdserverpb__ResponseOp);
		Etcdserverpb__ResponseHeader *sh =
		    gw_etcd__rev_header(c, s->revision != 0 ? s->revision : r->revision);
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

/* ---- values under /apisix/: the Admin API's checks ---- */

#define REFUSAL_MAX 256 /* a refusal's message (grpc-message is cut there too) */

/* gw_admin_check_stored of a put: 0, GW_EINVAL with the reason in @msg,
 * GW_ENOMEM. A put that keeps the stored value (ignore_value) is not
 * checked: that value passed when it was written. */
static int check_put(const struct gw_put_req *q, char *msg, size_t n)
{
	if (q->ignore_value) {
		return 0;
	}
	return gw_admin_check_stored(q->key, q->key_len, q->value, q->value_len, msg, n);
}

/* check_put of every put of a txn, both branches and nested txns (whose
 * depth txn_of bounded). */
static int check_txn(const struct gw_txn_req *t, char *msg, size_t n)
{
	size_t i;
	int rv = 0;

	for (i = 0; i < t->n_success + t->n_failure && rv == 0; i++) {
		const struct gw_store_op *op =
		    i < t->n_success ? &t->success[i] : &t->failure[i - t->n_success];
		if (op->type == GW_OP_PUT) {
			rv = check_put(&op->u.put, msg, n);
		} else if (op->type == GW_OP_TXN) {
			rv = check_txn(&op->u.txn, msg, n);
		}
	}
	return rv;
}

/* End @c refused by check_put/check_txn: INVALID_ARGUMENT with @msg (HTTP
 * 400 {"error","code":3,"message"} on the JSON gateway), nothing stored. */
static void refuse(struct gw_etcd__call *c, int err, const char *msg)
{
	if (err == GW_EINVAL) {
		gw_etcd__finish_status(c, GW_GRPC_INVALID_ARGUMENT, msg);
	} else {
		gw_etcd__finish(c, err);
	}
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
	gw_etcd__reply(c, range_resp_of(c, &resp, gw_etcd__svc_header(c, resp.revision)));
	gw_store_range_resp_free(&resp);
}

static void range_barrier_done(void *data, int err)
{
	struct gw_etcd__call *c = data;

	if (gw_etcd__resume(c, err)) {
		range_now(c);
	}
}

void gw_etcd__kv_range(struct gw_etcd__call *c, const ProtobufCMessage *msg)
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
	gw_etcd__reply(c, put_resp_of(c, res, gw_etcd__svc_header(c, res->revision)));
}

void gw_etcd__kv_put(struct gw_etcd__call *c, const ProtobufCMessage *msg)
{
	const Etcdserverpb__PutRequest *r = (const Etcdserverpb__PutRequest *)msg;
	struct gw_store_op op;
	char why[REFUSAL_MAX];
	int rv;

	if (r->key.len == 0) {
		gw_etcd__finish(c, GW_EKEYEMPTY);
		return;
	}
	memset(&op, 0, sizeof op);
	op.type = GW_OP_PUT;
	put_req_of(r, &op.u.put);
	rv = check_put(&op.u.put, why, sizeof why);
	if (rv != 0) {
		refuse(c, rv, why);
		return;
	}
	if (gw_store_over_quota(c->srv->opts.store)) {
		gw_etcd__finish(c, GW_ENOSPACE); /* etcd's API layer refuses it too */
		return;
	}
	gw_etcd__propose(c, &op, put_done);
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
	gw_etcd__reply(c, del_resp_of(c, res, gw_etcd__svc_header(c, res->revision)));
}

void gw_etcd__kv_delete(struct gw_etcd__call *c, const ProtobufCMessage *msg)
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
	gw_etcd__propose(c, &op, del_done);
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
	gw_etcd__reply(c, txn_resp_of(c, res, gw_etcd__svc_header(c, res->revision), 0));
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

void gw_etcd__kv_txn(struct gw_etcd__call *c, const ProtobufCMessage *msg)
{
	const Etcdserverpb__TxnRequest *r = (const Etcdserverpb__TxnRequest *)msg;
	struct gw_store_op op;
	char why[REFUSAL_MAX];
	int rv;

	memset(&op, 0, sizeof op);
	op.type = GW_OP_TXN;
	rv = txn_of(c, r, &op.u.txn, 0);
	if (rv == 0) {
		/* etcd's --max-txn-ops for clients (the store applies more) */
		rv = gw_store_check_ops(c->srv->opts.store, &op, GW_STORE_MAX_TXN_OPS);
	}
	if (rv == 0) {
		rv = check_txn(&op.u.txn, why, sizeof why);
		if (rv != 0) {
			refuse(c, rv, why);
			return;
		}
	}
	if (rv == 0 && txn_has_put(&op.u.txn) && gw_store_over_quota(c->srv->opts.store)) {
		rv = GW_ENOSPACE;
	}
	if (rv != 0) {
		gw_etcd__finish(c, rv);
		return;
	}
	gw_etcd__propose(c, &op, txn_done);
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
	m = GW_ETCD__ALLOC(c, Etcdserverpb__CompactionResponse);
	if (m != NULL) {
		etcdserverpb__compaction_response__init(m);
		m->header = gw_etcd__svc_header(c, res->revision);
	}
	gw_etcd__reply(c, m != NULL && m->header != NULL ? m : NULL);
}

void gw_etcd__kv_compact(struct gw_etcd__call *c, const ProtobufCMessage *msg)
{
	const Etcdserverpb__CompactionRequest *r = (const Etcdserverpb__CompactionRequest *)msg;
	struct gw_store_op op;

	memset(&op, 0, sizeof op);
	op.type = GW_OP_COMPACT;
	op.u.compact.revision = r->revision;
	gw_etcd__propose(c, &op, compact_done);
}
