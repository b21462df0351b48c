// SPDX-License-Identifier: GPL-2.0
/*
 * flow_dissector: counts the flow dissections of its network namespace and
 * leaves the work to the kernel's own dissector
 * (BPF_FLOW_DISSECTOR_CONTINUE, kernel 6.1+).
 *
 * EXPECT (attach to a network namespace, then make the kernel dissect
 *   flows there): dissect_stats[0] > 0, and it stops growing once the link
 *   is gone. test_run with an Ethernet/IPv4 packet: retval 129 (continue),
 *   dissect_stats[0] += 1.
 */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} dissect_stats SEC(".maps");

SEC("flow_dissector")
int dissect_count(struct __sk_buff *skb)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&dissect_stats, &zero);

	if (n)
		__sync_fetch_and_add(n, 1);
	return BPF_FLOW_DISSECTOR_CONTINUE;
}

char LICENSE[] SEC("license") = "GPL";
