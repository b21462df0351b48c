// SPDX-License-Identifier: GPL-2.0
/*
 * tracepoint: the "tracepoint/<category>/<name>" and "tp/<category>/<name>"
 * section names (BPF_PROG_TYPE_TRACEPOINT), attached through perf_event_open
 * of the tracepoint's id (tracefs events/syscalls/sys_{enter,exit}_getpid/id).
 * One BTF-defined hash map keyed by thread id (gettid()).
 *
 * EXPECT (load): two programs of type tracepoint; map getpid_calls is a hash,
 *   key 4, value 24, max 1024.
 * EXPECT (attach both, then the test thread calls syscall(SYS_getpid) N
 *   times; no other thread of the test process shares its thread id):
 *   getpid_calls[gettid()] == { enters: N, exits: N, last_ret: getpid() },
 *   and stops growing once the links are dropped.
 */
#include "common.h"

struct getpid_stats {
	__u64 enters;
	__u64 exits;
	__s64 last_ret;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct getpid_stats);
	__uint(max_entries, 1024);
} getpid_calls SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getpid")
int getpid_enter(struct syscall_trace_enter *ctx)
{
	__u32 tid = current_tid();
	struct getpid_stats zero = {}, *s;

	if (ctx->nr != NR_getpid)
		return 0;
	s = bpf_map_lookup_elem(&getpid_calls, &tid);
	if (!s) {
		bpf_map_update_elem(&getpid_calls, &tid, &zero, BPF_NOEXIST);
		s = bpf_map_lookup_elem(&getpid_calls, &tid);
		if (!s)
			return 0;
	}
	__sync_fetch_and_add(&s->enters, 1);
	return 0;
}

SEC("tp/syscalls/sys_exit_getpid")
int getpid_exit(struct syscall_trace_exit *ctx)
{
	__u32 tid = current_tid();
	struct getpid_stats *s = bpf_map_lookup_elem(&getpid_calls, &tid);

	if (!s)
		return 0;
	__sync_fetch_and_add(&s->exits, 1);
	s->last_ret = ctx->ret;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
