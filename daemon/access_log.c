// SPDX-License-Identifier: GPL-2.0
/*
 * The access log (see access_log.h for the format): what a session was and
 * how it ended, written once, when session_close() frees it; and the log
 * line that says how it ended. Called on the
 * worker thread that owns the session, so the record's strings are read
 * without the worker's lock (only that thread writes them).
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <systemd/sd-journal.h>

#include "access_log.h"
#include "log.h"

static const char *const end_words[] = {
	[END_NONE] = "unknown",
	[END_CLOSE] = "close",
	[END_RESET] = "reset",
	[END_TIMEOUT] = "timeout",
	[END_IDLE] = "idle",
	[END_HANDSHAKE] = "handshake-failed",
	[END_CONNECT] = "connect-failed",
	[END_KEYUPDATE] = "keyupdate",
	[END_DRAIN] = "drain",
	[END_ERROR] = "error",
	[END_EVICTED] = "evicted",
	[END_HELLO_TIMEOUT] = "hello-timeout",
	[END_REFUSED] = "refused",
};

const char *access_log_end_word(enum session_end end)
{
	if ((unsigned int)end >= sizeof(end_words) / sizeof(end_words[0]))
		return "unknown";
	return end_words[end];
}

static bool bare(const char *v)
{
	if (!*v)
		return false;
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if (*p <= ' ' || *p >= 0x7f || *p == '"' || *p == '\\' || *p == '=')
			return false;
	return true;
}

/* Append to BUF at *USED, never past LEN - 1; always NUL-terminated. */
static void put(char *buf, size_t len, size_t *used, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void put(char *buf, size_t len, size_t *used, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*used + 1 >= len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *used, len - *used, fmt, ap);
	va_end(ap);
	if (n > 0)
		*used += (size_t)n < len - *used ? (size_t)n : len - *used - 1;
}

static void put_value(char *buf, size_t len, size_t *used, const char *key,
		      const char *v)
{
	if (!v)
		v = "";
	if (bare(v)) {
		put(buf, len, used, "%s%s=%s", *used ? " " : "", key, v);
		return;
	}
	put(buf, len, used, "%s%s=\"", *used ? " " : "", key);
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		/* Leave room for the closing quote: a cut entry stays quoted. */
		size_t room = len - 1 - *used;

		if (room < 6)
			break;
		if (*p == '"' || *p == '\\')
			put(buf, len, used, "\\%c", *p);
		else if (*p == '\n')
			put(buf, len, used, "\\n");
		else if (*p == '\r')
			put(buf, len, used, "\\r");
		else if (*p == '\t')
			put(buf, len, used, "\\t");
		else if (*p < ' ' || *p >= 0x7f)
			put(buf, len, used, "\\x%02x", *p);
		else
			put(buf, len, used, "%c", *p);
	}
	put(buf, len, used, "\"");
}

size_t access_log_format(const struct access_entry *e, char *buf, size_t len)
{
	size_t used = 0;

	if (!len)
		return 0;
	buf[0] = '\0';
	put_value(buf, len, &used, "peer", e->peer);
	put_value(buf, len, &used, "local", e->local);
	put_value(buf, len, &used, "port", e->port);
	put_value(buf, len, &used, "app", e->application);
	put_value(buf, len, &used, "sni", e->sni);
	put_value(buf, len, &used, "version", e->version);
	put_value(buf, len, &used, "cipher", e->cipher);
	put_value(buf, len, &used, "mode", e->mode);
	put_value(buf, len, &used, "mode_why", e->mode_why);
	put_value(buf, len, &used, "subject", e->subject);
	put(buf, len, &used, " bytes_in=%llu bytes_out=%llu duration_ms=%llu",
	    e->bytes_in, e->bytes_out, e->duration_ms);
	put_value(buf, len, &used, "end", e->end);
	put_value(buf, len, &used, "reason", e->reason);
	return used;
}

/*
 * A journal record with one field per item: journald takes values with
 * newlines or any byte (sd_journal_sendv switches to its binary-safe form),
 * so only MESSAGE, which people read, carries the escaped line.
 */
static int journal_write(const struct access_entry *e, const char *line)
{
	return sd_journal_send("MESSAGE=access: %s", line,
			       "PRIORITY=%d", LOG_LVL_INFO,
			       "SYSLOG_IDENTIFIER=ktlsd",
			       "KTLSD_PEER=%s", e->peer,
			       "KTLSD_LOCAL=%s", e->local,
			       "KTLSD_PORT=%s", e->port,
			       "KTLSD_APPLICATION=%s", e->application,
			       "KTLSD_SNI=%s", e->sni,
			       "KTLSD_VERSION=%s", e->version,
			       "KTLSD_CIPHER=%s", e->cipher,
			       "KTLSD_MODE=%s", e->mode,
			       "KTLSD_MODE_WHY=%s", e->mode_why,
			       "KTLSD_PEER_SUBJECT=%s", e->subject,
			       "KTLSD_BYTES_IN=%llu", e->bytes_in,
			       "KTLSD_BYTES_OUT=%llu", e->bytes_out,
			       "KTLSD_DURATION_MS=%llu", e->duration_ms,
			       "KTLSD_END=%s", e->end,
			       "KTLSD_END_REASON=%s", e->reason,
			       NULL);
}

static const char *mode_word(enum session_mode mode)
{
	return mode == MODE_KTLS ? "ktls" : mode == MODE_USERSPACE ? "userspace" : "none";
}

void access_log_session(const struct session *s)
{
	const struct session_record *r = &s->rec;
	char local[64] = "", line[2048];
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct timespec now;
	struct access_entry e;

	if (!s->gen->cfg->daemon.access_log)
		return;
	/* Still there after a reset: the socket keeps its bound address. */
	if (s->cfd >= 0 && getsockname(s->cfd, (struct sockaddr *)&ss, &sl) == 0)
		sockaddr_text((struct sockaddr *)&ss, local, sizeof(local));
	clock_gettime(CLOCK_MONOTONIC, &now);
	e = (struct access_entry){
		.peer = r->peer, .local = local, .port = r->port,
		.application = r->application, .sni = r->sni,
		.version = r->version, .cipher = r->cipher,
		.mode = mode_word(r->mode), .mode_why = r->mode_why,
		.subject = r->peer_subject,
		.bytes_in = atomic_load(&r->bytes_in),
		.bytes_out = atomic_load(&r->bytes_out),
		.duration_ms = (unsigned long long)
			((now.tv_sec - s->begun.tv_sec) * 1000 +
			 (now.tv_nsec - s->begun.tv_nsec) / 1000000),
		.end = access_log_end_word(s->end), .reason = s->end_reason,
	};
	access_log_format(&e, line, sizeof(line));
	/* If journald cannot take it (socket gone), stderr still can. */
	if (log_to_journal && journal_write(&e, line) >= 0)
		return;
	/* One fprintf per line keeps lines from different threads whole. */
	if (log_to_journal)
		fprintf(stderr, "<%d>access: %s\n", LOG_LVL_INFO, line);
	else
		fprintf(stderr, "ktlsd: access: %s\n", line);
}

/*
 * Every end but a clean close is logged at info with its reason, whatever
 * the mode; at warning where the operator has something to fix (a backend
 * or server that cannot be reached, a server refusing us).
 */
void access_log_end_line(const struct session *s)
{
	const char *k = s->conn_index >= 0 ? "connection" : "port";
	const char *name = s->rec.port, *peer = s->rec.peer;
	enum log_level lvl = LOG_LVL_INFO;

	switch (s->end) {
	case END_NONE:
	case END_CLOSE:
		log_debug("%s %s: %s: closed", k, name, peer);
		return;
	case END_HANDSHAKE:
		/* A client failing is routine on an exposed port. */
		log_msg(s->conn_index >= 0 ? LOG_LVL_WARN : LOG_LVL_INFO,
			"%s %s: handshake with %s failed: %s", k, name, peer,
			s->end_reason);
		return;
	case END_TIMEOUT:
		/* At most max-handshakes of them per handshake-timeout, all
		 * at once in a flood: one line a second. */
		admission_log(ADM_HANDSHAKE_TIMEOUT, "%s %s: handshake with %s "
			      "timed out", k, name, peer);
		return;
	case END_EVICTED:
	case END_HELLO_TIMEOUT:
	case END_REFUSED:
		return;		/* admission.c's line says it */
	case END_CONNECT:
		lvl = LOG_LVL_WARN;
		break;
	case END_KEYUPDATE:
		lvl = LOG_LVL_NOTICE;
		break;
	case END_RESET:
	case END_IDLE:
	case END_DRAIN:
	case END_ERROR:
		break;
	}
	log_msg(lvl, "%s %s: %s: session ended (%s): %s", k, name, peer,
		access_log_end_word(s->end), s->end_reason);
}
