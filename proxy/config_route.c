/* config_route.c: compile services and routes.
 *
 * Happy path: a service compiles its upstream (inline or upstream_id),
 * hosts, enable_websocket and plugins; a route resolves its upstream (inline,
 * then upstream_id, then its service's), its conditions (methods,
 * remote_addrs, vars), timeouts and merged plugins, and is added to the
 * router under every host x uri (its own hosts, else its service's).
 * Failure modes: a bad field or a missing upstream, service or
 * plugin_config fails the object (GW_EINVAL with the reason); status 0
 * routes are skipped; GW_ENOMEM. Threads: the compiling thread only. */
#include "config.h"

#include "lib/err.h"
#include "proxy/config_int.h"

#include <http_parser.h>
#include <stdlib.h>
#include <string.h>

/* ---- services and routes */

/* Status 0: not routed, and not checked either. */
bool gw_proxy__route_disabled(const cJSON *j)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "status");
	return is_num(v) && v->valuedouble == 0;
}

int gw_proxy__compile_service(struct gw_proxy__compiler *c, const cJSON *j,
			      struct gw_proxy__svc **out)
{
	struct gw_proxy__svc *s;
	const cJSON *v;
	int rv;

	if (!cJSON_IsObject(j)) {
		return fail(c, "%s", "service must be an object");
	}
	s = calloc_cfg(c, sizeof *s);
	if (s == NULL) {
		return GW_ENOMEM;
	}
	v = cJSON_GetObjectItemCaseSensitive(j, "upstream");
	if (v != NULL) {
		if ((rv = gw_proxy__compile_upstream(c, v, NULL, &s->up)) != 0) {
			return rv;
		}
		if (gw_proxy__register_upstream(c, s->up) != 0) {
			return GW_ENOMEM;
		}
	} else if ((v = cJSON_GetObjectItemCaseSensitive(j, "upstream_id")) != NULL) {
		const char *id = gw_proxy__c_scalar(c, v);
		if (id == NULL) {
			return c->oom ? GW_ENOMEM : fail(c, "%s", "upstream_id must be a string");
		}
		s->up = gw_proxy__c_dep(c, GW_PROXY__K_UPSTREAM, id);
		if (c->oom) {
			return GW_ENOMEM;
		}
		if (s->up == NULL) {
			return fail(c, "upstream_id %.64s not found", id);
		}
	}
	if ((rv = gw_proxy__c_strings(c, j, "host", "hosts", &s->hosts, &s->n_hosts)) != 0) {
		return rv;
	}
	v = cJSON_GetObjectItemCaseSensitive(j, "enable_websocket");
	s->websocket = cJSON_IsTrue(v);
	v = cJSON_GetObjectItemCaseSensitive(j, "name");
	s->name = cJSON_IsString(v) ? dup_cfg(c, v->valuestring) : NULL;
	rv = gw_proxy__compile_plugins(c, cJSON_GetObjectItemCaseSensitive(j, "plugins"),
				       &s->plugins, &s->n_plugins);
	if (rv != 0) {
		return rv;
	}
	*out = s;
	return 0;
}

int gw_proxy__compile_route(struct gw_proxy__compiler *c, const cJSON *j, const char *id,
			    int64_t seq, struct gw_proxy__route **out)
{
	struct gw_proxy__route *r;
	const char **uris, **hosts, **addrs;
	size_t n_uris, n_hosts, n_addrs;
	const struct gw_proxy__svc *s = NULL;
	const cJSON *v;
	int rv;

	if (!cJSON_IsObject(j)) {
		return fail(c, "%s", "route must be an object");
	}
	if (gw_proxy__route_disabled(j)) {
		return 1;
	}
	r = calloc_cfg(c, sizeof *r);
	if (r == NULL) {
		return GW_ENOMEM;
	}
	r->id = dup_cfg(c, id);
	r->seq = seq;
	if ((rv = gw_proxy__c_strings(c, j, "uri", "uris", &uris, &n_uris)) != 0) {
		return rv;
	}
	if (n_uris == 0) {
		return fail(c, "%s", "uri or uris is required");
	}
	for (size_t i = 0; i < n_uris; i++) {
		if (uris[i][0] != '/' && strcmp(uris[i], "*") != 0) {
			return fail(c, "uri %.64s must start with /", uris[i]);
		}
		if (strlen(uris[i]) > GW_SCHEMA_URI_MAX) {
			return fail(c, "uri longer than %d bytes", GW_SCHEMA_URI_MAX);
		}
		if (strcmp(uris[i], "*") == 0) {
			uris[i] = "/*";
		}
	}
	if ((rv = gw_proxy__c_strings(c, j, "host", "hosts", &hosts, &n_hosts)) != 0) {
		return rv;
	}
	if ((rv = gw_proxy__c_strings(c, j, "remote_addr", "remote_addrs", &addrs, &n_addrs)) !=
	    0) {
		return rv;
	}
	if (n_addrs > 0) {
		r->remote = calloc_cfg(c, n_addrs * sizeof *r->remote);
		if (r->remote == NULL) {
			return GW_ENOMEM;
		}
		for (size_t i = 0; i < n_addrs; i++) {
			if (gw_proxy__cidr_parse(addrs[i], &r->remote[i]) != 0) {
				return fail(c, "remote_addrs: bad address %.64s", addrs[i]);
			}
		}
		r->n_remote = n_addrs;
	}
	v = cJSON_GetObjectItemCaseSensitive(j, "methods");
	if (v != NULL) {
		const cJSON *it;
		if (!cJSON_IsArray(v)) {
			return fail(c, "%s", "methods must be an array");
		}
		cJSON_ArrayForEach(it, v)
		{
			int mth;
			if (!cJSON_IsString(it)) {
				return fail(c, "%s", "methods must hold strings");
			}
			for (mth = 0; mth < 32; mth++) {
				if (strcmp(http_method_str((enum http_method)mth),
					   it->valuestring) == 0) {
					break;
				}
			}
			if (mth == 32) {
				return fail(c, "unknown method %.32s", it->valuestring);
			}
			r->methods |= 1u << mth;
		}
	}
	v = cJSON_GetObjectItemCaseSensitive(j, "priority");
	if (v != NULL) {
		if (!is_num(v) || v->valuedouble < GW_SCHEMA_PRIORITY_MIN ||
		    v->valuedouble > GW_SCHEMA_PRIORITY_MAX) {
			return fail(c, "%s", "priority must be an integer");
		}
		r->priority = (int)v->valuedouble;
	}
	v = cJSON_GetObjectItemCaseSensitive(j, "vars");
	if (v != NULL && cJSON_GetArraySize(v) > 0) {
		if ((rv = gw_proxy__c_vars(c, v, &r->vars)) != 0) {
			return rv;
		}
	}
	if ((rv = gw_proxy__c_timeouts(c, j, &r->timeout)) != 0) {
		return rv;
	}
	v = cJSON_GetObjectItemCaseSensitive(j, "service_id");
	if (v != NULL) {
		const char *sid = gw_proxy__c_scalar(c, v);
		if (sid == NULL) {
			return c->oom ? GW_ENOMEM : fail(c, "%s", "service_id must be a string");
		}
		s = gw_proxy__c_dep(c, GW_PROXY__K_SERVICE, sid);
		if (c->oom) {
			return GW_ENOMEM;
		}
		if (s == NULL) {
			return fail(c, "service_id %.64s not found", sid);
		}
		r->service_id = sid;
		r->service_name = s->name;
	}
	if ((v = cJSON_GetObjectItemCaseSensitive(j, "upstream")) != NULL) {
		if ((rv = gw_proxy__compile_upstream(c, v, NULL, &r->up)) != 0) {
			return rv;
		}
		if (gw_proxy__register_upstream(c, r->up) != 0) {
			return GW_ENOMEM;
		}
	} else if ((v = cJSON_GetObjectItemCaseSensitive(j, "upstream_id")) != NULL) {
		const char *uid = gw_proxy__c_scalar(c, v);
		if (uid == NULL) {
			return c->oom ? GW_ENOMEM : fail(c, "%s", "upstream_id must be a string");
		}
		r->up = gw_proxy__c_dep(c, GW_PROXY__K_UPSTREAM, uid);
		if (c->oom) {
			return GW_ENOMEM;
		}
		if (r->up == NULL) {
			return fail(c, "upstream_id %.64s not found", uid);
		}
	} else if (s != NULL) {
		r->up = s->up;
	}
	v = cJSON_GetObjectItemCaseSensitive(j, "name");
	r->name = cJSON_IsString(v) ? dup_cfg(c, v->valuestring) : NULL;
	v = cJSON_GetObjectItemCaseSensitive(j, "enable_websocket");
	r->websocket = v != NULL ? cJSON_IsTrue(v) : (s != NULL && s->websocket);
	{
		struct gw_proxy__plugin_inst *rp;
		size_t rn;
		struct gw_proxy__pset sets[3] = {{0}};
		const struct gw_proxy__pset *pc = NULL;
		const cJSON *pcid = cJSON_GetObjectItemCaseSensitive(j, "plugin_config_id");
		if (pcid != NULL) {
			const char *pid = gw_proxy__c_scalar(c, pcid);
			if (pid == NULL) {
				return c->oom ? GW_ENOMEM
					      : fail(c, "%s", "plugin_config_id must be a string");
			}
			pc = gw_proxy__c_dep(c, GW_PROXY__K_PLUGIN_CONFIG, pid);
			if (c->oom) {
				return GW_ENOMEM;
			}
			if (pc == NULL) {
				return fail(c, "plugin_config_id %.64s not found", pid);
			}
		}
		rv = gw_proxy__compile_plugins(c, cJSON_GetObjectItemCaseSensitive(j, "plugins"),
					       &rp, &rn);
		if (rv != 0) {
			return rv;
		}
		/* precedence: route > plugin_config > service */
		sets[0] = (struct gw_proxy__pset){rp, rn};
		if (pc != NULL) {
			sets[1] = *pc;
		}
		if (s != NULL) {
			sets[2] = (struct gw_proxy__pset){s->plugins, s->n_plugins};
		}
		if ((rv = gw_proxy__merge_sets(c, sets, 3, &r->plugins, &r->n_plugins)) != 0) {
			return rv;
		}
	}
	if (n_hosts == 0 && s != NULL) {
		hosts = s->hosts;
		n_hosts = s->n_hosts;
	}
	if (c->oom) {
		return GW_ENOMEM;
	}
	r->hosts = hosts;
	r->n_hosts = n_hosts;
	r->uris = uris;
	r->n_uris = n_uris;
	r->unit = c->u;
	*out = r;
	return 0;
}
