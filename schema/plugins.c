/* plugins.c: the plugin catalogue, where a plugin registers its schema.
 *
 * One row per plugin APISIX ships, in APISIX's order (GET /plugins/list
 * answers it). A row whose schema is NULL is a name the Admin API accepts
 * with any object as its configuration (the proxy does not implement it);
 * a plugin the proxy implements registers here by giving its row the JSON
 * schema of its configuration (single-quoted, written from reading the
 * plugin's APISIX source), checked by the Admin API before storing and by
 * the proxy before compiling. proxy-rewrite and response-rewrite are the two
 * registered so far.
 * Failure modes: none at run time (see tables.c). */
#include "config.h"

#include "schema/schema_int.h"

#include <stddef.h>

#define HEADERS_OP                                                                                 \
	"{'anyOf':[{'type':'object','minProperties':1,'additionalProperties':false,"               \
	"'properties':{'add':{'type':'object','patternProperties':{'^[^:]+$':{'type':['string',"   \
	"'number']}}},'set':{'type':'object','patternProperties':{'^[^:]+$':{'type':['string',"    \
	"'number']}}},'remove':{'type':'array','items':{'type':'string','pattern':'^[^:]+$'}}}},"  \
	"{'type':'object','patternProperties':{'^[^:]+$':{'type':['string','number']}}}]}"

#define STATUS_MIN GW_SCHEMA__STR(GW_SCHEMA_STATUS_CODE_MIN)
#define STATUS_MAX GW_SCHEMA__STR(GW_SCHEMA_STATUS_CODE_MAX)

const struct gw_schema__row gw_schema__plugins[] = {
    {"real-ip", NULL},
    {"ai", NULL},
    {"client-control", NULL},
    {"proxy-control", NULL},
    {"request-id", NULL},
    {"zipkin", NULL},
    {"ext-plugin-pre-req", NULL},
    {"fault-injection", NULL},
    {"mocking", NULL},
    {"serverless-pre-function", NULL},
    {"cors", NULL},
    {"ip-restriction", NULL},
    {"ua-restriction", NULL},
    {"referer-restriction", NULL},
    {"csrf", NULL},
    {"uri-blocker", NULL},
    {"request-validation", NULL},
    {"chaitin-waf", NULL},
    {"multi-auth", NULL},
    {"openid-connect", NULL},
    {"cas-auth", NULL},
    {"authz-casbin", NULL},
    {"authz-casdoor", NULL},
    {"wolf-rbac", NULL},
    {"ldap-auth", NULL},
    {"hmac-auth", NULL},
    {"basic-auth", NULL},
    {"jwt-auth", NULL},
    {"jwe-decrypt", NULL},
    {"key-auth", NULL},
    {"consumer-restriction", NULL},
    {"attach-consumer-label", NULL},
    {"forward-auth", NULL},
    {"opa", NULL},
    {"authz-keycloak", NULL},
    {"proxy-cache", NULL},
    {"body-transformer", NULL},
    {"ai-prompt-template", NULL},
    {"ai-prompt-decorator", NULL},
    {"ai-prompt-guard", NULL},
    {"ai-rag", NULL},
    {"ai-aws-content-moderation", NULL},
    {"ai-proxy-multi", NULL},
    {"ai-proxy", NULL},
    {"ai-rate-limiting", NULL},
    {"proxy-mirror", NULL},
    {"proxy-rewrite",
     "{'type':'object','minProperties':1,'additionalProperties':false,'properties':{"
     "'uri':{'type':'string','minLength':1,'maxLength':4096,'pattern':'^/.*'},"
     "'method':{'type':'string','enum':['GET','POST','PUT','HEAD','DELETE','OPTIONS','MKCOL',"
     "'COPY','MOVE','PROPFIND','LOCK','UNLOCK','PATCH','TRACE']},"
     "'regex_uri':{'type':'array','minItems':2,'format':'regex_uri',"
     "'items':{'type':'string','minLength':1,'maxLength':4096}},"
     "'host':{'type':'string','pattern':'^[0-9a-zA-Z.-]+(:[0-9]{1,5})?$'},"
     "'scheme':{'type':'string','enum':['http','https']},"
     "'headers':" HEADERS_OP ",'use_real_request_uri_unsafe':{'type':'boolean'}}}"},
    {"workflow", NULL},
    {"api-breaker", NULL},
    {"limit-conn", NULL},
    {"limit-count", NULL},
    {"limit-req", NULL},
    {"gzip", NULL},
    {"server-info", NULL},
    {"traffic-split", NULL},
    {"redirect", NULL},
    {"response-rewrite",
     "{'type':'object','additionalProperties':false,'properties':{"
     "'headers':" HEADERS_OP ",'body':{'type':'string'},'body_base64':{'type':'boolean'},"
     "'status_code':{'type':'integer','minimum':" STATUS_MIN ",'maximum':" STATUS_MAX "},"
     "'vars':{'type':'array','format':'expr'},"
     "'filters':{'type':'array','minItems':1,'items':{'type':'object','properties':{"
     "'regex':{'type':'string','minLength':1},'scope':{'type':'string','enum':['once',"
     "'global']},'replace':{'type':'string'},'options':{'type':'string'}},"
     "'required':['regex','replace']}}},"
     "'not':{'required':['body','filters']}}"},
    {"degraphql", NULL},
    {"kafka-proxy", NULL},
    {"grpc-transcode", NULL},
    {"grpc-web", NULL},
    {"http-dubbo", NULL},
    {"public-api", NULL},
    {"prometheus", NULL},
    {"datadog", NULL},
    {"lago", NULL},
    {"loki-logger", NULL},
    {"elasticsearch-logger", NULL},
    {"echo", NULL},
    {"loggly", NULL},
    {"http-logger", NULL},
    {"splunk-hec-logging", NULL},
    {"skywalking-logger", NULL},
    {"google-cloud-logging", NULL},
    {"sls-logger", NULL},
    {"tcp-logger", NULL},
    {"kafka-logger", NULL},
    {"rocketmq-logger", NULL},
    {"syslog", NULL},
    {"udp-logger", NULL},
    {"file-logger", NULL},
    {"clickhouse-logger", NULL},
    {"tencent-cloud-cls", NULL},
    {"inspect", NULL},
    {"example-plugin", NULL},
    {"aws-lambda", NULL},
    {"azure-functions", NULL},
    {"openwhisk", NULL},
    {"openfunction", NULL},
    {"serverless-post-function", NULL},
    {"ext-plugin-post-req", NULL},
    {"ext-plugin-post-resp", NULL},
    {"brotli", NULL},
    {"skywalking", NULL},
    {"opentelemetry", NULL},
    {"node-status", NULL},
    {"batch-requests", NULL},
};
const size_t gw_schema__n_plugins = sizeof(gw_schema__plugins) / sizeof(gw_schema__plugins[0]);
