/* etcd_maint.c: Maintenance/Snapshot, the server stream behind
 * `etcdctl snapshot save` (and `apigw backup`).
 *
 * Happy path: the request takes a consistent store image (one LMDB read
 * transaction, so writes go on meanwhile, on a leader or a follower), wraps
 * it as a backup file (store/backup.c: header with revision, applied index
 * and cluster id; the image; a SHA-256 trailer, as etcd appends one) and
 * streams it in 32 KiB blobs, each with the bytes remaining. A timer paces
 * the stream: blobs are queued only while the stream holds less than
 * QUEUE_MAX unwritten bytes, so a slow client costs the image and 1 MiB, not
 * a second copy of the file. At most ACTIVE_MAX snapshots stream at once
 * (each holds an image); more are refused with RESOURCE_EXHAUSTED. Needs
 * the root role while etcd auth is on (the method table's gate).
 * Failure modes: no memory or a failing store end the call with its error;
 * a client that goes away stops the stream (the timer is closed, then the
 * call ends and the image is freed). Threads: the server's loop. */
#include "config.h"

#include "admin/etcd_int.h"
#include "lib/err.h"
#include "lib/log.h"
#include "store/store.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BLOB       (32u << 10) /* bytes per message, as etcd */
#define QUEUE_MAX  (1u << 20)  /* unwritten bytes queued before we wait */
#define PER_TICK   32          /* blobs per timer tick at most */
#define TICK_MS    2
#define ACTIVE_MAX 2 /* snapshots streamed at once: each holds a copy of the store */

/* Snapshots being streamed (every server of the process). */
static _Atomic unsigned active;

struct snap {
	uv_timer_t timer; /* paces the stream; the struct is freed in its close callback */
	struct gw_etcd__call *c;
	unsigned char hdr[GW_STORE_BACKUP_HDR];
	void *image; /* malloc'ed store image */
	size_t image_len;
	unsigned char sum[GW_STORE_BACKUP_SUM];
	size_t off;   /* bytes of the file sent */
	size_t body;  /* header + image + zero padding */
	size_t total; /* body + sum */
	int end_err;  /* what the call ends with once the timer is closed */
	unsigned char blob[BLOB];
};

static void snap_closed(uv_handle_t *h)
{
	struct snap *s = h->data;
	struct gw_etcd__call *c = s->c;
	int err = s->end_err;

	free(s->image);
	free(s);
	atomic_fetch_sub(&active, 1);
	if (c != NULL) {
		c->svc = NULL;
		gw_etcd__finish(c, err);
	}
}

/* Stop the stream; the call ends with @err once the timer has closed. */
static void snap_stop(struct snap *s, int err)
{
	s->end_err = err;
	uv_timer_stop(&s->timer);
	if (!uv_is_closing((uv_handle_t *)&s->timer)) {
		uv_close((uv_handle_t *)&s->timer, snap_closed);
	}
}

/* Copy file bytes [off, off + n) of the virtual file into @out. */
static void snap_read(const struct snap *s, size_t off, size_t n, unsigned char *out)
{
	while (n > 0) {
		const unsigned char *src;
		size_t avail;
		if (off < GW_STORE_BACKUP_HDR) {
			src = s->hdr + off;
			avail = GW_STORE_BACKUP_HDR - off;
		} else if (off < GW_STORE_BACKUP_HDR + s->image_len) {
			src = (const unsigned char *)s->image + (off - GW_STORE_BACKUP_HDR);
			avail = GW_STORE_BACKUP_HDR + s->image_len - off;
		} else if (off < s->body) {
			static const unsigned char zeros[512];
			src = zeros;
			avail = s->body - off; /* < 512 */
		} else {
			src = s->sum + (off - s->body);
			avail = s->total - off;
		}
		if (avail > n) {
			avail = n;
		}
		memcpy(out, src, avail);
		out += avail;
		off += avail;
		n -= avail;
	}
}

static void snap_tick(uv_timer_t *t)
{
	struct snap *s = t->data;
	struct gw_etcd__call *c = s->c;

	for (int i = 0; i < PER_TICK && s->off < s->total; i++) {
		Etcdserverpb__SnapshotResponse resp;
		size_t n = s->total - s->off;
		int rv;

		if (c->ops->queued != NULL && c->ops->queued(c) >= QUEUE_MAX) {
			return; /* wait for the client to read */
		}
		if (n > BLOB) {
			n = BLOB;
		}
		snap_read(s, s->off, n, s->blob);
		etcdserverpb__snapshot_response__init(&resp);
		resp.blob.data = s->blob;
		resp.blob.len = n;
		resp.remaining_bytes = s->total - s->off - n;
		rv = gw_etcd__send(c, &resp.base);
		if (rv == GW_ECANCELED) {
			uv_timer_stop(t); /* the client left: its end callback closes us */
			return;
		}
		if (rv != 0) {
			gw_warnf("etcd", "snapshot stream: %s", gw_strerror(rv));
			snap_stop(s, rv);
			return;
		}
		s->off += n;
	}
	if (s->off == s->total) {
		snap_stop(s, 0);
	}
}

void gw_etcd__mt_snapshot_msg(struct gw_etcd__call *c, const ProtobufCMessage *msg)
{
	struct gw_store *store = c->srv->opts.store;
	Etcdserverpb__ResponseHeader h = ETCDSERVERPB__RESPONSE_HEADER__INIT;
	struct gw_store_backup_info info;
	struct snap *s;
	int rv;

	(void)msg;
	if (c->svc != NULL) {
		return; /* one snapshot per call; a second request is ignored */
	}
	/* each stream holds a whole copy of the store for as long as its
	 * client takes to read it: a few at once, not one per stream opened */
	if (atomic_fetch_add(&active, 1) >= ACTIVE_MAX) {
		atomic_fetch_sub(&active, 1);
		gw_etcd__call_fail(c, GW_GRPC_RESOURCE_EXHAUSTED,
				   "too many snapshots in progress, retry later");
		return;
	}
	s = calloc(1, sizeof *s);
	if (s == NULL) {
		atomic_fetch_sub(&active, 1);
		gw_etcd__call_fail(c, GW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	rv = gw_store_snapshot(store, &s->image, &s->image_len);
	if (rv != 0) {
		struct gw_etcd__status st = gw_etcd__status_of(rv);
		free(s);
		atomic_fetch_sub(&active, 1);
		gw_etcd__call_fail(c, st.code, st.msg);
		return;
	}
	gw_etcd__header(c->srv, &h, 0);
	memset(&info, 0, sizeof info);
	info.applied = gw_store_applied_index(store);
	info.revision = gw_store_revision(store);
	info.cluster_id = h.cluster_id;
	info.created = (int64_t)time(NULL);
	info.image_len = s->image_len;
	gw_store_backup_header(&info, s->hdr);
	if (gw_store_backup_sha256(s->hdr, s->image, s->image_len, s->sum) != 0) {
		free(s->image);
		free(s);
		atomic_fetch_sub(&active, 1);
		gw_etcd__call_fail(c, GW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	s->c = c;
	s->body = gw_store_backup_body_len(s->image_len);
	s->total = s->body + GW_STORE_BACKUP_SUM;
	uv_timer_init(c->srv->loop, &s->timer);
	s->timer.data = s;
	c->svc = s;
	gw_infof("etcd", "snapshot: streaming %zu bytes at revision %lld (applied index %llu)",
		 s->total, (long long)info.revision, (unsigned long long)info.applied);
	uv_timer_start(&s->timer, snap_tick, 0, TICK_MS);
}

void gw_etcd__mt_snapshot_end(struct gw_etcd__call *c, bool gone)
{
	struct snap *s = c->svc;

	if (!gone) {
		if (s == NULL) {
			/* half-closed without a request */
			gw_etcd__finish(c, GW_EINVAL);
		}
		return; /* the request came: keep streaming */
	}
	if (s == NULL) {
		gw_etcd__finish(c, GW_ECANCELED);
		return;
	}
	snap_stop(s, GW_ECANCELED);
}
