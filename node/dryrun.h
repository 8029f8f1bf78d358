/* dryrun.h: the Admin API's dry runs compiled by the proxy's compiler
 * (gw_admin_opts.config_check, issue 20).
 *
 * Happy path: the config under /apisix/ is read from the store on the loop
 * thread (one range read, the values copied), then compiled as stored and
 * with the proposed changes applied on libuv's thread pool
 * (gw_proxy_config_dry_run: one full compile plus the change), and the
 * answer goes back to the Admin API on the loop thread: the routes whose
 * compiled form changes, or the error of an object the change would make
 * the proxy skip. At most GW_NODE_DRYRUN_MAX compiles run at once; more get
 * GW_EBUSY. Threads: loop thread but for the compile. */
#ifndef GW_NODE_DRYRUN_H
#define GW_NODE_DRYRUN_H

#include "admin/apisix.h"

#include <stddef.h>
#include <uv.h>

#define GW_NODE_DRYRUN_MAX 2

struct gw_store;

struct gw_node_dryrun {
	uv_loop_t *loop;
	struct gw_store *store;
	unsigned running;
};

/* gw_admin_opts.config_check with @data a struct gw_node_dryrun (set loop
 * and store; it must outlive the Admin API). */
int gw_node_dryrun_check(void *data, const struct gw_admin_change *changes, size_t n,
			 void (*done)(void *arg, const struct gw_admin_check *r), void *arg);

#endif
