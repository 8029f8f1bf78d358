/* ops_int.h: what proxy/ offers to operators behind a load balancer: the
 * PROXY protocol (pp.c), trusted X-Forwarded-For (pp.c), the access log
 * (accesslog.c) and the HTTP metrics (ops.c). Included at the end of
 * conn_int.h.
 *
 * Threads: gw_proxy__ops_init/_close run on the control thread around the
 * workers' lives; every gw_proxy__ops_req_* and gw_proxy__pp_* hook runs on
 * the worker that owns the connection; the scrape (gw_proxy_metrics) and
 * gw_proxy_reopen_logs may run on any thread. */
#ifndef GW_PROXY_OPS_INT_H
#define GW_PROXY_OPS_INT_H

#include "proxy/proxy_int.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

struct gw_proxy;
struct gw_proxy__dconn;
struct gw_proxy__req;
struct gw_proxy__worker;

/* ---- PROXY protocol header parser (pure) */

/* Longest v2 header accepted, signature and TLVs included (the spec allows
 * 16 + 65535 bytes; nobody sends that much, and a peer that does is cut). */
#define GW_PROXY__PP_MAX 4096
/* Longest v1 line, "\r\n" included (the spec's limit). */
#define GW_PROXY__PP_V1_MAX 107

struct gw_proxy__pp {
	int version;                      /* 1 or 2 */
	bool local;                       /* v2 LOCAL, v1 UNKNOWN, v2 UNSPEC/UNIX: keep the socket's
					   * addresses */
	struct sockaddr_storage src, dst; /* when !local: AF_INET or AF_INET6 */
	size_t len;                       /* header bytes, TLVs included */
};

/* Parse a PROXY protocol v1 or v2 header at the start of @p (@n bytes; @p
 * may be NULL when @n is 0). Returns 1 with @out filled when a complete,
 * valid header is there, 0 when the bytes so far are a valid beginning of
 * one (more are needed), -1 when they can never become one. Reads only
 * p[0..n). Pure; any thread. */
int gw_proxy__pp_parse(const char *p, size_t n, struct gw_proxy__pp *out);

/* ---- hooks called by conn.c */

/* A connection was accepted on listener @lsn: on a proxy_protocol listener,
 * wait for the header (bounded by a timer) before any HTTP. */
void gw_proxy__pp_accept(struct gw_proxy__dconn *dc, uv_stream_t *lsn);
/* While dc->pp_wait: consume header bytes from @p and @n. Returns true when
 * the header is complete and @p, @n hold the bytes after it (HTTP goes on with
 * them), false when everything was consumed (waiting for more, the
 * connection was closed, or the rest was fed already). */
bool gw_proxy__pp_take(struct gw_proxy__dconn *dc, const char **p, size_t *n);

/* ---- client address of a request */

/* The request's remote address after the PROXY header and trusted
 * X-Forwarded-For: text (NUL-terminated) and socket address. */
struct gw_proxy__raddr {
	struct sockaddr_storage ss;
	char ip[48];
};
/* Set r->ra per --real-ip-from: walk X-Forwarded-For (every such header,
 * in order) from the right while the address so far is trusted; the first
 * untrusted entry is the client. A malformed entry ends the walk (the
 * address stays the last good one). Worker thread. */
void gw_proxy__pp_real_ip(struct gw_proxy__req *r);
const char *gw_proxy__req_remote_ip(const struct gw_proxy__req *r);
const struct sockaddr *gw_proxy__req_remote_sa(const struct gw_proxy__req *r);

/* ---- request hooks (ops.c) */

/* First byte of a request (http_parser's message begin). */
void gw_proxy__ops_req_begin(struct gw_proxy__req *r);
/* The request head is complete (before routing): real-ip, counters. */
void gw_proxy__ops_req_head(struct gw_proxy__req *r);
/* The request ends (answered or aborted): access log line, metrics. */
void gw_proxy__ops_req_done(struct gw_proxy__req *r);

/* ---- state of one proxy (struct gw_proxy.ops) */

struct gw_proxy__series;   /* one metrics label set of one worker, ops.c */
struct gw_proxy__logchunk; /* access log bytes handed to the writer, accesslog.c */
struct gw_proxy__logfmt;   /* compiled access log format, accesslog.c */

/* Per worker: written by its worker only (the atomics are read by scrapes). */
struct gw_proxy__wops {
	struct gw_proxy__series *series; /* metrics: MAX_SERIES slots, open addressing */
	size_t n_series;
	atomic_uint_fast64_t overflow;
	atomic_int_fast64_t reading, writing; /* requests in each state now */
	struct gw_proxy__logchunk *cur;       /* access log lines not yet pushed */
	uv_prepare_t check;                   /* pushes cur before each poll */
	bool check_on;
	bool closed; /* the loop is closing: lines are pushed at once */
};

/* What the access log and the metrics say about a finished request. */
struct gw_proxy__outcome {
	int status;
	const char *route;  /* "" when unrouted */
	char node[48];      /* upstream node IP, "" when none */
	const char *upaddr; /* "ip:port" or NULL */
	int up_status;      /* 0 = none */
	uint64_t req_us, up_us;
	bool has_up_time;
	uint64_t in_bytes, out_bytes;
	/* the authenticated consumer (plugin_int.h), or "" */
	const char *consumer;
	/* routes with the prometheus plugin (plugin_prometheus.c), else "" */
	const char *service, *matched_uri, *matched_host;
};

struct gw_proxy__ops {
	bool *pp_listen;                /* per listener: a PROXY header comes first */
	unsigned pp_timeout_ms;         /* to receive it */
	struct gw_proxy__cidr *trusted; /* --real-ip-from; immutable after init */
	size_t n_trusted;
	struct gw_proxy__wops *w; /* n_workers entries, each written by its worker */
	int n_workers;
	/* access log: workers push chunks (lock-free stack), one thread writes */
	bool log_on;
	char log_path[4096];          /* "-" = stdout */
	struct gw_proxy__logfmt *fmt; /* NULL: JSON lines */
	size_t n_fmt;
	int log_fd;                                /* writer thread only */
	_Atomic(struct gw_proxy__logchunk *) head; /* pushed chunks, newest first */
	atomic_size_t queued;                      /* bytes pushed, not yet written */
	atomic_uint_fast64_t dropped;              /* lines dropped: writer behind */
	atomic_uint_fast64_t written;              /* lines written */
	atomic_bool reopen, stop;
	atomic_bool writer_done; /* the writer thread returned */
	uv_sem_t wake;
	uv_thread_t writer;
	bool writer_started;
};

/* ---- life cycle (server.c) */

/* Parse the listeners' options and the ops settings of p->opts, open the
 * access log and start its writer. 0, GW_EINVAL (logged) or GW_EIO. Control
 * thread, before the workers start. */
int gw_proxy__ops_init(struct gw_proxy *p);
/* Worker @w is about to close its loop: hand over its last log lines and
 * close its handles (accesslog.c). Worker thread. */
void gw_proxy__ops_worker_close(struct gw_proxy__worker *w);
/* Flush and stop the writer, free everything. NULL-safe. Control thread,
 * after the workers were joined. */
void gw_proxy__ops_close(struct gw_proxy *p);

/* ---- access log (accesslog.c), called by ops.c */

/* Open @o->access_log ("-" = stdout; NULL, "" or "off": no log, 0) with
 * @o->access_log_format (NULL or "": JSON lines) into @ops and start the
 * writer thread. 0, GW_EINVAL (logged), GW_ENOMEM or GW_EIO. Control
 * thread. */
int gw_proxy__log_init(struct gw_proxy__ops *ops, const struct gw_proxy_opts *o);
/* Append the line of the finished request @r to its worker's chunk (or
 * count it dropped). Worker thread. */
void gw_proxy__log_line(struct gw_proxy__req *r, const struct gw_proxy__outcome *o);
/* Let the writer flush what was pushed and stop. False when it is stuck
 * (then @ops must be abandoned, never freed: the thread still uses it).
 * Control thread, after the workers were joined. */
bool gw_proxy__log_stop(struct gw_proxy__ops *ops);
/* Free the log's file, semaphore, chunks and format (the writer stopped). */
void gw_proxy__log_free(struct gw_proxy__ops *ops);

#endif
