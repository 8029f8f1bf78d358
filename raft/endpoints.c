/* endpoints.c: the node-to-node channel's server side, the only file of
 * raft/ that knows HTTP. The etcd listener hands every /apigw/internal/
 * request here (gw_raft_handle_internal); each is authenticated, turned
 * into a raft call and answered: errors as JSON with an X-Apigw-Error header
 * carrying the GW_E* code (and "reason" for refusals). With peer TLS the
 * caller must have come over TLS with a member certificate of a current
 * member (the raft configuration is the allow-list), except enrollment
 * (TLS, credential in the body: enroll.c) and the join calls of a node
 * just enrolled; without peer TLS, the cluster's join secret (constant-time
 * compare) as before. A request that needs the leader and reached a
 * follower is relayed once (X-Apigw-Hops). Failure modes: refused -> 403
 * (logged rate limited), not joined yet -> 503, malformed body -> 400,
 * unknown path -> 404. Control loop. */
#include "config.h"

#include "lib/err.h"
#include "lib/log.h"
#include "raft/raft_int.h"
#include "lib/addr.h"
#include "lib/ct.h"
#include "lib/httpd.h"
#include "lib/ratelimit.h"
#include "raft/endpoints.h"
#include "lib/json.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECRET_HEADER "x-apigw-secret"

/* ---- internal HTTP endpoints ------------------------------------------ */

/* The one map from GW_E* codes to this channel's HTTP status. */
static int err_status(int err)
{
	switch (err) {
	case GW_EPERM:
		return 403;
	case GW_EINVAL:
	case GW_EPROTO:
		return 400;
	case GW_ENOTFOUND:
	case GW_EMEMBERNOTFOUND:
	case GW_ELEASENOTFOUND:
		return 404;
	case GW_EBUSY:
	case GW_EEXIST:
		return 409;
	case GW_ENOLEADER:
	case GW_ENOTLEADER:
	case GW_ETIMEOUT:
	case GW_ELEADERCHANGED:
	case GW_ESHUTDOWN:
	case GW_EUNHEALTHY:
		return 503;
	default:
		return 500;
	}
}

static void respond_json(struct gw_http_req *req, int status, const char *json)
{
	gw_http_respond(req, status, "application/json", "", json, strlen(json));
}

static void respond_err(struct gw_http_req *req, int err)
{
	char hdr[64], body[256];

	snprintf(hdr, sizeof hdr, "X-Apigw-Error: %d\r\n", err);
	snprintf(body, sizeof body, "{\"error\":\"%s\",\"code\":\"%s\"}\n", gw_strerror(err),
		 gw_errname(err));
	gw_http_respond(req, err_status(err), "application/json", hdr, body, strlen(body));
}

void gw_raft__respond_err(struct gw_http_req *req, int err)
{
	respond_err(req, err);
}

void gw_raft__respond_refused(struct gw_http_req *req, int err, const char *why)
{
	char hdr[64], body[512];

	snprintf(hdr, sizeof hdr, "X-Apigw-Error: %d\r\n", err);
	/* @why is one of our own static phrases: no JSON escaping needed. */
	snprintf(body, sizeof body, "{\"error\":\"%s\",\"code\":\"%s\",\"reason\":\"%s\"}\n",
		 gw_strerror(err), gw_errname(err), why);
	gw_http_respond(req, err_status(err), "application/json", hdr, body, strlen(body));
}

/* GET /apigw/internal/cluster: the cluster id and leader. */
static void cluster_view(struct gw_raft *r, struct gw_http_req *req, uint64_t lid)
{
	char hex[17];
	cJSON *o = cJSON_CreateObject();
	char *text = NULL;

	snprintf(hex, sizeof hex, "%016" PRIx64, r->ident.cluster_id);
	if (o != NULL && cJSON_AddStringToObject(o, "cluster_id", hex) != NULL) {
		snprintf(hex, sizeof hex, "%016" PRIx64, lid);
		if (cJSON_AddStringToObject(o, "leader_id", hex) != NULL) {
			text = cJSON_PrintUnformatted(o);
		}
	}
	cJSON_Delete(o);
	if (text == NULL) {
		respond_err(req, GW_ENOMEM);
		return;
	}
	respond_json(req, 200, text);
	free(text);
}

/* True when @req carries the cluster's join secret, compared in constant
 * time; false while this node has none. */
static bool secret_ok(struct gw_raft *r, const struct gw_http_req *req)
{
	return gw_ct_streq(gw_http_header(req, SECRET_HEADER), r->ident.secret);
}

static unsigned req_timeout(struct gw_raft *r, const struct gw_http_req *req, unsigned dflt)
{
	const char *v = gw_http_header(req, "x-apigw-timeout-ms");
	unsigned long t;

	if (v == NULL) {
		return dflt;
	}
	t = strtoul(v, NULL, 10);
	if (t == 0 || t > 600000) {
		return dflt;
	}
	(void)r;
	return (unsigned)t;
}

static void relay_done(void *data, int err, const struct gw_httpc_resp *resp)
{
	struct gw_http_req *req = data;
	char hdr[64] = "";

	if (err != 0) {
		respond_err(req, err);
		return;
	}
	if (resp->gw_err != 0) {
		snprintf(hdr, sizeof hdr, "X-Apigw-Error: %d\r\n", resp->gw_err);
	}
	gw_http_respond(req, resp->status, "application/octet-stream", hdr, resp->body.data,
			resp->body.len);
}

/* A request that needs the leader reached a follower: relay it once. A
 * join waits (within its deadline) for a leader this node does not know yet
 * (it may have just restarted); other requests fail at once without one. */
void gw_raft__relay(struct gw_raft *r, struct gw_http_req *req, unsigned timeout_ms)
{
	int rv;

	if (gw_http_header(req, "x-apigw-hops") != NULL) {
		respond_err(req, GW_ENOTLEADER);
		return;
	}
	rv =
	    gw_raft__call(r, NULL, req->method, req->url, req->body.data, req->body.len, timeout_ms,
			  strcmp(req->path, "/apigw/internal/join") == 0 ||
			      strcmp(req->path, "/apigw/internal/enroll") == 0,
			  relay_done, req);
	if (rv != 0) {
		respond_err(req, rv);
	}
}

static void http_propose_done(void *data, int err, struct gw_store_result *res)
{
	struct gw_http_req *req = data;
	struct gw_buf b;

	if (err != 0) {
		respond_err(req, err);
		return;
	}
	gw_buf_init(&b);
	err = gw_raft__encode_result(res, &b);
	gw_store_result_free(res);
	if (err != 0) {
		respond_err(req, err);
	} else {
		gw_http_respond(req, 200, "application/octet-stream", "", b.data, b.len);
	}
	gw_buf_close(&b);
}

static void handle_propose(struct gw_raft *r, struct gw_http_req *req)
{
	struct gw_store_op op;
	unsigned timeout = req_timeout(r, req, r->write_timeout_ms);
	int rv;

	if (!gw_raft__is_leader(r)) {
		gw_raft__relay(r, req, timeout);
		return;
	}
	rv = gw_raft__decode_op(req->body.data, req->body.len, &op);
	if (rv != 0) {
		respond_err(req, rv);
		return;
	}
	gw_raft__op_free(&op);
	rv = gw_raft__propose_local(r, req->body.data, req->body.len, timeout, http_propose_done,
				    req);
	if (rv != 0) {
		respond_err(req, rv);
	}
}

static void http_index_done(void *data, int err, uint64_t index)
{
	struct gw_http_req *req = data;
	char body[64];

	if (err != 0) {
		respond_err(req, err);
		return;
	}
	snprintf(body, sizeof body, "{\"index\":%" PRIu64 "}", index);
	respond_json(req, 200, body);
}

static void handle_read_index(struct gw_raft *r, struct gw_http_req *req)
{
	unsigned timeout = req_timeout(r, req, r->write_timeout_ms);
	int rv;

	if (!gw_raft__is_leader(r)) {
		gw_raft__relay(r, req, timeout);
		return;
	}
	rv = gw_raft__barrier_local(r, timeout, http_index_done, req);
	if (rv != 0) {
		respond_err(req, rv);
	}
}

struct join_ctx {
	struct gw_raft *r;
	struct gw_http_req *req;
	uint64_t id;
	char address[64];
};

/* The leader's answer to a join: the role given, or the error. */
static void http_join_done(void *data, int err, uint64_t id, enum gw_raft_role role)
{
	struct gw_http_req *req = data;
	char body[128];

	if (err != 0) {
		respond_err(req, err);
		return;
	}
	snprintf(body, sizeof body, "{\"role\":\"%s\",\"id\":\"%016" PRIx64 "\"}",
		 gw_raft_role_name(role), id);
	respond_json(req, 200, body);
}

static void join_meta_done(void *data, int err, struct gw_store_result *res)
{
	struct join_ctx *x = data;
	int rv;

	if (res != NULL) {
		gw_store_result_free(res);
	}
	if (err != 0) {
		respond_err(x->req, err);
		free(x);
		return;
	}
	rv = gw_raft__mtask_enqueue(x->r, GW_RAFT__MT_JOIN, x->id, x->address, http_join_done, NULL,
				    x->req);
	if (rv != 0) {
		respond_err(x->req, rv);
	}
	free(x);
}

/* The verified member id of the caller (0: none, or not over TLS). */
static uint64_t caller_id(const struct gw_http_req *req)
{
	return (req->tag & GW_RAFT_PEER_TLS) ? req->tag & ~GW_RAFT_PEER_TLS : 0;
}

/* With peer TLS, a member may relay anyone's join; a node that is not a
 * member yet joins only as the id its certificate names. */
static bool join_caller_ok(struct gw_raft *r, const struct gw_http_req *req, uint64_t id)
{
	uint64_t cid = caller_id(req);

	if (r->tls == NULL) {
		return true;
	}
	return cid == id || (r->raft_running && gw_raft__conf_get(r, cid) != NULL);
}

static void handle_join(struct gw_raft *r, struct gw_http_req *req)
{
	struct gw_store_op op;
	struct gw_buf b;
	struct join_ctx *x;
	cJSON *o;
	const cJSON *id, *addr, *name;
	char key[64], *meta;
	struct gw_addr parsed;
	const char *why;
	int rv;

	if (!gw_raft__is_leader(r)) {
		gw_raft__relay(r, req, GW_RAFT__JOIN_TIMEOUT_MS);
		return;
	}
	o = cJSON_Parse(req->body.data != NULL ? req->body.data : "");
	id = cJSON_GetObjectItemCaseSensitive(o, "id");
	addr = cJSON_GetObjectItemCaseSensitive(o, "raft_address");
	name = cJSON_GetObjectItemCaseSensitive(o, "name");
	if (o == NULL || !cJSON_IsString(id) || !cJSON_IsString(addr) ||
	    gw_addr_parse(addr->valuestring, &parsed, &why) != 0 ||
	    parsed.ss.ss_family != AF_INET) {
		cJSON_Delete(o);
		respond_err(req, GW_EINVAL);
		return;
	}
	x = calloc(1, sizeof *x);
	if (x == NULL) {
		cJSON_Delete(o);
		respond_err(req, GW_ENOMEM);
		return;
	}
	x->r = r;
	x->req = req;
	x->id = strtoull(id->valuestring, NULL, 16);
	snprintf(x->address, sizeof x->address, "%s", parsed.text);
	if (!join_caller_ok(r, req, x->id)) {
		cJSON_Delete(o);
		free(x);
		gw_raft__respond_refused(req, GW_EPERM,
					 "a node may only join under the id of its certificate");
		return;
	}
	if (x->id == 0 || gw_raft__mtask_pending(r, x->id)) {
		rv = x->id == 0 ? GW_EINVAL : GW_EBUSY;
		cJSON_Delete(o);
		free(x);
		respond_err(req, rv);
		return;
	}
	gw_infof("raft", "join request from %016" PRIx64 " (%s) at %s", x->id,
		 cJSON_IsString(name) ? name->valuestring : "?", x->address);
	meta = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	memset(&op, 0, sizeof op);
	op.type = GW_OP_META_PUT;
	gw_raft__member_key(x->id, key, sizeof key);
	op.u.meta.key = key;
	op.u.meta.key_len = strlen(key);
	op.u.meta.value = meta;
	op.u.meta.value_len = meta != NULL ? strlen(meta) : 0;
	gw_buf_init(&b);
	rv = meta == NULL ? GW_ENOMEM : gw_raft__encode_op(&op, &b);
	if (rv == 0) {
		rv = gw_raft__propose_local(r, b.data, b.len, r->write_timeout_ms, join_meta_done,
					    x);
	}
	gw_buf_close(&b);
	free(meta);
	if (rv != 0) {
		free(x);
		respond_err(req, rv);
	}
}

static void http_remove_done(void *data, int err)
{
	struct gw_http_req *req = data;
	if (err != 0) {
		respond_err(req, err);
	} else {
		respond_json(req, 200, "{}");
	}
}

static uint64_t body_id(const struct gw_http_req *req)
{
	cJSON *o = cJSON_Parse(req->body.data != NULL ? req->body.data : "");
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
	uint64_t v = 0;

	if (cJSON_IsString(id)) {
		v = strtoull(id->valuestring, NULL, 16);
	} else if (cJSON_IsNumber(id)) {
		v = (uint64_t)gw_json_int(id, 0, INT64_MAX, 0);
	}
	cJSON_Delete(o);
	return v;
}

static void handle_remove(struct gw_raft *r, struct gw_http_req *req)
{
	uint64_t id;
	int rv;

	if (!gw_raft__is_leader(r)) {
		gw_raft__relay(r, req, GW_RAFT__CONTROL_TIMEOUT_MS);
		return;
	}
	id = body_id(req);
	if (id == 0) {
		respond_err(req, GW_EINVAL);
		return;
	}
	if (gw_raft__conf_get(r, id) == NULL) {
		respond_err(req, GW_EMEMBERNOTFOUND);
		return;
	}
	if (id == r->ident.node_id) {
		rv = gw_raft__remove_self(r, http_remove_done, req, true);
		if (rv != 0) {
			respond_err(req, rv);
		}
		return;
	}
	rv = gw_raft__mtask_enqueue(r, GW_RAFT__MT_REMOVE, id, NULL, NULL, http_remove_done, req);
	if (rv != 0) {
		respond_err(req, rv);
	}
}

/* The lease id of a {"id":"<decimal int64>"} body (a string: JSON numbers
 * hold 53 bits). 0 or GW_EINVAL. */
static int lease_id_of(const struct gw_http_req *req, int64_t *out)
{
	cJSON *o =
	    cJSON_ParseWithLength(req->body.data != NULL ? req->body.data : "", req->body.len);
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
	char *end = NULL;
	long long v = 0;
	int rv = GW_EINVAL;

	if (cJSON_IsString(id) && id->valuestring[0] != '\0') {
		errno = 0;
		v = strtoll(id->valuestring, &end, 10);
		if (errno == 0 && *end == '\0') {
			*out = v;
			rv = 0;
		}
	}
	cJSON_Delete(o);
	return rv;
}

static void handle_keepalive(struct gw_raft *r, struct gw_http_req *req)
{
	int64_t ttl = 0, id = 0;
	char body[64];
	int rv;

	if (!gw_raft__is_leader(r)) {
		gw_raft__relay(r, req, r->write_timeout_ms);
		return;
	}
	if (lease_id_of(req, &id) != 0) {
		respond_err(req, GW_EINVAL);
		return;
	}
	rv = gw_raft__keepalive_local(r, id, &ttl);
	if (rv != 0) {
		respond_err(req, rv);
		return;
	}
	snprintf(body, sizeof body, "{\"ttl\":%" PRId64 "}", ttl);
	respond_json(req, 200, body);
}

/* POST /apigw/internal/lease-ttl {"id":"<id>"} on the leader: the seconds
 * left on the lease (-1 when not tracked) and the applied index the asking
 * follower waits for before it reads the lease's keys. */
static void handle_lease_ttl(struct gw_raft *r, struct gw_http_req *req)
{
	int64_t id = 0;
	char body[96];

	if (!gw_raft__is_leader(r)) {
		gw_raft__relay(r, req, r->write_timeout_ms);
		return;
	}
	if (lease_id_of(req, &id) != 0) {
		respond_err(req, GW_EINVAL);
		return;
	}
	snprintf(body, sizeof body, "{\"ttl\":%" PRId64 ",\"index\":%llu}",
		 gw_raft_lease_remaining(r, id), (unsigned long long)raft_last_applied(&r->raft));
	respond_json(req, 200, body);
	gw_raft__nudge(r); /* the follower waits for that index */
}

/* POST /apigw/internal/hashkv {"revision":R} (the leader's consistency
 * check): this member's keyspace hash at R, or GW_EFUTUREREV when it has not
 * applied R yet. */
static void handle_hashkv(struct gw_raft *r, struct gw_http_req *req)
{
	long long rev = 0;
	uint32_t hash = 0;
	char body[96];
	int rv;

	if (req->body.data == NULL || sscanf(req->body.data, "{\"revision\":%lld}", &rev) != 1) {
		respond_err(req, GW_EINVAL);
		return;
	}
	rv = gw_raft__hashkv_local(r, rev, &hash);
	if (rv != 0) {
		respond_err(req, rv);
		return;
	}
	snprintf(body, sizeof body, "{\"hash\":%" PRIu32 ",\"revision\":%lld}", hash, rev);
	respond_json(req, 200, body);
}

/* /apigw/internal/kv: a small JSON front for tests and operators until the
 * etcd API exists. {"op":"put","key":k,"value":v} | {"op":"delete","key":k}
 * | {"op":"get","key":k,"linearizable":bool}. Authenticated like the rest. */
struct kv_ctx {
	struct gw_raft *r;
	struct gw_http_req *req;
	char *key;
};

static void kv_write_done(void *data, int err, struct gw_store_result *res)
{
	struct kv_ctx *x = data;
	char body[128];

	if (err == 0 && res->err != 0) {
		err = res->err;
	}
	if (err != 0) {
		respond_err(x->req, err);
	} else {
		snprintf(body, sizeof body, "{\"revision\":%" PRId64 ",\"deleted\":%" PRId64 "}",
			 res->revision, res->deleted);
		respond_json(x->req, 200, body);
	}
	if (res != NULL) {
		gw_store_result_free(res);
	}
	free(x->key);
	free(x);
}

static void kv_read(void *data, int err)
{
	struct kv_ctx *x = data;
	struct gw_range_req q;
	struct gw_range_resp resp;
	cJSON *o, *arr;
	char *s;
	size_t i;

	if (err != 0) {
		respond_err(x->req, err);
		goto out;
	}
	memset(&q, 0, sizeof q);
	q.key = x->key;
	q.key_len = strlen(x->key);
	memset(&resp, 0, sizeof resp);
	err = gw_store_range(x->r->store, &q, &resp);
	if (err != 0) {
		respond_err(x->req, err);
		goto out;
	}
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "revision", (double)resp.revision);
	arr = cJSON_AddArrayToObject(o, "kvs");
	for (i = 0; i < resp.n_kvs; i++) {
		cJSON *kv = cJSON_CreateObject();
		char *v =
		    strndup(resp.kvs[i].value ? resp.kvs[i].value : "", resp.kvs[i].value_len);
		char *k = strndup(resp.kvs[i].key, resp.kvs[i].key_len);
		cJSON_AddStringToObject(kv, "key", k ? k : "");
		cJSON_AddStringToObject(kv, "value", v ? v : "");
		cJSON_AddNumberToObject(kv, "mod_revision", (double)resp.kvs[i].mod_revision);
		cJSON_AddNumberToObject(kv, "version", (double)resp.kvs[i].version);
		free(k);
		free(v);
		cJSON_AddItemToArray(arr, kv);
	}
	gw_store_range_resp_free(&resp);
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	respond_json(x->req, 200, s != NULL ? s : "{}");
	free(s);
out:
	free(x->key);
	free(x);
}

static void handle_kv(struct gw_raft *r, struct gw_http_req *req)
{
	cJSON *o = cJSON_Parse(req->body.data != NULL ? req->body.data : "");
	const cJSON *opn = cJSON_GetObjectItemCaseSensitive(o, "op");
	const cJSON *key = cJSON_GetObjectItemCaseSensitive(o, "key");
	const cJSON *val = cJSON_GetObjectItemCaseSensitive(o, "value");
	const cJSON *lin = cJSON_GetObjectItemCaseSensitive(o, "linearizable");
	struct kv_ctx *x;
	struct gw_store_op op;
	int rv;

	if (!cJSON_IsString(opn) || !cJSON_IsString(key) || key->valuestring[0] == '\0') {
		cJSON_Delete(o);
		respond_err(req, GW_EINVAL);
		return;
	}
	x = calloc(1, sizeof *x);
	if (x == NULL || (x->key = strdup(key->valuestring)) == NULL) {
		free(x);
		cJSON_Delete(o);
		respond_err(req, GW_ENOMEM);
		return;
	}
	x->r = r;
	x->req = req;
	memset(&op, 0, sizeof op);
	if (strcmp(opn->valuestring, "get") == 0) {
		cJSON_Delete(o);
		if (cJSON_IsTrue(lin)) {
			rv = gw_raft_read_barrier(r, 0, kv_read, x);
		} else {
			kv_read(x, 0);
			return;
		}
	} else if (strcmp(opn->valuestring, "put") == 0 && cJSON_IsString(val)) {
		op.type = GW_OP_PUT;
		op.u.put.key = x->key;
		op.u.put.key_len = strlen(x->key);
		op.u.put.value = val->valuestring;
		op.u.put.value_len = strlen(val->valuestring);
		rv = gw_raft_propose(r, &op, 0, kv_write_done, x);
		cJSON_Delete(o);
	} else if (strcmp(opn->valuestring, "delete") == 0) {
		op.type = GW_OP_DELETE;
		op.u.del.key = x->key;
		op.u.del.key_len = strlen(x->key);
		rv = gw_raft_propose(r, &op, 0, kv_write_done, x);
		cJSON_Delete(o);
	} else {
		cJSON_Delete(o);
		rv = GW_EINVAL;
	}
	if (rv != 0) {
		free(x->key);
		free(x);
		respond_err(req, rv);
	}
}

/* The leader's ping carries "<hex id>=<0|1>,..." (whom it hears from), so
 * every member's status can show it. */
static void ping_view(struct gw_raft *r, const struct gw_http_req *req)
{
	int n;

	if (req->body.data == NULL || req->body.len == 0) {
		return;
	}
	n = gw_raft__view_parse(req->body.data, r->view, GW_RAFT_MAX_MEMBERS);
	if (n < 0) {
		return; /* malformed: keep the previous view */
	}
	r->n_view = n;
	r->view_at = gw_raft__now(r);
}

SSL_CTX *gw_raft_peer_server_ctx(struct gw_raft *r)
{
	return r->tls != NULL ? r->tls->server_opt : NULL;
}

int gw_raft_peer_member_id(struct gw_raft *r, X509 *cert, uint64_t *id)
{
	char why[128];

	if (r->tls == NULL) {
		return GW_EPERM;
	}
	return gw_peertls_peer_id(r->tls, cert, id, why, sizeof why);
}

/* Who may make the call @sub: 0, or the error to answer with @why. */
static int authorize(struct gw_raft *r, const struct gw_http_req *req, const char *sub,
		     const char **why)
{
	uint64_t id = caller_id(req);

	if (r->ident.secret[0] == '\0') {
		*why = "this node has not joined a cluster yet";
		return GW_EUNHEALTHY;
	}
	if (r->tls == NULL) {
		if (strcmp(sub, "enroll") == 0) {
			return 0; /* answered: no cluster CA here */
		}
		if (!secret_ok(r, req)) {
			*why = "wrong join secret";
			return GW_EPERM;
		}
		return 0;
	}
	if (!(req->tag & GW_RAFT_PEER_TLS)) {
		*why = "node-to-node calls need TLS with a member certificate (this was "
		       "cleartext)";
		return GW_EPERM;
	}
	if (strcmp(sub, "enroll") == 0) {
		return 0; /* the token (or legacy secret) in the body decides */
	}
	if (id == 0) {
		*why = "no member certificate";
		return GW_EPERM;
	}
	if (id == r->ident.node_id || (r->raft_running && gw_raft__conf_get(r, id) != NULL)) {
		return 0;
	}
	if ((strcmp(sub, "cluster") == 0 || strcmp(sub, "join") == 0) && gw_raft__enrolled(r, id)) {
		return 0;
	}
	*why = "the certificate's member is not in the cluster (removed?)";
	return GW_EPERM;
}

bool gw_raft_handle_internal(struct gw_raft *r, struct gw_http_req *req)
{
	const char *sub, *why = NULL;
	char peer[64];
	char body[96];
	int rv;

	if (strncmp(req->path, "/apigw/internal/", 16) != 0) {
		return false;
	}
	sub = req->path + 16;
	rv = authorize(r, req, sub, &why);
	if (rv != 0) {
		unsigned suppressed = 0;
		if (gw_ratelimit_allow(&r->refusal_log, gw_raft__now(r), &suppressed)) {
			gw_addr_format((const struct sockaddr *)&req->peer, peer, sizeof peer);
			gw_warnf("raft",
				 "refused %s %s from %s (member %016" PRIx64
				 "): %s (%u more refused before)",
				 req->method, req->path, peer, caller_id(req), why, suppressed);
		}
		gw_raft__respond_refused(req, rv, why);
		return true;
	}
	if (gw_raft__stopping(r)) {
		respond_err(req, GW_ESHUTDOWN);
		return true;
	}
	if (strcmp(sub, "cluster") == 0) {
		raft_id lid = 0;
		const char *la = NULL;
		if (r->raft_running) {
			raft_leader(&r->raft, &lid, &la);
		}
		cluster_view(r, req, (uint64_t)lid);
	} else if (strcmp(sub, "ping") == 0) {
		ping_view(r, req);
		snprintf(body, sizeof body, "{\"id\":\"%016" PRIx64 "\",\"applied\":%llu}",
			 r->ident.node_id,
			 r->raft_running ? (unsigned long long)raft_last_applied(&r->raft) : 0ULL);
		respond_json(req, 200, body);
	} else if (strcmp(sub, "served") == 0) {
		gw_raft__served_answer(r, req);
	} else if (strcmp(sub, "status") == 0) {
		char *s = gw_raft_status_json(r);
		if (s == NULL) {
			respond_err(req, GW_ENOMEM);
		} else {
			respond_json(req, 200, s);
			free(s);
		}
	} else if (strcmp(sub, "propose") == 0 && strcmp(req->method, "POST") == 0) {
		handle_propose(r, req);
	} else if (strcmp(sub, "read-index") == 0) {
		handle_read_index(r, req);
	} else if (strcmp(sub, "join") == 0 && strcmp(req->method, "POST") == 0) {
		handle_join(r, req);
	} else if (strcmp(sub, "enroll") == 0 && strcmp(req->method, "POST") == 0) {
		gw_raft__enroll_handle(r, req);
	} else if (strcmp(sub, "remove") == 0 && strcmp(req->method, "POST") == 0) {
		handle_remove(r, req);
	} else if (strcmp(sub, "removed") == 0 && strcmp(req->method, "POST") == 0) {
		uint64_t id = body_id(req); /* before answering: that frees @req */
		respond_json(req, 200, "{}");
		if (id == r->ident.node_id) {
			gw_warnf("raft", "this node was removed from the cluster: stopping");
			gw_raft__terminate(r, 0);
		}
	} else if (strcmp(sub, "keepalive") == 0 && strcmp(req->method, "POST") == 0) {
		handle_keepalive(r, req);
	} else if (strcmp(sub, "lease-ttl") == 0 && strcmp(req->method, "POST") == 0) {
		handle_lease_ttl(r, req);
	} else if (strcmp(sub, "hashkv") == 0 && strcmp(req->method, "POST") == 0) {
		handle_hashkv(r, req);
	} else if (strcmp(sub, "kv") == 0 && strcmp(req->method, "POST") == 0) {
		handle_kv(r, req);
	} else {
		respond_err(req, GW_ENOTFOUND);
	}
	return true;
}
