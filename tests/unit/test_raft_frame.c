/* test_raft_frame.c: the inbound frame checker of our raft transport
 * (raft/frame.c). Valid streams of every message type pass whole, split at
 * every byte position and byte by byte; every field boundary of the
 * handshake, the preamble and each header is refused one past the limit
 * and accepted at it; the libraft 0.22.1 crash case (an AppendEntries whose
 * header says 8 bytes) is refused; terms near 2^64 are refused, implausible
 * jumps flagged, not refused; garbage never crashes (run under ASan/UBSan). */
#include "config.h"

#include "raft/transport.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define PEER_ID 7

struct bytes {
	uint8_t b[1 << 16];
	size_t n;
};

static void put8(struct bytes *o, uint8_t v)
{
	assert_true(o->n < sizeof o->b);
	o->b[o->n++] = v;
}

static void put32(struct bytes *o, uint32_t v)
{
	int i;
	for (i = 0; i < 4; i++) {
		put8(o, (uint8_t)(v >> (8 * i)));
	}
}

static void put64(struct bytes *o, uint64_t v)
{
	int i;
	for (i = 0; i < 8; i++) {
		put8(o, (uint8_t)(v >> (8 * i)));
	}
}

static void put_raw(struct bytes *o, const void *p, size_t n)
{
	assert_true(o->n + n <= sizeof o->b);
	memcpy(o->b + o->n, p, n);
	o->n += n;
}

static size_t pad8(size_t n)
{
	return (n + 7) / 8 * 8;
}

/* The handshake as libraft 0.22.1 encodes it. */
static void handshake(struct bytes *o, uint64_t id, const char *addr)
{
	size_t alen = pad8(strlen(addr) + 1), i;

	put64(o, GW_RAFT__HS_PROTOCOL);
	put64(o, id);
	put64(o, alen);
	put_raw(o, addr, strlen(addr));
	for (i = strlen(addr); i < alen; i++) {
		put8(o, 0);
	}
}

static void preamble(struct bytes *o, uint8_t type, uint8_t version, uint64_t hl)
{
	put64(o, (uint64_t)type | (uint64_t)version << 16);
	put64(o, hl);
}

static void request_vote(struct bytes *o, uint64_t term, uint64_t cand, uint64_t llt)
{
	preamble(o, RAFT_REQUEST_VOTE, 2, 40);
	put64(o, term);
	put64(o, cand);
	put64(o, 10); /* last log index */
	put64(o, llt);
	put64(o, 2); /* flags: pre-vote */
}

static void small_msgs(struct bytes *o, uint64_t term)
{
	preamble(o, RAFT_REQUEST_VOTE_RESULT, 2, 24);
	put64(o, term);
	put64(o, 1);
	put64(o, 0);
	preamble(o, RAFT_APPEND_ENTRIES_RESULT, 2, 32);
	put64(o, term);
	put64(o, 0);
	put64(o, 12);
	put64(o, 0);
	preamble(o, RAFT_TIMEOUT_NOW, 0, 24);
	put64(o, term);
	put64(o, 12);
	put64(o, term);
}

struct entry {
	uint64_t term;
	uint8_t type;
	uint32_t len;
	const uint8_t *data; /* NULL: zeros */
};

static void append_entries(struct bytes *o, uint64_t term, const struct entry *e, size_t n)
{
	size_t i, j;

	preamble(o, RAFT_APPEND_ENTRIES, 0, 48 + 16 * n);
	put64(o, term);
	put64(o, 5);    /* prev index */
	put64(o, term); /* prev term */
	put64(o, 5);    /* commit */
	put64(o, n);
	for (i = 0; i < n; i++) {
		put64(o, e[i].term);
		put8(o, e[i].type);
		put8(o, 0xaa); /* unused bytes: libraft leaves them uninitialised */
		put8(o, 0xbb);
		put8(o, 0xcc);
		put32(o, e[i].len);
	}
	put64(o, 0);
	for (i = 0; i < n; i++) {
		for (j = 0; j < e[i].len; j++) {
			put8(o, e[i].data != NULL ? e[i].data[j] : 0);
		}
	}
}

/* A configuration as libraft encodes it; returns its size. */
static size_t conf(uint8_t *out, int n_servers)
{
	struct bytes o = {.n = 0};
	int i;

	put8(&o, 1);
	put64(&o, (uint64_t)n_servers);
	for (i = 0; i < n_servers; i++) {
		char addr[32];
		snprintf(addr, sizeof addr, "127.0.0.1:%d", 9000 + i);
		put64(&o, (uint64_t)i + 1);
		put_raw(&o, addr, strlen(addr) + 1);
		put8(&o, RAFT_VOTER);
	}
	while (o.n % 8 != 0) {
		put8(&o, 0);
	}
	memcpy(out, o.b, o.n);
	return o.n;
}

static void install_snapshot(struct bytes *o, uint64_t term, const uint8_t *c, size_t clen,
			     uint64_t data_len)
{
	uint64_t i;

	preamble(o, RAFT_INSTALL_SNAPSHOT, 0, 56 + clen);
	put64(o, term);
	put64(o, 100);
	put64(o, term);
	put64(o, 90);
	put64(o, clen);
	put_raw(o, c, clen);
	put64(o, data_len);
	put64(o, 0);
	for (i = 0; i < data_len; i++) {
		put8(o, (uint8_t)i);
	}
}

/* A valid stream: the handshake and every message type. Returns the
 * number of messages; *hs the handshake's size. */
static int valid_stream(struct bytes *o, size_t *hs)
{
	uint8_t c[512];
	size_t clen = conf(c, 3);
	struct entry e[3] = {
	    {4, RAFT_COMMAND, 16, NULL},
	    {5, RAFT_CHANGE, (uint32_t)clen, c},
	    {5, RAFT_BARRIER, 5, NULL}, /* the last may be unpadded */
	};

	o->n = 0;
	handshake(o, PEER_ID, "127.0.0.1:9001");
	*hs = o->n;
	request_vote(o, 5, PEER_ID, 4);
	small_msgs(o, 5);
	append_entries(o, 5, NULL, 0); /* a heartbeat */
	append_entries(o, 5, e, 3);
	install_snapshot(o, 5, c, clen, 40);
	return 7;
}

static int feed_all(struct gw_raft__frame *f, const struct bytes *o, size_t *hs)
{
	return gw_raft__frame_feed(f, o->b, o->n, hs);
}

static void test_valid_whole(void **state)
{
	static struct bytes o;
	struct gw_raft__frame f;
	size_t hs, hs_len;
	int n = valid_stream(&o, &hs);

	(void)state;
	gw_raft__frame_init(&f, NULL);
	assert_false(f.handshake_done);
	assert_int_equal(feed_all(&f, &o, &hs_len), 0);
	assert_int_equal(hs_len, hs);
	assert_true(f.handshake_done);
	assert_int_equal(f.peer_id, PEER_ID);
	assert_string_equal(f.address, "127.0.0.1:9001");
	assert_int_equal(f.messages, n);
	assert_true(gw_raft__frame_idle(&f));
	assert_false(f.term_jump);
	gw_raft__frame_close(&f);
}

static void test_valid_split_everywhere(void **state)
{
	static struct bytes o;
	struct gw_raft__frame f;
	size_t hs, k, h1, h2;
	int n = valid_stream(&o, &hs);

	(void)state;
	for (k = 0; k <= o.n; k++) {
		gw_raft__frame_init(&f, NULL);
		assert_int_equal(gw_raft__frame_feed(&f, o.b, k, &h1), 0);
		assert_int_equal(gw_raft__frame_feed(&f, o.b + k, o.n - k, &h2), 0);
		assert_int_equal(h1 + h2, hs);
		assert_int_equal(f.messages, n);
		gw_raft__frame_close(&f);
	}
	/* byte by byte: idle exactly between messages */
	gw_raft__frame_init(&f, NULL);
	for (k = 0; k < o.n; k++) {
		assert_int_equal(gw_raft__frame_feed(&f, o.b + k, 1, &h1), 0);
		assert_int_equal(h1, k < hs ? 1 : 0);
	}
	assert_int_equal(f.messages, n);
	assert_true(gw_raft__frame_idle(&f));
	gw_raft__frame_close(&f);
}

/* Feed @o to a fresh checker: its result. */
static int check(const struct bytes *o, const struct gw_raft__frame_limits *lim)
{
	struct gw_raft__frame f;
	size_t hs;
	int rv;

	gw_raft__frame_init(&f, lim);
	rv = feed_all(&f, o, &hs);
	if (rv != 0) {
		/* an error is sticky */
		assert_int_not_equal(gw_raft__frame_feed(&f, "x", 1, &hs), 0);
	}
	gw_raft__frame_close(&f);
	return rv;
}

static void hs_raw(struct bytes *o, uint64_t proto, uint64_t id, uint64_t alen, const void *addr,
		   size_t n)
{
	o->n = 0;
	put64(o, proto);
	put64(o, id);
	put64(o, alen);
	put_raw(o, addr, n);
}

static void test_handshake_boundaries(void **state)
{
	static struct bytes o;
	char addr[300];

	(void)state;
	hs_raw(&o, 0, 1, 8, "a:1\0\0\0\0\0", 8);
	assert_int_equal(check(&o, NULL), GW_RAFT__FR_HS_PROTOCOL);
	hs_raw(&o, 2, 1, 8, "a:1\0\0\0\0\0", 8);
	assert_int_equal(check(&o, NULL), GW_RAFT__FR_HS_PROTOCOL);
	hs_raw(&o, 1, 0, 8, "a:1\0\0\0\0\0", 8);
	assert_int_equal(check(&o, NULL), GW_RAFT__FR_HS_ID);
	hs_raw(&o, 1, 1, 8, "a:1\0\0\0\0\0", 8);
	assert_int_equal(check(&o, NULL), 0);
	hs_raw(&o, 1, UINT64_MAX, 8, "a:1\0\0\0\0\0", 8);
	assert_int_equal(check(&o, NULL), 0);
	/* length: 0, not a multiple of 8, over the maximum */
	hs_raw(&o, 1, 1, 0, "", 0);
	assert_int_equal(check(&o, NULL), GW_RAFT__FR_HS_ADDRESS_LEN);
	hs_raw(&o, 1, 1, 7, "", 0);
	assert_int_equal(check(&o, NULL), GW_RAFT__FR_HS_ADDRESS_LEN);
	hs_raw(&o, 1, 1, 9, "", 0);
	assert_int_equal(check(&o, NULL), GW_RAFT__FR_HS_ADDRESS_LEN);
	hs_raw(&o, 1, 1, GW_RAFT__HS_MAX_ADDRESS + 8, "", 0);
	assert_int_equal(check(&o, NULL), GW_RAFT__FR_HS_ADDRESS_LEN);
	hs_raw(&o, 1, 1, UINT64_MAX - 7, "", 0);
	assert_int_equal(check(&o, NULL), GW_RAFT__FR_HS_ADDRESS_LEN);
	/* the longest address: 255 characters + NUL = 256 */
	memset(addr, 'a', sizeof addr);
	addr[255] = '\0';
	hs_raw(&o, 1, 1, 256, addr, 256);
	assert_int_equal(check(&o, NULL), 0);
	/* no NUL; empty; a control character; garbage padding; too much
	 * padding */
	hs_raw(&o, 1, 1, 8, "aaaaaaaa", 8);
	assert_int_equal(check(&o, NULL), GW_RAFT__FR_HS_ADDRESS);
	hs_raw(&o, 1, 1, 8, "\0\0\0\0\0\0\0\0", 8);
	assert_int_equal(check(&o, NULL), GW_RAFT__FR_HS_ADDRESS);
	hs_raw(&o, 1, 1, 8, "a\n1\0\0\0\0\0", 8);
	assert_int_equal(check(&o, NULL), GW_RAFT__FR_HS_ADDRESS);
	hs_raw(&o, 1, 1, 8, "a:1\0\0x\0\0", 8);
	assert_int_equal(check(&o, NULL), GW_RAFT__FR_HS_ADDRESS);
	hs_raw(&o, 1, 1, 16, "a:1\0\0\0\0\0\0\0\0\0\0\0\0\0", 16);
	assert_int_equal(check(&o, NULL), GW_RAFT__FR_HS_ADDRESS);
	/* 7 characters + NUL fill 8 exactly */
	hs_raw(&o, 1, 1, 8, "abcd:12\0", 8);
	assert_int_equal(check(&o, NULL), 0);
}

/* The handshake, then the preamble of @type with header length @hl and
 * @n zero bytes. */
static int header_only(uint8_t type, uint64_t hl, size_t n)
{
	static struct bytes o;
	size_t i;

	o.n = 0;
	handshake(&o, PEER_ID, "127.0.0.1:9001");
	preamble(&o, type, 0, hl);
	for (i = 0; i < n; i++) {
		put8(&o, 0);
	}
	return check(&o, NULL);
}

static void test_preamble_and_header_sizes(void **state)
{
	static struct bytes o;
	uint8_t t;

	(void)state;
	/* unknown types */
	for (t = 0; t < 255; t++) {
		if (t >= RAFT_APPEND_ENTRIES && t <= RAFT_TIMEOUT_NOW) {
			continue;
		}
		assert_int_equal(header_only(t, 24, 0), GW_RAFT__FR_TYPE);
	}
	assert_int_equal(header_only(255, 24, 0), GW_RAFT__FR_TYPE);
	/* reserved preamble bytes */
	o.n = 0;
	handshake(&o, PEER_ID, "127.0.0.1:9001");
	put64(&o, RAFT_TIMEOUT_NOW | 1u << 8);
	put64(&o, 24);
	assert_int_equal(check(&o, NULL), GW_RAFT__FR_PREAMBLE);
	o.n = 0;
	handshake(&o, PEER_ID, "127.0.0.1:9001");
	put64(&o, RAFT_TIMEOUT_NOW | (uint64_t)1 << 63);
	put64(&o, 24);
	assert_int_equal(check(&o, NULL), GW_RAFT__FR_PREAMBLE);
	/* fixed sizes: one under and one over refused (0 and huge too) */
	assert_int_equal(header_only(RAFT_REQUEST_VOTE, 32, 0), GW_RAFT__FR_HEADER_LEN);
	assert_int_equal(header_only(RAFT_REQUEST_VOTE, 39, 0), GW_RAFT__FR_HEADER_LEN);
	assert_int_equal(header_only(RAFT_REQUEST_VOTE, 41, 0), GW_RAFT__FR_HEADER_LEN);
	assert_int_equal(header_only(RAFT_REQUEST_VOTE_RESULT, 16, 0), GW_RAFT__FR_HEADER_LEN);
	assert_int_equal(header_only(RAFT_REQUEST_VOTE_RESULT, 23, 0), GW_RAFT__FR_HEADER_LEN);
	assert_int_equal(header_only(RAFT_REQUEST_VOTE_RESULT, 25, 0), GW_RAFT__FR_HEADER_LEN);
	assert_int_equal(header_only(RAFT_REQUEST_VOTE_RESULT, 24, 24), 0);
	assert_int_equal(header_only(RAFT_APPEND_ENTRIES_RESULT, 24, 0), GW_RAFT__FR_HEADER_LEN);
	assert_int_equal(header_only(RAFT_APPEND_ENTRIES_RESULT, 31, 0), GW_RAFT__FR_HEADER_LEN);
	assert_int_equal(header_only(RAFT_APPEND_ENTRIES_RESULT, 33, 0), GW_RAFT__FR_HEADER_LEN);
	assert_int_equal(header_only(RAFT_APPEND_ENTRIES_RESULT, 32, 32), 0);
	assert_int_equal(header_only(RAFT_TIMEOUT_NOW, 0, 0), GW_RAFT__FR_HEADER_LEN);
	assert_int_equal(header_only(RAFT_TIMEOUT_NOW, 23, 0), GW_RAFT__FR_HEADER_LEN);
	assert_int_equal(header_only(RAFT_TIMEOUT_NOW, 25, 0), GW_RAFT__FR_HEADER_LEN);
	assert_int_equal(header_only(RAFT_TIMEOUT_NOW, UINT64_MAX, 0), GW_RAFT__FR_HEADER_LEN);
	assert_int_equal(header_only(RAFT_TIMEOUT_NOW, 24, 24), 0);
	/* AppendEntries: the crash case (8 bytes), every size under 48, sizes
	 * off the 16-byte grid, a huge count */
	assert_int_equal(header_only(RAFT_APPEND_ENTRIES, 8, 8), GW_RAFT__FR_HEADER_LEN);
	for (t = 0; t < 48; t++) {
		assert_int_equal(header_only(RAFT_APPEND_ENTRIES, t, 0), GW_RAFT__FR_HEADER_LEN);
	}
	assert_int_equal(header_only(RAFT_APPEND_ENTRIES, 49, 0), GW_RAFT__FR_HEADER_LEN);
	assert_int_equal(header_only(RAFT_APPEND_ENTRIES, 56, 0), GW_RAFT__FR_HEADER_LEN);
	assert_int_equal(
	    header_only(RAFT_APPEND_ENTRIES, 48 + 16 * (GW_RAFT__FRAME_MAX_ENTRIES + 1), 0),
	    GW_RAFT__FR_ENTRY_COUNT);
	assert_int_equal(header_only(RAFT_APPEND_ENTRIES, 48 + 16 * GW_RAFT__FRAME_MAX_ENTRIES, 0),
			 0);
	assert_int_equal(header_only(RAFT_APPEND_ENTRIES, UINT64_MAX - 15, 0),
			 GW_RAFT__FR_ENTRY_COUNT);
	/* InstallSnapshot: under 56 + 9, configuration over the maximum */
	assert_int_equal(header_only(RAFT_INSTALL_SNAPSHOT, 8, 0), GW_RAFT__FR_HEADER_LEN);
	assert_int_equal(header_only(RAFT_INSTALL_SNAPSHOT, 64, 0), GW_RAFT__FR_HEADER_LEN);
	assert_int_equal(header_only(RAFT_INSTALL_SNAPSHOT, 56 + GW_RAFT__FRAME_MAX_CONF + 1, 0),
			 GW_RAFT__FR_HEADER_LEN);
	assert_int_equal(header_only(RAFT_INSTALL_SNAPSHOT, UINT64_MAX, 0), GW_RAFT__FR_HEADER_LEN);
}

static int one_message(void (*build)(struct bytes *o, void *arg), void *arg,
		       const struct gw_raft__frame_limits *lim)
{
	static struct bytes o;

	o.n = 0;
	handshake(&o, PEER_ID, "127.0.0.1:9001");
	build(&o, arg);
	return check(&o, lim);
}

struct ae_case {
	uint64_t term;
	struct entry e[3];
	size_t n;
	int64_t n_override; /* -1: the true count */
};

static void build_ae(struct bytes *o, void *arg)
{
	struct ae_case *c = arg;
	size_t at = o->n;

	append_entries(o, c->term, c->e, c->n);
	if (c->n_override >= 0) {
		/* the count field sits after the preamble and 4 u64 */
		size_t p = at + 16 + 32;
		int i;
		for (i = 0; i < 8; i++) {
			o->b[p + i] = (uint8_t)((uint64_t)c->n_override >> (8 * i));
		}
	}
}

static void test_append_entries(void **state)
{
	struct ae_case c = {.term = 5, .n = 2, .n_override = -1};
	struct gw_raft__frame_limits lim = {.max_payload = 64, .max_entries = 2, .max_conf = 0};
	uint8_t cf[512];
	size_t clen = conf(cf, 2);

	(void)state;
	c.e[0] = (struct entry){5, RAFT_COMMAND, 8, NULL};
	c.e[1] = (struct entry){5, RAFT_COMMAND, 3, NULL};
	assert_int_equal(one_message(build_ae, &c, NULL), 0);
	/* the count field disagrees with the header size */
	c.n_override = 1;
	assert_int_equal(one_message(build_ae, &c, NULL), GW_RAFT__FR_ENTRY_COUNT);
	c.n_override = 3;
	assert_int_equal(one_message(build_ae, &c, NULL), GW_RAFT__FR_ENTRY_COUNT);
	c.n_override = -1;
	/* entry types 0 and 4 */
	c.e[1].type = 0;
	assert_int_equal(one_message(build_ae, &c, NULL), GW_RAFT__FR_ENTRY);
	c.e[1].type = 4;
	assert_int_equal(one_message(build_ae, &c, NULL), GW_RAFT__FR_ENTRY);
	c.e[1].type = RAFT_BARRIER;
	assert_int_equal(one_message(build_ae, &c, NULL), 0);
	/* an entry term above the message's */
	c.e[1].term = 6;
	assert_int_equal(one_message(build_ae, &c, NULL), GW_RAFT__FR_TERM);
	c.e[1].term = 5;
	/* an unpadded entry before the last */
	c.e[0].len = 9;
	assert_int_equal(one_message(build_ae, &c, NULL), GW_RAFT__FR_ENTRY);
	c.e[0].len = 16;
	/* an empty entry, alone or not */
	c.e[1].len = 0;
	assert_int_equal(one_message(build_ae, &c, NULL), GW_RAFT__FR_ENTRY);
	c.n = 1;
	c.e[0].len = 0;
	assert_int_equal(one_message(build_ae, &c, NULL), GW_RAFT__FR_ENTRY);
	c.n = 2;
	c.e[0].len = 16;
	/* payload and entry limits */
	c.e[1].len = 48; /* 64 in all: at the limit */
	assert_int_equal(one_message(build_ae, &c, &lim), 0);
	c.e[1].len = 49;
	assert_int_equal(one_message(build_ae, &c, &lim), GW_RAFT__FR_TOO_LARGE);
	c.e[1].len = 8;
	c.n = 3;
	c.e[2] = (struct entry){5, RAFT_COMMAND, 8, NULL};
	assert_int_equal(one_message(build_ae, &c, &lim), GW_RAFT__FR_ENTRY_COUNT);
	assert_int_equal(one_message(build_ae, &c, NULL), 0);
	/* a configuration change: valid, then each way it can be malformed */
	c.n = 1;
	c.e[0] = (struct entry){5, RAFT_CHANGE, (uint32_t)clen, cf};
	assert_int_equal(one_message(build_ae, &c, NULL), 0);
	cf[0] = 2; /* format */
	assert_int_equal(one_message(build_ae, &c, NULL), GW_RAFT__FR_CONF);
	cf[0] = 1;
	cf[1] = 3; /* 3 servers announced, 2 encoded */
	assert_int_equal(one_message(build_ae, &c, NULL), GW_RAFT__FR_CONF);
	cf[1] = 2;
	c.e[0].len = 0; /* libraft asserts on an empty configuration */
	assert_int_equal(one_message(build_ae, &c, NULL), GW_RAFT__FR_ENTRY);
	c.e[0].len = 8;
	assert_int_equal(one_message(build_ae, &c, NULL), GW_RAFT__FR_CONF);
	/* a prev_log_term above the term */
	c.e[0] = (struct entry){5, RAFT_COMMAND, 8, NULL};
	c.term = 4;
	c.e[0].term = 4;
	assert_int_equal(one_message(build_ae, &c, NULL), 0);
}

static void build_is(struct bytes *o, void *arg)
{
	const uint64_t *a = arg; /* {conf servers, data len, corrupt} */
	uint8_t c[512];
	size_t clen = conf(c, (int)a[0]);

	if (a[2] == 1) {
		c[clen - 1] = 0xff; /* garbage in the padding */
	} else if (a[2] == 2) {
		c[9 + 8 + 15] = RAFT_SPARE + 1; /* role of the first server */
	}
	install_snapshot(o, 5, c, clen, a[1]);
	if (a[2] == 3) {
		o->b[o->n - a[1] - 16 - clen - 8] ^= 8; /* the conf size field */
	}
}

static void test_install_snapshot(void **state)
{
	struct gw_raft__frame_limits lim = {.max_payload = 100, .max_entries = 0, .max_conf = 0};
	uint64_t a[3] = {3, 100, 0};

	(void)state;
	assert_int_equal(one_message(build_is, a, &lim), 0);
	a[1] = 101;
	assert_int_equal(one_message(build_is, a, &lim), GW_RAFT__FR_TOO_LARGE);
	a[1] = 0;
	assert_int_equal(one_message(build_is, a, &lim), GW_RAFT__FR_EMPTY_SNAPSHOT);
	a[1] = 10;
	a[0] = 0; /* an empty configuration decodes (9 bytes + padding) */
	assert_int_equal(one_message(build_is, a, &lim), 0);
	a[0] = 2;
	a[2] = 1;
	assert_int_equal(one_message(build_is, a, &lim), GW_RAFT__FR_CONF);
	a[2] = 2;
	assert_int_equal(one_message(build_is, a, &lim), GW_RAFT__FR_CONF);
	a[2] = 3;
	assert_int_equal(one_message(build_is, a, &lim), GW_RAFT__FR_HEADER_LEN);
}

static void build_rv(struct bytes *o, void *arg)
{
	const uint64_t *a = arg; /* {term, candidate, last log term} */
	request_vote(o, a[0], a[1], a[2]);
}

static void test_vote_checks(void **state)
{
	uint64_t a[3] = {5, PEER_ID, 5};

	(void)state;
	assert_int_equal(one_message(build_rv, a, NULL), 0);
	a[1] = PEER_ID + 1; /* a vote for someone else */
	assert_int_equal(one_message(build_rv, a, NULL), GW_RAFT__FR_CANDIDATE);
	a[1] = PEER_ID;
	a[2] = 6; /* last log term above the term */
	assert_int_equal(one_message(build_rv, a, NULL), GW_RAFT__FR_TERM);
}

static void test_term_jumps(void **state)
{
	static struct bytes o;
	struct gw_raft__frame f;
	size_t hs;

	(void)state;
	o.n = 0;
	handshake(&o, PEER_ID, "127.0.0.1:9001");
	append_entries(&o, 5 + (UINT64_C(1) << 32), NULL, 0);
	gw_raft__frame_init(&f, NULL);
	f.ref_term = 5;
	assert_int_equal(feed_all(&f, &o, &hs), 0);
	assert_false(f.term_jump); /* exactly 2^32 over ours */
	o.n = 0;
	append_entries(&o, 6 + (UINT64_C(1) << 32), NULL, 0);
	assert_int_equal(feed_all(&f, &o, &hs), 0);
	assert_true(f.term_jump); /* flagged, not refused */
	assert_int_equal(f.jump_term, 6 + (UINT64_C(1) << 32));
	f.term_jump = false;
	/* the highest usable term passes (flagged when ours is known) */
	o.n = 0;
	append_entries(&o, GW_RAFT__FRAME_MAX_TERM, NULL, 0);
	assert_int_equal(feed_all(&f, &o, &hs), 0);
	assert_true(f.term_jump);
	assert_int_equal(f.messages, 3);
	gw_raft__frame_close(&f);
	/* the "leaderless forever" term and one above the usable range are
	 * refused, whatever ours is, in every message type */
	o.n = 0;
	handshake(&o, PEER_ID, "127.0.0.1:9001");
	append_entries(&o, UINT64_MAX, NULL, 0);
	assert_int_equal(check(&o, NULL), GW_RAFT__FR_TERM_RANGE);
	o.n = 0;
	handshake(&o, PEER_ID, "127.0.0.1:9001");
	request_vote(&o, GW_RAFT__FRAME_MAX_TERM + 1, PEER_ID, 1);
	assert_int_equal(check(&o, NULL), GW_RAFT__FR_TERM_RANGE);
	o.n = 0;
	handshake(&o, PEER_ID, "127.0.0.1:9001");
	small_msgs(&o, UINT64_MAX);
	assert_int_equal(check(&o, NULL), GW_RAFT__FR_TERM_RANGE);
}

static void test_conf_ok(void **state)
{
	uint8_t c[512];
	size_t n = conf(c, 3), k, end = n;

	(void)state;
	assert_true(gw_raft__frame_conf_ok(c, n));
	while (c[end - 1] == 0) {
		end--; /* the last role byte (RAFT_VOTER) ends the servers */
	}
	/* every truncation fails, except into the zero padding */
	for (k = 0; k < n; k++) {
		assert_int_equal(gw_raft__frame_conf_ok(c, k), k >= end);
	}
	assert_false(gw_raft__frame_conf_ok(c, 0));
	/* an id 0, an empty address */
	c[9] = 0;
	assert_false(gw_raft__frame_conf_ok(c, n));
	c[9] = 1;
	c[17] = 0;
	assert_false(gw_raft__frame_conf_ok(c, n));
	c[17] = '1';
	assert_true(gw_raft__frame_conf_ok(c, n));
	/* more than 7 bytes of padding */
	memset(c + n, 0, 8);
	assert_false(gw_raft__frame_conf_ok(c, n + 8));
	/* a server count that would run far past the end */
	c[8] = 0xff;
	assert_false(gw_raft__frame_conf_ok(c, n));
}

static uint64_t rnd_state = 88172645463325252ULL;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

static void test_garbage(void **state)
{
	static struct bytes o, v;
	struct gw_raft__frame f;
	size_t hs, i, k;
	int round;

	(void)state;
	valid_stream(&v, &hs);
	for (round = 0; round < 2000; round++) {
		size_t n = 1 + rnd() % 512;

		o.n = 0;
		if (round % 2 == 0) {
			handshake(&o, PEER_ID, "127.0.0.1:9001");
		}
		if (round % 4 == 1) {
			/* a valid stream with a few flipped bytes */
			memcpy(o.b, v.b, v.n);
			o.n = v.n;
			for (k = 0; k < 3; k++) {
				o.b[rnd() % o.n] ^= (uint8_t)(1 + rnd() % 255);
			}
		} else {
			for (i = 0; i < n; i++) {
				put8(&o, (uint8_t)rnd());
			}
		}
		gw_raft__frame_init(&f, NULL);
		(void)gw_raft__frame_feed(&f, o.b, o.n, &hs);
		assert_true(hs <= o.n);
		gw_raft__frame_close(&f);
	}
	/* the plain garbage of a port scanner or an HTTP client */
	o.n = 0;
	put_raw(&o, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27);
	assert_int_equal(check(&o, NULL), GW_RAFT__FR_HS_PROTOCOL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid_whole),
	    cmocka_unit_test(test_valid_split_everywhere),
	    cmocka_unit_test(test_handshake_boundaries),
	    cmocka_unit_test(test_preamble_and_header_sizes),
	    cmocka_unit_test(test_append_entries),
	    cmocka_unit_test(test_install_snapshot),
	    cmocka_unit_test(test_vote_checks),
	    cmocka_unit_test(test_term_jumps),
	    cmocka_unit_test(test_conf_ok),
	    cmocka_unit_test(test_garbage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
