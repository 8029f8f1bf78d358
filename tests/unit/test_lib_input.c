/* test_lib_input.c: lib/ helpers that guard input and secrets — the strict
 * JSON parse of API bodies (lib/json.h), constant-time comparison
 * (lib/ct.h) and kernel randomness (lib/rand.h), with the raft identity's
 * use of it. getrandom is replaced by this file's own definition (the
 * executable's symbol wins over libc's), so short reads, EINTR and a
 * kernel without getrandom can be played. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "lib/ct.h"
#include "lib/err.h"
#include "lib/json.h"
#include "lib/rand.h"
#include "raft/raft_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* ---- getrandom, played */

enum fake { FAKE_OFF, FAKE_SHORT, FAKE_EINTR, FAKE_ENOSYS };
static enum fake fake_mode = FAKE_OFF;
static unsigned fake_calls;

ssize_t getrandom(void *buf, size_t len, unsigned int flags)
{
	fake_calls++;
	switch (fake_mode) {
	case FAKE_SHORT: /* at most 3 bytes per call */
		len = len < 3 ? len : 3;
		return syscall(SYS_getrandom, buf, len, flags);
	case FAKE_EINTR: /* every other call interrupted */
		if (fake_calls % 2 == 1) {
			errno = EINTR;
			return -1;
		}
		return syscall(SYS_getrandom, buf, len, flags);
	case FAKE_ENOSYS:
		errno = ENOSYS;
		return -1;
	default:
		return syscall(SYS_getrandom, buf, len, flags);
	}
}

/* ---- strict JSON */

/* The reason gw_json_parse_strict gives for @text, or "" if it parses. */
static const char *strict_err(const char *text, size_t len, int depth)
{
	static char err[256];
	cJSON *v = (cJSON *)1;
	int rv;

	err[0] = '\0';
	rv = gw_json_parse_strict(text, len, depth, &v, err, sizeof err);
	if (rv == 0) {
		assert_non_null(v);
		cJSON_Delete(v);
		return "";
	}
	assert_int_equal(rv, GW_EINVAL);
	assert_null(v);
	assert_true(err[0] != '\0');
	return err;
}

#define STRICT(s) strict_err((s), strlen(s), 64)

static void test_json_strict_accepts(void **state)
{
	static const char *const ok[] = {
	    "{}",
	    " {\"a\":1}\r\n\t ",
	    "[1,2,[3]]",
	    "\"s\"",
	    "5",
	    "null",
	    "{\"a\":{\"x\":1},\"b\":{\"x\":2}}",             /* same key in sibling objects */
	    "[{\"a\":1},{\"a\":1}]",                         /* and in array elements */
	    "{\"a\":1,\"A\":2,\"a \":3,\"\":4}",             /* keys differ by case / space */
	    "{\"uri\":\"/a\",\"desc\":\"{\\\"uri\\\":1}\"}", /* keys inside strings */
	};
	cJSON *v = NULL;
	char err[64];

	(void)state;
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		assert_string_equal(STRICT(ok[i]), "");
	}
	/* no NUL needed: the length bounds the parse */
	assert_int_equal(gw_json_parse_strict("{\"a\":1}garbage", 7, 0, &v, err, sizeof err), 0);
	assert_int_equal(cJSON_GetObjectItem(v, "a")->valueint, 1);
	cJSON_Delete(v);
}

static void test_json_strict_duplicate_keys(void **state)
{
	(void)state;
	assert_string_equal(STRICT("{\"uri\":\"/a\",\"uri\":5}"), "duplicate key \"uri\"");
	assert_string_equal(STRICT("{\"a\":1,\"b\":2,\"c\":3,\"b\":4}"), "duplicate key \"b\"");
	/* at any depth, in objects and arrays */
	assert_string_equal(STRICT("{\"upstream\":{\"nodes\":{\"127.0.0.1:1\":1,"
				   "\"127.0.0.1:1\":2}}}"),
			    "duplicate key \"127.0.0.1:1\"");
	assert_string_equal(STRICT("[1,{\"x\":[{\"k\":1,\"k\":1}]}]"), "duplicate key \"k\"");
	/* an escape that decodes to the same key is the same key */
	assert_string_equal(STRICT("{\"uri\":1,\"\\u0075ri\":2}"), "duplicate key \"uri\"");
	/* what the reason quotes is printable and bounded */
	assert_string_equal(STRICT("{\"a\\nb\":1,\"a\\nb\":2}"), "duplicate key \"a?b\"");
	char big[500];
	snprintf(big, sizeof big, "{\"%0200d\":1,\"%0200d\":2}", 7, 7);
	assert_non_null(strstr(STRICT(big), "(cut)"));
	assert_true(strlen(STRICT(big)) < 100);
}

static void test_json_strict_trailing_bytes(void **state)
{
	(void)state;
	assert_string_equal(STRICT("{\"uri\":\"/a\"}xxx"),
			    "trailing bytes after the JSON value at byte 12");
	assert_string_equal(STRICT("{} {}"), "trailing bytes after the JSON value at byte 3");
	assert_string_equal(STRICT("[1]]"), "trailing bytes after the JSON value at byte 3");
	assert_string_equal(STRICT("5x"), "trailing bytes after the JSON value at byte 1");
	assert_string_equal(STRICT("{}\n\v"), "trailing bytes after the JSON value at byte 3");
	/* a NUL inside the body is a byte like any other */
	assert_string_equal(strict_err("{}\0{}", 5, 64),
			    "trailing bytes after the JSON value at byte 2");
}

static void test_json_strict_malformed_and_deep(void **state)
{
	char deep[200];

	(void)state;
	assert_string_equal(STRICT("{\"a\":}"), "malformed JSON at byte 5");
	assert_string_equal(strict_err("", 0, 64), "malformed JSON at byte 0");
	assert_string_equal(strict_err(NULL, 0, 64), "malformed JSON at byte 0");
	memset(deep, '[', 65);
	memset(deep + 65, ']', 65);
	deep[130] = '\0';
	assert_string_equal(STRICT(deep), "JSON nested deeper than 64 levels");
	assert_string_equal(strict_err(deep + 1, 128, 64), "");
	assert_string_equal(strict_err(deep, 130, 0), ""); /* 0: cJSON's own limit */
}

/* Sorting, not pairwise comparison: 100,000 keys are checked at once. */
static void test_json_strict_many_keys_fast(void **state)
{
	const int n = 100000;
	size_t cap = (size_t)n * 16 + 64, len = 0;
	char *text = malloc(cap);
	struct timespec t0, t1;
	double secs;

	(void)state;
	assert_non_null(text);
	text[len++] = '{';
	for (int i = 0; i < n; i++) {
		len += (size_t)snprintf(text + len, cap - len, "\"k%d\":%d,", i, i);
	}
	len += (size_t)snprintf(text + len, cap - len, "\"last\":0}");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_string_equal(strict_err(text, len, 64), "");
	/* the duplicate is the very last key */
	len += (size_t)snprintf(text + len - 1, cap - len, ",\"k77777\":1}") - 1;
	assert_string_equal(strict_err(text, len, 64), "duplicate key \"k77777\"");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	assert_true(secs < 5.0);
	free(text);
}

static void test_json_depth(void **state)
{
	(void)state;
	assert_int_equal(gw_json_depth("{}", 2, 10), 1);
	assert_int_equal(gw_json_depth("{\"a\":[{\"b\":1}]}", 15, 10), 3);
	assert_int_equal(gw_json_depth("{\"a\":\"[[[[[\\\"[[[\"}", 17, 3), 1);
	assert_int_equal(gw_json_depth("[[[[[[[[", 8, 5), 6);
}

/* ---- constant-time compare */

static void test_json_int_clamps(void **state)
{
	static const struct {
		const char *json;
		int64_t want;
	} cases[] = {
	    {"5", 5},        {"5.9", 5},    {"-0.5", 0},    {"-7", 0},
	    {"1e300", 1000}, {"-1e300", 0}, {"1000", 1000}, {"18446744073709551616160", 1000},
	    {"\"12\"", 42},  {"null", 42},  {"[1]", 42},
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		cJSON *j = cJSON_Parse(cases[i].json);
		assert_non_null(j);
		assert_int_equal(gw_json_int(j, 0, 1000, 42), cases[i].want);
		cJSON_Delete(j);
	}
	/* the full int64 range: no undefined conversion at either end */
	cJSON *big = cJSON_CreateNumber(1e19), *small = cJSON_CreateNumber(-1e19);
	assert_true(gw_json_int(big, INT64_MIN, INT64_MAX, 0) == INT64_MAX);
	assert_true(gw_json_int(small, INT64_MIN, INT64_MAX, 0) == INT64_MIN);
	assert_int_equal(gw_json_int(NULL, 0, 9, 3), 3);
	cJSON_Delete(big);
	cJSON_Delete(small);
}

static void test_ct_equal(void **state)
{
	(void)state;
	assert_true(gw_ct_equal("secret", 6, "secret", 6));
	assert_false(gw_ct_equal("secreT", 6, "secret", 6));
	assert_false(gw_ct_equal("Secret", 6, "secret", 6));
	assert_false(gw_ct_equal("secre", 5, "secret", 6));    /* a prefix */
	assert_false(gw_ct_equal("secretx", 7, "secret", 6));  /* longer */
	assert_false(gw_ct_equal("secret\0", 7, "secret", 6)); /* a NUL more */
	assert_false(gw_ct_equal("", 0, "secret", 6));
	assert_true(gw_ct_equal("a\0b", 3, "a\0b", 3)); /* bytes, not strings */
	assert_false(gw_ct_equal("a\0b", 3, "a\0c", 3));

	assert_true(
	    gw_ct_streq("edd1c9f034335f136f87ad84b625c8f1", "edd1c9f034335f136f87ad84b625c8f1"));
	assert_false(
	    gw_ct_streq("edd1c9f034335f136f87ad84b625c8f0", "edd1c9f034335f136f87ad84b625c8f1"));
	assert_false(gw_ct_streq("edd1c9f034335f136f87ad84b625c8f", /* one short */
				 "edd1c9f034335f136f87ad84b625c8f1"));
	/* an unset secret never matches, not even an empty key */
	assert_false(gw_ct_streq("", ""));
	assert_false(gw_ct_streq("x", ""));
	assert_false(gw_ct_streq(NULL, "x"));
	assert_false(gw_ct_streq("x", NULL));
}

/* ---- randomness */

static void test_rand_bytes_short_reads_and_eintr(void **state)
{
	unsigned char a[64], b[64], zero[64] = {0};

	(void)state;
	fake_mode = FAKE_SHORT;
	fake_calls = 0;
	memset(a, 0, sizeof a);
	assert_int_equal(gw_rand_bytes(a, sizeof a), 0);
	assert_int_equal(fake_calls, 22); /* 21 calls of 3 bytes and one of 1 */
	fake_mode = FAKE_EINTR;
	fake_calls = 0;
	memset(b, 0, sizeof b);
	assert_int_equal(gw_rand_bytes(b, sizeof b), 0);
	assert_int_equal(fake_calls, 2);
	fake_mode = FAKE_OFF;
	assert_memory_not_equal(a, zero, sizeof a);
	assert_memory_not_equal(b, zero, sizeof b);
	assert_memory_not_equal(a, b, sizeof a);
	assert_int_equal(gw_rand_bytes(a, 0), 0);
}

/* No fallback: without getrandom, ids and secrets are not made up. */
static void test_rand_fails_without_kernel(void **state)
{
	char secret[80] = "";
	uint64_t id = 0;

	(void)state;
	fake_mode = FAKE_ENOSYS;
	errno = 0;
	assert_int_equal(gw_rand_bytes(secret, 8), GW_EIO);
	assert_int_equal(errno, ENOSYS);
	assert_int_equal(gw_raft__random_id(&id, "node id"), GW_EIO);
	assert_int_equal(id, 0);
	assert_int_equal(gw_raft__random_secret(secret, sizeof secret), GW_EIO);
	assert_string_equal(secret, "");
	fake_mode = FAKE_OFF;
	assert_int_equal(gw_raft__random_id(&id, "node id"), 0);
	assert_true(id != 0 && id <= INT64_MAX);
	assert_int_equal(gw_raft__random_secret(secret, sizeof secret), 0);
	assert_int_equal(strlen(secret), 64);
	assert_int_equal(strspn(secret, "0123456789abcdef"), 64);
}

static void test_rand_xorshift(void **state)
{
	struct gw_rand_xs x, y;
	uint64_t a, b;

	(void)state;
	gw_rand_xs_seed(&x);
	gw_rand_xs_seed(&y);
	assert_true(x.s != 0 && x.s != y.s); /* seeded from the kernel */
	a = gw_rand_xs_next(&x);
	b = gw_rand_xs_next(&x);
	assert_true(a != b && x.s != 0);
	/* without the kernel it still seeds (jitter is no secret) */
	fake_mode = FAKE_ENOSYS;
	gw_rand_xs_seed(&y);
	fake_mode = FAKE_OFF;
	assert_true(y.s != 0);
	assert_true(gw_rand_xs_next(&y) != gw_rand_xs_next(&y));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_json_strict_accepts),
	    cmocka_unit_test(test_json_strict_duplicate_keys),
	    cmocka_unit_test(test_json_strict_trailing_bytes),
	    cmocka_unit_test(test_json_strict_malformed_and_deep),
	    cmocka_unit_test(test_json_strict_many_keys_fast),
	    cmocka_unit_test(test_json_depth),
	    cmocka_unit_test(test_json_int_clamps),
	    cmocka_unit_test(test_ct_equal),
	    cmocka_unit_test(test_rand_bytes_short_reads_and_eintr),
	    cmocka_unit_test(test_rand_fails_without_kernel),
	    cmocka_unit_test(test_rand_xorshift),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
