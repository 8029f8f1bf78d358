/* backup.c: the backup file, a store image wrapped so that it describes
 * itself (what `etcdctl snapshot save` and `apigw backup` write).
 *
 * Layout (integers big-endian):
 *   header, GW_STORE_BACKUP_HDR (64) bytes:
 *     "GWBACKUP" | version u32 (1) | flags u32 (0) | revision u64 |
 *     applied index u64 | cluster id u64 | created (Unix s) u64 |
 *     image length u64 | 8 reserved zero bytes
 *   the store image (snapshot.c: its own magic and FNV-1a checksum)
 *   zero bytes up to a multiple of 512 (etcdctl 3.4 checks that the file
 *   is 512-byte pages plus a 32-byte SHA-256, as a bbolt file is)
 *   SHA-256 of every byte before it (32 bytes), as etcd appends one to
 *   its snapshot stream.
 * Happy path: the server sends the header, the image and the trailer in
 * chunks (gw_store_backup_header + gw_store_backup_sha256_*); a reader
 * checks the whole file with gw_store_backup_check before using the image.
 * Failure modes: a short, long or altered file is GW_ECORRUPT with the
 * reason in @why; nothing is ever partially accepted. Pure functions, any
 * thread. */
#include "config.h"

#include "store/store_int.h"

#include "lib/err.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MAGIC          "GWBACKUP"
#define FORMAT_VERSION 1u

void gw_store_backup_header(const struct gw_store_backup_info *info,
			    unsigned char out[GW_STORE_BACKUP_HDR])
{
	memset(out, 0, GW_STORE_BACKUP_HDR);
	memcpy(out, MAGIC, 8);
	gw_store__put_u32(out + 8, FORMAT_VERSION);
	gw_store__put_u32(out + 12, 0);
	gw_store__put_u64(out + 16, (uint64_t)info->revision);
	gw_store__put_u64(out + 24, info->applied);
	gw_store__put_u64(out + 32, info->cluster_id);
	gw_store__put_u64(out + 40, (uint64_t)info->created);
	gw_store__put_u64(out + 48, info->image_len);
}

size_t gw_store_backup_body_len(uint64_t image_len)
{
	size_t n = GW_STORE_BACKUP_HDR + (size_t)image_len;
	return (n + 511) / 512 * 512;
}

int gw_store_backup_sha256(const unsigned char hdr[GW_STORE_BACKUP_HDR], const void *image,
			   size_t image_len, unsigned char out[GW_STORE_BACKUP_SUM])
{
	static const unsigned char zeros[512];
	size_t pad = gw_store_backup_body_len(image_len) - GW_STORE_BACKUP_HDR - image_len;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int n = 0;
	int ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
		 EVP_DigestUpdate(ctx, hdr, GW_STORE_BACKUP_HDR) == 1 &&
		 EVP_DigestUpdate(ctx, image, image_len) == 1 &&
		 EVP_DigestUpdate(ctx, zeros, pad) == 1 && EVP_DigestFinal_ex(ctx, out, &n) == 1 &&
		 n == GW_STORE_BACKUP_SUM;
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : GW_ENOMEM;
}

int gw_store_backup_check(const void *file, size_t len, struct gw_store_backup_info *info,
			  const void **image, char *why, size_t whylen)
{
	const unsigned char *p = file;
	unsigned char sum[GW_STORE_BACKUP_SUM];
	uint64_t image_len, index, want;
	uint32_t version;

	memset(info, 0, sizeof *info);
	*image = NULL;
	if (len < 8 || memcmp(p, MAGIC, 8) != 0) {
		snprintf(why, whylen, "not an apigw backup (no GWBACKUP header)");
		return GW_ECORRUPT;
	}
	if (len < GW_STORE_BACKUP_HDR) {
		snprintf(why, whylen, "truncated: %zu bytes, the header alone is %d", len,
			 GW_STORE_BACKUP_HDR);
		return GW_ECORRUPT;
	}
	version = gw_store__get_u32(p + 8);
	if (version != FORMAT_VERSION) {
		snprintf(why, whylen, "backup format version %u is not supported (this build: %u)",
			 (unsigned)version, FORMAT_VERSION);
		return GW_ECORRUPT;
	}
	image_len = gw_store__get_u64(p + 48);
	if (image_len > (uint64_t)1 << 50) {
		snprintf(why, whylen, "the header announces an impossible image length");
		return GW_ECORRUPT;
	}
	want = gw_store_backup_body_len(image_len) + GW_STORE_BACKUP_SUM;
	if (len != want) {
		snprintf(why, whylen, "%s: %zu bytes, the header announces %llu",
			 len < want ? "truncated" : "length mismatch", len,
			 (unsigned long long)want);
		return GW_ECORRUPT;
	}
	/* the SHA-256 is computed over zero padding: the file's must be zero */
	for (size_t i = GW_STORE_BACKUP_HDR + (size_t)image_len; i < len - GW_STORE_BACKUP_SUM;
	     i++) {
		if (p[i] != 0) {
			snprintf(why, whylen, "checksum mismatch: the file is corrupt (padding)");
			return GW_ECORRUPT;
		}
	}
	if (gw_store_backup_sha256(p, p + GW_STORE_BACKUP_HDR, image_len, sum) != 0) {
		snprintf(why, whylen, "out of memory");
		return GW_ENOMEM;
	}
	if (memcmp(sum, p + len - GW_STORE_BACKUP_SUM, GW_STORE_BACKUP_SUM) != 0) {
		snprintf(why, whylen, "checksum mismatch: the file is corrupt (SHA-256 differs)");
		return GW_ECORRUPT;
	}
	if (gw_store_snapshot_index(p + GW_STORE_BACKUP_HDR, image_len, &index) != 0 ||
	    index != gw_store__get_u64(p + 24)) {
		snprintf(why, whylen, "the store image inside is corrupt");
		return GW_ECORRUPT;
	}
	info->version = version;
	info->revision = (int64_t)gw_store__get_u64(p + 16);
	info->applied = index;
	info->cluster_id = gw_store__get_u64(p + 32);
	info->created = (int64_t)gw_store__get_u64(p + 40);
	info->image_len = image_len;
	memcpy(info->sha256, p + len - GW_STORE_BACKUP_SUM, GW_STORE_BACKUP_SUM);
	*image = p + GW_STORE_BACKUP_HDR;
	return 0;
}

/* write(2) all of @p or fail. */
static int write_all(int fd, const void *p, size_t len)
{
	const unsigned char *b = p;
	while (len > 0) {
		ssize_t n = write(fd, b, len);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0) {
			return GW_EIO;
		}
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

int gw_store_backup_write(int fd, const struct gw_store_backup_info *info, const void *image)
{
	static const unsigned char zeros[512];
	unsigned char hdr[GW_STORE_BACKUP_HDR], sum[GW_STORE_BACKUP_SUM];
	size_t pad = gw_store_backup_body_len(info->image_len) - GW_STORE_BACKUP_HDR -
		     (size_t)info->image_len;
	int rv;

	gw_store_backup_header(info, hdr);
	rv = gw_store_backup_sha256(hdr, image, (size_t)info->image_len, sum);
	if (rv == 0) {
		rv = write_all(fd, hdr, sizeof hdr);
	}
	if (rv == 0) {
		rv = write_all(fd, image, (size_t)info->image_len);
	}
	if (rv == 0) {
		rv = write_all(fd, zeros, pad);
	}
	if (rv == 0) {
		rv = write_all(fd, sum, sizeof sum);
	}
	return rv;
}
