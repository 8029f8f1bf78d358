/* tls_up.c: upstream connections over TLS (upstream scheme "https").
 *
 * Happy path: request.c asks for a connection with the TLS parameters of
 * its upstream (gw_proxy__tls_up_params: the Host it will send as SNI,
 * tls.verify, the client certificate of the ssls object named by
 * tls.client_cert_id); the pool keeps TLS connections in buckets of their
 * own (the key hashes the parameters, so a connection verified for one
 * name never serves another). Once TCP connects, the handshake runs over
 * lib/tlsbio.h; the request is sent when it completes; reads are
 * decrypted before the response parser sees them and writes encrypted.
 * Verification (when asked) uses the system CA bundle and checks the name
 * (or IP) against the certificate; the client context is one per proxy.
 * Failure modes: a failed handshake or verification is an upstream
 * failure of kind UF_CONNECT (the next node is tried, as for a refused
 * connection), logged at warn once per failure with OpenSSL's reason.
 * Threads: a connection belongs to its worker; the context is shared
 * read-only. */
#include "config.h"

#include "lib/err.h"
#include "lib/log.h"
#include "lib/tlsbio.h"
#include "proxy/conn_int.h"
#include "proxy/tls_int.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct utls {
	struct gw_tlsbio bio;
	struct gw_proxy__uconn *uc;
};

int gw_proxy__tls_up_ctx_init(struct gw_proxy *p)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL) {
		return GW_ENOMEM;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		gw_warnf("proxy", "no system CA bundle: upstreams with tls.verify will fail");
	}
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	ERR_clear_error();
	p->up_ctx = ctx;
	return 0;
}

void gw_proxy__tls_up_ctx_free(struct gw_proxy *p)
{
	SSL_CTX_free(p->up_ctx);
	p->up_ctx = NULL;
}

void gw_proxy__tls_up_params(const struct gw_proxy__req *r, const struct gw_proxy__node *nd,
			     struct gw_proxy__tls_up *out)
{
	const struct gw_proxy__upstream *up = r->up;
	char mix[512];
	int n;

	memset(out, 0, sizeof *out);
	if (!up->tls) {
		return;
	}
	out->on = true;
	out->verify = up->tls_verify;
	snprintf(out->sni, sizeof out->sni, "%s", gw_proxy__req_up_host(r, nd));
	/* "host:port" -> host, "[v6]:port" -> v6: SNI and verification take
	 * the name (or address) alone */
	if (out->sni[0] == '[') {
		char *rb = strchr(out->sni, ']');
		size_t l = rb != NULL ? (size_t)(rb - out->sni - 1) : 0;
		memmove(out->sni, out->sni + 1, l);
		out->sni[l] = '\0';
	} else {
		char *colon = strrchr(out->sni, ':');
		if (colon != NULL && strchr(out->sni, ':') == colon) {
			*colon = '\0';
		}
	}
	if (up->tls_client_cert_id != NULL) {
		out->client = gw_proxy__ssl_by_id(r->snap->cfg->ssl, up->tls_client_cert_id);
		out->client_missing = out->client == NULL || !out->client->client;
	}
	n = snprintf(mix, sizeof mix, "%s|%d|%s", out->sni, out->verify,
		     up->tls_client_cert_id ? up->tls_client_cert_id : "");
	out->hash = gw_proxy__hash(mix, n > 0 ? (size_t)n : 0);
}

/* ---- the session ------------------------------------------------------- */

static int on_cipher(void *data, const char *p, size_t n)
{
	struct utls *t = data;
	gw_proxy__uconn_write_raw(t->uc, p, n);
	return t->uc->closing ? GW_ESHUTDOWN : 0;
}

static int on_plain(void *data, const char *p, size_t n)
{
	struct utls *t = data;
	struct gw_proxy__uconn *uc = t->uc;

	if (uc->closing) {
		return GW_ESHUTDOWN;
	}
	if (uc->req == NULL) {
		gw_proxy__uconn_close(uc); /* bytes on an idle connection: not reusable */
		return GW_ESHUTDOWN;
	}
	uc->got_bytes = true;
	gw_proxy__uconn_arm(uc);
	gw_proxy__req_upstream_data(uc->req, p, n);
	return uc->closing ? GW_ESHUTDOWN : 0;
}

static int on_ready(void *data)
{
	struct utls *t = data;
	struct gw_proxy__uconn *uc = t->uc;

	if (uc->req != NULL) {
		gw_proxy__req_connected(uc->req);
	}
	return uc->closing ? GW_ESHUTDOWN : 0;
}

static const struct gw_tlsbio_ops ops = {
    .plain = on_plain,
    .cipher = on_cipher,
    .ready = on_ready,
};

/* An IP literal (no SNI for those; verification checks the IP). */
static bool is_ip(const char *s)
{
	unsigned char buf[16];
	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

int gw_proxy__tls_up_new(struct gw_proxy__uconn *uc, const struct gw_proxy__tls_up *prm)
{
	struct utls *t = calloc(1, sizeof *t);
	SSL *ssl;
	bool ip = is_ip(prm->sni);

	if (t == NULL) {
		return GW_ENOMEM;
	}
	if (gw_tlsbio_init(&t->bio, uc->w->p->up_ctx, false,
			   ip || prm->sni[0] == '\0' ? NULL : prm->sni, &ops, t) != 0) {
		free(t);
		return GW_ENOMEM;
	}
	t->uc = uc;
	ssl = t->bio.ssl;
	if (prm->verify) {
		SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
		if (ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), prm->sni) != 1
		       : SSL_set1_host(ssl, prm->sni) != 1) {
			gw_tlsbio_free(&t->bio);
			free(t);
			return GW_ENOMEM;
		}
	} else {
		SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
	}
	if (prm->client != NULL) {
		SSL_CTX *cc = prm->client->ctx;
		STACK_OF(X509) *chain = NULL;
		SSL_CTX_get0_chain_certs(cc, &chain);
		if (SSL_use_cert_and_key(ssl, SSL_CTX_get0_certificate(cc),
					 SSL_CTX_get0_privatekey(cc), chain, 1) != 1) {
			ERR_clear_error();
			gw_tlsbio_free(&t->bio);
			free(t);
			return GW_EINVAL;
		}
	}
	uc->tls = t;
	return 0;
}

int gw_proxy__tls_up_start(struct gw_proxy__uconn *uc)
{
	struct utls *t = uc->tls;
	int rv = gw_tlsbio_start(&t->bio);
	return rv == 1 ? 0 : rv;
}

int gw_proxy__tls_up_feed(struct gw_proxy__uconn *uc, const char *p, size_t n)
{
	struct utls *t = uc->tls;
	int rv = gw_tlsbio_feed(&t->bio, p, n);

	if (rv != 0 && rv != GW_ESHUTDOWN && !t->bio.done) {
		gw_warnf("proxy", "TLS handshake with upstream %s failed: %s", uc->key,
			 t->bio.why[0] ? t->bio.why : "closed");
	}
	return rv;
}

bool gw_proxy__tls_up_ready(const struct gw_proxy__uconn *uc)
{
	const struct utls *t = uc->tls;
	return t == NULL || t->bio.done;
}

int gw_proxy__tls_up_write(struct gw_proxy__uconn *uc, const char *p, size_t n)
{
	struct utls *t = uc->tls;
	return gw_tlsbio_write(&t->bio, p, n);
}

void gw_proxy__tls_up_free(struct gw_proxy__uconn *uc)
{
	struct utls *t = uc->tls;

	if (t != NULL) {
		gw_tlsbio_free(&t->bio);
		free(t);
		uc->tls = NULL;
	}
}
