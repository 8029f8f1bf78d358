/* pki.h: the X.509 pieces of a cluster PKI, over OpenSSL 3.
 *
 * A cluster has one CA (an ECDSA P-256 key and a self-signed certificate);
 * each member gets a certificate issued by it whose subjectAltName carries
 * a URI naming the member (the caller decides the URI; raft/ binds cluster
 * id and raft id into it), so a peer's identity is read from the certificate
 * it presented, never from what it claims. Join tokens pin the CA by the
 * SHA-256 fingerprint of its DER encoding.
 *
 * Ownership: every EVP_PKEY / X509 returned belongs to the caller
 * (EVP_PKEY_free / X509_free). Errors are GW_E* codes; OpenSSL's error queue
 * is cleared and its first message copied into @why where a function takes
 * one. Threads: any (no shared state; OpenSSL 3 is thread-safe). Blocking
 * only in the file functions. */
#ifndef GW_PKI_H
#define GW_PKI_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Lowercase hex SHA-256 of a certificate's DER, NUL-terminated. */
#define GW_PKI_FINGERPRINT_LEN 65

/* A new ECDSA P-256 key. 0 or GW_ENOMEM / GW_EIO. */
int gw_pki_key_new(EVP_PKEY **out);

/* A self-signed CA certificate for @key: CN @cn, valid from an hour ago
 * (clock skew) for @days, basicConstraints CA:TRUE pathlen 0, keyUsage
 * keyCertSign+cRLSign, a random 128-bit serial. 0 or GW_EINVAL / GW_EIO. */
int gw_pki_ca_new(EVP_PKEY *key, const char *cn, int days, X509 **out);

/* A leaf certificate for @pub issued by (@ca_key, @ca): CN @cn, SAN URI
 * @uri (and SAN IP @ip when not NULL: "127.0.0.1" or an IPv6 text), valid
 * from an hour ago for @days, CA:FALSE, digitalSignature, extendedKeyUsage
 * serverAuth+clientAuth (members are both). 0 or GW_EINVAL / GW_EIO. */
int gw_pki_cert_issue(EVP_PKEY *ca_key, X509 *ca, EVP_PKEY *pub, const char *cn, const char *uri,
		      const char *ip, int days, X509 **out);
/* The same valid for @secs seconds (backdated only 5 s under a day). */
int gw_pki_cert_issue_secs(EVP_PKEY *ca_key, X509 *ca, EVP_PKEY *pub, const char *cn,
			   const char *uri, const char *ip, long secs, X509 **out);

/* Check that @cert was issued by @ca (signature), that @ca is a CA, and
 * that @now lies within both validity windows. 0, GW_EPERM (with the reason
 * in @why: "not issued by the cluster CA", "expired", "not yet valid") or
 * GW_ENOMEM. */
int gw_pki_verify(X509 *ca, X509 *cert, time_t now, char *why, size_t whylen);

/* The first URI of @cert's subjectAltName into @out. 0, GW_ENOTFOUND (no
 * URI SAN) or GW_EINVAL (it does not fit in @len, or holds a NUL). */
int gw_pki_cert_uri(X509 *cert, char *out, size_t len);

/* SHA-256 of @cert's DER as lowercase hex (GW_PKI_FINGERPRINT_LEN bytes
 * with the NUL). 0 or GW_EIO. */
int gw_pki_fingerprint(X509 *cert, char out[GW_PKI_FINGERPRINT_LEN]);

/* Seconds from @now until @cert expires (negative once expired). */
int64_t gw_pki_cert_seconds_left(X509 *cert, time_t now);

/* PEM text of a key (PKCS#8, unencrypted) or a certificate, malloc'ed and
 * NUL-terminated (caller frees), or NULL on ENOMEM. */
char *gw_pki_key_pem(EVP_PKEY *key);
char *gw_pki_cert_pem(X509 *cert);
/* Parse PEM text. 0 or GW_EINVAL (not a key / certificate; @why says what
 * OpenSSL found). */
int gw_pki_key_parse(const char *pem, size_t len, EVP_PKEY **out, char *why, size_t whylen);
int gw_pki_cert_parse(const char *pem, size_t len, X509 **out, char *why, size_t whylen);

/* Files: write atomically (keys with mode 0600, certificates 0644) or read
 * back. 0, GW_ENOTFOUND (no such file), GW_EIO or GW_EINVAL (a file that
 * is not what it should be: the caller logs it, naming the file). */
int gw_pki_key_save(const char *path, EVP_PKEY *key);
int gw_pki_cert_save(const char *path, X509 *cert);
int gw_pki_key_load(const char *path, EVP_PKEY **out, char *why, size_t whylen);
int gw_pki_cert_load(const char *path, X509 **out, char *why, size_t whylen);

/* True when @key is the private key of @cert. */
bool gw_pki_key_matches(EVP_PKEY *key, X509 *cert);

#endif
