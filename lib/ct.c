/* ct.c: constant-time comparison (see ct.h). The loop runs over the
 * secret's length and folds every difference into one accumulator read
 * through volatile pointers, so the compiler cannot stop at the first
 * difference; the only branch depends on the given length, which the
 * caller's peer already knows. No failure modes. */
#include "config.h"

#include "lib/ct.h"

#include <string.h>

bool gw_ct_equal(const void *given, size_t given_len, const void *secret, size_t secret_len)
{
	const volatile unsigned char *g = given, *s = secret;
	unsigned char diff = 0;
	size_t i;

	for (i = 0; i < secret_len; i++) {
		unsigned char gc = i < given_len ? g[i] : 0;
		diff |= (unsigned char)(gc ^ s[i]);
	}
	return (diff | (unsigned char)(given_len != secret_len)) == 0;
}

bool gw_ct_streq(const char *given, const char *secret)
{
	if (given == NULL || secret == NULL || secret[0] == '\0') {
		return false;
	}
	return gw_ct_equal(given, strlen(given), secret, strlen(secret));
}
