/* fuzz_etcd_server.c: the etcd v3 API listener end to end (admin/etcd.c,
 * etcd_h2.c, etcd_svc.c, etcd_kv.c, etcd_lease.c, etcd_watch.c, lib/httpd.c):
 * a real gw_etcd server in standalone mode (writes applied to the store
 * directly, no raft) over a real LMDB store in a temporary directory, on a
 * loopback port of this process's loop.
 *
 * Input: one mode byte, then what a client sends on one connection. Mode
 * even: the HTTP/2 client preface is sent first, so the bytes are HTTP/2
 * frames (SETTINGS, HEADERS with HPACK, DATA with gRPC messages) through
 * nghttp2 into the protobuf decoders and the KV, lease and watch handlers;
 * mode odd: the bytes go as they are (HTTP/1.1: the JSON gateway, /version,
 * /health, and the sniffing of the first bytes). The client then half-closes
 * and reads until the server closes, the loop running in between.
 * Invariants: no crash, leak or stall: once the client is gone (it may
 * leave a watch streaming or a keep-alive connection open), the server lets
 * go of every HTTP/2 and sniffed connection and every call within TURNS
 * loop turns. The store is recreated every RESET inputs. */
#include "config.h"

#include "admin/etcd.h"
#include "admin/etcd_int.h"
#include "fuzz_util.h"
#include "lib/addr.h"
#include "lib/log.h"
#include "store/store.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define RESET 2000
#define TURNS 400 /* loop turns an input may take */

static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

static uv_loop_t loop;
static char dir[64];
static struct gw_store *store;
static struct gw_etcd *etcd;
static int port;
static unsigned runs;

static void stopped(void *data)
{
	*(bool *)data = true;
}

static void server_drop(void)
{
	bool done = false;
	if (etcd != NULL) {
		gw_etcd_stop(etcd, stopped, &done);
		for (int i = 0; i < 1000 && !done; i++) {
			uv_run(&loop, UV_RUN_NOWAIT);
		}
		uv_run(&loop, UV_RUN_NOWAIT);
		etcd = NULL;
	}
	if (store != NULL) {
		gw_store_close(store);
		store = NULL;
		fuzz_rm_tree(dir);
	}
}

static void server_fresh(void)
{
	struct gw_store_opts so = {0};
	struct gw_etcd_opts eo = {0};
	struct gw_addr addr;

	server_drop();
	snprintf(dir, sizeof dir, "/tmp/gw-fuzz-etcd-XXXXXX");
	FUZZ_CHECK(mkdtemp(dir) != NULL);
	so.dir = dir;
	so.no_sync = true;
	so.quota_bytes = 64u << 20;
	FUZZ_CHECK(gw_store_open(&so, &store) == 0);
	eo.store = store;
	eo.read_timeout_ms = 200;
	memset(&addr, 0, sizeof addr);
	((struct sockaddr_in *)&addr.ss)->sin_family = AF_INET;
	((struct sockaddr_in *)&addr.ss)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (port != 0) {
		((struct sockaddr_in *)&addr.ss)->sin_port = htons((uint16_t)port);
	}
	snprintf(addr.text, sizeof addr.text, "127.0.0.1:%d", port);
	FUZZ_CHECK(gw_etcd_start(&loop, &addr, &eo, &etcd) == 0);
	port = gw_etcd_port(etcd);
}

static void at_exit(void)
{
	server_drop();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	signal(SIGPIPE, SIG_IGN);
	gw_log_set_level(GW_LOG_NONE);
	FUZZ_CHECK(uv_loop_init(&loop) == 0);
	atexit(at_exit);
	return 0;
}

/* Send what the socket takes now; returns bytes sent (the rest is dropped
 * when the server stops reading: a client that sends too much is cut). */
static size_t send_some(int fd, const char *p, size_t n)
{
	ssize_t k = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
	return k > 0 ? (size_t)k : 0;
}

/* Read and discard what the server sent; true when it closed. */
static bool drain(int fd)
{
	char buf[65536];
	for (;;) {
		ssize_t k = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
		if (k > 0) {
			continue;
		}
		if (k == 0) {
			return true;
		}
		return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_in sa;
	const char *p;
	size_t n, off = 0;
	bool h2, closed = false;
	int fd, i;

	if (size < 1) {
		return 0;
	}
	if (etcd == NULL || ++runs % RESET == 0) {
		server_fresh();
	}
	h2 = (data[0] & 1) == 0;
	p = (const char *)data + 1;
	n = size - 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	FUZZ_CHECK(fd >= 0);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	FUZZ_CHECK(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 || errno == EINPROGRESS);
	uv_run(&loop, UV_RUN_NOWAIT);
	if (h2) {
		send_some(fd, preface, sizeof preface - 1);
	}
	for (i = 0; i < TURNS && !closed; i++) {
		if (off < n) {
			off += send_some(fd, p + off, n - off);
			if (off == n) {
				shutdown(fd, SHUT_WR);
			}
		} else if (n == 0 && i == 0) {
			shutdown(fd, SHUT_WR);
		}
		uv_run(&loop, UV_RUN_NOWAIT);
		closed = drain(fd);
		if (off == n && i > 8 && !closed) {
			break; /* answered, still open (a watch, keep-alive): the client goes */
		}
	}
	close(fd);
	/* the server must notice and let go of the connection */
	for (i = 0; i < TURNS &&
		    !(gw_list_empty(&etcd->conns) && etcd->n_sniff == 0 && etcd->n_calls == 0);
	     i++) {
		uv_run(&loop, UV_RUN_NOWAIT);
	}
	FUZZ_CHECK(gw_list_empty(&etcd->conns) && etcd->n_sniff == 0 && etcd->n_calls == 0);
	return 0;
}
