// SPDX-License-Identifier: GPL-2.0
/* Type and enum relocations: existence, size, matches, ids, enumerator
 * existence and values (32-bit signed and unsigned, 64-bit), flavors. */
#include "core_common.h"

/* Exists in no kernel. */
struct does_not_exist___x {
	int a;
};

/* Same name as struct list_head, but a long where pointers are: exists
 * (kind and name) but does not match. */
struct list_head___bad {
	long next;
	long prev;
};

/* Matches struct list_head. */
struct list_head___good {
	struct list_head___good *next, *prev;
};

enum bpf_func_id___x {
	BPF_FUNC_map_lookup_elem___x = 1,
	BPF_FUNC_no_such_helper___x = 100000,
};

typedef int pid_t___local;

SEC("syscall")
int core_types(void *ctx)
{
	/* 0-4: existence and size */
	put(0, bpf_core_type_exists(struct task_struct));
	put(1, bpf_core_type_size(struct task_struct));
	put(2, bpf_core_type_exists(struct does_not_exist___x));
	put(3, bpf_core_type_exists(pid_t));
	put(4, bpf_core_type_size(pid_t));
	/* 5-7: matches */
	put(5, bpf_core_type_matches(struct list_head___good));
	put(6, bpf_core_type_matches(struct list_head___bad));
	put(7, bpf_core_type_exists(struct list_head___bad));
	/* 8-9: ids */
	put(8, bpf_core_type_id_local(struct task_struct));
	put(9, bpf_core_type_id_kernel(struct task_struct));
	/* 10-13: enumerators, 32-bit */
	put(10, bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_get_current_task));
	put(11, bpf_core_enum_value(enum bpf_func_id, BPF_FUNC_get_current_task));
	put(12, bpf_core_enum_value_exists(enum bpf_func_id___x, BPF_FUNC_no_such_helper___x));
	put(13, bpf_core_enum_value(enum bpf_func_id___x, BPF_FUNC_map_lookup_elem___x));
	/* 14-15: signed and 64-bit enumerators */
	put(14, bpf_core_enum_value(enum perf_event_state, PERF_EVENT_STATE_DEAD));
	put(15, bpf_core_enum_value(enum perf_callchain_context, PERF_CONTEXT_USER));
	/* 16: guarded size of a missing type (never reached) */
	if (bpf_core_type_exists(struct does_not_exist___x))
		put(16, bpf_core_type_size(struct does_not_exist___x));
	else
		put(16, 12345);
	/* 17-18: a typedef matching and one flavored */
	put(17, bpf_core_type_matches(pid_t));
	put(18, bpf_core_type_exists(pid_t___local));
	/* 19-20: size and kernel id of a missing type: 0 */
	put(19, bpf_core_type_size(struct does_not_exist___x));
	put(20, bpf_core_type_id_kernel(struct does_not_exist___x));
	return 0;
}
