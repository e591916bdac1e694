// SPDX-License-Identifier: GPL-2.0
/*
 * The source addresses of ktlsd's own connections to steered services
 * (struct ktlsd_guard in include/ktlsd/steer.h says why they exist).
 *
 * Why a dedicated address and not the per-connection source tuple ktlsd
 * used before: to know its source port before connect(), ktlsd bound each
 * backend socket, and a port taken by bind() is held until its TIME_WAIT
 * ends whatever the destination, while connect() shares a port among
 * destinations and reuses TIME_WAIT ones on loopback. At a few hundred new
 * connections per second the namespace's ephemeral range filled and the
 * steered port collapsed. An address the program recognises needs no
 * bind() of a port (IP_BIND_ADDRESS_NO_PORT leaves the choice to
 * connect()) and no map update per connection, which a process without
 * CAP_BPF could not make on Linux 6.1. Alternatives set aside: a reserved
 * port range (ip_local_reserved_ports only stops automatic choice, so
 * ktlsd would pick ports itself, and IP_LOCAL_PORT_RANGE needs 6.3);
 * SO_MARK (CAP_NET_ADMIN, and sk_lookup does not see the mark); the
 * socket's cookie or cgroup (sk_lookup sees addresses only).
 *
 * The privileged side (steer.c, at start) fills ktlsd_guard and adds the
 * IPv6 address to lo; the workers only bind().
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <linux/if_addr.h>
#include <netlink/route/addr.h>

#include "ktlsd/steer.h"
#include "log.h"
#include "steer.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif
#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

#define SOURCE6_PREFIXED KTLSD_BACKEND_SRC6 "/128"

/* Add (ADD) or remove ktlsd's IPv6 source address on lo over rtnetlink.
 * 0, or a libnl error (negative) logged by the caller. */
static int source6_change(bool add)
{
	struct nl_sock *sk = nl_socket_alloc();
	struct rtnl_addr *a = rtnl_addr_alloc();
	struct nl_addr *local = NULL;
	int rc = -NLE_NOMEM;

	if (!sk || !a)
		goto out;
	rc = nl_connect(sk, NETLINK_ROUTE);
	if (rc < 0)
		goto out;
	rc = nl_addr_parse(SOURCE6_PREFIXED, AF_INET6, &local);
	if (rc < 0)
		goto out;
	rtnl_addr_set_ifindex(a, (int)if_nametoindex("lo"));
	rtnl_addr_set_family(a, AF_INET6);
	rc = rtnl_addr_set_local(a, local);
	if (rc < 0)
		goto out;
	if (add) {
		/* Deprecated from the start: bindable, but never the kernel's
		 * choice of source for anyone's connection. */
		rtnl_addr_set_flags(a, IFA_F_NODAD);
		rtnl_addr_set_preferred_lifetime(a, 0);
		rtnl_addr_set_valid_lifetime(a, 0xffffffffU);
		rc = rtnl_addr_add(sk, a, NLM_F_REPLACE);
	} else {
		rc = rtnl_addr_delete(sk, a, 0);
	}
out:
	nl_addr_put(local);
	rtnl_addr_put(a);
	nl_socket_free(sk);
	return rc;
}

/* The uid the network processes run as (netproc_setup), set before
 * steer_start; the parent's own until then. */
static uid_t worker_uid = (uid_t)-1;

void steer_set_worker_uid(uid_t uid)
{
	worker_uid = uid;
}

int steer_source_setup(int guard_map_fd)
{
	/* The uid the network processes bind with. The cgroup hook compares
	 * the real uid (bpf_get_current_uid_gid). */
	struct ktlsd_guard g = {
		.uid = (__u32)(worker_uid == (uid_t)-1 ? getuid() : worker_uid),
	};
	socklen_t len = sizeof(g.netns_cookie);
	__u32 zero = 0;
	int fd, rc;

	inet_pton(AF_INET, KTLSD_BACKEND_SRC4, &g.src4);
	inet_pton(AF_INET6, KTLSD_BACKEND_SRC6, g.src6);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	rc = fd < 0 ? -1 : getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE,
				      &g.netns_cookie, &len);
	if (fd >= 0)
		close(fd);
	if (rc < 0) {
		log_err("steer: cannot read the network namespace's cookie "
			"(SO_NETNS_COOKIE, Linux 5.14+): %s", strerror(errno));
		return -1;
	}
	if (bpf_map_update_elem(guard_map_fd, &zero, &g, BPF_ANY) < 0) {
		log_err("steer: cannot write ktlsd_guard: %s", strerror(errno));
		return -1;
	}
	rc = source6_change(true);
	if (rc < 0)
		/* Not fatal: IPv4 backends work, IPv6 ones fail to connect. */
		log_warn("steer: cannot add %s to lo (%s): steered ports with "
			 "an IPv6 backend will not reach it", SOURCE6_PREFIXED,
			 nl_geterror(rc));
	return 0;
}

void steer_source_remove(void)
{
	int rc = source6_change(false);

	if (rc < 0 && rc != -NLE_NOADDR && rc != -NLE_OBJ_NOTFOUND)
		log_warn("steer: cannot remove %s from lo: %s", SOURCE6_PREFIXED,
			 nl_geterror(rc));
}

int steer_backend_bind(int fd, const struct cfg_port *port)
{
	const struct sockaddr_storage *b = &port->backend.ss;
	struct sockaddr_in s4 = { .sin_family = AF_INET };
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };
	int one = 1;

	if (!steer_active() || !port->steer ||
	    (b->ss_family != AF_INET && b->ss_family != AF_INET6))
		return 0;
	if (setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one)) < 0)
		return -1;
	if (b->ss_family == AF_INET) {
		inet_pton(AF_INET, KTLSD_BACKEND_SRC4, &s4.sin_addr);
		return bind(fd, (struct sockaddr *)&s4, sizeof(s4));
	}
	if (IN6_IS_ADDR_V4MAPPED(&((const struct sockaddr_in6 *)b)->sin6_addr))
		inet_pton(AF_INET6, "::ffff:" KTLSD_BACKEND_SRC4, &s6.sin6_addr);
	else
		inet_pton(AF_INET6, KTLSD_BACKEND_SRC6, &s6.sin6_addr);
	return bind(fd, (struct sockaddr *)&s6, sizeof(s6));
}
