# node/: main(), flags, node life cycle, status and metrics listeners.
noinst_LIBRARIES += node/libgw_node.a
NODE_LIB = node/libgw_node.a
node_libgw_node_a_CPPFLAGS = $(AM_CPPFLAGS) $(GW_DEP_CFLAGS)
node_libgw_node_a_SOURCES = \
	node/flags.c node/flags.h \
	node/node.c node/node.h \
	node/cluster.c node/cluster.h \
	node/tokens.c node/tokens.h \
	node/history.c node/history.h node/history_retention.c \
	node/confsync.c node/confsync.h \
	node/dryrun.c node/dryrun.h \
	node/metrics.c node/metrics.h \
	node/control.c node/control.h \
	node/backup.c node/backup.h node/backup_int.h \
	node/backup_client.c \
	node/backup_periodic.c node/backup_periodic.h \
	node/restore.c \
	node/configfile.c node/configfile.h node/configfile_int.h \
	node/standalone.c node/standalone.h \
	node/configfile_apply.c \
	node/keyring_cli.c node/keyring_cli.h \
	node/systemd.c node/systemd.h \
	node/reload.c node/reload.h node/flags_int.h \
	node/flags_doc.c node/flags_doc.h

bin_PROGRAMS += apigw
apigw_SOURCES = node/main.c
apigw_CPPFLAGS = $(AM_CPPFLAGS) $(GW_DEP_CFLAGS)
apigw_LDADD = $(GW_LIBS) $(GW_DEP_LIBS)
