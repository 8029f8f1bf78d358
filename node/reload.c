/* reload.c: SIGHUP (see reload.h).
 *
 * Happy path: parse running->argv into a fresh configuration, compare it
 * flag by flag with the running one (node/flags_int.h), apply the log
 * level, warn about the rest, reopen the access log. Failure modes: an
 * invalid config file (bad JSON, unknown key, bad value) is logged with the
 * parser's one-line reason and nothing is applied; the node keeps running
 * with what it has. Threads: the control loop. */
#include "config.h"

#include "node/reload.h"
#include "node/flags_int.h"
#include "proxy/proxy.h"
#include "lib/err.h"
#include "lib/log.h"

#include <stdlib.h>
#include <string.h>

int gw_node_reload(const struct gw_node_config *running, struct gw_proxy *proxy)
{
	struct gw_node_config *next = malloc(sizeof *next);
	char err[256];
	int rv, restart = 0;

	if (next == NULL) {
		gw_errorf("reload", "out of memory: nothing reloaded");
		return GW_ENOMEM;
	}
	rv = gw_node_config_parse(running->argc, running->argv, next, err, sizeof err);
	if (rv != 0) {
		gw_errorf("reload", "%s: nothing reloaded", err);
		free(next);
		return GW_EINVAL;
	}
	for (size_t i = 0; i < gw_node__flag_count(); i++) {
		struct gw_node_flag_info f;

		gw_node__flag_info(i, &f);
		if (!(f.cmds & (1u << running->cmd)) || !gw_node__flag_differs(i, running, next)) {
			continue;
		}
		if (strcmp(f.name, "log-level") == 0) {
			continue; /* applied below */
		}
		gw_warnf("reload", "--%s changed: it takes effect at the next restart", f.name);
		restart++;
	}
	if (next->log_level != gw_log_get_level()) {
		gw_log_set_level(next->log_level);
		gw_infof("reload", "log level set to %s",
			 next->log_level == GW_LOG_DEBUG   ? "debug"
			 : next->log_level == GW_LOG_INFO  ? "info"
			 : next->log_level == GW_LOG_WARN  ? "warn"
			 : next->log_level == GW_LOG_ERROR ? "error"
							   : "none");
	}
	if (proxy != NULL) {
		gw_proxy_reopen_logs(proxy);
	}
	gw_infof("reload", "reloaded (%d changed setting%s need a restart)", restart,
		 restart == 1 ? "" : "s");
	free(next);
	return 0;
}
