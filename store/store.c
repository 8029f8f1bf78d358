/* store.c: opening the LMDB environment, the write path (validation, one
 * LMDB txn per raft entry with the applied index), reads, node metadata and
 * the boundary where LMDB errors become gw error codes.
 *
 * Happy path of gw_store_write: skip stale indexes, validate the op like
 * etcd's API does, run it in one write txn that also records the applied
 * index, revision and history (and auto-compacts), commit (fsync unless
 * no_sync), then hand the revision's events to the watch hub. Failure modes:
 * a business error (including MDB_MAP_FULL, reported as GW_ENOSPACE) aborts
 * the txn and a second, tiny txn records only the applied index; an I/O
 * error aborts and is returned with nothing written. */
#include "config.h"

#include "store/store_int.h"

#include "lib/err.h"
#include "lib/log.h"
#include "lib/sm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int gw_store__mdb_err(int rc, const char *what)
{
	switch (rc) {
	case 0:
		return 0;
	case MDB_MAP_FULL:
		gw_warnf("store", "%s: %s (quota reached)", what, mdb_strerror(rc));
		return GW_ENOSPACE;
	case MDB_TXN_FULL:
		gw_warnf("store", "%s: %s", what, mdb_strerror(rc));
		return GW_ELIMIT;
	case ENOMEM:
		gw_errorf("store", "%s: %s", what, mdb_strerror(rc));
		return GW_ENOMEM;
	case MDB_CORRUPTED:
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
	case MDB_PAGE_NOTFOUND:
		gw_errorf("store", "%s: %s", what, mdb_strerror(rc));
		return GW_ECORRUPT;
	default:
		gw_errorf("store", "%s: %s", what, mdb_strerror(rc));
		return GW_EIO;
	}
}

bool gw_store__fatal(int rv)
{
	return rv == GW_EIO || rv == GW_ENOMEM || rv == GW_ECORRUPT;
}

int gw_store__mkdirs(const char *dir)
{
	char buf[4096];
	size_t len = strlen(dir);

	if (len == 0 || len >= sizeof(buf)) {
		return GW_EINVAL;
	}
	memcpy(buf, dir, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (buf[i] == '/' || buf[i] == '\0') {
			char c = buf[i];
			buf[i] = '\0';
			if (mkdir(buf, 0700) != 0 && errno != EEXIST) {
				gw_errorf("store", "mkdir %s: %s", buf, strerror(errno));
				return GW_EIO;
			}
			buf[i] = c;
		}
	}
	return 0;
}

static int dbi(MDB_txn *txn, const char *name, MDB_dbi *out)
{
	int rc = mdb_dbi_open(txn, name, MDB_CREATE, out);
	return rc == 0 ? 0 : gw_store__mdb_err(rc, name);
}

/* The quota counts logical bytes (GW_STORE__REC of every record), the same
 * number on every replica, so a put is refused on all of them or none. The
 * file holds more than that (B-tree pages are not full, big values fill
 * whole pages): the map leaves room for twice the quota, plus a reserve for
 * the deletes and compactions that remain allowed past the quota. Only the
 * map is bounded by LMDB (MDB_MAP_FULL, reported as GW_ENOSPACE); it costs
 * address space, not disk. */
uint64_t gw_store__mapsize(uint64_t quota)
{
	uint64_t reserve = quota / 8;
	if (reserve < (4u << 20)) {
		reserve = 4u << 20;
	}
	if (reserve > (512u << 20)) {
		reserve = 512u << 20;
	}
	return 2 * quota + reserve;
}

int gw_store__env_open(struct gw_store *s, const char *path, uint64_t mapsize, bool no_sync)
{
	unsigned flags = MDB_NOSUBDIR | MDB_NOTLS | (no_sync ? MDB_NOSYNC : 0) |
			 (s->meta_no_sync ? MDB_NOMETASYNC : 0);
	MDB_txn *txn;
	int rc, rv;

	rc = mdb_env_create(&s->env);
	if (rc != 0) {
		s->env = NULL;
		return gw_store__mdb_err(rc, "env create");
	}
	rc = mdb_env_set_maxdbs(s->env, 8);
	if (rc == 0) {
		rc = mdb_env_set_mapsize(s->env, (size_t)mapsize);
	}
	if (rc == 0) {
		rc = mdb_env_open(s->env, path, flags, 0600);
	}
	if (rc != 0) {
		rv = gw_store__mdb_err(rc, path);
		goto err_after_create;
	}
	/* reader slots left by a killed process would pin old pages */
	mdb_reader_check(s->env, NULL);
	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc != 0) {
		rv = gw_store__mdb_err(rc, "txn begin");
		goto err_after_create;
	}
	if ((rv = dbi(txn, "kv", &s->kv)) != 0 || (rv = dbi(txn, "hist", &s->hist)) != 0 ||
	    (rv = dbi(txn, "leases", &s->leases)) != 0 ||
	    (rv = dbi(txn, "lkeys", &s->lkeys)) != 0 || (rv = dbi(txn, "sys", &s->sys)) != 0 ||
	    (rv = dbi(txn, "meta", &s->meta)) != 0) {
		goto err_after_txn;
	}
	rc = mdb_set_compare(txn, s->kv, gw_store__cmp_enc);
	if (rc != 0) {
		rv = gw_store__mdb_err(rc, "set compare");
		goto err_after_txn;
	}
	rc = mdb_txn_commit(txn);
	if (rc != 0) {
		rv = gw_store__mdb_err(rc, "txn commit");
		goto err_after_create;
	}
	s->rtxn = NULL;
	return 0;

err_after_txn:
	mdb_txn_abort(txn);
err_after_create:
	mdb_env_close(s->env);
	s->env = NULL;
	return rv;
}

void gw_store__env_close(struct gw_store *s)
{
	gw_store_flush(s);
	if (s->rtxn != NULL) {
		mdb_txn_abort(s->rtxn);
		s->rtxn = NULL;
	}
	if (s->env != NULL) {
		mdb_env_close(s->env);
		s->env = NULL;
	}
}

static int sys_get(struct gw_store *s, MDB_txn *txn, const char *name, uint64_t *v, uint64_t dflt)
{
	MDB_val k = {strlen(name), (void *)name}, d;
	int rc = mdb_get(txn, s->sys, &k, &d);
	if (rc == MDB_NOTFOUND) {
		*v = dflt;
		return 0;
	}
	if (rc != 0) {
		return gw_store__mdb_err(rc, "sys get");
	}
	if (d.mv_size != 8) {
		gw_errorf("store", "corrupt sys record %s", name);
		return GW_ECORRUPT;
	}
	*v = gw_store__get_u64(d.mv_data);
	return 0;
}

int gw_store__sys_put(struct gw_store *s, MDB_txn *txn, const char *name, uint64_t v)
{
	unsigned char b[8];
	MDB_val k = {strlen(name), (void *)name}, d = {8, b};
	int rc;
	gw_store__put_u64(b, v);
	rc = mdb_put(txn, s->sys, &k, &d, 0);
	return rc == 0 ? 0 : gw_store__mdb_err(rc, "sys put");
}

/* Logical size of a store that has no "size" record (written before it
 * existed): every record counted once. */
int gw_store__count_size(struct gw_store *s, MDB_txn *txn, int64_t *out)
{
	MDB_dbi dbs[] = {s->kv, s->hist, s->leases, s->lkeys, s->meta};
	int64_t size = 0;

	for (size_t i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++) {
		MDB_cursor *c;
		MDB_val k, v;
		int rc = mdb_cursor_open(txn, dbs[i], &c);
		if (rc != 0) {
			return gw_store__mdb_err(rc, "cursor open");
		}
		while ((rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) == 0) {
			size += GW_STORE__REC(k.mv_size, v.mv_size);
		}
		mdb_cursor_close(c);
		if (rc != MDB_NOTFOUND) {
			return gw_store__mdb_err(rc, "cursor get");
		}
	}
	*out = size;
	return 0;
}

int gw_store__load_sys(struct gw_store *s)
{
	uint64_t applied, rev, compact, size;
	MDB_txn *txn;
	int rv;

	rv = gw_store__rtxn(s, &txn);
	if (rv != 0) {
		return rv;
	}
	if ((rv = sys_get(s, txn, "applied", &applied, 0)) == 0 &&
	    (rv = sys_get(s, txn, "rev", &rev, 1)) == 0 &&
	    (rv = sys_get(s, txn, "compact", &compact, 0)) == 0 &&
	    (rv = sys_get(s, txn, "size", &size, UINT64_MAX)) == 0) {
		s->applied = applied;
		s->rev = (int64_t)rev;
		s->compact_rev = (int64_t)compact;
		s->size = (int64_t)size;
		if (size == UINT64_MAX) {
			rv = gw_store__count_size(s, txn, &s->size);
		}
	}
	gw_store__rtxn_done(s);
	return rv;
}

int gw_store__rtxn(struct gw_store *s, MDB_txn **txn)
{
	int rc;
	if (s->env == NULL) {
		return GW_EIO;
	}
	if (s->batch != NULL) {
		/* Entries not flushed yet: read what this thread wrote. */
		GW_ASSERT(!s->batch_read);
		s->batch_read = true;
		*txn = s->batch;
		return 0;
	}
	if (s->rtxn == NULL) {
		rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &s->rtxn);
		if (rc != 0) {
			s->rtxn = NULL;
		}
	} else {
		rc = mdb_txn_renew(s->rtxn);
	}
	if (rc != 0) {
		return gw_store__mdb_err(rc, "read txn");
	}
	*txn = s->rtxn;
	return 0;
}

void gw_store__rtxn_done(struct gw_store *s)
{
	if (s->batch_read) {
		s->batch_read = false;
		return;
	}
	mdb_txn_reset(s->rtxn);
}

void gw_store_set_batching(struct gw_store *s, bool on)
{
	if (!on) {
		gw_store_flush(s);
	}
	s->batching = on;
}

bool gw_store_dirty(const struct gw_store *s)
{
	return s->batch != NULL;
}

int gw_store_flush(struct gw_store *s)
{
	MDB_txn *txn = s->batch;
	int rc;

	if (txn == NULL) {
		return 0;
	}
	GW_ASSERT(!s->batch_read);
	s->batch = NULL;
	rc = mdb_txn_commit(txn);
	if (rc != 0) {
		gw_errorf("store",
			  "group commit of %u entries failed: %s; the store refuses writes from "
			  "now on (the raft log still holds them: restart the node)",
			  s->batch_n, mdb_strerror(rc));
		s->batch_n = 0;
		/* The counters went ahead with the lost entries: back to what
		 * LMDB holds, and never apply past the gap. */
		s->failed = GW_EIO;
		gw_store__load_sys(s);
		return GW_EIO;
	}
	s->batch_n = 0;
	return 0;
}

/* The parent of a write's txn: the open batch (begun if needed) when
 * batching, else NULL. 0 or a store error. */
static int write_parent(struct gw_store *s, MDB_txn **parent)
{
	int rc;

	*parent = NULL;
	if (!s->batching) {
		return 0;
	}
	if (s->batch != NULL && s->batch_n >= GW_STORE__BATCH_MAX) {
		/* A replay applies thousands of entries in one go: keep
		 * each commit's dirty pages bounded. */
		int rv = gw_store_flush(s);
		if (rv != 0) {
			return rv;
		}
	}
	if (s->batch == NULL) {
		rc = mdb_txn_begin(s->env, NULL, 0, &s->batch);
		if (rc != 0) {
			s->batch = NULL;
			return gw_store__mdb_err(rc, "txn begin");
		}
	}
	s->batch_n++;
	*parent = s->batch;
	return 0;
}

void gw_store__remove_restore_leftovers(const struct gw_store *s)
{
	char p[4096];
	/* a restore that crashed before its rename leaves these: the old state
	 * in data.mdb is intact */
	snprintf(p, sizeof(p), "%s/restore.mdb", s->dir);
	if (unlink(p) == 0) {
		gw_warnf("store", "removed an unfinished restore (%s)", p);
	}
	snprintf(p, sizeof(p), "%s/restore.mdb-lock", s->dir);
	unlink(p);
}

/* One process, one open store per directory: LMDB must not be opened twice
 * in a process, and two nodes on one directory would diverge. */
static int lock_dir(struct gw_store *s)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/store.lock", s->dir);
	s->lock_fd = open(p, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	if (s->lock_fd < 0) {
		gw_errorf("store", "open %s: %s", p, strerror(errno));
		return GW_EIO;
	}
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		int busy = errno == EWOULDBLOCK;
		gw_errorf("store", "lock %s: %s", p,
			  busy ? "the store is open in another process (or twice here)"
			       : strerror(errno));
		close(s->lock_fd);
		return busy ? GW_EBUSY : GW_EIO;
	}
	return 0;
}

int gw_store_open(const struct gw_store_opts *opts, struct gw_store **out)
{
	struct gw_store *s;
	size_t n;
	int rv;

	*out = NULL;
	if (opts == NULL || opts->dir == NULL || opts->dir[0] == '\0') {
		return GW_EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		return GW_ENOMEM;
	}
	gw_list_init(&s->watchers);
	gw_list_init(&s->pending);
	n = strlen(opts->dir);
	s->dir = strdup(opts->dir);
	s->path = malloc(n + sizeof("/data.mdb"));
	if (s->dir == NULL || s->path == NULL) {
		rv = GW_ENOMEM;
		goto err_after_alloc;
	}
	memcpy(s->path, opts->dir, n);
	memcpy(s->path + n, "/data.mdb", sizeof("/data.mdb"));
	s->quota = opts->quota_bytes ? opts->quota_bytes : GW_STORE_DEFAULT_QUOTA;
	s->max_value = opts->max_value_bytes ? opts->max_value_bytes : GW_STORE_DEFAULT_MAX_VALUE;
	if (s->max_value > (1u << 30)) {
		s->max_value =
		    1u << 30; /* records hold 32-bit lengths; an event holds two values */
	}
	s->history_revs = opts->history_revs ? opts->history_revs : GW_STORE_DEFAULT_HISTORY;
	s->no_sync = opts->no_sync;
	s->meta_no_sync = opts->meta_no_sync;
	rv = gw_store__mkdirs(s->dir);
	if (rv != 0) {
		goto err_after_alloc;
	}
	rv = lock_dir(s);
	if (rv != 0) {
		goto err_after_alloc;
	}
	gw_store__remove_restore_leftovers(s);
	rv = gw_store__env_open(s, s->path, gw_store__mapsize(s->quota), s->no_sync);
	if (rv != 0) {
		goto err_after_lock;
	}
	rv = gw_store__load_sys(s);
	if (rv != 0) {
		goto err_after_env;
	}
	*out = s;
	return 0;

err_after_env:
	gw_store__env_close(s);
err_after_lock:
	close(s->lock_fd);
err_after_alloc:
	free(s->path);
	free(s->dir);
	free(s);
	return rv;
}

void gw_store_close(struct gw_store *s)
{
	if (s == NULL) {
		return;
	}
	gw_store__watch_shutdown(s);
	gw_store__env_close(s);
	close(s->lock_fd);
	free(s->path);
	free(s->dir);
	free(s);
}

uint64_t gw_store_applied_index(const struct gw_store *s)
{
	return s->applied;
}

int64_t gw_store_revision(const struct gw_store *s)
{
	return s->rev;
}

int64_t gw_store_compact_revision(const struct gw_store *s)
{
	return s->compact_rev;
}

uint64_t gw_store_db_size(const struct gw_store *s)
{
	MDB_envinfo info;
	MDB_stat st;
	if (s->env == NULL || mdb_env_info(s->env, &info) != 0 || mdb_env_stat(s->env, &st) != 0) {
		return 0;
	}
	return ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
}

uint64_t gw_store_db_size_in_use(struct gw_store *s)
{
	uint64_t size = gw_store_db_size(s), free_pages = 0;
	MDB_cursor *c;
	MDB_txn *txn;
	MDB_val k, v;
	MDB_stat st;
	int rc;

	/* The free list is read from committed state: a read through an open
	 * group commit could not open it. */
	if (size == 0 || gw_store_flush(s) != 0 || gw_store__rtxn(s, &txn) != 0) {
		return size;
	}
	/* the free list: each record is an array of page numbers, count first */
	if (mdb_env_stat(s->env, &st) == 0 && mdb_cursor_open(txn, 0, &c) == 0) {
		for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
		     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
			if (v.mv_size >= sizeof(size_t)) {
				size_t cnt;
				memcpy(&cnt, v.mv_data, sizeof(cnt));
				free_pages += cnt;
			}
		}
		mdb_cursor_close(c);
		if (free_pages * st.ms_psize < size) {
			size -= free_pages * st.ms_psize;
		}
	}
	gw_store__rtxn_done(s);
	return size;
}

bool gw_store_over_quota(const struct gw_store *s)
{
	return s->size >= (int64_t)s->quota;
}

int64_t gw_store_logical_size(const struct gw_store *s)
{
	return s->size;
}

/* validation, like etcd's API layer */

static int check_key(const char *key, size_t len)
{
	if (key == NULL || len == 0) {
		return GW_EKEYEMPTY;
	}
	return len > GW_STORE_MAX_KEY ? GW_EKEYTOOLARGE : 0;
}

static int check_op(struct gw_store *s, const struct gw_store_op *op, int budget);

static int check_txn(struct gw_store *s, const struct gw_txn_req *t, int budget)
{
	size_t opc = t->n_compares;
	int rv;
	if (opc < t->n_success) {
		opc = t->n_success;
	}
	if (opc < t->n_failure) {
		opc = t->n_failure;
	}
	if (opc > (size_t)(budget > 0 ? budget : 0)) {
		return GW_ETOOMANYOPS;
	}
	for (size_t i = 0; i < t->n_compares; i++) {
		if ((rv = check_key(t->compares[i].key, t->compares[i].key_len)) != 0) {
			return rv;
		}
	}
	for (size_t i = 0; i < t->n_success + t->n_failure; i++) {
		const struct gw_store_op *op =
		    i < t->n_success ? &t->success[i] : &t->failure[i - t->n_success];
		if (op->type != GW_OP_RANGE && op->type != GW_OP_PUT && op->type != GW_OP_DELETE &&
		    op->type != GW_OP_TXN) {
			return GW_EINVAL;
		}
		if ((rv = check_op(s, op, budget - (int)opc)) != 0) {
			return rv;
		}
	}
	return 0;
}

static int check_op(struct gw_store *s, const struct gw_store_op *op, int budget)
{
	int rv;
	switch (op->type) {
	case GW_OP_RANGE:
		return check_key(op->u.range.key, op->u.range.key_len);
	case GW_OP_PUT:
		if ((rv = check_key(op->u.put.key, op->u.put.key_len)) != 0) {
			return rv;
		}
		if (op->u.put.value_len > s->max_value) {
			return GW_EVALUETOOLARGE;
		}
		if ((op->u.put.ignore_value && op->u.put.value_len) ||
		    (op->u.put.ignore_lease && op->u.put.lease)) {
			return GW_EINVAL;
		}
		return 0;
	case GW_OP_DELETE:
		if ((rv = check_key(op->u.del.key, op->u.del.key_len)) != 0) {
			return rv;
		}
		return op->u.del.range_end_len > GW_STORE_MAX_KEY ? GW_EKEYTOOLARGE : 0;
	case GW_OP_TXN:
		return check_txn(s, &op->u.txn, budget);
	case GW_OP_META_PUT:
	case GW_OP_META_DELETE:
		if (op->u.meta.key == NULL || op->u.meta.key_len == 0) {
			return GW_EKEYEMPTY;
		}
		return op->u.meta.key_len > GW_STORE__INLINE ? GW_EKEYTOOLARGE : 0;
	case GW_OP_COMPACT:
	case GW_OP_LEASE_GRANT:
	case GW_OP_LEASE_REVOKE:
	case GW_OP_NOOP:
		return 0;
	}
	return GW_EINVAL;
}

/* Duplicate keys in a txn, with etcd's rules: a key put twice, or put and
 * deleted, in the same branch path; then/else of a nested txn may share. */
struct ivals {
	struct gw_store__range *dels;
	size_t n_dels, cap_dels;
	struct gw_store__range *puts; /* points */
	size_t n_puts, cap_puts;
};

static void ivals_free(struct ivals *iv)
{
	free(iv->dels);
	free(iv->puts);
	memset(iv, 0, sizeof(*iv));
}

static int push_range(struct gw_store__range **v, size_t *n, size_t *cap,
		      const struct gw_store__range *r)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 8;
		struct gw_store__range *nv = realloc(*v, c * sizeof(*nv));
		if (nv == NULL) {
			return GW_ENOMEM;
		}
		*v = nv;
		*cap = c;
	}
	(*v)[(*n)++] = *r;
	return 0;
}

static bool has_put(const struct ivals *iv, const struct gw_store__range *p)
{
	for (size_t i = 0; i < iv->n_puts; i++) {
		if (gw_store__in_range(&iv->puts[i], p->key, p->key_len)) {
			return true;
		}
	}
	return false;
}

static bool in_dels(const struct ivals *iv, const struct gw_store__range *p)
{
	for (size_t i = 0; i < iv->n_dels; i++) {
		if (gw_store__in_range(&iv->dels[i], p->key, p->key_len)) {
			return true;
		}
	}
	return false;
}

static int add_put(struct ivals *iv, const struct gw_store__range *p)
{
	if (has_put(iv, p) || in_dels(iv, p)) {
		return GW_EDUPKEY;
	}
	return push_range(&iv->puts, &iv->n_puts, &iv->cap_puts, p);
}

static int check_intervals(const struct gw_store_op *ops, size_t n, struct ivals *out)
{
	struct gw_store__range r;
	int rv = 0;

	for (size_t i = 0; i < n && rv == 0; i++) {
		if (ops[i].type == GW_OP_DELETE) {
			const struct gw_delete_req *d = &ops[i].u.del;
			gw_store__range_of(&r, d->key, d->key_len, d->range_end, d->range_end_len);
			rv = push_range(&out->dels, &out->n_dels, &out->cap_dels, &r);
		}
	}
	for (size_t i = 0; i < n && rv == 0; i++) {
		struct ivals then = {0}, els = {0};
		if (ops[i].type != GW_OP_TXN) {
			continue;
		}
		rv = check_intervals(ops[i].u.txn.success, ops[i].u.txn.n_success, &then);
		if (rv == 0) {
			rv = check_intervals(ops[i].u.txn.failure, ops[i].u.txn.n_failure, &els);
		}
		for (size_t j = 0; rv == 0 && j < then.n_puts; j++) {
			rv = add_put(out, &then.puts[j]);
		}
		for (size_t j = 0; rv == 0 && j < els.n_puts; j++) {
			if (has_put(&then, &els.puts[j])) {
				continue; /* then and else exclude each other */
			}
			rv = add_put(out, &els.puts[j]);
		}
		for (size_t j = 0; rv == 0 && j < then.n_dels; j++) {
			rv = push_range(&out->dels, &out->n_dels, &out->cap_dels, &then.dels[j]);
		}
		for (size_t j = 0; rv == 0 && j < els.n_dels; j++) {
			rv = push_range(&out->dels, &out->n_dels, &out->cap_dels, &els.dels[j]);
		}
		ivals_free(&then);
		ivals_free(&els);
	}
	for (size_t i = 0; i < n && rv == 0; i++) {
		if (ops[i].type == GW_OP_PUT) {
			gw_store__range_of(&r, ops[i].u.put.key, ops[i].u.put.key_len, NULL, 0);
			rv = add_put(out, &r);
		}
	}
	return rv;
}

static int check_dups(const struct gw_txn_req *t)
{
	struct ivals a = {0}, b = {0};
	int rv = check_intervals(t->success, t->n_success, &a);
	if (rv == 0) {
		rv = check_intervals(t->failure, t->n_failure, &b);
	}
	ivals_free(&a);
	ivals_free(&b);
	return rv;
}

static bool txn_has_put(const struct gw_txn_req *t)
{
	for (size_t i = 0; i < t->n_success + t->n_failure; i++) {
		const struct gw_store_op *op =
		    i < t->n_success ? &t->success[i] : &t->failure[i - t->n_success];
		if (op->type == GW_OP_PUT || (op->type == GW_OP_TXN && txn_has_put(&op->u.txn))) {
			return true;
		}
	}
	return false;
}

/* Ops refused past the quota, like etcd's (put, txn with a put, grant). */
static bool quota_op(const struct gw_store_op *op)
{
	return op->type == GW_OP_PUT || op->type == GW_OP_LEASE_GRANT ||
	       (op->type == GW_OP_TXN && txn_has_put(&op->u.txn));
}

int gw_store_check_ops(struct gw_store *s, const struct gw_store_op *op, int budget)
{
	int rv = check_op(s, op, budget);
	if (rv == 0 && op->type == GW_OP_TXN) {
		rv = check_dups(&op->u.txn);
	}
	return rv;
}

static int validate(struct gw_store *s, const struct gw_store_op *op)
{
	int rv = gw_store_check_ops(s, op, GW_STORE_MAX_APPLY_OPS);
	if (rv == 0 && quota_op(op) && gw_store_over_quota(s)) {
		rv = GW_ENOSPACE;
	}
	return rv;
}

/* the write path */

static int do_meta(struct gw_store__wctx *w, const struct gw_store_op *op)
{
	MDB_val k = {op->u.meta.key_len, (void *)op->u.meta.key};
	MDB_val v = {op->u.meta.value_len, (void *)op->u.meta.value}, old;
	int rc = mdb_get(w->txn, w->s->meta, &k, &old);
	if (rc == 0) {
		w->size -= GW_STORE__REC(k.mv_size, old.mv_size);
	} else if (rc != MDB_NOTFOUND) {
		return gw_store__mdb_err(rc, "meta get");
	}
	if (op->type == GW_OP_META_PUT) {
		rc = mdb_put(w->txn, w->s->meta, &k, &v, 0);
		w->size += GW_STORE__REC(k.mv_size, v.mv_size);
	} else {
		rc = mdb_del(w->txn, w->s->meta, &k, NULL);
		rc = rc == MDB_NOTFOUND ? 0 : rc;
	}
	return rc == 0 ? 0 : gw_store__mdb_err(rc, "meta write");
}

static int dispatch(struct gw_store__wctx *w, const struct gw_store_op *op,
		    struct gw_store_result *res)
{
	struct gw_store__range r;

	res->revision = w->rev;
	switch (op->type) {
	case GW_OP_RANGE:
		return gw_store__range_txn(w->s, w->txn, &op->u.range, w->rev, &res->range);
	case GW_OP_PUT:
		return gw_store__do_put(w, &op->u.put, res);
	case GW_OP_DELETE:
		gw_store__range_of(&r, op->u.del.key, op->u.del.key_len, op->u.del.range_end,
				   op->u.del.range_end_len);
		return gw_store__do_delete(w, &r, op->u.del.prev_kv, res);
	case GW_OP_TXN:
		return gw_store__do_txn(w, &op->u.txn, res);
	case GW_OP_COMPACT:
		return gw_store__do_compact(w, op->u.compact.revision);
	case GW_OP_LEASE_GRANT:
		return gw_store__do_lease_grant(w, op->u.lease_grant.id, op->u.lease_grant.ttl,
						res);
	case GW_OP_LEASE_REVOKE:
		return gw_store__do_lease_revoke(w, op->u.lease_revoke.id, res);
	case GW_OP_META_PUT:
	case GW_OP_META_DELETE:
		return do_meta(w, op);
	case GW_OP_NOOP:
		return 0;
	}
	return GW_EINVAL;
}

/* Record only the applied index (after a business error). */
static int write_applied_only(struct gw_store *s, uint64_t index)
{
	MDB_txn *txn, *parent;
	int rc, rv;

	rv = write_parent(s, &parent);
	if (rv != 0) {
		return rv;
	}
	rc = mdb_txn_begin(s->env, parent, 0, &txn);
	if (rc != 0) {
		return gw_store__mdb_err(rc, "txn begin");
	}
	rv = gw_store__sys_put(s, txn, "applied", index);
	if (rv != 0) {
		mdb_txn_abort(txn);
		return rv;
	}
	rc = mdb_txn_commit(txn);
	return rc == 0 ? 0 : gw_store__mdb_err(rc, "txn commit");
}

int gw_store_write(struct gw_store *s, uint64_t index, const struct gw_store_op *op,
		   struct gw_store_result *res)
{
	struct gw_store__wctx w;
	enum gw_op_type type = op->type;
	MDB_txn *parent;
	int rc, rv;

	memset(res, 0, sizeof(*res));
	res->type = type;
	res->revision = s->rev;
	if (s->env == NULL) {
		return GW_EIO;
	}
	if (s->failed != 0) {
		return s->failed; /* a group commit failed: entries are missing */
	}
	if (index <= s->applied) {
		return GW_ESTALE;
	}
	memset(&w, 0, sizeof(w));
	w.s = s;
	w.index = index;
	w.rev = s->rev;
	w.compact = s->compact_rev;
	w.size = s->size;
	rv = validate(s, op);
	if (rv != 0) {
		goto check;
	}
	rv = write_parent(s, &parent);
	if (rv != 0) {
		goto fail;
	}
	rc = mdb_txn_begin(s->env, parent, 0, &w.txn);
	if (rc != 0) {
		rv = gw_store__mdb_err(rc, "txn begin");
		goto fail;
	}
	rv = dispatch(&w, op, res);
	if (rv == 0 && w.changes > 0) {
		rv = gw_store__sys_put(s, w.txn, "rev", (uint64_t)(w.rev + 1));
		if (rv == 0 && s->history_revs > 0 && w.rev + 1 - s->history_revs > w.compact) {
			rv = gw_store__compact_to(&w, w.rev + 1 - s->history_revs);
		}
	}
	if (rv == 0 && quota_op(op) && w.size > s->size && w.size > (int64_t)s->quota) {
		rv = GW_ENOSPACE; /* this op would take the store past its quota */
	}
	if (rv == 0 && w.size != s->size) {
		rv = gw_store__sys_put(s, w.txn, "size", (uint64_t)w.size);
	}
	if (rv == 0) {
		rv = gw_store__sys_put(s, w.txn, "applied", index);
	}
	if (rv != 0) {
		mdb_txn_abort(w.txn);
		goto check;
	}
	rc = mdb_txn_commit(w.txn);
	if (rc != 0) {
		rv = gw_store__mdb_err(rc, "txn commit");
		goto check;
	}
	s->applied = index;
	s->compact_rev = w.compact;
	s->size = w.size;
	if (w.changes > 0) {
		s->rev = w.rev + 1;
		res->revision = s->rev;
		gw_store__notify(s, s->rev, w.evs, w.n_evs);
	} else {
		gw_store__events_free(w.evs, w.n_evs);
	}
	return 0;

check:
	gw_store__events_free(w.evs, w.n_evs);
	w.evs = NULL;
	w.n_evs = 0;
	if (gw_store__fatal(rv)) {
		goto fail;
	}
	/* nothing of the op was written; the entry still counts as applied */
	gw_store_result_free(res);
	res->type = type;
	res->err = rv;
	res->revision = s->rev;
	rv = write_applied_only(s, index);
	if (rv != 0) {
		gw_warnf("store", "could not record applied index %llu: %s",
			 (unsigned long long)index, gw_strerror(rv));
	}
	s->applied = index;
	return 0;

fail:
	gw_store_result_free(res);
	res->type = type;
	res->revision = s->rev;
	return rv;
}

int gw_store_range(struct gw_store *s, const struct gw_range_req *req, struct gw_range_resp *out)
{
	MDB_txn *txn;
	int rv;

	memset(out, 0, sizeof(*out));
	out->revision = s->rev;
	rv = gw_store__rtxn(s, &txn);
	if (rv != 0) {
		return rv;
	}
	rv = gw_store__range_txn(s, txn, req, s->rev, out);
	gw_store__rtxn_done(s);
	return rv;
}

void gw_store_kv_free(struct gw_kv *kv)
{
	if (kv == NULL) {
		return;
	}
	free(kv->key);
	free(kv->value);
	kv->key = NULL;
	kv->value = NULL;
	kv->key_len = 0;
	kv->value_len = 0;
}

void gw_store_range_resp_free(struct gw_range_resp *r)
{
	if (r == NULL) {
		return;
	}
	for (size_t i = 0; i < r->n_kvs; i++) {
		gw_store_kv_free(&r->kvs[i]);
	}
	free(r->kvs);
	memset(r, 0, sizeof(*r));
}

void gw_store_result_free(struct gw_store_result *r)
{
	if (r == NULL) {
		return;
	}
	gw_store_kv_free(&r->prev_kv);
	for (size_t i = 0; i < r->n_prev_kvs; i++) {
		gw_store_kv_free(&r->prev_kvs[i]);
	}
	free(r->prev_kvs);
	gw_store_range_resp_free(&r->range);
	for (size_t i = 0; i < r->n_responses; i++) {
		gw_store_result_free(&r->responses[i]);
	}
	free(r->responses);
	memset(r, 0, sizeof(*r));
}

/* node metadata */

int gw_store_meta_get(struct gw_store *s, const char *key, char **value, size_t *len)
{
	MDB_val k = {strlen(key), (void *)key}, v;
	MDB_txn *txn;
	int rc, rv;

	*value = NULL;
	*len = 0;
	if (k.mv_size == 0 || k.mv_size > GW_STORE__INLINE) {
		return GW_ENOTFOUND;
	}
	rv = gw_store__rtxn(s, &txn);
	if (rv != 0) {
		return rv;
	}
	rc = mdb_get(txn, s->meta, &k, &v);
	if (rc == 0) {
		*value = malloc(v.mv_size + 1);
		if (*value == NULL) {
			rv = GW_ENOMEM;
		} else {
			memcpy(*value, v.mv_data, v.mv_size);
			(*value)[v.mv_size] = '\0';
			*len = v.mv_size;
		}
	} else {
		rv = rc == MDB_NOTFOUND ? GW_ENOTFOUND : gw_store__mdb_err(rc, "meta get");
	}
	gw_store__rtxn_done(s);
	return rv;
}

static char *dup_str(const void *p, size_t len)
{
	char *d = malloc(len + 1);
	if (d != NULL) {
		memcpy(d, p, len);
		d[len] = '\0';
	}
	return d;
}

int gw_store_meta_list(struct gw_store *s, const char *prefix, char ***keys, char ***values,
		       size_t *n)
{
	size_t plen = strlen(prefix), cap = 0, cnt = 0;
	char **ks = NULL, **vs = NULL;
	MDB_cursor *c;
	MDB_txn *txn;
	MDB_val k = {plen, (void *)prefix}, v;
	int rc, rv;

	*keys = NULL;
	*values = NULL;
	*n = 0;
	rv = gw_store__rtxn(s, &txn);
	if (rv != 0) {
		return rv;
	}
	rc = mdb_cursor_open(txn, s->meta, &c);
	if (rc != 0) {
		rv = gw_store__mdb_err(rc, "cursor open");
		goto out;
	}
	rc = mdb_cursor_get(c, &k, &v, plen ? MDB_SET_RANGE : MDB_FIRST);
	for (; rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0) {
			break;
		}
		if (cnt == cap) {
			size_t nc = cap ? cap * 2 : 8;
			char **nk = realloc(ks, nc * sizeof(*nk));
			char **nv = nk ? realloc(vs, nc * sizeof(*nv)) : NULL;
			if (nk != NULL) {
				ks = nk;
			}
			if (nv == NULL) {
				rv = GW_ENOMEM;
				break;
			}
			vs = nv;
			cap = nc;
		}
		ks[cnt] = dup_str(k.mv_data, k.mv_size);
		vs[cnt] = dup_str(v.mv_data, v.mv_size);
		cnt++;
		if (ks[cnt - 1] == NULL || vs[cnt - 1] == NULL) {
			rv = GW_ENOMEM;
			break;
		}
	}
	if (rv == 0 && rc != 0 && rc != MDB_NOTFOUND) {
		rv = gw_store__mdb_err(rc, "cursor get");
	}
	mdb_cursor_close(c);
out:
	gw_store__rtxn_done(s);
	if (rv != 0) {
		for (size_t i = 0; i < cnt; i++) {
			free(ks[i]);
			free(vs[i]);
		}
		free(ks);
		free(vs);
		return rv;
	}
	*keys = ks;
	*values = vs;
	*n = cnt;
	return 0;
}
