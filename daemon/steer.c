// SPDX-License-Identifier: GPL-2.0
/*
 * Port takeover with sk_lookup (the kernel side is bpf/steer.bpf.c).
 *
 * A steered port P stays bound by the plaintext service. ktlsd does not
 * bind P: it opens one steering listener per address family on an
 * ephemeral loopback port and registers it in the ktlsd_socks sockmap; the
 * program sends every new TCP connection to a port listed in ktlsd_ports to
 * that listener. The workers share the listener (a slot with port_index -1)
 * and recover P from getsockname(), which keeps the address the client
 * dialled.
 *
 * ktlsd's own connection to the service is exempted by its source address,
 * one per family that only ktlsd may bind (steer_source.c; the cgroup bind
 * hooks of the same object guard it, attached to the root of the cgroup v2
 * hierarchy so that they see every process).
 *
 * Everything is pinned under <bpf-pin-dir>/v3 so the takeover survives the
 * daemon: when ktlsd dies the kernel removes its listener from the sockmap
 * and the program drops connections to steered ports (fail closed); a
 * restarted ktlsd finds the pins, registers its new listener and traffic
 * flows again. Only `ktlsd --unload` gives the ports back to the service.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <mntent.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "ktlsd/steer.h"
#include "instance.h"
#include "log.h"
#include "redirect.h"
#include "steer.h"
#include "steer.skel.h"

#define BPFFS_ROOT "/sys/fs/bpf"

static const char *const map_names[] = { "ktlsd_ports", "ktlsd_socks", "ktlsd_guard" };
enum { M_PORTS, M_SOCKS, M_GUARD, M__COUNT };
/* The pinned links: sk_lookup on the namespace, the bind guards on the
 * cgroup v2 root. */
static const char *const link_names[] = { "link", "bind4", "bind6" };
enum { L_LOOKUP, L_BIND4, L_BIND6, L__COUNT };

static struct {
	bool active;
	char dir[STEER_DIR_MAX];
	int map_fd[M__COUNT];
	int lsn_fd[STEER_MAX_LISTENERS];
	struct cfg_addr lsn_addr[STEER_MAX_LISTENERS];
	int n_lsn;
	int lock_fd;			/* flock on the pin directory */
	char made[STEER_DIR_MAX];	/* first directory this run created */
} st = { .map_fd = { -1, -1, -1 }, .lock_fd = -1 };

void steer_pin_dir(const struct ktlsd_config *cfg, char *buf, size_t len)
{
	const char *base = cfg && cfg->daemon.bpf_pin_dir[0] ?
			   cfg->daemon.bpf_pin_dir : STEER_DEFAULT_PIN_DIR;

	snprintf(buf, len, "%s/%s", base, KTLSD_STEER_LAYOUT);
}

static void pin_path(const char *dir, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

static bool any_steered(const struct ktlsd_config *cfg)
{
	for (int i = 0; i < cfg->n_ports; i++)
		if (cfg->ports[i].steer)
			return true;
	return false;
}

static bool on_bpffs(const char *path)
{
	struct statfs sfs;

	return statfs(path, &sfs) == 0 && sfs.f_type == BPF_FS_MAGIC;
}

/* mkdir PATH; remembers the first directory this run made (for
 * steer_finish()). 0, or -1 with errno set. */
static int make_dir(const char *path)
{
	if (mkdir(path, 0700) == 0) {
		if (!st.made[0])
			snprintf(st.made, sizeof(st.made), "%s", path);
		return 0;
	}
	return errno == EEXIST ? 0 : -1;
}

/* Mount bpffs at /sys/fs/bpf if the pin directory needs it, create the
 * directory and lock it. Pins only persist on bpffs, so anything else is
 * refused; so is a directory another ktlsd holds (instance.c). */
int steer_prepare_dir(const char *dir)
{
	char path[PATH_MAX];
	pid_t holder;

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
		if (make_dir(path) < 0)
			goto fail;
		*p = '/';
	}
	if (make_dir(path) < 0)
		goto fail;
	if (!on_bpffs(dir)) {
		log_err("steer: %s is not on a bpf file system; set [ktlsd] "
			"bpf-pin-dir under " BPFFS_ROOT, dir);
		return -1;
	}
	if (st.lock_fd >= 0)
		return 0;
	st.lock_fd = instance_lock(dir, true, &holder);
	if (st.lock_fd < 0 && errno == EWOULDBLOCK) {
		instance_log_refusal("bpf-pin-dir", dir, holder);
		return -1;
	}
	if (st.lock_fd < 0) {
		log_err("steer: cannot lock %s: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
fail:
	log_err("steer: cannot create %s: %s", path, strerror(errno));
	return -1;
}

/* Inode of our network namespace, to check a pinned link attaches here. */
static unsigned long long own_netns(void)
{
	struct stat sb;

	return stat("/proc/self/ns/net", &sb) == 0 ? (unsigned long long)sb.st_ino : 0;
}

/* 1: a live link for this namespace is pinned; 0: none (a dead one is
 * removed); -1: it belongs to another namespace. */
static int check_pinned_link(const char *dir)
{
	struct bpf_link_info info;
	__u32 len = sizeof(info);
	char path[PATH_MAX];
	int fd, rc;

	pin_path(dir, link_names[L_LOOKUP], path, sizeof(path));
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0;
	memset(&info, 0, sizeof(info));
	rc = bpf_obj_get_info_by_fd(fd, &info, &len);
	close(fd);
	if (rc == 0 && info.type == BPF_LINK_TYPE_NETNS &&
	    info.netns.netns_ino == own_netns())
		return 1;
	if (rc == 0 && info.type == BPF_LINK_TYPE_NETNS && info.netns.netns_ino) {
		log_err("steer: %s is attached to another network namespace", path);
		return -1;
	}
	/* Its namespace is gone: start afresh, maps included. */
	for (int i = 0; i < L__COUNT; i++) {
		pin_path(dir, link_names[i], path, sizeof(path));
		unlink(path);
	}
	for (int i = 0; i < M__COUNT; i++) {
		pin_path(dir, map_names[i], path, sizeof(path));
		unlink(path);
	}
	return 0;
}

/*
 * The cgroup v2 hierarchy's root, into ROOT: the bind guards attached there
 * see every process's sockets. Mounted at /sys/fs/cgroup when no cgroup2
 * is mounted and that directory is not a mount point of its own (which a
 * v1 hierarchy would need). 0 or -1 (logged).
 */
static int cgroup2_root(char *root, size_t len)
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
	if (stat("/sys/fs", &fs) == 0 && stat("/sys/fs/cgroup", &cg) == 0 &&
	    fs.st_dev == cg.st_dev &&
	    mount("cgroup2", "/sys/fs/cgroup", "cgroup2", 0, NULL) == 0) {
		snprintf(root, len, "/sys/fs/cgroup");
		return 0;
	}
	log_err("steer: no cgroup v2 hierarchy is mounted (mount -t cgroup2 "
		"none /sys/fs/cgroup): needed to keep ktlsd's source address "
		"for ktlsd");
	return -1;
}

static int attach_and_pin(struct bpf_program *prog, int target,
			  const char *dir, int which)
{
	struct bpf_link *link;
	char path[PATH_MAX];
	int rc = -1;

	link = which == L_LOOKUP ? bpf_program__attach_netns(prog, target) :
				   bpf_program__attach_cgroup(prog, target);
	if (!link) {
		log_err("steer: cannot attach %s: %s", bpf_program__name(prog),
			strerror(errno));
		return -1;
	}
	/* A pin left by an attempt that failed half-way goes first. */
	pin_path(dir, link_names[which], path, sizeof(path));
	unlink(path);
	if (bpf_link__pin(link, path) < 0)
		log_err("steer: cannot pin %s: %s", path, strerror(errno));
	else
		rc = 0;
	/* The pinned link keeps the program attached; our fd may go. */
	bpf_link__destroy(link);
	return rc;
}

/* Load the programs, attach them (the guards first, so that the address
 * is never exempt unguarded) and pin links and maps. */
static int load_and_pin(const char *dir)
{
	struct steer_bpf *skel;
	struct bpf_map *maps[M__COUNT];
	char path[PATH_MAX], cgroot[PATH_MAX];
	int netns = -1, cg = -1, rc = -1;

	if (cgroup2_root(cgroot, sizeof(cgroot)) < 0)
		return -1;
	skel = steer_bpf__open();
	if (!skel) {
		log_err("steer: cannot open the BPF object: %s", strerror(errno));
		return -1;
	}
	maps[M_PORTS] = skel->maps.ktlsd_ports;
	maps[M_SOCKS] = skel->maps.ktlsd_socks;
	maps[M_GUARD] = skel->maps.ktlsd_guard;
	/* libbpf reuses maps already pinned there and pins the others. */
	for (int i = 0; i < M__COUNT; i++) {
		pin_path(dir, map_names[i], path, sizeof(path));
		if (bpf_map__set_pin_path(maps[i], path) < 0)
			goto out;
	}
	if (steer_bpf__load(skel) < 0) {
		log_err("steer: cannot load the steering programs: %s", strerror(errno));
		goto out;
	}
	cg = open(cgroot, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	netns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (cg < 0 || netns < 0) {
		log_err("steer: cannot open %s: %s", cg < 0 ? cgroot :
			"/proc/self/ns/net", strerror(errno));
		goto out;
	}
	if (attach_and_pin(skel->progs.ktlsd_bind4, cg, dir, L_BIND4) < 0 ||
	    attach_and_pin(skel->progs.ktlsd_bind6, cg, dir, L_BIND6) < 0 ||
	    attach_and_pin(skel->progs.ktlsd_steer, netns, dir, L_LOOKUP) < 0)
		goto out;
	rc = 0;
out:
	if (netns >= 0)
		close(netns);
	if (cg >= 0)
		close(cg);
	steer_bpf__destroy(skel);
	return rc;
}

static int open_maps(const char *dir)
{
	char path[PATH_MAX];

	for (int i = 0; i < M__COUNT; i++) {
		pin_path(dir, map_names[i], path, sizeof(path));
		st.map_fd[i] = bpf_obj_get(path);
		if (st.map_fd[i] < 0) {
			log_err("steer: cannot open %s: %s", path, strerror(errno));
			return -1;
		}
	}
	return 0;
}

static void close_maps(void)
{
	for (int i = 0; i < M__COUNT; i++) {
		if (st.map_fd[i] >= 0)
			close(st.map_fd[i]);
		st.map_fd[i] = -1;
	}
}

int steer_map_addr(const struct sockaddr_storage *ss, __u32 addr[4], __u16 *port)
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

socklen_t steer_map_sockaddr(const __u32 addr[4], __u16 port,
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

void steer_map_addr_text(const __u32 addr[4], __u16 port, char *buf, size_t len)
{
	struct sockaddr_storage ss;

	steer_map_sockaddr(addr, port, &ss);
	sockaddr_text((struct sockaddr *)&ss, buf, len);
}

static int port_key_of(const struct cfg_addr *a, struct ktlsd_port_key *key)
{
	memset(key, 0, sizeof(*key));
	key->protocol = IPPROTO_TCP;
	return steer_map_addr(&a->ss, key->addr, &key->port);
}

static bool port_wanted(const struct ktlsd_config *cfg, const struct ktlsd_port_key *k)
{
	struct ktlsd_port_key want;

	for (int i = 0; i < cfg->n_ports; i++)
		for (int j = 0; cfg->ports[i].steer && j < cfg->ports[i].n_listen; j++)
			if (port_key_of(&cfg->ports[i].listen[j], &want) == 0 &&
			    !memcmp(&want, k, sizeof(want)))
				return true;
	return false;
}

/* Make ktlsd_ports list exactly CFG's steered addresses and ports;
 * counters of those that stay are kept. */
static int sync_ports(const struct ktlsd_config *cfg)
{
	struct ktlsd_port_key key, next, stale[KTLSD_MAX_PORTS];
	struct ktlsd_port_stats zero = { 0 };
	void *prev = NULL;
	int n_stale = 0, rc = 0;
	char txt[80];

	while (bpf_map_get_next_key(st.map_fd[M_PORTS], prev, &next) == 0) {
		if (!port_wanted(cfg, &next) && n_stale < KTLSD_MAX_PORTS)
			stale[n_stale++] = next;
		key = next;
		prev = &key;
	}
	for (int i = 0; i < n_stale; i++) {
		bpf_map_delete_elem(st.map_fd[M_PORTS], &stale[i]);
		steer_map_addr_text(stale[i].addr, stale[i].port, txt, sizeof(txt));
		log_notice("steer: %s no longer steered", txt);
	}
	for (int i = 0; i < cfg->n_ports; i++) {
		for (int j = 0; cfg->ports[i].steer && j < cfg->ports[i].n_listen; j++) {
			if (port_key_of(&cfg->ports[i].listen[j], &key) < 0)
				continue;
			sockaddr_text((const struct sockaddr *)&cfg->ports[i].listen[j].ss,
				      txt, sizeof(txt));
			if (bpf_map_update_elem(st.map_fd[M_PORTS], &key, &zero,
						BPF_NOEXIST) == 0) {
				log_notice("steer: port %s: connections to %s "
					   "are taken over", cfg->ports[i].name, txt);
			} else if (errno != EEXIST) {
				log_err("steer: port %s: cannot steer %s: %s",
					cfg->ports[i].name, txt, strerror(errno));
				rc = -1;
			}
		}
	}
	return rc;
}

int steer_loopback_listener(int family, int sockmap_fd, __u32 index,
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

/* One steering listener on an ephemeral loopback port, in the sockmap. */
static int open_listener(int family, __u32 index)
{
	int fd = steer_loopback_listener(family, st.map_fd[M_SOCKS], index,
					 &st.lsn_addr[st.n_lsn]);

	if (fd < 0)
		return -1;
	st.lsn_fd[st.n_lsn++] = fd;
	return 0;
}

int steer_start(const struct ktlsd_config *cfg)
{
	int linked;

	if (st.active)
		return steer_update(cfg);
	steer_pin_dir(cfg, st.dir, sizeof(st.dir));
	if (!any_steered(cfg) && access(st.dir, F_OK) < 0)
		return 0;
	if (steer_prepare_dir(st.dir) < 0)
		return -1;
	linked = check_pinned_link(st.dir);
	if (linked < 0 || (linked == 0 && load_and_pin(st.dir) < 0))
		return -1;
	if (open_maps(st.dir) < 0 || steer_source_setup(st.map_fd[M_GUARD]) < 0)
		goto fail;
	if (open_listener(AF_INET, KTLSD_SOCK_INET) < 0)
		goto fail;
	open_listener(AF_INET6, KTLSD_SOCK_INET6);	/* optional: no IPv6 */
	st.active = true;
	if (sync_ports(cfg) < 0) {
		steer_stop();
		return -1;
	}
	log_notice("steer: %s sk_lookup program pinned in %s",
		   linked ? "reusing the" : "loaded the", st.dir);
	return 0;
fail:
	close_maps();
	return -1;
}

int steer_update(const struct ktlsd_config *cfg)
{
	if (!st.active)
		return steer_start(cfg);
	return sync_ports(cfg);
}

void steer_stop(void)
{
	for (int i = 0; i < st.n_lsn; i++)
		close(st.lsn_fd[i]);
	st.n_lsn = 0;
	close_maps();
	st.active = false;
}

/* The keys of ktlsd_ports, ktlsd_exempt and ktlsd_dsts alike. */
struct addr_port_key {
	__u32 addr[4];
	__u16 port;
	__u16 rest;
};
_Static_assert(sizeof(struct addr_port_key) == sizeof(struct ktlsd_port_key) &&
	       sizeof(struct addr_port_key) == sizeof(struct ktlsd_endpoint),
	       "map keys start with an address and a port");

void steer_print_pinned_keys(const char *path, const char *prefix,
			     const char *what, FILE *out)
{
	struct addr_port_key key, next;
	void *prev = NULL;
	char txt[80];
	int fd = bpf_obj_get(path);

	while (fd >= 0 && bpf_map_get_next_key(fd, prev, &next) == 0) {
		steer_map_addr_text(next.addr, next.port, txt, sizeof(txt));
		fprintf(out, "%s%s: %s\n", prefix, txt, what);
		key = next;
		prev = &key;
	}
	if (fd >= 0)
		close(fd);
}

static int unload_dir(const char *dir, FILE *out)
{
	char path[PATH_MAX];
	int rc = 0;

	if (access(dir, F_OK) < 0) {
		fprintf(out, "nothing pinned in %s: no port is steered\n", dir);
		return 0;
	}
	pin_path(dir, "ktlsd_ports", path, sizeof(path));
	steer_print_pinned_keys(path, "", "no longer steered; connections reach "
				"the service in plaintext again", out);
	for (int i = 0; i < L__COUNT; i++) {
		pin_path(dir, link_names[i], path, sizeof(path));
		if (unlink(path) < 0 && errno != ENOENT)
			rc = -1;
	}
	steer_source_remove();
	for (int i = 0; i < M__COUNT; i++) {
		pin_path(dir, map_names[i], path, sizeof(path));
		if (unlink(path) < 0 && errno != ENOENT)
			rc = -1;
	}
	if (redirect_unload(dir, out) < 0 || rmdir(dir) < 0)
		rc = -1;
	if (rc < 0)
		fprintf(out, "cannot remove everything in %s: %s\n", dir, strerror(errno));
	else
		fprintf(out, "removed the steering programs and maps from %s\n", dir);
	return rc;
}

int steer_unload(const struct ktlsd_config *cfg, FILE *out)
{
	char dir[STEER_DIR_MAX];

	steer_pin_dir(cfg, dir, sizeof(dir));
	return unload_dir(dir, out);
}

void steer_finish(bool failed)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out;

	/* The directory did not exist before this start, so everything in
	 * it is this run's: the ports go back to their services. A directory
	 * that existed keeps its pins, and its ports stay closed. */
	if (failed && st.made[0] && (out = open_memstream(&text, &len))) {
		char path[STEER_DIR_MAX];
		char *slash;

		if (unload_dir(st.dir, out) == 0)
			log_notice("steer: removed the pins this start made in %s",
				   st.dir);
		fclose(out);
		free(text);
		/* And the parents it made, up to the first one. */
		snprintf(path, sizeof(path), "%s", st.dir);
		while ((slash = strrchr(path, '/')) && strlen(path) > strlen(st.made)) {
			*slash = '\0';
			if (rmdir(path) < 0)
				break;
		}
	}
	st.made[0] = '\0';
	instance_unlock(st.lock_fd, NULL);
	st.lock_fd = -1;
}

int steer_listener_slots(struct worker *w, struct listener_slot *slots)
{
	return listener_share(w, slots, st.lsn_fd, st.lsn_addr, st.n_lsn, -1);
}

bool steer_active(void)
{
	return st.active;
}

int steer_read_counters(struct steer_port_counters *out, int max)
{
	struct ktlsd_port_key key, next;
	struct ktlsd_port_stats stats;
	void *prev = NULL;
	int n = 0;

	if (!st.active)
		return -1;
	while (n < max && bpf_map_get_next_key(st.map_fd[M_PORTS], prev, &next) == 0) {
		if (bpf_map_lookup_elem(st.map_fd[M_PORTS], &next, &stats) == 0) {
			out[n].port = next.port;
			steer_map_addr_text(next.addr, next.port, out[n].addr,
					    sizeof(out[n].addr));
			out[n].steered = stats.steered;
			out[n].dropped = stats.dropped;
			n++;
		}
		key = next;
		prev = &key;
	}
	return n;
}
