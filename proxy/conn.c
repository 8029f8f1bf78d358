/* conn.c: client connections of a worker: transport, strict HTTP/1.x
 * request parsing, keep-alive, pipelining, limits and timeouts.
 *
 * Happy path: an accepted socket reads into the worker's shared buffer; a
 * strict scanner checks the request line and header block (bare CR, control
 * bytes, obs-fold, bad field names, sizes and header count -> 414/431) before Debian's
 * http_parser parses the same bytes and calls back here; request.c takes the
 * request at headers-complete and gets its body as it arrives. The parser is
 * paused after each message, so pipelined requests wait (buffered, bounded)
 * and are answered strictly in order. When both the request and its
 * response are complete the connection either closes (Connection: close,
 * HTTP/1.0 without keep-alive, max_requests, shutdown) or parses the next
 * request. Failure modes: any parse error or smuggling attempt (CL + TE,
 * duplicate or bad Content-Length, bad chunk sizes) -> 400 and close; a
 * client that goes away aborts its request (and its upstream exchange);
 * timeouts close the connection (408 when a body read times out before a
 * response started). Closing with a response queued uses shutdown and a
 * short lingering read so the client gets the response before the FIN. */
#include "config.h"

#include "lib/err.h"
#include "lib/log.h"
#include "lib/reason.h"
#include "proxy/conn_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LINGER_MS    5000               /* between reads while lingering */
#define LINGER_MAX   (16 * 1024 * 1024) /* bytes discarded at most */
#define PIPELINE_MAX (64 * 1024)

enum { SC_START, SC_REQ, SC_REQ_CR, SC_LS, SC_NAME, SC_VAL, SC_VAL_CR, SC_END_CR };

static void d_timer_update(struct gw_proxy__dconn *dc, bool progress);
static void d_close(struct gw_proxy__dconn *dc);
static void d_close_graceful(struct gw_proxy__dconn *dc);
static void d_feed(struct gw_proxy__dconn *dc, const char *p, size_t n);
static void d_flush(struct gw_proxy__dconn *dc);

struct gw_proxy__wbuf *gw_proxy__wbuf_new(size_t len)
{
	struct gw_proxy__wbuf *wb = malloc(sizeof *wb + (len ? len : 1));
	if (wb != NULL) {
		wb->len = len;
	}
	return wb;
}

/* nginx's wording, which the data plane keeps (lib/reason.h). */
const char *gw_proxy__reason(int status)
{
	return gw_reason_nginx(status);
}

/* ---- plain TCP transport */

void gw_proxy__dconn_alloc(uv_handle_t *h, size_t size, uv_buf_t *b)
{
	struct gw_proxy__dconn *dc = h->data;
	(void)size;
	/* One buffer per loop: libuv calls alloc, read, read_cb in sequence and
	 * every consumer copies what it keeps. */
	b->base = dc->w->rbuf;
	b->len = sizeof dc->w->rbuf;
}

static void t_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct gw_proxy__dconn *dc = s->data;
	struct gw_proxy__worker *w = dc->w;
	if (n > 0) {
		gw_proxy__worker_cork(w);
		gw_proxy__dconn_on_data(dc, b->base, (size_t)n);
		gw_proxy__worker_uncork(w);
	} else if (n < 0) {
		gw_proxy__dconn_on_eof(dc);
	}
}

static int t_try_write(struct gw_proxy__dconn *dc, const char *p, size_t n)
{
	uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
	int rv = uv_try_write((uv_stream_t *)&dc->tcp, &b, 1);
	return rv == UV_EAGAIN ? 0 : rv;
}

static int t_read_start(struct gw_proxy__dconn *dc)
{
	return uv_read_start((uv_stream_t *)&dc->tcp, gw_proxy__dconn_alloc, t_read);
}

static void t_read_stop(struct gw_proxy__dconn *dc)
{
	uv_read_stop((uv_stream_t *)&dc->tcp);
}

void gw_proxy__dconn_write_cb(uv_write_t *req, int status)
{
	struct gw_proxy__wbuf *wb = gw_container_of(req, struct gw_proxy__wbuf, req);
	struct gw_proxy__dconn *dc = wb->owner;
	size_t n = wb->len;
	free(wb);
	dc->wq_bytes -= n;
	if (status < 0) {
		if (!dc->closing) {
			gw_proxy__dconn_abort(dc);
		}
		return;
	}
	gw_proxy__dconn_on_written(dc, n);
}

static int t_write(struct gw_proxy__dconn *dc, struct gw_proxy__wbuf *wb)
{
	uv_buf_t b = uv_buf_init(wb->data, (unsigned)wb->len);
	int rv;
	wb->owner = dc;
	rv = uv_write(&wb->req, (uv_stream_t *)&dc->tcp, &b, 1, gw_proxy__dconn_write_cb);
	if (rv != 0) {
		free(wb);
		return rv;
	}
	dc->wq_bytes += wb->len;
	return 0;
}

static void t_shutdown_cb(uv_shutdown_t *req, int status)
{
	struct gw_proxy__dconn *dc = req->data;
	(void)status;
	gw_proxy__dconn_on_shutdown(dc);
}

static int t_shutdown(struct gw_proxy__dconn *dc)
{
	dc->shut.data = dc;
	return uv_shutdown(&dc->shut, (uv_stream_t *)&dc->tcp, t_shutdown_cb);
}

void gw_proxy__dconn_free(struct gw_proxy__dconn *dc)
{
	if (dc->counted) {
		atomic_fetch_sub_explicit(&dc->w->st.active, 1, memory_order_relaxed);
	}
	if (dc->spare != NULL) {
		gw_proxy__req_free(dc->spare);
	}
	gw_proxy__tls_conn_free(dc);
	gw_proxy__h2_conn_free(dc);
	gw_buf_close(&dc->pending);
	gw_buf_close(&dc->out);
	free(dc);
}

static void t_close_cb(uv_handle_t *h)
{
	struct gw_proxy__dconn *dc = h->data;
	if (--dc->open_handles == 0) {
		gw_proxy__dconn_free(dc);
	}
}

void gw_proxy__dconn_close_handles(struct gw_proxy__dconn *dc)
{
	uv_close((uv_handle_t *)&dc->tcp, t_close_cb);
	uv_close((uv_handle_t *)&dc->timer, t_close_cb);
}

static const struct gw_proxy__transport tcp_transport = {
    .read_start = t_read_start,
    .read_stop = t_read_stop,
    .try_write = t_try_write,
    .write = t_write,
    .shutdown = t_shutdown,
    .close = gw_proxy__dconn_close_handles,
};

/* ---- header scanner */

/* RFC 9110 tchar, as a table: the scanner looks at every header byte. */
static const bool tchar[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1,         ['&'] = 1,         ['\''] = 1,
    ['*'] = 1, ['+'] = 1, ['-'] = 1, ['.'] = 1,         ['^'] = 1,         ['_'] = 1,
    ['`'] = 1, ['|'] = 1, ['~'] = 1, ['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1,
};

static bool is_tchar(unsigned char c)
{
	return tchar[c];
}

/* Bytes allowed in the request line and in field values (no CR, LF, other
 * controls or DEL). */
static const bool vchar[256] = {
    ['\t'] = 1,
    [' ' ... '~'] = 1,
    [0x80 ... 0xff] = 1,
};

/* End of the run of bytes of @class in @p[@i..@n): the scanner's states
 * that only count ordinary bytes take a whole run at once. */
static size_t run_end(const bool *class, const char *p, size_t i, size_t n)
{
	while (i < n && class[(unsigned char)p[i]]) {
		i++;
	}
	return i;
}

static void scan_reset(struct gw_proxy__dconn *dc)
{
	dc->hdr_phase = true;
	dc->scan = SC_START;
	dc->scan_line = 0;
	dc->scan_hdr = 0;
	dc->scan_nhdr = 0;
	dc->scan_tail_n = 0;
}

/* Add the run p[@i..@j) to the byte count *@cnt (<= @lim): true, with *@at
 * the index of the first byte over @lim, when it goes over. */
static bool run_over(size_t *cnt, size_t lim, size_t i, size_t j, size_t *at)
{
	if (*cnt + (j - i) > lim) {
		*at = i + (lim - *cnt);
		return true;
	}
	*cnt += j - i;
	return false;
}

/* Check the request line and header block in @p; 0 or the status to answer,
 * with *@at the index of the byte that is refused (or goes over a limit), so
 * the caller can let http_parser judge the bytes before it first. */
/* Keep the last bytes of the request line in dc->scan_tail. */
static void tail_push(struct gw_proxy__dconn *dc, const char *s, size_t len)
{
	const size_t cap = sizeof dc->scan_tail;

	if (len >= cap) {
		memcpy(dc->scan_tail, s + len - cap, cap);
		dc->scan_tail_n = (unsigned char)cap;
		return;
	}
	if (dc->scan_tail_n + len > cap) {
		size_t drop = dc->scan_tail_n + len - cap;
		memmove(dc->scan_tail, dc->scan_tail + drop, dc->scan_tail_n - drop);
		dc->scan_tail_n = (unsigned char)(dc->scan_tail_n - drop);
	}
	memcpy(dc->scan_tail + dc->scan_tail_n, s, len);
	dc->scan_tail_n = (unsigned char)(dc->scan_tail_n + len);
}

/* The request line ends with " HTTP/<digit>.<digit>". http_parser (built
 * without HTTP_PARSER_STRICT, as Debian ships it) takes any bytes for
 * "HTTP/" — even CR LF — so a line like "POST /x H" CRLF CRLF "1.1" would
 * end the head for this scanner while http_parser reads on: headers the
 * scanner never judged. */
static bool version_ok(const struct gw_proxy__dconn *dc)
{
	const char *t = dc->scan_tail;

	return dc->scan_tail_n == sizeof dc->scan_tail && memcmp(t, " HTTP/", 6) == 0 &&
	       t[6] >= '0' && t[6] <= '9' && t[7] == '.' && t[8] >= '0' && t[8] <= '9';
}

static int scan(struct gw_proxy__dconn *dc, const char *p, size_t n, size_t *at)
{
	const struct gw_proxy_opts *o = &dc->w->p->opts;
	const size_t max_line = o->max_uri_bytes + 32;
#define FAIL(st)                                                                                   \
	do {                                                                                       \
		*at = i;                                                                           \
		return (st);                                                                       \
	} while (0)
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		switch (dc->scan) {
		case SC_START:
			if (c == '\r' || c == '\n') {
				continue;
			}
			dc->scan = SC_REQ;
			dc->scan_tail_n = 0;
			__attribute__((fallthrough));
		case SC_REQ:
			if (vchar[c]) {
				size_t j = run_end(vchar, p, i + 1, n);
				if (run_over(&dc->scan_line, max_line, i, j, at)) {
					return 414;
				}
				tail_push(dc, p + i, j - i);
				i = j - 1;
				continue;
			}
			if ((c == '\r' || c == '\n') && !version_ok(dc)) {
				FAIL(400);
			}
			if (c == '\r') {
				dc->scan = SC_REQ_CR;
			} else if (c == '\n') {
				dc->scan = SC_LS;
			} else if ((c < 0x20 && c != '\t') || c == 0x7f) {
				FAIL(400);
			} else if (++dc->scan_line > max_line) {
				FAIL(414);
			} else {
				tail_push(dc, (const char *)p + i, 1);
			}
			continue;
		case SC_REQ_CR:
		case SC_VAL_CR:
			if (c != '\n') {
				FAIL(400); /* bare CR */
			}
			dc->scan = SC_LS;
			break;
		case SC_LS:
			if (c == '\r') {
				dc->scan = SC_END_CR;
			} else if (c == '\n') {
				dc->hdr_phase = false;
				return 0;
			} else if (c == ' ' || c == '\t') {
				FAIL(400); /* obs-fold */
			} else if (!is_tchar(c)) {
				FAIL(400);
			} else if (++dc->scan_nhdr > GW_PROXY__MAX_HEADERS) {
				/* here, not only in http_parser's callbacks: the
				 * scanner sees every byte first, so the answer does
				 * not depend on where reads split the head */
				FAIL(431);
			} else {
				dc->scan = SC_NAME;
			}
			break;
		case SC_NAME:
			if (tchar[c]) {
				size_t j = run_end(tchar, p, i + 1, n);
				if (run_over(&dc->scan_hdr, o->max_header_bytes, i, j, at)) {
					return 431;
				}
				i = j - 1;
				continue;
			}
			if (c == ':') {
				dc->scan = SC_VAL;
			} else if (!is_tchar(c)) {
				FAIL(400); /* includes whitespace before the colon */
			}
			break;
		case SC_VAL:
			if (vchar[c]) {
				size_t j = run_end(vchar, p, i + 1, n);
				if (run_over(&dc->scan_hdr, o->max_header_bytes, i, j, at)) {
					return 431;
				}
				i = j - 1;
				continue;
			}
			if (c == '\r') {
				dc->scan = SC_VAL_CR;
			} else if (c == '\n') {
				dc->scan = SC_LS;
			} else if ((c < 0x20 && c != '\t') || c == 0x7f) {
				FAIL(400);
			}
			break;
		case SC_END_CR:
			if (c != '\n') {
				FAIL(400);
			}
			dc->hdr_phase = false;
			return 0;
		}
		if (++dc->scan_hdr > o->max_header_bytes) {
			FAIL(431);
		}
	}
#undef FAIL
	return 0;
}

/* ---- parser callbacks */

static int d_on_message_begin(http_parser *hp)
{
	struct gw_proxy__dconn *dc = hp->data;
	if (dc->closing || dc->shutting) {
		return -1;
	}
	if (dc->req == NULL) {
		if (dc->spare != NULL) {
			dc->req = dc->spare;
			dc->spare = NULL;
		} else {
			dc->req = gw_proxy__req_new(dc);
		}
		if (dc->req == NULL) {
			dc->err_status = 503;
			return -1;
		}
	}
	gw_proxy__ops_req_begin(dc->req);
	return 0; /* timers are updated once the bytes of this read are parsed */
}

static int d_on_url(http_parser *hp, const char *at, size_t n)
{
	struct gw_proxy__dconn *dc = hp->data;
	struct gw_proxy__req *r = dc->req;
	if (r == NULL || dc->closing) {
		return -1;
	}
	if (r->url.len + n > dc->w->p->opts.max_uri_bytes) {
		dc->err_status = 414;
		return -1;
	}
	if (gw_buf_append(&r->url, at, n) != 0) {
		dc->err_status = 503;
		return -1;
	}
	return 0;
}

static int d_on_header_field(http_parser *hp, const char *at, size_t n)
{
	struct gw_proxy__dconn *dc = hp->data;
	struct gw_proxy__req *r = dc->req;
	int rv;
	if (r == NULL || dc->closing) {
		return -1;
	}
	rv = gw_proxy__hc_field(&r->hc, &r->arena, at, n);
	if (rv != 0) {
		dc->err_status = rv == GW_ELIMIT ? 431 : 503;
		return -1;
	}
	return 0;
}

static int d_on_header_value(http_parser *hp, const char *at, size_t n)
{
	struct gw_proxy__dconn *dc = hp->data;
	struct gw_proxy__req *r = dc->req;
	if (r == NULL || dc->closing) {
		return -1;
	}
	if (gw_proxy__hc_value(&r->hc, at, n) != 0) {
		dc->err_status = 503;
		return -1;
	}
	return 0;
}

static int d_on_headers_complete(http_parser *hp)
{
	struct gw_proxy__dconn *dc = hp->data;
	struct gw_proxy__req *r = dc->req;
	int rv;
	if (r == NULL || dc->closing) {
		return -1;
	}
	rv = gw_proxy__hc_flush(&r->hc, &r->arena);
	if (rv != 0) {
		dc->err_status = rv == GW_ELIMIT ? 431 : 503;
		return -1;
	}
	if (hp->http_major != 1) {
		dc->err_status = 505;
		return -1;
	}
	if (hp->method == HTTP_CONNECT) {
		dc->err_status = 405;
		return -1;
	}
	r->method = hp->method;
	r->http_minor = hp->http_minor;
	r->keepalive = http_should_keep_alive(hp) != 0;
	r->headers_done = true;
	gw_proxy__req_headers_done(r);
	if (dc->closing || dc->req == NULL) {
		return -1;
	}
	if (dc->err_status != 0) {
		return -1;
	}
	return 0;
}

static int d_on_body(http_parser *hp, const char *at, size_t n)
{
	struct gw_proxy__dconn *dc = hp->data;
	struct gw_proxy__req *r = dc->req;
	uint64_t max = dc->w->p->opts.max_body_bytes;
	if (r == NULL || dc->closing) {
		return -1;
	}
	r->body_bytes += n;
	if (max != 0 && r->body_bytes > max) {
		dc->err_status = 413;
		return -1;
	}
	gw_proxy__req_body(r, at, n);
	return dc->closing || dc->req == NULL ? -1 : 0;
}

static int d_on_message_complete(http_parser *hp)
{
	struct gw_proxy__dconn *dc = hp->data;
	struct gw_proxy__req *r = dc->req;
	if (r == NULL || dc->closing) {
		return -1;
	}
	r->body_done = true;
	http_parser_pause(hp, 1); /* one request at a time: answer in order */
	gw_proxy__req_body_end(r);
	return 0;
}

static const http_parser_settings d_settings = {
    .on_message_begin = d_on_message_begin,
    .on_url = d_on_url,
    .on_header_field = d_on_header_field,
    .on_header_value = d_on_header_value,
    .on_headers_complete = d_on_headers_complete,
    .on_body = d_on_body,
    .on_message_complete = d_on_message_complete,
};

/* ---- connection life */

static void d_timer_cb(uv_timer_t *t)
{
	struct gw_proxy__dconn *dc = t->data;
	enum gw_proxy__dtimer ph = dc->tphase;
	if (dc->closing || ph == DT_NONE || gw_proxy__timer_early(t, d_timer_cb, dc->t_due)) {
		return; /* lazy timer: no deadline now, or a later one */
	}
	dc->tphase = DT_NONE;
	switch (ph) {
	case DT_BODY:
		if (dc->req != NULL && !dc->req->resp_started) {
			gw_proxy__dconn_respond(dc, 408, NULL, NULL, true);
			return;
		}
		gw_proxy__dconn_abort(dc);
		return;
	case DT_HANDSHAKE:
		gw_proxy__tls_timed_out(dc);
		gw_proxy__dconn_abort(dc);
		return;
	case DT_HEADER:
		gw_debugf("proxy", "%s: header timeout", dc->peer_ip);
		__attribute__((fallthrough));
	default:
		gw_proxy__dconn_abort(dc);
	}
}

static void d_timer_update(struct gw_proxy__dconn *dc, bool progress)
{
	const struct gw_proxy_opts *o = &dc->w->p->opts;
	struct gw_proxy__req *r = dc->req;
	enum gw_proxy__dtimer ph;
	unsigned ms = 0;

	if (dc->closing || (dc->h2 != NULL && !dc->lingering)) {
		return; /* h2.c runs the timer of an HTTP/2 connection */
	}
	if (dc->lingering) {
		ph = DT_LINGER;
		ms = LINGER_MS;
	} else if (dc->tunnel) {
		ph = DT_NONE;
	} else if (dc->tphase == DT_HANDSHAKE) {
		return; /* one deadline: gw_proxy__dconn_tls_deadline */
	} else if (r == NULL) {
		ph = dc->pending.len > 0 || dc->tphase == DT_HEADER ? DT_HEADER : DT_IDLE;
		ms = ph == DT_HEADER ? o->header_timeout_ms : o->idle_timeout_ms;
	} else if (!r->headers_done) {
		ph = DT_HEADER;
		ms = o->header_timeout_ms;
	} else if (!r->body_done && !dc->stop_bp) {
		ph = DT_BODY;
		ms = o->body_timeout_ms;
	} else if (dc->wq_bytes > 0) {
		ph = DT_SEND;
		ms = o->send_timeout_ms;
	} else {
		ph = DT_NONE;
	}
	if (ph == dc->tphase &&
	    !(progress && (ph == DT_BODY || ph == DT_SEND || ph == DT_LINGER))) {
		return;
	}
	dc->tphase = ph;
	if (ph != DT_NONE) {
		gw_proxy__timer_set(&dc->timer, d_timer_cb, &dc->t_due, ms);
	}
}

void gw_proxy__dconn_update_reading(struct gw_proxy__dconn *dc)
{
	bool want =
	    !dc->closing && (dc->lingering || (!dc->shutting && !dc->stop_bp && !dc->stop_pipe));
	if (want && !dc->reading) {
		if (dc->tp->read_start(dc) == 0) {
			dc->reading = true;
		}
	} else if (!want && dc->reading) {
		dc->tp->read_stop(dc);
		dc->reading = false;
	}
	d_timer_update(dc, false);
}

struct gw_proxy__dconn *gw_proxy__dconn_new(struct gw_proxy__worker *w,
					    const struct gw_proxy__transport *tp)
{
	struct gw_proxy__dconn *dc = calloc(1, sizeof *dc);

	if (dc == NULL) {
		return NULL;
	}
	dc->w = w;
	dc->tp = tp;
	gw_buf_init(&dc->pending);
	gw_buf_init(&dc->out);
	gw_list_init(&dc->link);
	gw_list_init(&dc->flink);
	uv_timer_init(&w->loop, &dc->timer);
	dc->timer.data = dc;
	dc->open_handles = 1;
	http_parser_init(&dc->parser, HTTP_REQUEST);
	dc->parser.data = dc;
	scan_reset(dc);
	return dc;
}

void gw_proxy__dconn_accept(struct gw_proxy__worker *w, uv_stream_t *lsn)
{
	struct gw_proxy__dconn *dc = gw_proxy__dconn_new(w, &tcp_transport);
	struct sockaddr_storage local;
	int len = sizeof dc->peer, rv;

	if (dc == NULL) {
		return; /* the pending connection stays in the backlog */
	}
	uv_tcp_init(&w->loop, &dc->tcp);
	dc->tcp.data = dc;
	dc->open_handles = 2;
	rv = uv_accept(lsn, (uv_stream_t *)&dc->tcp);
	if (rv != 0 || w->stopping) {
		dc->closing = true;
		dc->tp->close(dc);
		return;
	}
	gw_list_add_head(&w->dconns, &dc->link);
	GW_PROXY__COUNT(w, conns);
	GW_PROXY__COUNT(w, active);
	dc->counted = true;
	uv_tcp_nodelay(&dc->tcp, 1);
	uv_tcp_getpeername(&dc->tcp, (struct sockaddr *)&dc->peer, &len);
	gw_addr_format((struct sockaddr *)&dc->peer, dc->peer_ip, sizeof dc->peer_ip);
	/* keep only the IP: "1.2.3.4:5" -> "1.2.3.4", "[::1]:5" -> "::1" */
	{
		char *colon = strrchr(dc->peer_ip, ':');
		if (colon != NULL) {
			*colon = '\0';
		}
		if (dc->peer_ip[0] == '[') {
			size_t l = strlen(dc->peer_ip);
			memmove(dc->peer_ip, dc->peer_ip + 1, l - 2);
			dc->peer_ip[l - 2] = '\0';
		}
	}
	len = sizeof local;
	if (uv_tcp_getsockname(&dc->tcp, (struct sockaddr *)&local, &len) == 0) {
		dc->local_port = local.ss_family == AF_INET6
				     ? ntohs(((struct sockaddr_in6 *)&local)->sin6_port)
				     : ntohs(((struct sockaddr_in *)&local)->sin_port);
	}
	gw_proxy__tls_accept(dc, lsn);
	if (dc->closing) {
		return;
	}
	gw_proxy__dconn_update_reading(dc);
	gw_proxy__pp_accept(dc, lsn);
	if (dc->tls != NULL && !dc->pp_wait) {
		gw_proxy__dconn_tls_deadline(dc, true); /* else once the PROXY header is in */
	}
}

void gw_proxy__dconn_tls_deadline(struct gw_proxy__dconn *dc, bool start)
{
	const struct gw_proxy_opts *o = &dc->w->p->opts;

	if (dc->closing) {
		return;
	}
	if (start) {
		dc->tphase = DT_HANDSHAKE;
		dc->t_due = uv_now(&dc->w->loop) + o->tls_handshake_timeout_ms;
		uv_timer_start(&dc->timer, d_timer_cb, o->tls_handshake_timeout_ms, 0);
	} else if (dc->tphase == DT_HANDSHAKE) {
		dc->tphase = DT_IDLE;
		gw_proxy__timer_set(&dc->timer, d_timer_cb, &dc->t_due, o->idle_timeout_ms);
	}
}

static void d_close(struct gw_proxy__dconn *dc)
{
	if (dc->closing) {
		return;
	}
	dc->closing = true;
	gw_list_del(&dc->flink);
	dc->out.len = 0;
	if (dc->req != NULL) {
		struct gw_proxy__req *r = dc->req;
		dc->req = NULL;
		gw_proxy__req_abort(r);
	}
	if (dc->h2 != NULL) {
		gw_proxy__h2_close(dc);
	}
	gw_list_del(&dc->link);
	dc->tp->close(dc);
}

void gw_proxy__dconn_abort(struct gw_proxy__dconn *dc)
{
	d_close(dc);
}

void gw_proxy__dconn_on_shutdown(struct gw_proxy__dconn *dc)
{
	if (dc->closing) {
		return;
	}
	dc->lingering = true;
	gw_proxy__dconn_update_reading(dc);
}

/* Close after every queued byte is written: shutdown, then read and discard
 * until EOF, LINGER_MS without data or LINGER_MAX bytes. */
static void d_close_graceful(struct gw_proxy__dconn *dc)
{
	if (dc->closing || dc->shutting) {
		return;
	}
	d_flush(dc);
	if (dc->closing) {
		return;
	}
	dc->shutting = true;
	if (dc->req != NULL) {
		struct gw_proxy__req *r = dc->req;
		dc->req = NULL;
		gw_proxy__req_abort(r);
	}
	gw_buf_close(&dc->pending);
	if (dc->tp->shutdown(dc) != 0) {
		d_close(dc);
		return;
	}
	gw_proxy__dconn_update_reading(dc);
}

void gw_proxy__dconn_close_graceful(struct gw_proxy__dconn *dc)
{
	d_close_graceful(dc);
}

/* Write now what the socket takes, queue the rest. */
static void d_write_now(struct gw_proxy__dconn *dc, const char *p, size_t n)
{
	struct gw_proxy__wbuf *wb;
	int k = 0;

	if (dc->wq_bytes == 0) {
		k = dc->tp->try_write(dc, p, n);
		if (k < 0) {
			d_close(dc);
			return;
		}
		if ((size_t)k == n) {
			return;
		}
	}
	wb = gw_proxy__wbuf_new(n - (size_t)k);
	if (wb == NULL) {
		d_close(dc);
		return;
	}
	memcpy(wb->data, p + k, n - (size_t)k);
	if (dc->tp->write(dc, wb) != 0) {
		d_close(dc);
	}
}

static void d_flush(struct gw_proxy__dconn *dc)
{
	gw_list_del(&dc->flink);
	if (dc->out.len > 0 && !dc->closing) {
		size_t n = dc->out.len;
		dc->out.len = 0;
		d_write_now(dc, dc->out.data, n);
	}
	dc->out.len = 0;
}

void gw_proxy__worker_cork(struct gw_proxy__worker *w)
{
	w->cork++;
}

void gw_proxy__worker_uncork(struct gw_proxy__worker *w)
{
	if (--w->cork > 0) {
		return;
	}
	while (!gw_list_empty(&w->flush)) {
		struct gw_proxy__dconn *dc =
		    gw_container_of(gw_list_first(&w->flush), struct gw_proxy__dconn, flink);
		d_flush(dc);
		if (dc->h2 != NULL && !dc->closing) {
			gw_proxy__h2_flush(dc); /* frames of an HTTP/2 connection */
		}
	}
}

void gw_proxy__dconn_write(struct gw_proxy__dconn *dc, const void *p, size_t n)
{
	if (dc->closing || dc->shutting || n == 0) {
		return;
	}
	if (dc->req != NULL) {
		dc->req->bytes_out += n;
	}
	if (dc->w->cork > 0) {
		if (gw_buf_append(&dc->out, p, n) != 0) {
			d_close(dc);
			return;
		}
		if (!gw_list_linked(&dc->flink)) {
			gw_list_add_tail(&dc->w->flush, &dc->flink);
		}
		return;
	}
	d_write_now(dc, p, n);
}

void gw_proxy__error_page(int status, char *buf, size_t cap)
{
	const char *reason = gw_proxy__reason(status);
	snprintf(buf, cap,
		 "<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n"
		 "<center><h1>%d %s</h1></center>\r\n<hr><center>apigw</center>\r\n"
		 "</body>\r\n</html>\r\n",
		 status, reason, status, reason);
}

void gw_proxy__dconn_respond(struct gw_proxy__dconn *dc, int status, const char *ctype,
			     const char *body, bool close)
{
	char head[512], html[512];
	struct gw_proxy__req *r = dc->req;
	size_t blen;
	int n;

	if (dc->closing || dc->shutting) {
		return;
	}
	if (r != NULL && r->resp_started) {
		d_close(dc); /* too late for a status: cut the response */
		return;
	}
	if (body == NULL) {
		gw_proxy__error_page(status, html, sizeof html);
		body = html;
		ctype = "text/html; charset=utf-8";
	}
	if (r == NULL || !r->keepalive || dc->w->stopping) {
		close = true;
	}
	blen = strlen(body);
	n = snprintf(head, sizeof head,
		     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		     "Connection: %s\r\nServer: apigw\r\n",
		     status, gw_proxy__reason(status), ctype ? ctype : "text/plain; charset=utf-8",
		     blen, close ? "close" : "keep-alive");
	gw_proxy__dconn_write(dc, head, (size_t)n);
	for (size_t i = 0; r != NULL && i < r->ph_n; i++) { /* added by plugins */
		/* whole: a Location of a long request_uri must not be cut */
		const struct gw_proxy__hdr *h = &r->ph[i];
		if (h->name_len == 0) {
			continue;
		}
		if (h->name_len + h->value_len + 5 <= sizeof head) {
			n = snprintf(head, sizeof head, "%s: %s\r\n", h->name, h->value);
			gw_proxy__dconn_write(dc, head, (size_t)n);
		} else {
			gw_proxy__dconn_write(dc, h->name, h->name_len);
			gw_proxy__dconn_write(dc, ": ", 2);
			gw_proxy__dconn_write(dc, h->value, h->value_len);
			gw_proxy__dconn_write(dc, "\r\n", 2);
		}
	}
	gw_proxy__dconn_write(dc, "\r\n", 2);
	if (r == NULL || r->method != HTTP_HEAD) {
		gw_proxy__dconn_write(dc, body, blen);
	}
	if (r != NULL) {
		r->resp_started = true;
		r->discard = true;
		r->close_after = r->close_after || close;
		r->status = status;
	}
	if (close || r == NULL) {
		d_close_graceful(dc);
		return;
	}
	gw_proxy__dconn_response_done(dc);
}

/* The request and its response are complete: close or get ready for the
 * next request. Returns true if the connection stays open. */
static bool d_finish(struct gw_proxy__dconn *dc)
{
	struct gw_proxy__req *r = dc->req;
	bool close = !r->keepalive || r->close_after || dc->w->stopping;

	dc->n_requests++;
	if (dc->n_requests >= dc->w->p->opts.max_requests) {
		close = true;
	}
	dc->req = NULL;
	if (close || dc->spare != NULL) {
		gw_proxy__req_free(r);
	} else {
		dc->spare = gw_proxy__req_recycle(r);
	}
	if (close) {
		d_close_graceful(dc);
		return false;
	}
	http_parser_pause(&dc->parser, 0);
	dc->parser.upgrade = 0;
	dc->err_status = 0;
	dc->stop_pipe = false;
	scan_reset(dc);
	dc->tphase = DT_NONE;
	return true;
}

/* Depth of d_feed calls on this worker thread: while http_parser runs, a
 * finished response is only marked, and d_feed completes it afterwards. */
static _Thread_local int feed_depth;

void gw_proxy__dconn_response_done(struct gw_proxy__dconn *dc)
{
	struct gw_proxy__req *r = dc->req;
	if (r == NULL || dc->closing) {
		return;
	}
	r->resp_done = true;
	if (dc->stop_bp) {
		/* the rest of the request body, if any, is discarded now */
		dc->stop_bp = false;
		gw_proxy__dconn_update_reading(dc);
	}
	if (feed_depth > 0) {
		return; /* d_feed picks it up once http_parser returns */
	}
	if (!r->body_done) {
		if (r->close_after) {
			d_close_graceful(dc);
		}
		return; /* keep parsing (and discarding) the body */
	}
	if (d_finish(dc)) {
		struct gw_buf tmp = dc->pending;
		gw_buf_init(&dc->pending);
		d_feed(dc, tmp.data, tmp.len);
		gw_buf_close(&tmp);
		gw_proxy__dconn_update_reading(dc);
	}
}

static void d_error(struct gw_proxy__dconn *dc, int status)
{
	if (status == 0) {
		status = 400;
	}
	gw_debugf("proxy", "%s: request error %d (%s)", dc->peer_ip, status,
		  http_errno_name(HTTP_PARSER_ERRNO(&dc->parser)));
	if (dc->req != NULL && dc->req->resp_started) {
		/* Too late for a status. A complete response (an early answer
		 * while the body was being discarded) still reaches the client:
		 * lingering close, as a reset could drop it from the client's
		 * receive queue. A partial one is cut. */
		if (dc->req->resp_done) {
			d_close_graceful(dc);
		} else {
			d_close(dc);
		}
		return;
	}
	if (dc->req == NULL) {
		dc->req = gw_proxy__req_new(dc);
		if (dc->req == NULL) {
			d_close(dc);
			return;
		}
	}
	dc->req->keepalive = false;
	gw_proxy__dconn_respond(dc, status, NULL, NULL, true);
}

static void d_feed(struct gw_proxy__dconn *dc, const char *p, size_t n)
{
	feed_depth++;
	while (!dc->closing && !dc->shutting) {
		struct gw_proxy__req *r = dc->req;
		size_t done, at = 0;
		enum http_errno e;
		int st;

		if (dc->tunnel) {
			if (n > 0 && r != NULL) {
				gw_proxy__req_tunnel_data(r, p, n);
			}
			break;
		}
		if (r != NULL && r->resp_done && (r->body_done || r->close_after)) {
			if (!r->body_done) {
				d_close_graceful(dc);
				break;
			}
			if (!d_finish(dc)) {
				break;
			}
			continue;
		}
		if (r != NULL && r->body_done) {
			/* Pipelined bytes wait for the current response. */
			if (n > 0 && gw_buf_append(&dc->pending, p, n) != 0) {
				d_close(dc);
				break;
			}
			if (dc->pending.len > PIPELINE_MAX) {
				dc->stop_pipe = true;
			}
			break;
		}
		if (n == 0) {
			break;
		}
		if (dc->hdr_phase && (st = scan(dc, p, n, &at)) != 0) {
			/* http_parser judges the bytes before the refused one
			 * first, as it would have had a read ended there: the
			 * first bad byte decides the answer, not the reads */
			if (at > 0) {
				http_parser_execute(&dc->parser, &d_settings, p, at);
				e = HTTP_PARSER_ERRNO(&dc->parser);
				if (dc->closing || dc->shutting) {
					break;
				}
				if (e != HPE_OK && e != HPE_PAUSED) {
					st = dc->err_status;
				}
			}
			d_error(dc, st);
			break;
		}
		done = http_parser_execute(&dc->parser, &d_settings, p, n);
		e = HTTP_PARSER_ERRNO(&dc->parser);
		if (dc->closing || dc->shutting) {
			break;
		}
		if (e != HPE_OK && e != HPE_PAUSED) {
			d_error(dc, dc->err_status);
			break;
		}
		if (done > n) {
			done = n;
		}
		p += done;
		n -= done;
		if (e == HPE_OK && done == 0) {
			d_error(dc, 400);
			break;
		}
	}
	feed_depth--;
}

void gw_proxy__dconn_on_data(struct gw_proxy__dconn *dc, const char *p, size_t n)
{
	if (dc->closing) {
		return;
	}
	if (dc->shutting) {
		/* lingering: discard, so the client reads our answer before the FIN */
		dc->linger_bytes += n;
		if (dc->linger_bytes > LINGER_MAX) {
			d_close(dc);
		} else {
			d_timer_update(dc, true);
		}
		return;
	}
	if (dc->pp_wait && !gw_proxy__pp_take(dc, &p, &n)) {
		return;
	}
	if (dc->h2 != NULL || (dc->n_requests == 0 && dc->req == NULL && dc->tls == NULL &&
			       gw_proxy__h2_preface(dc, p, n))) {
		gw_proxy__h2_on_data(dc, p, n);
		return;
	}
	if (dc->tphase == DT_IDLE) {
		gw_proxy__timer_set(&dc->timer, d_timer_cb, &dc->t_due,
				    dc->w->p->opts.header_timeout_ms);
		dc->tphase = DT_HEADER;
	}
	d_feed(dc, p, n);
	if (!dc->closing) {
		gw_proxy__dconn_update_reading(dc);
		d_timer_update(dc, true);
	}
}

void gw_proxy__dconn_on_eof(struct gw_proxy__dconn *dc)
{
	/* A client that goes away cancels its request (as nginx does). */
	d_close(dc);
}

void gw_proxy__dconn_on_written(struct gw_proxy__dconn *dc, size_t n)
{
	(void)n;
	if (dc->closing) {
		return;
	}
	if (dc->h2 != NULL) {
		gw_proxy__h2_on_written(dc);
		return;
	}
	if (dc->req != NULL && dc->wq_bytes < GW_PROXY__LWM) {
		gw_proxy__req_client_drained(dc->req);
	}
	d_timer_update(dc, true);
}

void gw_proxy__worker_drain(struct gw_proxy__worker *w)
{
	struct gw_list *e, *tmp;
	gw_list_foreach_safe(e, tmp, &w->dconns)
	{
		struct gw_proxy__dconn *dc = gw_container_of(e, struct gw_proxy__dconn, link);
		if (dc->h2 != NULL) {
			gw_proxy__h2_drain(dc); /* GOAWAY; closes when its streams end */
		} else if (dc->req == NULL && dc->pending.len == 0) {
			d_close(dc);
		}
	}
	gw_list_foreach_safe(e, tmp, &w->uconns)
	{
		struct gw_proxy__uconn *uc = gw_container_of(e, struct gw_proxy__uconn, all);
		if (uc->req == NULL) {
			gw_proxy__uconn_close(uc);
		}
	}
}

void gw_proxy__worker_force_close(struct gw_proxy__worker *w)
{
	while (!gw_list_empty(&w->dconns)) {
		d_close(gw_container_of(gw_list_first(&w->dconns), struct gw_proxy__dconn, link));
	}
	while (!gw_list_empty(&w->uconns)) {
		gw_proxy__uconn_close(
		    gw_container_of(gw_list_first(&w->uconns), struct gw_proxy__uconn, all));
	}
}
