/* test_raft_token.c: join tokens' pure parts (raft/token.c): the text
 * "apigw1.<id>.<secret>.<CA sha256>" parses only when every field has its
 * length and lowercase hex (a trailing newline from a token file is fine),
 * and a record opens only for its secret, before expiry, unrevoked, with
 * uses left, the secret judged first. */
#include "config.h"

#include "lib/err.h"
#include "raft/raft_int.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define ID  "0a1b2c3d"
#define SEC "00112233445566778899aabbccddeeff"
#define FP  "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"

static void test_parse(void **state)
{
	char id[GW_RAFT__TOKEN_ID_LEN + 1], sec[GW_RAFT__TOKEN_SECRET_LEN + 1], fp[65];
	static const char *const bad[] = {
	    "",
	    "apigw2." ID "." SEC "." FP,
	    "apigw1." ID "." SEC,
	    "apigw1." ID "0." SEC "." FP,
	    "apigw1." ID "." SEC "0." FP,
	    "apigw1." ID "." SEC "." FP "0",
	    "apigw1.0A1B2C3D." SEC "." FP,
	    "apigw1." ID "." SEC "." FP " junk",
	    "apigw1.." SEC "." FP,
	};
	size_t i;

	(void)state;
	assert_int_equal(gw_raft__token_parse("apigw1." ID "." SEC "." FP, id, sec, fp), 0);
	assert_string_equal(id, ID);
	assert_string_equal(sec, SEC);
	assert_string_equal(fp, FP);
	assert_int_equal(gw_raft__token_parse("apigw1." ID "." SEC "." FP "\n", id, sec, fp), 0);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(gw_raft__token_parse(bad[i], id, sec, fp), GW_EINVAL);
	}
	assert_int_equal(gw_raft__token_parse(NULL, id, sec, fp), GW_EINVAL);
}

static void test_check(void **state)
{
	struct gw_raft__token t;
	const char *why = NULL;

	(void)state;
	memset(&t, 0, sizeof t);
	gw_raft__token_hash(SEC, t.hash);
	assert_int_equal(strlen(t.hash), 64);
	t.expires = 1000;
	t.uses = 1;
	assert_int_equal(gw_raft__token_check(&t, SEC, 999, &why), 0);
	assert_int_equal(gw_raft__token_check(&t, SEC "0", 999, &why), GW_EPERM);
	assert_string_equal(why, "wrong token secret");
	assert_int_equal(gw_raft__token_check(&t, SEC, 1000, &why), GW_EPERM);
	assert_string_equal(why, "the token has expired");
	t.uses = 0;
	assert_int_equal(gw_raft__token_check(&t, SEC, 10, &why), GW_EPERM);
	assert_string_equal(why, "the token has no uses left");
	t.uses = -1; /* unlimited */
	assert_int_equal(gw_raft__token_check(&t, SEC, 10, &why), 0);
	t.revoked = true;
	assert_int_equal(gw_raft__token_check(&t, SEC, 10, &why), GW_EPERM);
	assert_string_equal(why, "the token was revoked");
	/* a wrong secret learns nothing about the state */
	assert_int_equal(gw_raft__token_check(&t, "x", 5000, &why), GW_EPERM);
	assert_string_equal(why, "wrong token secret");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_check),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
