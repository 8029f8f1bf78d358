/* keyring.h: the cluster's data-encryption keyring (AES-256-GCM).
 *
 * Secrets stored in the replicated keyspace (an ssls object's private
 * keys; later plugin credential secrets) are encrypted with a key of this
 * ring, so the store file, its snapshots and etcd-API reads never hold them
 * in clear. A sealed blob is text that fits a JSON string:
 *
 *   "gwenc1:<kid>:<base64(nonce[12] | ciphertext | tag[16])>"
 *
 * <kid> is the 8-hex-digit random id of the key that sealed it. The
 * current (newest) key seals; every key of the ring opens, so a rotation
 * (gw_keyring_rotate: a new key becomes current) leaves old blobs readable
 * until they are re-sealed by their next write. An optional @aad (for
 * instance "ssl key") binds a blob to its use: a blob moved to another
 * field does not open.
 *
 * The ring lives in <data-dir>/keyring (mode 0600), one "<kid> <64 hex>"
 * line per key, the last line current; it is never written to the store.
 * See docs/tls.md for how the members of a cluster share it.
 *
 * Failure modes: a missing or malformed file, an unknown kid, a blob that
 * does not authenticate: GW_ENOTFOUND / GW_EINVAL / GW_ECORRUPT, never a
 * crash; nothing decrypted is returned unless its tag verified.
 * Threads: a ring is immutable after load; gw_keyring_default's ring is set
 * once at start-up and may be read from any thread afterwards. */
#ifndef GW_KEYRING_H
#define GW_KEYRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_KEYRING_MAX    16 /* keys kept by one ring (oldest dropped at rotation) */
#define GW_KEYRING_PREFIX "gwenc1:"
#define GW_KEYRING_FILE   "keyring"

struct gw_keyring;

/* Load <dir>/keyring; with @create and no file, make a ring of one new
 * key and write it (0600) first. *out is the caller's (gw_keyring_free).
 * 0, GW_ENOTFOUND (no file, not @create), GW_EINVAL (malformed: the line is
 * logged), GW_EIO (logged), GW_ENOMEM. Blocking: start-up. */
int gw_keyring_load(const char *dir, bool create, struct gw_keyring **out);

/* A ring from file text @text (@len bytes): what gw_keyring_load parses.
 * Same results; tests use it. */
int gw_keyring_parse(const char *text, size_t len, struct gw_keyring **out);

/* Add a new random key to <dir>/keyring and make it current (atomically
 * replacing the file; the oldest key is dropped beyond GW_KEYRING_MAX).
 * @kid_out (9 bytes) gets its id. 0, GW_ENOTFOUND, GW_EIO, GW_EINVAL. A
 * running node picks it up at its next start or SIGHUP. Blocking. */
int gw_keyring_rotate(const char *dir, char kid_out[9]);

void gw_keyring_free(struct gw_keyring *kr);

/* The ring as its file text (malloc'd, NUL-terminated; the caller wipes
 * it with gw_keyring_wipe_free(text, *len + 1)), or NULL. */
char *gw_keyring_text(const struct gw_keyring *kr, size_t *len);

/* Write @kr to <dir>/keyring (0600, atomically). 0 or GW_EIO (logged). */
int gw_keyring_save(const char *dir, const struct gw_keyring *kr);

/* Number of keys, and the current key's id (NUL-terminated, static per ring). */
int gw_keyring_count(const struct gw_keyring *kr);
const char *gw_keyring_current(const struct gw_keyring *kr);

/* True if the NUL-terminated @s looks like a sealed blob (its prefix). */
bool gw_keyring_is_sealed(const char *s);

/* Seal the @len bytes at @plain with the current key and @aad (NULL =
 * none). *out is a malloc'd NUL-terminated blob, the caller's. 0,
 * GW_ENOMEM, GW_EIO (randomness or OpenSSL failed). */
int gw_keyring_seal(const struct gw_keyring *kr, const char *aad, const void *plain, size_t len,
		    char **out);

/* Open the NUL-terminated blob @blob. *out (malloc'd, NUL-terminated, the
 * caller's: wipe and free it with gw_keyring_wipe_free) and *out_len get the
 * plaintext. 0, GW_EINVAL (not a blob), GW_ENOTFOUND (unknown kid),
 * GW_ECORRUPT (does not authenticate: wrong key, @aad or altered bytes),
 * GW_ENOMEM. */
int gw_keyring_open(const struct gw_keyring *kr, const char *aad, const char *blob, char **out,
		    size_t *out_len);

/* What the NUL-terminated @s says: a copy of it when it is not sealed, else
 * its opened plaintext (with @aad). *out is malloc'd and NUL-terminated
 * (wipe and free it with gw_keyring_wipe_free(*out, strlen(*out) + 1)).
 * 0, or as gw_keyring_open (GW_ENOTFOUND also when @kr is NULL). */
int gw_keyring_reveal(const struct gw_keyring *kr, const char *aad, const char *s, char **out);

/* The associated data that binds a sealed consumer secret (key-auth's key,
 * basic-auth's password) to its use. */
#define GW_KEYRING_AAD_CONSUMER "apigw consumer secret"

/* Overwrite @len bytes at @p with zeros (not optimised out) and free it. */
void gw_keyring_wipe_free(void *p, size_t len);

/* The key id of the sealed blob @blob into @kid. 0 or GW_EINVAL. */
int gw_keyring_kid_of(const char *blob, char kid[9]);

/* Re-seal with the current key a @blob sealed by an older key of @kr:
 * *@out is the new blob (malloc'd, the caller's), or NULL when @blob is
 * already sealed by the current key. 0, or as gw_keyring_open. */
int gw_keyring_reseal(const struct gw_keyring *kr, const char *aad, const char *blob, char **out);

/* The process's ring (set by the node at start-up and again when SIGHUP
 * reloads the file; the setter takes @kr). A replaced ring is kept, not
 * freed, since a reader on another thread may still hold it; setting NULL
 * (at exit, once every reader has stopped) frees them all. Rings are
 * small and rotations rare. NULL until set. Set from one thread; read
 * from any. */
void gw_keyring_set_default(struct gw_keyring *kr);
const struct gw_keyring *gw_keyring_default(void);

#endif
