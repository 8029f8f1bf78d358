/* snapshot.c: a consistent image of the whole store, and its installation.
 *
 * Image format (all integers big-endian):
 *   "GWSNAP01" | applied u64 | revision u64 | compact u64
 *   records: db u8 (0 kv, 1 hist, 2 leases, 3 lkeys, 4 sys, 5 meta) |
 *            klen u32 | vlen u32 | key | value
 *   0xff | FNV-1a 64 of every byte before it
 * The image is written from one LMDB read txn, so it is consistent while
 * writes continue. Restore checks the whole image first (bounds, order,
 * checksum), loads it into <dir>/restore.mdb, syncs it, then closes the old
 * environment and rename(2)s the new file over <dir>/data.mdb: a crash
 * before the rename leaves the old state (the leftover is removed on open),
 * after it the new one. Failure modes: GW_ECORRUPT (bad image), GW_ESTALE
 * (not newer), GW_EIO (the store is unusable if the new file cannot be
 * opened after the rename; logged). */
#include "config.h"

#include "store/store_int.h"

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAGIC      "GWSNAP01"
#define HDR_LEN    32
#define N_DBS      6
#define END_MARK   0xff
#define LOAD_BATCH 4096 /* records per LMDB txn while loading */

/* @i < N_DBS (checked by parse()). */
static MDB_dbi dbi_of(const struct gw_store *s, unsigned i)
{
	const MDB_dbi d[N_DBS] = {s->kv, s->hist, s->leases, s->lkeys, s->sys, s->meta};
	return d[i % N_DBS];
}

static int append_u32(struct gw_buf *b, uint32_t v)
{
	unsigned char p[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
			      (unsigned char)(v >> 8), (unsigned char)v};
	return gw_buf_append(b, p, 4);
}

static int append_u64(struct gw_buf *b, uint64_t v)
{
	unsigned char p[8];
	gw_store__put_u64(p, v);
	return gw_buf_append(b, p, 8);
}

int gw_store_snapshot(struct gw_store *s, void **buf, size_t *len)
{
	struct gw_buf b;
	MDB_txn *txn;
	int rv;

	*buf = NULL;
	*len = 0;
	gw_buf_init(&b);
	/* What the image holds is durable in LMDB before raft drops its log. */
	rv = gw_store_flush(s);
	if (rv != 0) {
		return rv;
	}
	rv = gw_store__rtxn(s, &txn);
	if (rv != 0) {
		return rv;
	}
	if ((rv = gw_buf_append(&b, MAGIC, 8)) != 0 || (rv = append_u64(&b, s->applied)) != 0 ||
	    (rv = append_u64(&b, (uint64_t)s->rev)) != 0 ||
	    (rv = append_u64(&b, (uint64_t)s->compact_rev)) != 0) {
		goto out;
	}
	for (unsigned i = 0; i < N_DBS && rv == 0; i++) {
		MDB_cursor *c;
		MDB_val k, v;
		unsigned char db = (unsigned char)i;
		int rc = mdb_cursor_open(txn, dbi_of(s, i), &c);
		if (rc != 0) {
			rv = gw_store__mdb_err(rc, "cursor open");
			break;
		}
		for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && rv == 0;
		     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
			if ((rv = gw_buf_append(&b, &db, 1)) == 0 &&
			    (rv = append_u32(&b, (uint32_t)k.mv_size)) == 0 &&
			    (rv = append_u32(&b, (uint32_t)v.mv_size)) == 0 &&
			    (rv = gw_buf_append(&b, k.mv_data, k.mv_size)) == 0) {
				rv = gw_buf_append(&b, v.mv_data, v.mv_size);
			}
		}
		mdb_cursor_close(c);
		if (rv == 0 && rc != MDB_NOTFOUND) {
			rv = gw_store__mdb_err(rc, "cursor get");
		}
	}
	if (rv == 0) {
		unsigned char end = END_MARK;
		if ((rv = gw_buf_append(&b, &end, 1)) == 0) {
			rv = append_u64(&b, gw_store__hash(b.data, b.len));
		}
	}
out:
	gw_store__rtxn_done(s);
	if (rv != 0) {
		if (rv == GW_ENOMEM) {
			gw_errorf("store", "snapshot: out of memory");
		}
		gw_buf_close(&b);
		return rv;
	}
	*buf = gw_buf_steal(&b, len);
	return 0;
}

/* Check the image; on success @body/@body_len are its records and the
 * header fields are filled in. */
static int parse(const void *buf, size_t len, uint64_t *applied, uint64_t *rev, uint64_t *compact,
		 const unsigned char **body, size_t *body_len)
{
	const unsigned char *p = buf;
	size_t pos;

	if (buf == NULL || len < HDR_LEN + 1 + 8 || memcmp(p, MAGIC, 8) != 0) {
		return GW_ECORRUPT;
	}
	if (gw_store__hash(p, len - 8) != gw_store__get_u64(p + len - 8)) {
		return GW_ECORRUPT;
	}
	*applied = gw_store__get_u64(p + 8);
	*rev = gw_store__get_u64(p + 16);
	*compact = gw_store__get_u64(p + 24);
	/* walk the records to check their bounds */
	for (pos = HDR_LEN; pos < len - 9;) {
		uint64_t klen, vlen;
		if (p[pos] >= N_DBS || len - 9 - pos < 9) {
			return GW_ECORRUPT;
		}
		klen = ((uint64_t)p[pos + 1] << 24) | ((uint64_t)p[pos + 2] << 16) |
		       ((uint64_t)p[pos + 3] << 8) | p[pos + 4];
		vlen = ((uint64_t)p[pos + 5] << 24) | ((uint64_t)p[pos + 6] << 16) |
		       ((uint64_t)p[pos + 7] << 8) | p[pos + 8];
		pos += 9;
		if (klen == 0 || klen > GW_STORE__ENC_MAX + 8 || klen + vlen > len - 9 - pos) {
			return GW_ECORRUPT;
		}
		pos += klen + vlen;
	}
	if (pos != len - 9 || p[pos] != END_MARK) {
		return GW_ECORRUPT;
	}
	*body = p + HDR_LEN;
	*body_len = len - 9 - HDR_LEN;
	return 0;
}

int gw_store_snapshot_index(const void *buf, size_t len, uint64_t *index)
{
	uint64_t rev, compact;
	const unsigned char *body;
	size_t body_len;
	return parse(buf, len, index, &rev, &compact, &body, &body_len);
}

/* Load the records into a new environment at @path. */
static int load(struct gw_store *s, const char *path, const unsigned char *p, size_t len)
{
	struct gw_store tmp;
	MDB_txn *txn = NULL;
	size_t pos = 0, n = 0;
	uint64_t mapsize = gw_store__mapsize(s->quota);
	int rc, rv;

	memset(&tmp, 0, sizeof(tmp));
	if (mapsize < (uint64_t)len * 2) {
		mapsize = (uint64_t)len * 2;
	}
	rv = gw_store__env_open(&tmp, path, mapsize, true);
	if (rv != 0) {
		return rv;
	}
	while (pos < len) {
		MDB_val k, v;
		unsigned db = p[pos];
		uint32_t klen = ((uint32_t)p[pos + 1] << 24) | ((uint32_t)p[pos + 2] << 16) |
				((uint32_t)p[pos + 3] << 8) | p[pos + 4];
		uint32_t vlen = ((uint32_t)p[pos + 5] << 24) | ((uint32_t)p[pos + 6] << 16) |
				((uint32_t)p[pos + 7] << 8) | p[pos + 8];
		if (txn == NULL) {
			rc = mdb_txn_begin(tmp.env, NULL, 0, &txn);
			if (rc != 0) {
				rv = gw_store__mdb_err(rc, "restore txn");
				goto out;
			}
		}
		k.mv_size = klen;
		k.mv_data = (void *)(p + pos + 9);
		v.mv_size = vlen;
		v.mv_data = (void *)(p + pos + 9 + klen);
		rc = mdb_put(txn, dbi_of(&tmp, db), &k, &v, MDB_APPEND);
		if (rc == MDB_KEYEXIST) {
			gw_errorf("store", "restore: image records out of order");
			rv = GW_ECORRUPT;
			goto out;
		}
		if (rc != 0) {
			rv = gw_store__mdb_err(rc, "restore put");
			goto out;
		}
		pos += 9 + klen + vlen;
		if (++n % LOAD_BATCH == 0 || pos >= len) {
			rc = mdb_txn_commit(txn);
			txn = NULL;
			if (rc != 0) {
				rv = gw_store__mdb_err(rc, "restore commit");
				goto out;
			}
		}
	}
	rc = mdb_env_sync(tmp.env, 1);
	if (rc != 0) {
		rv = gw_store__mdb_err(rc, "restore sync");
	}
out:
	if (txn != NULL) {
		mdb_txn_abort(txn);
	}
	gw_store__env_close(&tmp);
	return rv;
}

static int sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	int rv = 0;
	if (fd < 0 || fsync(fd) != 0) {
		gw_errorf("store", "fsync %s: %s", dir, strerror(errno));
		rv = GW_EIO;
	}
	if (fd >= 0) {
		close(fd);
	}
	return rv;
}

int gw_store_restore(struct gw_store *s, const void *buf, size_t len)
{
	char tmp[4096], lock[4096];
	uint64_t applied, rev, compact;
	const unsigned char *body;
	size_t body_len;
	int rv;

	rv = parse(buf, len, &applied, &rev, &compact, &body, &body_len);
	if (rv != 0) {
		gw_errorf("store", "restore: the snapshot image is corrupt");
		return rv;
	}
	rv = gw_store_flush(s);
	if (rv != 0) {
		return rv;
	}
	if (applied <= s->applied) {
		return GW_ESTALE;
	}
	if (s->env == NULL) {
		return GW_EIO;
	}
	snprintf(tmp, sizeof(tmp), "%s/restore.mdb", s->dir);
	snprintf(lock, sizeof(lock), "%s/restore.mdb-lock", s->dir);
	gw_store__remove_restore_leftovers(s);
	rv = load(s, tmp, body, body_len);
	if (rv != 0) {
		goto err_after_tmp;
	}
	/* the switch: close, rename, reopen */
	gw_store__env_close(s);
	if (rename(tmp, s->path) != 0) {
		gw_errorf("store", "restore: rename %s: %s", tmp, strerror(errno));
		rv = GW_EIO;
		goto reopen;
	}
	unlink(lock);
	rv = sync_dir(s->dir);
reopen:
	if (gw_store__env_open(s, s->path, gw_store__mapsize(s->quota), s->no_sync) != 0 ||
	    gw_store__load_sys(s) != 0) {
		gw_errorf("store", "restore: cannot reopen %s; the store is unusable", s->path);
		gw_store__env_close(s);
		return GW_EIO;
	}
	if (rv == 0 && (s->applied != applied || (uint64_t)s->rev != rev)) {
		gw_errorf("store", "restore: image header and contents disagree");
		rv = GW_ECORRUPT;
	}
	gw_store__watch_after_restore(s);
	return rv;

err_after_tmp:
	unlink(tmp);
	unlink(lock);
	return rv;
}

/* Visit every record of a checked image body: @fn gets db, key, value. */
static void walk(const unsigned char *p, size_t len,
		 void (*fn)(unsigned db, const unsigned char *k, uint32_t klen,
			    const unsigned char *v, uint32_t vlen, void *data),
		 void *data)
{
	size_t pos = 0;
	while (pos < len) {
		uint32_t klen = gw_store__get_u32(p + pos + 1);
		uint32_t vlen = gw_store__get_u32(p + pos + 5);
		fn(p[pos], p + pos + 9, klen, p + pos + 9 + klen, vlen, data);
		pos += 9 + (size_t)klen + vlen;
	}
}

static void count_cb(unsigned db, const unsigned char *k, uint32_t klen, const unsigned char *v,
		     uint32_t vlen, void *data)
{
	struct gw_store_image_stats *st = data;
	(void)k;
	(void)klen;
	(void)v;
	(void)vlen;
	if (db == 0) {
		st->keys++;
	} else if (db == 1) {
		st->events++;
	} else if (db == 2) {
		st->leases++;
	} else if (db == 5) {
		st->meta++;
	}
}

int gw_store_image_stats(const void *buf, size_t len, struct gw_store_image_stats *st)
{
	uint64_t applied, rev, compact;
	const unsigned char *body;
	size_t body_len;
	int rv;

	memset(st, 0, sizeof *st);
	rv = parse(buf, len, &applied, &rev, &compact, &body, &body_len);
	if (rv != 0) {
		return rv;
	}
	st->applied = applied;
	st->revision = (int64_t)rev;
	st->compact_revision = (int64_t)compact;
	walk(body, body_len, count_cb, st);
	return 0;
}

struct filter_ctx {
	struct gw_buf *out;
	bool (*drop_meta)(const char *key, size_t len);
	int rv;
};

static void filter_cb(unsigned db, const unsigned char *k, uint32_t klen, const unsigned char *v,
		      uint32_t vlen, void *data)
{
	struct filter_ctx *f = data;
	unsigned char d = (unsigned char)db;
	if (f->rv != 0 || (db == 5 && f->drop_meta((const char *)k, klen))) {
		return;
	}
	if ((f->rv = gw_buf_append(f->out, &d, 1)) == 0 &&
	    (f->rv = append_u32(f->out, klen)) == 0 && (f->rv = append_u32(f->out, vlen)) == 0 &&
	    (f->rv = gw_buf_append(f->out, k, klen)) == 0) {
		f->rv = gw_buf_append(f->out, v, vlen);
	}
}

int gw_store_image_filter(const void *buf, size_t len,
			  bool (*drop_meta)(const char *key, size_t len), void **out,
			  size_t *out_len)
{
	uint64_t applied, rev, compact;
	const unsigned char *body;
	size_t body_len;
	struct gw_buf b;
	struct filter_ctx f;
	unsigned char end = END_MARK;
	int rv;

	*out = NULL;
	*out_len = 0;
	rv = parse(buf, len, &applied, &rev, &compact, &body, &body_len);
	if (rv != 0) {
		return rv;
	}
	gw_buf_init(&b);
	f.out = &b;
	f.drop_meta = drop_meta;
	f.rv = gw_buf_append(&b, buf, HDR_LEN);
	if (f.rv == 0) {
		walk(body, body_len, filter_cb, &f);
	}
	if (f.rv == 0 && (f.rv = gw_buf_append(&b, &end, 1)) == 0) {
		f.rv = append_u64(&b, gw_store__hash(b.data, b.len));
	}
	if (f.rv != 0) {
		gw_buf_close(&b);
		return f.rv;
	}
	*out = gw_buf_steal(&b, out_len);
	return 0;
}
