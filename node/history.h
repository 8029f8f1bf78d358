/* history.h: `apigw config rollback REV` and `apigw config diff REV1 [REV2]`,
 * clients of a node's Admin API (--admin-listen, default 127.0.0.1:9180)
 * with its admin key (--admin-key, else <data-dir>/admin.key). See
 * docs/history.md. Main thread, before any loop runs. */
#ifndef GW_NODE_HISTORY_H
#define GW_NODE_HISTORY_H

#include "node/flags.h"

/* Run the `config` subcommand of @cfg: prints the Admin API's JSON answer
 * (stdout) or its error (stderr). The process exit code: 0 on success, 1
 * otherwise (a 409 conflict or a refused revision included). */
int gw_node_history_client(const struct gw_node_config *cfg);

#endif
