/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * Shared prelude of the oxbpf test corpus (the .bpf.c files beside it).
 *
 * The vmlinux.h dumped for the corpus wraps every struct in
 * __attribute__((preserve_access_index)), which turns each field access
 * through a pointer into a CO-RE relocation. Defining
 * BPF_NO_PRESERVE_ACCESS_INDEX before the include switches that off: field
 * accesses become plain loads at the offsets of the build host's types.
 * Programs reading kernel structs whose layout differs between the kernels
 * vm-test runs use __builtin_preserve_access_index explicitly (README.md).
 *
 * Constants that are preprocessor macros in the kernel (and so absent from
 * BTF, hence from vmlinux.h) are defined here. Syscall numbers are x86_64's.
 */
#ifndef OXBPF_PROGS_COMMON_H
#define OXBPF_PROGS_COMMON_H

#define BPF_NO_PRESERVE_ACCESS_INDEX
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>

/* <linux/if_ether.h> */
#define ETH_HLEN 14
#define ETH_ALEN 6
#define ETH_P_IP 0x0800

/* <linux/pkt_cls.h> */
#define TC_ACT_OK 0
#define TC_ACT_SHOT 2

/* <linux/in.h>, <asm-generic/socket.h> */
#define SOL_IP 0
#define IP_TOS 1
#define IP_TTL 2

/* <linux/bpf.h>: enum bpf_devcg_dev_type is not in the kernel's BTF */
#define BPF_DEVCG_DEV_BLOCK 1
#define BPF_DEVCG_DEV_CHAR 2

/* x86_64 syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl) */
#define NR_getpid 39
#define NR_getppid 110
#define NR_getpgid 121

/* The kernel's thread id ("pid") of the current task: low half of
 * bpf_get_current_pid_tgid(). Programs key their maps by it so that a test
 * thread can assert exact counts while other tests run in the same process. */
static __always_inline __u32 current_tid(void)
{
	return (__u32)bpf_get_current_pid_tgid();
}

#endif /* OXBPF_PROGS_COMMON_H */
