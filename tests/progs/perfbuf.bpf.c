// SPDX-License-Identifier: GPL-2.0
/*
 * perfbuf: an XDP program writing one record per packet to a perf event
 * array (bpf_perf_event_output on the current CPU).
 *
 * EXPECT emit (test_run, any packet of >= 8 bytes, repeat R): R records
 *   { u64 seq = seq_next++ (per map slot 0 of `seq`), u8 first = first
 *   packet byte, 55 zero bytes } on the CPU the test ran on (64 bytes
 *   each); retval 2 (XDP_PASS).
 */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} seq SEC(".maps");

struct record {
	__u64 seq;
	__u8 first;
	__u8 pad[55];
};

SEC("xdp")
int emit(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct record r = {};
	__u32 zero = 0;
	__u64 *next = bpf_map_lookup_elem(&seq, &zero);

	if (!next || data + 8 > end)
		return XDP_ABORTED;
	/* Not r.seq = __sync_fetch_and_add(next, 1): a fetching atomic needs
	 * Linux 5.12, and vm-test runs this on 5.10. Test runs of one program
	 * do not overlap, so the plain read then an atomic add (XADD) counts
	 * the same. */
	r.seq = *next;
	__sync_fetch_and_add(next, 1);
	r.first = *(__u8 *)data;
	bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &r, sizeof(r));
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
