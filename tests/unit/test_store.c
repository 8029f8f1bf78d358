/* test_store.c: store/ against real LMDB files in a mkdtemp directory:
 * revisions, versions, ranges (options, long keys, past revisions), txns,
 * compaction and put's ignore flags. Leases, quota, reopen, meta and
 * snapshots are in test_store_durability.c; the watch hub in
 * test_store_watch.c. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "lib/err.h"
#include "lib/log.h"
#include "store/store.h"
#include "tests/unit/test_store_util.h"

#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_new_store(void **state)
{
	struct fx *f = *state;
	struct gw_range_req r = rreq("\0", "");
	struct gw_range_resp out;
	assert_int_equal(gw_store_revision(f->s), 1);
	assert_int_equal(gw_store_applied_index(f->s), 0);
	assert_int_equal(gw_store_compact_revision(f->s), 0);
	r.key_len = 1;
	assert_int_equal(gw_store_range(f->s, &r, &out), 0);
	assert_int_equal(out.count, 0);
	assert_int_equal(out.revision, 1);
	gw_store_range_resp_free(&out);
	assert_true(gw_store_db_size(f->s) > 0);
}

static void test_put_revisions_versions(void **state)
{
	struct fx *f = *state;
	struct gw_store_op op = put_op("a", "1");
	struct gw_store_result res;
	struct gw_kv m;
	char *v;

	assert_int_equal(put(f, "a", "1"), 2);
	v = get(f, "a", 0, &m);
	assert_string_equal(v, "1");
	free(v);
	assert_int_equal(m.create_revision, 2);
	assert_int_equal(m.mod_revision, 2);
	assert_int_equal(m.version, 1);
	assert_int_equal(m.lease, 0);

	op.u.put.value = "2";
	op.u.put.prev_kv = true;
	assert_int_equal(wr(f, &op, &res), 0);
	assert_int_equal(res.err, 0);
	assert_int_equal(res.revision, 3);
	assert_true(res.has_prev_kv);
	assert_memory_equal(res.prev_kv.value, "1", 1);
	assert_int_equal(res.prev_kv.version, 1);
	gw_store_result_free(&res);
	v = get(f, "a", 0, &m);
	free(v);
	assert_int_equal(m.create_revision, 2);
	assert_int_equal(m.mod_revision, 3);
	assert_int_equal(m.version, 2);

	/* delete then re-create: version restarts, create revision is new */
	assert_int_equal(del(f, "a", NULL, 1), 4);
	assert_int_equal(put(f, "a", "3"), 5);
	v = get(f, "a", 0, &m);
	free(v);
	assert_int_equal(m.create_revision, 5);
	assert_int_equal(m.version, 1);

	/* prev_kv of a new key: none */
	op = put_op("new", "x");
	op.u.put.prev_kv = true;
	assert_int_equal(wr(f, &op, &res), 0);
	assert_false(res.has_prev_kv);
	gw_store_result_free(&res);

	/* empty value is a value */
	put(f, "empty", "");
	assert_value(f, "empty", 0, "");
}

static void test_delete_missing_changes_nothing(void **state)
{
	struct fx *f = *state;
	put(f, "a", "1");
	assert_int_equal(gw_store_revision(f->s), 2);
	assert_int_equal(del(f, "zzz", NULL, 0), 2);
	assert_int_equal(del(f, "b", "c", 0), 2);
	assert_int_equal(gw_store_revision(f->s), 2);
	assert_int_equal(gw_store_applied_index(f->s), f->index);
	/* the next put gets the very next revision */
	assert_int_equal(put(f, "b", "1"), 3);
}

static void test_delete_range(void **state)
{
	struct fx *f = *state;
	struct gw_store_op op;
	struct gw_store_result res;

	put(f, "a/1", "1");
	put(f, "a/2", "2");
	put(f, "a/3", "3");
	put(f, "b", "b");
	op = del_op("a/", "a0");
	op.u.del.prev_kv = true;
	assert_int_equal(wr(f, &op, &res), 0);
	assert_int_equal(res.deleted, 3);
	assert_int_equal(res.revision, 6); /* one revision for the three */
	assert_int_equal(res.n_prev_kvs, 3);
	assert_string_equal(res.prev_kvs[0].key, "a/1");
	assert_string_equal(res.prev_kvs[2].value, "3");
	gw_store_result_free(&res);
	assert_value(f, "a/2", 0, NULL);
	assert_value(f, "b", 0, "b");
	/* from-key: "\0" end deletes every key >= key */
	put(f, "c", "c");
	assert_int_equal(del(f, "b", "", 2), 8);
	assert_int_equal(gw_store_revision(f->s), 8);
}

static void test_range_options(void **state)
{
	struct fx *f = *state;
	struct gw_range_req r;
	struct gw_range_resp out;
	char k[8];

	for (int i = 0; i < 5; i++) {
		snprintf(k, sizeof(k), "k%d", i);
		put(f, k, i % 2 ? "odd" : "even"); /* k0 rev2 ... k4 rev6 */
	}
	put(f, "k1", "again"); /* rev 7, version 2 */
	put(f, "z", "z");

	r = rreq("k", "l");
	assert_int_equal(gw_store_range(f->s, &r, &out), 0);
	assert_int_equal(out.count, 5);
	assert_int_equal(out.n_kvs, 5);
	assert_false(out.more);
	assert_int_equal(out.revision, 8);
	assert_string_equal(out.kvs[0].key, "k0");
	assert_string_equal(out.kvs[4].key, "k4");
	gw_store_range_resp_free(&out);

	r.limit = 2;
	assert_int_equal(gw_store_range(f->s, &r, &out), 0);
	assert_int_equal(out.n_kvs, 2);
	assert_int_equal(out.count, 5);
	assert_true(out.more);
	gw_store_range_resp_free(&out);

	r.limit = 5;
	assert_int_equal(gw_store_range(f->s, &r, &out), 0);
	assert_false(out.more);
	gw_store_range_resp_free(&out);

	r.limit = 0;
	r.keys_only = true;
	assert_int_equal(gw_store_range(f->s, &r, &out), 0);
	assert_null(out.kvs[0].value);
	assert_int_equal(out.kvs[1].version, 2);
	gw_store_range_resp_free(&out);

	r.keys_only = false;
	r.count_only = true;
	assert_int_equal(gw_store_range(f->s, &r, &out), 0);
	assert_int_equal(out.n_kvs, 0);
	assert_int_equal(out.count, 5);
	gw_store_range_resp_free(&out);

	r.count_only = false;
	r.sort_order = GW_SORT_DESCEND;
	assert_int_equal(gw_store_range(f->s, &r, &out), 0);
	assert_string_equal(out.kvs[0].key, "k4");
	assert_string_equal(out.kvs[4].key, "k0");
	gw_store_range_resp_free(&out);

	/* target without order sorts ascending */
	r.sort_order = GW_SORT_NONE;
	r.sort_target = GW_SORT_MOD;
	assert_int_equal(gw_store_range(f->s, &r, &out), 0);
	assert_string_equal(out.kvs[4].key, "k1");
	gw_store_range_resp_free(&out);

	r.sort_order = GW_SORT_DESCEND;
	r.sort_target = GW_SORT_VALUE;
	r.limit = 1;
	assert_int_equal(gw_store_range(f->s, &r, &out), 0);
	assert_string_equal(out.kvs[0].value, "odd");
	assert_true(out.more);
	gw_store_range_resp_free(&out);

	r = rreq("k", "l");
	r.min_mod_revision = 4;
	r.max_mod_revision = 6;
	assert_int_equal(gw_store_range(f->s, &r, &out), 0);
	assert_int_equal(out.n_kvs, 3); /* k2 k3 k4 */
	assert_int_equal(out.count, 5); /* count ignores the filters, like etcd */
	gw_store_range_resp_free(&out);

	r = rreq("k", "l");
	r.max_create_revision = 3;
	assert_int_equal(gw_store_range(f->s, &r, &out), 0);
	assert_int_equal(out.n_kvs, 2); /* k0 k1 */
	gw_store_range_resp_free(&out);

	/* from-key and every key */
	r = rreq("k3", "");
	assert_int_equal(gw_store_range(f->s, &r, &out), 0);
	assert_int_equal(out.count, 3); /* k3 k4 z */
	gw_store_range_resp_free(&out);
	r = rreq("", "");
	r.key = "\0";
	r.key_len = 1;
	assert_int_equal(gw_store_range(f->s, &r, &out), 0);
	assert_int_equal(out.count, 6);
	gw_store_range_resp_free(&out);

	/* empty key */
	r = rreq("", NULL);
	assert_int_equal(gw_store_range(f->s, &r, &out), GW_EKEYEMPTY);
	gw_store_range_resp_free(&out);
}

static void test_limits_and_long_keys(void **state)
{
	struct fx *f = *state;
	char key[GW_STORE_MAX_KEY + 2];
	struct gw_store_op op;
	struct gw_store_result res;
	struct gw_range_req r;
	struct gw_range_resp out;
	char *big;

	op = put_op("", "v");
	assert_int_equal(wr(f, &op, &res), 0);
	assert_int_equal(res.err, GW_EKEYEMPTY);
	gw_store_result_free(&res);

	memset(key, 'x', sizeof(key));
	key[GW_STORE_MAX_KEY + 1] = '\0';
	op = put_op(key, "v");
	assert_int_equal(wr(f, &op, &res), 0);
	assert_int_equal(res.err, GW_EKEYTOOLARGE);
	gw_store_result_free(&res);
	assert_int_equal(gw_store_revision(f->s), 1);

	big = malloc(GW_STORE_DEFAULT_MAX_VALUE + 2);
	memset(big, 'v', GW_STORE_DEFAULT_MAX_VALUE + 1);
	big[GW_STORE_DEFAULT_MAX_VALUE + 1] = '\0';
	op = put_op("big", big);
	assert_int_equal(wr(f, &op, &res), 0);
	assert_int_equal(res.err, GW_EVALUETOOLARGE);
	gw_store_result_free(&res);
	big[GW_STORE_DEFAULT_MAX_VALUE] = '\0';
	put(f, "big", big); /* exactly the limit */
	free(big);

	/* keys longer than LMDB's 511 bytes, sharing a long prefix: they
	 * must still come back in key order and be found one by one */
	memset(key, 'p', GW_STORE_MAX_KEY);
	key[GW_STORE_MAX_KEY] = '\0';
	for (char c = 'e'; c >= 'a'; c--) {
		key[1000] = c;
		put(f, key, (char[]){c, '\0'});
	}
	key[1000] = 'c';
	assert_value(f, key, 0, "c");
	key[1000] = 'q';
	assert_value(f, key, 0, NULL);
	r = rreq("p", "q");
	assert_int_equal(gw_store_range(f->s, &r, &out), 0);
	assert_int_equal(out.n_kvs, 5);
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(out.kvs[i].key_len, GW_STORE_MAX_KEY);
		assert_int_equal(out.kvs[i].key[1000], 'a' + (int)i);
	}
	gw_store_range_resp_free(&out);
	/* a range whose ends fall inside the group */
	{
		char lo[1002], hi[1002];
		memset(lo, 'p', 1001);
		memcpy(hi, lo, 1001);
		lo[1000] = 'b';
		hi[1000] = 'd';
		r.key = lo;
		r.key_len = 1001; /* < "...b" + more p's */
		r.range_end = hi;
		r.range_end_len = 1001;
		assert_int_equal(gw_store_range(f->s, &r, &out), 0);
		assert_int_equal(out.n_kvs, 2); /* the b and c keys */
		assert_int_equal(out.kvs[0].key[1000], 'b');
		assert_int_equal(out.kvs[1].key[1000], 'c');
		gw_store_range_resp_free(&out);
	}
	/* delete one long key */
	key[1000] = 'b';
	op = del_op(key, NULL);
	assert_int_equal(wr(f, &op, &res), 0);
	assert_int_equal(res.deleted, 1);
	gw_store_result_free(&res);
	r = rreq("p", "q");
	r.count_only = true;
	assert_int_equal(gw_store_range(f->s, &r, &out), 0);
	assert_int_equal(out.count, 4);
	gw_store_range_resp_free(&out);
}

static void test_historical_reads(void **state)
{
	struct fx *f = *state;
	struct gw_range_req r;
	struct gw_range_resp out;
	struct gw_store_op op;
	struct gw_store_result res;

	put(f, "a", "1");     /* 2 */
	put(f, "b", "1");     /* 3 */
	put(f, "a", "2");     /* 4 */
	del(f, "b", NULL, 1); /* 5 */
	put(f, "c", "1");     /* 6 */
	assert_value(f, "a", 1, NULL);
	assert_value(f, "a", 2, "1");
	assert_value(f, "a", 3, "1");
	assert_value(f, "a", 4, "2");
	assert_value(f, "b", 4, "1");
	assert_value(f, "b", 5, NULL);
	assert_value(f, "c", 5, NULL);
	assert_value(f, "c", 6, "1");

	r = rreq("a", "z");
	r.revision = 4;
	assert_int_equal(gw_store_range(f->s, &r, &out), 0);
	assert_int_equal(out.count, 2);
	assert_int_equal(out.revision, 6); /* header revision is the current one */
	assert_string_equal(out.kvs[0].value, "2");
	assert_int_equal(out.kvs[0].version, 2);
	assert_int_equal(out.kvs[1].mod_revision, 3);
	gw_store_range_resp_free(&out);

	r.revision = 7;
	assert_int_equal(gw_store_range(f->s, &r, &out), GW_EFUTUREREV);
	gw_store_range_resp_free(&out);

	op.type = GW_OP_COMPACT;
	op.u.compact.revision = 4;
	assert_int_equal(wr(f, &op, &res), 0);
	assert_int_equal(res.err, 0);
	assert_int_equal(res.revision, 6); /* compaction does not bump the revision */
	gw_store_result_free(&res);
	assert_int_equal(gw_store_compact_revision(f->s), 4);
	r.revision = 3;
	assert_int_equal(gw_store_range(f->s, &r, &out), GW_ECOMPACTED);
	gw_store_range_resp_free(&out);
	assert_value(f, "a", 4, "2"); /* the compact revision itself is readable */
	assert_value(f, "b", 4, "1");
	assert_value(f, "b", 5, NULL);

	/* compaction errors */
	op.u.compact.revision = 4;
	assert_int_equal(wr(f, &op, &res), 0);
	assert_int_equal(res.err, GW_ECOMPACTED);
	gw_store_result_free(&res);
	op.u.compact.revision = 9;
	assert_int_equal(wr(f, &op, &res), 0);
	assert_int_equal(res.err, GW_EFUTUREREV);
	gw_store_result_free(&res);

	/* survives a reopen */
	fx_reopen(f);
	assert_int_equal(gw_store_compact_revision(f->s), 4);
	assert_value(f, "a", 5, "2");
	assert_value(f, "b", 4, "1");
}

static void test_auto_compaction(void **state)
{
	struct fx *f = *state;
	struct gw_range_req r;
	struct gw_range_resp out;

	f->opts.history_revs = 5;
	fx_reopen(f);
	for (int i = 0; i < 20; i++) {
		put(f, "k", i % 2 ? "odd" : "even");
	}
	assert_int_equal(gw_store_revision(f->s), 21);
	assert_int_equal(gw_store_compact_revision(f->s), 16);
	r = rreq("k", NULL);
	r.revision = 15;
	assert_int_equal(gw_store_range(f->s, &r, &out), GW_ECOMPACTED);
	gw_store_range_resp_free(&out);
	assert_value(f, "k", 16, "even"); /* rev 16 = the put of i = 14 */
	assert_value(f, "k", 17, "odd");
}

static struct gw_compare cmp(const char *k, enum gw_cmp_target t, enum gw_cmp_result res, int64_t n,
			     const char *v)
{
	struct gw_compare c = {0};
	c.key = k;
	c.key_len = strlen(k);
	c.target = t;
	c.result = res;
	c.number = n;
	c.value = v;
	c.value_len = v ? strlen(v) : 0;
	return c;
}

static void test_txn(void **state)
{
	struct fx *f = *state;
	struct gw_store_op ops[4], op = {.type = GW_OP_TXN};
	struct gw_compare cs[2];
	struct gw_store_result res;

	put(f, "a", "1"); /* rev 2 */

	/* success: compare value; two puts, a range that sees them, one revision */
	cs[0] = cmp("a", GW_CMP_VALUE, GW_CMP_EQUAL, 0, "1");
	ops[0] = put_op("a", "2");
	ops[1] = put_op("b", "1");
	ops[2] = range_op("a", "c");
	op.u.txn.compares = cs;
	op.u.txn.n_compares = 1;
	op.u.txn.success = ops;
	op.u.txn.n_success = 3;
	assert_int_equal(wr(f, &op, &res), 0);
	assert_int_equal(res.err, 0);
	assert_true(res.succeeded);
	assert_int_equal(res.revision, 3);
	assert_int_equal(res.n_responses, 3);
	assert_int_equal(res.responses[0].revision, 3);
	assert_int_equal(res.responses[2].range.count, 2);
	assert_string_equal(res.responses[2].range.kvs[0].value, "2");
	assert_int_equal(res.responses[2].range.kvs[1].mod_revision, 3);
	assert_int_equal(res.responses[2].range.revision, 3);
	gw_store_result_free(&res);
	assert_int_equal(gw_store_revision(f->s), 3);

	/* failure branch; read-only: no new revision */
	cs[0] = cmp("a", GW_CMP_VERSION, GW_CMP_GREATER, 5, NULL);
	ops[0] = range_op("b", NULL);
	op.u.txn.success = NULL;
	op.u.txn.n_success = 0;
	op.u.txn.failure = ops;
	op.u.txn.n_failure = 1;
	assert_int_equal(wr(f, &op, &res), 0);
	assert_false(res.succeeded);
	assert_int_equal(res.revision, 3);
	assert_int_equal(res.responses[0].range.n_kvs, 1);
	gw_store_result_free(&res);
	assert_int_equal(gw_store_revision(f->s), 3);

	/* missing key: VALUE compares fail, version == 0 holds */
	cs[0] = cmp("nope", GW_CMP_VALUE, GW_CMP_NOT_EQUAL, 0, "x");
	op.u.txn.n_compares = 1;
	op.u.txn.n_failure = 0;
	assert_int_equal(wr(f, &op, &res), 0);
	assert_false(res.succeeded);
	gw_store_result_free(&res);
	cs[0] = cmp("nope", GW_CMP_VERSION, GW_CMP_EQUAL, 0, NULL);
	cs[1] = cmp("a", GW_CMP_MOD, GW_CMP_LESS, 4, NULL);
	op.u.txn.n_compares = 2;
	assert_int_equal(wr(f, &op, &res), 0);
	assert_true(res.succeeded);
	gw_store_result_free(&res);
	/* a compare over a range: every key must match */
	cs[0] = cmp("a", GW_CMP_CREATE, GW_CMP_GREATER, 1, NULL);
	cs[0].range_end = "c";
	cs[0].range_end_len = 1;
	op.u.txn.n_compares = 1;
	assert_int_equal(wr(f, &op, &res), 0);
	assert_true(res.succeeded);
	gw_store_result_free(&res);
	cs[0].number = 2; /* b has create 3 but a has 2 */
	assert_int_equal(wr(f, &op, &res), 0);
	assert_false(res.succeeded);
	gw_store_result_free(&res);

	/* delete + put of other keys in one revision; delete of nothing keeps
	 * the sub-revision count */
	ops[0] = del_op("zz", NULL);
	ops[1] = del_op("b", NULL);
	ops[2] = put_op("c", "1");
	op.u.txn.n_compares = 0;
	op.u.txn.success = ops;
	op.u.txn.n_success = 3;
	assert_int_equal(wr(f, &op, &res), 0);
	assert_int_equal(res.err, 0);
	assert_true(res.succeeded);
	assert_int_equal(res.responses[0].revision, 3); /* nothing changed yet */
	assert_int_equal(res.responses[1].deleted, 1);
	assert_int_equal(res.responses[1].revision, 4);
	assert_int_equal(res.revision, 4);
	gw_store_result_free(&res);
	assert_value(f, "b", 0, NULL);
	assert_value(f, "c", 0, "1");
	assert_value(f, "b", 3, "1");

	/* duplicate keys */
	ops[0] = put_op("x", "1");
	ops[1] = put_op("x", "2");
	op.u.txn.n_success = 2;
	assert_int_equal(wr(f, &op, &res), 0);
	assert_int_equal(res.err, GW_EDUPKEY);
	gw_store_result_free(&res);
	ops[0] = del_op("w", "y");
	assert_int_equal(wr(f, &op, &res), 0);
	assert_int_equal(res.err, GW_EDUPKEY);
	gw_store_result_free(&res);
	/* two deletes may overlap */
	ops[0] = del_op("w", "y");
	ops[1] = del_op("x", NULL);
	assert_int_equal(wr(f, &op, &res), 0);
	assert_int_equal(res.err, 0);
	gw_store_result_free(&res);
	/* the same key in success and failure is fine */
	ops[0] = put_op("x", "1");
	op.u.txn.n_success = 1;
	op.u.txn.failure = &ops[0];
	op.u.txn.n_failure = 1;
	assert_int_equal(wr(f, &op, &res), 0);
	assert_int_equal(res.err, 0);
	gw_store_result_free(&res);
	assert_int_equal(gw_store_revision(f->s), 5);
	assert_int_equal(gw_store_applied_index(f->s), f->index);
}

static void test_txn_nested_and_limits(void **state)
{
	struct fx *f = *state;
	struct gw_store_op inner_ops[2], outer_ops[2], op = {.type = GW_OP_TXN};
	struct gw_compare ic;
	struct gw_store_result res;
	struct gw_store_op *many;

	put(f, "a", "1"); /* 2 */
	/* the nested compare sees the state before the outer put, like etcd */
	ic = cmp("a", GW_CMP_VALUE, GW_CMP_EQUAL, 0, "1");
	inner_ops[0] = put_op("b", "inner-success");
	inner_ops[1] = put_op("b", "inner-failure");
	outer_ops[0] = put_op("a", "2");
	outer_ops[1].type = GW_OP_TXN;
	memset(&outer_ops[1].u.txn, 0, sizeof(outer_ops[1].u.txn));
	outer_ops[1].u.txn.compares = &ic;
	outer_ops[1].u.txn.n_compares = 1;
	outer_ops[1].u.txn.success = &inner_ops[0];
	outer_ops[1].u.txn.n_success = 1;
	outer_ops[1].u.txn.failure = &inner_ops[1];
	outer_ops[1].u.txn.n_failure = 1;
	op.u.txn.success = outer_ops;
	op.u.txn.n_success = 2;
	assert_int_equal(wr(f, &op, &res), 0);
	assert_int_equal(res.err, 0);
	assert_int_equal(res.n_responses, 2);
	assert_true(res.responses[1].succeeded);
	assert_int_equal(res.responses[1].n_responses, 1);
	assert_int_equal(res.revision, 3);
	gw_store_result_free(&res);
	assert_value(f, "b", 0, "inner-success");
	assert_value(f, "a", 0, "2");

	/* a nested put of a key the outer level puts too */
	inner_ops[0] = put_op("a", "3");
	assert_int_equal(wr(f, &op, &res), 0);
	assert_int_equal(res.err, GW_EDUPKEY);
	gw_store_result_free(&res);

	/* too many ops: etcd's limit for clients (gw_store_check_ops, which
	 * the etcd API runs before proposing), a larger one when applying */
	many = calloc(GW_STORE_MAX_APPLY_OPS + 1, sizeof(*many));
	for (int i = 0; i <= GW_STORE_MAX_APPLY_OPS; i++) {
		many[i] = range_op("a", NULL);
	}
	op.u.txn.success = many;
	op.u.txn.n_success = GW_STORE_MAX_TXN_OPS + 1;
	assert_int_equal(gw_store_check_ops(f->s, &op, GW_STORE_MAX_TXN_OPS), GW_ETOOMANYOPS);
	op.u.txn.n_success = GW_STORE_MAX_TXN_OPS;
	assert_int_equal(gw_store_check_ops(f->s, &op, GW_STORE_MAX_TXN_OPS), 0);
	assert_int_equal(wr(f, &op, &res), 0);
	assert_int_equal(res.err, 0);
	assert_int_equal(res.n_responses, GW_STORE_MAX_TXN_OPS);
	gw_store_result_free(&res);
	op.u.txn.n_success = GW_STORE_MAX_APPLY_OPS + 1;
	assert_int_equal(wr(f, &op, &res), 0);
	assert_int_equal(res.err, GW_ETOOMANYOPS);
	gw_store_result_free(&res);
	free(many);

	/* an error in a later op undoes the earlier ones */
	outer_ops[0] = put_op("q", "1");
	outer_ops[1] = put_op("r", "1");
	outer_ops[1].u.put.lease = 12345;
	op.u.txn.success = outer_ops;
	op.u.txn.n_success = 2;
	assert_int_equal(wr(f, &op, &res), 0);
	assert_int_equal(res.err, GW_ELEASENOTFOUND);
	gw_store_result_free(&res);
	assert_value(f, "q", 0, NULL);
	assert_int_equal(gw_store_revision(f->s), 3);
	/* a range at a compacted or future revision in a txn fails it */
	outer_ops[1] = range_op("a", NULL);
	outer_ops[1].u.range.revision = 99;
	assert_int_equal(wr(f, &op, &res), 0);
	assert_int_equal(res.err, GW_EFUTUREREV);
	gw_store_result_free(&res);
	/* the revision the txn itself creates is still "future" inside it */
	outer_ops[1].u.range.revision = gw_store_revision(f->s) + 1;
	assert_int_equal(wr(f, &op, &res), 0);
	assert_int_equal(res.err, GW_EFUTUREREV);
	gw_store_result_free(&res);
	assert_value(f, "q", 0, NULL);
	outer_ops[1].u.range.revision = gw_store_revision(f->s);
	assert_int_equal(wr(f, &op, &res), 0);
	assert_int_equal(res.err, 0);
	assert_int_equal(res.responses[1].range.count, 1);
	gw_store_result_free(&res);
	assert_value(f, "q", 0, "1");
}

static void test_put_ignore(void **state)
{
	struct fx *f = *state;
	struct gw_store_op op = put_op("a", "");
	struct gw_store_result res;
	struct gw_kv m;
	char *v;

	op.u.put.ignore_value = true;
	assert_int_equal(wr(f, &op, &res), 0);
	assert_int_equal(res.err, GW_ENOTFOUND);
	gw_store_result_free(&res);
	put(f, "a", "keep");
	assert_int_equal(wr(f, &op, &res), 0);
	assert_int_equal(res.err, 0);
	gw_store_result_free(&res);
	v = get(f, "a", 0, &m);
	assert_string_equal(v, "keep");
	free(v);
	assert_int_equal(m.version, 2);
	/* a value with ignore_value is refused */
	op = put_op("a", "x");
	op.u.put.ignore_value = true;
	assert_int_equal(wr(f, &op, &res), 0);
	assert_int_equal(res.err, GW_EINVAL);
	gw_store_result_free(&res);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_new_store, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_put_revisions_versions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_delete_missing_changes_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_delete_range, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_range_options, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_limits_and_long_keys, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_historical_reads, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_auto_compaction, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_txn, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_txn_nested_and_limits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_put_ignore, setup, teardown),
	};
	gw_log_set_level(GW_LOG_NONE);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
