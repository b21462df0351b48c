// SPDX-License-Identifier: GPL-2.0
/*
 * netfilter: an IPv4 LOCAL_IN hook that counts UDP datagrams to port 47200
 * and drops those to port 47201.
 *
 * EXPECT (attach at NFPROTO_IPV4, NF_INET_LOCAL_IN in a fresh network
 *   namespace; N datagrams to 127.0.0.1:47200, M to 127.0.0.1:47201):
 *   the socket on 47200 receives N, the one on 47201 none;
 *   nf_stats[0] == N (accepted), nf_stats[1] == M (NF_DROP).
 */
#include "common.h"

/* A field of a kernel struct at the running kernel's offset: sk_buff's
 * layout differs between the kernels vm-test runs this on (CO-RE). */
#define CORE_FIELD(p, f) (*__builtin_preserve_access_index(&(p)->f))

#define IPPROTO_UDP_ 17
#define NF_DROP_ 0
#define NF_ACCEPT_ 1

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 2);
} nf_stats SEC(".maps");

SEC("netfilter")
int nf_udp(struct bpf_nf_ctx *ctx)
{
	struct sk_buff *skb = ctx->skb;
	struct iphdr ip;
	struct udphdr udp;
	__u32 idx;
	__u64 *n;
	void *net;

	if (CORE_FIELD(skb, protocol) != bpf_htons(ETH_P_IP))
		return NF_ACCEPT_;
	net = CORE_FIELD(skb, head) + CORE_FIELD(skb, network_header);
	if (bpf_probe_read_kernel(&ip, sizeof(ip), net))
		return NF_ACCEPT_;
	if (ip.protocol != IPPROTO_UDP_ || ip.ihl != 5)
		return NF_ACCEPT_;
	if (bpf_probe_read_kernel(&udp, sizeof(udp), net + sizeof(ip)))
		return NF_ACCEPT_;
	if (udp.dest == bpf_htons(47200))
		idx = 0;
	else if (udp.dest == bpf_htons(47201))
		idx = 1;
	else
		return NF_ACCEPT_;
	n = bpf_map_lookup_elem(&nf_stats, &idx);
	if (n)
		__sync_fetch_and_add(n, 1);
	return idx == 1 ? NF_DROP_ : NF_ACCEPT_;
}

char LICENSE[] SEC("license") = "GPL";
