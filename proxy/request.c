/* request.c: one proxied request, from routing to the end of its response.
 *
 * Happy path: at headers-complete the request is checked (reqhead.c),
 * routed on the worker's snapshot, the plugins' rewrite and access phases
 * run, a node is picked and an upstream connection taken from the pool or
 * opened. The head rebuilt for the upstream goes out once connected and the
 * body streams through as it arrives, re-chunked when it came chunked; the
 * first 64 KiB of body are kept so a failed attempt can be replayed on the
 * next node. The client stops being read while 256 KiB of its body wait
 * for the upstream and is read again below 64 KiB. The response side is
 * response.c.
 * Failure modes: no route 404, no upstream 503, connect errors/timeouts and
 * 502/503/504 answers are retried on other nodes (retries, retry_timeout)
 * while nothing reached the client; then 502 (unreachable) or 504 (timeout).
 * An upstream failing mid-response cuts the client connection; a client
 * going away closes the upstream connection. Worker thread only. */
#include "config.h"

#include "lib/err.h"
#include "lib/log.h"
#include "proxy/conn_int.h"
#include "proxy/health_int.h"
#include "proxy/plugin_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

atomic_size_t gw_proxy__queued_hwm;

static uint64_t now_ms(void)
{
	return uv_hrtime() / 1000000;
}

/* ---- request life */

static void req_defaults(struct gw_proxy__req *r, struct gw_proxy__dconn *dc)
{
	r->dc = dc;
	r->content_length = -1;
	r->node = -1;
	r->replay_ok = true;
	r->keepalive = true;
	r->up_method = -1;
	r->resp_len_override = -1;
}

struct gw_proxy__req *gw_proxy__req_new(struct gw_proxy__dconn *dc)
{
	struct gw_proxy__req *r = calloc(1, sizeof *r);
	if (r == NULL) {
		return NULL;
	}
	gw_arena_init(&r->arena);
	gw_buf_init(&r->url);
	gw_buf_init(&r->obuf);
	gw_buf_init(&r->replay);
	gw_buf_init(&r->reason);
	gw_buf_init(&r->head);
	req_defaults(r, dc);
	return r;
}

void gw_proxy__req_detach_uc(struct gw_proxy__req *r, bool close)
{
	struct gw_proxy__uconn *uc = r->uc;
	if (uc == NULL) {
		return;
	}
	r->uc = NULL;
	uc->req = NULL;
	r->t_up_end = uv_hrtime();
	if (r->snap != NULL && r->up != NULL) {
		gw_proxy__balancer_done(r->snap, r->up, r->node, now_ms() - r->t_start);
	}
	if (close) {
		gw_proxy__uconn_close(uc);
	}
}

/* Everything a finished request holds on to, except its small buffers. */
static void req_release(struct gw_proxy__req *r)
{
	gw_proxy__ops_req_done(r);
	if (r->headers_done) {
		struct gw_proxy__worker *w = r->dc->w;
		int cls =
		    r->resp_started && r->status >= 100 && r->status < 600 ? r->status / 100 : 0;
		GW_PROXY__COUNT(w, requests);
		GW_PROXY__COUNT(w, status[cls]);
	}
	gw_proxy__req_detach_uc(r, true);
	gw_proxy__plugin_undelay(r);
	if (r->route != NULL) {
		for (size_t i = 0; i < gw_proxy__req_n_plugins(r); i++) {
			const struct gw_proxy__plugin_inst *pi = gw_proxy__req_plugin(r, i);
			if (pi->p->log != NULL) {
				pi->p->log(r, pi->conf);
			}
		}
	}
	gw_proxy__wsnap_unref(r->snap);
	r->snap = NULL;
	gw_buf_close(&r->obuf);
	gw_buf_close(&r->replay);
}

void gw_proxy__req_free(struct gw_proxy__req *r)
{
	req_release(r);
	gw_proxy__hc_close(&r->hc);
	gw_proxy__hc_close(&r->rh);
	gw_buf_close(&r->url);
	gw_buf_close(&r->reason);
	gw_buf_close(&r->head);
	gw_arena_close(&r->arena);
	free(r);
}

struct gw_proxy__req *gw_proxy__req_recycle(struct gw_proxy__req *r)
{
	struct gw_proxy__req keep;
	req_release(r);
	/* keep the arena's first chunk and the buffers' memory, reset the rest */
	keep = *r;
	memset(r, 0, sizeof *r);
	r->arena = keep.arena;
	gw_arena_reset(&r->arena);
	r->url = keep.url;
	r->url.len = 0;
	r->reason = keep.reason;
	r->reason.len = 0;
	r->head = keep.head;
	r->head.len = 0;
	if (r->head.cap > 4096) {
		gw_buf_close(&r->head); /* an idle connection keeps a small one only */
	}
	r->hc.name = keep.hc.name;
	r->hc.value = keep.hc.value;
	r->hc.name.len = r->hc.value.len = 0;
	r->rh.name = keep.rh.name;
	r->rh.value = keep.rh.value;
	r->rh.name.len = r->rh.value.len = 0;
	gw_buf_init(&r->obuf);
	gw_buf_init(&r->replay);
	req_defaults(r, keep.dc);
	return r;
}

void gw_proxy__req_abort(struct gw_proxy__req *r)
{
	gw_proxy__req_free(r);
}

void gw_proxy__req_respond(struct gw_proxy__req *r, int status, const char *ctype, const char *body,
			   bool close)
{
	if (r->h2 != NULL) {
		gw_proxy__h2_respond(r, status, ctype, body);
	} else {
		gw_proxy__dconn_respond(r->dc, status, ctype, body, close);
	}
}

void gw_proxy__req_cut(struct gw_proxy__req *r)
{
	if (r->h2 != NULL) {
		gw_proxy__h2_cut(r);
	} else {
		gw_proxy__dconn_abort(r->dc);
	}
}

static void respond_json(struct gw_proxy__req *r, int status, const char *msg)
{
	char body[256];
	snprintf(body, sizeof body, "{\"error_msg\":\"%s\"}\n", msg);
	gw_proxy__req_respond(r, status, "text/plain; charset=utf-8", body, false);
}

static void chash_key(struct gw_proxy__req *r)
{
	const struct gw_proxy__upstream *up = r->up;
	struct gw_proxy__match_ctx m;
	char name[256], buf[1024];
	const char *v = NULL;
	size_t vl = 0;
	bool ok = false;

	gw_proxy__req_match_ctx(r, &m);
	if (up->hash_on == GW_PROXY__HASH_VARS) {
		ok = gw_proxy__var(&m, up->key, buf, sizeof buf, &v, &vl);
	} else if (up->hash_on == GW_PROXY__HASH_HEADER) {
		snprintf(name, sizeof name, "http_%s", up->key);
		ok = gw_proxy__var(&m, name, buf, sizeof buf, &v, &vl);
	} else if (up->hash_on == GW_PROXY__HASH_COOKIE) {
		snprintf(name, sizeof name, "cookie_%s", up->key);
		ok = gw_proxy__var(&m, name, buf, sizeof buf, &v, &vl);
	} else {
		/* vars_combinations: "$host$uri" style */
		struct gw_buf out;
		const char *p = up->key;
		gw_buf_init(&out);
		while (*p) {
			if (*p == '$') {
				size_t k = 1;
				while (isalnum((unsigned char)p[k]) || p[k] == '_') {
					k++;
				}
				snprintf(name, sizeof name, "%.*s", (int)(k - 1), p + 1);
				if (gw_proxy__var(&m, name, buf, sizeof buf, &v, &vl)) {
					gw_buf_append(&out, v, vl);
				}
				p += k;
			} else {
				gw_buf_append(&out, p++, 1);
			}
		}
		if (out.len > 0) {
			r->hash_key = gw_arena_strndup(&r->arena, out.data, out.len);
			r->hash_key_len = out.len;
			ok = r->hash_key != NULL;
		}
		gw_buf_close(&out);
		if (ok) {
			return;
		}
	}
	if (!ok) {
		/* APISIX falls back to the client address. */
		v = gw_proxy__req_remote_ip(r);
		vl = strlen(v);
	}
	r->hash_key = gw_arena_strndup(&r->arena, v, vl);
	r->hash_key_len = r->hash_key ? vl : 0;
}

static void go_on(struct gw_proxy__req *r);

void gw_proxy__req_headers_done(struct gw_proxy__req *r)
{
	struct gw_proxy__dconn *dc = r->dc;
	struct gw_proxy__worker *w = dc->w;
	struct gw_proxy__match_ctx m;
	int st;

	gw_proxy__ops_req_head(r);
	st = gw_proxy__req_check(r);

	if (st != 0) {
		r->keepalive = false;
		dc->err_status = st;
		return;
	}
	if (w->snap == NULL) {
		respond_json(r, 503, "no configuration loaded yet");
		return;
	}
	r->snap = w->snap;
	r->snap->refs++;
	gw_proxy__req_match_ctx(r, &m);
	r->route = gw_proxy__router_match(r->snap->cfg, &m);
	if (r->route == NULL) {
		respond_json(r, 404, "404 Route Not Found");
		return;
	}
	for (int phase = 0; phase < 2; phase++) {
		for (size_t i = 0; i < gw_proxy__req_n_plugins(r); i++) {
			const struct gw_proxy__plugin_inst *pi = gw_proxy__req_plugin(r, i);
			int (*hook)(struct gw_proxy__req *, const void *) =
			    phase == 0 ? pi->p->rewrite : pi->p->access;
			if (hook != NULL && hook(r, pi->conf) != 0) {
				return; /* the plugin answered */
			}
		}
		if (phase == 0 && r->consumer != NULL && gw_proxy__consumer_merge(r) != 0) {
			return;
		}
	}
	if (r->body_hook != NULL && !r->body_done) {
		r->body_wait = true;      /* gw_proxy__req_body_end goes on */
		if (r->expect_continue) { /* the client waits for it to send its body */
			static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
			gw_proxy__dconn_write(r->dc, cont, sizeof cont - 1);
		}
		return;
	}
	go_on(r);
}

/* After the access phase (and the body a plugin waited for): upstream now
 * or after limit-req's delay. */
static void go_on(struct gw_proxy__req *r)
{
	if (r->delay_ms > 0) {
		gw_proxy__plugin_delay(r); /* limit-req: gw_proxy__req_proceed later */
		return;
	}
	gw_proxy__req_proceed(r);
}

void gw_proxy__req_proceed(struct gw_proxy__req *r)
{
	struct gw_proxy__dconn *dc = r->dc;
	/* a plugin may have chosen the upstream (traffic-split) */
	const struct gw_proxy__upstream *up = r->up != NULL ? r->up : r->route->up;

	if (up == NULL) {
		respond_json(r, 503, "missing upstream configuration in Route or Service");
		return;
	}
	r->up = up;
	for (size_t i = 0; i < r->hc.n; i++) {
		if (gw_proxy__hdr_is(&r->hc.v[i], "upgrade") &&
		    strcasecmp(r->hc.v[i].value, "websocket") == 0) {
			r->ws = r->route->websocket;
		}
	}
	r->connect_ms = r->route->timeout.connect_ms ? r->route->timeout.connect_ms
			: up->timeout.connect_ms     ? up->timeout.connect_ms
						     : 60000;
	r->send_ms = r->route->timeout.send_ms ? r->route->timeout.send_ms
		     : up->timeout.send_ms     ? up->timeout.send_ms
					       : 60000;
	r->read_ms = r->route->timeout.read_ms ? r->route->timeout.read_ms
		     : up->timeout.read_ms     ? up->timeout.read_ms
					       : 60000;
	r->max_attempts = 1 + (up->retries >= 0  ? up->retries
			       : up->n_nodes > 0 ? (int)up->n_nodes - 1
						 : 0);
	r->t_start = now_ms();
	r->t_up_begin = uv_hrtime();
	if (up->type == GW_PROXY__LB_CHASH) {
		chash_key(r);
	}
	if (r->expect_continue && !r->body_done && r->h2 == NULL) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		gw_proxy__dconn_write(dc, cont, sizeof cont - 1);
	}
	gw_proxy__req_attempt(r);
}

/* ---- upstream attempts */

/* Read the client again once less than GW_PROXY__LWM of its body waits for
 * the upstream (buffered or queued on the socket). */
static void bp_release(struct gw_proxy__req *r)
{
	struct gw_proxy__dconn *dc = r->dc;
	size_t queued = r->obuf.len + (r->uc ? r->uc->wq_bytes : 0);
	if (r->h2 != NULL) {
		gw_proxy__h2_body_queued(r, queued);
		return;
	}
	if (dc->stop_bp && queued < GW_PROXY__LWM) {
		dc->stop_bp = false;
		gw_proxy__dconn_update_reading(dc);
	}
}

static void send_head(struct gw_proxy__req *r)
{
	struct gw_proxy__uconn *uc = r->uc;
	struct gw_buf b = r->head; /* its memory goes back to r->head below */
	for (size_t i = 0; i < gw_proxy__req_n_plugins(r); i++) {
		const struct gw_proxy__plugin_inst *pi = gw_proxy__req_plugin(r, i);
		if (pi->p->before_proxy != NULL) {
			pi->p->before_proxy(r, pi->conf);
		}
	}
	b.len = 0;
	if (gw_proxy__req_build_head(r, &b) != 0 ||
	    gw_buf_append(&b, r->obuf.data, r->obuf.len) != 0) {
		r->head = b;
		gw_proxy__req_detach_uc(r, true);
		respond_json(r, 503, "out of memory");
		return;
	}
	if (r->obuf.len > 0) {
		r->body_sent_any = true;
	}
	r->obuf.len = 0;
	r->head_sent = true;
	/* a failed write is reported from the loop, never from inside this call */
	gw_proxy__uconn_write(uc, b.data, b.len);
	r->head = b;
	gw_proxy__uconn_arm(uc);
	/* The body that waited in obuf may have gone out whole, with no write
	 * callback to come: back-pressure set while connecting ends here, or the
	 * client would never be read again. */
	bp_release(r);
}

static void connect_node(struct gw_proxy__req *r, int node, bool fresh)
{
	struct gw_proxy__uconn *uc;
	struct gw_proxy__tls_up tls;
	int err = 0;

	r->node = node;
	gw_proxy__tls_up_params(r, &r->up->nodes[node], &tls);
	if (tls.client_missing) {
		gw_warnf("proxy", "upstream tls.client_cert_id %s: no ssls object of type client",
			 r->up->tls_client_cert_id);
		uc = NULL;
		err = UV_EINVAL;
	} else {
		uc = gw_proxy__uconn_get(r->dc->w, &r->up->nodes[node], fresh, r->connect_ms, &tls,
					 &err);
	}
	if (uc == NULL) {
		GW_PROXY__COUNT(r->dc->w, up_fail);
		gw_proxy__health_report(r->up, node, GW_PROXY__HR_TCP, 0);
		gw_proxy__balancer_done(r->snap, r->up, node, 0);
		gw_warnf("proxy", "connect to %s: %s", r->up->nodes[node].text, uv_strerror(err));
		gw_proxy__req_attempt(r);
		return;
	}
	uc->req = r;
	r->uc = uc;
	r->head_sent = false;
	http_parser_init(&uc->parser, HTTP_RESPONSE);
	uc->parser.data = uc;
	if (uc->connected) {
		send_head(r);
	}
}

bool gw_proxy__req_retry_allowed(const struct gw_proxy__req *r)
{
	if (r->resp_started || r->attempts >= r->max_attempts) {
		return false;
	}
	if (!r->replay_ok && r->body_sent_any) {
		return false;
	}
	if (r->up->retry_timeout_ms && now_ms() - r->t_start >= r->up->retry_timeout_ms) {
		return false;
	}
	return (size_t)__builtin_popcountll(r->tried.bits) < r->up->n_nodes;
}

void gw_proxy__req_prepare_replay(struct gw_proxy__req *r)
{
	if (r->replay_ok && r->body_sent_any) {
		r->obuf.len = 0;
		gw_buf_append(&r->obuf, r->replay.data, r->replay.len);
	}
	gw_proxy__hc_reset(&r->rh);
	r->reason.len = 0;
}

int gw_proxy__req_set_body(struct gw_proxy__req *r, const char *p, size_t n)
{
	if (r->uc != NULL || r->body_sent_any) {
		return GW_EINVAL; /* too late: the body is on its way */
	}
	r->obuf.len = 0;
	r->replay.len = 0;
	r->replay_ok = n <= GW_PROXY__REPLAY_MAX;
	if (gw_buf_append(&r->obuf, p, n) != 0 ||
	    (r->replay_ok && gw_buf_append(&r->replay, p, n) != 0)) {
		return GW_ENOMEM;
	}
	r->chunked_in = false; /* the head says Content-Length now */
	r->content_length = (int64_t)n;
	return 0;
}

void gw_proxy__req_attempt(struct gw_proxy__req *r)
{
	int node;
	if (r->attempts >= r->max_attempts) {
		node = -1;
	} else {
		node = gw_proxy__balancer_pick(r->snap, r->up, &r->tried, r->hash_key,
					       r->hash_key_len);
	}
	if (node < 0) {
		gw_warnf("proxy", "route %s: no upstream node could be reached", r->route->id);
		gw_proxy__req_respond(r, 502, NULL, NULL, false);
		return;
	}
	if (node < 64) {
		r->tried.bits |= 1ULL << node;
	}
	if (r->attempts > 0) {
		GW_PROXY__COUNT(r->dc->w, retries);
	}
	r->attempts++;
	connect_node(r, node, false);
}

void gw_proxy__req_connected(struct gw_proxy__req *r)
{
	send_head(r);
}

void gw_proxy__req_upstream_failed(struct gw_proxy__req *r, enum gw_proxy__fail why)
{
	struct gw_proxy__uconn *uc = r->uc;
	bool reused = uc != NULL && uc->reused, got = uc != NULL && uc->got_bytes;
	int status = why == UF_CONNECT_TIMEOUT || why == UF_READ_TIMEOUT ? 504 : 502;

	gw_proxy__req_detach_uc(r, true);
	GW_PROXY__COUNT(r->dc->w, up_fail);
	if (r->resp_started) {
		gw_proxy__req_cut(r);
		return;
	}
	if (why == UF_RESET && reused && !got && !r->free_retry_used &&
	    (r->replay_ok || !r->body_sent_any)) {
		/* A pooled connection the upstream had closed: retry on a fresh one
		 * to the same node without spending a retry. */
		r->free_retry_used = true;
		gw_proxy__req_prepare_replay(r);
		connect_node(r, r->node, true);
		return;
	}
	gw_proxy__health_report(r->up, r->node,
				why == UF_CONNECT_TIMEOUT || why == UF_READ_TIMEOUT
				    ? GW_PROXY__HR_TIMEOUT
				: why == UF_PROTO ? GW_PROXY__HR_STATUS
						  : GW_PROXY__HR_TCP,
				0); /* passive */
	if (r->node >= 0) {
		gw_warnf("proxy", "upstream %s: %s", r->up->nodes[r->node].text,
			 why == UF_CONNECT           ? "connect failed"
			 : why == UF_CONNECT_TIMEOUT ? "connect timed out"
			 : why == UF_READ_TIMEOUT    ? "read timed out"
			 : why == UF_PROTO           ? "invalid response"
						     : "connection closed before the response");
	}
	if ((why == UF_CONNECT || why == UF_CONNECT_TIMEOUT || (why == UF_RESET && !got)) &&
	    gw_proxy__req_retry_allowed(r)) {
		gw_proxy__req_prepare_replay(r);
		gw_proxy__req_attempt(r);
		return;
	}
	gw_proxy__req_respond(r, status, NULL, NULL, false);
}

static void emit_body(struct gw_proxy__req *r, const char *p, size_t n)
{
	struct gw_proxy__dconn *dc = r->dc;
	size_t queued;
	if (r->replay_ok) {
		if (r->replay.len + n > GW_PROXY__REPLAY_MAX ||
		    gw_buf_append(&r->replay, p, n) != 0) {
			r->replay_ok = false;
			gw_buf_close(&r->replay);
		}
	}
	if (r->uc != NULL && r->uc->connected && r->head_sent) {
		r->body_sent_any = true;
		gw_proxy__uconn_write(r->uc, p, n);
	} else if (gw_buf_append(&r->obuf, p, n) != 0) {
		gw_proxy__req_cut(r);
		return;
	}
	queued = r->obuf.len + (r->uc ? r->uc->wq_bytes : 0);
	gw_proxy__note_queued(queued);
	/* while a plugin waits for the whole body nothing drains it: its hook
	 * bounds the size (hmac-auth: max_req_body_size), and an HTTP/2 stream
	 * keeps returning window meanwhile */
	if (r->h2 != NULL) {
		gw_proxy__h2_body_queued(r,
					 r->body_wait ? 0 : queued); /* flow control, per stream */
	} else if (queued > GW_PROXY__HWM && !dc->stop_bp && !r->body_wait) {
		dc->stop_bp = true;
		gw_proxy__dconn_update_reading(dc);
	}
}

void gw_proxy__req_body(struct gw_proxy__req *r, const char *p, size_t n)
{
	char pre[24];
	if (r->discard || r->resp_done) {
		return;
	}
	if (r->body_wait) {
		/* a hook that answers may free @r (HTTP/1): not touched after */
		r->body_wait = false;
		if (r->body_hook(r, r->body_hook_conf, p, n, false) != 0) {
			return;
		}
		r->body_wait = true;
	}
	if (r->chunked_in) {
		int k = snprintf(pre, sizeof pre, "%zx\r\n", n);
		emit_body(r, pre, (size_t)k);
		emit_body(r, p, n);
		emit_body(r, "\r\n", 2);
	} else {
		emit_body(r, p, n);
	}
}

void gw_proxy__req_body_end(struct gw_proxy__req *r)
{
	if (r->discard || r->resp_done) {
		return;
	}
	if (r->chunked_in) {
		emit_body(r, "0\r\n\r\n", 5);
	}
	if (r->body_wait) {
		r->body_wait = false;
		if (r->body_hook(r, r->body_hook_conf, NULL, 0, true) == 0) {
			go_on(r);
		}
		return;
	}
	if (r->uc != NULL && r->uc->connected) {
		gw_proxy__uconn_arm(r->uc);
	}
}

void gw_proxy__req_upstream_written(struct gw_proxy__req *r)
{
	bp_release(r);
}

void gw_proxy__req_client_drained(struct gw_proxy__req *r)
{
	if (r->uc != NULL && r->uc->bp_paused) {
		r->uc->bp_paused = false;
		gw_proxy__uconn_update_reading(r->uc);
	}
}

void gw_proxy__req_tunnel_data(struct gw_proxy__req *r, const char *p, size_t n)
{
	struct gw_proxy__uconn *uc = r->uc;
	if (uc == NULL) {
		return;
	}
	gw_proxy__uconn_write(uc, p, n);
	if (uc->wq_bytes > GW_PROXY__HWM && !r->dc->stop_bp) {
		r->dc->stop_bp = true;
		gw_proxy__dconn_update_reading(r->dc);
	}
}
