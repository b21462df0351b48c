// SPDX-License-Identifier: GPL-2.0
/*
 * many_progs: 80 XDP programs sharing two maps. libbpf's generated loader
 * keeps the fds it creates in a fixed area of its 512-byte stack; oxbpf's
 * keeps none there. Program pN adds 1 to counts[N % 8] and records N in
 * last, then passes the packet.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "repeat.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 8);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 128);
} last SEC(".maps");

#define PROG(n)                                                        \
	SEC("xdp") int p##n(struct xdp_md *ctx)                        \
	{                                                              \
		__u32 k = (n) % 8, v = (n);                            \
		__u64 *c = bpf_map_lookup_elem(&counts, &k);           \
		if (c)                                                 \
			__sync_fetch_and_add(c, 1);                    \
		bpf_map_update_elem(&last, &k, &v, BPF_ANY);           \
		return XDP_PASS;                                       \
	}
R80(PROG)

char LICENSE[] SEC("license") = "GPL";
