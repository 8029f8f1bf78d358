/* control.h: APISIX's control API (--control-listen, default
 * 127.0.0.1:9090), read-only.
 *
 * GET /v1/healthcheck, /v1/healthcheck/{upstreams,routes,services}/<id>,
 * /v1/routes[/<id>], /v1/services[/<id>], /v1/upstreams[/<id>],
 * /v1/schema and /v1/config (the compiled config's revision). Only clients
 * in --control-allow (default loopback) are answered; others get 403.
 * Threads: the control loop. */
#ifndef GW_NODE_CONTROL_H
#define GW_NODE_CONTROL_H

#include "lib/addr.h"

#include <uv.h>

struct gw_node_control;
struct gw_node_cluster;
struct gw_node_confsync;
struct gw_proxy;

/* What a request reads; pointers may be NULL (that part answers 503) and
 * may change while running (the node updates them). */
struct gw_node_control_sources {
	struct gw_node_cluster *cluster;
	struct gw_node_confsync *confsync;
	struct gw_proxy *proxy;
};

/* Serve on @addr for clients in @allow (comma-separated CIDRs; NULL or ""
 * = loopback only). @src must outlive the listener. 0, GW_EINVAL (bad
 * CIDRs, logged) or GW_EADDR (logged). */
int gw_node_control_start(uv_loop_t *loop, const struct gw_addr *addr, const char *allow,
			  const struct gw_node_control_sources *src, struct gw_node_control **out);

/* Stop, then call @cb; the listener is freed. */
void gw_node_control_stop(struct gw_node_control *c, void (*cb)(void *data), void *data);

#endif
