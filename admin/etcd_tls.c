/* etcd_tls.c: optional TLS (OpenSSL) for the etcd listener, both protocols.
 *
 * Happy path: gw_etcd_start builds one SSL_CTX from the certificate, key and
 * (optional) client CA; a connection whose first byte is a TLS handshake
 * record (0x16) is handed here. The TLS session runs on memory BIOs; the
 * decrypted bytes are passed through a socketpair to the ordinary plaintext
 * path of etcd.c, so gRPC over h2 and the JSON gateway work unchanged
 * behind it (ALPN offers h2 and http/1.1; the preface decides, as
 * in cleartext). With a client CA, a client without a certificate signed by
 * it fails the handshake (etcdctl --cert/--key/--cacert, curl alike).
 *
 * Cluster members: when the node has its member certificate (raft's
 * peer TLS), a client naming GW_RAFT_PEER_SNI gets the member context
 * (client certificate optional, verified against the cluster CA); without a
 * user certificate that context serves every TLS client. Once the
 * handshake finished, the plaintext side first gets a preamble
 * (GW_ETCD__TLS_PREAMBLE): what the client proved (TLS, and the member id
 * of a verified member certificate: raft/endpoints.h), which
 * /apigw/internal/ requires; its address, which the connection caps and
 * the etcd access gate judge; and the CN of a verified certificate of the
 * user's client CA, an etcd user (etcd_auth.c).
 * Failure modes: a bad handshake or either side closing closes both; the
 * error is logged at debug level (clients probe and go away often).
 * Back-pressure: when one side's write queue passes QUEUE_HIGH, reading the
 * other side stops until it drains below QUEUE_LOW, so a slow client fills
 * the socketpair and the plaintext side's per-stream bounds take over.
 * Threads: the server's loop only. */
#include "config.h"

#include "admin/etcd_int.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/tlspolicy.h"
#include "raft/endpoints.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct tls {
	struct gw_etcd *srv;
	uv_tcp_t *tcp;  /* the client; the struct is freed when both handles closed */
	uv_pipe_t pipe; /* our end of the socketpair to the plaintext side */
	SSL *ssl;       /* owns its memory BIOs */
	BIO *rbio;      /* ciphertext in */
	BIO *wbio;      /* ciphertext out */
	int open;       /* handles not yet closed */
	bool closing;
	bool member; /* the session runs on the member context */
	bool plain;  /* the preamble went to the plaintext side (after the handshake) */
	struct sockaddr_storage peer; /* the client's address */
	char rbuf[16384];
	char pbuf[16384];
};

#define QUEUE_HIGH (4u << 20)
#define QUEUE_LOW  (1u << 20)

struct twrite {
	uv_write_t w;
	char data[];
};

static void tls_close(struct tls *t);

static void handle_closed(uv_handle_t *h)
{
	struct tls *t = h->data;
	struct gw_etcd *srv = t->srv;
	if (h == (uv_handle_t *)t->tcp) {
		free(h);
	}
	if (--t->open == 0) {
		SSL_free(t->ssl);
		free(t);
		srv->n_sniff--;
		gw_etcd__maybe_free(srv);
	}
}

static void tls_close(struct tls *t)
{
	if (t->closing) {
		return;
	}
	t->closing = true;
	uv_close((uv_handle_t *)t->tcp, handle_closed);
	uv_close((uv_handle_t *)&t->pipe, handle_closed);
}

static void tcp_alloc(uv_handle_t *h, size_t s, uv_buf_t *b);
static void tcp_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b);
static void pipe_alloc(uv_handle_t *h, size_t s, uv_buf_t *b);
static void pipe_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b);
static int plain_open(struct tls *t);

/* Resume reading a side whose peer's write queue has drained. */
static void resume(struct tls *t)
{
	if (t->closing) {
		return;
	}
	if (t->tcp->write_queue_size < QUEUE_LOW && !uv_is_active((uv_handle_t *)&t->pipe)) {
		uv_read_start((uv_stream_t *)&t->pipe, pipe_alloc, pipe_read);
	}
	if (t->pipe.write_queue_size < QUEUE_LOW && !uv_is_active((uv_handle_t *)t->tcp)) {
		uv_read_start((uv_stream_t *)t->tcp, tcp_alloc, tcp_read);
	}
}

static void write_done(uv_write_t *w, int status)
{
	struct tls *t = w->data;
	free(w);
	if (status < 0 && status != UV_ECANCELED) {
		tls_close(t);
		return;
	}
	resume(t);
}

static int write_to(struct tls *t, uv_stream_t *st, const char *p, size_t n)
{
	struct twrite *w;
	uv_buf_t b;
	if (n == 0 || t->closing) {
		return 0;
	}
	w = malloc(sizeof *w + n);
	if (w == NULL) {
		return GW_ENOMEM;
	}
	memcpy(w->data, p, n);
	w->w.data = t;
	b = uv_buf_init(w->data, (unsigned)n);
	if (uv_write(&w->w, st, &b, 1, write_done) != 0) {
		free(w);
		return GW_EIO;
	}
	if (st->write_queue_size > QUEUE_HIGH) {
		/* stop the side that feeds this one */
		uv_read_stop(st == (uv_stream_t *)t->tcp ? (uv_stream_t *)&t->pipe
							 : (uv_stream_t *)t->tcp);
	}
	return 0;
}

/* Send whatever OpenSSL produced to the client. */
static int flush_wbio(struct tls *t)
{
	char buf[16384];
	int n;
	while ((n = BIO_read(t->wbio, buf, sizeof buf)) > 0) {
		if (write_to(t, (uv_stream_t *)t->tcp, buf, (size_t)n) != 0) {
			return GW_EIO;
		}
	}
	return 0;
}

/* Run the handshake and decrypt what arrived, passing plaintext on. */
static void pump_in(struct tls *t)
{
	char buf[16384];
	int n;

	if (!SSL_is_init_finished(t->ssl)) {
		n = SSL_do_handshake(t->ssl);
		if (n <= 0) {
			int e = SSL_get_error(t->ssl, n);
			if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
				char why[160];
				ERR_error_string_n(ERR_get_error(), why, sizeof why);
				gw_debugf("etcd", "TLS handshake failed: %s", why);
				flush_wbio(t); /* the alert, if any */
				tls_close(t);
				return;
			}
		}
	}
	if (SSL_is_init_finished(t->ssl) && !t->plain && plain_open(t) != 0) {
		tls_close(t);
		return;
	}
	for (;;) {
		n = SSL_read(t->ssl, buf, sizeof buf);
		if (n > 0) {
			if (write_to(t, (uv_stream_t *)&t->pipe, buf, (size_t)n) != 0) {
				tls_close(t);
				return;
			}
			continue;
		}
		n = SSL_get_error(t->ssl, n);
		if (n == SSL_ERROR_WANT_READ || n == SSL_ERROR_WANT_WRITE) {
			break;
		}
		flush_wbio(t);
		tls_close(t); /* close_notify or an error */
		return;
	}
	if (flush_wbio(t) != 0) {
		tls_close(t);
	}
}

static void tcp_alloc(uv_handle_t *h, size_t s, uv_buf_t *b)
{
	struct tls *t = h->data;
	(void)s;
	b->base = t->rbuf;
	b->len = sizeof t->rbuf;
}

static void tcp_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
	struct tls *t = st->data;
	if (t->closing) {
		return;
	}
	if (n < 0) {
		tls_close(t);
		return;
	}
	if (n > 0) {
		BIO_write(t->rbio, b->base, (int)n);
		pump_in(t);
	}
}

static void pipe_alloc(uv_handle_t *h, size_t s, uv_buf_t *b)
{
	struct tls *t = h->data;
	(void)s;
	b->base = t->pbuf;
	b->len = sizeof t->pbuf;
}

/* Plaintext from the server side: encrypt it to the client. */
static void pipe_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
	struct tls *t = st->data;
	if (n < 0) {
		SSL_shutdown(t->ssl);
		flush_wbio(t);
		tls_close(t);
		return;
	}
	if (n > 0 && SSL_write(t->ssl, b->base, (int)n) <= 0) {
		tls_close(t);
		return;
	}
	if (flush_wbio(t) != 0) {
		tls_close(t);
	}
}

/* ALPN: our HTTP/2 side serves gRPC only, and the JSON gateway is HTTP/1.1,
 * so a client that offers http/1.1 (curl, browsers, lua-resty-etcd) gets
 * it; a gRPC client offers only h2 and gets h2. */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned int inlen, void *arg)
{
	unsigned int i = 0;
	bool h2 = false;

	(void)ssl;
	(void)arg;
	while (i < inlen) {
		unsigned char n = in[i];
		if (n == 0 || i + 1 + n > inlen) {
			break;
		}
		if (n == 8 && memcmp(in + i + 1, "http/1.1", 8) == 0) {
			*out = in + i + 1;
			*outlen = n;
			return SSL_TLSEXT_ERR_OK;
		}
		if (n == 2 && memcmp(in + i + 1, "h2", 2) == 0) {
			h2 = true;
			*out = in + i + 1;
			*outlen = n;
		}
		i += 1u + n;
	}
	return h2 ? SSL_TLSEXT_ERR_OK : SSL_TLSEXT_ERR_NOACK;
}

/* The raft's member context (NULL without peer TLS), read at each
 * connection: a renewed certificate serves new connections at once. */
static SSL_CTX *member_ctx(struct gw_etcd *srv)
{
	return srv->opts.raft != NULL ? gw_raft_peer_server_ctx(srv->opts.raft) : NULL;
}

/* SNI on the user's context: the peer name switches to the member context. */
static int servername_cb(SSL *ssl, int *alert, void *arg)
{
	struct gw_etcd *srv = arg;
	struct tls *t = SSL_get_app_data(ssl);
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	SSL_CTX *mctx = member_ctx(srv);

	(void)alert;
	if (name == NULL || mctx == NULL || t == NULL || strcmp(name, GW_RAFT_PEER_SNI) != 0) {
		return SSL_TLSEXT_ERR_OK;
	}
	if (SSL_set_SSL_CTX(ssl, mctx) == NULL) {
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	/* Switching contexts keeps the session's verify settings: take the
	 * member context's (client certificate optional, the cluster CA). */
	SSL_set_verify(ssl, SSL_CTX_get_verify_mode(mctx), NULL);
	SSL_set_verify_depth(ssl, SSL_CTX_get_verify_depth(mctx));
	t->member = true;
	return SSL_TLSEXT_ERR_OK;
}

int gw_etcd__tls_has(struct gw_etcd *srv)
{
	return srv->ssl_ctx != NULL || member_ctx(srv) != NULL;
}

int gw_etcd__tls_init(struct gw_etcd *srv)
{
	const struct gw_etcd_opts *o = &srv->opts;
	SSL_CTX *ctx;
	char why[200];

	if (o->tls_cert == NULL || o->tls_cert[0] == '\0') {
		return 0;
	}
	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		return GW_ENOMEM;
	}
	if (gw_tlspolicy_apply(ctx) != 0) {
		gw_errorf("etcd", "TLS policy refused by OpenSSL");
		goto err;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, o->tls_cert) != 1) {
		ERR_error_string_n(ERR_get_error(), why, sizeof why);
		gw_errorf("etcd", "cannot load the etcd TLS certificate %s: %s", o->tls_cert, why);
		goto err;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, o->tls_key != NULL ? o->tls_key : o->tls_cert,
					SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		ERR_error_string_n(ERR_get_error(), why, sizeof why);
		gw_errorf("etcd", "cannot load the etcd TLS key %s: %s",
			  o->tls_key != NULL ? o->tls_key : o->tls_cert, why);
		goto err;
	}
	if (o->tls_client_ca != NULL && o->tls_client_ca[0] != '\0') {
		if (SSL_CTX_load_verify_locations(ctx, o->tls_client_ca, NULL) != 1) {
			ERR_error_string_n(ERR_get_error(), why, sizeof why);
			gw_errorf("etcd", "cannot load the etcd client CA %s: %s", o->tls_client_ca,
				  why);
			goto err;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
	SSL_CTX_set_tlsext_servername_callback(ctx, servername_cb);
	SSL_CTX_set_tlsext_servername_arg(ctx, srv);
	srv->ssl_ctx = ctx;
	return 0;
err:
	SSL_CTX_free(ctx);
	return GW_EINVAL;
}

void gw_etcd__tls_free(struct gw_etcd *srv)
{
	if (srv->ssl_ctx != NULL) {
		SSL_CTX_free(srv->ssl_ctx);
		srv->ssl_ctx = NULL;
	}
}

/* The handshake finished: tell the plaintext side, in band before any
 * plaintext, what the client proved (8 bytes, host order, of tag:
 * raft/endpoints.h's GW_RAFT_PEER_TLS | the member id of a verified member
 * certificate) and its address (the caps' reserve is for loopback and
 * members). 0 or an error (the caller closes). */
static int plain_open(struct tls *t)
{
	struct gw_etcd *srv = t->srv;
	uint64_t tag = GW_RAFT_PEER_TLS, id = 0;
	char pre[GW_ETCD__TLS_PREAMBLE];
	char *cn = pre + sizeof tag + sizeof t->peer + 1;
	bool verified;
	X509 *cert;

	t->plain = true;
	memset(pre, 0, sizeof pre);
	cert = SSL_get0_peer_certificate(t->ssl);
	verified = cert != NULL && SSL_get_verify_result(t->ssl) == X509_V_OK;
	if (t->member && verified && srv->opts.raft != NULL &&
	    gw_raft_peer_member_id(srv->opts.raft, cert, &id) == 0) {
		tag |= id;
	}
	/* A certificate of the user's client CA: its CN names an etcd user
	 * (etcd_auth.c). Member certificates do not. */
	if (!t->member && verified && srv->opts.tls_client_ca != NULL &&
	    srv->opts.tls_client_ca[0] != '\0') {
		pre[sizeof tag + sizeof t->peer] = 1;
		if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn,
					      GW_ETCD_AUTH_MAX_NAME + 1) < 0) {
			cn[0] = '\0';
		}
	}
	memcpy(pre, &tag, sizeof tag);
	memcpy(pre + sizeof tag, &t->peer, sizeof t->peer);
	return write_to(t, (uv_stream_t *)&t->pipe, pre, sizeof pre);
}

void gw_etcd__tls_adopt(struct gw_etcd *srv, uv_tcp_t *tcp, const char *initial, size_t n)
{
	SSL_CTX *ctx = srv->ssl_ctx != NULL ? srv->ssl_ctx : member_ctx(srv);
	struct tls *t;
	uv_tcp_t *inner;
	int fds[2], plen;

	t = calloc(1, sizeof *t);
	if (t == NULL || ctx == NULL) {
		free(t);
		uv_close((uv_handle_t *)tcp, (uv_close_cb)free);
		return;
	}
	/* From here on both handles exist and every failure is tls_close. */
	t->srv = srv;
	t->tcp = tcp;
	tcp->data = t;
	plen = sizeof t->peer;
	if (uv_tcp_getpeername(tcp, (struct sockaddr *)&t->peer, &plen) != 0) {
		t->peer.ss_family = AF_UNSPEC;
	}
	uv_pipe_init(srv->loop, &t->pipe, 0);
	t->pipe.data = t;
	t->open = 2;
	srv->n_sniff++;                   /* keeps the server alive until both handles close */
	t->member = srv->ssl_ctx == NULL; /* else chosen by SNI */
	t->ssl = SSL_new(ctx);
	t->rbio = BIO_new(BIO_s_mem());
	t->wbio = BIO_new(BIO_s_mem());
	if (t->ssl == NULL || t->rbio == NULL || t->wbio == NULL) {
		BIO_free(t->rbio);
		BIO_free(t->wbio);
		tls_close(t);
		return;
	}
	SSL_set_bio(t->ssl, t->rbio, t->wbio);
	SSL_set_app_data(t->ssl, t);
	SSL_set_accept_state(t->ssl);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
		tls_close(t);
		return;
	}
	if (uv_pipe_open(&t->pipe, fds[0]) != 0) {
		close(fds[0]);
		close(fds[1]);
		tls_close(t);
		return;
	}
	inner = malloc(sizeof *inner);
	if (inner == NULL) {
		close(fds[1]);
		tls_close(t);
		return;
	}
	uv_tcp_init(srv->loop, inner);
	if (uv_tcp_open(inner, fds[1]) != 0) {
		close(fds[1]);
		uv_close((uv_handle_t *)inner, (uv_close_cb)free);
		tls_close(t);
		return;
	}
	uv_read_start((uv_stream_t *)tcp, tcp_alloc, tcp_read);
	uv_read_start((uv_stream_t *)&t->pipe, pipe_alloc, pipe_read);
	/* The sniffer bounds the handshake (its timeout) and reads our tag. */
	gw_etcd__plain_adopt(srv, inner, true);
	if (n > 0) {
		BIO_write(t->rbio, initial, (int)n);
		pump_in(t);
	}
}
