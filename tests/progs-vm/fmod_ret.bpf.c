// SPDX-License-Identifier: GPL-2.0
/*
 * fmod_ret on bpf_modify_return_test(int a, int *b) { *b += 1; return a + *b; }
 * (net/bpf/test_run.c). BPF_PROG_TEST_RUN of an fmod_ret program calls it
 * with a = 1, *b = 1 and reports ((b was not incremented) << 16) | ret.
 *
 * Test: test_run `fmod_ret_test` before attaching (the kernel reports
 * (side effects << 16) | return values; newer kernels add a second test
 * function's share). Attach it, test_run again: the program returns 1000,
 * so the body is skipped: the low 16 bits are >= 1000 and the side-effect
 * count differs; fmod_calls[0] == 1 and fmod_calls[1] == 1 (the argument
 * a). Detached: the first result again.
 */
#include "../progs/common.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 2);
} fmod_calls SEC(".maps");

SEC("fmod_ret/bpf_modify_return_test")
int BPF_PROG(fmod_ret_test, int a, int *b, int ret)
{
	__u32 k = 0;
	__u64 *n = bpf_map_lookup_elem(&fmod_calls, &k);
	if (n)
		__sync_fetch_and_add(n, 1);
	k = 1;
	n = bpf_map_lookup_elem(&fmod_calls, &k);
	if (n)
		*n = a;
	return 1000;
}
