/* apisix_int.h: internals of the Admin API shared by its files and unit tests.
 *
 * The HTTP side (second half of this header): apisix.c (life cycle, gates,
 * dispatcher), apisix_route.c (resources, route table, the one error ->
 * answer mapping), apisix_read.c (GET of objects and lists, plugin
 * catalogue), apisix_write.c (PUT/POST/PATCH/DELETE requests -> ops) and
 * apisix_txn.c (ops: the compare-and-swap TXNs proposed through raft).
 *
 * apisix_schema.c: the validator entry points the Admin API calls, which
 * forward to schema/ (the schemas, the plugin catalogue and the validation
 * walk, shared with the proxy's compiler; see schema/schema.h), and the JSON
 * merge used by PATCH. Error messages follow APISIX's jsonschema wording
 * ("property \"uri\" validation failed: ...").
 *
 * Threads: any thread (schema/ is read-only after its one-time load). */
#ifndef GW_ADMIN_APISIX_INT_H
#define GW_ADMIN_APISIX_INT_H

#include "admin/apisix.h"
#include "lib/cidr.h"
#include "lib/list.h"
#include "lib/rand.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

/* Validate @v against the named schema ("route", "service", "upstream",
 * "consumer", "credential", "ssl", "global_rule", "plugin_config",
 * "consumer_group", "stream_route", "proto", "plugin_metadata", "secret",
 * or any named definition such as "id"). Returns 0, or GW_EINVAL with the
 * reason in @err (APISIX's wording, without the "invalid configuration: "
 * prefix), or GW_ENOTFOUND for an unknown schema name. */
int gw_admin__validate(const char *schema, const cJSON *v, char *err, size_t errlen);

/* Everything the Admin API checks before storing an object of @schema
 * (gw_schema_check): the schema ("invalid configuration: ..."), the upstream
 * (APISIX's rules, then what the proxy can serve: numeric node addresses),
 * the plugins. 0, GW_EINVAL or GW_ENOMEM with the message in @err. */
int gw_admin__check(const char *schema, const cJSON *v, char *err, size_t errlen);

/* Check every plugin of a "plugins" object: its name must be in the
 * catalogue and its config must match the plugin's schema ("_meta" and
 * "disable" are accepted in every plugin). 0 or GW_EINVAL with APISIX's
 * message ("unknown plugin [x]", "failed to check the configuration of
 * plugin x err: ..."). */
int gw_admin__check_plugins(const cJSON *plugins, char *err, size_t errlen);

/* The checks APISIX makes on an upstream beyond its schema (pass_host
 * "node" needs exactly one node, "rewrite" needs upstream_host; chash needs
 * a key unless it hashes on the consumer). @up is a schema-valid upstream.
 * 0 or GW_EINVAL with APISIX's message. */
int gw_admin__check_upstream(const cJSON *up, char *err, size_t errlen);

/* Names of the plugins of the catalogue, in APISIX's order; NULL-terminated. */
const char *const *gw_admin__plugin_names(void);
/* The schema of a plugin as JSON text (static), or NULL if unknown. */
const char *gw_admin__plugin_schema(const char *name);
/* True if the plugin's schema is APISIX's (the proxy implements it);
 * false if it is only a permissive object schema. */
bool gw_admin__plugin_validated(const char *name);

/* JSON merge patch (RFC 7386, APISIX's PATCH): objects merge recursively, a
 * null in @patch deletes the key, anything else (arrays included) replaces.
 * Consumes neither argument; returns the merged document (@target modified
 * in place when both are objects, else a new item and @target is deleted),
 * or NULL on allocation failure. */
cJSON *gw_admin__merge(cJSON *target, const cJSON *patch);

/* Replace the value at @path ("plugins/proxy-rewrite", '/'-separated) of
 * object @root by @value (which the call takes over), creating missing
 * intermediate objects. 0, or GW_EINVAL if an intermediate value is not an
 * object or the path is empty. */
int gw_admin__set_path(cJSON *root, const char *path, cJSON *value);

/* ---- the HTTP side: shared by apisix*.c and tests/unit/test_admin_routes.c ---- */

struct gw_http_req;
struct gw_httpd;
struct gw_store;
struct gw_raft;
struct gw_range_resp;
struct gw_kv;
struct gw_store_op;

#define GW_ADMIN__PREFIX      "/apisix/admin"
#define GW_ADMIN__MAX_KEY     512
#define GW_ADMIN__MAX_PATH    1024 /* request path after the prefix, truncated */
#define GW_ADMIN__MAX_REFS    12
#define GW_ADMIN__MAX_CIDR    32
#define GW_ADMIN__MAX_NESTING 64 /* JSON nesting accepted in a body or stored value */

/* Request methods as bits (GW_ADMIN__M_OTHER: HEAD, OPTIONS, ...). */
enum {
	GW_ADMIN__M_GET = 1,
	GW_ADMIN__M_PUT = 2,
	GW_ADMIN__M_POST = 4,
	GW_ADMIN__M_DELETE = 8,
	GW_ADMIN__M_PATCH = 16,
	GW_ADMIN__M_OTHER = 32,
};

/* Refusals of the Admin API that are no gw error code (they sit below the
 * gw error space, lib/err.h). Mapped to answers by gw_admin__answer. */
enum {
	GW_ADMIN__EFORBIDDEN = -1901, /* 403: client address not in the allow-list */
	GW_ADMIN__EAUTH = -1902,      /* 401: API key missing or wrong, or role too weak */
	GW_ADMIN__EMETHOD = -1903,    /* 405: method not served for this resource */
};

/* The one mapping of an error to its answer: returns the HTTP status and
 * sets *body to APISIX's error object, which the caller owns (NULL when out
 * of memory). @msg is the reason (NULL: the code's own wording; a 404
 * without one is APISIX's {"message":"Key not found"}); for
 * GW_ADMIN__EAUTH it is the "description" of {"error_msg":"failed to check
 * token"}. */
int gw_admin__answer(int err, const char *msg, cJSON **body);
/* Answer @req with @body (taken; NULL -> 500 out of memory). */
void gw_admin__send_json(struct gw_http_req *req, int status, cJSON *body);
/* The same with @hdrs (CRLF-terminated lines) added. */
void gw_admin__send_json_hdrs(struct gw_http_req *req, int status, cJSON *body, const char *hdrs);
/* Answer @req with the error @err (see gw_admin__answer). */
void gw_admin__send_err(struct gw_http_req *req, int err, const char *msg);
/* Answer @req 200 with @len bytes of JSON text (copied). */
void gw_admin__send_text(struct gw_http_req *req, const char *text, size_t len);

enum {
	GW_ADMIN__F_ID = 1,     /* the stored value carries "id" */
	GW_ADMIN__F_TIMES = 2,  /* create_time/update_time are injected */
	GW_ADMIN__F_NESTED = 4, /* only under consumers/<user>/ (credentials) */
};

/* One kind of object of the Admin API (static table, apisix_route.c). */
struct gw_admin__resource {
	const char *name;   /* URL segment: "routes" */
	const char *type;   /* singular, for messages: "route" */
	const char *prefix; /* store key prefix: "/apisix/routes/" */
	const char *schema; /* gw_admin__validate's schema name */
	unsigned methods;   /* GW_ADMIN__M_* served */
	unsigned flags;     /* GW_ADMIN__F_* */
};

/* The resource named @name; with @top_level, not one that lives only under
 * another (credentials). NULL when unknown. */
const struct gw_admin__resource *gw_admin__resource(const char *name, bool top_level);
/* The resource whose objects are stored at @key (@len bytes, not
 * NUL-terminated; any byte but '/' in an id): <prefix><id> for most,
 * /apisix/consumers/<user>/credentials/<id> for a credential,
 * /apisix/secrets/<manager>/<id> for a secret. NULL for any other key (a
 * directory placeholder such as "/apisix/routes/", /apisix/plugins, keys
 * below an object). The inverse of gw_admin__object_key. */
const struct gw_admin__resource *gw_admin__resource_of_key(const char *key, size_t len);
/* True for resource @res named @name. */
bool gw_admin__is(const struct gw_admin__resource *res, const char *name);
/* The store key of object @id of @res into @out ("<user>/<id>" for a
 * credential becomes /apisix/consumers/<user>/credentials/<id>). */
void gw_admin__object_key(const struct gw_admin__resource *res, const char *id, char *out,
			  size_t n);

/* ---- audit log (apisix_audit.c) ---- */
#define GW_ADMIN__AUDIT_PREFIX     "/apigw/audit/"
#define GW_ADMIN__AUDIT_META       "audit/etcd/" /* etcd API writes: node metadata */
#define GW_ADMIN__AUDIT_ETCD_SLOTS 10000         /* records kept per node */
/* One audit record ready to be put with a write. */
struct gw_admin__audit {
	char key[96]; /* /apigw/audit/<ms>-<node>-<seq> */
	char end[64]; /* records below it are past retention */
	char *value;  /* JSON, malloc'ed */
};

/* The Admin API server (apisix.h's opaque struct). Loop thread only. */
struct gw_admin {
	uv_loop_t *loop;
	struct gw_httpd *httpd;
	struct gw_store *store;
	struct gw_raft *raft;
	char admin_key[256]; /* "" until adopted from the cluster */
	char viewer_key[256];
	char standalone[512]; /* --standalone's file: writes refused ("" = writable) */
	/* --audit-log (apisix_audit_sink.c) */
	char audit_log[512];              /* the file, or "" */
	int audit_fd;                     /* -1: none */
	struct gw_watcher *audit_watcher; /* on /apigw/audit/ */
	int64_t audit_seen;               /* last revision written */
	bool audit_failing;               /* the last write failed (logged once) */
	char data_dir[4096];              /* where an adopted key is saved */
	bool publish_key;                 /* publish admin_key while the cluster has none */
	bool pub_inflight;                /* a publishing proposal is in raft */
	uv_timer_t pub_timer;             /* retries publishing every second */
	bool httpd_done;                  /* the listener has stopped */
	bool timer_done;                  /* pub_timer is closed */
	struct gw_cidr cidrs[GW_ADMIN__MAX_CIDR];
	int n_cidrs;
	unsigned write_timeout_ms;
	int (*node_read)(void *data, const char *what, char **out, size_t *len);
	void *node_data;
	int (*config_check)(void *data, const struct gw_admin_change *changes, size_t n,
			    void (*done)(void *arg, const struct gw_admin_check *r), void *arg);
	void *config_check_data;
	uint64_t audit_retention_ms; /* audit records older are deleted */
	unsigned audit_seq;          /* makes this node's audit keys unique */
	struct gw_list ops;          /* live write requests (struct gw_admin__op.link) */
	struct gw_rand_xs jitter;    /* retry delays of ops (not a secret) */
	int n_ops;                   /* ops plus the key-publishing proposal */
	bool stopping;
	bool stopped; /* listener and timer closed, stop callback ran */
	void (*stop_cb)(void *);
	void *stop_data;
};

/* Free @a once it is stopped and no op refers to it. */
void gw_admin__maybe_free(struct gw_admin *a);

/* ---- route table (apisix_route.c) ---- */

struct gw_admin__match;
/* A route's handler: answers @req now or later; never fails. */
typedef void (*gw_admin__handler_cb)(struct gw_admin *a, struct gw_http_req *req,
				     const struct gw_admin__match *m);

/* One row: a path pattern and its handler per method. Pattern segments: a
 * literal, {res} (a top-level resource name), {id} (any segment, added to
 * the id), {sub+} (one or more segments: the PATCH sub-path), * (any one
 * segment), ** (any number of segments, ignored). */
struct gw_admin__route {
	const char *pattern;
	const char *res; /* resource served, when the pattern names it literally */
	gw_admin__handler_cb get, put, post, patch, del;
	gw_admin__handler_cb any; /* every method, unknown ones included */
};

/* What a request matched. */
struct gw_admin__match {
	const struct gw_admin__route *route;  /* the row */
	gw_admin__handler_cb handler;         /* the row's handler for the method */
	const struct gw_admin__resource *res; /* resource of the row, or NULL */
	unsigned method;                      /* GW_ADMIN__M_* */
	char id[GW_ADMIN__MAX_PATH];          /* {id} segments joined with '/' */
	int n_ids;                            /* {id} segments matched */
	char sub[GW_ADMIN__MAX_PATH];         /* {sub+} segments joined with '/' */
	bool has_sub;                         /* {sub+} matched */
};

/* GW_ADMIN__M_* bit of a method name. */
unsigned gw_admin__method_bit(const char *method);

/* Route @method @path (the part after /apisix/admin) through the table:
 * rows are tried in order; the first whose pattern matches and that serves
 * the method wins. A matching row bound to a resource that does not serve
 * the method ends the search with 405; other rows let it fall through. 0
 * with *m filled, or GW_ADMIN__EMETHOD / GW_ENOTFOUND ("Unsupported
 * resource type") with the reason in @msg. */
int gw_admin__route(const char *method, const char *path, struct gw_admin__match *m, char *msg,
		    size_t n);

/* ---- handlers ---- */
/* apisix_read.c */
void gw_admin__h_list(struct gw_admin *a, struct gw_http_req *req, const struct gw_admin__match *m);
void gw_admin__h_list_credentials(struct gw_admin *a, struct gw_http_req *req,
				  const struct gw_admin__match *m);
void gw_admin__h_get(struct gw_admin *a, struct gw_http_req *req, const struct gw_admin__match *m);
void gw_admin__h_not_found(struct gw_admin *a, struct gw_http_req *req,
			   const struct gw_admin__match *m);
void gw_admin__h_plugin_list(struct gw_admin *a, struct gw_http_req *req,
			     const struct gw_admin__match *m);
void gw_admin__h_plugin_schema(struct gw_admin *a, struct gw_http_req *req,
			       const struct gw_admin__match *m);
/* apisix_write.c */
void gw_admin__h_put(struct gw_admin *a, struct gw_http_req *req, const struct gw_admin__match *m);
void gw_admin__h_post(struct gw_admin *a, struct gw_http_req *req, const struct gw_admin__match *m);
void gw_admin__h_patch(struct gw_admin *a, struct gw_http_req *req,
		       const struct gw_admin__match *m);
void gw_admin__h_delete(struct gw_admin *a, struct gw_http_req *req,
			const struct gw_admin__match *m);
void gw_admin__h_schema_validate(struct gw_admin *a, struct gw_http_req *req,
				 const struct gw_admin__match *m);

/* Validate @v as an object of @res, APISIX's way (schema, upstream checks,
 * plugins). 0 or GW_EINVAL with the message in @msg. */
int gw_admin__check_object(const struct gw_admin__resource *res, const cJSON *v, char *msg,
			   size_t n);

/* ---- ssls private keys (apisix_ssl.c) ---- */
/* Seal the clear "key" and "keys" items of the ssls object @v in place with
 * the node's keyring. 0, or GW_EIO / GW_ENOMEM with the message in @msg. */
int gw_admin__ssl_seal(cJSON *v, char *msg, size_t n);
/* When @key (@len bytes) is an ssls object's key, seal any clear private
 * key of its value @v for an answer (or drop it if that fails). */
void gw_admin__ssl_redact(const char *key, size_t len, cJSON *v);

/* ---- store helpers (apisix_read.c) ---- */
/* Read one key serializably. 0 with *found set (free *out with
 * gw_store_range_resp_free when 0), or a store error. */
int gw_admin__read_key(struct gw_admin *a, const char *key, struct gw_range_resp *out, bool *found);
/* Read every key under @prefix serializably. 0 (free *out with
 * gw_store_range_resp_free) or a store error. */
int gw_admin__read_prefix(struct gw_admin *a, const char *prefix, struct gw_range_resp *out);
/* The range end of all keys under @prefix into @end. */
void gw_admin__prefix_end(const char *prefix, char *end, size_t n);
/* The id an object gives in @field (a string, or an integer printed). */
bool gw_admin__field_id(const cJSON *obj, const char *field, char *out, size_t n);
/* {"key", "value", "createdIndex", "modifiedIndex"} of a stored pair (an
 * ssls private key sealed); NULL when out of memory. Caller owns it. */
cJSON *gw_admin__kv_item(const struct gw_kv *kv);
/* The stored value as JSON (caller owns); a value that is not JSON
 * (written through etcd) as a string. */
cJSON *gw_admin__kv_value(const struct gw_kv *kv);
/* Copy @src into @dst, truncating to fit. */
void gw_admin__copy_str(char *dst, size_t n, const char *src);

/* ---- ops: write requests in flight (apisix_txn.c) ---- */

struct gw_admin__ref_key {
	char key[GW_ADMIN__MAX_KEY];
	char id[80];
	const char *what; /* for "failed to fetch <what> [<id>]" (static) */
};

/* One write request from parsing to its answer. */
struct gw_admin__op {
	struct gw_admin *a;
	struct gw_http_req *req; /* NULL once answered */
	const struct gw_admin__resource *res;
	unsigned method; /* GW_ADMIN__M_* */
	char id[160];
	char key[GW_ADMIN__MAX_KEY];
	char sub[256]; /* PATCH sub-path, or "" */
	cJSON *body;   /* parsed request body */
	bool force;
	int64_t ttl;   /* ?ttl=, 0 = none */
	int64_t lease; /* granted lease */
	int attempts;
	int64_t post_rev; /* last id tried by POST */
	bool existed;     /* the key existed at the read */
	cJSON *value;     /* value proposed */
	struct gw_admin__ref_key refs[GW_ADMIN__MAX_REFS];
	int n_refs;
	uv_timer_t timer;
	bool timer_init;
	bool waiting;        /* backoff timer running */
	struct gw_list link; /* in gw_admin.ops */
	/* ?wait=served (apisix_history_served.c) */
	bool wait_served;       /* answer once every member serves the revision */
	unsigned wait_ms;       /* ?timeout= */
	uint64_t wait_deadline; /* uv_now at which to answer anyway */
	bool querying;          /* a served query is in flight */
	bool served_all;        /* every member served it at the answer */
	int64_t revision;       /* store revision of the committed write */
	cJSON *reply;           /* the answer's body, kept while waiting */
	int reply_status;
	cJSON *served_report;         /* "served" of the answer */
	bool dry_run;                 /* ?dry_run=true: check and show, commit nothing */
	bool compiled;                /* gw_admin__delete_compiles passed */
	struct gw_admin__audit audit; /* the record proposed with the write */
};

/* A new op for @req, linked into a->ops; NULL when out of memory. The op
 * owns itself until answered (gw_admin__op_fail or its TXN's answer). */
struct gw_admin__op *gw_admin__op_new(struct gw_admin *a, struct gw_http_req *req,
				      const struct gw_admin__resource *res, unsigned method);
/* Answer the op's request with @err/@msg (gw_admin__answer) and free it. */
void gw_admin__op_fail(struct gw_admin__op *op, int err, const char *msg);
/* Answer the op's request with @body (taken) and @hdrs (CRLF-terminated
 * lines or "") and free it. */
void gw_admin__op_answer_hdrs(struct gw_admin__op *op, int status, cJSON *body, const char *hdrs);

/* ---- history (apisix_history.c) ---- */
/* A GET of object @key with ?revision=N: answered here (true) with the
 * object as it was; false without ?revision= (the caller answers). */
bool gw_admin__get_at_revision(struct gw_admin *a, struct gw_http_req *req, const char *key);
/* ?limit= from 1 to @max into *out (unchanged when absent). 0 or GW_EINVAL. */
int gw_admin__limit_arg(struct gw_http_req *req, long max, long *out);
/* ?@name= as a positive revision into *out (0 when absent). 0 or GW_EINVAL. */
int gw_admin__revision_arg(struct gw_http_req *req, const char *name, int64_t *out);
/* The message of a revision refused by the store (@err GW_ECOMPACTED:
 * outside the history window; GW_EFUTUREREV) into @msg. */
void gw_admin__history_window_msg(struct gw_admin *a, int err, int64_t rev, char *msg, size_t n);
void gw_admin__h_history(struct gw_admin *a, struct gw_http_req *req,
			 const struct gw_admin__match *m);
/* apisix_history_diff.c: the structural diff of two JSON values: an array
 * of {"path" (JSON Pointer), "op": add|remove|replace, "from", "to"}
 * (caller owns; NULL when out of memory). Objects are walked, anything
 * else compared whole; a top-level update_time is ignored. */
cJSON *gw_admin__json_diff(const cJSON *a, const cJSON *b);
/* {"key", "op": create|update|delete, "changes"} between the pair @from and
 * @to of one key (either NULL: created or deleted). Caller owns. */
cJSON *gw_admin__object_diff(const struct gw_kv *from, const struct gw_kv *to);
/* qsort/bsearch order of struct gw_kv by key bytes. */
int gw_admin__kv_cmp(const void *x, const void *y);
/* Read [@key, @end) (@end "" = the one key) at @rev (0 = now), sorted by
 * key. 0 (free @out with gw_store_range_resp_free) or the store's error. */
int gw_admin__read_at(struct gw_admin *a, const char *key, const char *end, int64_t rev,
		      struct gw_range_resp *out);
void gw_admin__h_diff(struct gw_admin *a, struct gw_http_req *req, const struct gw_admin__match *m);
/* GET /apisix/admin/schema/<resource> ("routes" or "route"): its schema. */
void gw_admin__h_schema_get(struct gw_admin *a, struct gw_http_req *req,
			    const struct gw_admin__match *m);
/* Answer a ?dry_run=true write instead of proposing it: the diff between
 * the stored object and @value (NULL: a delete), the routes whose
 * behaviour may change, the current revision (unchanged). Frees the op. */
void gw_admin__dry_run(struct gw_admin__op *op, const char *value);
/* A real DELETE of an upstream (a traffic-split may name it, which the
 * dependents' scan does not see): compile the config without it
 * (opts.config_check) and call @then(@op) if that compiles, else answer the
 * error. False when there is nothing to check (go on); true when the op is
 * in its hands. */
bool gw_admin__delete_compiles(struct gw_admin__op *op, void (*then)(struct gw_admin__op *op));
/* apisix_history_rollback.c: POST /apisix/admin/rollback */
void gw_admin__h_rollback(struct gw_admin *a, struct gw_http_req *req,
			  const struct gw_admin__match *m);

/* apisix_configs.c: PUT /apisix/admin/configs (a whole declarative config). */
void gw_admin__h_configs_put(struct gw_admin *a, struct gw_http_req *req,
			     const struct gw_admin__match *m);
/* GET /apisix/admin/configs: the cluster's config in the same layout. */
void gw_admin__h_configs_get(struct gw_admin *a, struct gw_http_req *req,
			     const struct gw_admin__match *m);

/* ---- audit (apisix_audit.c) ---- */
/* Build the audit record of a write by @req (NULL: no client): @op
 * ("PUT", "rollback"...), @res / @id / @key (each may be NULL), @extra
 * (NULL, or an object whose items are added; taken). Never a body or a
 * value. 0 or GW_ENOMEM; free @au with gw_admin__audit_free either way. */
int gw_admin__audit_make(struct gw_admin *a, struct gw_http_req *req, const char *op,
			 const struct gw_admin__resource *res, const char *id, const char *key,
			 cJSON *extra, struct gw_admin__audit *au);
/* The two ops (put the record, delete those past retention) into @ops
 * (room for 2); pointers into @au. Returns 2. */
size_t gw_admin__audit_ops(const struct gw_admin__audit *au, struct gw_store_op *ops);
void gw_admin__audit_free(struct gw_admin__audit *au);
/* apisix_audit_sink.c: --audit-log @path ("" or NULL: none). 0 or GW_EIO /
 * GW_ENOMEM (logged). Stop before the store closes. */
struct gw_watcher;
int gw_admin__audit_sink_start(struct gw_admin *a, const char *path);
void gw_admin__audit_sink_stop(struct gw_admin *a);
void gw_admin__h_audit(struct gw_admin *a, struct gw_http_req *req,
		       const struct gw_admin__match *m);
/* GET /node/health and /node/metrics (apisix_ui.c): this node's upstream
 * health and proxy metrics for the dashboard, through opts.node_read. */
void gw_admin__h_node_health(struct gw_admin *a, struct gw_http_req *req,
			     const struct gw_admin__match *m);
void gw_admin__h_node_metrics(struct gw_admin *a, struct gw_http_req *req,
			      const struct gw_admin__match *m);

/* ---- served revisions (apisix_history_served.c) ---- */
/* ?wait=served[&timeout=] and ?dry_run=true of a write request into the
 * op. 0, or GW_EINVAL with the message in @msg. */
int gw_admin__wait_parse(struct gw_admin__op *op, char *msg, size_t n);
/* The write committed at @revision: answer @status with @body (taken;
 * X-Apigw-Revision added, and "modifiedIndex" but for a DELETE), at once or, with
 * ?wait=served, once every member serves @revision or the wait ends. */
void gw_admin__op_reply(struct gw_admin__op *op, int status, cJSON *body, int64_t revision);
/* Stopping: answer an op waiting between two served rounds now. */
void gw_admin__served_stop(struct gw_admin__op *op);
void gw_admin__h_cluster(struct gw_admin *a, struct gw_http_req *req,
			 const struct gw_admin__match *m);
/* apisix_consumer.c: for a consumer or credential @v about to be written
 * at op->key, an auth credential (key-auth key, basic-auth username) that
 * another object under /apisix/consumers/ holds: GW_EINVAL with APISIX's
 * "duplicate key found with consumer: <name>" in @msg. 0 otherwise. */
int gw_admin__check_credentials(struct gw_admin__op *op, const cJSON *v, char *msg, size_t n);
/* Seal a consumer's or credential's secrets in @v (apisix_consumer.c). 0,
 * or an error with @msg set. */
int gw_admin__consumer_seal(struct gw_admin__op *op, cJSON *v, char *msg, size_t n);
/* The keys @v, an object of @res, references (upstream_id, service_id,
 * plugin_config_id, group_id) into @keys, at most @n: their count. */
size_t gw_admin__refs_of(const struct gw_admin__resource *res, const cJSON *v,
			 char (*keys)[GW_ADMIN__MAX_KEY], size_t n);
/* Propose the op's write (PUT/POST/PATCH) or delete; answers when done. */
void gw_admin__op_write(struct gw_admin__op *op);
void gw_admin__op_delete(struct gw_admin__op *op);
/* Stop: answer 503 every op waiting to retry (those inside raft are
 * answered when raft calls back). */
void gw_admin__ops_stop(struct gw_admin *a);

#endif
