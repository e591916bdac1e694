// SPDX-License-Identifier: GPL-2.0
/*
 * Listening sockets. Every worker binds its own socket per listen address
 * with SO_REUSEPORT, so the kernel spreads new connections over the workers
 * without a shared accept queue or a lock.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "ktlsd.h"
#include "log.h"

int listener_open(const struct cfg_addr *addr, char *why, size_t len)
{
	int one = 1;
	int fd = socket(addr->ss.ss_family,
			SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		snprintf(why, len, "socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) {
		snprintf(why, len, "SO_REUSEPORT: %s", strerror(errno));
		goto fail;
	}
	/* "[::]:P" and "0.0.0.0:P" are listed separately when both are
	 * wanted, so an IPv6 socket never claims IPv4 too. */
	if (addr->ss.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) {
		snprintf(why, len, "IPV6_V6ONLY: %s", strerror(errno));
		goto fail;
	}
	if (bind(fd, (const struct sockaddr *)&addr->ss, addr->len) < 0) {
		snprintf(why, len, "bind: %s", strerror(errno));
		goto fail;
	}
	/* As long a queue as net.core.somaxconn allows (the kernel caps the
	 * backlog there): the operator's sysctl decides how many connections
	 * a flood must hold before new SYNs are dropped (ktlsd.conf(5),
	 * ADMISSION). */
	if (listen(fd, INT_MAX) < 0) {
		snprintf(why, len, "listen: %s", strerror(errno));
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

bool listener_same_addr(const struct cfg_addr *a, const struct cfg_addr *b)
{
	return a->len == b->len && memcmp(&a->ss, &b->ss, a->len) == 0;
}

int listener_share(struct worker *w, struct listener_slot *slots,
		   const int *fds, const struct cfg_addr *addrs, int n,
		   int port_index)
{
	int added = 0;

	for (int i = 0; i < n; i++) {
		struct listener_slot *s = &slots[added];

		s->fd = -1;
		for (int k = 0; k < w->n_lsn; k++) {
			if (w->lsn[k].port_index == port_index && w->lsn[k].fd >= 0 &&
			    listener_same_addr(&w->lsn[k].addr, &addrs[i])) {
				s->fd = w->lsn[k].fd;
				w->lsn[k].fd = -1;	/* moved */
				break;
			}
		}
		/* Each worker holds its own descriptor of the shared socket. */
		if (s->fd < 0)
			s->fd = fcntl(fds[i], F_DUPFD_CLOEXEC, 0);
		if (s->fd < 0) {
			log_err("worker %d: shared listener: %s", w->id, strerror(errno));
			continue;
		}
		s->addr = addrs[i];
		s->port_index = port_index;
		s->h.kind = EV_LISTENER;
		s->h.obj = s;
		added++;
	}
	return added;
}
