/* apisix_key.c: the node's Admin API key.
 *
 * Happy path: --admin-key wins; else <data-dir>/admin.key is read; else a
 * random 128-bit key (32 hex characters, from getrandom) is created there
 * with O_EXCL and mode 0600, and its path is logged (never the key). A
 * joining node instead adopts the cluster's key (apisix.c) and saves it
 * here with gw_admin_key_save. Failure
 * modes: an unreadable or empty key file, or a data dir we cannot write, is
 * GW_EIO with the path and errno in the log. */
#include "config.h"

#include "admin/apisix.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "lib/file.h"
#include "lib/log.h"
#include "lib/rand.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int read_key(const char *path, char *out, size_t outlen)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		return errno == ENOENT ? GW_ENOTFOUND : GW_EIO;
	}
	n = read(fd, out, outlen - 1);
	close(fd);
	if (n < 0) {
		return GW_EIO;
	}
	out[n] = '\0';
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' ')) {
		out[--n] = '\0';
	}
	return n > 0 ? 0 : GW_EIO;
}

static int create_key(const char *path, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char rnd[16];
	char key[40];
	size_t i;
	ssize_t n;
	int fd;

	if (gw_rand_bytes(rnd, sizeof(rnd)) != 0) {
		return GW_EIO;
	}
	for (i = 0; i < sizeof(rnd); i++) {
		key[2 * i] = hex[rnd[i] >> 4];
		key[2 * i + 1] = hex[rnd[i] & 15];
	}
	key[2 * sizeof(rnd)] = '\n';
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		return errno == EEXIST ? GW_EEXIST : GW_EIO;
	}
	n = write(fd, key, 2 * sizeof(rnd) + 1);
	if (n != (ssize_t)(2 * sizeof(rnd) + 1) || fsync(fd) != 0) {
		close(fd);
		unlink(path);
		return GW_EIO;
	}
	close(fd);
	if (outlen < 2 * sizeof(rnd) + 1) {
		return GW_EINVAL;
	}
	memcpy(out, key, 2 * sizeof(rnd));
	out[2 * sizeof(rnd)] = '\0';
	return 0;
}

int gw_admin_key_load(const char *data_dir, const char *flag_key, bool generate, char *out,
		      size_t outlen)
{
	char path[PATH_MAX];
	int rv;

	if (flag_key != NULL && flag_key[0] != '\0') {
		if (strlen(flag_key) >= outlen) {
			gw_errorf("admin", "--admin-key is too long");
			return GW_EINVAL;
		}
		strcpy(out, flag_key);
		return 0;
	}
	if (snprintf(path, sizeof(path), "%s/admin.key", data_dir) >= (int)sizeof(path)) {
		gw_errorf("admin", "data dir path too long: %s", data_dir);
		return GW_EINVAL;
	}
	errno = 0;
	rv = read_key(path, out, outlen);
	if (rv == 0) {
		gw_infof("admin", "admin key: %s", path);
		return 0;
	}
	if (rv != GW_ENOTFOUND) {
		gw_errorf("admin", "cannot read the admin key %s: %s", path,
			  errno ? strerror(errno) : "empty file");
		return GW_EIO;
	}
	if (!generate) {
		return GW_ENOTFOUND;
	}
	rv = create_key(path, out, outlen);
	if (rv == GW_EEXIST) { /* raced with another writer: use theirs */
		rv = read_key(path, out, outlen);
	}
	if (rv != 0) {
		gw_errorf("admin", "cannot create the admin key %s: %s", path, strerror(errno));
		return GW_EIO;
	}
	gw_infof("admin", "generated a new admin key, stored with mode 0600 in %s", path);
	return 0;
}

int gw_admin_key_save(const char *data_dir, const char *key)
{
	char path[PATH_MAX];
	struct gw_buf text;
	int rv;

	if (snprintf(path, sizeof(path), "%s/admin.key", data_dir) >= (int)sizeof(path)) {
		return GW_EIO;
	}
	gw_buf_init(&text);
	rv = gw_buf_printf(&text, "%s\n", key);
	if (rv == 0) {
		rv = gw_file_write_atomic(path, text.data, text.len, 0600);
	}
	gw_buf_close(&text);
	if (rv != 0) {
		gw_errorf("admin", "cannot save the admin key to %s: %s", path,
			  rv == GW_ENOMEM ? gw_strerror(rv) : strerror(errno));
		return GW_EIO;
	}
	gw_infof("admin", "adopted the cluster's admin key, stored with mode 0600 in %s", path);
	return 0;
}
