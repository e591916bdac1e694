/* SPDX-License-Identifier: GPL-2.0 */
/*
 * One message on a SOCK_SEQPACKET socketpair between ktlsd's processes, with
 * at most FDMSG_MAX_FDS descriptors riding along (SCM_RIGHTS): a key file,
 * or the two pipe ends of a sign channel. Used by the key holder's load
 * channel (keyholder.c) and the network processes' (netproc.c); each of
 * them defines its own header and checks its own lengths.
 */
#ifndef KTLSD_FDMSG_H
#define KTLSD_FDMSG_H

#include <stddef.h>
#include <sys/types.h>

#define FDMSG_MAX_FDS	2

/* HDR then PAYLOAD as one message, PASS_FD (-1: none) attached. 0 or -1. */
int fdmsg_send(int fd, const void *hdr, size_t hdr_len, const void *payload,
	       size_t len, int pass_fd);
/* The same with N_FDS (0..FDMSG_MAX_FDS) descriptors FDS attached. */
int fdmsg_send_fds(int fd, const void *hdr, size_t hdr_len, const void *payload,
		   size_t len, const int *fds, int n_fds);
/*
 * One message into BUF (CAP bytes); FDS gets up to MAX_FDS descriptors
 * attached to it (-1 where none came; any more are closed). Returns the
 * message's length, -1 at EOF or on an error (a receive timeout included),
 * -2 when it was truncated (then nothing is passed).
 */
ssize_t fdmsg_recv_fds(int fd, void *buf, size_t cap, int *fds, int max_fds);

#endif
