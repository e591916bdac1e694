/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The network processes and the parent's side of them (netproc.c).
 * Parent main thread only.
 */
#ifndef KTLSD_NETPROC_H
#define KTLSD_NETPROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct ctl_request;
struct ctl_outq;

/* Once at start: WORKERS threads per network process, run as USER ("" or
 * NULL: ktlsd) when ktlsd was started as root. */
int netproc_setup(const char *user, int workers, char *err, size_t errlen);
/* Fork a network process for the current generation and wait until it
 * serves; then every older one drains. -1 with a sentence in ERR. */
int netproc_start(char *err, size_t errlen);
/* PID has exited (HOW says how): forget it, and replace it if it was the
 * one serving. 0: PID was no network process; 1: handled; -1: the serving
 * one could not be replaced (or died too often): the daemon should stop. */
int netproc_child_exited(pid_t pid, const char *how);
/* The key holder was restarted: give every network process a new sign
 * channel. */
void netproc_new_signers(void);
bool netproc_active(void);
pid_t netproc_serving_pid(void);
/* The sessions of every network process, as control reply packets. */
void netproc_sessions(const struct ctl_request *req, struct ctl_outq *q);
/* Established sessions and, in *HANDSHAKES, handshakes, all processes. */
unsigned int netproc_count(unsigned int *handshakes);
/* SIGTERM to every network process, and wait for them. */
void netproc_stop_all(void);

#endif
