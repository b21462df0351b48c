// SPDX-License-Identifier: GPL-2.0
/*
 * subprogs: bpf-to-bpf calls (a static noinline function shared by two
 * programs, a global function verified on its own), a bpf_loop callback,
 * and global data in .data, .rodata (a const volatile set before load),
 * .bss and the .rodata string of bpf_printk.
 *
 * EXPECT run (test_run of a syscall program, no context): retval 7, and
 *   results[0] == counter * factor (5 * 3 = 15, or 5 * F if .rodata's
 *   `factor` was set to F before load)
 *   results[1] == 0 + 1 + 2 + 3 + 4 == 10 (bpf_loop callback summing
 *                 indices into .bss `sum`; 10 more each run)
 *   results[2] == global_add(40, 2) == 42
 * EXPECT other: retval == 2 * factor (6).
 * EXPECT rejected: not loaded by default (SEC("?syscall")); with autoload
 *   on, the verifier refuses it at the load through a random scalar, and the
 *   error names that instruction and its source line.
 */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 4);
} results SEC(".maps");

__u64 counter = 5;
const volatile __u64 factor = 3;
__u64 sum;

static __attribute__((noinline)) __u64 mul(__u64 x)
{
	return x * factor;
}

__attribute__((noinline)) int global_add(int a, int b)
{
	return a + b;
}

static long loop_cb(__u32 index, void *ctx)
{
	sum += index;
	return 0;
}

SEC("syscall")
int run(void *ctx)
{
	__u32 k0 = 0, k1 = 1, k2 = 2;
	__u64 v = mul(counter);
	bpf_map_update_elem(&results, &k0, &v, 0);
	bpf_loop(5, loop_cb, 0, 0);
	bpf_map_update_elem(&results, &k1, &sum, 0);
	v = global_add(40, 2);
	bpf_map_update_elem(&results, &k2, &v, 0);
	bpf_printk("done %d", 1);
	return 7;
}

SEC("syscall")
int other(void *ctx)
{
	return mul(2);
}

SEC("?syscall")
int rejected(void *ctx)
{
	unsigned long addr = bpf_get_prandom_u32();

	return *(volatile int *)addr; /* REJECTED HERE */
}

char LICENSE[] SEC("license") = "GPL";
