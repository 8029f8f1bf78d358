/* test_health.c: unit tests of the upstream health checks (proxy/health*):
 * the state machine of one node against its thresholds, the compile of
 * `checks` with APISIX's defaults, binding snapshots to the registry (state
 * kept across unrelated changes, restarted on changed settings, retired
 * cells read as healthy), the passive report queue, and the balancers
 * skipping unhealthy nodes. No checker thread: observations are applied
 * directly. */
#include "config.h"

#include "lib/err.h"
#include "proxy/health_int.h"
#include "proxy/proxy.h"
#include "proxy/proxy_int.h"
#include "tests/unit/test_proxy_env.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* ---- the state machine */

static void test_state_machine(void **state)
{
	struct gw_proxy__hnode_state s = {GW_PROXY__H_HEALTHY, {0}};
	(void)state;
	/* a success on a healthy node changes nothing */
	assert_false(gw_proxy__hstate_apply(&s, GW_PROXY__C_SUCCESS, 2));
	assert_int_equal(s.ctr[GW_PROXY__C_SUCCESS], 0);
	/* one failure: mostly_healthy (still takes traffic) */
	assert_true(gw_proxy__hstate_apply(&s, GW_PROXY__C_HTTP, 3));
	assert_int_equal(s.st, GW_PROXY__H_MOSTLY_HEALTHY);
	assert_false(gw_proxy__hstate_apply(&s, GW_PROXY__C_HTTP, 3));
	assert_int_equal(s.ctr[GW_PROXY__C_HTTP], 2);
	/* a success clears the failure counters */
	assert_false(gw_proxy__hstate_apply(&s, GW_PROXY__C_SUCCESS, 2));
	assert_int_equal(s.ctr[GW_PROXY__C_HTTP], 0);
	assert_int_equal(s.ctr[GW_PROXY__C_SUCCESS], 1);
	assert_true(gw_proxy__hstate_apply(&s, GW_PROXY__C_SUCCESS, 2));
	assert_int_equal(s.st, GW_PROXY__H_HEALTHY);
	/* failures of different kinds count separately; a limit reached wins */
	gw_proxy__hstate_apply(&s, GW_PROXY__C_TIMEOUT, 3);
	gw_proxy__hstate_apply(&s, GW_PROXY__C_HTTP, 3);
	assert_int_equal(s.st, GW_PROXY__H_MOSTLY_HEALTHY);
	assert_true(gw_proxy__hstate_apply(&s, GW_PROXY__C_TCP, 1));
	assert_int_equal(s.st, GW_PROXY__H_UNHEALTHY);
	/* a failure on an unhealthy node changes nothing */
	assert_false(gw_proxy__hstate_apply(&s, GW_PROXY__C_TCP, 1));
	/* a success: mostly_unhealthy (still no traffic), then healthy */
	assert_true(gw_proxy__hstate_apply(&s, GW_PROXY__C_SUCCESS, 3));
	assert_int_equal(s.st, GW_PROXY__H_MOSTLY_UNHEALTHY);
	assert_int_equal(s.ctr[GW_PROXY__C_TCP], 0);
	/* a failure resets the successes: back to counting from zero */
	assert_false(gw_proxy__hstate_apply(&s, GW_PROXY__C_HTTP, 5));
	assert_int_equal(s.ctr[GW_PROXY__C_SUCCESS], 0);
	gw_proxy__hstate_apply(&s, GW_PROXY__C_SUCCESS, 3);
	gw_proxy__hstate_apply(&s, GW_PROXY__C_SUCCESS, 3);
	assert_true(gw_proxy__hstate_apply(&s, GW_PROXY__C_SUCCESS, 3));
	assert_int_equal(s.st, GW_PROXY__H_HEALTHY);
	/* a limit of 0 disables its counter */
	assert_false(gw_proxy__hstate_apply(&s, GW_PROXY__C_TIMEOUT, 0));
	assert_int_equal(s.st, GW_PROXY__H_HEALTHY);
	assert_string_equal(gw_proxy__hstate_name(GW_PROXY__H_MOSTLY_UNHEALTHY),
			    "mostly_unhealthy");
}

static void test_status_kind_defaults(void **state)
{
	struct gw_proxy__hconf c;
	(void)state;
	gw_proxy__hconf_defaults(&c);
	assert_int_equal(gw_proxy__hstatus_kind(&c.active.th, 200), 1);
	assert_int_equal(gw_proxy__hstatus_kind(&c.active.th, 302), 1);
	assert_int_equal(gw_proxy__hstatus_kind(&c.active.th, 201), 0);
	assert_int_equal(gw_proxy__hstatus_kind(&c.active.th, 404), -1);
	assert_int_equal(gw_proxy__hstatus_kind(&c.active.th, 0), -1);
	assert_int_equal(gw_proxy__hstatus_kind(&c.passive, 201), 1);
	assert_int_equal(gw_proxy__hstatus_kind(&c.passive, 404), 0);
	assert_int_equal(gw_proxy__hstatus_kind(&c.passive, 503), -1);
	assert_int_equal(c.active.th.successes, 2);
	assert_int_equal(c.active.th.http_failures, 5);
	assert_int_equal(c.active.th.tcp_failures, 2);
	assert_int_equal(c.active.th.timeouts, 3);
	assert_int_equal(c.passive.successes, 5);
	assert_int_equal(c.passive.timeouts, 7);
	assert_int_equal(c.active.timeout_ms, 1000);
	assert_int_equal(c.active.concurrency, 10);
	assert_true(c.active.verify);
}

/* ---- compile */

#define NODES3 "\"nodes\":{\"127.0.0.1:1\":1,\"127.0.0.1:2\":1,\"127.0.0.1:3\":1}"

static const struct gw_proxy__upstream *upstream(const struct gw_proxy_config *cfg, const char *key)
{
	for (size_t i = 0; i < cfg->n_ups; i++) {
		if (cfg->ups[i]->hc != NULL && strcmp(cfg->ups[i]->hc->key, key) == 0) {
			return cfg->ups[i];
		}
	}
	return NULL;
}

static void test_compile_checks(void **state)
{
	struct kvset s = {0};
	struct gw_proxy_config *cfg;
	const struct gw_proxy__upstream *up;
	(void)state;
	kv_add(&s, "/apisix/upstreams/d", "{" NODES3 ",\"checks\":{\"active\":{}}}");
	kv_add(&s, "/apisix/upstreams/o",
	       "{" NODES3 ",\"checks\":{\"active\":{\"type\":\"https\",\"timeout\":0.5,"
	       "\"http_path\":\"/hc\",\"host\":\"svc.example\",\"port\":8443,"
	       "\"https_verify_certificate\":false,\"concurrency\":2,"
	       "\"req_headers\":[\"X-A: 1\",\"X-B: 2\"],"
	       "\"healthy\":{\"interval\":3,\"successes\":4,\"http_statuses\":[204]},"
	       "\"unhealthy\":{\"interval\":7,\"http_failures\":1,\"tcp_failures\":9,"
	       "\"timeouts\":8,\"http_statuses\":[418]}},"
	       "\"passive\":{\"type\":\"tcp\",\"unhealthy\":{\"tcp_failures\":6}}}}");
	kv_add(&s, "/apisix/upstreams/bad",
	       "{" NODES3 ",\"checks\":{\"active\":{\"req_headers\":[\"no colon\"]}}}");
	kv_add(&s, "/apisix/routes/r",
	       "{\"uri\":\"/r\",\"upstream\":{" NODES3
	       ",\"checks\":{\"active\":{\"type\":\"tcp\"}}}}");
	kv_add(&s, "/apisix/upstreams/none", "{" NODES3 "}");
	cfg = compile(&s);

	up = upstream(cfg, "/apisix/upstreams/d");
	assert_non_null(up);
	assert_true(up->hc->conf.has_active);
	assert_false(up->hc->conf.has_passive);
	assert_string_equal(up->hc->conf.active.http_path, "/");
	assert_null(up->hc->conf.active.host);
	assert_int_equal(up->hc->conf.active.healthy_interval_ms, 1000);

	up = upstream(cfg, "/apisix/upstreams/o");
	assert_non_null(up);
	assert_int_equal(up->hc->conf.active.type, GW_PROXY__HT_HTTPS);
	assert_int_equal(up->hc->conf.active.timeout_ms, 500);
	assert_string_equal(up->hc->conf.active.http_path, "/hc");
	assert_string_equal(up->hc->conf.active.host, "svc.example");
	assert_int_equal(up->hc->conf.active.port, 8443);
	assert_false(up->hc->conf.active.verify);
	assert_int_equal(up->hc->conf.active.concurrency, 2);
	assert_string_equal(up->hc->conf.active.req_headers, "X-A: 1\r\nX-B: 2\r\n");
	assert_int_equal(up->hc->conf.active.healthy_interval_ms, 3000);
	assert_int_equal(up->hc->conf.active.unhealthy_interval_ms, 7000);
	assert_int_equal(up->hc->conf.active.th.successes, 4);
	assert_int_equal(gw_proxy__hstatus_kind(&up->hc->conf.active.th, 204), 1);
	assert_int_equal(gw_proxy__hstatus_kind(&up->hc->conf.active.th, 200), 0);
	assert_int_equal(gw_proxy__hstatus_kind(&up->hc->conf.active.th, 418), -1);
	assert_int_equal(up->hc->conf.active.th.tcp_failures, 9);
	assert_true(up->hc->conf.has_passive);
	assert_int_equal(up->hc->conf.passive_type, GW_PROXY__HT_TCP);
	assert_int_equal(up->hc->conf.passive.tcp_failures, 6);
	assert_int_equal(up->hc->conf.passive.timeouts, 7); /* default kept */

	assert_null(upstream(cfg, "/apisix/upstreams/bad")); /* skipped */
	up = upstream(cfg, "/apisix/routes/r");              /* inline: the route's key */
	assert_non_null(up);
	assert_int_equal(up->hc->conf.active.type, GW_PROXY__HT_TCP);
	assert_int_equal(cfg->n_ups, 4); /* d, o, none, r's */
	gw_proxy_config_unref(cfg);
	kv_free(&s);
}

/* ---- registry */

static struct gw_proxy_config *compile_one(const char *up_json, bool other)
{
	struct kvset s = {0};
	struct gw_proxy_config *cfg;
	kv_add(&s, "/apisix/upstreams/u", "%s", up_json);
	if (other) {
		kv_add(&s, "/apisix/routes/x", "{\"uri\":\"/x\",\"upstream\":{" NODES3 "}}");
	}
	cfg = compile(&s);
	kv_free(&s);
	return cfg;
}

/* Mark node @i of @up unhealthy (or healthy) as the checker would. */
static void set_health(struct gw_proxy__health *h, const struct gw_proxy__upstream *up, size_t i,
		       bool healthy)
{
	uint64_t ref = atomic_load(&up->hc->refs[i]);
	struct gw_proxy__hnode *n = h->owner[(uint32_t)ref - 1];
	struct gw_proxy__hthresh th;
	memset(&th, 0, sizeof th);
	th.successes = th.tcp_failures = 1;
	uv_mutex_lock(&h->mu);
	gw_proxy__hnode_observe(h, n, &th, healthy ? GW_PROXY__HR_SUCCESS : GW_PROXY__HR_TCP, 0,
				"test");
	uv_mutex_unlock(&h->mu);
}

#define CHECKED_UP "{" NODES3 ",\"checks\":{\"active\":{},\"passive\":{}}}"

static void test_bind_keeps_restarts_retires(void **state)
{
	struct gw_proxy__health *h = gw_proxy__health_new();
	struct gw_proxy_config *c1 = compile_one(CHECKED_UP, false);
	struct gw_proxy_config *c2 = compile_one(CHECKED_UP, true);
	struct gw_proxy_config *c3 =
	    compile_one("{" NODES3 ",\"checks\":{\"active\":{\"timeout\":2}}}", true);
	struct gw_proxy_config *c4 = compile_one("{" NODES3 "}", true);
	const struct gw_proxy__upstream *u1, *u2, *u3;
	(void)state;

	assert_non_null(h);
	assert_int_equal(gw_proxy__health_bind(h, c1), 0);
	u1 = upstream(c1, "/apisix/upstreams/u");
	assert_true(gw_proxy__node_up(u1, 0));
	set_health(h, u1, 1, false);
	assert_int_equal(gw_proxy__node_health(u1, 1), GW_PROXY__H_UNHEALTHY);
	assert_true(gw_proxy__node_up(u1, 0));
	/* an unrelated change: the node keeps its state in the new snapshot */
	assert_int_equal(gw_proxy__health_bind(h, c2), 0);
	u2 = upstream(c2, "/apisix/upstreams/u");
	assert_int_equal(gw_proxy__node_health(u2, 1), GW_PROXY__H_UNHEALTHY);
	assert_int_equal(h->n_ups, 1);
	/* changed settings: restarted, every node healthy; the old snapshots'
	 * cells are retired and read healthy */
	assert_int_equal(gw_proxy__health_bind(h, c3), 0);
	u3 = upstream(c3, "/apisix/upstreams/u");
	assert_true(gw_proxy__node_up(u3, 1));
	assert_true(gw_proxy__node_up(u2, 1));
	assert_int_equal(h->n_ups, 1);
	/* checks removed: nothing checked */
	assert_int_equal(gw_proxy__health_bind(h, c4), 0);
	assert_int_equal(h->n_ups, 0);
	assert_int_equal(h->n_free, h->n_slots);
	assert_true(gw_proxy__node_up(u3, 1));
	gw_proxy_config_unref(c1);
	gw_proxy_config_unref(c2);
	gw_proxy_config_unref(c3);
	gw_proxy_config_unref(c4);
	gw_proxy__health_free(h);
}

static void test_passive_queue(void **state)
{
	struct gw_proxy__health *h = gw_proxy__health_new();
	struct gw_proxy_config *c = compile_one(CHECKED_UP, false);
	const struct gw_proxy__upstream *up;
	(void)state;
	gw_proxy__health_bind(h, c);
	up = upstream(c, "/apisix/upstreams/u");
	/* successes on a healthy node are not even queued */
	gw_proxy__health_report(up, 0, GW_PROXY__HR_STATUS, 200);
	assert_int_equal(atomic_load(&h->q_head), 0);
	/* passive defaults: 5 http failures (429/500/503), 2 tcp failures */
	for (int i = 0; i < 4; i++) {
		gw_proxy__health_report(up, 0, GW_PROXY__HR_STATUS, 500);
	}
	gw_proxy__health_report(up, 0, GW_PROXY__HR_STATUS, 404); /* in neither list */
	gw_proxy__health_drain(h);
	assert_int_equal(gw_proxy__node_health(up, 0), GW_PROXY__H_MOSTLY_HEALTHY);
	gw_proxy__health_report(up, 0, GW_PROXY__HR_STATUS, 503);
	gw_proxy__health_drain(h);
	assert_int_equal(gw_proxy__node_health(up, 0), GW_PROXY__H_UNHEALTHY);
	gw_proxy__health_report(up, 1, GW_PROXY__HR_TCP, 0);
	gw_proxy__health_report(up, 1, GW_PROXY__HR_TCP, 0);
	gw_proxy__health_report(up, 2, GW_PROXY__HR_TIMEOUT, 0);
	gw_proxy__health_report(up, 7, GW_PROXY__HR_TIMEOUT, 0); /* no such node */
	gw_proxy__health_drain(h);
	assert_int_equal(gw_proxy__node_health(up, 1), GW_PROXY__H_UNHEALTHY);
	assert_int_equal(gw_proxy__node_health(up, 2), GW_PROXY__H_MOSTLY_HEALTHY);
	/* a full queue drops, counted */
	for (unsigned i = 0; i < GW_PROXY__HQUEUE + 10; i++) {
		gw_proxy__health_report(up, 2, GW_PROXY__HR_STATUS, 500);
	}
	assert_int_equal(atomic_load(&h->q_dropped), 10);
	gw_proxy__health_drain(h);
	assert_int_equal(gw_proxy__node_health(up, 2), GW_PROXY__H_UNHEALTHY);
	gw_proxy_config_unref(c);
	gw_proxy__health_free(h);
}

/* ---- balancers */

static void picks(struct gw_proxy__wsnap *ws, const struct gw_proxy__upstream *up, int n,
		  int *count)
{
	struct gw_proxy__tried none = {0};
	memset(count, 0, 4 * sizeof *count);
	for (int i = 0; i < n; i++) {
		int k = gw_proxy__balancer_pick(ws, up, &none, "k", 1);
		assert_true(k >= 0 && k < 3);
		count[k]++;
		gw_proxy__balancer_done(ws, up, k, 1);
	}
}

static void test_balancers_skip_unhealthy(void **state)
{
	static const char *const types[] = {"roundrobin", "least_conn", "ewma", "chash"};
	(void)state;
	for (size_t t = 0; t < 4; t++) {
		struct gw_proxy__health *h = gw_proxy__health_new();
		char js[512];
		struct gw_proxy_config *c;
		const struct gw_proxy__upstream *up;
		struct gw_proxy__wsnap *ws;
		struct gw_proxy__tried tr = {0};
		int count[4];

		snprintf(js, sizeof js,
			 "{\"type\":\"%s\",\"key\":\"uri\",%s,\"checks\":"
			 "{\"active\":{}}}",
			 types[t], NODES3);
		c = compile_one(js, false);
		gw_proxy__health_bind(h, c);
		up = upstream(c, "/apisix/upstreams/u");
		ws = gw_proxy__wsnap_new(c);
		set_health(h, up, 0, false);
		picks(ws, up, 30, count);
		assert_int_equal(count[0], 0);
		/* a retry goes to another node, never the unhealthy one */
		tr.bits = 1ULL << 1;
		for (int i = 0; i < 10; i++) {
			assert_int_equal(gw_proxy__balancer_pick(ws, up, &tr, "k", 1), 2);
			gw_proxy__balancer_done(ws, up, 2, 1);
		}
		/* every node unhealthy: traffic goes to all of them */
		set_health(h, up, 1, false);
		set_health(h, up, 2, false);
		picks(ws, up, 30, count);
		if (up->type == GW_PROXY__LB_RR) {
			assert_true(count[0] > 0 && count[1] > 0 && count[2] > 0);
		} else { /* ties go to the first node: still the unhealthy one */
			assert_true(count[0] + count[1] + count[2] == 30);
		}
		/* one heals: all traffic to it */
		set_health(h, up, 1, true);
		picks(ws, up, 12, count);
		assert_int_equal(count[1], 12);
		gw_proxy__wsnap_unref(ws);
		gw_proxy_config_unref(c);
		gw_proxy__health_free(h);
	}
}

static void test_priority_groups_fail_over(void **state)
{
	struct gw_proxy__health *h = gw_proxy__health_new();
	struct gw_proxy_config *c = compile_one(
	    "{\"nodes\":[{\"host\":\"127.0.0.1\",\"port\":1,\"weight\":1,\"priority\":0},"
	    "{\"host\":\"127.0.0.1\",\"port\":2,\"weight\":1,\"priority\":5},"
	    "{\"host\":\"127.0.0.1\",\"port\":3,\"weight\":1,\"priority\":3}],"
	    "\"checks\":{\"active\":{}}}",
	    false);
	const struct gw_proxy__upstream *up = upstream(c, "/apisix/upstreams/u");
	struct gw_proxy__wsnap *ws = gw_proxy__wsnap_new(c);
	int count[4];
	(void)state;
	gw_proxy__health_bind(h, c);
	/* nodes sorted by priority: [0] = port 2, [1] = port 3, [2] = port 1 */
	picks(ws, up, 5, count);
	assert_int_equal(count[0], 5);
	set_health(h, up, 0, false);
	picks(ws, up, 5, count);
	assert_int_equal(count[1], 5);
	set_health(h, up, 1, false);
	picks(ws, up, 5, count);
	assert_int_equal(count[2], 5);
	set_health(h, up, 0, true);
	picks(ws, up, 5, count);
	assert_int_equal(count[0], 5);
	gw_proxy__wsnap_unref(ws);
	gw_proxy_config_unref(c);
	gw_proxy__health_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_state_machine),
	    cmocka_unit_test(test_status_kind_defaults),
	    cmocka_unit_test(test_compile_checks),
	    cmocka_unit_test(test_bind_keeps_restarts_retires),
	    cmocka_unit_test(test_passive_queue),
	    cmocka_unit_test(test_balancers_skip_unhealthy),
	    cmocka_unit_test(test_priority_groups_fail_over),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
