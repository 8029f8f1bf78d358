/* json.h: the strict JSON parse of every body an API takes from a client.
 *
 * cJSON alone accepts two things a configuration API must not: an object
 * with the same key twice ({"uri":"/a","uri":5}: cJSON keeps both, readers
 * see the first, other parsers the last) and bytes after the value
 * ({...}xxx). gw_json_parse_strict refuses both, and nesting deeper than a
 * bound before cJSON recurses into it. Happy path: one call, a cJSON tree
 * the caller owns. Failure modes: GW_EINVAL with the reason in words a
 * client can act on ("duplicate key \"uri\"", "trailing bytes after the
 * JSON value at byte 13", "malformed JSON at byte 4", "JSON nested deeper
 * than 64 levels"); GW_ENOMEM. Any thread (no shared state). */
#ifndef GW_JSON_H
#define GW_JSON_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

/* Parse the @len bytes at @p (no NUL needed) as exactly one JSON value,
 * optionally surrounded by JSON whitespace (space, tab, CR, LF), with no
 * object holding a key twice at any depth and arrays/objects nested at
 * most @max_depth levels (0: cJSON's own limit). 0 with the tree in *@out
 * (the caller frees it with cJSON_Delete); else *@out is NULL and the
 * result is GW_EINVAL with the reason in @err (NUL-terminated, truncated to
 * @errlen) or GW_ENOMEM. */
int gw_json_parse_strict(const char *p, size_t len, int max_depth, cJSON **out, char *err,
			 size_t errlen);

/* Depth of the deepest nesting of arrays/objects in JSON text, counted
 * without parsing (strings skipped), capped at @limit + 1. */
int gw_json_depth(const char *p, size_t len, int limit);

/* The number @j as an integer: @dflt when @j is not a number (or NaN),
 * else truncated toward zero and clamped to [@lo, @hi]. Converting a double
 * outside the target type is undefined behaviour in C, and configuration
 * and peers can hold any number (1e300, -0.5): every integer read from
 * JSON that is not range-checked first goes through here. */
int64_t gw_json_int(const cJSON *j, int64_t lo, int64_t hi, int64_t dflt);

#endif
