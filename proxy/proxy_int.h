/* proxy_int.h: internals of proxy/, shared by its files and its unit tests.
 *
 * The compiled snapshot (struct gw_proxy_config) is immutable after
 * gw_proxy_config_compile returns and is read by every worker concurrently.
 * Anything mutable per worker (balancer state) lives in a struct
 * gw_proxy__wsnap owned by one worker loop. */
#ifndef GW_PROXY_INT_H
#define GW_PROXY_INT_H

#include "lib/arena.h"
#include "lib/regex.h"
#include "proxy/proxy.h"
#include "schema/schema.h"

#include <cjson/cJSON.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* ---- hash map: byte-string keys (not copied: the owner keeps them alive) */
#define GW_PROXY__FNV_INIT 14695981039346656037ULL
static inline uint64_t gw_proxy__fnv_step(uint64_t h, unsigned char c)
{
	return (h ^ c) * 1099511628211ULL;
}
uint64_t gw_proxy__hash(const void *p, size_t n);

struct gw_proxy__map_ent {
	const char *key;
	size_t len;
	uint64_t hash; /* FNV-1a state after the key */
	void *val;     /* NULL marks a free slot */
};
struct gw_proxy__map {
	struct gw_proxy__map_ent *ents; /* owned; cap slots, open addressing */
	size_t cap;                     /* power of two, or 0 */
	size_t n;
};
void gw_proxy__map_init(struct gw_proxy__map *m);
/* Insert or replace; @val must not be NULL. 0 or GW_ENOMEM. */
int gw_proxy__map_put(struct gw_proxy__map *m, const char *key, size_t len, void *val);
void *gw_proxy__map_get(const struct gw_proxy__map *m, const char *key, size_t len);
/* Same with the FNV-1a state of the key already computed. */
void *gw_proxy__map_get_h(const struct gw_proxy__map *m, uint64_t hash, const char *key,
			  size_t len);
/* Remove @key if present. */
void gw_proxy__map_del(struct gw_proxy__map *m, const char *key, size_t len);
void gw_proxy__map_close(struct gw_proxy__map *m);

/* ---- compiled objects */
struct gw_proxy__timeouts {
	unsigned connect_ms, send_ms, read_ms; /* 0 = inherit */
};

struct gw_proxy__node {
	struct sockaddr_storage addr; /* numeric IP and port */
	char text[72];                /* "ip:port" / "[ip6]:port": pool key */
	char host[72];                /* Host header for pass_host=node */
	int weight;                   /* > 0 (weight 0 nodes are dropped at compile) */
	int priority;                 /* higher first */
};

/* The values of schema/'s enumerations, so the compiler stores what
 * gw_schema_enum_value returns. */
enum gw_proxy__lb {
	GW_PROXY__LB_RR = GW_SCHEMA_LB_ROUNDROBIN,
	GW_PROXY__LB_CHASH = GW_SCHEMA_LB_CHASH,
	GW_PROXY__LB_LEAST_CONN = GW_SCHEMA_LB_LEAST_CONN,
	GW_PROXY__LB_EWMA = GW_SCHEMA_LB_EWMA
};
enum gw_proxy__pass_host {
	GW_PROXY__PASS = GW_SCHEMA_PASS_HOST_PASS,
	GW_PROXY__PASS_NODE = GW_SCHEMA_PASS_HOST_NODE,
	GW_PROXY__PASS_REWRITE = GW_SCHEMA_PASS_HOST_REWRITE
};
enum gw_proxy__hash_on {
	GW_PROXY__HASH_VARS = GW_SCHEMA_HASH_ON_VARS,
	GW_PROXY__HASH_HEADER = GW_SCHEMA_HASH_ON_HEADER,
	GW_PROXY__HASH_COOKIE = GW_SCHEMA_HASH_ON_COOKIE,
	GW_PROXY__HASH_VARS_COMB = GW_SCHEMA_HASH_ON_VARS_COMBINATIONS
};

struct gw_proxy__hcheck;

struct gw_proxy__ring_pt {
	uint32_t hash;
	uint32_t node; /* index into nodes */
};

struct gw_proxy__upstream {
	size_t index;   /* slot in per-worker balancer state */
	const char *id; /* NULL for an inline upstream */
	enum gw_proxy__lb type;
	struct gw_proxy__node *nodes; /* sorted by priority desc, stable */
	size_t n_nodes;
	enum gw_proxy__hash_on hash_on;
	const char *key;                /* chash key ("remote_addr", header name...) */
	struct gw_proxy__ring_pt *ring; /* chash ring sorted by hash */
	size_t ring_len;
	int retries;               /* -1 = n_nodes - 1 */
	unsigned retry_timeout_ms; /* 0 = no limit */
	struct gw_proxy__timeouts timeout;
	enum gw_proxy__pass_host pass_host;
	const char *upstream_host; /* for pass_host=rewrite */
	unsigned pool_size;        /* idle connections kept per node and worker */
	unsigned pool_idle_ms;
	unsigned pool_requests;         /* requests per upstream connection */
	struct gw_proxy__hcheck *hc;    /* `checks` (health_int.h), or NULL */
	bool tls;                       /* scheme https (tls_up.c) */
	bool tls_verify;                /* tls.verify: check the node's certificate */
	const char *tls_client_cert_id; /* tls.client_cert_id (an ssls client object), or NULL */
};

/* ---- plugins (plugins.c): phase hooks called by request.c and response.c */
struct gw_proxy__req;
struct gw_proxy__expr;
struct gw_proxy__compiler; /* config.c: what a plugin's compile may use */

struct gw_proxy__plugin {
	const char *name;
	int priority; /* higher runs first, as in APISIX */
	/* Check and compile @conf into *out (config arena). 0 or GW_EINVAL (with
	 * gw_proxy__c_fail) or GW_ENOMEM. */
	int (*compile)(struct gw_proxy__compiler *c, const cJSON *conf, const void **out);
	/* rewrite, access: 0 to go on, or non-zero when the plugin answered. */
	int (*rewrite)(struct gw_proxy__req *r, const void *conf);
	int (*access)(struct gw_proxy__req *r, const void *conf);
	void (*before_proxy)(struct gw_proxy__req *r, const void *conf);
	/* The upstream response head is in the request (status, headers). */
	void (*header_filter)(struct gw_proxy__req *r, const void *conf);
	/* Response body bytes on their way to the client; *n may be set to 0 to
	 * drop them. @eof: last call, where *p and *n may be set to bytes to
	 * append. */
	void (*body_filter)(struct gw_proxy__req *r, const void *conf, const char **p, size_t *n,
			    bool eof);
	void (*log)(struct gw_proxy__req *r, const void *conf);
};

struct gw_proxy__plugin_inst {
	const struct gw_proxy__plugin *p;
	const void *conf;
};

/* The plugin named @name, or NULL. */
const struct gw_proxy__plugin *gw_proxy__plugin_find(const char *name);

/* Helpers for plugin compile functions (config.c). */
void *gw_proxy__c_alloc(struct gw_proxy__compiler *c, size_t n);
const char *gw_proxy__c_strdup(struct gw_proxy__compiler *c, const char *s);
int gw_proxy__c_fail(struct gw_proxy__compiler *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int gw_proxy__c_vars(struct gw_proxy__compiler *c, const cJSON *arr, struct gw_proxy__expr **out);
/* Compile @pattern (PCRE2, GW_REGEX_* @flags) for the snapshot, which frees
 * it. 0, GW_EINVAL (reason recorded), GW_ENOMEM. */
int gw_proxy__c_regex(struct gw_proxy__compiler *c, const char *pattern, unsigned flags,
		      struct gw_regex **out);
/* Call @fn(@arg) when the unit being compiled is freed (any thread; also
 * when the compile fails): for what a plugin holds outside the arena
 * (a reference on a node-wide object). 0 or GW_ENOMEM (@fn is not called:
 * the caller releases @arg itself). */
int gw_proxy__c_on_free(struct gw_proxy__compiler *c, void (*fn)(void *arg), void *arg);

struct gw_proxy__cidr {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	int bits;
};

enum gw_proxy__expr_kind { GW_PROXY__EXPR_AND, GW_PROXY__EXPR_OR, GW_PROXY__EXPR_CMP };
/* schema/'s vars operators */
enum gw_proxy__op {
	GW_PROXY__OP_EQ = GW_SCHEMA_VARS_OP_EQ,
	GW_PROXY__OP_NE = GW_SCHEMA_VARS_OP_NE,
	GW_PROXY__OP_GT = GW_SCHEMA_VARS_OP_GT,
	GW_PROXY__OP_GE = GW_SCHEMA_VARS_OP_GE,
	GW_PROXY__OP_LT = GW_SCHEMA_VARS_OP_LT,
	GW_PROXY__OP_LE = GW_SCHEMA_VARS_OP_LE,
	GW_PROXY__OP_RE = GW_SCHEMA_VARS_OP_RE,
	GW_PROXY__OP_REI = GW_SCHEMA_VARS_OP_REI,
	GW_PROXY__OP_IN = GW_SCHEMA_VARS_OP_IN,
	GW_PROXY__OP_HAS = GW_SCHEMA_VARS_OP_HAS,
	GW_PROXY__OP_IPMATCH = GW_SCHEMA_VARS_OP_IPMATCH
};

struct gw_proxy__expr {
	enum gw_proxy__expr_kind kind;
	bool neg;                     /* "!AND"/"!OR" or the "!" operator prefix */
	struct gw_proxy__expr **kids; /* AND/OR */
	size_t n_kids;
	/* CMP */
	const char *var; /* "uri", "arg_x", "http_x_y", "cookie_x"... */
	enum gw_proxy__op op;
	const char *str; /* string form of the value */
	double num;      /* numeric value, when has_num */
	bool has_num;
	const char **list; /* "in" / "has" values */
	size_t n_list;
	struct gw_regex *re;          /* ~~ and ~* */
	struct gw_proxy__cidr *cidrs; /* ipmatch */
	size_t n_cidrs;
};

#define GW_PROXY__M_GET (1u << 0)
#define GW_PROXY__M_ALL 0u

struct gw_proxy__unit; /* config_int.h: a compiled object shared by snapshots */
void gw_proxy__unit_ref(struct gw_proxy__unit *u);
void gw_proxy__unit_unref(struct gw_proxy__unit *u);

struct gw_proxy__route {
	const char *id;
	int64_t seq;                 /* creation order (ties: id) */
	struct gw_proxy__unit *unit; /* holds this route's memory */
	const char *const *hosts;    /* as configured (route's, else service's) */
	size_t n_hosts;              /* 0: any host */
	const char *const *uris;     /* "*" stored as "/" followed by "*" */
	size_t n_uris;
	int priority;
	uint32_t methods; /* bit per http_method; 0 = any */
	struct gw_proxy__cidr *remote;
	size_t n_remote;
	struct gw_proxy__expr *vars;       /* NULL = no condition */
	struct gw_proxy__upstream *up;     /* NULL: 503, nothing to proxy to */
	struct gw_proxy__timeouts timeout; /* route-level override, 0 = upstream's */
	bool websocket;
	struct gw_proxy__plugin_inst *plugins; /* route + service plugins, priority desc */
	size_t n_plugins;
	const char *name;         /* "name", or NULL (prometheus prefer_name) */
	const char *service_id;   /* "service_id", or NULL */
	const char *service_name; /* that service's "name", or NULL */
};

/* Routes under one path, sorted by priority desc then seq asc. */
struct gw_proxy__rlist {
	struct gw_proxy__route **v;
	size_t n, cap;
	char key[]; /* the path or prefix: the map's key */
};

struct gw_proxy__uri_router {
	struct gw_proxy__map exact;  /* path -> rlist */
	struct gw_proxy__map prefix; /* prefix (without '*') -> rlist */
	uint8_t *prefix_lens;        /* bitmap of prefix lengths present (may have stale bits) */
	size_t max_prefix;           /* longest prefix ever added */
	size_t key_len;
	char key[]; /* lower-case host ("foo.com", ".foo.com"): the map's key */
};

/* Owned by the snapshots that use it and the cache that updates it: built
 * and changed only by the compiling thread while no snapshot uses it. */
struct gw_proxy__router {
	atomic_int refs;
	struct gw_proxy__map hosts;        /* "foo.com" -> uri_router */
	struct gw_proxy__map wild;         /* ".foo.com" (from *.foo.com) -> uri_router */
	struct gw_proxy__uri_router *star; /* host "*" */
	struct gw_proxy__uri_router *any;  /* routes without hosts */
	struct gw_proxy__route **routes;   /* every route, by (seq, id); one unit ref each */
	size_t n_routes, cap_routes;
};

struct gw_proxy__metadata; /* plugin_int.h */

struct gw_proxy_config {
	atomic_int refs;
	int64_t revision;
	struct gw_proxy__upstream **ups; /* by index (named and inline); NULL holes */
	size_t n_ups;
	struct gw_proxy__route **routes; /* = router->routes */
	size_t n_routes;
	struct gw_proxy__router *router;      /* one reference */
	struct gw_proxy__plugin_inst *global; /* plugins of all global_rules */
	size_t n_global;
	struct gw_proxy__unit *gunit;          /* holds global (one reference), or NULL */
	struct gw_proxy__ssl_table *ssl;       /* ssls objects (tls_int.h), or NULL */
	struct gw_proxy__consumers *consumers; /* plugin_consumer.c, or NULL */
	struct gw_proxy__unit *cunit;          /* holds consumers (one reference), or NULL */
	const struct gw_proxy__metadata *meta; /* plugin_metadata (plugin_metadata.c), or NULL */
	struct gw_proxy__unit *munit;          /* holds meta (one reference), or NULL */
};

/* What the router sees of a request. Strings are not NUL-terminated unless
 * said so. */
struct gw_proxy__hdr {
	const char *name; /* NUL-terminated, as received */
	size_t name_len;
	const char *value; /* NUL-terminated */
	size_t value_len;
};
struct gw_proxy__dconn;
struct gw_proxy__match_ctx {
	int method;       /* enum http_method */
	const char *path; /* decoded? no: raw path without query */
	size_t path_len;
	const char *query; /* without '?', may be empty */
	size_t query_len;
	const char *host; /* lower-case, without port */
	size_t host_len;
	const struct sockaddr *peer;
	const char *remote_addr; /* NUL-terminated text */
	const struct gw_proxy__hdr *hdrs;
	size_t n_hdrs;
	const char *scheme;                 /* "http" or "https" */
	const struct gw_proxy__dconn *conn; /* the client connection ($ssl_*), or NULL */
};

/* Router: built and updated by the compiler (on a router no snapshot
 * uses), matched on workers. new: one reference, or NULL. add: insert
 * under every host x uri of @r and take a reference on r->unit; 0,
 * GW_EINVAL (a prefix longer than the router takes) or GW_ENOMEM (then the
 * router is to be dropped). remove: undo an add (absent routes ignored). */
struct gw_proxy__router *gw_proxy__router_new(void);
int gw_proxy__router_add(struct gw_proxy__router *rt, struct gw_proxy__route *r);
void gw_proxy__router_remove(struct gw_proxy__router *rt, struct gw_proxy__route *r);
/* A copy of @rt (one reference; it takes a reference on every route's
 * unit), or NULL when out of memory. Costs a malloc per path, no lookups. */
struct gw_proxy__router *gw_proxy__router_clone(const struct gw_proxy__router *rt);
void gw_proxy__router_unref(struct gw_proxy__router *rt);
const struct gw_proxy__route *gw_proxy__router_match(const struct gw_proxy_config *cfg,
						     const struct gw_proxy__match_ctx *m);
bool gw_proxy__expr_eval(const struct gw_proxy__expr *e, const struct gw_proxy__match_ctx *m);
/* Value of an APISIX variable, or false when absent. @buf holds decoded
 * values. */
bool gw_proxy__var(const struct gw_proxy__match_ctx *m, const char *name, char *buf, size_t cap,
		   const char **out, size_t *out_len);
int gw_proxy__cidr_parse(const char *s, struct gw_proxy__cidr *out);
bool gw_proxy__cidr_match(const struct gw_proxy__cidr *c, const struct sockaddr *sa);

/* ---- per-worker snapshot: the config plus mutable balancer state */
struct gw_proxy__bstate {
	int64_t *cw;      /* smooth weighted round robin current weights */
	int *active;      /* requests in flight per node (least_conn, ewma) */
	double *ewma;     /* ewma latency per node, ms */
	uint64_t *ewma_t; /* last update per node, ms */
};
struct gw_proxy__wsnap {
	int refs;                    /* worker thread only */
	struct gw_proxy_config *cfg; /* one reference */
	struct gw_proxy__bstate *b;  /* cfg->n_ups entries, filled on first pick */
};
struct gw_proxy__wsnap *gw_proxy__wsnap_new(struct gw_proxy_config *cfg);
void gw_proxy__wsnap_unref(struct gw_proxy__wsnap *s);

/* Tried-node set of one request (nodes beyond 64 are never excluded). */
struct gw_proxy__tried {
	uint64_t bits;
};
/* Pick a node of @up for a request, skipping @tried. @hash_key is the chash
 * key value (may be NULL). Returns the node index or -1 when none is left. */
int gw_proxy__balancer_pick(struct gw_proxy__wsnap *s, const struct gw_proxy__upstream *up,
			    const struct gw_proxy__tried *tried, const char *hash_key,
			    size_t hash_key_len);
/* Report the end of a request to node @i (least_conn / ewma bookkeeping). */
void gw_proxy__balancer_done(struct gw_proxy__wsnap *s, const struct gw_proxy__upstream *up, int i,
			     uint64_t latency_ms);
/* Build the chash ring of @up in @a (its unit's arena). 0 or GW_ENOMEM. */
int gw_proxy__chash_build(struct gw_arena *a, struct gw_proxy__upstream *up);

#endif
