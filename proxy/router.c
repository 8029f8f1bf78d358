/* router.c: APISIX radixtree_host_uri matching over a compiled snapshot.
 *
 * Happy path: the Host (lower-case, port dropped) selects a uri router:
 * an exact host first, then wildcard hosts "*.foo.com" longest suffix first,
 * then "*", then the routes without hosts; a router whose candidates all fail
 * their other conditions falls through to the next one. Inside a uri router
 * the exact path is looked up in a hash map, then every prefix route
 * (uri "/api/" plus a trailing star stores "/api/") from the longest prefix to the shortest: hashes
 * of all path prefixes are computed in one pass and only lengths that some
 * prefix has are probed, so a lookup costs O(path length) whatever the route
 * count. Candidates under one key are ordered by priority desc, then
 * insertion order; the first whose methods, remote_addrs and vars accept the
 * request wins. Failure modes: none at match time (no match is NULL);
 * building fails only with GW_ENOMEM. */
#include "config.h"

#include "lib/err.h"
#include "proxy/proxy_int.h"
#include "proxy/tls_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_PREFIX 4096

/* ---- building: only the compiling thread, on a router no worker reads */

/* Route order under one key: priority desc, then creation order. */
static bool before(const struct gw_proxy__route *a, const struct gw_proxy__route *b)
{
	if (a->priority != b->priority) {
		return a->priority > b->priority;
	}
	return a->seq < b->seq || (a->seq == b->seq && strcmp(a->id, b->id) < 0);
}

static struct gw_proxy__uri_router *uri_router_new(const char *key, size_t len)
{
	struct gw_proxy__uri_router *u = calloc(1, sizeof *u + len + 1);
	if (u == NULL) {
		return NULL;
	}
	gw_proxy__map_init(&u->exact);
	gw_proxy__map_init(&u->prefix);
	u->prefix_lens = calloc(MAX_PREFIX / 8 + 1, 1);
	if (u->prefix_lens == NULL) {
		free(u);
		return NULL;
	}
	memcpy(u->key, key, len);
	u->key_len = len;
	return u;
}

static void uri_router_free(struct gw_proxy__uri_router *u)
{
	struct gw_proxy__map *maps[2];
	if (u == NULL) {
		return;
	}
	maps[0] = &u->exact;
	maps[1] = &u->prefix;
	for (int k = 0; k < 2; k++) {
		for (size_t i = 0; i < maps[k]->cap; i++) {
			struct gw_proxy__rlist *l = maps[k]->ents[i].val;
			if (l != NULL) {
				free(l->v);
				free(l);
			}
		}
		gw_proxy__map_close(maps[k]);
	}
	free(u->prefix_lens);
	free(u);
}

static int rlist_insert(struct gw_proxy__map *map, const char *key, size_t len,
			struct gw_proxy__route *r)
{
	struct gw_proxy__rlist *l = gw_proxy__map_get(map, key, len);
	size_t i;

	if (l == NULL) {
		l = calloc(1, sizeof *l + len + 1);
		if (l == NULL) {
			return GW_ENOMEM;
		}
		memcpy(l->key, key, len);
		if (gw_proxy__map_put(map, l->key, len, l) != 0) {
			free(l);
			return GW_ENOMEM;
		}
	}
	for (i = 0; i < l->n; i++) {
		if (l->v[i] == r) {
			return 0; /* same uri listed twice */
		}
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 2;
		struct gw_proxy__route **v = realloc(l->v, cap * sizeof *v);
		if (v == NULL) {
			return GW_ENOMEM;
		}
		l->v = v;
		l->cap = cap;
	}
	for (i = l->n; i > 0 && before(r, l->v[i - 1]); i--) {
		l->v[i] = l->v[i - 1];
	}
	l->v[i] = r;
	l->n++;
	return 0;
}

/* Remove @r from the list under @key; an emptied list is dropped. */
static void rlist_remove(struct gw_proxy__map *map, const char *key, size_t len,
			 const struct gw_proxy__route *r)
{
	struct gw_proxy__rlist *l = gw_proxy__map_get(map, key, len);
	if (l == NULL) {
		return;
	}
	for (size_t i = 0; i < l->n; i++) {
		if (l->v[i] == r) {
			memmove(&l->v[i], &l->v[i + 1], (l->n - i - 1) * sizeof *l->v);
			l->n--;
			break;
		}
	}
	if (l->n == 0) {
		gw_proxy__map_del(map, key, len);
		free(l->v);
		free(l);
	}
}

/* The uri router of host @host (as configured), created when @create. NULL
 * when absent or out of memory. */
static struct gw_proxy__uri_router *router_for(struct gw_proxy__router *rt, const char *host,
					       bool create)
{
	char buf[256], *lc;
	size_t len = host ? strlen(host) : 0;
	struct gw_proxy__uri_router **slot = NULL, *u;
	struct gw_proxy__map *m;
	const char *key;

	if (host == NULL) {
		slot = &rt->any;
	} else if (strcmp(host, "*") == 0) {
		slot = &rt->star;
	}
	if (slot != NULL) {
		if (*slot == NULL && create) {
			*slot = uri_router_new("", 0);
		}
		return *slot;
	}
	lc = len < sizeof buf ? buf : malloc(len + 1);
	if (lc == NULL) {
		return NULL;
	}
	for (size_t i = 0; i < len; i++) {
		lc[i] = (char)tolower((unsigned char)host[i]);
	}
	lc[len] = '\0';
	key = lc;
	m = &rt->hosts;
	if (lc[0] == '*') {
		key++;
		len--;
		m = &rt->wild;
	}
	u = gw_proxy__map_get(m, key, len);
	if (u == NULL && create) {
		u = uri_router_new(key, len);
		if (u != NULL && gw_proxy__map_put(m, u->key, len, u) != 0) {
			uri_router_free(u);
			u = NULL;
		}
	}
	if (lc != buf) {
		free(lc);
	}
	return u;
}

/* Prefix uris (a trailing star) are stored without the star. */
static size_t uri_key(const char *uri, bool *prefix)
{
	size_t len = strlen(uri);
	*prefix = len > 0 && uri[len - 1] == '*';
	return *prefix ? len - 1 : len;
}

struct gw_proxy__router *gw_proxy__router_new(void)
{
	struct gw_proxy__router *rt = calloc(1, sizeof *rt);
	if (rt == NULL) {
		return NULL;
	}
	atomic_init(&rt->refs, 1);
	gw_proxy__map_init(&rt->hosts);
	gw_proxy__map_init(&rt->wild);
	return rt;
}

/* @a was created before @b. */
static bool before_seq(const struct gw_proxy__route *a, const struct gw_proxy__route *b)
{
	return a->seq < b->seq || (a->seq == b->seq && strcmp(a->id, b->id) < 0);
}

/* Position of the first route in @rt->routes not before @r. */
static size_t routes_pos(const struct gw_proxy__router *rt, const struct gw_proxy__route *r)
{
	size_t lo = 0, hi = rt->n_routes;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct gw_proxy__route *x = rt->routes[mid];
		if (before_seq(x, r)) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	return lo;
}

int gw_proxy__router_add(struct gw_proxy__router *rt, struct gw_proxy__route *r)
{
	size_t h = 0, pos;

	for (size_t i = 0; i < r->n_uris; i++) {
		bool prefix;
		if (uri_key(r->uris[i], &prefix) > MAX_PREFIX && prefix) {
			return GW_EINVAL;
		}
	}
	if (rt->n_routes == rt->cap_routes) {
		size_t cap = rt->cap_routes ? rt->cap_routes * 2 : 16;
		void *p = realloc(rt->routes, cap * sizeof *rt->routes);
		if (p == NULL) {
			return GW_ENOMEM;
		}
		rt->routes = p;
		rt->cap_routes = cap;
	}
	do {
		struct gw_proxy__uri_router *u =
		    router_for(rt, r->n_hosts ? r->hosts[h] : NULL, true);
		if (u == NULL) {
			return GW_ENOMEM;
		}
		for (size_t i = 0; i < r->n_uris; i++) {
			bool prefix;
			size_t len = uri_key(r->uris[i], &prefix);
			int rv;
			if (prefix) {
				u->prefix_lens[len / 8] |= (uint8_t)(1u << (len % 8));
				if (len > u->max_prefix) {
					u->max_prefix = len;
				}
			}
			rv = rlist_insert(prefix ? &u->prefix : &u->exact, r->uris[i], len, r);
			if (rv != 0) {
				return rv;
			}
		}
	} while (++h < r->n_hosts);
	pos = rt->n_routes;
	if (pos > 0 && !before_seq(rt->routes[pos - 1], r)) {
		pos = routes_pos(rt, r); /* not an append */
	}
	memmove(&rt->routes[pos + 1], &rt->routes[pos], (rt->n_routes - pos) * sizeof *rt->routes);
	rt->routes[pos] = r;
	rt->n_routes++;
	gw_proxy__unit_ref(r->unit);
	return 0;
}

void gw_proxy__router_remove(struct gw_proxy__router *rt, struct gw_proxy__route *r)
{
	size_t h = 0, pos = routes_pos(rt, r);

	if (pos == rt->n_routes || rt->routes[pos] != r) {
		return; /* never added (a failed add) */
	}
	do {
		const char *host = r->n_hosts ? r->hosts[h] : NULL;
		struct gw_proxy__uri_router *u = router_for(rt, host, false);
		if (u == NULL) {
			continue;
		}
		for (size_t i = 0; i < r->n_uris; i++) {
			bool prefix;
			size_t len = uri_key(r->uris[i], &prefix);
			rlist_remove(prefix ? &u->prefix : &u->exact, r->uris[i], len, r);
		}
		/* an emptied host router goes (its prefix_lens may keep stale
		 * bits elsewhere: they only cost a probe) */
		if (u->exact.n == 0 && u->prefix.n == 0 && u != rt->any && u != rt->star) {
			gw_proxy__map_del(host[0] == '*' ? &rt->wild : &rt->hosts, u->key,
					  u->key_len);
			uri_router_free(u);
		}
	} while (++h < r->n_hosts);
	memmove(&rt->routes[pos], &rt->routes[pos + 1],
		(rt->n_routes - pos - 1) * sizeof *rt->routes);
	rt->n_routes--;
	gw_proxy__unit_unref(r->unit);
}

/* A copy of @m (same capacity and slots) whose values are copies made by
 * @clone_val; keys point into the copies (@key_of). 0 or GW_ENOMEM (then
 * *out holds what was copied so far, for the caller to free). */
static int map_clone(const struct gw_proxy__map *m, struct gw_proxy__map *out,
		     void *(*clone_val)(const void *), const char *(*key_of)(const void *))
{
	gw_proxy__map_init(out);
	if (m->cap == 0) {
		return 0;
	}
	out->ents = calloc(m->cap, sizeof *out->ents);
	if (out->ents == NULL) {
		return GW_ENOMEM;
	}
	out->cap = m->cap;
	for (size_t i = 0; i < m->cap; i++) {
		void *v;
		if (m->ents[i].val == NULL) {
			continue;
		}
		v = clone_val(m->ents[i].val);
		if (v == NULL) {
			return GW_ENOMEM;
		}
		out->ents[i] = m->ents[i];
		out->ents[i].val = v;
		out->ents[i].key = key_of(v);
		out->n++;
	}
	return 0;
}

static void *rlist_clone(const void *p)
{
	const struct gw_proxy__rlist *l = p;
	size_t len = strlen(l->key);
	struct gw_proxy__rlist *c = malloc(sizeof *c + len + 1);
	if (c == NULL) {
		return NULL;
	}
	memcpy(c->key, l->key, len + 1);
	c->n = c->cap = l->n;
	c->v = malloc((l->n ? l->n : 1) * sizeof *c->v);
	if (c->v == NULL) {
		free(c);
		return NULL;
	}
	memcpy(c->v, l->v, l->n * sizeof *c->v);
	return c;
}

static const char *rlist_key(const void *p)
{
	return ((const struct gw_proxy__rlist *)p)->key;
}

static void *uri_router_clone(const void *p)
{
	const struct gw_proxy__uri_router *u = p;
	struct gw_proxy__uri_router *c;
	if (u == NULL) {
		return NULL;
	}
	c = uri_router_new(u->key, u->key_len);
	if (c == NULL) {
		return NULL;
	}
	memcpy(c->prefix_lens, u->prefix_lens, MAX_PREFIX / 8 + 1);
	c->max_prefix = u->max_prefix;
	if (map_clone(&u->exact, &c->exact, rlist_clone, rlist_key) != 0 ||
	    map_clone(&u->prefix, &c->prefix, rlist_clone, rlist_key) != 0) {
		uri_router_free(c);
		return NULL;
	}
	return c;
}

static const char *uri_router_key(const void *p)
{
	return ((const struct gw_proxy__uri_router *)p)->key;
}

struct gw_proxy__router *gw_proxy__router_clone(const struct gw_proxy__router *rt)
{
	struct gw_proxy__router *c = gw_proxy__router_new();
	int rv;

	if (c == NULL) {
		return NULL;
	}
	rv = map_clone(&rt->hosts, &c->hosts, uri_router_clone, uri_router_key);
	if (rv == 0) {
		rv = map_clone(&rt->wild, &c->wild, uri_router_clone, uri_router_key);
	}
	if (rv == 0 && rt->star != NULL && (c->star = uri_router_clone(rt->star)) == NULL) {
		rv = GW_ENOMEM;
	}
	if (rv == 0 && rt->any != NULL && (c->any = uri_router_clone(rt->any)) == NULL) {
		rv = GW_ENOMEM;
	}
	if (rv == 0 && rt->n_routes > 0) {
		c->routes = malloc(rt->n_routes * sizeof *c->routes);
		if (c->routes == NULL) {
			rv = GW_ENOMEM;
		} else {
			memcpy(c->routes, rt->routes, rt->n_routes * sizeof *c->routes);
			c->n_routes = c->cap_routes = rt->n_routes;
			for (size_t i = 0; i < c->n_routes; i++) {
				gw_proxy__unit_ref(c->routes[i]->unit);
			}
		}
	}
	if (rv != 0) {
		gw_proxy__router_unref(c); /* frees what was cloned; no route refs yet */
		return NULL;
	}
	return c;
}

void gw_proxy__router_unref(struct gw_proxy__router *rt)
{
	if (rt == NULL || atomic_fetch_sub_explicit(&rt->refs, 1, memory_order_acq_rel) != 1) {
		return;
	}
	for (size_t k = 0; k < 2; k++) {
		struct gw_proxy__map *m = k ? &rt->wild : &rt->hosts;
		for (size_t i = 0; i < m->cap; i++) {
			uri_router_free(m->ents[i].val);
		}
		gw_proxy__map_close(m);
	}
	uri_router_free(rt->star);
	uri_router_free(rt->any);
	for (size_t i = 0; i < rt->n_routes; i++) {
		gw_proxy__unit_unref(rt->routes[i]->unit);
	}
	free(rt->routes);
	free(rt);
}

/* ---- matching */

int gw_proxy__cidr_parse(const char *s, struct gw_proxy__cidr *out)
{
	char tmp[64];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	int max;

	if (n == 0 || n >= sizeof tmp) {
		return GW_EINVAL;
	}
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	memset(out, 0, sizeof *out);
	if (inet_pton(AF_INET, tmp, out->addr) == 1) {
		out->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, tmp, out->addr) == 1) {
		out->family = AF_INET6;
		max = 128;
	} else {
		return GW_EINVAL;
	}
	out->bits = max;
	if (slash != NULL) {
		char *end;
		long b = strtol(slash + 1, &end, 10);
		if (slash[1] == '\0' || *end != '\0' || b < 0 || b > max) {
			return GW_EINVAL;
		}
		out->bits = (int)b;
	}
	return 0;
}

static bool bits_match(const uint8_t *a, const uint8_t *b, int bits)
{
	int full = bits / 8, rest = bits % 8;
	if (memcmp(a, b, (size_t)full) != 0) {
		return false;
	}
	if (rest == 0) {
		return true;
	}
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (a[full] & mask) == (b[full] & mask);
}

bool gw_proxy__cidr_match(const struct gw_proxy__cidr *c, const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *a4 = (const struct sockaddr_in *)sa;
		if (c->family == AF_INET) {
			return bits_match(c->addr, (const uint8_t *)&a4->sin_addr, c->bits);
		}
		return false;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)sa;
		const uint8_t *b = (const uint8_t *)&a6->sin6_addr;
		if (c->family == AF_INET6) {
			return bits_match(c->addr, b, c->bits);
		}
		/* v4-mapped v6 peer against a v4 rule */
		static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		if (memcmp(b, mapped, 12) == 0) {
			return bits_match(c->addr, b + 12, c->bits);
		}
	}
	return false;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	c = tolower(c);
	if (c >= 'a' && c <= 'f') {
		return c - 'a' + 10;
	}
	return -1;
}

/* URL-decode @p into @buf (NUL-terminated). Returns the length. */
static size_t url_decode(const char *p, size_t n, char *buf, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o + 1 < cap; i++) {
		if (p[i] == '%' && i + 2 < n + 0 && hexval((unsigned char)p[i + 1]) >= 0 &&
		    hexval((unsigned char)p[i + 2]) >= 0) {
			buf[o++] = (char)(hexval((unsigned char)p[i + 1]) * 16 +
					  hexval((unsigned char)p[i + 2]));
			i += 2;
		} else if (p[i] == '+') {
			buf[o++] = ' ';
		} else {
			buf[o++] = p[i];
		}
	}
	buf[o] = '\0';
	return o;
}

static const struct gw_proxy__hdr *find_header(const struct gw_proxy__match_ctx *m,
					       const char *name, size_t len, bool underscores)
{
	for (size_t i = 0; i < m->n_hdrs; i++) {
		const struct gw_proxy__hdr *h = &m->hdrs[i];
		size_t j;
		if (h->name_len != len) {
			continue;
		}
		for (j = 0; j < len; j++) {
			int a = tolower((unsigned char)h->name[j]);
			int b = tolower((unsigned char)name[j]);
			if (underscores && b == '_') {
				b = '-';
			}
			if (a != b) {
				break;
			}
		}
		if (j == len) {
			return h;
		}
	}
	return NULL;
}

static bool find_cookie(const struct gw_proxy__match_ctx *m, const char *name, const char **out,
			size_t *out_len)
{
	size_t nlen = strlen(name);
	for (size_t i = 0; i < m->n_hdrs; i++) {
		const struct gw_proxy__hdr *h = &m->hdrs[i];
		const char *p, *end;
		if (h->name_len != 6 || strncasecmp(h->name, "cookie", 6) != 0) {
			continue;
		}
		p = h->value;
		end = h->value + h->value_len;
		while (p < end) {
			const char *semi, *eq;
			while (p < end && (*p == ' ' || *p == ';')) {
				p++;
			}
			semi = memchr(p, ';', (size_t)(end - p));
			if (semi == NULL) {
				semi = end;
			}
			eq = memchr(p, '=', (size_t)(semi - p));
			if (eq != NULL && (size_t)(eq - p) == nlen && memcmp(p, name, nlen) == 0) {
				*out = eq + 1;
				*out_len = (size_t)(semi - eq - 1);
				return true;
			}
			p = semi;
		}
	}
	return false;
}

bool gw_proxy__var(const struct gw_proxy__match_ctx *m, const char *name, char *buf, size_t cap,
		   const char **out, size_t *out_len)
{
	if (strcmp(name, "uri") == 0) {
		*out = m->path;
		*out_len = m->path_len;
		return true;
	}
	if (strcmp(name, "host") == 0) {
		*out = m->host;
		*out_len = m->host_len;
		return true;
	}
	if (strcmp(name, "remote_addr") == 0) {
		*out = m->remote_addr;
		*out_len = strlen(m->remote_addr);
		return true;
	}
	if (strcmp(name, "request_method") == 0) {
		*out = http_method_str((enum http_method)m->method);
		*out_len = strlen(*out);
		return true;
	}
	if (strcmp(name, "scheme") == 0) {
		*out = m->scheme;
		*out_len = strlen(m->scheme);
		return true;
	}
	if (strncmp(name, "ssl_", 4) == 0) {
		int n = gw_proxy__tls_var(m->conn, name, strlen(name), buf, cap);
		*out = buf;
		*out_len = n > 0 ? (size_t)n : 0;
		return n >= 0;
	}
	if (strcmp(name, "query_string") == 0 || strcmp(name, "args") == 0) {
		*out = m->query;
		*out_len = m->query_len;
		return true;
	}
	if (strcmp(name, "request_uri") == 0) {
		int n = snprintf(buf, cap, "%.*s%s%.*s", (int)m->path_len, m->path,
				 m->query_len ? "?" : "", (int)m->query_len, m->query);
		if (n < 0 || (size_t)n >= cap) {
			return false;
		}
		*out = buf;
		*out_len = (size_t)n;
		return true;
	}
	if (strncmp(name, "arg_", 4) == 0) {
		const char *key = name + 4, *p = m->query, *end = m->query + m->query_len;
		size_t klen = strlen(key);
		while (p < end) {
			const char *amp = memchr(p, '&', (size_t)(end - p));
			const char *eq;
			if (amp == NULL) {
				amp = end;
			}
			eq = memchr(p, '=', (size_t)(amp - p));
			size_t kl = (size_t)((eq ? eq : amp) - p);
			if (kl == klen && memcmp(p, key, klen) == 0) {
				if (eq == NULL) {
					buf[0] = '\0';
					*out = buf;
					*out_len = 0;
				} else {
					*out_len =
					    url_decode(eq + 1, (size_t)(amp - eq - 1), buf, cap);
					*out = buf;
				}
				return true;
			}
			p = amp + 1;
		}
		return false;
	}
	if (strncmp(name, "http_", 5) == 0) {
		const struct gw_proxy__hdr *h = find_header(m, name + 5, strlen(name + 5), true);
		if (h == NULL) {
			return false;
		}
		*out = h->value;
		*out_len = h->value_len;
		return true;
	}
	if (strncmp(name, "cookie_", 7) == 0) {
		return find_cookie(m, name + 7, out, out_len);
	}
	return false;
}

static bool to_number(const char *p, size_t n, double *out)
{
	char tmp[64];
	char *end;
	if (n == 0 || n >= sizeof tmp) {
		return false;
	}
	memcpy(tmp, p, n);
	tmp[n] = '\0';
	*out = strtod(tmp, &end);
	return *end == '\0';
}

static bool cmp_eval(const struct gw_proxy__expr *e, const struct gw_proxy__match_ctx *m)
{
	char buf[2048], tmp[2048];
	const char *v = NULL;
	size_t vlen = 0;
	bool have = gw_proxy__var(m, e->var, buf, sizeof buf, &v, &vlen);
	double num;

	switch (e->op) {
	case GW_PROXY__OP_EQ:
	case GW_PROXY__OP_NE: {
		bool eq = false;
		if (have) {
			if (e->has_num && e->str == NULL) {
				eq = to_number(v, vlen, &num) && num == e->num;
			} else {
				eq = strlen(e->str) == vlen && memcmp(e->str, v, vlen) == 0;
			}
		}
		return e->op == GW_PROXY__OP_EQ ? eq : !eq;
	}
	case GW_PROXY__OP_GT:
	case GW_PROXY__OP_GE:
	case GW_PROXY__OP_LT:
	case GW_PROXY__OP_LE:
		if (!have || !e->has_num || !to_number(v, vlen, &num)) {
			return false;
		}
		switch (e->op) {
		case GW_PROXY__OP_GT:
			return num > e->num;
		case GW_PROXY__OP_GE:
			return num >= e->num;
		case GW_PROXY__OP_LT:
			return num < e->num;
		default:
			return num <= e->num;
		}
	case GW_PROXY__OP_RE:
	case GW_PROXY__OP_REI:
		return have && gw_regex_match(e->re, v, vlen, NULL, 0) > 0;
	case GW_PROXY__OP_IN:
	case GW_PROXY__OP_HAS:
		if (!have) {
			return false;
		}
		for (size_t i = 0; i < e->n_list; i++) {
			if (strlen(e->list[i]) == vlen && memcmp(e->list[i], v, vlen) == 0) {
				return true;
			}
		}
		return false;
	case GW_PROXY__OP_IPMATCH: {
		struct gw_proxy__cidr ip;
		struct sockaddr_storage ss;
		if (!have || vlen >= sizeof tmp) {
			return false;
		}
		memcpy(tmp, v, vlen);
		tmp[vlen] = '\0';
		if (gw_proxy__cidr_parse(tmp, &ip) != 0) {
			return false;
		}
		memset(&ss, 0, sizeof ss);
		if (ip.family == AF_INET) {
			struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
			a4->sin_family = AF_INET;
			memcpy(&a4->sin_addr, ip.addr, 4);
		} else {
			struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
			a6->sin6_family = AF_INET6;
			memcpy(&a6->sin6_addr, ip.addr, 16);
		}
		for (size_t i = 0; i < e->n_cidrs; i++) {
			if (gw_proxy__cidr_match(&e->cidrs[i], (struct sockaddr *)&ss)) {
				return true;
			}
		}
		return false;
	}
	}
	return false;
}

bool gw_proxy__expr_eval(const struct gw_proxy__expr *e, const struct gw_proxy__match_ctx *m)
{
	bool r;
	if (e->kind == GW_PROXY__EXPR_CMP) {
		r = cmp_eval(e, m);
	} else if (e->kind == GW_PROXY__EXPR_AND) {
		r = true;
		for (size_t i = 0; i < e->n_kids && r; i++) {
			r = gw_proxy__expr_eval(e->kids[i], m);
		}
	} else {
		r = false;
		for (size_t i = 0; i < e->n_kids && !r; i++) {
			r = gw_proxy__expr_eval(e->kids[i], m);
		}
	}
	return e->neg ? !r : r;
}

static const struct gw_proxy__route *rlist_match(const struct gw_proxy__rlist *l,
						 const struct gw_proxy__match_ctx *m)
{
	if (l == NULL) {
		return NULL;
	}
	for (size_t i = 0; i < l->n; i++) {
		const struct gw_proxy__route *r = l->v[i];
		if (r->methods != 0 && (m->method >= 32 || !(r->methods & (1u << m->method)))) {
			continue;
		}
		if (r->n_remote > 0) {
			size_t j;
			for (j = 0; j < r->n_remote; j++) {
				if (gw_proxy__cidr_match(&r->remote[j], m->peer)) {
					break;
				}
			}
			if (j == r->n_remote) {
				continue;
			}
		}
		if (r->vars != NULL && !gw_proxy__expr_eval(r->vars, m)) {
			continue;
		}
		return r;
	}
	return NULL;
}

static const struct gw_proxy__route *uri_match(const struct gw_proxy__uri_router *u,
					       const struct gw_proxy__match_ctx *m)
{
	uint64_t hashes[MAX_PREFIX + 1];
	const struct gw_proxy__route *r;
	size_t top, len;
	uint64_t h = GW_PROXY__FNV_INIT;

	if (u == NULL) {
		return NULL;
	}
	r = rlist_match(gw_proxy__map_get(&u->exact, m->path, m->path_len), m);
	if (r != NULL || u->prefix.n == 0) {
		return r;
	}
	top = m->path_len < u->max_prefix ? m->path_len : u->max_prefix;
	hashes[0] = h;
	for (len = 0; len < top; len++) {
		h = gw_proxy__fnv_step(h, (unsigned char)m->path[len]);
		hashes[len + 1] = h;
	}
	for (len = top + 1; len-- > 0;) {
		if (!(u->prefix_lens[len / 8] & (1u << (len % 8)))) {
			continue;
		}
		r = rlist_match(gw_proxy__map_get_h(&u->prefix, hashes[len], m->path, len), m);
		if (r != NULL) {
			return r;
		}
	}
	return NULL;
}

const struct gw_proxy__route *gw_proxy__router_match(const struct gw_proxy_config *cfg,
						     const struct gw_proxy__match_ctx *m)
{
	const struct gw_proxy__router *rt = cfg->router;
	const struct gw_proxy__route *r;

	if (m->host_len > 0) {
		if (rt->hosts.n > 0) {
			r = uri_match(gw_proxy__map_get(&rt->hosts, m->host, m->host_len), m);
			if (r != NULL) {
				return r;
			}
		}
		if (rt->wild.n > 0) {
			/* ".b.foo.com" before ".foo.com" before ".com": longest first */
			for (size_t i = 0; i < m->host_len; i++) {
				if (m->host[i] != '.') {
					continue;
				}
				r = uri_match(
				    gw_proxy__map_get(&rt->wild, m->host + i, m->host_len - i), m);
				if (r != NULL) {
					return r;
				}
			}
		}
		r = uri_match(rt->star, m);
		if (r != NULL) {
			return r;
		}
	}
	return uri_match(rt->any, m);
}
