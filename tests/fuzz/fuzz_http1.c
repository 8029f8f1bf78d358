/* fuzz_http1.c: the proxy's client side of HTTP/1.x (proxy/conn.c,
 * proxy/reqhead.c, proxy/request.c): the strict request head scanner,
 * http_parser, the framing checks (Content-Length, chunked, both, several),
 * path normalisation, routing and the body framing of pipelined requests.
 *
 * Input: 4 bytes of split seed, then what a client sends on one
 * connection. The stream goes to a real connection of a real worker (see
 * fuzz_proxy.h) twice: all at once, then in pieces whose sizes the seed
 * picks. The routes answer without an upstream (404, 503) so pipelined
 * requests are parsed one after the other; one route ("/up/...") goes to an
 * upstream that never answers, so a request there holds the connection (its
 * head for the upstream is built, its body framed). The link wraps
 * gw_proxy__req_headers_done, _body and _body_end (ld --wrap) to record
 * every request as the proxy saw it: method, version, target, headers,
 * framing, decoded body bytes, end.
 * Invariants: the record and the bytes written to the client are the same
 * whatever the split points (a parser that depends on read boundaries is a
 * smuggling bug); the first request, once its body ended, re-serialized
 * (its head without framing headers, Content-Length and its decoded body)
 * and fed to a new connection is seen the same (method, target, headers,
 * path, host, body); what the proxy writes starts as an HTTP/1.1 response;
 * the connection is closed cleanly at the end (no leak under ASan). */
#include "config.h"

#include "fuzz_proxy.h"
#include "fuzz_util.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static struct gw_buf rec; /* the record of the current run */
static bool in_body;

/* The first request of a run: re-serialized (its head without framing
 * headers, its decoded body) and its record without the framing verdicts. */
static struct {
	int n_req;
	bool done; /* its body ended */
	struct gw_buf head, body, norm;
} first;

static bool is_framing(const struct gw_proxy__hdr *h)
{
	return gw_proxy__hdr_is(h, "content-length") || gw_proxy__hdr_is(h, "transfer-encoding");
}

void __real_gw_proxy__req_headers_done(struct gw_proxy__req *r);
void __real_gw_proxy__req_body(struct gw_proxy__req *r, const char *p, size_t n);
void __real_gw_proxy__req_body_end(struct gw_proxy__req *r);
void __wrap_gw_proxy__req_headers_done(struct gw_proxy__req *r);
void __wrap_gw_proxy__req_body(struct gw_proxy__req *r, const char *p, size_t n);
void __wrap_gw_proxy__req_body_end(struct gw_proxy__req *r);

void __wrap_gw_proxy__req_headers_done(struct gw_proxy__req *r)
{
	gw_buf_printf(&rec, "\nREQ %d 1.%d ", r->method, r->http_minor);
	gw_buf_append(&rec, r->url.data ? r->url.data : "", r->url.len);
	for (size_t i = 0; i < r->hc.n; i++) {
		gw_buf_printf(&rec, "\n%s: %s", r->hc.v[i].name, r->hc.v[i].value);
	}
	in_body = false;
	if (++first.n_req == 1) {
		gw_buf_printf(&first.head, "%s ", http_method_str(r->method));
		gw_buf_append(&first.head, r->url.data ? r->url.data : "", r->url.len);
		gw_buf_printf(&first.head, " HTTP/1.%d\r\n", r->http_minor);
		gw_buf_printf(&first.norm, "REQ %d 1.%d ", r->method, r->http_minor);
		gw_buf_append(&first.norm, r->url.data ? r->url.data : "", r->url.len);
		for (size_t i = 0; i < r->hc.n; i++) {
			if (!is_framing(&r->hc.v[i])) {
				gw_buf_printf(&first.head, "%s: %s\r\n", r->hc.v[i].name,
					      r->hc.v[i].value);
				gw_buf_printf(&first.norm, "\n%s: %s", r->hc.v[i].name,
					      r->hc.v[i].value);
			}
		}
	}
	struct gw_proxy__dconn *dc = r->dc;
	__real_gw_proxy__req_headers_done(r);
	if (dc->req != r) {
		gw_buf_appends(&rec, "\nANSWERED, CLOSING"); /* r is gone */
		return;
	}
	if (first.n_req == 1) {
		if (r->path != NULL) {
			gw_buf_appends(&first.norm, "\nPATH ");
			gw_buf_append(&first.norm, r->path, r->path_len);
		}
		if (r->host != NULL) {
			gw_buf_appends(&first.norm, "\nHOST ");
			gw_buf_append(&first.norm, r->host, r->host_len);
		}
	}
	/* after the checks: what the proxy made of the framing and the path */
	gw_buf_printf(&rec, "\nCL %lld chunked %d ka %d", (long long)r->content_length,
		      r->chunked_in, r->keepalive);
	if (r->path != NULL) {
		gw_buf_appends(&rec, "\nPATH ");
		gw_buf_append(&rec, r->path, r->path_len);
	}
	if (r->host != NULL) {
		gw_buf_appends(&rec, "\nHOST ");
		gw_buf_append(&rec, r->host, r->host_len);
	}
}

void __wrap_gw_proxy__req_body(struct gw_proxy__req *r, const char *p, size_t n)
{
	if (!in_body) {
		gw_buf_appends(&rec, "\nBODY\n");
		in_body = true;
	}
	gw_buf_append(&rec, p, n);
	if (first.n_req == 1 && !first.done) {
		gw_buf_append(&first.body, p, n);
	}
	__real_gw_proxy__req_body(r, p, n);
}

void __wrap_gw_proxy__req_body_end(struct gw_proxy__req *r)
{
	gw_buf_appends(&rec, "\nEND");
	if (first.n_req == 1 && !first.done) {
		first.done = true;
		gw_buf_append(&first.norm, "\nBODY\n", 6);
		gw_buf_append(&first.norm, first.body.data ? first.body.data : "", first.body.len);
	}
	__real_gw_proxy__req_body_end(r);
}

static const char routes[] =
    "{\"/apisix/upstreams/1\": {\"type\": \"roundrobin\", \"nodes\": {\"127.0.0.1:$UP\": 1}},"
    " \"/apisix/routes/1\": {\"uri\": \"/up/*\", \"upstream_id\": \"1\"},"
    " \"/apisix/routes/2\": {\"uri\": \"/rw/*\", \"methods\": [\"GET\", \"POST\"],"
    "   \"plugins\": {\"proxy-rewrite\": {\"regex_uri\": [\"^/rw/(.*)\", \"/up/$1\"],"
    "   \"headers\": {\"set\": {\"X-A\": \"1\"}}}}, \"upstream_id\": \"1\"},"
    " \"/apisix/routes/3\": {\"uris\": [\"/none\", \"/none/*\"], \"hosts\": [\"a.example\"],"
    "   \"vars\": [[\"arg_x\", \"==\", \"1\"]]},"
    " \"/apisix/routes/4\": {\"uri\": \"/u\", \"upstream\": {\"type\": \"chash\","
    "   \"hash_on\": \"header\", \"key\": \"x-k\", \"nodes\": {\"127.0.0.1:$UP\": 1}}},"
    /* the plugins that read request headers and the query */
    " \"/apisix/consumers/jack\": {\"username\": \"jack\", \"plugins\": {"
    "   \"key-auth\": {\"key\": \"k\"}, \"basic-auth\": {\"username\": \"jack\","
    "   \"password\": \"p\"}}},"
    " \"/apisix/routes/5\": {\"uri\": \"/ka/*\", \"upstream_id\": \"1\", \"plugins\": {"
    "   \"key-auth\": {\"query\": \"k\"}, \"limit-count\": {\"count\": 1000000,"
    "   \"time_window\": 60, \"key_type\": \"var_combination\","
    "   \"key\": \"$consumer_name $http_x_k $arg_a\"}}},"
    " \"/apisix/routes/6\": {\"uri\": \"/ba/*\", \"upstream_id\": \"1\", \"plugins\": {"
    "   \"basic-auth\": {\"anonymous_consumer\": \"jack\"},"
    "   \"consumer-restriction\": {\"whitelist\": [\"jack\"]},"
    "   \"ip-restriction\": {\"blacklist\": [\"10.0.0.0/8\"]},"
    "   \"limit-req\": {\"rate\": 1000000, \"burst\": 1000000, \"key\": \"http_x_k\","
    "   \"nodelay\": true}}}}";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fp_init(routes);
	gw_buf_init(&rec);
	gw_buf_init(&first.head);
	gw_buf_init(&first.body);
	gw_buf_init(&first.norm);
	return 0;
}

static void run(const char *p, size_t n, uint32_t seed, bool split, struct gw_buf *r,
		struct gw_buf *o);

/* True when @head asks for a protocol upgrade: the bytes after such a head
 * are the tunnel's, not a body, so it cannot be re-serialized with a
 * Content-Length body. */
static bool is_upgrade(const struct gw_buf *head)
{
	for (size_t i = 0; head->data != NULL && i + 9 <= head->len; i++) {
		if ((i == 0 || head->data[i - 1] == '\n') &&
		    strncasecmp(head->data + i, "upgrade:", 8) == 0) {
			return true;
		}
	}
	return false;
}

/* The first request of the last run, if complete, re-serialized with a
 * Content-Length body and fed again must be seen the same (method, target,
 * every other header, path, host, body). */
static void check_reserialized(void)
{
	struct gw_buf bytes, norm, r, o;

	if (!first.done || is_upgrade(&first.head)) {
		return;
	}
	gw_buf_init(&bytes);
	gw_buf_init(&norm);
	gw_buf_append(&norm, first.norm.data, first.norm.len);
	gw_buf_append(&bytes, first.head.data, first.head.len);
	if (first.body.len > 0) {
		gw_buf_printf(&bytes, "Content-Length: %zu\r\n", first.body.len);
	}
	gw_buf_append(&bytes, "\r\n", 2);
	gw_buf_append(&bytes, first.body.data ? first.body.data : "", first.body.len);
	run(bytes.data, bytes.len, 0, false, &r, &o);
	if (!first.done || first.norm.len != norm.len ||
	    memcmp(first.norm.data, norm.data, norm.len) != 0) {
		fprintf(stderr, "first request:\n%.*s\nre-serialized:\n%.*s\nseen as:\n%.*s\n",
			(int)norm.len, norm.data, (int)bytes.len, bytes.data, (int)first.norm.len,
			first.norm.data ? first.norm.data : "");
	}
	FUZZ_CHECK(first.done && first.norm.len == norm.len &&
		   memcmp(first.norm.data, norm.data, norm.len) == 0);
	gw_buf_close(&r);
	gw_buf_close(&o);
	gw_buf_close(&bytes);
	gw_buf_close(&norm);
}

/* Feed @p to a new connection (in pieces when @split); the record and the
 * client's bytes go to @r and @o (caller frees). */
static void run(const char *p, size_t n, uint32_t seed, bool split, struct gw_buf *r,
		struct gw_buf *o)
{
	struct fp_conn c;
	struct fuzz_split sp;
	size_t off = 0;

	rec.len = 0;
	first.n_req = 0;
	first.done = false;
	first.head.len = first.body.len = first.norm.len = 0;
	fp_open(&c);
	fuzz_split_init(&sp, seed, 1 + (seed >> 8) % 64);
	while (off < n && !c.closed) {
		size_t k = split ? fuzz_split_next(&sp, n - off) : n - off;
		fp_feed(&c, p + off, k);
		off += k;
	}
	*r = rec;
	gw_buf_init(&rec);
	*o = c.out;
	gw_buf_init(&c.out);
	fp_close(&c);
}

/* Drop the digits after "X-RateLimit-Remaining: " and "X-RateLimit-Reset: "
 * in @b: limit counters live in a node-wide table that the second feeding
 * of an input finds one request further (and a window may roll over
 * between the two), so only these values may differ. */
static void mask_limits(struct gw_buf *b)
{
	static const char *const names[] = {"X-RateLimit-Remaining: ", "X-RateLimit-Reset: "};
	char *src = b->len > 0 ? malloc(b->len) : NULL;
	size_t w = 0;

	if (src == NULL) {
		return;
	}
	memcpy(src, b->data, b->len);
	for (size_t r = 0; r < b->len;) {
		bool skip = false;
		for (size_t i = 0; i < sizeof names / sizeof names[0] && !skip; i++) {
			size_t nl = strlen(names[i]);
			skip = r >= nl && memcmp(src + r - nl, names[i], nl) == 0;
		}
		if (skip) {
			while (r < b->len && src[r] >= '0' && src[r] <= '9') {
				r++;
			}
			continue;
		}
		b->data[w++] = src[r++];
	}
	b->len = w;
	free(src);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t seed = fuzz_take(&data, &size, 4);
	struct gw_buf r1, o1, r2, o2;

	run((const char *)data, size, seed, true, &r2, &o2);
	run((const char *)data, size, seed, false, &r1, &o1);
	check_reserialized();
	mask_limits(&o1);
	mask_limits(&o2);
	if (r1.len != r2.len || (r1.len > 0 && memcmp(r1.data, r2.data, r1.len) != 0)) {
		fprintf(stderr, "record whole:\n%.*s\nrecord split:\n%.*s\n", (int)r1.len,
			r1.data ? r1.data : "", (int)r2.len, r2.data ? r2.data : "");
	}
	FUZZ_CHECK(r1.len == r2.len && (r1.len == 0 || memcmp(r1.data, r2.data, r1.len) == 0));
	if (o1.len != o2.len || (o1.len > 0 && memcmp(o1.data, o2.data, o1.len) != 0)) {
		fprintf(stderr, "client bytes whole:\n%.*s\nsplit:\n%.*s\n", (int)o1.len,
			o1.data ? o1.data : "", (int)o2.len, o2.data ? o2.data : "");
	}
	FUZZ_CHECK(o1.len == o2.len && (o1.len == 0 || memcmp(o1.data, o2.data, o1.len) == 0));
	FUZZ_CHECK(o1.len == 0 || (o1.len >= 9 && memcmp(o1.data, "HTTP/1.1 ", 9) == 0));
	gw_buf_close(&r1);
	gw_buf_close(&o1);
	gw_buf_close(&r2);
	gw_buf_close(&o2);
	return 0;
}
