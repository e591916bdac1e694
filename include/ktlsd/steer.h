/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Port takeover: the layout shared by the sk_lookup program
 * (bpf/steer.bpf.c) and the daemon (daemon/steer.c). Fixed-width types only,
 * so both compilers agree on every offset. The maps are pinned and outlive
 * the daemon: change a layout here only together with KTLSD_STEER_LAYOUT.
 */
#ifndef KTLSD_STEER_SHARED_H
#define KTLSD_STEER_SHARED_H

#include <linux/types.h>

/* The pin directory's last component: a new layout gets a new directory. */
#define KTLSD_STEER_LAYOUT	"v3"

/* ktlsd_socks: where ktlsd's steering listeners are. */
#define KTLSD_SOCK_INET		0
#define KTLSD_SOCK_INET6	1
#define KTLSD_SOCK_MAX		2

#define KTLSD_MAX_PORTS		1024

/*
 * ktlsd_ports key: a local address and port taken over. IPv4 addresses are
 * v4-mapped; the wildcard of each family (::ffff:0.0.0.0 and ::) matches
 * every local address of that family. The program looks up the dialled
 * address first, then its family's wildcard.
 */
struct ktlsd_port_key {
	__u32 addr[4];		/* network byte order */
	__u16 port;		/* host byte order */
	__u8 protocol;		/* IPPROTO_TCP */
	__u8 pad;		/* zero */
};

/* ktlsd_ports value: what happened to connections for the port. */
struct ktlsd_port_stats {
	__u64 steered;		/* handed to ktlsd */
	__u64 dropped;		/* refused: ktlsd's listener was absent */
};

/*
 * ktlsd's own connections to a steered service must reach the service and
 * not come back to ktlsd. They leave from a source address of their own,
 * bound with IP_BIND_ADDRESS_NO_PORT so that connect() picks and shares
 * ports as for any outgoing connection (a port taken by bind() alone is
 * held for TIME_WAIT whatever the destination, and a busy port ran out of
 * them): the program passes a connection from that address to the normal
 * lookup. Nothing is written per connection, so an unprivileged process
 * can do it. IPv4: an address of 127.0.0.0/8, local without configuration,
 * and loopback, so TIME_WAIT ports are reused after a second even towards a
 * non-loopback backend (tcp_tw_reuse = 2); IPv6 has one loopback address
 * only, so ktlsd adds a deprecated /128 (never picked as a source by the
 * kernel itself) from a ULA prefix to lo.
 *
 * Only ktlsd may bind them: the cgroup bind hooks refuse a bind() to either
 * address (IPv4 also v4-mapped) in ktlsd's network namespace to every other
 * uid, and a connection from it to itself (the kernel's own choice when one
 * dials it) is not exempt.
 */
#define KTLSD_BACKEND_SRC4	"127.75.84.76"
#define KTLSD_BACKEND_SRC6	"fd6b:746c:7364::1"

/* ktlsd_guard, an array of one, written at every start. */
struct ktlsd_guard {
	__u32 src4;		/* network byte order; 0: no entry yet */
	__u32 src6[4];		/* network byte order */
	__u32 uid;		/* the only uid that may bind them */
	__u64 netns_cookie;	/* the namespace they are guarded in */
};

/*
 * Client-side redirection (bpf/redirect.bpf.c): a local application's
 * plaintext connect() to a secure server is sent to ktlsd instead, which
 * opens TLS to the original destination.
 */

/* ktlsd_csocks: ktlsd's redirect listeners, same indexes as ktlsd_socks. */

#define KTLSD_MAX_DSTS		4096
#define KTLSD_MAX_ORIGDST	65536

/*
 * An endpoint: ktlsd_dsts key (a secure server a Connection names), and
 * both key and value of ktlsd_origdst. IPv4 addresses are v4-mapped.
 */
struct ktlsd_endpoint {
	__u32 addr[4];		/* network byte order */
	__u16 port;		/* host byte order */
	__u16 pad;		/* zero */
};

/* ktlsd_dsts value: what happened to connects to that destination. */
struct ktlsd_dst_stats {
	__u64 redirected;	/* sent to ktlsd */
	__u64 refused;		/* failed with EPERM: ktlsd's listener was absent */
};

/* ktlsd_sk (socket storage): what the programs know about one socket. */
/* 1 marked ktlsd's own sockets before the connect hooks recognised them
 * by uid; pinned maps may still hold it on old sockets: never reuse it. */
#define KTLSD_SK_REDIRECTED	2	/* an application's, sent to ktlsd */

struct ktlsd_sk_state {
	__u32 flags;
	__u32 pad;
	struct ktlsd_endpoint orig;	/* KTLSD_SK_REDIRECTED: where it dialled */
};

#endif
