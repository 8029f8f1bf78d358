/* frame.c: the inbound frame checker. Every byte a peer sends on the raft
 * port passes gw_raft__frame_feed before libraft's decoder sees it, because
 * libraft 0.22.1 decodes without length checks (an AppendEntries whose
 * header says 8 bytes made decodeAppendEntries/uvDecodeBatchHeader read past
 * the buffer and crash the node; a zero-length or malformed configuration
 * trips an assert in configurationDecode).
 *
 * The wire format (canonical/raft's src/uv_tcp_*.c, uv_encoding.c,
 * uv_recv.c as released in 0.22.1), all integers little-endian:
 *   handshake  u64 protocol (1), u64 sender id, u64 address length (a
 *              multiple of 8), the address NUL-terminated and zero-padded;
 *   message    preamble: u64 with the type in byte 0, the version in byte 2
 *              and zeros elsewhere, then u64 header size; the header; for
 *              AppendEntries and InstallSnapshot a payload whose size the
 *              header gives.
 * Headers as 0.22.1 encodes them: RequestVote 40 bytes (term, candidate id,
 * last index, last term, flags), RequestVoteResult 24, AppendEntriesResult 32,
 * TimeoutNow 24; AppendEntries 48 + 16 n (term, prev index, prev term,
 * commit, n, n descriptors of {u64 term, u8 type, 3 unused, u32 size}, u64
 * unused; the payload is the n entries back to back, each but the last a
 * multiple of 8 since the receiver slices with 8-byte padding, none empty);
 * InstallSnapshot 56 + c (term, last index, last term, conf index, c, the
 * encoded configuration of c bytes, u64 data size, u64 unused).
 *
 * Happy path: bytes are collected per fixed-size part and checked when the
 * part is complete; payload bytes are only counted, except the payload of
 * RAFT_CHANGE entries, which is collected and checked as a configuration.
 * Failure: the first bad part returns its reason and the checker stays in
 * an error state; nothing here allocates but the bounded configuration
 * buffer. Pure: no I/O, no globals. */
#include "config.h"

#include "raft/transport.h"

#include <stdlib.h>
#include <string.h>

enum state {
	S_HS_PRE = 0, /* 24 handshake bytes */
	S_HS_ADDR,    /* the address */
	S_PRE,        /* 16 preamble bytes */
	S_FIXED,      /* the fixed part of a header */
	S_ENTRY,      /* 16 bytes of an entry descriptor */
	S_AE_TAIL,    /* 8 unused bytes closing an AppendEntries header */
	S_CONF,       /* an InstallSnapshot's configuration */
	S_IS_TAIL,    /* 16 bytes closing an InstallSnapshot header */
	S_PAYLOAD,    /* payload bytes */
	S_ERR
};

/* The message types of libraft 0.22.1 (raft.h). */
enum { T_AE = RAFT_APPEND_ENTRIES, T_AER, T_RV, T_RVR, T_IS, T_TN };

#define PRE_LEN     16
#define AE_FIXED    40 /* term, prev index, prev term, commit, n */
#define AE_MIN      48 /* AE_FIXED + the unused u64 */
#define IS_FIXED    40 /* term, last index, last term, conf index, conf size */
#define IS_MIN      56 /* IS_FIXED + data size + unused */
#define CONF_MIN    9  /* format byte + server count */
#define TERM_JUMP   (UINT64_C(1) << 32)
#define MAX_SERVERS 4096

static const char *const reasons[] = {"ok",
#define REASON_TEXT(name, text) text,
				      GW_RAFT__FRAME_ERRORS(REASON_TEXT)
					  GW_RAFT__PEER_REFUSALS(REASON_TEXT)
#undef REASON_TEXT
};

const char *gw_raft__frame_strerror(int err)
{
	if (err < 0 || err >= GW_RAFT__REF_N) {
		return "unknown";
	}
	return reasons[err];
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--) {
		v = v << 8 | p[i];
	}
	return v;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void gw_raft__frame_init(struct gw_raft__frame *f, const struct gw_raft__frame_limits *lim)
{
	memset(f, 0, sizeof *f);
	if (lim != NULL) {
		f->lim = *lim;
	}
	if (f->lim.max_payload == 0) {
		f->lim.max_payload = GW_RAFT__FRAME_MAX_PAYLOAD;
	}
	if (f->lim.max_entries == 0) {
		f->lim.max_entries = GW_RAFT__FRAME_MAX_ENTRIES;
	}
	if (f->lim.max_conf == 0) {
		f->lim.max_conf = GW_RAFT__FRAME_MAX_CONF;
	}
	f->state = S_HS_PRE;
	f->need = 24;
}

void gw_raft__frame_close(struct gw_raft__frame *f)
{
	free(f->conf);
	f->conf = NULL;
	free(f->spans);
	f->spans = NULL;
}

bool gw_raft__frame_idle(const struct gw_raft__frame *f)
{
	return f->state == S_PRE && f->have == 0;
}

bool gw_raft__frame_conf_ok(const uint8_t *p, size_t len)
{
	uint64_t n, i;
	size_t cur = CONF_MIN;

	if (len < CONF_MIN || p[0] != 1) {
		return false;
	}
	n = le64(p + 1);
	if (n > MAX_SERVERS) {
		return false;
	}
	for (i = 0; i < n; i++) {
		const uint8_t *nul;

		if (len - cur < 8 || le64(p + cur) == 0) {
			return false; /* id missing or 0 */
		}
		cur += 8;
		nul = memchr(p + cur, 0, len - cur);
		if (nul == NULL || nul == p + cur) {
			return false; /* address unterminated or empty */
		}
		cur = (size_t)(nul - p) + 1;
		if (cur >= len || p[cur] > RAFT_SPARE) {
			return false; /* role missing or unknown */
		}
		cur++;
	}
	/* Only the zero padding to 8 bytes may follow. */
	if (len - cur >= 8) {
		return false;
	}
	for (; cur < len; cur++) {
		if (p[cur] != 0) {
			return false;
		}
	}
	return true;
}

static void expect(struct gw_raft__frame *f, int state, size_t need)
{
	f->state = state;
	f->have = 0;
	f->need = need;
}

static void message_done(struct gw_raft__frame *f)
{
	f->messages++;
	f->n_spans = 0;
	expect(f, S_PRE, PRE_LEN);
}

/* A message's own term: one libraft cannot increment safely is refused;
 * one far above ours is implausible (flagged). */
static int check_term(struct gw_raft__frame *f, uint64_t term)
{
	f->term = term;
	if (term > GW_RAFT__FRAME_MAX_TERM) {
		return GW_RAFT__FR_TERM_RANGE;
	}
	if (f->ref_term != 0 && term > f->ref_term && term - f->ref_term > TERM_JUMP) {
		f->term_jump = true;
		f->jump_term = term;
	}
	return 0;
}

static int on_hs_pre(struct gw_raft__frame *f)
{
	uint64_t alen = le64(f->fixed + 16);

	if (le64(f->fixed) != GW_RAFT__HS_PROTOCOL) {
		return GW_RAFT__FR_HS_PROTOCOL;
	}
	f->peer_id = le64(f->fixed + 8);
	if (f->peer_id == 0) {
		return GW_RAFT__FR_HS_ID;
	}
	if (alen < 8 || alen > GW_RAFT__HS_MAX_ADDRESS || alen % 8 != 0) {
		return GW_RAFT__FR_HS_ADDRESS_LEN;
	}
	expect(f, S_HS_ADDR, (size_t)alen);
	return 0;
}

static int on_hs_addr(struct gw_raft__frame *f)
{
	size_t n = strnlen(f->address, f->need), i;

	/* The sender pads strlen + 1 up to a multiple of 8 with zeros. */
	if (n == 0 || n == f->need || (n + 1 + 7) / 8 * 8 != f->need) {
		return GW_RAFT__FR_HS_ADDRESS;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)f->address[i];
		if (c <= 0x20 || c >= 0x7f) {
			return GW_RAFT__FR_HS_ADDRESS;
		}
	}
	for (i = n; i < f->need; i++) {
		if (f->address[i] != 0) {
			return GW_RAFT__FR_HS_ADDRESS;
		}
	}
	f->handshake_done = true;
	expect(f, S_PRE, PRE_LEN);
	return 0;
}

static int on_preamble(struct gw_raft__frame *f)
{
	uint64_t p0 = le64(f->fixed), hl = le64(f->fixed + 8);

	f->type = (uint8_t)p0;
	f->header_len = hl;
	/* Byte 1 and bytes 3-7 are zero; byte 2 is the version. */
	if ((p0 & 0xff00) != 0 || (p0 >> 24) != 0) {
		return GW_RAFT__FR_PREAMBLE;
	}
	switch (f->type) {
	case T_RV:
		if (hl != 40) {
			return GW_RAFT__FR_HEADER_LEN;
		}
		break;
	case T_AER:
		if (hl != 32) {
			return GW_RAFT__FR_HEADER_LEN;
		}
		break;
	case T_RVR:
	case T_TN:
		if (hl != 24) {
			return GW_RAFT__FR_HEADER_LEN;
		}
		break;
	case T_AE:
		if (hl < AE_MIN || (hl - AE_MIN) % 16 != 0) {
			return GW_RAFT__FR_HEADER_LEN;
		}
		if ((hl - AE_MIN) / 16 > f->lim.max_entries) {
			return GW_RAFT__FR_ENTRY_COUNT;
		}
		hl = AE_FIXED;
		break;
	case T_IS:
		if (hl < IS_MIN + CONF_MIN || hl - IS_MIN > f->lim.max_conf) {
			return GW_RAFT__FR_HEADER_LEN;
		}
		hl = IS_FIXED;
		break;
	default:
		return GW_RAFT__FR_TYPE;
	}
	expect(f, S_FIXED, (size_t)hl);
	return 0;
}

static int on_fixed(struct gw_raft__frame *f)
{
	const uint8_t *h = f->fixed;
	uint64_t n;
	int rv = check_term(f, le64(h));

	if (rv != 0) {
		return rv;
	}
	switch (f->type) {
	case T_RV:
		/* The vote is recorded for the candidate id: it must be the
		 * sender's (with mTLS, the certificate's). */
		if (le64(h + 8) != f->peer_id) {
			return GW_RAFT__FR_CANDIDATE;
		}
		if (le64(h + 24) > f->term) {
			return GW_RAFT__FR_TERM;
		}
		message_done(f);
		return 0;
	case T_TN:
		if (le64(h + 16) > f->term) {
			return GW_RAFT__FR_TERM;
		}
		message_done(f);
		return 0;
	case T_RVR:
	case T_AER:
		message_done(f);
		return 0;
	case T_AE:
		if (le64(h + 16) > f->term) {
			return GW_RAFT__FR_TERM;
		}
		n = le64(h + 32);
		if (n != (f->header_len - AE_MIN) / 16) {
			return GW_RAFT__FR_ENTRY_COUNT;
		}
		f->entries_left = n;
		f->payload_sum = 0;
		f->n_spans = 0;
		if (n > 0) {
			expect(f, S_ENTRY, 16);
		} else {
			expect(f, S_AE_TAIL, 8);
		}
		return 0;
	default: /* T_IS */
		if (le64(h + 16) > f->term) {
			return GW_RAFT__FR_TERM;
		}
		if (le64(h + 32) != f->header_len - IS_MIN) {
			return GW_RAFT__FR_HEADER_LEN;
		}
		free(f->conf);
		f->conf = malloc((size_t)(f->header_len - IS_MIN));
		if (f->conf == NULL) {
			return GW_RAFT__FR_TOO_LARGE;
		}
		expect(f, S_CONF, (size_t)(f->header_len - IS_MIN));
		return 0;
	}
}

/* Remember where a RAFT_CHANGE entry's bytes lie in the payload. */
static int add_span(struct gw_raft__frame *f, uint64_t off, uint32_t len)
{
	if (len < CONF_MIN || len > f->lim.max_conf) {
		return GW_RAFT__FR_CONF;
	}
	if (f->n_spans == f->cap_spans) {
		size_t cap = f->cap_spans ? 2 * f->cap_spans : 4;
		struct gw_raft__frame_span *s = realloc(f->spans, cap * sizeof *s);
		if (s == NULL) {
			return GW_RAFT__FR_TOO_LARGE;
		}
		f->spans = s;
		f->cap_spans = cap;
	}
	f->spans[f->n_spans].off = off;
	f->spans[f->n_spans].len = len;
	f->n_spans++;
	return 0;
}

static int on_entry(struct gw_raft__frame *f)
{
	const uint8_t *e = f->fixed;
	uint8_t type = e[8];
	uint32_t len = le32(e + 12);
	int rv;

	if (le64(e) > f->term) {
		return GW_RAFT__FR_TERM;
	}
	if (type != RAFT_COMMAND && type != RAFT_BARRIER && type != RAFT_CHANGE) {
		return GW_RAFT__FR_ENTRY;
	}
	f->entries_left--;
	/* The receiver steps over 8-byte padding the sender never sends: an
	 * unpadded entry before the last would shift the others past the end.
	 * An empty one is never sent (barriers are 8 bytes, commands and
	 * configurations padded to 8) and, with a payload of 0 bytes, libraft
	 * never sets the entries' batch pointers. */
	if (len == 0 || (f->entries_left > 0 && len % 8 != 0)) {
		return GW_RAFT__FR_ENTRY;
	}
	if (type == RAFT_CHANGE) {
		rv = add_span(f, f->payload_sum, len);
		if (rv != 0) {
			return rv;
		}
	}
	f->payload_sum += len;
	if (f->payload_sum > f->lim.max_payload) {
		return GW_RAFT__FR_TOO_LARGE;
	}
	if (f->entries_left > 0) {
		expect(f, S_ENTRY, 16);
	} else {
		expect(f, S_AE_TAIL, 8);
	}
	return 0;
}

static void start_payload(struct gw_raft__frame *f, uint64_t len)
{
	if (len == 0) {
		message_done(f);
		return;
	}
	f->payload_left = len;
	f->span_at = 0;
	expect(f, S_PAYLOAD, 0);
}

static int on_part(struct gw_raft__frame *f)
{
	uint64_t data;

	switch (f->state) {
	case S_HS_PRE:
		return on_hs_pre(f);
	case S_HS_ADDR:
		return on_hs_addr(f);
	case S_PRE:
		return on_preamble(f);
	case S_FIXED:
		return on_fixed(f);
	case S_ENTRY:
		return on_entry(f);
	case S_AE_TAIL:
		/* the unused u64 is not checked */
		start_payload(f, f->payload_sum);
		return 0;
	case S_CONF:
		if (!gw_raft__frame_conf_ok(f->conf, f->need)) {
			return GW_RAFT__FR_CONF;
		}
		free(f->conf);
		f->conf = NULL;
		expect(f, S_IS_TAIL, 16);
		return 0;
	default: /* S_IS_TAIL */
		data = le64(f->fixed);
		if (data == 0) {
			return GW_RAFT__FR_EMPTY_SNAPSHOT;
		}
		if (data > f->lim.max_payload) {
			return GW_RAFT__FR_TOO_LARGE;
		}
		start_payload(f, data);
		return 0;
	}
}

/* Payload bytes: counted; those of RAFT_CHANGE entries are collected and
 * checked once complete. */
static int on_payload(struct gw_raft__frame *f, const uint8_t *p, size_t n)
{
	uint64_t pos = f->payload_sum - f->payload_left; /* offset of p[0] */
	uint64_t end = pos + n;

	while (f->type == T_AE && f->span_at < f->n_spans) {
		const struct gw_raft__frame_span *s = &f->spans[f->span_at];
		uint64_t from = pos > s->off ? pos : s->off;
		uint64_t to = end < s->off + s->len ? end : s->off + s->len;

		if (from >= end) {
			break; /* the span starts after these bytes */
		}
		if (f->conf == NULL) {
			f->conf = malloc(s->len);
			if (f->conf == NULL) {
				return GW_RAFT__FR_TOO_LARGE;
			}
		}
		memcpy(f->conf + (from - s->off), p + (from - pos), (size_t)(to - from));
		if (to < s->off + s->len) {
			break; /* more of this span in later bytes */
		}
		if (!gw_raft__frame_conf_ok(f->conf, s->len)) {
			return GW_RAFT__FR_CONF;
		}
		free(f->conf);
		f->conf = NULL;
		f->span_at++;
	}
	f->payload_left -= n;
	if (f->payload_left == 0) {
		message_done(f);
	}
	return 0;
}

int gw_raft__frame_feed(struct gw_raft__frame *f, const void *data, size_t len, size_t *hs_len)
{
	const uint8_t *p = data;
	size_t done = 0;
	int rv;

	*hs_len = 0;
	while (done < len) {
		size_t n;

		if (f->state == S_ERR) {
			return GW_RAFT__FR_TYPE;
		}
		if (f->state == S_PAYLOAD) {
			n = len - done;
			if (n > f->payload_left) {
				n = (size_t)f->payload_left;
			}
			rv = on_payload(f, p + done, n);
			done += n;
		} else {
			uint8_t *dst = f->state == S_HS_ADDR ? (uint8_t *)f->address
				       : f->state == S_CONF  ? f->conf
							     : f->fixed;
			bool hs = f->state == S_HS_PRE || f->state == S_HS_ADDR;

			n = f->need - f->have;
			if (n > len - done) {
				n = len - done;
			}
			memcpy(dst + f->have, p + done, n);
			f->have += n;
			done += n;
			if (hs) {
				*hs_len = done;
			}
			rv = f->have == f->need ? on_part(f) : 0;
		}
		if (rv != 0) {
			f->state = S_ERR;
			return rv;
		}
	}
	return 0;
}
