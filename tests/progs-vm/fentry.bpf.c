// SPDX-License-Identifier: GPL-2.0
/*
 * fentry and fexit on bpf_fentry_test1(int a) { return a + 1; }, a
 * function of net/bpf/test_run.c that BPF_PROG_TEST_RUN of a fentry or
 * fexit program calls with a = 1.
 *
 * Test: attach both, test_run `fentry_test1` 3 times (repeat is not
 * allowed for tracing programs: 3 calls).
 * Observe: fentry_stats = [3 entries, last arg 1, 3 exits, last ret 2].
 */
#include "../progs/common.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 4);
} fentry_stats SEC(".maps");

static __always_inline void add(__u32 slot, __u64 v)
{
	__u64 *p = bpf_map_lookup_elem(&fentry_stats, &slot);
	if (p)
		__sync_fetch_and_add(p, v);
}

static __always_inline void set(__u32 slot, __u64 v)
{
	__u64 *p = bpf_map_lookup_elem(&fentry_stats, &slot);
	if (p)
		*p = v;
}

SEC("fentry/bpf_fentry_test1")
int BPF_PROG(fentry_test1, int a)
{
	add(0, 1);
	set(1, a);
	return 0;
}

SEC("fexit/bpf_fentry_test1")
int BPF_PROG(fexit_test1, int a, int ret)
{
	add(2, 1);
	set(3, ret);
	return 0;
}
