/* json.c: the strict JSON parse (see json.h).
 *
 * Happy path: a depth scan that skips strings (so cJSON never recurses
 * past the bound), cJSON's parse without its NUL-termination requirement,
 * a check that only JSON whitespace follows the value, then a walk of the
 * tree in which every object's keys are sorted (an array of pointers, on
 * the stack for small objects) and neighbours compared: O(n log n) per
 * object, so a body of 100,000 keys costs milliseconds, not a quadratic
 * scan. Failure modes: GW_EINVAL with the first reason found; GW_ENOMEM
 * when an object's key array cannot be allocated. */
#include "config.h"

#include "lib/json.h"
#include "lib/err.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SMALL_OBJECT 16 /* keys sorted on the stack */
#define KEY_SHOWN    64 /* bytes of a duplicate key quoted in the reason */

int gw_json_depth(const char *p, size_t len, int limit)
{
	int depth = 0, max = 0;
	bool in_str = false;
	size_t i;

	for (i = 0; i < len; i++) {
		char c = p[i];

		if (in_str) {
			if (c == '\\') {
				i++;
			} else if (c == '"') {
				in_str = false;
			}
			continue;
		}
		if (c == '"') {
			in_str = true;
		} else if (c == '{' || c == '[') {
			if (++depth > max) {
				max = depth;
				if (max > limit) {
					return limit + 1;
				}
			}
		} else if (c == '}' || c == ']') {
			depth--;
		}
	}
	return max;
}

static int cmp_keys(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* "duplicate key \"<key>\"" into @err, the key cut to KEY_SHOWN bytes and
 * anything but printable ASCII shown as '?' (the reason is echoed to
 * clients and may reach a log). */
static void dup_reason(const char *key, char *err, size_t errlen)
{
	char shown[KEY_SHOWN + 1];
	size_t i;

	for (i = 0; i < KEY_SHOWN && key[i] != '\0'; i++) {
		unsigned char c = (unsigned char)key[i];
		shown[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	shown[i] = '\0';
	snprintf(err, errlen, "duplicate key \"%s\"%s", shown, key[i] != '\0' ? " (cut)" : "");
}

/* GW_EINVAL if object @o holds a key twice, GW_ENOMEM, else 0. */
static int object_keys_unique(const cJSON *o, char *err, size_t errlen)
{
	const char *small[SMALL_OBJECT], **keys = small;
	const cJSON *c;
	size_t n = 0, i;
	int rv = 0;

	for (c = o->child; c != NULL; c = c->next) {
		n++;
	}
	if (n < 2) {
		return 0;
	}
	if (n > SMALL_OBJECT) {
		keys = malloc(n * sizeof *keys);
		if (keys == NULL) {
			return GW_ENOMEM;
		}
	}
	for (c = o->child, i = 0; c != NULL; c = c->next) {
		keys[i++] = c->string != NULL ? c->string : "";
	}
	qsort(keys, n, sizeof *keys, cmp_keys);
	for (i = 1; i < n; i++) {
		if (strcmp(keys[i - 1], keys[i]) == 0) {
			dup_reason(keys[i], err, errlen);
			rv = GW_EINVAL;
			break;
		}
	}
	if (keys != small) {
		free(keys);
	}
	return rv;
}

/* Check every object under @v (included). Recursion is bounded by the
 * depth the parse accepted. */
static int keys_unique(const cJSON *v, char *err, size_t errlen)
{
	const cJSON *c;
	int rv;

	if (cJSON_IsObject(v)) {
		rv = object_keys_unique(v, err, errlen);
		if (rv != 0) {
			return rv;
		}
	} else if (!cJSON_IsArray(v)) {
		return 0;
	}
	for (c = v->child; c != NULL; c = c->next) {
		rv = keys_unique(c, err, errlen);
		if (rv != 0) {
			return rv;
		}
	}
	return 0;
}

static bool json_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int gw_json_parse_strict(const char *p, size_t len, int max_depth, cJSON **out, char *err,
			 size_t errlen)
{
	const char *end = NULL;
	cJSON *v;
	size_t i;
	int rv;

	*out = NULL;
	if (max_depth > 0 && gw_json_depth(p, len, max_depth) > max_depth) {
		snprintf(err, errlen, "JSON nested deeper than %d levels", max_depth);
		return GW_EINVAL;
	}
	v = len > 0 ? cJSON_ParseWithLengthOpts(p, len, &end, false) : NULL;
	if (v == NULL) {
		snprintf(err, errlen, "malformed JSON at byte %zu",
			 end != NULL && end >= p ? (size_t)(end - p) : (size_t)0);
		return GW_EINVAL;
	}
	for (i = (size_t)(end - p); i < len && json_space(p[i]); i++) {
	}
	if (i < len) {
		snprintf(err, errlen, "trailing bytes after the JSON value at byte %zu", i);
		cJSON_Delete(v);
		return GW_EINVAL;
	}
	rv = keys_unique(v, err, errlen);
	if (rv != 0) {
		cJSON_Delete(v);
		return rv;
	}
	*out = v;
	return 0;
}

int64_t gw_json_int(const cJSON *j, int64_t lo, int64_t hi, int64_t dflt)
{
	double d;

	if (!cJSON_IsNumber(j) || j->valuedouble != j->valuedouble) {
		return dflt;
	}
	d = j->valuedouble;
	if (d <= (double)lo) {
		return lo;
	}
	if (d >= (double)hi) {
		return hi;
	}
	return (int64_t)d;
}
