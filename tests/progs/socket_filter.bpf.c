// SPDX-License-Identifier: GPL-2.0
/*
 * socket_filter: two BPF_PROG_TYPE_SOCKET_FILTER programs in one "socket"
 * section, no maps. A socket filter returns how many bytes of the packet to
 * keep (0 drops it). It sees the packet from the network header on: in
 * test_run, skb->len == len(data_in) - 14 and offset 0 is data_in[14].
 *
 * EXPECT sock_keep_ipv4 (test_run, data_in >= 15 bytes):
 *   high nibble of data_in[14] == 4 -> retval len(data_in) - 14
 *   otherwise                       -> retval 0.
 * EXPECT sock_truncate (test_run, data_in >= 14 bytes):
 *   retval min(len(data_in) - 14, 20).
 */
#include "common.h"

SEC("socket")
int sock_keep_ipv4(struct __sk_buff *skb)
{
	__u8 first;

	if (bpf_skb_load_bytes(skb, 0, &first, sizeof(first)) < 0)
		return 0;
	if ((first >> 4) != 4)
		return 0;
	return skb->len;
}

SEC("socket")
int sock_truncate(struct __sk_buff *skb)
{
	__u32 len = skb->len;

	return len < 20 ? len : 20;
}

char LICENSE[] SEC("license") = "GPL";
