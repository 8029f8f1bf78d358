/* fuzz_h2.c: the proxy's HTTP/2 client side (proxy/h2.c over nghttp2):
 * frames, HPACK, flow control, resets and the streams that become
 * requests of the same router and plugins as HTTP/1.
 *
 * Input: 4 bytes of split seed, then what a client sends after the
 * connection preface (which the harness sends first, so the fuzzer works
 * on frames). The bytes go to a real connection of a real worker (see
 * fuzz_proxy.h) made HTTP/2 as h2c does, in pieces whose sizes the seed
 * picks, each inside the worker's cork as a socket read is, so frames are
 * serialized at the uncork. Routes answer without an upstream (404, 401
 * from key-auth, 503) or go to an upstream that never answers ("/up/...",
 * which holds the stream and frames its body).
 * Invariants: whatever the input, the proxy's first bytes are its SETTINGS
 * frame; every frame it writes is well formed (a 9-byte header whose
 * length fits what follows, never more than the 16 KiB default frame
 * size); the connection closes cleanly at the end (no leak under ASan,
 * no handle left). */
#include "config.h"

#include "fuzz_proxy.h"
#include "fuzz_util.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static const char PREFACE[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
			      "\x00\x00\x00\x04\x00\x00\x00\x00\x00"; /* + empty SETTINGS */

static const char routes[] =
    "{\"/apisix/upstreams/1\": {\"type\": \"roundrobin\", \"nodes\": {\"127.0.0.1:$UP\": 1}},"
    " \"/apisix/routes/1\": {\"uri\": \"/up/*\", \"upstream_id\": \"1\"},"
    " \"/apisix/routes/2\": {\"uri\": \"/none\"},"
    " \"/apisix/consumers/jack\": {\"username\": \"jack\", \"plugins\": {"
    "   \"key-auth\": {\"key\": \"k\"}}},"
    " \"/apisix/routes/3\": {\"uri\": \"/ka/*\", \"upstream_id\": \"1\", \"plugins\": {"
    "   \"key-auth\": {}, \"limit-count\": {\"count\": 1000000, \"time_window\": 60}}}}";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fp_init(routes);
	return 0;
}

/* Feed @p (@n bytes) as one socket read: corked, as the transports do. */
static void feed(struct fp_conn *c, const char *p, size_t n)
{
	struct gw_proxy__worker *w = fp_worker();
	gw_proxy__worker_cork(w);
	fp_feed(c, p, n);
	gw_proxy__worker_uncork(w);
}

/* Every frame in @b is complete and within the default frame size; the
 * first is SETTINGS. */
static void check_frames(const struct gw_buf *b)
{
	size_t off = 0;
	FUZZ_CHECK(b->len >= 9 && (unsigned char)b->data[3] == 4);
	while (off + 9 <= b->len) {
		const unsigned char *h = (const unsigned char *)b->data + off;
		size_t n = (size_t)h[0] << 16 | (size_t)h[1] << 8 | h[2];
		FUZZ_CHECK(n <= 16384);
		off += 9 + n;
	}
	FUZZ_CHECK(off == b->len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t seed = fuzz_take(&data, &size, 4);
	struct fuzz_split sp;
	struct fp_conn c;
	size_t off = 0;

	fp_open(&c);
	gw_proxy__worker_cork(fp_worker());
	FUZZ_CHECK(gw_proxy__h2_start(c.dc) == 0);
	gw_proxy__worker_uncork(fp_worker());
	feed(&c, PREFACE, sizeof PREFACE - 1);
	fuzz_split_init(&sp, seed, 1 + (seed >> 8) % 64);
	while (off < size && c.dc != NULL && !c.closed) {
		size_t k = fuzz_split_next(&sp, size - off);
		feed(&c, (const char *)data + off, k);
		off += k;
	}
	fp_run(4);
	check_frames(&c.out);
	fp_close(&c);
	return 0;
}
