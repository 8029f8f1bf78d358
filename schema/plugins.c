/* plugins.c: the plugin catalogue, where a plugin registers its schema.
 *
 * One row per plugin the proxy implements (proxy/plugin*.c), in APISIX's
 * order (GET /plugins/list answers it): its JSON schema (single-quoted,
 * written from reading the plugin's APISIX source) and, for an auth plugin,
 * the schema of its configuration in a consumer or credential. The Admin
 * API checks both before storing, the proxy before compiling; GET
 * /plugins/<name> returns them. Any other name is "unknown plugin [name]",
 * as in APISIX for a plugin that is not enabled: the Admin API never
 * answers 201 for a plugin the data plane would skip. Where the proxy
 * serves less than APISIX's schema allows (limit-count's redis policies and
 * rules, request-id's other algorithms), the schema is narrower.
 * Failure modes: none at run time (see tables.c). */
#include "config.h"

#include "schema/schema_int.h"

#include <stddef.h>

#define HEADERS_OP                                                                                 \
	"{'anyOf':[{'type':'object','minProperties':1,'additionalProperties':false,"               \
	"'properties':{'add':{'type':'object','additionalProperties':false,"                       \
	"'patternProperties':{'^[^:\\r\\n]+$':{'type':['string','number']}}},"                     \
	"'set':{'type':'object','additionalProperties':false,"                                     \
	"'patternProperties':{'^[^:\\r\\n]+$':{'type':['string','number']}}},"                     \
	"'remove':{'type':'array','items':{'type':'string','pattern':'^[^:\\r\\n]+$'}}}},"         \
	"{'type':'object','additionalProperties':false,"                                           \
	"'patternProperties':{'^[^:\\r\\n]+$':{'type':['string','number']}}}]}"

#define HTTP_METHODS                                                                               \
	"'GET','POST','PUT','DELETE','PATCH','HEAD','OPTIONS','CONNECT','TRACE','PURGE'"
/* cors' origins: "*", "**", "null" or scheme://host[,scheme://host...] */
#define CORS_ORIGINS "^(\\\\*|\\\\*\\\\*|null|\\\\w+://[^,]+(,\\\\w+://[^,]+)*)$"
#define HDR_TOKEN    "^[-!#$%&*+.^_`|~0-9A-Za-z]*$" /* an HTTP header name, or "" */
#define STATUS_MIN   GW_SCHEMA__STR(GW_SCHEMA_STATUS_CODE_MIN)
#define STATUS_MAX   GW_SCHEMA__STR(GW_SCHEMA_STATUS_CODE_MAX)
/* APISIX's batch processor fields (apisix/utils/batch-processor.lua) */
#define BATCH_PROCESSOR                                                                            \
	"'name':{'type':'string'},'max_retry_count':{'type':'integer','minimum':0,'default':0},"   \
	"'retry_delay':{'type':'integer','minimum':0,'default':1},"                                \
	"'buffer_duration':{'type':'integer','minimum':1,'default':60},"                           \
	"'inactive_timeout':{'type':'integer','minimum':1,'default':5},"                           \
	"'batch_max_size':{'type':'integer','minimum':1,'default':1000}"

const struct gw_schema__plugin_row gw_schema__plugins[] = {
    {"request-id",
     "{'type':'object','properties':{'header_name':{'type':'string','default':'X-Request-Id'},"
     "'include_in_response':{'type':'boolean','default':true},"
     "'algorithm':{'type':'string','enum':['uuid'],'default':'uuid'}}}",
     NULL},
    {"ip-restriction",
     "{'type':'object','properties':{"
     "'message':{'type':'string','minLength':1,'maxLength':1024},"
     "'response_code':{'type':'integer','minimum':403,'maximum':404},"
     "'whitelist':{'type':'array','items':{'type':'string','format':'ip_or_cidr'},"
     "'minItems':1},"
     "'blacklist':{'type':'array','items':{'type':'string','format':'ip_or_cidr'},"
     "'minItems':1}},"
     "'oneOf':[{'required':['whitelist']},{'required':['blacklist']}]}",
     NULL},
    {"basic-auth",
     "{'type':'object','properties':{'hide_credentials':{'type':'boolean','default':false},"
     "'anonymous_consumer':{'type':'string','minLength':1}}}",
     "{'type':'object','properties':{'username':{'type':'string'},"
     "'password':{'type':'string'}},'required':['username','password']}"},
    {"key-auth",
     "{'type':'object','properties':{'header':{'type':'string','default':'apikey'},"
     "'query':{'type':'string','default':'apikey'},"
     "'hide_credentials':{'type':'boolean','default':false},"
     "'anonymous_consumer':{'type':'string','minLength':1}}}",
     "{'type':'object','properties':{'key':{'type':'string'}},'required':['key']}"},
    {"consumer-restriction",
     "{'type':'object','properties':{"
     "'type':{'type':'string','enum':['consumer_name','service_id','route_id',"
     "'consumer_group_id'],"
     "'default':'consumer_name'},"
     "'blacklist':{'type':'array','minItems':1,'items':{'type':'string'}},"
     "'whitelist':{'type':'array','minItems':1,'items':{'type':'string'}},"
     "'allowed_by_methods':{'type':'array','items':{'type':'object','properties':{"
     "'user':{'type':'string'},'methods':{'type':'array','minItems':1,'items':{"
     "'type':'string','enum':[" HTTP_METHODS "]}}}}},"
     "'rejected_code':{'type':'integer','minimum':200,'default':403},"
     "'rejected_msg':{'type':'string'}},"
     "'anyOf':[{'required':['blacklist']},{'required':['whitelist']},"
     "{'required':['allowed_by_methods']}]}",
     NULL},
    {"proxy-rewrite",
     "{'type':'object','minProperties':1,'additionalProperties':false,'properties':{"
     "'uri':{'type':'string','minLength':1,'maxLength':4096,'pattern':'^/.*'},"
     "'method':{'type':'string','enum':['GET','POST','PUT','HEAD','DELETE','OPTIONS','MKCOL',"
     "'COPY','MOVE','PROPFIND','LOCK','UNLOCK','PATCH','TRACE']},"
     "'regex_uri':{'type':'array','minItems':2,'format':'regex_uri',"
     "'items':{'type':'string','minLength':1,'maxLength':4096}},"
     "'host':{'type':'string','pattern':'^[0-9a-zA-Z.-]+(:[0-9]{1,5})?$'},"
     "'scheme':{'type':'string','enum':['http','https']},"
     "'headers':" HEADERS_OP ",'use_real_request_uri_unsafe':{'type':'boolean'}}}",
     NULL},
    {"limit-count",
     "{'type':'object','properties':{"
     /* the proxy keeps both in 32 bits: a 201 must mean served */
     "'count':{'type':'integer','exclusiveMinimum':0,'maximum':4000000000},"
     "'time_window':{'type':'integer','exclusiveMinimum':0,'maximum':4000000000},"
     "'group':{'type':'string'},'key':{'type':'string','default':'remote_addr'},"
     "'key_type':{'type':'string','enum':['var','var_combination','constant'],"
     "'default':'var'},"
     "'rejected_code':{'type':'integer','minimum':200,'maximum':599,'default':503},"
     "'rejected_msg':{'type':'string','minLength':1},"
     "'policy':{'type':'string','enum':['local'],'default':'local'},"
     "'allow_degradation':{'type':'boolean','default':false},"
     "'show_limit_quota_header':{'type':'boolean','default':true}},"
     "'required':['count','time_window']}",
     NULL},
    {"limit-req",
     "{'type':'object','properties':{"
     "'rate':{'type':'number','exclusiveMinimum':0},"
     "'burst':{'type':'number','minimum':0},'key':{'type':'string'},"
     "'key_type':{'type':'string','enum':['var','var_combination'],'default':'var'},"
     "'rejected_code':{'type':'integer','minimum':200,'maximum':599,'default':503},"
     "'rejected_msg':{'type':'string','minLength':1},"
     "'policy':{'type':'string','enum':['local'],'default':'local'},"
     "'nodelay':{'type':'boolean','default':false},"
     "'allow_degradation':{'type':'boolean','default':false}},"
     "'required':['rate','burst','key']}",
     NULL},
    {"response-rewrite",
     "{'type':'object','additionalProperties':false,'properties':{"
     "'headers':" HEADERS_OP ",'body':{'type':'string'},'body_base64':{'type':'boolean'},"
     "'status_code':{'type':'integer','minimum':" STATUS_MIN ",'maximum':" STATUS_MAX "},"
     "'vars':{'type':'array','format':'expr'},"
     "'filters':{'type':'array','minItems':1,'items':{'type':'object','properties':{"
     "'regex':{'type':'string','minLength':1},'scope':{'type':'string','enum':['once',"
     "'global']},'replace':{'type':'string'},'options':{'type':'string'}},"
     "'required':['regex','replace']}}},"
     "'not':{'required':['body','filters']}}",
     NULL},
    {"prometheus", "{'type':'object','properties':{'prefer_name':{'type':'boolean'}}}", NULL},
    /* wt-auth's rows */
    {"jwt-auth",
     "{'type':'object','properties':{'header':{'type':'string','default':'authorization'},"
     "'query':{'type':'string','default':'jwt'},'cookie':{'type':'string','default':'jwt'},"
     "'hide_credentials':{'type':'boolean','default':false},"
     "'key_claim_name':{'type':'string','default':'key','minLength':1},"
     "'store_in_ctx':{'type':'boolean','default':false},"
     "'realm':{'type':'string','default':'jwt'},"
     "'anonymous_consumer':{'type':'string','minLength':1},"
     "'claims_to_verify':{'type':'array','items':{'type':'string','enum':['exp','nbf']},"
     "'uniqueItems':true,'default':['exp','nbf']}}}",
     "{'type':'object','properties':{'key':{'type':'string','minLength':1},"
     "'secret':{'type':'string','minLength':1},"
     "'algorithm':{'type':'string','enum':['HS256','HS384','HS512','RS256','RS384','RS512',"
     "'ES256','ES384','ES512','PS256','PS384','PS512','EdDSA'],'default':'HS256'},"
     "'exp':{'type':'integer','minimum':1,'default':86400},"
     "'base64_secret':{'type':'boolean','default':false},"
     "'lifetime_grace_period':{'type':'integer','minimum':0,'default':0},"
     "'public_key':{'type':'string'}},'required':['key']}"},
    {"hmac-auth",
     "{'type':'object','properties':{'allowed_algorithms':{'type':'array','minItems':1,"
     "'items':{'type':'string','enum':['hmac-sha1','hmac-sha256','hmac-sha512']},"
     "'default':['hmac-sha1','hmac-sha256','hmac-sha512']},"
     "'clock_skew':{'type':'integer','default':300,'minimum':1},"
     "'signed_headers':{'type':'array','default':['date'],'items':{'type':'string',"
     "'minLength':1,'maxLength':50}},"
     "'validate_request_body':{'type':'boolean','default':false},"
     "'max_req_body_size':{'type':'integer','minimum':1,'default':67108864},"
     "'hide_credentials':{'type':'boolean','default':false},"
     "'realm':{'type':'string','default':'hmac'},"
     "'anonymous_consumer':{'type':'string','minLength':1}}}",
     "{'type':'object','properties':{'key_id':{'type':'string','minLength':1,'maxLength':256},"
     "'secret_key':{'type':'string','minLength':1,'maxLength':256}},"
     "'required':['key_id','secret_key']}"},
    {"cors",
     "{'type':'object','properties':{"
     "'allow_origins':{'type':'string','pattern':'" CORS_ORIGINS "','default':'*'},"
     "'allow_methods':{'type':'string','default':'*'},"
     "'allow_headers':{'type':'string','default':'*'},"
     "'expose_headers':{'type':'string'},"
     "'max_age':{'type':'integer','default':5},"
     "'allow_credential':{'type':'boolean','default':false},"
     "'allow_origins_by_regex':{'type':'array','items':{'type':'string','minLength':1,"
     "'maxLength':4096},'minItems':1,'uniqueItems':true},"
     "'allow_origins_by_metadata':{'type':'array','items':{'type':'string','minLength':1,"
     "'maxLength':4096},'minItems':1,'uniqueItems':true},"
     "'timing_allow_origins':{'type':'string','pattern':'" CORS_ORIGINS "'},"
     "'timing_allow_origins_by_regex':{'type':'array','items':{'type':'string',"
     "'minLength':1,'maxLength':4096},'minItems':1,'uniqueItems':true}}}",
     NULL},
    {"redirect",
     "{'type':'object','properties':{"
     "'ret_code':{'type':'integer','minimum':200,'default':302},"
     "'uri':{'type':'string','minLength':2},"
     "'regex_uri':{'type':'array','maxItems':2,'minItems':2,'format':'regex_uri',"
     "'items':{'type':'string'}},"
     "'http_to_https':{'type':'boolean'},"
     "'encode_uri':{'type':'boolean','default':false},"
     "'append_query_string':{'type':'boolean','default':false}},"
     "'oneOf':[{'required':['uri']},{'required':['regex_uri']},"
     "{'required':['http_to_https']}]}",
     NULL},
    {"limit-conn",
     "{'type':'object','properties':{"
     "'conn':{'oneOf':[{'type':'integer','exclusiveMinimum':0},{'type':'string'}]},"
     "'burst':{'oneOf':[{'type':'integer','minimum':0},{'type':'string'}]},"
     "'default_conn_delay':{'type':'number','exclusiveMinimum':0},"
     "'only_use_default_delay':{'type':'boolean','default':false},"
     "'key':{'type':'string'},"
     "'key_type':{'type':'string','enum':['var','var_combination'],'default':'var'},"
     "'policy':{'type':'string','enum':['local'],'default':'local'},"
     "'rejected_code':{'type':'integer','minimum':200,'maximum':599,'default':503},"
     "'rejected_msg':{'type':'string','minLength':1},"
     "'allow_degradation':{'type':'boolean','default':false},"
     "'rules':{'type':'array','items':{'type':'object','properties':{"
     "'conn':{'oneOf':[{'type':'integer','exclusiveMinimum':0},{'type':'string'}]},"
     "'burst':{'oneOf':[{'type':'integer','minimum':0},{'type':'string'}]},"
     "'key':{'type':'string'}},'required':['conn','burst','key']}}},"
     "'oneOf':[{'required':['conn','burst','default_conn_delay','key']},"
     "{'required':['default_conn_delay','rules']}]}",
     NULL},
    {"uri-blocker",
     "{'type':'object','properties':{"
     "'block_rules':{'type':'array','items':{'type':'string','minLength':1,'maxLength':4096},"
     "'uniqueItems':true},"
     "'rejected_code':{'type':'integer','minimum':200,'default':403},"
     "'rejected_msg':{'type':'string','minLength':1},"
     "'case_insensitive':{'type':'boolean','default':false}},"
     "'required':['block_rules']}",
     NULL},
    {"fault-injection",
     "{'type':'object','properties':{"
     "'abort':{'type':'object','properties':{"
     "'http_status':{'type':'integer','minimum':200},"
     "'body':{'type':'string','minLength':0},"
     "'headers':{'type':'object','minProperties':1,'patternProperties':{'^[^:]+$':{"
     "'oneOf':[{'type':'string'},{'type':'number'}]}}},"
     "'percentage':{'type':'integer','minimum':0,'maximum':100},"
     "'vars':{'type':'array','maxItems':20,'items':{'type':'array','format':'expr'}}},"
     "'required':['http_status']},"
     "'delay':{'type':'object','properties':{"
     "'duration':{'type':'number','minimum':0},"
     "'percentage':{'type':'integer','minimum':0,'maximum':100},"
     "'vars':{'type':'array','maxItems':20,'items':{'type':'array','format':'expr'}}},"
     "'required':['duration']}},"
     "'minProperties':1}",
     NULL},
    {"real-ip",
     "{'type':'object','properties':{"
     "'trusted_addresses':{'type':'array','items':{'type':'string','format':'ip_or_cidr'},"
     "'minItems':1},"
     "'source':{'type':'string','minLength':1},"
     "'recursive':{'type':'boolean','default':false}},"
     "'required':['source']}",
     NULL},
    {"request-validation",
     "{'type':'object','properties':{"
     "'header_schema':{'type':'object'},'body_schema':{'type':'object'},"
     "'max_req_body_size':{'type':'integer','minimum':1,'default':67108864},"
     "'rejected_code':{'type':'integer','minimum':200,'maximum':599,'default':400},"
     "'rejected_msg':{'type':'string','minLength':1,'maxLength':256}},"
     "'anyOf':[{'required':['header_schema']},{'required':['body_schema']}]}",
     NULL},
    /* traffic and logging plugins (wt-traffic) */
    {"http-logger",
     "{'type':'object','properties':{"
     "'uri':{'type':'string','pattern':'^http://'},"
     "'auth_header':{'type':'string'},"
     "'timeout':{'type':'integer','minimum':1,'default':3},"
     "'log_format':{'type':'object'},"
     "'include_req_body':{'type':'boolean','default':false},"
     "'concat_method':{'type':'string','enum':['json','new_line'],'default':'json'}"
     "," BATCH_PROCESSOR "},'required':['uri']}",
     NULL},
    {"file-logger",
     "{'type':'object','properties':{'path':{'type':'string','minLength':1},"
     "'log_format':{'type':'object'},"
     "'include_req_body':{'type':'boolean','default':false}},'required':['path']}",
     NULL},
    {"api-breaker",
     "{'type':'object','properties':{"
     "'break_response_code':{'type':'integer','minimum':200,'maximum':599},"
     "'break_response_body':{'type':'string'},"
     "'break_response_headers':{'type':'array','items':{'type':'object','properties':{"
     "'key':{'type':'string','minLength':1},'value':{'type':'string','minLength':1}},"
     "'required':['key','value']}},"
     "'max_breaker_sec':{'type':'integer','minimum':3,'default':300},"
     "'unhealthy':{'type':'object','properties':{"
     "'http_statuses':{'type':'array','minItems':1,'uniqueItems':true,"
     "'items':{'type':'integer','minimum':500,'maximum':599},'default':[500]},"
     "'failures':{'type':'integer','minimum':1,'default':3}}},"
     "'healthy':{'type':'object','properties':{"
     "'http_statuses':{'type':'array','minItems':1,'uniqueItems':true,"
     "'items':{'type':'integer','minimum':200,'maximum':499},'default':[200]},"
     "'successes':{'type':'integer','minimum':1,'default':3}}}},"
     "'required':['break_response_code']}",
     NULL},
    {"traffic-split",
     "{'type':'object','properties':{'rules':{'type':'array','items':{'type':'object',"
     "'properties':{"
     "'match':{'type':'array','items':{'type':'object','properties':{"
     "'vars':{'type':'array','format':'expr'}}}},"
     "'weighted_upstreams':{'type':'array','minItems':1,'maxItems':20,'items':{"
     "'type':'object','properties':{'upstream_id':{'$ref':'id'},"
     "'upstream':{'$ref':'upstream'},"
     "'weight':{'type':'integer','minimum':0,'default':1}}}}},"
     "'additionalProperties':false}}},'additionalProperties':false}",
     NULL},
    {"proxy-mirror",
     "{'type':'object','properties':{"
     "'host':{'type':'string','pattern':'^http://([0-9a-zA-Z.-]+|[[][0-9a-fA-F:]+[]])(:[0-9]+)?$'},"
     "'path':{'type':'string','pattern':'^/[^?&]+$'},"
     "'path_concat_mode':{'type':'string','enum':['replace','prefix'],'default':'replace'},"
     "'sample_ratio':{'type':'number','minimum':0.00001,'maximum':1,'default':1}},"
     "'required':['host']}",
     NULL},
};
const size_t gw_schema__n_plugins = sizeof(gw_schema__plugins) / sizeof(gw_schema__plugins[0]);

/* plugin_metadata schemas (/apisix/plugin_metadata/<name>), for the plugins
 * whose APISIX module has a metadata_schema. Only what the proxy serves is
 * listed (additionalProperties false): an APISIX member that apigw does not
 * read (prometheus' disabled_labels, the loggers' log_format_extra and
 * max_pending_entries) is refused rather than stored and ignored. Any other
 * plugin of the catalogue takes any object, as APISIX's injected schema. */
const struct gw_schema__plugin_meta gw_schema__plugin_metadata[] = {
    {"cors", "{'type':'object','properties':{'allow_origins':{'type':'object',"
	     "'additionalProperties':{'type':'string','pattern':'" CORS_ORIGINS "'}}},"
	     "'additionalProperties':false}"},
    /* header names: HTTP tokens ("" = the default), else CR/LF forge headers */
    {"limit-count", "{'type':'object','properties':{"
		    "'limit_header':{'type':'string','pattern':'" HDR_TOKEN "',"
		    "'default':'X-RateLimit-Limit'},"
		    "'remaining_header':{'type':'string','pattern':'" HDR_TOKEN "',"
		    "'default':'X-RateLimit-Remaining'},"
		    "'reset_header':{'type':'string','pattern':'" HDR_TOKEN "',"
		    "'default':'X-RateLimit-Reset'}},"
		    "'additionalProperties':false}"},
    {"prometheus", "{'type':'object','properties':{},'additionalProperties':false}"},
    {"http-logger", "{'type':'object','properties':{'log_format':{'type':'object'}},"
		    "'additionalProperties':false}"},
    {"file-logger", "{'type':'object','properties':{'log_format':{'type':'object'}},"
		    "'additionalProperties':false}"},
};
const size_t gw_schema__n_plugin_metadata =
    sizeof gw_schema__plugin_metadata / sizeof gw_schema__plugin_metadata[0];
