/* ct.h: comparison of secrets in constant time.
 *
 * An API key or join secret compared with strcmp answers a wrong guess
 * sooner the earlier it differs, which lets a patient client learn the
 * secret byte by byte from response times. gw_ct_equal always reads the
 * whole secret, whatever was given, so its time depends only on the
 * secret's length (public: keys are fixed-size hex). Pure functions; any
 * thread. */
#ifndef GW_CT_H
#define GW_CT_H

#include <stdbool.h>
#include <stddef.h>

/* True when the @given_len bytes at @given equal the @secret_len bytes at
 * @secret. Reads all of @secret every time; returns false for any length
 * mismatch (after the same work). Neither pointer is kept. */
bool gw_ct_equal(const void *given, size_t given_len, const void *secret, size_t secret_len);

/* gw_ct_equal of two NUL-terminated strings; false when either is NULL or
 * @secret is empty (an unset secret never matches). */
bool gw_ct_streq(const char *given, const char *secret);

#endif
