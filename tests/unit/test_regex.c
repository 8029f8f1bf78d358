/* test_regex.c: lib/regex — PCRE2 syntax as APISIX writes it, capture
 * groups, the compile limits (pattern length, compile memory, compiled size)
 * refusing with a reason, and the match limits turning catastrophic
 * backtracking into a counted no-match, also from several threads. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "lib/err.h"
#include "lib/regex.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct gw_regex *compile_ok(const char *pat, unsigned flags)
{
	struct gw_regex *re = NULL;
	char err[256] = "";
	int rv = gw_regex_compile(pat, flags, &re, err, sizeof err);
	if (rv != 0) {
		fail_msg("%s: %d %s", pat, rv, err);
	}
	return re;
}

static void refused(const char *pat, const char *why)
{
	struct gw_regex *re = NULL;
	char err[256] = "";
	if (gw_regex_compile(pat, 0, &re, err, sizeof err) != GW_EINVAL) {
		gw_regex_free(re);
		fail_msg("%.64s: compiled", pat);
	}
	if (strstr(err, why) == NULL) {
		fail_msg("%s: '%s' lacks '%s'", pat, err, why);
	}
}

static void test_syntax(void **state)
{
	struct gw_regex *re;
	size_t ov[2 * 3];
	(void)state;

	/* PCRE syntax POSIX ERE lacks: \d, lazy quantifiers, lookahead */
	re = compile_ok("^/api/(\\d+)/(.*?)x(?=y)", 0);
	assert_int_equal(gw_regex_match(re, "/api/42/abxy", 12, ov, 3), 3);
	assert_int_equal(ov[0], 0);
	assert_int_equal(ov[2], 5);
	assert_int_equal(ov[3], 7);
	assert_int_equal(ov[4], 8);
	assert_int_equal(ov[5], 10);
	assert_false(gw_regex_find(re, "/api/x/abxy"));
	gw_regex_free(re);
	re = compile_ok("^ab(c)?d", 0);
	assert_int_equal(gw_regex_match(re, "abd", 3, ov, 3), 1);
	assert_true(ov[2] == SIZE_MAX && ov[4] == SIZE_MAX); /* unset groups */
	gw_regex_free(re);
	re = compile_ok("^HELLO$", GW_REGEX_CASELESS);
	assert_true(gw_regex_find(re, "hello"));
	gw_regex_free(re);
	refused("(unclosed", "invalid regex at offset");
	refused("a{2,1}", "invalid regex");
	gw_regex_free(NULL);
}

static void test_compile_limits(void **state)
{
	char *big = malloc(GW_REGEX_PATTERN_MAX + 2);
	(void)state;

	memset(big, 'a', GW_REGEX_PATTERN_MAX + 1);
	big[GW_REGEX_PATTERN_MAX + 1] = '\0';
	refused(big, "regex longer than");
	free(big);
	/* the pattern: took 4 GB and 9 s with regcomp */
	refused("(((a{0,15}){0,15}){0,15}){0,15}", "regex too large");
	refused("((((((a{0,100}){0,100}){0,100}){0,100}){0,100}){0,100})", "regex too large");
	refused("(((x{1,10}y){100}){100})", "regex too large");
}

/* Backtracking that would take seconds to years: bounded, counted. */
static void test_match_limits(void **state)
{
	static const char *const pats[] = {"^(a+)+$", "^(\\w+\\s?)*$", "^(a|aa)*\\1$", "^(a|a?)+$"};
	char subj[4096];
	(void)state;

	memset(subj, 'a', sizeof subj - 2);
	subj[sizeof subj - 2] = '!';
	subj[sizeof subj - 1] = '\0';
	for (size_t i = 0; i < sizeof pats / sizeof pats[0]; i++) {
		struct gw_regex *re = compile_ok(pats[i], 0);
		uint64_t before = gw_regex_limit_hits();
		assert_false(gw_regex_find(re, subj));
		if (gw_regex_limit_hits() == before) {
			fail_msg("%s: no limit hit", pats[i]);
		}
		gw_regex_free(re);
	}
}

static void *matcher(void *arg)
{
	const struct gw_regex *re = arg;
	for (int i = 0; i < 200; i++) {
		if (!gw_regex_find(re, "/users/1234/orders")) {
			return (void *)1;
		}
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct gw_regex *re = compile_ok("^/users/([0-9]+)/orders$", 0);
	pthread_t t[4];
	void *rv;
	(void)state;

	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_create(&t[i], NULL, matcher, re), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], &rv);
		assert_null(rv);
	}
	gw_regex_free(re);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_syntax),
	    cmocka_unit_test(test_compile_limits),
	    cmocka_unit_test(test_match_limits),
	    cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
