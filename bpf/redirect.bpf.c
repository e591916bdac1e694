// SPDX-License-Identifier: GPL-2.0
/*
 * Client-side redirection. Attached to the cgroup of an application that
 * has Connections to secure servers:
 *
 *   connect4/connect6  a TCP connect() to a destination listed in ktlsd_dsts
 *                      is rewritten to ktlsd's redirect listener; the
 *                      original destination goes into the socket's storage.
 *   sockops            when the SYN is about to leave (the source port is
 *                      known by then), that destination is published in
 *                      ktlsd_origdst under the socket's source address, which
 *                      is what ktlsd sees as the peer of the accepted socket.
 *   getpeername4/6     the application sees the server it dialled, not ktlsd.
 *
 * Fail closed: ktlsd's listener is looked up in a sockmap, from which the
 * kernel removes it when ktlsd dies; a connect() to a listed destination
 * then fails with EPERM instead of leaving the host in plaintext.
 *
 * ktlsd's own connects to the real servers are never redirected: they are
 * made by its network processes, whose uid ktlsd writes into
 * ktlsd_worker_uid before it loads this object. Recognising them by uid
 * costs the network process no bpf() call per connection, which Linux
 * before 6.5 refuses to a process without CAP_BPF while
 * kernel.unprivileged_bpf_disabled is set.
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "ktlsd/bpf_addr.h"
#include "ktlsd/steer.h"

#define SOCK_STREAM	1

char LICENSE[] SEC("license") = "GPL";

/* The real uid of ktlsd's network processes (set at load, .rodata). The
 * default, (uid_t)-1, is nobody's. */
const volatile __u32 ktlsd_worker_uid = 0xffffffff;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KTLSD_MAX_DSTS);
	__type(key, struct ktlsd_endpoint);
	__type(value, struct ktlsd_dst_stats);
} ktlsd_dsts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, KTLSD_SOCK_MAX);
	__type(key, __u32);
	__type(value, __u64);
} ktlsd_csocks SEC(".maps");

/* Entries ktlsd never claims (it was restarting) age out. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, KTLSD_MAX_ORIGDST);
	__type(key, struct ktlsd_endpoint);
	__type(value, struct ktlsd_endpoint);
} ktlsd_origdst SEC(".maps");

/* Freed by the kernel together with the socket. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct ktlsd_sk_state);
} ktlsd_sk SEC(".maps");

enum verdict { PASS, REFUSE, REWRITE };

/*
 * Decide about CTX's connect to DST. REWRITE: LSN is where ktlsd's listener
 * number IDX is (v4-mapped for IPv4) and the socket now remembers DST.
 * The callers write the context themselves: the verifier only accepts
 * stores to the fields of the hook's own address family.
 */
static __always_inline enum verdict decide(struct bpf_sock_addr *ctx,
					   const struct ktlsd_endpoint *dst,
					   __u32 idx, struct ktlsd_endpoint *lsn)
{
	struct ktlsd_dst_stats *stats;
	struct ktlsd_sk_state *state;
	__u32 ip4, ip6_0, ip6_1, ip6_2, ip6_3;
	struct bpf_sock *sk;

	stats = bpf_map_lookup_elem(&ktlsd_dsts, dst);
	if (!stats)
		return PASS;		/* not a secure server: untouched */
	/* bpf_get_current_uid_gid() is offered to cgroup sock_addr programs
	 * since Linux 6.1 (cgroup_current_func_proto); the low half is the
	 * real uid of the task calling connect(). */
	if ((__u32)bpf_get_current_uid_gid() == ktlsd_worker_uid)
		return PASS;		/* ktlsd itself, to the real server */

	sk = bpf_map_lookup_elem(&ktlsd_csocks, &idx);
	if (!sk) {
		__sync_fetch_and_add(&stats->refused, 1);
		return REFUSE;		/* ktlsd is down: never plaintext */
	}
	/* Read every field at its fixed offset first: the verifier refuses a
	 * socket load through a pointer the compiler computed per branch... */
	ip4 = sk->src_ip4;
	ip6_0 = sk->src_ip6[0];
	ip6_1 = sk->src_ip6[1];
	ip6_2 = sk->src_ip6[2];
	ip6_3 = sk->src_ip6[3];
	/* ... and keep the compiler from turning two loads into one load
	 * through a selected address. */
	asm volatile("" : "+r"(ip4), "+r"(ip6_3));
	if (idx == KTLSD_SOCK_INET) {
		lsn->addr[0] = 0;
		lsn->addr[1] = 0;
		lsn->addr[2] = bpf_htonl(0x0000ffff);
		lsn->addr[3] = ip4;
	} else {
		lsn->addr[0] = ip6_0;
		lsn->addr[1] = ip6_1;
		lsn->addr[2] = ip6_2;
		lsn->addr[3] = ip6_3;
	}
	lsn->port = (__u16)sk->src_port;
	bpf_sk_release(sk);

	state = bpf_sk_storage_get(&ktlsd_sk, ctx->sk, 0,
				   BPF_SK_STORAGE_GET_F_CREATE);
	if (!state) {
		__sync_fetch_and_add(&stats->refused, 1);
		return REFUSE;
	}
	state->flags = KTLSD_SK_REDIRECTED;
	state->orig = *dst;
	__sync_fetch_and_add(&stats->redirected, 1);
	return REWRITE;
}

SEC("cgroup/connect4")
int ktlsd_connect4(struct bpf_sock_addr *ctx)
{
	struct ktlsd_endpoint dst = {}, lsn = {};
	enum verdict v;

	if (ctx->type != SOCK_STREAM)
		return 1;
	dst.addr[2] = bpf_htonl(0x0000ffff);
	dst.addr[3] = ctx->user_ip4;
	dst.port = bpf_ntohs((__u16)ctx->user_port);
	v = decide(ctx, &dst, KTLSD_SOCK_INET, &lsn);
	if (v == REWRITE) {
		ctx->user_ip4 = lsn.addr[3];
		ctx->user_port = bpf_htons(lsn.port);
	}
	return v != REFUSE;
}

SEC("cgroup/connect6")
int ktlsd_connect6(struct bpf_sock_addr *ctx)
{
	struct ktlsd_endpoint dst = {}, lsn = {};
	__u32 idx = KTLSD_SOCK_INET6;
	enum verdict v;

	if (ctx->type != SOCK_STREAM)
		return 1;
	dst.addr[0] = ctx->user_ip6[0];
	dst.addr[1] = ctx->user_ip6[1];
	dst.addr[2] = ctx->user_ip6[2];
	dst.addr[3] = ctx->user_ip6[3];
	dst.port = bpf_ntohs((__u16)ctx->user_port);
	/* An IPv6 socket dialling a v4-mapped address: IPv4 listener. */
	if (!dst.addr[0] && !dst.addr[1] && dst.addr[2] == bpf_htonl(0x0000ffff))
		idx = KTLSD_SOCK_INET;
	v = decide(ctx, &dst, idx, &lsn);
	if (v == REWRITE) {
		ctx->user_ip6[0] = lsn.addr[0];
		ctx->user_ip6[1] = lsn.addr[1];
		ctx->user_ip6[2] = lsn.addr[2];
		ctx->user_ip6[3] = lsn.addr[3];
		ctx->user_port = bpf_htons(lsn.port);
	}
	return v != REFUSE;
}

SEC("sockops")
int ktlsd_sockops(struct bpf_sock_ops *skops)
{
	struct ktlsd_sk_state *state;
	struct ktlsd_endpoint src = {};
	__u32 family, ip4, ip6_0, ip6_1, ip6_2, ip6_3;
	struct bpf_sock *sk;

	if (skops->op != BPF_SOCK_OPS_TCP_CONNECT_CB)
		return 1;
	sk = skops->sk;
	if (!sk)
		return 1;
	state = bpf_sk_storage_get(&ktlsd_sk, sk, 0, 0);
	if (!state || !(state->flags & KTLSD_SK_REDIRECTED))
		return 1;
	/* Fixed-offset loads first (see map_addr()). */
	family = skops->family;
	ip4 = skops->local_ip4;
	ip6_0 = skops->local_ip6[0];
	ip6_1 = skops->local_ip6[1];
	ip6_2 = skops->local_ip6[2];
	ip6_3 = skops->local_ip6[3];
	asm volatile("" : "+r"(ip4), "+r"(ip6_0), "+r"(ip6_1), "+r"(ip6_2),
		     "+r"(ip6_3));
	map_addr(src.addr, family, ip4, ip6_0, ip6_1, ip6_2, ip6_3);
	src.port = (__u16)skops->local_port;
	bpf_map_update_elem(&ktlsd_origdst, &src, &state->orig, BPF_ANY);
	return 1;
}

SEC("cgroup/getpeername4")
int ktlsd_getpeername4(struct bpf_sock_addr *ctx)
{
	struct ktlsd_sk_state *state;

	state = bpf_sk_storage_get(&ktlsd_sk, ctx->sk, 0, 0);
	if (!state || !(state->flags & KTLSD_SK_REDIRECTED))
		return 1;
	ctx->user_ip4 = state->orig.addr[3];
	ctx->user_port = bpf_htons(state->orig.port);
	return 1;
}

SEC("cgroup/getpeername6")
int ktlsd_getpeername6(struct bpf_sock_addr *ctx)
{
	struct ktlsd_sk_state *state;

	state = bpf_sk_storage_get(&ktlsd_sk, ctx->sk, 0, 0);
	if (!state || !(state->flags & KTLSD_SK_REDIRECTED))
		return 1;
	ctx->user_ip6[0] = state->orig.addr[0];
	ctx->user_ip6[1] = state->orig.addr[1];
	ctx->user_ip6[2] = state->orig.addr[2];
	ctx->user_ip6[3] = state->orig.addr[3];
	ctx->user_port = bpf_htons(state->orig.port);
	return 1;
}
