/* identity.c: a node's identity in its data dir.
 *
 * <data-dir>/identity holds "cluster_id=<hex>", "node_id=<hex>" and
 * "origin=bootstrap|join" lines; <data-dir>/join-secret holds the cluster's
 * join secret (mode 0600). Both are written with gw_file_write_atomic
 * (temp file, fsync, rename, directory fsync), so a crash leaves the old
 * file or the new one. Loading
 * distinguishes a fresh data dir (neither file) from a damaged one (one
 * missing or unparsable): the latter is GW_ECORRUPT with the file named, so
 * a node never silently re-bootstraps over a real cluster's data. Ids and
 * the secret come from getrandom (lib/rand.h) only: when it fails, start-up
 * fails with the reason logged. */
#include "config.h"

#include "lib/err.h"
#include "lib/file.h"
#include "lib/log.h"
#include "lib/rand.h"
#include "raft/raft_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The kernel's randomness or a logged failure: no weaker generator stands
 * in for it (a predictable node id or join secret is worse than no start). */
static int random_bytes(void *buf, size_t len, const char *what)
{
	if (gw_rand_bytes(buf, len) != 0) {
		gw_errorf("raft", "cannot create the %s: getrandom failed: %s (refusing to start)",
			  what, strerror(errno));
		return GW_EIO;
	}
	return 0;
}

int gw_raft__random_id(uint64_t *out, const char *what)
{
	uint64_t v = 0;
	int rv;

	while (v == 0) {
		rv = random_bytes(&v, sizeof v, what);
		if (rv != 0) {
			return rv;
		}
		v &= 0x7fffffffffffffffULL; /* stays positive as int64 too */
	}
	*out = v;
	return 0;
}

int gw_raft__random_secret(char *out, size_t len)
{
	unsigned char raw[32];
	size_t i;
	int rv;

	rv = random_bytes(raw, sizeof raw, "join secret");
	if (rv != 0) {
		return rv;
	}
	for (i = 0; i < sizeof raw && 2 * i + 2 < len; i++) {
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
	}
	return 0;
}

static int read_file(const char *path, char *buf, size_t len, bool *missing)
{
	FILE *f;
	size_t n;

	*missing = false;
	f = fopen(path, "r");
	if (f == NULL) {
		if (errno == ENOENT) {
			*missing = true;
			return GW_ENOTFOUND;
		}
		gw_errorf("raft", "cannot read %s: %s", path, strerror(errno));
		return GW_EIO;
	}
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = '\0';
	return 0;
}

static int parse_hex(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 16);
	if (errno != 0 || end == s || (*end != '\n' && *end != '\0') || v == 0) {
		return GW_ECORRUPT;
	}
	*out = v;
	return 0;
}

int gw_raft__identity_load(const char *data_dir, struct gw_raft__identity *id)
{
	char path[PATH_MAX], spath[PATH_MAX], buf[1024];
	bool missing_id, missing_secret;
	int rv, rv2;
	char *line, *save = NULL;
	bool have_cluster = false, have_node = false, have_origin = false;
	size_t n;

	memset(id, 0, sizeof *id);
	snprintf(path, sizeof path, "%s/identity", data_dir);
	snprintf(spath, sizeof spath, "%s/join-secret", data_dir);
	rv = read_file(path, buf, sizeof buf, &missing_id);
	rv2 = read_file(spath, id->secret, sizeof id->secret, &missing_secret);
	if (missing_id && missing_secret) {
		return GW_ENOTFOUND;
	}
	if ((rv != 0 && !missing_id) || (rv2 != 0 && !missing_secret)) {
		return GW_EIO;
	}
	if (missing_id || missing_secret) {
		gw_errorf("raft",
			  "data dir %s is damaged: %s is missing (refusing to start; restore "
			  "it or start from an empty data dir)",
			  data_dir, missing_id ? path : spath);
		return GW_ECORRUPT;
	}
	n = strlen(id->secret);
	while (n > 0 && (id->secret[n - 1] == '\n' || id->secret[n - 1] == '\r')) {
		id->secret[--n] = '\0';
	}
	if (n < 8) {
		gw_errorf("raft", "data dir %s is damaged: %s holds no secret", data_dir, spath);
		return GW_ECORRUPT;
	}
	for (line = strtok_r(buf, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "cluster_id=", 11) == 0) {
			have_cluster = parse_hex(line + 11, &id->cluster_id) == 0;
		} else if (strncmp(line, "node_id=", 8) == 0) {
			have_node = parse_hex(line + 8, &id->node_id) == 0;
		} else if (strcmp(line, "origin=bootstrap") == 0) {
			id->origin = GW_ORIGIN_BOOTSTRAP;
			have_origin = true;
		} else if (strcmp(line, "origin=join") == 0) {
			id->origin = GW_ORIGIN_JOIN;
			have_origin = true;
		}
	}
	if (!have_cluster || !have_node || !have_origin) {
		gw_errorf("raft", "data dir %s is damaged: %s lacks a valid %s", data_dir, path,
			  !have_cluster ? "cluster_id"
			  : !have_node  ? "node_id"
					: "origin");
		return GW_ECORRUPT;
	}
	return 0;
}

static int write_atomic(const char *path, const char *text, mode_t mode)
{
	if (gw_file_write_atomic(path, text, strlen(text), mode) != 0) {
		gw_errorf("raft", "cannot write %s: %s", path, strerror(errno));
		return GW_EIO;
	}
	return 0;
}

int gw_raft__identity_save(const char *data_dir, const struct gw_raft__identity *id)
{
	char path[PATH_MAX], text[256];
	int rv;

	snprintf(path, sizeof path, "%s/join-secret", data_dir);
	snprintf(text, sizeof text, "%s\n", id->secret);
	rv = write_atomic(path, text, 0600);
	if (rv != 0) {
		return rv;
	}
	snprintf(path, sizeof path, "%s/identity", data_dir);
	snprintf(text, sizeof text,
		 "cluster_id=%016" PRIx64 "\nnode_id=%016" PRIx64 "\norigin=%s\n", id->cluster_id,
		 id->node_id, id->origin == GW_ORIGIN_JOIN ? "join" : "bootstrap");
	return write_atomic(path, text, 0644);
}
