# schema/: the APISIX object schemas, once, for the Admin API (validation)
# and the proxy (compilation). Depends on lib/ and cJSON only.
noinst_LIBRARIES += schema/libgw_schema.a
SCHEMA_LIB = schema/libgw_schema.a
schema_libgw_schema_a_CPPFLAGS = $(AM_CPPFLAGS) $(GW_DEP_CFLAGS)
schema_libgw_schema_a_SOURCES = \
	schema/schema.h schema/schema_int.h \
	schema/tables.c \
	schema/plugins.c \
	schema/plugin_checks.c \
	schema/validate.c \
	schema/user.c \
	schema/metadata.c \
	schema/check.c \
	schema/export.c \
	schema/ssl.c \
	schema/decl.c schema/decl.h
