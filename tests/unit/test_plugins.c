/* test_plugins.c: the proxy's plugin pieces that can be checked without a
 * socket — the node-wide limit table (fixed window and leaky bucket
 * arithmetic, exact counts from several threads, bounded memory under a
 * flood of distinct keys) and the consumer index compiled from
 * /apisix/consumers/, credentials and consumer groups; the base64 and
 * base64url decoder of the auth plugins. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "proxy/plugin_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t key(const char *s)
{
	return gw_proxy__limit_hash(GW_PROXY__FNV_INIT, s, strlen(s));
}

static void test_count_window(void **state)
{
	uint32_t rem, reset;
	uint64_t k = key("test_count_window");
	(void)state;

	for (uint32_t i = 0; i < 3; i++) {
		assert_true(gw_proxy__limit_count(k, 3, 60, &rem, &reset));
		assert_int_equal(rem, 2 - i);
		assert_true(reset >= 59 && reset <= 60);
	}
	assert_false(gw_proxy__limit_count(k, 3, 60, &rem, &reset));
	assert_int_equal(rem, 0);
	/* another key is counted apart */
	assert_true(gw_proxy__limit_count(key("other"), 3, 60, &rem, &reset));
	assert_int_equal(rem, 2);
}

static void test_req_bucket(void **state)
{
	uint64_t k = key("test_req_bucket");
	(void)state;

	/* rate 10/s, burst 2: excess 0, 1, 2 pass (delays 0, 100, 200 ms) */
	assert_int_equal(gw_proxy__limit_req(k, 10, 2), 0);
	assert_true(llabs(gw_proxy__limit_req(k, 10, 2) - 100) <= 2);
	assert_true(llabs(gw_proxy__limit_req(k, 10, 2) - 200) <= 2);
	assert_int_equal(gw_proxy__limit_req(k, 10, 2), -1);
	assert_int_equal(gw_proxy__limit_req(k, 10, 2), -1);
}

struct hammer {
	uint64_t k;
	int passed;
};

static void *hammer(void *arg)
{
	struct hammer *h = arg;
	uint32_t rem, reset;
	for (int i = 0; i < 5000; i++) {
		h->passed += gw_proxy__limit_count(h->k, 7000, 60, &rem, &reset);
	}
	return NULL;
}

static void test_count_exact_across_threads(void **state)
{
	struct hammer h[4];
	pthread_t t[4];
	int total = 0;
	(void)state;

	for (int i = 0; i < 4; i++) {
		h[i] = (struct hammer){key("threads"), 0};
		assert_int_equal(pthread_create(&t[i], NULL, hammer, &h[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		total += h[i].passed;
	}
	assert_int_equal(total, 7000);
}

/* 4x the table's slots in distinct keys: memory is the static table, the
 * takeovers are counted, and a key that keeps coming is still limited. */
static void test_flood_bounded(void **state)
{
	uint64_t before = gw_proxy__limit_evictions();
	uint32_t rem, reset;
	char k[32];
	int passed = 0;
	(void)state;

	for (unsigned i = 0; i < 4 * GW_PROXY__LIMIT_SLOTS; i++) {
		snprintf(k, sizeof k, "flood-%u", i);
		assert_true(gw_proxy__limit_count(key(k), 1, 60, &rem, &reset));
		if (i % 64 == 0) {
			passed += gw_proxy__limit_count(key("steady"), 1000000, 60, &rem, &reset);
		}
	}
	assert_true(gw_proxy__limit_evictions() > before);
	assert_true(passed > 0);
}

static void test_consumer_index(void **state)
{
	static const char *const kv[][2] = {
	    {"/apisix/consumer_groups/g", "{\"plugins\":{\"limit-count\":{\"count\":5,"
					  "\"time_window\":60}}}"},
	    {"/apisix/consumers/jack", "{\"username\":\"jack\",\"group_id\":\"g\",\"plugins\":{"
				       "\"key-auth\":{\"key\":\"k1\"},\"request-id\":{}}}"},
	    {"/apisix/consumers/jack/credentials/c", "{\"plugins\":{\"key-auth\":{\"key\":\"k2\"},"
						     "\"basic-auth\":{\"username\":\"j\","
						     "\"password\":\"p\"}}}"},
	    {"/apisix/consumers/nobody/credentials/c", "{\"plugins\":{\"key-auth\":{\"key\":"
						       "\"k3\"}}}"},
	    {"/apisix/consumers/bad", "{\"username\":\"bad\",\"plugins\":{\"key-auth\":{}}}"},
	};
	struct gw_proxy_kv kvs[5];
	struct gw_proxy_config *cfg;
	const struct gw_proxy__consumer *co;
	const char *secret;
	(void)state;

	for (size_t i = 0; i < 5; i++) {
		kvs[i] =
		    (struct gw_proxy_kv){kv[i][0], strlen(kv[i][0]), kv[i][1], strlen(kv[i][1])};
	}
	assert_int_equal(gw_proxy_config_compile(kvs, 5, 1, &cfg), 0);
	co = gw_proxy__consumer_find(cfg, GW_PROXY__CRED_KEY, "k1", 2, &secret);
	assert_non_null(co);
	assert_string_equal(co->username, "jack");
	assert_string_equal(secret, "k1");
	assert_ptr_equal(gw_proxy__consumer_find(cfg, GW_PROXY__CRED_KEY, "k2", 2, &secret), co);
	assert_ptr_equal(gw_proxy__consumer_find(cfg, GW_PROXY__CRED_BASIC, "j", 1, &secret), co);
	assert_string_equal(secret, "p");
	assert_null(gw_proxy__consumer_find(cfg, GW_PROXY__CRED_KEY, "k3", 2, &secret));
	assert_null(gw_proxy__consumer_find(cfg, GW_PROXY__CRED_KEY, "k", 1, &secret));
	/* the consumer's non-auth plugins and its group's, by priority */
	assert_int_equal(co->n_plugins, 2);
	assert_string_equal(co->plugins[0].p->name, "request-id");
	assert_string_equal(co->plugins[1].p->name, "limit-count");
	gw_proxy_config_unref(cfg);
}

/* jwt-auth (base64url, unpadded) and hmac-auth / base64_secret (standard,
 * padding optional): RFC 4648's vectors, wrong alphabets, bad lengths and
 * a full output buffer. */
static void test_b64dec(void **state)
{
	static const struct {
		const char *in;
		bool url;
		const char *out; /* NULL: refused */
	} v[] = {
	    {"", false, ""},
	    {"Zg==", false, "f"},
	    {"Zg", false, "f"},
	    {"Zm8=", false, "fo"},
	    {"Zm9v", false, "foo"},
	    {"Zm9vYg==", false, "foob"},
	    {"Zm9vYmE=", false, "fooba"},
	    {"Zm9vYmFy", false, "foobar"},
	    {"Zm9vYg", true, "foob"},
	    {"Zg=", false, NULL},
	    {"Z", false, NULL},
	    {"Zm9vY", false, NULL},
	    {"Zg==", true, NULL},
	    {"+/8", true, NULL},
	    {"-_8", false, NULL},
	    {"Zm 9v", false, NULL},
	    {"Zg===", false, NULL},
	};
	unsigned char out[16];
	(void)state;

	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		ssize_t n =
		    gw_proxy__plugin_b64dec(v[i].in, strlen(v[i].in), v[i].url, out, sizeof out);
		if (v[i].out == NULL) {
			assert_true(n < 0);
		} else {
			assert_int_equal(n, (ssize_t)strlen(v[i].out));
			assert_memory_equal(out, v[i].out, (size_t)n);
		}
	}
	assert_int_equal(gw_proxy__plugin_b64dec("-_8", 3, true, out, sizeof out), 2);
	assert_int_equal(out[0], 0xfb);
	assert_int_equal(out[1], 0xff);
	assert_int_equal(gw_proxy__plugin_b64dec("+/8", 3, false, out, sizeof out), 2);
	assert_true(gw_proxy__plugin_b64dec("Zm9vYmFy", 8, false, out, 5) < 0); /* 6 > 5 */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_count_window),
	    cmocka_unit_test(test_req_bucket),
	    cmocka_unit_test(test_count_exact_across_threads),
	    cmocka_unit_test(test_flood_bounded),
	    cmocka_unit_test(test_consumer_index),
	    cmocka_unit_test(test_b64dec),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
