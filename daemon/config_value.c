// SPDX-License-Identifier: GPL-2.0
/*
 * Parsers for the values of configuration options: numbers, addresses,
 * paths, sec-protocol and cipher-list. Each returns NULL (or true) when the
 * value is good, otherwise a sentence saying what is wrong and how to fix it,
 * which config.c prefixes with file:line, section and option.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <openssl/err.h>

#include "config_int.h"

/* Edit distance, bounded to short names (option and section names). */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), prev[64], cur[64];

	if (la >= 63 || lb >= 63)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t sub = prev[j - 1] +
				(tolower((unsigned char)a[i - 1]) !=
				 tolower((unsigned char)b[j - 1]));
			size_t del = prev[j] + 1, ins = cur[j - 1] + 1;

			cur[j] = sub < del ? (sub < ins ? sub : ins)
					   : (del < ins ? del : ins);
		}
		memcpy(prev, cur, (lb + 1) * sizeof(prev[0]));
	}
	return prev[lb];
}

const char *cfg_closest(const char *word, const char *const *cands, size_t n)
{
	const char *best = NULL;
	size_t best_d = SIZE_MAX;

	for (size_t i = 0; i < n; i++) {
		size_t d = edit_distance(word, cands[i]);

		if (d < best_d) {
			best_d = d;
			best = cands[i];
		}
	}
	/* Case differences cost nothing above; allow two real typos. */
	return best_d <= 2 ? best : NULL;
}

bool cfg_parse_long(const char *text, long min, long max, long *out)
{
	char *end;
	long v;

	if (!isdigit((unsigned char)text[0]) && text[0] != '-')
		return false;
	errno = 0;
	v = strtol(text, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

bool cfg_parse_port_number(const char *text, unsigned short *out)
{
	long v;

	if (!isdigit((unsigned char)text[0]) || !cfg_parse_long(text, 1, 65535, &v))
		return false;
	*out = (unsigned short)v;
	return true;
}

/*
 * Split "HOST:PORT" or "[V6]:PORT" at the last colon. HOST_OUT gets the host
 * without brackets (may be empty); PORT_OUT points into BUF.
 */
static const char *split_host_port(const char *text, char *buf, size_t len,
				   char **host_out, char **port_out)
{
	char *colon;

	if (strlen(text) >= len)
		return "too long";
	strcpy(buf, text);
	if (buf[0] == '[') {
		char *close = strchr(buf, ']');

		if (!close || close[1] != ':')
			return "expected [IPv6-ADDRESS]:PORT";
		*close = '\0';
		*host_out = buf + 1;
		*port_out = close + 2;
		return NULL;
	}
	colon = strrchr(buf, ':');
	if (!colon)
		return "expected ADDRESS:PORT";
	if (memchr(buf, ':', (size_t)(colon - buf)))
		return "an IPv6 address must be written in brackets: [ADDRESS]:PORT";
	*colon = '\0';
	*host_out = buf;
	*port_out = colon + 1;
	return NULL;
}

static bool fill_ip(const char *host, unsigned short port, struct cfg_addr *a)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)&a->ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a->ss;

	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(port);
		a->len = sizeof(*in4);
		return true;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		a->len = sizeof(*in6);
		return true;
	}
	return false;
}

const char *cfg_parse_listen(const char *text, struct cfg_addr *out, int *n)
{
	char buf[128], *host, *port;
	unsigned short num;
	const char *why;

	*n = 0;
	if (!strchr(text, ':') && !strchr(text, '[')) {
		/* "7001" alone means every address, IPv4 and IPv6. */
		host = (char *)"*";
		port = (char *)text;
	} else if ((why = split_host_port(text, buf, sizeof(buf), &host, &port))) {
		return why;
	}
	if (!cfg_parse_port_number(port, &num))
		return "the port must be a number from 1 to 65535";
	if (!strcmp(host, "*")) {
		fill_ip("0.0.0.0", num, &out[0]);
		fill_ip("::", num, &out[1]);
		*n = 2;
		return NULL;
	}
	if (!fill_ip(host, num, &out[0]))
		return "not an IP address: write 0.0.0.0:PORT, [::]:PORT, *:PORT (both) or an address of this host";
	*n = 1;
	return NULL;
}

const char *cfg_parse_backend(const char *text, struct cfg_addr *out)
{
	char buf[128], *host, *port;
	unsigned short num;
	const char *why;

	memset(out, 0, sizeof(*out));
	if (!strncmp(text, "unix:", 5)) {
		struct sockaddr_un *un = (struct sockaddr_un *)&out->ss;
		const char *path = text + 5;

		if (path[0] != '/')
			return "a UNIX socket path must be absolute: unix:/run/app.sock";
		if (strlen(path) >= sizeof(un->sun_path))
			return "the UNIX socket path is longer than 107 bytes";
		un->sun_family = AF_UNIX;
		strcpy(un->sun_path, path);
		out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
				       strlen(path) + 1);
		return NULL;
	}
	why = split_host_port(text, buf, sizeof(buf), &host, &port);
	if (why)
		return why;
	if (!cfg_parse_port_number(port, &num))
		return "the port must be a number from 1 to 65535";
	if (!fill_ip(host, num, out))
		return "not an IP address: write 127.0.0.1:PORT, [::1]:PORT or unix:/path";
	return NULL;
}

static bool valid_host_name(const char *h)
{
	size_t label = 0;

	if (!*h || strlen(h) > 253)
		return false;
	for (; *h; h++) {
		if (*h == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (isalnum((unsigned char)*h) || *h == '-' || *h == '_') {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return true;
}

const char *cfg_split_server(const char *text, char **host, char **port)
{
	char buf[300], *h, *p;
	unsigned short num;
	const char *why = split_host_port(text, buf, sizeof(buf), &h, &p);

	*host = *port = NULL;
	if (why)
		return why;
	if (!cfg_parse_port_number(p, &num))
		return "the port must be a number from 1 to 65535";
	if (!cfg_is_ip_literal(h) && !valid_host_name(h))
		return "not a host name or IP address";
	*host = strdup(h);
	*port = strdup(p);
	if (!*host || !*port) {
		free(*host);
		free(*port);
		*host = *port = NULL;
		return "out of memory";
	}
	return NULL;
}

bool cfg_is_ip_literal(const char *host)
{
	struct in6_addr a;

	return inet_pton(AF_INET, host, &a) == 1 || inet_pton(AF_INET6, host, &a) == 1;
}

/*
 * The seeds write versions as TLSv12; the dotted OpenSSL spelling is accepted
 * too. Versions below TLS 1.2 are refused: ktlsd's kernel offload exists
 * for TLS 1.2 and 1.3 only, and older versions are broken.
 */
static const struct {
	const char *name;
	int version;	/* 0 = default: the highest both sides support */
} sec_protocols[] = {
	{ "default", 0 },
	{ "TLSv12", TLS1_2_VERSION }, { "TLSv1.2", TLS1_2_VERSION },
	{ "TLSv13", TLS1_3_VERSION }, { "TLSv1.3", TLS1_3_VERSION },
};

const char *cfg_parse_sec_protocol(const char *text, struct cfg_versions *v)
{
	for (size_t i = 0; i < sizeof(sec_protocols) / sizeof(sec_protocols[0]); i++) {
		if (!strcmp(text, sec_protocols[i].name)) {
			v->min_version = v->max_version = sec_protocols[i].version;
			return NULL;
		}
	}
	return "unsupported protocol version; accepted values are default (the highest version both sides support, TLS 1.2 or 1.3), TLSv12 (or TLSv1.2) and TLSv13 (or TLSv1.3)";
}

const char *cfg_check_paths(const char *text, bool list)
{
	const char *p = text;

	if (!list && strchr(text, ','))
		return "only certificate takes a comma separated list; give one file";
	while (*p) {
		size_t n = strcspn(p, ",");

		while (n && isspace((unsigned char)*p)) {
			p++;
			n--;
		}
		if (!n)
			return "empty file name in the list; separate files with single commas";
		if (*p != '/')
			return "file names must be absolute paths (starting with /)";
		p += n;
		if (*p == ',')
			p++;
	}
	return NULL;
}

/*
 * Check one cipher-list token on its own, so that a typo next to valid
 * names is found: OpenSSL accepts a list as soon as one entry matches.
 */
static bool token_matches(SSL_CTX *scratch, const char *tok, bool tls13)
{
	const char *name = tok;
	int ok;

	if (!tls13 && strchr("!-+", name[0]))
		name++;
	if (!tls13 && name[0] == '@')
		return !strcmp(name, "@STRENGTH") || !strncmp(name, "@SECLEVEL=", 10);
	if (!*name)
		return false;
	ok = tls13 ? SSL_CTX_set_ciphersuites(scratch, name)
		   : SSL_CTX_set_cipher_list(scratch, name);
	ERR_clear_error();
	return ok == 1;
}

/* Ciphers the list finally selects that authenticate nobody or encrypt
 * nothing; the name of the first one goes to FOUND. */
static void weak_ciphers(SSL_CTX *scratch, const char **anon, const char **null_enc)
{
	STACK_OF(SSL_CIPHER) *sk = SSL_CTX_get_ciphers(scratch);

	*anon = *null_enc = NULL;
	for (int i = 0; sk && i < sk_SSL_CIPHER_num(sk); i++) {
		const SSL_CIPHER *c = sk_SSL_CIPHER_value(sk, i);

		if (!*anon && SSL_CIPHER_get_auth_nid(c) == NID_auth_null)
			*anon = SSL_CIPHER_get_name(c);
		if (!*null_enc && SSL_CIPHER_get_cipher_nid(c) == NID_undef)
			*null_enc = SSL_CIPHER_get_name(c);
	}
}

bool cfg_check_cipher_list(SSL_CTX *scratch, const char *text,
			   bool allow_anonymous, char *why, size_t why_len)
{
	char v12[1024] = "", v13[1024] = "", *copy, *tok, *save = NULL;
	const char *anon, *null_enc;
	bool ok = true;

	if (strlen(text) >= sizeof(v12)) {
		snprintf(why, why_len, "longer than %zu characters", sizeof(v12) - 1);
		return false;
	}
	copy = strdup(text);
	if (!copy) {
		snprintf(why, why_len, "out of memory");
		return false;
	}
	/* Same split as creds.c: TLS_* names are TLS 1.3 suites. */
	for (tok = strtok_r(copy, ": ,", &save); tok && ok;
	     tok = strtok_r(NULL, ": ,", &save)) {
		bool tls13 = !strncmp(tok, "TLS_", 4);
		char *dst = tls13 ? v13 : v12;
		size_t len = strlen(dst);

		if (!token_matches(scratch, tok, tls13)) {
			snprintf(why, why_len, "\"%s\" is not a known %s; see 'openssl ciphers -v' (TLS 1.2 names and classes such as ECDHE+AESGCM) and 'openssl ciphers -s -tls1_3' (TLS_* suites)",
				 tok, tls13 ? "TLS 1.3 cipher suite" : "cipher or cipher class");
			ok = false;
		}
		snprintf(dst + len, sizeof(v12) - len, "%s%s", len ? ":" : "", tok);
	}
	free(copy);
	if (!ok)
		return false;
	if (!v12[0] && !v13[0]) {
		snprintf(why, why_len, "no cipher named; give an OpenSSL cipher string or remove the option");
		return false;
	}
	if (v12[0] && SSL_CTX_set_cipher_list(scratch, v12) != 1) {
		ERR_clear_error();
		snprintf(why, why_len, "selects no TLS 1.2 cipher; check it with 'openssl ciphers -v \"%s\"'", v12);
		return false;
	}
	if (!v12[0])
		return true;	/* TLS 1.3 suites always authenticate and encrypt */
	weak_ciphers(scratch, &anon, &null_enc);
	if (anon && !allow_anonymous) {
		snprintf(why, why_len, "selects the anonymous cipher %s (no certificate, encryption only: debugging use); add :!aNULL, or set allow-anonymous = yes in [ktlsd]", anon);
		return false;
	}
	if (null_enc) {
		snprintf(why, why_len, "selects %s, which does not encrypt; add :!eNULL", null_enc);
		return false;
	}
	return true;
}

void cfg_label_port(const struct cfg_port *p, char *buf, size_t len)
{
	snprintf(buf, len, "port %s", p->name);
}

void cfg_label_conn(const struct cfg_connection *c, char *buf, size_t len)
{
	snprintf(buf, len, "connection %s", c->name);
}

void cfg_label_app_name(const char *app, char *buf, size_t len)
{
	snprintf(buf, len, "application %s", app);
}
