/* httpd.c: the control-plane HTTP/1.1 server (see httpd.h).
 *
 * Each connection owns one http_parser. Bytes read are appended to conn->in
 * and parsed from there; when a message is complete the parser is paused and
 * the request is handed to the handler. Until it is answered the connection
 * keeps reading (to notice a client that goes away) but parses nothing more;
 * the bytes of pipelined requests wait in conn->in. Answering writes the
 * response and resumes parsing, unless more than opts.max_output_bytes are
 * still queued on the socket: then the connection stops parsing (and, once
 * conn->in holds a request's worth, reading) until the client has taken
 * the answer below that bound, so a client that pipelines many large reads
 * and never reads costs one answer plus the bound, not all the answers. A
 * client that takes nothing of a queued answer for opts.write_timeout_ms is
 * closed. Streamed answers are paced by their producer
 * (gw_http_pending_bytes; the etcd watch cuts a stream over its buffer).
 * Connections are admitted by a gw_connlimit (cap with a reserve for
 * loopback and the owner's peers). A connection is freed once its handle is
 * closed and no request of it is still pending (conn->refs).
 *
 * TLS: ciphertext is read into the server's one read buffer (the loop
 * consumes it at once), fed to the connection's gw_tlsbio, and the
 * plaintext lands in conn->in as cleartext bytes would; every write
 * (conn_write) is encrypted and the records go out through raw_write, so
 * write_pending, the stall timer and gw_http_pending_bytes count
 * ciphertext. What OpenSSL holds is bounded: feeding decrypts every
 * complete record at once, so its read BIO keeps at most one partial
 * record, and reading stops on conn->in's bound as in cleartext. */
#include "config.h"

#include "lib/httpd.h"
#include "lib/connlimit.h"
#include "lib/err.h"
#include "lib/list.h"
#include "lib/log.h"
#include "lib/ratelimit.h"
#include "lib/reason.h"
#include "lib/tlsbio.h"

#include <ctype.h>
#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct gw__http_conn {
	uv_tcp_t *tcp; /* heap; freed in its close callback */
	uv_timer_t timer;
	struct gw_httpd *srv;
	http_parser parser;
	struct gw_buf in;         /* unparsed bytes */
	struct gw_http_req *cur;  /* being parsed */
	struct gw_http_req *busy; /* handed to the handler, not answered */
	struct gw_buf hfield;     /* header name being parsed */
	struct gw_buf hvalue;     /* header value being parsed */
	bool in_value;
	size_t header_bytes; /* of the current request */
	int refs;            /* open handle + timer + busy request */
	bool closing;
	bool close_after_write;       /* no keep-alive: close once writes drain */
	bool streaming;               /* busy request answers in chunks */
	size_t write_pending;         /* bytes queued on the socket */
	size_t stall_queue;           /* libuv's write queue when the stall timer was armed */
	int error_status;             /* parser-level error to answer, 0 if none */
	uint64_t tag;                 /* given by gw_httpd_adopt_tagged, copied to each request */
	struct sockaddr_storage peer; /* the client as the adopter knows it, if has_peer */
	bool has_peer;
	void *conn_data;       /* gw_httpd_adopt_tagged's, owned (free()) */
	struct gw_list link;   /* in srv->conns */
	struct gw_tlsbio *tls; /* NULL in cleartext; owned */
	bool tls_fed;          /* ciphertext arrived (plain HTTP is told apart first) */
	bool tls_failed;       /* counted already */
};

struct gw_httpd {
	uv_loop_t *loop;
	uv_tcp_t listener;
	struct gw_httpd_opts opts;
	gw_http_handler_cb handler;
	void *data;
	struct gw_list conns;    /* of struct gw__http_conn (link) */
	struct gw_connlimit lim; /* admission: cap and reserve */
	int port;
	bool stopping;
	bool listener_closed;
	gw_httpd_stop_cb stop_cb;
	void *stop_data;
	SSL_CTX *tls_ctx;           /* our reference, or NULL */
	char *tls_rbuf;             /* ciphertext read buffer (TLS_RBUF bytes) */
	uint64_t tls_failures;      /* gw_httpd_tls_failures */
	struct gw_ratelimit tls_rl; /* failure log lines */
};

#define TLS_RBUF 65536

struct write_req {
	uv_write_t req;
	struct gw__http_conn *conn;
	size_t len;
	char data[];
};

static http_parser_settings settings;

static void conn_close(struct gw__http_conn *c);
static void tls_failed(struct gw__http_conn *c, const char *why);
static void conn_process(struct gw__http_conn *c);
static void conn_resume(struct gw__http_conn *c);

/* True while the queued output is over the bound: parse nothing more. */
static bool out_blocked(const struct gw__http_conn *c)
{
	return c->write_pending > c->srv->opts.max_output_bytes;
}
static void srv_maybe_done(struct gw_httpd *srv);

/* ---- requests ---------------------------------------------------------- */

static void req_free(struct gw_http_req *req)
{
	if (req == NULL) {
		return;
	}
	for (int i = 0; i < req->n_headers; i++) {
		free(req->headers[i].name);
		free(req->headers[i].value);
	}
	free(req->url);
	free(req->path);
	gw_buf_close(&req->body);
	free(req);
}

static void conn_unref(struct gw__http_conn *c)
{
	if (--c->refs > 0) {
		return;
	}
	gw_buf_close(&c->in);
	gw_buf_close(&c->hfield);
	gw_buf_close(&c->hvalue);
	req_free(c->cur);
	free(c->conn_data);
	if (c->tls != NULL) {
		gw_tlsbio_free(c->tls);
		free(c->tls);
	}
	free(c);
}

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Percent-decode @n bytes of @s into a new NUL-terminated string; '+' kept
 * unless @plus_space. NULL on ENOMEM. */
static char *url_decode(const char *s, size_t n, bool plus_space)
{
	char *out = malloc(n + 1);
	size_t j = 0;
	if (out == NULL) {
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n && hexval((unsigned char)s[i + 1]) >= 0 &&
		    hexval((unsigned char)s[i + 2]) >= 0) {
			out[j++] = (char)(hexval((unsigned char)s[i + 1]) * 16 +
					  hexval((unsigned char)s[i + 2]));
			i += 2;
		} else if (plus_space && s[i] == '+') {
			out[j++] = ' ';
		} else {
			out[j++] = s[i];
		}
	}
	out[j] = '\0';
	return out;
}

const char *gw_http_header(const struct gw_http_req *req, const char *name)
{
	for (int i = 0; i < req->n_headers; i++) {
		if (strcmp(req->headers[i].name, name) == 0) {
			return req->headers[i].value;
		}
	}
	return NULL;
}

const char *gw_http_query_arg(const struct gw_http_req *req, const char *name, char *buf,
			      size_t len)
{
	const char *q = req->query;
	size_t nlen = strlen(name);
	while (q != NULL && *q != '\0') {
		const char *amp = strchr(q, '&');
		size_t seg = amp ? (size_t)(amp - q) : strlen(q);
		const char *eq = memchr(q, '=', seg);
		size_t klen = eq ? (size_t)(eq - q) : seg;
		if (klen == nlen && memcmp(q, name, nlen) == 0) {
			const char *v = eq ? eq + 1 : q + seg;
			size_t vlen = eq ? seg - klen - 1 : 0;
			char *dec = url_decode(v, vlen, true);
			if (dec == NULL) {
				return NULL;
			}
			snprintf(buf, len, "%s", dec);
			free(dec);
			return buf;
		}
		q = amp ? amp + 1 : NULL;
	}
	return NULL;
}

/* ---- parser callbacks -------------------------------------------------- */

static int flush_header(struct gw__http_conn *c)
{
	struct gw_http_req *req = c->cur;
	if (c->hfield.len == 0) {
		return 0;
	}
	if (req->n_headers >= GW_HTTP_MAX_HEADERS) {
		c->error_status = 431;
		return -1;
	}
	for (size_t i = 0; i < c->hfield.len; i++) {
		c->hfield.data[i] = (char)tolower((unsigned char)c->hfield.data[i]);
	}
	req->headers[req->n_headers].name = gw_buf_steal(&c->hfield, NULL);
	if (c->hvalue.data == NULL && gw_buf_append(&c->hvalue, "", 0) != 0) {
		return -1;
	}
	req->headers[req->n_headers].value = gw_buf_steal(&c->hvalue, NULL);
	req->n_headers++;
	c->in_value = false;
	return 0;
}

static int on_message_begin(http_parser *p)
{
	struct gw__http_conn *c = p->data;
	int namelen;
	c->cur = calloc(1, sizeof *c->cur);
	if (c->cur == NULL) {
		return -1;
	}
	gw_buf_init(&c->cur->body);
	c->cur->conn = c;
	c->cur->conn_data = c->conn_data;
	c->cur->tag = c->tag;
	namelen = sizeof c->cur->peer;
	if (c->has_peer) {
		c->cur->peer = c->peer;
	} else {
		uv_tcp_getpeername(c->tcp, (struct sockaddr *)&c->cur->peer, &namelen);
	}
	c->header_bytes = 0;
	c->in_value = false;
	gw_buf_close(&c->hfield);
	gw_buf_close(&c->hvalue);
	return 0;
}

static int count_header_bytes(struct gw__http_conn *c, size_t n)
{
	c->header_bytes += n;
	if (c->header_bytes > c->srv->opts.max_header_bytes) {
		c->error_status = 431;
		return -1;
	}
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
	struct gw__http_conn *c = p->data;
	struct gw_buf b;
	if (count_header_bytes(c, n) != 0) {
		c->error_status = 414;
		return -1;
	}
	gw_buf_init(&b);
	if (c->cur->url != NULL && gw_buf_appends(&b, c->cur->url) != 0) {
		return -1;
	}
	if (gw_buf_append(&b, at, n) != 0) {
		gw_buf_close(&b);
		return -1;
	}
	free(c->cur->url);
	c->cur->url = gw_buf_steal(&b, NULL);
	return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
	struct gw__http_conn *c = p->data;
	if (count_header_bytes(c, n) != 0) {
		return -1;
	}
	if (c->in_value && flush_header(c) != 0) {
		return -1;
	}
	return gw_buf_append(&c->hfield, at, n) == 0 ? 0 : -1;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
	struct gw__http_conn *c = p->data;
	if (count_header_bytes(c, n) != 0) {
		return -1;
	}
	c->in_value = true;
	return gw_buf_append(&c->hvalue, at, n) == 0 ? 0 : -1;
}

static int on_headers_complete(http_parser *p)
{
	struct gw__http_conn *c = p->data;
	struct gw_http_req *req = c->cur;
	char *q;
	if (flush_header(c) != 0) {
		return -1;
	}
	if (req->url == NULL) {
		c->error_status = 400;
		return -1;
	}
	if (p->content_length != ULLONG_MAX &&
	    p->content_length > (uint64_t)c->srv->opts.max_body_bytes) {
		c->error_status = 413;
		return -1;
	}
	req->method = http_method_str((enum http_method)p->method);
	req->http_minor = p->http_minor;
	q = strchr(req->url, '?');
	if (q != NULL) {
		req->path = url_decode(req->url, (size_t)(q - req->url), false);
		req->query = q + 1;
	} else {
		req->path = url_decode(req->url, strlen(req->url), false);
		req->query = req->url + strlen(req->url);
	}
	if (req->path == NULL) {
		return -1;
	}
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
	struct gw__http_conn *c = p->data;
	if (c->cur->body.len + n > c->srv->opts.max_body_bytes) {
		c->error_status = 413;
		return -1;
	}
	return gw_buf_append(&c->cur->body, at, n) == 0 ? 0 : -1;
}

static int on_message_complete(http_parser *p)
{
	struct gw__http_conn *c = p->data;
	if (gw_buf_append(&c->cur->body, "", 0) != 0) {
		return -1;
	}
	c->busy = c->cur;
	c->cur = NULL;
	c->refs++;
	c->close_after_write = !http_should_keep_alive(p);
	http_parser_pause(p, 1);
	return 0;
}

/* ---- writing ----------------------------------------------------------- */

static void timer_close_cb(uv_handle_t *h)
{
	conn_unref(h->data);
}

static void tcp_close_cb(uv_handle_t *h)
{
	struct gw__http_conn *c = h->data;
	free(h);
	conn_unref(c);
}

static void conn_close(struct gw__http_conn *c)
{
	struct gw_httpd *srv = c->srv;
	if (c->closing) {
		return;
	}
	c->closing = true;
	if (c->busy != NULL && !c->busy->aborted) {
		c->busy->aborted = true;
		if (c->busy->on_abort != NULL) {
			c->busy->on_abort(c->busy, c->busy->abort_data);
		}
	}
	gw_list_del(&c->link);
	gw_connlimit_release(&srv->lim);
	uv_close((uv_handle_t *)&c->timer, timer_close_cb);
	uv_close((uv_handle_t *)c->tcp, tcp_close_cb);
	srv_maybe_done(srv);
}

static void write_cb(uv_write_t *w, int status)
{
	struct write_req *wr = (struct write_req *)w;
	struct gw__http_conn *c = wr->conn;
	/* A closing connection may outlive its server (srv_maybe_done frees it
	 * once no connection is listed): touch nothing of srv then. */
	bool was_blocked = !c->closing && out_blocked(c);
	c->write_pending -= wr->len;
	free(wr);
	if (status < 0) {
		conn_close(c);
	} else if (c->close_after_write && c->busy == NULL && c->write_pending == 0) {
		conn_close(c);
	} else if (!c->closing && c->busy == NULL && !c->close_after_write &&
		   (was_blocked || c->write_pending == 0)) {
		conn_resume(c); /* parse what waited; the idle timer replaces the stall one */
	}
	conn_unref(c);
}

/* Queue @p1 and @p2 on the socket as they are. 0 or an error (the
 * connection is then closed). */
static int raw_write(struct gw__http_conn *c, const char *p1, size_t n1, const char *p2, size_t n2)
{
	struct write_req *wr;
	uv_buf_t b;
	if (c->closing) {
		return GW_ECANCELED;
	}
	wr = malloc(sizeof *wr + n1 + n2);
	if (wr == NULL) {
		conn_close(c);
		return GW_ENOMEM;
	}
	memcpy(wr->data, p1, n1);
	if (n2 > 0) {
		memcpy(wr->data + n1, p2, n2);
	}
	wr->len = n1 + n2;
	wr->conn = c;
	b = uv_buf_init(wr->data, (unsigned)wr->len);
	if (uv_write(&wr->req, (uv_stream_t *)c->tcp, &b, 1, write_cb) != 0) {
		free(wr);
		conn_close(c);
		return GW_EIO;
	}
	c->refs++;
	c->write_pending += wr->len;
	return 0;
}

/* Send @p1 then @p2 to the client: encrypted with TLS, else as they are.
 * 0 or an error (the connection is then closed). */
static int conn_write(struct gw__http_conn *c, const char *p1, size_t n1, const char *p2, size_t n2)
{
	int rv;
	if (c->tls == NULL) {
		return raw_write(c, p1, n1, p2, n2);
	}
	if (c->closing) {
		return GW_ECANCELED;
	}
	rv = gw_tlsbio_write(c->tls, p1, n1);
	if (rv == 0 && n2 > 0) {
		rv = gw_tlsbio_write(c->tls, p2, n2);
	}
	if (rv != 0) {
		conn_close(c);
	}
	return rv;
}

static void simple_error(struct gw__http_conn *c, int status, const char *msg)
{
	char head[256], body[256];
	int bl = snprintf(body, sizeof body, "{\"error_msg\":\"%s\"}\n", msg);
	int hl = snprintf(head, sizeof head,
			  "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
			  "Content-Length: %d\r\nConnection: close\r\n\r\n",
			  status, gw_reason_rfc(status), bl);
	c->close_after_write = true;
	if (conn_write(c, head, (size_t)hl, body, (size_t)bl) != 0) {
		return;
	}
	uv_read_stop((uv_stream_t *)c->tcp);
}

/* ---- reading and dispatch ---------------------------------------------- */

static void timer_cb(uv_timer_t *t)
{
	struct gw__http_conn *c = t->data;
	if (c->tls != NULL && !c->tls->done) {
		tls_failed(c, "handshake timeout");
		conn_close(c);
		return;
	}
	if (c->busy != NULL) {
		return; /* the handler owns the pace while a request is pending */
	}
	if (c->cur == NULL && c->write_pending > 0) {
		size_t q = uv_stream_get_write_queue_size((uv_stream_t *)c->tcp);
		if (q < c->stall_queue) {
			c->stall_queue = q; /* the client takes it, slowly: wait on */
			uv_timer_start(&c->timer, timer_cb, c->srv->opts.write_timeout_ms, 0);
			return;
		}
		gw_debugf("httpd",
			  "closing a connection whose client reads nothing (%zu bytes queued)",
			  c->write_pending);
		conn_close(c);
		return;
	}
	if (c->cur != NULL) {
		simple_error(c, 408, "request timeout");
		if (c->write_pending == 0) {
			conn_close(c);
		}
		return;
	}
	conn_close(c);
}

static void arm_timer(struct gw__http_conn *c)
{
	unsigned ms;
	if (c->closing) {
		return;
	}
	if (c->tls != NULL && !c->tls->done) {
		/* one deadline from the accept: bytes trickling in do not extend it */
		if (!uv_is_active((uv_handle_t *)&c->timer)) {
			uv_timer_start(&c->timer, timer_cb, c->srv->opts.handshake_timeout_ms, 0);
		}
		return;
	}
	if (c->busy != NULL) {
		uv_timer_stop(&c->timer);
		return;
	}
	if (c->cur == NULL && c->write_pending > 0) {
		ms = c->srv->opts.write_timeout_ms;
		c->stall_queue = uv_stream_get_write_queue_size((uv_stream_t *)c->tcp);
	} else if (c->cur == NULL) {
		ms = c->srv->opts.idle_timeout_ms;
	} else if (c->parser.state != 0 && c->cur->path != NULL) {
		ms = c->srv->opts.body_timeout_ms;
	} else {
		ms = c->srv->opts.header_timeout_ms;
	}
	uv_timer_start(&c->timer, timer_cb, ms, 0);
}

static void conn_process(struct gw__http_conn *c)
{
	size_t n;
	enum http_errno e;

	while (!c->closing && c->busy == NULL && !out_blocked(c) && c->in.len > 0) {
		n = http_parser_execute(&c->parser, &settings, c->in.data, c->in.len);
		e = HTTP_PARSER_ERRNO(&c->parser);
		if (e == HPE_PAUSED) {
			gw_buf_consume(&c->in, n);
			http_parser_pause(&c->parser, 0);
			arm_timer(c);
			c->srv->handler(c->busy, c->srv->data);
			return;
		}
		if (e != HPE_OK) {
			int status = c->error_status ? c->error_status : 400;
			const char *msg = c->error_status == 413   ? "request body too large"
					  : c->error_status == 431 ? "request header too large"
					  : c->error_status == 414 ? "request URI too large"
								   : http_errno_description(e);
			gw_debugf("httpd", "bad request: %s", http_errno_name(e));
			simple_error(c, status, msg);
			return;
		}
		gw_buf_consume(&c->in, n);
	}
	if (!c->closing) {
		arm_timer(c);
	}
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct gw__http_conn *c = h->data;
	(void)suggested;
	if (c->tls != NULL) {
		/* consumed by read_cb before the loop reads anything else */
		*buf = uv_buf_init(c->srv->tls_rbuf, TLS_RBUF);
		return;
	}
	gw_buf_read_alloc(&c->in, buf);
}

/* ---- TLS ------------------------------------------------------------------- */

/* Count and log (rate limited) a TLS connection that failed. */
static void tls_failed(struct gw__http_conn *c, const char *why)
{
	struct gw_httpd *srv = c->srv;
	struct sockaddr_storage ss;
	int len = sizeof ss;
	char ip[64] = "?";
	unsigned suppressed = 0;

	if (c->tls_failed) {
		return;
	}
	c->tls_failed = true;
	srv->tls_failures++;
	if (!gw_ratelimit_allow(&srv->tls_rl, uv_now(srv->loop), &suppressed)) {
		return;
	}
	if (uv_tcp_getpeername(c->tcp, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET6) {
			uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof ip);
		} else if (ss.ss_family == AF_INET) {
			uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof ip);
		}
	}
	gw_infof(srv->opts.name != NULL ? srv->opts.name : "httpd",
		 "TLS connection from %s closed: %s (%u more not logged)", ip, why, suppressed);
}

static int tls_plain_cb(void *data, const char *p, size_t len)
{
	struct gw__http_conn *c = data;
	return gw_buf_append(&c->in, p, len) == 0 ? 0 : GW_ENOMEM;
}

static int tls_cipher_cb(void *data, const char *p, size_t len)
{
	return raw_write(data, p, len, NULL, 0);
}

static int tls_ready_cb(void *data)
{
	struct gw__http_conn *c = data;
	uv_timer_stop(&c->timer); /* the handshake deadline; arm_timer sets the next */
	return 0;
}

static const struct gw_tlsbio_ops tls_ops = {
    .plain = tls_plain_cb, .cipher = tls_cipher_cb, .ready = tls_ready_cb};

/* True when @p (the first bytes of a connection) look like an HTTP
 * request line rather than a TLS record. */
static bool looks_like_http(const char *p, size_t n)
{
	size_t i = 0;
	while (i < n && i < 8 && p[i] >= 'A' && p[i] <= 'Z') {
		i++;
	}
	return i >= 3 && (i == n || p[i] == ' ');
}

/* Ciphertext from the socket. 0 to go on, else the connection is closed. */
static int tls_input(struct gw__http_conn *c, const char *p, size_t n)
{
	int rv;
	static const char refusal[] =
	    "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 49\r\n"
	    "Connection: close\r\n\r\nThe plain HTTP request was sent to an HTTPS port\n";

	if (!c->tls_fed) {
		c->tls_fed = true;
		if (looks_like_http(p, n)) {
			tls_failed(c, "plain HTTP on the TLS port");
			c->close_after_write = true;
			uv_read_stop((uv_stream_t *)c->tcp);
			if (raw_write(c, refusal, sizeof refusal - 1, NULL, 0) != 0) {
				return GW_EIO;
			}
			return GW_EPROTO;
		}
	}
	rv = gw_tlsbio_feed(c->tls, p, n);
	if (rv == GW_ESHUTDOWN && c->tls->done) {
		conn_close(c); /* the client's close_notify: a normal end */
		return rv;
	}
	if (rv != 0) {
		if (!c->closing) {
			tls_failed(c, c->tls->why[0] ? c->tls->why : gw_strerror(rv));
			/* the alert, if any, is queued: closing now may drop it,
			 * which costs the client only a clearer error */
			conn_close(c);
		}
		return rv;
	}
	return 0;
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct gw__http_conn *c = s->data;
	if (nread < 0) {
		if (c->tls != NULL && !c->tls->done && c->tls_fed) {
			tls_failed(c, "the client closed during the handshake");
		}
		conn_close(c);
		return;
	}
	if (nread == 0) {
		return;
	}
	if (c->tls != NULL) {
		if (tls_input(c, buf->base, (size_t)nread) != 0 || c->closing) {
			return;
		}
		if (!c->tls->done) {
			return; /* the handshake deadline stays armed */
		}
	} else {
		gw_buf_read_commit(&c->in, (size_t)nread);
	}
	if (c->busy != NULL || out_blocked(c)) {
		/* Pipelined bytes wait; bound what we hold. */
		if (c->in.len > c->srv->opts.max_header_bytes + c->srv->opts.max_body_bytes) {
			uv_read_stop(s);
		}
		return;
	}
	conn_process(c);
}

/* Admit @tcp under the server's cap (false: refused, logged, the caller
 * closes it). */
static bool conn_admit(struct gw_httpd *srv, uv_tcp_t *tcp, const struct sockaddr_storage *peer)
{
	struct sockaddr_storage ss;
	int len = sizeof ss;
	if (peer != NULL) {
		ss = *peer;
	} else if (uv_tcp_getpeername(tcp, (struct sockaddr *)&ss, &len) != 0) {
		ss.ss_family = AF_UNSPEC;
	}
	return gw_connlimit_admit(&srv->lim, (struct sockaddr *)&ss, uv_now(srv->loop));
}

/* Start serving an admitted @tcp (counted in srv->lim); takes @data. */
static void conn_start(struct gw_httpd *srv, uv_tcp_t *tcp, const char *initial, size_t n,
		       uint64_t tag, const struct sockaddr_storage *peer, void *data)
{
	struct gw__http_conn *c;

	c = calloc(1, sizeof *c);
	if (c == NULL) {
		free(data);
		gw_connlimit_release(&srv->lim);
		uv_close((uv_handle_t *)tcp, (uv_close_cb)free);
		return;
	}
	c->conn_data = data;
	c->tcp = tcp;
	c->srv = srv;
	c->tag = tag;
	if (peer != NULL) {
		c->peer = *peer;
		c->has_peer = true;
	}
	tcp->data = c;
	c->refs = 2; /* tcp + timer */
	gw_buf_init(&c->in);
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	uv_timer_init(srv->loop, &c->timer);
	c->timer.data = c;
	gw_list_add_head(&srv->conns, &c->link);
	uv_tcp_nodelay(tcp, 1);
	if (srv->tls_ctx != NULL) {
		c->tls = malloc(sizeof *c->tls);
		if (c->tls == NULL ||
		    gw_tlsbio_init(c->tls, srv->tls_ctx, true, NULL, &tls_ops, c) != 0) {
			free(c->tls);
			c->tls = NULL;
			conn_close(c);
			return;
		}
	}
	if (n > 0 && gw_buf_append(&c->in, initial, n) != 0) {
		conn_close(c);
		return;
	}
	if (uv_read_start((uv_stream_t *)tcp, alloc_cb, read_cb) != 0) {
		conn_close(c);
		return;
	}
	conn_process(c);
}

static void on_connection(uv_stream_t *server, int status)
{
	struct gw_httpd *srv = server->data;
	uv_tcp_t *tcp;
	if (status < 0) {
		gw_warnf("httpd", "accept: %s", uv_strerror(status));
		return;
	}
	tcp = malloc(sizeof *tcp);
	if (tcp == NULL) {
		return;
	}
	uv_tcp_init(srv->loop, tcp);
	if (uv_accept(server, (uv_stream_t *)tcp) != 0 || !conn_admit(srv, tcp, NULL)) {
		uv_close((uv_handle_t *)tcp, (uv_close_cb)free);
		return;
	}
	conn_start(srv, tcp, NULL, 0, 0, NULL, NULL);
}

void gw_httpd_adopt_tagged(struct gw_httpd *srv, uv_tcp_t *tcp, const char *initial, size_t n,
			   uint64_t tag, const struct sockaddr_storage *peer, void *data)
{
	if (srv->stopping || !conn_admit(srv, tcp, peer)) {
		free(data);
		uv_close((uv_handle_t *)tcp, (uv_close_cb)free);
		return;
	}
	conn_start(srv, tcp, initial, n, tag, peer, data);
}

void gw_httpd_adopt(struct gw_httpd *srv, uv_tcp_t *tcp, const char *initial, size_t n)
{
	gw_httpd_adopt_tagged(srv, tcp, initial, n, 0, NULL, NULL);
}

/* ---- responses --------------------------------------------------------- */

/* The busy request is done: free it and parse what is pipelined. */
static void req_done(struct gw_http_req *req)
{
	struct gw__http_conn *c = req->conn;
	c->busy = NULL;
	c->streaming = false;
	req_free(req);
	if (!c->closing) {
		if (c->close_after_write) {
			if (c->write_pending == 0) {
				conn_close(c);
			}
		} else {
			conn_resume(c);
		}
	}
	conn_unref(c);
}

/* No request pending and not closing: read again if reading stopped, and
 * parse what is pipelined (conn_process waits while output is blocked). */
static void conn_resume(struct gw__http_conn *c)
{
	if (!uv_is_active((uv_handle_t *)c->tcp)) {
		uv_read_start((uv_stream_t *)c->tcp, alloc_cb, read_cb);
	}
	conn_process(c);
}

static int build_head(struct gw_buf *h, struct gw_http_req *req, int status, const char *ctype,
		      const char *extra, bool chunked, size_t len)
{
	struct gw__http_conn *c = req->conn;
	int rv =
	    gw_buf_printf(h, "HTTP/1.%d %d %s\r\n", req->http_minor, status, gw_reason_rfc(status));
	if (rv == 0 && ctype != NULL) {
		rv = gw_buf_printf(h, "Content-Type: %s\r\n", ctype);
	}
	if (rv == 0 && chunked) {
		rv = gw_buf_appends(h, "Transfer-Encoding: chunked\r\n");
	} else if (rv == 0) {
		rv = gw_buf_printf(h, "Content-Length: %zu\r\n", len);
	}
	if (rv == 0 && extra != NULL) {
		rv = gw_buf_appends(h, extra);
	}
	if (rv == 0) {
		if (c->srv->stopping) {
			c->close_after_write = true;
		}
		rv = gw_buf_appends(
		    h, c->close_after_write
			   ? "Connection: close\r\n\r\n"
			   : (req->http_minor == 0 ? "Connection: keep-alive\r\n\r\n" : "\r\n"));
	}
	return rv;
}

int gw_http_respond(struct gw_http_req *req, int status, const char *content_type,
		    const char *extra_headers, const void *body, size_t len)
{
	struct gw__http_conn *c = req->conn;
	struct gw_buf h;
	int rv = 0;

	if (!req->aborted && !c->closing) {
		gw_buf_init(&h);
		rv = build_head(&h, req, status, content_type, extra_headers, false, len);
		if (strcmp(req->method, "HEAD") == 0) {
			len = 0; /* HEAD: the length of the body a GET would get, no body */
		}
		if (rv == 0) {
			rv = conn_write(c, h.data, h.len, body, len);
		} else {
			conn_close(c);
		}
		gw_buf_close(&h);
	}
	req_done(req);
	return rv;
}

int gw_http_stream_start(struct gw_http_req *req, int status, const char *content_type,
			 const char *extra_headers)
{
	struct gw__http_conn *c = req->conn;
	struct gw_buf h;
	int rv;
	if (req->aborted || c->closing) {
		return GW_ECANCELED;
	}
	gw_buf_init(&h);
	rv = build_head(&h, req, status, content_type, extra_headers, req->http_minor == 1, 0);
	if (rv == 0) {
		rv = conn_write(c, h.data, h.len, NULL, 0);
	}
	gw_buf_close(&h);
	c->streaming = true;
	if (req->http_minor == 0) {
		c->close_after_write = true; /* no chunking: the end is the close */
	}
	return rv;
}

int gw_http_stream_write(struct gw_http_req *req, const void *p, size_t len)
{
	struct gw__http_conn *c = req->conn;
	char head[32];
	int hl;
	if (req->aborted || c->closing) {
		return GW_ECANCELED;
	}
	if (len == 0) {
		return 0;
	}
	if (req->http_minor == 0) {
		return conn_write(c, p, len, NULL, 0);
	}
	hl = snprintf(head, sizeof head, "%zx\r\n", len);
	{
		struct gw_buf b;
		int rv;
		gw_buf_init(&b);
		rv = gw_buf_append(&b, p, len);
		if (rv == 0) {
			rv = gw_buf_append(&b, "\r\n", 2);
		}
		if (rv == 0) {
			rv = conn_write(c, head, (size_t)hl, b.data, b.len);
		}
		gw_buf_close(&b);
		return rv;
	}
}

void gw_http_stream_end(struct gw_http_req *req)
{
	struct gw__http_conn *c = req->conn;
	if (!req->aborted && !c->closing && req->http_minor == 1) {
		conn_write(c, "0\r\n\r\n", 5, NULL, 0);
	}
	req_done(req);
}

size_t gw_http_pending_bytes(const struct gw_http_req *req)
{
	return req->conn->write_pending;
}

/* ---- server ------------------------------------------------------------ */

static void listener_close_cb(uv_handle_t *h)
{
	struct gw_httpd *srv = h->data;
	srv->listener_closed = true;
	srv_maybe_done(srv);
}

static void srv_maybe_done(struct gw_httpd *srv)
{
	if (!srv->stopping || !srv->listener_closed || !gw_list_empty(&srv->conns)) {
		return;
	}
	if (srv->stop_cb != NULL) {
		gw_httpd_stop_cb cb = srv->stop_cb;
		srv->stop_cb = NULL;
		cb(srv->stop_data);
	}
	/* Connections still closing hold no pointer to srv after their close
	 * callbacks only touch themselves; free now. */
	SSL_CTX_free(srv->tls_ctx);
	free(srv->tls_rbuf);
	free(srv);
}

int gw_httpd_start(uv_loop_t *loop, const struct gw_addr *addr, const struct gw_httpd_opts *opts,
		   gw_http_handler_cb handler, void *data, struct gw_httpd **out)
{
	struct gw_httpd *srv;
	struct sockaddr_storage ss;
	int namelen = sizeof ss;
	int rv;

	if (settings.on_message_begin == NULL) {
		settings.on_message_begin = on_message_begin;
		settings.on_url = on_url;
		settings.on_header_field = on_header_field;
		settings.on_header_value = on_header_value;
		settings.on_headers_complete = on_headers_complete;
		settings.on_body = on_body;
		settings.on_message_complete = on_message_complete;
	}
	srv = calloc(1, sizeof *srv);
	if (srv == NULL) {
		return GW_ENOMEM;
	}
	srv->loop = loop;
	gw_list_init(&srv->conns);
	srv->handler = handler;
	srv->data = data;
	if (opts != NULL) {
		srv->opts = *opts;
	}
	if (srv->opts.max_header_bytes == 0)
		srv->opts.max_header_bytes = 16384;
	if (srv->opts.max_body_bytes == 0)
		srv->opts.max_body_bytes = 1572864;
	if (srv->opts.header_timeout_ms == 0)
		srv->opts.header_timeout_ms = 10000;
	if (srv->opts.idle_timeout_ms == 0)
		srv->opts.idle_timeout_ms = 60000;
	if (srv->opts.body_timeout_ms == 0)
		srv->opts.body_timeout_ms = 30000;
	if (srv->opts.write_timeout_ms == 0)
		srv->opts.write_timeout_ms = 30000;
	if (srv->opts.max_output_bytes == 0)
		srv->opts.max_output_bytes = GW_HTTPD_DEFAULT_MAX_OUTPUT;
	if (srv->opts.max_conns == 0)
		srv->opts.max_conns = GW_CONNLIMIT_DEFAULT_MAX;
	if (srv->opts.reserve_conns == 0)
		srv->opts.reserve_conns = GW_CONNLIMIT_DEFAULT_RESERVE;
	if (srv->opts.handshake_timeout_ms == 0)
		srv->opts.handshake_timeout_ms = 10000;
	srv->tls_rl = (struct gw_ratelimit)GW_RATELIMIT_INIT(1000, 5);
	if (srv->opts.tls_ctx != NULL) {
		srv->tls_rbuf = malloc(TLS_RBUF);
		if (srv->tls_rbuf == NULL || SSL_CTX_up_ref(srv->opts.tls_ctx) != 1) {
			free(srv->tls_rbuf);
			free(srv);
			return GW_ENOMEM;
		}
		srv->tls_ctx = srv->opts.tls_ctx;
	}
	gw_connlimit_init(&srv->lim, srv->opts.name != NULL ? srv->opts.name : "httpd",
			  srv->opts.max_conns, srv->opts.reserve_conns);
	srv->lim.reserved = srv->opts.reserved;
	srv->lim.reserved_data = srv->opts.reserved_data;

	/* An adopt-only server keeps an unbound handle, so that stopping it
	 * goes through the same asynchronous close as a listening one. */
	uv_tcp_init(loop, &srv->listener);
	srv->listener.data = srv;
	if (addr == NULL) {
		*out = srv;
		return 0;
	}
	rv = uv_tcp_bind(&srv->listener, (const struct sockaddr *)&addr->ss, 0);
	if (rv == 0) {
		rv = uv_listen((uv_stream_t *)&srv->listener, 511, on_connection);
	}
	if (rv != 0) {
		gw_errorf("httpd", "cannot listen on %s: %s", addr->text, uv_strerror(rv));
		srv->stopping = true;
		uv_close((uv_handle_t *)&srv->listener, listener_close_cb);
		return GW_EADDR;
	}
	uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&ss, &namelen);
	srv->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
					     : ntohs(((struct sockaddr_in *)&ss)->sin_port);
	*out = srv;
	return 0;
}

int gw_httpd_port(const struct gw_httpd *srv)
{
	return srv->port;
}

uint64_t gw_httpd_refused(const struct gw_httpd *srv)
{
	return srv->lim.refused;
}

uint64_t gw_httpd_tls_failures(const struct gw_httpd *srv)
{
	return srv->tls_failures;
}

bool gw_httpd_is_tls(const struct gw_httpd *srv)
{
	return srv->tls_ctx != NULL;
}

void gw_httpd_stop(struct gw_httpd *srv, gw_httpd_stop_cb cb, void *data)
{
	srv->stopping = true;
	srv->stop_cb = cb;
	srv->stop_data = data;
	while (!gw_list_empty(&srv->conns)) {
		conn_close(gw_container_of(srv->conns.next, struct gw__http_conn, link));
	}
	uv_close((uv_handle_t *)&srv->listener, listener_close_cb);
}
