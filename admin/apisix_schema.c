/* apisix_schema.c: JSON-schema subset validator, the embedded resource and
 * plugin schemas, and the JSON merge used by PATCH.
 *
 * The schemas are written here from reading APISIX's schema_def.lua (no code
 * taken from it): one table row per schema, its JSON with single quotes for
 * readability (turned into double quotes when the table is parsed, once).
 * Patterns are POSIX extended regular expressions (regcomp), written so that
 * they mean what APISIX's PCRE patterns mean (no \d, \S: bracket classes).
 *
 * Validation walks the schema and the value together and stops at the first
 * violation, building APISIX's message from the inside out
 * ("property \"upstream\" validation failed: property \"nodes\" ...").
 * Failure modes: none beyond GW_EINVAL for the value and GW_ENOMEM; a schema
 * that does not parse is a programming error (always-on assert, caught by the
 * unit tests). */
#include "config.h"

#include "admin/apisix_int.h"
#include "lib/err.h"

#include <arpa/inet.h>
#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 48  /* schema recursion ($ref) bound */
#define MAX_REGEX 128 /* distinct patterns cached */

/* ---- the schemas ------------------------------------------------------ */

#define HTTP_METHODS                                                                               \
	"'GET','POST','PUT','DELETE','PATCH','HEAD','OPTIONS','CONNECT','TRACE','PURGE'"

#define HEADERS_OP                                                                                 \
	"{'anyOf':[{'type':'object','minProperties':1,'additionalProperties':false,"               \
	"'properties':{'add':{'type':'object','patternProperties':{'^[^:]+$':{'type':['string',"   \
	"'number']}}},'set':{'type':'object','patternProperties':{'^[^:]+$':{'type':['string',"    \
	"'number']}}},'remove':{'type':'array','items':{'type':'string','pattern':'^[^:]+$'}}}},"  \
	"{'type':'object','patternProperties':{'^[^:]+$':{'type':['string','number']}}}]}"

struct schema_row {
	const char *name;
	const char *json; /* single-quoted JSON */
};

static const struct schema_row schema_rows[] = {
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
    {"timeout", "{'type':'object','properties':{'connect':{'type':'number','exclusiveMinimum':0},"
		"'send':{'type':'number','exclusiveMinimum':0},"
		"'read':{'type':'number','exclusiveMinimum':0}},"
		"'required':['connect','send','read']}"},
    {"remote_addr", "{'type':'string','format':'ip_or_cidr'}"},
    {"cert", "{'type':'string','minLength':128,'maxLength':65536}"},
    {"statuses", "{'type':'array','minItems':1,'uniqueItems':true,"
		 "'items':{'type':'integer','minimum':200,'maximum':599}}"},
    {"counter", "{'type':'integer','minimum':1,'maximum':254}"},
    {"health_checker",
     "{'type':'object','additionalProperties':false,"
     "'properties':{'active':{'type':'object','properties':{"
     "'type':{'type':'string','enum':['http','https','tcp']},'timeout':{'type':'number'},"
     "'concurrency':{'type':'integer'},'host':{'$ref':'host'},"
     "'port':{'type':'integer','minimum':1,'maximum':65535},'http_path':{'type':'string'},"
     "'https_verify_certificate':{'type':'boolean'},"
     "'healthy':{'type':'object','properties':{'interval':{'type':'integer','minimum':1},"
     "'http_statuses':{'$ref':'statuses'},'successes':{'$ref':'counter'}}},"
     "'unhealthy':{'type':'object','properties':{'interval':{'type':'integer','minimum':1},"
     "'http_statuses':{'$ref':'statuses'},'http_failures':{'$ref':'counter'},"
     "'tcp_failures':{'$ref':'counter'},'timeouts':{'$ref':'counter'}}},"
     "'req_headers':{'type':'array','minItems':1,'items':{'type':'string'}}}},"
     "'passive':{'type':'object','properties':{"
     "'type':{'type':'string','enum':['http','https','tcp']},"
     "'healthy':{'type':'object','properties':{'http_statuses':{'$ref':'statuses'},"
     "'successes':{'$ref':'counter'}}},"
     "'unhealthy':{'type':'object','properties':{'http_statuses':{'$ref':'statuses'},"
     "'tcp_failures':{'$ref':'counter'},'timeouts':{'$ref':'counter'},"
     "'http_failures':{'$ref':'counter'}}}}}},"
     "'anyOf':[{'required':['active']},{'required':['active','passive']}]}"},
    {"nodes", "{'anyOf':[{'type':'object','patternProperties':{'.*':{'type':'integer',"
	      "'minimum':0}}},{'type':'array','items':{'type':'object','properties':{"
	      "'host':{'$ref':'host'},'port':{'type':'integer','minimum':1,'maximum':65535},"
	      "'weight':{'type':'integer','minimum':0},'priority':{'type':'integer'},"
	      "'metadata':{'type':'object'}},'required':['host','port','weight']}}]}"},
    /* resources */
    {"upstream",
     "{'type':'object','additionalProperties':false,'properties':{"
     "'create_time':{'$ref':'timestamp'},'update_time':{'$ref':'timestamp'},"
     "'nodes':{'$ref':'nodes'},'retries':{'type':'integer','minimum':0},"
     "'retry_timeout':{'type':'number','minimum':0},'timeout':{'$ref':'timeout'},"
     "'tls':{'type':'object','properties':{'client_cert':{'$ref':'cert'},"
     "'client_key':{'$ref':'cert'},'client_cert_id':{'$ref':'id'},'verify':{'type':'boolean'}}},"
     "'type':{'type':'string','enum':['chash','roundrobin','ewma','least_conn']},"
     "'checks':{'$ref':'health_checker'},"
     "'hash_on':{'type':'string','enum':['vars','header','cookie','consumer',"
     "'vars_combinations']},'key':{'type':'string'},"
     "'scheme':{'enum':['grpc','grpcs','http','https','tcp','tls','udp','kafka']},"
     "'labels':{'$ref':'labels'},'discovery_type':{'type':'string'},"
     "'discovery_args':{'type':'object'},"
     "'pass_host':{'type':'string','enum':['pass','node','rewrite']},"
     "'upstream_host':{'$ref':'host'},'name':{'$ref':'name'},'desc':{'$ref':'desc'},"
     "'service_name':{'type':'string','minLength':1,'maxLength':256},"
     "'keepalive_pool':{'type':'object','properties':{'size':{'type':'integer','minimum':1},"
     "'idle_timeout':{'type':'number','minimum':0},'requests':{'type':'integer','minimum':1}},"
     "'required':['size','idle_timeout','requests']},"
     "'id':{'$ref':'id'}},"
     "'oneOf':[{'required':['nodes']},{'required':['service_name','discovery_type']}]}"},
    {"route",
     "{'type':'object','additionalProperties':false,'properties':{"
     "'create_time':{'$ref':'timestamp'},'update_time':{'$ref':'timestamp'},"
     "'uri':{'type':'string','minLength':1,'maxLength':4096},"
     "'uris':{'type':'array','items':{'type':'string'},'minItems':1,'uniqueItems':true},"
     "'name':{'$ref':'name'},'desc':{'$ref':'desc'},'priority':{'type':'integer'},"
     "'methods':{'type':'array','uniqueItems':true,'items':{'type':'string','enum':[" HTTP_METHODS
     "]}},"
     "'host':{'$ref':'host'},"
     "'hosts':{'type':'array','items':{'$ref':'host'},'minItems':1,'uniqueItems':true},"
     "'remote_addr':{'$ref':'remote_addr'},"
     "'remote_addrs':{'type':'array','items':{'$ref':'remote_addr'},'minItems':1,"
     "'uniqueItems':true},"
     "'timeout':{'$ref':'timeout'},'vars':{'type':'array'},"
     "'filter_func':{'type':'string','minLength':10,'pattern':'^function'},"
     "'script':{'type':'string','minLength':10,'maxLength':102400},'script_id':{'$ref':'id'},"
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
     "{'required':['upstream_id','uris']},{'required':['service_id','uris']},"
     "{'required':['script','uri']},{'required':['script','uris']}],"
     "'not':{'anyOf':[{'required':['script','plugins']},"
     "{'required':['script','plugin_config_id']}]}}"},
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

#define N_SCHEMAS (sizeof(schema_rows) / sizeof(schema_rows[0]))

/* ---- the plugin catalogue --------------------------------------------- */

struct plugin_row {
	const char *name;
	const char *json; /* NULL = permissive object schema (not validated) */
};

static const struct plugin_row plugin_rows[] = {
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
     "'regex_uri':{'type':'array','minItems':2,'items':{'type':'string','minLength':1,"
     "'maxLength':4096}},"
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
     "'status_code':{'type':'integer','minimum':200,'maximum':598},'vars':{'type':'array'},"
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

#define N_PLUGINS (sizeof(plugin_rows) / sizeof(plugin_rows[0]))

static const char permissive_json[] = "{\"type\":\"object\"}";

/* Parsed forms, built once. */
static cJSON *schemas[N_SCHEMAS];
static cJSON *plugin_schemas[N_PLUGINS];
static char *plugin_texts[N_PLUGINS];
static const char *plugin_names[N_PLUGINS + 1];
static pthread_once_t load_once = PTHREAD_ONCE_INIT;

static char *unquote(const char *s)
{
	char *t = strdup(s);
	char *p;

	assert(t != NULL);
	for (p = t; *p; p++) {
		if (*p == '\'') {
			*p = '"';
		}
	}
	return t;
}

static void load(void)
{
	size_t i;
	char *t;

	for (i = 0; i < N_SCHEMAS; i++) {
		t = unquote(schema_rows[i].json);
		schemas[i] = cJSON_Parse(t);
		free(t);
		assert(schemas[i] != NULL); /* a schema of this file that does not parse */
	}
	for (i = 0; i < N_PLUGINS; i++) {
		t = unquote(plugin_rows[i].json ? plugin_rows[i].json : permissive_json);
		plugin_schemas[i] = cJSON_Parse(t);
		assert(plugin_schemas[i] != NULL);
		plugin_texts[i] = t; /* kept for GET /plugins/<name> */
		plugin_names[i] = plugin_rows[i].name;
	}
	plugin_names[N_PLUGINS] = NULL;
}

static const cJSON *find_schema(const char *name)
{
	size_t i;

	pthread_once(&load_once, load);
	for (i = 0; i < N_SCHEMAS; i++) {
		if (strcmp(schema_rows[i].name, name) == 0) {
			return schemas[i];
		}
	}
	return NULL;
}

static int find_plugin(const char *name)
{
	size_t i;

	pthread_once(&load_once, load);
	for (i = 0; i < N_PLUGINS; i++) {
		if (strcmp(plugin_rows[i].name, name) == 0) {
			return (int)i;
		}
	}
	return -1;
}

const char *const *gw_admin__plugin_names(void)
{
	pthread_once(&load_once, load);
	return plugin_names;
}

const char *gw_admin__plugin_schema(const char *name)
{
	int i = find_plugin(name);

	return i < 0 ? NULL : plugin_texts[i];
}

bool gw_admin__plugin_validated(const char *name)
{
	int i = find_plugin(name);

	return i >= 0 && plugin_rows[i].json != NULL;
}

/* ---- regex cache ------------------------------------------------------- */

struct rx {
	char *pat;
	regex_t re;
	bool ok;
};

static struct rx rx_cache[MAX_REGEX];
static size_t n_rx;
static pthread_mutex_t rx_lock = PTHREAD_MUTEX_INITIALIZER;

/* 1 match, 0 no match, -1 the pattern does not compile (treated as a
 * schema error: no match). */
static int rx_match(const char *pat, const char *s)
{
	regex_t tmp;
	size_t i;
	int rv;

	pthread_mutex_lock(&rx_lock);
	for (i = 0; i < n_rx; i++) {
		if (strcmp(rx_cache[i].pat, pat) == 0) {
			break;
		}
	}
	if (i == n_rx && n_rx < MAX_REGEX) {
		rx_cache[i].pat = strdup(pat);
		if (rx_cache[i].pat != NULL) {
			rx_cache[i].ok =
			    regcomp(&rx_cache[i].re, pat, REG_EXTENDED | REG_NOSUB) == 0;
			n_rx++;
		}
	}
	if (i < n_rx) {
		rv = rx_cache[i].ok ? regexec(&rx_cache[i].re, s, 0, NULL, 0) == 0 : -1;
		pthread_mutex_unlock(&rx_lock);
		return rv;
	}
	pthread_mutex_unlock(&rx_lock);
	/* cache full: compile for this call only */
	if (regcomp(&tmp, pat, REG_EXTENDED | REG_NOSUB) != 0) {
		return -1;
	}
	rv = regexec(&tmp, s, 0, NULL, 0) == 0;
	regfree(&tmp);
	return rv;
}

/* ---- validator --------------------------------------------------------- */

/* Set the error. Always returns GW_EINVAL. */
static int fail(char *e, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *e, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e, n, fmt, ap);
	va_end(ap);
	return GW_EINVAL;
}

/* Put a prefix in front of the error already in @e. Returns GW_EINVAL. */
static int prefix(char *e, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int prefix(char *e, size_t n, const char *fmt, ...)
{
	char pre[512];
	size_t pl, el;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(pre, sizeof(pre), fmt, ap);
	va_end(ap);
	pl = strlen(pre);
	el = strlen(e);
	if (pl + 1 >= n) {
		return GW_EINVAL;
	}
	if (pl + el + 1 > n) {
		el = n - pl - 1;
	}
	memmove(e + pl, e, el);
	e[pl + el] = '\0';
	memcpy(e, pre, pl);
	return GW_EINVAL;
}

static const char *type_of(const cJSON *v)
{
	if (cJSON_IsObject(v)) {
		return "object";
	}
	if (cJSON_IsArray(v)) {
		return "array";
	}
	if (cJSON_IsString(v)) {
		return "string";
	}
	if (cJSON_IsNumber(v)) {
		return "number";
	}
	if (cJSON_IsBool(v)) {
		return "boolean";
	}
	return "null";
}

static bool is_integer(const cJSON *v)
{
	double d;

	if (!cJSON_IsNumber(v)) {
		return false;
	}
	d = v->valuedouble;
	return isfinite(d) && floor(d) == d;
}

static bool type_is(const char *t, const cJSON *v)
{
	if (strcmp(t, "integer") == 0) {
		return is_integer(v);
	}
	return strcmp(t, type_of(v)) == 0;
}

/* A number as Lua prints it: integers without a fraction. */
static const char *num_str(double d, char *buf, size_t n)
{
	if (isfinite(d) && floor(d) == d && fabs(d) < 1e15) {
		snprintf(buf, n, "%lld", (long long)d);
	} else {
		snprintf(buf, n, "%.14g", d);
	}
	return buf;
}

static size_t utf8_len(const char *s)
{
	size_t n = 0;

	for (; *s; s++) {
		if (((unsigned char)*s & 0xC0) != 0x80) {
			n++;
		}
	}
	return n;
}

static bool ip_or_cidr(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];
	char host[64];
	const char *slash = strchr(s, '/');
	size_t hl = slash ? (size_t)(slash - s) : strlen(s);
	char *end;
	long bits;
	int af;

	if (hl == 0 || hl >= sizeof(host)) {
		return false;
	}
	memcpy(host, s, hl);
	host[hl] = '\0';
	af = strchr(host, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(af, host, buf) != 1) {
		return false;
	}
	if (slash == NULL) {
		return true;
	}
	if (slash[1] < '0' || slash[1] > '9') {
		return false;
	}
	bits = strtol(slash + 1, &end, 10);
	return *end == '\0' && bits >= 0 && bits <= (af == AF_INET ? 32 : 128);
}

static int check(const cJSON *s, const cJSON *v, char *e, size_t n, int depth);

/* Does @v match @s? (error discarded) */
static bool matches(const cJSON *s, const cJSON *v, int depth)
{
	char scratch[256];

	return check(s, v, scratch, sizeof(scratch), depth) == 0;
}

static int check_type(const cJSON *t, const cJSON *v, char *e, size_t n)
{
	const cJSON *x;

	if (cJSON_IsString(t)) {
		if (type_is(t->valuestring, v)) {
			return 0;
		}
		return fail(e, n, "wrong type: expected %s, got %s", t->valuestring, type_of(v));
	}
	if (cJSON_IsArray(t)) {
		cJSON_ArrayForEach(x, t)
		{
			if (cJSON_IsString(x) && type_is(x->valuestring, v)) {
				return 0;
			}
		}
		x = cJSON_GetArrayItem(t, 0);
		return fail(e, n, "wrong type: expected one of %s%s, got %s",
			    cJSON_IsString(x) ? x->valuestring : "?",
			    cJSON_GetArraySize(t) > 1 ? ", ..." : "", type_of(v));
	}
	return 0;
}

static int check_object(const cJSON *s, const cJSON *v, char *e, size_t n, int depth)
{
	const cJSON *props = cJSON_GetObjectItemCaseSensitive(s, "properties");
	const cJSON *req = cJSON_GetObjectItemCaseSensitive(s, "required");
	const cJSON *addl = cJSON_GetObjectItemCaseSensitive(s, "additionalProperties");
	const cJSON *pats = cJSON_GetObjectItemCaseSensitive(s, "patternProperties");
	const cJSON *minp = cJSON_GetObjectItemCaseSensitive(s, "minProperties");
	const cJSON *maxp = cJSON_GetObjectItemCaseSensitive(s, "maxProperties");
	const cJSON *p, *x, *pat;
	bool matched;
	int count = 0;

	cJSON_ArrayForEach(p, props)
	{
		x = cJSON_GetObjectItemCaseSensitive(v, p->string);
		if (x != NULL && check(p, x, e, n, depth + 1) != 0) {
			return prefix(e, n, "property \"%s\" validation failed: ", p->string);
		}
	}
	cJSON_ArrayForEach(p, req)
	{
		if (cJSON_IsString(p) &&
		    cJSON_GetObjectItemCaseSensitive(v, p->valuestring) == NULL) {
			return fail(e, n, "property \"%s\" is required", p->valuestring);
		}
	}
	cJSON_ArrayForEach(x, v)
	{
		count++;
		matched = false;
		cJSON_ArrayForEach(pat, pats)
		{
			if (rx_match(pat->string, x->string) == 1) {
				matched = true;
				if (check(pat, x, e, n, depth + 1) != 0) {
					return prefix(e, n,
						      "failed to validate %s (matching \"%s\"): ",
						      x->string, pat->string);
				}
			}
		}
		if (matched || cJSON_GetObjectItemCaseSensitive(props, x->string) != NULL) {
			continue;
		}
		if (cJSON_IsFalse(addl)) {
			return fail(e, n, "additional properties forbidden, found %s", x->string);
		}
		if (cJSON_IsObject(addl) && check(addl, x, e, n, depth + 1) != 0) {
			return prefix(e, n,
				      "failed to validate additional property %s: ", x->string);
		}
	}
	if (cJSON_IsNumber(minp) && count < minp->valuedouble) {
		return fail(e, n, "expect object to have at least %d properties",
			    (int)minp->valuedouble);
	}
	if (cJSON_IsNumber(maxp) && count > maxp->valuedouble) {
		return fail(e, n, "expect object to have at most %d properties",
			    (int)maxp->valuedouble);
	}
	return 0;
}

static int check_array(const cJSON *s, const cJSON *v, char *e, size_t n, int depth)
{
	const cJSON *items = cJSON_GetObjectItemCaseSensitive(s, "items");
	const cJSON *mini = cJSON_GetObjectItemCaseSensitive(s, "minItems");
	const cJSON *maxi = cJSON_GetObjectItemCaseSensitive(s, "maxItems");
	const cJSON *uniq = cJSON_GetObjectItemCaseSensitive(s, "uniqueItems");
	int size = cJSON_GetArraySize(v);
	const cJSON *x, *y;
	int i, j;

	if (cJSON_IsNumber(mini) && size < mini->valuedouble) {
		return fail(e, n, "expect array to have at least %d items", (int)mini->valuedouble);
	}
	if (cJSON_IsNumber(maxi) && size > maxi->valuedouble) {
		return fail(e, n, "expect array to have at most %d items", (int)maxi->valuedouble);
	}
	if (cJSON_IsObject(items)) {
		i = 1;
		cJSON_ArrayForEach(x, v)
		{
			if (check(items, x, e, n, depth + 1) != 0) {
				return prefix(e, n, "failed to validate item %d: ", i);
			}
			i++;
		}
	}
	if (cJSON_IsTrue(uniq)) {
		i = 1;
		cJSON_ArrayForEach(x, v)
		{
			j = i + 1;
			for (y = x->next; y != NULL; y = y->next, j++) {
				if (cJSON_Compare(x, y, true)) {
					return fail(
					    e, n,
					    "expected unique items but items %d and %d are equal",
					    i, j);
				}
			}
			i++;
		}
	}
	return 0;
}

static int check_string(const cJSON *s, const cJSON *v, char *e, size_t n)
{
	const cJSON *minl = cJSON_GetObjectItemCaseSensitive(s, "minLength");
	const cJSON *maxl = cJSON_GetObjectItemCaseSensitive(s, "maxLength");
	const cJSON *pat = cJSON_GetObjectItemCaseSensitive(s, "pattern");
	const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(s, "format");
	size_t len = utf8_len(v->valuestring);

	if (cJSON_IsNumber(minl) && (double)len < minl->valuedouble) {
		return fail(e, n, "string too short, expected at least %d, got %zu",
			    (int)minl->valuedouble, len);
	}
	if (cJSON_IsNumber(maxl) && (double)len > maxl->valuedouble) {
		return fail(e, n, "string too long, expected at most %d, got %zu",
			    (int)maxl->valuedouble, len);
	}
	if (cJSON_IsString(pat) && rx_match(pat->valuestring, v->valuestring) != 1) {
		return fail(e, n, "failed to match pattern \"%s\" with \"%.200s\"",
			    pat->valuestring, v->valuestring);
	}
	if (cJSON_IsString(fmt) && strcmp(fmt->valuestring, "ip_or_cidr") == 0 &&
	    !ip_or_cidr(v->valuestring)) {
		return fail(e, n, "expect valid ip address or CIDR but got: %.200s",
			    v->valuestring);
	}
	return 0;
}

static int check_number(const cJSON *s, const cJSON *v, char *e, size_t n)
{
	static const struct {
		const char *kw;
		const char *word;
		int sign; /* violation when cmp(value, bound) has this sign or 0 */
		bool strict;
	} bounds[] = {
	    {"minimum", "greater", -1, false},
	    {"exclusiveMinimum", "sctrictly greater", -1, true},
	    {"maximum", "smaller", 1, false},
	    {"exclusiveMaximum", "sctrictly smaller", 1, true},
	};
	char a[32], b[32];
	double d = v->valuedouble, lim;
	const cJSON *x;
	size_t i;
	bool bad;

	for (i = 0; i < sizeof(bounds) / sizeof(bounds[0]); i++) {
		x = cJSON_GetObjectItemCaseSensitive(s, bounds[i].kw);
		if (!cJSON_IsNumber(x)) {
			continue;
		}
		lim = x->valuedouble;
		bad = bounds[i].sign < 0 ? (bounds[i].strict ? d <= lim : d < lim)
					 : (bounds[i].strict ? d >= lim : d > lim);
		if (bad) {
			/* jsonschema's wording, typo included */
			return fail(e, n, "expected %s to be %s than %s", num_str(d, a, sizeof(a)),
				    bounds[i].word, num_str(lim, b, sizeof(b)));
		}
	}
	return 0;
}

/* "object matches none of the requireds: [\"a\",\"b\"] or [...]" */
static int any_of_fail(const cJSON *list, char *e, size_t n)
{
	const cJSON *sub, *req;
	char *txt;
	size_t used;
	bool first = true;

	used = (size_t)snprintf(e, n, "object matches none of the requireds");
	cJSON_ArrayForEach(sub, list)
	{
		req = cJSON_GetObjectItemCaseSensitive(sub, "required");
		if (req == NULL || used >= n) {
			continue;
		}
		txt = cJSON_PrintUnformatted(req);
		if (txt == NULL) {
			continue;
		}
		used += (size_t)snprintf(e + used, n - used, "%s%s", first ? ": " : " or ", txt);
		first = false;
		free(txt);
	}
	return GW_EINVAL;
}

static int check(const cJSON *s, const cJSON *v, char *e, size_t n, int depth)
{
	const cJSON *x, *sub;
	bool found;
	int i, matched;

	if (depth > MAX_DEPTH) {
		return fail(e, n, "value nested too deeply");
	}
	if (!cJSON_IsObject(s)) {
		return 0; /* true schema */
	}
	x = cJSON_GetObjectItemCaseSensitive(s, "$ref");
	if (cJSON_IsString(x)) {
		sub = find_schema(x->valuestring);
		assert(sub != NULL); /* a $ref of this file to a missing row */
		return check(sub, v, e, n, depth + 1);
	}
	x = cJSON_GetObjectItemCaseSensitive(s, "type");
	if (x != NULL && check_type(x, v, e, n) != 0) {
		return GW_EINVAL;
	}
	if (cJSON_IsObject(v) && check_object(s, v, e, n, depth) != 0) {
		return GW_EINVAL;
	}
	if (cJSON_IsArray(v) && check_array(s, v, e, n, depth) != 0) {
		return GW_EINVAL;
	}
	if (cJSON_IsString(v) && check_string(s, v, e, n) != 0) {
		return GW_EINVAL;
	}
	if (cJSON_IsNumber(v) && check_number(s, v, e, n) != 0) {
		return GW_EINVAL;
	}
	x = cJSON_GetObjectItemCaseSensitive(s, "enum");
	if (cJSON_IsArray(x)) {
		found = false;
		cJSON_ArrayForEach(sub, x)
		{
			if (cJSON_Compare(sub, v, true)) {
				found = true;
				break;
			}
		}
		if (!found) {
			return fail(e, n, "matches none of the enum values");
		}
	}
	x = cJSON_GetObjectItemCaseSensitive(s, "const");
	if (x != NULL && !cJSON_Compare(x, v, true)) {
		return fail(e, n, "failed to check const value");
	}
	x = cJSON_GetObjectItemCaseSensitive(s, "allOf");
	i = 1;
	cJSON_ArrayForEach(sub, x)
	{
		if (check(sub, v, e, n, depth + 1) != 0) {
			return prefix(e, n, "allOf %d failed: ", i);
		}
		i++;
	}
	x = cJSON_GetObjectItemCaseSensitive(s, "anyOf");
	if (cJSON_IsArray(x)) {
		found = false;
		cJSON_ArrayForEach(sub, x)
		{
			if (matches(sub, v, depth + 1)) {
				found = true;
				break;
			}
		}
		if (!found) {
			return any_of_fail(x, e, n);
		}
	}
	x = cJSON_GetObjectItemCaseSensitive(s, "oneOf");
	if (cJSON_IsArray(x)) {
		matched = 0;
		i = 1;
		cJSON_ArrayForEach(sub, x)
		{
			if (matches(sub, v, depth + 1)) {
				if (matched) {
					return fail(
					    e, n,
					    "value should match only one schema, but matches "
					    "both schemas %d and %d",
					    matched, i);
				}
				matched = i;
			}
			i++;
		}
		if (!matched) {
			return fail(e, n, "value should match only one schema, but matches none");
		}
	}
	x = cJSON_GetObjectItemCaseSensitive(s, "not");
	if (x != NULL && matches(x, v, depth + 1)) {
		return fail(e, n, "value wasn't supposed to match schema");
	}
	return 0;
}

int gw_admin__validate(const char *schema, const cJSON *v, char *err, size_t errlen)
{
	const cJSON *s = find_schema(schema);

	if (s == NULL) {
		snprintf(err, errlen, "unknown schema %s", schema);
		return GW_ENOTFOUND;
	}
	err[0] = '\0';
	return check(s, v, err, errlen, 0);
}

int gw_admin__check_plugins(const cJSON *plugins, char *err, size_t errlen)
{
	const cJSON *p, *x;
	cJSON *copy;
	int i, rv;

	if (plugins == NULL) {
		return 0;
	}
	if (!cJSON_IsObject(plugins)) {
		return fail(err, errlen,
			    "invalid plugins configuration: wrong type: expected "
			    "object, got %s",
			    type_of(plugins));
	}
	cJSON_ArrayForEach(p, plugins)
	{
		i = find_plugin(p->string);
		if (i < 0) {
			return fail(err, errlen, "unknown plugin [%s]", p->string);
		}
		if (!cJSON_IsObject(p)) {
			return fail(err, errlen,
				    "failed to check the configuration of plugin %s err: wrong "
				    "type: expected object, got %s",
				    p->string, type_of(p));
		}
		x = cJSON_GetObjectItemCaseSensitive(p, "disable");
		if (x != NULL && !cJSON_IsBool(x)) {
			return fail(err, errlen,
				    "failed to check the configuration of plugin %s err: property "
				    "\"disable\" validation failed: wrong type: expected boolean, "
				    "got %s",
				    p->string, type_of(x));
		}
		x = cJSON_GetObjectItemCaseSensitive(p, "_meta");
		if (x != NULL && !cJSON_IsObject(x)) {
			return fail(err, errlen,
				    "failed to check the configuration of plugin %s err: property "
				    "\"_meta\" validation failed: wrong type: expected object, "
				    "got %s",
				    p->string, type_of(x));
		}
		copy = cJSON_Duplicate(p, true);
		if (copy == NULL) {
			return GW_ENOMEM;
		}
		cJSON_DeleteItemFromObjectCaseSensitive(copy, "disable");
		cJSON_DeleteItemFromObjectCaseSensitive(copy, "_meta");
		rv = check(plugin_schemas[i], copy, err, errlen, 0);
		cJSON_Delete(copy);
		if (rv != 0) {
			return prefix(
			    err, errlen,
			    "failed to check the configuration of plugin %s err: ", p->string);
		}
	}
	return 0;
}

int gw_admin__check_upstream(const cJSON *up, char *err, size_t errlen)
{
	const cJSON *pass = cJSON_GetObjectItemCaseSensitive(up, "pass_host");
	const cJSON *host = cJSON_GetObjectItemCaseSensitive(up, "upstream_host");
	const cJSON *nodes = cJSON_GetObjectItemCaseSensitive(up, "nodes");
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(up, "type");
	const cJSON *hash_on = cJSON_GetObjectItemCaseSensitive(up, "hash_on");

	if (cJSON_IsString(pass) && strcmp(pass->valuestring, "node") == 0 && nodes != NULL &&
	    cJSON_GetArraySize(nodes) != 1) {
		return fail(err, errlen, "only support single node for `node` mode currently");
	}
	if (cJSON_IsString(pass) && strcmp(pass->valuestring, "rewrite") == 0 &&
	    (!cJSON_IsString(host) || host->valuestring[0] == '\0')) {
		return fail(err, errlen,
			    "`upstream_host` can't be empty when `pass_host` is `rewrite`");
	}
	if (cJSON_IsString(type) && strcmp(type->valuestring, "chash") == 0 &&
	    !(cJSON_IsString(hash_on) && strcmp(hash_on->valuestring, "consumer") == 0) &&
	    cJSON_GetObjectItemCaseSensitive(up, "key") == NULL) {
		return fail(err, errlen, "missing key");
	}
	return 0;
}

/* ---- merge ------------------------------------------------------------- */

cJSON *gw_admin__merge(cJSON *target, const cJSON *patch)
{
	const cJSON *p;
	cJSON *t, *merged, *dup;

	if (!cJSON_IsObject(patch)) {
		dup = cJSON_Duplicate(patch, true);
		if (dup != NULL) {
			cJSON_Delete(target);
		}
		return dup;
	}
	if (!cJSON_IsObject(target)) {
		t = cJSON_CreateObject();
		if (t == NULL) {
			return NULL;
		}
		cJSON_Delete(target);
		target = t;
	}
	cJSON_ArrayForEach(p, patch)
	{
		if (cJSON_IsNull(p)) {
			cJSON_DeleteItemFromObjectCaseSensitive(target, p->string);
			continue;
		}
		t = cJSON_GetObjectItemCaseSensitive(target, p->string);
		if (cJSON_IsObject(t) && cJSON_IsObject(p)) {
			if (gw_admin__merge(t, p) == NULL) { /* in place: returns t */
				return NULL;
			}
			continue;
		}
		/* a new key or a replaced value (nulls inside an object patch are
		 * dropped, as merging into an empty object does) */
		if (cJSON_IsObject(p)) {
			dup = cJSON_CreateObject();
			merged = dup ? gw_admin__merge(dup, p) : NULL;
		} else {
			merged = cJSON_Duplicate(p, true);
		}
		if (merged == NULL) {
			return NULL;
		}
		if (t != NULL) {
			cJSON_ReplaceItemInObjectCaseSensitive(target, p->string, merged);
		} else {
			cJSON_AddItemToObject(target, p->string, merged);
		}
	}
	return target;
}

int gw_admin__set_path(cJSON *root, const char *path, cJSON *value)
{
	char seg[256];
	const char *slash;
	cJSON *cur = root, *next;
	size_t len;

	if (!cJSON_IsObject(root) || path == NULL || *path == '\0') {
		return GW_EINVAL;
	}
	for (;;) {
		slash = strchr(path, '/');
		len = slash ? (size_t)(slash - path) : strlen(path);
		if (len == 0 || len >= sizeof(seg)) {
			return GW_EINVAL;
		}
		memcpy(seg, path, len);
		seg[len] = '\0';
		if (slash == NULL) {
			break;
		}
		next = cJSON_GetObjectItemCaseSensitive(cur, seg);
		if (next == NULL) {
			next = cJSON_AddObjectToObject(cur, seg);
			if (next == NULL) {
				return GW_ENOMEM;
			}
		} else if (!cJSON_IsObject(next)) {
			return GW_EINVAL;
		}
		cur = next;
		path = slash + 1;
	}
	if (cJSON_GetObjectItemCaseSensitive(cur, seg) != NULL) {
		cJSON_ReplaceItemInObjectCaseSensitive(cur, seg, value);
	} else {
		cJSON_AddItemToObject(cur, seg, value);
	}
	return 0;
}

int gw_admin__json_depth(const char *p, size_t len, int limit)
{
	int depth = 0, max = 0;
	bool in_str = false;
	size_t i;

	for (i = 0; i < len; i++) {
		char c = p[i];

		if (in_str) {
			if (c == '\\') {
				i++;
			} else if (c == '"') {
				in_str = false;
			}
			continue;
		}
		if (c == '"') {
			in_str = true;
		} else if (c == '{' || c == '[') {
			if (++depth > max) {
				max = depth;
				if (max > limit) {
					return limit + 1;
				}
			}
		} else if (c == '}' || c == ']') {
			depth--;
		}
	}
	return max;
}
