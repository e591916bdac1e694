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

void cfg_error_at(struct loader *ld, unsigned int line, const char *opt,
		  const char *fmt, ...)
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
		cfg_error(ld, NULL, "section already defined at line %u; merge the two sections",
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
		cfg_error(ld, NULL, "a port section is named APPLICATION:PORT-NAME, e.g. [port StatServer:secure]");
		return false;
	}
	for (int i = 0; i < ld->cfg->n_ports; i++) {
		if (!strcmp(ld->cfg->ports[i].name, name)) {
			cfg_error(ld, NULL, "section already defined at line %u; merge the two sections",
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
		cfg_error(ld, NULL, "a connection section is named CLIENT-APPLICATION->SERVER, e.g. [connection Router->StatServer]");
		return false;
	}
	for (int i = 0; i < ld->cfg->n_conns; i++) {
		if (!strcmp(ld->cfg->conns[i].name, name)) {
			cfg_error(ld, NULL, "section already defined at line %u; merge the two sections",
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
		cfg_error(ld, NULL, "section already defined at line %u; merge the two sections", *seen);
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
		cfg_error(ld, NULL, "section name longer than %d characters", INI_SECTION_MAX);
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
			cfg_error(ld, NULL, "[%s] takes no name; write [%s]", sect, sect);
			ld->kind = SEC_BAD;
			return;
		}
		ok = section_once(ld, daemon ? &ld->daemon_line : &ld->host_line);
	} else if (!strcmp(sect, "application") || !strcmp(sect, "port") ||
		   !strcmp(sect, "connection")) {
		ld->kind = sect[0] == 'a' ? SEC_APP : sect[0] == 'p' ? SEC_PORT : SEC_CONN;
		if (!*name) {
			cfg_error(ld, NULL, "this section needs a name, e.g. [%s %s]", sect,
			      ld->kind == SEC_APP ? "StatServer" :
			      ld->kind == SEC_PORT ? "StatServer:secure" : "Router->StatServer");
			ld->kind = SEC_BAD;
			return;
		}
		if (ld->kind == SEC_APP && !valid_name(name, strlen(name)))
			cfg_error(ld, NULL, "application names have no spaces, brackets, ':', ';', '#' or '='");
		else if (ld->kind == SEC_APP)
			ok = section_app(ld, name);
		else
			ok = ld->kind == SEC_PORT ? section_port(ld, name) : section_conn(ld, name);
	} else {
		const char *hint = cfg_closest(sect, section_kinds,
					       sizeof(section_kinds) / sizeof(section_kinds[0]));

		ld->kind = SEC_NONE;
		if (hint)
			cfg_error(ld, NULL, "unknown section [%s]; did you mean [%s%s%s]?", ld->where,
			      hint, *name ? " " : "", name);
		else
			cfg_error(ld, NULL, "unknown section [%s]; sections are [ktlsd], [security], [application NAME], [port APP:NAME] and [connection APP->SERVER]",
			      ld->where);
	}
	if (!ok)
		ld->kind = SEC_BAD;
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
		cfg_error(ld, NULL, "NUL byte in the line; the file must be text");
		snprintf(str, (size_t)num, "\n");
		return str;
	}
	if (n >= num - 1) {
		cfg_error(ld, NULL, "line longer than %d characters", num - 2);
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
			cfg_error(ld, NULL, "section header without ']'");
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

static bool is_wildcard(const struct cfg_addr *a)
{
	if (a->ss.ss_family == AF_INET)
		return ((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr == INADDR_ANY;
	if (a->ss.ss_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)&a->ss)->sin6_addr);
	return false;
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
		if (p->steer && p->backend_line && is_wildcard(&p->backend)) {
			/* A wildcard names no service: the kernel would pick a
			 * local address, maybe one that is itself taken over. */
			ld->errors++;
			cfg_report(ld->diag, cfg->path, p->backend_line, "error", where, "backend",
				   "%s is a wildcard address; a steered port needs the service's own address, e.g. 127.0.0.1:PORT",
				   p->backend_text);
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

struct diag_line {
	char *text;
	unsigned long line;
	size_t order;
};

static int by_line(const void *a, const void *b)
{
	const struct diag_line *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/*
 * Checks run in passes (syntax, then ports, ciphers, levels), so their
 * messages are collected and written in file order: one pass over the
 * output reads like one pass over the file.
 */
static void write_sorted(const char *path, char *text, FILE *diag)
{
	struct diag_line *lines = NULL;
	size_t n = 0, cap = 0, plen = strlen(path);

	for (char *save = NULL, *l = strtok_r(text, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save)) {
		if (n == cap) {
			struct diag_line *more = realloc(lines, (cap = cap * 2 + 16) * sizeof(*lines));

			if (!more)
				break;
			lines = more;
		}
		lines[n].text = l;
		lines[n].order = n;
		lines[n].line = !strncmp(l, path, plen) && l[plen] == ':'
			? strtoul(l + plen + 1, NULL, 10) : 0;
		n++;
	}
	if (lines)
		qsort(lines, n, sizeof(*lines), by_line);
	for (size_t i = 0; i < n; i++)
		fprintf(diag, "%s\n", lines[i].text);
	free(lines);
}

static int load(const char *path, struct ktlsd_config **out, FILE *diag);

int config_load(const char *path, struct ktlsd_config **out, FILE *diag)
{
	char *text = NULL;
	size_t len = 0;
	FILE *mem = diag ? open_memstream(&text, &len) : NULL;
	int errors = load(path, out, mem ? mem : diag);

	if (mem) {
		fclose(mem);
		write_sorted(path, text, diag);
		free(text);
	}
	return errors;
}

static int load(const char *path, struct ktlsd_config **out, FILE *diag)
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
		.hello_timeout_ms = 5000, .max_handshakes_per_source = 256,
		.max_sessions = 65536, .offload = OFFLOAD_AUTO, .access_log = true,
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
	 * an option of its own); ';' and '#' start comment lines, and '#'
	 * after a space also ends a value. ';' does not, since transport
	 * values are ';' separated ("tls=1 ; tls-mutual=1" must stay whole).
	 */
	ini_use_stack = false;
	ini_allow_realloc = false;
	ini_max_line = MAX_LINE;
	ini_initial_alloc = MAX_LINE;
	ini_allow_multiline = false;
	ini_allow_inline_comments = true;
	ini_inline_comment_prefixes = (char *)"#";
	ini_stop_on_first_error = false;
	ini_allow_no_value = false;

	rc = ini_parse_stream(read_line, &ld, cfg_on_option, &ld);
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
