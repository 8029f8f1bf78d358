/* tokens.c: join tokens on the node's side (see tokens.h).
 *
 * Happy path: `apigw token create` posts to the local status listener, the
 * route calls gw_raft_token_create (replicated through raft) and answers
 * with the token, which the CLI prints once. Failure modes: a client off
 * loopback gets 403; a node without a cluster PKI 400 ("no cluster CA");
 * raft's errors as 503 with their text. The token is never logged. */
#include "config.h"

#include "node/tokens.h"

#include "lib/buf.h"
#include "lib/connlimit.h"
#include "lib/err.h"
#include "lib/httpd.h"
#include "lib/log.h"
#include "node/cluster.h"
#include "raft/raft.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void reply(struct gw_http_req *req, int status, const char *json)
{
	gw_http_respond(req, status, "application/json", "", json, strlen(json));
}

static void reply_err(struct gw_http_req *req, int err)
{
	char body[256];

	snprintf(body, sizeof body, "{\"status\":\"error\",\"error\":\"%s\"}\n",
		 err == GW_EINVAL ? "invalid request, or this node has no cluster CA"
				  : gw_strerror(err));
	reply(req, err == GW_EINVAL ? 400 : err == GW_ENOTFOUND ? 404 : 503, body);
}

static void created(void *data, int err, const char *text)
{
	struct gw_http_req *req = data;
	char body[GW_RAFT_TOKEN_TEXT_LEN + 32];

	if (err != 0) {
		reply_err(req, err);
		return;
	}
	snprintf(body, sizeof body, "{\"token\":\"%s\"}\n", text);
	reply(req, 200, body);
	OPENSSL_cleanse(body, sizeof body);
}

static void revoked(void *data, int err, const char *text)
{
	struct gw_http_req *req = data;

	(void)text;
	if (err != 0) {
		reply_err(req, err);
		return;
	}
	reply(req, 200, "{\"status\":\"ok\"}\n");
}

bool gw_node_token_handle(struct gw_raft *r, struct gw_http_req *req)
{
	char arg[128], desc[128] = "";
	unsigned long ttl = 3600;
	long uses = -1;
	int rv;

	if (strcmp(req->path, "/apigw/token") != 0 && strcmp(req->path, "/apigw/tokens") != 0 &&
	    strcmp(req->path, "/apigw/token/revoke") != 0) {
		return false;
	}
	if (!gw_connlimit_loopback((const struct sockaddr *)&req->peer)) {
		reply(req, 403,
		      "{\"status\":\"error\",\"error\":\"join tokens: loopback only\"}\n");
		return true;
	}
	if (strcmp(req->path, "/apigw/tokens") == 0) {
		char *s = gw_raft_token_list_json(r);
		if (s == NULL) {
			reply_err(req, GW_ENOMEM);
		} else {
			reply(req, 200, s);
			free(s);
		}
		return true;
	}
	if (strcmp(req->method, "POST") != 0) {
		reply(req, 405, "{\"status\":\"error\",\"error\":\"method not allowed\"}\n");
		return true;
	}
	if (strcmp(req->path, "/apigw/token/revoke") == 0) {
		if (gw_http_query_arg(req, "id", arg, sizeof arg) == NULL) {
			reply_err(req, GW_EINVAL);
			return true;
		}
		rv = gw_raft_token_revoke(r, arg, revoked, req);
		if (rv != 0) {
			reply_err(req, rv);
		}
		return true;
	}
	if (gw_http_query_arg(req, "ttl", arg, sizeof arg) != NULL) {
		ttl = strtoul(arg, NULL, 10);
	}
	if (gw_http_query_arg(req, "uses", arg, sizeof arg) != NULL) {
		uses = strtol(arg, NULL, 10);
		if (uses == 0) {
			uses = -1;
		}
	}
	if (gw_http_query_arg(req, "description", arg, sizeof arg) != NULL) {
		snprintf(desc, sizeof desc, "%s", arg);
	}
	if (ttl == 0 || ttl > 86400 * 365 || uses < -1 || uses > 1000000) {
		reply_err(req, GW_EINVAL);
		return true;
	}
	rv = gw_raft_token_create(r, (unsigned)ttl, (int)uses, desc, created, req);
	if (rv != 0) {
		reply_err(req, rv);
	}
	return true;
}

/* @s percent-encoded into @out (query argument). */
static void url_encode(const char *s, char *out, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s != '\0' && o + 4 < len; s++) {
		unsigned char ch = (unsigned char)*s;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.') {
			out[o++] = (char)ch;
		} else {
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	out[o] = '\0';
}

static void print_list(const char *json)
{
	cJSON *arr = cJSON_Parse(json), *t;
	char when[32];

	printf("%-8s  %-20s  %-9s  %-8s  %s\n", "ID", "EXPIRES", "USES LEFT", "STATE",
	       "DESCRIPTION");
	cJSON_ArrayForEach(t, arr)
	{
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(t, "id");
		const cJSON *exp = cJSON_GetObjectItemCaseSensitive(t, "expires");
		const cJSON *uses = cJSON_GetObjectItemCaseSensitive(t, "uses_left");
		const cJSON *desc = cJSON_GetObjectItemCaseSensitive(t, "description");
		time_t e = cJSON_IsNumber(exp) ? (time_t)exp->valuedouble : 0;
		struct tm tm;
		char uses_s[24];

		gmtime_r(&e, &tm);
		strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
		if (cJSON_IsNumber(uses) && uses->valuedouble >= 0) {
			snprintf(uses_s, sizeof uses_s, "%.0f", uses->valuedouble);
		} else {
			snprintf(uses_s, sizeof uses_s, "unlimited");
		}
		printf("%-8s  %-20s  %-9s  %-8s  %s\n", cJSON_IsString(id) ? id->valuestring : "?",
		       when, uses_s,
		       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(t, "revoked"))   ? "revoked"
		       : cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(t, "expired")) ? "expired"
										      : "valid",
		       cJSON_IsString(desc) ? desc->valuestring : "");
	}
	cJSON_Delete(arr);
}

int gw_node_token_client(const struct gw_node_config *cfg)
{
	struct gw_buf body;
	char path[512], desc[400];
	int status;

	gw_buf_init(&body);
	if (strcmp(cfg->token_action, "create") == 0) {
		url_encode(cfg->token_description, desc, sizeof desc);
		snprintf(path, sizeof path, "/apigw/token?ttl=%u&uses=%d&description=%s",
			 cfg->token_ttl_ms / 1000, cfg->token_uses, desc);
		status = gw_node_cluster_call(&cfg->endpoint, "POST", path, &body);
		if (status == 200) {
			cJSON *o = cJSON_Parse(body.data != NULL ? body.data : "");
			const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "token");
			printf("%s\n", cJSON_IsString(t) ? t->valuestring : "");
			if (cJSON_IsString(t)) {
				OPENSSL_cleanse(t->valuestring, strlen(t->valuestring));
			}
			cJSON_Delete(o);
		}
	} else if (strcmp(cfg->token_action, "list") == 0) {
		status = gw_node_cluster_call(&cfg->endpoint, "GET", "/apigw/tokens", &body);
		if (status == 200) {
			print_list(body.data != NULL ? body.data : "[]");
		}
	} else {
		url_encode(cfg->token_id, desc, sizeof desc);
		snprintf(path, sizeof path, "/apigw/token/revoke?id=%s", desc);
		status = gw_node_cluster_call(&cfg->endpoint, "POST", path, &body);
		if (status == 200) {
			printf("token %s revoked\n", cfg->token_id);
		}
	}
	if (status >= 0 && status != 200) {
		fprintf(stderr, "apigw: %s", body.data ? body.data : "error\n");
	}
	if (body.data != NULL) {
		OPENSSL_cleanse(body.data, body.len);
	}
	gw_buf_close(&body);
	return status == 200 ? 0 : 1;
}

int gw_node_join_token(const struct gw_node_config *cfg, char *out, size_t len)
{
	const char *env = getenv("APIGW_JOIN_TOKEN");
	FILE *f;
	size_t n;

	out[0] = '\0';
	if (cfg->token_file[0] != '\0') {
		f = fopen(cfg->token_file, "r");
		if (f == NULL) {
			gw_errorf("node", "cannot read --token-file %s: %s", cfg->token_file,
				  strerror(errno));
			return GW_EINVAL;
		}
		n = fread(out, 1, len - 1, f);
		fclose(f);
		out[n] = '\0';
		out[strcspn(out, "\r\n \t")] = '\0';
		return 0;
	}
	if (cfg->join_token[0] != '\0') {
		gw_warnf("node", "--token on the command line was visible to every local user "
				 "until start-up (ps); prefer --token-file or APIGW_JOIN_TOKEN");
		snprintf(out, len, "%s", cfg->join_token);
		return 0;
	}
	if (env != NULL && env[0] != '\0') {
		snprintf(out, len, "%s", env);
		return 0;
	}
	if (cfg->join_secret[0] != '\0') {
		gw_warnf("node",
			 "--join-secret is the legacy join (it trusts the peer's CA on first use, "
			 "and a command line is visible to local users until start-up): prefer "
			 "`apigw token create` and --token-file");
	}
	return 0;
}
