// SPDX-License-Identifier: GPL-2.0
/* Two hosts joined by a veth pair (see netns.h). */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_addr.h>
#include <mntent.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>

#include "netns.h"

static int fail(const char *step, int err)
{
	fprintf(stderr, "# two hosts: %s: %s\n", step,
		err < 0 ? nl_geterror(err) : strerror(errno));
	if (err < 0)
		errno = EIO;
	return -1;
}

/* Bring IFNAME up and give it the addresses V4 and V6 (either may be NULL). */
static int configure(const char *ifname, const char *v4, const char *v6)
{
	const char *addrs[2] = { v4, v6 };
	struct nl_sock *sk = nl_socket_alloc();
	struct nl_cache *links = NULL;
	struct rtnl_link *link = NULL, *change = NULL;
	int rc, ifindex;

	if (!sk)
		return fail("nl_socket_alloc", 0);
	rc = nl_connect(sk, NETLINK_ROUTE);
	if (rc == 0)
		rc = rtnl_link_alloc_cache(sk, AF_UNSPEC, &links);
	if (rc < 0)
		goto out;
	ifindex = rtnl_link_name2i(links, ifname);
	link = rtnl_link_get(links, ifindex);
	change = rtnl_link_alloc();
	if (!link || !change) {
		rc = -NLE_OBJ_NOTFOUND;
		goto out;
	}
	rtnl_link_set_flags(change, IFF_UP);
	rc = rtnl_link_change(sk, link, change, 0);
	for (int i = 0; rc == 0 && i < 2; i++) {
		struct rtnl_addr *a;
		struct nl_addr *local;
		char text[64];

		if (!addrs[i])
			continue;
		snprintf(text, sizeof(text), "%s/%d", addrs[i], i ? 64 : 24);
		rc = nl_addr_parse(text, i ? AF_INET6 : AF_INET, &local);
		if (rc < 0)
			break;
		a = rtnl_addr_alloc();
		rtnl_addr_set_ifindex(a, ifindex);
		rtnl_addr_set_local(a, local);
		/* No duplicate address detection: usable at once, no wait. */
		rtnl_addr_set_flags(a, IFA_F_NODAD);
		rc = rtnl_addr_add(sk, a, 0);
		rtnl_addr_put(a);
		nl_addr_put(local);
	}
out:
	rtnl_link_put(change);
	rtnl_link_put(link);
	nl_cache_free(links);
	nl_socket_free(sk);
	return rc < 0 ? fail(ifname, rc) : 0;
}

/* A veth pair: kc0 here, ks0 in the namespace PEER_NS. */
static int make_veth(int peer_ns)
{
	struct nl_sock *sk = nl_socket_alloc();
	struct rtnl_link *veth = NULL, *peer;
	int rc;

	if (!sk)
		return fail("nl_socket_alloc", 0);
	rc = nl_connect(sk, NETLINK_ROUTE);
	if (rc < 0)
		goto out;
	veth = rtnl_link_veth_alloc();
	if (!veth) {
		rc = -NLE_NOMEM;
		goto out;
	}
	rtnl_link_set_name(veth, "kc0");
	peer = rtnl_link_veth_get_peer(veth);
	rtnl_link_set_name(peer, "ks0");
	rtnl_link_set_ns_fd(peer, peer_ns);
	rtnl_link_put(peer);
	rc = rtnl_link_add(sk, veth, NLM_F_CREATE | NLM_F_EXCL);
out:
	rtnl_link_veth_release(veth);
	nl_socket_free(sk);
	return rc < 0 ? fail("veth", rc) : 0;
}

static int private_hosts_file(const char *hosts_file)
{
	if (unshare(CLONE_NEWNS) < 0)
		return fail("unshare(CLONE_NEWNS)", 0);
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return fail("private mounts", 0);
	if (mount(hosts_file, "/etc/hosts", NULL, MS_BIND, NULL) < 0)
		return fail("bind mount over /etc/hosts", 0);
	return 0;
}

int tl_two_hosts(struct tl_hosts *h, const char *hosts_file)
{
	h->client_ns = h->server_ns = -1;
	if (hosts_file && private_hosts_file(hosts_file) < 0)
		return -1;
	if (unshare(CLONE_NEWNET) < 0)
		return fail("unshare(CLONE_NEWNET)", 0);
	h->client_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (unshare(CLONE_NEWNET) < 0)
		return fail("unshare(CLONE_NEWNET)", 0);
	h->server_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (h->client_ns < 0 || h->server_ns < 0)
		return fail("/proc/self/ns/net", 0);
	/* Here: the server host. */
	if (configure("lo", NULL, NULL) < 0 || tl_enter(h->client_ns) < 0)
		return -1;
	if (configure("lo", NULL, NULL) < 0 || make_veth(h->server_ns) < 0 ||
	    configure("kc0", TL_CLIENT_V4, TL_CLIENT_V6) < 0)
		return -1;
	if (tl_enter(h->server_ns) < 0 ||
	    configure("ks0", TL_SERVER_V4, TL_SERVER_V6) < 0)
		return -1;
	return tl_enter(h->client_ns);
}

int tl_enter(int ns)
{
	return setns(ns, CLONE_NEWNET) < 0 ? fail("setns", 0) : 0;
}

const char *tl_cgroup2_root(void)
{
	static char root[256];
	struct mntent *m;
	FILE *f;

	if (root[0])
		return root;
	f = setmntent("/proc/self/mounts", "r");
	while (f && (m = getmntent(f))) {
		if (!strcmp(m->mnt_type, "cgroup2")) {
			snprintf(root, sizeof(root), "%s", m->mnt_dir);
			break;
		}
	}
	if (f)
		endmntent(f);
	if (!root[0] && mount("cgroup2", "/sys/fs/cgroup", "cgroup2", 0, NULL) == 0)
		snprintf(root, sizeof(root), "/sys/fs/cgroup");
	return root[0] ? root : NULL;
}

int tl_cgroup_join(const char *dir, int pid)
{
	char path[512];
	FILE *f;
	int rc;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	f = fopen(path, "w");
	if (!f)
		return -1;
	rc = fprintf(f, "%d\n", pid) < 0;
	rc |= fclose(f) != 0;
	return rc ? -1 : 0;
}
