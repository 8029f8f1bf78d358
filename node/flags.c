/* flags.c: the flag table and its parser (see flags.h).
 *
 * Happy path: defaults are parsed from the table's default strings, then each
 * argv flag is looked up, its value parsed and stored. Failure modes: unknown
 * subcommand or flag, missing value, malformed value; each yields one line
 * naming the flag. Flags take "--flag value" or "--flag=value". */
#include "config.h"

#include "node/flags.h"
#include "node/flags_int.h"
#include "lib/err.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum flag_type {
	F_ADDR,      /* struct gw_addr */
	F_ADDR_LIST, /* struct gw_addr[GW_MAX_PROXY_LISTEN]; size: offset of its int count */
	F_STR,       /* char[] */
	F_INT,       /* int within [min, max] */
	F_DURATION,  /* unsigned ms, "500ms", "2s", "1m" */
	F_LEVEL,     /* enum gw_log_level */
	F_BOOL,      /* bool, takes no value */
	F_SIZE,      /* uint64_t bytes, "512MiB", "2GiB" or a bare number */
	F_CIDRS,     /* char[]: comma-separated IPv4/IPv6 CIDRs */
	F_CIDRS_REP, /* F_CIDRS, repeatable: each flag adds its CIDRs */
	F_FILE,      /* char[]: path of a readable file */
	F_ONOFF,     /* bool, "on" or "off" */
	F_SERVERS,   /* char[], repeatable: comma-separated numeric IP[:PORT] ([v6]:PORT) */
};

#define M_START  (1u << GW_CMD_START)
#define M_JOIN   (1u << GW_CMD_JOIN)
#define M_LEAVE  (1u << GW_CMD_LEAVE)
#define M_STATUS (1u << GW_CMD_STATUS)
#define M_TOKEN  (1u << GW_CMD_TOKEN)
#define M_CONFIG (1u << GW_CMD_CONFIG)
#define M_NODE   (M_START | M_JOIN)

struct flag {
	const char *name; /* without the leading "--" */
	const char *meta; /* value placeholder in help */
	enum flag_type type;
	unsigned cmds;   /* subcommands that accept it */
	const char *def; /* default, parsed like a flag value; NULL = none */
	size_t off;      /* offset in struct gw_node_config */
	size_t size;     /* for F_STR */
	long min, max;   /* for F_INT */
	bool required;   /* must be given */
	const char *help;
};

#define OFF(f) offsetof(struct gw_node_config, f)
#define SZ(f)  sizeof(((struct gw_node_config *)0)->f)

static const struct flag flags[] = {
    {"data-dir", "DIR", F_STR, M_NODE | M_CONFIG, "", OFF(data_dir), SZ(data_dir), 0, 0, false,
     "node state: raft log, store, keys (default /var/lib/apigw as root, else "
     "~/.local/share/apigw)"},
    {"name", "NAME", F_STR, M_NODE, "", OFF(name), SZ(name), 0, 0, false,
     "member name (default: host name and the first 6 hex digits of the node id)"},
    {"proxy-listen", "ADDR[,opts]", F_ADDR_LIST, M_NODE, "0.0.0.0:9080", OFF(proxy_listen),
     OFF(n_proxy_listen), 0, 0, false, "HTTP proxy listener; repeat for more (IPv6 as [::]:9080)"},
    {"proxy-tls-listen", "ADDR[,opts]", F_ADDR_LIST, M_NODE, "0.0.0.0:9443", OFF(proxy_tls_listen),
     OFF(n_proxy_tls_listen), 0, 0, false,
     "HTTPS proxy listener (certificates: the ssls objects, by SNI); repeat for more"},
    {"proxy-tls-fallback-sni", "NAME", F_STR, M_NODE, "", OFF(proxy_tls_fallback_sni),
     SZ(proxy_tls_fallback_sni), 0, 0, false,
     "ssls name whose certificate answers a client with no or an unknown SNI (default: "
     "refuse the handshake, unrecognized_name)"},
    {"proxy-http2", "on|off", F_ONOFF, M_NODE, "on", OFF(proxy_http2), 0, 0, 0, false,
     "offer HTTP/2 (ALPN h2) on the HTTPS proxy listeners"},
    {"proxy-h2c", "on|off", F_ONOFF, M_NODE, "off", OFF(proxy_h2c), 0, 0, 0, false,
     "accept HTTP/2 by prior knowledge (h2c) on the plain proxy listeners"},
    {"admin-listen", "ADDR", F_ADDR, M_NODE | M_CONFIG, "127.0.0.1:9180", OFF(admin_listen), 0, 0,
     0, false, "APISIX Admin API listener"},
    {"etcd-listen", "ADDR", F_ADDR, M_NODE, "127.0.0.1:2379", OFF(etcd_listen), 0, 0, 0, false,
     "etcd v3 API listener (gRPC and JSON gateway)"},
    {"raft-listen", "IP:PORT", F_ADDR, M_NODE, "127.0.0.1:2380", OFF(raft_listen), 0, 0, 0, false,
     "raft peer listener; also the address peers use to reach this node"},
    {"status-listen", "ADDR", F_ADDR, M_NODE, "127.0.0.1:7085", OFF(status_listen), 0, 0, 0, false,
     "status listener: /status, /status/ready"},
    {"metrics-listen", "ADDR", F_ADDR, M_NODE, "127.0.0.1:9091", OFF(metrics_listen), 0, 0, 0,
     false, "Prometheus metrics listener"},
    {"control-listen", "ADDR", F_ADDR, M_NODE, "127.0.0.1:9090", OFF(control_listen), 0, 0, 0,
     false, "APISIX control API listener: /v1/healthcheck, /v1/routes, /v1/config..."},
    {"control-allow", "CIDR[,CIDR...]", F_CIDRS, M_NODE, "127.0.0.0/8,::1/128", OFF(control_allow),
     SZ(control_allow), 0, 0, false, "clients allowed to reach the control API (others get 403)"},
    {"resolver", "IP[:PORT]", F_SERVERS, M_NODE, "", OFF(resolvers), SZ(resolvers), 0, 0, false,
     "DNS server for upstream nodes given as host names (repeat for more; default: the "
     "nameservers of /etc/resolv.conf; /etc/hosts is read first)"},
    {"dns-min-ttl", "DURATION", F_DURATION, M_NODE, "1s", OFF(dns_min_ttl_ms), 0, 0, 0, false,
     "re-resolve a host-name node no sooner than this, whatever its TTL"},
    {"dns-max-ttl", "DURATION", F_DURATION, M_NODE, "300s", OFF(dns_max_ttl_ms), 0, 0, 0, false,
     "re-resolve a host-name node at least this often, whatever its TTL"},
    {"dns-ipv6", "on|off", F_ONOFF, M_NODE, "on", OFF(dns_ipv6), 0, 0, 0, false,
     "host-name nodes: use IPv6 (AAAA) addresses too, not only IPv4 (A) (APISIX's enable_ipv6)"},
    {"workers", "N", F_INT, M_NODE, "0", OFF(workers), 0, 0, 256, false,
     "proxy worker threads (0 = one per CPU core)"},
    {"voters", "N", F_INT, M_NODE, "3", OFF(voters), 0, 1, 9, false,
     "voting members wanted (odd); further nodes join as standbys"},
    {"write-timeout", "DURATION", F_DURATION, M_NODE, "2s", OFF(write_timeout_ms), 0, 0, 0, false,
     "deadline for a config write to commit"},
    {"drain-delay", "DURATION", F_DURATION, M_NODE, "5s", OFF(drain_delay_ms), 0, 0, 0, false,
     "on SIGTERM, keep serving this long while unready"},
    {"drain-timeout", "DURATION", F_DURATION, M_NODE, "30s", OFF(drain_timeout_ms), 0, 0, 0, false,
     "on SIGTERM, wait this long for in-flight requests"},
    {"quota-backend-bytes", "SIZE", F_SIZE, M_NODE, "2GiB", OFF(quota_bytes), 0, 0, 0, false,
     "store size quota; writes past it fail with \"mvcc: database space exceeded\""},
    {"history-revisions", "N", F_INT, M_NODE, "10000", OFF(history_revs), 0, 1, 100000000, false,
     "config history kept (revisions): older ones are compacted, out of reach of "
     "?revision=, history and rollback"},
    {"history-hours", "N", F_INT, M_NODE, "168", OFF(history_hours), 0, 1, 87600, false,
     "config history kept (hours): the leader compacts older revisions"},
    {"audit-etcd-writes", "on|off", F_ONOFF, M_NODE, "off", OFF(audit_etcd), 0, 0, 0, false,
     "record etcd API writes in the audit log (one more raft entry per write)"},
    {"audit-retention-hours", "N", F_INT, M_NODE, "168", OFF(audit_retention_h), 0, 1, 87600, false,
     "Admin API audit records are kept this many hours (GET /apisix/admin/audit)"},
    {"audit-log", "FILE", F_STR, M_NODE, "", OFF(audit_log), SZ(audit_log), 0, 0, false,
     "also append every audit record of the cluster to FILE as JSON lines (reopened on "
     "SIGHUP); empty = none (docs/history.md)"},
    {"admin-viewer-key", "KEY", F_STR, M_NODE, "", OFF(admin_viewer_key), SZ(admin_viewer_key), 0,
     0, false, "Admin API key of the viewer role (GET only); empty = no viewer role"},
    {"admin-allow", "CIDR[,CIDR...]", F_CIDRS, M_NODE, "127.0.0.0/24", OFF(admin_allow),
     SZ(admin_allow), 0, 0, false, "clients allowed to reach the Admin API"},
    {"real-ip-from", "CIDR[,CIDR...]", F_CIDRS, M_NODE, NULL, OFF(real_ip_from), SZ(real_ip_from),
     0, 0, false,
     "trusted proxies: from these peers, the client address is the rightmost "
     "X-Forwarded-For entry that is not itself trusted"},
    {"access-log", "PATH", F_STR, M_NODE, "off", OFF(access_log), SZ(access_log), 0, 0, false,
     "access log (JSON lines) to PATH, - for stdout, or off; reopened on SIGUSR1"},
    {"access-log-format", "FORMAT", F_STR, M_NODE, "", OFF(access_log_format),
     SZ(access_log_format), 0, 0, false,
     "access log line as nginx's log_format, e.g. '$remote_addr - [$time_local] \"$request\" "
     "$status $bytes_sent $request_time $upstream_addr $route_id $http_user_agent' "
     "(default: JSON lines)"},
    {"etcd-cert", "FILE", F_FILE, M_NODE, "", OFF(etcd_cert), SZ(etcd_cert), 0, 0, false,
     "etcd API: serve TLS with this certificate chain (PEM); cleartext when empty"},
    {"etcd-key", "FILE", F_FILE, M_NODE, "", OFF(etcd_key), SZ(etcd_key), 0, 0, false,
     "etcd API: private key of --etcd-cert (PEM; default: inside --etcd-cert)"},
    {"etcd-client-ca", "FILE", F_FILE, M_NODE, "", OFF(etcd_client_ca), SZ(etcd_client_ca), 0, 0,
     false, "etcd API: require client certificates signed by this CA (PEM)"},
    {"admin-tls-cert", "FILE", F_FILE, M_NODE, "", OFF(admin_tls_cert), SZ(admin_tls_cert), 0, 0,
     false, "Admin API: serve TLS with this certificate chain (PEM); cleartext when empty"},
    {"admin-tls-key", "FILE", F_FILE, M_NODE, "", OFF(admin_tls_key), SZ(admin_tls_key), 0, 0,
     false, "Admin API: private key of --admin-tls-cert (PEM; default: inside the cert file)"},
    {"status-tls-cert", "FILE", F_FILE, M_NODE, "", OFF(status_tls_cert), SZ(status_tls_cert), 0, 0,
     false,
     "status listener: serve TLS with this certificate chain (PEM); cleartext when empty "
     "(the status, leave and token subcommands then need a cleartext endpoint)"},
    {"status-tls-key", "FILE", F_FILE, M_NODE, "", OFF(status_tls_key), SZ(status_tls_key), 0, 0,
     false, "status listener: private key of --status-tls-cert (PEM)"},
    {"metrics-tls-cert", "FILE", F_FILE, M_NODE, "", OFF(metrics_tls_cert), SZ(metrics_tls_cert), 0,
     0, false, "metrics listener: serve TLS with this certificate chain (PEM)"},
    {"metrics-tls-key", "FILE", F_FILE, M_NODE, "", OFF(metrics_tls_key), SZ(metrics_tls_key), 0, 0,
     false, "metrics listener: private key of --metrics-tls-cert (PEM)"},
    {"etcd-trusted-cidr", "CIDR", F_CIDRS_REP, M_NODE, "127.0.0.0/8,::1/128", OFF(etcd_trusted),
     SZ(etcd_trusted), 0, 0, false,
     "etcd API: clients on this host (repeat for more); while etcd auth is off, others need "
     "a client certificate"},
    {"auth-token-ttl", "DURATION", F_DURATION, M_NODE, "5m", OFF(auth_token_ttl_ms), 0, 0, 0, false,
     "etcd API: lifetime of the tokens etcd auth hands out (etcdctl --user)"},
    {"admin-key", "KEY", F_STR, M_NODE | M_CONFIG, "", OFF(admin_key), SZ(admin_key), 0, 0, false,
     "Admin API key (default: generated at bootstrap, kept in the data dir)"},
    {"peer-tls", "on|off", F_ONOFF, M_NODE, "on", OFF(peer_tls), 0, 0, 0, false,
     "TLS 1.3 with member certificates on the raft port and node-to-node calls; off "
     "is plaintext for debugging only (every member must agree)"},
    {"peer", "HOST:PORT", F_ADDR, M_JOIN, NULL, OFF(peer), 0, 0, 0, true,
     "etcd API address of any cluster member"},
    {"token-file", "FILE", F_FILE, M_JOIN, "", OFF(token_file), SZ(token_file), 0, 0, false,
     "file holding a join token from `apigw token create` (or set APIGW_JOIN_TOKEN)"},
    {"token", "TOKEN", F_STR, M_JOIN, "", OFF(join_token), SZ(join_token), 0, 0, false,
     "the join token itself (warned: a command line is visible to every local user; "
     "prefer --token-file)"},
    {"join-secret", "SECRET", F_STR, M_JOIN, "", OFF(join_secret), SZ(join_secret), 0, 0, false,
     "legacy: the cluster's join secret instead of a token (warned: visible to local "
     "users; trusts the peer's CA on first use)"},
    {"ttl", "DURATION", F_DURATION, M_TOKEN, "1h", OFF(token_ttl_ms), 0, 0, 0, false,
     "token create: how long the token is valid (up to 24h)"},
    {"uses", "N", F_INT, M_TOKEN, "0", OFF(token_uses), 0, 0, 1000000, false,
     "token create: how many nodes may join with it (0 = any number until it expires)"},
    {"description", "TEXT", F_STR, M_TOKEN, "", OFF(token_description), SZ(token_description), 0, 0,
     false, "token create: a note shown by `apigw token list`"},
    {"endpoint", "ADDR", F_ADDR, M_LEAVE | M_STATUS | M_TOKEN, "127.0.0.1:7085", OFF(endpoint), 0,
     0, 0, false, "status listener of the local node"},
    {"node", "ID", F_STR, M_LEAVE, "", OFF(remove_id), SZ(remove_id), 0, 0, false,
     "remove this member (default: the local node leaves)"},
    {"resources", "LIST", F_STR, M_CONFIG, "", OFF(config_resources), SZ(config_resources), 0, 0,
     false, "config: only these (\"routes,upstreams/1\"; diff takes one); default all"},
    {"force", NULL, F_BOOL, M_CONFIG, NULL, OFF(config_force), 0, 0, 0, false,
     "config rollback: also when objects changed meanwhile"},
    {"dry-run", NULL, F_BOOL, M_CONFIG, NULL, OFF(config_dry_run), 0, 0, 0, false,
     "config rollback: show the changes, make none"},
    {"json", NULL, F_BOOL, M_STATUS, NULL, OFF(json), 0, 0, 0, false, "print JSON"},
    {"log-level", "LEVEL", F_LEVEL, M_NODE | M_LEAVE | M_STATUS | M_TOKEN, "info", OFF(log_level),
     0, 0, 0, false, "debug, info, warn, error or none"},
    {"config", "FILE", F_STR, M_NODE, "", OFF(config_file), SZ(config_file), 0, 0, false,
     "JSON file of flag values, e.g. {\"workers\": 2, \"proxy-listen\": [\":9080\"]}; "
     "flags win"},
    {"check", NULL, F_BOOL, M_NODE, NULL, OFF(check), 0, 0, 0, false,
     "validate the flags and config file, print the result and exit"},
    {"backup-dir", "DIR", F_STR, M_NODE, "", OFF(backup_dir), SZ(backup_dir), 0, 0, false,
     "write a backup of the local store (as `apigw backup`) into DIR periodically; "
     "empty = none (docs/backup.md)"},
    {"backup-interval", "DURATION", F_DURATION, M_NODE, "1h", OFF(backup_interval_ms), 0, 0, 0,
     false, "time between periodic backups (with --backup-dir; at least 1s)"},
    {"backup-keep", "N", F_INT, M_NODE, "7", OFF(backup_keep), 0, 1, 100000, false,
     "periodic backup files kept in --backup-dir (the oldest are removed)"},
    {"standalone", "FILE", F_STR, M_NODE, "", OFF(standalone), SZ(standalone), 0, 0, false,
     "serve the APISIX config in FILE (apisix.yaml, APISIX's standalone layout; reloaded on "
     "change and SIGHUP); Admin API writes are refused (docs/backup.md)"},
    {"standalone-poll", "DURATION", F_DURATION, M_NODE, "1s", OFF(standalone_poll_ms), 0, 0, 0,
     false, "how often --standalone checks its file for changes (at least 10ms)"},
};
#define N_FLAGS (sizeof flags / sizeof flags[0])

static const struct {
	const char *name;
	const char *summary;
} cmds[GW_CMD__COUNT] = {
    [GW_CMD_START] = {"start", "run a node; bootstraps a one-node cluster on an empty data dir"},
    [GW_CMD_JOIN] = {"join", "run a node that joins an existing cluster"},
    [GW_CMD_LEAVE] = {"leave", "remove the local node (or --node ID) from its cluster"},
    [GW_CMD_STATUS] = {"status", "show the cluster as the local node sees it"},
    [GW_CMD_TOKEN] = {"token",
		      "token create|list|revoke ID: join tokens (on a member, through its status "
		      "listener from loopback)"},
    [GW_CMD_CONFIG] = {"config",
		       "config rollback REV | diff REV1 [REV2]: config history through the "
		       "local Admin API"},
    [GW_CMD_VERSION] = {"version", "print the version"},
    [GW_CMD_HELP] = {"help", "help [SUBCOMMAND]: describe subcommands and flags"},
};

const char *gw_node_cmd_name(enum gw_cmd cmd)
{
	return cmd < GW_CMD__COUNT ? cmds[cmd].name : "?";
}

/* "500ms", "2s", "1m", "1h" or a bare number of seconds. */
static int parse_duration(const char *s, unsigned *ms)
{
	char *end;
	double v, mult = 1000.0;
	errno = 0;
	v = strtod(s, &end);
	if (end == s || errno != 0 || v < 0) {
		return -1;
	}
	if (strcmp(end, "ms") == 0) {
		mult = 1.0;
	} else if (strcmp(end, "s") == 0 || *end == '\0') {
		mult = 1000.0;
	} else if (strcmp(end, "m") == 0) {
		mult = 60000.0;
	} else if (strcmp(end, "h") == 0) {
		mult = 3600000.0;
	} else {
		return -1;
	}
	v *= mult;
	if (v > 86400000.0) {
		return -1;
	}
	*ms = (unsigned)v;
	return 0;
}

/* "2GiB", "512MiB", "64KiB", "1GB" or a bare number of bytes; at least 1 MiB. */
static int parse_size(const char *s, uint64_t *out)
{
	static const struct {
		const char *suffix;
		uint64_t mult;
	} units[] = {{"", 1},
		     {"KiB", 1ULL << 10},
		     {"MiB", 1ULL << 20},
		     {"GiB", 1ULL << 30},
		     {"TiB", 1ULL << 40},
		     {"KB", 1000ULL},
		     {"MB", 1000000ULL},
		     {"GB", 1000000000ULL}};
	char *end;
	unsigned long long v;
	if (*s < '0' || *s > '9') {
		return -1;
	}
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0) {
		return -1;
	}
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (strcmp(end, units[i].suffix) == 0) {
			if (v > (1ULL << 50) / units[i].mult || v * units[i].mult < (1ULL << 20)) {
				return -1;
			}
			*out = v * units[i].mult;
			return 0;
		}
	}
	return -1;
}

/* "127.0.0.1:53,[::1]:5353,10.0.0.1": DNS servers, each a numeric address
 * (IPv6 in brackets when a port follows) with an optional port 1..65535. */
static int check_servers(const char *s)
{
	char tmp[512], *save = NULL;
	if (strlen(s) >= sizeof tmp || *s == '\0') {
		return -1;
	}
	strcpy(tmp, s);
	for (char *tok = strtok_r(tmp, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		unsigned char bin[16];
		char *port = NULL;
		int af = AF_INET;
		if (tok[0] == '[') {
			char *close = strchr(tok, ']');
			if (close == NULL || (close[1] != '\0' && close[1] != ':')) {
				return -1;
			}
			*close = '\0';
			port = close[1] == ':' ? close + 2 : NULL;
			tok++;
			af = AF_INET6;
		} else if (strchr(tok, ':') != NULL && strchr(tok, ':') == strrchr(tok, ':')) {
			port = strchr(tok, ':');
			*port++ = '\0';
		} else if (strchr(tok, ':') != NULL) {
			af = AF_INET6; /* a bare IPv6 address */
		}
		if (inet_pton(af, tok, bin) != 1) {
			return -1;
		}
		if (port != NULL) {
			char *end;
			long p = strtol(port, &end, 10);
			if (*port == '\0' || *end != '\0' || p < 1 || p > 65535) {
				return -1;
			}
		}
	}
	return 0;
}

/* "10.0.0.0/8,::1/128,127.0.0.1": each an address with an optional prefix
 * length that fits its family. */
static int check_cidrs(const char *s)
{
	char tmp[512], *save = NULL;
	if (strlen(s) >= sizeof tmp || *s == '\0') {
		return -1;
	}
	strcpy(tmp, s);
	for (char *tok = strtok_r(tmp, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		unsigned char bin[16];
		char *slash = strchr(tok, '/');
		int v6 = strchr(tok, ':') != NULL;
		if (slash != NULL) {
			char *end;
			long bits;
			*slash = '\0';
			bits = strtol(slash + 1, &end, 10);
			if (slash[1] == '\0' || *end != '\0' || bits < 0 ||
			    bits > (v6 ? 128 : 32)) {
				return -1;
			}
		}
		if (inet_pton(v6 ? AF_INET6 : AF_INET, tok, bin) != 1) {
			return -1;
		}
	}
	return 0;
}

/* `config rollback REV` | `config diff REV1 [REV2]`: the action and its
 * revisions from argv[2..]; *@i gets the first flag's index. */
static int parse_config_args(struct gw_node_config *cfg, int argc, char **argv, int *i, char *err,
			     size_t errlen)
{
	int k, max;

	if (argc < 3 || (strcmp(argv[2], "rollback") != 0 && strcmp(argv[2], "diff") != 0)) {
		snprintf(err, errlen, "config needs an action: rollback REV or diff REV1 [REV2]");
		return GW_EINVAL;
	}
	snprintf(cfg->config_action, sizeof cfg->config_action, "%s", argv[2]);
	max = strcmp(argv[2], "diff") == 0 ? 2 : 1;
	for (k = 0, *i = 3; *i < argc && strncmp(argv[*i], "--", 2) != 0; (*i)++, k++) {
		char *end;
		long long v = strtoll(argv[*i], &end, 10);
		if (k == max || argv[*i][0] == '\0' || *end != '\0' || v <= 0) {
			snprintf(err, errlen, "config %s: unexpected argument '%s' (revisions)",
				 argv[2], argv[*i]);
			return GW_EINVAL;
		}
		cfg->config_rev[k] = v;
	}
	if (k == 0) {
		snprintf(err, errlen, "config %s needs a revision", argv[2]);
		return GW_EINVAL;
	}
	return 0;
}

static int set_flag(struct gw_node_config *cfg, const struct flag *f, const char *val,
		    bool is_default, char *err, size_t errlen)
{
	char *dst = (char *)cfg + f->off;
	const char *why = NULL;

	if (!is_default && strcmp(f->name, "name") == 0) {
		cfg->name_given = true;
	}

	switch (f->type) {
	case F_ADDR:
		if (gw_addr_parse(val, (struct gw_addr *)dst, &why) != 0) {
			snprintf(err, errlen, "invalid value '%s' for --%s: %s", val, f->name, why);
			return GW_EINVAL;
		}
		return 0;
	case F_ADDR_LIST: {
		int *n = (int *)((char *)cfg + f->size);
		struct gw_addr *a = (struct gw_addr *)dst;
		if (is_default) {
			*n = 0;
		}
		if (*n >= GW_MAX_PROXY_LISTEN) {
			snprintf(err, errlen, "too many --%s flags (at most %d)", f->name,
				 GW_MAX_PROXY_LISTEN);
			return GW_EINVAL;
		}
		if (gw_addr_parse(val, &a[*n], &why) != 0) {
			snprintf(err, errlen, "invalid value '%s' for --%s: %s", val, f->name, why);
			return GW_EINVAL;
		}
		if (a[*n].opts[0] != '\0' && strcmp(a[*n].opts, "proxy_protocol") != 0) {
			snprintf(
			    err, errlen,
			    "invalid value '%s' for --%s: unknown option (known: proxy_protocol)",
			    val, f->name);
			return GW_EINVAL;
		}
		(*n)++;
		return 0;
	}
	case F_STR:
		if (strlen(val) >= f->size) {
			snprintf(err, errlen, "value for --%s is too long (at most %zu bytes)",
				 f->name, f->size - 1);
			return GW_EINVAL;
		}
		strcpy(dst, val);
		return 0;
	case F_INT: {
		char *end;
		long v;
		errno = 0;
		v = strtol(val, &end, 10);
		if (*val == '\0' || *end != '\0' || errno != 0 || v < f->min || v > f->max) {
			snprintf(err, errlen,
				 "invalid value '%s' for --%s: expected an integer from %ld to %ld",
				 val, f->name, f->min, f->max);
			return GW_EINVAL;
		}
		*(int *)dst = (int)v;
		return 0;
	}
	case F_DURATION:
		if (parse_duration(val, (unsigned *)dst) != 0) {
			snprintf(
			    err, errlen,
			    "invalid value '%s' for --%s: expected a duration like 500ms, 2s or 1m",
			    val, f->name);
			return GW_EINVAL;
		}
		return 0;
	case F_LEVEL:
		if (gw_log_parse_level(val, (enum gw_log_level *)dst) != 0) {
			snprintf(err, errlen,
				 "invalid value '%s' for --%s: expected debug, info, warn, error "
				 "or none",
				 val, f->name);
			return GW_EINVAL;
		}
		return 0;
	case F_BOOL:
		*(bool *)dst = true;
		return 0;
	case F_ONOFF:
		if (strcmp(val, "on") != 0 && strcmp(val, "off") != 0) {
			snprintf(err, errlen, "invalid value '%s' for --%s: expected on or off",
				 val, f->name);
			return GW_EINVAL;
		}
		*(bool *)dst = strcmp(val, "on") == 0;
		return 0;
	case F_FILE:
		if (strlen(val) >= f->size) {
			snprintf(err, errlen, "value for --%s is too long", f->name);
			return GW_EINVAL;
		}
		if (*val != '\0' && access(val, R_OK) != 0) {
			snprintf(err, errlen, "invalid value '%s' for --%s: %s", val, f->name,
				 strerror(errno));
			return GW_EINVAL;
		}
		strcpy(dst, val);
		return 0;
	case F_SERVERS:
		if (*val == '\0') {
			return 0; /* the default: /etc/resolv.conf */
		}
		if (check_servers(val) != 0 || strlen(dst) + 1 + strlen(val) >= f->size) {
			snprintf(err, errlen,
				 "invalid value '%s' for --%s: expected a numeric IP[:PORT] like "
				 "127.0.0.1:53 or [::1]:53 (at most %zu bytes in all)",
				 val, f->name, f->size - 1);
			return GW_EINVAL;
		}
		if (*dst != '\0') {
			strcat(dst, ",");
		}
		strcat(dst, val);
		return 0;
	case F_CIDRS_REP:
		if (!is_default && *dst != '\0') {
			size_t used = strlen(dst);
			if (used + 1 + strlen(val) >= f->size || check_cidrs(val) != 0) {
				snprintf(err, errlen,
					 "invalid value '%s' for --%s: expected CIDRs like "
					 "127.0.0.0/8,::1/128 (at most %zu bytes in all)",
					 val, f->name, f->size - 1);
				return GW_EINVAL;
			}
			dst[used] = ',';
			strcpy(dst + used + 1, val);
			return 0;
		}
		__attribute__((fallthrough));
	case F_CIDRS:
		if (strlen(val) >= f->size || check_cidrs(val) != 0) {
			snprintf(
			    err, errlen,
			    "invalid value '%s' for --%s: expected CIDRs like 127.0.0.0/24,::1/128",
			    val, f->name);
			return GW_EINVAL;
		}
		strcpy(dst, val);
		return 0;
	case F_SIZE:
		if (parse_size(val, (uint64_t *)dst) != 0) {
			snprintf(
			    err, errlen,
			    "invalid value '%s' for --%s: expected a size from 1MiB to 1PiB like "
			    "512MiB or 2GiB",
			    val, f->name);
			return GW_EINVAL;
		}
		return 0;
	}
	return GW_EINVAL;
}

void gw_node_default_data_dir(char *dst, size_t len)
{
	const char *home = getenv("HOME");
	if (geteuid() == 0 || home == NULL || *home == '\0') {
		snprintf(dst, len, "/var/lib/apigw");
	} else {
		snprintf(dst, len, "%s/.local/share/apigw", home);
	}
}

#define MAX_CONFIG_FILE (1 << 20)

/* Read the whole file; NULL with a message in @err. */
static char *read_file(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;
	if (f == NULL) {
		snprintf(err, errlen, "cannot read --config file %s: %s", path, strerror(errno));
		return NULL;
	}
	buf = malloc(MAX_CONFIG_FILE + 1);
	if (buf == NULL) {
		fclose(f);
		snprintf(err, errlen, "out of memory reading %s", path);
		return NULL;
	}
	n = fread(buf, 1, MAX_CONFIG_FILE + 1, f);
	fclose(f);
	if (n > MAX_CONFIG_FILE) {
		free(buf);
		snprintf(err, errlen, "--config file %s is larger than 1 MiB", path);
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

/* A JSON value as the text a flag would take: strings as they are,
 * integers in decimal. Other types are refused. */
static int json_scalar(const cJSON *v, char *out, size_t len)
{
	if (cJSON_IsString(v)) {
		if (strlen(v->valuestring) >= len) {
			return -1;
		}
		strcpy(out, v->valuestring);
		return 0;
	}
	if (cJSON_IsNumber(v) && v->valuedouble == (double)(long long)v->valuedouble) {
		snprintf(out, len, "%lld", (long long)v->valuedouble);
		return 0;
	}
	return -1;
}

/* Apply the config file's values to flags that @seen says the command line
 * did not set, and mark them seen. Errors name the file and the key. */
static int apply_config_file(struct gw_node_config *cfg, unsigned mask, bool *seen, char *err,
			     size_t errlen)
{
	char *text = read_file(cfg->config_file, err, errlen);
	cJSON *root, *item;
	char val[PATH_MAX];
	int rv = 0;

	if (text == NULL) {
		return GW_EINVAL;
	}
	root = cJSON_Parse(text);
	free(text);
	if (root == NULL || !cJSON_IsObject(root)) {
		snprintf(err, errlen, "--config file %s: not a JSON object", cfg->config_file);
		cJSON_Delete(root);
		return GW_EINVAL;
	}
	cJSON_ArrayForEach(item, root)
	{
		const struct flag *f = NULL;
		size_t k;
		for (k = 0; k < N_FLAGS; k++) {
			if (strcmp(flags[k].name, item->string) == 0 && (flags[k].cmds & mask)) {
				f = &flags[k];
				break;
			}
		}
		if (f == NULL || strcmp(f->name, "config") == 0 || strcmp(f->name, "check") == 0) {
			snprintf(err, errlen, "--config file %s: unknown key \"%s\"",
				 cfg->config_file, item->string);
			rv = GW_EINVAL;
			break;
		}
		if (seen[k]) {
			continue; /* the command line wins */
		}
		seen[k] = true; /* for the required-flag check */
		if (f->type == F_BOOL) {
			if (!cJSON_IsBool(item)) {
				snprintf(err, errlen,
					 "--config file %s: \"%s\" must be true or false",
					 cfg->config_file, f->name);
				rv = GW_EINVAL;
				break;
			}
			*(bool *)((char *)cfg + f->off) = cJSON_IsTrue(item);
			continue;
		}
		if (f->type == F_ADDR_LIST && cJSON_IsArray(item)) {
			const cJSON *el;
			*(int *)((char *)cfg + f->size) = 0;
			cJSON_ArrayForEach(el, item)
			{
				if (json_scalar(el, val, sizeof val) != 0) {
					snprintf(
					    err, errlen,
					    "--config file %s: \"%s\" must be a list of strings",
					    cfg->config_file, f->name);
					rv = GW_EINVAL;
					break;
				}
				rv = set_flag(cfg, f, val, false, err, errlen);
				if (rv != 0) {
					break;
				}
			}
			if (rv != 0) {
				break;
			}
			continue;
		}
		if (json_scalar(item, val, sizeof val) != 0) {
			snprintf(err, errlen,
				 "--config file %s: \"%s\" must be a string or an integer",
				 cfg->config_file, f->name);
			rv = GW_EINVAL;
			break;
		}
		if (f->type == F_ADDR_LIST) {
			*(int *)((char *)cfg + f->size) = 0;
		}
		if (f->type == F_CIDRS_REP || f->type == F_SERVERS) {
			*((char *)cfg + f->off) = '\0';
		}
		rv = set_flag(cfg, f, val, false, err, errlen);
		if (rv != 0) {
			size_t used = strlen(err);
			snprintf(err + used, errlen - used, " (in %s)", cfg->config_file);
			break;
		}
	}
	cJSON_Delete(root);
	return rv;
}

int gw_node_config_parse(int argc, char **argv, struct gw_node_config *cfg, char *err,
			 size_t errlen)
{
	bool seen[N_FLAGS] = {false};
	const char *sub;
	int i, rv;
	unsigned mask;

	memset(cfg, 0, sizeof *cfg);
	cfg->argc = argc;
	cfg->argv = argv;
	for (size_t k = 0; k < N_FLAGS; k++) {
		if (flags[k].def != NULL) {
			rv = set_flag(cfg, &flags[k], flags[k].def, true, err, errlen);
			if (rv != 0) {
				return rv; /* a bad default is a bug, reported like input */
			}
		}
	}
	gw_node_default_data_dir(cfg->data_dir, sizeof cfg->data_dir);
	if (gethostname(cfg->name, sizeof cfg->name - 1) != 0 || cfg->name[0] == '\0') {
		strcpy(cfg->name, "apigw");
	}

	if (argc < 2) {
		cfg->cmd = GW_CMD_HELP;
		return 0;
	}
	sub = argv[1];
	if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
		cfg->cmd = GW_CMD_HELP;
		return 0;
	}
	if (strcmp(sub, "--version") == 0) {
		cfg->cmd = GW_CMD_VERSION;
		return 0;
	}
	for (i = 0; i < GW_CMD__COUNT; i++) {
		if (strcmp(sub, cmds[i].name) == 0) {
			break;
		}
	}
	if (i == GW_CMD__COUNT) {
		snprintf(err, errlen, "unknown subcommand '%s' (see 'apigw help')", sub);
		return GW_EINVAL;
	}
	cfg->cmd = (enum gw_cmd)i;
	mask = 1u << i;

	if (cfg->cmd == GW_CMD_HELP) {
		if (argc > 3) {
			snprintf(err, errlen, "help takes at most one subcommand");
			return GW_EINVAL;
		}
		if (argc == 3) {
			snprintf(cfg->help_topic, sizeof cfg->help_topic, "%s", argv[2]);
		}
		return 0;
	}

	i = 2;
	if (cfg->cmd == GW_CMD_TOKEN) {
		if (argc < 3 || strncmp(argv[2], "--", 2) == 0) {
			snprintf(err, errlen, "token needs an action: create, list or revoke ID");
			return GW_EINVAL;
		}
		snprintf(cfg->token_action, sizeof cfg->token_action, "%s", argv[2]);
		i = 3;
		if (strcmp(argv[2], "revoke") == 0) {
			if (argc < 4 || strncmp(argv[3], "--", 2) == 0 ||
			    strlen(argv[3]) >= sizeof cfg->token_id) {
				snprintf(err, errlen, "token revoke needs the token's ID");
				return GW_EINVAL;
			}
			snprintf(cfg->token_id, sizeof cfg->token_id, "%s", argv[3]);
			i = 4;
		} else if (strcmp(argv[2], "create") != 0 && strcmp(argv[2], "list") != 0) {
			snprintf(err, errlen,
				 "unknown token action '%s' (create, list or revoke ID)", argv[2]);
			return GW_EINVAL;
		}
	}
	if (cfg->cmd == GW_CMD_CONFIG) {
		rv = parse_config_args(cfg, argc, argv, &i, err, errlen);
		if (rv != 0) {
			return rv;
		}
	}
	for (; i < argc; i++) {
		const char *arg = argv[i];
		const char *eq, *val;
		size_t nlen;
		const struct flag *f = NULL;
		size_t k;

		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			cfg->cmd = GW_CMD_HELP;
			snprintf(cfg->help_topic, sizeof cfg->help_topic, "%s", sub);
			return 0;
		}
		if (strncmp(arg, "--", 2) != 0) {
			snprintf(err, errlen, "unexpected argument '%s' for '%s'", arg, sub);
			return GW_EINVAL;
		}
		arg += 2;
		eq = strchr(arg, '=');
		nlen = eq ? (size_t)(eq - arg) : strlen(arg);
		for (k = 0; k < N_FLAGS; k++) {
			if (strlen(flags[k].name) == nlen &&
			    strncmp(flags[k].name, arg, nlen) == 0 && (flags[k].cmds & mask)) {
				f = &flags[k];
				break;
			}
		}
		if (f == NULL) {
			snprintf(err, errlen,
				 "unknown flag '--%.*s' for '%s' (see 'apigw help %s')", (int)nlen,
				 arg, sub, sub);
			return GW_EINVAL;
		}
		if (f->type == F_BOOL) {
			if (eq != NULL) {
				snprintf(err, errlen, "flag --%s takes no value", f->name);
				return GW_EINVAL;
			}
			val = "true";
		} else if (eq != NULL) {
			val = eq + 1;
		} else if (i + 1 < argc) {
			val = argv[++i];
		} else {
			snprintf(err, errlen, "flag --%s needs a value (%s)", f->name, f->meta);
			return GW_EINVAL;
		}
		if (f->type == F_CIDRS_REP && !seen[k]) {
			*((char *)cfg + f->off) = '\0'; /* the first value replaces the default */
		} else if (f->type == F_CIDRS_REP || f->type == F_SERVERS) {
			/* repeatable: appended below */
		} else if (f->type != F_ADDR_LIST && seen[k]) {
			snprintf(err, errlen, "flag --%s given more than once", f->name);
			return GW_EINVAL;
		}
		if (f->type == F_ADDR_LIST && !seen[k]) {
			/* the first explicit value replaces the default */
			*(int *)((char *)cfg + f->size) = 0;
		}
		seen[k] = true;
		rv = set_flag(cfg, f, val, false, err, errlen);
		if (rv != 0) {
			return rv;
		}
	}
	if (cfg->config_file[0] != '\0') {
		rv = apply_config_file(cfg, mask, seen, err, errlen);
		if (rv != 0) {
			return rv;
		}
	}
	for (size_t k = 0; k < N_FLAGS; k++) {
		if ((flags[k].cmds & mask) && flags[k].required && !seen[k]) {
			snprintf(err, errlen, "flag --%s is required for '%s'", flags[k].name, sub);
			return GW_EINVAL;
		}
	}
	if ((mask & M_NODE) && cfg->etcd_cert[0] == '\0' &&
	    (cfg->etcd_key[0] != '\0' || cfg->etcd_client_ca[0] != '\0')) {
		snprintf(err, errlen, "flag --%s needs --etcd-cert",
			 cfg->etcd_key[0] != '\0' ? "etcd-key" : "etcd-client-ca");
		return GW_EINVAL;
	}
	if (cfg->cmd == GW_CMD_JOIN && cfg->token_file[0] == '\0' && cfg->join_token[0] == '\0' &&
	    (getenv("APIGW_JOIN_TOKEN") == NULL || getenv("APIGW_JOIN_TOKEN")[0] == '\0') &&
	    cfg->join_secret[0] == '\0') {
		snprintf(err, errlen,
			 "join needs a join token: --token-file FILE (or APIGW_JOIN_TOKEN), or the "
			 "legacy --join-secret");
		return GW_EINVAL;
	}
	if ((mask & M_NODE) && cfg->standalone[0] != '\0' && cfg->cmd == GW_CMD_JOIN) {
		snprintf(err, errlen,
			 "--standalone is for start: a standalone node has no cluster "
			 "to join");
		return GW_EINVAL;
	}
	if ((mask & M_NODE) && cfg->standalone_poll_ms < 10) {
		snprintf(err, errlen, "invalid value for --standalone-poll: at least 10ms");
		return GW_EINVAL;
	}
	if ((mask & M_NODE) && cfg->backup_dir[0] != '\0' && cfg->backup_interval_ms < 1000) {
		snprintf(err, errlen, "invalid value for --backup-interval: at least 1s");
		return GW_EINVAL;
	}
	if (cfg->cmd == GW_CMD_TOKEN && cfg->token_ttl_ms < 1000) {
		snprintf(err, errlen, "invalid value for --ttl: at least 1s");
		return GW_EINVAL;
	}
	if (mask & M_NODE) {
		const struct {
			const char *cert, *key, *name;
		} tls[] = {{cfg->admin_tls_cert, cfg->admin_tls_key, "admin"},
			   {cfg->status_tls_cert, cfg->status_tls_key, "status"},
			   {cfg->metrics_tls_cert, cfg->metrics_tls_key, "metrics"}};
		for (size_t k = 0; k < sizeof tls / sizeof tls[0]; k++) {
			if (tls[k].cert[0] == '\0' && tls[k].key[0] != '\0') {
				snprintf(err, errlen, "--%s-tls-key needs --%s-tls-cert",
					 tls[k].name, tls[k].name);
				return GW_EINVAL;
			}
		}
	}
	if ((mask & M_NODE) && cfg->voters % 2 == 0) {
		snprintf(err, errlen, "invalid value '%d' for --voters: must be odd", cfg->voters);
		return GW_EINVAL;
	}
	if ((mask & M_NODE) && cfg->raft_listen.ss.ss_family != AF_INET) {
		snprintf(err, errlen,
			 "invalid value '%s' for --raft-listen: raft needs an IPv4 address",
			 cfg->raft_listen.text);
		return GW_EINVAL;
	}
	return 0;
}

void gw_node_config_scrub(int argc, char **argv)
{
	int i;

	for (i = 2; i < argc; i++) {
		const char *names[] = {"--token", "--join-secret"};
		for (size_t k = 0; k < 2; k++) {
			size_t n = strlen(names[k]);
			if (strncmp(argv[i], names[k], n) != 0) {
				continue;
			}
			if (argv[i][n] == '=') {
				memset(argv[i] + n + 1, 'x', strlen(argv[i] + n + 1));
			} else if (argv[i][n] == '\0' && i + 1 < argc) {
				memset(argv[i + 1], 'x', strlen(argv[i + 1]));
			}
		}
	}
}

int gw_node_config_help(FILE *out, const char *topic)
{
	int c;
	if (topic == NULL || *topic == '\0') {
		fprintf(out, "apigw %s: API gateway with an embedded Raft config store\n\n",
			VERSION);
		fprintf(out, "usage: apigw <subcommand> [flags]\n\nsubcommands:\n");
		for (c = 0; c < GW_CMD__COUNT; c++) {
			fprintf(out, "  %-8s %s\n", cmds[c].name, cmds[c].summary);
		}
		fprintf(out,
			"  backup   backup --to FILE | backup status FILE: snapshots (--help)\n"
			"  restore  restore FILE --data-dir DIR: a new cluster from a backup "
			"(--help)\n"
			"  config   config export | config apply FILE: declarative APISIX "
			"config (--help)\n"
			"  keyring  keyring rotate|list|reseal: the keyring of sealed secrets "
			"(--help)\n");
		fprintf(out, "\n'apigw help <subcommand>' lists its flags and defaults.\n");
		return 0;
	}
	for (c = 0; c < GW_CMD__COUNT; c++) {
		if (strcmp(topic, cmds[c].name) == 0) {
			break;
		}
	}
	if (c == GW_CMD__COUNT) {
		return GW_EINVAL;
	}
	fprintf(out, "usage: apigw %s%s\n  %s\n", cmds[c].name,
		c == GW_CMD_TOKEN    ? " create|list|revoke ID [flags]"
		: c == GW_CMD_CONFIG ? " rollback REV | diff REV1 [REV2] [flags]"
		: c <= GW_CMD_STATUS ? " [flags]"
				     : "",
		cmds[c].summary);
	if (c > GW_CMD_CONFIG) {
		return 0;
	}
	if (c == GW_CMD_TOKEN) {
		fprintf(
		    out,
		    "\n  create  print a new join token \"apigw1.<id>.<secret>.<CA sha256>\" "
		    "(only its id\n          and the SHA-256 of its secret are stored, "
		    "replicated by raft)\n"
		    "  list    the tokens: id, expiry, uses left, revoked (never a secret)\n"
		    "  revoke  ID: refuse that token from now on\n"
		    "\n  A new node joins with `apigw join --peer HOST:PORT --token-file FILE`:\n"
		    "  it checks the peer's CA against the token's fingerprint over TLS, proves\n"
		    "  the secret, and receives its member certificate.\n");
	}
	fprintf(out, "\nflags:\n");
	for (size_t k = 0; k < N_FLAGS; k++) {
		char head[64];
		if (!(flags[k].cmds & (1u << c))) {
			continue;
		}
		snprintf(head, sizeof head, "--%s%s%s", flags[k].name, flags[k].meta ? " " : "",
			 flags[k].meta ? flags[k].meta : "");
		fprintf(out, "  %-28s %s", head, flags[k].help);
		if (flags[k].required) {
			fprintf(out, " (required)");
		} else if (flags[k].def != NULL && flags[k].def[0] != '\0') {
			fprintf(out, " (default %s)", flags[k].def);
		} else if (flags[k].type == F_BOOL) {
			fprintf(out, " (default off)");
		}
		fprintf(out, "\n");
	}
	return 0;
}

/* ---- read-only access to the table (flags_int.h) ------------------------ */

size_t gw_node__flag_count(void)
{
	return N_FLAGS;
}

void gw_node__flag_info(size_t i, struct gw_node_flag_info *out)
{
	const struct flag *f = &flags[i];

	out->name = f->name;
	out->meta = f->meta;
	out->def = f->def;
	out->help = f->help;
	out->cmds = f->cmds;
	out->required = f->required;
	out->repeat = f->type == F_ADDR_LIST || f->type == F_CIDRS_REP || f->type == F_SERVERS;
	out->array = f->type == F_ADDR_LIST;
}

bool gw_node__flag_differs(size_t i, const struct gw_node_config *a, const struct gw_node_config *b)
{
	const struct flag *f = &flags[i];
	const char *pa = (const char *)a + f->off, *pb = (const char *)b + f->off;
	size_t len;

	switch (f->type) {
	case F_ADDR:
		return strcmp(((const struct gw_addr *)pa)->text,
			      ((const struct gw_addr *)pb)->text) != 0 ||
		       strcmp(((const struct gw_addr *)pa)->opts,
			      ((const struct gw_addr *)pb)->opts) != 0;
	case F_ADDR_LIST: {
		int na = *(const int *)((const char *)a + f->size);
		int nb = *(const int *)((const char *)b + f->size);
		const struct gw_addr *la = (const struct gw_addr *)pa;
		const struct gw_addr *lb = (const struct gw_addr *)pb;
		if (na != nb) {
			return true;
		}
		for (int k = 0; k < na; k++) {
			if (strcmp(la[k].text, lb[k].text) != 0 ||
			    strcmp(la[k].opts, lb[k].opts) != 0) {
				return true;
			}
		}
		return false;
	}
	case F_STR:
	case F_CIDRS:
	case F_CIDRS_REP:
	case F_FILE:
	case F_SERVERS:
		return strncmp(pa, pb, f->size) != 0;
	case F_INT:
		len = sizeof(int);
		break;
	case F_DURATION:
		len = sizeof(unsigned);
		break;
	case F_LEVEL:
		len = sizeof(enum gw_log_level);
		break;
	case F_BOOL:
	case F_ONOFF:
		len = sizeof(bool);
		break;
	case F_SIZE:
		len = sizeof(uint64_t);
		break;
	default:
		return false;
	}
	return memcmp(pa, pb, len) != 0;
}

const char *gw_node__cmd_summary(enum gw_cmd cmd)
{
	return cmd < GW_CMD__COUNT ? cmds[cmd].summary : "";
}
