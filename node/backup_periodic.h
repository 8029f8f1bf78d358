/* backup_periodic.h: periodic backups of the local store into a directory
 * (`apigw start --backup-dir DIR --backup-interval 1h --backup-keep 7`).
 *
 * Every interval the node takes a store image on the control loop (a
 * consistent point in time, as for `etcdctl snapshot save`), then writes
 * DIR/apigw-<UTC time>-r<revision>.db on libuv's thread pool (temp file,
 * fsync, rename, directory fsync) and removes the oldest such files beyond
 * the retention count. Every member can do it; each writes its own state.
 * Failure modes: a failed write is logged and counted, the next interval
 * tries again; one write at a time (a tick during a write is skipped).
 * Threads: start/stop on the control loop. */
#ifndef GW_NODE_BACKUP_PERIODIC_H
#define GW_NODE_BACKUP_PERIODIC_H

#include <uv.h>

struct gw_node_cluster;
struct gw_node_backups;

/* Start; @dir is created (0700) if missing. 0, GW_EIO (dir unusable,
 * logged), GW_ENOMEM. @cluster must outlive the backups (stop first). */
int gw_node_backups_start(uv_loop_t *loop, struct gw_node_cluster *cluster, const char *dir,
			  unsigned interval_ms, int keep, struct gw_node_backups **out);
/* Stop; @cb(@data) runs once the timer closed and a write in flight ended. */
void gw_node_backups_stop(struct gw_node_backups *b, void (*cb)(void *data), void *data);

#endif
