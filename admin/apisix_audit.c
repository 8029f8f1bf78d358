/* apisix_audit.c: the audit log of Admin API writes, kept in the
 * replicated store under the reserved prefix /apigw/audit/ (outside
 * /apisix/: the proxy and APISIX clients never see it).
 *
 * Happy path: every write the Admin API proposes (PUT, POST, PATCH,
 * DELETE, rollback) carries, in the SAME store TXN, a put of one audit
 * record at /apigw/audit/<unix ms, 20 digits>-<node id>-<sequence>, so the
 * record commits with the change, at the same revision, or not at all:
 *   {"time": ms, "node": member name, "client": "ip:port", "role": "admin",
 *    "op": "PUT", "resource": "routes", "id": "1", "key": "/apisix/routes/1"}
 * (a rollback: "op": "rollback", "to": N, "resources": [...]). Never a
 * request body or a value: no secret can reach it. The same TXN deletes the
 * records older than --audit-retention (the proposer's clock decides the
 * cut, written into the op, so every member deletes the same keys).
 * A write through the etcd API (Put, DeleteRange, Txn) is recorded by a
 * second proposal once it committed (gw_admin_audit_etcd: the etcd user or
 * how the client was let in, the op, the first key, the write's
 * revision), as node metadata (meta "audit/etcd/<node>/<slot>", a ring of
 * GW_ADMIN__AUDIT_ETCD_SLOTS per node), not in the keyspace, so the etcd
 * API's revisions stay etcd's. It is not atomic with the write (a crash
 * in between loses the record) and carries no client address.
 * GET /apisix/admin/audit?since=REV[&limit=N] lists the records committed
 * at or after revision REV, oldest first, each with its "revision".
 * Failure modes: a record that cannot be built (out of memory) fails the
 * write with 500 before anything is proposed. Loop thread. */
#include "config.h"

#include "admin/apisix.h"
#include "admin/apisix_int.h"
#include "lib/addr.h"
#include "lib/err.h"
#include "lib/httpd.h"
#include "lib/log.h"
#include "raft/raft.h"
#include "store/store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define AUDIT_DEFAULT_LIMIT 100
#define AUDIT_MAX_LIMIT     1000

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Build a record of @fields (taken: its items are added after time, node
 * and client) with the key and retention cut of @r's node. 0 or
 * GW_ENOMEM. */
static int audit_build(struct gw_raft *r, uint64_t retention_ms, unsigned *seq, const char *client,
		       cJSON *fields, struct gw_admin__audit *au)
{
	struct gw_raft_status *st;
	uint64_t t = now_ms(), cut, node = 0;
	cJSON *o = cJSON_CreateObject(), *x;

	memset(au, 0, sizeof *au);
	if (o == NULL || fields == NULL) {
		cJSON_Delete(o);
		cJSON_Delete(fields);
		return GW_ENOMEM;
	}
	st = malloc(sizeof *st);
	if (st != NULL) {
		gw_raft_status(r, st);
		node = st->id;
		free(st);
	}
	cJSON_AddNumberToObject(o, "time", (double)t);
	cJSON_AddStringToObject(o, "node", gw_raft_name(r));
	if (client != NULL) {
		cJSON_AddStringToObject(o, "client", client);
	}
	while ((x = fields->child) != NULL) {
		cJSON_AddItemToObject(o, x->string, cJSON_DetachItemViaPointer(fields, x));
	}
	cJSON_Delete(fields);
	au->value = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (au->value == NULL) {
		return GW_ENOMEM;
	}
	snprintf(au->key, sizeof au->key,
		 GW_ADMIN__AUDIT_PREFIX "%020" PRIu64 "-%016" PRIx64 "-%08x", t, node, (*seq)++);
	cut = retention_ms < t ? t - retention_ms : 0;
	snprintf(au->end, sizeof au->end, GW_ADMIN__AUDIT_PREFIX "%020" PRIu64, cut);
	return 0;
}

int gw_admin__audit_make(struct gw_admin *a, struct gw_http_req *req, const char *op,
			 const struct gw_admin__resource *res, const char *id, const char *key,
			 cJSON *extra, struct gw_admin__audit *au)
{
	char client[64] = "";
	cJSON *o = cJSON_CreateObject(), *x;

	if (o == NULL) {
		cJSON_Delete(extra);
		memset(au, 0, sizeof *au);
		return GW_ENOMEM;
	}
	if (req != NULL) {
		gw_addr_format((const struct sockaddr *)&req->peer, client, sizeof client);
	}
	cJSON_AddStringToObject(o, "role", "admin"); /* only the admin key writes */
	cJSON_AddStringToObject(o, "op", op);
	if (res != NULL) {
		cJSON_AddStringToObject(o, "resource", res->name);
	}
	if (id != NULL && id[0] != '\0') {
		cJSON_AddStringToObject(o, "id", id);
	}
	if (key != NULL && key[0] != '\0') {
		cJSON_AddStringToObject(o, "key", key);
	}
	while (extra != NULL && (x = extra->child) != NULL) {
		cJSON_AddItemToObject(o, x->string, cJSON_DetachItemViaPointer(extra, x));
	}
	cJSON_Delete(extra);
	return audit_build(a->raft, a->audit_retention_ms, &a->audit_seq, client, o, au);
}

/* ---- writes through the etcd API ------------------------------------------ */

static void etcd_audit_done(void *data, int err, struct gw_store_result *res)
{
	struct gw_admin__audit *au = data;

	if (err != 0) {
		gw_warnf("audit", "an etcd API write was not recorded: %s", gw_strerror(err));
	}
	if (res != NULL) {
		gw_store_result_free(res);
	}
	gw_admin__audit_free(au);
	free(au);
}

void gw_admin_audit_etcd(struct gw_raft *r, unsigned *seq, const struct gw_admin_audit_etcd *w)
{
	const struct gw_admin__resource *res;
	struct gw_admin__audit *au;
	struct gw_store_op op;
	char key[64];
	unsigned slot;
	cJSON *o;

	au = calloc(1, sizeof *au);
	o = cJSON_CreateObject();
	if (au == NULL || o == NULL) {
		free(au);
		cJSON_Delete(o);
		gw_warnf("audit", "an etcd API write was not recorded: %s", gw_strerror(GW_ENOMEM));
		return;
	}
	cJSON_AddStringToObject(o, "role", w->user[0] ? "etcd user" : "etcd client");
	if (w->user[0] != '\0') {
		cJSON_AddStringToObject(o, "user", w->user);
	}
	if (w->how != NULL) {
		cJSON_AddStringToObject(o, "auth", w->how);
	}
	cJSON_AddStringToObject(o, "op", w->op);
	res = w->key ? gw_admin__resource_of_key(w->key, strlen(w->key)) : NULL;
	if (res != NULL) {
		cJSON_AddStringToObject(o, "resource", res->name);
	}
	if (w->key != NULL) {
		cJSON_AddStringToObject(o, "key", w->key);
	}
	if (w->n_keys > 1) {
		cJSON_AddNumberToObject(o, "keys", (double)w->n_keys);
	}
	cJSON_AddNumberToObject(o, "revision", (double)w->revision);
	slot = *seq % GW_ADMIN__AUDIT_ETCD_SLOTS;
	if (audit_build(r, 0, seq, NULL, o, au) != 0) {
		etcd_audit_done(au, GW_ENOMEM, NULL);
		return;
	}
	/* node metadata, not the keyspace: the etcd API's revisions stay
	 * etcd's (one per write); a ring of slots per node bounds it */
	snprintf(key, sizeof key, GW_ADMIN__AUDIT_META "%.16s/%05u",
		 au->key + strlen(GW_ADMIN__AUDIT_PREFIX) + 21, slot);
	memset(&op, 0, sizeof op);
	op.type = GW_OP_META_PUT;
	op.u.meta.key = key;
	op.u.meta.key_len = strlen(key);
	op.u.meta.value = au->value;
	op.u.meta.value_len = strlen(au->value);
	if (gw_raft_propose(r, &op, 0, etcd_audit_done, au) != 0) {
		etcd_audit_done(au, GW_ESHUTDOWN, NULL);
	}
}

size_t gw_admin__audit_ops(const struct gw_admin__audit *au, struct gw_store_op *ops)
{
	memset(ops, 0, 2 * sizeof *ops);
	ops[0].type = GW_OP_PUT;
	ops[0].u.put.key = au->key;
	ops[0].u.put.key_len = strlen(au->key);
	ops[0].u.put.value = au->value;
	ops[0].u.put.value_len = strlen(au->value);
	ops[1].type = GW_OP_DELETE; /* the records past retention */
	ops[1].u.del.key = GW_ADMIN__AUDIT_PREFIX;
	ops[1].u.del.key_len = strlen(GW_ADMIN__AUDIT_PREFIX);
	ops[1].u.del.range_end = au->end;
	ops[1].u.del.range_end_len = strlen(au->end);
	return 2;
}

void gw_admin__audit_free(struct gw_admin__audit *au)
{
	free(au->value);
	au->value = NULL;
}

static int by_revision(const void *x, const void *y)
{
	const cJSON *const *a = x, *const *b = y;
	const cJSON *ra = cJSON_GetObjectItemCaseSensitive(*a, "revision");
	const cJSON *rb = cJSON_GetObjectItemCaseSensitive(*b, "revision");
	double da = cJSON_IsNumber(ra) ? ra->valuedouble : 0;
	double db = cJSON_IsNumber(rb) ? rb->valuedouble : 0;

	return (da > db) - (da < db);
}

/* Every record (Admin API writes from the keyspace, etcd API writes from
 * the node metadata) at or after @since into @v (grown; *n its count). 0
 * or a store error. */
static int collect(struct gw_admin *a, int64_t since, cJSON ***v, size_t *n, size_t *cap)
{
	struct gw_range_resp rs;
	char **keys = NULL, **vals = NULL;
	size_t i, nm = 0;
	int rv = gw_admin__read_prefix(a, GW_ADMIN__AUDIT_PREFIX, &rs);

	if (rv != 0) {
		return rv;
	}
	*cap = rs.n_kvs + 16;
	*v = calloc(*cap, sizeof **v);
	for (i = 0; i < rs.n_kvs && *v != NULL; i++) {
		cJSON *o;

		if (rs.kvs[i].mod_revision < since) {
			continue;
		}
		o = gw_admin__kv_value(&rs.kvs[i]);
		if (cJSON_IsObject(o)) {
			cJSON_AddNumberToObject(o, "revision", (double)rs.kvs[i].mod_revision);
		}
		(*v)[(*n)++] = o;
	}
	gw_store_range_resp_free(&rs);
	if (*v == NULL) {
		return GW_ENOMEM;
	}
	rv = gw_store_meta_list(a->store, GW_ADMIN__AUDIT_META, &keys, &vals, &nm);
	for (i = 0; rv == 0 && i < nm; i++) {
		cJSON *o = cJSON_Parse(vals[i]);
		const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, "revision");

		if (!cJSON_IsNumber(r) || r->valuedouble < (double)since) {
			cJSON_Delete(o);
			continue;
		}
		if (*n == *cap) {
			cJSON **g = realloc(*v, (*cap * 2) * sizeof **v);
			if (g == NULL) {
				cJSON_Delete(o);
				rv = GW_ENOMEM;
				break;
			}
			*v = g;
			*cap *= 2;
		}
		(*v)[(*n)++] = o;
	}
	for (i = 0; i < nm; i++) {
		free(keys[i]);
		free(vals[i]);
	}
	free(keys);
	free(vals);
	return rv;
}

void gw_admin__h_audit(struct gw_admin *a, struct gw_http_req *req, const struct gw_admin__match *m)
{
	cJSON **v = NULL, *body, *list;
	int64_t since;
	long limit = AUDIT_DEFAULT_LIMIT;
	size_t i, n = 0, cap = 0, shown = 0;
	int rv;

	(void)m;
	if (gw_admin__revision_arg(req, "since", &since) != 0) {
		gw_admin__send_err(req, GW_EINVAL, "invalid since: a positive revision");
		return;
	}
	if (gw_admin__limit_arg(req, AUDIT_MAX_LIMIT, &limit) != 0) {
		gw_admin__send_err(req, GW_EINVAL, "invalid limit: an integer from 1 to 1000");
		return;
	}
	rv = collect(a, since, &v, &n, &cap);
	if (rv == 0 && n > 1) {
		qsort(v, n, sizeof *v, by_revision);
	}
	body = rv == 0 ? cJSON_CreateObject() : NULL;
	list = cJSON_AddArrayToObject(body, "list");
	for (i = 0; i < n; i++) {
		if (list != NULL && shown < (size_t)limit) {
			cJSON_AddItemToArray(list, v[i]);
			shown++;
		} else {
			cJSON_Delete(v[i]);
		}
	}
	free(v);
	if (rv != 0) {
		gw_admin__send_err(req, rv, NULL);
		return;
	}
	cJSON_AddNumberToObject(body, "total", (double)shown);
	cJSON_AddBoolToObject(body, "more", shown < n);
	gw_admin__send_json(req, 200, body);
}
