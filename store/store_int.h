/* store_int.h: internals of store/, shared by its files and its tests.
 *
 * On-disk layout: one LMDB environment, a single file <dir>/data.mdb
 * (MDB_NOSUBDIR) with named databases:
 *   kv      enc(key) -> kv record (the current keyspace)
 *   hist    rev(8 BE) sub(8 BE) -> event record (type, kv, prev_kv)
 *   leases  id(8 BE) -> ttl(8 BE)
 *   lkeys   id(8 BE) enc(key) -> key (keys attached to a lease)
 *   sys     "applied" | "rev" | "compact" -> u64/i64 BE
 *   meta    node metadata (members), outside the keyspace
 * LMDB keys are limited to 511 bytes, keys to 1536: enc(key) is the key
 * itself up to GW_STORE__INLINE bytes, else its first GW_STORE__INLINE bytes
 * and an 8-byte hash of the whole key; a custom comparator keeps the order
 * lexicographic between groups, so a scan only has to filter and sort within
 * one group of long keys sharing a prefix. Records hold the full key. */
#ifndef GW_STORE_INT_H
#define GW_STORE_INT_H

#include "lib/list.h"
#include "store/store.h"

#include <lmdb.h>

#define GW_STORE__INLINE        480                    /* longest key stored as itself */
#define GW_STORE__ENC_MAX       (GW_STORE__INLINE + 8) /* longest enc(key) */
#define GW_STORE__BATCH_MAX     1024                   /* entries per group commit at most */
#define GW_STORE__KV_HDR        32                     /* create, mod, version, lease */
#define GW_STORE__MAX_LEASE_TTL 9000000000LL           /* etcd's MaxLeaseTTL */
/* Logical bytes of one record, the unit of the quota (see store.c). */
#define GW_STORE__REC(klen, vlen) ((int64_t)(klen) + (int64_t)(vlen) + 16)

struct gw_store {
	MDB_env *env;   /* NULL after a failed restore: every call fails with GW_EIO */
	MDB_dbi kv;     /* current keyspace */
	MDB_dbi hist;   /* events by (revision, sub) */
	MDB_dbi leases; /* lease id -> ttl */
	MDB_dbi lkeys;  /* lease id + enc(key) -> key */
	MDB_dbi sys;    /* applied index, revision, compact revision */
	MDB_dbi meta;   /* node metadata */
	MDB_txn *rtxn;  /* cached read txn, reset between reads; NULL if none */
	/* Group commit (gw_store_set_batching): the write txn that holds the
	 * entries applied since the last gw_store_flush, each written in a
	 * child txn of it; NULL when nothing is pending. Reads on this thread
	 * go through it meanwhile (batch_read: a read is using it). */
	MDB_txn *batch;
	bool batching;
	bool batch_read;
	int failed;       /* a group commit failed: every write fails (GW_EIO) from now on */
	unsigned batch_n; /* entries in @batch */
	char *dir;        /* owned copy of opts->dir */
	char *path;       /* <dir>/data.mdb */
	int lock_fd;      /* <dir>/store.lock, flock'ed while open */
	uint64_t quota;   /* soft quota: puts fail once the file reaches it */
	size_t max_value;
	int64_t history_revs; /* < 0 = never auto-compact */
	bool no_sync;
	bool meta_no_sync; /* MDB_NOMETASYNC (see store.h) */
	int64_t size;      /* logical bytes of every record (quota), cached from sys */
	uint64_t applied;  /* cached from sys, updated after each commit */
	int64_t rev;
	int64_t compact_rev;
	/* watch hub (watch.c) */
	struct gw_list watchers; /* of struct gw_watcher (link), oldest first */
	struct gw_list pending;  /* of struct gw_store__batch (link): committed
				  * revisions not yet notified, oldest first */
	int depth;               /* callbacks on the stack; frees are deferred while > 0 */
	bool draining;           /* the hub is delivering pending batches */
	bool sweep;              /* some watchers are dead and wait to be freed */
};

/* A range with etcd's conventions, in one of three shapes. */
enum gw_store__rkind { GW_STORE__POINT, GW_STORE__FROM, GW_STORE__SPAN };
struct gw_store__range {
	enum gw_store__rkind kind;
	const char *key;
	size_t key_len;
	const char *end; /* SPAN only */
	size_t end_len;
};

/* A decoded kv or event record pointing into LMDB memory (valid until the
 * txn ends). */
struct gw_store__kvview {
	const char *key;
	size_t key_len;
	const char *value;
	size_t value_len;
	int64_t create_revision;
	int64_t mod_revision;
	int64_t version;
	int64_t lease;
};

/* Events of one committed revision waiting for the watch hub. */
struct gw_store__batch {
	struct gw_list link; /* in s->pending */
	int64_t revision;
	struct gw_event *evs; /* owned, with owned kvs */
	size_t n;
};

/* A write transaction in progress. */
struct gw_store__wctx {
	struct gw_store *s;
	MDB_txn *txn;
	uint64_t index;       /* raft index being applied */
	int64_t rev;          /* revision before the write */
	int64_t changes;      /* events written so far (next sub-revision) */
	int64_t compact;      /* compact revision once committed */
	int64_t size;         /* logical size once committed */
	struct gw_event *evs; /* events written, owned, for the watch hub */
	size_t n_evs;
	size_t cap_evs;
};

/* encoding (kv.c) */
void gw_store__put_u64(unsigned char *p, uint64_t v);
uint64_t gw_store__get_u64(const unsigned char *p);
void gw_store__put_u32(unsigned char *p, uint32_t v);
uint32_t gw_store__get_u32(const unsigned char *p);
uint64_t gw_store__hash(const void *p, size_t len);
size_t gw_store__enc_key(const char *key, size_t len, unsigned char *out);
int gw_store__cmp_enc(const MDB_val *a, const MDB_val *b);
int gw_store__bytes_cmp(const char *a, size_t al, const char *b, size_t bl);
void gw_store__range_of(struct gw_store__range *r, const char *key, size_t key_len, const char *end,
			size_t end_len);
bool gw_store__in_range(const struct gw_store__range *r, const char *k, size_t len);
int gw_store__dec_kv(const unsigned char *p, size_t len, struct gw_store__kvview *kv, size_t *used);
int gw_store__kv_dup(struct gw_kv *dst, const struct gw_store__kvview *src, bool with_value);
int gw_store__kv_copy(struct gw_kv *dst, const struct gw_kv *src);
int gw_store__dec_event(const unsigned char *p, size_t len, struct gw_event *ev);

/* errors (store.c): translate an LMDB code, log it once with @what. */
int gw_store__mdb_err(int rc, const char *what);
bool gw_store__fatal(int rv);

/* reads and writes (kv.c) */
int gw_store__range_txn(struct gw_store *s, MDB_txn *txn, const struct gw_range_req *req,
			int64_t cur_rev, struct gw_range_resp *out);
int gw_store__kv_get(struct gw_store *s, MDB_txn *txn, const char *key, size_t len,
		     struct gw_store__kvview *kv);
int gw_store__do_put(struct gw_store__wctx *w, const struct gw_put_req *req,
		     struct gw_store_result *res);
int gw_store__do_delete(struct gw_store__wctx *w, const struct gw_store__range *r, bool prev_kv,
			struct gw_store_result *res);
int gw_store__do_txn(struct gw_store__wctx *w, const struct gw_txn_req *req,
		     struct gw_store_result *res);
int gw_store__do_compact(struct gw_store__wctx *w, int64_t revision);
int gw_store__compact_to(struct gw_store__wctx *w, int64_t revision);
int gw_store__wctx_rev(const struct gw_store__wctx *w);

/* leases (lease.c) */
int gw_store__lease_exists(struct gw_store *s, MDB_txn *txn, int64_t id);
int gw_store__lease_attach(struct gw_store__wctx *w, int64_t id, const char *key, size_t len);
int gw_store__lease_detach(struct gw_store__wctx *w, int64_t id, const char *key, size_t len);
int gw_store__do_lease_grant(struct gw_store__wctx *w, int64_t id, int64_t ttl,
			     struct gw_store_result *res);
int gw_store__do_lease_revoke(struct gw_store__wctx *w, int64_t id, struct gw_store_result *res);

/* state (store.c) */
int gw_store__env_open(struct gw_store *s, const char *path, uint64_t mapsize, bool no_sync);
void gw_store__env_close(struct gw_store *s);
int gw_store__load_sys(struct gw_store *s);
int gw_store__sys_put(struct gw_store *s, MDB_txn *txn, const char *name, uint64_t v);
/* The logical size counted from scratch (what the "size" record tracks). */
int gw_store__count_size(struct gw_store *s, MDB_txn *txn, int64_t *out);
int gw_store__rtxn(struct gw_store *s, MDB_txn **txn);
int gw_store__mkdirs(const char *dir);
uint64_t gw_store__mapsize(uint64_t quota);
void gw_store__remove_restore_leftovers(const struct gw_store *s);
void gw_store__rtxn_done(struct gw_store *s);

/* watch hub (watch.c) */
void gw_store__events_free(struct gw_event *evs, size_t n);
void gw_store__notify(struct gw_store *s, int64_t revision, struct gw_event *evs, size_t n);
void gw_store__watch_after_restore(struct gw_store *s);
void gw_store__watch_shutdown(struct gw_store *s);

#endif
