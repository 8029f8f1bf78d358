/* certkey.h: one certificate/private-key pair of an ssls object, parsed and
 * checked the same way by the Admin API (before storing) and the proxy
 * (before serving).
 *
 * The certificate text is a PEM chain: the leaf first, then intermediates.
 * The key is PEM, in clear or sealed by lib/keyring.h (the form stored
 * by the Admin API); a sealed key is opened with the given ring.
 * Checks: both parse, the key matches the leaf, and with GW_CERTKEY_DATES
 * the leaf is valid now (notBefore <= now < notAfter).
 *
 * Error wording follows APISIX's ssl validation ("failed to parse cert:
 * ...", "failed to parse key: ...", "failed to decrypt previous encrypted
 * key") plus ours for what APISIX leaves unchecked ("key does not match
 * cert", "cert expired at ...", "cert not valid before ...").
 * Threads: any (no shared state). */
#ifndef GW_CERTKEY_H
#define GW_CERTKEY_H

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <time.h>

struct gw_keyring;

#define GW_CERTKEY_DATES 1u /* refuse a leaf outside its validity period */
#define GW_CERTKEY_AAD   "ssl key"

struct gw_certkey {
	X509 *leaf;             /* owned */
	STACK_OF(X509) * chain; /* intermediates, owned; may be empty, never NULL */
	EVP_PKEY *key;          /* owned; NULL when only a cert was parsed */
};

/* Parse @cert (PEM chain) and @key (clear PEM or sealed blob; NULL = check
 * the certificate alone) into @out. @kr opens sealed keys (NULL: a sealed
 * key fails). 0 with @out filled (release with gw_certkey_free), GW_EINVAL
 * with the reason in @err, GW_ENOMEM. */
int gw_certkey_load(const char *cert, const char *key, const struct gw_keyring *kr, unsigned flags,
		    time_t now, struct gw_certkey *out, char *err, size_t errlen);

void gw_certkey_free(struct gw_certkey *ck);

/* The leaf's notBefore/notAfter as Unix seconds. 0 or GW_EINVAL. */
int gw_certkey_validity(X509 *leaf, int64_t *not_before, int64_t *not_after);

/* Install @ck's leaf, chain and key into @ctx. 0 or GW_EINVAL (why in @err). */
int gw_certkey_use(SSL_CTX *ctx, const struct gw_certkey *ck, char *err, size_t errlen);

#endif
