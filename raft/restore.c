/* restore.c: seed a new data dir from a store image (`apigw restore`).
 *
 * The new member bootstraps a one-node cluster whose raft log starts with a
 * snapshot: the image, at raft index max(image's applied index, 1), term 1,
 * with a configuration of this member alone. On `apigw start`, raft loads
 * that snapshot and hands it to the FSM, which installs the image into the
 * (empty) store; members that join later receive the same snapshot from the
 * leader, since no log entry before it exists. (Bootstrapping an ordinary
 * log and writing the image into the store would leave joiners, who replay
 * that log from entry 1, without the data.)
 * Happy path: identity (new node id, given or new cluster id, new join
 * secret), the cluster CA and member certificate (pki/), then raft's
 * metadata and the snapshot in raft/, written through raft_uv on a private
 * loop. Failure modes: GW_EEXIST when the data dir already holds an
 * identity or a raft log; GW_EIO / GW_ENOMEM from the writers (logged). The
 * caller removes a half-written dir. Blocking; any thread without a loop of
 * its own running (it runs a private one). */
#include "config.h"

#include "lib/err.h"
#include "lib/log.h"
#include "lib/peertls.h"
#include "raft/raft_int.h"

#include <errno.h>
#include <inttypes.h>
#include <raft/uv.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

struct seed {
	struct raft_io_snapshot_put put;
	bool put_done;
	int put_status;
	bool closed;
};

static void put_cb(struct raft_io_snapshot_put *req, int status)
{
	struct seed *s = req->data;
	s->put_done = true;
	s->put_status = status;
}

static void close_cb(struct raft_io *io)
{
	struct seed *s = io->data;
	s->closed = true;
}

/* Write term 1 and a snapshot of @image at @index into the raft dir. */
static int write_raft(const char *raft_dir, uint64_t node_id, const char *address, uint64_t index,
		      const void *image, size_t len)
{
	uv_loop_t loop;
	struct raft_uv_transport transport;
	struct raft_io io;
	struct raft_snapshot snap;
	struct raft_buffer buf;
	struct seed seed;
	struct raft_snapshot *loaded = NULL;
	struct raft_entry *entries = NULL;
	raft_term term;
	raft_id vote;
	raft_index start;
	size_t n_entries = 0;
	int rv, rc;

	memset(&seed, 0, sizeof seed);
	memset(&io, 0, sizeof io);
	memset(&transport, 0, sizeof transport);
	if (uv_loop_init(&loop) != 0) {
		return GW_EIO;
	}
	transport.version = 1;
	rc = raft_uv_tcp_init(&transport, &loop);
	if (rc != 0) {
		uv_loop_close(&loop);
		return GW_ENOMEM;
	}
	rc = raft_uv_init(&io, &loop, raft_dir, &transport);
	if (rc != 0) {
		gw_errorf("raft", "restore: cannot use %s for the raft log: %s", raft_dir,
			  io.errmsg[0] ? io.errmsg : raft_strerror(rc));
		rv = GW_EIO;
		goto out_transport;
	}
	io.data = &seed;
	rv = GW_EIO;
	rc = io.init(&io, node_id, address);
	if (rc == 0) {
		rc = io.load(&io, &term, &vote, &loaded, &start, &entries, &n_entries);
	}
	if (rc == 0 && (loaded != NULL || n_entries > 0 || term != 0)) {
		gw_errorf("raft", "restore: %s already holds a raft log", raft_dir);
		rv = GW_EEXIST;
		goto out_io;
	}
	if (rc == 0) {
		rc = io.set_term(&io, 1);
	}
	if (rc != 0) {
		gw_errorf("raft", "restore: %s: %s", raft_dir,
			  io.errmsg[0] ? io.errmsg : raft_strerror(rc));
		goto out_io;
	}
	memset(&snap, 0, sizeof snap);
	snap.index = index;
	snap.term = 1;
	raft_configuration_init(&snap.configuration);
	rc = raft_configuration_add(&snap.configuration, node_id, address, RAFT_VOTER);
	if (rc != 0) {
		raft_configuration_close(&snap.configuration);
		rv = GW_ENOMEM;
		goto out_io;
	}
	snap.configuration_index = index;
	buf.base = (void *)image;
	buf.len = len;
	snap.bufs = &buf;
	snap.n_bufs = 1;
	seed.put.data = &seed;
	rc = io.snapshot_put(&io, 0, &seed.put, &snap, put_cb);
	if (rc == 0) {
		while (!seed.put_done && uv_run(&loop, UV_RUN_ONCE) >= 0) {
		}
		rc = seed.put_status;
	}
	raft_configuration_close(&snap.configuration);
	if (rc != 0) {
		gw_errorf("raft", "restore: writing the snapshot into %s failed: %s", raft_dir,
			  io.errmsg[0] ? io.errmsg : raft_strerror(rc));
		goto out_io;
	}
	rv = 0;
out_io:
	if (entries != NULL) {
		for (size_t i = 0; i < n_entries; i++) {
			if (entries[i].batch == NULL) {
				raft_free(entries[i].buf.base);
			}
		}
		raft_free(entries);
	}
	if (loaded != NULL) {
		raft_configuration_close(&loaded->configuration);
		for (unsigned i = 0; i < loaded->n_bufs; i++) {
			raft_free(loaded->bufs[i].base);
		}
		raft_free(loaded->bufs);
		raft_free(loaded);
	}
	io.close(&io, close_cb);
	while (!seed.closed && uv_run(&loop, UV_RUN_ONCE) >= 0) {
	}
	raft_uv_close(&io);
out_transport:
	raft_uv_tcp_close(&transport);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	return rv;
}

int gw_raft_seed(const char *data_dir, const char *raft_address, uint64_t cluster_id,
		 const void *image, size_t len, uint64_t index, uint64_t *node_id_out,
		 uint64_t *cluster_id_out)
{
	struct gw_raft__identity id;
	char raft_dir[PATH_MAX], pki[PATH_MAX];
	int rv;

	memset(&id, 0, sizeof id);
	rv = gw_raft__identity_load(data_dir, &id);
	if (rv != GW_ENOTFOUND) {
		gw_errorf("raft", "restore: %s already holds a member's identity", data_dir);
		return rv == 0 ? GW_EEXIST : rv;
	}
	memset(&id, 0, sizeof id);
	id.origin = GW_ORIGIN_BOOTSTRAP;
	id.cluster_id = cluster_id;
	if ((rv = gw_raft__random_id(&id.node_id, "node id")) != 0 ||
	    (cluster_id == 0 && (rv = gw_raft__random_id(&id.cluster_id, "cluster id")) != 0) ||
	    (rv = gw_raft__random_secret(id.secret, sizeof id.secret)) != 0) {
		return rv;
	}
	snprintf(raft_dir, sizeof raft_dir, "%s/raft", data_dir);
	snprintf(pki, sizeof pki, "%s/pki", data_dir);
	if (mkdir(raft_dir, 0700) != 0 && errno != EEXIST) {
		gw_errorf("raft", "restore: cannot create %s: %s", raft_dir, strerror(errno));
		return GW_EIO;
	}
	rv = write_raft(raft_dir, id.node_id, raft_address, index < 1 ? 1 : index, image, len);
	if (rv != 0) {
		return rv;
	}
	rv = gw_peertls_bootstrap(pki, id.cluster_id, id.node_id, NULL);
	if (rv != 0) {
		gw_errorf("raft", "restore: cannot create the cluster CA in %s: %s", pki,
			  gw_strerror(rv));
		return rv;
	}
	/* Last: a dir with an identity is a member's (start_known). */
	rv = gw_raft__identity_save(data_dir, &id);
	if (rv != 0) {
		return rv;
	}
	*node_id_out = id.node_id;
	*cluster_id_out = id.cluster_id;
	return 0;
}
