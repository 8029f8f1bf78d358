/* test_raft_codec.c: the raft log command codec. Round trips of every op
 * type (nested txns included) and of results; every truncation of a valid
 * encoding and pseudo-random garbage must decode to GW_EPROTO, never crash
 * (run under ASan/UBSan in CI). */
#include "config.h"

#include "lib/buf.h"
#include "lib/err.h"
#include "raft/raft_int.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void assert_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
	assert_int_equal(alen, blen);
	if (alen > 0) {
		assert_memory_equal(a, b, alen);
	}
}

static void assert_op_equal(const struct gw_store_op *a, const struct gw_store_op *b)
{
	size_t i;

	assert_int_equal(a->type, b->type);
	switch (a->type) {
	case GW_OP_RANGE:
		assert_bytes(a->u.range.key, a->u.range.key_len, b->u.range.key,
			     b->u.range.key_len);
		assert_bytes(a->u.range.range_end, a->u.range.range_end_len, b->u.range.range_end,
			     b->u.range.range_end_len);
		assert_int_equal(a->u.range.limit, b->u.range.limit);
		assert_int_equal(a->u.range.revision, b->u.range.revision);
		assert_int_equal(a->u.range.sort_order, b->u.range.sort_order);
		assert_int_equal(a->u.range.sort_target, b->u.range.sort_target);
		assert_int_equal(a->u.range.keys_only, b->u.range.keys_only);
		assert_int_equal(a->u.range.count_only, b->u.range.count_only);
		assert_int_equal(a->u.range.serializable, b->u.range.serializable);
		assert_int_equal(a->u.range.min_mod_revision, b->u.range.min_mod_revision);
		assert_int_equal(a->u.range.max_create_revision, b->u.range.max_create_revision);
		break;
	case GW_OP_PUT:
		assert_bytes(a->u.put.key, a->u.put.key_len, b->u.put.key, b->u.put.key_len);
		assert_bytes(a->u.put.value, a->u.put.value_len, b->u.put.value,
			     b->u.put.value_len);
		assert_int_equal(a->u.put.lease, b->u.put.lease);
		assert_int_equal(a->u.put.prev_kv, b->u.put.prev_kv);
		assert_int_equal(a->u.put.ignore_value, b->u.put.ignore_value);
		assert_int_equal(a->u.put.ignore_lease, b->u.put.ignore_lease);
		break;
	case GW_OP_DELETE:
		assert_bytes(a->u.del.key, a->u.del.key_len, b->u.del.key, b->u.del.key_len);
		assert_bytes(a->u.del.range_end, a->u.del.range_end_len, b->u.del.range_end,
			     b->u.del.range_end_len);
		assert_int_equal(a->u.del.prev_kv, b->u.del.prev_kv);
		break;
	case GW_OP_TXN:
		assert_int_equal(a->u.txn.n_compares, b->u.txn.n_compares);
		for (i = 0; i < a->u.txn.n_compares; i++) {
			const struct gw_compare *x = &a->u.txn.compares[i],
						*y = &b->u.txn.compares[i];
			assert_int_equal(x->result, y->result);
			assert_int_equal(x->target, y->target);
			assert_bytes(x->key, x->key_len, y->key, y->key_len);
			assert_bytes(x->range_end, x->range_end_len, y->range_end,
				     y->range_end_len);
			assert_int_equal(x->number, y->number);
			assert_bytes(x->value, x->value_len, y->value, y->value_len);
		}
		assert_int_equal(a->u.txn.n_success, b->u.txn.n_success);
		for (i = 0; i < a->u.txn.n_success; i++) {
			assert_op_equal(&a->u.txn.success[i], &b->u.txn.success[i]);
		}
		assert_int_equal(a->u.txn.n_failure, b->u.txn.n_failure);
		for (i = 0; i < a->u.txn.n_failure; i++) {
			assert_op_equal(&a->u.txn.failure[i], &b->u.txn.failure[i]);
		}
		break;
	case GW_OP_COMPACT:
		assert_int_equal(a->u.compact.revision, b->u.compact.revision);
		break;
	case GW_OP_LEASE_GRANT:
		assert_int_equal(a->u.lease_grant.id, b->u.lease_grant.id);
		assert_int_equal(a->u.lease_grant.ttl, b->u.lease_grant.ttl);
		break;
	case GW_OP_LEASE_REVOKE:
		assert_int_equal(a->u.lease_revoke.id, b->u.lease_revoke.id);
		break;
	case GW_OP_META_PUT:
		assert_bytes(a->u.meta.value, a->u.meta.value_len, b->u.meta.value,
			     b->u.meta.value_len);
		/* fall through */
	case GW_OP_META_DELETE:
		assert_bytes(a->u.meta.key, a->u.meta.key_len, b->u.meta.key, b->u.meta.key_len);
		break;
	case GW_OP_NOOP:
		break;
	}
}

/* Encode, decode, compare; then every strict prefix must be refused, and a
 * trailing byte too. */
static void round_trip(const struct gw_store_op *op)
{
	struct gw_buf b;
	struct gw_store_op out;
	size_t n;

	gw_buf_init(&b);
	assert_int_equal(gw_raft__encode_op(op, &b), 0);
	assert_int_equal(gw_raft__decode_op(b.data, b.len, &out), 0);
	assert_op_equal(op, &out);
	gw_raft__op_free(&out);
	for (n = 0; n < b.len; n++) {
		assert_int_equal(gw_raft__decode_op(b.data, n, &out), GW_EPROTO);
	}
	/* Zero padding up to 8 bytes (raft's entry alignment) is accepted. */
	assert_int_equal(gw_buf_append(&b, "\0\0\0\0\0\0\0", 7), 0);
	assert_int_equal(gw_raft__decode_op(b.data, b.len, &out), 0);
	gw_raft__op_free(&out);
	assert_int_equal(gw_buf_append(&b, "\0", 1), 0);
	assert_int_equal(gw_raft__decode_op(b.data, b.len, &out), GW_EPROTO);
	b.len -= 8;
	assert_int_equal(gw_buf_append(&b, "x", 1), 0);
	assert_int_equal(gw_raft__decode_op(b.data, b.len, &out), GW_EPROTO);
	gw_buf_close(&b);
}

static void test_simple_ops(void **state)
{
	struct gw_store_op op;
	(void)state;

	memset(&op, 0, sizeof op);
	op.type = GW_OP_PUT;
	op.u.put.key = "/apisix/routes/1";
	op.u.put.key_len = strlen(op.u.put.key);
	op.u.put.value = "{\"uri\":\"/x\"}\0binary";
	op.u.put.value_len = 19;
	op.u.put.lease = 0x7fffffffffffffffLL;
	op.u.put.prev_kv = true;
	op.u.put.ignore_lease = true;
	round_trip(&op);

	memset(&op, 0, sizeof op);
	op.type = GW_OP_PUT; /* empty value */
	op.u.put.key = "k";
	op.u.put.key_len = 1;
	op.u.put.lease = -5;
	round_trip(&op);

	memset(&op, 0, sizeof op);
	op.type = GW_OP_DELETE;
	op.u.del.key = "\0";
	op.u.del.key_len = 1;
	op.u.del.range_end = "\0";
	op.u.del.range_end_len = 1;
	op.u.del.prev_kv = true;
	round_trip(&op);

	memset(&op, 0, sizeof op);
	op.type = GW_OP_RANGE;
	op.u.range.key = "a";
	op.u.range.key_len = 1;
	op.u.range.range_end = "b";
	op.u.range.range_end_len = 1;
	op.u.range.limit = 10;
	op.u.range.revision = 99;
	op.u.range.sort_order = GW_SORT_DESCEND;
	op.u.range.sort_target = GW_SORT_VALUE;
	op.u.range.keys_only = true;
	op.u.range.count_only = true;
	op.u.range.min_mod_revision = 3;
	op.u.range.max_create_revision = INT64_MIN;
	round_trip(&op);

	memset(&op, 0, sizeof op);
	op.type = GW_OP_COMPACT;
	op.u.compact.revision = 123456789;
	round_trip(&op);

	memset(&op, 0, sizeof op);
	op.type = GW_OP_LEASE_GRANT;
	op.u.lease_grant.id = 0;
	op.u.lease_grant.ttl = 60;
	round_trip(&op);

	memset(&op, 0, sizeof op);
	op.type = GW_OP_LEASE_REVOKE;
	op.u.lease_revoke.id = 42;
	round_trip(&op);

	memset(&op, 0, sizeof op);
	op.type = GW_OP_META_PUT;
	op.u.meta.key = "member/1";
	op.u.meta.key_len = 8;
	op.u.meta.value = "{}";
	op.u.meta.value_len = 2;
	round_trip(&op);

	memset(&op, 0, sizeof op);
	op.type = GW_OP_META_DELETE;
	op.u.meta.key = "member/1";
	op.u.meta.key_len = 8;
	round_trip(&op);

	memset(&op, 0, sizeof op);
	op.type = GW_OP_NOOP;
	round_trip(&op);
}

static void test_nested_txn(void **state)
{
	struct gw_compare cmps[2];
	struct gw_store_op inner_ops[2], outer_ops[2], inner, outer;
	(void)state;

	memset(cmps, 0, sizeof cmps);
	cmps[0].result = GW_CMP_NOT_EQUAL;
	cmps[0].target = GW_CMP_VALUE;
	cmps[0].key = "k1";
	cmps[0].key_len = 2;
	cmps[0].value = "v";
	cmps[0].value_len = 1;
	cmps[1].result = GW_CMP_LESS;
	cmps[1].target = GW_CMP_MOD;
	cmps[1].key = "a";
	cmps[1].key_len = 1;
	cmps[1].range_end = "z";
	cmps[1].range_end_len = 1;
	cmps[1].number = 17;

	memset(inner_ops, 0, sizeof inner_ops);
	inner_ops[0].type = GW_OP_PUT;
	inner_ops[0].u.put.key = "x";
	inner_ops[0].u.put.key_len = 1;
	inner_ops[0].u.put.value = "1";
	inner_ops[0].u.put.value_len = 1;
	inner_ops[1].type = GW_OP_RANGE;
	inner_ops[1].u.range.key = "x";
	inner_ops[1].u.range.key_len = 1;

	memset(&inner, 0, sizeof inner);
	inner.type = GW_OP_TXN;
	inner.u.txn.compares = &cmps[1];
	inner.u.txn.n_compares = 1;
	inner.u.txn.success = inner_ops;
	inner.u.txn.n_success = 2;

	memset(outer_ops, 0, sizeof outer_ops);
	outer_ops[0] = inner;
	outer_ops[1].type = GW_OP_DELETE;
	outer_ops[1].u.del.key = "y";
	outer_ops[1].u.del.key_len = 1;

	memset(&outer, 0, sizeof outer);
	outer.type = GW_OP_TXN;
	outer.u.txn.compares = cmps;
	outer.u.txn.n_compares = 2;
	outer.u.txn.success = outer_ops;
	outer.u.txn.n_success = 1;
	outer.u.txn.failure = outer_ops;
	outer.u.txn.n_failure = 2;
	round_trip(&outer);
}

static void test_encode_refuses_bad_input(void **state)
{
	struct gw_store_op op, chain[GW_RAFT_CODEC_MAX_DEPTH + 2];
	struct gw_buf b;
	int i;
	(void)state;

	gw_buf_init(&b);
	memset(&op, 0, sizeof op);
	op.type = GW_OP_PUT;
	op.u.put.key = NULL;
	op.u.put.key_len = 3;
	assert_int_equal(gw_raft__encode_op(&op, &b), GW_EINVAL);
	assert_int_equal(b.len, 0);
	op.type = (enum gw_op_type)77;
	assert_int_equal(gw_raft__encode_op(&op, &b), GW_EINVAL);

	/* Nesting deeper than the decoder accepts is refused at encoding. */
	memset(chain, 0, sizeof chain);
	for (i = 0; i < GW_RAFT_CODEC_MAX_DEPTH + 2; i++) {
		chain[i].type = GW_OP_TXN;
		if (i + 1 < GW_RAFT_CODEC_MAX_DEPTH + 2) {
			chain[i].u.txn.success = &chain[i + 1];
			chain[i].u.txn.n_success = 1;
		}
	}
	assert_int_equal(gw_raft__encode_op(&chain[0], &b), GW_EINVAL);
	assert_int_equal(gw_raft__encode_op(&chain[2], &b), 0);
	gw_buf_close(&b);
}

static void test_decode_refuses_garbage(void **state)
{
	static const unsigned char bad_version[] = {2, GW_OP_NOOP};
	static const unsigned char bad_type[] = {1, 99};
	static const unsigned char bad_flags[] = {1, GW_OP_DELETE, 1, 'k', 0, 0x80};
	static const unsigned char huge_len[] = {
	    1, GW_OP_META_DELETE, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
	static const unsigned char long_varint[] = {
	    1, GW_OP_COMPACT, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
	static const unsigned char huge_count[] = {1, GW_OP_TXN, 0xff, 0xff, 0xff, 0xff, 0x0f};
	struct gw_store_op op;
	unsigned char buf[256];
	unsigned seed = 12345;
	int i, j, ok = 0;
	(void)state;

	assert_int_equal(gw_raft__decode_op(NULL, 0, &op), GW_EPROTO);
	assert_int_equal(gw_raft__decode_op(bad_version, sizeof bad_version, &op), GW_EPROTO);
	assert_int_equal(gw_raft__decode_op(bad_type, sizeof bad_type, &op), GW_EPROTO);
	assert_int_equal(gw_raft__decode_op(bad_flags, sizeof bad_flags, &op), GW_EPROTO);
	assert_int_equal(gw_raft__decode_op(huge_len, sizeof huge_len, &op), GW_EPROTO);
	assert_int_equal(gw_raft__decode_op(long_varint, sizeof long_varint, &op), GW_EPROTO);
	assert_int_equal(gw_raft__decode_op(huge_count, sizeof huge_count, &op), GW_EPROTO);
	assert_int_equal(op.type, GW_OP_NOOP);

	/* Random bytes behind a valid version and a txn type: whatever the
	 * outcome, no crash, no leak (ASan), and failures leave a NOOP. */
	for (i = 0; i < 20000; i++) {
		size_t n = 2 + (size_t)(rand_r(&seed) % 60);
		buf[0] = 1;
		buf[1] = (unsigned char)(rand_r(&seed) % 11);
		for (j = 2; j < (int)n; j++) {
			buf[j] = (unsigned char)(rand_r(&seed) % 8 == 0 ? 0xff : rand_r(&seed) % 4);
		}
		if (gw_raft__decode_op(buf, n, &op) == 0) {
			ok++;
			gw_raft__op_free(&op);
		} else {
			assert_int_equal(op.type, GW_OP_NOOP);
		}
	}
	assert_true(ok > 0);
}

static void test_result_round_trip(void **state)
{
	struct gw_kv kvs[2];
	struct gw_store_result sub[1], res, out;
	struct gw_buf b;
	size_t n;
	(void)state;

	memset(kvs, 0, sizeof kvs);
	kvs[0].key = "a";
	kvs[0].key_len = 1;
	kvs[0].value = "1";
	kvs[0].value_len = 1;
	kvs[0].create_revision = 2;
	kvs[0].mod_revision = 3;
	kvs[0].version = 2;
	kvs[1].key = "b";
	kvs[1].key_len = 1; /* keys_only: no value */
	kvs[1].lease = 77;

	memset(sub, 0, sizeof sub);
	sub[0].type = GW_OP_RANGE;
	sub[0].revision = 9;
	sub[0].range.kvs = kvs;
	sub[0].range.n_kvs = 2;
	sub[0].range.count = 5;
	sub[0].range.more = true;

	memset(&res, 0, sizeof res);
	res.type = GW_OP_TXN;
	res.err = GW_ELEASENOTFOUND;
	res.revision = 9;
	res.succeeded = true;
	res.responses = sub;
	res.n_responses = 1;
	res.has_prev_kv = true;
	res.prev_kv = kvs[0];
	res.prev_kvs = kvs;
	res.n_prev_kvs = 1;
	res.deleted = 1;
	res.lease_id = 5;
	res.lease_ttl = 10;

	gw_buf_init(&b);
	assert_int_equal(gw_raft__encode_result(&res, &b), 0);
	assert_int_equal(gw_raft__decode_result(b.data, b.len, &out), 0);
	assert_int_equal(out.type, GW_OP_TXN);
	assert_int_equal(out.err, GW_ELEASENOTFOUND);
	assert_true(out.succeeded);
	assert_true(out.has_prev_kv);
	assert_string_equal(out.prev_kv.key, "a");
	assert_string_equal(out.prev_kv.value, "1");
	assert_int_equal(out.n_prev_kvs, 1);
	assert_int_equal(out.deleted, 1);
	assert_int_equal(out.lease_ttl, 10);
	assert_int_equal(out.n_responses, 1);
	assert_int_equal(out.responses[0].range.n_kvs, 2);
	assert_true(out.responses[0].range.more);
	assert_int_equal(out.responses[0].range.count, 5);
	assert_null(out.responses[0].range.kvs[1].value);
	assert_int_equal(out.responses[0].range.kvs[1].lease, 77);
	assert_int_equal(out.responses[0].range.kvs[0].mod_revision, 3);
	gw_raft__result_free(&out);
	for (n = 0; n < b.len; n++) {
		assert_int_equal(gw_raft__decode_result(b.data, n, &out), GW_EPROTO);
	}
	gw_buf_close(&b);
}

/* Found by tests/fuzz/fuzz_raft_codec: compares of 6 bytes (empty key,
 * value and range end, number 0) were counted as 7, so the decoder refused
 * the encoder's own bytes for a txn whose compares end its entry (the entry
 * applied as a no-op instead of the txn). */
static void test_txn_of_smallest_compares(void **state)
{
	struct gw_compare cmp[3];
	struct gw_store_op op = {.type = GW_OP_TXN};
	static const unsigned char fuzzed[] = {1, GW_OP_TXN, 3, 1, 0, 0, 0, 0, 0, 1, 0, 0,
					       0, 0,         0, 1, 0, 0, 0, 0, 0, 0, 0};
	struct gw_store_op out;
	(void)state;

	memset(cmp, 0, sizeof cmp);
	for (size_t i = 0; i < 3; i++) {
		cmp[i].result = GW_CMP_GREATER;
		cmp[i].key = "";
		cmp[i].value = "";
	}
	op.u.txn.compares = cmp;
	op.u.txn.n_compares = 3;
	round_trip(&op);
	assert_int_equal(gw_raft__decode_op(fuzzed, sizeof fuzzed, &out), 0);
	assert_int_equal(out.u.txn.n_compares, 3);
	gw_raft__op_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_simple_ops),
	    cmocka_unit_test(test_nested_txn),
	    cmocka_unit_test(test_encode_refuses_bad_input),
	    cmocka_unit_test(test_decode_refuses_garbage),
	    cmocka_unit_test(test_result_round_trip),
	    cmocka_unit_test(test_txn_of_smallest_compares),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
