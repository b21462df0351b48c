// SPDX-License-Identifier: GPL-2.0
/*
 * ringbuf_bench: the producer of the ring buffer benchmark. One 16 MiB
 * ring; produce_N (N = 16, 64, 512) is a syscall program that submits up
 * to ctx->count records of N bytes with bpf_loop, each starting with its
 * u64 sequence number ctx->first + i (the rest zero), and stops at the
 * first record the ring has no room for. retval = records submitted.
 * Default wakeup flags (the kernel wakes a waiting consumer when the
 * record it submits is the first unconsumed one).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} rb SEC(".maps");

struct args {
	__u32 count;
	__u32 first;
};

struct state {
	__u64 first;
	__u32 submitted;
};

#define PRODUCER(N)                                                    \
	static long fill_##N(__u64 i, struct state *s)                 \
	{                                                              \
		__u64 *r = bpf_ringbuf_reserve(&rb, N, 0);             \
		if (!r)                                                \
			return 1;                                      \
		__builtin_memset(r, 0, N);                             \
		r[0] = s->first + i;                                   \
		bpf_ringbuf_submit(r, 0);                              \
		s->submitted++;                                        \
		return 0;                                              \
	}                                                              \
	SEC("syscall") int produce_##N(struct args *a)                 \
	{                                                              \
		struct state s = { .first = a->first };                \
		bpf_loop(a->count, fill_##N, &s, 0);                   \
		return s.submitted;                                    \
	}

PRODUCER(16)
PRODUCER(64)
PRODUCER(512)

char LICENSE[] SEC("license") = "GPL";
