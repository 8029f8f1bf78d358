/* server.c: proxy start-up, workers, config publishing and shutdown.
 *
 * Happy path: gw_proxy_start binds one SO_REUSEPORT socket per worker and
 * listen address in the calling thread (so bind errors are reported at once
 * and port 0 resolves to one port shared by all workers), then starts N
 * threads, each with its own uv loop that adopts its sockets and accepts.
 * gw_proxy_publish swaps the current snapshot under a mutex and wakes every
 * worker with uv_async_send; a woken worker takes a reference to the new
 * snapshot for the requests that start from then on. gw_proxy_stop sets a
 * flag and wakes the workers: each closes its listeners and idle
 * connections, lets in-flight requests finish for at most drain_timeout_ms,
 * then closes the rest; its loop ends with no live handle and the thread is
 * joined. Failure modes: bind/listen errors (GW_EADDR, logged), thread or
 * loop creation failure (GW_EIO). */
#include "config.h"

#include "lib/err.h"
#include "lib/log.h"
#include "proxy/conn_int.h"
#include "proxy/dns_int.h"
#include "proxy/health_int.h"
#include "proxy/plugin_int.h"

#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

atomic_int gw_proxy__unclean_loops;

static void take_config(struct gw_proxy__worker *w)
{
	struct gw_proxy *p = w->p;
	struct gw_proxy_config *cfg;
	struct gw_proxy__wsnap *s = NULL;

	uv_mutex_lock(&p->lock);
	cfg = p->cfg;
	if (cfg != NULL && (w->snap == NULL || w->snap->cfg != cfg)) {
		s = gw_proxy__wsnap_new(cfg); /* takes its own reference under the lock */
	}
	uv_mutex_unlock(&p->lock);
	if (s == NULL) {
		if (cfg != NULL && (w->snap == NULL || w->snap->cfg != cfg)) {
			gw_errorf("proxy", "worker %d: out of memory taking config", w->idx);
		}
		return;
	}
	if (w->snap == NULL) {
		atomic_fetch_add(&p->n_configured, 1);
	}
	gw_proxy__wsnap_unref(w->snap);
	w->snap = s;
	gw_debugf("proxy", "worker %d: config revision %lld", w->idx, (long long)s->cfg->revision);
}

static void on_lsn_close(uv_handle_t *h)
{
	(void)h; /* listeners live in w->lsn, freed with the worker */
}

static void on_drain_close(uv_handle_t *h)
{
	(void)h;
}

static void on_drain_timeout(uv_timer_t *t)
{
	struct gw_proxy__worker *w = t->data;
	gw_proxy__worker_force_close(w);
}

static void begin_stop(struct gw_proxy__worker *w)
{
	if (w->stopping) {
		return;
	}
	w->stopping = true;
	for (int i = 0; i < w->n_lsn; i++) {
		uv_close((uv_handle_t *)&w->lsn[i], on_lsn_close);
	}
	uv_close((uv_handle_t *)&w->async, NULL);
	/* The drain timer does not keep the loop alive: the loop ends as soon as
	 * every connection is gone. */
	uv_timer_start(&w->drain_timer, on_drain_timeout, w->p->opts.drain_timeout_ms, 0);
	uv_unref((uv_handle_t *)&w->drain_timer);
	gw_proxy__worker_drain(w);
}

static void on_async(uv_async_t *a)
{
	struct gw_proxy__worker *w = a->data;
	if (atomic_load(&w->p->stopping)) {
		begin_stop(w);
		return;
	}
	take_config(w);
}

static void on_connection(uv_stream_t *lsn, int status)
{
	struct gw_proxy__worker *w = lsn->data;
	if (status < 0) {
		gw_warnf("proxy", "worker %d: accept: %s", w->idx, uv_strerror(status));
		return;
	}
	gw_proxy__dconn_accept(w, lsn);
}

static void worker_main(void *arg)
{
	struct gw_proxy__worker *w = arg;
	int rv, i;

	rv = uv_loop_init(&w->loop);
	if (rv != 0) {
		w->init_rv = GW_EIO;
		uv_sem_post(&w->p->started);
		return;
	}
	uv_async_init(&w->loop, &w->async, on_async);
	w->async.data = w;
	uv_timer_init(&w->loop, &w->drain_timer);
	w->drain_timer.data = w;
	for (i = 0; i < w->n_lsn; i++) {
		uv_tcp_init(&w->loop, &w->lsn[i]);
		w->lsn[i].data = w;
		rv = uv_tcp_open(&w->lsn[i], w->fds[i]);
		if (rv == 0) {
			w->fds[i] = -1; /* owned by the handle now */
			rv = uv_listen((uv_stream_t *)&w->lsn[i], 511, on_connection);
		}
		if (rv != 0) {
			gw_errorf("proxy", "worker %d: listen: %s", w->idx, uv_strerror(rv));
			w->init_rv = GW_EADDR;
			i++;
			break;
		}
	}
	w->n_lsn = i;
	take_config(w);
	if (w->init_rv == 0) {
		atomic_fetch_add(&w->p->n_listening, 1);
	}
	uv_sem_post(&w->p->started);
	if (w->init_rv != 0) {
		begin_stop(w);
	}
	uv_run(&w->loop, UV_RUN_DEFAULT);
	/* Whatever is left has no active handle to wait for: it was stuck (a
	 * bug, counted for the tests). Close it. */
	if (!gw_list_empty(&w->dconns) || !gw_list_empty(&w->uconns)) {
		gw_errorf("proxy", "worker %d: connections stuck at shutdown", w->idx);
		atomic_fetch_add(&gw_proxy__unclean_loops, 1);
		gw_proxy__worker_force_close(w);
	}
	gw_proxy__ops_worker_close(w);
	gw_proxy__plugin_worker_close(w); /* plugin_delay.c */
	uv_close((uv_handle_t *)&w->drain_timer, on_drain_close);
	uv_run(&w->loop, UV_RUN_DEFAULT);
	gw_proxy__wsnap_unref(w->snap);
	w->snap = NULL;
	rv = uv_loop_close(&w->loop);
	if (rv != 0) {
		atomic_fetch_add(&gw_proxy__unclean_loops, 1);
		gw_errorf("proxy", "worker %d: loop closed with live handles", w->idx);
	}
	for (size_t b = 0; b < w->pool.cap; b++) {
		free(w->pool.ents[b].val);
	}
	gw_proxy__map_close(&w->pool);
}

/* SO_REUSEPORT would let us share a port some other process (same user)
 * bound with it too, splitting traffic silently. Bind it once without the
 * option first: EADDRINUSE then says someone is there. */
static int probe_port(const struct gw_addr *a)
{
	int one = 1, rv = 0;
	int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	socklen_t len =
	    a->ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	if (fd < 0) {
		return -errno;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
	    (a->ss.ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) ||
	    bind(fd, (const struct sockaddr *)&a->ss, len) != 0) {
		rv = -errno;
	}
	close(fd);
	return rv;
}

static int bind_socket(struct gw_addr *a)
{
	int one = 1;
	int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	socklen_t len =
	    a->ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	if (fd < 0) {
		return -errno;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0 ||
	    (a->ss.ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) ||
	    bind(fd, (struct sockaddr *)&a->ss, len) != 0 || listen(fd, 511) != 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	if (gw_addr_port(a) == 0) {
		/* Port 0: every further socket binds the port the kernel chose. */
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;
		getsockname(fd, (struct sockaddr *)&ss, &sl);
		if (ss.ss_family == AF_INET6) {
			((struct sockaddr_in6 *)&a->ss)->sin6_port =
			    ((struct sockaddr_in6 *)&ss)->sin6_port;
		} else {
			((struct sockaddr_in *)&a->ss)->sin_port =
			    ((struct sockaddr_in *)&ss)->sin_port;
		}
		gw_addr_format((struct sockaddr *)&a->ss, a->text, sizeof a->text);
	}
	return fd;
}

static void free_proxy(struct gw_proxy *p)
{
	gw_proxy__health_free(p->health); /* the workers are gone */
	gw_proxy__dns_stop(p->dns);
	gw_proxy__dns_unref(p->dns); /* caches may keep it a while */
	gw_proxy__ops_close(p);
	for (int i = 0; i < p->n_workers; i++) {
		struct gw_proxy__worker *w = &p->workers[i];
		if (w->fds != NULL) {
			for (int j = 0; j < p->opts.n_listen; j++) {
				if (w->fds[j] >= 0) {
					close(w->fds[j]);
				}
			}
		}
		free(w->fds);
		free(w->lsn);
	}
	gw_proxy__tls_free(p);
	gw_proxy__tls_up_ctx_free(p);
	free(p->workers);
	free(p->listen);
	gw_proxy_config_unref(p->cfg);
	uv_mutex_destroy(&p->lock);
	uv_sem_destroy(&p->started);
	free(p);
}

/* The health registry and its checker thread, bound to the first snapshot
 * (health_int.h). 0, GW_ENOMEM or GW_EIO. */
static int health_start(struct gw_proxy *p)
{
	int rv;
	p->health = gw_proxy__health_new();
	if (p->health == NULL) {
		return GW_ENOMEM;
	}
	rv = gw_proxy__checker_start(p->health);
	if (rv == 0) {
		gw_proxy__health_bind(p->health, p->cfg);
	}
	return rv;
}

/* gw_proxy_start with the TLS listeners appended to opts->listen: the
 * first @n_plain are plain. */
static int start(const struct gw_proxy_opts *opts, int n_plain, struct gw_proxy **out)
{
	struct gw_proxy *p;
	int i, j, rv, started = 0;

	if (opts == NULL || opts->n_listen < 1 || opts->listen == NULL) {
		gw_proxy_config_unref(opts ? opts->config : NULL);
		return GW_EINVAL;
	}
	p = calloc(1, sizeof *p);
	if (p == NULL) {
		gw_proxy_config_unref(opts->config);
		return GW_ENOMEM;
	}
	p->opts = *opts;
	p->cfg = opts->config;
	p->opts.config = NULL;
	uv_mutex_init(&p->lock);
	uv_sem_init(&p->started, 0);
#define DEF(f, v)                                                                                  \
	if (p->opts.f == 0)                                                                        \
	p->opts.f = (v)
	DEF(max_header_bytes, 16 * 1024);
	DEF(max_uri_bytes, 8 * 1024);
	DEF(header_timeout_ms, 60000);
	DEF(body_timeout_ms, 60000);
	DEF(send_timeout_ms, 60000);
	DEF(idle_timeout_ms, 60000);
	DEF(tls_handshake_timeout_ms, 10000);
	DEF(max_requests, 1000);
	DEF(drain_timeout_ms, 5000);
#undef DEF
	if (p->opts.workers <= 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		p->opts.workers = n > 0 ? (int)n : 1;
	}
	signal(SIGPIPE, SIG_IGN);

	p->listen = calloc((size_t)opts->n_listen, sizeof *p->listen);
	p->workers = calloc((size_t)p->opts.workers, sizeof *p->workers);
	if (p->listen == NULL || p->workers == NULL) {
		free_proxy(p);
		return GW_ENOMEM;
	}
	memcpy(p->listen, opts->listen, (size_t)opts->n_listen * sizeof *p->listen);
	p->n_workers = p->opts.workers;
	p->opts.listen = p->listen;
	rv = gw_proxy__ops_init(p);
	if (rv == 0) {
		rv = gw_proxy__tls_up_ctx_init(p);
	}
	if (rv == 0 && n_plain < opts->n_listen) {
		rv = gw_proxy__tls_init(p, n_plain, opts->tls_fallback_sni);
	}
	p->opts.tls_listen = NULL;
	p->opts.tls_fallback_sni = NULL;
	/* the caller's strings */
	p->opts.real_ip_from = p->opts.access_log = p->opts.access_log_format = NULL;
	p->opts.resolvers = NULL;
	if (rv == 0) {
		rv = health_start(p);
	}
	if (rv == 0) {
		p->dns = gw_proxy__dns_new(opts->resolvers, opts->dns_min_ttl_ms,
					   opts->dns_max_ttl_ms, opts->dns_ipv6);
		rv = p->dns == NULL ? GW_ENOMEM : gw_proxy__dns_start(p->dns);
	}
	if (rv != 0) {
		free_proxy(p);
		return rv;
	}
	for (i = 0; i < p->n_workers; i++) {
		struct gw_proxy__worker *w = &p->workers[i];
		w->p = p;
		w->idx = i;
		w->n_lsn = opts->n_listen;
		gw_list_init(&w->dconns);
		gw_list_init(&w->uconns);
		gw_list_init(&w->flush);
		gw_proxy__map_init(&w->pool);
		w->fds = malloc((size_t)opts->n_listen * sizeof *w->fds);
		w->lsn = calloc((size_t)opts->n_listen, sizeof *w->lsn);
		if (w->fds == NULL || w->lsn == NULL) {
			free(w->fds);
			w->fds = NULL;
			free_proxy(p);
			return GW_ENOMEM;
		}
		for (j = 0; j < opts->n_listen; j++) {
			w->fds[j] = -1;
		}
		for (j = 0; j < opts->n_listen; j++) {
			int fd = i == 0 && gw_addr_port(&p->listen[j]) != 0
				     ? probe_port(&p->listen[j])
				     : 0;
			if (fd == 0) {
				fd = bind_socket(&p->listen[j]);
			}
			if (fd < 0) {
				gw_errorf("proxy", "cannot listen on %s: %s", p->listen[j].text,
					  strerror(-fd));
				free_proxy(p);
				return GW_EADDR;
			}
			w->fds[j] = fd;
		}
	}
	for (i = 0; i < p->n_workers; i++) {
		rv = uv_thread_create(&p->workers[i].thread, worker_main, &p->workers[i]);
		if (rv != 0) {
			p->workers[i].init_rv = GW_EIO;
			break;
		}
		started++;
	}
	rv = started == p->n_workers ? 0 : GW_EIO;
	for (i = 0; i < started; i++) {
		uv_sem_wait(&p->started);
	}
	for (i = 0; i < started; i++) {
		if (p->workers[i].init_rv != 0) {
			rv = p->workers[i].init_rv;
		}
	}
	if (rv != 0) {
		atomic_store(&p->stopping, true);
		for (i = 0; i < started; i++) {
			if (p->workers[i].init_rv == 0) { /* failed ones stop by themselves */
				uv_async_send(&p->workers[i].async);
			}
		}
		for (i = 0; i < started; i++) {
			uv_thread_join(&p->workers[i].thread);
		}
		free_proxy(p);
		return rv;
	}
	for (j = 0; j < opts->n_listen; j++) {
		gw_infof("proxy", "listening on %s with %d workers", p->listen[j].text,
			 p->n_workers);
	}
	*out = p;
	return 0;
}

int gw_proxy_start(const struct gw_proxy_opts *opts, struct gw_proxy **out)
{
	struct gw_proxy_opts all;
	struct gw_addr *lsn;
	int rv;

	if (opts == NULL || opts->n_tls_listen <= 0) {
		return start(opts, opts ? opts->n_listen : 0, out);
	}
	if (opts->n_listen < 1 || opts->listen == NULL || opts->tls_listen == NULL) {
		gw_proxy_config_unref(opts->config);
		return GW_EINVAL;
	}
	lsn = calloc((size_t)(opts->n_listen + opts->n_tls_listen), sizeof *lsn);
	if (lsn == NULL) {
		gw_proxy_config_unref(opts->config);
		return GW_ENOMEM;
	}
	memcpy(lsn, opts->listen, (size_t)opts->n_listen * sizeof *lsn);
	memcpy(lsn + opts->n_listen, opts->tls_listen, (size_t)opts->n_tls_listen * sizeof *lsn);
	all = *opts;
	all.listen = lsn;
	all.n_listen = opts->n_listen + opts->n_tls_listen;
	rv = start(&all, opts->n_listen, out);
	free(lsn);
	return rv;
}

int gw_proxy_port(const struct gw_proxy *p, int i)
{
	if (i < 0 || i >= p->opts.n_listen) {
		return -1;
	}
	return gw_addr_port(&p->listen[i]);
}

void gw_proxy_publish(struct gw_proxy *p, struct gw_proxy_config *cfg)
{
	struct gw_proxy_config *old;
	if (cfg == NULL) {
		return;
	}
	gw_proxy__health_bind(p->health, cfg); /* before any worker sees it */
	uv_mutex_lock(&p->lock);
	old = p->cfg;
	p->cfg = cfg;
	uv_mutex_unlock(&p->lock);
	gw_proxy_config_unref(old); /* workers hold their own references */
	for (int i = 0; i < p->n_workers; i++) {
		uv_async_send(&p->workers[i].async);
	}
}

void gw_proxy_stats(struct gw_proxy *p, struct gw_proxy_stats *out)
{
	memset(out, 0, sizeof *out);
	for (int i = 0; i < p->n_workers; i++) {
		struct gw_proxy__wstats *st = &p->workers[i].st;
		out->connections += atomic_load(&st->conns);
		out->active_connections += atomic_load(&st->active);
		out->requests += atomic_load(&st->requests);
		for (int k = 0; k < 6; k++) {
			out->status[k] += atomic_load(&st->status[k]);
		}
		out->upstream_failures += atomic_load(&st->up_fail);
		out->retries += atomic_load(&st->retries);
	}
	uv_mutex_lock(&p->lock);
	out->revision = p->cfg != NULL ? p->cfg->revision : -1;
	uv_mutex_unlock(&p->lock);
}

bool gw_proxy_ready(const struct gw_proxy *p)
{
	return atomic_load(&p->n_listening) == p->n_workers &&
	       atomic_load(&p->n_configured) == p->n_workers && !atomic_load(&p->stopping);
}

void gw_proxy_stop(struct gw_proxy *p)
{
	if (p == NULL) {
		return;
	}
	atomic_store(&p->stopping, true);
	for (int i = 0; i < p->n_workers; i++) {
		uv_async_send(&p->workers[i].async);
	}
	for (int i = 0; i < p->n_workers; i++) {
		uv_thread_join(&p->workers[i].thread);
	}
	gw_infof("proxy", "stopped");
	free_proxy(p);
}
