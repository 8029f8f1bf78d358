/* test_proxy_live.c: end-to-end unit tests of proxy/ over time and
 * trouble: upstream errors and retries, clients that abort, send garbage or
 * are slow, plugins on the data path, config swaps (also under load),
 * WebSocket tunnels, IPv6, a port in use, and a stop that drains. A real
 * gw_proxy with worker threads on 127.0.0.1, real threaded upstreams
 * (test_proxy_util.c) and blocking clients (fixtures in test_proxy_env.c).
 * The first cases (parsing, limits, bodies) are in test_proxy.c. */
#include "config.h"

#include "lib/addr.h"
#include "lib/err.h"
#include "lib/log.h"
#include "proxy/conn_int.h"
#include "proxy/proxy.h"
#include "proxy/proxy_int.h"
#include "tests/unit/test_proxy_env.h"
#include "tests/unit/test_proxy_util.h"

#include <arpa/inet.h>
#include <http_parser.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

static void test_proxy_upstream_errors(void **state)
{
	struct env *e = *state;
	struct tresp r;
	char want[64];
	struct gw_proxy_stats st0, st1;

	gw_proxy_stats(e->p, &st0);

	/* nothing listens on ports 1 and 2: 502 after trying both */
	assert_int_equal(roundtrip(e, "GET /dead/x HTTP/1.1\r\nHost: a\r\n\r\n", &r), 0);
	assert_int_equal(r.status, 502);
	assert_true(body_has(&r, "502 Bad Gateway"));
	tresp_free(&r);
	/* read timeout 0.5 s: 504 */
	assert_int_equal(roundtrip(e, "GET /sleep/1500 HTTP/1.1\r\nHost: a\r\n\r\n", &r), 0);
	assert_int_equal(r.status, 504);
	assert_true(body_has(&r, "504 Gateway Time-out"));
	tresp_free(&r);
	/* one node answers 503: default retries (nodes - 1) hide it, always */
	snprintf(want, sizeof want, "port=%d\n", tup_port(e->up));
	for (int i = 0; i < 6; i++) {
		assert_int_equal(roundtrip(e,
					   "POST /retry/x HTTP/1.1\r\nHost: a\r\n"
					   "Content-Length: 5\r\n\r\nhello",
					   &r),
				 0);
		assert_int_equal(r.status, 200);
		assert_true(body_has(&r, want));
		assert_true(body_has(&r, "body_len=5\n"));
		tresp_free(&r);
	}
	assert_true(tup_requests(e->up2) > 0);
	/* node priority: the higher one is dead, the lower one serves */
	assert_int_equal(roundtrip(e, "GET /pri/x HTTP/1.1\r\nHost: a\r\n\r\n", &r), 0);
	assert_int_equal(r.status, 200);
	tresp_free(&r);
	/* an upstream status that is not retried passes through */
	assert_int_equal(roundtrip(e, "GET /status/418 HTTP/1.1\r\nHost: a\r\n\r\n", &r), 0);
	assert_int_equal(r.status, 418);
	tresp_free(&r);

	/* counters: 10 requests, 7 of them 2xx, 502 + 504, one 4xx; every
	 * connection closed by the client is gone */
	for (int i = 0; i < 100; i++) {
		gw_proxy_stats(e->p, &st1);
		if (st1.requests - st0.requests == 10 && st1.active_connections == 0) {
			break;
		}
		usleep(10000);
	}
	assert_int_equal(st1.requests - st0.requests, 10);
	assert_int_equal(st1.status[2] - st0.status[2], 7);
	assert_int_equal(st1.status[4] - st0.status[4], 1);
	assert_int_equal(st1.status[5] - st0.status[5], 2);
	assert_true(st1.retries - st0.retries >= 2); /* /dead/x and /pri/x at least */
	assert_true(st1.upstream_failures - st0.upstream_failures >= 4); /* 2 dead + 504 + pri */
	assert_int_equal(st1.active_connections, 0);
	assert_true(st1.connections - st0.connections >= 10);
	assert_int_equal(st1.revision, 7);
}

/* Mutated requests (byte flips, truncations, splices, random bytes): every
 * connection gets an answer or a close, and the proxy keeps serving. */
static void test_proxy_garbage(void **state)
{
	struct env *e = *state;
	static const char *const seeds[] = {
	    "GET /a?b=c HTTP/1.1\r\nHost: x\r\nCookie: k=v\r\n\r\n",
	    "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
	    "POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "3\r\nabc\r\n0\r\n\r\n",
	    "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
	    "GET http://h/%2e%2e/x HTTP/1.0\r\n\r\n",
	};
	unsigned seed = 12345;
	char buf[512];
	struct tresp r;

	for (int iter = 0; iter < 400; iter++) {
		const char *s = seeds[iter % 5];
		size_t n = strlen(s);
		struct tcli c;
		memcpy(buf, s, n);
		for (int k = 0; k < 1 + iter % 4; k++) {
			seed = seed * 1103515245 + 12345;
			size_t at = (seed >> 8) % n;
			switch ((seed >> 4) % 4) {
			case 0:
				buf[at] = (char)(seed >> 16);
				break;
			case 1:
				n = at + 1; /* truncate */
				break;
			case 2:
				buf[at] = "\r\n:; %/.\t\0"[(seed >> 12) % 10];
				break;
			default:
				if (n + 8 < sizeof buf) { /* splice a second request */
					memmove(buf + at + 8, buf + at, n - at);
					memcpy(buf + at, "\r\n\r\nGET ", 8);
					n += 8;
				}
			}
		}
		assert_int_equal(tcli_connect(&c, e->port), 0);
		if (tcli_send(&c, buf, n) == 0) {
			shutdown(c.fd, SHUT_WR); /* EOF: a half-sent request is abandoned */
			if (tcli_read(&c, &r, false) == 0) {
				/* 101: the websocket seed can still be a valid upgrade,
				 * which the upstream may accept before the proxy sees the
				 * EOF (timing); that is an answer too. */
				assert_true((r.status >= 200 && r.status < 600) || r.status == 101);
			}
			tresp_free(&r);
		}
		tcli_close(&c);
	}
	assert_int_equal(roundtrip(e, "GET /still/alive HTTP/1.1\r\nHost: a\r\n\r\n", &r), 0);
	assert_int_equal(r.status, 200);
	tresp_free(&r);
}

static void test_proxy_client_abort(void **state)
{
	struct env *e = *state;
	struct tcli c;
	struct tresp r;
	/* a client that leaves mid-request must not disturb the next one */
	for (int i = 0; i < 5; i++) {
		assert_int_equal(tcli_connect(&c, e->port), 0);
		assert_int_equal(tcli_sends(&c, "GET /sleep/200 HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
		tcli_close(&c);
		assert_int_equal(tcli_connect(&c, e->port), 0);
		assert_int_equal(tcli_sends(&c, "POST / HTTP/1.1\r\nHost: a\r\n"
						"Content-Length: 100\r\n\r\nabc"),
				 0);
		tcli_close(&c);
	}
	assert_int_equal(roundtrip(e, "GET /ok HTTP/1.1\r\nHost: a\r\n\r\n", &r), 0);
	assert_int_equal(r.status, 200);
	tresp_free(&r);
}

static void test_proxy_plugins(void **state)
{
	struct env *e = *state;
	struct tresp r;
	char buf[64];

	/* proxy-rewrite: regex_uri, method, host, headers; the service's
	 * response-rewrite applies too, its proxy-rewrite is overridden */
	assert_int_equal(roundtrip(e,
				   "GET /prw/abc/d/e?q=1 HTTP/1.1\r\nHost: a\r\nX-Del: x\r\n"
				   "X-Add: 0\r\n\r\n",
				   &r),
			 0);
	assert_int_equal(r.status, 200);
	assert_true(body_has(&r, "method=PUT\n"));
	assert_true(body_has(&r, "url=/new/d/e/abc?q=1\n"));
	assert_true(body_has(&r, "h:Host: rw.example\n"));
	assert_true(body_has(&r, "h:X-Set: ip-127.0.0.1\n"));
	assert_true(body_has(&r, "h:X-Add: 0\n"));
	assert_true(body_has(&r, "h:X-Add: 1\n"));
	assert_false(body_has(&r, "X-Del"));
	assert_string_equal(tresp_header(&r, "x-svc", buf, sizeof buf), "1");
	tresp_free(&r);
	/* uri with $var and a query of its own: client args appended with & */
	assert_int_equal(roundtrip(e, "GET /prw2?who=bob HTTP/1.1\r\nHost: a\r\n\r\n", &r), 0);
	assert_true(body_has(&r, "url=/fixed/bob?x=1&who=bob\n"));
	tresp_free(&r);
	/* plugin_config: merged under the route's own (route wins per plugin);
	 * global rules run on every routed request */
	assert_int_equal(roundtrip(e, "GET /pc/1 HTTP/1.1\r\nHost: a\r\n\r\n", &r), 0);
	assert_int_equal(r.status, 200);
	assert_true(body_has(&r, "h:X-PC-Req: 1\n"));
	assert_string_equal(tresp_header(&r, "x-route", buf, sizeof buf), "1");
	assert_null(tresp_header(&r, "x-pc", buf, sizeof buf));
	assert_string_equal(tresp_header(&r, "x-global", buf, sizeof buf), "1");
	tresp_free(&r);

	/* response-rewrite: status, body (length fixed up), headers */
	assert_int_equal(roundtrip(e, "GET /rrw/x HTTP/1.1\r\nHost: a\r\n\r\n", &r), 0);
	assert_int_equal(r.status, 201);
	assert_string_equal(r.body, "replaced\n");
	assert_string_equal(tresp_header(&r, "x-r", buf, sizeof buf), "yes");
	assert_null(tresp_header(&r, "x-upstream-port", buf, sizeof buf));
	assert_string_equal(tresp_header(&r, "content-length", buf, sizeof buf), "9");
	tresp_free(&r);
	/* ... only when its vars match */
	assert_int_equal(roundtrip(e, "GET /rrw/x?skip=1 HTTP/1.1\r\nHost: a\r\n\r\n", &r), 0);
	assert_int_equal(r.status, 200);
	assert_true(body_has(&r, "url=/rrw/x?skip=1"));
	tresp_free(&r);
}

static void test_proxy_slow_clients(void **state)
{
	struct env *e = *state;
	struct tcli c;
	struct tresp r;

	/* header block not finished in time: closed */
	assert_int_equal(tcli_connect(&c, e->port), 0);
	assert_int_equal(tcli_sends(&c, "GET / HTTP/1.1\r\nHost: a\r\n"), 0);
	assert_true(tcli_closed(&c));
	tcli_close(&c);
	/* a connection that never sends anything: closed */
	assert_int_equal(tcli_connect(&c, e->port), 0);
	assert_true(tcli_closed(&c));
	tcli_close(&c);
	/* body stalls: 408, then closed */
	assert_int_equal(tcli_connect(&c, e->port), 0);
	assert_int_equal(
	    tcli_sends(&c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc"), 0);
	assert_int_equal(tcli_read(&c, &r, false), 0);
	assert_int_equal(r.status, 408);
	tresp_free(&r);
	assert_true(tcli_closed(&c));
	tcli_close(&c);
	/* keep-alive idle: closed after the idle timeout */
	assert_int_equal(tcli_connect(&c, e->port), 0);
	assert_int_equal(tcli_sends(&c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	assert_int_equal(tcli_read(&c, &r, false), 0);
	assert_int_equal(r.status, 200);
	tresp_free(&r);
	assert_true(tcli_closed(&c));
	tcli_close(&c);
}

static void test_proxy_hot_swap(void **state)
{
	struct env *e = *state;
	struct kvset s = {0};
	struct tcli a;
	struct tresp r;

	/* a request in flight keeps its snapshot; new ones see the new one */
	assert_int_equal(tcli_connect(&a, e->port), 0);
	assert_int_equal(tcli_sends(&a, "GET /sleep/300 HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	usleep(50000);
	kv_add(&s, "/apisix/routes/1",
	       "{\"uri\":\"/only\",\"upstream\":{\"nodes\":{\"127.0.0.1:%d\":1}}}",
	       tup_port(e->up));
	gw_proxy_publish(e->p, compile(&s));
	kv_free(&s);
	usleep(20000);
	assert_int_equal(roundtrip(e, "GET /sleep/1 HTTP/1.1\r\nHost: a\r\n\r\n", &r), 0);
	assert_int_equal(r.status, 404);
	tresp_free(&r);
	assert_int_equal(tcli_read(&a, &r, false), 0);
	assert_int_equal(r.status, 200);
	assert_true(body_has(&r, "url=/sleep/300"));
	tresp_free(&r);
	tcli_close(&a);
	/* publish-to-effect: time from gw_proxy_publish to the first request
	 * answered by the new snapshot (fresh connections, so any worker) */
	double worst = 0, total = 0;
	for (int i = 0; i < 20; i++) {
		struct timespec t0, t1;
		char mark[16], want[16];
		kv_add(&s, "/apisix/routes/flip",
		       "{\"uri\":\"/flip\",\"upstream\":{\"nodes\":{\"127.0.0.1:%d\":1}},"
		       "\"plugins\":{\"response-rewrite\":{\"headers\":{\"X-Cfg\":\"%d\"}}}}",
		       tup_port(e->up), i);
		snprintf(want, sizeof want, "%d", i);
		gw_proxy_publish(e->p, compile(&s));
		kv_free(&s);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (bool seen = false; !seen;) {
			assert_int_equal(roundtrip(e, "GET /flip HTTP/1.1\r\nHost: a\r\n\r\n", &r),
					 0);
			seen = tresp_header(&r, "x-cfg", mark, sizeof mark) != NULL &&
			       strcmp(mark, want) == 0;
			tresp_free(&r);
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		double ms =
		    (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
		total += ms;
		worst = ms > worst ? ms : worst;
	}
	print_message("# publish to first answer from the new snapshot (incl. one request): "
		      "mean %.2f ms, max %.2f ms\n",
		      total / 20, worst);

	/* many swaps while requests run: every request gets an answer */
	for (int i = 0; i < 20; i++) {
		gw_proxy_publish(e->p, config_for(tup_port(e->up), 0, NULL));
		assert_int_equal(roundtrip(e, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n", &r), 0);
		assert_int_equal(r.status, 200);
		tresp_free(&r);
	}
}

struct load {
	struct env *e;
	int id;
	int ok, failed;
};

/* One client: keep-alive connection, a mix of GETs, POSTs with bodies and
 * pipelined pairs; reconnects when the server closes. */
static void *load_main(void *arg)
{
	struct load *l = arg;
	struct tcli c = {.fd = -1};
	struct tresp r;
	char req[512], want[64];
	bool connected = false;

	for (int i = 0; i < 60; i++) {
		if (!connected) {
			if (tcli_connect(&c, l->e->port) != 0) {
				l->failed++;
				continue;
			}
			connected = true;
		}
		int kind = (i + l->id) % 3, n = kind == 2 ? 2 : 1;
		if (kind == 0) {
			snprintf(req, sizeof req, "GET /load/%d/%d HTTP/1.1\r\nHost: a\r\n\r\n",
				 l->id, i);
		} else if (kind == 1) {
			snprintf(
			    req, sizeof req,
			    "POST /load/%d/%d HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n"
			    "hello world",
			    l->id, i);
		} else {
			snprintf(req, sizeof req,
				 "GET /load/%d/%d HTTP/1.1\r\nHost: a\r\n\r\n"
				 "GET /load/%d/%d HTTP/1.1\r\nHost: a\r\n\r\n",
				 l->id, i, l->id, i);
		}
		if (tcli_sends(&c, req) != 0) {
			l->failed++;
			tcli_close(&c);
			connected = false;
			continue;
		}
		snprintf(want, sizeof want, "url=/load/%d/%d\n", l->id, i);
		for (int k = 0; k < n; k++) {
			if (tcli_read(&c, &r, false) == 0 && r.status == 200 &&
			    body_has(&r, want)) {
				l->ok++;
			} else {
				l->failed++;
			}
			tresp_free(&r);
		}
		if (r.closed) {
			tcli_close(&c);
			connected = false;
		}
	}
	if (connected) {
		tcli_close(&c);
	}
	return NULL;
}

/* Config changes under load: every request gets its answer. */
static void test_proxy_load_with_swaps(void **state)
{
	enum { N = 8 };
	struct env *e = *state;
	struct load l[N];
	pthread_t t[N];

	for (int i = 0; i < N; i++) {
		l[i] = (struct load){.e = e, .id = i};
		assert_int_equal(pthread_create(&t[i], NULL, load_main, &l[i]), 0);
	}
	for (int i = 0; i < 30; i++) {
		gw_proxy_publish(e->p, config_for(tup_port(e->up), tup_port(e->up2), NULL));
		usleep(10000);
	}
	int ok = 0, failed = 0;
	for (int i = 0; i < N; i++) {
		pthread_join(t[i], NULL);
		ok += l[i].ok;
		failed += l[i].failed;
	}
	assert_int_equal(failed, 0);
	assert_int_equal(ok, N * 80);
}

static void test_proxy_websocket(void **state)
{
	struct env *e = *state;
	struct tcli c;
	struct tresp r;
	char buf[64] = {0};
	ssize_t n = 0;

	assert_int_equal(tcli_connect(&c, e->port), 0);
	assert_int_equal(tcli_sends(&c, "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
					"Connection: Upgrade\r\nSec-WebSocket-Key: x\r\n"
					"Sec-WebSocket-Version: 13\r\n\r\n"),
			 0);
	assert_int_equal(tcli_read(&c, &r, false), 0);
	assert_int_equal(r.status, 101);
	tresp_free(&r);
	assert_int_equal(tcli_sends(&c, "frame-bytes"), 0);
	while (n < 11) {
		ssize_t k = recv(c.fd, buf + n, sizeof buf - 1 - (size_t)n, 0);
		assert_true(k > 0);
		n += k;
	}
	assert_string_equal(buf, "frame-bytes");
	/* the upstream's last bytes before it closes reach the client, then EOF */
	assert_int_equal(tcli_sends(&c, "bye!"), 0);
	memset(buf, 0, sizeof buf);
	n = 0;
	for (;;) {
		ssize_t k = recv(c.fd, buf + n, sizeof buf - 1 - (size_t)n, 0);
		assert_true(k >= 0);
		if (k == 0) {
			break;
		}
		n += k;
	}
	assert_string_equal(buf, "closing");
	tcli_close(&c);
	/* without enable_websocket the Upgrade header is dropped: plain HTTP */
	assert_int_equal(roundtrip(e,
				   "GET /ws2 HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
				   "Connection: Upgrade\r\n\r\n",
				   &r),
			 0);
	assert_int_equal(r.status, 200);
	assert_false(body_has(&r, "Upgrade"));
	tresp_free(&r);
}

/* IPv4 and IPv6 listeners side by side; a v6 client is seen as "::1". */
static void test_proxy_ipv6(void **state)
{
	struct env *e = *state;
	struct gw_addr addrs[2];
	const char *why;
	struct gw_proxy_opts o = {0};
	struct gw_proxy *p2 = NULL;
	struct sockaddr_in6 a6 = {.sin6_family = AF_INET6};
	struct tcli c;
	struct tresp r;
	struct timeval tv = {.tv_sec = 5};

	assert_int_equal(gw_addr_parse("127.0.0.1:1", &addrs[0], &why), 0);
	assert_int_equal(gw_addr_parse("[::1]:1", &addrs[1], &why), 0);
	((struct sockaddr_in *)&addrs[0].ss)->sin_port = 0;
	((struct sockaddr_in6 *)&addrs[1].ss)->sin6_port = 0;
	o.listen = addrs;
	o.n_listen = 2;
	o.workers = 2;
	o.config = config_for(tup_port(e->up), 0, NULL);
	assert_int_equal(gw_proxy_start(&o, &p2), 0);
	while (!gw_proxy_ready(p2)) {
		usleep(2000);
	}
	memset(&c, 0, sizeof c);
	c.fd = socket(AF_INET6, SOCK_STREAM, 0);
	assert_true(c.fd >= 0);
	setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	inet_pton(AF_INET6, "::1", &a6.sin6_addr);
	a6.sin6_port = htons((uint16_t)gw_proxy_port(p2, 1));
	assert_int_equal(connect(c.fd, (struct sockaddr *)&a6, sizeof a6), 0);
	assert_int_equal(tcli_sends(&c, "GET /v6 HTTP/1.1\r\nHost: [::1]:80\r\n\r\n"), 0);
	assert_int_equal(tcli_read(&c, &r, false), 0);
	assert_int_equal(r.status, 200);
	assert_true(body_has(&r, "h:X-Real-IP: ::1\n"));
	assert_true(body_has(&r, "h:X-Forwarded-Host: [::1]\n"));
	tresp_free(&r);
	tcli_close(&c);
	/* and the IPv4 listener of the same proxy */
	assert_int_equal(tcli_connect(&c, gw_proxy_port(p2, 0)), 0);
	assert_int_equal(tcli_sends(&c, "GET /v4 HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	assert_int_equal(tcli_read(&c, &r, false), 0);
	assert_int_equal(r.status, 200);
	tresp_free(&r);
	tcli_close(&c);
	gw_proxy_stop(p2);
}

/* A port someone else listens on (even with SO_REUSEPORT) is refused. */
static void test_proxy_port_in_use(void **state)
{
	struct env *e = *state;
	struct gw_addr addr;
	const char *why;
	struct gw_proxy_opts o = {0};
	struct gw_proxy *p2 = NULL;
	char text[32];
	snprintf(text, sizeof text, "127.0.0.1:%d", e->port);
	assert_int_equal(gw_addr_parse(text, &addr, &why), 0);
	o.listen = &addr;
	o.n_listen = 1;
	o.workers = 1;
	assert_int_equal(gw_proxy_start(&o, &p2), GW_EADDR);
	assert_null(p2);
}

static void test_proxy_stop_drains(void **state)
{
	struct env *e = *state;
	struct tcli c, idle;
	struct tresp r;

	assert_int_equal(tcli_connect(&idle, e->port), 0);
	assert_int_equal(tcli_connect(&c, e->port), 0);
	assert_int_equal(tcli_sends(&c, "GET /sleep/300 HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	usleep(50000);
	gw_proxy_stop(e->p); /* waits for the request in flight */
	e->p = NULL;
	assert_int_equal(tcli_read(&c, &r, false), 0);
	assert_int_equal(r.status, 200);
	tresp_free(&r);
	assert_true(tcli_closed(&c));
	assert_true(tcli_closed(&idle));
	tcli_close(&c);
	tcli_close(&idle);
	assert_int_not_equal(tcli_connect(&c, e->port), 0);
}

int main(void)
{
	const struct CMUnitTest e2e[] = {
	    cmocka_unit_test_setup_teardown(test_proxy_upstream_errors, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_proxy_client_abort, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_proxy_garbage, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_proxy_plugins, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_proxy_slow_clients, env_setup_short, env_teardown),
	    cmocka_unit_test_setup_teardown(test_proxy_hot_swap, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_proxy_load_with_swaps, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_proxy_websocket, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_proxy_ipv6, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_proxy_port_in_use, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_proxy_stop_drains, env_setup, env_teardown),
	};
	gw_log_set_level(getenv("GW_TEST_LOG") ? GW_LOG_DEBUG : GW_LOG_ERROR);
	return cmocka_run_group_tests_name("proxy_live", e2e, NULL, NULL);
}
