# proxy/: the HTTP data plane (see proxy/proxy.h and docs in proxy/README.md).
# Builds proxy/libgw_proxy.a; its tests are in tests/local.mk (proxy block).
noinst_LIBRARIES += proxy/libgw_proxy.a
PROXY_LIB = proxy/libgw_proxy.a
proxy_libgw_proxy_a_CPPFLAGS = $(AM_CPPFLAGS) $(GW_DEP_CFLAGS)
proxy_libgw_proxy_a_SOURCES = \
	proxy/proxy.h proxy/proxy_int.h proxy/conn_int.h \
	proxy/util.c \
	proxy/config_int.h proxy/config.c proxy/config_util.c proxy/config_upstream.c \
	proxy/config_expr.c proxy/config_plugins.c proxy/config_route.c proxy/config_cache.c proxy/config_dryrun.c proxy/config_sets.c \
	proxy/router.c \
	proxy/balancer.c \
	proxy/health_int.h proxy/health_conf.c proxy/health_state.c proxy/health_probe.c \
	proxy/health_api.c \
	proxy/dns_int.h proxy/dns.c proxy/dns_api.c \
	proxy/server.c \
	proxy/conn.c \
	proxy/request.c \
	proxy/reqhead.c \
	proxy/response.c \
	proxy/upstream.c \
	proxy/plugins.c proxy/plugin_int.h \
	proxy/plugin_consumer.c proxy/plugin_limit.c proxy/plugin_delay.c \
	proxy/plugin_key_auth.c proxy/plugin_basic_auth.c proxy/plugin_consumer_restriction.c \
	proxy/plugin_limit_count.c proxy/plugin_limit_req.c \
	proxy/plugin_ip_restriction.c proxy/plugin_request_id.c proxy/plugin_prometheus.c \
	proxy/plugin_jwt_auth.c proxy/plugin_hmac_auth.c proxy/plugin_cors.c \
	proxy/plugin_redirect.c proxy/plugin_limit_conn.c \
	proxy/plugin_uri_blocker.c proxy/plugin_fault_injection.c proxy/plugin_real_ip.c \
	proxy/plugin_request_validation.c \
	proxy/plugin_logger.c proxy/plugin_loggers.c proxy/plugin_api_breaker.c \
	proxy/plugin_traffic_split.c proxy/plugin_proxy_mirror.c proxy/plugin_metadata.c \
	proxy/ops_int.h proxy/pp.c proxy/ops.c proxy/accesslog.c \
	proxy/tls_int.h proxy/ssl.c proxy/tls.c proxy/tls_up.c \
	proxy/h2_int.h proxy/h2.c
EXTRA_DIST += proxy/README.md
