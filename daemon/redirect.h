/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Client-side redirection (redirect.c, kernel side bpf/redirect.bpf.c).
 *
 * An application with a cgroup and Connections to secure servers keeps
 * connecting in plaintext; cgroup connect hooks send those connects to a
 * ktlsd listener on loopback and remember where they were going. ktlsd
 * opens TLS to that destination with the Connection's settings and
 * forwards the application's plaintext over it.
 */
#ifndef KTLSD_REDIRECT_H
#define KTLSD_REDIRECT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "ktlsd.h"
#include "ktlsd/steer.h"

/* listener_slot.port_index of a redirect listener. */
#define PORT_INDEX_REDIRECT (-2)

/* One resolved address of a Connection's server. */
struct redirect_target {
	int conn_index;			/* into cfg->conns */
	struct cfg_addr addr;
};

/* What a generation redirects: built with it, immutable afterwards. */
struct redirect_plan {
	struct redirect_target *targets;
	int n_targets;
	char **cgroups;			/* distinct cgroup v2 directories */
	int n_cgroups;
};

/*
 * Resolve the servers of every Connection whose application names a cgroup
 * and check those cgroups. Problems go to DIAG as file:line errors; returns
 * the number of errors (*out is set, possibly empty, when there are none).
 */
int redirect_plan_build(const struct ktlsd_config *cfg,
			struct redirect_plan **out, FILE *diag);
void redirect_plan_free(struct redirect_plan *plan);

/*
 * Load or reuse the pinned programs and maps, open the redirect listeners,
 * attach to GEN's cgroups and publish its destinations. Does nothing when
 * nothing is redirected and nothing is pinned. 0 or -1 (logged).
 */
int redirect_start(const struct generation *gen);
/* After a reload: attach/detach cgroups, republish destinations. */
int redirect_update(const struct generation *gen);
/* Close the listeners; the pins stay, so redirected connects fail. */
void redirect_stop(void);
/* Remove the redirect pins from DIR (called by steer_unload); prints what
 * becomes plaintext again. 0 or -1. */
int redirect_unload(const char *dir, FILE *out);

/* For worker_sync_listeners(), like steer_listener_slots(). */
int redirect_listener_slots(struct worker *w, struct listener_slot *slots);
/* What a network process keeps: the redirect listeners, the original
 * destinations' map and its end of the parent's channel. */
int redirect_network_fds(int *out, int max);

/* Before redirect_start(): the uid of the network processes, whose
 * connects the hooks never redirect (ktlsd's own, to the real servers). */
void redirect_set_worker_uid(uid_t uid);
/* For a socket accepted on a redirect listener: where did the application
 * want to go? Fills ORIG (once: the record is consumed). 0 or -1. Network
 * process, any worker thread. */
int redirect_claim(int fd, struct cfg_addr *orig);
/* Parent: consume the record of an application socket whose source is
 * SRC (for redirect_broker.c). 0, or -1 (ENOENT: none). */
int redirect_take_origdst(const struct ktlsd_endpoint *src,
			  struct ktlsd_endpoint *dst);

/*
 * The parent's lookups for network processes the kernel refuses the map
 * (redirect_broker.c, redirect_ask.c). One SOCK_SEQPACKET socketpair per
 * network process. Parent main thread: prepare() before the fork, adopt()
 * after it (PID < 0: the fork failed); the parent answers on its main loop
 * and forgets a channel at its EOF. Network process: claim() from any
 * worker thread.
 */
int redirect_broker_prepare(void);
void redirect_broker_adopt(pid_t pid);

/* The messages (both ends are the same binary, forked). */
#define REDIRECT_ASK_TIMEOUT_S	5
struct redirect_ask_req {
	uint32_t seq;
	uint32_t pad;
	struct ktlsd_endpoint src;	/* the accepted socket's peer */
};
struct redirect_ask_ans {
	uint32_t seq;			/* the request's */
	uint32_t found;			/* 1: DST was recorded, now consumed */
	struct ktlsd_endpoint dst;
};

/* The rest is the network process's side (redirect_ask.c). FD: its end of
 * the channel, FORCE: KTLSD_REDIRECT_CLAIM=parent; (-1, false) in the
 * parent after the fork closes its copy. */
void redirect_ask_set_channel(int fd, bool force);
/* The network process's end (-1: none); kept across its fd clean-up. */
int redirect_broker_child_fd(void);
/* KTLSD_REDIRECT_CLAIM=parent: skip the map even where the kernel allows
 * it (tests use it to cover the parent's path on any kernel). */
bool redirect_broker_forced(void);
/* Ask the parent for SRC's record. 0, or -1 (none, or no answer). */
int redirect_broker_claim(const struct ktlsd_endpoint *src,
			  struct ktlsd_endpoint *dst);

/* The index of GEN's Connection whose server is ORIG, or -1. */
int redirect_find(const struct generation *gen, const struct cfg_addr *orig);

/* Per-destination counters for the control side. */
struct redirect_counters {
	struct cfg_addr dst;
	uint64_t redirected;		/* connects sent to ktlsd */
	uint64_t refused;		/* failed: ktlsd's listener was absent */
};
int redirect_read_counters(struct redirect_counters *out, int max);

#endif
