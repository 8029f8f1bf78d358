/* flags.h: the node's settings, from flags (and later a config file).
 *
 * One table (flags.c) names every flag, its subcommands, default and help;
 * the parser, `apigw help <cmd>` and the defaults all come from it, so help
 * never disagrees with the code. An optional config file (--config, JSON:
 * an object whose keys are flag names without the dashes) supplies values
 * for flags not given on the command line; flags win. Parsing never exits: it returns an error
 * with a one-line message naming the flag, and main() exits 2. */
#ifndef GW_NODE_FLAGS_H
#define GW_NODE_FLAGS_H

#include "lib/addr.h"
#include "lib/log.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define GW_MAX_PROXY_LISTEN 8

enum gw_cmd {
	GW_CMD_START = 0,
	GW_CMD_JOIN,
	GW_CMD_LEAVE,
	GW_CMD_STATUS,
	GW_CMD_TOKEN,
	GW_CMD_CONFIG,
	GW_CMD_VERSION,
	GW_CMD_HELP,
	GW_CMD__COUNT,
};

struct gw_node_config {
	enum gw_cmd cmd;
	char help_topic[32];     /* `apigw help <topic>` */
	char data_dir[PATH_MAX]; /* node state (raft, store, keys) */
	char name[64];           /* member name */
	bool name_given;         /* --name set (else: host name + node id, made unique by raft) */
	struct gw_addr proxy_listen[GW_MAX_PROXY_LISTEN]; /* HTTP proxy listeners */
	int n_proxy_listen;
	struct gw_addr proxy_tls_listen[GW_MAX_PROXY_LISTEN]; /* HTTPS proxy listeners */
	int n_proxy_tls_listen;
	char proxy_tls_fallback_sni[256]; /* ssls name for no/unknown SNI; "" = refuse */
	bool proxy_http2;                 /* --proxy-http2: ALPN h2 on the TLS listeners */
	bool proxy_h2c;                   /* --proxy-h2c: HTTP/2 prior knowledge on plain ones */
	struct gw_addr admin_listen;      /* APISIX Admin API */
	struct gw_addr etcd_listen;       /* etcd v3 API (gRPC + JSON) */
	struct gw_addr raft_listen;       /* raft peer traffic */
	struct gw_addr status_listen;     /* /status, /status/ready */
	struct gw_addr metrics_listen;    /* Prometheus */
	struct gw_addr control_listen;    /* APISIX control API (/v1/healthcheck...) */
	char control_allow[512];          /* comma-separated control API client CIDRs */
	char resolvers[512];              /* --resolver: "ip[:port],..." ("" = resolv.conf) */
	unsigned dns_min_ttl_ms;          /* host-name nodes: TTL floor */
	unsigned dns_max_ttl_ms;          /* host-name nodes: TTL ceiling */
	bool dns_ipv6;                    /* host-name nodes: AAAA too */
	int workers;                      /* proxy worker threads */
	int voters;                       /* voters wanted in the cluster */
	unsigned write_timeout_ms;        /* proposal deadline */
	unsigned drain_delay_ms;          /* SIGTERM: serve while unready */
	unsigned drain_timeout_ms;        /* SIGTERM: wait for in-flight */
	char admin_key[128];              /* "" = generated at bootstrap */
	char admin_viewer_key[128];       /* "" = no viewer (GET-only) role */
	char admin_allow[512];            /* comma-separated client CIDRs */
	enum gw_log_level log_level;
	struct gw_addr peer;             /* join: any member's etcd address */
	char join_secret[128];           /* join: the cluster's secret (legacy) */
	char join_token[192];            /* join: --token (warned: visible in ps) */
	char token_file[PATH_MAX];       /* join: --token-file */
	char token_action[16];           /* token: create, list or revoke */
	char token_id[32];               /* token revoke: the id */
	unsigned token_ttl_ms;           /* token create: --ttl */
	int token_uses;                  /* token create: --uses (0 = unlimited) */
	char token_description[128];     /* token create: --description */
	struct gw_addr endpoint;         /* status/leave: the local node's status address */
	char remove_id[32];              /* leave: remove this member instead of self */
	bool json;                       /* status: print JSON */
	char config_file[PATH_MAX];      /* --config: JSON file of flag values */
	bool check;                      /* start --check: validate and exit */
	char backup_dir[PATH_MAX];       /* periodic backups into this dir ("" = none) */
	unsigned backup_interval_ms;     /* between periodic backups */
	int backup_keep;                 /* periodic backup files kept */
	char standalone[PATH_MAX];       /* --standalone: serve this config file ("" = no) */
	unsigned standalone_poll_ms;     /* --standalone-poll: how often the file is checked */
	uint64_t quota_bytes;            /* store size quota (etcd's backend quota) */
	int history_revs;                /* --history-revisions: revisions kept by compaction */
	int history_hours;               /* --history-hours: and hours kept */
	int audit_retention_h;           /* --audit-retention-hours */
	char audit_log[PATH_MAX];        /* --audit-log: JSON-lines file ("" = none) */
	bool audit_etcd;                 /* --audit-etcd-writes */
	char config_action[16];          /* config: rollback or diff */
	long long config_rev[2];         /* config: its revisions (0 = none) */
	char config_resources[512];      /* config: --resources (comma-separated) */
	bool config_force;               /* config rollback: --force */
	bool config_dry_run;             /* config rollback: --dry-run */
	char etcd_cert[PATH_MAX];        /* etcd API TLS certificate chain ("" = cleartext) */
	char etcd_key[PATH_MAX];         /* its private key ("" = in etcd_cert) */
	char etcd_client_ca[PATH_MAX];   /* CA for client certificates ("" = none asked) */
	char admin_tls_cert[PATH_MAX];   /* Admin API TLS certificate chain ("" = cleartext) */
	char admin_tls_key[PATH_MAX];    /* its private key ("" = in admin_tls_cert) */
	char status_tls_cert[PATH_MAX];  /* status listener, likewise */
	char status_tls_key[PATH_MAX];   /* its private key */
	char metrics_tls_cert[PATH_MAX]; /* metrics listener, likewise */
	char metrics_tls_key[PATH_MAX];  /* its private key */
	char real_ip_from[512];          /* trusted peers for X-Forwarded-For, "" = none */
	char etcd_trusted[512];          /* etcd API: on-host client CIDRs (comma-separated) */
	unsigned auth_token_ttl_ms;      /* etcd auth: token lifetime */
	char access_log[PATH_MAX];       /* access log path, "-" = stdout, "off" */
	bool peer_tls;                   /* --peer-tls: member certificates on peer paths */

	char access_log_format[1024]; /* "" = JSON lines; else nginx-style $variables */
	int argc;                     /* the command line parsed (SIGHUP parses it again) */
	char **argv;                  /* main()'s; outlives the node */
};

/* Parse argv into @cfg (defaults first). Returns 0, or GW_EINVAL with a
 * one-line message in @err (no trailing newline). */
int gw_node_config_parse(int argc, char **argv, struct gw_node_config *cfg, char *err,
			 size_t errlen);

/* Print general help, or a subcommand's flags with defaults, to @out.
 * Returns GW_EINVAL if @topic is not a subcommand. */
int gw_node_config_help(FILE *out, const char *topic);

/* Overwrite the values of --token and --join-secret in @argv (after
 * parsing copied them), so that ps shows them no longer; they were
 * visible until then, which the flags' help and a log line say. */
void gw_node_config_scrub(int argc, char **argv);

const char *gw_node_cmd_name(enum gw_cmd cmd);

/* The data dir when --data-dir is not given: /var/lib/apigw as root (or
 * without HOME), else ~/.local/share/apigw. */
void gw_node_default_data_dir(char *dst, size_t len);

#endif
