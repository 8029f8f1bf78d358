/* test_store_util.c: see test_store_util.h. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

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

int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void fx_open(struct fx *f)
{
	assert_int_equal(gw_store_open(&f->opts, &f->s), 0);
}

void fx_reopen(struct fx *f)
{
	gw_store_close(f->s);
	f->s = NULL;
	fx_open(f);
}

int setup(void **state)
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

int teardown(void **state)
{
	struct fx *f = *state;
	gw_store_close(f->s);
	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

int wr(struct fx *f, const struct gw_store_op *op, struct gw_store_result *res)
{
	return gw_store_write(f->s, ++f->index, op, res);
}

struct gw_store_op put_op(const char *k, const char *v)
{
	struct gw_store_op op = {.type = GW_OP_PUT};
	op.u.put.key = k;
	op.u.put.key_len = strlen(k);
	op.u.put.value = v;
	op.u.put.value_len = strlen(v);
	return op;
}

struct gw_store_op del_op(const char *k, const char *end)
{
	struct gw_store_op op = {.type = GW_OP_DELETE};
	op.u.del.key = k;
	op.u.del.key_len = strlen(k);
	op.u.del.range_end = end;
	op.u.del.range_end_len = end ? (strcmp(end, "") == 0 ? 1 : strlen(end)) : 0;
	return op;
}

struct gw_store_op range_op(const char *k, const char *end)
{
	struct gw_store_op op = {.type = GW_OP_RANGE};
	op.u.range.key = k;
	op.u.range.key_len = strlen(k);
	op.u.range.range_end = end;
	op.u.range.range_end_len = end ? (strcmp(end, "") == 0 ? 1 : strlen(end)) : 0;
	return op;
}

/* put and check success; returns the new revision */
int64_t put(struct fx *f, const char *k, const char *v)
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

int64_t del(struct fx *f, const char *k, const char *end, int64_t want_deleted)
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

struct gw_range_req rreq(const char *k, const char *end)
{
	struct gw_range_req r = {0};
	r.key = k;
	r.key_len = strlen(k);
	r.range_end = end;
	r.range_end_len = end ? (strcmp(end, "") == 0 ? 1 : strlen(end)) : 0;
	return r;
}

/* the value of one key, or NULL; caller frees */
char *get(struct fx *f, const char *k, int64_t rev, struct gw_kv *meta)
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
	gw_store_range_resp_free(&out);
	return v;
}

void assert_value(struct fx *f, const char *k, int64_t rev, const char *want)
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
