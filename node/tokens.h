/* tokens.h: join tokens on the node's side: the status listener's routes
 * behind `apigw token create|list|revoke`, that command, and where
 * `apigw join` finds its token.
 *
 * The CLI talks to the local node's status listener, and only a loopback
 * client is served: like `apigw leave`, minting a token is an operator's
 * act on the machine itself, and this needs no key on the command line
 * (the Admin API's key would be one more secret in argv).
 * Threads: the routes run on the control loop; the client and
 * gw_node_join_token in main's thread. */
#ifndef GW_NODE_TOKENS_H
#define GW_NODE_TOKENS_H

#include "node/flags.h"

#include <stdbool.h>
#include <stddef.h>

struct gw_raft;
struct gw_http_req;

/* POST /apigw/token?ttl=S&uses=N&description=TEXT -> {"token": ...},
 * GET /apigw/tokens -> [...], POST /apigw/token/revoke?id=ID. Refused (403)
 * unless the client is on loopback. True if it took the request. */
bool gw_node_token_handle(struct gw_raft *r, struct gw_http_req *req);

/* `apigw token ...`: the process exit code. */
int gw_node_token_client(const struct gw_node_config *cfg);

/* The token `apigw join` uses, into @out ("" = none: the legacy join
 * secret): --token-file, else --token (warned), else APIGW_JOIN_TOKEN.
 * 0 or GW_EINVAL (logged: unreadable file). */
int gw_node_join_token(const struct gw_node_config *cfg, char *out, size_t len);

#endif
