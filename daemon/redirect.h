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

#include <stdio.h>

#include "ktlsd.h"

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
/* What a network process keeps: the redirect listeners and the two maps
 * it uses per connection. */
int redirect_network_fds(int *out, int max);

/* Mark FD, one of ktlsd's own client sockets, as never redirected. */
int redirect_exempt(int fd);
/* For a socket accepted on a redirect listener: where did the application
 * want to go? Fills ORIG (once: the record is consumed). 0 or -1. */
int redirect_claim(int fd, struct cfg_addr *orig);
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
