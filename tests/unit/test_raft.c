/* test_raft.c: one real node in-process (raft_uv on a temp dir, real LMDB
 * store): bootstrap writes the identity files (secret mode 0600), proposals
 * commit with the store's result, a read barrier passes, status reports a
 * one-voter leader, a restart replays the log as a no-op and serves the data,
 * a damaged identity is refused. Every case closes its loop with no live
 * handles left. */
#include "config.h"

#include "lib/err.h"
#include "raft/raft.h"
#include "raft/raft_int.h"
#include "store/store.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

struct fixture {
	uv_loop_t loop;
	char dir[64];
	struct gw_store *store;
	struct gw_raft *raft;
	int done;
	int err;
	int64_t revision;
	int res_err;
};

static void open_node(struct fixture *f, int expect)
{
	struct gw_store_opts so;
	struct gw_raft_opts ro;
	char sdir[128];

	snprintf(sdir, sizeof sdir, "%s/store", f->dir);
	memset(&so, 0, sizeof so);
	so.dir = sdir;
	so.no_sync = true;
	assert_int_equal(gw_store_open(&so, &f->store), 0);
	memset(&ro, 0, sizeof ro);
	ro.loop = &f->loop;
	ro.store = f->store;
	ro.data_dir = f->dir;
	ro.name = "unit";
	ro.raft_address = "127.0.0.1:0";
	ro.etcd_url = "http://127.0.0.1:1";
	ro.election_timeout_ms = 300;
	ro.heartbeat_ms = 30;
	assert_int_equal(gw_raft_start(&ro, &f->raft), expect);
}

static void stopped(void *data)
{
	struct fixture *f = data;
	f->done++;
}

static void run_until(struct fixture *f, int done)
{
	uint64_t deadline = uv_now(&f->loop) + 10000;
	while (f->done < done && uv_now(&f->loop) < deadline) {
		uv_run(&f->loop, UV_RUN_ONCE);
	}
	assert_int_equal(f->done, done);
}

static void close_node(struct fixture *f)
{
	int before = f->done;
	gw_raft_stop(f->raft, stopped, f);
	run_until(f, before + 1);
	gw_store_close(f->store);
	f->raft = NULL;
	f->store = NULL;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "/tmp/test_raft.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(uv_loop_init(&f->loop), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	uv_run(&f->loop, UV_RUN_NOWAIT);
	assert_int_equal(uv_loop_close(&f->loop), 0); /* no live handles */
	snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void wait_leader(struct fixture *f)
{
	struct gw_raft_status st;
	uint64_t deadline = uv_now(&f->loop) + 10000;

	do {
		uv_run(&f->loop, UV_RUN_ONCE);
		gw_raft_status(f->raft, &st);
	} while (st.state != GW_STATE_LEADER && uv_now(&f->loop) < deadline);
	assert_int_equal(st.state, GW_STATE_LEADER);
}

static void propose_cb(void *data, int err, struct gw_store_result *res)
{
	struct fixture *f = data;
	f->err = err;
	if (res != NULL) {
		f->revision = res->revision;
		f->res_err = res->err;
		gw_store_result_free(res);
	}
	f->done++;
}

static void barrier_cb(void *data, int err)
{
	struct fixture *f = data;
	f->err = err;
	f->done++;
}

static void put(struct fixture *f, const char *key, const char *value)
{
	struct gw_store_op op;
	int before = f->done;

	memset(&op, 0, sizeof op);
	op.type = GW_OP_PUT;
	op.u.put.key = key;
	op.u.put.key_len = strlen(key);
	op.u.put.value = value;
	op.u.put.value_len = strlen(value);
	assert_int_equal(gw_raft_propose(f->raft, &op, 0, propose_cb, f), 0);
	assert_int_equal(f->done, before); /* never called from inside */
	run_until(f, before + 1);
	assert_int_equal(f->err, 0);
	assert_int_equal(f->res_err, 0);
}

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
	gw_range_resp_free(&resp);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_bootstrap_propose_restart, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_damaged_identity_refused, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
