/* node.h: a node's life cycle.
 *
 * gw_node_run() runs `apigw start` / `apigw join`: it prepares the data
 * dir, starts every component on the control loop, serves until SIGINT or
 * SIGTERM, then stops them in reverse order. Called from main() on the main
 * thread. (`apigw status` and `apigw leave` are clients of a running node's
 * status listener: node/cluster.h, gw_node_cluster_client.) */
#ifndef GW_NODE_H
#define GW_NODE_H

#include "node/flags.h"

/* 0 after a clean shutdown, or a negative error (logged) when start-up
 * failed (a listener could not bind, the data dir is unusable...). */
int gw_node_run(const struct gw_node_config *cfg);

#endif
