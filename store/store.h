/* store.h: the node's configuration store, one LMDB environment with etcd
 * v3 semantics (MVCC keyspace, revisions, history, leases, watches).
 *
 * It knows nothing of Raft or HTTP. Raft's FSM feeds it every committed log
 * entry through gw_store_write() with the entry's index; reads are served
 * from LMDB directly. Writes whose index is <= the stored applied index are
 * skipped (GW_ESTALE), which makes replaying the raft log after a restart a
 * no-op. Business failures (compare failed, key too large, lease missing,
 * quota reached) are reported in struct gw_store_result, never as a failure
 * of the store itself.
 *
 * Threads: a store belongs to the thread that opened it (the control loop);
 * every call, and every watch callback, happens on that thread.
 * Ownership: results returned through out-parameters are owned by the
 * caller and released with the matching *_free function. */
#ifndef GW_STORE_H
#define GW_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gw_store;
struct gw_watcher;

#define GW_STORE_MAX_KEY           1536          /* bytes */
#define GW_STORE_DEFAULT_MAX_VALUE 1572864       /* 1.5 MiB */
#define GW_STORE_DEFAULT_QUOTA     2147483648ULL /* 2 GiB, etcd's backend quota */
#define GW_STORE_DEFAULT_HISTORY   10000         /* revisions kept by auto-compaction */
#define GW_STORE_MAX_TXN_OPS       128           /* etcd's --max-txn-ops default */
/* Ops of one TXN the store applies: the etcd API holds its clients to
 * GW_STORE_MAX_TXN_OPS (gw_store_check_ops) before proposing; the Admin
 * API's rollback restores many objects in one TXN. */
#define GW_STORE_MAX_APPLY_OPS 65536

struct gw_store_opts {
	const char *dir;        /* directory of the LMDB environment; created if missing */
	uint64_t quota_bytes;   /* 0 = GW_STORE_DEFAULT_QUOTA */
	size_t max_value_bytes; /* 0 = GW_STORE_DEFAULT_MAX_VALUE */
	int64_t history_revs;   /* auto-compaction window; 0 = default, <0 = never */
	bool no_sync; /* skip fsync on commit: faster, loses the last writes on power loss */
	/* Sync data pages but not the meta page on commit (LMDB's
	 * MDB_NOMETASYNC): one fsync per commit instead of two. A power loss
	 * can undo the last committed transaction but never corrupts the file.
	 * Safe under raft, whose durable log replays what was undone (the
	 * applied index makes the replay exact). */
	bool meta_no_sync;
};

/* A key-value pair as etcd returns it. Bytes are owned by the structure
 * that holds the gw_kv (a response), not NUL-terminated unless said. */
struct gw_kv {
	char *key;
	size_t key_len;
	char *value; /* NULL with keys_only */
	size_t value_len;
	int64_t create_revision;
	int64_t mod_revision;
	int64_t version;
	int64_t lease;
};

enum gw_sort_order { GW_SORT_NONE = 0, GW_SORT_ASCEND = 1, GW_SORT_DESCEND = 2 };
enum gw_sort_target {
	GW_SORT_KEY = 0,
	GW_SORT_VERSION = 1,
	GW_SORT_CREATE = 2,
	GW_SORT_MOD = 3,
	GW_SORT_VALUE = 4,
};

/* A key range with etcd's conventions: range_end NULL (or len 0) = the one
 * key; range_end "\0" (len 1) = every key >= key; otherwise [key, range_end).
 * key "\0" with range_end "\0" = every key. */
struct gw_range_req {
	const char *key;
	size_t key_len;
	const char *range_end;
	size_t range_end_len;
	int64_t limit;    /* 0 = no limit */
	int64_t revision; /* 0 = current; else read as of that revision */
	enum gw_sort_order sort_order;
	enum gw_sort_target sort_target;
	bool serializable; /* ignored by the store (a raft-layer concern) */
	bool keys_only;
	bool count_only;
	int64_t min_mod_revision; /* 0 = no bound */
	int64_t max_mod_revision;
	int64_t min_create_revision;
	int64_t max_create_revision;
};

struct gw_range_resp {
	struct gw_kv *kvs; /* owned */
	size_t n_kvs;
	bool more;        /* more keys matched than limit returned */
	int64_t count;    /* keys in the range (before limit) */
	int64_t revision; /* store revision the read saw (header revision) */
};

struct gw_put_req {
	const char *key;
	size_t key_len;
	const char *value;
	size_t value_len;
	int64_t lease; /* 0 = none */
	bool prev_kv;
	bool ignore_value; /* keep the current value (key must exist) */
	bool ignore_lease; /* keep the current lease (key must exist) */
};

struct gw_delete_req {
	const char *key; /* range conventions as in gw_range_req */
	size_t key_len;
	const char *range_end;
	size_t range_end_len;
	bool prev_kv;
};

enum gw_cmp_result { GW_CMP_EQUAL = 0, GW_CMP_GREATER = 1, GW_CMP_LESS = 2, GW_CMP_NOT_EQUAL = 3 };
enum gw_cmp_target {
	GW_CMP_VERSION = 0,
	GW_CMP_CREATE = 1,
	GW_CMP_MOD = 2,
	GW_CMP_VALUE = 3,
	GW_CMP_LEASE = 4,
};

struct gw_compare {
	enum gw_cmp_result result;
	enum gw_cmp_target target;
	const char *key; /* range conventions; every key in the range must match */
	size_t key_len;
	const char *range_end;
	size_t range_end_len;
	int64_t number;    /* version, create/mod revision or lease */
	const char *value; /* for GW_CMP_VALUE */
	size_t value_len;
};

enum gw_op_type {
	GW_OP_RANGE = 0,
	GW_OP_PUT,
	GW_OP_DELETE,
	GW_OP_TXN,
	GW_OP_COMPACT,
	GW_OP_LEASE_GRANT,
	GW_OP_LEASE_REVOKE,
	GW_OP_META_PUT, /* node-private metadata (members), not in the keyspace */
	GW_OP_META_DELETE,
	GW_OP_NOOP, /* only advances the applied index */
};

struct gw_store_op;

struct gw_txn_req {
	struct gw_compare *compares;
	size_t n_compares;
	struct gw_store_op *success; /* RANGE, PUT, DELETE or TXN ops */
	size_t n_success;
	struct gw_store_op *failure;
	size_t n_failure;
};

struct gw_store_op {
	enum gw_op_type type;
	union {
		struct gw_range_req range;
		struct gw_put_req put;
		struct gw_delete_req del;
		struct gw_txn_req txn;
		struct {
			int64_t revision;
		} compact;
		struct {
			int64_t id;  /* 0 = derive one deterministically from the log index */
			int64_t ttl; /* seconds */
		} lease_grant;
		struct {
			int64_t id;
		} lease_revoke;
		struct {
			const char *key; /* e.g. "member/<id>" */
			size_t key_len;
			const char *value; /* ignored for META_DELETE */
			size_t value_len;
		} meta;
	} u;
};

/* Result of one op. For a TXN, responses[] holds one result per executed op
 * of the chosen branch. */
struct gw_store_result {
	int err; /* 0 or a business error: GW_EKEYEMPTY, GW_EKEYTOOLARGE,
		    GW_EVALUETOOLARGE, GW_ENOSPACE, GW_ECOMPACTED, GW_EFUTUREREV,
		    GW_EDUPKEY, GW_ETOOMANYOPS, GW_ELEASENOTFOUND, GW_ELEASEEXIST,
		    GW_ENOTFOUND (ignore_value on a missing key) */
	enum gw_op_type type;
	int64_t revision; /* store revision after the op (header revision) */
	/* PUT */
	bool has_prev_kv;
	struct gw_kv prev_kv; /* owned */
	/* DELETE */
	int64_t deleted;
	struct gw_kv *prev_kvs; /* owned, with prev_kv */
	size_t n_prev_kvs;
	/* RANGE (also inside a txn) */
	struct gw_range_resp range;
	/* TXN */
	bool succeeded;
	struct gw_store_result *responses; /* owned */
	size_t n_responses;
	/* LEASE_GRANT */
	int64_t lease_id;
	int64_t lease_ttl;
	/* COMPACT: nothing extra */
};

/* Open (or create) the store in opts->dir. 0, or GW_EIO / GW_ECORRUPT /
 * GW_ENOMEM with the reason logged, or GW_EBUSY when the directory is
 * already open (another process, or this one: one open per directory). */
int gw_store_open(const struct gw_store_opts *opts, struct gw_store **out);
/* Close and free. Watchers are cancelled (their cancel callback runs with
 * GW_ESHUTDOWN) before it returns. Not from inside a watch callback. */
void gw_store_close(struct gw_store *s);

/* Apply a committed write. @index is the raft log index (> 0): when it is <=
 * gw_store_applied_index() nothing is done and GW_ESTALE is returned. Else the
 * op, the new applied index and the history are written in one LMDB
 * transaction, then watchers are notified, then 0 is returned with the
 * outcome in @res (res->err for business errors; on those, the applied index
 * still advances). A negative return other than GW_ESTALE means the store
 * itself failed (I/O) and nothing was written. @res must be freed with
 * gw_store_result_free (also after GW_ESTALE). RANGE ops are allowed too
 * (answered at the current revision). */
int gw_store_write(struct gw_store *s, uint64_t index, const struct gw_store_op *op,
		   struct gw_store_result *res);

/* Group commit. With batching on, gw_store_write puts each entry in a child
 * transaction of one open LMDB write transaction and gw_store_flush commits
 * them all with one fsync: the raft log, fsynced before an entry is
 * committed, is what makes an entry durable (a crash loses only entries
 * the log replays), so the store need not sync each one, as etcd's
 * backend does not. Reads on the store's thread see the pending entries;
 * snapshots, restores and close flush first. Off by default (every write
 * commits). */
void gw_store_set_batching(struct gw_store *s, bool on);
/* Commit the pending entries (no-op when none). 0, or GW_EIO (logged): the
 * pending entries are lost from LMDB (the raft log still has them) and the
 * caller must stop applying (halt). */
int gw_store_flush(struct gw_store *s);
/* True when entries wait for gw_store_flush. */
bool gw_store_dirty(const struct gw_store *s);

/* The checks gw_store_write makes on @op before applying it, with at most
 * @budget ops per TXN (nested TXNs share it): 0, or GW_ETOOMANYOPS,
 * GW_EKEYEMPTY, GW_EKEYTOOLARGE, GW_EVALUETOOLARGE, GW_EDUPKEY, GW_EINVAL. */
int gw_store_check_ops(struct gw_store *s, const struct gw_store_op *op, int budget);

/* Read-only range at the current or a past revision. 0 or a business error
 * (GW_ECOMPACTED, GW_EFUTUREREV) or GW_EIO. @out freed with gw_store_range_resp_free. */
int gw_store_range(struct gw_store *s, const struct gw_range_req *req, struct gw_range_resp *out);

void gw_store_range_resp_free(struct gw_range_resp *r);
void gw_store_result_free(struct gw_store_result *r);
void gw_store_kv_free(struct gw_kv *kv);

uint64_t gw_store_applied_index(const struct gw_store *s);
int64_t gw_store_revision(const struct gw_store *s);
int64_t gw_store_compact_revision(const struct gw_store *s);
/* hash.c: CRC-32C of every key live at @revision (0 = current), in key
 * order with its value and metadata: equal on two stores exactly when they
 * hold the same keyspace at that revision (not etcd's number). *@at gets
 * the revision hashed. 0 or the range's errors (GW_ECOMPACTED,
 * GW_EFUTUREREV, GW_ENOMEM). */
int gw_store_hash_kv(struct gw_store *s, int64_t revision, uint32_t *hash, int64_t *at);
/* Size of the LMDB data file in bytes (etcd's dbSize). */
uint64_t gw_store_db_size(const struct gw_store *s);
/* Bytes of the data file in use, free pages excluded (etcd's dbSizeInUse). */
uint64_t gw_store_db_size_in_use(struct gw_store *s);
/* Logical size: the bytes of every key, value, history event, lease and
 * meta record (plus 16 per record). The quota applies to it, so every
 * replica takes the same decision; the file is larger (page overhead). */
int64_t gw_store_logical_size(const struct gw_store *s);
/* True when the logical size has reached the quota. PUT, LEASE_GRANT and
 * TXN ops containing a PUT then fail with GW_ENOSPACE, as does any such op
 * that would take the size past the quota (etcd's "mvcc: database space
 * exceeded"); deletes, compaction and revokes still work and free space once
 * compaction drops the history. Callers may check it before proposing a
 * write, like etcd's API layer does. */
bool gw_store_over_quota(const struct gw_store *s);

/* Leases. */
struct gw_lease_info {
	int64_t id;
	int64_t ttl;        /* granted TTL, seconds */
	struct gw_kv *keys; /* with keys: key bytes only (values NULL) */
	size_t n_keys;
};
/* 0 or GW_ELEASENOTFOUND. @out freed with gw_store_lease_info_free. */
int gw_store_lease_get(struct gw_store *s, int64_t id, bool with_keys, struct gw_lease_info *out);
void gw_store_lease_info_free(struct gw_lease_info *info);
/* Every lease id, ascending. @ids is malloc'ed (caller frees). */
int gw_store_lease_list(struct gw_store *s, int64_t **ids, int64_t **ttls, size_t *n);

/* Node metadata (outside the keyspace; written with GW_OP_META_*). */
int gw_store_meta_get(struct gw_store *s, const char *key, char **value, size_t *len);
/* Every meta entry whose key starts with @prefix; arrays malloc'ed, each
 * string malloc'ed and NUL-terminated. */
int gw_store_meta_list(struct gw_store *s, const char *prefix, char ***keys, char ***values,
		       size_t *n);

/* Snapshot: a consistent image of the whole state (kv, history, leases,
 * meta, applied index) while writes may continue. @buf malloc'ed. */
int gw_store_snapshot(struct gw_store *s, void **buf, size_t *len);
/* Applied index recorded in a snapshot image, without installing it. */
int gw_store_snapshot_index(const void *buf, size_t len, uint64_t *index);
/* Install an image if its applied index is greater than the store's; else
 * GW_ESTALE and nothing changes. Built beside the old environment and
 * swapped with rename(2), so a crash leaves the old or the new state, never a
 * mix. Watchers are cancelled if the image jumps past their position. (A
 * watcher whose next revision is still in the image's history catches up
 * from it instead; one behind the image's compact revision is cancelled
 * with GW_ECOMPACTED.) GW_ECORRUPT for a damaged image (checksummed); GW_EIO
 * if the new file cannot be opened after the switch (then every call fails
 * with GW_EIO: logged). */
int gw_store_restore(struct gw_store *s, const void *buf, size_t len);

/* Counts of a snapshot image's records (gw_store_image_stats). */
struct gw_store_image_stats {
	uint64_t applied;         /* raft index the image holds */
	int64_t revision;         /* store revision */
	int64_t compact_revision; /* oldest revision kept */
	uint64_t keys;            /* live keys */
	uint64_t events;          /* history events (revisions since compaction) */
	uint64_t leases;          /* leases */
	uint64_t meta;            /* node metadata records (members, auth, tokens) */
};
/* Check an image (checksum, bounds) and count its records. 0 or
 * GW_ECORRUPT. Pure: any thread. */
int gw_store_image_stats(const void *buf, size_t len, struct gw_store_image_stats *st);
/* A copy of the image @buf without the meta records @drop_meta selects,
 * with a fresh checksum (what a restore into a new cluster keeps: the
 * keyspace, history, leases and auth, not the old members). The logical
 * size recorded in the image is kept as is. @out is malloc'ed (caller
 * frees). 0, GW_ECORRUPT, GW_ENOMEM. Pure: any thread. */
int gw_store_image_filter(const void *buf, size_t len,
			  bool (*drop_meta)(const char *key, size_t len), void **out,
			  size_t *out_len);

/* The backup file (backup.c): a 64-byte header, the store image, zero
 * padding to a multiple of 512 bytes, and the SHA-256 of all that (32
 * bytes). */
#define GW_STORE_BACKUP_HDR 64
#define GW_STORE_BACKUP_SUM 32
struct gw_store_backup_info {
	uint32_t version;         /* file format version */
	int64_t revision;         /* store revision of the image */
	uint64_t applied;         /* raft index of the image */
	uint64_t cluster_id;      /* cluster it was taken from (0 = none) */
	int64_t created;          /* Unix seconds */
	uint64_t image_len;       /* bytes of the store image */
	unsigned char sha256[32]; /* the trailer (filled by gw_store_backup_check) */
};
/* Write the header for @info (revision, applied, cluster_id, created,
 * image_len) into @out. */
void gw_store_backup_header(const struct gw_store_backup_info *info,
			    unsigned char out[GW_STORE_BACKUP_HDR]);
/* Bytes of header + image + padding for an image of @image_len bytes
 * (the file is this plus GW_STORE_BACKUP_SUM). */
size_t gw_store_backup_body_len(uint64_t image_len);
/* SHA-256 of @hdr, @image and the zero padding into @out: 0 or GW_ENOMEM. */
int gw_store_backup_sha256(const unsigned char hdr[GW_STORE_BACKUP_HDR], const void *image,
			   size_t image_len, unsigned char out[GW_STORE_BACKUP_SUM]);
/* Check a whole backup file: header, length, SHA-256 trailer, then the
 * image's own checksum. 0 with @info filled and *@image pointing into
 * @file (info->image_len bytes); GW_ECORRUPT (or GW_ENOMEM) with a one-line
 * reason in @why. Pure: any thread. */
int gw_store_backup_check(const void *file, size_t len, struct gw_store_backup_info *info,
			  const void **image, char *why, size_t whylen);
/* Write the whole backup file for @image (info->image_len bytes; the
 * header from @info) to @fd. 0, GW_EIO (errno set), GW_ENOMEM. Blocking:
 * any thread. */
int gw_store_backup_write(int fd, const struct gw_store_backup_info *info, const void *image);

/* Watches. Events are delivered in revision order, each exactly once: first
 * past events from history (from start_revision), then live events after
 * each write commits. */
enum gw_event_type { GW_EVENT_PUT = 0, GW_EVENT_DELETE = 1 };

struct gw_event {
	enum gw_event_type type;
	struct gw_kv kv; /* for DELETE: key, mod_revision = delete revision
			    (value NULL, other fields 0) */
	bool has_prev_kv;
	struct gw_kv prev_kv;
};

#define GW_WATCH_NOPUT    0x1
#define GW_WATCH_NODELETE 0x2
#define GW_WATCH_PREV_KV  0x4

/* Called with a batch of events (all of one or more revisions, complete:
 * a revision is never split across calls). The events are valid only during
 * the call. Return 0 to continue, or non-zero when the subscriber cannot take
 * more (its buffer is full): it is then cancelled with GW_ELIMIT. */
typedef int (*gw_watch_event_cb)(struct gw_watcher *w, const struct gw_event *evs, size_t n,
				 void *data);
/* The watch ended: GW_ECOMPACTED (compact_revision says from where),
 * GW_ELIMIT (slow subscriber), GW_ESHUTDOWN (store closing). The watcher is
 * freed after this returns; do not call gw_store_unwatch for it. */
typedef void (*gw_watch_cancel_cb)(struct gw_watcher *w, int reason, int64_t compact_revision,
				   void *data);

struct gw_watch_opts {
	const char *key; /* range conventions as in gw_range_req */
	size_t key_len;
	const char *range_end;
	size_t range_end_len;
	int64_t start_revision; /* 0 = from the next write */
	unsigned flags;         /* GW_WATCH_* */
	gw_watch_event_cb on_events;
	gw_watch_cancel_cb on_cancel;
	void *data;
};

/* Register a watcher. Past events (start_revision <= current revision) are
 * delivered from within this call, before it returns (in batches). If
 * start_revision is compacted, on_cancel runs with GW_ECOMPACTED from within
 * this call and *out is NULL. Returns 0 or GW_ENOMEM / GW_EINVAL.
 * (start_revision < compact revision is compacted; a watch from the compact
 * revision itself is allowed and, like etcd, sees the PUTs of that revision
 * but not its DELETEs, which compaction dropped.) A callback that cancels
 * the watcher during this call (returns non-zero) also leaves *out NULL. */
int gw_store_watch(struct gw_store *s, const struct gw_watch_opts *opts, struct gw_watcher **out);
/* Remove a watcher (no callback runs). Safe to call from its own callback. */
void gw_store_unwatch(struct gw_watcher *w);

#endif
