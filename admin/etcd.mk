# etcd v3 API sources (owned by the etcd API author): one listener that
# serves gRPC over h2c (nghttp2 + protobuf-c) and the v3 JSON gateway.
# admin/etcd.proto is compiled with protoc-c into $(builddir)/admin/ at build
# time; the generated files are not distributed.
ADMIN_SOURCES += \
	admin/etcd.h admin/etcd_int.h \
	admin/etcd.c \
	admin/etcd_codec.c \
	admin/etcd_h2.c \
	admin/etcd_svc.c \
	admin/etcd_kv.c \
	admin/etcd_lease.c \
	admin/etcd_cluster.c \
	admin/etcd_tls.c \
	admin/etcd_watch.c \
	admin/etcd_auth.c \
	admin/etcd_auth_users.c \
	admin/etcd_authz.c \
	admin/etcd_maint.c
nodist_admin_libgw_admin_a_SOURCES = admin/etcd.pb-c.c admin/etcd.pb-c.h
BUILT_SOURCES += admin/etcd.pb-c.c admin/etcd.pb-c.h
CLEANFILES += admin/etcd.pb-c.c admin/etcd.pb-c.h
EXTRA_DIST += admin/etcd.proto admin/etcd.md

admin/etcd.pb-c.c: $(srcdir)/admin/etcd.proto
	$(AM_V_GEN)$(MKDIR_P) $(builddir)/admin && \
	$(PROTOC_C) -I$(srcdir) --c_out=$(builddir) $(srcdir)/admin/etcd.proto
admin/etcd.pb-c.h: admin/etcd.pb-c.c
	@test -f $@ || { rm -f admin/etcd.pb-c.c; $(MAKE) $(AM_MAKEFLAGS) admin/etcd.pb-c.c; }
