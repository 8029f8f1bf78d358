/* test_proxy_util.h: a real upstream server and a blocking HTTP client for
 * the proxy tests.
 *
 * The upstream ("tup") listens on 127.0.0.1 (ephemeral port), serves every
 * connection on its own thread and answers by path:
 *   /status/N   status N, body "status N from PORT"
 *   /sleep/MS   sleeps MS milliseconds, then the echo answer
 *   /http10     an HTTP/1.0 response without length, then close
 *   /chunked    a chunked response "part1part2part3"
 *   /bodyless/N status N (204, 304, 1xx) with a chunked body all the same
 *   /big/N      N bytes of a repeating pattern, with Content-Length
 *   anything    the echo answer: lines "port=", "method=", "url=",
 *               "body_len=", "body_sum=", then "h:<name>: <value>" per header.
 * mode 503: every request gets 503. Counters of connections and requests
 * are atomics. tup_stop closes everything and joins every thread. */
#ifndef TEST_PROXY_UTIL_H
#define TEST_PROXY_UTIL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tup;

struct tup *tup_start(int mode);
int tup_port(const struct tup *t);
int tup_connections(const struct tup *t);
int tup_requests(const struct tup *t);
void tup_stop(struct tup *t);

/* Adler-32 style checksum used by the echo answer's body_sum. */
uint32_t tup_sum(const void *p, size_t n, uint32_t prev);

/* Blocking client. */
struct tcli {
	int fd;
	char *buf; /* bytes read but not yet consumed */
	size_t len, cap;
};
struct tresp {
	int status;
	char headers[8192]; /* "name: value\n" lines, names lower-cased */
	char *body;         /* malloc'd, NUL-terminated */
	size_t body_len;
	bool chunked;
	bool closed; /* the connection was closed after it */
	int http_minor;
};

int tcli_connect(struct tcli *c, int port);
int tcli_send(struct tcli *c, const void *p, size_t n);
int tcli_sends(struct tcli *c, const char *s);
/* Read one response; @head: it answers a HEAD request. 0 or -1. */
int tcli_read(struct tcli *c, struct tresp *r, bool head);
/* True when the peer closes the connection within 3 s with no more data. */
bool tcli_closed(struct tcli *c);
void tcli_close(struct tcli *c);
void tresp_free(struct tresp *r);
/* Value of header @name (lower-case) in @r, copied to @buf, or NULL. */
const char *tresp_header(const struct tresp *r, const char *name, char *buf, size_t cap);

#endif
