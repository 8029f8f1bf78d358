/* history.c: the `apigw config` subcommand (see history.h).
 *
 * Happy path: load the admin key (--admin-key, else <data-dir>/admin.key),
 * then one request to the Admin API on a private loop:
 *   config rollback REV -> POST /apisix/admin/rollback {"revision": REV,
 *                          "resources": [--resources]} [?force][&dry_run]
 *   config diff R1 [R2] -> GET /apisix/admin/diff?from=R1[&to=R2]
 *                          [&resource=..&id=..]
 * and print the answer's JSON, indented. Failure modes: no key, the node
 * unreachable, or a non-200 answer: the reason on stderr and exit 1. */
#include "config.h"

#include "node/history.h"

#include "admin/apisix.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "lib/httpc.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CALL_TIMEOUT_MS 60000 /* a large rollback commits within the write deadline */

struct call {
	struct gw_buf *out;
	char why[128];
	int status; /* -1: no answer */
	int err;
};

static void call_done(void *data, int err, const struct gw_httpc_resp *resp)
{
	struct call *x = data;

	x->err = err;
	if (err == 0) {
		x->status = resp->status;
		if (resp->body.len > 0) {
			gw_buf_append(x->out, resp->body.data, resp->body.len);
		}
	}
}

int gw_node__admin_call(const char *hostport, const char *key, const char *method, const char *path,
			const char *body, struct gw_buf *out)
{
	struct call x = {.out = out, .status = -1};
	struct gw_httpc_opts o = {
	    .timeout_ms = CALL_TIMEOUT_MS, .why = x.why, .why_len = sizeof x.why};
	char hdrs[384];
	uv_loop_t loop;
	int rv;

	if (uv_loop_init(&loop) != 0) {
		fprintf(stderr, "apigw: cannot start an event loop\n");
		return -1;
	}
	snprintf(hdrs, sizeof hdrs, "X-API-KEY: %s\r\n%s", key,
		 body ? "Content-Type: application/json\r\n" : "");
	rv = gw_httpc_request(&loop, hostport, method, path, hdrs, body, body ? strlen(body) : 0,
			      &o, call_done, &x, NULL);
	if (rv == 0) {
		uv_run(&loop, UV_RUN_DEFAULT);
	}
	uv_loop_close(&loop);
	if (rv != 0 || x.status < 0) {
		fprintf(stderr, "apigw: cannot reach the Admin API at %s: %s\n", hostport,
			x.why[0] ? x.why : gw_strerror(rv ? rv : x.err));
	}
	memset(hdrs, 0, sizeof hdrs);
	return x.status;
}

/* {"revision": N, "resources": [...]} of a rollback; malloc'ed or NULL. */
static char *rollback_body(const struct gw_node_config *cfg)
{
	cJSON *o = cJSON_CreateObject(), *list;
	char tmp[sizeof cfg->config_resources], *save = NULL, *tok;
	char *txt;

	if (o == NULL) {
		return NULL;
	}
	cJSON_AddNumberToObject(o, "revision", (double)cfg->config_rev[0]);
	if (cfg->config_resources[0] != '\0') {
		list = cJSON_AddArrayToObject(o, "resources");
		snprintf(tmp, sizeof tmp, "%s", cfg->config_resources);
		for (tok = strtok_r(tmp, ",", &save); tok && list;
		     tok = strtok_r(NULL, ",", &save)) {
			cJSON_AddItemToArray(list, cJSON_CreateString(tok));
		}
	}
	txt = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return txt;
}

/* The diff's path: ?from=&to= and the one resource ("routes" or
 * "routes/1") of --resources. */
static void diff_path(const struct gw_node_config *cfg, char *out, size_t n)
{
	char res[64] = "", id[160] = "";
	const char *slash = strchr(cfg->config_resources, '/');
	int len;

	if (cfg->config_resources[0] != '\0') {
		snprintf(res, sizeof res, "%.*s",
			 (int)(slash ? (size_t)(slash - cfg->config_resources)
				     : strlen(cfg->config_resources)),
			 cfg->config_resources);
		if (slash != NULL) {
			snprintf(id, sizeof id, "%s", slash + 1);
		}
	}
	len = snprintf(out, n, "/apisix/admin/diff?from=%lld", cfg->config_rev[0]);
	if (cfg->config_rev[1] > 0 && len > 0 && (size_t)len < n) {
		len += snprintf(out + len, n - (size_t)len, "&to=%lld", cfg->config_rev[1]);
	}
	if (res[0] != '\0' && len > 0 && (size_t)len < n) {
		len += snprintf(out + len, n - (size_t)len, "&resource=%s", res);
	}
	if (id[0] != '\0' && len > 0 && (size_t)len < n) {
		snprintf(out + len, n - (size_t)len, "&id=%s", id);
	}
}

int gw_node_history_client(const struct gw_node_config *cfg)
{
	struct gw_buf out;
	char key[256], path[1024];
	char *body = NULL, *pretty = NULL;
	cJSON *o;
	int status;

	if (gw_admin_key_load(cfg->data_dir, cfg->admin_key, false, key, sizeof key) != 0) {
		fprintf(stderr,
			"apigw: no admin key: give --admin-key or --data-dir of the node\n");
		return 1;
	}
	gw_buf_init(&out);
	if (strcmp(cfg->config_action, "rollback") == 0) {
		body = rollback_body(cfg);
		snprintf(path, sizeof path, "/apisix/admin/rollback%s%s",
			 cfg->config_force ? "?force=true" : "",
			 cfg->config_dry_run
			     ? (cfg->config_force ? "&dry_run=true" : "?dry_run=true")
			     : "");
		status = body ? gw_node__admin_call(cfg->admin_listen.text, key, "POST", path, body,
						    &out)
			      : -1;
	} else {
		diff_path(cfg, path, sizeof path);
		status = gw_node__admin_call(cfg->admin_listen.text, key, "GET", path, NULL, &out);
	}
	memset(key, 0, sizeof key);
	free(body);
	o = out.data ? cJSON_ParseWithLength(out.data, out.len) : NULL;
	pretty = o ? cJSON_Print(o) : NULL;
	if (status >= 0) {
		fprintf(status == 200 ? stdout : stderr, "%s%s\n", status == 200 ? "" : "apigw: ",
			pretty ? pretty : (out.data ? out.data : ""));
	}
	free(pretty);
	cJSON_Delete(o);
	gw_buf_close(&out);
	return status == 200 ? 0 : 1;
}
