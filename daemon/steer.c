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
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf_util.h"
#include "ktlsd/steer.h"
#include "instance.h"
#include "log.h"
#include "redirect.h"
#include "steer.h"
#include "steer.skel.h"

static const char *const map_names[] = { "ktlsd_ports", "ktlsd_socks", "ktlsd_guard" };
enum { M_PORTS, M_SOCKS, M_GUARD, M__COUNT };
/* The pinned links: sk_lookup on the namespace, the bind guards on the
 * cgroup v2 root. */
static const char *const link_names[] = { "link", "bind4", "bind6" };
enum { L_LOOKUP, L_BIND4, L_BIND6, L__COUNT };

/*
 * st belongs to the main thread, which starts, updates (reload) and stops
 * steering, and reads it without a lock. The workers read two things:
 * ->active for every backend connection (steer_active: an atomic, set once
 * everything it stands for is in place), and the listeners when they
 * follow a reload (steer_listener_slots), which st_lock guards: the main
 * thread holds it for writing while it changes ->lsn_fd, ->lsn_addr and
 * ->n_lsn, a worker for reading while it copies them.
 */
static pthread_rwlock_t st_lock = PTHREAD_RWLOCK_INITIALIZER;

static struct {
	atomic_bool active;
	char dir[BPF_UTIL_DIR_MAX];
	int map_fd[M__COUNT];
	int lsn_fd[BPF_UTIL_MAX_LISTENERS];
	struct cfg_addr lsn_addr[BPF_UTIL_MAX_LISTENERS];
	int n_lsn;
	int lock_fd;			/* flock on the pin directory */
	char made[BPF_UTIL_DIR_MAX];	/* first directory this run created */
} st = { .map_fd = { -1, -1, -1 }, .lock_fd = -1 };

static bool any_steered(const struct ktlsd_config *cfg)
{
	for (int i = 0; i < cfg->n_ports; i++)
		if (cfg->ports[i].steer)
			return true;
	return false;
}

/* Prepare the pin directory (bpf_util.c) and lock it, so that a second
 * ktlsd on the same directory is refused (instance.c). */
int steer_prepare_dir(const char *dir)
{
	pid_t holder;

	if (bpf_util_prepare_dir(dir, st.made, sizeof(st.made)) < 0)
		return -1;
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

	bpf_util_pin_path(dir, link_names[L_LOOKUP], path, sizeof(path));
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
	bpf_util_unpin(dir, link_names, L__COUNT);
	bpf_util_unpin(dir, map_names, M__COUNT);
	return 0;
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
	bpf_util_pin_path(dir, link_names[which], path, sizeof(path));
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
	char cgroot[PATH_MAX];
	int netns = -1, cg = -1, rc = -1;

	if (bpf_util_cgroup2_root(cgroot, sizeof(cgroot), "by steer = yes, to "
				  "keep ktlsd's source address for ktlsd") < 0)
		return -1;
	skel = steer_bpf__open();
	if (!skel) {
		log_err("steer: cannot open the BPF object: %s", strerror(errno));
		return -1;
	}
	maps[M_PORTS] = skel->maps.ktlsd_ports;
	maps[M_SOCKS] = skel->maps.ktlsd_socks;
	maps[M_GUARD] = skel->maps.ktlsd_guard;
	if (bpf_util_pin_maps(dir, maps, map_names, M__COUNT) < 0)
		goto out;
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
		bpf_util_pin_path(dir, map_names[i], path, sizeof(path));
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

static int port_key_of(const struct cfg_addr *a, struct ktlsd_port_key *key)
{
	memset(key, 0, sizeof(*key));
	key->protocol = IPPROTO_TCP;
	return bpf_util_map_addr(&a->ss, key->addr, &key->port);
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

static bool port_kept(const void *key, void *cfg)
{
	return port_wanted(cfg, key);
}

static void port_gone(const void *key, void *cfg)
{
	const struct ktlsd_port_key *k = key;
	char txt[80];

	bpf_util_map_addr_text(k->addr, k->port, txt, sizeof(txt));
	log_notice("steer: %s no longer steered", txt);
}

/* Make ktlsd_ports list exactly CFG's steered addresses and ports;
 * counters of those that stay are kept. */
static int sync_ports(const struct ktlsd_config *cfg)
{
	struct ktlsd_port_stats zero = { 0 };
	struct ktlsd_port_key key;
	char txt[80];
	int rc = 0;

	bpf_util_map_prune(st.map_fd[M_PORTS], sizeof(key), port_kept, port_gone,
			   (void *)cfg);
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

int steer_start(const struct ktlsd_config *cfg)
{
	int linked;

	if (st.active)
		return steer_update(cfg);
	bpf_util_pin_dir(cfg, st.dir, sizeof(st.dir));
	if (!any_steered(cfg) && access(st.dir, F_OK) < 0)
		return 0;
	if (steer_prepare_dir(st.dir) < 0)
		return -1;
	linked = check_pinned_link(st.dir);
	if (linked < 0 || (linked == 0 && load_and_pin(st.dir) < 0))
		return -1;
	if (open_maps(st.dir) < 0 || steer_source_setup(st.map_fd[M_GUARD]) < 0)
		goto fail;
	pthread_rwlock_wrlock(&st_lock);
	st.n_lsn = bpf_util_loopback_listeners(st.map_fd[M_SOCKS], st.lsn_fd,
					       st.lsn_addr);
	if (st.n_lsn < 0)
		st.n_lsn = 0;
	pthread_rwlock_unlock(&st_lock);
	if (st.n_lsn == 0)
		goto fail;
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
	st.active = false;
	pthread_rwlock_wrlock(&st_lock);
	for (int i = 0; i < st.n_lsn; i++)
		close(st.lsn_fd[i]);
	st.n_lsn = 0;
	pthread_rwlock_unlock(&st_lock);
	close_maps();
}

static int unload_dir(const char *dir, FILE *out)
{
	char path[PATH_MAX];
	int rc = 0;

	if (access(dir, F_OK) < 0) {
		fprintf(out, "nothing pinned in %s: no port is steered\n", dir);
		return 0;
	}
	bpf_util_pin_path(dir, map_names[M_PORTS], path, sizeof(path));
	bpf_util_print_pinned_keys(path, "", "no longer steered; connections reach "
				   "the service in plaintext again", out);
	if (bpf_util_unpin(dir, link_names, L__COUNT) < 0)
		rc = -1;
	steer_source_remove();
	if (bpf_util_unpin(dir, map_names, M__COUNT) < 0)
		rc = -1;
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
	char dir[BPF_UTIL_DIR_MAX];

	bpf_util_pin_dir(cfg, dir, sizeof(dir));
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
		char path[BPF_UTIL_DIR_MAX];
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

int steer_network_fds(int *out, int max)
{
	int n = 0;

	for (int i = 0; i < st.n_lsn && n < max; i++)
		if (st.lsn_fd[i] >= 0)
			out[n++] = st.lsn_fd[i];
	return n;
}

int steer_listener_slots(struct worker *w, struct listener_slot *slots)
{
	int n;

	pthread_rwlock_rdlock(&st_lock);
	n = listener_share(w, slots, st.lsn_fd, st.lsn_addr, st.n_lsn, -1);
	pthread_rwlock_unlock(&st_lock);
	return n;
}

bool steer_active(void)
{
	return st.active;
}

static void take_port_counters(const void *key, const void *value, int i,
			       void *out)
{
	const struct ktlsd_port_key *k = key;
	const struct ktlsd_port_stats *stats = value;
	struct steer_port_counters *c = (struct steer_port_counters *)out + i;

	c->port = k->port;
	bpf_util_map_addr_text(k->addr, k->port, c->addr, sizeof(c->addr));
	c->steered = stats->steered;
	c->dropped = stats->dropped;
}

int steer_read_counters(struct steer_port_counters *out, int max)
{
	if (!st.active)
		return -1;
	return bpf_util_map_values(st.map_fd[M_PORTS], sizeof(struct ktlsd_port_key),
				   sizeof(struct ktlsd_port_stats), max,
				   take_port_counters, out);
}
