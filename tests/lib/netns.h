/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Two hosts in one test: private network namespaces joined by a veth pair,
 * configured over rtnetlink with libnl-route, plus a private /etc/hosts so
 * the tests can name the server host.
 *
 *   client host  kc0  10.77.0.1/24  fd77::1/64   (the calling process)
 *   server host  ks0  10.77.0.2/24  fd77::2/64
 */
#ifndef KTLSD_TEST_NETNS_H
#define KTLSD_TEST_NETNS_H

#define TL_CLIENT_V4 "10.77.0.1"
#define TL_SERVER_V4 "10.77.0.2"
#define TL_CLIENT_V6 "fd77::1"
#define TL_SERVER_V6 "fd77::2"

struct tl_hosts {
	int client_ns;		/* fd of the client host's namespace */
	int server_ns;		/* fd of the server host's namespace */
};

/*
 * Move the calling (single-threaded) process into a new client host and
 * create the server host; both have lo up. HOSTS_FILE, when not NULL, is
 * bind-mounted over /etc/hosts in a private mount namespace. 0, or -1 with
 * errno set (a message on stderr says which step failed).
 */
int tl_two_hosts(struct tl_hosts *h, const char *hosts_file);
/* Switch the calling process to namespace NS (a fd from tl_two_hosts). */
int tl_enter(int ns);

/* The cgroup v2 mount point (mounting one at /sys/fs/cgroup if there is
 * none, as in the VM), or NULL. */
const char *tl_cgroup2_root(void);
/* Move process PID into the cgroup directory DIR. 0 or -1. */
int tl_cgroup_join(const char *dir, int pid);

#endif
