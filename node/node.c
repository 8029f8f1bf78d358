/* node.c: one apigw node (see node.h).
 *
 * Start-up, on the control loop (the main thread): make the data dir, bind
 * the status listener, start the cluster (store, raft, etcd listener), compile
 * the proxy config straight from the local store and start the proxy workers
 * with it (so a node restarted without quorum serves its last committed
 * config at once), then follow the store (confsync). Once the proxy workers
 * hold a config and listen, the node is ready (/status/ready answers 200).
 *
 * Shutdown. SIGTERM drains: readiness turns 503 at once, the proxy keeps
 * serving for --drain-delay (so a load balancer notices), then the proxy
 * stops accepting and finishes in-flight requests (up to --drain-timeout),
 * then the other components stop in reverse order (raft hands leadership
 * over first) and the process exits 0. SIGINT (an operator at a terminal)
 * skips the delay. A second signal exits at once.
 * Failure modes: a data dir that cannot be created or a listener that cannot
 * bind stops start-up with one log line naming it; exit code 1. */
#include "config.h"

#include "node/node.h"
#include "admin/apisix.h"
#include "node/backup_periodic.h"
#include "node/cluster.h"
#include "node/confsync.h"
#include "node/dryrun.h"
#include "node/control.h"
#include "node/history.h"
#include "node/metrics.h"
#include "node/reload.h"
#include "node/standalone.h"

#include <cjson/cJSON.h>
#include "node/systemd.h"
#include "proxy/proxy.h"
#include "lib/err.h"
#include "lib/httpd.h"
#include "lib/keyring.h"
#include "lib/log.h"
#include "lib/sm.h"
#include "lib/tlspolicy.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* The node's life cycle:
 *   STARTING -> READY       every component is up (readiness 200)
 *   READY -> DRAINING       SIGTERM with a drain delay: unready, still serving
 *   STARTING | READY | DRAINING -> STOPPING   components stopping in order
 *   STOPPING -> STOPPED     the last component has stopped; the loop ends */
enum node_life { NODE_STARTING, NODE_READY, NODE_DRAINING, NODE_STOPPING, NODE_STOPPED, NODE_N };

static const char *const life_names[NODE_N] = {"starting", "ready", "draining", "stopping",
					       "stopped"};
static const uint32_t life_allowed[NODE_N] = {
    [NODE_STARTING] = GW_SM_BIT(NODE_READY) | GW_SM_BIT(NODE_STOPPING),
    [NODE_READY] = GW_SM_BIT(NODE_DRAINING) | GW_SM_BIT(NODE_STOPPING),
    [NODE_DRAINING] = GW_SM_BIT(NODE_STOPPING),
    [NODE_STOPPING] = GW_SM_BIT(NODE_STOPPED),
    [NODE_STOPPED] = 0,
};
static const struct gw_sm_conf life_conf = {"node", life_names, life_allowed, NODE_N};

struct gw_node {
	const struct gw_node_config *cfg;
	uv_loop_t loop;
	uv_signal_t sigint;
	uv_signal_t sigterm;
	uv_signal_t sigusr1;               /* reopen the access log (logrotate) */
	uv_signal_t sighup;                /* reload (node/reload.h) */
	struct gw_node_sd *sd;             /* sd_notify (node/systemd.h), NULL = none */
	struct gw_httpd *status;           /* status listener */
	struct gw_node_cluster *cluster;   /* store + raft + etcd listener (node/cluster.c) */
	struct gw_admin *admin;            /* APISIX Admin API (admin/apisix.c) */
	struct gw_proxy *proxy;            /* data plane workers */
	struct gw_node_confsync *confsync; /* store -> proxy config */
	struct gw_node_dryrun dryrun;      /* the Admin API's dry-run compiles */
	uv_timer_t drain_timer;            /* --drain-delay after SIGTERM */
	struct gw_node_metrics *metrics;   /* Prometheus listener */
	struct gw_node_metrics_sources metrics_src; /* what a scrape reads */
	struct gw_node_control *control;            /* control API (node/control.c) */
	struct gw_node_control_sources control_src; /* what it reads */
	struct gw_node_history *history;            /* history age limit (node/history*.c) */
	struct gw_node_backups *backups;            /* --backup-dir (node/backup_periodic.c) */
	struct gw_node_standalone *standalone;      /* --standalone (node/standalone.c) */
	struct gw_sm life;                          /* enum node_life */
	int pending_stops;                          /* components still stopping */
	int exit_code;
};

/* mkdir -p with mode 0700 for created components. 0 or -errno. */
static int mkdir_p(const char *path)
{
	char tmp[PATH_MAX];
	size_t len = strlen(path);
	if (len == 0 || len >= sizeof tmp) {
		return -ENAMETOOLONG;
	}
	memcpy(tmp, path, len + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			if (mkdir(tmp, 0700) != 0 && errno != EEXIST) {
				return -errno;
			}
			*p = '/';
		}
	}
	if (mkdir(tmp, 0700) != 0 && errno != EEXIST) {
		return -errno;
	}
	return 0;
}

/* Raise the soft file-descriptor limit to the hard one (a gateway holds a
 * descriptor per client and per upstream connection; the usual soft 1,024
 * would stop every listener long before the machine runs out) and say the
 * effective cap once. */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		gw_warnf("node", "getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
		return;
	}
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t was = rl.rlim_cur;
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
			gw_warnf("node", "cannot raise the open file limit from %llu: %s",
				 (unsigned long long)was, strerror(errno));
			return;
		}
	}
	if (rl.rlim_cur == RLIM_INFINITY) {
		gw_infof("node", "open file limit: unlimited descriptors");
	} else {
		gw_infof("node", "open file limit: %llu descriptors",
			 (unsigned long long)rl.rlim_cur);
	}
}

/* ---- status listener --------------------------------------------------- */

/* A shutdown has begun (readiness answers 503 "shutting down"). */
static bool shutting_down(const struct gw_node *n)
{
	return gw_sm_in(&n->life, GW_SM_BIT(NODE_DRAINING) | GW_SM_BIT(NODE_STOPPING) |
				      GW_SM_BIT(NODE_STOPPED));
}

/* The node serves: started, proxy workers listening with a config, not
 * joining, not shutting down (/status/ready without ?min_revision). */
static bool node_serving(const struct gw_node *n)
{
	return !shutting_down(n) && gw_sm_state(&n->life) == NODE_READY &&
	       (n->proxy == NULL || gw_proxy_ready(n->proxy)) &&
	       (n->cluster == NULL || !gw_node_cluster_joining(n->cluster));
}

static void json_reply(struct gw_http_req *req, int status, const char *body)
{
	gw_http_respond(req, status, "application/json", "", body, strlen(body));
}

/* ,"standalone":{file, loaded, loads, revision, error} for /status (""
 * without --standalone), into @buf. */
static const char *standalone_json(struct gw_node *n, char *buf, size_t len)
{
	struct gw_node_standalone_info in;
	cJSON *o;
	char *text;

	buf[0] = '\0';
	if (n->standalone == NULL || (o = cJSON_CreateObject()) == NULL) {
		return buf;
	}
	gw_node_standalone_info(n->standalone, &in);
	cJSON_AddStringToObject(o, "file", in.file);
	cJSON_AddBoolToObject(o, "loaded", in.loaded);
	cJSON_AddNumberToObject(o, "loads", (double)in.loads);
	cJSON_AddNumberToObject(o, "revision", (double)in.revision);
	cJSON_AddStringToObject(o, "error", in.error);
	text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (text != NULL && strlen(text) + 16 < len) {
		snprintf(buf, len, ",\"standalone\":%s", text);
	}
	free(text);
	return buf;
}

static bool standalone_loaded(struct gw_node *n)
{
	struct gw_node_standalone_info in;

	gw_node_standalone_info(n->standalone, &in);
	/* loaded, and the workers serve it */
	return in.loaded && n->confsync != NULL &&
	       gw_node_confsync_served(n->confsync) >= in.revision;
}

/* GET /status: 200 while the process is alive (APISIX's shape), plus what
 * an operator wants at a glance. Quorum is reported here and in metrics,
 * never in readiness: a node without quorum still serves traffic. */
static void status_reply(struct gw_node *n, struct gw_http_req *req)
{
	char body[1536], sa[800];
	bool quorum = false, halted = false;
	const char *state = "starting";
	int64_t config_rev = 0, served = -1, store_rev = 0;
	unsigned long long applied = 0;

	if (n->cluster != NULL) {
		struct gw_raft_status *st = malloc(sizeof *st);
		if (st != NULL) {
			gw_raft_status(gw_node_cluster_raft(n->cluster), st);
			quorum = st->has_quorum;
			halted = st->halted;
			state = gw_raft_state_name(st->state);
			applied = (unsigned long long)st->applied_index;
			store_rev = st->revision;
			free(st);
		}
	}
	if (n->confsync != NULL) {
		struct gw_node_confsync_stats cs;
		gw_node_confsync_stats(n->confsync, &cs);
		config_rev = cs.revision;
		served = gw_node_confsync_served(n->confsync);
	}
	/* served_revision: every config change up to it is served here;
	 * revision_lag: store revisions applied here but not served yet */
	snprintf(body, sizeof body,
		 "{\"status\":\"ok\",\"ready\":%s,\"draining\":%s,\"raft_state\":\"%s\","
		 "\"quorum\":%s,\"control_plane\":\"%s\",\"config_revision\":%lld,"
		 "\"served_revision\":%lld,\"store_revision\":%lld,\"applied_index\":%llu,"
		 "\"revision_lag\":%lld%s}\n",
		 gw_sm_state(&n->life) == NODE_READY ? "true" : "false",
		 shutting_down(n) ? "true" : "false", state, quorum ? "true" : "false",
		 halted ? "halted: store failed, see the log" : "ok", (long long)config_rev,
		 (long long)served, (long long)store_rev, applied,
		 (long long)(served >= 0 && store_rev > served ? store_rev - served : 0),
		 standalone_json(n, sa, sizeof sa));
	json_reply(req, 200, body);
}

/* ?min_revision=N of /status/ready: 1 when given and this node does not
 * serve N yet, 0 when it does or none was given, -1 when malformed. */
static int below_min_revision(struct gw_node *n, struct gw_http_req *req)
{
	char arg[32], *end;
	long long want;

	if (gw_http_query_arg(req, "min_revision", arg, sizeof arg) == NULL) {
		return 0;
	}
	want = strtoll(arg, &end, 10);
	if (arg[0] == '\0' || *end != '\0' || want < 0) {
		return -1;
	}
	return n->confsync == NULL || gw_node_confsync_served(n->confsync) < want ? 1 : 0;
}

static void status_handler(struct gw_http_req *req, void *data)
{
	struct gw_node *n = data;
	const char *path = req->path;

	/* Cluster routes: GET /apigw/status, POST /apigw/leave. */
	if (n->cluster != NULL && gw_node_cluster_handle_status(n->cluster, req)) {
		return;
	}
	if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
		json_reply(req, 405, "{\"status\":\"error\",\"error\":\"method not allowed\"}\n");
		return;
	}
	if (strcmp(path, "/status") == 0 || strcmp(path, "/healthz") == 0) {
		status_reply(n, req);
	} else if (strcmp(path, "/status/ready") == 0 || strcmp(path, "/readyz") == 0) {
		if (shutting_down(n)) {
			json_reply(req, 503,
				   "{\"status\":\"error\",\"error\":\"shutting down\"}\n");
		} else if (gw_sm_state(&n->life) != NODE_READY ||
			   (n->proxy != NULL && !gw_proxy_ready(n->proxy))) {
			json_reply(req, 503, "{\"status\":\"error\",\"error\":\"starting\"}\n");
		} else if (n->standalone != NULL && !standalone_loaded(n)) {
			/* --standalone: the file not loaded yet */
			json_reply(req, 503,
				   "{\"status\":\"error\",\"error\":\"standalone file not loaded "
				   "yet\"}\n");
		} else if (n->cluster != NULL && gw_node_cluster_joining(n->cluster)) {
			/* `apigw join` not confirmed yet: the store may still be empty. */
			json_reply(req, 503, "{\"status\":\"error\",\"error\":\"joining\"}\n");
		} else if (below_min_revision(n, req) < 0) {
			json_reply(req, 400,
				   "{\"status\":\"error\",\"error\":\"min_revision must be a "
				   "revision\"}\n");
		} else if (below_min_revision(n, req) > 0) {
			json_reply(
			    req, 503,
			    "{\"status\":\"error\",\"error\":\"revision not served yet\"}\n");
		} else {
			json_reply(req, 200, "{\"status\":\"ok\"}\n");
		}
	} else {
		json_reply(req, 404, "{\"status\":\"error\",\"error\":\"not found\"}\n");
	}
}

/* ---- shutdown ---------------------------------------------------------- */

static void component_stopped(void *data)
{
	struct gw_node *n = data;
	GW_ASSERT(n->pending_stops > 0);
	if (--n->pending_stops == 0) {
		gw_sm_move(&n->life, NODE_STOPPED);
		uv_close((uv_handle_t *)&n->sigint, NULL);
		uv_close((uv_handle_t *)&n->sigterm, NULL);
		uv_close((uv_handle_t *)&n->sigusr1, NULL);
		uv_close((uv_handle_t *)&n->sighup, NULL);
	}
}

static void drain_closed(uv_handle_t *h)
{
	component_stopped(h->data);
}

/* Second half of a shutdown: everything but the readiness flip. */
static void node_stop_components(struct gw_node *n)
{
	gw_sm_move(&n->life, NODE_STOPPING);
	gw_infof("node", "stopping components");
	gw_node_sd_stopping(n->sd);
	if (n->sd != NULL) {
		n->pending_stops++;
		gw_node_sd_stop(n->sd, component_stopped, n);
		n->sd = NULL;
	}
	if (n->proxy != NULL) {
		/* Blocks this loop until in-flight requests finish (bounded by
		 * --drain-timeout); the control plane has nothing to serve that
		 * cannot wait that long. */
		gw_proxy_stop(n->proxy);
		n->proxy = NULL;
	}
	if (n->metrics != NULL) {
		n->pending_stops++;
		gw_node_metrics_stop(n->metrics, component_stopped, n);
		n->metrics = NULL;
	}
	if (n->control != NULL) {
		n->pending_stops++;
		gw_node_control_stop(n->control, component_stopped, n);
		n->control = NULL;
	}
	memset(&n->control_src, 0, sizeof n->control_src);
	if (n->confsync != NULL) {
		gw_raft_set_served(gw_node_cluster_raft(n->cluster), NULL, NULL);
		gw_node_confsync_stop(n->confsync);
		n->confsync = NULL;
	}
	memset(&n->metrics_src, 0, sizeof n->metrics_src);
	if (n->history != NULL) { /* before raft: a compaction in raft ends in raft's stop */
		n->pending_stops++;
		gw_node_history_stop(n->history, component_stopped, n);
		n->history = NULL;
	}
	if (n->standalone != NULL) { /* before raft: its proposal answers in raft's stop */
		gw_node_standalone_stop(n->standalone);
		n->standalone = NULL;
	}
	if (n->backups != NULL) { /* before the cluster: it reads its store */
		n->pending_stops++;
		gw_node_backups_stop(n->backups, component_stopped, n);
		n->backups = NULL;
	}
	if (n->admin != NULL) { /* before raft: its pending writes answer in raft's stop */
		n->pending_stops++;
		gw_admin_stop(n->admin, component_stopped, n);
		n->admin = NULL;
	}
	if (n->cluster != NULL) {
		n->pending_stops++;
		gw_node_cluster_stop(n->cluster, component_stopped, n);
		n->cluster = NULL;
	}
	if (n->status != NULL) {
		n->pending_stops++;
		gw_httpd_stop(n->status, component_stopped, n);
		n->status = NULL;
	}
	uv_close((uv_handle_t *)&n->drain_timer, drain_closed);
}

static void drain_timer_cb(uv_timer_t *t)
{
	node_stop_components(t->data);
}

/* Begin a shutdown: readiness fails at once; components stop after
 * @delay_ms (the drain delay), during which the proxy keeps serving. */
static void node_shutdown_after(struct gw_node *n, unsigned delay_ms)
{
	if (shutting_down(n)) {
		return;
	}
	n->pending_stops = 1; /* the drain timer's close */
	gw_node_sd_stopping(n->sd);
	if (delay_ms > 0 && n->proxy != NULL) {
		gw_sm_move(&n->life, NODE_DRAINING);
		gw_infof("node", "draining: unready now, serving %u ms more", delay_ms);
		uv_timer_start(&n->drain_timer, drain_timer_cb, delay_ms, 0);
		return;
	}
	gw_infof("node", "shutting down");
	node_stop_components(n);
}

static void node_shutdown(struct gw_node *n)
{
	node_shutdown_after(n, 0);
}

static void signal_cb(uv_signal_t *h, int signum)
{
	struct gw_node *n = h->data;
	if (shutting_down(n)) {
		gw_warnf("node", "second signal (%s): exiting at once", strsignal(signum));
		_exit(1);
	}
	gw_infof("node", "received %s", strsignal(signum));
	node_shutdown_after(n, signum == SIGTERM ? n->cfg->drain_delay_ms : 0);
}

/* SIGUSR1: reopen the access log by name (logrotate moved the file). */
static void sigusr1_cb(uv_signal_t *h, int signum)
{
	struct gw_node *n = h->data;
	(void)signum;
	if (n->proxy != NULL) {
		gw_infof("node", "SIGUSR1: reopening the access log");
		gw_proxy_reopen_logs(n->proxy);
	}
}

/* SIGHUP (systemctl reload): parse the flags and config file again and
 * apply what can change at run time (node/reload.h). */
/* SIGHUP: read <data-dir>/keyring again (after `apigw keyring rotate` or a
 * ring copied from another member). A missing or malformed file keeps the
 * ring in use (logged). */
static void reload_keyring(struct gw_node *n)
{
	const struct gw_keyring *cur = gw_keyring_default();
	struct gw_keyring *kr = NULL;
	int rv = gw_keyring_load(n->cfg->data_dir, false, &kr);

	if (rv != 0) {
		if (cur != NULL || rv != GW_ENOTFOUND) {
			gw_warnf("node", "keyring not reloaded (%s): keeping the ring in use",
				 gw_strerror(rv));
		}
		return;
	}
	if (cur == NULL || gw_keyring_count(cur) != gw_keyring_count(kr) ||
	    strcmp(gw_keyring_current(cur), gw_keyring_current(kr)) != 0) {
		gw_infof("node", "keyring reloaded: %d keys, current %s", gw_keyring_count(kr),
			 gw_keyring_current(kr));
	}
	gw_keyring_set_default(kr);
}

static void sighup_cb(uv_signal_t *h, int signum)
{
	struct gw_node *n = h->data;
	(void)signum;
	if (shutting_down(n)) {
		return;
	}
	gw_infof("node", "SIGHUP: reloading");
	gw_node_sd_reloading(n->sd);
	gw_node_reload(n->cfg, n->proxy);
	reload_keyring(n);
	if (n->standalone != NULL) {
		gw_node_standalone_reload(n->standalone);
	}
	if (n->admin != NULL) {
		gw_admin_reopen_logs(n->admin); /* --audit-log after logrotate */
	}
	gw_node_sd_reloaded(n->sd);
}

/* gw_node_sd_sources: READY=1 once the node serves. */
static bool sd_serving(void *data)
{
	return node_serving(data);
}

/* gw_node_sd_sources: STATUS= "<raft state>, <role>, serving revision N"
 * ("leader, voter, serving revision 42"). */
static void sd_describe(void *data, char *buf, size_t len)
{
	struct gw_node *n = data;
	const char *state = "starting", *role = "unknown";
	long long served = -1;

	if (n->cluster != NULL) {
		struct gw_raft_status *st = malloc(sizeof *st);
		if (st != NULL) {
			gw_raft_status(gw_node_cluster_raft(n->cluster), st);
			state = gw_raft_state_name(st->state);
			role = gw_raft_role_name(st->role);
			free(st);
		}
	}
	if (n->confsync != NULL) {
		served = (long long)gw_node_confsync_served(n->confsync);
	}
	if (n->cluster != NULL && gw_node_cluster_joining(n->cluster)) {
		state = "joining";
	}
	snprintf(buf, len, "%s, %s, serving revision %lld", state, role, served);
}

/* The cluster says this node must stop (it left, or its join failed). */
static void cluster_terminated(void *data, int err)
{
	struct gw_node *n = data;

	if (err != 0 && n->exit_code == 0) {
		n->exit_code = err;
	}
	node_shutdown(n);
}

/* ---- run --------------------------------------------------------------- */

/* The TLS context of a control-plane listener from its --<@what>-tls-cert
 * and -key flags: NULL in *@out when @cert is empty (cleartext). 0 or
 * GW_EINVAL (logged: the node does not start). */
static int listener_tls(const char *cert, const char *key, const char *what, SSL_CTX **out)
{
	char why[512];

	*out = NULL;
	if (cert[0] == '\0') {
		return 0;
	}
	*out = gw_tlspolicy_server_file(cert, key, why, sizeof why);
	if (*out == NULL) {
		gw_errorf("node", "--%s-tls-cert: %s", what, why);
		return GW_EINVAL;
	}
	return 0;
}

/* The APISIX Admin API on --admin-listen, over the cluster's store and raft.
 * Its key: --admin-key, else <data-dir>/admin.key; else `start` creates one
 * (and makes it the cluster's), `join` adopts the cluster's. */
/* gw_admin_opts.node_read: the dashboard's health and traffic pages read
 * this node's proxy (the control API's health JSON, the proxy's metrics). */
static int admin_node_read(void *data, const char *what, char **out, size_t *len)
{
	struct gw_node *n = data;
	struct gw_buf b;
	int rv;

	if (n->proxy == NULL) {
		return GW_EUNHEALTHY;
	}
	if (strcmp(what, "health") == 0) {
		rv = gw_proxy_health_json(n->proxy, NULL, out);
		*len = rv == 0 ? strlen(*out) : 0;
		return rv;
	}
	gw_buf_init(&b);
	rv = gw_proxy_metrics(n->proxy, &b);
	if (rv == 0) {
		*out = malloc(b.len + 1);
		rv = *out != NULL ? 0 : GW_ENOMEM;
	}
	if (rv == 0) {
		memcpy(*out, b.data, b.len);
		(*out)[b.len] = '\0';
		*len = b.len;
	}
	gw_buf_close(&b);
	return rv;
}

static int start_admin(struct gw_node *n)
{
	struct gw_admin_opts ao;
	bool joining = n->cfg->cmd == GW_CMD_JOIN;
	char key[256], *have = NULL;
	size_t len = 0;
	int rv;

	rv = gw_admin_key_load(n->cfg->data_dir, n->cfg->admin_key, false, key, sizeof key);
	if (rv == GW_ENOTFOUND && !joining &&
	    gw_store_meta_get(gw_node_cluster_store(n->cluster), GW_ADMIN_KEY_META, &have, &len) !=
		0) {
		/* a new cluster: generate the key it will share */
		rv = gw_admin_key_load(n->cfg->data_dir, NULL, true, key, sizeof key);
	}
	free(have);
	if (rv == GW_ENOTFOUND) {
		key[0] = '\0'; /* adopt the cluster's */
	} else if (rv != 0) {
		return rv;
	}
	memset(&ao, 0, sizeof ao);
	ao.store = gw_node_cluster_store(n->cluster);
	ao.raft = gw_node_cluster_raft(n->cluster);
	ao.admin_key = key;
	ao.viewer_key = n->cfg->admin_viewer_key;
	ao.allow_cidrs = n->cfg->admin_allow;
	ao.data_dir = n->cfg->data_dir;
	ao.publish_key = !joining;
	ao.write_timeout_ms = n->cfg->write_timeout_ms;
	ao.audit_retention_ms = (uint64_t)n->cfg->audit_retention_h * 3600 * 1000;
	ao.standalone_file = n->cfg->standalone;
	ao.audit_log = n->cfg->audit_log;
	ao.node_read = admin_node_read;
	ao.node_data = n;
	n->dryrun.loop = &n->loop;
	n->dryrun.store = ao.store;
	ao.config_check = gw_node_dryrun_check;
	ao.config_check_data = &n->dryrun;
	rv = listener_tls(n->cfg->admin_tls_cert, n->cfg->admin_tls_key, "admin", &ao.tls_ctx);
	if (rv != 0) {
		return rv;
	}
	rv = gw_admin_start(&n->loop, &n->cfg->admin_listen, &ao, &n->admin);
	SSL_CTX_free(ao.tls_ctx); /* the listener holds its own reference */
	if (rv != 0) {
		n->admin = NULL;
	}
	return rv;
}

/* gw_raft_served_fn: what this node's proxy serves (-1 before it runs). */
static int64_t served_revision(void *data)
{
	struct gw_node *n = data;

	return n->confsync != NULL ? gw_node_confsync_served(n->confsync) : -1;
}

/* Compile the committed config from the local store, start the workers
 * with it, then follow the store. No raft round trip is involved. */
static int start_proxy(struct gw_node *n)
{
	struct gw_store *store = gw_node_cluster_store(n->cluster);
	struct gw_proxy_opts po;
	struct gw_proxy_config *pc;
	struct gw_proxy_cache *cache;
	int64_t rev;
	int rv;

	rv = gw_node_confsync_compile(store, &cache, &pc);
	if (rv != 0) {
		return rv;
	}
	rev = gw_proxy_config_revision(pc);
	gw_infof("node", "proxy config compiled from the local store at revision %lld: %zu routes",
		 (long long)rev, gw_proxy_config_routes(pc));
	memset(&po, 0, sizeof po);
	po.listen = n->cfg->proxy_listen;
	po.n_listen = n->cfg->n_proxy_listen;
	po.tls_listen = n->cfg->proxy_tls_listen;
	po.n_tls_listen = n->cfg->n_proxy_tls_listen;
	po.tls_fallback_sni = n->cfg->proxy_tls_fallback_sni;
	po.h2c = n->cfg->proxy_h2c;
	po.no_h2 = !n->cfg->proxy_http2;
	po.workers = n->cfg->workers;
	po.config = pc; /* the proxy takes the reference, also on failure */
	po.drain_timeout_ms = n->cfg->drain_timeout_ms;
	{
		/* tests of the send and header timeouts (0 or unset: the proxy's 60 s) */
		const char *e = getenv("APIGW_TEST_PROXY_SEND_TIMEOUT_MS");
		po.send_timeout_ms = e != NULL ? (unsigned)strtoul(e, NULL, 10) : 0;
		e = getenv("APIGW_TEST_PROXY_HEADER_TIMEOUT_MS");
		po.header_timeout_ms = e != NULL ? (unsigned)strtoul(e, NULL, 10) : 0;
	}
	po.real_ip_from = n->cfg->real_ip_from;
	po.access_log = n->cfg->access_log;
	po.access_log_format = n->cfg->access_log_format;
	po.resolvers = n->cfg->resolvers;
	po.dns_min_ttl_ms = n->cfg->dns_min_ttl_ms;
	po.dns_max_ttl_ms = n->cfg->dns_max_ttl_ms;
	po.dns_ipv6 = n->cfg->dns_ipv6;
	rv = gw_proxy_start(&po, &n->proxy);
	if (rv != 0) {
		n->proxy = NULL;
		gw_proxy_cache_free(cache);
		return rv;
	}
	rv = gw_node_confsync_start(&n->loop, store, n->proxy, rev, cache, &n->confsync);
	if (rv == 0) {
		gw_raft_set_served(gw_node_cluster_raft(n->cluster), served_revision, n);
	}
	return rv;
}

int gw_node_run(const struct gw_node_config *cfg)
{
	struct gw_node n;
	struct gw_keyring *ring = NULL;
	int rv;

	memset(&n, 0, sizeof n);
	n.cfg = cfg;
	gw_sm_init(&n.life, &life_conf, NODE_STARTING);
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();

	rv = mkdir_p(cfg->data_dir);
	if (rv != 0) {
		gw_errorf("node", "cannot create data dir %s: %s", cfg->data_dir, strerror(-rv));
		return GW_EIO;
	}
	/* the data-encryption keyring (lib/keyring.h, docs/tls.md): `start`
	 * creates it; a joining node gets the cluster's with its enrollment */
	rv = gw_keyring_load(cfg->data_dir, cfg->cmd != GW_CMD_JOIN, &ring);
	if (rv == GW_ENOTFOUND) {
		gw_infof("node",
			 "no keyring in %s yet: the enrollment brings the cluster's (with "
			 "--peer-tls=off, copy a member's <data-dir>/keyring here)",
			 cfg->data_dir);
	} else if (rv != 0) {
		return rv;
	} else {
		gw_keyring_set_default(ring);
	}
	rv = uv_loop_init(&n.loop);
	if (rv != 0) {
		gw_errorf("node", "uv_loop_init: %s", uv_strerror(rv));
		return GW_EIO;
	}
	uv_signal_init(&n.loop, &n.sigint);
	uv_signal_init(&n.loop, &n.sigterm);
	n.sigint.data = &n;
	n.sigterm.data = &n;
	uv_signal_start(&n.sigint, signal_cb, SIGINT);
	uv_signal_start(&n.sigterm, signal_cb, SIGTERM);
	uv_signal_init(&n.loop, &n.sigusr1);
	n.sigusr1.data = &n;
	uv_signal_start(&n.sigusr1, sigusr1_cb, SIGUSR1);
	uv_signal_init(&n.loop, &n.sighup);
	n.sighup.data = &n;
	uv_signal_start(&n.sighup, sighup_cb, SIGHUP);
	uv_timer_init(&n.loop, &n.drain_timer);
	n.drain_timer.data = &n;

	{
		struct gw_httpd_opts so = {.name = "status"};
		rv = listener_tls(cfg->status_tls_cert, cfg->status_tls_key, "status", &so.tls_ctx);
		if (rv == 0) {
			rv = gw_httpd_start(&n.loop, &cfg->status_listen, &so, status_handler, &n,
					    &n.status);
			SSL_CTX_free(so.tls_ctx);
		}
	}
	if (rv != 0) {
		n.status = NULL;
		n.exit_code = rv;
		goto err_after_signals;
	}

	rv = gw_node_cluster_start(&n.loop, cfg, cluster_terminated, &n, &n.cluster);
	if (rv != 0) {
		n.exit_code = rv;
		goto err_after_signals;
	}

	rv = start_admin(&n);
	if (rv != 0) {
		n.exit_code = rv;
		goto err_after_signals;
	}

	rv = start_proxy(&n);
	if (rv != 0) {
		n.exit_code = rv;
		goto err_after_signals;
	}

	rv = gw_node_history_start(&n.loop, gw_node_cluster_store(n.cluster),
				   gw_node_cluster_raft(n.cluster),
				   (uint64_t)cfg->history_hours * 3600 * 1000, &n.history);
	if (rv != 0) {
		n.history = NULL;
		n.exit_code = rv;
		goto err_after_signals;
	}

	n.metrics_src.node_name = cfg->name;
	n.metrics_src.cluster = n.cluster;
	n.metrics_src.confsync = n.confsync;
	n.metrics_src.proxy = n.proxy;
	n.metrics_src.admin = n.admin;
	n.metrics_src.status = n.status;
	{
		SSL_CTX *mt;
		rv = listener_tls(cfg->metrics_tls_cert, cfg->metrics_tls_key, "metrics", &mt);
		if (rv == 0) {
			rv = gw_node_metrics_start(&n.loop, &cfg->metrics_listen, mt,
						   &n.metrics_src, &n.metrics);
			SSL_CTX_free(mt);
		}
	}
	if (rv != 0) {
		n.metrics = NULL;
		n.exit_code = rv;
		goto err_after_signals;
	}

	n.control_src.cluster = n.cluster;
	n.control_src.confsync = n.confsync;
	n.control_src.proxy = n.proxy;
	rv = gw_node_control_start(&n.loop, &cfg->control_listen, cfg->control_allow,
				   &n.control_src, &n.control);
	if (rv != 0) {
		n.control = NULL;
		n.exit_code = rv;
		goto err_after_signals;
	}

	if (cfg->standalone[0] != '\0') {
		rv = gw_node_standalone_start(&n.loop, cfg->standalone, cfg->standalone_poll_ms,
					      gw_node_cluster_store(n.cluster),
					      gw_node_cluster_raft(n.cluster), &n.standalone);
		if (rv != 0) {
			n.exit_code = rv;
			goto err_after_signals;
		}
	}

	if (cfg->backup_dir[0] != '\0') {
		rv = gw_node_backups_start(&n.loop, n.cluster, cfg->backup_dir,
					   cfg->backup_interval_ms, cfg->backup_keep, &n.backups);
		if (rv != 0) {
			n.backups = NULL;
			n.exit_code = rv;
			goto err_after_signals;
		}
	}

	gw_sm_move(&n.life, NODE_READY);
	gw_infof("node", "ready: name=%s data-dir=%s status=%s",
		 gw_raft_name(gw_node_cluster_raft(n.cluster)), cfg->data_dir,
		 cfg->status_listen.text);
	{
		/* READY=1 once node_serving() (proxy listening, join confirmed) */
		struct gw_node_sd_sources sds = {sd_serving, sd_describe, &n};
		if (gw_node_sd_start(&n.loop, &sds, &n.sd) != 0) {
			gw_warnf("node", "out of memory: systemd will not hear from this node");
		}
	}
	uv_run(&n.loop, UV_RUN_DEFAULT);
	goto out;

err_after_signals:
	node_shutdown(&n);
	uv_run(&n.loop, UV_RUN_DEFAULT);
out:
	rv = uv_loop_close(&n.loop);
	if (rv != 0) {
		gw_warnf("node", "loop closed with live handles: %s", uv_strerror(rv));
	}
	GW_ASSERT(gw_sm_state(&n.life) == NODE_STOPPED);
	gw_keyring_set_default(NULL); /* every reader has stopped */
	if (n.exit_code == 0) {
		gw_infof("node", "stopped");
	}
	return n.exit_code;
}
