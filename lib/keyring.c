/* keyring.c: AES-256-GCM sealing of secrets with a rotatable keyring.
 *
 * Happy path: gw_keyring_load reads <dir>/keyring (or creates it with one
 * random key), gw_keyring_seal encrypts with the last key under a fresh
 * random 96-bit nonce, gw_keyring_open finds the blob's key by id and
 * decrypts, returning plaintext only when the GCM tag verifies.
 * Failure modes: see keyring.h; every input is length-checked before use.
 * Threads: rings are immutable; the default ring pointer is atomic. */
#include "config.h"

#include "lib/keyring.h"

#include "lib/err.h"
#include "lib/file.h"
#include "lib/log.h"
#include "lib/rand.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define KEY_LEN    32
#define NONCE_LEN  12
#define TAG_LEN    16
#define KID_LEN    8
#define MAX_SECRET (1u << 20) /* bytes sealed or opened at most */

struct key {
	char kid[KID_LEN + 1];
	unsigned char k[KEY_LEN];
};

struct gw_keyring {
	struct key keys[GW_KEYRING_MAX];
	int n;                    /* keys[n - 1] is current */
	struct gw_keyring *older; /* a replaced default ring, kept for its readers */
};

static _Atomic(struct gw_keyring *) default_ring;
static struct gw_keyring *retired; /* replaced default rings (set_default's caller) */

void gw_keyring_wipe_free(void *p, size_t len)
{
	if (p != NULL) {
		OPENSSL_cleanse(p, len);
		free(p);
	}
}

void gw_keyring_free(struct gw_keyring *kr)
{
	gw_keyring_wipe_free(kr, sizeof(*kr));
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	if (c >= 'a' && c <= 'f') {
		return c - 'a' + 10;
	}
	return -1;
}

/* Decode 2*@n lowercase hex digits at @s into @out. false if any is not hex. */
static bool unhex(const char *s, unsigned char *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			return false;
		}
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return true;
}

static void tohex(const unsigned char *p, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[p[i] >> 4];
		out[2 * i + 1] = d[p[i] & 15];
	}
	out[2 * n] = '\0';
}

/* One line "<8 hex> <64 hex>" (@len bytes, no newline) into @k. */
static bool parse_line(const char *s, size_t len, struct key *k)
{
	unsigned char kid[KID_LEN / 2];

	if (len != KID_LEN + 1 + 2 * KEY_LEN || s[KID_LEN] != ' ' || !unhex(s, kid, sizeof kid) ||
	    !unhex(s + KID_LEN + 1, k->k, KEY_LEN)) {
		return false;
	}
	memcpy(k->kid, s, KID_LEN);
	k->kid[KID_LEN] = '\0';
	return true;
}

int gw_keyring_parse(const char *text, size_t len, struct gw_keyring **out)
{
	struct gw_keyring *kr = calloc(1, sizeof(*kr));
	const char *p = text, *end = text + len;
	int line = 0;

	if (kr == NULL) {
		return GW_ENOMEM;
	}
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
		line++;
		if (l > 0) {
			if (kr->n == GW_KEYRING_MAX || !parse_line(p, l, &kr->keys[kr->n])) {
				gw_errorf("keyring",
					  "keyring line %d: expected \"<8 hex> <64 hex>\" "
					  "(at most %d keys)",
					  line, GW_KEYRING_MAX);
				gw_keyring_free(kr);
				return GW_EINVAL;
			}
			kr->n++;
		}
		p += l + (nl != NULL);
	}
	if (kr->n == 0) {
		gw_errorf("keyring", "keyring has no key");
		gw_keyring_free(kr);
		return GW_EINVAL;
	}
	*out = kr;
	return 0;
}

char *gw_keyring_text(const struct gw_keyring *kr, size_t *len)
{
	size_t per = KID_LEN + 1 + 2 * KEY_LEN + 1;
	char *t = malloc(per * (size_t)kr->n + 1), *p = t;

	if (t == NULL) {
		return NULL;
	}
	for (int i = 0; i < kr->n; i++) {
		memcpy(p, kr->keys[i].kid, KID_LEN);
		p[KID_LEN] = ' ';
		tohex(kr->keys[i].k, KEY_LEN, p + KID_LEN + 1);
		p[per - 1] = '\n';
		p += per;
	}
	*p = '\0';
	*len = per * (size_t)kr->n;
	return t;
}

/* Append a new random key (dropping the oldest when full). */
static int add_key(struct gw_keyring *kr)
{
	unsigned char kid[KID_LEN / 2];
	struct key *k;

	if (kr->n == GW_KEYRING_MAX) {
		OPENSSL_cleanse(&kr->keys[0], sizeof(kr->keys[0]));
		memmove(&kr->keys[0], &kr->keys[1], sizeof(kr->keys[0]) * (GW_KEYRING_MAX - 1));
		kr->n--;
	}
	k = &kr->keys[kr->n];
	do {
		if (gw_rand_bytes(kid, sizeof kid) != 0 || gw_rand_bytes(k->k, KEY_LEN) != 0) {
			gw_errorf("keyring", "no randomness for a new key: %s", strerror(errno));
			return GW_EIO;
		}
		tohex(kid, sizeof kid, k->kid);
		/* ids must be unique within the ring */
		for (int i = 0; i < kr->n; i++) {
			if (strcmp(kr->keys[i].kid, k->kid) == 0) {
				k->kid[0] = '\0';
			}
		}
	} while (k->kid[0] == '\0');
	kr->n++;
	return 0;
}

static int save(const char *path, const struct gw_keyring *kr)
{
	size_t len = 0;
	char *t = gw_keyring_text(kr, &len);
	int rv;

	if (t == NULL) {
		return GW_ENOMEM;
	}
	rv = gw_file_write_atomic(path, t, len, 0600);
	if (rv != 0) {
		gw_errorf("keyring", "cannot write %s: %s", path, strerror(errno));
	}
	gw_keyring_wipe_free(t, len + 1);
	return rv;
}

/* Read @path into a malloc'd buffer. GW_ENOTFOUND when absent. */
static int read_file(const char *path, char **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	if (f == NULL) {
		if (errno == ENOENT) {
			return GW_ENOTFOUND;
		}
		gw_errorf("keyring", "cannot open %s: %s", path, strerror(errno));
		return GW_EIO;
	}
	buf = malloc(GW_KEYRING_MAX * 80 + 2);
	if (buf == NULL) {
		fclose(f);
		return GW_ENOMEM;
	}
	n = fread(buf, 1, GW_KEYRING_MAX * 80 + 1, f);
	fclose(f);
	if (n > GW_KEYRING_MAX * 80) {
		gw_errorf("keyring", "%s is too large", path);
		gw_keyring_wipe_free(buf, GW_KEYRING_MAX * 80 + 2);
		return GW_EINVAL;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

int gw_keyring_load(const char *dir, bool create, struct gw_keyring **out)
{
	char path[4200];
	char *text = NULL;
	size_t len = 0;
	struct gw_keyring *kr;
	struct stat st;
	int rv;

	snprintf(path, sizeof path, "%s/%s", dir, GW_KEYRING_FILE);
	rv = read_file(path, &text, &len);
	if (rv == GW_ENOTFOUND && create) {
		kr = calloc(1, sizeof(*kr));
		if (kr == NULL) {
			return GW_ENOMEM;
		}
		rv = add_key(kr);
		if (rv == 0) {
			rv = save(path, kr);
		}
		if (rv != 0) {
			gw_keyring_free(kr);
			return rv;
		}
		gw_infof("keyring", "created %s (key %s)", path, kr->keys[0].kid);
		*out = kr;
		return 0;
	}
	if (rv != 0) {
		return rv;
	}
	if (stat(path, &st) == 0 && (st.st_mode & 077) != 0) {
		gw_warnf("keyring", "%s is readable by others (mode %o): chmod 600", path,
			 (unsigned)(st.st_mode & 0777));
	}
	rv = gw_keyring_parse(text, len, out);
	gw_keyring_wipe_free(text, len + 1);
	return rv;
}

int gw_keyring_save(const char *dir, const struct gw_keyring *kr)
{
	char path[4200];

	snprintf(path, sizeof path, "%s/%s", dir, GW_KEYRING_FILE);
	return save(path, kr);
}

int gw_keyring_rotate(const char *dir, char kid_out[9])
{
	char path[4200];
	struct gw_keyring *kr = NULL;
	int rv = gw_keyring_load(dir, false, &kr);

	if (rv != 0) {
		return rv;
	}
	snprintf(path, sizeof path, "%s/%s", dir, GW_KEYRING_FILE);
	rv = add_key(kr);
	if (rv == 0) {
		rv = save(path, kr);
	}
	if (rv == 0) {
		memcpy(kid_out, kr->keys[kr->n - 1].kid, KID_LEN + 1);
	}
	gw_keyring_free(kr);
	return rv;
}

int gw_keyring_count(const struct gw_keyring *kr)
{
	return kr->n;
}

const char *gw_keyring_current(const struct gw_keyring *kr)
{
	return kr->keys[kr->n - 1].kid;
}

bool gw_keyring_is_sealed(const char *s)
{
	return s != NULL && strncmp(s, GW_KEYRING_PREFIX, strlen(GW_KEYRING_PREFIX)) == 0;
}

/* One AES-256-GCM pass: encrypt when @enc, else decrypt and verify @tag.
 * 0, GW_ECORRUPT (tag mismatch) or GW_EIO. */
static int gcm(bool enc, const unsigned char *key, const unsigned char *nonce, const char *aad,
	       const unsigned char *in, size_t len, unsigned char *out, unsigned char *tag)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n = 0, rv = GW_EIO;

	if (c == NULL) {
		return GW_ENOMEM;
	}
	if (EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) != 1 ||
	    EVP_CipherInit_ex(c, NULL, NULL, key, nonce, enc) != 1) {
		goto out;
	}
	if (aad != NULL && *aad != '\0' &&
	    EVP_CipherUpdate(c, NULL, &n, (const unsigned char *)aad, (int)strlen(aad)) != 1) {
		goto out;
	}
	if (len > 0 && EVP_CipherUpdate(c, out, &n, in, (int)len) != 1) {
		goto out;
	}
	if (!enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) != 1) {
		goto out;
	}
	if (EVP_CipherFinal_ex(c, out + n, &n) != 1) {
		rv = enc ? GW_EIO : GW_ECORRUPT;
		goto out;
	}
	if (enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) != 1) {
		goto out;
	}
	rv = 0;
out:
	EVP_CIPHER_CTX_free(c);
	return rv;
}

int gw_keyring_seal(const struct gw_keyring *kr, const char *aad, const void *plain, size_t len,
		    char **out)
{
	const struct key *k = &kr->keys[kr->n - 1];
	size_t raw_len = NONCE_LEN + len + TAG_LEN, plen = strlen(GW_KEYRING_PREFIX);
	unsigned char *raw;
	char *s;
	int rv;

	if (len > MAX_SECRET) {
		return GW_EINVAL;
	}
	raw = malloc(raw_len);
	s = malloc(plen + KID_LEN + 1 + 4 * ((raw_len + 2) / 3) + 1);
	if (raw == NULL || s == NULL) {
		free(raw);
		free(s);
		return GW_ENOMEM;
	}
	rv = gw_rand_bytes(raw, NONCE_LEN) != 0 ? GW_EIO : 0;
	if (rv == 0) {
		rv = gcm(true, k->k, raw, aad, plain, len, raw + NONCE_LEN, raw + NONCE_LEN + len);
	}
	if (rv == 0) {
		memcpy(s, GW_KEYRING_PREFIX, plen);
		memcpy(s + plen, k->kid, KID_LEN);
		s[plen + KID_LEN] = ':';
		EVP_EncodeBlock((unsigned char *)s + plen + KID_LEN + 1, raw, (int)raw_len);
		*out = s;
	} else {
		free(s);
	}
	free(raw);
	return rv;
}

/* Decode base64 @b64 (@n chars) into a malloc'd buffer. GW_EINVAL if bad. */
static int unbase64(const char *b64, size_t n, unsigned char **out, size_t *out_len)
{
	unsigned char *buf;
	int got;
	size_t pad = 0;

	if (n == 0 || n % 4 != 0 || n > 4 * ((MAX_SECRET + NONCE_LEN + TAG_LEN + 2) / 3)) {
		return GW_EINVAL;
	}
	buf = malloc(n / 4 * 3 + 1);
	if (buf == NULL) {
		return GW_ENOMEM;
	}
	got = EVP_DecodeBlock(buf, (const unsigned char *)b64, (int)n);
	if (got < 0) {
		free(buf);
		return GW_EINVAL;
	}
	pad = (size_t)(b64[n - 1] == '=') + (size_t)(b64[n - 2] == '=');
	*out = buf;
	*out_len = (size_t)got - pad;
	return 0;
}

int gw_keyring_open(const struct gw_keyring *kr, const char *aad, const char *blob, char **out,
		    size_t *out_len)
{
	size_t plen = strlen(GW_KEYRING_PREFIX), raw_len = 0, len;
	const struct key *k = NULL;
	unsigned char *raw = NULL;
	char *plain;
	int rv;

	if (!gw_keyring_is_sealed(blob) || strlen(blob) < plen + KID_LEN + 1 ||
	    blob[plen + KID_LEN] != ':') {
		return GW_EINVAL;
	}
	for (int i = 0; i < kr->n; i++) {
		if (strncmp(kr->keys[i].kid, blob + plen, KID_LEN) == 0) {
			k = &kr->keys[i];
		}
	}
	if (k == NULL) {
		return GW_ENOTFOUND;
	}
	blob += plen + KID_LEN + 1;
	rv = unbase64(blob, strlen(blob), &raw, &raw_len);
	if (rv != 0) {
		return rv;
	}
	if (raw_len < NONCE_LEN + TAG_LEN) {
		free(raw);
		return GW_EINVAL;
	}
	len = raw_len - NONCE_LEN - TAG_LEN;
	plain = malloc(len + 1);
	if (plain == NULL) {
		free(raw);
		return GW_ENOMEM;
	}
	rv = gcm(false, k->k, raw, aad, raw + NONCE_LEN, len, (unsigned char *)plain,
		 raw + NONCE_LEN + len);
	free(raw);
	if (rv != 0) {
		gw_keyring_wipe_free(plain, len + 1);
		return rv;
	}
	plain[len] = '\0';
	*out = plain;
	*out_len = len;
	return 0;
}

void gw_keyring_set_default(struct gw_keyring *kr)
{
	struct gw_keyring *prev = atomic_exchange(&default_ring, kr);

	if (prev != NULL) {
		/* a reader on another thread may still hold it: keep it */
		prev->older = retired;
		retired = prev;
	}
	if (kr == NULL) {
		while (retired != NULL) {
			prev = retired;
			retired = prev->older;
			gw_keyring_free(prev);
		}
	}
}

int gw_keyring_kid_of(const char *blob, char kid[9])
{
	size_t plen = strlen(GW_KEYRING_PREFIX);

	if (!gw_keyring_is_sealed(blob) || strlen(blob) < plen + KID_LEN + 1 ||
	    blob[plen + KID_LEN] != ':') {
		return GW_EINVAL;
	}
	memcpy(kid, blob + plen, KID_LEN);
	kid[KID_LEN] = '\0';
	return 0;
}

int gw_keyring_reseal(const struct gw_keyring *kr, const char *aad, const char *blob, char **out)
{
	char kid[KID_LEN + 1], *plain = NULL;
	size_t len = 0;
	int rv;

	*out = NULL;
	rv = gw_keyring_kid_of(blob, kid);
	if (rv != 0 || strcmp(kid, gw_keyring_current(kr)) == 0) {
		return rv;
	}
	rv = gw_keyring_open(kr, aad, blob, &plain, &len);
	if (rv == 0) {
		rv = gw_keyring_seal(kr, aad, plain, len, out);
		gw_keyring_wipe_free(plain, len + 1);
	}
	return rv;
}

const struct gw_keyring *gw_keyring_default(void)
{
	return atomic_load(&default_ring);
}

int gw_keyring_reveal(const struct gw_keyring *kr, const char *aad, const char *s, char **out)
{
	size_t len;

	*out = NULL;
	if (!gw_keyring_is_sealed(s)) {
		*out = strdup(s);
		return *out != NULL ? 0 : GW_ENOMEM;
	}
	if (kr == NULL) {
		return GW_ENOTFOUND;
	}
	return gw_keyring_open(kr, aad, s, out, &len);
}
