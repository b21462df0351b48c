// SPDX-License-Identifier: GPL-2.0
/*
 * call_order: the order in which a loader appends subprograms. The entry
 * calls a() then b(); a() calls c(). A loader appending each callee's own
 * callees at once (depth first) places entry, a, c, b; one appending level
 * by level places entry, a, b, c. The xlated instructions differ, so the
 * oracle says which order libbpf uses and whether oxbpf's is the same.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 4);
} hits SEC(".maps");

static __attribute__((noinline)) int bump(__u32 k, int v)
{
	__u64 *c = bpf_map_lookup_elem(&hits, &k);

	if (c)
		*c += 1;
	return v;
}

static __attribute__((noinline)) int c(int x)
{
	return bump(2, x + 3);
}

static __attribute__((noinline)) int a(int x)
{
	return c(x) + bump(0, 1);
}

static __attribute__((noinline)) int b(int x)
{
	return bump(1, x * 2);
}

SEC("xdp")
int entry(struct xdp_md *ctx)
{
	int x = ctx->data_end - ctx->data;

	return (a(x) + b(x)) > 0 ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
