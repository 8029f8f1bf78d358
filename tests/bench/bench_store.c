/* bench_store.c: throughput and latency of store/ on real LMDB files.
 *
 * Prints ops/s, p50 and p99 for: put with fsync on commit (the default),
 * put with no_sync, get of one key, range over a 1,000-key prefix, and a
 * put fanned out to 1,000 watchers (latency = gw_store_write until every
 * watcher's callback has run). Not part of `make check`; run by hand:
 *   ./tests/bench/bench_store [dir]     (default: a mkdtemp dir in /tmp) */
#include "config.h"

#include "lib/err.h"
#include "lib/log.h"
#include "store/store.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NKEYS     1000
#define VALUE_LEN 100

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void report(const char *name, double *lat, size_t n, double total_us)
{
	qsort(lat, n, sizeof(*lat), cmp_double);
	printf("%-34s %9.0f ops/s  p50 %8.1f us  p99 %8.1f us  (n=%zu)\n", name,
	       (double)n / (total_us / 1e6), lat[n / 2], lat[(n * 99) / 100], n);
	fflush(stdout);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static struct gw_store *open_store(const char *dir, bool no_sync)
{
	struct gw_store_opts o = {0};
	struct gw_store *s;
	o.dir = dir;
	o.no_sync = no_sync;
	if (gw_store_open(&o, &s) != 0) {
		fprintf(stderr, "cannot open the store in %s\n", dir);
		exit(1);
	}
	return s;
}

static uint64_t idx;

static void put_key(struct gw_store *s, const char *key, const char *value)
{
	struct gw_store_op op = {.type = GW_OP_PUT};
	struct gw_store_result res;
	op.u.put.key = key;
	op.u.put.key_len = strlen(key);
	op.u.put.value = value;
	op.u.put.value_len = strlen(value);
	if (gw_store_write(s, ++idx, &op, &res) != 0 || res.err != 0) {
		fprintf(stderr, "put failed\n");
		exit(1);
	}
	gw_store_result_free(&res);
}

static void bench_put(const char *dir, bool no_sync, size_t n, const char *value)
{
	struct gw_store *s = open_store(dir, no_sync);
	double *lat = malloc(n * sizeof(*lat)), t0 = now_us();
	char key[64];
	for (size_t i = 0; i < n; i++) {
		double t = now_us();
		snprintf(key, sizeof(key), "/bench/put/%06zu", i % NKEYS);
		put_key(s, key, value);
		lat[i] = now_us() - t;
	}
	report(no_sync ? "put (no_sync)" : "put (fsync on commit, default)", lat, n, now_us() - t0);
	free(lat);
	gw_store_close(s);
}

static size_t deliveries;

static int on_events(struct gw_watcher *w, const struct gw_event *evs, size_t n, void *data)
{
	(void)w;
	(void)evs;
	(void)data;
	deliveries += n;
	return 0;
}

int main(int argc, char **argv)
{
	char tmpl[] = "/tmp/gw-bench-store-XXXXXX";
	const char *dir = argc > 1 ? argv[1] : mkdtemp(tmpl);
	char value[VALUE_LEN + 1], key[64];
	struct gw_store *s;
	double *lat, t0;
	size_t n;

	if (dir == NULL) {
		perror("mkdtemp");
		return 1;
	}
	gw_log_set_level(GW_LOG_WARN);
	memset(value, 'v', VALUE_LEN);
	value[VALUE_LEN] = '\0';
	printf("store benchmark in %s (%d-byte values, %d keys)\n", dir, VALUE_LEN, NKEYS);

	bench_put(dir, false, 2000, value);
	bench_put(dir, true, 20000, value);

	s = open_store(dir, true);
	for (size_t i = 0; i < NKEYS; i++) {
		snprintf(key, sizeof(key), "/bench/range/%06zu", i);
		put_key(s, key, value);
	}

	n = 200000;
	lat = malloc(n * sizeof(*lat));
	t0 = now_us();
	for (size_t i = 0; i < n; i++) {
		struct gw_range_req q = {0};
		struct gw_range_resp out;
		double t = now_us();
		snprintf(key, sizeof(key), "/bench/range/%06zu", (i * 7919) % NKEYS);
		q.key = key;
		q.key_len = strlen(key);
		if (gw_store_range(s, &q, &out) != 0 || out.n_kvs != 1) {
			fprintf(stderr, "get failed\n");
			return 1;
		}
		gw_store_range_resp_free(&out);
		lat[i] = now_us() - t;
	}
	report("get (one key)", lat, n, now_us() - t0);
	free(lat);

	n = 2000;
	lat = malloc(n * sizeof(*lat));
	t0 = now_us();
	for (size_t i = 0; i < n; i++) {
		struct gw_range_req q = {0};
		struct gw_range_resp out;
		double t = now_us();
		q.key = "/bench/range/";
		q.key_len = strlen(q.key);
		q.range_end = "/bench/range0";
		q.range_end_len = strlen(q.range_end);
		if (gw_store_range(s, &q, &out) != 0 || out.n_kvs != NKEYS) {
			fprintf(stderr, "range failed\n");
			return 1;
		}
		gw_store_range_resp_free(&out);
		lat[i] = now_us() - t;
	}
	report("range (prefix, 1,000 keys)", lat, n, now_us() - t0);
	free(lat);

	/* the same range as of 5,000 revisions ago: history is replayed back */
	for (size_t i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "/bench/other/%06zu", i % NKEYS);
		put_key(s, key, value);
	}
	n = 200;
	lat = malloc(n * sizeof(*lat));
	t0 = now_us();
	for (size_t i = 0; i < n; i++) {
		struct gw_range_req q = {0};
		struct gw_range_resp out;
		double t = now_us();
		q.key = "/bench/range/";
		q.key_len = strlen(q.key);
		q.range_end = "/bench/range0";
		q.range_end_len = strlen(q.range_end);
		q.revision = gw_store_revision(s) - 5000;
		if (gw_store_range(s, &q, &out) != 0 || out.n_kvs != NKEYS) {
			fprintf(stderr, "past range failed\n");
			return 1;
		}
		gw_store_range_resp_free(&out);
		lat[i] = now_us() - t;
	}
	report("range (1,000 keys, 5,000 revs ago)", lat, n, now_us() - t0);
	free(lat);

	/* watch fan-out: 1,000 watchers on a prefix, one put each time */
	{
		struct gw_watcher *ws[1000];
		struct gw_watch_opts o = {0};
		o.key = "/bench/watch/";
		o.key_len = strlen(o.key);
		o.range_end = "/bench/watch0";
		o.range_end_len = strlen(o.range_end);
		o.on_events = on_events;
		for (size_t i = 0; i < 1000; i++) {
			if (gw_store_watch(s, &o, &ws[i]) != 0) {
				fprintf(stderr, "watch failed\n");
				return 1;
			}
		}
		n = 5000;
		lat = malloc(n * sizeof(*lat));
		deliveries = 0;
		t0 = now_us();
		for (size_t i = 0; i < n; i++) {
			double t = now_us();
			snprintf(key, sizeof(key), "/bench/watch/%06zu", i % NKEYS);
			put_key(s, key, value);
			lat[i] = now_us() - t;
		}
		report("put + fan-out to 1,000 watchers", lat, n, now_us() - t0);
		printf("%-34s %9.0f events/s delivered (%zu events)\n", "",
		       (double)deliveries / ((now_us() - t0) / 1e6), deliveries);
		free(lat);
		for (size_t i = 0; i < 1000; i++) {
			gw_store_unwatch(ws[i]);
		}
	}
	printf("db size %llu bytes, revision %lld\n", (unsigned long long)gw_store_db_size(s),
	       (long long)gw_store_revision(s));
	gw_store_close(s);
	if (argc <= 1) {
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	}
	return 0;
}
