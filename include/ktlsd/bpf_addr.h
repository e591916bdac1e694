/* SPDX-License-Identifier: GPL-2.0 */
/* For the BPF programs only (bpf/): addresses as the maps hold them. */
#ifndef KTLSD_BPF_ADDR_H
#define KTLSD_BPF_ADDR_H

#ifndef AF_INET
#define AF_INET		2
#define AF_INET6	10
#endif

/*
 * ADDR as the maps store it (IPv4 v4-mapped). The callers read every
 * context field at its fixed offset first and hide the values from the
 * optimiser: the verifier refuses a context load through a pointer the
 * compiler computed per branch, or one load through a selected address.
 */
static __always_inline void map_addr(__u32 addr[4], __u32 family, __u32 ip4,
				     __u32 ip6_0, __u32 ip6_1, __u32 ip6_2,
				     __u32 ip6_3)
{
	if (family == AF_INET) {
		addr[0] = 0;
		addr[1] = 0;
		addr[2] = bpf_htonl(0x0000ffff);
		addr[3] = ip4;
	} else {
		addr[0] = ip6_0;
		addr[1] = ip6_1;
		addr[2] = ip6_2;
		addr[3] = ip6_3;
	}
}

#endif
