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
#include "lib/httpc.h"
#include "raft/raft.h"
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
/* Random non-zero 64-bit id / a 32-byte hex secret from getrandom(2). */
uint64_t gw_raft__random_id(void);
void gw_raft__random_secret(char *out, size_t len);

/* ---- the node-to-node HTTP/1.1 client: lib/httpc.h --------------------- */

/* temporary: removed when raft.c is split. raft.c still spells the client
 * by its old raft/http.c names; new code uses gw_httpc_* directly. */
#define gw_raft__http         gw_httpc
#define gw_raft__http_resp    gw_httpc_resp
#define gw_raft__http_cb      gw_httpc_cb
#define gw_raft__http_cancel  gw_httpc_cancel
#define gw_raft__url_hostport gw_httpc_url_hostport
/* The old signature took the deadline itself (0 meant 1 ms). */
static inline int gw_raft__http_request(uv_loop_t *loop, const char *hostport, const char *method,
					const char *path, const char *headers, const void *body,
					size_t len, unsigned timeout_ms, gw_httpc_cb cb, void *data,
					struct gw_httpc **out)
{
	struct gw_httpc_opts o = {.timeout_ms = timeout_ms > 0 ? timeout_ms : 1};
	return gw_httpc_request(loop, hostport, method, path, headers, body, len, &o, cb, data,
				out);
}
/* end of temporary aliases */

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

#endif
