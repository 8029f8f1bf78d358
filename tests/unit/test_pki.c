/* test_pki.c: lib/pki against OpenSSL itself: a CA and leaf certificates
 * made here verify with X509_verify_cert (the same check a TLS handshake
 * runs), carry their URI, refuse another CA's leaf, expire and are not yet
 * valid at the right times, round-trip through PEM and files (keys 0600),
 * and refuse files that are not keys or certificates. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "lib/err.h"
#include "lib/pki.h"

#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define URI "apigw://cluster/00000000000000aa/node/00000000000000bb"

struct ca {
	EVP_PKEY *key;
	X509 *cert;
};

static void ca_make(struct ca *ca, const char *cn)
{
	assert_int_equal(gw_pki_key_new(&ca->key), 0);
	assert_int_equal(gw_pki_ca_new(ca->key, cn, 3650, &ca->cert), 0);
}

static void ca_free(struct ca *ca)
{
	X509_free(ca->cert);
	EVP_PKEY_free(ca->key);
}

static X509 *leaf(struct ca *ca, EVP_PKEY **key, int days)
{
	X509 *x = NULL;
	assert_int_equal(gw_pki_key_new(key), 0);
	assert_int_equal(
	    gw_pki_cert_issue(ca->key, ca->cert, *key, "node-b", URI, "127.0.0.1", days, &x), 0);
	return x;
}

/* OpenSSL's own chain check, with @ca as the only trust anchor. */
static int openssl_verify(X509 *ca, X509 *cert)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int ok;

	X509_STORE_add_cert(store, ca);
	X509_STORE_CTX_init(ctx, store, cert, NULL);
	X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
	ok = X509_verify_cert(ctx);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return ok;
}

static void test_ca_and_leaf_verify(void **state)
{
	struct ca ca;
	EVP_PKEY *k;
	X509 *x;
	char why[128] = "", uri[256];

	(void)state;
	ca_make(&ca, "apigw cluster 00000000000000aa");
	x = leaf(&ca, &k, 365);
	assert_int_equal(gw_pki_verify(ca.cert, x, time(NULL), why, sizeof why), 0);
	assert_int_equal(openssl_verify(ca.cert, x), 1);
	assert_int_equal(gw_pki_cert_uri(x, uri, sizeof uri), 0);
	assert_string_equal(uri, URI);
	assert_true(gw_pki_key_matches(k, x));
	assert_false(gw_pki_key_matches(ca.key, x));
	/* the CA is a CA, the leaf is not: a leaf cannot issue */
	assert_int_equal(X509_check_ca(ca.cert), 1);
	assert_int_equal(X509_check_ca(x), 0);
	assert_int_equal(gw_pki_verify(x, x, time(NULL), why, sizeof why), GW_EPERM);
	/* the URI does not fit a short buffer */
	assert_int_equal(gw_pki_cert_uri(x, uri, 10), GW_EINVAL);
	/* the CA itself carries no URI */
	assert_int_equal(gw_pki_cert_uri(ca.cert, uri, sizeof uri), GW_ENOTFOUND);
	X509_free(x);
	EVP_PKEY_free(k);
	ca_free(&ca);
}

static void test_other_ca_refused(void **state)
{
	struct ca a, b;
	EVP_PKEY *k;
	X509 *x;
	char why[128] = "";

	(void)state;
	ca_make(&a, "a");
	ca_make(&b, "a"); /* same name, another key: must still be refused */
	x = leaf(&a, &k, 30);
	assert_int_equal(gw_pki_verify(b.cert, x, time(NULL), why, sizeof why), GW_EPERM);
	assert_string_equal(why, "not issued by the cluster CA");
	assert_int_equal(openssl_verify(b.cert, x), 0);
	X509_free(x);
	EVP_PKEY_free(k);
	ca_free(&a);
	ca_free(&b);
}

static void test_validity_window(void **state)
{
	struct ca ca;
	EVP_PKEY *k;
	X509 *x;
	time_t now;
	char why[128] = "";
	int64_t left;

	(void)state;
	ca_make(&ca, "c");
	x = leaf(&ca, &k, 2);
	/* after the issue: taken before, a slow issue (CI under load) left
	 * more than 2 days */
	now = time(NULL);
	left = gw_pki_cert_seconds_left(x, now);
	assert_true(left > 2 * 86400 - 60 && left <= 2 * 86400);
	assert_int_equal(gw_pki_verify(ca.cert, x, now + 3 * 86400, why, sizeof why), GW_EPERM);
	assert_string_equal(why, "expired");
	assert_true(gw_pki_cert_seconds_left(x, now + 3 * 86400) < 0);
	/* valid from an hour back (clock skew between members), not before */
	assert_int_equal(gw_pki_verify(ca.cert, x, now - 1800, why, sizeof why), 0);
	assert_int_equal(gw_pki_verify(ca.cert, x, now - 7200, why, sizeof why), GW_EPERM);
	assert_string_equal(why, "not yet valid");
	X509_free(x);
	EVP_PKEY_free(k);
	ca_free(&ca);
}

static void test_bad_arguments(void **state)
{
	struct ca ca;
	EVP_PKEY *k;
	X509 *x = NULL;

	(void)state;
	ca_make(&ca, "c");
	assert_int_equal(gw_pki_key_new(&k), 0);
	/* a comma would smuggle another name into the SAN list */
	assert_int_equal(
	    gw_pki_cert_issue(ca.key, ca.cert, k, "n", "apigw://x,DNS:evil", NULL, 1, &x),
	    GW_EINVAL);
	assert_null(x);
	assert_int_equal(gw_pki_cert_issue(ca.key, ca.cert, k, "n", URI, "1.2.3.4,DNS:e", 1, &x),
			 GW_EINVAL);
	assert_int_equal(gw_pki_cert_issue(ca.key, ca.cert, k, "n", URI, NULL, 0, &x), GW_EINVAL);
	assert_int_equal(gw_pki_ca_new(k, "n", 0, &x), GW_EINVAL);
	assert_int_equal(gw_pki_cert_issue(ca.key, ca.cert, k, "n", URI, "not-an-ip", 1, &x),
			 GW_EIO);
	assert_null(x);
	assert_int_equal(ERR_peek_error(), 0); /* the queue is left empty */
	EVP_PKEY_free(k);
	ca_free(&ca);
}

static void test_pem_and_fingerprint(void **state)
{
	struct ca ca;
	EVP_PKEY *k, *k2;
	X509 *x, *x2;
	char *pem, fp1[GW_PKI_FINGERPRINT_LEN], fp2[GW_PKI_FINGERPRINT_LEN], why[256];

	(void)state;
	ca_make(&ca, "c");
	x = leaf(&ca, &k, 1);
	pem = gw_pki_cert_pem(x);
	assert_non_null(strstr(pem, "-----BEGIN CERTIFICATE-----"));
	assert_int_equal(gw_pki_cert_parse(pem, strlen(pem), &x2, why, sizeof why), 0);
	assert_int_equal(gw_pki_fingerprint(x, fp1), 0);
	assert_int_equal(gw_pki_fingerprint(x2, fp2), 0);
	assert_int_equal(strlen(fp1), 64);
	assert_string_equal(fp1, fp2);
	assert_int_equal(gw_pki_fingerprint(ca.cert, fp2), 0);
	assert_string_not_equal(fp1, fp2);
	free(pem);
	X509_free(x2);

	pem = gw_pki_key_pem(k);
	assert_non_null(strstr(pem, "-----BEGIN PRIVATE KEY-----"));
	assert_int_equal(gw_pki_key_parse(pem, strlen(pem), &k2, why, sizeof why), 0);
	assert_true(gw_pki_key_matches(k2, x));
	EVP_PKEY_free(k2);
	/* a certificate is not a key, truncated text is nothing */
	assert_int_equal(gw_pki_key_parse(pem, strlen(pem) / 2, &k2, why, sizeof why), GW_EINVAL);
	assert_null(k2);
	assert_true(why[0] != '\0');
	free(pem);
	pem = gw_pki_cert_pem(x);
	assert_int_equal(gw_pki_key_parse(pem, strlen(pem), &k2, why, sizeof why), GW_EINVAL);
	assert_int_equal(gw_pki_cert_parse("garbage", 7, &x2, why, sizeof why), GW_EINVAL);
	assert_null(x2);
	assert_int_equal(ERR_peek_error(), 0);
	free(pem);
	X509_free(x);
	EVP_PKEY_free(k);
	ca_free(&ca);
}

static void test_files(void **state)
{
	char dir[] = "/tmp/apigw-pki-XXXXXX", kp[128], cp[128], why[256] = "";
	struct ca ca;
	EVP_PKEY *k;
	X509 *x;
	struct stat st;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(kp, sizeof kp, "%s/ca.key", dir);
	snprintf(cp, sizeof cp, "%s/ca.crt", dir);
	ca_make(&ca, "c");
	assert_int_equal(gw_pki_key_save(kp, ca.key), 0);
	assert_int_equal(gw_pki_cert_save(cp, ca.cert), 0);
	assert_int_equal(stat(kp, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(stat(cp, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	assert_int_equal(gw_pki_key_load(kp, &k, why, sizeof why), 0);
	assert_int_equal(gw_pki_cert_load(cp, &x, why, sizeof why), 0);
	assert_true(gw_pki_key_matches(k, x));
	assert_int_equal(X509_cmp(x, ca.cert), 0);
	EVP_PKEY_free(k);
	X509_free(x);
	/* the wrong kind of file, a missing one, an oversized one */
	assert_int_equal(gw_pki_key_load(cp, &k, why, sizeof why), GW_EINVAL);
	unlink(kp);
	assert_int_equal(gw_pki_key_load(kp, &k, why, sizeof why), GW_ENOTFOUND);
	f = fopen(kp, "w");
	assert_non_null(f);
	for (int i = 0; i < 70000; i++) {
		fputc('A', f);
	}
	fclose(f);
	assert_int_equal(gw_pki_key_load(kp, &k, why, sizeof why), GW_EINVAL);
	assert_non_null(strstr(why, "larger than"));
	unlink(kp);
	unlink(cp);
	rmdir(dir);
	ca_free(&ca);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ca_and_leaf_verify),  cmocka_unit_test(test_other_ca_refused),
	    cmocka_unit_test(test_validity_window),     cmocka_unit_test(test_bad_arguments),
	    cmocka_unit_test(test_pem_and_fingerprint), cmocka_unit_test(test_files),
	};
	return cmocka_run_group_tests_name("pki", tests, NULL, NULL);
}
