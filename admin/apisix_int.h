/* apisix_int.h: internals of the Admin API shared by its files and unit tests.
 *
 * apisix_schema.c: the validator entry points the Admin API calls, which
 * forward to schema/ (the schemas, the plugin catalogue and the validation
 * walk, shared with the proxy's compiler; see schema/schema.h), and the JSON
 * merge used by PATCH. Error messages follow APISIX's jsonschema wording
 * ("property \"uri\" validation failed: ...").
 *
 * Threads: any thread (schema/ is read-only after its one-time load). */
#ifndef GW_ADMIN_APISIX_INT_H
#define GW_ADMIN_APISIX_INT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

/* Validate @v against the named schema ("route", "service", "upstream",
 * "consumer", "credential", "ssl", "global_rule", "plugin_config",
 * "consumer_group", "stream_route", "proto", "plugin_metadata", "secret",
 * or any named definition such as "id"). Returns 0, or GW_EINVAL with the
 * reason in @err (APISIX's wording, without the "invalid configuration: "
 * prefix), or GW_ENOTFOUND for an unknown schema name. */
int gw_admin__validate(const char *schema, const cJSON *v, char *err, size_t errlen);

/* Everything the Admin API checks before storing an object of @schema
 * (gw_schema_check): the schema ("invalid configuration: ..."), the upstream
 * (APISIX's rules, then what the proxy can serve: numeric node addresses),
 * the plugins. 0, GW_EINVAL or GW_ENOMEM with the message in @err. */
int gw_admin__check(const char *schema, const cJSON *v, char *err, size_t errlen);

/* Check every plugin of a "plugins" object: its name must be in the
 * catalogue and its config must match the plugin's schema ("_meta" and
 * "disable" are accepted in every plugin). 0 or GW_EINVAL with APISIX's
 * message ("unknown plugin [x]", "failed to check the configuration of
 * plugin x err: ..."). */
int gw_admin__check_plugins(const cJSON *plugins, char *err, size_t errlen);

/* The checks APISIX makes on an upstream beyond its schema (pass_host
 * "node" needs exactly one node, "rewrite" needs upstream_host; chash needs
 * a key unless it hashes on the consumer). @up is a schema-valid upstream.
 * 0 or GW_EINVAL with APISIX's message. */
int gw_admin__check_upstream(const cJSON *up, char *err, size_t errlen);

/* Names of the plugins of the catalogue, in APISIX's order; NULL-terminated. */
const char *const *gw_admin__plugin_names(void);
/* The schema of a plugin as JSON text (static), or NULL if unknown. */
const char *gw_admin__plugin_schema(const char *name);
/* True if the plugin's schema is APISIX's (the proxy implements it);
 * false if it is only a permissive object schema. */
bool gw_admin__plugin_validated(const char *name);

/* JSON merge patch (RFC 7386, APISIX's PATCH): objects merge recursively, a
 * null in @patch deletes the key, anything else (arrays included) replaces.
 * Consumes neither argument; returns the merged document (@target modified
 * in place when both are objects, else a new item and @target is deleted),
 * or NULL on allocation failure. */
cJSON *gw_admin__merge(cJSON *target, const cJSON *patch);

/* Replace the value at @path ("plugins/proxy-rewrite", '/'-separated) of
 * object @root by @value (which the call takes over), creating missing
 * intermediate objects. 0, or GW_EINVAL if an intermediate value is not an
 * object or the path is empty. */
int gw_admin__set_path(cJSON *root, const char *path, cJSON *value);

/* Depth of the deepest nesting of arrays/objects in JSON text, counted
 * without parsing (strings skipped), capped at @limit + 1. */
int gw_admin__json_depth(const char *p, size_t len, int limit);

#endif
