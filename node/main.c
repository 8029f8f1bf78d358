/* main.c: the apigw command line. Parses flags (flags.c), then runs the
 * subcommand. Exit codes: 0 success, 1 runtime failure, 2 usage error. */
#include "config.h"

#include "lib/err.h"
#include "lib/log.h"
#include "node/backup.h"
#include "node/flags.h"
#include "node/flags_doc.h"
#include "node/cluster.h"
#include "node/configfile.h"
#include "node/history.h"
#include "node/keyring_cli.h"
#include "node/tokens.h"
#include "node/node.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	struct gw_node_config cfg;
	char err[256];
	int rv;

	if (gw_node_backup_is_cmd(argc, argv)) {
		return gw_node_backup_main(argc, argv);
	}
	if (gw_node_flags_doc_is_cmd(argc, argv)) {
		return gw_node_flags_doc_main(argc, argv);
	}
	if (gw_node_configfile_is_cmd(argc, argv)) {
		return gw_node_configfile_main(argc, argv);
	}
	if (gw_node_keyring_is_cmd(argc, argv)) {
		return gw_node_keyring_main(argc, argv);
	}
	rv = gw_node_config_parse(argc, argv, &cfg, err, sizeof err);
	if (rv != 0) {
		fprintf(stderr, "apigw: %s\n", err);
		return 2;
	}
	gw_node_config_scrub(argc, argv);
	gw_log_set_level(cfg.log_level);
	switch (cfg.cmd) {
	case GW_CMD_HELP:
		if (gw_node_config_help(stdout, cfg.help_topic) != 0) {
			fprintf(stderr, "apigw: unknown subcommand '%s' (see 'apigw help')\n",
				cfg.help_topic);
			return 2;
		}
		return 0;
	case GW_CMD_VERSION:
		printf("apigw %s\n", VERSION);
		return 0;
	case GW_CMD_START:
	case GW_CMD_JOIN:
		if (cfg.check) {
			printf("apigw: configuration ok (data dir %s)\n", cfg.data_dir);
			return 0;
		}
		return gw_node_run(&cfg) == 0 ? 0 : 1;
	case GW_CMD_LEAVE:
	case GW_CMD_STATUS:
		return gw_node_cluster_client(&cfg);
	case GW_CMD_TOKEN:
		return gw_node_token_client(&cfg);
	case GW_CMD_CONFIG:
		return gw_node_history_client(&cfg);
	case GW_CMD__COUNT:
		break;
	}
	return 2;
}
