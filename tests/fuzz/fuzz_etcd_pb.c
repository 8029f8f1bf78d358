/* fuzz_etcd_pb.c: the gRPC side of the etcd v3 API (admin/etcd_codec.c):
 * the length-prefixed gRPC message framing and the protobuf-c decoding of
 * every request type, behind apigw's pre-decode check (gw_etcd__pb_check).
 *
 * Input: one byte choosing the method (gw_etcd__methods, so every request
 * type of the table), then a gRPC DATA stream. Messages are unframed with
 * the production bound and each one decoded as that method's request.
 * Invariants: unframing consumes exactly prefix + length and never reads
 * past the input; a decoded message packs, the packed bytes decode again and
 * pack to the same bytes (decode -> encode -> decode is the same message);
 * the message re-framed by gw_etcd__grpc_frame unframes to the same bytes;
 * the JSON view of a decoded message (what the gateway answers with,
 * gw_etcd__pb_to_json) never crashes. */
#include "config.h"

#include "admin/etcd.h"
#include "admin/etcd_int.h"
#include "fuzz_util.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "lib/log.h"

#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	gw_log_set_level(GW_LOG_NONE);
	return 0;
}

static void one(const ProtobufCMessageDescriptor *d, const char *p, size_t n)
{
	struct gw_etcd__arena a;
	ProtobufCMessage *m = NULL, *m2 = NULL;
	struct gw_buf framed;
	uint8_t *e1, *e2;
	size_t l1, l2, mlen, used;
	const char *msg;
	cJSON *j;

	gw_etcd__arena_init(&a);
	if (gw_etcd__pb_decode(d, p, n, &a, &m) != 0) {
		gw_etcd__arena_free(&a);
		return;
	}
	l1 = protobuf_c_message_get_packed_size(m);
	e1 = malloc(l1 + 1);
	FUZZ_CHECK(e1 != NULL);
	FUZZ_CHECK(protobuf_c_message_pack(m, e1) == l1);
	FUZZ_CHECK(gw_etcd__pb_decode(d, e1, l1, &a, &m2) == 0);
	l2 = protobuf_c_message_get_packed_size(m2);
	FUZZ_CHECK(l2 == l1);
	e2 = malloc(l2 + 1);
	FUZZ_CHECK(e2 != NULL);
	FUZZ_CHECK(protobuf_c_message_pack(m2, e2) == l2);
	FUZZ_CHECK(memcmp(e1, e2, l1) == 0);

	gw_buf_init(&framed);
	FUZZ_CHECK(gw_etcd__grpc_frame(&framed, m) == 0);
	FUZZ_CHECK(gw_etcd__grpc_unframe(framed.data, framed.len, GW_ETCD_DEFAULT_MAX_REQUEST, &msg,
					 &mlen, &used) == 0 ||
		   l1 > GW_ETCD_DEFAULT_MAX_REQUEST);
	if (l1 <= GW_ETCD_DEFAULT_MAX_REQUEST) {
		FUZZ_CHECK(used == framed.len && mlen == l1 && memcmp(msg, e1, l1) == 0);
	}
	gw_buf_close(&framed);

	j = gw_etcd__pb_to_json(m);
	cJSON_Delete(j);
	free(e1);
	free(e2);
	gw_etcd__arena_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct gw_etcd__method *m;
	const char *p;
	size_t n;

	if (size < 1) {
		return 0;
	}
	m = &gw_etcd__methods[data[0] % gw_etcd__n_methods];
	p = (const char *)data + 1;
	n = size - 1;
	/* a gRPC request body: framed messages back to back */
	for (int k = 0; k < 16 && n > 0; k++) {
		const char *msg;
		size_t mlen, used;
		int rv =
		    gw_etcd__grpc_unframe(p, n, GW_ETCD_DEFAULT_MAX_REQUEST, &msg, &mlen, &used);
		if (rv != 0) {
			FUZZ_CHECK(rv == GW_EAGAIN || rv == GW_EPROTO || rv == GW_ELIMIT);
			break;
		}
		FUZZ_CHECK(used == GW_ETCD__GRPC_PREFIX + mlen && used <= n);
		FUZZ_CHECK(msg == p + GW_ETCD__GRPC_PREFIX);
		one(m->in, msg, mlen);
		p += used;
		n -= used;
	}
	/* and the whole rest as one unframed message (what a corpus of bare
	 * messages reaches fastest) */
	one(m->in, (const char *)data + 1, size - 1);
	return 0;
}
