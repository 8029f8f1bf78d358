/* test_raft.c: one real node in-process (raft_uv on a temp dir, real LMDB
 * store): bootstrap writes the identity files (secret mode 0600), proposals
 * commit with the store's result, a read barrier passes, status reports a
 * one-voter leader, a restart replays the log as a no-op and serves the data,
 * a damaged identity is refused. Then the read barriers (barrier.c: readers
 * share raft barriers, fail on stop, on their own deadline and off the
 * leader) and the life cycle (raft.c: stop with work in flight, halt after a
 * store failure). Every case closes its loop with no live handles left. */
#include "config.h"

#include "lib/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_raft_fixture.h"

static void test_bootstrap_propose_restart(void **state)
{
	struct fixture *f = *state;
	struct gw_raft_status st;
	struct gw_range_req q;
	struct gw_range_resp resp;
	struct stat sb;
	char path[128];
	int64_t rev;
	int before;

	open_node(f, 0);
	snprintf(path, sizeof path, "%s/join-secret", f->dir);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	snprintf(path, sizeof path, "%s/identity", f->dir);
	assert_int_equal(stat(path, &sb), 0);
	wait_leader(f);

	put(f, "a", "1");
	put(f, "b", "2");
	rev = f->revision;
	assert_true(rev >= 3);

	before = f->done;
	assert_int_equal(gw_raft_read_barrier(f->raft, 0, barrier_cb, f), 0);
	run_until(f, before + 1);
	assert_int_equal(f->err, 0);

	/* RANGE is not a write; a NULL op is refused. */
	{
		struct gw_store_op op;
		memset(&op, 0, sizeof op);
		op.type = GW_OP_RANGE;
		assert_int_equal(gw_raft_propose(f->raft, &op, 0, propose_cb, f), GW_EINVAL);
	}

	gw_raft_status(f->raft, &st);
	assert_int_equal(st.n_members, 1);
	assert_int_equal(st.role, GW_ROLE_VOTER);
	assert_int_equal(st.leader_id, st.id);
	assert_true(st.has_quorum);
	assert_int_equal(st.revision, rev);
	close_node(f);

	/* Restart: same identity, the data at once, the replay changes nothing. */
	open_node(f, 0);
	memset(&q, 0, sizeof q);
	q.key = "b";
	q.key_len = 1;
	assert_int_equal(gw_store_range(f->store, &q, &resp), 0);
	assert_int_equal(resp.n_kvs, 1);
	assert_memory_equal(resp.kvs[0].value, "2", 1);
	gw_store_range_resp_free(&resp);
	wait_leader(f);
	gw_raft_status(f->raft, &st);
	assert_int_equal(st.revision, rev);
	put(f, "c", "3");
	assert_int_equal(f->revision, rev + 1);
	close_node(f);
}

static void test_damaged_identity_refused(void **state)
{
	struct fixture *f = *state;
	char path[128];
	FILE *fp;

	open_node(f, 0);
	wait_leader(f);
	close_node(f);
	snprintf(path, sizeof path, "%s/identity", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("cluster_id=zz\n", fp);
	fclose(fp);
	open_node(f, GW_ECORRUPT);
	gw_store_close(f->store);

	/* identity gone but data present: refused as well, no re-bootstrap */
	unlink(path);
	open_node(f, GW_ECORRUPT);
	gw_store_close(f->store);
}

/* ---- read barriers (barrier.c) ------------------------------------------ */

/* Callbacks of many readers at once. */
struct tally {
	int done;     /* callbacks */
	int ok;       /* with 0 */
	int shutdown; /* with GW_ESHUTDOWN */
	int other;    /* with anything else */
	int last_err;
	uint64_t index; /* gw_raft__barrier_local: the index given */
};

static void tally_err(struct tally *t, int err)
{
	t->done++;
	t->last_err = err;
	if (err == 0) {
		t->ok++;
	} else if (err == GW_ESHUTDOWN) {
		t->shutdown++;
	} else {
		t->other++;
	}
}

static void tally_cb(void *data, int err)
{
	tally_err(data, err);
}

static void tally_index_cb(void *data, int err, uint64_t index)
{
	struct tally *t = data;
	t->index = index;
	tally_err(t, err);
}

static void tally_propose_cb(void *data, int err, struct gw_store_result *res)
{
	struct tally *t = data;
	if (res != NULL) {
		gw_store_result_free(res);
		t->index = 1; /* had a result */
	}
	tally_err(t, err);
}

/* @op: a PUT of "k" = "v". */
static void put_k(struct gw_store_op *op)
{
	memset(op, 0, sizeof *op);
	op->type = GW_OP_PUT;
	op->u.put.key = "k";
	op->u.put.key_len = 1;
	op->u.put.value = "v";
	op->u.put.value_len = 1;
}

/* Stopping or halted: every public call is refused at once with
 * GW_ESHUTDOWN (then no callback runs). */
static void assert_all_refused(struct fixture *f, struct tally *t)
{
	struct gw_store_op op;

	put_k(&op);
	assert_int_equal(gw_raft_propose(f->raft, &op, 0, propose_cb, f), GW_ESHUTDOWN);
	assert_int_equal(gw_raft_read_barrier(f->raft, 0, tally_cb, t), GW_ESHUTDOWN);
	assert_int_equal(gw_raft_lease_keepalive(f->raft, 1, keepalive_cb, f), GW_ESHUTDOWN);
	assert_int_equal(gw_raft_remove(f->raft, 1, tally_cb, t), GW_ESHUTDOWN);
	assert_int_equal(gw_raft_transfer(f->raft, 1, tally_cb, t), GW_ESHUTDOWN);
}

#define N_READERS 50

/* Readers issued in one loop iteration share raft barriers: the first one
 * proposes a barrier, the others wait for the next one, so the log grows by
 * at most two entries for fifty readers; none hears from inside the call. */
static void test_barrier_readers_share_entries(void **state)
{
	struct fixture *f = *state;
	struct tally t = {0};
	uint64_t before;
	int i;

	open_node(f, 0);
	wait_ready(f);
	before = raft_last_index(&f->raft->raft);
	for (i = 0; i < N_READERS; i++) {
		assert_int_equal(gw_raft_read_barrier(f->raft, 0, tally_cb, &t), 0);
		assert_int_equal(t.done, 0); /* never called from inside */
	}
	RUN_UNTIL(f, t.done == N_READERS);
	assert_int_equal(t.ok, N_READERS);
	assert_true(raft_last_index(&f->raft->raft) > before);
	assert_true(raft_last_index(&f->raft->raft) - before <= 2);
	assert_null(f->raft->barrier_inflight);
	assert_true(gw_list_empty(&f->raft->barriers));
	close_node(f);
}

/* A reader arriving while a barrier is in flight waits for the next one,
 * which it shares with everyone who arrived meanwhile: a later index. */
static void test_barrier_local_groups(void **state)
{
	struct fixture *f = *state;
	struct tally a = {0}, b = {0}, c = {0};

	open_node(f, 0);
	wait_ready(f);
	assert_int_equal(gw_raft__barrier_local(f->raft, 5000, tally_index_cb, &a), 0);
	assert_non_null(f->raft->barrier_inflight);
	assert_int_equal(gw_raft__barrier_local(f->raft, 5000, tally_index_cb, &b), 0);
	assert_int_equal(gw_raft__barrier_local(f->raft, 5000, tally_index_cb, &c), 0);
	assert_int_equal(a.done + b.done + c.done, 0);
	RUN_UNTIL(f, a.done + b.done + c.done == 3);
	assert_int_equal(a.ok + b.ok + c.ok, 3);
	assert_true(a.index > 0);
	assert_true(b.index > a.index);
	assert_int_equal(b.index, c.index);
	assert_true(raft_last_applied(&f->raft->raft) >= c.index);
	close_node(f);
}

/* Stop with readers waiting (one group in raft, the rest queued): each
 * hears GW_ESHUTDOWN exactly once, and everything is freed (ASan, and the
 * loop closes with no live handle). */
static void test_barrier_stop_fails_readers(void **state)
{
	struct fixture *f = *state;
	struct tally t = {0};
	int i;

	open_node(f, 0);
	wait_ready(f);
	for (i = 0; i < N_READERS; i++) {
		assert_int_equal(gw_raft_read_barrier(f->raft, 0, tally_cb, &t), 0);
	}
	assert_non_null(f->raft->barrier_inflight);
	close_node(f);
	uv_run(&f->loop, UV_RUN_NOWAIT);
	assert_int_equal(t.done, N_READERS);
	assert_int_equal(t.shutdown, N_READERS);
}

/* A reader's own deadline: 0 ms passes before raft can persist the
 * barrier (the timer runs before the loop polls for I/O), so the reader
 * hears GW_ETIMEOUT, once; the barrier still completes and frees its group,
 * and the next reader is served. */
static void test_barrier_local_deadline(void **state)
{
	struct fixture *f = *state;
	struct tally t = {0}, u = {0};

	open_node(f, 0);
	wait_ready(f);
	assert_int_equal(gw_raft__barrier_local(f->raft, 0, tally_index_cb, &t), 0);
	assert_int_equal(t.done, 0);
	RUN_UNTIL(f, t.done == 1);
	assert_int_equal(t.last_err, GW_ETIMEOUT);
	assert_int_equal(t.index, 0);
	RUN_UNTIL(f, f->raft->barrier_inflight == NULL);
	assert_int_equal(t.done, 1);
	assert_int_equal(gw_raft_read_barrier(f->raft, 0, tally_cb, &u), 0);
	RUN_UNTIL(f, u.done == 1);
	assert_int_equal(u.ok, 1);
	close_node(f);
}

/* Off the leader (a joining node: raft not started, no leader known):
 * a local barrier fails with GW_ENOTLEADER, the public calls with
 * GW_ENOLEADER, all through their callbacks, none from inside; transfer is
 * refused at once. */
static void test_not_leader_calls_fail(void **state)
{
	struct fixture *f = *state;
	struct tally local = {0}, rb = {0}, rm = {0}, pr = {0};
	struct gw_raft_status st;
	struct gw_store_op op;
	int before;

	f->join_peer = "127.0.0.1:1";
	open_node(f, 0);
	assert_true(gw_raft_joining(f->raft));
	gw_raft_status(f->raft, &st);
	assert_int_equal(st.state, GW_STATE_UNAVAILABLE);
	assert_false(st.has_quorum);

	assert_int_equal(gw_raft__barrier_local(f->raft, 5000, tally_index_cb, &local), 0);
	assert_int_equal(gw_raft_read_barrier(f->raft, 5000, tally_cb, &rb), 0);
	assert_int_equal(gw_raft_remove(f->raft, 42, tally_cb, &rm), 0);
	put_k(&op);
	assert_int_equal(gw_raft_propose(f->raft, &op, 5000, tally_propose_cb, &pr), 0);
	before = f->done;
	assert_int_equal(gw_raft_lease_keepalive(f->raft, 7, keepalive_cb, f), 0);
	assert_int_equal(local.done + rb.done + rm.done + pr.done + f->done - before, 0);
	assert_int_equal(gw_raft_transfer(f->raft, 42, tally_cb, &rm), GW_ESHUTDOWN);
	assert_int_equal(gw_raft_lease_remaining(f->raft, 7), -1);

	RUN_UNTIL(f, local.done + rb.done + rm.done + pr.done == 4 && f->done == before + 1);
	assert_int_equal(local.last_err, GW_ENOTLEADER);
	assert_int_equal(rb.last_err, GW_ENOLEADER);
	assert_int_equal(rm.last_err, GW_ENOLEADER);
	assert_int_equal(pr.last_err, GW_ENOLEADER);
	assert_int_equal(pr.index, 0); /* no result */
	assert_int_equal(f->err, GW_ENOLEADER);
	close_node(f);
}

/* ---- the life cycle (raft.c) ---------------------------------------------- */

struct stop_seen {
	struct fixture *f;
	int calls;
	int life;       /* the state when the stop callback ran */
	int n_handles;  /* handles still owned then */
	bool raft_open; /* raft_running then */
};

static void stop_seen_cb(void *data)
{
	struct stop_seen *s = data;
	s->calls++;
	s->life = gw_sm_state(&s->f->raft->life);
	s->n_handles = s->f->raft->n_handles;
	s->raft_open = s->f->raft->raft_running;
}

/* Stop from RUNNING on a one-voter leader: CLOSING at once (no transfer:
 * nobody to hand over to), every call refused from then on, and the stop
 * callback runs once, in FINISHED, with raft closed and no handle left. */
static void test_stop_from_running(void **state)
{
	struct fixture *f = *state;
	struct stop_seen s = {f, 0, -1, -1, true};
	struct gw_raft_status st;
	struct tally t = {0};

	open_node(f, 0);
	wait_ready(f);
	assert_int_equal(gw_sm_state(&f->raft->life), GW_RAFT__LIFE_RUNNING);
	gw_raft_stop(f->raft, stop_seen_cb, &s);
	assert_int_equal(s.calls, 0);
	assert_int_equal(gw_sm_state(&f->raft->life), GW_RAFT__LIFE_CLOSING);
	gw_raft_status(f->raft, &st);
	assert_int_equal(st.state, GW_STATE_UNAVAILABLE);
	assert_all_refused(f, &t);
	RUN_UNTIL(f, s.calls == 1);
	assert_int_equal(s.life, GW_RAFT__LIFE_FINISHED);
	assert_int_equal(s.n_handles, 0);
	assert_false(s.raft_open);
	assert_int_equal(t.done, 0);
	assert_int_equal(f->done, 0);
	forget_node(f);
}

/* A ready leader with a PUT proposed, its callback not called yet. */
static void propose_in_flight(struct fixture *f, struct tally *t)
{
	struct gw_store_op op;

	open_node(f, 0);
	wait_ready(f);
	put_k(&op);
	assert_int_equal(gw_raft_propose(f->raft, &op, 0, tally_propose_cb, t), 0);
	assert_false(gw_list_empty(&f->raft->proposals));
	assert_int_equal(t->done, 0);
}

/* Stop with a proposal in raft: its callback hears GW_ESHUTDOWN exactly
 * once (raft's own cancellation later finds it answered). */
static void test_stop_with_proposal_in_flight(void **state)
{
	struct fixture *f = *state;
	struct tally t = {0};

	propose_in_flight(f, &t);
	close_node(f);
	uv_run(&f->loop, UV_RUN_NOWAIT);
	assert_int_equal(t.done, 1);
	assert_int_equal(t.shutdown, 1);
	assert_int_equal(t.index, 0); /* no result */
}

/* A deferred answer (removing the last voter) pending at stop runs at once,
 * exactly once, with its own error. */
static void test_stop_runs_deferred_callbacks(void **state)
{
	struct fixture *f = *state;
	struct tally t = {0};

	open_node(f, 0);
	wait_ready(f);
	assert_int_equal(gw_raft_remove(f->raft, f->raft->ident.node_id, tally_cb, &t), 0);
	assert_int_equal(t.done, 0);
	assert_false(gw_list_empty(&f->raft->defers));
	gw_raft_stop(f->raft, stopped, f);
	assert_int_equal(t.done, 1);
	assert_int_equal(t.last_err, GW_EINVAL);
	run_until(f, 1);
	forget_node(f);
	assert_int_equal(t.done, 1);
}

/* The store failed to apply: HALT_PENDING at once (the first error kept),
 * HALTED on the next tick with raft closed; status says halted, every call
 * is refused, and gw_raft_stop then frees it. */
static void test_halt_then_tick(void **state)
{
	struct fixture *f = *state;
	struct gw_raft_status st;
	struct tally t = {0};

	open_node(f, 0);
	wait_ready(f);
	gw_raft__halt(f->raft, GW_EIO);
	assert_int_equal(gw_sm_state(&f->raft->life), GW_RAFT__LIFE_HALT_PENDING);
	assert_true(gw_raft__halted(f->raft));
	gw_raft__halt(f->raft, GW_ENOSPACE);
	assert_int_equal(f->raft->halt_err, GW_EIO);
	gw_raft_status(f->raft, &st);
	assert_true(st.halted);

	RUN_UNTIL(f, gw_sm_state(&f->raft->life) == GW_RAFT__LIFE_HALTED);
	RUN_UNTIL(f, !f->raft->raft_running);
	gw_raft_status(f->raft, &st);
	assert_true(st.halted);
	assert_int_equal(st.state, GW_STATE_UNAVAILABLE);
	assert_all_refused(f, &t);
	assert_int_equal(gw_raft__barrier_local(f->raft, 5000, tally_index_cb, &t), 0);
	RUN_UNTIL(f, t.done == 1);
	assert_int_equal(t.last_err, GW_ESHUTDOWN);
	close_node(f);
	assert_int_equal(f->done, 1); /* only the stop callback */
}

/* gw_raft_stop before the halt's tick (HALT_PENDING -> CLOSING): freed once. */
static void test_halt_pending_then_stop(void **state)
{
	struct fixture *f = *state;
	struct stop_seen s = {f, 0, -1, -1, true};

	open_node(f, 0);
	wait_ready(f);
	gw_raft__halt(f->raft, GW_EIO);
	gw_raft_stop(f->raft, stop_seen_cb, &s);
	assert_int_equal(gw_sm_state(&f->raft->life), GW_RAFT__LIFE_CLOSING);
	RUN_UNTIL(f, s.calls == 1);
	assert_int_equal(s.life, GW_RAFT__LIFE_FINISHED);
	assert_int_equal(s.n_handles, 0);
	forget_node(f);
	assert_int_equal(s.calls, 1);
}

/* A proposal in flight when the store fails hears an error exactly once and
 * no result: GW_EIO if raft applied it (refused) before the tick,
 * GW_ESHUTDOWN if the tick came first. */
static void test_halt_with_proposal_in_flight(void **state)
{
	struct fixture *f = *state;
	struct tally t = {0};

	propose_in_flight(f, &t);
	gw_raft__halt(f->raft, GW_EIO);
	RUN_UNTIL(f, gw_sm_state(&f->raft->life) == GW_RAFT__LIFE_HALTED && t.done == 1);
	assert_true(t.last_err == GW_EIO || t.last_err == GW_ESHUTDOWN);
	assert_int_equal(t.index, 0);
	close_node(f);
	uv_run(&f->loop, UV_RUN_NOWAIT);
	assert_int_equal(t.done, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, fixture_setup, fixture_teardown)
	    T(test_bootstrap_propose_restart),
	    T(test_damaged_identity_refused),
	    T(test_barrier_readers_share_entries),
	    T(test_barrier_local_groups),
	    T(test_barrier_stop_fails_readers),
	    T(test_barrier_local_deadline),
	    T(test_not_leader_calls_fail),
	    T(test_stop_from_running),
	    T(test_stop_with_proposal_in_flight),
	    T(test_stop_runs_deferred_callbacks),
	    T(test_halt_then_tick),
	    T(test_halt_pending_then_stop),
	    T(test_halt_with_proposal_in_flight),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
