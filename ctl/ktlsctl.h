/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ktlsctl's pieces: main and the command table (ktlsctl.c), the protocol
 * client (client.c), the commands' output (show.c, and stats.c for the
 * counters), the kernel's view of kTLS sockets (kernel_diag.c) and the JSON
 * string writer (json.c).
 */
#ifndef KTLSCTL_H
#define KTLSCTL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <netlink/attr.h>
#include <netlink/msg.h>

#include <ktlsd/ctl.h>

/* Exit codes, as documented in ktlsctl(8). */
enum {
	EXIT_OK = 0,
	EXIT_FAILED = 1,	/* the daemon refused or the command failed */
	EXIT_USAGE = 2,
	EXIT_UNREACHABLE = 3,	/* no daemon, or not allowed to talk to it */
};

struct ctl_opts {
	const char *socket;
	bool json;
	bool prometheus;
	const char *port;	/* sessions --port */
	const char *peer;	/* sessions --peer */
	const char *name;	/* explain NAME */
};

/* client.c */
/* Called for each reply message with its parsed attributes. */
typedef void (*ctl_reply_fn)(struct nlattr **tb, void *arg);
/*
 * Send a TYPE request (with the attributes EXTRA adds, may be NULL) to the
 * daemon at SOCKET and feed each reply message to FN. Transport problems
 * and error replies are printed to stderr. Returns an EXIT_* code;
 * *truncated tells whether the daemon cut the reply at its cap.
 */
int ctl_call(const char *socket, int type,
	     int (*extra)(struct nl_msg *msg, const struct ctl_opts *o),
	     const struct ctl_opts *o, ctl_reply_fn fn, void *arg,
	     bool *truncated);
const char *ctl_attr_str(struct nlattr **tb, int attr);	/* "" if absent */
uint64_t ctl_attr_u64(struct nlattr **tb, int attr);		/* 0 if absent */
/* The attributes inside NEST, checked against the reply policy; 0 or a
 * negative libnl error. */
int ctl_parse_nested(struct nlattr **tb, struct nlattr *nest);

/* kernel_diag.c */
struct kernel_ulp {
	char peer[64];		/* as the daemon writes it: "addr:port" */
	char text[160];		/* "tcp-ulp-tls version: 1.3 cipher: ..." */
};
/* Every established TCP socket with the tls ULP (needs CAP_NET_ADMIN for
 * the details). 0 with *OUT malloc'd, or -1. */
int kernel_ulp_dump(struct kernel_ulp **out, size_t *n);
const char *kernel_ulp_find(const struct kernel_ulp *v, size_t n, const char *peer);

/* json.c */
void json_string(FILE *out, const char *s);

/* show.c */
int cmd_status(const struct ctl_opts *o);
int cmd_sessions(const struct ctl_opts *o);
int cmd_reload(const struct ctl_opts *o);
int cmd_explain(const struct ctl_opts *o);

/* stats.c */
int cmd_stats(const struct ctl_opts *o);

#endif
