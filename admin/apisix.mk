# APISIX Admin API sources (owned by the Admin API author).
ADMIN_SOURCES +=
