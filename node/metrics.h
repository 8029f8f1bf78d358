/* metrics.h: the Prometheus listener (/apisix/prometheus/metrics).
 *
 * A scrape reads the current values from the node's components (raft
 * status, store counters, confsync stats, proxy counters summed over the
 * workers) and writes the text exposition format; nothing is kept between
 * scrapes, and the request path of the proxy takes no lock for it.
 * Threads: the control loop. */
#ifndef GW_NODE_METRICS_H
#define GW_NODE_METRICS_H

#include "lib/addr.h"

#include <openssl/ssl.h>
#include <uv.h>

struct gw_node_metrics;
struct gw_node_cluster;
struct gw_node_confsync;
struct gw_proxy;
struct gw_admin;
struct gw_httpd;

/* Where a scrape reads from. Pointers may be NULL (that part is skipped)
 * and may change between scrapes (the node updates them). */
struct gw_node_metrics_sources {
	const char *node_name;
	struct gw_node_cluster *cluster;
	struct gw_node_confsync *confsync;
	struct gw_proxy *proxy;
	struct gw_admin *admin;        /* its listener's TLS failures */
	const struct gw_httpd *status; /* the status listener's */
};

/* Start serving on @addr, over TLS with @tls (NULL: cleartext; the
 * listener takes its own reference). The listener reads *@src at every
 * scrape; @src must outlive it. 0 or GW_EADDR (logged). */
int gw_node_metrics_start(uv_loop_t *loop, const struct gw_addr *addr, SSL_CTX *tls,
			  const struct gw_node_metrics_sources *src, struct gw_node_metrics **out);

/* Stop, then call @cb; the metrics listener is freed. */
void gw_node_metrics_stop(struct gw_node_metrics *m, void (*cb)(void *data), void *data);

#endif
