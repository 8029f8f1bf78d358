/* configfile.c: `apigw config export` (see configfile.h).
 *
 * Happy path: one linearizable range of the /apisix/ prefix through the
 * member's etcd JSON gateway (cleartext, on-host: the etcd listener trusts
 * loopback clients while etcd auth is off), grouped into the sections of
 * APISIX's standalone file (routes, services, upstreams, consumers,
 * consumer_groups, ssls, global_rules, plugin_configs, plugin_metadata,
 * stream_routes, protos, secrets). Each object gets its "id" (the key's
 * last part; plugin_metadata: the plugin name; secrets: "<manager>/<id>"),
 * loses create_time/update_time (bookkeeping the store sets, which would
 * make every export differ), and is printed with its members sorted by name;
 * sections come in that fixed order, objects ordered by id; an export of
 * the same state is byte-identical. YAML ends with APISIX's "#END" line.
 * ssls private keys stay as stored: sealed by the cluster keyring.
 * Failure modes: an unreachable member, a gRPC/gateway error, a value that
 * is not a JSON object: one line on stderr, exit 1; nothing is printed on
 * stdout unless the whole export succeeded. Threads: main; blocking. */
#include "config.h"

#include "node/backup_int.h"
#include "admin/apisix.h"
#include "node/configfile_int.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "lib/certkey.h"
#include "lib/httpc.h"
#include "lib/keyring.h"
#include "schema/decl.h"

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define N_SECTIONS GW_SCHEMA_DECL_N
#define sections   gw_schema_decl_sections

bool gw_node_configfile_is_cmd(int argc, char **argv)
{
	return argc >= 3 && strcmp(argv[1], "config") == 0 &&
	       (strcmp(argv[2], "export") == 0 || strcmp(argv[2], "apply") == 0);
}

struct call {
	struct gw_buf *out;
	char why[128];
	int status;
	int err;
};

static void call_done(void *data, int err, const struct gw_httpc_resp *resp)
{
	struct call *x = data;
	x->err = err;
	if (err == 0) {
		x->status = resp->status;
		if (resp->body.len > 0 &&
		    gw_buf_append(x->out, resp->body.data, resp->body.len) != 0) {
			x->err = GW_ENOMEM;
		}
	}
}

int gw_node__cf_post(const char *endpoint, const char *path, const char *body, struct gw_buf *out)
{
	return gw_node__cf_call(endpoint, "POST", path, "Content-Type: application/json\r\n", body,
				strlen(body), out);
}

int gw_node__cf_call(const char *endpoint, const char *method, const char *path, const char *hdrs,
		     const char *body, size_t len, struct gw_buf *out)
{
	struct call x = {.out = out, .status = -1};
	struct gw_httpc_opts o = {.timeout_ms = 60000, .why = x.why, .why_len = sizeof x.why};
	uv_loop_t loop;
	int rv;

	if (uv_loop_init(&loop) != 0) {
		fprintf(stderr, "apigw: cannot start an event loop\n");
		return -1;
	}
	rv = gw_httpc_request(&loop, endpoint, method, path, hdrs, body, len, &o, call_done, &x,
			      NULL);
	if (rv != 0) {
		x.err = rv;
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	if (x.err != 0) {
		fprintf(stderr, "apigw: config: cannot reach %s: %s\n", endpoint,
			x.why[0] ? x.why : gw_strerror(x.err));
		return -1;
	}
	return x.status;
}

/* Base64 @s into a malloc'ed NUL-terminated string; NULL when invalid. */
static char *b64_decode(const char *s, size_t *len)
{
	size_t n = strlen(s);
	unsigned char *out = malloc(n / 4 * 3 + 4);
	int got;
	if (out == NULL || n % 4 != 0) {
		free(out);
		return NULL;
	}
	got = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n);
	if (got < 0) {
		free(out);
		return NULL;
	}
	while (n > 0 && s[n - 1] == '=') {
		got--;
		n--;
	}
	out[got] = '\0';
	*len = (size_t)got;
	return (char *)out;
}

static int id_cmp(const void *a, const void *b)
{
	const cJSON *x = *(cJSON *const *)a, *y = *(cJSON *const *)b;
	const char *ix = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(x, "id"));
	const char *iy = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(y, "id"));

	if (ix == NULL) { /* a consumer */
		ix = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(x, "username"));
	}
	if (iy == NULL) {
		iy = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(y, "username"));
	}
	return strcmp(ix != NULL ? ix : "", iy != NULL ? iy : "");
}

/* The range answer -> {section: [objects sorted by id]}; NULL (printed). */
static cJSON *build(const cJSON *resp)
{
	const cJSON *kvs = cJSON_GetObjectItemCaseSensitive(resp, "kvs"), *kv;
	cJSON *root = cJSON_CreateObject();
	cJSON *lists[N_SECTIONS] = {NULL};

	if (root == NULL) {
		return NULL;
	}
	cJSON_ArrayForEach(kv, kvs)
	{
		const char *k64 = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(kv, "key"));
		const char *v64 =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(kv, "value"));
		size_t klen = 0, vlen = 0, i;
		char *key = k64 != NULL ? b64_decode(k64, &klen) : NULL;
		char *val = v64 != NULL ? b64_decode(v64, &vlen) : NULL;
		const char *rest, *id;
		cJSON *obj;

		if (key == NULL || strncmp(key, "/apisix/", 8) != 0) {
			goto next;
		}
		rest = key + 8;
		for (i = 0; i < N_SECTIONS; i++) {
			size_t n = strlen(sections[i]);
			if (strncmp(rest, sections[i], n) == 0 && rest[n] == '/' &&
			    rest[n + 1] != '\0') {
				break;
			}
		}
		if (i == N_SECTIONS) {
			goto next; /* not a resource (or an unknown one) */
		}
		id = rest + strlen(sections[i]) + 1;
		if (strchr(id, '/') != NULL &&
		    (i != 11 || strchr(strchr(id, '/') + 1, '/') != NULL)) {
			goto next; /* below an object: a consumer's credentials */
		}
		obj = val != NULL ? cJSON_ParseWithLength(val, vlen) : NULL;
		if (!cJSON_IsObject(obj)) {
			fprintf(stderr, "apigw: config export: %s is not a JSON object\n", key);
			cJSON_Delete(obj);
			free(key);
			free(val);
			cJSON_Delete(root);
			return NULL;
		}
		cJSON_DeleteItemFromObjectCaseSensitive(obj, "create_time");
		cJSON_DeleteItemFromObjectCaseSensitive(obj, "update_time");
		cJSON_DeleteItemFromObjectCaseSensitive(obj, "id");
		if (i != 3) { /* consumers are named by username */
			cJSON_AddStringToObject(obj, "id", id);
		}
		if (lists[i] == NULL) {
			lists[i] = cJSON_CreateArray();
		}
		cJSON_AddItemToArray(lists[i], obj);
	next:
		free(key);
		free(val);
	}
	for (size_t i = 0; i < N_SECTIONS; i++) {
		int n = cJSON_GetArraySize(lists[i]);
		cJSON **v;
		if (lists[i] == NULL) {
			continue;
		}
		v = malloc((size_t)n * sizeof *v);
		if (v == NULL) {
			cJSON_Delete(lists[i]);
			continue;
		}
		for (int k = n - 1; k >= 0; k--) {
			v[k] = cJSON_DetachItemFromArray(lists[i], k);
		}
		qsort(v, (size_t)n, sizeof *v, id_cmp);
		for (int k = 0; k < n; k++) {
			gw_schema_decl_sort(v[k]);
			cJSON_AddItemToArray(lists[i], v[k]);
		}
		free(v);
		cJSON_AddItemToObject(root, sections[i], lists[i]);
	}
	return root;
}

static int emit(yaml_emitter_t *e, yaml_event_t *ev)
{
	return yaml_emitter_emit(e, ev) ? 0 : -1;
}

static int emit_scalar(yaml_emitter_t *e, const char *s, yaml_scalar_style_t style, bool plain_ok)
{
	yaml_event_t ev;
	yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s), plain_ok,
				     !plain_ok, style);
	return emit(e, &ev);
}

/* @j as YAML: strings always quoted when they would read as another type. */
static int emit_json(yaml_emitter_t *e, const cJSON *j)
{
	yaml_event_t ev;
	const cJSON *c;
	char num[64];

	if (cJSON_IsObject(j)) {
		yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
		if (emit(e, &ev) != 0) {
			return -1;
		}
		for (c = j->child; c != NULL; c = c->next) {
			if (emit_scalar(e, c->string, YAML_ANY_SCALAR_STYLE, true) != 0 ||
			    emit_json(e, c) != 0) {
				return -1;
			}
		}
		yaml_mapping_end_event_initialize(&ev);
		return emit(e, &ev);
	}
	if (cJSON_IsArray(j)) {
		yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
						     j->child == NULL ? YAML_FLOW_SEQUENCE_STYLE
								      : YAML_BLOCK_SEQUENCE_STYLE);
		if (emit(e, &ev) != 0) {
			return -1;
		}
		for (c = j->child; c != NULL; c = c->next) {
			if (emit_json(e, c) != 0) {
				return -1;
			}
		}
		yaml_sequence_end_event_initialize(&ev);
		return emit(e, &ev);
	}
	if (cJSON_IsString(j)) {
		return emit_scalar(e, j->valuestring, YAML_DOUBLE_QUOTED_SCALAR_STYLE, false);
	}
	if (cJSON_IsBool(j)) {
		return emit_scalar(e, cJSON_IsTrue(j) ? "true" : "false", YAML_PLAIN_SCALAR_STYLE,
				   true);
	}
	if (cJSON_IsNumber(j)) {
		double d = j->valuedouble;
		if (d == (double)(long long)d && d > -9e15 && d < 9e15) {
			snprintf(num, sizeof num, "%lld", (long long)d);
		} else {
			snprintf(num, sizeof num, "%.17g", d);
		}
		return emit_scalar(e, num, YAML_PLAIN_SCALAR_STYLE, true);
	}
	return emit_scalar(e, "null", YAML_PLAIN_SCALAR_STYLE, true);
}

static int write_out(void *data, unsigned char *buf, size_t len)
{
	return gw_buf_append(data, buf, len) == 0;
}

/* @root as YAML text in @out (APISIX's "#END" appended). 0 or -1. */
static int to_yaml(const cJSON *root, struct gw_buf *out)
{
	yaml_emitter_t e;
	yaml_event_t ev;
	int rv = -1;

	if (!yaml_emitter_initialize(&e)) {
		return -1;
	}
	yaml_emitter_set_output(&e, write_out, out);
	yaml_emitter_set_unicode(&e, 1);
	yaml_emitter_set_width(&e, -1);
	yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
	if (emit(&e, &ev) != 0) {
		goto out;
	}
	yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
	if (emit(&e, &ev) != 0 || emit_json(&e, root) != 0) {
		goto out;
	}
	yaml_document_end_event_initialize(&ev, 1);
	if (emit(&e, &ev) != 0) {
		goto out;
	}
	yaml_stream_end_event_initialize(&ev);
	if (emit(&e, &ev) != 0 || !yaml_emitter_flush(&e)) {
		goto out;
	}
	rv = gw_buf_append(out, "#END\n", 5);
out:
	yaml_emitter_delete(&e);
	return rv;
}

int gw_node__cf_fetch(const char *endpoint, cJSON **out)
{
	/* base64 of "/apisix/" and of its prefix end "/apisix0" */
	const char *req = "{\"key\":\"L2FwaXNpeC8=\",\"range_end\":\"L2FwaXNpeDA=\"}";
	struct gw_buf body;
	cJSON *resp;
	int st;

	*out = NULL;
	gw_buf_init(&body);
	st = gw_node__cf_post(endpoint, "/v3/kv/range", req, &body);
	if (st < 0 || gw_buf_append(&body, "", 1) != 0) {
		gw_buf_close(&body);
		return -1;
	}
	resp = cJSON_Parse(body.data);
	if (st != 200 || resp == NULL) {
		fprintf(stderr, "apigw: config: %s answered %d: %.200s\n", endpoint, st, body.data);
		cJSON_Delete(resp);
		gw_buf_close(&body);
		return -1;
	}
	gw_buf_close(&body);
	*out = build(resp);
	cJSON_Delete(resp);
	return *out != NULL ? 0 : -1;
}

/* Open the sealed string @it in place with @aad. 0 or -1 (printed). */
static int reveal(const struct gw_keyring *kr, const char *aad, cJSON *it, const char *sec,
		  const char *id)
{
	char *plain = NULL;
	int rv;

	if (!cJSON_IsString(it) || !gw_keyring_is_sealed(it->valuestring)) {
		return 0;
	}
	rv = gw_keyring_reveal(kr, aad, it->valuestring, &plain);
	if (rv != 0) {
		fprintf(stderr,
			"apigw: config export: %s %s: cannot open its %s with this keyring: %s\n",
			sec, id, it->string ? it->string : "key",
			rv == GW_ENOTFOUND ? "key not in the keyring" : gw_strerror(rv));
		return -1;
	}
	free(it->valuestring);
	it->valuestring = plain;
	return 0;
}

/* --with-secrets: ssl private keys and consumer secrets in clear. */
static int reveal_all(const struct gw_keyring *kr, cJSON *root)
{
	cJSON *o, *it;

	cJSON_ArrayForEach(o, cJSON_GetObjectItemCaseSensitive(root, "ssls"))
	{
		const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "id"));
		if (reveal(kr, GW_CERTKEY_AAD, cJSON_GetObjectItemCaseSensitive(o, "key"), "ssls",
			   id) != 0) {
			return -1;
		}
		cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(o, "keys"))
		{
			if (reveal(kr, GW_CERTKEY_AAD, it, "ssls", id) != 0) {
				return -1;
			}
		}
	}
	cJSON_ArrayForEach(o, cJSON_GetObjectItemCaseSensitive(root, "consumers"))
	{
		const char *id =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "username"));
		cJSON *plugins = cJSON_GetObjectItemCaseSensitive(o, "plugins");
		for (size_t i = 0; i < GW_SCHEMA_DECL_N_SECRETS; i++) {
			cJSON *f = cJSON_GetObjectItemCaseSensitive(
			    cJSON_GetObjectItemCaseSensitive(plugins,
							     gw_schema_decl_secrets[i].plugin),
			    gw_schema_decl_secrets[i].field);
			if (reveal(kr, GW_KEYRING_AAD_CONSUMER, f, "consumers", id) != 0) {
				return -1;
			}
		}
	}
	return 0;
}

/* The keyring of --keyring FILE, else of --data-dir D; NULL (printed). */
static struct gw_keyring *load_ring(const char *file, const char *dir)
{
	struct gw_keyring *kr = NULL;
	void *text = NULL;
	size_t len = 0;
	int rv;

	if (file != NULL) {
		if (gw_node__backup_read(file, &text, &len) != 0) {
			return NULL;
		}
		rv = gw_keyring_parse(text, len, &kr);
		gw_keyring_wipe_free(text, len);
	} else {
		rv = gw_keyring_load(dir, false, &kr);
	}
	if (rv != 0) {
		fprintf(stderr, "apigw: config export: no keyring in %s: %s\n",
			file != NULL ? file : dir, gw_strerror(rv));
		return NULL;
	}
	return kr;
}

/* The config through GET /apisix/admin/configs at @admin (the key from
 * @flag_key or <@data_dir>/admin.key): 0 with *@out, or -1 (printed). */
static int fetch_admin(const char *admin, const char *data_dir, const char *flag_key, cJSON **out)
{
	char key[256], hdrs[320];
	struct gw_buf body;
	int st;

	*out = NULL;
	if (gw_admin_key_load(data_dir ? data_dir : "", flag_key, false, key, sizeof key) != 0) {
		fprintf(stderr, "apigw: config export: no admin key: give --admin-key or "
				"--data-dir of the node\n");
		return -1;
	}
	snprintf(hdrs, sizeof hdrs, "X-API-KEY: %s\r\n", key);
	memset(key, 0, sizeof key);
	gw_buf_init(&body);
	st = gw_node__cf_call(admin, "GET", "/apisix/admin/configs", hdrs, NULL, 0, &body);
	memset(hdrs, 0, sizeof hdrs);
	if (st == 200) {
		*out = cJSON_ParseWithLength(body.data != NULL ? body.data : "", body.len);
	} else if (st > 0) {
		fprintf(stderr, "apigw: config export: %s answered %d: %.200s\n", admin, st,
			body.data != NULL ? body.data : "");
	}
	gw_buf_close(&body);
	return cJSON_IsObject(*out) ? 0 : -1;
}

int gw_node_configfile_main(int argc, char **argv)
{
	const char *endpoint = "127.0.0.1:2379", *format = "yaml", *ring_file = NULL,
		   *data_dir = NULL, *admin = NULL, *admin_key = NULL;
	struct gw_keyring *kr = NULL;
	bool secrets = false;
	struct gw_buf text;
	cJSON *root;
	char *json;
	int rv = 1;

	if (strcmp(argv[2], "apply") == 0) {
		return gw_node__cf_apply_main(argc, argv);
	}

	for (int i = 3; i < argc; i++) {
		const char *a = argv[i];
		int r;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			printf("usage: apigw config export [--format yaml|json]\n"
			       "          [--endpoint HOST:PORT | --admin-listen HOST:PORT "
			       "[--admin-key K | --data-dir D]]\n"
			       "          [--with-secrets --data-dir D | --keyring FILE]\n  print "
			       "every APISIX resource in APISIX's standalone "
			       "apisix.yaml layout,\n  stable-ordered (default endpoint: the local "
			       "etcd API, 127.0.0.1:2379)\n");
			return 0;
		}
		if (strcmp(a, "--with-secrets") == 0) {
			secrets = true;
			continue;
		}
		if ((r = gw_node__flag(argc, argv, &i, "--admin-listen", &admin,
				       "config export")) != 0 ||
		    (r = gw_node__flag(argc, argv, &i, "--admin-key", &admin_key,
				       "config export")) != 0 ||
		    (r = gw_node__flag(argc, argv, &i, "--keyring", &ring_file, "config export")) !=
			0 ||
		    (r = gw_node__flag(argc, argv, &i, "--data-dir", &data_dir, "config export")) !=
			0 ||
		    (r = gw_node__flag(argc, argv, &i, "--format", &format, "config export")) !=
			0 ||
		    (r = gw_node__flag(argc, argv, &i, "--endpoint", &endpoint, "config export")) !=
			0) {
			if (r < 0) {
				return 2;
			}
			continue;
		}
		fprintf(stderr, "apigw: config export: unexpected argument '%s'\n", a);
		return 2;
	}
	if (strcmp(format, "yaml") != 0 && strcmp(format, "json") != 0) {
		fprintf(stderr, "apigw: config export: --format is yaml or json\n");
		return 2;
	}
	if (secrets && ring_file == NULL && data_dir == NULL) {
		fprintf(stderr, "apigw: config export: --with-secrets needs the cluster keyring: "
				"--data-dir D (D/keyring) or --keyring FILE\n");
		return 2;
	}
	if (secrets && (kr = load_ring(ring_file, data_dir)) == NULL) {
		return 1;
	}
	gw_buf_init(&text);
	if (admin != NULL ? fetch_admin(admin, data_dir, admin_key, &root) != 0
			  : gw_node__cf_fetch(endpoint, &root) != 0) {
		cJSON_Delete(root);
		goto out;
	}
	if (kr != NULL && reveal_all(kr, root) != 0) {
		cJSON_Delete(root);
		goto out;
	}
	if (strcmp(format, "json") == 0) {
		json = cJSON_Print(root);
		if (json != NULL && gw_buf_append(&text, json, strlen(json)) == 0 &&
		    gw_buf_append(&text, "\n", 1) == 0) {
			rv = 0;
		}
		free(json);
	} else {
		rv = to_yaml(root, &text) == 0 ? 0 : 1;
	}
	cJSON_Delete(root);
	if (rv == 0) {
		fwrite(text.data, 1, text.len, stdout);
		if (fflush(stdout) != 0) {
			rv = 1;
		}
	} else {
		fprintf(stderr, "apigw: config export: out of memory\n");
	}
out:
	gw_keyring_free(kr);
	gw_buf_close(&text);
	return rv;
}
