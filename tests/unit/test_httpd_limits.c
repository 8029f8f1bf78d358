/* test_httpd_limits.c: lib/httpd's limits against real loopback sockets —
 * pipelined requests wait while the answers before them are unread (bounded
 * output per connection), a client that reads nothing of a queued answer is
 * closed, and the connection cap keeps its reserve for loopback — plus
 * lib/connlimit's bookkeeping. Clients run in a thread; the server's loop
 * runs in the test thread until the client is done. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "lib/addr.h"
#include "lib/connlimit.h"
#include "lib/httpd.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BIG (4u << 20) /* one answer: 4 MiB */

struct fix {
	uv_loop_t loop;
	uv_async_t done;
	struct gw_httpd *srv;
	int port;
	int handled; /* requests the handler saw */
	void (*client)(struct fix *f);
	/* client results */
	size_t got;         /* bytes read */
	int handled_seen;   /* f->handled while the client held back */
	bool outsider_ok;   /* extra: an outsider's request was answered */
	bool loopback_ok;   /* a loopback request was answered */
	int outsiders_open; /* outsider connections the server kept */
};

static char *big_body;

static void handler(struct gw_http_req *req, void *data)
{
	struct fix *f = data;
	__atomic_add_fetch(&f->handled, 1, __ATOMIC_SEQ_CST);
	if (strcmp(req->path, "/big") == 0) {
		gw_http_respond(req, 200, "text/plain", "", big_body, BIG);
		return;
	}
	gw_http_respond(req, 200, "text/plain", "", "ok\n", 3);
}

static int dial(const char *ip, int port)
{
	struct sockaddr_in sa, me;
	struct timeval tv = {.tv_sec = 5, .tv_usec = 0};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	memset(&me, 0, sizeof me);
	me.sin_family = AF_INET;
	inet_pton(AF_INET, ip, &me.sin_addr);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	if (bind(fd, (struct sockaddr *)&me, sizeof me) != 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t k = write(fd, p, n);
		if (k <= 0) {
			return;
		}
		p += k;
		n -= (size_t)k;
	}
}

/* Bytes read until EOF, timeout or @max. */
static size_t drain(int fd, size_t max)
{
	static char buf[65536];
	size_t got = 0;
	ssize_t k;
	while (got < max && (k = read(fd, buf, sizeof buf)) > 0) {
		got += (size_t)k;
	}
	return got;
}

static void *client_main(void *arg)
{
	struct fix *f = arg;
	f->client(f);
	uv_async_send(&f->done);
	return NULL;
}

static void done_cb(uv_async_t *a)
{
	struct fix *f = a->data;
	gw_httpd_stop(f->srv, NULL, NULL);
	uv_close((uv_handle_t *)&f->done, NULL);
}

static void run(struct fix *f, const struct gw_httpd_opts *opts, void (*client)(struct fix *))
{
	struct gw_addr addr;
	const char *why;
	pthread_t th;

	memset(f, 0, sizeof *f);
	f->client = client;
	assert_int_equal(uv_loop_init(&f->loop), 0);
	uv_async_init(&f->loop, &f->done, done_cb);
	f->done.data = f;
	assert_int_equal(gw_addr_parse("127.0.0.1:1", &addr, &why), 0);
	((struct sockaddr_in *)&addr.ss)->sin_port = 0;
	assert_int_equal(gw_httpd_start(&f->loop, &addr, opts, handler, f, &f->srv), 0);
	f->port = gw_httpd_port(f->srv);
	assert_int_equal(pthread_create(&th, NULL, client_main, f), 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	pthread_join(th, NULL);
	assert_int_equal(uv_loop_close(&f->loop), 0);
}

#define N_PIPE 40

/* N_PIPE GET /big, the last one with Connection: close. */
static void pipeline_requests(int fd)
{
	static const char one[] = "GET /big HTTP/1.1\r\nHost: x\r\n\r\n";
	static const char last[] = "GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	char reqs[N_PIPE * sizeof last];
	size_t n = 0;
	for (int i = 0; i < N_PIPE - 1; i++) {
		memcpy(reqs + n, one, sizeof one - 1);
		n += sizeof one - 1;
	}
	memcpy(reqs + n, last, sizeof last - 1);
	send_all(fd, reqs, n + sizeof last - 1);
}

/* Pipeline N_PIPE large GETs, read nothing for a while, then read all. */
static void client_flood_then_read(struct fix *f)
{
	int fd = dial("127.0.0.1", f->port);
	assert_true(fd >= 0);
	pipeline_requests(fd);
	usleep(500 * 1000);
	f->handled_seen = __atomic_load_n(&f->handled, __ATOMIC_SEQ_CST);
	f->got = drain(fd, (size_t)N_PIPE * (BIG + 200));
	close(fd);
}

static void test_pipelined_answers_wait_for_reader(void **state)
{
	struct fix f;
	(void)state;
	run(&f, NULL, client_flood_then_read);
	/* Without the bound every request would be answered (and buffered)
	 * at once; with it at most the answers that fit the bound plus one. */
	assert_true(f.handled_seen >= 1);
	assert_true(f.handled_seen <= 2);
	/* Reading resumes the pipeline: every answer arrives, in full. */
	assert_int_equal(f.handled, N_PIPE);
	assert_true(f.got >= (size_t)N_PIPE * BIG);
}

/* Pipeline, never read: the server closes the connection after the write
 * timeout, so what can be read afterwards is only what the kernel holds. */
static void client_never_reads(struct fix *f)
{
	int fd = dial("127.0.0.1", f->port);
	assert_true(fd >= 0);
	pipeline_requests(fd);
	usleep(1500 * 1000);
	f->handled_seen = __atomic_load_n(&f->handled, __ATOMIC_SEQ_CST);
	f->got = drain(fd, (size_t)N_PIPE * (BIG + 200));
	close(fd);
}

static void test_stalled_reader_closed(void **state)
{
	struct fix f;
	struct gw_httpd_opts o = {.write_timeout_ms = 200, .idle_timeout_ms = 20000};
	(void)state;
	run(&f, &o, client_never_reads);
	assert_true(f.handled_seen <= 2);
	assert_true(f.got < 2 * (size_t)BIG);
}

/* Fill the cap from 127.0.0.2 (an outsider here), then talk from 127.0.0.1. */
static void client_cap(struct fix *f)
{
	static const char get[] = "GET /small HTTP/1.1\r\nHost: x\r\n\r\n";
	int fds[8];
	char buf[512];
	int fd;
	ssize_t k;

	for (int i = 0; i < 8; i++) {
		fds[i] = dial("127.0.0.2", f->port);
		assert_true(fds[i] >= 0);
	}
	usleep(200 * 1000);
	for (int i = 0; i < 8; i++) {
		send_all(fds[i], get, sizeof get - 1);
		k = read(fds[i], buf, sizeof buf);
		if (k > 0 && memcmp(buf, "HTTP/1.1 200", 12) == 0) {
			f->outsiders_open++;
		}
	}
	fd = dial("127.0.0.1", f->port);
	assert_true(fd >= 0);
	send_all(fd, get, sizeof get - 1);
	k = read(fd, buf, sizeof buf);
	f->loopback_ok = k > 0 && memcmp(buf, "HTTP/1.1 200", 12) == 0;
	close(fd);
	for (int i = 0; i < 8; i++) {
		close(fds[i]);
	}
}

static void test_cap_keeps_reserve_for_loopback(void **state)
{
	struct fix f;
	struct gw_httpd_opts o = {.max_conns = 6, .reserve_conns = 2};
	(void)state;
	run(&f, &o, client_cap);
	assert_int_equal(f.outsiders_open, 4);
	assert_true(f.loopback_ok);
}

static bool reserve_dot3(const struct sockaddr *peer, void *data)
{
	(void)data;
	return gw_connlimit_same_host(peer, "127.0.0.3:2380");
}

static void test_connlimit(void **state)
{
	struct gw_connlimit l;
	struct sockaddr_in a2, a3, lo;
	struct sockaddr_in6 lo6;
	(void)state;
	memset(&a2, 0, sizeof a2);
	a2.sin_family = AF_INET;
	a3 = lo = a2;
	inet_pton(AF_INET, "127.0.0.2", &a2.sin_addr);
	inet_pton(AF_INET, "127.0.0.3", &a3.sin_addr);
	inet_pton(AF_INET, "127.0.0.1", &lo.sin_addr);
	memset(&lo6, 0, sizeof lo6);
	lo6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &lo6.sin6_addr);

	gw_connlimit_init(&l, "test", 4, 2);
	l.reserved = reserve_dot3;
	assert_true(gw_connlimit_admit(&l, (struct sockaddr *)&a2, 0));
	assert_true(gw_connlimit_admit(&l, (struct sockaddr *)&a2, 0));
	assert_false(gw_connlimit_admit(&l, (struct sockaddr *)&a2, 0));
	assert_false(gw_connlimit_admit(&l, NULL, 0));
	assert_true(gw_connlimit_admit(&l, (struct sockaddr *)&a3, 0));
	assert_true(gw_connlimit_admit(&l, (struct sockaddr *)&lo6, 0));
	assert_false(gw_connlimit_admit(&l, (struct sockaddr *)&lo, 0));
	assert_int_equal(l.refused, 3);
	gw_connlimit_release(&l);
	assert_true(gw_connlimit_admit(&l, (struct sockaddr *)&lo, 0));
	assert_int_equal(l.n, 4);

	assert_true(gw_connlimit_same_host((struct sockaddr *)&lo6, "[::ffff:127.0.0.1]:1"));
	assert_false(gw_connlimit_same_host((struct sockaddr *)&a2, "127.0.0.3:1"));
	assert_false(gw_connlimit_same_host((struct sockaddr *)&a2, "node2:2380"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_connlimit),
	    cmocka_unit_test(test_pipelined_answers_wait_for_reader),
	    cmocka_unit_test(test_stalled_reader_closed),
	    cmocka_unit_test(test_cap_keeps_reserve_for_loopback),
	};
	int rv;
	big_body = malloc(BIG);
	memset(big_body, 'x', BIG);
	rv = cmocka_run_group_tests(tests, NULL, NULL);
	free(big_body);
	return rv;
}
