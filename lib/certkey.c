/* certkey.c: parse and check an ssls certificate/key pair (see certkey.h).
 *
 * Happy path: the PEM chain is read certificate by certificate (the first
 * is the leaf), the key is opened if sealed and parsed without any
 * passphrase prompt, then matched against the leaf and its dates checked.
 * Failure modes: GW_EINVAL with APISIX-style wording; a decrypted key is
 * wiped from memory before it is freed. Threads: any. */
#include "config.h"

#include "lib/certkey.h"

#include "lib/err.h"
#include "lib/keyring.h"
#include "lib/pki.h"

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <string.h>

#define MAX_PEM (1u << 20)

static int no_pass(char *buf, int size, int rw, void *u)
{
	(void)buf;
	(void)size;
	(void)rw;
	(void)u;
	return 0;
}

void gw_certkey_free(struct gw_certkey *ck)
{
	X509_free(ck->leaf);
	if (ck->chain != NULL) {
		sk_X509_pop_free(ck->chain, X509_free);
	}
	EVP_PKEY_free(ck->key);
	memset(ck, 0, sizeof(*ck));
}

/* Read the leaf and the intermediates of @pem. */
static int parse_chain(const char *pem, struct gw_certkey *ck, char *err, size_t n)
{
	size_t len = strlen(pem);
	BIO *b = len <= MAX_PEM ? BIO_new_mem_buf(pem, (int)len) : NULL;
	X509 *x;

	if (b == NULL) {
		snprintf(err, n, "failed to parse cert: PEM_read_bio_X509_AUX() failed");
		return len <= MAX_PEM ? GW_ENOMEM : GW_EINVAL;
	}
	ck->leaf = PEM_read_bio_X509_AUX(b, NULL, no_pass, NULL);
	if (ck->leaf == NULL) {
		BIO_free(b);
		ERR_clear_error();
		snprintf(err, n, "failed to parse cert: PEM_read_bio_X509_AUX() failed");
		return GW_EINVAL;
	}
	while ((x = PEM_read_bio_X509(b, NULL, no_pass, NULL)) != NULL) {
		if (sk_X509_push(ck->chain, x) <= 0) {
			X509_free(x);
			BIO_free(b);
			return GW_ENOMEM;
		}
	}
	ERR_clear_error(); /* the end of the chain */
	BIO_free(b);
	return 0;
}

int gw_certkey_validity(X509 *leaf, int64_t *not_before, int64_t *not_after)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(X509_get0_notBefore(leaf), &tm) != 1) {
		return GW_EINVAL;
	}
	*not_before = (int64_t)timegm(&tm);
	if (ASN1_TIME_to_tm(X509_get0_notAfter(leaf), &tm) != 1) {
		return GW_EINVAL;
	}
	*not_after = (int64_t)timegm(&tm);
	return 0;
}

static void iso_time(int64_t t, char *out, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int check_dates(X509 *leaf, time_t now, char *err, size_t n)
{
	int64_t nb, na;
	char when[32];

	if (gw_certkey_validity(leaf, &nb, &na) != 0) {
		snprintf(err, n, "failed to parse cert: bad validity dates");
		return GW_EINVAL;
	}
	if (na <= (int64_t)now) {
		iso_time(na, when, sizeof when);
		snprintf(err, n, "cert expired at %s", when);
		return GW_EINVAL;
	}
	if (nb > (int64_t)now) {
		iso_time(nb, when, sizeof when);
		snprintf(err, n, "cert not valid before %s", when);
		return GW_EINVAL;
	}
	return 0;
}

static int parse_key(const char *key, const struct gw_keyring *kr, struct gw_certkey *ck, char *err,
		     size_t n)
{
	char *plain = NULL, why[160];
	size_t plen = 0;
	int rv;

	if (gw_keyring_is_sealed(key)) {
		rv = kr != NULL ? gw_keyring_open(kr, GW_CERTKEY_AAD, key, &plain, &plen)
				: GW_ENOTFOUND;
		if (rv == GW_ENOMEM) {
			return rv;
		}
		if (rv != 0) {
			snprintf(err, n, "failed to decrypt previous encrypted key");
			return GW_EINVAL;
		}
		key = plain;
	}
	rv = gw_pki_key_parse(key, strlen(key), &ck->key, why, sizeof why);
	if (plain != NULL) {
		gw_keyring_wipe_free(plain, plen + 1);
	}
	if (rv != 0) {
		snprintf(err, n, "failed to parse key: PEM_read_bio_PrivateKey() failed");
		return GW_EINVAL;
	}
	return 0;
}

int gw_certkey_load(const char *cert, const char *key, const struct gw_keyring *kr, unsigned flags,
		    time_t now, struct gw_certkey *out, char *err, size_t errlen)
{
	int rv;

	memset(out, 0, sizeof(*out));
	out->chain = sk_X509_new_null();
	if (out->chain == NULL) {
		return GW_ENOMEM;
	}
	rv = parse_chain(cert, out, err, errlen);
	if (rv == 0 && (flags & GW_CERTKEY_DATES)) {
		rv = check_dates(out->leaf, now, err, errlen);
	}
	if (rv == 0 && key != NULL) {
		rv = parse_key(key, kr, out, err, errlen);
	}
	if (rv == 0 && key != NULL && !gw_pki_key_matches(out->key, out->leaf)) {
		snprintf(err, errlen, "key does not match cert");
		rv = GW_EINVAL;
	}
	if (rv != 0) {
		gw_certkey_free(out);
	}
	return rv;
}

int gw_certkey_use(SSL_CTX *ctx, const struct gw_certkey *ck, char *err, size_t errlen)
{
	if (SSL_CTX_use_cert_and_key(ctx, ck->leaf, ck->key, ck->chain, 1) != 1) {
		unsigned long e = ERR_get_error();
		char buf[120];
		ERR_error_string_n(e, buf, sizeof buf);
		snprintf(err, errlen, "cannot use cert and key: %s", buf);
		ERR_clear_error();
		return GW_EINVAL;
	}
	return 0;
}
