// SPDX-License-Identifier: GPL-2.0
/*
 * Port takeover with sk_lookup. For every new TCP connection in the network
 * namespace the kernel asks this program which socket takes it. Local
 * addresses and ports listed in ktlsd_ports go to ktlsd's steering listener (ktlsd_socks) even though
 * the plaintext service still listens on them; ktlsd terminates TLS and
 * connects to the service itself, from its own source address, which
 * this program lets through (see struct ktlsd_guard) and which the cgroup
 * bind hooks below keep for ktlsd alone.
 *
 * Fail closed: when ktlsd's listener is gone (the daemon died or is
 * restarting) the kernel has already removed it from the sockmap, and a
 * connection to a listed port is dropped rather than passed to the
 * plaintext service. The bind hooks are pinned beside the program: while
 * ktlsd is down nobody else can borrow its source address either.
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
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ktlsd_guard);
} ktlsd_guard SEC(".maps");

static __always_inline struct ktlsd_guard *guard(void)
{
	__u32 zero = 0;
	struct ktlsd_guard *g = bpf_map_lookup_elem(&ktlsd_guard, &zero);

	return g && g->src4 ? g : NULL;
}

static __always_inline int same6(const __u32 a[4], __u32 b0, __u32 b1,
				 __u32 b2, __u32 b3)
{
	return a[0] == b0 && a[1] == b1 && a[2] == b2 && a[3] == b3;
}

/*
 * ktlsd's own connection to the service: it comes from ktlsd's source
 * address. A connection to that address itself is not (dialling it
 * unbound gets it as the source): ktlsd never connects there.
 */
static __always_inline int is_exempt(const struct bpf_sk_lookup *ctx)
{
	const struct ktlsd_guard *g = guard();
	__u32 r4 = ctx->remote_ip4, l4 = ctx->local_ip4;
	__u32 r6_0 = ctx->remote_ip6[0], r6_1 = ctx->remote_ip6[1];
	__u32 r6_2 = ctx->remote_ip6[2], r6_3 = ctx->remote_ip6[3];
	__u32 l6_0 = ctx->local_ip6[0], l6_1 = ctx->local_ip6[1];
	__u32 l6_2 = ctx->local_ip6[2], l6_3 = ctx->local_ip6[3];

	asm volatile("" : "+r"(r4), "+r"(l4), "+r"(r6_0), "+r"(r6_1),
		     "+r"(r6_2), "+r"(r6_3));
	asm volatile("" : "+r"(l6_0), "+r"(l6_1), "+r"(l6_2), "+r"(l6_3));
	if (!g)
		return 0;
	if (ctx->family == AF_INET)
		return r4 == g->src4 && l4 != g->src4;
	return same6(g->src6, r6_0, r6_1, r6_2, r6_3) &&
	       !same6(g->src6, l6_0, l6_1, l6_2, l6_3);
}

/* 1 (allow) unless a bind() to ADDR (v4-mapped for IPv4) would give
 * ktlsd's source address in its namespace to another uid: 0 (EPERM). */
static __always_inline int may_bind(struct bpf_sock_addr *ctx, __u32 a0,
				    __u32 a1, __u32 a2, __u32 a3)
{
	const struct ktlsd_guard *g = guard();

	if (!g)
		return 1;
	if (!same6(g->src6, a0, a1, a2, a3) &&
	    !(a0 == 0 && a1 == 0 && a2 == bpf_htonl(0xffff) && a3 == g->src4))
		return 1;
	if (bpf_get_netns_cookie(ctx) != g->netns_cookie)
		return 1;
	return (__u32)bpf_get_current_uid_gid() == g->uid;
}

SEC("cgroup/bind4")
int ktlsd_bind4(struct bpf_sock_addr *ctx)
{
	return may_bind(ctx, 0, 0, bpf_htonl(0xffff), ctx->user_ip4);
}

SEC("cgroup/bind6")
int ktlsd_bind6(struct bpf_sock_addr *ctx)
{
	__u32 a0 = ctx->user_ip6[0], a1 = ctx->user_ip6[1];
	__u32 a2 = ctx->user_ip6[2], a3 = ctx->user_ip6[3];

	return may_bind(ctx, a0, a1, a2, a3);
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
