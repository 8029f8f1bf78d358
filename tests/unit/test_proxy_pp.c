/* test_proxy_pp.c: the PROXY protocol parser (proxy/pp.c) against good
 * headers, every truncation of them, hostile ones and random mutations.
 * Every input lives in a heap block of exactly its size, so a read past the
 * end is an AddressSanitizer error. */
#include "config.h"

#include "proxy/conn_int.h"

#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static const char sig[12] = {'\r', '\n', '\r', '\n', '\0', '\r', '\n', 'Q', 'U', 'I', 'T', '\n'};

/* Parse @n bytes from an exact-size heap copy. */
static int parse(const void *p, size_t n, struct gw_proxy__pp *out)
{
	char *copy = n > 0 ? malloc(n) : NULL;
	int rv;
	if (n > 0) {
		assert_non_null(copy);
		memcpy(copy, p, n);
	}
	rv = gw_proxy__pp_parse(copy, n, out);
	free(copy);
	return rv;
}

static int parse_s(const char *s, struct gw_proxy__pp *out)
{
	return parse(s, strlen(s), out);
}

static void src_text(const struct gw_proxy__pp *h, char *buf, size_t len, int *port)
{
	if (h->src.ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)&h->src;
		inet_ntop(AF_INET, &a->sin_addr, buf, (socklen_t)len);
		*port = ntohs(a->sin_port);
	} else {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&h->src;
		inet_ntop(AF_INET6, &a->sin6_addr, buf, (socklen_t)len);
		*port = ntohs(a->sin6_port);
	}
}

/* Every proper prefix needs more bytes; the whole parses to @len. */
static void check_prefixes(const void *p, size_t n, size_t len)
{
	struct gw_proxy__pp h;
	for (size_t k = 0; k < len; k++) {
		int rv = parse(p, k, &h);
		if (rv != 0) {
			fail_msg("prefix of %zu bytes: %d", k, rv);
		}
	}
	assert_int_equal(parse(p, n, &h), 1);
	assert_int_equal(h.len, len);
}

static void test_v1_good(void **state)
{
	struct gw_proxy__pp h;
	char ip[64];
	int port;
	(void)state;

	const char *t4 = "PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\nGET / HTTP/1.1\r\n";
	assert_int_equal(parse_s(t4, &h), 1);
	assert_int_equal(h.version, 1);
	assert_false(h.local);
	assert_int_equal(h.len, strlen("PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\n"));
	src_text(&h, ip, sizeof ip, &port);
	assert_string_equal(ip, "192.0.2.7");
	assert_int_equal(port, 56324);
	check_prefixes(t4, strlen(t4), h.len);

	const char *t6 = "PROXY TCP6 2001:db8::1 2001:db8::2 0 65535\r\n";
	assert_int_equal(parse_s(t6, &h), 1);
	src_text(&h, ip, sizeof ip, &port);
	assert_string_equal(ip, "2001:db8::1");
	assert_int_equal(port, 0);
	check_prefixes(t6, strlen(t6), strlen(t6));

	assert_int_equal(parse_s("PROXY UNKNOWN\r\n", &h), 1);
	assert_true(h.local);
	assert_int_equal(h.len, 15);
	assert_int_equal(parse_s("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\nX", &h), 1);
	assert_true(h.local);
	assert_int_equal(h.len, 35);

	/* the longest legal line: 107 bytes */
	const char *lng = "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
			  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
	assert_int_equal(strlen(lng), 104);
	assert_int_equal(parse_s(lng, &h), 1);
}

static void test_v1_bad(void **state)
{
	static const char *const bad[] = {
	    "GET / HTTP/1.1\r\n",
	    "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
	    "PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
	    "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
	    "PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
	    "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
	    "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
	    "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
	    "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n",
	    "PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n",
	    "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
	    "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
	    "PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n",
	    "PROXY TCP4 1.2.3.4 5.6.7.8 1 2x\r\n",
	    "PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",
	    "PROXY TCP4 ::1 5.6.7.8 1 2\r\n",
	    "PROXY TCP6 1.2.3.4 ::1 1 2\r\n",
	    "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
	    "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
	    "PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n",
	    "PROXY UNKNOWNX\r\n",
	    "PROXY \r\n",
	    "PROXY\r\n",
	    "PROXY TCP4\r\n",
	    "PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n",
	    "PROXY TCP4 1.2.3.4 5.6.7.8 99999999999999999999 2\r\n",
	};
	struct gw_proxy__pp h;
	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int rv = parse_s(bad[i], &h);
		if (rv != -1) {
			fail_msg("accepted (%d): %s", rv, bad[i]);
		}
	}
	/* a NUL inside the line */
	assert_int_equal(parse("PROXY TCP4 1.2.3.4\0 5.6.7.8 1 2\r\n", 33, &h), -1);
	/* no end of line within 107 bytes */
	char lng[200];
	memcpy(lng, "PROXY UNKNOWN ", 14);
	memset(lng + 14, 'a', sizeof lng - 14);
	assert_int_equal(parse(lng, 106, &h), 0);
	assert_int_equal(parse(lng, 107, &h), -1);
	assert_int_equal(parse(lng, sizeof lng, &h), -1);
	/* a first byte that cannot start a header fails at once */
	assert_int_equal(parse("G", 1, &h), -1);
	assert_int_equal(parse("PR0", 3, &h), -1);
	assert_int_equal(parse("\r\n\r\n\0\r\nQUIX", 11, &h), -1);
}

/* A v2 header: @cmd, @fam (family << 4 | transport), @body of @blen. */
static size_t v2(unsigned char *out, int cmd, int fam, const void *body, size_t blen)
{
	memcpy(out, sig, 12);
	out[12] = (unsigned char)(0x20 | cmd);
	out[13] = (unsigned char)fam;
	out[14] = (unsigned char)(blen >> 8);
	out[15] = (unsigned char)(blen & 0xff);
	memcpy(out + 16, body, blen);
	return 16 + blen;
}

static void test_v2_good(void **state)
{
	unsigned char buf[512], body[256];
	struct gw_proxy__pp h;
	char ip[64];
	int port;
	size_t n;
	(void)state;

	/* TCP over IPv4 with two TLVs (ALPN "h2", a NOOP) */
	/* src 192.0.2.7:52000, dst 203.0.113.1:443, ALPN "h2", NOOP */
	memcpy(body, "\xc0\x00\x02\x07\xcb\x00\x71\x01\xcb\x20\x01\xbb", 12);
	memcpy(body + 12, "\x01\x00\x02h2\x04\x00\x00", 8);
	n = v2(buf, 1, 0x11, body, 20);
	memcpy(buf + n, "GET", 3);
	assert_int_equal(parse(buf, n + 3, &h), 1);
	assert_int_equal(h.version, 2);
	assert_false(h.local);
	assert_int_equal(h.len, n);
	src_text(&h, ip, sizeof ip, &port);
	assert_string_equal(ip, "192.0.2.7");
	assert_int_equal(port, 52000);
	check_prefixes(buf, n + 3, n);

	/* TCP over IPv6 */
	memset(body, 0, 36);
	inet_pton(AF_INET6, "2001:db8::7", body);
	inet_pton(AF_INET6, "2001:db8::1", body + 16);
	body[32] = 0x12;
	body[33] = 0x34;
	n = v2(buf, 1, 0x21, body, 36);
	assert_int_equal(parse(buf, n, &h), 1);
	src_text(&h, ip, sizeof ip, &port);
	assert_string_equal(ip, "2001:db8::7");
	assert_int_equal(port, 0x1234);
	check_prefixes(buf, n, n);

	/* LOCAL: the block is skipped unread, whatever it holds */
	memset(body, 0xff, 40);
	n = v2(buf, 0, 0x00, body, 40);
	assert_int_equal(parse(buf, n, &h), 1);
	assert_true(h.local);
	assert_int_equal(h.len, 56);
	n = v2(buf, 0, 0x11, body, 3); /* even a short address block */
	assert_int_equal(parse(buf, n, &h), 1);
	assert_true(h.local);

	/* PROXY with UNSPEC or UNIX: nothing usable, the socket's address stays */
	n = v2(buf, 1, 0x00, body, 0);
	assert_int_equal(parse(buf, n, &h), 1);
	assert_true(h.local);
	memset(body, 0, 216);
	n = v2(buf, 1, 0x31, body, 216);
	assert_int_equal(parse(buf, n, &h), 1);
	assert_true(h.local);
}

static void test_v2_bad(void **state)
{
	unsigned char buf[8192], body[64];
	struct gw_proxy__pp h;
	size_t n;
	(void)state;

	memset(body, 0, sizeof body);
	/* version 1 or 3 in the high nibble */
	n = v2(buf, 1, 0x11, body, 12);
	buf[12] = 0x11;
	assert_int_equal(parse(buf, n, &h), -1);
	assert_int_equal(parse(buf, 13, &h), -1); /* seen at once */
	buf[12] = 0x31;
	assert_int_equal(parse(buf, n, &h), -1);
	/* commands other than LOCAL/PROXY */
	buf[12] = 0x22;
	assert_int_equal(parse(buf, n, &h), -1);
	assert_int_equal(parse(buf, 13, &h), -1);
	/* family 4, transport 3 */
	n = v2(buf, 1, 0x41, body, 12);
	assert_int_equal(parse(buf, n, &h), -1);
	n = v2(buf, 1, 0x13, body, 12);
	assert_int_equal(parse(buf, n, &h), -1);
	/* UDP on a TCP listener */
	n = v2(buf, 1, 0x12, body, 12);
	assert_int_equal(parse(buf, n, &h), -1);
	/* address block shorter than its family needs */
	n = v2(buf, 1, 0x11, body, 11);
	assert_int_equal(parse(buf, n, &h), -1);
	n = v2(buf, 1, 0x21, body, 35);
	assert_int_equal(parse(buf, n, &h), -1);
	n = v2(buf, 1, 0x31, body, 64);
	assert_int_equal(parse(buf, n, &h), -1);
	/* a TLV that runs past the block, a TLV header cut short */
	memcpy(body + 12, "\x04\x00\x05\x00\x00", 5);
	n = v2(buf, 1, 0x11, body, 17);
	assert_int_equal(parse(buf, n, &h), -1);
	memcpy(body + 12, "\x04\x00", 2);
	n = v2(buf, 1, 0x11, body, 14);
	assert_int_equal(parse(buf, n, &h), -1);
	memcpy(body + 12, "\x04\xff\xff", 3);
	n = v2(buf, 1, 0x11, body, 15);
	assert_int_equal(parse(buf, n, &h), -1);
	/* longer than we accept: refused from the fixed part alone */
	memcpy(buf, sig, 12);
	buf[12] = 0x21;
	buf[13] = 0x11;
	buf[14] = (GW_PROXY__PP_MAX - 16 + 1) >> 8;
	buf[15] = (GW_PROXY__PP_MAX - 16 + 1) & 0xff;
	assert_int_equal(parse(buf, 16, &h), -1);
	buf[14] = 0xff;
	buf[15] = 0xff;
	assert_int_equal(parse(buf, 16, &h), -1);
	/* the largest accepted one, full of NOOP TLVs */
	size_t blen = GW_PROXY__PP_MAX - 16;
	memset(buf + 16, 0, blen);
	buf[14] = (unsigned char)(blen >> 8);
	buf[15] = (unsigned char)(blen & 0xff);
	size_t off = 16 + 12;
	while (off + 3 <= 16 + blen) {
		size_t left = 16 + blen - off - 3, tl = left < 100 ? left : 100;
		buf[off] = 0x04;
		buf[off + 1] = (unsigned char)(tl >> 8);
		buf[off + 2] = (unsigned char)(tl & 0xff);
		off += 3 + tl;
	}
	if (off != 16 + blen) { /* 1 or 2 bytes left: a short TLV header */
		assert_int_equal(parse(buf, 16 + blen, &h), -1);
	} else {
		assert_int_equal(parse(buf, 16 + blen, &h), 1);
		assert_int_equal(h.len, GW_PROXY__PP_MAX);
	}
}

/* xorshift, seeded: the same run every time */
static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Mutated and random inputs: any answer is fine but a complete header
 * never claims more bytes than it was given, and nothing reads past them. */
static void test_fuzz(void **state)
{
	unsigned char good2[64], body[32], buf[256];
	const char *good1 = "PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\n";
	size_t n2, accepted = 0;
	struct gw_proxy__pp h;
	(void)state;

	memset(body, 0, sizeof body);
	memcpy(body + 12, "\x04\x00\x02xy\x01\x00\x01z", 9);
	n2 = v2(good2, 1, 0x11, body, 21);
	for (int iter = 0; iter < 200000; iter++) {
		size_t n;
		int kind = (int)(next_rand() % 3);
		if (kind == 0) {
			n = strlen(good1);
			memcpy(buf, good1, n);
		} else if (kind == 1) {
			n = n2;
			memcpy(buf, good2, n);
		} else {
			n = 16 + next_rand() % 64;
			memcpy(buf, sig, 12);
			for (size_t i = 12; i < n; i++) {
				buf[i] = (unsigned char)next_rand();
			}
		}
		for (int k = (int)(next_rand() % 4); k >= 0; k--) {
			buf[next_rand() % n] ^= (unsigned char)(1u << (next_rand() % 8));
		}
		n = next_rand() % 4 == 0 ? next_rand() % (n + 1) : n;
		int rv = parse(buf, n, &h);
		assert_true(rv >= -1 && rv <= 1);
		if (rv == 1) {
			accepted++;
			assert_true(h.len <= n && h.len >= 15);
			assert_true(h.local || h.src.ss_family == AF_INET ||
				    h.src.ss_family == AF_INET6);
		}
	}
	assert_true(accepted > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_v1_good), cmocka_unit_test(test_v1_bad),
	    cmocka_unit_test(test_v2_good), cmocka_unit_test(test_v2_bad),
	    cmocka_unit_test(test_fuzz),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
