/* config_util.c: field helpers shared by every object kind of the config
 * compiler, and the helpers plugins' compile functions use (proxy_int.h).
 *
 * Happy path: a field present and well-formed is converted into the
 * snapshot's arena. Failure modes: a malformed field records why (fail) and
 * returns GW_EINVAL; an allocation failure sets c->oom and returns
 * GW_ENOMEM. Threads: the compiling thread only. */
#include "config.h"

#include "lib/err.h"
#include "proxy/config_int.h"
#include "proxy/plugin_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Seconds (a number the schema bounds; 0 where it allows 0) to
 * milliseconds; a positive value is at least 1 ms. */
int gw_proxy__c_secs(struct gw_proxy__compiler *c, const cJSON *obj, const char *name,
		     unsigned *out)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, name);
	if (j == NULL) {
		return 0;
	}
	if (!is_num(j) || j->valuedouble < 0 || j->valuedouble > GW_SCHEMA_SECONDS_MAX) {
		return fail(c, "%s must be a number of seconds", name);
	}
	*out = (unsigned)(j->valuedouble * 1000 + 0.5);
	if (*out == 0 && j->valuedouble > 0) {
		*out = 1;
	}
	return 0;
}

int gw_proxy__c_timeouts(struct gw_proxy__compiler *c, const cJSON *obj,
			 struct gw_proxy__timeouts *t)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, "timeout");
	int rv;
	if (j == NULL) {
		return 0;
	}
	if ((rv = gw_proxy__c_secs(c, j, "connect", &t->connect_ms)) != 0 ||
	    (rv = gw_proxy__c_secs(c, j, "send", &t->send_ms)) != 0 ||
	    (rv = gw_proxy__c_secs(c, j, "read", &t->read_ms)) != 0) {
		return rv;
	}
	return 0;
}

/* The C value of the enumerated field @e of @obj (its default if absent),
 * or GW_EINVAL naming the field. */
int gw_proxy__c_enum(struct gw_proxy__compiler *c, const cJSON *obj, const struct gw_schema_enum *e)
{
	int v = gw_schema_enum_value(e, cJSON_GetObjectItemCaseSensitive(obj, e->field));
	return v >= 0 ? v : fail(c, "%s: unknown value", e->field);
}

int gw_proxy__c_strings(struct gw_proxy__compiler *c, const cJSON *obj, const char *one,
			const char *many, const char ***out, size_t *n)
{
	const cJSON *j1 = cJSON_GetObjectItemCaseSensitive(obj, one);
	const cJSON *jn = cJSON_GetObjectItemCaseSensitive(obj, many);
	const cJSON *it;
	size_t i = 0;

	*out = NULL;
	*n = 0;
	if (j1 != NULL && jn != NULL) {
		return fail(c, "only one of %s and its plural may be set", one);
	}
	if (j1 != NULL) {
		if (!cJSON_IsString(j1) || j1->valuestring[0] == '\0') {
			return fail(c, "%s must be a non-empty string", one);
		}
		*out = calloc_cfg(c, sizeof **out);
		if (*out == NULL) {
			return GW_ENOMEM;
		}
		(*out)[0] = dup_cfg(c, j1->valuestring);
		*n = 1;
		return c->oom ? GW_ENOMEM : 0;
	}
	if (jn == NULL) {
		return 0;
	}
	if (!cJSON_IsArray(jn) || cJSON_GetArraySize(jn) == 0) {
		return fail(c, "%s must be a non-empty array", many);
	}
	*out = calloc_cfg(c, (size_t)cJSON_GetArraySize(jn) * sizeof **out);
	if (*out == NULL) {
		return GW_ENOMEM;
	}
	cJSON_ArrayForEach(it, jn)
	{
		if (!cJSON_IsString(it) || it->valuestring[0] == '\0') {
			return fail(c, "%s must hold non-empty strings", many);
		}
		(*out)[i++] = dup_cfg(c, it->valuestring);
	}
	*n = i;
	return c->oom ? GW_ENOMEM : 0;
}

const char *gw_proxy__c_scalar(struct gw_proxy__compiler *c, const cJSON *v)
{
	char tmp[64];
	if (cJSON_IsString(v)) {
		return dup_cfg(c, v->valuestring);
	}
	if (is_num(v)) {
		if (v->valuedouble == floor(v->valuedouble) && fabs(v->valuedouble) < 1e15) {
			snprintf(tmp, sizeof tmp, "%lld", (long long)v->valuedouble);
		} else {
			snprintf(tmp, sizeof tmp, "%.17g", v->valuedouble);
		}
		return dup_cfg(c, tmp);
	}
	if (cJSON_IsBool(v)) {
		return dup_cfg(c, cJSON_IsTrue(v) ? "true" : "false");
	}
	return NULL;
}

/* ---- helpers exported to plugins */

void *gw_proxy__c_alloc(struct gw_proxy__compiler *c, size_t n)
{
	return calloc_cfg(c, n);
}

const char *gw_proxy__c_strdup(struct gw_proxy__compiler *c, const char *s)
{
	return dup_cfg(c, s);
}

int gw_proxy__c_fail(struct gw_proxy__compiler *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->whybuf, sizeof c->whybuf, fmt, ap);
	va_end(ap);
	c->why = c->whybuf;
	return GW_EINVAL;
}

int gw_proxy__c_regex(struct gw_proxy__compiler *c, const char *pattern, unsigned flags,
		      struct gw_regex **out)
{
	struct gw_proxy__unit *u = c->u;
	struct gw_regex *re;
	char why[256];
	int rv = gw_regex_compile(pattern, flags, &re, why, sizeof why);

	if (rv != 0) {
		return rv == GW_ENOMEM ? rv : fail(c, "bad regex %.64s: %s", pattern, why);
	}
	if ((u->n_regexes & (u->n_regexes - 1)) == 0) {
		size_t cap = u->n_regexes ? u->n_regexes * 2 : 1;
		void *p = realloc(u->regexes, cap * sizeof *u->regexes);
		if (p == NULL) {
			gw_regex_free(re);
			c->oom = true;
			return GW_ENOMEM;
		}
		u->regexes = p;
	}
	u->regexes[u->n_regexes++] = re;
	*out = re;
	return 0;
}

int gw_proxy__c_on_free(struct gw_proxy__compiler *c, void (*fn)(void *arg), void *arg)
{
	struct gw_proxy__cleanup *k = calloc_cfg(c, sizeof *k);
	if (k == NULL) {
		return GW_ENOMEM;
	}
	k->fn = fn;
	k->arg = arg;
	k->next = c->u->cleanups;
	c->u->cleanups = k;
	return 0;
}

const char *gw_proxy__c_object(struct gw_proxy__compiler *c, const char *set)
{
	if (set != NULL) {
		c->obj = set[0] != '\0' ? set : NULL;
		return set;
	}
	return c->obj != NULL ? c->obj : gw_proxy__c_key(c);
}

bool gw_proxy__c_key_id(const struct gw_proxy_kv *kv, const char *prefix, char *id, size_t cap)
{
	size_t pl = strlen(prefix), n;

	if (kv->key_len <= pl || memcmp(kv->key, prefix, pl) != 0) {
		return false;
	}
	n = kv->key_len - pl;
	if (n >= cap || memchr(kv->key + pl, '/', n) != NULL) {
		return false;
	}
	memcpy(id, kv->key + pl, n);
	id[n] = '\0';
	return true;
}

int gw_proxy__c_plugins(struct gw_proxy__compiler *c, const cJSON *obj,
			struct gw_proxy__plugin_inst **out, size_t *n)
{
	return gw_proxy__compile_plugins(c, obj, out, n);
}
