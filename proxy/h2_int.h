/* h2_int.h: HTTP/2 downstream of proxy/ (h2.c), internals shared with
 * conn.c, request.c, response.c, tls.c and ops.c.
 *
 * An HTTP/2 client connection is an ordinary dconn (same transport, plain
 * or TLS, same worker) whose bytes go to an nghttp2 server session instead
 * of http_parser: ALPN "h2" on a TLS listener, or the client preface on a
 * plain listener when --proxy-h2c is on. Each stream builds the same
 * struct gw_proxy__req an HTTP/1 request does (r->dc is the connection,
 * r->h2 the stream) and goes through the same router, plugins, balancer
 * and upstream pools; upstreams stay HTTP/1.1. The response comes back
 * through three calls (head, body, end) that request.c and response.c make
 * instead of writing HTTP/1 bytes when r->h2 is set, so the HTTP/1 path
 * only pays for a NULL test.
 *
 * Output is never produced inside the caller's stack: the calls below
 * buffer and mark the connection; nghttp2 frames are serialized when the
 * worker uncorks (or from the connection's timer when nothing is corked),
 * and a stream's request is freed only there, when nghttp2 closes it.
 * Worker thread only. */
#ifndef GW_PROXY_H2_INT_H
#define GW_PROXY_H2_INT_H

#include "lib/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gw_proxy;
struct gw_proxy__dconn;
struct gw_proxy__req;
struct gw_proxy__h2s;

/* Make @dc an HTTP/2 connection (after ALPN h2, or on the h2c preface):
 * server session, our SETTINGS queued. 0 or GW_ENOMEM. */
int gw_proxy__h2_start(struct gw_proxy__dconn *dc);
/* Is @p (@n bytes, the first of a plain connection) the start of the
 * HTTP/2 client preface, and is h2c on? Then @dc became HTTP/2. */
bool gw_proxy__h2_preface(struct gw_proxy__dconn *dc, const char *p, size_t n);
/* Bytes from the client (decrypted). @dc may be closed after. */
void gw_proxy__h2_on_data(struct gw_proxy__dconn *dc, const char *p, size_t n);
/* The transport wrote @dc's queued bytes: send more. */
void gw_proxy__h2_on_written(struct gw_proxy__dconn *dc);
/* Serialize what nghttp2 has to send (the worker uncorks). */
void gw_proxy__h2_flush(struct gw_proxy__dconn *dc);
/* Drain (SIGTERM): GOAWAY now, close once the streams in flight end. */
void gw_proxy__h2_drain(struct gw_proxy__dconn *dc);
/* @dc closes: free every stream's request (aborted). */
void gw_proxy__h2_close(struct gw_proxy__dconn *dc);
/* Free the session (gw_proxy__dconn_free). */
void gw_proxy__h2_conn_free(struct gw_proxy__dconn *dc);

/* The response side of a stream (r->h2 != NULL). */
/* The response head: @status, r->rh (hop-by-hop headers dropped),
 * content-length @clen (NULL: none), no body when @nobody. 0 or GW_ENOMEM. */
int gw_proxy__h2_head(struct gw_proxy__req *r, int status, const char *clen, bool nobody);
/* Body bytes (copied); pauses the upstream while the stream or the
 * connection holds too much. */
void gw_proxy__h2_body(struct gw_proxy__req *r, const char *p, size_t n);
/* The response is complete (END_STREAM once the body is sent). */
void gw_proxy__h2_end(struct gw_proxy__req *r);
/* A response made by the proxy (errors, plugins): as gw_proxy__dconn_respond. */
void gw_proxy__h2_respond(struct gw_proxy__req *r, int status, const char *ctype, const char *body);
/* Cut the stream (RST_STREAM INTERNAL_ERROR): the HTTP/1 connection abort. */
void gw_proxy__h2_cut(struct gw_proxy__req *r);
/* Request body back-pressure: @queued bytes wait for the upstream. Above
 * the stream's bound the flow-control window is no longer returned; below
 * the low mark it is returned again. */
void gw_proxy__h2_body_queued(struct gw_proxy__req *r, size_t queued);

/* Append the HTTP/2 metrics of @p to @b. 0 or GW_ENOMEM. */
int gw_proxy__h2_metrics(struct gw_proxy *p, struct gw_buf *b);

#endif
