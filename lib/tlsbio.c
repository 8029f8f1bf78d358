/* tlsbio.c: a TLS session on OpenSSL memory BIOs (see tlsbio.h).
 *
 * Happy path: feed appends ciphertext to the read BIO, drives the
 * handshake until it completes (ready), then reads every complete record
 * (plain); after each step what OpenSSL queued in the write BIO is passed
 * to cipher. Failure modes: SSL_ERROR_SSL / SYSCALL end the session with
 * GW_EPROTO and the first queued OpenSSL error in why; ZERO_RETURN (the
 * peer's close_notify) with GW_ESHUTDOWN. Threads: the caller's. */
#include "config.h"

#include "lib/tlsbio.h"

#include "lib/err.h"

#include <openssl/err.h>
#include <stdio.h>
#include <string.h>

#define CHUNK 16384

int gw_tlsbio_init(struct gw_tlsbio *t, SSL_CTX *ctx, bool server, const char *sni,
		   const struct gw_tlsbio_ops *ops, void *data)
{
	memset(t, 0, sizeof *t);
	t->ops = ops;
	t->data = data;
	t->ssl = SSL_new(ctx);
	t->rbio = BIO_new(BIO_s_mem());
	t->wbio = BIO_new(BIO_s_mem());
	if (t->ssl == NULL || t->rbio == NULL || t->wbio == NULL) {
		SSL_free(t->ssl);
		BIO_free(t->rbio);
		BIO_free(t->wbio);
		memset(t, 0, sizeof *t);
		ERR_clear_error();
		return GW_ENOMEM;
	}
	/* An empty memory BIO reports "retry", not EOF. */
	BIO_set_mem_eof_return(t->rbio, -1);
	SSL_set_bio(t->ssl, t->rbio, t->wbio);
	if (server) {
		SSL_set_accept_state(t->ssl);
	} else {
		SSL_set_connect_state(t->ssl);
		if (sni != NULL && SSL_set_tlsext_host_name(t->ssl, sni) != 1) {
			gw_tlsbio_free(t);
			ERR_clear_error();
			return GW_ENOMEM;
		}
	}
	return 0;
}

void gw_tlsbio_free(struct gw_tlsbio *t)
{
	SSL_free(t->ssl); /* frees both BIOs */
	t->ssl = NULL;
	t->rbio = t->wbio = NULL;
}

/* Pass what OpenSSL queued for the network on. */
static int flush(struct gw_tlsbio *t)
{
	char buf[CHUNK];
	int n, rv;

	while ((n = BIO_read(t->wbio, buf, sizeof buf)) > 0) {
		rv = t->ops->cipher(t->data, buf, (size_t)n);
		if (rv != 0) {
			return rv;
		}
	}
	return 0;
}

/* Record the reason of a failure (the first OpenSSL error, or @what). */
static int failed(struct gw_tlsbio *t, int err, const char *what)
{
	unsigned long e = ERR_get_error();

	if (e != 0) {
		ERR_error_string_n(e, t->why, sizeof t->why);
	} else {
		snprintf(t->why, sizeof t->why, "%s", what);
	}
	ERR_clear_error();
	return err;
}

/* After an SSL call returned @n <= 0: 1 to wait for more bytes, else the
 * error. */
static int classify(struct gw_tlsbio *t, int n)
{
	switch (SSL_get_error(t->ssl, n)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		return 1;
	case SSL_ERROR_ZERO_RETURN:
		return failed(t, GW_ESHUTDOWN, "the peer closed the session");
	default:
		return failed(t, GW_EPROTO, "TLS failure");
	}
}

/* Drive the handshake; then decrypt every complete record. */
static int pump(struct gw_tlsbio *t)
{
	char buf[CHUNK];
	int n, rv;

	if (!t->done) {
		n = SSL_do_handshake(t->ssl);
		if (n <= 0) {
			rv = classify(t, n);
			int frv = flush(t); /* our flight, or the alert */
			if (rv != 1) {
				return rv;
			}
			return frv;
		}
		t->done = true;
		rv = flush(t);
		if (rv == 0) {
			rv = t->ops->ready(t->data);
		}
		if (rv != 0) {
			return rv;
		}
	}
	for (;;) {
		n = SSL_read(t->ssl, buf, sizeof buf);
		if (n <= 0) {
			rv = classify(t, n);
			int frv = flush(t);
			return rv != 1 ? rv : frv;
		}
		rv = t->ops->plain(t->data, buf, (size_t)n);
		if (rv != 0) {
			return rv;
		}
	}
}

int gw_tlsbio_start(struct gw_tlsbio *t)
{
	return pump(t);
}

int gw_tlsbio_feed(struct gw_tlsbio *t, const char *p, size_t len)
{
	while (len > 0) {
		int n = BIO_write(t->rbio, p, len > CHUNK * 4 ? CHUNK * 4 : (int)len);
		if (n <= 0) {
			return failed(t, GW_ENOMEM, "cannot buffer TLS input");
		}
		p += n;
		len -= (size_t)n;
	}
	return pump(t);
}

int gw_tlsbio_write(struct gw_tlsbio *t, const char *p, size_t len)
{
	size_t done = 0;
	int rv;

	if (!t->done) {
		return GW_EPROTO;
	}
	while (done < len) {
		size_t chunk = len - done > CHUNK ? CHUNK : len - done;
		int n = SSL_write(t->ssl, p + done, (int)chunk);
		if (n <= 0) {
			rv = classify(t, n);
			return rv == 1 ? failed(t, GW_EPROTO, "TLS write blocked") : rv;
		}
		done += (size_t)n;
		rv = flush(t);
		if (rv != 0) {
			return rv;
		}
	}
	return 0;
}

X509 *gw_tlsbio_peer_cert(const struct gw_tlsbio *t)
{
	if (t->ssl == NULL || !t->done) {
		return NULL;
	}
	return SSL_get0_peer_certificate(t->ssl);
}
