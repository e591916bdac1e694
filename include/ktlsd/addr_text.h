/* SPDX-License-Identifier: GPL-2.0 */
/*
 * How ktlsd writes a socket address, for its logs, its session records and
 * the control protocol's peer strings. Shared by the daemon and ktlsctl,
 * which matches the daemon's peer strings against the kernel's socket
 * table, so the two must agree byte for byte.
 */
#ifndef KTLSD_ADDR_TEXT_H
#define KTLSD_ADDR_TEXT_H

#include <arpa/inet.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>

/* "1.2.3.4:5", "[::1]:5" or "unix:/path" (a long path cut to fit LEN). */
static inline void sockaddr_text(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(in6->sin6_port));
	} else if (sa->sa_family == AF_UNIX) {
		/* The precision says the cut is meant (no -Wformat-truncation). */
		snprintf(buf, len, "unix:%.*s", (int)(len > 6 ? len - 6 : 0),
			 ((const struct sockaddr_un *)sa)->sun_path);
	} else {
		snprintf(buf, len, "family %d", sa->sa_family);
	}
}

#endif
