/* config_upstream.c: compile upstream objects (named, or inline in a route
 * or a service) into struct gw_proxy__upstream.
 *
 * Happy path: the balancer type, nodes (numeric IPs, or host names: one
 * node per address the resolver holds for the name, dns_int.h; weight 0
 * nodes dropped; stable-sorted by priority desc), hash key, retries, timeouts,
 * pass_host and keepalive pool are read with schema/'s defaults and limits;
 * a chash upstream gets its ring. register_upstream gives it a balancer
 * slot in the snapshot. Failure modes: GW_EINVAL with the reason for a bad
 * field, GW_ENOMEM. Threads: the compiling thread only. */
#include "config.h"

#include "lib/err.h"
#include "proxy/config_int.h"
#include "proxy/health_int.h"
#include "proxy/tls_int.h"
#include "lib/json.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- upstreams */

/* Node @nd for address @addr (@af, binary) and port @port; @host names the
 * node in Host headers (the IP, or the host name it was resolved from). */
static void make_node(struct gw_proxy__node *nd, int af, const void *addr, const char *host,
		      long port, double weight, double priority)
{
	memset(nd, 0, sizeof *nd);
	if (af == AF_INET6) {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&nd->addr;
		memcpy(&a6->sin6_addr, addr, sizeof a6->sin6_addr);
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		if (strchr(host, ':') != NULL) { /* an IPv6 literal: bracketed */
			snprintf(nd->host, sizeof nd->host, port == 80 ? "[%s]" : "[%s]:%ld", host,
				 port);
		} else { /* the host name it was resolved from */
			snprintf(nd->host, sizeof nd->host, port == 80 ? "%s" : "%s:%ld", host,
				 port);
		}
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)&nd->addr;
		memcpy(&a4->sin_addr, addr, sizeof a4->sin_addr);
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		snprintf(nd->host, sizeof nd->host, port == 80 ? "%s" : "%s:%ld", host, port);
	}
	gw_addr_format((struct sockaddr *)&nd->addr, nd->text, sizeof nd->text);
	nd->weight = (int)weight;
	nd->priority = (int)priority;
}

/* The node(s) of one "host:port" entry, appended to up->nodes (room for
 * GW_PROXY__DNS_MAX_ADDRS more): a numeric address gives one node, a host
 * name one per address it resolves to (none while never resolved), with
 * the name's weight and priority; an address already present is not
 * repeated. Weight 0: none (never chosen). 0, GW_EINVAL or GW_ENOMEM. */
static int parse_node(struct gw_proxy__compiler *c, const char *host, long port, double weight,
		      double priority, struct gw_proxy__upstream *up)
{
	char ip[GW_SCHEMA_HOST_MAX];
	unsigned char addr[16];
	struct in6_addr a6[GW_PROXY__DNS_MAX_ADDRS];
	size_t n = 0, base = up->n_nodes;
	int af, rv;

	if (port < GW_SCHEMA_PORT_MIN || port > GW_SCHEMA_PORT_MAX) {
		return fail(c, "node %s: port must be 1..65535", host);
	}
	if (!(weight >= GW_SCHEMA_WEIGHT_MIN && weight <= GW_SCHEMA_WEIGHT_MAX) ||
	    !(priority >= GW_SCHEMA_PRIORITY_MIN && priority <= GW_SCHEMA_PRIORITY_MAX)) {
		return fail(c, "node %.40s: weight or priority out of range", host);
	}
	af = gw_schema_node_ip(host, ip, sizeof ip, addr);
	if (af >= 0) {
		if ((int)weight > 0) {
			make_node(&up->nodes[up->n_nodes++], af, addr, ip, port, weight, priority);
		}
		return 0;
	}
	if (!gw_schema_node_name(host)) {
		return fail(c, "node %.40s: not an IP address or a host name", host);
	}
	rv = gw_proxy__c_resolve(c, host, a6, GW_PROXY__DNS_MAX_ADDRS, &n);
	if (rv == GW_ELIMIT) {
		return fail(c, "node %.40s: too many host names in use (at most %u)", host,
			    GW_PROXY__DNS_MAX_NAMES);
	}
	if (rv != 0) {
		return rv;
	}
	for (size_t i = 0; i < n && (int)weight > 0; i++) {
		struct gw_proxy__node nd;
		struct in_addr a4;
		bool dup = false;
		if (gw_proxy__dns_is4(&a6[i], &a4)) {
			make_node(&nd, AF_INET, &a4, host, port, weight, priority);
		} else {
			make_node(&nd, AF_INET6, &a6[i], host, port, weight, priority);
		}
		for (size_t j = 0; j < base && !dup; j++) {
			dup = strcmp(up->nodes[j].text, nd.text) == 0;
		}
		if (!dup) {
			up->nodes[up->n_nodes++] = nd;
		}
	}
	return 0;
}

static int parse_nodes(struct gw_proxy__compiler *c, const cJSON *jn, struct gw_proxy__upstream *up)
{
	size_t room = 0, n;
	const cJSON *it;
	int rv;

	/* room: one node per address, GW_PROXY__DNS_MAX_ADDRS per host name */
	cJSON_ArrayForEach(it, jn)
	{
		char hp[GW_SCHEMA_HOST_MAX], ip[GW_SCHEMA_HOST_MAX];
		unsigned char addr[16];
		const cJSON *h = cJSON_GetObjectItemCaseSensitive(it, "host");
		const char *host = cJSON_IsObject(jn)  ? hp
				   : cJSON_IsString(h) ? h->valuestring
						       : "";
		long port;
		if (cJSON_IsObject(jn) &&
		    gw_schema_node_key(it->string, hp, sizeof hp, &port) != 0) {
			hp[0] = '\0';
		}
		room +=
		    gw_schema_node_ip(host, ip, sizeof ip, addr) < 0 ? GW_PROXY__DNS_MAX_ADDRS : 1;
	}
	up->nodes = calloc_cfg(c, (room ? room : 1) * sizeof *up->nodes);
	if (up->nodes == NULL) {
		return GW_ENOMEM;
	}
	up->n_nodes = 0;
	cJSON_ArrayForEach(it, jn)
	{
		if (cJSON_IsObject(jn)) {
			/* "host:port": weight */
			char hp[GW_SCHEMA_HOST_MAX];
			long port;
			if (!is_num(it)) {
				return fail(c, "node %s: weight must be a number", it->string);
			}
			if (gw_schema_node_key(it->string, hp, sizeof hp, &port) != 0) {
				return fail(c, "node %.40s: bad host:port", it->string);
			}
			rv = parse_node(c, hp, port, it->valuedouble, 0, up);
		} else {
			const cJSON *h = cJSON_GetObjectItemCaseSensitive(it, "host");
			const cJSON *p = cJSON_GetObjectItemCaseSensitive(it, "port");
			const cJSON *w = cJSON_GetObjectItemCaseSensitive(it, "weight");
			const cJSON *pr = cJSON_GetObjectItemCaseSensitive(it, "priority");
			if (!cJSON_IsObject(it) || !cJSON_IsString(h) || !is_num(w) ||
			    (p != NULL && !is_num(p)) || (pr != NULL && !is_num(pr))) {
				return fail(c, "%s",
					    "nodes[]: need host (string), weight, optional "
					    "port and priority (numbers)");
			}
			rv = parse_node(c, h->valuestring,
					p ? (long)gw_json_int(p, -1, 65536, 80) : 80,
					w->valuedouble, pr ? pr->valuedouble : 0, up);
		}
		if (rv != 0) {
			return rv;
		}
	}
	n = up->n_nodes;
	/* Stable sort by priority desc (insertion sort: node lists are short). */
	for (size_t i = 1; i < n; i++) {
		struct gw_proxy__node t = up->nodes[i];
		size_t j = i;
		while (j > 0 && up->nodes[j - 1].priority < t.priority) {
			up->nodes[j] = up->nodes[j - 1];
			j--;
		}
		up->nodes[j] = t;
	}
	return 0;
}

int gw_proxy__compile_upstream(struct gw_proxy__compiler *c, const cJSON *j, const char *id,
			       struct gw_proxy__upstream **out)
{
	struct gw_proxy__upstream *up;
	const cJSON *v;
	int rv;

	if (!cJSON_IsObject(j)) {
		return fail(c, "%s", "upstream must be an object");
	}
	up = calloc_cfg(c, sizeof *up);
	if (up == NULL) {
		return GW_ENOMEM;
	}
	up->id = id ? dup_cfg(c, id) : NULL;
	up->retries = -1;
	up->pool_size = GW_SCHEMA_POOL_SIZE;
	up->pool_idle_ms = GW_SCHEMA_POOL_IDLE_S * 1000;
	up->pool_requests = GW_SCHEMA_POOL_REQUESTS;

	if ((rv = gw_proxy__c_enum(c, j, &gw_schema_lb)) < 0) {
		return rv;
	}
	up->type = (enum gw_proxy__lb)rv;

	v = cJSON_GetObjectItemCaseSensitive(j, "nodes");
	if (!cJSON_IsObject(v) && !cJSON_IsArray(v)) {
		return fail(c, "%s", "nodes must be an object or an array");
	}
	if ((rv = parse_nodes(c, v, up)) != 0) {
		return rv;
	}

	if ((rv = gw_proxy__c_enum(c, j, &gw_schema_hash_on)) < 0) {
		return rv;
	}
	up->hash_on = (enum gw_proxy__hash_on)rv;
	v = cJSON_GetObjectItemCaseSensitive(j, "key");
	if (v != NULL && (!cJSON_IsString(v) || v->valuestring[0] == '\0')) {
		return fail(c, "%s", "key must be a non-empty string");
	}
	if (up->type == GW_PROXY__LB_CHASH && v == NULL) {
		return fail(c, "%s", "chash needs a key");
	}
	up->key = dup_cfg(c, v ? v->valuestring : GW_SCHEMA_HASH_KEY);

	v = cJSON_GetObjectItemCaseSensitive(j, "retries");
	if (v != NULL) {
		if (!is_num(v) || v->valuedouble < 0 || v->valuedouble > GW_SCHEMA_RETRIES_MAX) {
			return fail(c, "%s", "retries must be an integer >= 0");
		}
		up->retries = (int)v->valuedouble;
	}
	if ((rv = gw_proxy__c_secs(c, j, "retry_timeout", &up->retry_timeout_ms)) != 0) {
		return rv;
	}
	if ((rv = gw_proxy__c_timeouts(c, j, &up->timeout)) != 0) {
		return rv;
	}
	if ((rv = gw_proxy__c_enum(c, j, &gw_schema_scheme)) < 0) {
		return rv;
	}
	if (gw_proxy__ssl_upstream(&c->u->arena, j, rv == GW_SCHEMA_SCHEME_HTTPS, up) != 0) {
		c->oom = true;
		return GW_ENOMEM;
	}
	if ((rv = gw_proxy__c_enum(c, j, &gw_schema_pass_host)) < 0) {
		return rv;
	}
	up->pass_host = (enum gw_proxy__pass_host)rv;
	v = cJSON_GetObjectItemCaseSensitive(j, "upstream_host");
	if (v != NULL) {
		if (!cJSON_IsString(v) || v->valuestring[0] == '\0') {
			return fail(c, "%s", "upstream_host must be a non-empty string");
		}
		up->upstream_host = dup_cfg(c, v->valuestring);
	}
	if (up->pass_host == GW_PROXY__PASS_REWRITE && up->upstream_host == NULL) {
		return fail(c, "%s", "pass_host rewrite needs upstream_host");
	}
	v = cJSON_GetObjectItemCaseSensitive(j, "keepalive_pool");
	if (v != NULL) {
		const cJSON *s = cJSON_GetObjectItemCaseSensitive(v, "size");
		const cJSON *r = cJSON_GetObjectItemCaseSensitive(v, "requests");
		if (!cJSON_IsObject(v) || (s && (!is_num(s) || s->valuedouble < 0)) ||
		    (r && (!is_num(r) || r->valuedouble < 1))) {
			return fail(c, "%s", "keepalive_pool: size >= 0, requests >= 1");
		}
		if (s) {
			up->pool_size = (unsigned)gw_json_int(s, 0, UINT32_MAX, 0);
		}
		if (r) {
			up->pool_requests = (unsigned)gw_json_int(r, 1, UINT32_MAX, 1);
		}
		if ((rv = gw_proxy__c_secs(c, v, "idle_timeout", &up->pool_idle_ms)) != 0) {
			return rv;
		}
	}
	if (c->oom) {
		return GW_ENOMEM;
	}
	if (up->type == GW_PROXY__LB_CHASH && gw_proxy__chash_build(&c->u->arena, up) != 0) {
		c->oom = true;
		return GW_ENOMEM;
	}
	/* Health checks: identity = the key of the object holding the
	 * upstream (an upstream, or a route or service with an inline one). */
	rv = gw_proxy__health_compile(&c->u->arena, cJSON_GetObjectItemCaseSensitive(j, "checks"),
				      "", gw_proxy__c_key(c), up, &c->why);
	if (rv != 0) {
		c->oom = c->oom || rv == GW_ENOMEM;
		return rv;
	}
	*out = up;
	return 0;
}

int gw_proxy__register_upstream(struct gw_proxy__compiler *c, struct gw_proxy__upstream *up)
{
	return gw_proxy__c_upstream_slot(c, up);
}
