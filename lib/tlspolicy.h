/* tlspolicy.h: the one TLS policy of every server context apigw builds
 * (proxy listeners and their ssls contexts, the control-plane listeners of
 * lib/httpd.h, the etcd port's user certificate).
 *
 * Policy: TLS 1.2 and 1.3 only; Mozilla's "intermediate" TLS 1.2 suites,
 * all AEAD with forward secrecy, in our order (server preference); groups
 * X25519, P-256, P-384; no compression, no renegotiation. TLS 1.3 keeps
 * OpenSSL's suites (all AEAD).
 * Failure modes: OpenSSL refusing the policy (a build without those
 * suites) or unreadable PEM files: an error with the reason, never a
 * half-configured context.
 * Threads: any (a context is configured before it is shared). */
#ifndef GW_TLSPOLICY_H
#define GW_TLSPOLICY_H

#include <openssl/ssl.h>
#include <stddef.h>

/* Apply the policy to @ctx. 0 or GW_EIO. */
int gw_tlspolicy_apply(SSL_CTX *ctx);

/* A new server context under the policy with the certificate chain of the
 * PEM file @cert (leaf first) and the private key of @key (NULL or "": the
 * key is in @cert); the key must match. ALPN: http/1.1 when the client
 * offers it, else none. NULL with the reason in @why (GW_ERR-free text,
 * for logs) on failure. The caller owns the context (SSL_CTX_free).
 * Blocking (reads files): start-up. */
SSL_CTX *gw_tlspolicy_server_file(const char *cert, const char *key, char *why, size_t whylen);

#endif
