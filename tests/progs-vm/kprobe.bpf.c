// SPDX-License-Identifier: GPL-2.0
/*
 * kprobe and kretprobe on the getpgid system call (x86_64 entry point
 * __x64_sys_getpgid), counted per thread.
 *
 * Test: attach both; the test thread calls getpgid(0) 6 times.
 * Observe: kprobe_calls[tid] == {6 entries, 6 returns, last return ==
 * getpgid(0)}. Detached: further calls change nothing.
 */
#include "../progs/common.h"

char LICENSE[] SEC("license") = "GPL";

struct kcalls {
	__u64 entries;
	__u64 returns;
	__s64 last_ret;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct kcalls);
	__uint(max_entries, 1024);
} kprobe_calls SEC(".maps");

static __always_inline struct kcalls *slot(void)
{
	__u32 tid = current_tid();
	struct kcalls *c = bpf_map_lookup_elem(&kprobe_calls, &tid);
	if (c)
		return c;
	struct kcalls zero = {};
	bpf_map_update_elem(&kprobe_calls, &tid, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(&kprobe_calls, &tid);
}

SEC("kprobe/__x64_sys_getpgid")
int kprobe_getpgid(struct pt_regs *ctx)
{
	struct kcalls *c = slot();
	if (c)
		__sync_fetch_and_add(&c->entries, 1);
	return 0;
}

SEC("kretprobe/__x64_sys_getpgid")
int kretprobe_getpgid(struct pt_regs *ctx)
{
	struct kcalls *c = slot();
	if (c) {
		__sync_fetch_and_add(&c->returns, 1);
		c->last_ret = PT_REGS_RC(ctx);
	}
	return 0;
}
