// SPDX-License-Identifier: GPL-2.0
/*
 * tcx: the "tcx/ingress" and "tcx/egress" section names
 * (BPF_PROG_TYPE_SCHED_CLS, expected attach type BPF_TCX_INGRESS /
 * BPF_TCX_EGRESS), one BTF-defined per-CPU array.
 *
 * EXPECT tcx_count (test_run, data_in >= 14 bytes, repeat R):
 *   retval 0xffffffff (TCX_NEXT = -1); the sum over all CPUs of
 *   tcx_pkts[0] grows by R.
 * EXPECT tcx_drop_exp (test_run, data_in >= 14 bytes):
 *   EtherType (bytes 12..14, big-endian) 0x88B5 -> retval 2 (TCX_DROP);
 *   any other EtherType -> retval 0 (TCX_PASS).
 */
#include "common.h"

#define ETH_P_802_EX1 0x88B5 /* local experimental EtherType */

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} tcx_pkts SEC(".maps");

SEC("tcx/ingress")
int tcx_count(struct __sk_buff *skb)
{
	__u32 zero = 0;
	__u64 *v = bpf_map_lookup_elem(&tcx_pkts, &zero);

	if (v)
		*v += 1;
	return TCX_NEXT;
}

SEC("tcx/egress")
int tcx_drop_exp(struct __sk_buff *skb)
{
	__be16 proto;

	if (bpf_skb_load_bytes(skb, 12, &proto, sizeof(proto)) < 0)
		return TCX_PASS;
	if (proto == bpf_htons(ETH_P_802_EX1))
		return TCX_DROP;
	return TCX_PASS;
}

char LICENSE[] SEC("license") = "GPL";
