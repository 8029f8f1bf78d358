/* tables.c: the APISIX resource schemas and the enumeration tables.
 *
 * The schemas are written here from reading APISIX's schema_def.lua (no code
 * taken from it): one row per schema, its JSON with single quotes for
 * readability. Enumerations and limits are not spelled here but pasted from
 * schema.h's X-macros and constants, so the lists the validator checks are
 * the lists the compiler maps to C values. Where the proxy cannot serve what
 * APISIX allows, the schema is narrower than APISIX's (hash_on consumer,
 * schemes but http, Lua filter_func/script, URIs not starting with '/',
 * weights and priorities beyond an int, health check timeouts <= 0 and
 * control characters in probe paths and headers) and the Admin API refuses with
 * jsonschema's usual wording. Patterns are PCRE2 (lib/regex.h), as
 * APISIX's are PCRE.
 * Failure modes: none at run time; a row that does not parse is caught by
 * an always-on assert when validate.c loads the table (and by unit tests). */
#include "config.h"

#include "lib/err.h"
#include "schema/schema_int.h"

#include <string.h>
#include <strings.h>

#define HTTP_METHODS                                                                               \
	"'GET','POST','PUT','DELETE','PATCH','HEAD','OPTIONS','CONNECT','TRACE','PURGE'"
/* schema.h's limits and enumerations as schema text */
#define SECONDS_MAX    GW_SCHEMA__STR(GW_SCHEMA_SECONDS_MAX)
#define WEIGHT_MIN     GW_SCHEMA__STR(GW_SCHEMA_WEIGHT_MIN)
#define WEIGHT_MAX     GW_SCHEMA__STR(GW_SCHEMA_WEIGHT_MAX)
#define RETRIES_MAX    GW_SCHEMA__STR(GW_SCHEMA_RETRIES_MAX)
#define URI_MAX        GW_SCHEMA__STR(GW_SCHEMA_URI_MAX)
#define PORT_MIN       GW_SCHEMA__STR(GW_SCHEMA_PORT_MIN)
#define PORT_MAX       GW_SCHEMA__STR(GW_SCHEMA_PORT_MAX)
#define PRIORITY_MIN   GW_SCHEMA__STR(GW_SCHEMA_PRIORITY_MIN)
#define PRIORITY_MAX   GW_SCHEMA__STR(GW_SCHEMA_PRIORITY_MAX)
#define LB_ENUM        "[" GW_SCHEMA_LB(GW_SCHEMA__JSON) "]"
#define HASH_ON_ENUM   "[" GW_SCHEMA_HASH_ON(GW_SCHEMA__JSON) "]"
#define SCHEME_ENUM    "[" GW_SCHEMA_SCHEME(GW_SCHEMA__JSON) "]"
#define PASS_HOST_ENUM "[" GW_SCHEMA_PASS_HOST(GW_SCHEMA__JSON) "]"
#define HC_CONC_MAX    GW_SCHEMA__STR(GW_SCHEMA_HC_CONC_MAX)

/* ---- the schemas ------------------------------------------------------ */

const struct gw_schema__row gw_schema__rows[] = {
    /* shared definitions */
    {"id", "{'anyOf':[{'type':'string','minLength':1,'maxLength':64,"
	   "'pattern':'^[a-zA-Z0-9_.-]+$'},{'type':'integer','minimum':1}]}"},
    {"host", "{'type':'string','pattern':'^[*]$|^[*]?[][0-9a-zA-Z._:-]+$'}"},
    {"label_value", "{'type':'string','pattern':'^[^[:space:]]+$','minLength':1,'maxLength':256}"},
    {"labels", "{'type':'object','patternProperties':{'.*':{'$ref':'label_value'}},"
	       "'maxProperties':16}"},
    {"name", "{'type':'string','minLength':1,'maxLength':256}"},
    {"desc", "{'type':'string','maxLength':256}"},
    {"timestamp", "{'type':'integer'}"},
    {"plugins", "{'type':'object'}"},
    {"uri", "{'type':'string','minLength':1,'maxLength':" URI_MAX ","
	    "'pattern':'^/|^[*]$'}"},
    {"port", "{'type':'integer','minimum':" PORT_MIN ","
	     "'maximum':" PORT_MAX "}"},
    {"priority", "{'type':'integer','minimum':" PRIORITY_MIN ","
		 "'maximum':" PRIORITY_MAX "}"},
    {"vars", "{'type':'array','format':'expr'}"},
    {"seconds", "{'type':'number','exclusiveMinimum':0,'maximum':" SECONDS_MAX "}"},
    {"timeout", "{'type':'object','properties':{'connect':{'$ref':'seconds'},"
		"'send':{'$ref':'seconds'},'read':{'$ref':'seconds'}},"
		"'required':['connect','send','read'],'x-proxy-defaults':true}"},
    {"remote_addr", "{'type':'string','format':'ip_or_cidr'}"},
    {"cert", "{'type':'string','minLength':128,'maxLength':65536}"},
    {"statuses", "{'type':'array','minItems':1,'uniqueItems':true,"
		 "'items':{'type':'integer','minimum':200,'maximum':599}}"},
    {"counter", "{'type':'integer','minimum':1,'maximum':254}"},
    {"hc_interval", "{'type':'integer','minimum':1,'maximum':" SECONDS_MAX "}"},
    {"health_checker",
     "{'type':'object','additionalProperties':false,"
     "'properties':{'active':{'type':'object','properties':{"
     "'type':{'type':'string','enum':['http','https','tcp']},'timeout':{'$ref':'seconds'},"
     "'concurrency':{'type':'integer','minimum':1,'maximum':" HC_CONC_MAX "},"
     "'host':{'$ref':'host'},'port':{'type':'integer','minimum':1,'maximum':65535},"
     "'http_path':{'type':'string','pattern':'^[^[:space:][:cntrl:]]+$'},"
     "'https_verify_certificate':{'type':'boolean'},"
     "'healthy':{'type':'object','properties':{'interval':{'$ref':'hc_interval'},"
     "'http_statuses':{'$ref':'statuses'},'successes':{'$ref':'counter'}}},"
     "'unhealthy':{'type':'object','properties':{'interval':{'$ref':'hc_interval'},"
     "'http_statuses':{'$ref':'statuses'},'http_failures':{'$ref':'counter'},"
     "'tcp_failures':{'$ref':'counter'},'timeouts':{'$ref':'counter'}}},"
     "'req_headers':{'type':'array','minItems':1,'items':{'type':'string',"
     "'pattern':'^[^:[:cntrl:]]+:[^[:cntrl:]]*$'}}}},"
     "'passive':{'type':'object','properties':{"
     "'type':{'type':'string','enum':['http','https','tcp']},"
     "'healthy':{'type':'object','properties':{'http_statuses':{'$ref':'statuses'},"
     "'successes':{'$ref':'counter'}}},"
     "'unhealthy':{'type':'object','properties':{'http_statuses':{'$ref':'statuses'},"
     "'tcp_failures':{'$ref':'counter'},'timeouts':{'$ref':'counter'},"
     "'http_failures':{'$ref':'counter'}}}}}},"
     "'anyOf':[{'required':['active']},{'required':['active','passive']}]}"},
    {"nodes", "{'anyOf':[{'type':'object','patternProperties':{'.*':{'type':'integer',"
	      "'minimum':" WEIGHT_MIN ",'maximum':" WEIGHT_MAX "}}},{'type':'array','items':{"
	      "'type':'object','properties':{'host':{'$ref':'host'},'port':{'$ref':'port'},"
	      "'weight':{'type':'integer','minimum':" WEIGHT_MIN ",'maximum':" WEIGHT_MAX "},"
	      "'priority':{'$ref':'priority'},"
	      "'metadata':{'type':'object'}},'required':['host','port','weight']}}]}"},
    /* resources */
    {"upstream",
     "{'type':'object','additionalProperties':false,'properties':{"
     "'create_time':{'$ref':'timestamp'},'update_time':{'$ref':'timestamp'},"
     "'nodes':{'$ref':'nodes'},"
     "'retries':{'type':'integer','minimum':0,'maximum':" RETRIES_MAX "},"
     "'retry_timeout':{'type':'number','minimum':0,'maximum':" SECONDS_MAX "},"
     "'timeout':{'$ref':'timeout'},"
     "'tls':{'type':'object','properties':{'client_cert':{'$ref':'cert'},"
     "'client_key':{'$ref':'cert'},'client_cert_id':{'$ref':'id'},'verify':{'type':'boolean'}}},"
     "'type':{'type':'string','enum':" LB_ENUM "},"
     "'checks':{'$ref':'health_checker'},"
     "'hash_on':{'type':'string','enum':" HASH_ON_ENUM "},"
     "'key':{'type':'string','minLength':1},'scheme':{'enum':" SCHEME_ENUM "},"
     "'labels':{'$ref':'labels'},'discovery_type':{'type':'string'},"
     "'discovery_args':{'type':'object'},"
     "'pass_host':{'type':'string','enum':" PASS_HOST_ENUM "},"
     "'upstream_host':{'$ref':'host'},'name':{'$ref':'name'},'desc':{'$ref':'desc'},"
     "'service_name':{'type':'string','minLength':1,'maxLength':256},"
     "'keepalive_pool':{'type':'object','properties':{'size':{'type':'integer','minimum':1},"
     "'idle_timeout':{'type':'number','minimum':0,'maximum':" SECONDS_MAX "},"
     "'requests':{'type':'integer','minimum':1}},"
     "'required':['size','idle_timeout','requests'],'x-proxy-defaults':true},"
     "'id':{'$ref':'id'}},"
     "'oneOf':[{'required':['nodes']},{'required':['service_name','discovery_type']}]}"},
    {"route",
     "{'type':'object','additionalProperties':false,'properties':{"
     "'create_time':{'$ref':'timestamp'},'update_time':{'$ref':'timestamp'},"
     "'uri':{'$ref':'uri'},"
     "'uris':{'type':'array','items':{'$ref':'uri'},'minItems':1,'uniqueItems':true},"
     "'name':{'$ref':'name'},'desc':{'$ref':'desc'},'priority':{'$ref':'priority'},"
     "'methods':{'type':'array','uniqueItems':true,'items':{'type':'string','enum':[" HTTP_METHODS
     "]}},"
     "'host':{'$ref':'host'},"
     "'hosts':{'type':'array','items':{'$ref':'host'},'minItems':1,'uniqueItems':true},"
     "'remote_addr':{'$ref':'remote_addr'},"
     "'remote_addrs':{'type':'array','items':{'$ref':'remote_addr'},'minItems':1,"
     "'uniqueItems':true},"
     "'timeout':{'$ref':'timeout'},'vars':{'$ref':'vars'},'script_id':{'$ref':'id'},"
     "'plugins':{'$ref':'plugins'},'plugin_config_id':{'$ref':'id'},"
     "'upstream':{'$ref':'upstream'},'labels':{'$ref':'labels'},"
     "'service_id':{'$ref':'id'},'upstream_id':{'$ref':'id'},"
     "'service_protocol':{'enum':['grpc','http']},'enable_websocket':{'type':'boolean'},"
     "'id':{'$ref':'id'},'status':{'type':'integer','enum':[1,0]}},"
     "'allOf':[{'oneOf':[{'required':['uri']},{'required':['uris']}]},"
     "{'oneOf':[{'not':{'anyOf':[{'required':['host']},{'required':['hosts']}]}},"
     "{'required':['host']},{'required':['hosts']}]},"
     "{'oneOf':[{'not':{'anyOf':[{'required':['remote_addr']},{'required':['remote_addrs']}]}},"
     "{'required':['remote_addr']},{'required':['remote_addrs']}]}],"
     "'anyOf':[{'required':['plugins','uri']},{'required':['upstream','uri']},"
     "{'required':['upstream_id','uri']},{'required':['service_id','uri']},"
     "{'required':['plugins','uris']},{'required':['upstream','uris']},"
     "{'required':['upstream_id','uris']},{'required':['service_id','uris']}]}"},
    {"service", "{'type':'object','additionalProperties':false,'properties':{"
		"'id':{'$ref':'id'},'plugins':{'$ref':'plugins'},'upstream':{'$ref':'upstream'},"
		"'upstream_id':{'$ref':'id'},'name':{'$ref':'name'},'desc':{'$ref':'desc'},"
		"'labels':{'$ref':'labels'},'script':{'type':'string','minLength':10,"
		"'maxLength':102400},'create_time':{'$ref':'timestamp'},"
		"'update_time':{'$ref':'timestamp'},'enable_websocket':{'type':'boolean'},"
		"'hosts':{'type':'array','items':{'$ref':'host'},'minItems':1,"
		"'uniqueItems':true}}}"},
    {"consumer", "{'type':'object','additionalProperties':false,'properties':{"
		 "'username':{'type':'string','minLength':1,'maxLength':256,"
		 "'pattern':'^[a-zA-Z0-9_-]+$'},'group_id':{'$ref':'id'},"
		 "'plugins':{'$ref':'plugins'},'labels':{'$ref':'labels'},"
		 "'create_time':{'$ref':'timestamp'},'update_time':{'$ref':'timestamp'},"
		 "'desc':{'$ref':'desc'}},'required':['username']}"},
    {"credential", "{'type':'object','additionalProperties':false,'properties':{"
		   "'id':{'$ref':'id'},'name':{'$ref':'name'},'desc':{'$ref':'desc'},"
		   "'plugins':{'$ref':'plugins'},'labels':{'$ref':'labels'},"
		   "'create_time':{'$ref':'timestamp'},'update_time':{'$ref':'timestamp'}}}"},
    {"ssl", "{'type':'object','additionalProperties':false,'properties':{"
	    "'id':{'$ref':'id'},'type':{'type':'string','enum':['server','client']},"
	    "'cert':{'$ref':'cert'},'key':{'$ref':'cert'},"
	    "'sni':{'type':'string','pattern':'^[*]?[0-9a-zA-Z.-]+$'},"
	    "'snis':{'type':'array','minItems':1,'items':{'type':'string',"
	    "'pattern':'^[*]?[0-9a-zA-Z.-]+$'}},"
	    "'certs':{'type':'array','items':{'$ref':'cert'}},"
	    "'keys':{'type':'array','items':{'$ref':'cert'}},"
	    "'client':{'type':'object','properties':{'ca':{'$ref':'cert'},"
	    "'depth':{'type':'integer','minimum':0},'skip_mtls_uri_regex':{'type':'array',"
	    "'minItems':1,'uniqueItems':true,'items':{'type':'string'}}},'required':['ca']},"
	    "'exptime':{'type':'integer','minimum':1588262400},'labels':{'$ref':'labels'},"
	    "'status':{'type':'integer','enum':[1,0]},"
	    "'ssl_protocols':{'type':'array','maxItems':3,'uniqueItems':true,'items':{"
	    "'enum':['TLSv1.1','TLSv1.2','TLSv1.3']}},"
	    "'validity_end':{'$ref':'timestamp'},'validity_start':{'$ref':'timestamp'},"
	    "'create_time':{'$ref':'timestamp'},'update_time':{'$ref':'timestamp'}},"
	    "'oneOf':[{'required':['sni','key','cert']},{'required':['snis','key','cert']}]}"},
    {"proto", "{'type':'object','additionalProperties':false,'properties':{"
	      "'id':{'$ref':'id'},'name':{'$ref':'name'},'desc':{'$ref':'desc'},"
	      "'create_time':{'$ref':'timestamp'},'update_time':{'$ref':'timestamp'},"
	      "'content':{'type':'string','minLength':1,'maxLength':1048576}},"
	      "'required':['content']}"},
    {"global_rule", "{'type':'object','additionalProperties':false,'properties':{"
		    "'id':{'$ref':'id'},'plugins':{'$ref':'plugins'},"
		    "'create_time':{'$ref':'timestamp'},'update_time':{'$ref':'timestamp'}},"
		    "'required':['plugins']}"},
    {"stream_route", "{'type':'object','additionalProperties':false,'properties':{"
		     "'id':{'$ref':'id'},'name':{'$ref':'name'},'desc':{'$ref':'desc'},"
		     "'create_time':{'$ref':'timestamp'},'update_time':{'$ref':'timestamp'},"
		     "'remote_addr':{'$ref':'remote_addr'},'server_addr':{'$ref':'remote_addr'},"
		     "'server_port':{'type':'integer'},"
		     "'sni':{'type':'string','pattern':'^[*]?[0-9a-zA-Z._-]+$'},"
		     "'upstream':{'$ref':'upstream'},'upstream_id':{'$ref':'id'},"
		     "'service_id':{'$ref':'id'},'plugins':{'$ref':'plugins'},"
		     "'protocol':{'type':'object'},'labels':{'$ref':'labels'}}}"},
    {"plugin_config", "{'type':'object','additionalProperties':false,'properties':{"
		      "'id':{'$ref':'id'},'name':{'$ref':'name'},'desc':{'$ref':'desc'},"
		      "'plugins':{'$ref':'plugins'},'labels':{'$ref':'labels'},"
		      "'create_time':{'$ref':'timestamp'},'update_time':{'$ref':'timestamp'}},"
		      "'required':['plugins']}"},
    {"consumer_group", "{'type':'object','additionalProperties':false,'properties':{"
		       "'id':{'$ref':'id'},'name':{'$ref':'name'},'desc':{'$ref':'desc'},"
		       "'plugins':{'$ref':'plugins'},'labels':{'$ref':'labels'},"
		       "'create_time':{'$ref':'timestamp'},'update_time':{'$ref':'timestamp'}},"
		       "'required':['plugins']}"},
    /* Not validated beyond being an object: plugin metadata depends on the
     * plugin, secrets on the manager (vault, aws, gcp). */
    {"plugin_metadata", "{'type':'object'}"},
    {"secret", "{'type':'object'}"},
};
const size_t gw_schema__n_rows = sizeof(gw_schema__rows) / sizeof(gw_schema__rows[0]);

/* ---- enumerations ----------------------------------------------------- */

#define NAME(p, id, s) s,
static const char *const lb_names[] = {GW_SCHEMA_LB(NAME) NULL};
static const char *const hash_on_names[] = {GW_SCHEMA_HASH_ON(NAME) NULL};
static const char *const pass_host_names[] = {GW_SCHEMA_PASS_HOST(NAME) NULL};
static const char *const scheme_names[] = {GW_SCHEMA_SCHEME(NAME) NULL};
static const char *const vars_op_names[] = {GW_SCHEMA_VARS_OP(NAME) NULL};

const struct gw_schema_enum gw_schema_lb = {"type", lb_names, GW_SCHEMA_LB_ROUNDROBIN, false};
const struct gw_schema_enum gw_schema_hash_on = {"hash_on", hash_on_names, GW_SCHEMA_HASH_ON_VARS,
						 false};
const struct gw_schema_enum gw_schema_pass_host = {"pass_host", pass_host_names,
						   GW_SCHEMA_PASS_HOST_PASS, false};
const struct gw_schema_enum gw_schema_scheme = {"scheme", scheme_names, GW_SCHEMA_SCHEME_HTTP,
						false};
const struct gw_schema_enum gw_schema_vars_op = {"vars", vars_op_names, -1, true};

int gw_schema_enum_find(const struct gw_schema_enum *e, const char *s)
{
	for (int i = 0; e->names[i] != NULL; i++) {
		if (e->nocase ? strcasecmp(e->names[i], s) == 0 : strcmp(e->names[i], s) == 0) {
			return i;
		}
	}
	return GW_EINVAL;
}

int gw_schema_enum_value(const struct gw_schema_enum *e, const cJSON *v)
{
	if (v == NULL) {
		return e->dflt;
	}
	return cJSON_IsString(v) ? gw_schema_enum_find(e, v->valuestring) : GW_EINVAL;
}

int gw_schema_enum_count(const struct gw_schema_enum *e)
{
	int n = 0;

	while (e->names[n] != NULL) {
		n++;
	}
	return n;
}
