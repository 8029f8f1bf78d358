/* schema_int.h: internals of schema/, shared by its files and unit tests.
 *
 * The schema texts are single-quoted JSON (readable in C strings) built at
 * compile time from the X-macro enumerations and the limits of schema.h;
 * validate.c turns them into cJSON once (quotes swapped, the trailing comma
 * an X-macro list leaves before ']' dropped outside strings). */
#ifndef GW_SCHEMA_INT_H
#define GW_SCHEMA_INT_H

#include "schema/schema.h"

#include <stdbool.h>
#include <stddef.h>

/* A macro's value as a string literal (for the limits of schema.h). */
#define GW_SCHEMA__S(x)   #x
#define GW_SCHEMA__STR(x) GW_SCHEMA__S(x)
/* One member of an X-macro enumeration as a JSON list item: "'name',". */
#define GW_SCHEMA__JSON(p, id, s) "'" s "',"

/* One named schema: a resource or a definition a $ref names. */
struct gw_schema__row {
	const char *name;
	const char *json; /* single-quoted JSON */
};
extern const struct gw_schema__row gw_schema__rows[];
extern const size_t gw_schema__n_rows;

/* One plugin of the catalogue (a plugin the proxy implements). */
struct gw_schema__plugin_row {
	const char *name;
	const char *json;     /* its configuration on a route, service, ... */
	const char *consumer; /* on a consumer or credential (auth plugins), or NULL */
};
extern const struct gw_schema__plugin_row gw_schema__plugins[];
extern const size_t gw_schema__n_plugins;

/* A plugin's plugin_metadata schema (plugins.c, metadata.c). */
struct gw_schema__plugin_meta {
	const char *name;
	const char *json; /* single-quoted JSON */
};
extern const struct gw_schema__plugin_meta gw_schema__plugin_metadata[];
extern const size_t gw_schema__n_plugin_metadata;

/* A plugin's check beyond its JSON schema (APISIX's check_schema code),
 * run after the schema passed: 0, or GW_EINVAL with APISIX's words in
 * @err (prefixed by the caller like a schema error). @consumer: the
 * configuration is a consumer's or a credential's. */
struct gw_schema__plugin_check {
	const char *name;
	int (*check)(const cJSON *conf, bool consumer, char *err, size_t errlen);
};
extern const struct gw_schema__plugin_check gw_schema__plugin_checks[];
extern const size_t gw_schema__n_plugin_checks;

/* Flag of gw_schema__check_plugins: the plugins of a consumer (auth
 * plugins checked against their consumer schema, errors prefixed "invalid
 * plugins configuration: "); with GW_SCHEMA__CREDENTIAL only auth plugins. */
#define GW_SCHEMA__CONSUMER   0x100u
#define GW_SCHEMA__CREDENTIAL 0x200u

/* gw_schema_validate and gw_schema_check_plugins with gw_schema_check's
 * flags. */
int gw_schema__validate(const char *schema, const cJSON *v, unsigned fl, char *err, size_t errlen);
int gw_schema__check_plugins(const cJSON *plugins, unsigned fl, char *err, size_t errlen);
/* ssl.c: an ssls object's certificates and keys (parse, key matches cert,
 * dates unless @fl has GW_SCHEMA_PROXY), pairs of certs/keys; APISIX's
 * wording. 0, GW_EINVAL or GW_ENOMEM with the reason in @err. */
int gw_schema__check_ssl(const cJSON *v, unsigned fl, char *err, size_t errlen);

/* The parsed schema of a row of tables.c / of a plugin (static, read-only),
 * or NULL if unknown. For the unit tests that walk the schemas. */
const cJSON *gw_schema__find(const char *name);
const cJSON *gw_schema__plugin(const char *name);
const cJSON *gw_schema__plugin_consumer(const char *name);

/* A table's single-quoted text as JSON text (gw_schema__unquote: quotes
 * made double; ",]" outside strings made "]"). Malloc'ed, the caller frees
 * it. */
char *gw_schema__unquote(const char *s);

/* A precompiled pattern of a user schema (user.c). */
struct gw_schema__rx {
	const char *pat;     /* the pattern's text, in the schema */
	struct gw_regex *re; /* owned by the user schema */
};
/* Check @v against the parsed schema @s (gw_schema_validate's words),
 * matching the patterns of @rx (@n_rx) without the shared cache; @user: a
 * user's schema (only jsonschema's formats, gw_schema__user_format). Any
 * thread. */
int gw_schema__check_with(const cJSON *s, const cJSON *v, const struct gw_schema__rx *rx,
			  size_t n_rx, bool user, char *err, size_t errlen);
/* validate.c's walk from inside a check (user.c's keywords recurse with
 * it): @n 0 is a trial (no words). */
int gw_schema__check_node(const cJSON *s, const cJSON *v, char *e, size_t n, int depth);
/* user.c: the keywords of a user schema that APISIX's jsonschema serves
 * beyond the tables' (multipleOf, tuple items and additionalItems,
 * dependencies, if/then/else, contains), checked after the others. */
int gw_schema__user_extra(const cJSON *s, const cJSON *v, char *e, size_t n, int depth);
/* user.c: a string's "format" in a user schema, as APISIX's jsonschema
 * checks it (email, ipv4, ipv6, hostname; any other format passes). 0 or
 * GW_EINVAL with its words in @e (nothing written when @n is 0). */
int gw_schema__user_format(const char *fmt, const char *s, char *e, size_t n);

/* True if @s is an IPv4/IPv6 address or CIDR (format ip_or_cidr). */
bool gw_schema__ip_or_cidr(const char *s);

#endif
