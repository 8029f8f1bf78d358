/* httpd.h: a small HTTP/1.1 server for the control-plane listeners (status,
 * metrics, Admin API, etcd JSON gateway). The proxy has its own data path.
 *
 * Happy path: a listener accepts, http-parser (Debian libhttp-parser) reads a
 * request with its body into memory, the handler runs on the loop thread and
 * answers now or later with gw_http_respond() (or streams with
 * gw_http_stream_*). Keep-alive and pipelining: the next request is parsed only
 * after the current one has been answered. Failure modes: malformed requests
 * get 400 and the connection closes; a header block over the limit 431, a body
 * over the limit 413, idle or slow clients are closed after a timeout. While
 * more than max_output_bytes of answers are queued unread, pipelined
 * requests wait (unparsed, reading paused), and a client that takes nothing
 * for write_timeout_ms is closed. Connections over the cap are refused
 * (logged, rate limited, counted: gw_httpd_refused), except that the last
 * reserve_conns slots stay for loopback and for peers @reserved accepts. A
 * client that disconnects while its request is pending makes the request
 * "aborted": the abort callback (if set) runs and the handler must still call
 * gw_http_respond or gw_http_stream_end, which then only frees it.
 *
 * TLS (opts.tls_ctx): every accepted connection is TLS, run on memory BIOs
 * (lib/tlsbio.h) between the socket and the same HTTP/1.1 parser. The
 * handshake must finish within handshake_timeout_ms of the accept (one
 * deadline, not re-armed by each byte). A failed or timed-out handshake,
 * a bad record, or plain HTTP on the TLS port (answered 400 in clear, as
 * nginx does) closes the connection and is counted
 * (gw_httpd_tls_failures); nothing else is affected.
 *
 * Threads: a server and all its requests belong to the loop given to
 * gw_httpd_start; every call must come from that loop's thread. */
#ifndef GW_HTTPD_H
#define GW_HTTPD_H

#include "lib/addr.h"
#include "lib/buf.h"
#include "lib/connlimit.h"

#include <stdbool.h>
#include <stddef.h>
#include <openssl/ssl.h>
#include <stdint.h>
#include <uv.h>

#define GW_HTTP_MAX_HEADERS         64
#define GW_HTTPD_DEFAULT_MAX_OUTPUT 2097152u /* 2 MiB queued: parse no further */

struct gw_httpd;
struct gw_http_req;

struct gw_http_header {
	char *name;  /* lower-cased, NUL-terminated, owned by the request */
	char *value; /* NUL-terminated, owned by the request */
};

typedef void (*gw_http_handler_cb)(struct gw_http_req *req, void *data);
typedef void (*gw_http_abort_cb)(struct gw_http_req *req, void *data);
typedef void (*gw_httpd_stop_cb)(void *data);

struct gw_http_req {
	const char *method; /* "GET", "PUT", ... (static string) */
	char *url;          /* raw request target, NUL-terminated */
	char *path;         /* decoded path without query, NUL-terminated */
	char *query;        /* raw query string without '?', or "" */
	int http_minor;     /* 0 or 1 */
	struct gw_http_header headers[GW_HTTP_MAX_HEADERS];
	int n_headers;
	struct gw_buf body;           /* request body, NUL-terminated */
	struct sockaddr_storage peer; /* client address */
	const void *conn_data;        /* gw_httpd_adopt_tagged's @data, or NULL */
	bool aborted;                 /* the client went away */
	void *user;                   /* free for the handler */
	gw_http_abort_cb on_abort;    /* optional, set by the handler */
	void *abort_data;
	uint64_t tag;               /* the connection's tag (gw_httpd_adopt_tagged), else 0 */
	struct gw__http_conn *conn; /* internal */
};

struct gw_httpd_opts {
	size_t max_header_bytes;    /* default 16 KiB -> 431 */
	size_t max_body_bytes;      /* default 1.5 MiB -> 413 */
	unsigned header_timeout_ms; /* default 10 s: whole header block */
	unsigned idle_timeout_ms;   /* default 60 s: keep-alive idle */
	unsigned body_timeout_ms;   /* default 30 s: between body reads */
	unsigned write_timeout_ms;  /* default 30 s: queued answer, client takes nothing */
	size_t max_output_bytes;    /* default 2 MiB: over it pipelined requests wait */
	unsigned max_conns;         /* default 1024; more are refused */
	unsigned reserve_conns;     /* default 64 of max_conns: loopback and @reserved only */
	gw_connlimit_reserved_cb reserved; /* more peers for the reserve, or NULL */
	void *reserved_data;
	const char *name;              /* for log lines (static string); default "httpd" */
	SSL_CTX *tls_ctx;              /* NULL = cleartext; else TLS (referenced by the server:
					* the caller may free its own reference after start) */
	unsigned handshake_timeout_ms; /* default 10 s from accept to finished handshake */
};

/* Start a server on @addr. 0 or a negative error (GW_EADDR when the address
 * is in use or cannot be bound; logged here). @opts may be NULL. With @addr
 * NULL the server listens nowhere and serves only connections handed to it
 * with gw_httpd_adopt (its port is 0). The server is heap-allocated and
 * freed after gw_httpd_stop's callback. */
int gw_httpd_start(uv_loop_t *loop, const struct gw_addr *addr, const struct gw_httpd_opts *opts,
		   gw_http_handler_cb handler, void *data, struct gw_httpd **out);

/* Bound port (useful with port 0 in tests). */
int gw_httpd_port(const struct gw_httpd *srv);

/* Connections refused by the cap so far. */
uint64_t gw_httpd_refused(const struct gw_httpd *srv);

/* TLS connections closed so far for a failed or timed-out handshake, a bad
 * record or plain HTTP on the TLS port (0 without TLS). */
uint64_t gw_httpd_tls_failures(const struct gw_httpd *srv);

/* True when the server serves TLS. */
bool gw_httpd_is_tls(const struct gw_httpd *srv);

/* Hand an accepted TCP stream to the server, with bytes already read from
 * it (may be 0). The server takes ownership of @tcp (it must be a
 * heap-allocated uv_tcp_t; the server frees it with free() after close).
 * Used by listeners that sniff the protocol first (etcd: HTTP/2 or 1.1). */
void gw_httpd_adopt(struct gw_httpd *srv, uv_tcp_t *tcp, const char *initial, size_t n);
/* gw_httpd_adopt with what the adopter learned about the client before HTTP
 * began (etcd: its TLS terminator): @tag, opaque to the server, is copied
 * to every request as req->tag; @data (malloc'ed, or NULL) is seen by every
 * request as req->conn_data, and the server takes it and frees it with
 * free() with the connection (also when refused); when @peer is not NULL
 * it is the client's real address (the stream is a socketpair behind a
 * terminator): admission and req->peer use it. */
void gw_httpd_adopt_tagged(struct gw_httpd *srv, uv_tcp_t *tcp, const char *initial, size_t n,
			   uint64_t tag, const struct sockaddr_storage *peer, void *data);

/* Stop accepting, close every connection (pending requests are aborted),
 * then call @cb. */
void gw_httpd_stop(struct gw_httpd *srv, gw_httpd_stop_cb cb, void *data);

/* Value of header @name (lower-case), or NULL. */
const char *gw_http_header(const struct gw_http_req *req, const char *name);

/* Value of query argument @name, URL-decoded into @buf; NULL if absent. */
const char *gw_http_query_arg(const struct gw_http_req *req, const char *name, char *buf,
			      size_t len);

/* Answer @req with a complete response and release it (the request must not
 * be used afterwards). @extra_headers is "" or CRLF-terminated lines.
 * Returns 0 or GW_ENOMEM (the connection is then closed). */
int gw_http_respond(struct gw_http_req *req, int status, const char *content_type,
		    const char *extra_headers, const void *body, size_t len);

/* Streaming (chunked) response: start, write any number of chunks, end.
 * gw_http_stream_end releases the request. Writes after an abort are
 * dropped and return GW_ECANCELED. */
int gw_http_stream_start(struct gw_http_req *req, int status, const char *content_type,
			 const char *extra_headers);
int gw_http_stream_write(struct gw_http_req *req, const void *p, size_t len);
void gw_http_stream_end(struct gw_http_req *req);

/* Bytes queued on the connection but not yet written (back-pressure for
 * streams). */
size_t gw_http_pending_bytes(const struct gw_http_req *req);

#endif
