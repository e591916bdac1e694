/* SPDX-License-Identifier: GPL-2.0 */
/*
 * BPF plumbing shared by the port takeover (steer.c) and client-side
 * redirection (redirect.c): where the pins live, the maps' address form,
 * walks over a map's keys, the loopback listeners the sockmaps point at,
 * and the cgroup v2 hierarchy the cgroup programs attach to. Nothing here
 * knows what a map means.
 */
#ifndef KTLSD_BPF_UTIL_H
#define KTLSD_BPF_UTIL_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/socket.h>
#include <linux/types.h>

#include "ktlsd.h"

struct bpf_map;

#define BPF_UTIL_DEFAULT_PIN_DIR "/sys/fs/bpf/ktlsd"
/* bpf-pin-dir (at most 107 bytes) plus the layout component ("/v3"). */
#define BPF_UTIL_DIR_MAX 128
/* One loopback listener per address family. */
#define BPF_UTIL_MAX_LISTENERS 2

/* ---- pins ---- */

/* <bpf-pin-dir>/<layout version> of CFG (the default when CFG is NULL or
 * names none). */
void bpf_util_pin_dir(const struct ktlsd_config *cfg, char *buf, size_t len);
/* DIR/NAME into BUF. */
void bpf_util_pin_path(const char *dir, const char *name, char *buf, size_t len);
/* Mount bpffs at /sys/fs/bpf if DIR is below it and it is not there yet,
 * then create DIR and its parents; anything not on bpffs is refused. The
 * first directory this made goes to MADE (MADE_LEN bytes; left alone when
 * MADE is NULL or not empty). 0 or -1 (logged). */
int bpf_util_prepare_dir(const char *dir, char *made, size_t made_len);
/* Give each of the N maps the pin DIR/NAMES[i], so that loading reuses
 * the pinned ones and pins the others. 0 or -1. */
int bpf_util_pin_maps(const char *dir, struct bpf_map *const *maps,
		      const char *const *names, int n);
/* Unlink DIR/NAMES[i] for the N names; a missing one is fine. 0, or -1
 * when one could not be removed. */
int bpf_util_unpin(const char *dir, const char *const *names, int n);

/* ---- addresses as the maps store them ---- */

/* IPv4 v4-mapped, port in host order; -1 for other families. */
int bpf_util_map_addr(const struct sockaddr_storage *ss, __u32 addr[4], __u16 *port);
/* Back to a socket address (v4-mapped becomes AF_INET); its length. */
socklen_t bpf_util_map_sockaddr(const __u32 addr[4], __u16 port,
				struct sockaddr_storage *ss);
void bpf_util_map_addr_text(const __u32 addr[4], __u16 port, char *buf, size_t len);

/*
 * The keys of ktlsd_ports, ktlsd_dsts and ktlsd_origdst alike start with
 * an address and a port (include/ktlsd/steer.h).
 */
struct bpf_util_addr_key {
	__u32 addr[4];
	__u16 port;
	__u16 rest;
};

/* ---- walks over a map's keys ---- */

/* FN(KEY, ARG) for each key of map FD (KEY_SIZE bytes, at most 64) until
 * FN returns non-zero. Returns how many keys FN saw. */
int bpf_util_map_walk(int fd, size_t key_size,
		      int (*fn)(const void *key, void *arg), void *arg);
/* Delete every key of map FD for which KEEP(KEY, ARG) is false, telling
 * GONE (when not NULL) of each. Deleting restarts the kernel's walk, so
 * this goes in rounds. Returns how many were deleted. */
int bpf_util_map_prune(int fd, size_t key_size,
		       bool (*keep)(const void *key, void *arg),
		       void (*gone)(const void *key, void *arg), void *arg);
/* For at most MAX keys of map FD whose value (VALUE_SIZE bytes, at most
 * 64) can be read: TAKE(KEY, VALUE, I, ARG), I counting from 0. Returns
 * how many were taken. */
int bpf_util_map_values(int fd, size_t key_size, size_t value_size, int max,
			void (*take)(const void *key, const void *value, int i, void *arg),
			void *arg);
/* Print "PREFIXADDRESS: WHAT" for each key of the pinned map at PATH, a
 * map whose keys are a struct bpf_util_addr_key. */
void bpf_util_print_pinned_keys(const char *path, const char *prefix,
				const char *what, FILE *out);

/* ---- loopback listeners registered in a sockmap ---- */

/*
 * One listener per family on an ephemeral loopback port, each registered
 * at its family's index (KTLSD_SOCK_INET, KTLSD_SOCK_INET6) of the sockmap
 * SOCKMAP_FD; their fds and addresses go to FDS and ADDRS (room for
 * BPF_UTIL_MAX_LISTENERS). IPv6 is optional. The count, or -1 (logged,
 * nothing left open) without an IPv4 one.
 */
int bpf_util_loopback_listeners(int sockmap_fd, int *fds, struct cfg_addr *addrs);

/* ---- the cgroup v2 hierarchy ---- */

bool bpf_util_is_cgroup2_dir(const char *path);
/* The hierarchy's root, into ROOT: programs attached there see every
 * process. Mounted at /sys/fs/cgroup when no cgroup2 is mounted and that
 * directory is no mount point of its own (as a v1 hierarchy's would be).
 * 0 or -1 (logged, WHY says what it was needed for). */
int bpf_util_cgroup2_root(char *root, size_t len, const char *why);

#endif
