// SPDX-License-Identifier: GPL-2.0
/*
 * Configuration file reader. inih does the INI syntax (sections, name =
 * value, comments); this file gives each section and option its meaning.
 *
 * The packaged inih calls its handler without a line number, so the file is
 * fed to ini_parse_stream() through our own line reader: inih asks for one
 * line, then calls the handler for it before asking for the next, so the
 * reader's count is the handler's line. The reader also sees section headers,
 * which lets empty sections exist and duplicate sections be reported.
 *
 * Every problem is reported and parsing goes on, so one run shows them all.
 */
#include <ctype.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <ini.h>

#include "config_int.h"

#define MAX_LINE 4096
#define INI_SECTION_MAX 49	/* inih truncates longer section names */

enum section_kind { SEC_NONE, SEC_BAD, SEC_DAEMON, SEC_HOST, SEC_APP, SEC_PORT, SEC_CONN };

struct loader {
	struct ktlsd_config *cfg;
	FILE *in, *diag;
	char *buf;		/* getline buffer */
	size_t buf_len;
	unsigned int line;	/* number of the line inih is working on */
	int errors;
	enum section_kind kind;
	int index;		/* into cfg->apps/ports/conns */
	char where[128];	/* current section as written, for messages */
	/* [ktlsd] option lines, for duplicates (indexed like daemon_opts) */
	unsigned int daemon_seen[16];
	unsigned int daemon_line, host_line;
};

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
		  D_OFFLOAD, D_CTL_SOCKET, D_CTL_GROUP, D_ANON, D__COUNT };
static const char *const daemon_names[D__COUNT] = {
	"workers", "handshake-timeout", "max-handshakes", "max-sessions",
	"idle-timeout", "offload", "control-socket", "control-group",
	"allow-anonymous",
};
static const char *const app_names[] = { "certificate-source", "cgroup" };
static const char *const port_names[] = { "listen", "backend", "transport" };
static const char *const conn_names[] = { "server" };
static const char *const section_kinds[] = {
	"ktlsd", "security", "application", "port", "connection",
};

const char *config_level_name(enum cfg_level level)
{
	switch (level) {
	case LEVEL_HOST:	return "host";
	case LEVEL_APPLICATION:	return "application";
	case LEVEL_PORT:	return "port";
	case LEVEL_CONNECTION:	return "connection";
	case LEVEL_UNSET:	break;
	}
	return "unset";
}

const char *config_option_name(enum sec_option opt)
{
	return (unsigned int)opt < OPT__COUNT ? sec_names[opt] : "?";
}

void cfg_report(FILE *diag, const char *file, unsigned int line,
		const char *severity, const char *where, const char *option,
		const char *fmt, ...)
{
	va_list ap;

	if (!diag)
		return;
	fprintf(diag, "%s:%u: %s: ", file, line, severity);
	if (where)
		fprintf(diag, "[%s] ", where);
	if (option)
		fprintf(diag, "%s: ", option);
	va_start(ap, fmt);
	vfprintf(diag, fmt, ap);
	va_end(ap);
	fputc('\n', diag);
}

static void __attribute__((format(printf, 4, 5)))
error_at(struct loader *ld, unsigned int line, const char *opt, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ld->errors++;
	cfg_report(ld->diag, ld->cfg->path, line, "error",
		   ld->kind == SEC_NONE ? NULL : ld->where, opt, "%s", msg);
}
#define error(ld, opt, ...) error_at(ld, (ld)->line, opt, __VA_ARGS__)

/* ---- sections ---------------------------------------------------------- */

static void *grow(void *arr, int n, size_t size)
{
	return realloc(arr, (size_t)(n + 1) * size);
}

static int find_app(const struct ktlsd_config *cfg, const char *name)
{
	for (int i = 0; i < cfg->n_apps; i++)
		if (!strcmp(cfg->apps[i].name, name))
			return i;
	return -1;
}

/* Object names: no spaces, brackets or the separators of port/connection. */
static bool valid_name(const char *s, size_t n)
{
	if (!n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isgraph((unsigned char)s[i]) || strchr("[]:;#=", s[i]))
			return false;
	return true;
}

static bool section_app(struct loader *ld, const char *name)
{
	struct cfg_application *a;
	int i = find_app(ld->cfg, name);

	if (i >= 0) {
		error(ld, NULL, "section already defined at line %u; merge the two sections",
		      ld->cfg->apps[i].line);
		return false;
	}
	a = grow(ld->cfg->apps, ld->cfg->n_apps, sizeof(*a));
	if (!a)
		return false;
	ld->cfg->apps = a;
	a += ld->cfg->n_apps;
	memset(a, 0, sizeof(*a));
	a->name = strdup(name);
	a->certificate_source = LEVEL_HOST;
	a->line = ld->line;
	if (!a->name)
		return false;
	ld->index = ld->cfg->n_apps++;
	return true;
}

static bool section_port(struct loader *ld, const char *name)
{
	const char *colon = strchr(name, ':');
	struct cfg_port *p;

	if (!colon || !valid_name(name, (size_t)(colon - name)) ||
	    !valid_name(colon + 1, strlen(colon + 1))) {
		error(ld, NULL, "a port section is named APPLICATION:PORT-NAME, e.g. [port StatServer:secure]");
		return false;
	}
	for (int i = 0; i < ld->cfg->n_ports; i++) {
		if (!strcmp(ld->cfg->ports[i].name, name)) {
			error(ld, NULL, "section already defined at line %u; merge the two sections",
			      ld->cfg->ports[i].line);
			return false;
		}
	}
	p = grow(ld->cfg->ports, ld->cfg->n_ports, sizeof(*p));
	if (!p)
		return false;
	ld->cfg->ports = p;
	p += ld->cfg->n_ports;
	memset(p, 0, sizeof(*p));
	p->name = strdup(name);
	p->application = strndup(name, (size_t)(colon - name));
	p->line = ld->line;
	ld->index = ld->cfg->n_ports++;
	return p->name && p->application;
}

static bool section_conn(struct loader *ld, const char *name)
{
	const char *arrow = strstr(name, "->");
	struct cfg_connection *c;

	if (!arrow || !valid_name(name, (size_t)(arrow - name)) ||
	    !valid_name(arrow + 2, strlen(arrow + 2)) || strstr(arrow + 2, "->")) {
		error(ld, NULL, "a connection section is named CLIENT-APPLICATION->SERVER, e.g. [connection Router->StatServer]");
		return false;
	}
	for (int i = 0; i < ld->cfg->n_conns; i++) {
		if (!strcmp(ld->cfg->conns[i].name, name)) {
			error(ld, NULL, "section already defined at line %u; merge the two sections",
			      ld->cfg->conns[i].line);
			return false;
		}
	}
	c = grow(ld->cfg->conns, ld->cfg->n_conns, sizeof(*c));
	if (!c)
		return false;
	ld->cfg->conns = c;
	c += ld->cfg->n_conns;
	memset(c, 0, sizeof(*c));
	c->name = strdup(name);
	c->application = strndup(name, (size_t)(arrow - name));
	c->line = ld->line;
	ld->index = ld->cfg->n_conns++;
	return c->name && c->application;
}

/* A singleton section ([ktlsd], [security]) seen twice is a mistake. */
static bool section_once(struct loader *ld, unsigned int *seen)
{
	if (*seen) {
		error(ld, NULL, "section already defined at line %u; merge the two sections", *seen);
		return false;
	}
	*seen = ld->line;
	return true;
}

/* Called by the reader on "[...]" lines, before inih sees them. */
static void open_section(struct loader *ld, const char *text, size_t len)
{
	char sect[128], *name;
	size_t kind_len;
	bool ok = false;

	ld->kind = SEC_BAD;
	snprintf(ld->where, sizeof(ld->where), "%.*s", (int)len, text);
	if (len > INI_SECTION_MAX) {
		ld->kind = SEC_NONE;
		error(ld, NULL, "section name longer than %d characters", INI_SECTION_MAX);
		ld->kind = SEC_BAD;
		return;
	}
	memcpy(sect, text, len);
	sect[len] = '\0';
	kind_len = strcspn(sect, " \t");
	name = sect + kind_len;
	while (isspace((unsigned char)*name))
		name++;
	sect[kind_len] = '\0';

	if (!strcmp(sect, "ktlsd") || !strcmp(sect, "security")) {
		bool daemon = sect[0] == 'k';

		ld->kind = daemon ? SEC_DAEMON : SEC_HOST;
		if (*name) {
			error(ld, NULL, "[%s] takes no name; write [%s]", sect, sect);
			ld->kind = SEC_BAD;
			return;
		}
		ok = section_once(ld, daemon ? &ld->daemon_line : &ld->host_line);
	} else if (!strcmp(sect, "application") || !strcmp(sect, "port") ||
		   !strcmp(sect, "connection")) {
		ld->kind = sect[0] == 'a' ? SEC_APP : sect[0] == 'p' ? SEC_PORT : SEC_CONN;
		if (!*name) {
			error(ld, NULL, "this section needs a name, e.g. [%s %s]", sect,
			      ld->kind == SEC_APP ? "StatServer" :
			      ld->kind == SEC_PORT ? "StatServer:secure" : "Router->StatServer");
			ld->kind = SEC_BAD;
			return;
		}
		if (ld->kind == SEC_APP && !valid_name(name, strlen(name)))
			error(ld, NULL, "application names have no spaces, brackets, ':', ';', '#' or '='");
		else if (ld->kind == SEC_APP)
			ok = section_app(ld, name);
		else
			ok = ld->kind == SEC_PORT ? section_port(ld, name) : section_conn(ld, name);
	} else {
		const char *hint = cfg_closest(sect, section_kinds,
					       sizeof(section_kinds) / sizeof(section_kinds[0]));

		ld->kind = SEC_NONE;
		if (hint)
			error(ld, NULL, "unknown section [%s]; did you mean [%s%s%s]?", ld->where,
			      hint, *name ? " " : "", name);
		else
			error(ld, NULL, "unknown section [%s]; sections are [ktlsd], [security], [application NAME], [port APP:NAME] and [connection APP->SERVER]",
			      ld->where);
	}
	if (!ok)
		ld->kind = SEC_BAD;
}

/* ---- options ------------------------------------------------------------ */

static bool set_string(struct loader *ld, const char *opt, char **dst,
		       unsigned int *seen, const char *value)
{
	if (*seen) {
		error(ld, opt, "already set at line %u; keep one of the two lines", *seen);
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
		error(ld, sec_names[o], "already set at line %u; keep one of the two lines", v->line);
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
		error(ld, sec_names[o], "\"%s\": %s", value, why);
		return;
	}
	v->value = strdup(value);
	v->file = ld->cfg->path;
	v->line = ld->line;
	/* The level is the section's kind; policy.c relies on it. */
	v->level = ld->kind == SEC_HOST ? LEVEL_HOST : ld->kind == SEC_APP ? LEVEL_APPLICATION
		 : ld->kind == SEC_PORT ? LEVEL_PORT : LEVEL_CONNECTION;
}

static void set_daemon(struct loader *ld, int d, const char *value)
{
	struct cfg_daemon *dm = &ld->cfg->daemon;
	static const long limits[][2] = {
		[D_WORKERS] = { 0, 1024 }, [D_HS_TIMEOUT] = { 1, 3600 },
		[D_MAX_HS] = { 1, 1000000 }, [D_MAX_SESS] = { 1, 10000000 },
		[D_IDLE] = { 0, 7 * 86400 },
	};
	long v = 0;

	if (ld->daemon_seen[d]) {
		error(ld, daemon_names[d], "already set at line %u; keep one of the two lines",
		      ld->daemon_seen[d]);
		return;
	}
	ld->daemon_seen[d] = ld->line;
	if (d <= D_IDLE && !cfg_parse_long(value, limits[d][0], limits[d][1], &v)) {
		error(ld, daemon_names[d], "\"%s\": expected a whole number from %ld to %ld%s",
		      value, limits[d][0], limits[d][1],
		      d == D_HS_TIMEOUT || d == D_IDLE ? " (seconds)" : "");
		return;
	}
	switch (d) {
	case D_WORKERS:		dm->workers = (int)v; break;
	case D_HS_TIMEOUT:	dm->handshake_timeout_ms = (int)v * 1000; break;
	case D_MAX_HS:		dm->max_handshakes = (int)v; break;
	case D_MAX_SESS:	dm->max_sessions = (int)v; break;
	case D_IDLE:		dm->idle_timeout_ms = (int)v * 1000; break;
	case D_OFFLOAD:
		if (!strcmp(value, "auto"))
			dm->offload = OFFLOAD_AUTO;
		else if (!strcmp(value, "off"))
			dm->offload = OFFLOAD_OFF;
		else
			error(ld, "offload", "\"%s\": must be auto (kernel TLS when the kernel has it) or off (always userspace)", value);
		break;
	case D_CTL_SOCKET:
		if (value[0] != '/' || strlen(value) >= 108) {
			error(ld, "control-socket", "\"%s\": must be an absolute path shorter than 108 bytes", value);
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
		if (!strcmp(value, "yes") || !strcmp(value, "no"))
			dm->allow_anonymous = value[0] == 'y';
		else
			error(ld, "allow-anonymous", "\"%s\": must be yes or no", value);
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
			error(ld, "transport", "\"%s\": parameters are KEY=VALUE separated by ';', e.g. tls=1;tls-mutual=1", key);
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
				error(ld, "transport", "tls=%s: ktlsd only serves secure ports; write tls=1", val);
			tls = true;
		} else if (!strcmp(key, "tls-mutual")) {
			if (strcmp(val, "0") && strcmp(val, "1"))
				error(ld, "transport", "tls-mutual=%s: must be 1 or 0", val);
			p->mutual = !strcmp(val, "1");
		} else {
			const char *hint = cfg_closest(key, keys, 2);

			error(ld, "transport", "unknown parameter \"%s\"; %s%s%s", key,
			      hint ? "did you mean " : "the parameters are tls and tls-mutual",
			      hint ? hint : "", hint ? "?" : "");
		}
	}
	if (!tls)
		error(ld, "transport", "tls=1 is missing; a port is made secure by tls=1 in its transport: transport = tls=1 (add ;tls-mutual=1 for mutual TLS)");
	free(copy);
}

static void set_port(struct loader *ld, struct cfg_port *p, const char *name, const char *value)
{
	const char *why;

	if (!strcmp(name, "listen")) {
		if (set_string(ld, name, &p->listen_text, &p->listen_line, value) &&
		    (why = cfg_parse_listen(value, p->listen, &p->n_listen)))
			error(ld, name, "\"%s\": %s", value, why);
	} else if (!strcmp(name, "backend")) {
		if (set_string(ld, name, &p->backend_text, &p->backend_line, value) &&
		    (why = cfg_parse_backend(value, &p->backend)))
			error(ld, name, "\"%s\": %s", value, why);
	} else {
		char *unused = NULL;

		if (set_string(ld, name, &unused, &p->transport_line, value))
			set_transport(ld, p, value);
		free(unused);
	}
}

static void set_app(struct loader *ld, struct cfg_application *a, const char *name, const char *value)
{
	if (!strcmp(name, "cgroup")) {
		if (a->cgroup) {
			error(ld, name, "already set; keep one of the two lines");
			return;
		}
		if (value[0] != '/')
			error(ld, name, "\"%s\": must be an absolute path, e.g. /sys/fs/cgroup/app.slice", value);
		else
			a->cgroup = strdup(value);
		return;
	}
	if (a->certificate_source_line) {
		error(ld, name, "already set at line %u; keep one of the two lines",
		      a->certificate_source_line);
		return;
	}
	a->certificate_source_line = ld->line;
	if (!strcmp(value, "host"))
		a->certificate_source = LEVEL_HOST;
	else if (!strcmp(value, "application"))
		a->certificate_source = LEVEL_APPLICATION;
	else
		error(ld, name, "\"%s\": must be host (use the [security] settings) or application (use this section's settings)", value);
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
		error(ld, name, "tls=1 is set only at the port level, in its transport: transport = tls=1");
		return;
	}
	hint = cfg_closest(name, cands, n);
	if (hint) {
		error(ld, name, "unknown option; did you mean %s?", hint);
		return;
	}
	for (int i = 0; i < D__COUNT; i++)
		if (!strcmp(name, daemon_names[i]))
			hint = "[ktlsd]";
	for (int i = 0; i < OPT__COUNT; i++)
		if (!strcmp(name, sec_names[i]))
			hint = "[security], [application], [port] or [connection]";
	for (size_t i = 0; i < 3; i++)
		if (!strcmp(name, port_names[i]))
			hint = "[port APP:NAME]";
	if (!strcmp(name, "server"))
		hint = "[connection APP->SERVER]";
	if (!strcmp(name, "certificate-source") || !strcmp(name, "cgroup"))
		hint = "[application NAME]";
	if (hint)
		error(ld, name, "not valid in this section; it belongs in %s", hint);
	else
		error(ld, name, "unknown option; see ktlsd.conf(5) for the options of this section");
}

static int find_name(const char *name, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(name, names[i]))
			return i;
	return -1;
}

static int on_option(void *user, const char *section, const char *name, const char *value)
{
	struct loader *ld = user;
	struct ktlsd_config *cfg = ld->cfg;
	int sec = find_name(name, sec_names, OPT__COUNT);
	int i;

	(void)section;	/* the reader already knows it, with its line */
	if (ld->kind == SEC_BAD)
		return 1;	/* the header was reported; skip its body */
	if (ld->kind == SEC_NONE) {
		error(ld, name, "option outside any section; put it under [ktlsd] or [security]");
		return 1;
	}
	if (!*value) {
		error(ld, name, "empty value; give a value or remove the line");
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
		else if (find_name(name, port_names, 3) >= 0)
			set_port(ld, &cfg->ports[ld->index], name, value);
		else
			unknown_option(ld, name, port_names, 3, true);
		break;
	case SEC_CONN:
		if (sec >= 0) {
			set_security(ld, &cfg->conns[ld->index].own, (enum sec_option)sec, value);
		} else if (!strcmp(name, "server")) {
			struct cfg_connection *c = &cfg->conns[ld->index];
			const char *why;

			if (c->server_line) {
				error(ld, name, "already set at line %u; keep one of the two lines", c->server_line);
				break;
			}
			c->server_line = ld->line;
			why = cfg_split_server(value, &c->server_host, &c->server_port);
			if (why)
				error(ld, name, "\"%s\": %s; write HOST:PORT, e.g. statserver.example.com:7001", value, why);
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

/* ---- the line reader ----------------------------------------------------- */

/* Feed inih one line, after noting section headers and obvious syntax errors. */
static char *read_line(char *str, int num, void *stream)
{
	struct loader *ld = stream;
	ssize_t n = getline(&ld->buf, &ld->buf_len, ld->in);
	char *s;

	if (n < 0)
		return NULL;
	ld->line++;
	if (memchr(ld->buf, '\0', (size_t)n)) {
		error(ld, NULL, "NUL byte in the line; the file must be text");
		snprintf(str, (size_t)num, "\n");
		return str;
	}
	if (n >= num - 1) {
		error(ld, NULL, "line longer than %d characters", num - 2);
		snprintf(str, (size_t)num, "\n");
		return str;
	}
	memcpy(str, ld->buf, (size_t)n + 1);
	s = str;
	while (isspace((unsigned char)*s))
		s++;
	if (*s == '[') {
		char *close = strchr(s, ']');

		if (!close) {
			error(ld, NULL, "section header without ']'");
			ld->kind = SEC_BAD;
			snprintf(str, (size_t)num, "\n");
			return str;
		}
		open_section(ld, s + 1, (size_t)(close - s - 1));
	} else if (*s && !strchr("#;", *s) && !strchr(s, '=') && !strchr(s, ':')) {
		cfg_report(ld->diag, ld->cfg->path, ld->line, "error", NULL, NULL,
			   "expected NAME = VALUE, [section] or a comment");
		ld->errors++;
		snprintf(str, (size_t)num, "\n");
	}
	return str;
}

/* ---- checks after the whole file is read --------------------------------- */

static void check_ciphers_in(struct loader *ld, SSL_CTX *scratch,
			     struct cfg_security *sec, const char *where)
{
	struct cfg_value *v = &sec->opt[OPT_CIPHER_LIST];
	char why[512];

	if (!v->value || cfg_check_cipher_list(scratch, v->value,
					       ld->cfg->daemon.allow_anonymous,
					       why, sizeof(why)))
		return;
	ld->errors++;
	cfg_report(ld->diag, ld->cfg->path, v->line, "error", where, "cipher-list",
		   "\"%s\": %s", v->value, why);
	free(v->value);
	v->value = NULL;	/* so policy.c does not build on it */
}

static void check_ciphers(struct loader *ld)
{
	struct ktlsd_config *cfg = ld->cfg;
	SSL_CTX *scratch = SSL_CTX_new(TLS_method());
	char where[128];

	if (!scratch) {
		ld->errors++;
		cfg_report(ld->diag, cfg->path, 0, "error", NULL, "cipher-list",
			   "cannot create an OpenSSL context to check cipher lists");
		return;
	}
	check_ciphers_in(ld, scratch, &cfg->host, "security");
	for (int i = 0; i < cfg->n_apps; i++) {
		cfg_label_app_name(cfg->apps[i].name, where, sizeof(where));
		check_ciphers_in(ld, scratch, &cfg->apps[i].own, where);
	}
	for (int i = 0; i < cfg->n_ports; i++) {
		cfg_label_port(&cfg->ports[i], where, sizeof(where));
		check_ciphers_in(ld, scratch, &cfg->ports[i].own, where);
	}
	for (int i = 0; i < cfg->n_conns; i++) {
		cfg_label_conn(&cfg->conns[i], where, sizeof(where));
		check_ciphers_in(ld, scratch, &cfg->conns[i].own, where);
	}
	SSL_CTX_free(scratch);
}

static bool same_listen(const struct cfg_addr *a, const struct cfg_addr *b)
{
	const struct sockaddr_in *a4 = (const void *)&a->ss, *b4 = (const void *)&b->ss;
	const struct sockaddr_in6 *a6 = (const void *)&a->ss, *b6 = (const void *)&b->ss;

	if (a->ss.ss_family != b->ss.ss_family)
		return false;
	/* A wildcard bind takes the port on every address of its family. */
	if (a->ss.ss_family == AF_INET)
		return a4->sin_port == b4->sin_port &&
		       (a4->sin_addr.s_addr == b4->sin_addr.s_addr ||
			a4->sin_addr.s_addr == INADDR_ANY || b4->sin_addr.s_addr == INADDR_ANY);
	return a6->sin6_port == b6->sin6_port &&
	       (!memcmp(&a6->sin6_addr, &b6->sin6_addr, sizeof(a6->sin6_addr)) ||
		IN6_IS_ADDR_UNSPECIFIED(&a6->sin6_addr) || IN6_IS_ADDR_UNSPECIFIED(&b6->sin6_addr));
}

static void check_ports(struct loader *ld)
{
	struct ktlsd_config *cfg = ld->cfg;
	char where[128];

	for (int i = 0; i < cfg->n_ports; i++) {
		struct cfg_port *p = &cfg->ports[i];

		cfg_label_port(p, where, sizeof(where));
		if (!p->listen_line) {
			ld->errors++;
			cfg_report(ld->diag, cfg->path, p->line, "error", where, "listen",
				   "not set; add listen = ADDRESS:PORT (e.g. *:7001)");
		}
		if (!p->backend_line) {
			ld->errors++;
			cfg_report(ld->diag, cfg->path, p->line, "error", where, "backend",
				   "not set; add backend = ADDRESS:PORT or unix:/path of the plaintext service");
		}
		if (!p->transport_line) {
			ld->errors++;
			cfg_report(ld->diag, cfg->path, p->line, "error", where, "transport",
				   "not set; a port is made secure by tls=1: add transport = tls=1 (or tls=1;tls-mutual=1)");
		}
		for (int j = 0; j < i; j++) {
			const struct cfg_port *q = &cfg->ports[j];
			bool clash = false;

			for (int a = 0; a < p->n_listen; a++)
				for (int b = 0; b < q->n_listen; b++)
					clash |= same_listen(&p->listen[a], &q->listen[b]);
			if (clash) {
				ld->errors++;
				cfg_report(ld->diag, cfg->path, p->listen_line, "error", where, "listen",
					   "%s overlaps listen = %s of [port %s] (line %u); give each port its own address or port number",
					   p->listen_text, q->listen_text, q->name, q->listen_line);
				break;
			}
		}
	}
	for (int i = 0; i < cfg->n_conns; i++) {
		struct cfg_connection *c = &cfg->conns[i];

		if (c->server_line)
			continue;
		cfg_label_conn(c, where, sizeof(where));
		ld->errors++;
		cfg_report(ld->diag, cfg->path, c->line, "error", where, "server",
			   "not set; add server = HOST:PORT of the secure server port");
	}
}

/* ---- entry points ---------------------------------------------------------- */

static void free_security(struct cfg_security *s)
{
	for (int i = 0; i < OPT__COUNT; i++)
		free(s->opt[i].value);
}

void config_free(struct ktlsd_config *cfg)
{
	if (!cfg)
		return;
	free_security(&cfg->host);
	for (int i = 0; i < cfg->n_apps; i++) {
		free(cfg->apps[i].name);
		free(cfg->apps[i].cgroup);
		free_security(&cfg->apps[i].own);
	}
	for (int i = 0; i < cfg->n_ports; i++) {
		struct cfg_port *p = &cfg->ports[i];

		free(p->name);
		free(p->application);
		free(p->listen_text);
		free(p->backend_text);
		free_security(&p->own);
	}
	for (int i = 0; i < cfg->n_conns; i++) {
		struct cfg_connection *c = &cfg->conns[i];

		free(c->name);
		free(c->application);
		free(c->server_host);
		free(c->server_port);
		free_security(&c->own);
	}
	free(cfg->apps);
	free(cfg->ports);
	free(cfg->conns);
	free(cfg->daemon.control_socket);
	free(cfg->daemon.control_group);
	free(cfg->path);
	free(cfg);
}

int config_load(const char *path, struct ktlsd_config **out, FILE *diag)
{
	struct loader ld = { .diag = diag };
	struct ktlsd_config *cfg = calloc(1, sizeof(*cfg));
	int rc;

	*out = NULL;
	if (!cfg || !(cfg->path = strdup(path))) {
		free(cfg);
		if (diag)
			fprintf(diag, "%s: error: out of memory\n", path);
		return 1;
	}
	cfg->daemon = (struct cfg_daemon){
		.handshake_timeout_ms = 10000, .max_handshakes = 1024,
		.max_sessions = 65536, .offload = OFFLOAD_AUTO,
		.control_socket = strdup("/run/ktlsd/control"),
	};
	ld.cfg = cfg;
	ld.in = fopen(path, "r");
	if (!ld.in) {
		if (diag)
			fprintf(diag, "%s: error: cannot open: %m\n", path);
		config_free(cfg);
		return 1;
	}
	/*
	 * Debian's inih reads these at run time. A heap line buffer so that
	 * lines up to MAX_LINE fit; no multi-line values (an indented line is
	 * an option of its own); ';' and '#' start comments, also after a
	 * value when preceded by a space (so "tls=1;tls-mutual=1" is intact).
	 */
	ini_use_stack = false;
	ini_allow_realloc = false;
	ini_max_line = MAX_LINE;
	ini_initial_alloc = MAX_LINE;
	ini_allow_multiline = false;
	ini_allow_inline_comments = true;
	ini_inline_comment_prefixes = (char *)";#";
	ini_stop_on_first_error = false;
	ini_allow_no_value = false;

	rc = ini_parse_stream(read_line, &ld, on_option, &ld);
	if (rc > 0 && ld.errors == 0) {
		/* inih found a syntax error the reader did not anticipate. */
		ld.errors++;
		cfg_report(diag, cfg->path, (unsigned int)rc, "error", NULL, NULL,
			   "syntax error; expected NAME = VALUE or [section]");
	} else if (rc < 0) {
		ld.errors++;
		cfg_report(diag, cfg->path, ld.line, "error", NULL, NULL, "out of memory");
	}
	free(ld.buf);
	fclose(ld.in);

	check_ports(&ld);
	check_ciphers(&ld);
	ld.errors += policy_resolve(cfg, diag);
	if (ld.errors) {
		config_free(cfg);
		return ld.errors;
	}
	*out = cfg;
	return 0;
}
