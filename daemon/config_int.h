/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Private to the configuration files: config.c (INI reading, sections),
 * config_value.c (one parser per kind of value) and policy.c (levels).
 */
#ifndef KTLSD_CONFIG_INT_H
#define KTLSD_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <openssl/ssl.h>

#include "config.h"

/* config.c: the state of one config_load() */
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

void cfg_error_at(struct loader *ld, unsigned int line, const char *opt,
		  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
#define cfg_error(ld, opt, ...) cfg_error_at(ld, (ld)->line, opt, __VA_ARGS__)

/* config_option.c: inih's handler for every NAME = VALUE line */
int cfg_on_option(void *user, const char *section, const char *name, const char *value);

/* config.c */
/*
 * One diagnostic line: "FILE:LINE: SEVERITY: [WHERE] OPTION: message".
 * WHERE is a section as written ("port App:p") or NULL; OPTION may be NULL.
 */
void cfg_report(FILE *diag, const char *file, unsigned int line,
		const char *severity, const char *where, const char *option,
		const char *fmt, ...) __attribute__((format(printf, 7, 8)));

/* config_value.c */
/* The closest of CANDS to WORD when it is a plausible typo, else NULL. */
const char *cfg_closest(const char *word, const char *const *cands, size_t n);
/* Integer in [min, max]; false on junk or out of range. */
bool cfg_parse_long(const char *text, long min, long max, long *out);
bool cfg_parse_port_number(const char *text, unsigned short *out);
/* listen = ADDR:PORT | [V6]:PORT | *:PORT | PORT. NULL or why it failed. */
const char *cfg_parse_listen(const char *text, struct cfg_addr *out, int *n);
/* backend = ADDR:PORT | [V6]:PORT | unix:/path. */
const char *cfg_parse_backend(const char *text, struct cfg_addr *out);
/* server = HOST:PORT | [V6]:PORT; HOST and PORT are malloc'd. */
const char *cfg_split_server(const char *text, char **host, char **port);
bool cfg_is_ip_literal(const char *host);
/* sec-protocol; NULL or why it failed (lists what is accepted). */
const char *cfg_parse_sec_protocol(const char *text, struct cfg_versions *v);
/* A path option value: one absolute path (or a comma separated list when
 * LIST). NULL or why it failed. */
const char *cfg_check_paths(const char *text, bool list);
/*
 * cipher-list checked with OpenSSL on SCRATCH. Returns true when usable;
 * otherwise WHY holds the reason and the fix.
 */
bool cfg_check_cipher_list(SSL_CTX *scratch, const char *text,
			   bool allow_anonymous, char *why, size_t why_len);

/* Labels for messages: "security", "application NAME", "port NAME"... */
void cfg_label_port(const struct cfg_port *p, char *buf, size_t len);
void cfg_label_conn(const struct cfg_connection *c, char *buf, size_t len);
void cfg_label_app_name(const char *app, char *buf, size_t len);

#endif
