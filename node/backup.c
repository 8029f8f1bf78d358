/* backup.c: `apigw backup` (status and --to) and the dispatch of
 * `apigw restore` (restore.c); the helpers they share.
 *
 * `backup status FILE` checks the whole file (header, length, SHA-256,
 * the image's own checksum), then loads the image into a private LMDB
 * store in a temporary directory to compute the keyspace hash that
 * `etcdctl endpoint hashkv` shows for the cluster at the same revision, and
 * prints it with the revision, key, lease and event counts and sizes.
 * Failure modes: a file that does not check is reported in one line (exit
 * 1) and never loaded. Threads: the main thread; blocking. */
#include "config.h"

#include "node/backup_int.h"
#include "lib/err.h"
#include "lib/log.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_FILE ((size_t)1 << 40) /* refuse to read larger files */

bool gw_node_backup_is_cmd(int argc, char **argv)
{
	return argc >= 2 && (strcmp(argv[1], "backup") == 0 || strcmp(argv[1], "restore") == 0);
}

int gw_node__backup_read(const char *path, void **buf, size_t *len)
{
	struct stat st;
	size_t got = 0;
	char *p;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	*buf = NULL;
	*len = 0;
	if (fd < 0) {
		fprintf(stderr, "apigw: cannot read %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > MAX_FILE) {
		fprintf(stderr, "apigw: %s: not a regular file of at most 1 TiB\n", path);
		close(fd);
		return -1;
	}
	p = malloc((size_t)st.st_size + 1);
	if (p == NULL) {
		fprintf(stderr, "apigw: %s: out of memory (%lld bytes)\n", path,
			(long long)st.st_size);
		close(fd);
		return -1;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, p + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			fprintf(stderr, "apigw: cannot read %s: %s\n", path,
				n < 0 ? strerror(errno) : "file shrank while read");
			free(p);
			close(fd);
			return -1;
		}
		got += (size_t)n;
	}
	close(fd);
	*buf = p;
	*len = got;
	return 0;
}

int gw_node__backup_load(const char *path, void **buf, size_t *len,
			 struct gw_store_backup_info *info, const void **image)
{
	char why[256];

	if (gw_node__backup_read(path, buf, len) != 0) {
		return 1;
	}
	if (gw_store_backup_check(*buf, *len, info, image, why, sizeof why) != 0) {
		fprintf(stderr, "apigw: %s: %s\n", path, why);
		free(*buf);
		*buf = NULL;
		return 1;
	}
	return 0;
}

int gw_node__flag(int argc, char **argv, int *i, const char *name, const char **val,
		  const char *cmd)
{
	const char *a = argv[*i];
	size_t n = strlen(name);

	if (strncmp(a, name, n) != 0 || (a[n] != '\0' && a[n] != '=')) {
		return 0;
	}
	if (a[n] == '=') {
		*val = a + n + 1;
	} else if (*i + 1 < argc) {
		*val = argv[++*i];
	} else {
		fprintf(stderr, "apigw: %s: %s needs a value\n", cmd, name);
		return -1;
	}
	return 1;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return (flag == FTW_DP ? rmdir(path) : unlink(path)) == 0 ? 0 : -1;
}

int gw_node__rm_tree(const char *path)
{
	return nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Keyspace hash of @image as `etcdctl endpoint hashkv` computes it on a
 * member at the image's revision: load it into a scratch store. */
static int image_hash(const void *image, size_t len, uint32_t *hash)
{
	char tmpl[] = "/tmp/apigw-backup-XXXXXX";
	const char *tmpdir = getenv("TMPDIR");
	char dir[PATH_MAX];
	struct gw_store_opts o;
	struct gw_store *s = NULL;
	int64_t at;
	int rv;

	if (tmpdir != NULL && *tmpdir != '\0') {
		snprintf(dir, sizeof dir, "%s/apigw-backup-XXXXXX", tmpdir);
	} else {
		snprintf(dir, sizeof dir, "%s", tmpl);
	}
	if (mkdtemp(dir) == NULL) {
		fprintf(stderr, "apigw: cannot create a scratch directory: %s\n", strerror(errno));
		return -1;
	}
	memset(&o, 0, sizeof o);
	o.dir = dir;
	o.no_sync = true;
	o.quota_bytes = (uint64_t)len * 4 > GW_STORE_DEFAULT_QUOTA ? (uint64_t)len * 4 : 0;
	rv = gw_store_open(&o, &s);
	if (rv == 0) {
		rv = gw_store_restore(s, image, len);
		if (rv == GW_ESTALE) {
			rv = 0; /* an image at applied index 0: the empty store */
		}
	}
	if (rv == 0) {
		rv = gw_store_hash_kv(s, 0, hash, &at);
	}
	if (s != NULL) {
		gw_store_close(s);
	}
	gw_node__rm_tree(dir);
	if (rv != 0) {
		fprintf(stderr, "apigw: cannot load the image to hash it: %s\n", gw_strerror(rv));
		return -1;
	}
	return 0;
}

static int status_main(const char *path, bool json)
{
	struct gw_store_backup_info info;
	struct gw_store_image_stats st;
	const void *image;
	void *buf;
	size_t len;
	uint32_t hash = 0;
	char sha[65], when[64];
	struct tm tm;
	time_t t;

	if (gw_node__backup_load(path, &buf, &len, &info, &image) != 0) {
		return 1;
	}
	if (gw_store_image_stats(image, info.image_len, &st) != 0 ||
	    image_hash(image, info.image_len, &hash) != 0) {
		free(buf);
		return 1;
	}
	for (int i = 0; i < 32; i++) {
		snprintf(sha + 2 * i, 3, "%02x", info.sha256[i]);
	}
	t = (time_t)info.created;
	gmtime_r(&t, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (json) {
		printf("{\"format\":\"apigw-backup\",\"version\":%u,\"hash\":%" PRIu32
		       ",\"revision\":%" PRId64 ",\"compact_revision\":%" PRId64
		       ",\"total_key\":%" PRIu64 ",\"leases\":%" PRIu64 ",\"events\":%" PRIu64
		       ",\"total_size\":%zu,\"image_size\":%" PRIu64 ",\"applied_index\":%" PRIu64
		       ",\"cluster_id\":\"%016" PRIx64 "\",\"created\":\"%s\",\"sha256\":\"%s\"}\n",
		       (unsigned)info.version, hash, info.revision, st.compact_revision, st.keys,
		       st.leases, st.events, len, info.image_len, info.applied, info.cluster_id,
		       when, sha);
	} else {
		printf("file:          %s (apigw backup, format %u)\n", path,
		       (unsigned)info.version);
		printf("hash:          %" PRIu32 " (etcdctl endpoint hashkv at this revision)\n",
		       hash);
		printf("revision:      %" PRId64 " (compacted up to %" PRId64 ")\n", info.revision,
		       st.compact_revision);
		printf("keys:          %" PRIu64 "\n", st.keys);
		printf("leases:        %" PRIu64 "\n", st.leases);
		printf("events:        %" PRIu64 " (history kept)\n", st.events);
		printf("size:          %zu bytes (store image %" PRIu64 ")\n", len, info.image_len);
		printf("applied index: %" PRIu64 "\n", info.applied);
		printf("cluster:       %016" PRIx64 "\n", info.cluster_id);
		printf("created:       %s\n", when);
		printf("sha256:        %s (ok)\n", sha);
	}
	free(buf);
	return 0;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: apigw backup --to FILE [--endpoint HOST:PORT]\n"
		"       apigw backup status FILE [--json]\n"
		"       apigw restore FILE --data-dir DIR [--force] [--keep-cluster-id]\n"
		"                     [--raft-listen IP:PORT] [--keyring FILE]\n"
		"\n"
		"  backup --to     stream a consistent snapshot from a member's etcd API (any\n"
		"                  member; default endpoint 127.0.0.1:2379), as `etcdctl snapshot\n"
		"                  save` does; the file is written as FILE.part, then renamed\n"
		"  backup status   check a file (SHA-256, image checksum) and show its hash,\n"
		"                  revision, keys and size\n"
		"  restore         make DIR the data dir of a new one-node cluster holding the\n"
		"                  file's keys, revision and leases; then `apigw start --data-dir\n"
		"                  DIR` and join other nodes to it (see docs/backup.md)\n");
}

static int backup_main(int argc, char **argv)
{
	const char *to = NULL, *endpoint = "127.0.0.1:2379";
	bool json = false;

	if (argc >= 3 && strcmp(argv[2], "status") == 0) {
		const char *file = NULL;
		for (int i = 3; i < argc; i++) {
			if (strcmp(argv[i], "--json") == 0) {
				json = true;
			} else if (argv[i][0] != '-' && file == NULL) {
				file = argv[i];
			} else {
				fprintf(stderr, "apigw: backup status: unexpected argument '%s'\n",
					argv[i]);
				return 2;
			}
		}
		if (file == NULL) {
			fprintf(stderr, "apigw: backup status needs a FILE\n");
			return 2;
		}
		return status_main(file, json);
	}
	for (int i = 2; i < argc; i++) {
		int r;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		}
		if ((r = gw_node__flag(argc, argv, &i, "--to", &to, "backup")) != 0 ||
		    (r = gw_node__flag(argc, argv, &i, "--endpoint", &endpoint, "backup")) != 0) {
			if (r < 0) {
				return 2;
			}
			continue;
		}
		fprintf(stderr,
			"apigw: backup: unexpected argument '%s' (see apigw backup --help)\n",
			argv[i]);
		return 2;
	}
	if (to == NULL || *to == '\0') {
		fprintf(stderr, "apigw: backup needs --to FILE (see apigw backup --help)\n");
		return 2;
	}
	return gw_node__backup_fetch(endpoint, to);
}

int gw_node_backup_main(int argc, char **argv)
{
	gw_log_set_level(GW_LOG_WARN);
	if (strcmp(argv[1], "restore") == 0) {
		for (int i = 2; i < argc; i++) {
			if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
				usage(stdout);
				return 0;
			}
		}
		return gw_node__restore_main(argc, argv);
	}
	if (argc < 3) {
		usage(stderr);
		return 2;
	}
	return backup_main(argc, argv);
}
