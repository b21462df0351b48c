// SPDX-License-Identifier: GPL-2.0
/*
 * tp_btf: the "tp_btf/<name>" section name (BPF_PROG_TYPE_TRACING, expected
 * attach type BPF_TRACE_RAW_TP, attach_btf_id = the vmlinux BTF id of the
 * typedef "btf_trace_sys_enter"), attached with BPF_RAW_TRACEPOINT_OPEN
 * (name NULL) or BPF_LINK_CREATE. Arguments arrive as a u64 array; the
 * verifier knows from BTF that ctx[0] is a struct pt_regs *, so the program
 * reads regs->di (the syscall's first argument) with a plain load.
 *
 * EXPECT (load): one program of type tracing; map getpgid_calls is a hash,
 *   key 4, value 16, max 1024.
 * EXPECT (attach, the test thread calls syscall(SYS_getpgid, 0) N times, then
 *   syscall(SYS_getpgid, getpid()) once):
 *   getpgid_calls[gettid()] == { calls: N + 1, last_arg: getpid() }.
 */
#include "common.h"

struct getpgid_stats {
	__u64 calls;
	__u64 last_arg;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct getpgid_stats);
	__uint(max_entries, 1024);
} getpgid_calls SEC(".maps");

SEC("tp_btf/sys_enter")
int BPF_PROG(getpgid_enter, struct pt_regs *regs, long id)
{
	__u32 tid = current_tid();
	struct getpgid_stats zero = {}, *s;

	if (id != NR_getpgid)
		return 0;
	s = bpf_map_lookup_elem(&getpgid_calls, &tid);
	if (!s) {
		bpf_map_update_elem(&getpgid_calls, &tid, &zero, BPF_NOEXIST);
		s = bpf_map_lookup_elem(&getpgid_calls, &tid);
		if (!s)
			return 0;
	}
	__sync_fetch_and_add(&s->calls, 1);
	s->last_arg = regs->di;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
