// SPDX-License-Identifier: GPL-2.0
/*
 * syscount: the object behind `oxbpf demo`. Counts system calls per process
 * (thread group) from the raw_syscalls:sys_enter tracepoint.
 *
 * Self-contained on purpose: no vmlinux.h and no kernel headers, so the
 * committed syscount.bpf.o is the same whichever kernel it was built on.
 * Rebuild it with `cargo xtask build-demo` (clang-19, -g -O2 -target bpf);
 * only libbpf-dev's <bpf/bpf_helpers.h> is included.
 *
 * Map "counts": BPF_MAP_TYPE_HASH, key u32 tgid, value struct syscount
 * { u64 count; char comm[16]; } (24 bytes), max 10240 entries. The first
 * syscall of a process inserts its entry (BPF_NOEXIST, with the command name
 * of the thread that made it); every syscall adds 1 to count.
 *
 * Program "count_syscalls": section tracepoint/raw_syscalls/sys_enter,
 * BPF_PROG_TYPE_TRACEPOINT, attached through perf_event_open of
 * tracefs events/raw_syscalls/sys_enter/id. License GPL. No global data,
 * no CO-RE relocations, no subprograms.
 */

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef signed char __s8;
typedef short __s16;
typedef int __s32;
typedef long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u64 __be64;
typedef __u32 __wsum;

#include <bpf/bpf_helpers.h>

/* From include/uapi/linux/bpf.h (stable ABI values). */
#define BPF_MAP_TYPE_HASH 1
#define BPF_NOEXIST 1

/*
 * The record of the raw_syscalls:sys_enter tracepoint, as described by
 * /sys/kernel/tracing/events/raw_syscalls/sys_enter/format:
 *   common_type 0/2, common_flags 2/1, common_preempt_count 3/1,
 *   common_pid 4/4, id 8/8, args 16/48 (offset/size).
 */
struct sys_enter_record {
	unsigned short common_type;
	unsigned char common_flags;
	unsigned char common_preempt_count;
	int common_pid;
	long id;
	unsigned long args[6];
};

#define COMM_LEN 16

struct syscount {
	__u64 count;
	char comm[COMM_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct syscount);
	__uint(max_entries, 10240);
} counts SEC(".maps");

SEC("tracepoint/raw_syscalls/sys_enter")
int count_syscalls(struct sys_enter_record *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct syscount *c;

	/* a negative id is no real syscall (e.g. syscall(-1)): skip it */
	if (ctx->id < 0)
		return 0;
	c = bpf_map_lookup_elem(&counts, &tgid);
	if (!c) {
		struct syscount fresh = {};

		bpf_get_current_comm(fresh.comm, sizeof(fresh.comm));
		bpf_map_update_elem(&counts, &tgid, &fresh, BPF_NOEXIST);
		c = bpf_map_lookup_elem(&counts, &tgid);
		if (!c)
			return 0;
	}
	__sync_fetch_and_add(&c->count, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
