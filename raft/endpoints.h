/* endpoints.h: the HTTP face of raft/. The node-to-node channel (forwarded
 * proposals, read index, join, remove, lease keep-alive, pings...) is HTTP on
 * the etcd listener under /apigw/internal/. With peer TLS (the member has
 * its certificate) it is authenticated by mTLS: the etcd listener's TLS
 * terminator tags each request (req->tag) with GW_RAFT_PEER_TLS and the
 * member id of the verified client certificate, and only current members
 * are served (a joining node: enrollment, then the join calls). Without
 * peer TLS, by the cluster's join secret, as before. raft.h itself takes no
 * HTTP or TLS types: this header is the one place where raft/ meets
 * lib/httpd and OpenSSL. Threads: the control loop. */
#ifndef GW_RAFT_ENDPOINTS_H
#define GW_RAFT_ENDPOINTS_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>

struct gw_raft;
struct gw_http_req;

/* The server name a member asks for on a peer's etcd port. */
#define GW_RAFT_PEER_SNI "apigw-peer"
/* req->tag: the request came over TLS; the low 63 bits are the member id
 * of the verified client certificate (0 = none). */
#define GW_RAFT_PEER_TLS (1ULL << 63)

/* The member server context (client certificate optional, the cluster CA
 * as the only trust anchor), or NULL without peer TLS. Not referenced: use
 * it at once (SSL_new takes its own reference). */
SSL_CTX *gw_raft_peer_server_ctx(struct gw_raft *r);

/* The member id a certificate verified by that context names (it must name
 * our cluster). 0 or GW_EPERM. */
int gw_raft_peer_member_id(struct gw_raft *r, X509 *cert, uint64_t *id);

/* The etcd listener passes every request here. Returns true if it took the
 * request (its path is under /apigw/internal/): it then answers it, now or
 * later, and the caller must not touch @req again. False: not ours. */
bool gw_raft_handle_internal(struct gw_raft *r, struct gw_http_req *req);

#endif
