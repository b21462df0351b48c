// SPDX-License-Identifier: GPL-2.0
/*
 * uprobe_kinds: the uprobe section kinds beyond plain uprobe/uretprobe —
 * uprobe.multi (one link, several functions), uprobe.session (entry and
 * return of one call through one program) and sleepable uprobe.s.
 *
 * EXPECT (load): three programs of type kprobe; multi_entry with expected
 *   attach type trace_uprobe_multi, session_count with
 *   trace_uprobe_session, sleepy_entry sleepable.
 * EXPECT (attach multi_entry to two functions of a test binary, call the
 *   first N1 times and the second N2 times on one thread):
 *   kinds_calls[tid].multi == N1 + N2, and bpf_get_attach_cookie() summed
 *   into kinds_calls[tid].cookies == N1 * K1 + N2 * K2 for cookies K1, K2.
 * EXPECT (attach session_count to a function, call it N times):
 *   kinds_calls[tid].session == 2 * N (the entry run returns 0, so the
 *   return runs too).
 * EXPECT (attach sleepy_entry as a uprobe, call N times):
 *   kinds_calls[tid].sleepy == N.
 */
#include "common.h"

struct kinds_stats {
	__u64 multi;
	__u64 cookies;
	__u64 session;
	__u64 sleepy;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct kinds_stats);
	__uint(max_entries, 1024);
} kinds_calls SEC(".maps");

static __always_inline struct kinds_stats *stats(void)
{
	__u32 tid = current_tid();
	struct kinds_stats zero = {}, *s;

	s = bpf_map_lookup_elem(&kinds_calls, &tid);
	if (s)
		return s;
	bpf_map_update_elem(&kinds_calls, &tid, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(&kinds_calls, &tid);
}

SEC("uprobe.multi")
int multi_entry(struct pt_regs *ctx)
{
	struct kinds_stats *s = stats();

	if (s) {
		__sync_fetch_and_add(&s->multi, 1);
		__sync_fetch_and_add(&s->cookies, bpf_get_attach_cookie(ctx));
	}
	return 0;
}

SEC("uprobe.session")
int session_count(struct pt_regs *ctx)
{
	struct kinds_stats *s = stats();

	if (s)
		__sync_fetch_and_add(&s->session, 1);
	return 0;
}

SEC("uprobe.s")
int sleepy_entry(struct pt_regs *ctx)
{
	struct kinds_stats *s = stats();

	if (s)
		__sync_fetch_and_add(&s->sleepy, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
