// SPDX-License-Identifier: GPL-2.0
/*
 * cgroup_skb: "cgroup_skb/ingress" and "cgroup_skb/egress"
 * (BPF_PROG_TYPE_CGROUP_SKB, attach types BPF_CGROUP_INET_INGRESS /
 * BPF_CGROUP_INET_EGRESS). Return 1 lets the packet through, 0 drops it.
 * Like a socket filter, the program sees the packet from the network header
 * on: in test_run, offset 0 is data_in[14] and skb->len is len(data_in) - 14.
 *
 * EXPECT skb_ingress_count (test_run, data_in >= 14 bytes, repeat R):
 *   retval 1; cg_skb_stats[0] += R; cg_skb_stats[1] += R * (len(data_in) - 14).
 * EXPECT skb_egress_no_udp (test_run, data_in = Ethernet + IPv4 header):
 *   data_in[14] >> 4 == 4 and data_in[14 + 9] == 17 (UDP) -> retval 0;
 *   anything else -> retval 1.
 *   (Attached to a cgroup later: UDP sends from inside fail with EPERM,
 *   TCP connects still work.)
 */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 2);
} cg_skb_stats SEC(".maps");

static __always_inline void stat_add(__u32 idx, __u64 by)
{
	__u64 *v = bpf_map_lookup_elem(&cg_skb_stats, &idx);

	if (v)
		__sync_fetch_and_add(v, by);
}

SEC("cgroup_skb/ingress")
int skb_ingress_count(struct __sk_buff *skb)
{
	stat_add(0, 1);
	stat_add(1, skb->len);
	return 1;
}

SEC("cgroup_skb/egress")
int skb_egress_no_udp(struct __sk_buff *skb)
{
	__u8 ver_ihl, proto;

	if (bpf_skb_load_bytes(skb, 0, &ver_ihl, 1) < 0 || (ver_ihl >> 4) != 4)
		return 1;
	if (bpf_skb_load_bytes(skb, 9, &proto, 1) < 0)
		return 1;
	return proto == IPPROTO_UDP ? 0 : 1;
}

char LICENSE[] SEC("license") = "GPL";
