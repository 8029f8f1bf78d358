/* test_store.c: store/ against real LMDB files in a mkdtemp directory:
 * revisions, versions, ranges (options, long keys, past revisions), txns,
 * compaction, leases, applied index, quota, reopen, meta, snapshot/restore
 * (including a crash mid-restore), and the watch hub. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "lib/err.h"
#include "lib/log.h"
#include "store/store.h"

#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct fx {
	char dir[64];
	struct gw_store_opts opts;
	struct gw_store *s;
	uint64_t index; /* last raft index used */
};

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void fx_open(struct fx *f)
{
	assert_int_equal(gw_store_open(&f->opts, &f->s), 0);
}

static void fx_reopen(struct fx *f)
{
	gw_store_close(f->s);
	f->s = NULL;
	fx_open(f);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	strcpy(f->dir, "/tmp/gw-test-store-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->opts.dir = f->dir;
	f->opts.no_sync = true; /* durability is not under test here; speed is welcome */
	fx_open(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	gw_store_close(f->s);
	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* helpers: each write uses the next raft index */

static int wr(struct fx *f, const struct gw_store_op *op, struct gw_store_result *res)
{
	return gw_store_write(f->s, ++f->index, op, res);
}

static struct gw_store_op put_op(const char *k, const char *v)
{
	struct gw_store_op op = {.type = GW_OP_PUT};
	op.u.put.key = k;
	op.u.put.key_len = strlen(k);
	op.u.put.value = v;
	op.u.put.value_len = strlen(v);
	return op;
}

static struct gw_store_op del_op(const char *k, const char *end)
{
	struct gw_store_op op = {.type = GW_OP_DELETE};
	op.u.del.key = k;
	op.u.del.key_len = strlen(k);
	op.u.del.range_end = end;
	op.u.del.range_end_len = end ? (strcmp(end, "") == 0 ? 1 : strlen(end)) : 0;
	return op;
}

static struct gw_store_op range_op(const char *k, const char *end)
{
	struct gw_store_op op = {.type = GW_OP_RANGE};
	op.u.range.key = k;
	op.u.range.key_len = strlen(k);
	op.u.range.range_end = end;
	op.u.range.range_end_len = end ? (strcmp(end, "") == 0 ? 1 : strlen(end)) : 0;
	return op;
}

/* put and check success; returns the new revision */
static int64_t put(struct fx *f, const char *k, const char *v)
{
	struct gw_store_op op = put_op(k, v);
	struct gw_store_result res;
	int64_t rev;
	assert_int_equal(wr(f, &op, &res), 0);
	assert_int_equal(res.err, 0);
	rev = res.revision;
	gw_store_result_free(&res);
	return rev;
}

static int64_t del(struct fx *f, const char *k, const char *end, int64_t want_deleted)
{
	struct gw_store_op op = del_op(k, end);
	struct gw_store_result res;
	int64_t rev;
	assert_int_equal(wr(f, &op, &res), 0);
	assert_int_equal(res.err, 0);
	assert_int_equal(res.deleted, want_deleted);
	rev = res.revision;
	gw_store_result_free(&res);
	return rev;
}

static struct gw_range_req rreq(const char *k, const char *end)
{
	struct gw_range_req r = {0};
	r.key = k;
	r.key_len = strlen(k);
	r.range_end = end;
	r.range_end_len = end ? (strcmp(end, "") == 0 ? 1 : strlen(end)) : 0;
	return r;
}

/* the value of one key, or NULL; caller frees */
static char *get(struct fx *f, const char *k, int64_t rev, struct gw_kv *meta)
{
	struct gw_range_req r = rreq(k, NULL);
	struct gw_range_resp out;
	char *v = NULL;
	r.revision = rev;
	assert_int_equal(gw_store_range(f->s, &r, &out), 0);
	if (out.n_kvs == 1) {
		v = strdup(out.kvs[0].value);
		if (meta != NULL) {
			*meta = out.kvs[0];
			meta->key = NULL;
			meta->value = NULL;
		}
	}
	gw_range_resp_free(&out);
	return v;
}

static void assert_value(struct fx *f, const char *k, int64_t rev, const char *want)
{
	char *v = get(f, k, rev, NULL);
	if (want == NULL) {
		assert_null(v);
	} else {
		assert_non_null(v);
		assert_string_equal(v, want);
	}
	free(v);
}

/* tests */

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
	gw_range_resp_free(&out);
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
	gw_range_resp_free(&out);

	r.limit = 2;
	assert_int_equal(gw_store_range(f->s, &r, &out), 0);
	assert_int_equal(out.n_kvs, 2);
	assert_int_equal(out.count, 5);
	assert_true(out.more);
	gw_range_resp_free(&out);

	r.limit = 5;
	assert_int_equal(gw_store_range(f->s, &r, &out), 0);
	assert_false(out.more);
	gw_range_resp_free(&out);

	r.limit = 0;
	r.keys_only = true;
	assert_int_equal(gw_store_range(f->s, &r, &out), 0);
	assert_null(out.kvs[0].value);
	assert_int_equal(out.kvs[1].version, 2);
	gw_range_resp_free(&out);

	r.keys_only = false;
	r.count_only = true;
	assert_int_equal(gw_store_range(f->s, &r, &out), 0);
	assert_int_equal(out.n_kvs, 0);
	assert_int_equal(out.count, 5);
	gw_range_resp_free(&out);

	r.count_only = false;
	r.sort_order = GW_SORT_DESCEND;
	assert_int_equal(gw_store_range(f->s, &r, &out), 0);
	assert_string_equal(out.kvs[0].key, "k4");
	assert_string_equal(out.kvs[4].key, "k0");
	gw_range_resp_free(&out);

	/* target without order sorts ascending */
	r.sort_order = GW_SORT_NONE;
	r.sort_target = GW_SORT_MOD;
	assert_int_equal(gw_store_range(f->s, &r, &out), 0);
	assert_string_equal(out.kvs[4].key, "k1");
	gw_range_resp_free(&out);

	r.sort_order = GW_SORT_DESCEND;
	r.sort_target = GW_SORT_VALUE;
	r.limit = 1;
	assert_int_equal(gw_store_range(f->s, &r, &out), 0);
	assert_string_equal(out.kvs[0].value, "odd");
	assert_true(out.more);
	gw_range_resp_free(&out);

	r = rreq("k", "l");
	r.min_mod_revision = 4;
	r.max_mod_revision = 6;
	assert_int_equal(gw_store_range(f->s, &r, &out), 0);
	assert_int_equal(out.n_kvs, 3); /* k2 k3 k4 */
	assert_int_equal(out.count, 5); /* count ignores the filters, like etcd */
	gw_range_resp_free(&out);

	r = rreq("k", "l");
	r.max_create_revision = 3;
	assert_int_equal(gw_store_range(f->s, &r, &out), 0);
	assert_int_equal(out.n_kvs, 2); /* k0 k1 */
	gw_range_resp_free(&out);

	/* from-key and every key */
	r = rreq("k3", "");
	assert_int_equal(gw_store_range(f->s, &r, &out), 0);
	assert_int_equal(out.count, 3); /* k3 k4 z */
	gw_range_resp_free(&out);
	r = rreq("", "");
	r.key = "\0";
	r.key_len = 1;
	assert_int_equal(gw_store_range(f->s, &r, &out), 0);
	assert_int_equal(out.count, 6);
	gw_range_resp_free(&out);

	/* empty key */
	r = rreq("", NULL);
	assert_int_equal(gw_store_range(f->s, &r, &out), GW_EKEYEMPTY);
	gw_range_resp_free(&out);
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
	gw_range_resp_free(&out);
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
		gw_range_resp_free(&out);
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
	gw_range_resp_free(&out);
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
	gw_range_resp_free(&out);

	r.revision = 7;
	assert_int_equal(gw_store_range(f->s, &r, &out), GW_EFUTUREREV);
	gw_range_resp_free(&out);

	op.type = GW_OP_COMPACT;
	op.u.compact.revision = 4;
	assert_int_equal(wr(f, &op, &res), 0);
	assert_int_equal(res.err, 0);
	assert_int_equal(res.revision, 6); /* compaction does not bump the revision */
	gw_store_result_free(&res);
	assert_int_equal(gw_store_compact_revision(f->s), 4);
	r.revision = 3;
	assert_int_equal(gw_store_range(f->s, &r, &out), GW_ECOMPACTED);
	gw_range_resp_free(&out);
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
	gw_range_resp_free(&out);
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

	/* too many ops */
	many = calloc(GW_STORE_MAX_TXN_OPS + 1, sizeof(*many));
	for (int i = 0; i <= GW_STORE_MAX_TXN_OPS; i++) {
		many[i] = range_op("a", NULL);
	}
	op.u.txn.success = many;
	op.u.txn.n_success = GW_STORE_MAX_TXN_OPS + 1;
	assert_int_equal(wr(f, &op, &res), 0);
	assert_int_equal(res.err, GW_ETOOMANYOPS);
	gw_store_result_free(&res);
	op.u.txn.n_success = GW_STORE_MAX_TXN_OPS;
	assert_int_equal(wr(f, &op, &res), 0);
	assert_int_equal(res.err, 0);
	assert_int_equal(res.n_responses, GW_STORE_MAX_TXN_OPS);
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

static int64_t grant(struct fx *f, int64_t id, int64_t ttl, int want_err)
{
	struct gw_store_op op = {.type = GW_OP_LEASE_GRANT};
	struct gw_store_result res;
	int64_t got;
	op.u.lease_grant.id = id;
	op.u.lease_grant.ttl = ttl;
	assert_int_equal(wr(f, &op, &res), 0);
	assert_int_equal(res.err, want_err);
	got = res.lease_id;
	if (want_err == 0) {
		assert_int_equal(res.lease_ttl, ttl);
	}
	gw_store_result_free(&res);
	return got;
}

static void test_leases(void **state)
{
	struct fx *f = *state;
	struct gw_store_op op;
	struct gw_store_result res;
	struct gw_lease_info info;
	int64_t *ids, *ttls, gen;
	size_t n;

	assert_int_equal(grant(f, 100, 60, 0), 100);
	grant(f, 100, 60, GW_ELEASEEXIST);
	gen = grant(f, 0, 30, 0);
	assert_true(gen > 0);
	assert_int_equal(gw_store_revision(f->s), 1); /* grants change no revision */

	op = put_op("l/a", "1");
	op.u.put.lease = 100;
	assert_int_equal(wr(f, &op, &res), 0);
	assert_int_equal(res.err, 0);
	gw_store_result_free(&res);
	op = put_op("l/b", "1");
	op.u.put.lease = 100;
	assert_int_equal(wr(f, &op, &res), 0);
	gw_store_result_free(&res);
	op = put_op("l/c", "1");
	op.u.put.lease = 100;
	assert_int_equal(wr(f, &op, &res), 0);
	gw_store_result_free(&res);
	put(f, "l/c", "moved off the lease"); /* lease 0 now */
	op = put_op("l/d", "1");
	op.u.put.lease = 777;
	assert_int_equal(wr(f, &op, &res), 0);
	assert_int_equal(res.err, GW_ELEASENOTFOUND);
	gw_store_result_free(&res);
	assert_int_equal(gw_store_revision(f->s), 5);

	assert_int_equal(gw_store_lease_get(f->s, 100, true, &info), 0);
	assert_int_equal(info.ttl, 60);
	assert_int_equal(info.n_keys, 2);
	assert_string_equal(info.keys[0].key, "l/a");
	assert_string_equal(info.keys[1].key, "l/b");
	gw_lease_info_free(&info);
	assert_int_equal(gw_store_lease_get(f->s, 5, false, &info), GW_ELEASENOTFOUND);

	assert_int_equal(gw_store_lease_list(f->s, &ids, &ttls, &n), 0);
	assert_int_equal(n, 2);
	assert_true(ids[0] < ids[1]);
	free(ids);
	free(ttls);

	/* ignore_lease keeps it */
	op = put_op("l/b", "2");
	op.u.put.ignore_lease = true;
	assert_int_equal(wr(f, &op, &res), 0);
	assert_int_equal(res.err, 0);
	gw_store_result_free(&res);
	assert_int_equal(gw_store_revision(f->s), 6);

	/* revoke: both keys go in one revision */
	op.type = GW_OP_LEASE_REVOKE;
	op.u.lease_revoke.id = 100;
	assert_int_equal(wr(f, &op, &res), 0);
	assert_int_equal(res.err, 0);
	assert_int_equal(res.revision, 7);
	gw_store_result_free(&res);
	assert_int_equal(gw_store_revision(f->s), 7);
	assert_value(f, "l/a", 0, NULL);
	assert_value(f, "l/b", 0, NULL);
	assert_value(f, "l/c", 0, "moved off the lease");
	assert_value(f, "l/a", 6, "1");
	assert_int_equal(gw_store_lease_get(f->s, 100, false, &info), GW_ELEASENOTFOUND);
	assert_int_equal(wr(f, &op, &res), 0);
	assert_int_equal(res.err, GW_ELEASENOTFOUND);
	gw_store_result_free(&res);
	/* revoking a lease without keys changes no revision */
	op.u.lease_revoke.id = gen;
	assert_int_equal(wr(f, &op, &res), 0);
	assert_int_equal(res.err, 0);
	assert_int_equal(res.revision, 7);
	gw_store_result_free(&res);

	/* TTL limit */
	grant(f, 0, 9000000001LL, GW_ELEASETTL);
}

static void test_lease_id_deterministic(void **state)
{
	struct fx *f = *state;
	struct fx g = {0};
	int64_t a, b;

	strcpy(g.dir, "/tmp/gw-test-store2-XXXXXX");
	assert_non_null(mkdtemp(g.dir));
	g.opts.dir = g.dir;
	g.opts.no_sync = true;
	fx_open(&g);
	f->index = 41;
	g.index = 41;
	a = grant(f, 0, 10, 0);
	b = grant(&g, 0, 10, 0);
	assert_int_equal(a, b);
	/* the derived id is taken on g: an explicit grant of it fails there */
	grant(&g, a, 10, GW_ELEASEEXIST);
	/* another index, another id */
	assert_true(grant(f, 0, 10, 0) != a);
	gw_store_close(g.s);
	nftw(g.dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void test_applied_index(void **state)
{
	struct fx *f = *state;
	struct gw_store_op op = put_op("a", "1");
	struct gw_store_result res;

	assert_int_equal(gw_store_write(f->s, 10, &op, &res), 0);
	gw_store_result_free(&res);
	assert_int_equal(gw_store_applied_index(f->s), 10);
	op.u.put.value = "2";
	assert_int_equal(gw_store_write(f->s, 10, &op, &res), GW_ESTALE);
	gw_store_result_free(&res);
	assert_int_equal(gw_store_write(f->s, 3, &op, &res), GW_ESTALE);
	gw_store_result_free(&res);
	assert_value(f, "a", 0, "1");
	assert_int_equal(gw_store_revision(f->s), 2);
	/* a business error still advances the index */
	op = put_op("", "x");
	assert_int_equal(gw_store_write(f->s, 11, &op, &res), 0);
	assert_int_equal(res.err, GW_EKEYEMPTY);
	gw_store_result_free(&res);
	assert_int_equal(gw_store_applied_index(f->s), 11);
	/* NOOP and META only advance the index */
	op.type = GW_OP_NOOP;
	assert_int_equal(gw_store_write(f->s, 12, &op, &res), 0);
	gw_store_result_free(&res);
	f->index = 12;
	fx_reopen(f);
	assert_int_equal(gw_store_applied_index(f->s), 12);
	assert_int_equal(gw_store_revision(f->s), 2);
	op = put_op("a", "replayed");
	assert_int_equal(gw_store_write(f->s, 10, &op, &res), GW_ESTALE);
	gw_store_result_free(&res);
	assert_value(f, "a", 0, "1");
}

static void test_meta(void **state)
{
	struct fx *f = *state;
	struct gw_store_op op = {.type = GW_OP_META_PUT};
	struct gw_store_result res;
	char **keys, **values, *v;
	size_t n, len;

	const char *names[] = {"member/1", "member/2", "other"};
	for (int i = 0; i < 3; i++) {
		op.u.meta.key = names[i];
		op.u.meta.key_len = strlen(names[i]);
		op.u.meta.value = "val";
		op.u.meta.value_len = 3;
		assert_int_equal(wr(f, &op, &res), 0);
		assert_int_equal(res.err, 0);
		gw_store_result_free(&res);
	}
	assert_int_equal(gw_store_revision(f->s), 1);
	assert_int_equal(gw_store_meta_get(f->s, "member/2", &v, &len), 0);
	assert_string_equal(v, "val");
	assert_int_equal(len, 3);
	free(v);
	assert_int_equal(gw_store_meta_get(f->s, "member/3", &v, &len), GW_ENOTFOUND);
	op.type = GW_OP_META_DELETE;
	op.u.meta.key = "member/1";
	op.u.meta.key_len = 8;
	assert_int_equal(wr(f, &op, &res), 0);
	gw_store_result_free(&res);
	fx_reopen(f);
	assert_int_equal(gw_store_meta_list(f->s, "member/", &keys, &values, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(keys[0], "member/2");
	assert_string_equal(values[0], "val");
	free(keys[0]);
	free(values[0]);
	free(keys);
	free(values);
}

static void test_reopen_keeps_everything(void **state)
{
	struct fx *f = *state;
	struct gw_lease_info info;
	grant(f, 7, 5, 0);
	put(f, "a", "1");
	put(f, "b", "2");
	del(f, "a", NULL, 1);
	f->opts.no_sync = false; /* the durable mode, reopened */
	fx_reopen(f);
	put(f, "c", "3");
	fx_reopen(f);
	assert_int_equal(gw_store_revision(f->s), 5);
	assert_int_equal(gw_store_applied_index(f->s), f->index);
	assert_value(f, "a", 0, NULL);
	assert_value(f, "a", 2, "1");
	assert_value(f, "b", 0, "2");
	assert_value(f, "c", 0, "3");
	assert_int_equal(gw_store_lease_get(f->s, 7, false, &info), 0);
	gw_lease_info_free(&info);
}

static void test_quota(void **state)
{
	struct fx *f = *state;
	const int64_t quota = 1024 * 1024;
	struct gw_store_op op;
	struct gw_store_result res;
	char *val = malloc(64 * 1024 + 1);
	char key[32];
	int i, err = 0;
	int64_t size;

	gw_store_close(f->s);
	f->opts.quota_bytes = (uint64_t)quota;
	f->opts.history_revs = -1; /* no auto-compaction: history grows too */
	fx_open(f);
	memset(val, 'v', 64 * 1024);
	val[64 * 1024] = '\0';
	for (i = 0; i < 100 && err == 0; i++) {
		snprintf(key, sizeof(key), "k%03d", i);
		op = put_op(key, val);
		assert_int_equal(wr(f, &op, &res), 0);
		err = res.err;
		gw_store_result_free(&res);
	}
	assert_int_equal(err, GW_ENOSPACE);
	assert_string_equal(gw_strerror(err), "mvcc: database space exceeded");
	assert_true(i > 5);
	/* the refused put would have crossed the quota; nothing did */
	size = gw_store_logical_size(f->s);
	assert_true(size <= quota);
	assert_true(size + 2 * (64 * 1024 + 128) > quota); /* a put costs kv + history */
	assert_int_equal(gw_store_applied_index(f->s), f->index);
	/* still readable, and deletes work past the quota */
	assert_value(f, "k000", 0, val);
	del(f, "k", "l", i - 1);
	/* the failed key was never written */
	snprintf(key, sizeof(key), "k%03d", i - 1);
	assert_value(f, key, 0, NULL);
	/* the deleted values live on in history: deleting alone frees
	 * nothing, compaction does */
	assert_true(gw_store_logical_size(f->s) > size);
	op = put_op("again", val);
	assert_int_equal(wr(f, &op, &res), 0);
	assert_int_equal(res.err, GW_ENOSPACE);
	gw_store_result_free(&res);
	op.type = GW_OP_COMPACT;
	op.u.compact.revision = gw_store_revision(f->s);
	assert_int_equal(wr(f, &op, &res), 0);
	assert_int_equal(res.err, 0);
	gw_store_result_free(&res);
	assert_false(gw_store_over_quota(f->s));
	assert_true(gw_store_logical_size(f->s) < 4096);
	op = put_op("again", val);
	assert_int_equal(wr(f, &op, &res), 0);
	assert_int_equal(res.err, 0);
	gw_store_result_free(&res);
	size = gw_store_logical_size(f->s);
	fx_reopen(f);
	assert_int_equal(gw_store_logical_size(f->s), size);
	assert_value(f, "again", 0, val);
	free(val);
}

/* The logical size is the same on every replica: two stores fed the same
 * ops by different paths (one through a snapshot) agree on it. */
static void test_logical_size_deterministic(void **state)
{
	struct fx *f = *state;
	struct fx g = {0};
	struct gw_store_op op = {.type = GW_OP_META_PUT};
	struct gw_store_result res;
	void *img;
	size_t len;

	strcpy(g.dir, "/tmp/gw-test-store5-XXXXXX");
	assert_non_null(mkdtemp(g.dir));
	g.opts.dir = g.dir;
	g.opts.no_sync = true;
	fx_open(&g);
	assert_int_equal(gw_store_logical_size(f->s), 0);
	for (struct fx *x = f; x != NULL; x = x == f ? &g : NULL) {
		grant(x, 5, 10, 0);
		put(x, "a", "1");
		put(x, "a", "22");
		op.u.meta.key = "m";
		op.u.meta.key_len = 1;
		op.u.meta.value = "v";
		op.u.meta.value_len = 1;
		assert_int_equal(wr(x, &op, &res), 0);
		gw_store_result_free(&res);
		del(x, "a", NULL, 1);
	}
	assert_true(gw_store_logical_size(f->s) > 0);
	assert_int_equal(gw_store_logical_size(f->s), gw_store_logical_size(g.s));
	assert_int_equal(gw_store_snapshot(f->s, &img, &len), 0);
	gw_store_close(g.s);
	nftw(g.dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	fx_open(&g);
	assert_int_equal(gw_store_restore(g.s, img, len), 0);
	assert_int_equal(gw_store_logical_size(g.s), gw_store_logical_size(f->s));
	free(img);
	gw_store_close(g.s);
	nftw(g.dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void test_map_full(void **state)
{
	struct fx *f = *state;
	struct gw_store_op op;
	struct gw_store_result res;
	char *val = malloc(64 * 1024 + 1);
	char key[32];
	int64_t rev;

	/* a big store reopened with a tiny quota: its map is the file itself,
	 * so a txn that needs new pages hits LMDB's MDB_MAP_FULL */
	gw_store_close(f->s);
	f->opts.history_revs = -1;
	fx_open(f);
	memset(val, 'v', 64 * 1024);
	val[64 * 1024] = '\0';
	for (int i = 0; i < 40; i++) {
		snprintf(key, sizeof(key), "k%03d", i);
		put(f, key, val);
	}
	gw_store_close(f->s);
	f->opts.quota_bytes = 64 * 1024;
	fx_open(f);
	rev = gw_store_revision(f->s);
	assert_true(gw_store_over_quota(f->s));
	op = put_op("x", "y");
	assert_int_equal(wr(f, &op, &res), 0);
	assert_int_equal(res.err, GW_ENOSPACE);
	gw_store_result_free(&res);
	/* deleting everything at once needs ~2.6 MB of new history pages */
	op = del_op("k", "l");
	assert_int_equal(wr(f, &op, &res), 0);
	assert_int_equal(res.err, GW_ENOSPACE);
	assert_int_equal(res.deleted, 0);
	gw_store_result_free(&res);
	/* nothing half-written, the node keeps working */
	assert_int_equal(gw_store_revision(f->s), rev);
	assert_int_equal(gw_store_applied_index(f->s), f->index);
	assert_value(f, "k000", 0, val);
	assert_value(f, "k039", 0, val);
	gw_store_close(f->s);
	f->opts.quota_bytes = 0;
	fx_open(f);
	assert_int_equal(gw_store_applied_index(f->s), f->index);
	del(f, "k", "l", 40);
	free(val);
}

static void test_open_twice_is_refused(void **state)
{
	struct fx *f = *state;
	struct gw_store *other;
	assert_int_equal(gw_store_open(&f->opts, &other), GW_EBUSY);
	assert_null(other);
	put(f, "still", "works");
}

/* A child process commits with the default durable mode, then is killed
 * with SIGKILL right after its last commit returned: every commit is there. */
static void test_kill_9_keeps_commits(void **state)
{
	struct fx *f = *state;
	pid_t pid;
	int status;

	gw_store_close(f->s);
	f->s = NULL;
	f->opts.no_sync = false;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct gw_store *s;
		char key[32];
		if (gw_store_open(&f->opts, &s) != 0) {
			_exit(2);
		}
		for (int i = 0; i < 50; i++) {
			struct gw_store_op op;
			struct gw_store_result res;
			snprintf(key, sizeof(key), "k%02d", i);
			op = put_op(key, key);
			if (gw_store_write(s, (uint64_t)i + 1, &op, &res) != 0 || res.err != 0) {
				_exit(3);
			}
			gw_store_result_free(&res);
		}
		kill(getpid(), SIGKILL);
		_exit(4);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
	fx_open(f);
	assert_int_equal(gw_store_applied_index(f->s), 50);
	assert_int_equal(gw_store_revision(f->s), 51);
	assert_value(f, "k00", 0, "k00");
	assert_value(f, "k49", 0, "k49");
	f->index = 50;
	put(f, "after", "kill");
}

/* snapshot / restore */

static void test_snapshot_restore(void **state)
{
	struct fx *f = *state;
	struct fx g = {0};
	void *img;
	size_t len;
	uint64_t idx;
	struct gw_lease_info info;

	grant(f, 9, 100, 0);
	put(f, "a", "1");
	put(f, "b", "2");
	del(f, "a", NULL, 1);
	assert_int_equal(gw_store_snapshot(f->s, &img, &len), 0);
	assert_int_equal(gw_store_snapshot_index(img, len, &idx), 0);
	assert_int_equal(idx, f->index);
	/* later writes are not in the image */
	put(f, "later", "x");

	strcpy(g.dir, "/tmp/gw-test-store3-XXXXXX");
	assert_non_null(mkdtemp(g.dir));
	g.opts.dir = g.dir;
	fx_open(&g);
	put(&g, "old", "state");
	assert_int_equal(gw_store_restore(g.s, img, len), 0);
	assert_int_equal(gw_store_applied_index(g.s), idx);
	assert_int_equal(gw_store_revision(g.s), 4);
	assert_value(&g, "b", 0, "2");
	assert_value(&g, "a", 2, "1");
	assert_value(&g, "old", 0, NULL);
	assert_value(&g, "later", 0, NULL);
	assert_int_equal(gw_store_lease_get(g.s, 9, false, &info), 0);
	gw_lease_info_free(&info);
	/* same or older image: nothing changes */
	assert_int_equal(gw_store_restore(g.s, img, len), GW_ESTALE);
	g.index = idx;
	put(&g, "after", "restore");
	fx_reopen(&g);
	assert_value(&g, "after", 0, "restore");
	assert_value(&g, "b", 0, "2");
	/* a corrupt image is refused whole */
	((char *)img)[len / 2] ^= 0x55;
	assert_int_equal(gw_store_snapshot_index(img, len, &idx), GW_ECORRUPT);
	assert_int_equal(gw_store_restore(g.s, img, len), GW_ECORRUPT);
	assert_int_equal(gw_store_restore(g.s, img, 10), GW_ECORRUPT);
	assert_value(&g, "after", 0, "restore");
	free(img);
	gw_store_close(g.s);
	nftw(g.dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void test_restore_crash_leaves_old_state(void **state)
{
	struct fx *f = *state;
	char path[128];
	int fd;

	put(f, "a", "old");
	gw_store_close(f->s);
	f->s = NULL;
	/* a restore that died half-way: a partial new file beside the old one */
	snprintf(path, sizeof(path), "%s/restore.mdb", f->dir);
	fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "half-built garbage", 18), 18);
	close(fd);
	fx_open(f);
	assert_value(f, "a", 0, "old");
	assert_int_equal(access(path, F_OK), -1);
	put(f, "b", "new");
	assert_int_equal(gw_store_revision(f->s), 3);
}

/* watches */

struct rec {
	int64_t revs[4096]; /* mod revision of each event received */
	char keys[4096][16];
	int types[4096];
	bool prev[4096];
	size_t n;
	size_t calls;
	int cancel_reason;
	int64_t cancel_compact;
	int cancels;
	int fail_after; /* return non-zero from this call on (0 = never) */
	struct gw_watcher *unwatch_me;
	struct gw_watcher *unwatch_other;
	struct fx *f;
	const char *write_key; /* write this key from the first callback */
};

static int on_events(struct gw_watcher *w, const struct gw_event *evs, size_t n, void *data)
{
	struct rec *r = data;
	int64_t first = evs[0].kv.mod_revision;
	assert_true(n > 0);
	r->calls++;
	for (size_t i = 0; i < n; i++) {
		assert_true(r->n < 4096);
		r->revs[r->n] = evs[i].kv.mod_revision;
		snprintf(r->keys[r->n], sizeof(r->keys[0]), "%.*s", (int)evs[i].kv.key_len,
			 evs[i].kv.key);
		r->types[r->n] = evs[i].type;
		r->prev[r->n] = evs[i].has_prev_kv;
		r->n++;
		assert_true(evs[i].kv.mod_revision >= first);
	}
	if (r->unwatch_other != NULL) {
		gw_store_unwatch(r->unwatch_other);
		r->unwatch_other = NULL;
	}
	if (r->unwatch_me != NULL) {
		assert_ptr_equal(r->unwatch_me, w);
		gw_store_unwatch(w);
		r->unwatch_me = NULL;
	}
	if (r->write_key != NULL) {
		const char *k = r->write_key;
		r->write_key = NULL;
		put(r->f, k, "from-callback");
	}
	if (r->fail_after && (int)r->calls >= r->fail_after) {
		return 1;
	}
	return 0;
}

static void on_cancel(struct gw_watcher *w, int reason, int64_t compact, void *data)
{
	struct rec *r = data;
	(void)w;
	r->cancel_reason = reason;
	r->cancel_compact = compact;
	r->cancels++;
}

static struct gw_watcher *watch(struct fx *f, const char *k, const char *end, int64_t start,
				unsigned flags, struct rec *r)
{
	struct gw_watch_opts o = {0};
	struct gw_watcher *w;
	o.key = k;
	o.key_len = strlen(k);
	o.range_end = end;
	o.range_end_len = end ? (strcmp(end, "") == 0 ? 1 : strlen(end)) : 0;
	o.start_revision = start;
	o.flags = flags;
	o.on_events = on_events;
	o.on_cancel = on_cancel;
	o.data = r;
	assert_int_equal(gw_store_watch(f->s, &o, &w), 0);
	return w;
}

/* Events must come in revision order with no revision repeated out of
 * order; returns how many distinct revisions were seen. */
static void assert_ordered(const struct rec *r)
{
	for (size_t i = 1; i < r->n; i++) {
		assert_true(r->revs[i] >= r->revs[i - 1]);
	}
}

static void test_watch_live(void **state)
{
	struct fx *f = *state;
	struct rec *all = calloc(1, sizeof(*all)), *pre = calloc(1, sizeof(*pre));
	struct rec *noput = calloc(1, sizeof(*noput)), *one = calloc(1, sizeof(*one));
	struct gw_store_op op;
	struct gw_store_result res;

	watch(f, "\0", "", 0, GW_WATCH_PREV_KV, all);
	watch(f, "p/", "p0", 0, 0, pre);
	watch(f, "p/", "p0", 0, GW_WATCH_NOPUT, noput);
	watch(f, "x", NULL, 0, 0, one);
	put(f, "p/1", "1");    /* 2 */
	put(f, "x", "1");      /* 3 */
	put(f, "p/1", "2");    /* 4 */
	put(f, "p/2", "1");    /* 5 */
	del(f, "p/", "p0", 2); /* 6: two events, one batch */
	del(f, "nothing", NULL, 0);
	assert_int_equal(all->n, 6);
	assert_int_equal(all->calls, 5);
	assert_false(all->prev[0]);
	assert_true(all->prev[2]);
	assert_int_equal(all->types[5], GW_EVENT_DELETE);
	assert_int_equal(all->revs[5], 6);
	assert_int_equal(pre->n, 5);
	assert_false(pre->prev[1]); /* no PREV_KV flag */
	assert_int_equal(noput->n, 2);
	assert_int_equal(noput->calls, 1); /* the whole revision at once */
	assert_int_equal(one->n, 1);
	assert_string_equal(one->keys[0], "x");
	assert_ordered(all);
	/* a read-only txn produces no event */
	op.type = GW_OP_TXN;
	memset(&op.u.txn, 0, sizeof(op.u.txn));
	assert_int_equal(wr(f, &op, &res), 0);
	gw_store_result_free(&res);
	assert_int_equal(all->n, 6);
	fx_reopen(f); /* cancels the live watchers before their records go */
	free(all);
	free(pre);
	free(noput);
	free(one);
}

static void test_watch_past_then_live(void **state)
{
	struct fx *f = *state;
	struct rec *r = calloc(1, sizeof(*r)), *fut = calloc(1, sizeof(*fut));
	char k[16];

	for (int i = 0; i < 600; i++) {
		snprintf(k, sizeof(k), "k%04d", i);
		put(f, k, "v"); /* revs 2..601 */
	}
	del(f, "k", "l", 600);    /* rev 602: 600 events in one revision */
	put(f, "k0000", "again"); /* 603 */
	watch(f, "k", "l", 500, 0, r);
	/* past events arrived within the call, in chunks of whole revisions */
	assert_int_equal(r->n, 102 + 600 + 1);
	assert_int_equal(r->revs[0], 500);
	assert_int_equal(r->revs[102], 602);
	assert_int_equal(r->revs[701], 602);
	assert_int_equal(r->revs[702], 603);
	assert_true(r->calls >= 2);
	assert_ordered(r);
	put(f, "k0001", "live"); /* 604 */
	assert_int_equal(r->n, 704);
	assert_int_equal(r->revs[703], 604);
	/* a future start revision waits for it */
	watch(f, "k", "l", 606, 0, fut);
	put(f, "k0002", "x"); /* 605 */
	assert_int_equal(fut->n, 0);
	put(f, "k0003", "x"); /* 606 */
	assert_int_equal(fut->n, 1);
	assert_int_equal(fut->revs[0], 606);
	/* no duplicates, no gaps: every revision 500..606 once per event */
	assert_int_equal(r->n, 706);
	for (size_t i = 1; i < r->n; i++) {
		assert_true(r->revs[i] == r->revs[i - 1] || r->revs[i] == r->revs[i - 1] + 1);
	}
	fx_reopen(f); /* cancels the live watchers before their records go */
	free(r);
	free(fut);
}

static void test_watch_compacted(void **state)
{
	struct fx *f = *state;
	struct rec *r = calloc(1, sizeof(*r)), *ok = calloc(1, sizeof(*ok));
	struct gw_store_op op = {.type = GW_OP_COMPACT};
	struct gw_store_result res;
	struct gw_watcher *w;

	for (int i = 0; i < 5; i++) {
		put(f, "a", "v"); /* 2..6 */
	}
	op.u.compact.revision = 4;
	assert_int_equal(wr(f, &op, &res), 0);
	gw_store_result_free(&res);
	w = watch(f, "a", NULL, 3, 0, r);
	assert_null(w);
	assert_int_equal(r->cancels, 1);
	assert_int_equal(r->cancel_reason, GW_ECOMPACTED);
	assert_int_equal(r->cancel_compact, 4);
	assert_int_equal(r->n, 0);
	/* from the compact revision itself: allowed */
	w = watch(f, "a", NULL, 4, 0, ok);
	assert_non_null(w);
	assert_int_equal(ok->n, 3);
	assert_int_equal(ok->revs[0], 4);
	gw_store_unwatch(w);
	put(f, "a", "v");
	assert_int_equal(ok->n, 3);
	free(r);
	free(ok);
}

static void test_watch_slow_and_unwatch(void **state)
{
	struct fx *f = *state;
	struct rec *slow = calloc(1, sizeof(*slow)), *self = calloc(1, sizeof(*self));
	struct rec *killer = calloc(1, sizeof(*killer)), *victim = calloc(1, sizeof(*victim));
	struct rec *past = calloc(1, sizeof(*past));
	struct gw_watcher *w;

	slow->fail_after = 2;
	w = watch(f, "a", NULL, 0, 0, slow);
	self->unwatch_me = watch(f, "a", NULL, 0, 0, self);
	watch(f, "a", NULL, 0, 0, killer);
	killer->unwatch_other = watch(f, "a", NULL, 0, 0, victim);
	assert_non_null(w);
	put(f, "a", "1");
	put(f, "a", "2");
	put(f, "a", "3");
	assert_int_equal(slow->n, 2);
	assert_int_equal(slow->cancels, 1);
	assert_int_equal(slow->cancel_reason, GW_ELIMIT);
	assert_int_equal(self->n, 1);
	assert_int_equal(self->cancels, 0);
	assert_int_equal(killer->n, 3);
	assert_int_equal(victim->n, 0); /* unwatched before its turn */
	/* slow during its catch-up: cancelled, *out NULL */
	past->fail_after = 1;
	assert_null(watch(f, "a", NULL, 2, 0, past));
	assert_int_equal(past->cancel_reason, GW_ELIMIT);
	fx_reopen(f); /* cancels the live watchers before their records go */
	free(slow);
	free(self);
	free(killer);
	free(victim);
	free(past);
}

static void test_watch_write_from_callback(void **state)
{
	struct fx *f = *state;
	struct rec *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));

	a->f = f;
	a->write_key = "w2";
	watch(f, "w", "x", 0, 0, a);
	watch(f, "w", "x", 0, 0, b);
	put(f, "w1", "1"); /* a's callback writes w2 (rev 3) */
	assert_int_equal(a->n, 2);
	assert_int_equal(b->n, 2);
	assert_int_equal(b->revs[0], 2); /* b sees rev 2 before rev 3 */
	assert_int_equal(b->revs[1], 3);
	assert_string_equal(b->keys[1], "w2");
	fx_reopen(f); /* cancels the live watchers before their records go */
	free(a);
	free(b);
}

static void test_watch_close_and_restore(void **state)
{
	struct fx *f = *state;
	struct fx g = {0};
	struct rec *r = calloc(1, sizeof(*r)), *rg = calloc(1, sizeof(*rg));
	void *img;
	size_t len;

	put(f, "a", "1");
	put(f, "a", "2");
	put(f, "b", "1");
	assert_int_equal(gw_store_snapshot(f->s, &img, &len), 0);

	strcpy(g.dir, "/tmp/gw-test-store4-XXXXXX");
	assert_non_null(mkdtemp(g.dir));
	g.opts.dir = g.dir;
	g.opts.no_sync = true;
	fx_open(&g);
	put(&g, "a", "1"); /* the same history, one entry behind */
	watch(&g, "a", "z", 0, 0, rg);
	assert_int_equal(gw_store_restore(g.s, img, len), 0);
	/* the watcher catches up over the restored history: revs 3, 4 */
	assert_int_equal(rg->n, 2);
	assert_int_equal(rg->revs[0], 3);
	assert_int_equal(rg->revs[1], 4);
	free(img);

	watch(&g, "a", NULL, 0, 0, r);
	gw_store_close(g.s);
	assert_int_equal(r->cancels, 1);
	assert_int_equal(r->cancel_reason, GW_ESHUTDOWN);
	assert_int_equal(rg->cancel_reason, GW_ESHUTDOWN);
	nftw(g.dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(r);
	free(rg);
}

/* A restore that jumps past what a watcher can catch up on (the image's
 * history is compacted beyond its position) cancels it with the compact
 * revision, like a watch from a compacted revision. */
static void test_watch_restore_compacted(void **state)
{
	struct fx *f = *state;
	struct fx g = {0};
	struct rec *r = calloc(1, sizeof(*r));
	struct gw_store_op op = {.type = GW_OP_COMPACT};
	struct gw_store_result res;
	void *img;
	size_t len;

	for (int i = 0; i < 6; i++) {
		put(f, "a", "v"); /* 2..7 */
	}
	op.u.compact.revision = 5;
	assert_int_equal(wr(f, &op, &res), 0);
	gw_store_result_free(&res);
	assert_int_equal(gw_store_snapshot(f->s, &img, &len), 0);

	strcpy(g.dir, "/tmp/gw-test-store6-XXXXXX");
	assert_non_null(mkdtemp(g.dir));
	g.opts.dir = g.dir;
	g.opts.no_sync = true;
	fx_open(&g);
	put(&g, "a", "v"); /* rev 2: the watcher expects 3 next */
	assert_non_null(watch(&g, "a", NULL, 0, 0, r));
	assert_int_equal(gw_store_restore(g.s, img, len), 0);
	assert_int_equal(r->cancels, 1);
	assert_int_equal(r->cancel_reason, GW_ECOMPACTED);
	assert_int_equal(r->cancel_compact, 5);
	assert_int_equal(r->n, 0);
	assert_int_equal(gw_store_revision(g.s), 7);
	free(img);
	gw_store_close(g.s);
	nftw(g.dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(r);
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
	    cmocka_unit_test_setup_teardown(test_leases, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lease_id_deterministic, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_applied_index, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_meta, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reopen_keeps_everything, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_quota, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_logical_size_deterministic, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_map_full, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_twice_is_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_kill_9_keeps_commits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_restore, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_restore_crash_leaves_old_state, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_watch_live, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_watch_past_then_live, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_watch_compacted, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_watch_slow_and_unwatch, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_watch_write_from_callback, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_watch_close_and_restore, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_watch_restore_compacted, setup, teardown),
	};
	gw_log_set_level(GW_LOG_NONE);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
