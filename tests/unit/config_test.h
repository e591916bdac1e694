/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared by the configuration unit tests: write a configuration text to a
 * temporary file, load it with config_load() into a memory stream, and find
 * diagnostics by "FILE:LINE: SEVERITY: " prefix and substring.
 */
#ifndef KTLSD_TEST_CONFIG_H
#define KTLSD_TEST_CONFIG_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

struct loaded {
	char path[64];
	int errors;
	char *diag;		/* everything config_load() wrote */
	size_t diag_len;
	struct ktlsd_config *cfg;
};

/* Returns config_load()'s result, or -1000 if the file cannot be written. */
static inline int load_text(struct loaded *l, const char *text)
{
	FILE *diag;
	int fd;

	memset(l, 0, sizeof(*l));
	strcpy(l->path, "/tmp/ktlsd-test-XXXXXX.conf");
	fd = mkstemps(l->path, 5);
	if (fd < 0)
		return -1000;
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		close(fd);
		return -1000;
	}
	close(fd);
	diag = open_memstream(&l->diag, &l->diag_len);
	if (!diag)
		return -1000;
	l->errors = config_load(l->path, &l->cfg, diag);
	fclose(diag);
	unlink(l->path);
	return l->errors;
}

static inline void loaded_free(struct loaded *l)
{
	config_free(l->cfg);
	free(l->diag);
	l->cfg = NULL;
	l->diag = NULL;
}

/* True when a line "PATH:LINE: SEVERITY: ..." of the output contains NEEDLE. */
static inline bool has_diag(const struct loaded *l, unsigned int line,
			    const char *severity, const char *needle)
{
	char prefix[128];
	const char *p = l->diag;

	snprintf(prefix, sizeof(prefix), "%s:%u: %s: ", l->path, line, severity);
	while (p && *p) {
		const char *end = strchr(p, '\n');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (!strncmp(p, prefix, strlen(prefix)) &&
		    memmem(p, len, needle, strlen(needle)))
			return true;
		p = end ? end + 1 : NULL;
	}
	return false;
}

static inline int count_lines(const char *text, const char *needle)
{
	int n = 0;

	for (const char *p = text; p && (p = strstr(p, needle)); p++)
		n++;
	return n;
}

#endif
