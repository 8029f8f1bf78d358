/* fsm.c: the raft state machine on top of the store.
 *
 * apply() decodes a log command and writes it with the entry's index
 * (raft_last_applied() + 1: raft 0.22 gives apply no index) in one LMDB
 * transaction. Entries the store already holds (replay after a restart)
 * come back GW_ESTALE and count as success. A command that does not decode
 * is applied as a NOOP with GW_EPROTO in its result, so the applied index
 * still advances on every node alike: apply never fails on bad input, which
 * would make raft retry the entry forever. Only a failing store (I/O) makes
 * apply fail, and then nothing was written, so the retry is correct.
 *
 * The result goes to the local proposer through raft's result pointer only
 * when the entry was proposed here; on followers and during replay it is
 * dropped at once (raft does not free results nobody waits for).
 *
 * snapshot() hands raft the store's consistent image (which records its
 * applied index); restore() installs an image only if it is newer than what
 * LMDB already holds. Threads: the control loop only. */
#include "config.h"

#include "lib/err.h"
#include "lib/log.h"
#include "raft/raft_int.h"

#include <stdlib.h>
#include <string.h>

#define THRESHOLD_CHECK 128 /* entries between looks at the store's size (a power of 2) */

/* Entries until the next snapshot, after one of @len bytes: an image is the
 * whole store, built on this loop and written by raft, so a big store
 * snapshots less often — about a KiB of image per entry at most — between
 * the configured threshold and GW_RAFT__SNAPSHOT_MAX_THRESHOLD (entries
 * between snapshots stay in raft's memory, as in etcd's snapshot-count). */
static unsigned next_threshold(const struct gw_raft *r, size_t len)
{
	size_t t = len / 1024;

	if (t < r->snapshot_threshold) {
		t = r->snapshot_threshold;
	}
	if (t > GW_RAFT__SNAPSHOT_MAX_THRESHOLD) {
		t = GW_RAFT__SNAPSHOT_MAX_THRESHOLD;
	}
	return (unsigned)t;
}

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
	struct gw_raft *r = fsm->data;
	struct raft *raft = gw_raft__raft(r);
	uint64_t index = raft_last_applied(raft) + 1;
	struct gw_store_op op;
	struct gw_store_result res, *slot;
	int decode_rv, rv;

	*result = NULL;
	/* Bound what libraft keeps in memory until the next snapshot by bytes
	 * too: lower the threshold to what was applied so far. */
	r->snap_bytes += buf->len;
	r->snap_entries++;
	if (r->snap_bytes > GW_RAFT__SNAPSHOT_MAX_LOG_BYTES && !r->snap_forced) {
		r->snap_forced = true;
		r->snap_threshold = r->snap_entries;
		raft_set_snapshot_threshold(raft, r->snap_entries);
	} else if (!r->snap_forced && (r->snap_entries & (THRESHOLD_CHECK - 1)) == 0) {
		/* The store grew since the last image (a bulk load): the
		 * threshold follows its size now rather than after one more
		 * image of it built on this loop. */
		unsigned t = next_threshold(r, (size_t)gw_store_logical_size(gw_raft__store(r)));
		if (t > r->snap_threshold) {
			r->snap_threshold = t;
			raft_set_snapshot_threshold(raft, t);
		}
	}
	decode_rv = gw_raft__decode_op(buf->base, buf->len, &op);
	if (decode_rv != 0) {
		gw_errorf("raft", "entry %llu: undecodable command (%zu bytes): applied as a no-op",
			  (unsigned long long)index, buf->len);
		op.type = GW_OP_NOOP;
	}
	memset(&res, 0, sizeof res);
	if (gw_raft__halted(r)) {
		/* Not applied: the control plane is halting (see raft_int.h). */
		gw_raft__op_free(&op);
		return 0;
	}
	rv = gw_store_write(gw_raft__store(r), index, &op, &res);
	if (rv != 0 && rv != GW_ESTALE) {
		/* Returning an error makes libraft retry the entry, a path that
		 * double-frees in 0.22.1; halt instead. The proposer, if local,
		 * hears GW_EIO (no result). */
		gw_errorf("raft", "entry %llu: store write failed: %s", (unsigned long long)index,
			  gw_strerror(rv));
		gw_store_result_free(&res);
		gw_raft__op_free(&op);
		gw_raft__halt(r, rv);
		return 0;
	}
	if (rv == GW_ESTALE) {
		/* Already in LMDB: a replay. Nobody waits for it. */
		gw_store_result_free(&res);
		memset(&res, 0, sizeof res);
		res.type = op.type;
		res.revision = gw_store_revision(gw_raft__store(r));
	} else {
		if (decode_rv != 0) {
			res.err = GW_EPROTO;
		}
		gw_raft__applied(r, &op, &res);
		gw_raft__nudge(r); /* followers: hear of this commit now */
	}
	if (!gw_list_empty(&r->waiters)) {
		gw_raft__waiters_kick(r); /* readers waiting for this index */
	}
	gw_raft__op_free(&op);

	slot = gw_raft__result_slot(r, index);
	if (slot == NULL) {
		gw_store_result_free(&res);
		return 0;
	}
	*slot = res;
	*result = slot;
	return 0;
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
	struct gw_raft *r = fsm->data;
	void *image;
	size_t len;
	int rv;

	if (gw_raft__halted(r)) {
		/* The store lags raft's applied index: an image now would lie. */
		return RAFT_IOERR;
	}
	rv = gw_store_snapshot(gw_raft__store(r), &image, &len);
	if (rv != 0) {
		gw_errorf("raft", "snapshot: %s", gw_strerror(rv));
		return RAFT_IOERR;
	}
	*bufs = raft_malloc(sizeof **bufs);
	if (*bufs == NULL) {
		free(image);
		return RAFT_NOMEM;
	}
	(*bufs)[0].base = image;
	(*bufs)[0].len = len;
	*n_bufs = 1;
	gw_infof("raft", "snapshot taken at entry %llu (%zu bytes, next after %u entries)",
		 (unsigned long long)raft_last_applied(gw_raft__raft(r)), len,
		 next_threshold(r, len));
	r->snap_threshold = next_threshold(r, len);
	raft_set_snapshot_threshold(gw_raft__raft(r), r->snap_threshold);
	r->snap_bytes = 0;
	r->snap_entries = 0;
	r->snap_forced = false;
	return 0;
}

/* Version 2: raft leaves the buffers to us once it has written them. */
static int fsm_snapshot_finalize(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
	unsigned i;
	(void)fsm;

	if (*bufs == NULL) {
		return 0;
	}
	for (i = 0; i < *n_bufs; i++) {
		free((*bufs)[i].base);
	}
	raft_free(*bufs);
	*bufs = NULL;
	*n_bufs = 0;
	return 0;
}

/* raft hands over @buf: its memory is ours to release once installed. */
static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
	struct gw_raft *r = fsm->data;
	uint64_t index = 0;
	int rv;

	if (gw_store_snapshot_index(buf->base, buf->len, &index) != 0) {
		gw_errorf("raft", "restore: the snapshot image is not a store image");
		return RAFT_CORRUPT;
	}
	rv = gw_store_restore(gw_raft__store(r), buf->base, buf->len);
	if (rv == GW_ESTALE) {
		gw_infof("raft", "restore: store already holds entry %llu, snapshot skipped",
			 (unsigned long long)index);
	} else if (rv != 0) {
		gw_errorf("raft", "restore of snapshot at entry %llu failed: %s",
			  (unsigned long long)index, gw_strerror(rv));
		return RAFT_IOERR;
	} else {
		gw_infof("raft", "restored snapshot (store applied index %llu, %zu bytes)",
			 (unsigned long long)index, buf->len);
	}
	raft_free(buf->base);
	buf->base = NULL;
	return 0;
}

void gw_raft__fsm_init(struct raft_fsm *fsm, struct gw_raft *r)
{
	memset(fsm, 0, sizeof *fsm);
	fsm->version = 2;
	fsm->data = r;
	fsm->apply = fsm_apply;
	fsm->snapshot = fsm_snapshot;
	fsm->restore = fsm_restore;
	fsm->snapshot_finalize = fsm_snapshot_finalize;
}
