/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ktlsd configuration: the seeds' objects (Host, Applications, their
 * listening Ports and client Connections) with security settings at the
 * Host, Application and Port/Connection levels, parsed from an INI file and
 * resolved into one effective set of settings per port and connection.
 *
 * config.c parses and validates; policy.c resolves levels; creds.c turns a
 * resolved port or connection into an SSL_CTX; verify.c adds the peer
 * certificate checks OpenSSL does not make on its own.
 */
#ifndef KTLSD_CONFIG_H
#define KTLSD_CONFIG_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/socket.h>
#include <openssl/ssl.h>

enum cfg_level {
	LEVEL_UNSET = 0,
	LEVEL_HOST,
	LEVEL_APPLICATION,
	LEVEL_PORT,
	LEVEL_CONNECTION,
};

/* The security options, named exactly as in the seeds (case-sensitive). */
enum sec_option {
	OPT_CERTIFICATE,		/* "certificate" */
	OPT_CERTIFICATE_KEY,		/* "certificate-key" */
	OPT_TRUSTED_CA,			/* "trusted-ca" */
	OPT_CRL,			/* "crl" */
	OPT_TLS_CRL,			/* "tls-crl" */
	OPT_SEC_PROTOCOL,		/* "sec-protocol" */
	OPT_CIPHER_LIST,		/* "cipher-list" */
	OPT_TLS_MUTUAL,			/* "tls-mutual" */
	OPT_TLS_TARGET_NAME_CHECK,	/* "tls-target-name-check" */
	OPT__COUNT,
};

/* One option value and where it came from (for errors and --explain). */
struct cfg_value {
	char *value;		/* NULL when unset */
	enum cfg_level level;	/* LEVEL_UNSET when unset */
	const char *file;	/* points into struct ktlsd_config.path */
	unsigned int line;
};

struct cfg_security {
	struct cfg_value opt[OPT__COUNT];
};

/* A socket address; listen = "*:P" yields two (IPv4 and IPv6). */
struct cfg_addr {
	struct sockaddr_storage ss;
	socklen_t len;
};

#define CFG_MAX_LISTEN 2

/* TLS protocol version bounds from sec-protocol; 0 means "library default"
 * (the highest both sides support, never below TLS 1.2). */
struct cfg_versions {
	int min_version;	/* TLS1_2_VERSION / TLS1_3_VERSION / 0 */
	int max_version;
};

struct cfg_application {
	char *name;
	enum cfg_level certificate_source;	/* LEVEL_HOST or LEVEL_APPLICATION */
	struct cfg_security own;		/* options set in this section */
	char *cgroup;				/* for client-side steering, or NULL */
	unsigned int cgroup_line;
	unsigned int line;
	unsigned int certificate_source_line;	/* 0 = not written: implicit */
};

struct cfg_port {
	char *name;			/* "StatServer:secure" */
	char *application;		/* "StatServer" */
	char *listen_text;		/* as written, for messages */
	char *backend_text;
	struct cfg_addr listen[CFG_MAX_LISTEN];
	int n_listen;
	struct cfg_addr backend;	/* AF_INET, AF_INET6 or AF_UNIX */
	bool mutual;			/* transport has tls-mutual=1 */
	bool steer;			/* steer = yes: taken over with eBPF */
	struct cfg_security own;	/* options set in the port section */
	struct cfg_security effective;	/* after resolution (policy.c) */
	struct cfg_versions versions;
	unsigned int line;
	unsigned int listen_line, backend_line, transport_line;
	enum cfg_level source;		/* level ->effective comes from */
};

struct cfg_connection {
	char *name;			/* "Router->StatServer" */
	char *application;		/* the local client application */
	char *server_host;		/* host name or address as written */
	char *server_port;		/* port as written */
	struct cfg_security own;
	struct cfg_security effective;
	struct cfg_versions versions;
	bool mutual;			/* a client certificate is presented */
	bool target_name_check;		/* tls-target-name-check = host */
	unsigned int line;
	unsigned int server_line;
	enum cfg_level source;		/* level ->effective comes from */
};

enum cfg_offload { OFFLOAD_AUTO = 0, OFFLOAD_OFF };

/* Daemon-wide settings from the [ktlsd] section. */
struct cfg_daemon {
	int workers;			/* 0 = one per CPU */
	int handshake_timeout_ms;	/* default 10000 */
	int hello_timeout_ms;		/* first ClientHello, default 5000 */
	int max_handshakes;		/* concurrent, default 1024 */
	int max_handshakes_per_source;	/* IPv4 address or IPv6 /64; 0 = off */
	int max_sessions;		/* default 65536 */
	int idle_timeout_ms;		/* 0 = off (default) */
	enum cfg_offload offload;	/* "auto" (default) or "off" */
	char *control_socket;		/* default /run/ktlsd/control */
	char *control_group;		/* NULL = root only */
	bool allow_anonymous;		/* debug only: encryption-only mode */
	bool access_log;		/* one entry per session (default yes) */
	char bpf_pin_dir[108];		/* "" = /sys/fs/bpf/ktlsd */
	char user[64];			/* "" = ktlsd: the key holder's and the
					 * network process's user */
	bool allow_insecure_key_permissions;	/* key files readable by others */
};

struct ktlsd_config {
	char *path;
	struct cfg_security host;	/* the [security] section */
	struct cfg_application *apps;
	int n_apps;
	struct cfg_port *ports;
	int n_ports;
	struct cfg_connection *conns;
	int n_conns;
	struct cfg_daemon daemon;
};

/* config.c */
/*
 * Parse and resolve PATH. Every problem is written to DIAG as
 * "file:line: error: [level] option: message (fix)" and parsing goes on, so
 * all problems are reported at once. Returns the number of errors (0 on
 * success, with *out set); on errors *out is NULL.
 */
int config_load(const char *path, struct ktlsd_config **out, FILE *diag);
void config_free(struct ktlsd_config *cfg);
const char *config_level_name(enum cfg_level level);	/* "host", ... */
const char *config_option_name(enum sec_option opt);	/* "certificate", ... */

/* policy.c */
/* Fill ->effective of every port and connection; returns errors found. */
int policy_resolve(struct ktlsd_config *cfg, FILE *diag);
/* Print each port and connection with every effective setting, its level
 * and file:line. ONLY limits output to one port or connection, named or
 * given by port number (a port's listen port, a connection's server port).
 * Returns 0, or -1 (having said so on OUT) when ONLY matches nothing. */
int policy_explain(const struct ktlsd_config *cfg, const char *only, FILE *out);

/* creds.c */
/*
 * Build the SSL_CTX for a secure server port or a client connection from its
 * effective settings: certificates through OSSL_STORE, chain, key, CAs,
 * CRLs, versions, ciphers and verification (verify.c). Problems go to DIAG
 * with file:line; returns NULL on error. Warnings (key readable by others,
 * certificate expiring within 30 days) are written too but do not fail.
 */
SSL_CTX *creds_server_ctx(const struct ktlsd_config *cfg,
			  const struct cfg_port *port, FILE *diag);
SSL_CTX *creds_client_ctx(const struct ktlsd_config *cfg,
			  const struct cfg_connection *conn, FILE *diag);
/* For --explain: the cipher suites SEC and V give, per TLS version, as
 * OpenSSL names ("  ciphers (TLS 1.2): ECDHE-ECDSA-AES256-GCM-SHA384 ..."). */
void creds_explain_ciphers(const struct cfg_security *sec,
			   const struct cfg_versions *v, bool server, FILE *out);
/*
 * Per connection, on the SSL made from creds_client_ctx(): set SNI to
 * conn->server_host and, with tls-target-name-check=host, the host name the
 * server's certificate must carry. 0 or -1 (address literal with the check
 * on, or no memory).
 */
int creds_client_prepare(SSL *ssl, const struct cfg_connection *conn);

/* verify.c */
/*
 * After a failed handshake on SSL, a short sentence saying why the peer's
 * certificate was refused ("certificate has expired", "signed with SHA-1",
 * "host name mismatch: ..."), or NULL if verification was not the cause.
 * Call it before clearing the OpenSSL error queue: "peer sent no
 * certificate" is only known from there.
 */
const char *verify_failure_reason(const SSL *ssl);

#endif
