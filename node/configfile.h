/* configfile.h: `apigw config export`, the cluster's APISIX resources as
 * one declarative file in APISIX's standalone apisix.yaml layout (see
 * docs/backup.md, "Declarative config").
 *
 *   apigw config export [--format yaml|json] [--endpoint HOST:PORT]
 *
 * Threads: the main thread, before any loop runs; blocking. */
#ifndef GW_NODE_CONFIGFILE_H
#define GW_NODE_CONFIGFILE_H

#include <stdbool.h>

/* True when @argv is `config export` (the other `config` actions belong to
 * node/history*.c). */
bool gw_node_configfile_is_cmd(int argc, char **argv);
/* Run it; returns the process exit code (0, 1 failure, 2 usage). */
int gw_node_configfile_main(int argc, char **argv);

#endif
