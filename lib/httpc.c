/* httpc.c: a minimal HTTP/1.1 client for the node-to-node channel (see
 * httpc.h).
 *
 * One request per connection ("Connection: close"): connect, write the
 * request, read until the server closes (or Content-Length bytes of body
 * arrived), parse the status line, Content-Length and X-Apigw-Error, call
 * back once; then give the server up to 1 s to close first. A timer bounds
 * the whole exchange when the caller gives a deadline. Failure modes: a
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
#include "lib/tlsbio.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_RESPONSE (64u << 20)

struct gw_httpc {
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_connect_t connect;
	uv_write_t write;
	struct gw_buf out; /* request bytes */
	struct gw_buf in;  /* response bytes */
	gw_httpc_cb cb;    /* NULL once called or cancelled */
	void *data;
	int open_handles; /* freed when it reaches 0 */
	bool closing;
	bool answered;  /* complete response reported; waiting for the server's FIN */
	int early_err;  /* connect failed at once: reported by the timer */
	char *why;      /* caller's buffer for a failure's cause, or NULL */
	size_t why_len; /* bytes at @why */
	/* TLS (all unset for cleartext) */
	SSL_CTX *tls_ctx; /* referenced; NULL = cleartext */
	char sni[256];
	gw_httpc_tls_check_cb tls_check;
	void *tls_check_data;
	struct gw_tlsbio tls; /* set up once connected */
	bool tls_up;          /* @tls initialised */
	char rbuf[16384];     /* ciphertext read from the socket */
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

static void handle_closed(uv_handle_t *h)
{
	struct gw_httpc *c = h->data;

	if (--c->open_handles == 0) {
		if (c->tls_up) {
			gw_tlsbio_free(&c->tls);
		}
		SSL_CTX_free(c->tls_ctx);
		gw_buf_close(&c->out);
		gw_buf_close(&c->in);
		free(c);
	}
}

static void close_now(struct gw_httpc *c)
{
	if (!c->closing) {
		c->closing = true;
		uv_close((uv_handle_t *)&c->tcp, handle_closed);
		uv_close((uv_handle_t *)&c->timer, handle_closed);
	}
}

static void linger_cb(uv_timer_t *t)
{
	close_now(t->data);
}

/* A complete answer: report it now, but let the server close first (it
 * does after a "Connection: close" request), so TIME_WAIT lands on the
 * server and a busy follower does not run out of ephemeral ports. */
static void finish_linger(struct gw_httpc *c, const struct gw_httpc_resp *resp)
{
	gw_httpc_cb cb = c->cb;

	c->cb = NULL;
	c->answered = true;
	uv_timer_stop(&c->timer);
	uv_timer_start(&c->timer, linger_cb, 1000, 0);
	if (cb != NULL) {
		cb(c->data, 0, resp);
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
		finish_linger(c, &resp);
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

/* Copy the cause of a TLS failure for the caller. */
static void set_why_text(struct gw_httpc *c, const char *what, const char *detail)
{
	if (c->why != NULL && c->why_len > 0) {
		snprintf(c->why, c->why_len, "%s%s%s", what, detail[0] ? ": " : "", detail);
	}
}

/* ---- TLS: the session's callbacks ---------------------------------------- */

static void tls_write_cb(uv_write_t *w, int status)
{
	struct cwrite *cw = (struct cwrite *)w;
	struct gw_httpc *c = cw->c;

	free(cw);
	if (!c->closing && status != 0 && !c->answered) {
		finish(c, GW_EIO, NULL);
	}
}

/* Ciphertext for the server. */
static int tls_cipher(void *data, const char *p, size_t len)
{
	struct gw_httpc *c = data;
	struct cwrite *cw;
	uv_buf_t b;

	if (c->closing) {
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
	return 0;
}

/* The answer's plaintext: parse as in cleartext. 1 stops the feed once the
 * request is finished (the struct may be closing). */
static int tls_plain(void *data, const char *p, size_t len)
{
	struct gw_httpc *c = data;

	if (c->closing || c->answered) {
		return 1;
	}
	if (c->in.len + len > MAX_RESPONSE || gw_buf_append(&c->in, p, len) != 0) {
		finish(c, GW_EIO, NULL);
		return 1;
	}
	return parse(c, false) ? 1 : 0;
}

/* Handshake done: let the caller judge the server, then send the request. */
static int tls_ready(void *data)
{
	struct gw_httpc *c = data;
	char why[256] = "";
	int rv = 0;

	if (c->tls_check != NULL) {
		rv = c->tls_check(c->tls_check_data, c->tls.ssl, why, sizeof why);
	}
	if (rv != 0) {
		set_why_text(c, "the server was refused", why);
		finish(c, rv, NULL);
		return 1;
	}
	rv = gw_tlsbio_write(&c->tls, c->out.data, c->out.len);
	if (rv < 0) {
		set_why_text(c, "TLS write", c->tls.why);
		finish(c, GW_EIO, NULL);
		return 1;
	}
	return rv;
}

static const struct gw_tlsbio_ops tls_ops = {tls_plain, tls_cipher, tls_ready};

/* A session result @rv (from feed or start): go on, or end the request. */
static void tls_result(struct gw_httpc *c, int rv)
{
	if (rv == 0 || rv == 1 || c->closing) {
		return;
	}
	if (c->answered) {
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
	if (c->answered) {
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
	(void)buf;

	if (c->closing) {
		return;
	}
	if (c->tls_ctx != NULL) {
		tls_read(c, n, buf);
		return;
	}
	if (c->answered) {
		if (n < 0) {
			close_now(c); /* the server's FIN (or an error): done */
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

static void write_cb(uv_write_t *w, int status)
{
	struct gw_httpc *c = w->data;

	if (c->closing) {
		return;
	}
	if (status != 0) {
		finish(c, GW_EIO, NULL);
	}
}

static void connect_cb(uv_connect_t *req, int status)
{
	struct gw_httpc *c = req->data;
	uv_buf_t b;

	if (c->closing) {
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
	b = uv_buf_init(c->out.data, (unsigned)c->out.len);
	c->write.data = c;
	status = uv_write(&c->write, (uv_stream_t *)&c->tcp, &b, 1, write_cb);
	if (status != 0) {
		set_why(c, status);
		finish(c, GW_EAGAIN, NULL);
	}
}

static void timer_cb(uv_timer_t *t)
{
	struct gw_httpc *c = t->data;
	finish(c, c->early_err != 0 ? c->early_err : GW_ETIMEOUT, NULL);
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

int gw_httpc_request(uv_loop_t *loop, const char *hostport, const char *method, const char *path,
		     const char *headers, const void *body, size_t len,
		     const struct gw_httpc_opts *opts, gw_httpc_cb cb, void *data,
		     struct gw_httpc **out)
{
	static const struct gw_httpc_opts no_opts;
	struct gw_httpc *c;
	struct gw_addr addr;
	const char *why;
	int rv;

	if (gw_addr_parse(hostport, &addr, &why) != 0) {
		return GW_EADDR;
	}
	c = calloc(1, sizeof *c);
	if (c == NULL) {
		return GW_ENOMEM;
	}
	gw_buf_init(&c->out);
	gw_buf_init(&c->in);
	rv = gw_buf_printf(&c->out,
			   "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n"
			   "Content-Length: %zu\r\n%s\r\n",
			   method, path, hostport, len, headers != NULL ? headers : "");
	if (rv == 0 && len > 0) {
		rv = gw_buf_append(&c->out, body, len);
	}
	if (rv != 0) {
		gw_buf_close(&c->out);
		free(c);
		return GW_ENOMEM;
	}
	if (opts == NULL) {
		opts = &no_opts;
	}
	c->cb = cb;
	c->data = data;
	if (opts->tls_ctx != NULL) {
		SSL_CTX_up_ref(opts->tls_ctx);
		c->tls_ctx = opts->tls_ctx;
		snprintf(c->sni, sizeof c->sni, "%s", opts->tls_sni != NULL ? opts->tls_sni : "");
		c->tls_check = opts->tls_check;
		c->tls_check_data = opts->tls_check_data;
	}
	c->why = opts->why;
	c->why_len = opts->why_len;
	if (c->why != NULL && c->why_len > 0) {
		c->why[0] = '\0';
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
	if (opts->timeout_ms > 0) {
		uv_timer_start(&c->timer, timer_cb, opts->timeout_ms, 0);
	}
	rv = uv_tcp_connect(&c->connect, &c->tcp, (const struct sockaddr *)&addr.ss, connect_cb);
	if (rv != 0) {
		/* Report the failure asynchronously, through the timer. */
		set_why(c, rv);
		c->early_err = GW_EAGAIN;
		uv_timer_start(&c->timer, timer_cb, 0, 0);
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
