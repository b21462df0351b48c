// SPDX-License-Identifier: GPL-2.0
/* Field relocations: offsets, sizes, existence, signedness, bitfields,
 * anonymous members, arrays, pointer chains and a flavored type.
 * Run with BPF_PROG_TEST_RUN (SEC("syscall")): the current task is the
 * caller. */
#include "core_common.h"

/* task_struct::state was renamed __state in 5.14: the flavor describes
 * the old layout, and the guarded read of it must load on new kernels. */
struct task_struct___old {
	long state;
} __attribute__((preserve_access_index));

/* A field that exists in no kernel. */
struct task_struct___fake {
	int no_such_field_anywhere;
} __attribute__((preserve_access_index));

SEC("syscall")
int core_fields(void *ctx)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	struct task_struct *tb = bpf_get_current_task_btf();

	/* 0-2: values read through relocated offsets */
	put(0, BPF_CORE_READ(t, pid));
	put(1, BPF_CORE_READ(t, tgid));
	put(2, BPF_CORE_READ(t, real_parent, tgid));
	/* 3-9: relocated constants */
	put(3, bpf_core_field_offset(struct task_struct, pid));
	put(4, bpf_core_field_size(struct task_struct, comm));
	put(5, bpf_core_field_offset(struct task_struct, comm[3]));
	put(6, bpf_core_field_exists(struct task_struct, __state));
	put(7, bpf_core_field_exists(struct task_struct___old, state));
	put(8, bpf_core_field_exists(struct task_struct___fake, no_such_field_anywhere));
	put(9, __builtin_preserve_field_info(((struct task_struct *)0)->pid, BPF_FIELD_SIGNED));
	/* 10: guarded read of a field missing on new kernels (poisoned, never reached) */
	if (bpf_core_field_exists(struct task_struct___old, state))
		put(10, BPF_CORE_READ((struct task_struct___old *)t, state));
	else
		put(10, BPF_CORE_READ(t, __state));
	/* 11-12: a member inside anonymous structs/unions */
	put(11, bpf_core_field_offset(struct sk_buff, dev));
	put(12, bpf_core_field_size(struct sk_buff, dev));
	/* 13-18: bitfields */
	put(13, bpf_core_field_offset(struct task_struct, in_execve));
	put(14, bpf_core_field_size(struct task_struct, in_execve));
	put(15, __builtin_preserve_field_info(((struct task_struct *)0)->in_execve, BPF_FIELD_LSHIFT_U64));
	put(16, __builtin_preserve_field_info(((struct task_struct *)0)->in_execve, BPF_FIELD_RSHIFT_U64));
	put(17, BPF_CORE_READ_BITFIELD_PROBED(t, in_execve));
	put(18, BPF_CORE_READ_BITFIELD(tb, sched_reset_on_fork));
	/* 19-21: direct loads through a BTF pointer (LDX offsets relocated) */
	put(19, tb->pid);
	put(20, tb->tgid);
	put(21, tb->comm[0]);
	/* 22: a 64-bit field loaded directly */
	put(22, tb->start_time);
	/* 23-24: a nested struct member and an array of structs */
	put(23, bpf_core_field_offset(struct task_struct, se.vruntime));
	put(24, bpf_core_field_offset(struct sk_buff, cb[8]));
	/* 25: whole-field bitfield byte offset of an sk_buff bitfield */
	put(25, bpf_core_field_offset(struct sk_buff, pkt_type));
	return 0;
}
