/* config_expr.c: compile APISIX "vars" expressions (lua-resty-expr) of
 * routes and plugins into struct gw_proxy__expr trees, evaluated by
 * router.c.
 *
 * Happy path: ["AND"|"OR"|"!AND"|"!OR", expr...] nests up to 16 levels, a
 * leaf is [var, op, value] or [var, "!", op, value]; values are converted
 * once here (numbers, lists, CIDRs, compiled regexes). Failure modes: a
 * malformed expression fails its object with GW_EINVAL and the reason; out of
 * memory is GW_ENOMEM. Threads: the compiling thread only. */
#include "config.h"

#include "lib/err.h"
#include "proxy/config_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- vars expressions */

static int compile_cmp(struct gw_proxy__compiler *c, const cJSON *arr, struct gw_proxy__expr *e)
{
	int n = cJSON_GetArraySize(arr), k = 1, i;
	const cJSON *var = cJSON_GetArrayItem(arr, 0), *op, *val;

	e->kind = GW_PROXY__EXPR_CMP;
	op = cJSON_GetArrayItem(arr, k);
	if (cJSON_IsString(op) && strcmp(op->valuestring, "!") == 0) {
		e->neg = true;
		op = cJSON_GetArrayItem(arr, ++k);
	}
	if (n != k + 2 || !cJSON_IsString(op)) {
		return fail(c, "%s", "vars: expected [var, op, value] or [var, \"!\", op, value]");
	}
	val = cJSON_GetArrayItem(arr, k + 1);
	e->var = dup_cfg(c, var->valuestring);
	if ((i = gw_schema_enum_find(&gw_schema_vars_op, op->valuestring)) < 0) {
		return fail(c, "vars: unknown operator %.32s", op->valuestring);
	}
	e->op = (enum gw_proxy__op)i;
	switch (e->op) {
	case GW_PROXY__OP_EQ:
	case GW_PROXY__OP_NE:
		if (is_num(val)) {
			e->has_num = true;
			e->num = val->valuedouble;
		} else if ((e->str = gw_proxy__c_scalar(c, val)) == NULL) {
			return c->oom ? GW_ENOMEM : fail(c, "%s", "vars: == needs a scalar value");
		}
		break;
	case GW_PROXY__OP_GT:
	case GW_PROXY__OP_GE:
	case GW_PROXY__OP_LT:
	case GW_PROXY__OP_LE:
		if (is_num(val)) {
			e->num = val->valuedouble;
		} else if (cJSON_IsString(val)) {
			char *end;
			e->num = strtod(val->valuestring, &end);
			if (*end != '\0' || val->valuestring[0] == '\0') {
				return fail(c, "%s", "vars: comparison needs a number");
			}
		} else {
			return fail(c, "%s", "vars: comparison needs a number");
		}
		e->has_num = true;
		break;
	case GW_PROXY__OP_RE:
	case GW_PROXY__OP_REI: {
		unsigned flags = e->op == GW_PROXY__OP_REI ? GW_REGEX_CASELESS : 0;
		if (!cJSON_IsString(val)) {
			return fail(c, "%s", "vars: regex must be a string");
		}
		int rv = gw_proxy__c_regex(c, val->valuestring, flags, &e->re);
		if (rv != 0) {
			return rv;
		}
		break;
	}
	case GW_PROXY__OP_IN:
	case GW_PROXY__OP_HAS: {
		const cJSON *it;
		size_t m = 0;
		if (e->op == GW_PROXY__OP_IN && !cJSON_IsArray(val)) {
			return fail(c, "%s", "vars: in needs an array");
		}
		e->list = calloc_cfg(c, ((size_t)cJSON_GetArraySize(val) + 1) * sizeof *e->list);
		if (e->list == NULL) {
			return GW_ENOMEM;
		}
		if (!cJSON_IsArray(val)) {
			if ((e->list[m++] = gw_proxy__c_scalar(c, val)) == NULL) {
				return c->oom ? GW_ENOMEM : fail(c, "%s", "vars: bad has value");
			}
		} else {
			cJSON_ArrayForEach(it, val)
			{
				if ((e->list[m++] = gw_proxy__c_scalar(c, it)) == NULL) {
					return c->oom ? GW_ENOMEM
						      : fail(c, "%s", "vars: bad list value");
				}
			}
		}
		e->n_list = m;
		break;
	}
	case GW_PROXY__OP_IPMATCH: {
		const cJSON *it;
		size_t m = 0;
		e->cidrs = calloc_cfg(c, ((size_t)cJSON_GetArraySize(val) + 1) * sizeof *e->cidrs);
		if (e->cidrs == NULL) {
			return GW_ENOMEM;
		}
		if (cJSON_IsString(val)) {
			if (gw_proxy__cidr_parse(val->valuestring, &e->cidrs[m++]) != 0) {
				return fail(c, "vars: bad ipmatch %.64s", val->valuestring);
			}
		} else if (cJSON_IsArray(val)) {
			cJSON_ArrayForEach(it, val)
			{
				if (!cJSON_IsString(it) ||
				    gw_proxy__cidr_parse(it->valuestring, &e->cidrs[m++]) != 0) {
					return fail(c, "%s", "vars: bad ipmatch address");
				}
			}
		} else {
			return fail(c, "%s", "vars: ipmatch needs a string or an array");
		}
		e->n_cidrs = m;
		break;
	}
	}
	return c->oom ? GW_ENOMEM : 0;
}

static int compile_expr(struct gw_proxy__compiler *c, const cJSON *arr, int depth,
			struct gw_proxy__expr **out)
{
	struct gw_proxy__expr *e;
	const cJSON *first, *it;
	int n, start = 0;

	if (!cJSON_IsArray(arr) || depth > 16) {
		return fail(c, "%s", "vars: expected an array (nesting at most 16)");
	}
	e = calloc_cfg(c, sizeof *e);
	if (e == NULL) {
		return GW_ENOMEM;
	}
	*out = e;
	n = cJSON_GetArraySize(arr);
	first = cJSON_GetArrayItem(arr, 0);
	e->kind = GW_PROXY__EXPR_AND;
	if (cJSON_IsString(first)) {
		const char *s = first->valuestring;
		bool logical = cJSON_IsArray(cJSON_GetArrayItem(arr, 1));
		if (logical && (strcasecmp(s, "AND") == 0 || strcasecmp(s, "!AND") == 0)) {
			e->neg = s[0] == '!';
		} else if (logical && (strcasecmp(s, "OR") == 0 || strcasecmp(s, "!OR") == 0)) {
			e->kind = GW_PROXY__EXPR_OR;
			e->neg = s[0] == '!';
		} else {
			return compile_cmp(c, arr, e);
		}
		start = 1;
	}
	e->kids = calloc_cfg(c, (size_t)(n > 0 ? n : 1) * sizeof *e->kids);
	if (e->kids == NULL) {
		return GW_ENOMEM;
	}
	int i = 0;
	cJSON_ArrayForEach(it, arr)
	{
		int rv;
		if (i++ < start) {
			continue;
		}
		rv = compile_expr(c, it, depth + 1, &e->kids[e->n_kids++]);
		if (rv != 0) {
			return rv;
		}
	}
	return 0;
}

int gw_proxy__c_vars(struct gw_proxy__compiler *c, const cJSON *arr, struct gw_proxy__expr **out)
{
	*out = NULL;
	if (cJSON_GetArraySize(arr) == 0 && cJSON_IsArray(arr)) {
		return 0;
	}
	return compile_expr(c, arr, 0, out);
}
