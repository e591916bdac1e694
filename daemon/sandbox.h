/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Confining ktlsd's child processes: user switch, capabilities, no_new_privs,
 * dumpability, seccomp filters, process titles. Every system call a filter
 * allows has its reason beside it in sandbox.c.
 */
#ifndef KTLSD_SANDBOX_H
#define KTLSD_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum sandbox_profile {
	SANDBOX_KEYHOLDER,	/* reads key fds, answers on two sockets */
	SANDBOX_NETWORK,	/* accept, handshake, kTLS, forward */
};

/* Remember argv so that sandbox_set_title can rewrite what ps shows. */
void sandbox_save_argv(int argc, char **argv);
/* "ktlsd: key holder": the command line ps prints, and the thread name. */
void sandbox_set_title(const char *role);
/* Resolve the unprivileged user; -1 with a sentence in ERR. */
int sandbox_lookup_user(const char *name, uid_t *uid, gid_t *gid, char *err,
			size_t errlen);
/*
 * Become UID/GID (when root; any other user stays itself) with no
 * supplementary groups, no capabilities (effective,
 * permitted, inheritable, ambient, and the bounding set where CAP_SETPCAP
 * allows), no_new_privs and not dumpable. -1 with errno on failure: the
 * caller must then exit, never go on privileged.
 */
int sandbox_drop_privileges(uid_t uid, gid_t gid);
/* Not dumpable: no core file and no ptrace by the same user. */
void sandbox_not_dumpable(void);
/* Install PROFILE's seccomp allowlist (kills the process on anything else;
 * KTLSD_SECCOMP=trap in the environment names the call on stderr first). */
int sandbox_seccomp(enum sandbox_profile profile);

/* The parent: drop every capability not on its list (see
 * sandbox.c for the list and the reason for each). */
int sandbox_limit_parent(void);
/* KTLSD_SECCOMP_SELFTEST names ROLE and it was not taken yet (parent). */
bool sandbox_take_selftest(const char *role);
/* A forbidden system call: the filter kills the caller. */
void sandbox_selftest_violate(void);

#endif
