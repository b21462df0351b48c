// SPDX-License-Identifier: GPL-2.0
/*
 * uprobe: the bare "uprobe" and "uretprobe" section names. Both load as
 * BPF_PROG_TYPE_KPROBE (this kernel has uprobes but no kprobes); the target
 * (binary, offset) is given at attach time: perf_event_open on the "uprobe"
 * PMU (/sys/bus/event_source/devices/uprobe/type; config bit 0 = retprobe),
 * or BPF_LINK_CREATE with BPF_TRACE_UPROBE_MULTI.
 *
 * EXPECT (load): two programs of type kprobe; map uprobe_calls is a hash,
 *   key 4, value 24, max 1024.
 * EXPECT (attach both to a non-inlined `extern "C" fn(u64) -> u64` of the
 *   test binary that returns its argument + 1; the test thread calls it N
 *   times, last with argument A):
 *   uprobe_calls[gettid()] == { calls: N, last_arg: A, last_ret: A + 1 }.
 */
#include "common.h"

struct uprobe_stats {
	__u64 calls;
	__u64 last_arg;
	__u64 last_ret;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct uprobe_stats);
	__uint(max_entries, 1024);
} uprobe_calls SEC(".maps");

SEC("uprobe")
int uprobe_entry(struct pt_regs *ctx)
{
	__u32 tid = current_tid();
	struct uprobe_stats zero = {}, *s;

	s = bpf_map_lookup_elem(&uprobe_calls, &tid);
	if (!s) {
		bpf_map_update_elem(&uprobe_calls, &tid, &zero, BPF_NOEXIST);
		s = bpf_map_lookup_elem(&uprobe_calls, &tid);
		if (!s)
			return 0;
	}
	__sync_fetch_and_add(&s->calls, 1);
	s->last_arg = PT_REGS_PARM1(ctx);
	return 0;
}

SEC("uretprobe")
int uprobe_return(struct pt_regs *ctx)
{
	__u32 tid = current_tid();
	struct uprobe_stats *s = bpf_map_lookup_elem(&uprobe_calls, &tid);

	if (s)
		s->last_ret = PT_REGS_RC(ctx);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
