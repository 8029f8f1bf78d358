/* httpc.h: a small libuv HTTP/1.1 client for node-to-node calls.
 *
 * Connect, send, read the answer (status, Content-Length, X-Apigw-Error,
 * body), call back once. A deadline bounds the whole exchange. Without a
 * pool a request has its own connection ("Connection: close"); with a
 * struct gw_httpc_pool (opts.pool) requests to the same server, TLS context
 * and SNI reuse idle keep-alive connections, which saves a TCP and a TLS
 * handshake per call. A connection goes back to the pool when its request's
 * callback has returned (a request started inside the callback takes
 * another one). Not for the data plane (the proxy has
 * its own upstream client). struct gw_httpc_opts carries the per-call
 * settings, TLS among them (lib/tlsbio: the request is sent only after the
 * handshake and the caller's check of the server passed); callers fill it
 * with designated initialisers and leave the rest 0.
 * Threads: a request lives on the loop it was started on; call everything
 * from that loop's thread. */
#ifndef GW_HTTPC_H
#define GW_HTTPC_H

#include "lib/buf.h"

#include <openssl/ssl.h>
#include <stddef.h>
#include <uv.h>

struct gw_httpc;
struct gw_httpc_pool;

/* After the TLS handshake, before anything is sent: 0 to go on, else a
 * negative GW_E* (the request then fails with it, and @why, up to @len
 * bytes, says why). @ssl is the finished session (its peer certificate
 * passed the context's own verification, if the context verifies). */
typedef int (*gw_httpc_tls_check_cb)(void *data, SSL *ssl, char *why, size_t len);

struct gw_httpc_opts {
	unsigned timeout_ms; /* deadline of the whole exchange; 0 = none */
	char *why;           /* NULL, or where the cause of a GW_EAGAIN is written
			      * ("Connection refused"); must outlive the request */
	size_t why_len;      /* bytes at @why */
	/* TLS: NULL = cleartext. The context is referenced for the request's
	 * life (the caller may drop its own reference at once). */
	SSL_CTX *tls_ctx;
	const char *tls_sni;             /* server name to send, or NULL (copied) */
	gw_httpc_tls_check_cb tls_check; /* NULL = the context's verification only */
	void *tls_check_data;            /* for @tls_check; must outlive the request */
	/* NULL, or where the connection comes from and goes back to. A reused
	 * TLS connection is judged again by @tls_check before each request. */
	struct gw_httpc_pool *pool;
};

struct gw_httpc_resp {
	int status;         /* HTTP status */
	int gw_err;         /* X-Apigw-Error header (a GW_E* code) or 0 */
	struct gw_buf body; /* owned by the client; valid during the callback */
};

/* @err is 0 with @resp set, or with @resp NULL: GW_EAGAIN (no connection:
 * nothing was sent), GW_EIO (reset or malformed answer after sending: the
 * outcome is unknown), GW_ETIMEOUT, GW_ENOMEM, or with TLS GW_EPROTO (the
 * handshake failed: nothing was sent; opts->why says why) or what
 * tls_check returned. Called exactly once unless
 * the request is cancelled, never from inside gw_httpc_request. */
typedef void (*gw_httpc_cb)(void *data, int err, const struct gw_httpc_resp *resp);

/* Send one request to @hostport ("ip:port" or
 * "localhost:port"). @headers: NULL, "" or CRLF-terminated lines. The body,
 * the headers and @opts are copied (@opts may be NULL: no deadline). 0 or
 * GW_EADDR / GW_ENOMEM (then no callback). The request frees itself after
 * the callback (or after cancellation); *@out (if not NULL) is the handle
 * for gw_httpc_cancel, valid until the callback runs. */
int gw_httpc_request(uv_loop_t *loop, const char *hostport, const char *method, const char *path,
		     const char *headers, const void *body, size_t len,
		     const struct gw_httpc_opts *opts, gw_httpc_cb cb, void *data,
		     struct gw_httpc **out);

/* Abandon a request before its callback ran: the callback will not run and
 * the request frees itself once its handles are closed. */
void gw_httpc_cancel(struct gw_httpc *h);

/* A pool of idle keep-alive connections on @loop: at most @max_idle of them
 * and @max_idle_per per server (host:port, TLS context and SNI; 0 = no
 * separate cap) (the oldest goes first), each closed after @idle_ms without
 * a request
 * (keep it well below the servers' own keep-alive timeout, so that a
 * request rarely meets a connection the server is closing). NULL on
 * GW_ENOMEM. Loop thread only. */
struct gw_httpc_pool *gw_httpc_pool_new(uv_loop_t *loop, unsigned max_idle, unsigned max_idle_per,
					unsigned idle_ms);

/* Close the idle connections; connections still busy close when their
 * request ends. The pool frees itself once its last connection closed;
 * the caller must not use it after this call. NULL is a no-op. */
void gw_httpc_pool_close(struct gw_httpc_pool *pool);

struct gw_httpc_pool_stats {
	unsigned long long opened; /* connections made for requests of the pool */
	unsigned long long reused; /* requests sent on an idle connection */
	unsigned idle;             /* idle connections now */
};
void gw_httpc_pool_stats(const struct gw_httpc_pool *pool, struct gw_httpc_pool_stats *out);

/* "http://host:port/..." (or https://, or a bare "host:port") -> "host:port"
 * into @out of @len bytes. 0 or GW_EINVAL (empty or too long). */
int gw_httpc_url_hostport(const char *url, char *out, size_t len);

#endif
