// SPDX-License-Identifier: GPL-2.0
/*
 * tc_rewrite: the "tc" and "classifier" section names (both
 * BPF_PROG_TYPE_SCHED_CLS), no maps.
 *
 * EXPECT tc_rewrite (test_run, data_in >= 15 bytes):
 *   retval 0 (TC_ACT_OK); data_out == data_in except data_out[14] == 0x42
 *   (bpf_skb_store_bytes at the first byte after the Ethernet header).
 *   data_in of exactly 14 bytes -> retval 2 (TC_ACT_SHOT), the helper fails.
 * EXPECT tc_classify (test_run with a ctx_out buffer for struct __sk_buff;
 *   ctx_in optional, zeroed if given):
 *   ctx_out.mark (byte offset 8) == skb->len == len(data_in) (tc sees the
 *   Ethernet header); ctx_out.priority (offset 32) == 7;
 *   retval 2 (TC_ACT_SHOT) when len(data_in) > 128, else 0 (TC_ACT_OK).
 */
#include "common.h"

SEC("tc")
int tc_rewrite(struct __sk_buff *skb)
{
	__u8 mark = 0x42;

	if (bpf_skb_store_bytes(skb, ETH_HLEN, &mark, sizeof(mark), 0) < 0)
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

SEC("classifier")
int tc_classify(struct __sk_buff *skb)
{
	__u32 len = skb->len;

	skb->mark = len;
	skb->priority = 7;
	return len > 128 ? TC_ACT_SHOT : TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
