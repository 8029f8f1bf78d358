/* etcd_h2.c: gRPC over HTTP/2 cleartext (prior knowledge) with nghttp2.
 *
 * Happy path: etcd.c hands over a connection whose first bytes were the
 * HTTP/2 preface; a server session takes them and everything after. Each
 * request stream names its method in :path; request DATA is reassembled
 * into 5-byte-prefixed gRPC messages, decoded with protobuf-c and handed to
 * the call (etcd.c). Responses: HEADERS (:status 200, application/grpc),
 * DATA with the framed messages (through a deferred data provider, so the
 * peer's flow-control window paces a watch), then trailers with grpc-status
 * and grpc-message; an error before any message is a trailers-only answer.
 *
 * Limits and failure modes: SETTINGS_MAX_CONCURRENT_STREAMS bounds streams
 * (nghttp2 refuses more); a message over max_request_bytes gets etcd's
 * "request is too large" and one far beyond it is not buffered; undecodable
 * protobuf gets INTERNAL; an unknown :path gets UNIMPLEMENTED; malformed
 * HTTP/2 makes nghttp2 send GOAWAY and the connection closes; RST_STREAM or a
 * disconnect cancels the call (its raft work completes quietly). Output
 * waiting on a stream is bounded: past max_stream_buffer a send fails with
 * GW_ELIMIT (the watch service then cancels that watcher). Connections are
 * admitted under srv->h2_lim (a cap with a reserve for loopback and
 * members); one without any open stream for idle_timeout_ms gets GOAWAY and
 * is closed (a client with a watch or a call in flight is never idle).
 * Threads: the server's loop only. */
#include "config.h"

#include "admin/etcd_int.h"
#include "lib/err.h"
#include "lib/h2out.h"
#include "lib/log.h"

#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define READ_BUF      65536
#define MAX_INFLIGHT  (4u << 20)   /* bytes handed to the socket, not yet written */
#define GRPC_OVERHEAD (512u << 10) /* like etcd: hard cap = max request + this */
#define CONN_MAX_IN   (16u << 20)  /* partial request bytes buffered per connection */
#define CONN_MAX_OUT  (64u << 20)  /* response bytes queued per connection */

struct h2s;

struct gw_etcd__conn {
	struct gw_etcd *srv;
	uv_tcp_t *tcp;          /* owned; freed with the conn in its close callback */
	nghttp2_session *ng;    /* owned */
	struct gw_list streams; /* open streams (struct h2s, link) */
	struct gw_list link;    /* in srv->conns */
	size_t inflight;        /* bytes in uv_write requests */
	unsigned watchers;      /* watchers of all streams */
	int depth;              /* > 0 inside nghttp2_session_mem_recv */
	bool dirty;             /* output waits for the idle flush */
	bool closing;
	uv_timer_t idle;           /* closes a connection without streams */
	uint64_t idle_since;       /* uv_now() when the last stream ended */
	int handles;               /* tcp + idle timer not yet closed: freed at 0 */
	struct gw_etcd__peer peer; /* who the client is (access control) */
	char rbuf[READ_BUF];
};

struct h2s {
	struct gw_etcd__conn *conn;
	int32_t id;
	struct gw_list link;        /* in conn->streams */
	struct gw_etcd__call *call; /* NULL before dispatch and after finish */
	char path[128];
	bool path_too_long;
	bool is_post;
	bool is_grpc;
	unsigned timeout_ms;
	bool require_leader; /* metadata hasleader: true (etcdctl watch) */
	char *token;         /* metadata "token" (etcd auth), malloc'ed, or NULL */
	size_t token_len;
	struct gw_buf in; /* request bytes not yet a whole message */
	bool drop_in;     /* input refused: discard the rest */
	bool got_msg;     /* unary: its message arrived */
	bool remote_closed;
	struct gw_buf out; /* framed response messages */
	size_t out_off;    /* bytes of out already given to nghttp2 */
	bool started;      /* response HEADERS submitted */
	bool deferred;     /* data provider is waiting for output */
	bool fin_pending;  /* trailers go out once out drains */
	int code;
	char msg[256];
};

struct wreq {
	uv_write_t w;
	struct gw_etcd__conn *conn;
	size_t len;
	char data[];
};

static void conn_flush(struct gw_etcd__conn *c);
static void conn_close(struct gw_etcd__conn *c);

/* Output queued outside a read callback (raft answers, watch events) is
 * written from the server's idle handle, once per loop iteration: a send
 * never closes the connection under its caller's feet (a watch callback
 * inside the store), and a burst of events leaves in one write. */
static void conn_schedule(struct gw_etcd__conn *c)
{
	if (c->depth > 0 || c->closing || c->srv->stopping) {
		return; /* conn_feed flushes after nghttp2 returns */
	}
	c->dirty = true;
	if (!uv_is_active((uv_handle_t *)c->srv->flush_idle)) {
		uv_idle_start(c->srv->flush_idle, gw_etcd__h2_flush_all);
	}
}

/* Bytes buffered by all streams of @c: partial requests (@in) or queued
 * responses. At most max_streams streams, so a walk is cheap enough. */
static size_t conn_buffered(const struct gw_etcd__conn *c, bool in)
{
	const struct gw_list *it;
	size_t n = 0;
	gw_list_foreach(it, &c->streams)
	{
		const struct h2s *s = gw_container_of(it, const struct h2s, link);
		n += in ? s->in.len : s->out.len - s->out_off;
	}
	return n;
}

/* grpc-message is percent-encoded outside printable ASCII (and '%'). */
static void pct_encode(const char *in, char *out, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	for (; *in != '\0' && o + 4 < len; in++) {
		unsigned char ch = (unsigned char)*in;
		if (ch < 0x20 || ch > 0x7e || ch == '%') {
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		} else {
			out[o++] = (char)ch;
		}
	}
	out[o] = '\0';
}

#define NV(n, v, vl)                                                                               \
	{                                                                                          \
		(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, (vl), NGHTTP2_NV_FLAG_NONE          \
	}

static size_t trailer_nv(struct h2s *s, nghttp2_nv *nv, char *code, size_t codelen)
{
	size_t n = 0;
	snprintf(code, codelen, "%d", s->code);
	nv[n++] = (nghttp2_nv)NV("grpc-status", code, strlen(code));
	if (s->code != 0 && s->msg[0] != '\0') {
		nv[n++] = (nghttp2_nv)NV("grpc-message", s->msg, strlen(s->msg));
	}
	return n;
}

static ssize_t data_read(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t length,
			 uint32_t *flags, nghttp2_data_source *src, void *ud)
{
	struct h2s *s = src->ptr;
	size_t avail = s->out.len - s->out_off;
	size_t n = avail < length ? avail : length;

	(void)ud;
	if (n > 0) {
		memcpy(buf, s->out.data + s->out_off, n);
		s->out_off += n;
		if (s->out_off == s->out.len) {
			s->out.len = 0;
			s->out_off = 0;
		} else if (s->out_off > (1u << 20)) {
			gw_buf_consume(&s->out, s->out_off);
			s->out_off = 0;
		}
	}
	if (s->out.len == s->out_off && s->fin_pending) {
		nghttp2_nv nv[2];
		char code[16];
		size_t nn = trailer_nv(s, nv, code, sizeof code);
		*flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
		s->fin_pending = false;
		if (nghttp2_submit_trailer(ng, id, nv, nn) != 0) {
			return NGHTTP2_ERR_CALLBACK_FAILURE;
		}
		return (ssize_t)n;
	}
	if (n == 0) {
		s->deferred = true;
		return NGHTTP2_ERR_DEFERRED;
	}
	return (ssize_t)n;
}

static int start_response(struct h2s *s)
{
	nghttp2_nv nv[] = {
	    NV(":status", "200", 3),
	    NV("content-type", "application/grpc", 16),
	};
	nghttp2_data_provider dp;
	dp.source.ptr = s;
	dp.read_callback = data_read;
	if (nghttp2_submit_response(s->conn->ng, s->id, nv, 2, &dp) != 0) {
		return GW_ENOMEM;
	}
	s->started = true;
	return 0;
}

/* Answer with headers and trailers in one block (no message). */
static void trailers_only(struct h2s *s, int code, const char *msg)
{
	char codebuf[16];
	nghttp2_nv nv[4] = {
	    NV(":status", "200", 3),
	    NV("content-type", "application/grpc", 16),
	};
	size_t n = 2;
	s->code = code;
	pct_encode(msg != NULL ? msg : "", s->msg, sizeof s->msg);
	n += trailer_nv(s, nv + 2, codebuf, sizeof codebuf);
	nghttp2_submit_response(s->conn->ng, s->id, nv, n, NULL);
	s->started = true;
	s->drop_in = true;
}

static int h2_send(struct gw_etcd__call *call, const ProtobufCMessage *m)
{
	struct h2s *s = call->tp;
	int rv;

	if (s == NULL || s->fin_pending) {
		return GW_ECANCELED;
	}
	if (!s->started) {
		rv = start_response(s);
		if (rv != 0) {
			return rv;
		}
	}
	rv = gw_etcd__grpc_frame(&s->out, m);
	if (rv != 0) {
		return rv;
	}
	if (s->deferred) {
		s->deferred = false;
		nghttp2_session_resume_data(s->conn->ng, s->id);
	}
	if (call->m->streaming) {
		conn_schedule(s->conn); /* a unary answer goes out with its trailers */
	}
	if (s->out.len - s->out_off > call->srv->opts.max_stream_buffer ||
	    conn_buffered(s->conn, false) > CONN_MAX_OUT) {
		return GW_ELIMIT;
	}
	return 0;
}

static void h2_finish(struct gw_etcd__call *call, const struct gw_etcd__status *st)
{
	struct h2s *s = call->tp;

	call->tp = NULL;
	if (s == NULL) {
		return;
	}
	s->call = NULL;
	if (!s->started) {
		trailers_only(s, st->code, st->msg);
	} else {
		s->code = st->code;
		pct_encode(st->msg, s->msg, sizeof s->msg);
		s->fin_pending = true;
		s->drop_in = true;
		if (s->deferred) {
			s->deferred = false;
			nghttp2_session_resume_data(s->conn->ng, s->id);
		}
	}
	conn_schedule(s->conn);
}

static size_t h2_queued(const struct gw_etcd__call *call)
{
	const struct h2s *s = call->tp;
	return s == NULL ? 0 : s->out.len - s->out_off;
}

static const struct gw_etcd__tp_ops h2_ops = {h2_send, h2_finish, h2_queued};

/* ---- request side ---- */

static unsigned parse_timeout(const char *v, size_t len)
{
	unsigned long long n = 0;
	size_t i;
	double ms;
	if (len < 2 || len > 9) {
		return 0;
	}
	for (i = 0; i + 1 < len; i++) {
		if (v[i] < '0' || v[i] > '9') {
			return 0;
		}
		n = n * 10 + (unsigned)(v[i] - '0');
	}
	switch (v[len - 1]) {
	case 'H':
		ms = (double)n * 3600000.0;
		break;
	case 'M':
		ms = (double)n * 60000.0;
		break;
	case 'S':
		ms = (double)n * 1000.0;
		break;
	case 'm':
		ms = (double)n;
		break;
	case 'u':
		ms = (double)n / 1000.0;
		break;
	case 'n':
		ms = (double)n / 1000000.0;
		break;
	default:
		return 0;
	}
	if (ms < 1.0) {
		return 1;
	}
	if (ms > 86400000.0) {
		return 86400000u;
	}
	return (unsigned)ms;
}

static int on_begin_headers(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
	struct gw_etcd__conn *c = ud;
	struct h2s *s;

	if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
		return 0;
	}
	s = calloc(1, sizeof *s);
	if (s == NULL) {
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	}
	s->conn = c;
	s->id = frame->hd.stream_id;
	gw_buf_init(&s->in);
	gw_buf_init(&s->out);
	gw_list_add_head(&c->streams, &s->link);
	nghttp2_session_set_stream_user_data(ng, s->id, s);
	return 0;
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name,
		     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
	struct h2s *s;

	(void)flags;
	(void)ud;
	if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
		return 0;
	}
	s = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
	if (s == NULL) {
		return 0;
	}
	if (namelen == 5 && memcmp(name, ":path", 5) == 0) {
		if (valuelen >= sizeof s->path) {
			s->path_too_long = true;
		} else {
			memcpy(s->path, value, valuelen);
			s->path[valuelen] = '\0';
		}
	} else if (namelen == 7 && memcmp(name, ":method", 7) == 0) {
		s->is_post = valuelen == 4 && memcmp(value, "POST", 4) == 0;
	} else if (namelen == 12 && memcmp(name, "content-type", 12) == 0) {
		s->is_grpc = valuelen >= 16 && memcmp(value, "application/grpc", 16) == 0;
	} else if (namelen == 12 && memcmp(name, "grpc-timeout", 12) == 0) {
		s->timeout_ms = parse_timeout((const char *)value, valuelen);
	} else if (namelen == 9 && memcmp(name, "hasleader", 9) == 0) {
		s->require_leader = valuelen == 4 && memcmp(value, "true", 4) == 0;
	} else if (namelen == 5 && memcmp(name, "token", 5) == 0 && s->token == NULL) {
		/* bounded by the header list limit (16 KiB) */
		s->token = malloc(valuelen + 1);
		if (s->token != NULL) {
			memcpy(s->token, value, valuelen);
			s->token[valuelen] = '\0';
			s->token_len = valuelen;
		}
	}
	return 0;
}

static void unknown_method(struct h2s *s)
{
	static const char *const services[] = {"etcdserverpb.KV",          "etcdserverpb.Watch",
					       "etcdserverpb.Lease",       "etcdserverpb.Cluster",
					       "etcdserverpb.Maintenance", "etcdserverpb.Auth"};
	char msg[200];
	const char *slash;
	size_t i;

	if (s->path_too_long || s->path[0] != '/' || (slash = strchr(s->path + 1, '/')) == NULL) {
		trailers_only(s, GW_GRPC_UNIMPLEMENTED, "malformed method name");
		return;
	}
	for (i = 0; i < sizeof services / sizeof services[0]; i++) {
		size_t n = strlen(services[i]);
		if ((size_t)(slash - s->path - 1) == n &&
		    memcmp(s->path + 1, services[i], n) == 0) {
			snprintf(msg, sizeof msg, "unknown method %s for service %s", slash + 1,
				 services[i]);
			trailers_only(s, GW_GRPC_UNIMPLEMENTED, msg);
			return;
		}
	}
	snprintf(msg, sizeof msg, "unknown service %.*s", (int)(slash - s->path - 1), s->path + 1);
	trailers_only(s, GW_GRPC_UNIMPLEMENTED, msg);
}

static void dispatch(struct h2s *s)
{
	struct gw_etcd__conn *c = s->conn;
	const struct gw_etcd__method *m;

	if (!s->is_post || !s->is_grpc) {
		nghttp2_nv nv[] = {NV(":status", "415", 3)};
		nghttp2_submit_response(c->ng, s->id, nv, 1, NULL);
		s->started = true;
		s->drop_in = true;
		return;
	}
	m = s->path_too_long ? NULL : gw_etcd__method_grpc(s->path);
	if (m == NULL) {
		unknown_method(s);
		return;
	}
	s->call = gw_etcd__call_new(c->srv, m, &h2_ops, s);
	if (s->call == NULL) {
		trailers_only(s, GW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	s->call->timeout_ms = s->timeout_ms;
	s->call->require_leader = s->require_leader;
	gw_etcd__call_peer(s->call, &c->peer, s->token, s->token_len);
	s->call->conn_watchers = &c->watchers;
}

static void fail_call(struct h2s *s, int code, const char *msg)
{
	struct gw_etcd__call *call = s->call;

	s->drop_in = true;
	gw_buf_close(&s->in);
	if (call == NULL) {
		return;
	}
	if (!call->m->streaming && call->delivered) {
		/* A unary call its service already works on (raft may hold it):
		 * detach it, it ends quietly; the stream ends with a reset. */
		s->call = NULL;
		call->tp = NULL;
		gw_etcd__call_gone(call);
		nghttp2_submit_rst_stream(s->conn->ng, NGHTTP2_FLAG_NONE, s->id,
					  NGHTTP2_PROTOCOL_ERROR);
		return;
	}
	gw_etcd__call_fail(call, code, msg);
}

/* Decode and deliver every whole message in s->in. */
static void deliver(struct h2s *s)
{
	size_t off = 0;
	size_t max = s->conn->srv->opts.max_request_bytes;

	while (s->call != NULL && !s->drop_in) {
		struct gw_etcd__call *call = s->call;
		const char *msg;
		size_t len;
		size_t used;
		ProtobufCMessage *req;
		struct gw_etcd__arena tmp;
		int rv = gw_etcd__grpc_unframe(s->in.data + off, s->in.len - off,
					       max + GRPC_OVERHEAD, &msg, &len, &used);
		if (rv == GW_EAGAIN) {
			break;
		}
		if (rv == GW_ELIMIT) {
			fail_call(s, GW_GRPC_RESOURCE_EXHAUSTED,
				  "grpc: received message larger than max");
			return;
		}
		if (rv != 0) {
			fail_call(s, GW_GRPC_UNIMPLEMENTED,
				  "grpc: compressed messages are not "
				  "supported (no grpc-encoding offered)");
			return;
		}
		off += used;
		if (len > max) {
			struct gw_etcd__status st = gw_etcd__status_of(GW_EVALUETOOLARGE);
			fail_call(s, st.code, st.msg);
			return;
		}
		if (!call->m->streaming) {
			if (s->got_msg) {
				fail_call(s, GW_GRPC_INTERNAL,
					  "grpc: unary request carried more than one message");
				return;
			}
			s->got_msg = true;
			rv = gw_etcd__pb_decode(call->m->in, msg, len, &call->arena, &req);
			if (rv != 0) {
				struct gw_etcd__status st = gw_etcd__status_of(rv);
				fail_call(s, st.code, st.msg);
				return;
			}
			gw_etcd__call_msg(call, req);
			continue;
		}
		gw_etcd__arena_init(&tmp);
		rv = gw_etcd__pb_decode(call->m->in, msg, len, &tmp, &req);
		if (rv != 0) {
			struct gw_etcd__status st = gw_etcd__status_of(rv);
			gw_etcd__arena_free(&tmp);
			fail_call(s, st.code, st.msg);
			return;
		}
		gw_etcd__call_msg(call, req);
		gw_etcd__arena_free(&tmp);
	}
	if (s->drop_in) {
		gw_buf_close(&s->in);
	} else if (off > 0) {
		gw_buf_consume(&s->in, off);
	}
}

static void end_of_input(struct h2s *s)
{
	s->remote_closed = true;
	if (s->call == NULL) {
		return;
	}
	if (s->call->m->streaming) {
		gw_etcd__call_half_close(s->call);
	} else if (!s->got_msg) {
		fail_call(s, GW_GRPC_INTERNAL, "grpc: request stream ended without a message");
	}
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
	struct h2s *s;

	(void)ud;
	if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) {
		return 0;
	}
	s = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
	if (s == NULL) {
		return 0;
	}
	if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
		dispatch(s);
	}
	if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) {
		end_of_input(s);
	}
	return 0;
}

static int on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data,
			 size_t len, void *ud)
{
	struct h2s *s = nghttp2_session_get_stream_user_data(ng, id);
	size_t cap;

	(void)flags;
	(void)ud;
	if (s == NULL || s->call == NULL || s->drop_in) {
		return 0;
	}
	cap = s->conn->srv->opts.max_request_bytes + GRPC_OVERHEAD + GW_ETCD__GRPC_PREFIX;
	if (s->in.len + len > cap && s->in.len + len > GW_ETCD__GRPC_PREFIX) {
		/* Only the frame header tells: check it before refusing. */
		if (gw_buf_append(&s->in, data, len < 8 ? len : 8) == 0) {
			deliver(s);
		}
		if (s->call != NULL && !s->drop_in) {
			fail_call(s, GW_GRPC_RESOURCE_EXHAUSTED,
				  "grpc: received message larger than max");
		}
		return 0;
	}
	if (s->in.len + len > GW_ETCD__GRPC_PREFIX &&
	    conn_buffered(s->conn, true) + len > CONN_MAX_IN) {
		/* Many streams each holding a partial message: refuse this
		 * one rather than grow without bound. */
		fail_call(s, GW_GRPC_RESOURCE_EXHAUSTED, "etcdserver: too many requests");
		return 0;
	}
	if (gw_buf_append(&s->in, data, len) != 0) {
		fail_call(s, GW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
		return 0;
	}
	deliver(s);
	return 0;
}

static void stream_free(struct h2s *s)
{
	gw_list_del(&s->link);
	if (gw_list_empty(&s->conn->streams)) {
		s->conn->idle_since = uv_now(s->conn->srv->loop);
	}
	gw_buf_close(&s->in);
	gw_buf_close(&s->out);
	free(s->token);
	free(s);
}

/* The stream is gone: closed normally, reset by either side. */
static void stream_gone(struct gw_etcd__conn *c, struct h2s *s)
{
	struct gw_etcd__call *call = s->call;
	if (call != NULL) {
		s->call = NULL;
		call->tp = NULL;
		gw_etcd__call_gone(call);
	}
	stream_free(s);
}

static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t error_code, void *ud)
{
	struct h2s *s = nghttp2_session_get_stream_user_data(ng, id);
	(void)error_code;
	if (s != NULL) {
		nghttp2_session_set_stream_user_data(ng, id, NULL);
		stream_gone(ud, s);
	}
	return 0;
}

/* ---- connection ---- */

/* Close callback of the tcp handle (heap) and of the idle timer (in @c):
 * the connection is freed after both. */
static void conn_closed(uv_handle_t *h)
{
	struct gw_etcd__conn *c = h->data;
	struct gw_etcd *srv = c->srv;
	if (h == (uv_handle_t *)c->tcp) {
		free(h);
	}
	if (--c->handles > 0) {
		return;
	}
	gw_list_del(&c->link);
	gw_connlimit_release(&srv->h2_lim);
	nghttp2_session_del(c->ng);
	free(c);
	gw_etcd__maybe_free(srv);
}

/* Idle timer: a connection without streams for idle_timeout_ms is told
 * GOAWAY and closed once that is written (conn_flush). */
static void idle_check(uv_timer_t *t)
{
	struct gw_etcd__conn *c = t->data;
	uint64_t now = uv_now(c->srv->loop);
	uint64_t limit = c->srv->opts.idle_timeout_ms;

	if (!gw_list_empty(&c->streams) || now - c->idle_since < limit) {
		uint64_t left = gw_list_empty(&c->streams) ? limit - (now - c->idle_since) : limit;
		uv_timer_start(t, idle_check, left, 0);
		return;
	}
	gw_debugf("etcd", "closing an HTTP/2 connection idle for %llu ms",
		  (unsigned long long)(now - c->idle_since));
	if (nghttp2_session_terminate_session(c->ng, NGHTTP2_NO_ERROR) != 0) {
		conn_close(c);
		return;
	}
	conn_flush(c);
}

static void conn_close(struct gw_etcd__conn *c)
{
	if (c->closing) {
		return;
	}
	c->closing = true;
	while (!gw_list_empty(&c->streams)) {
		struct h2s *s = gw_container_of(c->streams.next, struct h2s, link);
		nghttp2_session_set_stream_user_data(c->ng, s->id, NULL);
		stream_gone(c, s);
	}
	uv_read_stop((uv_stream_t *)c->tcp);
	uv_close((uv_handle_t *)&c->idle, conn_closed);
	uv_close((uv_handle_t *)c->tcp, conn_closed);
}

static void write_done(uv_write_t *w, int status)
{
	struct wreq *r = (struct wreq *)w;
	struct gw_etcd__conn *c = r->conn;
	c->inflight -= r->len;
	free(r);
	if (status < 0) {
		conn_close(c);
		return;
	}
	conn_flush(c);
}

static void conn_flush(struct gw_etcd__conn *c)
{
	struct gw_buf out;
	struct wreq *r;
	uv_buf_t b;

	if (c->depth > 0 || c->closing) {
		return;
	}
	gw_buf_init(&out);
	if (gw_h2out_take(c->ng, &out, c->inflight < MAX_INFLIGHT ? MAX_INFLIGHT - c->inflight : 0,
			  "etcd") != 0) {
		gw_buf_close(&out);
		conn_close(c);
		return;
	}
	if (out.len > 0) {
		r = malloc(sizeof *r + out.len);
		if (r == NULL) {
			gw_buf_close(&out);
			conn_close(c);
			return;
		}
		r->conn = c;
		r->len = out.len;
		memcpy(r->data, out.data, out.len);
		b = uv_buf_init(r->data, (unsigned)out.len);
		c->inflight += out.len;
		if (uv_write(&r->w, (uv_stream_t *)c->tcp, &b, 1, write_done) != 0) {
			c->inflight -= out.len;
			free(r);
			gw_buf_close(&out);
			conn_close(c);
			return;
		}
	}
	gw_buf_close(&out);
	if (!nghttp2_session_want_read(c->ng) && !nghttp2_session_want_write(c->ng) &&
	    c->inflight == 0) {
		conn_close(c);
	}
}

static void conn_feed(struct gw_etcd__conn *c, const char *p, size_t n)
{
	ssize_t rv;
	c->depth++;
	rv = nghttp2_session_mem_recv(c->ng, (const uint8_t *)p, n);
	c->depth--;
	if (rv < 0) {
		gw_debugf("etcd", "http/2 receive: %s", nghttp2_strerror((int)rv));
		conn_close(c);
		return;
	}
	conn_flush(c);
}

static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct gw_etcd__conn *c = h->data;
	(void)suggested;
	buf->base = c->rbuf;
	buf->len = sizeof c->rbuf;
}

static void conn_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct gw_etcd__conn *c = st->data;
	if (nread < 0) {
		conn_close(c);
		return;
	}
	if (nread > 0) {
		conn_feed(c, buf->base, (size_t)nread);
	}
}

void gw_etcd__h2_adopt(struct gw_etcd *srv, uv_tcp_t *tcp, const char *initial, size_t n,
		       const struct gw_etcd__peer *tls)
{
	struct gw_etcd__conn *c;
	nghttp2_session_callbacks *cbs = NULL;
	nghttp2_option *opt = NULL;
	nghttp2_settings_entry iv[3];
	int rv;

	if (!gw_etcd__admit(srv, &srv->h2_lim, tcp)) {
		uv_close((uv_handle_t *)tcp, (uv_close_cb)free);
		return;
	}
	c = calloc(1, sizeof *c);
	if (c == NULL) {
		goto err_close_tcp;
	}
	if (nghttp2_session_callbacks_new(&cbs) != 0) {
		goto err_after_alloc;
	}
	if (nghttp2_option_new(&opt) != 0) {
		goto err_after_cbs;
	}
	nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
	nghttp2_option_set_max_deflate_dynamic_table_size(opt, 4096);
	/* grpc-go puts the dialled target in :authority verbatim; with the
	 * client URLs of MemberList ("http://host:port", as etcdctl --cluster
	 * uses them) that is not a valid authority, which nghttp2's HTTP
	 * checks would reset. Like etcd's server, accept it: dispatch() only
	 * needs :method, :path and content-type. */
	nghttp2_option_set_no_http_messaging(opt, 1);
	rv = nghttp2_session_server_new2(&c->ng, cbs, c, opt);
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cbs);
	if (rv != 0) {
		goto err_after_alloc;
	}
	iv[0].settings_id = NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS;
	iv[0].value = srv->opts.max_streams;
	iv[1].settings_id = NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE;
	iv[1].value = 1u << 20;
	iv[2].settings_id = NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE;
	iv[2].value = 16384;
	if (nghttp2_submit_settings(c->ng, NGHTTP2_FLAG_NONE, iv, 3) != 0) {
		goto err_after_session;
	}
	nghttp2_session_set_local_window_size(c->ng, NGHTTP2_FLAG_NONE, 0, 8 << 20);

	c->srv = srv;
	c->tcp = tcp;
	tcp->data = c;
	if (tls != NULL) {
		c->peer = *tls;
	} else {
		int len = sizeof c->peer.addr;
		if (uv_tcp_getpeername(tcp, (struct sockaddr *)&c->peer.addr, &len) != 0) {
			c->peer.addr.ss_family = AF_UNSPEC;
		}
	}
	gw_list_init(&c->streams);
	gw_list_add_head(&srv->conns, &c->link);
	c->handles = 2;
	uv_timer_init(srv->loop, &c->idle);
	c->idle.data = c;
	c->idle_since = uv_now(srv->loop);
	uv_timer_start(&c->idle, idle_check, srv->opts.idle_timeout_ms, 0);
	if (uv_read_start((uv_stream_t *)tcp, conn_alloc, conn_read) != 0) {
		conn_close(c);
		return;
	}
	conn_feed(c, initial, n);
	return;

err_after_session:
	nghttp2_session_del(c->ng);
	goto err_after_alloc;
err_after_cbs:
	nghttp2_session_callbacks_del(cbs);
err_after_alloc:
	free(c);
err_close_tcp:
	gw_connlimit_release(&srv->h2_lim);
	uv_close((uv_handle_t *)tcp, (uv_close_cb)free);
}

void gw_etcd__h2_flush_all(uv_idle_t *idle)
{
	struct gw_etcd *srv = idle->data;
	struct gw_list *it, *tmp;

	uv_idle_stop(idle);
	/* A closing conn stays listed until its close callback. */
	gw_list_foreach_safe(it, tmp, &srv->conns)
	{
		struct gw_etcd__conn *c = gw_container_of(it, struct gw_etcd__conn, link);
		if (c->dirty) {
			c->dirty = false;
			conn_flush(c);
		}
	}
}

void gw_etcd__h2_close_all(struct gw_etcd *srv)
{
	struct gw_list *it;
	gw_list_foreach(it, &srv->conns)
	{
		conn_close(gw_container_of(it, struct gw_etcd__conn, link));
	}
}
