/* history.c: the `apigw config` subcommand (see history.h).
 *
 * Happy path: load the admin key (--admin-key, else <data-dir>/admin.key),
 * then one request to the Admin API on a private loop:
 *   config rollback REV -> POST /apisix/admin/rollback {"revision": REV,
 *                          "resources": [--resources]} [?force][&dry_run]
 *   config diff R1 [R2] -> GET /apisix/admin/diff?from=R1[&to=R2]
 *                          [&resource=..&id=..]
 * and print the answer's JSON, indented. With --admin-cacert the request
 * goes over TLS: the chain must verify against that CA and the certificate
 * must name the host of --admin-listen (IP SAN for an address). Failure
 * modes: no key, the node unreachable, a certificate refused, or a non-200
 * answer: the reason on stderr and exit 1. */
#include "config.h"

#include "node/history.h"

#include "admin/apisix.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "lib/httpc.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <openssl/x509v3.h>
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

/* gw_httpc_tls_check_cb: the server's certificate names the host we
 * called (@data: "host:port" or "[v6]:port"). */
static int check_name(void *data, SSL *ssl, char *why, size_t len)
{
	const char *hostport = data, *colon = strrchr(hostport, ':');
	X509 *cert = SSL_get0_peer_certificate(ssl);
	unsigned char bin[16];
	char host[256];
	size_t n = colon != NULL ? (size_t)(colon - hostport) : strlen(hostport);
	int ok;

	if (n > 1 && hostport[0] == '[' && hostport[n - 1] == ']') {
		hostport++;
		n -= 2;
	}
	snprintf(host, sizeof host, "%.*s", (int)n, hostport);
	if (inet_pton(AF_INET, host, bin) == 1 || inet_pton(AF_INET6, host, bin) == 1) {
		ok = cert != NULL && X509_check_ip_asc(cert, host, 0) == 1;
	} else {
		ok = cert != NULL && X509_check_host(cert, host, 0, 0, NULL) == 1;
	}
	if (!ok) {
		snprintf(why, len, "the Admin API's certificate does not name %s", host);
		return GW_EPERM;
	}
	return 0;
}

/* A client context trusting only @cacert; NULL (printed) on failure. */
static SSL_CTX *client_ctx(const char *cacert)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_load_verify_locations(ctx, cacert, NULL) != 1) {
		fprintf(stderr, "apigw: cannot load the CA %s\n", cacert);
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return ctx;
}

int gw_node__admin_call(const char *hostport, const char *key, const char *cacert,
			const char *method, const char *path, const char *body, struct gw_buf *out)
{
	struct call x = {.out = out, .status = -1};
	struct gw_httpc_opts o = {
	    .timeout_ms = CALL_TIMEOUT_MS, .why = x.why, .why_len = sizeof x.why};
	char hdrs[384];
	uv_loop_t loop;
	int rv;

	if (cacert != NULL && cacert[0] != '\0') {
		o.tls_ctx = client_ctx(cacert);
		if (o.tls_ctx == NULL) {
			return -1;
		}
		o.tls_check = check_name;
		o.tls_check_data = (void *)hostport;
	}
	if (uv_loop_init(&loop) != 0) {
		SSL_CTX_free(o.tls_ctx);
		fprintf(stderr, "apigw: cannot start an event loop\n");
		return -1;
	}
	snprintf(hdrs, sizeof hdrs, "X-API-KEY: %s\r\n%s", key,
		 body ? "Content-Type: application/json\r\n" : "");
	rv = gw_httpc_request(&loop, hostport, method, path, hdrs, body, body ? strlen(body) : 0,
			      &o, call_done, &x, NULL);
	SSL_CTX_free(o.tls_ctx); /* the request holds its own reference */
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
		status = body ? gw_node__admin_call(cfg->admin_listen.text, key, cfg->admin_cacert,
						    "POST", path, body, &out)
			      : -1;
	} else {
		diff_path(cfg, path, sizeof path);
		status = gw_node__admin_call(cfg->admin_listen.text, key, cfg->admin_cacert, "GET",
					     path, NULL, &out);
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
