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
#include <sys/socket.h>
#include <linux/types.h>

#include "ktlsd.h"

#define STEER_DEFAULT_PIN_DIR "/sys/fs/bpf/ktlsd"
#define STEER_MAX_LISTENERS 2
/* bpf-pin-dir (at most 107 bytes) plus "/v3". */
#define STEER_DIR_MAX 128

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
/* Remove the pins; prints which ports become plaintext again. 0 or -1. */
int steer_unload(const struct ktlsd_config *cfg, FILE *out);

/* For worker_sync_listeners(): append this worker's slots for the steering
 * listeners to SLOTS (room for STEER_MAX_LISTENERS), reusing the worker's
 * current ones. Returns how many were added. */
int steer_listener_slots(struct worker *w, struct listener_slot *slots);

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
/* At --unload: remove the IPv6 source address from lo. */
void steer_source_remove(void);

/* Addresses as the maps store them: IPv4 v4-mapped, port in host order.
 * steer_map_addr() returns -1 for other families. */
int steer_map_addr(const struct sockaddr_storage *ss, __u32 addr[4], __u16 *port);
/* Print "PREFIXADDRESS: WHAT" for each key of the pinned map at PATH (a
 * map whose keys start with an address and a port). */
void steer_print_pinned_keys(const char *path, const char *prefix,
			     const char *what, FILE *out);
/* Back to a socket address (v4-mapped becomes AF_INET); its length. */
socklen_t steer_map_sockaddr(const __u32 addr[4], __u16 port,
			     struct sockaddr_storage *ss);
void steer_map_addr_text(const __u32 addr[4], __u16 port, char *buf, size_t len);

/* Shared with redirect.c, which pins its maps in the same directory. */
void steer_pin_dir(const struct ktlsd_config *cfg, char *buf, size_t len);
/* Create DIR on bpffs and take this daemon's lock on it (once); -1 (logged)
 * when that fails or another ktlsd holds it. */
int steer_prepare_dir(const char *dir);
/* A listener on an ephemeral loopback port of FAMILY, registered at INDEX
 * of the sockmap SOCKMAP_FD; its address goes to OUT. The fd, or -1. */
int steer_loopback_listener(int family, int sockmap_fd, __u32 index,
			    struct cfg_addr *out);

/* Per-port counters; fills up to MAX entries, returns the count or -1. */
int steer_read_counters(struct steer_port_counters *out, int max);

#endif
