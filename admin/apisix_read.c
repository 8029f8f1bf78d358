/* apisix_read.c: the Admin API's reads (GET of one object, of a list with
 * filters and paging, of the plugin catalogue) and the store helpers the
 * writes share.
 *
 * Reads are serializable local reads (gw_store_range): they answer during
 * quorum loss, which is the product's promise; they may lag the leader by
 * the replication delay. A list is every key under the resource's prefix in
 * creation order, filtered (?name= and ?uri= regular expressions, ?label=
 * k[:v], ?filter=field=value) and paged (?page=, ?page_size= 10..500);
 * "total" counts every object that passed the filters.
 * Failure modes: bad query arguments -> 400, a missing object -> 404
 * {"message":"Key not found"}, store errors through gw_admin__answer.
 * Loop thread. */
#include "config.h"

#include "admin/apisix_int.h"
#include "lib/err.h"
#include "lib/httpd.h"
#include "lib/regex.h"
#include "schema/schema.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- store helpers ----------------------------------------------------- */

int gw_admin__read_key(struct gw_admin *a, const char *key, struct gw_range_resp *out, bool *found)
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

int gw_admin__read_prefix(struct gw_admin *a, const char *prefix, struct gw_range_resp *out)
{
	struct gw_range_req rq;
	char end[GW_ADMIN__MAX_KEY];

	gw_admin__prefix_end(prefix, end, sizeof(end));
	memset(&rq, 0, sizeof(rq));
	rq.key = prefix;
	rq.key_len = strlen(prefix);
	rq.range_end = end;
	rq.range_end_len = strlen(end);
	rq.serializable = true;
	return gw_store_range(a->store, &rq, out);
}

void gw_admin__prefix_end(const char *prefix, char *end, size_t n)
{
	size_t len = strlen(prefix);

	snprintf(end, n, "%s", prefix);
	if (len > 0 && len < n) {
		end[len - 1]++;
	}
}

bool gw_admin__field_id(const cJSON *obj, const char *field, char *out, size_t n)
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

/* snprintf "%s" without the format-truncation warnings of fixed buffers. */
void gw_admin__copy_str(char *dst, size_t n, const char *src)
{
	size_t l = strlen(src);

	if (l >= n) {
		l = n - 1;
	}
	memcpy(dst, src, l);
	dst[l] = '\0';
}

cJSON *gw_admin__kv_value(const struct gw_kv *kv)
{
	cJSON *v = cJSON_ParseWithLength(kv->value, kv->value_len);

	if (v == NULL) {
		char *s = strndup(kv->value ? kv->value : "", kv->value_len);
		v = cJSON_CreateString(s ? s : "");
		free(s);
	}
	return v;
}

cJSON *gw_admin__kv_item(const struct gw_kv *kv)
{
	cJSON *o = cJSON_CreateObject();
	char *key;

	if (o == NULL) {
		return NULL;
	}
	key = strndup(kv->key, kv->key_len);
	cJSON_AddStringToObject(o, "key", key ? key : "");
	free(key);
	cJSON_AddItemToObject(o, "value", gw_admin__kv_value(kv));
	gw_admin__ssl_redact(kv->key, kv->key_len, cJSON_GetObjectItemCaseSensitive(o, "value"));
	cJSON_AddNumberToObject(o, "createdIndex", (double)kv->create_revision);
	cJSON_AddNumberToObject(o, "modifiedIndex", (double)kv->mod_revision);
	return o;
}

/* ---- one object -------------------------------------------------------- */

static void get_one(struct gw_admin *a, struct gw_http_req *req, const char *key)
{
	struct gw_range_resp rs;
	bool found;
	int rv;

	memset(&rs, 0, sizeof(rs));
	rv = gw_admin__read_key(a, key, &rs, &found);
	if (rv != 0 || !found) {
		if (rv == 0) {
			gw_store_range_resp_free(&rs);
		}
		gw_admin__send_err(req, rv ? rv : GW_ENOTFOUND, NULL);
		return;
	}
	gw_admin__send_json(req, 200, gw_admin__kv_item(&rs.kvs[0]));
	gw_store_range_resp_free(&rs);
}

void gw_admin__h_get(struct gw_admin *a, struct gw_http_req *req, const struct gw_admin__match *m)
{
	char key[GW_ADMIN__MAX_PATH];

	gw_admin__object_key(m->res, m->id, key, sizeof(key));
	if (gw_admin__get_at_revision(a, req, key)) {
		return; /* ?revision=N: apisix_history.c */
	}
	get_one(a, req, key);
}

void gw_admin__h_not_found(struct gw_admin *a, struct gw_http_req *req,
			   const struct gw_admin__match *m)
{
	(void)a;
	(void)m;
	gw_admin__send_err(req, GW_ENOTFOUND, NULL);
}

/* ---- lists ------------------------------------------------------------- */

struct filters {
	struct gw_regex *name, *uri; /* NULL: no such filter */
	char label_k[128], label_v[128];
	bool has_label;
	char field[64], field_v[160];
	bool has_field;
	long page, page_size; /* page_size 0: everything */
};

static bool str_match(const struct gw_regex *re, const cJSON *x)
{
	return cJSON_IsString(x) && gw_regex_find(re, x->valuestring);
}

static bool keep(struct filters *f, const cJSON *v)
{
	const cJSON *x, *u;
	char id[160];
	bool ok;

	if (f->name != NULL && !str_match(f->name, cJSON_GetObjectItemCaseSensitive(v, "name"))) {
		return false;
	}
	if (f->uri != NULL) {
		ok = str_match(f->uri, cJSON_GetObjectItemCaseSensitive(v, "uri"));
		x = cJSON_GetObjectItemCaseSensitive(v, "uris");
		cJSON_ArrayForEach(u, x)
		{
			ok = ok || str_match(f->uri, u);
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
	    (!gw_admin__field_id(v, f->field, id, sizeof(id)) || strcmp(id, f->field_v) != 0)) {
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

static void filters_free(struct filters *f)
{
	gw_regex_free(f->name);
	gw_regex_free(f->uri);
}

/* The filters and page of a list request. 0, or GW_EINVAL with the reason
 * in *why (static); @f is to be freed with filters_free either way. */
static int filters_parse(struct gw_http_req *req, struct filters *f, const char **why)
{
	char arg[256], msg[200], *sep;

	memset(f, 0, sizeof(*f));
	f->page = 1;
	*why = NULL;
	if (!int_arg(req, "page", 1, 1000000, &f->page)) {
		*why = "page must be an integer >= 1";
	} else if (!int_arg(req, "page_size", 10, 500, &f->page_size)) {
		*why = "page_size must be an integer between 10 and 500";
	}
	if (*why == NULL && gw_http_query_arg(req, "name", arg, sizeof(arg)) != NULL) {
		*why = gw_regex_compile(arg, 0, &f->name, msg, sizeof(msg)) == 0
			   ? NULL
			   : "invalid regular expression in name";
	}
	if (*why == NULL && gw_http_query_arg(req, "uri", arg, sizeof(arg)) != NULL) {
		*why = gw_regex_compile(arg, 0, &f->uri, msg, sizeof(msg)) == 0
			   ? NULL
			   : "invalid regular expression in uri";
	}
	if (*why == NULL && gw_http_query_arg(req, "label", arg, sizeof(arg)) != NULL) {
		if ((sep = strchr(arg, ':')) != NULL) {
			*sep = '\0';
			snprintf(f->label_v, sizeof(f->label_v), "%s", sep + 1);
		}
		gw_admin__copy_str(f->label_k, sizeof(f->label_k), arg);
		f->has_label = true;
	}
	if (*why == NULL && gw_http_query_arg(req, "filter", arg, sizeof(arg)) != NULL) {
		if ((sep = strchr(arg, '=')) == NULL) {
			*why = "filter must be field=value";
		} else {
			*sep = '\0';
			gw_admin__copy_str(f->field, sizeof(f->field), arg);
			snprintf(f->field_v, sizeof(f->field_v), "%s", sep + 1);
			f->has_field = true;
		}
	}
	return *why ? GW_EINVAL : 0;
}

static int by_create_revision(const void *x, const void *y)
{
	const struct gw_kv *a = x, *b = y;

	return (a->create_revision > b->create_revision) -
	       (a->create_revision < b->create_revision);
}

/* {"list": [the page's items], "total": n} of the sorted @rs under @plen
 * bytes of prefix; NULL when out of memory. */
static cJSON *list_page(struct gw_range_resp *rs, size_t plen, bool only_direct, struct filters *f)
{
	cJSON *o = cJSON_CreateObject(), *list = cJSON_AddArrayToObject(o, "list"), *v;
	long total = 0, first, last;
	size_t i;

	first = f->page_size ? (f->page - 1) * f->page_size : 0;
	last = f->page_size ? first + f->page_size : -1;
	for (i = 0; i < rs->n_kvs && list != NULL; i++) {
		const struct gw_kv *kv = &rs->kvs[i];

		if (kv->key_len <= plen) {
			continue; /* the directory placeholder key itself */
		}
		if (only_direct && memchr(kv->key + plen, '/', kv->key_len - plen) != NULL) {
			continue; /* a consumer's credentials */
		}
		v = gw_admin__kv_value(kv);
		if (!keep(f, v)) {
			cJSON_Delete(v);
			continue;
		}
		cJSON_Delete(v);
		if (total >= first && (last < 0 || total < last)) {
			cJSON_AddItemToArray(list, gw_admin__kv_item(kv));
		}
		total++;
	}
	cJSON_AddNumberToObject(o, "total", (double)total);
	return o;
}

/* Answer the list of the objects under @prefix (@only_direct: not those
 * one more level down, i.e. a consumer's credentials). */
static void get_list(struct gw_admin *a, struct gw_http_req *req, const char *prefix,
		     bool only_direct)
{
	struct gw_range_req rq;
	struct gw_range_resp rs;
	struct filters f;
	const char *why;
	char end[GW_ADMIN__MAX_KEY];
	int rv;

	rv = filters_parse(req, &f, &why);
	if (rv != 0) {
		gw_admin__send_err(req, rv, why);
		goto out;
	}
	gw_admin__prefix_end(prefix, end, sizeof(end));
	memset(&rq, 0, sizeof(rq));
	rq.key = prefix;
	rq.key_len = strlen(prefix);
	rq.range_end = end;
	rq.range_end_len = strlen(end);
	rq.serializable = true;
	rv = gw_store_range(a->store, &rq, &rs);
	if (rv != 0) {
		gw_admin__send_err(req, rv, NULL);
		goto out;
	}
	if (rs.n_kvs > 1) { /* APISIX lists in creation order */
		qsort(rs.kvs, rs.n_kvs, sizeof(rs.kvs[0]), by_create_revision);
	}
	gw_admin__send_json(req, 200, list_page(&rs, strlen(prefix), only_direct, &f));
	gw_store_range_resp_free(&rs);
out:
	filters_free(&f);
}

void gw_admin__h_list(struct gw_admin *a, struct gw_http_req *req, const struct gw_admin__match *m)
{
	get_list(a, req, m->res->prefix, gw_admin__is(m->res, "consumers"));
}

void gw_admin__h_list_credentials(struct gw_admin *a, struct gw_http_req *req,
				  const struct gw_admin__match *m)
{
	char prefix[GW_ADMIN__MAX_PATH];
	int len = snprintf(prefix, sizeof(prefix), "/apisix/consumers/%s", m->id);

	if (len > 0 && (size_t)len < sizeof(prefix)) { /* else truncated: no such user */
		gw_admin__copy_str(prefix + len, sizeof(prefix) - (size_t)len, "/credentials/");
	}
	get_list(a, req, prefix, false);
}

/* ---- plugin catalogue -------------------------------------------------- */

void gw_admin__h_plugin_list(struct gw_admin *a, struct gw_http_req *req,
			     const struct gw_admin__match *m)
{
	const char *const *names;
	cJSON *arr = cJSON_CreateArray();

	(void)a;
	(void)m;
	for (names = gw_admin__plugin_names(); arr && *names; names++) {
		cJSON_AddItemToArray(arr, cJSON_CreateString(*names));
	}
	gw_admin__send_json(req, 200, arr);
}

void gw_admin__h_plugin_schema(struct gw_admin *a, struct gw_http_req *req,
			       const struct gw_admin__match *m)
{
	const char *schema = gw_admin__plugin_schema(m->id);
	const char *cons = gw_schema_plugin_consumer_schema(m->id);
	char type[16];

	(void)a;
	/* ?schema_type=consumer: an auth plugin's schema in a consumer */
	if (cons != NULL && gw_http_query_arg(req, "schema_type", type, sizeof(type)) != NULL &&
	    strcmp(type, "consumer") == 0) {
		schema = cons;
	}
	/* ?schema_type=metadata: its plugin_metadata schema */
	if (gw_http_query_arg(req, "schema_type", type, sizeof(type)) != NULL &&
	    strcmp(type, "metadata") == 0) {
		schema = gw_schema_plugin_metadata_schema(m->id);
	}
	if (schema == NULL) {
		gw_admin__send_err(req, GW_ENOTFOUND, NULL);
		return;
	}
	gw_admin__send_text(req, schema, strlen(schema));
}
