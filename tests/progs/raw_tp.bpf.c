// SPDX-License-Identifier: GPL-2.0
/*
 * raw_tp: the "raw_tp/<name>" and "raw_tracepoint/<name>" section names
 * (BPF_PROG_TYPE_RAW_TRACEPOINT), attached with BPF_RAW_TRACEPOINT_OPEN by
 * tracepoint name ("sys_enter", "sys_exit"). The context is the tracepoint's
 * raw arguments as u64s: sys_enter(struct pt_regs *regs, long id),
 * sys_exit(struct pt_regs *regs, long ret). One hash map keyed by thread id.
 *
 * EXPECT (load): two programs of type raw_tracepoint; map getppid_calls is a
 *   hash, key 4, value 24, max 1024.
 * EXPECT (attach both, the test thread calls syscall(SYS_getppid) N times):
 *   getppid_calls[gettid()] == { enters: N, exits: N, last_ret: getppid() }.
 *   sys_exit finds the syscall number in regs->orig_ax (bpf_probe_read_kernel).
 */
#include "common.h"

struct getppid_stats {
	__u64 enters;
	__u64 exits;
	__s64 last_ret;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct getppid_stats);
	__uint(max_entries, 1024);
} getppid_calls SEC(".maps");

SEC("raw_tp/sys_enter")
int getppid_enter(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 tid = current_tid();
	struct getppid_stats zero = {}, *s;

	if (ctx->args[1] != NR_getppid)
		return 0;
	s = bpf_map_lookup_elem(&getppid_calls, &tid);
	if (!s) {
		bpf_map_update_elem(&getppid_calls, &tid, &zero, BPF_NOEXIST);
		s = bpf_map_lookup_elem(&getppid_calls, &tid);
		if (!s)
			return 0;
	}
	__sync_fetch_and_add(&s->enters, 1);
	return 0;
}

SEC("raw_tracepoint/sys_exit")
int getppid_exit(struct bpf_raw_tracepoint_args *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
	__u32 tid = current_tid();
	struct getppid_stats *s;
	__u64 nr = 0;

	if (bpf_probe_read_kernel(&nr, sizeof(nr), &regs->orig_ax) < 0 || nr != NR_getppid)
		return 0;
	s = bpf_map_lookup_elem(&getppid_calls, &tid);
	if (!s)
		return 0;
	__sync_fetch_and_add(&s->exits, 1);
	s->last_ret = (__s64)ctx->args[1];
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
