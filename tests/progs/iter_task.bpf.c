// SPDX-License-Identifier: GPL-2.0
/*
 * iter_task: the "iter/task" section name (BPF_PROG_TYPE_TRACING, expected
 * attach type BPF_TRACE_ITER, attach_btf_id = the vmlinux BTF id of the
 * function "bpf_iter_task"). A task iterator: BPF_LINK_CREATE (attach type
 * BPF_TRACE_ITER) then BPF_ITER_CREATE gives an fd; read() it to the end.
 * The program is called once per task (thread) with ctx->task set, and once
 * more at the end with ctx->task == NULL. It writes binary records with
 * bpf_seq_write (no format strings: the corpus has no .rodata).
 *
 * Record: struct { u32 tgid; u32 pid; u64 seq_num; } (16 bytes, little-endian),
 * one per task with seq_num = ctx->meta->seq_num (0, 1, 2, ...), then a
 * trailer { 0xFFFFFFFF, 0xFFFFFFFF, seq_num } (on 6.18 the final call sees the
 * seq_num of the last task record again).
 *
 * EXPECT (load): one program of type tracing, no maps.
 * EXPECT (create the iterator, read all): output length is a multiple of 16,
 *   at least 2 records; record i (before the trailer) has seq_num == i; the
 *   last record, and only it, has tgid == pid == 0xFFFFFFFF; some record is
 *   { getpid(), gettid() } of the reading thread. (Do not expect pid 1: on
 *   this machine the iterator starts at pid 2.)
 *
 * task_struct's layout differs between kernels (vm-test runs this on 5.10,
 * 6.1 and 6.12): its fields are read through CO-RE relocations, the
 * exception to the corpus's no-CO-RE rule (see README.md).
 */
#include "common.h"

/* A field of a kernel struct at the running kernel's offset. */
#define CORE_FIELD(p, f) (*__builtin_preserve_access_index(&(p)->f))

struct task_record {
	__u32 tgid;
	__u32 pid;
	__u64 seq_num;
};

SEC("iter/task")
int dump_task(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	struct task_record rec;

	rec.seq_num = ctx->meta->seq_num;
	if (!task) {
		rec.tgid = 0xFFFFFFFF;
		rec.pid = 0xFFFFFFFF;
	} else {
		rec.tgid = CORE_FIELD(task, tgid);
		rec.pid = CORE_FIELD(task, pid);
	}
	bpf_seq_write(seq, &rec, sizeof(rec));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
