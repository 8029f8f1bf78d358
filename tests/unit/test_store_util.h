/* test_store_util.h: the fixture and helpers shared by the store/ unit
 * tests (test_store.c, test_store_durability.c, test_store_watch.c).
 *
 * setup() opens a store in a fresh mkdtemp directory under /tmp (no fsync:
 * durability is tested by the fault suite), teardown() closes it and removes
 * the directory. Each write helper uses the next raft index and fails the
 * test (cmocka assert) when the store refuses it. */
#ifndef TEST_STORE_UTIL_H
#define TEST_STORE_UTIL_H

#include "store/store.h"

#include <ftw.h>
#include <stdint.h>
#include <sys/stat.h>

struct fx {
	char dir[64];
	struct gw_store_opts opts;
	struct gw_store *s;
	uint64_t index; /* last raft index used */
};

/* nftw callback removing one entry (for directories of the tests' own). */
int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw);
void fx_open(struct fx *f);
/* Close and open again (what a restart sees). */
void fx_reopen(struct fx *f);
/* cmocka fixture: *state is a struct fx with an open store. */
int setup(void **state);
int teardown(void **state);

/* Write @op at the next raft index; gw_store_write's return. */
int wr(struct fx *f, const struct gw_store_op *op, struct gw_store_result *res);
/* Ops over NUL-terminated strings; @end "" means "to the end" (\0). */
struct gw_store_op put_op(const char *k, const char *v);
struct gw_store_op del_op(const char *k, const char *end);
struct gw_store_op range_op(const char *k, const char *end);
/* put and check success; returns the new revision */
int64_t put(struct fx *f, const char *k, const char *v);
/* delete, check the count; returns the new revision */
int64_t del(struct fx *f, const char *k, const char *end, int64_t want_deleted);
struct gw_range_req rreq(const char *k, const char *end);
/* the value of one key at @rev (0 = now), or NULL; caller frees; *@meta
 * (if not NULL) gets its revisions without key and value */
char *get(struct fx *f, const char *k, int64_t rev, struct gw_kv *meta);
/* assert the value of @k at @rev (@want NULL: absent) */
void assert_value(struct fx *f, const char *k, int64_t rev, const char *want);

#endif
