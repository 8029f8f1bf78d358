/* etcd_cluster.c: the Cluster (MemberList, MemberAdd, MemberRemove) and
 * Maintenance (Status, Alarm, Defragment, MoveLeader) services of the etcd
 * API.
 *
 * Happy path: members and status come from gw_raft_status, taken for the
 * call; MemberRemove and MoveLeader are raft tasks answered when they
 * complete. Without a raft (standalone) the node is the one member.
 * Failure modes: raft's errors end the call through gw_etcd__finish
 * (etcd's wording: "member not found", "bad leader transferee", ...);
 * MemberAdd answers that joining goes through `apigw join`. Loop thread. */
#include "config.h"

#include "admin/etcd_int.h"
#include "lib/crc32c.h"
#include "lib/err.h"
#include "lib/log.h"
#include "raft/raft.h"
#include "store/store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ETCD_VERSION "3.4.23"

/* ---- Cluster ---- */

static char **one_url(struct gw_etcd__call *c, const char *scheme, const char *addr, size_t *n)
{
	char **arr;
	char buf[200];
	*n = 0;
	if (addr[0] == '\0') {
		return NULL;
	}
	arr = gw_etcd__arena_alloc(&c->arena, sizeof *arr);
	if (arr == NULL) {
		return NULL;
	}
	snprintf(buf, sizeof buf, "%s%s", strstr(addr, "://") == NULL ? scheme : "", addr);
	arr[0] = gw_etcd__strdup(c, buf);
	*n = arr[0] != NULL ? 1 : 0;
	return arr;
}

/* Members as etcd lists them (none while this node is still joining).
 * 0 or GW_ENOMEM. */
static int members_of(struct gw_etcd__call *c, Etcdserverpb__Member ***out, size_t *n)
{
	struct gw_etcd *srv = c->srv;
	struct gw_raft_status *st = srv->status;
	Etcdserverpb__Member **arr;
	int i;
	int count = 1;

	if (srv->opts.raft != NULL) {
		gw_raft_status(srv->opts.raft, st);
		srv->status_at = uv_now(srv->loop);
		srv->status_valid = true;
		count = st->n_members;
	}
	*n = 0;
	*out = NULL;
	if (count <= 0) {
		return 0;
	}
	arr = gw_etcd__arena_alloc(&c->arena, (size_t)count * sizeof *arr);
	if (arr == NULL) {
		return GW_ENOMEM;
	}
	for (i = 0; i < count; i++) {
		Etcdserverpb__Member *m = GW_ETCD__ALLOC(c, Etcdserverpb__Member);
		if (m == NULL) {
			return GW_ENOMEM;
		}
		etcdserverpb__member__init(m);
		if (srv->opts.raft == NULL) {
			m->id = srv->standalone_id;
			m->name = gw_etcd__strdup(c, "standalone");
			m->clienturls = one_url(c, "", srv->url, &m->n_clienturls);
		} else {
			const struct gw_raft_member *rm = &st->members[i];
			m->id = rm->id;
			m->name = gw_etcd__strdup(c, rm->name);
			m->peerurls = one_url(c, "http://", rm->raft_address, &m->n_peerurls);
			m->clienturls = one_url(c, "http://", rm->etcd_url, &m->n_clienturls);
			m->islearner = rm->role != GW_ROLE_VOTER;
		}
		if (m->name == NULL) {
			return GW_ENOMEM;
		}
		arr[i] = m;
	}
	*n = (size_t)count;
	*out = arr;
	return 0;
}

void gw_etcd__member_list(struct gw_etcd__call *c, const ProtobufCMessage *msg)
{
	Etcdserverpb__MemberListResponse *m = GW_ETCD__ALLOC(c, Etcdserverpb__MemberListResponse);
	(void)msg;
	if (m == NULL) {
		gw_etcd__finish(c, GW_ENOMEM);
		return;
	}
	etcdserverpb__member_list_response__init(m);
	if (members_of(c, &m->members, &m->n_members) != 0) {
		gw_etcd__finish(c, GW_ENOMEM);
		return;
	}
	m->header = gw_etcd__svc_header(c, 0);
	gw_etcd__reply(c, m->header != NULL ? m : NULL);
}

void gw_etcd__member_add(struct gw_etcd__call *c, const ProtobufCMessage *msg)
{
	(void)msg;
	gw_etcd__finish_status(
	    c, GW_GRPC_FAILED_PRECONDITION,
	    "etcdserver: apigw adds members with `apigw join`, not MemberAdd: on the new node run "
	    "`apigw join --peer <this member's etcd address> --join-secret <the cluster's join "
	    "secret>`");
}

static void remove_done(void *data, int err)
{
	struct gw_etcd__call *c = data;
	Etcdserverpb__MemberRemoveResponse *m;

	if (!gw_etcd__resume(c, err)) {
		return;
	}
	m = GW_ETCD__ALLOC(c, Etcdserverpb__MemberRemoveResponse);
	if (m == NULL) {
		gw_etcd__finish(c, GW_ENOMEM);
		return;
	}
	etcdserverpb__member_remove_response__init(m);
	if (members_of(c, &m->members, &m->n_members) != 0) {
		gw_etcd__finish(c, GW_ENOMEM);
		return;
	}
	m->header = gw_etcd__svc_header(c, 0);
	gw_etcd__reply(c, m->header != NULL ? m : NULL);
}

void gw_etcd__member_remove(struct gw_etcd__call *c, const ProtobufCMessage *msg)
{
	const Etcdserverpb__MemberRemoveRequest *r = (const Etcdserverpb__MemberRemoveRequest *)msg;
	int rv;

	if (c->srv->opts.raft == NULL) {
		gw_etcd__finish(c, GW_EMEMBERNOTFOUND);
		return;
	}
	c->pending++;
	rv = gw_raft_remove(c->srv->opts.raft, r->id, remove_done, c);
	if (rv != 0) {
		c->pending--;
		gw_etcd__finish(c, rv);
	}
}

/* ---- Maintenance ---- */

void gw_etcd__mt_status(struct gw_etcd__call *c, const ProtobufCMessage *msg)
{
	struct gw_etcd *srv = c->srv;
	Etcdserverpb__StatusResponse *m = GW_ETCD__ALLOC(c, Etcdserverpb__StatusResponse);
	uint64_t db = gw_store_db_size(srv->opts.store);

	(void)msg;
	if (m == NULL) {
		gw_etcd__finish(c, GW_ENOMEM);
		return;
	}
	etcdserverpb__status_response__init(m);
	srv->status_valid = false; /* Status reports the raft state of now */
	m->header = gw_etcd__svc_header(c, 0);
	m->version = (char *)ETCD_VERSION;
	m->dbsize = (int64_t)db;
	m->dbsizeinuse = (int64_t)gw_store_db_size_in_use(srv->opts.store);
	if (srv->opts.raft != NULL) {
		struct gw_raft_status *st = srv->status; /* filled by gw_etcd__svc_header() */
		m->leader = st->leader_id;
		m->raftindex = st->commit_index;
		m->raftterm = st->term;
		m->raftappliedindex = st->applied_index;
		m->islearner = st->role != GW_ROLE_VOTER;
		if (st->leader_id == 0) {
			m->errors = gw_etcd__arena_alloc(&c->arena, sizeof *m->errors);
			if (m->errors != NULL) {
				m->errors[0] = (char *)"etcdserver: no leader";
				m->n_errors = 1;
			}
		}
	} else {
		uint64_t idx = gw_store_applied_index(srv->opts.store);
		m->leader = srv->standalone_id;
		m->raftindex = idx;
		m->raftterm = 1;
		m->raftappliedindex = idx;
	}
	gw_etcd__reply(c, m->header != NULL ? m : NULL);
}

/* Add one alarm to @m (arena memory). false on ENOMEM. */
static bool alarm_add(struct gw_etcd__call *c, Etcdserverpb__AlarmResponse *m, size_t cap,
		      uint64_t member, Etcdserverpb__AlarmType type)
{
	Etcdserverpb__AlarmMember *a = GW_ETCD__ALLOC(c, Etcdserverpb__AlarmMember);

	if (a == NULL || m->n_alarms >= cap) {
		return false;
	}
	etcdserverpb__alarm_member__init(a);
	a->memberid = member;
	a->alarm = type;
	m->alarms[m->n_alarms++] = a;
	return true;
}

/* Answer with every alarm in force: NOSPACE (raised and cleared by the
 * store itself, quota vs bytes in use) and CORRUPT for each member the
 * leader's consistency check found diverged (raft/consistency.c). */
static void alarm_answer(struct gw_etcd__call *c)
{
	Etcdserverpb__AlarmResponse *m = GW_ETCD__ALLOC(c, Etcdserverpb__AlarmResponse);
	uint64_t *ids = NULL;
	size_t n = 0, i;

	if (m == NULL) {
		gw_etcd__finish(c, GW_ENOMEM);
		return;
	}
	etcdserverpb__alarm_response__init(m);
	m->header = gw_etcd__svc_header(c, 0);
	if (c->srv->opts.raft != NULL && gw_raft_corrupt_alarms(c->srv->opts.raft, &ids, &n) != 0) {
		n = 0;
	}
	m->alarms = gw_etcd__arena_alloc(&c->arena, (n + 1) * sizeof *m->alarms);
	if (m->header == NULL || m->alarms == NULL) {
		free(ids);
		gw_etcd__reply(c, NULL);
		return;
	}
	if (gw_store_over_quota(c->srv->opts.store)) {
		alarm_add(c, m, n + 1, m->header->member_id, ETCDSERVERPB__ALARM_TYPE__NOSPACE);
	}
	for (i = 0; i < n; i++) {
		alarm_add(c, m, n + 1, ids[i], ETCDSERVERPB__ALARM_TYPE__CORRUPT);
	}
	free(ids);
	gw_etcd__reply(c, m);
}

static void alarm_set_done(struct gw_etcd__call *c, int err, struct gw_store_result *res)
{
	if (err == 0) {
		err = res->err;
	}
	if (err != 0) {
		gw_etcd__finish(c, err);
		return;
	}
	alarm_answer(c);
}

/* Alarm: GET lists; ACTIVATE / DEACTIVATE of CORRUPT for a member raise or
 * disarm it through raft (`etcdctl alarm disarm` after the member was
 * rebuilt); NOSPACE follows the quota by itself, so changing it is a no-op
 * that answers the alarms in force, as before. */
void gw_etcd__mt_alarm(struct gw_etcd__call *c, const ProtobufCMessage *msg)
{
	const Etcdserverpb__AlarmRequest *r = (const Etcdserverpb__AlarmRequest *)msg;
	struct gw_store_op op;
	char key[64];
	bool on = r->action == ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__ACTIVATE;

	if (r->action == ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__GET ||
	    r->alarm != ETCDSERVERPB__ALARM_TYPE__CORRUPT || r->memberid == 0 ||
	    c->srv->opts.raft == NULL) {
		alarm_answer(c);
		return;
	}
	snprintf(key, sizeof key, GW_RAFT_CORRUPT_ALARM_PREFIX "%016" PRIx64, r->memberid);
	memset(&op, 0, sizeof op);
	op.type = on ? GW_OP_META_PUT : GW_OP_META_DELETE;
	op.u.meta.key = key;
	op.u.meta.key_len = strlen(key);
	op.u.meta.value = on ? "1" : NULL;
	op.u.meta.value_len = on ? 1 : 0;
	gw_etcd__propose(c, &op, alarm_set_done);
}

/* Defragment is a no-op: LMDB reuses freed pages in place, so there is no
 * fragmentation for an operator to reclaim by rewriting the file. */
void gw_etcd__mt_defrag(struct gw_etcd__call *c, const ProtobufCMessage *msg)
{
	Etcdserverpb__DefragmentResponse *m = GW_ETCD__ALLOC(c, Etcdserverpb__DefragmentResponse);
	(void)msg;
	if (m == NULL) {
		gw_etcd__finish(c, GW_ENOMEM);
		return;
	}
	etcdserverpb__defragment_response__init(m);
	m->header = gw_etcd__svc_header(c, 0);
	gw_etcd__reply(c, m->header != NULL ? m : NULL);
}

static void move_leader_done(void *data, int err)
{
	struct gw_etcd__call *c = data;
	Etcdserverpb__MoveLeaderResponse *m;

	if (!gw_etcd__resume(c, err)) {
		return;
	}
	m = GW_ETCD__ALLOC(c, Etcdserverpb__MoveLeaderResponse);
	if (m == NULL) {
		gw_etcd__finish(c, GW_ENOMEM);
		return;
	}
	etcdserverpb__move_leader_response__init(m);
	m->header = gw_etcd__svc_header(c, 0);
	gw_etcd__reply(c, m->header != NULL ? m : NULL);
}

/* MoveLeader: like etcd, only the leader takes it (etcdctl move-leader
 * finds the leader among its endpoints first). */
void gw_etcd__mt_move_leader(struct gw_etcd__call *c, const ProtobufCMessage *msg)
{
	const Etcdserverpb__MoveLeaderRequest *r = (const Etcdserverpb__MoveLeaderRequest *)msg;
	int rv;

	if (c->srv->opts.raft == NULL) {
		gw_etcd__finish(c, GW_ENOTLEADER);
		return;
	}
	c->pending++;
	rv = gw_raft_transfer(c->srv->opts.raft, r->targetid, move_leader_done, c);
	if (rv != 0) {
		c->pending--;
		gw_etcd__finish(c, rv);
	}
}

/* HashKV: the keyspace checksum at a revision (0 = current), with the
 * compact revision, so `etcdctl endpoint hashkv --cluster` shows whether
 * members hold the same data. Read from the local store. */
void gw_etcd__mt_hash_kv(struct gw_etcd__call *c, const ProtobufCMessage *msg)
{
	const Etcdserverpb__HashKVRequest *r = (const Etcdserverpb__HashKVRequest *)msg;
	Etcdserverpb__HashKVResponse *m = GW_ETCD__ALLOC(c, Etcdserverpb__HashKVResponse);
	uint32_t hash = 0;
	int64_t at = 0;
	int rv;

	if (m == NULL) {
		gw_etcd__finish(c, GW_ENOMEM);
		return;
	}
	rv = gw_store_hash_kv(c->srv->opts.store, r->revision, &hash, &at);
	if (rv != 0) {
		gw_etcd__finish(c, rv);
		return;
	}
	etcdserverpb__hash_kvresponse__init(m);
	m->header = gw_etcd__svc_header(c, at);
	m->hash = hash;
	m->compact_revision = gw_store_compact_revision(c->srv->opts.store);
	gw_etcd__reply(c, m->header != NULL ? m : NULL);
}

/* Hash: the keyspace checksum at the current revision extended with every
 * lease (id and granted TTL). */
void gw_etcd__mt_hash(struct gw_etcd__call *c, const ProtobufCMessage *msg)
{
	Etcdserverpb__HashResponse *m = GW_ETCD__ALLOC(c, Etcdserverpb__HashResponse);
	int64_t *ids = NULL, *ttls = NULL, at = 0;
	uint32_t hash = 0;
	size_t n = 0, i;
	int rv;

	(void)msg;
	if (m == NULL) {
		gw_etcd__finish(c, GW_ENOMEM);
		return;
	}
	rv = gw_store_hash_kv(c->srv->opts.store, 0, &hash, &at);
	if (rv == 0) {
		rv = gw_store_lease_list(c->srv->opts.store, &ids, &ttls, &n);
	}
	if (rv != 0) {
		gw_etcd__finish(c, rv);
		return;
	}
	for (i = 0; i < n; i++) {
		int64_t pair[2] = {ids[i], ttls[i]};
		hash = gw_crc32c(hash, pair, sizeof pair);
	}
	free(ids);
	free(ttls);
	etcdserverpb__hash_response__init(m);
	m->header = gw_etcd__svc_header(c, at);
	m->hash = hash;
	gw_etcd__reply(c, m->header != NULL ? m : NULL);
}
