/* metrics.c: Prometheus exposition of a node (see metrics.h).
 *
 * Names follow APISIX where one exists (apisix_node_info,
 * apisix_etcd_reachable) and use apigw_ for the rest: apigw_raft_*,
 * apigw_store_*, apigw_config_*. Every value is read at scrape time. */
#include "config.h"

#include "node/metrics.h"
#include "admin/apisix.h"
#include "lib/err.h"
#include "lib/httpd.h"
#include "lib/log.h"
#include "lib/prom.h"
#include "node/cluster.h"
#include "node/confsync.h"
#include "proxy/proxy.h"
#include "raft/raft.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define METRICS_PATH "/apisix/prometheus/metrics"

struct gw_node_metrics {
	struct gw_httpd *httpd;
	const struct gw_node_metrics_sources *src;
	void (*stop_cb)(void *data);
	void *stop_data;
};

static int gauge(struct gw_buf *b, const char *name, const char *help, double v)
{
	int rv = gw_prom_family(b, name, "gauge", help);
	return rv ? rv : gw_prom_sample(b, name, NULL, v);
}

static int counter(struct gw_buf *b, const char *name, const char *help, double v)
{
	int rv = gw_prom_family(b, name, "counter", help);
	return rv ? rv : gw_prom_sample(b, name, NULL, v);
}

static int write_raft(struct gw_buf *b, struct gw_raft *r)
{
	struct gw_raft_status *st = malloc(sizeof *st);
	const char *states[] = {"unavailable", "follower", "candidate", "leader"};
	char id[32];
	int rv;

	if (st == NULL) {
		return GW_ENOMEM;
	}
	gw_raft_status(r, st);
	snprintf(id, sizeof id, "%016llx", (unsigned long long)st->id);
	rv = gauge(b, "apisix_etcd_reachable",
		   "Config store reachable: 1 while this node has a raft leader with quorum",
		   st->has_quorum ? 1 : 0);
	if (rv == 0) {
		rv = gauge(b, "apigw_raft_has_quorum", "1 while a leader with a majority is known",
			   st->has_quorum ? 1 : 0);
	}
	if (rv == 0) {
		rv = gw_prom_family(b, "apigw_raft_state", "gauge",
				    "Raft state of this node (1 for the current one)");
	}
	for (int i = 0; rv == 0 && i < 4; i++) {
		const char *l[] = {"state", states[i], NULL};
		rv = gw_prom_sample(b, "apigw_raft_state", l,
				    strcmp(states[i], gw_raft_state_name(st->state)) == 0 ? 1 : 0);
	}
	if (rv == 0) {
		const char *l[] = {"role", gw_raft_role_name(st->role), "id", id, NULL};
		rv = gw_prom_family(b, "apigw_raft_role", "gauge", "Raft role of this node");
		if (rv == 0) {
			rv = gw_prom_sample(b, "apigw_raft_role", l, 1);
		}
	}
	if (rv == 0) {
		rv = gauge(b, "apigw_raft_term", "Current raft term", (double)st->term);
	}
	if (rv == 0) {
		rv = gauge(b, "apigw_raft_commit_index", "Raft commit index",
			   (double)st->commit_index);
	}
	if (rv == 0) {
		rv = gauge(b, "apigw_raft_applied_index", "Raft index applied to the store",
			   (double)st->applied_index);
	}
	if (rv == 0) {
		rv = gauge(b, "apigw_raft_members", "Members in the cluster configuration",
			   st->n_members);
	}
	if (rv == 0) {
		rv = gauge(b, "apigw_raft_halted",
			   "1 when the store failed and this node's control plane halted",
			   st->halted);
	}
	if (rv == 0) {
		rv = gauge(b, "apigw_raft_is_leader", "1 on the leader",
			   st->state == GW_STATE_LEADER ? 1 : 0);
	}
	if (rv == 0) {
		rv = counter(b, "apigw_raft_commit_nudges_total",
			     "Barriers the leader appended so followers learn a commit at once",
			     (double)st->commit_nudges);
	}
	if (rv == 0) {
		rv =
		    counter(b, "apigw_consistency_checks_total",
			    "Consistency checks (every member's keyspace hash) run by this node as "
			    "leader",
			    (double)st->check_rounds);
	}
	if (rv == 0) {
		rv = counter(b, "apigw_consistency_mismatches_total",
			     "Members whose keyspace hash differed from this leader's at the same "
			     "revision",
			     (double)st->check_mismatches);
	}
	if (rv == 0) {
		/* a read of the store's meta space: here, not in gw_raft_status,
		 * which every etcd response header takes */
		uint64_t *ids = NULL;
		size_t n = 0;
		if (gw_raft_corrupt_alarms(r, &ids, &n) != 0) {
			n = 0;
		}
		free(ids);
		rv = gauge(b, "apigw_corrupt_alarms",
			   "Members the CORRUPT alarm is raised for (etcdctl alarm list)",
			   (double)n);
	}
	free(st);
	return rv;
}

static int write_store(struct gw_buf *b, struct gw_store *s)
{
	int rv = gauge(b, "apigw_store_revision", "Store revision", (double)gw_store_revision(s));
	if (rv == 0) {
		rv = gauge(b, "apigw_store_compacted_revision", "Revision history is compacted to",
			   (double)gw_store_compact_revision(s));
	}
	if (rv == 0) {
		rv = gauge(b, "apigw_store_db_bytes", "Size of the LMDB data file",
			   (double)gw_store_db_size(s));
	}
	return rv;
}

static int write_confsync(struct gw_buf *b, struct gw_node_confsync *cs)
{
	struct gw_node_confsync_stats st;
	int rv;
	gw_node_confsync_stats(cs, &st);
	rv = gauge(b, "apigw_config_revision", "Store revision of the config the proxy serves",
		   (double)st.revision);
	if (rv == 0) {
		rv = gauge(b, "apigw_config_served_revision",
			   "Every config change up to this store revision is served here",
			   (double)gw_node_confsync_served(cs));
	}
	if (rv == 0) {
		rv = counter(b, "apigw_config_compiles_total", "Config snapshots published",
			     (double)st.compiles);
	}
	if (rv == 0) {
		rv = gauge(b, "apigw_config_compile_seconds", "Duration of the last compile",
			   (double)st.last_compile_us / 1e6);
	}
	if (rv == 0) {
		rv = gauge(b, "apigw_config_lag_seconds",
			   "Last change: commit seen by this node to config serving",
			   (double)st.last_lag_us / 1e6);
	}
	if (rv == 0) {
		rv = counter(b, "apigw_config_objects_compiled_total",
			     "Config objects compiled (a change compiles it and its dependents)",
			     (double)st.objects_compiled);
	}
	if (rv == 0) {
		rv = gauge(b, "apigw_config_last_compile_objects",
			   "Objects compiled by the last config compile", (double)st.last_objects);
	}
	if (rv == 0) {
		rv = counter(b, "apigw_config_router_copies_total",
			     "Snapshots whose router was copied (an older one was still in use)",
			     (double)st.router_copies);
	}
	return rv;
}

/* apigw_listener_tls_failures_total{listener}: control-plane listeners
 * served over TLS (lib/httpd.h), connections closed for a TLS failure. */
static int write_listener_tls(struct gw_buf *b, const struct gw_node_metrics *m,
			      const struct gw_node_metrics_sources *src)
{
	static const char name[] = "apigw_listener_tls_failures_total";
	const char *l[] = {"listener", NULL, NULL};
	int rv = 0;
	bool family = false;
	struct {
		const char *name;
		const struct gw_httpd *h;
		uint64_t admin;
		bool admin_tls;
	} each[] = {{"metrics", m->httpd, 0, false},
		    {"status", src->status, 0, false},
		    {"admin", NULL, src->admin != NULL ? gw_admin_tls_failures(src->admin) : 0,
		     src->admin != NULL && gw_admin_is_tls(src->admin)}};

	for (size_t i = 0; rv == 0 && i < sizeof each / sizeof each[0]; i++) {
		bool tls = each[i].h != NULL ? gw_httpd_is_tls(each[i].h) : each[i].admin_tls;
		if (!tls) {
			continue;
		}
		if (!family) {
			rv =
			    gw_prom_family(b, name, "counter",
					   "TLS connections of a control-plane listener closed for "
					   "a failed or timed-out handshake, a bad record or plain "
					   "HTTP");
			family = true;
		}
		l[1] = each[i].name;
		if (rv == 0) {
			rv = gw_prom_sample(b, name, l,
					    (double)(each[i].h != NULL
							 ? gw_httpd_tls_failures(each[i].h)
							 : each[i].admin));
		}
	}
	return rv;
}

static void handler(struct gw_http_req *req, void *data)
{
	struct gw_node_metrics *m = data;
	const struct gw_node_metrics_sources *src = m->src;
	struct gw_buf b;
	int rv = 0;

	if (strcmp(req->path, METRICS_PATH) != 0) {
		static const char nf[] = "404 page not found\n";
		gw_http_respond(req, 404, "text/plain", "", nf, sizeof nf - 1);
		return;
	}
	if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
		static const char na[] = "method not allowed\n";
		gw_http_respond(req, 405, "text/plain", "", na, sizeof na - 1);
		return;
	}
	gw_buf_init(&b);
	{
		const char *l[] = {"hostname", src->node_name ? src->node_name : "", "version",
				   VERSION, NULL};
		rv = gw_prom_family(&b, "apisix_node_info", "gauge", "Info of this node");
		if (rv == 0) {
			rv = gw_prom_sample(&b, "apisix_node_info", l, 1);
		}
	}
	if (rv == 0 && src->cluster != NULL) {
		rv = write_raft(&b, gw_node_cluster_raft(src->cluster));
		if (rv == 0) {
			rv = write_store(&b, gw_node_cluster_store(src->cluster));
		}
		if (rv == 0) {
			rv = counter(&b, "apigw_etcd_connections_refused_total",
				     "Connections to the etcd port refused by its caps",
				     (double)gw_node_cluster_etcd_refused(src->cluster));
		}
	}
	if (rv == 0 && src->confsync != NULL) {
		rv = write_confsync(&b, src->confsync);
	}
	if (rv == 0) {
		rv = write_listener_tls(&b, m, src);
	}
	if (rv == 0 && src->proxy != NULL) {
		rv = gw_proxy_metrics(src->proxy, &b);
	}
	if (rv != 0) {
		static const char oom[] = "out of memory\n";
		gw_buf_close(&b);
		gw_http_respond(req, 500, "text/plain", "", oom, sizeof oom - 1);
		return;
	}
	gw_http_respond(req, 200, "text/plain; version=0.0.4", "", b.data, b.len);
	gw_buf_close(&b);
}

int gw_node_metrics_start(uv_loop_t *loop, const struct gw_addr *addr, SSL_CTX *tls,
			  const struct gw_node_metrics_sources *src, struct gw_node_metrics **out)
{
	struct gw_node_metrics *m = calloc(1, sizeof *m);
	struct gw_httpd_opts ho = {.name = "metrics", .tls_ctx = tls};
	int rv;
	if (m == NULL) {
		return GW_ENOMEM;
	}
	m->src = src;
	rv = gw_httpd_start(loop, addr, &ho, handler, m, &m->httpd);
	if (rv != 0) {
		free(m);
		return rv;
	}
	*out = m;
	return 0;
}

static void stopped(void *data)
{
	struct gw_node_metrics *m = data;
	if (m->stop_cb != NULL) {
		m->stop_cb(m->stop_data);
	}
	free(m);
}

void gw_node_metrics_stop(struct gw_node_metrics *m, void (*cb)(void *data), void *data)
{
	m->stop_cb = cb;
	m->stop_data = data;
	gw_httpd_stop(m->httpd, stopped, m);
}
