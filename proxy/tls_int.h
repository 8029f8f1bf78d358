/* tls_int.h: TLS termination of proxy/ (internals shared by ssl.c, tls.c,
 * config.c, server.c and conn.c).
 *
 * ssl.c compiles the ssls objects of a snapshot into an SNI table: one
 * SSL_CTX per enabled server object (its cert/key pairs, RSA and ECDSA side
 * by side) reachable by exact name and by wildcard suffix, plus the client
 * objects by id (certificates the proxy presents to upstreams). The table
 * belongs to the snapshot; a connection that picked a context holds its
 * own reference to it (SSL_set_SSL_CTX), so it keeps its certificate when
 * the snapshot is replaced.
 *
 * tls.c is the transport: listeners from --proxy-tls-listen accept into
 * connections whose transport decrypts with lib/tlsbio.h before the HTTP
 * layer sees a byte. The ClientHello callback looks the SNI up in the
 * worker's current snapshot (exact, wildcard, the fallback name, else
 * unrecognized_name). One base SSL_CTX per proxy holds the protocol policy
 * (Mozilla intermediate: TLS 1.2 and 1.3), ALPN and the session-ticket
 * keys, shared by every worker and rotated (tls.c).
 * Threads: tables are immutable after compile; the per-proxy state is
 * read-only after start except atomics and the ticket keys (under a lock). */
#ifndef GW_PROXY_TLS_INT_H
#define GW_PROXY_TLS_INT_H

#include "lib/buf.h"

#include <cjson/cJSON.h>
#include <openssl/ssl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct gw_proxy;
struct gw_proxy_kv;
struct gw_proxy__dconn;
struct gw_proxy__worker;
struct gw_proxy__ssl_table;

/* ---- ssl.c: the SNI table of a snapshot ---- */

/* One compiled server (or client) ssls object. */
struct gw_proxy__ssl_ent {
	SSL_CTX *ctx;    /* its certificates; one reference held by the table */
	int min_version; /* from ssl_protocols (TLS1_2_VERSION..), 0 = policy */
	int max_version; /* 0 = policy */
	char id[128];    /* object id, for logs */
	bool client;     /* type "client": for upstream mTLS only */
};

/* Compile the /apisix/ssls/ objects among @kvs into *out (NULL when there
 * is none). Invalid objects are skipped with one warning (as routes are).
 * 0 or GW_ENOMEM. Any thread. */
int gw_proxy__ssl_compile(const struct gw_proxy_kv *kvs, size_t n, int64_t revision,
			  struct gw_proxy__ssl_table **out);
/* A table is shared by the snapshots built while no ssls object changed:
 * ref takes one more reference, free drops one (the last frees it). */
void gw_proxy__ssl_table_ref(struct gw_proxy__ssl_table *t);
void gw_proxy__ssl_table_free(struct gw_proxy__ssl_table *t);

/* Compile an upstream's TLS settings (@https: its scheme; "tls": verify,
 * client_cert_id) into @up, strings in @arena (the upstream's unit). 0 or
 * GW_ENOMEM. */
struct gw_arena;
struct gw_proxy__upstream;
int gw_proxy__ssl_upstream(struct gw_arena *arena, const cJSON *j, bool https,
			   struct gw_proxy__upstream *up);

/* The server object for @name (lower-case, @len bytes): exact name, then
 * the longest wildcard suffix ("*.example.com" serves a.example.com and
 * a.b.example.com). NULL when none. @t may be NULL. */
const struct gw_proxy__ssl_ent *gw_proxy__ssl_lookup(const struct gw_proxy__ssl_table *t,
						     const char *name, size_t len);
/* The object of id @id (server or client), or NULL. */
const struct gw_proxy__ssl_ent *gw_proxy__ssl_by_id(const struct gw_proxy__ssl_table *t,
						    const char *id);
/* Number of server objects. */
size_t gw_proxy__ssl_count(const struct gw_proxy__ssl_table *t);

/* ---- tls.c: termination ---- */

/* Per-proxy TLS state: NULL when no TLS listener is configured. */
struct gw_proxy__tls;

/* Set up TLS for @p: listeners [n_plain, n_listen) of p->listen are TLS.
 * @fallback_sni: name used when the client's is unknown or absent (NULL or
 * "" = none). 0, GW_ENOMEM, GW_EIO (OpenSSL, logged). Control thread. */
int gw_proxy__tls_init(struct gw_proxy *p, int n_plain, const char *fallback_sni);
void gw_proxy__tls_free(struct gw_proxy *p);

/* Called by accept before reading starts: when @lsn is a TLS listener,
 * @dc's transport becomes TLS. Worker thread. */
void gw_proxy__tls_accept(struct gw_proxy__dconn *dc, uv_stream_t *lsn);

/* Release @dc's TLS state, if any (gw_proxy__dconn_free calls it). */
void gw_proxy__tls_conn_free(struct gw_proxy__dconn *dc);

/* The port of @p's first TLS listener (as bound), or 0 when it has none
 * (redirect's http_to_https). Any thread after start. */
int gw_proxy__tls_port(const struct gw_proxy *p);

/* True if @dc is a TLS connection (its transport is TLS). */
bool gw_proxy__tls_is(const struct gw_proxy__dconn *dc);

/* The handshake of @dc's TLS session did not finish in time: counted as a
 * failed handshake and logged (rate limited); the caller closes. */
void gw_proxy__tls_timed_out(struct gw_proxy__dconn *dc);

/* The value of TLS variable @name ("ssl_server_name", "ssl_protocol",
 * "ssl_cipher", "ssl_session_reused") for @dc into @out: bytes written, or
 * -1 when @name is not one of them; 0 (empty) on a plain connection. */
int gw_proxy__tls_var(const struct gw_proxy__dconn *dc, const char *name, size_t name_len,
		      char *out, size_t cap);

/* The protocol policy (TLS 1.2+, Mozilla intermediate ciphers and groups,
 * no compression or renegotiation, ALPN) on @ctx: the base context and
 * every ssls object's context get it, as OpenSSL serves the handshake with
 * the cipher list of the context the SNI switched to. 0 or GW_EIO (logged). */
int gw_proxy__tls_policy(SSL_CTX *ctx);

/* ALPN selection (h2 unless --proxy-http2 off, then http/1.1, else none):
 * part of the policy (the current context is the one OpenSSL asks). */
int gw_proxy__tls_alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
			  const unsigned char *in, unsigned int inlen, void *arg);

/* ---- tls_up.c: upstream connections over TLS ---- */

struct gw_proxy__req;
struct gw_proxy__node;
struct gw_proxy__uconn;

/* What a connection to an https upstream needs. */
struct gw_proxy__tls_up {
	bool on;                                /* scheme https */
	bool verify;                            /* tls.verify */
	bool client_missing;                    /* tls.client_cert_id names no client object */
	char sni[256];                          /* the Host sent upstream, without port */
	const struct gw_proxy__ssl_ent *client; /* client certificate, or NULL */
	uint64_t hash;                          /* of the above: the pool key's prefix */
};

/* The client context of @p (system CA bundle). 0 or GW_ENOMEM. */
int gw_proxy__tls_up_ctx_init(struct gw_proxy *p);
void gw_proxy__tls_up_ctx_free(struct gw_proxy *p);
/* Fill @out for request @r going to node @nd (out->on false: plain). */
void gw_proxy__tls_up_params(const struct gw_proxy__req *r, const struct gw_proxy__node *nd,
			     struct gw_proxy__tls_up *out);
/* Give @uc a client session for @prm (before it connects). 0, GW_ENOMEM,
 * GW_EINVAL (the client certificate cannot be used). */
int gw_proxy__tls_up_new(struct gw_proxy__uconn *uc, const struct gw_proxy__tls_up *prm);
/* Send the ClientHello (TCP connected). 0 or an error. */
int gw_proxy__tls_up_start(struct gw_proxy__uconn *uc);
/* Bytes from the upstream: the handshake, then decrypted data to the
 * request (gw_proxy__req_connected when the handshake ends). 0 or an
 * error (logged when the handshake failed); @uc may be closed after. */
int gw_proxy__tls_up_feed(struct gw_proxy__uconn *uc, const char *p, size_t n);
/* True when @uc is plain or its handshake is done. */
bool gw_proxy__tls_up_ready(const struct gw_proxy__uconn *uc);
/* Encrypt and send. 0 or GW_EPROTO. */
int gw_proxy__tls_up_write(struct gw_proxy__uconn *uc, const char *p, size_t n);
/* Release @uc's session (its close callback). */
void gw_proxy__tls_up_free(struct gw_proxy__uconn *uc);

/* Append the TLS metrics (apigw_tls_handshakes_total{result}) to @b. */
int gw_proxy__tls_metrics(struct gw_proxy *p, struct gw_buf *b);

#endif
