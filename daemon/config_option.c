// SPDX-License-Identifier: GPL-2.0
/*
 * The options of each section: names, duplicates, and the value checks
 * that need no other part of the file. Cross-section checks (levels,
 * required options) are in policy.c; cipher lists are checked in config.c
 * once [ktlsd] allow-anonymous is known.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"

static const char *const sec_names[OPT__COUNT] = {
	[OPT_CERTIFICATE] = "certificate",
	[OPT_CERTIFICATE_KEY] = "certificate-key",
	[OPT_TRUSTED_CA] = "trusted-ca",
	[OPT_CRL] = "crl",
	[OPT_TLS_CRL] = "tls-crl",
	[OPT_SEC_PROTOCOL] = "sec-protocol",
	[OPT_CIPHER_LIST] = "cipher-list",
	[OPT_TLS_MUTUAL] = "tls-mutual",
	[OPT_TLS_TARGET_NAME_CHECK] = "tls-target-name-check",
};

enum daemon_opt { D_WORKERS, D_HS_TIMEOUT, D_MAX_HS, D_MAX_SESS, D_IDLE,
		  D_HELLO_TIMEOUT, D_MAX_HS_SOURCE, D_OFFLOAD, D_CTL_SOCKET,
		  D_CTL_GROUP, D_ANON, D_BPF_PIN_DIR, D_ACCESS_LOG, D_USER,
		  D_INSECURE_KEYS, D__COUNT };
static const char *const daemon_names[D__COUNT] = {
	"workers", "handshake-timeout", "max-handshakes", "max-sessions",
	"idle-timeout", "hello-timeout", "max-handshakes-per-source", "offload",
	"control-socket", "control-group", "allow-anonymous", "bpf-pin-dir",
	"access-log", "user", "allow-insecure-key-permissions",
};
static const char *const app_names[] = { "certificate-source", "cgroup" };
static const char *const port_names[] = { "listen", "backend", "transport", "steer" };
#define N_PORT_NAMES (sizeof(port_names) / sizeof(port_names[0]))
static const char *const conn_names[] = { "server" };

const char *config_option_name(enum sec_option opt)
{
	return (unsigned int)opt < OPT__COUNT ? sec_names[opt] : "?";
}

/* ---- options ------------------------------------------------------------ */

static bool set_string(struct loader *ld, const char *opt, char **dst,
		       unsigned int *seen, const char *value)
{
	if (*seen) {
		cfg_error(ld, opt, "already set at line %u; keep one of the two lines", *seen);
		return false;
	}
	*seen = ld->line;
	free(*dst);
	*dst = strdup(value);
	return *dst != NULL;
}

/* A security option at any level: syntax only; levels are policy.c's job. */
static void set_security(struct loader *ld, struct cfg_security *sec,
			 enum sec_option o, const char *value)
{
	struct cfg_value *v = &sec->opt[o];
	struct cfg_versions ver;
	const char *why = NULL;

	if (v->value) {
		cfg_error(ld, sec_names[o], "already set at line %u; keep one of the two lines", v->line);
		return;
	}
	switch (o) {
	case OPT_CERTIFICATE:
		why = cfg_check_paths(value, true);
		break;
	case OPT_CERTIFICATE_KEY:
	case OPT_TRUSTED_CA:
	case OPT_CRL:
	case OPT_TLS_CRL:
		why = cfg_check_paths(value, false);
		break;
	case OPT_SEC_PROTOCOL:
		why = cfg_parse_sec_protocol(value, &ver);
		break;
	case OPT_TLS_MUTUAL:
		if (strcmp(value, "0") && strcmp(value, "1"))
			why = "must be 1 (mutual TLS: the client presents a certificate) or 0";
		break;
	case OPT_TLS_TARGET_NAME_CHECK:
		if (strcmp(value, "host") && strcmp(value, "no"))
			why = "must be host (check the server's certificate against the target host name) or no (the default)";
		break;
	case OPT_CIPHER_LIST:	/* checked after parsing: needs allow-anonymous */
	case OPT__COUNT:
		break;
	}
	if (why) {
		cfg_error(ld, sec_names[o], "\"%s\": %s", value, why);
		return;
	}
	v->value = strdup(value);
	v->file = ld->cfg->path;
	v->line = ld->line;
	/* The level is the section's kind; policy.c relies on it. */
	v->level = ld->kind == SEC_HOST ? LEVEL_HOST : ld->kind == SEC_APP ? LEVEL_APPLICATION
		 : ld->kind == SEC_PORT ? LEVEL_PORT : LEVEL_CONNECTION;
}

static void set_yes_no(struct loader *ld, const char *opt, const char *value,
		       bool *dst, const char *hint)
{
	if (!strcmp(value, "yes") || !strcmp(value, "no"))
		*dst = value[0] == 'y';
	else
		cfg_error(ld, opt, "\"%s\": must be yes or no%s", value, hint);
}

static void set_daemon(struct loader *ld, int d, const char *value)
{
	struct cfg_daemon *dm = &ld->cfg->daemon;
	static const long limits[][2] = {
		[D_WORKERS] = { 0, 1024 }, [D_HS_TIMEOUT] = { 1, 3600 },
		[D_MAX_HS] = { 1, 1000000 }, [D_MAX_SESS] = { 1, 10000000 },
		[D_IDLE] = { 0, 7 * 86400 }, [D_HELLO_TIMEOUT] = { 1, 3600 },
		[D_MAX_HS_SOURCE] = { 0, 1000000 },
	};
	long v = 0;

	if (ld->daemon_seen[d]) {
		cfg_error(ld, daemon_names[d], "already set at line %u; keep one of the two lines",
		      ld->daemon_seen[d]);
		return;
	}
	ld->daemon_seen[d] = ld->line;
	if (d <= D_MAX_HS_SOURCE && !cfg_parse_long(value, limits[d][0], limits[d][1], &v)) {
		cfg_error(ld, daemon_names[d], "\"%s\": expected a whole number from %ld to %ld%s",
		      value, limits[d][0], limits[d][1],
		      d == D_HS_TIMEOUT || d == D_IDLE || d == D_HELLO_TIMEOUT ?
		      " (seconds)" : "");
		return;
	}
	switch (d) {
	case D_WORKERS:		dm->workers = (int)v; break;
	case D_HS_TIMEOUT:	dm->handshake_timeout_ms = (int)v * 1000; break;
	case D_MAX_HS:		dm->max_handshakes = (int)v; break;
	case D_MAX_SESS:	dm->max_sessions = (int)v; break;
	case D_IDLE:		dm->idle_timeout_ms = (int)v * 1000; break;
	case D_HELLO_TIMEOUT:	dm->hello_timeout_ms = (int)v * 1000; break;
	case D_MAX_HS_SOURCE:	dm->max_handshakes_per_source = (int)v; break;
	case D_OFFLOAD:
		if (!strcmp(value, "auto"))
			dm->offload = OFFLOAD_AUTO;
		else if (!strcmp(value, "off"))
			dm->offload = OFFLOAD_OFF;
		else
			cfg_error(ld, "offload", "\"%s\": must be auto (kernel TLS when the kernel has it) or off (always userspace)", value);
		break;
	case D_CTL_SOCKET:
		if (value[0] != '/' || strlen(value) >= 108) {
			cfg_error(ld, "control-socket", "\"%s\": must be an absolute path shorter than 108 bytes", value);
			break;
		}
		free(dm->control_socket);
		dm->control_socket = strdup(value);
		break;
	case D_CTL_GROUP:
		free(dm->control_group);
		dm->control_group = strdup(value);
		break;
	case D_ANON:
		set_yes_no(ld, "allow-anonymous", value, &dm->allow_anonymous, "");
		break;
	case D_ACCESS_LOG:
		set_yes_no(ld, "access-log", value, &dm->access_log,
			   " (yes: one entry per session at its end, the default)");
		break;
	case D_BPF_PIN_DIR:
		if (value[0] != '/' || strlen(value) >= sizeof(dm->bpf_pin_dir))
			cfg_error(ld, "bpf-pin-dir", "\"%s\": must be an absolute path on a bpf file system, shorter than %zu bytes", value, sizeof(dm->bpf_pin_dir));
		else
			snprintf(dm->bpf_pin_dir, sizeof(dm->bpf_pin_dir), "%s", value);
		break;
	case D_USER:
		if (!*value || strlen(value) >= sizeof(dm->user) || !strcmp(value, "root"))
			cfg_error(ld, "user", "\"%s\": must name an unprivileged user (not root), shorter than %zu bytes", value, sizeof(dm->user));
		else
			snprintf(dm->user, sizeof(dm->user), "%s", value);
		break;
	case D_INSECURE_KEYS:
		if (!strcmp(value, "yes") || !strcmp(value, "no"))
			dm->allow_insecure_key_permissions = value[0] == 'y';
		else
			cfg_error(ld, "allow-insecure-key-permissions", "\"%s\": must be yes or no", value);
		break;
	}
}

static void set_transport(struct loader *ld, struct cfg_port *p, const char *value)
{
	static const char *const keys[] = { "tls", "tls-mutual" };
	char *copy = strdup(value), *tok, *save = NULL;
	bool tls = false;

	if (!copy)
		return;
	for (tok = strtok_r(copy, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
		char *eq = strchr(tok, '='), *key = tok, *val;

		while (isspace((unsigned char)*key))
			key++;
		if (!*key)
			continue;
		if (!eq) {
			cfg_error(ld, "transport", "\"%s\": parameters are KEY=VALUE separated by ';', e.g. tls=1;tls-mutual=1", key);
			continue;
		}
		*eq = '\0';
		val = eq + 1;
		for (char *e = eq; e > key && isspace((unsigned char)e[-1]); e--)
			e[-1] = '\0';
		while (isspace((unsigned char)*val))
			val++;
		for (char *e = val + strlen(val); e > val && isspace((unsigned char)e[-1]); e--)
			e[-1] = '\0';
		if (!strcmp(key, "tls")) {
			if (strcmp(val, "1"))
				cfg_error(ld, "transport", "tls=%s: ktlsd only serves secure ports; write tls=1", val);
			tls = true;
		} else if (!strcmp(key, "tls-mutual")) {
			if (strcmp(val, "0") && strcmp(val, "1"))
				cfg_error(ld, "transport", "tls-mutual=%s: must be 1 or 0", val);
			p->mutual = !strcmp(val, "1");
		} else {
			const char *hint = cfg_closest(key, keys, 2);

			cfg_error(ld, "transport", "unknown parameter \"%s\"; %s%s%s", key,
			      hint ? "did you mean " : "the parameters are tls and tls-mutual",
			      hint ? hint : "", hint ? "?" : "");
		}
	}
	if (!tls)
		cfg_error(ld, "transport", "tls=1 is missing; a port is made secure by tls=1 in its transport: transport = tls=1 (add ;tls-mutual=1 for mutual TLS)");
	free(copy);
}

static void set_port(struct loader *ld, struct cfg_port *p, const char *name, const char *value)
{
	const char *why;

	if (!strcmp(name, "listen")) {
		if (set_string(ld, name, &p->listen_text, &p->listen_line, value) &&
		    (why = cfg_parse_listen(value, p->listen, &p->n_listen)))
			cfg_error(ld, name, "\"%s\": %s", value, why);
	} else if (!strcmp(name, "backend")) {
		if (set_string(ld, name, &p->backend_text, &p->backend_line, value) &&
		    (why = cfg_parse_backend(value, &p->backend)))
			cfg_error(ld, name, "\"%s\": %s", value, why);
	} else if (!strcmp(name, "steer")) {
		if (!strcmp(value, "yes") || !strcmp(value, "no"))
			p->steer = value[0] == 'y';
		else
			cfg_error(ld, name, "\"%s\": must be yes (take the port over from the service with eBPF) or no", value);
	} else if (p->transport_line) {
		cfg_error(ld, name, "already set at line %u; keep one of the two lines",
			  p->transport_line);
	} else {
		p->transport_line = ld->line;
		set_transport(ld, p, value);
	}
}

static void set_app(struct loader *ld, struct cfg_application *a, const char *name, const char *value)
{
	if (!strcmp(name, "cgroup")) {
		if (a->cgroup) {
			cfg_error(ld, name, "already set at line %u; keep one of the two lines",
				  a->cgroup_line);
			return;
		}
		if (value[0] != '/') {
			cfg_error(ld, name, "\"%s\": must be an absolute path, e.g. /sys/fs/cgroup/app.slice", value);
		} else {
			a->cgroup = strdup(value);
			a->cgroup_line = ld->line;
		}
		return;
	}
	if (a->certificate_source_line) {
		cfg_error(ld, name, "already set at line %u; keep one of the two lines",
		      a->certificate_source_line);
		return;
	}
	a->certificate_source_line = ld->line;
	if (!strcmp(value, "host"))
		a->certificate_source = LEVEL_HOST;
	else if (!strcmp(value, "application"))
		a->certificate_source = LEVEL_APPLICATION;
	else
		cfg_error(ld, name, "\"%s\": must be host (use the [security] settings) or application (use this section's settings)", value);
}

static void unknown_option(struct loader *ld, const char *name,
			   const char *const *own, size_t n_own, bool security)
{
	const char *cands[OPT__COUNT + 4];
	const char *hint;
	size_t n = 0;

	for (size_t i = 0; i < n_own; i++)
		cands[n++] = own[i];
	for (int i = 0; security && i < OPT__COUNT; i++)
		cands[n++] = sec_names[i];
	if (!strcmp(name, "tls")) {
		cfg_error(ld, name, "tls=1 is set only at the port level, in its transport: transport = tls=1");
		return;
	}
	hint = cfg_closest(name, cands, n);
	if (hint) {
		cfg_error(ld, name, "unknown option; did you mean %s?", hint);
		return;
	}
	for (int i = 0; i < D__COUNT; i++)
		if (!strcmp(name, daemon_names[i]))
			hint = "[ktlsd]";
	for (int i = 0; i < OPT__COUNT; i++)
		if (!strcmp(name, sec_names[i]))
			hint = "[security], [application], [port] or [connection]";
	for (size_t i = 0; i < N_PORT_NAMES; i++)
		if (!strcmp(name, port_names[i]))
			hint = "[port APP:NAME]";
	if (!strcmp(name, "server"))
		hint = "[connection APP->SERVER]";
	if (!strcmp(name, "certificate-source") || !strcmp(name, "cgroup"))
		hint = "[application NAME]";
	if (hint)
		cfg_error(ld, name, "not valid in this section; it belongs in %s", hint);
	else
		cfg_error(ld, name, "unknown option; see ktlsd.conf(5) for the options of this section");
}

static int find_name(const char *name, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(name, names[i]))
			return i;
	return -1;
}

int cfg_on_option(void *user, const char *section, const char *name, const char *value)
{
	struct loader *ld = user;
	struct ktlsd_config *cfg = ld->cfg;
	int sec = find_name(name, sec_names, OPT__COUNT);
	int i;

	(void)section;	/* the reader already knows it, with its line */
	if (ld->kind == SEC_BAD)
		return 1;	/* the header was reported; skip its body */
	if (ld->kind == SEC_NONE) {
		cfg_error(ld, name, "option outside any section; put it under [ktlsd] or [security]");
		return 1;
	}
	if (!*value) {
		cfg_error(ld, name, "empty value; give a value or remove the line");
		return 1;
	}
	switch (ld->kind) {
	case SEC_DAEMON:
		if ((i = find_name(name, daemon_names, D__COUNT)) >= 0)
			set_daemon(ld, i, value);
		else
			unknown_option(ld, name, daemon_names, D__COUNT, false);
		break;
	case SEC_HOST:
		if (sec >= 0)
			set_security(ld, &cfg->host, (enum sec_option)sec, value);
		else
			unknown_option(ld, name, NULL, 0, true);
		break;
	case SEC_APP:
		if (sec >= 0)
			set_security(ld, &cfg->apps[ld->index].own, (enum sec_option)sec, value);
		else if (find_name(name, app_names, 2) >= 0)
			set_app(ld, &cfg->apps[ld->index], name, value);
		else
			unknown_option(ld, name, app_names, 2, true);
		break;
	case SEC_PORT:
		if (sec >= 0)
			set_security(ld, &cfg->ports[ld->index].own, (enum sec_option)sec, value);
		else if (find_name(name, port_names, N_PORT_NAMES) >= 0)
			set_port(ld, &cfg->ports[ld->index], name, value);
		else
			unknown_option(ld, name, port_names, N_PORT_NAMES, true);
		break;
	case SEC_CONN:
		if (sec >= 0) {
			set_security(ld, &cfg->conns[ld->index].own, (enum sec_option)sec, value);
		} else if (!strcmp(name, "server")) {
			struct cfg_connection *c = &cfg->conns[ld->index];
			const char *why;

			if (c->server_line) {
				cfg_error(ld, name, "already set at line %u; keep one of the two lines", c->server_line);
				break;
			}
			c->server_line = ld->line;
			why = cfg_split_server(value, &c->server_host, &c->server_port);
			if (why)
				cfg_error(ld, name, "\"%s\": %s; write HOST:PORT, e.g. statserver.example.com:7001", value, why);
		} else {
			unknown_option(ld, name, conn_names, 1, true);
		}
		break;
	case SEC_NONE:
	case SEC_BAD:
		break;
	}
	return 1;
}

