/* fuzz_raft_frame.c: the raft transport's inbound frame checker
 * (raft/frame.c, gw_raft__frame_feed), which sees every byte a peer sends
 * on the raft port before libraft's decoder does.
 *
 * Input: 4 bytes of split seed, then the peer's byte stream. The stream is
 * checked twice with the production limits: all at once, and in pieces
 * whose sizes the seed picks. Invariants: both verdicts are the same (the
 * first reason, the number of complete messages, the handshake's bytes, id
 * and address, whether the stream ends between messages); a reason is one
 * of the enum; once refused, the checker stays refused. */
#include "config.h"

#include "fuzz_util.h"
#include "raft/transport.h"

#include <string.h>

struct verdict {
	int err;
	uint64_t messages;
	size_t hs_bytes;
	bool hs_done, idle;
	uint64_t peer_id;
	char address[GW_RAFT__HS_MAX_ADDRESS];
};

static void run(const uint8_t *p, size_t n, uint32_t seed, bool split, struct verdict *v)
{
	struct gw_raft__frame f;
	struct fuzz_split sp;
	size_t off = 0;

	memset(v, 0, sizeof *v);
	gw_raft__frame_init(&f, NULL);
	fuzz_split_init(&sp, seed, 1 + seed % 97);
	while (off < n) {
		size_t k = split ? fuzz_split_next(&sp, n - off) : n - off, hs = 0;
		int rv = gw_raft__frame_feed(&f, p + off, k, &hs);
		FUZZ_CHECK(rv >= 0 && rv < GW_RAFT__FR_N);
		FUZZ_CHECK(gw_raft__frame_strerror(rv) != NULL);
		if (rv != 0) {
			size_t hs2 = 0;
			v->err = rv;
			/* sticky */
			FUZZ_CHECK(gw_raft__frame_feed(&f, p, n, &hs2) != 0);
			break;
		}
		FUZZ_CHECK(hs <= k);
		v->hs_bytes += hs;
		off += k;
	}
	v->messages = f.messages;
	v->hs_done = f.handshake_done;
	v->idle = v->err == 0 && gw_raft__frame_idle(&f);
	if (f.handshake_done) {
		v->peer_id = f.peer_id;
		memcpy(v->address, f.address, sizeof v->address);
		FUZZ_CHECK(memchr(f.address, '\0', sizeof f.address) != NULL);
	}
	gw_raft__frame_close(&f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t seed = fuzz_take(&data, &size, 4);
	struct verdict whole, pieces;

	run(data, size, seed, false, &whole);
	run(data, size, seed, true, &pieces);
	FUZZ_CHECK(whole.err == pieces.err);
	FUZZ_CHECK(whole.messages == pieces.messages);
	FUZZ_CHECK(whole.hs_done == pieces.hs_done);
	FUZZ_CHECK(whole.idle == pieces.idle);
	FUZZ_CHECK(whole.peer_id == pieces.peer_id);
	FUZZ_CHECK(strcmp(whole.address, pieces.address) == 0);
	if (whole.err == 0) {
		FUZZ_CHECK(whole.hs_bytes == pieces.hs_bytes);
	}
	return 0;
}
