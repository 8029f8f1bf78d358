/* backup_int.h: what node/backup*.c and node/restore.c share. */
#ifndef GW_NODE_BACKUP_INT_H
#define GW_NODE_BACKUP_INT_H

#include "node/backup.h"
#include "store/store.h"

/* Read the whole file @path: 0 with *@buf malloc'ed (caller frees), or -1
 * with the reason printed to stderr. */
int gw_node__backup_read(const char *path, void **buf, size_t *len);
/* Read and check a backup file: 0 with the file in *@buf (caller frees),
 * its header in @info and its store image at *@image; or 1 with the
 * reason printed ("apigw: FILE: truncated: ..."). */
int gw_node__backup_load(const char *path, void **buf, size_t *len,
			 struct gw_store_backup_info *info, const void **image);
/* Flag @name (e.g. "--to") at argv[*@i], as "--to V" or "--to=V": 1 with
 * *@val set (*@i moved past a separate value), 0 when argv[*@i] is not that
 * flag, -1 when its value is missing (printed, prefixed with @cmd). */
int gw_node__flag(int argc, char **argv, int *i, const char *name, const char **val,
		  const char *cmd);
/* Remove @path and everything below it (no symlinks followed). 0 or -1. */
int gw_node__rm_tree(const char *path);
/* `apigw restore ...` (restore.c): exit code. */
int gw_node__restore_main(int argc, char **argv);
/* `apigw backup --to FILE` (backup_client.c): exit code. */
int gw_node__backup_fetch(const char *endpoint, const char *to);

#endif
