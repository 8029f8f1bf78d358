/* codec.c: the binary encoding of raft log commands (struct gw_store_op)
 * and of proposal results (struct gw_store_result).
 *
 * Format v1: one version byte, then the value. Integers are LEB128 varints
 * (signed ones zigzag-encoded), byte strings a varint length then the bytes,
 * booleans packed into a flags byte, enums one byte. A txn holds its
 * compares and its two branches of nested ops (depth bounded). The decoder
 * trusts nothing: every length is checked against the bytes left, every
 * enum and flag against its range, trailing bytes are an error (except up to
 * 7 zero bytes: raft pads entries to 8), and counts
 * are bounded by the input size before anything is allocated, so garbage
 * yields GW_EPROTO and never a crash or a huge allocation. */
#include "config.h"

#include "lib/err.h"
#include "raft/raft_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- encoding ---------------------------------------------------------- */

static int put_u8(struct gw_buf *b, unsigned v)
{
	unsigned char c = (unsigned char)v;
	return gw_buf_append(b, &c, 1);
}

static int put_uvar(struct gw_buf *b, uint64_t v)
{
	unsigned char tmp[10];
	size_t n = 0;

	do {
		unsigned char c = v & 0x7f;
		v >>= 7;
		if (v != 0) {
			c |= 0x80;
		}
		tmp[n++] = c;
	} while (v != 0);
	return gw_buf_append(b, tmp, n);
}

static int put_svar(struct gw_buf *b, int64_t v)
{
	uint64_t z = ((uint64_t)v << 1) ^ (v < 0 ? UINT64_MAX : 0);
	return put_uvar(b, z);
}

static int put_bytes(struct gw_buf *b, const char *p, size_t len)
{
	int rv;

	if (p == NULL && len > 0) {
		return GW_EINVAL;
	}
	rv = put_uvar(b, len);
	if (rv != 0 || len == 0) {
		return rv;
	}
	return gw_buf_append(b, p, len);
}

#define CHECK(expr)                                                                                \
	do {                                                                                       \
		int rv_ = (expr);                                                                  \
		if (rv_ != 0) {                                                                    \
			return rv_;                                                                \
		}                                                                                  \
	} while (0)

static int encode_op(const struct gw_store_op *op, struct gw_buf *b, int depth);

static int encode_ops(const struct gw_store_op *ops, size_t n, struct gw_buf *b, int depth)
{
	size_t i;

	if (ops == NULL && n > 0) {
		return GW_EINVAL;
	}
	CHECK(put_uvar(b, n));
	for (i = 0; i < n; i++) {
		CHECK(encode_op(&ops[i], b, depth + 1));
	}
	return 0;
}

static int encode_op(const struct gw_store_op *op, struct gw_buf *b, int depth)
{
	size_t i;

	if (depth > GW_RAFT_CODEC_MAX_DEPTH) {
		return GW_EINVAL;
	}
	CHECK(put_u8(b, (unsigned)op->type));
	switch (op->type) {
	case GW_OP_RANGE: {
		const struct gw_range_req *q = &op->u.range;
		if ((unsigned)q->sort_order > GW_SORT_DESCEND ||
		    (unsigned)q->sort_target > GW_SORT_VALUE) {
			return GW_EINVAL;
		}
		CHECK(put_bytes(b, q->key, q->key_len));
		CHECK(put_bytes(b, q->range_end, q->range_end_len));
		CHECK(put_svar(b, q->limit));
		CHECK(put_svar(b, q->revision));
		CHECK(put_u8(b, (unsigned)q->sort_order));
		CHECK(put_u8(b, (unsigned)q->sort_target));
		CHECK(put_u8(b, (q->serializable ? 1u : 0u) | (q->keys_only ? 2u : 0u) |
				    (q->count_only ? 4u : 0u)));
		CHECK(put_svar(b, q->min_mod_revision));
		CHECK(put_svar(b, q->max_mod_revision));
		CHECK(put_svar(b, q->min_create_revision));
		CHECK(put_svar(b, q->max_create_revision));
		return 0;
	}
	case GW_OP_PUT: {
		const struct gw_put_req *q = &op->u.put;
		CHECK(put_bytes(b, q->key, q->key_len));
		CHECK(put_bytes(b, q->value, q->value_len));
		CHECK(put_svar(b, q->lease));
		return put_u8(b, (q->prev_kv ? 1u : 0u) | (q->ignore_value ? 2u : 0u) |
				     (q->ignore_lease ? 4u : 0u));
	}
	case GW_OP_DELETE: {
		const struct gw_delete_req *q = &op->u.del;
		CHECK(put_bytes(b, q->key, q->key_len));
		CHECK(put_bytes(b, q->range_end, q->range_end_len));
		return put_u8(b, q->prev_kv ? 1u : 0u);
	}
	case GW_OP_TXN: {
		const struct gw_txn_req *t = &op->u.txn;
		if (t->compares == NULL && t->n_compares > 0) {
			return GW_EINVAL;
		}
		CHECK(put_uvar(b, t->n_compares));
		for (i = 0; i < t->n_compares; i++) {
			const struct gw_compare *c = &t->compares[i];
			if ((unsigned)c->result > GW_CMP_NOT_EQUAL ||
			    (unsigned)c->target > GW_CMP_LEASE) {
				return GW_EINVAL;
			}
			CHECK(put_u8(b, (unsigned)c->result));
			CHECK(put_u8(b, (unsigned)c->target));
			CHECK(put_bytes(b, c->key, c->key_len));
			CHECK(put_bytes(b, c->range_end, c->range_end_len));
			CHECK(put_svar(b, c->number));
			CHECK(put_bytes(b, c->value, c->value_len));
		}
		CHECK(encode_ops(t->success, t->n_success, b, depth));
		return encode_ops(t->failure, t->n_failure, b, depth);
	}
	case GW_OP_COMPACT:
		return put_svar(b, op->u.compact.revision);
	case GW_OP_LEASE_GRANT:
		CHECK(put_svar(b, op->u.lease_grant.id));
		return put_svar(b, op->u.lease_grant.ttl);
	case GW_OP_LEASE_REVOKE:
		return put_svar(b, op->u.lease_revoke.id);
	case GW_OP_META_PUT:
		CHECK(put_bytes(b, op->u.meta.key, op->u.meta.key_len));
		return put_bytes(b, op->u.meta.value, op->u.meta.value_len);
	case GW_OP_META_DELETE:
		return put_bytes(b, op->u.meta.key, op->u.meta.key_len);
	case GW_OP_NOOP:
		return 0;
	}
	return GW_EINVAL;
}

int gw_raft__encode_op(const struct gw_store_op *op, struct gw_buf *out)
{
	size_t start = out->len;
	int rv;

	rv = put_u8(out, GW_RAFT_CODEC_VERSION);
	if (rv == 0) {
		rv = encode_op(op, out, 0);
	}
	if (rv != 0) {
		out->len = start; /* leave the buffer as it was */
		if (out->data != NULL) {
			out->data[start] = '\0';
		}
	}
	return rv;
}

/* ---- decoding ---------------------------------------------------------- */

struct rd {
	const unsigned char *p;
	size_t left;
};

static int get_u8(struct rd *r, unsigned *v)
{
	if (r->left < 1) {
		return GW_EPROTO;
	}
	*v = r->p[0];
	r->p++;
	r->left--;
	return 0;
}

static int get_uvar(struct rd *r, uint64_t *v)
{
	uint64_t x = 0;
	unsigned shift = 0;

	for (;;) {
		unsigned c;
		if (r->left < 1 || shift > 63) {
			return GW_EPROTO;
		}
		c = r->p[0];
		r->p++;
		r->left--;
		if (shift == 63 && (c & 0x7e) != 0) {
			return GW_EPROTO; /* overflows 64 bits */
		}
		x |= (uint64_t)(c & 0x7f) << shift;
		if ((c & 0x80) == 0) {
			break;
		}
		shift += 7;
	}
	*v = x;
	return 0;
}

static int get_svar(struct rd *r, int64_t *v)
{
	uint64_t z;
	int rv = get_uvar(r, &z);
	if (rv != 0) {
		return rv;
	}
	*v = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
	return 0;
}

/* Byte strings of length 0 decode to "" (never NULL, so memcpy(dst, p, 0)
 * stays defined), except range ends where NULL means "one key". */
static int get_bytes(struct rd *r, const char **p, size_t *len, bool null_if_empty)
{
	uint64_t n;
	int rv = get_uvar(r, &n);
	if (rv != 0) {
		return rv;
	}
	if (n > r->left) {
		return GW_EPROTO;
	}
	if (n == 0) {
		*p = null_if_empty ? NULL : "";
	} else {
		*p = (const char *)r->p;
	}
	*len = (size_t)n;
	r->p += n;
	r->left -= n;
	return 0;
}

/* A count of items each at least @min_size bytes long must fit in the input. */
static int get_count(struct rd *r, size_t min_size, size_t *n)
{
	uint64_t v;
	int rv = get_uvar(r, &v);
	if (rv != 0) {
		return rv;
	}
	if (v > r->left / min_size) {
		return GW_EPROTO;
	}
	*n = (size_t)v;
	return 0;
}

static int decode_op(struct rd *r, struct gw_store_op *op, int depth);

static void free_ops(struct gw_store_op *ops, size_t n)
{
	size_t i;
	for (i = 0; i < n && ops != NULL; i++) {
		gw_raft__op_free(&ops[i]);
	}
	free(ops);
}

static int decode_ops(struct rd *r, struct gw_store_op **ops, size_t *n, int depth)
{
	size_t i, cnt;
	int rv;

	*ops = NULL;
	*n = 0;
	CHECK(get_count(r, 1, &cnt));
	if (cnt == 0) {
		return 0;
	}
	*ops = calloc(cnt, sizeof **ops);
	if (*ops == NULL) {
		return GW_ENOMEM;
	}
	for (i = 0; i < cnt; i++) {
		rv = decode_op(r, &(*ops)[i], depth + 1);
		if (rv != 0) {
			free_ops(*ops, i);
			*ops = NULL;
			return rv;
		}
	}
	*n = cnt;
	return 0;
}

static int decode_flags(struct rd *r, unsigned allowed, unsigned *flags)
{
	CHECK(get_u8(r, flags));
	return (*flags & ~allowed) != 0 ? GW_EPROTO : 0;
}

static int decode_txn(struct rd *r, struct gw_txn_req *t, int depth)
{
	size_t i;
	int rv;

	/* A compare is at least 6 bytes: result, target, and one byte each for
	 * an empty key, range end, number and value. */
	CHECK(get_count(r, 6, &t->n_compares));
	if (t->n_compares > 0) {
		t->compares = calloc(t->n_compares, sizeof *t->compares);
		if (t->compares == NULL) {
			t->n_compares = 0;
			return GW_ENOMEM;
		}
	}
	for (i = 0; i < t->n_compares; i++) {
		struct gw_compare *c = &t->compares[i];
		unsigned res, target;
		CHECK(get_u8(r, &res));
		CHECK(get_u8(r, &target));
		if (res > GW_CMP_NOT_EQUAL || target > GW_CMP_LEASE) {
			return GW_EPROTO;
		}
		c->result = (enum gw_cmp_result)res;
		c->target = (enum gw_cmp_target)target;
		CHECK(get_bytes(r, &c->key, &c->key_len, false));
		CHECK(get_bytes(r, &c->range_end, &c->range_end_len, true));
		CHECK(get_svar(r, &c->number));
		CHECK(get_bytes(r, &c->value, &c->value_len, false));
	}
	rv = decode_ops(r, &t->success, &t->n_success, depth);
	if (rv != 0) {
		return rv;
	}
	return decode_ops(r, &t->failure, &t->n_failure, depth);
}

static int decode_op(struct rd *r, struct gw_store_op *op, int depth)
{
	unsigned type, flags, a, b;
	int rv;

	memset(op, 0, sizeof *op);
	if (depth > GW_RAFT_CODEC_MAX_DEPTH) {
		return GW_EPROTO;
	}
	CHECK(get_u8(r, &type));
	if (type > GW_OP_NOOP) {
		return GW_EPROTO;
	}
	op->type = (enum gw_op_type)type;
	switch (op->type) {
	case GW_OP_RANGE: {
		struct gw_range_req *q = &op->u.range;
		CHECK(get_bytes(r, &q->key, &q->key_len, false));
		CHECK(get_bytes(r, &q->range_end, &q->range_end_len, true));
		CHECK(get_svar(r, &q->limit));
		CHECK(get_svar(r, &q->revision));
		CHECK(get_u8(r, &a));
		CHECK(get_u8(r, &b));
		if (a > GW_SORT_DESCEND || b > GW_SORT_VALUE) {
			return GW_EPROTO;
		}
		q->sort_order = (enum gw_sort_order)a;
		q->sort_target = (enum gw_sort_target)b;
		CHECK(decode_flags(r, 7, &flags));
		q->serializable = flags & 1;
		q->keys_only = flags & 2;
		q->count_only = flags & 4;
		CHECK(get_svar(r, &q->min_mod_revision));
		CHECK(get_svar(r, &q->max_mod_revision));
		CHECK(get_svar(r, &q->min_create_revision));
		return get_svar(r, &q->max_create_revision);
	}
	case GW_OP_PUT: {
		struct gw_put_req *q = &op->u.put;
		CHECK(get_bytes(r, &q->key, &q->key_len, false));
		CHECK(get_bytes(r, &q->value, &q->value_len, false));
		CHECK(get_svar(r, &q->lease));
		CHECK(decode_flags(r, 7, &flags));
		q->prev_kv = flags & 1;
		q->ignore_value = flags & 2;
		q->ignore_lease = flags & 4;
		return 0;
	}
	case GW_OP_DELETE: {
		struct gw_delete_req *q = &op->u.del;
		CHECK(get_bytes(r, &q->key, &q->key_len, false));
		CHECK(get_bytes(r, &q->range_end, &q->range_end_len, true));
		CHECK(decode_flags(r, 1, &flags));
		q->prev_kv = flags & 1;
		return 0;
	}
	case GW_OP_TXN:
		rv = decode_txn(r, &op->u.txn, depth);
		if (rv != 0) {
			gw_raft__op_free(op);
		}
		return rv;
	case GW_OP_COMPACT:
		return get_svar(r, &op->u.compact.revision);
	case GW_OP_LEASE_GRANT:
		CHECK(get_svar(r, &op->u.lease_grant.id));
		return get_svar(r, &op->u.lease_grant.ttl);
	case GW_OP_LEASE_REVOKE:
		return get_svar(r, &op->u.lease_revoke.id);
	case GW_OP_META_PUT:
		CHECK(get_bytes(r, &op->u.meta.key, &op->u.meta.key_len, false));
		return get_bytes(r, &op->u.meta.value, &op->u.meta.value_len, false);
	case GW_OP_META_DELETE:
		return get_bytes(r, &op->u.meta.key, &op->u.meta.key_len, false);
	case GW_OP_NOOP:
		return 0;
	}
	return GW_EPROTO;
}

int gw_raft__decode_op(const void *p, size_t len, struct gw_store_op *op)
{
	struct rd r = {p, len};
	unsigned version;
	int rv;

	memset(op, 0, sizeof *op);
	op->type = GW_OP_NOOP;
	if (p == NULL || get_u8(&r, &version) != 0 || version != GW_RAFT_CODEC_VERSION) {
		return GW_EPROTO;
	}
	rv = decode_op(&r, op, 0);
	/* Raft entries are padded to 8 bytes with zeros; nothing else may follow. */
	if (rv == 0 && r.left >= 8) {
		rv = GW_EPROTO;
	}
	while (rv == 0 && r.left > 0) {
		if (*r.p != 0) {
			rv = GW_EPROTO;
		}
		r.p++;
		r.left--;
	}
	if (rv != 0) {
		gw_raft__op_free(op);
		memset(op, 0, sizeof *op);
		op->type = GW_OP_NOOP;
	}
	return rv;
}

void gw_raft__op_free(struct gw_store_op *op)
{
	if (op->type != GW_OP_TXN) {
		return;
	}
	free(op->u.txn.compares);
	op->u.txn.compares = NULL;
	op->u.txn.n_compares = 0;
	free_ops(op->u.txn.success, op->u.txn.n_success);
	op->u.txn.success = NULL;
	op->u.txn.n_success = 0;
	free_ops(op->u.txn.failure, op->u.txn.n_failure);
	op->u.txn.failure = NULL;
	op->u.txn.n_failure = 0;
}

/* ---- results ----------------------------------------------------------- */

static int encode_kv(struct gw_buf *b, const struct gw_kv *kv)
{
	CHECK(put_bytes(b, kv->key, kv->key_len));
	CHECK(put_u8(b, kv->value != NULL ? 1u : 0u));
	if (kv->value != NULL) {
		CHECK(put_bytes(b, kv->value, kv->value_len));
	}
	CHECK(put_svar(b, kv->create_revision));
	CHECK(put_svar(b, kv->mod_revision));
	CHECK(put_svar(b, kv->version));
	return put_svar(b, kv->lease);
}

static int encode_kvs(struct gw_buf *b, const struct gw_kv *kvs, size_t n)
{
	size_t i;
	if (kvs == NULL && n > 0) {
		return GW_EINVAL;
	}
	CHECK(put_uvar(b, n));
	for (i = 0; i < n; i++) {
		CHECK(encode_kv(b, &kvs[i]));
	}
	return 0;
}

static int encode_result(struct gw_buf *b, const struct gw_store_result *res, int depth)
{
	size_t i;

	if (depth > GW_RAFT_CODEC_MAX_DEPTH) {
		return GW_EINVAL;
	}
	CHECK(put_svar(b, res->err));
	CHECK(put_u8(b, (unsigned)res->type));
	CHECK(put_svar(b, res->revision));
	CHECK(put_u8(b, (res->has_prev_kv ? 1u : 0u) | (res->succeeded ? 2u : 0u) |
			    (res->range.more ? 4u : 0u)));
	if (res->has_prev_kv) {
		CHECK(encode_kv(b, &res->prev_kv));
	}
	CHECK(put_svar(b, res->deleted));
	CHECK(encode_kvs(b, res->prev_kvs, res->n_prev_kvs));
	CHECK(encode_kvs(b, res->range.kvs, res->range.n_kvs));
	CHECK(put_svar(b, res->range.count));
	CHECK(put_svar(b, res->range.revision));
	if (res->responses == NULL && res->n_responses > 0) {
		return GW_EINVAL;
	}
	CHECK(put_uvar(b, res->n_responses));
	for (i = 0; i < res->n_responses; i++) {
		CHECK(encode_result(b, &res->responses[i], depth + 1));
	}
	CHECK(put_svar(b, res->lease_id));
	return put_svar(b, res->lease_ttl);
}

int gw_raft__encode_result(const struct gw_store_result *res, struct gw_buf *out)
{
	size_t start = out->len;
	int rv;

	rv = put_u8(out, GW_RAFT_CODEC_VERSION);
	if (rv == 0) {
		rv = encode_result(out, res, 0);
	}
	if (rv != 0) {
		out->len = start;
		if (out->data != NULL) {
			out->data[start] = '\0';
		}
	}
	return rv;
}

/* Decoded kv bytes are copied into their own NUL-terminated heap blocks,
 * the way the store hands them out (gw_store_kv_free releases key and value). */
static int dup_bytes(const char *p, size_t len, char **out)
{
	*out = malloc(len + 1);
	if (*out == NULL) {
		return GW_ENOMEM;
	}
	if (len > 0) {
		memcpy(*out, p, len);
	}
	(*out)[len] = '\0';
	return 0;
}

static int decode_kv(struct rd *r, struct gw_kv *kv)
{
	const char *p;
	size_t len;
	unsigned has_value;

	CHECK(get_bytes(r, &p, &len, false));
	CHECK(dup_bytes(p, len, &kv->key));
	kv->key_len = len;
	CHECK(get_u8(r, &has_value));
	if (has_value > 1) {
		return GW_EPROTO;
	}
	if (has_value) {
		CHECK(get_bytes(r, &p, &len, false));
		CHECK(dup_bytes(p, len, &kv->value));
		kv->value_len = len;
	}
	CHECK(get_svar(r, &kv->create_revision));
	CHECK(get_svar(r, &kv->mod_revision));
	CHECK(get_svar(r, &kv->version));
	return get_svar(r, &kv->lease);
}

static int decode_kvs(struct rd *r, struct gw_kv **kvs, size_t *n)
{
	size_t cnt, i;

	/* A kv is at least 6 bytes. */
	CHECK(get_count(r, 6, &cnt));
	if (cnt == 0) {
		return 0;
	}
	*kvs = calloc(cnt, sizeof **kvs);
	if (*kvs == NULL) {
		return GW_ENOMEM;
	}
	*n = cnt;
	for (i = 0; i < cnt; i++) {
		CHECK(decode_kv(r, &(*kvs)[i]));
	}
	return 0;
}

static int decode_result(struct rd *r, struct gw_store_result *res, int depth)
{
	int64_t v;
	unsigned type, flags;
	size_t i, cnt;

	if (depth > GW_RAFT_CODEC_MAX_DEPTH) {
		return GW_EPROTO;
	}
	CHECK(get_svar(r, &v));
	if (v > 0 || v < INT32_MIN) {
		return GW_EPROTO;
	}
	res->err = (int)v;
	CHECK(get_u8(r, &type));
	if (type > GW_OP_NOOP) {
		return GW_EPROTO;
	}
	res->type = (enum gw_op_type)type;
	CHECK(get_svar(r, &res->revision));
	CHECK(decode_flags(r, 7, &flags));
	res->has_prev_kv = flags & 1;
	res->succeeded = flags & 2;
	res->range.more = flags & 4;
	if (res->has_prev_kv) {
		CHECK(decode_kv(r, &res->prev_kv));
	}
	CHECK(get_svar(r, &res->deleted));
	CHECK(decode_kvs(r, &res->prev_kvs, &res->n_prev_kvs));
	CHECK(decode_kvs(r, &res->range.kvs, &res->range.n_kvs));
	CHECK(get_svar(r, &res->range.count));
	CHECK(get_svar(r, &res->range.revision));
	/* A result is at least 11 bytes. */
	CHECK(get_count(r, 11, &cnt));
	if (cnt > 0) {
		res->responses = calloc(cnt, sizeof *res->responses);
		if (res->responses == NULL) {
			return GW_ENOMEM;
		}
		res->n_responses = cnt;
		for (i = 0; i < cnt; i++) {
			CHECK(decode_result(r, &res->responses[i], depth + 1));
		}
	}
	CHECK(get_svar(r, &res->lease_id));
	return get_svar(r, &res->lease_ttl);
}

int gw_raft__decode_result(const void *p, size_t len, struct gw_store_result *res)
{
	struct rd r = {p, len};
	unsigned version;
	int rv;

	memset(res, 0, sizeof *res);
	if (p == NULL || get_u8(&r, &version) != 0 || version != GW_RAFT_CODEC_VERSION) {
		return GW_EPROTO;
	}
	rv = decode_result(&r, res, 0);
	if (rv == 0 && r.left != 0) {
		rv = GW_EPROTO;
	}
	if (rv != 0) {
		gw_raft__result_free(res);
	}
	return rv;
}

static void free_kvs(struct gw_kv *kvs, size_t n)
{
	size_t i;
	for (i = 0; i < n && kvs != NULL; i++) {
		free(kvs[i].key);
		free(kvs[i].value);
	}
	free(kvs);
}

void gw_raft__result_free(struct gw_store_result *res)
{
	size_t i;

	free(res->prev_kv.key);
	free(res->prev_kv.value);
	free_kvs(res->prev_kvs, res->n_prev_kvs);
	free_kvs(res->range.kvs, res->range.n_kvs);
	for (i = 0; i < res->n_responses && res->responses != NULL; i++) {
		gw_raft__result_free(&res->responses[i]);
	}
	free(res->responses);
	memset(res, 0, sizeof *res);
}
