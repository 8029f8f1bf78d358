/* fuzz_raft_codec.c: the raft log command codec (raft/codec.c) and the
 * apply step of the FSM (raft/fsm.c: decode, then gw_store_write at the
 * entry's index) on a real LMDB store in a temporary directory.
 *
 * Input: the bytes of one committed log entry (or of a forwarded result).
 * Invariants: decoding never crashes; a command that decodes re-encodes
 * (the encoder takes whatever the decoder returns) and that encoding decodes
 * and re-encodes to the same bytes (decode -> encode -> decode is the same
 * command); the store applies any decoded command or records a business
 * error in the result (an undecodable one is applied as a NOOP, as fsm.c
 * does): gw_store_write never fails; applying the same entry (same index) a
 * second time is a no-op (GW_ESTALE, applied index and revision unchanged).
 * The same bytes also go through the result codec with the same round-trip
 * check. The store is recreated every RESET inputs, so it stays small. */
#include "config.h"

#include "fuzz_util.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "lib/log.h"
#include "raft/raft_int.h"
#include "store/store.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define RESET 512

static char dir[64];
static struct gw_store *store;
static unsigned runs;
static uint64_t index_;

static void store_drop(void)
{
	if (store != NULL) {
		gw_store_close(store);
		store = NULL;
		fuzz_rm_tree(dir);
	}
}

static void store_fresh(void)
{
	struct gw_store_opts o = {0};
	store_drop();
	snprintf(dir, sizeof dir, "/tmp/gw-fuzz-codec-XXXXXX");
	FUZZ_CHECK(mkdtemp(dir) != NULL);
	o.dir = dir;
	o.no_sync = true;
	o.quota_bytes = 64u << 20;
	FUZZ_CHECK(gw_store_open(&o, &store) == 0);
	index_ = 0;
}

static void at_exit(void)
{
	store_drop();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	gw_log_set_level(GW_LOG_NONE);
	atexit(at_exit);
	return 0;
}

static void op_round_trip(const struct gw_store_op *op)
{
	struct gw_buf e1, e2;
	struct gw_store_op op2;

	gw_buf_init(&e1);
	gw_buf_init(&e2);
	FUZZ_CHECK(gw_raft__encode_op(op, &e1) == 0);
	FUZZ_CHECK(gw_raft__decode_op(e1.data, e1.len, &op2) == 0);
	FUZZ_CHECK(gw_raft__encode_op(&op2, &e2) == 0);
	FUZZ_CHECK(e1.len == e2.len && memcmp(e1.data, e2.data, e1.len) == 0);
	gw_raft__op_free(&op2);
	gw_buf_close(&e1);
	gw_buf_close(&e2);
}

static void result_round_trip(const uint8_t *p, size_t n)
{
	struct gw_store_result res, res2;
	struct gw_buf e1, e2;

	memset(&res, 0, sizeof res);
	if (gw_raft__decode_result(p, n, &res) != 0) {
		return;
	}
	gw_buf_init(&e1);
	gw_buf_init(&e2);
	FUZZ_CHECK(gw_raft__encode_result(&res, &e1) == 0);
	memset(&res2, 0, sizeof res2);
	FUZZ_CHECK(gw_raft__decode_result(e1.data, e1.len, &res2) == 0);
	FUZZ_CHECK(gw_raft__encode_result(&res2, &e2) == 0);
	FUZZ_CHECK(e1.len == e2.len && memcmp(e1.data, e2.data, e1.len) == 0);
	gw_raft__result_free(&res);
	gw_raft__result_free(&res2);
	gw_buf_close(&e1);
	gw_buf_close(&e2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gw_store_op op;
	struct gw_store_result res;
	uint64_t applied;
	int64_t rev;
	int rv;

	if (store == NULL || ++runs % RESET == 0) {
		store_fresh();
	}
	memset(&op, 0, sizeof op);
	if (gw_raft__decode_op(data, size, &op) == 0) {
		op_round_trip(&op);
	} else {
		op.type = GW_OP_NOOP; /* fsm.c: applied as a no-op */
	}
	memset(&res, 0, sizeof res);
	rv = gw_store_write(store, ++index_, &op, &res);
	FUZZ_CHECK(rv == 0);
	gw_store_result_free(&res);
	applied = gw_store_applied_index(store);
	rev = gw_store_revision(store);
	FUZZ_CHECK(applied == index_);
	memset(&res, 0, sizeof res);
	rv = gw_store_write(store, index_, &op, &res);
	FUZZ_CHECK(rv == GW_ESTALE);
	gw_store_result_free(&res);
	FUZZ_CHECK(gw_store_applied_index(store) == applied);
	FUZZ_CHECK(gw_store_revision(store) == rev);
	gw_raft__op_free(&op);

	result_round_trip(data, size);
	return 0;
}
