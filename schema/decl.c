/* decl.c: declarative config files (see decl.h).
 *
 * Happy path: libyaml's event stream becomes a cJSON document (plain
 * scalars typed by their YAML 1.1 spelling, quoted ones strings; each
 * object of a section remembers its line in a hidden member), collect
 * checks every object with gw_schema_check exactly as the Admin API does
 * and turns it into a (key, member-sorted JSON) pair, and diff merges two
 * key-sorted lists. Failure modes: bad YAML, aliases, nesting deeper than
 * 64, duplicate mapping keys, unknown sections, objects without a usable
 * id, duplicate ids and schema errors, each as "NAME:LINE: where: why".
 * No shared state; any thread. */
#include "config.h"

#include "schema/decl.h"
#include "lib/err.h"
#include "schema/schema.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_DEPTH 64
#define CONSUMERS 3           /* gw_schema_decl_sections index */
#define LINE_KEY  "\x01line"  /* hidden member: the source line of an item */
#define LINES_KEY "\x01lines" /* hidden member: {field: line} of an item's fields */

const char *const gw_schema_decl_sections[GW_SCHEMA_DECL_N] = {
    "routes",          "services",      "upstreams",    "consumers",
    "consumer_groups", "ssls",          "global_rules", "plugin_configs",
    "plugin_metadata", "stream_routes", "protos",       "secrets",
};

const struct gw_schema_decl_secret gw_schema_decl_secrets[GW_SCHEMA_DECL_N_SECRETS] = {
    {"key-auth", "key"},
    {"basic-auth", "password"},
    {"jwt-auth", "secret"},
    {"hmac-auth", "secret_key"},
};

/* Schema of each section (gw_schema_decl_sections order). */
static const char *const schemas[GW_SCHEMA_DECL_N] = {
    "route",       "service",       "upstream",        "consumer",     "consumer_group", "ssl",
    "global_rule", "plugin_config", "plugin_metadata", "stream_route", "proto",          "secret",
};

struct yp {
	yaml_parser_t p;
	const char *file;
	char *err; /* first error, "FILE:LINE: why" */
	size_t errlen;
	bool failed;
};

static void fail(struct yp *y, size_t line, const char *why)
{
	if (!y->failed) {
		snprintf(y->err, y->errlen, "%s:%zu: %s", y->file, line, why);
		y->failed = true;
	}
}

static bool next(struct yp *y, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&y->p, ev)) {
		char why[256];
		snprintf(why, sizeof why, "bad YAML: %s%s%s", y->p.problem ? y->p.problem : "?",
			 y->p.context ? " " : "", y->p.context ? y->p.context : "");
		fail(y, y->p.problem_mark.line + 1, why);
		return false;
	}
	return true;
}

/* A plain scalar as JSON: null, booleans and numbers by their YAML 1.1
 * spelling, else a string. Quoted scalars are strings. */
static cJSON *scalar(const yaml_event_t *ev)
{
	const char *s = (const char *)ev->data.scalar.value;
	size_t n = ev->data.scalar.length;
	char *end;
	double d;

	if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
		return cJSON_CreateString(s);
	}
	if (n == 0 || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
	    strcmp(s, "NULL") == 0) {
		return cJSON_CreateNull();
	}
	if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0) {
		return cJSON_CreateTrue();
	}
	if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 || strcmp(s, "FALSE") == 0) {
		return cJSON_CreateFalse();
	}
	if ((s[0] >= '0' && s[0] <= '9') || ((s[0] == '-' || s[0] == '+') && n > 1)) {
		d = strtod(s, &end);
		if (*end == '\0' && isfinite(d)) { /* "-nan", "1e999": strings */
			return cJSON_CreateNumber(d);
		}
	}
	return cJSON_CreateString(s);
}

/* The node whose first event is @ev (consumed); NULL on error (y->err). */
static cJSON *node(struct yp *y, yaml_event_t *ev, int depth)
{
	size_t line = ev->start_mark.line + 1;
	yaml_event_t e;
	cJSON *j = NULL;

	if (depth > MAX_DEPTH) {
		fail(y, line, "nested too deeply");
		return NULL;
	}
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		j = scalar(ev);
		break;
	case YAML_ALIAS_EVENT:
		fail(y, line, "YAML aliases are not supported");
		return NULL;
	case YAML_SEQUENCE_START_EVENT:
		j = cJSON_CreateArray();
		while (j != NULL && next(y, &e)) {
			cJSON *c;
			if (e.type == YAML_SEQUENCE_END_EVENT) {
				yaml_event_delete(&e);
				return j;
			}
			c = node(y, &e, depth + 1);
			yaml_event_delete(&e);
			if (c == NULL) {
				break;
			}
			cJSON_AddItemToArray(j, c);
		}
		cJSON_Delete(j);
		return NULL;
	case YAML_MAPPING_START_EVENT:
		j = cJSON_CreateObject();
		if (j != NULL && depth == 2) {
			cJSON_AddNumberToObject(j, LINE_KEY, (double)line);
			cJSON_AddObjectToObject(j, LINES_KEY);
		}
		while (j != NULL && next(y, &e)) {
			char *key;
			size_t kline = e.start_mark.line + 1;
			cJSON *c;
			if (e.type == YAML_MAPPING_END_EVENT) {
				yaml_event_delete(&e);
				return j;
			}
			if (e.type != YAML_SCALAR_EVENT) {
				yaml_event_delete(&e);
				fail(y, kline, "a mapping key must be a scalar");
				break;
			}
			key = strdup((const char *)e.data.scalar.value);
			yaml_event_delete(&e);
			if (key == NULL || !next(y, &e)) {
				free(key);
				break;
			}
			if (cJSON_GetObjectItemCaseSensitive(j, key) != NULL) {
				char why[128];
				snprintf(why, sizeof why, "duplicate key \"%.80s\"", key);
				yaml_event_delete(&e);
				free(key);
				fail(y, kline, why);
				break;
			}
			c = node(y, &e, depth + 1);
			yaml_event_delete(&e);
			if (c == NULL) {
				free(key);
				break;
			}
			if (depth == 2) {
				cJSON_AddNumberToObject(
				    cJSON_GetObjectItemCaseSensitive(j, LINES_KEY), key,
				    (double)kline);
			}
			cJSON_AddItemToObject(j, key, c);
			free(key);
		}
		cJSON_Delete(j);
		return NULL;
	default:
		fail(y, line, "unexpected YAML event");
		return NULL;
	}
	if (j == NULL) {
		fail(y, line, "out of memory");
	}
	return j;
}

cJSON *gw_schema_decl_parse(const char *file, const char *text, size_t len, char *err,
			    size_t errlen)
{
	struct yp y = {.file = file, .err = err, .errlen = errlen};
	yaml_event_t ev;
	cJSON *root = NULL;
	bool done = false;

	if (!yaml_parser_initialize(&y.p)) {
		snprintf(err, errlen, "%s: out of memory", file);
		return NULL;
	}
	yaml_parser_set_input_string(&y.p, (const unsigned char *)text, len);
	while (!done && next(&y, &ev)) {
		switch (ev.type) {
		case YAML_STREAM_START_EVENT:
		case YAML_DOCUMENT_START_EVENT:
		case YAML_DOCUMENT_END_EVENT:
			break;
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		default:
			if (root != NULL) {
				fail(&y, ev.start_mark.line + 1, "more than one YAML document");
				done = true;
				break;
			}
			root = node(&y, &ev, 0);
			if (root == NULL) {
				done = true;
			}
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&y.p);
	if (y.failed) {
		cJSON_Delete(root);
		return NULL;
	}
	if (root == NULL) {
		root = cJSON_CreateObject(); /* an empty file: no resources */
	}
	return root;
}

/* ---- lists -------------------------------------------------------------- */

static int push(struct gw_schema_decl *d, char *key, char *value, long line)
{
	if (key == NULL || value == NULL) {
		goto fail;
	}
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 64;
		struct gw_schema_decl_obj *p = realloc(d->objs, cap * sizeof *p);
		if (p == NULL) {
			goto fail;
		}
		d->objs = p;
		d->cap = cap;
	}
	d->objs[d->n].key = key;
	d->objs[d->n].value = value;
	d->objs[d->n].op = 0;
	d->objs[d->n].line = line;
	d->n++;
	return 0;
fail:
	free(key);
	free(value);
	return GW_ENOMEM;
}

void gw_schema_decl_free(struct gw_schema_decl *d)
{
	for (size_t k = 0; k < d->n; k++) {
		free(d->objs[k].key);
		free(d->objs[k].value);
	}
	free(d->objs);
	d->objs = NULL;
	d->n = d->cap = 0;
}

static int obj_cmp(const void *a, const void *b)
{
	return strcmp(((const struct gw_schema_decl_obj *)a)->key,
		      ((const struct gw_schema_decl_obj *)b)->key);
}

void gw_schema_decl_sort_keys(struct gw_schema_decl *d)
{
	if (d->n > 1) {
		qsort(d->objs, d->n, sizeof *d->objs, obj_cmp);
	}
}

void gw_schema_decl_sort(cJSON *j)
{
	cJSON *c;

	if (cJSON_IsObject(j) && j->child != NULL) {
		/* insertion sort of the linked list: objects are small */
		cJSON *sorted = NULL, *next;
		for (c = j->child; c != NULL; c = next) {
			cJSON **at = &sorted, *prev = NULL;
			next = c->next;
			while (*at != NULL && strcmp((*at)->string, c->string) <= 0) {
				prev = *at;
				at = &(*at)->next;
			}
			c->next = *at;
			c->prev = prev;
			if (*at != NULL) {
				(*at)->prev = c;
			}
			*at = c;
		}
		/* cJSON keeps the head's prev pointing at the tail */
		for (c = sorted; c->next != NULL; c = c->next) {
		}
		sorted->prev = c;
		j->child = sorted;
	}
	for (c = j->child; c != NULL; c = c->next) {
		gw_schema_decl_sort(c);
	}
}

static char *make_key(const char *section, const char *id)
{
	size_t n = strlen(section) + strlen(id) + 10;
	char *k = malloc(n);

	if (k != NULL) {
		snprintf(k, n, "/apisix/%s/%s", section, id);
	}
	return k;
}

/* A usable id: letters, digits, - _ . (and / for secrets), no "..". */
static bool good_id(const char *ids, bool slash)
{
	size_t n = ids != NULL ? strlen(ids) : 0;

	return n > 0 && n <= 256 &&
	       strspn(ids, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./") ==
		   n &&
	       strstr(ids, "..") == NULL && (slash || strchr(ids, '/') == NULL);
}

/* Check one object of section @s and append it. */
static int collect_item(const char *where, size_t s, int index, cJSON *item,
			struct gw_schema_decl *out, long line, char *err, size_t errlen)
{
	cJSON *id;
	char why[512], idbuf[64];
	const char *ids;
	int rv;

	if (!cJSON_IsObject(item)) {
		snprintf(err, errlen, "%s: must be a mapping", where);
		return GW_EINVAL;
	}
	id = cJSON_GetObjectItemCaseSensitive(item, "id");
	if (s == CONSUMERS) {
		/* named by username, without an id (APISIX's consumer schema) */
		const char *u =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(item, "username"));
		if (id != NULL &&
		    (u == NULL || !cJSON_IsString(id) || strcmp(u, id->valuestring))) {
			snprintf(err, errlen,
				 "%s: a consumer is named by its \"username\", not an id", where);
			return GW_EINVAL;
		}
		cJSON_DeleteItemFromObjectCaseSensitive(item, "id");
		ids = u;
		if (!good_id(ids, false)) {
			snprintf(err, errlen, "%s: needs a \"username\" (letters, digits, - _)",
				 where);
			return GW_EINVAL;
		}
		goto check;
	}
	if (id == NULL && s != 8 && s != 11) { /* plugin_metadata, secrets: named */
		/* APISIX names an object without id "arr_<position>" (1-based) */
		snprintf(idbuf, sizeof idbuf, "arr_%d", index);
		cJSON_AddStringToObject(item, "id", idbuf);
		id = cJSON_GetObjectItemCaseSensitive(item, "id");
	}
	if (cJSON_IsNumber(id) && id->valuedouble == (double)(long long)id->valuedouble) {
		snprintf(idbuf, sizeof idbuf, "%lld", (long long)id->valuedouble);
		cJSON_ReplaceItemInObjectCaseSensitive(item, "id", cJSON_CreateString(idbuf));
		id = cJSON_GetObjectItemCaseSensitive(item, "id");
	}
	ids = cJSON_GetStringValue(id);
	if (!good_id(ids, s == 11)) {
		snprintf(err, errlen, "%s: needs an \"id\" (letters, digits, - _ .)", where);
		return GW_EINVAL;
	}
check:
	cJSON_DeleteItemFromObjectCaseSensitive(item, "create_time");
	cJSON_DeleteItemFromObjectCaseSensitive(item, "update_time");
	rv = gw_schema_check(schemas[s], item, 0, why, sizeof why);
	if (rv != 0) {
		snprintf(err, errlen, "%s (id %s): %s", where, ids,
			 rv == GW_ENOMEM ? "out of memory" : why);
		return rv == GW_ENOMEM ? rv : GW_EINVAL;
	}
	gw_schema_decl_sort(item);
	if (push(out, make_key(gw_schema_decl_sections[s], ids), cJSON_PrintUnformatted(item),
		 line) != 0) {
		snprintf(err, errlen, "out of memory");
		return GW_ENOMEM;
	}
	return 0;
}

/* A schema error about a field ('property "X" ...') of an object: point
 * "FILE:LINE:" of @err at the line of the field X (from @lines, {field:
 * line}) instead of the object's. */
static void field_line(const char *file, const cJSON *lines, char *err, size_t errlen)
{
	const char *p = strstr(err, "property \""), *q, *rest;
	char name[128], tmp[1024];
	const cJSON *l;
	size_t fl = strlen(file);

	if (p == NULL || strncmp(err, file, fl) != 0 || err[fl] != ':') {
		return;
	}
	p += strlen("property \"");
	q = strchr(p, '"');
	if (q == NULL || (size_t)(q - p) >= sizeof name) {
		return;
	}
	memcpy(name, p, (size_t)(q - p));
	name[q - p] = '\0';
	l = cJSON_GetObjectItemCaseSensitive(lines, name);
	rest = strchr(err + fl + 1, ':'); /* after "FILE:LINE" */
	if (!cJSON_IsNumber(l) || rest == NULL) {
		return;
	}
	snprintf(tmp, sizeof tmp, "%s:%ld%s", file, (long)l->valuedouble, rest);
	snprintf(err, errlen, "%s", tmp);
}

/* "<section>_conf_version": APISIX's API-driven standalone bookkeeping. */
static bool conf_version(const char *name)
{
	size_t n = strlen(name), v = strlen("_conf_version");

	return n > v && strcmp(name + n - v, "_conf_version") == 0;
}

/* APISIX's "plugins:" section ([{name, stream}], the plugins to enable):
 * every plugin of the catalogue is always on here, so it is only checked
 * for names the proxy does not have. 0 or GW_EINVAL with @err. */
static int check_plugin_list(const char *file, const cJSON *sec, char *err, size_t errlen)
{
	const cJSON *it;
	int i = 0;

	if (!cJSON_IsArray(sec) && !cJSON_IsNull(sec)) {
		snprintf(err, errlen, "%s: section plugins must be a list of {name: ...}", file);
		return GW_EINVAL;
	}
	cJSON_ArrayForEach(it, sec)
	{
		const char *name =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "name"));
		const cJSON *stream = cJSON_GetObjectItemCaseSensitive(it, "stream");

		if (name == NULL) {
			snprintf(err, errlen, "%s: plugins[%d]: needs a \"name\"", file, i);
			return GW_EINVAL;
		}
		if (!cJSON_IsTrue(stream) && !gw_schema_plugin_validated(name)) {
			snprintf(err, errlen, "%s: plugins[%d]: unknown plugin [%.80s]", file, i,
				 name);
			return GW_EINVAL;
		}
		i++;
	}
	return 0;
}

int gw_schema_decl_collect(const char *file, cJSON *root, struct gw_schema_decl *out, char *err,
			   size_t errlen)
{
	const cJSON *sec;
	size_t first = out->n;
	int rv;

	if (!cJSON_IsObject(root)) {
		snprintf(err, errlen, "%s: the file must be a mapping of sections (routes: ...)",
			 file);
		return GW_EINVAL;
	}
	cJSON_ArrayForEach(sec, root)
	{
		size_t s;
		int i = 0;
		cJSON *item;

		for (s = 0; s < GW_SCHEMA_DECL_N; s++) {
			if (strcmp(sec->string, gw_schema_decl_sections[s]) == 0) {
				break;
			}
		}
		if (s == GW_SCHEMA_DECL_N && conf_version(sec->string)) {
			continue;
		}
		if (s == GW_SCHEMA_DECL_N && strcmp(sec->string, "plugins") == 0) {
			rv = check_plugin_list(file, sec, err, errlen);
			if (rv != 0) {
				return rv;
			}
			continue;
		}
		if (s == GW_SCHEMA_DECL_N) {
			snprintf(err, errlen, "%s: unknown section \"%.80s\"", file, sec->string);
			return GW_EINVAL;
		}
		if (!cJSON_IsArray(sec) && !cJSON_IsNull(sec)) {
			snprintf(err, errlen, "%s: section %s must be a list", file, sec->string);
			return GW_EINVAL;
		}
		cJSON_ArrayForEach(item, sec)
		{
			const cJSON *lj = cJSON_GetObjectItemCaseSensitive(item, LINE_KEY);
			long line = cJSON_IsNumber(lj) ? (long)lj->valuedouble : 0;
			char where[256];

			cJSON *lines = cJSON_DetachItemFromObjectCaseSensitive(item, LINES_KEY);

			cJSON_DeleteItemFromObjectCaseSensitive(item, LINE_KEY);
			if (line > 0) {
				snprintf(where, sizeof where, "%s:%ld: %s[%d]", file, line,
					 sec->string, i);
			} else {
				snprintf(where, sizeof where, "%s: %s[%d]", file, sec->string, i);
			}
			i++;
			rv = collect_item(where, s, i, item, out, line, err, errlen);
			if (rv == GW_EINVAL && lines != NULL) {
				field_line(file, lines, err, errlen);
			}
			cJSON_Delete(lines);
			if (rv != 0) {
				return rv;
			}
		}
	}
	if (out->n - first > 1) {
		qsort(out->objs + first, out->n - first, sizeof *out->objs, obj_cmp);
	}
	for (size_t k = first + 1; k < out->n; k++) {
		if (strcmp(out->objs[k].key, out->objs[k - 1].key) == 0) {
			long l = out->objs[k].line > out->objs[k - 1].line ? out->objs[k].line
									   : out->objs[k - 1].line;
			if (l > 0) {
				snprintf(err, errlen, "%s:%ld: %s is given twice", file, l,
					 out->objs[k].key);
			} else {
				snprintf(err, errlen, "%s: %s is given twice", file,
					 out->objs[k].key);
			}
			return GW_EINVAL;
		}
	}
	return 0;
}

int gw_schema_decl_add_stored(struct gw_schema_decl *d, const char *key, size_t klen,
			      const char *val, size_t vlen)
{
	const char *rest;
	char *id;
	size_t s, n;
	cJSON *obj;
	int rv;

	if (klen <= 8 || memcmp(key, "/apisix/", 8) != 0) {
		return 1;
	}
	rest = key + 8;
	klen -= 8;
	for (s = 0; s < GW_SCHEMA_DECL_N; s++) {
		n = strlen(gw_schema_decl_sections[s]);
		if (klen > n + 1 && memcmp(rest, gw_schema_decl_sections[s], n) == 0 &&
		    rest[n] == '/') {
			break;
		}
	}
	if (s == GW_SCHEMA_DECL_N) {
		return 1; /* not a resource (or an unknown one) */
	}
	n = strlen(gw_schema_decl_sections[s]);
	{
		/* below an object (a consumer's credentials/<id>) is not one;
		 * a secret's id is <manager>/<id> */
		const char *slash = memchr(rest + n + 1, '/', klen - n - 1);
		if (slash != NULL &&
		    (s != 11 ||
		     memchr(slash + 1, '/', (size_t)(rest + klen - slash - 1)) != NULL)) {
			return 1;
		}
	}
	id = strndup(rest + n + 1, klen - n - 1);
	if (id == NULL) {
		return GW_ENOMEM;
	}
	obj = cJSON_ParseWithLength(val, vlen);
	if (!cJSON_IsObject(obj)) {
		cJSON_Delete(obj);
		free(id);
		return GW_EINVAL;
	}
	cJSON_DeleteItemFromObjectCaseSensitive(obj, "create_time");
	cJSON_DeleteItemFromObjectCaseSensitive(obj, "update_time");
	cJSON_DeleteItemFromObjectCaseSensitive(obj, "id");
	if (s != CONSUMERS && cJSON_AddStringToObject(obj, "id", id) == NULL) {
		cJSON_Delete(obj);
		free(id);
		return GW_ENOMEM;
	}
	gw_schema_decl_sort(obj);
	rv = push(d, make_key(gw_schema_decl_sections[s], id), cJSON_PrintUnformatted(obj), 0);
	cJSON_Delete(obj);
	free(id);
	return rv;
}

int gw_schema_decl_diff(const struct gw_schema_decl *want, const struct gw_schema_decl *have,
			bool prune, struct gw_schema_decl_diff *out)
{
	size_t i = 0, k = 0;

	memset(out, 0, sizeof *out);
	out->ops = calloc(want->n + have->n + 1, sizeof *out->ops);
	if (out->ops == NULL) {
		return GW_ENOMEM;
	}
	while (i < want->n || k < have->n) {
		int c = i == want->n   ? 1
			: k == have->n ? -1
				       : strcmp(want->objs[i].key, have->objs[k].key);
		if (c < 0) {
			out->ops[out->n] = want->objs[i++];
			out->ops[out->n++].op = '+';
			out->n_add++;
		} else if (c > 0) {
			if (prune) {
				out->ops[out->n] = have->objs[k];
				out->ops[out->n++].op = '-';
				out->n_del++;
			}
			k++;
		} else {
			if (strcmp(want->objs[i].value, have->objs[k].value) != 0) {
				out->ops[out->n] = want->objs[i];
				out->ops[out->n++].op = '~';
				out->n_mod++;
			} else {
				out->same++;
			}
			i++;
			k++;
		}
	}
	return 0;
}

char *gw_schema_decl_stamped(const char *value, const char *old, size_t old_len, int64_t now)
{
	cJSON *v = cJSON_Parse(value), *ov = NULL;
	const cJSON *ct = NULL;
	char *text;

	if (v == NULL) {
		return NULL;
	}
	if (old != NULL) {
		ov = cJSON_ParseWithLength(old, old_len);
		ct = cJSON_GetObjectItemCaseSensitive(ov, "create_time");
	}
	cJSON_AddNumberToObject(v, "create_time",
				cJSON_IsNumber(ct) ? ct->valuedouble : (double)now);
	cJSON_AddNumberToObject(v, "update_time", (double)now);
	cJSON_Delete(ov);
	text = cJSON_PrintUnformatted(v);
	cJSON_Delete(v);
	return text;
}
