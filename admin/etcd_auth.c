/* etcd_auth.c: who may call the etcd API, and etcd's Auth service.
 *
 * The gate (gw_etcd__authorize) runs before every request message reaches
 * its service. With etcd auth disabled, clients on this host (the
 * --etcd-trusted-cidr list, loopback by default) and clients with a
 * certificate the TLS listener verified pass, as before; anyone else gets
 * PERMISSION_DENIED saying to use a certificate or etcd auth. With auth
 * enabled everyone, loopback too (as in etcd), needs a token (gRPC metadata
 * "token", the gateway's Authorization header) or a verified certificate
 * whose CN names a user; then the method's access class decides: key-range
 * permissions of the user's roles for KV and Watch (every op and compare of
 * a txn), any user for leases (revoking one, or attaching one to a put,
 * needs write permission on every key of the lease, etcd's checkLeasePuts),
 * the root role for compaction, membership, maintenance and auth management
 * (a user may still read its own record and the roles it has). The /apigw/internal/ routes never
 * come here. The Auth RPCs keep users and roles as records in the store's meta space
 * (etcd_authz.c), written through raft like every other write, so every
 * member decides alike. Password hashing runs on libuv's thread pool, at
 * most GW_ETCD_AUTH_KDF_THREADS at once (raft's disk work shares the pool),
 * the others wait in a bounded FIFO; the call waits (pending) and ends
 * quietly if its client left meanwhile.
 * Failure modes: etcd 3.4's errors and codes (lib/err.h's GW_E* auth codes,
 * mapped in etcd_codec.c); bounded names, passwords, roles per user,
 * permissions per role and record counts answer INVALID_ARGUMENT with the
 * limit. Updates are read-modify-write of one record: two admins changing
 * the same user at once may lose one change (last write wins).
 * Threads: the server's loop, except the hashing work. */
#include "config.h"

#include "admin/etcd_int.h"
#include "lib/err.h"
#include "lib/log.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- who is calling ---- */

void gw_etcd__call_peer(struct gw_etcd__call *c, const struct gw_etcd__peer *peer,
			const char *token, size_t len)
{
	struct gw_etcd *srv = c->srv;
	c->trusted =
	    peer->addr.ss_family != AF_UNSPEC &&
	    gw_cidr_match(srv->trusted, srv->n_trusted, (const struct sockaddr *)&peer->addr);
	c->cert = peer->cert;
	snprintf(c->cn, sizeof c->cn, "%s", peer->cn);
	if (token != NULL && len > 0 && len < GW_ETCD__TOKEN_MAX) {
		c->token = gw_etcd__arena_alloc(&c->arena, len + 1);
		if (c->token != NULL) {
			memcpy(c->token, token, len);
		}
	} else if (token != NULL && len > 0) {
		c->token = (char *)"-"; /* too long: verifies as invalid */
	}
}

/* Find the user behind the call: token first, else the certificate's CN.
 * 0 (c->user may stay "" = nobody) or GW_EINVALIDTOKEN. */
static int resolve(struct gw_etcd__call *c, const uint8_t *key)
{
	struct gw_store *s = c->srv->opts.store;
	cJSON *u = NULL;
	c->resolved = true;
	c->user[0] = '\0';
	c->root = false;
	if (c->token != NULL) {
		uint64_t gen;
		const char *t = c->token;
		if (strncmp(t, "Bearer ", 7) == 0) {
			t += 7;
		}
		if (gw_etcd__token_verify(key, t, strlen(t), now_ms(), c->user, sizeof c->user,
					  &gen) != 0 ||
		    gw_etcd__auth_load(s, "user", c->user, &u) != 0 ||
		    gw_etcd__auth_user_gen(u) != gen) {
			cJSON_Delete(u);
			c->user[0] = '\0';
			return GW_EINVALIDTOKEN; /* bad, expired, or stale */
		}
	} else if (c->cert && c->cn[0] != '\0') {
		snprintf(c->user, sizeof c->user, "%s", c->cn);
		if (gw_etcd__auth_load(s, "user", c->user, &u) != 0) {
			return 0; /* a CN that names no user: has no rights */
		}
	} else {
		return 0;
	}
	c->root = gw_etcd__auth_has_role(u, "root");
	cJSON_Delete(u);
	return 0;
}

/* ---- key-range checks of a request ---- */

struct need {
	struct gw_etcd__call *c;
	struct gw_etcd__perm *perms; /* the user's, loaded on first use */
	size_t n;
	bool loaded;
	int err;
};

static bool allowed(struct need *nd, int want, const ProtobufCBinaryData *key,
		    const ProtobufCBinaryData *end)
{
	if (!nd->loaded) {
		cJSON *u = NULL;
		nd->loaded = true;
		if (gw_etcd__auth_load(nd->c->srv->opts.store, "user", nd->c->user, &u) == 0) {
			nd->err = gw_etcd__auth_user_perms(nd->c->srv->opts.store, u, &nd->c->arena,
							   &nd->perms, &nd->n);
		}
		cJSON_Delete(u);
	}
	if (nd->err != 0) {
		return false;
	}
	return gw_etcd__perm_allows(nd->perms, nd->n, want, (const char *)key->data, key->len,
				    (const char *)end->data, end->len);
}

static const ProtobufCBinaryData no_end = {0, NULL};

static bool txn_allowed(struct need *nd, const Etcdserverpb__TxnRequest *t, int depth);

static bool op_allowed(struct need *nd, const Etcdserverpb__RequestOp *op, int depth)
{
	switch (op->request_case) {
	case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE:
		return allowed(nd, GW_ETCD__PERM_READ, &op->request_range->key,
			       &op->request_range->range_end);
	case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT:
		return allowed(nd, GW_ETCD__PERM_WRITE, &op->request_put->key, &no_end) &&
		       (!op->request_put->prev_kv ||
			allowed(nd, GW_ETCD__PERM_READ, &op->request_put->key, &no_end));
	case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE:
		return allowed(nd, GW_ETCD__PERM_WRITE, &op->request_delete_range->key,
			       &op->request_delete_range->range_end) &&
		       (!op->request_delete_range->prev_kv ||
			allowed(nd, GW_ETCD__PERM_READ, &op->request_delete_range->key,
				&op->request_delete_range->range_end));
	case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_TXN:
		return txn_allowed(nd, op->request_txn, depth + 1);
	default:
		return true; /* an empty op: the service refuses it */
	}
}

static bool txn_allowed(struct need *nd, const Etcdserverpb__TxnRequest *t, int depth)
{
	size_t i;
	if (depth > 64) {
		return false;
	}
	for (i = 0; i < t->n_compare; i++) {
		if (!allowed(nd, GW_ETCD__PERM_READ, &t->compare[i]->key,
			     &t->compare[i]->range_end)) {
			return false;
		}
	}
	for (i = 0; i < t->n_success; i++) {
		if (!op_allowed(nd, t->success[i], depth)) {
			return false;
		}
	}
	for (i = 0; i < t->n_failure; i++) {
		if (!op_allowed(nd, t->failure[i], depth)) {
			return false;
		}
	}
	return true;
}

/* etcd's checkLeasePuts: a lease whose keys the user may not all write
 * may neither be revoked (that deletes them) nor be attached to more keys.
 * True for no lease or an unknown one. */
static bool lease_keys_allowed(struct need *nd, int64_t id)
{
	struct gw_lease_info info;
	bool ok = true;

	if (id == 0 || gw_store_lease_get(nd->c->srv->opts.store, id, true, &info) != 0) {
		return true;
	}
	for (size_t i = 0; ok && i < info.n_keys; i++) {
		ProtobufCBinaryData k = {info.keys[i].key_len, (uint8_t *)info.keys[i].key};
		ok = allowed(nd, GW_ETCD__PERM_WRITE, &k, &no_end);
	}
	gw_store_lease_info_free(&info);
	return ok;
}

/* Key permissions of @req for method @m. */
static bool keys_allowed(struct gw_etcd__call *c, const ProtobufCMessage *req)
{
	struct need nd = {c, NULL, 0, false, 0};
	const ProtobufCMessageDescriptor *d = req->descriptor;

	if (d == &etcdserverpb__lease_revoke_request__descriptor) {
		return lease_keys_allowed(&nd, ((const Etcdserverpb__LeaseRevokeRequest *)req)->id);
	}
	if (d == &etcdserverpb__range_request__descriptor) {
		const Etcdserverpb__RangeRequest *r = (const void *)req;
		return allowed(&nd, GW_ETCD__PERM_READ, &r->key, &r->range_end);
	}
	if (d == &etcdserverpb__put_request__descriptor) {
		Etcdserverpb__RequestOp op = ETCDSERVERPB__REQUEST_OP__INIT;
		op.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
		op.request_put = (Etcdserverpb__PutRequest *)req;
		return op_allowed(&nd, &op, 0) && lease_keys_allowed(&nd, op.request_put->lease);
	}
	if (d == &etcdserverpb__delete_range_request__descriptor) {
		Etcdserverpb__RequestOp op = ETCDSERVERPB__REQUEST_OP__INIT;
		op.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE;
		op.request_delete_range = (Etcdserverpb__DeleteRangeRequest *)req;
		return op_allowed(&nd, &op, 0);
	}
	if (d == &etcdserverpb__txn_request__descriptor) {
		return txn_allowed(&nd, (const Etcdserverpb__TxnRequest *)req, 0);
	}
	if (d == &etcdserverpb__watch_request__descriptor) {
		const Etcdserverpb__WatchRequest *w = (const void *)req;
		if (w->request_union_case !=
		    ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST) {
			return true; /* cancel and progress touch only this stream's watches */
		}
		return allowed(&nd, GW_ETCD__PERM_READ, &w->create_request->key,
			       &w->create_request->range_end);
	}
	return false;
}

/* etcd lets a user read its own record and the roles it has. */
static bool self_info(struct gw_etcd__call *c, const ProtobufCMessage *req)
{
	cJSON *u = NULL;
	bool ok = false;

	if (req->descriptor == &etcdserverpb__auth_user_get_request__descriptor) {
		return strcmp(((const Etcdserverpb__AuthUserGetRequest *)req)->name, c->user) == 0;
	}
	if (req->descriptor != &etcdserverpb__auth_role_get_request__descriptor) {
		return false;
	}
	if (gw_etcd__auth_load(c->srv->opts.store, "user", c->user, &u) == 0) {
		ok = gw_etcd__auth_has_role(u,
					    ((const Etcdserverpb__AuthRoleGetRequest *)req)->role);
		cJSON_Delete(u);
	}
	return ok;
}

int gw_etcd__authorize(struct gw_etcd__call *c, const ProtobufCMessage *req)
{
	uint8_t key[GW_ETCD__TOKEN_KEY];
	bool on;
	int rv;

	if (c->m->access == GW_ETCD__ACC_ANY) {
		return 0;
	}
	gw_etcd__auth_state(c->srv, &on, key);
	if (!on) {
		return c->trusted || c->cert ? 0 : GW_EOFFHOST;
	}
	if (!c->resolved) {
		rv = resolve(c, key);
		if (rv != 0) {
			c->resolved = false; /* a stream may not go on with a bad token */
			return rv;
		}
	}
	switch (c->m->access) {
	case GW_ETCD__ACC_OPEN:
		return 0;
	case GW_ETCD__ACC_USER:
		if (c->user[0] == '\0') {
			return GW_EUSEREMPTY;
		}
		if (c->root || req->descriptor != &etcdserverpb__lease_revoke_request__descriptor) {
			return 0;
		}
		return keys_allowed(c, req) ? 0 : GW_EPERM;
	case GW_ETCD__ACC_KEYS:
		if (c->user[0] == '\0') {
			return GW_EUSEREMPTY;
		}
		return c->root || keys_allowed(c, req) ? 0 : GW_EPERM;
	default:
		if (c->user[0] == '\0') {
			return GW_EUSEREMPTY;
		}
		return c->root || self_info(c, req) ? 0 : GW_EPERM;
	}
}

void gw_etcd__auth_watch_denied(struct gw_etcd__call *c, const ProtobufCMessage *req, int err)
{
	const Etcdserverpb__WatchRequest *w = (const void *)req;
	Etcdserverpb__WatchResponse r = ETCDSERVERPB__WATCH_RESPONSE__INIT;
	Etcdserverpb__ResponseHeader h = ETCDSERVERPB__RESPONSE_HEADER__INIT;

	gw_etcd__header(c->srv, &h, 0);
	r.header = &h;
	r.watch_id = -1;
	if (w->request_union_case == ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST &&
	    w->create_request->watch_id > 0) {
		r.watch_id = w->create_request->watch_id;
	}
	r.created = true;
	r.canceled = true;
	r.cancel_reason = (char *)gw_etcd__status_of(err).msg;
	gw_etcd__send(c, &r.base);
}

/* ---- Auth service: shared plumbing ---- */

void gw_etcd__auth_reply(struct gw_etcd__call *c, int err, struct gw_store_result *res)
{
	Etcdserverpb__AuthHeaderResponse *m;
	if (err != 0) {
		gw_etcd__finish(c, err);
		return;
	}
	m = GW_ETCD__ALLOC(c, Etcdserverpb__AuthHeaderResponse);
	if (m != NULL) {
		etcdserverpb__auth_header_response__init(m);
		m->header = gw_etcd__svc_header(c, res != NULL ? res->revision : 0);
	}
	gw_etcd__reply(c, m);
}

/* Propose writing @rec (NULL = delete) as record @kind/@name; @cb answers. */
void gw_etcd__auth_put(struct gw_etcd__call *c, const char *kind, const char *name, cJSON *rec,
		       gw_etcd__done_cb cb)
{
	char key[32 + GW_ETCD_AUTH_MAX_NAME];
	struct gw_store_op op;
	char *val = NULL;

	memset(&op, 0, sizeof op);
	if (strcmp(kind, "state") == 0) {
		snprintf(key, sizeof key, "%sstate", GW_ETCD__AUTH_META);
	} else {
		gw_etcd__auth_meta_key(kind, name, key, sizeof key);
	}
	op.u.meta.key = key;
	op.u.meta.key_len = strlen(key);
	if (rec == NULL) {
		op.type = GW_OP_META_DELETE;
	} else {
		val = cJSON_PrintUnformatted(rec);
		if (val == NULL) {
			cb(c, GW_ENOMEM, NULL);
			return;
		}
		op.type = GW_OP_META_PUT;
		op.u.meta.value = val;
		op.u.meta.value_len = strlen(val);
	}
	gw_etcd__propose(c, &op, cb);
	free(val);
}

/* An INVALID_ARGUMENT for a bad name (@err from gw_etcd__auth_name_check). */
void gw_etcd__auth_bad_name(struct gw_etcd__call *c, const char *what, int err)
{
	char msg[160];
	if (err != GW_ELIMIT && err != GW_EINVAL) {
		gw_etcd__finish(c, err);
		return;
	}
	snprintf(msg, sizeof msg,
		 err == GW_ELIMIT ? "etcdserver: %s name is too long (at most %d bytes)"
				  : "etcdserver: %s name has control characters (limit %d bytes)",
		 what, GW_ETCD_AUTH_MAX_NAME);
	gw_etcd__finish_status(c, GW_GRPC_INVALID_ARGUMENT, msg);
}

void gw_etcd__auth_too_many(struct gw_etcd__call *c, const char *what, int limit)
{
	char msg[160];
	snprintf(msg, sizeof msg, "etcdserver: too many %s (at most %d)", what, limit);
	gw_etcd__finish_status(c, GW_GRPC_INVALID_ARGUMENT, msg);
}

size_t gw_etcd__auth_count(struct gw_etcd__call *c, const char *kind)
{
	char **names = NULL;
	size_t n = 0;
	if (gw_etcd__auth_list(c->srv->opts.store, kind, &names, &n) != 0) {
		return 0;
	}
	gw_etcd__auth_list_free(names, n);
	return n;
}

/* ---- password work on the thread pool ---- */

/* Compared against when the user does not exist, so that a wrong name
 * costs the same time as a wrong password. */
static const char dummy_hash[] = "pbkdf2-sha256$100000$00000000000000000000000000000000$"
				 "0000000000000000000000000000000000000000000000000000000000000000";

static void kdf_work(uv_work_t *w)
{
	struct gw_etcd__kdf *k = w->data;
	if (k->check) {
		k->ok = gw_etcd__pw_check(k->pw, k->pw_len, k->stored) && k->exists;
	} else {
		k->ok = gw_etcd__pw_hash(k->pw, k->pw_len, GW_ETCD_AUTH_PBKDF2_ITER, k->stored,
					 sizeof k->stored) == 0;
	}
}

static void kdf_after(uv_work_t *w, int status);

/* Put @k on the pool. 0 or GW_ENOMEM. */
static int kdf_queue(struct gw_etcd__kdf *k)
{
	struct gw_etcd *srv = k->c->srv;
	srv->kdf_inflight++;
	if (uv_queue_work(srv->loop, &k->w, kdf_work, kdf_after) != 0) {
		srv->kdf_inflight--;
		return GW_ENOMEM;
	}
	return 0;
}

static void kdf_after(uv_work_t *w, int status)
{
	struct gw_etcd__kdf *k = w->data;
	struct gw_etcd__call *c = k->c;
	struct gw_etcd *srv = c->srv;

	c->pending--;
	srv->kdf_inflight--;
	/* the next waiting hash takes the freed slot (a call whose client
	 * left still runs its turn: it ends in its callback) */
	while (!gw_list_empty(&srv->kdf_wait) && srv->kdf_inflight < GW_ETCD_AUTH_KDF_THREADS) {
		struct gw_etcd__kdf *next =
		    gw_container_of(srv->kdf_wait.next, struct gw_etcd__kdf, link);
		gw_list_del(&next->link);
		srv->kdf_waiting--;
		if (kdf_queue(next) != 0) {
			next->c->pending--;
			gw_etcd__finish(next->c, GW_ENOMEM);
			free(next);
		}
	}
	if (status != 0) {
		k->ok = false;
	}
	if (c->gone) {
		gw_etcd__finish(c, GW_ECANCELED);
	} else {
		k->then(k);
	}
	memset(k->pw, 0, sizeof k->pw);
	free(k);
}

void gw_etcd__auth_kdf(struct gw_etcd__call *c, const char *name, const char *pw, bool check,
		       const char *stored, uint64_t gen, void (*then)(struct gw_etcd__kdf *k))
{
	struct gw_etcd__kdf *k;
	size_t n = strlen(pw);

	if (n > GW_ETCD_AUTH_MAX_PASSWORD) {
		gw_etcd__finish_status(c, GW_GRPC_INVALID_ARGUMENT,
				       "etcdserver: password is too long (at most 256 bytes)");
		return;
	}
	if (c->srv->kdf_waiting >= GW_ETCD_AUTH_MAX_KDF) {
		/* a flood of Authenticate calls must not queue CPU work without
		 * bound: the slow hash is the point of the design */
		gw_etcd__finish(c, GW_ELIMIT);
		return;
	}
	k = calloc(1, sizeof *k);
	if (k == NULL) {
		gw_etcd__finish(c, GW_ENOMEM);
		return;
	}
	k->c = c;
	k->w.data = k;
	k->check = check;
	k->exists = stored != NULL;
	k->gen = gen;
	k->then = then;
	snprintf(k->name, sizeof k->name, "%s", name);
	memcpy(k->pw, pw, n);
	k->pw_len = n;
	snprintf(k->stored, sizeof k->stored, "%s", stored != NULL ? stored : dummy_hash);
	c->pending++;
	if (c->srv->kdf_inflight >= GW_ETCD_AUTH_KDF_THREADS) {
		/* libuv's pool is shared with raft's disk work: leave it room */
		gw_list_add_tail(&c->srv->kdf_wait, &k->link);
		c->srv->kdf_waiting++;
		return;
	}
	if (kdf_queue(k) != 0) {
		c->pending--;
		free(k);
		gw_etcd__finish(c, GW_ENOMEM);
	}
}

/* ---- AuthEnable, AuthDisable, Authenticate ---- */

void gw_etcd__auth_enable(struct gw_etcd__call *c, const ProtobufCMessage *msg)
{
	cJSON *root = NULL, *st;
	char *json = NULL;
	bool on;
	int rv;

	(void)msg;
	gw_etcd__auth_state(c->srv, &on, NULL);
	if (on) {
		gw_etcd__auth_reply(c, 0, NULL); /* etcd: enabling twice is no error */
		return;
	}
	if (gw_etcd__auth_load(c->srv->opts.store, "user", "root", &root) != 0) {
		gw_etcd__finish(c, GW_EROOTUSERNOTEXIST);
		return;
	}
	rv = gw_etcd__auth_has_role(root, "root") ? 0 : GW_EROOTROLENOTEXIST;
	cJSON_Delete(root);
	if (rv == 0) {
		rv = gw_etcd__auth_state_json(true, &json);
	}
	if (rv != 0) {
		gw_etcd__finish(c, rv);
		return;
	}
	st = cJSON_Parse(json);
	free(json);
	if (st == NULL) {
		gw_etcd__finish(c, GW_ENOMEM);
		return;
	}
	gw_infof("etcd", "etcd auth enabled (by %s)", c->trusted ? "a local client" : "a client");
	gw_etcd__auth_put(c, "state", "", st, gw_etcd__auth_reply);
	cJSON_Delete(st);
}

void gw_etcd__auth_disable(struct gw_etcd__call *c, const ProtobufCMessage *msg)
{
	cJSON *st = cJSON_CreateObject();
	(void)msg;
	if (st == NULL || cJSON_AddFalseToObject(st, "on") == NULL) {
		cJSON_Delete(st);
		gw_etcd__finish(c, GW_ENOMEM);
		return;
	}
	gw_infof("etcd", "etcd auth disabled by %s", c->user[0] != '\0' ? c->user : "a client");
	gw_etcd__auth_put(c, "state", "", st, gw_etcd__auth_reply);
	cJSON_Delete(st);
}

static void authenticated(struct gw_etcd__kdf *k)
{
	struct gw_etcd__call *c = k->c;
	Etcdserverpb__AuthenticateResponse *m;
	uint8_t key[GW_ETCD__TOKEN_KEY];
	char *tok;
	bool on;
	unsigned ttl = c->srv->opts.auth_token_ttl_ms;

	if (!k->ok) {
		gw_etcd__finish(c, GW_EAUTHFAILED);
		return;
	}
	gw_etcd__auth_state(c->srv, &on, key);
	tok = gw_etcd__arena_alloc(&c->arena, GW_ETCD__TOKEN_MAX);
	m = GW_ETCD__ALLOC(c, Etcdserverpb__AuthenticateResponse);
	if (!on) {
		gw_etcd__finish(c, GW_EAUTHNOTENABLED);
		return;
	}
	if (tok == NULL || m == NULL ||
	    gw_etcd__token_sign(key, k->name, k->gen, now_ms() + ttl, tok, GW_ETCD__TOKEN_MAX) !=
		0) {
		gw_etcd__finish(c, GW_ENOMEM);
		return;
	}
	etcdserverpb__authenticate_response__init(m);
	m->header = gw_etcd__svc_header(c, 0);
	m->token = tok;
	gw_etcd__reply(c, m);
}

void gw_etcd__auth_authenticate(struct gw_etcd__call *c, const ProtobufCMessage *msg)
{
	const Etcdserverpb__AuthenticateRequest *r = (const void *)msg;
	const cJSON *pw;
	cJSON *u = NULL;
	bool on;

	gw_etcd__auth_state(c->srv, &on, NULL);
	if (!on) {
		gw_etcd__finish(c, GW_EAUTHNOTENABLED);
		return;
	}
	if (gw_etcd__auth_name_check(r->name, GW_EAUTHFAILED) != 0) {
		gw_etcd__finish(c, GW_EAUTHFAILED);
		return;
	}
	gw_etcd__auth_load(c->srv->opts.store, "user", r->name, &u);
	pw = cJSON_GetObjectItemCaseSensitive(u, "pw");
	/* A user without a password (no_password) cannot authenticate. */
	gw_etcd__auth_kdf(c, r->name, r->password, true,
			  cJSON_IsString(pw) ? pw->valuestring : NULL, gw_etcd__auth_user_gen(u),
			  authenticated);
	cJSON_Delete(u);
}
