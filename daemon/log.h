/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Logging for ktlsd: one line per event on stderr (the journal under
 * systemd), prefixed with a syslog level so journald files it correctly.
 * Never pass key material or secrets to these functions.
 */
#ifndef KTLSD_LOG_H
#define KTLSD_LOG_H

#include <stdarg.h>

enum log_level { LOG_LVL_ERR = 3, LOG_LVL_WARN = 4, LOG_LVL_NOTICE = 5,
		 LOG_LVL_INFO = 6, LOG_LVL_DEBUG = 7 };

/* Messages above this level are dropped; -v raises it. */
extern int log_max_level;
/* 1 when stderr is a journald stream ($JOURNAL_STREAM names it): use
 * "<N>" prefixes instead of words; the access log uses sd_journal_send. */
extern int log_to_journal;

void log_init(void);
void log_msg(enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Log fmt followed by every queued OpenSSL error, then clear the queue. */
void log_ssl(enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_err(...)	log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_notice(...)	log_msg(LOG_LVL_NOTICE, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
