# proxy/: the HTTP data plane (see proxy/proxy.h and docs in proxy/README.md).
# Builds proxy/libgw_proxy.a; its tests are in tests/local.mk (proxy block).
noinst_LIBRARIES += proxy/libgw_proxy.a
PROXY_LIB = proxy/libgw_proxy.a
proxy_libgw_proxy_a_CPPFLAGS = $(AM_CPPFLAGS) $(GW_DEP_CFLAGS)
proxy_libgw_proxy_a_SOURCES = \
	proxy/proxy.h proxy/proxy_int.h proxy/conn_int.h \
	proxy/util.c \
	proxy/config.c \
	proxy/router.c \
	proxy/balancer.c \
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
	proxy/ops_int.h proxy/pp.c proxy/ops.c proxy/accesslog.c
EXTRA_DIST += proxy/README.md
