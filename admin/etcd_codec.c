/* etcd_codec.c: the byte-level pieces of the etcd v3 API, with no I/O and no
 * store: a protobuf-c allocator over the per-call arena (lib/arena.h),
 * protobuf decoding guarded against hostile input, gRPC's 5-byte message
 * framing, the proto3 JSON mapping of etcd's grpc-gateway (driven by
 * protobuf-c's descriptors, so every message of etcd.proto maps the same
 * way), base64, and the one table that turns gw errors into gRPC codes,
 * HTTP statuses and etcd's messages.
 *
 * Failure modes: hostile bytes (truncated varints, lengths past the end,
 * groups, nesting bombs) and hostile JSON (wrong types, bad base64, numbers
 * out of range) are refused with GW_EPROTO / GW_EINVAL, never a crash;
 * allocation failures return GW_ENOMEM. Any thread (no shared state). */
#include "config.h"

#include "admin/etcd_int.h"
#include "lib/err.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- arena: protobuf-c allocations from the per-call arena ---- */

static void *arena_pb_alloc(void *data, size_t size)
{
	return gw_etcd__arena_alloc(data, size);
}

static void arena_pb_free(void *data, void *p)
{
	(void)data;
	(void)p;
}

void gw_etcd__arena_allocator(struct gw_etcd__arena *a, ProtobufCAllocator *out)
{
	out->alloc = arena_pb_alloc;
	out->free = arena_pb_free;
	out->allocator_data = a;
}

/* ---- protobuf decoding ---- */

#define MAX_DEPTH 64

static int read_varint(const uint8_t *p, size_t len, size_t *off, uint64_t *v)
{
	uint64_t x = 0;
	unsigned shift = 0;
	while (*off < len) {
		uint8_t b = p[(*off)++];
		if (shift >= 64) {
			return GW_EPROTO;
		}
		x |= (uint64_t)(b & 0x7f) << shift;
		if ((b & 0x80) == 0) {
			*v = x;
			return 0;
		}
		shift += 7;
	}
	return GW_EPROTO;
}

int gw_etcd__pb_check(const ProtobufCMessageDescriptor *desc, const uint8_t *p, size_t len,
		      int depth)
{
	size_t off = 0;
	uint64_t tag;
	uint64_t v;
	int rv;

	if (depth > MAX_DEPTH) {
		return GW_EPROTO;
	}
	while (off < len) {
		rv = read_varint(p, len, &off, &tag);
		if (rv != 0 || (tag >> 3) == 0) {
			return GW_EPROTO;
		}
		switch (tag & 7) {
		case 0:
			rv = read_varint(p, len, &off, &v);
			if (rv != 0) {
				return rv;
			}
			break;
		case 1:
			if (len - off < 8) {
				return GW_EPROTO;
			}
			off += 8;
			break;
		case 5:
			if (len - off < 4) {
				return GW_EPROTO;
			}
			off += 4;
			break;
		case 2: {
			const ProtobufCFieldDescriptor *f;
			rv = read_varint(p, len, &off, &v);
			if (rv != 0 || v > len - off) {
				return GW_EPROTO;
			}
			f = desc != NULL && (tag >> 3) <= UINT32_MAX
				? protobuf_c_message_descriptor_get_field(desc,
									  (unsigned)(tag >> 3))
				: NULL;
			if (f != NULL && f->type == PROTOBUF_C_TYPE_MESSAGE) {
				rv =
				    gw_etcd__pb_check(f->descriptor, p + off, (size_t)v, depth + 1);
				if (rv != 0) {
					return rv;
				}
			}
			off += (size_t)v;
			break;
		}
		default: /* groups (3, 4) and invalid wire types */
			return GW_EPROTO;
		}
	}
	return 0;
}

int gw_etcd__pb_decode(const ProtobufCMessageDescriptor *desc, const void *p, size_t len,
		       struct gw_etcd__arena *a, ProtobufCMessage **out)
{
	ProtobufCAllocator alloc;
	ProtobufCMessage *m;
	int rv;

	rv = gw_etcd__pb_check(desc, p, len, 0);
	if (rv != 0) {
		return rv;
	}
	gw_etcd__arena_allocator(a, &alloc);
	m = protobuf_c_message_unpack(desc, &alloc, len, p);
	if (m == NULL) {
		return GW_EPROTO;
	}
	*out = m;
	return 0;
}

/* ---- gRPC framing ---- */

int gw_etcd__grpc_unframe(const char *p, size_t len, size_t max, const char **msg, size_t *msg_len,
			  size_t *used)
{
	const uint8_t *u = (const uint8_t *)p;
	uint32_t n;

	if (len < GW_ETCD__GRPC_PREFIX) {
		return GW_EAGAIN;
	}
	if (u[0] != 0) {
		return GW_EPROTO;
	}
	n = (uint32_t)u[1] << 24 | (uint32_t)u[2] << 16 | (uint32_t)u[3] << 8 | u[4];
	if (n > max) {
		return GW_ELIMIT;
	}
	if (len - GW_ETCD__GRPC_PREFIX < n) {
		return GW_EAGAIN;
	}
	*msg = p + GW_ETCD__GRPC_PREFIX;
	*msg_len = n;
	*used = GW_ETCD__GRPC_PREFIX + (size_t)n;
	return 0;
}

int gw_etcd__grpc_frame(struct gw_buf *out, const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *dst;
	int rv;

	if (n > UINT32_MAX) {
		return GW_ELIMIT;
	}
	rv = gw_buf_reserve(out, GW_ETCD__GRPC_PREFIX + n);
	if (rv != 0) {
		return rv;
	}
	dst = (uint8_t *)out->data + out->len;
	dst[0] = 0;
	dst[1] = (uint8_t)(n >> 24);
	dst[2] = (uint8_t)(n >> 16);
	dst[3] = (uint8_t)(n >> 8);
	dst[4] = (uint8_t)n;
	protobuf_c_message_pack(m, dst + GW_ETCD__GRPC_PREFIX);
	out->len += GW_ETCD__GRPC_PREFIX + n;
	out->data[out->len] = '\0';
	return 0;
}

/* ---- base64 ---- */

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t gw_etcd__b64_encode(const uint8_t *p, size_t n, char *out)
{
	size_t i;
	size_t o = 0;
	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		out[o++] = b64chars[v >> 18];
		out[o++] = b64chars[(v >> 12) & 63];
		out[o++] = b64chars[(v >> 6) & 63];
		out[o++] = b64chars[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;
		out[o++] = b64chars[v >> 18];
		out[o++] = b64chars[(v >> 12) & 63];
		out[o++] = '=';
		out[o++] = '=';
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		out[o++] = b64chars[v >> 18];
		out[o++] = b64chars[(v >> 12) & 63];
		out[o++] = b64chars[(v >> 6) & 63];
		out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

static int b64val(char c)
{
	if (c >= 'A' && c <= 'Z') {
		return c - 'A';
	}
	if (c >= 'a' && c <= 'z') {
		return c - 'a' + 26;
	}
	if (c >= '0' && c <= '9') {
		return c - '0' + 52;
	}
	if (c == '+' || c == '-') {
		return 62;
	}
	if (c == '/' || c == '_') {
		return 63;
	}
	return -1;
}

long gw_etcd__b64_decode(const char *s, size_t n, uint8_t *out)
{
	uint32_t acc = 0;
	int bits = 0;
	long o = 0;
	size_t i;
	size_t end = n;

	while (end > 0 && s[end - 1] == '=') {
		end--;
	}
	if (n - end > 2 || (n != end && n % 4 != 0)) {
		return -1;
	}
	if (end % 4 == 1) {
		return -1;
	}
	for (i = 0; i < end; i++) {
		int v = b64val(s[i]);
		if (v < 0) {
			return -1;
		}
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	return o;
}

/* ---- protobuf -> JSON ---- */

static cJSON *value_to_json(const ProtobufCFieldDescriptor *f, const void *v)
{
	char num[32];
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return cJSON_CreateNumber(*(const int32_t *)v);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return cJSON_CreateNumber(*(const uint32_t *)v);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		snprintf(num, sizeof num, "%" PRId64, *(const int64_t *)v);
		return cJSON_CreateString(num);
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		snprintf(num, sizeof num, "%" PRIu64, *(const uint64_t *)v);
		return cJSON_CreateString(num);
	case PROTOBUF_C_TYPE_FLOAT:
		return cJSON_CreateNumber((double)*(const float *)v);
	case PROTOBUF_C_TYPE_DOUBLE:
		return cJSON_CreateNumber(*(const double *)v);
	case PROTOBUF_C_TYPE_BOOL:
		return cJSON_CreateBool(*(const protobuf_c_boolean *)v);
	case PROTOBUF_C_TYPE_ENUM: {
		int e = *(const int *)v;
		const ProtobufCEnumValue *ev =
		    protobuf_c_enum_descriptor_get_value(f->descriptor, e);
		if (ev != NULL) {
			return cJSON_CreateString(ev->name);
		}
		return cJSON_CreateNumber(e);
	}
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)v;
		return cJSON_CreateString(s != NULL ? s : "");
	}
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *b = v;
		char *tmp;
		cJSON *j;
		if (b->len > (SIZE_MAX - 8) / 4 * 3) {
			return NULL;
		}
		tmp = malloc(4 * ((b->len + 2) / 3) + 1);
		if (tmp == NULL) {
			return NULL;
		}
		gw_etcd__b64_encode(b->data, b->len, tmp);
		j = cJSON_CreateString(tmp);
		free(tmp);
		return j;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *sub = *(ProtobufCMessage *const *)v;
		if (sub == NULL) {
			return cJSON_CreateObject();
		}
		return gw_etcd__pb_to_json(sub);
	}
	}
	return NULL;
}

static size_t type_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_ENUM:
		return 4;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	}
	return 0;
}

/* True if the singular value at @v is proto3's default (left out). */
static bool is_default(const ProtobufCFieldDescriptor *f, const void *v)
{
	switch (type_size(f->type)) {
	case 4:
		return *(const uint32_t *)v == 0;
	case 8:
		return *(const uint64_t *)v == 0;
	default:
		break;
	}
	switch (f->type) {
	case PROTOBUF_C_TYPE_BOOL:
		return !*(const protobuf_c_boolean *)v;
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)v;
		return s == NULL || s[0] == '\0';
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		return *(void *const *)v == NULL;
	case PROTOBUF_C_TYPE_BYTES:
		return ((const ProtobufCBinaryData *)v)->len == 0;
	default:
		return false;
	}
}

cJSON *gw_etcd__pb_to_json(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const char *base = (const char *)m;
	cJSON *obj = cJSON_CreateObject();
	unsigned i;

	if (obj == NULL) {
		return NULL;
	}
	for (i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const void *v = base + f->offset;
		cJSON *j;

		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)(base + f->quantifier_offset);
			const char *arr = *(char *const *)v;
			size_t k;
			size_t sz = type_size(f->type);
			if (n == 0) {
				continue;
			}
			j = cJSON_CreateArray();
			if (j == NULL) {
				goto err;
			}
			for (k = 0; k < n; k++) {
				cJSON *e = value_to_json(f, arr + k * sz);
				if (e == NULL) {
					cJSON_Delete(j);
					goto err;
				}
				cJSON_AddItemToArray(j, e);
			}
		} else {
			if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
				uint32_t which = *(const uint32_t *)(base + f->quantifier_offset);
				if (which != f->id) {
					continue;
				}
			} else if (is_default(f, v)) {
				continue;
			}
			j = value_to_json(f, v);
			if (j == NULL) {
				goto err;
			}
		}
		cJSON_AddItemToObject(obj, f->name, j);
	}
	return obj;
err:
	cJSON_Delete(obj);
	return NULL;
}

/* ---- JSON -> protobuf ---- */

/* Field names match ignoring case and underscores: "range_end", "rangeEnd"
 * and "RangeEnd" all name field range_end, as jsonpb accepts both forms. */
static bool name_eq(const char *a, const char *b)
{
	for (;;) {
		while (*a == '_') {
			a++;
		}
		while (*b == '_') {
			b++;
		}
		if (*a == '\0' || *b == '\0') {
			return *a == *b;
		}
		if (tolower((unsigned char)*a) != tolower((unsigned char)*b)) {
			return false;
		}
		a++;
		b++;
	}
}

static const ProtobufCFieldDescriptor *field_by_json_name(const ProtobufCMessageDescriptor *d,
							  const char *name)
{
	unsigned i;
	for (i = 0; i < d->n_fields; i++) {
		if (strcmp(d->fields[i].name, name) == 0) {
			return &d->fields[i];
		}
	}
	for (i = 0; i < d->n_fields; i++) {
		if (name_eq(d->fields[i].name, name)) {
			return &d->fields[i];
		}
	}
	return NULL;
}

struct jctx {
	struct gw_etcd__arena *a;
	char *why;
	size_t whylen;
	int depth;
};

/* "field <name>: <what>" into the reason buffer. */
static int jfail(struct jctx *x, const char *what, const char *name)
{
	snprintf(x->why, x->whylen, "field %s: %s", name, what);
	return GW_EINVAL;
}

/* An integer from a JSON number or a decimal string. */
static int json_int(struct jctx *x, const cJSON *j, const char *name, bool is_unsigned, int64_t lo,
		    int64_t hi, uint64_t uhi, int64_t *sv, uint64_t *uv)
{
	if (cJSON_IsNumber(j)) {
		double d = j->valuedouble;
		if (d != floor(d) || isnan(d)) {
			return jfail(x, "not an integer", name);
		}
		if (is_unsigned) {
			if (d < 0 || d > (double)uhi || d >= 18446744073709551616.0) {
				return jfail(x, "out of range", name);
			}
			*uv = (uint64_t)d;
		} else {
			if (d < (double)lo || d > (double)hi || d >= 9223372036854775808.0) {
				return jfail(x, "out of range", name);
			}
			*sv = (int64_t)d;
		}
		return 0;
	}
	if (cJSON_IsString(j)) {
		const char *s = j->valuestring;
		char *end;
		errno = 0;
		if (s[0] == '\0' || isspace((unsigned char)s[0])) {
			return jfail(x, "not an integer", name);
		}
		if (is_unsigned) {
			unsigned long long u;
			if (s[0] == '-') {
				return jfail(x, "out of range", name);
			}
			u = strtoull(s, &end, 10);
			if (*end != '\0') {
				return jfail(x, "not an integer", name);
			}
			if (errno != 0 || u > uhi) {
				return jfail(x, "out of range", name);
			}
			*uv = u;
		} else {
			long long v = strtoll(s, &end, 10);
			if (*end != '\0') {
				return jfail(x, "not an integer", name);
			}
			if (errno != 0 || v < lo || v > hi) {
				return jfail(x, "out of range", name);
			}
			*sv = v;
		}
		return 0;
	}
	return jfail(x, "expected an integer", name);
}

static int json_msg(struct jctx *x, const cJSON *j, const ProtobufCMessageDescriptor *d,
		    ProtobufCMessage **out);

static int json_value(struct jctx *x, const ProtobufCFieldDescriptor *f, const cJSON *j, void *v)
{
	int64_t sv = 0;
	uint64_t uv = 0;
	int rv;

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		rv = json_int(x, j, f->name, false, INT32_MIN, INT32_MAX, 0, &sv, &uv);
		if (rv == 0) {
			*(int32_t *)v = (int32_t)sv;
		}
		return rv;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		rv = json_int(x, j, f->name, true, 0, 0, UINT32_MAX, &sv, &uv);
		if (rv == 0) {
			*(uint32_t *)v = (uint32_t)uv;
		}
		return rv;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		rv = json_int(x, j, f->name, false, INT64_MIN, INT64_MAX, 0, &sv, &uv);
		if (rv == 0) {
			*(int64_t *)v = sv;
		}
		return rv;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		rv = json_int(x, j, f->name, true, 0, 0, UINT64_MAX, &sv, &uv);
		if (rv == 0) {
			*(uint64_t *)v = uv;
		}
		return rv;
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE:
		if (!cJSON_IsNumber(j)) {
			return jfail(x, "expected a number", f->name);
		}
		if (f->type == PROTOBUF_C_TYPE_FLOAT) {
			*(float *)v = (float)j->valuedouble;
		} else {
			*(double *)v = j->valuedouble;
		}
		return 0;
	case PROTOBUF_C_TYPE_BOOL:
		if (!cJSON_IsBool(j)) {
			return jfail(x, "expected true or false", f->name);
		}
		*(protobuf_c_boolean *)v = cJSON_IsTrue(j);
		return 0;
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumDescriptor *ed = f->descriptor;
		if (cJSON_IsString(j)) {
			const ProtobufCEnumValue *ev =
			    protobuf_c_enum_descriptor_get_value_by_name(ed, j->valuestring);
			if (ev == NULL) {
				return jfail(x, "unknown enum name", f->name);
			}
			*(int *)v = ev->value;
			return 0;
		}
		rv = json_int(x, j, f->name, false, INT32_MIN, INT32_MAX, 0, &sv, &uv);
		if (rv == 0) {
			*(int *)v = (int)sv;
		}
		return rv;
	}
	case PROTOBUF_C_TYPE_STRING: {
		size_t n;
		char *s;
		if (!cJSON_IsString(j)) {
			return jfail(x, "expected a string", f->name);
		}
		n = strlen(j->valuestring);
		s = gw_etcd__arena_alloc(x->a, n + 1);
		if (s == NULL) {
			return GW_ENOMEM;
		}
		memcpy(s, j->valuestring, n);
		*(char **)v = s;
		return 0;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		ProtobufCBinaryData *b = v;
		size_t n;
		uint8_t *p;
		long got;
		if (!cJSON_IsString(j)) {
			return jfail(x, "expected a base64 string", f->name);
		}
		n = strlen(j->valuestring);
		p = gw_etcd__arena_alloc(x->a, n / 4 * 3 + 4);
		if (p == NULL) {
			return GW_ENOMEM;
		}
		got = gw_etcd__b64_decode(j->valuestring, n, p);
		if (got < 0) {
			return jfail(x, "bad base64", f->name);
		}
		b->data = p;
		b->len = (size_t)got;
		return 0;
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		return json_msg(x, j, f->descriptor, (ProtobufCMessage **)v);
	}
	return jfail(x, "unsupported type", f->name);
}

static int json_msg(struct jctx *x, const cJSON *j, const ProtobufCMessageDescriptor *d,
		    ProtobufCMessage **out)
{
	ProtobufCMessage *m;
	char *base;
	const cJSON *it;
	int rv;

	if (!cJSON_IsObject(j)) {
		snprintf(x->why, x->whylen, "expected a JSON object for %s", d->short_name);
		return GW_EINVAL;
	}
	if (++x->depth > MAX_DEPTH) {
		snprintf(x->why, x->whylen, "JSON nested too deeply");
		return GW_EINVAL;
	}
	m = gw_etcd__arena_alloc(x->a, d->sizeof_message);
	if (m == NULL) {
		return GW_ENOMEM;
	}
	d->message_init(m);
	base = (char *)m;
	cJSON_ArrayForEach(it, j)
	{
		const ProtobufCFieldDescriptor *f;
		if (it->string == NULL || cJSON_IsNull(it)) {
			continue;
		}
		f = field_by_json_name(d, it->string);
		if (f == NULL) {
			continue; /* unknown fields are ignored */
		}
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t sz = type_size(f->type);
			int n = cJSON_GetArraySize(it);
			char *arr;
			const cJSON *e;
			size_t k = 0;
			if (!cJSON_IsArray(it)) {
				return jfail(x, "expected an array", f->name);
			}
			arr = gw_etcd__arena_alloc(x->a, sz * (size_t)(n > 0 ? n : 1));
			if (arr == NULL) {
				return GW_ENOMEM;
			}
			cJSON_ArrayForEach(e, it)
			{
				rv = json_value(x, f, e, arr + k * sz);
				if (rv != 0) {
					return rv;
				}
				k++;
			}
			*(size_t *)(base + f->quantifier_offset) = k;
			*(void **)(base + f->offset) = arr;
			continue;
		}
		rv = json_value(x, f, it, base + f->offset);
		if (rv != 0) {
			return rv;
		}
		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			*(uint32_t *)(base + f->quantifier_offset) = f->id;
		}
	}
	x->depth--;
	*out = m;
	return 0;
}

int gw_etcd__json_to_pb(const cJSON *j, const ProtobufCMessageDescriptor *desc,
			struct gw_etcd__arena *a, ProtobufCMessage **out, char *why, size_t whylen)
{
	struct jctx x = {a, why, whylen, 0};
	if (whylen > 0) {
		why[0] = '\0';
	}
	return json_msg(&x, j, desc, out);
}

/* ---- status mapping ---- */

static const struct {
	int err;
	int code;
	const char *msg; /* NULL = gw_strerror(err) */
} status_table[] = {
    {GW_EKEYEMPTY, GW_GRPC_INVALID_ARGUMENT, NULL},
    {GW_EKEYTOOLARGE, GW_GRPC_INVALID_ARGUMENT, NULL},
    {GW_EVALUETOOLARGE, GW_GRPC_INVALID_ARGUMENT, "etcdserver: request is too large"},
    {GW_EDUPKEY, GW_GRPC_INVALID_ARGUMENT, NULL},
    {GW_ETOOMANYOPS, GW_GRPC_INVALID_ARGUMENT, NULL},
    {GW_ENOTFOUND, GW_GRPC_INVALID_ARGUMENT, "etcdserver: key not found"},
    {GW_EINVAL, GW_GRPC_INVALID_ARGUMENT, NULL},
    {GW_EPROTO, GW_GRPC_INTERNAL, "grpc: error unmarshalling request"},
    {GW_ECOMPACTED, GW_GRPC_OUT_OF_RANGE, "etcdserver: mvcc: required revision has been compacted"},
    {GW_EFUTUREREV, GW_GRPC_OUT_OF_RANGE,
     "etcdserver: mvcc: required revision is a future revision"},
    {GW_ELEASETTL, GW_GRPC_OUT_OF_RANGE, NULL},
    {GW_ENOSPACE, GW_GRPC_RESOURCE_EXHAUSTED, "etcdserver: mvcc: database space exceeded"},
    {GW_ELIMIT, GW_GRPC_RESOURCE_EXHAUSTED, "etcdserver: too many requests"},
    {GW_ENOMEM, GW_GRPC_RESOURCE_EXHAUSTED, "etcdserver: too many requests"},
    {GW_ELEASENOTFOUND, GW_GRPC_NOT_FOUND, NULL},
    {GW_EMEMBERNOTFOUND, GW_GRPC_NOT_FOUND, NULL},
    {GW_ELEASEEXIST, GW_GRPC_FAILED_PRECONDITION, NULL},
    {GW_ENOTLEADER, GW_GRPC_FAILED_PRECONDITION, NULL},
    {GW_EBADTRANSFEREE, GW_GRPC_FAILED_PRECONDITION, NULL},
    {GW_EPERM, GW_GRPC_PERMISSION_DENIED, "etcdserver: permission denied"},
    {GW_EOFFHOST, GW_GRPC_PERMISSION_DENIED, NULL},
    {GW_ESTANDALONE, GW_GRPC_PERMISSION_DENIED, NULL},
    {GW_EAUTHNOTENABLED, GW_GRPC_FAILED_PRECONDITION, NULL},
    {GW_EAUTHFAILED, GW_GRPC_INVALID_ARGUMENT, NULL},
    {GW_EUSEREMPTY, GW_GRPC_INVALID_ARGUMENT, NULL},
    {GW_EUSEREXIST, GW_GRPC_FAILED_PRECONDITION, NULL},
    {GW_EUSERNOTFOUND, GW_GRPC_FAILED_PRECONDITION, NULL},
    {GW_EROLEEMPTY, GW_GRPC_INVALID_ARGUMENT, NULL},
    {GW_EROLEEXIST, GW_GRPC_FAILED_PRECONDITION, NULL},
    {GW_EROLENOTFOUND, GW_GRPC_FAILED_PRECONDITION, NULL},
    {GW_EROOTUSERNOTEXIST, GW_GRPC_FAILED_PRECONDITION, NULL},
    {GW_EROOTROLENOTEXIST, GW_GRPC_FAILED_PRECONDITION, NULL},
    {GW_EROLENOTGRANTED, GW_GRPC_FAILED_PRECONDITION, NULL},
    {GW_EPERMNOTGRANTED, GW_GRPC_FAILED_PRECONDITION, NULL},
    {GW_EINVALIDTOKEN, GW_GRPC_UNAUTHENTICATED, NULL},
    {GW_EINVALIDAUTHMGMT, GW_GRPC_INVALID_ARGUMENT, NULL},
    {GW_ENOLEADER, GW_GRPC_UNAVAILABLE, NULL},
    {GW_ETIMEOUT, GW_GRPC_UNAVAILABLE, NULL},
    {GW_ELEADERCHANGED, GW_GRPC_UNAVAILABLE, NULL},
    {GW_EUNHEALTHY, GW_GRPC_UNAVAILABLE, NULL},
    {GW_ESHUTDOWN, GW_GRPC_UNAVAILABLE, "etcdserver: server stopped"},
    {GW_ECANCELED, GW_GRPC_CANCELED, "context canceled"},
};

int gw_etcd__http_of_code(int code)
{
	switch (code) {
	case GW_GRPC_OK:
		return 200;
	case GW_GRPC_CANCELED:
		return 408;
	case GW_GRPC_INVALID_ARGUMENT:
	case GW_GRPC_FAILED_PRECONDITION:
	case GW_GRPC_OUT_OF_RANGE:
		return 400;
	case GW_GRPC_DEADLINE_EXCEEDED:
		return 504;
	case GW_GRPC_NOT_FOUND:
		return 404;
	case GW_GRPC_ALREADY_EXISTS:
		return 409;
	case GW_GRPC_PERMISSION_DENIED:
		return 403;
	case GW_GRPC_UNAUTHENTICATED:
		return 401;
	case GW_GRPC_RESOURCE_EXHAUSTED:
		return 429;
	case GW_GRPC_UNIMPLEMENTED:
		return 501;
	case GW_GRPC_UNAVAILABLE:
		return 503;
	default:
		return 500;
	}
}

struct gw_etcd__status gw_etcd__status_of(int err)
{
	struct gw_etcd__status st = {GW_GRPC_OK, 200, ""};
	size_t i;

	if (err == 0) {
		return st;
	}
	st.code = GW_GRPC_UNKNOWN;
	st.msg = gw_strerror(err);
	for (i = 0; i < sizeof status_table / sizeof status_table[0]; i++) {
		if (status_table[i].err == err) {
			st.code = status_table[i].code;
			if (status_table[i].msg != NULL) {
				st.msg = status_table[i].msg;
			}
			break;
		}
	}
	st.http = gw_etcd__http_of_code(st.code);
	return st;
}
