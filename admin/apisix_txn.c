/* apisix_txn.c: the Admin API's ops: one write or delete request from its
 * checked input to its answer, as compare-and-swap TXNs proposed through
 * raft.
 *
 * Happy path of a write (PUT/POST/PATCH): read the current object from the
 * local store, build the new value (PATCH: deep merge or sub-path replace;
 * create_time kept, update_time set, id injected), validate it with
 * APISIX's schemas and the plugin catalogue, then propose ONE store TXN:
 *   compares: the object's own key is as read (mod_revision == read's, or
 *             create_revision == 0 when it did not exist) and every object
 *             it references exists (create_revision > 0);
 *   success:  put the value (with the ?ttl= lease, granted first);
 *   failure:  range the referenced keys, to tell "missing reference" (400)
 *             from "someone wrote the object meanwhile" (retry, bounded,
 *             with jittered backoff: PATCH/POST/PUT races never lose a
 *             write and never overwrite a change they did not see).
 * A DELETE of an object others may reference (upstream, service,
 * plugin_config, consumer_group) scans the referencing prefixes in the
 * local store at revision R; if nothing references it, the TXN compares
 * that every key of each scanned prefix still has mod_revision <= R (so no
 * key changed or appeared since the scan: a new reference would have a
 * newer mod_revision; deletions cannot add references) and deletes. A
 * concurrent write of a referencing route and a delete of its upstream are
 * therefore ordered by raft and one of them fails its compare.
 *
 * Failure modes: raft errors (no leader, deadline, leadership lost,
 * shutting down) and store business errors end the op through
 * gw_admin__op_fail (gw_admin__answer maps them); too many lost races ->
 * 409. An op is freed once answered (after its retry timer closed).
 * Loop thread. */
#include "config.h"

#include "admin/apisix_int.h"
#include "schema/schema.h"
#include "lib/err.h"
#include "lib/httpd.h"
#include "lib/rand.h"
#include "raft/raft.h"
#include "store/store.h"
#include "lib/json.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_ATTEMPTS 64 /* compare-and-swap retries of one request */
#define MAX_KEY      GW_ADMIN__MAX_KEY
#define MAX_REFS     GW_ADMIN__MAX_REFS

/* Who may reference a resource: deleting it scans these. */
struct dependent {
	const char *target;  /* resource name being deleted */
	const char *prefix;  /* prefix scanned */
	const char *field;   /* field holding the id */
	const char *by_type; /* type named in the message */
	const char *message; /* "can not delete this upstream" */
};

static const struct dependent dependents[] = {
    {"upstreams", "/apisix/routes/", "upstream_id", "route", "can not delete this upstream"},
    {"upstreams", "/apisix/services/", "upstream_id", "service", "can not delete this upstream"},
    {"upstreams", "/apisix/stream_routes/", "upstream_id", "stream_route",
     "can not delete this upstream"},
    {"services", "/apisix/routes/", "service_id", "route", "can not delete this service directly"},
    {"services", "/apisix/stream_routes/", "service_id", "stream_route",
     "can not delete this service directly"},
    {"plugin_configs", "/apisix/routes/", "plugin_config_id", "route",
     "can not delete this plugin config"},
    {"consumer_groups", "/apisix/consumers/", "group_id", "consumer",
     "can not delete this consumer group"},
};

/* What a resource references: writing it checks these exist. */
struct reference {
	const char *source; /* resource name being written */
	const char *field;
	const char *prefix;
	const char *what; /* message: "failed to fetch upstream info by upstream id" */
};

static const struct reference references[] = {
    {"routes", "upstream_id", "/apisix/upstreams/", "upstream info by upstream id"},
    {"routes", "service_id", "/apisix/services/", "service info by service id"},
    {"routes", "plugin_config_id", "/apisix/plugin_configs/",
     "plugin config info by plugin config id"},
    {"services", "upstream_id", "/apisix/upstreams/", "upstream info by upstream id"},
    {"stream_routes", "upstream_id", "/apisix/upstreams/", "upstream info by upstream id"},
    {"stream_routes", "service_id", "/apisix/services/", "service info by service id"},
    {"consumers", "group_id", "/apisix/consumer_groups/",
     "consumer group info by consumer group id"},
};

/* ---- op life cycle ----------------------------------------------------- */

struct gw_admin__op *gw_admin__op_new(struct gw_admin *a, struct gw_http_req *req,
				      const struct gw_admin__resource *res, unsigned method)
{
	struct gw_admin__op *op = calloc(1, sizeof(*op));

	if (op == NULL) {
		return NULL;
	}
	op->a = a;
	op->req = req;
	op->res = res;
	op->method = method;
	gw_list_add_head(&a->ops, &op->link);
	a->n_ops++;
	return op;
}

static void op_free(struct gw_admin__op *op)
{
	struct gw_admin *a = op->a;

	gw_list_del(&op->link);
	a->n_ops--;
	cJSON_Delete(op->body);
	cJSON_Delete(op->value);
	cJSON_Delete(op->reply);
	cJSON_Delete(op->served_report);
	gw_admin__audit_free(&op->audit);
	free(op);
	gw_admin__maybe_free(a);
}

static void op_timer_closed(uv_handle_t *h)
{
	op_free(h->data);
}

/* The request has been answered (or must be dropped): release the op. */
static void op_done(struct gw_admin__op *op)
{
	if (op->timer_init) {
		uv_close((uv_handle_t *)&op->timer, op_timer_closed);
	} else {
		op_free(op);
	}
}

void gw_admin__op_fail(struct gw_admin__op *op, int err, const char *msg)
{
	gw_admin__send_err(op->req, err, msg);
	op->req = NULL;
	op_done(op);
}

void gw_admin__op_answer_hdrs(struct gw_admin__op *op, int status, cJSON *body, const char *hdrs)
{
	gw_admin__send_json_hdrs(op->req, status, body, hdrs);
	op->req = NULL;
	op_done(op);
}

static void retry_cb(uv_timer_t *t)
{
	struct gw_admin__op *op = t->data;

	op->waiting = false;
	if (op->method == GW_ADMIN__M_DELETE) {
		gw_admin__op_delete(op);
	} else {
		gw_admin__op_write(op);
	}
}

/* Another writer changed what we read: try again after a short jittered
 * pause (lets a lagging local store catch up and spreads racing writers). */
static void op_retry(struct gw_admin__op *op)
{
	unsigned delay;

	if (op->a->stopping) {
		gw_admin__op_fail(op, GW_ESHUTDOWN, NULL);
		return;
	}
	if (++op->attempts >= MAX_ATTEMPTS) {
		gw_admin__op_fail(op, GW_EBUSY,
				  "value changed before overwritten, too many concurrent writers");
		return;
	}
	if (!op->timer_init) {
		uv_timer_init(op->a->loop, &op->timer);
		op->timer.data = op;
		op->timer_init = true;
	}
	/* jitter, not a secret: the server's xorshift (lib/rand.h) */
	delay = 1 + (unsigned)(gw_rand_xs_next(&op->a->jitter) %
			       (2 + 2 * (unsigned)(op->attempts < 8 ? op->attempts : 8)));
	op->waiting = true;
	uv_timer_start(&op->timer, retry_cb, delay, 0);
}

void gw_admin__ops_stop(struct gw_admin *a)
{
	struct gw_list *it, *tmp;

	gw_list_foreach_safe(it, tmp, &a->ops)
	{
		struct gw_admin__op *op = gw_container_of(it, struct gw_admin__op, link);

		if (op->waiting) {
			uv_timer_stop(&op->timer);
			op->waiting = false;
			if (op->reply != NULL) {
				gw_admin__served_stop(op); /* committed: say so */
			} else {
				gw_admin__op_fail(op, GW_ESHUTDOWN, NULL);
			}
		}
	}
}

/* The error of a proposal's answer: @err, else the result's own. */
static int result_err(int err, struct gw_store_result *res)
{
	if (err == 0 && res->err != 0) {
		err = res->err;
	}
	if (err != 0 && res != NULL) {
		gw_store_result_free(res);
	}
	return err;
}

/* ---- writes ------------------------------------------------------------ */

static void lease_cb(void *data, int err, struct gw_store_result *res)
{
	struct gw_admin__op *op = data;

	err = result_err(err, res);
	if (err != 0) {
		gw_admin__op_fail(op, err, NULL);
		return;
	}
	op->lease = res->lease_id;
	gw_store_result_free(res);
	gw_admin__op_write(op);
}

static void put_cb(void *data, int err, struct gw_store_result *res)
{
	struct gw_admin__op *op = data;
	char msg[512];
	cJSON *o;
	size_t i;
	int status;
	int64_t rev;

	err = result_err(err, res);
	if (err != 0) {
		gw_admin__op_fail(op, err, NULL);
		return;
	}
	if (!res->succeeded) {
		/* failure branch: one range per reference, in order */
		for (i = 0; i < res->n_responses && i < (size_t)op->n_refs; i++) {
			if (res->responses[i].range.count == 0) {
				snprintf(msg, sizeof(msg),
					 "failed to fetch %s [%s], response code: 404",
					 op->refs[i].what, op->refs[i].id);
				gw_store_result_free(res);
				gw_admin__op_fail(op, GW_EINVAL, msg);
				return;
			}
		}
		gw_store_result_free(res);
		op_retry(op); /* PUT, POST and PATCH all compare their own key */
		return;
	}
	rev = res->revision;
	gw_store_result_free(res);
	status = op->method == GW_ADMIN__M_POST ? 201 : (op->existed ? 200 : 201);
	if (op->method == GW_ADMIN__M_PATCH) {
		status = 200;
	}
	o = cJSON_CreateObject();
	if (o != NULL) {
		cJSON_AddStringToObject(o, "key", op->key);
		cJSON_AddItemToObject(o, "value", op->value);
		op->value = NULL;
	}
	gw_admin__op_reply(op, status, o, rev);
}

/* Add a reference to the key @prefix<id> if not there yet. */
static void add_ref(struct gw_admin__op *op, const struct reference *ref, const char *prefix,
		    const char *id)
{
	struct gw_admin__ref_key *r;
	int j;

	if (op->n_refs >= MAX_REFS) {
		return;
	}
	r = &op->refs[op->n_refs];
	gw_admin__copy_str(r->id, sizeof(r->id), id);
	gw_admin__copy_str(r->key, sizeof(r->key), prefix);
	gw_admin__copy_str(r->key + strlen(r->key), sizeof(r->key) - strlen(r->key), r->id);
	r->what = ref->what;
	for (j = 0; j < op->n_refs; j++) {
		if (strcmp(op->refs[j].key, r->key) == 0) {
			return;
		}
	}
	op->n_refs++;
}

/* The upstream_ids of traffic-split's weighted_upstreams in @v's plugins:
 * the proxy skips an object naming one that does not exist (the dry run's
 * compile says so), so the write must refuse it. Beyond MAX_REFS refs they
 * are not checked. */
static void traffic_split_refs(struct gw_admin__op *op, const cJSON *v)
{
	static const struct reference ts_ref = {"", "upstream_id", "/apisix/upstreams/",
						"upstream info by upstream id"};
	const cJSON *ts = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(v, "plugins"), "traffic-split");
	const cJSON *rule, *wu;
	char id[160];

	cJSON_ArrayForEach(rule, cJSON_GetObjectItemCaseSensitive(ts, "rules"))
	{
		cJSON_ArrayForEach(wu, cJSON_GetObjectItemCaseSensitive(rule, "weighted_upstreams"))
		{
			if (gw_admin__field_id(wu, "upstream_id", id, sizeof(id))) {
				add_ref(op, &ts_ref, ts_ref.prefix, id);
			}
		}
	}
}

/* Collect the references of @v (keys that must exist). */
static void collect_refs(struct gw_admin__op *op, const cJSON *v)
{
	static const struct reference consumer_ref = {"credentials", "", "/apisix/consumers/",
						      "consumer info by username"};
	char id[160];
	size_t i;

	op->n_refs = 0;
	if (gw_admin__is(op->res, "credentials")) {
		/* the consumer must exist: key is /apisix/consumers/<user>/credentials/<id> */
		const char *slash = strchr(op->id, '/');
		size_t ul = slash ? (size_t)(slash - op->id) : strlen(op->id);

		snprintf(id, sizeof(id), "%.*s", (int)(ul < 79 ? ul : 79), op->id);
		add_ref(op, &consumer_ref, "/apisix/consumers/", id);
	}
	for (i = 0; i < sizeof(references) / sizeof(references[0]); i++) {
		if (gw_admin__is(op->res, references[i].source) &&
		    gw_admin__field_id(v, references[i].field, id, sizeof(id))) {
			add_ref(op, &references[i], references[i].prefix, id);
		}
	}
	traffic_split_refs(op, v);
}

size_t gw_admin__refs_of(const struct gw_admin__resource *res, const cJSON *v,
			 char (*keys)[GW_ADMIN__MAX_KEY], size_t n)
{
	char id[160];
	size_t i, k = 0;

	const cJSON *rule, *wu;

	for (i = 0; i < sizeof(references) / sizeof(references[0]) && k < n; i++) {
		if (gw_admin__is(res, references[i].source) &&
		    gw_admin__field_id(v, references[i].field, id, sizeof(id))) {
			snprintf(keys[k++], GW_ADMIN__MAX_KEY, "%s%s", references[i].prefix, id);
		}
	}
	/* traffic-split's upstreams, as traffic_split_refs */
	cJSON_ArrayForEach(rule,
			   cJSON_GetObjectItemCaseSensitive(
			       cJSON_GetObjectItemCaseSensitive(
				   cJSON_GetObjectItemCaseSensitive(v, "plugins"), "traffic-split"),
			       "rules"))
	{
		cJSON_ArrayForEach(wu, cJSON_GetObjectItemCaseSensitive(rule, "weighted_upstreams"))
		{
			if (k < n && gw_admin__field_id(wu, "upstream_id", id, sizeof(id))) {
				snprintf(keys[k++], GW_ADMIN__MAX_KEY, "/apisix/upstreams/%s", id);
			}
		}
	}
	return k;
}

/* A write with ?ttl= grants its lease first (lease_cb comes back here).
 * True when that is under way (or answered). */
static bool lease_first(struct gw_admin__op *op)
{
	struct gw_store_op txn;
	int rv;

	if (op->ttl == 0 || op->lease != 0 || op->dry_run) {
		return false; /* a dry run grants nothing */
	}
	memset(&txn, 0, sizeof(txn));
	txn.type = GW_OP_LEASE_GRANT;
	txn.u.lease_grant.ttl = op->ttl;
	rv = gw_raft_propose(op->a->raft, &txn, op->a->write_timeout_ms, lease_cb, op);
	if (rv != 0) {
		gw_admin__op_fail(op, rv, NULL);
	}
	return true;
}

/* POST: the next id (the store revision, zero-padded, never reused). */
static void post_id(struct gw_admin__op *op)
{
	int64_t rev = gw_store_revision(op->a->store) + 1;

	if (rev <= op->post_rev) {
		rev = op->post_rev + 1;
	}
	op->post_rev = rev;
	snprintf(op->id, sizeof(op->id), "%020" PRId64, rev);
	snprintf(op->key, sizeof(op->key), "%s%s", op->res->prefix, op->id);
}

/* Read the op's key: op->existed, its *mod revision and *create_time, and
 * for PATCH the stored object in *cur (caller owns). 0 or a store error. */
static int read_current(struct gw_admin__op *op, int64_t *mod, int64_t *create_time, cJSON **cur)
{
	struct gw_range_resp rs;
	const cJSON *ct;
	cJSON *x;
	bool found;
	int rv;

	*cur = NULL;
	memset(&rs, 0, sizeof(rs));
	rv = gw_admin__read_key(op->a, op->key, &rs, &found);
	if (rv != 0) {
		return rv;
	}
	op->existed = found;
	if (found) {
		*mod = rs.kvs[0].mod_revision;
		x = cJSON_ParseWithLength(rs.kvs[0].value, rs.kvs[0].value_len);
		ct = cJSON_IsObject(x) ? cJSON_GetObjectItemCaseSensitive(x, "create_time") : NULL;
		if (cJSON_IsNumber(ct)) {
			*create_time = gw_json_int(ct, 0, INT64_MAX, 0);
		}
		if (op->method == GW_ADMIN__M_PATCH) {
			*cur = x;
			x = NULL;
		}
		cJSON_Delete(x);
	}
	gw_store_range_resp_free(&rs);
	return 0;
}

/* The value the op writes, before ids and times: the body, or the stored
 * object @cur (taken) patched. NULL when answered. */
static cJSON *patched_value(struct gw_admin__op *op, cJSON *cur)
{
	cJSON *x, *v;
	int rv;

	if (op->method != GW_ADMIN__M_PATCH) {
		v = cJSON_Duplicate(op->body, true);
	} else if (cur == NULL) {
		gw_admin__op_fail(op, GW_ENOTFOUND, NULL);
		return NULL;
	} else if (!cJSON_IsObject(cur)) {
		cJSON_Delete(cur);
		gw_admin__op_fail(op, GW_EINVAL, "the stored value is not a JSON object");
		return NULL;
	} else if (op->sub[0] != '\0') {
		x = cJSON_Duplicate(op->body, true);
		rv = x ? gw_admin__set_path(cur, op->sub, x) : GW_ENOMEM;
		if (rv != 0) {
			cJSON_Delete(x);
			cJSON_Delete(cur);
			gw_admin__op_fail(op, rv, rv == GW_EINVAL ? "invalid sub path" : NULL);
			return NULL;
		}
		v = cur;
	} else {
		v = gw_admin__merge(cur, op->body);
	}
	if (v == NULL) {
		gw_admin__op_fail(op, GW_ENOMEM, NULL);
	}
	return v;
}

/* Inject the id, validate, set the times: the value to store. false when
 * answered (@v freed). */
static bool finish_value(struct gw_admin__op *op, cJSON *v, int64_t create_time)
{
	char msg[1024];
	int64_t now;
	int rv;

	if (op->res->flags & GW_ADMIN__F_ID) {
		cJSON_DeleteItemFromObjectCaseSensitive(v, "id");
		if (gw_admin__is(op->res, "credentials")) {
			cJSON_AddStringToObject(v, "id", strrchr(op->id, '/') + 1);
		} else {
			cJSON_AddStringToObject(v, "id", op->id);
		}
	}
	if (op->res->flags & GW_ADMIN__F_TIMES) {
		cJSON_DeleteItemFromObjectCaseSensitive(v, "create_time");
		cJSON_DeleteItemFromObjectCaseSensitive(v, "update_time");
	}
	if (gw_admin__check_object(op->res, v, msg, sizeof(msg)) != 0 ||
	    (gw_admin__is(op->res, "plugin_metadata") &&
	     gw_schema_check_metadata(op->id, v, msg, sizeof(msg)) != 0) ||
	    gw_admin__check_credentials(op, v, msg, sizeof(msg)) != 0) {
		cJSON_Delete(v);
		gw_admin__op_fail(op, GW_EINVAL, msg);
		return false;
	}
	if ((gw_admin__is(op->res, "ssls") &&
	     (rv = gw_admin__ssl_seal(v, msg, sizeof(msg))) != 0) ||
	    (rv = gw_admin__consumer_seal(op, v, msg, sizeof(msg))) != 0) {
		cJSON_Delete(v);
		gw_admin__op_fail(op, rv, msg);
		return false;
	}
	if (op->res->flags & GW_ADMIN__F_TIMES) {
		now = (int64_t)time(NULL);
		cJSON_AddNumberToObject(v, "create_time",
					(double)(create_time ? create_time : now));
		cJSON_AddNumberToObject(v, "update_time", (double)now);
	}
	return true;
}

/* Propose the TXN that puts @txt at op->key if it is still at @mod (or
 * absent when !op->existed) and every reference exists. */
/* Build op->audit, the record proposed with the op's write. 0, or the op
 * is answered (out of memory). */
static int op_audit(struct gw_admin__op *op)
{
	int rv;

	gw_admin__audit_free(&op->audit);
	rv = gw_admin__audit_make(op->a, op->req, op->req->method, op->res, op->id, op->key, NULL,
				  &op->audit);
	if (rv != 0) {
		gw_admin__op_fail(op, rv, NULL);
	}
	return rv;
}

static void propose_put(struct gw_admin__op *op, const char *txt, int64_t mod)
{
	struct gw_compare cmps[MAX_REFS + 1];
	struct gw_store_op fails[MAX_REFS];
	struct gw_store_op put[3], txn;
	int i, rv;

	if (op_audit(op) != 0) {
		return;
	}
	memset(cmps, 0, sizeof(cmps));
	memset(fails, 0, sizeof(fails));
	memset(put, 0, sizeof(put));
	memset(&txn, 0, sizeof(txn));
	cmps[0].key = op->key;
	cmps[0].key_len = strlen(op->key);
	cmps[0].target = op->existed ? GW_CMP_MOD : GW_CMP_CREATE;
	cmps[0].result = GW_CMP_EQUAL;
	cmps[0].number = op->existed ? mod : 0;
	for (i = 0; i < op->n_refs; i++) {
		cmps[i + 1].target = GW_CMP_CREATE;
		cmps[i + 1].result = GW_CMP_GREATER;
		cmps[i + 1].number = 0;
		cmps[i + 1].key = op->refs[i].key;
		cmps[i + 1].key_len = strlen(op->refs[i].key);
		fails[i].type = GW_OP_RANGE;
		fails[i].u.range.key = op->refs[i].key;
		fails[i].u.range.key_len = strlen(op->refs[i].key);
		fails[i].u.range.count_only = true;
	}
	put[0].type = GW_OP_PUT;
	put[0].u.put.key = op->key;
	put[0].u.put.key_len = strlen(op->key);
	put[0].u.put.value = txt;
	put[0].u.put.value_len = strlen(txt);
	put[0].u.put.lease = op->lease;
	/* a PATCH without ?ttl= keeps the object's lease (its TTL) */
	put[0].u.put.ignore_lease = op->method == GW_ADMIN__M_PATCH && op->ttl == 0;
	txn.type = GW_OP_TXN;
	txn.u.txn.compares = cmps;
	txn.u.txn.n_compares = (size_t)op->n_refs + 1;
	txn.u.txn.success = put;
	txn.u.txn.n_success = 1 + gw_admin__audit_ops(&op->audit, &put[1]);
	txn.u.txn.failure = fails;
	txn.u.txn.n_failure = (size_t)op->n_refs;
	rv = gw_raft_propose(op->a->raft, &txn, op->a->write_timeout_ms, put_cb, op);
	if (rv != 0) {
		gw_admin__op_fail(op, rv, NULL);
	}
}

void gw_admin__op_write(struct gw_admin__op *op)
{
	int64_t create_time = 0, mod = 0;
	cJSON *cur, *v;
	char *txt;
	int rv;

	if (lease_first(op)) {
		return;
	}
	if (op->method == GW_ADMIN__M_POST) {
		post_id(op);
	}
	rv = read_current(op, &mod, &create_time, &cur);
	if (rv != 0) {
		gw_admin__op_fail(op, rv, NULL);
		return;
	}
	v = patched_value(op, cur);
	if (v == NULL || !finish_value(op, v, create_time)) {
		return;
	}
	collect_refs(op, v);
	txt = cJSON_PrintUnformatted(v);
	if (txt == NULL) {
		cJSON_Delete(v);
		gw_admin__op_fail(op, GW_ENOMEM, NULL);
		return;
	}
	cJSON_Delete(op->value);
	op->value = v;
	if (op->dry_run) {
		gw_admin__dry_run(op, txt); /* validated: show, commit nothing */
	} else {
		propose_put(op, txt, mod);
	}
	free(txt);
}

/* ---- deletes ----------------------------------------------------------- */

static void delete_cb(void *data, int err, struct gw_store_result *res)
{
	struct gw_admin__op *op = data;
	cJSON *o;
	int64_t deleted = 0, rev;

	err = result_err(err, res);
	if (err != 0) {
		gw_admin__op_fail(op, err, NULL);
		return;
	}
	if (!res->succeeded) {
		gw_store_result_free(res);
		op_retry(op);
		return;
	}
	if (res->n_responses > 0) {
		deleted = res->responses[0].deleted;
	}
	rev = res->revision;
	gw_store_result_free(res);
	if (deleted == 0) {
		gw_admin__op_fail(op, GW_ENOTFOUND, NULL);
		return;
	}
	o = cJSON_CreateObject();
	if (o != NULL) {
		cJSON_AddStringToObject(o, "deleted", "1");
		cJSON_AddStringToObject(o, "key", op->key);
	}
	gw_admin__op_reply(op, 200, o, rev);
}

/* Scan @d's prefix for objects referencing op->id. 0 (nothing; *rev set to
 * the revision seen), GW_EINVAL with @msg, or a store error. */
static int scan_dependent(struct gw_admin__op *op, const struct dependent *d, int64_t *rev,
			  char *msg, size_t n)
{
	struct gw_range_resp rs;
	char id[160];
	size_t i, plen = strlen(d->prefix);
	cJSON *v;
	int rv = gw_admin__read_prefix(op->a, d->prefix, &rs);

	if (rv != 0) {
		return rv;
	}
	*rev = rs.revision;
	for (i = 0; i < rs.n_kvs && rv == 0; i++) {
		v = cJSON_ParseWithLength(rs.kvs[i].value, rs.kvs[i].value_len);
		if (gw_admin__field_id(v, d->field, id, sizeof(id)) && strcmp(id, op->id) == 0) {
			snprintf(msg, n, "%s, %s [%.*s] is still using it now", d->message,
				 d->by_type, (int)(rs.kvs[i].key_len - plen), rs.kvs[i].key + plen);
			rv = GW_EINVAL;
		}
		cJSON_Delete(v);
	}
	gw_store_range_resp_free(&rs);
	return rv;
}

/* Compares that no key under a dependent prefix of the op's resource
 * changed since the scan that found no reference: @cmps gets them (with
 * their range ends in @ends), *nc their count. 0, or the op is answered. */
static int dependents_unchanged(struct gw_admin__op *op, struct gw_compare *cmps,
				char (*ends)[MAX_KEY], size_t *nc)
{
	char msg[512];
	int64_t rev;
	size_t i;
	int rv;

	for (i = 0; i < sizeof(dependents) / sizeof(dependents[0]) && !op->force; i++) {
		const struct dependent *d = &dependents[i];

		if (!gw_admin__is(op->res, d->target)) {
			continue;
		}
		rv = scan_dependent(op, d, &rev, msg, sizeof(msg));
		if (rv != 0) {
			gw_admin__op_fail(op, rv, rv == GW_EINVAL ? msg : NULL);
			return rv;
		}
		gw_admin__prefix_end(d->prefix, ends[*nc], MAX_KEY);
		cmps[*nc].target = GW_CMP_MOD;
		cmps[*nc].result = GW_CMP_LESS;
		cmps[*nc].number = rev + 1;
		cmps[*nc].key = d->prefix;
		cmps[*nc].key_len = strlen(d->prefix);
		cmps[*nc].range_end = ends[*nc];
		cmps[*nc].range_end_len = strlen(ends[*nc]);
		(*nc)++;
	}
	return 0;
}

void gw_admin__op_delete(struct gw_admin__op *op)
{
	struct gw_compare cmps[8];
	char ends[8][MAX_KEY];
	char sub_key[MAX_KEY], sub_end[MAX_KEY];
	struct gw_store_op dels[4], txn;
	size_t nc = 0;
	int rv;

	memset(cmps, 0, sizeof(cmps));
	if (dependents_unchanged(op, cmps, ends, &nc) != 0) {
		return;
	}
	if (op->dry_run) {
		gw_admin__dry_run(op, NULL);
		return;
	}
	if (gw_admin__delete_compiles(op, gw_admin__op_delete)) {
		return; /* back here once the config compiles without it */
	}
	if (op_audit(op) != 0) {
		return;
	}
	memset(dels, 0, sizeof(dels));
	memset(&txn, 0, sizeof(txn));
	dels[0].type = GW_OP_DELETE;
	dels[0].u.del.key = op->key;
	dels[0].u.del.key_len = strlen(op->key);
	txn.u.txn.n_success = 1;
	if (gw_admin__is(op->res, "consumers")) {
		/* a consumer's credentials go with it */
		gw_admin__copy_str(sub_key, sizeof(sub_key) - 1, op->key);
		strcat(sub_key, "/");
		gw_admin__prefix_end(sub_key, sub_end, sizeof(sub_end));
		dels[1].type = GW_OP_DELETE;
		dels[1].u.del.key = sub_key;
		dels[1].u.del.key_len = strlen(sub_key);
		dels[1].u.del.range_end = sub_end;
		dels[1].u.del.range_end_len = strlen(sub_end);
		txn.u.txn.n_success = 2;
	}
	txn.u.txn.n_success += gw_admin__audit_ops(&op->audit, &dels[txn.u.txn.n_success]);
	txn.type = GW_OP_TXN;
	txn.u.txn.compares = cmps;
	txn.u.txn.n_compares = nc;
	txn.u.txn.success = dels;
	rv = gw_raft_propose(op->a->raft, &txn, op->a->write_timeout_ms, delete_cb, op);
	if (rv != 0) {
		gw_admin__op_fail(op, rv, NULL);
	}
}
