/* health_probe.c: the checker thread — active probes and the passive queue.
 *
 * Happy path: one thread per proxy runs its own libuv loop. Every 100 ms
 * (and when a worker queues a report or a snapshot is bound) it drains the
 * passive queue and starts the probes that are due: a node is probed every
 * healthy.interval while it takes traffic and every unhealthy.interval while
 * it does not, at most `concurrency` probes per upstream at once. A tcp
 * probe succeeds when the connection opens; an http(s) probe sends
 * "GET http_path HTTP/1.0" with Host (checks.active.host, else the node's)
 * and req_headers, and classifies the status line's code by the active
 * http_statuses lists. Every probe is bounded by checks.active.timeout.
 * Failure modes: a refused or reset connection is a tcp failure, the
 * deadline a timeout, a response without a status line (or a failed TLS
 * handshake) an http failure — all fed to the node's state machine
 * (health_state.c). Threads: everything here runs on the checker thread,
 * except start/stop (the proxy's control thread). */
#include "config.h"

#include "lib/err.h"
#include "lib/log.h"
#include "lib/tlsbio.h"
#include "proxy/health_int.h"

#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#define TICK_MS   100
#define LINE_MAX_ 256 /* bytes of the status line we look at */

struct probe {
	struct gw_proxy__health *h;
	struct gw_proxy__hnode *n;
	struct gw_proxy__hups *u;
	enum gw_proxy__htype type;
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_connect_t creq;
	int open; /* handles not yet closed */
	bool done;
	bool tls_on;
	struct gw_tlsbio tls;
	char *req; /* the request bytes */
	size_t req_len;
	char line[LINE_MAX_];
	size_t line_len;
	char rbuf[4096];
};

struct wbuf {
	uv_write_t req;
	size_t len;
	char data[];
};

static void probe_closed(uv_handle_t *hd)
{
	struct probe *p = hd->data;
	if (--p->open == 0) {
		if (p->tls_on) {
			gw_tlsbio_free(&p->tls);
		}
		free(p->req);
		free(p);
	}
}

/* Record the outcome (under mu when @locked) and close the probe. */
static void finish(struct probe *p, enum gw_proxy__hreport kind, int status, bool locked)
{
	struct gw_proxy__health *h = p->h;
	struct gw_proxy__hnode *n = p->n;
	struct gw_proxy__hups *u = p->u;

	if (p->done) {
		return;
	}
	p->done = true;
	if (!locked) {
		uv_mutex_lock(&h->mu);
	}
	if (n->gone) {
		gw_proxy__hnode_free(h, n);
	} else if (atomic_load(&h->stopping)) {
		n->probing = false; /* abandoned: no verdict */
	} else {
		gw_proxy__hnode_observe(h, n, &u->conf.active.th, kind, status,
					p->type == GW_PROXY__HT_TCP ? "active tcp" : "active http");
		n->probing = false;
	}
	if (--u->inflight == 0 && u->gone) {
		gw_proxy__hups_free(u);
	}
	atomic_fetch_add_explicit(&h->probes_done, 1, memory_order_relaxed);
	if (!locked) {
		uv_mutex_unlock(&h->mu);
	}
	uv_close((uv_handle_t *)&p->tcp, probe_closed);
	uv_close((uv_handle_t *)&p->timer, probe_closed);
}

static void timer_cb(uv_timer_t *t)
{
	finish(t->data, GW_PROXY__HR_TIMEOUT, 0, false);
}

static void write_cb(uv_write_t *req, int status)
{
	struct wbuf *wb = (struct wbuf *)req;
	(void)status; /* a failed write shows up as a read error or the deadline */
	free(wb);
}

static int send_raw(struct probe *p, const char *data, size_t len)
{
	struct wbuf *wb;
	uv_buf_t b;
	if (p->done) {
		return GW_ECANCELED;
	}
	wb = malloc(sizeof *wb + len);
	if (wb == NULL) {
		return GW_ENOMEM;
	}
	memcpy(wb->data, data, len);
	wb->len = len;
	b = uv_buf_init(wb->data, (unsigned)len);
	if (uv_write(&wb->req, (uv_stream_t *)&p->tcp, &b, 1, write_cb) != 0) {
		free(wb);
		return GW_EIO;
	}
	return 0;
}

/* Response bytes: look for the status line. Returns non-zero once done. */
static int on_plain(void *data, const char *s, size_t len)
{
	struct probe *p = data;
	char *eol;
	int code = 0;

	if (p->done) {
		return 1;
	}
	if (len > sizeof p->line - 1 - p->line_len) {
		len = sizeof p->line - 1 - p->line_len;
	}
	memcpy(p->line + p->line_len, s, len);
	p->line_len += len;
	p->line[p->line_len] = '\0';
	eol = strstr(p->line, "\r\n");
	if (eol == NULL && p->line_len < sizeof p->line - 1) {
		return 0;
	}
	/* "HTTP/1.x NNN ..." */
	if (strncmp(p->line, "HTTP/1.", 7) == 0 && p->line_len >= 12 && p->line[8] == ' ' &&
	    p->line[9] >= '1' && p->line[9] <= '5' && p->line[10] >= '0' && p->line[10] <= '9' &&
	    p->line[11] >= '0' && p->line[11] <= '9') {
		code = (p->line[9] - '0') * 100 + (p->line[10] - '0') * 10 + (p->line[11] - '0');
	}
	finish(p, GW_PROXY__HR_STATUS, code, false);
	return 1;
}

static int on_cipher(void *data, const char *s, size_t len)
{
	return send_raw(data, s, len) == 0 ? 0 : 1;
}

static int on_ready(void *data)
{
	struct probe *p = data;
	return gw_tlsbio_write(&p->tls, p->req, p->req_len) == 0 ? 0 : 1;
}

static const struct gw_tlsbio_ops tls_ops = {on_plain, on_cipher, on_ready};

static void alloc_cb(uv_handle_t *hd, size_t size, uv_buf_t *b)
{
	struct probe *p = hd->data;
	(void)size;
	b->base = p->rbuf;
	b->len = sizeof p->rbuf;
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	struct probe *p = s->data;
	if (p->done || nread == 0) {
		return;
	}
	if (nread == UV_EOF) {
		finish(p, GW_PROXY__HR_STATUS, 0, false); /* no status line: invalid response */
		return;
	}
	if (nread < 0) {
		finish(p, GW_PROXY__HR_TCP, 0, false);
		return;
	}
	if (p->tls_on) {
		if (gw_tlsbio_feed(&p->tls, b->base, (size_t)nread) != 0 && !p->done) {
			finish(p, GW_PROXY__HR_STATUS, 0, false); /* failed handshake */
		}
		return;
	}
	on_plain(p, b->base, (size_t)nread);
}

static void connect_cb(uv_connect_t *req, int status)
{
	struct probe *p = req->data;
	if (p->done) {
		return;
	}
	if (status < 0) {
		finish(p, GW_PROXY__HR_TCP, 0, false);
		return;
	}
	if (p->type == GW_PROXY__HT_TCP) {
		finish(p, GW_PROXY__HR_SUCCESS, 0, false);
		return;
	}
	uv_read_start((uv_stream_t *)&p->tcp, alloc_cb, read_cb);
	if (p->type == GW_PROXY__HT_HTTPS) {
		struct gw_proxy__hactive *a = &p->u->conf.active;
		SSL_CTX *ctx = a->verify ? p->h->ssl_verify : p->h->ssl_noverify;
		const char *name = a->host ? a->host : p->n->ip;
		bool is_ip = a->host == NULL;
		if (ctx == NULL ||
		    gw_tlsbio_init(&p->tls, ctx, false, is_ip ? NULL : name, &tls_ops, p) != 0) {
			finish(p, GW_PROXY__HR_STATUS, 0, false);
			return;
		}
		p->tls_on = true;
		if (a->verify) {
			if (is_ip) {
				X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(p->tls.ssl), name);
			} else {
				SSL_set1_host(p->tls.ssl, name);
			}
		}
		if (gw_tlsbio_start(&p->tls) != 0 && !p->done) {
			finish(p, GW_PROXY__HR_STATUS, 0, false);
		}
		return;
	}
	if (send_raw(p, p->req, p->req_len) != 0) {
		finish(p, GW_PROXY__HR_TCP, 0, false);
	}
}

/* The request of an http(s) probe of @n. NULL when out of memory. */
static char *build_request(const struct gw_proxy__hactive *a, const struct gw_proxy__hnode *n,
			   size_t *len)
{
	const char *host = a->host ? a->host : n->host;
	size_t cap = strlen(a->http_path) + strlen(host) + strlen(a->req_headers) + 96;
	char *s = malloc(cap);
	int k;
	if (s == NULL) {
		return NULL;
	}
	k = snprintf(s, cap,
		     "GET %s HTTP/1.0\r\nHost: %s\r\n%sUser-Agent: apigw-health-check\r\n"
		     "Connection: close\r\n\r\n",
		     a->http_path, host, a->req_headers);
	*len = (size_t)k;
	return s;
}

/* Start a probe of @n. Under mu. */
static void probe_start(struct gw_proxy__health *h, struct gw_proxy__hnode *n)
{
	struct gw_proxy__hups *u = n->u;
	struct gw_proxy__hactive *a = &u->conf.active;
	struct sockaddr_storage addr = n->addr;
	struct probe *p = calloc(1, sizeof *p);
	int rv;

	if (p == NULL) {
		return;
	}
	if (a->port != 0) {
		if (addr.ss_family == AF_INET6) {
			((struct sockaddr_in6 *)&addr)->sin6_port = htons((uint16_t)a->port);
		} else {
			((struct sockaddr_in *)&addr)->sin_port = htons((uint16_t)a->port);
		}
	}
	p->h = h;
	p->n = n;
	p->u = u;
	p->type = a->type;
	if (p->type != GW_PROXY__HT_TCP) {
		p->req = build_request(a, n, &p->req_len);
		if (p->req == NULL) {
			free(p);
			return;
		}
	}
	n->probing = true;
	u->inflight++;
	atomic_fetch_add_explicit(&h->probes, 1, memory_order_relaxed);
	uv_tcp_init(&h->loop, &p->tcp);
	uv_timer_init(&h->loop, &p->timer);
	p->tcp.data = p;
	p->timer.data = p;
	p->creq.data = p;
	p->open = 2;
	uv_timer_start(&p->timer, timer_cb, a->timeout_ms, 0);
	rv = uv_tcp_connect(&p->creq, &p->tcp, (const struct sockaddr *)&addr, connect_cb);
	if (rv != 0) {
		finish(p, GW_PROXY__HR_TCP, 0, true);
	}
}

void gw_proxy__checker_scan(struct gw_proxy__health *h, uint64_t now)
{
	for (struct gw_proxy__hups *u = h->ups; u != NULL; u = u->next) {
		const struct gw_proxy__hactive *a = &u->conf.active;
		if (!u->conf.has_active) {
			continue;
		}
		for (struct gw_proxy__hnode *n = u->nodes; n != NULL; n = n->next) {
			if (u->inflight >= a->concurrency) {
				break;
			}
			if (n->probing || now < n->next_due) {
				continue;
			}
			n->next_due = now + (n->s.st <= GW_PROXY__H_MOSTLY_HEALTHY
						 ? a->healthy_interval_ms
						 : a->unhealthy_interval_ms);
			probe_start(h, n);
		}
	}
}

static void run_once(struct gw_proxy__health *h)
{
	gw_proxy__health_drain(h);
	uv_mutex_lock(&h->mu);
	gw_proxy__checker_scan(h, gw_proxy__health_now_ms());
	uv_mutex_unlock(&h->mu);
}

/* At stop: close the loop's own handles and abandon every probe (which
 * frees what only it still references: retired nodes and upstreams). */
static void walk_close(uv_handle_t *hd, void *arg)
{
	struct gw_proxy__health *h = arg;
	if (uv_is_closing(hd)) {
		return;
	}
	if (hd == (uv_handle_t *)&h->async || hd == (uv_handle_t *)&h->tick) {
		uv_close(hd, NULL);
	} else {
		finish(hd->data, GW_PROXY__HR_TIMEOUT, 0, false); /* closes both handles */
	}
}

static void async_cb(uv_async_t *a)
{
	struct gw_proxy__health *h = a->data;
	if (atomic_load(&h->stopping)) {
		/* probes in flight: mark them done so their close frees them */
		uv_walk(&h->loop, walk_close, h);
		return;
	}
	run_once(h);
}

static void tick_cb(uv_timer_t *t)
{
	run_once(t->data);
}

static void thread_main(void *arg)
{
	struct gw_proxy__health *h = arg;
	prctl(PR_SET_NAME, "apigw-health"); /* for top -H and the CPU bench */
	uv_run(&h->loop, UV_RUN_DEFAULT);
}

int gw_proxy__checker_start(struct gw_proxy__health *h)
{
	SSL_CTX *v = SSL_CTX_new(TLS_client_method()), *nv = SSL_CTX_new(TLS_client_method());
	if (v == NULL || nv == NULL) {
		SSL_CTX_free(v);
		SSL_CTX_free(nv);
		return GW_ENOMEM;
	}
	SSL_CTX_set_verify(v, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_default_verify_paths(v);
	SSL_CTX_set_verify(nv, SSL_VERIFY_NONE, NULL);
	h->ssl_verify = v;
	h->ssl_noverify = nv;
	if (uv_loop_init(&h->loop) != 0) {
		goto err_after_ssl;
	}
	uv_async_init(&h->loop, &h->async, async_cb);
	h->async.data = h;
	uv_timer_init(&h->loop, &h->tick);
	h->tick.data = h;
	uv_timer_start(&h->tick, tick_cb, TICK_MS, TICK_MS);
	if (uv_thread_create(&h->thread, thread_main, h) != 0) {
		uv_close((uv_handle_t *)&h->async, NULL);
		uv_close((uv_handle_t *)&h->tick, NULL);
		uv_run(&h->loop, UV_RUN_DEFAULT);
		uv_loop_close(&h->loop);
		goto err_after_ssl;
	}
	h->started = true;
	return 0;

err_after_ssl:
	SSL_CTX_free(v);
	SSL_CTX_free(nv);
	h->ssl_verify = h->ssl_noverify = NULL;
	return GW_EIO;
}

void gw_proxy__checker_stop(struct gw_proxy__health *h)
{
	if (!h->started) {
		return;
	}
	atomic_store(&h->stopping, true);
	uv_async_send(&h->async);
	uv_thread_join(&h->thread);
	h->started = false;
	if (uv_loop_close(&h->loop) != 0) {
		gw_warnf("health", "checker loop closed with live handles");
	}
	SSL_CTX_free(h->ssl_verify);
	SSL_CTX_free(h->ssl_noverify);
}
