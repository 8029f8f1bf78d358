/* backup_client.c: `apigw backup --to FILE`, a minimal gRPC client of
 * Maintenance/Snapshot (h2c, nghttp2, blocking socket).
 *
 * Happy path: connect to the member's etcd API, send one empty
 * SnapshotRequest, write every blob of the stream to FILE.part, check the
 * trailers' grpc-status, fsync, check the whole file (SHA-256 and image
 * checksum, backup.c), rename it to FILE. Only the last step makes FILE
 * appear, so an interrupted backup never leaves a file that looks whole.
 * Failure modes: connection refused or lost, a gRPC error (its message is
 * printed, e.g. permission denied from a remote client while etcd auth is
 * on), a message over 4 MiB, a file that does not check: FILE.part is
 * removed, exit 1. Cleartext only: the etcd listener trusts loopback
 * clients; for TLS or a remote member use etcdctl snapshot save. A 60 s
 * receive timeout bounds a stalled member. Threads: main; blocking. */
#include "config.h"

#include "node/backup_int.h"
#include "admin/etcd.pb-c.h"
#include "lib/addr.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_MSG   (4u << 20)
#define RECV_TO_S 60
#define WINDOW    (8 << 20) /* HTTP/2 flow-control window, bytes */

struct client {
	int sock;
	int out;            /* FILE.part */
	unsigned char *msg; /* gRPC bytes not yet a whole message */
	size_t msg_len;
	uint64_t written;
	int grpc_status; /* -1 until the trailers */
	char grpc_msg[256];
	bool closed; /* the stream ended */
	bool failed; /* local error (printed) */
	size_t req_off;
};

static const unsigned char request[5] = {0, 0, 0, 0, 0}; /* empty SnapshotRequest */

static ssize_t send_cb(nghttp2_session *ng, const uint8_t *data, size_t len, int flags, void *u)
{
	struct client *c = u;
	size_t off = 0;
	(void)ng;
	(void)flags;
	while (off < len) {
		ssize_t n = send(c->sock, data + off, len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0) {
			return NGHTTP2_ERR_CALLBACK_FAILURE;
		}
		off += (size_t)n;
	}
	return (ssize_t)len;
}

static ssize_t read_req(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
			nghttp2_data_source *src, void *u)
{
	struct client *c = u;
	size_t n = sizeof request - c->req_off;
	(void)ng;
	(void)id;
	(void)src;
	if (n > len) {
		n = len;
	}
	memcpy(buf, request + c->req_off, n);
	c->req_off += n;
	if (c->req_off == sizeof request) {
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	}
	return (ssize_t)n;
}

/* Write out every whole gRPC message buffered. */
static int drain(struct client *c)
{
	size_t pos = 0;
	while (c->msg_len - pos >= 5) {
		const unsigned char *p = c->msg + pos;
		uint32_t n =
		    ((uint32_t)p[1] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 8) | p[4];
		Etcdserverpb__SnapshotResponse *r;
		if (p[0] != 0 || n > MAX_MSG) {
			fprintf(stderr, "apigw: backup: bad gRPC message from the member\n");
			return -1;
		}
		if (c->msg_len - pos - 5 < n) {
			break;
		}
		r = etcdserverpb__snapshot_response__unpack(NULL, n, p + 5);
		if (r == NULL) {
			fprintf(stderr, "apigw: backup: undecodable SnapshotResponse\n");
			return -1;
		}
		for (size_t off = 0; off < r->blob.len;) {
			ssize_t w = write(c->out, r->blob.data + off, r->blob.len - off);
			if (w < 0 && errno == EINTR) {
				continue;
			}
			if (w < 0) {
				fprintf(stderr, "apigw: backup: write: %s\n", strerror(errno));
				etcdserverpb__snapshot_response__free_unpacked(r, NULL);
				return -1;
			}
			off += (size_t)w;
		}
		c->written += r->blob.len;
		etcdserverpb__snapshot_response__free_unpacked(r, NULL);
		pos += 5 + n;
	}
	memmove(c->msg, c->msg + pos, c->msg_len - pos);
	c->msg_len -= pos;
	return 0;
}

static int data_cb(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
		   void *u)
{
	struct client *c = u;
	unsigned char *p;
	(void)ng;
	(void)flags;
	(void)id;
	if (c->msg_len + len > MAX_MSG + 5) {
		fprintf(stderr, "apigw: backup: message over 4 MiB from the member\n");
		c->failed = true;
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	}
	p = realloc(c->msg, c->msg_len + len);
	if (p == NULL) {
		c->failed = true;
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	}
	c->msg = p;
	memcpy(c->msg + c->msg_len, data, len);
	c->msg_len += len;
	if (drain(c) != 0) {
		c->failed = true;
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	}
	return 0;
}

static int header_cb(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
		     const uint8_t *value, size_t vlen, uint8_t flags, void *u)
{
	struct client *c = u;
	(void)ng;
	(void)f;
	(void)flags;
	if (nlen == 11 && memcmp(name, "grpc-status", 11) == 0) {
		c->grpc_status = 0;
		for (size_t i = 0; i < vlen && i < 4; i++) {
			c->grpc_status = c->grpc_status * 10 + (value[i] - '0');
		}
	} else if (nlen == 12 && memcmp(name, "grpc-message", 12) == 0) {
		snprintf(c->grpc_msg, sizeof c->grpc_msg, "%.*s", (int)vlen, (const char *)value);
	}
	return 0;
}

static int close_cb(nghttp2_session *ng, int32_t id, uint32_t code, void *u)
{
	struct client *c = u;
	(void)ng;
	(void)id;
	(void)code;
	c->closed = true;
	return 0;
}

static int dial(const char *endpoint)
{
	struct gw_addr a;
	const char *why = NULL;
	struct timeval tv = {RECV_TO_S, 0};
	int fd;

	if (gw_addr_parse(endpoint, &a, &why) != 0) {
		fprintf(stderr, "apigw: backup: invalid --endpoint '%s': %s\n", endpoint, why);
		return -1;
	}
	fd = socket(a.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "apigw: backup: socket: %s\n", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	if (connect(fd, (struct sockaddr *)&a.ss,
		    a.ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
					       : sizeof(struct sockaddr_in)) != 0) {
		fprintf(stderr, "apigw: backup: cannot connect to %s: %s\n", endpoint,
			strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Run the call; 0 when the stream ended with grpc-status 0. */
static int run(struct client *c, const char *endpoint)
{
	nghttp2_session_callbacks *cbs;
	nghttp2_session *ng;
	nghttp2_data_provider dp = {.source = {.ptr = NULL}, .read_callback = read_req};
	const nghttp2_nv hdrs[] = {
#define NV(n, v) {(uint8_t *)n, (uint8_t *)v, strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE}
	    NV(":method", "POST"),
	    NV(":scheme", "http"),
	    NV(":path", "/etcdserverpb.Maintenance/Snapshot"),
	    NV(":authority", endpoint),
	    NV("content-type", "application/grpc"),
	    NV("te", "trailers"),
#undef NV
	};
	const nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, WINDOW}};
	uint8_t buf[65536];
	int rv = -1;

	if (nghttp2_session_callbacks_new(&cbs) != 0) {
		return -1;
	}
	nghttp2_session_callbacks_set_send_callback(cbs, send_cb);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, data_cb);
	nghttp2_session_callbacks_set_on_header_callback(cbs, header_cb);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, close_cb);
	if (nghttp2_session_client_new(&ng, cbs, c) != 0) {
		nghttp2_session_callbacks_del(cbs);
		return -1;
	}
	nghttp2_session_callbacks_del(cbs);
	/* Large windows: the member streams at socket speed, not one 64 KiB
	 * window per round trip. */
	if (nghttp2_submit_settings(ng, NGHTTP2_FLAG_NONE, iv, 1) != 0 ||
	    nghttp2_session_set_local_window_size(ng, NGHTTP2_FLAG_NONE, 0, WINDOW) != 0 ||
	    nghttp2_submit_request(ng, NULL, hdrs, sizeof hdrs / sizeof hdrs[0], &dp, c) < 0) {
		goto out;
	}
	while (!c->closed && !c->failed) {
		ssize_t n;
		if (nghttp2_session_send(ng) != 0) {
			fprintf(stderr, "apigw: backup: connection to %s lost\n", endpoint);
			goto out;
		}
		n = recv(c->sock, buf, sizeof buf, 0);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			fprintf(stderr, "apigw: backup: connection to %s %s\n", endpoint,
				n == 0 ? "closed before the snapshot ended" : strerror(errno));
			goto out;
		}
		if (nghttp2_session_mem_recv(ng, buf, (size_t)n) < 0) {
			if (!c->failed) {
				fprintf(stderr, "apigw: backup: HTTP/2 error from %s\n", endpoint);
			}
			goto out;
		}
	}
	if (c->failed) {
		goto out;
	}
	if (c->grpc_status != 0) {
		fprintf(stderr, "apigw: backup: the member answered: %s (gRPC status %d)\n",
			c->grpc_msg[0] ? c->grpc_msg : "no status", c->grpc_status);
		goto out;
	}
	if (c->msg_len != 0) {
		fprintf(stderr, "apigw: backup: the stream ended inside a message\n");
		goto out;
	}
	rv = 0;
out:
	nghttp2_session_del(ng);
	return rv;
}

int gw_node__backup_fetch(const char *endpoint, const char *to)
{
	struct client c;
	struct gw_store_backup_info info;
	const void *image;
	char part[PATH_MAX];
	void *buf;
	size_t len;
	struct timespec t0, t1;
	int rv;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((size_t)snprintf(part, sizeof part, "%s.part", to) >= sizeof part) {
		fprintf(stderr, "apigw: backup: path too long\n");
		return 2;
	}
	memset(&c, 0, sizeof c);
	c.grpc_status = -1;
	c.sock = dial(endpoint);
	if (c.sock < 0) {
		return 1;
	}
	c.out = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (c.out < 0) {
		fprintf(stderr, "apigw: backup: cannot create %s: %s\n", part, strerror(errno));
		close(c.sock);
		return 1;
	}
	rv = run(&c, endpoint);
	close(c.sock);
	free(c.msg);
	if (rv == 0 && fsync(c.out) != 0) {
		fprintf(stderr, "apigw: backup: fsync %s: %s\n", part, strerror(errno));
		rv = -1;
	}
	if (close(c.out) != 0 && rv == 0) {
		rv = -1;
	}
	if (rv == 0 && gw_node__backup_load(part, &buf, &len, &info, &image) != 0) {
		rv = -1;
	}
	if (rv != 0) {
		unlink(part);
		return 1;
	}
	free(buf);
	if (rename(part, to) != 0) {
		fprintf(stderr, "apigw: backup: rename %s: %s\n", part, strerror(errno));
		unlink(part);
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("snapshot saved at %s (%zu bytes, revision %" PRId64 ", cluster %016" PRIx64
	       ") in %.3f s\n",
	       to, len, info.revision, info.cluster_id,
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	return 0;
}
