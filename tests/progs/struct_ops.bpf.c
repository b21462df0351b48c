// SPDX-License-Identifier: GPL-2.0
/*
 * struct_ops: two TCP congestion controls implemented as struct_ops maps,
 * one registered by writing its value (.struct_ops), one through a link
 * (.struct_ops.link). Their init hook counts the sockets that use them.
 *
 * EXPECT: loading registers nothing. Object::attach_struct_ops("oxcc")
 *   makes "oxcc" appear in /proc/sys/net/ipv4/tcp_available_congestion_control
 *   (likewise "oxcc_link" for the map `oxcc_link`); a TCP socket that sets
 *   TCP_CONGESTION to it and connects runs init: inits[0] (oxcc) or
 *   inits[1] (oxcc_link) grows by one per socket. Dropping the link
 *   unregisters the name.
 */
#define BPF_NO_PRESERVE_ACCESS_INDEX
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 2);
} inits SEC(".maps");

static __always_inline void count(__u32 which)
{
	__u64 *n = bpf_map_lookup_elem(&inits, &which);

	if (n)
		__sync_fetch_and_add(n, 1);
}

SEC("struct_ops/ox_init")
void BPF_PROG(ox_init, struct sock *sk)
{
	count(0);
}

SEC("struct_ops/ox_init_link")
void BPF_PROG(ox_init_link, struct sock *sk)
{
	count(1);
}

SEC("struct_ops/ox_ssthresh")
__u32 BPF_PROG(ox_ssthresh, struct sock *sk)
{
	return 10;
}

SEC("struct_ops/ox_cong_avoid")
void BPF_PROG(ox_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)
{
}

SEC("struct_ops/ox_undo_cwnd")
__u32 BPF_PROG(ox_undo_cwnd, struct sock *sk)
{
	return 10;
}

SEC(".struct_ops")
struct tcp_congestion_ops oxcc = {
	.init = (void *)ox_init,
	.ssthresh = (void *)ox_ssthresh,
	.cong_avoid = (void *)ox_cong_avoid,
	.undo_cwnd = (void *)ox_undo_cwnd,
	.name = "oxcc",
};

SEC(".struct_ops.link")
struct tcp_congestion_ops oxcc_link = {
	.init = (void *)ox_init_link,
	.ssthresh = (void *)ox_ssthresh,
	.cong_avoid = (void *)ox_cong_avoid,
	.undo_cwnd = (void *)ox_undo_cwnd,
	.name = "oxcc_link",
};

char LICENSE[] SEC("license") = "GPL";
