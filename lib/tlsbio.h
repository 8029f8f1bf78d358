/* tlsbio.h: a TLS session on OpenSSL memory BIOs, for event loops.
 *
 * The caller owns the socket and moves bytes; this only turns ciphertext
 * into plaintext and back. Feed what the network delivered with
 * gw_tlsbio_feed: the handshake runs inside it, decrypted bytes go to
 * ops->plain, bytes for the network (handshake records, alerts, tickets,
 * encrypted data) to ops->cipher, and ops->ready is called once when the
 * handshake completes (the peer certificate, if any, has passed the
 * SSL_CTX's verification by then). gw_tlsbio_write encrypts.
 *
 * Failure modes: a failed handshake, a bad record or the peer's
 * close_notify make gw_tlsbio_feed return GW_EPROTO / GW_ESHUTDOWN after sending
 * whatever alert OpenSSL produced; the caller closes. A callback returning
 * non-zero stops the feed and its value is returned (the caller may have
 * closed the connection inside it: touch nothing afterwards).
 * Ownership: the struct is the caller's; gw_tlsbio_free releases the SSL.
 * Threads: one session belongs to one thread. */
#ifndef GW_TLSBIO_H
#define GW_TLSBIO_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

struct gw_tlsbio_ops {
	/* Decrypted bytes from the peer. 0 to go on. */
	int (*plain)(void *data, const char *p, size_t len);
	/* Bytes to send to the peer, in order. 0 to go on. */
	int (*cipher)(void *data, const char *p, size_t len);
	/* The handshake completed (called once, before any plain). 0 to go on. */
	int (*ready)(void *data);
};

struct gw_tlsbio {
	SSL *ssl; /* owns rbio and wbio */
	BIO *rbio, *wbio;
	const struct gw_tlsbio_ops *ops;
	void *data;
	bool done;     /* handshake completed */
	char why[160]; /* the first OpenSSL error of a failure, for logs */
};

/* Set up a session from @ctx: server side when @server, else client side
 * with SNI @sni (may be NULL). 0 or GW_ENOMEM. */
int gw_tlsbio_init(struct gw_tlsbio *t, SSL_CTX *ctx, bool server, const char *sni,
		   const struct gw_tlsbio_ops *ops, void *data);
void gw_tlsbio_free(struct gw_tlsbio *t);

/* Start the handshake (the client's first flight goes to ops->cipher).
 * 0 or as gw_tlsbio_feed. */
int gw_tlsbio_start(struct gw_tlsbio *t);

/* Ciphertext from the network. 0, GW_EPROTO (handshake or record failure:
 * t->why says what), GW_ESHUTDOWN (the peer closed the session) or what a
 * callback returned. */
int gw_tlsbio_feed(struct gw_tlsbio *t, const char *p, size_t len);

/* Encrypt @len plaintext bytes (only after ready); the records go to
 * ops->cipher. 0, GW_EPROTO or what the callback returned. */
int gw_tlsbio_write(struct gw_tlsbio *t, const char *p, size_t len);

/* The verified peer certificate (not owned: valid while the session is),
 * or NULL. */
X509 *gw_tlsbio_peer_cert(const struct gw_tlsbio *t);

#endif
