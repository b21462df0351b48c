// CO-RE relocations of several kinds, several functions (func_info) and
// enough lines for line_info. Built by build.sh; the .o files are committed.
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct task_struct {
	int pid;
	int tgid;
	unsigned int flags : 4;
	struct task_struct *parent;
	char comm[16];
} __attribute__((preserve_access_index));

enum my_state { ST_A = 1, ST_B = 2 };

static __noinline int parent_pid(struct task_struct *t)
{
	return BPF_CORE_READ(t, parent, pid);
}

__noinline int global_fn(struct task_struct *t, int x)
{
	if (bpf_core_field_exists(t->tgid))
		x += bpf_core_field_size(t->comm);
	return x + BPF_CORE_READ_BITFIELD_PROBED(t, flags);
}

SEC("raw_tp/sys_enter")
int on_sys_enter(void *ctx)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	int r = parent_pid(t);

	r += global_fn(t, 3);
	r += bpf_core_type_exists(struct task_struct);
	r += bpf_core_enum_value(enum my_state, ST_B);
	r += bpf_core_type_size(struct task_struct);
	return r;
}

char LICENSE[] SEC("license") = "GPL";
