/* cluster.c: the store, the raft and the etcd listener of a node, and the
 * `apigw status` / `apigw leave` clients (see cluster.h); join tokens are
 * node/tokens.c's.
 *
 * Start: open <data-dir>/store (committed data readable at once), start
 * raft with the flags, start the etcd API on --etcd-listen (it hands
 * the /apigw/internal/ routes to raft). Stop, in reverse: etcd, raft (which transfers
 * leadership first), store. Failure modes: a store or raft that cannot start
 * fails gw_node_cluster_start (logged by the module that decided); a join that
 * is refused later, or a removal, reaches the node through on_terminate.
 * The struct holds a uv timer (to defer on_terminate out of raft's
 * callbacks) and is freed in its close callback. */
#include "config.h"

#include "node/cluster.h"
#include "node/tokens.h"

#include "admin/etcd.h"
#include "lib/err.h"
#include "lib/httpc.h"
#include "lib/log.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct gw_node_cluster {
	uv_loop_t *loop;
	const struct gw_node_config *cfg;
	struct gw_store *store;
	struct gw_raft *raft;
	struct gw_etcd *etcd;
	uv_timer_t defer; /* runs on_terminate outside raft's callbacks */
	int terminate_err;
	bool terminate_pending;
	void (*on_terminate)(void *data, int err);
	void *data;
	void (*stop_cb)(void *data);
	void *stop_data;
	struct leave_ctx *self_leave; /* an `apigw leave` of this node waiting */
};

struct leave_ctx {
	struct gw_node_cluster *c;
	struct gw_http_req *req; /* NULL once answered */
	bool self;
};

/* Answer a waiting `apigw leave` of this node: 200 or an error. */
static void leave_answer(struct leave_ctx *x, int err)
{
	char body[256];

	if (x->req == NULL) {
		return;
	}
	if (x->c->self_leave == x) {
		x->c->self_leave = NULL;
	}
	if (err != 0) {
		snprintf(body, sizeof body, "{\"status\":\"error\",\"error\":\"%s\"}\n",
			 gw_strerror(err));
		gw_http_respond(x->req, err == GW_EMEMBERNOTFOUND ? 404 : 503, "application/json",
				"", body, strlen(body));
	} else {
		snprintf(body, sizeof body, "{\"status\":\"ok\"}\n");
		gw_http_respond(x->req, 200, "application/json", "", body, strlen(body));
	}
	x->req = NULL;
}

static unsigned env_uint(const char *name, unsigned dflt)
{
	const char *v = getenv(name);
	char *end;
	unsigned long n;

	if (v == NULL || *v == '\0') {
		return dflt;
	}
	n = strtoul(v, &end, 10);
	if (*end != '\0' || n > 10000000) {
		gw_warnf("node", "ignoring %s=%s", name, v);
		return dflt;
	}
	return (unsigned)n;
}

/* "http://ip:port" for a listener; a wildcard host is replaced by the raft
 * address's IP, the one peers reach this node at. */
static void url_of(const struct gw_node_config *cfg, const struct gw_addr *a, bool tls, char *out,
		   size_t len)
{
	char host[64];
	const char *colon;

	snprintf(host, sizeof host, "%s", a->text);
	colon = strrchr(host, ':');
	if (colon == NULL) {
		snprintf(out, len, "%s://%s", tls ? "https" : "http", a->text);
		return;
	}
	if (strncmp(host, "0.0.0.0:", 8) == 0 || strncmp(host, "[::]:", 5) == 0) {
		char rip[64];
		char *rc;
		snprintf(rip, sizeof rip, "%s", cfg->raft_listen.text);
		rc = strrchr(rip, ':');
		if (rc != NULL) {
			*rc = '\0';
		}
		snprintf(out, len, "%s://%s%s", tls ? "https" : "http", rip, colon);
		return;
	}
	snprintf(out, len, "%s://%s", tls ? "https" : "http", a->text);
}

static void defer_cb(uv_timer_t *t)
{
	struct gw_node_cluster *c = t->data;

	if (c->terminate_pending && c->on_terminate != NULL) {
		c->terminate_pending = false;
		c->on_terminate(c->data, c->terminate_err);
	}
}

static void raft_terminate(void *data, int err)
{
	struct gw_node_cluster *c = data;

	if (c->terminate_pending) {
		return;
	}
	c->terminate_pending = true;
	c->terminate_err = err;
	if (err == 0 && c->self_leave != NULL) {
		/* The leader told us we are removed before the answer to our own
		 * leave call arrived: that is the answer. */
		leave_answer(c->self_leave, 0);
	}
	uv_timer_start(&c->defer, defer_cb, 0, 0);
}

int gw_node_cluster_start(uv_loop_t *loop, const struct gw_node_config *cfg,
			  void (*on_terminate)(void *data, int err), void *data,
			  struct gw_node_cluster **out)
{
	struct gw_node_cluster *c;
	struct gw_store_opts so;
	struct gw_raft_opts ro;
	struct gw_etcd_opts eo;
	char store_dir[PATH_MAX + 8], etcd_url[128], admin_url[128], proxy_url[128],
	    status_url[128], peer[128], token[GW_RAFT_TOKEN_TEXT_LEN];
	int rv;

	*out = NULL;
	c = calloc(1, sizeof *c);
	if (c == NULL) {
		return GW_ENOMEM;
	}
	c->loop = loop;
	c->cfg = cfg;
	c->on_terminate = on_terminate;
	c->data = data;
	token[0] = '\0';
	if (cfg->cmd == GW_CMD_JOIN) {
		rv = gw_node_join_token(cfg, token, sizeof token);
		if (rv != 0) {
			goto err_after_alloc;
		}
	}

	snprintf(store_dir, sizeof store_dir, "%s/store", cfg->data_dir);
	memset(&so, 0, sizeof so);
	so.dir = store_dir;
	so.quota_bytes = cfg->quota_bytes;
	so.history_revs = cfg->history_revs;
	/* One fsync per apply instead of two: raft's log is durable and replays
	 * a transaction a power loss undid (see store.h). */
	so.meta_no_sync = true;
	/* Experimental: the raft log is the durable record (the store's applied
	 * index is replayed from it), so LMDB may skip its per-commit fsync. */
	so.no_sync = env_uint("APIGW_STORE_NO_SYNC", 0) != 0;
	rv = gw_store_open(&so, &c->store);
	if (rv != 0) {
		goto err_after_alloc;
	}

	/* With --etcd-cert clients see https; raft's peer channel strips the
	 * scheme and speaks its own mTLS (SNI apigw-peer selects the member
	 * certificate), or cleartext with the join secret on a cluster without
	 * PKI, which a TLS listener still takes for /apigw/internal/. */
	url_of(cfg, &cfg->etcd_listen, cfg->etcd_cert[0] != '\0', etcd_url, sizeof etcd_url);
	url_of(cfg, &cfg->admin_listen, cfg->admin_tls_cert[0] != '\0', admin_url,
	       sizeof admin_url);
	if (cfg->n_proxy_listen > 0) {
		url_of(cfg, &cfg->proxy_listen[0], false, proxy_url, sizeof proxy_url);
	} else {
		proxy_url[0] = '\0';
	}
	url_of(cfg, &cfg->status_listen, cfg->status_tls_cert[0] != '\0', status_url,
	       sizeof status_url);
	memset(&ro, 0, sizeof ro);
	ro.loop = loop;
	ro.store = c->store;
	ro.data_dir = cfg->data_dir;
	ro.name = cfg->name;
	ro.name_add_id = !cfg->name_given;
	ro.raft_address = cfg->raft_listen.text;
	ro.peer_tls_off = !cfg->peer_tls;
	ro.etcd_url = etcd_url;
	ro.admin_url = admin_url;
	ro.proxy_url = proxy_url;
	ro.status_url = status_url;
	ro.write_timeout_ms = cfg->write_timeout_ms;
	ro.voters = cfg->voters;
	ro.election_timeout_ms = env_uint("APIGW_RAFT_ELECTION_TIMEOUT_MS", 0);
	ro.heartbeat_ms = env_uint("APIGW_RAFT_HEARTBEAT_MS", 0);
	ro.snapshot_threshold = env_uint("APIGW_RAFT_SNAPSHOT_THRESHOLD", 0);
	ro.snapshot_trailing = env_uint("APIGW_RAFT_SNAPSHOT_TRAILING", 0);
	ro.replace_voter_ms = env_uint("APIGW_RAFT_REPLACE_VOTER_MS", 0);
	ro.consistency_check_ms = env_uint("APIGW_CONSISTENCY_CHECK_MS", 0);
	ro.test_corrupt_hash = env_uint("APIGW_TEST_CORRUPT_HASH", 0) != 0;
	ro.test_snapshot_load_delay_ms = env_uint("APIGW_TEST_SNAPSHOT_LOAD_DELAY_MS", 0);
	ro.token_sweep_ms = env_uint("APIGW_TOKEN_SWEEP_MS", 0);
	ro.token_grace_s = env_uint("APIGW_TOKEN_GRACE_S", 3600);
	if (cfg->cmd == GW_CMD_JOIN) {
		snprintf(peer, sizeof peer, "%s", cfg->peer.text);
		ro.join_peer = peer;
		ro.join_secret = cfg->join_secret;
		ro.join_token = token[0] != '\0' ? token : NULL;
	}
	ro.on_terminate = raft_terminate;
	ro.terminate_data = c;
	uv_timer_init(loop, &c->defer);
	c->defer.data = c;
	rv = gw_raft_start(&ro, &c->raft);
	OPENSSL_cleanse(token, sizeof token);
	if (rv != 0) {
		goto err_after_store;
	}

	memset(&eo, 0, sizeof eo);
	eo.store = c->store;
	eo.raft = c->raft;
	eo.write_timeout_ms = cfg->write_timeout_ms;
	eo.apisix_read_only = cfg->standalone[0] != '\0';
	/* Tuning knobs of the etcd port's connection caps (tests use them). */
	eo.max_conns = env_uint("APIGW_ETCD_MAX_CONNS", 0);
	eo.reserve_conns = env_uint("APIGW_ETCD_RESERVE_CONNS", 0);
	eo.idle_timeout_ms = env_uint("APIGW_ETCD_IDLE_TIMEOUT_MS", 0);
	eo.trusted_cidrs = cfg->etcd_trusted;
	eo.no_audit = !cfg->audit_etcd;
	eo.auth_token_ttl_ms = cfg->auth_token_ttl_ms;
	if (cfg->etcd_cert[0] != '\0') {
		eo.tls_cert = cfg->etcd_cert;
		eo.tls_key = cfg->etcd_key[0] != '\0' ? cfg->etcd_key : NULL;
		eo.tls_client_ca = cfg->etcd_client_ca[0] != '\0' ? cfg->etcd_client_ca : NULL;
	}
	rv = gw_etcd_start(loop, &cfg->etcd_listen, &eo, &c->etcd);
	if (rv != 0) {
		/* The caller stops us: raft must close on the loop. */
		c->etcd = NULL;
		*out = c;
		return rv;
	}
	*out = c;
	return 0;

err_after_store:
	uv_close((uv_handle_t *)&c->defer, NULL);
	uv_run(loop, UV_RUN_NOWAIT);
	gw_store_close(c->store);
err_after_alloc:
	free(c);
	return rv;
}

struct gw_store *gw_node_cluster_store(struct gw_node_cluster *c)
{
	return c->store;
}

struct gw_raft *gw_node_cluster_raft(struct gw_node_cluster *c)
{
	return c->raft;
}

uint64_t gw_node_cluster_etcd_refused(struct gw_node_cluster *c)
{
	return c->etcd != NULL ? gw_etcd_refused(c->etcd) : 0;
}

bool gw_node_cluster_joining(struct gw_node_cluster *c)
{
	return c->raft != NULL && gw_raft_joining(c->raft);
}

static void defer_closed(uv_handle_t *h)
{
	struct gw_node_cluster *c = h->data;
	void (*cb)(void *) = c->stop_cb;
	void *data = c->stop_data;

	gw_store_close(c->store);
	free(c);
	if (cb != NULL) {
		cb(data);
	}
}

static void raft_stopped(void *data)
{
	struct gw_node_cluster *c = data;
	uv_close((uv_handle_t *)&c->defer, defer_closed);
}

static void etcd_stopped(void *data)
{
	struct gw_node_cluster *c = data;
	gw_raft_stop(c->raft, raft_stopped, c);
}

void gw_node_cluster_stop(struct gw_node_cluster *c, void (*cb)(void *data), void *data)
{
	c->stop_cb = cb;
	c->stop_data = data;
	c->terminate_pending = false;
	uv_timer_stop(&c->defer);
	if (c->etcd != NULL) {
		gw_etcd_stop(c->etcd, etcd_stopped, c);
		c->etcd = NULL;
	} else {
		etcd_stopped(c);
	}
}

/* ---- status listener routes -------------------------------------------- */

static void leave_done(void *data, int err)
{
	struct leave_ctx *x = data;
	/* Answered already by raft_terminate (we were removed), which also
	 * cleared c->self_leave, as leave_answer always does. */
	if (x->req == NULL) {
		free(x);
		return;
	}
	leave_answer(x, err);
	if (err == 0 && x->self) {
		gw_infof("node", "left the cluster: stopping");
		raft_terminate(x->c, 0);
	}
	free(x);
}

bool gw_node_cluster_handle_status(struct gw_node_cluster *c, struct gw_http_req *req)
{
	char arg[64];
	struct gw_raft_status *st;
	struct leave_ctx *x;
	uint64_t id;
	int rv;

	if (strcmp(req->path, "/apigw/status") == 0) {
		char *s = gw_raft_status_json(c->raft);
		if (s == NULL) {
			gw_http_respond(req, 500, "application/json", "", "{}", 2);
		} else {
			gw_http_respond(req, 200, "application/json", "", s, strlen(s));
			free(s);
		}
		return true;
	}
	if (strncmp(req->path, "/apigw/token", 12) == 0) {
		return gw_node_token_handle(c->raft, req);
	}
	if (strcmp(req->path, "/apigw/leave") != 0) {
		return false;
	}
	if (strcmp(req->method, "POST") != 0) {
		gw_http_respond(req, 405, "application/json", "", "{}", 2);
		return true;
	}
	st = malloc(sizeof *st);
	x = calloc(1, sizeof *x);
	if (st == NULL || x == NULL) {
		free(st);
		free(x);
		gw_http_respond(req, 500, "application/json", "", "{}", 2);
		return true;
	}
	gw_raft_status(c->raft, st);
	id = st->id;
	if (gw_http_query_arg(req, "node", arg, sizeof arg) != NULL && arg[0] != '\0') {
		id = strtoull(arg, NULL, 16);
	}
	x->c = c;
	x->req = req;
	x->self = id == st->id;
	free(st);
	if (x->self && c->self_leave == NULL) {
		c->self_leave = x;
	}
	rv = gw_raft_remove(c->raft, id, leave_done, x);
	if (rv != 0) {
		leave_done(x, rv);
	}
	return true;
}

/* ---- clients ----------------------------------------------------------- */

struct local_call {
	const struct gw_addr *ep;
	struct gw_buf *out;
	char why[128]; /* why the connection failed */
	int status;    /* HTTP status, or -1 */
};

static void local_done(void *data, int err, const struct gw_httpc_resp *resp)
{
	struct local_call *x = data;

	if (err == 0) {
		x->status = resp->status;
		if (resp->body.len > 0) {
			gw_buf_append(x->out, resp->body.data, resp->body.len);
		}
	} else if (err == GW_EAGAIN) {
		fprintf(stderr, "apigw: cannot reach the node at %s: %s\n", x->ep->text, x->why);
	} else if (err == GW_EIO) {
		fprintf(stderr, "apigw: malformed answer from %s\n", x->ep->text);
	} else {
		fprintf(stderr, "apigw: %s: %s\n", x->ep->text, gw_strerror(err));
	}
}

/* Blocking request to the local node (no deadline, as a CLI waits for the
 * node): a private loop runs one gw_httpc request. The HTTP status, with
 * the body appended to @out, or -1 (printed). */
int gw_node_cluster_call(const struct gw_addr *ep, const char *method, const char *path,
			 struct gw_buf *out)
{
	struct local_call x = {.ep = ep, .out = out, .status = -1};
	struct gw_httpc_opts o = {.timeout_ms = 0, .why = x.why, .why_len = sizeof x.why};
	uv_loop_t loop;
	int rv;

	if (uv_loop_init(&loop) != 0) {
		fprintf(stderr, "apigw: cannot start an event loop\n");
		return -1;
	}
	rv = gw_httpc_request(&loop, ep->text, method, path, "", NULL, 0, &o, local_done, &x, NULL);
	if (rv != 0) {
		fprintf(stderr, "apigw: cannot reach the node at %s: %s\n", ep->text,
			gw_strerror(rv));
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	return x.status;
}

static const char *jstr(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	return cJSON_IsString(v) ? v->valuestring : "";
}

static double jnum(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static void print_status(const char *json)
{
	cJSON *o = cJSON_Parse(json), *m;
	const cJSON *members;

	if (o == NULL) {
		fputs(json, stdout);
		return;
	}
	printf("cluster:   %s\n", jstr(o, "cluster_id"));
	printf("member:    %s (%s)\n", jstr(o, "id"), jstr(o, "name"));
	printf("role:      %s, %s\n", jstr(o, "role"), jstr(o, "state"));
	printf("term:      %.0f\n", jnum(o, "term"));
	printf("leader:    %s\n", jstr(o, "leader_id")[0] ? jstr(o, "leader_id") : "(none)");
	printf("commit:    %.0f  applied: %.0f  revision: %.0f\n", jnum(o, "commit_index"),
	       jnum(o, "applied_index"), jnum(o, "revision"));
	printf("served:    %.0f  lag: %.0f\n", jnum(o, "served_revision"), jnum(o, "revision_lag"));
	printf("quorum:    %s\n",
	       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "has_quorum")) ? "yes" : "no");
	members = cJSON_GetObjectItemCaseSensitive(o, "members");
	printf("%-16s  %-12s  %-8s  %-6s  %-9s  %-21s  %s\n", "ID", "NAME", "ROLE", "LEADER",
	       "REACHABLE", "RAFT", "ETCD");
	cJSON_ArrayForEach(m, members)
	{
		const cJSON *reach = cJSON_GetObjectItemCaseSensitive(m, "reachable");
		printf("%-16s  %-12s  %-8s  %-6s  %-9s  %-21s  %s\n", jstr(m, "id"),
		       jstr(m, "name"), jstr(m, "role"),
		       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(m, "leader")) ? "*" : "",
		       cJSON_IsNull(reach) || reach == NULL ? "?"
		       : cJSON_IsTrue(reach)                ? "yes"
							    : "no",
		       jstr(m, "raft_address"), jstr(m, "etcd_url"));
	}
	cJSON_Delete(o);
}

int gw_node_cluster_client(const struct gw_node_config *cfg)
{
	struct gw_buf body;
	char path[96];
	int status;

	gw_buf_init(&body);
	if (cfg->cmd == GW_CMD_STATUS) {
		status = gw_node_cluster_call(&cfg->endpoint, "GET", "/apigw/status", &body);
		if (status == 200) {
			if (cfg->json) {
				printf("%s\n", body.data ? body.data : "{}");
			} else {
				print_status(body.data ? body.data : "{}");
			}
		}
	} else {
		if (cfg->remove_id[0] != '\0') {
			snprintf(path, sizeof path, "/apigw/leave?node=%s", cfg->remove_id);
		} else {
			snprintf(path, sizeof path, "/apigw/leave");
		}
		status = gw_node_cluster_call(&cfg->endpoint, "POST", path, &body);
		if (status == 200) {
			printf("%s\n", cfg->remove_id[0] ? "member removed" : "left the cluster");
		}
	}
	if (status >= 0 && status != 200) {
		fprintf(stderr, "apigw: %s", body.data ? body.data : "error\n");
	}
	gw_buf_close(&body);
	return status == 200 ? 0 : 1;
}
