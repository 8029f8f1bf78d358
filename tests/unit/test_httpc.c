/* test_httpc.c: lib/httpc against a real lib/httpd server on loopback, both
 * on one loop — keep-alive connections of a pool are reused (the server sees
 * one client port for many requests), a connection the server closed while
 * idle is not reused, nor one answered with "Connection: close", the idle
 * cap holds, a cancelled request's connection is dropped, requests without
 * a pool still say "Connection: close", and closing a pool with idle
 * connections leaves no handle behind (uv_loop_close succeeds, LSan sees
 * no leak). Each test is a small script driven by the client callbacks
 * (through a zero timer, as a connection goes back to the pool only after
 * its callback returned). */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "lib/addr.h"
#include "lib/err.h"
#include "lib/httpc.h"
#include "lib/httpd.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REQ 16

struct fix {
	uv_loop_t loop;
	uv_timer_t pause;
	struct gw_httpd *srv;
	struct gw_httpc_pool *pool;
	char hostport[64];
	int handled;
	int ports[MAX_REQ]; /* client port of each request the server saw */
	char conn_hdr[MAX_REQ][16];
	int answered; /* client callbacks with status 200 */
	int failed;   /* client callbacks with an error */
	int step;     /* the script's position */
	void (*script)(struct fix *f);
	bool use_pool;
	bool defer; /* go on from a timer, not from inside the client callback */
};

static void handler(struct gw_http_req *req, void *data)
{
	struct fix *f = data;
	const char *c = gw_http_header(req, "connection");

	if (f->handled < MAX_REQ) {
		f->ports[f->handled] = ntohs(((struct sockaddr_in *)&req->peer)->sin_port);
		snprintf(f->conn_hdr[f->handled], sizeof f->conn_hdr[0], "%s", c ? c : "");
	}
	f->handled++;
	if (strcmp(req->path, "/close") == 0) {
		gw_http_respond(req, 200, "text/plain", "Connection: close\r\n", "bye\n", 4);
		return;
	}
	gw_http_respond(req, 200, "text/plain", "", "ok\n", 3);
}

static void next(struct fix *f)
{
	f->step++;
	f->script(f);
}

static void pause_cb(uv_timer_t *t)
{
	next(t->data);
}

static void done_cb(void *data, int err, const struct gw_httpc_resp *resp)
{
	struct fix *f = data;

	if (err == 0 && resp->status == 200 && resp->body.len == 3 &&
	    memcmp(resp->body.data, "ok\n", 3) == 0) {
		f->answered++;
	} else if (err == 0 && resp->status == 200 && resp->body.len == 4) {
		f->answered++;
	} else {
		f->failed++;
	}
	if (f->defer) {
		/* A connection returns to the pool after its callback. */
		uv_timer_start(&f->pause, pause_cb, 0, 0);
		return;
	}
	next(f);
}

static void send_one(struct fix *f, const char *path, struct gw_httpc **out)
{
	struct gw_httpc_opts o = {.timeout_ms = 5000, .pool = f->use_pool ? f->pool : NULL};
	assert_int_equal(
	    gw_httpc_request(&f->loop, f->hostport, "GET", path, "", NULL, 0, &o, done_cb, f, out),
	    0);
}

static void stopped(void *data)
{
	(void)data;
}

/* End of a script: close the pool and the server; the loop then ends. */
static void finish(struct fix *f)
{
	gw_httpc_pool_close(f->pool);
	f->pool = NULL;
	gw_httpd_stop(f->srv, stopped, NULL);
	uv_close((uv_handle_t *)&f->pause, NULL);
}

static void cap_script(struct fix *f);

static void run(struct fix *f, const struct gw_httpd_opts *opts, bool use_pool, unsigned max_idle,
		void (*script)(struct fix *))
{
	struct gw_addr addr;
	const char *why;

	memset(f, 0, sizeof *f);
	f->script = script;
	f->use_pool = use_pool;
	f->defer = script != cap_script;
	assert_int_equal(uv_loop_init(&f->loop), 0);
	uv_timer_init(&f->loop, &f->pause);
	f->pause.data = f;
	assert_int_equal(gw_addr_parse("127.0.0.1:1", &addr, &why), 0);
	((struct sockaddr_in *)&addr.ss)->sin_port = 0;
	assert_int_equal(gw_httpd_start(&f->loop, &addr, opts, handler, f, &f->srv), 0);
	snprintf(f->hostport, sizeof f->hostport, "127.0.0.1:%d", gw_httpd_port(f->srv));
	f->pool = gw_httpc_pool_new(&f->loop, max_idle, 0, 10000);
	assert_non_null(f->pool);
	f->script(f);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
}

/* ---- five sequential requests share one connection */

static void seq_script(struct fix *f)
{
	struct gw_httpc_pool_stats st;

	if (f->step < 5) {
		send_one(f, "/", NULL);
		return;
	}
	gw_httpc_pool_stats(f->pool, &st);
	assert_int_equal(st.opened, 1);
	assert_int_equal(st.reused, 4);
	assert_int_equal(st.idle, 1);
	finish(f);
}

static void test_sequential_requests_reuse(void **state)
{
	struct fix f;
	(void)state;
	run(&f, NULL, true, 4, seq_script);
	assert_int_equal(f.answered, 5);
	assert_int_equal(f.failed, 0);
	assert_int_equal(f.handled, 5);
	for (int i = 1; i < 5; i++) {
		assert_int_equal(f.ports[i], f.ports[0]); /* one TCP connection */
	}
	assert_string_equal(f.conn_hdr[0], ""); /* keep-alive: HTTP/1.1's default */
}

/* ---- without a pool: Connection: close, a connection per request */

static void nopool_script(struct fix *f)
{
	if (f->step < 3) {
		send_one(f, "/", NULL);
		return;
	}
	finish(f);
}

static void test_no_pool_closes(void **state)
{
	struct fix f;
	(void)state;
	run(&f, NULL, false, 4, nopool_script);
	assert_int_equal(f.answered, 3);
	assert_string_equal(f.conn_hdr[0], "close");
	assert_int_not_equal(f.ports[0], f.ports[1]);
	assert_int_not_equal(f.ports[1], f.ports[2]);
}

/* ---- the server closes an idle connection: the next request connects anew */

static void idle_close_script(struct fix *f)
{
	struct gw_httpc_pool_stats st;

	switch (f->step) {
	case 0:
		send_one(f, "/", NULL);
		break;
	case 1: /* answered; wait beyond the server's idle timeout */
		uv_timer_start(&f->pause, pause_cb, 400, 0);
		break;
	case 2:
		gw_httpc_pool_stats(f->pool, &st);
		assert_int_equal(st.idle, 0); /* the server's FIN closed it */
		send_one(f, "/", NULL);
		break;
	default:
		gw_httpc_pool_stats(f->pool, &st);
		assert_int_equal(st.opened, 2);
		assert_int_equal(st.reused, 0);
		finish(f);
	}
}

static void test_server_idle_close_not_reused(void **state)
{
	struct fix f;
	struct gw_httpd_opts o = {.idle_timeout_ms = 100};
	(void)state;
	run(&f, &o, true, 4, idle_close_script);
	assert_int_equal(f.answered, 2);
	assert_int_equal(f.failed, 0);
	assert_int_not_equal(f.ports[0], f.ports[1]);
}

/* ---- an answer with Connection: close is not pooled */

static void close_hdr_script(struct fix *f)
{
	struct gw_httpc_pool_stats st;

	switch (f->step) {
	case 0:
		send_one(f, "/close", NULL);
		break;
	case 1:
		send_one(f, "/", NULL);
		break;
	default:
		gw_httpc_pool_stats(f->pool, &st);
		assert_int_equal(st.opened, 2);
		assert_int_equal(st.reused, 0);
		assert_int_equal(st.idle, 1);
		finish(f);
	}
}

static void test_connection_close_answer_not_reused(void **state)
{
	struct fix f;
	(void)state;
	run(&f, NULL, true, 4, close_hdr_script);
	assert_int_equal(f.answered, 2);
	assert_int_not_equal(f.ports[0], f.ports[1]);
}

/* ---- three at once with an idle cap of 2; then a cancelled request */

static void cap_script(struct fix *f)
{
	struct gw_httpc_pool_stats st;
	struct gw_httpc *h;

	switch (f->step) {
	case 0:
		f->step = 10; /* the three callbacks bring it to 13 */
		send_one(f, "/", NULL);
		send_one(f, "/", NULL);
		send_one(f, "/", NULL);
		break;
	case 11:
	case 12:
		break;
	case 13: /* (inside the third callback) */
		gw_httpc_pool_stats(f->pool, &st);
		assert_int_equal(st.opened, 3);
		assert_int_equal(st.idle, 2); /* the third is still busy here */
		/* Cancel a request on a reused connection: that connection
		 * cannot carry another request (its answer may be coming). */
		send_one(f, "/", &h);
		gw_httpc_cancel(h);
		gw_httpc_pool_stats(f->pool, &st);
		assert_int_equal(st.reused, 1);
		assert_int_equal(st.idle, 1);
		uv_timer_start(&f->pause, pause_cb, 50, 0);
		break;
	default:
		finish(f); /* closes the idle one while handles of the cancelled one close */
	}
}

static void test_idle_cap_and_cancel(void **state)
{
	struct fix f;
	(void)state;
	run(&f, NULL, true, 2, cap_script);
	assert_int_equal(f.answered, 3);
	assert_int_equal(f.failed, 0);
}

/* ---- a request to a port nobody listens on: GW_EAGAIN, nothing pooled */

static void refused_done(void *data, int err, const struct gw_httpc_resp *resp)
{
	struct fix *f = data;
	(void)resp;
	assert_int_equal(err, GW_EAGAIN);
	f->failed++;
	next(f);
}

static void refused_script(struct fix *f)
{
	struct gw_httpc_pool_stats st;
	struct gw_httpc_opts o = {.timeout_ms = 5000, .pool = f->pool};

	if (f->step == 0) {
		/* Port 1 on loopback: nobody listens there in a test sandbox. */
		assert_int_equal(gw_httpc_request(&f->loop, "127.0.0.1:1", "GET", "/", "", NULL, 0,
						  &o, refused_done, f, NULL),
				 0);
		return;
	}
	gw_httpc_pool_stats(f->pool, &st);
	assert_int_equal(st.idle, 0);
	finish(f);
}

static void test_refused_not_pooled(void **state)
{
	struct fix f;
	(void)state;
	run(&f, NULL, true, 2, refused_script);
	assert_int_equal(f.failed, 1);
}

/* ---- the pool closes while a request is busy: the request still ends, then
 * its connection closes and the pool frees itself (LSan checks) */

static void busy_close_script(struct fix *f)
{
	if (f->step == 0) {
		send_one(f, "/", NULL);
		gw_httpc_pool_close(f->pool);
		f->pool = NULL;
		return;
	}
	finish(f);
}

static void test_pool_closed_while_busy(void **state)
{
	struct fix f;
	(void)state;
	run(&f, NULL, true, 2, busy_close_script);
	assert_int_equal(f.answered, 1);
	assert_int_equal(f.failed, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sequential_requests_reuse),
	    cmocka_unit_test(test_no_pool_closes),
	    cmocka_unit_test(test_server_idle_close_not_reused),
	    cmocka_unit_test(test_connection_close_answer_not_reused),
	    cmocka_unit_test(test_idle_cap_and_cancel),
	    cmocka_unit_test(test_refused_not_pooled),
	    cmocka_unit_test(test_pool_closed_while_busy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
