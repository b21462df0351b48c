// SPDX-License-Identifier: GPL-2.0
/*
 * xdp_count: two XDP programs in one section, one BTF-defined array map.
 *
 * EXPECT xdp_count (BPF_PROG_TEST_RUN, data_in >= 14 bytes, repeat R):
 *   data_in[0] == 0xDD -> retval 1 (XDP_DROP), xdp_stats[1] += R
 *   otherwise          -> retval 2 (XDP_PASS), xdp_stats[0] += R
 *   always: xdp_stats[2] += R * len(data_in); data_out == data_in.
 * EXPECT xdp_swap_mac (test_run, data_in >= 14 bytes):
 *   retval 3 (XDP_TX); data_out = data_in with bytes 0..6 and 6..12 swapped.
 *   data_in shorter than 14 bytes -> retval 0 (XDP_ABORTED).
 */
#include "common.h"

enum {
	STAT_PASSED = 0,
	STAT_DROPPED = 1,
	STAT_BYTES = 2,
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 3);
} xdp_stats SEC(".maps");

static __always_inline void bump(__u32 idx, __u64 by)
{
	__u64 *v = bpf_map_lookup_elem(&xdp_stats, &idx);

	if (v)
		__sync_fetch_and_add(v, by);
}

SEC("xdp")
int xdp_count(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u8 *first = data;

	bump(STAT_BYTES, data_end - data);
	if ((void *)(first + 1) <= data_end && *first == 0xDD) {
		bump(STAT_DROPPED, 1);
		return XDP_DROP;
	}
	bump(STAT_PASSED, 1);
	return XDP_PASS;
}

SEC("xdp")
int xdp_swap_mac(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u8 *eth = data;
	__u8 tmp[ETH_ALEN];

	if (data + ETH_HLEN > data_end)
		return XDP_ABORTED;
	__builtin_memcpy(tmp, eth, ETH_ALEN);
	__builtin_memcpy(eth, eth + ETH_ALEN, ETH_ALEN);
	__builtin_memcpy(eth + ETH_ALEN, tmp, ETH_ALEN);
	return XDP_TX;
}

char LICENSE[] SEC("license") = "GPL";
