// SPDX-License-Identifier: GPL-2.0
/*
 * sockmap: an sk_msg and an sk_skb stream verdict program for the sockets
 * of sock_map; both count and pass everything.
 *
 * EXPECT (attach both to sock_map; a connected TCP pair, both ends put in
 *   the map; "hello" (5 bytes) sent from one end and read at the other):
 *   the data arrives unchanged; sockmap_stats[0] == 1 and [1] == 5 (sk_msg:
 *   messages, bytes sent); sockmap_stats[2] == 1 and [3] == 5 (stream
 *   verdict: skbs, bytes received).
 */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u64));
	__uint(max_entries, 2);
} sock_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 4);
} sockmap_stats SEC(".maps");

static __always_inline void add(__u32 idx, __u64 by)
{
	__u64 *v = bpf_map_lookup_elem(&sockmap_stats, &idx);

	if (v)
		__sync_fetch_and_add(v, by);
}

SEC("sk_msg")
int msg_count(struct sk_msg_md *msg)
{
	add(0, 1);
	add(1, msg->size);
	return SK_PASS;
}

SEC("sk_skb/stream_verdict")
int skb_verdict_count(struct __sk_buff *skb)
{
	add(2, 1);
	add(3, skb->len);
	return SK_PASS;
}

char LICENSE[] SEC("license") = "GPL";
