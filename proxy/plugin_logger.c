/* plugin_logger.c: the node's logger service — batches of log entries of
 * http-logger and file-logger (plugin_loggers.c), sent from one thread that
 * never runs a request.
 *
 * Happy path. A logger plugin instance holds a reference on a sink
 * (gw_proxy__logsink_get at compile time: one sink per instance identity,
 * so a recompile that leaves the configuration alone keeps its batch). A
 * worker that ends a request formats the entry and pushes it onto the
 * service's lock-free stack (gw_proxy__logsink_push: one compare-and-swap,
 * and an uv_async_send when the stack was empty); the logger thread, with
 * its own libuv loop, takes the whole stack at once, restores its order and
 * hands each entry to its sink. An http sink fills a batch as APISIX's
 * batch processor does: sent when it holds batch_max_size entries, when no
 * entry came for inactive_timeout seconds, or when its first entry is
 * buffer_duration seconds old; a POST (lib/httpc, timeout) that fails or
 * answers >= 400 is retried max_retry_count times, retry_delay seconds
 * apart, then dropped (counted). A file sink appends its entries (one JSON
 * line each) with one write per drain; it reopens its path on SIGUSR1
 * (gw_proxy__logger_reopen) or when the path no longer names the open file
 * (checked every second: rotated by rename).
 * Bounds and failure modes: the stack holds at most QUEUE_MAX bytes and
 * the sinks' batches BUFFER_MAX bytes; past them entries are dropped and
 * counted (apigw_logger_dropped_total), a worker never waits. A sink whose
 * last reference went (its configuration changed) sends what it holds,
 * then is freed on the logger thread. At stop the batches are sent once
 * (no retries) within STOP_GRACE ms, the rest is dropped.
 * Threads: get/release on any thread (a mutex guards the sink list, never
 * taken by workers); push on workers; everything else on the logger
 * thread. */
#include "config.h"

#include "lib/err.h"
#include "lib/httpc.h"
#include "lib/log.h"
#include "lib/prom.h"
#include "proxy/plugin_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define QUEUE_MAX  (16u * 1024 * 1024) /* bytes pushed, not yet taken */
#define BUFFER_MAX (64u * 1024 * 1024) /* bytes held in batches */
#define TICK_MS    100
#define STOP_GRACE 3000
#define STAT_MS    1000 /* file sinks: rename check */
#define MIRROR_MAX 16   /* mirror copies in flight per sink */

struct entry {
	struct entry *next;
	struct gw_proxy__logsink *sink;
	size_t len;
	char data[];
};

struct batch {
	struct batch *next;
	struct gw_buf body;
	size_t n;          /* entries */
	unsigned retries;  /* failed sends so far */
	uint64_t retry_at; /* loop ms */
};

/* One mirror copy in flight: its sink's slot. */
struct mirror_req {
	struct gw_proxy__logsink *sink;
	unsigned slot;
};

struct gw_proxy__logsink {
	struct gw_proxy__logsink *next; /* in svc.sinks (svc.mu) */
	atomic_int refs;                /* plugin instances holding it */
	uint64_t ident;
	struct gw_proxy__logsink_conf conf; /* strings owned */
	char hostport[256];                 /* http */
	char *upath;                        /* path?query sent, owned */
	/* logger thread only */
	struct gw_buf cur; /* the batch being filled */
	size_t cur_n;
	uint64_t first_ms, last_ms;
	struct batch *pend, *pend_tail; /* closed batches, oldest first */
	struct gw_httpc *inflight;      /* the head batch being sent, or NULL */
	int fd;                         /* file */
	dev_t dev;
	ino_t ino;
	uint64_t stat_ms;
	bool failed_open;                   /* logged once per reopen */
	bool dying;                         /* unlinked: send what is left, then free */
	struct gw_httpc *mir[MIRROR_MAX];   /* mirror copies in flight */
	struct mirror_req mreq[MIRROR_MAX]; /* their callbacks' data */
	unsigned n_mir;
};

static struct {
	uv_once_t once;
	uv_mutex_t mu; /* guards sinks, started */
	struct gw_proxy__logsink *sinks;
	struct gw_proxy__logsink *dying; /* logger thread only */
	bool started;
	uv_thread_t th;
	uv_loop_t loop;
	uv_async_t wake;
	uv_timer_t tick;
	_Atomic(struct entry *) head;
	atomic_size_t queued;
	size_t buffered;   /* logger thread only */
	uint64_t stop_due; /* loop ms; 0 while running */
	atomic_bool stop, reopen;
	atomic_bool running; /* the thread takes entries (push checks it) */
	atomic_uint_fast64_t dropped, sent, failed, written;
	atomic_uint_fast64_t mir_sent, mir_failed, mir_dropped;
} svc = {.once = UV_ONCE_INIT};

static void mu_init(void)
{
	uv_mutex_init(&svc.mu);
}

static void add(atomic_uint_fast64_t *a, uint64_t v)
{
	atomic_fetch_add_explicit(a, v, memory_order_relaxed);
}

static void conf_free(struct gw_proxy__logsink_conf *c)
{
	free((char *)c->uri);
	free((char *)c->auth_header);
	free((char *)c->path);
}

static void batch_free(struct batch *b)
{
	svc.buffered -= b->body.len;
	gw_buf_close(&b->body);
	free(b);
}

static void sink_free(struct gw_proxy__logsink *s)
{
	struct batch *b, *nb;
	for (b = s->pend; b != NULL; b = nb) {
		nb = b->next;
		batch_free(b);
	}
	svc.buffered -= s->cur.len;
	gw_buf_close(&s->cur);
	if (s->fd >= 0) {
		close(s->fd);
	}
	conf_free(&s->conf);
	free(s->upath);
	free(s);
}

/* Drop what @s holds (stop): its batches count as failed. */
static void sink_clear(struct gw_proxy__logsink *s)
{
	struct batch *b, *nb;
	for (b = s->pend; b != NULL; b = nb) {
		nb = b->next;
		add(&svc.failed, b->n);
		batch_free(b);
	}
	s->pend = s->pend_tail = NULL;
	add(&svc.failed, s->cur_n);
	svc.buffered -= s->cur.len;
	gw_buf_close(&s->cur);
	s->cur_n = 0;
	if (s->fd >= 0) {
		close(s->fd);
		s->fd = -1;
	}
}

/* ---- file sinks */

static void file_open(struct gw_proxy__logsink *s)
{
	struct stat st;
	s->fd = open(s->conf.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (s->fd < 0) {
		if (!s->failed_open) {
			gw_warnf("file-logger", "cannot open %s: %s", s->conf.path,
				 strerror(errno));
		}
		s->failed_open = true;
		return;
	}
	s->failed_open = false;
	if (fstat(s->fd, &st) == 0) {
		s->dev = st.st_dev;
		s->ino = st.st_ino;
	}
}

/* Reopen when asked or when the path names another file (or none). */
static void file_check(struct gw_proxy__logsink *s, uint64_t now, bool force)
{
	struct stat st;
	if (s->fd >= 0 && !force) {
		if (now - s->stat_ms < STAT_MS) {
			return;
		}
		s->stat_ms = now;
		if (stat(s->conf.path, &st) == 0 && st.st_dev == s->dev && st.st_ino == s->ino) {
			return;
		}
	}
	if (s->fd >= 0) {
		close(s->fd);
		s->fd = -1;
	}
	s->stat_ms = now;
	file_open(s);
}

static void file_write(struct gw_proxy__logsink *s, uint64_t now)
{
	const char *p = s->cur.data;
	size_t n = s->cur.len, n_entries = s->cur_n;

	if (n == 0) {
		return;
	}
	file_check(s, now, false);
	while (s->fd >= 0 && n > 0) {
		ssize_t w = write(s->fd, p, n);
		if (w < 0 && errno == EINTR) {
			continue;
		}
		if (w <= 0) {
			gw_warnf("file-logger", "write to %s: %s", s->conf.path, strerror(errno));
			break;
		}
		p += w;
		n -= (size_t)w;
	}
	if (n == 0) {
		add(&svc.written, n_entries);
	} else {
		add(&svc.failed, n_entries);
	}
	svc.buffered -= s->cur.len;
	gw_buf_consume(&s->cur, s->cur.len);
	s->cur_n = 0;
}

/* ---- http sinks */

static void send_head(struct gw_proxy__logsink *s);

static void sent_cb(void *data, int err, const struct gw_httpc_resp *resp)
{
	struct gw_proxy__logsink *s = data;
	struct batch *b = s->pend;
	bool stopping = atomic_load(&svc.stop);

	s->inflight = NULL;
	if (err == 0 && resp != NULL && resp->status < 400) {
		add(&svc.sent, b->n);
	} else if (b->retries < s->conf.max_retry_count && !stopping && !s->dying) {
		b->retries++;
		b->retry_at = uv_now(&svc.loop) + 1000ull * s->conf.retry_delay_s;
		gw_warnf("http-logger", "%s: %s (retry %u of %u)", s->conf.uri,
			 err != 0 ? gw_strerror(err) : "error status", b->retries,
			 s->conf.max_retry_count);
		return;
	} else {
		gw_warnf("http-logger", "%s: %s, %zu entries dropped", s->conf.uri,
			 err != 0 ? gw_strerror(err) : "error status", b->n);
		add(&svc.failed, b->n);
	}
	s->pend = b->next;
	if (s->pend == NULL) {
		s->pend_tail = NULL;
	}
	batch_free(b);
}

static void send_head(struct gw_proxy__logsink *s)
{
	struct batch *b = s->pend;
	char hdr[4096];
	struct gw_httpc_opts o = {.timeout_ms = s->conf.timeout_ms};
	int rv;

	if (b == NULL || s->inflight != NULL || b->retry_at > uv_now(&svc.loop)) {
		return;
	}
	snprintf(hdr, sizeof hdr, "Content-Type: application/json\r\n%s%s%s",
		 s->conf.auth_header[0] ? "Authorization: " : "", s->conf.auth_header,
		 s->conf.auth_header[0] ? "\r\n" : "");
	rv = gw_httpc_request(&svc.loop, s->hostport, "POST", s->upath, hdr, b->body.data,
			      b->body.len, &o, sent_cb, s, &s->inflight);
	if (rv != 0) {
		s->inflight = NULL;
		sent_cb(s, rv, NULL);
	}
}

/* Close the batch being filled (APISIX: one entry is sent as an object,
 * several as an array or lines). */
static void close_batch(struct gw_proxy__logsink *s)
{
	struct batch *b;
	if (s->cur_n == 0) {
		return;
	}
	b = calloc(1, sizeof *b);
	if (b == NULL) {
		add(&svc.dropped, s->cur_n);
		svc.buffered -= s->cur.len;
		gw_buf_consume(&s->cur, s->cur.len);
		s->cur_n = 0;
		return;
	}
	if (!s->conf.new_line) {
		if (s->cur_n == 1) {
			gw_buf_consume(&s->cur, 1); /* the '[' */
			svc.buffered--;
		} else if (gw_buf_append(&s->cur, "]", 1) == 0) {
			svc.buffered++;
		}
	}
	b->body = s->cur;
	b->n = s->cur_n;
	gw_buf_init(&s->cur);
	s->cur_n = 0;
	if (s->pend_tail != NULL) {
		s->pend_tail->next = b;
	} else {
		s->pend = b;
	}
	s->pend_tail = b;
}

/* ---- mirror sinks (proxy-mirror): each entry is one request to copy,
 * "METHOD\npath\n" then header lines (CRLF) then a NUL then the body. */

static void mirror_cb(void *data, int err, const struct gw_httpc_resp *resp)
{
	struct mirror_req *m = data;
	struct gw_proxy__logsink *s = m->sink;

	(void)resp;
	s->mir[m->slot] = NULL;
	s->n_mir--;
	add(err == 0 ? &svc.mir_sent : &svc.mir_failed, 1);
}

static void mirror_send(struct gw_proxy__logsink *s, const struct entry *e)
{
	const char *p = e->data, *end = e->data + e->len;
	const char *nl1 = memchr(p, '\n', e->len), *nl2, *nul;
	char method[32], *path, *hdrs;
	struct gw_httpc_opts o = {.timeout_ms = s->conf.timeout_ms};
	struct mirror_req *m;
	unsigned slot;

	nl2 = nl1 != NULL ? memchr(nl1 + 1, '\n', (size_t)(end - nl1 - 1)) : NULL;
	nul = nl2 != NULL ? memchr(nl2 + 1, '\0', (size_t)(end - nl2 - 1)) : NULL;
	if (nul == NULL || (size_t)(nl1 - p) >= sizeof method || s->n_mir >= MIRROR_MAX ||
	    atomic_load(&svc.stop)) {
		add(&svc.mir_dropped, 1);
		return;
	}
	for (slot = 0; s->mir[slot] != NULL; slot++) {
	}
	memcpy(method, p, (size_t)(nl1 - p));
	method[nl1 - p] = '\0';
	path = strndup(nl1 + 1, (size_t)(nl2 - nl1 - 1));
	hdrs = strndup(nl2 + 1, (size_t)(nul - nl2 - 1));
	m = &s->mreq[slot];
	if (path == NULL || hdrs == NULL) {
		free(path);
		free(hdrs);
		add(&svc.mir_dropped, 1);
		return;
	}
	m->sink = s;
	m->slot = slot;
	if (gw_httpc_request(&svc.loop, s->hostport, method, path, hdrs, nul + 1,
			     (size_t)(end - nul - 1), &o, mirror_cb, m, &s->mir[slot]) != 0) {
		s->mir[slot] = NULL;
		add(&svc.mir_failed, 1);
	} else {
		s->n_mir++;
	}
	free(path);
	free(hdrs);
}

/* ---- the logger thread */

static void sink_take(struct gw_proxy__logsink *s, struct entry *e, uint64_t now)
{
	const char *sep = s->conf.kind == GW_PROXY__SINK_FILE ? NULL
			  : s->conf.new_line                  ? "\n"
							      : ",";
	size_t before = s->cur.len;
	int rv = 0;

	if (s->conf.kind == GW_PROXY__SINK_MIRROR) {
		mirror_send(s, e);
		return;
	}
	if (svc.buffered + e->len + 2 > BUFFER_MAX) {
		add(&svc.dropped, 1);
		return;
	}
	if (s->conf.kind == GW_PROXY__SINK_HTTP && s->cur_n == 0) {
		s->first_ms = now;
		if (!s->conf.new_line) {
			rv = gw_buf_append(&s->cur, "[", 1);
		}
	} else if (sep != NULL) {
		rv = gw_buf_append(&s->cur, sep, 1);
	}
	if (rv == 0) {
		rv = gw_buf_append(&s->cur, e->data, e->len);
	}
	if (rv == 0 && s->conf.kind == GW_PROXY__SINK_FILE) {
		rv = gw_buf_append(&s->cur, "\n", 1);
	}
	if (rv != 0) {
		s->cur.len = before; /* the entry is lost, the batch stays whole */
		add(&svc.dropped, 1);
		return;
	}
	svc.buffered += s->cur.len - before;
	s->cur_n++;
	s->last_ms = now;
	if (s->conf.kind == GW_PROXY__SINK_HTTP && s->cur_n >= s->conf.batch_max_size) {
		close_batch(s);
	}
}

/* Take every pushed entry, oldest first, to its sink. */
static void drain(uint64_t now)
{
	struct entry *e = atomic_exchange_explicit(&svc.head, NULL, memory_order_acquire);
	struct entry *rev = NULL, *next;

	while (e != NULL) {
		next = e->next;
		e->next = rev;
		rev = e;
		e = next;
	}
	for (e = rev; e != NULL; e = next) {
		next = e->next;
		atomic_fetch_sub_explicit(&svc.queued, e->len, memory_order_relaxed);
		sink_take(e->sink, e, now);
		free(e);
	}
}

/* Move the sinks nobody references to the dying list (before the drain: an
 * entry pushed before the last reference went is then taken). */
static void sweep(void)
{
	struct gw_proxy__logsink **pp;
	uv_mutex_lock(&svc.mu);
	for (pp = &svc.sinks; *pp != NULL;) {
		struct gw_proxy__logsink *s = *pp;
		if (atomic_load_explicit(&s->refs, memory_order_acquire) == 0) {
			*pp = s->next;
			s->dying = true;
			s->next = svc.dying;
			svc.dying = s;
		} else {
			pp = &s->next;
		}
	}
	uv_mutex_unlock(&svc.mu);
}

/* Send, write or close what is due in @s. True when it holds nothing. */
static bool sink_tick(struct gw_proxy__logsink *s, uint64_t now, bool flush)
{
	if (s->conf.kind == GW_PROXY__SINK_MIRROR) {
		return s->n_mir == 0;
	}
	if (s->conf.kind == GW_PROXY__SINK_FILE) {
		if (atomic_load(&svc.reopen)) {
			file_check(s, now, true);
		}
		file_write(s, now);
		return true;
	}
	if (s->cur_n > 0 && (flush || now - s->last_ms >= 1000ull * s->conf.inactive_timeout_s ||
			     now - s->first_ms >= 1000ull * s->conf.buffer_duration_s)) {
		close_batch(s);
	}
	send_head(s);
	return s->cur_n == 0 && s->pend == NULL && s->inflight == NULL;
}

static void on_tick(uv_timer_t *t)
{
	uint64_t now = uv_now(&svc.loop);
	bool stopping = atomic_load(&svc.stop), idle = true;
	struct gw_proxy__logsink *s, **pp;

	(void)t;
	sweep();
	drain(now);
	uv_mutex_lock(&svc.mu);
	for (s = svc.sinks; s != NULL; s = s->next) {
		idle &= sink_tick(s, now, stopping);
	}
	uv_mutex_unlock(&svc.mu);
	atomic_store(&svc.reopen, false);
	for (pp = &svc.dying; *pp != NULL;) {
		s = *pp;
		if (sink_tick(s, now, true)) {
			*pp = s->next;
			sink_free(s);
		} else {
			idle = false;
			pp = &s->next;
		}
	}
	if (stopping) {
		if (svc.stop_due == 0) {
			svc.stop_due = now + STOP_GRACE;
		}
		if (idle || now >= svc.stop_due) {
			uv_stop(&svc.loop);
		}
	}
}

static void on_wake(uv_async_t *a)
{
	(void)a;
	on_tick(NULL);
}

static void close_walk(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h)) {
		uv_close(h, NULL);
	}
}

/* At stop, after the loop: abandon what is left. */
static void abandon(struct gw_proxy__logsink *s)
{
	if (s->inflight != NULL) {
		gw_httpc_cancel(s->inflight);
		s->inflight = NULL;
	}
	for (unsigned i = 0; i < MIRROR_MAX; i++) {
		if (s->mir[i] != NULL) {
			gw_httpc_cancel(s->mir[i]); /* its callback will not run */
			s->mir[i] = NULL;
			add(&svc.mir_failed, 1);
		}
	}
	s->n_mir = 0;
	sink_clear(s);
}

static void thread_main(void *arg)
{
	struct gw_proxy__logsink *s, *next;
	(void)arg;
	uv_run(&svc.loop, UV_RUN_DEFAULT);
	uv_mutex_lock(&svc.mu);
	for (s = svc.sinks; s != NULL; s = s->next) {
		abandon(s);
	}
	uv_mutex_unlock(&svc.mu);
	for (s = svc.dying; s != NULL; s = next) {
		next = s->next;
		abandon(s);
	}
	uv_walk(&svc.loop, close_walk, NULL);
	uv_run(&svc.loop, UV_RUN_DEFAULT);
	for (s = svc.dying; s != NULL; s = next) {
		next = s->next;
		sink_free(s);
	}
	svc.dying = NULL;
}

/* Start the thread (svc.mu held). 0 or GW_EIO. */
static int start(void)
{
	if (svc.started) {
		return 0;
	}
	if (uv_loop_init(&svc.loop) != 0) {
		return GW_EIO;
	}
	atomic_store(&svc.stop, false);
	svc.stop_due = 0;
	uv_async_init(&svc.loop, &svc.wake, on_wake);
	uv_timer_init(&svc.loop, &svc.tick);
	uv_timer_start(&svc.tick, on_tick, TICK_MS, TICK_MS);
	if (uv_thread_create(&svc.th, thread_main, NULL) != 0) {
		uv_walk(&svc.loop, close_walk, NULL);
		uv_run(&svc.loop, UV_RUN_DEFAULT);
		uv_loop_close(&svc.loop);
		gw_errorf("proxy", "%s", "cannot start the logger thread");
		return GW_EIO;
	}
	svc.started = true;
	atomic_store(&svc.running, true);
	return 0;
}

/* ---- API */

static char *dup_or_empty(const char *s)
{
	return strdup(s != NULL ? s : "");
}

struct gw_proxy__logsink *gw_proxy__logsink_get(uint64_t ident,
						const struct gw_proxy__logsink_conf *conf)
{
	struct gw_proxy__logsink *s;

	uv_once(&svc.once, mu_init);
	uv_mutex_lock(&svc.mu);
	if (start() != 0) {
		uv_mutex_unlock(&svc.mu);
		return NULL;
	}
	for (s = svc.sinks; s != NULL; s = s->next) {
		if (s->ident == ident && s->conf.kind == conf->kind) {
			atomic_fetch_add(&s->refs, 1);
			uv_mutex_unlock(&svc.mu);
			return s;
		}
	}
	s = calloc(1, sizeof *s);
	if (s == NULL) {
		uv_mutex_unlock(&svc.mu);
		return NULL;
	}
	s->conf = *conf;
	s->conf.uri = dup_or_empty(conf->uri);
	s->conf.auth_header = dup_or_empty(conf->auth_header);
	s->conf.path = dup_or_empty(conf->path);
	s->fd = -1;
	s->ident = ident;
	gw_buf_init(&s->cur);
	if (conf->kind != GW_PROXY__SINK_FILE) {
		const char *p = strstr(s->conf.uri, "://");
		p = p != NULL ? strchr(p + 3, '/') : NULL;
		s->upath = strdup(p != NULL ? p : "/");
		if (gw_httpc_url_hostport(s->conf.uri, s->hostport, sizeof s->hostport) != 0) {
			s->hostport[0] = '\0';
		}
	}
	if (s->conf.uri == NULL || s->conf.auth_header == NULL || s->conf.path == NULL ||
	    (conf->kind != GW_PROXY__SINK_FILE && s->upath == NULL)) {
		uv_mutex_unlock(&svc.mu);
		conf_free(&s->conf);
		free(s->upath);
		free(s);
		return NULL;
	}
	atomic_init(&s->refs, 1);
	s->next = svc.sinks;
	svc.sinks = s;
	uv_mutex_unlock(&svc.mu);
	return s;
}

struct gw_proxy__logsink *gw_proxy__logsink_hold(struct gw_proxy__compiler *c, const cJSON *conf,
						 const struct gw_proxy__logsink_conf *sc)
{
	uint64_t ident = gw_proxy__limit_ident(c, conf, NULL);
	struct gw_proxy__logsink *s = ident != 0 ? gw_proxy__logsink_get(ident, sc) : NULL;

	if (s != NULL && gw_proxy__c_on_free(c, gw_proxy__logsink_release, s) != 0) {
		gw_proxy__logsink_release(s);
		s = NULL;
	}
	return s;
}

void gw_proxy__logsink_release(void *sink)
{
	struct gw_proxy__logsink *s = sink;
	atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel);
}

void gw_proxy__logsink_push(struct gw_proxy__logsink *s, const char *p, size_t len)
{
	struct entry *e, *old;
	size_t q = atomic_fetch_add_explicit(&svc.queued, len, memory_order_relaxed);

	if (p == NULL || q + len > QUEUE_MAX || !atomic_load(&svc.running) ||
	    (e = malloc(sizeof *e + len)) == NULL) {
		atomic_fetch_sub_explicit(&svc.queued, len, memory_order_relaxed);
		add(s->conf.kind == GW_PROXY__SINK_MIRROR ? &svc.mir_dropped : &svc.dropped, 1);
		return;
	}
	e->sink = s;
	e->len = len;
	memcpy(e->data, p, len);
	old = atomic_load_explicit(&svc.head, memory_order_relaxed);
	do {
		e->next = old;
	} while (!atomic_compare_exchange_weak_explicit(&svc.head, &old, e, memory_order_release,
							memory_order_relaxed));
	if (old == NULL) {
		uv_async_send(&svc.wake);
	}
}

void gw_proxy__logger_reopen(void)
{
	atomic_store(&svc.reopen, true);
}

void gw_proxy__logger_stop(void)
{
	bool started;
	uv_once(&svc.once, mu_init);
	uv_mutex_lock(&svc.mu);
	started = svc.started;
	uv_mutex_unlock(&svc.mu);
	if (!started) {
		return;
	}
	atomic_store(&svc.running, false); /* a late push is dropped (workers are joined) */
	atomic_store(&svc.stop, true);
	uv_async_send(&svc.wake);
	uv_thread_join(&svc.th);
	drain(0); /* pushed after the last tick: nobody pushes any more */
	uv_mutex_lock(&svc.mu);
	for (struct gw_proxy__logsink *s = svc.sinks; s != NULL; s = s->next) {
		sink_clear(s);
	}
	uv_loop_close(&svc.loop);
	svc.started = false;
	uv_mutex_unlock(&svc.mu);
}

int gw_proxy__logger_metrics(struct gw_buf *b)
{
	static const struct {
		const char *name, *help;
	} fam[] = {
	    {"apigw_logger_sent_total", "Log entries delivered by http-logger"},
	    {"apigw_logger_written_total", "Log entries written by file-logger"},
	    {"apigw_logger_dropped_total",
	     "Log entries dropped because the node's logger queue or buffers were full"},
	    {"apigw_logger_failed_total",
	     "Log entries lost after their batch failed (retries exhausted, write error, stop)"},
	    {"apigw_mirror_sent_total", "Request copies proxy-mirror delivered"},
	    {"apigw_mirror_failed_total",
	     "Request copies proxy-mirror sent that failed (connect error, timeout, stop)"},
	    {"apigw_mirror_dropped_total",
	     "Request copies proxy-mirror dropped (queue full or too many in flight)"},
	};
	uint64_t v[] = {atomic_load(&svc.sent),       atomic_load(&svc.written),
			atomic_load(&svc.dropped),    atomic_load(&svc.failed),
			atomic_load(&svc.mir_sent),   atomic_load(&svc.mir_failed),
			atomic_load(&svc.mir_dropped)};
	int rv = 0;
	for (size_t i = 0; rv == 0 && i < sizeof fam / sizeof fam[0]; i++) {
		rv = gw_prom_family(b, fam[i].name, "counter", fam[i].help);
		if (rv == 0) {
			rv = gw_prom_sample(b, fam[i].name, NULL, (double)v[i]);
		}
	}
	return rv;
}
