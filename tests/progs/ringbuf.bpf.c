// SPDX-License-Identifier: GPL-2.0
/*
 * ringbuf: a producer of records into two ring buffers, with some records
 * reserved then discarded, for the ring buffer consumer's tests.
 *
 * Context: struct args { u32 count; u32 first; } (8 bytes).
 * EXPECT produce (run as a syscall program): for i in 0..count (at most
 *   64): record { u32 seq = first + i; u32 ring = i % 2; u64 value = seq * 3 }
 *   goes to rb_a when i is even, rb_b when odd; every record with i % 5 == 4
 *   is reserved and then discarded instead (the consumer never sees it).
 *   retval == number of records submitted.
 * EXPECT on_getppid (tracepoint syscalls/sys_enter_getppid, attached by
 *   `oxbpf run`): each getppid call submits { seq = calling thread id,
 *   ring = 2, value = 0x99 } to rb_a.
 */
#include "common.h"

struct record {
	__u32 seq;
	__u32 ring;
	__u64 value;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16384);
} rb_a SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16384);
} rb_b SEC(".maps");

/* Names the record type in the object's BTF, for `oxbpf run --record-type`. */
struct record *record_type __attribute__((unused));

/* Names the record type in the object's BTF, for `oxbpf run --record-type`. */
struct record *record_type __attribute__((unused));

struct args {
	__u32 count;
	__u32 first;
};

SEC("syscall")
int produce(struct args *ctx)
{
	__u32 count = ctx->count, first = ctx->first, i;
	int submitted = 0;

	for (i = 0; i < 64 && i < count; i++) {
		void *rb = (i % 2) ? (void *)&rb_b : (void *)&rb_a;
		struct record *r = bpf_ringbuf_reserve(rb, sizeof(*r), 0);

		if (!r)
			continue;
		r->seq = first + i;
		r->ring = i % 2;
		r->value = (__u64)(first + i) * 3;
		if (i % 5 == 4) {
			bpf_ringbuf_discard(r, 0);
		} else {
			bpf_ringbuf_submit(r, 0);
			submitted++;
		}
	}
	return submitted;
}

SEC("tp/syscalls/sys_enter_getppid")
int on_getppid(void *ctx)
{
	struct record *r = bpf_ringbuf_reserve(&rb_a, sizeof(*r), 0);

	if (!r)
		return 0;
	r->seq = (__u32)bpf_get_current_pid_tgid();
	r->ring = 2;
	r->value = 0x99;
	bpf_ringbuf_submit(r, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
