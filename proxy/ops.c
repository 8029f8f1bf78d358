/* ops.c: the access log and the HTTP metrics of the proxy (see ops_int.h).
 *
 * Happy path. Each request ends in gw_proxy__ops_req_done on its worker: one
 * JSON line is appended to the worker's own chunk, and the request is counted
 * in the worker's own series table (status code, route, upstream node ->
 * count, bytes in and out, three latency histograms). Before each poll
 * (a uv_prepare handle: lines made by I/O and by timers alike go out before
 * the loop may sleep) the worker pushes its chunk onto a lock-free stack and, if the stack was
 * empty, posts the writer's semaphore; the writer thread takes the whole stack at once, restores
 * the order and write()s it. SIGUSR1 (node/) sets a flag the writer sees: it reopens the file by
 * name (logrotate moved it). A scrape sums the workers' tables with relaxed atomic loads: the
 * request path takes no lock. Failure modes: a writer that falls behind (slow disk) makes workers
 * drop lines past 64 MiB queued (counted, never blocking); a write error is logged once per reopen
 * and the lines are lost; a series table that is full folds new label sets into route="" node=""
 * (cardinality stays bounded: route ids come only from the compiled config, at most MAX_SERIES
 * label sets per worker). */
#include "config.h"

#include "lib/err.h"
#include "lib/log.h"
#include "lib/prom.h"
#include "proxy/conn_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_SERIES     512 /* slots per worker (power of two) */
#define LABELED_SERIES 384 /* slots labeled series may take; the rest: folded */
#define LOG_QUEUE_MAX  (64u * 1024 * 1024)
#define CHUNK_MIN      4096
#define PP_TIMEOUT_MAX 5000 /* ms to receive a PROXY header, at most */
#define WRITER_GRACE   5000 /* ms the writer gets to flush at shutdown */

/* APISIX's default buckets, in ms. */
static const double buckets[] = {1,   2,    5,    10,   20,    50,    100,  200,
				 500, 1000, 2000, 5000, 10000, 30000, 60000};
#define NB    (sizeof buckets / sizeof buckets[0])
#define LAT_N 3 /* request, upstream, apisix */
static const char *const lat_types[LAT_N] = {"request", "upstream", "apisix"};

struct gw_proxy__logchunk {
	struct gw_proxy__logchunk *next;
	size_t len, cap;
	char data[];
};

/* One label set of one worker. The key fields are written once before
 * `ready` is released and never change; the counters are written by the
 * worker only and read by scrapes. */
struct series {
	atomic_bool ready;
	int code;
	char route[64];
	char node[48];
	atomic_uint_fast64_t count, in_bytes, out_bytes;
	atomic_uint_fast64_t lat[LAT_N][NB + 1]; /* per bucket (not cumulative); [NB] = +Inf */
	atomic_uint_fast64_t lat_sum_us[LAT_N];
};

struct gw_proxy__wops {
	struct series *series; /* MAX_SERIES slots, open addressing */
	size_t n_series;       /* worker only */
	atomic_uint_fast64_t overflow;
	atomic_int_fast64_t reading, writing; /* requests in each state now */
	struct gw_proxy__logchunk *cur;       /* worker only: lines not yet pushed */
	uv_prepare_t check;                   /* pushes cur before each poll */
	bool check_on;
	bool closed; /* the loop is closing: lines are pushed at once */
};

/* ---- helpers */

static uint64_t now_ns(void)
{
	return uv_hrtime();
}

/* Counters shared by several threads (the log's). */
static void relaxed_add(atomic_uint_fast64_t *a, uint64_t v)
{
	atomic_fetch_add_explicit(a, v, memory_order_relaxed);
}

/* Counters with one writer (a worker's own): a plain load and store, no
 * locked read-modify-write on the request path; readers see whole values. */
static void own_add(atomic_uint_fast64_t *a, uint64_t v)
{
	atomic_store_explicit(a, atomic_load_explicit(a, memory_order_relaxed) + v,
			      memory_order_relaxed);
}

static void own_gauge(atomic_int_fast64_t *a, int64_t d)
{
	atomic_store_explicit(a, atomic_load_explicit(a, memory_order_relaxed) + d,
			      memory_order_relaxed);
}

static uint64_t relaxed_get(atomic_uint_fast64_t *a)
{
	return atomic_load_explicit(a, memory_order_relaxed);
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

/* What the log and the metrics say about a finished request. */
struct outcome {
	int status;
	const char *route;  /* "" when unrouted */
	char node[48];      /* upstream node IP, "" when none */
	const char *upaddr; /* "ip:port" or NULL */
	int up_status;      /* 0 = none */
	uint64_t req_us, up_us;
	bool has_up_time;
	uint64_t in_bytes, out_bytes;
};

static void describe(struct gw_proxy__req *r, struct outcome *o)
{
	uint64_t end = now_ns();
	memset(o, 0, sizeof *o);
	o->status = r->resp_started ? r->status : 499; /* nginx's "client closed" */
	o->route = r->route != NULL && r->route->id != NULL ? r->route->id : "";
	if (r->up != NULL && r->node >= 0 && (size_t)r->node < r->up->n_nodes) {
		const char *t = r->up->nodes[r->node].text;
		const char *colon = strrchr(t, ':');
		size_t l = colon != NULL ? (size_t)(colon - t) : strlen(t);
		if (l > 0 && t[0] == '[') {
			t++;
			l -= 2;
		}
		if (l >= sizeof o->node) {
			l = sizeof o->node - 1;
		}
		memcpy(o->node, t, l);
		o->node[l] = '\0';
		o->upaddr = r->up->nodes[r->node].text;
		/* response headers came from the upstream; else the proxy
		 * answered for it (502/504 after failures) */
		o->up_status = r->rh.n > 0 ? r->status : r->resp_started ? r->status : 502;
	}
	o->req_us = r->t_begin != 0 && end > r->t_begin ? (end - r->t_begin) / 1000 : 0;
	if (r->t_up_begin != 0) {
		uint64_t ue = r->t_up_end > r->t_up_begin ? r->t_up_end : end;
		o->up_us = (ue - r->t_up_begin) / 1000;
		o->has_up_time = true;
		if (o->up_us > o->req_us) {
			o->up_us = o->req_us;
		}
	}
	o->in_bytes = r->url.len + 16 + r->body_bytes;
	for (size_t i = 0; i < r->hc.n; i++) {
		o->in_bytes += r->hc.v[i].name_len + r->hc.v[i].value_len + 4;
	}
	o->out_bytes = r->bytes_out;
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
	char *text; /* FV_LIT: the literal; FV_HTTP: header name ('_' -> '-') */
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
		      const struct outcome *o, const struct timeval *tv, struct gw_buf *b)
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
			snprintf(num, sizeof num, " HTTP/1.%d", r->http_minor);
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
			if (r->headers_done) {
				snprintf(num, sizeof num, "HTTP/1.%d", r->http_minor);
			}
			break;
		case FV_SCHEME:
			snprintf(num, sizeof num, "http");
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

static void log_line(struct gw_proxy__req *r, const struct outcome *o)
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

/* A writer that could not finish at shutdown (stuck writing to a pipe
 * nobody reads) keeps its state here: the process is about to exit. */
static struct gw_proxy__ops *abandoned;

/* ---- request hooks */

void gw_proxy__ops_req_begin(struct gw_proxy__req *r)
{
	struct gw_proxy__wops *wo = &r->dc->w->p->ops->w[r->dc->w->idx];
	if (r->st_reading || r->st_writing) {
		return;
	}
	r->t_begin = now_ns();
	r->st_reading = true;
	own_gauge(&wo->reading, 1);
}

void gw_proxy__ops_req_head(struct gw_proxy__req *r)
{
	struct gw_proxy__wops *wo = &r->dc->w->p->ops->w[r->dc->w->idx];
	if (r->t_begin == 0) {
		r->t_begin = now_ns();
	}
	if (r->st_reading) {
		r->st_reading = false;
		own_gauge(&wo->reading, -1);
	}
	if (!r->st_writing) {
		r->st_writing = true;
		own_gauge(&wo->writing, 1);
	}
	gw_proxy__pp_real_ip(r);
}

static uint64_t series_hash(int code, const char *route, const char *node)
{
	uint64_t h = GW_PROXY__FNV_INIT;
	h = gw_proxy__fnv_step(h, (unsigned char)(code & 0xff));
	h = gw_proxy__fnv_step(h, (unsigned char)(code >> 8));
	for (const char *s = route; *s; s++) {
		h = gw_proxy__fnv_step(h, (unsigned char)*s);
	}
	h = gw_proxy__fnv_step(h, 0);
	for (const char *s = node; *s; s++) {
		h = gw_proxy__fnv_step(h, (unsigned char)*s);
	}
	return h;
}

/* The worker's series for the label set, created if there is room. */
static struct series *series_get(struct gw_proxy__wops *wo, int code, const char *route,
				 const char *node)
{
	size_t mask = MAX_SERIES - 1, i;
	bool folded = false;
again:
	i = (size_t)series_hash(code, route, node) & mask;
	for (size_t probes = 0; probes < MAX_SERIES; probes++, i = (i + 1) & mask) {
		struct series *s = &wo->series[i];
		if (!atomic_load_explicit(&s->ready, memory_order_relaxed)) {
			if (wo->n_series >= (folded ? MAX_SERIES : LABELED_SERIES)) {
				break;
			}
			s->code = code;
			snprintf(s->route, sizeof s->route, "%s", route);
			snprintf(s->node, sizeof s->node, "%s", node);
			atomic_store_explicit(&s->ready, true, memory_order_release);
			wo->n_series++;
			return s;
		}
		if (s->code == code && strncmp(s->route, route, sizeof s->route - 1) == 0 &&
		    strncmp(s->node, node, sizeof s->node - 1) == 0) {
			return s;
		}
	}
	own_add(&wo->overflow, 1);
	if (folded) {
		return NULL;
	}
	folded = true;
	route = "";
	node = "";
	goto again;
}

static void observe(struct series *s, int type, uint64_t us)
{
	double ms = (double)us / 1000.0;
	size_t b = 0;
	while (b < NB && ms > buckets[b]) {
		b++;
	}
	own_add(&s->lat[type][b], 1);
	own_add(&s->lat_sum_us[type], us);
}

void gw_proxy__ops_req_done(struct gw_proxy__req *r)
{
	struct gw_proxy__worker *w = r->dc->w;
	struct gw_proxy__ops *ops = w->p->ops;
	struct gw_proxy__wops *wo;
	struct outcome o;
	struct series *s;

	if (ops == NULL) {
		return;
	}
	wo = &ops->w[w->idx];
	if (r->st_reading) {
		r->st_reading = false;
		own_gauge(&wo->reading, -1);
	}
	if (r->st_writing) {
		r->st_writing = false;
		own_gauge(&wo->writing, -1);
	}
	if (!r->headers_done && !r->resp_started) {
		return; /* nothing happened: a spare request, or bytes then EOF */
	}
	describe(r, &o);
	if (ops->log_on) {
		log_line(r, &o);
	}
	s = series_get(wo, o.status, o.route, o.node);
	if (s == NULL) {
		return;
	}
	own_add(&s->count, 1);
	own_add(&s->in_bytes, o.in_bytes);
	own_add(&s->out_bytes, o.out_bytes);
	observe(s, 0, o.req_us);
	if (o.has_up_time) {
		observe(s, 1, o.up_us);
		observe(s, 2, o.req_us - o.up_us);
	}
}

/* ---- life cycle */

/* "proxy_protocol" is the one listener option known today. */
static int listen_opts(const char *opts, bool *pp)
{
	char tmp[64], *save = NULL;
	snprintf(tmp, sizeof tmp, "%s", opts);
	*pp = false;
	for (char *t = strtok_r(tmp, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
		if (strcmp(t, "proxy_protocol") == 0) {
			*pp = true;
		} else {
			return -1;
		}
	}
	return 0;
}

static int parse_trusted(struct gw_proxy__ops *ops, const char *list)
{
	char *tmp, *save = NULL;
	size_t n = 1;
	if (list == NULL || *list == '\0') {
		return 0;
	}
	for (const char *s = list; *s; s++) {
		n += *s == ',';
	}
	ops->trusted = calloc(n, sizeof *ops->trusted);
	tmp = strdup(list);
	if (ops->trusted == NULL || tmp == NULL) {
		free(tmp);
		return GW_ENOMEM;
	}
	for (char *t = strtok_r(tmp, ", ", &save); t != NULL; t = strtok_r(NULL, ", ", &save)) {
		if (gw_proxy__cidr_parse(t, &ops->trusted[ops->n_trusted]) != 0) {
			gw_errorf("proxy", "real-ip-from: bad CIDR '%s'", t);
			free(tmp);
			return GW_EINVAL;
		}
		ops->n_trusted++;
	}
	free(tmp);
	return 0;
}

int gw_proxy__ops_init(struct gw_proxy *p)
{
	struct gw_proxy__ops *ops = calloc(1, sizeof *ops);
	const char *log = p->opts.access_log;
	int rv;

	if (ops == NULL) {
		return GW_ENOMEM;
	}
	p->ops = ops;
	ops->log_fd = -1;
	ops->n_workers = p->n_workers;
	ops->pp_timeout_ms =
	    p->opts.header_timeout_ms < PP_TIMEOUT_MAX ? p->opts.header_timeout_ms : PP_TIMEOUT_MAX;
	ops->pp_listen = calloc((size_t)p->opts.n_listen, sizeof *ops->pp_listen);
	ops->w = calloc((size_t)p->n_workers, sizeof *ops->w);
	if (ops->pp_listen == NULL || ops->w == NULL) {
		return GW_ENOMEM;
	}
	for (int i = 0; i < p->n_workers; i++) {
		ops->w[i].series = calloc(MAX_SERIES, sizeof *ops->w[i].series);
		if (ops->w[i].series == NULL) {
			return GW_ENOMEM;
		}
	}
	for (int i = 0; i < p->opts.n_listen; i++) {
		if (listen_opts(p->listen[i].opts, &ops->pp_listen[i]) != 0) {
			gw_errorf("proxy",
				  "listener %s: unknown option in '%s' (known: proxy_protocol)",
				  p->listen[i].text, p->listen[i].opts);
			return GW_EINVAL;
		}
	}
	rv = parse_trusted(ops, p->opts.real_ip_from);
	if (rv != 0) {
		return rv;
	}
	if (log == NULL || *log == '\0' || strcmp(log, "off") == 0) {
		return 0;
	}
	if (strlen(log) >= sizeof ops->log_path) {
		gw_errorf("proxy", "access log path too long");
		return GW_EINVAL;
	}
	strcpy(ops->log_path, log);
	if (p->opts.access_log_format != NULL && *p->opts.access_log_format != '\0') {
		rv = fmt_compile(ops, p->opts.access_log_format);
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

void gw_proxy__ops_close(struct gw_proxy *p)
{
	struct gw_proxy__ops *ops = p->ops;
	if (ops == NULL) {
		return;
	}
	if (ops->writer_started) {
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
			abandoned = ops;
			p->ops = NULL;
			return;
		}
		uv_thread_join(&ops->writer);
	}
	if (ops->log_on) {
		uv_sem_destroy(&ops->wake);
	}
	if (ops->log_fd >= 0) {
		close(ops->log_fd);
	}
	/* chunks pushed after the writer's last pass (none once the workers
	 * are joined, but a failed start may leave some) */
	for (struct gw_proxy__logchunk *c = atomic_load(&ops->head), *next; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	if (ops->w != NULL) {
		for (int i = 0; i < ops->n_workers; i++) {
			free(ops->w[i].cur);
			free(ops->w[i].series);
		}
	}
	fmt_free(ops->fmt, ops->n_fmt);
	free(ops->w);
	free(ops->pp_listen);
	free(ops->trusted);
	free(ops);
	p->ops = NULL;
}

void gw_proxy_reopen_logs(struct gw_proxy *p)
{
	struct gw_proxy__ops *ops = p != NULL ? p->ops : NULL;
	if (ops == NULL || !ops->log_on) {
		return;
	}
	atomic_store(&ops->reopen, true);
	uv_sem_post(&ops->wake);
}

/* ---- scrape */

/* One merged label set across workers. */
struct agg {
	int code;
	const char *route, *node; /* point into a worker's series (stable) */
	uint64_t count, in_bytes, out_bytes;
	uint64_t lat[LAT_N][NB + 1];
	uint64_t lat_sum_us[LAT_N];
};

struct aggset {
	struct agg *v;
	size_t n, cap;
	struct gw_proxy__map idx; /* key -> index + 1 */
	char **key_store;         /* the map's keys, owned */
	size_t n_keys;
};

static struct agg *agg_get(struct aggset *a, int code, const char *route, const char *node)
{
	char *key;
	void *hit;
	int kl = asprintf(&key, "%d\n%s\n%s", code, route, node);
	if (kl < 0) {
		return NULL;
	}
	hit = gw_proxy__map_get(&a->idx, key, (size_t)kl);
	if (hit != NULL) {
		free(key);
		return &a->v[(uintptr_t)hit - 1];
	}
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		struct agg *v = realloc(a->v, cap * sizeof *v);
		char **ks = realloc(a->key_store, cap * sizeof *ks);
		if (v != NULL) {
			a->v = v;
		}
		if (ks != NULL) {
			a->key_store = ks;
		}
		if (v == NULL || ks == NULL) {
			free(key);
			return NULL;
		}
		a->cap = cap;
	}
	if (gw_proxy__map_put(&a->idx, key, (size_t)kl, (void *)(uintptr_t)(a->n + 1)) != 0) {
		free(key);
		return NULL;
	}
	a->key_store[a->n_keys++] = key;
	memset(&a->v[a->n], 0, sizeof a->v[a->n]);
	a->v[a->n].code = code;
	a->v[a->n].route = route;
	a->v[a->n].node = node;
	return &a->v[a->n++];
}

static void aggset_close(struct aggset *a)
{
	for (size_t i = 0; i < a->n_keys; i++) {
		free(a->key_store[i]);
	}
	free(a->key_store);
	free(a->v);
	gw_proxy__map_close(&a->idx);
}

/* Sum the workers' series; @by_code false merges codes (code -1). */
static int collect(struct gw_proxy__ops *ops, bool by_code, struct aggset *a)
{
	memset(a, 0, sizeof *a);
	gw_proxy__map_init(&a->idx);
	for (int w = 0; w < ops->n_workers; w++) {
		for (size_t i = 0; i < MAX_SERIES; i++) {
			struct series *s = &ops->w[w].series[i];
			struct agg *g;
			if (!atomic_load_explicit(&s->ready, memory_order_acquire)) {
				continue;
			}
			g = agg_get(a, by_code ? s->code : -1, s->route, s->node);
			if (g == NULL) {
				return GW_ENOMEM;
			}
			g->count += relaxed_get(&s->count);
			g->in_bytes += relaxed_get(&s->in_bytes);
			g->out_bytes += relaxed_get(&s->out_bytes);
			for (int t = 0; t < LAT_N; t++) {
				for (size_t b = 0; b <= NB; b++) {
					g->lat[t][b] += relaxed_get(&s->lat[t][b]);
				}
				g->lat_sum_us[t] += relaxed_get(&s->lat_sum_us[t]);
			}
		}
	}
	return 0;
}

static int write_status(struct gw_proxy__ops *ops, struct gw_buf *b)
{
	struct aggset a;
	int rv = collect(ops, true, &a);
	if (rv == 0) {
		rv = gw_prom_family(b, "apisix_http_status", "counter",
				    "HTTP status codes per service in APISIX");
	}
	for (size_t i = 0; rv == 0 && i < a.n; i++) {
		char code[16];
		snprintf(code, sizeof code, "%d", a.v[i].code);
		const char *l[] = {
		    "code",         code,        "route",   a.v[i].route, "matched_uri", "",
		    "matched_host", "",          "service", "",           "consumer",    "",
		    "node",         a.v[i].node, NULL};
		rv = gw_prom_sample(b, "apisix_http_status", l, (double)a.v[i].count);
	}
	aggset_close(&a);
	return rv;
}

static int write_latency_bw(struct gw_proxy__ops *ops, struct gw_buf *b)
{
	struct aggset a;
	int rv = collect(ops, false, &a);
	if (rv == 0) {
		rv = gw_prom_family(b, "apisix_http_latency", "histogram",
				    "HTTP request latency in milliseconds per service in APISIX");
	}
	for (size_t i = 0; rv == 0 && i < a.n; i++) {
		for (int t = 0; rv == 0 && t < LAT_N; t++) {
			uint64_t cum = 0;
			char le[32];
			for (size_t k = 0; rv == 0 && k <= NB; k++) {
				cum += a.v[i].lat[t][k];
				if (k < NB) {
					snprintf(le, sizeof le, "%g", buckets[k]);
				} else {
					snprintf(le, sizeof le, "+Inf");
				}
				const char *l[] = {
				    "type", lat_types[t], "route", a.v[i].route, "service",
				    "",     "consumer",   "",      "node",       a.v[i].node,
				    "le",   le,           NULL};
				rv =
				    gw_prom_sample(b, "apisix_http_latency_bucket", l, (double)cum);
			}
			const char *l[] = {"type",    lat_types[t], "route",    a.v[i].route,
					   "service", "",           "consumer", "",
					   "node",    a.v[i].node,  NULL};
			if (rv == 0) {
				rv = gw_prom_sample(b, "apisix_http_latency_sum", l,
						    (double)a.v[i].lat_sum_us[t] / 1000.0);
			}
			if (rv == 0) {
				rv = gw_prom_sample(b, "apisix_http_latency_count", l, (double)cum);
			}
		}
	}
	if (rv == 0) {
		rv = gw_prom_family(b, "apisix_bandwidth", "counter",
				    "Total bandwidth in bytes consumed per service in APISIX");
	}
	for (size_t i = 0; rv == 0 && i < a.n; i++) {
		for (int t = 0; rv == 0 && t < 2; t++) {
			const char *l[] = {"type",     t == 0 ? "ingress" : "egress",
					   "route",    a.v[i].route,
					   "service",  "",
					   "consumer", "",
					   "node",     a.v[i].node,
					   NULL};
			rv = gw_prom_sample(b, "apisix_bandwidth", l,
					    (double)(t == 0 ? a.v[i].in_bytes : a.v[i].out_bytes));
		}
	}
	aggset_close(&a);
	return rv;
}

int gw_proxy_metrics(struct gw_proxy *p, struct gw_buf *b)
{
	struct gw_proxy__ops *ops = p->ops;
	struct gw_proxy_stats st;
	int64_t reading = 0, writing = 0, waiting;
	uint64_t overflow = 0;
	int rv;

	gw_proxy_stats(p, &st);
	for (int i = 0; i < ops->n_workers; i++) {
		reading += atomic_load_explicit(&ops->w[i].reading, memory_order_relaxed);
		writing += atomic_load_explicit(&ops->w[i].writing, memory_order_relaxed);
		overflow += relaxed_get(&ops->w[i].overflow);
	}
	reading = reading < 0 ? 0 : reading;
	writing = writing < 0 ? 0 : writing;
	waiting = (int64_t)st.active_connections - reading - writing;
	waiting = waiting < 0 ? 0 : waiting;
	rv = gw_prom_family(b, "apisix_nginx_http_current_connections", "gauge",
			    "Number of HTTP connections");
	{
		const char *states[] = {"active",  "reading",  "writing",
					"waiting", "accepted", "handled"};
		double vals[] = {(double)st.active_connections,
				 (double)reading,
				 (double)writing,
				 (double)waiting,
				 (double)st.connections,
				 (double)st.connections};
		for (int i = 0; rv == 0 && i < 6; i++) {
			const char *l[] = {"state", states[i], NULL};
			rv = gw_prom_sample(b, "apisix_nginx_http_current_connections", l, vals[i]);
		}
	}
	if (rv == 0) {
		rv = gw_prom_family(b, "apisix_http_requests_total", "gauge",
				    "The total number of client requests since APISIX started");
	}
	if (rv == 0) {
		rv = gw_prom_sample(b, "apisix_http_requests_total", NULL, (double)st.requests);
	}
	if (rv == 0) {
		rv = write_status(ops, b);
	}
	if (rv == 0) {
		rv = write_latency_bw(ops, b);
	}
	if (rv == 0) {
		rv = gw_prom_family(b, "apigw_http_series_overflow_total", "counter",
				    "Requests counted without labels: the series table was full");
	}
	if (rv == 0) {
		rv = gw_prom_sample(b, "apigw_http_series_overflow_total", NULL, (double)overflow);
	}
	if (rv == 0) {
		rv = gw_prom_family(b, "apigw_access_log_lines_total", "counter",
				    "Access log lines written");
	}
	if (rv == 0) {
		rv = gw_prom_sample(b, "apigw_access_log_lines_total", NULL,
				    (double)relaxed_get(&ops->written));
	}
	if (rv == 0) {
		rv = gw_prom_family(b, "apigw_access_log_dropped_total", "counter",
				    "Access log lines dropped because the writer fell behind");
	}
	if (rv == 0) {
		rv = gw_prom_sample(b, "apigw_access_log_dropped_total", NULL,
				    (double)relaxed_get(&ops->dropped));
	}
	return rv;
}
