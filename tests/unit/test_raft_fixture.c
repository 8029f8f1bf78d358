/* test_raft_fixture.c: the raft unit tests' fixture (test_raft_fixture.h):
 * a one-node raft on a temp dir and a private loop, driven until callbacks
 * fire. A failed assertion ends the test through cmocka. */
#include "config.h"

#include "lib/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_raft_fixture.h"

int fixture_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	assert_non_null(f);
	snprintf(f->dir, sizeof f->dir, "/tmp/test_raft.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(uv_loop_init(&f->loop), 0);
	*state = f;
	return 0;
}

int fixture_teardown(void **state)
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

void open_node(struct fixture *f, int expect)
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
	ro.admin_url = "http://127.0.0.1:2";
	ro.proxy_url = "http://127.0.0.1:3";
	ro.status_url = "http://127.0.0.1:4";
	ro.election_timeout_ms = 300;
	ro.heartbeat_ms = 30;
	ro.voters = f->voters;
	if (f->join_peer != NULL) {
		ro.join_peer = f->join_peer;
		ro.join_secret = "unit-secret";
	}
	assert_int_equal(gw_raft_start(&ro, &f->raft), expect);
}

void stopped(void *data)
{
	struct fixture *f = data;
	f->done++;
}

void run_until(struct fixture *f, int done)
{
	RUN_UNTIL(f, f->done >= done);
	assert_int_equal(f->done, done);
}

void close_node(struct fixture *f)
{
	int before = f->done;
	gw_raft_stop(f->raft, stopped, f);
	run_until(f, before + 1);
	gw_store_close(f->store);
	f->raft = NULL;
	f->store = NULL;
}

void forget_node(struct fixture *f)
{
	gw_store_close(f->store);
	f->store = NULL;
	f->raft = NULL;
	uv_run(&f->loop, UV_RUN_NOWAIT);
}

static bool is_leader(struct fixture *f)
{
	struct gw_raft_status st;
	gw_raft_status(f->raft, &st);
	return st.state == GW_STATE_LEADER;
}

void wait_leader(struct fixture *f)
{
	RUN_UNTIL(f, is_leader(f));
}

static bool is_ready(struct fixture *f)
{
	struct gw_raft *r = f->raft;
	struct gw_raft_member m;

	return is_leader(f) && r->leases_loaded && !r->meta_inflight &&
	       gw_raft__member_load(r, r->ident.node_id, &m) == 0 && r->barrier_inflight == NULL &&
	       gw_list_empty(&r->proposals) &&
	       raft_last_applied(&r->raft) == raft_last_index(&r->raft);
}

void wait_ready(struct fixture *f)
{
	RUN_UNTIL(f, is_ready(f));
}

void propose_cb(void *data, int err, struct gw_store_result *res)
{
	struct fixture *f = data;
	f->err = err;
	if (res != NULL) {
		f->revision = res->revision;
		f->res_err = res->err;
		f->lease_id = res->lease_id;
		gw_store_result_free(res);
	}
	f->done++;
}

void barrier_cb(void *data, int err)
{
	struct fixture *f = data;
	f->err = err;
	f->done++;
}

void keepalive_cb(void *data, int err, int64_t ttl)
{
	struct fixture *f = data;
	f->err = err;
	f->ttl = ttl;
	f->done++;
}

void propose_ok(struct fixture *f, const struct gw_store_op *op, int res_err)
{
	int before = f->done;

	f->res_err = -1;
	assert_int_equal(gw_raft_propose(f->raft, op, 0, propose_cb, f), 0);
	assert_int_equal(f->done, before); /* never called from inside */
	run_until(f, before + 1);
	assert_int_equal(f->err, 0);
	assert_int_equal(f->res_err, res_err);
}

void put(struct fixture *f, const char *key, const char *value)
{
	struct gw_store_op op;

	memset(&op, 0, sizeof op);
	op.type = GW_OP_PUT;
	op.u.put.key = key;
	op.u.put.key_len = strlen(key);
	op.u.put.value = value;
	op.u.put.value_len = strlen(value);
	propose_ok(f, &op, 0);
}

void grant(struct fixture *f, int64_t ttl)
{
	struct gw_store_op op;

	memset(&op, 0, sizeof op);
	op.type = GW_OP_LEASE_GRANT;
	op.u.lease_grant.ttl = ttl;
	f->lease_id = 0;
	propose_ok(f, &op, 0);
	assert_true(f->lease_id != 0);
}
