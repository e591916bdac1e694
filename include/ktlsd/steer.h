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
#define KTLSD_STEER_LAYOUT	"v2"

/* ktlsd_socks: where ktlsd's steering listeners are. */
#define KTLSD_SOCK_INET		0
#define KTLSD_SOCK_INET6	1
#define KTLSD_SOCK_MAX		2

#define KTLSD_MAX_PORTS		1024
#define KTLSD_MAX_EXEMPT	65536

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
 * ktlsd_exempt key: the source of one of ktlsd's own connections to the
 * service, which must reach the service and not come back to ktlsd. IPv4
 * addresses are stored v4-mapped (::ffff:a.b.c.d).
 */
struct ktlsd_exempt_key {
	__u32 addr[4];		/* network byte order */
	__u16 port;		/* host byte order */
	__u16 pad;		/* zero */
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
#define KTLSD_SK_EXEMPT		1	/* ktlsd's own: never redirected */
#define KTLSD_SK_REDIRECTED	2	/* an application's, sent to ktlsd */

struct ktlsd_sk_state {
	__u32 flags;
	__u32 pad;
	struct ktlsd_endpoint orig;	/* KTLSD_SK_REDIRECTED: where it dialled */
};

#endif
