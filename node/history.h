/* history.h: the age limit of the config history (a node component,
 * history_retention.c), and `apigw config rollback REV` / `apigw config
 * diff REV1 [REV2]` (history.c), clients of a node's Admin API (--admin-listen, default
 * 127.0.0.1:9180) with its admin key (--admin-key, else <data-dir>/admin.key). See docs/history.md.
 * Main thread, before any loop runs. */
#ifndef GW_NODE_HISTORY_H
#define GW_NODE_HISTORY_H

#include "node/flags.h"
#include "lib/buf.h"

#include <stdint.h>
#include <uv.h>

struct gw_store;
struct gw_raft;
struct gw_node_history;

/* Run the `config` subcommand of @cfg: prints the Admin API's JSON answer
 * (stdout) or its error (stderr). The process exit code: 0 on success, 1
 * otherwise (a 409 conflict or a refused revision included). */
int gw_node_history_client(const struct gw_node_config *cfg);

/* Node-internal (the CLI clients): one blocking request to the Admin API
 * at @hostport with the admin @key, @body JSON or NULL; the answer is
 * appended to @out. The HTTP status, or -1 (printed). */
int gw_node__admin_call(const char *hostport, const char *key, const char *method, const char *path,
			const char *body, struct gw_buf *out);

/* history_retention.c: compact the history older than @age_ms (the
 * leader proposes it; every node samples its revisions' times). 0 or
 * GW_ENOMEM. Control loop. */
int gw_node_history_start(uv_loop_t *loop, struct gw_store *store, struct gw_raft *raft,
			  uint64_t age_ms, struct gw_node_history **out);
/* Stop (after a compaction in raft ends: raft's stop ends it), then
 * @cb(@data); @h is freed. */
void gw_node_history_stop(struct gw_node_history *h, void (*cb)(void *data), void *data);

#endif
