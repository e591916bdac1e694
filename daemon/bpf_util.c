// SPDX-License-Identifier: GPL-2.0
/*
 * BPF plumbing shared by steer.c and redirect.c (see bpf_util.h). Both
 * pin under one directory, store addresses the same way, walk their maps
 * the same way and point a sockmap at loopback listeners of their own.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <linux/magic.h>
#include <mntent.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf_util.h"
#include "ktlsd/steer.h"
#include "log.h"

#define BPFFS_ROOT "/sys/fs/bpf"
#define CGROUP_MOUNT "/sys/fs/cgroup"
#define KEY_MAX 64		/* the largest map key or value walked here */

/* ---- pins ---------------------------------------------------------------- */

void bpf_util_pin_dir(const struct ktlsd_config *cfg, char *buf, size_t len)
{
	const char *base = cfg && cfg->daemon.bpf_pin_dir[0] ?
			   cfg->daemon.bpf_pin_dir : BPF_UTIL_DEFAULT_PIN_DIR;

	snprintf(buf, len, "%s/%s", base, KTLSD_STEER_LAYOUT);
}

void bpf_util_pin_path(const char *dir, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

static bool on_bpffs(const char *path)
{
	struct statfs sfs;

	return statfs(path, &sfs) == 0 && sfs.f_type == BPF_FS_MAGIC;
}

/* mkdir PATH; the first directory made goes to MADE, when there is room
 * (MADE_LEN) and it is still empty. 0, or -1 with errno set. */
static int make_dir(const char *path, char *made, size_t made_len)
{
	if (mkdir(path, 0700) == 0) {
		if (made && made_len && !made[0])
			snprintf(made, made_len, "%s", path);
		return 0;
	}
	return errno == EEXIST ? 0 : -1;
}

/* Pins only persist on bpffs, so anything else is refused. */
int bpf_util_prepare_dir(const char *dir, char *made, size_t made_len)
{
	char path[PATH_MAX];

	if (!strncmp(dir, BPFFS_ROOT "/", strlen(BPFFS_ROOT) + 1) &&
	    !on_bpffs(BPFFS_ROOT) &&
	    mount("bpf", BPFFS_ROOT, "bpf", 0, "mode=0700") < 0) {
		log_err("steer: cannot mount bpffs on " BPFFS_ROOT ": %s", strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "%s", dir);
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (make_dir(path, made, made_len) < 0)
			goto fail;
		*p = '/';
	}
	if (make_dir(path, made, made_len) < 0)
		goto fail;
	if (!on_bpffs(dir)) {
		log_err("steer: %s is not on a bpf file system; set [ktlsd] "
			"bpf-pin-dir under " BPFFS_ROOT, dir);
		return -1;
	}
	return 0;
fail:
	log_err("steer: cannot create %s: %s", path, strerror(errno));
	return -1;
}

int bpf_util_pin_maps(const char *dir, struct bpf_map *const *maps,
		      const char *const *names, int n)
{
	char path[PATH_MAX];

	for (int i = 0; i < n; i++) {
		bpf_util_pin_path(dir, names[i], path, sizeof(path));
		if (bpf_map__set_pin_path(maps[i], path) < 0)
			return -1;
	}
	return 0;
}

int bpf_util_unpin(const char *dir, const char *const *names, int n)
{
	char path[PATH_MAX];
	int rc = 0;

	for (int i = 0; i < n; i++) {
		bpf_util_pin_path(dir, names[i], path, sizeof(path));
		if (unlink(path) < 0 && errno != ENOENT)
			rc = -1;
	}
	return rc;
}

/* ---- addresses ----------------------------------------------------------- */

int bpf_util_map_addr(const struct sockaddr_storage *ss, __u32 addr[4], __u16 *port)
{
	memset(addr, 0, 4 * sizeof(addr[0]));
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;

		addr[2] = htonl(0xffff);
		addr[3] = a->sin_addr.s_addr;
		*port = ntohs(a->sin_port);
		return 0;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;

		memcpy(addr, &a->sin6_addr, 4 * sizeof(addr[0]));
		*port = ntohs(a->sin6_port);
		return 0;
	}
	return -1;
}

socklen_t bpf_util_map_sockaddr(const __u32 addr[4], __u16 port,
				struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (!addr[0] && !addr[1] && addr[2] == htonl(0xffff)) {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		a->sin_family = AF_INET;
		a->sin_addr.s_addr = addr[3];
		a->sin_port = htons(port);
		return sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		a->sin6_family = AF_INET6;
		memcpy(&a->sin6_addr, addr, sizeof(a->sin6_addr));
		a->sin6_port = htons(port);
		return sizeof(*a);
	}
}

void bpf_util_map_addr_text(const __u32 addr[4], __u16 port, char *buf, size_t len)
{
	struct sockaddr_storage ss;

	bpf_util_map_sockaddr(addr, port, &ss);
	sockaddr_text((struct sockaddr *)&ss, buf, len);
}

_Static_assert(sizeof(struct bpf_util_addr_key) == sizeof(struct ktlsd_port_key) &&
	       sizeof(struct bpf_util_addr_key) == sizeof(struct ktlsd_endpoint),
	       "map keys start with an address and a port");

/* ---- walks --------------------------------------------------------------- */

int bpf_util_map_walk(int fd, size_t key_size,
		      int (*fn)(const void *key, void *arg), void *arg)
{
	unsigned char key[KEY_MAX], next[KEY_MAX];
	void *prev = NULL;
	int n = 0;

	if (key_size > KEY_MAX)
		return 0;
	while (bpf_map_get_next_key(fd, prev, next) == 0) {
		n++;
		if (fn(next, arg))
			break;
		memcpy(key, next, key_size);
		prev = key;
	}
	return n;
}

#define PRUNE_ROUND 64

int bpf_util_map_prune(int fd, size_t key_size,
		       bool (*keep)(const void *key, void *arg),
		       void (*gone)(const void *key, void *arg), void *arg)
{
	unsigned char key[KEY_MAX], next[KEY_MAX], stale[PRUNE_ROUND][KEY_MAX];
	int n_stale, deleted = 0;

	if (key_size > KEY_MAX)
		return 0;
	do {
		void *prev = NULL;

		n_stale = 0;
		while (n_stale < PRUNE_ROUND &&
		       bpf_map_get_next_key(fd, prev, next) == 0) {
			if (!keep(next, arg))
				memcpy(stale[n_stale++], next, key_size);
			memcpy(key, next, key_size);
			prev = key;
		}
		for (int i = 0; i < n_stale; i++) {
			if (bpf_map_delete_elem(fd, stale[i]) < 0)
				continue;
			deleted++;
			if (gone)
				gone(stale[i], arg);
		}
	} while (n_stale == PRUNE_ROUND);
	return deleted;
}

struct values_walk {
	int fd, n, max;
	void (*take)(const void *key, const void *value, int i, void *arg);
	void *arg;
	unsigned char value[KEY_MAX];
};

static int take_value(const void *key, void *arg)
{
	struct values_walk *v = arg;

	if (v->n >= v->max)
		return 1;
	if (bpf_map_lookup_elem(v->fd, key, v->value) == 0)
		v->take(key, v->value, v->n++, v->arg);
	return 0;
}

int bpf_util_map_values(int fd, size_t key_size, size_t value_size, int max,
			void (*take)(const void *key, const void *value, int i, void *arg),
			void *arg)
{
	struct values_walk v = { .fd = fd, .max = max, .take = take, .arg = arg };

	if (value_size > sizeof(v.value))
		return 0;
	bpf_util_map_walk(fd, key_size, take_value, &v);
	return v.n;
}

struct print_ctx {
	const char *prefix, *what;
	FILE *out;
};

static int print_key(const void *key, void *arg)
{
	const struct bpf_util_addr_key *k = key;
	const struct print_ctx *p = arg;
	char txt[80];

	bpf_util_map_addr_text(k->addr, k->port, txt, sizeof(txt));
	fprintf(p->out, "%s%s: %s\n", p->prefix, txt, p->what);
	return 0;
}

void bpf_util_print_pinned_keys(const char *path, const char *prefix,
				const char *what, FILE *out)
{
	struct print_ctx p = { .prefix = prefix, .what = what, .out = out };
	int fd = bpf_obj_get(path);

	if (fd < 0)
		return;
	bpf_util_map_walk(fd, sizeof(struct bpf_util_addr_key), print_key, &p);
	close(fd);
}

/* ---- loopback listeners -------------------------------------------------- */

/* A listener on an ephemeral loopback port of FAMILY, registered at INDEX
 * of SOCKMAP_FD; its address goes to OUT. The fd, or -1. */
static int loopback_listener(int family, int sockmap_fd, __u32 index,
			     struct cfg_addr *out)
{
	struct cfg_addr a = { .len = family == AF_INET ? sizeof(struct sockaddr_in) :
					 sizeof(struct sockaddr_in6) };
	char why[128];
	__u64 value;
	int fd;

	a.ss.ss_family = (sa_family_t)family;
	if (family == AF_INET)
		((struct sockaddr_in *)&a.ss)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else
		((struct sockaddr_in6 *)&a.ss)->sin6_addr = in6addr_loopback;
	fd = listener_open(&a, why, sizeof(why));
	if (fd < 0) {
		log_warn("steer: no %s listener: %s",
			 family == AF_INET ? "IPv4" : "IPv6", why);
		return -1;
	}
	getsockname(fd, (struct sockaddr *)&a.ss, &a.len);
	value = (__u64)fd;
	if (bpf_map_update_elem(sockmap_fd, &index, &value, BPF_ANY) < 0) {
		log_err("steer: cannot register a listener in the sockmap: %s",
			strerror(errno));
		close(fd);
		return -1;
	}
	*out = a;
	return fd;
}

int bpf_util_loopback_listeners(int sockmap_fd, int *fds, struct cfg_addr *addrs)
{
	static const int family[BPF_UTIL_MAX_LISTENERS] = { AF_INET, AF_INET6 };
	static const __u32 index[BPF_UTIL_MAX_LISTENERS] = {
		KTLSD_SOCK_INET, KTLSD_SOCK_INET6
	};
	int n = 0;

	for (int i = 0; i < BPF_UTIL_MAX_LISTENERS; i++) {
		int fd = loopback_listener(family[i], sockmap_fd, index[i], &addrs[n]);

		if (fd >= 0)
			fds[n++] = fd;
		else if (family[i] == AF_INET)
			return -1;	/* IPv6 is optional */
	}
	return n;
}

/* ---- the cgroup v2 hierarchy --------------------------------------------- */

bool bpf_util_is_cgroup2_dir(const char *path)
{
	struct statfs sfs;

	return statfs(path, &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC;
}

int bpf_util_cgroup2_root(char *root, size_t len, const char *why)
{
	FILE *mounts = setmntent("/proc/self/mounts", "r");
	struct stat fs, cg;
	struct mntent *m;

	root[0] = '\0';
	while (mounts && !root[0] && (m = getmntent(mounts)))
		if (!strcmp(m->mnt_type, "cgroup2"))
			snprintf(root, len, "%s", m->mnt_dir);
	if (mounts)
		endmntent(mounts);
	if (root[0])
		return 0;
	if (stat("/sys/fs", &fs) == 0 && stat(CGROUP_MOUNT, &cg) == 0 &&
	    fs.st_dev == cg.st_dev &&
	    mount("cgroup2", CGROUP_MOUNT, "cgroup2", 0, NULL) == 0) {
		snprintf(root, len, CGROUP_MOUNT);
		return 0;
	}
	log_err("no cgroup v2 hierarchy is mounted (mount -t cgroup2 none "
		CGROUP_MOUNT "): needed %s", why);
	return -1;
}
