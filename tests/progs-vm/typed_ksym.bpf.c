// SPDX-License-Identifier: GPL-2.0
/*
 * typed_ksym: a typed ksym (the per-CPU variable `runqueues`, resolved by
 * the loader to the BTF id of its vmlinux VAR, the kernel then finding its
 * address) read through bpf_this_cpu_ptr and bpf_per_cpu_ptr, and a weak
 * typed ksym the kernel does not have (resolved to zero).
 *
 * The kernel finds a typed ksym's address in kallsyms, which lists data
 * symbols only with CONFIG_KALLSYMS_ALL: Debian's kernels have it, this
 * project's 6.18 host does not, so the test runs under vm-test.
 *
 * EXPECT (test run of read_runqueues): out[0] = the CPU the run was on
 *   (rq->cpu of this CPU's runqueue, read through CO-RE), out[1] =
 *   bpf_get_smp_processor_id(), out[2] = rq->cpu of CPU 0's runqueue (0),
 *   out[3] = whether the weak oxbpf_no_such_percpu_var exists (0),
 *   out[4] = 1 (the program ran to the end).
 */
#include "../progs/common.h"

/* A field of a kernel struct at the running kernel's offset. */
#define CORE_FIELD(p, f) (*__builtin_preserve_access_index(&(p)->f))

extern const struct rq runqueues __ksym;
extern const int oxbpf_no_such_percpu_var __ksym __weak;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 5);
	__type(key, __u32);
	__type(value, __u64);
} out SEC(".maps");

static void put(__u32 key, __u64 value)
{
	bpf_map_update_elem(&out, &key, &value, BPF_ANY);
}

SEC("syscall")
int read_runqueues(void *ctx)
{
	struct rq *here = bpf_this_cpu_ptr(&runqueues);
	struct rq *first = bpf_per_cpu_ptr(&runqueues, 0);

	put(0, CORE_FIELD(here, cpu));
	put(1, bpf_get_smp_processor_id());
	if (first)
		put(2, CORE_FIELD(first, cpu));
	else
		put(2, 1000);
	/* bpf_ksym_exists() of newer libbpf headers: a weak extern's address. */
	put(3, &oxbpf_no_such_percpu_var ? 1 : 0);
	put(4, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
