/* apisix.c: the APISIX-compatible Admin API over the replicated store: its
 * life cycle, the gates every request passes and the dispatcher.
 *
 * Happy path of a request: the client address is in the allow-list, the
 * path is under /apisix/admin, the API key is the admin's (or the viewer's,
 * for GET), then gw_admin__route (apisix_route.c) finds the handler of
 * (method, path) in the route table and the handler answers: reads from
 * the local store (apisix_read.c), writes as ops proposed through raft
 * (apisix_write.c, apisix_txn.c).
 *
 * The dashboard's static files (/ui/, apisix_ui.c) pass the allow-list
 * only: the page asks for the key and sends it with each API call.
 *
 * Failure modes: a refused request is answered at once through
 * gw_admin__send_err (the one mapping of errors to statuses and APISIX's
 * error bodies): 403 address not allowed, 404 outside the prefix or an
 * unknown resource, 401 missing or wrong key (or a viewer writing), 405 a
 * method the resource does not serve. The key of a joining node without one
 * is adopted from the cluster's store (and saved); a node with a key
 * publishes it once while the cluster has none.
 *
 * Threads: all on the loop of gw_admin_start (the control loop). */
#include "config.h"

#include "admin/apisix.h"
#include "admin/apisix_int.h"
#include "admin/apisix_ui.h"
#include "lib/ct.h"
#include "lib/err.h"
#include "lib/httpd.h"
#include "lib/log.h"
#include "raft/raft.h"
#include "store/store.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void maybe_stopped(struct gw_admin *a);

void gw_admin__maybe_free(struct gw_admin *a)
{
	if (a->stopped && a->n_ops == 0 && a->stop_cb == NULL) {
		free(a);
	}
}

/* ---- gates ------------------------------------------------------------- */

/* A joining node without a key takes the cluster's, once its store has it. */
static void adopt_key(struct gw_admin *a)
{
	char *val = NULL;
	size_t len = 0;

	if (gw_store_meta_get(a->store, GW_ADMIN_KEY_META, &val, &len) != 0 || val == NULL) {
		return;
	}
	if (len > 0 && len < sizeof(a->admin_key) && memchr(val, '\0', len) == NULL) {
		memcpy(a->admin_key, val, len);
		a->admin_key[len] = '\0';
		if (a->data_dir[0] != '\0') {
			gw_admin_key_save(a->data_dir, a->admin_key);
		}
	}
	free(val);
}

/* The API key of a request: header, then ?api_key=, then cookie. */
static const char *request_key(struct gw_http_req *req, char *buf, size_t n)
{
	const char *h = gw_http_header(req, "x-api-key"), *c, *p, *e;

	if (h != NULL) {
		return h;
	}
	if (gw_http_query_arg(req, "api_key", buf, n) != NULL) {
		return buf;
	}
	c = gw_http_header(req, "cookie");
	for (p = c; p != NULL && *p;) {
		while (*p == ' ' || *p == ';') {
			p++;
		}
		if (strncmp(p, "x_api_key=", 10) == 0) {
			p += 10;
			e = strchr(p, ';');
			snprintf(buf, n, "%.*s", (int)(e ? (size_t)(e - p) : strlen(p)), p);
			return buf;
		}
		p = strchr(p, ';');
	}
	return NULL;
}

/* Check the request's API key (the admin's, or the viewer's for GET and
 * HEAD): 0, or GW_ADMIN__EAUTH with the reason in *why (static). */
static int authenticate(struct gw_admin *a, struct gw_http_req *req, const char **why)
{
	char keybuf[256];
	const char *key = request_key(req, keybuf, sizeof(keybuf));
	bool admin, viewer;

	*why = NULL;
	if (key == NULL || *key == '\0') {
		*why = "missing apikey";
		return GW_ADMIN__EAUTH;
	}
	if (a->admin_key[0] == '\0') {
		adopt_key(a);
	}
	/* Both keys are always compared, in constant time (lib/ct.h): the
	 * answer's timing says nothing about either. An unset key never
	 * matches. */
	admin = gw_ct_streq(key, a->admin_key);
	viewer = gw_ct_streq(key, a->viewer_key) && !admin;
	if (!admin && !viewer) {
		*why = "wrong apikey";
		return GW_ADMIN__EAUTH;
	}
	if (viewer && gw_admin__method_bit(req->method) != GW_ADMIN__M_GET &&
	    strcmp(req->method, "HEAD") != 0) {
		*why = "invalid method for role viewer";
		return GW_ADMIN__EAUTH;
	}
	return 0;
}

static bool address_allowed(const struct gw_admin *a, const struct gw_http_req *req)
{
	return a->n_cidrs == 0 ||
	       gw_cidr_match(a->cidrs, a->n_cidrs, (const struct sockaddr *)&req->peer);
}

/* ---- dispatcher -------------------------------------------------------- */

/* Would @req change the config? (Not: GET/HEAD, ?dry_run=true, a schema
 * check.) */
static bool writes(struct gw_http_req *req, const struct gw_admin__match *m)
{
	char arg[16];

	if (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0 ||
	    strncmp(m->route->pattern, "schema/", 7) == 0) {
		return false;
	}
	return !(gw_http_query_arg(req, "dry_run", arg, sizeof arg) != NULL &&
		 strcmp(arg, "true") == 0);
}

static void handle(struct gw_http_req *req, void *data)
{
	struct gw_admin *a = data;
	struct gw_admin__match m;
	size_t plen = strlen(GW_ADMIN__PREFIX);
	const char *rest, *why;
	char msg[512];
	int rv;

	if (!address_allowed(a, req)) {
		gw_admin__send_err(req, GW_ADMIN__EFORBIDDEN,
				   "client address is not allowed to use the Admin API");
		return;
	}
	if (strncmp(req->path, "/ui", 3) == 0 && (req->path[3] == '\0' || req->path[3] == '/')) {
		gw_admin__ui_serve(req); /* the dashboard: static, no key (its calls send one) */
		return;
	}
	rest = req->path + strnlen(req->path, plen);
	if (strncmp(req->path, GW_ADMIN__PREFIX, plen) != 0 || (*rest != '\0' && *rest != '/')) {
		gw_admin__send_err(req, GW_ENOTFOUND,
				   "not found: the Admin API lives under /apisix/admin");
		return;
	}
	if (strcmp(req->method, "HEAD") == 0 && (*rest == '\0' || strcmp(rest, "/") == 0)) {
		gw_admin__send_text(req, "", 0);
		return;
	}
	rv = authenticate(a, req, &why);
	if (rv != 0) {
		gw_admin__send_err(req, rv, why);
		return;
	}
	rv = gw_admin__route(req->method, rest, &m, msg, sizeof(msg));
	if (rv != 0) {
		gw_admin__send_err(req, rv, msg);
		return;
	}
	if (a->standalone[0] != '\0' && writes(req, &m)) {
		snprintf(
		    msg, sizeof(msg),
		    "standalone mode: the config is read from %.300s; change that file instead "
		    "(Admin API writes are refused; ?dry_run=true is answered)",
		    a->standalone);
		gw_admin__send_err(req, GW_ADMIN__EFORBIDDEN, msg);
		return;
	}
	m.handler(a, req, &m);
}

/* ---- start / stop ------------------------------------------------------ */

static void pub_done(void *data, int err, struct gw_store_result *res)
{
	struct gw_admin *a = data;

	if (err == 0 && res->err != 0) {
		err = res->err;
	}
	if (res) {
		gw_store_result_free(res);
	}
	a->pub_inflight = false;
	a->n_ops--;
	if (err == 0) {
		gw_infof("admin", "published this node's admin key as the cluster's");
	}
	gw_admin__maybe_free(a);
}

/* Publish our key while the cluster has none (retried every second: the
 * first attempts may come before a leader is elected). */
static void pub_tick(uv_timer_t *t)
{
	struct gw_admin *a = t->data;
	struct gw_store_op op;
	char *val = NULL;
	size_t len = 0;

	if (a->pub_inflight || a->stopping) {
		return;
	}
	if (gw_store_meta_get(a->store, GW_ADMIN_KEY_META, &val, &len) == 0) {
		free(val);
		uv_timer_stop(t); /* the cluster has a key (ours or another's) */
		return;
	}
	memset(&op, 0, sizeof(op));
	op.type = GW_OP_META_PUT;
	op.u.meta.key = GW_ADMIN_KEY_META;
	op.u.meta.key_len = strlen(GW_ADMIN_KEY_META);
	op.u.meta.value = a->admin_key;
	op.u.meta.value_len = strlen(a->admin_key);
	if (gw_raft_propose(a->raft, &op, 0, pub_done, a) == 0) {
		a->pub_inflight = true;
		a->n_ops++;
	}
}

int gw_admin_start(uv_loop_t *loop, const struct gw_addr *listen, const struct gw_admin_opts *opts,
		   struct gw_admin **out)
{
	struct gw_admin *a;
	int rv;

	if ((opts->admin_key && strlen(opts->admin_key) >= sizeof(a->admin_key)) ||
	    (opts->viewer_key && strlen(opts->viewer_key) >= sizeof(a->viewer_key)) ||
	    (opts->data_dir && strlen(opts->data_dir) >= sizeof(a->data_dir))) {
		gw_errorf("admin", "admin key, viewer key or data dir too long");
		return GW_EINVAL;
	}
	a = calloc(1, sizeof(*a));
	if (a == NULL) {
		return GW_ENOMEM;
	}
	a->loop = loop;
	gw_list_init(&a->ops);
	gw_rand_xs_seed(&a->jitter);
	a->store = opts->store;
	a->raft = opts->raft;
	a->write_timeout_ms = opts->write_timeout_ms;
	a->node_read = opts->node_read;
	a->node_data = opts->node_data;
	a->config_check = opts->config_check;
	a->config_check_data = opts->config_check_data;
	a->audit_retention_ms =
	    opts->audit_retention_ms ? opts->audit_retention_ms : 7ULL * 24 * 3600 * 1000;
	snprintf(a->admin_key, sizeof(a->admin_key), "%s", opts->admin_key ? opts->admin_key : "");
	snprintf(a->data_dir, sizeof(a->data_dir), "%s", opts->data_dir ? opts->data_dir : "");
	a->publish_key = opts->publish_key && a->admin_key[0] != '\0';
	snprintf(a->standalone, sizeof(a->standalone), "%s",
		 opts->standalone_file ? opts->standalone_file : "");
	snprintf(a->viewer_key, sizeof(a->viewer_key), "%s",
		 opts->viewer_key ? opts->viewer_key : "");
	rv = gw_cidr_parse(opts->allow_cidrs ? opts->allow_cidrs : "127.0.0.0/24", a->cidrs,
			   GW_ADMIN__MAX_CIDR, &a->n_cidrs);
	if (rv != 0) {
		gw_errorf("admin", "bad allow-list %s: expected comma-separated CIDRs",
			  opts->allow_cidrs);
		goto err_after_alloc;
	}
	rv = gw_admin__audit_sink_start(a, opts->audit_log);
	if (rv != 0) {
		goto err_after_alloc;
	}
	{
		struct gw_httpd_opts ho = {.name = "admin", .tls_ctx = opts->tls_ctx};
		rv = gw_httpd_start(loop, listen, &ho, handle, a, &a->httpd);
	}
	if (rv != 0) {
		gw_admin__audit_sink_stop(a);
		goto err_after_alloc;
	}
	if (a->admin_key[0] == '\0') {
		adopt_key(a); /* a restarted node may already hold the cluster's */
	}
	uv_timer_init(loop, &a->pub_timer);
	a->pub_timer.data = a;
	if (a->publish_key) {
		uv_timer_start(&a->pub_timer, pub_tick, 0, 1000);
	}
	gw_infof("admin", "APISIX Admin API listening on %s%s%s", listen->text,
		 opts->tls_ctx != NULL ? " (TLS)" : "",
		 a->admin_key[0] ? "" : " (adopting the cluster's admin key once it arrives)");
	*out = a;
	return 0;

err_after_alloc:
	free(a);
	return rv;
}

static void timer_closed(uv_handle_t *h)
{
	struct gw_admin *a = h->data;

	a->timer_done = true;
	maybe_stopped(a);
}

static void httpd_stopped(void *data)
{
	struct gw_admin *a = data;

	a->httpd_done = true;
	maybe_stopped(a);
}

int gw_admin_port(const struct gw_admin *a)
{
	return gw_httpd_port(a->httpd);
}

uint64_t gw_admin_tls_failures(const struct gw_admin *a)
{
	return gw_httpd_tls_failures(a->httpd);
}

bool gw_admin_is_tls(const struct gw_admin *a)
{
	return gw_httpd_is_tls(a->httpd);
}

static void maybe_stopped(struct gw_admin *a)
{
	void (*cb)(void *) = a->stop_cb;

	if (!a->httpd_done || !a->timer_done) {
		return;
	}
	a->stopped = true;
	a->stop_cb = NULL;
	if (cb) {
		cb(a->stop_data);
	}
	gw_admin__maybe_free(a);
}

void gw_admin_stop(struct gw_admin *a, void (*cb)(void *data), void *data)
{
	a->stopping = true;
	a->stop_cb = cb;
	a->stop_data = data;
	/* requests waiting to retry are answered now; those inside raft when
	 * raft calls back */
	gw_admin__ops_stop(a);
	gw_admin__audit_sink_stop(a);
	uv_timer_stop(&a->pub_timer);
	uv_close((uv_handle_t *)&a->pub_timer, timer_closed);
	gw_httpd_stop(a->httpd, httpd_stopped, a);
}
