// SPDX-License-Identifier: GPL-2.0
/*
 * map_values: initial slots given in the object — an array of maps whose
 * `.values` name two inner maps, and a prog array whose `.values` name two
 * XDP programs — filled by the loader after the maps and programs exist.
 *
 * EXPECT entry (test_run, data_in >= 14 bytes, first byte B):
 *   B == 1 -> tail call to tail_one  -> retval 3 (XDP_TX)
 *   B == 3 -> tail call to tail_three -> retval 1 (XDP_DROP)
 *   else   -> no program in the slot -> retval 2 (XDP_PASS)
 *   always: inner_a[0] == 111 and inner_b[0] == 222, written through
 *   outer[0] and outer[1].
 */
#include "common.h"

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
};

struct inner inner_a SEC(".maps");
struct inner inner_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct inner);
} outer SEC(".maps") = {
	.values = { [0] = &inner_a, [1] = &inner_b },
};

SEC("xdp")
int tail_one(struct xdp_md *ctx)
{
	return XDP_TX;
}

SEC("xdp")
int tail_three(struct xdp_md *ctx)
{
	return XDP_DROP;
}

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, int(void *));
} jmp SEC(".maps") = {
	.values = { [1] = (void *)&tail_one, [3] = (void *)&tail_three },
};

static __always_inline void store(__u32 outer_key, __u64 value)
{
	__u32 zero = 0;
	void *inner = bpf_map_lookup_elem(&outer, &outer_key);

	if (inner)
		bpf_map_update_elem(inner, &zero, &value, BPF_ANY);
}

SEC("xdp")
int entry(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u8 first;

	if (data + 1 > end)
		return XDP_ABORTED;
	first = *(__u8 *)data;
	store(0, 111);
	store(1, 222);
	bpf_tail_call(ctx, &jmp, first);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
