/* reload.h: what SIGHUP (systemd's ExecReload) changes in a running node.
 *
 * The command line is parsed again, with the --config file read afresh
 * (flags still win over it). Applied at once: --log-level. Always done: the
 * access log is reopened by name (as SIGUSR1). Every other flag whose value
 * changed is logged as "takes effect at the next restart": listeners,
 * the data dir, TLS files of the etcd listener, peer TLS and the rest are
 * bound at start-up. Proxy certificates (ssls), routes and every other
 * APISIX object are not flags: they change live through the Admin API.
 * docs/operations.md lists the reloadable settings.
 * Threads: the control loop. */
#ifndef GW_NODE_RELOAD_H
#define GW_NODE_RELOAD_H

#include "node/flags.h"

struct gw_proxy;

/* Reload as above. @running is the configuration the node started with
 * (read, never changed); @proxy may be NULL. Returns 0, or GW_EINVAL when
 * the new command line or config file is invalid: then nothing changed and
 * the reason is logged. */
int gw_node_reload(const struct gw_node_config *running, struct gw_proxy *proxy);

#endif
