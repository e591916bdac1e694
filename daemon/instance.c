// SPDX-License-Identifier: GPL-2.0
/*
 * One daemon per control socket and per pin directory.
 *
 * Two ktlsd sharing a control socket would unlink each other's socket; two
 * sharing a bpf-pin-dir would rewrite each other's steered ports. Each
 * daemon therefore holds an flock(2) on a lock file beside its control
 * socket and on its pin directory itself (bpffs holds no regular files,
 * but a directory takes an flock like any inode). The kernel drops the
 * locks when the holder dies, however it dies, so a stale lock cannot
 * exist; /proc/locks names the holder's pid for the refusal message.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "instance.h"
#include "log.h"

/* The pid holding an flock on FD's inode, from /proc/locks; 0 if unknown. */
static pid_t lock_holder(int fd)
{
	struct stat sb;
	char line[256];
	pid_t pid = 0;
	FILE *f;

	if (fstat(fd, &sb) < 0)
		return 0;
	f = fopen("/proc/locks", "re");
	if (!f)
		return 0;
	/* "1: FLOCK  ADVISORY  WRITE 1234 00:1a:5678 0 EOF" */
	while (!pid && fgets(line, sizeof(line), f)) {
		unsigned int maj, mnr;
		unsigned long ino;
		char kind[16];
		int p;

		if (sscanf(line, "%*d: %15s %*s %*s %d %x:%x:%lu", kind, &p,
			   &maj, &mnr, &ino) == 5 && !strcmp(kind, "FLOCK") &&
		    ino == sb.st_ino && maj == major(sb.st_dev) &&
		    mnr == minor(sb.st_dev))
			pid = p;
	}
	fclose(f);
	return pid;
}

/* The file at PATH is still the inode FD has open (not unlinked by a
 * holder that was just leaving). */
static bool still_linked(int fd, const char *path)
{
	struct stat a, b;

	return fstat(fd, &a) == 0 && stat(path, &b) == 0 &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int instance_lock(const char *path, bool is_dir, pid_t *holder)
{
	*holder = 0;
	for (int tries = 0; tries < 8; tries++) {
		int fd = is_dir ? open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) :
			 open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);

		if (fd < 0)
			return -1;
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			int err = errno;

			if (err == EWOULDBLOCK)
				*holder = lock_holder(fd);
			close(fd);
			errno = err;
			return -1;
		}
		if (is_dir)
			return fd;
		if (still_linked(fd, path)) {
			/* For the operator; the lock itself is the proof. */
			if (ftruncate(fd, 0) == 0)
				dprintf(fd, "%d\n", (int)getpid());
			return fd;
		}
		close(fd);	/* the last holder unlinked it: take the new one */
	}
	errno = EAGAIN;
	return -1;
}

void instance_unlock(int fd, const char *path)
{
	if (fd < 0)
		return;
	/* Unlinked while still locked: a daemon starting now either sees no
	 * file (and makes a new one) or finds its inode unlinked and retries. */
	if (path)
		unlink(path);
	close(fd);
}

void instance_log_refusal(const char *what, const char *path, pid_t holder)
{
	if (holder > 0)
		log_err("%s %s is in use by another ktlsd (pid %d); not starting",
			what, path, (int)holder);
	else
		log_err("%s %s is in use by another ktlsd; not starting", what, path);
}
