// SPDX-License-Identifier: GPL-2.0
/*
 * Includes the vmlinux.h that oxbpf::skel::Builder::vmlinux_h(true) writes
 * (cli/tests/skeleton.rs): a map whose value is a kernel type.
 */
#define BPF_NO_PRESERVE_ACCESS_INDEX
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct ethhdr);
	__uint(max_entries, 1);
} last_eth SEC(".maps");

SEC("xdp")
int keep_eth(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u32 zero = 0;

	if ((void *)(eth + 1) > end)
		return XDP_PASS;
	bpf_map_update_elem(&last_eth, &zero, eth, BPF_ANY);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
