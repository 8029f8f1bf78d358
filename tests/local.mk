# tests/: unit tests (cmocka, one binary per module, TAP output) and
# integration tests (Python 3 stdlib scripts driving real apigw processes,
# TAP output). Both run under automake's TAP driver, so the summary counts
# every test case. `timeout` bounds each file against hangs.
TEST_EXTENSIONS = .py .sh
LOG_DRIVER = env AM_TAP_AWK='$(AWK)' $(SHELL) $(top_srcdir)/build-aux/tap-driver.sh
PY_LOG_DRIVER = $(LOG_DRIVER)
SH_LOG_DRIVER = $(LOG_DRIVER)
SH_LOG_COMPILER = $(SHELL)
LOG_COMPILER = bash $(top_srcdir)/tests/tap-run.sh --timeout 900
PY_LOG_COMPILER = timeout 1800 python3
AM_TESTS_ENVIRONMENT = \
	CMOCKA_MESSAGE_OUTPUT=TAP; export CMOCKA_MESSAGE_OUTPUT; \
	APIGW_BIN=$(abs_top_builddir)/apigw; export APIGW_BIN; \
	APIGW_BUILDDIR=$(abs_top_builddir); export APIGW_BUILDDIR; \
	PYTHONPATH=$(abs_top_srcdir)/tests/integration; export PYTHONPATH; \
	PYTHONDONTWRITEBYTECODE=1; export PYTHONDONTWRITEBYTECODE; \
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0; export ASAN_OPTIONS; \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1; export UBSAN_OPTIONS;

UNIT_LDADD = $(GW_LIBS) $(GW_DEP_LIBS) $(CMOCKA_LIBS)
UNIT_CPPFLAGS = $(AM_CPPFLAGS) $(GW_DEP_CFLAGS) $(CMOCKA_CFLAGS)

check_PROGRAMS += tests/unit/test_lib
tests_unit_test_lib_SOURCES = tests/unit/test_lib.c
tests_unit_test_lib_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_lib_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_lib
check_PROGRAMS += tests/unit/test_lib_input
tests_unit_test_lib_input_SOURCES = tests/unit/test_lib_input.c
tests_unit_test_lib_input_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_lib_input_LDADD = $(RAFT_LIB) $(COMMON_LIB) $(GW_DEP_LIBS) $(CMOCKA_LIBS)
TESTS += tests/unit/test_lib_input
# lib/regex: PCRE2 with compile and match limits.
check_PROGRAMS += tests/unit/test_regex
tests_unit_test_regex_SOURCES = tests/unit/test_regex.c
tests_unit_test_regex_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_regex_LDADD = $(COMMON_LIB) $(GW_DEP_LIBS) $(CMOCKA_LIBS)
TESTS += tests/unit/test_regex

# lib/pki: the X.509 pieces of the cluster PKI, checked against OpenSSL.
check_PROGRAMS += tests/unit/test_pki
tests_unit_test_pki_SOURCES = tests/unit/test_pki.c
tests_unit_test_pki_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_pki_LDADD = $(COMMON_LIB) $(GW_DEP_LIBS) $(CMOCKA_LIBS)
TESTS += tests/unit/test_pki

check_PROGRAMS += tests/unit/test_keyring
tests_unit_test_keyring_SOURCES = tests/unit/test_keyring.c
tests_unit_test_keyring_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_keyring_LDADD = $(COMMON_LIB) $(GW_DEP_LIBS) $(CMOCKA_LIBS)
TESTS += tests/unit/test_keyring

# lib/peertls + lib/tlsbio: the cluster's TLS 1.3 contexts over memory BIOs.
check_PROGRAMS += tests/unit/test_peertls
tests_unit_test_peertls_SOURCES = tests/unit/test_peertls.c
tests_unit_test_peertls_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_peertls_LDADD = $(COMMON_LIB) $(GW_DEP_LIBS) $(CMOCKA_LIBS)
TESTS += tests/unit/test_peertls

check_PROGRAMS += tests/unit/test_httpc
tests_unit_test_httpc_SOURCES = tests/unit/test_httpc.c
tests_unit_test_httpc_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_httpc_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_httpc

check_PROGRAMS += tests/unit/test_httpd_limits
tests_unit_test_httpd_limits_SOURCES = tests/unit/test_httpd_limits.c
tests_unit_test_httpd_limits_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_httpd_limits_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_httpd_limits

check_PROGRAMS += tests/unit/test_config
tests_unit_test_config_SOURCES = tests/unit/test_config.c
tests_unit_test_config_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_config_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_config
check_PROGRAMS += tests/unit/test_proxy_tls
tests_unit_test_proxy_tls_SOURCES = tests/unit/test_proxy_tls.c
tests_unit_test_proxy_tls_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_proxy_tls_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_proxy_tls

# raft/ unit tests (owner: raft). The codec test links only what it uses,
# so it runs before the store and node libraries exist.
check_PROGRAMS += tests/unit/test_raft_codec
tests_unit_test_raft_codec_SOURCES = tests/unit/test_raft_codec.c
tests_unit_test_raft_codec_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_raft_codec_LDADD = $(RAFT_LIB) $(COMMON_LIB) $(GW_DEP_LIBS) $(CMOCKA_LIBS)
TESTS += tests/unit/test_raft_codec
check_PROGRAMS += tests/unit/test_raft
tests_unit_test_raft_SOURCES = tests/unit/test_raft.c \
	tests/unit/test_raft_fixture.c tests/unit/test_raft_fixture.h
tests_unit_test_raft_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_raft_LDADD = $(RAFT_LIB) $(STORE_LIB) $(COMMON_LIB) $(GW_DEP_LIBS) $(CMOCKA_LIBS)
TESTS += tests/unit/test_raft
check_PROGRAMS += tests/unit/test_raft_lease
tests_unit_test_raft_lease_SOURCES = tests/unit/test_raft_lease.c \
	tests/unit/test_raft_fixture.c tests/unit/test_raft_fixture.h
tests_unit_test_raft_lease_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_raft_lease_LDADD = $(tests_unit_test_raft_LDADD)
TESTS += tests/unit/test_raft_lease
check_PROGRAMS += tests/unit/test_raft_member
tests_unit_test_raft_member_SOURCES = tests/unit/test_raft_member.c \
	tests/unit/test_raft_fixture.c tests/unit/test_raft_fixture.h
tests_unit_test_raft_member_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_raft_member_LDADD = $(tests_unit_test_raft_LDADD)
TESTS += tests/unit/test_raft_member
# The inbound frame checker of raft/'s transport: pure, links raft/ alone.
check_PROGRAMS += tests/unit/test_raft_frame
tests_unit_test_raft_frame_SOURCES = tests/unit/test_raft_frame.c
tests_unit_test_raft_frame_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_raft_frame_LDADD = $(RAFT_LIB) $(COMMON_LIB) $(GW_DEP_LIBS) $(CMOCKA_LIBS)
TESTS += tests/unit/test_raft_frame
# Join tokens' parsing and judging (raft/token.c).
check_PROGRAMS += tests/unit/test_raft_token
tests_unit_test_raft_token_SOURCES = tests/unit/test_raft_token.c
tests_unit_test_raft_token_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_raft_token_LDADD = $(RAFT_LIB) $(STORE_LIB) $(COMMON_LIB) $(GW_DEP_LIBS) $(CMOCKA_LIBS)
TESTS += tests/unit/test_raft_token
# raft/ integration tests (owner: raft): real apigw clusters on 127.0.0.1.
TESTS += tests/integration/test_raft_cluster.py
TESTS += tests/integration/test_raft_membership.py
TESTS += tests/integration/test_raft_snapshot_race.py
TESTS += tests/integration/test_raft_transport.py
TESTS += tests/integration/test_commit_propagation.py
TESTS += tests/integration/test_lease_members.py
TESTS += tests/integration/test_member_names.py
TESTS += tests/integration/test_hashkv.py
# backup and restore (owner: wt-backup): etcdctl snapshot save, apigw backup/restore
TESTS += tests/integration/test_backup.py
# PUT /apisix/admin/configs (docs/backup.md)
TESTS += tests/integration/test_configs.py tests/integration/test_standalone.py
TESTS += tests/integration/test_consistency.py
TESTS += tests/integration/test_fleet.py
# the incremental config compiler in a real node: 10,000 routes edited one by one
TESTS += tests/integration/test_config_edits.py
TESTS += tests/integration/test_raft_mtls.py
TESTS += tests/integration/test_join_tokens.py
TESTS += tests/integration/test_token_sweep.py
EXTRA_DIST += tests/integration/plugutil.py
EXTRA_DIST += tests/integration/raftutil.py tests/integration/lsan-raft.supp tests/integration/tlsutil.py

# Integration tests: real processes on 127.0.0.1.
INTEGRATION_TESTS = tests/integration/test_cli.py tests/integration/test_node_proxy.py \
	tests/integration/test_drain.py tests/integration/test_etcd_tls.py \
	tests/integration/test_etcd_move_leader.py
# upstream health checks and the control API (owner: proxy/health*, node/control)
INTEGRATION_TESTS += tests/integration/test_health.py
# host-name upstream nodes (owner: proxy/dns*); dnsutil.py is its DNS server
INTEGRATION_TESTS += tests/integration/test_dns.py
EXTRA_DIST += tests/integration/dnsutil.py
TESTS += $(INTEGRATION_TESTS)
# Every script test (added by any block) and the harness go in the tarball.
EXTRA_DIST += tests/integration/harness.py $(filter %.py %.sh,$(TESTS))

TESTS += tests/check_format.sh
# Every libFuzzer harness for a short budget (tests/fuzz/local.mk; SKIP
# without clang-14 and libFuzzer).
TESTS += tests/fuzz/run-fuzz.sh
EXTRA_DIST += tests/tap-run.sh

# Admin API (APISIX) unit tests (owner: admin/apisix).
check_PROGRAMS += tests/unit/test_admin_schema
tests_unit_test_admin_schema_SOURCES = tests/unit/test_admin_schema.c
tests_unit_test_admin_schema_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_admin_schema_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_admin_schema
# schema/ unit tests: every schema walked through the Admin API's check and
# the proxy's compiler (owner: schema).
check_PROGRAMS += tests/unit/test_schema
tests_unit_test_schema_SOURCES = tests/unit/test_schema.c
tests_unit_test_schema_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_schema_LDADD = $(PROXY_LIB) $(SCHEMA_LIB) $(COMMON_LIB) $(GW_DEP_LIBS) \
	$(CMOCKA_LIBS)
TESTS += tests/unit/test_schema
# schema/decl.c: declarative config files (docs/backup.md)
check_PROGRAMS += tests/unit/test_schema_decl
tests_unit_test_schema_decl_SOURCES = tests/unit/test_schema_decl.c
tests_unit_test_schema_decl_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_schema_decl_LDADD = $(SCHEMA_LIB) $(COMMON_LIB) $(GW_DEP_LIBS) $(CMOCKA_LIBS)
TESTS += tests/unit/test_schema_decl
# The Admin API's route table and error -> answer mapping.
check_PROGRAMS += tests/unit/test_admin_routes
tests_unit_test_admin_routes_SOURCES = tests/unit/test_admin_routes.c
tests_unit_test_admin_routes_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_admin_routes_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_admin_routes
# The config history's diff and routes (docs/history.md).
check_PROGRAMS += tests/unit/test_admin_history
tests_unit_test_admin_history_SOURCES = tests/unit/test_admin_history.c
tests_unit_test_admin_history_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_admin_history_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_admin_history
# Admin API integration tests: one node, then a three-node cluster.
TESTS += tests/integration/test_admin.py tests/integration/test_admin_cluster.py
TESTS += tests/integration/test_tls.py tests/integration/test_h2.py \
	tests/integration/test_listener_tls.py tests/integration/test_keyring_cli.py
# served revisions, history, rollback (docs/history.md)
TESTS += tests/integration/test_served.py tests/integration/test_history.py
# the dashboard (admin/ui/): headers, and a real browser (Debian's chromium
# through playwright-core from npm: tests/browser/, installed by scripts/test.sh)
TESTS += tests/integration/test_dashboard.py
EXTRA_DIST += tests/browser/package.json tests/browser/package-lock.json \
	tests/browser/dashboard.mjs
# its screenshots (docs/dashboard.md)
clean-local: clean-dashboard-shots
clean-dashboard-shots:
	rm -rf dashboard-shots
.PHONY: clean-dashboard-shots
# proxy/plugin_*.c through a running node (docs/plugins.md)
TESTS += tests/integration/test_plugins.py
TESTS += tests/integration/test_plugins_auth.py
# the traffic and logging plugins (docs/plugins.md)
TESTS += tests/integration/test_plugins_traffic.py
TESTS += tests/integration/test_plugins_validation.py

# store/ unit tests, model test and benchmark (owner: store).
# test_store (kv, ranges, txns), test_store_durability (leases, quota,
# reopen, snapshots) and test_store_watch share the fixture of
# test_store_util.c.
STORE_UNIT_SOURCES = tests/unit/test_store_util.c tests/unit/test_store_util.h
check_PROGRAMS += tests/unit/test_store
tests_unit_test_store_SOURCES = tests/unit/test_store.c $(STORE_UNIT_SOURCES)
tests_unit_test_store_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_store_LDADD = $(STORE_LIB) $(COMMON_LIB) $(GW_DEP_LIBS) $(CMOCKA_LIBS)
TESTS += tests/unit/test_store
check_PROGRAMS += tests/unit/test_store_durability
tests_unit_test_store_durability_SOURCES = tests/unit/test_store_durability.c \
	$(STORE_UNIT_SOURCES)
tests_unit_test_store_durability_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_store_durability_LDADD = $(STORE_LIB) $(COMMON_LIB) $(GW_DEP_LIBS) \
	$(CMOCKA_LIBS)
TESTS += tests/unit/test_store_durability
check_PROGRAMS += tests/unit/test_store_watch
tests_unit_test_store_watch_SOURCES = tests/unit/test_store_watch.c $(STORE_UNIT_SOURCES)
tests_unit_test_store_watch_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_store_watch_LDADD = $(STORE_LIB) $(COMMON_LIB) $(GW_DEP_LIBS) $(CMOCKA_LIBS)
TESTS += tests/unit/test_store_watch
check_PROGRAMS += tests/unit/test_store_model
tests_unit_test_store_model_SOURCES = tests/unit/test_store_model.c
tests_unit_test_store_model_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_store_model_LDADD = $(STORE_LIB) $(COMMON_LIB) $(GW_DEP_LIBS) $(CMOCKA_LIBS)
TESTS += tests/unit/test_store_model
# Benchmark, built with everything else, never run by `make check`:
#   ./tests/bench/bench_store [dir]
noinst_PROGRAMS += tests/bench/bench_store
tests_bench_bench_store_SOURCES = tests/bench/bench_store.c
tests_bench_bench_store_CPPFLAGS = $(AM_CPPFLAGS) $(GW_DEP_CFLAGS)
tests_bench_bench_store_LDADD = $(STORE_LIB) $(COMMON_LIB) $(GW_DEP_LIBS)

# etcd v3 API unit tests (owner: admin/etcd).
check_PROGRAMS += tests/unit/test_etcd
tests_unit_test_etcd_SOURCES = tests/unit/test_etcd.c
tests_unit_test_etcd_CPPFLAGS = $(UNIT_CPPFLAGS) -I$(top_builddir)/admin
tests_unit_test_etcd_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_etcd
# etcd auth decisions: permission ranges, tokens, password hashes, CIDRs.
check_PROGRAMS += tests/unit/test_etcd_auth
tests_unit_test_etcd_auth_SOURCES = tests/unit/test_etcd_auth.c
tests_unit_test_etcd_auth_CPPFLAGS = $(UNIT_CPPFLAGS) -I$(top_builddir)/admin
tests_unit_test_etcd_auth_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_etcd_auth
# etcd API on real apigw nodes with Debian's etcdctl (skips without it).
TESTS += tests/integration/test_etcd.py
# Listener limits: pipelined flood RSS, caps with a reserve, HTTP/2 idle.
TESTS += tests/integration/test_limits.py
# etcd API access control: users, roles, tokens, off-host clients (etcdctl).
TESTS += tests/integration/test_etcd_auth.py
TESTS += tests/integration/test_etcd_h2.py

# proxy/ unit tests: config, router, balancers, and the data plane end to end
# against a real threaded upstream (owner: proxy).
check_PROGRAMS += tests/unit/test_proxy
tests_unit_test_proxy_SOURCES = tests/unit/test_proxy.c \
	tests/unit/test_proxy_env.c tests/unit/test_proxy_env.h \
	tests/unit/test_proxy_util.c tests/unit/test_proxy_util.h
tests_unit_test_proxy_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_proxy_LDADD = $(PROXY_LIB) $(SCHEMA_LIB) $(COMMON_LIB) $(GW_DEP_LIBS) $(CMOCKA_LIBS)
TESTS += tests/unit/test_proxy
# proxy/config_cache.c: incremental compiles serve what full compiles serve.
check_PROGRAMS += tests/unit/test_config_incr
tests_unit_test_config_incr_SOURCES = tests/unit/test_config_incr.c
tests_unit_test_config_incr_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_config_incr_LDADD = $(PROXY_LIB) $(SCHEMA_LIB) $(COMMON_LIB) $(GW_DEP_LIBS) $(CMOCKA_LIBS)
TESTS += tests/unit/test_config_incr
check_PROGRAMS += tests/unit/test_config_dryrun
tests_unit_test_config_dryrun_SOURCES = tests/unit/test_config_dryrun.c
tests_unit_test_config_dryrun_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_config_dryrun_LDADD = $(PROXY_LIB) $(SCHEMA_LIB) $(COMMON_LIB) $(GW_DEP_LIBS) $(CMOCKA_LIBS)
TESTS += tests/unit/test_config_dryrun
# Upstream health checks: state machine, compile, registry, balancers (owner: proxy/health*).
check_PROGRAMS += tests/unit/test_health
tests_unit_test_health_SOURCES = tests/unit/test_health.c \
	tests/unit/test_proxy_env.c tests/unit/test_proxy_env.h \
	tests/unit/test_proxy_util.c tests/unit/test_proxy_util.h
tests_unit_test_health_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_health_LDADD = $(PROXY_LIB) $(SCHEMA_LIB) $(COMMON_LIB) $(GW_DEP_LIBS) $(CMOCKA_LIBS)
TESTS += tests/unit/test_health
# proxy/plugin_*.c: the limit table and the consumer index.
check_PROGRAMS += tests/unit/test_plugins
tests_unit_test_plugins_SOURCES = tests/unit/test_plugins.c
tests_unit_test_plugins_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_plugins_LDADD = $(PROXY_LIB) $(SCHEMA_LIB) $(COMMON_LIB) $(GW_DEP_LIBS) $(CMOCKA_LIBS)
TESTS += tests/unit/test_plugins
# The rest of the proxy's end-to-end cases (errors, aborts, swaps, WebSocket...).
check_PROGRAMS += tests/unit/test_proxy_live
tests_unit_test_proxy_live_SOURCES = tests/unit/test_proxy_live.c \
	tests/unit/test_proxy_env.c tests/unit/test_proxy_env.h \
	tests/unit/test_proxy_util.c tests/unit/test_proxy_util.h
tests_unit_test_proxy_live_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_proxy_live_LDADD = $(PROXY_LIB) $(SCHEMA_LIB) $(COMMON_LIB) $(GW_DEP_LIBS) $(CMOCKA_LIBS)
TESTS += tests/unit/test_proxy_live
# proxy_driver: gw_proxy alone, for proxy benchmarks and integration tests.
check_PROGRAMS += tests/tools/proxy_driver
tests_tools_proxy_driver_SOURCES = tests/tools/proxy_driver.c
tests_tools_proxy_driver_CPPFLAGS = $(AM_CPPFLAGS) $(GW_DEP_CFLAGS)
tests_tools_proxy_driver_LDADD = $(PROXY_LIB) $(SCHEMA_LIB) $(COMMON_LIB) $(GW_DEP_LIBS)
# proxy_router_bench: match cost with 1k/10k/100k routes (run by hand).
check_PROGRAMS += tests/tools/proxy_router_bench
tests_tools_proxy_router_bench_SOURCES = tests/tools/proxy_router_bench.c
tests_tools_proxy_router_bench_CPPFLAGS = $(AM_CPPFLAGS) $(GW_DEP_CFLAGS)
tests_tools_proxy_router_bench_LDADD = $(PROXY_LIB) $(SCHEMA_LIB) $(COMMON_LIB) $(GW_DEP_LIBS)
# The proxy alone through proxy_driver: reload, bad objects, round robin, SIGTERM.
TESTS += tests/integration/test_proxy_driver.py
# Operations (issue 8, proxy side): PROXY protocol parser unit test; PROXY
# v1/v2, real-ip, access log with SIGUSR1 reopen, HTTP metrics on real nodes.
check_PROGRAMS += tests/unit/test_proxy_pp
tests_unit_test_proxy_pp_SOURCES = tests/unit/test_proxy_pp.c
tests_unit_test_proxy_pp_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_proxy_pp_LDADD = $(PROXY_LIB) $(SCHEMA_LIB) $(COMMON_LIB) $(GW_DEP_LIBS) $(CMOCKA_LIBS)
TESTS += tests/unit/test_proxy_pp tests/integration/test_ops.py

# Fault suite (owner: fault): apigw nodes in network namespaces of its own,
# real partitions (nftables), kill -9, lossy links, disk faults, HAProxy;
# needs root, skips otherwise. APIGW_PROFILE=long (scripts/test.sh PROFILE=long)
# runs the long profile.
AM_TESTS_ENVIRONMENT += APIGW_PROFILE='$(APIGW_PROFILE)'; export APIGW_PROFILE;
TESTS += tests/fault/test_fault.py
EXTRA_DIST += tests/fault/netns.py tests/fault/cluster.py tests/fault/load.py

# Packaging (owner: packaging): sd_notify through a NOTIFY_SOCKET the test
# binds (READY, STATUS, WATCHDOG, STOPPING, RELOADING around SIGHUP).
TESTS += tests/integration/test_systemd.py
# apigw(1), apigw.json(5) and the bash completion carry every flag of the table.
TESTS += tests/integration/test_man.py
# The Grafana dashboard queries only metric names and labels a live node exports.
TESTS += tests/integration/test_grafana.py
# The Debian package: make deb, contents, unit, lintian, install/upgrade/purge in a
# throwaway root (overlay + namespaces, as root). docs/packaging.md.
TESTS += tests/packaging/test_deb.sh
# Rolling upgrade from a previous binary (APIGW_PREV_BIN, scripts/build-prev.sh); skips without.
TESTS += tests/integration/test_upgrade.py
