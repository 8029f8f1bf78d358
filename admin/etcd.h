/* etcd.h: the etcd v3 API of a node (etcdctl, clientv3, APISIX's
 * lua-resty-etcd) served over the replicated store.
 *
 * One TCP listener serves two protocols; the first bytes of a connection
 * select: the HTTP/2 client preface means gRPC over h2c (prior knowledge, as
 * etcdctl speaks it), anything else is HTTP/1.1 for the v3 JSON gateway
 * (/v3/kv/range, /v3/watch, ...), GET /version and /health, and the
 * node-to-node channel under /apigw/internal/ (handed to raft). With a
 * certificate configured the listener also speaks TLS (a handshake record as
 * first byte selects it) for both protocols, with optional client
 * certificates; cleartext then reaches only /apigw/internal/.
 * Writes go through gw_raft_propose() (any node; raft forwards to the leader),
 * reads are linearizable (read barrier, then the local store) unless the
 * request asks for a serializable read. Errors carry etcd's gRPC codes and
 * messages, or the gateway's HTTP status and JSON error body.
 *
 * The process must ignore SIGPIPE (as apigw's main does): a client that
 * hangs up makes a socket write fail with EPIPE, which is handled.
 * Threads: everything runs on the loop given to gw_etcd_start (the control
 * loop, the one that owns the store and the raft); every call must come from
 * that loop's thread. */
#ifndef GW_ETCD_H
#define GW_ETCD_H

#include "lib/addr.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct gw_etcd;
struct gw_store;
struct gw_raft;

#define GW_ETCD_DEFAULT_MAX_REQUEST   1572864u /* 1.5 MiB, etcd's --max-request-bytes */
#define GW_ETCD_DEFAULT_MAX_STREAMS   256u     /* concurrent HTTP/2 streams per connection */
#define GW_ETCD_DEFAULT_MAX_WATCHERS  4096u    /* watches per connection (gRPC) or request */
#define GW_ETCD_DEFAULT_STREAM_BUFFER 8388608u /* bytes queued per stream: slow watcher cut */
#define GW_ETCD_DEFAULT_READ_TIMEOUT  5000u    /* linearizable read deadline, ms */
#define GW_ETCD_DEFAULT_PROGRESS      600000u  /* progress_notify interval, ms (etcd: 10 min) */
#define GW_ETCD_DEFAULT_MAX_CONNS     1024u    /* per stage: sniffing, HTTP/1.x, HTTP/2 */
#define GW_ETCD_DEFAULT_RESERVE_CONNS 64u      /* of those, for loopback and members only */
#define GW_ETCD_DEFAULT_IDLE_TIMEOUT  300000u  /* no request or stream open, ms */
#define GW_ETCD_DEFAULT_TRUSTED       "127.0.0.0/8,::1/128"
#define GW_ETCD_DEFAULT_TOKEN_TTL     300000u /* etcd auth tokens, ms (etcd: 5 min) */

struct gw_etcd_opts {
	struct gw_store *store;      /* required; must outlive the server */
	struct gw_raft *raft;        /* NULL = standalone: writes applied to the local store
					directly (tests, single process); must outlive the server */
	size_t max_request_bytes;    /* 0 = GW_ETCD_DEFAULT_MAX_REQUEST */
	unsigned max_streams;        /* 0 = GW_ETCD_DEFAULT_MAX_STREAMS */
	unsigned max_watchers;       /* 0 = GW_ETCD_DEFAULT_MAX_WATCHERS */
	size_t max_stream_buffer;    /* 0 = GW_ETCD_DEFAULT_STREAM_BUFFER */
	unsigned read_timeout_ms;    /* 0 = GW_ETCD_DEFAULT_READ_TIMEOUT */
	unsigned write_timeout_ms;   /* 0 = raft's default proposal deadline */
	bool apisix_read_only;       /* --standalone: writes under /apisix/ refused
					(GW_ESTANDALONE) */
	unsigned progress_notify_ms; /* 0 = GW_ETCD_DEFAULT_PROGRESS */
	/* Connection caps, each stage on its own (not yet sniffed, HTTP/1.x,
	 * HTTP/2): over max_conns - reserve_conns only loopback and the hosts
	 * of the cluster's members (raft addresses) are admitted; refusals
	 * are logged rate limited and counted (gw_etcd_refused). */
	unsigned max_conns;       /* 0 = GW_ETCD_DEFAULT_MAX_CONNS */
	unsigned reserve_conns;   /* 0 = GW_ETCD_DEFAULT_RESERVE_CONNS */
	unsigned idle_timeout_ms; /* 0 = GW_ETCD_DEFAULT_IDLE_TIMEOUT: HTTP/1.x keep-alive and
				     HTTP/2 connections without streams are closed after it */
	/* TLS for both protocols (PEM files, read by gw_etcd_start only).
	 * tls_cert NULL = cleartext. With TLS, cleartext connections are
	 * served only the node-to-node routes /apigw/internal/ (raft's peer
	 * channel, authenticated by the join secret). tls_client_ca set =
	 * clients must present a certificate signed by it. */
	const char *tls_cert;      /* certificate chain */
	const char *tls_key;       /* private key (NULL = in tls_cert) */
	const char *tls_client_ca; /* CA bundle for client certificates, or NULL */
	/* Access control (etcd_auth.c). Clients from these CIDRs (comma-
	 * separated; NULL = GW_ETCD_DEFAULT_TRUSTED) are "on this host": while
	 * etcd auth is disabled they need nothing, as before. Others need a
	 * client certificate the TLS listener verified, or etcd auth enabled
	 * and a token (or a certificate whose CN names a user). */
	const char *trusted_cidrs;
	bool no_audit; /* do not record writes in the audit log (admin/apisix_audit.c) */
	unsigned auth_token_ttl_ms; /* 0 = GW_ETCD_DEFAULT_TOKEN_TTL */
};

/* Start serving on @listen. 0, or GW_EADDR (address in use or not
 * bindable; logged here) / GW_ENOMEM / GW_EINVAL (no store). On success *out
 * is owned by the caller until gw_etcd_stop. The options are copied. */
int gw_etcd_start(uv_loop_t *loop, const struct gw_addr *listen, const struct gw_etcd_opts *opts,
		  struct gw_etcd **out);

/* Bound port (useful with port 0 in tests). */
int gw_etcd_port(const struct gw_etcd *e);

/* Connections the caps refused so far (all stages). */
uint64_t gw_etcd_refused(const struct gw_etcd *e);

/* Stop accepting, close every connection (streams and watches end), then
 * call @cb. Calls still waiting on raft finish quietly when raft answers
 * them (gw_raft_stop fails them), so stop the etcd API before the raft.
 * @e must not be used after this call. */
void gw_etcd_stop(struct gw_etcd *e, void (*cb)(void *data), void *data);

#endif
