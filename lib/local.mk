# lib/: generic helpers shared by every module (errors, logging, buffers,
# arena, list, state machines, the small HTTP/1.1 server of the
# control-plane listeners and the client of node-to-node calls, the strict
# JSON parse of API bodies, constant-time compare, kernel randomness).
noinst_LIBRARIES += lib/libgw_common.a
COMMON_LIB = lib/libgw_common.a
lib_libgw_common_a_CPPFLAGS = $(AM_CPPFLAGS) $(GW_DEP_CFLAGS)
lib_libgw_common_a_SOURCES = \
	lib/err.c lib/err.h \
	lib/log.c lib/log.h \
	lib/buf.c lib/buf.h \
	lib/addr.c lib/addr.h \
	lib/file.c lib/file.h \
	lib/httpd.c lib/httpd.h \
	lib/h2out.c lib/h2out.h \
	lib/httpc.c lib/httpc.h \
	lib/prom.c lib/prom.h \
	lib/reason.c lib/reason.h \
	lib/list.h \
	lib/arena.c lib/arena.h \
	lib/sm.c lib/sm.h \
	lib/ratelimit.c lib/ratelimit.h \
	lib/pki.c lib/pki.h \
	lib/peertls.c lib/peertls.h \
	lib/tlsbio.c lib/tlsbio.h \
	lib/tlspolicy.c lib/tlspolicy.h \
	lib/json.c lib/json.h \
	lib/ct.c lib/ct.h \
	lib/regex.c lib/regex.h \
	lib/crc32c.c lib/crc32c.h \
	lib/cidr.c lib/cidr.h \
	lib/rand.c lib/rand.h \
	lib/connlimit.c lib/connlimit.h \
	lib/keyring.c lib/keyring.h \
	lib/certkey.c lib/certkey.h
