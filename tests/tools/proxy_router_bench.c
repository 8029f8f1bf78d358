/* proxy_router_bench.c: route match cost against the route count.
 *
 * Compiles N routes (a third exact paths, a third prefixes, a third exact
 * paths under their own host, in the mix APISIX setups tend to have) for N
 * in 1,000 / 10,000 / 100,000 and times one million matches of paths spread
 * over all of them (plus misses), then of the same 1,000 paths whatever N
 * (so cache effects of a bigger working set are told apart from the
 * algorithm). Prints ns per match and compile time; the
 * claim it checks: match cost does not grow with N. Not a test (no timing
 * assertion); run it by hand: tests/tools/proxy_router_bench. */
#include "config.h"

#include "lib/log.h"
#include "proxy/proxy_int.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void run(int n, int spread)
{
	struct gw_proxy_kv *kvs = calloc((size_t)n, sizeof *kvs);
	char **mem = calloc((size_t)n * 2, sizeof *mem);
	struct gw_proxy_config *cfg;
	struct sockaddr_in peer = {.sin_family = AF_INET};
	double t0, t1;
	int hits = 0, lookups = 1000000;
	char path[64], host[64];

	for (int i = 0; i < n; i++) {
		static const char up[] = "\"upstream\":{\"nodes\":{\"127.0.0.1:1\":1}}";
		int rv;
		if (asprintf(&mem[2 * i], "/apisix/routes/%d", i) < 0) {
			exit(1);
		}
		switch (i % 3) {
		case 0:
			rv = asprintf(&mem[2 * i + 1], "{\"uri\":\"/api/v1/item%d\",%s}", i, up);
			break;
		case 1:
			rv = asprintf(&mem[2 * i + 1], "{\"uri\":\"/svc/%d/*\",%s}", i, up);
			break;
		default:
			rv = asprintf(&mem[2 * i + 1],
				      "{\"uri\":\"/h/%d\",\"host\":\"h%d.example.com\",%s}", i, i,
				      up);
		}
		if (rv < 0) {
			exit(1);
		}
		kvs[i] = (struct gw_proxy_kv){mem[2 * i], strlen(mem[2 * i]), mem[2 * i + 1],
					      strlen(mem[2 * i + 1])};
	}
	t0 = now_s();
	if (gw_proxy_config_compile(kvs, (size_t)n, 1, &cfg) != 0) {
		exit(1);
	}
	t1 = now_s();
	printf("%7d routes: compile %7.1f ms", n, (t1 - t0) * 1000);
	printf("   %6d distinct paths", spread);

	inet_pton(AF_INET, "127.0.0.1", &peer.sin_addr);
	t0 = now_s();
	for (int k = 0; k < lookups; k++) {
		int i = (int)(((unsigned)k * 2654435761u) % (unsigned)(spread + spread / 10));
		i = i < spread ? i * (n / spread) : n + i;
		struct gw_proxy__match_ctx m = {.method = 1,
						.peer = (struct sockaddr *)&peer,
						.remote_addr = "127.0.0.1",
						.scheme = "http"};
		int kind = i % 3, pl, hl = 0;
		if (kind == 0) {
			pl = snprintf(path, sizeof path, "/api/v1/item%d", i);
		} else if (kind == 1) {
			pl = snprintf(path, sizeof path, "/svc/%d/deeper/path", i);
		} else {
			pl = snprintf(path, sizeof path, "/h/%d", i);
			hl = snprintf(host, sizeof host, "h%d.example.com", i);
		}
		m.path = path;
		m.path_len = (size_t)pl;
		m.query = "";
		m.host = host;
		m.host_len = (size_t)hl;
		hits += gw_proxy__router_match(cfg, &m) != NULL;
	}
	t1 = now_s();
	printf("   match %6.1f ns/lookup (%d%% hits)\n", (t1 - t0) * 1e9 / lookups,
	       hits * 100 / lookups);
	gw_proxy_config_unref(cfg);
	for (int i = 0; i < 2 * n; i++) {
		free(mem[i]);
	}
	free(mem);
	free(kvs);
}

int main(void)
{
	gw_log_set_level(GW_LOG_ERROR);
	/* paths over all routes: working set grows with N (cache misses) */
	run(1000, 1000);
	run(10000, 10000);
	run(100000, 100000);
	/* the same 1,000 paths whatever N: the algorithm alone */
	run(10000, 1000);
	run(100000, 1000);
	return 0;
}
