# store/: the LMDB MVCC store with etcd v3 semantics and the watch hub.
noinst_LIBRARIES += store/libgw_store.a
STORE_LIB = store/libgw_store.a
store_libgw_store_a_CPPFLAGS = $(AM_CPPFLAGS) $(GW_DEP_CFLAGS)
store_libgw_store_a_SOURCES = \
	store/store.h store/store_int.h \
	store/store.c \
	store/kv.c \
	store/hash.c \
	store/lease.c \
	store/watch.c \
	store/snapshot.c \
	store/backup.c
