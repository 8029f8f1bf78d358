# raft/: canonical/raft glue (FSM, identity, membership, proposals, the
# node-to-node HTTP channel). Builds raft/libgw_raft.a.
noinst_LIBRARIES += raft/libgw_raft.a
RAFT_LIB = raft/libgw_raft.a
raft_libgw_raft_a_CPPFLAGS = $(AM_CPPFLAGS) $(GW_DEP_CFLAGS)
raft_libgw_raft_a_SOURCES = \
	raft/raft.h raft/raft_int.h raft/endpoints.h raft/transport.h raft/transport_int.h \
	raft/codec.c \
	raft/fsm.c \
	raft/identity.c \
	raft/pki.c \
	raft/token.c \
	raft/enroll.c \
	raft/raft.c \
	raft/io_guard.c \
	raft/forward.c \
	raft/propose.c \
	raft/barrier.c \
	raft/lease.c \
	raft/member.c \
	raft/consistency.c \
	raft/served.c \
	raft/membership.c \
	raft/join.c \
	raft/endpoints.c \
	raft/frame.c \
	raft/peerauth.c \
	raft/transport.c \
	raft/transport_tls.c \
	raft/restore.c
