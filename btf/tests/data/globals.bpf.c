// Global data of every kind, externs and a BTF-defined map: the DATASEC and
// VAR records clang leaves with zero sizes and offsets, and the extern
// records the kernel refuses. Built by build.sh; the .o files are committed.
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct counter {
	__u64 hits;
	__u32 flags : 3;
	__u32 kind : 5;
	__s16 delta;
};

enum big : __u64 { BIG_ONE = 1, BIG_HUGE = 0xfedcba9876543210ULL };
enum neg { NEG_MINUS = -5, NEG_PLUS = 7 };

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, struct counter);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} single SEC(".maps");

__u64 bss_a;
__u32 bss_b[3];
static __u16 bss_static;
__u64 data_x = 42;
__s8 data_y = -1;
const volatile __u32 ro_limit = 100;
const volatile enum big ro_big = BIG_HUGE;
const char ro_msg[] = "hello";
__u32 custom_a SEC(".data.custom") = 7;
__u64 custom_b SEC(".data.custom") = 8;
__u8 ro_custom[5] SEC(".rodata.tbl") = {1, 2, 3, 4, 5};

extern unsigned int LINUX_KERNEL_VERSION __kconfig;
extern _Bool CONFIG_BPF_SYSCALL __kconfig __weak;
extern const int bpf_prog_active __ksym;
extern void bpf_rcu_read_lock(void) __ksym;
extern void bpf_rcu_read_unlock(void) __ksym;

static __noinline int helper(struct counter *c, enum neg n)
{
	return c->kind + n + bss_static;
}

SEC("tracepoint/syscalls/sys_enter_getpid")
int on_getpid(void *ctx)
{
	__u32 key = 0;
	struct counter *c = bpf_map_lookup_elem(&counters, &key);
	__u64 *v = bpf_map_lookup_elem(&single, &key);

	static __u32 calls;

	if (!c || !v)
		return 0;
	calls++;
	bss_static++;
	bss_a += data_x + data_y + ro_limit + (ro_big == BIG_HUGE) + ro_msg[1];
	bss_b[1] = custom_a + custom_b + ro_custom[2] + LINUX_KERNEL_VERSION;
	if (CONFIG_BPF_SYSCALL)
		*v += bpf_prog_active;
	return helper(c, NEG_MINUS);
}

SEC("tp_btf/sys_enter")
int on_enter(void *ctx)
{
	bpf_rcu_read_lock();
	bss_a++;
	bpf_rcu_read_unlock();
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
