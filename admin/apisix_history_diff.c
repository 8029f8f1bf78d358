/* apisix_history_diff.c: structural JSON diffs of the config.
 *
 *   GET /apisix/admin/diff?from=R1[&to=R2][&resource=routes[&id=1]]
 *       every object of /apisix/ (or of one resource, or one object) that
 *       differs between revisions R1 and R2 (default: now), each as
 *       {"key", "op": create|update|delete, "changes": [{"path", "op":
 *       add|remove|replace, "from", "to"}]}; paths are JSON Pointers
 *       (RFC 6901) into the object; arrays that differ are replaced whole;
 *       update_time alone is no change.
 *   gw_admin__json_diff is also the diff of a ?dry_run=true write, which
 *   answers here too (gw_admin__dry_run), and GET /apisix/admin/schema/<res>
 *   (APISIX's) shows the schema writes and dry runs are checked with.
 * Failure modes: a revision outside the history window or in the future:
 * 400 with the window's bounds; bad arguments 400. Loop thread. */
#include "config.h"

#include "admin/apisix_int.h"
#include "lib/err.h"
#include "lib/httpd.h"
#include "schema/schema.h"
#include "store/store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PATH 512

static void add_change(cJSON *out, const char *path, const char *op, const cJSON *from,
		       const cJSON *to)
{
	cJSON *o = cJSON_CreateObject();

	if (o == NULL) {
		return;
	}
	cJSON_AddStringToObject(o, "path", path[0] ? path : "/");
	cJSON_AddStringToObject(o, "op", op);
	if (from != NULL) {
		cJSON_AddItemToObject(o, "from", cJSON_Duplicate(from, true));
	}
	if (to != NULL) {
		cJSON_AddItemToObject(o, "to", cJSON_Duplicate(to, true));
	}
	cJSON_AddItemToArray(out, o);
}

/* @path + "/" + @name escaped as a JSON Pointer token into @out. */
static void child_path(char *out, size_t n, const char *path, const char *name)
{
	size_t l = (size_t)snprintf(out, n, "%s/", path);

	for (; *name && l + 3 < n; name++) {
		if (*name == '~' || *name == '/') {
			out[l++] = '~';
			out[l++] = *name == '~' ? '0' : '1';
		} else {
			out[l++] = *name;
		}
	}
	out[l < n ? l : n - 1] = '\0';
}

static void diff_at(const cJSON *a, const cJSON *b, const char *path, int depth, cJSON *out)
{
	const cJSON *x;
	char sub[MAX_PATH];

	if (cJSON_IsObject(a) && cJSON_IsObject(b) && depth < GW_ADMIN__MAX_NESTING) {
		cJSON_ArrayForEach(x, a)
		{
			const cJSON *y = cJSON_GetObjectItemCaseSensitive(b, x->string);

			if (depth == 0 && strcmp(x->string, "update_time") == 0) {
				continue; /* every write sets it */
			}
			child_path(sub, sizeof sub, path, x->string);
			if (y == NULL) {
				add_change(out, sub, "remove", x, NULL);
			} else {
				diff_at(x, y, sub, depth + 1, out);
			}
		}
		cJSON_ArrayForEach(x, b)
		{
			if (cJSON_GetObjectItemCaseSensitive(a, x->string) == NULL &&
			    !(depth == 0 && strcmp(x->string, "update_time") == 0)) {
				child_path(sub, sizeof sub, path, x->string);
				add_change(out, sub, "add", NULL, x);
			}
		}
		return;
	}
	if (!cJSON_Compare(a, b, true)) {
		add_change(out, path, "replace", a, b);
	}
}

cJSON *gw_admin__json_diff(const cJSON *a, const cJSON *b)
{
	cJSON *out = cJSON_CreateArray();

	if (out != NULL) {
		diff_at(a, b, "", 0, out);
	}
	return out;
}

/* In the changes of an ssls object, the values of /key and /keys... are
 * replaced by a note: a private key never shows in a diff. */
static void hide_private_keys(const struct gw_kv *kv, cJSON *changes)
{
	const struct gw_admin__resource *res = gw_admin__resource_of_key(kv->key, kv->key_len);
	cJSON *c;

	if (!gw_admin__is(res, "ssls")) {
		return;
	}
	cJSON_ArrayForEach(c, changes)
	{
		const cJSON *p = cJSON_GetObjectItemCaseSensitive(c, "path");

		if (cJSON_IsString(p) && strncmp(p->valuestring, "/key", 4) == 0) {
			if (cJSON_HasObjectItem(c, "from")) {
				cJSON_ReplaceItemInObjectCaseSensitive(
				    c, "from", cJSON_CreateString("(private key, not shown)"));
			}
			if (cJSON_HasObjectItem(c, "to")) {
				cJSON_ReplaceItemInObjectCaseSensitive(
				    c, "to", cJSON_CreateString("(private key, not shown)"));
			}
		}
	}
}

cJSON *gw_admin__object_diff(const struct gw_kv *from, const struct gw_kv *to)
{
	const struct gw_kv *any = from ? from : to;
	cJSON *o = cJSON_CreateObject(), *a = from ? gw_admin__kv_value(from) : NULL;
	cJSON *b = to ? gw_admin__kv_value(to) : NULL, *changes;
	char *key = strndup(any->key, any->key_len);

	if (o != NULL) {
		cJSON_AddStringToObject(o, "key", key ? key : "");
		cJSON_AddStringToObject(o, "op", !from ? "create" : !to ? "delete" : "update");
		changes = a && b ? gw_admin__json_diff(a, b) : cJSON_CreateArray();
		/* an ssls private key stored in clear (etcd API) never shows */
		hide_private_keys(any, changes);
		gw_admin__ssl_redact(any->key, any->key_len, a);
		gw_admin__ssl_redact(any->key, any->key_len, b);
		if (changes != NULL && !(a && b)) {
			add_change(changes, "", a ? "remove" : "add", a, b);
		}
		cJSON_AddItemToObject(o, "changes", changes);
	}
	free(key);
	cJSON_Delete(a);
	cJSON_Delete(b);
	return o;
}

/* ---- GET /apisix/admin/diff --------------------------------------------- */

int gw_admin__kv_cmp(const void *x, const void *y)
{
	const struct gw_kv *a = x, *b = y;
	size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
	int c = memcmp(a->key, b->key, n);

	return c != 0 ? c : (a->key_len > b->key_len) - (a->key_len < b->key_len);
}

int gw_admin__read_at(struct gw_admin *a, const char *key, const char *end, int64_t rev,
		      struct gw_range_resp *out)
{
	struct gw_range_req rq;
	int rv;

	memset(&rq, 0, sizeof rq);
	rq.key = key;
	rq.key_len = strlen(key);
	rq.range_end = end[0] ? end : NULL;
	rq.range_end_len = strlen(end);
	rq.revision = rev;
	rq.serializable = true;
	rv = gw_store_range(a->store, &rq, out);
	if (rv == 0 && out->n_kvs > 1) {
		qsort(out->kvs, out->n_kvs, sizeof out->kvs[0], gw_admin__kv_cmp);
	}
	return rv;
}

/* Every object that differs between @x and @y (key-sorted) into @list. */
static void diff_ranges(const struct gw_range_resp *x, const struct gw_range_resp *y, cJSON *list)
{
	size_t i = 0, j = 0;

	while (i < x->n_kvs || j < y->n_kvs) {
		int c = i == x->n_kvs   ? 1
			: j == y->n_kvs ? -1
					: gw_admin__kv_cmp(&x->kvs[i], &y->kvs[j]);
		cJSON *o = NULL;

		if (c < 0) {
			o = gw_admin__object_diff(&x->kvs[i++], NULL);
		} else if (c > 0) {
			o = gw_admin__object_diff(NULL, &y->kvs[j++]);
		} else {
			o = gw_admin__object_diff(&x->kvs[i], &y->kvs[j]);
			if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "changes")) ==
			    0) {
				cJSON_Delete(o); /* the same, update_time aside */
				o = NULL;
			}
			i++;
			j++;
		}
		if (o != NULL) {
			cJSON_AddItemToArray(list, o);
		}
	}
}

void gw_admin__h_diff(struct gw_admin *a, struct gw_http_req *req, const struct gw_admin__match *m)
{
	const struct gw_admin__resource *res = NULL;
	struct gw_range_resp x, y;
	char key[GW_ADMIN__MAX_KEY], end[GW_ADMIN__MAX_KEY], name[64], id[160], msg[256];
	int64_t from, to;
	cJSON *body, *list;
	int rv;

	(void)m;
	if (gw_admin__revision_arg(req, "from", &from) != 0 || from == 0 ||
	    gw_admin__revision_arg(req, "to", &to) != 0) {
		gw_admin__send_err(req, GW_EINVAL, "invalid from/to: revisions (from is required)");
		return;
	}
	snprintf(key, sizeof key, "/apisix/");
	if (gw_http_query_arg(req, "resource", name, sizeof name) != NULL &&
	    (res = gw_admin__resource(name, false)) == NULL) {
		snprintf(msg, sizeof msg, "Unsupported resource type: %.60s", name);
		gw_admin__send_err(req, GW_ENOTFOUND, msg);
		return;
	}
	if (res != NULL && gw_http_query_arg(req, "id", id, sizeof id) != NULL && id[0] != '\0') {
		gw_admin__object_key(res, id, key, sizeof key);
		end[0] = '\0';
	} else {
		if (res != NULL) {
			snprintf(key, sizeof key, "%s", res->prefix);
		}
		gw_admin__prefix_end(key, end, sizeof end);
	}
	rv = gw_admin__read_at(a, key, end, from, &x);
	if (rv != 0) {
		gw_admin__history_window_msg(a, rv, from, msg, sizeof msg);
		gw_admin__send_err(req, rv == GW_EIO ? rv : GW_EINVAL, msg);
		return;
	}
	rv = gw_admin__read_at(a, key, end, to, &y);
	if (rv != 0) {
		gw_store_range_resp_free(&x);
		gw_admin__history_window_msg(a, rv, to, msg, sizeof msg);
		gw_admin__send_err(req, rv == GW_EIO ? rv : GW_EINVAL, msg);
		return;
	}
	body = cJSON_CreateObject();
	list = cJSON_CreateArray();
	if (body != NULL && list != NULL) {
		diff_ranges(&x, &y, list);
		cJSON_AddNumberToObject(body, "from", (double)from);
		cJSON_AddNumberToObject(body, "to", (double)(to ? to : y.revision));
		cJSON_AddNumberToObject(body, "total", (double)cJSON_GetArraySize(list));
		cJSON_AddItemToObject(body, "list", list);
		list = NULL;
	}
	cJSON_Delete(list);
	gw_store_range_resp_free(&x);
	gw_store_range_resp_free(&y);
	gw_admin__send_json(req, 200, body);
}

/* ---- ?dry_run=true on writes -------------------------------------------- */

/* The ids of the objects under @prefix whose @field is one of @ids (or
 * @id) into the array @out. */
static void ids_referencing(struct gw_admin *a, const char *prefix, const char *field,
			    const cJSON *ids, const char *id, cJSON *out)
{
	struct gw_range_resp rs;
	size_t i, plen = strlen(prefix);

	if (gw_admin__read_prefix(a, prefix, &rs) != 0) {
		return;
	}
	for (i = 0; i < rs.n_kvs; i++) {
		char ref[160], *oid;
		const cJSON *x;
		cJSON *v;
		bool hit = false;

		if (rs.kvs[i].key_len <= plen) {
			continue;
		}
		v = cJSON_ParseWithLength(rs.kvs[i].value, rs.kvs[i].value_len);
		if (gw_admin__field_id(v, field, ref, sizeof ref)) {
			hit = id != NULL && strcmp(ref, id) == 0;
			cJSON_ArrayForEach(x, ids)
			{
				hit =
				    hit || (cJSON_IsString(x) && strcmp(x->valuestring, ref) == 0);
			}
		}
		cJSON_Delete(v);
		oid = hit ? strndup(rs.kvs[i].key + plen, rs.kvs[i].key_len - plen) : NULL;
		if (oid != NULL) {
			cJSON_AddItemToArray(out, cJSON_CreateString(oid));
			free(oid);
		}
	}
	gw_store_range_resp_free(&rs);
}

/* The routes whose behaviour a change of op->key may change: an array of
 * ids, or the string "all" (global rules, consumers, ssls...). */
static cJSON *routes_affected(struct gw_admin__op *op)
{
	const char *id = op->id;
	cJSON *out, *services;

	if (gw_admin__is(op->res, "routes")) {
		out = cJSON_CreateArray();
		cJSON_AddItemToArray(out, cJSON_CreateString(id));
		return out;
	}
	if (gw_admin__is(op->res, "stream_routes") || gw_admin__is(op->res, "protos")) {
		return cJSON_CreateArray();
	}
	if (!gw_admin__is(op->res, "upstreams") && !gw_admin__is(op->res, "services") &&
	    !gw_admin__is(op->res, "plugin_configs")) {
		return cJSON_CreateString("all");
	}
	out = cJSON_CreateArray();
	if (gw_admin__is(op->res, "plugin_configs")) {
		ids_referencing(op->a, "/apisix/routes/", "plugin_config_id", NULL, id, out);
		return out;
	}
	services = cJSON_CreateArray();
	if (gw_admin__is(op->res, "upstreams")) {
		ids_referencing(op->a, "/apisix/services/", "upstream_id", NULL, id, services);
		ids_referencing(op->a, "/apisix/routes/", "upstream_id", NULL, id, out);
	} else {
		cJSON_AddItemToArray(services, cJSON_CreateString(id));
	}
	ids_referencing(op->a, "/apisix/routes/", "service_id", services, NULL, out);
	cJSON_Delete(services);
	return out;
}

/* Answer the dry run of @op: the diff of op->key to @value (NULL: a
 * delete), @routes (taken) as routes_affected, @rev the current revision. */
static void dry_answer(struct gw_admin__op *op, const char *value, cJSON *routes, int64_t rev)
{
	struct gw_range_resp rs;
	struct gw_kv next;
	const struct gw_kv *cur = NULL;
	char hdrs[64];
	bool found = false;
	cJSON *o;

	if (gw_admin__read_key(op->a, op->key, &rs, &found) != 0) {
		cJSON_Delete(routes);
		gw_admin__op_fail(op, GW_EIO, NULL);
		return;
	}
	cur = found ? &rs.kvs[0] : NULL;
	memset(&next, 0, sizeof next);
	next.key = op->key;
	next.key_len = strlen(op->key);
	next.value = (char *)value;
	next.value_len = value ? strlen(value) : 0;
	o = cJSON_CreateObject();
	if (o != NULL) {
		cJSON_AddBoolToObject(o, "dry_run", true);
		cJSON_AddStringToObject(o, "key", op->key);
		cJSON_AddNumberToObject(o, "revision", (double)rev);
		if (cur == NULL && value == NULL) {
			cJSON_AddNullToObject(o, "diff");
		} else {
			cJSON_AddItemToObject(o, "diff",
					      gw_admin__object_diff(cur, value ? &next : NULL));
		}
		cJSON_AddItemToObject(o, "routes_affected", routes);
		routes = NULL;
	}
	cJSON_Delete(routes);
	gw_store_range_resp_free(&rs);
	snprintf(hdrs, sizeof hdrs, "X-Apigw-Revision: %" PRId64 "\r\n", rev);
	gw_admin__op_answer_hdrs(op, 200, o, hdrs);
}

/* A dry run waiting for the proxy's compile (opts.config_check). */
struct dry {
	struct gw_admin__op *op;
	char *value;                           /* NULL: a delete */
	void (*then)(struct gw_admin__op *op); /* a real write's next step, or NULL */
};

/* Whether routes_affected of @res comes from the compile: the objects a
 * route is compiled from (others: by reference, "all" or none). */
static bool compiled_res(const struct gw_admin__resource *res)
{
	return gw_admin__is(res, "routes") || gw_admin__is(res, "upstreams") ||
	       gw_admin__is(res, "services") || gw_admin__is(res, "plugin_configs");
}

static void dry_done(void *arg, const struct gw_admin_check *r)
{
	struct dry *d = arg;
	struct gw_admin__op *op = d->op;
	char msg[600];
	cJSON *routes;

	if (r->err == GW_EINVAL && r->error != NULL) {
		snprintf(msg, sizeof msg, "the proxy would not compile the change: %s", r->error);
		gw_admin__op_fail(op, GW_EINVAL, msg);
	} else if (r->err != 0) {
		gw_admin__op_fail(op, r->err, NULL);
	} else if (d->then != NULL) {
		op->compiled = true;
		d->then(op);
	} else if (compiled_res(op->res)) {
		routes = cJSON_CreateArray();
		for (size_t i = 0; routes != NULL && i < r->n_routes; i++) {
			cJSON_AddItemToArray(routes, cJSON_CreateString(r->routes[i]));
		}
		dry_answer(op, d->value, routes, r->revision);
	} else {
		dry_answer(op, d->value, routes_affected(op), r->revision);
	}
	free(d->value);
	free(d);
}

void gw_admin__dry_run(struct gw_admin__op *op, const char *value)
{
	struct gw_admin_change ch;
	struct gw_range_resp rs;
	char msg[400];
	struct dry *d;
	int rv;

	/* the references the real write's TXN would find missing */
	for (int i = 0; value != NULL && i < op->n_refs; i++) {
		bool found = false;
		if (gw_admin__read_key(op->a, op->refs[i].key, &rs, &found) == 0) {
			gw_store_range_resp_free(&rs);
		}
		if (!found) {
			snprintf(msg, sizeof msg, "failed to fetch %s [%s], response code: 404",
				 op->refs[i].what, op->refs[i].id);
			gw_admin__op_fail(op, GW_EINVAL, msg);
			return;
		}
	}
	if (op->a->config_check == NULL) {
		dry_answer(op, value, routes_affected(op), gw_store_revision(op->a->store));
		return;
	}
	d = calloc(1, sizeof *d);
	if (d == NULL || (value != NULL && (d->value = strdup(value)) == NULL)) {
		free(d);
		gw_admin__op_fail(op, GW_ENOMEM, NULL);
		return;
	}
	d->op = op;
	ch.key = op->key;
	ch.value = d->value;
	rv = op->a->config_check(op->a->config_check_data, &ch, 1, dry_done, d);
	if (rv != 0) {
		free(d->value);
		free(d);
		gw_admin__op_fail(op, rv,
				  rv == GW_EBUSY ? "too many compiles running, try again" : NULL);
	}
}

bool gw_admin__delete_compiles(struct gw_admin__op *op, void (*then)(struct gw_admin__op *op))
{
	struct gw_admin_change ch;
	struct dry *d;
	int rv;

	if (op->compiled || op->force || op->a->config_check == NULL ||
	    !gw_admin__is(op->res, "upstreams")) {
		return false;
	}
	d = calloc(1, sizeof *d);
	if (d == NULL) {
		gw_admin__op_fail(op, GW_ENOMEM, NULL);
		return true;
	}
	d->op = op;
	d->then = then;
	ch.key = op->key;
	ch.value = NULL;
	rv = op->a->config_check(op->a->config_check_data, &ch, 1, dry_done, d);
	if (rv != 0) {
		free(d);
		gw_admin__op_fail(op, rv,
				  rv == GW_EBUSY ? "too many compiles running, try again" : NULL);
	}
	return true;
}

/* ---- GET /apisix/admin/schema/<resource> --------------------------------- */

void gw_admin__h_schema_get(struct gw_admin *a, struct gw_http_req *req,
			    const struct gw_admin__match *m)
{
	const struct gw_admin__resource *res = gw_admin__resource(m->id, false);
	char *all = gw_schema_export_json();
	cJSON *o = all ? cJSON_Parse(all) : NULL, *one;
	const char *name = res ? res->schema : m->id;
	char msg[160];

	(void)a;
	free(all);
	if (o == NULL) {
		gw_admin__send_err(req, GW_ENOMEM, NULL);
		return;
	}
	one = cJSON_DetachItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "main"),
						      name);
	cJSON_Delete(o);
	if (one == NULL) {
		snprintf(msg, sizeof msg, "Unsupported resource type: %.100s", m->id);
		gw_admin__send_err(req, GW_ENOTFOUND, msg);
		return;
	}
	gw_admin__send_json(req, 200, one);
}
