/* test_config_dryrun.c: gw_proxy_config_dry_run (proxy/config_dryrun.c)
 * names exactly the routes whose compiled form a change alters, and the
 * error of an object the change makes the proxy skip (not the errors that
 * were there before). */
#include "config.h"

#include "lib/err.h"
#include "lib/log.h"
#include "proxy/proxy.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define UP1  "{\"type\":\"roundrobin\",\"nodes\":{\"127.0.0.1:1980\":1}}"
#define UP1D "{\"type\":\"roundrobin\",\"nodes\":{\"127.0.0.1:1980\":1},\"desc\":\"words\"}"
#define UP1N "{\"type\":\"roundrobin\",\"nodes\":{\"127.0.0.1:1981\":1}}"

#define KV(k, v, rev)                                                                              \
	{                                                                                          \
		k, sizeof k - 1, v, sizeof v - 1, rev, rev                                         \
	}

static const struct gw_proxy_kv base[] = {
    KV("/apisix/upstreams/u1", UP1, 1),
    KV("/apisix/upstreams/u2", UP1, 2),
    KV("/apisix/services/s1", "{\"upstream_id\":\"u1\"}", 3),
    KV("/apisix/routes/r1", "{\"uri\":\"/1\",\"upstream_id\":\"u1\"}", 4),
    KV("/apisix/routes/r2", "{\"uri\":\"/2\",\"upstream_id\":\"u2\"}", 5),
    KV("/apisix/routes/r3", "{\"uri\":\"/3\",\"service_id\":\"s1\"}", 6),
    KV("/apisix/routes/r4", "{\"uri\":\"/4\",\"upstream_id\":\"u1\",\"status\":0}", 7),
    KV("/apisix/upstreams/u3", UP1, 9),
    KV("/apisix/upstreams/u4", UP1, 10),
    KV("/apisix/routes/ts",
       "{\"uri\":\"/ts\",\"upstream_id\":\"u2\",\"plugins\":{\"traffic-split\":{\"rules\":[{"
       "\"weighted_upstreams\":[{\"upstream_id\":\"u1\",\"weight\":1},{\"upstream_id\":"
       "\"u3\",\"weight\":1},{\"upstream_id\":\"u4\",\"weight\":1}]}]}}}",
       11),
    KV("/apisix/routes/bad", "{\"uri\":\"/b\",\"upstream_id\":\"nope\"}", 8),
};
#define N_BASE (sizeof base / sizeof base[0])

/* The dry run of one change: the routes as "a,b" and the error (or ""). */
static void dry(const char *key, const char *value, char *routes, size_t n, char *err, size_t en)
{
	struct gw_proxy_kv ch;
	struct gw_proxy_dry_run out;

	memset(&ch, 0, sizeof ch);
	ch.key = key;
	ch.key_len = strlen(key);
	ch.value = value;
	ch.value_len = value ? strlen(value) : 0;
	assert_int_equal(gw_proxy_config_dry_run(base, N_BASE, &ch, 1, 10, &out), 0);
	routes[0] = '\0';
	for (size_t i = 0; i < out.n_routes; i++) {
		snprintf(routes + strlen(routes), n - strlen(routes), "%s%s", i ? "," : "",
			 out.routes[i]);
	}
	snprintf(err, en, "%s", out.error ? out.error : "");
	gw_proxy_dry_run_free(&out);
}

static void test_routes_affected(void **state)
{
	char r[256], e[256];

	(void)state;
	/* nodes: the routes using it directly and through a service (r4 is off) */
	dry("/apisix/upstreams/u1", UP1N, r, sizeof r, e, sizeof e);
	assert_string_equal(r, "r1,r3,ts");
	assert_string_equal(e, "");
	/* the fourth dependency of a route (upstream_id + three traffic-split
	 * upstreams): with 3 links it was not linked, so the incremental
	 * compile (the served config too) missed the route */
	dry("/apisix/upstreams/u4", UP1N, r, sizeof r, e, sizeof e);
	assert_string_equal(r, "ts");
	/* a description: nothing compiled changes */
	dry("/apisix/upstreams/u1", UP1D, r, sizeof r, e, sizeof e);
	assert_string_equal(r, "");
	/* a service swapping upstreams with the same nodes: no behaviour change */
	dry("/apisix/services/s1", "{\"upstream_id\":\"u2\"}", r, sizeof r, e, sizeof e);
	assert_string_equal(r, "");
	/* a route's methods; its deletion; a new route */
	dry("/apisix/routes/r2", "{\"uri\":\"/2\",\"upstream_id\":\"u2\",\"methods\":[\"GET\"]}", r,
	    sizeof r, e, sizeof e);
	assert_string_equal(r, "r2");
	dry("/apisix/routes/r2", NULL, r, sizeof r, e, sizeof e);
	assert_string_equal(r, "r2");
	dry("/apisix/routes/r9", "{\"uri\":\"/9\",\"upstream_id\":\"u2\"}", r, sizeof r, e,
	    sizeof e);
	assert_string_equal(r, "r9");
	/* enabling r4 */
	dry("/apisix/routes/r4", "{\"uri\":\"/4\",\"upstream_id\":\"u1\"}", r, sizeof r, e,
	    sizeof e);
	assert_string_equal(r, "r4");
}

static void test_compile_errors(void **state)
{
	char r[256], e[256];

	(void)state;
	/* a new route the proxy would skip */
	dry("/apisix/routes/r5", "{\"uri\":\"/5\",\"upstream_id\":\"gone\"}", r, sizeof r, e,
	    sizeof e);
	assert_string_equal(e, "route r5: upstream_id gone not found");
	assert_string_equal(r, "");
	/* deleting what routes need: the first of them is named, both change */
	dry("/apisix/upstreams/u1", NULL, r, sizeof r, e, sizeof e);
	assert_non_null(strstr(e, "upstream_id u1 not found"));
	assert_string_equal(r, "r1,r3,ts");
	/* a route broken before the change is not the change's error */
	dry("/apisix/routes/bad", "{\"uri\":\"/b2\",\"upstream_id\":\"nope\"}", r, sizeof r, e,
	    sizeof e);
	assert_string_equal(e, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_routes_affected),
	    cmocka_unit_test(test_compile_errors),
	};
	gw_log_set_level(GW_LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
