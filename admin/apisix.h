/* apisix.h: the APISIX-compatible Admin API (default 127.0.0.1:9180).
 *
 * Users of Apache APISIX drive the gateway through /apisix/admin: routes,
 * services, upstreams, consumers (+ credentials), ssls, global_rules,
 * plugin_configs, consumer_groups, plugin_metadata, stream_routes, protos,
 * secrets. Objects live at APISIX's etcd keys (/apisix/routes/<id>, ...) as
 * the same JSON, so the etcd API and the Admin API see one keyspace.
 *
 * Happy path: lib/httpd.h parses a request, the handler authenticates it
 * (X-API-KEY, ?api_key=, cookie x_api_key; admin and viewer roles; client
 * allow-list), validates the body against APISIX's schemas, turns it into
 * ONE store TXN (the write plus compares that make the referential-integrity
 * checks and compare-and-swap atomic with it), proposes it through raft and
 * answers when the cluster has committed it.
 *
 * Reads are serializable: GETs are answered from the local store without a
 * raft round trip, so they keep answering while the cluster has no quorum
 * (the product's promise: config stays readable and traffic keeps flowing).
 * They may lag the leader by the replication delay.
 *
 * Failure modes: bad input gets a 4xx with APISIX's error shape and the
 * store is unchanged; a write without quorum gets 503 {"error_msg": cause}
 * within the write deadline.
 *
 * The same listener serves the dashboard at /ui/ (static files embedded at
 * build time, apisix_ui.h; docs/dashboard.md), which calls this API.
 *
 * Threads: everything runs on the loop given to gw_admin_start (the control
 * loop, the same loop as the store and raft). */
#ifndef GW_ADMIN_APISIX_H
#define GW_ADMIN_APISIX_H

#include "lib/addr.h"

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct gw_store;
struct gw_raft;
struct gw_admin;

/* One proposed change of a key under /apisix/ (gw_admin_opts.config_check). */
struct gw_admin_change {
	const char *key;
	const char *value; /* NUL-terminated JSON, or NULL: deleted */
};

/* The answer of a config_check. */
struct gw_admin_check {
	int err;                   /* 0, GW_EINVAL (would not compile: @error), or another error */
	const char *error;         /* "route 1: upstream_id 9 not found", or NULL */
	const char *const *routes; /* ids of the routes whose compiled form changes */
	size_t n_routes;
	int64_t revision; /* store revision compiled against */
};

struct gw_admin_opts {
	struct gw_store *store;    /* local store for reads; must outlive the admin */
	struct gw_raft *raft;      /* proposals; must outlive the admin */
	const char *admin_key;     /* full access; NULL or "" = adopt the cluster's key */
	const char *data_dir;      /* adopting: the adopted key is saved to <data_dir>/admin.key */
	bool publish_key;          /* make admin_key the cluster's key if it has none yet */
	const char *viewer_key;    /* NULL or "" = no viewer role: GET only */
	const char *allow_cidrs;   /* comma-separated CIDRs; NULL = "127.0.0.0/24" */
	unsigned write_timeout_ms; /* proposal deadline; 0 = raft's default */
	uint64_t audit_retention_ms; /* audit records kept (apisix_audit.c); 0 = 7 days */
	/* The node's own data for the dashboard's health and traffic pages
	 * (GET /apisix/admin/node/health and /node/metrics, read access like
	 * every Admin read): @what "health" -> the control API's
	 * /v1/healthcheck JSON, "metrics" -> the Prometheus text of the proxy's
	 * metrics. 0 with *out malloc'ed (*len bytes; the caller frees) or an
	 * error (GW_EUNHEALTHY: the proxy is not running). NULL: those answer
	 * 503. Called on the loop thread. */
	int (*node_read)(void *data, const char *what, char **out, size_t *len);
	void *node_data;
	/* ?dry_run=true compiles (issue 20): compile the config as stored with
	 * @n changes applied (value NULL: a delete) with the proxy's compiler,
	 * off the loop thread, then call @done(@arg, @r) on the loop thread
	 * (exactly once, also when stopping). Returns 0 (done will be called) or
	 * an error (GW_EBUSY: too many compiles running; done is not called).
	 * NULL: dry runs report routes by reference only. Loop thread. */
	int (*config_check)(void *data, const struct gw_admin_change *changes, size_t n,
			    void (*done)(void *arg, const struct gw_admin_check *r), void *arg);
	void *config_check_data;
	SSL_CTX *tls_ctx;            /* NULL = cleartext; else served over TLS (lib/httpd.h; the
				      * listener takes its own reference) */
	const char *standalone_file; /* NULL or "": writable; else the config comes from this
					file (--standalone) and writes are refused */
	const char *audit_log;       /* NULL or "": none; else append every audit record to
					this file as JSON lines (--audit-log) */
};

/* Start the Admin API on @listen. The strings of @opts are copied. 0, or
 * GW_EINVAL (bad CIDR / empty admin key, logged), GW_EADDR (cannot bind),
 * GW_ENOMEM. *out is owned by the caller until gw_admin_stop. Loop thread. */
int gw_admin_start(uv_loop_t *loop, const struct gw_addr *listen, const struct gw_admin_opts *opts,
		   struct gw_admin **out);

/* Reopen the --audit-log file (SIGHUP, after logrotate moved it). Loop
 * thread. */
void gw_admin_reopen_logs(struct gw_admin *a);

/* Bound port (tests with port 0). */
int gw_admin_port(const struct gw_admin *a);

/* TLS connections of the listener closed for a TLS failure (lib/httpd.h),
 * and whether it serves TLS. */
uint64_t gw_admin_tls_failures(const struct gw_admin *a);
bool gw_admin_is_tls(const struct gw_admin *a);

/* Stop accepting and close connections, then call @cb(@data). Requests
 * whose proposal is still in raft are answered (or dropped if the client is
 * gone) when raft calls back, which it does at the latest in gw_raft_stop;
 * the admin frees itself after that. Call before gw_raft_stop. Loop thread. */
void gw_admin_stop(struct gw_admin *a, void (*cb)(void *data), void *data);

/* The cluster's admin key is replicated: a node that generated or was
 * given its key publishes it (store metadata GW_ADMIN_KEY_META, written
 * through raft, only while the cluster has none), and a joining node without
 * --admin-key and without a key file adopts it as soon as its store has
 * caught up, saving it to <data-dir>/admin.key (mode 0600). Until then it
 * answers 401 "wrong apikey". */
#define GW_ADMIN_KEY_META "admin/key"

/* The admin key of a node: @flag_key if non-empty (--admin-key); else the
 * key stored in <data_dir>/admin.key; else, with @generate, a new random key
 * (32 hex characters) written there with mode 0600, whose path is logged.
 * @out gets the NUL-terminated key. 0, GW_ENOTFOUND (no key and not
 * @generate: adopt the cluster's), or GW_EIO / GW_EINVAL (logged). Any
 * thread, before the loop runs. */
int gw_admin_key_load(const char *data_dir, const char *flag_key, bool generate, char *out,
		      size_t outlen);

/* Save @key to <data_dir>/admin.key with mode 0600 (replacing it
 * atomically). 0 or GW_EIO (logged). */
int gw_admin_key_save(const char *data_dir, const char *key);

/* The check of a value written to the store around the Admin API (the etcd
 * API's Put, and the puts of a Txn): when @key (@key_len bytes) names an
 * object of a resource the Admin API serves (/apisix/routes/<id>,
 * /apisix/consumers/<user>/credentials/<id>, /apisix/secrets/<mgr>/<id>,
 * ...), the @value_len bytes at @value must be strict JSON (lib/json.h: no
 * duplicate key, no trailing bytes) and pass gw_schema_check as the proxy
 * runs it before compiling (GW_SCHEMA_PROXY), so nothing is stored that the
 * data plane would skip. Other keys pass unchecked: outside /apisix/,
 * directory placeholders ("/apisix/routes/" = "init_dir"), /apisix/plugins,
 * /apisix/data_plane/..., keys below an object. Returns 0; GW_EINVAL with
 * "<key> is not a valid <type>: <reason>" in @err (the key's non-printable
 * bytes shown as '?'); GW_ENOMEM. Any thread (schema/ is read-only). */
int gw_admin_check_stored(const char *key, size_t key_len, const char *value, size_t value_len,
			  char *err, size_t errlen);
/* A write committed through the etcd API, for the audit log. */
struct gw_admin_audit_etcd {
	const char *user; /* authenticated etcd user, "" = none */
	const char *how;  /* how a userless client was let in: "local", "certificate CN=x",
			     or NULL */
	const char *op;   /* "Put", "DeleteRange", "Txn" */
	const char *key;  /* the (first) key written, or NULL */
	size_t n_keys;    /* keys the op names (a txn's puts and deletes) */
	int64_t revision; /* the write's revision */
};
/* Record @w in the audit log (apisix_audit.c: node metadata, the last
 * 10,000 per node) with one more proposal through @r; @seq picks this
 * node's next slot. Failures are logged, never returned. Loop thread. */
void gw_admin_audit_etcd(struct gw_raft *r, unsigned *seq, const struct gw_admin_audit_etcd *w);
#endif
