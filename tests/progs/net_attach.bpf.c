// SPDX-License-Identifier: GPL-2.0
/*
 * net_attach: programs for live attachment to a veth pair (XDP, tcx with
 * ordering, legacy clsact). Each reacts only to IPv4/UDP packets to its own
 * destination ports, so that other traffic on the interfaces (there should
 * be none) cannot change the counts.
 *
 * EXPECT xdp_udp (XDP on the receiving veth, N UDP datagrams to port 47001,
 *   M to port 47002):
 *   xdp_udp_stats[0] == N (passed, the receiver gets them),
 *   xdp_udp_stats[1] == M (XDP_DROP, the receiver gets none of them).
 * EXPECT tcx_first, tcx_second (tcx ingress of the receiving veth; UDP to
 *   port 47003): tcx_first sets skb->mark 0xA1 when it is 0 and counts
 *   tcx_order[0]; tcx_second counts tcx_order[1] when it sees mark 0xA1
 *   (it runs after tcx_first), tcx_order[2] when it sees mark 0 (before);
 *   both return TCX_NEXT. UDP to port 47004: tcx_second drops (TCX_DROP)
 *   and counts tcx_order[3].
 * EXPECT tc_udp (legacy clsact ingress filter, direct action): UDP to port
 *   47005 -> tc_udp_stats[0]++, TC_ACT_OK; to port 47006 ->
 *   tc_udp_stats[1]++, TC_ACT_SHOT (dropped).
 */
#include "common.h"

#define IPPROTO_UDP_ 17

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 2);
} xdp_udp_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 4);
} tcx_order SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 2);
} tc_udp_stats SEC(".maps");

/* The UDP destination port (host order) of an Ethernet/IPv4/UDP packet in
 * [data, data_end), or 0. */
static __always_inline __u16 udp_dport(void *data, void *data_end)
{
	struct ethhdr *eth = data;
	struct iphdr *ip = data + ETH_HLEN;
	struct udphdr *udp;

	if ((void *)(ip + 1) > data_end)
		return 0;
	if (eth->h_proto != bpf_htons(ETH_P_IP) || ip->protocol != IPPROTO_UDP_)
		return 0;
	if (ip->ihl != 5)
		return 0;
	udp = (void *)(ip + 1);
	if ((void *)(udp + 1) > data_end)
		return 0;
	return bpf_ntohs(udp->dest);
}

static __always_inline void bump(void *map, __u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(map, &idx);

	if (v)
		__sync_fetch_and_add(v, 1);
}

SEC("xdp")
int xdp_udp(struct xdp_md *ctx)
{
	__u16 port = udp_dport((void *)(long)ctx->data, (void *)(long)ctx->data_end);

	if (port == 47001) {
		bump(&xdp_udp_stats, 0);
		return XDP_PASS;
	}
	if (port == 47002) {
		bump(&xdp_udp_stats, 1);
		return XDP_DROP;
	}
	return XDP_PASS;
}

SEC("tcx/ingress")
int tcx_first(struct __sk_buff *skb)
{
	__u16 port = udp_dport((void *)(long)skb->data, (void *)(long)skb->data_end);

	if (port == 47003) {
		if (skb->mark == 0)
			skb->mark = 0xA1;
		bump(&tcx_order, 0);
	}
	return TCX_NEXT;
}

SEC("tcx/ingress")
int tcx_second(struct __sk_buff *skb)
{
	__u16 port = udp_dport((void *)(long)skb->data, (void *)(long)skb->data_end);

	if (port == 47003) {
		bump(&tcx_order, skb->mark == 0xA1 ? 1 : 2);
		if (skb->mark == 0)
			skb->mark = 0xB2;
	}
	if (port == 47004) {
		bump(&tcx_order, 3);
		return TCX_DROP;
	}
	return TCX_NEXT;
}

SEC("tc")
int tc_udp(struct __sk_buff *skb)
{
	__u16 port = udp_dport((void *)(long)skb->data, (void *)(long)skb->data_end);

	if (port == 47005) {
		bump(&tc_udp_stats, 0);
		return TC_ACT_OK;
	}
	if (port == 47006) {
		bump(&tc_udp_stats, 1);
		return TC_ACT_SHOT;
	}
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
