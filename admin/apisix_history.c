/* apisix_history.c: the config's history through the Admin API, read from
 * the store's MVCC history (every node keeps it in its LMDB, the same on
 * every member):
 *   GET /apisix/admin/history?resource=routes[&id=1][&limit=100]
 *       the changes of one object (or of every object of a resource, or of
 *       all of /apisix/ without ?resource=), newest first: revision, op
 *       (create, update, delete), key, version and the object's
 *       update_time (set by the Admin API on every write; absent on a
 *       delete and on values written through the etcd API without it);
 *   GET /apisix/admin/<resource>/<id>?revision=N
 *       the object as it was at revision N (apisix_read.c hands it here).
 * Happy path: the history is replayed with a short-lived store watch from
 * the compact revision (gw_store_watch delivers past events from within
 * its call), keeping the newest ?limit= events, then the watch is dropped.
 * Failure modes: a revision older than the history window (compacted) is
 * 400 "revision N is outside the history window (compacted up to C; see
 * --history-revisions)"; a future one 400; bad arguments 400. Loop thread. */
#include "config.h"

#include "admin/apisix_int.h"
#include "lib/err.h"
#include "lib/httpd.h"
#include "store/store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HISTORY_DEFAULT_LIMIT 100
#define HISTORY_MAX_LIMIT     1000

/* The message of a revision out of the window into @msg. */
void gw_admin__history_window_msg(struct gw_admin *a, int err, int64_t rev, char *msg, size_t n)
{
	if (err == GW_ECOMPACTED) {
		snprintf(msg, n,
			 "revision %" PRId64 " is outside the history window (compacted up to "
			 "%" PRId64 "; see --history-revisions)",
			 rev, gw_store_compact_revision(a->store));
	} else if (err == GW_EFUTUREREV) {
		snprintf(msg, n,
			 "revision %" PRId64 " is in the future (current revision %" PRId64 ")",
			 rev, gw_store_revision(a->store));
	} else {
		snprintf(msg, n, "%s", gw_strerror(err));
	}
}

int gw_admin__revision_arg(struct gw_http_req *req, const char *name, int64_t *out)
{
	char arg[32], *end;
	long long v;

	*out = 0;
	if (gw_http_query_arg(req, name, arg, sizeof arg) == NULL) {
		return 0;
	}
	v = strtoll(arg, &end, 10);
	if (arg[0] == '\0' || *end != '\0' || v <= 0) {
		return GW_EINVAL;
	}
	*out = v;
	return 0;
}

int gw_admin__limit_arg(struct gw_http_req *req, long max, long *out)
{
	char arg[16], *e;
	long v;

	if (gw_http_query_arg(req, "limit", arg, sizeof arg) == NULL) {
		return 0;
	}
	v = strtol(arg, &e, 10);
	if (arg[0] == '\0' || *e != '\0' || v < 1 || v > max) {
		return GW_EINVAL;
	}
	*out = v;
	return 0;
}

bool gw_admin__get_at_revision(struct gw_admin *a, struct gw_http_req *req, const char *key)
{
	struct gw_range_req rq;
	struct gw_range_resp rs;
	char msg[256];
	int64_t rev;
	cJSON *o;
	int rv;

	if (gw_admin__revision_arg(req, "revision", &rev) != 0) {
		gw_admin__send_err(req, GW_EINVAL, "invalid revision: a positive integer");
		return true;
	}
	if (rev == 0) {
		return false;
	}
	memset(&rq, 0, sizeof rq);
	rq.key = key;
	rq.key_len = strlen(key);
	rq.revision = rev;
	rq.serializable = true;
	rv = gw_store_range(a->store, &rq, &rs);
	if (rv != 0) {
		gw_admin__history_window_msg(a, rv, rev, msg, sizeof msg);
		gw_admin__send_err(req, rv == GW_EIO ? rv : GW_EINVAL, msg);
		return true;
	}
	if (rs.n_kvs == 0) {
		gw_store_range_resp_free(&rs);
		gw_admin__send_err(req, GW_ENOTFOUND, NULL);
		return true;
	}
	o = gw_admin__kv_item(&rs.kvs[0]);
	if (o != NULL) {
		cJSON_AddNumberToObject(o, "revision", (double)rev);
	}
	gw_admin__send_json(req, 200, o);
	gw_store_range_resp_free(&rs);
	return true;
}

/* ---- GET /apisix/admin/history ------------------------------------------ */

struct collect {
	cJSON *list; /* oldest first while collecting */
	int n, limit;
	bool oom;
};

/* One change as the history lists it. */
static cJSON *change_item(const struct gw_event *ev)
{
	const struct gw_kv *kv = &ev->kv;
	cJSON *o = cJSON_CreateObject(), *v;
	const cJSON *t;
	char *key;

	if (o == NULL) {
		return NULL;
	}
	cJSON_AddNumberToObject(o, "revision", (double)kv->mod_revision);
	cJSON_AddStringToObject(o, "op",
				ev->type == GW_EVENT_DELETE ? "delete"
				: kv->version == 1          ? "create"
							    : "update");
	key = strndup(kv->key, kv->key_len);
	cJSON_AddStringToObject(o, "key", key ? key : "");
	free(key);
	if (ev->type == GW_EVENT_PUT) {
		cJSON_AddNumberToObject(o, "version", (double)kv->version);
		v = cJSON_ParseWithLength(kv->value, kv->value_len);
		t = cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, "update_time") : NULL;
		if (cJSON_IsNumber(t)) {
			cJSON_AddNumberToObject(o, "time", t->valuedouble);
		}
		cJSON_Delete(v);
	}
	return o;
}

static int on_events(struct gw_watcher *w, const struct gw_event *evs, size_t n, void *data)
{
	struct collect *c = data;
	size_t i;

	(void)w;
	for (i = 0; i < n; i++) {
		cJSON *it = change_item(&evs[i]);

		if (it == NULL) {
			c->oom = true;
			return 1;
		}
		cJSON_AddItemToArray(c->list, it);
		if (++c->n > c->limit) {
			cJSON_Delete(cJSON_DetachItemFromArray(c->list, 0));
			c->n--;
		}
	}
	return 0;
}

static void on_cancel(struct gw_watcher *w, int reason, int64_t compact_revision, void *data)
{
	(void)w;
	(void)reason;
	(void)compact_revision;
	(void)data;
}

/* The key range of the request: one object, a resource, or all of
 * /apisix/. 0, or GW_EINVAL / GW_ENOTFOUND with @msg. */
static int history_range(struct gw_http_req *req, char *key, char *end, size_t n, char *msg,
			 size_t mn)
{
	const struct gw_admin__resource *res;
	char name[64], id[160];

	if (gw_http_query_arg(req, "resource", name, sizeof name) == NULL) {
		snprintf(key, n, "/apisix/");
		gw_admin__prefix_end(key, end, n);
		return 0;
	}
	res = gw_admin__resource(name, false);
	if (res == NULL) {
		snprintf(msg, mn, "Unsupported resource type: %.60s", name);
		return GW_ENOTFOUND;
	}
	if (gw_http_query_arg(req, "id", id, sizeof id) == NULL || id[0] == '\0') {
		snprintf(key, n, "%s", res->prefix);
		gw_admin__prefix_end(key, end, n);
		return 0;
	}
	gw_admin__object_key(res, id, key, n);
	end[0] = '\0';
	return 0;
}

void gw_admin__h_history(struct gw_admin *a, struct gw_http_req *req,
			 const struct gw_admin__match *m)
{
	struct gw_watch_opts o;
	struct gw_watcher *w = NULL;
	struct collect c;
	char key[GW_ADMIN__MAX_KEY], end[GW_ADMIN__MAX_KEY], msg[256];
	int64_t since, start;
	cJSON *body, *out;
	long limit = HISTORY_DEFAULT_LIMIT;
	int rv;

	(void)m;
	rv = history_range(req, key, end, sizeof key, msg, sizeof msg);
	if (rv != 0) {
		gw_admin__send_err(req, rv, msg);
		return;
	}
	if (gw_admin__limit_arg(req, HISTORY_MAX_LIMIT, &limit) != 0) {
		gw_admin__send_err(req, GW_EINVAL, "invalid limit: an integer from 1 to 1000");
		return;
	}
	if (gw_admin__revision_arg(req, "since", &since) != 0) {
		gw_admin__send_err(req, GW_EINVAL, "invalid since: a positive revision");
		return;
	}
	start = gw_store_compact_revision(a->store);
	if (since > 0 && since < start) {
		gw_admin__history_window_msg(a, GW_ECOMPACTED, since, msg, sizeof msg);
		gw_admin__send_err(req, GW_EINVAL, msg);
		return;
	}
	start = since > start ? since : (start > 0 ? start : 1);
	memset(&c, 0, sizeof c);
	c.limit = (int)limit;
	c.list = cJSON_CreateArray();
	body = cJSON_CreateObject();
	if (c.list == NULL || body == NULL) {
		cJSON_Delete(c.list);
		cJSON_Delete(body);
		gw_admin__send_err(req, GW_ENOMEM, NULL);
		return;
	}
	if (start <= gw_store_revision(a->store)) {
		memset(&o, 0, sizeof o);
		o.key = key;
		o.key_len = strlen(key);
		o.range_end = end[0] ? end : NULL;
		o.range_end_len = strlen(end);
		o.start_revision = start;
		o.on_events = on_events;
		o.on_cancel = on_cancel;
		o.data = &c;
		rv = gw_store_watch(a->store, &o, &w);
		if (w != NULL) {
			gw_store_unwatch(w); /* the past is delivered; nothing live is wanted */
		}
	}
	if (rv != 0 || c.oom) {
		cJSON_Delete(c.list);
		cJSON_Delete(body);
		gw_admin__send_err(req, rv ? rv : GW_ENOMEM, NULL);
		return;
	}
	/* newest first */
	out = cJSON_CreateArray();
	while (out != NULL && cJSON_GetArraySize(c.list) > 0) {
		cJSON_AddItemToArray(
		    out, cJSON_DetachItemFromArray(c.list, cJSON_GetArraySize(c.list) - 1));
	}
	cJSON_Delete(c.list);
	cJSON_AddItemToObject(body, "list", out);
	cJSON_AddNumberToObject(body, "total", (double)cJSON_GetArraySize(out));
	cJSON_AddNumberToObject(body, "revision", (double)gw_store_revision(a->store));
	cJSON_AddNumberToObject(body, "compact_revision",
				(double)gw_store_compact_revision(a->store));
	gw_admin__send_json(req, 200, body);
}
