/* pki.c: the X.509 pieces of a cluster PKI (see pki.h).
 *
 * Happy path: a P-256 key, a self-signed CA, leaf certificates with a URI
 * in their subjectAltName, verification of a leaf against the CA at a given
 * time, PEM text and files. Failure modes: OpenSSL failures become GW_EIO
 * (GW_ENOMEM where OpenSSL says so is not distinguishable: it is GW_EIO
 * too), bad input GW_EINVAL with OpenSSL's first message in @why; the
 * error queue is always left empty so a later, unrelated call does not
 * report our failure. Files larger than 64 KiB are not keys or
 * certificates of ours and are refused. */
#include "config.h"

#include "lib/pki.h"

#include "lib/err.h"
#include "lib/file.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_PEM_FILE (64 * 1024)

/* OpenSSL's first queued message into @why (may be NULL); the queue is
 * emptied either way. */
static void ssl_why(char *why, size_t len, const char *fallback)
{
	unsigned long e = ERR_get_error();

	if (why != NULL && len > 0) {
		if (e != 0) {
			ERR_error_string_n(e, why, len);
		} else {
			snprintf(why, len, "%s", fallback);
		}
	}
	ERR_clear_error();
}

int gw_pki_key_new(EVP_PKEY **out)
{
	*out = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (*out == NULL) {
		ERR_clear_error();
		return GW_EIO;
	}
	return 0;
}

/* Version 3, a random positive 127-bit serial, CN @cn, valid from an hour
 * ago for @days. */
/* A certificate valid for @secs from now, backdated an hour for clock
 * skew (5 s for lifetimes under a day: tests of renewal). */
static X509 *cert_base(const char *cn, long secs)
{
	X509 *x = X509_new();
	BIGNUM *bn = BN_new();
	X509_NAME *name;
	bool ok;

	ok = x != NULL && bn != NULL && X509_set_version(x, X509_VERSION_3) == 1 &&
	     BN_rand(bn, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1 &&
	     BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL &&
	     X509_gmtime_adj(X509_getm_notBefore(x), secs >= 86400 ? -3600 : -5) != NULL &&
	     X509_gmtime_adj(X509_getm_notAfter(x), secs) != NULL;
	BN_free(bn);
	name = ok ? X509_get_subject_name(x) : NULL;
	if (name == NULL || X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
						       (const unsigned char *)cn, -1, -1, 0) != 1) {
		X509_free(x);
		return NULL;
	}
	return x;
}

/* Add extension @nid with OpenSSL's config text @value to @x (issued by
 * @issuer, which may be @x itself). */
static bool add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	bool ok;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (ext == NULL) {
		return false;
	}
	ok = X509_add_ext(x, ext, -1) == 1;
	X509_EXTENSION_free(ext);
	return ok;
}

int gw_pki_ca_new(EVP_PKEY *key, const char *cn, int days, X509 **out)
{
	X509 *x;

	*out = NULL;
	if (key == NULL || cn == NULL || days <= 0) {
		return GW_EINVAL;
	}
	x = cert_base(cn, (long)days * 86400);
	if (x == NULL || X509_set_issuer_name(x, X509_get_subject_name(x)) != 1 ||
	    X509_set_pubkey(x, key) != 1 ||
	    !add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
	    !add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign") ||
	    !add_ext(x, x, NID_subject_key_identifier, "hash") ||
	    X509_sign(x, key, EVP_sha256()) == 0) {
		X509_free(x);
		ERR_clear_error();
		return GW_EIO;
	}
	*out = x;
	return 0;
}

int gw_pki_cert_issue(EVP_PKEY *ca_key, X509 *ca, EVP_PKEY *pub, const char *cn, const char *uri,
		      const char *ip, int days, X509 **out)
{
	if (days <= 0) {
		*out = NULL;
		return GW_EINVAL;
	}
	return gw_pki_cert_issue_secs(ca_key, ca, pub, cn, uri, ip, (long)days * 86400, out);
}

int gw_pki_cert_issue_secs(EVP_PKEY *ca_key, X509 *ca, EVP_PKEY *pub, const char *cn,
			   const char *uri, const char *ip, long secs, X509 **out)
{
	char san[512];
	X509 *x;
	int n;

	*out = NULL;
	if (ca_key == NULL || ca == NULL || pub == NULL || cn == NULL || uri == NULL || secs <= 0 ||
	    strchr(uri, ',') != NULL || (ip != NULL && strchr(ip, ',') != NULL)) {
		return GW_EINVAL; /* a comma would add names to the SAN list */
	}
	n = ip != NULL ? snprintf(san, sizeof san, "URI:%s,IP:%s", uri, ip)
		       : snprintf(san, sizeof san, "URI:%s", uri);
	if (n < 0 || (size_t)n >= sizeof san) {
		return GW_EINVAL;
	}
	x = cert_base(cn, secs);
	if (x == NULL || X509_set_issuer_name(x, X509_get_subject_name(ca)) != 1 ||
	    X509_set_pubkey(x, pub) != 1 ||
	    !add_ext(x, ca, NID_basic_constraints, "critical,CA:FALSE") ||
	    !add_ext(x, ca, NID_key_usage, "critical,digitalSignature") ||
	    !add_ext(x, ca, NID_ext_key_usage, "serverAuth,clientAuth") ||
	    !add_ext(x, ca, NID_subject_key_identifier, "hash") ||
	    !add_ext(x, ca, NID_authority_key_identifier, "keyid:always") ||
	    !add_ext(x, ca, NID_subject_alt_name, san) || X509_sign(x, ca_key, EVP_sha256()) == 0) {
		X509_free(x);
		ERR_clear_error();
		return GW_EIO;
	}
	*out = x;
	return 0;
}

int gw_pki_verify(X509 *ca, X509 *cert, time_t now, char *why, size_t whylen)
{
	EVP_PKEY *ca_pub = X509_get0_pubkey(ca);
	const char *bad = NULL;

	if (ca_pub == NULL || X509_check_ca(ca) < 1) {
		bad = "the CA certificate is not a CA";
	} else if (X509_check_issued(ca, cert) != X509_V_OK || X509_verify(cert, ca_pub) != 1) {
		bad = "not issued by the cluster CA";
	} else if (X509_cmp_time(X509_get0_notBefore(cert), &now) >= 0 ||
		   X509_cmp_time(X509_get0_notBefore(ca), &now) >= 0) {
		bad = "not yet valid";
	} else if (X509_cmp_time(X509_get0_notAfter(cert), &now) <= 0 ||
		   X509_cmp_time(X509_get0_notAfter(ca), &now) <= 0) {
		bad = "expired";
	}
	ERR_clear_error();
	if (bad != NULL) {
		if (why != NULL && whylen > 0) {
			snprintf(why, whylen, "%s", bad);
		}
		return GW_EPERM;
	}
	return 0;
}

int gw_pki_cert_uri(X509 *cert, char *out, size_t len)
{
	GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	int i, rv = GW_ENOTFOUND;

	for (i = 0; names != NULL && i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
		const unsigned char *p;
		int n;

		if (g->type != GEN_URI) {
			continue;
		}
		p = ASN1_STRING_get0_data(g->d.uniformResourceIdentifier);
		n = ASN1_STRING_length(g->d.uniformResourceIdentifier);
		if (n < 0 || (size_t)n >= len || memchr(p, '\0', (size_t)n) != NULL) {
			rv = GW_EINVAL;
		} else {
			memcpy(out, p, (size_t)n);
			out[n] = '\0';
			rv = 0;
		}
		break;
	}
	GENERAL_NAMES_free(names);
	ERR_clear_error();
	return rv;
}

int gw_pki_fingerprint(X509 *cert, char out[GW_PKI_FINGERPRINT_LEN])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;

	if (X509_digest(cert, EVP_sha256(), md, &n) != 1 || n != 32) {
		ERR_clear_error();
		return GW_EIO;
	}
	for (i = 0; i < n; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[2 * n] = '\0';
	return 0;
}

int64_t gw_pki_cert_seconds_left(X509 *cert, time_t now)
{
	ASN1_TIME *t = ASN1_TIME_set(NULL, now);
	int days = 0, secs = 0;

	if (t == NULL || ASN1_TIME_diff(&days, &secs, t, X509_get0_notAfter(cert)) != 1) {
		ASN1_TIME_free(t);
		ERR_clear_error();
		return -1;
	}
	ASN1_TIME_free(t);
	return (int64_t)days * 86400 + secs;
}

/* The memory BIO's text as a malloc'ed string. */
static char *bio_text(BIO *b)
{
	char *data = NULL, *s;
	long n = BIO_get_mem_data(b, &data);

	if (n < 0 || (s = malloc((size_t)n + 1)) == NULL) {
		return NULL;
	}
	memcpy(s, data, (size_t)n);
	s[n] = '\0';
	return s;
}

char *gw_pki_key_pem(EVP_PKEY *key)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *s = NULL;

	if (b != NULL && PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) == 1) {
		s = bio_text(b);
	}
	BIO_free(b);
	ERR_clear_error();
	return s;
}

char *gw_pki_cert_pem(X509 *cert)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *s = NULL;

	if (b != NULL && PEM_write_bio_X509(b, cert) == 1) {
		s = bio_text(b);
	}
	BIO_free(b);
	ERR_clear_error();
	return s;
}

/* Never ask for a passphrase (OpenSSL would prompt on the terminal): an
 * encrypted key is simply not a key of ours. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

int gw_pki_key_parse(const char *pem, size_t len, EVP_PKEY **out, char *why, size_t whylen)
{
	BIO *b = len <= MAX_PEM_FILE ? BIO_new_mem_buf(pem, (int)len) : NULL;

	*out = b != NULL ? PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL) : NULL;
	BIO_free(b);
	if (*out == NULL) {
		ssl_why(why, whylen, "not a PEM private key");
		return GW_EINVAL;
	}
	ERR_clear_error();
	return 0;
}

int gw_pki_cert_parse(const char *pem, size_t len, X509 **out, char *why, size_t whylen)
{
	BIO *b = len <= MAX_PEM_FILE ? BIO_new_mem_buf(pem, (int)len) : NULL;

	*out = b != NULL ? PEM_read_bio_X509(b, NULL, no_passphrase, NULL) : NULL;
	BIO_free(b);
	if (*out == NULL) {
		ssl_why(why, whylen, "not a PEM certificate");
		return GW_EINVAL;
	}
	ERR_clear_error();
	return 0;
}

static int save_text(const char *path, char *text, mode_t mode)
{
	int rv;

	if (text == NULL) {
		return GW_ENOMEM;
	}
	rv = gw_file_write_atomic(path, text, strlen(text), mode);
	OPENSSL_cleanse(text, strlen(text)); /* keys: leave no copy in freed memory */
	free(text);
	return rv;
}

int gw_pki_key_save(const char *path, EVP_PKEY *key)
{
	return save_text(path, gw_pki_key_pem(key), 0600);
}

int gw_pki_cert_save(const char *path, X509 *cert)
{
	return save_text(path, gw_pki_cert_pem(cert), 0644);
}

/* The whole file (at most MAX_PEM_FILE bytes) into @buf. */
static int read_small(const char *path, char *buf, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t n = 0;
	ssize_t r;

	if (fd < 0) {
		return errno == ENOENT ? GW_ENOTFOUND : GW_EIO;
	}
	while ((r = read(fd, buf + n, MAX_PEM_FILE + 1 - n)) > 0) {
		n += (size_t)r;
		if (n > MAX_PEM_FILE) {
			break;
		}
	}
	close(fd);
	if (r < 0) {
		return GW_EIO;
	}
	if (n > MAX_PEM_FILE) {
		return GW_EINVAL;
	}
	*len = n;
	return 0;
}

/* Read @path into a fresh buffer for parsing: 0 with *@buf (malloc'ed, the
 * caller cleanses and frees it) and *@len, or an error (@why filled for an
 * oversized file). */
static int read_pem_file(const char *path, char **buf, size_t *len, char *why, size_t whylen)
{
	int rv;

	*buf = malloc(MAX_PEM_FILE + 1);
	*len = 0;
	if (*buf == NULL) {
		return GW_ENOMEM;
	}
	rv = read_small(path, *buf, len);
	if (rv == GW_EINVAL && why != NULL) {
		snprintf(why, whylen, "larger than %d bytes", MAX_PEM_FILE);
	}
	if (rv != 0) {
		free(*buf);
		*buf = NULL;
	}
	return rv;
}

int gw_pki_key_load(const char *path, EVP_PKEY **out, char *why, size_t whylen)
{
	char *buf;
	size_t n;
	int rv;

	*out = NULL;
	rv = read_pem_file(path, &buf, &n, why, whylen);
	if (rv == 0) {
		rv = gw_pki_key_parse(buf, n, out, why, whylen);
		OPENSSL_cleanse(buf, n);
		free(buf);
	}
	return rv;
}

int gw_pki_cert_load(const char *path, X509 **out, char *why, size_t whylen)
{
	char *buf;
	size_t n;
	int rv;

	*out = NULL;
	rv = read_pem_file(path, &buf, &n, why, whylen);
	if (rv == 0) {
		rv = gw_pki_cert_parse(buf, n, out, why, whylen);
		free(buf);
	}
	return rv;
}

bool gw_pki_key_matches(EVP_PKEY *key, X509 *cert)
{
	bool ok = X509_check_private_key(cert, key) == 1;
	ERR_clear_error();
	return ok;
}
