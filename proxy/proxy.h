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
	size_t max_header_bytes;           /* 16 KiB: request line + headers -> 431 */
	size_t max_uri_bytes;              /* 8 KiB: request target -> 414 */
	uint64_t max_body_bytes;           /* 0 = unlimited (APISIX default); larger -> 413 */
	unsigned header_timeout_ms;        /* 60 s: whole header block */
	unsigned body_timeout_ms;          /* 60 s: between two reads of the request body */
	unsigned send_timeout_ms;          /* 60 s: between two writes to the client */
	unsigned idle_timeout_ms;          /* 60 s: keep-alive wait for the next request */
	unsigned tls_handshake_timeout_ms; /* 10 s: accept (or PROXY header) to TLS finished */
	unsigned max_requests;             /* 1000: requests per client connection */
	unsigned drain_timeout_ms;         /* 5 s: gw_proxy_stop waits this long for in-flight */
	bool h2c;                          /* HTTP/2 by prior knowledge on the plain listeners */
	bool no_h2;                        /* no ALPN h2 on the TLS listeners (HTTP/1.1 only) */
	/* Operations (read at start; the strings need not outlive the call).
	 * A listener whose gw_addr.opts say "proxy_protocol" expects a PROXY
	 * protocol v1/v2 header on every connection. */
	const char *real_ip_from;      /* comma-separated CIDRs of trusted peers whose
					* X-Forwarded-For names the client; NULL = none */
	const char *access_log;        /* JSON lines to this path, "-" = stdout;
					* NULL, "" or "off" = no access log */
	const char *access_log_format; /* NULL or "": JSON lines; else nginx-style
					* "$remote_addr - [$time_local] \"$request\" $status" */
	/* Host-name upstream nodes (docs/health.md). */
	const char *resolvers;   /* "ip[:port],..."; NULL or "" = /etc/resolv.conf */
	unsigned dns_min_ttl_ms; /* 1 s: TTL floor */
	unsigned dns_max_ttl_ms; /* 300 s: TTL ceiling */
	bool dns_ipv6;           /* resolve AAAA too (the flag's default: on) */
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

/* Upstream health checks in the shapes of APISIX's control API: with @key
 * NULL, a JSON array of every checked upstream; else the object of the
 * upstream whose key is @key ("/apisix/upstreams/1", "/apisix/routes/2"
 * for an inline one): {"name", "type", "nodes": [{"ip", "port", "hostname",
 * "status" (healthy | mostly_healthy | mostly_unhealthy | unhealthy),
 * "counter": {"success", "http_failure", "tcp_failure",
 * "timeout_failure"}}]}. Returns 0 with *out malloc'ed (the caller frees
 * it), GW_ENOTFOUND or GW_ENOMEM. Any thread, until gw_proxy_stop. */
int gw_proxy_health_json(struct gw_proxy *p, const char *key, char **out);

/* The resolver of host-name upstream nodes: {"resolvers", "min_ttl",
 * "max_ttl" (seconds), "names": [{"name", "status" (ok | pending | failing:
 * the last good addresses are kept | unresolved: failing, none yet),
 * "addresses": ["ip", ...], "ttl" (of the last good answer), "error" (the
 * last failure, or ""), "failures"}]}. Returns 0 with *out malloc'ed (the
 * caller frees it) or GW_ENOMEM. Any thread, until gw_proxy_stop. */
int gw_proxy_dns_json(struct gw_proxy *p, char **out);

/* One committed key/value pair of the /apisix/ prefix. Not owned. */
struct gw_proxy_kv {
	const char *key; /* e.g. "/apisix/routes/1" */
	size_t key_len;
	const char *value; /* JSON bytes; NULL: the key was deleted (gw_proxy_cache_apply) */
	size_t value_len;
	int64_t create_revision; /* route order; 0 = the order of the input */
	int64_t mod_revision;    /* 0 = unknown (always recompiled) */
};

/* Compile @n pairs into a new snapshot with one reference owned by the
 * caller. Pure: reads only its arguments (the pairs may be freed after the
 * call). Routes, services and upstreams are understood; other keys are
 * ignored. Route insertion order (the last tie-breaker) is create_revision
 * (then the id), or the order of @kvs where it is 0. A bad object (invalid
 * JSON, schema error, missing upstream) is skipped with one warning line.
 * Returns 0, or GW_ENOMEM. Any thread. */
int gw_proxy_config_compile(const struct gw_proxy_kv *kvs, size_t n, int64_t revision,
			    struct gw_proxy_config **out);

/* An incremental compiler: keeps every object compiled from the previous
 * calls (per key, keyed by its mod_revision) and what depends on what, so a
 * change recompiles only the changed objects and their dependents (a route
 * depends on its upstream, service and plugin_config; a service on its
 * upstream); compiled objects are shared, reference-counted, between the
 * snapshots it makes. The router of a snapshot is an older one's updated
 * in place when no snapshot still uses it, else a copy. One thread
 * at a time per cache (a compile thread); the snapshots it makes may be
 * used and released on any thread, also after gw_proxy_cache_free. */
struct gw_proxy_cache;

struct gw_proxy_cache_stats {
	uint64_t objects_compiled; /* objects compiled since new */
	uint64_t last_compiled;    /* by the last call (changed + dependents) */
	uint64_t router_copies;    /* snapshots whose router had to be copied */
	uint64_t router_reuses;    /* snapshots that updated a router in place */
	size_t entries;            /* keys known */
};

/* A new, empty cache. 0 or GW_ENOMEM. */
int gw_proxy_cache_new(struct gw_proxy_cache **out);
/* Free the cache; snapshots it made stay valid until their last unref. */
void gw_proxy_cache_free(struct gw_proxy_cache *cc);
/* Apply @n changes (puts, or deletes where value is NULL) committed up to
 * @revision and make a snapshot of the whole config (one reference for the
 * caller). 0 or GW_ENOMEM (then *out is untouched and the cache must be
 * resynchronised with gw_proxy_cache_sync before the next apply). */
int gw_proxy_cache_apply(struct gw_proxy_cache *cc, const struct gw_proxy_kv *changes, size_t n,
			 int64_t revision, struct gw_proxy_config **out);
/* As apply, from the whole config @kvs (keys absent from it are deleted;
 * pairs whose mod_revision is known and unchanged are not recompiled). */
int gw_proxy_cache_sync(struct gw_proxy_cache *cc, const struct gw_proxy_kv *kvs, size_t n,
			int64_t revision, struct gw_proxy_config **out);
void gw_proxy_cache_stats(const struct gw_proxy_cache *cc, struct gw_proxy_cache_stats *out);
/* Resolve host-name nodes with @p's resolver from now on (the cache keeps a
 * reference to it, also past gw_proxy_stop): a name node becomes one node
 * per address, and the objects using a name are recompiled by the next
 * apply after its addresses change. @changed(@arg) is then called on the
 * resolver thread (it must only wake a loop, e.g. uv_async_send) until
 * gw_proxy_cache_dns_notify(cc, NULL, NULL) or the cache is freed. Without
 * it, name nodes give no node. Before the cache's first apply or sync (or
 * on a cache that met no host name: gw_proxy_cache_names_unresolved),
 * control thread. */
void gw_proxy_cache_use_dns(struct gw_proxy_cache *cc, struct gw_proxy *p,
			    void (*changed)(void *arg), void *arg);
/* Whether @cc compiled host-name nodes without a resolver (they gave no
 * node): such a cache must be synced again once one is set. */
bool gw_proxy_cache_names_unresolved(const struct gw_proxy_cache *cc);
/* Change or (NULL) stop the callback of gw_proxy_cache_use_dns. Any thread. */
void gw_proxy_cache_dns_notify(struct gw_proxy_cache *cc, void (*changed)(void *arg), void *arg);

/* A dry run (config_dryrun.c): what a change would do to the compiled
 * config. */
struct gw_proxy_dry_run {
	char **routes; /* ids of the routes whose compiled form changes (sorted) */
	size_t n_routes;
	char *error; /* NULL, or why a changed object (or one it reaches) would be
			skipped: "route 1: upstream_id 9 not found" */
};
/* Compile @kvs (the config as stored at @revision), then the same with
 * @changes applied (value NULL: deleted), and compare route by route
 * (hosts, uris, methods, priority, remote addresses, timeouts, upstream
 * nodes and settings, plugins and vars). An object that fails only in the
 * second compile is out->error. 0 (free @out with gw_proxy_dry_run_free)
 * or GW_ENOMEM. Pure, any thread; costs one full compile plus the change. */
int gw_proxy_config_dry_run(const struct gw_proxy_kv *kvs, size_t n,
			    const struct gw_proxy_kv *changes, size_t n_changes, int64_t revision,
			    struct gw_proxy_dry_run *out);
void gw_proxy_dry_run_free(struct gw_proxy_dry_run *d);

/* Store revision the snapshot was compiled from. Any thread. */
int64_t gw_proxy_config_revision(const struct gw_proxy_config *cfg);

/* Number of routes that compiled (skipped ones not counted). Any thread. */
size_t gw_proxy_config_routes(const struct gw_proxy_config *cfg);

/* Take / drop a reference; the last unref frees the snapshot. NULL is
 * ignored. Any thread. */
void gw_proxy_config_ref(struct gw_proxy_config *cfg);
void gw_proxy_config_unref(struct gw_proxy_config *cfg);

#endif
