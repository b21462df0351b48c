// SPDX-License-Identifier: GPL-2.0
/*
 * user_ringbuf: a program draining samples that user space produced into
 * a user ring buffer.
 *
 * EXPECT drain (run as a syscall program, no context): for every
 *   committed sample (a u64 each), adds it to drained[0] and counts it in
 *   drained[1]; discarded samples are skipped by the kernel; retval ==
 *   number of samples drained in this run.
 */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_USER_RINGBUF);
	__uint(max_entries, 4096);
} urb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 2);
} drained SEC(".maps");

static long on_sample(struct bpf_dynptr *dynptr, void *ctx)
{
	__u64 value = 0;
	__u64 *sum = ctx;

	if (bpf_dynptr_read(&value, sizeof(value), dynptr, 0, 0))
		return 1;
	*sum += value;
	return 0;
}

SEC("syscall")
int drain(void *ctx)
{
	__u32 k_sum = 0, k_count = 1;
	__u64 sum = 0, *total, *count;
	long n = bpf_user_ringbuf_drain(&urb, on_sample, &sum, 0);

	if (n < 0)
		return n;
	total = bpf_map_lookup_elem(&drained, &k_sum);
	count = bpf_map_lookup_elem(&drained, &k_count);
	if (total && count) {
		*total += sum;
		*count += n;
	}
	return n;
}

char LICENSE[] SEC("license") = "GPL";
