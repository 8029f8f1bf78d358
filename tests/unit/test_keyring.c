/* test_keyring.c: lib/keyring (sealing round-trips, a blob opens only with
 * its key id, its key and its aad; tampering is detected; rotation keeps
 * old blobs readable; the file is 0600 and malformed files are refused)
 * and lib/certkey (a pair parses, a sealed key is opened, a key of another
 * certificate and dates outside the validity are refused with their
 * messages). */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "lib/certkey.h"
#include "lib/err.h"
#include "lib/keyring.h"
#include "lib/pki.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *tmpdir(void)
{
	char tmpl[] = "/tmp/gw-keyring-XXXXXX";
	char *d = mkdtemp(tmpl);
	assert_non_null(d);
	return strdup(d);
}

static void rmdir_all(char *dir)
{
	char p[256];
	snprintf(p, sizeof p, "%s/%s", dir, GW_KEYRING_FILE);
	unlink(p);
	rmdir(dir);
	free(dir);
}

static void test_seal_open(void **state)
{
	char *dir = tmpdir(), *blob = NULL, *plain = NULL, *blob2 = NULL;
	struct gw_keyring *kr = NULL;
	const char msg[] = "-----BEGIN PRIVATE KEY-----\nsecret\n";
	size_t len = 0;
	(void)state;

	assert_int_equal(gw_keyring_load(dir, false, &kr), GW_ENOTFOUND);
	assert_int_equal(gw_keyring_load(dir, true, &kr), 0);
	assert_int_equal(gw_keyring_count(kr), 1);
	assert_int_equal(gw_keyring_seal(kr, "ssl key", msg, strlen(msg), &blob), 0);
	assert_true(gw_keyring_is_sealed(blob));
	assert_null(strstr(blob, "secret"));
	assert_int_equal(strncmp(blob + strlen(GW_KEYRING_PREFIX), gw_keyring_current(kr), 8), 0);
	assert_int_equal(gw_keyring_open(kr, "ssl key", blob, &plain, &len), 0);
	assert_int_equal(len, strlen(msg));
	assert_string_equal(plain, msg);
	gw_keyring_wipe_free(plain, len + 1);
	/* fresh nonce each time */
	assert_int_equal(gw_keyring_seal(kr, "ssl key", msg, strlen(msg), &blob2), 0);
	assert_string_not_equal(blob, blob2);
	free(blob2);
	/* wrong aad, altered byte, unknown kid, not a blob */
	assert_int_equal(gw_keyring_open(kr, "other", blob, &plain, &len), GW_ECORRUPT);
	size_t at = strlen(blob) - 6;
	blob[at] = blob[at] == 'A' ? 'B' : 'A';
	assert_int_equal(gw_keyring_open(kr, "ssl key", blob, &plain, &len), GW_ECORRUPT);
	memcpy(blob + strlen(GW_KEYRING_PREFIX), "zzzzzzzz", 8);
	assert_int_equal(gw_keyring_open(kr, "ssl key", blob, &plain, &len), GW_ENOTFOUND);
	assert_int_equal(gw_keyring_open(kr, "ssl key", "plain text", &plain, &len), GW_EINVAL);
	assert_int_equal(gw_keyring_open(kr, NULL, "gwenc1:", &plain, &len), GW_EINVAL);
	free(blob);
	gw_keyring_free(kr);
	rmdir_all(dir);
}

static void test_rotate_and_file(void **state)
{
	char *dir = tmpdir(), *blob = NULL, *plain = NULL, kid[9], path[256], old[9];
	struct gw_keyring *kr = NULL, *kr2 = NULL;
	struct stat st;
	size_t len;
	(void)state;

	assert_int_equal(gw_keyring_load(dir, true, &kr), 0);
	snprintf(path, sizeof path, "%s/%s", dir, GW_KEYRING_FILE);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	memcpy(old, gw_keyring_current(kr), 9);
	assert_int_equal(gw_keyring_seal(kr, NULL, "abc", 3, &blob), 0);
	assert_int_equal(gw_keyring_rotate(dir, kid), 0);
	assert_int_equal(gw_keyring_load(dir, false, &kr2), 0);
	assert_int_equal(gw_keyring_count(kr2), 2);
	assert_string_equal(gw_keyring_current(kr2), kid);
	assert_string_not_equal(kid, old);
	/* the old key still opens, the new one seals */
	assert_int_equal(gw_keyring_open(kr2, NULL, blob, &plain, &len), 0);
	assert_string_equal(plain, "abc");
	gw_keyring_wipe_free(plain, len + 1);
	free(blob);
	assert_int_equal(gw_keyring_seal(kr2, NULL, "", 0, &blob), 0);
	assert_int_equal(strncmp(blob + strlen(GW_KEYRING_PREFIX), kid, 8), 0);
	assert_int_equal(gw_keyring_open(kr2, NULL, blob, &plain, &len), 0);
	assert_int_equal(len, 0);
	gw_keyring_wipe_free(plain, 1);
	/* the one-key ring cannot open what the new key sealed */
	assert_int_equal(gw_keyring_open(kr, NULL, blob, &plain, &len), GW_ENOTFOUND);
	free(blob);
	gw_keyring_free(kr);
	gw_keyring_free(kr2);
	rmdir_all(dir);
}

static void test_reseal(void **state)
{
	char *dir = tmpdir(), *blob = NULL, *again = NULL, *plain = NULL, kid[9], got[9];
	struct gw_keyring *kr = NULL, *kr2 = NULL;
	size_t len;
	(void)state;

	assert_int_equal(gw_keyring_load(dir, true, &kr), 0);
	assert_int_equal(gw_keyring_seal(kr, "aad", "secret", 6, &blob), 0);
	/* sealed by the current key: nothing to do */
	assert_int_equal(gw_keyring_reseal(kr, "aad", blob, &again), 0);
	assert_null(again);
	assert_int_equal(gw_keyring_rotate(dir, kid), 0);
	assert_int_equal(gw_keyring_load(dir, false, &kr2), 0);
	assert_int_equal(gw_keyring_reseal(kr2, "aad", blob, &again), 0);
	assert_non_null(again);
	assert_int_equal(gw_keyring_kid_of(again, got), 0);
	assert_string_equal(got, kid);
	assert_int_equal(gw_keyring_open(kr2, "aad", again, &plain, &len), 0);
	assert_string_equal(plain, "secret");
	gw_keyring_wipe_free(plain, len + 1);
	free(again);
	/* the wrong associated data, or not a blob: refused, nothing made */
	assert_int_equal(gw_keyring_reseal(kr2, "other", blob, &again), GW_ECORRUPT);
	assert_null(again);
	assert_int_equal(gw_keyring_reseal(kr2, "aad", "clear", &again), GW_EINVAL);
	assert_null(again);
	assert_int_equal(gw_keyring_kid_of("gwenc1:short", got), GW_EINVAL);
	/* a replaced default ring stays readable until the default is cleared */
	gw_keyring_set_default(kr);
	gw_keyring_set_default(kr2);
	assert_int_equal(gw_keyring_count(kr), 1);
	assert_ptr_equal(gw_keyring_default(), kr2);
	gw_keyring_set_default(NULL);
	free(blob);
	rmdir_all(dir);
}

static void test_parse_refuses(void **state)
{
	struct gw_keyring *kr = NULL;
	const char *good =
	    "0123abcd 0000000000000000000000000000000000000000000000000000000000000000\n";
	const char *bad[] = {
	    "",
	    "\n\n",
	    "0123abcd 00\n",
	    "0123ABCD 0000000000000000000000000000000000000000000000000000000000000000\n",
	    "0123abcd-0000000000000000000000000000000000000000000000000000000000000000\n",
	};
	(void)state;

	assert_int_equal(gw_keyring_parse(good, strlen(good), &kr), 0);
	assert_string_equal(gw_keyring_current(kr), "0123abcd");
	gw_keyring_free(kr);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(gw_keyring_parse(bad[i], strlen(bad[i]), &kr), GW_EINVAL);
	}
}

/* A self-signed certificate of a new key, PEM. */
static void make_pair(char **cert, char **key, int days)
{
	EVP_PKEY *k = NULL;
	X509 *x = NULL;

	assert_int_equal(gw_pki_key_new(&k), 0);
	assert_int_equal(gw_pki_ca_new(k, "test", days, &x), 0);
	*cert = gw_pki_cert_pem(x);
	*key = gw_pki_key_pem(k);
	assert_non_null(*cert);
	assert_non_null(*key);
	X509_free(x);
	EVP_PKEY_free(k);
}

static void test_certkey(void **state)
{
	char *c1, *k1, *c2, *k2, *sealed = NULL, *dir = tmpdir(), err[256];
	struct gw_keyring *kr = NULL;
	struct gw_certkey ck;
	time_t now = time(NULL);
	(void)state;

	make_pair(&c1, &k1, 30);
	make_pair(&c2, &k2, 30);
	assert_int_equal(gw_keyring_load(dir, true, &kr), 0);
	assert_int_equal(gw_certkey_load(c1, k1, NULL, GW_CERTKEY_DATES, now, &ck, err, sizeof err),
			 0);
	assert_non_null(ck.leaf);
	assert_non_null(ck.key);
	assert_int_equal(sk_X509_num(ck.chain), 0);
	gw_certkey_free(&ck);
	/* a chain: leaf then one more */
	size_t l1 = strlen(c1), l2 = strlen(c2);
	char *chain = malloc(l1 + l2 + 1);
	memcpy(chain, c1, l1);
	memcpy(chain + l1, c2, l2 + 1);
	assert_int_equal(gw_certkey_load(chain, k1, NULL, 0, now, &ck, err, sizeof err), 0);
	assert_int_equal(sk_X509_num(ck.chain), 1);
	gw_certkey_free(&ck);
	free(chain);
	/* sealed key */
	assert_int_equal(gw_keyring_seal(kr, GW_CERTKEY_AAD, k1, strlen(k1), &sealed), 0);
	assert_int_equal(gw_certkey_load(c1, sealed, kr, 0, now, &ck, err, sizeof err), 0);
	gw_certkey_free(&ck);
	assert_int_equal(gw_certkey_load(c1, sealed, NULL, 0, now, &ck, err, sizeof err),
			 GW_EINVAL);
	assert_string_equal(err, "failed to decrypt previous encrypted key");
	/* mismatch, garbage, dates */
	assert_int_equal(gw_certkey_load(c1, k2, NULL, 0, now, &ck, err, sizeof err), GW_EINVAL);
	assert_string_equal(err, "key does not match cert");
	assert_int_equal(gw_certkey_load("-----BEGIN CERTIFICATE-----\nAAAA\n", k1, NULL, 0, now,
					 &ck, err, sizeof err),
			 GW_EINVAL);
	assert_string_equal(err, "failed to parse cert: PEM_read_bio_X509_AUX() failed");
	assert_int_equal(gw_certkey_load(c1, "-----BEGIN PRIVATE KEY-----\n", NULL, 0, now, &ck,
					 err, sizeof err),
			 GW_EINVAL);
	assert_string_equal(err, "failed to parse key: PEM_read_bio_PrivateKey() failed");
	assert_int_equal(
	    gw_certkey_load(c1, k1, NULL, GW_CERTKEY_DATES, now + 40 * 86400, &ck, err, sizeof err),
	    GW_EINVAL);
	assert_non_null(strstr(err, "cert expired at "));
	assert_int_equal(
	    gw_certkey_load(c1, k1, NULL, GW_CERTKEY_DATES, now - 86400, &ck, err, sizeof err),
	    GW_EINVAL);
	assert_non_null(strstr(err, "cert not valid before "));
	/* without the date check, an expired certificate is still served */
	assert_int_equal(gw_certkey_load(c1, k1, NULL, 0, now + 40 * 86400, &ck, err, sizeof err),
			 0);
	gw_certkey_free(&ck);
	free(sealed);
	free(c1);
	free(k1);
	free(c2);
	free(k2);
	gw_keyring_free(kr);
	rmdir_all(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_seal_open), cmocka_unit_test(test_rotate_and_file),
	    cmocka_unit_test(test_reseal),    cmocka_unit_test(test_parse_refuses),
	    cmocka_unit_test(test_certkey),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
