/* httpc.c: a minimal HTTP/1.1 client for the node-to-node channel (see
 * httpc.h).
 *
 * A struct gw_httpc is one connection carrying one request at a time:
 * connect, write the request, read until the server closes (or
 * Content-Length bytes of body arrived), parse the status line,
 * Content-Length, Connection and X-Apigw-Error, call back once. Without a
 * pool the request says "Connection: close" and the client then gives the
 * server up to 1 s to close first (LINGER). With a pool, a complete answer
 * that leaves the connection clean (Content-Length, no "Connection: close",
 * no extra bytes, no write pending) puts the connection on the pool's idle
 * list (IDLE); a later request to the same host:port, TLS context and SNI
 * takes it (IDLE -> BUSY) instead of connecting. An idle connection that
 * reads anything, sees EOF or outlives the pool's idle time is closed.
 * Life cycle (c->sm): CONNECTING -> BUSY -> LINGER | IDLE | CLOSING,
 * IDLE -> BUSY | CLOSING, LINGER -> CLOSING. A timer bounds
 * each exchange when the caller gives a deadline (and times idleness). Failure modes: a
 * connection that could not be made is GW_EAGAIN (nothing was sent: safe to
 * retry); a reset or malformed answer after sending is GW_EIO (the server
 * may have acted on the request); the deadline is GW_ETIMEOUT. The struct
 * holds two uv handles (tcp, timer) and is freed only after both close
 * callbacks ran.
 *
 * With TLS (opts->tls_ctx), the bytes go through a lib/tlsbio session: the
 * request is encrypted and written only once the handshake completed and
 * the caller's tls_check accepted the server; a failed handshake or check is
 * reported as such (nothing was sent). TLS 1.3 lets a server refuse our
 * certificate only after our handshake ended: that alert arrives after the
 * request was written and is GW_EIO with the reason in opts->why.
 * Threads: the loop given to gw_httpc_request. */
#include "config.h"

#include "lib/httpc.h"
#include "lib/addr.h"
#include "lib/err.h"
#include "lib/list.h"
#include "lib/sm.h"
#include "lib/tlsbio.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_RESPONSE (64u << 20)

enum conn_state { C_CONNECTING, C_BUSY, C_LINGER, C_IDLE, C_CLOSING, C_NSTATES };

static const char *const state_names[] = {"connecting", "busy", "linger", "idle", "closing"};
static const uint32_t state_allowed[] = {
    [C_CONNECTING] = GW_SM_BIT(C_BUSY) | GW_SM_BIT(C_CLOSING),
    [C_BUSY] = GW_SM_BIT(C_LINGER) | GW_SM_BIT(C_IDLE) | GW_SM_BIT(C_CLOSING),
    [C_LINGER] = GW_SM_BIT(C_CLOSING),
    [C_IDLE] = GW_SM_BIT(C_BUSY) | GW_SM_BIT(C_CLOSING),
    [C_CLOSING] = 0,
};
static const struct gw_sm_conf state_conf = {"httpc", state_names, state_allowed, C_NSTATES};

struct gw_httpc_pool {
	uv_loop_t *loop;
	struct gw_list idle; /* struct gw_httpc by link, most recently used first */
	unsigned n_idle, max_idle;
	unsigned max_idle_per; /* per host:port + context + SNI */
	unsigned idle_ms;
	unsigned n_conns; /* connections of the pool not yet freed */
	bool closing;     /* gw_httpc_pool_close ran: free at n_conns 0 */
	unsigned long long opened, reused;
};

struct gw_httpc {
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_connect_t connect;
	uv_write_t write; /* the request, in cleartext */
	struct gw_sm sm;
	struct gw_buf out; /* request bytes */
	struct gw_buf in;  /* response bytes */
	gw_httpc_cb cb;    /* NULL once called or cancelled */
	void *data;
	int open_handles; /* freed when it reaches 0 */
	int writes;       /* uv_writes not completed */
	int early_err;    /* failed before anything async: reported by the timer */
	char *why;        /* caller's buffer for a failure's cause, or NULL */
	size_t why_len;   /* bytes at @why */
	/* TLS (all unset for cleartext) */
	SSL_CTX *tls_ctx; /* referenced; NULL = cleartext */
	char sni[256];
	gw_httpc_tls_check_cb tls_check;
	void *tls_check_data;
	struct gw_tlsbio tls; /* set up once connected */
	bool tls_up;          /* @tls initialised */
	/* pool (NULL without one) */
	struct gw_httpc_pool *pool;
	struct gw_list link; /* on pool->idle while IDLE */
	char hostport[128];
	bool keep;        /* the current request asked for keep-alive */
	char rbuf[16384]; /* ciphertext read from the socket */
};

struct cwrite {
	uv_write_t w;
	struct gw_httpc *c;
	char data[];
};

/* Tell the caller why the connection could not be made (libuv's codes are
 * negative errno values; their strerror wording is what the CLI printed). */
static void set_why(struct gw_httpc *c, int uv_err)
{
	if (c->why != NULL && c->why_len > 0) {
		snprintf(c->why, c->why_len, "%s", strerror(-uv_err));
	}
}

/* Copy the cause of a TLS failure for the caller. */
static void set_why_text(struct gw_httpc *c, const char *what, const char *detail)
{
	if (c->why != NULL && c->why_len > 0) {
		snprintf(c->why, c->why_len, "%s%s%s", what, detail[0] ? ": " : "", detail);
	}
}

static bool is(const struct gw_httpc *c, enum conn_state s)
{
	return gw_sm_state(&c->sm) == (int)s;
}

static void handle_closed(uv_handle_t *h)
{
	struct gw_httpc *c = h->data;
	struct gw_httpc_pool *pool = c->pool;

	if (--c->open_handles > 0) {
		return;
	}
	if (c->tls_up) {
		gw_tlsbio_free(&c->tls);
	}
	SSL_CTX_free(c->tls_ctx);
	gw_buf_close(&c->out);
	gw_buf_close(&c->in);
	free(c);
	if (pool != NULL && --pool->n_conns == 0 && pool->closing) {
		free(pool);
	}
}

static void close_now(struct gw_httpc *c)
{
	if (is(c, C_CLOSING)) {
		return;
	}
	if (is(c, C_IDLE)) {
		gw_list_del(&c->link);
		c->pool->n_idle--;
	}
	gw_sm_move(&c->sm, C_CLOSING);
	uv_close((uv_handle_t *)&c->tcp, handle_closed);
	uv_close((uv_handle_t *)&c->timer, handle_closed);
}

static void linger_cb(uv_timer_t *t)
{
	close_now(t->data);
}

/* Is @c a connection to @hostport with TLS context @ctx and SNI @sni (NULL
 * = none)? The pool's key. */
static bool key_is(const struct gw_httpc *c, const char *hostport, const SSL_CTX *ctx,
		   const char *sni)
{
	return c->tls_ctx == ctx && strcmp(c->hostport, hostport) == 0 &&
	       strcmp(c->sni, sni != NULL ? sni : "") == 0;
}

/* An idle connection the pool keeps; closes the oldest over the caps (the
 * whole pool's, and the one per server, so a burst towards one peer does
 * not leave it holding many idle connections of ours). */
static void make_idle(struct gw_httpc *c)
{
	struct gw_httpc_pool *p = c->pool;
	struct gw_httpc *oldest = NULL;
	unsigned same = 0;

	gw_sm_move(&c->sm, C_IDLE);
	gw_list_insert_after(&p->idle, &c->link);
	p->n_idle++;
	uv_timer_start(&c->timer, linger_cb, p->idle_ms, 0);
	for (struct gw_list *e = p->idle.next; e != &p->idle; e = e->next) {
		struct gw_httpc *o = gw_container_of(e, struct gw_httpc, link);
		if (key_is(o, c->hostport, c->tls_ctx, c->sni)) {
			same++;
			oldest = o;
		}
	}
	if (same > p->max_idle_per) {
		close_now(oldest);
	}
	if (p->n_idle > p->max_idle) {
		close_now(gw_container_of(p->idle.prev, struct gw_httpc, link));
	}
}

/* Nothing of the last answer's connection is left unread: no plaintext or
 * ciphertext waits in the TLS session (it would come before the next
 * answer). */
static bool drained(const struct gw_httpc *c)
{
	return c->tls_ctx == NULL ||
	       (SSL_pending(c->tls.ssl) == 0 && BIO_ctrl_pending(c->tls.rbio) == 0);
}

/* A complete answer: report it, then keep the connection for the pool
 * (@reusable), close it (a keep-alive connection the server keeps open), or
 * let the server close first (it does after a "Connection: close" request),
 * so TIME_WAIT lands on the server and a busy follower does not run out of
 * ephemeral ports. */
static void finish_answer(struct gw_httpc *c, const struct gw_httpc_resp *resp, bool reusable)
{
	gw_httpc_cb cb = c->cb;

	c->cb = NULL;
	uv_timer_stop(&c->timer);
	if (cb != NULL) {
		cb(c->data, 0, resp);
	}
	GW_ASSERT(is(c, C_BUSY)); /* the callback cannot end its own request */
	if (reusable && c->writes == 0 && !c->pool->closing && drained(c)) {
		make_idle(c);
	} else if (c->keep) {
		close_now(c);
	} else {
		gw_sm_move(&c->sm, C_LINGER);
		uv_timer_start(&c->timer, linger_cb, 1000, 0);
	}
}

static void finish(struct gw_httpc *c, int err, const struct gw_httpc_resp *resp)
{
	gw_httpc_cb cb = c->cb;

	c->cb = NULL;
	if (cb != NULL) {
		cb(c->data, err, resp);
	}
	close_now(c);
}

/* Parse what arrived; true when the response is complete (@eof: the server
 * closed the connection). */
static bool parse(struct gw_httpc *c, bool eof)
{
	struct gw_httpc_resp resp;
	char *hend, *line, *next;
	size_t hlen, clen = SIZE_MAX, have;
	bool server_closes = false;
	int status;

	if (c->in.data == NULL) {
		if (eof) {
			finish(c, GW_EIO, NULL);
			return true;
		}
		return false;
	}
	hend = strstr(c->in.data, "\r\n\r\n");
	if (hend == NULL) {
		if (eof) {
			finish(c, GW_EIO, NULL);
			return true;
		}
		return false;
	}
	hlen = (size_t)(hend - c->in.data) + 4;
	if (sscanf(c->in.data, "HTTP/1.%*d %d", &status) != 1 || status < 100 || status > 999) {
		finish(c, GW_EIO, NULL);
		return true;
	}
	memset(&resp, 0, sizeof resp);
	resp.status = status;
	for (line = strstr(c->in.data, "\r\n") + 2; line < hend; line = next + 2) {
		next = strstr(line, "\r\n");
		if (strncasecmp(line, "content-length:", 15) == 0) {
			clen = strtoul(line + 15, NULL, 10);
		} else if (strncasecmp(line, "x-apigw-error:", 14) == 0) {
			long v = strtol(line + 14, NULL, 10);
			resp.gw_err = (v < -1000 && v > -1100) ? (int)v : GW_EIO;
		} else if (strncasecmp(line, "connection:", 11) == 0) {
			const char *v = line + 11;
			while (*v == ' ' || *v == '\t') {
				v++;
			}
			server_closes = strncasecmp(v, "close", 5) == 0;
		}
	}
	have = c->in.len - hlen;
	if (clen != SIZE_MAX && have < clen && !eof) {
		return false;
	}
	if (clen == SIZE_MAX && !eof) {
		return false;
	}
	if (clen != SIZE_MAX && have < clen) {
		finish(c, GW_EIO, NULL); /* truncated */
		return true;
	}
	if (clen != SIZE_MAX) {
		have = clen;
	}
	gw_buf_init(&resp.body);
	if (gw_buf_append(&resp.body, c->in.data + hlen, have) != 0) {
		finish(c, GW_ENOMEM, NULL);
		return true;
	}
	if (eof) {
		finish(c, 0, &resp);
	} else {
		/* Reusable only when nothing but this answer arrived. */
		finish_answer(c, &resp, c->keep && !server_closes && c->in.len == hlen + clen);
	}
	gw_buf_close(&resp.body);
	return true;
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct gw_httpc *c = h->data;
	(void)suggested;
	if (c->tls_ctx != NULL) {
		buf->base = c->rbuf;
		buf->len = sizeof c->rbuf;
		return;
	}
	gw_buf_read_alloc(&c->in, buf);
}

/* ---- writing the request ------------------------------------------------- */

static void write_done(struct gw_httpc *c, int status)
{
	c->writes--;
	if (is(c, C_CLOSING) || status == 0) {
		return;
	}
	if (is(c, C_BUSY)) {
		finish(c, GW_EIO, NULL);
	} else {
		close_now(c);
	}
}

static void tls_write_cb(uv_write_t *w, int status)
{
	struct cwrite *cw = (struct cwrite *)w;
	struct gw_httpc *c = cw->c;

	free(cw);
	write_done(c, status);
}

static void write_cb(uv_write_t *w, int status)
{
	write_done(w->data, status);
}

/* Ciphertext for the server. */
static int tls_cipher(void *data, const char *p, size_t len)
{
	struct gw_httpc *c = data;
	struct cwrite *cw;
	uv_buf_t b;

	if (is(c, C_CLOSING)) {
		return 1;
	}
	cw = malloc(sizeof *cw + len);
	if (cw == NULL) {
		return GW_ENOMEM;
	}
	cw->c = c;
	memcpy(cw->data, p, len);
	b = uv_buf_init(cw->data, (unsigned)len);
	if (uv_write(&cw->w, (uv_stream_t *)&c->tcp, &b, 1, tls_write_cb) != 0) {
		free(cw);
		return GW_EIO;
	}
	c->writes++;
	return 0;
}

/* Write the request (the connection is up, the server accepted). 0, or a
 * negative GW_E* / 1 from the TLS session (then nothing of the request
 * was written). Moves a new connection to BUSY. */
static int send_request(struct gw_httpc *c)
{
	uv_buf_t b;
	int rv;

	if (is(c, C_CONNECTING)) {
		gw_sm_move(&c->sm, C_BUSY);
	}
	if (c->tls_ctx != NULL) {
		rv = gw_tlsbio_write(&c->tls, c->out.data, c->out.len);
		if (rv < 0) {
			set_why_text(c, "TLS write", c->tls.why);
		}
		return rv;
	}
	b = uv_buf_init(c->out.data, (unsigned)c->out.len);
	c->write.data = c;
	rv = uv_write(&c->write, (uv_stream_t *)&c->tcp, &b, 1, write_cb);
	if (rv != 0) {
		set_why(c, rv);
		return GW_EIO;
	}
	c->writes++;
	return 0;
}

/* ---- TLS: the session's callbacks ---------------------------------------- */

/* The answer's plaintext: parse as in cleartext. 1 stops the feed once the
 * request is finished (the struct may be closing or idle). */
static int tls_plain(void *data, const char *p, size_t len)
{
	struct gw_httpc *c = data;

	if (is(c, C_IDLE)) {
		close_now(c); /* bytes nobody asked for */
		return 1;
	}
	if (!is(c, C_BUSY)) {
		return 1;
	}
	if (c->in.len + len > MAX_RESPONSE || gw_buf_append(&c->in, p, len) != 0) {
		finish(c, GW_EIO, NULL);
		return 1;
	}
	return parse(c, false) ? 1 : 0;
}

/* Let the caller judge the server of a TLS session: 0 or its error (then
 * c->why says why). */
static int tls_judge(struct gw_httpc *c)
{
	char why[256] = "";
	int rv = 0;

	if (c->tls_check != NULL) {
		rv = c->tls_check(c->tls_check_data, c->tls.ssl, why, sizeof why);
	}
	if (rv != 0) {
		set_why_text(c, "the server was refused", why);
	}
	return rv;
}

/* Handshake done: let the caller judge the server, then send the request. */
static int tls_ready(void *data)
{
	struct gw_httpc *c = data;
	int rv = tls_judge(c);

	if (rv != 0) {
		finish(c, rv, NULL);
		return 1;
	}
	rv = send_request(c);
	if (rv < 0) {
		finish(c, GW_EIO, NULL);
		return 1;
	}
	return rv;
}

static const struct gw_tlsbio_ops tls_ops = {tls_plain, tls_cipher, tls_ready};

/* A session result @rv (from feed or start): go on, or end the request. */
static void tls_result(struct gw_httpc *c, int rv)
{
	if (rv == 0 || rv == 1 || is(c, C_CLOSING)) {
		return;
	}
	if (!is(c, C_BUSY) && !is(c, C_CONNECTING)) {
		close_now(c);
		return;
	}
	if (!c->tls.done) {
		set_why_text(c, "TLS handshake failed", c->tls.why);
		finish(c, rv == GW_ENOMEM ? GW_ENOMEM : GW_EPROTO, NULL);
	} else if (rv == GW_ESHUTDOWN) {
		parse(c, true); /* close_notify: the end of the answer */
	} else {
		set_why_text(c, "TLS", c->tls.why);
		finish(c, GW_EIO, NULL);
	}
}

static void tls_read(struct gw_httpc *c, ssize_t n, const uv_buf_t *buf)
{
	if (n > 0) {
		tls_result(c, gw_tlsbio_feed(&c->tls, buf->base, (size_t)n));
		return;
	}
	if (n == 0) {
		return;
	}
	if (!is(c, C_BUSY) && !is(c, C_CONNECTING)) {
		close_now(c);
	} else if (!c->tls.done) {
		set_why_text(c, "TLS handshake failed",
			     "the server closed the connection (not a TLS peer, or it refused us)");
		finish(c, GW_EPROTO, NULL);
	} else if (n == UV_EOF) {
		parse(c, true);
	} else {
		finish(c, GW_EIO, NULL);
	}
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct gw_httpc *c = s->data;

	if (is(c, C_CLOSING)) {
		return;
	}
	if (c->tls_ctx != NULL) {
		tls_read(c, n, buf);
		return;
	}
	if (is(c, C_IDLE) || is(c, C_LINGER)) {
		if (n != 0) {
			close_now(c); /* the server's FIN, an error, or bytes nobody asked for */
		}
		return;
	}
	if (n > 0) {
		gw_buf_read_commit(&c->in, (size_t)n);
		if (c->in.len > MAX_RESPONSE) {
			finish(c, GW_EIO, NULL);
			return;
		}
		parse(c, false);
		return;
	}
	if (n == UV_EOF) {
		parse(c, true);
	} else if (n < 0) {
		finish(c, GW_EIO, NULL);
	}
}

static void connect_cb(uv_connect_t *req, int status)
{
	struct gw_httpc *c = req->data;

	if (is(c, C_CLOSING)) {
		return;
	}
	if (status == 0) {
		status = uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
	}
	if (status != 0) {
		set_why(c, status);
		finish(c, GW_EAGAIN, NULL); /* nothing was sent: safe to retry */
		return;
	}
	if (c->tls_ctx != NULL) {
		status = gw_tlsbio_init(&c->tls, c->tls_ctx, false, c->sni[0] ? c->sni : NULL,
					&tls_ops, c);
		if (status != 0) {
			finish(c, GW_ENOMEM, NULL);
			return;
		}
		c->tls_up = true;
		tls_result(c, gw_tlsbio_start(&c->tls)); /* our first flight */
		return;
	}
	if (send_request(c) != 0) {
		finish(c, GW_EAGAIN, NULL);
	}
}

static void timer_cb(uv_timer_t *t)
{
	struct gw_httpc *c = t->data;
	finish(c, c->early_err != 0 ? c->early_err : GW_ETIMEOUT, NULL);
}

/* Fail the current request from the loop (never from inside
 * gw_httpc_request). */
static void fail_async(struct gw_httpc *c, int err)
{
	c->early_err = err;
	uv_timer_stop(&c->timer);
	uv_timer_start(&c->timer, timer_cb, 0, 0);
}

int gw_httpc_url_hostport(const char *url, char *out, size_t len)
{
	const char *p = url, *end;

	if (url == NULL) {
		return GW_EINVAL;
	}
	if (strncmp(p, "http://", 7) == 0) {
		p += 7;
	} else if (strncmp(p, "https://", 8) == 0) {
		p += 8; /* the peer channel is cleartext on the same port */
	}
	end = strchr(p, '/');
	if (end == NULL) {
		end = p + strlen(p);
	}
	if (end == p || (size_t)(end - p) >= len) {
		return GW_EINVAL;
	}
	memcpy(out, p, (size_t)(end - p));
	out[end - p] = '\0';
	return 0;
}

/* ---- the pool ------------------------------------------------------------ */

struct gw_httpc_pool *gw_httpc_pool_new(uv_loop_t *loop, unsigned max_idle, unsigned max_idle_per,
					unsigned idle_ms)
{
	struct gw_httpc_pool *p = calloc(1, sizeof *p);

	if (p == NULL) {
		return NULL;
	}
	p->loop = loop;
	gw_list_init(&p->idle);
	p->max_idle = max_idle;
	p->max_idle_per = max_idle_per > 0 ? max_idle_per : max_idle;
	p->idle_ms = idle_ms > 0 ? idle_ms : 1;
	return p;
}

void gw_httpc_pool_close(struct gw_httpc_pool *p)
{
	if (p == NULL) {
		return;
	}
	GW_ASSERT(!p->closing);
	p->closing = true;
	while (!gw_list_empty(&p->idle)) {
		close_now(gw_container_of(p->idle.next, struct gw_httpc, link));
	}
	if (p->n_conns == 0) {
		free(p);
	}
}

void gw_httpc_pool_stats(const struct gw_httpc_pool *p, struct gw_httpc_pool_stats *out)
{
	memset(out, 0, sizeof *out);
	if (p != NULL) {
		out->opened = p->opened;
		out->reused = p->reused;
		out->idle = p->n_idle;
	}
}

/* An idle connection to the same server, context and SNI, taken off the
 * idle list, or NULL. */
static struct gw_httpc *pool_take(struct gw_httpc_pool *p, const char *hostport, SSL_CTX *ctx,
				  const char *sni)
{
	struct gw_list *e;

	for (e = p->idle.next; e != &p->idle; e = e->next) {
		struct gw_httpc *c = gw_container_of(e, struct gw_httpc, link);
		if (key_is(c, hostport, ctx, sni)) {
			gw_list_del(&c->link);
			p->n_idle--;
			uv_timer_stop(&c->timer);
			gw_sm_move(&c->sm, C_BUSY);
			return c;
		}
	}
	return NULL;
}

/* ---- requests ------------------------------------------------------------ */

/* The request's bytes into c->out (emptied first). 0 or GW_ENOMEM. */
static int build_request(struct gw_httpc *c, const char *hostport, const char *method,
			 const char *path, const char *headers, const void *body, size_t len)
{
	int rv;

	gw_buf_consume(&c->out, c->out.len);
	rv = gw_buf_printf(&c->out, "%s %s HTTP/1.1\r\nHost: %s\r\n%sContent-Length: %zu\r\n%s\r\n",
			   method, path, hostport, c->keep ? "" : "Connection: close\r\n", len,
			   headers != NULL ? headers : "");
	if (rv == 0 && len > 0) {
		rv = gw_buf_append(&c->out, body, len);
	}
	return rv;
}

/* Per-request settings from @opts. */
static void take_opts(struct gw_httpc *c, const struct gw_httpc_opts *opts, gw_httpc_cb cb,
		      void *data)
{
	c->cb = cb;
	c->data = data;
	c->tls_check = opts->tls_check;
	c->tls_check_data = opts->tls_check_data;
	c->early_err = 0;
	c->why = opts->why;
	c->why_len = opts->why_len;
	if (c->why != NULL && c->why_len > 0) {
		c->why[0] = '\0';
	}
	gw_buf_consume(&c->in, c->in.len);
	if (opts->timeout_ms > 0) {
		uv_timer_start(&c->timer, timer_cb, opts->timeout_ms, 0);
	}
}

/* Send on an idle connection of the pool (BUSY already). Failures are
 * reported through the callback, as for a new connection. */
static int request_reused(struct gw_httpc *c, const char *hostport, const char *method,
			  const char *path, const char *headers, const void *body, size_t len,
			  const struct gw_httpc_opts *opts, gw_httpc_cb cb, void *data)
{
	int rv;

	c->pool->reused++;
	c->keep = !c->pool->closing;
	take_opts(c, opts, cb, data);
	if (build_request(c, hostport, method, path, headers, body, len) != 0) {
		fail_async(c, GW_ENOMEM);
		return 0;
	}
	if (c->tls_ctx != NULL && (rv = tls_judge(c)) != 0) {
		fail_async(c, rv); /* nothing was sent */
		return 0;
	}
	rv = send_request(c);
	if (rv < 0) {
		fail_async(c, GW_EAGAIN); /* nothing of it was written */
	}
	return 0;
}

int gw_httpc_request(uv_loop_t *loop, const char *hostport, const char *method, const char *path,
		     const char *headers, const void *body, size_t len,
		     const struct gw_httpc_opts *opts, gw_httpc_cb cb, void *data,
		     struct gw_httpc **out)
{
	static const struct gw_httpc_opts no_opts;
	struct gw_httpc_pool *pool;
	struct gw_httpc *c;
	struct gw_addr addr;
	const char *why;
	uv_os_fd_t fd;
	int rv;

	if (gw_addr_parse(hostport, &addr, &why) != 0 || strlen(hostport) >= sizeof c->hostport) {
		return GW_EADDR;
	}
	if (opts == NULL) {
		opts = &no_opts;
	}
	pool = opts->pool != NULL && !opts->pool->closing ? opts->pool : NULL;
	GW_ASSERT(pool == NULL || pool->loop == loop);
	c = pool != NULL ? pool_take(pool, hostport, opts->tls_ctx, opts->tls_sni) : NULL;
	if (c != NULL) {
		if (out != NULL) {
			*out = c;
		}
		return request_reused(c, hostport, method, path, headers, body, len, opts, cb,
				      data);
	}
	c = calloc(1, sizeof *c);
	if (c == NULL) {
		return GW_ENOMEM;
	}
	gw_buf_init(&c->out);
	gw_buf_init(&c->in);
	gw_list_init(&c->link);
	c->keep = pool != NULL;
	if (build_request(c, hostport, method, path, headers, body, len) != 0) {
		gw_buf_close(&c->out);
		free(c);
		return GW_ENOMEM;
	}
	gw_sm_init(&c->sm, &state_conf, C_CONNECTING);
	snprintf(c->hostport, sizeof c->hostport, "%s", hostport);
	if (opts->tls_ctx != NULL) {
		SSL_CTX_up_ref(opts->tls_ctx);
		c->tls_ctx = opts->tls_ctx;
		snprintf(c->sni, sizeof c->sni, "%s", opts->tls_sni != NULL ? opts->tls_sni : "");
	}
	if (pool != NULL) {
		c->pool = pool;
		pool->n_conns++;
		pool->opened++;
	}
	uv_tcp_init(loop, &c->tcp);
	/* A TLS handshake and a request are several small writes: without
	 * this, Nagle holds each for the peer's delayed ACK (40 ms per call). */
	uv_tcp_nodelay(&c->tcp, 1);
	uv_timer_init(loop, &c->timer);
	c->tcp.data = c;
	c->timer.data = c;
	c->open_handles = 2;
	c->connect.data = c;
	take_opts(c, opts, cb, data);
	rv = uv_tcp_connect(&c->connect, &c->tcp, (const struct sockaddr *)&addr.ss, connect_cb);
	if (rv == 0 && uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0) {
		/* node-to-node calls cross the same lossy links as raft */
		(void)gw_addr_peer_sockopts(fd, 1000);
	}
	if (rv != 0) {
		/* Report the failure asynchronously, through the timer. */
		set_why(c, rv);
		fail_async(c, GW_EAGAIN);
	}
	if (out != NULL) {
		*out = c;
	}
	return 0;
}

void gw_httpc_cancel(struct gw_httpc *h)
{
	h->cb = NULL;
	close_now(h);
}
