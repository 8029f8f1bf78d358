/* apisix_configs.c: PUT /apisix/admin/configs, a whole declarative config
 * (APISIX's standalone apisix.yaml layout, YAML or JSON: what `apigw config
 * export` writes) applied as ONE store transaction; GET answers the
 * cluster's config in that layout (JSON), as `apigw config export` does.
 *
 * Happy path (PUT): parse the body and check every object with its schema
 * (schema/decl.h, as `apigw config apply` does), pass a read barrier (a
 * follower's store may lag), read every /apisix/ key now (revision C), diff (objects compared
 * without create/update_time; ?prune=false keeps objects the body lacks, the default deletes them
 * as APISIX's PUT replaces the whole config), check that references (upstream_id, service_id,
 * plugin_config_id, group_id) name objects that exist after the apply, then propose one TXN of
 * every put and delete plus the audit record, guarded by "no /apisix/ key modified after C": all or
 * nothing, for up to GW_STORE_MAX_APPLY_OPS objects. ssl private keys and
 * consumer secrets in clear are sealed as the Admin API seals them (an
 * unchanged one keeps its stored blob, so applying the same file twice
 * changes nothing). ?dry_run=true answers the plan with
 * each object's structural diff; ?wait=served waits as for every write.
 * Failure modes: bad YAML/JSON or a schema error: 400 naming the body's
 * line, section, index and id; a broken reference: 400 naming both; too
 * many objects: 400; a write between the read and the commit: 409, nothing
 * written; raft errors as for every write. Loop thread. */
#include "config.h"

#include "admin/apisix_int.h"
#include "lib/certkey.h"
#include "lib/err.h"
#include "lib/httpd.h"
#include "lib/keyring.h"
#include "raft/raft.h"
#include "schema/decl.h"
#include "store/store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct apply {
	struct gw_admin__op *op; /* the request; answers it */
	struct gw_schema_decl want, have;
	struct gw_schema_decl_diff d;
	struct gw_range_resp cur; /* every /apisix/ key at the read */
	bool have_cur, prune;
};

static void apply_free(struct apply *x)
{
	gw_schema_decl_free(&x->want);
	gw_schema_decl_free(&x->have);
	free(x->d.ops);
	if (x->have_cur) {
		gw_store_range_resp_free(&x->cur);
	}
}

static const struct gw_kv *find_kv(const struct gw_range_resp *rs, const char *key)
{
	struct gw_kv k;

	memset(&k, 0, sizeof k);
	k.key = (char *)key;
	k.key_len = strlen(key);
	return rs->n_kvs ? bsearch(&k, rs->kvs, rs->n_kvs, sizeof k, gw_admin__kv_cmp) : NULL;
}

static int obj_cmp(const void *x, const void *y)
{
	return strcmp(((const struct gw_schema_decl_obj *)x)->key,
		      ((const struct gw_schema_decl_obj *)y)->key);
}

static const struct gw_schema_decl_obj *find_obj(const struct gw_schema_decl *d, const char *key)
{
	struct gw_schema_decl_obj k = {.key = (char *)key};

	return d->n ? bsearch(&k, d->objs, d->n, sizeof k, obj_cmp) : NULL;
}

/* ---- ssl keys ----------------------------------------------------------- */

/* @it (a key in clear, or sealed): sealed, reusing @old's blob when it
 * opens to the same text. 0, or an error with @msg. */
static int seal_like(const char *aad, cJSON *it, const cJSON *old, char *msg, size_t n)
{
	const struct gw_keyring *kr = gw_keyring_default();
	char *plain = NULL, *blob = NULL;
	int rv;

	if (!cJSON_IsString(it) || gw_keyring_is_sealed(it->valuestring)) {
		return 0;
	}
	if (cJSON_IsString(old) && gw_keyring_is_sealed(old->valuestring) &&
	    gw_keyring_reveal(kr, aad, old->valuestring, &plain) == 0) {
		bool same = strcmp(plain, it->valuestring) == 0;
		gw_keyring_wipe_free(plain, strlen(plain) + 1);
		if (same) {
			blob = strdup(old->valuestring);
			rv = blob != NULL ? 0 : GW_ENOMEM;
			goto done;
		}
	}
	rv = kr != NULL ? gw_keyring_seal(kr, aad, it->valuestring, strlen(it->valuestring), &blob)
			: GW_ENOTFOUND;
done:
	if (rv != 0) {
		snprintf(msg, n, "failed to encrypt %s: %s", it->string ? it->string : "key",
			 rv == GW_ENOTFOUND ? "no keyring" : gw_strerror(rv));
		return rv == GW_ENOMEM ? rv : GW_EIO;
	}
	gw_keyring_wipe_free(it->valuestring, strlen(it->valuestring) + 1);
	it->valuestring = blob;
	return 0;
}

/* Seal the secrets of @v (an ssl or a consumer) given in clear, reusing
 * @old's blobs for unchanged ones. */
static int seal_obj(bool ssl, cJSON *v, const cJSON *old, char *msg, size_t n)
{
	cJSON *it;
	int rv = 0, k = 0;

	if (!ssl) {
		for (size_t i = 0; i < GW_SCHEMA_DECL_N_SECRETS; i++) {
			const char *pl = gw_schema_decl_secrets[i].plugin;
			const char *f = gw_schema_decl_secrets[i].field;
			cJSON *mine = cJSON_GetObjectItemCaseSensitive(
			    cJSON_GetObjectItemCaseSensitive(
				cJSON_GetObjectItemCaseSensitive(v, "plugins"), pl),
			    f);
			const cJSON *theirs = cJSON_GetObjectItemCaseSensitive(
			    cJSON_GetObjectItemCaseSensitive(
				cJSON_GetObjectItemCaseSensitive(old, "plugins"), pl),
			    f);
			if (rv == 0) {
				rv = seal_like(GW_KEYRING_AAD_CONSUMER, mine, theirs, msg, n);
			}
		}
		return rv;
	}
	rv = seal_like(GW_CERTKEY_AAD, cJSON_GetObjectItemCaseSensitive(v, "key"),
		       cJSON_GetObjectItemCaseSensitive(old, "key"), msg, n);
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(v, "keys"))
	{
		if (rv == 0) {
			rv = seal_like(
			    GW_CERTKEY_AAD, it,
			    cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(old, "keys"), k),
			    msg, n);
		}
		k++;
	}
	return rv;
}

/* Seal the secrets the body's ssls and consumers give in clear. */
static int seal_secrets(struct apply *x, char *msg, size_t n)
{
	for (size_t i = 0; i < x->want.n; i++) {
		struct gw_schema_decl_obj *o = &x->want.objs[i];
		bool ssl = strncmp(o->key, "/apisix/ssls/", 13) == 0;
		const struct gw_schema_decl_obj *h;
		cJSON *v, *old;
		char *text;
		int rv;

		if (!ssl && strncmp(o->key, "/apisix/consumers/", 18) != 0) {
			continue;
		}
		h = find_obj(&x->have, o->key);
		v = cJSON_Parse(o->value);
		old = h != NULL ? cJSON_Parse(h->value) : NULL;
		rv = v != NULL ? seal_obj(ssl, v, old, msg, n) : GW_ENOMEM;
		text = rv == 0 ? cJSON_PrintUnformatted(v) : NULL;
		cJSON_Delete(v);
		cJSON_Delete(old);
		if (rv != 0) {
			return rv;
		}
		if (text == NULL) {
			return GW_ENOMEM;
		}
		free(o->value);
		o->value = text;
	}
	return 0;
}

/* ---- references --------------------------------------------------------- */

static bool exists_after(const struct apply *x, const char *key)
{
	const struct gw_schema_decl_obj *h;

	if (find_obj(&x->want, key) != NULL) {
		return true;
	}
	h = find_obj(&x->have, key);
	if (h != NULL) {
		return !x->prune;
	}
	/* a key outside the sections (never pruned) */
	return find_kv(&x->cur, key) != NULL && gw_admin__resource_of_key(key, strlen(key)) == NULL;
}

/* Every object after the apply names objects that exist. 0 or GW_EINVAL. */
static int check_refs(const struct apply *x, char *msg, size_t n)
{
	const struct gw_schema_decl *lists[2] = {&x->want, &x->have};

	for (size_t l = 0; l < 2; l++) {
		for (size_t i = 0; i < lists[l]->n; i++) {
			const struct gw_schema_decl_obj *o = &lists[l]->objs[i];
			const struct gw_admin__resource *res;
			char refs[GW_ADMIN__MAX_REFS][GW_ADMIN__MAX_KEY];
			size_t nr, r;
			cJSON *v;

			if (l == 1 && (x->prune || find_obj(&x->want, o->key) != NULL)) {
				continue; /* pruned, or replaced by the body's */
			}
			res = gw_admin__resource_of_key(o->key, strlen(o->key));
			if (res == NULL) {
				continue;
			}
			v = cJSON_Parse(o->value);
			nr = v != NULL ? gw_admin__refs_of(res, v, refs, GW_ADMIN__MAX_REFS) : 0;
			cJSON_Delete(v);
			for (r = 0; r < nr; r++) {
				if (!exists_after(x, refs[r])) {
					snprintf(msg, n, "%s references %s, which %s", o->key,
						 refs[r],
						 find_obj(&x->have, refs[r]) != NULL
						     ? "the apply would delete (it is not in "
						       "the body; ?prune=false keeps it)"
						     : "is neither in the body nor stored");
					return GW_EINVAL;
				}
			}
		}
	}
	return 0;
}

/* ---- the answer --------------------------------------------------------- */

static const char *op_name(int op)
{
	return op == '+' ? "create" : op == '~' ? "update" : "delete";
}

/* {"changes": [{key, op[, diff]}], counts, message}; NULL when out of memory. */
static cJSON *report(const struct apply *x, bool dry)
{
	cJSON *o = cJSON_CreateObject(), *ch = cJSON_AddArrayToObject(o, "changes");
	char msg[200];

	for (size_t i = 0; i < x->d.n && ch != NULL; i++) {
		const struct gw_schema_decl_obj *op = &x->d.ops[i];
		cJSON *c = cJSON_CreateObject();

		cJSON_AddStringToObject(c, "key", op->key);
		cJSON_AddStringToObject(c, "op", op_name(op->op));
		if (dry) {
			const struct gw_kv *old = find_kv(&x->cur, op->key);
			struct gw_kv nw;

			memset(&nw, 0, sizeof nw);
			nw.key = op->key;
			nw.key_len = strlen(op->key);
			nw.value = op->value;
			nw.value_len = strlen(op->value);
			cJSON_AddItemToObject(
			    c, "diff", gw_admin__object_diff(old, op->op == '-' ? NULL : &nw));
		}
		cJSON_AddItemToArray(ch, c);
	}
	cJSON_AddNumberToObject(o, "created", (double)x->d.n_add);
	cJSON_AddNumberToObject(o, "updated", (double)x->d.n_mod);
	cJSON_AddNumberToObject(o, "deleted", (double)x->d.n_del);
	cJSON_AddNumberToObject(o, "unchanged", (double)x->d.same);
	cJSON_AddBoolToObject(o, "dry_run", dry);
	if (x->d.n == 0) {
		snprintf(msg, sizeof msg, "no changes: the config matches (%zu objects)",
			 x->d.same);
	} else {
		snprintf(msg, sizeof msg, "%zu created, %zu updated, %zu deleted, %zu unchanged%s",
			 x->d.n_add, x->d.n_mod, x->d.n_del, x->d.same,
			 dry ? " (dry run: nothing written)" : "");
	}
	cJSON_AddStringToObject(o, "message", msg);
	return o;
}

struct pending {
	struct gw_admin__op *op;
	cJSON *body; /* the answer, kept until the commit */
};

static void txn_done(void *data, int err, struct gw_store_result *res)
{
	struct pending *p = data;

	if (err == 0 && res->err != 0) {
		err = res->err;
	}
	if (err != 0) {
		gw_admin__op_fail(p->op, err, NULL);
		cJSON_Delete(p->body);
	} else if (!res->succeeded) {
		gw_admin__op_fail(p->op, GW_EBUSY,
				  "the config changed while it was applied: nothing was written, "
				  "retry");
		cJSON_Delete(p->body);
	} else {
		gw_admin__op_reply(p->op, 200, p->body, res->revision);
	}
	if (res != NULL) {
		gw_store_result_free(res);
	}
	free(p);
}

/* Propose the diff as one TXN. Takes @op (answered). */
static void commit(struct gw_admin__op *op, struct apply *x, cJSON *body)
{
	struct gw_store_op txn, *ops = calloc(x->d.n + 2, sizeof *ops);
	char **vals = calloc(x->d.n + 1, sizeof *vals);
	struct pending *p = calloc(1, sizeof *p);
	struct gw_compare cmp;
	int64_t now = (int64_t)time(NULL);
	cJSON *extra = cJSON_CreateObject();
	size_t i, n = 0;
	int rv = GW_ENOMEM;

	if (ops == NULL || vals == NULL || p == NULL || extra == NULL) {
		cJSON_Delete(extra);
		goto fail;
	}
	for (i = 0; i < x->d.n; i++) {
		const struct gw_schema_decl_obj *o = &x->d.ops[i];

		if (o->op == '-') {
			ops[n].type = GW_OP_DELETE;
			ops[n].u.del.key = o->key;
			ops[n].u.del.key_len = strlen(o->key);
		} else {
			const struct gw_kv *old = find_kv(&x->cur, o->key);
			vals[i] = gw_schema_decl_stamped(o->value, old ? old->value : NULL,
							 old ? old->value_len : 0, now);
			if (vals[i] == NULL) {
				cJSON_Delete(extra);
				goto fail;
			}
			ops[n].type = GW_OP_PUT;
			ops[n].u.put.key = o->key;
			ops[n].u.put.key_len = strlen(o->key);
			ops[n].u.put.value = vals[i];
			ops[n].u.put.value_len = strlen(vals[i]);
		}
		n++;
	}
	cJSON_AddNumberToObject(extra, "created", (double)x->d.n_add);
	cJSON_AddNumberToObject(extra, "updated", (double)x->d.n_mod);
	cJSON_AddNumberToObject(extra, "deleted", (double)x->d.n_del);
	cJSON_AddBoolToObject(extra, "prune", x->prune);
	rv = gw_admin__audit_make(op->a, op->req, "apply", NULL, NULL, NULL, extra, &op->audit);
	if (rv != 0) {
		goto fail;
	}
	n += gw_admin__audit_ops(&op->audit, &ops[n]);
	/* nothing under /apisix/ changed since the read: all or nothing */
	memset(&cmp, 0, sizeof cmp);
	cmp.key = "/apisix/";
	cmp.key_len = 8;
	cmp.range_end = "/apisix0";
	cmp.range_end_len = 8;
	cmp.result = GW_CMP_LESS;
	cmp.target = GW_CMP_MOD;
	cmp.number = x->cur.revision + 1;
	memset(&txn, 0, sizeof txn);
	txn.type = GW_OP_TXN;
	txn.u.txn.compares = &cmp;
	txn.u.txn.n_compares = 1;
	txn.u.txn.success = ops;
	txn.u.txn.n_success = n;
	p->op = op;
	p->body = body;
	rv = gw_raft_propose(op->a->raft, &txn, op->a->write_timeout_ms, txn_done, p);
	if (rv != 0) {
		goto fail;
	}
	body = NULL;
	p = NULL;
	op = NULL;
fail:
	for (i = 0; vals != NULL && i < x->d.n; i++) {
		free(vals[i]);
	}
	free(vals);
	free(ops);
	free(p);
	cJSON_Delete(body);
	if (op != NULL) {
		gw_admin__op_fail(op, rv, NULL);
	}
}

/* Read the store's objects into x->have. 0 or an error with @msg. */
static int read_have(struct gw_admin *a, struct apply *x, char *msg, size_t n)
{
	int rv = gw_admin__read_at(a, "/apisix/", "/apisix0", 0, &x->cur);

	if (rv != 0) {
		return rv;
	}
	x->have_cur = true;
	for (size_t i = 0; i < x->cur.n_kvs; i++) {
		const struct gw_kv *kv = &x->cur.kvs[i];

		rv = gw_schema_decl_add_stored(&x->have, kv->key, kv->key_len, kv->value,
					       kv->value_len);
		if (rv == GW_EINVAL) {
			snprintf(msg, n, "the stored %.*s is not a JSON object", (int)kv->key_len,
				 kv->key);
			return GW_EIO;
		}
		if (rv < 0) {
			return rv;
		}
	}
	gw_schema_decl_sort_keys(&x->have);
	return 0;
}

/* A dry run waiting for the proxy's compile (opts.config_check). */
struct dry_cfg {
	struct gw_admin__op *op;
	cJSON *body; /* the answer */
	int64_t revision;
};

static void dry_compiled(void *arg, const struct gw_admin_check *r)
{
	struct dry_cfg *d = arg;
	char msg[600];
	cJSON *routes;

	if (r->err == GW_EINVAL && r->error != NULL) {
		snprintf(msg, sizeof msg, "the proxy would not compile the change: %s", r->error);
		cJSON_Delete(d->body);
		gw_admin__op_fail(d->op, GW_EINVAL, msg);
	} else if (r->err != 0) {
		cJSON_Delete(d->body);
		gw_admin__op_fail(d->op, r->err, NULL);
	} else {
		routes = cJSON_AddArrayToObject(d->body, "routes_affected");
		for (size_t i = 0; routes != NULL && i < r->n_routes; i++) {
			cJSON_AddItemToArray(routes, cJSON_CreateString(r->routes[i]));
		}
		cJSON_AddNumberToObject(d->body, "revision", (double)d->revision);
		gw_admin__op_reply(d->op, 200, d->body, d->revision);
	}
	free(d);
}

/* The dry run of @x compiled (answered by dry_compiled, @body taken).
 * False when there is no compiler (answer now). */
static bool dry_compile(struct apply *x, cJSON *body)
{
	struct gw_admin__op *op = x->op;
	struct gw_admin_change *ch;
	struct dry_cfg *d;
	int rv;

	if (op->a->config_check == NULL) {
		return false;
	}
	ch = calloc(x->d.n ? x->d.n : 1, sizeof *ch);
	d = calloc(1, sizeof *d);
	if (ch == NULL || d == NULL) {
		free(ch);
		free(d);
		cJSON_Delete(body);
		gw_admin__op_fail(op, GW_ENOMEM, NULL);
		return true;
	}
	for (size_t i = 0; i < x->d.n; i++) {
		ch[i].key = x->d.ops[i].key;
		ch[i].value = x->d.ops[i].op == '-' ? NULL : x->d.ops[i].value;
	}
	d->op = op;
	d->body = body;
	d->revision = x->cur.revision;
	rv = op->a->config_check(op->a->config_check_data, ch, x->d.n, dry_compiled, d);
	free(ch); /* copied */
	if (rv != 0) {
		free(d);
		cJSON_Delete(body);
		gw_admin__op_fail(op, rv,
				  rv == GW_EBUSY ? "too many compiles running, try again" : NULL);
	}
	return true;
}

/* After the read barrier: diff against the store and commit. Frees @x. */
static void barrier_done(void *data, int err)
{
	struct apply *x = data;
	struct gw_admin__op *op = x->op;
	char msg[1024];
	cJSON *body;
	int rv = err;

	msg[0] = '\0';
	if (rv == 0) {
		rv = read_have(op->a, x, msg, sizeof msg);
	}
	if (rv == 0) {
		rv = seal_secrets(x, msg, sizeof msg);
	}
	if (rv == 0) {
		rv = gw_schema_decl_diff(&x->want, &x->have, x->prune, &x->d);
	}
	if (rv == 0) {
		rv = check_refs(x, msg, sizeof msg);
	}
	if (rv == 0 && x->d.n + 2 > GW_STORE_MAX_APPLY_OPS) {
		snprintf(msg, sizeof msg,
			 "the apply changes %zu objects: more than one transaction holds (%d)",
			 x->d.n, GW_STORE_MAX_APPLY_OPS - 2);
		rv = GW_EINVAL;
	}
	body = rv == 0 ? report(x, op->dry_run) : NULL;
	if (rv == 0 && body == NULL) {
		rv = GW_ENOMEM;
	}
	if (rv != 0) {
		gw_admin__op_fail(op, rv, msg[0] ? msg : NULL);
	} else if (x->d.n > 0 && op->dry_run && dry_compile(x, body)) {
		/* answered once compiled */
	} else if (x->d.n == 0 || op->dry_run) {
		cJSON_AddNumberToObject(body, "revision", (double)x->cur.revision);
		gw_admin__op_reply(op, 200, body, x->cur.revision);
	} else {
		commit(op, x, body);
	}
	apply_free(x);
	free(x);
}

void gw_admin__h_configs_put(struct gw_admin *a, struct gw_http_req *req,
			     const struct gw_admin__match *m)
{
	struct gw_admin__op *op = gw_admin__op_new(a, req, NULL, GW_ADMIN__M_PUT);
	struct apply *x = calloc(1, sizeof *x);
	char msg[1024], arg[16];
	cJSON *root;
	int rv;

	(void)m;
	if (op == NULL || x == NULL) {
		free(x);
		if (op != NULL) {
			gw_admin__op_fail(op, GW_ENOMEM, NULL);
		} else {
			gw_admin__send_err(req, GW_ENOMEM, NULL);
		}
		return;
	}
	x->op = op;
	msg[0] = '\0';
	rv = gw_admin__wait_parse(op, msg, sizeof msg);
	x->prune = true;
	if (rv == 0 && gw_http_query_arg(req, "prune", arg, sizeof arg) != NULL) {
		if (strcmp(arg, "false") == 0) {
			x->prune = false;
		} else if (strcmp(arg, "true") != 0) {
			snprintf(msg, sizeof msg, "invalid prune: true or false");
			rv = GW_EINVAL;
		}
	}
	if (rv == 0) { /* checked before anything is read */
		root = gw_schema_decl_parse("body", req->body.data ? req->body.data : "",
					    req->body.len, msg, sizeof msg);
		rv = root != NULL ? gw_schema_decl_collect("body", root, &x->want, msg, sizeof msg)
				  : GW_EINVAL;
		cJSON_Delete(root);
	}
	if (rv == 0) {
		/* a follower's store may lag: diff against every committed entry */
		rv = gw_raft_read_barrier(a->raft, a->write_timeout_ms, barrier_done, x);
		if (rv == 0) {
			return;
		}
		msg[0] = '\0';
	}
	gw_admin__op_fail(op, rv, msg[0] ? msg : NULL);
	apply_free(x);
	free(x);
}

/* GET /apisix/admin/configs: {section: [objects by id]} in the sections'
 * order, each object as compared (member-sorted, without times; secrets
 * stay sealed), after a read barrier. */
static void get_barrier_done(void *data, int err)
{
	struct apply *x = data;
	struct gw_admin__op *op = x->op;
	cJSON *root = NULL, *lists[GW_SCHEMA_DECL_N] = {NULL};
	char msg[256];
	size_t i, s;
	int rv = err;

	msg[0] = '\0';
	if (rv == 0) {
		rv = read_have(op->a, x, msg, sizeof msg);
	}
	if (rv == 0 && (root = cJSON_CreateObject()) == NULL) {
		rv = GW_ENOMEM;
	}
	/* x->have is in key order: within a section, by id */
	for (i = 0; rv == 0 && i < x->have.n; i++) {
		const char *k = x->have.objs[i].key + strlen("/apisix/");
		cJSON *v;

		for (s = 0; s < GW_SCHEMA_DECL_N; s++) {
			size_t n = strlen(gw_schema_decl_sections[s]);
			if (strncmp(k, gw_schema_decl_sections[s], n) == 0 && k[n] == '/') {
				break;
			}
		}
		if (s == GW_SCHEMA_DECL_N) {
			continue;
		}
		v = cJSON_Parse(x->have.objs[i].value);
		if (lists[s] == NULL) {
			lists[s] = cJSON_CreateArray();
		}
		if (v == NULL || lists[s] == NULL) {
			cJSON_Delete(v);
			rv = GW_ENOMEM;
			break;
		}
		cJSON_AddItemToArray(lists[s], v);
	}
	for (s = 0; s < GW_SCHEMA_DECL_N; s++) {
		if (lists[s] != NULL && rv == 0) {
			cJSON_AddItemToObject(root, gw_schema_decl_sections[s], lists[s]);
		} else {
			cJSON_Delete(lists[s]);
		}
	}
	if (rv != 0) {
		cJSON_Delete(root);
		gw_admin__op_fail(op, rv, msg[0] ? msg : NULL);
	} else {
		char hdrs[64];
		snprintf(hdrs, sizeof hdrs, "X-Apigw-Revision: %" PRId64 "\r\n", x->cur.revision);
		gw_admin__op_answer_hdrs(op, 200, root, hdrs);
	}
	apply_free(x);
	free(x);
}

void gw_admin__h_configs_get(struct gw_admin *a, struct gw_http_req *req,
			     const struct gw_admin__match *m)
{
	struct gw_admin__op *op = gw_admin__op_new(a, req, NULL, GW_ADMIN__M_GET);
	struct apply *x = calloc(1, sizeof *x);
	int rv;

	(void)m;
	if (op == NULL || x == NULL) {
		free(x);
		if (op != NULL) {
			gw_admin__op_fail(op, GW_ENOMEM, NULL);
		} else {
			gw_admin__send_err(req, GW_ENOMEM, NULL);
		}
		return;
	}
	x->op = op;
	rv = gw_raft_read_barrier(a->raft, a->write_timeout_ms, get_barrier_done, x);
	if (rv != 0) {
		gw_admin__op_fail(op, rv, NULL);
		free(x);
	}
}
