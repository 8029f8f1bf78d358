# admin/: the two configuration APIs over the replicated store.
#   admin/apisix.mk - APISIX Admin API (:9180)
#   admin/etcd.mk   - etcd v3 API: gRPC over h2c and the JSON gateway (:2379)
#   admin/ui.mk     - the dashboard served at /ui/ on the Admin listener
# Each fragment appends its sources to ADMIN_SOURCES (and its generated
# files to BUILT_SOURCES); the module builds one library.
ADMIN_SOURCES =
include $(srcdir)/admin/apisix.mk
include $(srcdir)/admin/etcd.mk
include $(srcdir)/admin/ui.mk
noinst_LIBRARIES += admin/libgw_admin.a
ADMIN_LIB = admin/libgw_admin.a
admin_libgw_admin_a_CPPFLAGS = $(AM_CPPFLAGS) $(GW_DEP_CFLAGS) -I$(top_builddir)/admin
admin_libgw_admin_a_SOURCES = $(ADMIN_SOURCES)
