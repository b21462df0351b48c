// SPDX-License-Identifier: GPL-2.0
/*
 * syscall: two BPF_PROG_TYPE_SYSCALL programs in one "syscall" section.
 * The kernel only accepts sleepable syscall programs: PROG_LOAD needs
 * prog_flags = BPF_F_SLEEPABLE, or it fails with EINVAL ("Syscall programs
 * can only be sleepable"). They run only through BPF_PROG_TEST_RUN, on a
 * context the caller passes in (ctx_in, at least 12 bytes here: the verifier
 * records the highest offset touched). The kernel writes the context back
 * into the ctx_in buffer after the run. data_in, data_out and ctx_out must be
 * empty (EINVAL otherwise), as must a ctx_in shorter than 12 bytes.
 *
 * Context: struct args { s32 a; s32 b; s32 sum; } (12 bytes, little-endian).
 * EXPECT syscall_add (test_run, ctx_in = {a, b, 0}):
 *   ctx_in afterwards == {a, b, a + b}; retval == (u32)(a * b).
 * EXPECT syscall_sub (test_run, ctx_in = {a, b, 0}):
 *   ctx_in afterwards == {a, b, a - b}; retval == 0.
 */
#include "common.h"

struct args {
	int a;
	int b;
	int sum;
};

SEC("syscall")
int syscall_add(struct args *ctx)
{
	ctx->sum = ctx->a + ctx->b;
	return ctx->a * ctx->b;
}

SEC("syscall")
int syscall_sub(struct args *ctx)
{
	ctx->sum = ctx->a - ctx->b;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
