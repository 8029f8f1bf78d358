/* plugin_int.h: what the plugins of proxy/plugin_*.c share — consumers,
 * the helpers a plugin uses on a request (answer, response headers,
 * variables), and the node-wide limit counters.
 *
 * Consumers (plugin_consumer.c) are compiled with the snapshot from
 * /apisix/consumers/<user>, /apisix/consumers/<user>/credentials/<id> and
 * /apisix/consumer_groups/<id>: each auth plugin's credentials go into a
 * hash index (credential -> consumer, O(1)); a consumer's other plugins,
 * merged with its group's, are compiled like a route's. An auth plugin
 * attaches the consumer it found to the request (r->consumer); after the
 * rewrite phase the request's plugin list becomes the route's merged with
 * the consumer's (route > plugin_config > service > consumer >
 * consumer_group, then by priority), as APISIX does.
 * Threads: compiled on the config thread, read-only afterwards; the request
 * helpers run on the request's worker; the limit table is shared by every
 * worker through atomics. */
#ifndef GW_PROXY_PLUGIN_INT_H
#define GW_PROXY_PLUGIN_INT_H

#include "proxy/conn_int.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- consumers (plugin_consumer.c) */

struct gw_proxy__consumer {
	const char *username;
	const char *group_id;                  /* NULL when none */
	struct gw_proxy__plugin_inst *plugins; /* consumer > group, non-auth, priority desc */
	size_t n_plugins;
};

/* The auth plugins' credential kinds, one index each. */
enum gw_proxy__cred {
	GW_PROXY__CRED_KEY,
	GW_PROXY__CRED_BASIC,
	GW_PROXY__CRED_JWT,
	GW_PROXY__CRED_HMAC,
	GW_PROXY__CRED_N
};

/* What an auth plugin compiles of a credential beyond its id and secret
 * (jwt-auth's algorithm and key): @conf is the credential's configuration,
 * @secret its secret in clear ("" when it has none). *@out (arena or
 * owned, then freed by @free when the index goes) or NULL. 0, GW_EINVAL
 * (the credential is skipped with a warning) or GW_ENOMEM. Config thread. */
struct gw_proxy__cred_ops {
	int (*compile)(struct gw_proxy__compiler *c, const cJSON *conf, const char *secret,
		       void **out);
	void (*free)(void *data);
};
extern const struct gw_proxy__cred_ops gw_proxy__jwt_cred_ops;

/* Build the consumer index of @c's snapshot from @kvs (the consumers,
 * their credentials, the consumer groups); objects that fail are skipped
 * with one warning each. 0 or GW_ENOMEM. Config thread. */
int gw_proxy__consumers_compile(struct gw_proxy__compiler *c, struct gw_proxy_config *cfg,
				const struct gw_proxy_kv *kvs, size_t n);
/* Free what the index of @cfg holds outside the arena. */
void gw_proxy__consumers_free(struct gw_proxy_config *cfg);
/* The consumer whose credential of @kind is @id (@len bytes), and in
 * *@secret the credential's secret (basic-auth's password; the key itself
 * for key-auth), or NULL. O(1). The caller compares the secret with
 * gw_ct_equal. Worker thread. */
const struct gw_proxy__consumer *gw_proxy__consumer_find(const struct gw_proxy_config *cfg,
							 enum gw_proxy__cred kind, const char *id,
							 size_t len, const char **secret);
/* gw_proxy__consumer_find, and in *@data what the plugin's cred_ops
 * compiled of the credential (NULL when none). */
const struct gw_proxy__consumer *gw_proxy__consumer_cred(const struct gw_proxy_config *cfg,
							 enum gw_proxy__cred kind, const char *id,
							 size_t len, const char **secret,
							 const void **data);
/* The consumer named @username, or NULL (anonymous_consumer). */
const struct gw_proxy__consumer *gw_proxy__consumer_by_name(const struct gw_proxy_config *cfg,
							    const char *username);
/* An auth plugin found no consumer: attach @anonymous (when set and known)
 * and return 0, or answer 401 {"message": @why} (APISIX's "Invalid user
 * authorization" when the anonymous consumer is missing) and return 1. */
int gw_proxy__consumer_fallback(struct gw_proxy__req *r, const char *anonymous, const char *why);
/* Attach @co to @r: later phases see it (r->consumer) and run its plugins. */
void gw_proxy__consumer_attach(struct gw_proxy__req *r, const struct gw_proxy__consumer *co);
/* After the rewrite phase: merge the attached consumer's plugins into @r's
 * list and run the rewrite hooks of the ones added. 0, or non-zero when a
 * plugin answered. */
int gw_proxy__consumer_merge(struct gw_proxy__req *r);

/* ---- request helpers (plugins.c) */

/* Answer @r with @status and the JSON @body (NULL: no body beyond the
 * status page), with the headers plugins added. Returns 1 (what a rewrite
 * or access hook returns after answering). */
int gw_proxy__plugin_respond(struct gw_proxy__req *r, int status, const char *body);
/* Answer with {"message": @msg} (auth plugins) or {"error_msg": @msg}. */
int gw_proxy__plugin_message(struct gw_proxy__req *r, int status, const char *key, const char *msg);
/* Add a header to @r's response, whoever answers it (copied to the arena;
 * a header of the same name added earlier is replaced). */
void gw_proxy__plugin_resp_header(struct gw_proxy__req *r, const char *name, const char *value);
/* Copy the headers added by plugins into the upstream response head
 * (response.c, before the header filters). */
void gw_proxy__plugin_resp_headers_apply(struct gw_proxy__req *r);
/* The value of request header @name (NUL-terminated), or NULL. */
const char *gw_proxy__plugin_req_header(const struct gw_proxy__req *r, const char *name);
/* Set request header @name to @value (both copied to the arena). */
void gw_proxy__plugin_req_header_set(struct gw_proxy__req *r, const char *name, const char *value);
/* Remove request header @name (hide_credentials). */
void gw_proxy__plugin_req_header_del(struct gw_proxy__req *r, const char *name);
/* An APISIX variable of @r: consumer_name, route_id, then what the router
 * knows (gw_proxy__var). @buf holds decoded values. */
bool gw_proxy__plugin_var(struct gw_proxy__req *r, const char *name, char *buf, size_t cap,
			  const char **out, size_t *out_len);
/* @t with every $name replaced by its value; *@n_resolved counts the
 * variables that had one (APISIX's resolve_var). Arena string. */
const char *gw_proxy__plugin_interp(struct gw_proxy__req *r, const char *t, int *n_resolved);
/* The string member @name of @j, else @dflt, copied to the snapshot's
 * arena; NULL when neither (or out of memory: then @dflt was not NULL). */
const char *gw_proxy__c_str(struct gw_proxy__compiler *c, const cJSON *j, const char *name,
			    const char *dflt);
/* ngx.re.sub: @s with the first match of @re replaced by @repl ($0..$9
 * are the groups), in the arena; NULL when @re does not match. */
const char *gw_proxy__plugin_regex_sub(struct gw_proxy__req *r, const struct gw_regex *re,
				       const char *s, const char *repl);
/* Remove the query argument @name from @r's query (hide_credentials). */
void gw_proxy__plugin_drop_arg(struct gw_proxy__req *r, const char *name);
/* Decode the base64 text @s (@n bytes; @url: the URL-safe alphabet of RFC
 * 4648 section 5, unpadded; else the standard one, padding optional) into
 * @out (@cap bytes). Returns the decoded length, or -1 when @s is not
 * base64 or does not fit. */
ssize_t gw_proxy__plugin_b64dec(const char *s, size_t n, bool url, unsigned char *out, size_t cap);
/* The identity of the object being compiled ("/apisix/routes/1"), for
 * counters that must outlive a snapshot; config.c keeps it. A non-NULL
 * @set (kept by the caller while compiling) replaces it. */
const char *gw_proxy__c_object(struct gw_proxy__compiler *c, const char *set);
/* The id of @kv if its key is @prefix<id> with a non-empty id without '/'
 * (copied to @id, @cap bytes) (config.c). */
bool gw_proxy__c_key_id(const struct gw_proxy_kv *kv, const char *prefix, char *id, size_t cap);
/* compile_plugins of config.c, for consumers. */
int gw_proxy__c_plugins(struct gw_proxy__compiler *c, const cJSON *obj,
			struct gw_proxy__plugin_inst **out, size_t *n);

/* ---- delayed requests (plugin_delay.c): limit-req's wait. A plugin sets
 * r->delay_ms in its access hook; after the access phase request.c calls
 * gw_proxy__plugin_delay instead of going upstream, and the worker's delay
 * timer calls gw_proxy__req_proceed when the time has come. */
void gw_proxy__plugin_delay(struct gw_proxy__req *r);
/* (A rewrite hook may also set r->delay_ms and r->delay_then, call
 * gw_proxy__plugin_delay and return non-zero: the request then waits and
 * r->delay_then answers it; no later plugin runs, fault-injection.) */
/* Forget @r if it waits (the request ends first: client gone). */
void gw_proxy__plugin_undelay(struct gw_proxy__req *r);
/* Close the worker's delay timer (worker thread, at stop). */
void gw_proxy__plugin_worker_close(struct gw_proxy__worker *w);

/* ---- node-wide limit counters (plugin_limit.c)
 * A fixed table of slots (key hash, packed state), shared by every worker
 * of the process through compare-and-swap: no lock on the request path and
 * bounded memory. A key finds its slot among a few probes; when they all
 * hold live keys, the one with the least state is taken over (an attacker
 * varying the key can only make other keys' limits more lenient, never
 * grow memory), and apigw_limit_evictions_total counts it. */
#define GW_PROXY__LIMIT_SLOTS (1u << 16)

/* Fixed window (limit-count): count one request of key @h against @limit
 * per @window_s seconds. Returns true if allowed; *@remaining and *@reset
 * (seconds until the window ends) for the headers. */
bool gw_proxy__limit_count(uint64_t h, uint32_t limit, uint32_t window_s, uint32_t *remaining,
			   uint32_t *reset);
/* Leaky bucket (limit-req): @rate requests/s, @burst extra. Returns -1 to
 * reject, else the delay in ms the request should wait (0: none). */
int64_t gw_proxy__limit_req(uint64_t h, double rate, double burst);
/* The value of a limit key of @r: the variable @key, or the "$a $b"
 * template @key when @combination; remote_addr when that is empty. May
 * point into @buf. */
const char *gw_proxy__limit_key(struct gw_proxy__req *r, const char *key, bool combination,
				char *buf, size_t cap, size_t *len);
/* The identity of a limit plugin instance: its object's key and its
 * configuration (counters survive recompiles that leave both alone), or
 * "group:<group>" when @group is given. 0 when out of memory. */
uint64_t gw_proxy__limit_ident(struct gw_proxy__compiler *c, const cJSON *conf, const char *group);
/* Answer a limited request: @code with {"error_msg": @msg}, or the status
 * page when @msg is NULL. Returns 1. */
int gw_proxy__limit_reject(struct gw_proxy__req *r, int code, const char *msg);
/* Slots taken over from a live key since start. */
uint64_t gw_proxy__limit_evictions(void);
/* 64-bit hash of @n bytes continuing @h (FNV-1a then a final mix). */
uint64_t gw_proxy__limit_hash(uint64_t h, const void *p, size_t n);

/* ---- prometheus (plugin_prometheus.c) */

/* When @r's plugins include prometheus: fill @o's service, matched_uri and
 * matched_host labels (and the route's name for prefer_name). The values
 * point into the compiled config @r holds. Worker thread. */
void gw_proxy__prom_labels(const struct gw_proxy__req *r, struct gw_proxy__outcome *o);

/* ---- the logger service (plugin_logger.c): http-logger and file-logger
 * entries go through a bounded lock-free queue to one logger thread that
 * batches and delivers them; workers never wait. */
enum { GW_PROXY__SINK_HTTP, GW_PROXY__SINK_FILE, GW_PROXY__SINK_MIRROR };
struct gw_proxy__logsink;
struct gw_proxy__logsink_conf {
	int kind;                /* GW_PROXY__SINK_* */
	const char *uri;         /* http: "http://ip:port/path"; mirror: "http://ip:port" */
	const char *auth_header; /* http: Authorization value, "" = none */
	unsigned timeout_ms;     /* http, mirror: of one request */
	bool new_line;           /* http: concat_method new_line (else a JSON array) */
	const char *path;        /* file */
	/* APISIX's batch processor (http) */
	unsigned batch_max_size, inactive_timeout_s, buffer_duration_s;
	unsigned max_retry_count, retry_delay_s;
};
/* The node's sink for the logger instance @ident (made from @conf, strings
 * copied, when new; an existing one keeps its batch and settings), with one
 * reference for the caller, or NULL (out of memory, or the logger thread
 * cannot start). Config thread. */
struct gw_proxy__logsink *gw_proxy__logsink_get(uint64_t ident,
						const struct gw_proxy__logsink_conf *conf);
/* For a plugin's compile: the sink of the instance of configuration @conf
 * (its object and configuration: gw_proxy__limit_ident), held until the
 * unit being compiled is freed. NULL when out of memory. Config thread. */
struct gw_proxy__logsink *gw_proxy__logsink_hold(struct gw_proxy__compiler *c, const cJSON *conf,
						 const struct gw_proxy__logsink_conf *sc);
/* Drop a reference (gw_proxy__c_on_free's signature); the logger thread
 * delivers what the sink holds and frees it after the last. Any thread. */
void gw_proxy__logsink_release(void *sink);
/* Queue a copy of one entry (@len bytes of JSON) for @s; dropped and
 * counted when the node's queue is full (or @p is NULL). Worker thread,
 * while its request holds a reference on @s through its snapshot. */
void gw_proxy__logsink_push(struct gw_proxy__logsink *s, const char *p, size_t len);
/* File sinks reopen their paths (SIGUSR1). Any thread. */
void gw_proxy__logger_reopen(void);
/* Deliver what is held (once, within a few seconds) and stop the logger
 * thread; a later gw_proxy__logsink_get starts it again. Control thread,
 * after the workers were joined. */
void gw_proxy__logger_stop(void);
/* apigw_logger_{sent,written,dropped,failed}_total and
 * apigw_mirror_{sent,failed,dropped}_total. 0 or GW_ENOMEM. */
int gw_proxy__logger_metrics(struct gw_buf *b);

/* ---- log formats (plugin_loggers.c) and plugin_metadata (plugin_metadata.c) */

/* A compiled log_format object: each key's value is a variable ("$name")
 * or a literal (its JSON text). */
struct gw_proxy__plogfmt_item {
	const char *key;
	const char *var; /* "$name" values: the variable, else NULL */
	const char *lit; /* the literal's JSON text otherwise */
};
struct gw_proxy__plogfmt {
	struct gw_proxy__plogfmt_item *v;
	size_t n;
};
/* Compile the log_format object @lf into @c's arena. 0, GW_EINVAL (not an
 * object) or GW_ENOMEM. */
int gw_proxy__plogfmt_compile(struct gw_proxy__compiler *c, const cJSON *lf,
			      struct gw_proxy__plogfmt **out);
/* /apisix/plugin_metadata/<plugin>: what the plugins read of it. */
struct gw_proxy__metadata {
	struct gw_proxy__meta_entry {
		const char *plugin;
		const struct gw_proxy__plogfmt *log_format; /* NULL: none */
		/* limit-count: limit_header, remaining_header, reset_header (NULL:
		 * APISIX's X-RateLimit-* default) */
		const char *limit_hdr[3];
		/* cors: allow_origins, a map of key -> origins text */
		const char **origin_keys, **origin_vals;
		size_t n_origins;
	} * v;
	size_t n;
};
/* The log_format of plugin @name's metadata in @cfg, or NULL. */
const struct gw_proxy__plogfmt *gw_proxy__metadata_log_format(const struct gw_proxy_config *cfg,
							      const char *name);
/* limit-count's header names: @out[0..2] the limit, remaining and reset
 * headers of its metadata in @cfg, else APISIX's X-RateLimit-* names. */
void gw_proxy__metadata_limit_headers(const struct gw_proxy_config *cfg, const char *out[3]);
/* cors: the origins text of key @key of its metadata's allow_origins, or
 * NULL. */
const char *gw_proxy__metadata_cors_origins(const struct gw_proxy_config *cfg, const char *key);

/* ---- the plugins (one file each) */
extern const struct gw_proxy__plugin gw_proxy__plugin_key_auth, gw_proxy__plugin_basic_auth,
    gw_proxy__plugin_limit_count, gw_proxy__plugin_limit_req, gw_proxy__plugin_ip_restriction,
    gw_proxy__plugin_request_id, gw_proxy__plugin_prometheus, gw_proxy__plugin_consumer_restriction;
/* wt-auth's plugins */
extern const struct gw_proxy__plugin gw_proxy__plugin_jwt_auth, gw_proxy__plugin_hmac_auth,
    gw_proxy__plugin_cors, gw_proxy__plugin_redirect, gw_proxy__plugin_limit_conn,
    gw_proxy__plugin_uri_blocker, gw_proxy__plugin_fault_injection, gw_proxy__plugin_real_ip,
    gw_proxy__plugin_request_validation;
/* Requests limit-conn let through unlimited: every slot probed for their
 * key held another key in flight (plugin_limit_conn.c). */
uint64_t gw_proxy__limit_conn_overflows(void);
/* wt-traffic's plugins */
extern const struct gw_proxy__plugin gw_proxy__plugin_http_logger, gw_proxy__plugin_file_logger,
    gw_proxy__plugin_api_breaker, gw_proxy__plugin_traffic_split, gw_proxy__plugin_proxy_mirror;

#endif
