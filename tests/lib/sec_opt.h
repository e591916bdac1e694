/* SPDX-License-Identifier: GPL-2.0 */
/*
 * For tests that build an SSL_CTX in-process from creds.c: set one
 * security option as if the configuration file had it at the port level.
 */
#ifndef KTLSD_TEST_SEC_OPT_H
#define KTLSD_TEST_SEC_OPT_H

#include "config.h"

/* VALUE (not copied) for OPT in SEC, "set" in FILE at line 10 + OPT
 * (certificate:10, key:11, ca:12 ...), so messages name a stable place. */
void tl_set_sec_opt(struct cfg_security *sec, enum sec_option opt,
		    const char *value, const char *file);

#endif
