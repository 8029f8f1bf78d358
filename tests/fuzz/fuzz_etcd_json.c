/* fuzz_etcd_json.c: bodies of the etcd v3 JSON gateway (admin/etcd.c:
 * POST /v3/...): the strict JSON parse (lib/json.c) and the JSON -> protobuf
 * mapping of every request type (admin/etcd_codec.c, gw_etcd__json_to_pb).
 *
 * Input: one byte choosing the method (gw_etcd__methods), then the body.
 * Invariants: a body that maps to a message packs; its JSON view
 * (gw_etcd__pb_to_json, the gateway's own mapping back) maps to a message
 * that packs to the same bytes (JSON -> protobuf -> JSON -> protobuf is
 * stable); a refusal carries a reason for the client. */
#include "config.h"

#include "admin/etcd.h"
#include "admin/etcd_int.h"
#include "fuzz_util.h"
#include "lib/err.h"
#include "lib/json.h"
#include "lib/log.h"

#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	gw_log_set_level(GW_LOG_NONE);
	return 0;
}

static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
	uint8_t *e;
	*len = protobuf_c_message_get_packed_size(m);
	e = malloc(*len + 1);
	FUZZ_CHECK(e != NULL);
	FUZZ_CHECK(protobuf_c_message_pack(m, e) == *len);
	return e;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct gw_etcd__method *m;
	struct gw_etcd__arena a;
	ProtobufCMessage *msg = NULL, *msg2 = NULL;
	char jerr[128], why[256];
	cJSON *j = NULL, *back;
	uint8_t *e1, *e2;
	size_t l1, l2;
	char *text;
	int rv;

	if (size < 1) {
		return 0;
	}
	m = &gw_etcd__methods[data[0] % gw_etcd__n_methods];
	rv = gw_json_parse_strict((const char *)data + 1, size - 1, 0, &j, jerr, sizeof jerr);
	if (rv != 0) {
		FUZZ_CHECK(rv == GW_EINVAL && j == NULL && jerr[0] != '\0');
		return 0;
	}
	gw_etcd__arena_init(&a);
	rv = gw_etcd__json_to_pb(j, m->in, &a, &msg, why, sizeof why);
	cJSON_Delete(j);
	if (rv != 0) {
		FUZZ_CHECK(rv == GW_EINVAL || rv == GW_ENOMEM);
		FUZZ_CHECK(rv == GW_ENOMEM || why[0] != '\0');
		gw_etcd__arena_free(&a);
		return 0;
	}
	e1 = pack(msg, &l1);
	back = gw_etcd__pb_to_json(msg);
	FUZZ_CHECK(back != NULL);
	text = cJSON_PrintUnformatted(back);
	FUZZ_CHECK(text != NULL);
	cJSON_Delete(back);
	rv = gw_json_parse_strict(text, strlen(text), 0, &j, jerr, sizeof jerr);
	FUZZ_CHECK(rv == 0);
	rv = gw_etcd__json_to_pb(j, m->in, &a, &msg2, why, sizeof why);
	if (rv != 0) {
		fprintf(stderr, "round trip refused: %s\n%s\n", why, text);
	}
	FUZZ_CHECK(rv == 0);
	e2 = pack(msg2, &l2);
	if (l1 != l2 || memcmp(e1, e2, l1) != 0) {
		fprintf(stderr, "round trip changed the message: %s\n", text);
	}
	FUZZ_CHECK(l1 == l2 && memcmp(e1, e2, l1) == 0);
	cJSON_Delete(j);
	cJSON_free(text);
	free(e1);
	free(e2);
	gw_etcd__arena_free(&a);
	return 0;
}
