/* etcd_int.h: internals of the etcd v3 API, shared by admin/etcd_*.c and
 * their unit tests only.
 *
 * The pieces: a call (one RPC, unary or streaming) that the services
 * (etcd_kv.c, etcd_lease.c, etcd_cluster.c, etcd_watch.c; method table and
 * shared plumbing in etcd_svc.c) answer without knowing the transport; two
 * transports that create calls, gRPC over HTTP/2 (etcd_h2.c) and the JSON
 * gateway (etcd.c); and the codecs (etcd_codec.c): gRPC message framing,
 * protobuf <-> JSON, a per-call arena, and the one table that maps gw errors
 * to gRPC codes, HTTP statuses and etcd's messages.
 *
 * Call life cycle: a transport creates a call and hands it to its method.
 * The service answers with gw_etcd__send (any number of messages) and ends it
 * with exactly one gw_etcd__finish, which frees it. If the client goes away
 * first, the transport calls gw_etcd__call_gone: sends then fail with
 * GW_ECANCELED, a streaming method's end callback runs, and the service must
 * still finish the call (at once or when its pending raft/store work
 * answers). Everything runs on the server's loop thread. */
#ifndef GW_ETCD_INT_H
#define GW_ETCD_INT_H

#include "admin/etcd.h"
#include "admin/etcd.pb-c.h"
#include "lib/arena.h"
#include "lib/buf.h"
#include "lib/cidr.h"
#include "lib/connlimit.h"
#include "lib/list.h"

#include <cjson/cJSON.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct gw_httpd;
struct gw_http_req;
struct gw_raft_status;

/* ---- arena: many small allocations freed at once (lib/arena.h) ---- */
struct gw_etcd__arena {
	struct gw_arena a; /* owns every chunk */
};
static inline void gw_etcd__arena_init(struct gw_etcd__arena *a)
{
	gw_arena_init(&a->a);
}
/* Zeroed, 16-byte aligned memory valid until gw_etcd__arena_free; NULL when
 * out of memory. */
static inline void *gw_etcd__arena_alloc(struct gw_etcd__arena *a, size_t n)
{
	return gw_arena_alloc(&a->a, n);
}
static inline void gw_etcd__arena_free(struct gw_etcd__arena *a)
{
	gw_arena_close(&a->a);
}
/* A protobuf-c allocator drawing from @a (free is a no-op). */
void gw_etcd__arena_allocator(struct gw_etcd__arena *a, ProtobufCAllocator *out);

/* ---- protobuf helpers ---- */
/* Decode @len bytes as @desc into @a. GW_EPROTO for bytes that are not a
 * valid message (including nesting deeper than 64 levels, refused before
 * protobuf-c recurses), GW_ENOMEM. */
int gw_etcd__pb_decode(const ProtobufCMessageDescriptor *desc, const void *p, size_t len,
		       struct gw_etcd__arena *a, ProtobufCMessage **out);
/* Check wire-format well-formedness and nesting depth of @len bytes. */
int gw_etcd__pb_check(const ProtobufCMessageDescriptor *desc, const uint8_t *p, size_t len,
		      int depth);

/* ---- gRPC length-prefixed framing ---- */
#define GW_ETCD__GRPC_PREFIX 5
/* Look at the start of @p: 0 with the message body in *msg and *msg_len and the
 * bytes it takes in *used; GW_EAGAIN if incomplete; GW_ELIMIT if the
 * declared length is over @max; GW_EPROTO for a compressed message (the
 * server never offers compression). */
int gw_etcd__grpc_unframe(const char *p, size_t len, size_t max, const char **msg, size_t *msg_len,
			  size_t *used);
/* Append @m, length-prefixed, to @out. 0 or GW_ENOMEM. */
int gw_etcd__grpc_frame(struct gw_buf *out, const ProtobufCMessage *m);

/* ---- JSON mapping (proto3 JSON as etcd's grpc-gateway speaks it) ---- */
/* Message -> JSON object: proto field names, int64 as strings, bytes as
 * base64, enums by name, default values left out. NULL when out of memory. */
cJSON *gw_etcd__pb_to_json(const ProtobufCMessage *m);
/* JSON object -> message allocated in @a. Field names in proto or
 * lowerCamel form; integers as numbers or strings; enums by name or number;
 * bytes as standard or URL-safe base64; unknown fields ignored. GW_EINVAL
 * with a reason in @why, or GW_ENOMEM. */
int gw_etcd__json_to_pb(const cJSON *j, const ProtobufCMessageDescriptor *desc,
			struct gw_etcd__arena *a, ProtobufCMessage **out, char *why, size_t whylen);
/* Base64 (standard alphabet, padded). @out needs 4*((n+2)/3)+1 bytes. */
size_t gw_etcd__b64_encode(const uint8_t *p, size_t n, char *out);
/* Standard or URL-safe alphabet, padding optional. Returns the decoded
 * length or -1. @out needs 3*(n/4)+3 bytes. */
long gw_etcd__b64_decode(const char *s, size_t n, uint8_t *out);

/* ---- status mapping: the one place gw errors become gRPC/HTTP ---- */
enum gw_etcd__grpc_code {
	GW_GRPC_OK = 0,
	GW_GRPC_CANCELED = 1,
	GW_GRPC_UNKNOWN = 2,
	GW_GRPC_INVALID_ARGUMENT = 3,
	GW_GRPC_DEADLINE_EXCEEDED = 4,
	GW_GRPC_NOT_FOUND = 5,
	GW_GRPC_ALREADY_EXISTS = 6,
	GW_GRPC_PERMISSION_DENIED = 7,
	GW_GRPC_RESOURCE_EXHAUSTED = 8,
	GW_GRPC_FAILED_PRECONDITION = 9,
	GW_GRPC_OUT_OF_RANGE = 11,
	GW_GRPC_UNIMPLEMENTED = 12,
	GW_GRPC_INTERNAL = 13,
	GW_GRPC_UNAVAILABLE = 14,
	GW_GRPC_UNAUTHENTICATED = 16,
};
struct gw_etcd__status {
	int code;        /* gRPC status code */
	int http;        /* HTTP status of the JSON gateway */
	const char *msg; /* etcd's message (static) */
};
/* Status for gw error @err (0 = OK). Never fails: unknown errors map to
 * UNKNOWN/500 with gw_strerror's text. */
struct gw_etcd__status gw_etcd__status_of(int err);
/* HTTP status the JSON gateway uses for a gRPC code. */
int gw_etcd__http_of_code(int code);

/* ---- access control: etcd auth (etcd_authz.c decides, etcd_auth.c serves) ---- */
#define GW_ETCD_AUTH_MAX_NAME       128     /* bytes of a user or role name */
#define GW_ETCD_AUTH_MAX_PASSWORD   256     /* bytes of a password */
#define GW_ETCD_AUTH_MAX_USER_ROLES 64      /* roles granted to one user */
#define GW_ETCD_AUTH_MAX_PERMS      128     /* permissions of one role */
#define GW_ETCD_AUTH_MAX_USERS      1024    /* users (and, separately, roles) */
#define GW_ETCD_AUTH_PBKDF2_ITER    100000u /* PBKDF2-HMAC-SHA256 rounds of new hashes */
#define GW_ETCD_AUTH_KDF_THREADS    2u      /* hashes on libuv's pool at once (raft uses it) */
#define GW_ETCD_AUTH_MAX_KDF        32u     /* hashes waiting at once; more: too many requests */
#define GW_ETCD__TOKEN_KEY          32      /* HMAC key bytes */
#define GW_ETCD__TOKEN_MAX          512     /* a token's text, with its NUL */
#define GW_ETCD__AUTH_META          "etcdauth/"

/* Who is at the other end of a connection, as the transport saw it: the
 * client's address (for TLS the original TCP peer, not the socketpair) and,
 * when the TLS listener verified a client certificate, its CN. */
struct gw_etcd__peer {
	struct sockaddr_storage addr;
	bool cert;                          /* a client certificate was verified */
	char cn[GW_ETCD_AUTH_MAX_NAME + 1]; /* its subject CN ("" = none) */
};

enum { GW_ETCD__PERM_READ = 0, GW_ETCD__PERM_WRITE = 1, GW_ETCD__PERM_READWRITE = 2 };

/* One key-range permission (bytes not NUL-terminated, owned elsewhere). */
struct gw_etcd__perm {
	int type; /* GW_ETCD__PERM_* */
	const char *key;
	size_t key_len;
	const char *end; /* range_end with etcd's conventions; NULL/0 = the key */
	size_t end_len;
};

/* Access a method needs when auth is enabled. */
enum gw_etcd__access {
	GW_ETCD__ACC_ROOT = 0, /* the root role (default: unlisted means root) */
	GW_ETCD__ACC_ANY,      /* anyone, even unauthenticated (Authenticate) */
	GW_ETCD__ACC_OPEN,     /* anyone who passed the connection check (MemberList) */
	GW_ETCD__ACC_USER,     /* any authenticated user (leases) */
	GW_ETCD__ACC_KEYS,     /* key-range permissions of the request (KV, Watch) */
};

/* True when @perms (of @n) grant @want (READ or WRITE) over the whole range
 * [key, end) (etcd's conventions: end empty = the key, "\0" = to the end). */
bool gw_etcd__perm_allows(const struct gw_etcd__perm *perms, size_t n, int want, const char *key,
			  size_t key_len, const char *end, size_t end_len);
/* Token of @user (generation @gen) valid until @expiry_ms (Unix ms), signed
 * with @key, into @out (GW_ETCD__TOKEN_MAX). 0, GW_EINVAL, GW_EIO. */
int gw_etcd__token_sign(const uint8_t key[GW_ETCD__TOKEN_KEY], const char *user, uint64_t gen,
			uint64_t expiry_ms, char *out, size_t outlen);
/* Check @len bytes of @tok against @key at @now_ms: 0 with the user name in
 * @user (NUL-terminated, @userlen > the name) and its generation in *gen;
 * GW_EINVALIDTOKEN when malformed, tampered with or expired. The caller
 * compares *gen with the user's record (stale after a password change). */
int gw_etcd__token_verify(const uint8_t key[GW_ETCD__TOKEN_KEY], const char *tok, size_t len,
			  uint64_t now_ms, char *user, size_t userlen, uint64_t *gen);
/* Slow salted hash of a password into @out (>= 128 bytes). 0, GW_EINVAL,
 * GW_EIO. Thread-safe (runs on libuv's pool). */
int gw_etcd__pw_hash(const char *pw, size_t len, unsigned iter, char *out, size_t outlen);
/* True when @pw matches the stored hash (constant-time compare). */
bool gw_etcd__pw_check(const char *pw, size_t len, const char *stored);
/* 0 for a valid user/role name; @empty_err when empty, GW_ELIMIT when too
 * long, GW_EINVAL with control characters. */
int gw_etcd__auth_name_check(const char *name, int empty_err);
/* Meta key of record @kind ("user", "role") @name into @out. */
void gw_etcd__auth_meta_key(const char *kind, const char *name, char *out, size_t n);
/* Record @kind/@name as JSON (caller frees with cJSON_Delete): 0 or
 * GW_ENOTFOUND (absent or malformed). */
int gw_etcd__auth_load(struct gw_store *s, const char *kind, const char *name, cJSON **out);
/* Whether auth is on, and the cluster's token key (@key may be NULL);
 * cached until the store applies another entry. Returns 0. */
int gw_etcd__auth_state(struct gw_etcd *srv, bool *on, uint8_t key[GW_ETCD__TOKEN_KEY]);
/* The state record's JSON for @on (with a fresh random key when on);
 * malloc'ed into *out. 0, GW_EIO (no randomness), GW_ENOMEM. */
int gw_etcd__auth_state_json(bool on, char **out);
/* A user record's generation (0 if none) / set a fresh random one. */
uint64_t gw_etcd__auth_user_gen(const cJSON *user);
int gw_etcd__auth_new_gen(cJSON *user);
bool gw_etcd__auth_has_role(const cJSON *user, const char *role);
/* Permissions of role @role / of every role of @user, decoded into @a.
 * Deleted roles give none. 0, GW_ENOTFOUND (role), GW_ENOMEM. */
int gw_etcd__auth_role_perms(struct gw_store *s, const char *role, struct gw_etcd__arena *a,
			     struct gw_etcd__perm **perms, size_t *n);
int gw_etcd__auth_user_perms(struct gw_store *s, const cJSON *user, struct gw_etcd__arena *a,
			     struct gw_etcd__perm **perms, size_t *n);
/* Names of every @kind record, sorted; free with gw_etcd__auth_list_free. */
int gw_etcd__auth_list(struct gw_store *s, const char *kind, char ***names, size_t *n);
void gw_etcd__auth_list_free(char **names, size_t n);

/* ---- the server ---- */
struct gw_etcd__conn;  /* an HTTP/2 connection (etcd_h2.c) */
struct gw_etcd__sniff; /* a connection whose protocol is not known yet (etcd.c) */

struct gw_etcd {
	uv_loop_t *loop;
	struct gw_etcd_opts opts;        /* copy, defaults filled in */
	uv_tcp_t *listener;              /* owned; freed in its close callback */
	int port;                        /* bound port */
	struct gw_httpd *httpd;          /* JSON gateway; adopts HTTP/1.x connections */
	struct gw_httpd *httpd_internal; /* TLS on: cleartext HTTP/1.x, internal routes only */
	struct ssl_ctx_st *ssl_ctx;      /* TLS on (etcd_tls.c); NULL = cleartext */
	uv_idle_t *flush_idle;           /* deferred HTTP/2 writes; freed in its close callback */
	struct gw_list conns;            /* live HTTP/2 connections (gw_etcd__conn) */
	struct gw_list sniffs;           /* connections still being sniffed (gw_etcd__sniff) */
	unsigned n_sniff;                /* sniff structs not yet freed */
	struct gw_connlimit sniff_lim;   /* connections being sniffed */
	struct gw_connlimit h2_lim;      /* HTTP/2 connections */
	unsigned n_calls;                /* live calls: the server is freed when 0 after stop */
	int closing;                     /* handles whose close is pending during stop */
	bool stopping;
	void (*stop_cb)(void *data);
	bool in_stop_cb; /* gw_etcd__maybe_free: the stop callback runs (it may end calls) */
	void *stop_data;
	struct gw_raft_status *status; /* last gw_raft_status (large: heap) */
	uint64_t status_at;            /* uv_now() when it was taken */
	bool status_valid;
	uint64_t standalone_id;     /* member/cluster id without raft */
	unsigned audit_seq;         /* next audit slot of this node (apisix_audit.c) */
	struct gw_cidr trusted[16]; /* opts.trusted_cidrs, parsed */
	int n_trusted;
	bool auth_cache_valid;                /* auth_on/auth_key read at auth_cache_idx */
	uint64_t auth_cache_idx;              /* store applied index of that read */
	bool auth_on;                         /* etcd auth is enabled */
	uint8_t auth_key[GW_ETCD__TOKEN_KEY]; /* the cluster's token key while on */
	unsigned kdf_inflight;                /* password hashes on the thread pool */
	unsigned kdf_waiting;                 /* hashes waiting for a pool slot */
	struct gw_list kdf_wait;              /* of struct gw_etcd__kdf (link), FIFO */
	char url[96];                         /* "http://<listen address>" */
};

/* ---- calls ---- */
struct gw_etcd__call;
struct gw_etcd__method;

struct gw_etcd__tp_ops {
	/* Serialize and queue @m now (the caller frees it after). 0, GW_ELIMIT
	 * when the stream's buffer is over its bound, GW_ENOMEM. */
	int (*send)(struct gw_etcd__call *c, const ProtobufCMessage *m);
	/* End the call with @st (code 0 = OK); the transport must drop its
	 * pointer to the call, which is freed right after. */
	void (*finish)(struct gw_etcd__call *c, const struct gw_etcd__status *st);
	/* Response bytes of the call queued and not yet written (pacing of
	 * large streams); NULL = not known. */
	size_t (*queued)(const struct gw_etcd__call *c);
};

struct gw_etcd__call {
	struct gw_etcd *srv;
	const struct gw_etcd__method *m;
	const struct gw_etcd__tp_ops *ops;
	void *tp;                    /* transport's stream/request; NULL once gone */
	bool gone;                   /* the client went away */
	bool ended;                  /* streaming: end callback ran */
	bool delivered;              /* unary: handed to its service (which now owns it) */
	unsigned timeout_ms;         /* grpc-timeout, or 0 */
	bool require_leader;         /* client metadata hasleader: true */
	unsigned *conn_watchers;     /* watchers on this connection; NULL once gone */
	unsigned own_watchers;       /* counter used when the transport has none */
	struct gw_etcd__arena arena; /* the unary request and its decoding */
	void *svc;                   /* service state of a streaming call */
	int pending;                 /* service: raft/store requests in flight */
	int svc_err;                 /* service: first error of a streaming call */
	int fail_code;               /* transport failed a streaming call: its status */
	char fail_msg[128];
	/* access control, set by the transport (gw_etcd__call_peer) */
	bool trusted;                         /* client on this host (--etcd-trusted-cidr) */
	bool cert;                            /* verified client certificate */
	char cn[GW_ETCD_AUTH_MAX_NAME + 1];   /* its CN */
	char *token;                          /* "token" metadata / Authorization, or NULL */
	bool resolved;                        /* user/root below are known */
	char user[GW_ETCD_AUTH_MAX_NAME + 1]; /* authenticated user, "" = none */
	bool root;                            /* the user has the root role */
	const ProtobufCMessage *held;         /* linearize: the request during the barrier */
};

struct gw_etcd__method {
	const char *grpc_path;                /* "/etcdserverpb.KV/Range" */
	const char *json_path[2];             /* "/kv/range" (after /v3) or NULL */
	const ProtobufCMessageDescriptor *in; /* request type */
	bool streaming;                       /* bidi stream */
	void (*unary)(struct gw_etcd__call *c, const ProtobufCMessage *req);
	/* Streaming: one request message; must not finish the call. */
	void (*on_msg)(struct gw_etcd__call *c, const ProtobufCMessage *req);
	/* Streaming: the client half-closed (@gone false) or went away. */
	void (*on_end)(struct gw_etcd__call *c, bool gone);
	int access;     /* enum gw_etcd__access: what it needs with auth on */
	bool linearize; /* unary: run after a raft read barrier (reads its own writes) */
};

/* Method of a gRPC path or of a JSON path (after "/v3" or "/v3beta"); NULL
 * if unknown. */
const struct gw_etcd__method *gw_etcd__method_grpc(const char *path);
const struct gw_etcd__method *gw_etcd__method_json(const char *path);

/* Create a call (transports). NULL when out of memory. */
struct gw_etcd__call *gw_etcd__call_new(struct gw_etcd *srv, const struct gw_etcd__method *m,
					const struct gw_etcd__tp_ops *ops, void *tp);
/* Record who sent the call: @peer (the connection's) and the token given
 * with it (@token of @len bytes, may be NULL; copied into the arena, at most
 * GW_ETCD__TOKEN_MAX). Transports call it right after gw_etcd__call_new. */
void gw_etcd__call_peer(struct gw_etcd__call *c, const struct gw_etcd__peer *peer,
			const char *token, size_t len);
/* Decide whether @req of call @c may run (etcd_auth.c): 0, or the gw
 * error to answer with (GW_EOFFHOST, GW_EUSEREMPTY, GW_EINVALIDTOKEN,
 * GW_EPERM). Fills c->user and c->root. */
int gw_etcd__authorize(struct gw_etcd__call *c, const ProtobufCMessage *req);
/* Deliver one request message, if the gate (gw_etcd__authorize) lets it
 * through: unary -> m->unary (once); streaming -> m->on_msg. The message may
 * be freed after it returns for streaming calls; a unary request must live
 * in c->arena. Returns false when a streaming call was refused and ended
 * (freed) here; a refused watch create is answered canceled and the stream
 * goes on (true). */
bool gw_etcd__call_msg(struct gw_etcd__call *c, const ProtobufCMessage *req);
/* The client half-closed a streaming call. */
void gw_etcd__call_half_close(struct gw_etcd__call *c);
/* The transport's side is gone (reset, disconnect); see the top. */
void gw_etcd__call_gone(struct gw_etcd__call *c);

/* The transport cannot go on with the call (bad message, too large): a
 * unary call not yet delivered ends now with @code/@msg (one already
 * delivered must be detached with gw_etcd__call_gone instead); a streaming call's service is told
 * to end (its end callback runs as for a departed client) and the status is sent when it finishes.
 */
void gw_etcd__call_fail(struct gw_etcd__call *c, int code, const char *msg);

/* Services. */
int gw_etcd__send(struct gw_etcd__call *c, const ProtobufCMessage *m);
/* End with a gw error (0 = OK); frees @c. */
void gw_etcd__finish(struct gw_etcd__call *c, int err);
/* An asynchronous step of @c (counted in c->pending) ended with @err:
 * uncount it; false when the call is over (the client went away: finished
 * with GW_ECANCELED; @err: finished with it), true to go on. */
bool gw_etcd__resume(struct gw_etcd__call *c, int err);
/* End with an explicit gRPC code and message (for answers that are no gw
 * error, e.g. MemberAdd); frees @c. */
void gw_etcd__finish_status(struct gw_etcd__call *c, int code, const char *msg);
/* Fill a response header for store revision @rev (0 = current). */
void gw_etcd__header(struct gw_etcd *srv, Etcdserverpb__ResponseHeader *h, int64_t rev);
/* Deadline for raft requests of this call, ms (0 = raft's default). */
unsigned gw_etcd__write_timeout(const struct gw_etcd__call *c);
unsigned gw_etcd__read_timeout(const struct gw_etcd__call *c);

/* The method table (etcd_svc.c). */
extern const struct gw_etcd__method gw_etcd__methods[];
extern const size_t gw_etcd__n_methods;

/* ---- services: what they share (etcd_svc.c) and their handlers ---- */
struct gw_store_op;
struct gw_store_result;
/* Zeroed memory for a @type from the call's arena; NULL when out of memory. */
/* @kv as a protobuf KeyValue in @a (bytes point into @kv, which must live
 * as long as the arena's use); NULL when out of memory. etcd_kv.c. */
struct gw_kv;
Etcdserverpb__KeyValue *gw_etcd__kv_of(struct gw_etcd__arena *a, const struct gw_kv *kv);
#define GW_ETCD__ALLOC(c, type) ((type *)gw_etcd__arena_alloc(&(c)->arena, sizeof(type)))
/* A response header for store revision @rev (0 = current) in the call's
 * arena; NULL when out of memory. */
Etcdserverpb__ResponseHeader *gw_etcd__svc_header(struct gw_etcd__call *c, int64_t rev);
/* A header carrying only the revision (sub-responses of a txn). */
Etcdserverpb__ResponseHeader *gw_etcd__rev_header(struct gw_etcd__call *c, int64_t rev);
/* A copy of @s in the call's arena; NULL when out of memory. */
char *gw_etcd__strdup(struct gw_etcd__call *c, const char *s);
/* Send @m (a message in the call's arena) and end the call (unary
 * success); end with GW_ENOMEM when @m is NULL. Frees @c. */
void gw_etcd__reply(struct gw_etcd__call *c, void *m);
/* What a proposal answers: the committed result (freed after the callback
 * returns; NULL with an error) or @err. Must finish the call. */
typedef void (*gw_etcd__done_cb)(struct gw_etcd__call *c, int err, struct gw_store_result *res);
/* Propose @op (copied); @cb runs once, perhaps before this returns (without
 * a raft, the local store applies it at once). */
void gw_etcd__propose(struct gw_etcd__call *c, const struct gw_store_op *op, gw_etcd__done_cb cb);

/* KV (etcd_kv.c). */
void gw_etcd__kv_range(struct gw_etcd__call *c, const ProtobufCMessage *msg);
void gw_etcd__kv_put(struct gw_etcd__call *c, const ProtobufCMessage *msg);
void gw_etcd__kv_delete(struct gw_etcd__call *c, const ProtobufCMessage *msg);
void gw_etcd__kv_txn(struct gw_etcd__call *c, const ProtobufCMessage *msg);
void gw_etcd__kv_compact(struct gw_etcd__call *c, const ProtobufCMessage *msg);
/* Lease (etcd_lease.c); LeaseKeepAlive is a stream (on_msg, on_end). */
void gw_etcd__lease_grant(struct gw_etcd__call *c, const ProtobufCMessage *msg);
void gw_etcd__lease_revoke(struct gw_etcd__call *c, const ProtobufCMessage *msg);
void gw_etcd__lease_ka_msg(struct gw_etcd__call *c, const ProtobufCMessage *msg);
void gw_etcd__lease_ka_end(struct gw_etcd__call *c, bool gone);
void gw_etcd__lease_ttl(struct gw_etcd__call *c, const ProtobufCMessage *msg);
void gw_etcd__lease_leases(struct gw_etcd__call *c, const ProtobufCMessage *msg);
/* Cluster and Maintenance (etcd_cluster.c). */
void gw_etcd__member_list(struct gw_etcd__call *c, const ProtobufCMessage *msg);
void gw_etcd__member_add(struct gw_etcd__call *c, const ProtobufCMessage *msg);
void gw_etcd__member_remove(struct gw_etcd__call *c, const ProtobufCMessage *msg);
void gw_etcd__mt_status(struct gw_etcd__call *c, const ProtobufCMessage *msg);
void gw_etcd__mt_alarm(struct gw_etcd__call *c, const ProtobufCMessage *msg);
void gw_etcd__mt_defrag(struct gw_etcd__call *c, const ProtobufCMessage *msg);
void gw_etcd__mt_move_leader(struct gw_etcd__call *c, const ProtobufCMessage *msg);
/* Hash / HashKV: the store's keyspace checksum (gw_store_hash_kv); Hash
 * also covers the leases. */
void gw_etcd__mt_hash(struct gw_etcd__call *c, const ProtobufCMessage *msg);
void gw_etcd__mt_hash_kv(struct gw_etcd__call *c, const ProtobufCMessage *msg);
/* Snapshot: a server stream of the backup file (etcd_maint.c). */
void gw_etcd__mt_snapshot_msg(struct gw_etcd__call *c, const ProtobufCMessage *msg);
void gw_etcd__mt_snapshot_end(struct gw_etcd__call *c, bool gone);

/* Auth service (etcd_auth.c). */
void gw_etcd__auth_enable(struct gw_etcd__call *c, const ProtobufCMessage *msg);
void gw_etcd__auth_disable(struct gw_etcd__call *c, const ProtobufCMessage *msg);
void gw_etcd__auth_authenticate(struct gw_etcd__call *c, const ProtobufCMessage *msg);
void gw_etcd__auth_user_add(struct gw_etcd__call *c, const ProtobufCMessage *msg);
void gw_etcd__auth_user_get(struct gw_etcd__call *c, const ProtobufCMessage *msg);
void gw_etcd__auth_user_list(struct gw_etcd__call *c, const ProtobufCMessage *msg);
void gw_etcd__auth_user_delete(struct gw_etcd__call *c, const ProtobufCMessage *msg);
void gw_etcd__auth_user_passwd(struct gw_etcd__call *c, const ProtobufCMessage *msg);
void gw_etcd__auth_user_grant(struct gw_etcd__call *c, const ProtobufCMessage *msg);
void gw_etcd__auth_user_revoke(struct gw_etcd__call *c, const ProtobufCMessage *msg);
void gw_etcd__auth_role_add(struct gw_etcd__call *c, const ProtobufCMessage *msg);
void gw_etcd__auth_role_get(struct gw_etcd__call *c, const ProtobufCMessage *msg);
void gw_etcd__auth_role_list(struct gw_etcd__call *c, const ProtobufCMessage *msg);
void gw_etcd__auth_role_delete(struct gw_etcd__call *c, const ProtobufCMessage *msg);
void gw_etcd__auth_role_grant(struct gw_etcd__call *c, const ProtobufCMessage *msg);
void gw_etcd__auth_role_revoke(struct gw_etcd__call *c, const ProtobufCMessage *msg);
/* Shared by the Auth handlers (etcd_auth.c). */
struct gw_etcd__kdf {
	uv_work_t w;
	struct gw_etcd__call *c;
	char name[GW_ETCD_AUTH_MAX_NAME + 1];
	char pw[GW_ETCD_AUTH_MAX_PASSWORD + 1];
	size_t pw_len;
	char stored[160]; /* check: the stored hash; hash: the new one */
	bool check;       /* check a password, or hash a new one */
	bool exists;      /* check: the user exists and has a password */
	bool ok;          /* check: matched; hash: made */
	uint64_t gen;     /* check: the user's generation when loaded */
	void (*then)(struct gw_etcd__kdf *k);
	struct gw_list link; /* in srv->kdf_wait while waiting */
};
/* @check: check @pw against @stored (NULL: no such user or no password,
 * compared against a dummy so it takes as long), else hash @pw into
 * k->stored; on the thread pool. @then
 * runs on the loop with the result unless the client left (the call then
 * ends). Finishes the call itself on a too long password or no memory. */
void gw_etcd__auth_kdf(struct gw_etcd__call *c, const char *name, const char *pw, bool check,
		       const char *stored, uint64_t gen, void (*then)(struct gw_etcd__kdf *k));
/* Answer an auth write: @err, or a header-only response at @res's revision. */
void gw_etcd__auth_reply(struct gw_etcd__call *c, int err, struct gw_store_result *res);
/* Propose record @kind/@name = @rec (NULL deletes; kind "state" ignores
 * @name); @cb answers. @rec stays the caller's. */
void gw_etcd__auth_put(struct gw_etcd__call *c, const char *kind, const char *name, cJSON *rec,
		       gw_etcd__done_cb cb);
/* End with INVALID_ARGUMENT naming a bad @what name / a count over @limit. */
void gw_etcd__auth_bad_name(struct gw_etcd__call *c, const char *what, int err);
void gw_etcd__auth_too_many(struct gw_etcd__call *c, const char *what, int limit);
/* Records of @kind ("user", "role"). */
size_t gw_etcd__auth_count(struct gw_etcd__call *c, const char *kind);
/* Watch create refused by the gate: answer it canceled with @err's
 * message, as etcd does (etcd_auth.c). */
void gw_etcd__auth_watch_denied(struct gw_etcd__call *c, const ProtobufCMessage *req, int err);

/* Watch service (etcd_watch.c). */
void gw_etcd__watch_msg(struct gw_etcd__call *c, const ProtobufCMessage *req);
void gw_etcd__watch_end(struct gw_etcd__call *c, bool gone);

/* HTTP/2 transport (etcd_h2.c): take an accepted connection whose first
 * @n bytes (the preface, or part of it) were already read. Takes @tcp
 * (heap-allocated, freed after close); @tls (copied; NULL = a direct TCP
 * client) says who is behind a TLS terminator's socketpair. */
void gw_etcd__h2_adopt(struct gw_etcd *srv, uv_tcp_t *tcp, const char *initial, size_t n,
		       const struct gw_etcd__peer *tls);
/* Idle callback: write what the HTTP/2 connections queued (etcd_h2.c). */
void gw_etcd__h2_flush_all(uv_idle_t *idle);
/* Close every HTTP/2 connection (stop). */
void gw_etcd__h2_close_all(struct gw_etcd *srv);
/* The TLS terminator's preamble on a trusted connection, before any
 * plaintext: the 8-byte tag (host order; raft/endpoints.h), the client's
 * struct sockaddr_storage, then 1 byte (1: a client certificate of the
 * user's client CA was verified) and that certificate's CN, NUL-padded. */
#define GW_ETCD__TLS_PREAMBLE (8 + sizeof(struct sockaddr_storage) + 1 + GW_ETCD_AUTH_MAX_NAME + 1)
/* Start protocol sniffing on an accepted (or TLS-terminated: @trusted, and
 * then the terminator's preamble comes first, see etcd_tls.c)
 * plaintext connection (etcd.c). Takes @tcp. */
void gw_etcd__plain_adopt(struct gw_etcd *srv, uv_tcp_t *tcp, bool trusted);
/* True when the listener takes TLS: a user certificate, or this member's
 * (raft's peer TLS). */
int gw_etcd__tls_has(struct gw_etcd *srv);
/* TLS (etcd_tls.c): build srv->ssl_ctx from the options (0 with none
 * configured; GW_EINVAL with the reason logged), free it, and take a
 * connection whose first bytes (@initial) began a TLS handshake. */
int gw_etcd__tls_init(struct gw_etcd *srv);
void gw_etcd__tls_free(struct gw_etcd *srv);
void gw_etcd__tls_adopt(struct gw_etcd *srv, uv_tcp_t *tcp, const char *initial, size_t n);
/* Admit @tcp under @lim (one of srv's caps) by its peer address: true, or
 * false when refused (logged, counted; the caller closes @tcp) (etcd.c). */
bool gw_etcd__admit(struct gw_etcd *srv, struct gw_connlimit *lim, uv_tcp_t *tcp);
/* Free the server if it is stopped and nothing refers to it any more. */
void gw_etcd__maybe_free(struct gw_etcd *srv);

#endif
