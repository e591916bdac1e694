// SPDX-License-Identifier: GPL-2.0
/*
 * Client-side redirection (the kernel side is bpf/redirect.bpf.c).
 *
 * For every application that names a cgroup and has Connections, the
 * connect4/connect6, sockops and getpeername4/6 programs are attached to
 * that cgroup. The servers' resolved addresses go into ktlsd_dsts; ktlsd's
 * redirect listeners (one per family, ephemeral loopback ports) go into
 * the ktlsd_csocks sockmap. A redirected connect() lands on a redirect
 * listener; the sockops program has published the original destination in
 * ktlsd_origdst under the application socket's source address, which is
 * the accepted socket's peer address, so redirect_claim() finds it with
 * getpeername() and one map lookup.
 *
 * Links and maps are pinned next to the port takeover's (steer.c), one
 * link per program and cgroup, named cg<cgroup inode>_<program>. While
 * ktlsd is down the programs stay attached and refuse redirected connects
 * (EPERM) rather than let them leave in plaintext. A start puts the
 * programs it loaded into the links an earlier run pinned, so that every
 * link knows this run's network process uid (ktlsd_worker_uid).
 *
 * The network process claims a record itself where the kernel lets an
 * unprivileged process use a handed map (Linux 6.5+); where it does not
 * (EPERM: 6.1 with kernel.unprivileged_bpf_disabled set), the parent
 * claims it on the network process's behalf (redirect_broker.c).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
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
#include "config_int.h"
#include "ktlsd/steer.h"
#include "log.h"
#include "redirect.h"
#include "redirect.skel.h"
#include "steer.h"

#define MAX_TARGETS_PER_CONN 16

static const char *const map_names[] = {
	"ktlsd_dsts", "ktlsd_csocks", "ktlsd_origdst", "ktlsd_sk",
};
#define N_MAPS (sizeof(map_names) / sizeof(map_names[0]))

static struct {
	bool active;
	char dir[BPF_UTIL_DIR_MAX];
	struct redirect_bpf *skel;
	int lsn_fd[BPF_UTIL_MAX_LISTENERS];
	struct cfg_addr lsn_addr[BPF_UTIL_MAX_LISTENERS];
	int n_lsn;
} rd;

/*
 * rd belongs to the main thread, which starts, updates (reload) and stops
 * redirection; the workers use ->active, ->skel's maps and the listeners
 * (redirect_exempt, redirect_claim, redirect_listener_slots). rd_lock
 * guards those fields between the two: the main thread holds it for
 * writing while it changes them (redirect_start, redirect_stop), a worker
 * for reading while it uses them. The main thread reads rd without it.
 */
static pthread_rwlock_t rd_lock = PTHREAD_RWLOCK_INITIALIZER;

/* The uid whose connects the hooks leave alone (set before load()). */
static uid_t worker_uid = (uid_t)-1;

/* Network process: the kernel refused it the map (EPERM); every later
 * claim goes to the parent straight away. */
static atomic_bool claim_direct_refused;

/* ---- endpoints --------------------------------------------------------- */

static int endpoint_of(const struct sockaddr_storage *ss, struct ktlsd_endpoint *e)
{
	memset(e, 0, sizeof(*e));
	return bpf_util_map_addr(ss, e->addr, &e->port);
}

static void endpoint_to_addr(const struct ktlsd_endpoint *e, struct cfg_addr *out)
{
	out->len = bpf_util_map_sockaddr(e->addr, e->port, &out->ss);
}

static bool same_endpoint(const struct cfg_addr *a, const struct cfg_addr *b)
{
	struct ktlsd_endpoint x, y;

	return endpoint_of(&a->ss, &x) == 0 && endpoint_of(&b->ss, &y) == 0 &&
	       !memcmp(&x, &y, sizeof(x));
}

/* ---- the plan: what a configuration redirects --------------------------- */

static const struct cfg_application *app_of(const struct ktlsd_config *cfg,
					    const struct cfg_connection *c)
{
	for (int i = 0; i < cfg->n_apps; i++)
		if (!strcmp(cfg->apps[i].name, c->application))
			return &cfg->apps[i];
	return NULL;
}

static int add_cgroup(const struct ktlsd_config *cfg, struct redirect_plan *plan,
		      const struct cfg_application *app, FILE *diag)
{
	char where[128], **grown;

	for (int i = 0; i < plan->n_cgroups; i++)
		if (!strcmp(plan->cgroups[i], app->cgroup))
			return 0;
	if (!bpf_util_is_cgroup2_dir(app->cgroup)) {
		cfg_label_app_name(app->name, where, sizeof(where));
		cfg_report(diag, cfg->path, app->cgroup_line, "error", where, "cgroup",
			   "%s: %s; give a directory of the cgroup v2 hierarchy "
			   "(e.g. /sys/fs/cgroup/router.slice) that exists",
			   app->cgroup, access(app->cgroup, F_OK) < 0 ?
			   strerror(errno) : "not a cgroup v2 directory");
		return 1;
	}
	grown = realloc(plan->cgroups, (plan->n_cgroups + 1) * sizeof(*grown));
	if (!grown)
		return 1;
	plan->cgroups = grown;
	plan->cgroups[plan->n_cgroups] = strdup(app->cgroup);
	return plan->cgroups[plan->n_cgroups++] ? 0 : 1;
}

static int add_targets(const struct ktlsd_config *cfg, struct redirect_plan *plan,
		       int ci, FILE *diag)
{
	const struct cfg_connection *c = &cfg->conns[ci];
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	char where[128];
	int rc, errors = 0, n = 0;

	cfg_label_conn(c, where, sizeof(where));
	rc = getaddrinfo(c->server_host, c->server_port, &hints, &res);
	if (rc) {
		cfg_report(diag, cfg->path, c->server_line, "error", where, "server",
			   "cannot resolve %s: %s; redirection needs the server's "
			   "addresses (write an address, or fix the name service)",
			   c->server_host, gai_strerror(rc));
		return 1;
	}
	for (ai = res; ai && n < MAX_TARGETS_PER_CONN; ai = ai->ai_next) {
		struct redirect_target t = { .conn_index = ci };
		struct redirect_target *grown;
		bool dup = false;

		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		memcpy(&t.addr.ss, ai->ai_addr, ai->ai_addrlen);
		t.addr.len = ai->ai_addrlen;
		for (int i = 0; i < plan->n_targets && !dup; i++) {
			if (!same_endpoint(&plan->targets[i].addr, &t.addr))
				continue;
			dup = true;
			if (plan->targets[i].conn_index != ci) {
				char txt[80];

				sockaddr_text(ai->ai_addr, txt, sizeof(txt));
				cfg_report(diag, cfg->path, c->server_line, "error",
					   where, "server", "%s is also the server of "
					   "[connection %s] (line %u); one destination "
					   "can have one set of client settings", txt,
					   cfg->conns[plan->targets[i].conn_index].name,
					   cfg->conns[plan->targets[i].conn_index].server_line);
				errors++;
			}
		}
		if (dup)
			continue;
		grown = realloc(plan->targets, (plan->n_targets + 1) * sizeof(*grown));
		if (!grown) {
			errors++;
			break;
		}
		plan->targets = grown;
		plan->targets[plan->n_targets++] = t;
		n++;
	}
	freeaddrinfo(res);
	return errors;
}

int redirect_plan_build(const struct ktlsd_config *cfg,
			struct redirect_plan **out, FILE *diag)
{
	struct redirect_plan *plan = calloc(1, sizeof(*plan));
	int errors = 0;

	*out = NULL;
	if (!plan)
		return 1;
	for (int i = 0; i < cfg->n_conns; i++) {
		const struct cfg_application *app = app_of(cfg, &cfg->conns[i]);

		if (!app || !app->cgroup)
			continue;	/* no cgroup: nothing to redirect */
		errors += add_cgroup(cfg, plan, app, diag);
		errors += add_targets(cfg, plan, i, diag);
	}
	if (errors) {
		redirect_plan_free(plan);
		return errors;
	}
	*out = plan;
	return 0;
}

void redirect_plan_free(struct redirect_plan *plan)
{
	if (!plan)
		return;
	for (int i = 0; i < plan->n_cgroups; i++)
		free(plan->cgroups[i]);
	free(plan->cgroups);
	free(plan->targets);
	free(plan);
}

/* ---- programs, links and maps ----------------------------------------- */

static struct bpf_program *const *programs(int *n)
{
	static struct bpf_program *progs[5];

	progs[0] = rd.skel->progs.ktlsd_connect4;
	progs[1] = rd.skel->progs.ktlsd_connect6;
	progs[2] = rd.skel->progs.ktlsd_sockops;
	progs[3] = rd.skel->progs.ktlsd_getpeername4;
	progs[4] = rd.skel->progs.ktlsd_getpeername6;
	*n = 5;
	return progs;
}

static void link_pin_path(unsigned long long ino, const struct bpf_program *p,
			  char *buf, size_t len)
{
	snprintf(buf, len, "%s/cg%llu_%s", rd.dir, ino, bpf_program__name(p));
}

/* Attach every program to CGROUP unless a pinned link already does. */
static int attach_cgroup(const char *cgroup)
{
	struct bpf_program *const *progs;
	char path[PATH_MAX];
	struct stat sb;
	int cg, n, rc = 0;

	cg = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg < 0 || fstat(cg, &sb) < 0) {
		log_err("redirect: cgroup %s: %s", cgroup, strerror(errno));
		if (cg >= 0)
			close(cg);
		return -1;
	}
	progs = programs(&n);
	for (int i = 0; i < n; i++) {
		struct bpf_link *link;
		int fd;

		link_pin_path((unsigned long long)sb.st_ino, progs[i], path, sizeof(path));
		fd = bpf_obj_get(path);
		if (fd >= 0) {
			/* Attached by an earlier run, maybe of an older ktlsd or
			 * for another uid: from now on it runs this program. */
			if (bpf_link_update(fd, bpf_program__fd(progs[i]), NULL) < 0) {
				log_err("redirect: cannot update %s on %s: %s",
					bpf_program__name(progs[i]), cgroup,
					strerror(errno));
				rc = -1;
			}
			close(fd);
			continue;
		}
		link = bpf_program__attach_cgroup(progs[i], cg);
		if (!link || bpf_link__pin(link, path) < 0) {
			log_err("redirect: cannot attach %s to %s: %s",
				bpf_program__name(progs[i]), cgroup, strerror(errno));
			rc = -1;
		}
		bpf_link__destroy(link);	/* the pin keeps it attached */
	}
	close(cg);
	if (rc == 0)
		log_notice("redirect: connects from cgroup %s to secure servers "
			   "go through ktlsd", cgroup);
	return rc;
}

static bool cgroup_wanted(const struct redirect_plan *plan, unsigned long long ino)
{
	struct stat sb;

	for (int i = 0; plan && i < plan->n_cgroups; i++)
		if (stat(plan->cgroups[i], &sb) == 0 && sb.st_ino == ino)
			return true;
	return false;
}

/* Unlink the link pins of cgroups PLAN does not name (all when NULL). */
static int detach_stale(const char *dir, const struct redirect_plan *plan, FILE *out)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[PATH_MAX];
	int rc = 0;

	if (!d)
		return errno == ENOENT ? 0 : -1;
	while ((de = readdir(d))) {
		unsigned long long ino;
		int used;

		if (sscanf(de->d_name, "cg%llu_%n", &ino, &used) != 1 || !used ||
		    cgroup_wanted(plan, ino))
			continue;
		bpf_util_pin_path(dir, de->d_name, path, sizeof(path));
		if (unlink(path) < 0) {
			rc = -1;
			continue;
		}
		if (!strcmp(de->d_name + used, "ktlsd_connect4")) {
			if (out)
				fprintf(out, "cgroup inode %llu: connects are no longer "
					"redirected\n", ino);
			else
				log_notice("redirect: cgroup inode %llu: connects are no "
					   "longer redirected", ino);
		}
	}
	closedir(d);
	return rc;
}

static bool dst_wanted(const void *key, void *plan_arg)
{
	const struct redirect_plan *plan = plan_arg;
	struct cfg_addr a;

	endpoint_to_addr(key, &a);
	for (int i = 0; plan && i < plan->n_targets; i++)
		if (same_endpoint(&plan->targets[i].addr, &a))
			return true;
	return false;
}

/* Make ktlsd_dsts list exactly PLAN's destinations; counters of those that
 * stay are kept. */
static int sync_dsts(const struct redirect_plan *plan)
{
	int fd = bpf_map__fd(rd.skel->maps.ktlsd_dsts);
	struct ktlsd_dst_stats zero = { 0 };
	struct ktlsd_endpoint key;
	int rc = 0;

	bpf_util_map_prune(fd, sizeof(key), dst_wanted, NULL, (void *)plan);
	for (int i = 0; plan && i < plan->n_targets; i++) {
		if (endpoint_of(&plan->targets[i].addr.ss, &key) < 0)
			continue;
		if (bpf_map_update_elem(fd, &key, &zero, BPF_NOEXIST) < 0 &&
		    errno != EEXIST) {
			log_err("redirect: cannot publish a destination: %s",
				strerror(errno));
			rc = -1;
		}
	}
	return rc;
}

static int load(void)
{
	struct bpf_map *maps[N_MAPS];

	rd.skel = redirect_bpf__open();
	if (!rd.skel) {
		log_err("redirect: cannot open the BPF object: %s", strerror(errno));
		return -1;
	}
	maps[0] = rd.skel->maps.ktlsd_dsts;
	maps[1] = rd.skel->maps.ktlsd_csocks;
	maps[2] = rd.skel->maps.ktlsd_origdst;
	maps[3] = rd.skel->maps.ktlsd_sk;
	rd.skel->rodata->ktlsd_worker_uid = (__u32)worker_uid;
	if (bpf_util_pin_maps(rd.dir, maps, map_names, N_MAPS) < 0)
		goto fail;
	if (redirect_bpf__load(rd.skel) < 0) {
		log_err("redirect: cannot load the cgroup programs: %s", strerror(errno));
		goto fail;
	}
	return 0;
fail:
	redirect_bpf__destroy(rd.skel);
	rd.skel = NULL;
	return -1;
}

static int open_listeners(void)
{
	int n = bpf_util_loopback_listeners(bpf_map__fd(rd.skel->maps.ktlsd_csocks),
					    rd.lsn_fd, rd.lsn_addr);
	char txt[80];

	if (n < 0)
		return -1;
	for (rd.n_lsn = 0; rd.n_lsn < n; rd.n_lsn++) {
		/* Said at start, so that an operator who finds ktlsd listening
		 * on a loopback port of its own knows what it is for. */
		sockaddr_text((struct sockaddr *)&rd.lsn_addr[rd.n_lsn].ss, txt,
			      sizeof(txt));
		log_notice("redirect: redirected connects arrive on %s", txt);
	}
	return 0;
}

static bool anything_pinned(const char *dir)
{
	char path[PATH_MAX];

	bpf_util_pin_path(dir, map_names[0], path, sizeof(path));
	return access(path, F_OK) == 0;
}

static void stop_locked(void);

/* redirect_start() without the active check, under rd_lock for writing. */
static int start_locked(const struct generation *gen)
{
	const struct redirect_plan *plan = gen->redirect;

	bpf_util_pin_dir(gen->cfg, rd.dir, sizeof(rd.dir));
	if ((!plan || !plan->n_cgroups) && !anything_pinned(rd.dir))
		return 0;
	if (steer_prepare_dir(rd.dir) < 0 || load() < 0)
		return -1;
	if (open_listeners() < 0) {
		stop_locked();
		return -1;
	}
	rd.active = true;
	if (redirect_update(gen) < 0) {
		stop_locked();
		return -1;
	}
	return 0;
}

int redirect_start(const struct generation *gen)
{
	int rc;

	if (rd.active)
		return redirect_update(gen);
	pthread_rwlock_wrlock(&rd_lock);
	rc = start_locked(gen);
	pthread_rwlock_unlock(&rd_lock);
	return rc;
}

int redirect_update(const struct generation *gen)
{
	const struct redirect_plan *plan = gen->redirect;
	int rc = 0;

	if (!rd.active)
		return plan && plan->n_cgroups ? redirect_start(gen) : 0;
	for (int i = 0; plan && i < plan->n_cgroups; i++)
		if (attach_cgroup(plan->cgroups[i]) < 0)
			rc = -1;
	if (detach_stale(rd.dir, plan, NULL) < 0)
		rc = -1;
	if (sync_dsts(plan) < 0)
		rc = -1;
	return rc;
}

static void stop_locked(void)
{
	for (int i = 0; i < rd.n_lsn; i++)
		close(rd.lsn_fd[i]);
	rd.n_lsn = 0;
	redirect_bpf__destroy(rd.skel);
	rd.skel = NULL;
	rd.active = false;
}

void redirect_stop(void)
{
	pthread_rwlock_wrlock(&rd_lock);
	stop_locked();
	pthread_rwlock_unlock(&rd_lock);
}

int redirect_unload(const char *dir, FILE *out)
{
	char path[PATH_MAX];
	int rc = 0;

	bpf_util_pin_path(dir, map_names[0], path, sizeof(path));
	bpf_util_print_pinned_keys(path, "server ", "no longer redirected; "
				   "applications reach it in plaintext again", out);
	if (detach_stale(dir, NULL, out) < 0)
		rc = -1;
	if (bpf_util_unpin(dir, map_names, N_MAPS) < 0)
		rc = -1;
	return rc;
}

/* ---- the data path ----------------------------------------------------- */

int redirect_network_fds(int *out, int max)
{
	int n = 0;

	if (!rd.active)
		return 0;
	for (int i = 0; i < rd.n_lsn && n < max; i++)
		if (rd.lsn_fd[i] >= 0)
			out[n++] = rd.lsn_fd[i];
	/* Per connection: the original destination, read from the map where
	 * the kernel allows it, else asked of the parent (see the README on
	 * unprivileged map use). */
	if (n < max)
		out[n++] = bpf_map__fd(rd.skel->maps.ktlsd_origdst);
	if (n < max && redirect_broker_child_fd() >= 0)
		out[n++] = redirect_broker_child_fd();
	return n;
}

int redirect_listener_slots(struct worker *w, struct listener_slot *slots)
{
	int n;

	pthread_rwlock_rdlock(&rd_lock);
	n = listener_share(w, slots, rd.lsn_fd, rd.lsn_addr, rd.n_lsn,
			   PORT_INDEX_REDIRECT);
	pthread_rwlock_unlock(&rd_lock);
	return n;
}

void redirect_set_worker_uid(uid_t uid)
{
	worker_uid = uid;
}

/* Consume the record of SRC from ktlsd_origdst. 0, or -1 with errno
 * (ENOENT: none). */
static int take_record(int map, const struct ktlsd_endpoint *src,
		       struct ktlsd_endpoint *dst)
{
	if (bpf_map_lookup_and_delete_elem(map, src, dst) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOTSUP && errno != 524 /* ENOTSUPP */)
		return -1;
	/* Before 5.14: no lookup-and-delete on hash maps. */
	if (bpf_map_lookup_elem(map, src, dst) < 0)
		return -1;
	bpf_map_delete_elem(map, src);
	return 0;
}

int redirect_take_origdst(const struct ktlsd_endpoint *src,
			  struct ktlsd_endpoint *dst)
{
	int rc = -1;

	pthread_rwlock_rdlock(&rd_lock);
	if (rd.active)
		rc = take_record(bpf_map__fd(rd.skel->maps.ktlsd_origdst), src, dst);
	pthread_rwlock_unlock(&rd_lock);
	return rc;
}

/* The network process's side: the map itself, or the parent when the
 * kernel refuses the map to a process without CAP_BPF. */
static int claim_locked(int fd, struct cfg_addr *orig)
{
	struct sockaddr_storage peer;
	socklen_t len = sizeof(peer);
	struct ktlsd_endpoint src, dst;
	int rc = -1;

	if (!rd.active || getpeername(fd, (struct sockaddr *)&peer, &len) < 0 ||
	    endpoint_of(&peer, &src) < 0)
		return -1;
	if (redirect_broker_forced() &&
	    !atomic_exchange(&claim_direct_refused, true))
		log_notice("redirect: KTLSD_REDIRECT_CLAIM=parent: the parent looks "
			   "up the original destinations");
	if (!atomic_load(&claim_direct_refused)) {
		/* Only the combined command passes the network filter. */
		rc = bpf_map_lookup_and_delete_elem(
			bpf_map__fd(rd.skel->maps.ktlsd_origdst), &src, &dst);
		if (rc < 0 && errno == ENOENT)
			return -1;	/* nothing recorded */
		/* EPERM on Linux before 6.5 while unprivileged bpf() is
		 * disabled; EINVAL before 5.14 (no lookup-and-delete on a
		 * hash map). Either way the parent can. */
		if (rc < 0 && !atomic_exchange(&claim_direct_refused, true))
			log_notice("redirect: the kernel refuses the network process "
				   "the original destinations (%s): the parent "
				   "looks them up for it", strerror(errno));
	}
	if (rc < 0 && redirect_broker_claim(&src, &dst) < 0)
		return -1;
	endpoint_to_addr(&dst, orig);
	return 0;
}

int redirect_claim(int fd, struct cfg_addr *orig)
{
	int rc;

	pthread_rwlock_rdlock(&rd_lock);
	rc = claim_locked(fd, orig);
	pthread_rwlock_unlock(&rd_lock);
	return rc;
}

int redirect_find(const struct generation *gen, const struct cfg_addr *orig)
{
	const struct redirect_plan *plan = gen->redirect;

	for (int i = 0; plan && i < plan->n_targets; i++)
		if (same_endpoint(&plan->targets[i].addr, orig))
			return plan->targets[i].conn_index;
	return -1;
}

static void take_dst_counters(const void *key, const void *value, int i,
			      void *out)
{
	const struct ktlsd_dst_stats *stats = value;
	struct redirect_counters *c = (struct redirect_counters *)out + i;

	endpoint_to_addr(key, &c->dst);
	c->redirected = stats->redirected;
	c->refused = stats->refused;
}

int redirect_read_counters(struct redirect_counters *out, int max)
{
	if (!rd.active)
		return -1;
	return bpf_util_map_values(bpf_map__fd(rd.skel->maps.ktlsd_dsts),
				   sizeof(struct ktlsd_endpoint),
				   sizeof(struct ktlsd_dst_stats), max,
				   take_dst_counters, out);
}
