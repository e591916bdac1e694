/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Port takeover with eBPF (steer.c): ports with steer = yes are taken from
 * the plaintext service that keeps listening on them. An sk_lookup program
 * hands their connections to one ktlsd "steering" listener on an ephemeral
 * loopback port, and drops them while that listener is absent (fail
 * closed). Program, link and maps are pinned in bpffs, so the takeover
 * outlives the daemon until `ktlsd --unload`.
 */
#ifndef KTLSD_STEER_H
#define KTLSD_STEER_H

#include <stdint.h>
#include <stdio.h>

#include "bpf_util.h"
#include "ktlsd.h"

/* What the control side shows per steered port. */
struct steer_port_counters {
	char addr[64];		/* "127.0.0.1:7001" */
	uint16_t port;
	uint64_t steered;	/* connections handed to ktlsd */
	uint64_t dropped;	/* refused while ktlsd's listener was absent */
};

/*
 * Load or reuse the pinned program and maps, open the steering listeners,
 * register them and publish CFG's steered ports. Does nothing when no port
 * is steered and nothing is pinned. Call before workers_start(). 0 or -1
 * (logged).
 */
int steer_start(const struct ktlsd_config *cfg);
/* After a reload: publish CFG's steered ports (no socket is rebound). */
int steer_update(const struct ktlsd_config *cfg);
/* Close the steering listeners; the pins stay, so the ports stay closed. */
void steer_stop(void);
/*
 * At exit, after steer_stop() and redirect_stop(): release the lock on the
 * pin directory. FAILED (the daemon did not start): first remove the pins
 * and directories this start created, so a failed start leaves nothing.
 */
void steer_finish(bool failed);
/* For redirect.c too, which pins in the same directory: prepare the pin
 * directory DIR (bpf_util_prepare_dir()) and lock it against a second
 * ktlsd. 0 or -1 (logged). */
int steer_prepare_dir(const char *dir);
/* Remove the pins; prints which ports become plaintext again. 0 or -1. */
int steer_unload(const struct ktlsd_config *cfg, FILE *out);

/* For worker_sync_listeners(): append this worker's slots for the steering
 * listeners to SLOTS (room for BPF_UTIL_MAX_LISTENERS), reusing the worker's
 * current ones. Returns how many were added. */
int steer_listener_slots(struct worker *w, struct listener_slot *slots);
/* What a network process keeps of the steering: the listening sockets
 * the programs hand connections to; no map (its backend connections are
 * exempt by their source address, which needs no bpf() call). */
int steer_network_fds(int *out, int max);

/* Whether steering is running (steer_start() succeeded). */
bool steer_active(void);

/* steer_source.c: ktlsd's own source addresses towards steered services. */
/* Before connect() to PORT's backend, when PORT is steered: bind FD to
 * ktlsd's source address of the backend's family, leaving the port to
 * connect(), so that the connection reaches the service. No bpf() call.
 * 0 or -1 (errno set). */
int steer_backend_bind(int fd, const struct cfg_port *port);
/* At start, privileged: write ktlsd_guard (map GUARD_MAP_FD) and add the
 * IPv6 source address to lo. 0 or -1 (logged). */
int steer_source_setup(int guard_map_fd);
/* The only uid that may bind the backend source addresses: the network
 * processes'. Before steer_start. */
void steer_set_worker_uid(uid_t uid);
/* At --unload: remove the IPv6 source address from lo. */
void steer_source_remove(void);

/* Per-port counters; fills up to MAX entries, returns the count or -1. */
int steer_read_counters(struct steer_port_counters *out, int max);

#endif
