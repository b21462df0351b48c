// SPDX-License-Identifier: GPL-2.0
/* An unsigned 32-bit enumerator with bit 31 set (IPC_NS_INIT_INO =
 * 0xEFFFFFFF): its value is zero-extended to 64 bits, as clang emits it.
 * A separate object because libbpf 1.1, the black-box oracle the other
 * objects are compared with, sign-extends it and refuses the program. */
#include "core_common.h"

SEC("syscall")
int core_enum_unsigned(void *ctx)
{
	/* 0: exists (named `init_ns_ino` since 6.x; older kernels have an
	 * anonymous enum, so it may not) 1: the value */
	put(0, bpf_core_enum_value_exists(enum init_ns_ino, IPC_NS_INIT_INO));
	if (bpf_core_enum_value_exists(enum init_ns_ino, IPC_NS_INIT_INO))
		put(1, bpf_core_enum_value(enum init_ns_ino, IPC_NS_INIT_INO));
	return 0;
}
