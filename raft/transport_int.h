/* transport_int.h: the pieces transport.c (connections, relay, libraft's
 * raft_uv_transport methods, plain TCP) shares with transport_tls.c (the
 * TLS 1.3 peer stream). Only these two files and their tests include it.
 * Threads: the control loop only. */
#ifndef GW_RAFT_TRANSPORT_INT_H
#define GW_RAFT_TRANSPORT_INT_H

#include "lib/list.h"
#include "lib/tlsbio.h"
#include "raft/transport.h"

#define HIGH_WATER   (1u << 20) /* stop reading one side while the other holds this */
#define TICK_MS      100        /* stall, connect and handshake checks */
#define LOG_EVERY_MS 10000      /* one line per kind of trouble per this */

struct conn;

/* The peer-facing byte stream of a connection: plain TCP (transport.c) or
 * TLS 1.3 with certificates of the cluster CA both ways (transport_tls.c),
 * over the same uv_tcp_t:
 *   start    begins reading (and, for TLS, the handshake) and calls
 *            gw_raft__conn_peer_ready once the stream is usable (for TLS:
 *            the certificate chains to the cluster CA and names the right
 *            member);
 *   send     writes (encrypts first); decrypted bytes from the peer go to
 *            gw_raft__conn_from_peer, so the frame checker sees plaintext;
 *   pending  counts bytes (ciphertext) not yet handed to the kernel;
 *   auth_id  the raft id bound in the peer certificate's SAN (0 = not
 *            authenticated: plain TCP). gw_raft__conn_from_peer refuses an
 *            inbound handshake whose id differs from it, and refuses a term
 *            jump from an authenticated peer;
 *   release  frees what start set up (called once, when the conn is freed). */
struct peer_ops {
	const char *name;
	/* Start reading from the peer. 0 or a libuv error. */
	int (*start)(struct conn *c);
	/* Write @len bytes at @data to the peer (copied if they cannot be
	 * written at once). 0 or a libuv error (then the caller closes). */
	int (*send)(struct conn *c, const char *data, size_t len);
	/* Bytes accepted by send and not yet in the kernel. */
	size_t (*pending)(struct conn *c);
	/* Stop / resume reading from the peer (backpressure). */
	void (*pause)(struct conn *c, bool paused);
	uint64_t (*auth_id)(struct conn *c);
	void (*release)(struct conn *c);
};

extern const struct peer_ops gw_raft__tls_ops;

/* Kinds of log lines, each rate-limited on its own: refusals one kind per
 * reason (LOG_REFUSED + reason). */
enum { LOG_TERM, LOG_STALL, LOG_OUT, LOG_REFUSED, LOG_N = LOG_REFUSED + GW_RAFT__REF_N };

#define HEARD_MAX 16 /* peers whose last message time is kept (oldest replaced) */

struct transport {
	struct raft_uv_transport *t;
	uv_loop_t *loop;
	struct gw_raft__transport_opts o;
	uint64_t id;                           /* this node, from init */
	char address[GW_RAFT__HS_MAX_ADDRESS]; /* this node's raft address */
	uv_tcp_t listener;
	uv_timer_t tick;
	bool listener_open, tick_open;
	raft_uv_accept_cb accept_cb;
	struct gw_list conns; /* struct conn */
	int n_unready;        /* inbound conns without a complete handshake */
	bool closing;
	raft_uv_transport_close_cb close_cb;
	struct gw_raft__transport_stats st;
	uint64_t log_next[LOG_N]; /* rate limits: enum above */
	uint64_t log_skipped[LOG_N];
	struct {
		uint64_t id, at; /* a peer, uv_now when bytes last came from it */
	} heard[HEARD_MAX];
};

struct conn {
	struct gw_list link; /* in transport.conns */
	struct transport *tr;
	const struct peer_ops *ops;
	bool inbound;
	uv_tcp_t tcp;        /* the peer */
	uv_pipe_t local;     /* our end of the socketpair */
	uv_pipe_t *raft_end; /* libraft's end (raft_malloc'ed); ours until handed */
	bool local_open, handed, closing, ready;
	bool peer_paused, local_paused;
	int handles;                  /* open handles of this conn */
	uint64_t started;             /* uv_now at creation */
	uint64_t written;             /* bytes handed to the kernel for the peer */
	uint64_t acked;               /* of which acknowledged at the last check */
	uint64_t progress_at;         /* uv_now of the last progress */
	unsigned stall_ms;            /* no progress for this long: dropped */
	struct gw_raft__frame frame;  /* inbound only */
	char *rbuf_peer, *rbuf_local; /* read buffers (READ_CHUNK, malloc'ed lazily) */
	/* TLS (transport_tls.c) */
	struct gw_tlsbio tls; /* tls.ssl NULL until started */
	uint64_t auth;        /* the member id of the peer's certificate, 0 = none */
	uint64_t peer_bytes;  /* bytes received before the handshake completed */
	uint8_t first_byte;   /* the first of them (is it a TLS record?) */
	/* outbound */
	struct raft_uv_connect *req;
	raft_uv_connect_cb cb;
	int status; /* for cb when the conn ends before handing over */
	uv_connect_t connect;
	uint64_t id;   /* the peer we dialled */
	char peer[64]; /* "ip:port" for logs */
};

static inline uint64_t now_ms(struct transport *tr)
{
	return uv_now(tr->loop);
}

/* Rate-limited logging: true when @kind may log now; *@skipped gets how
 * many lines of the kind were suppressed since the last one. */
bool gw_raft__tr_may_log(struct transport *tr, int kind, uint64_t *skipped);

/* libuv alloc callback for reads from the peer (the conn's buffer). */
void gw_raft__conn_alloc_peer(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
/* Write @len bytes to the peer's socket (counted for stall detection);
 * what the kernel does not take at once is copied and queued. 0 or a
 * libuv error. */
int gw_raft__conn_write_peer(struct conn *c, const char *p, size_t len);

/* Plaintext bytes from the peer: checked, then passed to libraft. May close
 * @c (c->closing tells). */
void gw_raft__conn_from_peer(struct conn *c, const char *data, size_t len);
/* Ask the kernel to acknowledge at once what @c's socket received (lib/addr.h
 * gw_addr_quickack): after every read of peer bytes. */
void gw_raft__conn_quickack(struct conn *c);
/* The peer stream is usable (authenticated, for TLS). Outbound: sends
 * raft's handshake and hands libraft its end. May close @c. */
void gw_raft__conn_peer_ready(struct conn *c);
/* Close every handle of @c; it is freed once they are closed. Idempotent;
 * @c stays valid until the loop runs the close callbacks. */
void gw_raft__conn_close(struct conn *c, int status);
/* Count an inbound refusal for reason @why (frame error or peer refusal),
 * log it (rate-limited, with @detail when not NULL) and close @c. */
void gw_raft__conn_refuse(struct conn *c, int why, const char *detail);

#endif
