/* reqhead.c: the request head, from the parser's callbacks to the head
 * sent upstream, and the header helpers request.c and response.c share.
 *
 * Happy path: header fields and values are collected into the request's
 * arena as http_parser delivers them (also for the upstream's response
 * head); at headers-complete gw_proxy__req_check splits the target, checks
 * the framing headers against smuggling (duplicate or bad Content-Length,
 * Transfer-Encoding other than chunked, both at once, several Host
 * headers), normalizes the path as nginx's $uri (decoded, "//" merged, dot
 * segments resolved) and finds the routing host; gw_proxy__req_build_head
 * rebuilds the head for the upstream (hop-by-hop headers dropped, Host per
 * pass_host, X-Forwarded-For/-Proto/-Host/-Port and X-Real-IP set).
 * Failure modes: a bad target, path or framing header -> 400 (417 for an
 * unknown Expect, 413 for a Content-Length over the limit), more than 256
 * headers -> GW_ELIMIT (431), out of memory -> GW_ENOMEM (503). Worker
 * thread only. */
#include "config.h"

#include "lib/err.h"
#include "proxy/conn_int.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- header helpers */

int gw_proxy__cat(struct gw_buf *b, ...)
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

bool gw_proxy__has_token(const char *list, const char *token)
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

int gw_proxy__hc_field(struct gw_proxy__hcollect *hc, struct gw_arena *a, const char *p, size_t n)
{
	if (hc->in_value) {
		int rv = hc_push(hc, a);
		if (rv != 0) {
			return rv;
		}
	}
	if (hc->n >= GW_PROXY__MAX_HEADERS) {
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

void gw_proxy__hc_close(struct gw_proxy__hcollect *hc)
{
	gw_buf_close(&hc->name);
	gw_buf_close(&hc->value);
}

void gw_proxy__hc_reset(struct gw_proxy__hcollect *hc)
{
	hc->name.len = 0;
	hc->value.len = 0;
	hc->in_value = false;
	hc->v = NULL;
	hc->n = hc->cap = 0;
}

/* ---- checks and path normalization */

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

int gw_proxy__req_check(struct gw_proxy__req *r)
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
		if (gw_proxy__hdr_is(h, "content-length")) {
			if (++n_cl > 1 || h->value_len == 0 || h->value_len > 18) {
				return 400;
			}
			for (size_t k = 0; k < h->value_len; k++) {
				if (!isdigit((unsigned char)h->value[k])) {
					return 400;
				}
			}
			r->content_length = strtoll(h->value, NULL, 10);
		} else if (gw_proxy__hdr_is(h, "transfer-encoding")) {
			if (++n_te > 1 || strcasecmp(h->value, "chunked") != 0) {
				return 400; /* only a single "chunked" is accepted */
			}
			r->chunked_in = true;
		} else if (gw_proxy__hdr_is(h, "host")) {
			if (++n_host > 1) {
				return 400;
			}
			r->host_hdr = h->value;
		} else if (gw_proxy__hdr_is(h, "expect")) {
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
	m->scheme = gw_proxy__tls_is(r->dc) ? "https" : "http";
	m->conn = r->dc;
}

/* ---- the head sent upstream */
/* Hop-by-hop and headers the proxy sets itself. */
static bool skip_req_header(const struct gw_proxy__hdr *h, const char *conn)
{
	static const struct gw_proxy__hname names[] = {
	    GW_PROXY__HNAME("connection"),        GW_PROXY__HNAME("keep-alive"),
	    GW_PROXY__HNAME("proxy-connection"),  GW_PROXY__HNAME("te"),
	    GW_PROXY__HNAME("trailer"),           GW_PROXY__HNAME("transfer-encoding"),
	    GW_PROXY__HNAME("upgrade"),           GW_PROXY__HNAME("expect"),
	    GW_PROXY__HNAME("content-length"),    GW_PROXY__HNAME("host"),
	    GW_PROXY__HNAME("x-real-ip"),         GW_PROXY__HNAME("x-forwarded-for"),
	    GW_PROXY__HNAME("x-forwarded-proto"), GW_PROXY__HNAME("x-forwarded-host"),
	    GW_PROXY__HNAME("x-forwarded-port"),
	};
	if (memchr(h->name, '_', h->name_len) != NULL) {
		/* nginx drops these by default (underscores_in_headers off): an
		 * upstream mapping "Content_Length" and "Content-Length" to one
		 * CGI variable must never see both */
		return true;
	}
	if (gw_proxy__hdr_in(h, names, sizeof names / sizeof names[0])) {
		return true;
	}
	return conn != NULL && gw_proxy__has_token(conn, h->name);
}

const char *gw_proxy__req_up_host(const struct gw_proxy__req *r, const struct gw_proxy__node *nd)
{
	switch (r->up_host != NULL ? -1 : (int)r->up->pass_host) {
	case -1:
		return r->up_host;
	case GW_PROXY__PASS_NODE:
		return nd->host;
	case GW_PROXY__PASS_REWRITE:
		return r->up->upstream_host;
	default:
		return r->host_hdr ? r->host_hdr : nd->host;
	}
}

int gw_proxy__req_build_head(struct gw_proxy__req *r, struct gw_buf *b)
{
	const struct gw_proxy__node *nd = &r->up->nodes[r->node];
	const char *conn = NULL, *xff = NULL, *host;
	int rv = 0;

	for (size_t i = 0; i < r->hc.n; i++) {
		if (gw_proxy__hdr_is(&r->hc.v[i], "connection")) {
			conn = r->hc.v[i].value;
		} else if (gw_proxy__hdr_is(&r->hc.v[i], "x-forwarded-for")) {
			xff = r->hc.v[i].value;
		}
	}
	if (conn != NULL && strcasecmp(conn, "keep-alive") == 0) {
		conn = NULL; /* names no header but Keep-Alive, dropped anyway */
	}
	host = gw_proxy__req_up_host(r, nd);
	/* origin-form target even when the client sent an absolute URL */
	rv |= gw_buf_reserve(b, 512 + r->url.len);
	rv |= gw_proxy__cat(b, http_method_str(r->up_method >= 0 ? r->up_method : r->method), " ",
			    GW_PROXY__CAT_END);
	if (r->up_target != NULL) {
		rv |= gw_proxy__cat(b, r->up_target, GW_PROXY__CAT_END);
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
	rv |= gw_proxy__cat(b, " HTTP/1.1\r\nHost: ", host, "\r\n", GW_PROXY__CAT_END);
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
	rv |= gw_proxy__cat(
	    b, "X-Real-IP: ", gw_proxy__req_remote_ip(r), "\r\nX-Forwarded-For: ", xff ? xff : "",
	    xff ? ", " : "", r->dc->peer_ip,
	    "\r\nX-Forwarded-Proto: ", gw_proxy__tls_is(r->dc) ? "https" : "http",
	    "\r\nX-Forwarded-Host: ", r->host_len ? r->host : host,
	    "\r\nX-Forwarded-Port: ", gw_proxy__u64_text((uint64_t)r->dc->local_port, port), "\r\n",
	    GW_PROXY__CAT_END);
	if (r->chunked_in) {
		rv |= gw_buf_appends(b, "Transfer-Encoding: chunked\r\n");
	} else if (r->content_length >= 0) {
		rv |= gw_proxy__cat(
		    b, "Content-Length: ", gw_proxy__u64_text((uint64_t)r->content_length, len),
		    "\r\n", GW_PROXY__CAT_END);
	}
	if (r->ws) {
		rv |= gw_buf_appends(b, "Connection: upgrade\r\nUpgrade: websocket\r\n");
	} else if (r->up->pool_size == 0) {
		rv |= gw_buf_appends(b, "Connection: close\r\n");
	}
	rv |= gw_buf_append(b, "\r\n", 2);
	return rv != 0 ? GW_ENOMEM : 0;
}
