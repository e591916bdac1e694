// SPDX-License-Identifier: GPL-2.0
/*
 * Level resolution: which of the Host, Application and Port/Connection
 * levels gives a port or connection its security settings.
 *
 * The seeds' rule is that the settings that belong together are configured
 * at one level: a port or connection that sets any security option takes
 * all of them from its own section; otherwise its application's section
 * when the application uses its own settings (certificate-source =
 * application, which is also implied when the [application] section sets
 * security options and has no certificate-source line); otherwise the host
 * level ([security]). Options are never merged across levels, so a
 * certificate at the port level and its key at the host level is an error
 * naming both places, and an ignored higher-level option is a warning.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"

/* What a port or connection needs, seen from the level resolution. */
struct subject {
	const struct ktlsd_config *cfg;
	FILE *diag;
	char where[128];
	unsigned int line;		/* its section header */
	bool server;
	const struct cfg_security *own;
	const char *app_name;
	const struct cfg_application *app;	/* NULL: no [application] */
	enum cfg_level level;		/* resolved */
	const struct cfg_security *src;	/* the resolved level's options */
	enum cfg_level fallback_level;	/* what would apply without src */
	const struct cfg_security *fallback;
	int errors;
};

static bool sets_any(const struct cfg_security *s)
{
	for (int i = 0; i < OPT__COUNT; i++)
		if (s->opt[i].value)
			return true;
	return false;
}

/* The option written first at a level, to name it in messages. */
static const struct cfg_value *first_set(const struct cfg_security *s, enum sec_option *which)
{
	const struct cfg_value *best = NULL;

	for (int i = 0; i < OPT__COUNT; i++) {
		if (s->opt[i].value && (!best || s->opt[i].line < best->line)) {
			best = &s->opt[i];
			*which = (enum sec_option)i;
		}
	}
	return best;
}

static const struct cfg_application *find_app(const struct ktlsd_config *cfg, const char *name)
{
	for (int i = 0; i < cfg->n_apps; i++)
		if (!strcmp(cfg->apps[i].name, name))
			return &cfg->apps[i];
	return NULL;
}

static bool app_uses_own(const struct cfg_application *a)
{
	if (!a)
		return false;
	if (a->certificate_source_line)
		return a->certificate_source == LEVEL_APPLICATION;
	return sets_any(&a->own);
}

/* Checks of [application] sections themselves, once each. */
static int check_apps(const struct ktlsd_config *cfg, FILE *diag)
{
	int errors = 0;
	char where[128];

	for (int i = 0; i < cfg->n_apps; i++) {
		const struct cfg_application *a = &cfg->apps[i];
		enum sec_option o = OPT_CERTIFICATE;
		const struct cfg_value *v = first_set(&a->own, &o);

		if (!a->certificate_source_line)
			continue;
		cfg_label_app_name(a->name, where, sizeof(where));
		if (a->certificate_source == LEVEL_HOST && v) {
			errors++;
			cfg_report(diag, cfg->path, v->line, "error", where, config_option_name(o),
				   "set here, but certificate-source = host (line %u) makes this application's ports and connections use [security]; set certificate-source = application or move the security options to [security]",
				   a->certificate_source_line);
		} else if (a->certificate_source == LEVEL_APPLICATION && !v) {
			errors++;
			cfg_report(diag, cfg->path, a->certificate_source_line, "error", where,
				   "certificate-source",
				   "application, but this section sets no security option; add certificate, certificate-key and trusted-ca here, or set certificate-source = host");
		}
	}
	return errors;
}

static void resolve_level(struct subject *s, enum cfg_level own_level)
{
	const struct ktlsd_config *cfg = s->cfg;

	if (app_uses_own(s->app)) {
		s->fallback_level = LEVEL_APPLICATION;
		s->fallback = &s->app->own;
	} else {
		s->fallback_level = LEVEL_HOST;
		s->fallback = &cfg->host;
	}
	if (sets_any(s->own)) {
		s->level = own_level;
		s->src = s->own;
		return;
	}
	s->level = s->fallback_level;
	s->src = s->fallback;
	s->fallback_level = s->level == LEVEL_APPLICATION ? LEVEL_HOST : LEVEL_UNSET;
	s->fallback = s->level == LEVEL_APPLICATION ? &cfg->host : NULL;
}

static void level_label(const struct subject *s, enum cfg_level level, char *buf, size_t len)
{
	if (level == LEVEL_HOST)
		snprintf(buf, len, "[security]");
	else if (level == LEVEL_APPLICATION)
		snprintf(buf, len, "[application %s]", s->app->name);
	else
		snprintf(buf, len, "this section");
}

/* Line to report a missing option at: where it should be added. */
static unsigned int fix_line(const struct subject *s)
{
	return s->level == LEVEL_APPLICATION ? s->app->line : s->line;
}

/* A required option is missing at the resolved level: explain the fix. */
static void require(struct subject *s, enum sec_option o, const char *why)
{
	const char *name = config_option_name(o);
	const struct cfg_value *up = s->fallback ? &s->fallback->opt[o] : NULL;
	const struct cfg_value *v;
	enum sec_option first = OPT_CERTIFICATE;
	char here[96], there[96];

	if (s->src && s->src->opt[o].value)
		return;
	s->errors++;
	level_label(s, s->level, here, sizeof(here));
	/* v is NULL when certificate-source = application names an empty
	 * section (reported by check_apps()). */
	if (up && up->value && (v = first_set(s->src, &first))) {
		level_label(s, s->fallback_level, there, sizeof(there));
		cfg_report(s->diag, s->cfg->path, fix_line(s), "error", s->where, name,
			   "not set at the %s level, where %s is set (line %u); settings are taken from one level only, so %s in %s (line %u) is not used: add %s to %s, or remove the %s-level settings to use %s",
			   config_level_name(s->level), config_option_name(first), v->line,
			   name, there, up->line, name, here,
			   config_level_name(s->level), there);
		return;
	}
	if (s->level == LEVEL_HOST && !sets_any(&s->cfg->host))
		cfg_report(s->diag, s->cfg->path, s->line, "error", s->where, name,
			   "not set at any level; %s: add it to this section, to [application %s] (with certificate-source = application) or to [security]",
			   why, s->app_name);
	else
		cfg_report(s->diag, s->cfg->path, s->level == LEVEL_HOST ? s->line : fix_line(s),
			   "error", s->where, name,
			   "not set at the %s level (%s), which gives this %s its settings; %s: add it there",
			   config_level_name(s->level), here, s->server ? "port" : "connection", why);
}

/* Options the resolved level lacks but a higher one sets are not used. */
static void warn_ignored(const struct subject *s)
{
	char there[96];

	if (!s->fallback)
		return;
	level_label(s, s->fallback_level, there, sizeof(there));
	for (int i = 0; i < OPT__COUNT; i++) {
		const struct cfg_value *up = &s->fallback->opt[i];

		if (!up->value || s->src->opt[i].value)
			continue;
		if (s->server && i == OPT_TLS_TARGET_NAME_CHECK)
			continue;	/* a client-only option */
		if (i == OPT_CERTIFICATE || i == OPT_CERTIFICATE_KEY ||
		    i == OPT_TRUSTED_CA)
			continue;	/* reported by require() when needed */
		cfg_report(s->diag, s->cfg->path, up->line, "warning", s->where,
			   config_option_name((enum sec_option)i),
			   "set in %s but not used here: this %s takes its settings from the %s level only; repeat it there if it should apply",
			   there, s->server ? "port" : "connection", config_level_name(s->level));
	}
}

static void fill_effective(const struct subject *s, struct cfg_security *eff,
			   struct cfg_versions *ver)
{
	const struct cfg_value *proto;

	memset(eff, 0, sizeof(*eff));
	if (s->src)
		*eff = *s->src;		/* shares the strings owned by the level */
	ver->min_version = ver->max_version = 0;
	proto = &eff->opt[OPT_SEC_PROTOCOL];
	if (proto->value && cfg_parse_sec_protocol(proto->value, ver))
		ver->min_version = ver->max_version = 0;
}

static bool is_one(const struct cfg_security *s, enum sec_option o)
{
	return s->opt[o].value && !strcmp(s->opt[o].value, "1");
}

static int resolve_port(struct ktlsd_config *cfg, struct cfg_port *p, FILE *diag)
{
	struct subject s = { .cfg = cfg, .diag = diag, .line = p->line,
			     .server = true, .own = &p->own };
	const struct cfg_value *tnc;

	cfg_label_port(p, s.where, sizeof(s.where));
	s.app_name = p->application;
	s.app = find_app(cfg, p->application);
	resolve_level(&s, LEVEL_PORT);
	fill_effective(&s, &p->effective, &p->versions);
	p->source = s.level;
	/* Mutual from the transport (the seeds' port setting) or from the
	 * level's tls-mutual=1 (the seeds' mutual TLS host sample). */
	p->mutual = p->mutual || is_one(&p->effective, OPT_TLS_MUTUAL);

	require(&s, OPT_CERTIFICATE, "a secure server port presents certificate and certificate-key");
	require(&s, OPT_CERTIFICATE_KEY, "a secure server port presents certificate and certificate-key");
	if (p->mutual)
		require(&s, OPT_TRUSTED_CA, "a mutual TLS port verifies client certificates against trusted-ca");
	else if (!p->effective.opt[OPT_TRUSTED_CA].value && s.errors == 0)
		cfg_report(diag, cfg->path, p->line, "warning", s.where, "trusted-ca",
			   "not set at the %s level; only mutual TLS ports use it, but UNIX servers are expected to have one",
			   config_level_name(s.level));
	tnc = &p->own.opt[OPT_TLS_TARGET_NAME_CHECK];
	if (tnc->value)
		cfg_report(diag, cfg->path, tnc->line, "warning", s.where, "tls-target-name-check",
			   "ignored on a server port: only clients check the peer's host name");
	warn_ignored(&s);
	return s.errors;
}

/* A connection to a server port of this configuration inherits its mode. */
static const struct cfg_port *server_port(const struct ktlsd_config *cfg,
					  const struct cfg_connection *c)
{
	const char *server = strstr(c->name, "->");
	unsigned short want;

	if (!server || !c->server_port || !cfg_parse_port_number(c->server_port, &want))
		return NULL;
	server += 2;
	for (int i = 0; i < cfg->n_ports; i++) {
		const struct cfg_port *p = &cfg->ports[i];
		const struct sockaddr_in *in = (const void *)&p->listen[0].ss;

		/* sin_port and sin6_port are at the same offset */
		if (p->n_listen && !strcmp(p->application, server) &&
		    ntohs(in->sin_port) == want)
			return p;
	}
	return NULL;
}

static int resolve_conn(struct ktlsd_config *cfg, struct cfg_connection *c, FILE *diag)
{
	struct subject s = { .cfg = cfg, .diag = diag, .line = c->line,
			     .server = false, .own = &c->own };
	const struct cfg_port *sp = server_port(cfg, c);
	const struct cfg_value *mut, *tnc;

	cfg_label_conn(c, s.where, sizeof(s.where));
	s.app_name = c->application;
	s.app = find_app(cfg, c->application);
	resolve_level(&s, LEVEL_CONNECTION);
	fill_effective(&s, &c->effective, &c->versions);
	c->source = s.level;
	mut = &c->effective.opt[OPT_TLS_MUTUAL];
	/* Mutual when asked for, when the server port is, or when the level
	 * gives a client certificate (the seeds' mutual TLS client sample). */
	c->mutual = is_one(&c->effective, OPT_TLS_MUTUAL) || (sp && sp->mutual) ||
		    (c->effective.opt[OPT_CERTIFICATE].value && !mut->value);
	tnc = &c->effective.opt[OPT_TLS_TARGET_NAME_CHECK];
	c->target_name_check = tnc->value && !strcmp(tnc->value, "host");

	require(&s, OPT_TRUSTED_CA, "a client connection verifies the server's certificate against trusted-ca");
	if (c->mutual) {
		const char *why = sp && sp->mutual && !is_one(&c->effective, OPT_TLS_MUTUAL)
			? "the server port is mutual TLS (transport tls-mutual=1), so the client presents certificate and certificate-key"
			: "a mutual TLS client presents certificate and certificate-key";

		require(&s, OPT_CERTIFICATE, why);
		require(&s, OPT_CERTIFICATE_KEY, why);
	}
	if (c->target_name_check && c->server_host && cfg_is_ip_literal(c->server_host)) {
		s.errors++;
		cfg_report(diag, cfg->path, tnc->line, "error", s.where, "tls-target-name-check",
			   "host needs a host name, but server = %s:%s (line %u) is an IP address; connect by the FQDN in the server's certificate, or set tls-target-name-check = no",
			   c->server_host, c->server_port, c->server_line);
	}
	warn_ignored(&s);
	return s.errors;
}

int policy_resolve(struct ktlsd_config *cfg, FILE *diag)
{
	int errors = check_apps(cfg, diag);

	for (int i = 0; i < cfg->n_ports; i++)
		errors += resolve_port(cfg, &cfg->ports[i], diag);
	for (int i = 0; i < cfg->n_conns; i++)
		errors += resolve_conn(cfg, &cfg->conns[i], diag);
	return errors;
}

/* ---- --explain -------------------------------------------------------- */

static void explain_security(const struct ktlsd_config *cfg, const struct cfg_security *eff,
			     bool server, FILE *out)
{
	for (int i = 0; i < OPT__COUNT; i++) {
		const struct cfg_value *v = &eff->opt[i];

		if (server && i == OPT_TLS_TARGET_NAME_CHECK)
			continue;
		if (v->value)
			fprintf(out, "  %s = %s (%s level, %s:%u)\n",
				config_option_name((enum sec_option)i), v->value,
				config_level_name(v->level), cfg->path, v->line);
		else if (i == OPT_CIPHER_LIST)
			fprintf(out, "  cipher-list = (not set: TLS 1.2 offers ECDHE with "
				"AES-GCM or ChaCha20-Poly1305 only, see ciphers below)\n");
		else
			fprintf(out, "  %s = (not set)\n", config_option_name((enum sec_option)i));
	}
}

static void explain_source(const struct ktlsd_config *cfg, enum cfg_level level,
			   const char *app, FILE *out)
{
	const struct cfg_application *a = find_app(cfg, app);

	if (level == LEVEL_APPLICATION)
		fprintf(out, "  settings from: application level ([application %s], certificate-source = %s)\n",
			app, a && a->certificate_source_line ? "application" : "application, implied");
	else if (level == LEVEL_HOST)
		fprintf(out, "  settings from: host level ([security]%s)\n",
			a ? ", certificate-source = host" : ", no [application] section");
	else
		fprintf(out, "  settings from: %s level (its own section)\n", config_level_name(level));
}

static void explain_versions(const struct cfg_versions *v, FILE *out)
{
	if (!v->min_version)
		fprintf(out, "  protocol: TLS 1.2 or 1.3, the highest both sides support\n");
	else
		fprintf(out, "  protocol: TLS 1.%d only\n", v->min_version == TLS1_3_VERSION ? 3 : 2);
}

/* ONLY names a port by its name or by the number of a port it listens on
 * (what an operator sees in ss(8) or a client's error). */
static bool explain_port_matches(const struct cfg_port *p, const char *only)
{
	char *end;
	unsigned long num;

	if (!only || !strcmp(only, p->name))
		return true;
	errno = 0;
	num = strtoul(only, &end, 10);
	if (!*only || *end || errno || num == 0 || num > 65535)
		return false;
	for (int j = 0; j < p->n_listen; j++) {
		const struct sockaddr_storage *ss = &p->listen[j].ss;

		if ((ss->ss_family == AF_INET &&
		     ntohs(((const struct sockaddr_in *)ss)->sin_port) == num) ||
		    (ss->ss_family == AF_INET6 &&
		     ntohs(((const struct sockaddr_in6 *)ss)->sin6_port) == num))
			return true;
	}
	return false;
}

/* A connection by its name or the server port it connects to. */
static bool explain_conn_matches(const struct cfg_connection *c, const char *only)
{
	return !only || !strcmp(only, c->name) ||
	       (c->server_port && only[0] >= '0' && only[0] <= '9' &&
		!strcmp(only, c->server_port));
}

int policy_explain(const struct ktlsd_config *cfg, const char *only, FILE *out)
{
	int shown = 0;

	for (int i = 0; i < cfg->n_ports; i++) {
		const struct cfg_port *p = &cfg->ports[i];

		if (!explain_port_matches(p, only))
			continue;
		fprintf(out, "%s[port %s] (%s:%u)\n", shown++ ? "\n" : "", p->name, cfg->path, p->line);
		fprintf(out, "  listen = %s\n  backend = %s\n", p->listen_text ? p->listen_text : "(not set)",
			p->backend_text ? p->backend_text : "(not set)");
		fprintf(out, "  mode: %s\n", p->mutual ? "mutual TLS (clients present a certificate)"
						      : "simple TLS (only the server presents a certificate)");
		explain_versions(&p->versions, out);
		explain_source(cfg, p->source, p->application, out);
		explain_security(cfg, &p->effective, true, out);
		creds_explain_ciphers(&p->effective, &p->versions, true, out);
	}
	for (int i = 0; i < cfg->n_conns; i++) {
		const struct cfg_connection *c = &cfg->conns[i];

		if (!explain_conn_matches(c, only))
			continue;
		fprintf(out, "%s[connection %s] (%s:%u)\n", shown++ ? "\n" : "", c->name, cfg->path, c->line);
		fprintf(out, "  server = %s:%s\n", c->server_host ? c->server_host : "?",
			c->server_port ? c->server_port : "?");
		fprintf(out, "  mode: %s\n", c->mutual ? "mutual TLS (this client presents a certificate)"
						      : "simple TLS (only the server presents a certificate)");
		fprintf(out, "  server name check: %s\n", c->target_name_check
			? "host (the certificate must name the server host)" : "no");
		explain_versions(&c->versions, out);
		explain_source(cfg, c->source, c->application, out);
		explain_security(cfg, &c->effective, false, out);
		creds_explain_ciphers(&c->effective, &c->versions, false, out);
	}
	if (only && !shown) {
		fprintf(out, "no port or connection named \"%s\"\n", only);
		return -1;
	}
	return 0;
}
