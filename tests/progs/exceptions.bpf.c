// SPDX-License-Identifier: GPL-2.0
/*
 * exceptions: a program that throws (bpf_throw) with its exception
 * callback named by the `exception_callback:` decl tag; the loader links
 * the callback into the program although nothing calls it.
 *
 * EXPECT catch_me (test_run of a tc program on a packet of >= 14 bytes,
 *   first byte B): B == 7 -> bpf_throw(B * 10): the callback returns
 *   cookie + 1 -> retval 71; otherwise retval 0 (TC_ACT_OK).
 *   bpf_for_each_map_elem over `nums` (values 1, 2, 3) sums to 6 first:
 *   sum_out[0] == 6 after any run.
 */
#include "common.h"

extern void bpf_throw(__u64 cookie) __ksym;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 3);
} nums SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} sum_out SEC(".maps");

__attribute__((noinline)) int handle_exception(__u64 cookie)
{
	return cookie + 1;
}

static long add_up(void *map, __u32 *key, __u64 *value, __u64 *sum)
{
	*sum += *value;
	return 0;
}

SEC("tc")
__attribute__((btf_decl_tag("exception_callback:handle_exception")))
int catch_me(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	__u64 sum = 0;
	__u32 zero = 0;
	__u8 first;

	bpf_for_each_map_elem(&nums, add_up, &sum, 0);
	bpf_map_update_elem(&sum_out, &zero, &sum, BPF_ANY);
	if (data + 1 > end)
		return 0;
	first = *(__u8 *)data;
	if (first == 7)
		bpf_throw(first * 10);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
