/* tlspolicy.c: the server TLS policy (see tlspolicy.h).
 *
 * Happy path: set the version floor, the TLS 1.2 suites and groups, the
 * options; for a file-based context load the chain and key and check they
 * match. Failure modes: every OpenSSL refusal returns an error (the first
 * OpenSSL reason copied for the log); nothing is left in OpenSSL's error
 * queue. Threads: any. */
#include "config.h"

#include "lib/tlspolicy.h"

#include "lib/err.h"

#include <openssl/err.h>
#include <stdio.h>
#include <string.h>

/* Mozilla "intermediate" (v5.7) TLS 1.2 suites: ECDHE/DHE with GCM or
 * ChaCha20-Poly1305 only. */
#define MOZ_CIPHERS                                                                                \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                               \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                               \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"                               \
	"DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305"
#define MOZ_GROUPS "X25519:prime256v1:secp384r1"

int gw_tlspolicy_apply(SSL_CTX *ctx)
{
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, MOZ_CIPHERS) != 1 ||
	    SSL_CTX_set1_groups_list(ctx, MOZ_GROUPS) != 1) {
		ERR_clear_error();
		return GW_EIO;
	}
	/* our order (all of it AEAD with forward secrecy): testssl.sh rates a
	 * server without one HIGH, although Mozilla's profile leaves it off */
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
				     SSL_OP_CIPHER_SERVER_PREFERENCE);
	return 0;
}

/* ALPN of an HTTP/1.1-only server: http/1.1 when offered, else no ALPN
 * (a client offering only h2 then fails at its own choice, not ours). */
static int alpn_http11(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned int inlen, void *arg)
{
	unsigned int i = 0;

	(void)ssl;
	(void)arg;
	while (i < inlen) {
		unsigned char n = in[i];
		if (n == 0 || i + 1u + n > inlen) {
			break;
		}
		if (n == 8 && memcmp(in + i + 1, "http/1.1", 8) == 0) {
			*out = in + i + 1;
			*outlen = n;
			return SSL_TLSEXT_ERR_OK;
		}
		i += 1u + n;
	}
	return SSL_TLSEXT_ERR_NOACK;
}

static SSL_CTX *fail(SSL_CTX *ctx, char *why, size_t whylen, const char *what, const char *file)
{
	char e[160];
	unsigned long code = ERR_get_error();

	if (code != 0) {
		ERR_error_string_n(code, e, sizeof e);
	} else {
		snprintf(e, sizeof e, "refused");
	}
	ERR_clear_error();
	snprintf(why, whylen, "%s %s: %s", what, file, e);
	SSL_CTX_free(ctx);
	return NULL;
}

SSL_CTX *gw_tlspolicy_server_file(const char *cert, const char *key, char *why, size_t whylen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	const char *kf = key != NULL && key[0] != '\0' ? key : cert;

	if (ctx == NULL) {
		return fail(ctx, why, whylen, "cannot create a TLS context for", cert);
	}
	if (gw_tlspolicy_apply(ctx) != 0) {
		return fail(ctx, why, whylen, "TLS policy refused by OpenSSL for", cert);
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		return fail(ctx, why, whylen, "cannot load the certificate", cert);
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, kf, SSL_FILETYPE_PEM) != 1) {
		return fail(ctx, why, whylen, "cannot load the private key", kf);
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		return fail(ctx, why, whylen, "the private key does not match the certificate of",
			    kf);
	}
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_http11, NULL);
	return ctx;
}
