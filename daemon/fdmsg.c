// SPDX-License-Identifier: GPL-2.0
/* Messages with descriptors between ktlsd's processes; see fdmsg.h. */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "fdmsg.h"

union fd_control {
	struct cmsghdr c;
	char buf[CMSG_SPACE(FDMSG_MAX_FDS * sizeof(int))];
};

int fdmsg_send_fds(int fd, const void *hdr, size_t hdr_len, const void *payload,
		   size_t len, const int *fds, int n_fds)
{
	struct iovec iov[2] = {
		{ (void *)hdr, hdr_len }, { (void *)payload, len },
	};
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };
	union fd_control ctl;

	if (n_fds < 0 || n_fds > FDMSG_MAX_FDS) {
		errno = EINVAL;
		return -1;
	}
	if (n_fds > 0) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(n_fds * sizeof(int));
		ctl.c.cmsg_level = SOL_SOCKET;
		ctl.c.cmsg_type = SCM_RIGHTS;
		ctl.c.cmsg_len = CMSG_LEN(n_fds * sizeof(int));
		memcpy(CMSG_DATA(&ctl.c), fds, n_fds * sizeof(int));
	}
	return sendmsg(fd, &mh, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

int fdmsg_send(int fd, const void *hdr, size_t hdr_len, const void *payload,
	       size_t len, int pass_fd)
{
	return fdmsg_send_fds(fd, hdr, hdr_len, payload, len, &pass_fd,
			      pass_fd >= 0 ? 1 : 0);
}

static void close_fds(int *fds, int n)
{
	for (int i = 0; i < n; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

ssize_t fdmsg_recv_fds(int fd, void *buf, size_t cap, int *fds, int max_fds)
{
	union fd_control ctl;
	struct iovec iov = { buf, cap };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = ctl.buf,
			     .msg_controllen = sizeof(ctl.buf) };
	int got = 0;
	ssize_t n;

	for (int i = 0; i < max_fds; i++)
		fds[i] = -1;
	do
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return -1;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		size_t k;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
		    c->cmsg_len < CMSG_LEN(0))
			continue;
		k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int passed;

			memcpy(&passed, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			/* More than the caller takes: not left open here. */
			if (got < max_fds)
				fds[got++] = passed;
			else
				close(passed);
		}
	}
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		close_fds(fds, max_fds);
		return -2;
	}
	return n;
}
