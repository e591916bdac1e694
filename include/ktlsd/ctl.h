/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The ktlsd control protocol, spoken over the AF_UNIX SOCK_SEQPACKET socket
 * named by [ktlsd] control-socket (default /run/ktlsd/control).
 *
 * Every packet is exactly one netlink-format message: a struct nlmsghdr
 * followed by attributes (struct nlattr), built and parsed with libnl.
 *
 *   request   one message of type CTL_MSG_*, flags NLM_F_REQUEST, carrying
 *             CTL_A_PROTO_VERSION (u32) and the command's own attributes;
 *             at most CTL_REQUEST_MAX bytes.
 *   reply     one or more messages of the request's type with NLM_F_MULTI
 *             (each at most CTL_REPLY_MAX bytes), then one NLMSG_DONE.
 *   error     one CTL_MSG_ERROR message carrying CTL_A_ERRNO and
 *             CTL_A_ERROR; it ends the reply. After an error about the
 *             request itself (malformed, truncated, oversized, wrong
 *             version) or about the peer (not authorised) the daemon closes
 *             the connection.
 *
 * nlmsg_seq of the reply echoes the request's, with one exception: a peer
 * refused at connection time (not authorised) gets its CTL_MSG_ERROR
 * before the daemon has read any request, so that error carries
 * CTL_SEQ_CONNECTION (0); clients must take it as the answer. Attribute numbers are
 * shared by all messages; each message uses the subset listed at its type.
 * New attributes may be added at the end; numbers never change meaning.
 */
#ifndef KTLSD_CTL_H
#define KTLSD_CTL_H

#include <linux/netlink.h>

#define CTL_PROTO_VERSION	1
#define CTL_DEFAULT_SOCKET	"/run/ktlsd/control"
#define CTL_REQUEST_MAX		4096
#define CTL_REPLY_MAX		8192
/* Longest text (reload diagnostics, explain) carried by one message. */
#define CTL_TEXT_CHUNK		4096
/* The sequence number of an error about the connection, not a request. */
#define CTL_SEQ_CONNECTION	0

enum ctl_msg_type {
	CTL_MSG_STATUS = NLMSG_MIN_TYPE,	/* daemon, kernel, config */
	CTL_MSG_SESSIONS,	/* one reply message per session */
	CTL_MSG_STATS,		/* the counters */
	CTL_MSG_RELOAD,		/* re-read the configuration */
	CTL_MSG_EXPLAIN,	/* effective settings of the running config */
	CTL_MSG_ERROR,		/* see above */
	CTL_MSG__END,
};

enum ctl_attr {
	CTL_A_UNSPEC,
	/* every request; every STATUS reply */
	CTL_A_PROTO_VERSION,	/* u32 */
	/* CTL_MSG_ERROR */
	CTL_A_ERRNO,		/* u32, a positive errno value */
	CTL_A_ERROR,		/* string */
	/* STATUS reply */
	CTL_A_DAEMON_VERSION,	/* string */
	CTL_A_STARTED,		/* u64, seconds since the epoch */
	CTL_A_NOW,		/* u64, daemon's clock, seconds since the epoch */
	CTL_A_KTLS_AVAILABLE,	/* u8 */
	CTL_A_KTLS_WHY,		/* string, when not available */
	CTL_A_CONFIG_PATH,	/* string */
	CTL_A_CONFIG_LOADED,	/* u64, seconds since the epoch */
	CTL_A_WORKERS,		/* u32 */
	CTL_A_N_SESSIONS,	/* u32, established sessions */
	CTL_A_N_HANDSHAKES,	/* u32, handshakes in progress */
	CTL_A_N_PORTS,		/* u32, secure ports of the configuration */
	/* SESSIONS request filters */
	CTL_A_FILTER_PORT,	/* string: port name, or its listening port */
	CTL_A_FILTER_PEER,	/* string: peer address (with or without :port) */
	/* SESSIONS reply, one message per session */
	CTL_A_S_PEER,		/* string "[addr]:port" */
	CTL_A_S_PORT,		/* string, port name */
	CTL_A_S_APPLICATION,	/* string */
	CTL_A_S_TLS_VERSION,	/* string "TLSv1.3" */
	CTL_A_S_CIPHER,		/* string, OpenSSL's name */
	CTL_A_S_MODE,		/* u8, enum ctl_session_mode */
	CTL_A_S_MODE_WHY,	/* string, why userspace */
	CTL_A_S_PEER_SUBJECT,	/* string, "" without a client certificate */
	CTL_A_S_BYTES_IN,	/* u64, plaintext client -> service */
	CTL_A_S_BYTES_OUT,	/* u64, plaintext service -> client */
	CTL_A_S_STARTED,	/* u64, seconds since the epoch */
	/* STATS reply: one u64 per counter, numbered from CTL_A_C_FIRST in
	 * the order of enum ctl_counter */
	CTL_A_C_FIRST,
	/* EXPLAIN request */
	CTL_A_NAME = CTL_A_C_FIRST + 16,	/* string: port or connection */
	/* RELOAD and EXPLAIN replies */
	CTL_A_TEXT,		/* string, a piece of the output, in order */
	CTL_A_RESULT,		/* u32: 0 done, 1 refused / failed */
	CTL_A_TRUNCATED,	/* u8 in NLMSG_DONE: the reply hit its cap */
	/*
	 * STATS reply, added later: a client that does not know them skips
	 * them. The first message carries the kernel's kTLS statistics and
	 * whether steering is active; the per-port steering counters may
	 * follow in further messages (CTL_A_STEER_PORTS in each), so a
	 * client gathers them until NLMSG_DONE.
	 */
	CTL_A_KSTATS,		/* nested: CTL_A_KSTAT, in /proc/net/tls_stat order */
	CTL_A_KSTATS_WHY,	/* string, instead of CTL_A_KSTATS when the
				 * daemon cannot read /proc/net/tls_stat */
	CTL_A_KSTAT,		/* nested: one line of /proc/net/tls_stat */
	CTL_A_KSTAT_NAME,	/* string, "TlsTxSw" */
	CTL_A_KSTAT_VALUE,	/* u64 */
	CTL_A_STEER_ACTIVE,	/* u8: the port takeover (eBPF) is loaded */
	CTL_A_STEER_PORTS,	/* nested: CTL_A_STEER_PORT */
	CTL_A_STEER_PORT,	/* nested: one steered port's counters */
	CTL_A_SP_PORT,		/* u16, TCP port */
	CTL_A_SP_STEERED,	/* u64, connections handed to ktlsd */
	CTL_A_SP_DROPPED,	/* u64, refused while ktlsd's listener was absent */
	/* Added later, inside CTL_A_STEER_PORTS too: */
	CTL_A_SP_ADDR,		/* string, "127.0.0.1:7001", in CTL_A_STEER_PORT
				 * and CTL_A_REDIRECT_DST */
	CTL_A_REDIRECT_DST,	/* nested: a secure server that connects from
				 * an application's cgroup are redirected for:
				 * CTL_A_SP_ADDR, CTL_A_SP_STEERED (redirected to
				 * ktlsd), CTL_A_SP_DROPPED (refused: ktlsd's
				 * listener was absent) */
	CTL_A__END,
};
#define CTL_A_MAX (CTL_A__END - 1)

enum ctl_session_mode {
	CTL_MODE_HANDSHAKE = 0,
	CTL_MODE_KTLS,
	CTL_MODE_USERSPACE,
};

enum ctl_counter {
	CTL_C_ACCEPTED,
	CTL_C_HANDSHAKES_OK,
	CTL_C_HANDSHAKES_FAILED,
	CTL_C_HANDSHAKE_TIMEOUTS,
	CTL_C_REFUSED_HANDSHAKE_CAP,
	CTL_C_REFUSED_SESSION_CAP,
	CTL_C_BACKEND_FAILED,
	CTL_C_SESSIONS_KTLS,		/* gauge */
	CTL_C_SESSIONS_USERSPACE,	/* gauge */
	CTL_C_BYTES_TO_BACKEND,
	CTL_C_BYTES_TO_CLIENT,
	CTL_C_KEYUPDATE_CLOSED,
	CTL_C_RESET_BEFORE_BACKEND,
	CTL_C_REFUSED_PER_SOURCE,	/* max-handshakes-per-source */
	CTL_C_EVICTED_NO_HELLO,		/* closed for a newcomer before a
					 * complete ClientHello */
	CTL_C_HELLO_TIMEOUTS,		/* hello-timeout passed */
	CTL_C__COUNT,			/* at most 16: see CTL_A_NAME */
};

#endif
