/* standalone.h: `apigw start --standalone apisix.yaml`, a node whose APISIX
 * config is a file (APISIX's standalone mode, deployment.role_data_plane.
 * config_provider: yaml), for GitOps without a cluster to manage.
 *
 * The node runs as a one-member cluster over its own data dir; the file is
 * the only writer of its /apisix/ keys: loaded at start, again whenever it
 * changes (checked every --standalone-poll, 1 s like APISIX) and on SIGHUP,
 * each load applied as one store transaction of the diff (objects absent
 * from the file are deleted). A YAML file is loaded only once it ends with
 * APISIX's "#END" line (a file still being written is left alone). A file
 * that does not parse or check is logged with its line and the node keeps
 * serving the last good load. The Admin API refuses writes (docs/backup.md).
 *
 * Threads: the control loop. */
#ifndef GW_NODE_STANDALONE_H
#define GW_NODE_STANDALONE_H

#include "raft/raft.h"
#include "store/store.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct gw_node_standalone;

/* Watch @file (copied) every @poll_ms and load it now (asynchronously: the
 * first proposal waits for this node to lead). 0 or GW_ENOMEM / GW_EIO. */
int gw_node_standalone_start(uv_loop_t *loop, const char *file, unsigned poll_ms,
			     struct gw_store *store, struct gw_raft *raft,
			     struct gw_node_standalone **out);

/* Load the file again now (SIGHUP). */
void gw_node_standalone_reload(struct gw_node_standalone *s);

struct gw_node_standalone_info {
	const char *file;  /* the file served */
	bool loaded;       /* a load succeeded (or found nothing to change):
			      readiness; never reset (a bad edit keeps the last good load) */
	uint64_t loads;    /* loads that changed the store */
	int64_t revision;  /* of the last of them (0: none) */
	const char *error; /* the last load's error, or "" */
};
/* What /status shows; the strings stay valid until the next loop turn. */
void gw_node_standalone_info(const struct gw_node_standalone *s,
			     struct gw_node_standalone_info *out);

/* Stop watching; frees itself once its handles closed and a proposal in
 * flight answered (call before raft stops). */
void gw_node_standalone_stop(struct gw_node_standalone *s);

#endif
