/* response.c: the upstream's response on its way back to the client.
 *
 * Happy path: the bytes read from the upstream connection go through
 * http_parser; at headers-complete the plugins' header filters run and the
 * head is rebuilt for the client (hop-by-hop headers dropped, chunked to
 * HTTP/1.1 clients when the upstream gave no length, close-delimited to
 * HTTP/1.0 ones, Connection per the client's keep-alive); the body streams
 * through the plugins' body filters to the client, and the upstream stops
 * being read while the client has 256 KiB queued (resumed below 64 KiB by
 * request.c). At the end the upstream connection goes back to the pool when
 * it may, and conn.c is told the response is done. A 101 answer to a
 * WebSocket upgrade turns both connections into a tunnel.
 * Failure modes: 502/503/504 answers are retried on another node while the
 * retry budget allows (request.c); 1xx interim answers are dropped; an
 * invalid response is UF_PROTO (502 when nothing reached the client); an
 * upstream failing mid-response cuts the client connection; a response
 * delimited by the upstream's close ends at its EOF. Worker thread only. */
#include "config.h"

#include "lib/err.h"
#include "lib/log.h"
#include "proxy/conn_int.h"
#include "proxy/health_int.h"
#include "proxy/plugin_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void body_filters(struct gw_proxy__req *r, const char **p, size_t *n, bool eof)
{
	for (size_t i = 0; i < gw_proxy__req_n_plugins(r); i++) {
		const struct gw_proxy__plugin_inst *pi = gw_proxy__req_plugin(r, i);
		if (pi->p->body_filter != NULL) {
			pi->p->body_filter(r, pi->conf, p, n, eof);
		}
	}
}

static void to_client(struct gw_proxy__req *r, const char *p, size_t n)
{
	struct gw_proxy__dconn *dc = r->dc;
	if (!r->dc->tunnel) {
		body_filters(r, &p, &n, false);
		if (n == 0) {
			return;
		}
	}
	if (r->h2 != NULL) {
		gw_proxy__h2_body(r, p, n); /* pauses the upstream itself */
		return;
	}
	if (r->resp_chunked) {
		char pre[24];
		int k = snprintf(pre, sizeof pre, "%zx\r\n", n);
		gw_proxy__dconn_write(dc, pre, (size_t)k);
		gw_proxy__dconn_write(dc, p, n);
		gw_proxy__dconn_write(dc, "\r\n", 2);
	} else {
		gw_proxy__dconn_write(dc, p, n);
	}
	gw_proxy__note_queued(dc->wq_bytes + dc->out.len);
	if (!dc->closing && r->uc != NULL && dc->wq_bytes + dc->out.len > GW_PROXY__HWM &&
	    !r->uc->bp_paused) {
		r->uc->bp_paused = true;
		gw_proxy__uconn_update_reading(r->uc);
	}
}

static int u_on_status(http_parser *hp, const char *at, size_t n)
{
	struct gw_proxy__uconn *uc = hp->data;
	if (uc->req == NULL) {
		return -1;
	}
	return gw_buf_append(&uc->req->reason, at, n) == 0 ? 0 : -1;
}

static int u_on_header_field(http_parser *hp, const char *at, size_t n)
{
	struct gw_proxy__uconn *uc = hp->data;
	if (uc->req == NULL) {
		return -1;
	}
	return gw_proxy__hc_field(&uc->req->rh, &uc->req->arena, at, n) == 0 ? 0 : -1;
}

static int u_on_header_value(http_parser *hp, const char *at, size_t n)
{
	struct gw_proxy__uconn *uc = hp->data;
	if (uc->req == NULL) {
		return -1;
	}
	return gw_proxy__hc_value(&uc->req->rh, at, n) == 0 ? 0 : -1;
}

bool gw_proxy__resp_skip_header(const struct gw_proxy__hdr *h, const char *conn)
{
	static const struct gw_proxy__hname names[] = {
	    GW_PROXY__HNAME("connection"),       GW_PROXY__HNAME("keep-alive"),
	    GW_PROXY__HNAME("proxy-connection"), GW_PROXY__HNAME("te"),
	    GW_PROXY__HNAME("trailer"),          GW_PROXY__HNAME("transfer-encoding"),
	    GW_PROXY__HNAME("upgrade"),          GW_PROXY__HNAME("content-length"),
	};
	if (gw_proxy__hdr_in(h, names, sizeof names / sizeof names[0])) {
		return true;
	}
	return conn != NULL && gw_proxy__has_token(conn, h->name);
}

static int u_on_headers_complete(http_parser *hp)
{
	struct gw_proxy__uconn *uc = hp->data;
	struct gw_proxy__req *r = uc->req;
	struct gw_proxy__dconn *dc;
	const char *conn = NULL, *cl = NULL, *upg = NULL;
	struct gw_buf b;
	int status = hp->status_code, rv = 0;
	bool nobody, will_close;

	if (r == NULL || gw_proxy__hc_flush(&r->rh, &r->arena) != 0) {
		return -1;
	}
	dc = r->dc;
	if (status >= 100 && status < 200 && status != 101) {
		uc->skip_1xx = true; /* interim response: not forwarded */
		return 1;            /* and never has a body, whatever its framing headers say */
	}
	if (status == 101 && !r->ws) {
		return -1;
	}
	gw_proxy__health_report(r->up, r->node, GW_PROXY__HR_STATUS, status); /* passive */
	if ((status == 502 || status == 503 || status == 504) && gw_proxy__req_retry_allowed(r)) {
		uc->retry_status = true;
		http_parser_pause(hp, 1);
		return 0;
	}
	r->status = status;
	if (status != 101) {
		gw_proxy__plugin_resp_headers_apply(r);
		for (size_t i = 0; i < gw_proxy__req_n_plugins(r); i++) {
			const struct gw_proxy__plugin_inst *pi = gw_proxy__req_plugin(r, i);
			if (pi->p->header_filter != NULL) {
				pi->p->header_filter(r, pi->conf);
			}
		}
		status = r->status;
	}
	for (size_t i = 0; i < r->rh.n; i++) {
		if (gw_proxy__hdr_is(&r->rh.v[i], "connection")) {
			conn = r->rh.v[i].value;
		} else if (gw_proxy__hdr_is(&r->rh.v[i], "content-length")) {
			cl = r->rh.v[i].value;
		} else if (gw_proxy__hdr_is(&r->rh.v[i], "upgrade")) {
			upg = r->rh.v[i].value;
		}
	}
	if (conn != NULL && strcasecmp(conn, "keep-alive") == 0) {
		conn = NULL; /* names no header but Keep-Alive, dropped anyway */
	}
	nobody = r->method == HTTP_HEAD || status == 204 || status == 304 || status == 101;
	if (r->h2 != NULL) {
		char num2[24];
		const char *clen = NULL;
		if (r->resp_len_override >= 0) {
			clen = gw_proxy__u64_text((uint64_t)r->resp_len_override, num2);
		} else if (nobody) {
			clen = status != 204 ? cl : NULL;
		} else if (!(hp->flags & F_CHUNKED) && (hp->flags & F_CONTENTLENGTH)) {
			clen = gw_proxy__u64_text(hp->content_length, num2);
		}
		r->resp_started = true;
		r->status = status;
		if (gw_proxy__h2_head(r, status, clen, nobody) != 0) {
			return -1;
		}
		return nobody ? 1 : 0;
	}
	b = r->head; /* its memory goes back to r->head below */
	b.len = 0;
	char num[24];
	rv |= gw_buf_reserve(&b, 512);
	rv |= gw_proxy__cat(&b, "HTTP/1.1 ", gw_proxy__u64_text((uint64_t)status, num), " ",
			    r->reason.len ? r->reason.data : gw_proxy__reason(status), "\r\n",
			    GW_PROXY__CAT_END);
	for (size_t i = 0; i < r->rh.n; i++) {
		const struct gw_proxy__hdr *h = &r->rh.v[i];
		if (gw_proxy__resp_skip_header(h, conn)) {
			continue;
		}
		rv |= gw_buf_append(&b, h->name, h->name_len);
		rv |= gw_buf_append(&b, ": ", 2);
		rv |= gw_buf_append(&b, h->value, h->value_len);
		rv |= gw_buf_append(&b, "\r\n", 2);
	}
	if (status == 101) {
		rv |= gw_buf_printf(&b, "Connection: upgrade\r\nUpgrade: %s\r\n",
				    upg ? upg : "websocket");
	} else if (r->resp_len_override >= 0) {
		rv |= gw_proxy__cat(
		    &b, "Content-Length: ", gw_proxy__u64_text((uint64_t)r->resp_len_override, num),
		    "\r\n", GW_PROXY__CAT_END);
	} else if (nobody) {
		if (cl != NULL && status != 204) {
			rv |= gw_buf_printf(&b, "Content-Length: %s\r\n", cl);
		}
	} else if ((hp->flags & F_CHUNKED) || !(hp->flags & F_CONTENTLENGTH)) {
		if (r->http_minor >= 1) {
			r->resp_chunked = true;
			rv |= gw_buf_appends(&b, "Transfer-Encoding: chunked\r\n");
		} else {
			r->resp_close = true; /* HTTP/1.0 client: length by close */
		}
	} else {
		rv |= gw_proxy__cat(&b,
				    "Content-Length: ", gw_proxy__u64_text(hp->content_length, num),
				    "\r\n", GW_PROXY__CAT_END);
	}
	will_close = !r->keepalive || dc->w->stopping || !r->body_done || r->resp_close ||
		     dc->n_requests + 1 >= dc->w->p->opts.max_requests;
	if (status != 101) {
		if (will_close) {
			rv |= gw_buf_appends(&b, "Connection: close\r\n");
		} else if (r->http_minor == 0) {
			rv |= gw_buf_appends(&b, "Connection: keep-alive\r\n");
		}
	}
	rv |= gw_buf_append(&b, "\r\n", 2);
	r->head = b;
	if (rv != 0) {
		return -1;
	}
	r->close_after = will_close;
	r->resp_started = true;
	r->status = status;
	gw_proxy__dconn_write(dc, b.data, b.len);
	if (status == 101) {
		uc->tunnel = true;
		dc->tunnel = true;
		r->close_after = true;
	}
	/* A response to HEAD, a 204 or a 304 ends with its head (RFC 9112
	 * 6.3): bytes an upstream sends after it as a body (framing headers
	 * or not) must not reach the client, where they would be read as the
	 * start of the next response. 1 tells http_parser there is no body. */
	return nobody && status != 101 ? 1 : 0;
}

static int u_on_body(http_parser *hp, const char *at, size_t n)
{
	struct gw_proxy__uconn *uc = hp->data;
	struct gw_proxy__req *r = uc->req;
	struct gw_proxy__dconn *dc;
	if (r == NULL || uc->retry_status) {
		return -1;
	}
	dc = r->dc; /* outlives r: freed in its close callback */
	to_client(r, at, n);
	return uc->req == NULL || dc->closing ? -1 : 0;
}

static int u_on_message_complete(http_parser *hp)
{
	struct gw_proxy__uconn *uc = hp->data;
	struct gw_proxy__req *r = uc->req;
	if (r == NULL) {
		return -1;
	}
	if (uc->skip_1xx) {
		uc->skip_1xx = false;
		gw_proxy__hc_reset(&r->rh);
		r->reason.len = 0;
		return 0;
	}
	uc->msg_done = true;
	http_parser_pause(hp, 1);
	return 0;
}

static const http_parser_settings u_settings = {
    .on_status = u_on_status,
    .on_header_field = u_on_header_field,
    .on_header_value = u_on_header_value,
    .on_headers_complete = u_on_headers_complete,
    .on_body = u_on_body,
    .on_message_complete = u_on_message_complete,
};

static void u_finish(struct gw_proxy__req *r)
{
	struct gw_proxy__uconn *uc = r->uc;
	struct gw_proxy__dconn *dc = r->dc;
	bool keep = http_should_keep_alive(&uc->parser) && r->body_done && r->obuf.len == 0 &&
		    uc->wq_bytes == 0 && !uc->tunnel;
	const struct gw_proxy__upstream *up = r->up;

	gw_proxy__req_detach_uc(r, false);
	gw_proxy__uconn_release(uc, keep, up->pool_idle_ms, up->pool_requests, up->pool_size);
	if (r->method != HTTP_HEAD) {
		const char *tail = NULL;
		size_t tn = 0;
		body_filters(r, &tail, &tn, true);
		if (tn > 0) {
			if (r->resp_chunked) {
				char pre[24];
				int k = snprintf(pre, sizeof pre, "%zx\r\n", tn);
				gw_proxy__dconn_write(dc, pre, (size_t)k);
				gw_proxy__dconn_write(dc, tail, tn);
				gw_proxy__dconn_write(dc, "\r\n", 2);
			} else if (r->h2 != NULL) {
				gw_proxy__h2_body(r, tail, tn);
			} else {
				gw_proxy__dconn_write(dc, tail, tn);
			}
		}
	}
	if (r->h2 != NULL) {
		gw_proxy__h2_end(r); /* the stream ends once its body is sent */
		return;
	}
	if (r->resp_chunked) {
		gw_proxy__dconn_write(dc, "0\r\n\r\n", 5);
	}
	gw_proxy__dconn_response_done(dc); /* may free r */
}

void gw_proxy__req_upstream_data(struct gw_proxy__req *r, const char *p, size_t n)
{
	struct gw_proxy__uconn *uc = r->uc;
	size_t done;
	enum http_errno e;

	if (uc->tunnel) {
		to_client(r, p, n);
		return;
	}
	done = http_parser_execute(&uc->parser, &u_settings, p, n);
	e = HTTP_PARSER_ERRNO(&uc->parser);
	if (r->dc->closing || r->uc != uc) {
		return;
	}
	if (uc->retry_status) {
		gw_warnf("proxy", "upstream %s answered %d, trying another node",
			 r->up->nodes[r->node].text, uc->parser.status_code);
		GW_PROXY__COUNT(r->dc->w, up_fail);
		gw_proxy__req_detach_uc(r, true);
		gw_proxy__req_prepare_replay(r);
		gw_proxy__req_attempt(r);
		return;
	}
	if (uc->tunnel) {
		if (done < n) {
			to_client(r, p + done, n - done);
		}
		/* bytes the client sent after the upgrade request */
		if (r->dc->pending.len > 0) {
			gw_proxy__uconn_write(uc, r->dc->pending.data, r->dc->pending.len);
			r->dc->pending.len = 0;
		}
		gw_proxy__dconn_update_reading(r->dc);
		return;
	}
	if (uc->msg_done) {
		u_finish(r);
		return;
	}
	if (e != HPE_OK || done != n) {
		gw_proxy__req_upstream_failed(r, UF_PROTO);
	}
}

void gw_proxy__req_upstream_eof(struct gw_proxy__req *r)
{
	struct gw_proxy__uconn *uc = r->uc;
	if (uc->tunnel) {
		/* flush what the upstream sent last (a close frame...), then close */
		gw_proxy__req_detach_uc(r, true);
		gw_proxy__dconn_response_done(r->dc);
		return;
	}
	if (r->resp_started) {
		http_parser_execute(&uc->parser, &u_settings, NULL, 0);
		if (uc->msg_done && r->uc == uc) {
			u_finish(r); /* body delimited by the close */
			return;
		}
		gw_proxy__req_cut(r); /* truncated response */
		return;
	}
	gw_proxy__req_upstream_failed(r, UF_RESET);
}
