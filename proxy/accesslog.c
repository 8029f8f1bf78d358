/* accesslog.c: the proxy's access log (see ops_int.h).
 *
 * Happy path. Each finished request hands its outcome (ops.c) to
 * gw_proxy__log_line on its worker: one line (JSON, or the nginx-style
 * access_log_format compiled at start) is appended to the worker's own
 * chunk. Before each poll (a uv_prepare handle: lines made by I/O and by
 * timers alike go out before the loop may sleep) the worker pushes its chunk
 * onto a lock-free stack and, if the stack was empty, posts the writer's
 * semaphore; the writer thread takes the whole stack at once, restores the
 * order and write()s it. SIGUSR1 (node/) sets a flag the writer sees: it
 * reopens the file by name (logrotate moved it). Failure modes: a writer
 * that falls behind (slow disk) makes workers drop lines past 64 MiB queued
 * (counted, never blocking); a write error is logged once per reopen and the
 * lines are lost; a writer stuck at shutdown is abandoned after 5 s. */
#include "config.h"

#include "lib/err.h"
#include "lib/log.h"
#include "proxy/conn_int.h"
#include "proxy/plugin_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LOG_QUEUE_MAX (64u * 1024 * 1024)
#define CHUNK_MIN     4096
#define WRITER_GRACE  5000 /* ms the writer gets to flush at shutdown */

struct gw_proxy__logchunk {
	struct gw_proxy__logchunk *next;
	size_t len, cap;
	char data[];
};

/* Counters shared by several threads (the log's). */
static void relaxed_add(atomic_uint_fast64_t *a, uint64_t v)
{
	atomic_fetch_add_explicit(a, v, memory_order_relaxed);
}

/* ---- access log: worker side */

static void push_chunk(struct gw_proxy__ops *ops, struct gw_proxy__logchunk *c)
{
	struct gw_proxy__logchunk *old = atomic_load_explicit(&ops->head, memory_order_relaxed);
	do {
		c->next = old;
	} while (!atomic_compare_exchange_weak_explicit(&ops->head, &old, c, memory_order_release,
							memory_order_relaxed));
	if (old == NULL) {
		uv_sem_post(&ops->wake); /* the writer may be asleep */
	}
}

static void on_prepare(uv_prepare_t *h)
{
	struct gw_proxy__worker *w = h->data;
	struct gw_proxy__wops *wo = &w->p->ops->w[w->idx];
	if (wo->cur != NULL) {
		push_chunk(w->p->ops, wo->cur);
		wo->cur = NULL;
	}
}

/* Room for @n more bytes in the worker's chunk; NULL when out of memory. */
static struct gw_proxy__logchunk *chunk_room(struct gw_proxy__worker *w, size_t n)
{
	struct gw_proxy__wops *wo = &w->p->ops->w[w->idx];
	struct gw_proxy__logchunk *c = wo->cur;
	size_t cap;

	if (!wo->check_on && !wo->closed) {
		uv_prepare_init(&w->loop, &wo->check);
		wo->check.data = w;
		uv_prepare_start(&wo->check, on_prepare);
		uv_unref((uv_handle_t *)&wo->check);
		wo->check_on = true;
	}
	if (c != NULL && c->cap - c->len >= n) {
		return c;
	}
	cap = c != NULL ? c->cap * 2 : CHUNK_MIN;
	while (cap < (c != NULL ? c->len : 0) + n) {
		cap *= 2;
	}
	c = realloc(c, sizeof *c + cap);
	if (c == NULL) {
		return NULL; /* wo->cur is still valid */
	}
	if (wo->cur == NULL) {
		c->len = 0;
	}
	c->cap = cap;
	wo->cur = c;
	return c;
}

/* JSON string body of @n bytes: quotes, backslashes and control bytes
 * escaped; bytes >= 0x80 as \u00XX so every line is valid JSON whatever a
 * client sent. */
static int json_str(struct gw_buf *b, const char *s, size_t n)
{
	int rv = gw_buf_append(b, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			char e[2] = {'\\', (char)c};
			rv |= gw_buf_append(b, e, 2);
		} else if (c < 0x20 || c >= 0x7f) {
			rv |= gw_buf_printf(b, "\\u%04x", c);
		} else {
			rv |= gw_buf_append(b, &s[i], 1);
		}
	}
	return rv | gw_buf_append(b, "\"", 1);
}

/* 0 or non-zero when out of memory. */
static int json_field(struct gw_buf *b, const char *name, const char *s, size_t n)
{
	return gw_buf_printf(b, ",\"%s\":", name) | json_str(b, s, n);
}

/* ---- access log format strings: nginx's log_format with APISIX's
 * variables. "$name" or "${name}"; values escaped as nginx does (", \,
 * control bytes and bytes >= 0x7f as \xHH); an empty value is "-". */

enum fvar {
	FV_LIT,
	FV_REMOTE_ADDR,
	FV_HOST,
	FV_METHOD,
	FV_REQUEST_URI,
	FV_URI,
	FV_ARGS,
	FV_REQUEST,
	FV_STATUS,
	FV_BYTES_SENT,
	FV_REQUEST_LENGTH,
	FV_REQUEST_TIME,
	FV_UPSTREAM_ADDR,
	FV_UPSTREAM_STATUS,
	FV_UPSTREAM_RESPONSE_TIME,
	FV_ROUTE_ID,
	FV_TIME_ISO8601,
	FV_TIME_LOCAL,
	FV_MSEC,
	FV_SERVER_PROTOCOL,
	FV_SCHEME,
	FV_HTTP, /* a request header: $http_user_agent */
	FV_SSL,  /* a TLS variable: $ssl_server_name (tls_int.h) */
};

static const struct {
	const char *name;
	enum fvar v;
} fvars[] = {
    {"remote_addr", FV_REMOTE_ADDR},
    {"host", FV_HOST},
    {"request_method", FV_METHOD},
    {"request_uri", FV_REQUEST_URI},
    {"uri", FV_URI},
    {"args", FV_ARGS},
    {"query_string", FV_ARGS},
    {"request", FV_REQUEST},
    {"status", FV_STATUS},
    {"bytes_sent", FV_BYTES_SENT},
    {"request_length", FV_REQUEST_LENGTH},
    {"request_time", FV_REQUEST_TIME},
    {"upstream_addr", FV_UPSTREAM_ADDR},
    {"upstream_status", FV_UPSTREAM_STATUS},
    {"upstream_response_time", FV_UPSTREAM_RESPONSE_TIME},
    {"route_id", FV_ROUTE_ID},
    {"time_iso8601", FV_TIME_ISO8601},
    {"time_local", FV_TIME_LOCAL},
    {"msec", FV_MSEC},
    {"server_protocol", FV_SERVER_PROTOCOL},
    {"scheme", FV_SCHEME},
};

struct gw_proxy__logfmt {
	enum fvar v;
	char *text; /* FV_LIT: the literal; FV_HTTP: header name ('_' -> '-'); FV_SSL: name */
	size_t len;
};

static void fmt_free(struct gw_proxy__logfmt *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(f[i].text);
	}
	free(f);
}

static int fmt_add(struct gw_proxy__ops *ops, enum fvar v, const char *text, size_t len)
{
	struct gw_proxy__logfmt *f = realloc(ops->fmt, (ops->n_fmt + 1) * sizeof *f);
	if (f == NULL) {
		return GW_ENOMEM;
	}
	ops->fmt = f;
	f[ops->n_fmt].v = v;
	f[ops->n_fmt].len = len;
	f[ops->n_fmt].text = NULL;
	if (text != NULL) {
		f[ops->n_fmt].text = strndup(text, len);
		if (f[ops->n_fmt].text == NULL) {
			return GW_ENOMEM;
		}
	}
	ops->n_fmt++;
	return 0;
}

/* Compile @s into ops->fmt. 0, GW_EINVAL (an unknown variable, logged) or
 * GW_ENOMEM. */
static int fmt_compile(struct gw_proxy__ops *ops, const char *s)
{
	const char *lit = s;
	int rv = 0;
	while (*s && rv == 0) {
		const char *name;
		size_t nl = 0;
		bool brace;
		if (*s != '$') {
			s++;
			continue;
		}
		if (s > lit) {
			rv = fmt_add(ops, FV_LIT, lit, (size_t)(s - lit));
		}
		brace = s[1] == '{';
		name = s + 1 + brace;
		while ((name[nl] >= 'a' && name[nl] <= 'z') ||
		       (name[nl] >= 'A' && name[nl] <= 'Z') ||
		       (name[nl] >= '0' && name[nl] <= '9') || name[nl] == '_') {
			nl++;
		}
		if (nl == 0 || (brace && name[nl] != '}')) {
			gw_errorf("proxy", "access log format: bad variable at '%.20s'", s);
			return GW_EINVAL;
		}
		s = name + nl + brace;
		lit = s;
		if (rv != 0) {
			break;
		}
		if (nl > 4 && strncmp(name, "ssl_", 4) == 0) {
			rv = fmt_add(ops, FV_SSL, name, nl);
			continue;
		}
		if (nl > 5 && strncmp(name, "http_", 5) == 0) {
			rv = fmt_add(ops, FV_HTTP, name + 5, nl - 5);
			if (rv == 0) {
				char *h = ops->fmt[ops->n_fmt - 1].text;
				for (size_t i = 0; h[i]; i++) {
					h[i] = h[i] == '_' ? '-' : h[i];
				}
			}
			continue;
		}
		size_t k;
		for (k = 0; k < sizeof fvars / sizeof fvars[0]; k++) {
			if (strlen(fvars[k].name) == nl && strncmp(fvars[k].name, name, nl) == 0) {
				break;
			}
		}
		if (k == sizeof fvars / sizeof fvars[0]) {
			gw_errorf("proxy", "access log format: unknown variable $%.*s", (int)nl,
				  name);
			return GW_EINVAL;
		}
		rv = fmt_add(ops, fvars[k].v, NULL, 0);
	}
	if (rv == 0 && s > lit) {
		rv = fmt_add(ops, FV_LIT, lit, (size_t)(s - lit));
	}
	return rv;
}

/* One value, escaped; "-" when empty. */
static int fmt_val(struct gw_buf *b, const char *p, size_t n)
{
	int rv = 0;
	if (n == 0) {
		return gw_buf_append(b, "-", 1);
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
			rv |= gw_buf_printf(b, "\\x%02X", c);
		} else {
			rv |= gw_buf_append(b, &p[i], 1);
		}
	}
	return rv;
}

static int fmt_vals(struct gw_buf *b, const char *s)
{
	return fmt_val(b, s, strlen(s));
}

static int fmt_render(const struct gw_proxy__ops *ops, struct gw_proxy__req *r,
		      const struct gw_proxy__outcome *o, const struct timeval *tv, struct gw_buf *b)
{
	const char *m = r->headers_done ? http_method_str(r->method) : "";
	const char *url = r->url.data != NULL ? r->url.data : "";
	char num[64];
	struct tm tm;
	int rv = 0;

	for (size_t i = 0; i < ops->n_fmt && rv == 0; i++) {
		const struct gw_proxy__logfmt *f = &ops->fmt[i];
		num[0] = '\0';
		switch (f->v) {
		case FV_LIT:
			rv = gw_buf_append(b, f->text, f->len);
			continue;
		case FV_REMOTE_ADDR:
			rv = fmt_vals(b, gw_proxy__req_remote_ip(r));
			continue;
		case FV_HOST:
			rv = fmt_val(b, r->host != NULL ? r->host : "",
				     r->host != NULL ? r->host_len : 0);
			continue;
		case FV_METHOD:
			rv = fmt_vals(b, m);
			continue;
		case FV_REQUEST_URI:
			rv = fmt_val(b, url, r->url.len);
			continue;
		case FV_URI:
			rv = fmt_val(b, r->path != NULL ? r->path : "",
				     r->path != NULL ? r->path_len : 0);
			continue;
		case FV_ARGS:
			rv = fmt_val(b, r->query != NULL ? r->query : "",
				     r->query != NULL ? r->query_len : 0);
			continue;
		case FV_REQUEST:
			if (!r->headers_done) {
				rv = fmt_val(b, "", 0);
				continue;
			}
			rv =
			    fmt_vals(b, m) | gw_buf_append(b, " ", 1) | fmt_val(b, url, r->url.len);
			if (r->h2 != NULL) {
				snprintf(num, sizeof num, " HTTP/2.0");
			} else {
				snprintf(num, sizeof num, " HTTP/1.%d", r->http_minor);
			}
			break;
		case FV_STATUS:
			snprintf(num, sizeof num, "%d", o->status);
			break;
		case FV_BYTES_SENT:
			snprintf(num, sizeof num, "%llu", (unsigned long long)o->out_bytes);
			break;
		case FV_REQUEST_LENGTH:
			snprintf(num, sizeof num, "%llu", (unsigned long long)o->in_bytes);
			break;
		case FV_REQUEST_TIME:
			snprintf(num, sizeof num, "%.3f", (double)o->req_us / 1e6);
			break;
		case FV_UPSTREAM_ADDR:
			rv = fmt_vals(b, o->upaddr != NULL ? o->upaddr : "");
			continue;
		case FV_UPSTREAM_STATUS:
			if (o->upaddr != NULL) {
				snprintf(num, sizeof num, "%d", o->up_status);
			}
			break;
		case FV_UPSTREAM_RESPONSE_TIME:
			if (o->upaddr != NULL) {
				snprintf(num, sizeof num, "%.3f", (double)o->up_us / 1e6);
			}
			break;
		case FV_ROUTE_ID:
			rv = fmt_vals(b, o->route);
			continue;
		case FV_TIME_ISO8601:
			localtime_r(&tv->tv_sec, &tm);
			strftime(num, sizeof num, "%Y-%m-%dT%H:%M:%S%z", &tm);
			/* nginx writes the offset as +hh:mm */
			if (strlen(num) == 24) {
				memmove(num + 23, num + 22, 2);
				num[22] = ':';
				num[25] = '\0';
			}
			break;
		case FV_TIME_LOCAL:
			localtime_r(&tv->tv_sec, &tm);
			strftime(num, sizeof num, "%d/%b/%Y:%H:%M:%S %z", &tm);
			break;
		case FV_MSEC:
			snprintf(num, sizeof num, "%lld.%03d", (long long)tv->tv_sec,
				 (int)(tv->tv_usec / 1000));
			break;
		case FV_SERVER_PROTOCOL:
			if (r->headers_done && r->h2 != NULL) {
				snprintf(num, sizeof num, "HTTP/2.0");
			} else if (r->headers_done) {
				snprintf(num, sizeof num, "HTTP/1.%d", r->http_minor);
			}
			break;
		case FV_SCHEME:
			snprintf(num, sizeof num, "%s", gw_proxy__tls_is(r->dc) ? "https" : "http");
			break;
		case FV_SSL:
			gw_proxy__tls_var(r->dc, f->text, f->len, num, sizeof num);
			break;
		case FV_HTTP: {
			const struct gw_proxy__hdr *h = NULL;
			for (size_t k = 0; k < r->hc.n && h == NULL; k++) {
				if (r->hc.v[k].name_len == f->len &&
				    strcasecmp(r->hc.v[k].name, f->text) == 0) {
					h = &r->hc.v[k];
				}
			}
			rv = fmt_val(b, h != NULL ? h->value : "", h != NULL ? h->value_len : 0);
			continue;
		}
		}
		if (f->v == FV_REQUEST) {
			rv |= gw_buf_appends(b, num);
		} else {
			rv |= fmt_vals(b, num);
		}
	}
	return rv | gw_buf_append(b, "\n", 1);
}

void gw_proxy__log_line(struct gw_proxy__req *r, const struct gw_proxy__outcome *o)
{
	struct gw_proxy__worker *w = r->dc->w;
	struct gw_proxy__ops *ops = w->p->ops;
	struct gw_proxy__logchunk *c;
	struct gw_buf b;
	struct timeval tv;
	struct tm tm;
	char ts[64];
	const char *ip = gw_proxy__req_remote_ip(r);
	const char *m = r->headers_done ? http_method_str(r->method) : "";
	int rv = 0;

	if (atomic_load_explicit(&ops->queued, memory_order_relaxed) > LOG_QUEUE_MAX) {
		relaxed_add(&ops->dropped, 1);
		return;
	}
	gettimeofday(&tv, NULL);
	gw_buf_init(&b);
	rv |= gw_buf_reserve(&b, 512 + r->url.len);
	if (ops->fmt != NULL) {
		rv |= fmt_render(ops, r, o, &tv, &b);
		goto out;
	}
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
	rv |= gw_buf_printf(&b, "{\"time\":\"%s.%03d+00:00\"", ts, (int)(tv.tv_usec / 1000));
	rv |= json_field(&b, "remote_addr", ip, strlen(ip));
	rv |= json_field(&b, "host", r->host != NULL ? r->host : "",
			 r->host != NULL ? r->host_len : 0);
	rv |= json_field(&b, "method", m, strlen(m));
	rv |= json_field(&b, "uri", r->url.data != NULL ? r->url.data : "", r->url.len);
	rv |= gw_buf_printf(&b, ",\"status\":%d,\"bytes_sent\":%llu,\"request_length\":%llu",
			    o->status, (unsigned long long)o->out_bytes,
			    (unsigned long long)o->in_bytes);
	rv |= gw_buf_printf(&b, ",\"request_time\":%.3f", (double)o->req_us / 1e6);
	if (o->upaddr != NULL) {
		rv |= json_field(&b, "upstream_addr", o->upaddr, strlen(o->upaddr));
		rv |=
		    gw_buf_printf(&b, ",\"upstream_status\":\"%d\",\"upstream_response_time\":%.3f",
				  o->up_status, (double)o->up_us / 1e6);
	} else {
		rv |= gw_buf_appends(&b, ",\"upstream_addr\":\"\",\"upstream_status\":\"\","
					 "\"upstream_response_time\":null");
	}
	rv |= json_field(&b, "route_id", o->route, strlen(o->route));
	rv |= gw_buf_appends(&b, "}\n");
out:
	if (rv != 0) {
		relaxed_add(&ops->dropped, 1);
		gw_buf_close(&b);
		return;
	}
	c = chunk_room(w, b.len);
	if (c == NULL) {
		relaxed_add(&ops->dropped, 1);
	} else {
		struct gw_proxy__wops *wo = &ops->w[w->idx];
		memcpy(c->data + c->len, b.data, b.len);
		c->len += b.len;
		atomic_fetch_add_explicit(&ops->queued, b.len, memory_order_relaxed);
		if (wo->closed) { /* no prepare handle any more */
			push_chunk(ops, c);
			wo->cur = NULL;
		}
	}
	gw_buf_close(&b);
}

/* ---- access log: writer thread */

static int open_log(const char *path)
{
	if (strcmp(path, "-") == 0) {
		return dup(STDOUT_FILENO);
	}
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

/* True when every byte was written. */
static bool write_all(struct gw_proxy__ops *ops, const char *p, size_t n, bool *failed)
{
	while (n > 0 && ops->log_fd >= 0) {
		ssize_t k = write(ops->log_fd, p, n);
		if (k < 0 && errno == EINTR) {
			continue;
		}
		if (k <= 0) {
			if (!*failed) {
				gw_errorf("proxy", "access log %s: %s", ops->log_path,
					  strerror(k < 0 ? errno : EIO));
				*failed = true;
			}
			return false;
		}
		p += k;
		n -= (size_t)k;
	}
	return n == 0;
}

static void writer_main(void *arg)
{
	struct gw_proxy__ops *ops = arg;
	bool failed = false;

	for (;;) {
		struct gw_proxy__logchunk *c, *rev = NULL;
		bool stop = atomic_load(&ops->stop);

		if (atomic_exchange(&ops->reopen, false)) {
			int fd = open_log(ops->log_path);
			if (fd < 0) {
				gw_errorf("proxy", "reopen access log %s: %s", ops->log_path,
					  strerror(errno));
			} else {
				close(ops->log_fd);
				ops->log_fd = fd;
				failed = false;
				gw_infof("proxy", "access log %s reopened", ops->log_path);
			}
		}
		c = atomic_exchange_explicit(&ops->head, NULL, memory_order_acquire);
		while (c != NULL) { /* newest first: reverse */
			struct gw_proxy__logchunk *next = c->next;
			c->next = rev;
			rev = c;
			c = next;
		}
		while (rev != NULL) {
			struct gw_proxy__logchunk *next = rev->next;
			size_t lines = 0;
			for (size_t i = 0; i < rev->len; i++) {
				lines += rev->data[i] == '\n';
			}
			if (write_all(ops, rev->data, rev->len, &failed)) {
				relaxed_add(&ops->written, lines);
			} else {
				relaxed_add(&ops->dropped, lines);
			}
			atomic_fetch_sub_explicit(&ops->queued, rev->len, memory_order_relaxed);
			free(rev);
			rev = next;
		}
		if (stop) {
			break;
		}
		uv_sem_wait(&ops->wake);
	}
	atomic_store(&ops->writer_done, true);
}

/* ---- life cycle */

int gw_proxy__log_init(struct gw_proxy__ops *ops, const struct gw_proxy_opts *o)
{
	const char *log = o->access_log;
	int rv;

	if (log == NULL || *log == '\0' || strcmp(log, "off") == 0) {
		return 0;
	}
	if (strlen(log) >= sizeof ops->log_path) {
		gw_errorf("proxy", "access log path too long");
		return GW_EINVAL;
	}
	strcpy(ops->log_path, log);
	if (o->access_log_format != NULL && *o->access_log_format != '\0') {
		rv = fmt_compile(ops, o->access_log_format);
		if (rv != 0) {
			return rv;
		}
	}
	ops->log_fd = open_log(log);
	if (ops->log_fd < 0) {
		gw_errorf("proxy", "cannot open access log %s: %s", log, strerror(errno));
		return GW_EIO;
	}
	if (uv_sem_init(&ops->wake, 0) != 0) {
		return GW_EIO;
	}
	ops->log_on = true;
	if (uv_thread_create(&ops->writer, writer_main, ops) != 0) {
		return GW_EIO;
	}
	ops->writer_started = true;
	return 0;
}

bool gw_proxy__log_stop(struct gw_proxy__ops *ops)
{
	if (!ops->writer_started) {
		return true;
	}
	atomic_store(&ops->stop, true);
	uv_sem_post(&ops->wake);
	for (int i = 0; i < WRITER_GRACE / 10 && !atomic_load(&ops->writer_done); i++) {
		uv_sleep(10);
	}
	if (!atomic_load(&ops->writer_done)) {
		gw_errorf("proxy",
			  "access log %s: writer stuck for %d ms at shutdown, "
			  "abandoning %zu bytes",
			  ops->log_path, WRITER_GRACE, atomic_load(&ops->queued));
		return false;
	}
	uv_thread_join(&ops->writer);
	ops->writer_started = false;
	return true;
}

void gw_proxy__log_free(struct gw_proxy__ops *ops)
{
	if (ops->log_on) {
		uv_sem_destroy(&ops->wake);
		ops->log_on = false;
	}
	if (ops->log_fd >= 0) {
		close(ops->log_fd);
		ops->log_fd = -1;
	}
	/* chunks pushed after the writer's last pass (none once the workers
	 * are joined, but a failed start may leave some) */
	for (struct gw_proxy__logchunk *c = atomic_load(&ops->head), *next; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	atomic_store(&ops->head, NULL);
	for (int i = 0; ops->w != NULL && i < ops->n_workers; i++) {
		free(ops->w[i].cur);
		ops->w[i].cur = NULL;
	}
	fmt_free(ops->fmt, ops->n_fmt);
	ops->fmt = NULL;
	ops->n_fmt = 0;
}

void gw_proxy__ops_worker_close(struct gw_proxy__worker *w)
{
	struct gw_proxy__ops *ops = w->p->ops;
	struct gw_proxy__wops *wo;
	if (ops == NULL) {
		return;
	}
	wo = &ops->w[w->idx];
	wo->closed = true;
	if (wo->cur != NULL) {
		push_chunk(ops, wo->cur);
		wo->cur = NULL;
	}
	if (wo->check_on) {
		uv_close((uv_handle_t *)&wo->check, NULL);
		wo->check_on = false;
	}
}

void gw_proxy_reopen_logs(struct gw_proxy *p)
{
	struct gw_proxy__ops *ops = p != NULL ? p->ops : NULL;
	gw_proxy__logger_reopen(); /* file-logger's files */
	if (ops == NULL || !ops->log_on) {
		return;
	}
	atomic_store(&ops->reopen, true);
	uv_sem_post(&ops->wake);
}
