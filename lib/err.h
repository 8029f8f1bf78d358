/* err.h: the one error space of apigw.
 *
 * Every fallible function returns 0 (GW_OK) or a negative gw error code.
 * Codes of libuv, LMDB, raft and OpenSSL are translated at the module that
 * calls them and never leak past it. The strings of the etcd-compatible codes
 * are etcd's own wording, since the etcd and Admin APIs print them verbatim.
 * Thread-safe: the table is constant. */
#ifndef GW_ERR_H
#define GW_ERR_H

/* X(name, message) */
#define GW_ERRORS(X)                                                                               \
	X(GW_ENOMEM, "out of memory")                                                              \
	X(GW_EINVAL, "invalid argument")                                                           \
	X(GW_EIO, "input/output error")                                                            \
	X(GW_ENOTFOUND, "not found")                                                               \
	X(GW_EEXIST, "already exists")                                                             \
	X(GW_EPERM, "permission denied")                                                           \
	X(GW_EBUSY, "resource busy")                                                               \
	X(GW_ECANCELED, "canceled")                                                                \
	X(GW_ESHUTDOWN, "shutting down")                                                           \
	X(GW_ECORRUPT, "data is corrupt")                                                          \
	X(GW_EAGAIN, "try again")                                                                  \
	X(GW_ELIMIT, "limit exceeded")                                                             \
	X(GW_EPROTO, "protocol error")                                                             \
	X(GW_EADDR, "bad address")                                                                 \
	X(GW_ESTALE, "already applied")                                                            \
	X(GW_EKEYEMPTY, "etcdserver: key is not provided")                                         \
	X(GW_EKEYTOOLARGE, "etcdserver: key is too large")                                         \
	X(GW_EVALUETOOLARGE, "etcdserver: request is too large")                                   \
	X(GW_ENOSPACE, "mvcc: database space exceeded")                                            \
	X(GW_ECOMPACTED, "mvcc: required revision has been compacted")                             \
	X(GW_EFUTUREREV, "mvcc: required revision is a future revision")                           \
	X(GW_EDUPKEY, "etcdserver: duplicate key given in txn request")                            \
	X(GW_ETOOMANYOPS, "etcdserver: too many operations in txn request")                        \
	X(GW_ELEASENOTFOUND, "etcdserver: requested lease not found")                              \
	X(GW_ELEASEEXIST, "etcdserver: lease already exists")                                      \
	X(GW_ELEASETTL, "etcdserver: too large lease TTL")                                         \
	X(GW_ENOLEADER, "etcdserver: no leader")                                                   \
	X(GW_ETIMEOUT, "etcdserver: request timed out")                                            \
	X(GW_ELEADERCHANGED, "etcdserver: leader changed")                                         \
	X(GW_ENOTLEADER, "etcdserver: not leader")                                                 \
	X(GW_EUNHEALTHY, "etcdserver: unhealthy cluster")                                          \
	X(GW_EMEMBERNOTFOUND, "etcdserver: member not found")                                      \
	X(GW_EBADTRANSFEREE, "etcdserver: bad leader transferee")                                  \
	X(GW_EAUTHNOTENABLED, "etcdserver: authentication is not enabled")                         \
	X(GW_EAUTHFAILED, "etcdserver: authentication failed, invalid user ID or password")        \
	X(GW_EUSEREMPTY, "etcdserver: user name is empty")                                         \
	X(GW_EUSEREXIST, "etcdserver: user name already exists")                                   \
	X(GW_EUSERNOTFOUND, "etcdserver: user name not found")                                     \
	X(GW_EROLEEMPTY, "etcdserver: role name is empty")                                         \
	X(GW_EROLEEXIST, "etcdserver: role name already exists")                                   \
	X(GW_EROLENOTFOUND, "etcdserver: role name not found")                                     \
	X(GW_EROOTUSERNOTEXIST, "etcdserver: root user does not exist")                            \
	X(GW_EROOTROLENOTEXIST, "etcdserver: root user does not have root role")                   \
	X(GW_EROLENOTGRANTED, "etcdserver: role is not granted to the user")                       \
	X(GW_EPERMNOTGRANTED, "etcdserver: permission is not granted to the role")                 \
	X(GW_EINVALIDTOKEN, "etcdserver: invalid auth token")                                      \
	X(GW_EINVALIDAUTHMGMT, "etcdserver: invalid auth management")                              \
	X(GW_EOFFHOST, "etcdserver: permission denied: a client that is not on this host needs "   \
		       "a client certificate (etcdctl --cert/--key) or etcd auth (auth enable, "   \
		       "etcdctl --user)")                                                          \
	X(GW_ESTANDALONE, "etcdserver: permission denied: standalone mode: /apisix/ comes from "   \
			  "the --standalone file; change that file")

/* Codes start at -1001 to stay clear of -errno values. */
#define GW_OK 0

enum gw_err_idx {
#define GW__IDX(name, msg) name##_IDX,
	GW_ERRORS(GW__IDX)
#undef GW__IDX
	    GW__ERR_COUNT
};

enum gw_err {
#define GW__CODE(name, msg) name = -1001 - (int)name##_IDX,
	GW_ERRORS(GW__CODE)
#undef GW__CODE
};

/* Message of a gw error code, or of a negative errno value, or "unknown
 * error". Never NULL; the string is static. Any thread. */
const char *gw_strerror(int rv);

/* Symbolic name ("GW_ENOLEADER") of a gw error code, for logs and tests. */
const char *gw_errname(int rv);

#endif
