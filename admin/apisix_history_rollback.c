/* apisix_history_rollback.c: POST /apisix/admin/rollback
 * {"revision": N, "resources": ["routes", "upstreams/1", ...],
 *  "from_revision": R} restores the chosen objects (every /apisix/ key
 * without "resources") to what they were at revision N, as ONE store TXN.
 *
 * Happy path: after a read barrier (a follower's store holds every
 * committed entry), read every selection at N and now (revision C), plan the
 * change (keys that differ are put back with their value at N, keys that
 * did not exist at N are deleted), check that the result keeps references
 * whole (a route's upstream_id names an upstream that exists after the
 * rollback, no deleted upstream is still referenced), then propose one TXN
 * whose compares hold every key as read (mod_revision == its revision at C,
 * create_revision == 0 for the keys it re-creates, and no key of a
 * selected prefix newer than C), so it applies as a whole or not at all.
 * "from_revision": R (optional, default C) is the revision the caller
 * looked at (a diff, a history): objects of the selection changed after R
 * make the rollback refuse with 409 and the list of what changed.
 * ?force=true skips both guards; ?dry_run=true answers the plan without
 * proposing anything; ?wait=served[&timeout=] answers once every member
 * serves the rollback's revision (as for every write).
 * Failure modes: N outside the history window (compacted, --history-
 * revisions) or in the future: 400 with the window's bounds; a broken
 * reference: 400 naming it; changed objects (guard or lost race): 409
 * {"error_msg", "changed": [{"key", "revision"}]}; raft errors as for
 * every write (503). Loop thread. */
#include "config.h"

#include "admin/apisix_int.h"
#include "lib/err.h"
#include "lib/httpd.h"
#include "lib/json.h"
#include "raft/raft.h"
#include "store/store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REV 9007199254740992.0 /* 2^53 */

#define MAX_SEL 32
#define MAX_KEY GW_ADMIN__MAX_KEY

/* One selection: a key (end "") or the prefix range [key, end). */
struct sel {
	char key[MAX_KEY];
	char end[MAX_KEY];
	struct gw_range_resp old; /* at the target revision */
	struct gw_range_resp cur; /* now */
	bool have_old, have_cur;
};

struct rollback {
	struct gw_admin *a;
	struct gw_http_req *req;
	struct gw_admin__op *op; /* answers (and ?wait=served); freed when it answers */
	int64_t target;          /* N */
	int64_t from;            /* R: changes after it conflict (0 = none given) */
	int64_t read;            /* C: the revision the plan was made at */
	bool force, dry_run;
	struct sel sels[MAX_SEL];
	size_t n_sel;
	cJSON *changes;           /* [{key, op}] of the plan */
	struct gw_range_resp all; /* every /apisix/ key now (partial rollbacks) */
	bool have_all;
	cJSON *names;                 /* "resources" as asked, for the audit record */
	struct gw_admin__audit audit; /* proposed with the rollback */
};

static void rollback_free(struct rollback *rb)
{
	size_t i;

	for (i = 0; i < rb->n_sel; i++) {
		if (rb->sels[i].have_old) {
			gw_store_range_resp_free(&rb->sels[i].old);
		}
		if (rb->sels[i].have_cur) {
			gw_store_range_resp_free(&rb->sels[i].cur);
		}
	}
	if (rb->have_all) {
		gw_store_range_resp_free(&rb->all);
	}
	cJSON_Delete(rb->changes);
	cJSON_Delete(rb->names);
	gw_admin__audit_free(&rb->audit);
	free(rb);
}

/* The pair of @key in the key-sorted @rs, or NULL. */
static const struct gw_kv *find(const struct gw_range_resp *rs, const char *key, size_t len)
{
	struct gw_kv k;

	memset(&k, 0, sizeof k);
	k.key = (char *)key;
	k.key_len = len;
	return rs->n_kvs ? bsearch(&k, rs->kvs, rs->n_kvs, sizeof k, gw_admin__kv_cmp) : NULL;
}

/* True when @key (@len bytes) is in selection @s. */
static bool in_sel(const struct sel *s, const char *key, size_t len)
{
	size_t kl = strlen(s->key);

	if (s->end[0] == '\0') {
		return len == kl && memcmp(key, s->key, len) == 0;
	}
	return len >= kl && memcmp(key, s->key, kl) == 0;
}

static const struct sel *sel_of(const struct rollback *rb, const char *key, size_t len)
{
	size_t i;

	for (i = 0; i < rb->n_sel; i++) {
		if (in_sel(&rb->sels[i], key, len)) {
			return &rb->sels[i];
		}
	}
	return NULL;
}

/* ---- the request -------------------------------------------------------- */

/* Add the selection named @name ("routes" or "routes/1"); a selection inside
 * one already there is dropped. 0 or GW_EINVAL / GW_ENOTFOUND with @msg. */
static int add_sel(struct rollback *rb, const char *name, char *msg, size_t n)
{
	const struct gw_admin__resource *res;
	char rname[64];
	const char *slash = strchr(name, '/');
	struct sel *s;
	size_t i;

	snprintf(rname, sizeof rname, "%.*s", (int)(slash ? (size_t)(slash - name) : strlen(name)),
		 name);
	res = gw_admin__resource(rname, true);
	if (res == NULL || (slash != NULL && slash[1] == '\0')) {
		snprintf(msg, n, "unknown resource \"%.100s\": use \"routes\" or \"routes/<id>\"",
			 name);
		return GW_EINVAL;
	}
	if (rb->n_sel == MAX_SEL) {
		snprintf(msg, n, "at most %d resources", MAX_SEL);
		return GW_EINVAL;
	}
	s = &rb->sels[rb->n_sel];
	memset(s, 0, sizeof *s);
	if (slash != NULL) {
		gw_admin__object_key(res, slash + 1, s->key, sizeof s->key);
	} else {
		snprintf(s->key, sizeof s->key, "%s", res->prefix);
		gw_admin__prefix_end(s->key, s->end, sizeof s->end);
	}
	for (i = 0; i < rb->n_sel; i++) {
		if (in_sel(&rb->sels[i], s->key, strlen(s->key))) {
			return 0; /* already covered */
		}
	}
	rb->n_sel++;
	return 0;
}

/* Parse the body into @rb. 0 or an error with @msg. */
static int parse(struct rollback *rb, char *msg, size_t n)
{
	char why[256];
	cJSON *body = NULL;
	const cJSON *rev, *from, *list, *it;
	int rv;

	rv = gw_json_parse_strict(rb->req->body.data ? rb->req->body.data : "", rb->req->body.len,
				  GW_ADMIN__MAX_NESTING, &body, why, sizeof why);
	if (rv != 0) {
		snprintf(msg, n, "invalid request body: %s",
			 rv == GW_ENOMEM ? gw_strerror(rv) : why);
		return rv;
	}
	rev = cJSON_GetObjectItemCaseSensitive(body, "revision");
	from = cJSON_GetObjectItemCaseSensitive(body, "from_revision");
	list = cJSON_GetObjectItemCaseSensitive(body, "resources");
	rv = GW_EINVAL;
	/* 2^53: every integer below is exact in a double, and the casts below
	 * stay defined (1e300 was undefined behaviour) */
	if (!cJSON_IsNumber(rev) || !(rev->valuedouble >= 1 && rev->valuedouble <= MAX_REV) ||
	    rev->valuedouble != (double)(int64_t)rev->valuedouble) {
		snprintf(msg, n, "invalid request body: \"revision\" must be a positive integer");
	} else if (from != NULL && (!cJSON_IsNumber(from) ||
				    !(from->valuedouble >= 1 && from->valuedouble <= MAX_REV))) {
		snprintf(msg, n, "invalid request body: \"from_revision\" must be a revision");
	} else if (list != NULL && (!cJSON_IsArray(list) || cJSON_GetArraySize(list) == 0)) {
		/* an empty list is no shorthand for "everything": leave it out */
		snprintf(msg, n,
			 "invalid request body: \"resources\" must be an array of names "
			 "(leave it out to roll back everything)");
	} else {
		rv = 0;
		rb->target = (int64_t)rev->valuedouble;
		rb->from = from ? (int64_t)from->valuedouble : 0;
		cJSON_ArrayForEach(it, list)
		{
			if (!cJSON_IsString(it)) {
				snprintf(msg, n,
					 "invalid request body: \"resources\" must be an "
					 "array of names");
				rv = GW_EINVAL;
				break;
			}
			if ((rv = add_sel(rb, it->valuestring, msg, n)) != 0) {
				break;
			}
			if (rb->names == NULL) {
				rb->names = cJSON_CreateArray();
			}
			cJSON_AddItemToArray(rb->names, cJSON_CreateString(it->valuestring));
		}
	}
	cJSON_Delete(body);
	if (rv == 0 && rb->n_sel == 0) {
		snprintf(rb->sels[0].key, MAX_KEY, "/apisix/");
		gw_admin__prefix_end(rb->sels[0].key, rb->sels[0].end, MAX_KEY);
		rb->n_sel = 1;
	}
	return rv;
}

/* Read every selection at the target revision and now. */
static int read_all(struct rollback *rb, char *msg, size_t n)
{
	size_t i;
	int rv;

	for (i = 0; i < rb->n_sel; i++) {
		struct sel *s = &rb->sels[i];

		rv = gw_admin__read_at(rb->a, s->key, s->end, rb->target, &s->old);
		if (rv != 0) {
			gw_admin__history_window_msg(rb->a, rv, rb->target, msg, n);
			return rv == GW_EIO || rv == GW_ENOMEM ? rv : GW_EINVAL;
		}
		s->have_old = true;
		rv = gw_admin__read_at(rb->a, s->key, s->end, 0, &s->cur);
		if (rv != 0) {
			return rv;
		}
		s->have_cur = true;
		rb->read = s->cur.revision;
	}
	return 0;
}

/* ---- conflicts ---------------------------------------------------------- */

static void add_changed(cJSON *list, const char *key, size_t len, int64_t rev)
{
	cJSON *o = cJSON_CreateObject();
	char *k = strndup(key, len);

	cJSON_AddStringToObject(o, "key", k ? k : "");
	cJSON_AddNumberToObject(o, "revision", (double)rev);
	cJSON_AddItemToArray(list, o);
	free(k);
}

/* The objects of the selections changed after @since: modified or created
 * (their mod_revision), or deleted (present at @since, gone now: 0). A new
 * array, or NULL when out of memory. */
static cJSON *changed_since(struct rollback *rb, int64_t since)
{
	cJSON *list = cJSON_CreateArray();
	struct gw_range_resp then, now;
	size_t i, j;

	for (i = 0; i < rb->n_sel && list != NULL; i++) {
		struct sel *s = &rb->sels[i];

		if (gw_admin__read_at(rb->a, s->key, s->end, 0, &now) != 0) {
			continue;
		}
		for (j = 0; j < now.n_kvs; j++) {
			if (now.kvs[j].mod_revision > since) {
				add_changed(list, now.kvs[j].key, now.kvs[j].key_len,
					    now.kvs[j].mod_revision);
			}
		}
		if (gw_admin__read_at(rb->a, s->key, s->end, since, &then) == 0) {
			for (j = 0; j < then.n_kvs; j++) {
				if (find(&now, then.kvs[j].key, then.kvs[j].key_len) == NULL) {
					add_changed(list, then.kvs[j].key, then.kvs[j].key_len, 0);
				}
			}
			gw_store_range_resp_free(&then);
		}
		gw_store_range_resp_free(&now);
	}
	return list;
}

/* Answer 409 with what changed after @since. */
static void conflict(struct rollback *rb, int64_t since)
{
	char msg[256];
	cJSON *body;

	snprintf(msg, sizeof msg,
		 "the config changed after revision %" PRId64
		 ": nothing was rolled back (?force=true overrides)",
		 since);
	gw_admin__answer(GW_EBUSY, msg, &body);
	if (body != NULL) {
		cJSON_AddItemToObject(body, "changed", changed_since(rb, since));
	}
	gw_admin__op_answer_hdrs(rb->op, 409, body, "");
}

/* ---- the plan ----------------------------------------------------------- */

/* Does @key exist after the rollback? */
static bool exists_after(struct rollback *rb, const char *key, size_t len)
{
	const struct sel *s = sel_of(rb, key, len);

	return s != NULL ? find(&s->old, key, len) != NULL : find(&rb->all, key, len) != NULL;
}

/* Check one object of the result: its references exist after the
 * rollback. @changed: the rollback writes it. 0 or GW_EINVAL with @msg. */
static int check_refs_of(struct rollback *rb, const struct gw_kv *kv, bool changed, char *msg,
			 size_t n)
{
	const struct gw_admin__resource *res = gw_admin__resource_of_key(kv->key, kv->key_len);
	char refs[GW_ADMIN__MAX_REFS][MAX_KEY];
	size_t i, nr;
	cJSON *v;

	if (res == NULL) {
		return 0;
	}
	v = cJSON_ParseWithLength(kv->value, kv->value_len);
	nr = v ? gw_admin__refs_of(res, v, refs, GW_ADMIN__MAX_REFS) : 0;
	cJSON_Delete(v);
	for (i = 0; i < nr; i++) {
		size_t rl = strlen(refs[i]);

		if (exists_after(rb, refs[i], rl)) {
			continue;
		}
		/* broken by this rollback: it writes the object, or removes
		 * what the object references */
		if (changed || find(&rb->all, refs[i], rl) != NULL) {
			snprintf(msg, n,
				 "the rollback would leave %.*s referencing %s, which would not "
				 "exist: add it to \"resources\"",
				 (int)kv->key_len, kv->key, refs[i]);
			return GW_EINVAL;
		}
	}
	return 0;
}

/* A partial rollback keeps references whole. 0 or GW_EINVAL with @msg. */
static int check_refs(struct rollback *rb, char *msg, size_t n)
{
	size_t i, j;
	int rv;

	if (rb->n_sel == 1 && strcmp(rb->sels[0].key, "/apisix/") == 0) {
		return 0; /* the whole config as it was at N */
	}
	rv = gw_admin__read_at(rb->a, "/apisix/", "/apisix0", 0, &rb->all);
	if (rv != 0) {
		return rv;
	}
	rb->have_all = true;
	for (i = 0; i < rb->all.n_kvs; i++) { /* objects outside the selections */
		const struct gw_kv *kv = &rb->all.kvs[i];

		if (sel_of(rb, kv->key, kv->key_len) == NULL &&
		    (rv = check_refs_of(rb, kv, false, msg, n)) != 0) {
			return rv;
		}
	}
	for (i = 0; i < rb->n_sel; i++) { /* and those inside, as they will be */
		for (j = 0; j < rb->sels[i].old.n_kvs; j++) {
			if ((rv = check_refs_of(rb, &rb->sels[i].old.kvs[j], true, msg, n)) != 0) {
				return rv;
			}
		}
	}
	return 0;
}

static bool same_value(const struct gw_kv *a, const struct gw_kv *b)
{
	return a->value_len == b->value_len && memcmp(a->value, b->value, a->value_len) == 0;
}

static void plan_item(cJSON *changes, const struct gw_kv *kv, const char *op)
{
	cJSON *o = cJSON_CreateObject();
	char *k = strndup(kv->key, kv->key_len);

	cJSON_AddStringToObject(o, "key", k ? k : "");
	cJSON_AddStringToObject(o, "op", op);
	cJSON_AddItemToArray(changes, o);
	free(k);
}

/* Count the ops and compares of the plan. */
static void plan_size(struct rollback *rb, size_t *n_ops, size_t *n_cmps)
{
	size_t i, j;

	*n_ops = 0;
	*n_cmps = 0;
	for (i = 0; i < rb->n_sel; i++) {
		const struct sel *s = &rb->sels[i];

		*n_cmps += s->cur.n_kvs + 1;
		*n_ops += s->cur.n_kvs;
		for (j = 0; j < s->old.n_kvs; j++) {
			*n_ops += find(&s->cur, s->old.kvs[j].key, s->old.kvs[j].key_len) == NULL;
			*n_cmps += 1;
		}
	}
}

/* Fill @ops and @cmps (sized by plan_size) with the plan, and rb->changes.
 * Their count into *n_ops / *n_cmps. */
static void plan(struct rollback *rb, struct gw_store_op *ops, size_t *n_ops,
		 struct gw_compare *cmps, size_t *n_cmps)
{
	size_t i, j;

	*n_ops = 0;
	*n_cmps = 0;
	for (i = 0; i < rb->n_sel; i++) {
		const struct sel *s = &rb->sels[i];

		for (j = 0; j < s->old.n_kvs; j++) { /* puts */
			const struct gw_kv *o = &s->old.kvs[j];
			const struct gw_kv *c = find(&s->cur, o->key, o->key_len);
			struct gw_compare *cmp = &cmps[(*n_cmps)++];

			cmp->key = o->key;
			cmp->key_len = o->key_len;
			cmp->result = GW_CMP_EQUAL;
			cmp->target = c ? GW_CMP_MOD : GW_CMP_CREATE;
			cmp->number = c ? c->mod_revision : 0;
			if (c != NULL && same_value(o, c)) {
				continue;
			}
			ops[*n_ops].type = GW_OP_PUT;
			ops[*n_ops].u.put.key = o->key;
			ops[*n_ops].u.put.key_len = o->key_len;
			ops[*n_ops].u.put.value = o->value;
			ops[*n_ops].u.put.value_len = o->value_len;
			(*n_ops)++;
			plan_item(rb->changes, o, c ? "update" : "create");
		}
		for (j = 0; j < s->cur.n_kvs; j++) { /* deletes */
			const struct gw_kv *c = &s->cur.kvs[j];
			struct gw_compare *cmp;

			if (find(&s->old, c->key, c->key_len) != NULL) {
				continue;
			}
			cmp = &cmps[(*n_cmps)++];
			cmp->key = c->key;
			cmp->key_len = c->key_len;
			cmp->result = GW_CMP_EQUAL;
			cmp->target = GW_CMP_MOD;
			cmp->number = c->mod_revision;
			ops[*n_ops].type = GW_OP_DELETE;
			ops[*n_ops].u.del.key = c->key;
			ops[*n_ops].u.del.key_len = c->key_len;
			(*n_ops)++;
			plan_item(rb->changes, c, "delete");
		}
		if (s->end[0] != '\0') { /* nothing created in the range since */
			struct gw_compare *cmp = &cmps[(*n_cmps)++];

			cmp->key = s->key;
			cmp->key_len = strlen(s->key);
			cmp->range_end = s->end;
			cmp->range_end_len = strlen(s->end);
			cmp->result = GW_CMP_LESS;
			cmp->target = GW_CMP_MOD;
			cmp->number = rb->read + 1;
		}
	}
}

/* ---- commit ------------------------------------------------------------- */

static void answer_done(struct rollback *rb, int64_t revision)
{
	cJSON *o = cJSON_CreateObject();

	if (o != NULL) {
		cJSON_AddNumberToObject(o, "revision", (double)revision);
		cJSON_AddNumberToObject(o, "rolled_back_to", (double)rb->target);
		cJSON_AddBoolToObject(o, "dry_run", rb->dry_run);
		cJSON_AddItemToObject(o, "changes", rb->changes);
		rb->changes = NULL;
	}
	/* X-Apigw-Revision, and with ?wait=served the answer once every member
	 * serves the rollback's revision */
	gw_admin__op_reply(rb->op, 200, o, revision);
}

static void txn_done(void *data, int err, struct gw_store_result *res)
{
	struct rollback *rb = data;
	struct gw_admin *a = rb->a;

	if (err == 0 && res->err != 0) {
		err = res->err;
	}
	if (err != 0) {
		gw_admin__op_fail(rb->op, err, NULL);
	} else if (!res->succeeded) {
		conflict(rb, rb->read); /* someone wrote in between */
	} else {
		answer_done(rb, res->revision);
	}
	if (res != NULL) {
		gw_store_result_free(res);
	}
	rollback_free(rb);
	a->n_ops--;
	gw_admin__maybe_free(a);
}

/* A dry run waiting for the proxy's compile (opts.config_check). */
struct dry_rb {
	struct gw_admin__op *op;
	cJSON *changes; /* the plan */
	int64_t target, read;
};

static void dry_compiled(void *arg, const struct gw_admin_check *r)
{
	struct dry_rb *d = arg;
	char msg[600];
	cJSON *o, *routes;

	if (r->err == GW_EINVAL && r->error != NULL) {
		snprintf(msg, sizeof msg, "the proxy would not compile the change: %s", r->error);
		gw_admin__op_fail(d->op, GW_EINVAL, msg);
	} else if (r->err != 0) {
		gw_admin__op_fail(d->op, r->err, NULL);
	} else {
		o = cJSON_CreateObject();
		if (o != NULL) {
			cJSON_AddNumberToObject(o, "revision", (double)d->read);
			cJSON_AddNumberToObject(o, "rolled_back_to", (double)d->target);
			cJSON_AddBoolToObject(o, "dry_run", true);
			cJSON_AddItemToObject(o, "changes", d->changes);
			d->changes = NULL;
			routes = cJSON_AddArrayToObject(o, "routes_affected");
			for (size_t i = 0; routes != NULL && i < r->n_routes; i++) {
				cJSON_AddItemToArray(routes, cJSON_CreateString(r->routes[i]));
			}
		}
		gw_admin__op_reply(d->op, 200, o, d->read);
	}
	cJSON_Delete(d->changes);
	free(d);
}

/* The dry run of the plan @ops compiled (answered by dry_compiled). False
 * when not compiled (no compiler, or a range delete): answer now. */
static bool dry_compile(struct rollback *rb, const struct gw_store_op *ops, size_t n)
{
	struct gw_admin_change *ch;
	struct dry_rb *d;
	size_t i, k = 0;
	int rv = 0;

	for (i = 0; i < n; i++) {
		if (ops[i].type == GW_OP_DELETE && ops[i].u.del.range_end_len > 0) {
			return false;
		}
	}
	if (rb->a->config_check == NULL || n == 0) {
		return false;
	}
	ch = calloc(n, sizeof *ch);
	d = calloc(1, sizeof *d);
	rv = ch != NULL && d != NULL ? 0 : GW_ENOMEM;
	for (k = 0; rv == 0 && k < n; k++) {
		const struct gw_store_op *op = &ops[k];
		bool put = op->type == GW_OP_PUT;
		ch[k].key = strndup(put ? op->u.put.key : op->u.del.key,
				    put ? op->u.put.key_len : op->u.del.key_len);
		ch[k].value = put ? strndup(op->u.put.value, op->u.put.value_len) : NULL;
		if (ch[k].key == NULL || (put && ch[k].value == NULL)) {
			rv = GW_ENOMEM;
		}
	}
	if (rv == 0) {
		d->op = rb->op;
		d->changes = rb->changes;
		d->target = rb->target;
		d->read = rb->read;
		rv = rb->a->config_check(rb->a->config_check_data, ch, n, dry_compiled, d);
		if (rv == 0) {
			rb->changes = NULL;
			d = NULL;
		}
	}
	for (i = 0; ch != NULL && i < k; i++) {
		free((char *)ch[i].key);
		free((char *)ch[i].value);
	}
	free(ch);
	free(d);
	if (rv != 0) {
		gw_admin__op_fail(rb->op, rv,
				  rv == GW_EBUSY ? "too many compiles running, try again" : NULL);
	}
	return true;
}

/* Plan, check and propose (or answer the dry run). Takes @rb. */
static void run(struct rollback *rb)
{
	struct gw_store_op txn, *ops;
	struct gw_compare *cmps;
	cJSON *extra;
	size_t n_ops, n_cmps;
	char msg[640];
	int rv;

	plan_size(rb, &n_ops, &n_cmps);
	ops = calloc(n_ops + 2, sizeof *ops); /* + the audit record's two */
	cmps = calloc(n_cmps + 1, sizeof *cmps);
	rb->changes = cJSON_CreateArray();
	if (ops == NULL || cmps == NULL || rb->changes == NULL) {
		rv = GW_ENOMEM;
		gw_admin__op_fail(rb->op, rv, NULL);
		goto out;
	}
	plan(rb, ops, &n_ops, cmps, &n_cmps);
	rv = check_refs(rb, msg, sizeof msg);
	if (rv != 0) {
		gw_admin__op_fail(rb->op, rv, rv == GW_EINVAL ? msg : NULL);
		goto out;
	}
	if (rb->dry_run && dry_compile(rb, ops, n_ops)) {
		goto out; /* answered once compiled */
	}
	if (n_ops == 0 || rb->dry_run) {
		answer_done(rb, rb->read); /* nothing to do, or only to show */
		goto out;
	}
	if (n_ops > GW_STORE_MAX_APPLY_OPS || n_cmps > GW_STORE_MAX_APPLY_OPS) {
		snprintf(msg, sizeof msg,
			 "the rollback changes %zu objects: more than one transaction holds (%d); "
			 "roll back fewer resources at a time",
			 n_ops, GW_STORE_MAX_APPLY_OPS);
		gw_admin__op_fail(rb->op, GW_EINVAL, msg);
		goto out;
	}
	extra = cJSON_CreateObject();
	if (extra != NULL) {
		cJSON_AddNumberToObject(extra, "to", (double)rb->target);
		cJSON_AddBoolToObject(extra, "force", rb->force);
		if (rb->names != NULL) {
			cJSON_AddItemToObject(extra, "resources", rb->names);
			rb->names = NULL;
		}
	}
	rv = gw_admin__audit_make(rb->a, rb->req, "rollback", NULL, NULL, NULL, extra, &rb->audit);
	if (rv != 0) {
		gw_admin__op_fail(rb->op, rv, NULL);
		goto out;
	}
	n_ops += gw_admin__audit_ops(&rb->audit, &ops[n_ops]);
	memset(&txn, 0, sizeof txn);
	txn.type = GW_OP_TXN;
	txn.u.txn.compares = rb->force ? NULL : cmps;
	txn.u.txn.n_compares = rb->force ? 0 : n_cmps;
	txn.u.txn.success = ops;
	txn.u.txn.n_success = n_ops;
	rv = gw_raft_propose(rb->a->raft, &txn, rb->a->write_timeout_ms, txn_done, rb);
	if (rv != 0) {
		gw_admin__op_fail(rb->op, rv, NULL);
		goto out;
	}
	rb->a->n_ops++;
	free(ops);
	free(cmps);
	return;
out:
	free(ops);
	free(cmps);
	rollback_free(rb);
}

/* The store holds every committed entry: plan on it (a follower's store
 * may lag, and a plan on a stale read could answer "nothing to do"). */
static void barrier_done(void *data, int err)
{
	struct rollback *rb = data;
	struct gw_admin *a = rb->a;
	char msg[512];
	cJSON *changed;
	int rv = err;

	msg[0] = '\0';
	if (rv == 0) {
		rv = read_all(rb, msg, sizeof msg);
	}
	if (rv == 0 && (rb->from > rb->read ||
			(rb->from > 0 && rb->from < gw_store_compact_revision(a->store)))) {
		gw_admin__history_window_msg(a, rb->from > rb->read ? GW_EFUTUREREV : GW_ECOMPACTED,
					     rb->from, msg, sizeof msg);
		rv = GW_EINVAL;
	}
	if (rv != 0) {
		gw_admin__op_fail(rb->op, rv, msg[0] ? msg : NULL);
		rollback_free(rb);
		return;
	}
	if (rb->from > 0 && !rb->force) {
		changed = changed_since(rb, rb->from);
		if (cJSON_GetArraySize(changed) > 0) {
			cJSON_Delete(changed);
			conflict(rb, rb->from);
			rollback_free(rb);
			return;
		}
		cJSON_Delete(changed);
	}
	run(rb);
}

void gw_admin__h_rollback(struct gw_admin *a, struct gw_http_req *req,
			  const struct gw_admin__match *m)
{
	struct rollback *rb = calloc(1, sizeof *rb);
	char msg[512], arg[16];
	int rv;

	(void)m;
	if (rb == NULL) {
		gw_admin__send_err(req, GW_ENOMEM, NULL);
		return;
	}
	rb->a = a;
	rb->req = req;
	rb->op = gw_admin__op_new(a, req, NULL, GW_ADMIN__M_POST);
	if (rb->op == NULL) {
		gw_admin__send_err(req, GW_ENOMEM, NULL);
		free(rb);
		return;
	}
	rb->force = gw_http_query_arg(req, "force", arg, sizeof arg) && strcmp(arg, "true") == 0;
	rb->dry_run =
	    gw_http_query_arg(req, "dry_run", arg, sizeof arg) && strcmp(arg, "true") == 0;
	rv = gw_admin__wait_parse(rb->op, msg, sizeof msg);
	if (rv == 0) {
		rv = parse(rb, msg, sizeof msg);
	}
	if (rv != 0) {
		gw_admin__op_fail(rb->op, rv, msg);
		rollback_free(rb);
		return;
	}
	rv = gw_raft_read_barrier(a->raft, a->write_timeout_ms, barrier_done, rb);
	if (rv != 0) {
		gw_admin__op_fail(rb->op, rv, NULL);
		rollback_free(rb);
	}
}
