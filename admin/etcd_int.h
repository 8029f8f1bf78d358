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
	void *stop_data;
	struct gw_raft_status *status; /* last gw_raft_status (large: heap) */
	uint64_t status_at;            /* uv_now() when it was taken */
	bool status_valid;
	uint64_t standalone_id; /* member/cluster id without raft */
	char url[96];           /* "http://<listen address>" */
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
};

/* Method of a gRPC path or of a JSON path (after "/v3" or "/v3beta"); NULL
 * if unknown. */
const struct gw_etcd__method *gw_etcd__method_grpc(const char *path);
const struct gw_etcd__method *gw_etcd__method_json(const char *path);

/* Create a call (transports). NULL when out of memory. */
struct gw_etcd__call *gw_etcd__call_new(struct gw_etcd *srv, const struct gw_etcd__method *m,
					const struct gw_etcd__tp_ops *ops, void *tp);
/* Deliver one request message: unary -> m->unary (once); streaming ->
 * m->on_msg. The message may be freed after it returns for streaming calls;
 * a unary request must live in c->arena. */
void gw_etcd__call_msg(struct gw_etcd__call *c, const ProtobufCMessage *req);
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

/* Watch service (etcd_watch.c). */
void gw_etcd__watch_msg(struct gw_etcd__call *c, const ProtobufCMessage *req);
void gw_etcd__watch_end(struct gw_etcd__call *c, bool gone);

/* HTTP/2 transport (etcd_h2.c): take an accepted connection whose first
 * @n bytes (the preface, or part of it) were already read. Takes @tcp
 * (heap-allocated, freed after close). */
void gw_etcd__h2_adopt(struct gw_etcd *srv, uv_tcp_t *tcp, const char *initial, size_t n);
/* Idle callback: write what the HTTP/2 connections queued (etcd_h2.c). */
void gw_etcd__h2_flush_all(uv_idle_t *idle);
/* Close every HTTP/2 connection (stop). */
void gw_etcd__h2_close_all(struct gw_etcd *srv);
/* The TLS terminator's preamble on a trusted connection: the 8-byte tag
 * (host order), then the client's struct sockaddr_storage. */
#define GW_ETCD__TLS_PREAMBLE (8 + sizeof(struct sockaddr_storage))
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
