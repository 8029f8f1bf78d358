/* upstream.c: connections to upstream nodes and the per-worker keep-alive
 * pool.
 *
 * Happy path: gw_proxy__uconn_get returns the most recently used idle
 * connection to the node (keyed by "ip:port"), or starts a non-blocking
 * connect bounded by the connect timeout. While a request owns the
 * connection, its timer enforces the send timeout (between two completed
 * writes) and then the read timeout (between two reads). A released
 * connection goes back to its bucket if the response allowed keep-alive,
 * the bucket has room (keepalive_pool.size) and it served fewer than
 * keepalive_pool.requests requests; idle ones keep reading so a close by
 * the upstream is noticed at once, and are closed after idle_timeout.
 * Failure modes: connect errors, resets and timeouts are reported to the
 * owning request (request.c decides on retries and the status). */
#include "config.h"

#include "lib/err.h"
#include "lib/log.h"
#include "proxy/conn_int.h"

#include <stdlib.h>
#include <string.h>

static void u_timer_cb(uv_timer_t *t);

static void u_close_cb(uv_handle_t *h)
{
	struct gw_proxy__uconn *uc = h->data;
	if (--uc->open_handles == 0) {
		gw_proxy__tls_up_free(uc);
		free(uc);
	}
}

void gw_proxy__uconn_close(struct gw_proxy__uconn *uc)
{
	if (uc->closing) {
		return;
	}
	uc->closing = true;
	if (uc->bucket != NULL) {
		gw_list_del(&uc->idle);
		uc->bucket->n--;
		uc->bucket = NULL;
	}
	gw_list_del(&uc->all);
	uv_close((uv_handle_t *)&uc->tcp, u_close_cb);
	uv_close((uv_handle_t *)&uc->timer, u_close_cb);
}

static void u_alloc(uv_handle_t *h, size_t size, uv_buf_t *b)
{
	struct gw_proxy__uconn *uc = h->data;
	(void)size;
	b->base = uc->w->rbuf;
	b->len = sizeof uc->w->rbuf;
}

static void u_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct gw_proxy__uconn *uc = s->data;
	struct gw_proxy__req *r = uc->req;
	struct gw_proxy__worker *w = uc->w;

	if (uc->closing || n == 0) {
		return;
	}
	if (n < 0) {
		if (r != NULL && !gw_proxy__tls_up_ready(uc)) {
			gw_proxy__req_upstream_failed(r, UF_CONNECT); /* closed in the handshake */
		} else if (r != NULL) {
			gw_proxy__req_upstream_eof(r);
		} else {
			gw_proxy__uconn_close(uc); /* the upstream closed an idle connection */
		}
		return;
	}
	if (uc->tls != NULL) {
		bool ready = gw_proxy__tls_up_ready(uc);
		int rv;
		gw_proxy__worker_cork(w);
		rv = gw_proxy__tls_up_feed(uc, b->base, (size_t)n);
		if (rv != 0 && !uc->closing) {
			if (uc->req == NULL) {
				gw_proxy__uconn_close(uc);
			} else if (rv == GW_ESHUTDOWN && ready) {
				gw_proxy__req_upstream_eof(uc->req); /* close_notify: the end */
			} else {
				gw_proxy__req_upstream_failed(uc->req,
							      ready ? UF_PROTO : UF_CONNECT);
			}
		}
		gw_proxy__worker_uncork(w);
		return;
	}
	if (r == NULL) {
		gw_proxy__uconn_close(uc); /* bytes on an idle connection: not reusable */
		return;
	}
	uc->got_bytes = true;
	gw_proxy__uconn_arm(uc);
	gw_proxy__worker_cork(w);
	gw_proxy__req_upstream_data(r, b->base, (size_t)n);
	gw_proxy__worker_uncork(w);
}

void gw_proxy__uconn_update_reading(struct gw_proxy__uconn *uc)
{
	if (uc->closing || !uc->connected) {
		return;
	}
	if (uc->bp_paused) {
		uv_read_stop((uv_stream_t *)&uc->tcp);
	} else {
		uv_read_start((uv_stream_t *)&uc->tcp, u_alloc, u_read);
	}
	gw_proxy__uconn_arm(uc);
}

static void u_connect_cb(uv_connect_t *req, int status)
{
	struct gw_proxy__uconn *uc = req->data;
	if (uc->closing) {
		return;
	}
	if (status < 0) {
		if (uc->req != NULL) {
			gw_proxy__req_upstream_failed(uc->req, UF_CONNECT);
		} else {
			gw_proxy__uconn_close(uc);
		}
		return;
	}
	uc->connected = true;
	uv_tcp_nodelay(&uc->tcp, 1);
	uv_read_start((uv_stream_t *)&uc->tcp, u_alloc, u_read);
	if (uc->tls != NULL) {
		/* the request goes once the handshake is done (tls_up.c) */
		if (gw_proxy__tls_up_start(uc) != 0 && !uc->closing) {
			if (uc->req != NULL) {
				gw_proxy__req_upstream_failed(uc->req, UF_CONNECT);
			} else {
				gw_proxy__uconn_close(uc);
			}
		}
		return;
	}
	if (uc->req != NULL) {
		gw_proxy__req_connected(uc->req);
	}
}

struct gw_proxy__uconn *gw_proxy__uconn_get(struct gw_proxy__worker *w,
					    const struct gw_proxy__node *nd, bool fresh,
					    unsigned connect_ms, const struct gw_proxy__tls_up *tls,
					    int *err)
{
	struct gw_proxy__uconn *uc;
	char key[sizeof uc->key];
	int rv;

	if (tls != NULL && tls->on) {
		snprintf(key, sizeof key, "%016llx/%.54s", (unsigned long long)tls->hash, nd->text);
	} else {
		snprintf(key, sizeof key, "%s", nd->text);
	}
	if (!fresh) {
		struct gw_proxy__pool_bucket *b = gw_proxy__map_get(&w->pool, key, strlen(key));
		if (b != NULL && !gw_list_empty(&b->idle)) {
			uc = gw_container_of(gw_list_first(&b->idle), struct gw_proxy__uconn, idle);
			gw_list_del(&uc->idle);
			b->n--;
			uc->bucket = NULL;
			uc->reused = true;
			uc->got_bytes = false;
			uc->msg_done = false;
			uc->retry_status = false;
			uc->skip_1xx = false;
			uc->tphase = UT_NONE; /* the lazy timer fires, if at all, for nothing */
			return uc;
		}
	}
	uc = calloc(1, sizeof *uc);
	if (uc == NULL) {
		*err = UV_ENOMEM;
		return NULL;
	}
	uc->w = w;
	snprintf(uc->key, sizeof uc->key, "%s", key);
	gw_list_init(&uc->idle);
	gw_list_add_head(&w->uconns, &uc->all);
	uv_tcp_init(&w->loop, &uc->tcp);
	uv_timer_init(&w->loop, &uc->timer);
	uc->tcp.data = uc;
	uc->timer.data = uc;
	uc->connect_req.data = uc;
	uc->open_handles = 2;
	if (tls != NULL && tls->on && (rv = gw_proxy__tls_up_new(uc, tls)) != 0) {
		*err = rv == GW_ENOMEM ? UV_ENOMEM : UV_EINVAL;
		gw_proxy__uconn_close(uc);
		return NULL;
	}
	rv = uv_tcp_connect(&uc->connect_req, &uc->tcp, (const struct sockaddr *)&nd->addr,
			    u_connect_cb);
	if (rv != 0) {
		*err = rv;
		gw_proxy__uconn_close(uc);
		return NULL;
	}
	uc->tphase = UT_CONNECT;
	gw_proxy__timer_set(&uc->timer, u_timer_cb, &uc->t_due, connect_ms);
	return uc;
}

static void u_write_cb(uv_write_t *req, int status)
{
	struct gw_proxy__wbuf *wb = gw_container_of(req, struct gw_proxy__wbuf, req);
	struct gw_proxy__uconn *uc = wb->owner;
	uc->wq_bytes -= wb->len;
	free(wb);
	if (uc->closing) {
		return;
	}
	if (status < 0) {
		if (uc->req != NULL) {
			gw_proxy__req_upstream_failed(uc->req, UF_RESET);
		} else {
			gw_proxy__uconn_close(uc);
		}
		return;
	}
	gw_proxy__uconn_arm(uc);
	if (uc->req != NULL && gw_proxy__tls_up_ready(uc)) {
		gw_proxy__req_upstream_written(uc->req);
	}
}

void gw_proxy__uconn_write(struct gw_proxy__uconn *uc, const void *p, size_t n)
{
	if (uc->tls == NULL) {
		gw_proxy__uconn_write_raw(uc, p, n);
	} else if (!uc->closing && n > 0 && gw_proxy__tls_up_write(uc, p, n) != 0 && !uc->closing) {
		/* reported from the loop, as a failed write is */
		uc->tphase = UT_READ;
		gw_proxy__timer_set(&uc->timer, u_timer_cb, &uc->t_due, 0);
	}
}

void gw_proxy__uconn_write_raw(struct gw_proxy__uconn *uc, const void *p, size_t n)
{
	struct gw_proxy__wbuf *wb;
	uv_buf_t b;

	if (uc->closing || n == 0) {
		return;
	}
	if (uc->wq_bytes == 0 && uc->connected) {
		b = uv_buf_init((char *)p, (unsigned)n);
		int k = uv_try_write((uv_stream_t *)&uc->tcp, &b, 1);
		if (k > 0) {
			p = (const char *)p + k;
			n -= (size_t)k;
			if (n == 0) {
				return;
			}
		}
	}
	wb = gw_proxy__wbuf_new(n);
	if (wb != NULL) {
		memcpy(wb->data, p, n);
		wb->owner = uc;
		b = uv_buf_init(wb->data, (unsigned)n);
		if (uv_write(&wb->req, (uv_stream_t *)&uc->tcp, &b, 1, u_write_cb) == 0) {
			uc->wq_bytes += n;
			return;
		}
		free(wb);
	}
	/* Report the failure from the loop, not from inside the caller. */
	uc->tphase = UT_READ;
	gw_proxy__timer_set(&uc->timer, u_timer_cb, &uc->t_due, 0);
}

void gw_proxy__uconn_arm(struct gw_proxy__uconn *uc)
{
	struct gw_proxy__req *r = uc->req;
	enum gw_proxy__utimer ph;
	unsigned ms = 0;

	if (uc->closing || !uc->connected || !gw_proxy__tls_up_ready(uc)) {
		return; /* connecting: the connect timer runs (through the handshake) */
	}
	if (r == NULL) {
		return; /* idle timer is set by release */
	}
	if (uc->wq_bytes > 0 && !r->resp_started) {
		ph = UT_SEND;
		ms = r->send_ms;
	} else if (uc->bp_paused || (!r->body_done && !r->resp_started)) {
		/* paused by the client, or still sending a request body whose pace
		 * the client sets (its body timeout applies) */
		ph = UT_NONE;
	} else {
		ph = UT_READ;
		ms = r->read_ms;
	}
	uc->tphase = ph;
	if (ph != UT_NONE) {
		gw_proxy__timer_set(&uc->timer, u_timer_cb, &uc->t_due, ms);
	}
}

static void u_timer_cb(uv_timer_t *t)
{
	struct gw_proxy__uconn *uc = t->data;
	struct gw_proxy__req *r = uc->req;
	enum gw_proxy__utimer ph = uc->tphase;

	if (uc->closing || ph == UT_NONE || gw_proxy__timer_early(t, u_timer_cb, uc->t_due)) {
		return; /* lazy timer: no deadline now, or a later one */
	}
	uc->tphase = UT_NONE;
	if (r == NULL) {
		gw_proxy__uconn_close(uc);
		return;
	}
	if (ph == UT_CONNECT) {
		gw_proxy__req_upstream_failed(r, UF_CONNECT_TIMEOUT);
	} else if (r->resp_started) {
		gw_proxy__req_cut(r);
	} else {
		gw_proxy__req_upstream_failed(r, ph == UT_READ && uc->wq_bytes == 0 && uc->connected
						     ? UF_READ_TIMEOUT
						     : UF_RESET);
	}
}

void gw_proxy__uconn_release(struct gw_proxy__uconn *uc, bool keep, unsigned idle_ms,
			     unsigned max_requests, unsigned pool_size)
{
	struct gw_proxy__worker *w = uc->w;
	struct gw_proxy__pool_bucket *b;

	uc->req = NULL;
	uc->n_requests++;
	if (!keep || uc->closing || uc->n_requests >= max_requests || pool_size == 0 ||
	    w->stopping) {
		gw_proxy__uconn_close(uc);
		return;
	}
	b = gw_proxy__map_get(&w->pool, uc->key, strlen(uc->key));
	if (b == NULL) {
		b = calloc(1, sizeof *b);
		if (b == NULL) {
			gw_proxy__uconn_close(uc);
			return;
		}
		snprintf(b->key, sizeof b->key, "%s", uc->key);
		gw_list_init(&b->idle);
		if (gw_proxy__map_put(&w->pool, b->key, strlen(b->key), b) != 0) {
			free(b);
			gw_proxy__uconn_close(uc);
			return;
		}
	}
	if (b->n >= pool_size) {
		gw_proxy__uconn_close(uc);
		return;
	}
	gw_list_add_head(&b->idle, &uc->idle);
	b->n++;
	uc->bucket = b;
	if (uc->bp_paused) {
		uc->bp_paused = false;
		uv_read_start((uv_stream_t *)&uc->tcp, u_alloc, u_read);
	}
	uc->tphase = UT_IDLE;
	gw_proxy__timer_set(&uc->timer, u_timer_cb, &uc->t_due, idle_ms);
}
