/* plugin_prometheus.c: prometheus (priority 500), accepted for APISIX
 * compatibility.
 *
 * apigw exports APISIX's metric families (apisix_http_status,
 * apisix_http_latency, apisix_bandwidth with route, service, consumer and
 * node labels; proxy/ops.c) for every route whether or not the plugin is
 * set, so enabling it on a route or a global rule changes nothing: the
 * plugin exists so that configurations written for APISIX (its getting
 * started guide and benchmark use it) are accepted and served. prefer_name
 * is accepted and not used yet. Failure modes: none. */
#include "config.h"

#include "lib/err.h"
#include "proxy/plugin_int.h"

static int compile(struct gw_proxy__compiler *c, const cJSON *j, const void **out)
{
	(void)c;
	(void)j;
	*out = NULL;
	return 0;
}

const struct gw_proxy__plugin gw_proxy__plugin_prometheus = {
    .name = "prometheus",
    .priority = 500,
    .compile = compile,
};
