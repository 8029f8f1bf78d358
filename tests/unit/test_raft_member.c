/* test_raft_member.c: members (raft/member.c) and membership changes
 * (raft/membership.c). First the pure pieces: the parser of the view a
 * leader's ping carries (a malformed view keeps the previous one), the
 * leader's promote/demote choice, the health table (capacity, the
 * reachable window), the configuration helpers and the raft transport's
 * allow-list (raft/peerauth.c), on a struct gw_raft built by hand. Then through one real node
 * (test_raft_fixture.h): member metadata round trip and malformed metadata, the last voter never
 * removed, unknown members, leadership transfer refused, join checks, a standby added and removed,
 * the leader's duty promoting a healthy standby. Every case closes its loop with no live handle. */
#include "config.h"

#include "lib/err.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_raft_fixture.h"

/* ---- the view a leader's ping carries ------------------------------------- */

static void test_view_parse(void **state)
{
	struct gw_raft__health v[GW_RAFT_MAX_MEMBERS];

	(void)state;
	memset(v, 0xff, sizeof v);
	assert_int_equal(gw_raft__view_parse("00000000000000aa=1,00000000000000bb=0,c=1", v,
					     GW_RAFT_MAX_MEMBERS),
			 3);
	assert_int_equal(v[0].id, 0xaa);
	assert_int_equal(v[0].last_ok, 1);
	assert_false(v[0].pinging);
	assert_int_equal(v[1].id, 0xbb);
	assert_int_equal(v[1].last_ok, 0);
	assert_int_equal(v[2].id, 0xc);
	assert_int_equal(v[2].last_ok, 1);
	/* A trailing comma is accepted; an empty view has no entries. */
	assert_int_equal(gw_raft__view_parse("ffffffffffffffff=1,", v, GW_RAFT_MAX_MEMBERS), 1);
	assert_int_equal(v[0].id, UINT64_MAX);
	assert_int_equal(gw_raft__view_parse("", v, GW_RAFT_MAX_MEMBERS), 0);
}

/* Malformed views are refused whole: the previous view stays as it was,
 * even when some entries parsed before the error. */
static void test_view_parse_malformed_keeps_previous(void **state)
{
	static const char *const bad[] = {
	    "zz=1", "aa", "aa=", "aa=2", "=1", "aa=1,zz", "aa=1;bb=0", "aa=1,bb=0,cc", "aa=1,,bb=0",
	};
	struct gw_raft__health v[GW_RAFT_MAX_MEMBERS], before[GW_RAFT_MAX_MEMBERS];
	size_t i;

	(void)state;
	assert_int_equal(gw_raft__view_parse("1=1,2=0,3=1", v, GW_RAFT_MAX_MEMBERS), 3);
	memcpy(before, v, sizeof v);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(gw_raft__view_parse(bad[i], v, GW_RAFT_MAX_MEMBERS), GW_EPROTO);
		assert_memory_equal(v, before, sizeof v);
	}
}

/* At most @max entries are read (GW_RAFT_MAX_MEMBERS at most); the rest is
 * ignored, malformed or not. */
static void test_view_parse_caps_entries(void **state)
{
	struct gw_raft__health v[GW_RAFT_MAX_MEMBERS];
	char buf[2048];
	size_t len = 0;
	int i;

	(void)state;
	for (i = 1; i <= GW_RAFT_MAX_MEMBERS + 6; i++) {
		len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%x=%d", i > 1 ? "," : "", i,
					i % 2);
	}
	assert_int_equal(gw_raft__view_parse(buf, v, GW_RAFT_MAX_MEMBERS), GW_RAFT_MAX_MEMBERS);
	assert_int_equal(v[GW_RAFT_MAX_MEMBERS - 1].id, GW_RAFT_MAX_MEMBERS);
	assert_int_equal(gw_raft__view_parse(buf, v, 1000), GW_RAFT_MAX_MEMBERS);
	assert_int_equal(gw_raft__view_parse("1=1,2=0,garbage", v, 2), 2);
	assert_int_equal(v[1].id, 2);
}

/* ---- the leader's promote/demote choice ----------------------------------- */

#define NOW        100000
#define REPLACE_MS 30000

static struct gw_raft__health health_at(uint64_t id, uint64_t last_ok)
{
	struct gw_raft__health h = {id, last_ok, false};
	return h;
}

/* Weigh one member of @role heard from @ago ms before NOW. */
static void consider(struct gw_raft__choice *c, uint64_t id, int role, uint64_t ago)
{
	struct gw_raft__health h = health_at(id, NOW - ago);
	gw_raft__choice_consider(c, id, role, &h, NOW, REPLACE_MS);
}

/* A standby or spare heard from lately is promoted while voters are
 * missing; not once there are enough and no voter is silent. */
static void test_choice_promotes_healthy_standby(void **state)
{
	struct gw_raft__choice c = {0, 0};
	uint64_t id = 0;

	(void)state;
	consider(&c, 2, RAFT_VOTER, 10);
	consider(&c, 3, RAFT_STANDBY, 100);
	assert_int_equal(c.promote, 3);
	assert_int_equal(c.demote, 0);
	assert_int_equal(gw_raft__choice_task(&c, 2, 3, false, &id), GW_RAFT__MT_PROMOTE);
	assert_int_equal(id, 3);
	id = 0;
	assert_int_equal(gw_raft__choice_task(&c, 3, 3, false, &id), -1);
	assert_int_equal(gw_raft__choice_task(&c, 5, 3, false, &id), -1);
	assert_int_equal(id, 0);

	memset(&c, 0, sizeof c);
	consider(&c, 4, RAFT_SPARE, 0);
	assert_int_equal(gw_raft__choice_task(&c, 1, 3, false, &id), GW_RAFT__MT_PROMOTE);
	assert_int_equal(id, 4);
}

/* "Lately" is within half of the reachable window (1.5 s). */
static void test_choice_half_window(void **state)
{
	struct gw_raft__choice c = {0, 0};

	(void)state;
	consider(&c, 2, RAFT_STANDBY, GW_RAFT__REACHABLE_MS / 2);
	assert_int_equal(c.promote, 0);
	consider(&c, 3, RAFT_STANDBY, GW_RAFT__REACHABLE_MS);
	assert_int_equal(c.promote, 0);
	consider(&c, 4, RAFT_STANDBY, GW_RAFT__REACHABLE_MS / 2 - 1);
	assert_int_equal(c.promote, 4);
}

/* A voter silent for over replace_voter_ms is demoted only when a healthy
 * standby can take its place and no voter is missing. */
static void test_choice_demote_needs_standby(void **state)
{
	struct gw_raft__choice c = {0, 0};
	uint64_t id = 0;

	(void)state;
	consider(&c, 2, RAFT_VOTER, REPLACE_MS); /* not over */
	assert_int_equal(c.demote, 0);
	consider(&c, 3, RAFT_VOTER, REPLACE_MS + 1);
	assert_int_equal(c.demote, 3);
	assert_int_equal(gw_raft__choice_task(&c, 3, 3, false, &id), -1); /* no standby */
	consider(&c, 4, RAFT_STANDBY, 0);
	assert_int_equal(gw_raft__choice_task(&c, 3, 3, false, &id), GW_RAFT__MT_DEMOTE);
	assert_int_equal(id, 3);
	/* Missing voters: promoting comes first. */
	assert_int_equal(gw_raft__choice_task(&c, 2, 3, false, &id), GW_RAFT__MT_PROMOTE);
	assert_int_equal(id, 4);
	/* A silent standby or spare is never demoted. */
	memset(&c, 0, sizeof c);
	consider(&c, 5, RAFT_STANDBY, REPLACE_MS * 10);
	consider(&c, 6, RAFT_SPARE, REPLACE_MS * 10);
	assert_int_equal(c.demote, 0);
	assert_int_equal(c.promote, 0);
}

/* The first candidate of each kind wins; nothing while a membership task
 * is queued or running. */
static void test_choice_first_wins_and_busy(void **state)
{
	struct gw_raft__choice c = {0, 0};
	uint64_t id = 0;

	(void)state;
	consider(&c, 7, RAFT_VOTER, REPLACE_MS + 5);
	consider(&c, 8, RAFT_STANDBY, 1);
	consider(&c, 9, RAFT_VOTER, REPLACE_MS + 500);
	consider(&c, 10, RAFT_STANDBY, 0);
	assert_int_equal(c.promote, 8);
	assert_int_equal(c.demote, 7);
	assert_int_equal(gw_raft__choice_task(&c, 1, 3, true, &id), -1);
	assert_int_equal(gw_raft__choice_task(&c, 3, 3, true, &id), -1);
	assert_int_equal(id, 0);
	memset(&c, 0, sizeof c);
	assert_int_equal(gw_raft__choice_task(&c, 0, 3, false, &id), -1);
}

/* ---- health table and configuration, on a struct gw_raft by hand ---------- */

struct bare {
	uv_loop_t loop;
	struct gw_raft *r;
};

static int bare_setup(void **state)
{
	struct bare *b = calloc(1, sizeof *b);
	assert_non_null(b);
	assert_int_equal(uv_loop_init(&b->loop), 0);
	b->r = calloc(1, sizeof *b->r);
	assert_non_null(b->r);
	b->r->loop = &b->loop;
	b->r->ident.node_id = 1;
	raft_configuration_init(&b->r->raft.configuration);
	*state = b;
	return 0;
}

static int bare_teardown(void **state)
{
	struct bare *b = *state;
	raft_configuration_close(&b->r->raft.configuration);
	free(b->r);
	assert_int_equal(uv_loop_close(&b->loop), 0);
	free(b);
	return 0;
}

/* Entries are created on demand with last_ok = now, found again, and the
 * table holds GW_RAFT_MAX_MEMBERS of them. */
static void test_health_table_capacity(void **state)
{
	struct bare *b = *state;
	struct gw_raft__health *h, *again;
	uint64_t id;

	assert_null(gw_raft__health_get(b->r, 2, false));
	h = gw_raft__health_get(b->r, 2, true);
	assert_non_null(h);
	assert_int_equal(h->id, 2);
	assert_int_equal(h->last_ok, uv_now(&b->loop));
	assert_false(h->pinging);
	h->pinging = true;
	again = gw_raft__health_get(b->r, 2, true);
	assert_ptr_equal(again, h);
	assert_true(again->pinging);
	assert_int_equal(b->r->n_health, 1);
	for (id = 3; id < 2 + GW_RAFT_MAX_MEMBERS; id++) {
		assert_non_null(gw_raft__health_get(b->r, id, true));
	}
	assert_int_equal(b->r->n_health, GW_RAFT_MAX_MEMBERS);
	assert_null(gw_raft__health_get(b->r, 1000, true)); /* full */
	assert_int_equal(b->r->n_health, GW_RAFT_MAX_MEMBERS);
	assert_non_null(gw_raft__health_get(b->r, 2 + GW_RAFT_MAX_MEMBERS - 1, false));
}

/* Reachable: this node always; another while its last answered ping is
 * younger than GW_RAFT__REACHABLE_MS; an unknown member never. */
static void test_reachable_window(void **state)
{
	struct bare *b = *state;
	uint64_t now;

	uv_update_time(&b->loop);
	now = uv_now(&b->loop) + 10 * GW_RAFT__REACHABLE_MS;
	b->loop.time = now; /* a clock far enough from 0 for the window */
	assert_true(gw_raft__reachable(b->r, 1));
	assert_false(gw_raft__reachable(b->r, 2));
	assert_non_null(gw_raft__health_get(b->r, 2, true));
	assert_true(gw_raft__reachable(b->r, 2));
	gw_raft__health_get(b->r, 2, false)->last_ok = now - (GW_RAFT__REACHABLE_MS - 1);
	assert_true(gw_raft__reachable(b->r, 2));
	gw_raft__health_get(b->r, 2, false)->last_ok = now - GW_RAFT__REACHABLE_MS;
	assert_false(gw_raft__reachable(b->r, 2));
	assert_true(gw_raft__reachable(b->r, 1)); /* self, with no entry */
}

/* conf_voters counts voters only; conf_get finds any role. */
static void test_conf_voters_and_get(void **state)
{
	struct bare *b = *state;
	struct raft_configuration *c = &b->r->raft.configuration;
	const struct raft_server *s;

	assert_int_equal(gw_raft__conf_voters(b->r), 0);
	assert_null(gw_raft__conf_get(b->r, 1));
	assert_int_equal(raft_configuration_add(c, 1, "127.0.0.1:1", RAFT_VOTER), 0);
	assert_int_equal(raft_configuration_add(c, 2, "127.0.0.1:2", RAFT_STANDBY), 0);
	assert_int_equal(raft_configuration_add(c, 3, "127.0.0.1:3", RAFT_SPARE), 0);
	assert_int_equal(raft_configuration_add(c, 4, "127.0.0.1:4", RAFT_VOTER), 0);
	assert_int_equal(gw_raft__conf_voters(b->r), 2);
	s = gw_raft__conf_get(b->r, 3);
	assert_non_null(s);
	assert_int_equal(s->role, RAFT_SPARE);
	assert_string_equal(s->address, "127.0.0.1:3");
	assert_null(gw_raft__conf_get(b->r, 5));
	assert_int_equal(gw_raft__map_role(RAFT_VOTER), GW_ROLE_VOTER);
	assert_int_equal(gw_raft__map_role(RAFT_STANDBY), GW_ROLE_STANDBY);
	assert_int_equal(gw_raft__map_role(RAFT_SPARE), GW_ROLE_SPARE);
}

/* The raft transport's allow-list (raft/peerauth.c). */
static void test_peer_allowlist(void **state)
{
	struct bare *b = *state;
	struct gw_raft *r = b->r;
	struct raft_configuration *c = &r->raft.configuration;

	r->raft_running = true;
	/* Joining: an empty configuration admits any member of the CA. */
	assert_true(gw_raft__peer_allowed(r, 7));
	assert_int_equal(raft_configuration_add(c, 1, "127.0.0.1:1", RAFT_VOTER), 0);
	assert_int_equal(raft_configuration_add(c, 2, "127.0.0.1:2", RAFT_VOTER), 0);
	assert_int_equal(raft_configuration_add(c, 3, "127.0.0.1:3", RAFT_STANDBY), 0);
	assert_true(gw_raft__peer_allowed(r, 2));
	assert_true(gw_raft__peer_allowed(r, 3));
	/* No leader: an id never seen may be a member added while we were
	 * away. Following a leader: only the leader itself. */
	assert_true(gw_raft__peer_allowed(r, 9));
	r->raft.state = RAFT_FOLLOWER;
	r->raft.follower_state.current_leader.id = 9;
	r->raft.follower_state.current_leader.address = "127.0.0.1:9";
	assert_true(gw_raft__peer_allowed(r, 9));
	assert_false(gw_raft__peer_allowed(r, 8));
	/* 3 removed: refused from then on, even without a leader. */
	raft_configuration_close(c);
	raft_configuration_init(c);
	assert_int_equal(raft_configuration_add(c, 1, "127.0.0.1:1", RAFT_VOTER), 0);
	assert_int_equal(raft_configuration_add(c, 2, "127.0.0.1:2", RAFT_VOTER), 0);
	gw_raft__peers_observe(r);
	r->raft.state = RAFT_UNAVAILABLE;
	assert_false(gw_raft__peer_allowed(r, 3));
	assert_true(gw_raft__peer_allowed(r, 2));
	/* Back in the configuration: allowed again. */
	assert_int_equal(raft_configuration_add(c, 3, "127.0.0.1:3", RAFT_SPARE), 0);
	assert_true(gw_raft__peer_allowed(r, 3));
	assert_int_equal(r->n_removed, 0);
	r->raft_running = false;
	assert_false(gw_raft__peer_allowed(r, 1));
}

static void test_member_key(void **state)
{
	char key[64];

	(void)state;
	gw_raft__member_key(0xab, key, sizeof key);
	assert_string_equal(key, "member/00000000000000ab");
	gw_raft__member_key(UINT64_MAX, key, sizeof key);
	assert_string_equal(key, "member/ffffffffffffffff");
}

/* ---- through a real one-node raft ----------------------------------------- */

#define FAKE_ID   UINT64_C(0xfa4e)
#define FAKE_ADDR "127.0.0.1:9" /* nothing listens there */

static void meta_put(struct fixture *f, uint64_t id, const char *json)
{
	struct gw_store_op op;
	char key[64];

	gw_raft__member_key(id, key, sizeof key);
	memset(&op, 0, sizeof op);
	op.type = GW_OP_META_PUT;
	op.u.meta.key = key;
	op.u.meta.key_len = strlen(key);
	op.u.meta.value = json;
	op.u.meta.value_len = strlen(json);
	propose_ok(f, &op, 0);
}

/* The node publishes its metadata ("member/<id>" JSON) and reads it back
 * field by field; status shows it. */
static void test_metadata_round_trip(void **state)
{
	struct fixture *f = *state;
	struct gw_raft_status *st = malloc(sizeof *st);
	struct gw_raft_member m;
	char *json, hex[32];
	cJSON *o;

	assert_non_null(st);
	open_node(f, 0);
	wait_ready(f);
	assert_int_equal(gw_raft__member_load(f->raft, f->raft->ident.node_id, &m), 0);
	assert_int_equal(m.id, f->raft->ident.node_id);
	assert_string_equal(m.name, "unit");
	assert_string_equal(m.raft_address, "127.0.0.1:0");
	assert_string_equal(m.etcd_url, "http://127.0.0.1:1");
	assert_string_equal(m.admin_url, "http://127.0.0.1:2");
	assert_string_equal(m.proxy_url, "http://127.0.0.1:3");
	assert_string_equal(m.status_url, "http://127.0.0.1:4");

	json = gw_raft__self_json(f->raft);
	assert_non_null(json);
	o = cJSON_Parse(json);
	assert_non_null(o);
	snprintf(hex, sizeof hex, "%016" PRIx64, f->raft->ident.node_id);
	assert_string_equal(cJSON_GetObjectItem(o, "id")->valuestring, hex);
	assert_string_equal(cJSON_GetObjectItem(o, "name")->valuestring, "unit");
	cJSON_Delete(o);
	free(json);

	gw_raft_status(f->raft, st);
	assert_int_equal(st->n_members, 1);
	assert_string_equal(st->members[0].admin_url, "http://127.0.0.1:2");
	assert_true(st->members[0].reachable_known);
	assert_true(st->members[0].reachable);
	free(st);
	close_node(f);
}

/* Metadata that does not parse reads as GW_EPROTO; wrong types leave the
 * field empty; none at all is GW_ENOTFOUND. */
static void test_metadata_malformed(void **state)
{
	struct fixture *f = *state;
	struct gw_raft_member m;

	open_node(f, 0);
	wait_ready(f);
	assert_int_equal(gw_raft__member_load(f->raft, FAKE_ID, &m), GW_ENOTFOUND);
	assert_int_equal(m.id, FAKE_ID);
	meta_put(f, FAKE_ID, "{\"name\":\"x\",");
	assert_int_equal(gw_raft__member_load(f->raft, FAKE_ID, &m), GW_EPROTO);
	meta_put(f, FAKE_ID, "not json at all");
	assert_int_equal(gw_raft__member_load(f->raft, FAKE_ID, &m), GW_EPROTO);
	meta_put(f, FAKE_ID, "{\"name\":5,\"etcd_url\":\"http://127.0.0.1:7\",\"admin_url\":null}");
	assert_int_equal(gw_raft__member_load(f->raft, FAKE_ID, &m), 0);
	assert_string_equal(m.name, "");
	assert_string_equal(m.etcd_url, "http://127.0.0.1:7");
	assert_string_equal(m.admin_url, "");
	close_node(f);
}

struct answer {
	int done;
	int err;
	uint64_t id;
	enum gw_raft_role role;
};

static void answer_cb(void *data, int err)
{
	struct answer *a = data;
	a->done++;
	a->err = err;
}

static void join_answer_cb(void *data, int err, uint64_t id, enum gw_raft_role role)
{
	struct answer *a = data;
	a->done++;
	a->err = err;
	a->id = id;
	a->role = role;
}

/* The last voter is never removed: through gw_raft_remove (answered
 * asynchronously), a REMOVE task and gw_raft__remove_self. */
static void test_remove_last_voter_refused(void **state)
{
	struct fixture *f = *state;
	struct answer a = {0}, b = {0};
	uint64_t self;

	open_node(f, 0);
	wait_ready(f);
	self = f->raft->ident.node_id;
	assert_int_equal(gw_raft_remove(f->raft, self, answer_cb, &a), 0);
	assert_int_equal(a.done, 0);
	RUN_UNTIL(f, a.done == 1);
	assert_int_equal(a.err, GW_EINVAL);
	assert_int_equal(
	    gw_raft__mtask_enqueue(f->raft, GW_RAFT__MT_REMOVE, self, NULL, NULL, answer_cb, &b),
	    0);
	RUN_UNTIL(f, b.done == 1);
	assert_int_equal(b.err, GW_EINVAL);
	assert_int_equal(gw_raft__remove_self(f->raft, answer_cb, &b, false), GW_EINVAL);
	assert_false(gw_raft__mtask_pending(f->raft, self));
	assert_int_equal(gw_raft__conf_voters(f->raft), 1);
	assert_non_null(gw_raft__conf_get(f->raft, self));
	close_node(f);
	assert_int_equal(a.done + b.done, 2);
}

/* An unknown member: GW_EMEMBERNOTFOUND through the callback; id 0 and a
 * NULL callback are refused at once. */
static void test_remove_unknown_member(void **state)
{
	struct fixture *f = *state;
	struct answer a = {0}, b = {0};

	open_node(f, 0);
	wait_ready(f);
	assert_int_equal(gw_raft_remove(f->raft, FAKE_ID, answer_cb, &a), 0);
	assert_int_equal(a.done, 0);
	RUN_UNTIL(f, a.done == 1);
	assert_int_equal(a.err, GW_EMEMBERNOTFOUND);
	assert_int_equal(gw_raft_remove(f->raft, 0, answer_cb, &a), GW_EINVAL);
	assert_int_equal(gw_raft_remove(f->raft, FAKE_ID, NULL, &a), GW_EINVAL);
	assert_int_equal(
	    gw_raft__mtask_enqueue(f->raft, GW_RAFT__MT_REMOVE, FAKE_ID, NULL, NULL, answer_cb, &b),
	    0);
	RUN_UNTIL(f, b.done == 1);
	assert_int_equal(b.err, GW_EMEMBERNOTFOUND);
	close_node(f);
	assert_int_equal(a.done, 1);
}

/* Transfer to this node or to an unknown one: GW_EBADTRANSFEREE at once,
 * no callback, no transfer started. */
static void test_transfer_refused(void **state)
{
	struct fixture *f = *state;
	struct answer a = {0};

	open_node(f, 0);
	wait_ready(f);
	assert_int_equal(gw_raft_transfer(f->raft, f->raft->ident.node_id, answer_cb, &a),
			 GW_EBADTRANSFEREE);
	assert_int_equal(gw_raft_transfer(f->raft, FAKE_ID, answer_cb, &a), GW_EBADTRANSFEREE);
	assert_false(f->raft->transferring);
	close_node(f);
	assert_int_equal(a.done, 0);
}

/* Join tasks check ids and addresses against the configuration: a new id
 * at a member's address and a member's id at another address are refused
 * (GW_EEXIST); a member joining again at its address is answered with its
 * role. Promote/demote tasks with nothing to do end with 0. */
static void test_join_task_checks(void **state)
{
	struct fixture *f = *state;
	struct answer a = {0}, b = {0}, c = {0}, d = {0}, e = {0};
	uint64_t self;

	open_node(f, 0);
	wait_ready(f);
	self = f->raft->ident.node_id;
	gw_raft__mtask_enqueue(f->raft, GW_RAFT__MT_JOIN, FAKE_ID, "127.0.0.1:0", join_answer_cb,
			       NULL, &a);
	gw_raft__mtask_enqueue(f->raft, GW_RAFT__MT_JOIN, self, FAKE_ADDR, join_answer_cb, NULL,
			       &b);
	gw_raft__mtask_enqueue(f->raft, GW_RAFT__MT_JOIN, self, "127.0.0.1:0", join_answer_cb, NULL,
			       &c);
	gw_raft__mtask_enqueue(f->raft, GW_RAFT__MT_PROMOTE, FAKE_ID, NULL, NULL, answer_cb, &d);
	gw_raft__mtask_enqueue(f->raft, GW_RAFT__MT_DEMOTE, self, NULL, NULL, answer_cb, &e);
	RUN_UNTIL(f, a.done + b.done + c.done + d.done + e.done == 5);
	assert_int_equal(a.err, GW_EEXIST);
	assert_int_equal(a.id, FAKE_ID);
	assert_int_equal(b.err, GW_EEXIST);
	assert_int_equal(c.err, 0);
	assert_int_equal(c.role, GW_ROLE_VOTER);
	assert_int_equal(d.err, 0);
	assert_int_equal(e.err, 0);
	assert_int_equal(f->raft->raft.configuration.n, 1);
	assert_false(gw_raft__mtask_pending(f->raft, self));
	close_node(f);
}

/* Add FAKE_ID as a standby (one voter wanted) and wait for the answer. */
static void add_standby(struct fixture *f)
{
	struct answer a = {0};

	assert_int_equal(gw_raft__mtask_enqueue(f->raft, GW_RAFT__MT_JOIN, FAKE_ID, FAKE_ADDR,
						join_answer_cb, NULL, &a),
			 0);
	assert_true(gw_raft__mtask_pending(f->raft, FAKE_ID));
	RUN_UNTIL(f, a.done == 1);
	assert_int_equal(a.err, 0);
	assert_int_equal(a.role, GW_ROLE_STANDBY);
	assert_false(gw_raft__mtask_pending(f->raft, FAKE_ID));
}

/* A standby joins (one voter wanted: no promotion), is listed, cannot lead
 * (transfer refused), does not count as a voter (the leader is still the
 * last one), and is removed. */
static void test_standby_added_then_removed(void **state)
{
	struct fixture *f = *state;
	struct gw_raft_status *st = malloc(sizeof *st);
	struct answer a = {0};
	const struct raft_server *s;

	assert_non_null(st);
	f->voters = 1;
	open_node(f, 0);
	wait_ready(f);
	add_standby(f);
	s = gw_raft__conf_get(f->raft, FAKE_ID);
	assert_non_null(s);
	assert_int_equal(s->role, RAFT_STANDBY);
	assert_int_equal(gw_raft__conf_voters(f->raft), 1);
	gw_raft_status(f->raft, st);
	assert_int_equal(st->n_members, 2);
	assert_int_equal(gw_raft_transfer(f->raft, FAKE_ID, answer_cb, &a), GW_EBADTRANSFEREE);
	assert_int_equal(gw_raft__remove_self(f->raft, answer_cb, &a, false), GW_EINVAL);

	assert_int_equal(gw_raft_remove(f->raft, FAKE_ID, answer_cb, &a), 0);
	RUN_UNTIL(f, a.done == 1);
	assert_int_equal(a.err, 0);
	assert_null(gw_raft__conf_get(f->raft, FAKE_ID));
	gw_raft_status(f->raft, st);
	assert_int_equal(st->n_members, 1);
	free(st);
	close_node(f);
}

/* The leader's duty: a standby with metadata, heard from (a fresh health
 * entry), is promoted once voters are missing: a PROMOTE task is running. */
static void test_leader_duty_promotes_standby(void **state)
{
	struct fixture *f = *state;

	f->voters = 1;
	open_node(f, 0);
	wait_ready(f);
	add_standby(f);
	meta_put(f, FAKE_ID, "{\"name\":\"fake\",\"etcd_url\":\"http://127.0.0.1:1\"}");
	f->raft->voters = 3; /* now voters are missing */
	RUN_UNTIL(f, gw_raft__mtask_pending(f->raft, FAKE_ID));
	assert_non_null(gw_raft__health_get(f->raft, FAKE_ID, false));
	assert_int_equal(gw_raft__conf_get(f->raft, FAKE_ID)->role, RAFT_STANDBY); /* catching up */
	close_node(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_view_parse),
	    cmocka_unit_test(test_view_parse_malformed_keeps_previous),
	    cmocka_unit_test(test_view_parse_caps_entries),
	    cmocka_unit_test(test_choice_promotes_healthy_standby),
	    cmocka_unit_test(test_choice_half_window),
	    cmocka_unit_test(test_choice_demote_needs_standby),
	    cmocka_unit_test(test_choice_first_wins_and_busy),
	    cmocka_unit_test_setup_teardown(test_health_table_capacity, bare_setup, bare_teardown),
	    cmocka_unit_test_setup_teardown(test_reachable_window, bare_setup, bare_teardown),
	    cmocka_unit_test_setup_teardown(test_conf_voters_and_get, bare_setup, bare_teardown),
	    cmocka_unit_test_setup_teardown(test_peer_allowlist, bare_setup, bare_teardown),
	    cmocka_unit_test(test_member_key),
#define T(name) cmocka_unit_test_setup_teardown(name, fixture_setup, fixture_teardown)
	    T(test_metadata_round_trip),
	    T(test_metadata_malformed),
	    T(test_remove_last_voter_refused),
	    T(test_remove_unknown_member),
	    T(test_transfer_refused),
	    T(test_join_task_checks),
	    T(test_standby_added_then_removed),
	    T(test_leader_duty_promotes_standby),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
