/* fuzz_upstream_resp.c: the upstream's response as the proxy parses and
 * relays it (proxy/response.c: http_parser on the upstream side, 1xx
 * interim answers, retry statuses, header filters and the head rebuilt for
 * the client, chunked / length / close-delimited bodies, HEAD, WebSocket
 * upgrades, keep-alive back to the pool).
 *
 * Input: one byte choosing the client's request (GET, HEAD, HTTP/1.0 GET,
 * POST with a body, a WebSocket upgrade, GET on a route with the
 * response-rewrite plugin), 4 bytes of split seed, then what the upstream
 * answers. The request goes through a real connection of a real worker
 * (fuzz_proxy.h) to a real upstream socket of the same loop; once the head
 * is sent, the input is handed to the proxy as the upstream's reads would
 * (gw_proxy__req_upstream_data, in pieces the seed picks), then the upstream
 * closes (gw_proxy__req_upstream_eof) unless the response was complete.
 * Invariants: no crash, leak or stall; whatever reaches the client starts
 * as an HTTP/1.1 response (the upstream's, rebuilt, or the proxy's 502);
 * the connection and the upstream connection end cleanly. */
#include "config.h"

#include "fuzz_proxy.h"
#include "fuzz_util.h"

#include <string.h>

static const char routes[] =
    "{\"/apisix/upstreams/1\": {\"type\": \"roundrobin\", \"nodes\": {\"127.0.0.1:$UP\": 1}},"
    " \"/apisix/routes/1\": {\"uri\": \"/up/*\", \"upstream_id\": \"1\", "
    "   \"enable_websocket\": true},"
    " \"/apisix/routes/2\": {\"uri\": \"/rr/*\", \"upstream_id\": \"1\","
    "   \"plugins\": {\"response-rewrite\": {\"headers\": {\"set\": {\"X-R\": \"1\"}}}}}}";

static const char *const requests[] = {
    "GET /up/a HTTP/1.1\r\nHost: h\r\n\r\n",
    "HEAD /up/a HTTP/1.1\r\nHost: h\r\n\r\n",
    "GET /up/a HTTP/1.0\r\n\r\n",
    "POST /up/a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc",
    "GET /up/ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    "GET /rr/a HTTP/1.1\r\nHost: h\r\n\r\n",
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fp_init(routes);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *req;
	struct gw_proxy__worker *w = fp_worker();
	struct gw_proxy__req *r;
	struct gw_proxy__uconn *uc;
	struct fuzz_split sp;
	struct fp_conn c;
	uint32_t seed;
	size_t off = 0;

	if (size < 1) {
		return 0;
	}
	req = requests[data[0] % (sizeof requests / sizeof requests[0])];
	data++;
	size--;
	seed = fuzz_take(&data, &size, 4);
	fuzz_split_init(&sp, seed, 1 + (seed >> 8) % 512);

	fp_open(&c);
	fp_feed(&c, req, strlen(req));
	/* connect (or take a pooled connection) and send the head */
	for (int i = 0; i < 64; i++) {
		r = c.dc != NULL ? c.dc->req : NULL;
		if (r == NULL || (r->uc != NULL && r->uc->connected && r->head_sent)) {
			break;
		}
		fp_run(1);
	}
	r = c.dc != NULL ? c.dc->req : NULL;
	FUZZ_CHECK(r != NULL && r->uc != NULL && r->uc->connected && r->head_sent);
	uc = r->uc;
	while (off < size) {
		size_t k = fuzz_split_next(&sp, size - off);
		/* as u_read does */
		if (uc->closing) {
			break;
		}
		if (uc->req == NULL) {
			gw_proxy__uconn_close(uc); /* bytes on an idle connection */
			break;
		}
		uc->got_bytes = true;
		gw_proxy__uconn_arm(uc);
		gw_proxy__worker_cork(w);
		gw_proxy__req_upstream_data(uc->req, (const char *)data + off, k);
		gw_proxy__worker_uncork(w);
		off += k;
	}
	if (!uc->closing && uc->req != NULL) {
		gw_proxy__req_upstream_eof(uc->req);
	}
	if (getenv("FUZZ_DEBUG") != NULL ||
	    (c.out.len > 0 && (c.out.len < 9 || memcmp(c.out.data, "HTTP/1.1 ", 9) != 0))) {
		fprintf(stderr, "the client got:\n%.*s\n", (int)c.out.len, c.out.data);
	}
	FUZZ_CHECK(c.out.len == 0 || (c.out.len >= 9 && memcmp(c.out.data, "HTTP/1.1 ", 9) == 0));
	fp_close(&c);
	fp_run(2);
	return 0;
}
