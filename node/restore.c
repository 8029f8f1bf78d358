/* restore.c: `apigw restore FILE --data-dir DIR`, disaster recovery from a
 * backup file.
 *
 * Happy path: check the whole file (backup.c), drop the old cluster's
 * membership records from the image (members, enrollments, join tokens:
 * they name certificates and nodes that do not exist in the new cluster;
 * keys, history, leases and etcd auth users/roles stay), then seed DIR as a
 * new one-node cluster whose raft log starts with the image as a snapshot
 * (raft/restore.c). `apigw start --data-dir DIR` then serves exactly the
 * file's keys at its revision, and nodes join it as usual.
 * Failure modes: a corrupt or truncated file is refused before anything is
 * written; a DIR that exists and is not empty is refused unless --force,
 * which moves it aside to DIR.replaced-<unix time> (never deleted); a
 * failure while seeding removes the half-written DIR. Exit 0, 1 or 2.
 * Threads: the main thread; blocking. */
#include "config.h"

#include "node/backup_int.h"
#include "lib/addr.h"
#include "lib/err.h"
#include "lib/file.h"
#include "lib/keyring.h"
#include "raft/raft.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

struct opts {
	const char *file;
	const char *data_dir;
	const char *raft_listen;
	const char *keyring;
	bool force;
	bool keep_cluster_id;
};

/* Meta records that belong to the old cluster's members. */
static bool drop_meta(const char *key, size_t len)
{
	static const char *const prefixes[] = {"member/", "enroll/", "token/"};
	for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
		size_t n = strlen(prefixes[i]);
		if (len >= n && memcmp(key, prefixes[i], n) == 0) {
			return true;
		}
	}
	return false;
}

static int parse(int argc, char **argv, struct opts *o)
{
	memset(o, 0, sizeof *o);
	o->raft_listen = "127.0.0.1:2380";
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		int r;
		if (strcmp(a, "--force") == 0) {
			o->force = true;
			continue;
		}
		if (strcmp(a, "--keep-cluster-id") == 0) {
			o->keep_cluster_id = true;
			continue;
		}
		if (a[0] != '-') {
			if (o->file != NULL) {
				fprintf(stderr, "apigw: restore: unexpected argument '%s'\n", a);
				return 2;
			}
			o->file = a;
			continue;
		}
		if ((r = gw_node__flag(argc, argv, &i, "--data-dir", &o->data_dir, "restore")) !=
			0 ||
		    (r = gw_node__flag(argc, argv, &i, "--raft-listen", &o->raft_listen,
				       "restore")) != 0 ||
		    (r = gw_node__flag(argc, argv, &i, "--keyring", &o->keyring, "restore")) != 0) {
			if (r < 0) {
				return 2;
			}
			continue;
		}
		fprintf(stderr, "apigw: restore: unknown flag '%s' (see apigw restore --help)\n",
			a);
		return 2;
	}
	if (o->file == NULL || o->data_dir == NULL || *o->data_dir == '\0') {
		fprintf(stderr, "apigw: restore needs a FILE and --data-dir DIR\n");
		return 2;
	}
	return 0;
}

/* 1 when @dir exists and holds something, 0 when absent or empty, -1 when
 * it cannot be read (printed). */
static int dir_in_use(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int used = 0;
	if (d == NULL) {
		if (errno == ENOENT) {
			return 0;
		}
		fprintf(stderr, "apigw: restore: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
			used = 1;
			break;
		}
	}
	closedir(d);
	return used;
}

/* Copy the keyring file @from into @dir (0600) after checking it parses. */
static int copy_keyring(const char *from, const char *dir)
{
	struct gw_keyring *kr = NULL;
	char path[PATH_MAX + 16];
	void *text;
	size_t len;
	int rv;

	if (gw_node__backup_read(from, &text, &len) != 0) {
		return -1;
	}
	rv = gw_keyring_parse(text, len, &kr);
	gw_keyring_free(kr);
	if (rv != 0) {
		fprintf(stderr, "apigw: restore: %s is not a keyring file: %s\n", from,
			gw_strerror(rv));
		free(text);
		return -1;
	}
	snprintf(path, sizeof path, "%s/%s", dir, GW_KEYRING_FILE);
	rv = gw_file_write_atomic(path, text, len, 0600);
	free(text);
	if (rv != 0) {
		fprintf(stderr, "apigw: restore: cannot write %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

int gw_node__restore_main(int argc, char **argv)
{
	struct opts o;
	struct gw_store_backup_info info;
	struct gw_store_image_stats st;
	struct gw_addr raft_addr;
	const char *why = NULL;
	const void *image;
	void *buf, *filtered = NULL;
	size_t len, flen;
	uint64_t node_id = 0, cluster_id = 0;
	struct timespec t0, t1;
	int used, rv;

	rv = parse(argc, argv, &o);
	if (rv != 0) {
		return rv;
	}
	if (gw_addr_parse(o.raft_listen, &raft_addr, &why) != 0 ||
	    raft_addr.ss.ss_family != AF_INET) {
		fprintf(stderr, "apigw: restore: invalid --raft-listen '%s': %s\n", o.raft_listen,
			why != NULL ? why : "raft needs an IPv4 address");
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (gw_node__backup_load(o.file, &buf, &len, &info, &image) != 0) {
		return 1;
	}
	if (gw_store_image_stats(image, info.image_len, &st) != 0 ||
	    gw_store_image_filter(image, info.image_len, drop_meta, &filtered, &flen) != 0) {
		fprintf(stderr, "apigw: restore: %s: the store image is corrupt\n", o.file);
		free(buf);
		return 1;
	}
	free(buf);
	used = dir_in_use(o.data_dir);
	if (used < 0) {
		free(filtered);
		return 1;
	}
	if (used && !o.force) {
		fprintf(stderr,
			"apigw: restore: %s exists and is not empty: refusing to overwrite it "
			"(--force moves it aside)\n",
			o.data_dir);
		free(filtered);
		return 1;
	}
	if (used) {
		char aside[PATH_MAX];
		snprintf(aside, sizeof aside, "%s.replaced-%lld", o.data_dir,
			 (long long)time(NULL));
		if (rename(o.data_dir, aside) != 0) {
			fprintf(stderr, "apigw: restore: cannot move %s aside: %s\n", o.data_dir,
				strerror(errno));
			free(filtered);
			return 1;
		}
		printf("moved the old %s to %s\n", o.data_dir, aside);
	}
	if (mkdir(o.data_dir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "apigw: restore: cannot create %s: %s\n", o.data_dir,
			strerror(errno));
		free(filtered);
		return 1;
	}
	rv = gw_raft_seed(o.data_dir, o.raft_listen, o.keep_cluster_id ? info.cluster_id : 0,
			  filtered, flen, info.applied, &node_id, &cluster_id);
	free(filtered);
	if (rv == 0 && o.keyring != NULL && copy_keyring(o.keyring, o.data_dir) != 0) {
		rv = GW_EIO;
	}
	if (rv != 0) {
		fprintf(stderr, "apigw: restore into %s failed: %s (removed what was written)\n",
			o.data_dir, gw_strerror(rv));
		gw_node__rm_tree(o.data_dir);
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("restored revision %" PRId64 " (%" PRIu64 " keys, %" PRIu64
	       " leases) into %s in %.3f s\n"
	       "new cluster %016" PRIx64 "%s, member %016" PRIx64 " on raft address %s\n"
	       "start it with: apigw start --data-dir %s --raft-listen %s ...\n",
	       info.revision, st.keys, st.leases, o.data_dir,
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
	       cluster_id, o.keep_cluster_id ? " (the backup's id)" : "", node_id, o.raft_listen,
	       o.data_dir, o.raft_listen);
	if (o.keyring == NULL) {
		printf("note: no --keyring given: ssls private keys sealed by the old cluster's "
		       "keyring cannot be opened until its keyring file is put in %s\n",
		       o.data_dir);
	}
	return 0;
}
