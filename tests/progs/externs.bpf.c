// SPDX-License-Identifier: GPL-2.0
/*
 * externs: the externs the loader resolves that this kernel can take —
 * kconfig values of each C type, the loader-computed LINUX_* values, a weak
 * kconfig value the kernel does not set, a typeless ksym (a kernel symbol's address), kfunc calls, and a weak kfunc
 * that does not exist, guarded by bpf_ksym_exists().
 *
 * EXPECT read_externs (test_run of a syscall program, ctx_in = 4 bytes:
 * the caller's pid): retval 0, and the array map `out` holds (u64 each):
 *   [0] CONFIG_HZ                 (int)            == value in /proc/config.gz
 *   [1] CONFIG_BPF_SYSCALL        (bool)           == 1
 *   [2] CONFIG_BPF_JIT            (enum tristate)  == TRI_YES (1)
 *   [3] CONFIG_BPF                (char)           == 'y'
 *   [4] CONFIG_DEFAULT_HOSTNAME   (char[16])       first 8 bytes of the string, NUL padded
 *   [5] CONFIG_OXBPF_NOT_A_CONFIG (weak u64)       == 0
 *   [6] LINUX_KERNEL_VERSION      == KERNEL_VERSION of uname
 *   [7] LINUX_HAS_SYSCALL_WRAPPER == 1 on x86_64
 *   [8] LINUX_HAS_BPF_COOKIE      == 1 on 6.18
 *   [9] address of bpf_prog_put (typeless ksym) == /proc/kallsyms
 *   [10] unused (typed ksyms of kernel variables need CONFIG_KALLSYMS_ALL,
 *        which this host's kernel lacks: they are tested under vm-test)
 *   [11] pid of the task bpf_task_from_pid(ctx pid) finds (kfuncs) == ctx pid
 *   [12] bpf_ksym_exists(oxbpf_no_such_kfunc) == 0
 *
 * task->pid is read through a CO-RE relocation: task_struct's layout
 * differs between the kernels vm-test runs this on.
 */
#include "common.h"

/* A field of a kernel struct at the running kernel's offset. */
#define CORE_FIELD(p, f) (*__builtin_preserve_access_index(&(p)->f))

/* libbpf-dev 1.1 headers predate bpf_ksym_exists(). */
#ifndef bpf_ksym_exists
#define bpf_ksym_exists(sym) (!!(sym))
#endif

extern int CONFIG_HZ __kconfig;
extern bool CONFIG_BPF_SYSCALL __kconfig;
extern enum libbpf_tristate CONFIG_BPF_JIT __kconfig;
extern char CONFIG_BPF __kconfig;
extern char CONFIG_DEFAULT_HOSTNAME[16] __kconfig;
extern __u64 CONFIG_OXBPF_NOT_A_CONFIG __kconfig __weak;
extern __u32 LINUX_KERNEL_VERSION __kconfig;
extern bool LINUX_HAS_SYSCALL_WRAPPER __kconfig;
extern bool LINUX_HAS_BPF_COOKIE __kconfig;

extern const void bpf_prog_put __ksym;

extern struct task_struct *bpf_task_from_pid(s32 pid) __ksym;
extern void bpf_task_release(struct task_struct *p) __ksym;
extern int oxbpf_no_such_kfunc(void) __ksym __weak;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 16);
} out SEC(".maps");

static __always_inline void put(__u32 slot, __u64 value)
{
	bpf_map_update_elem(&out, &slot, &value, BPF_ANY);
}

SEC("syscall")
int read_externs(__s32 *pid)
{
	struct task_struct *task;
	__u64 host = 0;

	put(0, CONFIG_HZ);
	put(1, CONFIG_BPF_SYSCALL);
	put(2, CONFIG_BPF_JIT);
	put(3, CONFIG_BPF);
	__builtin_memcpy(&host, CONFIG_DEFAULT_HOSTNAME, sizeof(host));
	put(4, host);
	put(5, CONFIG_OXBPF_NOT_A_CONFIG);
	put(6, LINUX_KERNEL_VERSION);
	put(7, LINUX_HAS_SYSCALL_WRAPPER);
	put(8, LINUX_HAS_BPF_COOKIE);
	put(9, (__u64)&bpf_prog_put);
	task = bpf_task_from_pid(*pid);
	if (task) {
		put(11, CORE_FIELD(task, pid));
		bpf_task_release(task);
	}
	if (bpf_ksym_exists(oxbpf_no_such_kfunc))
		put(12, oxbpf_no_such_kfunc());
	else
		put(12, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
