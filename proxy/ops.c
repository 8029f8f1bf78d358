/* ops.c: the HTTP metrics of the proxy and the request hooks that feed them
 * and the access log (accesslog.c); see ops_int.h.
 *
 * Happy path. Each request ends in gw_proxy__ops_req_done on its worker:
 * its outcome (status, route, upstream node, bytes, times) goes to the access
 * log and the request is counted in the worker's own series table (status
 * code, route, upstream node -> count, bytes in and out, three latency
 * histograms). A scrape sums the workers' tables with relaxed atomic loads:
 * the request path takes no lock. gw_proxy__ops_init/_close set up and tear
 * down the listeners' options, --real-ip-from and the access log.
 * Failure modes: a series table that is full folds new label sets into
 * route="" node="" (cardinality stays bounded: route ids come only from the
 * compiled config, at most MAX_SERIES label sets per worker); bad listener
 * options or CIDRs fail init with GW_EINVAL (logged). */
#include "config.h"

#include "lib/err.h"
#include "lib/log.h"
#include "lib/prom.h"
#include "proxy/conn_int.h"
#include "proxy/health_int.h"
#include "proxy/plugin_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_SERIES     512  /* slots per worker (power of two) */
#define LABELED_SERIES 384  /* slots labeled series may take; the rest: folded */
#define PP_TIMEOUT_MAX 5000 /* ms to receive a PROXY header, at most */

/* APISIX's default buckets, in ms. */
static const double buckets[] = {1,   2,    5,    10,   20,    50,    100,  200,
				 500, 1000, 2000, 5000, 10000, 30000, 60000};
#define NB    (sizeof buckets / sizeof buckets[0])
#define LAT_N 3 /* request, upstream, apisix */
static const char *const lat_types[LAT_N] = {"request", "upstream", "apisix"};

/* One label set of one worker. The key fields are written once before
 * `ready` is released and never change; the counters are written by the
 * worker only and read by scrapes. */
struct gw_proxy__series {
	atomic_bool ready;
	int code;
	char route[64];
	char consumer[64];
	char node[48];
	char service[64];
	char matched_uri[128];
	char matched_host[128];
	atomic_uint_fast64_t count, in_bytes, out_bytes;
	atomic_uint_fast64_t lat[LAT_N][NB + 1]; /* per bucket (not cumulative); [NB] = +Inf */
	atomic_uint_fast64_t lat_sum_us[LAT_N];
};

/* ---- helpers */

static uint64_t now_ns(void)
{
	return uv_hrtime();
}

/* Counters with one writer (a worker's own): a plain load and store, no
 * locked read-modify-write on the request path; readers see whole values. */
static void own_add(atomic_uint_fast64_t *a, uint64_t v)
{
	atomic_store_explicit(a, atomic_load_explicit(a, memory_order_relaxed) + v,
			      memory_order_relaxed);
}

static void own_gauge(atomic_int_fast64_t *a, int64_t d)
{
	atomic_store_explicit(a, atomic_load_explicit(a, memory_order_relaxed) + d,
			      memory_order_relaxed);
}

static uint64_t relaxed_get(atomic_uint_fast64_t *a)
{
	return atomic_load_explicit(a, memory_order_relaxed);
}

/* What the log and the metrics say about @r, which ends now. */
static void describe(struct gw_proxy__req *r, struct gw_proxy__outcome *o)
{
	uint64_t end = now_ns();
	memset(o, 0, sizeof *o);
	o->status = r->resp_started ? r->status : 499; /* nginx's "client closed" */
	o->route = r->route != NULL && r->route->id != NULL ? r->route->id : "";
	o->consumer = r->consumer != NULL ? r->consumer->username : "";
	o->service = o->matched_uri = o->matched_host = "";
	gw_proxy__prom_labels(r, o);
	if (r->up != NULL && r->node >= 0 && (size_t)r->node < r->up->n_nodes) {
		const char *t = r->up->nodes[r->node].text;
		const char *colon = strrchr(t, ':');
		size_t l = colon != NULL ? (size_t)(colon - t) : strlen(t);
		if (l > 0 && t[0] == '[') {
			t++;
			l -= 2;
		}
		if (l >= sizeof o->node) {
			l = sizeof o->node - 1;
		}
		memcpy(o->node, t, l);
		o->node[l] = '\0';
		o->upaddr = r->up->nodes[r->node].text;
		/* response headers came from the upstream; else the proxy
		 * answered for it (502/504 after failures) */
		o->up_status = r->rh.n > 0 ? r->status : r->resp_started ? r->status : 502;
	}
	o->req_us = r->t_begin != 0 && end > r->t_begin ? (end - r->t_begin) / 1000 : 0;
	if (r->t_up_begin != 0) {
		uint64_t ue = r->t_up_end > r->t_up_begin ? r->t_up_end : end;
		o->up_us = (ue - r->t_up_begin) / 1000;
		o->has_up_time = true;
		if (o->up_us > o->req_us) {
			o->up_us = o->req_us;
		}
	}
	o->in_bytes = r->url.len + 16 + r->body_bytes;
	for (size_t i = 0; i < r->hc.n; i++) {
		o->in_bytes += r->hc.v[i].name_len + r->hc.v[i].value_len + 4;
	}
	o->out_bytes = r->bytes_out;
}

/* A writer that could not finish at shutdown (stuck writing to a pipe
 * nobody reads) keeps its state here: the process is about to exit. */
static struct gw_proxy__ops *abandoned;

/* ---- request hooks */

void gw_proxy__ops_req_begin(struct gw_proxy__req *r)
{
	struct gw_proxy__wops *wo = &r->dc->w->p->ops->w[r->dc->w->idx];
	if (r->st_reading || r->st_writing) {
		return;
	}
	r->t_begin = now_ns();
	r->st_reading = true;
	own_gauge(&wo->reading, 1);
}

void gw_proxy__ops_req_head(struct gw_proxy__req *r)
{
	struct gw_proxy__wops *wo = &r->dc->w->p->ops->w[r->dc->w->idx];
	if (r->t_begin == 0) {
		r->t_begin = now_ns();
	}
	if (r->st_reading) {
		r->st_reading = false;
		own_gauge(&wo->reading, -1);
	}
	if (!r->st_writing) {
		r->st_writing = true;
		own_gauge(&wo->writing, 1);
	}
	gw_proxy__pp_real_ip(r);
}

/* The label set of a series (each "" when absent). */
struct labels {
	int code;
	const char *route, *consumer, *node, *service, *uri, *host;
};

static uint64_t hash_str(uint64_t h, const char *s)
{
	for (; *s; s++) {
		h = gw_proxy__fnv_step(h, (unsigned char)*s);
	}
	return gw_proxy__fnv_step(h, 0);
}

static uint64_t series_hash(const struct labels *k)
{
	uint64_t h = GW_PROXY__FNV_INIT;
	h = gw_proxy__fnv_step(h, (unsigned char)(k->code & 0xff));
	h = gw_proxy__fnv_step(h, (unsigned char)(k->code >> 8));
	h = hash_str(h, k->route);
	h = hash_str(h, k->consumer);
	h = hash_str(h, k->node);
	h = hash_str(h, k->service);
	h = hash_str(h, k->uri);
	return hash_str(h, k->host);
}

#define SAME(field, want) (strncmp((field), (want), sizeof(field) - 1) == 0)

static bool series_is(const struct gw_proxy__series *s, const struct labels *k)
{
	return s->code == k->code && SAME(s->route, k->route) && SAME(s->consumer, k->consumer) &&
	       SAME(s->node, k->node) && SAME(s->service, k->service) &&
	       SAME(s->matched_uri, k->uri) && SAME(s->matched_host, k->host);
}

/* The worker's series for the label set, created if there is room; when
 * the labeled part of the table is full, the request is counted under
 * empty labels (and in the overflow counter). */
static struct gw_proxy__series *series_get(struct gw_proxy__wops *wo, struct labels k)
{
	size_t mask = MAX_SERIES - 1, i;
	bool folded = false;
again:
	i = (size_t)series_hash(&k) & mask;
	for (size_t probes = 0; probes < MAX_SERIES; probes++, i = (i + 1) & mask) {
		struct gw_proxy__series *s = &wo->series[i];
		if (!atomic_load_explicit(&s->ready, memory_order_relaxed)) {
			if (wo->n_series >= (folded ? MAX_SERIES : LABELED_SERIES)) {
				break;
			}
			s->code = k.code;
			snprintf(s->route, sizeof s->route, "%s", k.route);
			snprintf(s->consumer, sizeof s->consumer, "%s", k.consumer);
			snprintf(s->node, sizeof s->node, "%s", k.node);
			snprintf(s->service, sizeof s->service, "%s", k.service);
			snprintf(s->matched_uri, sizeof s->matched_uri, "%s", k.uri);
			snprintf(s->matched_host, sizeof s->matched_host, "%s", k.host);
			atomic_store_explicit(&s->ready, true, memory_order_release);
			wo->n_series++;
			return s;
		}
		if (series_is(s, &k)) {
			return s;
		}
	}
	own_add(&wo->overflow, 1);
	if (folded) {
		return NULL;
	}
	folded = true;
	k = (struct labels){k.code, "", "", "", "", "", ""};
	goto again;
}

static void observe(struct gw_proxy__series *s, int type, uint64_t us)
{
	double ms = (double)us / 1000.0;
	size_t b = 0;
	while (b < NB && ms > buckets[b]) {
		b++;
	}
	own_add(&s->lat[type][b], 1);
	own_add(&s->lat_sum_us[type], us);
}

void gw_proxy__ops_req_done(struct gw_proxy__req *r)
{
	struct gw_proxy__worker *w = r->dc->w;
	struct gw_proxy__ops *ops = w->p->ops;
	struct gw_proxy__wops *wo;
	struct gw_proxy__outcome o;
	struct gw_proxy__series *s;

	if (ops == NULL) {
		return;
	}
	wo = &ops->w[w->idx];
	if (r->st_reading) {
		r->st_reading = false;
		own_gauge(&wo->reading, -1);
	}
	if (r->st_writing) {
		r->st_writing = false;
		own_gauge(&wo->writing, -1);
	}
	if (!r->headers_done && !r->resp_started) {
		return; /* nothing happened: a spare request, or bytes then EOF */
	}
	describe(r, &o);
	if (ops->log_on) {
		gw_proxy__log_line(r, &o);
	}
	s = series_get(wo, (struct labels){o.status, o.route, o.consumer, o.node, o.service,
					   o.matched_uri, o.matched_host});
	if (s == NULL) {
		return;
	}
	own_add(&s->count, 1);
	own_add(&s->in_bytes, o.in_bytes);
	own_add(&s->out_bytes, o.out_bytes);
	observe(s, 0, o.req_us);
	if (o.has_up_time) {
		observe(s, 1, o.up_us);
		observe(s, 2, o.req_us - o.up_us);
	}
}

/* ---- life cycle */

/* "proxy_protocol" is the one listener option known today. */
static int listen_opts(const char *opts, bool *pp)
{
	char tmp[64], *save = NULL;
	snprintf(tmp, sizeof tmp, "%s", opts);
	*pp = false;
	for (char *t = strtok_r(tmp, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
		if (strcmp(t, "proxy_protocol") == 0) {
			*pp = true;
		} else {
			return -1;
		}
	}
	return 0;
}

static int parse_trusted(struct gw_proxy__ops *ops, const char *list)
{
	char *tmp, *save = NULL;
	size_t n = 1;
	if (list == NULL || *list == '\0') {
		return 0;
	}
	for (const char *s = list; *s; s++) {
		n += *s == ',';
	}
	ops->trusted = calloc(n, sizeof *ops->trusted);
	tmp = strdup(list);
	if (ops->trusted == NULL || tmp == NULL) {
		free(tmp);
		return GW_ENOMEM;
	}
	for (char *t = strtok_r(tmp, ", ", &save); t != NULL; t = strtok_r(NULL, ", ", &save)) {
		if (gw_proxy__cidr_parse(t, &ops->trusted[ops->n_trusted]) != 0) {
			gw_errorf("proxy", "real-ip-from: bad CIDR '%s'", t);
			free(tmp);
			return GW_EINVAL;
		}
		ops->n_trusted++;
	}
	free(tmp);
	return 0;
}

int gw_proxy__ops_init(struct gw_proxy *p)
{
	struct gw_proxy__ops *ops = calloc(1, sizeof *ops);
	int rv;

	if (ops == NULL) {
		return GW_ENOMEM;
	}
	p->ops = ops;
	ops->log_fd = -1;
	ops->n_workers = p->n_workers;
	ops->pp_timeout_ms =
	    p->opts.header_timeout_ms < PP_TIMEOUT_MAX ? p->opts.header_timeout_ms : PP_TIMEOUT_MAX;
	ops->pp_listen = calloc((size_t)p->opts.n_listen, sizeof *ops->pp_listen);
	ops->w = calloc((size_t)p->n_workers, sizeof *ops->w);
	if (ops->pp_listen == NULL || ops->w == NULL) {
		return GW_ENOMEM;
	}
	for (int i = 0; i < p->n_workers; i++) {
		ops->w[i].series = calloc(MAX_SERIES, sizeof *ops->w[i].series);
		if (ops->w[i].series == NULL) {
			return GW_ENOMEM;
		}
	}
	for (int i = 0; i < p->opts.n_listen; i++) {
		if (listen_opts(p->listen[i].opts, &ops->pp_listen[i]) != 0) {
			gw_errorf("proxy",
				  "listener %s: unknown option in '%s' (known: proxy_protocol)",
				  p->listen[i].text, p->listen[i].opts);
			return GW_EINVAL;
		}
	}
	rv = parse_trusted(ops, p->opts.real_ip_from);
	if (rv != 0) {
		return rv;
	}
	return gw_proxy__log_init(ops, &p->opts);
}

void gw_proxy__ops_close(struct gw_proxy *p)
{
	struct gw_proxy__ops *ops = p->ops;
	if (ops == NULL) {
		return;
	}
	gw_proxy__logger_stop();
	if (!gw_proxy__log_stop(ops)) {
		abandoned = ops;
		p->ops = NULL;
		return;
	}
	gw_proxy__log_free(ops);
	if (ops->w != NULL) {
		for (int i = 0; i < ops->n_workers; i++) {
			free(ops->w[i].series);
		}
	}
	free(ops->w);
	free(ops->pp_listen);
	free(ops->trusted);
	free(ops);
	p->ops = NULL;
}

/* ---- scrape */

/* One merged label set across workers. */
struct agg {
	struct labels k; /* point into a worker's series (stable) */
	uint64_t count, in_bytes, out_bytes;
	uint64_t lat[LAT_N][NB + 1];
	uint64_t lat_sum_us[LAT_N];
};

struct aggset {
	struct agg *v;
	size_t n, cap;
	struct gw_proxy__map idx; /* key -> index + 1 */
	char **key_store;         /* the map's keys, owned */
	size_t n_keys;
};

static struct agg *agg_get(struct aggset *a, const struct labels *k)
{
	char *key;
	void *hit;
	int kl = asprintf(&key, "%d\n%s\n%s\n%s\n%s\n%s\n%s", k->code, k->route, k->consumer,
			  k->node, k->service, k->uri, k->host);
	if (kl < 0) {
		return NULL;
	}
	hit = gw_proxy__map_get(&a->idx, key, (size_t)kl);
	if (hit != NULL) {
		free(key);
		return &a->v[(uintptr_t)hit - 1];
	}
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		struct agg *v = realloc(a->v, cap * sizeof *v);
		char **ks = realloc(a->key_store, cap * sizeof *ks);
		if (v != NULL) {
			a->v = v;
		}
		if (ks != NULL) {
			a->key_store = ks;
		}
		if (v == NULL || ks == NULL) {
			free(key);
			return NULL;
		}
		a->cap = cap;
	}
	if (gw_proxy__map_put(&a->idx, key, (size_t)kl, (void *)(uintptr_t)(a->n + 1)) != 0) {
		free(key);
		return NULL;
	}
	a->key_store[a->n_keys++] = key;
	memset(&a->v[a->n], 0, sizeof a->v[a->n]);
	a->v[a->n].k = *k;
	return &a->v[a->n++];
}

static void aggset_close(struct aggset *a)
{
	for (size_t i = 0; i < a->n_keys; i++) {
		free(a->key_store[i]);
	}
	free(a->key_store);
	free(a->v);
	gw_proxy__map_close(&a->idx);
}

/* Sum the workers' series; @by_code false merges codes (code -1) and the
 * matched_uri / matched_host labels (the latency and bandwidth families
 * do not have them). */
static int collect(struct gw_proxy__ops *ops, bool by_code, struct aggset *a)
{
	memset(a, 0, sizeof *a);
	gw_proxy__map_init(&a->idx);
	for (int w = 0; w < ops->n_workers; w++) {
		for (size_t i = 0; i < MAX_SERIES; i++) {
			struct gw_proxy__series *s = &ops->w[w].series[i];
			struct agg *g;
			if (!atomic_load_explicit(&s->ready, memory_order_acquire)) {
				continue;
			}
			struct labels k = {by_code ? s->code : -1,
					   s->route,
					   s->consumer,
					   s->node,
					   s->service,
					   by_code ? s->matched_uri : "",
					   by_code ? s->matched_host : ""};
			g = agg_get(a, &k);
			if (g == NULL) {
				return GW_ENOMEM;
			}
			g->count += relaxed_get(&s->count);
			g->in_bytes += relaxed_get(&s->in_bytes);
			g->out_bytes += relaxed_get(&s->out_bytes);
			for (int t = 0; t < LAT_N; t++) {
				for (size_t b = 0; b <= NB; b++) {
					g->lat[t][b] += relaxed_get(&s->lat[t][b]);
				}
				g->lat_sum_us[t] += relaxed_get(&s->lat_sum_us[t]);
			}
		}
	}
	return 0;
}

static int write_status(struct gw_proxy__ops *ops, struct gw_buf *b)
{
	struct aggset a;
	int rv = collect(ops, true, &a);
	if (rv == 0) {
		rv = gw_prom_family(b, "apisix_http_status", "counter",
				    "HTTP status codes per service in APISIX");
	}
	for (size_t i = 0; rv == 0 && i < a.n; i++) {
		char code[16];
		const struct labels *k = &a.v[i].k;
		snprintf(code, sizeof code, "%d", k->code);
		const char *l[] = {"code",     code,           "route", k->route,  "matched_uri",
				   k->uri,     "matched_host", k->host, "service", k->service,
				   "consumer", k->consumer,    "node",  k->node,   NULL};
		rv = gw_prom_sample(b, "apisix_http_status", l, (double)a.v[i].count);
	}
	aggset_close(&a);
	return rv;
}

static int write_latency_bw(struct gw_proxy__ops *ops, struct gw_buf *b)
{
	struct aggset a;
	int rv = collect(ops, false, &a);
	if (rv == 0) {
		rv = gw_prom_family(b, "apisix_http_latency", "histogram",
				    "HTTP request latency in milliseconds per service in APISIX");
	}
	for (size_t i = 0; rv == 0 && i < a.n; i++) {
		for (int t = 0; rv == 0 && t < LAT_N; t++) {
			uint64_t cum = 0;
			char le[32];
			for (size_t k = 0; rv == 0 && k <= NB; k++) {
				cum += a.v[i].lat[t][k];
				if (k < NB) {
					snprintf(le, sizeof le, "%g", buckets[k]);
				} else {
					snprintf(le, sizeof le, "+Inf");
				}
				const char *l[] = {
				    "type",    lat_types[t],     "route",    a.v[i].k.route,
				    "service", a.v[i].k.service, "consumer", a.v[i].k.consumer,
				    "node",    a.v[i].k.node,    "le",       le,
				    NULL};
				rv =
				    gw_prom_sample(b, "apisix_http_latency_bucket", l, (double)cum);
			}
			const char *l[] = {
			    "type",    lat_types[t],     "route",    a.v[i].k.route,
			    "service", a.v[i].k.service, "consumer", a.v[i].k.consumer,
			    "node",    a.v[i].k.node,    NULL};
			if (rv == 0) {
				rv = gw_prom_sample(b, "apisix_http_latency_sum", l,
						    (double)a.v[i].lat_sum_us[t] / 1000.0);
			}
			if (rv == 0) {
				rv = gw_prom_sample(b, "apisix_http_latency_count", l, (double)cum);
			}
		}
	}
	if (rv == 0) {
		rv = gw_prom_family(b, "apisix_bandwidth", "counter",
				    "Total bandwidth in bytes consumed per service in APISIX");
	}
	for (size_t i = 0; rv == 0 && i < a.n; i++) {
		for (int t = 0; rv == 0 && t < 2; t++) {
			const char *l[] = {"type",     t == 0 ? "ingress" : "egress",
					   "route",    a.v[i].k.route,
					   "service",  a.v[i].k.service,
					   "consumer", a.v[i].k.consumer,
					   "node",     a.v[i].k.node,
					   NULL};
			rv = gw_prom_sample(b, "apisix_bandwidth", l,
					    (double)(t == 0 ? a.v[i].in_bytes : a.v[i].out_bytes));
		}
	}
	aggset_close(&a);
	return rv;
}

int gw_proxy_metrics(struct gw_proxy *p, struct gw_buf *b)
{
	struct gw_proxy__ops *ops = p->ops;
	struct gw_proxy_stats st;
	int64_t reading = 0, writing = 0, waiting;
	uint64_t overflow = 0;
	int rv;

	gw_proxy_stats(p, &st);
	for (int i = 0; i < ops->n_workers; i++) {
		reading += atomic_load_explicit(&ops->w[i].reading, memory_order_relaxed);
		writing += atomic_load_explicit(&ops->w[i].writing, memory_order_relaxed);
		overflow += relaxed_get(&ops->w[i].overflow);
	}
	reading = reading < 0 ? 0 : reading;
	writing = writing < 0 ? 0 : writing;
	waiting = (int64_t)st.active_connections - reading - writing;
	waiting = waiting < 0 ? 0 : waiting;
	rv = gw_prom_family(b, "apisix_nginx_http_current_connections", "gauge",
			    "Number of HTTP connections");
	{
		const char *states[] = {"active",  "reading",  "writing",
					"waiting", "accepted", "handled"};
		double vals[] = {(double)st.active_connections,
				 (double)reading,
				 (double)writing,
				 (double)waiting,
				 (double)st.connections,
				 (double)st.connections};
		for (int i = 0; rv == 0 && i < 6; i++) {
			const char *l[] = {"state", states[i], NULL};
			rv = gw_prom_sample(b, "apisix_nginx_http_current_connections", l, vals[i]);
		}
	}
	if (rv == 0) {
		rv = gw_prom_family(b, "apisix_http_requests_total", "gauge",
				    "The total number of client requests since APISIX started");
	}
	if (rv == 0) {
		rv = gw_prom_sample(b, "apisix_http_requests_total", NULL, (double)st.requests);
	}
	if (rv == 0) {
		rv = write_status(ops, b);
	}
	if (rv == 0) {
		rv = write_latency_bw(ops, b);
	}
	if (rv == 0) {
		rv = gw_prom_family(b, "apigw_http_series_overflow_total", "counter",
				    "Requests counted without labels: the series table was full");
	}
	if (rv == 0) {
		rv = gw_prom_sample(b, "apigw_http_series_overflow_total", NULL, (double)overflow);
	}
	if (rv == 0) {
		rv = gw_proxy__tls_metrics(p, b);
	}
	if (rv == 0) {
		rv = gw_proxy__h2_metrics(p, b);
	}
	if (rv == 0) {
		rv = gw_prom_family(b, "apigw_access_log_lines_total", "counter",
				    "Access log lines written");
	}
	if (rv == 0) {
		rv = gw_prom_sample(b, "apigw_access_log_lines_total", NULL,
				    (double)relaxed_get(&ops->written));
	}
	if (rv == 0) {
		rv = gw_prom_family(b, "apigw_access_log_dropped_total", "counter",
				    "Access log lines dropped because the writer fell behind");
	}
	if (rv == 0) {
		rv = gw_prom_sample(b, "apigw_access_log_dropped_total", NULL,
				    (double)relaxed_get(&ops->dropped));
	}
	if (rv == 0) {
		rv = gw_prom_family(b, "apigw_regex_limit_total", "counter",
				    "Regex matches stopped by a match, depth or heap limit "
				    "(counted as no match)");
	}
	if (rv == 0) {
		rv = gw_prom_sample(b, "apigw_regex_limit_total", NULL,
				    (double)gw_regex_limit_hits());
	}
	if (rv == 0) {
		rv = gw_prom_family(b, "apigw_limit_evictions_total", "counter",
				    "Limit counters taken over from a live key (table full)");
	}
	if (rv == 0) {
		rv = gw_prom_sample(b, "apigw_limit_evictions_total", NULL,
				    (double)gw_proxy__limit_evictions());
	}
	if (rv == 0) {
		rv =
		    gw_prom_family(b, "apigw_limit_conn_overflow_total", "counter",
				   "Requests limit-conn let through unlimited: every slot of their "
				   "key held another key in flight");
	}
	if (rv == 0) {
		rv = gw_prom_sample(b, "apigw_limit_conn_overflow_total", NULL,
				    (double)gw_proxy__limit_conn_overflows());
	}
	if (rv == 0) {
		rv = gw_proxy__logger_metrics(b);
	}
	return rv == 0 ? gw_proxy__health_metrics(p, b) : rv;
}
