/* dns_int.h: host-name upstream nodes, internals shared by proxy/dns*.c,
 * the config compiler (config_cache.c, config_upstream.c) and the tests.
 *
 * The proxy owns one resolver (struct gw_proxy__dns): a table of the host
 * names that compiled upstreams use, each with its last good IPv4
 * addresses, and one thread ("apigw-dns", its own libuv loop and c-ares
 * channel) that resolves every name again when its TTL (clamped to
 * [min, max]) runs out. The compiler turns a name node into one node per
 * address with the name's weight, and records which names (and which
 * answer generation of each) an object used; when a name's addresses
 * change, the resolver calls the notify callback (the node schedules a
 * compile), the cache marks the objects that used it dirty and recompiles
 * just them and their dependents. Workers never see the resolver: they
 * read compiled snapshots, as for any config change.
 * Failure modes: a failed or empty answer keeps the last good addresses
 * (logged once per failing spell, counted); a name never resolved gives
 * its upstream no node from it (502). Bounds: GW_PROXY__DNS_MAX_NAMES
 * names, GW_PROXY__DNS_MAX_ADDRS addresses kept per name, c-ares timeouts
 * per query. Threads: the table is under mu; the thread owns the loop and
 * the channel. */
#ifndef GW_PROXY_DNS_INT_H
#define GW_PROXY_DNS_INT_H

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define GW_PROXY__DNS_MAX_NAMES 4096u /* names in use at once */
#define GW_PROXY__DNS_MAX_ADDRS 16u   /* addresses kept per name */
#define GW_PROXY__DNS_NAME_MAX  253u  /* bytes of a name */

/* One host name (owned by the resolver, under mu). */
struct gw_proxy__dname {
	char name[GW_PROXY__DNS_NAME_MAX + 1];
	unsigned refs; /* cache entries using it; freed at 0 when no query runs */
	uint64_t gen;  /* bumped whenever addrs change */
	struct in6_addr addrs[GW_PROXY__DNS_MAX_ADDRS]; /* last good answer, sorted;
							  IPv4 as ::ffff:a.b.c.d */
	size_t n;
	unsigned ttl_s;       /* of the last good answer */
	uint64_t next_ms;     /* next query due (monotonic) */
	uint64_t resolved_ms; /* last good answer, 0 = never */
	unsigned fails;       /* failures in a row */
	uint64_t failures;    /* failures since the name appeared */
	char err[64];         /* the last failure */
	bool inflight;        /* a query runs (the name is not freed meanwhile) */
	bool failing;         /* the last query failed (logged once per spell) */
	struct gw_proxy__dname *next;
};

struct gw_proxy__dns_poll;

struct gw_proxy__dns {
	atomic_int refs; /* the proxy's and each cache's */
	uv_mutex_t mu;   /* guards the names and the notify callback */
	struct gw_proxy__dname *names;
	size_t n_names;
	char *servers; /* "ip:port,..." for c-ares, or NULL: /etc/resolv.conf */
	unsigned min_ttl_ms, max_ttl_ms, timeout_ms;
	bool ipv6;                 /* AAAA too */
	void (*notify)(void *arg); /* a name's addresses changed (resolver thread) */
	void *notify_arg;
	/* the resolver thread */
	uv_thread_t thread;
	uv_loop_t loop;
	uv_async_t async;
	uv_timer_t tick;
	void *channel; /* ares_channel */
	struct gw_proxy__dns_poll *polls;
	atomic_bool stopping;
	bool started;
	bool live; /* under mu: the thread runs and async may be signalled */
	atomic_uint_fast64_t queries, failures, changes;
};

/* A new resolver (one reference) for @servers ("ip[:port],...", NULL or ""
 * = /etc/resolv.conf) with TTLs clamped to [@min_ttl_ms, @max_ttl_ms]
 * (0 = 1 s, 300 s), asking for AAAA records too when @ipv6. NULL when out
 * of memory. Any thread. */
struct gw_proxy__dns *gw_proxy__dns_new(const char *servers, unsigned min_ttl_ms,
					unsigned max_ttl_ms, bool ipv6);
void gw_proxy__dns_ref(struct gw_proxy__dns *d);
/* Drop a reference; the last one frees the table (the thread must be
 * stopped). NULL is ignored. Any thread. */
void gw_proxy__dns_unref(struct gw_proxy__dns *d);
/* Start / stop the resolver thread. start: 0, GW_EINVAL (bad servers,
 * logged) or GW_EIO. Control thread. */
int gw_proxy__dns_start(struct gw_proxy__dns *d);
void gw_proxy__dns_stop(struct gw_proxy__dns *d);
/* Call @cb(@arg) on the resolver thread whenever a name's addresses
 * change (@cb must only wake another loop); NULL unregisters. Any thread. */
void gw_proxy__dns_notify(struct gw_proxy__dns *d, void (*cb)(void *), void *arg);

/* The names one compiled object uses, with the generation each had. */
struct gw_proxy__dnsuse {
	struct gw_proxy__dname **v; /* one reference each */
	uint64_t *gen;
	size_t n, cap;
};

/* IPv4 address @a (network order) as the IPv4-mapped IPv6 address the
 * resolver keeps; and back: true when @a6 is IPv4-mapped (*@a4 set). */
void gw_proxy__dns_map4(const struct in_addr *a, struct in6_addr *a6);
bool gw_proxy__dns_is4(const struct in6_addr *a6, struct in_addr *a4);
/* @a6 as text (dotted IPv4 when mapped). */
void gw_proxy__dns_ntop(const struct in6_addr *a6, char *buf, size_t len);

/* Use @name: copy its last good addresses (at most @max) to @out, set *@n
 * and record it in @use (one reference, released by dnsuse_clear). A new
 * name is queued for resolution. Returns 0, GW_ELIMIT (too many names) or
 * GW_ENOMEM. Any thread (the compile's). */
int gw_proxy__dns_use(struct gw_proxy__dns *d, const char *name, struct in6_addr *out, size_t max,
		      size_t *n, struct gw_proxy__dnsuse *use);
/* Release every name of @use and empty it. */
void gw_proxy__dnsuse_clear(struct gw_proxy__dns *d, struct gw_proxy__dnsuse *use);
/* True when a name of @use has other addresses than when it was used. */
bool gw_proxy__dnsuse_stale(struct gw_proxy__dns *d, const struct gw_proxy__dnsuse *use);

struct gw_buf;
/* apigw_dns_* metrics of @d (may be NULL: nothing). 0 or GW_ENOMEM. */
int gw_proxy__dns_metrics(struct gw_proxy__dns *d, struct gw_buf *b);

#endif
