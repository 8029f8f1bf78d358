/* h2.c: HTTP/2 client connections of the proxy (nghttp2 server sessions).
 *
 * Happy path: a connection that negotiated ALPN h2 (tls.c) or opened with
 * the client preface on a plain listener (--proxy-h2c) gets a session and
 * sends its SETTINGS (100 concurrent streams, a header list bound equal to
 * HTTP/1's, a 64 KiB stream window). Each request stream builds a struct
 * gw_proxy__req as conn.c does for HTTP/1 (the pseudo-headers become the
 * method, the target and the Host header; cookies are joined) and goes
 * through gw_proxy__req_headers_done: the same router, plugins, balancer
 * and pools. Its DATA is the request body (chunked upstream when the client
 * gave no content-length). The response comes back through
 * gw_proxy__h2_head/_body/_end into a per-stream buffer that nghttp2 pulls
 * from as flow control allows; frames are serialized when the worker
 * uncorks (or from the connection's timer when nothing is corked), never
 * inside the caller's stack, and a stream's request is freed only when
 * nghttp2 closes the stream.
 *
 * Bounds: a stream stops returning request window once 64 KiB of its body
 * wait for the upstream (the window bounds what a client may still send);
 * a stream's upstream stops being read while 64 KiB of response wait on
 * the stream or 1 MiB on the connection. Defences: resets by the client
 * are counted per second and past RST_BURST the connection ends with
 * GOAWAY ENHANCE_YOUR_CALM (CVE-2023-44487); CONTINUATION frames per header
 * block, SETTINGS entries and queued SETTINGS/PING acknowledgements are
 * bounded (nghttp2 options; bookworm's 1.52.0-1+deb12u3 has the upstream
 * fixes backported) and a header block counts against max_header_bytes as
 * HTTP/1's does; max_requests streams per connection, then GOAWAY.
 *
 * Failure modes: a protocol error or a flood makes nghttp2 fail the
 * connection (GOAWAY when it can still be written, then close); a stream
 * error resets that stream only; a client that goes away aborts every
 * stream (and their upstream exchanges). Timeouts: idle_timeout_ms without
 * streams (GOAWAY, close), body_timeout_ms without a byte while a stream
 * waits for its request body, send_timeout_ms without write progress on
 * the connection, and per stream: a stream whose window the client keeps
 * shut, so that nghttp2 has taken nothing of its pending response for
 * send_timeout_ms, is reset (RST_STREAM CANCEL) and its upstream exchange
 * aborted, while the other streams go on.
 * Drain: GOAWAY, new streams refused, close once the last stream ends.
 * Worker thread only. */
#include "config.h"

#include "lib/err.h"
#include "lib/h2out.h"
#include "lib/log.h"
#include "lib/prom.h"
#include "lib/ratelimit.h"
#include "proxy/conn_int.h"

#include <ctype.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STREAMS   100
#define STREAM_WINDOW 65535u        /* request bytes a stream may send unacknowledged */
#define CONN_WINDOW   (1024 * 1024) /* and all streams of a connection */
#define OB_HWM        (64 * 1024)   /* response bytes held per stream: pause upstream */
#define OB_LWM        (16 * 1024)   /* resume below */
#define CONN_HWM      (1024 * 1024) /* response bytes held per connection */
#define CONN_LWM      (512 * 1024)  /* resume below */
#define IB_HWM        (64 * 1024)   /* request body queued upstream: hold the window */
#define IB_LWM        (16 * 1024)   /* return it below */
#define WRITE_MAX     (64 * 1024)   /* serialized per flush before the socket takes it */
#define RST_WINDOW_MS 1000          /* resets by the client are counted per second */
#define RST_BURST     200           /* more in one window: ENHANCE_YOUR_CALM */
#define MAX_CONT      8             /* CONTINUATION frames per header block */

static const char PREFACE[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/* One request stream. */
struct gw_proxy__h2s {
	struct h2conn *c;
	struct gw_proxy__req *r; /* owned; freed when nghttp2 closes the stream */
	int32_t id;
	struct gw_list link;  /* in c->streams */
	struct gw_buf ob;     /* response body not yet taken by nghttp2 */
	size_t ob_off;        /* taken so far */
	struct gw_buf cookie; /* cookie crumbs, joined with "; " */
	const char *authority;
	size_t hdr_bytes;  /* of the header block, HPACK-decoded (+32 per field) */
	size_t unconsumed; /* request bytes whose window is held back */
	int err_status;    /* decided while the headers arrived: the answer */
	uint64_t sent_at;  /* loop ms: nghttp2 last took ob bytes, or ob filled */
	char status[8];    /* of the response head (3 digits) */
	bool have_method, have_len, eof, deferred, nodata, held, up_paused, reset;
};

struct h2conn {
	nghttp2_session *ng;
	struct gw_proxy__dconn *dc;
	struct gw_list streams;
	unsigned n_streams;
	unsigned n_total;  /* streams opened on this connection */
	unsigned n_paused; /* streams whose upstream is paused for the connection */
	size_t buffered;   /* response bytes in every stream's ob */
	struct gw_ratelimit rst;
	uint64_t last_read, last_write, last_active;
	int depth;       /* > 0 inside nghttp2_session_mem_recv */
	unsigned n_cont; /* CONTINUATION frames of the header block being read */
	bool kick;       /* frames to serialize: flush from the timer */
	bool goaway;     /* GOAWAY sent (drain, max_requests): close when idle */
	bool dead;       /* the connection is closing: no more nghttp2 calls */
};

static void h2_timer_cb(uv_timer_t *t);

/* ---- scheduling */

/* Have the connection's frames serialized after the current callback:
 * at uncork when the worker is corked, else from the timer. */
static void kick(struct h2conn *c)
{
	struct gw_proxy__dconn *dc = c->dc;
	struct gw_proxy__worker *w = dc->w;

	if (c->dead || dc->closing || dc->shutting) {
		return;
	}
	if (w->cork > 0) {
		if (!gw_list_linked(&dc->flink)) {
			gw_list_add_tail(&w->flush, &dc->flink);
		}
		return;
	}
	if (!c->kick) {
		c->kick = true;
		uv_timer_start(&dc->timer, h2_timer_cb, 0, 0);
	}
}

/* True when the client keeps @s's flow-control window shut: its response
 * waits for the client alone (a stream that only waits for its turn on a
 * slow socket is the connection's send timeout's business). */
static bool window_shut(const struct h2conn *c, const struct gw_proxy__h2s *s)
{
	return nghttp2_session_get_stream_remote_window_size(c->ng, s->id) <= 0;
}

/* The connection's nearest deadline (loop ms; UINT64_MAX: none): idle
 * without streams, a request body that stalls, answers the client does not
 * take (queued on the socket or held by its flow control). */
static uint64_t deadline(const struct h2conn *c)
{
	const struct gw_proxy__dconn *dc = c->dc;
	const struct gw_proxy_opts *o = &dc->w->p->opts;
	uint64_t due = UINT64_MAX;
	struct gw_list *it;

	if (c->n_streams == 0) {
		due = c->last_active + o->idle_timeout_ms;
	}
	gw_list_foreach(it, &c->streams)
	{
		const struct gw_proxy__h2s *s = gw_container_of(it, struct gw_proxy__h2s, link);
		if (!s->r->body_done && !s->held && !s->reset &&
		    c->last_read + o->body_timeout_ms < due) {
			due = c->last_read + o->body_timeout_ms;
		}
		if (!s->reset && s->ob.len > s->ob_off && s->sent_at + o->send_timeout_ms < due &&
		    window_shut(c, s)) {
			due = s->sent_at + o->send_timeout_ms;
		}
	}
	if ((dc->wq_bytes > 0 || c->buffered > 0) && c->last_write + o->send_timeout_ms < due) {
		due = c->last_write + o->send_timeout_ms;
	}
	return due;
}

/* Arm the connection's timer for its nearest deadline (lazily: a timer
 * due earlier fires, finds nothing due and re-arms). */
static void arm(struct h2conn *c)
{
	struct gw_proxy__dconn *dc = c->dc;
	uint64_t now = uv_now(&dc->w->loop), due;

	if (c->kick || c->dead || dc->closing || dc->shutting) {
		return;
	}
	due = deadline(c);
	if (due == UINT64_MAX) {
		uv_timer_stop(&dc->timer);
		return;
	}
	due = due > now ? due - now : 0;
	if (!uv_is_active((uv_handle_t *)&dc->timer) || uv_timer_get_due_in(&dc->timer) > due) {
		uv_timer_start(&dc->timer, h2_timer_cb, due, 0);
	}
}

/* ---- streams */

static struct gw_proxy__h2s *stream_of(struct h2conn *c, int32_t id)
{
	return nghttp2_session_get_stream_user_data(c->ng, id);
}

/* Free @s and its request (nghttp2 closed the stream, or the connection
 * closes). */
static void stream_free(struct h2conn *c, struct gw_proxy__h2s *s)
{
	struct gw_proxy__req *r = s->r;

	gw_list_del(&s->link);
	c->n_streams--;
	c->buffered -= s->ob.len - s->ob_off;
	if (s->up_paused) {
		c->n_paused--;
	}
	c->last_active = uv_now(&c->dc->w->loop);
	gw_proxy__req_free(r); /* s outlives it: the log phase may look at r->h2 */
	gw_buf_close(&s->ob);
	gw_buf_close(&s->cookie);
	free(s);
}

/* Resume @s's upstream once the stream and the connection hold little. */
static void maybe_resume(struct h2conn *c, struct gw_proxy__h2s *s)
{
	if (s->up_paused && s->ob.len - s->ob_off < OB_LWM && c->buffered < CONN_LWM) {
		s->up_paused = false;
		c->n_paused--;
		gw_proxy__req_client_drained(s->r);
	}
}

static ssize_t data_read(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t length,
			 uint32_t *flags, nghttp2_data_source *src, void *ud)
{
	struct gw_proxy__h2s *s = src->ptr;
	struct h2conn *c = ud;
	size_t avail = s->ob.len - s->ob_off, k;

	(void)ng;
	(void)id;
	if (avail == 0) {
		if (s->eof) {
			*flags |= NGHTTP2_DATA_FLAG_EOF;
			return 0;
		}
		s->deferred = true;
		return NGHTTP2_ERR_DEFERRED;
	}
	k = avail < length ? avail : length;
	s->sent_at = uv_now(&c->dc->w->loop);
	memcpy(buf, s->ob.data + s->ob_off, k);
	s->ob_off += k;
	c->buffered -= k;
	if (s->ob_off == s->ob.len) {
		s->ob.len = 0;
		s->ob_off = 0;
		if (s->eof) {
			*flags |= NGHTTP2_DATA_FLAG_EOF;
		}
	} else if (s->ob_off > s->ob.cap / 2) {
		memmove(s->ob.data, s->ob.data + s->ob_off, s->ob.len - s->ob_off);
		s->ob.len -= s->ob_off;
		s->ob_off = 0;
	}
	maybe_resume(c, s);
	return (ssize_t)k;
}

/* nghttp2 may pull from @s again. */
static void stream_wake(struct h2conn *c, struct gw_proxy__h2s *s)
{
	if (s->deferred && !c->dead) {
		s->deferred = false;
		nghttp2_session_resume_data(c->ng, s->id);
	}
	kick(c);
}

/* Lower-case copy of @p in @r's arena (HTTP/2 field names are lower-case;
 * upstreams send any case). NULL when out of memory. */
static char *lower_dup(struct gw_proxy__req *r, const char *p, size_t n)
{
	char *d = gw_arena_strndup(&r->arena, p, n);
	for (size_t i = 0; d != NULL && i < n; i++) {
		d[i] = (char)tolower((unsigned char)d[i]);
	}
	return d;
}

#define NV(n, v, vl)                                                                               \
	{                                                                                          \
		(uint8_t *)(n), (uint8_t *)(v), strlen(n), (vl), NGHTTP2_NV_FLAG_NONE              \
	}

/* Submit the head of @s: @nv (@n fields, [0] is :status) and, unless
 * @nobody, a body pulled from s->ob. */
static int submit_head(struct gw_proxy__h2s *s, nghttp2_nv *nv, size_t n, bool nobody)
{
	struct h2conn *c = s->c;
	nghttp2_data_provider dp;
	int rv;

	if (c->dead || s->reset) {
		return 0;
	}
	dp.source.ptr = s;
	dp.read_callback = data_read;
	s->nodata = nobody;
	rv = nghttp2_submit_response(c->ng, s->id, nv, n, nobody ? NULL : &dp);
	if (rv != 0) {
		gw_debugf("proxy", "http/2 response on stream %d: %s", s->id, nghttp2_strerror(rv));
		return rv == NGHTTP2_ERR_NOMEM ? GW_ENOMEM : GW_EPROTO;
	}
	kick(c);
	return 0;
}

int gw_proxy__h2_head(struct gw_proxy__req *r, int status, const char *clen, bool nobody)
{
	struct gw_proxy__h2s *s = r->h2;
	nghttp2_nv *nv;
	const char *conn = NULL;
	size_t n = 0;

	for (size_t i = 0; i < r->rh.n; i++) {
		if (gw_proxy__hdr_is(&r->rh.v[i], "connection")) {
			conn = r->rh.v[i].value;
		}
	}
	if (conn != NULL && strcasecmp(conn, "keep-alive") == 0) {
		conn = NULL;
	}
	nv = gw_arena_take(&r->arena, (r->rh.n + 2) * sizeof *nv);
	if (nv == NULL) {
		return GW_ENOMEM;
	}
	snprintf(s->status, sizeof s->status, "%03u", (unsigned)status % 1000u);
	nv[n++] = (nghttp2_nv)NV(":status", s->status, 3);
	for (size_t i = 0; i < r->rh.n; i++) {
		const struct gw_proxy__hdr *h = &r->rh.v[i];
		char *name;
		if (gw_proxy__resp_skip_header(h, conn)) {
			continue;
		}
		name = lower_dup(r, h->name, h->name_len);
		if (name == NULL) {
			return GW_ENOMEM;
		}
		nv[n++] = (nghttp2_nv){(uint8_t *)name, (uint8_t *)h->value, h->name_len,
				       h->value_len, NGHTTP2_NV_FLAG_NONE};
	}
	if (clen != NULL) {
		char *v = gw_arena_strndup(&r->arena, clen, strlen(clen));
		if (v == NULL) {
			return GW_ENOMEM;
		}
		nv[n++] = (nghttp2_nv)NV("content-length", v, strlen(v));
	}
	return submit_head(s, nv, n, nobody);
}

void gw_proxy__h2_body(struct gw_proxy__req *r, const char *p, size_t n)
{
	struct gw_proxy__h2s *s = r->h2;
	struct h2conn *c;

	if (s == NULL || s->reset || s->nodata || n == 0) {
		return;
	}
	c = s->c;
	if (s->ob.len == s->ob_off) {
		s->sent_at = uv_now(&c->dc->w->loop); /* the stream's send clock starts */
	}
	if (gw_buf_append(&s->ob, p, n) != 0) {
		gw_proxy__h2_cut(r);
		return;
	}
	r->bytes_out += n;
	c->buffered += n;
	gw_proxy__note_queued(s->ob.len - s->ob_off);
	if (r->uc != NULL && !r->uc->bp_paused &&
	    (s->ob.len - s->ob_off > OB_HWM || c->buffered > CONN_HWM)) {
		r->uc->bp_paused = true;
		gw_proxy__uconn_update_reading(r->uc);
		if (!s->up_paused) {
			s->up_paused = true;
			c->n_paused++;
		}
	}
	stream_wake(c, s);
}

void gw_proxy__h2_end(struct gw_proxy__req *r)
{
	struct gw_proxy__h2s *s = r->h2;

	if (s == NULL) {
		return;
	}
	r->resp_done = true;
	s->eof = true;
	stream_wake(s->c, s);
}

void gw_proxy__h2_respond(struct gw_proxy__req *r, int status, const char *ctype, const char *body)
{
	struct gw_proxy__h2s *s = r->h2;
	char html[512], len[24];
	nghttp2_nv *nv;
	size_t n = 0, blen;

	if (s == NULL || s->reset) {
		return;
	}
	if (r->resp_started) {
		gw_proxy__h2_cut(r); /* too late for a status */
		return;
	}
	if (body == NULL) {
		gw_proxy__error_page(status, html, sizeof html);
		body = html;
		ctype = "text/html; charset=utf-8";
	}
	blen = strlen(body);
	nv = gw_arena_take(&r->arena, (r->ph_n + 4) * sizeof *nv);
	if (nv == NULL) {
		gw_proxy__h2_cut(r);
		return;
	}
	snprintf(s->status, sizeof s->status, "%03u", (unsigned)status % 1000u);
	snprintf(len, sizeof len, "%zu", blen);
	nv[n++] = (nghttp2_nv)NV(":status", s->status, 3);
	nv[n++] = (nghttp2_nv)NV("content-type", ctype ? ctype : "text/plain; charset=utf-8",
				 strlen(ctype ? ctype : "text/plain; charset=utf-8"));
	nv[n++] = (nghttp2_nv)NV("content-length", len, strlen(len));
	nv[n++] = (nghttp2_nv)NV("server", "apigw", 5);
	for (size_t i = 0; i < r->ph_n; i++) { /* added by plugins */
		char *name = lower_dup(r, r->ph[i].name, r->ph[i].name_len);
		if (name == NULL) {
			break;
		}
		nv[n++] = (nghttp2_nv){(uint8_t *)name, (uint8_t *)r->ph[i].value,
				       r->ph[i].name_len, r->ph[i].value_len, NGHTTP2_NV_FLAG_NONE};
	}
	r->resp_started = true;
	r->resp_done = true;
	r->discard = true;
	r->status = status;
	if (r->method != HTTP_HEAD) {
		r->bytes_out += blen;
		if (gw_buf_append(&s->ob, body, blen) != 0) {
			gw_proxy__h2_cut(r);
			return;
		}
		s->c->buffered += blen;
	}
	s->eof = true;
	if (submit_head(s, nv, n, r->method == HTTP_HEAD) != 0) {
		gw_proxy__h2_cut(r);
	}
}

void gw_proxy__h2_cut(struct gw_proxy__req *r)
{
	struct gw_proxy__h2s *s = r->h2;

	if (s == NULL || s->reset) {
		return;
	}
	s->reset = true;
	r->discard = true;
	r->resp_done = true;
	gw_proxy__req_detach_uc(r, true);
	if (!s->c->dead) {
		GW_PROXY__COUNT(r->dc->w, h2_rst_proxy);
		nghttp2_submit_rst_stream(s->c->ng, NGHTTP2_FLAG_NONE, s->id,
					  NGHTTP2_INTERNAL_ERROR);
		kick(s->c);
	}
}

void gw_proxy__h2_body_queued(struct gw_proxy__req *r, size_t queued)
{
	struct gw_proxy__h2s *s = r->h2;

	if (s == NULL) {
		return;
	}
	if (!s->held && queued > IB_HWM) {
		s->held = true;
	} else if (s->held && queued < IB_LWM) {
		s->held = false;
		if (s->unconsumed > 0 && !s->c->dead) {
			nghttp2_session_consume(s->c->ng, s->id, s->unconsumed);
			s->unconsumed = 0;
			kick(s->c); /* WINDOW_UPDATE */
		}
	}
}

/* ---- nghttp2 callbacks */

static int on_begin_headers(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
	struct h2conn *c = ud;
	struct gw_proxy__dconn *dc = c->dc;
	struct gw_proxy__h2s *s;

	if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
		return 0;
	}
	if (dc->w->stopping || c->goaway) {
		nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
					  NGHTTP2_REFUSED_STREAM);
		return 0;
	}
	s = calloc(1, sizeof *s);
	if (s == NULL || (s->r = gw_proxy__req_new(dc)) == NULL) {
		free(s);
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets the stream */
	}
	s->c = c;
	s->id = frame->hd.stream_id;
	s->r->h2 = s;
	gw_buf_init(&s->ob);
	gw_buf_init(&s->cookie);
	gw_list_add_tail(&c->streams, &s->link);
	c->n_streams++;
	c->n_total++;
	GW_PROXY__COUNT(dc->w, h2_streams);
	gw_proxy__ops_req_begin(s->r);
	nghttp2_session_set_stream_user_data(ng, s->id, s);
	if (c->n_total >= dc->w->p->opts.max_requests && !c->goaway) {
		/* this one is the last: as HTTP/1's keepalive_requests */
		c->goaway = true;
		nghttp2_submit_goaway(ng, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_NO_ERROR, NULL, 0);
	}
	return 0;
}

static const char *const methods[] = {
#define XX(num, name, string) [num] = #string,
    HTTP_METHOD_MAP(XX)
#undef XX
};

static int method_of(const uint8_t *v, size_t n)
{
	for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
		if (methods[i] != NULL && strlen(methods[i]) == n &&
		    memcmp(methods[i], v, n) == 0) {
			return (int)i;
		}
	}
	return -1;
}

/* A pseudo-header of the request. */
static void pseudo(struct gw_proxy__h2s *s, const uint8_t *name, size_t nl, const uint8_t *v,
		   size_t vl)
{
	struct gw_proxy__req *r = s->r;

	if (nl == 7 && memcmp(name, ":method", 7) == 0) {
		int m = method_of(v, vl);
		if (m < 0) {
			s->err_status = 405;
		} else if (m == HTTP_CONNECT) {
			s->err_status = 405;
		} else {
			r->method = m;
			s->have_method = true;
		}
	} else if (nl == 5 && memcmp(name, ":path", 5) == 0) {
		if (vl > r->dc->w->p->opts.max_uri_bytes) {
			s->err_status = 414;
		} else if (gw_buf_append(&r->url, v, vl) != 0) {
			s->err_status = 503;
		}
	} else if (nl == 10 && memcmp(name, ":authority", 10) == 0) {
		s->authority = gw_arena_strndup(&r->arena, (const char *)v, vl);
		if (s->authority == NULL) {
			s->err_status = 503;
		}
	}
	/* :scheme is not used: the connection says http or https */
}

/* Add header @name: @v to @r's collected headers. 0 or the status. */
static int add_header(struct gw_proxy__req *r, const char *name, size_t nl, const char *v,
		      size_t vl)
{
	int rv = gw_proxy__hc_field(&r->hc, &r->arena, name, nl);
	if (rv == 0) {
		rv = gw_proxy__hc_value(&r->hc, v, vl);
	}
	if (rv != 0) {
		return r->hc.n >= GW_PROXY__MAX_HEADERS ? 431 : 503;
	}
	return 0;
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name,
		     size_t nl, const uint8_t *v, size_t vl, uint8_t flags, void *ud)
{
	struct h2conn *c = ud;
	struct gw_proxy__h2s *s = stream_of(c, frame->hd.stream_id);
	struct gw_proxy__req *r;
	int st;

	(void)ng;
	(void)flags;
	if (s == NULL || frame->hd.type != NGHTTP2_HEADERS) {
		return 0;
	}
	r = s->r;
	s->hdr_bytes += nl + vl + 32;
	if (s->hdr_bytes > c->dc->w->p->opts.max_header_bytes) {
		s->err_status = 431; /* trailers too: they are counted, then dropped */
		return 0;
	}
	if (s->err_status != 0 || frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
		return 0;
	}
	if (nl > 0 && name[0] == ':') {
		pseudo(s, name, nl, v, vl);
		return 0;
	}
	if (nl == 6 && memcmp(name, "cookie", 6) == 0) {
		if ((s->cookie.len > 0 && gw_buf_append(&s->cookie, "; ", 2) != 0) ||
		    gw_buf_append(&s->cookie, v, vl) != 0) {
			s->err_status = 503;
		}
		return 0;
	}
	if (nl == 14 && memcmp(name, "content-length", 14) == 0) {
		s->have_len = true;
	}
	st = add_header(r, (const char *)name, nl, (const char *)v, vl);
	if (st != 0) {
		s->err_status = st;
	}
	return 0;
}

/* The request's headers are complete: check, route, run (or answer the
 * error found while they arrived). */
static void start_request(struct h2conn *c, struct gw_proxy__h2s *s, bool end_stream)
{
	struct gw_proxy__req *r = s->r;
	struct gw_proxy__dconn *dc = c->dc;
	bool has_host = false;
	int st = s->err_status;

	for (size_t i = 0; st == 0 && i < r->hc.n; i++) {
		has_host = has_host || gw_proxy__hdr_is(&r->hc.v[i], "host");
	}
	if (st == 0 && !has_host && s->authority != NULL) {
		st = add_header(r, "host", 4, s->authority, strlen(s->authority));
	}
	if (st == 0 && s->cookie.len > 0) {
		st = add_header(r, "cookie", 6, s->cookie.data, s->cookie.len);
	}
	if (st == 0 && gw_proxy__hc_flush(&r->hc, &r->arena) != 0) {
		st = 503;
	}
	if (st == 0 && (!s->have_method || r->url.len == 0)) {
		st = 400;
	}
	r->http_minor = 1;
	r->keepalive = true;
	/* a body of unknown length goes upstream chunked */
	r->chunked_in = !end_stream && !s->have_len;
	r->headers_done = true;
	if (st != 0) {
		gw_proxy__ops_req_head(r);
		gw_proxy__h2_respond(r, st, NULL, NULL);
		return;
	}
	dc->err_status = 0;
	gw_proxy__req_headers_done(r);
	if (dc->err_status != 0) { /* refused by the checks of reqhead.c */
		st = dc->err_status;
		dc->err_status = 0;
		gw_proxy__h2_respond(r, st, NULL, NULL);
	}
}

/* The client ends its request body (END_STREAM on DATA or HEADERS). */
static void body_end(struct gw_proxy__h2s *s)
{
	struct gw_proxy__req *r = s->r;

	if (r->body_done) {
		return;
	}
	r->body_done = true;
	gw_proxy__req_body_end(r);
}

/* One more reset by the client: past RST_BURST a second, GOAWAY. */
static void count_reset(struct h2conn *c)
{
	struct gw_proxy__dconn *dc = c->dc;

	GW_PROXY__COUNT(dc->w, h2_rst_client);
	if (!gw_ratelimit_allow(&c->rst, uv_now(&dc->w->loop), NULL) && !c->goaway) {
		c->goaway = true;
		GW_PROXY__COUNT(dc->w, h2_calm);
		gw_infof("proxy", "%s: more than %d HTTP/2 stream resets in %d ms: GOAWAY",
			 dc->peer_ip, RST_BURST, RST_WINDOW_MS);
		nghttp2_session_terminate_session(c->ng, NGHTTP2_ENHANCE_YOUR_CALM);
	}
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
	struct h2conn *c = ud;
	struct gw_proxy__h2s *s = stream_of(c, frame->hd.stream_id);
	bool end = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;

	(void)ng;
	switch (frame->hd.type) {
	case NGHTTP2_HEADERS:
		if (s == NULL) {
			return 0;
		}
		if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
			start_request(c, s, end);
		}
		if (end && !s->r->body_done) {
			body_end(s); /* after the request, or its trailers (dropped) */
		}
		return 0;
	case NGHTTP2_DATA:
		if (s != NULL && end) {
			body_end(s);
		}
		return 0;
	case NGHTTP2_RST_STREAM:
		count_reset(c);
		return 0;
	default:
		return 0;
	}
}

static int on_begin_frame(nghttp2_session *ng, const nghttp2_frame_hd *hd, void *ud)
{
	struct h2conn *c = ud;

	(void)ng;
	/* CONTINUATION flood: nghttp2 bounds these too (max_continuations,
	 * backported to bookworm's 1.52); this bound does not depend on it */
	if (hd->type == NGHTTP2_HEADERS || hd->type == NGHTTP2_PUSH_PROMISE) {
		c->n_cont = 0;
	} else if (hd->type == NGHTTP2_CONTINUATION && ++c->n_cont > MAX_CONT) {
		return NGHTTP2_ERR_CALLBACK_FAILURE; /* fails the connection */
	}
	return 0;
}

static int on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data,
			 size_t len, void *ud)
{
	struct h2conn *c = ud;
	struct gw_proxy__h2s *s = stream_of(c, id);
	struct gw_proxy__req *r;
	uint64_t max = c->dc->w->p->opts.max_body_bytes;

	(void)flags;
	if (s == NULL || s->reset) {
		nghttp2_session_consume(ng, id, len);
		return 0;
	}
	r = s->r;
	r->body_bytes += len;
	if (max != 0 && r->body_bytes > max && !r->discard) {
		gw_proxy__h2_respond(r, 413, NULL, NULL);
	}
	if (r->discard || r->resp_done || !r->headers_done) {
		nghttp2_session_consume(ng, id, len);
		return 0;
	}
	gw_proxy__req_body(r, (const char *)data, len);
	if (s->held) {
		s->unconsumed += len; /* returned when the upstream took the body */
	} else {
		nghttp2_session_consume(ng, id, len);
	}
	return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t code, void *ud)
{
	struct h2conn *c = ud;
	struct gw_proxy__h2s *s = stream_of(c, id);

	if (s == NULL) {
		return 0;
	}
	nghttp2_session_set_stream_user_data(ng, id, NULL);
	if (code != NGHTTP2_NO_ERROR && !s->r->resp_done) {
		gw_debugf("proxy", "%s: http/2 stream %d closed: %s", c->dc->peer_ip, id,
			  nghttp2_http2_strerror(code));
	}
	stream_free(c, s);
	return 0;
}

static int on_frame_send(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
	struct h2conn *c = ud;

	(void)ng;
	if (frame->hd.type == NGHTTP2_GOAWAY && frame->goaway.error_code != NGHTTP2_NO_ERROR) {
		GW_PROXY__COUNT(c->dc->w, h2_errors); /* a protocol error, a flood, calm */
	}
	return 0;
}

/* ---- the connection */

/* Close @c: with what nghttp2 still had to say written first. */
static void conn_end(struct h2conn *c)
{
	struct gw_proxy__dconn *dc = c->dc;

	if (dc->closing || dc->shutting) {
		return;
	}
	gw_proxy__h2_close(dc);
	uv_timer_stop(&dc->timer); /* conn.c's linger timer takes over */
	gw_proxy__dconn_close_graceful(dc);
}

void gw_proxy__h2_flush(struct gw_proxy__dconn *dc)
{
	struct h2conn *c = dc->h2;
	struct gw_buf out;

	if (c == NULL || c->dead || dc->closing || dc->shutting || c->depth > 0) {
		return;
	}
	c->kick = false;
	gw_list_del(&dc->flink);
	gw_buf_init(&out);
	if (gw_h2out_take(c->ng, &out, dc->wq_bytes < WRITE_MAX ? WRITE_MAX - dc->wq_bytes : 0,
			  "proxy") != 0) {
		gw_buf_close(&out);
		gw_proxy__dconn_abort(dc);
		return;
	}
	if (out.len > 0) {
		c->last_write = uv_now(&dc->w->loop);
		gw_proxy__dconn_write(dc, out.data, out.len);
	}
	gw_buf_close(&out);
	if (dc->closing) {
		return;
	}
	if (c->n_paused > 0 && c->buffered < CONN_LWM) {
		struct gw_list *it, *tmp;
		gw_list_foreach_safe(it, tmp, &c->streams)
		{
			maybe_resume(c, gw_container_of(it, struct gw_proxy__h2s, link));
		}
	}
	if (dc->wq_bytes == 0 && !nghttp2_session_want_write(c->ng) &&
	    (!nghttp2_session_want_read(c->ng) || (c->goaway && c->n_streams == 0))) {
		conn_end(c);
		return;
	}
	/* a client that does not read its answers is not read either */
	dc->stop_bp = dc->wq_bytes >= WRITE_MAX;
	gw_proxy__dconn_update_reading(dc);
	arm(c);
}

/* Reset every stream whose pending response the client has taken nothing
 * of for send_timeout_ms. True when one was. */
static bool reset_stalled(struct h2conn *c, uint64_t now)
{
	const struct gw_proxy_opts *o = &c->dc->w->p->opts;
	struct gw_list *it;
	bool any = false;

	gw_list_foreach(it, &c->streams)
	{
		struct gw_proxy__h2s *s = gw_container_of(it, struct gw_proxy__h2s, link);
		if (s->reset || s->ob.len == s->ob_off || now < s->sent_at + o->send_timeout_ms ||
		    !window_shut(c, s)) {
			continue;
		}
		gw_debugf("proxy", "%s: http/2 stream %d: the client took nothing for %u ms",
			  c->dc->peer_ip, s->id, o->send_timeout_ms);
		GW_PROXY__COUNT(c->dc->w, h2_stream_timeouts);
		s->reset = true;
		s->r->discard = true;
		s->r->resp_done = true;
		gw_proxy__req_detach_uc(s->r, true);
		nghttp2_submit_rst_stream(c->ng, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CANCEL);
		any = true;
	}
	if (any) {
		kick(c);
	}
	return any;
}

static void h2_timer_cb(uv_timer_t *t)
{
	struct gw_proxy__dconn *dc = t->data;
	struct h2conn *c = dc->h2;
	uint64_t now;

	if (c == NULL || c->dead || dc->closing || dc->shutting) {
		return;
	}
	if (c->kick) {
		gw_proxy__h2_flush(dc);
		return;
	}
	now = uv_now(&dc->w->loop);
	if (now < deadline(c)) {
		arm(c);
		return;
	}
	if (reset_stalled(c, now)) {
		return; /* the resets are flushed from the timer, which re-arms */
	}
	if (c->n_streams == 0 && now >= c->last_active + dc->w->p->opts.idle_timeout_ms) {
		c->goaway = true; /* idle: GOAWAY, then close */
		nghttp2_session_terminate_session(c->ng, NGHTTP2_NO_ERROR);
		gw_proxy__h2_flush(dc);
		return;
	}
	gw_debugf("proxy", "%s: http/2 connection timed out", dc->peer_ip);
	gw_proxy__dconn_abort(dc);
}

void gw_proxy__h2_on_data(struct gw_proxy__dconn *dc, const char *p, size_t n)
{
	struct h2conn *c = dc->h2;
	ssize_t rv;

	if (c == NULL || c->dead) {
		return;
	}
	c->last_read = c->last_active = uv_now(&dc->w->loop);
	c->depth++;
	rv = nghttp2_session_mem_recv(c->ng, (const uint8_t *)p, n);
	c->depth--;
	if (dc->closing) {
		return;
	}
	if (rv < 0) {
		gw_debugf("proxy", "%s: http/2 receive: %s", dc->peer_ip,
			  nghttp2_strerror((int)rv));
		if (rv == NGHTTP2_ERR_BAD_CLIENT_MAGIC) {
			GW_PROXY__COUNT(dc->w, h2_errors);
			gw_proxy__dconn_abort(dc);
			return;
		}
		/* GOAWAY (if nghttp2 has not queued one), written before the close */
		nghttp2_session_terminate_session(c->ng, rv == NGHTTP2_ERR_FLOODED
							     ? NGHTTP2_ENHANCE_YOUR_CALM
							     : NGHTTP2_PROTOCOL_ERROR);
	}
	kick(c);
}

void gw_proxy__h2_on_written(struct gw_proxy__dconn *dc)
{
	struct h2conn *c = dc->h2;

	if (c != NULL) {
		c->last_write = uv_now(&dc->w->loop);
		gw_proxy__h2_flush(dc); /* a write callback: nothing of ours on the stack */
	}
}

void gw_proxy__h2_drain(struct gw_proxy__dconn *dc)
{
	struct h2conn *c = dc->h2;

	if (c == NULL || c->dead || c->goaway) {
		return;
	}
	c->goaway = true;
	nghttp2_submit_goaway(c->ng, NGHTTP2_FLAG_NONE,
			      nghttp2_session_get_last_proc_stream_id(c->ng), NGHTTP2_NO_ERROR,
			      NULL, 0);
	kick(c);
}

void gw_proxy__h2_close(struct gw_proxy__dconn *dc)
{
	struct h2conn *c = dc->h2;

	if (c == NULL || c->dead) {
		return;
	}
	c->dead = true;
	while (!gw_list_empty(&c->streams)) {
		struct gw_proxy__h2s *s =
		    gw_container_of(gw_list_first(&c->streams), struct gw_proxy__h2s, link);
		nghttp2_session_set_stream_user_data(c->ng, s->id, NULL);
		stream_free(c, s);
	}
}

void gw_proxy__h2_conn_free(struct gw_proxy__dconn *dc)
{
	struct h2conn *c = dc->h2;

	if (c == NULL) {
		return;
	}
	gw_proxy__h2_close(dc);
	nghttp2_session_del(c->ng);
	free(c);
	dc->h2 = NULL;
}

bool gw_proxy__h2_preface(struct gw_proxy__dconn *dc, const char *p, size_t n)
{
	size_t k = n < sizeof PREFACE - 1 ? n : sizeof PREFACE - 1;

	/* "PRI " at least: a shorter first read is taken for HTTP/1 */
	if (!dc->w->p->opts.h2c || k < 4 || dc->pending.len > 0 || memcmp(p, PREFACE, k) != 0) {
		return false;
	}
	if (gw_proxy__h2_start(dc) != 0) {
		return false; /* then HTTP/1 answers it: 505 */
	}
	return true;
}

int gw_proxy__h2_start(struct gw_proxy__dconn *dc)
{
	const struct gw_proxy_opts *o = &dc->w->p->opts;
	struct h2conn *c = calloc(1, sizeof *c);
	nghttp2_session_callbacks *cbs = NULL;
	nghttp2_option *opt = NULL;
	nghttp2_settings_entry iv[3];
	int rv;

	if (c == NULL) {
		return GW_ENOMEM;
	}
	if (nghttp2_session_callbacks_new(&cbs) != 0) {
		goto err_after_alloc;
	}
	if (nghttp2_option_new(&opt) != 0) {
		goto err_after_cbs;
	}
	nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
	nghttp2_session_callbacks_set_on_begin_frame_callback(cbs, on_begin_frame);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
	nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
	nghttp2_option_set_no_auto_window_update(opt, 1);
	nghttp2_option_set_max_deflate_dynamic_table_size(opt, 4096);
	nghttp2_option_set_max_outbound_ack(opt, 1000);
	nghttp2_option_set_max_settings(opt, 32);
	nghttp2_option_set_max_continuations(opt, MAX_CONT);
	rv = nghttp2_session_server_new2(&c->ng, cbs, c, opt);
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cbs);
	if (rv != 0) {
		goto err_after_alloc;
	}
	iv[0] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, MAX_STREAMS};
	iv[1] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW};
	iv[2] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
					 (uint32_t)o->max_header_bytes};
	if (nghttp2_submit_settings(c->ng, NGHTTP2_FLAG_NONE, iv, 3) != 0 ||
	    nghttp2_session_set_local_window_size(c->ng, NGHTTP2_FLAG_NONE, 0, CONN_WINDOW) != 0) {
		goto err_after_session;
	}
	c->dc = dc;
	gw_list_init(&c->streams);
	c->rst = (struct gw_ratelimit)GW_RATELIMIT_INIT(RST_WINDOW_MS, RST_BURST);
	c->last_read = c->last_write = c->last_active = uv_now(&dc->w->loop);
	dc->h2 = c;
	dc->tphase = DT_NONE;
	uv_timer_stop(&dc->timer); /* HTTP/1's deadlines no longer apply */
	GW_PROXY__COUNT(dc->w, h2_conns);
	kick(c);
	return 0;

err_after_session:
	nghttp2_session_del(c->ng);
	goto err_after_alloc;
err_after_cbs:
	nghttp2_session_callbacks_del(cbs);
err_after_alloc:
	free(c);
	return GW_ENOMEM;
}

/* ---- metrics */

int gw_proxy__h2_metrics(struct gw_proxy *p, struct gw_buf *b)
{
	uint64_t v[7] = {0};
	const char *by_client[] = {"by", "client", NULL}, *by_proxy[] = {"by", "proxy", NULL};
	int rv = 0;

	for (int i = 0; i < p->n_workers; i++) {
		const struct gw_proxy__wstats *st = &p->workers[i].st;
		v[0] += atomic_load_explicit(&st->h2_conns, memory_order_relaxed);
		v[1] += atomic_load_explicit(&st->h2_streams, memory_order_relaxed);
		v[2] += atomic_load_explicit(&st->h2_rst_client, memory_order_relaxed);
		v[3] += atomic_load_explicit(&st->h2_rst_proxy, memory_order_relaxed);
		v[4] += atomic_load_explicit(&st->h2_calm, memory_order_relaxed);
		v[5] += atomic_load_explicit(&st->h2_errors, memory_order_relaxed);
		v[6] += atomic_load_explicit(&st->h2_stream_timeouts, memory_order_relaxed);
	}
	rv |= gw_prom_family(b, "apigw_http2_connections_total", "counter",
			     "HTTP/2 client connections (ALPN h2 or h2c)");
	rv |= gw_prom_sample(b, "apigw_http2_connections_total", NULL, (double)v[0]);
	rv |= gw_prom_family(b, "apigw_http2_streams_total", "counter",
			     "HTTP/2 request streams opened by clients");
	rv |= gw_prom_sample(b, "apigw_http2_streams_total", NULL, (double)v[1]);
	rv |= gw_prom_family(b, "apigw_http2_resets_total", "counter",
			     "HTTP/2 streams reset (RST_STREAM), by the side that reset them");
	rv |= gw_prom_sample(b, "apigw_http2_resets_total", by_client, (double)v[2]);
	rv |= gw_prom_sample(b, "apigw_http2_resets_total", by_proxy, (double)v[3]);
	rv |=
	    gw_prom_family(b, "apigw_http2_calm_total", "counter",
			   "HTTP/2 connections ended with GOAWAY ENHANCE_YOUR_CALM (rapid reset)");
	rv |= gw_prom_sample(b, "apigw_http2_calm_total", NULL, (double)v[4]);
	rv |= gw_prom_family(b, "apigw_http2_errors_total", "counter",
			     "HTTP/2 connections ended on an error: GOAWAY with an error "
			     "code (protocol error, flood, rapid reset) or a bad preface");
	rv |= gw_prom_sample(b, "apigw_http2_errors_total", NULL, (double)v[5]);
	rv |= gw_prom_family(b, "apigw_http2_stream_send_timeouts_total", "counter",
			     "HTTP/2 streams reset (CANCEL) because the client took nothing of "
			     "their response for the send timeout while the connection lived");
	rv |= gw_prom_sample(b, "apigw_http2_stream_send_timeouts_total", NULL, (double)v[6]);
	return rv != 0 ? GW_ENOMEM : 0;
}
