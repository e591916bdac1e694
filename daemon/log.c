// SPDX-License-Identifier: GPL-2.0
/* Logging to stderr or the journal; see log.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <openssl/err.h>

#include "log.h"

int log_max_level = LOG_LVL_INFO;
int log_to_journal;

/*
 * systemd sets JOURNAL_STREAM=DEV:INO for a service whose stderr is a
 * journald stream. Children inherit the variable even when their stderr
 * goes elsewhere (a shell redirect, a test's log file), so it counts only
 * when it names the descriptor stderr really is, as systemd documents.
 */
static int stderr_is_journal(void)
{
	const char *v = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!v || sscanf(v, "%llu:%llu", &dev, &ino) != 2 ||
	    fstat(STDERR_FILENO, &st) < 0)
		return 0;
	return (unsigned long long)st.st_dev == dev &&
	       (unsigned long long)st.st_ino == ino;
}

void log_init(void)
{
	log_to_journal = stderr_is_journal();
}

static const char *level_word(enum log_level lvl)
{
	switch (lvl) {
	case LOG_LVL_ERR:	return "error";
	case LOG_LVL_WARN:	return "warning";
	case LOG_LVL_NOTICE:	return "notice";
	case LOG_LVL_INFO:	return "info";
	case LOG_LVL_DEBUG:	return "debug";
	}
	return "log";
}

static void log_vmsg(enum log_level lvl, const char *suffix, const char *fmt,
		     va_list ap)
{
	char line[1024];

	if ((int)lvl > log_max_level)
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	/* One fprintf per line keeps lines from different threads whole. */
	if (log_to_journal)
		fprintf(stderr, "<%d>%s%s\n", lvl, line, suffix ? suffix : "");
	else
		fprintf(stderr, "ktlsd: %s: %s%s\n", level_word(lvl), line,
			suffix ? suffix : "");
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(lvl, NULL, fmt, ap);
	va_end(ap);
}

void log_ssl(enum log_level lvl, const char *fmt, ...)
{
	char errs[512] = "";
	size_t used = 0;
	unsigned long e;
	va_list ap;

	while ((e = ERR_get_error()) != 0 && used + 4 < sizeof(errs)) {
		char one[256];

		ERR_error_string_n(e, one, sizeof(one));
		used += snprintf(errs + used, sizeof(errs) - used, "%s%s",
				 used ? "; " : ": ", one);
	}
	ERR_clear_error();
	va_start(ap, fmt);
	log_vmsg(lvl, errs, fmt, ap);
	va_end(ap);
}
