// SPDX-License-Identifier: GPL-2.0
/*
 * Counts the getpid() calls of one thread, from the raw tracepoint every
 * system call passes (raw_tp/sys_enter: no tracefs needed).
 *
 * - .rodata: target_tid (which thread) and weight (how much each call
 *   adds), set before load through the open skeleton;
 * - .data: enabled, switched off and on by user space after load;
 * - .bss: calls (the weighted count) and last (the last call seen);
 * - per_tid: a hash map of per-thread statistics.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#if defined(__TARGET_ARCH_x86)
#define NR_getpid 39
#elif defined(__TARGET_ARCH_arm64) || defined(__TARGET_ARCH_riscv)
#define NR_getpid 172
#else
#error "getpid's system call number on this architecture"
#endif

struct call_stats {
	__u64 calls;
	__u64 last_ns;
};

const volatile __u32 target_tid = 0;
const volatile __u64 weight = 1;

__u32 enabled = 1;

__u64 calls = 0;
struct {
	__u32 tid;
	__u32 nr;
} last = {};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct call_stats);
	__uint(max_entries, 64);
} per_tid SEC(".maps");

SEC("raw_tp/sys_enter")
int count_getpid(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct call_stats zero = {}, *s;

	if (ctx->args[1] != NR_getpid || tid != target_tid || !enabled)
		return 0;
	__sync_fetch_and_add(&calls, weight);
	last.tid = tid;
	last.nr = ctx->args[1];
	s = bpf_map_lookup_elem(&per_tid, &tid);
	if (!s) {
		bpf_map_update_elem(&per_tid, &tid, &zero, BPF_NOEXIST);
		s = bpf_map_lookup_elem(&per_tid, &tid);
		if (!s)
			return 0;
	}
	__sync_fetch_and_add(&s->calls, 1);
	s->last_ns = bpf_ktime_get_ns();
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
