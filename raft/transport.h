/* transport.h: raft/'s own raft_uv_transport (transport.c) and the inbound
 * frame checker it runs on every byte a peer sends (frame.c). Internal to
 * raft/ and its tests (raft_int.h includes it).
 *
 * The transport owns the peer TCP sockets; libraft gets one end of a
 * socketpair per connection and the transport relays bytes between the two.
 * Inbound bytes pass gw_raft__frame_feed first: a frame that is short,
 * oversized, garbage or inconsistent closes the connection before any of
 * its bytes reach libraft's decoder. Threads: the control loop only. */
#ifndef GW_RAFT_TRANSPORT_H
#define GW_RAFT_TRANSPORT_H

#include <raft.h>
#include <raft/uv.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* ---- frame.c: the wire format of libraft 0.22.1's TCP transport ------ */

/* Handshake, sent once by the connecting side: three little-endian u64
 * (protocol 1, the sender's raft id, the address length, a multiple of 8),
 * then the sender's address, NUL-terminated and zero-padded. */
#define GW_RAFT__HS_PROTOCOL    1
#define GW_RAFT__HS_MAX_ADDRESS 256 /* bytes on the wire, padding included */

/* Reasons a peer's bytes are refused: X(name, text for logs). */
#define GW_RAFT__FRAME_ERRORS(X)                                                                   \
	X(HS_PROTOCOL, "unknown handshake protocol")                                               \
	X(HS_ID, "handshake id 0")                                                                 \
	X(HS_ADDRESS_LEN, "handshake address length out of bounds")                                \
	X(HS_ADDRESS, "malformed handshake address")                                               \
	X(TYPE, "unknown message type")                                                            \
	X(PREAMBLE, "reserved preamble bytes set")                                                 \
	X(HEADER_LEN, "header size inconsistent with the message type")                            \
	X(ENTRY_COUNT, "entry count inconsistent or too large")                                    \
	X(ENTRY, "malformed entry descriptor")                                                     \
	X(TERM, "term inconsistent within the message")                                            \
	X(TERM_RANGE, "term too close to 2^64 to be usable")                                       \
	X(CANDIDATE, "vote request for another id than the handshake's")                           \
	X(TOO_LARGE, "payload over the configured maximum")                                        \
	X(CONF, "malformed configuration")                                                         \
	X(EMPTY_SNAPSHOT, "snapshot without data")

enum gw_raft__frame_err {
	GW_RAFT__FR_OK = 0,
#define GW_RAFT__FR_ENUM(name, text) GW_RAFT__FR_##name,
	GW_RAFT__FRAME_ERRORS(GW_RAFT__FR_ENUM)
#undef GW_RAFT__FR_ENUM
	    GW_RAFT__FR_N
};

/* Text of a reason (static string); also takes enum gw_raft__peer_refusal. */
const char *gw_raft__frame_strerror(int err);

struct gw_raft__frame_limits {
	uint64_t max_payload; /* bytes after an AppendEntries/InstallSnapshot header */
	uint32_t max_entries; /* entries in one AppendEntries */
	uint32_t max_conf;    /* encoded configuration in an InstallSnapshot */
};

/* Terms above this are refused: libraft does term + 1 unchecked, and a node
 * that adopted 2^64 - 1 can never elect a leader again. An honest cluster
 * never gets near it (one term per election). */
#define GW_RAFT__FRAME_MAX_TERM (UINT64_MAX - (UINT64_C(1) << 32))

/* libraft 0.22.1 sends at most 32 entries per AppendEntries by default; the
 * bound leaves room for a raised raft_set_max_inflight_entries. A snapshot
 * holds the whole store (quota 2 GiB by default): the payload bound is over
 * that. */
#define GW_RAFT__FRAME_MAX_ENTRIES 4096
#define GW_RAFT__FRAME_MAX_CONF    65536
#define GW_RAFT__FRAME_MAX_PAYLOAD (UINT64_C(3) << 30)

/* Where a RAFT_CHANGE entry lies in an AppendEntries payload. */
struct gw_raft__frame_span {
	uint64_t off;
	uint32_t len;
};

/* The state of one inbound connection's checker. Plain data: initialise
 * with gw_raft__frame_init, release with gw_raft__frame_close. */
struct gw_raft__frame {
	struct gw_raft__frame_limits lim;
	int state;                         /* enum in frame.c */
	uint8_t fixed[40];                 /* the fixed-size part being collected */
	size_t have, need;                 /* bytes of the current part collected / wanted */
	uint8_t *conf;                     /* a configuration being collected (malloc'ed) */
	struct gw_raft__frame_span *spans; /* RAFT_CHANGE entries of this message */
	size_t n_spans, cap_spans, span_at;
	uint8_t type;                          /* message being checked */
	uint64_t header_len;                   /* its header size from the preamble */
	uint64_t term;                         /* its term */
	uint64_t entries_left;                 /* AppendEntries descriptors still to come */
	uint64_t payload_left;                 /* payload bytes still to come */
	uint64_t payload_sum;                  /* AppendEntries payload announced so far */
	uint64_t peer_id;                      /* from the handshake */
	char address[GW_RAFT__HS_MAX_ADDRESS]; /* from the handshake, NUL-terminated */
	bool handshake_done;
	uint64_t ref_term;  /* set by the caller: this node's term, 0 = unknown */
	bool term_jump;     /* set when a message's term is implausible (sticky) */
	uint64_t jump_term; /* the last such term */
	uint64_t messages;  /* complete messages checked */
};

void gw_raft__frame_init(struct gw_raft__frame *f, const struct gw_raft__frame_limits *lim);
void gw_raft__frame_close(struct gw_raft__frame *f);

/* Check the next @len bytes a peer sent. Returns 0 when every byte is
 * well-formed so far, or a positive enum gw_raft__frame_err: then the
 * connection must be closed and none of these bytes passed on (the checker
 * is left in an error state). *@hs_len gets how many leading bytes of @p
 * belonged to the handshake (0 once it is done): those are consumed by the
 * transport, the rest is libraft's. A term over GW_RAFT__FRAME_MAX_TERM is
 * refused; one that jumps implausibly (more than 2^32 over ref_term) is not
 * (that needs an authenticated peer) but sets term_jump. */
int gw_raft__frame_feed(struct gw_raft__frame *f, const void *p, size_t len, size_t *hs_len);

/* True between messages (a clean place for the stream to end). */
bool gw_raft__frame_idle(const struct gw_raft__frame *f);

/* Validate an encoded raft configuration (libraft's configurationDecode
 * reads without bounds). true when safe to decode. */
bool gw_raft__frame_conf_ok(const uint8_t *p, size_t len);

/* ---- transport.c ------------------------------------------------------ */

/* Reasons an inbound connection is refused besides the frame checker's
 * (transport_tls.c): X(name, text for logs). They number on from
 * GW_RAFT__FR_N, so one array counts both. */
#define GW_RAFT__PEER_REFUSALS(X)                                                                  \
	X(TLS_PLAINTEXT, "not TLS (a plaintext raft client?)")                                     \
	X(TLS_HANDSHAKE, "TLS handshake failed (no certificate, or not of the cluster CA)")        \
	X(CERT, "the certificate names no member of this cluster")                                 \
	X(ID_MISMATCH, "the raft handshake claims another id than the certificate's")              \
	X(NOT_MEMBER, "the certificate's member is not in the cluster configuration (removed?)")   \
	X(TERM_JUMP, "a term implausibly far from ours (authenticated peer)")

enum gw_raft__peer_refusal {
	GW_RAFT__REF_FIRST = GW_RAFT__FR_N - 1,
#define GW_RAFT__REF_ENUM(name, text) GW_RAFT__REF_##name,
	GW_RAFT__PEER_REFUSALS(GW_RAFT__REF_ENUM)
#undef GW_RAFT__REF_ENUM
	    GW_RAFT__REF_N
};

struct gw_raft__transport_opts {
	unsigned stall_ms; /* drop a connection with unacknowledged bytes and no
			      progress for this long; also connect and handshake
			      timeouts and TCP_USER_TIMEOUT (the election timeout) */
	struct gw_raft__frame_limits limits;
	/* This node's current term, for the implausible-term log; NULL = none. */
	uint64_t (*term)(void *data);
	void *term_data;
	/* This member's TLS credentials (lib/peertls.h; owned by the caller,
	 * must outlive the transport); NULL = plain TCP. */
	struct gw_peertls *tls;
	/* With tls: may member @id (read from a verified certificate) talk
	 * to us? Asked after each inbound TLS handshake and, every tick, for
	 * every open inbound connection (false closes it). NULL = any member
	 * of the cluster CA. */
	bool (*allowed)(void *data, uint64_t id);
	void *allowed_data;
};

/* Counters for status pages and metrics; only ever grow. */
struct gw_raft__transport_stats {
	uint64_t accepted;  /* inbound connections that completed the handshake */
	uint64_t connected; /* outbound connections handed to libraft */
	uint64_t connect_failed;
	uint64_t refused; /* inbound connections refused (frame checker, TLS, identity) */
	uint64_t refused_by[GW_RAFT__REF_N]; /* by enum gw_raft__frame_err / peer_refusal */
	uint64_t out_tls_failed;             /* outbound TLS handshakes that failed */
	uint64_t out_wrong_peer; /* outbound peers whose certificate is not the id dialled */
	uint64_t term_jumps;     /* messages with an implausible term (logged; refused
				    when the peer is authenticated) */
	uint64_t stalled;        /* connections dropped for making no progress */
	uint64_t timed_out;      /* connects and handshakes that took too long */
	uint64_t overflow;       /* inbound connections closed at once: too many
				    without a handshake yet */
};

/* Fill @t (zeroed by the caller, version 1) with our transport on @loop.
 * 0 or GW_ENOMEM. Release with gw_raft__transport_close after libraft's
 * raft_uv_close (which closes the transport first). */
int gw_raft__transport_init(struct raft_uv_transport *t, uv_loop_t *loop,
			    const struct gw_raft__transport_opts *o);
void gw_raft__transport_close(struct raft_uv_transport *t);
/* Copy the counters of @t (zeros if @t was not set up). */
void gw_raft__transport_stats(const struct raft_uv_transport *t,
			      struct gw_raft__transport_stats *out);

/* uv_now of the last bytes that came from raft peer @id (its messages to
 * us: requests, answers to ours), 0 if none lately. Control loop. */
uint64_t gw_raft__transport_heard(const struct raft_uv_transport *t, uint64_t id);

/* Add the counters to JSON object @o (status pages): tls (bool: peers
 * authenticated by certificate), accepted, connected, connect_failed,
 * refused, term_jumps, stalled, timed_out, overflow, out_tls_failed,
 * out_wrong_peer and refused_by {reason: count} (non-zero ones, reasons in
 * lower case). */
struct cJSON;
void gw_raft__transport_json(const struct raft_uv_transport *t, struct cJSON *o);

#endif
