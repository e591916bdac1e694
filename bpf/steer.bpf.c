// SPDX-License-Identifier: GPL-2.0
/*
 * Port takeover with sk_lookup. For every new TCP connection in the network
 * namespace the kernel asks this program which socket takes it. Local
 * addresses and ports listed in ktlsd_ports go to ktlsd's steering listener (ktlsd_socks) even though
 * the plaintext service still listens on them; ktlsd terminates TLS and
 * connects to the service itself, from a source listed in ktlsd_exempt.
 *
 * Fail closed: when ktlsd's listener is gone (the daemon died or is
 * restarting) the kernel has already removed it from the sockmap, and a
 * connection to a listed port is dropped rather than passed to the
 * plaintext service.
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "ktlsd/bpf_addr.h"
#include "ktlsd/steer.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KTLSD_MAX_PORTS);
	__type(key, struct ktlsd_port_key);
	__type(value, struct ktlsd_port_stats);
} ktlsd_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, KTLSD_SOCK_MAX);
	__type(key, __u32);
	__type(value, __u64);
} ktlsd_socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KTLSD_MAX_EXEMPT);
	__type(key, struct ktlsd_exempt_key);
	__type(value, __u8);
} ktlsd_exempt SEC(".maps");

static __always_inline int is_exempt(const struct bpf_sk_lookup *ctx)
{
	struct ktlsd_exempt_key key = {};
	__u32 ip4 = ctx->remote_ip4;
	__u32 ip6_0 = ctx->remote_ip6[0], ip6_1 = ctx->remote_ip6[1];
	__u32 ip6_2 = ctx->remote_ip6[2], ip6_3 = ctx->remote_ip6[3];

	asm volatile("" : "+r"(ip4), "+r"(ip6_0), "+r"(ip6_1), "+r"(ip6_2),
		     "+r"(ip6_3));
	map_addr(key.addr, ctx->family, ip4, ip6_0, ip6_1, ip6_2, ip6_3);
	key.port = bpf_ntohs(ctx->remote_port);
	return bpf_map_lookup_elem(&ktlsd_exempt, &key) != NULL;
}

SEC("sk_lookup")
int ktlsd_steer(struct bpf_sk_lookup *ctx)
{
	struct ktlsd_port_key key = {};
	struct ktlsd_port_stats *stats;
	__u32 ip4, ip6_0, ip6_1, ip6_2, ip6_3;
	struct bpf_sock *sk;
	__u32 idx;
	long err;

	if (ctx->protocol != IPPROTO_TCP)
		return SK_PASS;
	/* Fixed-offset loads first (see map_addr()). */
	ip4 = ctx->local_ip4;
	ip6_0 = ctx->local_ip6[0];
	ip6_1 = ctx->local_ip6[1];
	ip6_2 = ctx->local_ip6[2];
	ip6_3 = ctx->local_ip6[3];
	asm volatile("" : "+r"(ip4), "+r"(ip6_0), "+r"(ip6_1), "+r"(ip6_2),
		     "+r"(ip6_3));
	key.port = (__u16)ctx->local_port;
	key.protocol = IPPROTO_TCP;
	map_addr(key.addr, ctx->family, ip4, ip6_0, ip6_1, ip6_2, ip6_3);
	stats = bpf_map_lookup_elem(&ktlsd_ports, &key);
	if (!stats) {
		/* The family's wildcard: ::ffff:0.0.0.0 or ::. */
		key.addr[0] = key.addr[1] = key.addr[3] = 0;
		if (ctx->family != AF_INET)
			key.addr[2] = 0;
		stats = bpf_map_lookup_elem(&ktlsd_ports, &key);
	}
	if (!stats)
		return SK_PASS;		/* not ours: normal lookup */
	if (is_exempt(ctx))
		return SK_PASS;		/* ktlsd itself, to the service */

	idx = ctx->family == AF_INET6 ? KTLSD_SOCK_INET6 : KTLSD_SOCK_INET;
	sk = bpf_map_lookup_elem(&ktlsd_socks, &idx);
	if (!sk) {
		__sync_fetch_and_add(&stats->dropped, 1);
		return SK_DROP;
	}
	err = bpf_sk_assign(ctx, sk, 0);
	bpf_sk_release(sk);
	if (err) {
		__sync_fetch_and_add(&stats->dropped, 1);
		return SK_DROP;
	}
	__sync_fetch_and_add(&stats->steered, 1);
	return SK_PASS;
}
