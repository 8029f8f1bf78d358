/* test_lib.c: lib/ helpers — error strings, buffers, addresses, the arena,
 * the list, state machines, the log rate limit and escaping, the
 * control-plane HTTP server over real loopback sockets (a client thread
 * talks to a server whose loop runs in the test thread), the node-to-node
 * HTTP client (against that server or raw sockets, all on one loop), the
 * atomic file writer and the reason-phrase table. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "lib/addr.h"
#include "lib/arena.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "lib/file.h"
#include "lib/httpc.h"
#include "lib/httpd.h"
#include "lib/list.h"
#include "lib/log.h"
#include "lib/prom.h"
#include "lib/ratelimit.h"
#include "lib/crc32c.h"
#include "lib/reason.h"
#include "lib/sm.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void test_err_strings(void **state)
{
	(void)state;
	assert_string_equal(gw_strerror(GW_ENOLEADER), "etcdserver: no leader");
	assert_string_equal(gw_strerror(GW_ECOMPACTED),
			    "mvcc: required revision has been compacted");
	assert_string_equal(gw_strerror(GW_ENOSPACE), "mvcc: database space exceeded");
	assert_string_equal(gw_errname(GW_ETIMEOUT), "GW_ETIMEOUT");
	assert_string_equal(gw_strerror(0), "success");
	assert_string_equal(gw_strerror(-2), "No such file or directory");
	assert_string_equal(gw_strerror(-999999), "unknown error");
	assert_true(GW_ENOMEM < -1000);
}

static void test_buf(void **state)
{
	struct gw_buf b;
	char *p;
	size_t len;
	(void)state;
	gw_buf_init(&b);
	for (int i = 0; i < 1000; i++) {
		assert_int_equal(gw_buf_printf(&b, "%d,", i), 0);
	}
	assert_true(strncmp(b.data, "0,1,2,", 6) == 0);
	assert_int_equal(b.data[b.len], '\0');
	gw_buf_consume(&b, 2);
	assert_true(strncmp(b.data, "1,2,", 4) == 0);
	assert_int_equal(gw_buf_append(&b, "xyz", 3), 0);
	assert_memory_equal(b.data + b.len - 3, "xyz", 3);
	p = gw_buf_steal(&b, &len);
	assert_non_null(p);
	assert_int_equal(b.len, 0);
	assert_null(b.data);
	assert_int_equal(strlen(p), len);
	free(p);
	gw_buf_close(&b);
}

static void test_addr(void **state)
{
	struct gw_addr a;
	const char *why;
	(void)state;
	assert_int_equal(gw_addr_parse("127.0.0.1:80", &a, &why), 0);
	assert_string_equal(a.text, "127.0.0.1:80");
	assert_int_equal(gw_addr_port(&a), 80);
	assert_int_equal(gw_addr_parse(":9080", &a, &why), 0);
	assert_string_equal(a.text, "0.0.0.0:9080");
	assert_int_equal(gw_addr_parse("[::1]:443,proxy_protocol", &a, &why), 0);
	assert_string_equal(a.text, "[::1]:443");
	assert_string_equal(a.opts, "proxy_protocol");
	assert_int_equal(gw_addr_parse("localhost:1", &a, &why), 0);
	assert_string_equal(a.text, "127.0.0.1:1");
	assert_int_equal(gw_addr_parse("127.0.0.1:0", &a, &why), GW_EADDR);
	assert_int_equal(gw_addr_parse("127.0.0.1:65536", &a, &why), GW_EADDR);
	assert_int_equal(gw_addr_parse("127.0.0.1:+80", &a, &why), GW_EADDR);
	assert_int_equal(gw_addr_parse("example.com:80", &a, &why), GW_EADDR);
	assert_int_equal(gw_addr_parse("::1:80", &a, &why), GW_EADDR);
	assert_int_equal(gw_addr_parse("[::1]80", &a, &why), GW_EADDR);
	assert_int_equal(gw_addr_parse("", &a, &why), GW_EADDR);
}

static void test_prom(void **state)
{
	struct gw_buf b;
	const char *l[] = {"route", "a\"b\\c\nd", "code", "200", NULL};
	(void)state;
	gw_buf_init(&b);
	assert_int_equal(gw_prom_family(&b, "x_total", "counter", "Things."), 0);
	assert_int_equal(gw_prom_sample(&b, "x_total", l, 3), 0);
	assert_int_equal(gw_prom_sample(&b, "x_total", NULL, 0.25), 0);
	assert_int_equal(gw_prom_sample(&b, "x_total", NULL, 1.0 / 0.0), 0);
	assert_string_equal(b.data, "# HELP x_total Things.\n# TYPE x_total counter\n"
				    "x_total{route=\"a\\\"b\\\\c\\nd\",code=\"200\"} 3\n"
				    "x_total 0.25\nx_total +Inf\n");
	gw_buf_close(&b);
}

/* ---- httpd ------------------------------------------------------------- */

struct fixture {
	uv_loop_t loop;
	uv_async_t done;     /* client thread finished */
	uv_timer_t deferred; /* answers a request later */
	struct gw_httpd *srv;
	int port;
	const char *send; /* bytes the client sends */
	size_t send_len;
	bool no_read;    /* client closes right after sending */
	char got[65536]; /* what the client read until EOF or timeout */
	size_t got_len;
	int aborted; /* requests whose client went away */
	struct gw_http_req *held;
	int handled;
	bool client_done;
};

/* End the test's loop once the client is done and no answer is pending. */
static void maybe_finish(struct fixture *f)
{
	/* A client that does not read may finish before its request arrived. */
	if (!f->client_done || f->held != NULL || (f->no_read && f->handled == 0)) {
		return;
	}
	gw_httpd_stop(f->srv, NULL, NULL);
	uv_close((uv_handle_t *)&f->done, NULL);
	uv_close((uv_handle_t *)&f->deferred, NULL);
}

static void abort_cb(struct gw_http_req *req, void *data)
{
	struct fixture *f = data;
	(void)req;
	f->aborted++;
}

static void deferred_cb(uv_timer_t *t)
{
	struct fixture *f = t->data;
	struct gw_http_req *req = f->held;
	f->held = NULL;
	if (req->aborted) {
		gw_http_respond(req, 200, "text/plain", "", "", 0);
	} else {
		gw_http_respond(req, 200, "text/plain", "", "later\n", 6);
	}
	maybe_finish(f);
}

static void handler(struct gw_http_req *req, void *data)
{
	struct fixture *f = data;
	char body[256];
	char arg[64];
	int n;
	f->handled++;
	if (strcmp(req->path, "/slow") == 0) {
		req->on_abort = abort_cb;
		req->abort_data = f;
		f->held = req;
		uv_timer_start(&f->deferred, deferred_cb, 200, 0);
		return;
	}
	if (strcmp(req->path, "/stream") == 0) {
		gw_http_stream_start(req, 200, "text/plain", "");
		gw_http_stream_write(req, "one\n", 4);
		gw_http_stream_write(req, "two\n", 4);
		gw_http_stream_end(req);
		return;
	}
	n = snprintf(body, sizeof body, "%s %s q=%s body=%zu arg=%s\n", req->method, req->path,
		     req->query, req->body.len,
		     gw_http_query_arg(req, "a", arg, sizeof arg) ? arg : "-");
	gw_http_respond(req, 200, "text/plain", "X-Test: 1\r\n", body, (size_t)n);
}

static void *client_main(void *arg)
{
	struct fixture *f = arg;
	struct sockaddr_in sa;
	struct timeval tv = {.tv_sec = 3, .tv_usec = 0};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ssize_t k;
	size_t off = 0;

	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)f->port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
		while (off < f->send_len) {
			k = write(fd, f->send + off, f->send_len - off);
			if (k <= 0) {
				break;
			}
			off += (size_t)k;
		}
		while (!f->no_read && f->got_len < sizeof f->got - 1 &&
		       (k = read(fd, f->got + f->got_len, sizeof f->got - 1 - f->got_len)) > 0) {
			f->got_len += (size_t)k;
		}
	}
	f->got[f->got_len] = '\0';
	close(fd);
	uv_async_send(&f->done);
	return NULL;
}

static void done_cb(uv_async_t *a)
{
	struct fixture *f = a->data;
	f->client_done = true;
	maybe_finish(f);
}

/* Run one client exchange against a fresh server; returns what it read. */
static const char *exchange_ex(struct fixture *f, const struct gw_httpd_opts *opts,
			       const char *send, size_t len, bool no_read)
{
	struct gw_addr addr;
	const char *why;
	pthread_t th;

	memset(f, 0, sizeof *f);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	uv_async_init(&f->loop, &f->done, done_cb);
	f->done.data = f;
	uv_timer_init(&f->loop, &f->deferred);
	f->deferred.data = f;
	assert_int_equal(gw_addr_parse("127.0.0.1:1", &addr, &why), 0);
	((struct sockaddr_in *)&addr.ss)->sin_port = 0;
	assert_int_equal(gw_httpd_start(&f->loop, &addr, opts, handler, f, &f->srv), 0);
	f->port = gw_httpd_port(f->srv);
	f->send = send;
	f->send_len = len;
	f->no_read = no_read;
	assert_int_equal(pthread_create(&th, NULL, client_main, f), 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	pthread_join(th, NULL);
	/* Every handle closed: the loop closes cleanly. */
	assert_int_equal(uv_loop_close(&f->loop), 0);
	return f->got;
}

static const char *exchange(struct fixture *f, const struct gw_httpd_opts *opts, const char *send,
			    size_t len)
{
	return exchange_ex(f, opts, send, len, false);
}

static int count(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) {
		n++;
	}
	return n;
}

static void test_httpd_simple_and_close(void **state)
{
	struct fixture f;
	const char *r;
	static const char req[] = "GET /a/b%20c?a=x%2By&b=2 HTTP/1.1\r\nHost: x\r\n"
				  "Connection: close\r\n\r\n";
	(void)state;
	r = exchange(&f, NULL, req, sizeof req - 1);
	assert_non_null(strstr(r, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(r, "X-Test: 1\r\n"));
	assert_non_null(strstr(r, "Connection: close\r\n"));
	assert_non_null(strstr(r, "GET /a/b c q=a=x%2By&b=2 body=0 arg=x+y\n"));
}

static void test_httpd_pipelining_in_order(void **state)
{
	struct fixture f;
	const char *r, *p1, *p2, *p3;
	static const char req[] = "GET /one HTTP/1.1\r\nHost: x\r\n\r\n"
				  "POST /two HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
				  "PUT /three HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
				  "Connection: close\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
	(void)state;
	r = exchange(&f, NULL, req, sizeof req - 1);
	assert_int_equal(count(r, "HTTP/1.1 200 OK"), 3);
	p1 = strstr(r, "GET /one");
	p2 = strstr(r, "POST /two q= body=5");
	p3 = strstr(r, "PUT /three q= body=5");
	assert_non_null(p1);
	assert_non_null(p2);
	assert_non_null(p3);
	assert_true(p1 < p2 && p2 < p3);
}

static void test_httpd_limits(void **state)
{
	struct fixture f;
	struct gw_httpd_opts o = {.max_body_bytes = 100, .max_header_bytes = 256};
	char big[2048];
	const char *r;
	(void)state;

	r = exchange(&f, &o, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n",
		     strlen("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n"));
	assert_non_null(strstr(r, "HTTP/1.1 413 "));
	assert_int_equal(f.handled, 0);

	snprintf(big, sizeof big, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: %0400d\r\n\r\n", 7);
	r = exchange(&f, &o, big, strlen(big));
	assert_non_null(strstr(r, "HTTP/1.1 431 "));
	assert_int_equal(f.handled, 0);

	r = exchange(&f, &o, "BLAH\x01 / HTTP/1.1\r\n\r\n", 20);
	assert_non_null(strstr(r, "HTTP/1.1 400 "));
	assert_int_equal(f.handled, 0);

	/* Smuggling shape: both Content-Length and chunked. */
	r = exchange(&f, &o,
		     "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
		     "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		     strlen("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
			    "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"));
	assert_non_null(strstr(r, "HTTP/1.1 400 "));
	assert_int_equal(f.handled, 0);
}

static void test_httpd_deferred_and_stream(void **state)
{
	struct fixture f;
	const char *r;
	static const char req[] = "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
				  "GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	(void)state;
	r = exchange(&f, NULL, req, sizeof req - 1);
	assert_non_null(strstr(r, "later\n"));
	assert_non_null(strstr(r, "Transfer-Encoding: chunked\r\n"));
	assert_non_null(strstr(r, "4\r\none\n\r\n4\r\ntwo\n\r\n0\r\n\r\n"));
	assert_true(strstr(r, "later") < strstr(r, "one"));
	assert_int_equal(f.aborted, 0);
}

static void test_httpd_client_gone_aborts(void **state)
{
	struct fixture f;
	static const char req[] = "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n";
	(void)state;
	/* The client closes at once while the answer is pending: the request
	 * sees the abort, the late answer only frees it, the loop ends clean. */
	exchange_ex(&f, NULL, req, sizeof req - 1, true);
	assert_int_equal(f.handled, 1);
	assert_int_equal(f.aborted, 1);
}

static void test_httpd_bind_conflict(void **state)
{
	uv_loop_t loop;
	struct gw_httpd *a, *b;
	struct gw_addr addr;
	const char *why;
	(void)state;
	uv_loop_init(&loop);
	gw_addr_parse("127.0.0.1:1", &addr, &why);
	((struct sockaddr_in *)&addr.ss)->sin_port = 0;
	assert_int_equal(gw_httpd_start(&loop, &addr, NULL, handler, NULL, &a), 0);
	((struct sockaddr_in *)&addr.ss)->sin_port = htons((uint16_t)gw_httpd_port(a));
	assert_int_equal(gw_httpd_start(&loop, &addr, NULL, handler, NULL, &b), GW_EADDR);
	gw_httpd_stop(a, NULL, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_buf_read_alloc(void **state)
{
	struct gw_buf b;
	uv_buf_t u;
	(void)state;
	gw_buf_init(&b);
	gw_buf_read_alloc(&b, &u);
	assert_non_null(u.base);
	assert_true(u.len >= 16384);
	memcpy(u.base, "abc", 3);
	gw_buf_read_commit(&b, 3);
	assert_int_equal(b.len, 3);
	assert_string_equal(b.data, "abc");
	gw_buf_read_alloc(&b, &u);
	assert_ptr_equal(u.base, b.data + 3);
	assert_int_equal(u.len, b.cap - b.len - 1); /* room for the NUL */
	gw_buf_close(&b);
}

/* ---- httpc ------------------------------------------------------------- */

struct hc {
	uv_loop_t loop;
	struct gw_httpd *srv; /* stopped by the callback */
	uv_tcp_t lsn;         /* raw server (malformed answers) */
	const char *answer;   /* what the raw server writes before closing */
	int calls;
	int err;
	int status;
	int gw_err;
	char body[256];
	char why[128];
};

static void hc_cb(void *data, int err, const struct gw_httpc_resp *resp)
{
	struct hc *h = data;
	h->calls++;
	h->err = err;
	if (resp != NULL) {
		h->status = resp->status;
		h->gw_err = resp->gw_err;
		snprintf(h->body, sizeof h->body, "%.*s", (int)resp->body.len,
			 resp->body.data != NULL ? resp->body.data : "");
	}
	if (h->srv != NULL) {
		gw_httpd_stop(h->srv, NULL, NULL);
		h->srv = NULL;
	}
}

static void hc_handler(struct gw_http_req *req, void *data)
{
	char body[128], hdr[64];
	int n;
	(void)data;
	n = snprintf(body, sizeof body, "%s %s body=%.*s", req->method, req->path,
		     (int)req->body.len, req->body.data != NULL ? req->body.data : "");
	if (strcmp(req->path, "/err") == 0) {
		snprintf(hdr, sizeof hdr, "X-Apigw-Error: %d\r\n", GW_ENOTLEADER);
		gw_http_respond(req, 503, "text/plain", hdr, body, (size_t)n);
		return;
	}
	gw_http_respond(req, 201, "text/plain", "", body, (size_t)n);
}

/* A listening socket on 127.0.0.1 that never accepts (the kernel completes
 * the handshake): requests to it time out. *@port gets its port. */
static int mute_listener(int *port)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof sa;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

static void hc_run(struct hc *h)
{
	uv_run(&h->loop, UV_RUN_DEFAULT);
	/* Every handle of the client closed: the loop closes cleanly. */
	assert_int_equal(uv_loop_close(&h->loop), 0);
}

static void test_httpc_against_httpd(void **state)
{
	struct hc h;
	struct gw_addr addr;
	struct gw_httpc_opts o = {.timeout_ms = 5000};
	const char *why;
	char hp[64];
	(void)state;

	for (int i = 0; i < 2; i++) {
		memset(&h, 0, sizeof h);
		assert_int_equal(uv_loop_init(&h.loop), 0);
		assert_int_equal(gw_addr_parse("127.0.0.1:1", &addr, &why), 0);
		((struct sockaddr_in *)&addr.ss)->sin_port = 0;
		assert_int_equal(gw_httpd_start(&h.loop, &addr, NULL, hc_handler, NULL, &h.srv), 0);
		snprintf(hp, sizeof hp, "127.0.0.1:%d", gw_httpd_port(h.srv));
		assert_int_equal(gw_httpc_request(&h.loop, hp, "POST", i == 0 ? "/ok" : "/err",
						  "X-A: 1\r\n", "hello", 5, &o, hc_cb, &h, NULL),
				 0);
		assert_int_equal(h.calls, 0); /* never from inside the call */
		hc_run(&h);
		assert_int_equal(h.calls, 1);
		assert_int_equal(h.err, 0);
		if (i == 0) {
			assert_int_equal(h.status, 201);
			assert_int_equal(h.gw_err, 0);
			assert_string_equal(h.body, "POST /ok body=hello");
		} else {
			assert_int_equal(h.status, 503);
			assert_int_equal(h.gw_err, GW_ENOTLEADER);
			assert_string_equal(h.body, "POST /err body=hello");
		}
	}
}

static void test_httpc_timeout(void **state)
{
	struct hc h;
	struct gw_httpc_opts o = {.timeout_ms = 100};
	char hp[64];
	int fd, port;
	uint64_t t0;
	(void)state;

	memset(&h, 0, sizeof h);
	assert_int_equal(uv_loop_init(&h.loop), 0);
	fd = mute_listener(&port);
	assert_int_equal(listen(fd, 8), 0);
	snprintf(hp, sizeof hp, "127.0.0.1:%d", port);
	t0 = uv_hrtime();
	assert_int_equal(
	    gw_httpc_request(&h.loop, hp, "GET", "/", NULL, NULL, 0, &o, hc_cb, &h, NULL), 0);
	hc_run(&h);
	close(fd);
	assert_int_equal(h.calls, 1);
	assert_int_equal(h.err, GW_ETIMEOUT);
	assert_true(uv_hrtime() - t0 >= 90 * 1000000ull);
}

static void test_httpc_refused_and_cancel(void **state)
{
	struct hc h;
	struct gw_httpc_opts o = {.timeout_ms = 5000, .why = h.why, .why_len = sizeof h.why};
	struct gw_httpc *req;
	char hp[64];
	int fd, port;
	(void)state;

	/* A bound port nobody listens on: refused, nothing sent (GW_EAGAIN). */
	memset(&h, 0, sizeof h);
	assert_int_equal(uv_loop_init(&h.loop), 0);
	fd = mute_listener(&port);
	snprintf(hp, sizeof hp, "127.0.0.1:%d", port);
	assert_int_equal(
	    gw_httpc_request(&h.loop, hp, "GET", "/", "", NULL, 0, &o, hc_cb, &h, NULL), 0);
	hc_run(&h);
	assert_int_equal(h.calls, 1);
	assert_int_equal(h.err, GW_EAGAIN);
	assert_string_equal(h.why, strerror(ECONNREFUSED));

	/* Cancelled at once: no callback, every handle closes. */
	memset(&h, 0, sizeof h);
	assert_int_equal(uv_loop_init(&h.loop), 0);
	assert_int_equal(
	    gw_httpc_request(&h.loop, hp, "GET", "/", "", NULL, 0, NULL, hc_cb, &h, &req), 0);
	gw_httpc_cancel(req);
	hc_run(&h);
	assert_int_equal(h.calls, 0);
	close(fd);

	/* Not an address: refused before anything starts. */
	memset(&h, 0, sizeof h);
	assert_int_equal(uv_loop_init(&h.loop), 0);
	assert_int_equal(gw_httpc_request(&h.loop, "example.com:80", "GET", "/", "", NULL, 0, NULL,
					  hc_cb, &h, NULL),
			 GW_EADDR);
	hc_run(&h);
	assert_int_equal(h.calls, 0);
}

static void raw_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	static char scratch[4096];
	(void)h;
	(void)suggested;
	*buf = uv_buf_init(scratch, sizeof scratch);
}

/* The raw server reads the request first (closing with unread bytes would
 * reset the connection), then writes its answer and closes. */
static void raw_read(uv_stream_t *c, ssize_t n, const uv_buf_t *buf)
{
	struct hc *h = c->data;
	uv_buf_t b = uv_buf_init((char *)h->answer, (unsigned)strlen(h->answer));

	if (n > 0 && memmem(buf->base, (size_t)n, "\r\n\r\n", 4) == NULL) {
		return; /* the request's head is small: one read in practice */
	}
	if (n > 0 && b.len > 0) {
		assert_int_equal(uv_try_write(c, &b, 1), (int)b.len);
	}
	if (n != 0) {
		uv_close((uv_handle_t *)c, (uv_close_cb)free);
	}
}

static void raw_conn(uv_stream_t *lsn, int status)
{
	struct hc *h = lsn->data;
	uv_tcp_t *c = malloc(sizeof *c);

	assert_int_equal(status, 0);
	assert_non_null(c);
	uv_tcp_init(&h->loop, c);
	c->data = h;
	assert_int_equal(uv_accept(lsn, (uv_stream_t *)c), 0);
	assert_int_equal(uv_read_start((uv_stream_t *)c, raw_alloc, raw_read), 0);
	uv_close((uv_handle_t *)lsn, NULL);
}

static void test_httpc_malformed(void **state)
{
	static const char *const answers[] = {
	    "NOT HTTP AT ALL\r\n\r\n",                          /* no status line */
	    "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", /* truncated body */
	    "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n",         /* no end of head */
	    "HTTP/1.1 42 Odd\r\nContent-Length: 0\r\n\r\n",     /* status out of range */
	    "",                                                 /* closed at once */
	    "HTTP/1.0 200 OK\r\n\r\nuntil close",               /* fine: no length */
	};
	struct gw_httpc_opts o = {.timeout_ms = 5000};
	struct sockaddr_in sa;
	int sl = sizeof sa;
	char hp[64];
	(void)state;

	for (size_t i = 0; i < sizeof answers / sizeof answers[0]; i++) {
		struct hc h;
		memset(&h, 0, sizeof h);
		assert_int_equal(uv_loop_init(&h.loop), 0);
		h.answer = answers[i];
		uv_tcp_init(&h.loop, &h.lsn);
		h.lsn.data = &h;
		memset(&sa, 0, sizeof sa);
		sa.sin_family = AF_INET;
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		assert_int_equal(uv_tcp_bind(&h.lsn, (struct sockaddr *)&sa, 0), 0);
		assert_int_equal(uv_listen((uv_stream_t *)&h.lsn, 8, raw_conn), 0);
		assert_int_equal(uv_tcp_getsockname(&h.lsn, (struct sockaddr *)&sa, &sl), 0);
		snprintf(hp, sizeof hp, "127.0.0.1:%d", ntohs(sa.sin_port));
		assert_int_equal(
		    gw_httpc_request(&h.loop, hp, "GET", "/", "", NULL, 0, &o, hc_cb, &h, NULL), 0);
		hc_run(&h);
		assert_int_equal(h.calls, 1);
		if (i == 5) {
			assert_int_equal(h.err, 0);
			assert_int_equal(h.status, 200);
			assert_string_equal(h.body, "until close");
		} else {
			assert_int_equal(h.err, GW_EIO);
		}
	}
}

static void test_httpc_url_hostport(void **state)
{
	char out[32];
	(void)state;
	assert_int_equal(gw_httpc_url_hostport("http://127.0.0.1:2379/v3", out, sizeof out), 0);
	assert_string_equal(out, "127.0.0.1:2379");
	assert_int_equal(gw_httpc_url_hostport("https://[::1]:2379", out, sizeof out), 0);
	assert_string_equal(out, "[::1]:2379");
	assert_int_equal(gw_httpc_url_hostport("10.0.0.1:80", out, sizeof out), 0);
	assert_string_equal(out, "10.0.0.1:80");
	assert_int_equal(gw_httpc_url_hostport("http:///x", out, sizeof out), GW_EINVAL);
	assert_int_equal(gw_httpc_url_hostport(NULL, out, sizeof out), GW_EINVAL);
	assert_int_equal(gw_httpc_url_hostport("http://a-very-long-host-name.example:1", out, 8),
			 GW_EINVAL);
}

/* ---- file -------------------------------------------------------------- */

static void read_all(const char *path, char *out, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n;
	assert_non_null(f);
	n = fread(out, 1, len - 1, f);
	out[n] = '\0';
	fclose(f);
}

static void test_file_write_atomic(void **state)
{
	char dir[] = "/tmp/gw-test-lib-XXXXXX", path[128], tmp[140], got[64];
	struct stat st;
	mode_t old = umask(077);
	(void)state;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/f", dir);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	assert_int_equal(gw_file_write_atomic(path, "one\n", 4, 0644), 0);
	read_all(path, got, sizeof got);
	assert_string_equal(got, "one\n");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644); /* exactly: the umask does not apply */
	assert_int_equal(access(tmp, F_OK), -1);

	/* Replaced whole, with the new mode. */
	assert_int_equal(gw_file_write_atomic(path, "2", 1, 0600), 0);
	read_all(path, got, sizeof got);
	assert_string_equal(got, "2");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(access(tmp, F_OK), -1);

	/* The rename fails (a directory is in the way): GW_EIO with errno set,
	 * no temp file left. */
	assert_int_equal(gw_file_write_atomic(dir, "x", 1, 0600), GW_EIO);
	assert_true(errno != 0);
	snprintf(tmp, sizeof tmp, "%s.tmp", dir);
	assert_int_equal(access(tmp, F_OK), -1);
	/* No directory at all. */
	snprintf(tmp, sizeof tmp, "%s/none/f", dir);
	assert_int_equal(gw_file_write_atomic(tmp, "x", 1, 0600), GW_EIO);
	assert_int_equal(errno, ENOENT);

	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
	umask(old);
}

/* ---- reason phrases ------------------------------------------------------ */

static void test_reason(void **state)
{
	(void)state;
	assert_string_equal(gw_reason_rfc(200), "OK");
	assert_string_equal(gw_reason_nginx(200), "OK");
	assert_string_equal(gw_reason_rfc(413), "Payload Too Large");
	assert_string_equal(gw_reason_nginx(413), "Request Entity Too Large");
	assert_string_equal(gw_reason_rfc(405), "Method Not Allowed");
	assert_string_equal(gw_reason_nginx(405), "Not Allowed");
	assert_string_equal(gw_reason_rfc(503), "Service Unavailable");
	assert_string_equal(gw_reason_nginx(503), "Service Temporarily Unavailable");
	assert_string_equal(gw_reason_rfc(504), "Gateway Timeout");
	assert_string_equal(gw_reason_nginx(504), "Gateway Time-out");
	/* a status one column has no phrase for */
	assert_string_equal(gw_reason_rfc(206), "Unknown");
	assert_string_equal(gw_reason_nginx(206), "Partial Content");
	assert_string_equal(gw_reason_rfc(409), "Conflict");
	assert_string_equal(gw_reason_nginx(409), "Unknown");
	/* outside the table */
	assert_string_equal(gw_reason_rfc(299), "Unknown");
	assert_string_equal(gw_reason_nginx(99), "Unknown");
	assert_string_equal(gw_reason_rfc(600), "Unknown");
	assert_string_equal(gw_reason_nginx(-1), "Unknown");
}

struct item {
	int v;
	struct gw_list link;
};

static int list_values(struct gw_list *head, int *out, int max)
{
	struct gw_list *it;
	int n = 0;
	gw_list_foreach(it, head)
	{
		if (n < max) {
			out[n] = gw_container_of(it, struct item, link)->v;
		}
		n++;
	}
	return n;
}

static void test_list(void **state)
{
	struct gw_list head, other, *it, *tmp;
	struct item items[5];
	int v[8], i;

	(void)state;
	gw_list_init(&head);
	gw_list_init(&other);
	assert_true(gw_list_empty(&head));
	assert_null(gw_list_first(&head));
	for (i = 0; i < 5; i++) {
		items[i].v = i;
		gw_list_init(&items[i].link);
		assert_false(gw_list_linked(&items[i].link));
	}
	gw_list_add_tail(&head, &items[1].link);
	gw_list_add_tail(&head, &items[2].link);
	gw_list_add_head(&head, &items[0].link);
	assert_int_equal(list_values(&head, v, 8), 3);
	assert_int_equal(v[0], 0);
	assert_int_equal(v[1], 1);
	assert_int_equal(v[2], 2);
	assert_true(gw_list_linked(&items[1].link));
	gw_list_del(&items[1].link);
	gw_list_del(&items[1].link); /* twice is harmless */
	assert_false(gw_list_linked(&items[1].link));
	assert_int_equal(list_values(&head, v, 8), 2);
	assert_int_equal(v[1], 2);

	gw_list_add_tail(&other, &items[3].link);
	gw_list_add_tail(&other, &items[4].link);
	gw_list_splice_tail(&head, &other);
	assert_true(gw_list_empty(&other));
	assert_int_equal(list_values(&head, v, 8), 4);
	assert_int_equal(v[2], 3);
	assert_int_equal(v[3], 4);
	gw_list_splice_tail(&head, &other); /* empty: no-op */
	assert_int_equal(list_values(&head, v, 8), 4);

	/* unlink while iterating */
	gw_list_foreach_safe(it, tmp, &head)
	{
		if (gw_container_of(it, struct item, link)->v % 2 == 0) {
			gw_list_del(it);
		}
	}
	assert_int_equal(list_values(&head, v, 8), 1);
	assert_int_equal(v[0], 3);
	assert_ptr_equal(gw_list_first(&head), &items[3].link);
}

static bool all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] != 0) {
			return false;
		}
	}
	return true;
}

static void test_arena(void **state)
{
	struct gw_arena a;
	unsigned char *p, *q, *big, *after;
	struct gw_arena_chunk *first;
	char *s;

	(void)state;
	gw_arena_init(&a);
	assert_null(a.head);
	assert_int_equal(a.total, 0);

	/* aligned, zeroed, distinct; 0 bytes still gets a pointer of its own */
	p = gw_arena_alloc(&a, 3);
	q = gw_arena_alloc(&a, 0);
	assert_non_null(p);
	assert_non_null(q);
	assert_ptr_not_equal(p, q);
	assert_int_equal((uintptr_t)p % GW_ARENA_ALIGN, 0);
	assert_int_equal((uintptr_t)q % GW_ARENA_ALIGN, 0);
	assert_true(all_zero(p, 3));
	assert_int_equal(a.total, GW_ARENA_CHUNK);
	first = a.head;

	/* take does not zero; strndup copies, NULs included, and terminates */
	p = gw_arena_take(&a, 40);
	memset(p, 0xab, 40);
	s = gw_arena_strndup(&a, "ab\0cd", 5);
	assert_memory_equal(s, "ab\0cd", 6);
	s = gw_arena_strndup(&a, NULL, 0);
	assert_string_equal(s, "");

	/* fill the first chunk: the next one is twice as large */
	while (a.head == first) {
		p = gw_arena_alloc(&a, 100);
		assert_non_null(p);
		assert_true(all_zero(p, 100));
	}
	assert_int_equal(a.total, GW_ARENA_CHUNK + 2 * GW_ARENA_CHUNK);
	assert_ptr_equal(a.head->next, first);

	/* larger than a chunk: a chunk of its own, behind the newest */
	after = a.head->data + a.head->used;
	big = gw_arena_alloc(&a, 100000);
	assert_non_null(big);
	assert_true(all_zero(big, 100000));
	assert_int_equal(big[99999], 0);
	p = gw_arena_alloc(&a, 16);
	assert_ptr_equal(p, after); /* the newest chunk is still filled */

	/* sizes that overflow fail cleanly */
	assert_null(gw_arena_take(&a, SIZE_MAX));
	assert_null(gw_arena_take(&a, SIZE_MAX - 8));
	assert_null(gw_arena_strndup(&a, "", SIZE_MAX));

	/* reset keeps one standard chunk, empty; close frees it */
	gw_arena_reset(&a);
	assert_ptr_equal(a.head, first);
	assert_null(a.head->next);
	assert_int_equal(a.head->used, 0);
	assert_int_equal(a.total, GW_ARENA_CHUNK);
	p = gw_arena_alloc(&a, 8);
	assert_ptr_equal(p, first->data);
	assert_true(all_zero(p, 8));
	gw_arena_close(&a);
	assert_null(a.head);
	assert_int_equal(a.total, 0);
	/* an arena is usable again after close, and close is idempotent */
	assert_non_null(gw_arena_alloc(&a, 1));
	gw_arena_close(&a);
	gw_arena_close(&a);
	gw_arena_reset(&a);
	assert_null(a.head);
}

enum { ST_A, ST_B, ST_C, ST_N };
static const char *const st_names[ST_N] = {"a", "b", "c"};
static const uint32_t st_allowed[ST_N] = {
    [ST_A] = GW_SM_BIT(ST_B),
    [ST_B] = GW_SM_BIT(ST_B) | GW_SM_BIT(ST_C),
    [ST_C] = 0,
};
static const struct gw_sm_conf st_conf = {"test", st_names, st_allowed, ST_N};

static void test_sm(void **state)
{
	struct gw_sm sm;

	(void)state;
	gw_sm_init(&sm, &st_conf, ST_A);
	assert_int_equal(gw_sm_state(&sm), ST_A);
	assert_string_equal(gw_sm_name(&sm), "a");
	assert_true(gw_sm_in(&sm, GW_SM_BIT(ST_A) | GW_SM_BIT(ST_C)));
	gw_sm_move(&sm, ST_B);
	gw_sm_move(&sm, ST_B);
	assert_false(gw_sm_in(&sm, GW_SM_BIT(ST_A)));
	gw_sm_move(&sm, ST_C);
	assert_string_equal(gw_sm_name(&sm), "c");
}

/* An illegal transition is a bug: the process aborts (checked in a child). */
static void test_sm_illegal_aborts(void **state)
{
	pid_t pid;
	int status;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct gw_sm sm;
		gw_log_set_level(GW_LOG_NONE);
		gw_sm_init(&sm, &st_conf, ST_A);
		gw_sm_move(&sm, ST_C); /* a -> c is not in the table */
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
}

static void test_ratelimit(void **state)
{
	struct gw_ratelimit rl = GW_RATELIMIT_INIT(1000, 3);
	unsigned sup = 99;
	int i, allowed = 0;

	(void)state;
	for (i = 0; i < 10; i++) {
		allowed += gw_ratelimit_allow(&rl, 5000 + (uint64_t)i, &sup);
	}
	assert_int_equal(allowed, 3);
	assert_int_equal(sup, 0); /* the third allowed one saw nothing suppressed */
	/* next window: allowed again, and told how many were dropped */
	assert_true(gw_ratelimit_allow(&rl, 6000, &sup));
	assert_int_equal(sup, 7);
	assert_true(gw_ratelimit_allow(&rl, 6001, NULL));
	assert_true(gw_ratelimit_allow(&rl, 6002, &sup));
	assert_int_equal(sup, 0);
	assert_false(gw_ratelimit_allow(&rl, 6999, &sup));
	/* a clock that goes back starts a new window instead of locking out */
	assert_true(gw_ratelimit_allow(&rl, 10, &sup));
	assert_int_equal(sup, 1);
}

/* A logged value with control bytes cannot end the line or forge another. */
static void test_log_escapes_control_bytes(void **state)
{
	int fds[2], saved;
	char out[4096];
	ssize_t n;

	(void)state;
	assert_int_equal(pipe(fds), 0);
	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(fds[1], STDERR_FILENO) >= 0);
	gw_log(GW_LOG_WARN, "test", "name=%s end",
	       "evil\n2026-01-01T00:00:00.000Z ERROR x\r\x1b[31m");
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	close(fds[1]);
	n = read(fds[0], out, sizeof out - 1);
	close(fds[0]);
	assert_true(n > 0);
	out[n] = '\0';
	assert_non_null(
	    strstr(out, "name=evil\\x0a2026-01-01T00:00:00.000Z ERROR x\\x0d\\x1b[31m end\n"));
	assert_ptr_equal(strchr(out, '\n'), out + n - 1); /* exactly one line */
}

/* CRC-32C: the standard check value, and extending piecewise equals one go. */
static void test_crc32c(void **state)
{
	(void)state;
	assert_int_equal(gw_crc32c(0, "123456789", 9), 0xE3069283u);
	assert_int_equal(gw_crc32c(0, "", 0), 0);
	assert_int_equal(gw_crc32c(gw_crc32c(0, "1234", 4), "56789", 5), 0xE3069283u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_err_strings),
	    cmocka_unit_test(test_buf),
	    cmocka_unit_test(test_list),
	    cmocka_unit_test(test_arena),
	    cmocka_unit_test(test_sm),
	    cmocka_unit_test(test_sm_illegal_aborts),
	    cmocka_unit_test(test_ratelimit),
	    cmocka_unit_test(test_log_escapes_control_bytes),
	    cmocka_unit_test(test_addr),
	    cmocka_unit_test(test_prom),
	    cmocka_unit_test(test_httpd_simple_and_close),
	    cmocka_unit_test(test_httpd_pipelining_in_order),
	    cmocka_unit_test(test_httpd_limits),
	    cmocka_unit_test(test_httpd_deferred_and_stream),
	    cmocka_unit_test(test_httpd_client_gone_aborts),
	    cmocka_unit_test(test_httpd_bind_conflict),
	    cmocka_unit_test(test_buf_read_alloc),
	    cmocka_unit_test(test_httpc_against_httpd),
	    cmocka_unit_test(test_httpc_timeout),
	    cmocka_unit_test(test_httpc_refused_and_cancel),
	    cmocka_unit_test(test_httpc_malformed),
	    cmocka_unit_test(test_httpc_url_hostport),
	    cmocka_unit_test(test_file_write_atomic),
	    cmocka_unit_test(test_reason),
	    cmocka_unit_test(test_crc32c),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
