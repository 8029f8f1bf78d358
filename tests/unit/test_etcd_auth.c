/* test_etcd_auth.c: the decisions of etcd auth (admin/etcd_authz.c) that
 * need no server: key-range permission cover (single keys, prefixes, open
 * ends, unions of ranges, READ vs WRITE vs READWRITE), tokens (round trip,
 * tampered payload or MAC, wrong key, expired, garbage), password hashes
 * (match, mismatch, malformed stored hashes, bounds), name checks, and
 * lib/cidr (the trusted-client list). */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "admin/etcd_int.h"
#include "lib/cidr.h"
#include "lib/err.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#define P(t, k, e)                                                                                 \
	{                                                                                          \
		GW_ETCD__PERM_##t, k, sizeof k - 1, e, sizeof e - 1                                \
	}
#define KEY(t, k)                                                                                  \
	{                                                                                          \
		GW_ETCD__PERM_##t, k, sizeof k - 1, NULL, 0                                        \
	}

static bool allows(const struct gw_etcd__perm *p, size_t n, int want, const char *key,
		   const char *end)
{
	return gw_etcd__perm_allows(p, n, want, key, strlen(key), end, end ? strlen(end) : 0);
}

static void test_perm_single_and_prefix(void **state)
{
	const struct gw_etcd__perm p[] = {KEY(READ, "/a"), P(READWRITE, "/app/", "/app0")};
	(void)state;
	assert_true(allows(p, 2, GW_ETCD__PERM_READ, "/a", NULL));
	assert_false(allows(p, 2, GW_ETCD__PERM_WRITE, "/a", NULL));
	assert_false(allows(p, 2, GW_ETCD__PERM_READ, "/a0", NULL));
	assert_false(allows(p, 2, GW_ETCD__PERM_READ, "/", NULL));
	/* a range over a single-key permission needs more than the key */
	assert_false(allows(p, 2, GW_ETCD__PERM_READ, "/a", "/b"));
	assert_true(allows(p, 2, GW_ETCD__PERM_WRITE, "/app/x", NULL));
	assert_true(allows(p, 2, GW_ETCD__PERM_READ, "/app/", "/app0"));
	assert_true(allows(p, 2, GW_ETCD__PERM_READ, "/app/x", "/app/y"));
	assert_false(allows(p, 2, GW_ETCD__PERM_READ, "/app/", "/app1"));
	assert_false(allows(p, 2, GW_ETCD__PERM_READ, "/ap", "/app0"));
	assert_false(allows(p, 2, GW_ETCD__PERM_READ, "/app0", NULL));
	/* everything from a key ("\0" range end) and everything */
	assert_false(gw_etcd__perm_allows(p, 2, GW_ETCD__PERM_READ, "/app/", 5, "\0", 1));
	assert_false(gw_etcd__perm_allows(p, 2, GW_ETCD__PERM_READ, "\0", 1, "\0", 1));
	assert_false(allows(NULL, 0, GW_ETCD__PERM_READ, "/a", NULL));
}

static void test_perm_union_and_open_end(void **state)
{
	/* [/a, /c) and [/c, /e) cover [/b, /d); a gap at /e.. does not */
	const struct gw_etcd__perm p[] = {P(READ, "/a", "/c"), P(READ, "/c", "/e"),
					  P(WRITE, "/x", "/z")};
	const struct gw_etcd__perm all[] = {{GW_ETCD__PERM_READWRITE, "\0", 1, "\0", 1}};
	const struct gw_etcd__perm from[] = {{GW_ETCD__PERM_READ, "/m", 2, "\0", 1}};
	(void)state;
	assert_true(allows(p, 3, GW_ETCD__PERM_READ, "/b", "/d"));
	assert_true(allows(p, 3, GW_ETCD__PERM_READ, "/a", "/e"));
	assert_false(allows(p, 3, GW_ETCD__PERM_READ, "/a", "/e0"));
	assert_false(allows(p, 3, GW_ETCD__PERM_READ, "/x", NULL)); /* WRITE only */
	assert_true(allows(p, 3, GW_ETCD__PERM_WRITE, "/y", NULL));
	assert_true(allows(all, 1, GW_ETCD__PERM_WRITE, "anything", NULL));
	assert_true(gw_etcd__perm_allows(all, 1, GW_ETCD__PERM_READ, "\0", 1, "\0", 1));
	assert_true(gw_etcd__perm_allows(from, 1, GW_ETCD__PERM_READ, "/zzz", 4, "\0", 1));
	assert_true(allows(from, 1, GW_ETCD__PERM_READ, "/m", NULL));
	assert_false(gw_etcd__perm_allows(from, 1, GW_ETCD__PERM_READ, "/l", 2, "\0", 1));
	assert_false(allows(from, 1, GW_ETCD__PERM_WRITE, "/n", NULL));
	/* an inverted range asks for its first key */
	assert_true(allows(p, 3, GW_ETCD__PERM_READ, "/b", "/a"));
}

static void test_perm_binary_keys(void **state)
{
	/* a key with a 0 byte inside: [k, k"\0") is exactly the key */
	const struct gw_etcd__perm p[] = {{GW_ETCD__PERM_READ, "k\0x", 3, NULL, 0}};
	(void)state;
	assert_true(gw_etcd__perm_allows(p, 1, GW_ETCD__PERM_READ, "k\0x", 3, NULL, 0));
	assert_false(gw_etcd__perm_allows(p, 1, GW_ETCD__PERM_READ, "k\0", 2, NULL, 0));
	assert_false(gw_etcd__perm_allows(p, 1, GW_ETCD__PERM_READ, "k\0x\0", 4, NULL, 0));
}

static const uint8_t key1[GW_ETCD__TOKEN_KEY] = {1, 2, 3};
static const uint8_t key2[GW_ETCD__TOKEN_KEY] = {9, 9, 9};

static void test_token(void **state)
{
	char tok[GW_ETCD__TOKEN_MAX], user[GW_ETCD_AUTH_MAX_NAME + 1], bad[GW_ETCD__TOKEN_MAX];
	char longname[GW_ETCD_AUTH_MAX_NAME + 2];
	uint64_t gen = 0;
	size_t n;
	(void)state;

	assert_int_equal(gw_etcd__token_sign(key1, "alice", 42, 1000000, tok, sizeof tok), 0);
	n = strlen(tok);
	assert_int_equal(gw_etcd__token_verify(key1, tok, n, 999999, user, sizeof user, &gen), 0);
	assert_string_equal(user, "alice");
	assert_int_equal(gen, 42);
	/* expired, wrong key */
	assert_int_equal(gw_etcd__token_verify(key1, tok, n, 1000000, user, sizeof user, &gen),
			 GW_EINVALIDTOKEN);
	assert_int_equal(gw_etcd__token_verify(key2, tok, n, 0, user, sizeof user, &gen),
			 GW_EINVALIDTOKEN);
	/* every single-character change of payload or MAC is refused */
	for (size_t i = 0; i < n; i++) {
		memcpy(bad, tok, n + 1);
		if (bad[i] == '.') {
			continue;
		}
		bad[i] = bad[i] == 'a' ? 'b' : 'a';
		assert_int_equal(gw_etcd__token_verify(key1, bad, n, 0, user, sizeof user, &gen),
				 GW_EINVALIDTOKEN);
	}
	/* truncated, garbage, empty */
	assert_int_equal(gw_etcd__token_verify(key1, tok, n - 1, 0, user, sizeof user, &gen),
			 GW_EINVALIDTOKEN);
	assert_int_equal(gw_etcd__token_verify(key1, "x.y", 3, 0, user, sizeof user, &gen),
			 GW_EINVALIDTOKEN);
	assert_int_equal(gw_etcd__token_verify(key1, "", 0, 0, user, sizeof user, &gen),
			 GW_EINVALIDTOKEN);
	/* the user buffer bounds the name */
	assert_int_equal(gw_etcd__token_verify(key1, tok, n, 0, user, 5, &gen), GW_EINVALIDTOKEN);
	/* names: empty or over the limit are not signed */
	assert_int_equal(gw_etcd__token_sign(key1, "", 1, 1, tok, sizeof tok), GW_EINVAL);
	memset(longname, 'n', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	assert_int_equal(gw_etcd__token_sign(key1, longname, 1, 1, tok, sizeof tok), GW_EINVAL);
	assert_int_equal(gw_etcd__token_sign(key1, "alice", 1, 1, tok, 10), GW_EINVAL);
}

static void test_password(void **state)
{
	char h[160], h2[160];
	char big[GW_ETCD_AUTH_MAX_PASSWORD + 2];
	(void)state;

	assert_int_equal(gw_etcd__pw_hash("s3cret", 6, 1000, h, sizeof h), 0);
	assert_true(gw_etcd__pw_check("s3cret", 6, h));
	assert_false(gw_etcd__pw_check("s3cre", 5, h));
	assert_false(gw_etcd__pw_check("s3cret!", 7, h));
	assert_false(gw_etcd__pw_check("", 0, h));
	/* salted: the same password hashes differently */
	assert_int_equal(gw_etcd__pw_hash("s3cret", 6, 1000, h2, sizeof h2), 0);
	assert_string_not_equal(h, h2);
	/* malformed stored hashes never match */
	assert_false(gw_etcd__pw_check("s3cret", 6, NULL));
	assert_false(gw_etcd__pw_check("s3cret", 6, ""));
	assert_false(gw_etcd__pw_check("s3cret", 6, "pbkdf2-sha256$0$00$00"));
	assert_false(gw_etcd__pw_check("s3cret", 6, "md5$1$2$3"));
	h[strlen(h) - 1] = h[strlen(h) - 1] == '0' ? '1' : '0';
	assert_false(gw_etcd__pw_check("s3cret", 6, h));
	/* bounds */
	memset(big, 'p', sizeof big);
	assert_int_equal(gw_etcd__pw_hash(big, sizeof big, 1000, h, sizeof h), GW_EINVAL);
	assert_int_equal(gw_etcd__pw_hash("x", 1, 1000, h, 20), GW_EINVAL);
}

static void test_names(void **state)
{
	char longname[GW_ETCD_AUTH_MAX_NAME + 2];
	(void)state;
	assert_int_equal(gw_etcd__auth_name_check("alice", GW_EUSEREMPTY), 0);
	assert_int_equal(gw_etcd__auth_name_check("", GW_EUSEREMPTY), GW_EUSEREMPTY);
	assert_int_equal(gw_etcd__auth_name_check(NULL, GW_EROLEEMPTY), GW_EROLEEMPTY);
	assert_int_equal(gw_etcd__auth_name_check("a\nb", GW_EUSEREMPTY), GW_EINVAL);
	memset(longname, 'n', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	assert_int_equal(gw_etcd__auth_name_check(longname, GW_EUSEREMPTY), GW_ELIMIT);
	longname[GW_ETCD_AUTH_MAX_NAME] = '\0';
	assert_int_equal(gw_etcd__auth_name_check(longname, GW_EUSEREMPTY), 0);
}

static void test_cidr(void **state)
{
	struct gw_cidr c[4];
	int n = 0;
	struct sockaddr_in a4 = {.sin_family = AF_INET};
	struct sockaddr_in6 a6 = {.sin6_family = AF_INET6};
	(void)state;

	assert_int_equal(gw_cidr_parse("127.0.0.1/32,::1/128", c, 4, &n), 0);
	assert_int_equal(n, 2);
	inet_pton(AF_INET, "127.0.0.1", &a4.sin_addr);
	assert_true(gw_cidr_match(c, n, (struct sockaddr *)&a4));
	inet_pton(AF_INET, "127.0.0.2", &a4.sin_addr);
	assert_false(gw_cidr_match(c, n, (struct sockaddr *)&a4));
	inet_pton(AF_INET6, "::1", &a6.sin6_addr);
	assert_true(gw_cidr_match(c, n, (struct sockaddr *)&a6));
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &a6.sin6_addr);
	assert_true(gw_cidr_match(c, n, (struct sockaddr *)&a6)); /* v4-mapped */
	n = 0;
	assert_int_equal(gw_cidr_parse("10.0.0.0/8", c, 4, &n), 0);
	inet_pton(AF_INET, "10.200.1.1", &a4.sin_addr);
	assert_true(gw_cidr_match(c, n, (struct sockaddr *)&a4));
	n = 0;
	assert_int_equal(gw_cidr_parse("10.0.0.0/33", c, 4, &n), GW_EINVAL);
	n = 0;
	assert_int_equal(gw_cidr_parse("nope", c, 4, &n), GW_EINVAL);
	n = 0;
	assert_int_equal(gw_cidr_parse("1.1.1.1,2.2.2.2,3.3.3.3,4.4.4.4,5.5.5.5", c, 4, &n),
			 GW_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_perm_single_and_prefix),
	    cmocka_unit_test(test_perm_union_and_open_end),
	    cmocka_unit_test(test_perm_binary_keys),
	    cmocka_unit_test(test_token),
	    cmocka_unit_test(test_password),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_cidr),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
