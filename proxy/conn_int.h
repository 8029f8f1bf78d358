/* conn_int.h: workers, client connections, requests and upstream
 * connections of proxy/ (one worker loop owns each of these; nothing here is
 * shared between threads except through struct gw_proxy's atomics and lock).
 *
 * Layering: a client connection (dconn) reads and writes through a small
 * transport vtable (plain TCP now; a TLS transport built on OpenSSL BIOs can
 * slide under it later without touching the HTTP code), parses requests with
 * http_parser and hands each one to request.c, which routes it, picks a node,
 * takes an upstream connection (uconn) from the worker's keep-alive pool or
 * opens one, and relays both bodies with back-pressure. */
#ifndef GW_PROXY_CONN_INT_H
#define GW_PROXY_CONN_INT_H

#include "lib/buf.h"
#include "lib/list.h"
#include "proxy/proxy_int.h"

#include <http_parser.h>
#include <openssl/ssl.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#define GW_PROXY__HWM         (256 * 1024) /* stop reading the other side above this */
#define GW_PROXY__LWM         (64 * 1024)  /* resume below this */
#define GW_PROXY__REPLAY_MAX  (64 * 1024)  /* request body kept for retries */
#define GW_PROXY__MAX_HEADERS 256          /* header fields of one head -> 431 */

struct gw_proxy__dconn;
struct gw_proxy__uconn;
struct gw_proxy__req;
struct gw_proxy__tls_up;

/* A queued write; data follows the struct. Freed in the write callback. */
struct gw_proxy__wbuf {
	uv_write_t req;
	void *owner; /* the dconn or uconn */
	size_t len;
	char data[];
};
struct gw_proxy__wbuf *gw_proxy__wbuf_new(size_t len);

/* Byte transport under HTTP/1.x. The transport calls back into the HTTP layer
 * with gw_proxy__dconn_on_data / _on_eof / _on_written. */
struct gw_proxy__transport {
	int (*read_start)(struct gw_proxy__dconn *c);
	void (*read_stop)(struct gw_proxy__dconn *c);
	/* Write what the socket takes now without queueing: bytes written,
	 * 0 when it would block or writes are queued, or a negative error. */
	int (*try_write)(struct gw_proxy__dconn *c, const char *p, size_t n);
	/* Queue @wb (ownership passes); 0 or a negative error (wb freed). */
	int (*write)(struct gw_proxy__dconn *c, struct gw_proxy__wbuf *wb);
	/* Flush queued writes, then half-close; calls _on_shutdown when done. */
	int (*shutdown)(struct gw_proxy__dconn *c);
	/* Close every handle; the dconn is freed in the last close callback. */
	void (*close)(struct gw_proxy__dconn *c);
};

struct gw_proxy__pool_bucket {
	char key[72];        /* node "ip:port" */
	struct gw_list idle; /* idle uconns, most recent first */
	unsigned n;
};

/* Counters of one worker: written by its thread only, read by any. */
struct gw_proxy__wstats {
	atomic_uint_fast64_t conns, active, requests, status[6], up_fail, retries;
	/* h2.c: connections, streams, resets by the client / by the proxy,
	 * GOAWAY ENHANCE_YOUR_CALM (rapid reset), connections failed on a
	 * protocol error or flood */
	atomic_uint_fast64_t h2_conns, h2_streams, h2_rst_client, h2_rst_proxy, h2_calm, h2_errors;
	atomic_uint_fast64_t h2_stream_timeouts; /* streams reset: the client took nothing */
};
#define GW_PROXY__COUNT(w, field) atomic_fetch_add_explicit(&(w)->st.field, 1, memory_order_relaxed)

struct gw_proxy__worker {
	struct gw_proxy__wstats st;
	struct gw_proxy *p;
	int idx;
	uv_thread_t thread;
	uv_loop_t loop;
	uv_async_t async; /* new config or stop */
	uv_timer_t drain_timer;
	uv_tcp_t *lsn; /* n_lsn listeners (handles owned; closed at stop) */
	int *fds;      /* sockets bound by gw_proxy_start */
	int n_lsn;
	struct gw_proxy__wsnap *snap; /* current snapshot of this worker (one ref) */
	struct gw_list dconns;        /* every client connection */
	struct gw_list uconns;        /* every upstream connection */
	struct gw_proxy__map pool;    /* node key -> pool_bucket */
	bool stopping;
	bool rbuf_busy;
	int cork;             /* > 0: client writes gather in dconn->out */
	struct gw_list flush; /* dconns with corked output */
	int init_rv;          /* start-up result reported to gw_proxy_start */
	char rbuf[65536];     /* shared read buffer of this loop */
	/* plugin_delay.c: requests waiting before going upstream, or NULL */
	struct gw_proxy__delay *delay;
};

struct gw_proxy__hcollect {
	struct gw_buf name, value; /* the header being received */
	bool in_value;
	struct gw_proxy__hdr *v; /* arena array */
	size_t n, cap;
	size_t bytes;
};

enum gw_proxy__dtimer { DT_NONE, DT_IDLE, DT_HEADER, DT_BODY, DT_SEND, DT_LINGER, DT_HANDSHAKE };

struct gw_proxy__dconn {
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_shutdown_t shut;
	int open_handles;    /* freed when it reaches 0 */
	struct gw_list link; /* in worker->dconns */
	struct gw_proxy__worker *w;
	const struct gw_proxy__transport *tp;
	http_parser parser;
	struct gw_buf pending;       /* received, not yet parsed (pipelining) */
	struct gw_buf out;           /* corked output, written at uncork */
	struct gw_list flink;        /* in worker->flush while out is non-empty */
	struct gw_proxy__req *req;   /* current request, owned */
	struct gw_proxy__req *spare; /* a recycled request for the next one, owned */

	struct sockaddr_storage peer;
	char peer_ip[48];
	int local_port;
	unsigned n_requests;
	size_t linger_bytes; /* discarded after our answer */
	size_t wq_bytes;     /* queued to the client, not yet written */
	int err_status;      /* set by a parser callback before failing */
	/* header scanner (strict checks before http_parser sees the bytes) */
	bool hdr_phase;
	int scan;
	size_t scan_line, scan_hdr;
	unsigned scan_nhdr; /* header lines of this head so far */
	char scan_tail[9];  /* the request line's last bytes (" HTTP/1.1") */
	unsigned char scan_tail_n;
	enum gw_proxy__dtimer tphase;
	uint64_t t_due; /* loop ms when tphase expires (lazy timer, gw_proxy__timer_set) */
	bool reading, stop_bp, stop_pipe, closing, lingering, shutting;
	bool tunnel;  /* WebSocket: raw bytes both ways */
	bool counted; /* in the worker's active connections */
	bool pp_wait; /* a PROXY protocol header is expected first (pp.c) */
	void *tls;    /* tls.c's state of a TLS connection, else NULL */
	void *h2;     /* h2.c's session of an HTTP/2 connection, else NULL */
};

enum gw_proxy__utimer { UT_NONE, UT_CONNECT, UT_SEND, UT_READ, UT_IDLE };

struct gw_proxy__uconn {
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_connect_t connect_req;
	int open_handles;
	struct gw_list all;                   /* in worker->uconns */
	struct gw_list idle;                  /* in a pool bucket while idle */
	struct gw_proxy__pool_bucket *bucket; /* set while idle */
	struct gw_proxy__worker *w;
	struct gw_proxy__req *req; /* NULL while idle */
	char key[72];
	http_parser parser;
	unsigned n_requests;
	size_t wq_bytes;
	enum gw_proxy__utimer tphase;
	uint64_t t_due; /* loop ms when tphase expires (lazy timer) */
	bool connected, closing, reused, bp_paused, got_bytes, msg_done, retry_status, skip_1xx;
	bool tunnel;
	void *tls; /* tls_up.c's session of an https upstream, else NULL */
};

enum gw_proxy__fail { UF_CONNECT, UF_CONNECT_TIMEOUT, UF_RESET, UF_READ_TIMEOUT, UF_PROTO };

struct gw_proxy__req {
	struct gw_proxy__dconn *dc;
	struct gw_arena arena;
	struct gw_proxy__wsnap *snap; /* one ref, taken when the headers are complete */
	struct gw_buf url;
	struct gw_proxy__hcollect hc; /* request headers */
	const char *path, *query;     /* path normalized (decoded), query raw */
	const char *path_enc;         /* normalized path re-encoded, or NULL if unchanged */
	size_t path_enc_len;
	size_t path_len, query_len;
	const char *host; /* lower-case, without port */
	size_t host_len;
	const char *host_hdr; /* Host as received, or NULL */
	int method;
	int http_minor;
	bool keepalive, chunked_in, expect_continue, ws;
	int64_t content_length; /* -1 when absent */
	bool headers_done, body_done, discard;
	uint64_t body_bytes;
	const struct gw_proxy__route *route;
	const struct gw_proxy__upstream *up;
	unsigned connect_ms, send_ms, read_ms;
	struct gw_proxy__tried tried;
	int node; /* current node, -1 */
	int attempts, max_attempts;
	bool free_retry_used;
	uint64_t t_start;
	const char *hash_key;
	size_t hash_key_len;
	struct gw_proxy__uconn *uc;
	bool head_sent;       /* head written to the current uconn */
	bool body_sent_any;   /* some body bytes went to an upstream */
	struct gw_buf obuf;   /* framed body waiting for the upstream */
	struct gw_buf replay; /* framed body so far, for retries */
	bool replay_ok;
	struct gw_proxy__hcollect rh; /* response headers */
	struct gw_buf reason;
	struct gw_buf head; /* scratch for the heads built for this request; kept on recycle */
	bool resp_started, resp_chunked, resp_close, resp_done, close_after;
	int status;
	/* set by plugins */
	const char *up_target;     /* path?query sent upstream, or NULL */
	int up_method;             /* -1: the client's */
	const char *up_host;       /* Host sent upstream, or NULL */
	int64_t resp_len_override; /* >= 0: the response body is replaced */
	const void *body_replacer; /* the plugin conf that replaces it */
	/* plugin_*.c (plugin_int.h): the authenticated consumer, the plugin list
	 * merged with its plugins, the headers plugins add to the response */
	const struct gw_proxy__consumer *consumer;
	const struct gw_proxy__plugin_inst *pv; /* NULL: the route's list */
	size_t pn;
	struct gw_proxy__hdr *ph; /* arena array */
	size_t ph_n, ph_cap;
	unsigned delay_ms; /* limit-req: wait before going upstream */
	/* fault-injection's abort after its delay: called when the delay ends
	 * instead of going upstream (it answers), or NULL */
	int (*delay_then)(struct gw_proxy__req *r, const void *conf);
	const void *delay_then_conf;
	uint64_t delay_due;        /* loop ms; non-zero while on the worker's delay list */
	struct gw_list delay_link; /* plugin_delay.c */
	uint32_t conn_slots[4];    /* limit-conn: 1 + the counter slots held (0: none) */
	/* A plugin that must see the whole body before the request goes upstream
	 * (hmac-auth's validate_request_body) sets body_hook in its rewrite or
	 * access hook: request.c then waits for the body, passing each piece
	 * (unframed) and then eof to it; non-zero: the hook answered. */
	int (*body_hook)(struct gw_proxy__req *r, const void *conf, const char *p, size_t n,
			 bool eof);
	const void *body_hook_conf;
	void *body_hook_state; /* the hook's, freed by its plugin's log hook */
	void *body_hook_chain; /* hmac-auth's state while its hook runs the one it
				  chains (which may answer and free the request) */
	bool body_wait;        /* waiting for the body (body_hook set) */
	/* ops.c, accesslog.c: metrics and access log */
	struct gw_proxy__raddr *ra;  /* real-ip from X-Forwarded-For (arena), or NULL */
	uint64_t t_begin;            /* uv_hrtime() at the request's first byte */
	uint64_t t_up_begin;         /* uv_hrtime() when routed to an upstream, or 0 */
	uint64_t t_up_end;           /* uv_hrtime() when the last upstream let go, or 0 */
	uint64_t bytes_out;          /* bytes written to the client for this request */
	bool st_reading, st_writing; /* counted in the worker's reading/writing gauge */
	struct gw_proxy__h2s *h2;    /* h2.c: the stream of an HTTP/2 request, else NULL */
};

/* conn.c */
void gw_proxy__dconn_accept(struct gw_proxy__worker *w, uv_stream_t *lsn);
/* A client connection of @w over @tp, parser and scanner ready, its timer
 * initialised (open_handles 1): what accept does before the socket. The
 * caller fills in the peer, links it in w->dconns and starts reading; @tp's
 * close closes its handles and calls gw_proxy__dconn_free after the last
 * one. NULL when out of memory. Worker thread. (Accept uses it; the fuzz
 * harnesses drive a connection over an in-memory transport with it.) */
struct gw_proxy__dconn *gw_proxy__dconn_new(struct gw_proxy__worker *w,
					    const struct gw_proxy__transport *tp);
/* The plain transport's pieces that the TLS one shares: the loop's read
 * buffer, the write callback (frees the wbuf, accounts wq_bytes, calls
 * on_written or aborts) and closing both handles (the last close callback
 * frees the dconn). */
void gw_proxy__dconn_alloc(uv_handle_t *h, size_t size, uv_buf_t *b);
void gw_proxy__dconn_write_cb(uv_write_t *req, int status);
void gw_proxy__dconn_close_handles(struct gw_proxy__dconn *dc);
/* Free @dc once its transport's handles are closed. */
void gw_proxy__dconn_free(struct gw_proxy__dconn *dc);
void gw_proxy__dconn_write(struct gw_proxy__dconn *dc, const void *p, size_t n);
/* Gather client writes made until the matching uncork into one write per
 * connection (a response head and its first body bytes go out together). */
void gw_proxy__worker_cork(struct gw_proxy__worker *w);
void gw_proxy__worker_uncork(struct gw_proxy__worker *w);
void gw_proxy__dconn_respond(struct gw_proxy__dconn *dc, int status, const char *ctype,
			     const char *body, bool close);
void gw_proxy__dconn_response_done(struct gw_proxy__dconn *dc);
/* Flush, half-close and discard what the client still sends for a while. */
void gw_proxy__dconn_close_graceful(struct gw_proxy__dconn *dc);
/* The small HTML page of an error @status into @buf (@cap bytes). */
void gw_proxy__error_page(int status, char *buf, size_t cap);
void gw_proxy__dconn_abort(struct gw_proxy__dconn *dc);
void gw_proxy__dconn_update_reading(struct gw_proxy__dconn *dc);
/* The TLS handshake's deadline: @start arms it (tls_handshake_timeout_ms
 * from now, not pushed back by bytes), else the handshake finished and the
 * connection waits for its first request as after accept. Worker thread. */
void gw_proxy__dconn_tls_deadline(struct gw_proxy__dconn *dc, bool start);
/* The PROXY header of a cleartext connection is in: the connection's timer
 * (the header wait's) becomes the request timer, waiting for the first
 * request as after accept. Worker thread. */
void gw_proxy__dconn_after_pp(struct gw_proxy__dconn *dc);
void gw_proxy__dconn_on_data(struct gw_proxy__dconn *dc, const char *p, size_t n);
void gw_proxy__dconn_on_eof(struct gw_proxy__dconn *dc);
void gw_proxy__dconn_on_written(struct gw_proxy__dconn *dc, size_t n);
void gw_proxy__dconn_on_shutdown(struct gw_proxy__dconn *dc);
void gw_proxy__worker_drain(struct gw_proxy__worker *w);
void gw_proxy__worker_force_close(struct gw_proxy__worker *w);
const char *gw_proxy__reason(int status);

/* request.c: a request's life, routing, upstream attempts, body relay */
struct gw_proxy__req *gw_proxy__req_new(struct gw_proxy__dconn *dc);
void gw_proxy__req_free(struct gw_proxy__req *r);
/* Release what @r holds and make it a fresh request again (its small
 * buffers and first arena chunk are kept): saves mallocs on keep-alive. */
struct gw_proxy__req *gw_proxy__req_recycle(struct gw_proxy__req *r);
void gw_proxy__req_headers_done(struct gw_proxy__req *r);
void gw_proxy__req_body(struct gw_proxy__req *r, const char *p, size_t n);
void gw_proxy__req_body_end(struct gw_proxy__req *r);
void gw_proxy__req_abort(struct gw_proxy__req *r);
/* Answer @r from the proxy (gw_proxy__dconn_respond on HTTP/1, its stream
 * on HTTP/2); @r may be freed after on HTTP/1. */
void gw_proxy__req_respond(struct gw_proxy__req *r, int status, const char *ctype, const char *body,
			   bool close);
/* Cut @r's response: close the HTTP/1 connection, reset the HTTP/2 stream. */
void gw_proxy__req_cut(struct gw_proxy__req *r);
void gw_proxy__req_client_drained(struct gw_proxy__req *r);
void gw_proxy__req_tunnel_data(struct gw_proxy__req *r, const char *p, size_t n);
/* Let go of the upstream connection (closed when @close, else the caller
 * releases it) and account the node's request in the balancer. */
void gw_proxy__req_detach_uc(struct gw_proxy__req *r, bool close);
/* A routed request whose plugins let it through: to its upstream (or the
 * 503 of a route without one). After the access phase, or after the delay
 * a plugin asked for (plugin_delay.c). */
void gw_proxy__req_proceed(struct gw_proxy__req *r);
/* Pick a node not tried yet and connect (or answer 502 when none is left). */
void gw_proxy__req_attempt(struct gw_proxy__req *r);
/* May a failed attempt be tried again (nothing sent to the client, budget
 * and retry_timeout left, the body replayable, a node left)? */
bool gw_proxy__req_retry_allowed(const struct gw_proxy__req *r);
/* Replace the body @r will send upstream by the @n bytes at @p (copied),
 * sent with Content-Length (request-validation's re-encoded JSON). Only
 * while the body is held for a body_hook, at its eof. 0, GW_EINVAL (some
 * body already went upstream) or GW_ENOMEM. */
int gw_proxy__req_set_body(struct gw_proxy__req *r, const char *p, size_t n);
/* Put the kept body back in obuf and forget the response head, for a retry. */
void gw_proxy__req_prepare_replay(struct gw_proxy__req *r);

/* Plugins of a routed request: the global rules' first, then the route's
 * (each list sorted by priority; merged with the consumer's once one is
 * attached), as APISIX runs them. */
static inline size_t gw_proxy__req_n_plugins(const struct gw_proxy__req *r)
{
	return r->route == NULL ? 0
				: r->snap->cfg->n_global + (r->pv ? r->pn : r->route->n_plugins);
}
static inline const struct gw_proxy__plugin_inst *
gw_proxy__req_plugin(const struct gw_proxy__req *r, size_t i)
{
	size_t g = r->snap->cfg->n_global;
	return i < g ? &r->snap->cfg->global[i] : &(r->pv ? r->pv : r->route->plugins)[i - g];
}

/* reqhead.c: header collection, checks, the head sent upstream */
/* Collect a header field / value as http_parser delivers them (in pieces);
 * flush stores the last one. 0, GW_ELIMIT (more than 256) or GW_ENOMEM. */
int gw_proxy__hc_field(struct gw_proxy__hcollect *hc, struct gw_arena *a, const char *p, size_t n);
int gw_proxy__hc_value(struct gw_proxy__hcollect *hc, const char *p, size_t n);
int gw_proxy__hc_flush(struct gw_proxy__hcollect *hc, struct gw_arena *a);
/* Free the collector's buffers / forget the headers (the arena owns them). */
void gw_proxy__hc_close(struct gw_proxy__hcollect *hc);
void gw_proxy__hc_reset(struct gw_proxy__hcollect *hc);
/* Split the target, check framing headers, normalize the path, find Host.
 * 0 or the status to answer. */
int gw_proxy__req_check(struct gw_proxy__req *r);
/* What the router and plugins see of @r. */
void gw_proxy__req_match_ctx(const struct gw_proxy__req *r, struct gw_proxy__match_ctx *m);
/* Append the head for the upstream (node r->node) to @b. 0 or GW_ENOMEM. */
/* The Host sent to node @nd (pass_host, upstream_host, plugins). */
const char *gw_proxy__req_up_host(const struct gw_proxy__req *r, const struct gw_proxy__node *nd);
int gw_proxy__req_build_head(struct gw_proxy__req *r, struct gw_buf *b);

static inline bool gw_proxy__hdr_is(const struct gw_proxy__hdr *h, const char *name)
{
	return h->name_len == strlen(name) && strcasecmp(h->name, name) == 0;
}
/* A header name with its length, for tables scanned per header. */
struct gw_proxy__hname {
	const char *s;
	size_t len;
};
#define GW_PROXY__HNAME(lit)                                                                       \
	{                                                                                          \
		lit, sizeof lit - 1                                                                \
	}
/* Is @h one of the @n names of @t (case-insensitive)? */
static inline bool gw_proxy__hdr_in(const struct gw_proxy__hdr *h, const struct gw_proxy__hname *t,
				    size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (h->name_len == t[i].len && strcasecmp(h->name, t[i].s) == 0) {
			return true;
		}
	}
	return false;
}
/* Append each NUL-terminated string up to GW_PROXY__CAT_END (printf costs
 * on the hot path). 0 or GW_ENOMEM. */
__attribute__((sentinel)) int gw_proxy__cat(struct gw_buf *b, ...);
#define GW_PROXY__CAT_END ((const char *)NULL)
/* Decimal text of @v, written at the end of @buf (24 bytes); returns its
 * start. */
static inline const char *gw_proxy__u64_text(uint64_t v, char *buf)
{
	char *p = buf + 23;
	*p = '\0';
	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	return p;
}
/* Does the comma-separated @list contain @token (case-insensitive)? */
bool gw_proxy__has_token(const char *list, const char *token);

/* response.c: is @h hop-by-hop in a response whose Connection is @conn? */
bool gw_proxy__resp_skip_header(const struct gw_proxy__hdr *h, const char *conn);

/* upstream.c */
/* An idle pooled connection to @nd (unless @fresh) or a new one; @tls
 * (NULL or !tls->on: plain) selects the TLS pool and session. */
struct gw_proxy__uconn *gw_proxy__uconn_get(struct gw_proxy__worker *w,
					    const struct gw_proxy__node *nd, bool fresh,
					    unsigned connect_ms, const struct gw_proxy__tls_up *tls,
					    int *err);
void gw_proxy__uconn_write(struct gw_proxy__uconn *uc, const void *p, size_t n);
/* Write bytes as they are to the socket (TLS records, or plain data). */
void gw_proxy__uconn_write_raw(struct gw_proxy__uconn *uc, const void *p, size_t n);
void gw_proxy__uconn_release(struct gw_proxy__uconn *uc, bool keep, unsigned idle_ms,
			     unsigned max_requests, unsigned pool_size);
void gw_proxy__uconn_close(struct gw_proxy__uconn *uc);
void gw_proxy__uconn_arm(struct gw_proxy__uconn *uc);
void gw_proxy__uconn_update_reading(struct gw_proxy__uconn *uc);
/* Called by upstream.c into request.c */
void gw_proxy__req_connected(struct gw_proxy__req *r);
void gw_proxy__req_upstream_failed(struct gw_proxy__req *r, enum gw_proxy__fail why);
void gw_proxy__req_upstream_written(struct gw_proxy__req *r);
/* ... and into response.c */
void gw_proxy__req_upstream_data(struct gw_proxy__req *r, const char *p, size_t n);
void gw_proxy__req_upstream_eof(struct gw_proxy__req *r);

/* A connection's one timer with a lazy deadline: *due becomes loop time +
 * @ms and @t is restarted only when it is stopped or would fire later than
 * that, so moving a deadline later (every request on a keep-alive
 * connection) is a store, not a timer-heap update. A callback that fires
 * before *due calls gw_proxy__timer_early, which re-arms for the rest; a
 * phase with no deadline leaves the timer running and its callback ignores
 * it. Worker thread only. */
static inline void gw_proxy__timer_set(uv_timer_t *t, uv_timer_cb cb, uint64_t *due, uint64_t ms)
{
	*due = uv_now(t->loop) + ms;
	if (!uv_is_active((const uv_handle_t *)t) || uv_timer_get_due_in(t) > ms) {
		uv_timer_start(t, cb, ms, 0);
	}
}
/* In @t's callback: true (and @t re-armed) while @due is still ahead. */
static inline bool gw_proxy__timer_early(uv_timer_t *t, uv_timer_cb cb, uint64_t due)
{
	uint64_t now = uv_now(t->loop);
	if (now >= due) {
		return false;
	}
	uv_timer_start(t, cb, due - now, 0);
	return true;
}
/* Most body bytes ever queued for one peer of one request (the tests check
 * that back-pressure bounds it). */
extern atomic_size_t gw_proxy__queued_hwm;
static inline void gw_proxy__note_queued(size_t n)
{
	size_t cur = atomic_load_explicit(&gw_proxy__queued_hwm, memory_order_relaxed);
	while (n > cur && !atomic_compare_exchange_weak(&gw_proxy__queued_hwm, &cur, n)) {
	}
}

/* Worker loops that ended with live handles (a bug; tests assert 0). */
extern atomic_int gw_proxy__unclean_loops;

/* server.c: the struct the workers share. */
struct gw_proxy {
	struct gw_proxy_opts opts; /* copy, with defaults filled in */
	struct gw_addr *listen;    /* copy of opts.listen, ports resolved */
	struct gw_proxy__worker *workers;
	int n_workers;
	uv_mutex_t lock;             /* guards cfg */
	struct gw_proxy_config *cfg; /* current snapshot (one ref) */
	atomic_int n_listening;
	atomic_int n_configured;
	atomic_bool stopping;
	uv_sem_t started;
	struct gw_proxy__ops *ops; /* PROXY protocol, real-ip, access log, metrics (ops_int.h) */
	struct gw_proxy__health *health; /* upstream health checks (health_int.h) */
	struct gw_proxy__dns *dns;       /* host-name nodes' resolver (dns_int.h) */
	struct gw_proxy__tls *tls;       /* TLS listeners (tls_int.h), or NULL */
	SSL_CTX *up_ctx;                 /* client context of https upstreams (tls_up.c) */
};

#include "proxy/h2_int.h"
#include "proxy/ops_int.h"
#include "proxy/tls_int.h"

#endif
