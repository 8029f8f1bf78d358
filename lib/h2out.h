/* h2out.h: what an nghttp2 session has to send, gathered into one buffer.
 *
 * The HTTP/2 servers (admin/etcd_h2.c, proxy/h2.c) serialize frames with
 * nghttp2_session_mem_send, a frame at a time; gathering them makes one
 * socket (or TLS) write per flush instead of one per frame, and the bound
 * keeps a client that does not read from making the node buffer without
 * end (the rest stays in nghttp2 until the caller asks again).
 * Threads: the session's. */
#ifndef GW_H2OUT_H
#define GW_H2OUT_H

#include "lib/buf.h"

#include <nghttp2/nghttp2.h>
#include <stddef.h>

/* Append to @out what @ng has to send while out->len stays below @room
 * (a frame that starts below it is taken whole). 0; GW_ENOMEM; GW_EPROTO
 * when nghttp2 fails (its reason logged at debug level under @who). @out
 * is the caller's either way. */
int gw_h2out_take(nghttp2_session *ng, struct gw_buf *out, size_t room, const char *who);

#endif
