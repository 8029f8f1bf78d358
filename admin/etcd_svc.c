/* etcd_svc.c: the method table of the etcd API and what its services
 * share: response headers, the unary reply, raft proposals.
 *
 * The services live by file: etcd_kv.c (KV), etcd_lease.c (Lease),
 * etcd_cluster.c (Cluster, Maintenance), etcd_watch.c (Watch), etcd_auth.c
 * and etcd_auth_users.c (Auth). Each method says what it needs while etcd
 * auth is on; the gate in gw_etcd__call_msg applies it. Each unary handler translates
 * the protobuf request into store.h terms, then: writes go through
 * gw_etcd__propose (gw_raft_propose on any node; raft forwards to the
 * leader) and answer from the committed result; reads come from the local
 * store. Responses are built in the call's arena, serialized by
 * gw_etcd__send and freed right after.
 * Failure modes: raft errors (no leader, timeout, leader changed) and the
 * store's business errors end the call through gw_etcd__finish, which maps
 * them (etcd_codec.c). A call whose client went away still waits for its
 * raft answer, then ends quietly.
 * Without a raft (standalone), writes are applied to the local store.
 * A committed Put, DeleteRange or Txn with writes is recorded in the audit
 * log (gw_admin_audit_etcd, admin/apisix_audit.c). */
#include "config.h"

#include "admin/apisix.h"
#include "admin/etcd_int.h"
#include "lib/err.h"
#include "raft/raft.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

Etcdserverpb__ResponseHeader *gw_etcd__svc_header(struct gw_etcd__call *c, int64_t rev)
{
	Etcdserverpb__ResponseHeader *h = GW_ETCD__ALLOC(c, Etcdserverpb__ResponseHeader);
	if (h != NULL) {
		etcdserverpb__response_header__init(h);
		gw_etcd__header(c->srv, h, rev);
	}
	return h;
}

char *gw_etcd__strdup(struct gw_etcd__call *c, const char *s)
{
	size_t n = strlen(s);
	char *p = gw_etcd__arena_alloc(&c->arena, n + 1);
	if (p != NULL) {
		memcpy(p, s, n);
	}
	return p;
}

/* A header carrying only the revision (sub-responses of a txn). */
Etcdserverpb__ResponseHeader *gw_etcd__rev_header(struct gw_etcd__call *c, int64_t rev)
{
	Etcdserverpb__ResponseHeader *h = GW_ETCD__ALLOC(c, Etcdserverpb__ResponseHeader);
	if (h != NULL) {
		etcdserverpb__response_header__init(h);
		h->revision = rev;
	}
	return h;
}

/* Send @m and end the call (unary success), or end with GW_ENOMEM. */
void gw_etcd__reply(struct gw_etcd__call *c, void *m)
{
	if (m == NULL) {
		gw_etcd__finish(c, GW_ENOMEM);
		return;
	}
	gw_etcd__finish(c, gw_etcd__send(c, m) == GW_ENOMEM ? GW_ENOMEM : 0);
}

/* ---- raft plumbing ---- */

struct pctx {
	struct gw_etcd__call *c;
	gw_etcd__done_cb cb;
	struct gw_admin_audit_etcd audit; /* op NULL: not a keyspace write */
	size_t writes[2];                 /* a txn's writes: success, failure branch */
	char *key;                        /* audit.key's copy */
};

/* What the audit log records of @op (apisix_audit.c): Put, DeleteRange,
 * a Txn with writes (its first key). */
static void audit_prepare(struct pctx *p, const struct gw_store_op *op)
{
	const struct gw_store_op *first = NULL;
	size_t i;

	memset(&p->audit, 0, sizeof p->audit);
	p->key = NULL;
	if (op->type == GW_OP_PUT || op->type == GW_OP_DELETE) {
		first = op;
		p->audit.op = op->type == GW_OP_PUT ? "Put" : "DeleteRange";
		p->writes[0] = p->writes[1] = 1;
	} else if (op->type == GW_OP_TXN) {
		p->audit.op = "Txn";
		p->writes[0] = p->writes[1] = 0;
		for (i = 0; i < op->u.txn.n_success + op->u.txn.n_failure; i++) {
			bool ok = i < op->u.txn.n_success;
			const struct gw_store_op *o =
			    ok ? &op->u.txn.success[i]
			       : &op->u.txn.failure[i - op->u.txn.n_success];
			if (o->type == GW_OP_PUT || o->type == GW_OP_DELETE) {
				p->writes[ok ? 0 : 1]++;
				first = first ? first : o;
			}
		}
	}
	if (first != NULL) {
		p->key = first->type == GW_OP_PUT ? strndup(first->u.put.key, first->u.put.key_len)
						  : strndup(first->u.del.key, first->u.del.key_len);
	}
}

/* The committed write of @p, into the audit log. */
static void audit_record(struct pctx *p, const struct gw_store_result *res)
{
	struct gw_etcd__call *c = p->c;
	size_t n = res->type == GW_OP_TXN ? p->writes[res->succeeded ? 0 : 1] : 1;
	char how[GW_ETCD_AUTH_MAX_NAME + 32];

	if (p->audit.op == NULL || n == 0 || res->err != 0 || c->srv->opts.raft == NULL ||
	    c->srv->opts.no_audit) {
		return;
	}
	p->audit.user = c->user;
	p->audit.how = NULL;
	if (c->user[0] == '\0' && c->cert) {
		snprintf(how, sizeof how, "certificate CN=%s", c->cn);
		p->audit.how = how;
	} else if (c->user[0] == '\0' && c->trusted) {
		p->audit.how = "local";
	}
	p->audit.key = p->key;
	p->audit.n_keys = n;
	p->audit.revision = res->revision;
	gw_admin_audit_etcd(c->srv->opts.raft, &c->srv->audit_seq, &p->audit);
}

static void propose_done(void *data, int err, struct gw_store_result *res)
{
	struct pctx *p = data;
	struct gw_etcd__call *c = p->c;
	gw_etcd__done_cb cb = p->cb;

	if (err == 0 && res != NULL) {
		audit_record(p, res);
	}
	free(p->key);
	free(p);
	c->pending--;
	if (c->gone) {
		gw_etcd__finish(c, GW_ECANCELED);
	} else {
		cb(c, err, err == 0 ? res : NULL);
	}
	if (res != NULL) {
		gw_store_result_free(res);
	}
}

/* Does [key, end) (etcd range conventions) reach into /apisix/? */
static bool range_in_apisix(const char *key, size_t klen, const char *end, size_t elen)
{
	static const char lo[] = "/apisix/", hi[] = "/apisix0";
	size_t n = sizeof lo - 1;

	if (elen == 0) { /* one key */
		return klen >= n && memcmp(key, lo, n) == 0;
	}
	/* [key, end) meets [lo, hi): key < hi and (end > lo or end is "\0": to the end) */
	if (!(klen < n ? memcmp(key, hi, klen) <= 0 : memcmp(key, hi, n) < 0)) {
		return false;
	}
	if (elen == 1 && end[0] == '\0') {
		return true;
	}
	return elen > n ? memcmp(end, lo, n) >= 0 : memcmp(end, lo, elen) > 0;
}

/* Does @op write a key under /apisix/? */
static bool writes_apisix(const struct gw_store_op *op)
{
	size_t i;

	switch (op->type) {
	case GW_OP_PUT:
		return range_in_apisix(op->u.put.key, op->u.put.key_len, NULL, 0);
	case GW_OP_DELETE:
		return range_in_apisix(op->u.del.key, op->u.del.key_len, op->u.del.range_end,
				       op->u.del.range_end_len);
	case GW_OP_TXN:
		for (i = 0; i < op->u.txn.n_success; i++) {
			if (writes_apisix(&op->u.txn.success[i])) {
				return true;
			}
		}
		for (i = 0; i < op->u.txn.n_failure; i++) {
			if (writes_apisix(&op->u.txn.failure[i])) {
				return true;
			}
		}
		return false;
	default:
		return false;
	}
}

/* Propose @op; @cb runs once (perhaps before this returns, without a
 * raft) with the committed result or an error, and must finish the call. */
void gw_etcd__propose(struct gw_etcd__call *c, const struct gw_store_op *op, gw_etcd__done_cb cb)
{
	struct gw_etcd *srv = c->srv;
	struct pctx *p;
	int rv;

	if (srv->opts.apisix_read_only && writes_apisix(op)) {
		cb(c, GW_ESTANDALONE, NULL);
		return;
	}
	if (srv->opts.raft == NULL) {
		struct gw_store_result res;
		memset(&res, 0, sizeof res);
		rv = gw_store_write(srv->opts.store, gw_store_applied_index(srv->opts.store) + 1,
				    op, &res);
		cb(c, rv, rv == 0 ? &res : NULL);
		gw_store_result_free(&res);
		return;
	}
	p = malloc(sizeof *p);
	if (p == NULL) {
		cb(c, GW_ENOMEM, NULL);
		return;
	}
	p->c = c;
	p->cb = cb;
	audit_prepare(p, op);
	c->pending++;
	rv = gw_raft_propose(srv->opts.raft, op, gw_etcd__write_timeout(c), propose_done, p);
	if (rv != 0) {
		c->pending--;
		free(p->key);
		free(p);
		cb(c, rv, NULL);
	}
}

/* Gateway paths of etcd methods apigw does not serve (their gRPC paths
 * fall through to UNIMPLEMENTED in etcd_h2.c). */
static void unimplemented(struct gw_etcd__call *c, const ProtobufCMessage *msg)
{
	(void)msg;
	gw_etcd__finish_status(c, GW_GRPC_UNIMPLEMENTED, "method not implemented by apigw");
}

/* ---- method table ---- */

#define UNARY(path, j1, j2, type, fn, acc)                                                         \
	{                                                                                          \
		path, {j1, j2}, &type##__descriptor, false, fn, NULL, NULL, GW_ETCD__ACC_##acc     \
	}
/* Auth RPCs read the records they change from the local store: a read
 * barrier first makes a follower see the writes committed before. */
#define AUTH(name, j, type, fn)                                                                    \
	{                                                                                          \
		"/etcdserverpb.Auth/" name, {"/auth/" j, NULL},                                    \
		    &etcdserverpb__##type##__descriptor, false, fn, NULL, NULL, GW_ETCD__ACC_ROOT, \
		    true                                                                           \
	}

/* The last column is what a method needs while etcd auth is enabled
 * (etcd_auth.c); etcd's rules: keys by permission, leases for any user,
 * membership, maintenance and auth management for the root role. */
const struct gw_etcd__method gw_etcd__methods[] = {
    UNARY("/etcdserverpb.KV/Range", "/kv/range", NULL, etcdserverpb__range_request,
	  gw_etcd__kv_range, KEYS),
    UNARY("/etcdserverpb.KV/Put", "/kv/put", NULL, etcdserverpb__put_request, gw_etcd__kv_put,
	  KEYS),
    UNARY("/etcdserverpb.KV/DeleteRange", "/kv/deleterange", NULL,
	  etcdserverpb__delete_range_request, gw_etcd__kv_delete, KEYS),
    UNARY("/etcdserverpb.KV/Txn", "/kv/txn", NULL, etcdserverpb__txn_request, gw_etcd__kv_txn,
	  KEYS),
    UNARY("/etcdserverpb.KV/Compact", "/kv/compaction", NULL, etcdserverpb__compaction_request,
	  gw_etcd__kv_compact, ROOT),
    {"/etcdserverpb.Watch/Watch",
     {"/watch", NULL},
     &etcdserverpb__watch_request__descriptor,
     true,
     NULL,
     gw_etcd__watch_msg,
     gw_etcd__watch_end,
     GW_ETCD__ACC_KEYS},
    UNARY("/etcdserverpb.Lease/LeaseGrant", "/lease/grant", NULL, etcdserverpb__lease_grant_request,
	  gw_etcd__lease_grant, USER),
    UNARY("/etcdserverpb.Lease/LeaseRevoke", "/lease/revoke", "/kv/lease/revoke",
	  etcdserverpb__lease_revoke_request, gw_etcd__lease_revoke, USER),
    {"/etcdserverpb.Lease/LeaseKeepAlive",
     {"/lease/keepalive", NULL},
     &etcdserverpb__lease_keep_alive_request__descriptor,
     true,
     NULL,
     gw_etcd__lease_ka_msg,
     gw_etcd__lease_ka_end,
     GW_ETCD__ACC_USER},
    UNARY("/etcdserverpb.Lease/LeaseTimeToLive", "/lease/timetolive", "/kv/lease/timetolive",
	  etcdserverpb__lease_time_to_live_request, gw_etcd__lease_ttl, USER),
    UNARY("/etcdserverpb.Lease/LeaseLeases", "/lease/leases", "/kv/lease/leases",
	  etcdserverpb__lease_leases_request, gw_etcd__lease_leases, USER),
    UNARY("/etcdserverpb.Cluster/MemberList", "/cluster/member/list", NULL,
	  etcdserverpb__member_list_request, gw_etcd__member_list, OPEN),
    UNARY("/etcdserverpb.Cluster/MemberAdd", "/cluster/member/add", NULL,
	  etcdserverpb__member_add_request, gw_etcd__member_add, ROOT),
    UNARY("/etcdserverpb.Cluster/MemberRemove", "/cluster/member/remove", NULL,
	  etcdserverpb__member_remove_request, gw_etcd__member_remove, ROOT),
    UNARY("/etcdserverpb.Maintenance/Status", "/maintenance/status", NULL,
	  etcdserverpb__status_request, gw_etcd__mt_status, OPEN),
    UNARY("/etcdserverpb.Maintenance/Alarm", "/maintenance/alarm", NULL,
	  etcdserverpb__alarm_request, gw_etcd__mt_alarm, ROOT),
    UNARY("/etcdserverpb.Maintenance/Defragment", "/maintenance/defragment", NULL,
	  etcdserverpb__defragment_request, gw_etcd__mt_defrag, ROOT),
    UNARY("/etcdserverpb.Maintenance/MoveLeader", "/maintenance/transfer-leadership", NULL,
	  etcdserverpb__move_leader_request, gw_etcd__mt_move_leader, ROOT),
    UNARY("/etcdserverpb.Maintenance/Hash", "/maintenance/hash", NULL, etcdserverpb__hash_request,
	  gw_etcd__mt_hash, ROOT),
    UNARY("/etcdserverpb.Maintenance/HashKV", "/maintenance/hashkv", NULL,
	  etcdserverpb__hash_kvrequest, gw_etcd__mt_hash_kv, ROOT),
    {"/etcdserverpb.Maintenance/Snapshot",
     {NULL, NULL},
     &etcdserverpb__snapshot_request__descriptor,
     true,
     NULL,
     gw_etcd__mt_snapshot_msg,
     gw_etcd__mt_snapshot_end,
     GW_ETCD__ACC_ROOT},
    {"/etcdserverpb.Auth/Authenticate",
     {"/auth/authenticate", NULL},
     &etcdserverpb__authenticate_request__descriptor,
     false,
     gw_etcd__auth_authenticate,
     NULL,
     NULL,
     GW_ETCD__ACC_ANY,
     true},
    AUTH("AuthEnable", "enable", auth_enable_request, gw_etcd__auth_enable),
    AUTH("AuthDisable", "disable", auth_disable_request, gw_etcd__auth_disable),
    AUTH("UserAdd", "user/add", auth_user_add_request, gw_etcd__auth_user_add),
    AUTH("UserGet", "user/get", auth_user_get_request, gw_etcd__auth_user_get),
    AUTH("UserList", "user/list", auth_user_list_request, gw_etcd__auth_user_list),
    AUTH("UserDelete", "user/delete", auth_user_delete_request, gw_etcd__auth_user_delete),
    AUTH("UserChangePassword", "user/changepw", auth_user_change_password_request,
	 gw_etcd__auth_user_passwd),
    AUTH("UserGrantRole", "user/grant", auth_user_grant_role_request, gw_etcd__auth_user_grant),
    AUTH("UserRevokeRole", "user/revoke", auth_user_revoke_role_request, gw_etcd__auth_user_revoke),
    AUTH("RoleAdd", "role/add", auth_role_add_request, gw_etcd__auth_role_add),
    AUTH("RoleGet", "role/get", auth_role_get_request, gw_etcd__auth_role_get),
    AUTH("RoleList", "role/list", auth_role_list_request, gw_etcd__auth_role_list),
    AUTH("RoleDelete", "role/delete", auth_role_delete_request, gw_etcd__auth_role_delete),
    AUTH("RoleGrantPermission", "role/grant", auth_role_grant_permission_request,
	 gw_etcd__auth_role_grant),
    AUTH("RoleRevokePermission", "role/revoke", auth_role_revoke_permission_request,
	 gw_etcd__auth_role_revoke),
    /* JSON-only entries: grpc_path NULL */
    UNARY(NULL, "/cluster/member/update", "/cluster/member/promote", etcdserverpb__status_request,
	  unimplemented, ROOT),
    UNARY(NULL, "/maintenance/snapshot", NULL, etcdserverpb__status_request, unimplemented, ROOT),
    UNARY(NULL, "/maintenance/transfer-leadership", NULL, etcdserverpb__status_request,
	  unimplemented, ROOT),
};

const size_t gw_etcd__n_methods = sizeof gw_etcd__methods / sizeof gw_etcd__methods[0];

const struct gw_etcd__method *gw_etcd__method_grpc(const char *path)
{
	size_t i;
	for (i = 0; i < gw_etcd__n_methods; i++) {
		if (gw_etcd__methods[i].grpc_path != NULL &&
		    strcmp(gw_etcd__methods[i].grpc_path, path) == 0) {
			return &gw_etcd__methods[i];
		}
	}
	return NULL;
}

const struct gw_etcd__method *gw_etcd__method_json(const char *path)
{
	size_t i;
	int k;
	for (i = 0; i < gw_etcd__n_methods; i++) {
		for (k = 0; k < 2; k++) {
			const char *j = gw_etcd__methods[i].json_path[k];
			if (j != NULL && strcmp(j, path) == 0) {
				return &gw_etcd__methods[i];
			}
		}
	}
	return NULL;
}
