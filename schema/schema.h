/* schema.h: the APISIX object schemas, defined once for the Admin API
 * (which validates what it stores) and the proxy (which compiles what was
 * stored).
 *
 * What lives here: the enumerations of the objects (upstream type, hash_on,
 * pass_host, scheme, vars operators) as X-macro tables that give both the
 * C enum the compiler switches on and the JSON "enum" lists the validator
 * checks; the numeric limits and defaults as constants that are pasted into
 * the schema texts and read by the compiler; the JSON schemas of every
 * resource (schema/tables.c); the plugin catalogue where a plugin registers
 * its configuration schema (schema/plugins.c); and the validation walk
 * (schema/validate.c) that speaks APISIX's jsonschema wording.
 *
 * Rule of the module: a value passes gw_schema_check only if the proxy can
 * serve it (the proxy runs the same check before compiling), so the Admin
 * API never answers 201 for an object the data plane would skip.
 * Depends on lib/ and cJSON only. Threads: everything is read-only after a
 * pthread_once load; any thread may call any function. */
#ifndef GW_SCHEMA_H
#define GW_SCHEMA_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

/* ---- enumerations: X(prefix, C name, JSON string); member order is the C
 * value. A member is listed only if the proxy serves it (APISIX's hash_on
 * "consumer" waits for consumers; grpc(s) schemes). */
#define GW_SCHEMA_LB(X)                                                                            \
	X(LB, ROUNDROBIN, "roundrobin")                                                            \
	X(LB, CHASH, "chash")                                                                      \
	X(LB, LEAST_CONN, "least_conn")                                                            \
	X(LB, EWMA, "ewma")
#define GW_SCHEMA_HASH_ON(X)                                                                       \
	X(HASH_ON, VARS, "vars")                                                                   \
	X(HASH_ON, HEADER, "header")                                                               \
	X(HASH_ON, COOKIE, "cookie")                                                               \
	X(HASH_ON, VARS_COMBINATIONS, "vars_combinations")
#define GW_SCHEMA_PASS_HOST(X)                                                                     \
	X(PASS_HOST, PASS, "pass")                                                                 \
	X(PASS_HOST, NODE, "node")                                                                 \
	X(PASS_HOST, REWRITE, "rewrite")
#define GW_SCHEMA_SCHEME(X)                                                                        \
	X(SCHEME, HTTP, "http")                                                                    \
	X(SCHEME, HTTPS, "https")
/* The operators of "vars" expressions (lua-resty-expr), case-insensitive. */
#define GW_SCHEMA_VARS_OP(X)                                                                       \
	X(VARS_OP, EQ, "==")                                                                       \
	X(VARS_OP, NE, "~=")                                                                       \
	X(VARS_OP, GT, ">")                                                                        \
	X(VARS_OP, GE, ">=")                                                                       \
	X(VARS_OP, LT, "<")                                                                        \
	X(VARS_OP, LE, "<=")                                                                       \
	X(VARS_OP, RE, "~~")                                                                       \
	X(VARS_OP, REI, "~*")                                                                      \
	X(VARS_OP, IN, "in")                                                                       \
	X(VARS_OP, HAS, "has")                                                                     \
	X(VARS_OP, IPMATCH, "ipmatch")

#define GW_SCHEMA__ENUM_ID(p, id, s) GW_SCHEMA_##p##_##id,
enum gw_schema_lb { GW_SCHEMA_LB(GW_SCHEMA__ENUM_ID) };
enum gw_schema_hash_on { GW_SCHEMA_HASH_ON(GW_SCHEMA__ENUM_ID) };
enum gw_schema_pass_host { GW_SCHEMA_PASS_HOST(GW_SCHEMA__ENUM_ID) };
enum gw_schema_scheme { GW_SCHEMA_SCHEME(GW_SCHEMA__ENUM_ID) };
enum gw_schema_vars_op { GW_SCHEMA_VARS_OP(GW_SCHEMA__ENUM_ID) };

/* One enumerated field: its members (index = C value) and its default. */
struct gw_schema_enum {
	const char *field;        /* JSON property name ("hash_on") */
	const char *const *names; /* members, NULL-terminated */
	int dflt;                 /* value when the field is absent */
	bool nocase;              /* members match case-insensitively */
};
extern const struct gw_schema_enum gw_schema_lb, gw_schema_hash_on, gw_schema_pass_host,
    gw_schema_scheme, gw_schema_vars_op;

/* The C value of @v, a member of @e: e->dflt when @v is NULL (absent),
 * GW_EINVAL when @v is not a string naming a member. */
int gw_schema_enum_value(const struct gw_schema_enum *e, const cJSON *v);
/* The C value of the member named @s, or GW_EINVAL. */
int gw_schema_enum_find(const struct gw_schema_enum *e, const char *s);
/* Number of members of @e. */
int gw_schema_enum_count(const struct gw_schema_enum *e);

/* ---- limits and defaults. Each is written into the schema texts (the
 * validator refuses beyond it) and read by the compiler (which stores the
 * value in a type that holds it). Integers only: they are pasted as text. */
#define GW_SCHEMA_PORT_MIN        1
#define GW_SCHEMA_PORT_MAX        65535
#define GW_SCHEMA_WEIGHT_MIN      0
#define GW_SCHEMA_WEIGHT_MAX      1000000     /* int weights, summed by the balancer */
#define GW_SCHEMA_PRIORITY_MIN    -2147483648 /* route and node priority: an int */
#define GW_SCHEMA_PRIORITY_MAX    2147483647
#define GW_SCHEMA_RETRIES_MAX     1000
#define GW_SCHEMA_SECONDS_MAX     4294967 /* timeouts: held in unsigned ms */
#define GW_SCHEMA_URI_MAX         4096
#define GW_SCHEMA_POOL_SIZE       320 /* keepalive_pool defaults */
#define GW_SCHEMA_POOL_IDLE_S     60
#define GW_SCHEMA_POOL_REQUESTS   1000
#define GW_SCHEMA_STATUS_CODE_MIN 200 /* response-rewrite status_code */
#define GW_SCHEMA_STATUS_CODE_MAX 598
#define GW_SCHEMA_HASH_KEY        "remote_addr" /* chash key when none is given */
#define GW_SCHEMA_HOST_MAX        64            /* node address text, with NUL */
#define GW_SCHEMA_HC_CONC_MAX     1000000       /* checks.active.concurrency */

/* ---- validation */

/* Validate @v against the named schema ("route", "service", "upstream",
 * "consumer", "credential", "ssl", "global_rule", "plugin_config",
 * "consumer_group", "stream_route", "proto", "plugin_metadata", "secret", or
 * a named definition such as "id"). Returns 0, GW_EINVAL with the reason in
 * @err (APISIX's jsonschema wording, no "invalid configuration: " prefix),
 * GW_ENOTFOUND for an unknown schema name, GW_ENOMEM. */
int gw_schema_validate(const char *schema, const cJSON *v, char *err, size_t errlen);

/* APISIX's checks of a schema-valid upstream beyond its schema (pass_host
 * "node" needs one node, "rewrite" needs upstream_host, chash needs a key).
 * NULL passes. 0 or GW_EINVAL with APISIX's message. */
int gw_schema_check_upstream(const cJSON *up, char *err, size_t errlen);

/* Check every plugin of a "plugins" object against the catalogue: the name
 * must be known and the config match the plugin's schema ("_meta" and
 * "disable" accepted everywhere). NULL passes. 0, GW_ENOMEM or GW_EINVAL
 * with APISIX's message ("unknown plugin [x]", "failed to check the
 * configuration of plugin x err: ..."). */
int gw_schema_check_plugins(const cJSON *plugins, char *err, size_t errlen);

/* The proxy's needs of a schema-valid upstream: "nodes" present (no
 * service discovery yet), every node a numeric IPv4/IPv6 address or a host
 * name (resolved by the proxy) with a port in range. NULL passes. 0 or GW_EINVAL with the reason.
 */
int gw_schema_check_nodes(const cJSON *up, char *err, size_t errlen);

/* Check a "vars" expression as the proxy compiles it (format "expr" of the
 * schemas). 0 or GW_EINVAL with "failed to validate the 'vars' expression:
 * <why>" (APISIX's prefix). */
int gw_schema_check_expr(const cJSON *vars, char *err, size_t errlen);

/* Flag: an object written around the Admin API (by etcdctl): the members
 * of an object schema marked 'x-proxy-defaults' may be missing (the proxy
 * has a default for each). */
#define GW_SCHEMA_PROXY 1u

/* Everything the Admin API checks in one object of @schema, in its order
 * and words: the schema ("invalid configuration: ..."), the upstream (the
 * object itself for "upstream", else its inline "upstream": APISIX's rules,
 * then gw_schema_check_nodes), the plugins. The Admin API passes 0 as
 * @flags; the proxy passes GW_SCHEMA_PROXY before compiling an object.
 * Returns 0, GW_EINVAL or GW_ENOMEM with the reason in @err. */
int gw_schema_check(const char *schema, const cJSON *v, unsigned flags, char *err, size_t errlen);

/* ---- schemas written by users (request-validation's body_schema and
 * header_schema), validated like APISIX's objects (schema/user.c). */
struct gw_schema_user;
/* Is @schema a JSON schema this validator serves (object subschemas, the
 * keywords of gw_schema_validate plus annotations, known type names,
 * patterns that compile within lib/regex's bounds, no $ref)? 0, or GW_EINVAL
 * with the reason in @err ("keyword \"if\" is not supported"), GW_ENOMEM.
 * Any thread. */
int gw_schema_user_check(const cJSON *schema, char *err, size_t errlen);
/* Compile @schema (copied; its patterns compiled) into *@out, owned by the
 * caller (gw_schema_user_free). 0, GW_EINVAL (as gw_schema_user_check) or
 * GW_ENOMEM. Any thread. */
int gw_schema_user_new(const cJSON *schema, struct gw_schema_user **out, char *err, size_t errlen);
/* NULL is accepted. */
void gw_schema_user_free(struct gw_schema_user *u);
/* The schema @u holds (read-only). */
const cJSON *gw_schema_user_schema(const struct gw_schema_user *u);
/* Validate @v against @u: 0, or GW_EINVAL with APISIX's jsonschema words in
 * @err ("property \"a\" is required"). No lock, no allocation but the
 * error text; any number of threads at once. */
int gw_schema_user_validate(const struct gw_schema_user *u, const cJSON *v, char *err,
			    size_t errlen);

/* Add to @v the "default" of each property its schema describes and @v
 * lacks (through properties and items, as APISIX's jsonschema fills them
 * while validating), after gw_schema_user_validate passed. 0 or GW_ENOMEM.
 */
int gw_schema_user_defaults(const struct gw_schema_user *u, cJSON *v);

/* ---- node addresses, parsed the same way by the check and the compiler */

/* Split a nodes-object key "host[:port]" ("[v6]:port" for IPv6) into @host
 * (NUL-terminated, brackets kept) and *@port (80 when absent). 0, or
 * GW_EINVAL if the port is not a number or the host does not fit @cap. */
int gw_schema_node_key(const char *key, char *host, size_t cap, long *port);
/* Parse @host ("[v6]" accepted) as a numeric address: writes it without
 * brackets to @ip (@cap bytes) and in binary to @addr (16 bytes). Returns
 * AF_INET or AF_INET6, or GW_EINVAL (a name, or too long). */
int gw_schema_node_ip(const char *host, char *ip, size_t cap, void *addr);
/* True when @host is a DNS host name: labels of letters, digits, '-' and
 * '_' (1..63 bytes, not starting with '-'), dots between, at most 253 bytes,
 * not all digits. */
bool gw_schema_node_name(const char *host);

/* ---- the plugin catalogue (schema/plugins.c) */

/* Names of the catalogue's plugins, APISIX's order, NULL-terminated. */
const char *const *gw_schema_plugin_names(void);
/* Every schema as {"main": {name: schema}, "plugins": {name: schema}}
 * (malloc'ed text, the caller frees it), or NULL when out of memory.
 * Any thread. */
char *gw_schema_export_json(void);

/* A plugin's schema as JSON text (static), or NULL if unknown. */
const char *gw_schema_plugin_schema(const char *name);
/* An auth plugin's schema in a consumer or credential (static), or NULL
 * (unknown, or not an auth plugin). */
const char *gw_schema_plugin_consumer_schema(const char *name);
/* plugin_metadata: check @v as the metadata of plugin @name
 * (/apisix/plugin_metadata/<name>). 0, or GW_EINVAL with APISIX's message:
 * "invalid plugin name" (not in the catalogue), "invalid configuration:
 * <why>" (its metadata schema); GW_ENOMEM. Any thread. */
int gw_schema_check_metadata(const char *name, const cJSON *v, char *err, size_t errlen);
/* The metadata schema of plugin @name as JSON text (static; {"type":
 * "object"} for a plugin without one), or NULL if not in the catalogue. */
const char *gw_schema_plugin_metadata_schema(const char *name);
/* True if the plugin is in the catalogue (the proxy implements it). */
bool gw_schema_plugin_validated(const char *name);

#endif
