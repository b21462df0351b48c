// SPDX-License-Identifier: GPL-2.0
/* An unguarded read of a field that no kernel since 5.14 has: the
 * relocation is unresolved, its instruction poisoned, and since it is
 * reachable the verifier must refuse the program, at that instruction. */
#include "core_common.h"

struct task_struct___old {
	long state;
} __attribute__((preserve_access_index));

SEC("syscall")
int core_poison(void *ctx)
{
	struct task_struct___old *t = (void *)bpf_get_current_task_btf();

	put(0, t->state);
	return 0;
}
