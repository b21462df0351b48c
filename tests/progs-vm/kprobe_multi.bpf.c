// SPDX-License-Identifier: GPL-2.0
/*
 * kprobe_multi: one program on two functions (the getppid and getpgid
 * system calls' x86_64 entry points) through one BPF link, counted per
 * thread and per function (bpf_get_func_ip tells which).
 *
 * Test: attach to __x64_sys_getppid and __x64_sys_getpgid; the test thread
 * calls getppid 3 times and getpgid 4 times.
 * Observe: multi_calls[tid] == 7; multi_ips has exactly two entries (the
 * two functions' addresses) with counts 3 and 4 in some order.
 */
#include "../progs/common.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1024);
} multi_calls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u64);
	__type(value, __u64);
	__uint(max_entries, 16);
} multi_ips SEC(".maps");

/* Only the thread named in multi_watch[0] is counted in multi_ips. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} multi_watch SEC(".maps");

static __always_inline void bump(void *map, void *key)
{
	__u64 one = 1, *n = bpf_map_lookup_elem(map, key);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(map, key, &one, BPF_NOEXIST);
}

SEC("kprobe.multi")
int kprobe_multi_count(struct pt_regs *ctx)
{
	__u32 tid = current_tid(), zero = 0;
	__u64 *watch = bpf_map_lookup_elem(&multi_watch, &zero);
	if (!watch || *watch != tid)
		return 0;
	bump(&multi_calls, &tid);
	__u64 ip = bpf_get_func_ip(ctx);
	bump(&multi_ips, &ip);
	return 0;
}
