/* test_raft_fixture.h: what the raft unit tests share. One real node
 * in-process (raft_uv on a temp dir, real LMDB store) on the test's own uv
 * loop, and helpers that drive the loop until a callback fired or a
 * condition holds: no sleeps, and time bounds (10 s) only catch hangs.
 * Teardown asserts the loop closes with no live handle. Includes cmocka, so
 * include it after the system headers. */
#ifndef GW_TEST_RAFT_FIXTURE_H
#define GW_TEST_RAFT_FIXTURE_H

#include "raft/raft.h"
#include "raft/raft_int.h"
#include "store/store.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

struct fixture {
	uv_loop_t loop;
	char dir[64];
	struct gw_store *store;
	struct gw_raft *raft;
	int done;         /* callbacks seen */
	int err;          /* the last callback's error */
	int64_t revision; /* the last proposal's store revision */
	int res_err;      /* the last proposal's business error */
	int64_t lease_id; /* the last LEASE_GRANT's lease */
	int64_t ttl;      /* the last keep-alive's TTL */
	/* Options read by open_node (set them before). */
	const char *join_peer; /* join through it instead of bootstrapping */
	int voters;            /* voters wanted; 0 = the default (3) */
};

/* Drive @f's loop until @cond holds; fail the test after 10 s. */
#define RUN_UNTIL(f, cond)                                                                         \
	do {                                                                                       \
		uint64_t run_deadline_ = uv_now(&(f)->loop) + 10000;                               \
		while (!(cond) && uv_now(&(f)->loop) < run_deadline_) {                            \
			uv_run(&(f)->loop, UV_RUN_ONCE);                                           \
		}                                                                                  \
		assert_true(cond);                                                                 \
	} while (0)

/* A temp data dir and a loop / remove both, asserting no live handle. */
int fixture_setup(void **state);
int fixture_teardown(void **state);

/* Open the store and start raft on f->dir; gw_raft_start must return
 * @expect. */
void open_node(struct fixture *f, int expect);
/* gw_raft_stop, wait for its callback, close the store. */
void close_node(struct fixture *f);
/* After the stop callback of a gw_raft_stop the test called itself: close
 * the store, forget the freed raft, run the close callbacks left. */
void forget_node(struct fixture *f);
/* Run until f->done reaches @done (and assert it is exactly @done). */
void run_until(struct fixture *f, int done);
/* Run until this node leads. */
void wait_leader(struct fixture *f);
/* Run until this node leads, tracks its leases, has published its member
 * metadata and has nothing in flight: from then on the log grows only by
 * what the test proposes. */
void wait_ready(struct fixture *f);

/* Callbacks recording into struct fixture (f->done++ last). */
void stopped(void *data);
void propose_cb(void *data, int err, struct gw_store_result *res);
void barrier_cb(void *data, int err);
void keepalive_cb(void *data, int err, int64_t ttl);

/* Propose @op, check the callback does not run from inside, wait for it
 * and expect 0 with a result of business error @res_err. */
void propose_ok(struct fixture *f, const struct gw_store_op *op, int res_err);
void put(struct fixture *f, const char *key, const char *value);
/* Grant a lease of @ttl seconds; its id in f->lease_id. */
void grant(struct fixture *f, int64_t ttl);

#endif
