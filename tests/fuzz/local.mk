# tests/fuzz/: libFuzzer harnesses, one per entry point where outside bytes
# enter apigw (docs/fuzzing.md). They are built only in a tree configured
# with --enable-fuzzing (clang-14): `make fuzz` in a normal build tree
# configures and builds one in build-fuzz/ and runs every harness for
# FUZZ_SECONDS each; `make check` runs tests/fuzz/run-fuzz.sh, which does the
# same with a short budget and reports one TAP case per harness (SKIP when
# clang-14 with libFuzzer is missing). Each harness links the real module
# libraries, never copies of their code.
FUZZ_HARNESSES = fuzz_http1 fuzz_upstream_resp fuzz_pp fuzz_raft_frame fuzz_raft_codec \
	fuzz_admin fuzz_etcd_pb fuzz_etcd_json fuzz_etcd_server fuzz_h2
FUZZ_CPPFLAGS = $(AM_CPPFLAGS) $(GW_DEP_CFLAGS) -I$(top_builddir)/admin
FUZZ_LDADD = $(GW_LIBS) $(GW_DEP_LIBS)
EXTRA_DIST += tests/fuzz/corpus tests/fuzz/http.dict tests/fuzz/protobuf.dict \
	tests/fuzz/json.dict tests/fuzz/run-fuzz.sh tests/fuzz/make-corpus.py \
	tests/fuzz/fuzz_util.h tests/fuzz/fuzz_proxy.h

if FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz_http1 tests/fuzz/fuzz_upstream_resp tests/fuzz/fuzz_pp \
	tests/fuzz/fuzz_raft_frame tests/fuzz/fuzz_raft_codec tests/fuzz/fuzz_admin \
	tests/fuzz/fuzz_etcd_pb tests/fuzz/fuzz_etcd_json tests/fuzz/fuzz_etcd_server \
	tests/fuzz/fuzz_h2
tests_fuzz_fuzz_http1_SOURCES = tests/fuzz/fuzz_http1.c tests/fuzz/fuzz_proxy.c \
	tests/fuzz/fuzz_proxy.h tests/fuzz/fuzz_util.h
tests_fuzz_fuzz_http1_CPPFLAGS = $(FUZZ_CPPFLAGS)
# the record of what the proxy saw: ld's --wrap of three request.c entries
tests_fuzz_fuzz_http1_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS) \
	-Wl,--wrap=gw_proxy__req_headers_done,--wrap=gw_proxy__req_body,--wrap=gw_proxy__req_body_end
tests_fuzz_fuzz_http1_LDADD = $(FUZZ_LDADD)
tests_fuzz_fuzz_upstream_resp_SOURCES = tests/fuzz/fuzz_upstream_resp.c tests/fuzz/fuzz_proxy.c \
	tests/fuzz/fuzz_proxy.h tests/fuzz/fuzz_util.h
tests_fuzz_fuzz_upstream_resp_CPPFLAGS = $(FUZZ_CPPFLAGS)
tests_fuzz_fuzz_upstream_resp_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_upstream_resp_LDADD = $(FUZZ_LDADD)
tests_fuzz_fuzz_pp_SOURCES = tests/fuzz/fuzz_pp.c tests/fuzz/fuzz_util.h
tests_fuzz_fuzz_pp_CPPFLAGS = $(FUZZ_CPPFLAGS)
tests_fuzz_fuzz_pp_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_pp_LDADD = $(FUZZ_LDADD)
tests_fuzz_fuzz_raft_frame_SOURCES = tests/fuzz/fuzz_raft_frame.c tests/fuzz/fuzz_util.h
tests_fuzz_fuzz_raft_frame_CPPFLAGS = $(FUZZ_CPPFLAGS)
tests_fuzz_fuzz_raft_frame_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_raft_frame_LDADD = $(FUZZ_LDADD)
tests_fuzz_fuzz_raft_codec_SOURCES = tests/fuzz/fuzz_raft_codec.c tests/fuzz/fuzz_util.h
tests_fuzz_fuzz_raft_codec_CPPFLAGS = $(FUZZ_CPPFLAGS)
tests_fuzz_fuzz_raft_codec_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_raft_codec_LDADD = $(FUZZ_LDADD)
tests_fuzz_fuzz_admin_SOURCES = tests/fuzz/fuzz_admin.c tests/fuzz/fuzz_util.h
tests_fuzz_fuzz_admin_CPPFLAGS = $(FUZZ_CPPFLAGS)
tests_fuzz_fuzz_admin_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_admin_LDADD = $(FUZZ_LDADD)
tests_fuzz_fuzz_etcd_pb_SOURCES = tests/fuzz/fuzz_etcd_pb.c tests/fuzz/fuzz_util.h
tests_fuzz_fuzz_etcd_pb_CPPFLAGS = $(FUZZ_CPPFLAGS)
tests_fuzz_fuzz_etcd_pb_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_etcd_pb_LDADD = $(FUZZ_LDADD)
tests_fuzz_fuzz_etcd_json_SOURCES = tests/fuzz/fuzz_etcd_json.c tests/fuzz/fuzz_util.h
tests_fuzz_fuzz_etcd_json_CPPFLAGS = $(FUZZ_CPPFLAGS)
tests_fuzz_fuzz_etcd_json_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_etcd_json_LDADD = $(FUZZ_LDADD)
tests_fuzz_fuzz_etcd_server_SOURCES = tests/fuzz/fuzz_etcd_server.c tests/fuzz/fuzz_util.h
tests_fuzz_fuzz_etcd_server_CPPFLAGS = $(FUZZ_CPPFLAGS)
tests_fuzz_fuzz_etcd_server_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_etcd_server_LDADD = $(FUZZ_LDADD)
tests_fuzz_fuzz_h2_SOURCES = tests/fuzz/fuzz_h2.c tests/fuzz/fuzz_proxy.c \
	tests/fuzz/fuzz_proxy.h tests/fuzz/fuzz_util.h
tests_fuzz_fuzz_h2_CPPFLAGS = $(FUZZ_CPPFLAGS)
tests_fuzz_fuzz_h2_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_h2_LDADD = $(FUZZ_LDADD)
# Build only the harnesses (and the libraries they link); the generated
# sources first (BUILT_SOURCES only applies to all and check).
fuzz-build: $(BUILT_SOURCES)
	$(MAKE) $(AM_MAKEFLAGS) $(addprefix tests/fuzz/,$(FUZZ_HARNESSES))
else
fuzz-build:
	@echo "fuzz-build: this tree is not configured with --enable-fuzzing" >&2; exit 1
endif

# `make fuzz FUZZ_SECONDS=N`: build the harnesses (here when this tree is
# the fuzzing one, else in build-fuzz/) and run each for N seconds.
FUZZ_SECONDS = 60
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_TOP_SRCDIR=$(abs_top_srcdir) \
	FUZZ_BUILDDIR=$(abs_top_builddir) $(SHELL) $(top_srcdir)/tests/fuzz/run-fuzz.sh --report

.PHONY: fuzz fuzz-build
