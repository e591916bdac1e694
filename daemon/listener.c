// SPDX-License-Identifier: GPL-2.0
/*
 * Listening sockets. The privileged parent binds one socket per listen
 * address (ports below 1024 need CAP_NET_BIND_SERVICE, which the network
 * process never has) and keeps it across reloads; every network process
 * inherits the table, and each of its workers accepts from its own
 * descriptor of each socket. A reload starts a new network process on the
 * same sockets, so a connection waiting in a backlog is accepted by
 * whichever process comes next: none is refused.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
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
	/* No SO_REUSEPORT: one socket per address, so that "address in use"
	 * means another program (or another ktlsd) has the port. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
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

/*
 * The parent's table: one socket per listen address of the ports ktlsd
 * listens on itself (not the steered ones: steer.c has those). Touched by
 * the parent's main thread only, before a network process is forked; a
 * network process reads its inherited copy and never changes it.
 */
static struct table_entry {
	struct cfg_addr addr;
	int fd;
	bool wanted;		/* listed by the configuration being applied */
} *table;
static int n_table;

static struct table_entry *table_find(const struct cfg_addr *a)
{
	for (int i = 0; i < n_table; i++)
		if (listener_same_addr(&table[i].addr, a))
			return &table[i];
	return NULL;
}

int listeners_open_for(const struct ktlsd_config *cfg, char *err, size_t errlen)
{
	int first_new = n_table;

	for (int i = 0; i < n_table; i++)
		table[i].wanted = false;
	for (int i = 0; i < cfg->n_ports; i++) {
		if (cfg->ports[i].steer)
			continue;
		for (int j = 0; j < cfg->ports[i].n_listen; j++) {
			const struct cfg_addr *a = &cfg->ports[i].listen[j];
			struct table_entry *e = table_find(a), *grown;
			char why[128], txt[80];
			int fd;

			if (e) {
				e->wanted = true;
				continue;
			}
			fd = listener_open(a, why, sizeof(why));
			if (fd < 0) {
				sockaddr_text((const struct sockaddr *)&a->ss, txt,
					      sizeof(txt));
				snprintf(err, errlen, "port %s: cannot listen on %s: %s",
					 cfg->ports[i].name, txt, why);
				goto undo;
			}
			grown = realloc(table, (n_table + 1) * sizeof(*table));
			if (!grown) {
				close(fd);
				snprintf(err, errlen, "out of memory");
				goto undo;
			}
			table = grown;
			table[n_table++] = (struct table_entry){ *a, fd, true };
		}
	}
	return 0;
undo:
	/* Nothing half-done: the sockets opened for this configuration go. */
	while (n_table > first_new)
		close(table[--n_table].fd);
	for (int i = 0; i < n_table; i++)
		table[i].wanted = true;
	return -1;
}

void listeners_close_unwanted(void)
{
	for (int i = 0; i < n_table; i++) {
		if (table[i].wanted)
			continue;
		close(table[i].fd);
		table[i--] = table[--n_table];
	}
}

void listeners_close_all(void)
{
	while (n_table)
		close(table[--n_table].fd);
	free(table);
	table = NULL;
}

int listeners_fd(const struct cfg_addr *a)
{
	const struct table_entry *e = table_find(a);

	return e ? e->fd : -1;
}

int listeners_fds(int *out, int max)
{
	int n = 0;

	for (int i = 0; i < n_table && n < max; i++)
		out[n++] = table[i].fd;
	return n;
}
