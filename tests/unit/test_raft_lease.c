/* test_raft_lease.c: lease deadlines (raft/lease.c). First the lease table
 * alone, a pure function of the time given: deadlines restart at full TTL,
 * remaining time rounds up to seconds, the expiry walk picks exactly the
 * expired leases and never one being revoked, drops keep the others, the
 * table grows past its first capacity, a TTL <= 0 counts as one second.
 * Then through one real node (the fixture of test_raft_fixture.h): a granted
 * lease is tracked with its TTL, keep-alive restarts it, a revoked one is
 * forgotten, an expired one is revoked once by the leader, a restart gives
 * every lease its full TTL again, an unknown lease answers
 * GW_ELEASENOTFOUND. Every case closes its loop with no live handle. */
#include "config.h"

#include "lib/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_raft_fixture.h"

/* ---- the table alone ------------------------------------------------------ */

static void test_put_new_lease(void **state)
{
	struct gw_raft__lease_table t = {0};
	struct gw_raft__lease *l;

	(void)state;
	assert_null(gw_raft__lease_find(&t, 1));
	l = gw_raft__lease_put(&t, 1, 5, 1000);
	assert_non_null(l);
	assert_int_equal(t.n, 1);
	assert_int_equal(l->id, 1);
	assert_int_equal(l->ttl, 5);
	assert_int_equal(l->deadline, 6000);
	assert_false(l->revoking);
	assert_ptr_equal(gw_raft__lease_find(&t, 1), l);
	gw_raft__lease_table_free(&t);
	assert_null(t.v);
	assert_int_equal(t.n, 0);
	assert_int_equal(t.cap, 0);
}

/* A keep-alive (a put of a known lease) restarts the deadline at the full
 * TTL from now, takes the new TTL and adds nothing. */
static void test_put_restarts_at_full_ttl(void **state)
{
	struct gw_raft__lease_table t = {0};
	struct gw_raft__lease *l;

	(void)state;
	gw_raft__lease_put(&t, 7, 10, 1000);
	gw_raft__lease_put(&t, 8, 10, 1000);
	l = gw_raft__lease_put(&t, 7, 10, 9500);
	assert_int_equal(t.n, 2);
	assert_int_equal(l->deadline, 19500);
	l = gw_raft__lease_put(&t, 7, 3, 20000);
	assert_int_equal(l->ttl, 3);
	assert_int_equal(l->deadline, 23000);
	assert_int_equal(gw_raft__lease_find(&t, 8)->deadline, 11000);
	gw_raft__lease_table_free(&t);
}

/* As today: a TTL <= 0 keeps its value but lives one second. */
static void test_put_ttl_not_positive(void **state)
{
	struct gw_raft__lease_table t = {0};
	struct gw_raft__lease *l;

	(void)state;
	l = gw_raft__lease_put(&t, 1, 0, 500);
	assert_int_equal(l->ttl, 0);
	assert_int_equal(l->deadline, 1500);
	l = gw_raft__lease_put(&t, 2, -5, 500);
	assert_int_equal(l->ttl, -5);
	assert_int_equal(l->deadline, 1500);
	assert_int_equal(gw_raft__lease_left(l, 500), 1);
	gw_raft__lease_table_free(&t);
}

/* Seconds left round up; 0 at and after the deadline. */
static void test_left_rounds_up(void **state)
{
	struct gw_raft__lease l = {1, 10, 10000, false};

	(void)state;
	assert_int_equal(gw_raft__lease_left(&l, 0), 10);
	assert_int_equal(gw_raft__lease_left(&l, 1), 10);
	assert_int_equal(gw_raft__lease_left(&l, 999), 10);
	assert_int_equal(gw_raft__lease_left(&l, 1000), 9);
	assert_int_equal(gw_raft__lease_left(&l, 8999), 2);
	assert_int_equal(gw_raft__lease_left(&l, 9000), 1);
	assert_int_equal(gw_raft__lease_left(&l, 9999), 1);
	assert_int_equal(gw_raft__lease_left(&l, 10000), 0);
	assert_int_equal(gw_raft__lease_left(&l, 123456), 0);
}

/* Walk the expired leases of @t at @now into @ids; their number. */
static size_t walk(const struct gw_raft__lease_table *t, uint64_t now, int64_t *ids)
{
	size_t i, n = 0;
	for (i = gw_raft__lease_expired(t, 0, now); i < t->n;
	     i = gw_raft__lease_expired(t, i + 1, now)) {
		ids[n++] = t->v[i].id;
	}
	return n;
}

/* The walk picks exactly the leases whose deadline passed (at the deadline
 * counts as passed), in table order. */
static void test_expired_picks_exactly(void **state)
{
	struct gw_raft__lease_table t = {0};
	int64_t ids[8];

	(void)state;
	gw_raft__lease_put(&t, 1, 1, 0); /* deadline 1000 */
	gw_raft__lease_put(&t, 2, 5, 0); /* 5000 */
	gw_raft__lease_put(&t, 3, 2, 0); /* 2000 */
	gw_raft__lease_put(&t, 4, 9, 0); /* 9000 */
	gw_raft__lease_put(&t, 5, 1, 1); /* 1001 */
	assert_int_equal(walk(&t, 999, ids), 0);
	assert_int_equal(gw_raft__lease_expired(&t, 0, 999), t.n);
	assert_int_equal(walk(&t, 1000, ids), 1);
	assert_int_equal(ids[0], 1);
	assert_int_equal(walk(&t, 2000, ids), 3);
	assert_int_equal(ids[0], 1);
	assert_int_equal(ids[1], 3);
	assert_int_equal(ids[2], 5);
	assert_int_equal(walk(&t, 8999, ids), 4);
	assert_int_equal(walk(&t, 9000, ids), 5);
	/* A walk from past the end finds nothing. */
	assert_int_equal(gw_raft__lease_expired(&t, t.n, 9000), t.n);
	gw_raft__lease_table_free(&t);
}

/* A lease being revoked is skipped by the walk (never proposed twice); a
 * keep-alive restarts it but leaves the revoke in flight in charge. */
static void test_expired_skips_revoking(void **state)
{
	struct gw_raft__lease_table t = {0};
	int64_t ids[4];

	(void)state;
	gw_raft__lease_put(&t, 1, 1, 0);
	gw_raft__lease_put(&t, 2, 1, 0);
	gw_raft__lease_find(&t, 1)->revoking = true;
	assert_int_equal(walk(&t, 5000, ids), 1);
	assert_int_equal(ids[0], 2);
	gw_raft__lease_find(&t, 2)->revoking = true;
	assert_int_equal(walk(&t, 5000, ids), 0);
	gw_raft__lease_put(&t, 1, 1, 6000);
	assert_true(gw_raft__lease_find(&t, 1)->revoking);
	gw_raft__lease_find(&t, 1)->revoking = false; /* the revoke failed */
	assert_int_equal(walk(&t, 7000, ids), 1);
	assert_int_equal(ids[0], 1);
	gw_raft__lease_table_free(&t);
}

/* Dropping from the middle moves the last lease into the hole; the others
 * keep their deadlines and flags; unknown ids are a no-op. */
static void test_drop_keeps_others(void **state)
{
	struct gw_raft__lease_table t = {0};
	int64_t id;

	(void)state;
	for (id = 1; id <= 5; id++) {
		gw_raft__lease_put(&t, id, id, 0);
	}
	gw_raft__lease_find(&t, 5)->revoking = true;
	gw_raft__lease_drop(&t, 3);
	assert_int_equal(t.n, 4);
	assert_null(gw_raft__lease_find(&t, 3));
	for (id = 1; id <= 5; id++) {
		if (id != 3) {
			struct gw_raft__lease *l = gw_raft__lease_find(&t, id);
			assert_non_null(l);
			assert_int_equal(l->ttl, id);
			assert_int_equal(l->deadline, (uint64_t)id * 1000);
			assert_int_equal(l->revoking, id == 5);
		}
	}
	gw_raft__lease_drop(&t, 42);
	assert_int_equal(t.n, 4);
	gw_raft__lease_drop(&t, 5); /* the last one */
	gw_raft__lease_drop(&t, 1); /* the first one */
	assert_int_equal(t.n, 2);
	assert_non_null(gw_raft__lease_find(&t, 2));
	assert_non_null(gw_raft__lease_find(&t, 4));
	gw_raft__lease_drop(&t, 2);
	gw_raft__lease_drop(&t, 4);
	assert_int_equal(t.n, 0);
	gw_raft__lease_drop(&t, 4);
	assert_int_equal(t.n, 0);
	gw_raft__lease_table_free(&t);
}

/* Past the first capacity (16) the table doubles and loses nothing. */
static void test_growth_past_capacity(void **state)
{
	struct gw_raft__lease_table t = {0};
	int64_t id;

	(void)state;
	for (id = 1; id <= 100; id++) {
		assert_non_null(gw_raft__lease_put(&t, id, id, 7));
		if (id == 16) {
			assert_int_equal(t.cap, 16);
		}
	}
	assert_int_equal(t.n, 100);
	assert_true(t.cap >= 100);
	for (id = 1; id <= 100; id++) {
		struct gw_raft__lease *l = gw_raft__lease_find(&t, id);
		assert_non_null(l);
		assert_int_equal(l->deadline, 7 + (uint64_t)id * 1000);
	}
	gw_raft__lease_table_free(&t);
	/* The table is usable again after being freed. */
	assert_non_null(gw_raft__lease_put(&t, 1, 1, 0));
	assert_int_equal(t.n, 1);
	gw_raft__lease_table_free(&t);
}

/* ---- through a real one-node raft ----------------------------------------- */

static void revoke_lease(struct fixture *f, int64_t id)
{
	struct gw_store_op op;

	memset(&op, 0, sizeof op);
	op.type = GW_OP_LEASE_REVOKE;
	op.u.lease_revoke.id = id;
	propose_ok(f, &op, 0);
}

/* Keep-alive on the leader: answered through the callback (not from
 * inside) with the TTL. */
static void keepalive_ok(struct fixture *f, int64_t id, int expect_err)
{
	int before = f->done;

	f->ttl = -1;
	assert_int_equal(gw_raft_lease_keepalive(f->raft, id, keepalive_cb, f), 0);
	assert_int_equal(f->done, before);
	run_until(f, before + 1);
	assert_int_equal(f->err, expect_err);
}

/* Grant by proposal: the leader tracks the lease at its full TTL;
 * keep-alive restarts it and answers the TTL; a revoke by proposal makes
 * the leader forget it and a keep-alive then answers GW_ELEASENOTFOUND. */
static void test_grant_keepalive_revoke(void **state)
{
	struct fixture *f = *state;
	struct gw_raft__lease *l;
	int64_t id;

	open_node(f, 0);
	wait_ready(f);
	grant(f, 10);
	id = f->lease_id;
	assert_int_equal(gw_raft_lease_remaining(f->raft, id), 10);
	l = gw_raft__lease_find(&f->raft->leases, id);
	assert_non_null(l);
	assert_int_equal(l->ttl, 10);

	l->deadline = gw_raft__now(f->raft) + 1500; /* as if 8.5 s passed */
	assert_int_equal(gw_raft_lease_remaining(f->raft, id), 2);
	keepalive_ok(f, id, 0);
	assert_int_equal(f->ttl, 10);
	assert_int_equal(gw_raft_lease_remaining(f->raft, id), 10);

	revoke_lease(f, id);
	assert_null(gw_raft__lease_find(&f->raft->leases, id));
	assert_int_equal(gw_raft_lease_remaining(f->raft, id), -1);
	keepalive_ok(f, id, GW_ELEASENOTFOUND);
	assert_int_equal(f->ttl, 0);
	close_node(f);
}

/* Unknown leases: keep-alive answers GW_ELEASENOTFOUND and adds nothing;
 * remaining is -1; a NULL callback is refused. */
static void test_keepalive_unknown(void **state)
{
	struct fixture *f = *state;

	open_node(f, 0);
	wait_ready(f);
	keepalive_ok(f, 12345, GW_ELEASENOTFOUND);
	assert_int_equal(f->raft->leases.n, 0);
	assert_int_equal(gw_raft_lease_remaining(f->raft, 12345), -1);
	assert_int_equal(gw_raft_lease_keepalive(f->raft, 1, NULL, f), GW_EINVAL);
	close_node(f);
}

/* A lease whose deadline passed is revoked by the leader's tick with one
 * proposal (the log grows by exactly one entry however many ticks pass
 * before it applies) and forgotten; the store no longer has it. */
static void test_expired_lease_revoked_once(void **state)
{
	struct fixture *f = *state;
	struct gw_lease_info info;
	uint64_t before;
	int64_t id, other;

	open_node(f, 0);
	wait_ready(f);
	grant(f, 60);
	id = f->lease_id;
	grant(f, 60);
	other = f->lease_id;
	before = raft_last_index(&f->raft->raft);
	gw_raft__lease_find(&f->raft->leases, id)->deadline = gw_raft__now(f->raft);
	RUN_UNTIL(f, gw_raft__lease_find(&f->raft->leases, id) == NULL &&
			 raft_last_applied(&f->raft->raft) == raft_last_index(&f->raft->raft));
	assert_int_equal(raft_last_index(&f->raft->raft), before + 1);
	assert_int_equal(gw_store_lease_get(f->store, id, false, &info), GW_ELEASENOTFOUND);
	assert_int_equal(gw_store_lease_get(f->store, other, false, &info), 0);
	gw_store_lease_info_free(&info);
	assert_int_equal(gw_raft_lease_remaining(f->raft, other), 60);
	close_node(f);
}

/* A new leader (here: the same node restarted) restarts every lease at its
 * full TTL, whatever was left before. */
static void test_restart_reloads_full_ttl(void **state)
{
	struct fixture *f = *state;
	int64_t a, b;

	open_node(f, 0);
	wait_ready(f);
	grant(f, 20);
	a = f->lease_id;
	grant(f, 7);
	b = f->lease_id;
	gw_raft__lease_find(&f->raft->leases, a)->deadline = gw_raft__now(f->raft) + 2000;
	assert_int_equal(gw_raft_lease_remaining(f->raft, a), 2);
	close_node(f);

	open_node(f, 0);
	assert_int_equal(gw_raft_lease_remaining(f->raft, a), -1); /* not tracked yet */
	RUN_UNTIL(f, f->raft->leases_loaded && gw_raft__is_leader(f->raft));
	assert_int_equal(f->raft->leases.n, 2);
	assert_int_equal(gw_raft_lease_remaining(f->raft, a), 20);
	assert_int_equal(gw_raft_lease_remaining(f->raft, b), 7);
	close_node(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_put_new_lease),
	    cmocka_unit_test(test_put_restarts_at_full_ttl),
	    cmocka_unit_test(test_put_ttl_not_positive),
	    cmocka_unit_test(test_left_rounds_up),
	    cmocka_unit_test(test_expired_picks_exactly),
	    cmocka_unit_test(test_expired_skips_revoking),
	    cmocka_unit_test(test_drop_keeps_others),
	    cmocka_unit_test(test_growth_past_capacity),
#define T(name) cmocka_unit_test_setup_teardown(name, fixture_setup, fixture_teardown)
	    T(test_grant_keepalive_revoke),
	    T(test_keepalive_unknown),
	    T(test_expired_lease_revoked_once),
	    T(test_restart_reloads_full_ttl),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
