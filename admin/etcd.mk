# etcd v3 API sources (owned by the etcd API author).
ADMIN_SOURCES +=
