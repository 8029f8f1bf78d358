/* raft_int.h: internals of raft/ shared by its files and its unit tests.
 * Nothing outside raft/ and tests/unit/test_raft*.c includes this.
 *
 * Pieces: the log command codec (codec.c), the FSM glue (fsm.c), identity
 * files (identity.c) and the node's raft life cycle (raft.c); the
 * node-to-node HTTP/1.1 client is lib/httpc.h. Threads: all of
 * it runs on the control loop thread. */
#ifndef GW_RAFT_INT_H
#define GW_RAFT_INT_H

#include "lib/buf.h"
#include "lib/list.h"
#include "lib/ratelimit.h"
#include "lib/sm.h"
#include "lib/httpc.h"
#include "lib/peertls.h"
#include "raft/raft.h"
#include "raft/transport.h"
#include "store/store.h"

#include <limits.h>
#include <raft.h>
#include <raft/uv.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* ---- codec.c: log commands and results ------------------------------- */

/* Version byte that starts every encoded command and result. A decoder
 * refuses versions it does not know, so a newer node's entries are never
 * misread by an older one (they fail and are recorded as GW_EPROTO). */
#define GW_RAFT_CODEC_VERSION 1
/* Deepest nesting of txn inside txn accepted by the decoder. */
#define GW_RAFT_CODEC_MAX_DEPTH 8

/* Append the encoding of @op to @out. 0, GW_EINVAL (bad enum, NULL bytes
 * with a length, RANGE nested too deep) or GW_ENOMEM. */
int gw_raft__encode_op(const struct gw_store_op *op, struct gw_buf *out);
/* Decode @len bytes at @p into @op. Byte strings in @op point into @p, so
 * @p must outlive @op; arrays of a txn are heap-allocated: release with
 * gw_raft__op_free. Every byte is validated: 0, GW_EPROTO for malformed or
 * trailing bytes or an unknown version, GW_ENOMEM. On error @op is empty. */
int gw_raft__decode_op(const void *p, size_t len, struct gw_store_op *op);
/* Free what gw_raft__decode_op allocated (not the op itself). */
void gw_raft__op_free(struct gw_store_op *op);

/* Results travel from the leader to a follower that forwarded a proposal.
 * Decoded results own their memory the way the store's results do, so the
 * receiver releases them with gw_store_result_free. */
int gw_raft__encode_result(const struct gw_store_result *res, struct gw_buf *out);
int gw_raft__decode_result(const void *p, size_t len, struct gw_store_result *res);
/* Free a decoded result (codec tests; elsewhere gw_store_result_free, which
 * releases the same layout). */
void gw_raft__result_free(struct gw_store_result *res);

/* ---- identity.c: <data-dir>/identity and <data-dir>/join-secret ------- */

enum gw_raft__origin { GW_ORIGIN_BOOTSTRAP = 0, GW_ORIGIN_JOIN = 1 };

struct gw_raft__identity {
	uint64_t cluster_id;
	uint64_t node_id;
	enum gw_raft__origin origin; /* how this node entered the cluster */
	char secret[128];            /* the cluster's join secret */
};

/* Load the identity of @data_dir. 0; GW_ENOTFOUND when neither file exists
 * (a fresh data dir); GW_ECORRUPT (logged, naming the file) when one is
 * missing or malformed. */
int gw_raft__identity_load(const char *data_dir, struct gw_raft__identity *id);
/* Write both files atomically (temp file, fsync, rename); the secret with
 * mode 0600. 0 or GW_EIO (logged). */
int gw_raft__identity_save(const char *data_dir, const struct gw_raft__identity *id);
/* A random non-zero 63-bit id into *@out / a 32-byte secret as hex into
 * @out (@len bytes, NUL-terminated), from getrandom(2) only. 0, or GW_EIO
 * logged (naming @what, e.g. "node id") when the kernel gives no
 * randomness: the caller fails its start. */
int gw_raft__random_id(uint64_t *out, const char *what);
int gw_raft__random_secret(char *out, size_t len);

/* ---- the node-to-node HTTP/1.1 client: lib/httpc.h --------------------- */

/* ---- fsm.c ------------------------------------------------------------ */

/* Fill @fsm with the apigw FSM; @fsm->data = @r. */
void gw_raft__fsm_init(struct raft_fsm *fsm, struct gw_raft *r);

/* ---- raft.c: hooks the FSM calls -------------------------------------- */

/* The result slot of the local proposal at @index, or NULL when the entry
 * was not proposed here (a follower, a replay): then the result is dropped. */
struct gw_store_result *gw_raft__result_slot(struct gw_raft *r, uint64_t index);
/* An op was applied with @res (leases are tracked on the leader). */
void gw_raft__applied(struct gw_raft *r, const struct gw_store_op *op,
		      const struct gw_store_result *res);
struct gw_store *gw_raft__store(struct gw_raft *r);

/* The store failed to apply a committed entry (I/O: disk full beyond the
 * quota, a read-only or failing file system). Continuing would let raft
 * believe in state this node does not hold, and libraft's retry of a failed
 * apply is not safe, so this node's control plane halts: raft is closed on
 * the next tick, every raft call fails from now on, the status says so, and
 * the store stays readable (the proxy keeps serving its last config). The
 * entry and any later ones are replayed from the raft log after a restart.
 * Logged once. From the FSM callbacks; loop thread. */
void gw_raft__halt(struct gw_raft *r, int err);
bool gw_raft__halted(const struct gw_raft *r);
struct raft *gw_raft__raft(struct gw_raft *r);

/* Map a raft error code to a gw code. */
int gw_raft__err(int rv);

/* ---- the node's raft, shared by raft.c and the files it is split into -- */

#define GW_RAFT__PING_TIMEOUT_MS 800 /* pings */
/* "you were removed" notes: the removed member learns it from nothing else
 * (the leader no longer replicates to it), so the note gets time (retried
 * on connection failures within it) */
#define GW_RAFT__REMOVED_NOTE_MS    10000
#define GW_RAFT__REACHABLE_MS       3000  /* a member answered a ping this lately */
#define GW_RAFT__CONTROL_TIMEOUT_MS 10000 /* remove / leave */
#define GW_RAFT__JOIN_TIMEOUT_MS    60000 /* a join request, relayed or not */

struct gw_raft__lease {
	int64_t id;
	int64_t ttl;       /* seconds */
	uint64_t deadline; /* uv_now() ms */
	bool revoking;     /* a revoke proposal is in flight */
};

/* The leader's lease deadlines (lease.c): an unordered array. */
struct gw_raft__lease_table {
	struct gw_raft__lease *v; /* owned; realloc'ed as it grows */
	size_t n, cap;
};

struct gw_raft__health {
	uint64_t id;
	uint64_t last_ok; /* uv_now() of the last answered ping */
	bool pinging;
};

enum gw_raft__join_state {
	GW_RAFT__JOIN_NONE = 0,
	GW_RAFT__JOIN_ENROLL, /* getting this node's certificate (enroll.c) */
	GW_RAFT__JOIN_INFO,
	GW_RAFT__JOIN_REQUEST,
	GW_RAFT__JOIN_DONE
};

/* The life cycle of struct gw_raft (raft.c's table says which moves are
 * legal; an illegal one aborts):
 *   RUNNING -> HALT_PENDING   the store failed to apply: close on the next tick
 *   RUNNING | HALT_PENDING -> HANDING_OVER   gw_raft_stop on a leader: transfer
 *                                            leadership first (bounded)
 *   HALT_PENDING -> HALTED    raft closing/closed for good; the struct lives
 *                             until gw_raft_stop
 *   RUNNING | HALT_PENDING | HANDING_OVER | HALTED -> CLOSING   pending work
 *                             failed with GW_ESHUTDOWN, raft and handles close
 *   CLOSING -> FINISHED       stop callback called, struct freed
 * Every state but RUNNING and HALT_PENDING counts as stopping. */
enum gw_raft__life {
	GW_RAFT__LIFE_RUNNING = 0,
	GW_RAFT__LIFE_HALT_PENDING,
	GW_RAFT__LIFE_HANDING_OVER,
	GW_RAFT__LIFE_HALTED,
	GW_RAFT__LIFE_CLOSING,
	GW_RAFT__LIFE_FINISHED,
	GW_RAFT__LIFE_N
};

struct gw_raft__mtask;
struct gw_raft__rm_ctx;
struct gw_raft__barrier_group;

#define GW_RAFT__SEEN_MAX    (2 * GW_RAFT_MAX_MEMBERS)
#define GW_RAFT__REMOVED_MAX 256

struct gw_raft {
	uv_loop_t *loop;
	struct gw_store *store;
	struct gw_peertls *tls; /* this member's certificate (pki.c); NULL = none */
	char data_dir[PATH_MAX];
	char raft_dir[PATH_MAX + 8];
	struct gw_raft_member self; /* name, addresses and URLs this node publishes */
	char join_peer[128];        /* "" = not joining */
	char join_secret[128];      /* --join-secret: used to ask the peer (may differ
				       from a data dir's own secret, which then errs) */
	/* A join token (enroll.c): id, secret and the CA pin; "" = none. */
	char join_token_id[GW_RAFT__TOKEN_ID_LEN + 1];
	char join_token_secret[GW_RAFT__TOKEN_SECRET_LEN + 1];
	char join_token_fp[65];
	SSL_CTX *enroll_ctx;  /* joining: TLS client without a trust anchor (the pin) */
	EVP_PKEY *enroll_key; /* joining: this node's new key */
	X509 *enroll_ca;      /* joining: the CA the peer's TLS showed and we accepted */
	bool enroll_busy;     /* leader: an enrollment is being judged */
	char call_why[256];   /* forward.c: why the last failed call failed (TLS) */
	/* forward.c: keep-alive connections of node-to-node calls (NULL once
	 * stopping) */
	struct gw_httpc_pool *peer_pool;
	uint64_t next_renew_check; /* uv_now() of the next certificate check */
	unsigned write_timeout_ms;
	unsigned election_timeout_ms;
	unsigned heartbeat_ms;
	unsigned snapshot_threshold;
	unsigned snapshot_trailing;
	unsigned replace_voter_ms;
	int voters;
	void (*on_terminate)(void *data, int err);
	void *terminate_data;

	struct gw_raft__identity ident; /* cluster_id 0 until known (joining) */

	struct raft raft;
	struct raft_io io;
	/* io_guard.c: raft_uv's send and snapshot load, called through guards;
	 * the test hook's held loads */
	int (*uv_send)(struct raft_io *io, struct raft_io_send *req, const struct raft_message *m,
		       raft_io_send_cb cb);
	int (*uv_snapshot_get)(struct raft_io *io, struct raft_io_snapshot_get *req,
			       raft_io_snapshot_get_cb cb);
	unsigned test_snapshot_load_delay_ms;
	struct gw_list held_loads;
	uv_timer_t held_timer;
	bool held_timer_open;
	bool io_closing; /* raft_close was called: sends are refused */
	struct raft_uv_transport transport;
	struct raft_fsm fsm;
	bool raft_running; /* raft_init done and raft not closed yet */

	uv_timer_t tick;
	int n_handles; /* open uv handles owned by this module */
	uint64_t next_leader_duty;
	/* consistency.c */
	unsigned check_ms;
	uint64_t next_check;
	uint64_t check_rounds, check_equal, check_skipped, check_mismatch;
	bool test_corrupt_hash;
	uint64_t next_meta_check;
	uint64_t next_token_sweep; /* token.c: leader's sweep of expired tokens */
	uint64_t snap_bytes;       /* fsm.c: bytes of the entries applied since the last snapshot */
	unsigned snap_entries;     /* fsm.c: and their number */
	bool snap_forced;          /* fsm.c: the threshold was lowered for the bytes */
	unsigned snap_threshold;   /* fsm.c: the threshold last given to libraft */
	unsigned token_sweep_ms;
	unsigned token_grace_s;
	unsigned token_sweep_inflight; /* deletions proposed, not answered yet */
	int last_state;
	uint64_t leader_seen_ms; /* raft.c tick: when a leader was last known (0 = never) */
	bool was_member;
	bool meta_inflight;

	struct gw_sm join; /* enum gw_raft__join_state (join.c) */
	uint64_t join_started;
	uint64_t join_next_try;
	bool join_inflight;
	bool join_member;     /* rerun of `apigw join` by a member: only verify the cluster */
	uint64_t enrolled_at; /* uv_now() when enrollment succeeded, 0 = not this run */
	unsigned join_failures;

	struct gw_list proposals; /* struct proposal, leader side, in raft */
	struct gw_list barriers;  /* struct barrier_wait: readers for the next barrier */
	struct gw_raft__barrier_group *barrier_inflight; /* the barrier raft is working on */
	uint64_t read_term; /* term in which a read barrier of ours last committed */
	/* Commit nudge (barrier.c): a barrier appended after a write applied on
	 * the leader, so followers learn the commit index at once. */
	uv_timer_t nudge_timer;
	/* Group commit of applied entries: before the loop blocks, the store
	 * commits what this iteration applied (one fsync). */
	uv_prepare_t flush_prep;
	bool flush_open;
	/* membership.c: runs the next membership step outside libraft's callbacks */
	uv_timer_t mtask_timer;
	bool mtask_timer_open;
	struct raft_barrier nudge_req;
	bool nudge_inflight, nudge_again, nudge_timer_open;
	uint64_t nudges;         /* barriers appended for it (status) */
	uint64_t nudges_skipped; /* not needed: a newer entry carried the commit */
	uint64_t nudge_last;     /* raft's last log index when a write was applied */
	struct gw_list calls;    /* struct call: HTTP requests */
	struct gw_list waiters;  /* struct waiter: follower read index */
	struct gw_list defers;   /* struct defer */
	struct gw_list mtasks;   /* struct mtask queue (leader) */
	struct gw_raft__mtask *mtask_cur;
	bool mtask_retry;

	struct gw_raft__lease_table leases; /* leader: deadlines */
	bool leases_loaded;

	struct gw_raft__health health[GW_RAFT_MAX_MEMBERS];
	int n_health;
	struct gw_raft__health view[GW_RAFT_MAX_MEMBERS]; /* follower: the leader's pings say
						    who it hears from (last_ok 1/0) */
	int n_view;
	uint64_t view_at; /* uv_now() of the last such ping, 0 = never */

	struct raft_transfer transfer;
	bool transferring;
	void (*transfer_done)(struct gw_raft *r);
	uint64_t transfer_target;       /* gw_raft_transfer: who should lead */
	gw_raft_barrier_cb transfer_cb; /* gw_raft_transfer's caller */
	void *transfer_data;
	struct gw_raft__rm_ctx *rm_self; /* a leader removing itself waits for the transfer */

	/* peerauth.c: the transport's allow-list */
	uint64_t conf_seen[GW_RAFT__SEEN_MAX]; /* ids of the configurations at the last look */
	int n_conf_seen;
	uint64_t
	    removed[GW_RAFT__REMOVED_MAX]; /* seen in a configuration, then gone (oldest first) */
	int n_removed;
	bool peer_tls_off; /* --peer-tls=off: r->tls is dropped */

	gw_raft_served_fn served_fn; /* served.c: this node's served revision, or NULL */
	void *served_data;
	struct gw_sm life;               /* enum gw_raft__life */
	struct gw_ratelimit refusal_log; /* "refused ..." lines of endpoints.c */
	int halt_err; /* the store failed to apply an entry: the FSM refuses the rest */
	uv_timer_t stop_timer;
	void (*stop_cb)(void *data);
	void *stop_data;
};

/* raft.c */
static inline uint64_t gw_raft__now(struct gw_raft *r)
{
	return uv_now(r->loop);
}
/* gw_raft_stop was called or the control plane halted: no new work. */
static inline bool gw_raft__stopping(const struct gw_raft *r)
{
	return !gw_sm_in(&r->life,
			 GW_SM_BIT(GW_RAFT__LIFE_RUNNING) | GW_SM_BIT(GW_RAFT__LIFE_HALT_PENDING));
}
/* This node leads and is not stopping. */
static inline bool gw_raft__is_leader(struct gw_raft *r)
{
	return r->raft_running && !gw_raft__stopping(r) && raft_state(&r->raft) == RAFT_LEADER;
}
/* Start a uv timer counted in r->n_handles; close it with
 * gw_raft__handle_closed (or a close callback that does the same). */
void gw_raft__timer_init(struct gw_raft *r, uv_timer_t *t, void *data);
void gw_raft__handle_closed(uv_handle_t *h);
/* Free the raft once it is stopped, closed and owns no handle. */
void gw_raft__maybe_finish(struct gw_raft *r);
/* Call exactly one of @pcb/@bcb/@kcb with @err (and @ttl) on the next loop
 * iteration, so a public call never calls back from inside itself. 0 or
 * GW_ENOMEM. */
int gw_raft__defer(struct gw_raft *r, gw_raft_propose_cb pcb, gw_raft_barrier_cb bcb,
		   gw_raft_keepalive_cb kcb, void *data, int err, int64_t ttl);
/* raft decided this node must stop (on_terminate, at most once). */
void gw_raft__terminate(struct gw_raft *r, int err);
/* Set up raft_uv, our transport (transport.c) and raft; bootstrap if asked; start. */
int gw_raft__setup(struct gw_raft *r, bool bootstrap);
enum gw_raft_role gw_raft__map_role(int raft_role);

/* forward.c: @done gets the answer (valid during the call) or an error. */
typedef void (*gw_raft__call_cb)(void *data, int err, const struct gw_httpc_resp *resp);
/* Start an HTTP call to @target ("host:port"; NULL = the leader). Always
 * completes through @done, asynchronously. @retry_noleader: wait (within the
 * deadline) for a leader instead of failing at once. 0 or GW_ENOMEM. */
/* forward.c: note (at @now) whether a leader is known; the tick calls it. */
void gw_raft__leader_seen(struct gw_raft *r, uint64_t now);

int gw_raft__call(struct gw_raft *r, const char *target, const char *method, const char *path,
		  const void *body, size_t len, unsigned timeout_ms, bool retry_noleader,
		  gw_raft__call_cb done, void *data);
void gw_raft__calls_stop(struct gw_raft *r);
/* served.c: answer GET /apigw/internal/served (this member's served
 * revision, applied index and store revision). */
struct gw_http_req;
void gw_raft__served_answer(struct gw_raft *r, struct gw_http_req *req);
/* fsm.c: the snapshot threshold grows with the image up to this; and a
 * snapshot comes anyway once the entries applied since the last one hold
 * this many bytes (libraft keeps them in memory until then). */
#define GW_RAFT__SNAPSHOT_MAX_THRESHOLD 65536u
#define GW_RAFT__SNAPSHOT_MAX_LOG_BYTES (64u << 20)
/* Keep-alive connections of node-to-node calls: at most this many idle ones,
 * each closed after this long unused (far below the etcd port's own
 * keep-alive timeout, GW_ETCD_DEFAULT_IDLE_TIMEOUT, 300 s). */
#define GW_RAFT__PEER_POOL_IDLE     64
#define GW_RAFT__PEER_POOL_IDLE_PER 16 /* per member: the leader's connection cap is shared */
#define GW_RAFT__PEER_POOL_IDLE_MS  15000
struct cJSON;
/* The pool's counters into @o (status JSON "peer_calls"); NULL is a no-op. */
void gw_raft__calls_json(const struct gw_raft *r, struct cJSON *o);

/* propose.c: propose encoded bytes on this node, which should lead. The
 * callback runs once, never from inside this function. 0 or GW_ENOMEM. */
int gw_raft__propose_local(struct gw_raft *r, const void *bytes, size_t len, unsigned timeout_ms,
			   gw_raft_propose_cb cb, void *data);
void gw_raft__proposals_stop(struct gw_raft *r);

/* barrier.c: on the leader, @cb gets the index of a barrier proposed after
 * this call, once applied; never called from inside. 0 or GW_ENOMEM. */
typedef void (*gw_raft__index_cb)(void *data, int err, uint64_t index);
int gw_raft__barrier_local(struct gw_raft *r, unsigned timeout_ms, gw_raft__index_cb cb,
			   void *data);
void gw_raft__barriers_stop(struct gw_raft *r);

/* lease.c: the lease table. Pure functions of the table and @now (a
 * uv_now() in ms), so they are tested without a loop. */
/* The lease @id or NULL. The pointer is valid until the next put or drop. */
struct gw_raft__lease *gw_raft__lease_find(struct gw_raft__lease_table *t, int64_t id);
/* Track lease @id (added if new, not revoking) with its deadline restarted
 * at @now + @ttl seconds (1 s when @ttl <= 0; the TTL is kept as given).
 * The lease, or NULL on ENOMEM (then the table is unchanged). */
struct gw_raft__lease *gw_raft__lease_put(struct gw_raft__lease_table *t, int64_t id, int64_t ttl,
					  uint64_t now);
/* Forget lease @id (no-op when unknown); the last lease takes its slot. */
void gw_raft__lease_drop(struct gw_raft__lease_table *t, int64_t id);
/* Whole seconds left on @l at @now, rounded up; 0 once the deadline passed. */
int64_t gw_raft__lease_left(const struct gw_raft__lease *l, uint64_t now);
/* Index of the first lease at or after @from whose deadline passed at @now
 * and that is not being revoked; t->n when none. */
size_t gw_raft__lease_expired(const struct gw_raft__lease_table *t, size_t from, uint64_t now);
/* Forget every lease and free the array. */
void gw_raft__lease_table_free(struct gw_raft__lease_table *t);

void gw_raft__leases_load(struct gw_raft *r);
void gw_raft__leases_tick(struct gw_raft *r);
/* Leader: restart a lease's deadline. 0 with *ttl, or GW_ELEASENOTFOUND. */
int gw_raft__keepalive_local(struct gw_raft *r, int64_t id, int64_t *ttl);

/* member.c */
void gw_raft__member_key(uint64_t id, char *out, size_t len);
/* Metadata of member @id from the store; GW_ENOTFOUND if none. */
int gw_raft__member_load(struct gw_raft *r, uint64_t id, struct gw_raft_member *m);
/* This node's metadata as JSON (malloc'ed) or NULL. */
char *gw_raft__self_json(struct gw_raft *r);
const struct raft_server *gw_raft__conf_get(struct gw_raft *r, uint64_t id);
/* io_guard.c: route r->io's sends through a guard that never lets libraft
 * send an InstallSnapshot to an address string freed by a membership change
 * made while the snapshot was loading (and install the test hook that holds
 * snapshot loads). Call once, after raft_uv_init. */
void gw_raft__io_guard(struct gw_raft *r);
/* From now on refuse sends; start the snapshot loads the test hook holds
 * and close its timer. Call right before raft_close. */
void gw_raft__io_guard_stop(struct gw_raft *r);
int gw_raft__conf_voters(struct gw_raft *r);
struct gw_raft__health *gw_raft__health_get(struct gw_raft *r, uint64_t id, bool create);
bool gw_raft__reachable(struct gw_raft *r, uint64_t id);
/* Parse the view a leader's ping carries ("<hex id>=<0|1>,...", at most
 * @max entries read, the rest ignored) into @out (id, last_ok 1 or 0). The
 * number of entries, or GW_EPROTO for a malformed view: then @out is left
 * as it was. Pure; @s is NUL-terminated. */
int gw_raft__view_parse(const char *s, struct gw_raft__health *out, int max);

/* The leader's membership choice for one round of pings (leader_duty).
 * Pure: it sees only what it is given. */
struct gw_raft__choice {
	uint64_t promote; /* first standby/spare heard from lately, 0 = none */
	uint64_t demote;  /* first voter silent for over replace_voter_ms, 0 = none */
};
/* Weigh member @id of raft role @role with health @h at @now: a non-voter
 * heard from within half of GW_RAFT__REACHABLE_MS may be promoted, a voter
 * silent for over @replace_voter_ms may be demoted (the first of each wins).
 * leader_duty weighs the members it pings this round (not itself, none whose
 * ping is in flight or whose metadata is unknown). */
void gw_raft__choice_consider(struct gw_raft__choice *c, uint64_t id, int role,
			      const struct gw_raft__health *h, uint64_t now,
			      unsigned replace_voter_ms);
/* The change to queue: GW_RAFT__MT_PROMOTE while fewer than @wanted of the
 * configuration's @voters exist, else GW_RAFT__MT_DEMOTE when a standby can
 * take a silent voter's place; *id says whom. -1 (nothing) when there is no
 * candidate or a membership task is queued or running (@busy). */
int gw_raft__choice_task(const struct gw_raft__choice *c, int voters, int wanted, bool busy,
			 uint64_t *id);
void gw_raft__leader_duty(struct gw_raft *r);
void gw_raft__meta_check(struct gw_raft *r);

/* membership.c */
enum gw_raft__mtask_kind {
	GW_RAFT__MT_JOIN,
	GW_RAFT__MT_PROMOTE,
	GW_RAFT__MT_DEMOTE,
	GW_RAFT__MT_REMOVE
};
/* A join task's end: 0 with the role the member has, or an error. */
typedef void (*gw_raft__join_cb)(void *data, int err, uint64_t id, enum gw_raft_role role);
/* Queue a membership change (leader). JOIN tasks end through @jcb, others
 * through @cb; both may be NULL. 0 or GW_ENOMEM. */
int gw_raft__mtask_enqueue(struct gw_raft *r, enum gw_raft__mtask_kind kind, uint64_t id,
			   const char *address, gw_raft__join_cb jcb, gw_raft_barrier_cb cb,
			   void *data);
bool gw_raft__mtask_pending(struct gw_raft *r, uint64_t id);
void gw_raft__mtask_kick(struct gw_raft *r);
void gw_raft__mtasks_stop(struct gw_raft *r);
/* Run gw_raft__mtask_kick from the loop soon (never from the caller's stack). */
void gw_raft__mtask_kick_later(struct gw_raft *r);
/* The leader removes itself: transfer leadership, then ask the new leader
 * (or, when @relayed, answer @cb with GW_ENOTLEADER so the caller asks it).
 * 0 or an error (then @cb is not called). */
int gw_raft__remove_self(struct gw_raft *r, gw_raft_barrier_cb cb, void *data, bool relayed);
int gw_raft__transfer_start(struct gw_raft *r, void (*done)(struct gw_raft *r));

/* join.c: the join life cycle starts in NONE; gw_raft_start moves it to
 * INFO when this node joins (or reruns `apigw join`). */
void gw_raft__join_init(struct gw_raft *r);
void gw_raft__join_tick(struct gw_raft *r);

/* ---- pki.c: this member's TLS credentials in <data-dir>/pki --------- */
/* Renew this member's certificate when a third of its validity is left
 * (checked at most once a minute; tick). */
void gw_raft__pki_tick(struct gw_raft *r);

/* ---- token.c: join tokens in the meta space ----------------------------- */
struct gw_raft__token {
	char id[GW_RAFT__TOKEN_ID_LEN + 1];
	char hash[65];            /* SHA-256 of the secret, hex */
	int64_t created, expires; /* unix seconds */
	int64_t uses;             /* left; -1 = unlimited until expiry */
	bool revoked;
	char description[128];
};
/* SHA-256 of a NUL-terminated string as hex. */
void gw_raft__token_hash(const char *secret, char out[65]);
/* Split "apigw1.<id>.<secret>.<fp>". 0 or GW_EINVAL. */
int gw_raft__token_parse(const char *text, char id[GW_RAFT__TOKEN_ID_LEN + 1],
			 char secret[GW_RAFT__TOKEN_SECRET_LEN + 1], char fp[65]);
/* The token @id from the local store. 0, GW_ENOTFOUND, GW_ECORRUPT, GW_EIO. */
int gw_raft__token_load(struct gw_raft *r, const char *id, struct gw_raft__token *t);
/* 0 when @secret opens @t at @now, else GW_EPERM with the reason. */
int gw_raft__token_check(const struct gw_raft__token *t, const char *secret, int64_t now,
			 const char **why);
/* Leader, from the tick: delete the records of tokens expired for more
 * than the grace time (a bounded number per sweep). */
void gw_raft__token_sweep(struct gw_raft *r);
/* A META_PUT of the NUL-terminated @key and @value, encoded into @out. */
int gw_raft__encode_meta_put(const char *key, const char *value, struct gw_buf *out);
/* The META_PUT of @t, encoded into @out. 0 or GW_ENOMEM. */
int gw_raft__token_op(const struct gw_raft__token *t, struct gw_buf *out);

/* ---- enroll.c ----------------------------------------------------------- */
struct gw_http_req;
/* POST /apigw/internal/enroll (answers @req). */
void gw_raft__enroll_handle(struct gw_raft *r, struct gw_http_req *req);
/* True while "enroll/<id>" lets a node that is not a member yet join. */
bool gw_raft__enrolled(struct gw_raft *r, uint64_t id);
/* Joining: make the key and the TLS context (0 or GW_ENOMEM); free them. */
int gw_raft__enroll_prepare(struct gw_raft *r);
void gw_raft__enroll_release(struct gw_raft *r);
/* gw_httpc_tls_check_cb of the enrollment call: the pin (or, legacy, the
 * CA the peer sent, trusted on first use). */
int gw_raft__enroll_check(void *data, SSL *ssl, char *why, size_t len);
/* The request body (malloc'ed, holds the secret: cleanse), or NULL. */
char *gw_raft__enroll_body(struct gw_raft *r);
/* Check the answer and write <data-dir>/pki; sets the cluster id and
 * secret. 0 or GW_EPROTO / GW_EIO with @why. */
int gw_raft__enroll_adopt(struct gw_raft *r, const char *body, size_t len, char *why,
			  size_t whylen);

/* ---- endpoints.c helpers for enroll.c ------------------------------------ */
void gw_raft__respond_err(struct gw_http_req *req, int err);
/* An error answer whose body says @why ("reason"). */
void gw_raft__respond_refused(struct gw_http_req *req, int err, const char *why);
/* Relay @req to the leader once (answers it). */
void gw_raft__relay(struct gw_raft *r, struct gw_http_req *req, unsigned timeout_ms);

struct cJSON;
/* Load <data-dir>/pki into r->tls (NULL, with a warning, when the data dir
 * has none). 0 or GW_ECORRUPT / GW_ENOMEM (logged). */
int gw_raft__pki_load(struct gw_raft *r);
/* Create the cluster CA and this member's certificate, then load them. */
int gw_raft__pki_bootstrap(struct gw_raft *r);

/* ---- barrier.c: commit nudge ----------------------------------------- */
/* The leader applied a write: make sure followers hear of its commit within
 * a round trip (see barrier.c). Cheap to call for every entry. */
void gw_raft__nudge(struct gw_raft *r);
void gw_raft__nudge_stop(struct gw_raft *r);

/* Follower: @cb(data, 0) once this node has applied @index (checked every
 * 5 ms), GW_ETIMEOUT at @deadline (gw_raft__now), GW_ESHUTDOWN on stop;
 * never from inside this call. 0 or GW_ENOMEM (then no callback). */
int gw_raft__wait_applied(struct gw_raft *r, uint64_t index, uint64_t deadline,
			  gw_raft_barrier_cb cb, void *data);
/* An entry is being applied (fsm.c): wake the waiters it completes. */
void gw_raft__waiters_kick(struct gw_raft *r);

/* ---- consistency.c: the leader's periodic hash comparison ------------ */
void gw_raft__consistency_tick(struct gw_raft *r);
/* A member's hash at @revision for the leader's check. 0, GW_EFUTUREREV
 * (not applied yet) or the store's errors. */
int gw_raft__hashkv_local(struct gw_raft *r, int64_t revision, uint32_t *hash);

/* ---- peerauth.c: who may connect to our raft port ------------------ */
/* Note configuration changes: ids gone from both configurations (latest
 * and committed) are remembered as removed. Called every tick. */
void gw_raft__peers_observe(struct gw_raft *r);
/* The transport's opts.allowed (@data is the struct gw_raft): may member
 * @id, authenticated by a certificate of our cluster CA, talk to us? */
bool gw_raft__peer_allowed(void *data, uint64_t id);

#endif
