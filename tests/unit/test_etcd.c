/* test_etcd.c: the etcd v3 API (admin/etcd_*).
 *
 * Codec cases need nothing but the code: gRPC framing, base64, the proto3
 * JSON mapping both ways, the status table, and hostile protobuf bytes
 * (random, truncated, nesting bombs) that must be refused, never crash.
 * Server cases run a real store (LMDB in a mkdtemp dir) and gw_etcd_start
 * in standalone mode (no raft) on a loopback port, driven by the real
 * etcdctl (Debian etcd-client) and curl as child processes while the test
 * thread runs the loop. They are skipped when etcdctl or curl is missing. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "admin/etcd.h"
#include "admin/etcd_int.h"
#include "lib/err.h"
#include "store/store.h"

#include <arpa/inet.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- codec ---- */

static void test_framing(void **state)
{
	Etcdserverpb__PutRequest put = ETCDSERVERPB__PUT_REQUEST__INIT;
	struct gw_buf b;
	const char *msg;
	size_t len;
	size_t used;
	char bad[5] = {1, 0, 0, 0, 0};
	char big[5] = {0, 0x7f, 0, 0, 0};

	(void)state;
	put.key.data = (uint8_t *)"foo";
	put.key.len = 3;
	put.value.data = (uint8_t *)"bar";
	put.value.len = 3;
	gw_buf_init(&b);
	assert_int_equal(gw_etcd__grpc_frame(&b, &put.base), 0);
	assert_int_equal(b.len, 5 + 10);
	assert_int_equal(b.data[0], 0);
	assert_int_equal(b.data[4], 10);
	/* every prefix of the frame is incomplete, the whole is one message */
	for (size_t i = 0; i < b.len; i++) {
		assert_int_equal(gw_etcd__grpc_unframe(b.data, i, 100, &msg, &len, &used),
				 GW_EAGAIN);
	}
	assert_int_equal(gw_etcd__grpc_unframe(b.data, b.len, 100, &msg, &len, &used), 0);
	assert_int_equal(len, 10);
	assert_int_equal(used, 15);
	assert_ptr_equal(msg, b.data + 5);
	assert_int_equal(gw_etcd__grpc_unframe(b.data, b.len, 9, &msg, &len, &used), GW_ELIMIT);
	assert_int_equal(gw_etcd__grpc_unframe(bad, 5, 100, &msg, &len, &used), GW_EPROTO);
	assert_int_equal(gw_etcd__grpc_unframe(big, 5, 1 << 20, &msg, &len, &used), GW_ELIMIT);
	gw_buf_close(&b);
}

static void test_base64(void **state)
{
	char enc[64];
	uint8_t dec[64];
	static const struct {
		const char *in, *out;
	} v[] = {{"", ""},
		 {"f", "Zg=="},
		 {"fo", "Zm8="},
		 {"foo", "Zm9v"},
		 {"foob", "Zm9vYg=="},
		 {"fooba", "Zm9vYmE="},
		 {"foobar", "Zm9vYmFy"}};
	(void)state;
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		size_t n = strlen(v[i].in);
		gw_etcd__b64_encode((const uint8_t *)v[i].in, n, enc);
		assert_string_equal(enc, v[i].out);
		assert_int_equal(gw_etcd__b64_decode(enc, strlen(enc), dec), (long)n);
		assert_memory_equal(dec, v[i].in, n);
	}
	/* unpadded and URL-safe forms decode too; junk does not */
	assert_int_equal(gw_etcd__b64_decode("Zm8", 3, dec), 2);
	assert_int_equal(gw_etcd__b64_decode("-_8=", 4, dec), 2);
	assert_int_equal(dec[0], 0xfb);
	assert_int_equal(gw_etcd__b64_decode("Zm9v!A==", 8, dec), -1);
	assert_int_equal(gw_etcd__b64_decode("Z", 1, dec), -1);
	assert_int_equal(gw_etcd__b64_decode("Zg===", 5, dec), -1);
}

static void test_json_in(void **state)
{
	struct gw_etcd__arena a;
	ProtobufCMessage *m;
	Etcdserverpb__RangeRequest *r;
	Etcdserverpb__TxnRequest *t;
	Etcdserverpb__WatchRequest *w;
	char why[128];
	cJSON *j;

	(void)state;
	gw_etcd__arena_init(&a);
	/* lua-resty-etcd style: numbers for ints and enums, every field */
	j = cJSON_Parse("{\"key\":\"L2FwaXNpeC9yb3V0ZXM=\",\"range_end\":\"L2FwaXNpeC9yb3V0ZXQ=\","
			"\"limit\":5,\"revision\":\"12\",\"sort_order\":2,\"sort_target\":\"MOD\","
			"\"serializable\":true,\"keys_only\":false,\"count_only\":false,"
			"\"min_mod_revision\":0,\"maxModRevision\":\"9007199254740993\"}");
	assert_non_null(j);
	assert_int_equal(gw_etcd__json_to_pb(j, &etcdserverpb__range_request__descriptor, &a, &m,
					     why, sizeof why),
			 0);
	cJSON_Delete(j);
	r = (Etcdserverpb__RangeRequest *)m;
	assert_int_equal(r->key.len, 14);
	assert_memory_equal(r->key.data, "/apisix/routes", 14);
	assert_memory_equal(r->range_end.data, "/apisix/routet", 14);
	assert_int_equal(r->limit, 5);
	assert_int_equal(r->revision, 12);
	assert_int_equal(r->sort_order, ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__DESCEND);
	assert_int_equal(r->sort_target, ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__MOD);
	assert_true(r->serializable);
	assert_true(r->max_mod_revision == 9007199254740993LL); /* exact: parsed from a string */

	/* nested messages, oneofs, repeated */
	j = cJSON_Parse("{\"compare\":[{\"key\":\"YQ==\",\"target\":\"VALUE\",\"result\":"
			"\"EQUAL\",\"value\":\"MQ==\"}],\"success\":[{\"request_put\":{\"key\":"
			"\"YQ==\",\"value\":\"Mg==\"}}],\"failure\":[{\"request_range\":{\"key\":"
			"\"YQ==\"}}]}");
	assert_int_equal(
	    gw_etcd__json_to_pb(j, &etcdserverpb__txn_request__descriptor, &a, &m, why, sizeof why),
	    0);
	cJSON_Delete(j);
	t = (Etcdserverpb__TxnRequest *)m;
	assert_int_equal(t->n_compare, 1);
	assert_int_equal(t->compare[0]->target_union_case,
			 ETCDSERVERPB__COMPARE__TARGET_UNION_VALUE);
	assert_memory_equal(t->compare[0]->value.data, "1", 1);
	assert_int_equal(t->n_success, 1);
	assert_int_equal(t->success[0]->request_case,
			 ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT);
	assert_memory_equal(t->success[0]->request_put->value.data, "2", 1);
	assert_int_equal(t->failure[0]->request_case,
			 ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE);

	j = cJSON_Parse("{\"create_request\":{\"key\":\"Zm9v\",\"start_revision\":3,"
			"\"filters\":[\"NOPUT\",1],\"prev_kv\":true}}");
	assert_int_equal(gw_etcd__json_to_pb(j, &etcdserverpb__watch_request__descriptor, &a, &m,
					     why, sizeof why),
			 0);
	cJSON_Delete(j);
	w = (Etcdserverpb__WatchRequest *)m;
	assert_int_equal(w->request_union_case,
			 ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST);
	assert_int_equal(w->create_request->n_filters, 2);
	assert_int_equal(w->create_request->filters[1],
			 ETCDSERVERPB__WATCH_CREATE_REQUEST__FILTER_TYPE__NODELETE);
	assert_int_equal(w->create_request->start_revision, 3);
	gw_etcd__arena_free(&a);
}

static void json_bad(const char *text, const char *why_part)
{
	struct gw_etcd__arena a;
	ProtobufCMessage *m = NULL;
	char why[128];
	cJSON *j = cJSON_Parse(text);
	assert_non_null(j);
	gw_etcd__arena_init(&a);
	assert_int_equal(gw_etcd__json_to_pb(j, &etcdserverpb__range_request__descriptor, &a, &m,
					     why, sizeof why),
			 GW_EINVAL);
	assert_non_null(strstr(why, why_part));
	cJSON_Delete(j);
	gw_etcd__arena_free(&a);
}

static void test_json_in_bad(void **state)
{
	(void)state;
	json_bad("{\"key\":\"%%%\"}", "key: bad base64");
	json_bad("{\"key\":5}", "key: expected a base64 string");
	json_bad("{\"limit\":1.5}", "limit: not an integer");
	json_bad("{\"limit\":\"12x\"}", "limit: not an integer");
	json_bad("{\"limit\":\"99999999999999999999\"}", "limit: out of range");
	json_bad("{\"limit\":1e300}", "limit: out of range");
	json_bad("{\"serializable\":\"yes\"}", "serializable: expected true or false");
	json_bad("{\"sort_order\":\"SIDEWAYS\"}", "sort_order: unknown enum name");
	json_bad("[1,2]", "expected a JSON object");
}

static void test_json_out(void **state)
{
	Etcdserverpb__RangeResponse r = ETCDSERVERPB__RANGE_RESPONSE__INIT;
	Etcdserverpb__ResponseHeader h = ETCDSERVERPB__RESPONSE_HEADER__INIT;
	Etcdserverpb__KeyValue kv = ETCDSERVERPB__KEY_VALUE__INIT;
	Etcdserverpb__KeyValue *kvs[1] = {&kv};
	Etcdserverpb__Event ev = ETCDSERVERPB__EVENT__INIT;
	cJSON *j;
	char *s;

	(void)state;
	h.cluster_id = 18446744073709551615ULL;
	h.member_id = 2;
	h.revision = 7;
	r.header = &h;
	kv.key.data = (uint8_t *)"foo";
	kv.key.len = 3;
	kv.create_revision = 7;
	kv.mod_revision = 7;
	kv.version = 1;
	r.kvs = kvs;
	r.n_kvs = 1;
	r.count = 1;
	j = gw_etcd__pb_to_json(&r.base);
	s = cJSON_PrintUnformatted(j);
	/* int64 as strings, bytes as base64, defaults (value, lease, more,
	 * raft_term) left out, proto field names */
	assert_string_equal(s,
			    "{\"header\":{\"cluster_id\":\"18446744073709551615\",\"member_id\":"
			    "\"2\",\"revision\":\"7\"},\"kvs\":[{\"key\":\"Zm9v\","
			    "\"create_revision\":\"7\",\"mod_revision\":\"7\",\"version\":\"1\"}],"
			    "\"count\":\"1\"}");
	free(s);
	cJSON_Delete(j);

	ev.type = ETCDSERVERPB__EVENT__EVENT_TYPE__DELETE;
	ev.kv = &kv;
	j = gw_etcd__pb_to_json(&ev.base);
	s = cJSON_PrintUnformatted(j);
	assert_non_null(strstr(s, "\"type\":\"DELETE\""));
	free(s);
	cJSON_Delete(j);
}

static void test_status_table(void **state)
{
	struct gw_etcd__status st;
	(void)state;
	st = gw_etcd__status_of(0);
	assert_int_equal(st.code, 0);
	assert_int_equal(st.http, 200);
	st = gw_etcd__status_of(GW_ENOLEADER);
	assert_int_equal(st.code, 14);
	assert_int_equal(st.http, 503);
	assert_string_equal(st.msg, "etcdserver: no leader");
	st = gw_etcd__status_of(GW_ETIMEOUT);
	assert_int_equal(st.code, 14);
	assert_string_equal(st.msg, "etcdserver: request timed out");
	st = gw_etcd__status_of(GW_ECOMPACTED);
	assert_int_equal(st.code, 11);
	assert_int_equal(st.http, 400);
	assert_string_equal(st.msg, "etcdserver: mvcc: required revision has been compacted");
	st = gw_etcd__status_of(GW_EFUTUREREV);
	assert_string_equal(st.msg, "etcdserver: mvcc: required revision is a future revision");
	st = gw_etcd__status_of(GW_ELEASENOTFOUND);
	assert_int_equal(st.code, 5);
	assert_int_equal(st.http, 404);
	assert_string_equal(st.msg, "etcdserver: requested lease not found");
	st = gw_etcd__status_of(GW_EKEYEMPTY);
	assert_int_equal(st.code, 3);
	assert_string_equal(st.msg, "etcdserver: key is not provided");
	st = gw_etcd__status_of(GW_EVALUETOOLARGE);
	assert_string_equal(st.msg, "etcdserver: request is too large");
	st = gw_etcd__status_of(GW_ENOSPACE);
	assert_int_equal(st.code, 8);
	assert_string_equal(st.msg, "etcdserver: mvcc: database space exceeded");
	st = gw_etcd__status_of(GW_ELEASEEXIST);
	assert_int_equal(st.code, 9);
	assert_int_equal(st.http, 400);
}

/* Hostile protobuf: refused or decoded, never a crash (ASan watches). */
static void test_pb_garbage(void **state)
{
	static const ProtobufCMessageDescriptor *const descs[] = {
	    &etcdserverpb__range_request__descriptor,
	    &etcdserverpb__put_request__descriptor,
	    &etcdserverpb__txn_request__descriptor,
	    &etcdserverpb__watch_request__descriptor,
	    &etcdserverpb__lease_keep_alive_request__descriptor,
	    &etcdserverpb__member_remove_request__descriptor,
	};
	uint8_t buf[256];
	uint8_t *bomb;
	size_t n = 0;
	struct gw_etcd__arena a;
	ProtobufCMessage *m;
	unsigned seed = 12345;
	int refused = 0;

	(void)state;
	for (int i = 0; i < 20000; i++) {
		size_t len = (size_t)(rand_r(&seed) % (int)sizeof buf);
		const ProtobufCMessageDescriptor *d = descs[(size_t)i % 6];
		for (size_t k = 0; k < len; k++) {
			buf[k] = (uint8_t)rand_r(&seed);
		}
		gw_etcd__arena_init(&a);
		if (gw_etcd__pb_decode(d, buf, len, &a, &m) != 0) {
			refused++;
		}
		gw_etcd__arena_free(&a);
	}
	assert_true(refused > 1000);

	/* truncated varint, length past the end, a group */
	gw_etcd__arena_init(&a);
	assert_int_equal(gw_etcd__pb_decode(&etcdserverpb__put_request__descriptor,
					    (const uint8_t *)"\x18\xff", 2, &a, &m),
			 GW_EPROTO);
	assert_int_equal(gw_etcd__pb_decode(&etcdserverpb__put_request__descriptor,
					    (const uint8_t *)"\x0a\x10"
							     "ab",
					    4, &a, &m),
			 GW_EPROTO);
	assert_int_equal(gw_etcd__pb_decode(&etcdserverpb__put_request__descriptor,
					    (const uint8_t *)"\x0b\x0c", 2, &a, &m),
			 GW_EPROTO);
	gw_etcd__arena_free(&a);

	/* A nesting bomb: TxnRequest{success: RequestOp{request_txn: Txn{...}}}
	 * 100000 levels deep; protobuf-c would recurse that deep. */
	bomb = malloc(1 << 21);
	assert_non_null(bomb);
	{
		/* build from the inside out: each level wraps the previous */
		size_t cap = 1 << 21;
		size_t start = cap;
		for (int lvl = 0; lvl < 100000 && start > 16; lvl++) {
			size_t inner = cap - start;
			uint8_t hdr[12];
			size_t h = 0;
			uint64_t v = inner;
			/* alternate: TxnRequest.success(2) holds RequestOp,
			 * RequestOp.request_txn(4) holds TxnRequest */
			hdr[h++] = (lvl % 2 == 0) ? 0x22 : 0x12;
			do {
				uint8_t b = v & 0x7f;
				v >>= 7;
				hdr[h++] = (uint8_t)(b | (v ? 0x80 : 0));
			} while (v);
			start -= h;
			memcpy(bomb + start, hdr, h);
		}
		n = cap - start;
		gw_etcd__arena_init(&a);
		/* the outermost field is success(2) of a TxnRequest when the
		 * level count is even; either way it must be refused */
		assert_int_equal(gw_etcd__pb_decode(&etcdserverpb__txn_request__descriptor,
						    bomb + start, n, &a, &m),
				 GW_EPROTO);
		gw_etcd__arena_free(&a);
	}
	free(bomb);
}

/* A random JSON value for field @f: mostly of the right type, sometimes
 * not (strings for numbers, junk base64, nested garbage). */
static cJSON *random_value(const ProtobufCFieldDescriptor *f, unsigned *seed, int depth);

static cJSON *random_object(const ProtobufCMessageDescriptor *d, unsigned *seed, int depth)
{
	cJSON *o = cJSON_CreateObject();
	for (unsigned i = 0; i < d->n_fields; i++) {
		if (rand_r(seed) % 3 == 0) {
			continue;
		}
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		cJSON *v;
		if (f->label == PROTOBUF_C_LABEL_REPEATED && rand_r(seed) % 5 != 0) {
			int n = rand_r(seed) % 4;
			v = cJSON_CreateArray();
			for (int k = 0; k < n; k++) {
				cJSON_AddItemToArray(v, random_value(f, seed, depth + 1));
			}
		} else {
			v = random_value(f, seed, depth + 1);
		}
		cJSON_AddItemToObject(o, rand_r(seed) % 7 == 0 ? "unknownField" : f->name, v);
	}
	return o;
}

static cJSON *random_value(const ProtobufCFieldDescriptor *f, unsigned *seed, int depth)
{
	static const char *const strs[] = {
	    "",     "Zm9v", "!!",    "123",     "-5",
	    "1e3",  "PUT",  "NOPUT", "DESCEND", "99999999999999999999",
	    "AA==="};
	int r = rand_r(seed) % 10;
	if (r == 0) {
		return cJSON_CreateString(strs[rand_r(seed) % 11]);
	}
	if (r == 1) {
		return cJSON_CreateNumber((double)(rand_r(seed) % 2000) - 1000.5);
	}
	if (r == 2) {
		return cJSON_CreateBool(rand_r(seed) % 2);
	}
	switch (f->type) {
	case PROTOBUF_C_TYPE_MESSAGE:
		if (depth > 6) {
			return cJSON_CreateObject();
		}
		return random_object(f->descriptor, seed, depth);
	case PROTOBUF_C_TYPE_BYTES:
	case PROTOBUF_C_TYPE_STRING:
		return cJSON_CreateString(strs[rand_r(seed) % 3]);
	case PROTOBUF_C_TYPE_BOOL:
		return cJSON_CreateBool(rand_r(seed) % 2);
	case PROTOBUF_C_TYPE_ENUM:
		return rand_r(seed) % 2 ? cJSON_CreateNumber(rand_r(seed) % 6)
					: cJSON_CreateString(strs[rand_r(seed) % 11]);
	default:
		return rand_r(seed) % 2 ? cJSON_CreateNumber(rand_r(seed) % 100000)
					: cJSON_CreateString(strs[rand_r(seed) % 11]);
	}
}

/* Every method's request type: random JSON is refused with a reason or
 * decoded into a message that survives a protobuf round trip and maps back
 * to JSON. */
static void test_json_random(void **state)
{
	unsigned seed = 4242;
	int accepted = 0;
	int refused = 0;
	(void)state;
	for (int round = 0; round < 300; round++) {
		for (size_t i = 0; i < gw_etcd__n_methods; i++) {
			const ProtobufCMessageDescriptor *d = gw_etcd__methods[i].in;
			struct gw_etcd__arena a;
			ProtobufCMessage *m = NULL;
			ProtobufCMessage *m2 = NULL;
			char why[160];
			cJSON *j = random_object(d, &seed, 0);
			gw_etcd__arena_init(&a);
			int rv = gw_etcd__json_to_pb(j, d, &a, &m, why, sizeof why);
			if (rv == 0) {
				size_t n = protobuf_c_message_get_packed_size(m);
				uint8_t *buf = malloc(n + 1);
				cJSON *back;
				assert_non_null(buf);
				protobuf_c_message_pack(m, buf);
				assert_int_equal(gw_etcd__pb_decode(d, buf, n, &a, &m2), 0);
				assert_int_equal(protobuf_c_message_get_packed_size(m2), n);
				back = gw_etcd__pb_to_json(m2);
				assert_non_null(back);
				cJSON_Delete(back);
				free(buf);
				accepted++;
			} else {
				assert_int_equal(rv, GW_EINVAL);
				assert_true(why[0] != '\0');
				refused++;
			}
			cJSON_Delete(j);
			gw_etcd__arena_free(&a);
		}
	}
	assert_true(accepted > 100);
	assert_true(refused > 100);
}

/* ---- a real server, real etcdctl ---- */

struct child {
	uv_process_t proc;
	uv_pipe_t out;
	struct gw_buf obuf;
	int64_t status;
	int open; /* handles not yet closed */
};

struct fix {
	uv_loop_t loop;
	char dir[64];
	struct gw_store *store;
	struct gw_etcd *etcd;
	int port;
	char ep[64];
};

static void child_closed(uv_handle_t *h)
{
	struct child *c = h->data;
	c->open--;
}

static void child_exit(uv_process_t *p, int64_t status, int sig)
{
	struct child *c = p->data;
	c->status = sig ? 128 + sig : status;
	uv_close((uv_handle_t *)p, child_closed);
}

static void child_alloc(uv_handle_t *h, size_t s, uv_buf_t *b)
{
	struct child *c = h->data;
	(void)s;
	gw_buf_reserve(&c->obuf, 65536);
	b->base = c->obuf.data + c->obuf.len;
	b->len = c->obuf.cap - c->obuf.len - 1;
}

static void child_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
	struct child *c = st->data;
	(void)b;
	if (n > 0) {
		c->obuf.len += (size_t)n;
		c->obuf.data[c->obuf.len] = '\0';
	} else if (n < 0) {
		uv_close((uv_handle_t *)st, child_closed);
	}
}

/* Run `sh -c cmd` (stdout and stderr captured together) while the loop
 * serves; returns the exit status, output in *out (caller frees). */
static int sh(struct fix *f, char **out, const char *fmt, ...)
{
	struct child c;
	uv_process_options_t o;
	uv_stdio_container_t io[3];
	char cmd[4096];
	char *args[4];
	char *env[4];
	char path[4200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	memset(&c, 0, sizeof c);
	memset(&o, 0, sizeof o);
	gw_buf_init(&c.obuf);
	gw_buf_reserve(&c.obuf, 65536);
	c.obuf.data[0] = '\0';
	uv_pipe_init(&f->loop, &c.out, 0);
	c.out.data = &c;
	c.proc.data = &c;
	io[0].flags = UV_IGNORE;
	io[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
	io[1].data.stream = (uv_stream_t *)&c.out;
	io[2].flags = UV_INHERIT_FD;
	io[2].data.fd = 1;
	args[0] = (char *)"/bin/sh";
	args[1] = (char *)"-c";
	args[2] = cmd;
	args[3] = NULL;
	snprintf(path, sizeof path, "PATH=%s", getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
	env[0] = path;
	env[1] = (char *)"ETCDCTL_API=3";
	env[2] = NULL;
	o.file = "/bin/sh";
	o.args = args;
	o.env = env;
	o.stdio = io;
	o.stdio_count = 3;
	o.exit_cb = child_exit;
	/* stderr into the pipe too: "2>&1" in the command does it */
	assert_int_equal(uv_spawn(&f->loop, &c.proc, &o), 0);
	c.open = 2;
	uv_read_start((uv_stream_t *)&c.out, child_alloc, child_read);
	while (c.open > 0) {
		uv_run(&f->loop, UV_RUN_ONCE);
	}
	*out = gw_buf_steal(&c.obuf, NULL);
	return (int)c.status;
}

static bool have_tools(void)
{
	return access("/usr/bin/etcdctl", X_OK) == 0 && access("/usr/bin/curl", X_OK) == 0;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int setup_with(void **state, bool tls)
{
	struct fix *f = calloc(1, sizeof *f);
	char tlsdir[128], cert[160], key[160], ca[160];
	struct gw_store_opts so;
	struct gw_etcd_opts eo;
	struct gw_addr addr;

	if (!have_tools()) {
		free(f);
		*state = NULL;
		return 0;
	}
	assert_int_equal(uv_loop_init(&f->loop), 0);
	strcpy(f->dir, "/tmp/gw-test-etcd-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	memset(&so, 0, sizeof so);
	so.dir = f->dir;
	so.no_sync = true;
	assert_int_equal(gw_store_open(&so, &f->store), 0);
	memset(&eo, 0, sizeof eo);
	eo.store = f->store;
	eo.max_watchers = 8;
	eo.progress_notify_ms = 300;
	if (tls) {
		/* a CA, a server certificate for 127.0.0.1 and a client
		 * certificate it signed; a second CA signs a rogue client */
		snprintf(tlsdir, sizeof tlsdir, "%s/tls", f->dir);
		char cmd[2048];
		snprintf(
		    cmd, sizeof cmd,
		    "exec >/dev/null 2>&1; set -e; mkdir -p %s; cd %s; K='-newkey ec -pkeyopt "
		    "ec_paramgen_curve:prime256v1 "
		    "-nodes'; "
		    "openssl req -x509 $K -keyout ca.key -out ca.pem -days 2 -subj /CN=test-ca; "
		    "openssl req -x509 $K -keyout rogue-ca.key -out rogue-ca.pem -days 2 "
		    "-subj /CN=rogue-ca; "
		    "openssl req $K -keyout server.key -out server.csr -subj /CN=127.0.0.1; "
		    "printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext; "
		    "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
		    "-out server.pem -days 2 -extfile san.ext; "
		    "openssl req $K -keyout client.key -out client.csr -subj /CN=client; "
		    "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
		    "-out client.pem -days 2; "
		    "openssl req $K -keyout rogue.key -out rogue.csr -subj /CN=rogue; "
		    "openssl x509 -req -in rogue.csr -CA rogue-ca.pem -CAkey rogue-ca.key "
		    "-CAcreateserial -out rogue.pem -days 2",
		    tlsdir, tlsdir);
		assert_int_equal(system(cmd), 0);
		snprintf(cert, sizeof cert, "%s/server.pem", tlsdir);
		snprintf(key, sizeof key, "%s/server.key", tlsdir);
		snprintf(ca, sizeof ca, "%s/ca.pem", tlsdir);
		eo.tls_cert = cert;
		eo.tls_key = key;
		eo.tls_client_ca = ca;
	}
	memset(&addr, 0, sizeof addr); /* 127.0.0.1, port 0: gw_addr_parse wants 1..65535 */
	((struct sockaddr_in *)&addr.ss)->sin_family = AF_INET;
	((struct sockaddr_in *)&addr.ss)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	strcpy(addr.text, "127.0.0.1:0");
	assert_int_equal(gw_etcd_start(&f->loop, &addr, &eo, &f->etcd), 0);
	f->port = gw_etcd_port(f->etcd);
	if (tls) {
		snprintf(f->ep, sizeof f->ep, "--endpoints=https://127.0.0.1:%d", f->port);
	} else {
		snprintf(f->ep, sizeof f->ep, "--endpoints=127.0.0.1:%d", f->port);
	}
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, false);
}

static int setup_tls(void **state)
{
	if (access("/usr/bin/openssl", X_OK) != 0) {
		*state = NULL;
		return 0;
	}
	return setup_with(state, true);
}

static void stopped(void *data)
{
	*(bool *)data = true;
}

static void walk_cb(uv_handle_t *h, void *arg)
{
	(void)arg;
	fprintf(stderr, "# live handle type %d\n", (int)h->type);
}

static int teardown(void **state)
{
	struct fix *f = *state;
	bool done = false;
	if (f == NULL) {
		return 0;
	}
	gw_etcd_stop(f->etcd, stopped, &done);
	while (!done) {
		uv_run(&f->loop, UV_RUN_ONCE);
	}
	uv_run(&f->loop, UV_RUN_NOWAIT);
	gw_store_close(f->store);
	if (uv_loop_close(&f->loop) != 0) {
		uv_walk(&f->loop, walk_cb, NULL);
		fail_msg("live handles after stop");
	}
	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

#define SKIP_WITHOUT_TOOLS()                                                                       \
	do {                                                                                       \
		if (*state == NULL) {                                                              \
			skip();                                                                    \
		}                                                                                  \
	} while (0)

static void expect_out(struct fix *f, int status, const char *want, const char *cmd)
{
	char *out;
	int rv = sh(f, &out, "%s", cmd);
	if (rv != status || strstr(out, want) == NULL) {
		fail_msg("`%s` exited %d (want %d), output:\n%s\n(want it to contain: %s)", cmd, rv,
			 status, out, want);
	}
	free(out);
}

#define ETCDCTL(f, args) "etcdctl --dial-timeout=3s --command-timeout=5s %s " args " 2>&1"

static void run_ok(struct fix *f, const char *want, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void run_ok(struct fix *f, const char *want, const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	expect_out(f, 0, want, cmd);
}

static void run_fail(struct fix *f, const char *want, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void run_fail(struct fix *f, const char *want, const char *fmt, ...)
{
	char cmd[4096];
	char *out;
	int rv;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	rv = sh(f, &out, "%s", cmd);
	if (rv == 0 || strstr(out, want) == NULL) {
		fail_msg("`%s` exited %d (want failure), output:\n%s\n(want: %s)", cmd, rv, out,
			 want);
	}
	free(out);
}

static void test_etcdctl_kv(void **state)
{
	struct fix *f;
	SKIP_WITHOUT_TOOLS();
	f = *state;
	run_ok(f, "OK", ETCDCTL(f, "put foo bar"), f->ep);
	run_ok(f, "foo\nbar\n", ETCDCTL(f, "get foo"), f->ep);
	run_ok(f, "OK", ETCDCTL(f, "put foo2 baz"), f->ep);
	run_ok(f, "OK", ETCDCTL(f, "put fop other"), f->ep);
	run_ok(f, "foo\nbar\nfoo2\nbaz\n", ETCDCTL(f, "get foo --prefix"), f->ep);
	run_ok(f, "foo\n\nfoo2\n\n", ETCDCTL(f, "get foo --prefix --keys-only"), f->ep);
	run_ok(f, "\"more\":true", ETCDCTL(f, "get foo --prefix --limit=1 -w json"), f->ep);
	run_ok(f, "\"count\":2", ETCDCTL(f, "get foo --prefix --limit=1 -w json"), f->ep);
	/* foo was put at revision 2: the old value at --rev */
	run_ok(f, "OK", ETCDCTL(f, "put foo newer"), f->ep);
	run_ok(f, "foo\nbar\n", ETCDCTL(f, "get foo --rev=2"), f->ep);
	run_ok(f, "foo\nnewer\n", ETCDCTL(f, "get foo --consistency=s"), f->ep);
	run_ok(f, "OK\nfoo\nnewer\n", ETCDCTL(f, "put foo third --prev-kv"), f->ep);
	run_ok(f, "2\nfoo\nthird\nfoo2\nbaz\n", ETCDCTL(f, "del foo --prefix --prev-kv"), f->ep);
	run_ok(f, "0\n", ETCDCTL(f, "del foo"), f->ep);
	run_ok(f, "\"kvs\":[{\"key\":\"Zm9w\"", ETCDCTL(f, "get fop -w json"), f->ep);
	run_fail(f, "etcdserver: mvcc: required revision is a future revision",
		 ETCDCTL(f, "get fop --rev=1000"), f->ep);
}

static void test_etcdctl_txn(void **state)
{
	struct fix *f;
	SKIP_WITHOUT_TOOLS();
	f = *state;
	run_ok(f, "OK", ETCDCTL(f, "put tk 1"), f->ep);
	run_ok(f, "SUCCESS\n\nOK\n\ntk\n2\n",
	       "printf 'value(\"tk\") = \"1\"\\n\\nput tk 2\\nget tk\\n\\nget tk\\n\\n' | " ETCDCTL(
		   f, "txn"),
	       f->ep);
	run_ok(
	    f, "FAILURE\n\ntk\n2\n",
	    "printf 'value(\"tk\") = \"1\"\\n\\nput tk 3\\n\\nget tk\\n\\n' | " ETCDCTL(f, "txn"),
	    f->ep);
	run_ok(f, "tk\n2\n", ETCDCTL(f, "get tk"), f->ep);
}

static void test_etcdctl_lease(void **state)
{
	struct fix *f;
	char *out;
	char id[32];
	SKIP_WITHOUT_TOOLS();
	f = *state;
	assert_int_equal(sh(f, &out, ETCDCTL(f, "lease grant 60"), f->ep), 0);
	/* "lease 694d7a3c2b1e4f05 granted with TTL(60s)" */
	assert_int_equal(sscanf(out, "lease %31s granted with TTL(60s)", id), 1);
	free(out);
	run_ok(f, "OK", ETCDCTL(f, "put lk lv --lease=%s"), f->ep, id);
	run_ok(f, "attached keys([lk])", ETCDCTL(f, "lease timetolive %s --keys"), f->ep, id);
	run_ok(f, id, ETCDCTL(f, "lease list"), f->ep);
	run_ok(f, "keepalived with TTL(60)", ETCDCTL(f, "lease keep-alive --once %s"), f->ep, id);
	run_ok(f, "revoked", ETCDCTL(f, "lease revoke %s"), f->ep, id);
	run_ok(f, "", ETCDCTL(f, "get lk"), f->ep);
	run_ok(f, "already expired", ETCDCTL(f, "lease timetolive %s"), f->ep, id);
	run_fail(f, "etcdserver: requested lease not found", ETCDCTL(f, "lease revoke %s"), f->ep,
		 id);
	run_fail(f, "etcdserver: requested lease not found", ETCDCTL(f, "put lk lv --lease=%s"),
		 f->ep, id);
}

static void test_etcdctl_watch(void **state)
{
	struct fix *f;
	SKIP_WITHOUT_TOOLS();
	f = *state;
	run_ok(f, "OK", ETCDCTL(f, "put wk v1"), f->ep);
	/* a watch from revision 1 sees history, then a live put */
	run_ok(f, "PUT\nwk\nv1\nPUT\nwk\nv2\n",
	       "(timeout 3 etcdctl %s watch wk --rev=1 > /tmp/gw-etcd-watch.$$ 2>&1 &) ; sleep 1; "
	       "etcdctl %s put wk v2 >/dev/null; sleep 1.5; cat /tmp/gw-etcd-watch.$$; rm -f "
	       "/tmp/gw-etcd-watch.$$",
	       f->ep, f->ep);
	/* a delete with prev_kv: etcdctl prints the previous pair first */
	run_ok(
	    f, "DELETE\nwk\nv2\nwk\n\n",
	    "(timeout 3 etcdctl %s watch wk --prev-kv > /tmp/gw-etcd-watch.$$ 2>&1 &) ; sleep 1; "
	    "etcdctl %s del wk >/dev/null; sleep 1.5; cat /tmp/gw-etcd-watch.$$; rm -f "
	    "/tmp/gw-etcd-watch.$$",
	    f->ep, f->ep);
}

static void test_etcdctl_compaction(void **state)
{
	struct fix *f;
	char *out;
	int rev = 0;
	const char *p;
	SKIP_WITHOUT_TOOLS();
	f = *state;
	run_ok(f, "OK", ETCDCTL(f, "put ck 1"), f->ep);
	run_ok(f, "OK", ETCDCTL(f, "put ck 2"), f->ep);
	assert_int_equal(sh(f, &out, ETCDCTL(f, "get ck -w json"), f->ep), 0);
	p = strstr(out, "\"revision\":");
	assert_non_null(p);
	rev = atoi(p + 11);
	free(out);
	assert_true(rev >= 3);
	run_ok(f, "compacted revision", ETCDCTL(f, "compaction %d"), f->ep, rev);
	run_fail(f, "etcdserver: mvcc: required revision has been compacted",
		 ETCDCTL(f, "get ck --rev=%d"), f->ep, rev - 1);
	run_fail(f, "watch was canceled (etcdserver: mvcc: required revision has been compacted)",
		 "timeout 5 " ETCDCTL(f, "watch ck --rev=1"), f->ep);
}

static void test_etcdctl_cluster(void **state)
{
	struct fix *f;
	SKIP_WITHOUT_TOOLS();
	f = *state;
	run_ok(f, "standalone", ETCDCTL(f, "member list"), f->ep);
	run_ok(f, "3.4.23", ETCDCTL(f, "endpoint status"), f->ep);
	run_ok(f, "is healthy", ETCDCTL(f, "endpoint health"), f->ep);
	run_ok(f, "{\"header\":{\"cluster_id\":", ETCDCTL(f, "alarm list -w json"), f->ep);
	run_ok(f, "Finished defragmenting", ETCDCTL(f, "defrag"), f->ep);
	run_fail(f, "apigw join", ETCDCTL(f, "member add n2 --peer-urls=http://127.0.0.1:1"),
		 f->ep);
	/* etcd auth is served (test_etcd_auth); enabling needs a root user */
	run_fail(f, "etcdserver: root user does not exist", ETCDCTL(f, "auth enable"), f->ep);
	/* Snapshot is served since issue 21 (etcd_maint.c; docs/backup.md) */
	run_ok(f, "Snapshot saved at",
	       ETCDCTL(f, "snapshot save /tmp/gw-etcd-snap.$$") "; rm -f /tmp/gw-etcd-snap.$$",
	       f->ep);
}

static void test_json_gateway(void **state)
{
	struct fix *f;
	char base[64];
	SKIP_WITHOUT_TOOLS();
	f = *state;
	snprintf(base, sizeof base, "http://127.0.0.1:%d", f->port);
	run_ok(f, "{\"etcdserver\":\"3.4.23\",\"etcdcluster\":\"3.4.0\"}", "curl -s %s/version",
	       base);
	run_ok(f, "{\"health\":\"true\"}", "curl -s %s/health", base);
	run_ok(f, "404 page not found", "curl -s -X POST -d '{}' %s/v3alpha/kv/range", base);
	/* put then range, as lua-resty-etcd sends them (numbers, every field) */
	run_ok(f, "\"revision\":\"",
	       "curl -s -X POST -d '{\"key\":\"L2E=\",\"value\":\"MQ==\"}' %s/v3/kv/put", base);
	run_ok(f, "\"kvs\":[{\"key\":\"L2E=\"",
	       "curl -s -X POST -d '{\"key\":\"L2E=\",\"range_end\":\"\",\"limit\":0,"
	       "\"revision\":0,\"sort_order\":0,\"sort_target\":0,\"serializable\":false,"
	       "\"keys_only\":false,\"count_only\":false}' %s/v3beta/kv/range",
	       base);
	run_ok(f, "\"value\":\"MQ==\"", "curl -s -X POST -d '{\"key\":\"L2E=\"}' %s/v3/kv/range",
	       base);
	/* errors: status and etcd's body */
	run_ok(f,
	       "400 {\"error\":\"etcdserver: key is not provided\",\"message\":\"etcdserver: key "
	       "is not provided\",\"code\":3}",
	       "curl -s -w '%%{http_code} ' -o /tmp/gw-etcd-b.$$ -X POST -d '{}' %s/v3/kv/range; "
	       "cat /tmp/gw-etcd-b.$$; rm -f /tmp/gw-etcd-b.$$",
	       base);
	run_ok(f, "400", "curl -s -w '%%{http_code}' -o /dev/null -X POST -d '{bad' %s/v3/kv/range",
	       base);
	run_ok(f, "\"code\":5", "curl -s -X POST -d '{\"ID\":12345}' %s/v3/kv/lease/revoke", base);
	run_ok(f, "501 {\"error\":\"method not implemented by apigw\"",
	       "curl -s -w '%%{http_code} ' -o /tmp/gw-etcd-b.$$ -X POST -d '{}' "
	       "%s/v3/maintenance/snapshot; cat /tmp/gw-etcd-b.$$; rm -f /tmp/gw-etcd-b.$$",
	       base);
	run_ok(f, "Not Found", "curl -s -X POST -d '{}' %s/v3/kv/nosuchthing", base);
	/* a 1.4 MB value fits (its JSON is 1.9 MB); 1.6 MB is etcd's error */
	run_ok(f, "\"revision\"",
	       "python3 -c 'import base64,json;print(json.dumps({\"key\":\"Ymln\",\"value\":"
	       "base64.b64encode(b\"x\"*1400000).decode()}))' | curl -s -X POST --data-binary @- "
	       "%s/v3/kv/put",
	       base);
	run_ok(f, "\"error\":\"etcdserver: request is too large\"",
	       "python3 -c 'import base64,json;print(json.dumps({\"key\":\"Ymln\",\"value\":"
	       "base64.b64encode(b\"x\"*1600000).decode()}))' | curl -s -X POST --data-binary @- "
	       "%s/v3/kv/put",
	       base);
	/* a watch stream: created, then an event, one JSON object per line */
	run_ok(f, "{\"result\":{\"header\"",
	       "(curl -sN --max-time 2 -X POST -d '{\"create_request\":{\"key\":\"L2E=\"}}' "
	       "%s/v3/watch > /tmp/gw-etcd-w.$$ &); sleep 0.7; curl -s -X POST -d "
	       "'{\"key\":\"L2E=\",\"value\":\"Mg==\"}' %s/v3/kv/put >/dev/null; sleep 1.8; "
	       "cat /tmp/gw-etcd-w.$$; rm -f /tmp/gw-etcd-w.$$",
	       base, base);
	run_ok(f, "\"events\":[{\"kv\":{\"key\":\"L2E=\"",
	       "(curl -sN --max-time 2 -X POST -d '{\"create_request\":{\"key\":\"L2E=\"}}' "
	       "%s/v3/watch > /tmp/gw-etcd-w.$$ &); sleep 0.7; curl -s -X POST -d "
	       "'{\"key\":\"L2E=\",\"value\":\"Mg==\"}' %s/v3/kv/put >/dev/null; sleep 1.8; "
	       "cat /tmp/gw-etcd-w.$$; rm -f /tmp/gw-etcd-w.$$",
	       base, base);
}

static void test_progress_notify(void **state)
{
	struct fix *f;
	char *out;
	int n = 0;
	const char *p;
	SKIP_WITHOUT_TOOLS();
	f = *state;
	/* progress_notify: an empty response (header only) every 300 ms here */
	assert_int_equal(sh(f, &out,
			    "curl -sN --max-time 1.5 -X POST -d "
			    "'{\"create_request\":{\"key\":\"cA==\",\"progress_notify\":true}}' "
			    "http://127.0.0.1:%d/v3/watch",
			    f->port),
			 28); /* curl: timed out, as a watch stream never ends */
	for (p = out; (p = strstr(p, "{\"result\":{\"header\":{")) != NULL; p++) {
		n++;
	}
	if (n < 4 || strstr(out, "\"created\":true") == NULL) {
		fail_msg("want created + >= 3 progress notifications, got:\n%s", out);
	}
	free(out);
}

/* Raw HTTP/2 abuse: garbage after the preface, a huge frame, a bad
 * message; the server answers or hangs up, and keeps serving. */
static void test_h2_garbage(void **state)
{
	struct fix *f;
	SKIP_WITHOUT_TOOLS();
	f = *state;
	run_ok(
	    f, "done",
	    "python3 -c 'import socket,os\n"
	    "for payload in [os.urandom(5000), b\"\\x00\\xff\\xff\\xff\\x01\\x00\\x00\\x00\\x01\"+"
	    "os.urandom(100), b\"\\x00\\x00\\x00\\x04\\x00\\x00\\x00\\x00\\x00\"*3]:\n"
	    "  s=socket.create_connection((\"127.0.0.1\",%d))\n"
	    "  s.sendall(b\"PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n\"+payload)\n"
	    "  s.settimeout(2)\n"
	    "  try:\n"
	    "    while s.recv(4096): pass\n"
	    "  except Exception: pass\n"
	    "  s.close()\n"
	    "print(\"done\")'",
	    f->port);
	run_ok(f, "OK", ETCDCTL(f, "put after garbage"), f->ep);
	/* a value over the request limit */
	run_fail(f, "etcdserver: request is too large",
		 "head -c 1600000 /dev/zero | tr '\\0' x | " ETCDCTL(f, "put big"), f->ep);
	run_ok(f, "OK", ETCDCTL(f, "put after big"), f->ep);
}

static void test_tls(void **state)
{
	struct fix *f;
	char d[128];
	SKIP_WITHOUT_TOOLS();
	f = *state;
	snprintf(d, sizeof d, "%s/tls", f->dir);
	/* etcdctl with the CA and a client certificate: gRPC over TLS */
	run_ok(f, "OK",
	       ETCDCTL(f, "--cacert=%s/ca.pem --cert=%s/client.pem --key=%s/client.key "
			  "put tk tv"),
	       f->ep, d, d, d);
	run_ok(f, "tk\ntv\n",
	       ETCDCTL(f, "--cacert=%s/ca.pem --cert=%s/client.pem --key=%s/client.key get tk"),
	       f->ep, d, d, d);
	{
		char cmd[1024];
		snprintf(cmd, sizeof cmd,
			 "timeout 2 " ETCDCTL(f, "--cacert=%s/ca.pem --cert=%s/client.pem "
						 "--key=%s/client.key watch tk --rev=1"),
			 f->ep, d, d, d);
		expect_out(f, 124, "PUT\ntk\ntv\n", cmd); /* the watch runs until timeout */
	}
	/* no client certificate, or one of another CA: refused */
	run_fail(f, "", ETCDCTL(f, "--cacert=%s/ca.pem get tk"), f->ep, d);
	run_fail(f, "",
		 ETCDCTL(f, "--cacert=%s/ca.pem --cert=%s/rogue.pem --key=%s/rogue.key get tk"),
		 f->ep, d, d, d);
	/* the JSON gateway over TLS */
	run_ok(f, "\"value\":\"dHY=\"",
	       "curl -s --cacert %s/ca.pem --cert %s/client.pem --key %s/client.key -X POST -d "
	       "'{\"key\":\"dGs=\"}' https://127.0.0.1:%d/v3/kv/range",
	       d, d, d, f->port);
	run_ok(f, "3.4.23",
	       "curl -s --cacert %s/ca.pem --cert %s/client.pem --key %s/client.key "
	       "https://127.0.0.1:%d/version",
	       d, d, d, f->port);
	/* junk that looks like a handshake, and junk after a real one */
	run_ok(f, "done",
	       "python3 -c 'import socket,ssl,os\n"
	       "s=socket.create_connection((\"127.0.0.1\",%d))\n"
	       "s.sendall(b\"\\x16\\x03\\x01\\x00\\x10\"+os.urandom(3000)); s.settimeout(2)\n"
	       "try:\n  s.recv(100)\nexcept Exception: pass\n"
	       "c=ssl.create_default_context(cafile=\"%s/ca.pem\")\n"
	       "c.load_cert_chain(\"%s/client.pem\",\"%s/client.key\")\n"
	       "t=c.wrap_socket(socket.create_connection((\"127.0.0.1\",%d)),"
	       "server_hostname=\"127.0.0.1\")\n"
	       "t.sendall(b\"PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n\"+os.urandom(5000))\n"
	       "t.settimeout(2)\n"
	       "try:\n  t.recv(100)\nexcept Exception: pass\n"
	       "print(\"done\")'",
	       f->port, d, d, d, f->port);
	run_ok(f, "tk\ntv\n",
	       ETCDCTL(f, "--cacert=%s/ca.pem --cert=%s/client.pem --key=%s/client.key get tk"),
	       f->ep, d, d, d);
	/* cleartext: gRPC refused, HTTP answered only with a hint */
	run_fail(f, "",
		 "etcdctl --dial-timeout=2s --command-timeout=3s "
		 "--endpoints=127.0.0.1:%d get tk 2>&1",
		 f->port);
	run_ok(
	    f, "400 Client sent an HTTP request to an HTTPS server.",
	    "curl -s -w '%%{http_code} ' -o /tmp/gw-etcd-tls.$$ -X POST -d '{}' "
	    "http://127.0.0.1:%d/v3/kv/range; cat /tmp/gw-etcd-tls.$$; rm -f /tmp/gw-etcd-tls.$$",
	    f->port);
}

int main(void)
{
	/* As apigw itself does (node.c): a client that hangs up must not kill
	 * the process writing to it. */
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_framing),
	    cmocka_unit_test(test_base64),
	    cmocka_unit_test(test_json_in),
	    cmocka_unit_test(test_json_in_bad),
	    cmocka_unit_test(test_json_out),
	    cmocka_unit_test(test_status_table),
	    cmocka_unit_test(test_pb_garbage),
	    cmocka_unit_test(test_json_random),
	    cmocka_unit_test_setup_teardown(test_etcdctl_kv, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_etcdctl_txn, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_etcdctl_lease, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_etcdctl_watch, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_etcdctl_compaction, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_etcdctl_cluster, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_json_gateway, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_progress_notify, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_h2_garbage, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tls, setup_tls, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
