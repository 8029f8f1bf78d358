/* request.c: one proxied request, from routing to the end of its response.
 *
 * Happy path: at headers-complete the request is checked against smuggling
 * (duplicate or bad Content-Length, Transfer-Encoding other than chunked,
 * both at once, several Host headers), routed on the worker's snapshot, a
 * node is picked and an upstream connection taken from the pool or opened.
 * The request head is rebuilt for the upstream (hop-by-hop headers dropped,
 * Host per pass_host, X-Forwarded-For/-Proto/-Host/-Port and X-Real-IP set) and the body streams
 * through as it arrives, re-chunked when it came chunked; the first 64 KiB of
 * body are kept so a failed attempt can be replayed on the next node. The
 * response is parsed with http_parser, its head rebuilt (chunked to HTTP/1.1
 * clients when the upstream gave no length, close-delimited to HTTP/1.0
 * ones) and its body streamed back; both directions stop reading when the
 * other side has 256 KiB queued and resume below 64 KiB.
 * Failure modes: no route 404, no upstream 503, connect errors/timeouts and
 * 502/503/504 answers are retried on other nodes (retries, retry_timeout)
 * while nothing reached the client; then 502 (unreachable) or 504 (timeout).
 * An upstream failing mid-response cuts the client connection; a client
 * going away closes the upstream connection. */
#include "config.h"

#include "lib/err.h"
#include "lib/log.h"
#include "proxy/conn_int.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void attempt(struct gw_proxy__req *r);

/* Plugins of a routed request: the global rules' first, then the route's
 * (each list sorted by priority), as APISIX runs them. */
static size_t n_plugins(const struct gw_proxy__req *r)
{
	return r->route != NULL ? r->snap->cfg->n_global + r->route->n_plugins : 0;
}

static const struct gw_proxy__plugin_inst *plugin_at(const struct gw_proxy__req *r, size_t i)
{
	size_t g = r->snap->cfg->n_global;
	return i < g ? &r->snap->cfg->global[i] : &r->route->plugins[i - g];
}
static void u_finish(struct gw_proxy__req *r);

atomic_size_t gw_proxy__queued_hwm;

static uint64_t now_ms(void)
{
	return uv_hrtime() / 1000000;
}

/* ---- header collection */

static int hc_push(struct gw_proxy__hcollect *hc, struct gw_arena *a)
{
	struct gw_proxy__hdr *h;
	if (hc->name.len == 0) {
		return 0;
	}
	if (hc->n == hc->cap) {
		size_t cap = hc->cap ? hc->cap * 2 : 16;
		struct gw_proxy__hdr *v = gw_arena_take(a, cap * sizeof *v);
		if (v == NULL) {
			return GW_ENOMEM;
		}
		if (hc->n > 0) {
			memcpy(v, hc->v, hc->n * sizeof *v);
		}
		hc->v = v;
		hc->cap = cap;
	}
	h = &hc->v[hc->n];
	h->name = gw_arena_strndup(a, hc->name.data, hc->name.len);
	h->name_len = hc->name.len;
	/* trim optional whitespace around the value */
	const char *v = hc->value.data ? hc->value.data : "";
	size_t vl = hc->value.len;
	while (vl > 0 && (v[0] == ' ' || v[0] == '\t')) {
		v++;
		vl--;
	}
	while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) {
		vl--;
	}
	h->value = gw_arena_strndup(a, v, vl);
	h->value_len = vl;
	if (h->name == NULL || h->value == NULL) {
		return GW_ENOMEM;
	}
	hc->n++;
	hc->name.len = 0;
	hc->value.len = 0;
	hc->in_value = false;
	return 0;
}

int gw_proxy__hc_field(struct gw_proxy__hcollect *hc, struct gw_arena *a, const char *p,
		       size_t n)
{
	if (hc->in_value) {
		int rv = hc_push(hc, a);
		if (rv != 0) {
			return rv;
		}
	}
	if (hc->n >= 256) {
		return GW_ELIMIT;
	}
	return gw_buf_append(&hc->name, p, n);
}

int gw_proxy__hc_value(struct gw_proxy__hcollect *hc, const char *p, size_t n)
{
	hc->in_value = true;
	return gw_buf_append(&hc->value, p, n);
}

int gw_proxy__hc_flush(struct gw_proxy__hcollect *hc, struct gw_arena *a)
{
	return hc_push(hc, a);
}

static void hc_close(struct gw_proxy__hcollect *hc)
{
	gw_buf_close(&hc->name);
	gw_buf_close(&hc->value);
}

static void hc_reset(struct gw_proxy__hcollect *hc)
{
	hc->name.len = 0;
	hc->value.len = 0;
	hc->in_value = false;
	hc->v = NULL;
	hc->n = hc->cap = 0;
}

static inline bool name_is(const struct gw_proxy__hdr *h, const char *name)
{
	return h->name_len == strlen(name) && strcasecmp(h->name, name) == 0;
}

/* A header name with its length, for tables scanned per header. */
struct hname {
	const char *s;
	size_t len;
};
#define HNAME(lit)                                                                                 \
	{                                                                                          \
		lit, sizeof lit - 1                                                                \
	}

/* Is @h one of the @n names of @t (case-insensitive)? */
static bool name_in(const struct gw_proxy__hdr *h, const struct hname *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (h->name_len == t[i].len && strcasecmp(h->name, t[i].s) == 0) {
			return true;
		}
	}
	return false;
}

/* Append each NUL-terminated string up to NULL (printf costs on the hot
 * path). 0 or GW_ENOMEM. */
__attribute__((sentinel)) static int cat(struct gw_buf *b, ...)
{
	va_list ap;
	const char *s;
	int rv = 0;
	va_start(ap, b);
	while ((s = va_arg(ap, const char *)) != NULL) {
		rv |= gw_buf_append(b, s, strlen(s));
	}
	va_end(ap);
	return rv;
}

#define CAT_END ((const char *)NULL)

static const char *u64_text(uint64_t v, char *buf /* [24] */)
{
	char *p = buf + 23;
	*p = '\0';
	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	return p;
}

/* Does the comma-separated @list contain @token (case-insensitive)? */
static bool has_token(const char *list, const char *token)
{
	size_t tl = strlen(token);
	const char *p = list;
	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == ',') {
			p++;
		}
		const char *s = p;
		while (*p && *p != ',') {
			p++;
		}
		const char *e = p;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t')) {
			e--;
		}
		if ((size_t)(e - s) == tl && strncasecmp(s, token, tl) == 0) {
			return true;
		}
	}
	return false;
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

static void detach_uc(struct gw_proxy__req *r, bool close)
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
	detach_uc(r, true);
	if (r->route != NULL) {
		for (size_t i = 0; i < n_plugins(r); i++) {
			const struct gw_proxy__plugin_inst *pi = plugin_at(r, i);
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
	hc_close(&r->hc);
	hc_close(&r->rh);
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

static void respond_json(struct gw_proxy__req *r, int status, const char *msg)
{
	char body[256];
	snprintf(body, sizeof body, "{\"error_msg\":\"%s\"}\n", msg);
	gw_proxy__dconn_respond(r->dc, status, "text/plain; charset=utf-8", body, false);
}

static int hexv(int c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Bytes escaped again in the normalized path sent upstream. */
static bool must_escape(unsigned char c)
{
	return c <= 0x20 || c >= 0x7f || strchr("%\"<>\\^`{|}?#", c) != NULL;
}

/* Match on, and send upstream, the path as nginx's $uri makes it (APISIX
 * routes on $uri and proxies it re-encoded): %XX decoded, "//" merged,
 * "." and ".." segments resolved. So "/public/../admin/x" is routed as
 * "/admin/x", never past a route guarding /admin/. A ".." above the root,
 * a bad escape or an encoded NUL make the request invalid (-1). */
static int normalize_path(struct gw_proxy__req *r)
{
	const char *p = r->path;
	size_t n = r->path_len, o = 0, enc = 0;
	bool plain = true;
	char *dec, *out;

	for (size_t i = 0; i < n && plain; i++) {
		if (p[i] == '%' ||
		    (p[i] == '/' && i + 1 < n && (p[i + 1] == '/' || p[i + 1] == '.'))) {
			plain = false;
		}
	}
	if (plain) {
		return 0; /* the common case: nothing to do */
	}
	dec = gw_arena_take(&r->arena, n + 1);
	if (dec == NULL) {
		return -1;
	}
	/* decode, merging slashes and resolving dot segments as we go */
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)p[i];
		if (c == '%') {
			int hi, lo;
			if (i + 2 >= n) {
				return -1;
			}
			hi = hexv((unsigned char)p[i + 1]);
			lo = hexv((unsigned char)p[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
				return -1;
			}
			c = (unsigned char)(hi * 16 + lo);
			i += 3;
		} else {
			i++;
		}
		if (c == '/' && o > 0 && dec[o - 1] == '/') {
			continue; /* merge slashes */
		}
		dec[o++] = (char)c;
		/* a completed "/." or "/.." segment */
		if (c == '/' || i == n) {
			size_t end = c == '/' ? o - 1 : o; /* segment end (exclusive) */
			size_t start = end;
			while (start > 0 && dec[start - 1] != '/') {
				start--;
			}
			size_t len = end - start;
			if (len == 1 && dec[start] == '.') {
				o = start; /* drop "./" or a final "." */
			} else if (len == 2 && dec[start] == '.' && dec[start + 1] == '.') {
				if (start < 2) {
					return -1; /* above the root */
				}
				size_t prev = start - 1; /* the '/' before ".." */
				while (prev > 0 && dec[prev - 1] != '/') {
					prev--;
				}
				o = prev;
			}
		}
	}
	if (o == 0) {
		dec[o++] = '/';
	}
	dec[o] = '\0';
	r->path = dec;
	r->path_len = o;
	/* re-encoded copy for the upstream request line */
	for (size_t i = 0; i < o; i++) {
		enc += must_escape((unsigned char)dec[i]) ? 3 : 1;
	}
	out = gw_arena_take(&r->arena, enc + 1);
	if (out == NULL) {
		return -1;
	}
	enc = 0;
	for (size_t i = 0; i < o; i++) {
		unsigned char c = (unsigned char)dec[i];
		if (must_escape(c)) {
			out[enc++] = '%';
			out[enc++] = "0123456789ABCDEF"[c >> 4];
			out[enc++] = "0123456789ABCDEF"[c & 15];
		} else {
			out[enc++] = (char)c;
		}
	}
	out[enc] = '\0';
	r->path_enc = out;
	r->path_enc_len = enc;
	return 0;
}

/* Split the target, check framing headers, find Host. 0 or a status. */
static int check_request(struct gw_proxy__req *r)
{
	struct http_parser_url u;
	const char *url = r->url.data;
	int n_cl = 0, n_te = 0, n_host = 0;

	if (url == NULL || r->url.len == 0) {
		return 400;
	}
	http_parser_url_init(&u);
	if (http_parser_parse_url(url, r->url.len, 0, &u) != 0) {
		return 400;
	}
	if (u.field_set & (1 << UF_PATH)) {
		r->path = url + u.field_data[UF_PATH].off;
		r->path_len = u.field_data[UF_PATH].len;
	} else {
		r->path = "/";
		r->path_len = 1;
	}
	if (r->path[0] != '/') {
		return 400;
	}
	if (normalize_path(r) != 0) {
		return 400;
	}
	if (u.field_set & (1 << UF_QUERY)) {
		r->query = url + u.field_data[UF_QUERY].off;
		r->query_len = u.field_data[UF_QUERY].len;
	} else {
		r->query = "";
	}
	for (size_t i = 0; i < r->hc.n; i++) {
		const struct gw_proxy__hdr *h = &r->hc.v[i];
		if (name_is(h, "content-length")) {
			if (++n_cl > 1 || h->value_len == 0 || h->value_len > 18) {
				return 400;
			}
			for (size_t k = 0; k < h->value_len; k++) {
				if (!isdigit((unsigned char)h->value[k])) {
					return 400;
				}
			}
			r->content_length = strtoll(h->value, NULL, 10);
		} else if (name_is(h, "transfer-encoding")) {
			if (++n_te > 1 || strcasecmp(h->value, "chunked") != 0) {
				return 400; /* only a single "chunked" is accepted */
			}
			r->chunked_in = true;
		} else if (name_is(h, "host")) {
			if (++n_host > 1) {
				return 400;
			}
			r->host_hdr = h->value;
		} else if (name_is(h, "expect")) {
			if (strcasecmp(h->value, "100-continue") != 0) {
				return 417;
			}
			r->expect_continue = r->http_minor >= 1;
		}
	}
	if ((n_cl > 0 && n_te > 0) || (n_te > 0 && r->http_minor == 0)) {
		return 400;
	}
	if (r->http_minor >= 1 && n_host == 0) {
		return 400;
	}
	if (r->dc->w->p->opts.max_body_bytes != 0 && r->content_length > 0 &&
	    (uint64_t)r->content_length > r->dc->w->p->opts.max_body_bytes) {
		return 413;
	}
	/* Host for routing: absolute-form target wins, then the header. */
	const char *hs = r->host_hdr;
	size_t hl = hs ? strlen(hs) : 0;
	if (u.field_set & (1 << UF_HOST)) {
		hs = url + u.field_data[UF_HOST].off;
		hl = u.field_data[UF_HOST].len;
	} else if (hs != NULL) {
		if (hs[0] == '[') {
			const char *close = memchr(hs, ']', hl);
			hl = close ? (size_t)(close - hs + 1) : hl;
		} else {
			const char *colon = memchr(hs, ':', hl);
			hl = colon ? (size_t)(colon - hs) : hl;
		}
	}
	if (hl > 0) {
		char *lc = gw_arena_strndup(&r->arena, hs, hl);
		if (lc == NULL) {
			return 503;
		}
		for (size_t i = 0; i < hl; i++) {
			lc[i] = (char)tolower((unsigned char)lc[i]);
		}
		r->host = lc;
		r->host_len = hl;
	} else {
		r->host = "";
	}
	return 0;
}

void gw_proxy__req_match_ctx(const struct gw_proxy__req *r, struct gw_proxy__match_ctx *m)
{
	memset(m, 0, sizeof *m);
	m->method = r->method;
	m->path = r->path;
	m->path_len = r->path_len;
	m->query = r->query;
	m->query_len = r->query_len;
	m->host = r->host;
	m->host_len = r->host_len;
	m->peer = gw_proxy__req_remote_sa(r);
	m->remote_addr = gw_proxy__req_remote_ip(r);
	m->hdrs = r->hc.v;
	m->n_hdrs = r->hc.n;
	m->scheme = "http";
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

void gw_proxy__req_headers_done(struct gw_proxy__req *r)
{
	struct gw_proxy__dconn *dc = r->dc;
	struct gw_proxy__worker *w = dc->w;
	struct gw_proxy__match_ctx m;
	const struct gw_proxy__upstream *up;
	int st;

	gw_proxy__ops_req_head(r);
	st = check_request(r);

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
		for (size_t i = 0; i < n_plugins(r); i++) {
			const struct gw_proxy__plugin_inst *pi = plugin_at(r, i);
			int (*hook)(struct gw_proxy__req *, const void *) =
			    phase == 0 ? pi->p->rewrite : pi->p->access;
			if (hook != NULL && hook(r, pi->conf) != 0) {
				return; /* the plugin answered */
			}
		}
	}
	up = r->route->up;
	if (up == NULL) {
		respond_json(r, 503, "missing upstream configuration in Route or Service");
		return;
	}
	r->up = up;
	for (size_t i = 0; i < r->hc.n; i++) {
		if (name_is(&r->hc.v[i], "upgrade") &&
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
	if (r->expect_continue && !r->body_done) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		gw_proxy__dconn_write(dc, cont, sizeof cont - 1);
	}
	attempt(r);
}

/* Hop-by-hop and headers the proxy sets itself. */
static bool skip_req_header(const struct gw_proxy__hdr *h, const char *conn)
{
	static const struct hname names[] = {
	    HNAME("connection"),        HNAME("keep-alive"),
	    HNAME("proxy-connection"),  HNAME("te"),
	    HNAME("trailer"),           HNAME("transfer-encoding"),
	    HNAME("upgrade"),           HNAME("expect"),
	    HNAME("content-length"),    HNAME("host"),
	    HNAME("x-real-ip"),         HNAME("x-forwarded-for"),
	    HNAME("x-forwarded-proto"), HNAME("x-forwarded-host"),
	    HNAME("x-forwarded-port"),
	};
	if (memchr(h->name, '_', h->name_len) != NULL) {
		/* nginx drops these by default (underscores_in_headers off): an
		 * upstream mapping "Content_Length" and "Content-Length" to one
		 * CGI variable must never see both */
		return true;
	}
	if (name_in(h, names, sizeof names / sizeof names[0])) {
		return true;
	}
	return conn != NULL && has_token(conn, h->name);
}

static int build_head(struct gw_proxy__req *r, struct gw_buf *b)
{
	const struct gw_proxy__node *nd = &r->up->nodes[r->node];
	const char *conn = NULL, *xff = NULL, *host;
	int rv = 0;

	for (size_t i = 0; i < r->hc.n; i++) {
		if (name_is(&r->hc.v[i], "connection")) {
			conn = r->hc.v[i].value;
		} else if (name_is(&r->hc.v[i], "x-forwarded-for")) {
			xff = r->hc.v[i].value;
		}
	}
	if (conn != NULL && strcasecmp(conn, "keep-alive") == 0) {
		conn = NULL; /* names no header but Keep-Alive, dropped anyway */
	}
	switch (r->up_host != NULL ? -1 : (int)r->up->pass_host) {
	case -1:
		host = r->up_host;
		break;
	case GW_PROXY__PASS_NODE:
		host = nd->host;
		break;
	case GW_PROXY__PASS_REWRITE:
		host = r->up->upstream_host;
		break;
	default:
		host = r->host_hdr ? r->host_hdr : nd->host;
	}
	/* origin-form target even when the client sent an absolute URL */
	rv |= gw_buf_reserve(b, 512 + r->url.len);
	rv |= cat(b, http_method_str(r->up_method >= 0 ? r->up_method : r->method), " ", CAT_END);
	if (r->up_target != NULL) {
		rv |= cat(b, r->up_target, CAT_END);
	} else {
		if (r->path_enc != NULL) {
			rv |= gw_buf_append(b, r->path_enc, r->path_enc_len);
		} else {
			rv |= gw_buf_append(b, r->path, r->path_len);
		}
		if (r->query_len > 0) {
			rv |= gw_buf_append(b, "?", 1);
			rv |= gw_buf_append(b, r->query, r->query_len);
		}
	}
	rv |= cat(b, " HTTP/1.1\r\nHost: ", host, "\r\n", CAT_END);
	for (size_t i = 0; i < r->hc.n; i++) {
		const struct gw_proxy__hdr *h = &r->hc.v[i];
		if (skip_req_header(h, conn)) {
			continue;
		}
		rv |= gw_buf_append(b, h->name, h->name_len);
		rv |= gw_buf_append(b, ": ", 2);
		rv |= gw_buf_append(b, h->value, h->value_len);
		rv |= gw_buf_append(b, "\r\n", 2);
	}
	char port[24], len[24];
	/* X-Real-IP: the client (PROXY header, trusted X-Forwarded-For);
	 * X-Forwarded-For gains the hop that connected to us */
	rv |= cat(b, "X-Real-IP: ", gw_proxy__req_remote_ip(r),
		  "\r\nX-Forwarded-For: ", xff ? xff : "", xff ? ", " : "", r->dc->peer_ip,
		  "\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: ", r->host_len ? r->host : host,
		  "\r\nX-Forwarded-Port: ", u64_text((uint64_t)r->dc->local_port, port), "\r\n",
		  CAT_END);
	if (r->chunked_in) {
		rv |= gw_buf_appends(b, "Transfer-Encoding: chunked\r\n");
	} else if (r->content_length >= 0) {
		rv |= cat(b, "Content-Length: ", u64_text((uint64_t)r->content_length, len), "\r\n",
			  CAT_END);
	}
	if (r->ws) {
		rv |= gw_buf_appends(b, "Connection: upgrade\r\nUpgrade: websocket\r\n");
	} else if (r->up->pool_size == 0) {
		rv |= gw_buf_appends(b, "Connection: close\r\n");
	}
	rv |= gw_buf_append(b, "\r\n", 2);
	return rv != 0 ? GW_ENOMEM : 0;
}

/* Read the client again once less than GW_PROXY__LWM of its body waits for
 * the upstream (buffered or queued on the socket). */
static void bp_release(struct gw_proxy__req *r)
{
	struct gw_proxy__dconn *dc = r->dc;
	size_t queued = r->obuf.len + (r->uc ? r->uc->wq_bytes : 0);
	if (dc->stop_bp && queued < GW_PROXY__LWM) {
		dc->stop_bp = false;
		gw_proxy__dconn_update_reading(dc);
	}
}

static void send_head(struct gw_proxy__req *r)
{
	struct gw_proxy__uconn *uc = r->uc;
	struct gw_buf b = r->head; /* its memory goes back to r->head below */
	for (size_t i = 0; i < n_plugins(r); i++) {
		const struct gw_proxy__plugin_inst *pi = plugin_at(r, i);
		if (pi->p->before_proxy != NULL) {
			pi->p->before_proxy(r, pi->conf);
		}
	}
	b.len = 0;
	if (build_head(r, &b) != 0 || gw_buf_append(&b, r->obuf.data, r->obuf.len) != 0) {
		r->head = b;
		detach_uc(r, true);
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
	int err = 0;

	r->node = node;
	uc = gw_proxy__uconn_get(r->dc->w, &r->up->nodes[node], fresh, r->connect_ms, &err);
	if (uc == NULL) {
		GW_PROXY__COUNT(r->dc->w, up_fail);
		gw_proxy__balancer_done(r->snap, r->up, node, 0);
		gw_warnf("proxy", "connect to %s: %s", r->up->nodes[node].text, uv_strerror(err));
		attempt(r);
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

static bool retry_allowed(const struct gw_proxy__req *r)
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

static void prepare_replay(struct gw_proxy__req *r)
{
	if (r->replay_ok && r->body_sent_any) {
		r->obuf.len = 0;
		gw_buf_append(&r->obuf, r->replay.data, r->replay.len);
	}
	hc_reset(&r->rh);
	r->reason.len = 0;
}

static void attempt(struct gw_proxy__req *r)
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
		gw_proxy__dconn_respond(r->dc, 502, NULL, NULL, false);
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

	detach_uc(r, true);
	GW_PROXY__COUNT(r->dc->w, up_fail);
	if (r->resp_started) {
		gw_proxy__dconn_abort(r->dc);
		return;
	}
	if (why == UF_RESET && reused && !got && !r->free_retry_used &&
	    (r->replay_ok || !r->body_sent_any)) {
		/* A pooled connection the upstream had closed: retry on a fresh one
		 * to the same node without spending a retry. */
		r->free_retry_used = true;
		prepare_replay(r);
		connect_node(r, r->node, true);
		return;
	}
	if (r->node >= 0) {
		gw_warnf("proxy", "upstream %s: %s", r->up->nodes[r->node].text,
			 why == UF_CONNECT           ? "connect failed"
			 : why == UF_CONNECT_TIMEOUT ? "connect timed out"
			 : why == UF_READ_TIMEOUT    ? "read timed out"
			 : why == UF_PROTO           ? "invalid response"
						     : "connection closed before the response");
	}
	if ((why == UF_CONNECT || why == UF_CONNECT_TIMEOUT || (why == UF_RESET && !got)) &&
	    retry_allowed(r)) {
		prepare_replay(r);
		attempt(r);
		return;
	}
	gw_proxy__dconn_respond(r->dc, status, NULL, NULL, false);
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
		gw_proxy__dconn_abort(dc);
		return;
	}
	queued = r->obuf.len + (r->uc ? r->uc->wq_bytes : 0);
	gw_proxy__note_queued(queued);
	if (queued > GW_PROXY__HWM && !dc->stop_bp) {
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

/* ---- response */

static void body_filters(struct gw_proxy__req *r, const char **p, size_t *n, bool eof)
{
	for (size_t i = 0; i < n_plugins(r); i++) {
		const struct gw_proxy__plugin_inst *pi = plugin_at(r, i);
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

static bool skip_resp_header(const struct gw_proxy__hdr *h, const char *conn)
{
	static const struct hname names[] = {
	    HNAME("connection"), HNAME("keep-alive"),     HNAME("proxy-connection"),
	    HNAME("te"),         HNAME("trailer"),        HNAME("transfer-encoding"),
	    HNAME("upgrade"),    HNAME("content-length"),
	};
	if (name_in(h, names, sizeof names / sizeof names[0])) {
		return true;
	}
	return conn != NULL && has_token(conn, h->name);
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
		return 0;
	}
	if (status == 101 && !r->ws) {
		return -1;
	}
	if ((status == 502 || status == 503 || status == 504) && retry_allowed(r)) {
		uc->retry_status = true;
		http_parser_pause(hp, 1);
		return 0;
	}
	r->status = status;
	if (status != 101) {
		for (size_t i = 0; i < n_plugins(r); i++) {
			const struct gw_proxy__plugin_inst *pi = plugin_at(r, i);
			if (pi->p->header_filter != NULL) {
				pi->p->header_filter(r, pi->conf);
			}
		}
		status = r->status;
	}
	for (size_t i = 0; i < r->rh.n; i++) {
		if (name_is(&r->rh.v[i], "connection")) {
			conn = r->rh.v[i].value;
		} else if (name_is(&r->rh.v[i], "content-length")) {
			cl = r->rh.v[i].value;
		} else if (name_is(&r->rh.v[i], "upgrade")) {
			upg = r->rh.v[i].value;
		}
	}
	if (conn != NULL && strcasecmp(conn, "keep-alive") == 0) {
		conn = NULL; /* names no header but Keep-Alive, dropped anyway */
	}
	nobody = r->method == HTTP_HEAD || status == 204 || status == 304 || status == 101;
	b = r->head; /* its memory goes back to r->head below */
	b.len = 0;
	char num[24];
	rv |= gw_buf_reserve(&b, 512);
	rv |= cat(&b, "HTTP/1.1 ", u64_text((uint64_t)status, num), " ",
		  r->reason.len ? r->reason.data : gw_proxy__reason(status), "\r\n", CAT_END);
	for (size_t i = 0; i < r->rh.n; i++) {
		const struct gw_proxy__hdr *h = &r->rh.v[i];
		if (skip_resp_header(h, conn)) {
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
		rv |= cat(&b, "Content-Length: ", u64_text((uint64_t)r->resp_len_override, num),
			  "\r\n", CAT_END);
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
		rv |=
		    cat(&b, "Content-Length: ", u64_text(hp->content_length, num), "\r\n", CAT_END);
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
	return r->method == HTTP_HEAD ? 1 : 0;
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
		hc_reset(&r->rh);
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

	detach_uc(r, false);
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
			} else {
				gw_proxy__dconn_write(dc, tail, tn);
			}
		}
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
		detach_uc(r, true);
		prepare_replay(r);
		attempt(r);
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
		detach_uc(r, true);
		gw_proxy__dconn_response_done(r->dc);
		return;
	}
	if (r->resp_started) {
		http_parser_execute(&uc->parser, &u_settings, NULL, 0);
		if (uc->msg_done && r->uc == uc) {
			u_finish(r); /* body delimited by the close */
			return;
		}
		gw_proxy__dconn_abort(r->dc); /* truncated response */
		return;
	}
	gw_proxy__req_upstream_failed(r, UF_RESET);
}
