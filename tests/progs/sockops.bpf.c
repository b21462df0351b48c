// SPDX-License-Identifier: GPL-2.0
/*
 * sockops: counts the TCP socket operations of a cgroup by op code.
 *
 * EXPECT (attach to a test cgroup; a child in it connects a TCP socket to a
 *   listener of its own on 127.0.0.1 and accepts it):
 *   sockops_stats[BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB = 4] == 1,
 *   sockops_stats[BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB = 5] == 1,
 *   sockops_stats[BPF_SOCK_OPS_TCP_CONNECT_CB = 3] == 1.
 */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 16);
} sockops_stats SEC(".maps");

SEC("sockops")
int sockops_count(struct bpf_sock_ops *ops)
{
	__u32 op = ops->op;
	__u64 *n;

	if (op >= 16)
		return 1;
	n = bpf_map_lookup_elem(&sockops_stats, &op);
	if (n)
		__sync_fetch_and_add(n, 1);
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
