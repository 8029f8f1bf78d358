/* fuzz_proxy.h: one proxy worker without threads or listeners, for the
 * HTTP/1 harnesses (fuzz_http1.c, fuzz_upstream_resp.c).
 *
 * The worker is a real struct gw_proxy__worker with its own uv loop, the
 * production defaults for every limit and a config compiled from /apisix/
 * pairs by gw_proxy_config_compile. Client connections are real dconns
 * (conn.c) over an in-memory transport: what the proxy writes to the client
 * is collected in fp_conn.out, and the loop is only run when a harness asks
 * (fp_run), so everything up to there is synchronous and deterministic.
 * Upstream connections are real sockets to a listener of the same loop that
 * accepts and reads but never answers: a harness injects the upstream's
 * bytes itself with gw_proxy__req_upstream_data. */
#ifndef GW_FUZZ_PROXY_H
#define GW_FUZZ_PROXY_H

#include "lib/buf.h"
#include "proxy/conn_int.h"

#include <stdbool.h>

/* One client connection over the in-memory transport. */
struct fp_conn {
	struct gw_proxy__dconn *dc; /* NULL once closed */
	struct gw_buf out;          /* bytes the proxy wrote to the client */
	bool shut;                  /* the proxy half-closed (lingering) */
	bool closed;
	bool reading;
};

/* Set up the worker once; @routes_json is a JSON object mapping
 * "/apisix/..." keys to values (compiled as the config). The upstream
 * listener's port replaces every "$UP" in the values. */
void fp_init(const char *routes_json);
struct gw_proxy__worker *fp_worker(void);

/* Open a client connection. */
void fp_open(struct fp_conn *c);
/* Bytes from the client (ignored once the connection is closed). */
void fp_feed(struct fp_conn *c, const char *p, size_t n);
/* The client closes its side (or the input ended): abort what is left,
 * close the connection and run the loop until its handles are closed. */
void fp_close(struct fp_conn *c);
/* Run the loop without blocking, @n times. */
void fp_run(int n);

#endif
