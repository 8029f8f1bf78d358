/* backup.h: the `apigw backup` and `apigw restore` subcommands (offline
 * tools; see docs/backup.md).
 *
 *   apigw backup --to FILE [--endpoint HOST:PORT]   stream a member's snapshot
 *   apigw backup status FILE [--json]               check and describe a file
 *   apigw restore FILE --data-dir DIR [--force] [--keep-cluster-id]
 *                 [--raft-listen IP:PORT] [--keyring FILE]
 *
 * Exit codes as the rest of the CLI: 0 success, 1 failure (a corrupt file,
 * an unreachable member), 2 usage error. Threads: the main thread, before
 * any loop runs. */
#ifndef GW_NODE_BACKUP_H
#define GW_NODE_BACKUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True when @argv names one of these subcommands. */
bool gw_node_backup_is_cmd(int argc, char **argv);
/* Run it; returns the process exit code. */
int gw_node_backup_main(int argc, char **argv);

#endif
