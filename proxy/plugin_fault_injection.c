/* plugin_fault_injection.c: fault-injection (priority 11000), as APISIX's.
 *
 * Happy path (rewrite phase): "delay" {duration s, percentage, vars} makes
 * a request wait duration seconds before it goes upstream (plugin_delay.c's
 * timer of the worker: the loop keeps serving); "abort" {http_status,
 * body, headers, percentage, vars} answers it at once with http_status, the
 * body and headers ($vars resolved in both). Each applies to percentage%
 * of requests (all when absent) and, with vars, only to requests one of
 * whose expressions matches (APISIX's list of exprs, any of them).
 * When both hit, the request waits the delay (on the same timer) and is then
 * answered with the abort, as APISIX sleeps then aborts; no later plugin
 * runs meanwhile.
 * Failure modes: none at request time. Threads: compile on the config
 * thread, rewrite on the worker (a per-thread PRNG). */
#include "config.h"

#include "lib/err.h"
#include "lib/json.h"
#include "lib/rand.h"
#include "proxy/plugin_int.h"

#include <stdio.h>
#include <string.h>

struct fault {
	bool on;
	int percentage; /* 0..100; 100 when absent */
	struct gw_proxy__expr **vars;
	size_t n_vars; /* 0: always */
};

struct finj {
	struct fault abort, delay;
	unsigned delay_ms;
	int status;
	const char *body; /* may hold $vars, or NULL */
	const char **hname, **hvalue;
	size_t n_headers;
};

static int compile_fault(struct gw_proxy__compiler *c, const cJSON *j, struct fault *f)
{
	const cJSON *vars = cJSON_GetObjectItemCaseSensitive(j, "vars"), *it;
	int rv;

	f->on = cJSON_IsObject(j);
	f->percentage =
	    (int)gw_json_int(cJSON_GetObjectItemCaseSensitive(j, "percentage"), 0, 100, 100);
	if (!cJSON_IsArray(vars)) {
		return 0;
	}
	f->vars = gw_proxy__c_alloc(c, ((size_t)cJSON_GetArraySize(vars) + 1) * sizeof *f->vars);
	if (f->vars == NULL) {
		return GW_ENOMEM;
	}
	cJSON_ArrayForEach(it, vars)
	{
		if ((rv = gw_proxy__c_vars(c, it, &f->vars[f->n_vars])) != 0) {
			return rv;
		}
		f->n_vars++;
	}
	return 0;
}

static int compile(struct gw_proxy__compiler *c, const cJSON *j, const void **out)
{
	struct finj *k = gw_proxy__c_alloc(c, sizeof *k);
	const cJSON *abort = cJSON_GetObjectItemCaseSensitive(j, "abort");
	const cJSON *delay = cJSON_GetObjectItemCaseSensitive(j, "delay");
	const cJSON *body = cJSON_GetObjectItemCaseSensitive(abort, "body");
	const cJSON *hdrs = cJSON_GetObjectItemCaseSensitive(abort, "headers"), *it;
	const cJSON *dur = cJSON_GetObjectItemCaseSensitive(delay, "duration");
	size_t nh = (size_t)cJSON_GetArraySize(hdrs);
	int rv;

	if (k == NULL) {
		return GW_ENOMEM;
	}
	if ((rv = compile_fault(c, abort, &k->abort)) != 0 ||
	    (rv = compile_fault(c, delay, &k->delay)) != 0) {
		return rv;
	}
	if (cJSON_IsNumber(dur)) {
		double ms = dur->valuedouble * 1000.0;
		k->delay_ms = ms > 86400000.0 ? 86400000u : ms > 0 ? (unsigned)ms : 0;
	}
	k->status =
	    (int)gw_json_int(cJSON_GetObjectItemCaseSensitive(abort, "http_status"), 200, 599, 200);
	if (cJSON_IsString(body) && (k->body = gw_proxy__c_strdup(c, body->valuestring)) == NULL) {
		return GW_ENOMEM;
	}
	k->hname = gw_proxy__c_alloc(c, (nh + 1) * sizeof *k->hname);
	k->hvalue = gw_proxy__c_alloc(c, (nh + 1) * sizeof *k->hvalue);
	if (k->hname == NULL || k->hvalue == NULL) {
		return GW_ENOMEM;
	}
	cJSON_ArrayForEach(it, hdrs)
	{
		char num[32];
		const char *v = num;
		if (cJSON_IsString(it)) {
			v = it->valuestring;
		} else if (cJSON_IsNumber(it)) {
			snprintf(num, sizeof num, "%g", it->valuedouble);
		} else {
			return gw_proxy__c_fail(c, "%s", "fault-injection: header values");
		}
		k->hname[k->n_headers] = gw_proxy__c_strdup(c, it->string);
		k->hvalue[k->n_headers] = gw_proxy__c_strdup(c, v);
		if (k->hname[k->n_headers] == NULL || k->hvalue[k->n_headers] == NULL) {
			return GW_ENOMEM;
		}
		k->n_headers++;
	}
	*out = k;
	return 0;
}

/* Does fault @f apply to @r? */
static bool hit(struct gw_proxy__req *r, const struct fault *f)
{
	static _Thread_local struct gw_rand_xs xs;
	static _Thread_local bool seeded;
	bool vars = f->n_vars == 0;

	if (!f->on) {
		return false;
	}
	if (!vars) {
		struct gw_proxy__match_ctx m;
		gw_proxy__req_match_ctx(r, &m);
		for (size_t i = 0; i < f->n_vars && !vars; i++) {
			vars = gw_proxy__expr_eval(f->vars[i], &m);
		}
	}
	if (!vars) {
		return false;
	}
	if (f->percentage >= 100) {
		return true;
	}
	if (!seeded) {
		gw_rand_xs_seed(&xs);
		seeded = true;
	}
	return (int)(gw_rand_xs_next(&xs) % 100) + 1 <= f->percentage;
}

/* Answer with the abort's status, headers and body. Returns 1. */
static int abort_now(struct gw_proxy__req *r, const void *conf)
{
	const struct finj *k = conf;
	int n;

	for (size_t i = 0; i < k->n_headers; i++) {
		gw_proxy__plugin_resp_header(r, k->hname[i],
					     gw_proxy__plugin_interp(r, k->hvalue[i], &n));
	}
	return gw_proxy__plugin_respond(r, k->status,
					k->body ? gw_proxy__plugin_interp(r, k->body, &n) : NULL);
}

static int rewrite(struct gw_proxy__req *r, const void *conf)
{
	const struct finj *k = conf;
	bool abort = hit(r, &k->abort), delay = hit(r, &k->delay) && k->delay_ms > 0;

	if (abort && delay) {
		/* APISIX sleeps, then aborts: the answer waits on the delay
		 * timer and no later plugin runs */
		r->delay_ms = k->delay_ms;
		r->delay_then = abort_now;
		r->delay_then_conf = k;
		gw_proxy__plugin_delay(r);
		return 1;
	}
	if (abort) {
		return abort_now(r, k);
	}
	if (delay && k->delay_ms > r->delay_ms) {
		r->delay_ms = k->delay_ms;
	}
	return 0;
}

const struct gw_proxy__plugin gw_proxy__plugin_fault_injection = {
    .name = "fault-injection",
    .priority = 11000,
    .compile = compile,
    .rewrite = rewrite,
};
