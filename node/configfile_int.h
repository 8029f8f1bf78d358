/* configfile_int.h: what node/configfile.c (export) and
 * node/configfile_apply.c (apply) share. */
#ifndef GW_NODE_CONFIGFILE_INT_H
#define GW_NODE_CONFIGFILE_INT_H

#include "node/configfile.h"
#include "lib/buf.h"

#include <cjson/cJSON.h>

/* POST @body (JSON) to @path of the etcd gateway at @endpoint: the HTTP
 * status with the answer appended to @out, or -1 (printed). */
int gw_node__cf_post(const char *endpoint, const char *path, const char *body, struct gw_buf *out);
/* The same for any @method, @hdrs (CRLF-terminated lines) and @body of
 * @len bytes (NULL: none). */
int gw_node__cf_call(const char *endpoint, const char *method, const char *path, const char *hdrs,
		     const char *body, size_t len, struct gw_buf *out);
/* The cluster's resources as {section: [objects with "id", sorted]}: 0
 * with *@out (caller deletes), or -1 (printed). */
int gw_node__cf_fetch(const char *endpoint, cJSON **out);
/* `apigw config apply ...` (configfile_apply.c): the exit code. */
int gw_node__cf_apply_main(int argc, char **argv);

#endif
