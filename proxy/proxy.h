/* proxy.h: the HTTP data plane (APISIX-compatible routing and balancing).
 *
 * Happy path: the control thread compiles the committed /apisix/ keys into an
 * immutable, refcounted snapshot with gw_proxy_config_compile(), starts the
 * proxy with it (gw_proxy_start), and publishes a new snapshot after every
 * committed change (gw_proxy_publish). N worker threads, one libuv loop each,
 * accept on SO_REUSEPORT listeners, parse HTTP/1.x with Debian's
 * libhttp-parser, route by the snapshot they hold and stream requests and
 * responses to upstream nodes through per-worker keep-alive pools.
 *
 * Failure modes: a bad object in the store is skipped at compile time with
 * one log line (the rest still serve); a malformed or smuggling request gets
 * 400 and its connection is closed; unreachable upstreams give 502, upstream
 * read timeouts 504. Nothing on the request path reads LMDB or blocks.
 *
 * Threads: gw_proxy_start/gw_proxy_stop belong to one (control) thread;
 * gw_proxy_publish, gw_proxy_ready and the config functions may be called
 * from any thread. */
#ifndef GW_PROXY_H
#define GW_PROXY_H

#include "lib/addr.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gw_proxy;
struct gw_proxy_config;

struct gw_proxy_opts {
	const struct gw_addr *listen; /* array of n_listen addresses; port 0 = ephemeral */
	int n_listen;
	/* TLS listeners (certificates: the snapshot's ssls objects, by SNI);
	 * gw_proxy_port numbers them after the plain ones. */
	const struct gw_addr *tls_listen;
	int n_tls_listen;
	const char *tls_fallback_sni;   /* ssls name served for an unknown or absent SNI;
					 * NULL or "" = refuse (unrecognized_name) */
	int workers;                    /* worker threads; <= 0 means the number of CPUs */
	struct gw_proxy_config *config; /* initial snapshot or NULL; the proxy takes the
					 * caller's reference (also on failure) */
	/* Limits and timeouts; 0 selects the default shown. */
	size_t max_header_bytes;    /* 16 KiB: request line + headers -> 431 */
	size_t max_uri_bytes;       /* 8 KiB: request target -> 414 */
	uint64_t max_body_bytes;    /* 0 = unlimited (APISIX default); larger -> 413 */
	unsigned header_timeout_ms; /* 60 s: whole header block */
	unsigned body_timeout_ms;   /* 60 s: between two reads of the request body */
	unsigned send_timeout_ms;   /* 60 s: between two writes to the client */
	unsigned idle_timeout_ms;   /* 60 s: keep-alive wait for the next request */
	unsigned max_requests;      /* 1000: requests per client connection */
	unsigned drain_timeout_ms;  /* 5 s: gw_proxy_stop waits this long for in-flight */
	/* Operations (read at start; the strings need not outlive the call).
	 * A listener whose gw_addr.opts say "proxy_protocol" expects a PROXY
	 * protocol v1/v2 header on every connection. */
	const char *real_ip_from;      /* comma-separated CIDRs of trusted peers whose
					* X-Forwarded-For names the client; NULL = none */
	const char *access_log;        /* JSON lines to this path, "-" = stdout;
					* NULL, "" or "off" = no access log */
	const char *access_log_format; /* NULL or "": JSON lines; else nginx-style
					* "$remote_addr - [$time_local] \"$request\" $status" */
};

/* Bind every listener (SO_REUSEPORT, one socket per worker and address),
 * spawn the workers and return once all of them accept. Returns 0 and sets
 * *out, GW_EADDR when an address cannot be bound (logged here), GW_EINVAL for
 * bad options, GW_ENOMEM or GW_EIO. Ignores SIGPIPE process-wide (writes to
 * closed sockets must not kill the process). Control thread. */
int gw_proxy_start(const struct gw_proxy_opts *opts, struct gw_proxy **out);

/* Port actually bound for listen address @i (useful with port 0). Any thread. */
int gw_proxy_port(const struct gw_proxy *p, int i);

/* Swap in @cfg (takes the caller's reference; NULL is ignored) and wake every
 * worker. Workers switch between requests; requests in flight finish on the
 * snapshot they started with, which is freed when its last user lets go.
 * Any thread. */
void gw_proxy_publish(struct gw_proxy *p, struct gw_proxy_config *cfg);

/* True once every worker listens and holds a config snapshot. Any thread. */
bool gw_proxy_ready(const struct gw_proxy *p);

/* Stop accepting, let in-flight requests finish (at most drain_timeout_ms),
 * close every connection, join the workers and free @p and its reference to
 * the current snapshot. Control thread (the one that called start). */
void gw_proxy_stop(struct gw_proxy *p);

/* Counters since start, summed over the workers (each counter is exact;
 * the set is not one atomic snapshot). */
struct gw_proxy_stats {
	uint64_t connections;        /* client connections accepted */
	uint64_t active_connections; /* client connections open now */
	uint64_t requests;           /* requests finished (answered or aborted) */
	uint64_t status[6];          /* by status class: [2] = 2xx ... [5] = 5xx;
				      * [0] = aborted before any status */
	uint64_t upstream_failures;  /* connect errors, timeouts, resets, bad answers */
	uint64_t retries;            /* attempts on another node */
	int64_t revision;            /* of the snapshot published last, or -1 */
};

/* Fill @out. Any thread, until gw_proxy_stop. */
void gw_proxy_stats(struct gw_proxy *p, struct gw_proxy_stats *out);

/* Reopen the access log file by name (after logrotate moved it); the
 * writer thread does it before its next write. Any thread (a SIGUSR1
 * handler's loop), until gw_proxy_stop. */
void gw_proxy_reopen_logs(struct gw_proxy *p);

struct gw_buf;
/* Append the HTTP metrics in the Prometheus text format to @b (APISIX's
 * names: apisix_http_status, apisix_http_latency, apisix_bandwidth,
 * apisix_nginx_http_current_connections, apisix_http_requests_total, plus
 * apigw_access_log_* and apigw_http_series_overflow_total). Per-worker
 * counters summed now with relaxed loads. 0 or GW_ENOMEM. Any thread,
 * until gw_proxy_stop. */
int gw_proxy_metrics(struct gw_proxy *p, struct gw_buf *b);

/* One committed key/value pair of the /apisix/ prefix. Not owned. */
struct gw_proxy_kv {
	const char *key; /* e.g. "/apisix/routes/1" */
	size_t key_len;
	const char *value; /* JSON bytes */
	size_t value_len;
};

/* Compile @n pairs into a new snapshot with one reference owned by the
 * caller. Pure: reads only its arguments (the pairs may be freed after the
 * call). Routes, services and upstreams are understood; other keys are
 * ignored. Route insertion order (the last tie-breaker) is the order of
 * @kvs. A bad object (invalid JSON, schema error, missing upstream) is
 * skipped with one warning line. Returns 0, or GW_ENOMEM. Any thread. */
int gw_proxy_config_compile(const struct gw_proxy_kv *kvs, size_t n, int64_t revision,
			    struct gw_proxy_config **out);

/* Store revision the snapshot was compiled from. Any thread. */
int64_t gw_proxy_config_revision(const struct gw_proxy_config *cfg);

/* Number of routes that compiled (skipped ones not counted). Any thread. */
size_t gw_proxy_config_routes(const struct gw_proxy_config *cfg);

/* Take / drop a reference; the last unref frees the snapshot. NULL is
 * ignored. Any thread. */
void gw_proxy_config_ref(struct gw_proxy_config *cfg);
void gw_proxy_config_unref(struct gw_proxy_config *cfg);

#endif
