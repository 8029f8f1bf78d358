/* pp.c: the client address of a connection and of a request: the PROXY
 * protocol (v1 text and v2 binary, as haproxy's proxy-protocol.txt
 * specifies them) on listeners that ask for it, and trusted X-Forwarded-For.
 *
 * Happy path: a connection accepted on a "proxy_protocol" listener waits for
 * the header before any HTTP; gw_proxy__pp_parse validates it (bytes may
 * arrive split across reads: they are buffered, at most GW_PROXY__PP_MAX),
 * the source address replaces the socket's peer, and the bytes after the
 * header go to the HTTP parser. With --real-ip-from, a request whose peer is
 * trusted takes its remote address from X-Forwarded-For: the rightmost entry
 * that is not itself trusted.
 * Failure modes: a missing, malformed or oversized header, or none within
 * pp_timeout_ms, closes the connection without a word (the peer is a
 * balancer speaking the wrong protocol). v2 TLVs are walked and checked to
 * fit, never interpreted. v2 LOCAL (health checks), v1 UNKNOWN and address
 * families other than IPv4/IPv6 keep the socket's address. */
#include "config.h"

#include "lib/log.h"
#include "proxy/conn_int.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char v2sig[12] = {'\r', '\n', '\r', '\n', '\0', '\r', '\n', 'Q', 'U', 'I', 'T', '\n'};

/* ---- v1: "PROXY TCP4 1.2.3.4 5.6.7.8 1234 80\r\n" */

/* Decimal port without leading zeros (but "0"), 0..65535. */
static int v1_port(const char *s, size_t n)
{
	unsigned v = 0;
	if (n == 0 || n > 5 || (n > 1 && s[0] == '0')) {
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9') {
			return -1;
		}
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	return v <= 65535 ? (int)v : -1;
}

static int v1_addr(int family, const char *s, size_t n, int port, struct sockaddr_storage *out)
{
	char tmp[48];
	if (n == 0 || n >= sizeof tmp) {
		return -1;
	}
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	memset(out, 0, sizeof *out);
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)out;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		return inet_pton(AF_INET, tmp, &a->sin_addr) == 1 ? 0 : -1;
	}
	struct sockaddr_in6 *a = (struct sockaddr_in6 *)out;
	a->sin6_family = AF_INET6;
	a->sin6_port = htons((uint16_t)port);
	return inet_pton(AF_INET6, tmp, &a->sin6_addr) == 1 ? 0 : -1;
}

static int parse_v1(const char *p, size_t n, struct gw_proxy__pp *out)
{
	const char *end = NULL, *f[5];
	size_t fl[5], nf = 0, i, len;
	int family, sport, dport;

	for (i = 0; i < n && i < GW_PROXY__PP_V1_MAX; i++) {
		if (p[i] == '\n') {
			end = p + i;
			break;
		}
		if (p[i] == '\0' || (p[i] == '\r' && i + 1 < n && p[i + 1] != '\n')) {
			return -1;
		}
	}
	if (end == NULL) {
		return n >= GW_PROXY__PP_V1_MAX ? -1 : 0;
	}
	len = (size_t)(end - p) + 1;
	if (end == p || end[-1] != '\r') {
		return -1;
	}
	/* "PROXY " is checked by the caller; split the rest on single spaces */
	{
		const char *s = p + 6, *e = end - 1;
		if (e - s >= 7 && memcmp(s, "UNKNOWN", 7) == 0 && (e - s == 7 || s[7] == ' ')) {
			memset(out, 0, sizeof *out);
			out->version = 1;
			out->local = true;
			out->len = len;
			return 1;
		}
		while (s < e) {
			const char *sp = memchr(s, ' ', (size_t)(e - s));
			const char *fe = sp != NULL ? sp : e;
			if (nf == 5 || fe == s) {
				return -1; /* too many fields, or two spaces in a row */
			}
			f[nf] = s;
			fl[nf++] = (size_t)(fe - s);
			s = sp != NULL ? sp + 1 : e;
			if (sp != NULL && s == e) {
				return -1; /* trailing space */
			}
		}
	}
	if (nf != 5) {
		return -1;
	}
	if (fl[0] == 4 && memcmp(f[0], "TCP4", 4) == 0) {
		family = AF_INET;
	} else if (fl[0] == 4 && memcmp(f[0], "TCP6", 4) == 0) {
		family = AF_INET6;
	} else {
		return -1;
	}
	sport = v1_port(f[3], fl[3]);
	dport = v1_port(f[4], fl[4]);
	memset(out, 0, sizeof *out);
	if (sport < 0 || dport < 0 || v1_addr(family, f[1], fl[1], sport, &out->src) != 0 ||
	    v1_addr(family, f[2], fl[2], dport, &out->dst) != 0) {
		return -1;
	}
	out->version = 1;
	out->len = len;
	return 1;
}

/* ---- v2: 12-byte signature, ver/cmd, family/transport, length, addresses,
 * TLVs */

static uint16_t be16(const unsigned char *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static int parse_v2(const unsigned char *p, size_t n, struct gw_proxy__pp *out)
{
	unsigned ver, cmd, fam, proto;
	size_t len, alen;
	const unsigned char *tlv, *end;

	if (n < 16) {
		if (n > 12 && (p[12] >> 4) != 2) {
			return -1;
		}
		if (n > 12 && (p[12] & 15) > 1) {
			return -1;
		}
		return 0;
	}
	ver = p[12] >> 4;
	cmd = p[12] & 15;
	fam = p[13] >> 4;
	proto = p[13] & 15;
	len = be16(p + 14);
	if (ver != 2 || cmd > 1 || fam > 3 || proto > 2) {
		return -1;
	}
	if (16 + len > GW_PROXY__PP_MAX) {
		return -1;
	}
	if (n < 16 + len) {
		return 0;
	}
	memset(out, 0, sizeof *out);
	out->version = 2;
	out->len = 16 + len;
	if (cmd == 0) {
		/* LOCAL: the balancer's own connection (health check); the block
		 * is skipped unread, as the spec says */
		out->local = true;
		return 1;
	}
	switch (fam) {
	case 1:
		alen = 12;
		break;
	case 2:
		alen = 36;
		break;
	case 3:
		alen = 216;
		break;
	default:
		alen = 0;
	}
	if (len < alen) {
		return -1;
	}
	if ((fam == 1 || fam == 2) && proto != 1) {
		return -1; /* a TCP listener: only STREAM makes sense */
	}
	if (fam == 1) {
		struct sockaddr_in *s = (struct sockaddr_in *)&out->src;
		struct sockaddr_in *d = (struct sockaddr_in *)&out->dst;
		s->sin_family = d->sin_family = AF_INET;
		memcpy(&s->sin_addr, p + 16, 4);
		memcpy(&d->sin_addr, p + 20, 4);
		memcpy(&s->sin_port, p + 24, 2);
		memcpy(&d->sin_port, p + 26, 2);
	} else if (fam == 2) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&out->src;
		struct sockaddr_in6 *d = (struct sockaddr_in6 *)&out->dst;
		s->sin6_family = d->sin6_family = AF_INET6;
		memcpy(&s->sin6_addr, p + 16, 16);
		memcpy(&d->sin6_addr, p + 32, 16);
		memcpy(&s->sin6_port, p + 48, 2);
		memcpy(&d->sin6_port, p + 50, 2);
	} else {
		out->local = true; /* UNSPEC or UNIX: nothing to use */
		return 1;
	}
	/* TLVs: each must fit in what is left; their contents are ignored */
	tlv = p + 16 + alen;
	end = p + 16 + len;
	while (tlv < end) {
		size_t tl;
		if (end - tlv < 3) {
			return -1;
		}
		tl = be16(tlv + 1);
		if ((size_t)(end - tlv) - 3 < tl) {
			return -1;
		}
		tlv += 3 + tl;
	}
	return 1;
}

int gw_proxy__pp_parse(const char *p, size_t n, struct gw_proxy__pp *out)
{
	size_t k;
	if (n == 0) {
		return 0;
	}
	if (p[0] == 'P') {
		k = n < 6 ? n : 6;
		if (memcmp(p, "PROXY ", k) != 0) {
			return -1;
		}
		return n < 6 ? 0 : parse_v1(p, n, out);
	}
	if (p[0] == '\r') {
		k = n < sizeof v2sig ? n : sizeof v2sig;
		if (memcmp(p, v2sig, k) != 0) {
			return -1;
		}
		return n < sizeof v2sig ? 0 : parse_v2((const unsigned char *)p, n, out);
	}
	return -1;
}

/* ---- connection glue */

static void ip_text(const struct sockaddr *sa, char *buf, size_t len)
{
	const void *a = sa->sa_family == AF_INET6
			    ? (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr
			    : (const void *)&((const struct sockaddr_in *)sa)->sin_addr;
	if (inet_ntop(sa->sa_family, a, buf, (socklen_t)len) == NULL) {
		snprintf(buf, len, "?");
	}
}

static void pp_timeout_cb(uv_timer_t *t)
{
	struct gw_proxy__dconn *dc = t->data;
	if (dc->pp_wait && !dc->closing) {
		gw_debugf("proxy", "%s: no PROXY header in time", dc->peer_ip);
		gw_proxy__dconn_abort(dc);
	}
}

void gw_proxy__pp_accept(struct gw_proxy__dconn *dc, uv_stream_t *lsn)
{
	struct gw_proxy__worker *w = dc->w;
	struct gw_proxy__ops *ops = w->p->ops;
	ptrdiff_t i = (uv_tcp_t *)lsn - w->lsn;

	if (dc->closing || ops == NULL || i < 0 || i >= w->n_lsn || !ops->pp_listen[i]) {
		return;
	}
	dc->pp_wait = true;
	/* d_timer_update keeps a running DT_HEADER timer as it is: this one
	 * bounds the wait for the header until pp_take is done */
	dc->tphase = DT_HEADER;
	uv_timer_start(&dc->timer, pp_timeout_cb, ops->pp_timeout_ms, 0);
}

/* Use the header's addresses. */
static void pp_apply(struct gw_proxy__dconn *dc, const struct gw_proxy__pp *h)
{
	dc->pp_wait = false;
	dc->tphase = DT_IDLE; /* on_data starts the request header timer */
	if (dc->tls != NULL) {
		gw_proxy__dconn_tls_deadline(dc, true); /* the ClientHello comes next */
	}
	if (h->local) {
		return;
	}
	memcpy(&dc->peer, &h->src, sizeof dc->peer);
	ip_text((const struct sockaddr *)&dc->peer, dc->peer_ip, sizeof dc->peer_ip);
}

bool gw_proxy__pp_take(struct gw_proxy__dconn *dc, const char **p, size_t *n)
{
	struct gw_proxy__pp h;
	int rv;

	if (dc->pending.len == 0) {
		rv = gw_proxy__pp_parse(*p, *n, &h);
		if (rv == 1) {
			pp_apply(dc, &h);
			*p += h.len;
			*n -= h.len;
			return true;
		}
		if (rv == 0 && gw_buf_append(&dc->pending, *p, *n) == 0) {
			return false;
		}
	} else if (gw_buf_append(&dc->pending, *p, *n) == 0) {
		rv = gw_proxy__pp_parse(dc->pending.data, dc->pending.len, &h);
		if (rv == 1) {
			/* the rest follows the header in the buffer: feed it as if
			 * it had just arrived */
			struct gw_buf tmp = dc->pending;
			gw_buf_init(&dc->pending);
			pp_apply(dc, &h);
			gw_proxy__dconn_on_data(dc, tmp.data + h.len, tmp.len - h.len);
			gw_buf_close(&tmp);
			return false;
		}
		if (rv == 0) {
			return false;
		}
	}
	gw_debugf("proxy", "%s: bad or missing PROXY header: closing", dc->peer_ip);
	gw_proxy__dconn_abort(dc);
	return false;
}

/* ---- trusted X-Forwarded-For */

static bool trusted(const struct gw_proxy__ops *ops, const struct sockaddr *sa)
{
	for (size_t i = 0; i < ops->n_trusted; i++) {
		if (gw_proxy__cidr_match(&ops->trusted[i], sa)) {
			return true;
		}
	}
	return false;
}

/* One X-Forwarded-For entry ("1.2.3.4", "::1", "[::1]") into @ss. */
static bool xff_addr(const char *s, size_t n, struct sockaddr_storage *ss)
{
	char tmp[48];
	if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
		s++;
		n -= 2;
	}
	if (n == 0 || n >= sizeof tmp) {
		return false;
	}
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	memset(ss, 0, sizeof *ss);
	if (inet_pton(AF_INET, tmp, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
		ss->ss_family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, tmp, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
		ss->ss_family = AF_INET6;
		return true;
	}
	return false;
}

void gw_proxy__pp_real_ip(struct gw_proxy__req *r)
{
	const struct gw_proxy__ops *ops = r->dc->w->p->ops;
	struct sockaddr_storage cur;
	struct gw_buf all;
	bool changed = false;

	if (ops == NULL || ops->n_trusted == 0 ||
	    !trusted(ops, (const struct sockaddr *)&r->dc->peer)) {
		return;
	}
	gw_buf_init(&all);
	for (size_t i = 0; i < r->hc.n; i++) {
		const struct gw_proxy__hdr *h = &r->hc.v[i];
		if (h->name_len == 15 && strcasecmp(h->name, "x-forwarded-for") == 0) {
			if ((all.len > 0 && gw_buf_append(&all, ",", 1) != 0) ||
			    gw_buf_append(&all, h->value, h->value_len) != 0) {
				gw_buf_close(&all);
				return;
			}
		}
	}
	memcpy(&cur, &r->dc->peer, sizeof cur);
	for (size_t end = all.len; end > 0 && trusted(ops, (const struct sockaddr *)&cur);) {
		size_t start = end, a, b;
		struct sockaddr_storage ss;
		while (start > 0 && all.data[start - 1] != ',') {
			start--;
		}
		for (a = start; a < end && (all.data[a] == ' ' || all.data[a] == '\t'); a++) {
		}
		for (b = end; b > a && (all.data[b - 1] == ' ' || all.data[b - 1] == '\t'); b--) {
		}
		if (!xff_addr(all.data + a, b - a, &ss)) {
			break;
		}
		cur = ss;
		changed = true;
		end = start > 0 ? start - 1 : 0;
	}
	gw_buf_close(&all);
	if (changed) {
		struct gw_proxy__raddr *ra = gw_arena_alloc(&r->arena, sizeof *ra);
		if (ra == NULL) {
			return;
		}
		ra->ss = cur;
		ip_text((const struct sockaddr *)&cur, ra->ip, sizeof ra->ip);
		r->ra = ra;
	}
}

const char *gw_proxy__req_remote_ip(const struct gw_proxy__req *r)
{
	return r->ra != NULL ? r->ra->ip : r->dc->peer_ip;
}

const struct sockaddr *gw_proxy__req_remote_sa(const struct gw_proxy__req *r)
{
	return r->ra != NULL ? (const struct sockaddr *)&r->ra->ss
			     : (const struct sockaddr *)&r->dc->peer;
}
