/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The access log: one entry per session at its end ([ktlsd] access-log,
 * on by default). Under journald the entry is a journal record with
 * KTLSD_* fields; otherwise one line on stderr:
 *
 *   ktlsd: access: peer=ADDR local=ADDR port=NAME app=NAME sni=NAME
 *     version=V cipher=C mode=ktls|userspace|none mode_why=TEXT
 *     subject=DN bytes_in=N bytes_out=N duration_ms=N end=WORD reason=TEXT
 *
 * always with these keys in this order (the format is documented in
 * ktlsd(8) and README; adding a key goes at the end). A value is
 * written bare when it is non-empty printable ASCII without space, '"',
 * '\\' or '='; otherwise it is quoted, with '"' and '\\' escaped by '\\',
 * and \n, \r, \t and \xHH for every other control or non-ASCII byte, so
 * that a peer's SNI or certificate subject cannot end the line or forge
 * a key.
 */
#ifndef KTLSD_ACCESS_LOG_H
#define KTLSD_ACCESS_LOG_H

#include <stddef.h>

#include "ktlsd.h"

struct access_entry {
	const char *peer, *local, *port, *application, *sni, *version, *cipher;
	const char *mode, *mode_why, *subject, *end, *reason;
	unsigned long long bytes_in, bytes_out, duration_ms;
};

/* The end= word of END ("close", "reset", ...). */
const char *access_log_end_word(enum session_end end);
/* E as the key=value line above (without prefix or newline), truncated
 * to fit LEN. Returns the length written. */
size_t access_log_format(const struct access_entry *e, char *buf, size_t len);
/* Write S's entry, if its generation has the access log on. */
void access_log_session(const struct session *s);
/* The log line for S's end: at debug for a clean close, at info with its
 * reason for the others, at warning where the operator has something to
 * fix; none for those admission.c already logged. */
void access_log_end_line(const struct session *s);

#endif
