/* SPDX-License-Identifier: GPL-2.0 */
/*
 * One daemon per control socket and per pin directory (instance.c): an
 * exclusive flock(2) held for the daemon's lifetime.
 */
#ifndef KTLSD_INSTANCE_H
#define KTLSD_INSTANCE_H

#include <stdbool.h>
#include <sys/types.h>

/*
 * Lock PATH: a lock file, created if missing and given our pid, or with
 * IS_DIR an existing directory. The descriptor that holds the lock, or -1
 * with errno set; EWOULDBLOCK means another process holds it, and *HOLDER
 * is then its pid (0 if /proc/locks does not say).
 */
int instance_lock(const char *path, bool is_dir, pid_t *holder);
/* Release a lock of instance_lock(); PATH (a lock file) is removed first,
 * NULL for a directory. FD -1 is ignored. */
void instance_unlock(int fd, const char *path);
/* "WHAT PATH is in use by another ktlsd (pid N); not starting", at error. */
void instance_log_refusal(const char *what, const char *path, pid_t holder);

#endif
