/* fuzz_proxy.c: see fuzz_proxy.h. */
#include "config.h"

#include "fuzz_proxy.h"
#include "fuzz_util.h"
#include "lib/err.h"
#include "lib/log.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <string.h>

static struct gw_proxy proxy;
static struct gw_proxy__worker *worker;
static uv_tcp_t up_lsn;
static int up_port;

/* ---- the in-memory transport */

static struct fp_conn *conn_of(struct gw_proxy__dconn *dc)
{
	return dc->tcp.data; /* the tcp handle is unused: it holds the fp_conn */
}

static int m_read_start(struct gw_proxy__dconn *dc)
{
	conn_of(dc)->reading = true;
	return 0;
}

static void m_read_stop(struct gw_proxy__dconn *dc)
{
	conn_of(dc)->reading = false;
}

static int m_try_write(struct gw_proxy__dconn *dc, const char *p, size_t n)
{
	FUZZ_CHECK(gw_buf_append(&conn_of(dc)->out, p, n) == 0);
	return (int)n;
}

static int m_write(struct gw_proxy__dconn *dc, struct gw_proxy__wbuf *wb)
{
	FUZZ_CHECK(gw_buf_append(&conn_of(dc)->out, wb->data, wb->len) == 0);
	free(wb);
	return 0;
}

static int m_shutdown(struct gw_proxy__dconn *dc)
{
	conn_of(dc)->shut = true; /* the callback comes from fp_feed / fp_close */
	return 0;
}

static void m_close_cb(uv_handle_t *h)
{
	struct gw_proxy__dconn *dc = h->data;
	struct fp_conn *c = conn_of(dc);
	if (--dc->open_handles == 0) {
		c->dc = NULL;
		c->closed = true;
		gw_proxy__dconn_free(dc);
	}
}

static void m_close(struct gw_proxy__dconn *dc)
{
	uv_close((uv_handle_t *)&dc->timer, m_close_cb);
}

static const struct gw_proxy__transport mem_transport = {
    .read_start = m_read_start,
    .read_stop = m_read_stop,
    .try_write = m_try_write,
    .write = m_write,
    .shutdown = m_shutdown,
    .close = m_close,
};

/* ---- the silent upstream: accepts, reads, never answers */

static void up_alloc(uv_handle_t *h, size_t size, uv_buf_t *b)
{
	static char buf[65536];
	(void)h;
	(void)size;
	*b = uv_buf_init(buf, sizeof buf);
}

static void up_closed(uv_handle_t *h)
{
	free(h);
}

static void up_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	(void)b;
	if (n < 0) {
		uv_close((uv_handle_t *)s, up_closed);
	}
}

static void up_accept(uv_stream_t *lsn, int status)
{
	uv_tcp_t *t;
	if (status < 0) {
		return;
	}
	t = calloc(1, sizeof *t);
	FUZZ_CHECK(t != NULL);
	uv_tcp_init(lsn->loop, t);
	if (uv_accept(lsn, (uv_stream_t *)t) != 0) {
		uv_close((uv_handle_t *)t, up_closed);
		return;
	}
	uv_read_start((uv_stream_t *)t, up_alloc, up_read);
}

/* ---- set-up */

static char *subst_port(const char *s)
{
	char port[16], *out = malloc(strlen(s) * 2 + 16), *o = out;
	snprintf(port, sizeof port, "%d", up_port);
	FUZZ_CHECK(out != NULL);
	while (*s) {
		if (strncmp(s, "$UP", 3) == 0) {
			o += sprintf(o, "%s", port);
			s += 3;
		} else {
			*o++ = *s++;
		}
	}
	*o = '\0';
	return out;
}

void fp_init(const char *routes_json)
{
	struct sockaddr_in sa;
	struct sockaddr_storage bound;
	int len = sizeof bound;
	struct gw_proxy_kv kv[32];
	char *vals[32];
	size_t n = 0;
	struct gw_proxy_config *cfg;
	cJSON *j, *it;

	gw_log_set_level(GW_LOG_NONE);
	memset(&proxy, 0, sizeof proxy);
	/* the production defaults (server.c) */
	proxy.opts.max_header_bytes = 16 * 1024;
	proxy.opts.max_uri_bytes = 8 * 1024;
	proxy.opts.header_timeout_ms = 60000;
	proxy.opts.body_timeout_ms = 60000;
	proxy.opts.send_timeout_ms = 60000;
	proxy.opts.idle_timeout_ms = 60000;
	proxy.opts.max_requests = 1000;
	proxy.opts.drain_timeout_ms = 5000;
	proxy.opts.workers = 1;
	proxy.n_workers = 1;
	proxy.workers = calloc(1, sizeof *proxy.workers);
	FUZZ_CHECK(proxy.workers != NULL);
	FUZZ_CHECK(gw_proxy__ops_init(&proxy) == 0);
	worker = &proxy.workers[0];
	worker->p = &proxy;
	gw_list_init(&worker->dconns);
	gw_list_init(&worker->uconns);
	gw_list_init(&worker->flush);
	gw_proxy__map_init(&worker->pool);
	FUZZ_CHECK(uv_loop_init(&worker->loop) == 0);

	uv_tcp_init(&worker->loop, &up_lsn);
	uv_ip4_addr("127.0.0.1", 0, &sa);
	FUZZ_CHECK(uv_tcp_bind(&up_lsn, (const struct sockaddr *)&sa, 0) == 0);
	FUZZ_CHECK(uv_listen((uv_stream_t *)&up_lsn, 128, up_accept) == 0);
	FUZZ_CHECK(uv_tcp_getsockname(&up_lsn, (struct sockaddr *)&bound, &len) == 0);
	up_port = ntohs(((struct sockaddr_in *)&bound)->sin_port);

	j = cJSON_Parse(routes_json);
	FUZZ_CHECK(j != NULL);
	cJSON_ArrayForEach(it, j)
	{
		char *v = cJSON_PrintUnformatted(it);
		FUZZ_CHECK(n < 32 && v != NULL);
		vals[n] = subst_port(v);
		cJSON_free(v);
		kv[n] =
		    (struct gw_proxy_kv){it->string, strlen(it->string), vals[n], strlen(vals[n])};
		n++;
	}
	FUZZ_CHECK(gw_proxy_config_compile(kv, n, 1, &cfg) == 0);
	FUZZ_CHECK(gw_proxy_config_routes(cfg) > 0);
	worker->snap = gw_proxy__wsnap_new(cfg);
	FUZZ_CHECK(worker->snap != NULL);
	for (size_t i = 0; i < n; i++) {
		free(vals[i]);
	}
	cJSON_Delete(j);
}

struct gw_proxy__worker *fp_worker(void)
{
	return worker;
}

void fp_run(int n)
{
	for (int i = 0; i < n; i++) {
		uv_run(&worker->loop, UV_RUN_NOWAIT);
	}
}

void fp_open(struct fp_conn *c)
{
	struct sockaddr_in *sin;
	memset(c, 0, sizeof *c);
	gw_buf_init(&c->out);
	c->dc = gw_proxy__dconn_new(worker, &mem_transport);
	FUZZ_CHECK(c->dc != NULL);
	c->dc->tcp.data = c;
	sin = (struct sockaddr_in *)&c->dc->peer;
	sin->sin_family = AF_INET;
	sin->sin_port = htons(40000);
	sin->sin_addr.s_addr = htonl(0x7f000001);
	snprintf(c->dc->peer_ip, sizeof c->dc->peer_ip, "127.0.0.1");
	c->dc->local_port = 9080;
	gw_list_add_head(&worker->dconns, &c->dc->link);
	gw_proxy__dconn_update_reading(c->dc);
}

void fp_feed(struct fp_conn *c, const char *p, size_t n)
{
	if (c->dc == NULL || c->closed) {
		return;
	}
	gw_proxy__dconn_on_data(c->dc, p, n);
	if (c->dc != NULL && c->shut && !c->dc->lingering && !c->dc->closing) {
		gw_proxy__dconn_on_shutdown(c->dc); /* the shutdown's callback */
	}
}

void fp_close(struct fp_conn *c)
{
	if (c->dc != NULL && !c->dc->closing) {
		gw_proxy__dconn_on_eof(c->dc);
	}
	for (int i = 0; i < 16 && !c->closed; i++) {
		uv_run(&worker->loop, UV_RUN_NOWAIT);
	}
	FUZZ_CHECK(c->closed);
	gw_buf_close(&c->out);
}
