/* dns.c: the resolver of host-name upstream nodes (see dns_int.h).
 *
 * Happy path: the config compiler asks for a name (gw_proxy__dns_use),
 * which enters the table and wakes the resolver thread. Every TICK_MS that
 * thread starts a c-ares getaddrinfo (A and AAAA, or A only with
 * --dns-ipv6=off; IPv4 addresses kept as ::ffff:a.b.c.d; /etc/hosts first, then DNS:
 * lookups "fb") for each name whose time has come; the answer's addresses
 * are sorted and compared with the last good ones, and a different set
 * bumps the name's generation and calls the notify callback. The next
 * query is due after the answer's TTL clamped to [min_ttl, max_ttl].
 * c-ares's sockets are watched with uv_poll handles on the thread's loop
 * (its socket-state callback opens and closes them); its timeouts are
 * driven by the tick.
 * Failure modes: NXDOMAIN, a timeout, a refused server or an empty answer
 * keep the last good addresses; the first failure of a spell is logged
 * (a warning) and counted, the recovery logged once; a failing name is
 * retried after min_ttl, doubling up to 30 s (never beyond max_ttl). A name
 * no object uses any more is freed (once its query, if any, has ended).
 * Threads: gw_proxy__dns_use / _clear / _stale and the notify setter run on
 * the compile's thread, under mu; everything else on the resolver thread,
 * except new/start/stop (the proxy's control thread). */
#include "config.h"

#include "lib/err.h"
#include "lib/log.h"
#include "proxy/dns_int.h"

#include <ares.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#define TICK_MS         100
#define QUERY_TIMEOUT   2000  /* ms per try and server */
#define QUERY_TRIES     2     /* tries per server */
#define RETRY_CAP_MS    30000 /* a failing name is retried at least this often */
#define DEFAULT_MIN_TTL 1000
#define DEFAULT_MAX_TTL 300000

struct gw_proxy__dns_poll {
	uv_poll_t poll;
	struct gw_proxy__dns *d;
	ares_socket_t fd;
	struct gw_proxy__dns_poll *next;
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- the table */

struct gw_proxy__dns *gw_proxy__dns_new(const char *servers, unsigned min_ttl_ms,
					unsigned max_ttl_ms, bool ipv6)
{
	struct gw_proxy__dns *d = calloc(1, sizeof *d);
	if (d == NULL) {
		return NULL;
	}
	if (servers != NULL && *servers != '\0' && (d->servers = strdup(servers)) == NULL) {
		free(d);
		return NULL;
	}
	atomic_init(&d->refs, 1);
	uv_mutex_init(&d->mu);
	d->min_ttl_ms = min_ttl_ms ? min_ttl_ms : DEFAULT_MIN_TTL;
	d->max_ttl_ms = max_ttl_ms ? max_ttl_ms : DEFAULT_MAX_TTL;
	if (d->max_ttl_ms < d->min_ttl_ms) {
		d->max_ttl_ms = d->min_ttl_ms;
	}
	d->timeout_ms = QUERY_TIMEOUT;
	d->ipv6 = ipv6;
	return d;
}

void gw_proxy__dns_ref(struct gw_proxy__dns *d)
{
	atomic_fetch_add_explicit(&d->refs, 1, memory_order_relaxed);
}

void gw_proxy__dns_unref(struct gw_proxy__dns *d)
{
	if (d == NULL || atomic_fetch_sub_explicit(&d->refs, 1, memory_order_acq_rel) != 1) {
		return;
	}
	while (d->names != NULL) {
		struct gw_proxy__dname *n = d->names;
		d->names = n->next;
		free(n);
	}
	uv_mutex_destroy(&d->mu);
	free(d->servers);
	free(d);
}

void gw_proxy__dns_notify(struct gw_proxy__dns *d, void (*cb)(void *), void *arg)
{
	uv_mutex_lock(&d->mu);
	d->notify = cb;
	d->notify_arg = arg;
	uv_mutex_unlock(&d->mu);
}

/* Unlink and free @n. Under mu; @n has no reference and no query. */
static void name_free(struct gw_proxy__dns *d, struct gw_proxy__dname *n)
{
	for (struct gw_proxy__dname **pp = &d->names; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == n) {
			*pp = n->next;
			d->n_names--;
			free(n);
			return;
		}
	}
}

int gw_proxy__dns_use(struct gw_proxy__dns *d, const char *name, struct in6_addr *out, size_t max,
		      size_t *n, struct gw_proxy__dnsuse *use)
{
	struct gw_proxy__dname *dn;
	bool fresh = false;
	size_t len = strlen(name);

	*n = 0;
	if (len > GW_PROXY__DNS_NAME_MAX) {
		return GW_EINVAL;
	}
	if (use->n == use->cap) {
		size_t cap = use->cap ? use->cap * 2 : 4;
		void *v = realloc(use->v, cap * sizeof *use->v);
		void *g;
		if (v == NULL) {
			return GW_ENOMEM;
		}
		use->v = v;
		g = realloc(use->gen, cap * sizeof *use->gen);
		if (g == NULL) {
			return GW_ENOMEM;
		}
		use->gen = g;
		use->cap = cap;
	}
	uv_mutex_lock(&d->mu);
	for (dn = d->names; dn != NULL; dn = dn->next) {
		if (strcasecmp(dn->name, name) == 0) {
			break;
		}
	}
	if (dn == NULL) {
		if (d->n_names >= GW_PROXY__DNS_MAX_NAMES) {
			uv_mutex_unlock(&d->mu);
			return GW_ELIMIT;
		}
		dn = calloc(1, sizeof *dn);
		if (dn == NULL) {
			uv_mutex_unlock(&d->mu);
			return GW_ENOMEM;
		}
		memcpy(dn->name, name, len + 1);
		dn->next = d->names;
		d->names = dn;
		d->n_names++;
		fresh = true;
	}
	dn->refs++;
	if (fresh && d->live) {
		uv_async_send(&d->async); /* resolve it now */
	}
	for (size_t i = 0; i < dn->n && i < max; i++) {
		out[i] = dn->addrs[i];
		(*n)++;
	}
	use->v[use->n] = dn;
	use->gen[use->n] = dn->gen;
	use->n++;
	uv_mutex_unlock(&d->mu);
	return 0;
}

void gw_proxy__dnsuse_clear(struct gw_proxy__dns *d, struct gw_proxy__dnsuse *use)
{
	if (use->n > 0) {
		uv_mutex_lock(&d->mu);
		for (size_t i = 0; i < use->n; i++) {
			struct gw_proxy__dname *dn = use->v[i];
			if (--dn->refs == 0 && !dn->inflight) {
				name_free(d, dn);
			}
		}
		uv_mutex_unlock(&d->mu);
	}
	free(use->v);
	free(use->gen);
	memset(use, 0, sizeof *use);
}

bool gw_proxy__dnsuse_stale(struct gw_proxy__dns *d, const struct gw_proxy__dnsuse *use)
{
	bool stale = false;
	uv_mutex_lock(&d->mu);
	for (size_t i = 0; i < use->n && !stale; i++) {
		stale = use->v[i]->gen != use->gen[i];
	}
	uv_mutex_unlock(&d->mu);
	return stale;
}

/* ---- answers (resolver thread) */

void gw_proxy__dns_map4(const struct in_addr *a, struct in6_addr *a6)
{
	memset(a6, 0, sizeof *a6);
	a6->s6_addr[10] = 0xff;
	a6->s6_addr[11] = 0xff;
	memcpy(&a6->s6_addr[12], &a->s_addr, 4);
}

bool gw_proxy__dns_is4(const struct in6_addr *a6, struct in_addr *a4)
{
	if (!IN6_IS_ADDR_V4MAPPED(a6)) {
		return false;
	}
	memcpy(&a4->s_addr, &a6->s6_addr[12], 4);
	return true;
}

void gw_proxy__dns_ntop(const struct in6_addr *a6, char *buf, size_t len)
{
	struct in_addr a4;
	if (gw_proxy__dns_is4(a6, &a4)) {
		inet_ntop(AF_INET, &a4, buf, (socklen_t)len);
	} else {
		inet_ntop(AF_INET6, a6, buf, (socklen_t)len);
	}
}

/* IPv4 first, then IPv6, each by bytes: a dual-stack answer lists its
 * IPv4 addresses first and the order never depends on the answer's. */
static int by_addr(const void *a, const void *b)
{
	const struct in6_addr *x = a, *y = b;
	int x4 = IN6_IS_ADDR_V4MAPPED(x), y4 = IN6_IS_ADDR_V4MAPPED(y);
	if (x4 != y4) {
		return x4 ? -1 : 1;
	}
	return memcmp(x, y, sizeof *x);
}

/* The distinct addresses of @res (IPv4 and, with @ipv6, IPv6), sorted, at
 * most MAX_ADDRS, and their smallest TTL. */
static size_t collect(const struct ares_addrinfo *res, bool ipv6, struct in6_addr *out,
		      unsigned *ttl)
{
	size_t n = 0;
	*ttl = UINT32_MAX;
	for (const struct ares_addrinfo_node *a = res ? res->nodes : NULL; a != NULL;
	     a = a->ai_next) {
		struct in6_addr ip;
		bool dup = false;
		if (a->ai_addr == NULL) {
			continue;
		}
		if (a->ai_family == AF_INET) {
			gw_proxy__dns_map4(&((const struct sockaddr_in *)a->ai_addr)->sin_addr,
					   &ip);
		} else if (a->ai_family == AF_INET6 && ipv6) {
			ip = ((const struct sockaddr_in6 *)a->ai_addr)->sin6_addr;
			if (IN6_IS_ADDR_V4MAPPED(&ip)) {
				continue; /* only from an A record */
			}
		} else {
			continue;
		}
		for (size_t i = 0; i < n && !dup; i++) {
			dup = memcmp(&out[i], &ip, sizeof ip) == 0;
		}
		if (dup || n == GW_PROXY__DNS_MAX_ADDRS) {
			continue;
		}
		out[n++] = ip;
		if (a->ai_ttl >= 0 && (unsigned)a->ai_ttl < *ttl) {
			*ttl = (unsigned)a->ai_ttl;
		}
	}
	if (*ttl == UINT32_MAX) {
		*ttl = 0; /* /etc/hosts: no TTL, the floor applies */
	}
	if (n > 1) {
		qsort(out, n, sizeof *out, by_addr);
	}
	return n;
}

/* One query in flight. */
struct query {
	struct gw_proxy__dns *d;
	struct gw_proxy__dname *dn;
};

/* Apply a good answer to @dn. Under mu; true when the addresses changed. */
static bool answer_good(struct gw_proxy__dns *d, struct gw_proxy__dname *dn,
			const struct in6_addr *a, size_t n, unsigned ttl, uint64_t now)
{
	uint64_t wait = (uint64_t)ttl * 1000;
	bool changed = n != dn->n || memcmp(a, dn->addrs, n * sizeof *a) != 0;

	if (wait < d->min_ttl_ms) {
		wait = d->min_ttl_ms;
	} else if (wait > d->max_ttl_ms) {
		wait = d->max_ttl_ms;
	}
	if (dn->failing) {
		gw_infof("dns", "%s resolves again: %zu address(es)", dn->name, n);
	}
	if (changed) {
		char first[INET6_ADDRSTRLEN];
		gw_proxy__dns_ntop(&a[0], first, sizeof first);
		gw_infof("dns", "%s: %zu address(es) (%s%s), ttl %us", dn->name, n, first,
			 n > 1 ? ", ..." : "", ttl);
		memcpy(dn->addrs, a, n * sizeof *a);
		dn->n = n;
		dn->gen++;
	}
	dn->failing = false;
	dn->fails = 0;
	dn->err[0] = '\0';
	dn->ttl_s = ttl;
	dn->resolved_ms = now;
	dn->next_ms = now + wait;
	return changed;
}

/* Record a failed query of @dn. Under mu. */
static void answer_bad(struct gw_proxy__dns *d, struct gw_proxy__dname *dn, const char *why,
		       uint64_t now)
{
	uint64_t wait = d->min_ttl_ms;
	for (unsigned i = 0; i < dn->fails && wait < RETRY_CAP_MS; i++) {
		wait *= 2;
	}
	if (wait > RETRY_CAP_MS) {
		wait = RETRY_CAP_MS;
	}
	if (wait > d->max_ttl_ms) {
		wait = d->max_ttl_ms;
	}
	dn->fails++;
	dn->failures++;
	atomic_fetch_add_explicit(&d->failures, 1, memory_order_relaxed);
	snprintf(dn->err, sizeof dn->err, "%s", why);
	if (!dn->failing) {
		if (dn->n > 0) {
			gw_warnf("dns",
				 "%s: resolution failed (%s): keeping its %zu last address(es)",
				 dn->name, why, dn->n);
		} else {
			gw_warnf("dns", "%s: resolution failed (%s): no address yet", dn->name,
				 why);
		}
	}
	dn->failing = true;
	dn->next_ms = now + wait;
}

static void answer_cb(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	struct query *q = arg;
	struct gw_proxy__dns *d = q->d;
	struct gw_proxy__dname *dn = q->dn;
	struct in6_addr a[GW_PROXY__DNS_MAX_ADDRS];
	size_t n = 0;
	unsigned ttl = 0;
	bool changed = false;
	void (*notify)(void *) = NULL;
	void *notify_arg = NULL;
	uint64_t now = now_ms();

	(void)timeouts;
	free(q);
	if (status == ARES_SUCCESS) {
		n = collect(res, d->ipv6, a, &ttl);
	}
	if (res != NULL) {
		ares_freeaddrinfo(res);
	}
	uv_mutex_lock(&d->mu);
	dn->inflight = false;
	if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED) {
		/* stopping */
	} else if (status == ARES_SUCCESS && n > 0) {
		changed = answer_good(d, dn, a, n, ttl, now);
	} else {
		answer_bad(d, dn,
			   status == ARES_SUCCESS ? (d->ipv6 ? "no address" : "no IPv4 address")
						  : ares_strerror(status),
			   now);
	}
	if (dn->refs == 0) {
		name_free(d, dn);
	}
	if (changed) {
		atomic_fetch_add_explicit(&d->changes, 1, memory_order_relaxed);
		notify = d->notify;
		notify_arg = d->notify_arg;
	}
	if (notify != NULL) {
		notify(notify_arg); /* only wakes a loop: safe under mu */
	}
	uv_mutex_unlock(&d->mu);
}

/* Start the queries that are due. Resolver thread. */
static void scan(struct gw_proxy__dns *d)
{
	struct gw_proxy__dname *due[64];
	size_t n_due;
	uint64_t now = now_ms();

	do {
		n_due = 0;
		uv_mutex_lock(&d->mu);
		for (struct gw_proxy__dname *dn = d->names; dn != NULL && n_due < 64;
		     dn = dn->next) {
			if (!dn->inflight && dn->refs > 0 && dn->next_ms <= now) {
				dn->inflight = true; /* kept alive until its answer */
				due[n_due++] = dn;
			}
		}
		uv_mutex_unlock(&d->mu);
		for (size_t i = 0; i < n_due; i++) {
			struct ares_addrinfo_hints hints;
			struct query *q = malloc(sizeof *q);
			if (q == NULL) {
				uv_mutex_lock(&d->mu);
				due[i]->inflight = false;
				due[i]->next_ms = now + d->min_ttl_ms;
				if (due[i]->refs == 0) {
					name_free(d, due[i]);
				}
				uv_mutex_unlock(&d->mu);
				continue;
			}
			q->d = d;
			q->dn = due[i];
			memset(&hints, 0, sizeof hints);
			/* both A and AAAA unless IPv6 is off (APISIX's enable_ipv6) */
			hints.ai_family = d->ipv6 ? AF_UNSPEC : AF_INET;
			hints.ai_flags = ARES_AI_NOSORT;
			atomic_fetch_add_explicit(&d->queries, 1, memory_order_relaxed);
			/* may answer at once (/etc/hosts): answer_cb takes mu */
			ares_getaddrinfo(d->channel, due[i]->name, NULL, &hints, answer_cb, q);
		}
	} while (n_due == 64);
}

/* ---- c-ares sockets on the loop */

static void poll_closed(uv_handle_t *h)
{
	free(h->data);
}

static void poll_cb(uv_poll_t *h, int status, int events)
{
	struct gw_proxy__dns_poll *p = h->data;
	ares_socket_t fd = p->fd;
	bool rd = status < 0 || (events & UV_READABLE), wr = status >= 0 && (events & UV_WRITABLE);
	ares_process_fd(p->d->channel, rd ? fd : ARES_SOCKET_BAD, wr ? fd : ARES_SOCKET_BAD);
}

static void sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
	struct gw_proxy__dns *d = data;
	struct gw_proxy__dns_poll **pp = &d->polls, *p;

	while (*pp != NULL && (*pp)->fd != fd) {
		pp = &(*pp)->next;
	}
	p = *pp;
	if (!readable && !writable) {
		if (p != NULL) {
			*pp = p->next;
			uv_poll_stop(&p->poll);
			uv_close((uv_handle_t *)&p->poll, poll_closed);
		}
		return;
	}
	if (p == NULL) {
		p = calloc(1, sizeof *p);
		if (p == NULL || uv_poll_init_socket(&d->loop, &p->poll, fd) != 0) {
			free(p);
			return; /* the query times out */
		}
		p->poll.data = p;
		p->d = d;
		p->fd = fd;
		p->next = d->polls;
		d->polls = p;
	}
	uv_poll_start(&p->poll, (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0),
		      poll_cb);
}

/* ---- the thread */

static void close_walk(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h)) {
		uv_close(h, h->type == UV_POLL ? poll_closed : NULL);
	}
}

static void async_cb(uv_async_t *a)
{
	struct gw_proxy__dns *d = a->data;
	if (atomic_load(&d->stopping)) {
		ares_destroy(d->channel); /* answers ARES_EDESTRUCTION to every query */
		d->channel = NULL;
		d->polls = NULL; /* closed by the walk */
		uv_walk(&d->loop, close_walk, NULL);
		return;
	}
	scan(d);
}

static void tick_cb(uv_timer_t *t)
{
	struct gw_proxy__dns *d = t->data;
	ares_process_fd(d->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD); /* timeouts */
	scan(d);
}

static void thread_main(void *arg)
{
	struct gw_proxy__dns *d = arg;
	prctl(PR_SET_NAME, "apigw-dns");
	uv_run(&d->loop, UV_RUN_DEFAULT);
}

static uv_once_t lib_once = UV_ONCE_INIT;
static int lib_rv;
static void lib_init(void)
{
	lib_rv = ares_library_init(ARES_LIB_INIT_ALL);
}

int gw_proxy__dns_start(struct gw_proxy__dns *d)
{
	struct ares_options o;
	ares_channel ch;
	int rv;

	uv_once(&lib_once, lib_init);
	if (lib_rv != ARES_SUCCESS) {
		gw_errorf("dns", "c-ares: %s", ares_strerror(lib_rv));
		return GW_EIO;
	}
	memset(&o, 0, sizeof o);
	o.sock_state_cb = sock_state_cb;
	o.sock_state_cb_data = d;
	o.timeout = (int)d->timeout_ms;
	o.tries = QUERY_TRIES;
	o.lookups = (char *)"fb"; /* /etc/hosts, then DNS */
	rv = ares_init_options(&ch, &o,
			       ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
				   ARES_OPT_LOOKUPS);
	if (rv != ARES_SUCCESS) {
		gw_errorf("dns", "c-ares: %s", ares_strerror(rv));
		return GW_EIO;
	}
	if (d->servers != NULL &&
	    (rv = ares_set_servers_ports_csv(ch, d->servers)) != ARES_SUCCESS) {
		gw_errorf("dns", "resolvers %s: %s", d->servers, ares_strerror(rv));
		ares_destroy(ch);
		return GW_EINVAL;
	}
	d->channel = ch;
	if (uv_loop_init(&d->loop) != 0) {
		goto err_after_channel;
	}
	uv_async_init(&d->loop, &d->async, async_cb);
	d->async.data = d;
	uv_timer_init(&d->loop, &d->tick);
	d->tick.data = d;
	uv_timer_start(&d->tick, tick_cb, TICK_MS, TICK_MS);
	d->started = true;
	if (uv_thread_create(&d->thread, thread_main, d) != 0) {
		d->started = false;
		uv_close((uv_handle_t *)&d->async, NULL);
		uv_close((uv_handle_t *)&d->tick, NULL);
		uv_run(&d->loop, UV_RUN_DEFAULT);
		uv_loop_close(&d->loop);
		goto err_after_channel;
	}
	uv_mutex_lock(&d->mu);
	d->live = true;
	uv_async_send(&d->async); /* names asked for before the start */
	uv_mutex_unlock(&d->mu);
	return 0;

err_after_channel:
	ares_destroy(ch);
	d->channel = NULL;
	return GW_EIO;
}

void gw_proxy__dns_stop(struct gw_proxy__dns *d)
{
	if (d == NULL || !d->started) {
		return;
	}
	uv_mutex_lock(&d->mu);
	d->live = false; /* no more wake-ups from compiles */
	uv_mutex_unlock(&d->mu);
	atomic_store(&d->stopping, true);
	uv_async_send(&d->async);
	uv_thread_join(&d->thread);
	d->started = false;
	if (uv_loop_close(&d->loop) != 0) {
		gw_warnf("dns", "resolver loop closed with live handles");
	}
}
