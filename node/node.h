/* node.h: a node's life cycle and the client subcommands.
 *
 * gw_node_run() runs `apigw start` / `apigw join`: it prepares the data
 * dir, starts every component on the control loop, serves until SIGINT or
 * SIGTERM, then stops them in reverse order. gw_node_client() runs
 * `apigw status` and `apigw leave` against a running node's status listener.
 * Both are called from main() on the main thread. */
#ifndef GW_NODE_H
#define GW_NODE_H

#include "node/flags.h"

/* 0 after a clean shutdown, or a negative error (logged) when start-up
 * failed (a listener could not bind, the data dir is unusable...). */
int gw_node_run(const struct gw_config *cfg);

/* Exit code for the process: 0, 1 (runtime failure, printed). */
int gw_node_client(const struct gw_config *cfg);

#endif
