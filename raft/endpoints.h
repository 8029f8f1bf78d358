/* endpoints.h: the HTTP face of raft/. The node-to-node channel (forwarded
 * proposals, read index, join, remove, lease keep-alive, pings...) is HTTP on
 * the etcd listener under /apigw/internal/, authenticated with the cluster's
 * join secret; raft.h itself takes no HTTP types, this header is the one
 * place where raft/ meets lib/httpd. Threads: the control loop. */
#ifndef GW_RAFT_ENDPOINTS_H
#define GW_RAFT_ENDPOINTS_H

#include <stdbool.h>

struct gw_raft;
struct gw_http_req;

/* The etcd listener passes every request here. Returns true if it took the
 * request (its path is under /apigw/internal/): it then answers it, now or
 * later, and the caller must not touch @req again. False: not ours. */
bool gw_raft_handle_internal(struct gw_raft *r, struct gw_http_req *req);

#endif
