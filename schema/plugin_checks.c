/* plugin_checks.c: the checks of plugin configurations that APISIX makes
 * in code (a plugin's check_schema) beyond its JSON schema, with APISIX's
 * words: jwt-auth's keys per algorithm, cors' origins with credentials,
 * redirect's exclusive options, ...
 *
 * Happy path: validate.c calls the plugin's check once its schema passed;
 * 0 lets the configuration through. Failure modes: GW_EINVAL with the
 * reason in @err. Threads: any (pure functions). */
#include "config.h"

#include "lib/err.h"
#include "schema/schema_int.h"


const struct gw_schema__plugin_check gw_schema__plugin_checks[] = {
    {"", NULL}, /* none yet: the plugins' rows follow */
};
const size_t gw_schema__n_plugin_checks =
    sizeof gw_schema__plugin_checks / sizeof gw_schema__plugin_checks[0];
