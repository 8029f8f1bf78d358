/* tls.c: TLS termination on the proxy's --proxy-tls-listen listeners.
 *
 * Happy path: accept on a TLS listener swaps the connection's transport for
 * this one; bytes read from the socket (after a PROXY protocol header, when
 * the listener expects one) go through lib/tlsbio.h, whose ClientHello
 * callback picks the ssls object for the client's SNI in the worker's
 * current snapshot (exact, wildcard, the fallback name; else the handshake
 * fails with unrecognized_name) and switches the session to its SSL_CTX.
 * Decrypted bytes reach the HTTP layer as on a plain connection; what it
 * writes is encrypted and queued on the socket. A snapshot published
 * later serves new handshakes; a session keeps the context it picked.
 *
 * Policy (one base SSL_CTX per proxy, shared by its workers): lib/tlspolicy.h
 * (TLS 1.2 and 1.3 with Mozilla's "intermediate" ciphers in our order),
 * ALPN h2 (unless --proxy-http2 off; the connection then belongs to h2.c)
 * and http/1.1, no renegotiation, no compression; every ssls object's
 * context gets the same (gw_proxy__tls_policy), since OpenSSL serves the
 * handshake with the context the SNI switched to. Session tickets are encrypted with
 * keys kept here, shared by every worker and rotated every
 * TICKET_ROTATE_S (the two previous keys still decrypt, so a ticket lives
 * at most three periods).
 *
 * Failure modes: a failed handshake (garbage, unknown name, no shared
 * cipher) is counted (apigw_tls_handshakes_total{result="failed"}), logged
 * at most LOG_BURST times per second per worker, and closes the
 * connection after the alert was written; nothing else is affected.
 * Threads: the per-proxy state is read-only after gw_proxy__tls_init,
 * except the counters (atomics) and the ticket keys (under a mutex); a
 * connection belongs to its worker. */
#include "config.h"

#include "lib/err.h"
#include "lib/log.h"
#include "lib/prom.h"
#include "lib/rand.h"
#include "lib/ratelimit.h"
#include "lib/tlsbio.h"
#include "lib/tlspolicy.h"
#include "proxy/conn_int.h"
#include "proxy/tls_int.h"

#include <ctype.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TICKET_ROTATE_S 3600
#define TICKET_KEYS     3
#define LOG_BURST       5
#define PRE_MAX         (16 + 65535) /* the longest PROXY v2 header */

struct ticket_key {
	unsigned char name[16];
	unsigned char aes[32];
	unsigned char hmac[32];
	time_t born;
};

struct gw_proxy__tls {
	SSL_CTX *base;
	int n_plain; /* listeners [n_plain, n_listen) are TLS */
	char fallback[256];
	atomic_uint_fast64_t ok, failed;
	struct gw_ratelimit *rl; /* one per worker */
	uv_mutex_t tk_lock;
	struct ticket_key tk[TICKET_KEYS]; /* [0] encrypts */
	int n_tk;
};

/* One TLS client connection (dc->tls). */
struct tconn {
	struct gw_tlsbio bio;
	struct gw_proxy__dconn *dc;
	struct gw_buf pre; /* PROXY header bytes gathered so far */
	char sni[256];     /* the client's server name, lower-case ("" = none) */
};

static const struct gw_proxy__transport tls_transport;

/* ---- ticket keys ------------------------------------------------------ */

static int new_ticket_key(struct ticket_key *k)
{
	if (gw_rand_bytes(k, sizeof *k - sizeof k->born) != 0) {
		return GW_EIO;
	}
	k->born = time(NULL);
	return 0;
}

/* Rotate when the current key is older than TICKET_ROTATE_S. Locked. */
static void maybe_rotate(struct gw_proxy__tls *t, time_t now)
{
	struct ticket_key k;

	if (t->n_tk > 0 && now - t->tk[0].born < TICKET_ROTATE_S) {
		return;
	}
	if (new_ticket_key(&k) != 0) {
		return; /* keep the old key rather than none */
	}
	memmove(&t->tk[1], &t->tk[0], sizeof t->tk[0] * (TICKET_KEYS - 1));
	t->tk[0] = k;
	if (t->n_tk < TICKET_KEYS) {
		t->n_tk++;
	}
}

static int ticket_cb(SSL *ssl, unsigned char *name, unsigned char *iv, EVP_CIPHER_CTX *ectx,
		     EVP_MAC_CTX *hctx, int enc)
{
	struct tconn *c = SSL_get_app_data(ssl);
	struct gw_proxy__tls *t = c != NULL ? c->dc->w->p->tls : NULL;
	struct ticket_key k;
	OSSL_PARAM params[3];
	char digest[] = "SHA256";
	int found = -1, rv;

	/* only the base context (tls_init) has this callback: its sessions
	 * always carry their connection */
	if (t == NULL) {
		return -1;
	}
	uv_mutex_lock(&t->tk_lock);
	if (enc) {
		maybe_rotate(t, time(NULL));
		found = t->n_tk > 0 ? 0 : -1;
	} else {
		for (int i = 0; i < t->n_tk && found < 0; i++) {
			if (memcmp(name, t->tk[i].name, 16) == 0) {
				found = i;
			}
		}
	}
	if (found >= 0) {
		k = t->tk[found];
	}
	uv_mutex_unlock(&t->tk_lock);
	if (found < 0) {
		return enc ? -1 : 0; /* unknown ticket: full handshake */
	}
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, k.hmac, sizeof k.hmac);
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0);
	params[2] = OSSL_PARAM_construct_end();
	if (enc) {
		memcpy(name, k.name, 16);
		if (gw_rand_bytes(iv, 16) != 0 ||
		    EVP_EncryptInit_ex(ectx, EVP_aes_256_cbc(), NULL, k.aes, iv) != 1) {
			rv = -1;
		} else {
			rv = 1;
		}
	} else {
		rv = EVP_DecryptInit_ex(ectx, EVP_aes_256_cbc(), NULL, k.aes, iv) == 1 ? 1 : -1;
		if (rv == 1 && found > 0) {
			rv = 2; /* an older key: issue a new ticket */
		}
	}
	if (rv > 0 && (EVP_MAC_CTX_set_params(hctx, params) != 1)) {
		rv = -1;
	}
	OPENSSL_cleanse(&k, sizeof k);
	return rv;
}

/* ---- SNI ---------------------------------------------------------------- */

/* The host_name of the server_name extension @p (@n bytes) into @out,
 * lower-cased. false if absent or malformed. */
static bool parse_sni(const unsigned char *p, size_t n, char *out, size_t cap)
{
	size_t list, len;

	if (n < 2) {
		return false;
	}
	list = (size_t)p[0] << 8 | p[1];
	if (list + 2 != n || list < 3 || p[2] != 0) {
		return false;
	}
	len = (size_t)p[3] << 8 | p[4];
	if (len == 0 || len + 3 > list || len >= cap) {
		return false;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = p[5 + i];
		if (c <= 0x20 || c >= 0x7f) {
			return false;
		}
		out[i] = (char)tolower(c);
	}
	out[len] = '\0';
	if (out[len - 1] == '.') {
		out[len - 1] = '\0'; /* "example.com." */
	}
	return true;
}

static int client_hello_cb(SSL *ssl, int *al, void *arg)
{
	struct tconn *c = SSL_get_app_data(ssl);
	struct gw_proxy__tls *t = arg;
	const struct gw_proxy__ssl_table *tab;
	const struct gw_proxy__ssl_ent *e = NULL;
	const unsigned char *ext;
	size_t n;

	if (c == NULL) {
		*al = SSL_AD_INTERNAL_ERROR;
		return SSL_CLIENT_HELLO_ERROR;
	}
	tab = c->dc->w->snap != NULL ? c->dc->w->snap->cfg->ssl : NULL;
	c->sni[0] = '\0';
	if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &ext, &n) == 1 &&
	    !parse_sni(ext, n, c->sni, sizeof c->sni)) {
		c->sni[0] = '\0';
	}
	if (c->sni[0] != '\0') {
		e = gw_proxy__ssl_lookup(tab, c->sni, strlen(c->sni));
	}
	if (e == NULL && t->fallback[0] != '\0') {
		e = gw_proxy__ssl_lookup(tab, t->fallback, strlen(t->fallback));
	}
	if (e == NULL) {
		*al = SSL_AD_UNRECOGNIZED_NAME;
		return SSL_CLIENT_HELLO_ERROR;
	}
	if (SSL_set_SSL_CTX(ssl, e->ctx) == NULL) {
		*al = SSL_AD_INTERNAL_ERROR;
		return SSL_CLIENT_HELLO_ERROR;
	}
	if (e->min_version != 0) {
		SSL_set_min_proto_version(ssl, e->min_version);
		SSL_set_max_proto_version(ssl, e->max_version);
	}
	return SSL_CLIENT_HELLO_SUCCESS;
}

/* The protocol named @name (@len bytes) in the client's ALPN list, or NULL. */
static const unsigned char *alpn_find(const unsigned char *in, unsigned inlen, const char *name,
				      unsigned len)
{
	for (unsigned i = 0; i < inlen;) {
		unsigned l = in[i];
		if (i + 1 + l > inlen) {
			break;
		}
		if (l == len && memcmp(in + i + 1, name, len) == 0) {
			return in + i + 1;
		}
		i += 1 + l;
	}
	return NULL;
}

int gw_proxy__tls_alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
			  const unsigned char *in, unsigned int inlen, void *arg)
{
	const struct tconn *c = SSL_get_app_data(ssl);
	const unsigned char *p;
	(void)arg;
	/* our preference: h2, then http/1.1 */
	if (c != NULL && !c->dc->w->p->opts.no_h2 && (p = alpn_find(in, inlen, "h2", 2)) != NULL) {
		*out = p;
		*outlen = 2;
		return SSL_TLSEXT_ERR_OK;
	}
	if ((p = alpn_find(in, inlen, "http/1.1", 8)) != NULL) {
		*out = p;
		*outlen = 8;
		return SSL_TLSEXT_ERR_OK;
	}
	return SSL_TLSEXT_ERR_NOACK; /* go on without ALPN: HTTP/1.1 */
}

/* ---- set-up ------------------------------------------------------------- */

int gw_proxy__tls_policy(SSL_CTX *ctx)
{
	if (gw_tlspolicy_apply(ctx) != 0) {
		gw_errorf("proxy", "TLS policy refused by OpenSSL");
		return GW_EIO;
	}
	SSL_CTX_set_alpn_select_cb(ctx, gw_proxy__tls_alpn_cb, NULL);
	return 0;
}

int gw_proxy__tls_init(struct gw_proxy *p, int n_plain, const char *fallback_sni)
{
	struct gw_proxy__tls *t = calloc(1, sizeof *t);
	SSL_CTX *ctx;

	if (t == NULL) {
		return GW_ENOMEM;
	}
	t->rl = calloc((size_t)p->n_workers, sizeof *t->rl);
	ctx = SSL_CTX_new(TLS_server_method());
	if (t->rl == NULL || ctx == NULL) {
		free(t->rl);
		free(t);
		SSL_CTX_free(ctx);
		return GW_ENOMEM;
	}
	for (int i = 0; i < p->n_workers; i++) {
		t->rl[i] = (struct gw_ratelimit)GW_RATELIMIT_INIT(1000, LOG_BURST);
	}
	uv_mutex_init(&t->tk_lock);
	t->n_plain = n_plain;
	snprintf(t->fallback, sizeof t->fallback, "%s", fallback_sni ? fallback_sni : "");
	for (char *q = t->fallback; *q; q++) {
		*q = (char)tolower((unsigned char)*q);
	}
	t->base = ctx;
	if (gw_proxy__tls_policy(ctx) != 0) {
		p->tls = t;
		gw_proxy__tls_free(p);
		return GW_EIO;
	}
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 1);
	SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb);
	SSL_CTX_set_client_hello_cb(ctx, client_hello_cb, t);
	uv_mutex_lock(&t->tk_lock);
	maybe_rotate(t, time(NULL));
	uv_mutex_unlock(&t->tk_lock);
	p->tls = t;
	return 0;
}

void gw_proxy__tls_free(struct gw_proxy *p)
{
	struct gw_proxy__tls *t = p->tls;

	if (t == NULL) {
		return;
	}
	SSL_CTX_free(t->base);
	OPENSSL_cleanse(t->tk, sizeof t->tk);
	uv_mutex_destroy(&t->tk_lock);
	free(t->rl);
	free(t);
	p->tls = NULL;
}

/* ---- the transport ------------------------------------------------------ */

static void count_failure(struct tconn *c)
{
	struct gw_proxy__dconn *dc = c->dc;
	struct gw_proxy__tls *t = dc->w->p->tls;
	unsigned suppressed = 0;

	atomic_fetch_add_explicit(&t->failed, 1, memory_order_relaxed);
	if (gw_ratelimit_allow(&t->rl[dc->w->idx], uv_now(&dc->w->loop), &suppressed)) {
		gw_infof("proxy", "TLS handshake from %s failed (sni \"%s\"): %s%s", dc->peer_ip,
			 c->sni, c->bio.why[0] ? c->bio.why : "connection closed",
			 suppressed ? " (and others not logged)" : "");
	}
}

void gw_proxy__tls_timed_out(struct gw_proxy__dconn *dc)
{
	struct tconn *c = dc->tls;

	if (c != NULL && !c->bio.done) {
		snprintf(c->bio.why, sizeof c->bio.why, "handshake timeout");
		count_failure(c);
	}
}

/* Records for the network: during the handshake written at once when the
 * socket takes them (so an alert leaves before a close), else queued. */
static int on_cipher(void *data, const char *p, size_t n)
{
	struct tconn *c = data;
	struct gw_proxy__dconn *dc = c->dc;
	struct gw_proxy__wbuf *wb;
	int rv;

	if (dc->closing) {
		return GW_ESHUTDOWN;
	}
	if (!c->bio.done && dc->wq_bytes == 0) {
		uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
		rv = uv_try_write((uv_stream_t *)&dc->tcp, &b, 1);
		if (rv > 0) {
			p += rv;
			n -= (size_t)rv;
		}
	}
	if (n == 0) {
		return 0;
	}
	wb = gw_proxy__wbuf_new(n);
	if (wb == NULL) {
		return GW_ENOMEM;
	}
	memcpy(wb->data, p, n);
	wb->owner = dc;
	{
		uv_buf_t b = uv_buf_init(wb->data, (unsigned)n);
		rv = uv_write(&wb->req, (uv_stream_t *)&dc->tcp, &b, 1, gw_proxy__dconn_write_cb);
	}
	if (rv != 0) {
		free(wb);
		return GW_EIO;
	}
	dc->wq_bytes += n;
	return 0;
}

static int on_plain(void *data, const char *p, size_t n)
{
	struct tconn *c = data;

	if (c->dc->closing) {
		return GW_ESHUTDOWN;
	}
	gw_proxy__dconn_on_data(c->dc, p, n);
	return c->dc->closing ? GW_ESHUTDOWN : 0;
}

static int on_ready(void *data)
{
	struct tconn *c = data;
	const unsigned char *alpn = NULL;
	unsigned len = 0;
	atomic_fetch_add_explicit(&c->dc->w->p->tls->ok, 1, memory_order_relaxed);
	gw_proxy__dconn_tls_deadline(c->dc, false);
	SSL_get0_alpn_selected(c->bio.ssl, &alpn, &len);
	if (len == 2 && memcmp(alpn, "h2", 2) == 0) {
		return gw_proxy__h2_start(c->dc); /* before any decrypted byte */
	}
	return 0;
}

static const struct gw_tlsbio_ops bio_ops = {
    .plain = on_plain,
    .cipher = on_cipher,
    .ready = on_ready,
};

/* The PROXY header in clear before the ClientHello: gather it, then let
 * pp.c apply it. false when more bytes are needed or @dc was closed. */
static bool take_pp(struct tconn *c, const char **p, size_t *n)
{
	struct gw_proxy__dconn *dc = c->dc;
	struct gw_proxy__pp h;
	int rv;

	if (gw_buf_append(&c->pre, *p, *n) != 0) {
		gw_proxy__dconn_abort(dc);
		return false;
	}
	rv = gw_proxy__pp_parse(c->pre.data, c->pre.len, &h);
	if (rv == 0 && c->pre.len > PRE_MAX) {
		gw_proxy__dconn_abort(dc); /* cannot be a header: pp.c bounds the wait */
		return false;
	}
	if (rv == 0) {
		return false;
	}
	/* complete or refused: pp.c applies it or closes (the buffer holds the
	 * whole header, so it needs no bytes of its own) */
	*p = c->pre.data;
	*n = c->pre.len;
	return gw_proxy__pp_take(dc, p, n);
}

static void tls_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	struct gw_proxy__dconn *dc = s->data;
	struct tconn *c = dc->tls;
	struct gw_proxy__worker *w = dc->w;
	const char *p = b->base;
	size_t n = nread > 0 ? (size_t)nread : 0;
	int rv;

	if (nread < 0) {
		/* a client gone before the handshake ended is not a failure
		 * (port scanners and health checks connect and go) */
		gw_proxy__dconn_on_eof(dc);
		return;
	}
	if (n == 0) {
		return;
	}
	gw_proxy__worker_cork(w);
	if (dc->pp_wait && !take_pp(c, &p, &n)) {
		gw_proxy__worker_uncork(w);
		return;
	}
	rv = gw_tlsbio_feed(&c->bio, p, n);
	gw_buf_close(&c->pre);
	if (rv != 0 && !dc->closing) {
		if (!c->bio.done) {
			count_failure(c);
		}
		gw_proxy__dconn_abort(dc);
	}
	gw_proxy__worker_uncork(w);
}

static int tls_read_start(struct gw_proxy__dconn *dc)
{
	return uv_read_start((uv_stream_t *)&dc->tcp, gw_proxy__dconn_alloc, tls_read);
}

static void tls_read_stop(struct gw_proxy__dconn *dc)
{
	uv_read_stop((uv_stream_t *)&dc->tcp);
}

static int tls_try_write(struct gw_proxy__dconn *dc, const char *p, size_t n)
{
	(void)dc;
	(void)p;
	(void)n;
	return 0; /* every write is encrypted and queued by tls_write */
}

static int tls_write(struct gw_proxy__dconn *dc, struct gw_proxy__wbuf *wb)
{
	struct tconn *c = dc->tls;
	int rv = gw_tlsbio_write(&c->bio, wb->data, wb->len);

	free(wb);
	return rv == 0 ? 0 : UV_EPIPE;
}

static void tls_shutdown_cb(uv_shutdown_t *req, int status)
{
	struct gw_proxy__dconn *dc = req->data;
	(void)status;
	gw_proxy__dconn_on_shutdown(dc);
}

static int tls_shutdown(struct gw_proxy__dconn *dc)
{
	struct tconn *c = dc->tls;
	char buf[256];
	int n;

	if (c->bio.done) {
		SSL_shutdown(c->bio.ssl); /* close_notify */
		while ((n = BIO_read(c->bio.wbio, buf, sizeof buf)) > 0) {
			if (on_cipher(c, buf, (size_t)n) != 0) {
				break;
			}
		}
		ERR_clear_error();
	}
	dc->shut.data = dc;
	return uv_shutdown(&dc->shut, (uv_stream_t *)&dc->tcp, tls_shutdown_cb);
}

void gw_proxy__tls_conn_free(struct gw_proxy__dconn *dc)
{
	struct tconn *c = dc->tls;

	if (c != NULL) {
		gw_tlsbio_free(&c->bio);
		gw_buf_close(&c->pre);
		free(c);
		dc->tls = NULL;
	}
}

static const struct gw_proxy__transport tls_transport = {
    .read_start = tls_read_start,
    .read_stop = tls_read_stop,
    .try_write = tls_try_write,
    .write = tls_write,
    .shutdown = tls_shutdown,
    .close = gw_proxy__dconn_close_handles,
};

int gw_proxy__tls_port(const struct gw_proxy *p)
{
	if (p->tls == NULL || p->tls->n_plain >= p->opts.n_listen) {
		return 0;
	}
	return gw_addr_port(&p->listen[p->tls->n_plain]);
}

void gw_proxy__tls_accept(struct gw_proxy__dconn *dc, uv_stream_t *lsn)
{
	struct gw_proxy__worker *w = dc->w;
	struct gw_proxy__tls *t = w->p->tls;
	ptrdiff_t i = (uv_tcp_t *)lsn - w->lsn;
	struct tconn *c;

	if (t == NULL || i < t->n_plain || i >= w->n_lsn) {
		return;
	}
	c = calloc(1, sizeof *c);
	if (c == NULL || gw_tlsbio_init(&c->bio, t->base, true, NULL, &bio_ops, c) != 0) {
		free(c);
		gw_proxy__dconn_abort(dc); /* never serve a TLS port in clear */
		return;
	}
	c->dc = dc;
	gw_buf_init(&c->pre);
	SSL_set_app_data(c->bio.ssl, c);
	dc->tls = c;
	dc->tp = &tls_transport;
}

bool gw_proxy__tls_is(const struct gw_proxy__dconn *dc)
{
	return dc != NULL && dc->tls != NULL;
}

int gw_proxy__tls_var(const struct gw_proxy__dconn *dc, const char *name, size_t len, char *out,
		      size_t cap)
{
	const struct tconn *c = dc != NULL ? dc->tls : NULL;
	const char *v = NULL;
	int n;

	if (len < 4 || strncmp(name, "ssl_", 4) != 0) {
		return -1;
	}
	if (c != NULL && c->bio.done) {
		if (len == 15 && strncmp(name, "ssl_server_name", len) == 0) {
			v = c->sni;
		} else if (len == 12 && strncmp(name, "ssl_protocol", len) == 0) {
			v = SSL_get_version(c->bio.ssl);
		} else if (len == 10 && strncmp(name, "ssl_cipher", len) == 0) {
			v = SSL_get_cipher_name(c->bio.ssl);
		} else if (len == 18 && strncmp(name, "ssl_session_reused", len) == 0) {
			v = SSL_session_reused(c->bio.ssl) ? "r" : ".";
		} else {
			return -1;
		}
	}
	n = snprintf(out, cap, "%s", v ? v : "");
	return n < 0 || (size_t)n >= cap ? 0 : n;
}

int gw_proxy__tls_metrics(struct gw_proxy *p, struct gw_buf *b)
{
	struct gw_proxy__tls *t = p->tls;
	const char *ok[] = {"result", "ok", NULL}, *bad[] = {"result", "failed", NULL};
	int rv;

	if (t == NULL) {
		return 0;
	}
	rv = gw_prom_family(b, "apigw_tls_handshakes_total", "counter",
			    "TLS handshakes on the proxy listeners, by result");
	if (rv == 0) {
		rv = gw_prom_sample(b, "apigw_tls_handshakes_total", ok,
				    (double)atomic_load(&t->ok));
	}
	if (rv == 0) {
		rv = gw_prom_sample(b, "apigw_tls_handshakes_total", bad,
				    (double)atomic_load(&t->failed));
	}
	return rv;
}
