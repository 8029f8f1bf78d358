/* apisix.c: the APISIX-compatible Admin API over the replicated store.
 *
 * Happy path of a write (PUT/POST/PATCH): authenticate, parse the body,
 * read the current object from the local store, build the new value
 * (PATCH: deep merge or sub-path replace; create_time kept, update_time
 * set, id injected), validate it with APISIX's schemas and the plugin
 * catalogue, then propose ONE store TXN:
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
 * Reads (GET) are serializable local reads (gw_store_range): they answer
 * during quorum loss, which is the product's promise; they may lag the
 * leader by the replication delay.
 *
 * Failure modes: bad input -> 4xx in APISIX's shapes, nothing proposed;
 * raft errors (no leader, deadline, leadership lost, shutting down) -> 503
 * {"error_msg": etcd's wording}; store business errors -> 400. The mapping
 * of error codes to HTTP statuses is status_of() alone.
 *
 * Threads: all on the loop of gw_admin_start (the control loop). */
#include "config.h"

#include "admin/apisix.h"
#include "admin/apisix_int.h"
#include "lib/err.h"
#include "lib/httpd.h"
#include "lib/log.h"
#include "raft/raft.h"
#include "store/store.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PREFIX       "/apisix/admin"
#define MAX_KEY      512
#define MAX_ATTEMPTS 64 /* compare-and-swap retries of one request */
#define MAX_NESTING  64 /* JSON nesting accepted in a body */
#define MAX_CIDRS    32
#define MAX_REFS     4
#define JSON_CT      "application/json"
#define HDRS         "X-API-VERSION: v3\r\n"

enum {
	M_GET = 1,
	M_PUT = 2,
	M_POST = 4,
	M_DELETE = 8,
	M_PATCH = 16,
};

enum {
	F_ID = 1,    /* the stored value carries "id" */
	F_TIMES = 2, /* create_time/update_time are injected */
};

struct resource {
	const char *name;   /* URL segment */
	const char *type;   /* singular, for messages */
	const char *prefix; /* store key prefix */
	const char *schema;
	unsigned methods;
	unsigned flags;
};

static const struct resource resources[] = {
    {"routes", "route", "/apisix/routes/", "route", M_GET | M_PUT | M_POST | M_DELETE | M_PATCH,
     F_ID | F_TIMES},
    {"services", "service", "/apisix/services/", "service",
     M_GET | M_PUT | M_POST | M_DELETE | M_PATCH, F_ID | F_TIMES},
    {"upstreams", "upstream", "/apisix/upstreams/", "upstream",
     M_GET | M_PUT | M_POST | M_DELETE | M_PATCH, F_ID | F_TIMES},
    {"ssls", "ssl", "/apisix/ssls/", "ssl", M_GET | M_PUT | M_POST | M_DELETE | M_PATCH,
     F_ID | F_TIMES},
    {"consumers", "consumer", "/apisix/consumers/", "consumer", M_GET | M_PUT | M_DELETE, F_TIMES},
    {"credentials", "credential", "/apisix/consumers/", "credential", M_GET | M_PUT | M_DELETE,
     F_ID | F_TIMES},
    {"global_rules", "global_rule", "/apisix/global_rules/", "global_rule",
     M_GET | M_PUT | M_DELETE | M_PATCH, F_ID | F_TIMES},
    {"plugin_configs", "plugin_config", "/apisix/plugin_configs/", "plugin_config",
     M_GET | M_PUT | M_DELETE | M_PATCH, F_ID | F_TIMES},
    {"consumer_groups", "consumer_group", "/apisix/consumer_groups/", "consumer_group",
     M_GET | M_PUT | M_DELETE | M_PATCH, F_ID | F_TIMES},
    {"plugin_metadata", "plugin_metadata", "/apisix/plugin_metadata/", "plugin_metadata",
     M_GET | M_PUT | M_DELETE, 0},
    {"stream_routes", "stream_route", "/apisix/stream_routes/", "stream_route",
     M_GET | M_PUT | M_POST | M_DELETE, F_ID | F_TIMES},
    {"protos", "proto", "/apisix/protos/", "proto", M_GET | M_PUT | M_POST | M_DELETE,
     F_ID | F_TIMES},
    {"secrets", "secret", "/apisix/secrets/", "secret", M_GET | M_PUT | M_DELETE | M_PATCH, F_ID},
};

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

struct cidr {
	int family;
	unsigned char addr[16];
	int bits;
};

struct gw_admin {
	uv_loop_t *loop;
	struct gw_httpd *httpd;
	struct gw_store *store;
	struct gw_raft *raft;
	char admin_key[256]; /* "" until adopted from the cluster */
	char viewer_key[256];
	char data_dir[4096];  /* where an adopted key is saved */
	bool publish_key;     /* publish admin_key while the cluster has none */
	bool pub_inflight;    /* a publishing proposal is in raft */
	uv_timer_t pub_timer; /* retries publishing every second */
	bool httpd_done;      /* the listener has stopped */
	bool timer_done;      /* pub_timer is closed */
	struct cidr cidrs[MAX_CIDRS];
	int n_cidrs;
	unsigned write_timeout_ms;
	struct op *ops; /* live write requests */
	int n_ops;
	bool stopping;
	bool stopped; /* listener and timer closed, stop callback ran */
	void (*stop_cb)(void *);
	void *stop_data;
};

struct ref_key {
	char key[MAX_KEY];
	char id[80];
	const struct reference *ref;
};

/* One write request from parsing to its answer. */
struct op {
	struct gw_admin *a;
	struct gw_http_req *req; /* NULL once answered */
	const struct resource *res;
	unsigned method;
	char id[160];
	char key[MAX_KEY];
	char sub[256]; /* PATCH sub-path, or "" */
	cJSON *body;   /* parsed request body */
	bool force;
	int64_t ttl;   /* ?ttl=, 0 = none */
	int64_t lease; /* granted lease */
	int attempts;
	int64_t post_rev; /* last id tried by POST */
	bool existed;     /* the key existed at the read */
	cJSON *value;     /* value proposed */
	struct ref_key refs[MAX_REFS];
	int n_refs;
	uv_timer_t timer;
	bool timer_init;
	bool waiting; /* backoff timer running */
	struct op *prev, *next;
};

static void write_attempt(struct op *op);
static void maybe_stopped(struct gw_admin *a);
static void delete_attempt(struct op *op);

/* ---- answers ----------------------------------------------------------- */

/* The one mapping from error codes to HTTP statuses. */
static int status_of(int err)
{
	switch (err) {
	case 0:
		return 200;
	case GW_EINVAL:
	case GW_EKEYEMPTY:
	case GW_EKEYTOOLARGE:
	case GW_EVALUETOOLARGE:
	case GW_EDUPKEY:
	case GW_ETOOMANYOPS:
	case GW_ELEASENOTFOUND:
	case GW_ELEASETTL:
	case GW_ECOMPACTED:
	case GW_EFUTUREREV:
		return 400;
	case GW_EPERM:
		return 401;
	case GW_ENOTFOUND:
		return 404;
	case GW_EBUSY:
		return 409;
	case GW_ELIMIT:
		return 413;
	case GW_ENOLEADER:
	case GW_ETIMEOUT:
	case GW_ELEADERCHANGED:
	case GW_ENOTLEADER:
	case GW_EUNHEALTHY:
	case GW_ESHUTDOWN:
	case GW_EIO:
	case GW_ENOSPACE:
		return 503;
	default:
		return 500;
	}
}

static void send_json(struct gw_http_req *req, int status, cJSON *body)
{
	char *txt = body ? cJSON_PrintUnformatted(body) : NULL;

	if (txt == NULL) {
		static const char oom[] = "{\"error_msg\":\"out of memory\"}";
		gw_http_respond(req, 500, JSON_CT, HDRS, oom, sizeof(oom) - 1);
	} else {
		gw_http_respond(req, status, JSON_CT, HDRS, txt, strlen(txt));
	}
	free(txt);
	cJSON_Delete(body);
}

/* {"error_msg": msg} with an explicit status (routing decisions: 401, 403,
 * 405, 415 ... that are not error codes of the stores). */
static void send_msg(struct gw_http_req *req, int status, const char *msg)
{
	cJSON *o = cJSON_CreateObject();

	if (o != NULL) {
		cJSON_AddStringToObject(o, "error_msg", msg);
	}
	send_json(req, status, o);
}

/* Error by code: 404 gets APISIX's {"message":"Key not found"}. */
static void send_err(struct gw_http_req *req, int err, const char *msg)
{
	int status = status_of(err);
	cJSON *o;

	if (status == 404 && msg == NULL) {
		o = cJSON_CreateObject();
		if (o != NULL) {
			cJSON_AddStringToObject(o, "message", "Key not found");
		}
		send_json(req, 404, o);
		return;
	}
	send_msg(req, status, msg ? msg : gw_strerror(err));
}

/* ---- op life cycle ----------------------------------------------------- */

static void admin_maybe_free(struct gw_admin *a)
{
	if (a->stopped && a->n_ops == 0 && a->stop_cb == NULL) {
		free(a);
	}
}

static void op_free(struct op *op)
{
	struct gw_admin *a = op->a;

	if (op->prev) {
		op->prev->next = op->next;
	} else {
		a->ops = op->next;
	}
	if (op->next) {
		op->next->prev = op->prev;
	}
	a->n_ops--;
	cJSON_Delete(op->body);
	cJSON_Delete(op->value);
	free(op);
	admin_maybe_free(a);
}

static void op_timer_closed(uv_handle_t *h)
{
	op_free(h->data);
}

/* The request has been answered (or must be dropped): release the op. */
static void op_done(struct op *op)
{
	if (op->timer_init) {
		uv_close((uv_handle_t *)&op->timer, op_timer_closed);
	} else {
		op_free(op);
	}
}

static void op_fail(struct op *op, int err, const char *msg)
{
	send_err(op->req, err, msg);
	op->req = NULL;
	op_done(op);
}

static void op_fail_msg(struct op *op, int status, const char *msg)
{
	send_msg(op->req, status, msg);
	op->req = NULL;
	op_done(op);
}

static void retry_cb(uv_timer_t *t)
{
	struct op *op = t->data;

	op->waiting = false;
	if (op->method == M_DELETE) {
		delete_attempt(op);
	} else {
		write_attempt(op);
	}
}

/* Another writer changed what we read: try again after a short jittered
 * pause (lets a lagging local store catch up and spreads racing writers). */
static void op_retry(struct op *op)
{
	unsigned delay;

	if (op->a->stopping) {
		op_fail(op, GW_ESHUTDOWN, NULL);
		return;
	}
	if (++op->attempts >= MAX_ATTEMPTS) {
		op_fail_msg(op, 409,
			    "value changed before overwritten, too many concurrent writers");
		return;
	}
	if (!op->timer_init) {
		uv_timer_init(op->a->loop, &op->timer);
		op->timer.data = op;
		op->timer_init = true;
	}
	delay = 1 + (unsigned)(rand() % (2 + 2 * (op->attempts < 8 ? op->attempts : 8)));
	op->waiting = true;
	uv_timer_start(&op->timer, retry_cb, delay, 0);
}

/* ---- store helpers ----------------------------------------------------- */

/* Read one key. 0 with *found set, or a store error. */
static int read_key(struct gw_admin *a, const char *key, struct gw_range_resp *out, bool *found)
{
	struct gw_range_req rq;
	int rv;

	memset(&rq, 0, sizeof(rq));
	rq.key = key;
	rq.key_len = strlen(key);
	rq.serializable = true;
	rv = gw_store_range(a->store, &rq, out);
	*found = rv == 0 && out->n_kvs > 0;
	return rv;
}

static void prefix_end(const char *prefix, char *end, size_t n)
{
	size_t len = strlen(prefix);

	snprintf(end, n, "%s", prefix);
	if (len > 0 && len < n) {
		end[len - 1]++;
	}
}

static cJSON *parse_value(const struct gw_kv *kv)
{
	cJSON *v = cJSON_ParseWithLength(kv->value, kv->value_len);

	if (v == NULL) { /* not JSON (written through etcd): show it as a string */
		char *s = strndup(kv->value ? kv->value : "", kv->value_len);
		v = cJSON_CreateString(s ? s : "");
		free(s);
	}
	return v;
}

/* The id an object gives in @field: a string, or an integer printed. */
static bool field_id(const cJSON *obj, const char *field, char *out, size_t n)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(obj, field);

	if (cJSON_IsString(x)) {
		snprintf(out, n, "%s", x->valuestring);
		return true;
	}
	if (cJSON_IsNumber(x)) {
		snprintf(out, n, "%.0f", x->valuedouble);
		return true;
	}
	return false;
}

/* Copy a string, truncating to fit (snprintf "%s" without the
 * format-truncation warnings of fixed buffers). */
static void copy_str(char *dst, size_t n, const char *src)
{
	size_t l = strlen(src);

	if (l >= n) {
		l = n - 1;
	}
	memcpy(dst, src, l);
	dst[l] = '\0';
}

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

/* ---- writes ------------------------------------------------------------ */

static void lease_cb(void *data, int err, struct gw_store_result *res)
{
	struct op *op = data;

	if (err == 0 && res->err != 0) {
		err = res->err;
	}
	if (err != 0) {
		if (res) {
			gw_store_result_free(res);
		}
		op_fail(op, err, NULL);
		return;
	}
	op->lease = res->lease_id;
	gw_store_result_free(res);
	write_attempt(op);
}

static void put_cb(void *data, int err, struct gw_store_result *res)
{
	struct op *op = data;
	char msg[512];
	cJSON *o;
	size_t i;
	int status;

	if (err == 0 && res->err != 0) {
		err = res->err;
	}
	if (err != 0) {
		if (res) {
			gw_store_result_free(res);
		}
		op_fail(op, err, NULL);
		return;
	}
	if (!res->succeeded) {
		/* failure branch: one range per reference, in order */
		for (i = 0; i < res->n_responses && i < (size_t)op->n_refs; i++) {
			if (res->responses[i].range.count == 0) {
				snprintf(msg, sizeof(msg),
					 "failed to fetch %s [%s], response code: 404",
					 op->refs[i].ref->what, op->refs[i].id);
				gw_store_result_free(res);
				op_fail(op, GW_EINVAL, msg);
				return;
			}
		}
		gw_store_result_free(res);
		if (op->method == M_PATCH || op->method == M_POST || op->method == M_PUT) {
			op_retry(op);
			return;
		}
	}
	gw_store_result_free(res);
	status = op->method == M_POST ? 201 : (op->existed ? 200 : 201);
	if (op->method == M_PATCH) {
		status = 200;
	}
	o = cJSON_CreateObject();
	if (o != NULL) {
		cJSON_AddStringToObject(o, "key", op->key);
		cJSON_AddItemToObject(o, "value", op->value);
		op->value = NULL;
	}
	send_json(op->req, status, o);
	op->req = NULL;
	op_done(op);
}

/* Validate @v as this resource, APISIX's way. 0 or GW_EINVAL with @msg. */
static int validate(const struct resource *res, const cJSON *v, char *msg, size_t n)
{
	return gw_admin__check(res->schema, v, msg, n);
}

/* Collect the references of @v (keys that must exist). */
static void collect_refs(struct op *op, const cJSON *v)
{
	size_t i;
	int j;

	op->n_refs = 0;
	if (strcmp(op->res->name, "credentials") == 0) {
		/* the consumer must exist: key is /apisix/consumers/<user>/credentials/<id> */
		struct ref_key *r = &op->refs[op->n_refs++];
		static const struct reference consumer_ref = {
		    "credentials", "", "/apisix/consumers/", "consumer info by username"};
		const char *slash = strchr(op->id, '/');
		size_t ul = slash ? (size_t)(slash - op->id) : strlen(op->id);

		snprintf(r->id, sizeof(r->id), "%.*s", (int)ul, op->id);
		snprintf(r->key, sizeof(r->key), "/apisix/consumers/%s", r->id);
		r->ref = &consumer_ref;
	}
	for (i = 0; i < sizeof(references) / sizeof(references[0]); i++) {
		struct ref_key *r;

		if (strcmp(references[i].source, op->res->name) != 0 || op->n_refs >= MAX_REFS) {
			continue;
		}
		r = &op->refs[op->n_refs];
		if (!field_id(v, references[i].field, r->id, sizeof(r->id))) {
			continue;
		}
		copy_str(r->key, sizeof(r->key), references[i].prefix);
		copy_str(r->key + strlen(r->key), sizeof(r->key) - strlen(r->key), r->id);
		r->ref = &references[i];
		/* the same key twice in a txn is a duplicate-key error for ranges? no:
		 * only puts/deletes; keep it simple anyway */
		for (j = 0; j < op->n_refs; j++) {
			if (strcmp(op->refs[j].key, r->key) == 0) {
				break;
			}
		}
		if (j == op->n_refs) {
			op->n_refs++;
		}
	}
}

static void write_attempt(struct op *op)
{
	struct gw_admin *a = op->a;
	struct gw_compare cmps[MAX_REFS + 1];
	struct gw_store_op fails[MAX_REFS];
	struct gw_store_op put, txn;
	struct gw_range_resp cur;
	cJSON *v = NULL, *x;
	int64_t create_time = 0, mod = 0;
	char msg[1024], *txt;
	bool found;
	int i, rv;

	if (op->ttl > 0 && op->lease == 0) {
		memset(&txn, 0, sizeof(txn));
		txn.type = GW_OP_LEASE_GRANT;
		txn.u.lease_grant.ttl = op->ttl;
		rv = gw_raft_propose(a->raft, &txn, a->write_timeout_ms, lease_cb, op);
		if (rv != 0) {
			op_fail(op, rv, NULL);
		}
		return;
	}
	if (op->method == M_POST) {
		int64_t rev = gw_store_revision(a->store) + 1;

		if (rev <= op->post_rev) {
			rev = op->post_rev + 1;
		}
		op->post_rev = rev;
		snprintf(op->id, sizeof(op->id), "%020" PRId64, rev);
		snprintf(op->key, sizeof(op->key), "%s%s", op->res->prefix, op->id);
	}

	memset(&cur, 0, sizeof(cur));
	rv = read_key(a, op->key, &cur, &found);
	if (rv != 0) {
		op_fail(op, rv, NULL);
		return;
	}
	op->existed = found;
	if (found) {
		mod = cur.kvs[0].mod_revision;
		x = cJSON_ParseWithLength(cur.kvs[0].value, cur.kvs[0].value_len);
		if (cJSON_IsObject(x)) {
			const cJSON *ct = cJSON_GetObjectItemCaseSensitive(x, "create_time");
			if (cJSON_IsNumber(ct)) {
				create_time = (int64_t)ct->valuedouble;
			}
		}
		if (op->method == M_PATCH) {
			v = x;
			x = NULL;
		}
		cJSON_Delete(x);
	}
	gw_range_resp_free(&cur);

	if (op->method == M_PATCH) {
		if (v == NULL) {
			op_fail(op, GW_ENOTFOUND, NULL);
			return;
		}
		if (!cJSON_IsObject(v)) {
			cJSON_Delete(v);
			op_fail(op, GW_EINVAL, "the stored value is not a JSON object");
			return;
		}
		if (op->sub[0] != '\0') {
			x = cJSON_Duplicate(op->body, true);
			rv = x ? gw_admin__set_path(v, op->sub, x) : GW_ENOMEM;
			if (rv != 0) {
				cJSON_Delete(x);
				cJSON_Delete(v);
				op_fail(op, rv, rv == GW_EINVAL ? "invalid sub path" : NULL);
				return;
			}
		} else {
			v = gw_admin__merge(v, op->body);
			if (v == NULL) {
				op_fail(op, GW_ENOMEM, NULL);
				return;
			}
		}
	} else {
		v = cJSON_Duplicate(op->body, true);
		if (v == NULL) {
			op_fail(op, GW_ENOMEM, NULL);
			return;
		}
	}

	if (op->res->flags & F_ID) {
		cJSON_DeleteItemFromObjectCaseSensitive(v, "id");
		if (strcmp(op->res->name, "credentials") == 0) {
			cJSON_AddStringToObject(v, "id", strrchr(op->id, '/') + 1);
		} else {
			cJSON_AddStringToObject(v, "id", op->id);
		}
	}
	if (op->res->flags & F_TIMES) {
		cJSON_DeleteItemFromObjectCaseSensitive(v, "create_time");
		cJSON_DeleteItemFromObjectCaseSensitive(v, "update_time");
	}
	if (validate(op->res, v, msg, sizeof(msg)) != 0) {
		cJSON_Delete(v);
		op_fail(op, GW_EINVAL, msg);
		return;
	}
	if (op->res->flags & F_TIMES) {
		int64_t now = now_s();
		cJSON_AddNumberToObject(v, "create_time",
					(double)(create_time ? create_time : now));
		cJSON_AddNumberToObject(v, "update_time", (double)now);
	}
	collect_refs(op, v);
	txt = cJSON_PrintUnformatted(v);
	if (txt == NULL) {
		cJSON_Delete(v);
		op_fail(op, GW_ENOMEM, NULL);
		return;
	}

	memset(cmps, 0, sizeof(cmps));
	memset(fails, 0, sizeof(fails));
	memset(&put, 0, sizeof(put));
	memset(&txn, 0, sizeof(txn));
	cmps[0].key = op->key;
	cmps[0].key_len = strlen(op->key);
	if (found) {
		cmps[0].target = GW_CMP_MOD;
		cmps[0].result = GW_CMP_EQUAL;
		cmps[0].number = mod;
	} else {
		cmps[0].target = GW_CMP_CREATE;
		cmps[0].result = GW_CMP_EQUAL;
		cmps[0].number = 0;
	}
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
	put.type = GW_OP_PUT;
	put.u.put.key = op->key;
	put.u.put.key_len = strlen(op->key);
	put.u.put.value = txt;
	put.u.put.value_len = strlen(txt);
	put.u.put.lease = op->lease;
	/* a PATCH without ?ttl= keeps the object's lease (its TTL) */
	put.u.put.ignore_lease = op->method == M_PATCH && op->ttl == 0;
	txn.type = GW_OP_TXN;
	txn.u.txn.compares = cmps;
	txn.u.txn.n_compares = (size_t)op->n_refs + 1;
	txn.u.txn.success = &put;
	txn.u.txn.n_success = 1;
	txn.u.txn.failure = fails;
	txn.u.txn.n_failure = (size_t)op->n_refs;

	cJSON_Delete(op->value);
	op->value = v;
	rv = gw_raft_propose(a->raft, &txn, a->write_timeout_ms, put_cb, op);
	free(txt);
	if (rv != 0) {
		op_fail(op, rv, NULL);
	}
}

/* ---- deletes ----------------------------------------------------------- */

static void delete_cb(void *data, int err, struct gw_store_result *res)
{
	struct op *op = data;
	cJSON *o;
	int64_t deleted = 0;

	if (err == 0 && res->err != 0) {
		err = res->err;
	}
	if (err != 0) {
		if (res) {
			gw_store_result_free(res);
		}
		op_fail(op, err, NULL);
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
	gw_store_result_free(res);
	if (deleted == 0) {
		op_fail(op, GW_ENOTFOUND, NULL);
		return;
	}
	o = cJSON_CreateObject();
	if (o != NULL) {
		cJSON_AddStringToObject(o, "deleted", "1");
		cJSON_AddStringToObject(o, "key", op->key);
	}
	send_json(op->req, 200, o);
	op->req = NULL;
	op_done(op);
}

/* Scan @d's prefix for objects referencing op->id. 0 (nothing; *rev set to
 * the revision seen), GW_EINVAL with @msg, or a store error. */
static int scan_dependent(struct op *op, const struct dependent *d, int64_t *rev, char *msg,
			  size_t n)
{
	struct gw_range_req rq;
	struct gw_range_resp rs;
	char end[MAX_KEY], id[160];
	size_t i, plen = strlen(d->prefix);
	cJSON *v;
	int rv;

	prefix_end(d->prefix, end, sizeof(end));
	memset(&rq, 0, sizeof(rq));
	rq.key = d->prefix;
	rq.key_len = plen;
	rq.range_end = end;
	rq.range_end_len = strlen(end);
	rq.serializable = true;
	rv = gw_store_range(op->a->store, &rq, &rs);
	if (rv != 0) {
		return rv;
	}
	*rev = rs.revision;
	for (i = 0; i < rs.n_kvs; i++) {
		v = cJSON_ParseWithLength(rs.kvs[i].value, rs.kvs[i].value_len);
		if (field_id(v, d->field, id, sizeof(id)) && strcmp(id, op->id) == 0) {
			snprintf(msg, n, "%s, %s [%.*s] is still using it now", d->message,
				 d->by_type, (int)(rs.kvs[i].key_len - plen), rs.kvs[i].key + plen);
			cJSON_Delete(v);
			gw_range_resp_free(&rs);
			return GW_EINVAL;
		}
		cJSON_Delete(v);
	}
	gw_range_resp_free(&rs);
	return 0;
}

static void delete_attempt(struct op *op)
{
	struct gw_compare cmps[8];
	char ends[8][MAX_KEY];
	char sub_key[MAX_KEY], sub_end[MAX_KEY];
	struct gw_store_op dels[2], txn;
	char msg[512];
	size_t i, nc = 0;
	int64_t rev;
	int rv;

	memset(cmps, 0, sizeof(cmps));
	for (i = 0; i < sizeof(dependents) / sizeof(dependents[0]) && !op->force; i++) {
		const struct dependent *d = &dependents[i];

		if (strcmp(d->target, op->res->name) != 0) {
			continue;
		}
		rv = scan_dependent(op, d, &rev, msg, sizeof(msg));
		if (rv != 0) {
			op_fail(op, rv, rv == GW_EINVAL ? msg : NULL);
			return;
		}
		prefix_end(d->prefix, ends[nc], sizeof(ends[nc]));
		cmps[nc].target = GW_CMP_MOD;
		cmps[nc].result = GW_CMP_LESS;
		cmps[nc].number = rev + 1;
		cmps[nc].key = d->prefix;
		cmps[nc].key_len = strlen(d->prefix);
		cmps[nc].range_end = ends[nc];
		cmps[nc].range_end_len = strlen(ends[nc]);
		nc++;
	}
	memset(dels, 0, sizeof(dels));
	memset(&txn, 0, sizeof(txn));
	dels[0].type = GW_OP_DELETE;
	dels[0].u.del.key = op->key;
	dels[0].u.del.key_len = strlen(op->key);
	txn.u.txn.n_success = 1;
	if (strcmp(op->res->name, "consumers") == 0) {
		/* a consumer's credentials go with it */
		copy_str(sub_key, sizeof(sub_key) - 1, op->key);
		strcat(sub_key, "/");
		prefix_end(sub_key, sub_end, sizeof(sub_end));
		dels[1].type = GW_OP_DELETE;
		dels[1].u.del.key = sub_key;
		dels[1].u.del.key_len = strlen(sub_key);
		dels[1].u.del.range_end = sub_end;
		dels[1].u.del.range_end_len = strlen(sub_end);
		txn.u.txn.n_success = 2;
	}
	txn.type = GW_OP_TXN;
	txn.u.txn.compares = cmps;
	txn.u.txn.n_compares = nc;
	txn.u.txn.success = dels;
	rv = gw_raft_propose(op->a->raft, &txn, op->a->write_timeout_ms, delete_cb, op);
	if (rv != 0) {
		op_fail(op, rv, NULL);
	}
}

/* ---- reads ------------------------------------------------------------- */

static cJSON *kv_item(const struct gw_kv *kv)
{
	cJSON *o = cJSON_CreateObject();
	char *key;

	if (o == NULL) {
		return NULL;
	}
	key = strndup(kv->key, kv->key_len);
	cJSON_AddStringToObject(o, "key", key ? key : "");
	free(key);
	cJSON_AddItemToObject(o, "value", parse_value(kv));
	cJSON_AddNumberToObject(o, "createdIndex", (double)kv->create_revision);
	cJSON_AddNumberToObject(o, "modifiedIndex", (double)kv->mod_revision);
	return o;
}

static void get_one(struct gw_admin *a, struct gw_http_req *req, const char *key)
{
	struct gw_range_resp rs;
	bool found;
	int rv;

	memset(&rs, 0, sizeof(rs));
	rv = read_key(a, key, &rs, &found);
	if (rv != 0 || !found) {
		if (rv == 0) {
			gw_range_resp_free(&rs);
		}
		send_err(req, rv ? rv : GW_ENOTFOUND, NULL);
		return;
	}
	send_json(req, 200, kv_item(&rs.kvs[0]));
	gw_range_resp_free(&rs);
}

struct filters {
	regex_t name, uri;
	bool has_name, has_uri;
	char label_k[128], label_v[128];
	bool has_label;
	char field[64], field_v[160];
	bool has_field;
};

static bool str_match(regex_t *re, const cJSON *x)
{
	return cJSON_IsString(x) && regexec(re, x->valuestring, 0, NULL, 0) == 0;
}

static bool keep(struct filters *f, const cJSON *v)
{
	const cJSON *x, *u;
	char id[160];
	bool ok;

	if (f->has_name && !str_match(&f->name, cJSON_GetObjectItemCaseSensitive(v, "name"))) {
		return false;
	}
	if (f->has_uri) {
		ok = str_match(&f->uri, cJSON_GetObjectItemCaseSensitive(v, "uri"));
		x = cJSON_GetObjectItemCaseSensitive(v, "uris");
		cJSON_ArrayForEach(u, x)
		{
			ok = ok || str_match(&f->uri, u);
		}
		if (!ok) {
			return false;
		}
	}
	if (f->has_label) {
		x = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(v, "labels"),
						     f->label_k);
		if (x == NULL ||
		    (f->label_v[0] != '\0' &&
		     (!cJSON_IsString(x) || strcmp(x->valuestring, f->label_v) != 0))) {
			return false;
		}
	}
	if (f->has_field &&
	    (!field_id(v, f->field, id, sizeof(id)) || strcmp(id, f->field_v) != 0)) {
		return false;
	}
	return true;
}

/* Parse an integer query argument. false if present and not in [lo, hi]. */
static bool int_arg(struct gw_http_req *req, const char *name, long lo, long hi, long *out)
{
	char buf[32], *end;
	const char *s = gw_http_query_arg(req, name, buf, sizeof(buf));
	long v;

	if (s == NULL) {
		return true;
	}
	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v < lo || v > hi) {
		return false;
	}
	*out = v;
	return true;
}

static int by_create_revision(const void *x, const void *y)
{
	const struct gw_kv *a = x, *b = y;

	return (a->create_revision > b->create_revision) -
	       (a->create_revision < b->create_revision);
}

static void get_list(struct gw_admin *a, struct gw_http_req *req, const char *prefix,
		     bool only_direct)
{
	struct gw_range_req rq;
	struct gw_range_resp rs;
	struct filters f;
	char end[MAX_KEY], arg[256];
	long page = 1, page_size = 0;
	cJSON *o, *list, *v;
	size_t i, plen = strlen(prefix);
	long total = 0, first, last;
	int rv;

	memset(&f, 0, sizeof(f));
	if (!int_arg(req, "page", 1, 1000000, &page)) {
		send_msg(req, 400, "page must be an integer >= 1");
		return;
	}
	if (!int_arg(req, "page_size", 10, 500, &page_size)) {
		send_msg(req, 400, "page_size must be an integer between 10 and 500");
		return;
	}
	if (gw_http_query_arg(req, "name", arg, sizeof(arg)) != NULL) {
		if (regcomp(&f.name, arg, REG_EXTENDED | REG_NOSUB) != 0) {
			send_msg(req, 400, "invalid regular expression in name");
			return;
		}
		f.has_name = true;
	}
	if (gw_http_query_arg(req, "uri", arg, sizeof(arg)) != NULL) {
		if (regcomp(&f.uri, arg, REG_EXTENDED | REG_NOSUB) != 0) {
			send_msg(req, 400, "invalid regular expression in uri");
			if (f.has_name) {
				regfree(&f.name);
			}
			return;
		}
		f.has_uri = true;
	}
	if (gw_http_query_arg(req, "label", arg, sizeof(arg)) != NULL) {
		char *colon = strchr(arg, ':');
		if (colon) {
			*colon = '\0';
			snprintf(f.label_v, sizeof(f.label_v), "%s", colon + 1);
		}
		copy_str(f.label_k, sizeof(f.label_k), arg);
		f.has_label = true;
	}
	if (gw_http_query_arg(req, "filter", arg, sizeof(arg)) != NULL) {
		char *eq = strchr(arg, '=');
		if (eq == NULL) {
			send_msg(req, 400, "filter must be field=value");
			goto out;
		}
		*eq = '\0';
		copy_str(f.field, sizeof(f.field), arg);
		snprintf(f.field_v, sizeof(f.field_v), "%s", eq + 1);
		f.has_field = true;
	}

	prefix_end(prefix, end, sizeof(end));
	memset(&rq, 0, sizeof(rq));
	rq.key = prefix;
	rq.key_len = plen;
	rq.range_end = end;
	rq.range_end_len = strlen(end);
	rq.serializable = true;
	rv = gw_store_range(a->store, &rq, &rs);
	if (rv != 0) {
		send_err(req, rv, NULL);
		goto out;
	}
	if (rs.n_kvs > 1) { /* APISIX lists in creation order */
		qsort(rs.kvs, rs.n_kvs, sizeof(rs.kvs[0]), by_create_revision);
	}
	o = cJSON_CreateObject();
	list = cJSON_AddArrayToObject(o, "list");
	first = page_size ? (page - 1) * page_size : 0;
	last = page_size ? first + page_size : -1;
	for (i = 0; i < rs.n_kvs && list != NULL; i++) {
		const struct gw_kv *kv = &rs.kvs[i];

		if (kv->key_len <= plen) {
			continue; /* the directory placeholder key itself */
		}
		if (only_direct && memchr(kv->key + plen, '/', kv->key_len - plen) != NULL) {
			continue; /* a consumer's credentials */
		}
		v = parse_value(kv);
		if (!keep(&f, v)) {
			cJSON_Delete(v);
			continue;
		}
		cJSON_Delete(v);
		if (total >= first && (last < 0 || total < last)) {
			cJSON_AddItemToArray(list, kv_item(kv));
		}
		total++;
	}
	gw_range_resp_free(&rs);
	cJSON_AddNumberToObject(o, "total", (double)total);
	send_json(req, 200, o);
out:
	if (f.has_name) {
		regfree(&f.name);
	}
	if (f.has_uri) {
		regfree(&f.uri);
	}
}

/* ---- request routing --------------------------------------------------- */

static bool cidr_match(const struct cidr *c, const struct sockaddr_storage *ss)
{
	const unsigned char *p;
	unsigned char mapped[4];
	int family = ss->ss_family, bits = c->bits, i;

	if (family == AF_INET) {
		p = (const unsigned char *)&((const struct sockaddr_in *)ss)->sin_addr;
	} else if (family == AF_INET6) {
		p = (const unsigned char *)&((const struct sockaddr_in6 *)ss)->sin6_addr;
		if (c->family == AF_INET &&
		    IN6_IS_ADDR_V4MAPPED(&((const struct sockaddr_in6 *)ss)->sin6_addr)) {
			memcpy(mapped, p + 12, 4);
			p = mapped;
			family = AF_INET;
		}
	} else {
		return false;
	}
	if (family != c->family) {
		return false;
	}
	for (i = 0; bits > 0; i++, bits -= 8) {
		unsigned char mask = bits >= 8 ? 0xff : (unsigned char)(0xff << (8 - bits));
		if ((p[i] & mask) != (c->addr[i] & mask)) {
			return false;
		}
	}
	return true;
}

static int parse_cidrs(struct gw_admin *a, const char *list)
{
	char buf[1024], *tok, *save = NULL, *slash, *end;
	struct cidr *c;
	long bits;

	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
		if (a->n_cidrs >= MAX_CIDRS) {
			return GW_EINVAL;
		}
		c = &a->cidrs[a->n_cidrs];
		slash = strchr(tok, '/');
		if (slash) {
			*slash = '\0';
		}
		c->family = strchr(tok, ':') ? AF_INET6 : AF_INET;
		if (inet_pton(c->family, tok, c->addr) != 1) {
			return GW_EINVAL;
		}
		bits = c->family == AF_INET ? 32 : 128;
		if (slash) {
			bits = strtol(slash + 1, &end, 10);
			if (*end != '\0' || slash[1] == '\0' || bits < 0 ||
			    bits > (c->family == AF_INET ? 32 : 128)) {
				return GW_EINVAL;
			}
		}
		c->bits = (int)bits;
		a->n_cidrs++;
	}
	return 0;
}

/* A joining node without a key takes the cluster's, once its store has it. */
static void adopt_key(struct gw_admin *a)
{
	char *val = NULL;
	size_t len = 0;

	if (gw_store_meta_get(a->store, GW_ADMIN_KEY_META, &val, &len) != 0 || val == NULL) {
		return;
	}
	if (len > 0 && len < sizeof(a->admin_key) && memchr(val, '\0', len) == NULL) {
		memcpy(a->admin_key, val, len);
		a->admin_key[len] = '\0';
		if (a->data_dir[0] != '\0') {
			gw_admin_key_save(a->data_dir, a->admin_key);
		}
	}
	free(val);
}

/* The API key of a request: header, then ?api_key=, then cookie. */
static const char *request_key(struct gw_http_req *req, char *buf, size_t n)
{
	const char *h = gw_http_header(req, "x-api-key"), *c, *p, *e;

	if (h != NULL) {
		return h;
	}
	if (gw_http_query_arg(req, "api_key", buf, n) != NULL) {
		return buf;
	}
	c = gw_http_header(req, "cookie");
	for (p = c; p != NULL && *p;) {
		while (*p == ' ' || *p == ';') {
			p++;
		}
		if (strncmp(p, "x_api_key=", 10) == 0) {
			p += 10;
			e = strchr(p, ';');
			snprintf(buf, n, "%.*s", (int)(e ? (size_t)(e - p) : strlen(p)), p);
			return buf;
		}
		p = strchr(p, ';');
	}
	return NULL;
}

static void send_401(struct gw_http_req *req, const char *why)
{
	cJSON *o = cJSON_CreateObject();

	if (o != NULL) {
		cJSON_AddStringToObject(o, "error_msg", "failed to check token");
		cJSON_AddStringToObject(o, "description", why);
	}
	send_json(req, 401, o);
}

static unsigned method_bit(const char *m)
{
	if (strcmp(m, "GET") == 0) {
		return M_GET;
	}
	if (strcmp(m, "PUT") == 0) {
		return M_PUT;
	}
	if (strcmp(m, "POST") == 0) {
		return M_POST;
	}
	if (strcmp(m, "DELETE") == 0) {
		return M_DELETE;
	}
	if (strcmp(m, "PATCH") == 0) {
		return M_PATCH;
	}
	return 0;
}

static const struct resource *find_resource(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(resources) / sizeof(resources[0]); i++) {
		if (strcmp(resources[i].name, name) == 0 && strcmp(name, "credentials") != 0) {
			return &resources[i];
		}
	}
	return NULL;
}

static const struct resource *credentials_resource(void)
{
	size_t i;

	for (i = 0; i < sizeof(resources) / sizeof(resources[0]); i++) {
		if (strcmp(resources[i].name, "credentials") == 0) {
			return &resources[i];
		}
	}
	return NULL;
}

/* Split @path ("a/b/c") into at most @max segments (modified in place). */
static int split(char *path, char **segs, int max)
{
	int n = 0;
	char *p = path;

	while (*p == '/') {
		p++;
	}
	while (*p && n < max) {
		segs[n++] = p;
		p = strchr(p, '/');
		if (p == NULL) {
			break;
		}
		*p++ = '\0';
		if (n == max - 1) { /* the rest, unsplit */
			if (*p) {
				segs[n++] = p;
			}
			break;
		}
	}
	return n;
}

/* Parse the request body: an object, not too deep. 0 or GW_EINVAL + msg. */
static int parse_body(struct gw_http_req *req, cJSON **out, char *msg, size_t n)
{
	const char *ct = gw_http_header(req, "content-type");
	const char *end = NULL;
	cJSON *v;

	*out = NULL;
	if (ct != NULL && strncmp(ct, "multipart/", 10) == 0) {
		snprintf(msg, n, "unsupported content type %.100s: send JSON", ct);
		return GW_EINVAL;
	}
	if (req->body.len == 0) {
		snprintf(msg, n, "invalid request body: empty body");
		return GW_EINVAL;
	}
	if (gw_admin__json_depth(req->body.data, req->body.len, MAX_NESTING) > MAX_NESTING) {
		snprintf(msg, n, "invalid request body: JSON nested deeper than %d levels",
			 MAX_NESTING);
		return GW_EINVAL;
	}
	v = cJSON_ParseWithLengthOpts(req->body.data, req->body.len, &end, false);
	if (v == NULL) {
		snprintf(msg, n, "invalid request body: malformed JSON at byte %zu",
			 end ? (size_t)(end - req->body.data) : (size_t)0);
		return GW_EINVAL;
	}
	*out = v;
	return 0;
}

static struct op *op_new(struct gw_admin *a, struct gw_http_req *req, const struct resource *res,
			 unsigned method)
{
	struct op *op = calloc(1, sizeof(*op));

	if (op == NULL) {
		return NULL;
	}
	op->a = a;
	op->req = req;
	op->res = res;
	op->method = method;
	op->next = a->ops;
	if (a->ops) {
		a->ops->prev = op;
	}
	a->ops = op;
	a->n_ops++;
	return op;
}

static void handle_schema_validate(struct gw_http_req *req, const char *name)
{
	const struct resource *res = find_resource(name);
	char msg[1024];
	cJSON *v;

	if (res == NULL) {
		char m[160];
		snprintf(m, sizeof(m), "Unsupported resource type: %.100s", name);
		send_msg(req, 404, m);
		return;
	}
	if (parse_body(req, &v, msg, sizeof(msg)) != 0 || validate(res, v, msg, sizeof(msg)) != 0) {
		cJSON_Delete(v);
		send_err(req, GW_EINVAL, msg);
		return;
	}
	cJSON_Delete(v);
	gw_http_respond(req, 200, JSON_CT, HDRS, "{}", 2);
}

static void handle_plugins(struct gw_http_req *req, int n, char **segs)
{
	const char *const *names;
	const char *schema;
	cJSON *arr;

	if (n == 2 && strcmp(segs[1], "list") == 0) {
		arr = cJSON_CreateArray();
		for (names = gw_admin__plugin_names(); arr && *names; names++) {
			cJSON_AddItemToArray(arr, cJSON_CreateString(*names));
		}
		send_json(req, 200, arr);
		return;
	}
	if (n == 2 && (schema = gw_admin__plugin_schema(segs[1])) != NULL) {
		gw_http_respond(req, 200, JSON_CT, HDRS, schema, strlen(schema));
		return;
	}
	send_err(req, GW_ENOTFOUND, NULL);
}

static void handle(struct gw_http_req *req, void *data)
{
	struct gw_admin *a = data;
	char keybuf[256], idbuf[320], path[1024], arg[32], msg[1024];
	const char *key, *rest;
	char *segs[5];
	const struct resource *res;
	unsigned m = method_bit(req->method);
	bool viewer = false, allowed = a->n_cidrs == 0;
	struct op *op;
	int i, n;

	for (i = 0; i < a->n_cidrs && !allowed; i++) {
		allowed = cidr_match(&a->cidrs[i], &req->peer);
	}
	if (!allowed) {
		send_msg(req, 403, "client address is not allowed to use the Admin API");
		return;
	}
	if (strncmp(req->path, PREFIX, strlen(PREFIX)) != 0 ||
	    (req->path[strlen(PREFIX)] != '\0' && req->path[strlen(PREFIX)] != '/')) {
		send_msg(req, 404, "not found: the Admin API lives under /apisix/admin");
		return;
	}
	rest = req->path + strlen(PREFIX);
	if (strcmp(req->method, "HEAD") == 0 && (*rest == '\0' || strcmp(rest, "/") == 0)) {
		gw_http_respond(req, 200, JSON_CT, HDRS, "", 0);
		return;
	}

	key = request_key(req, keybuf, sizeof(keybuf));
	if (key == NULL || *key == '\0') {
		send_401(req, "missing apikey");
		return;
	}
	if (a->admin_key[0] == '\0') {
		adopt_key(a);
	}
	if (a->admin_key[0] == '\0' || strcmp(key, a->admin_key) != 0) {
		if (a->viewer_key[0] == '\0' || strcmp(key, a->viewer_key) != 0) {
			send_401(req, "wrong apikey");
			return;
		}
		viewer = true;
	}
	if (viewer && m != M_GET && strcmp(req->method, "HEAD") != 0) {
		send_401(req, "invalid method for role viewer");
		return;
	}

	snprintf(path, sizeof(path), "%s", rest);
	n = split(path, segs, 5);
	if (n == 0) {
		send_msg(req, 404, "Unsupported resource type: ");
		return;
	}
	if (strcmp(segs[0], "plugins") == 0 && m == M_GET) {
		handle_plugins(req, n, segs);
		return;
	}
	if (strcmp(segs[0], "schema") == 0 && n >= 3 && strcmp(segs[1], "validate") == 0 &&
	    m == M_POST) {
		handle_schema_validate(req, segs[2]);
		return;
	}
	res = find_resource(segs[0]);
	if (res == NULL) {
		snprintf(msg, sizeof(msg), "Unsupported resource type: %.200s", segs[0]);
		send_msg(req, 404, msg);
		return;
	}
	/* consumers/<user>/credentials[/<id>] */
	if (strcmp(res->name, "consumers") == 0 && n >= 3 && strcmp(segs[2], "credentials") == 0) {
		res = credentials_resource();
		if (n == 5) {
			send_err(req, GW_ENOTFOUND, NULL);
			return;
		}
		if (n == 3) {
			snprintf(msg, sizeof(msg), "/apisix/consumers/%s/credentials/", segs[1]);
			if (m != M_GET) {
				goto bad_method;
			}
			get_list(a, req, msg, false);
			return;
		}
		/* id = "<user>/<cred>" to keep both; the key is built below */
		snprintf(idbuf, sizeof(idbuf), "%s/%s", segs[1], segs[3]);
		segs[1] = idbuf;
		n = 2;
	}
	if (m == 0 || !(res->methods & m)) {
		goto bad_method;
	}
	if (strcmp(res->name, "secrets") == 0 && n >= 3) {
		/* secrets/<manager>/<id>: the id has one slash */
		segs[1][strlen(segs[1])] = '/';
		n = 2;
	}

	if (m == M_GET) {
		if (n == 1) {
			snprintf(msg, sizeof(msg), "%s", res->prefix);
			get_list(a, req, msg, strcmp(res->name, "consumers") == 0);
			return;
		}
		if (res == credentials_resource()) {
			const char *slash = strchr(segs[1], '/');
			snprintf(msg, sizeof(msg), "/apisix/consumers/%.*s/credentials/%s",
				 (int)(slash - segs[1]), segs[1], slash + 1);
		} else {
			snprintf(msg, sizeof(msg), "%s%s", res->prefix, segs[1]);
		}
		if (n > 2) {
			send_err(req, GW_ENOTFOUND, NULL);
			return;
		}
		get_one(a, req, msg);
		return;
	}

	op = op_new(a, req, res, m);
	if (op == NULL) {
		send_err(req, GW_ENOMEM, NULL);
		return;
	}
	if (gw_http_query_arg(req, "force", arg, sizeof(arg)) != NULL && strcmp(arg, "true") == 0) {
		op->force = true;
	}
	if (gw_http_query_arg(req, "ttl", arg, sizeof(arg)) != NULL) {
		char *end;
		long long ttl = strtoll(arg, &end, 10);
		if (*arg == '\0' || *end != '\0' || ttl <= 0 || ttl > 100000000) {
			op_fail(op, GW_EINVAL, "invalid ttl: a positive number of seconds");
			return;
		}
		op->ttl = ttl;
	}
	if (n >= 2) {
		snprintf(op->id, sizeof(op->id), "%s", segs[1]);
	}
	if (n >= 3) {
		if (m != M_PATCH) {
			op_fail(op, GW_ENOTFOUND, NULL);
			return;
		}
		/* sub-path: segs[2..] were split; rejoin */
		for (i = 2; i < n; i++) {
			size_t l = strlen(op->sub);
			snprintf(op->sub + l, sizeof(op->sub) - l, "%s%s", i > 2 ? "/" : "",
				 segs[i]);
		}
	}

	if (m != M_DELETE) {
		if (parse_body(req, &op->body, msg, sizeof(msg)) != 0) {
			op_fail(op, GW_EINVAL, msg);
			return;
		}
		if (!cJSON_IsObject(op->body) && op->sub[0] == '\0') {
			op_fail(op, GW_EINVAL, "invalid request body: a JSON object is expected");
			return;
		}
	}
	if (m == M_PUT || m == M_POST) {
		static const char *const forbidden[] = {"create_time", "update_time"};
		char bid[160];

		for (i = 0; i < 2 && (res->flags & F_TIMES); i++) {
			if (cJSON_GetObjectItemCaseSensitive(op->body, forbidden[i]) != NULL) {
				snprintf(msg, sizeof(msg), "the property is forbidden:  %s",
					 forbidden[i]);
				op_fail(op, GW_EINVAL, msg);
				return;
			}
		}
		if (strcmp(res->name, "consumers") == 0) {
			if (!field_id(op->body, "username", bid, sizeof(bid))) {
				op_fail(op, GW_EINVAL,
					"invalid configuration: property \"username\" is required");
				return;
			}
			if (op->id[0] != '\0' && strcmp(op->id, bid) != 0) {
				op_fail(op, GW_EINVAL, "wrong username");
				return;
			}
			snprintf(op->id, sizeof(op->id), "%s", bid);
		}
		if (m == M_POST &&
		    (n >= 2 || cJSON_GetObjectItemCaseSensitive(op->body, "id") != NULL)) {
			snprintf(msg, sizeof(msg), "wrong %s id, do not need it", res->type);
			op_fail(op, GW_EINVAL, msg);
			return;
		}
		if (m == M_PUT && op->id[0] == '\0') {
			if (!field_id(op->body, "id", bid, sizeof(bid))) {
				snprintf(msg, sizeof(msg), "missing %s id", res->type);
				op_fail(op, GW_EINVAL, msg);
				return;
			}
			snprintf(op->id, sizeof(op->id), "%s", bid);
		}
		if ((res->flags & F_ID) && res != credentials_resource() &&
		    field_id(op->body, "id", bid, sizeof(bid)) && m == M_PUT &&
		    strcmp(bid, op->id) != 0) {
			snprintf(msg, sizeof(msg), "wrong %s id", res->type);
			op_fail(op, GW_EINVAL, msg);
			return;
		}
	}
	if (m != M_POST && op->id[0] == '\0') {
		snprintf(msg, sizeof(msg), "missing %s id", res->type);
		op_fail(op, GW_EINVAL, msg);
		return;
	}
	if (res == credentials_resource()) {
		const char *slash = strchr(op->id, '/');
		snprintf(op->key, sizeof(op->key), "/apisix/consumers/%.*s/credentials/%s",
			 (int)(slash - op->id), op->id, slash + 1);
	} else {
		snprintf(op->key, sizeof(op->key), "%s%s", res->prefix, op->id);
	}
	if (m == M_DELETE) {
		delete_attempt(op);
	} else {
		write_attempt(op);
	}
	return;

bad_method:
	snprintf(msg, sizeof(msg), "not supported `%s` method for %s", req->method, res->type);
	send_msg(req, 405, msg);
}

/* ---- start / stop ------------------------------------------------------ */

static void pub_done(void *data, int err, struct gw_store_result *res)
{
	struct gw_admin *a = data;

	if (err == 0 && res->err != 0) {
		err = res->err;
	}
	if (res) {
		gw_store_result_free(res);
	}
	a->pub_inflight = false;
	a->n_ops--;
	if (err == 0) {
		gw_infof("admin", "published this node's admin key as the cluster's");
	}
	admin_maybe_free(a);
}

/* Publish our key while the cluster has none (retried every second: the
 * first attempts may come before a leader is elected). */
static void pub_tick(uv_timer_t *t)
{
	struct gw_admin *a = t->data;
	struct gw_store_op op;
	char *val = NULL;
	size_t len = 0;

	if (a->pub_inflight || a->stopping) {
		return;
	}
	if (gw_store_meta_get(a->store, GW_ADMIN_KEY_META, &val, &len) == 0) {
		free(val);
		uv_timer_stop(t); /* the cluster has a key (ours or another's) */
		return;
	}
	memset(&op, 0, sizeof(op));
	op.type = GW_OP_META_PUT;
	op.u.meta.key = GW_ADMIN_KEY_META;
	op.u.meta.key_len = strlen(GW_ADMIN_KEY_META);
	op.u.meta.value = a->admin_key;
	op.u.meta.value_len = strlen(a->admin_key);
	if (gw_raft_propose(a->raft, &op, 0, pub_done, a) == 0) {
		a->pub_inflight = true;
		a->n_ops++;
	}
}

int gw_admin_start(uv_loop_t *loop, const struct gw_addr *listen, const struct gw_admin_opts *opts,
		   struct gw_admin **out)
{
	struct gw_admin *a;
	int rv;

	if ((opts->admin_key && strlen(opts->admin_key) >= sizeof(a->admin_key)) ||
	    (opts->viewer_key && strlen(opts->viewer_key) >= sizeof(a->viewer_key)) ||
	    (opts->data_dir && strlen(opts->data_dir) >= sizeof(a->data_dir))) {
		gw_errorf("admin", "admin key, viewer key or data dir too long");
		return GW_EINVAL;
	}
	a = calloc(1, sizeof(*a));
	if (a == NULL) {
		return GW_ENOMEM;
	}
	a->loop = loop;
	a->store = opts->store;
	a->raft = opts->raft;
	a->write_timeout_ms = opts->write_timeout_ms;
	snprintf(a->admin_key, sizeof(a->admin_key), "%s", opts->admin_key ? opts->admin_key : "");
	snprintf(a->data_dir, sizeof(a->data_dir), "%s", opts->data_dir ? opts->data_dir : "");
	a->publish_key = opts->publish_key && a->admin_key[0] != '\0';
	snprintf(a->viewer_key, sizeof(a->viewer_key), "%s",
		 opts->viewer_key ? opts->viewer_key : "");
	rv = parse_cidrs(a, opts->allow_cidrs ? opts->allow_cidrs : "127.0.0.0/24");
	if (rv != 0) {
		gw_errorf("admin", "bad allow-list %s: expected comma-separated CIDRs",
			  opts->allow_cidrs);
		goto err_after_alloc;
	}
	rv = gw_httpd_start(loop, listen, NULL, handle, a, &a->httpd);
	if (rv != 0) {
		goto err_after_alloc;
	}
	if (a->admin_key[0] == '\0') {
		adopt_key(a); /* a restarted node may already hold the cluster's */
	}
	uv_timer_init(loop, &a->pub_timer);
	a->pub_timer.data = a;
	if (a->publish_key) {
		uv_timer_start(&a->pub_timer, pub_tick, 0, 1000);
	}
	gw_infof("admin", "APISIX Admin API listening on %s%s", listen->text,
		 a->admin_key[0] ? "" : " (adopting the cluster's admin key once it arrives)");
	*out = a;
	return 0;

err_after_alloc:
	free(a);
	return rv;
}

static void timer_closed(uv_handle_t *h)
{
	struct gw_admin *a = h->data;

	a->timer_done = true;
	maybe_stopped(a);
}

static void httpd_stopped(void *data)
{
	struct gw_admin *a = data;

	a->httpd_done = true;
	maybe_stopped(a);
}

int gw_admin_port(const struct gw_admin *a)
{
	return gw_httpd_port(a->httpd);
}

static void maybe_stopped(struct gw_admin *a)
{
	void (*cb)(void *) = a->stop_cb;

	if (!a->httpd_done || !a->timer_done) {
		return;
	}
	a->stopped = true;
	a->stop_cb = NULL;
	if (cb) {
		cb(a->stop_data);
	}
	admin_maybe_free(a);
}

void gw_admin_stop(struct gw_admin *a, void (*cb)(void *data), void *data)
{
	struct op *op, *next;

	a->stopping = true;
	a->stop_cb = cb;
	a->stop_data = data;
	/* requests waiting to retry are answered now; those inside raft when
	 * raft calls back */
	for (op = a->ops; op != NULL; op = next) {
		next = op->next;
		if (op->waiting) {
			uv_timer_stop(&op->timer);
			op->waiting = false;
			op_fail(op, GW_ESHUTDOWN, NULL);
		}
	}
	uv_timer_stop(&a->pub_timer);
	uv_close((uv_handle_t *)&a->pub_timer, timer_closed);
	gw_httpd_stop(a->httpd, httpd_stopped, a);
}
