/* proxy_driver.c: run gw_proxy alone, for benchmarks and integration tests.
 *
 * Happy path: compile a config (every path to --upstream, plus --routes N
 * filler routes, or the pairs of a --config JSON file: an object whose keys
 * are /apisix/ keys and whose values are the objects), start the proxy,
 * print "ready port=<port>" once gw_proxy_ready, then wait for signals:
 * SIGHUP re-reads --config and publishes it, SIGTERM/SIGINT stop cleanly.
 * Failure modes: bad arguments or an unreadable file exit 2; a listen
 * failure exits 1. Not part of apigw: node/ wires the proxy for real. */
#include "config.h"

#include "lib/addr.h"
#include "lib/err.h"
#include "lib/log.h"
#include "proxy/proxy.h"

#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;
	if (f == NULL) {
		return NULL;
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	if (buf != NULL) {
		buf[n] = '\0';
	}
	fclose(f);
	return buf;
}

/* Compile from @file, or from @upstream + @filler routes. */
static struct gw_proxy_config *build(const char *file, const char *upstream, int filler,
				     int64_t rev)
{
	struct gw_proxy_config *cfg = NULL;
	struct gw_proxy_kv *kvs;
	char **mem;
	size_t n = 0, cap;
	cJSON *root = NULL, *it;

	if (file != NULL) {
		char *text = read_file(file);
		root = text ? cJSON_Parse(text) : NULL;
		free(text);
		if (!cJSON_IsObject(root)) {
			fprintf(stderr, "proxy_driver: %s: not a JSON object\n", file);
			cJSON_Delete(root);
			return NULL;
		}
	}
	cap = (size_t)filler + 2 + (root ? (size_t)cJSON_GetArraySize(root) : 0);
	kvs = calloc(cap, sizeof *kvs);
	mem = calloc(cap * 2, sizeof *mem);
	for (int i = 0; i < filler; i++) {
		if (asprintf(&mem[2 * n], "/apisix/routes/f%d", i) < 0 ||
		    asprintf(&mem[2 * n + 1],
			     "{\"uri\":\"/filler/%d/*\",\"host\":\"h%d.example\",\"upstream\":{"
			     "\"nodes\":{\"127.0.0.1:9\":1}}}",
			     i, i) < 0) {
			exit(2);
		}
		n++;
	}
	if (upstream != NULL) {
		if (asprintf(&mem[2 * n], "/apisix/routes/all") < 0 ||
		    asprintf(&mem[2 * n + 1],
			     "{\"uri\":\"/*\",\"upstream\":{\"nodes\":{\"%s\":1}}}",
			     upstream) < 0) {
			exit(2);
		}
		n++;
	}
	if (root != NULL) {
		cJSON_ArrayForEach(it, root)
		{
			mem[2 * n] = strdup(it->string);
			mem[2 * n + 1] = cJSON_PrintUnformatted(it);
			n++;
		}
	}
	for (size_t i = 0; i < n; i++) {
		kvs[i] = (struct gw_proxy_kv){mem[2 * i], strlen(mem[2 * i]), mem[2 * i + 1],
					      strlen(mem[2 * i + 1])};
	}
	if (gw_proxy_config_compile(kvs, n, rev, &cfg) != 0) {
		cfg = NULL;
	}
	for (size_t i = 0; i < 2 * n; i++) {
		free(mem[i]);
	}
	free(mem);
	free(kvs);
	cJSON_Delete(root);
	return cfg;
}

static void usage(void)
{
	fprintf(stderr, "usage: proxy_driver [--listen ADDR]... [--workers N] "
			"[--upstream IP:PORT] [--routes N] [--config FILE] [--log LEVEL]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct gw_addr listen[8];
	int n_listen = 0, workers = 1, filler = 0, sig = 0, rv;
	const char *upstream = NULL, *file = NULL, *why;
	struct gw_proxy_opts o = {0};
	struct gw_proxy *p;
	sigset_t set;
	int64_t rev = 1;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (v == NULL) {
			usage();
		}
		if (strcmp(a, "--listen") == 0 && n_listen < 8) {
			if (gw_addr_parse(v, &listen[n_listen++], &why) != 0) {
				fprintf(stderr, "proxy_driver: %s: %s\n", v, why);
				return 2;
			}
		} else if (strcmp(a, "--workers") == 0) {
			workers = atoi(v);
		} else if (strcmp(a, "--upstream") == 0) {
			upstream = v;
		} else if (strcmp(a, "--routes") == 0) {
			filler = atoi(v);
		} else if (strcmp(a, "--config") == 0) {
			file = v;
		} else if (strcmp(a, "--log") == 0) {
			enum gw_log_level l;
			if (gw_log_parse_level(v, &l) != 0) {
				usage();
			}
			gw_log_set_level(l);
		} else {
			usage();
		}
		i++;
	}
	if (n_listen == 0) {
		gw_addr_parse("127.0.0.1:9080", &listen[n_listen++], &why);
	}
	/* Signals are taken synchronously here; workers inherit the mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	o.listen = listen;
	o.n_listen = n_listen;
	o.workers = workers;
	o.config = build(file, upstream, filler, rev);
	if (o.config == NULL) {
		return 2;
	}
	rv = gw_proxy_start(&o, &p);
	if (rv != 0) {
		fprintf(stderr, "proxy_driver: %s\n", gw_strerror(rv));
		return 1;
	}
	while (!gw_proxy_ready(p)) {
		usleep(1000);
	}
	printf("ready port=%d pid=%d\n", gw_proxy_port(p, 0), (int)getpid());
	fflush(stdout);
	for (;;) {
		if (sigwait(&set, &sig) != 0) {
			continue;
		}
		if (sig == SIGHUP) {
			struct gw_proxy_config *cfg = build(file, upstream, filler, ++rev);
			if (cfg != NULL) {
				gw_proxy_publish(p, cfg);
				printf("reloaded revision=%lld\n", (long long)rev);
				fflush(stdout);
			}
			continue;
		}
		break;
	}
	gw_proxy_stop(p);
	return 0;
}
