/* configfile_apply.c: `apigw config apply FILE [--dry-run] [--prune]
 * [--endpoint HOST:PORT]`, the cluster made to match a declarative file.
 *
 * Happy path: read FILE (APISIX's standalone apisix.yaml layout, YAML or
 * JSON, as `apigw config export` writes it), check every object against
 * its schema exactly as the Admin API would (schema/), compute the diff
 * against the cluster (one consistent range of /apisix/, compared as
 * member-sorted JSON without create/update_time), print it ("+ key",
 * "~ key", "- key" with --prune for objects absent from the file) and,
 * unless --dry-run, write it with etcd Txn requests through the member's
 * JSON gateway: one transaction when the diff has at most 128 operations
 * (etcd's --max-txn-ops), else consecutive transactions of 128 (said on
 * stdout). A second apply of the same file finds nothing to do and says so.
 * Failure modes: bad YAML, a wrong layout or a schema error stop before
 * anything is written, with "FILE:LINE: section[i] (id X): why"; a failed
 * transaction is printed with the gateway's message (earlier ones of a
 * large diff stay applied). Exit 0, 1, or 2 (usage). Threads: main. */
#include "config.h"

#include "node/backup_int.h"
#include "node/configfile_int.h"
#include "schema/schema.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_FILE  (64u << 20)
#define MAX_DEPTH 64
#define TXN_OPS   128
#define LINE_KEY  "\x01line" /* hidden member: the source line of an item */

/* Schema of each section (gw_node__cf_sections order). */
static const char *const schemas[GW_NODE__CF_N] = {
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
		if (*end == '\0') {
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

/* FILE text -> JSON document; NULL with "FILE:LINE: why" in @err. */
static cJSON *parse_yaml(const char *file, const char *text, size_t len, char *err, size_t errlen)
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

struct want {
	char *key;   /* /apisix/<section>/<id> */
	char *value; /* member-sorted JSON */
	int op;      /* 0 unchanged, '+', '~', '-' */
};

static void wants_free(struct want *w, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		free(w[k].key);
		free(w[k].value);
	}
	free(w);
}

static int want_cmp(const void *a, const void *b)
{
	return strcmp(((const struct want *)a)->key, ((const struct want *)b)->key);
}

/* Check the document and turn it into sorted (key, value) pairs. 0 or -1
 * with the reason in @err. */
static int collect(const char *file, cJSON *root, struct want **out, size_t *n_out, char *err,
		   size_t errlen)
{
	struct want *w = NULL;
	size_t n = 0, cap = 0;
	const cJSON *sec;

	*out = NULL;
	*n_out = 0;
	if (!cJSON_IsObject(root)) {
		snprintf(err, errlen, "%s: the file must be a mapping of sections (routes: ...)",
			 file);
		return -1;
	}
	cJSON_ArrayForEach(sec, root)
	{
		size_t s;
		int i = 0;
		cJSON *item;
		for (s = 0; s < GW_NODE__CF_N; s++) {
			if (strcmp(sec->string, gw_node__cf_sections[s]) == 0) {
				break;
			}
		}
		if (s == GW_NODE__CF_N) {
			snprintf(err, errlen, "%s: unknown section \"%.80s\"", file, sec->string);
			goto fail;
		}
		if (!cJSON_IsArray(sec) && !cJSON_IsNull(sec)) {
			snprintf(err, errlen, "%s: section %s must be a list", file, sec->string);
			goto fail;
		}
		cJSON_ArrayForEach(item, sec)
		{
			const cJSON *lj = cJSON_GetObjectItemCaseSensitive(item, LINE_KEY);
			long line = cJSON_IsNumber(lj) ? (long)lj->valuedouble : 0;
			cJSON *id;
			char where[256], why[512], idbuf[64];
			const char *ids;

			cJSON_DeleteItemFromObjectCaseSensitive(item, LINE_KEY);
			if (line > 0) {
				snprintf(where, sizeof where, "%s:%ld: %s[%d]", file, line,
					 sec->string, i);
			} else {
				snprintf(where, sizeof where, "%s: %s[%d]", file, sec->string, i);
			}
			i++;
			if (!cJSON_IsObject(item)) {
				snprintf(err, errlen, "%s: must be a mapping", where);
				goto fail;
			}
			id = cJSON_GetObjectItemCaseSensitive(item, "id");
			if (cJSON_IsNumber(id) &&
			    id->valuedouble == (double)(long long)id->valuedouble) {
				snprintf(idbuf, sizeof idbuf, "%lld", (long long)id->valuedouble);
				cJSON_ReplaceItemInObjectCaseSensitive(item, "id",
								       cJSON_CreateString(idbuf));
				id = cJSON_GetObjectItemCaseSensitive(item, "id");
			}
			ids = cJSON_GetStringValue(id);
			if (ids == NULL || *ids == '\0' || strlen(ids) > 256 ||
			    strspn(ids, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123"
					"456789-_./") != strlen(ids) ||
			    strstr(ids, "..") != NULL || (s != 11 && strchr(ids, '/') != NULL)) {
				snprintf(err, errlen,
					 "%s: needs an \"id\" (letters, digits, - _ .)", where);
				goto fail;
			}
			cJSON_DeleteItemFromObjectCaseSensitive(item, "create_time");
			cJSON_DeleteItemFromObjectCaseSensitive(item, "update_time");
			if (gw_schema_check(schemas[s], item, 0, why, sizeof why) != 0) {
				snprintf(err, errlen, "%s (id %s): %s", where, ids, why);
				goto fail;
			}
			if (n == cap) {
				struct want *p = realloc(w, (cap ? cap * 2 : 64) * sizeof *p);
				if (p == NULL) {
					snprintf(err, errlen, "out of memory");
					goto fail;
				}
				w = p;
				cap = cap ? cap * 2 : 64;
			}
			gw_node__cf_sort(item);
			w[n].op = 0;
			w[n].value = cJSON_PrintUnformatted(item);
			w[n].key = malloc(strlen(sec->string) + strlen(ids) + 10);
			if (w[n].value == NULL || w[n].key == NULL) {
				free(w[n].value);
				free(w[n].key);
				snprintf(err, errlen, "out of memory");
				goto fail;
			}
			sprintf(w[n].key, "/apisix/%s/%s", sec->string, ids);
			n++;
			if (n > 1 && strcmp(w[n - 1].key, w[n - 2].key) == 0) {
				snprintf(err, errlen, "%s: duplicate id %s", where, ids);
				goto fail;
			}
		}
	}
	qsort(w, n, sizeof *w, want_cmp);
	for (size_t k = 1; k < n; k++) {
		if (strcmp(w[k].key, w[k - 1].key) == 0) {
			snprintf(err, errlen, "%s: %s is given twice", file, w[k].key);
			goto fail;
		}
	}
	*out = w;
	*n_out = n;
	return 0;
fail:
	wants_free(w, n);
	return -1;
}

static char *b64(const char *s)
{
	size_t n = strlen(s);
	char *out = malloc(4 * ((n + 2) / 3) + 1);
	if (out != NULL) {
		EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)n);
	}
	return out;
}

/* Run ops [from, to) of @ops as one etcd Txn. 0 or -1 (printed). */
static int txn(const char *endpoint, struct want *ops, size_t from, size_t to)
{
	cJSON *req = cJSON_CreateObject(), *succ = cJSON_AddArrayToObject(req, "success");
	struct gw_buf body;
	char *text;
	int st, rv = -1;

	for (size_t i = from; i < to; i++) {
		cJSON *op = cJSON_CreateObject(), *r;
		char *k = b64(ops[i].key), *v = ops[i].op == '-' ? NULL : b64(ops[i].value);
		if (ops[i].op == '-') {
			r = cJSON_AddObjectToObject(op, "request_delete_range");
		} else {
			r = cJSON_AddObjectToObject(op, "request_put");
			cJSON_AddStringToObject(r, "value", v != NULL ? v : "");
		}
		cJSON_AddStringToObject(r, "key", k != NULL ? k : "");
		cJSON_AddItemToArray(succ, op);
		free(k);
		free(v);
	}
	text = cJSON_PrintUnformatted(req);
	cJSON_Delete(req);
	if (text == NULL) {
		fprintf(stderr, "apigw: config apply: out of memory\n");
		return -1;
	}
	gw_buf_init(&body);
	st = gw_node__cf_post(endpoint, "/v3/kv/txn", text, &body);
	free(text);
	if (st == 200) {
		rv = 0;
	} else if (st > 0) {
		fprintf(stderr, "apigw: config apply: the transaction failed (%d): %.300s\n", st,
			body.data != NULL ? body.data : "");
	}
	gw_buf_close(&body);
	return rv;
}

/* The cluster's objects as sorted (key, value) pairs; -1 when out of memory. */
static int current(cJSON *cur, struct want **out, size_t *n_out)
{
	struct want *c = NULL;
	size_t n = 0, cap = 0;
	cJSON *sec, *obj;

	cJSON_ArrayForEach(sec, cur)
	{
		cJSON_ArrayForEach(obj, sec)
		{
			const char *id =
			    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, "id"));
			if (id == NULL) {
				continue;
			}
			if (n == cap) {
				struct want *p = realloc(c, (cap ? cap * 2 : 64) * sizeof *p);
				if (p == NULL) {
					goto fail;
				}
				c = p;
				cap = cap ? cap * 2 : 64;
			}
			c[n].op = 0;
			c[n].value = cJSON_PrintUnformatted(obj);
			c[n].key = malloc(strlen(sec->string) + strlen(id) + 10);
			if (c[n].value == NULL || c[n].key == NULL) {
				free(c[n].value);
				free(c[n].key);
				goto fail;
			}
			sprintf(c[n].key, "/apisix/%s/%s", sec->string, id);
			n++;
		}
	}
	if (n > 0) {
		qsort(c, n, sizeof *c, want_cmp);
	}
	*out = c;
	*n_out = n;
	return 0;
fail:
	wants_free(c, n);
	return -1;
}

int gw_node__cf_apply_main(int argc, char **argv)
{
	const char *endpoint = "127.0.0.1:2379", *file = NULL;
	bool dry = false, prune = false;
	struct want *w = NULL, *have = NULL, *ops = NULL;
	size_t n = 0, n_have = 0, n_ops = 0, n_add = 0, n_mod = 0, n_del = 0, same = 0;
	cJSON *root = NULL, *cur = NULL;
	char err[1024];
	void *text = NULL;
	size_t len, i, k;
	int rv = 1;

	for (int a = 3; a < argc; a++) {
		const char *s = argv[a];
		int r = gw_node__flag(argc, argv, &a, "--endpoint", &endpoint, "config apply");
		if (r < 0) {
			return 2;
		} else if (r > 0) {
			continue;
		} else if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
			printf("usage: apigw config apply FILE [--dry-run] [--prune] [--endpoint "
			       "HOST:PORT]\n  make the cluster's APISIX resources match FILE (the "
			       "layout of apigw config export);\n  see docs/backup.md\n");
			return 0;
		} else if (strcmp(s, "--dry-run") == 0) {
			dry = true;
		} else if (strcmp(s, "--prune") == 0) {
			prune = true;
		} else if (s[0] != '-' && file == NULL) {
			file = s;
		} else {
			fprintf(stderr, "apigw: config apply: unexpected argument '%s'\n", s);
			return 2;
		}
	}
	if (file == NULL) {
		fprintf(stderr, "usage: apigw config apply FILE [--dry-run] [--prune] [--endpoint "
				"HOST:PORT]\n");
		return 2;
	}
	if (gw_node__backup_read(file, &text, &len) != 0) {
		return 1;
	}
	if (len > MAX_FILE) {
		fprintf(stderr, "apigw: config apply: %s is larger than 64 MiB\n", file);
		goto out;
	}
	root = parse_yaml(file, text, len, err, sizeof err);
	if (root == NULL || collect(file, root, &w, &n, err, sizeof err) != 0) {
		fprintf(stderr, "apigw: %s\n", err);
		goto out;
	}
	if (gw_node__cf_fetch(endpoint, &cur) != 0) {
		goto out;
	}
	if (current(cur, &have, &n_have) != 0) {
		fprintf(stderr, "apigw: config apply: out of memory\n");
		goto out;
	}
	ops = calloc(n + n_have + 1, sizeof *ops);
	if (ops == NULL) {
		fprintf(stderr, "apigw: config apply: out of memory\n");
		goto out;
	}
	/* merge the two sorted lists */
	for (i = 0, k = 0; i < n || k < n_have;) {
		int c = i == n ? 1 : k == n_have ? -1 : strcmp(w[i].key, have[k].key);
		if (c < 0) {
			ops[n_ops] = w[i++];
			ops[n_ops++].op = '+';
			n_add++;
		} else if (c > 0) {
			if (prune) {
				ops[n_ops] = have[k];
				ops[n_ops++].op = '-';
				n_del++;
			}
			k++;
		} else {
			if (strcmp(w[i].value, have[k].value) != 0) {
				ops[n_ops] = w[i];
				ops[n_ops++].op = '~';
				n_mod++;
			} else {
				same++;
			}
			i++;
			k++;
		}
	}
	for (i = 0; i < n_ops; i++) {
		printf("%c %s\n", ops[i].op, ops[i].key);
	}
	if (n_ops == 0) {
		printf("no changes: the cluster matches %s (%zu objects)\n", file, same);
		rv = 0;
		goto out;
	}
	printf("%zu to create, %zu to update, %zu to delete, %zu unchanged%s\n", n_add, n_mod,
	       n_del, same, dry ? " (dry run: nothing written)" : "");
	if (dry) {
		rv = 0;
		goto out;
	}
	if (n_ops > TXN_OPS) {
		printf("applying in %zu transactions of at most %d operations (etcd's "
		       "--max-txn-ops)\n",
		       (n_ops + TXN_OPS - 1) / TXN_OPS, TXN_OPS);
	}
	for (i = 0; i < n_ops; i += TXN_OPS) {
		if (txn(endpoint, ops, i, i + TXN_OPS < n_ops ? i + TXN_OPS : n_ops) != 0) {
			if (i > 0) {
				fprintf(stderr,
					"apigw: config apply: the first %zu operations were "
					"applied\n",
					i);
			}
			goto out;
		}
	}
	printf("applied\n");
	rv = 0;
out:
	wants_free(w, n);
	wants_free(have, n_have);
	free(ops);
	cJSON_Delete(root);
	cJSON_Delete(cur);
	free(text);
	return rv;
}
