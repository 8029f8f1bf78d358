# APISIX Admin API sources (owned by the Admin API author).
ADMIN_SOURCES += \
	admin/apisix.h admin/apisix_int.h \
	admin/apisix_schema.c \
	admin/apisix_ssl.c \
	admin/apisix_key.c \
	admin/apisix.c \
	admin/apisix_route.c \
	admin/apisix_read.c \
	admin/apisix_write.c \
	admin/apisix_txn.c \
	admin/apisix_history.c \
	admin/apisix_history_served.c \
	admin/apisix_history_rollback.c \
	admin/apisix_history_diff.c \
	admin/apisix_audit.c admin/apisix_audit_sink.c \
	admin/apisix_configs.c \
	admin/apisix_consumer.c
