/* test_proxy_util.c: see test_proxy_util.h. */
#include "config.h"

#include "tests/unit/test_proxy_util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define TUP_MAX_CONNS 512

struct tup {
	int lfd;
	int port;
	int mode;
	atomic_bool stop;
	atomic_int conns;
	atomic_int reqs;
	pthread_t acceptor;
	pthread_mutex_t lock;
	int fds[TUP_MAX_CONNS];
	pthread_t threads[TUP_MAX_CONNS];
	int n;
};

struct tconn {
	struct tup *t;
	int fd;
	http_parser hp;
	char url[8192];
	size_t url_len;
	char hdrs[16384];
	size_t hdrs_len;
	bool in_value;
	uint64_t body_len;
	uint32_t sum;
	bool close;
	bool ws; /* upgraded: echo raw bytes */
};

uint32_t tup_sum(const void *p, size_t n, uint32_t prev)
{
	const unsigned char *s = p;
	uint32_t a = prev & 0xffff, b = prev >> 16;
	if (prev == 0) {
		a = 1;
	}
	for (size_t i = 0; i < n; i++) {
		a = (a + s[i]) % 65521;
		b = (b + a) % 65521;
	}
	return (b << 16) | a;
}

static int write_all(int fd, const void *p, size_t n)
{
	const char *s = p;
	while (n > 0) {
		ssize_t k = send(fd, s, n, MSG_NOSIGNAL);
		if (k < 0) {
			if (errno == EINTR) {
				continue;
			}
			return -1;
		}
		s += k;
		n -= (size_t)k;
	}
	return 0;
}

static int t_on_begin(http_parser *hp)
{
	struct tconn *c = hp->data;
	c->url_len = 0;
	c->hdrs_len = 0;
	c->in_value = false;
	c->body_len = 0;
	c->sum = 0;
	return 0;
}

static int t_on_url(http_parser *hp, const char *at, size_t n)
{
	struct tconn *c = hp->data;
	if (c->url_len + n < sizeof c->url) {
		memcpy(c->url + c->url_len, at, n);
		c->url_len += n;
		c->url[c->url_len] = '\0';
	}
	return 0;
}

static void hdr_append(struct tconn *c, const char *s, size_t n)
{
	if (c->hdrs_len + n + 1 < sizeof c->hdrs) {
		memcpy(c->hdrs + c->hdrs_len, s, n);
		c->hdrs_len += n;
		c->hdrs[c->hdrs_len] = '\0';
	}
}

static int t_on_field(http_parser *hp, const char *at, size_t n)
{
	struct tconn *c = hp->data;
	if (c->in_value || c->hdrs_len == 0) {
		hdr_append(c, c->hdrs_len ? "\nh:" : "h:", c->hdrs_len ? 3 : 2);
	}
	c->in_value = false;
	hdr_append(c, at, n);
	return 0;
}

static int t_on_value(http_parser *hp, const char *at, size_t n)
{
	struct tconn *c = hp->data;
	if (!c->in_value) {
		hdr_append(c, ": ", 2);
	}
	c->in_value = true;
	hdr_append(c, at, n);
	return 0;
}

static int t_on_body(http_parser *hp, const char *at, size_t n)
{
	struct tconn *c = hp->data;
	c->body_len += n;
	c->sum = tup_sum(at, n, c->sum);
	if (strncmp(c->url, "/slow", 5) == 0) {
		usleep(300); /* a slow reader: the proxy must hold back the client */
	}
	return 0;
}

static int t_on_complete(http_parser *hp)
{
	struct tconn *c = hp->data;
	char head[512], body[20000];
	int port = c->t->port, n, status = 200;
	const char *u = c->url;

	atomic_fetch_add(&c->t->reqs, 1);
	if (c->t->mode == 503) {
		n = snprintf(body, sizeof body, "busy %d", port);
		n = snprintf(head, sizeof head,
			     "HTTP/1.1 503 Service Unavailable\r\nContent-Length: %d\r\n\r\n%s", n,
			     body);
		return write_all(c->fd, head, (size_t)n);
	}
	if (strncmp(u, "/status/", 8) == 0) {
		status = atoi(u + 8);
		n = snprintf(body, sizeof body, "status %d from %d", status, port);
		n = snprintf(head, sizeof head, "HTTP/1.1 %d X\r\nContent-Length: %d\r\n\r\n%s",
			     status, n, body);
		return write_all(c->fd, head, (size_t)n);
	}
	if (strncmp(u, "/bodyless/", 10) == 0) {
		/* a broken upstream: a bodiless status followed by body bytes */
		status = atoi(u + 10);
		n = snprintf(head, sizeof head,
			     "HTTP/1.1 %d X\r\nTransfer-Encoding: chunked\r\n\r\n"
			     "9\r\nSMUGGLED!\r\n0\r\n\r\n",
			     status);
		return write_all(c->fd, head, (size_t)n);
	}
	if (strcmp(u, "/ws") == 0 && hp->upgrade) {
		static const char r[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
					"Connection: Upgrade\r\n\r\n";
		c->ws = true;
		return write_all(c->fd, r, sizeof r - 1);
	}
	if (strcmp(u, "/http10") == 0) {
		static const char r[] =
		    "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello from 1.0";
		write_all(c->fd, r, sizeof r - 1);
		c->close = true;
		return 0;
	}
	if (strcmp(u, "/chunked") == 0) {
		static const char r[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
					"5\r\npart1\r\n5\r\npart2\r\n5\r\npart3\r\n0\r\n\r\n";
		return write_all(c->fd, r, sizeof r - 1);
	}
	if (strncmp(u, "/big/", 5) == 0) {
		size_t total = strtoull(u + 5, NULL, 10), sent = 0;
		char chunk[65536];
		for (size_t i = 0; i < sizeof chunk; i++) {
			chunk[i] = (char)('a' + i % 26);
		}
		n = snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n",
			     total);
		if (write_all(c->fd, head, (size_t)n) != 0) {
			return -1;
		}
		while (sent < total) {
			size_t k = total - sent < sizeof chunk ? total - sent : sizeof chunk;
			if (write_all(c->fd, chunk, k) != 0) {
				return -1;
			}
			sent += k;
		}
		return 0;
	}
	if (strncmp(u, "/sleep/", 7) == 0) {
		usleep((useconds_t)atoi(u + 7) * 1000);
	}
	n = snprintf(body, sizeof body,
		     "port=%d\nmethod=%s\nurl=%s\nbody_len=%llu\nbody_sum=%u\n%s\n", port,
		     http_method_str((enum http_method)hp->method), c->url,
		     (unsigned long long)c->body_len, c->sum, c->hdrs);
	if (n < 0 || (size_t)n >= sizeof body) {
		n = (int)sizeof body - 1;
	}
	int hn = snprintf(head, sizeof head,
			  "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Upstream-Port: %d\r\n"
			  "Content-Length: %d\r\n\r\n",
			  port, n);
	if (write_all(c->fd, head, (size_t)hn) != 0) {
		return -1;
	}
	if (hp->method != HTTP_HEAD && write_all(c->fd, body, (size_t)n) != 0) {
		return -1;
	}
	return 0;
}

static const http_parser_settings t_settings = {
    .on_message_begin = t_on_begin,
    .on_url = t_on_url,
    .on_header_field = t_on_field,
    .on_header_value = t_on_value,
    .on_body = t_on_body,
    .on_message_complete = t_on_complete,
};

static void *conn_main(void *arg)
{
	struct tconn *c = arg;
	char buf[65536];

	http_parser_init(&c->hp, HTTP_REQUEST);
	c->hp.data = c;
	while (!atomic_load(&c->t->stop) && !c->close) {
		ssize_t n = recv(c->fd, buf, sizeof buf, 0);
		if (n <= 0) {
			break;
		}
		size_t done = http_parser_execute(&c->hp, &t_settings, buf, (size_t)n);
		if (c->ws) {
			/* echo what followed the upgrade request, then raw bytes */
			if (done < (size_t)n &&
			    write_all(c->fd, buf + done, (size_t)n - done) != 0) {
				break;
			}
			while ((n = recv(c->fd, buf, sizeof buf, 0)) > 0) {
				if (n == 4 && memcmp(buf, "bye!", 4) == 0) {
					/* answer and close at once: the proxy must flush it */
					write_all(c->fd, "closing", 7);
					break;
				}
				if (write_all(c->fd, buf, (size_t)n) != 0) {
					break;
				}
			}
			break;
		}
		if (HTTP_PARSER_ERRNO(&c->hp) != HPE_OK || done != (size_t)n) {
			break;
		}
	}
	shutdown(c->fd, SHUT_RDWR);
	free(c);
	return NULL;
}

static void *accept_main(void *arg)
{
	struct tup *t = arg;
	while (!atomic_load(&t->stop)) {
		struct pollfd pfd = {.fd = t->lfd, .events = POLLIN};
		if (poll(&pfd, 1, 50) <= 0) {
			continue;
		}
		int fd = accept(t->lfd, NULL, NULL);
		if (fd < 0) {
			continue;
		}
		pthread_mutex_lock(&t->lock);
		if (t->n == TUP_MAX_CONNS) {
			pthread_mutex_unlock(&t->lock);
			close(fd);
			continue;
		}
		struct tconn *c = calloc(1, sizeof *c);
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		c->t = t;
		c->fd = fd;
		t->fds[t->n] = fd;
		atomic_fetch_add(&t->conns, 1);
		pthread_create(&t->threads[t->n], NULL, conn_main, c);
		t->n++;
		pthread_mutex_unlock(&t->lock);
	}
	return NULL;
}

struct tup *tup_start(int mode)
{
	struct tup *t = calloc(1, sizeof *t);
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof a;
	int one = 1;

	t->mode = mode;
	t->lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(t->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(t->lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(t->lfd, 128) != 0) {
		close(t->lfd);
		free(t);
		return NULL;
	}
	getsockname(t->lfd, (struct sockaddr *)&a, &len);
	t->port = ntohs(a.sin_port);
	pthread_mutex_init(&t->lock, NULL);
	pthread_create(&t->acceptor, NULL, accept_main, t);
	return t;
}

int tup_port(const struct tup *t)
{
	return t->port;
}

int tup_connections(const struct tup *t)
{
	return atomic_load(&t->conns);
}

int tup_requests(const struct tup *t)
{
	return atomic_load(&t->reqs);
}

void tup_stop(struct tup *t)
{
	atomic_store(&t->stop, true);
	pthread_join(t->acceptor, NULL);
	pthread_mutex_lock(&t->lock);
	for (int i = 0; i < t->n; i++) {
		shutdown(t->fds[i], SHUT_RDWR);
	}
	pthread_mutex_unlock(&t->lock);
	for (int i = 0; i < t->n; i++) {
		pthread_join(t->threads[i], NULL);
		close(t->fds[i]);
	}
	close(t->lfd);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

/* ---- client */

int tcli_connect(struct tcli *c, int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct timeval tv = {.tv_sec = 5};
	int one = 1;
	memset(c, 0, sizeof *c);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (c->fd < 0) {
		return -1;
	}
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	return 0;
}

int tcli_send(struct tcli *c, const void *p, size_t n)
{
	return write_all(c->fd, p, n);
}

int tcli_sends(struct tcli *c, const char *s)
{
	return tcli_send(c, s, strlen(s));
}

struct rstate {
	struct tresp *r;
	bool in_value;
	bool done;
	bool head;
	size_t body_cap;
};

static int r_on_field(http_parser *hp, const char *at, size_t n)
{
	struct rstate *s = hp->data;
	size_t l = strlen(s->r->headers);
	if (s->in_value && l + 1 < sizeof s->r->headers) {
		s->r->headers[l++] = '\n';
		s->r->headers[l] = '\0';
	}
	s->in_value = false;
	for (size_t i = 0; i < n && l + 1 < sizeof s->r->headers; i++) {
		s->r->headers[l++] = (char)tolower((unsigned char)at[i]);
	}
	s->r->headers[l] = '\0';
	return 0;
}

static int r_on_value(http_parser *hp, const char *at, size_t n)
{
	struct rstate *s = hp->data;
	size_t l = strlen(s->r->headers);
	if (!s->in_value && l + 2 < sizeof s->r->headers) {
		s->r->headers[l++] = ':';
		s->r->headers[l++] = ' ';
	}
	s->in_value = true;
	for (size_t i = 0; i < n && l + 1 < sizeof s->r->headers; i++) {
		s->r->headers[l++] = at[i];
	}
	s->r->headers[l] = '\0';
	return 0;
}

static int r_on_headers(http_parser *hp)
{
	struct rstate *s = hp->data;
	size_t l = strlen(s->r->headers);
	if (l + 1 < sizeof s->r->headers) {
		s->r->headers[l++] = '\n';
		s->r->headers[l] = '\0';
	}
	s->r->status = hp->status_code;
	s->r->chunked = (hp->flags & F_CHUNKED) != 0;
	s->r->http_minor = hp->http_minor;
	return s->head ? 1 : 0;
}

static int r_on_body(http_parser *hp, const char *at, size_t n)
{
	struct rstate *s = hp->data;
	struct tresp *r = s->r;
	if (r->body_len + n + 1 > s->body_cap) {
		size_t cap = (r->body_len + n + 1) * 2;
		r->body = realloc(r->body, cap);
		s->body_cap = cap;
	}
	memcpy(r->body + r->body_len, at, n);
	r->body_len += n;
	r->body[r->body_len] = '\0';
	return 0;
}

static int r_on_complete(http_parser *hp)
{
	struct rstate *s = hp->data;
	if (s->r->status >= 100 && s->r->status < 200 && s->r->status != 101) {
		s->r->headers[0] = '\0';
		return 0; /* interim */
	}
	s->done = true;
	http_parser_pause(hp, 1);
	return 0;
}

static const http_parser_settings r_settings = {
    .on_header_field = r_on_field,
    .on_header_value = r_on_value,
    .on_headers_complete = r_on_headers,
    .on_body = r_on_body,
    .on_message_complete = r_on_complete,
};

int tcli_read(struct tcli *c, struct tresp *r, bool head)
{
	http_parser hp;
	struct rstate s = {.r = r, .head = head};
	char buf[65536];

	memset(r, 0, sizeof *r);
	r->body = calloc(1, 1);
	s.body_cap = 1;
	http_parser_init(&hp, HTTP_RESPONSE);
	hp.data = &s;
	for (;;) {
		if (c->len > 0) {
			size_t done = http_parser_execute(&hp, &r_settings, c->buf, c->len);
			if (HTTP_PARSER_ERRNO(&hp) != HPE_OK &&
			    HTTP_PARSER_ERRNO(&hp) != HPE_PAUSED) {
				return -1;
			}
			memmove(c->buf, c->buf + done, c->len - done);
			c->len -= done;
			if (s.done) {
				return 0;
			}
		}
		ssize_t n = recv(c->fd, buf, sizeof buf, 0);
		if (n < 0) {
			return -1;
		}
		if (n == 0) {
			r->closed = true;
			http_parser_execute(&hp, &r_settings, NULL, 0);
			return s.done ? 0 : -1;
		}
		if (c->len + (size_t)n > c->cap) {
			c->cap = (c->len + (size_t)n) * 2;
			c->buf = realloc(c->buf, c->cap);
		}
		memcpy(c->buf + c->len, buf, (size_t)n);
		c->len += (size_t)n;
	}
}

bool tcli_closed(struct tcli *c)
{
	char b[4096];
	struct timeval tv = {.tv_sec = 3};
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	if (c->len > 0) {
		return false;
	}
	for (;;) {
		ssize_t n = recv(c->fd, b, sizeof b, 0);
		if (n == 0 || (n < 0 && errno == ECONNRESET)) {
			return true;
		}
		if (n < 0) {
			return false;
		}
		/* Data after the response: not closed cleanly. */
		return false;
	}
}

void tcli_close(struct tcli *c)
{
	if (c->fd >= 0) {
		close(c->fd);
	}
	free(c->buf);
	memset(c, 0, sizeof *c);
	c->fd = -1;
}

void tresp_free(struct tresp *r)
{
	free(r->body);
	r->body = NULL;
}

const char *tresp_header(const struct tresp *r, const char *name, char *buf, size_t cap)
{
	size_t nl = strlen(name);
	const char *p = r->headers;
	while (*p) {
		const char *eol = strchr(p, '\n');
		if (eol == NULL) {
			eol = p + strlen(p);
		}
		if ((size_t)(eol - p) > nl + 1 && strncmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 2;
			snprintf(buf, cap, "%.*s", (int)(eol - v), v);
			return buf;
		}
		p = *eol ? eol + 1 : eol;
	}
	return NULL;
}
