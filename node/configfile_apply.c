/* configfile_apply.c: `apigw config apply FILE [--dry-run] [--prune]
 * [--admin-listen HOST:PORT [--admin-key K | --data-dir D]] [--endpoint
 * HOST:PORT [--in-parts]]`, the cluster made to match a declarative file.
 *
 * Happy path: read FILE (APISIX's standalone apisix.yaml layout, YAML or
 * JSON, as `apigw config export` writes it) and check every object
 * (schema/decl.h, the module the Admin API's PUT /apisix/admin/configs
 * uses too). With --admin-listen, send FILE to that endpoint: one store
 * transaction of any size, and print its diff. Otherwise compute the diff
 * against one consistent range of /apisix/ read through the member's etcd
 * JSON gateway, print it ("+ key", "~ key", "- key" with --prune for
 * objects absent from the file) and, unless --dry-run, write it as one
 * etcd Txn when it has at most 128 operations (etcd's --max-txn-ops); a
 * larger diff is refused (nothing written) unless --in-parts, which writes
 * consecutive transactions of 128. A second apply of the same file finds
 * nothing to do and says so.
 * Failure modes: bad YAML, a wrong layout or a schema error stop before
 * anything is written, with "FILE:LINE: section[i] (id X): why"; a failed
 * transaction is printed with the answer's message (with --in-parts,
 * earlier ones stay applied, said on stderr). Exit 0, 1, or 2 (usage).
 * Threads: main. */
#include "config.h"

#include "node/backup_int.h"
#include "node/configfile_int.h"
#include "admin/apisix.h"
#include "schema/decl.h"
#include "schema/schema.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FILE (64u << 20)
#define TXN_OPS  128

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
static int txn(const char *endpoint, const struct gw_schema_decl_obj *ops, size_t from, size_t to)
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

/* The cluster's objects (the export's document) as sorted pairs. */
static int current(cJSON *cur, struct gw_schema_decl *out)
{
	cJSON *sec, *obj;

	cJSON_ArrayForEach(sec, cur)
	{
		cJSON_ArrayForEach(obj, sec)
		{
			const char *id =
			    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, "id"));
			if (id == NULL) { /* consumers: by username */
				id = cJSON_GetStringValue(
				    cJSON_GetObjectItemCaseSensitive(obj, "username"));
			}
			char key[600], *v;
			int rv;

			if (id == NULL) {
				continue;
			}
			snprintf(key, sizeof key, "/apisix/%s/%.500s", sec->string, id);
			v = cJSON_PrintUnformatted(obj);
			rv = v != NULL
				 ? gw_schema_decl_add_stored(out, key, strlen(key), v, strlen(v))
				 : -1;
			free(v);
			if (rv < 0) {
				return -1;
			}
		}
	}
	gw_schema_decl_sort_keys(out);
	return 0;
}

/* Send FILE to PUT /apisix/admin/configs at @admin: one transaction for any
 * size, checked and diffed by the node. The exit code. */
static int apply_admin(const char *admin, const char *data_dir, const char *flag_key,
		       const char *file, const char *text, size_t len, bool dry, bool prune)
{
	char key[256], hdrs[400], path[128];
	struct gw_buf out;
	const cJSON *it;
	cJSON *o;
	int st, rv = 1;

	if (gw_admin_key_load(data_dir, flag_key, false, key, sizeof key) != 0) {
		fprintf(stderr, "apigw: config apply: no admin key: give --admin-key or --data-dir "
				"of the node\n");
		return 1;
	}
	snprintf(hdrs, sizeof hdrs, "X-API-KEY: %s\r\nContent-Type: application/yaml\r\n", key);
	memset(key, 0, sizeof key);
	snprintf(path, sizeof path, "/apisix/admin/configs?prune=%s%s", prune ? "true" : "false",
		 dry ? "&dry_run=true" : "");
	gw_buf_init(&out);
	st = gw_node__cf_call(admin, "PUT", path, hdrs, text, len, &out);
	memset(hdrs, 0, sizeof hdrs);
	o = st > 0 && out.data != NULL ? cJSON_ParseWithLength(out.data, out.len) : NULL;
	if (st == 200 && o != NULL) {
		cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(o, "changes"))
		{
			const char *op = cJSON_GetStringValue(cJSON_GetObjectItem(it, "op"));
			printf("%c %s\n",
			       op == NULL     ? '?'
			       : op[0] == 'c' ? '+'
			       : op[0] == 'u' ? '~'
					      : '-',
			       cJSON_GetStringValue(cJSON_GetObjectItem(it, "key")));
		}
		if (cJSON_GetArraySize(cJSON_GetObjectItem(o, "changes")) == 0) {
			printf("no changes: the cluster matches %s (%.0f objects)\n", file,
			       cJSON_GetNumberValue(cJSON_GetObjectItem(o, "unchanged")));
		} else {
			printf("%.0f to create, %.0f to update, %.0f to delete, %.0f unchanged%s\n",
			       cJSON_GetNumberValue(cJSON_GetObjectItem(o, "created")),
			       cJSON_GetNumberValue(cJSON_GetObjectItem(o, "updated")),
			       cJSON_GetNumberValue(cJSON_GetObjectItem(o, "deleted")),
			       cJSON_GetNumberValue(cJSON_GetObjectItem(o, "unchanged")),
			       dry ? " (dry run: nothing written)" : "");
			if (!dry) {
				printf(
				    "applied at revision %.0f (one transaction)\n",
				    cJSON_GetNumberValue(cJSON_GetObjectItem(o, "modifiedIndex")));
			}
		}
		rv = 0;
	} else if (st == 413) {
		fprintf(stderr,
			"apigw: %s: larger than the Admin API accepts in one request (1.5 MiB): "
			"nothing written; split the file, or use --endpoint with --in-parts\n",
			file);
	} else if (st > 0) {
		const char *msg = cJSON_GetStringValue(cJSON_GetObjectItem(o, "error_msg"));
		fprintf(stderr, "apigw: %s: %s\n", file,
			msg != NULL ? msg : (out.data != NULL ? out.data : "no answer"));
	}
	cJSON_Delete(o);
	gw_buf_close(&out);
	return rv;
}

int gw_node__cf_apply_main(int argc, char **argv)
{
	const char *endpoint = "127.0.0.1:2379", *file = NULL, *admin = NULL, *data_dir = "",
		   *admin_key = "";
	bool dry = false, prune = false, parts = false;
	struct gw_schema_decl w = {0}, have = {0};
	struct gw_schema_decl_diff d = {0};
	cJSON *root = NULL, *cur = NULL;
	char err[1024];
	void *text = NULL;
	size_t len, i;
	int rv = 1;

	for (int a = 3; a < argc; a++) {
		const char *s = argv[a];
		int r = gw_node__flag(argc, argv, &a, "--endpoint", &endpoint, "config apply");
		if (r == 0) {
			r = gw_node__flag(argc, argv, &a, "--admin-listen", &admin, "config apply");
		}
		if (r == 0) {
			r = gw_node__flag(argc, argv, &a, "--admin-key", &admin_key,
					  "config apply");
		}
		if (r == 0) {
			r = gw_node__flag(argc, argv, &a, "--data-dir", &data_dir, "config apply");
		}
		if (r < 0) {
			return 2;
		} else if (r > 0) {
			continue;
		} else if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
			printf(
			    "usage: apigw config apply FILE [--dry-run] [--prune]\n"
			    "         [--admin-listen HOST:PORT [--admin-key K | --data-dir D]]\n"
			    "         [--endpoint HOST:PORT [--in-parts]]\n"
			    "  make the cluster's APISIX resources match FILE (the layout of "
			    "apigw config export);\n  through the Admin API: one transaction of "
			    "any "
			    "size; through the etcd API:\n  one transaction of up to 128 "
			    "operations (--in-parts: several); see docs/backup.md\n");
			return 0;
		} else if (strcmp(s, "--dry-run") == 0) {
			dry = true;
		} else if (strcmp(s, "--prune") == 0) {
			prune = true;
		} else if (strcmp(s, "--in-parts") == 0) {
			parts = true;
		} else if (s[0] != '-' && file == NULL) {
			file = s;
		} else {
			fprintf(stderr, "apigw: config apply: unexpected argument '%s'\n", s);
			return 2;
		}
	}
	if (file == NULL) {
		fprintf(stderr, "usage: apigw config apply FILE [--dry-run] [--prune] "
				"[--admin-listen HOST:PORT | --endpoint HOST:PORT]\n");
		return 2;
	}
	if (gw_node__backup_read(file, &text, &len) != 0) {
		return 1;
	}
	if (len > MAX_FILE) {
		fprintf(stderr, "apigw: config apply: %s is larger than 64 MiB\n", file);
		goto out;
	}
	/* checked here first: errors name the file's lines */
	root = gw_schema_decl_parse(file, text, len, err, sizeof err);
	if (root == NULL || gw_schema_decl_collect(file, root, &w, err, sizeof err) != 0) {
		fprintf(stderr, "apigw: %s\n", err);
		goto out;
	}
	if (admin != NULL) {
		rv = apply_admin(admin, data_dir, admin_key, file, text, len, dry, prune);
		goto out;
	}
	if (gw_node__cf_fetch(endpoint, &cur) != 0) {
		goto out;
	}
	if (current(cur, &have) != 0 || gw_schema_decl_diff(&w, &have, prune, &d) != 0) {
		fprintf(stderr, "apigw: config apply: out of memory\n");
		goto out;
	}
	for (i = 0; i < d.n; i++) {
		printf("%c %s\n", d.ops[i].op, d.ops[i].key);
	}
	if (d.n == 0) {
		printf("no changes: the cluster matches %s (%zu objects)\n", file, d.same);
		rv = 0;
		goto out;
	}
	printf("%zu to create, %zu to update, %zu to delete, %zu unchanged%s\n", d.n_add, d.n_mod,
	       d.n_del, d.same, dry ? " (dry run: nothing written)" : "");
	if (dry) {
		rv = 0;
		goto out;
	}
	if (d.n > TXN_OPS && !parts) {
		fprintf(stderr,
			"apigw: config apply: %zu operations are more than one etcd transaction "
			"holds (%d): nothing written; use --admin-listen (one transaction of any "
			"size) or --in-parts\n",
			d.n, TXN_OPS);
		goto out;
	}
	if (d.n > TXN_OPS) {
		printf("applying in %zu transactions of at most %d operations (etcd's "
		       "--max-txn-ops)\n",
		       (d.n + TXN_OPS - 1) / TXN_OPS, TXN_OPS);
	}
	for (i = 0; i < d.n; i += TXN_OPS) {
		if (txn(endpoint, d.ops, i, i + TXN_OPS < d.n ? i + TXN_OPS : d.n) != 0) {
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
	gw_schema_decl_free(&w);
	gw_schema_decl_free(&have);
	free(d.ops);
	cJSON_Delete(root);
	cJSON_Delete(cur);
	free(text);
	return rv;
}
