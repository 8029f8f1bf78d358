/* cluster.h: the cluster parts of a node: the store, the raft and the etcd
 * listener that carries the node-to-node channel, plus the status/leave
 * endpoints of the status listener and the `apigw status|leave` clients.
 *
 * gw_node_cluster_start opens <data-dir>/store, starts raft (bootstrap, restart
 * or join, see raft.h) and the etcd API on --etcd-listen (which hands
 * the /apigw/internal/ routes to raft). The committed data is readable at once.
 * Test knobs (environment, documented in docs/raft.md):
 * APIGW_RAFT_ELECTION_TIMEOUT_MS, APIGW_RAFT_HEARTBEAT_MS,
 * APIGW_RAFT_SNAPSHOT_THRESHOLD, APIGW_RAFT_SNAPSHOT_TRAILING,
 * APIGW_RAFT_REPLACE_VOTER_MS, APIGW_STORE_NO_SYNC,
 * APIGW_TEST_SNAPSHOT_LOAD_DELAY_MS.
 *
 * Threads: the control loop (main thread) only. */
#ifndef GW_NODE_CLUSTER_H
#define GW_NODE_CLUSTER_H

#include "lib/httpd.h"
#include "node/flags.h"
#include "raft/raft.h"
#include "store/store.h"

#include <stdbool.h>
#include <uv.h>

struct gw_node_cluster;

/* @on_terminate runs (deferred, never from inside a raft callback) when the
 * node must stop: err 0 after it left or was removed, else the join failed
 * (refused secret, unreachable peer, another cluster's data dir). */
int gw_node_cluster_start(uv_loop_t *loop, const struct gw_node_config *cfg,
			  void (*on_terminate)(void *data, int err), void *data,
			  struct gw_node_cluster **out);

/* Stop the etcd API, then raft (leadership transfer first), then close the
 * store; @cb runs after everything is closed and @c is freed. */
void gw_node_cluster_stop(struct gw_node_cluster *c, void (*cb)(void *data), void *data);

struct gw_store *gw_node_cluster_store(struct gw_node_cluster *c);
/* True while this node's join is not confirmed (see gw_raft_joining). */
bool gw_node_cluster_joining(struct gw_node_cluster *c);
struct gw_raft *gw_node_cluster_raft(struct gw_node_cluster *c);
/* Connections the etcd port's caps refused so far (0 before it listens). */
uint64_t gw_node_cluster_etcd_refused(struct gw_node_cluster *c);

/* Status listener routes: GET /apigw/status (gw_raft_status_json) and
 * POST /apigw/leave[?node=<hex id>] (this node leaves, or removes another
 * member). Returns true if it took the request. */
bool gw_node_cluster_handle_status(struct gw_node_cluster *c, struct gw_http_req *req);

/* `apigw status [--json]` and `apigw leave [--node ID]` against the local
 * node's status listener. Returns the process exit code. */
int gw_node_cluster_client(const struct gw_node_config *cfg);

/* Blocking request to the local node (a private loop, no deadline): the
 * HTTP status with the body appended to @out, or -1 (printed). */
int gw_node_cluster_call(const struct gw_addr *ep, const char *method, const char *path,
			 struct gw_buf *out);

#endif
