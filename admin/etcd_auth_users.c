/* etcd_auth_users.c: the user and role RPCs of etcd's Auth service
 * (UserAdd/Get/List/Delete/ChangePassword/GrantRole/RevokeRole,
 * RoleAdd/Get/List/Delete/GrantPermission/RevokePermission).
 *
 * Happy path: validate the request against the current records (etcd 3.4's
 * checks and errors, in etcd's order), build the new record and propose it
 * through raft into the store's meta space (etcd_auth.c's
 * gw_etcd__auth_put); answer with a header at the committed revision.
 * Reads answer from the local store. The gate (etcd_auth.c) has already
 * required the root role when auth is on. Role "root" needs no record: it
 * grants everything; RoleDelete also takes the role from every user that
 * has it (one proposal per user, then the role's record), so a role created
 * later under the same name gives them nothing.
 * Failure modes: etcd's errors (user/role not found or already there, role
 * not granted, permission not granted, invalid auth management for root
 * while auth is on) and INVALID_ARGUMENT with the limit for over-long names
 * and too many users, roles or permissions. Loop thread. */
#include "config.h"

#include "admin/etcd_int.h"
#include "lib/err.h"
#include "lib/log.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool auth_on(struct gw_etcd__call *c)
{
	bool on;
	gw_etcd__auth_state(c->srv, &on, NULL);
	return on;
}

/* Load user @name for an update: 0, or the call is finished (not found,
 * bad name). */
static int load_user(struct gw_etcd__call *c, const char *name, cJSON **u)
{
	int rv = gw_etcd__auth_name_check(name, GW_EUSEREMPTY);
	if (rv != 0) {
		gw_etcd__auth_bad_name(c, "user", rv);
		return rv;
	}
	if (gw_etcd__auth_load(c->srv->opts.store, "user", name, u) != 0) {
		gw_etcd__finish(c, GW_EUSERNOTFOUND);
		return GW_EUSERNOTFOUND;
	}
	return 0;
}

static int load_role(struct gw_etcd__call *c, const char *name, cJSON **r)
{
	int rv = gw_etcd__auth_name_check(name, GW_EROLEEMPTY);
	if (rv != 0) {
		gw_etcd__auth_bad_name(c, "role", rv);
		return rv;
	}
	if (gw_etcd__auth_load(c->srv->opts.store, "role", name, r) != 0) {
		gw_etcd__finish(c, GW_EROLENOTFOUND);
		return GW_EROLENOTFOUND;
	}
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Replace @u's roles by the sorted set of its roles with @add added and
 * @drop removed (either NULL). 0 or GW_ENOMEM. */
static int set_roles(cJSON *u, const char *add, const char *drop)
{
	const cJSON *old = cJSON_GetObjectItemCaseSensitive(u, "roles"), *r;
	const char *names[GW_ETCD_AUTH_MAX_USER_ROLES + 1];
	size_t n = 0, i;
	cJSON *arr = cJSON_CreateArray();

	if (arr == NULL) {
		return GW_ENOMEM;
	}
	cJSON_ArrayForEach(r, old)
	{
		if (cJSON_IsString(r) && n < GW_ETCD_AUTH_MAX_USER_ROLES &&
		    (drop == NULL || strcmp(r->valuestring, drop) != 0)) {
			names[n++] = r->valuestring;
		}
	}
	if (add != NULL) {
		names[n++] = add;
	}
	qsort(names, n, sizeof names[0], cmp_str);
	for (i = 0; i < n; i++) {
		if (!cJSON_AddItemToArray(arr, cJSON_CreateString(names[i]))) {
			cJSON_Delete(arr);
			return GW_ENOMEM;
		}
	}
	/* names point into the old array: replace it only now */
	cJSON_ReplaceItemInObjectCaseSensitive(u, "roles", arr);
	return 0;
}

/* ---- users ---- */

static void user_hashed(struct gw_etcd__kdf *k)
{
	struct gw_etcd__call *c = k->c;
	const Etcdserverpb__AuthUserAddRequest *r = c->svc;
	cJSON *u = NULL;
	bool add = r != NULL;

	if (!k->ok) {
		gw_etcd__finish(c, GW_EIO);
		return;
	}
	if (add) {
		u = cJSON_CreateObject();
		if (u != NULL && cJSON_AddArrayToObject(u, "roles") == NULL) {
			cJSON_Delete(u);
			u = NULL;
		}
	} else if (gw_etcd__auth_load(c->srv->opts.store, "user", k->name, &u) != 0) {
		gw_etcd__finish(c, GW_EUSERNOTFOUND); /* deleted meanwhile */
		return;
	}
	c->svc = NULL;
	if (u == NULL || gw_etcd__auth_new_gen(u) != 0) {
		cJSON_Delete(u);
		gw_etcd__finish(c, GW_ENOMEM);
		return;
	}
	cJSON_DeleteItemFromObjectCaseSensitive(u, "pw");
	if (k->stored[0] != '\0' && cJSON_AddStringToObject(u, "pw", k->stored) == NULL) {
		cJSON_Delete(u);
		gw_etcd__finish(c, GW_ENOMEM);
		return;
	}
	gw_etcd__auth_put(c, "user", k->name, u, gw_etcd__auth_reply);
	cJSON_Delete(u);
}

void gw_etcd__auth_user_add(struct gw_etcd__call *c, const ProtobufCMessage *msg)
{
	const Etcdserverpb__AuthUserAddRequest *r = (const void *)msg;
	cJSON *u = NULL;
	int rv = gw_etcd__auth_name_check(r->name, GW_EUSEREMPTY);

	if (rv != 0) {
		gw_etcd__auth_bad_name(c, "user", rv);
		return;
	}
	if (gw_etcd__auth_load(c->srv->opts.store, "user", r->name, &u) == 0) {
		cJSON_Delete(u);
		gw_etcd__finish(c, GW_EUSEREXIST);
		return;
	}
	if (gw_etcd__auth_count(c, "user") >= GW_ETCD_AUTH_MAX_USERS) {
		gw_etcd__auth_too_many(c, "users", GW_ETCD_AUTH_MAX_USERS);
		return;
	}
	c->svc = (void *)r; /* marks an add for user_hashed */
	if (r->options != NULL && r->options->no_password) {
		struct gw_etcd__kdf k;
		memset(&k, 0, sizeof k);
		k.c = c;
		k.ok = true;
		snprintf(k.name, sizeof k.name, "%s", r->name);
		user_hashed(&k);
		return;
	}
	gw_etcd__auth_kdf(c, r->name, r->password, false, NULL, 0, user_hashed);
}

void gw_etcd__auth_user_passwd(struct gw_etcd__call *c, const ProtobufCMessage *msg)
{
	const Etcdserverpb__AuthUserChangePasswordRequest *r = (const void *)msg;
	cJSON *u = NULL;

	if (load_user(c, r->name, &u) != 0) {
		return;
	}
	cJSON_Delete(u);
	c->svc = NULL;
	gw_etcd__auth_kdf(c, r->name, r->password, false, NULL, 0, user_hashed);
}

void gw_etcd__auth_user_get(struct gw_etcd__call *c, const ProtobufCMessage *msg)
{
	const Etcdserverpb__AuthUserGetRequest *r = (const void *)msg;
	Etcdserverpb__AuthUserGetResponse *m = GW_ETCD__ALLOC(c, Etcdserverpb__AuthUserGetResponse);
	const cJSON *roles, *x;
	cJSON *u = NULL;
	size_t n = 0;

	if (m == NULL) {
		gw_etcd__finish(c, GW_ENOMEM);
		return;
	}
	if (load_user(c, r->name, &u) != 0) {
		return;
	}
	etcdserverpb__auth_user_get_response__init(m);
	m->header = gw_etcd__svc_header(c, 0);
	roles = cJSON_GetObjectItemCaseSensitive(u, "roles");
	m->roles = gw_etcd__arena_alloc(&c->arena,
					((size_t)cJSON_GetArraySize(roles) + 1) * sizeof *m->roles);
	cJSON_ArrayForEach(x, roles)
	{
		if (m->roles != NULL && cJSON_IsString(x)) {
			m->roles[n] = gw_etcd__strdup(c, x->valuestring);
			n += m->roles[n] != NULL;
		}
	}
	m->n_roles = n;
	cJSON_Delete(u);
	gw_etcd__reply(c, m);
}

/* Names of @kind as a string array in the call's arena. */
static char **names_of(struct gw_etcd__call *c, const char *kind, size_t *n)
{
	char **names = NULL, **out;
	size_t cnt = 0, i;

	*n = 0;
	if (gw_etcd__auth_list(c->srv->opts.store, kind, &names, &cnt) != 0) {
		return NULL;
	}
	out = gw_etcd__arena_alloc(&c->arena, (cnt + 1) * sizeof *out);
	for (i = 0; out != NULL && i < cnt; i++) {
		out[*n] = gw_etcd__strdup(c, names[i]);
		*n += out[*n] != NULL;
	}
	gw_etcd__auth_list_free(names, cnt);
	return out;
}

void gw_etcd__auth_user_list(struct gw_etcd__call *c, const ProtobufCMessage *msg)
{
	Etcdserverpb__AuthUserListResponse *m =
	    GW_ETCD__ALLOC(c, Etcdserverpb__AuthUserListResponse);
	(void)msg;
	if (m != NULL) {
		etcdserverpb__auth_user_list_response__init(m);
		m->header = gw_etcd__svc_header(c, 0);
		m->users = names_of(c, "user", &m->n_users);
	}
	gw_etcd__reply(c, m);
}

void gw_etcd__auth_user_delete(struct gw_etcd__call *c, const ProtobufCMessage *msg)
{
	const Etcdserverpb__AuthUserDeleteRequest *r = (const void *)msg;
	cJSON *u = NULL;

	if (load_user(c, r->name, &u) != 0) {
		return;
	}
	cJSON_Delete(u);
	if (strcmp(r->name, "root") == 0 && auth_on(c)) {
		gw_etcd__finish(c, GW_EINVALIDAUTHMGMT);
		return;
	}
	gw_etcd__auth_put(c, "user", r->name, NULL, gw_etcd__auth_reply);
}

void gw_etcd__auth_user_grant(struct gw_etcd__call *c, const ProtobufCMessage *msg)
{
	const Etcdserverpb__AuthUserGrantRoleRequest *r = (const void *)msg;
	cJSON *u = NULL, *role = NULL;
	int rv;

	if (load_user(c, r->user, &u) != 0) {
		return;
	}
	if (strcmp(r->role, "root") != 0 && load_role(c, r->role, &role) != 0) {
		cJSON_Delete(u);
		return;
	}
	cJSON_Delete(role);
	if (gw_etcd__auth_has_role(u, r->role)) {
		cJSON_Delete(u);
		gw_etcd__auth_reply(c, 0, NULL); /* etcd: granting twice is no error */
		return;
	}
	if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(u, "roles")) >=
	    GW_ETCD_AUTH_MAX_USER_ROLES) {
		cJSON_Delete(u);
		gw_etcd__auth_too_many(c, "roles for one user", GW_ETCD_AUTH_MAX_USER_ROLES);
		return;
	}
	rv = set_roles(u, r->role, NULL);
	if (rv == 0) {
		gw_etcd__auth_put(c, "user", r->user, u, gw_etcd__auth_reply);
	} else {
		gw_etcd__finish(c, rv);
	}
	cJSON_Delete(u);
}

void gw_etcd__auth_user_revoke(struct gw_etcd__call *c, const ProtobufCMessage *msg)
{
	const Etcdserverpb__AuthUserRevokeRoleRequest *r = (const void *)msg;
	cJSON *u = NULL;
	int rv;

	if (load_user(c, r->name, &u) != 0) {
		return;
	}
	if (strcmp(r->name, "root") == 0 && strcmp(r->role, "root") == 0 && auth_on(c)) {
		cJSON_Delete(u);
		gw_etcd__finish(c, GW_EINVALIDAUTHMGMT);
		return;
	}
	if (!gw_etcd__auth_has_role(u, r->role)) {
		cJSON_Delete(u);
		gw_etcd__finish(c, GW_EROLENOTGRANTED);
		return;
	}
	rv = set_roles(u, NULL, r->role);
	if (rv == 0) {
		gw_etcd__auth_put(c, "user", r->name, u, gw_etcd__auth_reply);
	} else {
		gw_etcd__finish(c, rv);
	}
	cJSON_Delete(u);
}

/* ---- roles ---- */

void gw_etcd__auth_role_add(struct gw_etcd__call *c, const ProtobufCMessage *msg)
{
	const Etcdserverpb__AuthRoleAddRequest *r = (const void *)msg;
	cJSON *role = NULL;
	int rv = gw_etcd__auth_name_check(r->name, GW_EROLEEMPTY);

	if (rv != 0) {
		gw_etcd__auth_bad_name(c, "role", rv);
		return;
	}
	if (gw_etcd__auth_load(c->srv->opts.store, "role", r->name, &role) == 0) {
		cJSON_Delete(role);
		gw_etcd__finish(c, GW_EROLEEXIST);
		return;
	}
	if (gw_etcd__auth_count(c, "role") >= GW_ETCD_AUTH_MAX_USERS) {
		gw_etcd__auth_too_many(c, "roles", GW_ETCD_AUTH_MAX_USERS);
		return;
	}
	role = cJSON_CreateObject();
	if (role == NULL || cJSON_AddArrayToObject(role, "perms") == NULL) {
		cJSON_Delete(role);
		gw_etcd__finish(c, GW_ENOMEM);
		return;
	}
	gw_etcd__auth_put(c, "role", r->name, role, gw_etcd__auth_reply);
	cJSON_Delete(role);
}

void gw_etcd__auth_role_get(struct gw_etcd__call *c, const ProtobufCMessage *msg)
{
	const Etcdserverpb__AuthRoleGetRequest *r = (const void *)msg;
	Etcdserverpb__AuthRoleGetResponse *m = GW_ETCD__ALLOC(c, Etcdserverpb__AuthRoleGetResponse);
	struct gw_etcd__perm *p = NULL;
	size_t n = 0, i;
	int rv = gw_etcd__auth_name_check(r->role, GW_EROLEEMPTY);

	if (rv != 0) {
		gw_etcd__auth_bad_name(c, "role", rv);
		return;
	}
	rv = gw_etcd__auth_role_perms(c->srv->opts.store, r->role, &c->arena, &p, &n);
	if (rv == GW_ENOTFOUND && strcmp(r->role, "root") != 0) {
		gw_etcd__finish(c, GW_EROLENOTFOUND);
		return;
	}
	if (m == NULL) {
		gw_etcd__finish(c, GW_ENOMEM);
		return;
	}
	etcdserverpb__auth_role_get_response__init(m);
	m->header = gw_etcd__svc_header(c, 0);
	m->perm = gw_etcd__arena_alloc(&c->arena, (n + 1) * sizeof *m->perm);
	for (i = 0; m->perm != NULL && i < n; i++) {
		Etcdserverpb__Permission *q = GW_ETCD__ALLOC(c, Etcdserverpb__Permission);
		if (q == NULL) {
			break;
		}
		etcdserverpb__permission__init(q);
		q->permtype = (Etcdserverpb__Permission__Type)p[i].type;
		q->key.data = (uint8_t *)p[i].key;
		q->key.len = p[i].key_len;
		q->range_end.data = (uint8_t *)p[i].end;
		q->range_end.len = p[i].end_len;
		m->perm[m->n_perm++] = q;
	}
	gw_etcd__reply(c, m);
}

void gw_etcd__auth_role_list(struct gw_etcd__call *c, const ProtobufCMessage *msg)
{
	Etcdserverpb__AuthRoleListResponse *m =
	    GW_ETCD__ALLOC(c, Etcdserverpb__AuthRoleListResponse);
	(void)msg;
	if (m != NULL) {
		etcdserverpb__auth_role_list_response__init(m);
		m->header = gw_etcd__svc_header(c, 0);
		m->roles = names_of(c, "role", &m->n_roles);
	}
	gw_etcd__reply(c, m);
}

/* RoleDelete: the users that had the role when it started (collected
 * once, so a slow local apply cannot make it loop) lose it one proposal at
 * a time, then the role's record goes. */
struct role_del {
	const char *role;
	char **users; /* in the call's arena */
	size_t n, next;
};

static void role_delete_step(struct gw_etcd__call *c, int err, struct gw_store_result *res)
{
	struct role_del *d = c->svc;

	(void)res;
	while (err == 0 && d->next < d->n) {
		const char *name = d->users[d->next++];
		cJSON *u = NULL;
		if (gw_etcd__auth_load(c->srv->opts.store, "user", name, &u) != 0) {
			continue;
		}
		if (gw_etcd__auth_has_role(u, d->role)) {
			err = set_roles(u, NULL, d->role);
			if (err == 0) {
				gw_etcd__auth_put(c, "user", name, u, role_delete_step);
				cJSON_Delete(u);
				return;
			}
		}
		cJSON_Delete(u);
	}
	if (err != 0) {
		gw_etcd__finish(c, err);
		return;
	}
	gw_etcd__auth_put(c, "role", d->role, NULL, gw_etcd__auth_reply);
}

void gw_etcd__auth_role_delete(struct gw_etcd__call *c, const ProtobufCMessage *msg)
{
	const Etcdserverpb__AuthRoleDeleteRequest *r = (const void *)msg;
	struct role_del *d = GW_ETCD__ALLOC(c, struct role_del);
	cJSON *role = NULL;

	if (strcmp(r->role, "root") == 0 && auth_on(c)) {
		gw_etcd__finish(c, GW_EINVALIDAUTHMGMT);
		return;
	}
	if (load_role(c, r->role, &role) != 0) {
		return;
	}
	cJSON_Delete(role);
	if (d == NULL) {
		gw_etcd__finish(c, GW_ENOMEM);
		return;
	}
	d->users = names_of(c, "user", &d->n);
	d->role = r->role;
	c->svc = d;
	role_delete_step(c, 0, NULL);
}

/* The permission entry of @role matching key and range end, or NULL. */
static cJSON *find_perm(cJSON *role, const char *k, const char *e)
{
	cJSON *p, *list = cJSON_GetObjectItemCaseSensitive(role, "perms");
	cJSON_ArrayForEach(p, list)
	{
		const cJSON *pk = cJSON_GetObjectItemCaseSensitive(p, "k");
		const cJSON *pe = cJSON_GetObjectItemCaseSensitive(p, "e");
		if (cJSON_IsString(pk) && cJSON_IsString(pe) && strcmp(pk->valuestring, k) == 0 &&
		    strcmp(pe->valuestring, e) == 0) {
			return p;
		}
	}
	return NULL;
}

/* Base64 of @b into the call's arena ("" for none); NULL when out of memory. */
static char *b64_of(struct gw_etcd__call *c, const ProtobufCBinaryData *b)
{
	char *out = gw_etcd__arena_alloc(&c->arena, 4 * ((b->len + 2) / 3) + 1);
	if (out != NULL) {
		gw_etcd__b64_encode(b->data, b->len, out);
	}
	return out;
}

void gw_etcd__auth_role_grant(struct gw_etcd__call *c, const ProtobufCMessage *msg)
{
	const Etcdserverpb__AuthRoleGrantPermissionRequest *r = (const void *)msg;
	cJSON *role = NULL, *p, *list;
	char *k, *e;

	if (r->perm == NULL || r->perm->key.len == 0) {
		gw_etcd__finish_status(c, GW_GRPC_INVALID_ARGUMENT,
				       "etcdserver: permission is not given (key required)");
		return;
	}
	if (r->perm->key.len > GW_STORE_MAX_KEY || r->perm->range_end.len > GW_STORE_MAX_KEY) {
		gw_etcd__finish(c, GW_EKEYTOOLARGE);
		return;
	}
	if ((int)r->perm->permtype < 0 || (int)r->perm->permtype > 2) {
		gw_etcd__finish_status(c, GW_GRPC_INVALID_ARGUMENT,
				       "etcdserver: invalid permission type");
		return;
	}
	if (load_role(c, r->name, &role) != 0) {
		return;
	}
	k = b64_of(c, &r->perm->key);
	e = b64_of(c, &r->perm->range_end);
	list = cJSON_GetObjectItemCaseSensitive(role, "perms");
	if (k == NULL || e == NULL ||
	    (list == NULL && (list = cJSON_AddArrayToObject(role, "perms")) == NULL)) {
		cJSON_Delete(role);
		gw_etcd__finish(c, GW_ENOMEM);
		return;
	}
	p = find_perm(role, k, e);
	if (p != NULL) {
		cJSON_ReplaceItemInObjectCaseSensitive(p, "t",
						       cJSON_CreateNumber(r->perm->permtype));
	} else if (cJSON_GetArraySize(list) >= GW_ETCD_AUTH_MAX_PERMS) {
		cJSON_Delete(role);
		gw_etcd__auth_too_many(c, "permissions for one role", GW_ETCD_AUTH_MAX_PERMS);
		return;
	} else {
		p = cJSON_CreateObject();
		if (p == NULL || !cJSON_AddNumberToObject(p, "t", r->perm->permtype) ||
		    !cJSON_AddStringToObject(p, "k", k) || !cJSON_AddStringToObject(p, "e", e) ||
		    !cJSON_AddItemToArray(list, p)) {
			cJSON_Delete(p);
			cJSON_Delete(role);
			gw_etcd__finish(c, GW_ENOMEM);
			return;
		}
	}
	gw_etcd__auth_put(c, "role", r->name, role, gw_etcd__auth_reply);
	cJSON_Delete(role);
}

void gw_etcd__auth_role_revoke(struct gw_etcd__call *c, const ProtobufCMessage *msg)
{
	const Etcdserverpb__AuthRoleRevokePermissionRequest *r = (const void *)msg;
	cJSON *role = NULL, *p;
	char *k, *e;

	if (load_role(c, r->role, &role) != 0) {
		return;
	}
	k = b64_of(c, &r->key);
	e = b64_of(c, &r->range_end);
	p = k != NULL && e != NULL ? find_perm(role, k, e) : NULL;
	if (p == NULL) {
		cJSON_Delete(role);
		gw_etcd__finish(c, GW_EPERMNOTGRANTED);
		return;
	}
	cJSON_Delete(
	    cJSON_DetachItemViaPointer(cJSON_GetObjectItemCaseSensitive(role, "perms"), p));
	gw_etcd__auth_put(c, "role", r->role, role, gw_etcd__auth_reply);
	cJSON_Delete(role);
}
