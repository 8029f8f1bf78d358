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
 * GET /apisix/admin/audit?since=REV[&limit=N] lists the records committed
 * at or after revision REV, oldest first, each with its "revision".
 * Failure modes: a record that cannot be built (out of memory) fails the
 * write with 500 before anything is proposed. Loop thread. */
#include "config.h"

#include "admin/apisix_int.h"
#include "lib/addr.h"
#include "lib/err.h"
#include "lib/httpd.h"
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

int gw_admin__audit_make(struct gw_admin *a, struct gw_http_req *req, const char *op,
			 const struct gw_admin__resource *res, const char *id, const char *key,
			 cJSON *extra, struct gw_admin__audit *au)
{
	struct gw_raft_status *st;
	uint64_t t = now_ms(), cut;
	char client[64] = "";
	cJSON *o = cJSON_CreateObject();
	uint64_t node = 0;

	memset(au, 0, sizeof *au);
	if (o == NULL) {
		cJSON_Delete(extra);
		return GW_ENOMEM;
	}
	st = malloc(sizeof *st);
	if (st != NULL) {
		gw_raft_status(a->raft, st);
		node = st->id;
		free(st);
	}
	if (req != NULL) {
		gw_addr_format((const struct sockaddr *)&req->peer, client, sizeof client);
	}
	cJSON_AddNumberToObject(o, "time", (double)t);
	cJSON_AddStringToObject(o, "node", gw_raft_name(a->raft));
	cJSON_AddStringToObject(o, "client", client);
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
	if (extra != NULL) {
		cJSON *x;
		while ((x = extra->child) != NULL) {
			cJSON_AddItemToObject(o, x->string, cJSON_DetachItemViaPointer(extra, x));
		}
		cJSON_Delete(extra);
	}
	au->value = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (au->value == NULL) {
		return GW_ENOMEM;
	}
	snprintf(au->key, sizeof au->key,
		 GW_ADMIN__AUDIT_PREFIX "%020" PRIu64 "-%016" PRIx64 "-%08x", t, node,
		 a->audit_seq++);
	cut = a->audit_retention_ms < t ? t - a->audit_retention_ms : 0;
	snprintf(au->end, sizeof au->end, GW_ADMIN__AUDIT_PREFIX "%020" PRIu64, cut);
	return 0;
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
	const struct gw_kv *a = x, *b = y;

	return (a->mod_revision > b->mod_revision) - (a->mod_revision < b->mod_revision);
}

void gw_admin__h_audit(struct gw_admin *a, struct gw_http_req *req, const struct gw_admin__match *m)
{
	struct gw_range_resp rs;
	char arg[16], *e;
	int64_t since;
	long limit = AUDIT_DEFAULT_LIMIT, n = 0;
	cJSON *body, *list;
	size_t i;
	int rv;

	(void)m;
	if (gw_admin__revision_arg(req, "since", &since) != 0) {
		gw_admin__send_err(req, GW_EINVAL, "invalid since: a positive revision");
		return;
	}
	if (gw_http_query_arg(req, "limit", arg, sizeof arg) != NULL) {
		limit = strtol(arg, &e, 10);
		if (arg[0] == '\0' || *e != '\0' || limit < 1 || limit > AUDIT_MAX_LIMIT) {
			gw_admin__send_err(req, GW_EINVAL,
					   "invalid limit: an integer from 1 to 1000");
			return;
		}
	}
	rv = gw_admin__read_prefix(a, GW_ADMIN__AUDIT_PREFIX, &rs);
	if (rv != 0) {
		gw_admin__send_err(req, rv, NULL);
		return;
	}
	if (rs.n_kvs > 1) {
		qsort(rs.kvs, rs.n_kvs, sizeof rs.kvs[0], by_revision);
	}
	body = cJSON_CreateObject();
	list = cJSON_AddArrayToObject(body, "list");
	for (i = 0; i < rs.n_kvs && list != NULL && n < limit; i++) {
		cJSON *v;

		if (rs.kvs[i].mod_revision < since) {
			continue;
		}
		v = gw_admin__kv_value(&rs.kvs[i]);
		if (cJSON_IsObject(v)) {
			cJSON_AddNumberToObject(v, "revision", (double)rs.kvs[i].mod_revision);
		}
		cJSON_AddItemToArray(list, v);
		n++;
	}
	cJSON_AddNumberToObject(body, "total", (double)n);
	cJSON_AddBoolToObject(body, "more", i < rs.n_kvs);
	gw_store_range_resp_free(&rs);
	gw_admin__send_json(req, 200, body);
}
