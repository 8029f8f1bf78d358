/* test_store_durability.c: store/ state that outlives a write, against
 * real LMDB files: leases, the applied index, meta, reopen, the quota and
 * the logical size, a full map, a second opener, kill -9, and
 * snapshot/restore (including a crash mid-restore). */
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
	gw_store_lease_info_free(&info);
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
	gw_store_lease_info_free(&info);
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
	gw_store_lease_info_free(&info);
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

/* the backup file (store/backup.c) and image helpers */

static bool drop_members(const char *key, size_t len)
{
	return len >= 7 && memcmp(key, "member/", 7) == 0;
}

static void test_backup_file(void **state)
{
	struct fx *f = *state;
	struct gw_store_op op = {.type = GW_OP_META_PUT};
	struct gw_store_result res;
	struct gw_store_backup_info info = {0}, got;
	struct gw_store_image_stats st;
	char path[96], why[256];
	const void *image;
	void *img, *filtered;
	unsigned char *file;
	size_t len, flen, n;
	FILE *fp;
	int fd;

	for (int i = 0; i < 20; i++) {
		char k[16];
		snprintf(k, sizeof k, "k%02d", i);
		put(f, k, "v");
	}
	op.u.meta.key = "member/1";
	op.u.meta.key_len = 8;
	op.u.meta.value = "{}";
	op.u.meta.value_len = 2;
	memset(&res, 0, sizeof res);
	assert_int_equal(wr(f, &op, &res), 0);
	gw_store_result_free(&res);
	assert_int_equal(gw_store_snapshot(f->s, &img, &len), 0);
	info.revision = gw_store_revision(f->s);
	info.applied = gw_store_applied_index(f->s);
	info.cluster_id = 0x1234;
	info.created = 1;
	info.image_len = len;
	snprintf(path, sizeof path, "%s/backup.db", f->dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(gw_store_backup_write(fd, &info, img), 0);
	close(fd);
	fp = fopen(path, "rb");
	assert_non_null(fp);
	file = malloc(len + 1024);
	n = fread(file, 1, len + 1024, fp);
	fclose(fp);
	/* 512-byte pages plus a 32-byte SHA-256, as etcdctl 3.4 checks */
	assert_int_equal(n % 512, 32);
	assert_int_equal(n, gw_store_backup_body_len(len) + GW_STORE_BACKUP_SUM);
	assert_int_equal(gw_store_backup_check(file, n, &got, &image, why, sizeof why), 0);
	assert_int_equal(got.revision, info.revision);
	assert_int_equal(got.applied, info.applied);
	assert_int_equal(got.cluster_id, 0x1234);
	assert_int_equal(got.image_len, len);
	assert_memory_equal(image, img, len);
	/* every truncation and every altered byte is refused, never accepted */
	for (size_t t = 0; t < n; t += t < 600 ? 1 : 61) {
		assert_int_equal(gw_store_backup_check(file, t, &got, &image, why, sizeof why),
				 GW_ECORRUPT);
	}
	for (size_t b = 0; b < n; b += 13) {
		file[b] ^= 0x20;
		if (gw_store_backup_check(file, n, &got, &image, why, sizeof why) != GW_ECORRUPT) {
			fail_msg("byte %zu of %zu altered and accepted", b, n);
		}
		file[b] ^= 0x20;
	}
	/* counts, and the filter that drops the old cluster's members */
	assert_int_equal(gw_store_image_stats(img, len, &st), 0);
	assert_int_equal(st.keys, 20);
	assert_int_equal(st.meta, 1);
	assert_int_equal(st.revision, info.revision);
	assert_int_equal(gw_store_image_filter(img, len, drop_members, &filtered, &flen), 0);
	assert_int_equal(gw_store_image_stats(filtered, flen, &st), 0);
	assert_int_equal(st.keys, 20);
	assert_int_equal(st.meta, 0);
	((unsigned char *)img)[len / 2] ^= 1;
	assert_int_equal(gw_store_image_stats(img, len, &st), GW_ECORRUPT);
	free(filtered);
	free(img);
	free(file);
}

/* watches */

int main(void)
{
	const struct CMUnitTest tests[] = {
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
	    cmocka_unit_test_setup_teardown(test_backup_file, setup, teardown),
	};
	gw_log_set_level(GW_LOG_NONE);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
