// SPDX-License-Identifier: GPL-2.0
/*
 * sk_lookup: steer UDP datagrams for local port 47100, where nothing
 * listens, to the socket in steer_map[0].
 *
 * EXPECT (attach to a network namespace; a UDP socket bound to
 *   127.0.0.1:47101 in it is put into steer_map[0]; N datagrams are sent
 *   to 127.0.0.1:47100 there): the socket on 47101 receives all N;
 *   lookup_stats[0] == N (steered). Without the program (detached), a
 *   datagram to 47100 finds no socket.
 */
#include "common.h"

#define IPPROTO_UDP_ 17

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u64));
	__uint(max_entries, 1);
} steer_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} lookup_stats SEC(".maps");

SEC("sk_lookup")
int steer_udp(struct bpf_sk_lookup *ctx)
{
	__u32 zero = 0;
	struct bpf_sock *sk;
	__u64 *n;
	long err;

	if (ctx->protocol != IPPROTO_UDP_ || ctx->local_port != 47100)
		return SK_PASS;
	sk = bpf_map_lookup_elem(&steer_map, &zero);
	if (!sk)
		return SK_PASS;
	err = bpf_sk_assign(ctx, sk, 0);
	bpf_sk_release(sk);
	if (err)
		return SK_PASS;
	n = bpf_map_lookup_elem(&lookup_stats, &zero);
	if (n)
		__sync_fetch_and_add(n, 1);
	return SK_PASS;
}

char LICENSE[] SEC("license") = "GPL";
