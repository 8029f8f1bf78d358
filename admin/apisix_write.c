/* apisix_write.c: the Admin API's write requests (PUT, POST, PATCH, DELETE
 * of an object, and POST /schema/validate/<type>) turned into ops.
 *
 * Happy path: a handler starts an op from what the route captured (id,
 * PATCH sub-path) and the query (?force=true, ?ttl=), parses and checks
 * the body the way APISIX does (strict JSON: one value, no key twice in
 * an object, no trailing bytes, not nested deeper than 64 levels; an
 * object; no create_time/update_time; ids consistent between path and
 * body), builds the object's store key and hands the op to apisix_txn.c,
 * which answers when raft has committed it.
 * Failure modes: every refusal here is 400 in APISIX's wording (404 for a
 * sub-path on anything but PATCH), answered through gw_admin__op_fail;
 * nothing is proposed. Loop thread. */
#include "config.h"

#include "admin/apisix_int.h"
#include "lib/err.h"
#include "lib/httpd.h"
#include "lib/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parse the request body strictly (lib/json.h: one JSON value, no key
 * twice in an object, nothing but whitespace after it, not nested deeper
 * than GW_ADMIN__MAX_NESTING). 0, or GW_EINVAL (GW_ENOMEM) with APISIX's "invalid
 * request body: <why>" in @msg. */
static int parse_body(struct gw_http_req *req, cJSON **out, char *msg, size_t n)
{
	const char *ct = gw_http_header(req, "content-type");
	char why[256];
	int rv;

	*out = NULL;
	if (ct != NULL && strncmp(ct, "multipart/", 10) == 0) {
		snprintf(msg, n, "unsupported content type %.100s: send JSON", ct);
		return GW_EINVAL;
	}
	if (req->body.len == 0) {
		snprintf(msg, n, "invalid request body: empty body");
		return GW_EINVAL;
	}
	rv = gw_json_parse_strict(req->body.data, req->body.len, GW_ADMIN__MAX_NESTING, out, why,
				  sizeof(why));
	if (rv != 0) {
		snprintf(msg, n, "invalid request body: %s",
			 rv == GW_ENOMEM ? gw_strerror(rv) : why);
		return rv;
	}
	return 0;
}

int gw_admin__check_object(const struct gw_admin__resource *res, const cJSON *v, char *msg,
			   size_t n)
{
	return gw_admin__check(res->schema, v, msg, n);
}

/* Start the op of a write request: ?force=, ?ttl=, the id and the PATCH
 * sub-path. NULL when the request has been answered (refused). */
static struct gw_admin__op *op_begin(struct gw_admin *a, struct gw_http_req *req,
				     const struct gw_admin__match *m)
{
	struct gw_admin__op *op = gw_admin__op_new(a, req, m->res, m->method);
	char arg[32], msg[128], *end;
	long long ttl;

	if (op == NULL) {
		gw_admin__send_err(req, GW_ENOMEM, NULL);
		return NULL;
	}
	if (gw_http_query_arg(req, "force", arg, sizeof(arg)) != NULL && strcmp(arg, "true") == 0) {
		op->force = true;
	}
	if (gw_http_query_arg(req, "ttl", arg, sizeof(arg)) != NULL) {
		ttl = strtoll(arg, &end, 10);
		if (*arg == '\0' || *end != '\0' || ttl <= 0 || ttl > 100000000) {
			gw_admin__op_fail(op, GW_EINVAL,
					  "invalid ttl: a positive number of seconds");
			return NULL;
		}
		op->ttl = ttl;
	}
	if (gw_admin__wait_parse(op, msg, sizeof(msg)) != 0) {
		gw_admin__op_fail(op, GW_EINVAL, msg);
		return NULL;
	}
	gw_admin__copy_str(op->id, sizeof(op->id), m->id);
	if (m->has_sub) {
		if (m->method != GW_ADMIN__M_PATCH) {
			gw_admin__op_fail(op, GW_ENOTFOUND, NULL);
			return NULL;
		}
		gw_admin__copy_str(op->sub, sizeof(op->sub), m->sub);
	}
	return op;
}

/* Parse the body of a PUT/POST/PATCH into op->body. false when answered. */
static bool op_body(struct gw_admin__op *op)
{
	char msg[1024];
	int rv = parse_body(op->req, &op->body, msg, sizeof(msg));

	if (rv != 0) {
		gw_admin__op_fail(op, rv, msg);
		return false;
	}
	if (!cJSON_IsObject(op->body) && op->sub[0] == '\0') {
		gw_admin__op_fail(op, GW_EINVAL, "invalid request body: a JSON object is expected");
		return false;
	}
	return true;
}

/* The checks PUT and POST share: no times in the body; a consumer is
 * named by its username. false when answered. */
static bool op_create_checks(struct gw_admin__op *op)
{
	static const char *const forbidden[] = {"create_time", "update_time"};
	char msg[256], name[160];
	int i;

	for (i = 0; i < 2 && (op->res->flags & GW_ADMIN__F_TIMES); i++) {
		if (cJSON_GetObjectItemCaseSensitive(op->body, forbidden[i]) != NULL) {
			snprintf(msg, sizeof(msg), "the property is forbidden:  %s", forbidden[i]);
			gw_admin__op_fail(op, GW_EINVAL, msg);
			return false;
		}
	}
	if (!gw_admin__is(op->res, "consumers")) {
		return true;
	}
	if (!gw_admin__field_id(op->body, "username", name, sizeof(name))) {
		gw_admin__op_fail(op, GW_EINVAL,
				  "invalid configuration: property \"username\" is required");
		return false;
	}
	if (op->id[0] != '\0' && strcmp(op->id, name) != 0) {
		gw_admin__op_fail(op, GW_EINVAL, "wrong username");
		return false;
	}
	snprintf(op->id, sizeof(op->id), "%s", name);
	return true;
}

/* Answer 400 "<verb> <type> id<tail>" ("missing route id", "wrong route
 * id, do not need it") and free the op. */
static void refuse_id(struct gw_admin__op *op, const char *verb, const char *tail)
{
	char msg[256];

	snprintf(msg, sizeof(msg), "%s %s id%s", verb, op->res->type, tail);
	gw_admin__op_fail(op, GW_EINVAL, msg);
}

/* Start a PUT or POST: op_begin, its body and the checks they share. NULL
 * when answered. */
static struct gw_admin__op *op_begin_create(struct gw_admin *a, struct gw_http_req *req,
					    const struct gw_admin__match *m)
{
	struct gw_admin__op *op = op_begin(a, req, m);

	return op != NULL && op_body(op) && op_create_checks(op) ? op : NULL;
}

/* Refuse an op without id, else build its key and propose it. */
static void op_submit(struct gw_admin__op *op)
{
	if (op->method != GW_ADMIN__M_POST && op->id[0] == '\0') {
		refuse_id(op, "missing", "");
		return;
	}
	gw_admin__object_key(op->res, op->id, op->key, sizeof(op->key));
	if (op->method == GW_ADMIN__M_DELETE) {
		gw_admin__op_delete(op);
	} else {
		gw_admin__op_write(op);
	}
}

void gw_admin__h_put(struct gw_admin *a, struct gw_http_req *req, const struct gw_admin__match *m)
{
	struct gw_admin__op *op = op_begin_create(a, req, m);
	char bid[160];

	if (op == NULL) {
		return;
	}
	if (op->id[0] == '\0') {
		if (!gw_admin__field_id(op->body, "id", bid, sizeof(bid))) {
			refuse_id(op, "missing", "");
			return;
		}
		snprintf(op->id, sizeof(op->id), "%s", bid);
	}
	if ((op->res->flags & GW_ADMIN__F_ID) && !gw_admin__is(op->res, "credentials") &&
	    gw_admin__field_id(op->body, "id", bid, sizeof(bid)) && strcmp(bid, op->id) != 0) {
		refuse_id(op, "wrong", "");
		return;
	}
	op_submit(op);
}

void gw_admin__h_post(struct gw_admin *a, struct gw_http_req *req, const struct gw_admin__match *m)
{
	struct gw_admin__op *op = op_begin_create(a, req, m);

	if (op == NULL) {
		return;
	}
	if (m->n_ids > 0 || cJSON_GetObjectItemCaseSensitive(op->body, "id") != NULL) {
		refuse_id(op, "wrong", ", do not need it");
		return;
	}
	op_submit(op);
}

void gw_admin__h_patch(struct gw_admin *a, struct gw_http_req *req, const struct gw_admin__match *m)
{
	struct gw_admin__op *op = op_begin(a, req, m);

	if (op == NULL || !op_body(op)) {
		return;
	}
	op_submit(op);
}

void gw_admin__h_delete(struct gw_admin *a, struct gw_http_req *req,
			const struct gw_admin__match *m)
{
	struct gw_admin__op *op = op_begin(a, req, m);

	if (op != NULL) {
		op_submit(op);
	}
}

void gw_admin__h_schema_validate(struct gw_admin *a, struct gw_http_req *req,
				 const struct gw_admin__match *m)
{
	const struct gw_admin__resource *res = gw_admin__resource(m->id, true);
	char msg[1024];
	cJSON *v;
	int rv;

	(void)a;
	if (res == NULL) {
		snprintf(msg, sizeof(msg), "Unsupported resource type: %.100s", m->id);
		gw_admin__send_err(req, GW_ENOTFOUND, msg);
		return;
	}
	rv = parse_body(req, &v, msg, sizeof(msg));
	if (rv == 0) {
		rv = gw_admin__check_object(res, v, msg, sizeof(msg));
	}
	if (rv != 0) {
		cJSON_Delete(v);
		gw_admin__send_err(req, rv, msg);
		return;
	}
	cJSON_Delete(v);
	gw_admin__send_text(req, "{}", 2);
}
